"""Is Jupyter still responsive while 4 big downloads run through it, and are they as fast as the
standalone engine? One side-by-side run per engine placement.

For each placement of the engine (``process``: a worker process per running file, the default;
``thread``: threads inside the server, as before), a real ``jupyter server`` (token auth,
``max_concurrent_downloads=4``) with a running kernel:

1. idle: ``GET /api/status`` every 20 ms and a trivial cell (``1``) executed over the kernel's
   WebSocket (``/api/kernels/<id>/channels``, execute_request -> execute_reply) every 20 ms,
   both at once, for ``--idle-seconds``;
2. ``--rounds`` rounds (the order alternating) of: 4 files of ``--size-mib`` downloaded at once
   through the server's API (``POST v1/downloads``, SHA-256 verified, one ``GET v1/downloads``
   every 20 ms sees them finish), and the same 4 files with the standalone engine as users run
   it (``jupyter modelfiles download --standalone URL -o OUT --sha256 X``, 4 processes, start-up
   included) beside the same idle server. The two probes run during both, so both sides carry
   the same probing load and the standalone side shows how much of the stutter is the machine
   being busy at all.

Printed per placement: p50/p99/max of both probes idle, busy and beside the standalone CLIs
(and the busy/idle ratio of the kernel's p99), the median wall times, the ratio server /
standalone per round and its median, the server process's own CPU-seconds and its
children's (the workers) per round.

The origin is nginx on loopback, on this machine: it uses CPU (``sendfile``) that a remote
origin would not, competing with the server, the kernel and the workers. ``--origin-nice N``
runs it at a lower priority (labelled in the output) to show that share separately.

Needs nginx. Usage: python benchmarks/bench_responsive.py --workdir /dev/shm [--size-mib 512]
       [--placements process thread] [--origin-nice 0] [--idle-seconds 8] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import TypeVar

import httpx
import psutil
from tornado.websocket import WebSocketClientConnection, websocket_connect

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import JupyterServerProcess, percentile
from _nginx import Nginx, make_file

from jupyter_modelfiles.defaults import DOWNLOAD_WORKER_NICE

MiB = 1 << 20
COPIES = 4
T = TypeVar("T")


@dataclass
class Probes:
    status: list[float] = field(default_factory=list)
    kernel: list[float] = field(default_factory=list)


@dataclass
class Placement:
    name: str
    idle: Probes
    busy: Probes  # while the 4 downloads run through this server
    solo: Probes  # while 4 standalone CLIs run beside the same idle server
    walls: list[float]  # per round, through the server
    solo_walls: list[float]  # per round, the standalone CLIs
    solo_cpu: float
    server_cpu: float
    children_cpu: float
    states: list[str]


def fmt(values: list[float]) -> str:
    if not values:
        return "n=0"
    ms = [v * 1000 for v in values]
    return (
        f"n={len(ms):4d} p50={percentile(ms, 50):6.1f} ms p99={percentile(ms, 99):6.1f} ms "
        f"max={max(ms):6.1f} ms"
    )


class Kernel:
    """A kernel started through the server's REST API, driven over its WebSocket."""

    def __init__(self, server: JupyterServerProcess) -> None:
        self.server = server
        self.session = uuid.uuid4().hex
        self.kernel_id = ""
        self.ws: WebSocketClientConnection | None = None

    async def start(self, client: httpx.AsyncClient) -> None:
        response = await client.post(f"{self.server.url}api/kernels", json={"name": "python3"})
        response.raise_for_status()
        self.kernel_id = response.json()["id"]
        ws_url = self.server.url.replace("http://", "ws://")
        token = self.server.headers["Authorization"].split()[-1]
        self.ws = await websocket_connect(
            f"{ws_url}api/kernels/{self.kernel_id}/channels?session_id={self.session}&token={token}"
        )
        for _ in range(50):  # the first executions warm the kernel up
            await self.execute()

    async def execute(self, code: str = "1") -> float:
        assert self.ws is not None
        msg_id = uuid.uuid4().hex
        message = {
            "header": {
                "msg_id": msg_id,
                "msg_type": "execute_request",
                "username": "bench",
                "session": self.session,
                "version": "5.3",
                "date": "",
            },
            "parent_header": {},
            "metadata": {},
            "content": {"code": code, "silent": False, "store_history": False},
            "buffers": [],
            "channel": "shell",
        }
        began = time.perf_counter()
        await self.ws.write_message(json.dumps(message))
        while True:
            raw = await self.ws.read_message()
            if raw is None:
                raise RuntimeError("the kernel's WebSocket closed")
            reply = json.loads(raw)
            if (
                reply.get("channel") == "shell"
                and reply.get("parent_header", {}).get("msg_id") == msg_id
            ):
                return time.perf_counter() - began

    async def stop(self, client: httpx.AsyncClient) -> None:
        if self.ws is not None:
            self.ws.close()
        if self.kernel_id:
            await client.delete(f"{self.server.url}api/kernels/{self.kernel_id}")


