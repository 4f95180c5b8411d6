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


@pytest.fixture(scope="session", autouse=True)
def root() -> None:
    """First of all (before the session's PostgreSQL): fail at once when not root."""
    require_root("this test")


@pytest.fixture
def node() -> Iterator[NetNode]:
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


def owner_then_follower(
    owner: TeamServer, follower: TeamServer, origin: Origin, data: bytes, who: tuple[str, str]
) -> None:
    """Both servers ask for one file: ``owner`` first, until it has written 4 MiB, then
    ``follower``, until it sees 4 MiB too (it follows the owner's transfer)."""
    for server in (owner, follower):
        server.register(MODEL, [entry(origin, data)])
    owner.download(MODEL)
    wait_until(lambda: done_bytes(owner) >= 4 * MiB, 60, f"{who[0]} has written 4 MiB")
    follower.download(MODEL)
    wait_until(lambda: done_bytes(follower) >= 4 * MiB, 30, f"{who[1]} follows")


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


@pytest.fixture
def node_cluster(node: NetNode) -> Iterator[Any]:
    """PostgreSQL listening on the host's end of the veth too, with nothing but its defaults
    for keepalives: the coordinator asks for them on its sessions."""
    from .postgres import remove_cluster, start_cluster

    cluster = start_cluster(
        listen=("127.0.0.1", node.host_ip),
        hba=(f"host all all {node.node_ip}/32 scram-sha-256",),
    )
    try:
        yield cluster
    finally:
        remove_cluster(cluster)


@pytest.fixture
def node_origin(node: NetNode) -> Iterator[Origin]:
    """The origin on the host's end of the veth (the host reaches that address too)."""
    origin = Origin(host=node.host_ip).start()
    try:
        yield origin
    finally:
        origin.stop()


def server_on_node(tmp_path: Path, node: NetNode, cluster: Any, database: str) -> TeamServer:
    away = TeamServer(
        tmp_path / "away",
        tmp_path / "shared",
        cluster.url(database).replace("127.0.0.1", node.host_ip),
        extra_args=[f"--ModelFilesApp.connections_per_download={CONNECTIONS}"],
    )
    away.wrapper, away.host = node.wrapper, node.node_ip
    return away


def test_a_vanished_nodes_lock_frees_within_seconds_and_it_joins_when_back(
    tmp_path: Path,
    node: NetNode,
    node_cluster: Any,
    node_origin: Origin,
    servers: list[TeamServer],
) -> None:
    cluster, origin = node_cluster, node_origin
    database = cluster.create_database()
    data = origin.add(NAME, 16 * MiB)
    origin.rate = 1 * MiB  # per connection
    shared = tmp_path / "shared"
    extra = [f"--ModelFilesApp.connections_per_download={CONNECTIONS}"]
    away = server_on_node(tmp_path, node, cluster, database)
    here = TeamServer(tmp_path / "here", shared, cluster.url(database), extra_args=extra)
    servers.extend([away, here])
    start_all([away, here])
    owner_then_follower(away, here, origin, data, ("the node", "the host server"))
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
    assert node.dropped() > 0  # the cut was real: what the host sent the node was lost
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


def test_a_node_cut_off_for_a_while_pauses_then_resumes_its_own_transfer(
    tmp_path: Path,
    node: NetNode,
    node_cluster: Any,
    node_origin: Origin,
    servers: list[TeamServer],
) -> None:
    database = node_cluster.create_database()
    data = node_origin.add(NAME, 12 * MiB)
    node_origin.rate = 1 * MiB  # per connection
    away = server_on_node(tmp_path, node, node_cluster, database)
    servers.append(away)
    away.start()
    away.register(MODEL, [entry(node_origin, data)])
    away.download(MODEL)
    wait_until(lambda: done_bytes(away) >= 3 * MiB, 60, "the node has written 3 MiB")

    node.vanish()
    # PostgreSQL ends the session (nobody else wants the file); the node pauses its transfer
    wait_until(lambda: lock_holders(node_cluster, database) == [], 30, "the session ends")
    wait_until(
        lambda: "cut off from the coordinator" in away.log_path.read_text(), 30, "the node pauses"
    )
    node.come_back()
    # the lock is free and the record still the node's: it takes them back and finishes
    wait_until(lambda: away.downloaded(MODEL), 60, "the node's transfer completes")
    assert statuses(away) == ["completed"]
    sha = hashlib.sha256(data).hexdigest()
    shared = tmp_path / "shared"
    assert sha256_of(shared / "blobs" / sha) == sha
    assert shared_files(shared, "partial") == []
    assert "was taken over" not in away.log_path.read_text()


# -- a takeover by a server of another Unix user ----------------------------------------------

OTHER_UID = 1001  # the ``tester`` of CI; no passwd entry is needed
TEAM_GID = 61001  # the team's group (a number is enough for the kernel)


def reachable_by_others(path: Path) -> Path | None:
    """The first directory on ``path``'s way that others cannot traverse (e.g. ``/root``)."""
    for parent in reversed(path.resolve().parents):
        if not os.stat(parent).st_mode & 0o001:
            return parent
    return None


