"""Fetching model files: choosing which to download, submitting their parts, publishing them.

A Hub part downloads into the Hugging Face cache layout (hook ``hf_cache``), any other part into
``<root>/models`` (hook ``model_file``); bytes already stored under the same SHA-256 are linked
instead of downloaded. Once a part is published, :class:`Fetcher` records it in
:class:`~.localstate.LocalState` and announces it on the event bus.

Team mode (``LocalState.team``): the Hugging Face cache is the shared store's ``hub/`` and other
files are published as the store's ``blobs/<sha256>``, with this user's links under
``<root>/models``; jobs are marked ``shared`` so the download manager coordinates them with the
other servers (:mod:`..downloads.shared`). A part already in the store is recorded at once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from ..downloads.jobs import Job
from ..downloads.manager import DownloadManager, DownloadRequest
from ..errors import Conflict, InvalidRequest, NotFound, UpstreamError
from ..events import EventBus
from . import local
from .hub import HubSource
from .localstate import LocalState
from .models import CatalogModel, FilePart, ModelFileSet
from .shapes import recommended_file


def choose(model: CatalogModel, files: Any = None, quantization: Any = None) -> list[ModelFileSet]:
    """The logical files a download request names: by id or file name, by quantization, or
    the recommended one."""
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
        matches = [e for e in model.files if (e.quantization or "").upper() == quantization.upper()]
        if not matches:
            available = sorted({e.quantization or "unknown" for e in model.files})
            raise NotFound(
                f"model {model.id!r} has no {quantization} file (available: {', '.join(available)})"
            )
        return matches[:1]
    return [recommended_file(model)]


def parse_hub_url(url: str) -> tuple[str, list[str] | None]:
    """``https://host/org/name[/blob|resolve/<rev>/<file>]`` -> repo id and the file, if any."""
    parsed = urlparse(url)
    segments = [unquote(s) for s in parsed.path.split("/") if s]
    if len(segments) < 2:
        raise InvalidRequest(f"{url} is not a Hugging Face model URL (expected /org/name)")
    repo_id = f"{segments[0]}/{segments[1]}"
    if len(segments) > 4 and segments[2] in ("blob", "resolve"):
        return repo_id, ["/".join(segments[4:])]
    return repo_id, None


class Fetcher:
    """Submits the missing parts of model files to the download manager and publishes them."""

    def __init__(
        self,
        downloads: DownloadManager,
        state: LocalState,
        hub: HubSource,
        events: EventBus,
    ):
        self.downloads = downloads
        self.state = state
        self.hub = hub
        self.events = events
        downloads.register_hook("hf_cache", self._hook_hf_cache)
        downloads.register_hook("model_file", self._hook_model_file)

    async def start(self, model: CatalogModel, entries: list[ModelFileSet]) -> list[Job]:
        """Submit every missing part of ``entries``; returns the jobs (new or joined)."""
        if model.source == "hub" and model.extra.get("gated") and entries and entries[0].parts:
            await self.hub.check_access(model, entries[0].parts[0].url)
        await self.state.remember(model)
        jobs = []
        team = self.state.team is not None
        for entry in entries:
            for part in entry.parts:
                if await asyncio.to_thread(self.state.part_local, model, part) is not None and (
                    # in team mode a file in the shared store may not be this user's yet
                    not team or await self.state.recorded(model.id, part.filename)
                ):
                    continue
                job = await self._submit_part(model, part)
                if job is not None:
                    jobs.append(job)
        return jobs

    async def _submit_part(self, model: CatalogModel, part: FilePart) -> Job | None:
        cache_dir = self.state.hf_cache_dir
        team = self.state.team
        if model.source == "hub" and model.repo_id:
            etag = part.etag or part.sha256
            if not etag or not model.revision:
                raise UpstreamError(f"the Hub gave no blob id for {part.filename}")
            dest = local.hub_blob_path(cache_dir, model.repo_id, etag)
            hook = "hf_cache"
            args: dict[str, Any] = {
                "model_id": model.id,
                "repo_id": model.repo_id,
                "revision": model.revision,
                "ref": "main",
                "filename": part.filename,
                "etag": etag,
                "cache_dir": str(cache_dir),
                "sha256": part.sha256,
                "size": part.size,
            }
            headers = self.hub.auth_headers
        else:
            link = self.state.link_path(model, part)
            blobs = team.store.blobs_dir if team is not None else self.state.models_dir / "blobs"
            dest = blobs / part.sha256 if part.sha256 else link
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
            existing = await self.state.blob_with_sha(part.sha256)
            if existing is not None:
                if existing != dest and not dest.exists():
                    await asyncio.to_thread(local.link_into_place, existing, dest)
                await self._finish_part(hook, dest, args)
                return None
        if dest.exists() and (team is not None or (part.sha256 and hook == "hf_cache")):
            await self._finish_part(hook, dest, args)  # in the store: published, never partial
            return None
        if team is not None:
            args["shared"] = True
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
        return await self.downloads.submit(request)

    async def _finish_part(self, hook: str, dest: Path, args: dict[str, Any]) -> None:
        """Make a published file visible (links) and record it (the hooks' common part)."""
        team = self.state.team
        if hook == "hf_cache" and team is not None:
            path = await asyncio.to_thread(
                team.store.link_hub,
                args["repo_id"],
                args["etag"],
                args["revision"],
                args["filename"],
                args.get("ref"),
            )
        elif hook == "hf_cache":
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
        await self.state.record_file(
            args["model_id"], args["filename"], path, dest, args.get("sha256"), args.get("size")
        )
        self.events.publish(
            "model",
            args["model_id"],
            {"id": args["model_id"], "file": args["filename"], "change": "downloaded"},
        )

    async def _hook_hf_cache(self, job: Job) -> None:
        await self._finish_part("hf_cache", Path(job.dest), dict(job.hook_args))

    async def _hook_model_file(self, job: Job) -> None:
        await self._finish_part("model_file", Path(job.dest), dict(job.hook_args))
