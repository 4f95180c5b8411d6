"""httpx clients of the modelfiles REST API, sync and async, sharing one core.

``ModelFilesClient()`` with no arguments finds the Jupyter server the way a kernel can
(:func:`~jupyter_modelfiles.discovery.discover`): explicit arguments, then
``JUPYTER_MODELFILES_URL`` / ``JUPYTER_MODELFILES_TOKEN``, then ``JPY_PARENT_PID``, then
JupyterHub's variables.

The two clients share one core, the way httpx's ``Client`` and ``AsyncClient`` share
``BaseClient``: :class:`_ClientCore` defines every route once, as a method that builds a
:class:`Call` (method, path, query, body, and how to read the answer); a :class:`route`
descriptor makes that method send the call with the sync client and return an awaitable with
the async one. The two classes only send, stream files and sleep.

Errors from the server (``{"error": {"code", "message"}}``) are raised as the classes of
:mod:`jupyter_modelfiles.errors`, carrying the HTTP status and the code.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import inspect
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Concatenate, Generic, ParamSpec, TypeVar, overload
from urllib.parse import quote, unquote, urlsplit

import httpx

from .discovery import ServerInfo, discover
from .errors import (
    InvalidRequest,
    ModelFilesError,
    ServerNotFound,
    code_for_status,
    error_class,
)

__all__ = [
    "AsyncModelFilesClient",
    "Call",
    "ModelFilesClient",
    "ProgressCallback",
    "ServerInfo",
    "ServerNotFound",
    "discover",
    "error_from_response",
    "jobs_of",
    "models_of",
]

CHUNK = 1 << 20
TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled", "already_downloaded"})
HUB_HOSTS = ("huggingface.co", "www.huggingface.co", "hf.co")
#: Uploads and downloads of whole files: no read timeout, a connect timeout.
UNLIMITED = httpx.Timeout(None, connect=10.0)

#: ``progress(done_bytes, total_bytes)``; total may be ``None`` when unknown.
ProgressCallback = Callable[[int, "int | None"], None]
JSON = dict[str, Any]
T = TypeVar("T")
P = ParamSpec("P")
_C = TypeVar("_C", bound="_ClientCore")


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
    status = response.status_code
    cls = error_class(status, code)
    error_obj = cls(
        f"{message} ({method} {path} -> {status})".strip(),
        status=status,
        code=code or code_for_status(status),
    )
    error_obj.message = message
    return error_obj


# -- calls: what a route sends and how its answer is read ----------------------------------
def _read_json(response: httpx.Response) -> Any:
    return response.json()


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request under ``modelfiles/`` and how to read its answer (an ``httpx.Request`` spec)."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    headers: dict[str, str] | None = None
    content: Any = None
    timeout: httpx.Timeout | None = None
    parse: Callable[[httpx.Response], T] = _read_json

    def options(self) -> dict[str, Any]:
        """The keyword arguments of ``httpx.Client.request`` for this call."""
        fields = ("params", "json", "headers", "content", "timeout")
        return {name: value for name in fields if (value := getattr(self, name)) is not None}

    def then(self, parse: Callable[[T], Any]) -> Call[Any]:
        """The same request, its answer further read by ``parse``."""
        first = self.parse
        return dataclasses.replace(self, parse=lambda response: parse(first(response)))


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


# -- answers: the shapes of responses, read the same by every face ------------------------
def models_of(payload: Any) -> list[JSON]:
    """The models of a ``GET v1/models`` answer (a list, or Pieces ``iterable``, or ``data``)."""
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):
        for key in ("iterable", "data", "models"):
            if isinstance(payload.get(key), list):
                return list(payload[key])
    return []


def jobs_of(payload: Any) -> list[JSON]:
    """The job status objects in a download answer: the jobs it started (``started``), else
    a snapshot's ``jobs``, else the answer itself when it is a job."""
    if not isinstance(payload, dict):
        return []
    for key in ("started", "jobs"):
        if isinstance(payload.get(key), list):
            return [job for job in payload[key] if isinstance(job, dict)]
    if payload.get("job_id"):
        return [payload]
    return []


