"""A job seen through the three seeds: LM Studio status, Anaconda Download, Pieces progress."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pieces_os_client.models.model_download_progress import ModelDownloadProgress

from jupyter_modelfiles.catalog.shapes import anaconda_download
from jupyter_modelfiles.downloads import Job

T0 = datetime(2026, 11, 2, 10, 0, 0, 123000, tzinfo=timezone.utc)
ANACONDA_DOWNLOAD = {
    "fileId": str,
    "modelId": str,
    "filename": str,
    "downloadedRatio": float,
    "transferredBytes": int,
    "totalBytes": int,
    "paused": bool,
    "downloadTimeTaken": int,
    "averageMbps": float,
}


def job(status: str, **kwargs: object) -> Job:
    values: dict[str, object] = {
        "job_id": "job_0123456789",
        "status": status,
        "url": "http://127.0.0.1/x.gguf",
        "dest": Path("/tmp/x.gguf"),
        "model_id": "org/name",
        "file": "x.gguf",
        "downloaded_bytes": 250,
        "total_size_bytes": 1000,
        "started_at": T0,
        "active_seconds": 2.0,
    }
    values.update(kwargs)
    return Job(**values)  # type: ignore[arg-type]


def test_lm_studio_fields_per_status() -> None:
    live = job(
        "downloading", bytes_per_second=125.0, estimated_completion=T0 + timedelta(seconds=6)
    ).to_status()
    assert live["started_at"] == "2026-11-02T10:00:00.123Z"
    assert live["estimated_completion"] == "2026-11-02T10:00:06.123Z"
    assert live["bytes_per_second"] == 125.0
    assert "completed_at" not in live
    done = job("completed", completed_at=T0 + timedelta(minutes=1)).to_status()
    assert done["completed_at"] == "2026-11-02T10:01:00.123Z"
    assert "bytes_per_second" not in done and "estimated_completion" not in done
    paused = job("paused").to_status()
    assert {"bytes_per_second", "estimated_completion", "completed_at"}.isdisjoint(paused)


@pytest.mark.parametrize("status", ["queued", "downloading", "paused", "completed", "failed"])
def test_anaconda_download_object(status: str) -> None:
    shape = anaconda_download([job(status)], file_id="x.gguf", model_id="org/name", filename="x")
    assert set(shape) == set(ANACONDA_DOWNLOAD)
    for name, kind in ANACONDA_DOWNLOAD.items():
        assert isinstance(shape[name], kind), name
    assert shape["downloadedRatio"] == 0.25
    assert shape["paused"] is (status == "paused")
    assert shape["downloadTimeTaken"] == 2000
    assert shape["averageMbps"] == pytest.approx(250 * 8 / 1e6 / 2)


def test_anaconda_download_of_a_split_file_sums_its_parts() -> None:
    first = job("downloading", file="big-00001-of-00002.gguf", active_seconds=3.0)
    second = job("paused", file="big-00002-of-00002.gguf", downloaded_bytes=750)
    shape = anaconda_download(
        [first, second], file_id="big.gguf", model_id="org/name", filename="big.gguf"
    )
    assert shape["fileId"] == "big.gguf" and shape["filename"] == "big.gguf"
    assert shape["transferredBytes"] == 1000 and shape["totalBytes"] == 2000
    assert shape["downloadedRatio"] == 0.5
    assert shape["downloadTimeTaken"] == 5000  # the parts' active seconds, summed
    assert shape["averageMbps"] == pytest.approx(1000 * 8 / 1e6 / 5, abs=1e-3)
    assert shape["paused"] is False  # one part still downloads
    both = anaconda_download(
        [job("paused"), second], file_id="big.gguf", model_id="org/name", filename="big.gguf"
    )
    assert both["paused"] is True
    unknown = anaconda_download(
        [job("queued", total_size_bytes=None)],
        file_id="x",
        model_id="org/name",
        filename="x",
        size=4000,
    )
    assert unknown["totalBytes"] == 4000 and unknown["downloadedRatio"] == 0.0625


@pytest.mark.parametrize(
    ("status", "pieces", "percentage"),
    [
        ("queued", "INITIALIZED", 25.0),
        ("downloading", "IN-PROGRESS", 25.0),
        ("completed", "COMPLETED", 100.0),
        ("failed", "FAILED", 25.0),
        ("cancelled", "CANCELED", 25.0),
    ],
)
def test_pieces_progress_parses_with_the_pieces_client(
    status: str, pieces: str, percentage: float
) -> None:
    progress = job(status).to_pieces_progress()
    assert progress["status"] == pieces and progress["percentage"] == percentage
    parsed = ModelDownloadProgress.from_dict(progress)
    assert parsed is not None and parsed.status is not None
    assert parsed.status.value == pieces and parsed.percentage == percentage


def test_estimated_completion_from_the_first_report() -> None:
    """Before the speed is measured, the estimate comes from the average speed so far; it is
    null only while the total or the speed is unknown (issue 12, item 11)."""
    started = datetime.now(timezone.utc) - timedelta(seconds=2)
    first = job("downloading", started_at=started, bytes_per_second=0.0).to_status()
    eta = datetime.fromisoformat(first["estimated_completion"].replace("Z", "+00:00"))
    # 250 of 1000 bytes in 2 s: 750 more take about 6 s
    expected = datetime.now(timezone.utc) + timedelta(seconds=6)
    assert abs((eta - expected).total_seconds()) < 1
    done = job("downloading", started_at=started, downloaded_bytes=1000).to_status()
    assert done["estimated_completion"] is not None
    unknown_total = job("downloading", started_at=started, total_size_bytes=None).to_status()
    assert unknown_total["estimated_completion"] is None
    nothing_yet = job("downloading", started_at=started, downloaded_bytes=0).to_status()
    assert nothing_yet["estimated_completion"] is None
