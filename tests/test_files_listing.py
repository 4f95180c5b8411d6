"""The store's list fast path (FTS5 tags and grams, schema v3) against plain SQL on the same rows.

The reference is the straightforward query of what a list request means: every condition on
the ``files`` row, a search of 1-2 characters as ``LIKE``, of 3+ as the trigram phrase of the
v1/v2 ``files_fts`` (rebuilt here from ``files``), ``ORDER BY seq``, ``COUNT(*)``.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_modelfiles.errors import InvalidRequest
from jupyter_modelfiles.events import EventBus
from jupyter_modelfiles.files.models import ListQuery
from jupyter_modelfiles.files.search import GRAM1, GRAM2
from jupyter_modelfiles.files.store import SCHEMA, FileStore
from jupyter_modelfiles.state import Database

from .conftest import body
from .multipart import multipart

PIECES = [
    "llama", "LLAMA", "Llama", "été", "ÉTÉ", "straße", "STRASSE", "σίσυφος", "ΣΊΣΥΦΟΣ",
    "\u212a", "k", "K", "ﬁle", "İx", "ǅ", "🦙", "50%", "a_b", "back\\slash", 'q"uote',
    "sp ace", "-00", "x", "zz", GRAM2, GRAM1 + "y", "\ue100\ue800\uef01", "ab" + GRAM2,
]  # fmt: skip
PURPOSES = ["batch", "user_data", "fine-tune", "batch_output"]
SOURCES = ["upload", "download", "repository"]
SAMPLE_TYPES = ["pretrain", "instruct", "batch_request"]
MIMETYPES = ["application/jsonl", "text/plain", "Text/Plain", "application/octet-stream"]
SEARCHES = [
    *"lLkK\u212aé%_\\\"x-😀🦙",
    GRAM2, GRAM1, "ll", "LL", "lA", "Ét", "ét", "ß", "0%", "a_", "_b", "\\s", '"u', "p ",
    "zz", "z", "🦙x", "-0", "ΣΊ", "σί", "ab", "a" + GRAM2, GRAM1 + "y", "\ue100",
    "llama", "LLAMA", "été", "ÉTÉ", "straße", "strasse", "σίσυφος", "ΣΊΣΥΦΟΣ", "ﬁle", "file",
    '"q"', "50%", "a_b", "back\\", "-00", "sp ace", "none-such", "\ue100\ue800\uef01", "🦙🦙🦙",
]  # fmt: skip
FACETS: list[dict[str, Any]] = [
    {},
    {"purpose": "batch"},
    {"purpose": "user_data", "sources": ["upload"]},
    {"sources": ["download", "repository", "download"]},
    {"sample_types": ["instruct"], "mimetypes": ["text/plain"]},
    {"mimetypes": ["Text/Plain"]},
    {"mimetypes": ["text/PLAIN"]},  # no file has it
    {"purpose": "batch", "sources": ["upload", "download"], "sample_types": ["pretrain"]},
    {"sources": SOURCES},  # every file passes: a filter that filters nothing
    {"purpose": "fine-tune", "sample_types": SAMPLE_TYPES, "mimetypes": MIMETYPES[1:]},
]


def random_name(rng: random.Random, n: int) -> str:
    parts = [rng.choice(PIECES) for _ in range(rng.randint(1, 3))]
    return "-".join(parts) + f"-{n:05d}" + rng.choice([".jsonl", ".TXT", ".bin", ""])


def insert_rows(conn: sqlite3.Connection, count: int, seed: int) -> None:
    rng = random.Random(seed)
    now = int(time.time())
    rows = []
    for n in range(count):
        expires = rng.choice([None, None, None, now - 100, now + 10_000])
        rows.append(
            (
                f"file-{seed}-{n}",
                n,
                now,
                random_name(rng, n),
                rng.choice(PURPOSES),
                rng.choice(SAMPLE_TYPES),
                rng.choice(SOURCES),
                rng.choice(MIMETYPES),
                "",
                expires,
            )
        )
    conn.executemany(
        "INSERT INTO files (id, bytes, created_at, filename, purpose, sample_type, source, "
        "mimetype, sha256, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    # holes in seq, and rows whose filter columns and name changed after insertion
    conn.execute("DELETE FROM files WHERE seq % 17 = 3")
    conn.execute("UPDATE files SET purpose = 'batch', filename = 'Renamed-' || filename "
                 "WHERE seq % 23 = 5")  # fmt: skip


def reference(conn: sqlite3.Connection, q: ListQuery, fts: str) -> tuple[list[str], int, bool]:
    """Ids of the page, the total and has_more, by the plain query."""
    where = ["(expires_at IS NULL OR expires_at > ?)"]
    params: list[Any] = [int(time.time())]
    for column, values in (
        ("purpose", [q.purpose] if q.purpose else []),
        ("source", q.sources),
        ("sample_type", q.sample_types),
        ("mimetype", q.mimetypes),
    ):
        if values:
            where.append(f"{column} IN ({', '.join('?' for _ in values)})")
            params.extend(values)
    if q.search and len(q.search) < 3:
        escaped = q.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append("filename LIKE ? ESCAPE '\\'")
        params.append(f"%{escaped}%")
    elif q.search:
        where.append(f"seq IN (SELECT rowid FROM {fts} WHERE {fts} MATCH ?)")
        params.append('"' + q.search.replace('"', '""') + '"')
    direction = "ASC" if q.order == "asc" else "DESC"
    ids = [
        row[0]
        for row in conn.execute(
            f"SELECT id FROM files WHERE {' AND '.join(where)} ORDER BY seq {direction}", params
        )
    ]
    total = len(ids)
    if q.after is not None:
        ids = ids[ids.index(q.after) + 1 :] if q.after in ids else []
        start = 0
    else:
        start = q.page * q.page_size
    size = q.limit if q.limit is not None else q.page_size
    return ids[start : start + size], total, len(ids) > start + size


def queries(conn: sqlite3.Connection, fts: str) -> Iterator[ListQuery]:
    rng = random.Random(3)
    for search in [None, *SEARCHES]:
        for facets in FACETS:
            for order in ("desc", "asc"):
                yield ListQuery(search=search, order=order, **facets)
                yield ListQuery(search=search, order=order, page=3, page_size=7, **facets)
                plain = ListQuery(search=search, order=order, **facets)
                ids, _, _ = reference(conn, plain, fts)
                if ids:
                    after = rng.choice(ids)
                    yield ListQuery(search=search, order=order, after=after, limit=5, **facets)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FileStore]:
    db = Database(tmp_path / "state.sqlite3")
    store = FileStore(tmp_path, db, EventBus())
    db.run_sync(lambda conn: insert_rows(conn, 3000, seed=1))
    db.run_sync(
        lambda conn: conn.execute(
            "CREATE VIRTUAL TABLE ref_fts USING fts5(filename, content='files', "
            "content_rowid='seq', tokenize='trigram')"
        )
    )
    db.run_sync(lambda conn: conn.execute("INSERT INTO ref_fts(ref_fts) VALUES ('rebuild')"))
    yield store
    db.close()


async def compare_all(store: FileStore, fts: str) -> int:
    cases = store.db.run_sync(lambda conn: list(queries(conn, fts)))
    nonempty = 0
    for q in cases:
        want = store.db.run_sync(lambda conn, q=q: reference(conn, q, fts))
        got = await store.list(q)
        assert ([r.id for r in got.data], got.total, got.has_more) == want, q
        nonempty += bool(want[0])
    return nonempty


async def test_every_search_shape_lists_what_the_plain_query_lists(store: FileStore) -> None:
    nonempty = await compare_all(store, "ref_fts")
    assert nonempty > 1000  # the cases are not vacuous


async def test_the_reference_search_is_a_substring_search_on_ascii(store: FileStore) -> None:
    """The reference itself: on ASCII, 1-2 characters and 3+ are both case-free substrings."""
    now = time.time()
    rows = store.db.run_sync(
        lambda conn: conn.execute("SELECT id, filename, expires_at FROM files").fetchall()
    )
    for search in ("ll", "L", "llama", "LLAMA", "a_b", "50%", "-00"):
        want = {
            r["id"]
            for r in rows
            if search.lower() in r["filename"].lower()
            and (r["expires_at"] is None or r["expires_at"] > now)
            and r["filename"].isascii()
        }
        got = set(
            store.db.run_sync(
                lambda c, s=search: reference(c, ListQuery(search=s, page_size=10**6), "ref_fts")[0]
            )
        )
        ascii_got = {i for i in got if next(r for r in rows if r["id"] == i)["filename"].isascii()}
        assert ascii_got == want and want, search


async def test_unicode_and_case_follow_like_and_the_trigram_folding(store: FileStore) -> None:
    async def names(search: str) -> set[str]:
        result = await store.list(ListQuery(search=search, page_size=1000))
        return {r.filename for r in result.data}

    # 1-2 characters: LIKE folds ASCII letters only
    assert any("LLAMA" in n for n in await names("ll"))
    assert not any("\u212a" in n and "k" not in n.lower() for n in await names("k"))
    assert all("é" in n for n in await names("é"))
    # 3+ characters: the trigram tokenizer folds case beyond ASCII too
    assert any("ÉTÉ" in n for n in await names("été"))
    assert any("ΣΊΣΥΦΟΣ" in n for n in await names("σίσυφος"))


async def test_list_after_an_unknown_file_is_refused(store: FileStore) -> None:
    with pytest.raises(InvalidRequest):
        await store.list(ListQuery(search="ll", after="no-such-file"))


async def test_inserts_deletes_and_updates_keep_the_search_tables(store: FileStore) -> None:
    def churn(conn: sqlite3.Connection) -> None:
        insert_rows(conn, 500, seed=2)
        conn.execute("UPDATE files SET mimetype = 'text/plain', source = 'download' "
                     "WHERE seq % 11 = 1")  # fmt: skip
        conn.execute("DELETE FROM files WHERE seq % 13 = 2")
        conn.execute("INSERT INTO ref_fts(ref_fts) VALUES ('rebuild')")
        for table in ("files_text", "files_short"):
            conn.execute(f"INSERT INTO {table}({table}) VALUES ('integrity-check')")
            n = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            assert n == conn.execute("SELECT COUNT(*) FROM files").fetchone()[0]

    store.db.run_sync(churn)
    assert await compare_all(store, "ref_fts") > 1000
    # a few expired files beside many matches are tested one by one
    now = int(time.time())
    store.db.run_sync(
        lambda conn: conn.execute(
            "UPDATE files SET expires_at = CASE WHEN seq % 500 = 7 THEN ? ELSE NULL END",
            (now - 5,),
        )
    )
    assert await compare_all(store, "ref_fts") > 1000


async def test_v2_store_migrates_with_nothing_lost(tmp_path: Path) -> None:
    """A state database written by schema v2, with data, opened by this version."""
    db = Database(tmp_path / "state.sqlite3")
    db.migrate("files", SCHEMA[:2])
    db.run_sync(lambda conn: insert_rows(conn, 2000, seed=5))

    def snapshot(conn: sqlite3.Connection) -> tuple[list[Any], list[Any]]:
        files = [tuple(r) for r in conn.execute("SELECT * FROM files ORDER BY seq")]
        counts = [tuple(r) for r in conn.execute("SELECT * FROM files_counts ORDER BY 1, 2")]
        return files, counts

    before = db.run_sync(snapshot)
    # what v2 lists, with v2's own full-text table as the reference's trigram search
    cases = db.run_sync(lambda conn: list(queries(conn, "files_fts")))[::7]
    expected = [db.run_sync(lambda conn, q=q: reference(conn, q, "files_fts")) for q in cases]
    store = FileStore(tmp_path, db, EventBus())
    try:
        assert (
            db.run_sync(
                lambda c: c.execute(
                    "SELECT version FROM schema_version WHERE component = 'files'"
                ).fetchone()[0]
            )
            == len(SCHEMA)
            == 4
        )
        assert db.run_sync(snapshot) == before
        for q, want in zip(cases, expected, strict=True):
            got = await store.list(q)
            assert ([r.id for r in got.data], got.total, got.has_more) == want, q
        assert sum(bool(w[0]) for w in expected) > 100
        # the triggers of v3 index what comes after
        db.run_sync(lambda conn: insert_rows(conn, 50, seed=6))
        new = await store.list(ListQuery(search="-00", page_size=1000))
        assert any(r.id.startswith("file-6-") for r in new.data)
    finally:
        db.close()


async def test_pages_asked_in_any_order_agree_with_the_plain_query(store: FileStore) -> None:
    """Deep pages found from remembered page boundaries (no expired file waits) are right."""
    far = int(time.time()) + 10_000
    store.db.run_sync(
        lambda conn: conn.execute(
            "UPDATE files SET expires_at = ? WHERE expires_at IS NOT NULL", (far,)
        )
    )
    rng = random.Random(11)
    shapes: list[dict[str, Any]] = [
        {},
        {"search": "ll"},
        {"search": "llama"},
        {"purpose": "batch"},
        {"sources": ["download", "repository"], "search": "-00"},
    ]
    checked = 0
    for shape in shapes:
        for order in ("desc", "asc"):
            for page_size in (7, 50, 7):
                last = 3000 // page_size + 2
                pages = [*range(last), *(rng.randrange(last) for _ in range(20))]
                rng.shuffle(pages)
                for page in pages:
                    q = ListQuery(order=order, page=page, page_size=page_size, **shape)
                    want = store.db.run_sync(lambda conn, q=q: reference(conn, q, "ref_fts"))
                    got = await store.list(q)
                    assert ([r.id for r in got.data], got.total, got.has_more) == want, q
                    checked += bool(want[0])
            # cursors share the total of the listing (remembered once for every order)
            everything = ListQuery(order=order, page_size=10**6, **shape)
            ids = store.db.run_sync(lambda conn, q=everything: reference(conn, q, "ref_fts"))[0]
            for after in rng.sample(ids, 5):
                q = ListQuery(order=order, after=after, limit=5, **shape)
                want = store.db.run_sync(lambda conn, q=q: reference(conn, q, "ref_fts"))
                got = await store.list(q)
                assert ([r.id for r in got.data], got.total, got.has_more) == want, q
    assert checked > 1000


def _direct(root: Path, sql: str, params: tuple[Any, ...] = ()) -> None:
    """A write by another SQLite client than the server's connection."""
    conn = sqlite3.connect(root / "state.sqlite3", isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute(sql, params)
    finally:
        conn.close()


async def test_remembered_totals_and_pages_follow_every_write(
    api: Any, modelfiles_root: Path
) -> None:
    """A total and page boundaries read once, then a file uploaded, deleted, renamed or
    inserted by another client: the next listing of the same query says what is stored."""
    ids: list[str] = []

    async def add(name: str, purpose: str = "batch") -> str:
        payload, ctype = multipart({"purpose": purpose}, b"x\n", filename=name)
        response = await api("POST", "v1/files", body=payload, headers={"Content-Type": ctype})
        return str(body(response)["id"])

    for n in range(12):
        ids.append(await add(f"cachedname-{n:02d}.txt", "batch" if n % 2 else "user_data"))
    queries = [
        ({"search": "cachedname"}, lambda i: True),
        ({"search": "ch"}, lambda i: True),  # the 2-character gram index
        ({"purpose": "batch", "source": "upload"}, lambda i: i in batch),
        ({}, lambda i: True),
    ]
    batch = set(ids[1::2])

    async def check() -> None:
        for params, keep in queries:
            expected = [i for i in reversed(ids) if keep(i)]
            for _ in range(2):  # the second time from what the first remembered
                for page in (0, 1, 2):
                    listing = body(
                        await api(
                            "GET", "v1/files", params={**params, "page": page, "page_size": 3}
                        )
                    )
                    assert listing["total"] == len(expected), (params, page)
                    got = [f["id"] for f in listing["data"]]
                    assert got == expected[page * 3 : page * 3 + 3], (params, page)

    await check()
    ids.append(await add("cachedname-new.txt"))
    batch.add(ids[-1])
    await check()
    gone = ids.pop(5)
    batch.discard(gone)
    assert (await api("DELETE", f"v1/files/{gone}")).code == 200
    await check()
    # another client renames a file out of the search and inserts one into it
    renamed = ids[2]
    _direct(modelfiles_root, "UPDATE files SET filename = 'other.txt' WHERE id = ?", (renamed,))
    queries[0] = ({"search": "cachedname"}, lambda i: i != renamed)
    queries[1] = ({"search": "ch"}, lambda i: i != renamed)
    await check()
    _direct(
        modelfiles_root,
        "INSERT INTO files (id, bytes, created_at, filename, purpose, sample_type, source, "
        "mimetype, sha256) VALUES ('direct-1', 1, 0, 'cachedname-direct.txt', 'batch', "
        "'pretrain', 'upload', 'text/plain', ?)",
        ("0" * 64,),
    )
    ids.append("direct-1")
    batch.add("direct-1")
    await check()
    # a file whose expiry passes (not swept yet) leaves every listing at once
    _direct(
        modelfiles_root,
        "UPDATE files SET expires_at = ? WHERE id = ?",
        (int(time.time()) - 1, ids[7]),
    )
    expired = ids.pop(7)
    batch.discard(expired)
    await check()
