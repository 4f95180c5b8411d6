"""SQLite state: one connection owned by one thread, WAL journal, per-component migrations.

Every subsystem declares its own schema as an ordered list of SQL scripts and calls
:meth:`Database.migrate` at start-up; the applied version of each component is kept in
``schema_version``. All queries run on the database thread, never on the server's event loop.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from .errors import InsufficientStorage

T = TypeVar("T")

_COMPONENT = re.compile(r"^[a-z_][a-z0-9_]*$")


def _make_private(path: Path) -> None:
    """Create the database file readable by its owner only, or take group and other access
    away from an existing one (and its WAL files): jobs keep their origins' credentials (an
    ``Authorization`` header) to resume after a restart. SQLite gives the ``-wal`` and
    ``-shm`` files the database file's mode."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for part in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            mode = os.stat(part).st_mode
            if mode & 0o077:
                os.chmod(part, mode & 0o700)
        except FileNotFoundError:
            continue


class Database:
    """An async facade over a single SQLite connection running on its own thread."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelfiles-db")
        self._conn: sqlite3.Connection | None = None
        self._thread_id: int | None = None
        self._submit(self._open).result()

    # -- connection lifecycle -------------------------------------------------------------
    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _make_private(self.path)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
        )
        self._conn = conn
        self._thread_id = threading.get_ident()

    def close(self) -> None:
        if self._conn is None:
            return

        def _close() -> None:
            assert self._conn is not None
            self._conn.close()
            self._conn = None

        self._submit(_close).result()
        self._executor.shutdown(wait=True)

    # -- running work on the database thread ---------------------------------------------
    def _submit(self, fn: Callable[[], T]) -> Future[T]:
        return self._executor.submit(fn)

    def _in_transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn
        if conn is None:
            raise RuntimeError("database is closed")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
                conn.execute("COMMIT")
            except BaseException:
                # A failed COMMIT (a full disk) can leave the transaction open: close it, or
                # every later BEGIN fails ("cannot start a transaction within a transaction").
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                raise
        except sqlite3.OperationalError as exc:
            if is_disk_full(exc):
                raise InsufficientStorage(
                    f"the disk holding the state database ({self.path.parent}) is full; "
                    "free some space and try again"
                ) from exc
            raise
        return result

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` in one transaction on the database thread."""
        if threading.get_ident() == self._thread_id:
            return self._in_transaction(fn)
        return await asyncio.wrap_future(self._submit(lambda: self._in_transaction(fn)))

    def run_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Like :meth:`run`, for threads that are not an event loop (the download engine)."""
        if threading.get_ident() == self._thread_id:
            return self._in_transaction(fn)
        return self._submit(lambda: self._in_transaction(fn)).result()

    async def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        """Run one statement; return the number of rows changed."""
        return await self.run(lambda c: c.execute(sql, params).rowcount)

    async def fetchall(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> list[sqlite3.Row]:
        return await self.run(lambda c: c.execute(sql, params).fetchall())

    async def fetchone(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> sqlite3.Row | None:
        return await self.run(lambda c: c.execute(sql, params).fetchone())

    # -- schema ----------------------------------------------------------------------------
    def migrate(self, component: str, scripts: Sequence[str]) -> int:
        """Apply the scripts of ``component`` not applied yet; return its schema version."""
        if not _COMPONENT.match(component):
            raise ValueError(f"bad component name: {component!r}")

        def _migrate() -> int:
            conn = self._conn
            assert conn is not None
            row = conn.execute(
                "SELECT version FROM schema_version WHERE component = ?", (component,)
            ).fetchone()
            current = row[0] if row else 0
            if current > len(scripts):
                raise RuntimeError(
                    f"state database {self.path} has {component} schema v{current}, "
                    f"newer than this jupyter-modelfiles knows (v{len(scripts)}): upgrade it"
                )
            for version in range(current + 1, len(scripts) + 1):
                script = scripts[version - 1]
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for statement in _split_sql(script):
                        conn.execute(statement)
                    conn.execute(
                        "INSERT OR REPLACE INTO schema_version (component, version) VALUES (?, ?)",
                        (component, version),
                    )
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            return len(scripts)

        return self._submit(_migrate).result()

    def schema_version(self, component: str) -> int:
        row = self.run_sync(
            lambda c: c.execute(
                "SELECT version FROM schema_version WHERE component = ?", (component,)
            ).fetchone()
        )
        return int(row[0]) if row else 0


def is_disk_full(exc: BaseException) -> bool:
    """True for SQLite's "database or disk is full" (SQLITE_FULL) and for ENOSPC/EDQUOT."""
    if isinstance(exc, InsufficientStorage):
        return True
    if isinstance(exc, sqlite3.OperationalError):
        code = getattr(exc, "sqlite_errorcode", None)
        return code == getattr(sqlite3, "SQLITE_FULL", 13) or "database or disk is full" in str(exc)
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def _split_sql(script: str) -> list[str]:
    """Split a migration script into complete statements."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
