"""Coordination through PostgreSQL (psycopg 3): the team mode across hosts.

- ``shared_transfers``: one row per content key (status, owner, bytes done, total, path,
  error, updated_at), created on first use.
- The owner holds a *session* advisory lock, ``pg_try_advisory_lock(<64-bit hash of the key>)``,
  on its connection. PostgreSQL frees it when that connection ends: the owner exits or is
  killed (the socket closes), or its node vanishes (TCP keepalives on both sides and
  ``tcp_user_timeout`` end the session within seconds).
- Every write of a row is followed by ``NOTIFY modelfiles_transfers, '<key>'``; waiting
  servers ``LISTEN`` on another connection and re-read the row, and poll for a freed lock.
- PostgreSQL unreachable at start: :class:`CoordinationUnavailable` within about
  ``connect_timeout`` seconds, naming the URL with its password hidden. Lost later: claims turn
  ``lost`` (their transfers go on and publish; lost by silence they are also ``cut_off`` and
  pause, since the lock may be free for others already), and the coordinator reconnects in the
  background, takes its locks back when nobody else took them meanwhile (the record still
  ours and not done), else revokes the claim (``taken_over``), and records what finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

from .coordinator import (
    Claim,
    CoordinationError,
    CoordinationUnavailable,
    Coordinator,
    TransferRecord,
)
from .keys import ContentKey

log = logging.getLogger(__name__)

CHANNEL = "modelfiles_transfers"
#: serialises ``CREATE TABLE IF NOT EXISTS`` between servers starting at the same moment
SCHEMA_LOCK_ID = 0x6D6F_6465_6C66_0001

SCHEMA = """
CREATE TABLE IF NOT EXISTS shared_transfers (
    key TEXT PRIMARY KEY,
    lock_id BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'released', 'failed', 'done')),
    owner TEXT,
    bytes_done BIGINT NOT NULL DEFAULT 0,
    total BIGINT,
    path TEXT,
    error TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""

COLUMNS = "key, status, owner, bytes_done, total, path, error, extract(epoch FROM updated_at)"


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (also ``password=`` parameters)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        netloc = f"{userinfo}@{host}"
    query = re.sub(r"(?i)(^|&)(password)=[^&]*", r"\1\2=***", parts.query)
    redacted = urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    return re.sub(r"(?i)\bpassword\s*=\s*('[^']*'|\S+)", "password=***", redacted)


def _silence(error: BaseException) -> bool:
    """The connection died of silence (keepalives, ``tcp_user_timeout``, no route), not
    because PostgreSQL closed or refused it: see ``Claim.cut_off``."""
    text = str(error).lower()
    return any(sign in text for sign in ("timed out", "timeout", "unreachable", "no route to host"))


