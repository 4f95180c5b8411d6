"""Handlers of the uploaded-files store: ``v1/files``, ``v1/files/{id}``, content and URLs.

Uploads are streamed: the body is parsed and written on worker threads as it arrives, the
size limit is enforced while streaming, and a dropped connection leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import copy
import os
import re
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote, urlencode

from jupyter_server.auth.decorator import allow_unauthenticated, authorized
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.http1connection import HTTP1Connection

from ..defaults import upload_too_large
from ..errors import (
    InvalidRequest,
    ModelFilesError,
    NotFound,
    PayloadTooLarge,
    RangeNotSatisfiable,
    RequestTimeout,
)
from ..files.models import PURPOSES, FileRecord, ListQuery, purposes_payload
from ..files.names import is_valid_id
from ..files.upload import MultipartUpload
from .base import ModelFilesHandler, path_id
from .lingering import LingeringRefusal

FLUSH_BYTES = 1 << 20
MULTIPART_SLACK = 1 << 20
SMALL_BODY = 1 << 20
READ_CHUNK = 1 << 20
UPLOAD_READ_BYTES = 1 << 20
UNBOUNDED = 1 << 62
UPLOAD_THREADS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="modelfiles-upload")
_CLEANUPS: set[asyncio.Future[None]] = set()
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def read_larger(connection: HTTP1Connection) -> None:
    """Read this connection's bodies in pieces of up to ``UPLOAD_READ_BYTES``, not Tornado's
    64 KiB: a GiB is then a few thousand ``data_received`` calls instead of 16,384, and a
    piece is handed to the writer as it is (no join). Tornado shares one parameters object
    among connections, so this one gets its own copy."""
    params = copy.copy(connection.params)
    params.chunk_size = max(params.chunk_size, UPLOAD_READ_BYTES)
    connection.params = params
    stream = connection.stream
    stream.read_chunk_size = max(
        stream.read_chunk_size, min(UPLOAD_READ_BYTES, stream.max_buffer_size // 2)
    )


@web.stream_request_body
class FilesHandler(LingeringRefusal):
    """``POST v1/files`` (streamed multipart upload) and ``GET v1/files`` (list).

    An upload refused while its body is still arriving (too large, not multipart, malformed)
    is answered at once, then the rest of the body is read and dropped ("lingering close", up
    to ``DRAIN_BYTES``), so the client reads the JSON error instead of a connection reset.
    """

    _upload: MultipartUpload | None = None
    _refusal: Exception | None = None
    _buffer: list[bytes]  # received chunks not yet handed to the writer, joined once
    _buffered = 0
    _inflight: asyncio.Future[None] | None = None
    _limit = 0
    _aborted = False
    _idle_timer: asyncio.TimerHandle | None = None
    _idle_timeout = 0.0
    _last_data = 0.0

    async def prepare(self) -> None:  # type: ignore[override]
        declared = self.request.headers.get("Content-Length")
        size = int(declared) if declared is not None and declared.isdigit() else None
        small = size is not None and size <= SMALL_BODY
        self._declared = size
        try:
            await super().prepare()  # authentication and the XSRF check
        except web.HTTPError as refusal:
            if self.request.method != "POST" or not small:
                raise
            # Let a small body arrive (and be dropped) so the client reads a clean 403
            # from post() instead of a connection reset while it is still sending.
            self._refuse_after_body(refusal)
            return
        if self.request.method != "POST" or self._finished:
            return
        # The body streams in before post() runs, so authenticate and authorize here first.
        allowed = self.current_user is not None and self.authorizer.is_authorized(
            self, self.current_user, "write", self.auth_resource
        )
        if not allowed:
            if small:
                self._refuse_after_body(web.HTTPError(403))
                return
            raise web.HTTPError(403)
        self._watch_idle()
        store = self.services.files
        self._limit = store.max_upload_size + MULTIPART_SLACK
        # A sized body is bounded by Tornado; a chunked one by data_received, which answers
        # 413 with a JSON error (Tornado's own check would send an empty 400 and a reset).
        connection = self.request.connection
        if isinstance(connection, HTTP1Connection):
            connection.set_max_body_size(UNBOUNDED if size is None else max(size, self._limit))
            if size is None or size > SMALL_BODY:
                read_larger(connection)
        try:
            if size is not None and size > self._limit:
                raise PayloadTooLarge(upload_too_large(store.max_upload_size, size))
            self._buffer = []
            self._upload = store.new_upload(self.request.headers.get("Content-Type", ""), size)
        except ModelFilesError as error:
            if small:
                self._refuse_after_body(error)
            elif self._may_linger():
                self._answer_early(error)
            else:
                raise

    def _answer_early(self, error: BaseException) -> None:
        self._aborted = True  # nothing more of this body is stored
        super()._answer_early(error)

    def _refuse_after_body(self, error: Exception) -> None:
        """Answer ``error`` from post(), once the small body is read: the connection stays open."""
        self._refusal = error
        self._watch_idle()

    # -- the idle-body timeout ---------------------------------------------------------------
    def _watch_idle(self) -> None:
        timeout = float(self.settings.get("modelfiles_upload_idle_timeout", 0) or 0)
        if timeout <= 0 or self._idle_timer is not None:
            return
        loop = asyncio.get_running_loop()
        self._idle_timeout = timeout
        self._last_data = loop.time()
        self._idle_timer = loop.call_later(timeout, self._check_idle)

    def _check_idle(self) -> None:
        self._idle_timer = None
        if self._finished or self._body_complete:
            return
        loop = asyncio.get_running_loop()
        quiet = loop.time() - self._last_data
        if quiet < self._idle_timeout:
            self._idle_timer = loop.call_later(self._idle_timeout - quiet, self._check_idle)
            return
        if self._draining:
            self._end_drain()
            return
        error = RequestTimeout(
            f"the upload sent no data for {self._idle_timeout:g} s and was dropped; "
            "ModelFilesApp.upload_idle_timeout sets this limit"
        )
        task = asyncio.ensure_future(self._abort(error))
        _CLEANUPS.add(task)
        task.add_done_callback(_CLEANUPS.discard)

    def _stop_idle_watch(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def on_finish(self) -> None:
        self._stop_idle_watch()
        super().on_finish()

    # -- receiving ---------------------------------------------------------------------------
    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        """Buffer a chunk of the body; a coroutine only when there is I/O to wait for (a 1 GiB
        body arrives in tens of thousands of chunks: most of them cost no coroutine)."""
        if self._idle_timer is not None:
            self._last_data = asyncio.get_running_loop().time()
        if self._drop(chunk):
            return None
        if self._upload is None or self._aborted or self._finished:
            return None
        self._received += len(chunk)
        if self._received > self._limit:
            return self._abort(
                PayloadTooLarge(upload_too_large(self.services.files.max_upload_size)), linger=True
            )
        self._buffer.append(chunk)
        self._buffered += len(chunk)
        if self._buffered >= FLUSH_BYTES:
            return self._flush_or_abort()
        return None

    async def _flush_or_abort(self) -> None:
        try:
            await self._flush()
        except Exception as error:
            await self._abort(error, linger=True)

    async def _flush(self) -> None:
        """Hand the buffered bytes to a worker thread, keeping one write in flight."""
        assert self._upload is not None
        if self._inflight is not None:
            inflight, self._inflight = self._inflight, None
            await inflight
        if self._buffer:
            data = b"".join(self._buffer)
            self._buffer.clear()
            self._buffered = 0
            loop = asyncio.get_running_loop()
            self._inflight = loop.run_in_executor(UPLOAD_THREADS, self._upload.feed, data)

    async def _drain(self) -> None:
        await self._flush()
        if self._inflight is not None:
            inflight, self._inflight = self._inflight, None
            await inflight

    async def _abort(self, error: BaseException, *, linger: bool = False) -> None:
        """Stop receiving, delete what was written, answer with the error at once.

        ``linger``: read (and drop) the rest of the body after answering, as far as
        ``DRAIN_BYTES``, so that a client still sending gets the answer, not a reset.
        """
        self._aborted = True
        await self._discard()
        if linger and isinstance(error, ModelFilesError) and error.status < 500:
            self._answer_early(error)
        elif not self._finished:
            self.send_error(getattr(error, "status", 500), exc_info=(type(error), error, None))

    async def _discard(self) -> None:
        upload, self._upload = self._upload, None
        if upload is None:
            return
        if self._inflight is not None:
            try:
                await self._inflight
            except Exception:
                pass
            self._inflight = None
        await asyncio.get_running_loop().run_in_executor(UPLOAD_THREADS, upload.discard)

    def on_connection_close(self) -> None:
        super().on_connection_close()
        self._stop_idle_watch()
        if self._upload is not None:
            task = asyncio.ensure_future(self._discard())
            _CLEANUPS.add(task)
            task.add_done_callback(_CLEANUPS.discard)

    @web.authenticated
    @authorized
    async def post(self) -> None:
        self._stop_idle_watch()
        if self._draining:  # answered while the body arrived; now it has all been read
            self._end_drain()
            return
        if self._refusal is not None:
            raise self._refusal
        if self._finished or self._aborted or self._upload is None:
            return
        upload = self._upload
        try:
            await self._drain()
        except Exception:
            await self._discard()
            raise
        self._upload = None
        record = await self.services.files.publish_upload(upload)
        self.write_json(record.to_json())

    @web.authenticated
    @authorized
    async def get(self) -> None:
        purpose = self.query_str("purpose")
        if purpose is not None and purpose not in PURPOSES:
            raise InvalidRequest(
                f"unknown purpose {purpose[:64]!r}; use one of: {', '.join(PURPOSES)}"
            )
        order = self.query_str("order", "desc")
        if order not in ("asc", "desc"):
            raise InvalidRequest("order must be 'asc' or 'desc'")
        limit_raw = self.get_query_argument("limit", None)
        query = ListQuery(
            page=self.query_int("page", 0, minimum=0, maximum=10_000_000),
            page_size=self.query_int("page_size", 100, minimum=1, maximum=1000),
            after=self.query_str("after") or None,
            limit=self.query_int("limit", 20, minimum=1, maximum=10_000) if limit_raw else None,
            order=order or "desc",
            search=self.query_str("search") or None,
            purpose=purpose or None,
            sources=self.query_list("source"),
            sample_types=self.query_list("sample_type"),
            mimetypes=self.query_list("mimetypes"),
            include_total=self.query_bool("include_total") is not False,
        )
        result = await self.services.files.list(query)
        self.write_json(result.to_json())


class FileHandler(ModelFilesHandler):
    """``GET`` / ``DELETE v1/files/{file_id}``."""

    @web.authenticated
    @authorized
    async def get(self, file_id: str) -> None:
        record = await self.services.files.get(path_id(file_id))
        self.write_json(record.to_json())

    @web.authenticated
    @authorized
    async def delete(self, file_id: str) -> None:
        self.write_json(await self.services.files.delete(path_id(file_id)))


class _ContentMixin(ModelFilesHandler):
    """Serve a stored file's bytes with ``Range``, ``ETag`` and ``Content-Disposition``."""

    def finish(self, chunk: Any = None) -> Any:
        # APIHandler.finish would stamp application/json on the bytes; errors set it themselves.
        self.update_api_activity()
        return web.RequestHandler.finish(self, chunk)

    async def serve(self, record: FileRecord, *, head: bool = False) -> None:
        path = self.services.files.blob_path(record.id)
        size = record.bytes
        etag = f'"{record.sha256}"'
        self.set_header("ETag", etag)
        self.set_header("Accept-Ranges", "bytes")
        # The bytes are the user's: always octet-stream (Mistral's contract); the record's
        # ``mimetype`` tells what they are.
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Disposition", content_disposition(record.filename))
        self.set_header("Cache-Control", "private, no-transform")
        if etag in _etags(self.request.headers.get("If-None-Match", "")):
            self.set_status(304)
            self.finish()
            return
        start, end = 0, size - 1
        range_header = self.request.headers.get("Range")
        if_range = self.request.headers.get("If-Range")
        if range_header and (if_range is None or if_range == etag):
            start, end = parse_range(range_header, size)
            self.set_status(206)
            self.set_header("Content-Range", f"bytes {start}-{end}/{size}")
        length = max(0, end - start + 1)
        self.set_header("Content-Length", str(length))
        if head or length == 0:
            self.finish()
            return
        loop = asyncio.get_running_loop()
        with open(path, "rb") as handle:
            position = start
            while position <= end:
                count = min(READ_CHUNK, end - position + 1)
                chunk = await loop.run_in_executor(None, os.pread, handle.fileno(), count, position)
                if not chunk:
                    break
                self.write(chunk)
                await self.flush()
                position += len(chunk)
        self.finish()


