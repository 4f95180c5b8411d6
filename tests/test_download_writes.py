"""How the engine puts bytes on each kind of file system.

On a device's file system (the checkout's disk) aligned bytes go to the disk with
``O_DIRECT`` and the partial file is reserved with ``posix_fallocate``; on tmpfs the file only
gets its size (no zero-filling every page first) and every write goes through the page
cache. A direct write the kernel refuses falls back to the page cache with the same bytes.
"""

from __future__ import annotations

import hashlib
import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_modelfiles.downloads.engine import EngineConfig, FileDownload, Stopped
from jupyter_modelfiles.downloads.hasher import DIRECT_ALIGN, WriteHasher
from jupyter_modelfiles.filesystems import filesystem_type, in_memory

from .origin import Origin

KiB = 1024
MiB = 1024 * KiB
SIZE = 3 * MiB + 12345  # the tail is not a whole block
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def origin() -> Iterator[Origin]:
    with Origin() as server:
        yield server


@pytest.fixture
def on_disk() -> Iterator[Path]:
    """A directory on the checkout's disk (``tmp_path`` may be a tmpfs on some machines)."""
    directory = Path(tempfile.mkdtemp(prefix=".test-writes-", dir=REPO))
    assert not in_memory(directory), f"{directory} is on {filesystem_type(directory)}"
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def engine(root: Path, url: str, sha256: str | None = None, **config: object) -> FileDownload:
    values: dict[str, object] = {
        "connections": 4,
        "min_piece": 256 * KiB,
        "buffer_size": 64 * KiB,
        "lone_buffer_size": 64 * KiB,
        "commit_interval": 0.05,
        "stall_timeout": 2.0,
        "backoff_base": 0.02,
    }
    values.update(config)
    return FileDownload(
        url,
        root / "model.bin",
        root / "job.part",
        root / "job.journal",
        sha256=sha256,
        config=EngineConfig(**values),  # type: ignore[arg-type]
    )


def paused_partial(root: Path, origin: Origin) -> os.stat_result:
    """Start a slow download into ``root``, pause it once bytes arrived; the partial's stat."""
    origin.rate = 512 * KiB
    download = engine(root, origin.url("f"), connections=1)
    threading.Timer(0.5, download.stop, args=("pause",)).start()
    with pytest.raises(Stopped):
        download.run()
    origin.rate = None
    return (root / "job.part").stat()


@pytest.mark.parametrize("connections", [1, 4])
def test_disk_downloads_write_aligned_bytes_directly(
    on_disk: Path, origin: Origin, connections: int
) -> None:
    data = origin.add("f", SIZE)
    expected = hashlib.sha256(data).hexdigest()
    download = engine(on_disk, origin.url("f"), expected, connections=connections)
    assert download.run().sha256 == expected
    assert (on_disk / "model.bin").read_bytes() == data
    # Every whole block went straight to the disk; only the file's unaligned tail was cached.
    assert download.direct_bytes == SIZE - SIZE % DIRECT_ALIGN


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "slow"])
def test_a_lone_fast_connection_moves_to_bigger_buffers(
    on_disk: Path, origin: Origin, fast: bool
) -> None:
    """Measured from ``fast_after`` on: fast alone -> ``lone_buffer_size`` buffers (fewer,
    larger direct writes), well before ``split_after``; slow -> the small ones, so progress
    keeps moving."""
    data = origin.add("f", 2 * SIZE)
    origin.rate = 4 * MiB
    expected = hashlib.sha256(data).hexdigest()
    download = engine(
        on_disk,
        origin.url("f"),
        expected,
        connections=1,
        fast_after=0.2,
        split_after=60.0,  # the whole download (1.5 s) is before it
        lone_buffer_size=MiB,
        fast_alone=1 if fast else 1 << 40,
    )
    assert download.run().sha256 == expected
    assert (on_disk / "model.bin").read_bytes() == data
    assert download.largest_buffer == (MiB if fast else 64 * KiB)
    assert download.direct_bytes > 0


def test_direct_writes_can_be_turned_off(on_disk: Path, origin: Origin) -> None:
    data = origin.add("f", SIZE)
    download = engine(on_disk, origin.url("f"), direct_writes=False)
    assert download.run().sha256 == hashlib.sha256(data).hexdigest()
    assert download.direct_bytes == 0


def test_disk_partial_is_reserved(on_disk: Path, origin: Origin) -> None:
    origin.add("f", SIZE)
    stat = paused_partial(on_disk, origin)
    assert stat.st_size == SIZE
    assert stat.st_blocks * 512 >= SIZE  # posix_fallocate reserved every block


def test_tmpfs_partial_is_sized_not_filled(small_disk: Path, origin: Origin) -> None:
    assert in_memory(small_disk)
    data = origin.add("f", SIZE)
    stat = paused_partial(small_disk, origin)
    assert stat.st_size == SIZE
    assert stat.st_blocks * 512 < SIZE  # only the pages written so far hold memory
    resumed = engine(small_disk, origin.url("f"), hashlib.sha256(data).hexdigest())
    assert resumed.run().sha256 == hashlib.sha256(data).hexdigest()
    assert resumed.direct_bytes == 0  # tmpfs: no O_DIRECT
    assert (small_disk / "model.bin").read_bytes() == data


def test_a_refused_direct_write_falls_back_to_the_page_cache(on_disk: Path) -> None:
    """A buffer that is not block-aligned in memory: the kernel answers EINVAL for real."""
    path = on_disk / "file.bin"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    direct_fd = os.open(path, os.O_WRONLY | os.O_DIRECT)
    recorded: list[tuple[int, int]] = []
    errors: list[OSError] = []
    data = os.urandom(2 * MiB)
    try:

        def record(start: int, end: int) -> int:
            recorded.append((start, end))
            return end if start == 0 or recorded[-2][1] == start else 0

        writer = WriteHasher(fd, record, errors.append, direct_fd)
        writer.start()
        for offset in (0, MiB):
            backing = bytearray(MiB + 1)
            view = memoryview(backing)[1:]  # one byte off any block boundary
            view[:] = data[offset : offset + MiB]
            home: queue.SimpleQueue[memoryview] = queue.SimpleQueue()
            writer.submit(view, offset, MiB, home)
            writer.drain()
        writer.advance(2 * MiB)
        assert writer.finish() == hashlib.sha256(data).hexdigest()
    finally:
        os.close(direct_fd)
        os.close(fd)
    assert errors == []
    assert writer.direct_fd is None and writer.direct_bytes == 0
    assert path.read_bytes() == data
