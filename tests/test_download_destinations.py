"""Where downloads may come from: schemes, allow/deny lists, the server itself, IDNA names,
and a bounded wait for an origin that never answers.

The job manager runs on a real SQLite database against real origins on loopback; the API
cases run in a real Jupyter server (in-process, and as a process for IDNA host names).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_modelfiles.downloads import DownloadManager, DownloadRequest
from jupyter_modelfiles.downloads.destinations import DestinationPolicy
from jupyter_modelfiles.errors import Forbidden
from jupyter_modelfiles.events import EventBus
from jupyter_modelfiles.state import Database

from .conftest import body, eventually
from .jupyter_process import JupyterServerProcess
from .origin import Origin

MiB = 1024 * 1024


@pytest.fixture
def modelfiles_config() -> dict[str, Any]:
    return {"download_give_up_after": 2.0, "download_stall_timeout": 0.5}


@pytest.fixture
def silent_origin() -> Iterator[str]:
    """Accepts connections and never answers a byte."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/model.bin"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def make_manager(tmp_path: Path, policy: DestinationPolicy | None = None, **kwargs: Any) -> Any:
    db = Database(tmp_path / "state.sqlite3")
    return DownloadManager(
        db, EventBus(), tmp_path / ".partial", stall_timeout=2, destinations=policy, **kwargs
    )


async def submit(jobs: DownloadManager, url: str, dest: Path) -> Any:
    return await jobs.submit(DownloadRequest(url=url, dest=dest))


async def test_link_local_and_the_server_itself_are_refused(tmp_path: Path, origin: Origin) -> None:
    own_port = int(origin.base.rsplit(":", 1)[1])  # pretend the origin is the Jupyter server
    with Origin() as other:
        data = other.add("ok.bin", 4096)
        jobs = make_manager(tmp_path, DestinationPolicy(server_port=own_port))
        await jobs.start()
        origin.add("f.bin", 4096)
        for url, reason in (
            ("http://169.254.169.254/latest/meta-data/", "denied by ModelFilesApp.download_deny"),
            ("http://[fe80::1]/f.bin", "denied by ModelFilesApp.download_deny"),
            ("http://[::ffff:169.254.1.1]/f.bin", "denied by ModelFilesApp.download_deny"),
            (origin.url("f.bin"), f"port {own_port} is this Jupyter server itself"),
            (f"http://localhost:{own_port}/data/f.bin", "is this Jupyter server itself"),
        ):
            with pytest.raises(Forbidden) as refused:
                await submit(jobs, url, tmp_path / "f.bin")
            assert reason in refused.value.message, refused.value.message
        assert origin.requests == []
        # loopback on another port stays allowed by default (the tests' origins live there)
        job = await submit(jobs, other.url("ok.bin"), tmp_path / "ok.bin")
        await eventually(lambda: job.status == "completed", timeout=10)
        assert (tmp_path / "ok.bin").read_bytes() == data
        await jobs.close()


async def test_every_redirect_target_is_checked(tmp_path: Path, origin: Origin) -> None:
    with Origin() as target:
        target.add("f.bin", 4096)
        origin.add("f.bin", 1)
        origin.redirect_to = target
        policy = DestinationPolicy(server_port=int(target.base.rsplit(":", 1)[1]))
        jobs = make_manager(tmp_path, policy)
        await jobs.start()
        job = await submit(jobs, origin.url("f.bin", signed=True), tmp_path / "f.bin")
        await eventually(lambda: job.status == "failed", timeout=10)
        assert job.error.startswith("refused to download from 127.0.0.1"), job.error
        assert "is this Jupyter server itself" in job.error
        assert target.requests == []  # never connected to
        await jobs.close()


async def test_allow_and_deny_lists(tmp_path: Path, origin: Origin) -> None:
    data = origin.add("f.bin", 4096)
    port = origin.base.rsplit(":", 1)[1]
    cases: list[tuple[DestinationPolicy, str, str | None]] = [
        (DestinationPolicy(allow=["10.0.0.0/8"]), origin.url("f.bin"), "not in"),
        (DestinationPolicy(allow=["example.org"]), origin.url("f.bin"), "not in"),
        (DestinationPolicy(deny=["127.0.0.0/8"]), origin.url("f.bin"), "denied"),
        (DestinationPolicy(deny=["localhost"]), f"http://localhost:{port}/data/f.bin", "denied"),
        (DestinationPolicy(deny=["localhost"]), origin.url("f.bin"), None),
        (DestinationPolicy(allow=["127.0.0.0/8"]), origin.url("f.bin"), None),
        (DestinationPolicy(allow=["localhost"]), f"http://LOCALHOST:{port}/data/f.bin", None),
        (
            DestinationPolicy(allow=["127.0.0.0/8"], deny=["127.0.0.1/32"]),
            origin.url("f.bin"),
            "denied",  # deny wins
        ),
    ]
    for index, (policy, url, refusal) in enumerate(cases):
        jobs = make_manager(tmp_path / str(index), policy)
        await jobs.start()
        dest = tmp_path / str(index) / "f.bin"
        if refusal is None:
            job = await submit(jobs, url, dest)
            await eventually(lambda job=job: job.status == "completed", timeout=10)
            assert dest.read_bytes() == data
        else:
            with pytest.raises(Forbidden) as refused:
                await submit(jobs, url, dest)
            assert refusal in refused.value.message, (index, refused.value.message)
        await jobs.close()
    with pytest.raises(ValueError, match="download_deny"):
        DestinationPolicy(deny=["http://example.org/x"])