async def probe_loop(
    server: JupyterServerProcess,
    client: httpx.AsyncClient,
    kernel: Kernel,
    until: asyncio.Event,
    into: Probes,
) -> None:
    async def status() -> None:
        while not until.is_set():
            t = time.perf_counter()
            (await client.get(f"{server.url}api/status")).raise_for_status()
            into.status.append(time.perf_counter() - t)
            await asyncio.sleep(0.02)

    async def execute() -> None:
        while not until.is_set():
            into.kernel.append(await kernel.execute())
            await asyncio.sleep(0.02)

    await asyncio.gather(status(), execute())


async def with_probes(
    server: JupyterServerProcess,
    client: httpx.AsyncClient,
    kernel: Kernel,
    into: Probes,
    work: Awaitable[T],
) -> T:
    """Run ``work`` while both probes run; stop them when it is done."""
    stop = asyncio.Event()
    probes = asyncio.ensure_future(probe_loop(server, client, kernel, stop, into))
    try:
        return await work
    finally:
        stop.set()
        await probes


async def through_server(
    server: JupyterServerProcess,
    client: httpx.AsyncClient,
    urls: list[str],
    expected: str,
    tag: str,
) -> tuple[float, list[str]]:
    """The files at once through the API: wall time until all are done, their states.

    One ``GET v1/downloads`` every 20 ms sees them finish; the stored files are deleted
    afterwards (``DELETE v1/files/{id}``), so rounds do not fill a tmpfs.
    """
    began = time.perf_counter()
    jobs = []
    for i, url in enumerate(urls):
        response = await client.post(
            f"{server.api_url}/downloads",
            json={"url": url, "sha256": expected, "filename": f"copy{i}-{tag}.bin"},
        )
        response.raise_for_status()
        jobs.append(response.json()["job_id"])
    while True:
        listing = (await client.get(f"{server.api_url}/downloads")).json()["data"]
        mine = {job["job_id"]: job for job in listing if job["job_id"] in jobs}
        if len(mine) == len(jobs) and all(
            job["status"] in ("completed", "failed", "cancelled") for job in mine.values()
        ):
            break
        await asyncio.sleep(0.02)
    wall = time.perf_counter() - began
    for job_id in jobs:  # stored as files (the files_store hook): deleted through the API
        for _ in range(100):
            job = (await client.get(f"{server.api_url}/downloads/{job_id}")).json()
            file_id = (job.get("hook_args") or {}).get("file_id")
            if file_id or job["status"] != "completed":
                break
            await asyncio.sleep(0.05)
        if file_id:
            (await client.delete(f"{server.api_url}/files/{file_id}")).raise_for_status()
        Path(job["dest"]).unlink(missing_ok=True)
    return wall, [mine[job]["status"] for job in jobs]


