"""``WS v1/events``: every change to files, jobs and models, for the sidebar and widgets.

Each message is ``{"topic", "key", "time", "data"}``. ``?topics=job,file`` narrows the stream.
The event bus coalesces per ``(topic, key)``, so a slow client gets the latest state only.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import ws_authenticated
from tornado import web, websocket

from ..errors import InvalidRequest
from ..events import Event, Subscription
from .base import ModelFilesHandler

TOPICS = ("file", "job", "model")


class EventsHandler(ModelFilesHandler, websocket.WebSocketHandler):
    """Stream bus events as JSON text frames until the client goes away."""

    _subscription: Subscription | None = None
    _pump: asyncio.Task[None] | None = None

    async def pre_get(self) -> None:
        authorized = await ensure_async(
            self.authorizer.is_authorized(self, self.current_user, "read", self.auth_resource)
        )
        if not authorized:
            raise web.HTTPError(403)

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        await self.pre_get()
        if self.request.headers.get("Upgrade", "").lower() != "websocket":
            raise InvalidRequest("v1/events is a WebSocket: connect with an Upgrade request")
        result = super().get(*args, **kwargs)
        if result is not None:
            await result

    def open(self, *args: Any, **kwargs: Any) -> None:
        wanted = set(self.query_list("topics")) or set(TOPICS)

        def accept(event: Event) -> bool:
            return event.topic in wanted

        self._subscription = self.services.events.subscribe(accept)
        self._pump = asyncio.ensure_future(self._forward(self._subscription))

    async def _forward(self, subscription: Subscription) -> None:
        try:
            async for event in subscription:
                await self.write_message(json.dumps(event.to_json()))
        except (websocket.WebSocketClosedError, StopAsyncIteration):
            pass
        finally:
            subscription.close()

    def on_message(self, message: str | bytes) -> None:
        """Clients do not send anything; pings are handled by Tornado."""

    def on_close(self) -> None:
        if self._subscription is not None:
            self._subscription.close()
        if self._pump is not None:
            self._pump.cancel()


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


OPENAPI: dict[str, Any] = {
    "paths": {
        "/v1/events": {
            "get": {
                "summary": "WebSocket: every change to files, jobs and models",
                "description": (
                    "Upgrade to a WebSocket. Each text frame is an Event. "
                    "`topics` (comma-separated: file, job, model) narrows the stream."
                ),
                "parameters": [
                    {
                        "name": "topics",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "101": {"description": "Switching to the WebSocket protocol"},
                    "400": _error("Not a WebSocket upgrade request"),
                    "403": _error("Not authenticated or not authorized"),
                },
            }
        }
    },
    "schemas": {
        "Event": {
            "type": "object",
            "required": ["topic", "key", "time", "data"],
            "properties": {
                "topic": {"type": "string", "enum": list(TOPICS)},
                "key": {"type": "string"},
                "time": {"type": "number"},
                "data": {"type": "object"},
            },
        }
    },
}

default_handlers: list[tuple[str, Any]] = [(r"/modelfiles/v1/events", EventsHandler)]
