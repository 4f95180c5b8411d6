"""Full-text search of the files store: schema v3 and the FTS5 queries of a list request.

Two FTS5 tables hold one row per file (rowid = ``files.seq``), kept by triggers in plain SQL
(so rows inserted by any SQLite client are indexed too):

- ``files_text`` (trigram, case-insensitive): the ``filename`` (a search of 3+ characters is a
  trigram phrase on it, exactly as in v1/v2) and ``tags``;
- ``files_short`` (trigram, case-sensitive): ``grams``, every 1- and 2-character substring of
  the ASCII-lowered filename made into one trigram token (a 2-character gram followed by
  ``GRAM2``, a 1-character gram followed by ``GRAM1`` twice), so a search of 1 or 2
  characters is one token instead of a ``LIKE`` scan, with ``LIKE``'s meaning (ASCII letters
  fold, nothing else does); and ``tags``.

``tags`` holds one 3-character token per filter value of the file (purpose, source,
sample_type, mimetype), private-use characters coding the row id of ``files_tags``. The three
characters of a code come from three disjoint ranges, so a trigram spanning two codes is never
a code. A filter is then part of the same FTS5 query (``AND``, ``OR`` for several values): the
matches are counted and paged in rowid order by the index alone, without a row lookup each.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

GRAM2 = "\ue002"
GRAM1 = "\ue003"
MAX_NAME_CHARS = 1024  # positions kept in files_positions; names are at most 255 bytes

#: The filter columns of ``files`` indexed as tags, in the order of ``ListQuery``.
FACETS = ("purpose", "source", "sample_type", "mimetype")

# Code digits: first, second and third character of a tag, each from its own range.
_D1, _D2, _D3, _BASE = 0xE100, 0xE800, 0xEF00, 1600


def _tag_sql(facet: str, value: str) -> str:
    return (
        f"(SELECT char({_D1} + id / {_BASE * _BASE}, {_D2} + id / {_BASE} % {_BASE}, "
        f"{_D3} + id % {_BASE}) FROM files_tags WHERE facet = '{facet}' AND value = {value})"
    )


def _tags_sql(row: str) -> str:
    return " || ".join(_tag_sql(facet, f"{row}.{facet}") for facet in FACETS)


def _grams_sql(name: str) -> str:
    return (
        f"coalesce((SELECT group_concat(substr(lower({name}), i, 2) || char({ord(GRAM2)}), '') "
        f"FROM files_positions WHERE i < length({name})), '') || "
        f"coalesce((SELECT group_concat(substr(lower({name}), i, 1) || "
        f"char({ord(GRAM1)}, {ord(GRAM1)}), '') "
        f"FROM files_positions WHERE i <= length({name})), '')"
    )


def _new_tags_sql(row: str) -> str:
    values = ", ".join(f"('{facet}', {row}.{facet})" for facet in FACETS)
    return f"INSERT OR IGNORE INTO files_tags (facet, value) VALUES {values};"


def schema_v3() -> str:
    """The migration from v2: FTS5 tables with tags and short grams replace ``files_fts``."""
    backfill_tags = "\n".join(
        f"INSERT OR IGNORE INTO files_tags (facet, value) SELECT DISTINCT '{facet}', {facet} "
        "FROM files;"
        for facet in FACETS
    )
    return f"""
    DROP TRIGGER files_fts_insert;
    DROP TRIGGER files_fts_delete;
    DROP TABLE files_fts;
    DROP INDEX files_names;
    CREATE TABLE files_positions (i INTEGER PRIMARY KEY);
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {MAX_NAME_CHARS})
        INSERT INTO files_positions SELECT i FROM n;
    CREATE TABLE files_tags (
        id INTEGER PRIMARY KEY,
        facet TEXT NOT NULL,
        value TEXT NOT NULL,
        UNIQUE (facet, value)
    );
    CREATE VIRTUAL TABLE files_text USING fts5(filename, tags, tokenize='trigram');
    CREATE VIRTUAL TABLE files_short USING fts5(
        grams, tags, tokenize='trigram case_sensitive 1'
    );
    {backfill_tags}
    INSERT INTO files_text (rowid, filename, tags)
        SELECT seq, filename, {_tags_sql("files")} FROM files;
    INSERT INTO files_short (rowid, grams, tags)
        SELECT seq, {_grams_sql("files.filename")}, {_tags_sql("files")} FROM files;
    CREATE TRIGGER files_search_insert AFTER INSERT ON files BEGIN
        {_new_tags_sql("new")}
        INSERT INTO files_text (rowid, filename, tags)
            VALUES (new.seq, new.filename, {_tags_sql("new")});
        INSERT INTO files_short (rowid, grams, tags)
            VALUES (new.seq, {_grams_sql("new.filename")}, {_tags_sql("new")});
    END;
    CREATE TRIGGER files_search_delete AFTER DELETE ON files BEGIN
        DELETE FROM files_text WHERE rowid = old.seq;
        DELETE FROM files_short WHERE rowid = old.seq;
    END;
    CREATE TRIGGER files_search_update
    AFTER UPDATE OF seq, filename, purpose, source, sample_type, mimetype ON files BEGIN
        {_new_tags_sql("new")}
        DELETE FROM files_text WHERE rowid = old.seq;
        DELETE FROM files_short WHERE rowid = old.seq;
        INSERT INTO files_text (rowid, filename, tags)
            VALUES (new.seq, new.filename, {_tags_sql("new")});
        INSERT INTO files_short (rowid, grams, tags)
            VALUES (new.seq, {_grams_sql("new.filename")}, {_tags_sql("new")});
    END;
    """


def _phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def short_search_indexable(search: str) -> bool:
    """A 1- or 2-character search ``files_short`` answers exactly (no marker characters)."""
    return 0 < len(search) < 3 and GRAM1 not in search and GRAM2 not in search


def fts_match(
    conn: sqlite3.Connection,
    search: str | None,
    facets: Sequence[tuple[str, Sequence[str]]],
) -> tuple[str, str] | None:
    """``(table, MATCH expression)`` of a search and filters; None when no file can match.

    ``search`` is None, 3+ characters, or short and :func:`short_search_indexable`.
    """
    terms: list[str] = []
    table = "files_text"
    if search is not None and len(search) >= 3:
        terms.append(f"filename : {_phrase(search)}")
    elif search is not None:
        table = "files_short"
        lowered = conn.execute("SELECT lower(?)", (search,)).fetchone()[0]  # LIKE's folding
        token = lowered + GRAM2 if len(lowered) == 2 else lowered + GRAM1 + GRAM1
        terms.append(f"grams : {_phrase(token)}")
    for facet, values in facets:
        marks = ", ".join("?" for _ in values)
        codes = [
            chr(_D1 + code // (_BASE * _BASE))
            + chr(_D2 + code // _BASE % _BASE)
            + chr(_D3 + code % _BASE)
            for (code,) in conn.execute(
                f"SELECT id FROM files_tags WHERE facet = ? AND value IN ({marks})",
                [facet, *values],
            )
        ]
        if not codes:
            return None
        terms.append("(" + " OR ".join(f"tags : {_phrase(code)}" for code in codes) + ")")
    return table, " AND ".join(terms)