def _data_list(payload: Any) -> list[JSON]:
    return list(payload.get("data", [])) if isinstance(payload, dict) else list(payload)


def _is_terminal(job: JSON) -> bool:
    return str(job.get("status", "")).lower() in TERMINAL_STATUSES


# -- the route descriptor -------------------------------------------------------------------
class route(Generic[P, T]):
    """A route defined once: the decorated method builds a :class:`Call`.

    Read from a :class:`ModelFilesClient`, the method sends the call and returns the parsed
    answer; from an :class:`AsyncModelFilesClient`, it is a coroutine function of the same
    arguments. ``Class.method.build(client, ...)`` gives the call without sending it.
    """

    def __init__(self, build: Callable[Concatenate[Any, P], Call[T]]):
        self.build = build
        functools.update_wrapper(self, build)
        signature = inspect.signature(build)
        self._signature = signature.replace(
            parameters=list(signature.parameters.values())[1:],
            return_annotation=inspect.Signature.empty,
        )

    @overload
    def __get__(self, client: None, owner: type | None = None) -> route[P, T]: ...

    @overload
    def __get__(
        self, client: AsyncModelFilesClient, owner: type | None = None
    ) -> Callable[P, Awaitable[T]]: ...

    @overload
    def __get__(self, client: ModelFilesClient, owner: type | None = None) -> Callable[P, T]: ...

    def __get__(self, client: Any, owner: type | None = None) -> Any:
        if client is None:
            return self
        return self._bind(client)

    def __call__(self, client: Any, *args: Any, **kwargs: Any) -> Any:
        """``ModelFilesClient.get_file(client, file_id)``, as for a plain method."""
        return self._bind(client)(*args, **kwargs)

    def _bind(self, client: Any) -> Callable[..., Any]:
        build = self.build
        if isinstance(client, AsyncModelFilesClient):

            async def send_async(*args: Any, **kwargs: Any) -> Any:
                return await client.send(build(client, *args, **kwargs))

            bound: Callable[..., Any] = send_async
        else:

            def send(*args: Any, **kwargs: Any) -> Any:
                return client.send(build(client, *args, **kwargs))

            bound = send
        functools.update_wrapper(bound, build)
        bound.__signature__ = self._signature  # type: ignore[attr-defined]
        return bound


