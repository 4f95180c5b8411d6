"""Team mode with real parts: several real Jupyter servers (each its own root_dir) sharing one
directory, coordinated through a real PostgreSQL or through file locks on one host, downloading
from a loopback origin that counts the bytes it serves."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_modelfiles.downloads.pieces import MIN_PIECE

from .origin import Origin, running_origin
from .team_servers import TeamServer, parallel, sha256_of, start_all, wait_until

MiB = 1 << 20
MODEL = "team/weights"
NAME = "weights.bin"
CONNECTIONS = 2


@pytest.fixture
def origin() -> Iterator[Origin]:
    with running_origin() as served:
        yield served


@pytest.fixture(params=["postgres", "local"])
def coordination(request: pytest.FixtureRequest) -> str | None:
    """A fresh PostgreSQL database URL, or None (file locks in the shared directory)."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return None


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[TeamServer]]:
    started: list[TeamServer] = []
    yield started
    for server in started:
        server.kill()


def make_servers(
    started: list[TeamServer],
    tmp_path: Path,
    count: int,
    coordination: str | None,
    *extra: str,
) -> list[TeamServer]:
    shared = tmp_path / "shared"
    made = [
        TeamServer(
            tmp_path / f"user{i}",
            shared,
            coordination,
            extra_args=[f"--ModelFilesApp.connections_per_download={CONNECTIONS}", *extra],
        )
        for i in range(count)
    ]
    started.extend(made)
    start_all(made)
    return made


def file_entry(origin: Origin, data: bytes, *, with_sha: bool = False) -> dict[str, Any]:
    entry: dict[str, Any] = {"url": origin.url(NAME), "name": NAME, "size": len(data)}
    if with_sha:
        entry["sha256"] = hashlib.sha256(data).hexdigest()
    return entry


def blobs(server: TeamServer) -> list[Path]:
    return [p for p in (server.shared / "blobs").iterdir() if not p.name.startswith(".")]


def assert_has_file(server: TeamServer, data: bytes) -> None:
    link = server.link(MODEL, NAME)
    target = link.resolve()
    assert target.parent == (server.shared / "blobs").resolve(), target
    assert sha256_of(link) == hashlib.sha256(data).hexdigest()


def test_three_servers_asking_for_one_file_fetch_it_once(
    tmp_path: Path, origin: Origin, servers: list[TeamServer], coordination: str | None
) -> None:
    data = origin.add(NAME, 24 * MiB)
    origin.rate = 3 * MiB  # per connection: a few seconds, so the three overlap
    nodes = make_servers(servers, tmp_path, 3, coordination)
    for node in nodes:
        node.register(MODEL, [file_entry(origin, data)])
    parallel([lambda node=node: node.download(MODEL) for node in nodes])

    # every server shows live progress of the one transfer, then completes
    seen_progress = [False] * len(nodes)

    def all_done() -> bool:
        done = True
        for i, node in enumerate(nodes):
            jobs = node.jobs(MODEL)
            assert all(job["status"] != "failed" for job in jobs), jobs
            if any(0 < job.get("downloaded_bytes", 0) < len(data) for job in jobs):
                seen_progress[i] = True
            done = done and node.downloaded(MODEL)
        return done

    wait_until(all_done, 120, "all three servers complete")
    assert origin.bytes_served(NAME) == len(data)
    assert seen_progress == [True, True, True]
    for node in nodes:
        assert_has_file(node, data)
    assert len(blobs(nodes[0])) == 1

    # published and verified in the store: another request completes at once, no transfer
    nodes[1].register("team/again", [file_entry(origin, data)])
    nodes[1].download("team/again")
    wait_until(lambda: nodes[1].downloaded("team/again"), 30, "the second model completes")
    assert origin.bytes_served(NAME) == len(data)
    assert all(job["status"] == "completed" for job in nodes[1].jobs("team/again"))


