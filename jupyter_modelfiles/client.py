"""httpx clients of the modelfiles REST API (sync and async) and discovery of the server.

``ModelFilesClient()`` with no arguments finds the Jupyter server the way a kernel can:
explicit arguments, then ``JUPYTER_MODELFILES_URL`` / ``JUPYTER_MODELFILES_TOKEN`` (set by the
extension at load, inherited by kernels), then the server whose pid is ``JPY_PARENT_PID``,
then JupyterHub's ``JUPYTERHUB_API_TOKEN`` + ``JUPYTERHUB_SERVICE_PREFIX``.

Errors from the server (``{"error": {"code", "message"}}``) are raised as the classes of
:mod:`jupyter_modelfiles.errors`, carrying the HTTP status and the code.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from .errors import (
    Conflict,
    Forbidden,
    InsufficientStorage,
    InvalidRequest,
    ModelFilesError,
    NotFound,
    PayloadTooLarge,
    RangeNotSatisfiable,
    UpstreamError,
)

__all__ = [
    "AsyncModelFilesClient",
    "ModelFilesClient",
    "ProgressCallback",
    "ServerInfo",
    "ServerNotFound",
    "discover",
    "error_from_response",
]

URL_ENV = "JUPYTER_MODELFILES_URL"
TOKEN_ENV = "JUPYTER_MODELFILES_TOKEN"
CHUNK = 1 << 20
TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled", "already_downloaded"})

#: ``progress(done_bytes, total_bytes)``; total may be ``None`` when unknown.
ProgressCallback = Callable[[int, "int | None"], None]
JSON = dict[str, Any]


class ServerNotFound(ModelFilesError):
    """No running Jupyter server with jupyter-modelfiles could be found or reached."""

    status = 503
    code = "SERVER_NOT_FOUND"


_ERRORS: dict[int, type[ModelFilesError]] = {
    400: InvalidRequest,
    401: Forbidden,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    416: RangeNotSatisfiable,
    502: UpstreamError,
    507: InsufficientStorage,
}


def error_from_response(response: httpx.Response) -> ModelFilesError:
    """The project's exception for an error response (status + code + message)."""
    code: str | None = None
    message = ""
    try:
        payload = json.loads(response.content or b"{}")
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict):
            code = str(error.get("code") or "") or None
            message = str(error.get("message") or "")
        elif "message" in payload:
            message = str(payload["message"])
    if not message:
        text = response.text.strip()
        message = text[:300] if text and not text.startswith("<") else response.reason_phrase
    if response.status_code in (401, 403) and code in (None, "FORBIDDEN") and len(message) < 20:
        message = f"{message}: the server refused the token (check --token / the URL)"
    try:
        method, path = response.request.method, response.request.url.path
    except RuntimeError:
        method, path = "", ""
    cls = _ERRORS.get(response.status_code, ModelFilesError)
    default_code = "INTERNAL_SERVER_ERROR" if response.status_code >= 500 else "INVALID_REQUEST"
    error_obj = cls(
        f"{message} ({method} {path} -> {response.status_code})".strip(),
        status=response.status_code,
        code=code or (cls.code if cls is not ModelFilesError else default_code),
    )
    error_obj.message = message
    return error_obj


