"""Download jobs: LM Studio status routes, job control, generic URL downloads, WebSockets."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from ..downloads.jobs import FINISHED, pieces_progress
from ..downloads.manager import DownloadManager
from ..errors import InvalidRequest, ModelFilesError
from ..events import Event, EventFilter
from ..files.store import check_purpose
from ..services import Services
from .base import AUTH_RESOURCE, ModelFilesHandler, path_id


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
        jobs = await self.downloads.list(
            model_id=self.query_str("model_id"), status=self.query_str("status")
        )
        self.write_json({"object": "list", "data": [job.to_dict() for job in jobs]})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_body()
        url = body.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidRequest("url is required and must be an http:// or https:// URL")
        sha256 = body.get("sha256")
        filename = body.get("filename")
        for name, value in (("sha256", sha256), ("filename", filename)):
            if value is not None and (not isinstance(value, str) or not value):
                raise InvalidRequest(f"{name} must be a non-empty string")
        purpose = check_purpose(body.get("purpose") or "user_data")
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
        statuses = body.get("status", list(FINISHED))
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


class _EventSocket(WebSocketMixin, WebSocketHandler, JupyterHandler):  # type: ignore[misc]
    """A WebSocket that forwards coalesced events; a slow client gets the latest state."""

    auth_resource = AUTH_RESOURCE
    _task: asyncio.Task[None] | None = None

    @property
    def services(self) -> Services:
        return self.settings["modelfiles"]

    def set_default_headers(self) -> None:
        """No JupyterHandler default headers on a WebSocket upgrade."""

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Refusals before the upgrade are JSON errors like every other route."""
        ModelFilesHandler.write_error(self, status_code, **kwargs)  # type: ignore[arg-type]

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, ModelFilesError):
            self.log.info(
                "%s %s -> %s: %s",
                self.request.method,
                self.request.path,
                value.status,
                value.message,
            )
            return
        super().log_exception(typ, value, tb)

    def get_compression_options(self) -> dict[str, Any] | None:
        return self.settings.get("websocket_compression_options", None)

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        allowed = await ensure_async(
            self.authorizer.is_authorized(self, self.current_user, "read", AUTH_RESOURCE)
        )
        if not allowed:
            raise web.HTTPError(403)
        if self.request.headers.get("Upgrade", "").lower() != "websocket":
            raise InvalidRequest("this route is a WebSocket: send an Upgrade: websocket request")
        await super().get(*args, **kwargs)

    def accept(self) -> EventFilter | None:
        return None

    def render(self, event: Event) -> dict[str, Any]:
        return event.to_json()

    async def initial(self) -> list[dict[str, Any]]:
        return []

    def start_forwarding(self) -> None:
        subscription = self.services.events.subscribe(self.accept())
        self._subscription = subscription

        async def forward() -> None:
            try:
                for message in await self.initial():
                    await self.write_message(json.dumps(message))
                async for event in subscription:
                    await self.write_message(json.dumps(self.render(event)))
            except (WebSocketClosedError, StopAsyncIteration, asyncio.CancelledError):
                pass
            finally:
                subscription.close()

        self._task = asyncio.get_running_loop().create_task(forward())

    def on_message(self, message: str | bytes) -> None:
        """Clients only listen."""

    def on_close(self) -> None:
        subscription = getattr(self, "_subscription", None)
        if subscription is not None:
            subscription.close()
        if self._task is not None:
            self._task.cancel()


class EventsSocket(_EventSocket):
    """``WS v1/events``: every change as ``{topic, key, time, data}``."""

    def open(self, *args: Any, **kwargs: Any) -> None:
        super().open()
        self.start_forwarding()


class ModelProgressSocket(_EventSocket):
    """``WS v1/models/{model_id}/download/progress``: Pieces ModelDownloadProgress messages."""

    def open(self, model_id: str) -> None:  # type: ignore[override]
        super().open()
        self.model_id = path_id(model_id)
        self.start_forwarding()

    def accept(self) -> EventFilter:
        model_id = self.model_id
        return lambda e: e.topic == "job" and e.payload.get("model_id") == model_id

    def render(self, event: Event) -> dict[str, Any]:
        return pieces_progress(event.payload)

    async def initial(self) -> list[dict[str, Any]]:
        jobs = await self.services.downloads.list(model_id=self.model_id)
        return [job.to_pieces_progress() for job in jobs]


default_handlers: list[tuple[Any, ...]] = [
    (r"/modelfiles/v1/models/download/status", StatusGroupsHandler),
    (r"/modelfiles/v1/models/download/status/(?P<job_id>[^/]+)", StatusHandler),
    (r"/modelfiles/v1/models/(?P<model_id>.+)/download/progress", ModelProgressSocket),
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
    (r"/modelfiles/v1/events", EventsSocket),
]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERROR = _ref("Error")
_NULL_STR = {"type": "string", "nullable": True}
_JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}

