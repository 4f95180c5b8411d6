"""Under a real JupyterHub: each user reaches the files API on their own server, nobody else's;
in team mode (shared directory + PostgreSQL) alice and bob download a shared file once."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import httpx
import pytest
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from .origin import Origin, running_origin


def test_alice_reaches_her_files_api_through_the_proxy_and_bob_is_refused(jupyterhub):
    jupyterhub.start_server("alice")
    files = "user/alice/modelfiles/v1/files"

    # alice logs in through the Hub's login form and opens her server (the OAuth dance gives
    # her a cookie for it), then her browser calls the API
    with closing(jupyterhub.login("alice")) as alice:
        opened = alice.get("user/alice/")
        assert opened.status_code == 200
        assert str(opened.url).startswith(f"{jupyterhub.url}user/alice/lab")
        response = alice.get(files)
        assert response.status_code == 200, response.text
        assert response.json()["object"] == "list"
        assert str(response.url).startswith(f"{jupyterhub.url}{files}")

    # with a token, as the client and scripts do
    token = jupyterhub.user_token("alice")
    response = httpx.get(
        jupyterhub.url + files, headers={"Authorization": f"token {token}"}, timeout=30
    )
    assert response.status_code == 200 and response.json()["data"] == []

    # nobody gets in anonymously
    response = httpx.get(jupyterhub.url + files, timeout=30)
    assert response.status_code in (302, 401, 403)

    # bob, logged in too, is refused on alice's server (by cookie and by token)
    with closing(jupyterhub.login("bob")) as bob:
        opened = bob.get("user/alice/")
        assert opened.status_code in (403, 404), opened.url
        assert not str(opened.url).startswith(f"{jupyterhub.url}user/alice/")
        response = bob.get(files)
        assert response.status_code == 403, response.text
        assert "object" not in response.text
    bob_token = jupyterhub.user_token("bob")
    response = httpx.get(
        jupyterhub.url + files, headers={"Authorization": f"token {bob_token}"}, timeout=30
    )
    assert response.status_code == 403


# -- team mode under the Hub: alice and bob share one store and one PostgreSQL -----------------


@pytest.fixture(scope="module")
def hub_origin() -> Iterator[Origin]:
    with running_origin() as origin:
        yield origin


@pytest.fixture(scope="module")
def jupyterhub(tmp_path_factory: pytest.TempPathFactory, postgres_cluster: Any) -> Iterator[Any]:
    """This module's Hub: every user server in team mode (shared dir + PostgreSQL)."""
    from .hub import JupyterHubProcess

    workdir = tmp_path_factory.mktemp("jupyterhub")
    url = postgres_cluster.url(postgres_cluster.create_database())
    hub = JupyterHubProcess(
        workdir,
        singleuser_args=[
            f"--ModelFilesApp.shared_cache_dir={workdir / 'shared'}",
            f"--ModelFilesApp.coordination_url={url}",
        ],
    )
    try:
        hub.start()
        yield hub
    finally:
        hub.stop()


def run_in_kernel(hub: Any, user: str, token: str, code: str) -> str:
    """Start a kernel in ``user``'s server (through the proxy), run ``code``, return stdout."""
    headers = {"Authorization": f"token {token}"}
    api = f"{hub.url}user/{user}/api/kernels"
    kernel = httpx.post(api, headers=headers, json={}, timeout=60).json()

    async def execute() -> str:
        ws_url = api.replace("http://", "ws://") + f"/{kernel['id']}/channels"
        conn = await websocket_connect(HTTPRequest(ws_url, headers=headers))
        msg_id = uuid.uuid4().hex
        await conn.write_message(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "username": user,
                        "session": uuid.uuid4().hex,
                        "msg_type": "execute_request",
                        "version": "5.3",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "content": {"code": code, "silent": False, "allow_stdin": False},
                    "channel": "shell",
                    "buffers": [],
                }
            )
        )
        out: list[str] = []
        while True:
            raw = await asyncio.wait_for(conn.read_message(), 120)
            assert raw is not None, "the kernel's WebSocket closed"
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["header"]["msg_type"]
            if kind == "stream":
                out.append(msg["content"]["text"])
            elif kind == "error":
                raise AssertionError("\n".join(msg["content"]["traceback"]))
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                conn.close()
                return "".join(out)

    try:
        return asyncio.run(execute())
    finally:
        httpx.delete(f"{api}/{kernel['id']}", headers=headers, timeout=60)


def test_team_mode_under_the_hub_one_download_for_alice_and_bob(
    jupyterhub: Any, hub_origin: Origin
) -> None:
    data = hub_origin.add("team.bin", 6 << 20)
    hub_origin.rate = 2 << 20
    jupyterhub.start_server("alice")
    jupyterhub.start_server("bob")
    tokens = {user: jupyterhub.user_token(user) for user in ("alice", "bob")}
    shared = jupyterhub.workdir / "shared"

    # the client's discovery, inside alice's server: a kernel finds the API on its own
    found = json.loads(
        run_in_kernel(
            jupyterhub,
            "alice",
            tokens["alice"],
            "import json, os\n"
            "from jupyter_modelfiles.client import ModelFilesClient\n"
            "client = ModelFilesClient()\n"
            "print(json.dumps({'api_url': client.api_url, 'source': client.server.source,\n"
            "    'files': client.list_files(), 'hf': os.environ.get('HF_HUB_CACHE')}))\n",
        )
    )
    assert found["api_url"].endswith("/user/alice/modelfiles/"), found
    assert found["files"]["object"] == "list"
    assert found["hf"] == str(shared / "hub")

    # alice and bob ask for the same file through the proxy: the origin serves it once
    def api(user: str, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(
            method,
            f"{jupyterhub.url}user/{user}/modelfiles/v1/{path}",
            headers={"Authorization": f"token {tokens[user]}"},
            timeout=60,
            **kwargs,
        )
        assert response.status_code < 400, response.text
        return response.json()

    entry = {"url": hub_origin.url("team.bin"), "name": "team.bin", "size": len(data)}
    for user in ("alice", "bob"):
        api(user, "POST", "models", json={"id": "team/model", "name": "team", "files": [entry]})
    for user in ("alice", "bob"):
        api(user, "POST", "models/team%2Fmodel/download", json={})
    deadline = time.monotonic() + 120
    while not all(api(u, "GET", "models/team%2Fmodel")["downloaded"] for u in ("alice", "bob")):
        assert time.monotonic() < deadline, "the shared download did not complete"
        time.sleep(0.2)
    assert hub_origin.bytes_served("team.bin") == len(data)
    digest = hashlib.sha256(data).hexdigest()
    assert (shared / "blobs" / digest).is_file()
    for user in ("alice", "bob"):
        link = jupyterhub.home(user) / "modelfiles-root" / "models" / "team--model" / "team.bin"
        assert link.resolve() == (shared / "blobs" / digest).resolve()

    # bob is refused on alice's server, team mode or not
    response = httpx.get(
        f"{jupyterhub.url}user/alice/modelfiles/v1/models/team%2Fmodel",
        headers={"Authorization": f"token {tokens['bob']}"},
        timeout=30,
    )
    assert response.status_code == 403
