"""Shared fixtures: the real Jupyter server (auth on, base_url with %40) with the extension."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .openapi_check import validate_response
from .origin import Origin

pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture
def modelfiles_root(tmp_path: Path) -> Path:
    return tmp_path / "modelfiles-root"


@pytest.fixture
def modelfiles_config() -> dict[str, Any]:
    """Extra ``ModelFilesApp`` settings; override in a test module to change them."""
    return {}


@pytest.fixture
def jp_server_config(modelfiles_root: Path, modelfiles_config: dict[str, Any]) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_modelfiles": True}},
        "ModelFilesApp": {"root_dir": str(modelfiles_root), **modelfiles_config},
    }


@pytest.fixture
def services(jp_serverapp: Any) -> Any:
    return jp_serverapp.web_app.settings["modelfiles"]


@pytest.fixture
def server_url(jp_serverapp: Any, jp_http_port: int, jp_base_url: str) -> str:
    """The server's root URL (with base_url), e.g. ``http://localhost:PORT/a%40b/``."""
    return f"http://localhost:{jp_http_port}{jp_base_url}"


@pytest.fixture
def token(jp_serverapp: Any) -> str:
    return jp_serverapp.identity_provider.token


Api = Callable[..., Awaitable[Any]]


def _api(jp_fetch: Any, *, strict: bool) -> Api:
    async def call(method: str, path: str, **kwargs: Any) -> Any:
        if "json" in kwargs:
            kwargs["body"] = json.dumps(kwargs.pop("json"))
        if method in ("POST", "PUT", "PATCH") and "body" not in kwargs:
            kwargs["body"] = b""
        kwargs.setdefault("raise_error", False)
        response = await jp_fetch("modelfiles", *path.split("/"), method=method, **kwargs)
        content_type = response.headers.get("Content-Type", "")
        if content_type.startswith("application/json") and response.body:
            validate_response(
                "/" + path.split("?")[0], method, response.code, body(response), strict=strict
            )
        return response

    return call


@pytest.fixture
def api(jp_fetch: Any) -> Api:
    """``await api(method, "v1/files", ...)`` under ``modelfiles/``; never raises on 4xx.

    Every JSON response is validated against the OpenAPI document for its route and status,
    strictly: a response may carry no field its documented schema omits.
    """
    return _api(jp_fetch, strict=True)


@pytest.fixture
def strict_api(jp_fetch: Any) -> Api:
    """Like ``api``, and a JSON response may carry no field its documented schema omits."""
    return _api(jp_fetch, strict=True)


def body(response: Any) -> Any:
    return json.loads(response.body)


@pytest.fixture(scope="module")
def jupyter_process(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A real ``jupyter server`` subprocess (token auth, base_url with %40), one per module."""
    from .jupyter_process import JupyterServerProcess

    server = JupyterServerProcess(tmp_path_factory.mktemp("jupyter-process"))
    server.start()
    yield server
    server.stop()


async def eventually(
    condition: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02
) -> Any:
    """Poll ``condition`` (sync or async) until it gives something truthy; fail after
    ``timeout`` seconds."""
    import asyncio
    import inspect
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {condition}")
        await asyncio.sleep(interval)


@pytest.fixture
def origin() -> Iterator[Origin]:
    """A real HTTP origin on 127.0.0.1 (see :mod:`tests.origin`)."""
    with Origin() as server:
        yield server


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 8 MiB filesystem (tmpfs). Mounting needs root (the suite runs as root in CI):
    a failure to mount fails the test, it never skips."""
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture(scope="session")
def postgres_cluster() -> Any:
    """A throwaway PostgreSQL cluster (Debian's package), started once per test session."""
    from .postgres import remove_cluster, start_cluster

    cluster = start_cluster()
    yield cluster
    remove_cluster(cluster)


@pytest.fixture
def postgres_url(postgres_cluster: Any) -> str:
    """A URL (TCP, with a password) to a fresh empty database of the session's cluster."""
    return str(postgres_cluster.url(postgres_cluster.create_database()))


@pytest.fixture(scope="module")
def jupyterhub(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A real JupyterHub (proxy, DummyAuthenticator, local spawner), users alice and bob."""
    from .hub import JupyterHubProcess

    hub = JupyterHubProcess(tmp_path_factory.mktemp("jupyterhub"))
    try:
        hub.start()
        yield hub
    finally:
        hub.stop()