# -- the shared core ------------------------------------------------------------------------
class _ClientCore:
    """Configuration, request building and response handling of both clients."""

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
        self._connect(
            {
                "base_url": self.server.api_url,
                "headers": headers,
                "timeout": httpx.Timeout(timeout, connect=10.0),
                "verify": verify,
                "follow_redirects": False,
            }
        )

    def _connect(self, options: dict[str, Any]) -> None:
        """Create the httpx client (sync or async) from ``options``."""
        raise NotImplementedError

    @classmethod
    def discover(cls: type[_C], url: str | None = None, token: str | None = None) -> _C:
        """A client for the server found by :func:`discover`."""
        return cls(url, token)

    @property
    def api_url(self) -> str:
        return self.server.api_url

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.server.api_url!r})"

    # -- response handling shared by both clients ------------------------------------------
    def _unreachable(self, error: httpx.TransportError) -> ServerNotFound:
        return ServerNotFound(
            f"cannot reach the Jupyter server at {self.server.api_url} "
            f"(found via {self.server.source}): {error}"
        )

    @staticmethod
    def _checked(response: httpx.Response) -> httpx.Response:
        if response.status_code >= 400:
            raise error_from_response(response)
        return response

    # -- files -----------------------------------------------------------------------------
    @route
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
    ) -> Call[JSON]:
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
        return Call("GET", "v1/files", params=params)

    @route
    def get_file(self, file_id: str) -> Call[JSON]:
        """``GET v1/files/{id}``: the file object."""
        return Call("GET", f"v1/files/{_q(file_id)}")

    @route
    def delete_file(self, file_id: str) -> Call[JSON]:
        """``DELETE v1/files/{id}``: ``{id, object: "file", deleted: true}``."""
        return Call("DELETE", f"v1/files/{_q(file_id)}")

    @route
    def file_url(self, file_id: str, expiry: float | None = None) -> Call[str]:
        """A signed URL that downloads without a token until ``expiry`` hours pass."""
        call: Call[Any] = Call("GET", f"v1/files/{_q(file_id)}/url", params=_params(expiry=expiry))
        return call.then(lambda payload: str(payload["url"]))

    @route
    def file_content(
        self, file_id: str, *, start: int | None = None, end: int | None = None
    ) -> Call[bytes]:
        """The bytes of a (small) file, or of the inclusive range ``start..end``."""
        return Call(
            "GET",
            f"v1/files/{_q(file_id)}/content",
            headers=_range_header(start, end),
            parse=lambda response: response.content,
        )

    def _upload_call(self, upload: _Upload, body: Any) -> Call[JSON]:
        return Call("POST", "v1/files", content=body, headers=upload.headers, timeout=UNLIMITED)

    # -- downloads -------------------------------------------------------------------------
    @route
    def start_download(
        self,
        url: str,
        *,
        sha256: str | None = None,
        filename: str | None = None,
        purpose: str | None = None,
    ) -> Call[JSON]:
        """``POST v1/downloads``: a job status object (the file lands in the files store)."""
        body = {"url": url, **_params(sha256=sha256, filename=filename, purpose=purpose)}
        return Call("POST", "v1/downloads", json=body)

    @route
    def download(
        self,
        target: str,
        *,
        file: str | None = None,
        quantization: str | None = None,
        sha256: str | None = None,
    ) -> Call[list[JSON]]:
        """Start downloading a URL, a Hugging Face URL or a catalog model; the job statuses.

        A catalog model downloads one ``file`` or a ``quantization`` (default: the catalog's
        choice); a plain URL is saved as ``file`` and checked against ``sha256``. A target
        already downloaded gives one status without a ``job_id``.
        """
        parts = urlsplit(target)
        if parts.scheme in ("http", "https"):
            if (parts.hostname or "").lower() in HUB_HOSTS:
                call = _ClientCore.download_model_ref.build(self, target, quantization=quantization)
            else:
                call = _ClientCore.start_download.build(self, target, sha256=sha256, filename=file)
        else:
            files = [file] if file else None
            call = _ClientCore.download_model.build(
                self, target, files=files, quantization=quantization
            )
        return call.then(lambda answer: _started_jobs(target, answer, file, quantization))

    @route
    def list_downloads(self) -> Call[Any]:
        """``GET v1/downloads``: every job."""
        return Call("GET", "v1/downloads")

    @route
    def get_download(self, job_id: str) -> Call[JSON]:
        """``GET v1/downloads/{job_id}``: one job's status."""
        return Call("GET", f"v1/downloads/{_q(job_id)}")

    @route
    def download_status(self, job_id: str | None = None) -> Call[JSON]:
        """``GET v1/models/download/status[/{job_id}]`` (LM Studio's grouping)."""
        return Call("GET", "v1/models/download/status" + (f"/{_q(job_id)}" if job_id else ""))

    @route
    def pause_download(self, job_id: str) -> Call[JSON]:
        return Call("POST", f"v1/downloads/{_q(job_id)}/pause")

    @route
    def resume_download(self, job_id: str) -> Call[JSON]:
        return Call("POST", f"v1/downloads/{_q(job_id)}/resume")

    @route
    def cancel_download(self, job_id: str) -> Call[JSON]:
        return Call("POST", f"v1/downloads/{_q(job_id)}/cancel")

    # -- models ----------------------------------------------------------------------------
    @route
    def list_models(self, search: str | None = None, **filters: Any) -> Call[Any]:
        """``GET v1/models`` (Pieces' listing; :func:`models_of` reads the models)."""
        return Call("GET", "v1/models", params=_params(search=search, **filters))

    @route
    def get_model(self, model_id: str) -> Call[JSON]:
        """``GET v1/models/{id}``: the model snapshot."""
        return Call("GET", f"v1/models/{_q(model_id)}")

    @route
    def model_files(self, model_id: str, *, downloaded: bool | None = None) -> Call[list[JSON]]:
        """The model's files (Anaconda ``ModelFile`` objects, camelCase)."""
        path = f"v1/models/{_q(model_id)}/files"
        return Call("GET", path, params=_params(downloaded=downloaded)).then(_data_list)

    @route
    def download_model(
        self,
        model_id: str,
        *,
        files: list[str] | None = None,
        quantization: str | None = None,
    ) -> Call[JSON]:
        """``POST v1/models/{id}/download``: the model snapshot with its jobs."""
        body: JSON = {}
        if files:
            body["files"] = list(files)
        if quantization:
            body["quantization"] = quantization
        return Call("POST", f"v1/models/{_q(model_id)}/download", json=body)

    @route
    def download_model_ref(self, model: str, *, quantization: str | None = None) -> Call[JSON]:
        """``POST v1/models/download`` (LM Studio): a catalog id or a Hugging Face URL."""
        body = {"model": model, **_params(quantization=quantization)}
        return Call("POST", "v1/models/download", json=body)

    @route
    def cancel_model_download(self, model_id: str) -> Call[JSON]:
        return Call("POST", f"v1/models/{_q(model_id)}/download/cancel")

    @route
    def load_model(self, model_id: str) -> Call[JSON]:
        return Call("POST", f"v1/models/{_q(model_id)}/load")

    @route
    def unload_model(self, model_id: str) -> Call[JSON]:
        return Call("POST", f"v1/models/{_q(model_id)}/unload")

    @route
    def system_memory(self) -> Call[JSON]:
        """``GET v1/system/memory``: total and available bytes and the RAM budget."""
        return Call("GET", "v1/system/memory")

    @route
    def clear_downloads(self, statuses: list[str] | None = None) -> Call[list[str]]:
        """``POST v1/downloads/clear``: forget finished jobs; the ids of the cleared jobs."""
        body = {"status": list(statuses)} if statuses else {}
        return Call("POST", "v1/downloads/clear", json=body).then(
            lambda answer: list(answer.get("cleared", []))
        )

    @route
    def openapi(self) -> Call[JSON]:
        return Call("GET", "v1/openapi.json")


