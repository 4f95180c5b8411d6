"""Uploads as the connection sees them: early answers, keep-alive, chunked limits, idle bodies."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import body, eventually
from .multipart import multipart


def leftovers(root: Path) -> list[Path]:
    tmp = root / "files" / ".tmp"
    return list(tmp.iterdir()) if tmp.exists() else []


class RawConnection:
    """One HTTP/1.1 connection to the server, driven byte by byte."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, base: str):
        self.reader, self.writer, self.base = reader, writer, base

    @classmethod
    async def open(cls, port: int, base_url: str) -> RawConnection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer, base_url)

    def head(self, method: str, path: str, token: str, **headers: str) -> bytes:
        lines = [f"{method} {self.base}modelfiles/{path} HTTP/1.1", "Host: localhost"]
        lines.append(f"Authorization: token {token}")
        lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def upload_head(self, token: str, content_type: str, length: int | None = None) -> bytes:
        """The head of ``POST v1/files``: sized, or chunked when ``length`` is None."""
        size = {"Content_Length": str(length)} if length is not None else {}
        chunked = {} if length is not None else {"Transfer_Encoding": "chunked"}
        return self.head("POST", "v1/files", token, Content_Type=content_type, **size, **chunked)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def response(self, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
        raw = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
        status_line, *header_lines = raw.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        content = await asyncio.wait_for(self.reader.readexactly(length), timeout)
        return int(status_line.split()[1]), headers, content

    async def closed_by_server(self, timeout: float = 10.0) -> bool:
        try:
            return await asyncio.wait_for(self.reader.read(1), timeout) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.writer.close()


@pytest.fixture
def raw(http_server_client: Any, jp_http_port: int, jp_base_url: str) -> Any:
    """Open raw connections to the real server (``http_server_client`` makes it listen)."""
    opened: list[RawConnection] = []

    async def connect() -> RawConnection:
        connection = await RawConnection.open(jp_http_port, jp_base_url)
        opened.append(connection)
        return connection

    yield connect
    for connection in opened:
        connection.close()


async def test_a_small_body_that_is_not_multipart_keeps_the_connection_usable(
    raw: Any, token: str
) -> None:
    connection = await raw()
    payload = b'{"file": "not multipart"}'
    await connection.send(
        connection.upload_head(
            token,
            "application/json",
            len(payload),
        )
        + payload
    )
    status, headers, content = await connection.response()
    assert status == 400
    assert json.loads(content)["error"]["code"] == "INVALID_REQUEST"
    assert headers.get("connection", "").lower() != "close"
    # The same keep-alive connection answers the next request.
    await connection.send(connection.head("GET", "v1/files", token))
    status, _headers, content = await connection.response()
    assert status == 200 and json.loads(content)["object"] == "list"


async def test_a_large_refused_body_is_answered_then_read_and_the_connection_kept(
    raw: Any, token: str, modelfiles_root: Path
) -> None:
    connection = await raw()
    size = 8 * 1024 * 1024
    await connection.send(connection.upload_head(token, "text/plain", size))
    # The answer comes before the body is sent...
    status, _headers, content = await connection.response()
    assert status == 400
    assert "multipart/form-data" in json.loads(content)["error"]["message"]
    # ...and the server still reads the body it refused, so the connection stays usable.
    await connection.send(b"x" * size)
    await connection.send(connection.head("GET", "v1/files", token))
    status, _headers, content = await connection.response()
    assert status == 200 and json.loads(content)["total"] == 0
    assert leftovers(modelfiles_root) == []


async def test_a_refused_body_too_large_to_read_is_answered_then_closed(
    raw: Any, token: str, modelfiles_root: Path
) -> None:
    connection = await raw()
    await connection.send(
        connection.upload_head(
            token,
            "text/plain",
            4 * 1024 * 1024 * 1024,
        )
        + b"x" * (64 * 1024)
    )
    status, headers, content = await connection.response()
    assert status == 413
    assert json.loads(content)["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert headers.get("connection", "").lower() == "close"
    # The server reads a bounded amount more (so the answer is not lost to a reset while the
    # client is still sending), then closes.
    with contextlib.suppress(ConnectionError):
        for _ in range(200):
            await connection.send(b"x" * (1024 * 1024))
    assert await connection.closed_by_server()
    assert leftovers(modelfiles_root) == []


class TestChunkedLimit:
    @pytest.fixture
    def modelfiles_config(self) -> dict[str, Any]:
        return {"max_upload_size": 1024 * 1024}

    @pytest.mark.parametrize("chunk_size", [64 * 1024, 4 * 1024 * 1024])
    async def test_a_chunked_body_far_over_the_limit_gets_413_json(
        self, raw: Any, token: str, api: Any, modelfiles_root: Path, chunk_size: int
    ) -> None:
        # 4 MiB over a 1 MiB limit, sent without Content-Length: Tornado's own check would
        # answer an empty 400 ("chunked body too large") and reset the connection.
        payload, ctype = multipart({}, os.urandom(5 * 1024 * 1024))
        connection = await raw()
        await connection.send(connection.upload_head(token, ctype))
        status: int | None = None
        try:
            for start in range(0, len(payload), chunk_size):
                piece = payload[start : start + chunk_size]
                await connection.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            await connection.send(b"0\r\n\r\n")
        except ConnectionError:
            pass  # the server answered and closed while we were still sending
        status, headers, content = await connection.response()
        assert status == 413
        error = json.loads(content)["error"]
        assert error["code"] == "PAYLOAD_TOO_LARGE"
        assert "max_upload_size" in error["message"]
        assert headers.get("connection", "").lower() != "close"
        # The rest of the body was read and dropped: the connection answers the next request.
        await connection.send(connection.head("GET", "v1/files", token))
        status, _headers, content = await connection.response()
        assert status == 200 and json.loads(content)["total"] == 0
        await eventually(lambda: leftovers(modelfiles_root) == [])
        assert body(await api("GET", "v1/files"))["total"] == 0


class TestIdleBody:
    @pytest.fixture
    def modelfiles_config(self) -> dict[str, Any]:
        return {"upload_idle_timeout": 1.0}

    async def test_an_upload_that_stops_sending_is_dropped_with_408(
        self, raw: Any, token: str, api: Any, modelfiles_root: Path
    ) -> None:
        payload, ctype = multipart({}, os.urandom(3 * 1024 * 1024))
        connection = await raw()
        await connection.send(
            connection.upload_head(
                token,
                ctype,
                len(payload),
            )
            + payload[: 2 * 1024 * 1024]
        )
        await eventually(lambda: leftovers(modelfiles_root))  # streaming to disk
        started = time.monotonic()
        status, headers, content = await connection.response(timeout=15)
        assert time.monotonic() - started >= 0.5  # answered by the timer, not at once
        assert status == 408
        error = json.loads(content)["error"]
        assert error["code"] == "REQUEST_TIMEOUT"
        assert "upload_idle_timeout" in error["message"]
        assert headers.get("connection", "").lower() == "close"
        assert await connection.closed_by_server()
        await eventually(lambda: leftovers(modelfiles_root) == [])
        assert body(await api("GET", "v1/files"))["total"] == 0

    async def test_a_slow_but_steady_upload_is_not_dropped(
        self, raw: Any, token: str, api: Any
    ) -> None:
        data = os.urandom(64 * 1024)
        payload, ctype = multipart({}, data)
        connection = await raw()
        await connection.send(
            connection.upload_head(
                token,
                ctype,
                len(payload),
            )
        )
        # 2.4 s in all, never more than 0.6 s quiet: longer than the timeout, never idle for it.
        step = len(payload) // 4 + 1
        for piece in (payload[i : i + step] for i in range(0, len(payload), step)):
            await asyncio.sleep(0.6)
            await connection.send(piece)
        status, _headers, content = await connection.response()
        assert status == 200 and json.loads(content)["bytes"] == len(data)


def test_the_default_idle_timeout_is_set_and_bounded() -> None:
    from jupyter_modelfiles.extension import ModelFilesApp

    app = ModelFilesApp()
    assert 0 < app.upload_idle_timeout <= 600
    with pytest.raises(Exception, match="upload_idle_timeout"):
        app.upload_idle_timeout = -1
