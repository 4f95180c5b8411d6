"""The one-file engine against a real origin on 127.0.0.1, one fault at a time.

Each fault ends either with the published file having the right SHA-256, or with a clear
DownloadError and nothing published. Never a wrong file at ``dest``.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_modelfiles.downloads.engine import (
    DownloadError,
    EngineConfig,
    FileDownload,
    ProgressCallback,
    Stopped,
)

from .origin import Origin, generate

KiB = 1024
MiB = 1024 * 1024
SIZE = 3 * MiB + 12345


def fast_config(**overrides: Any) -> EngineConfig:
    values: dict[str, Any] = {
        "connections": 4,
        "min_piece": 256 * KiB,
        "buffer_size": 64 * KiB,
        "lone_buffer_size": 64 * KiB,
        "stall_timeout": 1.0,
        "min_speed": 20 * KiB,
        "backoff_base": 0.02,
        "backoff_max": 0.2,
        "max_attempts": 5,
        "commit_interval": 0.05,
    }
    values.update(overrides)
    return EngineConfig(**values)


@pytest.fixture
def origin() -> Iterator[Origin]:
    with Origin() as server:
        yield server


def make(
    tmp_path: Path,
    url: str,
    *,
    sha256: str | None = None,
    on_progress: ProgressCallback | None = None,
    **config: Any,
) -> FileDownload:
    return FileDownload(
        url,
        tmp_path / "out" / "model.bin",
        tmp_path / "partial" / "job.part",
        tmp_path / "partial" / "job.journal",
        sha256=sha256,
        config=fast_config(**config),
        on_progress=on_progress,
    )


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def spans(requests: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """The ``[start, end)`` byte spans the data requests asked for, in request order."""
    out = []
    for r in requests:
        first, last = r["range"].removeprefix("bytes=").split("-")
        out.append((int(first), int(last) + 1))
    return out


def covers_once(parts: list[tuple[int, int]], size: int) -> bool:
    """The spans tile ``[0, size)``: no byte asked for twice, none left out."""
    cursor = 0
    for start, end in sorted(parts):
        if start != cursor:
            return False
        cursor = end
    return cursor == size


def test_plain_download_uses_parallel_ranges_and_verifies(tmp_path: Path, origin: Origin) -> None:
    data = origin.add("f", SIZE)
    download = make(tmp_path, origin.url("f"), sha256=digest(data))
    result = download.run()
    assert result.sha256 == digest(data)
    assert (tmp_path / "out" / "model.bin").read_bytes() == data
    assert not (tmp_path / "partial" / "job.part").exists()
    assert not (tmp_path / "partial" / "job.journal").exists()
    ranges = [r["range"] for r in origin.data_requests()]
    assert len(ranges) >= 2  # the connections shared the file's pieces
    assert all(r.startswith("bytes=") for r in ranges)


def test_one_connection_hashes_from_its_buffers(tmp_path: Path, origin: Origin) -> None:
    data = origin.add("f", SIZE)
    download = make(tmp_path, origin.url("f"), sha256=digest(data), connections=1)
    assert download.run().sha256 == digest(data)
    assert download.read_back == 0  # no byte was read back from the page cache to hash it


def test_slow_single_connection_splits(tmp_path: Path, origin: Origin) -> None:
    data = origin.add("f", SIZE)
    origin.rate = 2 * MiB  # per connection
    download = make(
        tmp_path, origin.url("f"), sha256=digest(data), split_below=100 * MiB, split_after=0.3
    )
    assert download.run().sha256 == digest(data)
    requests = origin.data_requests()
    first = spans(requests)[0]
    assert first[0] == 0 and first[1] < SIZE  # one connection first, with a bounded piece
    assert len({r["peer"] for r in requests}) >= 3  # then the others took the next pieces
    assert covers_once(spans(requests), SIZE)
    assert origin.bytes_served("f") == SIZE
    assert download.split_decision == "split"
    assert download.held_here < 0.5  # the connection waited for the origin, not for this side


def test_slow_because_held_up_here_does_not_split(tmp_path: Path, origin: Origin) -> None:
    """Slower than ``split_below`` because this side holds the bytes up (here its own rate
    limit; a writer short of CPU or disk alike): more connections would only cost more."""
    data = origin.add("f", SIZE)
    download = make(
        tmp_path,
        origin.url("f"),
        sha256=digest(data),
        split_below=100 * MiB,
        split_after=0.3,
        rate_limit=2 * MiB,
    )
    assert download.run().sha256 == digest(data)
    assert download.split_decision == "held here"
    assert download.held_here > 0.5
    requests = origin.data_requests()
    assert len({r["peer"] for r in requests}) == 1  # one connection throughout
    assert covers_once(spans(requests), SIZE)


def test_fast_single_connection_does_not_split(tmp_path: Path, origin: Origin) -> None:
    data = origin.add("f", SIZE)
    origin.rate = 2 * MiB
    download = make(
        tmp_path, origin.url("f"), sha256=digest(data), split_below=1024, split_after=0.3
    )
    assert download.run().sha256 == digest(data)
    requests = origin.data_requests()
    assert len({r["peer"] for r in requests}) == 1  # one keep-alive connection throughout
    parts = spans(requests)
    assert parts == sorted(parts) and covers_once(parts, SIZE)
    assert parts[-1][1] - parts[-1][0] > parts[0][1] - parts[0][0]  # fast: the rest at once
    assert download.read_back == 0


@pytest.mark.parametrize("split_below", [None, 100 * MiB], ids=["4-connections", "split-when-slow"])
def test_splitting_serves_each_byte_once(
    tmp_path: Path, origin: Origin, split_below: int | None
) -> None:
    data = origin.add("f", 4 * MiB)
    origin.rate = 2 * MiB  # per connection: splitting pays
    download = make(
        tmp_path,
        origin.url("f"),
        sha256=digest(data),
        split_below=split_below,
        split_after=0.3,
        buffer_size=256 * KiB,
    )
    assert download.run().sha256 == digest(data)
    assert len({r["peer"] for r in origin.data_requests()}) >= 2  # the file was split
    assert covers_once(spans(origin.data_requests()), len(data))
    assert origin.bytes_served("f") == len(data)  # no request was cut short


def test_pieces_are_bounded_requests_on_keep_alive_connections(
    tmp_path: Path, origin: Origin
) -> None:
    size = 8 * MiB
    data = origin.add("f", size)
    download = make(
        tmp_path, origin.url("f"), sha256=digest(data), min_piece=128 * KiB, max_piece=1 * MiB
    )
    assert download.run().sha256 == digest(data)
    requests = origin.data_requests()
    parts = spans(requests)
    lengths = [end - start for start, end in sorted(parts)]
    peers = {r["peer"] for r in requests}
    assert covers_once(parts, size)
    assert max(lengths) == 1 * MiB  # each request asks for one bounded piece
    assert max(lengths[-4:]) <= 192 * KiB  # shrinking toward the end: the tail is shared
    assert len(peers) <= 4 and len(requests) >= 3 * len(peers)  # pieces reuse connections
    assert origin.bytes_served("f") == size


def test_journal_is_committed_by_bytes_within_the_interval(tmp_path: Path, origin: Origin) -> None:
    data = origin.add("f", SIZE)
    origin.rate = 1 * MiB  # per connection: about 1.5 s for the file
    journal = tmp_path / "partial" / "job.journal"
    seen: list[tuple[int, int]] = []  # (durable bytes reported, bytes the journal holds)

    def progress(durable: int, size: int | None) -> None:
        state = json.loads(journal.read_text())
        seen.append((durable, sum(e - s for s, e in state["done"])))

    download = make(
        tmp_path,
        origin.url("f"),
        sha256=digest(data),
        on_progress=progress,
        connections=2,
        commit_interval=60.0,  # never due by time during this download
        commit_bytes=256 * KiB,
    )
    assert download.run().sha256 == digest(data)
    midway = [journalled for durable, journalled in seen if 0 < durable < SIZE]
    assert all(durable == journalled for durable, journalled in seen if durable < SIZE)
    assert len(midway) >= 4  # committed by bytes (about every 256 KiB), never by time
    steps = [b - a for a, b in zip([0, *midway], midway, strict=False)]
    assert max(steps) <= 1 * MiB  # 256 KiB + what arrived while a commit was being written


def test_unknown_sha_is_computed(tmp_path: Path, origin: Origin) -> None:
    data = origin.add("f", 1 * MiB + 1)
    result = make(tmp_path, origin.url("f")).run()
    assert result.sha256 == digest(data) and result.size == len(data)


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("reset", {"after": 100 * KiB}),
        ("stall", {"after": 10 * KiB, "seconds": 5}),
        ("stall", {"after": 0, "seconds": 5}),
        ("trickle", {"rate": 2 * KiB}),
        ("wrong_range", {}),
        ("status", {"code": 503}),
        ("status", {"code": 429, "retry_after": 0}),
        ("html", {}),
    ],
    ids=["reset", "stall-mid", "stall-first-byte", "trickle", "wrong-range", "503", "429", "html"],
)
def test_transient_faults_recover(
    tmp_path: Path, origin: Origin, kind: str, params: dict[str, Any]
) -> None:
    data = origin.add("f", SIZE)
    origin.fault(kind, times=2, **params)
    result = make(tmp_path, origin.url("f"), sha256=digest(data)).run()
    assert result.sha256 == digest(data)
    assert (tmp_path / "out" / "model.bin").read_bytes() == data


def test_retry_asks_only_for_the_missing_range(tmp_path: Path, origin: Origin) -> None:
    data = origin.add("f", 2 * MiB)
    origin.fault("reset", times=1, after=300 * KiB)
    make(tmp_path, origin.url("f"), sha256=digest(data), connections=1).run()
    ranges = [r["range"] for r in origin.data_requests()]
    assert ranges[0] == f"bytes=0-{2 * MiB - 1}"
    second_start = int(ranges[1].removeprefix("bytes=").split("-")[0])
    assert 0 < second_start <= 300 * KiB  # resumed, not restarted


def test_429_retry_after_is_honoured(tmp_path: Path, origin: Origin) -> None:
    data = origin.add("f", 512 * KiB)
    origin.fault("status", times=1, probes=True, code=429, retry_after=1)
    began = time.monotonic()
    make(tmp_path, origin.url("f"), sha256=digest(data)).run()
    assert time.monotonic() - began >= 0.95


def test_200_to_a_range_restarts_from_zero(tmp_path: Path, origin: Origin) -> None:
    data = origin.add("f", SIZE)
    origin.fault("full", times=1)
    result = make(tmp_path, origin.url("f"), sha256=digest(data)).run()
    assert result.sha256 == digest(data)
    # After the 200, the engine stopped using ranges: a plain GET of the whole file.
    assert origin.data_requests()[-1]["range"] == ""


def test_origin_ignoring_ranges_still_downloads(tmp_path: Path, origin: Origin) -> None:
    origin.ranges = False
    data = origin.add("f", SIZE)
    assert make(tmp_path, origin.url("f"), sha256=digest(data)).run().sha256 == digest(data)


def test_chunked_origin_without_length(tmp_path: Path, origin: Origin) -> None:
    origin.ranges = False
    origin.chunked = True
    data = origin.add("f", SIZE)
    result = make(tmp_path, origin.url("f")).run()
    assert result.size == len(data) and result.sha256 == digest(data)


def test_persistent_html_page_fails_clearly(tmp_path: Path, origin: Origin) -> None:
    origin.add("f", SIZE)
    origin.fault("html", times=100, probes=True)
    with pytest.raises(DownloadError, match="HTML page"):
        make(tmp_path, origin.url("f")).run()
    assert not (tmp_path / "out" / "model.bin").exists()


def test_persistent_wrong_content_range_fails_clearly(tmp_path: Path, origin: Origin) -> None:
    origin.add("f", SIZE)
    origin.fault("wrong_range", times=1000)
    with pytest.raises(DownloadError, match="to a request for"):
        make(tmp_path, origin.url("f")).run()
    assert not (tmp_path / "out" / "model.bin").exists()


def test_404_is_not_retried(tmp_path: Path, origin: Origin) -> None:
    origin.add("f", SIZE)
    origin.fault("status", times=1, probes=True, code=404)
    with pytest.raises(DownloadError, match="HTTP 404"):
        make(tmp_path, origin.url("f")).run()
    assert len(origin.requests) == 1


def test_416_with_unchanged_origin_is_retried(tmp_path: Path, origin: Origin) -> None:
    data = origin.add("f", SIZE)
    origin.fault("status", times=1, code=416)
    assert make(tmp_path, origin.url("f"), sha256=digest(data)).run().sha256 == digest(data)


def test_checksum_mismatch_is_never_published(tmp_path: Path, origin: Origin) -> None:
    origin.add("f", SIZE)
    with pytest.raises(DownloadError, match=r"checksum mismatch: expected 0+ got [0-9a-f]{64}"):
        make(tmp_path, origin.url("f"), sha256="0" * 64).run()
    assert not (tmp_path / "out" / "model.bin").exists()
    assert not (tmp_path / "partial" / "job.part").exists()


def test_empty_file_is_never_published(tmp_path: Path, origin: Origin) -> None:
    origin.add("f", 0)
    with pytest.raises(DownloadError, match="empty"):
        make(tmp_path, origin.url("f")).run()
    assert not (tmp_path / "out" / "model.bin").exists()


def test_file_changing_mid_download_never_mixes(tmp_path: Path, origin: Origin) -> None:
    old = origin.add("f", SIZE)
    origin.fault("reset", times=1, after=200 * KiB)
    origin.fault("change", times=1, seed=7)
    new = generate(SIZE, 7)
    # Without a known digest: the result is the new file, whole.
    result = make(tmp_path, origin.url("f")).run()
    assert result.sha256 == digest(new)
    assert (tmp_path / "out" / "model.bin").read_bytes() == new
    # With the old digest expected: a clear mismatch, nothing published.
    origin.replace("f", old)
    origin.fault("reset", times=1, after=200 * KiB)
    origin.fault("change", times=1, seed=8, size=SIZE + 5)
    target = tmp_path / "second"
    with pytest.raises(DownloadError, match=r"size mismatch|checksum mismatch"):
        make(target, origin.url("f"), sha256=digest(old)).run()
    assert not (target / "out" / "model.bin").exists()


def test_expired_signed_redirect_is_resolved_again(tmp_path: Path, origin: Origin) -> None:
    data = origin.add("f", SIZE)
    origin.signed_ttl = 0.2
    origin.rate = 2 * MiB
    origin.fault("reset", times=1, after=1 * MiB)  # reconnects after the signature expired
    download = make(tmp_path, origin.url("f", signed=True), sha256=digest(data), connections=1)
    result = download.run()
    assert result.sha256 == digest(data)
    statuses = [r["status"] for r in origin.requests]
    assert 403 in statuses
    assert sum(1 for r in origin.requests if r["path"].startswith("/signed/")) >= 2


def test_resume_from_journal_rehashes_prefix(tmp_path: Path, origin: Origin) -> None:
    data = origin.add("f", SIZE)
    origin.rate = 512 * KiB
    first = make(tmp_path, origin.url("f"), sha256=digest(data))
    threading.Timer(0.6, first.stop, args=("pause",)).start()
    with pytest.raises(Stopped):
        first.run()
    journal = json.loads((tmp_path / "partial" / "job.journal").read_text())
    done = sum(e - s for s, e in journal["done"])
    assert 0 < done < SIZE
    origin.rate = None
    origin.requests.clear()
    second = make(tmp_path, origin.url("f"), sha256=digest(data))
    assert second.run().sha256 == digest(data)
    assert second.read_back >= journal["done"][0][1]  # the journalled prefix, hashed from disk
    fetched = 0
    for r in origin.data_requests():
        first_byte, last_byte = r["range"].removeprefix("bytes=").split("-")
        fetched += int(last_byte) - int(first_byte) + 1
    assert fetched <= SIZE - done + 1  # only the missing bytes


def test_journal_disagreeing_with_origin_restarts_clean(tmp_path: Path, origin: Origin) -> None:
    origin.add("f", SIZE)
    origin.rate = 512 * KiB
    first = make(tmp_path, origin.url("f"))
    threading.Timer(0.5, first.stop, args=("pause",)).start()
    with pytest.raises(Stopped):
        first.run()
    new = generate(SIZE, 42)
    origin.replace("f", new)
    origin.rate = None
    result = make(tmp_path, origin.url("f")).run()
    assert result.sha256 == digest(new)


def test_rate_limit(tmp_path: Path, origin: Origin) -> None:
    data = origin.add("f", 1 * MiB)
    began = time.monotonic()
    make(tmp_path, origin.url("f"), sha256=digest(data), rate_limit=2 * MiB).run()
    assert time.monotonic() - began >= 0.4