class PostgresCoordinator(Coordinator):
    """See the module docstring; ``url`` is a ``postgresql://`` URL (libpq's syntax)."""

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: int = 5,
        keepalive_idle: int = 5,
        keepalive_interval: int = 2,
        keepalive_count: int = 3,
        health_interval: float = 2.0,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if not url.startswith(("postgresql://", "postgres://")):
            raise CoordinationUnavailable(
                f"coordination_url must be a postgresql:// URL, not {redact_url(url)!r}"
            )
        self.url = url
        self.connect_timeout = max(2, int(connect_timeout))
        self.keepalive_idle = keepalive_idle
        self.keepalive_interval = keepalive_interval
        self.keepalive_count = keepalive_count
        self.health_interval = health_interval
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._events: dict[str, asyncio.Event] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._listen_conn: psycopg.AsyncConnection[Any] | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._pending_done: dict[str, Claim] = {}
        self._closed = False

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.closed

    # -- connections -------------------------------------------------------------------------

    @property
    def user_timeout_ms(self) -> int:
        """``tcp_user_timeout``: unacknowledged data for this long ends the connection."""
        return (self.keepalive_idle + self.keepalive_interval * self.keepalive_count) * 1000

    def _connect_options(self) -> dict[str, Any]:
        given = conninfo_to_dict(self.url)
        defaults: dict[str, Any] = {
            "connect_timeout": self.connect_timeout,
            "keepalives": 1,
            "keepalives_idle": self.keepalive_idle,
            "keepalives_interval": self.keepalive_interval,
            "keepalives_count": self.keepalive_count,
            "tcp_user_timeout": self.user_timeout_ms,
            "application_name": "jupyter-modelfiles",
        }
        return {name: value for name, value in defaults.items() if name not in given}

    def _unavailable(self, error: BaseException) -> CoordinationUnavailable:
        reason = str(error).strip() or type(error).__name__
        password = conninfo_to_dict(self.url).get("password") if "://" in self.url else None
        if password:
            reason = reason.replace(str(password), "***")
        return CoordinationUnavailable(
            f"cannot reach the coordination database {redact_url(self.url)}: {reason}. "
            "Check ModelFilesApp.coordination_url, that PostgreSQL runs and that this host may "
            "connect to it."
        )

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        try:
            conn = await asyncio.wait_for(
                psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, **self._connect_options()
                ),
                timeout=self.connect_timeout * 2 + 2,
            )
        except (psycopg.Error, OSError, asyncio.TimeoutError) as error:
            raise self._unavailable(error) from None
        try:
            # the server side notices a vanished client too (ignored on Unix sockets)
            await conn.execute(
                "SELECT set_config('tcp_keepalives_idle', %s, false),"
                " set_config('tcp_keepalives_interval', %s, false),"
                " set_config('tcp_keepalives_count', %s, false),"
                " set_config('tcp_user_timeout', %s, false)",
                (
                    str(self.keepalive_idle),
                    str(self.keepalive_interval),
                    str(self.keepalive_count),
                    str(self.user_timeout_ms),
                ),
            )
        except psycopg.Error as error:
            await conn.close()
            raise self._unavailable(error) from None
        return conn

    async def open(self) -> None:
        self._closed = False
        self._conn = await self._connect()
        try:
            async with self._conn.transaction():
                await self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_ID,))
                cursor = await self._conn.execute("SELECT to_regclass('shared_transfers')")
                row = await cursor.fetchone()
                if row is None or row[0] is None:  # CREATE ... IF NOT EXISTS needs CREATE too
                    await self._conn.execute(SCHEMA)
        except (psycopg.OperationalError, psycopg.InterfaceError) as error:
            await self._conn.close()
            raise self._unavailable(error) from None
        except psycopg.Error as error:
            await self._conn.close()
            raise CoordinationError(
                f"the coordination database {redact_url(self.url)} refused to set up the "
                f"shared_transfers table: {error.diag.message_primary or error}. The role needs "
                "CREATE on its schema the first time (or an admin creates the table), then "
                "SELECT, INSERT, UPDATE and DELETE on it."
            ) from None
        self._tasks = [
            asyncio.create_task(self._listen(), name="modelfiles-team-listen"),
            asyncio.create_task(self._check_health(), name="modelfiles-team-health"),
        ]

    async def close(self) -> None:
        for claim in list(self._claims.values()):
            with contextlib.suppress(CoordinationUnavailable):
                await claim.release()
        for key, claim in list(self._pending_done.items()):
            with contextlib.suppress(CoordinationUnavailable):
                await self._record_done(claim)
                del self._pending_done[key]
        self._closed = True
        tasks = [*self._tasks, *([self._reconnecting] if self._reconnecting else [])]
        for task in tasks:
            task.cancel()
        listener = self._listen_conn
        if listener is not None:  # ends a pending notifies() even if a cancel was swallowed
            with contextlib.suppress(Exception):
                await listener.close()
        if tasks:
            # Python 3.11's wait_for can swallow a cancel that races a finished connect: never
            # let close() wait on such a task for ever.
            await asyncio.wait(tasks, timeout=5.0)
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def _execute(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement on the lock connection; a lost connection starts reconnecting."""
        conn = self._conn
        if conn is None or conn.closed:
            self._connection_lost(None)
            raise CoordinationUnavailable(
                f"not connected to the coordination database {redact_url(self.url)}"
            )
        try:
            cursor = await conn.execute(query, params)
            return await cursor.fetchall() if cursor.description else []
        except (psycopg.OperationalError, psycopg.InterfaceError) as error:
            self._connection_lost(error)
            raise self._unavailable(error) from None

    def _connection_lost(self, error: BaseException | None) -> None:
        if self._closed:
            return
        if error is not None:
            log.warning("lost the coordination database %s: %s", redact_url(self.url), error)
        silent = error is not None and _silence(error)
        for claim in self._claims.values():
            claim.lost = True
            if silent:
                claim.cut_off.set()
        if self._reconnecting is None or self._reconnecting.done():
            self._reconnecting = asyncio.create_task(self._reconnect())

    async def _reconnect(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
        self._conn = None
        delay = 0.5
        while not self._closed:
            try:
                self._conn = await self._connect()
                await self._restore()
                return
            except CoordinationUnavailable as error:
                log.info("still waiting for the coordination database: %s", error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _restore(self) -> None:
        """After a reconnection: take our locks back where nobody else did, record what
        finished meanwhile, wake the waiters."""
        log.info("coordination database %s reachable again", redact_url(self.url))
        for claim in list(self._claims.values()):
            rows = await self._execute("SELECT pg_try_advisory_lock(%s)", (claim.key.lock_id,))
            if rows[0][0]:
                # free now, but another server may have owned it meanwhile (and finished)
                rows = await self._execute(
                    "SELECT status, owner FROM shared_transfers WHERE key = %s", (str(claim.key),)
                )
                if rows and rows[0][0] != "done" and rows[0][1] == self.owner:
                    claim.lost = False
                    claim.cut_off.clear()
                    await self._write_claim(claim)
                    continue
                await self._execute("SELECT pg_advisory_unlock(%s)", (claim.key.lock_id,))
            log.warning("%s was taken over by another server meanwhile", claim.key)
            claim.revoke()
        for key, claim in list(self._pending_done.items()):
            await self._record_done(claim)
            del self._pending_done[key]
        for event in self._events.values():
            event.set()

    async def _check_health(self) -> None:
        """Notice a dead connection while idle, and keep reconnecting after failures."""
        while not self._closed:
            await asyncio.sleep(self.health_interval)
            if self._reconnecting is not None and not self._reconnecting.done():
                continue
            with contextlib.suppress(CoordinationUnavailable):
                await self._execute("SELECT 1")  # when not connected, starts reconnecting

    async def _listen(self) -> None:
        """Turn ``NOTIFY`` into per-key events; polling covers the gaps while reconnecting."""
        while not self._closed:
            try:
                conn = await self._connect()
            except CoordinationUnavailable:
                await asyncio.sleep(1.0)
                continue
            if self._closed:  # closed while connecting
                await conn.close()
                return
            self._listen_conn = conn
            try:
                await conn.execute(f"LISTEN {CHANNEL}")
                async for note in conn.notifies():
                    event = self._events.get(note.payload)
                    if event is not None:
                        event.set()
            except (psycopg.Error, OSError) as error:
                log.info("coordination listener reconnecting: %s", error)
            finally:
                self._listen_conn = None
                with contextlib.suppress(Exception):
                    await conn.close()
            if not self._closed:
                await asyncio.sleep(0.5)

    # -- records -----------------------------------------------------------------------------

    @staticmethod
    def _record(row: tuple[Any, ...]) -> TransferRecord:
        key, status, owner, bytes_done, total, path, error, updated = row
        return TransferRecord(
            key=key,
            status=status,
            owner=owner,
            bytes_done=int(bytes_done),
            total=None if total is None else int(total),
            path=path,
            error=error,
            updated_at=float(updated),
        )

    async def get(self, key: ContentKey) -> TransferRecord | None:
        rows = await self._execute(
            f"SELECT {COLUMNS} FROM shared_transfers WHERE key = %s", (str(key),)
        )
        return self._record(rows[0]) if rows else None

    async def records(self) -> list[TransferRecord]:
        rows = await self._execute(f"SELECT {COLUMNS} FROM shared_transfers ORDER BY key")
        return [self._record(row) for row in rows]

    async def forget(self, key: ContentKey) -> None:
        await self._execute(
            "DELETE FROM shared_transfers WHERE key = %s AND status = 'done'", (str(key),)
        )

    # -- claims ------------------------------------------------------------------------------

    async def _try_claim(
        self, key: ContentKey, *, total: int | None, path: str | None
    ) -> Claim | None:
        rows = await self._execute("SELECT pg_try_advisory_lock(%s)", (key.lock_id,))
        if not rows[0][0]:
            return None
        try:
            rows = await self._execute(
                f"""
                WITH u AS (
                    INSERT INTO shared_transfers
                        (key, lock_id, status, owner, bytes_done, total, path, updated_at)
                    VALUES (%s, %s, 'active', %s, 0, %s, %s, now())
                    ON CONFLICT (key) DO UPDATE SET
                        status = 'active', owner = EXCLUDED.owner, error = NULL,
                        total = COALESCE(EXCLUDED.total, shared_transfers.total),
                        path = COALESCE(EXCLUDED.path, shared_transfers.path),
                        updated_at = now()
                    WHERE shared_transfers.status <> 'done'
                    RETURNING *
                )
                SELECT {COLUMNS}, pg_notify(%s, key) FROM u
                """,
                (str(key), key.lock_id, self.owner, total, path, CHANNEL),
            )
            if not rows:  # published while we were asking
                await self._execute("SELECT pg_advisory_unlock(%s)", (key.lock_id,))
                return None
        except BaseException:
            if self.connected:
                with contextlib.suppress(CoordinationUnavailable):
                    await self._execute("SELECT pg_advisory_unlock(%s)", (key.lock_id,))
            raise
        record = self._record(rows[0][:8])
        return Claim(self, key, bytes_done=record.bytes_done, total=record.total, path=record.path)

    async def _update(self, claim: Claim, *, only_own: bool) -> None:
        await self._execute(
            """
            WITH u AS (
                UPDATE shared_transfers
                SET status = %s, bytes_done = %s, total = %s, path = %s, error = %s,
                    updated_at = now()
                WHERE key = %s AND status <> 'done' AND (owner = %s OR NOT %s)
                RETURNING key
            )
            SELECT pg_notify(%s, key) FROM u
            """,
            (
                claim.status,
                claim.bytes_done,
                claim.total,
                claim.path,
                claim.error,
                str(claim.key),
                self.owner,
                only_own,
                CHANNEL,
            ),
        )

    async def _write_claim(self, claim: Claim) -> None:
        if claim.lost:
            return  # the reconnection writes the latest state
        with contextlib.suppress(CoordinationUnavailable):
            await self._update(claim, only_own=True)

    async def _record_done(self, claim: Claim) -> None:
        # the bytes are published, whoever holds the lock now: done is final for everyone
        await self._update(claim, only_own=False)

    async def _finish_claim(self, claim: Claim) -> None:
        self._forget(claim)
        try:
            if claim.lost:
                raise CoordinationUnavailable("lost")
            if claim.status == "done":
                await self._record_done(claim)
            else:
                await self._update(claim, only_own=True)
            await self._execute("SELECT pg_advisory_unlock(%s)", (claim.key.lock_id,))
        except CoordinationUnavailable:
            if claim.status == "done":
                self._pending_done[str(claim.key)] = claim

    async def _wait_change(self, key: ContentKey, timeout: float) -> None:
        event = self._events.setdefault(str(key), asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            event.clear()
