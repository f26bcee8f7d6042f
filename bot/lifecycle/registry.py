"""The model registry: every trained router (generator, recommender) is a version with a state.

Rows live in the application's database (``model_versions``, ``model_events``); the files of
a version live under ``models_dir/<kind>/<version>/``, published atomically with a manifest
(:mod:`bot.lifecycle.artifacts`). States: ``candidate`` (trained, not served), ``live`` (at
most one per kind, enforced by a partial unique index), ``retired`` (served before). Every
change of the live version is an event: who, when, which version replaced which, forced or
not, and the metrics it was judged by.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    desc,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from bot.lifecycle.artifacts import publish, verify
from core.db import as_utc
from core.errors import Conflict, NotFound

metadata = MetaData()

model_versions = Table(
    "model_versions",
    metadata,
    Column("version", String(64), primary_key=True),
    Column("kind", String(16), nullable=False, index=True),
    Column("state", String(16), nullable=False),
    Column("path", String(256), nullable=False),
    Column("data_hash", String(64), nullable=False),
    Column("settings", JSON, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("manifest", String(64), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # At most one live version per kind, whatever two deploys racing each other do.
    Index("one_live_per_kind", "kind", unique=True,
          sqlite_where=text("state = 'live'"), postgresql_where=text("state = 'live'")),
)

model_events = Table(
    "model_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("action", String(16), nullable=False),
    Column("version", String(64), nullable=False),
    Column("previous", String(64), nullable=True),
    Column("actor", String(128), nullable=False),
    Column("forced", Boolean, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("ts", DateTime(timezone=True), nullable=False, index=True),
)

_HEX = re.compile(r"[0-9a-f]{6}")
# Inside a generator version's folder: the checkpoint, and its ONNX export.
MODEL_DIR = "model"
FAST_DIR = "fast"
# The same 64-bit key in every process: deploys of one database take turns.
_DEPLOY_LOCK = 0x5B0_DE9107


class ModelKind(StrEnum):
    """What a version is a version of."""

    ROUTER = "router"
    GENERATOR = "generator"
    RECOMMENDER = "recommender"


class ModelState(StrEnum):
    """Where a version stands."""

    CANDIDATE = "candidate"
    LIVE = "live"
    RETIRED = "retired"


class ModelAction(StrEnum):
    """What made a version live."""

    DEPLOY = "deploy"
    ROLLBACK = "rollback"


@dataclass(frozen=True)
class ModelVersion:
    """One registered version; ``path`` is absolute on this machine."""

    version: str
    kind: ModelKind
    state: ModelState
    path: Path
    data_hash: str
    settings: dict[str, Any]
    metrics: dict[str, Any]
    manifest: str
    created_by: str
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        """The API shape (no file system path: it is the server's business)."""
        return {
            "version": self.version, "kind": str(self.kind), "state": str(self.state),
            "data_hash": self.data_hash, "settings": self.settings, "metrics": self.metrics,
            "created_by": self.created_by, "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class ModelEvent:
    """One change of a kind's live version."""

    id: int
    kind: ModelKind
    action: ModelAction
    version: str
    previous: str | None
    actor: str
    forced: bool
    metrics: dict[str, Any]
    ts: datetime

    def to_json(self) -> dict[str, Any]:
        """The API shape."""
        return {
            "id": self.id, "kind": str(self.kind), "action": str(self.action), "version": self.version,
            "previous": self.previous, "actor": self.actor, "forced": self.forced,
            "metrics": self.metrics, "ts": self.ts.isoformat(),
        }


class ModelRegistry:
    """Versions and their states in the database, their files under ``models_dir``."""

    def __init__(self, engine: Engine, models_dir: Path) -> None:
        self.engine = engine
        self.models_dir = Path(models_dir)

    def create(self) -> None:
        """Create the tables if missing (the server does it in ``bot.serving.schema``)."""
        metadata.create_all(self.engine)

    def staging(self, kind: ModelKind) -> Path:
        """A fresh folder to train into, on the same file system as the versions (atomic rename)."""
        path = self.models_dir / str(kind) / f".staging-{uuid.uuid4().hex}"
        path.mkdir(parents=True)
        return path

    @contextmanager
    def staged(self, kind: ModelKind) -> Iterator[Path]:
        """:meth:`staging`, removed afterwards (nothing is left once ``register`` published it)."""
        path = self.staging(kind)
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def register(
        self,
        kind: ModelKind,
        staging: Path,
        *,
        data_hash: str,
        settings: dict[str, Any],
        metrics: dict[str, Any],
        created_by: str,
        state: ModelState = ModelState.CANDIDATE,
    ) -> ModelVersion:
        """Publish ``staging`` as a new version (a candidate, unless told) and record it."""
        now = datetime.now(UTC)
        # Six hex digits of the data hash name the version (hashed again if it is not hex).
        short = data_hash[:6]
        if not _HEX.fullmatch(short):
            short = hashlib.sha256(data_hash.encode()).hexdigest()[:6]
        base = f"{kind}-{now:%Y%m%d-%H%M%S}-{short}"
        version = base
        n = 1
        while (self.models_dir / str(kind) / version).exists() or self._exists(version):
            n += 1
            version = f"{base}-{n}"
        relative = f"{kind}/{version}"
        manifest = publish(staging, self.models_dir / relative)
        row = {
            "version": version, "kind": str(kind), "state": str(state), "path": relative,
            "data_hash": data_hash, "settings": settings, "metrics": metrics, "manifest": manifest,
            "created_by": created_by, "created_at": now,
        }
        with self.engine.begin() as conn:
            conn.execute(model_versions.insert().values(**row))
        return self.get(version)

    def _exists(self, version: str) -> bool:
        with self.engine.connect() as conn:
            query = select(model_versions.c.version).where(model_versions.c.version == version)
            return conn.execute(query).first() is not None

    def get(self, version: str) -> ModelVersion:
        """One version; ``NotFound`` when it was never registered."""
        with self.engine.connect() as conn:
            row = conn.execute(select(model_versions).where(model_versions.c.version == version)).first()
        if row is None:
            raise NotFound(f"no model version {version!r}")
        return self._version(row)

    def versions(self, kind: ModelKind | None = None) -> list[ModelVersion]:
        """Every version, newest first."""
        query = select(model_versions).order_by(desc(model_versions.c.created_at))
        if kind is not None:
            query = query.where(model_versions.c.kind == str(kind))
        with self.engine.connect() as conn:
            return [self._version(r) for r in conn.execute(query)]

    def live(self, kind: ModelKind) -> ModelVersion | None:
        """The live version of ``kind``, if one was ever deployed."""
        query = select(model_versions).where(
            model_versions.c.kind == str(kind), model_versions.c.state == str(ModelState.LIVE))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else self._version(row)

    def verify(self, version: ModelVersion) -> None:
        """Raise ``NotReady`` unless the version's files are whole (see ``artifacts.verify``)."""
        verify(version.path, version.manifest)

    def update_metrics(self, version: str, metrics: dict[str, Any]) -> ModelVersion:
        """Merge ``metrics`` into a version's metrics (evaluation and replay results)."""
        current = self.get(version)
        merged = {**current.metrics, **metrics}
        with self.engine.begin() as conn:
            conn.execute(update(model_versions).where(model_versions.c.version == version)
                         .values(metrics=merged))
        return self.get(version)

    def set_live(
        self,
        version: str,
        *,
        actor: str,
        action: ModelAction,
        forced: bool = False,
        metrics: dict[str, Any] | None = None,
        replaces: str | None = None,
    ) -> ModelEvent:
        """Make ``version`` its kind's live version (the old one retires) and record the event.

        ``replaces`` names what was served when no version was live yet (the seed model,
        registered retired by the first deploy): the version a rollback returns to.
        """
        target = self.get(version)
        if target.state is ModelState.LIVE:
            raise Conflict(f"{version} is already live")
        now = datetime.now(UTC)
        try:
            with self.engine.begin() as conn:
                self._lock(conn)
                current = conn.execute(select(model_versions.c.version).where(
                    model_versions.c.kind == str(target.kind),
                    model_versions.c.state == str(ModelState.LIVE))).scalar() or replaces
                conn.execute(update(model_versions).where(model_versions.c.version == current)
                             .values(state=str(ModelState.RETIRED)))
                conn.execute(update(model_versions).where(model_versions.c.version == version)
                             .values(state=str(ModelState.LIVE)))
                inserted = conn.execute(model_events.insert().values(
                    kind=str(target.kind), action=str(action), version=version, previous=current,
                    actor=actor, forced=forced, metrics=metrics or {}, ts=now,
                )).inserted_primary_key
                assert inserted is not None
                event_id = inserted[0]
        except IntegrityError as err:
            raise Conflict(f"another deploy of {target.kind} happened at the same time: {err.orig}") from err
        return ModelEvent(int(event_id), target.kind, action, version, current, actor, forced,
                          metrics or {}, now)

    def rollback_target(self, kind: ModelKind) -> ModelVersion:
        """The version that was live before the current one; ``Conflict`` when there is none."""
        live = self.live(kind)
        if live is None:
            raise Conflict(f"no {kind} version is live: nothing to roll back")
        query = (select(model_events.c.previous)
                 .where(model_events.c.kind == str(kind), model_events.c.version == live.version)
                 .order_by(desc(model_events.c.id)).limit(1))
        with self.engine.connect() as conn:
            previous = conn.execute(query).scalar()
        if previous is None:
            raise Conflict(f"{live.version} was the first live {kind}: there is nothing to roll back to")
        return self.get(previous)

    def roll_back(self, kind: ModelKind, *, actor: str) -> ModelEvent:
        """Make the version live before the current one live again (no gate: it served before)."""
        target = self.rollback_target(kind)
        self.verify(target)
        return self.set_live(target.version, actor=actor, action=ModelAction.ROLLBACK)

    def events(self, kind: ModelKind | None = None, limit: int = 50) -> list[ModelEvent]:
        """Deploys and rollbacks, newest first."""
        query = select(model_events).order_by(desc(model_events.c.id)).limit(limit)
        if kind is not None:
            query = query.where(model_events.c.kind == str(kind))
        with self.engine.connect() as conn:
            return [
                ModelEvent(r.id, ModelKind(r.kind), ModelAction(r.action), r.version, r.previous, r.actor,
                           bool(r.forced), dict(r.metrics or {}), as_utc(r.ts))
                for r in conn.execute(query)
            ]

    def _lock(self, conn: Connection) -> None:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _DEPLOY_LOCK})

    def _version(self, row: Any) -> ModelVersion:
        return ModelVersion(
            version=row.version, kind=ModelKind(row.kind), state=ModelState(row.state),
            path=self.models_dir / row.path, data_hash=row.data_hash, settings=dict(row.settings or {}),
            metrics=dict(row.metrics or {}), manifest=row.manifest, created_by=row.created_by,
            created_at=as_utc(row.created_at),
        )