def _started_jobs(
    target: str, answer: Any, file: str | None = None, quantization: str | None = None
) -> list[JSON]:
    """The jobs a download request started or joined.

    For a catalog model, the server's ``started`` (never the model's earlier runs or other
    quantizations); when nothing had to be fetched, one ``already_downloaded`` status.
    """
    if isinstance(answer, dict) and isinstance(answer.get("started"), list):
        jobs = [job for job in answer["started"] if isinstance(job, dict)]
        if not jobs:  # nothing to fetch: the chosen files are local already
            jobs = [
                {
                    "job_id": "",
                    "status": "already_downloaded",
                    "model_id": answer.get("id", target),
                    "files": _chosen_files(answer, file, quantization),
                }
            ]
        return jobs
    jobs = jobs_of(answer)
    if not jobs and isinstance(answer, dict) and answer.get("status"):
        jobs = [{"job_id": "", "url": target, **answer}]
    return jobs


def _chosen_files(snapshot: JSON, file: str | None, quantization: str | None) -> list[str]:
    """The files of a model snapshot a download of ``file`` / ``quantization`` / the default
    means."""
    if file:
        return [file]
    files = [f for f in snapshot.get("files") or [] if isinstance(f, dict)]
    wanted = (quantization or snapshot.get("quantization") or "").upper()
    return [
        str(f.get("name"))
        for f in files
        if f.get("isDownloaded") and str(f.get("quantization") or "").upper() == wanted
    ]