def as_user(uid: int, gid: int, stage: Path) -> list[str]:
    """A wrapper: umask 077, then uid/gid (groups: only the team's). When the Python install
    lies under a directory others cannot enter (pyenv in ``/root``), a private mount namespace
    shows just that install there, so the other user can run the same interpreter."""
    import sys

    setup = ""
    python = Path(sys.executable).resolve()
    blocked = reachable_by_others(python)
    if blocked is not None:
        inner = blocked / python.relative_to(blocked).parts[0]
        stage.mkdir()
        setup = (
            f'mount --bind "{inner}" "{stage}" && '
            f'mount -t tmpfs -o mode=0755 tmpfs "{blocked}" && '
            f'mkdir "{inner}" && mount --bind "{stage}" "{inner}" && '
        )
    script = f'{setup}umask 077 && exec setpriv --reuid={uid} --regid={gid} --groups={gid} -- "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"]


class UserServer(TeamServer):
    """A team server run as ``uid`` (0: root, umask 077 too) with its own HOME."""

    def __init__(self, workdir: Path, shared: Path, url: str, uid: int, extra: list[str]):
        super().__init__(workdir, shared, url, extra_args=extra)
        self.uid = uid
        workdir.mkdir(mode=0o755)
        (workdir / "notebooks").mkdir()
        if uid == 0:
            self.wrapper = ["sh", "-c", 'umask 077 && exec "$@"', "sh"]
        else:
            self.wrapper = as_user(uid, TEAM_GID, workdir.parent / f"stage-{workdir.name}")
            for path in (workdir, workdir / "notebooks"):
                os.chown(path, uid, TEAM_GID)

    def environment(self) -> dict[str, str]:
        return {**super().environment(), "HOME": str(self.workdir)}


def assert_group_shared(shared: Path) -> None:
    """Every directory setgid + group rwx, every file group rw, all of the team's group; and
    nothing for others (umask 077 was honoured where the group bits were not forced)."""
    for path in [shared, *shared.rglob("*")]:
        if path.is_symlink():
            continue
        info = os.stat(path)
        assert info.st_gid == TEAM_GID, (path, info.st_gid)
        mode = info.st_mode & 0o7777
        if path.is_dir():
            assert mode & 0o2070 == 0o2070, (path, oct(mode))
        else:
            assert mode & 0o060 == 0o060, (path, oct(mode))
            assert mode & 0o007 == 0, (path, oct(mode))


def test_a_server_of_another_unix_user_takes_over_and_publishes(
    postgres_url: str, servers: list[TeamServer]
) -> None:
    import shutil
    import tempfile

    from jupyter_modelfiles.downloads.pieces import MIN_PIECE

    repo = Path(__file__).resolve().parent.parent
    assert reachable_by_others(repo) is None, f"uid {OTHER_UID} cannot reach {repo}"
    base = Path(tempfile.mkdtemp(prefix="modelfiles-users-"))  # pytest's tmp is root-only
    os.chmod(base, 0o755)
    origin = Origin().start()
    try:
        shared = base / "shared"
        shared.mkdir()
        os.chown(shared, 0, TEAM_GID)
        os.chmod(shared, 0o2770)  # what docs/teams.md tells admins
        data = origin.add(NAME, 16 * MiB)
        origin.rate = 1 * MiB  # per connection
        extra = [f"--ModelFilesApp.connections_per_download={CONNECTIONS}"]
        alice = UserServer(base / "alice", shared, postgres_url, 0, extra)
        bob = UserServer(base / "bob", shared, postgres_url, OTHER_UID, extra)
        servers.extend([alice, bob])
        start_all([alice, bob])
        assert bob.process is not None
        status = Path(f"/proc/{bob.process.pid}/status").read_text()
        assert f"Uid:\t{OTHER_UID}\t" in status and "Umask:\t0077" in status, status
        owner_then_follower(alice, bob, origin, data, ("root's server", "the other user's server"))
        durable_at_kill = done_bytes(bob)
        partial = shared / "partial"
        part = next(partial.glob("*.part"))
        assert os.stat(part).st_uid == 0  # root's partial file, resumed by another user
        alice.kill()  # kill -9

        wait_until(lambda: bob.downloaded(MODEL), 60, "the other user's server publishes")
        assert statuses(bob) == ["completed"]
        extra_bytes = origin.bytes_served(NAME) - len(data)
        assert extra_bytes <= CONNECTIONS * MIN_PIECE, extra_bytes
        assert extra_bytes < durable_at_kill  # resumed from root's partial file and journal
        sha = hashlib.sha256(data).hexdigest()
        blob = shared / "blobs" / sha
        assert sha256_of(blob) == sha and sha256_of(bob.link(MODEL, NAME)) == sha
        assert shared_files(shared, "partial") == []
        assert_group_shared(shared)

        alice.start()  # its interrupted job finds the file published
        wait_until(lambda: alice.downloaded(MODEL), 60, "root's restarted server completes")
        assert statuses(alice) == ["completed"]
        assert sha256_of(alice.link(MODEL, NAME)) == sha
        assert origin.bytes_served(NAME) - len(data) == extra_bytes  # nothing fetched again

        # references: root's delete keeps the bytes the other user uses; the other user's
        # delete (the last reference) removes root's blob
        alice.call("DELETE", f"models/{MODEL.replace('/', '%2F')}")
        assert not alice.downloaded(MODEL) and blob.exists() and bob.downloaded(MODEL)
        bob.call("DELETE", f"models/{MODEL.replace('/', '%2F')}")
        assert not blob.exists() and not bob.downloaded(MODEL)
        assert_group_shared(shared)
        print(
            f"\nresumed by uid {OTHER_UID}: {extra_bytes / MiB:.2f} MiB fetched again of "
            f"{durable_at_kill / MiB:.1f} MiB done at the kill; load {os.getloadavg()[0]:.2f}"
        )
    finally:
        origin.stop()
        for server in servers:
            server.kill()
        shutil.rmtree(base, ignore_errors=True)