async def one_placement(
    name: str,
    urls: list[str],
    expected: str,
    work: Path,
    idle_seconds: float,
    nice: int,
    server_args: list[str],
    rounds: int,
) -> Placement:
    """Idle probes, then ``rounds`` rounds of the 4 downloads through the server and as 4
    standalone CLIs beside it (the order alternating), the probes running during both."""
    server = JupyterServerProcess(
        work / f"server-{name}",
        extra_args=[
            f"--ModelFilesApp.max_concurrent_downloads={COPIES}",
            f"--ModelFilesApp.download_worker_processes={name == 'process'}",
            f"--ModelFilesApp.download_worker_nice={nice}",
            *server_args,
        ],
    )
    server.start()
    assert server.process is not None
    process = psutil.Process(server.process.pid)
    try:
        async with httpx.AsyncClient(headers=server.headers, timeout=60) as client:
            kernel = Kernel(server)
            await kernel.start(client)
            idle, busy, solo = Probes(), Probes(), Probes()
            stop = asyncio.Event()
            asyncio.get_running_loop().call_later(idle_seconds, stop.set)
            await probe_loop(server, client, kernel, stop, idle)

            walls: list[float] = []
            solo_walls: list[float] = []
            server_cpu = children_cpu = solo_cpu = 0.0
            states: list[str] = []
            for round_ in range(rounds):
                for side in ("server", "solo") if round_ % 2 == 0 else ("solo", "server"):
                    if side == "solo":
                        wall, cpu, codes = await with_probes(
                            server,
                            client,
                            kernel,
                            solo,
                            asyncio.to_thread(standalone, urls, expected, work),
                        )
                        if any(codes):
                            raise RuntimeError(f"a standalone download failed: {codes}")
                        solo_walls.append(wall)
                        solo_cpu += cpu
                        continue
                    before = process.cpu_times()
                    wall, states = await with_probes(
                        server,
                        client,
                        kernel,
                        busy,
                        through_server(server, client, urls, expected, f"r{round_}"),
                    )
                    after = process.cpu_times()
                    walls.append(wall)
                    server_cpu += (after.user + after.system) - (before.user + before.system)
                    children_cpu += (after.children_user + after.children_system) - (
                        before.children_user + before.children_system
                    )
                    if any(state != "completed" for state in states):
                        raise RuntimeError(f"a download through the server failed: {states}")
                load = os.getloadavg()[0]
                print(
                    f"  [{name}] round {round_ + 1}: server {walls[-1]:.2f} s, standalone "
                    f"{solo_walls[-1]:.2f} s ({walls[-1] / solo_walls[-1]:.2f}x); load {load:.2f}",
                    flush=True,
                )
            await kernel.stop(client)
        return Placement(
            name,
            idle,
            busy,
            solo,
            walls,
            solo_walls,
            solo_cpu / rounds,
            server_cpu / rounds,
            children_cpu / rounds,
            states,
        )
    finally:
        server.stop()
        shutil.rmtree(work / f"server-{name}", ignore_errors=True)


