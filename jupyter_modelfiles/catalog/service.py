"""The catalog service: models from every source, their files, local state and downloads."""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from ..downloads.manager import DownloadRequest
from ..errors import Conflict, Forbidden, InvalidRequest, ModelFilesError, NotFound, UpstreamError
from ..events import EventBus
from ..state import Database
from . import local
from .headers import (
    GGUFHeader,
    http_reader,
    local_reader,
    read_gguf_header,
    read_safetensors_header,
    summarize_safetensors,
)
from .hub import HubSource
from .manifest import load_manifest, model_from_dict
from .models import CatalogModel, FilePart, ModelFileSet
from .parsing import readable_bytes, recommended
from .ram import max_ram_usage

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
    """
]

ACTIVE = ("queued", "downloading", "paused")
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_SLUG = re.compile(r"[^a-z0-9._-]+")


@dataclass
class FileState:
    """Local and download state of one logical file."""

    local_paths: list[Path | None]
    jobs: list[Any]

    @property
    def downloaded(self) -> bool:
        return bool(self.local_paths) and all(p is not None for p in self.local_paths)


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def _timestamp(value: Any) -> float | None:
    """A job time (datetime, ISO string or epoch number) as epoch seconds."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _model_type(quant: str | None) -> str:
    q = (quant or "").upper()
    if not q:
        return "UNKNOWN"
    if q.startswith(("Q2", "Q3", "IQ1", "IQ2", "IQ3", "TQ")):
        return "SPEED"
    if q.startswith(("Q4", "Q5", "IQ4")):
        return "BALANCED"
    if q.startswith(("Q6", "Q8", "F16", "BF16", "F32", "F64")):
        return "ACCURACY"
    return "UNKNOWN"


