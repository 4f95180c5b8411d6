"""Handlers of sliced uploads: ``v1/uploads`` (create), its slices, complete and cancel.

A browser sends a large file as raw slices (``PUT .../slices?offset=``), in parallel over
several connections if it likes; the core (:mod:`..files.sliced`) writes each at its offset and
``complete`` publishes the same file object as ``POST v1/files``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web
from tornado.http1connection import HTTP1Connection

from ..errors import InvalidRequest, ModelFilesError
from ..files.sliced import SliceWriter
from .base import ModelFilesHandler, path_id
from .files import FLUSH_BYTES, SMALL_BODY, UPLOAD_THREADS, read_larger
from .lingering import LingeringRefusal

_CLEANUPS: set[asyncio.Future[None]] = set()
_FIELDS = ("purpose", "sample_type", "expiry", "visibility")


class UploadsHandler(ModelFilesHandler):
    """``POST v1/uploads``: ``{filename, bytes, purpose, mime_type?}`` -> the upload object."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_body()
        filename = body.get("filename")
        if not isinstance(filename, str) or not filename:
            raise InvalidRequest("'filename' is required: the name of the file being uploaded")
        fields = {name: str(body[name]) for name in _FIELDS if body.get(name) is not None}
        mime_type = body.get("mime_type")
        upload = await asyncio.to_thread(
            self.services.files.create_upload,
            filename,
            body.get("bytes"),  # type: ignore[arg-type]  # checked by the store
            fields,
            mime_type if isinstance(mime_type, str) else None,
        )
        self.write_json(upload.to_json(), status=201)


class UploadHandler(ModelFilesHandler):
    """``GET v1/uploads/{upload_id}`` (the ranges received) and ``DELETE`` (cancel)."""

    @web.authenticated
    @authorized
    async def get(self, upload_id: str) -> None:
        self.write_json(self.services.files.uploads.get(path_id(upload_id)).to_json())

    @web.authenticated
    @authorized
    async def delete(self, upload_id: str) -> None:
        upload = await asyncio.to_thread(self.services.files.uploads.cancel, path_id(upload_id))
        self.write_json(upload.to_json())


class UploadCompleteHandler(ModelFilesHandler):
    """``POST v1/uploads/{upload_id}/complete`` -> the file object."""

    @web.authenticated
    @authorized
    async def post(self, upload_id: str) -> None:
        record = await self.services.files.complete_upload(path_id(upload_id))
        self.write_json(record.to_json())


