"""Team mode: 3 real Jupyter servers ask for one file (512 MiB) at the same moment.

Prints: origin bytes / file size (target 1.00), time until all 3 see it complete vs one server
alone (target <= 1.1x), takeover time after ``kill -9`` of the owner (target < 5 s), bytes
fetched twice because of the takeover (target <= one piece per connection), corrupt files (0),
"database is locked" / lock errors in the servers' logs (0).

The origin is tests/origin.py (a Python HTTP server on loopback that counts the bytes it
serves), the servers are real ``jupyter server`` processes each with its own root_dir and one
shared directory; PostgreSQL is a throwaway cluster (Debian's ``postgresql`` package).

How "time, all 3 complete" and "time, one server alone" are measured, the same way for both:
the model is registered on every server first (a per-server metadata call, not timed), then
the clock starts and every server is asked to download at the same moment; each server's end
is the ``completed_at`` it recorded for its job (same host, same clock, milliseconds), read
afterwards by polling every 0.5 s over one keep-alive client per server. Polling each server
every 0.1 s with a new client per request (as this script did before) cost ~25 ms of CPU per
request for the client's TLS context, in this process, which is also the origin's: three
times as much for three servers, on a 2-core machine, in the measured window. CPU seconds of
each server, of this process (the origin, mostly) and of PostgreSQL are printed per run, with
the load average. ``--repeat N`` measures N alone/three pairs (in turn alone first and
three first, since the load of a shared machine drifts).

Usage: python benchmarks/bench_team.py [--size-mib 512] [--mode postgres|local] [--repeat 1]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jupyter_modelfiles.downloads.pieces import MIN_PIECE
from tests.origin import Origin
from tests.team_servers import TeamServer, parallel, sha256_of, start_all, wait_until

if TYPE_CHECKING:
    from tests.postgres import PostgresCluster

MiB = 1 << 20
CONNECTIONS = 4
LOCK_ERRORS = re.compile(r"database is locked|deadlock detected|lock.{0,40}(error|failed)", re.I)


def serve(origin: Origin, name: str, size: int) -> bytes:
    data = os.urandom(size)  # random.randbytes overflows at this size
    origin.replace(name, data)
    return data


def servers_for(workdir: Path, count: int, url: str | None) -> list[TeamServer]:
    shared = workdir / "shared"
    return [
        TeamServer(
            workdir / f"user{i}",
            shared,
            url,
            extra_args=[f"--ModelFilesApp.connections_per_download={CONNECTIONS}"],
        )
        for i in range(count)
    ]


def register(nodes: list[TeamServer], origin: Origin, name: str, data: bytes) -> None:
    entry = {"url": origin.url(name), "name": name, "size": len(data)}
    for node in nodes:
        node.register("bench/model", [entry])


def register_and_download(nodes: list[TeamServer], origin: Origin, name: str, data: bytes) -> None:
    register(nodes, origin, name, data)
    parallel([functools.partial(node.download, "bench/model") for node in nodes])


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its descendants (a server's download
    workers): the live ones, and the exited ones it reaped; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    own = sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return own + sum(process_cpu(int(child)) for child in children)


def postgres_cpu(cluster: PostgresCluster | None) -> float:
    """CPU seconds of the cluster's postmaster and its backends."""
    if cluster is None:
        return 0.0
    try:
        postmaster = int((cluster.data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    return process_cpu(postmaster)


def completed_at(client: httpx.Client) -> float | None:
    """When the server recorded the model's download complete (epoch seconds), else None."""
    snapshot: dict[str, Any] = client.get("models/bench%2Fmodel").raise_for_status().json()
    if not snapshot["downloaded"]:
        return None
    ends = [
        datetime.fromisoformat(job["completed_at"].replace("Z", "+00:00")).timestamp()
        for job in snapshot["jobs"]
        if job.get("completed_at")
    ]
    return max(ends) if ends else time.time()  # no job: complete from the store at once


def ask(client: httpx.Client) -> None:
    client.post("models/bench%2Fmodel/download", json={}).raise_for_status()


def timed_download(
    nodes: list[TeamServer], cluster: PostgresCluster | None, label: str
) -> tuple[float, str]:
    """Ask every server at once; seconds until the last one recorded completion, and a line
    of CPU seconds used meanwhile (see the module docstring)."""
    clients = [
        httpx.Client(base_url=node.api_url + "/", headers=node.headers, timeout=60)
        for node in nodes
    ]
    try:
        servers_before = [process_cpu(node.process.pid) for node in nodes if node.process]
        postgres_before = postgres_cpu(cluster)
        me_before = os.times()
        began = time.time()
        parallel([functools.partial(ask, client) for client in clients])
        ends: list[float | None] = [None] * len(nodes)
        deadline = time.monotonic() + 600
        while None in ends:
            if time.monotonic() > deadline:
                raise AssertionError(f"not within 600 s: {label}")
            time.sleep(0.5)
            ends = [
                end if end is not None else completed_at(c)
                for end, c in zip(ends, clients, strict=True)
            ]
        me_after = os.times()
        servers = [process_cpu(node.process.pid) for node in nodes if node.process]
        postgres = postgres_cpu(cluster) - postgres_before
    finally:
        for client in clients:
            client.close()
    elapsed = max(end for end in ends if end is not None) - began
    origin = me_after.user - me_before.user + me_after.system - me_before.system
    used = " ".join(f"{a - b:.2f}" for a, b in zip(servers, servers_before, strict=True))
    cpu = f"CPU s: server(s) {used}, origin process {origin:.2f}"
    if cluster is not None:
        cpu += f", PostgreSQL {postgres:.2f}"
    return elapsed, cpu


def all_downloaded(nodes: list[TeamServer]) -> bool:
    return all(node.downloaded("bench/model") for node in nodes)


def corrupt(nodes: list[TeamServer], name: str, digest: str) -> int:
    return sum(sha256_of(node.link("bench/model", name)) != digest for node in nodes)


def lock_errors(nodes: list[TeamServer]) -> int:
    logs = (node.log_path.read_text(errors="replace") for node in nodes)
    return sum(len(LOCK_ERRORS.findall(log)) for log in logs)


def stop(nodes: list[TeamServer]) -> None:
    for node in nodes:
        node.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--mode", choices=["postgres", "local"], default="postgres")
    parser.add_argument("--repeat", type=int, default=1, help="alone/three pairs to measure")
    args = parser.parse_args()
    size = args.size_mib * MiB
    cluster = None
    workdir = Path(tempfile.mkdtemp(prefix="bench-team-"))
    origin = Origin().start()

    started: list[TeamServer] = []

    def database() -> str | None:
        return cluster.url(cluster.create_database()) if cluster is not None else None

    def start(nodes: list[TeamServer]) -> None:
        started.extend(nodes)
        start_all(nodes)

    try:
        if args.mode == "postgres":
            from tests.postgres import start_cluster

            cluster = start_cluster()
        figures: dict[str, object] = {}
        bad = errors = 0
        served_alone = served_three = t_alone = t_three = 0.0
        line_alone = line_three = ""
        ratios: list[float] = []
        for run in range(max(1, args.repeat)):
            # alone first, then three; the next run the other way round (the load drifts)
            for count in (1, 3) if run % 2 == 0 else (3, 1):
                name = f"{'alone' if count == 1 else 'three'}{run}.bin"
                data = serve(origin, name, size)
                nodes = servers_for(workdir / name, count, database())
                start(nodes)
                register(nodes, origin, name, data)
                elapsed, cpu = timed_download(nodes, cluster, name)
                served = origin.bytes_served(name) / size
                bad += corrupt(nodes, name, hashlib.sha256(data).hexdigest())
                errors += lock_errors(nodes)
                stop(nodes)
                del origin.files[name]
                line = f"{elapsed:.2f} s (load {os.getloadavg()[0]:.2f}; {cpu})"
                if count == 1:
                    t_alone, served_alone, line_alone = elapsed, served, line
                else:
                    t_three, served_three, line_three = elapsed, served, line
            ratios.append(t_three / t_alone)
            print(
                f"run {run + 1}: alone {line_alone}\n"
                f"       three {line_three}\n"
                f"       ratio {t_three / t_alone:.2f}x",
                flush=True,
            )
        figures["origin bytes / file size (3 servers)"] = f"{served_three:.2f}"
        figures["origin bytes / file size (one server alone)"] = f"{served_alone:.2f}"
        figures["time, all 3 complete"] = f"{t_three:.2f} s"
        figures["time, one server alone"] = f"{t_alone:.2f} s"
        figures["ratio"] = f"{t_three / t_alone:.2f}x"
        if len(ratios) > 1:
            figures[f"ratio, median of {len(ratios)} runs"] = f"{statistics.median(ratios):.2f}x"

        # kill -9 of the owner mid-transfer
        data = serve(origin, "takeover.bin", size)
        first, second = servers_for(workdir / "takeover", 2, database())
        start([first, second])
        register_and_download([first], origin, "takeover.bin", data)
        wait_until(
            lambda: any(j["downloaded_bytes"] >= size // 4 for j in first.jobs("bench/model")),
            600,
            "the owner is a quarter through",
        )
        register_and_download([second], origin, "takeover.bin", data)
        first.kill()
        killed = time.monotonic()
        requests_at_kill = len(origin.data_requests())
        wait_until(lambda: len(origin.data_requests()) > requests_at_kill, 60, "a takeover request")
        figures["takeover after kill -9"] = f"{time.monotonic() - killed:.2f} s"
        wait_until(lambda: all_downloaded([second]), 600, "the takeover completes")
        twice = origin.bytes_served("takeover.bin") - size
        figures["bytes fetched twice (takeover)"] = (
            f"{twice / MiB:.1f} MiB (bound: {CONNECTIONS} x {MIN_PIECE // MiB} MiB pieces)"
        )
        bad += corrupt([second], "takeover.bin", hashlib.sha256(data).hexdigest())
        errors += lock_errors([first, second])
        stop([second])

        figures["load average (1 min) at the end"] = f"{os.getloadavg()[0]:.2f}"
        figures["corrupt files"] = bad
        figures["'database is locked' / lock errors in logs"] = errors
        print(f"team mode ({args.mode}), {args.size_mib} MiB file, {CONNECTIONS} connections")
        for name, value in figures.items():
            print(f"  {name:45} {value}")
    finally:
        stop(started)  # after a failure too: no server left running
        shutil.rmtree(workdir, ignore_errors=True)  # GiBs of downloaded files
        origin.stop()
        if cluster is not None:
            from tests.postgres import remove_cluster

            remove_cluster(cluster)


if __name__ == "__main__":
    main()
