"""Sliced uploads through the real Jupyter server: ``v1/uploads``, slices at offsets, complete."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import body, eventually
from .jupyter_process import JupyterServerProcess
from .test_upload_connection import RawConnection

MIB = 1 << 20


@pytest.fixture
def modelfiles_config() -> dict[str, Any]:
    return {"max_upload_size": 8 * MIB, "upload_idle_timeout": 1.0}


def partials(root: Path) -> list[Path]:
    tmp = root / "files" / ".tmp"
    return list(tmp.iterdir()) if tmp.exists() else []


async def create(api: Any, size: int, filename: str = "big.bin", **extra: Any) -> Any:
    return await api(
        "POST",
        "v1/uploads",
        json={"filename": filename, "bytes": size, "purpose": "batch", **extra},
    )


async def put(api: Any, upload_id: str, offset: int, data: bytes) -> Any:
    return await api(
        "PUT",
        f"v1/uploads/{upload_id}/slices",
        params={"offset": offset},
        body=data,
        headers={"Content-Type": "application/octet-stream"},
    )


async def raw_slice(
    port: int, base_url: str, token: str, upload_id: str, length: int, sent: bytes
) -> RawConnection:
    """A slice of ``length`` bytes at offset 0 on a raw connection, of which only ``sent``
    goes out now (the test decides what happens to the rest)."""
    connection = await RawConnection.open(port, base_url)
    head = connection.head(
        "PUT", f"v1/uploads/{upload_id}/slices?offset=0", token, Content_Length=str(length)
    )
    await connection.send(head + sent)
    return connection


async def listed(api: Any) -> list[str]:
    return [f["filename"] for f in body(await api("GET", "v1/files"))["data"]]


async def test_slices_in_any_order_make_the_same_file_as_post_files(
    api: Any, modelfiles_root: Path
) -> None:
    data = os.urandom(3 * MIB + 12345)
    created = await create(api, len(data), "weights.jsonl", expiry=2)
    assert created.code == 201
    upload = body(created)
    assert upload["object"] == "upload" and upload["bytes"] == len(data)
    assert upload["status"] == "pending" and upload["received"] == []
    cuts = [0, MIB + 7, 2 * MIB, len(data)]
    slices = list(itertools.pairwise(cuts))
    for start, end in reversed(slices):  # the hash must not depend on the order
        answer = await put(api, upload["id"], start, data[start:end])
        assert answer.code == 200, answer.body
        assert body(answer)["offset"] == start and body(answer)["bytes"] == end - start
    state = body(await api("GET", f"v1/uploads/{upload['id']}"))
    assert state["received"] == [[0, len(data)]] and state["received_bytes"] == len(data)
    assert await listed(api) == []  # nothing visible before complete
    done = await api("POST", f"v1/uploads/{upload['id']}/complete")
    assert done.code == 200, done.body
    record = body(done)
    assert record["object"] == "file" and record["bytes"] == len(data)
    assert record["sha256"] == hashlib.sha256(data).hexdigest()
    assert record["filename"] == "weights.jsonl" and record["purpose"] == "batch"
    assert record["num_lines"] == data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    assert record["expires_at"] > time.time() + 3600
    assert body(await api("GET", f"v1/files/{record['id']}")) == record
    assert (await api("GET", f"v1/files/{record['id']}/content")).body == data
    assert partials(modelfiles_root) == []
    assert (await api("GET", f"v1/uploads/{upload['id']}")).code == 404


async def test_bad_offsets_overlaps_and_a_missing_slice_are_clear_errors(
    api: Any, modelfiles_root: Path
) -> None:
    data = os.urandom(2 * MIB)
    upload = body(await create(api, len(data)))
    uid = upload["id"]
    past = await put(api, uid, MIB + 1, data[:MIB])
    assert past.code == 400 and "ends past" in body(past)["error"]["message"]
    negative = await put(api, uid, -1, b"x")
    assert negative.code == 400 and "offset" in body(negative)["error"]["message"]
    missing_offset = await api("PUT", f"v1/uploads/{uid}/slices", body=b"x")
    assert missing_offset.code == 400 and "offset" in body(missing_offset)["error"]["message"]
    assert (await put(api, uid, 0, data[:MIB])).code == 200
    overlap = await put(api, uid, MIB - 10, data[MIB - 10 : MIB + 10])
    assert overlap.code == 409 and "overlaps" in body(overlap)["error"]["message"]
    gap = await api("POST", f"v1/uploads/{uid}/complete")
    assert gap.code == 400
    message = body(gap)["error"]["message"]
    assert f"missing {MIB} bytes" in message and f"[{MIB}, {2 * MIB})" in message
    assert await listed(api) == []
    assert (await put(api, uid, MIB, data[MIB:])).code == 200
    record = body(await api("POST", f"v1/uploads/{uid}/complete"))
    assert record["sha256"] == hashlib.sha256(data).hexdigest()
    again = await put(api, uid, 0, b"late")
    assert again.code == 404
    unknown = await put(api, "upload-nope", 0, b"x")
    assert unknown.code == 404 and "no upload in progress" in body(unknown)["error"]["message"]
    assert partials(modelfiles_root) == []


async def test_create_checks_size_limit_fields_and_purpose(api: Any, modelfiles_root: Path) -> None:
    too_big = await create(api, 8 * MIB + 1)
    assert too_big.code == 413 and "limit" in body(too_big)["error"]["message"].lower()
    assert (await create(api, -5)).code == 400
    assert (await api("POST", "v1/uploads", json={"bytes": 5})).code == 400
    bad_purpose = await api(
        "POST", "v1/uploads", json={"filename": "a", "bytes": 1, "purpose": "nope"}
    )
    assert bad_purpose.code == 400
    assert partials(modelfiles_root) == []


async def test_a_slice_over_the_declared_size_is_refused_while_streaming(
    api: Any, server_url: str, token: str, jp_http_port: int, jp_base_url: str
) -> None:
    upload = body(await create(api, MIB))
    connection = await raw_slice(jp_http_port, jp_base_url, token, upload["id"], 4 * MIB, b"")
    status, _, content = await connection.response()
    assert status == 400 and b"ends past" in content  # answered before any body byte


async def test_empty_file_and_cancel(api: Any, modelfiles_root: Path) -> None:
    empty = body(await create(api, 0, "empty.txt"))
    record = body(await api("POST", f"v1/uploads/{empty['id']}/complete"))
    assert record["bytes"] == 0 and record["sha256"] == hashlib.sha256(b"").hexdigest()

    upload = body(await create(api, 2 * MIB))
    assert len(partials(modelfiles_root)) == 1
    assert (await put(api, upload["id"], 0, os.urandom(MIB))).code == 200
    cancelled = await api("DELETE", f"v1/uploads/{upload['id']}")
    assert cancelled.code == 200 and body(cancelled)["status"] == "cancelled"
    assert partials(modelfiles_root) == []
    assert (await put(api, upload["id"], MIB, b"x")).code == 404
    assert (await api("POST", f"v1/uploads/{upload['id']}/complete")).code == 404
    assert await listed(api) == ["empty.txt"]


async def test_two_uploads_at_once_with_parallel_slices(api: Any, modelfiles_root: Path) -> None:
    first, second = os.urandom(4 * MIB), os.urandom(3 * MIB + 1)
    a = body(await create(api, len(first), "a.bin"))
    b = body(await create(api, len(second), "b.bin"))

    async def send(upload: dict[str, Any], data: bytes) -> None:
        step = MIB
        answers = await asyncio.gather(
            *(put(api, upload["id"], o, data[o : o + step]) for o in range(0, len(data), step))
        )
        assert [r.code for r in answers] == [200] * len(answers)

    await asyncio.gather(send(a, first), send(b, second))
    done_a, done_b = await asyncio.gather(
        api("POST", f"v1/uploads/{a['id']}/complete"), api("POST", f"v1/uploads/{b['id']}/complete")
    )
    assert body(done_a)["sha256"] == hashlib.sha256(first).hexdigest()
    assert body(done_b)["sha256"] == hashlib.sha256(second).hexdigest()
    assert sorted(await listed(api)) == ["a.bin", "b.bin"]
    assert partials(modelfiles_root) == []


async def test_a_broken_slice_keeps_what_arrived_and_the_rest_can_follow(
    api: Any, token: str, jp_http_port: int, jp_base_url: str, modelfiles_root: Path
) -> None:
    data = os.urandom(2 * MIB)
    upload = body(await create(api, len(data)))
    connection = await raw_slice(
        jp_http_port, jp_base_url, token, upload["id"], len(data), data[:MIB]
    )
    await asyncio.sleep(0.3)
    connection.writer.close()

    async def settled() -> bool:
        """The broken slice is over: complete now names missing bytes (400), not a slice
        still being received (409)."""
        return (await api("POST", f"v1/uploads/{upload['id']}/complete")).code == 400

    await eventually(settled)
    state = body(await api("GET", f"v1/uploads/{upload['id']}"))
    arrived = state["received"][0][1]
    assert state["received"][0][0] == 0 and 0 < arrived <= MIB
    assert (await put(api, upload["id"], arrived, data[arrived:])).code == 200
    record = body(await api("POST", f"v1/uploads/{upload['id']}/complete"))
    assert record["sha256"] == hashlib.sha256(data).hexdigest()
    assert partials(modelfiles_root) == []


async def test_uploads_need_auth_and_xsrf(server_url: str, api: Any) -> None:
    upload = body(await create(api, 10))
    async with httpx.AsyncClient(base_url=server_url) as client:
        anonymous = await client.post("modelfiles/v1/uploads", json={"filename": "a", "bytes": 1})
        assert anonymous.status_code == 403
        slice_ = await client.put(
            f"modelfiles/v1/uploads/{upload['id']}/slices?offset=0", content=b"x" * 10
        )
        assert slice_.status_code == 403
        complete = await client.post(f"modelfiles/v1/uploads/{upload['id']}/complete")
        assert complete.status_code == 403
        # a cookie without the XSRF header is refused too
        client.cookies.set("_xsrf", "abc")
        cookie_only = await client.post("modelfiles/v1/uploads", json={"filename": "a", "bytes": 1})
        assert cookie_only.status_code == 403
    assert body(await api("GET", f"v1/uploads/{upload['id']}"))["received"] == []


async def test_a_stalled_slice_is_dropped_after_the_idle_timeout(
    api: Any, token: str, jp_http_port: int, jp_base_url: str
) -> None:
    data = os.urandom(2 * MIB)
    upload = body(await create(api, len(data)))
    # half a MiB, then nothing, the connection left open
    connection = await raw_slice(
        jp_http_port, jp_base_url, token, upload["id"], len(data), data[: MIB // 2]
    )
    started = time.monotonic()

    async def complete_says(code: int) -> bool:
        return (await api("POST", f"v1/uploads/{upload['id']}/complete")).code == code

    await eventually(lambda: complete_says(409), timeout=0.8)  # the slice is being received
    await eventually(lambda: complete_says(400), timeout=10)  # dropped: bytes are missing
    assert time.monotonic() - started >= 0.9
    assert await connection.reader.read() == b""  # the server closed it
    state = body(await api("GET", f"v1/uploads/{upload['id']}"))
    rest = state["received"][0][1] if state["received"] else 0
    assert (await put(api, upload["id"], rest, data[rest:])).code == 200
    record = body(await api("POST", f"v1/uploads/{upload['id']}/complete"))
    assert record["sha256"] == hashlib.sha256(data).hexdigest()


def test_expired_upload_is_cancelled_and_its_partial_deleted(tmp_path: Path) -> None:
    from jupyter_modelfiles.files.sliced import SlicedUploads

    uploads = SlicedUploads(tmp_path, ttl=60)
    upload = uploads.create("a.bin", 10, "batch", max_bytes=100)
    writer = upload.begin_slice(0, 5)
    writer.write(b"hello")
    writer.finish()
    assert uploads.expire(now=time.monotonic() + 30) == []
    assert upload.path.exists()
    assert uploads.expire(now=time.monotonic() + 61) == [upload.id]
    assert not upload.path.exists() and list(tmp_path.iterdir()) == []


def test_kill_during_upload_leaves_nothing_visible(tmp_path: Path) -> None:
    server = JupyterServerProcess(tmp_path)
    server.start()
    try:
        with server.client() as client:
            upload = client.post("uploads", json={"filename": "k.bin", "bytes": 64 * MIB}).json()
            stop = threading.Event()

            def body_stream() -> Any:
                block = os.urandom(MIB)
                for _ in range(64):
                    if stop.is_set():
                        return
                    yield block
                    time.sleep(0.02)

            def send() -> None:
                try:
                    with server.client() as sender:
                        sender.put(
                            f"uploads/{upload['id']}/slices?offset=0",
                            content=body_stream(),
                            headers={"Content-Length": str(64 * MIB)},
                            timeout=30,
                        )
                except Exception:  # the server was killed under it: expected
                    pass

            thread = threading.Thread(target=send)
            thread.start()
            tmp_dir = server.root / "files" / ".tmp"
            assert len(list(tmp_dir.iterdir())) == 1  # the partial file
            time.sleep(1.0)  # some MiB of the slice are in
            server.kill()
            stop.set()
            thread.join(10)
        server.start()
        with server.client() as client:
            assert client.get("files").json()["total"] == 0
            assert client.get(f"uploads/{upload['id']}").status_code == 404
        assert list(tmp_dir.iterdir()) == []
        assert [p for p in (server.root / "files").rglob("*") if p.is_file()] == []
    finally:
        server.stop()


async def test_a_large_refused_slice_is_answered_while_its_body_is_still_coming(
    api: Any, token: str, jp_http_port: int, jp_base_url: str, modelfiles_root: Path
) -> None:
    """A slice refused before its body arrives (here: it overlaps bytes already received) is
    answered at once and the rest of its body is read and dropped, so a client still sending
    (a browser's XHR of a large slice) reads the 409 and its JSON error, not a reset."""
    data = os.urandom(8 * MIB)
    uid = body(await create(api, len(data)))["id"]
    assert (await put(api, uid, 0, data[:MIB])).code == 200
    connection = await raw_slice(jp_http_port, jp_base_url, token, uid, len(data), data[:MIB])
    await asyncio.sleep(0.3)  # the answer is out; a closed connection would reset from here
    for start in range(MIB, len(data), MIB):
        await connection.send(data[start : start + MIB])
    status, _, content = await connection.response()
    assert status == 409 and b"overlaps" in content
    connection.close()
    assert (await put(api, uid, MIB, data[MIB:])).code == 200  # nothing was lost meanwhile
    record = body(await api("POST", f"v1/uploads/{uid}/complete"))
    assert record["sha256"] == hashlib.sha256(data).hexdigest()
    assert partials(modelfiles_root) == []
