"""Which HTTP client for the data path? httpx vs aiohttp vs http.client into reused buffers.

Each contestant downloads the same file from nginx on loopback and computes its SHA-256 in
the same pass, writing to a file, in a fresh subprocess (so peak RSS is its own).
Usage: python benchmarks/bench_http_clients.py [--size-mib 1024]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

CHUNK = 1 << 20


def run_httpx_sync(url: str, out: Path) -> str:
    import httpx

    sha = hashlib.sha256()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    with httpx.Client() as client, client.stream("GET", url) as response:
        for chunk in response.iter_raw(CHUNK):
            os.write(fd, chunk)
            sha.update(chunk)
    os.close(fd)
    return sha.hexdigest()


def run_httpx_async(url: str, out: Path) -> str:
    import asyncio

    import httpx

    async def main() -> str:
        sha = hashlib.sha256()
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        async with httpx.AsyncClient() as client, client.stream("GET", url) as response:
            async for chunk in response.aiter_raw(CHUNK):
                os.write(fd, chunk)
                sha.update(chunk)
        os.close(fd)
        return sha.hexdigest()

    return asyncio.run(main())


def run_aiohttp(url: str, out: Path) -> str:
    import asyncio

    import aiohttp

    async def main() -> str:
        sha = hashlib.sha256()
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            async for chunk in response.content.iter_chunked(CHUNK):
                os.write(fd, chunk)
                sha.update(chunk)
        os.close(fd)
        return sha.hexdigest()

    return asyncio.run(main())


def run_httpclient(url: str, out: Path) -> str:
    """Our data path's client: http.client, readinto1 into one reused 1 MiB buffer."""
    from jupyter_modelfiles.downloads.http import Connection

    sha = hashlib.sha256()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    view = memoryview(bytearray(CHUNK))
    conn = Connection(30)
    response = conn.request("GET", url, {"Accept-Encoding": "identity"})
    while True:
        fill = 0
        while fill < CHUNK:
            n = response.readinto(view[fill:])
            if n == 0:
                break
            fill += n
        if fill == 0:
            break
        os.write(fd, view[:fill])
        sha.update(view[:fill])
    os.close(fd)
    return sha.hexdigest()


def run_engine(url: str, out: Path, connections: int) -> str:
    from jupyter_modelfiles.downloads.engine import EngineConfig, FileDownload

    part = out.with_suffix(".part")
    download = FileDownload(
        url, out, part, out.with_suffix(".journal"), config=EngineConfig(connections=connections)
    )
    return download.run().sha256


CLIENTS = {
    "httpx (sync iter_raw)": lambda u, o: run_httpx_sync(u, o),
    "httpx (async aiter_raw)": lambda u, o: run_httpx_async(u, o),
    "aiohttp (iter_chunked)": lambda u, o: run_aiohttp(u, o),
    "http.client readinto1 (ours)": lambda u, o: run_httpclient(u, o),
    "engine, 1 connection": lambda u, o: run_engine(u, o, 1),
    "engine, 4 connections": lambda u, o: run_engine(u, o, 4),
}


def child(name: str, url: str, out: str) -> None:
    digest = CLIENTS[name](url, Path(out))
    print(digest)


def measure(argv: list[str]) -> tuple[float, float, int, str]:
    """Run a command; return wall seconds, CPU seconds, peak RSS bytes and its stdout."""
    began = time.perf_counter()
    process = psutil.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = 0
    cpu = 0.0
    while process.poll() is None:
        try:
            procs = [process, *process.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in procs))
            times = process.cpu_times()
            cpu = times.user + times.system + times.children_user + times.children_system
        except psutil.Error:
            pass
        time.sleep(0.01)
    wall = time.perf_counter() - began
    out, err = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{argv} failed: {err.decode()[-2000:]}")
    return wall, cpu, peak, out.decode().strip()


def main() -> None:
    from _nginx import Nginx, make_file

    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--child", nargs=3)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    work = Path(tempfile.mkdtemp(prefix="bench-clients-"))
    serve = work / "serve"
    serve.mkdir()
    make_file(serve / "blob.bin", args.size_mib << 20)
    expected = (
        subprocess.check_output(["openssl", "dgst", "-sha256", "-r", str(serve / "blob.bin")])
        .split()[0]
        .decode()
    )
    nginx = Nginx(serve).start()
    try:
        size = args.size_mib << 20
        print(f"{args.size_mib} MiB from nginx on loopback, download + SHA-256 in one pass")
        print(f"{'client':32} {'wall s':>7} {'MiB/s':>8} {'CPU s':>6} {'peak RSS':>9}  ok")
        for name in CLIENTS:
            out = work / "out.bin"
            wall, cpu, peak, digest = measure(
                [sys.executable, __file__, "--child", name, nginx.url("blob.bin"), str(out)]
            )
            ok = digest == expected
            print(
                f"{name:32} {wall:7.2f} {size / wall / (1 << 20):8.0f} {cpu:6.2f} "
                f"{peak / (1 << 20):7.0f}Mi  {'yes' if ok else 'NO'}"
            )
            for leftover in work.glob("out.*"):
                leftover.unlink()
    finally:
        nginx.stop()
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
