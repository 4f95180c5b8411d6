"""A minimal blocking HTTP/1.1 client for the data path (``http.client`` on raw sockets).

Chosen by measurement (benchmarks/bench_http_clients.py, 1 GiB from nginx on loopback,
download + SHA-256 in one pass, same loaded 2-core box): httpx 22.6 s sync / 25.3 s async
(8.1-8.7 CPU-s), aiohttp ``iter_chunked`` 5.7 s (3.0 CPU-s), ``http.client`` + ``readinto1``
into one reused 1 MiB buffer 4.3 s (2.95 CPU-s), all with correct digests. Only what the
engine needs: one request per call, keep-alive, manual redirects, a per-``recv`` timeout
(stall detection, also before the first byte), bodies read straight into caller buffers.

The body of a plain-HTTP response is read with ``socket.recv_into(buffer, MSG_WAITALL)`` on a
blocking socket whose ``SO_RCVTIMEO`` is the stall timeout: one system call (and one trip
through Python) fills a whole 1 MiB buffer, instead of one per 64-256 KiB that loopback
hands over. The kernel returns early with what it has when the timeout passes, so a trickle
is still seen within one timeout, and a stall with nothing is ``EAGAIN`` (a timeout).
"""

from __future__ import annotations

import http.client
import io
import socket
import struct
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from .destinations import SCHEMES, DestinationPolicy, DestinationRefused, ascii_host

REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 10
#: Headers that carry credentials: sent only to the origin they were given for.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` of ``url``, lower-cased, with the scheme's default port."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme)


def headers_for(headers: dict[str, str], given_for: str, url: str) -> dict[str, str]:
    """``headers`` to send to ``url``: credentials only if ``url`` has the origin (scheme,
    host and port) of ``given_for``, the URL they were given for."""
    if origin_of(url) == origin_of(given_for):
        return dict(headers)
    return {k: v for k, v in headers.items() if k.lower() not in CREDENTIAL_HEADERS}


class HTTPClientError(Exception):
    """A transport failure (connect, reset, timeout, bad status line): always retryable."""


@dataclass
class Response:
    """A response whose body is read by the caller through :meth:`readinto`."""

    url: str
    status: int
    reason: str
    headers: dict[str, str]  # lower-case names
    raw: http.client.HTTPResponse
    conn: Connection
    _direct: socket.socket | None = field(default=None, repr=False)

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    @property
    def length(self) -> int | None:
        value = self.header("content-length")
        try:
            return int(value) if value else None
        except ValueError:
            return None

    @property
    def chunked(self) -> bool:
        return self.raw.chunked

    def readinto(self, buffer: memoryview) -> int:
        """Read at most one socket's worth of body into ``buffer`` (0 at the end)."""
        try:
            if self.raw.chunked or self.raw.length is None:
                return self.raw.readinto(buffer)
            if self.raw.length <= 0:
                return 0
            view = buffer[: self.raw.length]
            if self._direct is not None:
                n = self._direct.recv_into(view, len(view), socket.MSG_WAITALL)
            else:
                fp = self.raw.fp
                if fp is None:
                    return 0
                n = fp.readinto1(view)
                # A readinto1 larger than its buffer leaves the BufferedReader empty: from
                # now on the socket itself can be read.
                if len(view) > io.DEFAULT_BUFFER_SIZE and self.raw.length > n:
                    self._direct = self.conn.direct_socket()
            if n == 0:
                raise HTTPClientError("connection closed before the end of the body")
            self.raw.length -= n
            if self.raw.length == 0:
                self._end_direct()
                self.raw.read()  # marks the response closed so the connection can be reused
            return n
        except BlockingIOError:  # SO_RCVTIMEO passed with no byte at all
            self.conn.close()
            raise TimeoutError("no data within the stall timeout") from None
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            if isinstance(exc, socket.timeout | TimeoutError):
                raise
            raise HTTPClientError(f"{type(exc).__name__}: {exc}") from exc

    def _end_direct(self) -> None:
        """Back to Python's timeout mode for the next response's status line and headers."""
        if self._direct is not None:
            self._direct.settimeout(self.conn.timeout)
            self._direct = None

    @property
    def complete(self) -> bool:
        return not self.raw.chunked and self.raw.length == 0

    def release(self) -> None:
        """Keep the connection for the next request if the body was read fully, else close."""
        if not self.complete:
            self.conn.close()


