"""Upload a 1 GiB file: our streamed files API vs the Jupyter contents API's chunked upload.

Prints wall time, throughput and the server's peak RSS for each, in the same run:
- ``POST modelfiles/v1/files`` from httpx (streamed multipart) and from curl -F;
- ``PUT api/contents/<path>`` in 1 MiB base64 chunks, which is what JupyterLab's file
  browser does for large files.

Usage: python benchmarks/bench_upload.py [--size-mib 1024]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from _common import JupyterServerProcess, PeakRss, mib


def make_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    block = os.urandom(1 << 20)
    with open(path, "wb") as handle:
        for i in range(size // len(block)):
            chunk = block[:8] + i.to_bytes(8, "little") + block[16:]
            handle.write(chunk)
            digest.update(chunk)
    return digest.hexdigest()


def report(name: str, size: int, seconds: float, rss: PeakRss) -> None:
    print(
        f"{name:<44} {seconds:7.2f} s  {size / seconds / (1 << 20):8.1f} MiB/s  "
        f"server peak RSS {mib(rss.peak)} (+{mib(rss.peak - rss.baseline)} over idle)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args()
    size = args.size_mib << 20
    work = Path(tempfile.mkdtemp(prefix="bench-upload-"))
    try:
        source = work / "big.bin"
        expected = make_file(source, size)
        server = JupyterServerProcess(
            work, extra_args=[f"--ModelFilesApp.max_upload_size={size * 2}"]
        )
        server.start()
        assert server.process is not None
        print(f"file: {mib(size)}  sha256 {expected[:16]}...")
        try:
            with PeakRss(server.process.pid) as rss, open(source, "rb") as handle:
                start = time.perf_counter()
                response = httpx.post(
                    f"{server.api_url}/files",
                    files={"file": ("big.bin", handle)},
                    data={"purpose": "user_data"},
                    headers=server.headers,
                    timeout=600,
                )
                seconds = time.perf_counter() - start
            assert response.status_code == 200, response.text
            assert response.json()["sha256"] == expected
            report("modelfiles v1/files (httpx multipart)", size, seconds, rss)

            if shutil.which("curl"):
                with PeakRss(server.process.pid) as rss:
                    start = time.perf_counter()
                    out = subprocess.run(
                        [
                            "curl",
                            "-sS",
                            "-H",
                            f"Authorization: token {server.token}",
                            "-F",
                            f"file=@{source}",
                            "-F",
                            "purpose=user_data",
                            f"{server.api_url}/files",
                        ],
                        check=True,
                        capture_output=True,
                        text=True,
                    )
                    seconds = time.perf_counter() - start
                assert expected in out.stdout
                report("modelfiles v1/files (curl -F)", size, seconds, rss)

            with (
                PeakRss(server.process.pid) as rss,
                open(source, "rb") as handle,
                httpx.Client(headers=server.headers, timeout=600) as client,
            ):
                start = time.perf_counter()
                chunk_size = 1 << 20
                index = 1
                sent = 0
                while True:
                    chunk = handle.read(chunk_size)
                    sent += len(chunk)
                    last = sent >= size
                    reply = client.put(
                        f"{server.url}api/contents/big.bin",
                        json={
                            "type": "file",
                            "format": "base64",
                            "name": "big.bin",
                            "path": "big.bin",
                            "content": base64.b64encode(chunk).decode(),
                            "chunk": -1 if last else index,
                        },
                    )
                    assert reply.status_code in (200, 201), reply.text
                    index += 1
                    if last:
                        break
                seconds = time.perf_counter() - start
            uploaded = server.workdir / "notebooks" / "big.bin"
            assert uploaded.stat().st_size == size
            report("Jupyter contents API (1 MiB base64 chunks)", size, seconds, rss)
        finally:
            server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
