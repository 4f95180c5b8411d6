"""The uploaded-files store: blobs under ``root/files``, records in SQLite.

A file is published by renaming its fsynced temp file into place and only then recording it,
so nothing half-written is ever listed; start-up removes temp files and unrecorded blobs.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import hashlib
import mimetypes
import os
import shutil
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

from .. import defaults
from ..errors import InvalidRequest, NotFound
from ..events import EventBus
from ..state import Database
from .listcache import SCHEMA_V4, ListCache, files_version
from .models import (
    DEFAULT_PURPOSE,
    PURPOSES,
    SAMPLE_TYPES,
    FileRecord,
    ListQuery,
    ListResult,
    count_requests,
    default_sample_type,
)
from .names import clean_filename, is_valid_id
from .search import fts_match, schema_v3, short_search_indexable
from .signing import UrlSigner
from .sliced import SlicedUpload, SlicedUploads
from .upload import LINE_FORMATS, MultipartUpload

SCHEMA = [
    """
    CREATE TABLE files (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        bytes INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        filename TEXT NOT NULL,
        purpose TEXT NOT NULL,
        sample_type TEXT NOT NULL,
        source TEXT NOT NULL,
        mimetype TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        num_lines INTEGER,
        total_requests INTEGER,
        expires_at INTEGER,
        status TEXT NOT NULL DEFAULT 'processed',
        visibility TEXT NOT NULL DEFAULT 'workspace'
    );
    CREATE INDEX files_purpose ON files(purpose, seq);
    CREATE INDEX files_source ON files(source, seq);
    CREATE INDEX files_sample_type ON files(sample_type, seq);
    CREATE INDEX files_mimetype ON files(mimetype, seq);
    CREATE INDEX files_expires ON files(expires_at) WHERE expires_at IS NOT NULL;
    CREATE VIRTUAL TABLE files_fts USING fts5(
        filename, content='files', content_rowid='seq', tokenize='trigram'
    );
    CREATE TRIGGER files_fts_insert AFTER INSERT ON files BEGIN
        INSERT INTO files_fts(rowid, filename) VALUES (new.seq, new.filename);
    END;
    CREATE TRIGGER files_fts_delete AFTER DELETE ON files BEGIN
        INSERT INTO files_fts(files_fts, rowid, filename) VALUES ('delete', old.seq, old.filename);
    END;
    """,
    # v2, listing 100,000 files fast: narrow covering indexes for deep pages (the boundary of a
    # page is found in the index, the page itself then by seq) and for the LIKE scan of a
    # search too short for trigrams, and counts per filter value kept by triggers so the
    # total is a lookup, not a scan.
    """
    CREATE INDEX files_live ON files(seq, expires_at);
    DROP INDEX files_purpose;
    CREATE INDEX files_purpose ON files(purpose, seq, expires_at);
    DROP INDEX files_source;
    CREATE INDEX files_source ON files(source, seq, expires_at);
    DROP INDEX files_sample_type;
    CREATE INDEX files_sample_type ON files(sample_type, seq, expires_at);
    DROP INDEX files_mimetype;
    CREATE INDEX files_mimetype ON files(mimetype, seq, expires_at);
    CREATE INDEX files_names ON files(filename, seq, expires_at);
    CREATE TABLE files_counts (
        facet TEXT NOT NULL,
        value TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (facet, value)
    ) WITHOUT ROWID;
    INSERT INTO files_counts SELECT 'all', '', COUNT(*) FROM files WHERE true;
    INSERT INTO files_counts SELECT 'purpose', purpose, COUNT(*) FROM files GROUP BY purpose;
    INSERT INTO files_counts SELECT 'source', source, COUNT(*) FROM files GROUP BY source;
    INSERT INTO files_counts
        SELECT 'sample_type', sample_type, COUNT(*) FROM files GROUP BY sample_type;
    INSERT INTO files_counts SELECT 'mimetype', mimetype, COUNT(*) FROM files GROUP BY mimetype;
    CREATE TRIGGER files_counts_insert AFTER INSERT ON files BEGIN
        INSERT INTO files_counts (facet, value, n) VALUES
            ('all', '', 1),
            ('purpose', new.purpose, 1),
            ('source', new.source, 1),
            ('sample_type', new.sample_type, 1),
            ('mimetype', new.mimetype, 1)
        ON CONFLICT (facet, value) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER files_counts_delete AFTER DELETE ON files BEGIN
        UPDATE files_counts SET n = n - 1 WHERE (facet, value) IN (
            VALUES ('all', ''), ('purpose', old.purpose), ('source', old.source),
                   ('sample_type', old.sample_type), ('mimetype', old.mimetype)
        );
    END;
    CREATE TRIGGER files_counts_update AFTER UPDATE OF purpose, source, sample_type, mimetype
    ON files BEGIN
        UPDATE files_counts SET n = n - 1 WHERE (facet, value) IN (
            VALUES ('purpose', old.purpose), ('source', old.source),
                   ('sample_type', old.sample_type), ('mimetype', old.mimetype)
        );
        INSERT INTO files_counts (facet, value, n) VALUES
            ('purpose', new.purpose, 1),
            ('source', new.source, 1),
            ('sample_type', new.sample_type, 1),
            ('mimetype', new.mimetype, 1)
        ON CONFLICT (facet, value) DO UPDATE SET n = n + 1;
    END;
    """,
    # v3, searching 100,000 files fast: FTS5 tables with the filters as tokens and the 1- and
    # 2-character substrings as tokens replace files_fts and the LIKE scan (see .search).
    schema_v3(),
    # v4, paging a search fast: a write counter of files (kept by triggers) that the totals and
    # page boundaries remembered by ListCache are valid for.
    SCHEMA_V4,
]

# the columns of a record, in the order of FileRecord's fields (a listed row is built by position)
_COLUMNS = ", ".join(field.name for field in dataclasses.fields(FileRecord))
_FILES_COLUMNS = ", ".join(f"files.{name}" for name in _COLUMNS.split(", "))
_EXTRA_TYPES = {".jsonl": "application/jsonl", ".gguf": "application/octet-stream"}
SWEEP_INTERVAL = 60.0
MAX_EXPIRY_SECONDS = 10 * 365 * 24 * 3600


def _record(row: sqlite3.Row) -> FileRecord:
    return FileRecord(**{key: row[key] for key in row.keys() if key != "seq"})  # noqa: SIM118


def guess_mimetype(filename: str, declared: str | None) -> str:
    if declared and declared.split(";")[0].strip() not in ("", "application/octet-stream"):
        return declared.split(";")[0].strip()
    ext = os.path.splitext(filename)[1].lower()
    if ext in _EXTRA_TYPES:
        return _EXTRA_TYPES[ext]
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def check_purpose(purpose: str | None) -> str:
    if purpose is None or purpose == "":
        return DEFAULT_PURPOSE
    if purpose not in PURPOSES:
        raise InvalidRequest(f"unknown purpose {purpose[:64]!r}; use one of: {', '.join(PURPOSES)}")
    return purpose


def check_sample_type(sample_type: str | None, purpose: str) -> str:
    if not sample_type:
        return default_sample_type(purpose)
    if sample_type not in SAMPLE_TYPES:
        raise InvalidRequest(
            f"unknown sample_type {sample_type[:64]!r}; use one of: {', '.join(SAMPLE_TYPES)}"
        )
    return sample_type


class FileStore:
    """Store, list, serve and sign uploaded files."""

    def __init__(
        self,
        root: Path,
        db: Database,
        events: EventBus,
        *,
        max_upload_size: int = defaults.MAX_UPLOAD_SIZE,
        default_expiry_hours: float = defaults.SIGNED_URL_DEFAULT_EXPIRY_HOURS,
        max_expiry_hours: float = defaults.SIGNED_URL_MAX_EXPIRY_HOURS,
        batch_output_expiry_hours: float = defaults.BATCH_OUTPUT_EXPIRY_HOURS,
    ):
        self.root = Path(root)
        self.dir = self.root / "files"
        self.tmp_dir = self.dir / ".tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.db = db
        self.events = events
        self.max_upload_size = max_upload_size
        self.default_expiry_hours = default_expiry_hours
        self.max_expiry_hours = max_expiry_hours
        self.batch_output_expiry_hours = batch_output_expiry_hours
        self.signer = UrlSigner(self.root / "signing.key")
        db.migrate("files", SCHEMA)
        self._sweeper: asyncio.Task[None] | None = None
        self._list_cache = ListCache()
        self._remove_leftovers()
        self.uploads = SlicedUploads(self.tmp_dir)

    # -- paths -----------------------------------------------------------------------------
    def blob_path(self, file_id: str) -> Path:
        if not is_valid_id(file_id):
            raise NotFound(f"no file with id {file_id[:80]!r}")
        return self.dir / file_id[:2] / file_id

    def new_upload(self, content_type: str, expected_bytes: int | None = None) -> MultipartUpload:
        """A parser for one upload request, writing its file part to a fresh temp file;
        ``expected_bytes`` (the declared body size) that cannot fit is refused at once (507)."""
        temp = self.tmp_dir / f"{uuid.uuid4().hex}.part"
        return MultipartUpload(
            content_type, temp, self.max_upload_size, expected_bytes=expected_bytes
        )

    # -- lifecycle -------------------------------------------------------------------------
    def _remove_leftovers(self) -> None:
        """Delete temp files of interrupted uploads and blobs that never got a record."""
        for temp in self.tmp_dir.iterdir():
            temp.unlink(missing_ok=True)
        known = {
            row[0]
            for row in self.db.run_sync(lambda c: c.execute("SELECT id FROM files").fetchall())
        }
        for shard in self.dir.iterdir():
            if shard.name == ".tmp" or not shard.is_dir():
                continue
            for blob in shard.iterdir():
                if blob.name not in known:
                    blob.unlink(missing_ok=True)

    def start(self) -> None:
        """Start the periodic sweep of expired files (call on the server's loop)."""
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            try:
                await self._sweeper
            except asyncio.CancelledError:
                pass
            self._sweeper = None
        await asyncio.to_thread(self.uploads.close)

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.uploads.expire)
                await self.sweep_expired()
            except Exception:  # keep sweeping; a failure here must not kill the server
                pass
            await asyncio.sleep(SWEEP_INTERVAL)

    async def sweep_expired(self, now: float | None = None) -> list[str]:
        """Delete files whose ``expires_at`` has passed; return their ids."""
        cutoff = int(now if now is not None else time.time())
        rows = await self.db.fetchall(
            "SELECT id FROM files WHERE expires_at IS NOT NULL AND expires_at <= ?", (cutoff,)
        )
        removed = []
        for row in rows:
            try:
                await self.delete(row["id"])
                removed.append(row["id"])
            except NotFound:
                continue
        return removed

    # -- writing ---------------------------------------------------------------------------
    async def publish_upload(self, upload: MultipartUpload) -> FileRecord:
        """Publish a completely received upload: validate fields, fsync, rename, record."""
        try:
            upload.finish()
            fields = upload.fields
            purpose = check_purpose(fields.get("purpose"))
            sample_type = check_sample_type(fields.get("sample_type"), purpose)
            expires_at = self._expiry_from_fields(fields) or self._default_expiry(purpose)
        except Exception:
            await asyncio.to_thread(upload.discard)
            raise
        assert upload.file is not None and upload.filename is not None
        temp = upload.file
        return await self._publish(
            temp,
            upload.filename,
            purpose,
            sample_type,
            expires_at,
            fields,
            sha256=temp.sha256.hexdigest(),
            content_type=upload.file_content_type,
        )

    # -- sliced uploads (v1/uploads) ---------------------------------------------------------
    def create_upload(
        self, filename: str, size: int, fields: dict[str, str], mime_type: str | None = None
    ) -> SlicedUpload:
        """Start a sliced upload; its fields (purpose, expiry...) are checked now."""
        purpose = check_purpose(fields.get("purpose"))
        check_sample_type(fields.get("sample_type"), purpose)
        self._expiry_from_fields(fields)
        return self.uploads.create(
            filename,
            size,
            purpose,
            max_bytes=self.max_upload_size,
            mime_type=mime_type,
            fields=fields,
        )

    async def complete_upload(self, upload_id: str) -> FileRecord:
        """Every slice has arrived: publish the file exactly as ``POST v1/files`` would."""
        upload = self.uploads.begin_complete(upload_id)
        try:
            sha256 = await asyncio.to_thread(upload.finish_hash)
            fields = upload.fields
            purpose = check_purpose(fields.get("purpose"))
            sample_type = check_sample_type(fields.get("sample_type"), purpose)
            expires_at = self._expiry_from_fields(fields) or self._default_expiry(purpose)
            record = await self._publish(
                upload,
                upload.filename,
                purpose,
                sample_type,
                expires_at,
                fields,
                sha256=sha256,
                content_type=upload.mime_type,
            )
        except BaseException:
            upload.status = "cancelled"
            await asyncio.to_thread(upload.discard)
            raise
        upload.status = "completed"
        return record

    async def _publish(
        self,
        temp: Any,
        filename: str,
        purpose: str,
        sample_type: str,
        expires_at: int | None,
        fields: dict[str, str],
        *,
        sha256: str,
        content_type: str | None,
    ) -> FileRecord:
        lines = temp.num_lines() if temp.count_lines else None  # a line format (LINE_FORMATS)
        requests = await self._requests(temp.path, purpose, filename)
        record = FileRecord(
            id=str(uuid.uuid4()),
            bytes=temp.size,
            created_at=int(time.time()),
            filename=filename,
            purpose=purpose,
            sample_type=sample_type,
            source="upload",
            mimetype=guess_mimetype(filename, content_type),
            sha256=sha256,
            num_lines=lines,
            total_requests=requests,
            expires_at=expires_at,
            visibility=fields.get("visibility") or "workspace",
        )
        await asyncio.to_thread(self._place, temp, record.id)
        return await self._insert(record)

    def _place(self, temp: Any, file_id: str) -> None:
        temp.commit()
        target = self.blob_path(file_id)
        target.parent.mkdir(exist_ok=True)
        os.replace(temp.path, target)

    def _expiry_from_fields(self, fields: dict[str, str]) -> int | None:
        now = time.time()
        if fields.get("expiry"):
            hours = _positive_number(fields["expiry"], "expiry", MAX_EXPIRY_SECONDS / 3600)
            return int(now + hours * 3600)
        if fields.get("expires_after[seconds]"):
            anchor = fields.get("expires_after[anchor]", "created_at")
            if anchor != "created_at":
                raise InvalidRequest("expires_after[anchor] must be 'created_at'")
            seconds = _positive_number(
                fields["expires_after[seconds]"], "expires_after[seconds]", MAX_EXPIRY_SECONDS
            )
            return int(now + seconds)
        return None

    def _default_expiry(self, purpose: str) -> int | None:
        """``batch_output`` files expire by default (as Novita's do); others never."""
        if purpose == "batch_output" and self.batch_output_expiry_hours > 0:
            return int(time.time() + self.batch_output_expiry_hours * 3600)
        return None

    @staticmethod
    async def _requests(path: Path, purpose: str, filename: str) -> int | None:
        """``metadata.total_requests`` of a batch input (``.jsonl``): its non-blank lines."""
        if purpose != "batch" or not filename.lower().endswith(".jsonl"):
            return None

        def count() -> int:
            with open(path, "rb") as handle:
                return count_requests(iter(lambda: handle.read(1 << 20), b""))

        return await asyncio.to_thread(count)

    async def _insert(self, record: FileRecord) -> FileRecord:
        values = record.__dict__
        columns = [c.strip() for c in _COLUMNS.split(",")]
        placeholders = ", ".join("?" for _ in columns)
        try:
            await self.db.execute(
                f"INSERT INTO files ({_COLUMNS}) VALUES ({placeholders})",
                [values[c] for c in columns],
            )
        except BaseException:
            self.blob_path(record.id).unlink(missing_ok=True)
            raise
        self.events.publish("file", record.id, record.to_json())
        return record

    async def adopt_file(
        self,
        path: Path,
        *,
        filename: str,
        purpose: str = DEFAULT_PURPOSE,
        source: str = "download",
        sha256: str | None = None,
    ) -> dict[str, Any]:
        """Move a finished file (e.g. a completed download) into the store; return its object."""
        purpose = check_purpose(purpose)
        name = clean_filename(filename)
        file_id = str(uuid.uuid4())

        def _move() -> tuple[int, str, int | None]:
            target = self.blob_path(file_id)
            target.parent.mkdir(exist_ok=True)
            try:
                os.replace(path, target)
            except OSError:
                shutil.copyfile(path, target)
                os.unlink(path)
            digest = sha256
            lines = None
            if digest is None or name.lower().endswith(LINE_FORMATS):
                hasher, newlines, last = hashlib.sha256(), 0, b""
                with open(target, "rb") as handle:
                    while chunk := handle.read(1 << 20):
                        hasher.update(chunk)
                        newlines += chunk.count(b"\n")
                        last = chunk[-1:]
                digest = digest or hasher.hexdigest()
                size = target.stat().st_size
                lines = 0 if size == 0 else newlines + (0 if last == b"\n" else 1)
            return (
                target.stat().st_size,
                digest,
                (lines if name.lower().endswith(LINE_FORMATS) else None),
            )

        size, digest, lines = await asyncio.to_thread(_move)
        requests = await self._requests(self.blob_path(file_id), purpose, name)
        record = FileRecord(
            id=file_id,
            bytes=size,
            created_at=int(time.time()),
            filename=name,
            purpose=purpose,
            sample_type=default_sample_type(purpose),
            source=source,
            mimetype=guess_mimetype(name, None),
            sha256=digest,
            num_lines=lines,
            total_requests=requests,
            expires_at=self._default_expiry(purpose),
        )
        return (await self._insert(record)).to_json()

    # -- reading ---------------------------------------------------------------------------
    async def get(self, file_id: str) -> FileRecord:
        if not is_valid_id(file_id):
            raise NotFound(f"no file with id {file_id[:80]!r}")
        row = await self.db.fetchone(f"SELECT {_COLUMNS} FROM files WHERE id = ?", (file_id,))
        if row is None:
            raise NotFound(f"no file with id {file_id!r}")
        record = _record(row)
        if record.expires_at is not None and record.expires_at <= time.time():
            await self.delete(file_id)
            raise NotFound(f"file {file_id!r} has expired")
        return record

    async def delete(self, file_id: str) -> dict[str, Any]:
        record_row = None
        if is_valid_id(file_id):
            record_row = await self.db.fetchone("SELECT id FROM files WHERE id = ?", (file_id,))
        if record_row is None:
            raise NotFound(f"no file with id {file_id[:80]!r}")
        await self.db.execute("DELETE FROM files WHERE id = ?", (file_id,))
        await asyncio.to_thread(self.blob_path(file_id).unlink, missing_ok=True)
        result = {"id": file_id, "object": "file", "deleted": True}
        self.events.publish("file", file_id, result)
        return result

    async def list(self, query: ListQuery) -> ListResult:
        return await self.db.run(lambda conn: self._list(conn, query))

    def _list(self, conn: sqlite3.Connection, q: ListQuery) -> ListResult:
        """One page and the total, in ``seq`` order.

        A search, several filter columns or several values of one are answered by an FTS5
        query (see :mod:`.search`); no search and at most one filter value by the covering
        indexes and the kept counts. Files past their expiry the sweeper has not removed yet
        are left out either way (found through the expiry index, only when there are any).
        Totals and page boundaries are remembered until the next write (see :mod:`.listcache`).
        """
        now = int(time.time())
        facets = [
            (column, list(dict.fromkeys(values)))  # ``source=a&source=a`` is one value
            for column, values in (
                ("purpose", [q.purpose] if q.purpose else []),
                ("source", q.sources),
                ("sample_type", q.sample_types),
                ("mimetype", q.mimetypes),
            )
            if values
        ]
        if facets:  # a filter every file passes (by the kept counts) filters nothing
            everyone = conn.execute(
                "SELECT n FROM files_counts WHERE facet = 'all' AND value = ''"
            ).fetchone()
            facets = [
                (column, values)
                for column, values in facets
                if everyone is None
                or conn.execute(
                    "SELECT COALESCE(SUM(n), 0) FROM files_counts WHERE facet = ? "
                    f"AND value IN ({', '.join('?' for _ in values)})",
                    [column, *values],
                ).fetchone()[0]
                != everyone[0]
            ]
        descending = q.order != "asc"
        direction = "DESC" if descending else "ASC"
        after_seq: int | None = None
        if q.after is not None:
            row = conn.execute("SELECT seq FROM files WHERE id = ?", (q.after,)).fetchone()
            if row is None:
                raise InvalidRequest(f"'after' names no known file: {q.after[:80]!r}")
            after_seq = int(row[0])
        expired = (
            conn.execute(
                "SELECT 1 FROM files INDEXED BY files_expires "
                "WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT 1",
                (now,),
            ).fetchone()
            is not None
        )
        # With no expired file waiting, a list is a function of the rows of files alone: its
        # total and page boundaries are remembered for the version of files they were read at.
        cache = None if expired else self._list_cache
        if cache is not None:
            cache.sync(files_version(conn))
        search = q.search or None
        indexable = search is None or len(search) >= 3 or short_search_indexable(search)
        several = len(facets) > 1 or any(len(values) > 1 for _, values in facets)
        use_fts = indexable and (search is not None or several)
        live = "(files.expires_at IS NULL OR files.expires_at > ?)"
        if use_fts:
            plan = fts_match(conn, search, facets)
            if plan is None:  # a filter value no file has
                return ListResult(data=[], total=0 if q.include_total else None, has_more=False)
            table, match = plan
            source = f"{table} CROSS JOIN files ON files.seq = {table}.rowid"
            key = f"{table}.rowid"
            where: list[str] = [f"{table} MATCH ?"]
            where_params: list[Any] = [match]
            # the bare index walks the offset when no expired file needs leaving out
            walk_source = source if expired else table
        else:
            source = walk_source = "files"
            key = "seq"
            where, where_params = [], []
            for column, values in facets:
                where.append(f"{column} IN ({', '.join('?' for _ in values)})")
                where_params.extend(values)
            if search is not None:  # short, with a character the gram index cannot hold
                escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                where.append("filename LIKE ? ESCAPE '\\'")
                where_params.append(f"%{escaped}%")
        filtered, filtered_params = list(where), list(where_params)
        if expired or not use_fts:
            where.append(live)
            where_params.append(now)
        if after_seq is not None:
            where.append(f"{key} {'<' if descending else '>'} ?")
            where_params.append(after_seq)

        # what the listing holds, in any order from any cursor (the key of its total), and
        # what its pages are (the key of its page boundaries)
        matches = (walk_source, tuple(filtered), tuple(filtered_params))
        shape = (*matches, direction, after_seq)

        def total() -> int | None:
            if not q.include_total:
                return None
            known = cache.total(matches) if cache is not None else None
            if known is not None:
                return known
            if use_fts:
                counted = self._fts_total(conn, table, match, expired, now)
            else:
                counted = self._total(conn, filtered, filtered_params, facets, search, expired, now)
            if cache is not None:
                cache.set_total(matches, counted)
            return counted

        size = q.limit if q.limit is not None else q.page_size
        offset = 0 if (q.after is not None or q.limit is not None) else q.page * q.page_size
        bound = f"{key} {'<=' if descending else '>='} ?"
        if offset:
            # A deep page: find its first seq by walking an index (the FTS5 doclist, or a
            # narrow covering index with seq and expires_at after the filter column), from the
            # nearest page boundary remembered, then read the page itself from that seq
            # (keyset) instead of stepping over rows.
            mark = cache.mark(shape, offset) if cache is not None else None
            if mark is not None and mark[0] == offset:
                first: Any = (mark[1],)
            else:
                walk, walk_params = list(where), list(where_params)
                if mark is not None:
                    walk.append(bound)
                    walk_params.append(mark[1])
                first = conn.execute(
                    f"SELECT {key} FROM {walk_source} WHERE {' AND '.join(walk)} "
                    f"ORDER BY {key} {direction} LIMIT 1 OFFSET ?",
                    [*walk_params, offset - (mark[0] if mark is not None else 0)],
                ).fetchone()
            if first is None:
                return ListResult(data=[], total=total(), has_more=False)
            if cache is not None:
                cache.set_mark(shape, offset, first[0])
            where.append(bound)
            where_params.append(first[0])
        page = conn.cursor()
        page.row_factory = None  # plain tuples: seq, then the fields of FileRecord in order
        rows = page.execute(
            f"SELECT files.seq, {_FILES_COLUMNS} FROM {source} WHERE {' AND '.join(where)} "
            f"ORDER BY {key} {direction} LIMIT ?",
            [*where_params, size + 1],
        ).fetchall()
        if cache is not None and len(rows) > size:  # the next page starts there
            cache.set_mark(shape, offset + size, rows[size][0])
        return ListResult(
            data=[FileRecord(*r[1:]) for r in rows[:size]],
            total=total(),
            has_more=len(rows) > size,
        )

    @staticmethod
    def _fts_total(
        conn: sqlite3.Connection, table: str, match: str, expired: bool, now: int
    ) -> int:
        """The matches of an FTS5 query counted by the index, less expired files among them."""
        matching = conn.execute(
            f"SELECT COUNT(*) FROM {table} WHERE {table} MATCH ?", (match,)
        ).fetchone()[0]
        if not expired:
            return int(matching)
        # Expired files not swept yet (at most a minute's worth, usually): test each against
        # the query when they are few next to the matches, else test each match's expiry.
        waiting = conn.execute(
            "SELECT COUNT(*) FROM files INDEXED BY files_expires "
            "WHERE expires_at IS NOT NULL AND expires_at <= ?",
            (now,),
        ).fetchone()[0]
        if waiting * 90 < matching:
            gone = conn.execute(
                "SELECT COUNT(*) FROM files INDEXED BY files_expires "
                "WHERE expires_at IS NOT NULL AND expires_at <= ? AND EXISTS "
                f"(SELECT 1 FROM {table} WHERE {table} MATCH ? AND {table}.rowid = files.seq)",
                (now, match),
            ).fetchone()[0]
        else:
            gone = conn.execute(
                f"SELECT COUNT(*) FROM {table} CROSS JOIN files ON files.seq = {table}.rowid "
                f"WHERE {table} MATCH ? AND files.expires_at <= ?",
                (match, now),
            ).fetchone()[0]
        return int(matching) - int(gone)

    @staticmethod
    def _total(
        conn: sqlite3.Connection,
        filters: builtins.list[str],
        params: builtins.list[Any],
        facets: builtins.list[tuple[str, builtins.list[str]]],
        search: str | None,
        expired: bool,
        now: int,
    ) -> int:
        """Files matching the filters and not expired, without a scan where it can.

        With no search and at most one filter value, the matching count is a lookup in
        ``files_counts`` (kept by triggers). Expired files the sweeper has not removed yet
        are subtracted, found through the expiry index.
        """
        if search is None and len(facets) <= 1:
            facet, values = facets[0] if facets else ("all", [""])
            matching = conn.execute(
                "SELECT COALESCE(SUM(n), 0) FROM files_counts WHERE facet = ? "
                f"AND value IN ({', '.join('?' for _ in values)})",
                [facet, *values],
            ).fetchone()[0]
        else:
            return int(
                conn.execute(
                    f"SELECT COUNT(*) FROM files WHERE {' AND '.join(filters)} "
                    "AND (expires_at IS NULL OR expires_at > ?)",
                    [*params, now],
                ).fetchone()[0]
            )
        if not expired:
            return int(matching)
        conditions = [*filters, "expires_at IS NOT NULL", "expires_at <= ?"]
        gone = conn.execute(
            f"SELECT COUNT(*) FROM files INDEXED BY files_expires WHERE {' AND '.join(conditions)}",
            [*params, now],
        ).fetchone()[0]
        return int(matching) - int(gone)

    # -- signed URLs -------------------------------------------------------------------------
    async def signed_url_params(self, file_id: str, expiry_hours: float | None) -> dict[str, Any]:
        """The query of a signed content URL for ``file_id`` valid ``expiry_hours``."""
        await self.get(file_id)
        hours = self.default_expiry_hours if expiry_hours is None else expiry_hours
        if not 0 < hours <= self.max_expiry_hours:
            raise InvalidRequest(
                f"expiry must be more than 0 and at most {self.max_expiry_hours:g} hours"
            )
        expires, signature = self.signer.sign(file_id, hours * 3600)
        return {"expires": expires, "signature": signature}


def _positive_number(raw: str, name: str, maximum: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise InvalidRequest(f"{name} must be a number, got {raw[:32]!r}") from None
    if not 0 < value <= maximum:
        raise InvalidRequest(
            f"{name} must be more than 0 and at most {maximum:g}, got {raw[:32]!r}"
        )
    return value