class Connection:
    """One keep-alive connection to one origin, re-opened when the origin changes.

    With a ``policy``, every connection (first URL, redirects, reconnects) goes only to an
    address the policy permits; host names go on the wire in their IDNA form.
    """

    def __init__(self, timeout: float, policy: DestinationPolicy | None = None):
        self.timeout = timeout
        self.policy = policy
        self._conn: http.client.HTTPConnection | None = None
        self._origin: tuple[str, str, int | None] | None = None

    def _open(self, scheme: str, host: str, port: int | None) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        conn = cls(ascii_host(host), port, timeout=self.timeout)
        if self.policy is not None:
            conn._create_connection = self.policy.connect  # type: ignore[attr-defined]
        return conn

    def direct_socket(self) -> socket.socket | None:
        """The plain TCP socket, switched to blocking reads bounded by ``SO_RCVTIMEO``.

        None for TLS (``SSLSocket`` takes no ``MSG_WAITALL``): those bodies keep
        ``readinto1``.
        """
        conn = self._conn
        sock = conn.sock if conn is not None else None
        if sock is None or type(sock) is not socket.socket:
            return None
        seconds = int(self.timeout)
        micros = int((self.timeout - seconds) * 1_000_000)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", seconds, micros))
        sock.settimeout(None)
        return sock

    def close(self) -> None:
        """Close now; safe from another thread (it unblocks a pending ``recv``)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                sock = conn.sock
                if sock is not None:
                    sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                conn.close()
            except OSError:
                pass

    def request(self, method: str, url: str, headers: dict[str, str]) -> Response:
        """Send one request; return the response with its body unread."""
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES or not parts.hostname:
            raise DestinationRefused(f"only http and https URLs are downloaded, not {url[:200]}")
        origin = (parts.scheme, parts.hostname, parts.port)
        if self._conn is None or origin != self._origin:
            self.close()
            self._conn = self._open(parts.scheme, parts.hostname, parts.port)
            self._origin = origin
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        for attempt in (1, 2):
            conn = self._conn
            if conn is None:
                raise HTTPClientError("connection closed")
            try:
                conn.request(method, target, headers=headers)
                raw = conn.getresponse()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                # A stale keep-alive connection: retry once on a fresh one.
                self.close()
                self._conn = self._open(parts.scheme, parts.hostname, parts.port)
                if attempt == 2:
                    raise HTTPClientError(f"{type(exc).__name__}: {exc}") from exc
            except TimeoutError:
                self.close()
                raise
            except DestinationRefused:
                self.close()
                raise
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise HTTPClientError(f"{type(exc).__name__}: {exc}") from exc
        headers_out = {k.lower(): v for k, v in raw.getheaders()}
        return Response(url, raw.status, raw.reason, headers_out, raw, self)

    def request_following(
        self, method: str, url: str, headers: dict[str, str]
    ) -> tuple[Response, str]:
        """Like :meth:`request` but follows redirects; returns the response and final URL.

        ``headers`` are meant for ``url``'s origin: their credentials are sent to no other
        (see :func:`headers_for`).
        """
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            response = self.request(method, current, headers_for(headers, url, current))
            if response.status not in REDIRECTS:
                return response, current
            location = response.header("location")
            drain(response)
            if not location:
                raise HTTPClientError(f"redirect {response.status} without a Location header")
            current = urljoin(current, location)
            if urlsplit(current).scheme not in SCHEMES:
                raise DestinationRefused(
                    f"the origin redirected to a {urlsplit(current).scheme or 'scheme-less'}: "
                    f"URL ({current[:200]}); only http and https redirects are followed"
                )
        raise HTTPClientError(f"more than {MAX_REDIRECTS} redirects from {url}")


def drain(response: Response, limit: int = 64 * 1024) -> bytes:
    """Read a small body (error pages, redirects) so the connection can be reused."""
    try:
        if response.raw.length is not None and response.raw.length > limit:
            response.conn.close()
            return b""
        data = response.raw.read(limit)
    except (OSError, http.client.HTTPException):
        response.conn.close()
        return b""
    response.release()
    return data
