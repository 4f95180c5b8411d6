"""A real HTTP origin on 127.0.0.1 serving generated files, with switchable faults.

Files are deterministic bytes; the origin answers Range (206 + Content-Range), If-Range,
ETag, and a probe ``Range: bytes=0-0``. ``origin.fault(kind, times=n, ...)`` makes the next
``n`` matching requests misbehave:

- ``reset`` (``after`` bytes then close), ``stall`` (headers, ``after`` bytes, then nothing),
  ``trickle`` (``rate`` bytes/s), ``full`` (200 with the whole file instead of 206),
  ``wrong_range`` (a Content-Range for other bytes), ``status`` (``code``, optional
  ``retry_after``, e.g. 416, 429, 503, 404), ``html`` (200 with an HTML error page),
  ``change`` (the file's content and ETag change from this request on; ``size`` may differ).

``/signed/<name>`` redirects to ``/data/<name>?expires=..&sig=..``; once ``expires`` is past,
the data URL answers 403 and the client must resolve ``/signed/<name>`` again. With
``redirect_to`` set to another origin (another port: the Hub and its CDN), the redirect points
there. ``/redirect/<name>`` answers 302 to ``redirects[name]`` (any Location, ``file:`` too).
Each request's ``Authorization`` and ``Host`` headers are recorded, with the client's port
(``peer``: requests with the same one came over one keep-alive connection).
"""

from __future__ import annotations

import hashlib
import hmac
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

_KEY = b"origin-signing-key"


