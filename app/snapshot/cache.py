"""The reference-data cache of one process (built by app/init.py).

Readers call `cache.snapshot()` and get whatever snapshot is current; they never lock and
never touch the database while one is loaded. A reload builds a whole new Snapshot and swaps
a single attribute, so nobody sees half of an update. Past its TTL the cache asks the
database one question (the reference version) and reloads only when it changed.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import anyio.to_thread
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from app.kit.backoff import Backoff
from app.kit.logs import logger
from app.kit.runtime import note
from app.kit.settings import Settings
from app.models import ReferenceVersion
from app.snapshot.snapshot import Snapshot, SnapshotError, read_snapshot


class CacheUnavailable(RuntimeError):
    """No snapshot can be served: never loaded, or too stale to serve; try again later."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Outcome(StrEnum):
    """What the cache did for one request (logged, and counted as metrics)."""

    HIT = "hit"  # fresh snapshot, no SQL
    REVALIDATED = "revalidated"  # TTL passed; version unchanged; clock restarted (1 SELECT)
    RELOADED = "reloaded"  # TTL passed; version changed; everything read again
    LOADED = "loaded"  # a cold cache loaded its first snapshot
    STALE = "stale"  # revalidation failed; last good snapshot served (stale-if-error)
    UNAVAILABLE = "unavailable"  # nothing servable: 503


@dataclass(frozen=True, slots=True)
class Freshness:
    """Cache timing policy, from settings."""

    ttl_seconds: float = 300  # 0: never revalidate
    max_stale_seconds: float = 3600  # how long past its TTL a snapshot may be served on errors
    retry_seconds: float = 2  # first back-off after a failed attempt; doubles each time
    retry_max_seconds: float = 60

    @classmethod
    def of(cls, config: Settings) -> Freshness:
        return cls(
            ttl_seconds=config.cache_ttl_seconds,
            max_stale_seconds=config.cache_max_stale_seconds,
            retry_seconds=config.cache_retry_seconds,
            retry_max_seconds=config.cache_retry_max_seconds,
        )


