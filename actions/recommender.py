"""Product recommendations from the shop's transactions: personal, co-purchase and popular.

Everything is linear algebra over matrices built once in ``fit``: invoice×item (baskets),
customer×item (histories, weighted by recency), an EASE item×item model of those histories,
token×item (product descriptions), stock-code neighbours and recency-weighted popularity.
``for_customer`` blends one row of each; docs/recommender.md has the comparison behind the
weights.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.linalg import lapack

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]

# Postage, fees, manual adjustments and vouchers are not merchandise.
_SERVICE_CODE = re.compile(
    r"^(POST|DOT|M|D|C2|S|B|CRUK|AMAZONFEE|BANK CHARGES|PADS|GIFT_.*)$", re.IGNORECASE
)
_TOKEN = re.compile(r"[A-Z]{3,}")
_CODE_NUMBER = re.compile(r"^\d+")
# Each blend part and the reason shown when it contributes most to an item's score.
_REASONS = {
    "own": "you bought this before",
    "neighbour": "goes with items you bought",
    "ease": "goes with items you bought",
    "als": "goes with items you bought",
    "content": "like items you bought",
    "code": "like items you bought",
    "popular": "popular",
}


def normalise_customer_id(value: object) -> str | None:
    """``"13607.0"`` / ``13607`` / ``" 13607 "`` → ``"13607"``; empty → None."""
    text = str(value).strip() if value is not None else ""
    if text.endswith(".0"):
        text = text[:-2]
    return text or None


def normalise_stock_code(value: str) -> str:
    """Stock codes compare case-insensitively (``85123a`` is ``85123A``)."""
    return value.strip().upper()


def is_product_code(stock_code: str) -> bool:
    """True for merchandise stock codes (not postage, fees or vouchers)."""
    return bool(stock_code) and not _SERVICE_CODE.match(stock_code)


@dataclass(frozen=True)
class Sale:
    """One positive-quantity sales line of a known product."""

    invoice: str
    stock_code: str
    customer_id: str | None
    quantity: int
    date: str
    description: str = ""


@dataclass(frozen=True)
class Scored:
    """A recommended stock code with its score and a short human-readable reason."""

    stock_code: str
    score: float
    reason: str


@dataclass(frozen=True)
class RecommenderConfig:
    """Blend weights and model settings of ``for_customer`` (a part with weight 0 is not fitted).

    The defaults were tuned on validation splits carved from the training part of the
    leave-last-invoice-out split, never on its held-out invoices (docs/recommender.md).
    """

    # The customer's history: each sales line decays with its age before their last visit.
    half_life_days: float = 365.0
    own_weight: float = 3.0
    # Co-purchase neighbours: item cosine over baskets and over customers, shrunk for rare pairs
    # (``similar_to`` uses them whatever the weight).
    neighbour_weight: float = 0.0
    basket_share: float = 0.5
    shrink: float = 2.0
    # EASE (Steck 2019) on the binary customer×item matrix of the items with ``ease_min_buyers``
    # or more customers; each item keeps its ``ease_keep`` largest positive weights.
    ease_weight: float = 1.0
    ease_lambda: float = 300.0
    ease_min_buyers: int = 3
    ease_keep: int = 200
    # Implicit ALS (Hu, Koren, Volinsky 2008): confidence 1 + alpha per item bought.
    als_weight: float = 0.0
    als_factors: int = 64
    als_reg: float = 30.0
    als_alpha: float = 20.0
    als_iters: int = 10
    # Items whose descriptions share (idf-weighted) words with the history.
    content_weight: float = 0.75
    # Items whose stock-code number is within ``code_window`` of a history item's (a range).
    code_weight: float = 0.75
    code_window: int = 3
    # Distinct buyers, each decayed by the age of their latest purchase of the item (0: no decay).
    popular_weight: float = 0.75
    popular_half_life_days: float = 120.0
    # ``similar_to``: share of description similarity against co-purchase.
    content_share: float = 0.5


# The blend shipped before the comparison in docs/recommender.md.
PREVIOUS_CONFIG = RecommenderConfig(
    half_life_days=120.0, own_weight=1.0, neighbour_weight=0.25, basket_share=0.5, shrink=2.0,
    ease_weight=0.0, als_weight=0.0, content_weight=0.0, code_weight=0.0, popular_weight=0.3,
    popular_half_life_days=0.0,
)


def read_sales(path: Path, known: Collection[str] | None = None) -> list[Sale]:
    """Positive-quantity, positive-price sales rows of products from the transactions CSV.

    ``known`` restricts the rows to a catalogue's stock codes (e.g. ``products.json``).
    """
    sales = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            invoice, code = row["InvoiceNo"].strip(), normalise_stock_code(row["StockCode"])
            quantity, price = int(float(row["Quantity"])), float(row["UnitPrice"])
            if invoice.startswith("C") or quantity <= 0 or price <= 0:
                continue
            if not is_product_code(code) or (known is not None and code not in known):
                continue
            sales.append(Sale(invoice, code, normalise_customer_id(row["CustomerID"]),
                              quantity, row["InvoiceDate"].strip(),
                              row["Description"].strip()))
    return sales


def _top(scores: FloatArray, k: int, banned: IndexArray) -> IndexArray:
    """Indices of the ``k`` best positive scores, best first, skipping ``banned``."""
    scores = scores.copy()
    scores[banned] = 0.0
    k = min(k, int(np.count_nonzero(scores > 0)))
    if k <= 0:
        return np.empty(0, dtype=np.intp)
    best = np.argpartition(-scores, k - 1)[:k]
    # Stable tie-break on the index keeps results deterministic across runs.
    return best[np.lexsort((best, -scores[best]))]


def _scale(vector: FloatArray) -> FloatArray:
    peak = float(vector.max()) if vector.size else 0.0
    return vector / peak if peak > 0 else vector


def _scale_rows(matrix: FloatArray) -> FloatArray:
    """Each row divided by its maximum (rows without a positive entry unchanged)."""
    if not matrix.size:
        return matrix
    peak = matrix.max(axis=1, keepdims=True)
    return matrix / np.where(peak > 0, peak, 1.0)


def _dense(matrix: object) -> FloatArray:
    """A dense float array of a sparse matrix or an array (products of the two are either)."""
    if isinstance(matrix, sparse.spmatrix | sparse.sparray):
        return np.asarray(matrix.toarray(), dtype=np.float64)
    return np.asarray(matrix, dtype=np.float64)


def _cosine(incidence: sparse.csr_matrix, shrink: float) -> sparse.csr_matrix:
    """Item×item cosine of a binary rows×items matrix, shrunk towards 0 for rare pairs."""
    binary = (incidence > 0).astype(np.float64)
    counts = np.asarray(binary.sum(axis=0)).ravel()
    co = (binary.T @ binary).tocoo()
    off = co.row != co.col
    rows, cols, vals = co.row[off], co.col[off], co.data[off]
    norm = np.sqrt(counts[rows] * counts[cols]) + shrink
    return sparse.csr_matrix((vals / norm, (rows, cols)), shape=co.shape)


def _row_normalise(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1.0 / norms) @ matrix)


def _spd_inverse(matrix: FloatArray) -> FloatArray:
    """Inverse of a symmetric positive-definite matrix by Cholesky (about half an LU inverse)."""
    factor, info = lapack.dpotrf(matrix, lower=False)
    if info == 0:
        inverse, info = lapack.dpotri(factor, lower=False, overwrite_c=True)
    if info != 0:  # not numerically positive definite: the general (LU) inverse
        return np.asarray(np.linalg.inv(matrix), dtype=np.float64)
    upper = np.triu(inverse)
    return np.asarray(upper + np.triu(upper, 1).T, dtype=np.float64)


def ease_weights(history: sparse.csr_matrix, lam: float, min_buyers: int = 1,
                 keep: int = 0) -> sparse.csr_matrix:
    """EASE item×item weights of a rows×items matrix (binarised), zero diagonal.

    ``B = I - P / diag(P)`` with ``P = (XᵀX + λI)⁻¹`` over the items with ``min_buyers`` or more
    rows; the other items get no weights. ``keep`` > 0 keeps each item's largest positive
    weights only (a sparse model; the scores are ``history @ B``).
    """
    n = history.shape[1]
    binary = sparse.csr_matrix((history > 0).astype(np.float64))
    items = np.flatnonzero(np.asarray(binary.sum(axis=0)).ravel() >= max(min_buyers, 1))
    if not items.size:
        return sparse.csr_matrix((n, n))
    sub = binary[:, items]
    gram = _dense(sub.T @ sub)
    gram[np.diag_indices_from(gram)] += lam
    inverse = _spd_inverse(gram)
    weights = -inverse / np.diag(inverse)
    np.fill_diagonal(weights, 0.0)
    if 0 < keep < len(items):
        cut = -np.partition(-weights, keep - 1, axis=1)[:, keep - 1:keep]
        weights[(weights < cut) | (weights < 0)] = 0.0
    small = sparse.coo_matrix(weights)
    return sparse.csr_matrix((small.data, (items[small.row], items[small.col])), shape=(n, n))


def _als_half(ratings: sparse.csr_matrix, fixed: FloatArray, reg: float,
              alpha: float) -> FloatArray:
    """One implicit-ALS half step: exact least squares for every row of ``ratings``."""
    factors = fixed.shape[1]
    gram = fixed.T @ fixed + reg * np.eye(factors)
    solved = np.zeros((ratings.shape[0], factors))
    for row in range(ratings.shape[0]):
        lo, hi = ratings.indptr[row], ratings.indptr[row + 1]
        if lo == hi:
            continue
        seen = fixed[ratings.indices[lo:hi]]
        confidence = alpha * ratings.data[lo:hi]
        system = gram + (seen.T * confidence) @ seen
        solved[row] = np.linalg.solve(system, seen.T @ (1.0 + confidence))
    return solved


def implicit_als(history: sparse.csr_matrix, factors: int, reg: float, alpha: float,
                 iters: int, seed: int = 0) -> tuple[FloatArray, FloatArray]:
    """Row and item factors of implicit ALS on the binarised ``history`` (deterministic)."""
    binary = sparse.csr_matrix((history > 0).astype(np.float64))
    by_item = sparse.csr_matrix(binary.T)
    rng = np.random.default_rng(seed)
    items = rng.normal(scale=0.01, size=(binary.shape[1], factors))
    rows = np.zeros((binary.shape[0], factors))
    for _ in range(iters):
        rows = _als_half(binary, items, reg, alpha)
        items = _als_half(by_item, rows, reg, alpha)
    return rows, items


def _code_neighbours(codes: Sequence[str], window: int) -> sparse.csr_matrix:
    """Items whose stock-code numbers differ by at most ``window``, weighted 1 / (1 + gap).

    The shop numbers a range's products consecutively (22697, 22698, 22699: one teacup in three
    colours) and colour variants share a number (85123A, 85123B).
    """
    n = len(codes)
    found = [_CODE_NUMBER.match(c) for c in codes]
    items = np.array([i for i, m in enumerate(found) if m], dtype=np.intp)
    if not items.size:
        return sparse.csr_matrix((n, n))
    numbers = np.array([int(m.group()) for m in found if m], dtype=np.int64)
    order = np.argsort(numbers, kind="stable")
    items, numbers = items[order], numbers[order]
    lo = np.searchsorted(numbers, numbers - window, side="left")
    hi = np.searchsorted(numbers, numbers + window, side="right")
    lengths = hi - lo
    source = np.repeat(np.arange(len(items)), lengths)
    target = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths) \
        + np.repeat(lo, lengths)
    keep = source != target
    source, target = source[keep], target[keep]
    gap = np.abs(numbers[source] - numbers[target]).astype(np.float64)
    return sparse.csr_matrix((1.0 / (1.0 + gap), (items[source], items[target])), shape=(n, n))


# What ``fit`` leaves behind, by attribute name without its underscore.
_DENSE_STATE = ("self_content", "customer_factors", "item_factors", "popularity", "trending")
_SPARSE_STATE = ("history", "basket_sim", "customer_sim", "ease", "code_sim", "tokens")


class Recommender:
    """Item-item and personal recommendations; call ``fit`` (or ``from_csv``) first."""

    def __init__(self, config: RecommenderConfig | None = None) -> None:
        self.config = config or RecommenderConfig()
        self.codes: npt.NDArray[np.str_] = np.empty(0, dtype=str)
        self._item: dict[str, int] = {}
        self._customer: dict[str, int] = {}
        self._history = sparse.csr_matrix((0, 0))
        self._basket_sim = sparse.csr_matrix((0, 0))
        self._customer_sim = sparse.csr_matrix((0, 0))
        self._ease = sparse.csr_matrix((0, 0))
        self._code_sim = sparse.csr_matrix((0, 0))
        self._tokens = sparse.csr_matrix((0, 0))
        self._self_content: FloatArray = np.empty(0)
        self._customer_factors: FloatArray = np.empty((0, 0))
        self._item_factors: FloatArray = np.empty((0, 0))
        self._popularity: FloatArray = np.empty(0)
        self._trending: FloatArray = np.empty(0)

    @classmethod
    def from_csv(cls, path: Path, known: Collection[str] | None = None,
                 config: RecommenderConfig | None = None) -> Self:
        """Fit from the transactions CSV (see ``read_sales``)."""
        return cls(config).fit(read_sales(path, known))

    def state(self) -> dict[str, npt.NDArray[Any]]:
        """The fitted model as plain arrays (no pickles); ``from_state`` restores it exactly."""
        arrays: dict[str, npt.NDArray[Any]] = {
            "codes": np.asarray(self.codes, dtype=str),
            "customers": np.array(list(self._customer), dtype=str),
        }
        for name in _DENSE_STATE:
            arrays[name] = getattr(self, "_" + name)
        for name in _SPARSE_STATE:
            matrix = sparse.csr_matrix(getattr(self, "_" + name))
            arrays[f"{name}.data"] = matrix.data
            arrays[f"{name}.indices"] = matrix.indices
            arrays[f"{name}.indptr"] = matrix.indptr
            arrays[f"{name}.shape"] = np.array(matrix.shape, dtype=np.int64)
        return arrays

    @classmethod
    def from_state(cls, arrays: Mapping[str, npt.NDArray[Any]],
                   config: RecommenderConfig | None = None) -> Self:
        """A recommender from ``state()``'s arrays; ``config`` must be the one it was fitted with."""
        model = cls(config)
        model.codes = np.asarray(arrays["codes"], dtype=str)
        model._item = {str(c): i for i, c in enumerate(model.codes)}
        model._customer = {str(c): i for i, c in enumerate(arrays["customers"])}
        for name in _DENSE_STATE:
            setattr(model, "_" + name, np.asarray(arrays[name], dtype=np.float64))
        for name in _SPARSE_STATE:
            shape = tuple(int(n) for n in arrays[f"{name}.shape"])
            matrix = sparse.csr_matrix((arrays[f"{name}.data"], arrays[f"{name}.indices"],
                                        arrays[f"{name}.indptr"]), shape=shape)
            setattr(model, "_" + name, matrix)
        return model

    @property
    def customers(self) -> Collection[str]:
        """Customer ids with at least one purchase in the training rows."""
        return self._customer.keys()

    def fit(self, sales: Sequence[Sale]) -> Self:
        """Build the sparse matrices from sales rows; replaces any earlier fit."""
        cfg = self.config
        codes, item_idx = np.unique([s.stock_code for s in sales], return_inverse=True)
        invoices, invoice_idx = np.unique([s.invoice for s in sales], return_inverse=True)
        self.codes, self._item = codes, {str(c): i for i, c in enumerate(codes)}
        days = np.array([s.date for s in sales], dtype="datetime64[m]").astype(np.int64) / 1440.0
        shape = (len(invoices), len(codes))
        baskets = sparse.csr_matrix((np.ones(len(sales)), (invoice_idx, item_idx)), shape=shape)
        self._basket_sim = _cosine(baskets, cfg.shrink)
        self._fit_popularity(sales, item_idx, days)
        self._fit_customers(sales, item_idx, days)
        self._tokens = self._fit_tokens(sales, item_idx)
        self._self_content = np.asarray(self._tokens.multiply(self._tokens).sum(axis=1)).ravel()
        n = len(codes)
        self._ease = (ease_weights(self._history, cfg.ease_lambda, cfg.ease_min_buyers,
                                   cfg.ease_keep)
                      if cfg.ease_weight else sparse.csr_matrix((n, n)))
        self._code_sim = (_code_neighbours([str(c) for c in codes], cfg.code_window)
                          if cfg.code_weight else sparse.csr_matrix((n, n)))
        if cfg.als_weight and self._history.shape[0]:
            self._customer_factors, self._item_factors = implicit_als(
                self._history, cfg.als_factors, cfg.als_reg, cfg.als_alpha, cfg.als_iters)
        else:
            self._customer_factors = np.zeros((len(self._customer), 0))
            self._item_factors = np.zeros((n, 0))
        return self

    def _fit_popularity(self, sales: Sequence[Sale], item_idx: IndexArray,
                        days: FloatArray) -> None:
        # Distinct buyers, not lines: one wholesaler re-ordering an item is not popularity.
        buyers, buyer_idx = np.unique([s.customer_id or f"guest:{s.invoice}" for s in sales],
                                      return_inverse=True)
        shape = (len(buyers), len(self.codes))
        bought = sparse.csr_matrix((np.ones(len(sales)), (buyer_idx, item_idx)), shape=shape)
        self._popularity = np.asarray((bought > 0).sum(axis=0), dtype=np.float64).ravel()
        half_life = self.config.popular_half_life_days
        if half_life <= 0 or not len(sales):
            self._trending = self._popularity
            return
        # Each buyer counts once per item, decayed by the age of their latest purchase of it.
        key = buyer_idx.astype(np.int64) * len(self.codes) + item_idx
        pairs, pair_idx = np.unique(key, return_inverse=True)
        newest = np.full(len(pairs), -np.inf)
        np.maximum.at(newest, pair_idx, days)
        age = days.max() - newest
        self._trending = np.bincount((pairs % len(self.codes)).astype(np.intp),
                                     weights=np.exp2(-age / half_life),
                                     minlength=len(self.codes)).astype(np.float64)

    def _fit_customers(self, sales: Sequence[Sale], item_idx: IndexArray,
                       days: FloatArray) -> None:
        known = np.array([s.customer_id is not None for s in sales], dtype=bool)
        ids, cust_idx = np.unique([s.customer_id for s in sales if s.customer_id],
                                  return_inverse=True)
        self._customer = {str(c): i for i, c in enumerate(ids)}
        shape = (len(ids), len(self.codes))
        if not len(ids):
            self._history = sparse.csr_matrix(shape)
            self._customer_sim = sparse.csr_matrix((len(self.codes), len(self.codes)))
            return
        latest = np.full(len(ids), -np.inf)
        np.maximum.at(latest, cust_idx, days[known])
        # Each sales line counts once, decayed by its age relative to that customer's last visit.
        weight = np.exp2(-(latest[cust_idx] - days[known]) / self.config.half_life_days)
        self._history = sparse.csr_matrix((weight, (cust_idx, item_idx[known])), shape=shape)
        self._customer_sim = _cosine(self._history, self.config.shrink)

    def _fit_tokens(self, sales: Sequence[Sale], item_idx: IndexArray) -> sparse.csr_matrix:
        names = dict(zip(item_idx.tolist(), (s.description.upper() for s in sales), strict=True))
        tokens = [sorted(set(_TOKEN.findall(names.get(i, "")))) for i in range(len(self.codes))]
        vocab = {t: j for j, t in enumerate(sorted({t for ts in tokens for t in ts}))}
        rows = np.repeat(np.arange(len(tokens)), [len(ts) for ts in tokens])
        cols = np.array([vocab[t] for ts in tokens for t in ts], dtype=np.intp)
        matrix = sparse.csr_matrix((np.ones(len(cols)), (rows, cols)),
                                   shape=(len(self.codes), len(vocab)))
        idf = np.log((1 + len(self.codes)) / (1 + np.asarray((matrix > 0).sum(axis=0)).ravel()))
        return _row_normalise(sparse.csr_matrix(matrix @ sparse.diags(idf + 1.0)))

    def _indices(self, codes: Iterable[str]) -> IndexArray:
        wanted = (normalise_stock_code(c) for c in codes)
        return np.array([self._item[c] for c in wanted if c in self._item], dtype=np.intp)

    def _scored(self, order: IndexArray, scores: FloatArray,
                reasons: Sequence[str] | str) -> list[Scored]:
        return [Scored(str(self.codes[i]), round(float(scores[i]), 6),
                       reasons if isinstance(reasons, str) else reasons[i]) for i in order]

    def popular(self, k: int, exclude: Iterable[str] = ()) -> list[Scored]:
        """Items with the most distinct buyers: the cold-start answer."""
        scores = _scale(self._popularity)
        return self._scored(_top(scores, k, self._indices(exclude)), scores, "popular")

    def similar_to(self, stock_code: str, k: int) -> list[Scored]:
        """"Something like that one": description similarity blended with co-purchase."""
        stock_code = normalise_stock_code(stock_code)
        if stock_code not in self._item:
            return self.popular(k)
        i, share = self._item[stock_code], self.config.content_share
        tokens = self._tokens.getrow(i)
        content = np.asarray((self._tokens @ tokens.T).todense()).ravel()
        content[i] = 0.0  # the item itself would otherwise set the scale
        bought = self._co_purchase(sparse.csr_matrix(([1.0], ([0], [i])),
                                                      shape=(1, len(self.codes))))[0]
        content, bought = share * _scale(content), (1 - share) * _scale(bought)
        scores = content + bought
        reasons = np.where(content >= bought, f"similar to {stock_code}",
                           f"customers who bought {stock_code} also bought")
        return self._scored(_top(scores, k, self._indices([stock_code])), scores,
                            reasons.tolist())

    def _co_purchase(self, weights: sparse.csr_matrix) -> FloatArray:
        """Item scores (one row per row of weighted items) through basket and customer cosine."""
        share = self.config.basket_share
        basket = _scale_rows(_dense(weights @ self._basket_sim))
        customer = _scale_rows(_dense(weights @ self._customer_sim))
        return share * basket + (1 - share) * customer

    def _parts(self, customers: IndexArray) -> dict[str, FloatArray]:
        """The weighted blend parts for customer rows (``len(customers)`` × items each).

        Each part is scaled to a row maximum of 1, then multiplied by its weight; parts with
        weight 0 are left out. ``for_customer`` ranks by their sum.
        """
        cfg = self.config
        history = self._history[customers]
        parts: dict[str, FloatArray] = {}
        if cfg.own_weight:
            parts["own"] = _dense(history)
        if cfg.neighbour_weight:
            parts["neighbour"] = self._co_purchase(history)
        if cfg.ease_weight:
            parts["ease"] = _dense(history @ self._ease)
        if cfg.als_weight:
            parts["als"] = self._customer_factors[customers] @ self._item_factors.T
        if cfg.content_weight:
            shared = _dense((history @ self._tokens) @ self._tokens.T)
            # An item's own words are the "own" part's business, not similarity.
            parts["content"] = shared - _dense(history) * self._self_content
        if cfg.code_weight:
            parts["code"] = _dense(history @ self._code_sim)
        if cfg.popular_weight:
            parts["popular"] = np.broadcast_to(_scale(self._trending),
                                               (len(customers), len(self.codes)))
        weights = {"own": cfg.own_weight, "neighbour": cfg.neighbour_weight,
                   "ease": cfg.ease_weight, "als": cfg.als_weight,
                   "content": cfg.content_weight, "code": cfg.code_weight,
                   "popular": cfg.popular_weight}
        return {name: weights[name] * _scale_rows(np.maximum(part, 0.0))
                for name, part in parts.items()}

    def for_customer(self, customer_id: str, k: int, exclude: Iterable[str] = ()) -> list[Scored]:
        """Personal picks: the customer's own items first, then what goes with them.

        The blend (``_parts``): the customer's recent, frequent items; items bought with them
        (EASE; optionally co-purchase neighbours and ALS); items like them (description words,
        stock-code ranges); and what is selling now (recency-weighted distinct buyers).
        """
        cid = normalise_customer_id(customer_id)
        if cid not in self._customer:
            return self.popular(k, exclude)
        parts = self._parts(np.array([self._customer[cid]], dtype=np.intp))
        if not parts:
            return []
        names = list(parts)
        stacked = np.vstack([parts[name][0] for name in names])
        scores = stacked.sum(axis=0)
        # The reason names whichever signal contributed most to the item's score.
        reasons = np.array([_REASONS[name] for name in names])[stacked.argmax(axis=0)]
        return self._scored(_top(scores, k, self._indices(exclude)), scores, reasons.tolist())