class Catalog:
    """Models from the Hub, manifests and custom registrations; their files and downloads."""

    def __init__(
        self,
        db: Database,
        events: EventBus,
        downloads: Any | None,
        root_dir: Path | str,
        hf_cache_dir: Path | str,
        manifests: list[str] | None = None,
        hf_endpoint: str | None = None,
        hf_token: str | None = None,
        *,
        manifest_ttl: float = 60.0,
        runtime: Any | None = None,
    ):
        self.db = db
        self.events = events
        self.root_dir = Path(root_dir)
        self.models_dir = self.root_dir / "models"
        self.hf_cache_dir = Path(hf_cache_dir).expanduser()
        self.manifests = list(manifests or [])
        self.hub = HubSource(hf_endpoint, hf_token)
        self.manifest_ttl = manifest_ttl
        self.runtime = runtime
        self.downloads: Any | None = None
        self._manifest_models: dict[str, CatalogModel] = {}
        self._manifest_warnings: list[str] = []
        self._manifest_loaded_at: float | None = None
        self._manifest_lock = asyncio.Lock()
        self._enriched: dict[str, CatalogModel] = {}
        db.migrate("catalog", SCHEMA)
        if downloads is not None:
            self.attach_downloads(downloads)

    # -- wiring --------------------------------------------------------------------------
    def attach_downloads(self, downloads: Any) -> None:
        """Use ``downloads`` (the job manager) and register the completion hooks."""
        self.downloads = downloads
        downloads.register_hook("hf_cache", self._hook_hf_cache)
        downloads.register_hook("model_file", self._hook_model_file)

    def _require_downloads(self) -> Any:
        if self.downloads is None:
            raise Conflict("the download manager is not running")
        return self.downloads

    # -- sources -------------------------------------------------------------------------
    async def _load_manifests(self, force: bool = False) -> None:
        async with self._manifest_lock:
            fresh = (
                self._manifest_loaded_at is not None
                and time.monotonic() - self._manifest_loaded_at < self.manifest_ttl
            )
            if fresh and not force:
                return
            models: dict[str, CatalogModel] = {}
            warnings: list[str] = []
            for location in self.manifests:
                try:
                    for model in await load_manifest(location):
                        models.setdefault(model.id, model)
                except ModelFilesError as exc:
                    warnings.append(exc.message)
            self._manifest_models = models
            self._manifest_warnings = warnings
            self._manifest_loaded_at = time.monotonic()

    async def _custom(self, model_id: str) -> CatalogModel | None:
        row = await self.db.fetchone(
            "SELECT data FROM catalog_custom_models WHERE id = ?", (model_id,)
        )
        return CatalogModel.from_json(json.loads(row["data"])) if row else None

    async def _known(self, model_id: str) -> CatalogModel | None:
        row = await self.db.fetchone(
            "SELECT data FROM catalog_known_models WHERE id = ?", (model_id,)
        )
        return CatalogModel.from_json(json.loads(row["data"])) if row else None

    async def _remember(self, model: CatalogModel) -> None:
        """Keep the definition of a model with local files (for offline snapshots)."""
        if model.source == "custom":
            return
        await self.db.execute(
            "INSERT OR REPLACE INTO catalog_known_models (id, data, updated_at) VALUES (?, ?, ?)",
            (model.id, json.dumps(model.to_json()), time.time()),
        )

    async def get_model(self, model_id: str) -> CatalogModel:
        """Resolve ``model_id``: custom, then manifests, then the Hub (offline: last known)."""
        if not model_id or len(model_id) > 512:
            raise InvalidRequest("model id must be 1-512 characters")
        custom = await self._custom(model_id)
        if custom is not None:
            return custom
        await self._load_manifests()
        if model_id in self._manifest_models:
            return self._manifest_models[model_id]
        if _HUB_ID.match(model_id):
            try:
                return await self.hub.model(model_id)
            except UpstreamError:
                known = await self._known(model_id)
                if known is not None:
                    return known
                raise
            except NotFound:
                known = await self._known(model_id)
                if known is not None:
                    return known
                raise
        known = await self._known(model_id)
        if known is not None:
            return known
        raise NotFound(f"no model {model_id!r} in the catalog")

    # -- enrichment (headers -> parameters, context, RAM) ---------------------------------
    async def _enrich(self, model: CatalogModel) -> CatalogModel:
        """Read one GGUF / safetensors header (local file first, else a Range request)."""
        cached = self._enriched.get(model.id)
        if (
            cached is not None
            and cached.revision == model.revision
            and len(cached.files) == len(model.files)
        ):
            return cached
        header: GGUFHeader | None = None
        headers = self.hub.auth_headers if model.source == "hub" else {}
        gguf_sets = [s for s in model.files if s.format == "gguf"]
        if gguf_sets:
            chosen = gguf_sets[recommended([s.quantization for s in gguf_sets])]
            part = chosen.parts[0]
            path = await self._local_bytes(model, part)
            reader = local_reader(path) if path else http_reader(part.url, headers, timeout=15)
            try:
                header = await asyncio.to_thread(read_gguf_header, reader)
            except ModelFilesError:
                header = None
            if header is not None:
                model.parameters = model.parameters or round(header.parameter_count / 1e9, 9)
                model.context_length = model.context_length or header.context_length
                model.architecture = header.architecture
                model.extra["gguf"] = header.summary()
        st_sets = [s for s in model.files if s.format == "safetensors"]
        for entry in st_sets:
            part = next(p for p in entry.parts if p.filename.endswith(".safetensors"))
            path = await self._local_bytes(model, part)
            reader = local_reader(path) if path else http_reader(part.url, headers, timeout=15)
            try:
                summary = summarize_safetensors(
                    await asyncio.to_thread(read_safetensors_header, reader)
                )
            except ModelFilesError:
                continue
            entry.quantization = entry.quantization or summary.quantization
            if len([p for p in entry.parts if p.filename.endswith(".safetensors")]) == 1:
                model.parameters = model.parameters or round(summary.parameter_count / 1e9, 9)
        for entry in model.files:
            weights = (
                sum(
                    p.size or 0
                    for p in entry.parts
                    if p.filename.endswith((".gguf", ".safetensors", ".onnx", "_data", ".data"))
                )
                or entry.size
            )
            entry.max_ram_usage = max_ram_usage(weights, header if entry.format == "gguf" else None)
        if model.recommended is None and model.files:
            model.recommended = model.files[recommended([s.quantization for s in model.files])].id
        formats = {s.format for s in model.files}
        model.format = model.format or (formats.pop() if len(formats) == 1 else None)
        self._enriched[model.id] = model
        return model

    # -- local state ---------------------------------------------------------------------
    async def _local_bytes(self, model: CatalogModel, part: FilePart) -> Path | None:
        """A local copy of ``part``: its own, or the same SHA-256 stored for another model."""
        path = await asyncio.to_thread(self._part_local, model, part)
        if path is None and part.sha256:
            path = await self._blob_with_sha(part.sha256)
        return path

    def _part_local(self, model: CatalogModel, part: FilePart) -> Path | None:
        if model.source == "hub" and model.repo_id:
            return local.hub_cached(self.hf_cache_dir, model.repo_id, part.filename, model.revision)
        try:
            link = self.models_dir / local.model_key(model.id) / local.safe_relpath(part.filename)
        except ValueError:
            return None
        return link if link.exists() else None

    async def _states(self, model: CatalogModel) -> dict[str, FileState]:
        jobs = await self._jobs(model.id)

        def compute() -> dict[str, FileState]:
            out = {}
            for entry in model.files:
                names = {p.filename for p in entry.parts}
                out[entry.id] = FileState(
                    [self._part_local(model, p) for p in entry.parts],
                    [j for j in jobs if j.file in names],
                )
            return out

        return await asyncio.to_thread(compute)

    async def _jobs(self, model_id: str) -> list[Any]:
        if self.downloads is None:
            return []
        return list(await self.downloads.list(model_id=model_id))

    def _runtime_info(self, model_id: str) -> dict[str, Any]:
        if self.runtime is None:
            return {}
        try:
            info = self.runtime.info(model_id)
        except Exception:  # the runtime must never break the catalog
            return {}
        return info if isinstance(info, dict) else {}

    # -- serialisation -------------------------------------------------------------------
    def _download_object(
        self, model: CatalogModel, entry: ModelFileSet, jobs: list[Any]
    ) -> dict[str, Any]:
        """Anaconda ``Download`` for the jobs of a logical file (parts summed)."""
        transferred = sum(int(j.downloaded_bytes or 0) for j in jobs)
        total = sum(int(j.total_size_bytes or 0) for j in jobs) or entry.size
        starts = [t for t in (_timestamp(j.started_at) for j in jobs) if t is not None]
        ends = [_timestamp(j.completed_at) for j in jobs]
        finished = all(e is not None for e in ends) and bool(ends)
        end = max(e for e in ends if e is not None) if finished else time.time()
        taken = max(0.0, end - min(starts)) if starts else 0.0
        return {
            "fileId": entry.id,
            "modelId": model.id,
            "filename": entry.name,
            "downloadedRatio": min(1.0, transferred / total) if total else 0.0,
            "transferredBytes": transferred,
            "totalBytes": total,
            "paused": any(j.status == "paused" for j in jobs)
            and not any(j.status in ("queued", "downloading") for j in jobs),
            "downloadTimeTaken": round(taken * 1000.0, 1),
            "averageMbps": round(transferred * 8 / 1e6 / taken, 3) if taken > 0 else 0.0,
        }

    def _download_status(
        self, model: CatalogModel, entry: ModelFileSet, state: FileState
    ) -> dict[str, Any]:
        latest: dict[str, Any] = {}
        for job in state.jobs:  # newest job per part
            prev = latest.get(job.file)
            if prev is None or (_timestamp(job.started_at) or 0) >= (
                _timestamp(prev.started_at) or 0
            ):
                latest[job.file] = job
        jobs = list(latest.values())
        statuses = {j.status for j in jobs}
        if state.downloaded:
            status = "completed"
        elif statuses & {"queued", "downloading"}:
            status = "in_progress"
        elif "paused" in statuses:
            status = "paused"
        else:
            status = "not_started"
        out: dict[str, Any] = {"status": status}
        if jobs and (status != "completed" or any(j.status == "completed" for j in jobs)):
            out["progress"] = self._download_object(model, entry, jobs)
        if state.downloaded and state.local_paths[0] is not None:
            out["localPath"] = str(state.local_paths[0])
        return out

    def _model_file(
        self, model: CatalogModel, entry: ModelFileSet, state: FileState
    ) -> dict[str, Any]:
        """The Anaconda ``ModelFile`` object."""
        ram = entry.max_ram_usage or max_ram_usage(entry.size)
        return {
            "id": entry.id,
            "name": entry.name,
            "downloadUrl": entry.url,
            "sizeBytes": entry.size,
            "sha256checksum": entry.sha256 or "",
            "quantization": entry.quantization or "unknown",
            "format": entry.format,
            "isDownloaded": state.downloaded,
            "maxRamUsage": ram,
            "downloadStatus": self._download_status(model, entry, state),
        }

    def _snapshot(
        self, model: CatalogModel, states: dict[str, FileState], jobs: list[Any]
    ) -> dict[str, Any]:
        """The Pieces ``Model`` fields plus ours."""
        files = [self._model_file(model, e, states[e.id]) for e in model.files]
        local_sets = [e for e in model.files if states[e.id].downloaded]
        focus = None
        if local_sets:
            focus = local_sets[0]
        elif model.files:
            focus = (
                model.file(model.recommended or "")
                or model.files[recommended([s.quantization for s in model.files])]
            )
        runtime = self._runtime_info(model.id)
        created = model.created or _now_iso()
        try:
            created_dt = datetime.fromisoformat(created.replace("Z", "+00:00"))
        except ValueError:
            created_dt = datetime.now(timezone.utc)
        size = focus.size if focus else 0
        ram = (focus.max_ram_usage or max_ram_usage(size)) if focus else 0
        quant = focus.quantization if focus else None
        return {
            "id": model.id,
            "name": model.name,
            "version": model.revision or "1",
            "created": {
                "value": created_dt.isoformat().replace("+00:00", "Z"),
                "readable": created_dt.strftime("%Y-%m-%d %H:%M UTC"),
            },
            "description": model.description,
            "cloud": False,
            "cpu": True,
            "custom": model.custom,
            "downloaded": bool(local_sets),
            "downloading": any(j.status in ("queued", "downloading") for j in jobs),
            "loaded": bool(runtime.get("loaded", False)),
            "quantization": quant,
            "parameters": model.parameters,
            "ram": {"value": int(ram), "readable": readable_bytes(ram)},
            "bytes": {"value": int(size), "readable": readable_bytes(size)},
            "foundation": "UNKNOWN",
            "provider": "HUGGING_FACE" if model.source == "hub" else "UNKNOWN",
            "type": _model_type(quant),
            "usage": "UNKNOWN",
            "unique": model.id,
            "source": model.source,
            "format": model.format or (focus.format if focus else None),
            "architecture": model.architecture,
            "context_length": model.context_length,
            "organization_name": model.provider,
            "revision": model.revision,
            "recommended_file": model.recommended,
            "files": files,
            "jobs": [j.to_status() for j in jobs],
            "loaded_rss_bytes": int(runtime.get("loaded_rss_bytes") or 0),
            "load_time_ms": runtime.get("load_time_ms"),
        }

    async def snapshot(self, model_id: str) -> dict[str, Any]:
        """``GET v1/models/{id}``: the full snapshot (reads one header when not cached)."""
        model = await self._enrich(await self.get_model(model_id))
        states = await self._states(model)
        return self._snapshot(model, states, await self._jobs(model.id))

    # -- listing -------------------------------------------------------------------------
    async def list_models(
        self,
        *,
        search: str | None = None,
        source: str | None = None,
        format: str | None = None,
        quantization: str | None = None,
        downloaded: bool | None = None,
        loaded: bool | None = None,
        page: int = 1,
        page_size: int = 50,
    ) -> dict[str, Any]:
        """``GET v1/models``: manifests, custom, local and (when searching) Hub models."""
        if source not in (None, "hub", "manifest", "custom", "local"):
            raise InvalidRequest("source must be one of hub, manifest, custom, local")
        warnings: list[str] = []
        found: dict[str, CatalogModel] = {}
        if source in (None, "custom"):
            for row in await self.db.fetchall(
                "SELECT data FROM catalog_custom_models ORDER BY created_at"
            ):
                model = CatalogModel.from_json(json.loads(row["data"]))
                found[model.id] = model
        if source in (None, "manifest"):
            await self._load_manifests()
            warnings.extend(self._manifest_warnings)
            for model in self._manifest_models.values():
                found.setdefault(model.id, model)
        if source in (None, "local", "hub"):
            for row in await self.db.fetchall(
                "SELECT k.data FROM catalog_known_models k WHERE EXISTS "
                "(SELECT 1 FROM catalog_local_files f WHERE f.model_id = k.id) ORDER BY k.id"
            ):
                model = CatalogModel.from_json(json.loads(row["data"]))
                if source in (None, "local") or model.source == source:
                    found.setdefault(model.id, self._enriched.get(model.id, model))
        if source == "hub" or (source is None and search):
            try:
                for model in await self.hub.search(search, library=format, limit=page * page_size):
                    found.setdefault(model.id, self._enriched.get(model.id, model))
            except ModelFilesError as exc:
                if source == "hub":
                    raise
                warnings.append(exc.message)
        needle = (search or "").lower()
        selected: list[tuple[CatalogModel, dict[str, FileState]]] = []
        for model in found.values():
            partial = bool(model.extra.get("partial"))
            if (
                needle
                and model.source != "hub"
                and needle not in (f"{model.id} {model.name} {model.description}".lower())
            ):
                continue
            if (
                format
                and not partial
                and not any(s.format.lower() == format.lower() for s in model.files)
            ):
                continue
            if quantization and not any(
                (s.quantization or "").lower() == quantization.lower() for s in model.files
            ):
                continue
            states = await self._states(model)
            is_local = any(st.downloaded for st in states.values())
            if source == "local" and not is_local:
                continue
            if downloaded is not None and is_local != downloaded:
                continue
            if loaded is not None and bool(self._runtime_info(model.id).get("loaded")) != loaded:
                continue
            selected.append((model, states))
        total = len(selected)
        start = (page - 1) * page_size
        window = selected[start : start + page_size]
        items = [self._snapshot(m, st, await self._jobs(m.id)) for m, st in window]
        return {
            "iterable": items,
            "total": total,
            "page": page,
            "page_size": page_size,
            "has_more": start + page_size < total,
            "warnings": warnings,
        }

    # -- custom models -------------------------------------------------------------------
    async def register_custom(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST v1/models``: ``{name, description?, files: [{url, ...}], id?}``."""
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise InvalidRequest("a custom model needs a 'name'")
        model_id = body.get("id")
        if model_id is None:
            model_id = "custom/" + (_SLUG.sub("-", name.strip().lower()).strip("-") or "model")
        if not isinstance(model_id, str) or not model_id.strip():
            raise InvalidRequest("'id' must be a non-empty string")
        if await self._custom(model_id) is not None:
            raise Conflict(f"a model with id {model_id!r} already exists")
        await self._load_manifests()
        if model_id in self._manifest_models:
            raise Conflict(f"a model with id {model_id!r} already exists in a manifest")
        model = model_from_dict(
            {**body, "id": model_id, "name": name.strip()}, source="custom", origin="request"
        )
        model.created = _now_iso()
        model.updated = model.created
        now = time.time()
        await self.db.execute(
            "INSERT INTO catalog_custom_models (id, data, created_at, updated_at) "
            "VALUES (?, ?, ?, ?)",
            (model.id, json.dumps(model.to_json()), now, now),
        )
        self._enriched.pop(model.id, None)
        self.events.publish(
            "model", model.id, {"id": model.id, "custom": True, "change": "created"}
        )
        return await self.snapshot(model.id)

    async def update_custom(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST v1/models/update``: only ``custom: true`` models; others get 403."""
        model_id = body.get("id")
        if not isinstance(model_id, str) or not model_id:
            raise InvalidRequest("the body needs the 'id' of the model to update")
        current = await self._custom(model_id)
        if current is None:
            await self.get_model(model_id)  # 404 when it is unknown everywhere
            raise Forbidden(
                f"model {model_id!r} is not a custom model: only models with custom: true "
                "can be updated",
                code="NOT_CUSTOM",
            )
        merged: dict[str, Any] = {
            "id": model_id,
            "name": body.get("name", current.name),
            "description": body.get("description", current.description),
            "parameters": body.get("parameters", current.parameters),
            "context_length": body.get("context_length", current.context_length),
        }
        if "files" in body:
            merged["files"] = body["files"]
        else:
            merged["files"] = [
                {
                    "url": p.url,
                    "name": p.filename,
                    "size": p.size,
                    "sha256": p.sha256,
                    "quantization": s.quantization,
                    "format": s.format,
                }
                for s in current.files
                for p in s.parts
            ]
        if not isinstance(merged["name"], str) or not merged["name"].strip():
            raise InvalidRequest("'name' must be a non-empty string")
        if merged["description"] is not None and not isinstance(merged["description"], str):
            raise InvalidRequest("'description' must be a string")
        model = model_from_dict(merged, source="custom", origin="request")
        model.created = current.created
        model.updated = _now_iso()
        await self.db.execute(
            "UPDATE catalog_custom_models SET data = ?, updated_at = ? WHERE id = ?",
            (json.dumps(model.to_json()), time.time(), model_id),
        )
        self._enriched.pop(model_id, None)
        self.events.publish(
            "model", model_id, {"id": model_id, "custom": True, "change": "updated"}
        )
        return await self.snapshot(model_id)

    # -- files ---------------------------------------------------------------------------
    async def model_files(
        self, model_id: str, downloaded: bool | None = None
    ) -> list[dict[str, Any]]:
        """``GET v1/models/{id}/files``: Anaconda ``ModelFile`` objects."""
        model = await self._enrich(await self.get_model(model_id))
        states = await self._states(model)
        files = [self._model_file(model, e, states[e.id]) for e in model.files]
        if downloaded is not None:
            files = [f for f in files if f["isDownloaded"] == downloaded]
        return files

    async def _file(self, model_id: str, file_id: str) -> tuple[CatalogModel, ModelFileSet]:
        model = await self._enrich(await self.get_model(model_id))
        entry = model.file(file_id)
        if entry is None:
            raise NotFound(f"model {model_id!r} has no file {file_id!r}")
        return model, entry

    async def model_file(self, model_id: str, file_id: str) -> dict[str, Any]:
        model, entry = await self._file(model_id, file_id)
        states = await self._states(model)
        return self._model_file(model, entry, states[entry.id])

    async def file_action(self, model_id: str, file_id: str, action: str) -> dict[str, Any]:
        """``PATCH .../files/{file_id}`` ``{action: start|pause|resume}`` -> DownloadStatus."""
        if action not in ("start", "pause", "resume"):
            raise InvalidRequest(f"action must be start, pause or resume, not {action!r}")
        model, entry = await self._file(model_id, file_id)
        if action == "start":
            await self._start(model, [entry])
        else:
            manager = self._require_downloads()
            jobs = [j for j in (await self._states(model))[entry.id].jobs]
            wanted = ("queued", "downloading") if action == "pause" else ("paused",)
            targets = [j for j in jobs if j.status in wanted]
            if not targets:
                raise Conflict(f"no download of {file_id!r} to {action}")
            for job in targets:
                await getattr(manager, action)(job.job_id)
        states = await self._states(model)
        return self._download_status(model, entry, states[entry.id])

    async def delete_file(self, model_id: str, file_id: str) -> dict[str, Any]:
        """``DELETE .../files/{file_id}``: remove the local copy of that file."""
        model, entry = await self._file(model_id, file_id)
        await self._delete_parts(model, entry.parts)
        states = await self._states(model)
        return self._model_file(model, entry, states[entry.id])

    # -- downloads -----------------------------------------------------------------------
    def _choose(
        self, model: CatalogModel, files: Any = None, quantization: Any = None
    ) -> list[ModelFileSet]:
        if not model.files:
            raise Conflict(f"model {model.id!r} has no downloadable files")
        if files:
            if isinstance(files, str):
                files = [files]
            if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
                raise InvalidRequest("'files' must be a list of file ids")
            chosen = []
            for file_id in files:
                entry = model.file(file_id) or next(
                    (e for e in model.files if any(p.filename == file_id for p in e.parts)), None
                )
                if entry is None:
                    raise NotFound(f"model {model.id!r} has no file {file_id!r}")
                chosen.append(entry)
            return chosen
        if quantization:
            if not isinstance(quantization, str):
                raise InvalidRequest("'quantization' must be a string")
            matches = [
                e for e in model.files if (e.quantization or "").upper() == quantization.upper()
            ]
            if not matches:
                available = sorted({e.quantization or "unknown" for e in model.files})
                raise NotFound(
                    f"model {model.id!r} has no {quantization} file (available: "
                    f"{', '.join(available)})"
                )
            return matches[:1]
        return [
            model.file(model.recommended or "")
            or model.files[recommended([s.quantization for s in model.files])]
        ]

    async def _start(self, model: CatalogModel, entries: list[ModelFileSet]) -> list[Any]:
        """Submit every missing part of ``entries``; returns the jobs (new or joined)."""
        manager = self._require_downloads()
        if model.source == "hub" and model.extra.get("gated") and entries and entries[0].parts:
            await self.hub.check_access(model, entries[0].parts[0].url)
        await self._remember(model)
        jobs = []
        for entry in entries:
            for part in entry.parts:
                if await asyncio.to_thread(self._part_local, model, part) is not None:
                    continue
                job = await self._submit_part(manager, model, part)
                if job is not None:
                    jobs.append(job)
        return jobs

    async def _submit_part(self, manager: Any, model: CatalogModel, part: FilePart) -> Any | None:
        if model.source == "hub" and model.repo_id:
            etag = part.etag or part.sha256
            if not etag or not model.revision:
                raise UpstreamError(f"the Hub gave no blob id for {part.filename}")
            dest = local.hub_blob_path(self.hf_cache_dir, model.repo_id, etag)
            hook = "hf_cache"
            args: dict[str, Any] = {
                "model_id": model.id,
                "repo_id": model.repo_id,
                "revision": model.revision,
                "ref": "main",
                "filename": part.filename,
                "etag": etag,
                "cache_dir": str(self.hf_cache_dir),
                "sha256": part.sha256,
                "size": part.size,
            }
            headers = self.hub.auth_headers
        else:
            link = self.models_dir / local.model_key(model.id) / local.safe_relpath(part.filename)
            dest = self.models_dir / "blobs" / part.sha256 if part.sha256 else link
            hook = "model_file"
            args = {
                "model_id": model.id,
                "filename": part.filename,
                "link": str(link),
                "sha256": part.sha256,
                "size": part.size,
            }
            headers = {}
        # The same bytes already stored (another model, another repo): link, no download.
        if part.sha256:
            existing = await self._blob_with_sha(part.sha256)
            if existing is not None:
                if existing != dest and not dest.exists():
                    await asyncio.to_thread(local.link_into_place, existing, dest)
                await self._finish_part(hook, dest, args)
                return None
        if dest.exists() and part.sha256 and hook == "hf_cache":
            await self._finish_part(hook, dest, args)
            return None
        request = DownloadRequest(
            url=part.url,
            dest=dest,
            sha256=part.sha256,
            size=part.size,
            headers=headers,
            model_id=model.id,
            file=part.filename,
            hook=hook,
            hook_args=args,
        )
        return await manager.submit(request)

    async def _blob_with_sha(self, sha256: str) -> Path | None:
        rows = await self.db.fetchall(
            "SELECT blob FROM catalog_local_files WHERE sha256 = ?", (sha256,)
        )
        for row in rows:
            path = Path(row["blob"])
            if await asyncio.to_thread(path.exists):
                return path
        return None

    async def _finish_part(self, hook: str, dest: Path, args: dict[str, Any]) -> None:
        """Make a published file visible (links) and record it (the hooks' common part)."""
        if hook == "hf_cache":
            path = await asyncio.to_thread(
                local.publish_hub_file,
                Path(args["cache_dir"]),
                args["repo_id"],
                args["revision"],
                args["filename"],
                args["etag"],
                args.get("ref"),
            )
        else:
            link = Path(args["link"])
            if link != dest:
                await asyncio.to_thread(local.relative_symlink, dest, link)
            path = link
        size = args.get("size")
        if size is None:
            size = (await asyncio.to_thread(dest.stat)).st_size
        await self.db.execute(
            "INSERT OR REPLACE INTO catalog_local_files "
            "(model_id, filename, path, blob, sha256, size, created_at) VALUES (?,?,?,?,?,?,?)",
            (
                args["model_id"],
                args["filename"],
                str(path),
                str(dest),
                args.get("sha256"),
                size,
                time.time(),
            ),
        )
        self.events.publish(
            "model",
            args["model_id"],
            {"id": args["model_id"], "file": args["filename"], "change": "downloaded"},
        )

    async def _hook_hf_cache(self, job: Any) -> None:
        await self._finish_part("hf_cache", Path(job.dest), dict(job.hook_args))

    async def _hook_model_file(self, job: Any) -> None:
        await self._finish_part("model_file", Path(job.dest), dict(job.hook_args))

    async def download_model(
        self, model_id: str, *, files: Any = None, quantization: Any = None
    ) -> dict[str, Any]:
        """Pieces ``POST v1/models/{id}/download``: start, return the snapshot."""
        model = await self._enrich(await self.get_model(model_id))
        jobs = await self._start(model, self._choose(model, files, quantization))
        snapshot = await self.snapshot(model.id)
        # ours: the jobs this request started or joined (``jobs`` lists every job ever run)
        snapshot["started"] = [job.to_status() for job in jobs]
        return snapshot

    async def download_lmstudio(self, target: Any, quantization: Any = None) -> dict[str, Any]:
        """LM Studio ``POST v1/models/download``: a catalog id or a Hub URL."""
        if not isinstance(target, str) or not target.strip():
            raise InvalidRequest("'model' must be a catalog id or a Hugging Face URL")
        target = target.strip()
        files = None
        if urlparse(target).scheme in ("http", "https"):
            target, files = self._parse_hub_url(target)
        model = await self._enrich(await self.get_model(target))
        entries = self._choose(model, files, quantization)
        states = await self._states(model)
        if all(states[e.id].downloaded for e in entries):
            return {
                "status": "already_downloaded",
                "model_id": model.id,
                "files": [e.id for e in entries],
            }
        jobs = await self._start(model, entries)
        if not jobs:
            return {
                "status": "already_downloaded",
                "model_id": model.id,
                "files": [e.id for e in entries],
            }
        return jobs[0].to_status()

    def _parse_hub_url(self, url: str) -> tuple[str, list[str] | None]:
        parsed = urlparse(url)
        segments = [unquote(s) for s in parsed.path.split("/") if s]
        if len(segments) < 2:
            raise InvalidRequest(f"{url} is not a Hugging Face model URL (expected /org/name)")
        repo_id = f"{segments[0]}/{segments[1]}"
        if len(segments) > 4 and segments[2] in ("blob", "resolve"):
            return repo_id, ["/".join(segments[4:])]
        return repo_id, None

    async def cancel_model(self, model_id: str) -> dict[str, Any]:
        """Pieces ``POST v1/models/{id}/download/cancel``: cancel its active downloads."""
        model = await self.get_model(model_id)
        manager = self._require_downloads()
        for job in await self._jobs(model.id):
            if job.status in ACTIVE:
                await manager.cancel(job.job_id)
        return await self.snapshot(model.id)

    # -- deletion ------------------------------------------------------------------------
    async def delete_local(self, model_id: str, *, forget: bool = False) -> dict[str, Any]:
        """``DELETE v1/models/{id}``: remove its local files (``forget``: a custom definition)."""
        model = await self.get_model(model_id)
        if forget and not model.custom:
            raise Forbidden(
                f"model {model_id!r} is not custom: only custom definitions can be forgotten",
                code="NOT_CUSTOM",
            )
        for job in await self._jobs(model.id):
            if job.status in ACTIVE and self.downloads is not None:
                await self.downloads.cancel(job.job_id)
        await self._delete_parts(model, [p for e in model.files for p in e.parts])
        if forget:
            await self.db.execute("DELETE FROM catalog_custom_models WHERE id = ?", (model_id,))
            self._enriched.pop(model_id, None)
            self.events.publish("model", model_id, {"id": model_id, "change": "deleted"})
            return {"id": model_id, "deleted": True}
        self.events.publish("model", model_id, {"id": model_id, "change": "files_deleted"})
        return await self.snapshot(model_id)

    async def _delete_parts(self, model: CatalogModel, parts: list[FilePart]) -> None:
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
            await asyncio.to_thread(
                _remove, Path(row["path"]), None if others else Path(row["blob"])
            )
        self._enriched.pop(model.id, None)

    # -- the runtime's view --------------------------------------------------------------
    async def resolve_local(self, model_id: str) -> tuple[str, list[Path]]:
        """Format and local paths of a downloaded model (the recommended file first)."""
        model = await self.get_model(model_id)
        states = await self._states(model)
        ordered = sorted(model.files, key=lambda e: e.id != model.recommended)
        for entry in ordered:
            state = states[entry.id]
            if state.downloaded:
                return entry.format, [p for p in state.local_paths if p is not None]
        raise Conflict(
            f"model {model_id!r} is not downloaded; download it first: "
            f"POST modelfiles/v1/models/{model_id}/download"
        )

    async def close(self) -> None:
        """Forget cached Hub answers (nothing else is held open)."""
        self._enriched.clear()


def _remove(link: Path, blob: Path | None) -> None:
    if link.is_symlink() or link.exists():
        link.unlink()
    if blob is not None and blob.exists() and blob != link:
        blob.unlink()
