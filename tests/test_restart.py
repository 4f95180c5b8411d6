"""Nothing stored is lost across a server restart, and signed URLs stay valid."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx

from .jupyter_process import JupyterServerProcess


def test_files_survive_restart_and_kill(tmp_path: Path) -> None:
    server = JupyterServerProcess(tmp_path)
    server.start()
    try:
        data = os.urandom(2 * 1024 * 1024 + 3)
        with server.client() as client:
            created = client.post(
                "files", files={"file": ("keep.bin", data)}, data={"purpose": "batch"}
            ).json()
            signed = client.get(f"files/{created['id']}/url").json()["url"]
        server.restart()
        with server.client() as client:
            listed = client.get("files").json()
            assert [f["id"] for f in listed["data"]] == [created["id"]]
            assert client.get(f"files/{created['id']}/content").content == data
        assert httpx.get(signed).status_code == 200  # the signing key persisted
        server.kill()
        server.start()
        with server.client() as client:
            again = client.get(f"files/{created['id']}").json()
            assert again["sha256"] == hashlib.sha256(data).hexdigest()
    finally:
        server.stop()


def test_interrupted_upload_leftovers_are_removed_at_start(tmp_path: Path) -> None:
    server = JupyterServerProcess(tmp_path)
    server.start()
    server.stop()
    tmp_dir = server.root / "files" / ".tmp"
    (tmp_dir / "dead.part").write_bytes(b"half an upload")
    orphan = server.root / "files" / "ab" / "abcdef-orphan"
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"published but never recorded")
    server.start()
    try:
        assert list(tmp_dir.iterdir()) == []
        assert not orphan.exists()
        with server.client() as client:
            assert client.get("files").json()["total"] == 0
    finally:
        server.stop()