async def test_redirect_to_file_and_upper_case_scheme(tmp_path: Path, origin: Origin) -> None:
    data = origin.add("f.bin", 4096)
    origin.redirects["secret"] = "file:///etc/passwd"
    origin.add("secret", 1)
    jobs = make_manager(tmp_path)
    await jobs.start()
    job = await submit(jobs, origin.base + "/redirect/secret", tmp_path / "secret")
    await eventually(lambda: job.status == "failed", timeout=10)
    assert job.error == (
        "the origin redirected to a file: URL (file:///etc/passwd); "
        "only http and https redirects are followed"
    )
    upper = "HTTP://" + origin.url("f.bin").removeprefix("http://")
    job = await submit(jobs, upper, tmp_path / "f.bin")
    await eventually(lambda: job.status == "completed", timeout=10)
    assert job.url == origin.url("f.bin")
    assert (tmp_path / "f.bin").read_bytes() == data
    await jobs.close()


async def test_origin_that_never_answers_is_given_up(
    tmp_path: Path, origin: Origin, silent_origin: str
) -> None:
    jobs = make_manager(tmp_path, give_up_after=2.0)
    jobs.engine_config.stall_timeout = 0.5
    await jobs.start()
    began = time.monotonic()
    job = await submit(jobs, silent_origin, tmp_path / "silent.bin")
    await eventually(lambda: job.status == "failed", timeout=15)
    assert time.monotonic() - began < 10
    assert "gave up after 2 s without receiving data" in job.error, job.error
    assert "download_give_up_after" in job.error

    # headers, then silence on every data request: given up as well
    origin.add("f.bin", 4 * MiB)
    origin.fault("stall", times=1000, after=0, seconds=20)
    job = await submit(jobs, origin.url("f.bin"), tmp_path / "f.bin")
    await eventually(lambda: job.status == "failed", timeout=15)
    assert "gave up after 2 s without receiving data" in job.error, job.error
    await jobs.close()


# -- through the API of a real server ------------------------------------------------------
async def wait_job(api: Any, job_id: str, status: str) -> dict[str, Any]:
    async def reached() -> Any:
        job = body(await api("GET", f"v1/downloads/{job_id}"))
        return job if job["status"] == status else None

    return await eventually(reached, timeout=20)


async def test_api_refuses_the_server_itself_and_link_local(api: Any, server_url: str) -> None:
    for url, reason in (
        (server_url + "api/status", "is this Jupyter server itself"),
        ("http://169.254.169.254/latest/meta-data/", "denied by ModelFilesApp.download_deny"),
    ):
        response = await api("POST", "v1/downloads", json={"url": url})
        assert response.code == 403, response.body
        assert reason in body(response)["error"]["message"]


async def test_api_upper_case_scheme_and_give_up(
    api: Any, origin: Origin, silent_origin: str
) -> None:
    origin.add("f.bin", 4096)
    upper = "HTTP://" + origin.url("f.bin").removeprefix("http://")
    created = await api("POST", "v1/downloads", json={"url": upper})
    assert created.code == 202, created.body
    await wait_job(api, body(created)["job_id"], "completed")
    created = await api("POST", "v1/downloads", json={"url": silent_origin})
    assert created.code == 202, created.body
    job = await wait_job(api, body(created)["job_id"], "failed")
    assert "gave up after 2 s without receiving data" in job["error"]


def test_idna_host_names_are_encoded_and_work(tmp_path: Path, origin: Origin) -> None:
    """A server whose /etc/hosts (its own mount namespace) maps two IDNA names to loopback.

    ``faß`` is ``xn--fa-hia`` in IDNA 2008 (Python's IDNA 2003 codec says ``fass``)."""
    data = origin.add("f.bin", 64 * 1024)
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost xn--bcher-kva.test xn--fa-hia.test\n")
    server = JupyterServerProcess(tmp_path / "server")
    server.wrapper = [
        "unshare",
        "-m",
        "sh",
        "-c",
        'mount --bind "$0" /etc/hosts && exec "$@"',
        str(hosts),
    ]
    server.start()
    try:
        port = origin.base.rsplit(":", 1)[1]
        with server.client() as client:
            for name in ("bücher.test", "faß.test"):
                url = f"http://{name}:{port}/data/f.bin"
                created = client.post("downloads", json={"url": url, "filename": name})
                assert created.status_code == 202, created.text
                job_id = created.json()["job_id"]
                deadline = time.monotonic() + 20
                while (job := client.get(f"downloads/{job_id}").json())["status"] != "completed":
                    assert job["status"] in ("queued", "downloading"), job
                    assert time.monotonic() < deadline
                    time.sleep(0.1)
                file_id = job["hook_args"]["file_id"]
                assert client.get(f"files/{file_id}/content").content == data
        hosts_seen = {r["host"] for r in origin.requests}
        assert hosts_seen == {f"xn--bcher-kva.test:{port}", f"xn--fa-hia.test:{port}"}
        assert "Traceback" not in server.log_path.read_text()
    finally:
        server.stop()


async def test_a_bad_idna_name_is_a_clear_400(api: Any) -> None:
    response = await api("POST", "v1/downloads", json={"url": "http://a\u200b\u0300b..test/f"})
    assert response.code == 400, response.body
    assert "is not a valid host name" in body(response)["error"]["message"]
