"""kill -9 of a real ``jupyter server`` mid-download: after each restart the job resumes from
its journal, and the file completes with the right SHA-256 (three kills at random points)."""

from __future__ import annotations

import hashlib
import random
import time
from pathlib import Path

from .jupyter_process import JupyterServerProcess
from .origin import Origin

MiB = 1024 * 1024


def test_kill_9_at_random_points_then_the_file_completes(tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    with Origin() as origin:
        data = origin.add("model.gguf", 24 * MiB)
        origin.rate = 6 * MiB
        server = JupyterServerProcess(
            tmp_path, extra_args=["--ModelFilesApp.download_stall_timeout=5"]
        )
        server.start()
        try:
            with server.client() as client:
                job = client.post(
                    "downloads",
                    json={
                        "url": origin.url("model.gguf"),
                        "sha256": hashlib.sha256(data).hexdigest(),
                    },
                ).json()
            job_id = job["job_id"]
            partial = server.root / ".partial" / f"{job_id}.part"
            for _ in range(3):
                deadline = time.monotonic() + 20
                while not partial.exists() and time.monotonic() < deadline:
                    time.sleep(0.02)
                time.sleep(rng.uniform(0.1, 1.2))
                server.kill()
                assert partial.exists(), f"seed {seed}: the partial file is gone after kill -9"
                server.start()
            deadline = time.monotonic() + 60
            with server.client() as client:
                while time.monotonic() < deadline:
                    state = client.get(f"downloads/{job_id}").json()
                    if state["status"] in ("completed", "failed"):
                        break
                    time.sleep(0.1)
                assert state["status"] == "completed", f"seed {seed}: {state}"
                assert state["sha256"] == hashlib.sha256(data).hexdigest()
                file_id = state["hook_args"]["file_id"]
                content = client.get(f"files/{file_id}/content").content
            assert content == data, f"seed {seed}"
            resumed = [r for r in origin.data_requests() if not r["range"].startswith("bytes=0-")]
            assert resumed, f"seed {seed}: no restart resumed from the journal"
        finally:
            server.stop()
