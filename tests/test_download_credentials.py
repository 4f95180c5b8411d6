"""Credentials (a Hugging Face token) go only to the origin they were given for.

A fake Hub on one loopback port redirects to signed, expiring URLs of a CDN on another port:
the CDN must never see the token, on the probe, on ranged requests, after a resume and after
the expired signed URL is resolved again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_modelfiles.downloads import DownloadManager, DownloadRequest
from jupyter_modelfiles.downloads.http import headers_for
from jupyter_modelfiles.events import EventBus
from jupyter_modelfiles.state import Database

from .conftest import eventually
from .origin import Origin

MiB = 1024 * 1024
TOKEN = "Bearer hf_secret_token_for_the_hub_only"


@pytest.fixture
def hub_and_cdn() -> Iterator[tuple[Origin, Origin]]:
    with Origin() as hub, Origin() as cdn:
        hub.redirect_to = cdn
        yield hub, cdn


async def test_token_never_reaches_the_cdn(
    tmp_path: Path, hub_and_cdn: tuple[Origin, Origin]
) -> None:
    hub, cdn = hub_and_cdn
    data = cdn.add("model.gguf", 6 * MiB)
    hub.add("model.gguf", 1)  # the Hub only redirects; it must know the name
    cdn.rate = 3 * MiB  # slow enough to pause mid-way and to outlive the signed URL
    cdn.signed_ttl = 0.4
    jobs = DownloadManager(
        Database(tmp_path / "state.sqlite3"), EventBus(), tmp_path / ".partial", stall_timeout=5
    )
    await jobs.start()
    job = await jobs.submit(
        DownloadRequest(
            url=hub.url("model.gguf", signed=True),
            dest=tmp_path / "out" / "model.gguf",
            headers={"Authorization": TOKEN},
            sha256=hashlib.sha256(data).hexdigest(),
        )
    )
    await eventually(lambda: job.downloaded_bytes >= MiB, timeout=20)
    await jobs.pause(job.job_id)
    resolved_before_resume = len(hub.requests)
    # the next connection is cut after 256 KiB; its retry meets the expired signed URL
    cdn.fault("reset", after=256 * 1024)
    await jobs.resume(job.job_id)
    await eventually(lambda: job.status == "completed", timeout=30)
    await jobs.close()
    assert job.error is None
    assert (tmp_path / "out" / "model.gguf").read_bytes() == data

    assert len(hub.requests) > resolved_before_resume  # resumed: resolved through the Hub again
    assert any(r["status"] == 403 for r in cdn.requests)  # a signed URL expired...
    assert len(hub.requests) >= resolved_before_resume + 2  # ...and was resolved again
    ranged = [r for r in cdn.requests if r["range"] and r["range"] != "bytes=0-0"]
    assert ranged, "the CDN served ranged requests"
    assert [r["authorization"] for r in hub.requests] == [TOKEN] * len(hub.requests)
    assert [r["authorization"] for r in cdn.requests] == [None] * len(cdn.requests)


def test_credentials_follow_scheme_host_and_port() -> None:
    given = {"Authorization": TOKEN, "Cookie": "a=b", "Accept": "*/*"}
    hub = "https://huggingface.co/org/m/resolve/main/f"
    assert headers_for(given, hub, "https://HuggingFace.co:443/other") == given
    for elsewhere in (
        "http://huggingface.co/org/m",  # another scheme
        "https://huggingface.co:8443/org/m",  # another port
        "https://cdn-lfs.huggingface.co/blob",  # another host
    ):
        assert headers_for(given, hub, elsewhere) == {"Accept": "*/*"}


def test_the_state_database_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    """Jobs keep an origin's ``Authorization`` header in SQLite (to resume after a restart):
    on a machine shared by several users no one else may read it, nor its WAL files. An
    existing database made with the old mode (0644) is tightened on open."""
    import os
    import stat

    loose = tmp_path / "old.sqlite3"
    loose.touch(mode=0o644)
    loose.chmod(0o644)
    for path in (tmp_path / "state.sqlite3", loose):
        db = Database(path)
        try:
            db.run_sync(lambda conn: conn.execute("CREATE TABLE t (x TEXT)"))
            db.run_sync(lambda conn: conn.execute("INSERT INTO t VALUES ('Bearer hf_x')"))
            parts = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
            assert all(part.exists() for part in parts)
            modes = {part.name: stat.S_IMODE(os.stat(part).st_mode) for part in parts}
            assert all(mode & 0o077 == 0 for mode in modes.values()), modes
        finally:
            db.close()
