"""``WS v1/events`` as the sidebar uses it: authenticated, file changes as JSON events."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from .conftest import body
from .multipart import multipart


async def _next_event(ws: Any, timeout: float = 5) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.read_message(), timeout)
    assert message is not None, "socket closed"
    return json.loads(message)


async def test_events_stream_file_changes(jp_ws_fetch: Any, api: Any) -> None:
    ws = await jp_ws_fetch("modelfiles", "v1", "events")
    try:
        data = b'{"a": 1}\n'
        payload, content_type = multipart({"purpose": "batch"}, data, filename="in.jsonl")
        created = body(
            await api("POST", "v1/files", body=payload, headers={"Content-Type": content_type})
        )
        event = await _next_event(ws)
        assert event["topic"] == "file"
        assert event["key"] == created["id"]
        assert event["data"]["filename"] == "in.jsonl"
        assert isinstance(event["time"], float)
        await api("DELETE", f"v1/files/{created['id']}")
        event = await _next_event(ws)
        assert event["data"] == {"id": created["id"], "object": "file", "deleted": True}
    finally:
        ws.close()


async def test_events_require_auth(jp_ws_fetch: Any) -> None:
    with pytest.raises(HTTPClientError) as info:
        await jp_ws_fetch("modelfiles", "v1", "events", headers={"Authorization": ""})
    assert info.value.code == 403