def test_owner_killed_another_server_takes_over_and_a_restarted_one_joins(
    tmp_path: Path, origin: Origin, servers: list[TeamServer], coordination: str | None
) -> None:
    data = origin.add(NAME, 32 * MiB)
    origin.rate = 1 * MiB  # per connection: ~16 s in all
    first, second = make_servers(servers, tmp_path, 2, coordination)
    for node in (first, second):
        node.register(MODEL, [file_entry(origin, data, with_sha=True)])
    first.download(MODEL)
    wait_until(
        lambda: any(j["downloaded_bytes"] >= 6 * MiB for j in first.jobs(MODEL)),
        60,
        "the owner has written 6 MiB",
    )
    second.download(MODEL)
    wait_until(
        lambda: any(j["downloaded_bytes"] >= 6 * MiB for j in second.jobs(MODEL)),
        30,
        "the joiner shows the owner's progress",
    )
    durable_at_kill = max(j["downloaded_bytes"] for j in second.jobs(MODEL))
    first.kill()  # kill -9, mid-transfer
    served_at_kill = origin.bytes_served(NAME)
    assert served_at_kill < len(data)

    # the waiting server takes the transfer over and resumes from the owner's journal
    wait_until(
        lambda: origin.bytes_served(NAME) > served_at_kill + MiB, 30, "the takeover transfers"
    )
    # the killed server comes back: its interrupted job joins, it never takes the live one
    first.start()
    wait_until(lambda: first.downloaded(MODEL) and second.downloaded(MODEL), 120, "both complete")
    for node in (first, second):
        jobs = node.jobs(MODEL)
        assert [j["status"] for j in jobs] == ["completed"], jobs
        assert_has_file(node, data)
    extra = origin.bytes_served(NAME) - len(data)
    assert extra <= CONNECTIONS * MIN_PIECE
    assert extra < durable_at_kill  # resumed: what was durable was not fetched again
    assert len(blobs(first)) == 1
    assert not list((first.shared / "partial").glob("*.part"))


def test_two_servers_publishing_the_same_bytes_at_once_leave_one_blob(
    tmp_path: Path, origin: Origin, servers: list[TeamServer]
) -> None:
    # one knows the SHA-256, the other only the URL: two keys, two transfers, one blob
    data = origin.add(NAME, 8 * MiB)
    origin.rate = 4 * MiB
    first, second = make_servers(servers, tmp_path, 2, None)
    first.register(MODEL, [file_entry(origin, data, with_sha=True)])
    second.register(MODEL, [file_entry(origin, data)])
    parallel([lambda: first.download(MODEL), lambda: second.download(MODEL)])
    wait_until(lambda: first.downloaded(MODEL) and second.downloaded(MODEL), 60, "both complete")
    for node in (first, second):
        assert [j["status"] for j in node.jobs(MODEL)] == ["completed"]
        assert_has_file(node, data)
    assert [p.name for p in blobs(first)] == [hashlib.sha256(data).hexdigest()]


def test_postgres_stopped_mid_download_the_transfer_finishes_and_is_published(
    tmp_path: Path, origin: Origin, servers: list[TeamServer], postgres_cluster: Any
) -> None:
    url = postgres_cluster.url(postgres_cluster.create_database())
    data = origin.add(NAME, 12 * MiB)
    origin.rate = 1 * MiB
    (node,) = make_servers(servers, tmp_path, 1, url)
    node.register(MODEL, [file_entry(origin, data, with_sha=True)])
    node.download(MODEL)
    wait_until(lambda: any(j["downloaded_bytes"] > 0 for j in node.jobs(MODEL)), 30, "started")
    postgres_cluster.stop("immediate")
    try:
        wait_until(lambda: node.downloaded(MODEL), 60, "the transfer completes without PostgreSQL")
        assert [j["status"] for j in node.jobs(MODEL)] == ["completed"]
        assert_has_file(node, data)
    finally:
        postgres_cluster.start_server()
    # coordination resumes on reconnect: the record says done, where the file is
    import psycopg

    def recorded() -> Any:
        with psycopg.connect(url) as conn:
            return conn.execute("SELECT status, path FROM shared_transfers").fetchall()

    blob = node.shared / "blobs" / hashlib.sha256(data).hexdigest()
    wait_until(lambda: recorded() == [("done", str(blob))], 30, "the record says done")


def test_deleting_removes_this_users_reference_and_the_bytes_with_the_last_one(
    tmp_path: Path, origin: Origin, servers: list[TeamServer]
) -> None:
    data = origin.add(NAME, 2 * MiB)
    alice, bob, carol = (
        TeamServer(tmp_path / name, tmp_path / "shared", user=name, extra_args=extra)
        for name, extra in (
            ("alice", []),
            ("bob", []),
            ("carol", ["--ModelFilesApp.team_admins=carol"]),
        )
    )
    servers.extend([alice, bob, carol])
    start_all([alice, bob, carol])
    for node in (alice, bob):
        node.register(MODEL, [file_entry(origin, data, with_sha=True)])
        node.download(MODEL)
        wait_until(lambda node=node: node.downloaded(MODEL), 60, "downloaded")
    blob = alice.shared / "blobs" / hashlib.sha256(data).hexdigest()

    alice.call("DELETE", f"models/{MODEL.replace('/', '%2F')}")
    assert not alice.downloaded(MODEL) and not alice.link(MODEL, NAME).exists()
    assert blob.exists() and bob.downloaded(MODEL)  # bob's reference keeps the bytes
    bob.call("DELETE", f"models/{MODEL.replace('/', '%2F')}")
    assert not blob.exists()  # the last reference: the bytes go

    # an admin's delete removes the bytes others still use; a new request fetches them again
    for node in (alice, carol):
        node.register("team/other", [file_entry(origin, data, with_sha=True)])
        node.download("team/other")
        wait_until(lambda node=node: node.downloaded("team/other"), 60, "downloaded again")
    assert blob.exists()
    carol.call("DELETE", "models/team%2Fother")
    assert not blob.exists() and not alice.downloaded("team/other")


