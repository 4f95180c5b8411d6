"""What a verified download cannot avoid on this machine: each part alone, in CPU-s per GiB.

Issue 13 asks the engine for at most 1.3 CPU-s per GiB. Any design that receives the bytes,
puts them in the file and hashes them from memory pays at least: ``recv`` from a loopback
socket into a reused buffer (the sender uses ``sendfile``, like nginx), SHA-256 of the buffer
(``hashlib``: OpenSSL, with SHA-NI where the CPU has it), and putting the bytes into the
file: ``pwrite`` into fresh tmpfs pages, or ``O_DIRECT`` writes on a disk (no page cache pages
at all). Fresh pages are also measured on their own (anonymous memory faulted in with
``MADV_POPULATE_WRITE``): in a virtual machine whose host takes freed memory back (free
page reporting) this cost is high and varies a lot between runs.

Each part runs ``--rounds`` times on 1 GiB; the table prints the median, min and max of the
CPU-seconds of the thread doing it (the sender of the socket test runs in another process and
is not counted) and the sums that make the floor on tmpfs and on the disk.

Usage: python benchmarks/bench_floor.py [--rounds 5] [--disk-dir DIR] [--tmpfs-dir /dev/shm]
"""

from __future__ import annotations

import argparse
import hashlib
import mmap
import multiprocessing
import os
import socket
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

GiB = 1 << 30
BUFFER = 4 << 20
MADV_POPULATE_WRITE = getattr(mmap, "MADV_POPULATE_WRITE", 23)  # Linux 5.14+


def aligned_buffer() -> memoryview:
    view = memoryview(mmap.mmap(-1, BUFFER))  # page-aligned, as O_DIRECT needs
    view[:] = os.urandom(BUFFER)
    return view


def sha256_from_memory(buffer: memoryview, _work: Path) -> float:
    digest = hashlib.sha256()
    start = time.thread_time()
    for _ in range(GiB // BUFFER):
        digest.update(buffer)
    return time.thread_time() - start


def fresh_memory(_buffer: memoryview, _work: Path) -> float:
    start = time.thread_time()
    region = mmap.mmap(-1, GiB)
    try:
        region.madvise(MADV_POPULATE_WRITE)
    except OSError:  # older kernels: touch one byte per page
        for offset in range(0, GiB, mmap.PAGESIZE):
            region[offset] = 1
    spent = time.thread_time() - start
    region.close()
    return spent


def _send(port: int, source: Path) -> None:
    """Send 1 GiB with ``sendfile`` from a cached file, as nginx serves the benchmarks."""
    with socket.create_connection(("127.0.0.1", port)) as sock, open(source, "rb") as file:
        size = source.stat().st_size
        for _ in range(GiB // size):
            offset = 0
            while offset < size:
                offset += os.sendfile(sock.fileno(), file.fileno(), offset, size - offset)


def loopback_recv(buffer: memoryview, work: Path) -> float:
    source = work / "source.bin"
    if not source.exists():
        source.write_bytes(os.urandom(64 << 20))
    with socket.create_server(("127.0.0.1", 0)) as server:
        sender = multiprocessing.Process(target=_send, args=(server.getsockname()[1], source))
        sender.start()
        conn, _ = server.accept()
        with conn:
            start = time.thread_time()
            left = GiB
            while left:
                got = conn.recv_into(buffer, min(left, BUFFER))
                if not got:
                    raise RuntimeError("the sender stopped early")
                left -= got
            spent = time.thread_time() - start
        sender.join()
    return spent


def _write_file(buffer: memoryview, work: Path, flags: int) -> float:
    path = work / "floor.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | flags, 0o600)
    try:
        start = time.thread_time()
        for offset in range(0, GiB, BUFFER):
            os.pwrite(fd, buffer, offset)
        spent = time.thread_time() - start
    finally:
        os.close(fd)
        path.unlink()
    return spent


def buffered_write(buffer: memoryview, work: Path) -> float:
    return _write_file(buffer, work, 0)


def direct_write(buffer: memoryview, work: Path) -> float:
    return _write_file(buffer, work, getattr(os, "O_DIRECT", 0))


def measure(
    part: Callable[[memoryview, Path], float], buffer: memoryview, work: Path, rounds: int
) -> list[float]:
    spent = []
    for _ in range(rounds):
        os.sync()
        spent.append(part(buffer, work))
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tmpfs-dir", default="/dev/shm")
    parser.add_argument("--disk-dir", default=None, help="a directory on a disk (default: cwd)")
    args = parser.parse_args()
    tmpfs = Path(tempfile.mkdtemp(prefix="bench-floor-", dir=args.tmpfs_dir))
    disk = Path(tempfile.mkdtemp(prefix="bench-floor-", dir=args.disk_dir or Path.cwd()))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} cores, load average {load}; tmpfs {tmpfs}, disk {disk}")
    buffer = aligned_buffer()
    parts: dict[str, tuple[Callable[[memoryview, Path], float], Path]] = {
        "SHA-256 of 1 GiB in memory (hashlib)": (sha256_from_memory, tmpfs),
        "recv_into a 4 MiB buffer (loopback, sendfile)": (loopback_recv, tmpfs),
        "pwrite into fresh tmpfs pages": (buffered_write, tmpfs),
        "O_DIRECT pwrite on the disk": (direct_write, disk),
        "fault in 1 GiB of fresh anonymous memory": (fresh_memory, tmpfs),
    }
    medians: dict[str, float] = {}
    title = "part (CPU-s per GiB of the thread doing it)"
    print(f"\n{title:46} {'median':>7} {'min':>6} {'max':>6}")
    try:
        for name, (part, work) in parts.items():
            spent = measure(part, buffer, work, args.rounds)
            medians[name] = statistics.median(spent)
            print(f"{name:46} {medians[name]:7.2f} {min(spent):6.2f} {max(spent):6.2f}", flush=True)
    finally:
        for work in (tmpfs, disk):
            for leftover in work.glob("*"):
                leftover.unlink()
            work.rmdir()
    base = medians["SHA-256 of 1 GiB in memory (hashlib)"]
    base += medians["recv_into a 4 MiB buffer (loopback, sendfile)"]
    on_tmpfs = base + medians["pwrite into fresh tmpfs pages"]
    on_disk = base + medians["O_DIRECT pwrite on the disk"]
    print(
        f"\nfloor, medians summed (no start-up, no bookkeeping): tmpfs {on_tmpfs:.2f}, "
        f"disk with O_DIRECT {on_disk:.2f} CPU-s per GiB (issue 13's goal: 1.3)"
    )


if __name__ == "__main__":
    main()