def generate(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


@dataclass
class Fault:
    kind: str
    times: int = 1
    probes: bool = False  # also apply to ``Range: bytes=0-0`` probes
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Served:
    data: bytes
    etag: str
    content_type: str = "application/octet-stream"


class Origin:
    """Start with ``with Origin() as origin:``; add files; set faults; read ``requests``."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host  # another local address: reachable from a network namespace too
        self.files: dict[str, Served] = {}
        self.faults: list[Fault] = []
        self.requests: list[dict[str, Any]] = []
        self.rate: int | None = None  # bytes/s for every body (slow origin)
        self.signed_ttl = 1.0
        self.lock = threading.Lock()
        self.ranges = True
        self.chunked = False  # no Content-Length, chunked body (size unknown to the client)
        self.redirect_to: Origin | None = None  # /signed/ redirects to this other origin
        self.redirects: dict[str, str] = {}  # /redirect/<name> -> Location
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- set-up ----------------------------------------------------------------------------
    def add(self, name: str, size: int, seed: int = 0) -> bytes:
        data = generate(size, seed)
        self.files[name] = Served(data, f'"{hashlib.sha256(data).hexdigest()[:20]}"')
        return data

    def replace(self, name: str, data: bytes) -> None:
        with self.lock:
            self.files[name] = Served(data, f'"{hashlib.sha256(data).hexdigest()[:20]}"')

    def fault(self, kind: str, times: int = 1, probes: bool = False, **params: Any) -> None:
        with self.lock:
            self.faults.append(Fault(kind, times, probes, params))

    @property
    def base(self) -> str:
        assert self._server is not None
        return f"http://{self.host}:{self._server.server_address[1]}"

    def url(self, name: str, *, signed: bool = False) -> str:
        return f"{self.base}/{'signed' if signed else 'data'}/{name}"

    def data_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["range"] != "bytes=0-0"]

    def bytes_served(self, name: str | None = None) -> int:
        """Body bytes written to clients (probes excluded), for one file or all."""
        return sum(
            r["sent"]
            for r in self.data_requests()
            if name is None or r["path"].rsplit("/", 1)[-1] == name
        )

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Origin:
        origin = self

        class Handler(_Handler):
            pass

        Handler.origin = origin
        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Origin:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _take_fault(self, probe: bool) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and (fault.probes or not probe):
                    fault.times -= 1
                    return fault
        return None

    def sign(self, name: str, expires: float) -> str:
        msg = f"{name}:{expires:.3f}".encode()
        return hmac.new(_KEY, msg, hashlib.sha256).hexdigest()


@contextmanager
def running_origin() -> Iterator[Origin]:
    origin = Origin().start()
    try:
        yield origin
    finally:
        origin.stop()


class _Handler(BaseHTTPRequestHandler):
    origin: Origin
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _plain(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _serve(self, head: bool) -> None:
        origin = self.origin
        parts = urlsplit(self.path)
        segments = parts.path.strip("/").split("/", 1)
        range_header = self.headers.get("Range", "")
        record: dict[str, Any] = {
            "path": parts.path,
            "range": range_header,
            "status": None,
            "sent": 0,
            "authorization": self.headers.get("Authorization"),
            "host": self.headers.get("Host"),
            "peer": self.client_address[1],  # the client's port: one TCP connection
            "client": self.client_address[0],
        }
        if len(segments) == 2 and segments[0] == "redirect" and segments[1] in origin.redirects:
            record["status"] = 302
            self._plain(302, headers={"Location": origin.redirects[segments[1]]})
            return
        origin.requests.append(record)
        if len(segments) != 2 or segments[1] not in origin.files:
            record["status"] = 404
            self._plain(404, b"not found")
            return
        kind, name = segments
        if kind == "signed":
            target_origin = origin.redirect_to or origin
            expires = time.time() + target_origin.signed_ttl
            target = f"/data/{name}?expires={expires:.3f}&sig={origin.sign(name, expires)}"
            if origin.redirect_to is not None:
                target = origin.redirect_to.base + target
            record["status"] = 302
            self._plain(302, headers={"Location": target})
            return
        query = parse_qs(parts.query)
        if "sig" in query:
            expires = float(query["expires"][0])
            if origin.sign(name, expires) != query["sig"][0] or time.time() > expires:
                record["status"] = 403
                self._plain(
                    403, b"<Error>Request has expired</Error>", {"Content-Type": "application/xml"}
                )
                return
        probe = range_header == "bytes=0-0"
        fault = origin._take_fault(probe)
        if fault is not None and fault.kind == "change":
            size = fault.params.get("size", len(origin.files[name].data))
            origin.replace(name, generate(size, fault.params.get("seed", 99)))
            fault = None
        served = origin.files[name]
        data = served.data
        if fault is not None and fault.kind == "status":
            code = int(fault.params["code"])
            headers = {"Content-Type": "text/plain"}
            if "retry_after" in fault.params:
                headers["Retry-After"] = str(fault.params["retry_after"])
            if code == 416:
                headers["Content-Range"] = f"bytes */{len(data)}"
            record["status"] = code
            self._plain(code, f"error {code}".encode(), headers)
            return
        if fault is not None and fault.kind == "html":
            record["status"] = 200
            self._plain(
                200,
                b"<!DOCTYPE html><html><body>Service unavailable</body></html>",
                {"Content-Type": "text/html; charset=utf-8"},
            )
            return
        start, end = 0, len(data)
        partial = False
        if range_header and origin.ranges and not (fault and fault.kind == "full"):
            if_range = self.headers.get("If-Range")
            if not if_range or if_range == served.etag:
                spec = range_header.removeprefix("bytes=")
                first, _, last = spec.partition("-")
                start = int(first)
                end = min(len(data), int(last) + 1) if last else len(data)
                if start >= len(data):
                    record["status"] = 416
                    self._plain(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                    return
                partial = True
        body = data[start:end]
        self.send_response(206 if partial else 200)
        record["status"] = 206 if partial else 200
        self.send_header("Content-Type", served.content_type)
        self.send_header("ETag", served.etag)
        self.send_header("Last-Modified", "Mon, 02 Nov 2026 10:00:00 GMT")
        if origin.ranges:
            self.send_header("Accept-Ranges", "bytes")
        if partial:
            first, last = start, end - 1
            if fault is not None and fault.kind == "wrong_range":
                first, last = start + 1, end
            self.send_header("Content-Range", f"bytes {first}-{last}/{len(data)}")
        if origin.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if head:
            return
        self._send_body(body, fault, record)

    def _send_body(self, body: bytes, fault: Fault | None, record: dict[str, Any]) -> None:
        origin = self.origin
        limit = len(body)
        if fault is not None and fault.kind in ("reset", "stall"):
            limit = min(limit, int(fault.params.get("after", 0)))
        rate = origin.rate
        if fault is not None and fault.kind == "trickle":
            rate = int(fault.params.get("rate", 100))
        chunk = 64 * 1024 if rate is None else max(1, min(64 * 1024, rate // 20))
        sent = 0
        begun = time.monotonic()
        try:
            while sent < limit:
                piece = body[sent : min(limit, sent + chunk)]
                if origin.chunked:
                    self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                else:
                    self.wfile.write(piece)
                sent += len(piece)
                record["sent"] = sent
                if rate:
                    ahead = sent / rate - (time.monotonic() - begun)
                    if ahead > 0:
                        time.sleep(ahead)
            if fault is not None and fault.kind == "stall":
                self.wfile.flush()
                time.sleep(float(fault.params.get("seconds", 30)))
                self.close_connection = True
                return
            if fault is not None and fault.kind == "reset":
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if origin.chunked:
                self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
