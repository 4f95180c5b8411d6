"""2 GiB from nginx on loopback, download + verified SHA-256, side by side in one run.

Contestants (each a fresh process; peak RSS is its own, the server's for the API run):
our engine standalone (1 and 4 connections) and through a running Jupyter server's API,
``curl -o`` then ``sha256sum`` / ``openssl dgst -sha256``, ``aria2c -x8 -s8`` (with its own
``--checksum`` verification), huggingface_hub's ``http_get`` + hashlib. Then the server's
``/api/status`` p50/p99 latency while 4 downloads run through it.

Needs nginx, aria2c, curl, openssl (``apt-get install -y nginx aria2``).
Usage: python benchmarks/bench_download.py [--size-mib 2048]
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import JupyterServerProcess, PeakRss, percentile
from _nginx import Nginx, make_file
from bench_http_clients import measure

HERE = Path(__file__).resolve().parent


def hf_child(url: str, out: str) -> None:
    from huggingface_hub.file_download import http_get

    with open(out, "wb") as handle:
        http_get(url, handle)
    sha = hashlib.sha256()
    with open(out, "rb") as handle:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
    print(sha.hexdigest())


def run_server(url: str, expected: str, work: Path, size: int) -> tuple[float, int, str]:
    server = JupyterServerProcess(work / "server-one")
    server.start()
    try:
        assert server.process is not None
        with server.client() as client, PeakRss(server.process.pid) as rss:
            began = time.perf_counter()
            job = client.post("downloads", json={"url": url, "sha256": expected}).json()
            while True:
                state = client.get(f"downloads/{job['job_id']}").json()
                if state["status"] in ("completed", "failed"):
                    break
                time.sleep(0.02)
            wall = time.perf_counter() - began
        if state["status"] != "completed":
            raise RuntimeError(state)
        return wall, rss.peak, state["sha256"]
    finally:
        server.stop()


def status_latency(urls: list[str], work: Path) -> tuple[list[float], float, list[str]]:
    server = JupyterServerProcess(
        work / "server-four", extra_args=["--ModelFilesApp.max_concurrent_downloads=4"]
    )
    server.start()
    latencies: list[float] = []
    try:
        with server.client() as client:
            began = time.perf_counter()
            jobs = [
                client.post("downloads", json={"url": u, "filename": f"copy{i}.bin"}).json()
                for i, u in enumerate(urls)
            ]
            done = threading.Event()

            def probe() -> None:
                with httpx.Client(headers=server.headers, timeout=30) as status_client:
                    while not done.is_set():
                        t = time.perf_counter()
                        status_client.get(f"{server.url}api/status").raise_for_status()
                        latencies.append(time.perf_counter() - t)
                        time.sleep(0.02)

            thread = threading.Thread(target=probe)
            thread.start()
            states: list[str] = []
            while True:
                states = [client.get(f"downloads/{j['job_id']}").json()["status"] for j in jobs]
                if all(s in ("completed", "failed") for s in states):
                    break
                time.sleep(0.1)
            wall = time.perf_counter() - began
            done.set()
            thread.join()
        return latencies, wall, states
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--hf-child", nargs=2)
    args = parser.parse_args()
    if args.hf_child:
        hf_child(*args.hf_child)
        return
    for tool in ("nginx", "aria2c", "curl", "openssl", "sha256sum"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"{tool} is missing: apt-get install -y nginx aria2")
    size = args.size_mib << 20
    work = Path(tempfile.mkdtemp(prefix="bench-download-"))
    serve = work / "serve"
    serve.mkdir()
    blob = serve / "blob.bin"
    print(f"generating {args.size_mib} MiB of random bytes ...", flush=True)
    make_file(blob, size)
    expected = subprocess.check_output(["openssl", "dgst", "-sha256", "-r", str(blob)])
    expected_hex = expected.split()[0].decode()
    nginx = Nginx(serve).start()
    url = nginx.url("blob.bin")
    out = work / "out.bin"
    py = sys.executable
    rows: list[tuple[str, float, int, str]] = []

    def record(name: str, argv: list[str], *, digest_from_stdout: bool = True) -> None:
        wall, _cpu, peak, stdout = measure(argv)
        digest = stdout.split()[0] if stdout and digest_from_stdout else expected_hex
        rows.append((name, wall, peak, "yes" if digest == expected_hex else "NO"))
        print(f"  {name}: {wall:.2f} s", flush=True)
        for leftover in work.glob("out.*"):
            leftover.unlink()

    try:
        clients = str(HERE / "bench_http_clients.py")
        record(
            "engine standalone, 1 conn",
            [py, clients, "--child", "engine, 1 connection", url, str(out)],
        )
        record(
            "engine standalone, 4 conns",
            [py, clients, "--child", "engine, 4 connections", url, str(out)],
        )
        record("curl -o + sha256sum", ["sh", "-c", f"curl -s -o {out} {url} && sha256sum {out}"])
        record(
            "curl -o + openssl dgst",
            ["sh", "-c", f"curl -s -o {out} {url} && openssl dgst -sha256 -r {out}"],
        )
        record(
            "aria2c -x8 -s8 (+--checksum)",
            [
                "aria2c",
                "-q",
                "-x8",
                "-s8",
                "--allow-overwrite=true",
                "--auto-file-renaming=false",
                f"--checksum=sha-256={expected_hex}",
                "-d",
                str(work),
                "-o",
                out.name,
                url,
            ],
            digest_from_stdout=False,
        )
        record("huggingface_hub http_get + sha256", [py, __file__, "--hf-child", url, str(out)])
        wall, peak, digest = run_server(url, expected_hex, work, size)
        rows.append(
            (
                "our server API (POST v1/downloads)",
                wall,
                peak,
                "yes" if digest == expected_hex else "NO",
            )
        )
        shutil.rmtree(work / "server-one", ignore_errors=True)

        curl_wall = next(r[1] for r in rows if r[0] == "curl -o + openssl dgst")
        print()
        print(f"{args.size_mib} MiB from nginx on loopback, download + SHA-256 (verified)")
        print(
            f"{'contestant':38} {'wall s':>7} {'MiB/s':>7} {'vs curl+openssl':>16} {'peak RSS':>9} ok"
        )
        for name, wall, peak, ok in rows:
            print(
                f"{name:38} {wall:7.2f} {size / wall / (1 << 20):7.0f} {curl_wall / wall:15.2f}x "
                f"{peak / (1 << 20):7.0f}Mi {ok}"
            )

        for i in range(4):
            (serve / f"copy{i}.bin").symlink_to(blob)
        latencies, wall, states = status_latency(
            [nginx.url(f"copy{i}.bin") for i in range(4)], work
        )
        print()
        print(
            f"/api/status while 4 downloads of {args.size_mib} MiB run through the server "
            f"({wall:.1f} s, {states}): n={len(latencies)} "
            f"p50={percentile(latencies, 50) * 1000:.1f} ms p99={percentile(latencies, 99) * 1000:.1f} ms "
            f"max={max(latencies) * 1000:.1f} ms"
        )
    finally:
        nginx.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