class ReferenceCache:
    """Holds the current Snapshot of one execution environment and keeps it fresh.

    Within the TTL a read is a pointer load. Past it, one caller (single-flight) asks the
    database for the reference version; the snapshot is reloaded only if it changed. Other
    callers keep the current snapshot meanwhile. A failed attempt keeps the last good
    snapshot (stale-if-error, up to max_stale past the TTL) and backs off exponentially.
    """

    def __init__(
        self,
        engine: Engine,
        policy: Freshness | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self.policy = policy or Freshness()
        self._clock = clock
        self._current: Snapshot | None = None
        self._verified_at = 0.0  # clock() of the last successful load or revalidation
        self._lock = threading.Lock()
        self._backoff = Backoff(self.policy.retry_seconds, self.policy.retry_max_seconds, clock)
        self._invalidated = False
        self.last_error: str | None = None
        self.counters = {"loads": 0, "revalidations": 0, "reloads": 0, "failures": 0, "stale": 0}

    @property
    def current(self) -> Snapshot | None:
        return self._current

    def load(self) -> Snapshot:
        """Read all reference tables in one transaction and swap the new snapshot in."""
        # A snapshot is a great many objects that live until the next reload: collecting
        # while building it is wasted work (full collections, at INIT), and once built they
        # are frozen out of every later collection.
        collecting = gc.isenabled()
        gc.disable()
        try:
            snapshot = self._read()
        finally:
            if collecting:
                gc.enable()
        self._swap(snapshot)
        gc.freeze()
        logger.info(
            "reference cache loaded",
            extra={"version": snapshot.version, "load_ms": round(snapshot.load_ms, 1)},
        )
        return snapshot

    def _read(self) -> Snapshot:
        with self._engine.connect() as pooled:
            conn = pooled
            if conn.dialect.name == "postgresql":
                # One consistent view across all tables; READ ONLY costs nothing extra.
                conn = pooled.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
            with conn.begin():
                if conn.dialect.name == "sqlite":
                    # pysqlite does not open a transaction before a SELECT; do it ourselves
                    # so every table is read from the same state of the file.
                    conn.exec_driver_sql("BEGIN")
                return read_snapshot(conn)

    def _swap(self, snapshot: Snapshot) -> None:
        self._current = snapshot
        self._verified_at = self._clock()
        self._invalidated = False
        self._backoff.succeeded()
        self.last_error = None

    def current_version(self) -> int:
        """The database's reference version: the one cheap question a revalidation asks."""
        with self._engine.connect() as conn:
            version: int = conn.execute(
                select(ReferenceVersion.version).where(ReferenceVersion.id == 1)
            ).scalar_one()
        return version

    def refresh(self) -> Outcome:
        """Load a cold cache, or revalidate a warm one. Records, never raises, a failure."""
        current = self._current
        try:
            if current is None:
                self.load()
                self.counters["loads"] += 1
                return Outcome.LOADED
            self.counters["revalidations"] += 1
            if self.current_version() == current.version:
                self._verified_at = self._clock()
                self._invalidated = False
                self._backoff.succeeded()
                self.last_error = None
                return Outcome.REVALIDATED
            self.load()
            self.counters["reloads"] += 1
            return Outcome.RELOADED
        except (SQLAlchemyError, SnapshotError) as exc:
            self._failed(exc)
            return Outcome.UNAVAILABLE if current is None else Outcome.STALE

    def try_load(self) -> Snapshot | None:
        """INIT and SnapStart restore: load now, or record why not (never raises)."""
        try:
            snapshot = self.load()
        except (SQLAlchemyError, SnapshotError) as exc:
            self._failed(exc)
            return None
        self.counters["loads"] += 1
        return snapshot

    def _failed(self, exc: Exception) -> None:
        # The class name says what went wrong without echoing SQL or a password.
        self.counters["failures"] += 1
        delay = self._backoff.failed()
        self.last_error = f"{type(exc).__name__}: reference data could not be loaded"
        logger.error(
            "reference cache refresh failed",
            extra={
                "error": type(exc).__name__,
                "attempt": self._backoff.failures,
                "retry_in_s": delay,
            },
        )

    def invalidate(self) -> None:
        """Make the next read revalidate (after an admin write in this environment), with
        stale-if-error still counted from now; with a TTL of 0 too."""
        self._verified_at = min(self._verified_at, self._clock() - self.policy.ttl_seconds)
        self._invalidated = True

    def _expired(self, now: float) -> bool:
        ttl = self.policy.ttl_seconds
        return (
            self._current is None
            or self._invalidated
            or (ttl > 0 and now - self._verified_at >= ttl)
        )

    def stale_seconds(self, now: float | None = None) -> float | None:
        """How far past its TTL the current snapshot is, or None while it is fresh."""
        now = self._clock() if now is None else now
        if self._current is None or not self._expired(now):
            return None
        return max(0.0, now - self._verified_at - self.policy.ttl_seconds)

    def snapshot(self) -> Snapshot:
        """The snapshot to serve; may refresh inline (sync routes, health, SnapStart)."""
        now = self._clock()
        current = self._current
        if current is not None and not self._expired(now):
            note(Outcome.HIT, None)  # the warm path: a clock read and two compares
            return current
        if self._backoff.ready(now) and self._lock.acquire(blocking=False):
            try:
                return self._serve(self.refresh())
            finally:
                self._lock.release()
        return self._serve_expired()

    async def asnapshot(self) -> Snapshot:
        """The snapshot to serve from an async route: a refresh runs in a worker thread,
        so the event loop (other requests under uvicorn) never waits for the database."""
        now = self._clock()
        current = self._current
        if current is not None and not self._expired(now):
            note(Outcome.HIT, None)  # the warm path: a clock read and two compares
            return current
        if self._backoff.ready(now) and self._lock.acquire(blocking=False):
            try:
                outcome = await anyio.to_thread.run_sync(self.refresh)
            finally:
                self._lock.release()
            return self._serve(outcome)
        return self._serve_expired()

    def _serve_expired(self) -> Snapshot:
        # Someone else is refreshing, or we are backing off after a failure.
        if self._current is not None and self._backoff.failures == 0:
            return self._serve(Outcome.HIT)  # in flight elsewhere: serve without waiting
        return self._serve(Outcome.STALE if self._current is not None else Outcome.UNAVAILABLE)

    def _serve(self, outcome: Outcome) -> Snapshot:
        current = self._current
        stale = self.stale_seconds() if outcome is Outcome.STALE else None
        if current is None or (stale is not None and stale > self.policy.max_stale_seconds):
            note(Outcome.UNAVAILABLE, None)
            raise CacheUnavailable(
                self.last_error or "reference data is loading", self._backoff.retry_after()
            )
        if outcome is Outcome.STALE:
            self.counters["stale"] += 1
        note(outcome, stale)
        return current
