"""A local, fsync'ed journal of turn records: a turn is on disk before its reply is sent.

Records are appended as JSON lines to numbered segment files. Appends that arrive while a
write is in progress wait for the next one, so one ``fsync`` serves every concurrent turn
(group commit). A segment is deleted once it is sealed and every record in it has reached
the database; at start-up whatever is left is read back and shipped again (inserts are
idempotent by ``turn_id``). A record that cannot be encoded is set apart in ``quarantine/``
on its own; it never takes other records with it.

Several workers may share one journal directory: each takes a slot of its own (a subdirectory
it holds an exclusive lock on) and, when it opens, adopts what any slot nobody holds has left.

A write that fails (the disk is full, say) is undone: the segment is cut back to its last
whole record, so a turn that was refused never comes back in a replay, and the turns waiting
for that write are refused with ``StorageFull`` (or ``Unavailable`` for other disk errors).
The segment is then sealed, so that it is deleted, and its space freed, once it is shipped.
``refusing`` says why turns are refused until a write succeeds or the disk has room again.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import StorageFull, Unavailable
from core.ratelog import RateLimitedLog
from core.turns import TurnRecord
from monitoring.turnlog import record_from_row, row_of

log = logging.getLogger(__name__)

SEGMENT_GLOB = "segment-*.jsonl"
_SEGMENT = re.compile(r"segment-(\d{8})\.jsonl$")
# A journal line's turn id, read without decoding the whole record (json.dumps' default separators).
_TURN_ID = re.compile(rb'"turn_id": "([^"\\]*)"')
# After a full disk, turns are taken again once this much is free (or a write succeeds).
RESUME_FREE_BYTES = 64 * 1024
# What a refused turn is told to wait before trying again.
RETRY_AFTER_S = 5
_FULL = (errno.ENOSPC, errno.EDQUOT)


@dataclass
class _Segment:
    number: int
    path: Path
    appended: int = 0
    shipped: int = 0
    sealed: bool = False


@dataclass(frozen=True)
class Entry:
    """A journalled record and the segment it lives in."""

    record: TurnRecord
    segment: int


@dataclass
class _Pending:
    line: bytes
    record: TurnRecord
    future: asyncio.Future[int] = field(repr=False)


class TurnJournal:
    """Append (durably), replay and retire turn records; one writer thread, group commit."""

    def __init__(self, directory: Path, *, segment_records: int = 5000, fsync: bool = True) -> None:
        self.base = Path(directory)
        self.directory = self.base
        self._slot_lock: Any = None
        self.segment_records = segment_records
        self.fsync = fsync
        self._segments: dict[int, _Segment] = {}
        self._current: _Segment | None = None
        self._handle: Any = None
        self._pending: list[_Pending] = []
        self._writing: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        # Segment counters change on the writer thread (appends) and the shipper's (shipped).
        self._lock = threading.Lock()
        self.quarantined = 0
        self.commits = 0
        # Since when (monotonic) writes fail for want of space; None while they do not.
        self._full_since: float | None = None
        self.refused_writes = 0
        self._errors = RateLimitedLog(log, 30.0)

    # ------------------------------------------------------------- start-up

    def open(self) -> list[Entry]:
        """Take a slot and read back what earlier runs left (records not yet known to be shipped)."""
        self.base.mkdir(parents=True, exist_ok=True)
        self.directory = self._claim_slot()
        (self.directory / "quarantine").mkdir(exist_ok=True)
        self._adopt_orphans()
        entries: list[Entry] = []
        for path in sorted(self.directory.glob(SEGMENT_GLOB)):
            match = _SEGMENT.search(path.name)
            if match is None:
                continue
            segment = _Segment(int(match.group(1)), path, sealed=True)
            for record in self._read(path):
                entries.append(Entry(record, segment.number))
                segment.appended += 1
            self._segments[segment.number] = segment
            if segment.appended == 0:
                self._retire(segment)
        return entries

    def _claim_slot(self) -> Path:
        for n in range(1024):
            slot = self.base / f"slot-{n:03d}"
            slot.mkdir(exist_ok=True)
            handle = (slot / "lock").open("a")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                continue
            self._slot_lock = handle
            return slot
        raise RuntimeError(f"no free journal slot under {self.base}")

    def _adopt_orphans(self) -> None:
        # Segments in slots no running worker holds (one fewer worker now, say) become ours.
        next_number = max((_number(p) for p in self.directory.glob(SEGMENT_GLOB)), default=0) + 1
        for slot in sorted(self.base.glob("slot-*")):
            if slot == self.directory:
                continue
            with (slot / "lock").open("a") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue  # a live worker's slot
                for path in sorted(slot.glob(SEGMENT_GLOB)):
                    path.replace(self.directory / f"segment-{next_number:08d}.jsonl")
                    next_number += 1
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _read(self, path: Path) -> Iterator[TurnRecord]:
        with path.open("rb") as handle:
            for n, line in enumerate(handle, 1):
                if not line.endswith(b"\n"):
                    # A torn last line: its write never completed, so it was never acknowledged.
                    log.warning("%s:%d: incomplete line skipped", path.name, n)
                    continue
                try:
                    yield record_from_row(json.loads(line))
                except (ValueError, KeyError, TypeError) as err:
                    log.error("%s:%d: unreadable record quarantined: %s", path.name, n, err)
                    self._quarantine_bytes(line)

    def reread(self, wanted: dict[str, int]) -> list[Entry]:
        """The records of ``wanted`` (turn id -> segment) read back from their segments, in order.

        For the sink's spilled backlog; a record whose segment is gone is not returned.
        """
        by_segment: dict[int, set[str]] = {}
        for turn_id, number in wanted.items():
            by_segment.setdefault(number, set()).add(turn_id)
        found: list[Entry] = []
        for number in sorted(by_segment):
            with self._lock:
                segment = self._segments.get(number)
            if segment is None:
                continue
            ids = by_segment[number]
            try:
                handle = segment.path.open("rb")
            except FileNotFoundError:
                continue  # retired meanwhile: everything in it was shipped
            with handle:
                for line in handle:
                    # Cheap test first: only the wanted lines are decoded.
                    match = _TURN_ID.search(line)
                    if not line.endswith(b"\n") or match is None or match.group(1).decode() not in ids:
                        continue
                    try:
                        record = record_from_row(json.loads(line))
                    except (ValueError, KeyError, TypeError):
                        continue  # quarantined at start-up, never acknowledged twice
                    if record.turn_id in ids:
                        found.append(Entry(record, number))
        return found

    # --------------------------------------------------------------- append

    async def append(self, record: TurnRecord) -> int:
        """Write ``record`` and fsync it (with whatever else is waiting); the segment number."""
        try:
            line = (json.dumps(_jsonable(row_of(record)), ensure_ascii=False) + "\n").encode("utf-8")
        except (TypeError, ValueError) as err:
            # Only this record is set apart; it is reported, never silently lost.
            log.error("turn %s cannot be encoded, quarantined: %s", record.turn_id, err)
            await asyncio.get_running_loop().run_in_executor(self._executor, self._quarantine_repr, record)
            raise
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(line, record, future))
        if self._writing is None:
            self._writing = asyncio.create_task(self._write_loop(), name="journal-writer")
        return await future

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    results = await loop.run_in_executor(self._executor, self._write, batch)
                except Exception as err:  # noqa: BLE001 - every waiting turn learns it failed
                    results = [err] * len(batch)
                for p, result in zip(batch, results, strict=True):
                    if p.future.done():
                        continue
                    if isinstance(result, Exception):
                        p.future.set_exception(result)
                    else:
                        p.future.set_result(result)
        finally:
            self._writing = None

    def _write(self, batch: list[_Pending]) -> list[int | Exception]:
        """Each record's segment number, or the error that refused it (nothing of it kept)."""
        results: list[int | Exception] = []
        while len(results) < len(batch):
            try:
                with self._lock:
                    segment = self._segment()
                    chunk = batch[len(results):len(results) + self.segment_records - segment.appended]
                self._append(b"".join(p.line for p in chunk))
            except OSError as err:
                refusal = self._refused(err)
                results.extend(refusal for _ in range(len(batch) - len(results)))
                break
            with self._lock:
                segment.appended += len(chunk)
            results.extend(segment.number for _ in chunk)
        self.commits += 1
        return results

    def _append(self, data: bytes) -> None:
        """Write and fsync ``data`` at the segment's end; on failure, cut the segment back."""
        fd = self._handle.fileno()
        start = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if self.fsync:
                os.fsync(fd)
        except OSError:
            # What reached the file belongs to turns that are about to be refused: remove it, so
            # that no replay ever ships them (a torn line left if this fails too is skipped).
            try:
                os.ftruncate(fd, start)
                if self.fsync:
                    os.fsync(fd)
            except OSError as cut:
                log.error("journal %s could not be cut back to %d bytes: %s", self.directory, start, cut)
            raise
        if self._full_since is not None:
            log.warning("turn journal writable again after %.1f s (%d writes refused)",
                        time.monotonic() - self._full_since, self.refused_writes)
            self._full_since = None
            self.refused_writes = 0

    def _refused(self, err: OSError) -> Exception:
        """The error for turns a failed write refused; the segment is sealed (freed once shipped)."""
        with self._lock:
            if self._current is not None:
                self._seal(self._current)
                self._current = None
        self.refused_writes += 1
        if err.errno in _FULL:
            if self._full_since is None:
                self._full_since = time.monotonic()
                log.error("turn journal's disk is full (%s); refusing turns until it has room",
                          self.directory)
            refusal: Exception = StorageFull("the turn journal's disk is full", RETRY_AFTER_S)
        else:
            self._errors.error("write", "turn journal write failed: %s", err)
            refusal = Unavailable("the turn journal cannot be written", RETRY_AFTER_S)
        refusal.__cause__ = err
        return refusal

    @property
    def refusing(self) -> str | None:
        """Why turns are refused now (a full disk), or None; clears itself once there is room."""
        if self._full_since is None:
            return None
        try:
            stats = os.statvfs(self.directory)
            free = stats.f_bavail * stats.f_frsize
        except OSError:
            free = 0
        if free >= RESUME_FREE_BYTES:
            return None
        return f"the turn journal's disk is full ({free // 1024} KiB free)"

    def _segment(self) -> _Segment:
        current = self._current
        if current is not None and current.appended < self.segment_records:
            return current
        if current is not None:
            self._seal(current)
        number = max(self._segments, default=0) + 1
        current = _Segment(number, self.directory / f"segment-{number:08d}.jsonl")
        # Unbuffered: a failed write leaves nothing behind in a buffer to reach the file later.
        self._handle = current.path.open("ab", buffering=0)
        if self.fsync:
            fsync_dir(self.directory)
        self._segments[number] = current
        self._current = current
        return current

    def _seal(self, segment: _Segment) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        segment.sealed = True
        if segment.shipped >= segment.appended:
            self._retire(segment)

    # ---------------------------------------------------------------- ship

    def shipped(self, segment_numbers: list[int]) -> None:
        """These records are in the database; retire sealed segments that are fully shipped."""
        with self._lock:
            for number in segment_numbers:
                segment = self._segments.get(number)
                if segment is None:
                    continue
                segment.shipped += 1
                if segment.sealed and segment.shipped >= segment.appended:
                    self._retire(segment)

    def _retire(self, segment: _Segment) -> None:
        self._segments.pop(segment.number, None)
        segment.path.unlink(missing_ok=True)

    @property
    def backlog(self) -> int:
        """Records written to the journal and not yet confirmed in the database."""
        with self._lock:
            return sum(s.appended - s.shipped for s in self._segments.values())

    # ----------------------------------------------------------- quarantine

    def _quarantine_repr(self, record: TurnRecord) -> None:
        self._quarantine_bytes(repr(record).encode("utf-8", "backslashreplace"))

    def _quarantine_bytes(self, data: bytes) -> None:
        self.quarantined += 1
        name = f"{time.time_ns()}.txt"
        (self.directory / "quarantine" / name).write_bytes(data)

    def quarantine(self, record: TurnRecord, reason: str) -> None:
        """Set apart a record the database refuses for good (blocking; the shipper's thread)."""
        log.error("turn %s refused by the database for good, quarantined: %s", record.turn_id, reason)
        try:
            line = json.dumps(_jsonable(row_of(record)), ensure_ascii=False).encode("utf-8")
        except (TypeError, ValueError):
            line = repr(record).encode("utf-8", "backslashreplace")
        self._quarantine_bytes(line)

    # --------------------------------------------------------------- close

    async def close(self) -> None:
        """Finish pending writes and close the current segment (kept until it is shipped)."""
        while self._writing is not None:
            await self._writing
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=True)

    def _close(self) -> None:
        with self._lock:
            if self._current is not None:
                self._seal(self._current)
                self._current = None
        if self._slot_lock is not None:
            self._slot_lock.close()  # releases the slot for the next process
            self._slot_lock = None


def _number(path: Path) -> int:
    match = _SEGMENT.search(path.name)
    return int(match.group(1)) if match else 0


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "ts": row["ts"].isoformat()}


def fsync_dir(directory: Path) -> None:
    """Make the names of the files just created or renamed in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
