"""Team mode on PostgreSQL: faults of the database itself, and the claim's life cycle."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from jupyter_modelfiles.team import (
    CoordinationError,
    CoordinationUnavailable,
    TransferRecord,
    content_key,
)
from jupyter_modelfiles.team.postgres import PostgresCoordinator, redact_url

from .jupyter_process import free_port

SECRET = "s3cr3t-Pa55"


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word (a hung database)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def test_redacted_url_hides_the_password():
    assert redact_url(f"postgresql://team:{SECRET}@db:5432/models") == (
        "postgresql://team:***@db:5432/models"
    )
    assert SECRET not in redact_url(f"postgresql://db/models?user=team&password={SECRET}")
    assert redact_url("postgresql://db/models") == "postgresql://db/models"


async def test_refused_connection_is_a_quick_clear_error_without_the_password():
    url = f"postgresql://team:{SECRET}@127.0.0.1:{free_port()}/models"
    began = time.monotonic()
    with pytest.raises(CoordinationUnavailable) as raised:
        await PostgresCoordinator(url).open()
    assert time.monotonic() - began < 10
    message = str(raised.value)
    assert "postgresql://team:***@127.0.0.1:" in message
    assert SECRET not in message
    assert "coordination_url" in message


async def test_a_database_that_never_answers_fails_within_the_connect_timeout(silent_server):
    url = f"postgresql://team:{SECRET}@127.0.0.1:{silent_server}/models"
    began = time.monotonic()
    with pytest.raises(CoordinationUnavailable) as raised:
        await PostgresCoordinator(url, connect_timeout=2).open()
    elapsed = time.monotonic() - began
    assert 1.5 < elapsed < 15, elapsed  # it waited for the timeout, then gave up: no hang
    assert f"127.0.0.1:{silent_server}" in str(raised.value)
    assert SECRET not in str(raised.value)


async def test_a_wrong_password_is_reported_without_it(postgres_cluster):
    url = postgres_cluster.url().replace(postgres_cluster.password, SECRET)
    with pytest.raises(CoordinationUnavailable) as raised:
        await PostgresCoordinator(url).open()
    assert "password authentication failed" in str(raised.value)
    assert SECRET not in str(raised.value)


async def test_a_role_that_cannot_create_the_table_gets_a_clear_error(
    postgres_url, postgres_cluster
):
    database = postgres_url.rsplit("/", 1)[1]
    role = f"reader_{database}"  # roles are cluster-wide, databases are per test
    postgres_cluster.psql(
        f"CREATE ROLE {role} LOGIN PASSWORD '{SECRET}'; REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        database,
    )
    url = f"postgresql://{role}:{SECRET}@127.0.0.1:{postgres_cluster.port}/{database}"
    with pytest.raises(CoordinationError) as raised:
        await PostgresCoordinator(url).open()
    message = str(raised.value)
    assert "refused to set up the shared_transfers table: permission denied" in message
    assert f"postgresql://{role}:***@" in message and SECRET not in message
    # once an admin made the table and granted it, the same role works
    async with PostgresCoordinator(postgres_url):
        pass
    postgres_cluster.psql(f"GRANT SELECT, INSERT, UPDATE ON shared_transfers TO {role}", database)
    async with PostgresCoordinator(url) as coordinator:
        claim = await coordinator.try_claim(content_key(sha256="34" * 32))
        assert claim is not None
        await claim.release()


async def test_keepalives_are_set_on_both_sides(postgres_url):
    async with PostgresCoordinator(postgres_url, keepalive_idle=7) as coordinator:
        conn = coordinator._conn
        assert conn is not None
        assert conn.info.get_parameters().get("application_name") == "jupyter-modelfiles"
        rows = await (await conn.execute("SHOW tcp_keepalives_idle")).fetchall()
        assert rows[0][0] in ("7", "7s")
        rows = await (await conn.execute("SHOW tcp_user_timeout")).fetchall()
        assert rows[0][0] in ("13000", "13s")  # idle + interval * count


async def test_claim_life_cycle_in_one_process(postgres_url):
    key = content_key(sha256="ab" * 32)
    async with (
        PostgresCoordinator(postgres_url, progress_interval=0) as one,
        PostgresCoordinator(postgres_url) as two,
    ):
        claim = await one.try_claim(key, total=100, path="partial/x")
        assert claim is not None
        # neither another server nor the same one claims it twice
        assert await two.try_claim(key) is None
        assert await one.try_claim(key) is None
        await claim.progress(40)
        record = await two.get(key)
        assert record is not None
        assert (record.status, record.owner, record.bytes_done, record.total) == (
            "active",
            one.owner,
            40,
            100,
        )
        # released (paused, cancelled): the next server takes it over from where it was
        await claim.release()
        assert (await two.get(key)).status == "released"  # type: ignore[union-attr]
        again = await two.try_claim(key)
        assert again is not None and again.bytes_done == 40
        await again.complete("blobs/" + "ab" * 32)
        record = await one.get(key)
        assert record is not None and record.done and record.bytes_done == 100
        assert record.path == "blobs/" + "ab" * 32
        # done is final: nobody claims it again, acquire answers with the record at once
        assert await one.try_claim(key) is None
        assert await one.acquire(key) == record
        assert [r.key for r in await one.records()] == [str(key)]


async def test_failure_of_the_owner_hands_the_transfer_to_a_waiting_server(postgres_url):
    key = content_key(sha256="cd" * 32)
    async with (
        PostgresCoordinator(postgres_url) as one,
        PostgresCoordinator(postgres_url) as two,
    ):
        claim = await one.try_claim(key)
        assert claim is not None
        seen: list[TransferRecord] = []
        waiting = asyncio.create_task(two.acquire(key, on_progress=seen.append))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        await claim.fail("origin said 503")
        taken = await asyncio.wait_for(waiting, 10)
        assert not isinstance(taken, TransferRecord)
        assert taken.owner == two.owner
        assert seen and seen[0].owner == one.owner
        await taken.release()


async def test_database_down_mid_transfer_the_transfer_goes_on_and_is_recorded(
    postgres_url, postgres_cluster
):
    key = content_key(sha256="ef" * 32)
    async with PostgresCoordinator(postgres_url, progress_interval=0, health_interval=0.2) as one:
        claim = await one.try_claim(key, total=10)
        assert claim is not None
        await claim.progress(3)
        postgres_cluster.stop(mode="fast")  # PostgreSQL goes away mid-download
        try:
            deadline = time.monotonic() + 10
            while not claim.lost and time.monotonic() < deadline:
                await claim.progress(4)  # the owner keeps going; no exception reaches it
                await asyncio.sleep(0.05)
            assert claim.lost
            await claim.progress(7)
            # the file is published while the database is down: the record follows later
            await claim.complete("blobs/" + "ef" * 32)
        finally:
            postgres_cluster.start_server()
        async with PostgresCoordinator(postgres_url) as two:
            deadline = time.monotonic() + 20
            record = await two.get(key)
            while not (record and record.done) and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                record = await two.get(key)
            assert record is not None and record.done
            assert (record.bytes_done, record.path) == (10, "blobs/" + "ef" * 32)
            assert await two.try_claim(key) is None


async def test_a_dropped_session_takes_its_lock_back_on_reconnect(postgres_url, postgres_cluster):
    key = content_key(sha256="12" * 32)
    async with PostgresCoordinator(postgres_url, progress_interval=0, health_interval=0.2) as one:
        claim = await one.try_claim(key, total=10)
        assert claim is not None
        first_pid = one._conn.info.backend_pid  # type: ignore[union-attr]
        with psycopg.connect(postgres_cluster.url(postgres_url.rsplit("/", 1)[1])) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first_pid,))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            await claim.progress(5)
            conn = one._conn
            reconnected = conn is not None and not conn.closed
            if reconnected and conn.info.backend_pid != first_pid and not claim.lost:  # type: ignore[union-attr]
                break
            await asyncio.sleep(0.1)
        assert not claim.lost
        await claim.progress(6)
        async with PostgresCoordinator(postgres_url) as two:
            assert await two.try_claim(key) is None  # the lock is held again, by one
            record = await two.get(key)
            assert record is not None and (record.owner, record.bytes_done) == (one.owner, 6)
            await claim.release()
            again = await two.try_claim(key)
            assert again is not None
            await again.release()


async def test_a_transfer_taken_over_and_finished_while_cut_off_is_not_taken_back(
    postgres_url, postgres_cluster
):
    key = content_key(sha256="34" * 32)
    database = postgres_url.rsplit("/", 1)[1]
    async with PostgresCoordinator(postgres_url, progress_interval=0, health_interval=30) as one:
        claim = await one.try_claim(key, total=10)
        assert claim is not None
        await claim.progress(4)
        first_pid = one._conn.info.backend_pid  # type: ignore[union-attr]
        with psycopg.connect(postgres_cluster.url(database)) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first_pid,))
        # before ``one`` notices, another server takes the transfer over and publishes it
        async with PostgresCoordinator(postgres_url) as two:
            deadline = time.monotonic() + 10
            taken = await two.try_claim(key)
            while taken is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
                taken = await two.try_claim(key)
            assert taken is not None and taken.bytes_done == 4
            await taken.complete("blobs/" + "34" * 32)
            # ``one`` reconnects; the lock is free again but the transfer is no longer its own
            deadline = time.monotonic() + 15
            while not claim.taken_over.is_set() and time.monotonic() < deadline:
                await claim.progress(5)
                await asyncio.sleep(0.1)
            assert claim.taken_over.is_set() and claim.finished
            assert not claim.cut_off.is_set()  # closed by the server, not by silence
            record = await two.get(key)
            assert record is not None and record.done and record.owner == two.owner
            with psycopg.connect(postgres_cluster.url(database)) as admin:
                held = admin.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND database = (SELECT oid FROM pg_database WHERE datname = %s)",
                    (database,),
                ).fetchone()
            assert held == (0,)  # ``one`` did not keep the lock it could take


def test_only_a_silent_connection_loss_cuts_a_transfer_off():
    from jupyter_modelfiles.team.postgres import _silence

    for message in (
        "consuming input failed: could not receive data from server: Connection timed out",
        'connection to server at "10.0.0.1", port 5432 failed: Network is unreachable',
        "could not send data to server: No route to host",
    ):
        assert _silence(RuntimeError(message)), message
    for message in (
        "consuming input failed: server closed the connection unexpectedly",
        "terminating connection due to administrator command",
        'connection to server at "127.0.0.1", port 5432 failed: Connection refused',
    ):
        assert not _silence(RuntimeError(message)), message
