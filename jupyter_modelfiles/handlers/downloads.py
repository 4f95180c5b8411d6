"""Download jobs: LM Studio status routes, job control, generic URL downloads, partials.

The jobs' WebSockets (events, a model's download progress) live in :mod:`.websockets`.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..downloads.jobs import TERMINAL
from ..downloads.manager import DownloadManager
from ..errors import InvalidRequest
from ..files.store import check_purpose
from .base import ModelFilesHandler, path_id


class _DownloadsHandler(ModelFilesHandler):
    @property
    def downloads(self) -> DownloadManager:
        return self.services.downloads


class StatusGroupsHandler(_DownloadsHandler):
    """``GET v1/models/download/status``: jobs grouped by status (LM Studio)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json(await self.downloads.status_groups())


class StatusHandler(_DownloadsHandler):
    """``GET v1/models/download/status/{job_id}`` (LM Studio)."""

    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        self.write_json((await self.downloads.get(path_id(job_id))).to_status())


class DownloadsHandler(_DownloadsHandler):
    """``GET v1/downloads`` (list) and ``POST v1/downloads`` (download any http(s) URL)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        jobs = await self.downloads.list_jobs(
            model_id=self.query_str("model_id"), status=self.query_str("status")
        )
        self.write_json({"object": "list", "data": [job.to_dict() for job in jobs]})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_body()
        url = body.get("url")
        if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
            raise InvalidRequest("url is required and must be an http:// or https:// URL")
        sha256 = body.get("sha256")
        filename = body.get("filename")
        for name, value in (("sha256", sha256), ("filename", filename)):
            if value is not None and (not isinstance(value, str) or not value):
                raise InvalidRequest(f"{name} must be a non-empty string")
        purpose = body.get("purpose")
        if purpose is not None and not isinstance(purpose, str):
            raise InvalidRequest("purpose must be a string, e.g. 'user_data'")
        purpose = check_purpose(purpose or "user_data")
        job = await self.downloads.submit_url(
            url, sha256=sha256, filename=filename, purpose=purpose
        )
        self.write_json(job.to_dict(), status=202)


class DownloadHandler(_DownloadsHandler):
    """``GET v1/downloads/{job_id}``."""

    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        self.write_json((await self.downloads.get(path_id(job_id))).to_dict())


class JobActionHandler(_DownloadsHandler):
    """``POST v1/downloads/{job_id}/pause|resume|cancel``."""

    def initialize(self, action: str) -> None:
        self.action = action

    @web.authenticated
    @authorized
    async def post(self, job_id: str) -> None:
        command = getattr(self.downloads, self.action)
        self.write_json((await command(path_id(job_id))).to_dict())


class ClearHandler(_DownloadsHandler):
    """``POST v1/downloads/clear``: forget finished jobs (body ``{status: [...]}`` optional)."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_body()
        statuses = body.get("status", list(TERMINAL))
        if not isinstance(statuses, list) or not all(isinstance(s, str) for s in statuses):
            raise InvalidRequest("status must be a list of job statuses")
        cleared = await self.downloads.clear(tuple(statuses))
        self.write_json({"object": "list", "cleared": cleared})


class PartialsHandler(_DownloadsHandler):
    """``GET v1/downloads/partials``: partial files no live job owns."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json({"object": "list", "data": await self.downloads.partials()})


class PartialHandler(_DownloadsHandler):
    """``DELETE v1/downloads/partials/{name}``."""

    @web.authenticated
    @authorized
    async def delete(self, name: str) -> None:
        name = path_id(name)
        await self.downloads.delete_partial(name)
        self.write_json({"name": name, "deleted": True})


default_handlers: list[tuple[Any, ...]] = [
    (r"/modelfiles/v1/models/download/status", StatusGroupsHandler),
    (r"/modelfiles/v1/models/download/status/(?P<job_id>[^/]+)", StatusHandler),
    (r"/modelfiles/v1/downloads", DownloadsHandler),
    (r"/modelfiles/v1/downloads/clear", ClearHandler),
    (r"/modelfiles/v1/downloads/partials", PartialsHandler),
    (r"/modelfiles/v1/downloads/partials/(?P<name>[^/]+)", PartialHandler),
    (r"/modelfiles/v1/downloads/(?P<job_id>[^/]+)", DownloadHandler),
    *[
        (
            rf"/modelfiles/v1/downloads/(?P<job_id>[^/]+)/{action}",
            JobActionHandler,
            {"action": action},
        )
        for action in ("pause", "resume", "cancel")
    ],
]