class FileContentHandler(_ContentMixin):
    """``GET v1/files/{file_id}/content``."""

    @web.authenticated
    @authorized
    async def get(self, file_id: str) -> None:
        await self.serve(await self.services.files.get(path_id(file_id)))

    @web.authenticated
    @authorized
    async def head(self, file_id: str) -> None:
        await self.serve(await self.services.files.get(path_id(file_id)), head=True)


class SignedContentHandler(_ContentMixin):
    """``GET v1/signed/files/{file_id}/content?expires=&signature=``: the signature is the auth."""

    def check_xsrf_cookie(self) -> None:
        return None

    @allow_unauthenticated
    async def get(self, file_id: str) -> None:
        file_id = path_id(file_id)
        store = self.services.files
        if not is_valid_id(file_id):
            raise NotFound(f"no file with id {file_id[:80]!r}")
        store.signer.verify(
            file_id,
            self.get_query_argument("expires", None),
            self.get_query_argument("signature", None),
        )
        await self.serve(await store.get(file_id))


class FilePurposesHandler(ModelFilesHandler):
    """``GET v1/files/purposes``: the purposes an upload may name (one list for every face)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json(purposes_payload())


class FileUrlHandler(ModelFilesHandler):
    """``GET v1/files/{file_id}/url?expiry=H``: an absolute signed URL (Mistral)."""

    @web.authenticated
    @authorized
    async def get(self, file_id: str) -> None:
        file_id = path_id(file_id)
        store = self.services.files
        expiry = self.query_float("expiry", store.default_expiry_hours, minimum=0)
        params = await store.signed_url_params(file_id, expiry)
        path = url_path_join(
            self.base_url, "modelfiles/v1/signed/files", quote(file_id, safe=""), "content"
        )
        url = f"{self.request.protocol}://{self.request.host}{path}?{urlencode(params)}"
        self.write_json({"url": url, "expires_at": params["expires"]})


def parse_range(header: str, size: int) -> tuple[int, int]:
    """The inclusive byte range of a single-range ``Range`` header, or 416."""
    match = _RANGE.match(header.strip())
    if not match or (not match.group(1) and not match.group(2)):
        raise RangeNotSatisfiable(
            f"unsupported Range {header[:64]!r}; use bytes=START-END",
            headers={"Content-Range": f"bytes */{size}"},
        )
    first, last = _position(match.group(1)), _position(match.group(2))
    if first is not None:
        start = first
        end = min(last, size - 1) if last is not None else size - 1
    else:
        suffix = last or 0
        start, end = max(0, size - suffix), size - 1
        if suffix == 0:
            start = size
    if start >= size or start > end:
        raise RangeNotSatisfiable(
            f"range {header[:64]!r} is outside the file's {size} bytes",
            headers={"Content-Range": f"bytes */{size}"},
        )
    return start, end


def _position(digits: str | None) -> int | None:
    """A byte position of a ``Range`` header; one of more than 20 digits is past any file
    (Python refuses to convert numbers of over 4,300 digits)."""
    if not digits:
        return None
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 20 else 10**20


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback and the UTF-8 name (RFC 6266 / 5987)."""
    fallback = (
        "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in filename) or "file"
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _etags(header: str) -> set[str]:
    return {tag.strip() for tag in header.split(",") if tag.strip()}


_ID = r"(?P<file_id>[^/]+)"
default_handlers: list[tuple[str, Any]] = [
    (r"/modelfiles/v1/files/?", FilesHandler),
    (r"/modelfiles/v1/files/purposes", FilePurposesHandler),
    (rf"/modelfiles/v1/files/{_ID}/content", FileContentHandler),
    (rf"/modelfiles/v1/files/{_ID}/url", FileUrlHandler),
    (rf"/modelfiles/v1/signed/files/{_ID}/content", SignedContentHandler),
    (rf"/modelfiles/v1/files/{_ID}/?", FileHandler),
]
