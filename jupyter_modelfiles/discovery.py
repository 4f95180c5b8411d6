"""Finding the Jupyter server that runs jupyter-modelfiles, from a kernel or a terminal.

In order: explicit arguments, then ``JUPYTER_MODELFILES_URL`` / ``JUPYTER_MODELFILES_TOKEN``
(set by the extension at load, inherited by kernels and terminals), then the server whose pid
is ``JPY_PARENT_PID``, then JupyterHub's ``JUPYTERHUB_API_TOKEN`` +
``JUPYTERHUB_SERVICE_PREFIX``. When none works, :class:`ServerNotFound` names all it tried.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .errors import ServerNotFound

__all__ = ["TOKEN_ENV", "URL_ENV", "ServerInfo", "discover"]

URL_ENV = "JUPYTER_MODELFILES_URL"
TOKEN_ENV = "JUPYTER_MODELFILES_TOKEN"


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