# -- discovery -------------------------------------------------------------------------
@dataclass(frozen=True)
class ServerInfo:
    """Where the API lives: ``api_url`` ends with ``modelfiles/``; ``source`` says how found."""

    api_url: str
    token: str
    source: str

    @property
    def events_url(self) -> str:
        """The ``ws(s)://`` URL of the events WebSocket."""
        parts = urlsplit(self.api_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urlunsplit((scheme, parts.netloc, parts.path + "v1/events", "", ""))

    @property
    def server_url(self) -> str:
        """The Jupyter server's root (with its base_url)."""
        return self.api_url[: -len("modelfiles/")] if self.api_url.endswith("modelfiles/") else ""


def _api_url(server_url: str) -> str:
    """``http://host:port/base/`` (or an URL already ending in ``modelfiles/``) -> API root."""
    url = server_url.strip()
    if not url.endswith("/"):
        url += "/"
    if not url.endswith("/modelfiles/"):
        url += "modelfiles/"
    return url


def _local(url: str) -> str:
    """Wildcard listen addresses are not connectable; use loopback."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host in ("0.0.0.0", "::", ""):
        netloc = parts.netloc.replace(host or "", "127.0.0.1", 1) if host else parts.netloc
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url


def discover(url: str | None = None, token: str | None = None) -> ServerInfo:
    """Find the server: explicit args, env vars, ``JPY_PARENT_PID``, then JupyterHub."""
    tried: list[str] = []
    if url:
        return ServerInfo(_api_url(url), token or os.environ.get(TOKEN_ENV, ""), "arguments")
    tried.append("the url argument")
    env_url = os.environ.get(URL_ENV)
    if env_url:
        return ServerInfo(_api_url(env_url), token or os.environ.get(TOKEN_ENV, ""), URL_ENV)
    tried.append(f"${URL_ENV}")
    parent = os.environ.get("JPY_PARENT_PID")
    if parent:
        for info in _running_servers():
            if str(info.get("pid")) == parent.strip():
                return ServerInfo(
                    _api_url(_local(str(info["url"]))),
                    token or str(info.get("token") or ""),
                    f"jupyter server pid {parent}",
                )
        tried.append(f"$JPY_PARENT_PID={parent} (no running server with that pid)")
    else:
        tried.append("$JPY_PARENT_PID (unset)")
    hub_token = os.environ.get("JUPYTERHUB_API_TOKEN")
    hub_prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
    if hub_token and hub_prefix:
        service_url = os.environ.get("JUPYTERHUB_SERVICE_URL")
        if service_url:
            root = _local(service_url)
        else:
            port = os.environ.get("JUPYTERHUB_SERVICE_PORT", "8888")
            root = f"http://127.0.0.1:{port}{hub_prefix}"
        return ServerInfo(_api_url(root), token or hub_token, "JupyterHub single-user server")
    tried.append("$JUPYTERHUB_API_TOKEN + $JUPYTERHUB_SERVICE_PREFIX")
    raise ServerNotFound(
        "no Jupyter server with jupyter-modelfiles was found; tried "
        + ", ".join(tried)
        + ". Start `jupyter lab` (or `jupyter server`) with the extension enabled, or pass "
        "url=/token= (CLI: --url/--token), or set "
        f"{URL_ENV} and {TOKEN_ENV}."
    )


def _running_servers() -> list[dict[str, Any]]:
    try:
        from jupyter_server.serverapp import list_running_servers
    except ImportError:  # pragma: no cover - jupyter_server is a dependency
        return []
    try:
        return list(list_running_servers())
    except OSError:
        return []


# -- request helpers shared by both clients -----------------------------------------------
def _q(identifier: str) -> str:
    """A path segment: ids may contain ``/`` (``org/name``), sent as ``%2F``."""
    return quote(str(identifier), safe="")


def _params(**values: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        out[key] = value
    return out


def _multipart_frame(filename: str, purpose: str, mimetype: str) -> tuple[str, bytes, bytes]:
    """Boundary, head (purpose field + file part headers) and tail of a multipart body."""
    boundary = uuid.uuid4().hex
    safe = filename.replace("\r", "").replace("\n", "").replace('"', "%22")
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="purpose"\r\n\r\n'
        f"{purpose}\r\n"
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{safe}"\r\n'
        f"Content-Type: {mimetype}\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return boundary, head, tail


def _upload_frame(
    path: str | os.PathLike[str], filename: str | None, purpose: str
) -> tuple[Path, int, dict[str, str], bytes, bytes]:
    import mimetypes

    source = Path(path).expanduser()
    if not source.is_file():
        raise InvalidRequest(f"{source} is not a readable file", status=400)
    size = source.stat().st_size
    name = filename or source.name
    mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    boundary, head, tail = _multipart_frame(name, purpose, mimetype)
    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(len(head) + size + len(tail)),
    }
    return source, size, headers, head, tail


def _model_download_body(files: list[str] | None, quantization: str | None) -> JSON:
    body: JSON = {}
    if files:
        body["files"] = list(files)
    if quantization:
        body["quantization"] = quantization
    return body


def _is_terminal(job: JSON) -> bool:
    return str(job.get("status", "")).lower() in TERMINAL_STATUSES


# -- the sync client ----------------------------------------------------------------------
class ModelFilesClient:
    """Blocking client of every modelfiles route (``httpx.Client`` underneath)."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        verify: bool = True,
        server: ServerInfo | None = None,
    ):
        self.server = server or discover(url, token)
        headers = {"Accept": "application/json"}
        if self.server.token:
            headers["Authorization"] = f"token {self.server.token}"
        self._http = httpx.Client(
            base_url=self.server.api_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=10.0),
            verify=verify,
            follow_redirects=False,
        )

    @classmethod
    def discover(cls, url: str | None = None, token: str | None = None) -> ModelFilesClient:
        """A client for the server found by :func:`discover`."""
        return cls(url, token)

    @property
    def api_url(self) -> str:
        return self.server.api_url

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ModelFilesClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ModelFilesClient({self.server.api_url!r})"

    # -- plumbing ------------------------------------------------------------------------
    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request under ``modelfiles/``; raise the project's error on >= 400."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as error:
            raise ServerNotFound(
                f"cannot reach the Jupyter server at {self.server.api_url} "
                f"(found via {self.server.source}): {error}"
            ) from error
        if response.status_code >= 400:
            raise error_from_response(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    # -- files ---------------------------------------------------------------------------
    def upload_file(
        self,
        path: str | os.PathLike[str],
        purpose: str = "user_data",
        *,
        filename: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> JSON:
        """Stream a file from disk to ``POST v1/files``; returns the file object."""
        source, size, headers, head, tail = _upload_frame(path, filename, purpose)

        def body() -> Iterator[bytes]:
            sent = 0
            yield head
            with open(source, "rb") as handle:
                while chunk := handle.read(CHUNK):
                    sent += len(chunk)
                    yield chunk
                    if progress is not None:
                        progress(sent, size)
            yield tail

        if progress is not None:
            progress(0, size)
        timeout = httpx.Timeout(None, connect=10.0)
        return self._json("POST", "v1/files", content=body(), headers=headers, timeout=timeout)

    def list_files(
        self,
        *,
        page: int | None = None,
        page_size: int | None = None,
        search: str | None = None,
        purpose: str | None = None,
        after: str | None = None,
        limit: int | None = None,
        order: str | None = None,
        **filters: Any,
    ) -> JSON:
        """``GET v1/files``: ``{object: "list", data, total, has_more, first_id, last_id}``."""
        params = _params(
            page=page,
            page_size=page_size,
            search=search,
            purpose=purpose,
            after=after,
            limit=limit,
            order=order,
            **filters,
        )
        return self._json("GET", "v1/files", params=params)

    def iter_files(self, *, page_size: int = 100, **filters: Any) -> Iterator[JSON]:
        """Every file, following pages."""
        page = 0
        while True:
            listing = self.list_files(page=page, page_size=page_size, **filters)
            yield from listing["data"]
            if not listing.get("has_more"):
                return
            page += 1

    def get_file(self, file_id: str) -> JSON:
        return self._json("GET", f"v1/files/{_q(file_id)}")

    def delete_file(self, file_id: str) -> JSON:
        return self._json("DELETE", f"v1/files/{_q(file_id)}")

    def file_url(self, file_id: str, expiry: float | None = None) -> str:
        """A signed URL that downloads without a token until ``expiry`` hours pass."""
        payload = self._json("GET", f"v1/files/{_q(file_id)}/url", params=_params(expiry=expiry))
        return str(payload["url"])

    def file_content(
        self, file_id: str, *, start: int | None = None, end: int | None = None
    ) -> bytes:
        """The bytes of a (small) file, or of the inclusive range ``start..end``."""
        headers = _range_header(start, end)
        return self.request("GET", f"v1/files/{_q(file_id)}/content", headers=headers).content

    def download_file(
        self,
        file_id: str,
        dest: str | os.PathLike[str],
        *,
        progress: ProgressCallback | None = None,
    ) -> Path:
        """Stream a stored file to ``dest`` (a directory keeps the stored filename)."""
        target = Path(dest).expanduser()
        url = f"v1/files/{_q(file_id)}/content"
        timeout = httpx.Timeout(None, connect=10.0)
        try:
            with self._http.stream("GET", url, timeout=timeout) as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_from_response(response)
                target = _target_path(target, response, file_id)
                total = _content_length(response)
                done = 0
                partial = target.with_name(target.name + ".part")
                with open(partial, "wb") as handle:
                    for chunk in response.iter_bytes(CHUNK):
                        handle.write(chunk)
                        done += len(chunk)
                        if progress is not None:
                            progress(done, total)
                partial.replace(target)
        except httpx.TransportError as error:
            raise ServerNotFound(f"cannot reach {self.server.api_url}: {error}") from error
        return target

    # -- downloads -----------------------------------------------------------------------
    def start_download(
        self,
        url: str,
        *,
        sha256: str | None = None,
        filename: str | None = None,
        purpose: str | None = None,
    ) -> JSON:
        """``POST v1/downloads``: a job status object (the file lands in the files store)."""
        body = {"url": url, **_params(sha256=sha256, filename=filename, purpose=purpose)}
        return self._json("POST", "v1/downloads", json=body)

    def list_downloads(self) -> Any:
        return self._json("GET", "v1/downloads")

    def get_download(self, job_id: str) -> JSON:
        return self._json("GET", f"v1/downloads/{_q(job_id)}")

    def download_status(self, job_id: str | None = None) -> JSON:
        """``GET v1/models/download/status[/{job_id}]`` (LM Studio's grouping)."""
        path = "v1/models/download/status" + (f"/{_q(job_id)}" if job_id else "")
        return self._json("GET", path)

    def pause_download(self, job_id: str) -> JSON:
        return self._json("POST", f"v1/downloads/{_q(job_id)}/pause")

    def resume_download(self, job_id: str) -> JSON:
        return self._json("POST", f"v1/downloads/{_q(job_id)}/resume")

    def cancel_download(self, job_id: str) -> JSON:
        return self._json("POST", f"v1/downloads/{_q(job_id)}/cancel")

    def wait_download(
        self,
        job_id: str,
        *,
        timeout: float | None = None,
        poll: float = 0.25,
        on_update: Callable[[JSON], None] | None = None,
    ) -> JSON:
        """Poll a job until it completes, fails or is cancelled; returns its last status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get_download(job_id)
            if on_update is not None:
                on_update(job)
            if _is_terminal(job):
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"download {job_id} still {job.get('status')} after {timeout}s")
            time.sleep(poll)

    # -- models --------------------------------------------------------------------------
    def list_models(self, search: str | None = None, **filters: Any) -> Any:
        return self._json("GET", "v1/models", params=_params(search=search, **filters))

    def get_model(self, model_id: str) -> JSON:
        return self._json("GET", f"v1/models/{_q(model_id)}")

    def model_files(self, model_id: str, *, downloaded: bool | None = None) -> list[JSON]:
        """The model's files (Anaconda ``ModelFile`` objects, camelCase)."""
        payload = self._json(
            "GET", f"v1/models/{_q(model_id)}/files", params=_params(downloaded=downloaded)
        )
        return list(payload.get("data", [])) if isinstance(payload, dict) else list(payload)

    def download_model(
        self,
        model_id: str,
        *,
        files: list[str] | None = None,
        quantization: str | None = None,
    ) -> JSON:
        """``POST v1/models/{id}/download``: the model snapshot with its jobs."""
        body = _model_download_body(files, quantization)
        return self._json("POST", f"v1/models/{_q(model_id)}/download", json=body)

    def download_model_ref(self, model: str, *, quantization: str | None = None) -> JSON:
        """``POST v1/models/download`` (LM Studio): a catalog id or a Hugging Face URL."""
        body = {"model": model, **_params(quantization=quantization)}
        return self._json("POST", "v1/models/download", json=body)

    def cancel_model_download(self, model_id: str) -> JSON:
        return self._json("POST", f"v1/models/{_q(model_id)}/download/cancel")

    def load_model(self, model_id: str) -> JSON:
        return self._json("POST", f"v1/models/{_q(model_id)}/load")

    def unload_model(self, model_id: str) -> JSON:
        return self._json("POST", f"v1/models/{_q(model_id)}/unload")

    def system_memory(self) -> JSON:
        """``GET v1/system/memory``: total and available bytes and the RAM budget."""
        return self._json("GET", "v1/system/memory")

    def openapi(self) -> JSON:
        return self._json("GET", "v1/openapi.json")


# -- the async client ---------------------------------------------------------------------
class AsyncModelFilesClient:
    """Async sibling of :class:`ModelFilesClient`: same method names, awaitable."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        verify: bool = True,
        server: ServerInfo | None = None,
    ):
        self.server = server or discover(url, token)
        headers = {"Accept": "application/json"}
        if self.server.token:
            headers["Authorization"] = f"token {self.server.token}"
        self._http = httpx.AsyncClient(
            base_url=self.server.api_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=10.0),
            verify=verify,
            follow_redirects=False,
        )

    @classmethod
    def discover(cls, url: str | None = None, token: str | None = None) -> AsyncModelFilesClient:
        return cls(url, token)

    @property
    def api_url(self) -> str:
        return self.server.api_url

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncModelFilesClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncModelFilesClient({self.server.api_url!r})"

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as error:
            raise ServerNotFound(
                f"cannot reach the Jupyter server at {self.server.api_url} "
                f"(found via {self.server.source}): {error}"
            ) from error
        if response.status_code >= 400:
            raise error_from_response(response)
        return response

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return (await self.request(method, path, **kwargs)).json()

    # -- files ---------------------------------------------------------------------------
    async def upload_file(
        self,
        path: str | os.PathLike[str],
        purpose: str = "user_data",
        *,
        filename: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> JSON:
        """Stream a file from disk (reads on a worker thread) to ``POST v1/files``."""
        source, size, headers, head, tail = _upload_frame(path, filename, purpose)

        async def body() -> AsyncIterator[bytes]:
            sent = 0
            yield head
            handle = await asyncio.to_thread(open, source, "rb")
            try:
                while chunk := await asyncio.to_thread(handle.read, CHUNK):
                    sent += len(chunk)
                    yield chunk
                    if progress is not None:
                        progress(sent, size)
            finally:
                handle.close()
            yield tail

        if progress is not None:
            progress(0, size)
        timeout = httpx.Timeout(None, connect=10.0)
        return await self._json(
            "POST", "v1/files", content=body(), headers=headers, timeout=timeout
        )

    async def list_files(
        self,
        *,
        page: int | None = None,
        page_size: int | None = None,
        search: str | None = None,
        purpose: str | None = None,
        after: str | None = None,
        limit: int | None = None,
        order: str | None = None,
        **filters: Any,
    ) -> JSON:
        params = _params(
            page=page,
            page_size=page_size,
            search=search,
            purpose=purpose,
            after=after,
            limit=limit,
            order=order,
            **filters,
        )
        return await self._json("GET", "v1/files", params=params)

    async def iter_files(self, *, page_size: int = 100, **filters: Any) -> AsyncIterator[JSON]:
        page = 0
        while True:
            listing = await self.list_files(page=page, page_size=page_size, **filters)
            for item in listing["data"]:
                yield item
            if not listing.get("has_more"):
                return
            page += 1

    async def get_file(self, file_id: str) -> JSON:
        return await self._json("GET", f"v1/files/{_q(file_id)}")

    async def delete_file(self, file_id: str) -> JSON:
        return await self._json("DELETE", f"v1/files/{_q(file_id)}")

    async def file_url(self, file_id: str, expiry: float | None = None) -> str:
        payload = await self._json(
            "GET", f"v1/files/{_q(file_id)}/url", params=_params(expiry=expiry)
        )
        return str(payload["url"])

    async def file_content(
        self, file_id: str, *, start: int | None = None, end: int | None = None
    ) -> bytes:
        headers = _range_header(start, end)
        response = await self.request("GET", f"v1/files/{_q(file_id)}/content", headers=headers)
        return response.content

    async def download_file(
        self,
        file_id: str,
        dest: str | os.PathLike[str],
        *,
        progress: ProgressCallback | None = None,
    ) -> Path:
        target = Path(dest).expanduser()
        url = f"v1/files/{_q(file_id)}/content"
        timeout = httpx.Timeout(None, connect=10.0)
        try:
            async with self._http.stream("GET", url, timeout=timeout) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise error_from_response(response)
                target = _target_path(target, response, file_id)
                total = _content_length(response)
                done = 0
                partial = target.with_name(target.name + ".part")
                handle = await asyncio.to_thread(open, partial, "wb")
                try:
                    async for chunk in response.aiter_bytes(CHUNK):
                        await asyncio.to_thread(handle.write, chunk)
                        done += len(chunk)
                        if progress is not None:
                            progress(done, total)
                finally:
                    handle.close()
                await asyncio.to_thread(partial.replace, target)
        except httpx.TransportError as error:
            raise ServerNotFound(f"cannot reach {self.server.api_url}: {error}") from error
        return target

    # -- downloads -----------------------------------------------------------------------
    async def start_download(
        self,
        url: str,
        *,
        sha256: str | None = None,
        filename: str | None = None,
        purpose: str | None = None,
    ) -> JSON:
        body = {"url": url, **_params(sha256=sha256, filename=filename, purpose=purpose)}
        return await self._json("POST", "v1/downloads", json=body)

    async def list_downloads(self) -> Any:
        return await self._json("GET", "v1/downloads")

    async def get_download(self, job_id: str) -> JSON:
        return await self._json("GET", f"v1/downloads/{_q(job_id)}")

    async def download_status(self, job_id: str | None = None) -> JSON:
        path = "v1/models/download/status" + (f"/{_q(job_id)}" if job_id else "")
        return await self._json("GET", path)

    async def pause_download(self, job_id: str) -> JSON:
        return await self._json("POST", f"v1/downloads/{_q(job_id)}/pause")

    async def resume_download(self, job_id: str) -> JSON:
        return await self._json("POST", f"v1/downloads/{_q(job_id)}/resume")

    async def cancel_download(self, job_id: str) -> JSON:
        return await self._json("POST", f"v1/downloads/{_q(job_id)}/cancel")

    async def wait_download(
        self,
        job_id: str,
        *,
        timeout: float | None = None,
        poll: float = 0.25,
        on_update: Callable[[JSON], None] | None = None,
    ) -> JSON:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = await self.get_download(job_id)
            if on_update is not None:
                on_update(job)
            if _is_terminal(job):
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"download {job_id} still {job.get('status')} after {timeout}s")
            await asyncio.sleep(poll)

    async def events(self) -> AsyncIterator[JSON]:
        """Messages of the ``v1/events`` WebSocket (``{topic, key, time, data}``)."""
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        headers = {}
        if self.server.token:
            headers["Authorization"] = f"token {self.server.token}"
        connection = await websocket_connect(
            HTTPRequest(self.server.events_url, headers=headers, connect_timeout=10)
        )
        try:
            while True:
                message = await connection.read_message()
                if message is None:
                    return
                payload = json.loads(message)
                if isinstance(payload, dict):
                    yield payload
        finally:
            connection.close()

    # -- models --------------------------------------------------------------------------
    async def list_models(self, search: str | None = None, **filters: Any) -> Any:
        return await self._json("GET", "v1/models", params=_params(search=search, **filters))

    async def get_model(self, model_id: str) -> JSON:
        return await self._json("GET", f"v1/models/{_q(model_id)}")

    async def model_files(self, model_id: str, *, downloaded: bool | None = None) -> list[JSON]:
        payload = await self._json(
            "GET", f"v1/models/{_q(model_id)}/files", params=_params(downloaded=downloaded)
        )
        return list(payload.get("data", [])) if isinstance(payload, dict) else list(payload)

    async def download_model(
        self,
        model_id: str,
        *,
        files: list[str] | None = None,
        quantization: str | None = None,
    ) -> JSON:
        body = _model_download_body(files, quantization)
        return await self._json("POST", f"v1/models/{_q(model_id)}/download", json=body)

    async def download_model_ref(self, model: str, *, quantization: str | None = None) -> JSON:
        body = {"model": model, **_params(quantization=quantization)}
        return await self._json("POST", "v1/models/download", json=body)

    async def cancel_model_download(self, model_id: str) -> JSON:
        return await self._json("POST", f"v1/models/{_q(model_id)}/download/cancel")

    async def load_model(self, model_id: str) -> JSON:
        return await self._json("POST", f"v1/models/{_q(model_id)}/load")

    async def unload_model(self, model_id: str) -> JSON:
        return await self._json("POST", f"v1/models/{_q(model_id)}/unload")

    async def openapi(self) -> JSON:
        return await self._json("GET", "v1/openapi.json")


# -- small helpers ------------------------------------------------------------------------
def _range_header(start: int | None, end: int | None) -> dict[str, str]:
    if start is None and end is None:
        return {}
    first = "" if start is None else str(start)
    last = "" if end is None else str(end)
    return {"Range": f"bytes={first}-{last}"}


def _content_length(response: httpx.Response) -> int | None:
    raw = response.headers.get("Content-Length")
    return int(raw) if raw and raw.isdigit() else None


def _target_path(target: Path, response: httpx.Response, file_id: str) -> Path:
    """``dest`` itself, or ``dest/<stored filename>`` when ``dest`` is a directory."""
    if not target.is_dir():
        return target
    name = _disposition_filename(response.headers.get("Content-Disposition", "")) or file_id
    return target / Path(name).name


def _disposition_filename(header: str) -> str | None:
    from urllib.parse import unquote

    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "filename*" and value.lower().startswith("utf-8''"):
            return unquote(value[7:])
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "filename":
            return value.strip('"')
    return None
