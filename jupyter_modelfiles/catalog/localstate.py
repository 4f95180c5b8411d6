"""The catalog's own state: its four SQLite tables and the local copies of model files.

``catalog_custom_models`` (registered by users), ``catalog_known_models`` (definitions of models
with local files, for offline snapshots), ``catalog_local_files`` (one row per published part:
where it is linked and which blob holds its bytes) and ``catalog_first_seen`` (the stable
``created`` of models whose source gives none). Where the bytes live on disk is
:mod:`.local`'s business; this module records them and finds them again.

In team mode a published file in the shared store is also referenced there, in this user's
name: deleting removes this user's link and reference, and the bytes only with the last
reference (or when this server's user is a team admin).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..downloads.jobs import Job
from ..state import Database
from . import local
from .models import CatalogModel, FilePart, type_problem
from .shapes import FileState

if TYPE_CHECKING:
    from ..team.setup import Team

SCHEMA = [
    """
    CREATE TABLE catalog_custom_models (
        id TEXT PRIMARY KEY,
        data TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE catalog_local_files (
        model_id TEXT NOT NULL,
        filename TEXT NOT NULL,
        path TEXT NOT NULL,
        blob TEXT NOT NULL,
        sha256 TEXT,
        size INTEGER,
        created_at REAL NOT NULL,
        PRIMARY KEY (model_id, filename)
    );
    CREATE INDEX catalog_local_files_sha256 ON catalog_local_files (sha256);
    CREATE INDEX catalog_local_files_blob ON catalog_local_files (blob);
    CREATE TABLE catalog_known_models (
        id TEXT PRIMARY KEY,
        data TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
    """
    CREATE TABLE catalog_first_seen (
        id TEXT PRIMARY KEY,
        created TEXT NOT NULL
    );
    """,
]


log = logging.getLogger(__name__)

#: (table, id) of the bad rows already logged: each is logged once per process.
_LOGGED: set[tuple[str, str]] = set()


def _model(row: Any, table: str) -> CatalogModel | None:
    """The model a row stores, or ``None`` (logged once) when the row is damaged."""
    try:
        model = CatalogModel.from_json(json.loads(row["data"]))
        problem = type_problem(model)
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
    if problem is None:
        return model
    key = (table, str(row["id"]))
    if key not in _LOGGED:
        _LOGGED.add(key)
        log.warning(
            "skipping the damaged row %r of %s (%s); register the model again to replace it",
            key[1],
            table,
            problem,
        )
    return None


def _models(rows: list[Any], table: str) -> list[CatalogModel]:
    return [model for model in (_model(row, table) for row in rows) if model is not None]


class LocalState:
    """Custom and known model definitions, and the model files stored on this machine."""

    def __init__(
        self, db: Database, models_dir: Path, hf_cache_dir: Path, *, team: Team | None = None
    ):
        self.db = db
        self.models_dir = models_dir
        self.hf_cache_dir = hf_cache_dir
        self.team = team
        db.migrate("catalog", SCHEMA)

    # -- custom models -------------------------------------------------------------------
    async def custom(self, model_id: str) -> CatalogModel | None:
        row = await self.db.fetchone(
            "SELECT id, data FROM catalog_custom_models WHERE id = ?", (model_id,)
        )
        return _model(row, "catalog_custom_models") if row else None

    async def customs(self) -> list[CatalogModel]:
        rows = await self.db.fetchall(
            "SELECT id, data FROM catalog_custom_models ORDER BY created_at"
        )
        return _models(rows, "catalog_custom_models")

    async def insert_custom(self, model: CatalogModel) -> None:
        now = time.time()
        await self.db.execute(
            # REPLACE: a damaged row of the same id (hidden by the reads) is repaired
            "INSERT OR REPLACE INTO catalog_custom_models (id, data, created_at, updated_at) "
            "VALUES (?, ?, ?, ?)",
            (model.id, json.dumps(model.to_json()), now, now),
        )

    async def update_custom(self, model: CatalogModel) -> None:
        await self.db.execute(
            "UPDATE catalog_custom_models SET data = ?, updated_at = ? WHERE id = ?",
            (json.dumps(model.to_json()), time.time(), model.id),
        )

    async def delete_custom(self, model_id: str) -> None:
        await self.db.execute("DELETE FROM catalog_custom_models WHERE id = ?", (model_id,))

    # -- known models (definitions of models with local files) ---------------------------
    async def known(self, model_id: str) -> CatalogModel | None:
        row = await self.db.fetchone(
            "SELECT id, data FROM catalog_known_models WHERE id = ?", (model_id,)
        )
        return _model(row, "catalog_known_models") if row else None

    async def known_with_files(self) -> list[CatalogModel]:
        """Known models that have at least one local file, by id."""
        rows = await self.db.fetchall(
            "SELECT k.id, k.data FROM catalog_known_models k WHERE EXISTS "
            "(SELECT 1 FROM catalog_local_files f WHERE f.model_id = k.id) ORDER BY k.id"
        )
        return _models(rows, "catalog_known_models")

    async def remember(self, model: CatalogModel) -> None:
        """Keep the definition of a model with local files (for offline snapshots)."""
        if model.source == "custom":
            return
        await self.db.execute(
            "INSERT OR REPLACE INTO catalog_known_models (id, data, updated_at) VALUES (?, ?, ?)",
            (model.id, json.dumps(model.to_json()), time.time()),
        )

    # -- first seen ----------------------------------------------------------------------
    async def first_seen(self, model_id: str, now: str) -> str:
        """When the catalog first saw ``model_id`` (``now`` the first time): the stable
        ``created`` of a model whose source gives none (manifests)."""
        await self.db.execute(
            "INSERT OR IGNORE INTO catalog_first_seen (id, created) VALUES (?, ?)",
            (model_id, now),
        )
        row = await self.db.fetchone(
            "SELECT created FROM catalog_first_seen WHERE id = ?", (model_id,)
        )
        return str(row["created"]) if row else now

    # -- local files ---------------------------------------------------------------------
    def part_local(self, model: CatalogModel, part: FilePart) -> Path | None:
        """The local copy of ``part`` where this model expects it, or ``None`` (blocking)."""
        if model.source == "hub" and model.repo_id:
            return local.hub_cached(self.hf_cache_dir, model.repo_id, part.filename, model.revision)
        try:
            link = self.link_path(model, part)
        except ValueError:
            return None
        return link if link.exists() else None

    def link_path(self, model: CatalogModel, part: FilePart) -> Path:
        """Where a non-Hub part is linked: ``<root>/models/<model key>/<filename>``."""
        return self.models_dir / local.model_key(model.id) / local.safe_relpath(part.filename)

    async def local_bytes(self, model: CatalogModel, part: FilePart) -> Path | None:
        """A local copy of ``part``: its own, or the same SHA-256 stored for another model."""
        path = await asyncio.to_thread(self.part_local, model, part)
        if path is None and part.sha256:
            path = await self.blob_with_sha(part.sha256)
        return path

    async def recorded(self, model_id: str, filename: str) -> bool:
        """This user has a published copy of ``filename`` of ``model_id`` on record."""
        row = await self.db.fetchone(
            "SELECT 1 FROM catalog_local_files WHERE model_id = ? AND filename = ?",
            (model_id, filename),
        )
        return row is not None

    async def blob_with_sha(self, sha256: str) -> Path | None:
        rows = await self.db.fetchall(
            "SELECT blob FROM catalog_local_files WHERE sha256 = ?", (sha256,)
        )
        for row in rows:
            path = Path(row["blob"])
            if await asyncio.to_thread(path.exists):
                return path
        return None

    async def states(self, model: CatalogModel, jobs: list[Job]) -> dict[str, FileState]:
        """Each logical file's local copies and the jobs of its parts."""

        def compute() -> dict[str, FileState]:
            out = {}
            for entry in model.files:
                names = {p.filename for p in entry.parts}
                out[entry.id] = FileState(
                    [self.part_local(model, p) for p in entry.parts],
                    [j for j in jobs if j.file in names],
                )
            return out

        return await asyncio.to_thread(compute)

    async def record_file(
        self,
        model_id: str,
        filename: str,
        path: Path,
        blob: Path,
        sha256: str | None,
        size: int | None,
    ) -> None:
        """Record a published part: ``path`` is what users see, ``blob`` holds the bytes."""
        if size is None:
            size = (await asyncio.to_thread(blob.stat)).st_size
        await self.db.execute(
            "INSERT OR REPLACE INTO catalog_local_files "
            "(model_id, filename, path, blob, sha256, size, created_at) VALUES (?,?,?,?,?,?,?)",
            (model_id, filename, str(path), str(blob), sha256, size, time.time()),
        )
        team = self.team
        if team is not None and team.store.contains(blob):
            await asyncio.to_thread(team.store.add_reference, blob, team.holder)

    async def delete_parts(self, model: CatalogModel, parts: list[FilePart]) -> None:
        """Remove the recorded local copies of ``parts`` (a blob goes with its last link)."""
        names = [p.filename for p in parts]
        rows = (
            await self.db.fetchall(
                f"SELECT filename, path, blob FROM catalog_local_files WHERE model_id = ? "
                f"AND filename IN ({','.join('?' * len(names))})",
                (model.id, *names),
            )
            if names
            else []
        )
        for row in rows:
            await self.db.execute(
                "DELETE FROM catalog_local_files WHERE model_id = ? AND filename = ?",
                (model.id, row["filename"]),
            )
            others = await self.db.fetchone(
                "SELECT 1 FROM catalog_local_files WHERE blob = ? LIMIT 1", (row["blob"],)
            )
            link, blob = Path(row["path"]), Path(row["blob"])
            if self.team is not None and self.team.store.contains(blob):
                await asyncio.to_thread(_remove_shared, self.team, link, blob, bool(others))
                continue
            await asyncio.to_thread(_remove, link, None if others else blob)


def _remove(link: Path, blob: Path | None) -> None:
    if link.is_symlink() or link.exists():
        link.unlink()
    if blob is not None and blob.exists() and blob != link:
        blob.unlink()


def _remove_shared(team: Team, link: Path, blob: Path, used_here: bool) -> None:
    """This user's link and reference go; the bytes with the last reference, or by an admin."""
    store = team.store
    if used_here:  # another model of this user still uses the blob: keep the reference
        if not store.contains(link):
            _remove(link, None)
        return
    remaining = store.remove_reference(blob, team.holder)
    if remaining == 0 or team.is_admin:
        if link != blob and (link.is_symlink() or link.exists()):
            link.unlink()
        store.remove_published(blob)
    elif not store.contains(link):  # a shared Hub snapshot link stays for the others
        _remove(link, None)
