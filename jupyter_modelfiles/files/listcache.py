"""Totals and page boundaries of list queries, kept for one version of the ``files`` table.

Counting the matches of a common search (100,000 index entries) or walking to page 200 of it
costs milliseconds that a list request repeats for every page a user turns. Both are a function
of the rows of ``files`` alone as long as no expired file waits for the sweeper, so they are
kept here keyed by the query and dropped as soon as ``files_version.n`` (bumped by triggers on
every insert, update and delete of ``files``, by any SQLite client) differs from the version
they were computed at. Used on the database thread only.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Hashable

#: The v4 migration of the files schema: the write counter the cache is keyed by.
SCHEMA_V4 = """
CREATE TABLE files_version (n INTEGER NOT NULL);
INSERT INTO files_version (n) VALUES (0);
CREATE TRIGGER files_version_insert AFTER INSERT ON files BEGIN
    UPDATE files_version SET n = n + 1;
END;
CREATE TRIGGER files_version_delete AFTER DELETE ON files BEGIN
    UPDATE files_version SET n = n + 1;
END;
CREATE TRIGGER files_version_update AFTER UPDATE ON files BEGIN
    UPDATE files_version SET n = n + 1;
END;
"""

MAX_QUERIES = 128  # queries remembered (totals and boundaries each), least recently used dropped
MAX_MARKS = 512  # page boundaries remembered per query (at most ~6 MiB in all)


def files_version(conn: sqlite3.Connection) -> int:
    """The write counter of ``files`` as this transaction sees it."""
    return int(conn.execute("SELECT n FROM files_version").fetchone()[0])


class ListCache:
    """Totals and ``offset -> key`` page boundaries of queries, valid for one version."""

    def __init__(self) -> None:
        self.version: int | None = None
        self._totals: OrderedDict[Hashable, int] = OrderedDict()
        self._marks: OrderedDict[Hashable, dict[int, int]] = OrderedDict()

    def sync(self, version: int) -> None:
        """Forget everything computed at another version of ``files``."""
        if version != self.version:
            self._totals.clear()
            self._marks.clear()
            self.version = version

    def total(self, query: Hashable) -> int | None:
        found = self._totals.get(query)
        if found is not None:
            self._totals.move_to_end(query)
        return found

    def set_total(self, query: Hashable, total: int) -> None:
        self._totals[query] = total
        self._totals.move_to_end(query)
        while len(self._totals) > MAX_QUERIES:
            self._totals.popitem(last=False)

    def mark(self, query: Hashable, offset: int) -> tuple[int, int] | None:
        """The known boundary ``(offset, key)`` of ``query`` nearest at or before ``offset``."""
        marks = self._marks.get(query)
        if not marks:
            return None
        self._marks.move_to_end(query)
        if offset in marks:
            return offset, marks[offset]
        before = [known for known in marks if known < offset]
        if not before:
            return None
        nearest = max(before)
        return nearest, marks[nearest]

    def set_mark(self, query: Hashable, offset: int, key: int) -> None:
        marks = self._marks.setdefault(query, {})
        self._marks.move_to_end(query)
        if len(marks) >= MAX_MARKS and offset not in marks:
            marks.pop(next(iter(marks)))
        marks[offset] = key
        while len(self._marks) > MAX_QUERIES:
            self._marks.popitem(last=False)
