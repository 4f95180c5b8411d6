"""Handlers of the uploaded-files store: ``v1/files``, ``v1/files/{id}``, content and URLs.

Uploads are streamed: the body is parsed and written on worker threads as it arrives, the
size limit is enforced while streaming, and a dropped connection leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import os
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote, urlencode

from jupyter_server.auth.decorator import allow_unauthenticated, authorized
from jupyter_server.utils import url_path_join
from tornado import web

from ..errors import InvalidRequest, NotFound, PayloadTooLarge, RangeNotSatisfiable
from ..files.models import PURPOSES, FileRecord, ListQuery
from ..files.names import is_valid_id
from ..files.upload import MultipartUpload
from .base import ModelFilesHandler, path_id

FLUSH_BYTES = 1 << 20
MULTIPART_SLACK = 1 << 20
SMALL_BODY = 1 << 20
READ_CHUNK = 1 << 20
_UPLOAD_THREADS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="modelfiles-upload")
_CLEANUPS: set[asyncio.Future[None]] = set()
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@web.stream_request_body
class FilesHandler(ModelFilesHandler):
    """``POST v1/files`` (streamed multipart upload) and ``GET v1/files`` (list)."""

    _upload: MultipartUpload | None = None
    _refusal: web.HTTPError | None = None
    _buffer: bytearray
    _inflight: asyncio.Future[None] | None = None
    _received = 0
    _aborted = False

    async def prepare(self) -> None:  # type: ignore[override]
        declared = self.request.headers.get("Content-Length")
        small = declared is not None and declared.isdigit() and int(declared) <= SMALL_BODY
        try:
            await super().prepare()  # authentication and the XSRF check
        except web.HTTPError as refusal:
            if self.request.method != "POST" or not small:
                raise
            # Let a small body arrive (and be dropped) so the client reads a clean 403
            # from post() instead of a connection reset while it is still sending.
            self._refusal = refusal
            return
        if self.request.method != "POST" or self._finished:
            return
        # The body streams in before post() runs, so authenticate and authorize here first.
        allowed = self.current_user is not None and self.authorizer.is_authorized(
            self, self.current_user, "write", self.auth_resource
        )
        if not allowed:
            if small:
                self._refusal = web.HTTPError(403)
                return
            raise web.HTTPError(403)
        store = self.services.files
        limit = store.max_upload_size + MULTIPART_SLACK
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(
                f"the upload ({int(declared)} bytes) is larger than the limit of "
                f"{store.max_upload_size} bytes; ask an admin to raise "
                "ModelFilesApp.max_upload_size"
            )
        self.request.connection.set_max_body_size(limit)  # type: ignore[attr-defined]
        self._buffer = bytearray()
        self._upload = store.new_upload(self.request.headers.get("Content-Type", ""))

    async def data_received(self, chunk: bytes) -> None:
        if self._upload is None or self._aborted or self._finished:
            return
        self._received += len(chunk)
        self._buffer += chunk
        if len(self._buffer) >= FLUSH_BYTES:
            try:
                await self._flush()
            except Exception as error:
                await self._abort(error)

    async def _flush(self) -> None:
        """Hand the buffered bytes to a worker thread, keeping one write in flight."""
        assert self._upload is not None
        if self._inflight is not None:
            inflight, self._inflight = self._inflight, None
            await inflight
        if self._buffer:
            data = bytes(self._buffer)
            self._buffer.clear()
            loop = asyncio.get_running_loop()
            self._inflight = loop.run_in_executor(_UPLOAD_THREADS, self._upload.feed, data)

    async def _drain(self) -> None:
        await self._flush()
        if self._inflight is not None:
            inflight, self._inflight = self._inflight, None
            await inflight

    async def _abort(self, error: BaseException) -> None:
        """Stop receiving, delete what was written, answer with the error at once."""
        self._aborted = True
        await self._discard()
        if not self._finished:
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
        await asyncio.get_running_loop().run_in_executor(_UPLOAD_THREADS, upload.discard)

    def on_connection_close(self) -> None:
        super().on_connection_close()
        if self._upload is not None:
            task = asyncio.ensure_future(self._discard())
            _CLEANUPS.add(task)
            task.add_done_callback(_CLEANUPS.discard)

    @web.authenticated
    @authorized
    async def post(self) -> None:
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
    (rf"/modelfiles/v1/files/{_ID}/content", FileContentHandler),
    (rf"/modelfiles/v1/files/{_ID}/url", FileUrlHandler),
    (rf"/modelfiles/v1/signed/files/{_ID}/content", SignedContentHandler),
    (rf"/modelfiles/v1/files/{_ID}/?", FileHandler),
]
