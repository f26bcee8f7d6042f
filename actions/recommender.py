"""Product recommendations from the shop's transactions: co-purchase, personal and popular.

Everything is sparse linear algebra over three matrices built once in ``fit``: invoice×item
(baskets), customer×item (histories, weighted by frequency and recency) and token×item
(product descriptions).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np
import numpy.typing as npt
from scipy import sparse

FloatArray = npt.NDArray[np.float64]

# Postage, fees, manual adjustments and vouchers are not merchandise.
_SERVICE_CODE = re.compile(
    r"^(POST|DOT|M|D|C2|S|B|CRUK|AMAZONFEE|BANK CHARGES|PADS|GIFT_.*)$", re.IGNORECASE
)
_TOKEN = re.compile(r"[A-Z]{3,}")
_PERSONAL_REASONS = ("you bought this before", "goes with items you bought", "popular")


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
    """Blend weights; the defaults were tuned on a leave-last-invoice-out split."""

    own_weight: float = 1.0
    neighbour_weight: float = 0.25
    popular_weight: float = 0.3
    half_life_days: float = 120.0
    basket_share: float = 0.5
    shrink: float = 2.0
    content_share: float = 0.5


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


def _top(scores: FloatArray, k: int, banned: npt.NDArray[np.intp]) -> npt.NDArray[np.intp]:
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
        self._tokens = sparse.csr_matrix((0, 0))
        self._popularity: FloatArray = np.empty(0)

    @classmethod
    def from_csv(cls, path: Path, known: Collection[str] | None = None,
                 config: RecommenderConfig | None = None) -> Self:
        """Fit from the transactions CSV (see ``read_sales``)."""
        return cls(config).fit(read_sales(path, known))

    @property
    def customers(self) -> Collection[str]:
        """Customer ids with at least one purchase in the training rows."""
        return self._customer.keys()

    def fit(self, sales: Sequence[Sale]) -> Self:
        """Build the sparse matrices from sales rows; replaces any earlier fit."""
        codes, item_idx = np.unique([s.stock_code for s in sales], return_inverse=True)
        invoices, invoice_idx = np.unique([s.invoice for s in sales], return_inverse=True)
        self.codes, self._item = codes, {str(c): i for i, c in enumerate(codes)}
        days = np.array([s.date for s in sales], dtype="datetime64[m]").astype(np.int64) / 1440.0
        shape = (len(invoices), len(codes))
        baskets = sparse.csr_matrix((np.ones(len(sales)), (invoice_idx, item_idx)), shape=shape)
        self._basket_sim = _cosine(baskets, self.config.shrink)
        self._fit_popularity(sales, item_idx)
        self._fit_customers(sales, item_idx, days)
        self._tokens = self._fit_tokens(sales, item_idx)
        return self

    def _fit_popularity(self, sales: Sequence[Sale], item_idx: npt.NDArray[np.intp]) -> None:
        # Distinct buyers, not lines: one wholesaler re-ordering an item is not popularity.
        buyers, buyer_idx = np.unique([s.customer_id or f"guest:{s.invoice}" for s in sales],
                                      return_inverse=True)
        shape = (len(buyers), len(self.codes))
        bought = sparse.csr_matrix((np.ones(len(sales)), (buyer_idx, item_idx)), shape=shape)
        self._popularity = np.asarray((bought > 0).sum(axis=0), dtype=np.float64).ravel()
    def _fit_customers(self, sales: Sequence[Sale], item_idx: npt.NDArray[np.intp],
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

    def _fit_tokens(self, sales: Sequence[Sale], item_idx: npt.NDArray[np.intp]
                    ) -> sparse.csr_matrix:
        names = dict(zip(item_idx.tolist(), (s.description.upper() for s in sales), strict=True))
        tokens = [sorted(set(_TOKEN.findall(names.get(i, "")))) for i in range(len(self.codes))]
        vocab = {t: j for j, t in enumerate(sorted({t for ts in tokens for t in ts}))}
        rows = np.repeat(np.arange(len(tokens)), [len(ts) for ts in tokens])
        cols = np.array([vocab[t] for ts in tokens for t in ts], dtype=np.intp)
        matrix = sparse.csr_matrix((np.ones(len(cols)), (rows, cols)),
                                   shape=(len(self.codes), len(vocab)))
        idf = np.log((1 + len(self.codes)) / (1 + np.asarray((matrix > 0).sum(axis=0)).ravel()))
        return _row_normalise(sparse.csr_matrix(matrix @ sparse.diags(idf + 1.0)))

    def _indices(self, codes: Iterable[str]) -> npt.NDArray[np.intp]:
        wanted = (normalise_stock_code(c) for c in codes)
        return np.array([self._item[c] for c in wanted if c in self._item], dtype=np.intp)

    def _scored(self, order: npt.NDArray[np.intp], scores: FloatArray,
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
                                                      shape=(1, len(self.codes))))
        content, bought = share * _scale(content), (1 - share) * _scale(bought)
        scores = content + bought
        reasons = np.where(content >= bought, f"similar to {stock_code}",
                           f"customers who bought {stock_code} also bought")
        return self._scored(_top(scores, k, self._indices([stock_code])), scores,
                            reasons.tolist())

    def _co_purchase(self, weights: sparse.csr_matrix) -> FloatArray:
        """Item scores from weighted items through basket and customer co-occurrence."""
        share = self.config.basket_share
        basket = np.asarray((weights @ self._basket_sim).todense()).ravel()
        customer = np.asarray((weights @ self._customer_sim).todense()).ravel()
        return share * _scale(basket) + (1 - share) * _scale(customer)

    def for_customer(self, customer_id: str, k: int, exclude: Iterable[str] = ()) -> list[Scored]:
        """Personal picks: the customer's own (recent, frequent) items plus their neighbours."""
        cid = normalise_customer_id(customer_id)
        if cid not in self._customer:
            return self.popular(k, exclude)
        history = self._history.getrow(self._customer[cid])
        own = _scale(history.toarray().ravel())
        neighbours = _scale(self._co_purchase(history))
        cfg = self.config
        parts = np.vstack([cfg.own_weight * own, cfg.neighbour_weight * neighbours,
                           cfg.popular_weight * _scale(self._popularity)])
        scores = parts.sum(axis=0)
        # The reason names whichever signal contributed most to the item's score.
        reasons = np.array(_PERSONAL_REASONS)[parts.argmax(axis=0)]
        return self._scored(_top(scores, k, self._indices(exclude)), scores, reasons.tolist())
