"""Team takeovers with real parts that need root: a node that vanishes from the network, and a
takeover by a server of another Unix user.

- The vanishing node is a real ``jupyter server`` in its own network namespace (a veth pair to
  the host, where PostgreSQL and the origin listen); its packets are then dropped silently both
  ways while the process lives on, as when a node loses its network. PostgreSQL frees its lock
  by TCP keepalives / ``tcp_user_timeout`` alone, a server on the host takes the transfer over,
  and when the node comes back it notices it lost the lock and its job joins.
- Two servers of two Unix users (root and uid 1001) of one group share the store with umask 077.

Root is required (namespaces, veths, other users): without it these tests fail, they never
skip (CI runs the suite as root).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .netns import NetNode, require_root
from .origin import Origin
from .team_servers import TeamServer, sha256_of, start_all, wait_until

MiB = 1 << 20
MODEL = "team/weights"
NAME = "weights.bin"
CONNECTIONS = 2


@pytest.fixture
def root() -> None:
    require_root("this test")


@pytest.fixture
def node(root: None) -> Iterator[NetNode]:
    made = NetNode()
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def servers() -> Iterator[list[TeamServer]]:
    started: list[TeamServer] = []
    yield started
    for server in started:
        server.kill()


def entry(origin: Origin, data: bytes) -> dict[str, Any]:
    return {
        "url": origin.url(NAME),
        "name": NAME,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def statuses(server: TeamServer) -> list[str]:
    return [job["status"] for job in server.jobs(MODEL)]


def done_bytes(server: TeamServer) -> int:
    return max((job["downloaded_bytes"] for job in server.jobs(MODEL)), default=0)


def lock_holders(cluster: Any, database: str) -> list[str]:
    """The client addresses of the sessions holding advisory locks in ``database``."""
    import psycopg

    with psycopg.connect(cluster.url(database, tcp=False), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT host(a.client_addr) FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
            " WHERE l.locktype = 'advisory' AND l.granted AND a.datname = %s",
            (database,),
        ).fetchall()
    return sorted(str(row[0]) for row in rows)


def shared_files(shared: Path, folder: str) -> list[str]:
    return sorted(p.name for p in (shared / folder).iterdir() if not p.name.startswith("."))


def test_a_vanished_nodes_lock_frees_within_seconds_and_it_joins_when_back(
    tmp_path: Path, node: NetNode, servers: list[TeamServer]
) -> None:
    from .postgres import remove_cluster, start_cluster

    # PostgreSQL with nothing but its defaults for keepalives: the coordinator asks for them
    cluster = start_cluster(
        listen=("127.0.0.1", node.host_ip),
        hba=(f"host all all {node.node_ip}/32 scram-sha-256",),
    )
    origin = Origin(host=node.host_ip).start()  # the host reaches its own veth address too
    try:
        database = cluster.create_database()
        data = origin.add(NAME, 20 * MiB)
        origin.rate = 1 * MiB  # per connection
        shared = tmp_path / "shared"
        extra = [f"--ModelFilesApp.connections_per_download={CONNECTIONS}"]
        away = TeamServer(
            tmp_path / "away",
            shared,
            cluster.url(database).replace("127.0.0.1", node.host_ip),
            extra_args=extra,
        )
        away.wrapper, away.host = node.wrapper, node.node_ip
        here = TeamServer(tmp_path / "here", shared, cluster.url(database), extra_args=extra)
        servers.extend([away, here])
        start_all([away, here])
        for server in (away, here):
            server.register(MODEL, [entry(origin, data)])

        away.download(MODEL)
        wait_until(lambda: done_bytes(away) >= 4 * MiB, 60, "the node has written 4 MiB")
        here.download(MODEL)
        wait_until(lambda: done_bytes(here) >= 4 * MiB, 30, "the host server follows the node")
        assert lock_holders(cluster, database) == [node.node_ip]

        node.vanish()  # the process lives on; its packets go nowhere
        vanished_at = time.monotonic()
        wait_until(
            lambda: lock_holders(cluster, database) == ["127.0.0.1"],
            60,
            "the host server holds the lock",
        )
        takeover = time.monotonic() - vanished_at
        print(f"\ntakeover {takeover:.1f} s after the node vanished")
        # keepalives: 5 s idle + 3 probes 2 s apart (tcp_user_timeout the same 11 s), + polling
        assert takeover < 30, takeover
        assert node.dropped() > 0  # the cut was real: the node kept sending
        assert away.process is not None and away.process.poll() is None  # not killed

        wait_until(lambda: here.downloaded(MODEL), 60, "the host server publishes")
        assert statuses(here) == ["completed"]
        sha = hashlib.sha256(data).hexdigest()
        blob = shared / "blobs" / sha
        assert sha256_of(blob) == sha
        published = os.stat(blob)

        node.come_back()
        wait_until(lambda: away.downloaded(MODEL), 60, "the node's job completes")
        assert statuses(away) == ["completed"]
        log = away.log_path.read_text()
        assert "was taken over by another server" in log, log[-3000:]
        # nothing written into the published file, no second copy, nothing left over
        after = os.stat(blob)
        assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
            published.st_ino,
            published.st_size,
            published.st_mtime_ns,
        )
        assert sha256_of(blob) == sha
        assert shared_files(shared, "blobs") == [sha]
        assert shared_files(shared, "partial") == []
        assert sha256_of(away.link(MODEL, NAME)) == sha

        import psycopg

        with psycopg.connect(cluster.url(database, tcp=False)) as conn:
            rows = conn.execute("SELECT status, path FROM shared_transfers").fetchall()
        assert rows == [("done", str(blob))]
        print(
            f"served {origin.bytes_served(NAME) / MiB:.1f} MiB for a {len(data) / MiB:.0f} MiB"
            f" file; load {os.getloadavg()[0]:.2f}"
        )
    finally:
        origin.stop()
        remove_cluster(cluster)
