"""The catalog service: models from every source, their files, local state and downloads.

A thin facade over the catalog's parts: sources (Hub, manifests, custom and known models),
:class:`~.enrich.Enricher` (header facts), :class:`~.localstate.LocalState` (SQL and local
files), :class:`~.fetch.Fetcher` (downloads) and :mod:`.shapes` (response objects). It knows no
runtime: methods answering with model snapshots take ``runtime``, the runtime's info of every
loaded model by id (``RuntimeInfo``), and put it in the snapshots.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from ..downloads.jobs import RUNNING, Job
from ..downloads.manager import DownloadManager
from ..errors import Conflict, Forbidden, InvalidRequest, ModelFilesError, NotFound
from ..events import EventBus
from ..state import Database
from . import shapes
from .custom import custom_id, new_custom, updated_custom
from .enrich import Enricher
from .fetch import Fetcher, choose, parse_hub_url
from .hub import HubSource
from .local import cached_hub_models
from .localstate import LocalState
from .models import CatalogModel, ModelFileSet
from .shapes import ACTIVE, FileState
from .sources import Sources

if TYPE_CHECKING:
    from ..team.setup import Team

#: The runtime's info of each loaded model, by model id (``RuntimeManager.loaded()``).
RuntimeInfo = Mapping[str, Mapping[str, Any]]

_NOTHING_LOADED: RuntimeInfo = {}


class Catalog:
    """Models from the Hub, manifests and custom registrations; their files and downloads."""

    def __init__(
        self,
        db: Database,
        events: EventBus,
        downloads: DownloadManager,
        root_dir: Path | str,
        hf_cache_dir: Path | str,
        manifests: list[str] | None = None,
        hf_endpoint: str | None = None,
        hf_token: str | None = None,
        *,
        manifest_ttl: float = 60.0,
        team: Team | None = None,
    ):
        self.events = events
        self.downloads = downloads
        self.root_dir = Path(root_dir)
        self.models_dir = self.root_dir / "models"
        self.hf_cache_dir = Path(hf_cache_dir).expanduser()
        self.state = LocalState(db, self.models_dir, self.hf_cache_dir, team=team)
        hub = HubSource(hf_endpoint, hf_token)
        self.sources = Sources(self.state, hub, list(manifests or []), manifest_ttl)
        self.enricher = Enricher(self.state, hub)
        self.fetcher = Fetcher(downloads, self.state, hub, events)

    @property
    def hub(self) -> HubSource:
        """The Hugging Face Hub source (setting it switches every part of the catalog)."""
        return self.fetcher.hub

    @hub.setter
    def hub(self, hub: HubSource) -> None:
        self.sources.hub = hub
        self.enricher.hub = hub
        self.fetcher.hub = hub

    # -- sources -------------------------------------------------------------------------
    async def get_model(self, model_id: str) -> CatalogModel:
        """Resolve ``model_id``: custom, then manifests, then the Hub (offline: last known)."""
        return await self.sources.get(model_id)

    async def _enriched(self, model_id: str) -> CatalogModel:
        return await self.enricher.enrich(await self.get_model(model_id))

    # -- state ---------------------------------------------------------------------------
    async def _jobs(self, model_id: str) -> list[Job]:
        return list(await self.downloads.list_jobs(model_id=model_id))

    async def _states(self, model: CatalogModel) -> dict[str, FileState]:
        return await self.state.states(model, await self._jobs(model.id))

    # -- snapshots -----------------------------------------------------------------------
    async def snapshot(
        self, model_id: str, *, runtime: RuntimeInfo = _NOTHING_LOADED
    ) -> dict[str, Any]:
        """``GET v1/models/{id}``: the full snapshot (reads one header when not cached)."""
        model = await self._enriched(model_id)
        return await self._snapshot(model, await self._states(model), runtime)

    async def _snapshot(
        self, model: CatalogModel, states: dict[str, FileState], runtime: RuntimeInfo
    ) -> dict[str, Any]:
        jobs = await self._jobs(model.id)
        if model.created is None:
            model.created = await self.state.first_seen(model.id, shapes.now_iso())
        return shapes.snapshot(model, states, jobs, runtime.get(model.id))

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
        runtime: RuntimeInfo = _NOTHING_LOADED,
    ) -> dict[str, Any]:
        """``GET v1/models``: manifests, custom, local and (when searching) Hub models.

        ``runtime`` is the runtime's info of the loaded models (the ``loaded`` filter reads it).
        """
        if source not in (None, "hub", "manifest", "custom", "local"):
            raise InvalidRequest("source must be one of hub, manifest, custom, local")
        warnings: list[str] = []
        found: dict[str, CatalogModel] = {}
        if source in (None, "custom"):
            for model in await self.state.customs():
                found[model.id] = model
        if source in (None, "manifest"):
            warnings.extend(await self.sources.manifest_warnings())
            for model in (await self.sources.manifest_models()).values():
                found.setdefault(model.id, model)
        if source in (None, "local", "hub"):
            local_models = [
                *await self.state.known_with_files(),
                # what huggingface_hub itself put in the cache (hf_hub_download...)
                *await asyncio.to_thread(cached_hub_models, self.hf_cache_dir, self.hub.endpoint),
            ]
            for model in local_models:
                if source in (None, "local") or model.source == source:
                    found.setdefault(model.id, self.enricher.cached(model))
        if source == "hub" or (source is None and search):
            try:
                for model in await self.hub.search(search, library=format, limit=page * page_size):
                    found.setdefault(model.id, self.enricher.cached(model))
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
            if loaded is not None and bool(runtime.get(model.id, {}).get("loaded")) != loaded:
                continue
            selected.append((model, states))
        total = len(selected)
        start = (page - 1) * page_size
        window = selected[start : start + page_size]
        items = [await self._snapshot(m, st, runtime) for m, st in window]
        return {
            "iterable": items,
            "total": total,
            "page": page,
            "page_size": page_size,
            "has_more": start + page_size < total,
            "warnings": warnings,
        }

    # -- custom models -------------------------------------------------------------------
    async def register_custom(
        self, body: dict[str, Any], *, runtime: RuntimeInfo = _NOTHING_LOADED
    ) -> dict[str, Any]:
        """``POST v1/models``: ``{name, description?, files: [{url, ...}], id?}``."""
        model_id = custom_id(body)
        if await self.state.custom(model_id) is not None:
            raise Conflict(f"a model with id {model_id!r} already exists")
        if model_id in await self.sources.manifest_models():
            raise Conflict(f"a model with id {model_id!r} already exists in a manifest")
        model = new_custom(body, model_id)
        await self.state.insert_custom(model)
        self.enricher.forget(model.id)
        self.events.publish(
            "model", model.id, {"id": model.id, "custom": True, "change": "created"}
        )
        return await self.snapshot(model.id, runtime=runtime)

    async def update_custom(
        self, body: dict[str, Any], *, runtime: RuntimeInfo = _NOTHING_LOADED
    ) -> dict[str, Any]:
        """``POST v1/models/update``: only ``custom: true`` models; others get 403."""
        model_id = body.get("id")
        if not isinstance(model_id, str) or not model_id:
            raise InvalidRequest("the body needs the 'id' of the model to update")
        current = await self.state.custom(model_id)
        if current is None:
            await self.get_model(model_id)  # 404 when it is unknown everywhere
            raise Forbidden(
                f"model {model_id!r} is not a custom model: only models with custom: true "
                "can be updated",
                code="NOT_CUSTOM",
            )
        model = updated_custom(current, body)
        await self.state.update_custom(model)
        self.enricher.forget(model_id)
        self.events.publish(
            "model", model_id, {"id": model_id, "custom": True, "change": "updated"}
        )
        return await self.snapshot(model_id, runtime=runtime)

    # -- files ---------------------------------------------------------------------------
    async def model_files(
        self, model_id: str, downloaded: bool | None = None
    ) -> list[dict[str, Any]]:
        """``GET v1/models/{id}/files``: Anaconda ``ModelFile`` objects."""
        model = await self._enriched(model_id)
        states = await self._states(model)
        files = [shapes.model_file(model, e, states[e.id]) for e in model.files]
        if downloaded is not None:
            files = [f for f in files if f["isDownloaded"] == downloaded]
        return files

    async def _file(self, model_id: str, file_id: str) -> tuple[CatalogModel, ModelFileSet]:
        model = await self._enriched(model_id)
        entry = model.file(file_id)
        if entry is None:
            raise NotFound(f"model {model_id!r} has no file {file_id!r}")
        return model, entry

    async def model_file(self, model_id: str, file_id: str) -> dict[str, Any]:
        model, entry = await self._file(model_id, file_id)
        states = await self._states(model)
        return shapes.model_file(model, entry, states[entry.id])

    async def file_action(self, model_id: str, file_id: str, action: str) -> dict[str, Any]:
        """``PATCH .../files/{file_id}`` ``{action: start|pause|resume}`` -> DownloadStatus."""
        if action not in ("start", "pause", "resume"):
            raise InvalidRequest(f"action must be start, pause or resume, not {action!r}")
        model, entry = await self._file(model_id, file_id)
        if action == "start":
            await self.fetcher.start(model, [entry])
        else:
            jobs = (await self._states(model))[entry.id].jobs
            wanted = RUNNING if action == "pause" else ("paused",)
            targets = [j for j in jobs if j.status in wanted]
            if not targets:
                raise Conflict(f"no download of {file_id!r} to {action}")
            for job in targets:
                if action == "pause":
                    await self.downloads.pause(job.job_id)
                else:
                    await self.downloads.resume(job.job_id)
        states = await self._states(model)
        return shapes.download_status(model, entry, states[entry.id])

    async def delete_file(self, model_id: str, file_id: str) -> dict[str, Any]:
        """``DELETE .../files/{file_id}``: remove the local copy of that file."""
        model, entry = await self._file(model_id, file_id)
        await self._delete_parts(model, entry)
        states = await self._states(model)
        return shapes.model_file(model, entry, states[entry.id])

    # -- downloads -----------------------------------------------------------------------
    async def download_model(
        self,
        model_id: str,
        *,
        files: Any = None,
        quantization: Any = None,
        runtime: RuntimeInfo = _NOTHING_LOADED,
    ) -> dict[str, Any]:
        """Pieces ``POST v1/models/{id}/download``: start, return the snapshot."""
        model = await self._enriched(model_id)
        jobs = await self.fetcher.start(model, choose(model, files, quantization))
        snapshot = await self.snapshot(model.id, runtime=runtime)
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
            target, files = parse_hub_url(target)
        model = await self._enriched(target)
        entries = choose(model, files, quantization)
        states = await self._states(model)
        jobs = (
            []
            if all(states[e.id].downloaded for e in entries)
            else await self.fetcher.start(model, entries)
        )
        if not jobs:
            return {
                "status": "already_downloaded",
                "model_id": model.id,
                "files": [e.id for e in entries],
            }
        return jobs[0].to_status()

    async def cancel_model(
        self, model_id: str, *, runtime: RuntimeInfo = _NOTHING_LOADED
    ) -> dict[str, Any]:
        """Pieces ``POST v1/models/{id}/download/cancel``: cancel its active downloads."""
        model = await self.get_model(model_id)
        await self._cancel_active(model.id)
        return await self.snapshot(model.id, runtime=runtime)

    async def _cancel_active(self, model_id: str) -> None:
        for job in await self._jobs(model_id):
            if job.status in ACTIVE:
                await self.downloads.cancel(job.job_id)

    # -- deletion ------------------------------------------------------------------------
    async def delete_local(
        self, model_id: str, *, forget: bool = False, runtime: RuntimeInfo = _NOTHING_LOADED
    ) -> dict[str, Any]:
        """``DELETE v1/models/{id}``: remove its local files (``forget``: a custom definition)."""
        model = await self.get_model(model_id)
        if forget and not model.custom:
            raise Forbidden(
                f"model {model_id!r} is not custom: only custom definitions can be forgotten",
                code="NOT_CUSTOM",
            )
        await self._cancel_active(model.id)
        await self._delete_parts(model, *model.files)
        if forget:
            await self.state.delete_custom(model_id)
            self.enricher.forget(model_id)
            self.events.publish("model", model_id, {"id": model_id, "change": "deleted"})
            return {"id": model_id, "deleted": True}
        self.events.publish("model", model_id, {"id": model_id, "change": "files_deleted"})
        return await self.snapshot(model_id, runtime=runtime)

    async def _delete_parts(self, model: CatalogModel, *entries: ModelFileSet) -> None:
        await self.state.delete_parts(model, [p for e in entries for p in e.parts])
        self.enricher.forget(model.id)

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
        self.enricher.cache.clear()