def test_unusable_settings_are_clear_errors_at_start(tmp_path: Path, postgres_cluster: Any) -> None:
    not_a_dir = tmp_path / "a-file"
    not_a_dir.write_text("x")
    bad_dir = TeamServer(tmp_path / "one", not_a_dir / "shared")
    closed_port = postgres_cluster.port + 1 if postgres_cluster.port < 65000 else 1
    secret = "s3cret-pa55"
    bad_url = f"postgresql://team:{secret}@127.0.0.1:{closed_port}/models"
    bad_db = TeamServer(tmp_path / "two", tmp_path / "shared", bad_url)
    try:
        began = time.monotonic()
        start_all([bad_dir, bad_db])
        started_in = time.monotonic() - began
        with bad_dir.client() as client:
            assert client.get("models").status_code == 404  # the extension did not load
        log = bad_dir.log_path.read_text()
        assert f"shared_cache_dir {not_a_dir / 'shared'} is not usable" in log
        log = bad_db.log_path.read_text()
        assert "cannot reach the coordination database" in log
        assert f"postgresql://team:***@127.0.0.1:{closed_port}/models" in log
        assert secret not in log
        assert started_in < 60  # a start, not a hang on the unreachable database
    finally:
        bad_dir.kill()
        bad_db.kill()


def test_hub_files_land_once_in_the_shared_hugging_face_cache(
    tmp_path: Path, servers: list[TeamServer]
) -> None:
    from huggingface_hub import try_to_load_from_cache

    from .hub_server import FakeHub, Repo, make_gguf

    hub = FakeHub()
    try:
        data = make_gguf(tmp_path / "m.gguf", extra_bytes=3 * MiB).read_bytes()
        repo = hub.add(Repo("org/shared-model", {"pytorch_model.bin": data}))
        nodes = make_servers(
            servers,
            tmp_path,
            2,
            None,
            f"--ModelFilesApp.hf_endpoint={hub.url}",
        )
        parallel(
            [
                lambda node=node: node.call(
                    "POST",
                    "models/org%2Fshared-model/download",
                    json={"files": ["pytorch_model.bin"]},
                )
                for node in nodes
            ]
        )
        wait_until(
            lambda: all(node.downloaded("org/shared-model") for node in nodes), 60, "both complete"
        )
        sha = hashlib.sha256(data).hexdigest()
        # one transfer: one probe and one GET of the blob (a 3 MiB file is one piece); no header
        # is read from a .bin file
        assert hub.requests.count(f"GET /cdn/{sha}") == 2, hub.requests
        cache = nodes[0].shared / "hub"
        found = try_to_load_from_cache(
            "org/shared-model", "pytorch_model.bin", cache_dir=str(cache), revision=repo.sha
        )
        assert isinstance(found, str) and sha256_of(Path(found)) == sha
        assert (cache / "models--org--shared-model" / "blobs" / sha).is_file()
        assert (cache / "models--org--shared-model" / "refs" / "main").read_text() == repo.sha
    finally:
        hub.close()


def test_a_joining_job_pauses_and_resumes_without_a_transfer_of_its_own(
    tmp_path: Path, origin: Origin, servers: list[TeamServer]
) -> None:
    data = origin.add(NAME, 8 * MiB)
    origin.rate = 1 * MiB
    owner, joiner = make_servers(servers, tmp_path, 2, None)
    for node in (owner, joiner):
        node.register(MODEL, [file_entry(origin, data, with_sha=True)])
    owner.download(MODEL)
    wait_until(lambda: any(j["downloaded_bytes"] > 0 for j in owner.jobs(MODEL)), 30, "started")
    joiner.download(MODEL)
    wait_until(
        lambda: any(j["downloaded_bytes"] > 0 for j in joiner.jobs(MODEL)), 30, "the joiner follows"
    )
    (job,) = joiner.jobs(MODEL)
    paused = joiner.call("POST", f"downloads/{job['job_id']}/pause")
    assert paused["status"] == "paused"
    wait_until(lambda: owner.downloaded(MODEL), 60, "the owner completes")
    assert [j["status"] for j in joiner.jobs(MODEL)] == ["paused"]
    joiner.call("POST", f"downloads/{job['job_id']}/resume")
    wait_until(lambda: joiner.downloaded(MODEL), 30, "the resumed joiner completes at once")
    assert [j["status"] for j in joiner.jobs(MODEL)] == ["completed"]
    assert origin.bytes_served(NAME) == len(data)
    assert_has_file(joiner, data)