def standalone(urls: list[str], expected: str, work: Path) -> tuple[float, float, list[int]]:
    """The 4 files at once with the standalone CLI: wall time, CPU-seconds, exit codes."""
    jupyter = shutil.which("jupyter") or str(Path(sys.executable).with_name("jupyter"))
    out = work / "standalone"
    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    children = [
        subprocess.Popen(
            [
                jupyter,
                "modelfiles",
                "download",
                "--standalone",
                url,
                "-o",
                str(out / f"copy{i}.bin"),
                "--sha256",
                expected,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for i, url in enumerate(urls)
    ]
    cpu, codes = 0.0, []
    for child in children:
        _pid, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        codes.append(child.returncode)
        cpu += usage.ru_utime + usage.ru_stime
    wall = time.perf_counter() - began
    for child in children:
        if child.returncode != 0 and child.stderr is not None:
            print("   standalone failed:", child.stderr.read().decode()[-800:])
    shutil.rmtree(out, ignore_errors=True)
    return wall, cpu, codes


def describe_machine(work: Path, origin_nice: int) -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    where = "tmpfs" if str(work).startswith("/dev/shm") else "disk"
    return (
        f"{os.cpu_count()} cores, Linux {platform.release()}, Python "
        f"{platform.python_version()}; workdir {work} ({where}); origin: nginx on loopback "
        f"(same machine) at nice {origin_nice}; load average {load}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/dev/shm"))
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--placements", nargs="+", default=["process", "thread"])
    parser.add_argument("--origin-nice", type=int, default=0)
    parser.add_argument("--idle-seconds", type=float, default=8.0)
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="rounds of (through the server, standalone), alternating which goes first",
    )
    parser.add_argument(
        "--worker-nice",
        type=int,
        nargs="+",
        default=[DOWNLOAD_WORKER_NICE],
        help="nice increments of the workers to compare (ModelFilesApp.download_worker_nice)",
    )
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        help="an extra option of every server, e.g. --ModelFilesApp.connections_per_download=1",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-responsive-", dir=args.workdir))
    serve = work / "serve"
    serve.mkdir()
    blob = serve / "blob.bin"
    make_file(blob, args.size_mib * MiB)
    for i in range(COPIES):
        (serve / f"copy{i}.bin").symlink_to(blob)
    expected = hashlib.sha256(blob.read_bytes()).hexdigest()
    nginx = Nginx(serve).start()
    try:
        if args.origin_nice:
            assert nginx.process is not None
            master = psutil.Process(nginx.process.pid)
            for proc in [master, *master.children()]:
                proc.nice(args.origin_nice)
        urls = [nginx.url(f"copy{i}.bin") for i in range(COPIES)]
        print(describe_machine(work, args.origin_nice), flush=True)
        results = []
        for name in args.placements:
            for nice in args.worker_nice if name == "process" else [0]:
                result = asyncio.run(
                    one_placement(
                        name,
                        urls,
                        expected,
                        work,
                        args.idle_seconds,
                        nice,
                        args.server_arg,
                        args.rounds,
                    )
                )
                if name == "process":
                    result.name = f"process at nice +{nice}"
                results.append(result)
        print()
        print(
            f"{COPIES} x {args.size_mib} MiB at once, {args.rounds} rounds (medians); server "
            f"options {args.server_arg}; origin nginx on loopback at nice {args.origin_nice}; "
            f"load average now {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )
        for r in results:
            ratios = [w / s for w, s in zip(r.walls, r.solo_walls, strict=True)]
            kernel_ratio = percentile(r.busy.kernel, 99) / max(1e-9, percentile(r.idle.kernel, 99))
            print(f"  engine in a {r.name}:")
            print(
                f"    standalone CLI, {COPIES} processes: {median(r.solo_walls):6.2f} s, "
                f"{r.solo_cpu:5.2f} CPU-s"
            )
            print(
                f"    through the server: {median(r.walls):6.2f} s, **{median(ratios):.2f}x** "
                f"standalone (rounds: {', '.join(f'{x:.2f}' for x in ratios)}); {r.states}; "
                f"server process {r.server_cpu:5.2f} CPU-s, its children {r.children_cpu:5.2f}"
            )
            print(f"    /api/status idle: {fmt(r.idle.status)}")
            print(f"    /api/status busy: {fmt(r.busy.status)}")
            print(f"    /api/status while the standalone CLIs run: {fmt(r.solo.status)}")
            print(f"    kernel exec idle: {fmt(r.idle.kernel)}")
            print(f"    kernel exec busy: {fmt(r.busy.kernel)}  (p99 {kernel_ratio:.2f}x idle)")
            print(f"    kernel exec while the standalone CLIs run: {fmt(r.solo.kernel)}")
    finally:
        nginx.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