_STATUS_PROPS: dict[str, Any] = {
    "job_id": {"type": "string"},
    "status": {
        "type": "string",
        "enum": ["queued", "downloading", "paused", "completed", "failed", "cancelled"],
    },
    "downloaded_bytes": {"type": "integer", "minimum": 0},
    "total_size_bytes": {"type": "integer", "minimum": 0},
    "started_at": {"type": "string", "format": "date-time"},
    "bytes_per_second": {"type": "number", "minimum": 0},
    "estimated_completion": {"type": "string", "format": "date-time"},
    "completed_at": {"type": "string", "format": "date-time"},
    "error": _NULL_STR,
    "model_id": _NULL_STR,
    "file": _NULL_STR,
    "url": {"type": "string"},
    "sha256": _NULL_STR,
    "version": {
        "type": "integer",
        "description": "Server-issued state version, increasing with every change of the job "
        "(also across restarts): keep the state with the highest version.",
    },
}

OPENAPI: dict[str, Any] = {
    "schemas": {
        "DownloadJobStatus": {
            "type": "object",
            "description": "LM Studio's download job status object, plus error, model_id, "
            "file, url and sha256. bytes_per_second and estimated_completion only while "
            "downloading; completed_at only when completed.",
            "required": ["job_id", "status", "downloaded_bytes", "total_size_bytes"],
            "properties": _STATUS_PROPS,
        },
        "DownloadJob": {
            "type": "object",
            "required": ["job_id", "status", "downloaded_bytes", "total_size_bytes", "url"],
            "properties": {
                **_STATUS_PROPS,
                "created_at": {"type": "string", "format": "date-time"},
                "dest": {"type": "string"},
                "hook": _NULL_STR,
                "hook_args": {"type": "object"},
            },
        },
        "DownloadJobList": {
            "type": "object",
            "required": ["object", "data"],
            "properties": {
                "object": {"type": "string", "enum": ["list"]},
                "data": {"type": "array", "items": _ref("DownloadJob")},
            },
        },
        "DownloadStatusGroups": {
            "type": "object",
            "required": ["downloading", "queued", "paused", "completed", "failed"],
            "properties": {
                group: {"type": "array", "items": _ref("DownloadJobStatus")}
                for group in ("downloading", "queued", "paused", "completed", "failed", "cancelled")
            },
        },
        "PartialFile": {
            "type": "object",
            "required": ["name", "files", "size_bytes"],
            "properties": {
                "name": {"type": "string"},
                "files": {"type": "array", "items": {"type": "string"}},
                "size_bytes": {"type": "integer"},
                "downloaded_bytes": {"type": "integer", "nullable": True},
                "modified_at": {"type": "string"},
                "job_id": _NULL_STR,
            },
        },
        "ModelDownloadProgress": {
            "type": "object",
            "description": "Pieces ModelDownloadProgress plus our job fields.",
            "required": ["status", "percentage"],
            "properties": {
                "status": {
                    "type": "string",
                    "enum": [
                        "INITIALIZED",
                        "IN-PROGRESS",
                        "COMPLETED",
                        "FAILED",
                        "CANCELED",
                        "RESET",
                        "UNKNOWN",
                    ],
                },
                "percentage": {"type": "number", "minimum": 0, "maximum": 100},
                "job_id": {"type": "string"},
                "file": _NULL_STR,
                "model_id": _NULL_STR,
                "paused": {"type": "boolean"},
                "downloaded_bytes": {"type": "integer"},
                "total_size_bytes": {"type": "integer"},
                "bytes_per_second": {"type": "number"},
                "estimated_completion": _NULL_STR,
                "error": _NULL_STR,
                "version": {"type": "integer", "nullable": True},
            },
        },
    },
    "paths": {
        "/v1/models/download/status": {
            "get": {
                "operationId": "download_status",
                "summary": "Download jobs grouped by status (LM Studio)",
                "responses": {
                    "403": _json(_ERROR, "Not authenticated or not authorized"),
                    "200": _json(_ref("DownloadStatusGroups"), "Jobs by status"),
                },
            }
        },
        "/v1/models/download/status/{job_id}": {
            "get": {
                "operationId": "download_job_status",
                "summary": "One download job's status (LM Studio)",
                "parameters": [_JOB_ID],
                "responses": {
                    "403": _json(_ERROR, "Not authenticated or not authorized"),
                    "200": _json(_ref("DownloadJobStatus"), "The job"),
                    "404": _json(_ERROR, "Unknown job"),
                },
            }
        },
        "/v1/models/{model_id}/download/progress": {
            "get": {
                "operationId": "model_download_progress",
                "summary": "WebSocket: ModelDownloadProgress messages of a model's jobs",
                "parameters": [
                    {
                        "name": "model_id",
                        "in": "path",
                        "required": True,
                        "description": "May contain '/', raw or %2F-encoded",
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "403": _json(_ERROR, "Not authenticated or not authorized"),
                    "101": {"description": "Switching to WebSocket"},
                    "400": _json(_ERROR, "Not a WebSocket upgrade request"),
                },
            }
        },
        "/v1/downloads": {
            "get": {
                "operationId": "list_downloads",
                "summary": "List download jobs",
                "parameters": [
                    {"name": "model_id", "in": "query", "schema": {"type": "string"}},
                    {"name": "status", "in": "query", "schema": _STATUS_PROPS["status"]},
                ],
                "responses": {
                    "403": _json(_ERROR, "Not authenticated or not authorized"),
                    "200": _json(_ref("DownloadJobList"), "The jobs"),
                    "400": _json(_ERROR, "Bad filter"),
                },
            },
            "post": {
                "operationId": "create_download",
                "summary": "Download any http(s) URL into the files store",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["url"],
                                "properties": {
                                    "url": {"type": "string", "pattern": "^https?://"},
                                    "sha256": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
                                    "filename": {"type": "string"},
                                    "purpose": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "403": _json(_ERROR, "Not authenticated or not authorized"),
                    "202": _json(_ref("DownloadJob"), "Queued (or joined an existing job)"),
                    "400": _json(_ERROR, "Bad URL, checksum, file name or purpose"),
                },
            },
        },
        "/v1/downloads/clear": {
            "post": {
                "operationId": "clear_finished_downloads",
                "summary": "Forget finished jobs (completed, failed, cancelled by default)",
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "status": {
                                        "type": "array",
                                        "items": {"type": "string", "enum": list(FINISHED)},
                                    }
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "403": _json(_ERROR, "Not authenticated or not authorized"),
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["object", "cleared"],
                            "properties": {
                                "object": {"type": "string"},
                                "cleared": {"type": "array", "items": {"type": "string"}},
                            },
                        },
                        "The ids of the cleared jobs",
                    ),
                    "400": _json(_ERROR, "Not a list of finished statuses"),
                },
            }
        },
        "/v1/downloads/partials": {
            "get": {
                "operationId": "list_partial_downloads",
                "summary": "Partial files that no live job owns",
                "responses": {
                    "403": _json(_ERROR, "Not authenticated or not authorized"),
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["object", "data"],
                            "properties": {
                                "object": {"type": "string"},
                                "data": {"type": "array", "items": _ref("PartialFile")},
                            },
                        },
                        "Orphaned partial files",
                    ),
                },
            }
        },
        "/v1/downloads/partials/{name}": {
            "delete": {
                "operationId": "delete_partial_download",
                "summary": "Delete an orphaned partial file and its journal",
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "403": _json(_ERROR, "Not authenticated or not authorized"),
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["name", "deleted"],
                            "properties": {
                                "name": {"type": "string"},
                                "deleted": {"type": "boolean"},
                            },
                        },
                        "Deleted",
                    ),
                    "400": _json(_ERROR, "Not a partial file name"),
                    "404": _json(_ERROR, "No such partial file"),
                    "409": _json(_ERROR, "The file belongs to a live job"),
                },
            }
        },
        "/v1/downloads/{job_id}": {
            "get": {
                "operationId": "get_download",
                "summary": "One download job",
                "parameters": [_JOB_ID],
                "responses": {
                    "403": _json(_ERROR, "Not authenticated or not authorized"),
                    "200": _json(_ref("DownloadJob"), "The job"),
                    "404": _json(_ERROR, "Unknown job"),
                },
            }
        },
        **{
            f"/v1/downloads/{{job_id}}/{action}": {
                "post": {
                    "operationId": f"{action}_download",
                    "summary": f"{action.capitalize()} a download job",
                    "parameters": [_JOB_ID],
                    "responses": {
                        "403": _json(_ERROR, "Not authenticated or not authorized"),
                        "200": _json(_ref("DownloadJob"), "The job after the change"),
                        "404": _json(_ERROR, "Unknown job"),
                        "409": _json(_ERROR, "The job's status does not allow this"),
                    },
                }
            }
            for action in ("pause", "resume", "cancel")
        },
        "/v1/events": {
            "get": {
                "operationId": "events",
                "summary": "WebSocket: every change as {topic, key, time, data}, coalesced per key",
                "responses": {
                    "403": _json(_ERROR, "Not authenticated or not authorized"),
                    "101": {"description": "Switching to WebSocket"},
                    "400": _json(_ERROR, "Not a WebSocket upgrade request"),
                },
            }
        },
    },
}