# -- the sync client ----------------------------------------------------------------------
class ModelFilesClient(_ClientCore):
    """Blocking client of every modelfiles route (``httpx.Client`` underneath)."""

    _http: httpx.Client

    def _connect(self, options: dict[str, Any]) -> None:
        self._http = httpx.Client(**options)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ModelFilesClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request under ``modelfiles/``; raise the project's error on >= 400."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as error:
            raise self._unreachable(error) from error
        return self._checked(response)

    def send(self, call: Call[T]) -> T:
        """Send a :class:`Call` and read its answer."""
        return call.parse(self.request(call.method, call.path, **call.options()))

    def upload_file(
        self,
        path: str | os.PathLike[str],
        purpose: str = "user_data",
        *,
        filename: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> JSON:
        """Stream a file from disk to ``POST v1/files``; returns the file object."""
        upload = _Upload(path, filename, purpose, progress)

        def body() -> Iterator[bytes]:
            yield upload.head
            with open(upload.source, "rb") as handle:
                while chunk := handle.read(CHUNK):
                    yield upload.sent(chunk)
            yield upload.tail

        return self.send(self._upload_call(upload, body()))

    def iter_files(self, *, page_size: int = 100, **filters: Any) -> Iterator[JSON]:
        """Every file, following pages."""
        page = 0
        while True:
            listing = self.list_files(page=page, page_size=page_size, **filters)
            yield from listing["data"]
            if not listing.get("has_more"):
                return
            page += 1

    def download_file(
        self,
        file_id: str,
        dest: str | os.PathLike[str],
        *,
        progress: ProgressCallback | None = None,
    ) -> Path:
        """Stream a stored file to ``dest`` (a directory keeps the stored filename)."""
        try:
            with self._http.stream("GET", _content_path(file_id), timeout=UNLIMITED) as response:
                if response.status_code >= 400:
                    response.read()
                    self._checked(response)
                sink = _Sink(dest, file_id, response, progress)
                with sink.open() as handle:
                    for chunk in response.iter_bytes(CHUNK):
                        handle.write(chunk)
                        sink.wrote(len(chunk))
                return sink.publish()
        except httpx.TransportError as error:
            raise self._unreachable(error) from error

    def wait_download(
        self,
        job_id: str,
        *,
        timeout: float | None = None,
        poll: float = 0.25,
        on_update: Callable[[JSON], None] | None = None,
    ) -> JSON:
        """Poll a job until it completes, fails or is cancelled; returns its last status."""
        wait = _Wait(job_id, timeout, on_update)
        while not wait.over(self.get_download(job_id)):
            time.sleep(poll)
        return wait.job


# -- the async client ---------------------------------------------------------------------
class AsyncModelFilesClient(_ClientCore):
    """Async sibling of :class:`ModelFilesClient`: same method names, awaitable."""

    _http: httpx.AsyncClient

    def _connect(self, options: dict[str, Any]) -> None:
        self._http = httpx.AsyncClient(**options)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncModelFilesClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request under ``modelfiles/``; raise the project's error on >= 400."""
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as error:
            raise self._unreachable(error) from error
        return self._checked(response)

    async def send(self, call: Call[T]) -> T:
        """Send a :class:`Call` and read its answer."""
        return call.parse(await self.request(call.method, call.path, **call.options()))

    async def upload_file(
        self,
        path: str | os.PathLike[str],
        purpose: str = "user_data",
        *,
        filename: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> JSON:
        """Stream a file from disk (reads on a worker thread) to ``POST v1/files``."""
        upload = _Upload(path, filename, purpose, progress)

        async def body() -> AsyncIterator[bytes]:
            yield upload.head
            handle = await asyncio.to_thread(open, upload.source, "rb")
            try:
                while chunk := await asyncio.to_thread(handle.read, CHUNK):
                    yield upload.sent(chunk)
            finally:
                handle.close()
            yield upload.tail

        return await self.send(self._upload_call(upload, body()))

    async def iter_files(self, *, page_size: int = 100, **filters: Any) -> AsyncIterator[JSON]:
        """Every file, following pages."""
        page = 0
        while True:
            listing = await self.list_files(page=page, page_size=page_size, **filters)
            for item in listing["data"]:
                yield item
            if not listing.get("has_more"):
                return
            page += 1

    async def download_file(
        self,
        file_id: str,
        dest: str | os.PathLike[str],
        *,
        progress: ProgressCallback | None = None,
    ) -> Path:
        """Stream a stored file to ``dest`` (writes on a worker thread)."""
        url = _content_path(file_id)
        try:
            async with self._http.stream("GET", url, timeout=UNLIMITED) as response:
                if response.status_code >= 400:
                    await response.aread()
                    self._checked(response)
                sink = _Sink(dest, file_id, response, progress)
                handle = await asyncio.to_thread(sink.open)
                try:
                    async for chunk in response.aiter_bytes(CHUNK):
                        await asyncio.to_thread(handle.write, chunk)
                        sink.wrote(len(chunk))
                finally:
                    handle.close()
                return await asyncio.to_thread(sink.publish)
        except httpx.TransportError as error:
            raise self._unreachable(error) from error

    async def wait_download(
        self,
        job_id: str,
        *,
        timeout: float | None = None,
        poll: float = 0.25,
        on_update: Callable[[JSON], None] | None = None,
    ) -> JSON:
        """Poll a job until it completes, fails or is cancelled; returns its last status."""
        wait = _Wait(job_id, timeout, on_update)
        while not wait.over(await self.get_download(job_id)):
            await asyncio.sleep(poll)
        return wait.job

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


# -- the I/O-free halves of uploads, downloads and waits ---------------------------------------
class _Upload:
    """A multipart upload of one file: headers, the frame around its bytes, progress."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        filename: str | None,
        purpose: str,
        progress: ProgressCallback | None,
    ):
        import mimetypes

        self.source = Path(path).expanduser()
        if not self.source.is_file():
            raise InvalidRequest(f"{self.source} is not a readable file", status=400)
        self.size = self.source.stat().st_size
        name = filename or self.source.name
        mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        boundary = uuid.uuid4().hex
        safe = name.replace("\r", "").replace("\n", "").replace('"', "%22")
        self.head = (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="purpose"\r\n\r\n'
            f"{purpose}\r\n"
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{safe}"\r\n'
            f"Content-Type: {mimetype}\r\n\r\n"
        ).encode()
        self.tail = f"\r\n--{boundary}--\r\n".encode()
        self.headers = {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(self.head) + self.size + len(self.tail)),
        }
        self._progress = progress
        self._sent = 0
        if progress is not None:
            progress(0, self.size)

    def sent(self, chunk: bytes) -> bytes:
        """Count ``chunk`` as sent (reporting progress) and return it."""
        self._sent += len(chunk)
        if self._progress is not None:
            self._progress(self._sent, self.size)
        return chunk


class _Sink:
    """Where a downloaded file goes: ``dest`` (or ``dest/<stored name>``), via ``.part``."""

    def __init__(
        self,
        dest: str | os.PathLike[str],
        file_id: str,
        response: httpx.Response,
        progress: ProgressCallback | None,
    ):
        self.target = _target_path(Path(dest).expanduser(), response, file_id)
        self.partial = self.target.with_name(self.target.name + ".part")
        self.total = _content_length(response)
        self.done = 0
        self._progress = progress

    def open(self) -> IO[bytes]:
        return open(self.partial, "wb")

    def wrote(self, count: int) -> None:
        self.done += count
        if self._progress is not None:
            self._progress(self.done, self.total)

    def publish(self) -> Path:
        self.partial.replace(self.target)
        return self.target


class _Wait:
    """The end condition of ``wait_download``: a terminal status, or the timeout."""

    def __init__(
        self, job_id: str, timeout: float | None, on_update: Callable[[JSON], None] | None
    ):
        self.job_id = job_id
        self.job: JSON = {}
        self._timeout = timeout
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._on_update = on_update

    def over(self, job: JSON) -> bool:
        self.job = job
        if self._on_update is not None:
            self._on_update(job)
        if _is_terminal(job):
            return True
        if self._deadline is not None and time.monotonic() > self._deadline:
            raise TimeoutError(
                f"download {self.job_id} still {job.get('status')} after {self._timeout}s"
            )
        return False


def _content_path(file_id: str) -> str:
    return f"v1/files/{_q(file_id)}/content"


def _range_header(start: int | None, end: int | None) -> dict[str, str] | None:
    if start is None and end is None:
        return None
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
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "filename*" and value.lower().startswith("utf-8''"):
            return unquote(value[7:])
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "filename":
            return value.strip('"')
    return None
