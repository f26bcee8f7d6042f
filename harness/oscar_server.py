"""A real django-oscar shop with django-oscar-api, as a process on a free port, for tests.

``OscarServer`` builds (or reuses) the platform's venv, copies in a migrated SQLite database in
a temp dir, loads the sample data with Oscar's own factories (``harness/oscar/shopbot_platform``)
and serves it with gunicorn. ``stop()`` and ``start()`` again keep the same database and port
(a platform that goes away mid-conversation and comes back). The helpers below change the shop
for real: through the admin API where django-oscar-api has one, else through Oscar's own code
in a management command.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from harness.oscar_platform import PROJECT, VENV, ensure_venv, manage, migrated_database, platform_env
from harness.polling import until_sync
from harness.server_process import free_port, terminate


@dataclass(frozen=True)
class Sample:
    """The sample data's ids: products by key (``mug``, ``tshirt-navy-m``...), order numbers,
    customers' user ids."""

    products: dict[str, int]
    orders: tuple[str, ...]
    customers: dict[str, int]


class OscarServer:
    """The sample Oscar shop; ``with OscarServer() as shop:`` sets it up, starts and stops it."""

    def __init__(self, venv: Path = VENV, port: int | None = None) -> None:
        self.venv = venv
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._tmp: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.sample: Sample | None = None
        # Per run, never written anywhere but the shop's own database.
        self.reader_token = secrets.token_hex(20)
        self.admin_token = secrets.token_hex(20)
        self._secrets = {
            "SHOPBOT_OSCAR_SECRET_KEY": secrets.token_urlsafe(40),
            "SHOPBOT_OSCAR_READER_PASSWORD": secrets.token_urlsafe(16),
            "SHOPBOT_OSCAR_READER_TOKEN": self.reader_token,
            "SHOPBOT_OSCAR_ADMIN_PASSWORD": secrets.token_urlsafe(16),
            "SHOPBOT_OSCAR_ADMIN_TOKEN": self.admin_token,
        }

    def __repr__(self) -> str:
        return f"OscarServer({self.base_url!r})"

    @property
    def data_dir(self) -> Path:
        """The shop's SQLite database, media (product images) and server log."""
        assert self._tmp is not None, "set_up() first"
        return self._tmp

    def _env(self) -> dict[str, str]:
        return platform_env({"SHOPBOT_OSCAR_DATA": str(self.data_dir), **self._secrets})

    def set_up(self) -> Sample:
        """Build or reuse the venv; a migrated database with the sample data in a new temp dir."""
        ensure_venv(self.venv)
        self._tmp = Path(tempfile.mkdtemp(prefix="shopbot-oscar-"))
        env = self._env()
        migrated_database(self.venv, self.data_dir / "shop.sqlite3", env)
        out = manage(self.venv, env, "shopbot_sample_data").stdout
        ids = json.loads(out.strip().splitlines()[-1])
        self.sample = Sample(ids["products"], tuple(ids["orders"]), ids["customers"])
        return self.sample

    def start(self, timeout_s: float = 60.0) -> None:
        """Serve the shop (same database, same port) and wait until its API answers."""
        log = (self.data_dir / "server.log").open("ab")
        self.proc = subprocess.Popen(
            [str(self.venv / "bin" / "gunicorn"), "wsgi:application", "--chdir", str(PROJECT),
             "--bind", f"127.0.0.1:{self.port}", "--workers", "1", "--threads", "8",
             "--timeout", "60", "--graceful-timeout", "5"],
            env=self._env(), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        proc = self.proc

        def answering() -> bool:
            assert proc.poll() is None, (self.data_dir / "server.log").read_text(errors="replace")
            with urllib.request.urlopen(self.base_url + "/api/", timeout=2) as response:
                return bool(response.status == 200)

        until_sync(answering, timeout_s=timeout_s, interval_s=0.1, ignoring=(OSError,),
                   what=f"the Oscar shop on port {self.port} to answer /api/")

    def stop(self) -> None:
        """Stop serving (SIGTERM, then SIGKILL); the database stays for ``start()``."""
        if self.proc is not None and self.proc.poll() is None:
            terminate(self.proc, 15)
        self.proc = None

    def close(self) -> None:
        """Stop and delete the temp dir."""
        self.stop()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> Self:
        try:
            self.set_up()
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # --- Changing the shop for real --------------------------------------------------------------

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call the shop's API as its staff admin; the decoded JSON answer (None for 204)."""
        request = urllib.request.Request(
            self.base_url + path, method=method, data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Token {self.admin_token}", "Content-Type": "application/json",
                     "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            raise AssertionError(f"{method} {path}: HTTP {err.code}: {err.read()[:500]!r}") from err
        return json.loads(raw) if raw else None

    def _stockrecord(self, product_id: int) -> int:
        records = self.admin("GET", f"/api/products/{product_id}/stockrecords/")
        rows = records["results"] if isinstance(records, dict) else records
        assert rows, f"product {product_id} has no stock record"
        return int(rows[0]["id"])

    def reprice(self, product_id: int, price: Decimal | str) -> None:
        """Give the product's stock record a new price (admin API)."""
        self.admin("PATCH", f"/api/admin/stockrecords/{self._stockrecord(product_id)}/",
                   {"price": str(Decimal(price))})

    def set_stock(self, product_id: int, num_in_stock: int) -> None:
        """Set how many the product's stock record has in stock (admin API)."""
        self.admin("PATCH", f"/api/admin/stockrecords/{self._stockrecord(product_id)}/",
                   {"num_in_stock": num_in_stock})

    def add_product(self, title: str, price: Decimal | str | None, num_in_stock: int = 0,
                    description: str = "", product_class: str = "homeware") -> int:
        """Create a standalone product with one stock record (admin API); its id. ``price`` None:
        no stock record (a product the shop has not priced yet)."""
        partners = self.admin("GET", "/api/admin/partners/")
        partner = (partners["results"] if isinstance(partners, dict) else partners)[0]["url"]
        code = secrets.token_hex(4)
        records = [] if price is None else [
            {"partner": partner, "partner_sku": f"SKU-{code}", "price_currency": "GBP",
             "price": str(Decimal(price)), "num_in_stock": num_in_stock}]
        created = self.admin("POST", "/api/admin/products/", {
            "title": title, "slug": f"added-{code}", "upc": f"SB-{code}", "structure": "standalone",
            "product_class": product_class, "description": description, "stockrecords": records,
        })
        return int(created["id"])

    def remove_product(self, product_id: int) -> None:
        """Delete the product (admin API)."""
        self.admin("DELETE", f"/api/admin/products/{product_id}/")

    def set_order_status(self, number: str, status: str) -> None:
        """Move the order to ``status`` through Oscar's order pipeline (a management command:
        django-oscar-api's admin API cannot change an order)."""
        manage(self.venv, self._env(), "shopbot_order_status", number, status)
