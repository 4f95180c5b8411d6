"""Every registered route refuses a request without Jupyter auth (signed URLs aside)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from tornado import web
from tornado.websocket import WebSocketHandler

from jupyter_modelfiles.handlers import default_handlers

METHODS = ("get", "post", "put", "patch", "delete")


def concrete_path(pattern: str) -> str:
    """Turn a route regex into a path that matches it (``x`` for every parameter)."""
    path = re.sub(r"\(\?P<[^>]+>[^)]*\)", "x", pattern)
    path = path.replace("\\.", ".").replace("/?", "").replace("$", "")
    assert not re.search(r"[()\[\]*+?\\]", path), f"cannot build a path for {pattern}"
    return path.lstrip("/")


def routes() -> list[tuple[str, str, Any]]:
    found = []
    for pattern, handler, *_ in default_handlers:
        if issubclass(handler, WebSocketHandler):
            found.append((concrete_path(pattern), "WEBSOCKET", handler))
            continue
        for method in METHODS:
            if method in vars(handler) or any(
                method in vars(base)
                for base in handler.__mro__[1:-1]
                if base.__module__.startswith("jupyter_modelfiles")
            ):
                found.append((concrete_path(pattern), method.upper(), handler))
    return found


def test_every_route_is_walked(jupyter_process: Any) -> None:
    """The walk covers every route of the table with every verb its handler answers, and
    every operation the served API document lists."""
    walked = {(path, method) for path, method, _ in routes()}
    # Every entry of the route table is walked...
    assert {path for path, _ in walked} == {concrete_path(p) for p, *_ in default_handlers}
    # ...with every verb its handler overrides (found here through tornado's base class).
    expected = set()
    for pattern, handler, *_ in default_handlers:
        path = concrete_path(pattern)
        if issubclass(handler, WebSocketHandler):
            expected.add((path, "WEBSOCKET"))
            continue
        for method in METHODS:
            if getattr(handler, method) is not getattr(web.RequestHandler, method):
                expected.add((path, method.upper()))
    assert walked == expected
    # Every documented operation is among them (WebSockets are walked as upgrades).
    document = httpx.get(
        f"{jupyter_process.api_url}/openapi.json", headers=jupyter_process.headers, timeout=10
    ).json()
    documented = {
        ("modelfiles" + re.sub(r"\{[^}]+\}", "x", path), method.upper())
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }
    http_walked = {(path, method) for path, method in walked if method != "WEBSOCKET"}
    ws_paths = {path for path, method in walked if method == "WEBSOCKET"}
    assert documented - {(path, "GET") for path in ws_paths} <= http_walked
    assert len(walked) > 8


@pytest.mark.parametrize(("path", "method", "handler"), routes(), ids=lambda v: str(v)[:60])
def test_route_refuses_requests_without_token(
    jupyter_process: Any, path: str, method: str, handler: Any
) -> None:
    url = jupyter_process.url + path
    with httpx.Client(timeout=10) as client:
        if method == "WEBSOCKET":
            response = client.get(
                url,
                headers={
                    "Connection": "Upgrade",
                    "Upgrade": "websocket",
                    "Sec-WebSocket-Version": "13",
                    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                },
            )
            assert response.status_code in (401, 403), response.text
            return
        response = client.request(method, url, content=b"{}" if method != "GET" else None)
        assert response.status_code == 403, f"{method} {path}: {response.status_code}"
        assert response.json()["error"]["code"] == "FORBIDDEN"
        with_token = client.request(
            method, url, headers=jupyter_process.headers, content=b"{}" if method != "GET" else None
        )
        assert with_token.status_code != 403 or "signed" in path


def test_cookie_session_needs_xsrf(jupyter_process: Any) -> None:
    """A browser session (cookie) must send the XSRF token on writes, as Jupyter requires."""
    with httpx.Client(timeout=10) as client:
        login = client.get(f"{jupyter_process.url}?token={jupyter_process.token}")
        assert login.status_code == 200
        xsrf = client.cookies.get("_xsrf")
        assert xsrf
        refused = client.delete(f"{jupyter_process.api_url}/files/nothing")
        assert refused.status_code == 403
        allowed = client.delete(
            f"{jupyter_process.api_url}/files/nothing", headers={"X-XSRFToken": xsrf}
        )
        assert allowed.status_code == 404  # authenticated and XSRF-checked: the id is unknown
