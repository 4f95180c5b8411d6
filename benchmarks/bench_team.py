"""Team mode: 3 real Jupyter servers ask for one file (512 MiB) at the same moment.

Prints: origin bytes / file size (target 1.00), time until all 3 see it complete vs one server
alone (target <= 1.1x), takeover time after ``kill -9`` of the owner (target < 5 s), bytes
fetched twice because of the takeover (target <= one piece per connection), corrupt files (0),
"database is locked" / lock errors in the servers' logs (0).

The origin is tests/origin.py (a Python HTTP server on loopback that counts the bytes it
serves), the servers are real ``jupyter server`` processes each with its own root_dir and one
shared directory; PostgreSQL is a throwaway cluster (Debian's ``postgresql`` package).

Usage: python benchmarks/bench_team.py [--size-mib 512] [--mode postgres|local]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jupyter_modelfiles.downloads.pieces import MIN_PIECE
from tests.origin import Origin
from tests.team_servers import TeamServer, parallel, sha256_of, start_all, wait_until

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


def register_and_download(nodes: list[TeamServer], origin: Origin, name: str, data: bytes) -> None:
    entry = {"url": origin.url(name), "name": name, "size": len(data)}
    for node in nodes:
        node.register("bench/model", [entry])
    parallel([lambda node=node: node.download("bench/model") for node in nodes])


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
    args = parser.parse_args()
    size = args.size_mib * MiB
    cluster = None
    workdir = Path(tempfile.mkdtemp(prefix="bench-team-"))
    origin = Origin().start()

    def database() -> str | None:
        return cluster.url(cluster.create_database()) if cluster is not None else None

    try:
        if args.mode == "postgres":
            from tests.postgres import start_cluster

            cluster = start_cluster()
        figures: dict[str, object] = {}

        # one server alone
        data = serve(origin, "alone.bin", size)
        (alone,) = servers_for(workdir / "alone", 1, database())
        start_all([alone])
        began = time.monotonic()
        register_and_download([alone], origin, "alone.bin", data)
        wait_until(lambda: all_downloaded([alone]), 600, "one server alone")
        t_alone = time.monotonic() - began
        served_alone = origin.bytes_served("alone.bin") / size
        bad = corrupt([alone], "alone.bin", hashlib.sha256(data).hexdigest())
        errors = lock_errors([alone])
        stop([alone])
        del origin.files["alone.bin"]

        # three servers at the same moment
        data = serve(origin, "three.bin", size)
        nodes = servers_for(workdir / "three", 3, database())
        start_all(nodes)
        began = time.monotonic()
        register_and_download(nodes, origin, "three.bin", data)
        wait_until(lambda: all_downloaded(nodes), 600, "three servers")
        t_three = time.monotonic() - began
        figures["origin bytes / file size (3 servers)"] = (
            f"{origin.bytes_served('three.bin') / size:.2f}"
        )
        figures["origin bytes / file size (one server alone)"] = f"{served_alone:.2f}"
        figures["time, all 3 complete"] = f"{t_three:.2f} s"
        figures["time, one server alone"] = f"{t_alone:.2f} s"
        figures["ratio"] = f"{t_three / t_alone:.2f}x"
        bad += corrupt(nodes, "three.bin", hashlib.sha256(data).hexdigest())
        errors += lock_errors(nodes)
        stop(nodes)
        del origin.files["three.bin"]

        # kill -9 of the owner mid-transfer
        data = serve(origin, "takeover.bin", size)
        first, second = servers_for(workdir / "takeover", 2, database())
        start_all([first, second])
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

        figures["corrupt files"] = bad
        figures["'database is locked' / lock errors in logs"] = errors
        print(f"team mode ({args.mode}), {args.size_mib} MiB file, {CONNECTIONS} connections")
        for name, value in figures.items():
            print(f"  {name:45} {value}")
    finally:
        origin.stop()
        if cluster is not None:
            from tests.postgres import remove_cluster

            remove_cluster(cluster)


if __name__ == "__main__":
    main()
