"""``mf.download`` returns one object for what was asked (issue 14, item 2).

One file: one :class:`Job`. A model of several files (a split GGUF): one :class:`JobGroup`
with the aggregate progress and ``wait``/``pause``/``resume``/``cancel``/``paths``. Earlier
runs and other quantizations of the model never show up in the answer.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_modelfiles.client import ModelFilesClient
from jupyter_modelfiles.widgets import GroupProgress, Job, JobGroup, download

from ..origin import Origin, running_origin
from .conftest import Live

PART = 600_000


@pytest.fixture
def origin() -> Iterator[Origin]:
    with running_origin() as served:
        yield served


def _file(origin: Origin, name: str, size: int, seed: int) -> dict[str, Any]:
    data = origin.add(name, size, seed=seed)
    return {"url": origin.url(name), "size": size, "sha256": hashlib.sha256(data).hexdigest()}


@pytest.fixture
def modelfiles_config(origin: Origin, tmp_path: Path) -> dict[str, Any]:
    models = [
        {
            "id": "org/model",
            "files": [
                _file(origin, "model.Q4_K_M.gguf", 200_000, 1),
                _file(origin, "model.Q8_0.gguf", 300_000, 2),
            ],
        },
        {
            "id": "org/split",
            "files": [
                _file(origin, f"split.Q8_0-0000{i}-of-00002.gguf", PART, 10 + i) for i in (1, 2)
            ],
        },
        {
            "id": "org/slow-split",
            "files": [
                _file(origin, f"slow.Q8_0-0000{i}-of-00002.gguf", 3_000_000, 20 + i) for i in (1, 2)
            ],
        },
    ]
    manifest = tmp_path / "catalog.json"
    manifest.write_text(json.dumps({"models": models}))
    return {"manifests": [str(manifest)], "hf_endpoint": "http://127.0.0.1:9"}


async def test_one_file_is_one_job_however_often_it_is_asked(live: Live) -> None:
    client = ModelFilesClient(live.url, live.token)

    def run() -> None:
        job = download("org/model", quant="Q8_0", client=client, display=False)
        assert isinstance(job, Job)
        assert job.wait(timeout=30)["status"] == "completed"
        (path,) = job.paths
        assert path.name == "model.Q8_0.gguf" and path.stat().st_size == 300_000
        # asked again: still one object, saying it is there already, with the same path
        again = download("org/model", quant="Q8_0", client=client, display=False)
        assert isinstance(again, Job) and again.state == "already_downloaded"
        assert again.wait(timeout=1)["status"] == "already_downloaded"
        assert again.paths == [path]
        # another quantization: one new job, not the model's earlier runs
        other = download("org/model", quant="Q4_K_M", client=client, display=False)
        assert isinstance(other, Job) and other.id not in (job.id, "")
        assert other.wait(timeout=30)["status"] == "completed"
        assert [p.name for p in other.paths] == ["model.Q4_K_M.gguf"]

    await asyncio.to_thread(run)


async def test_a_model_of_several_files_is_one_group(live: Live) -> None:
    client = ModelFilesClient(live.url, live.token)

    def run() -> None:
        group = download("org/split", client=client, display=False)
        assert isinstance(group, JobGroup) and len(group.jobs) == 2
        assert {job.status["file"] for job in group.jobs} == {
            "split.Q8_0-00001-of-00002.gguf",
            "split.Q8_0-00002-of-00002.gguf",
        }
        final = group.wait(timeout=30)
        assert final["status"] == "completed" and group.finished and group.progress == 1.0
        assert final["downloaded_bytes"] == final["total_size_bytes"] == 2 * PART
        (first,) = group.paths
        assert first.name == "split.Q8_0-00001-of-00002.gguf" and first.stat().st_size == PART
        assert "2 files completed" in repr(group)

    await asyncio.to_thread(run)


async def test_a_group_pauses_resumes_and_cancels_every_file(live: Live, origin: Origin) -> None:
    client = ModelFilesClient(live.url, live.token)
    origin.rate = 400_000

    def run() -> None:
        group = download("org/slow-split", client=client, display=False)
        assert isinstance(group, JobGroup)
        bar = GroupProgress(group, listen=False)
        assert "2 files" in bar.title.value
        assert group.pause()["status"] == "paused"
        assert {job.state for job in group.jobs} == {"paused"}
        bar.draw()
        assert bar.pause_button.disabled and not bar.resume_button.disabled
        assert group.resume()["status"] in ("queued", "downloading")
        assert group.cancel()["status"] == "cancelled"
        assert {job.state for job in group.jobs} == {"cancelled"}
        assert group.wait(timeout=5)["status"] == "cancelled" and group.paths == []
        bar.draw()
        assert bar.cancel_button.disabled

    try:
        await asyncio.to_thread(run)
    finally:
        origin.rate = None