@web.stream_request_body
class UploadSliceHandler(LingeringRefusal):
    """``PUT v1/uploads/{upload_id}/slices?offset=N``: a raw body written at ``offset``.

    The body streams in before ``put()`` runs, so authentication, authorization and the
    checks of the slice (offset, length, overlaps) happen in ``prepare()``. A slice refused
    there after authentication is answered at once and the rest of its body dropped as it
    arrives (a small one is read first), so the client reads the error, not a reset.
    """

    _body_method = "PUT"
    _writer: SliceWriter | None = None
    _buffer: list[bytes]
    _buffered = 0
    _inflight: asyncio.Future[None] | None = None
    _failed: BaseException | None = None
    _refusal: BaseException | None = None
    _idle_timer: asyncio.TimerHandle | None = None
    _last_data = 0.0

    async def prepare(self) -> None:  # type: ignore[override]
        declared = self.request.headers.get("Content-Length", "")
        small = declared.isdigit() and int(declared) <= SMALL_BODY
        try:
            await super().prepare()  # authentication and the XSRF check
            if self.request.method != "PUT" or self._finished:
                return
            await self._begin(declared)
        except (web.HTTPError, ModelFilesError) as refusal:
            if self.request.method != "PUT":
                raise
            if small:
                # Let a small body arrive (and be dropped) so the client reads the answer
                # from put() instead of a connection reset while it is still sending.
                self._refusal = refusal
            elif isinstance(refusal, ModelFilesError) and self._may_linger():
                self._declared = int(declared) if declared.isdigit() else None
                self._answer_early(refusal)  # the rest of the body is read and dropped
                self._watch_idle()
            else:
                raise  # not authenticated, or waiting for 100 Continue: closed unread

    async def _begin(self, declared: str) -> None:
        """Authorize, check the slice against the upload and reserve its bytes."""
        if self.current_user is None or not self.authorizer.is_authorized(
            self, self.current_user, "write", self.auth_resource
        ):
            raise web.HTTPError(403)
        if not declared.isdigit():
            raise InvalidRequest("a slice needs a Content-Length (chunked bodies are refused)")
        upload_id = path_id(self.path_kwargs["upload_id"])
        if self.get_query_argument("offset", None) is None:
            raise InvalidRequest("'offset' is required: where the slice goes in the file")
        offset = self.query_int("offset", -1, minimum=0, maximum=1 << 62)
        upload = self.services.files.uploads.get(upload_id)
        length = int(declared)
        self._buffer = []
        self._writer = await asyncio.get_running_loop().run_in_executor(
            UPLOAD_THREADS, upload.begin_slice, offset, length
        )
        connection = self.request.connection
        if isinstance(connection, HTTP1Connection):
            connection.set_max_body_size(max(length, 1))
            if length > FLUSH_BYTES:
                read_larger(connection)
        self._watch_idle()

    # -- the idle-body timeout: a stalled slice must not hold its bytes (and its upload) forever
    def _watch_idle(self) -> None:
        timeout = float(self.settings.get("modelfiles_upload_idle_timeout", 0) or 0)
        if timeout > 0:
            loop = asyncio.get_running_loop()
            self._last_data = loop.time()
            self._idle_timer = loop.call_later(timeout, self._check_idle, timeout)

    def _check_idle(self, timeout: float) -> None:
        self._idle_timer = None
        if (self._writer is None and not self._draining) or self._finished:
            return
        loop = asyncio.get_running_loop()
        quiet = loop.time() - self._last_data
        if quiet < timeout:
            self._idle_timer = loop.call_later(timeout - quiet, self._check_idle, timeout)
            return
        if self._draining:
            self._end_drain()  # a refused body that stopped coming: answered, now closed
            return
        # Drop the connection: the slice ends with what arrived (on_connection_close).
        self.request.connection.close()  # type: ignore[union-attr]

    def on_finish(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        super().on_finish()

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        if self._idle_timer is not None:
            self._last_data = asyncio.get_running_loop().time()
        if self._drop(chunk):
            return None
        if self._writer is None or self._failed is not None:
            return None
        self._buffer.append(chunk)
        self._buffered += len(chunk)
        if self._buffered >= FLUSH_BYTES:
            return self._flush()
        return None

    async def _flush(self) -> None:
        """Hand the buffered bytes to a worker thread, keeping one write in flight."""
        if self._inflight is not None:
            inflight, self._inflight = self._inflight, None
            try:
                await inflight
            except BaseException as error:
                self._failed = error
        if self._buffer and self._writer is not None and self._failed is None:
            data = b"".join(self._buffer)
            self._buffer.clear()
            self._buffered = 0
            loop = asyncio.get_running_loop()
            self._inflight = loop.run_in_executor(UPLOAD_THREADS, self._writer.write, data)

    async def _end(self, *, complete: bool) -> None:
        """Write what is left and close the slice (``complete``: the body must be whole)."""
        writer = self._writer
        if writer is None:
            return
        loop = asyncio.get_running_loop()
        try:
            if complete:
                await self._flush()
            self._writer = None
            if self._inflight is not None:
                inflight, self._inflight = self._inflight, None
                try:
                    await inflight
                except BaseException as error:
                    self._failed = self._failed or error
        finally:
            self._writer = None
            end = writer.finish if complete and self._failed is None else writer.abort
            await loop.run_in_executor(UPLOAD_THREADS, end)

    def on_connection_close(self) -> None:
        super().on_connection_close()
        if self._writer is not None:
            task = asyncio.ensure_future(self._end(complete=False))
            _CLEANUPS.add(task)
            task.add_done_callback(_CLEANUPS.discard)

    @web.authenticated
    @authorized
    async def put(self, upload_id: str) -> None:
        if self._draining:  # answered while the body arrived; now it has all been read
            self._end_drain()
            return
        if self._refusal is not None:
            raise self._refusal
        writer = self._writer
        if writer is None:
            return
        await self._end(complete=True)
        if self._failed is not None:
            raise self._failed
        upload = writer.upload
        self.write_json(
            {
                "object": "upload.slice",
                "upload_id": upload.id,
                "offset": writer.offset,
                "bytes": writer.written,
                "received_bytes": upload.received_bytes(),
            }
        )


_ID = r"(?P<upload_id>[^/]+)"
default_handlers: list[tuple[str, Any]] = [
    (r"/modelfiles/v1/uploads/?", UploadsHandler),
    (rf"/modelfiles/v1/uploads/{_ID}/slices/?", UploadSliceHandler),
    (rf"/modelfiles/v1/uploads/{_ID}/complete/?", UploadCompleteHandler),
    (rf"/modelfiles/v1/uploads/{_ID}/?", UploadHandler),
]
