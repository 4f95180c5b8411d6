"""The WebSockets: ``WS v1/events`` (every change) and ``WS v1/models/{id}/download/progress``.

Both forward coalesced events from the in-process bus, so a slow client gets the latest state
rather than a backlog. Clients only listen. Refusals before the upgrade are JSON errors like
every other route.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from ..downloads.jobs import pieces_progress
from ..errors import InvalidRequest
from ..events import Event, EventFilter
from ..services import Services
from .base import AUTH_RESOURCE, JSONErrorsMixin, path_id


class _EventSocket(JSONErrorsMixin, WebSocketMixin, WebSocketHandler, JupyterHandler):
    """A WebSocket that forwards coalesced events; a slow client gets the latest state."""

    auth_resource = AUTH_RESOURCE
    _task: asyncio.Task[None] | None = None

    @property
    def services(self) -> Services:
        return self.settings["modelfiles"]

    def set_default_headers(self) -> None:
        """No JupyterHandler default headers on a WebSocket upgrade."""

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
        """Which events this socket forwards (``None``: all)."""
        return None

    def message_for(self, event: Event) -> dict[str, Any]:
        """The JSON message an event becomes on this socket."""
        return event.to_json()

    async def initial(self) -> list[dict[str, Any]]:
        """Messages sent once, on connecting, before any event."""
        return []

    def start_forwarding(self) -> None:
        subscription = self.services.events.subscribe(self.accept())
        self._subscription = subscription

        async def forward() -> None:
            try:
                for message in await self.initial():
                    await self.write_message(json.dumps(message))
                async for event in subscription:
                    await self.write_message(json.dumps(self.message_for(event)))
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

    def open(self, model_id: str) -> None:
        super().open()
        self.model_id = path_id(model_id)
        self.start_forwarding()

    def accept(self) -> EventFilter:
        model_id = self.model_id
        return lambda e: e.topic == "job" and e.payload.get("model_id") == model_id

    def message_for(self, event: Event) -> dict[str, Any]:
        return pieces_progress(event.payload)

    async def initial(self) -> list[dict[str, Any]]:
        jobs = await self.services.downloads.list_jobs(model_id=self.model_id)
        return [job.to_pieces_progress() for job in jobs]


# The progress route must come before the catalog's ``v1/models/{model_id}...`` routes.
default_handlers: list[tuple[str, Any]] = [
    (r"/modelfiles/v1/models/(?P<model_id>.+)/download/progress", ModelProgressSocket),
    (r"/modelfiles/v1/events", EventsSocket),
]
