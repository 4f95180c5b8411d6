"""Team mode: several server processes agree on one transfer per file.

Both coordinators are driven the same way: PostgreSQL (a real throwaway cluster) across hosts,
file locks on a local disk for servers sharing one host. Nodes are real processes
(``tests/team_node.py``), killed with SIGKILL where the specification says ``kill -9``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_modelfiles.team import content_key

from .team_node import STEP, NodeProcess


@pytest.fixture(params=["postgres", "local"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(kind, target) for a node: a fresh PostgreSQL database, or a locks directory."""
    if request.param == "postgres":
        return "postgres", request.getfixturevalue("postgres_url")
    return "local", str(tmp_path / "shared" / "locks")


@pytest.fixture
def nodes() -> Iterator[list[NodeProcess]]:
    started: list[NodeProcess] = []
    yield started
    for node in started:
        node.stop()


def key_for(name: str) -> object:
    return content_key(url=f"http://origin.test/{name}", etag=f'"{name}"', size=1 << 30)


def start(
    nodes: list[NodeProcess], backend: tuple[str, str], key: object, *extra: str
) -> NodeProcess:
    node = NodeProcess(backend[0], backend[1], key, *extra)  # type: ignore[arg-type]
    nodes.append(node)
    return node


def owner_and_other(a: NodeProcess, b: NodeProcess) -> tuple[NodeProcess, NodeProcess]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if a.named("owned"):
            return a, b
        if b.named("owned"):
            return b, a
        time.sleep(0.05)
    raise AssertionError(f"nobody owns the key: {a.events[-3:]} {b.events[-3:]}")


def test_two_contending_processes_one_owns(backend, nodes):
    key = key_for("contended")
    a, b = start(nodes, backend, key), start(nodes, backend, key)
    owner, other = owner_and_other(a, b)
    # the other one watches the owner's transfer instead of starting its own
    other.wait_for("progress")
    owner.wait_for("reported")
    time.sleep(1.5)
    assert len(owner.named("owned")) == 1
    assert other.named("owned") == []
    assert other.process.poll() is None


def test_joiner_sees_the_owners_progress_within_a_second_or_so(backend, nodes):
    key = key_for("progress")
    owner = start(nodes, backend, key)
    owner.wait_for("owned")
    joiner = start(nodes, backend, key)
    joiner.wait_for("ready")
    # pick an amount the owner reports after the joiner is watching, then see it arrive
    reported = owner.wait_for("reported", after=time.time() + 1.0)
    amount = int(reported["bytes_done"])  # type: ignore[arg-type]
    deadline = float(reported["t"]) + 3.0  # type: ignore[arg-type]
    while time.time() < deadline:
        seen = [int(e["bytes_done"]) for e in joiner.named("progress")]  # type: ignore[arg-type]
        if seen and max(seen) >= amount:
            break
        time.sleep(0.05)
    seen = [int(e["bytes_done"]) for e in joiner.named("progress")]  # type: ignore[arg-type]
    assert seen and max(seen) >= amount, (amount, seen)
    assert seen == sorted(seen)  # progress never goes backwards
    assert joiner.named("owned") == []


def test_kill_9_of_the_owner_lets_the_waiting_process_take_over(backend, nodes):
    key = key_for("takeover")
    a, b = start(nodes, backend, key), start(nodes, backend, key)
    owner, other = owner_and_other(a, b)
    last = owner.wait_for("reported", after=time.time() + 0.5)
    owner.kill()
    killed_at = time.time()
    took_over = other.wait_for("owned", timeout=30)
    # within seconds (PostgreSQL frees the session lock, the kernel frees the file lock)
    assert float(took_over["t"]) - killed_at < 10  # type: ignore[arg-type]
    # the new owner starts from what the dead one recorded (its journal tells the exact bytes)
    assert int(took_over["bytes_done"]) >= STEP  # type: ignore[arg-type]
    assert int(took_over["bytes_done"]) <= int(last["bytes_done"]) + 10 * STEP  # type: ignore[arg-type]
    other.wait_for("reported", after=float(took_over["t"]))  # type: ignore[arg-type]


def test_a_finished_transfer_is_done_for_the_others(backend, nodes):
    key = key_for("finished")
    size = 5 * STEP
    owner = start(nodes, backend, key, "--finish-at", str(size))
    joiner = start(nodes, backend, key, "--finish-at", str(size))
    first, second = owner_and_other(owner, joiner)
    first.wait_for("completed")
    done = second.wait_for("done")
    assert done["path"] == f"blobs/{key}"
    assert second.named("owned") == []
    # a node asking later gets the published file at once, no transfer
    late = start(nodes, backend, key, "--finish-at", str(size))
    assert late.wait_for("done")["bytes_done"] == size
    assert late.named("owned") == []
