"""The uploaded-files store through the real Jupyter server: the Mistral/OpenAI/Novita files API."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from .conftest import body, eventually
from .multipart import multipart


async def upload(api: Any, data: bytes, *, filename: str = "data.bin", **fields: str) -> Any:
    payload, ctype = multipart(fields, data, filename=filename)
    return await api("POST", "v1/files", body=payload, headers={"Content-Type": ctype})


def leftovers(root: Path) -> list[Path]:
    """Temp files of uploads in progress or abandoned."""
    return list((root / "files" / ".tmp").iterdir())


async def test_upload_retrieve_content_delete_round_trip(api: Any, modelfiles_root: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    response = await upload(api, data, filename="weights.bin", purpose="fine-tune")
    assert response.code == 200
    created = body(response)
    assert created["object"] == "file"
    assert created["bytes"] == len(data)
    assert created["sha256"] == hashlib.sha256(data).hexdigest()
    assert created["filename"] == "weights.bin"
    assert created["purpose"] == "fine-tune"
    assert created["sample_type"] == "instruct"
    assert created["source"] == "upload"
    assert abs(created["created_at"] - time.time()) < 60

    fetched = body(await api("GET", f"v1/files/{created['id']}"))
    assert fetched == created

    content = await api("GET", f"v1/files/{created['id']}/content")
    assert content.code == 200
    assert content.body == data
    assert content.headers["ETag"] == f'"{created["sha256"]}"'
    assert content.headers["Content-Disposition"].startswith('attachment; filename="weights.bin"')

    deleted = await api("DELETE", f"v1/files/{created['id']}")
    assert body(deleted) == {"id": created["id"], "object": "file", "deleted": True}
    assert (await api("GET", f"v1/files/{created['id']}")).code == 404
    assert (await api("GET", f"v1/files/{created['id']}/content")).code == 404
    assert not list((modelfiles_root / "files").glob("*/" + created["id"]))


async def test_empty_file_is_served_as_bytes(api: Any) -> None:
    created = body(await upload(api, b"", filename="empty.json"))
    assert created["bytes"] == 0
    content = await api("GET", f"v1/files/{created['id']}/content")
    assert content.code == 200 and content.body == b""
    assert content.headers["Content-Type"] == "application/octet-stream"
    head = await api("HEAD", f"v1/files/{created['id']}/content")
    assert head.headers["Content-Type"] == "application/octet-stream"


async def test_jsonl_batch_file_counts_lines_and_requests(api: Any) -> None:
    lines = [json.dumps({"custom_id": str(i), "body": {"n": i}}) for i in range(7)]
    created = body(
        await upload(api, "\n".join(lines).encode(), filename="in.jsonl", purpose="batch")
    )
    assert created["num_lines"] == 7
    assert created["metadata"] == {"total_requests": 7}
    assert created["sample_type"] == "batch_request"
    assert created["mimetype"] == "application/jsonl"


async def test_upload_with_expiry_is_swept(api: Any, services: Any) -> None:
    created = body(await upload(api, b"x" * 10, purpose="batch_output", expiry="1"))
    assert created["expires_at"] == pytest.approx(time.time() + 3600, abs=60)
    removed = await services.files.sweep_expired(now=time.time() + 3601)
    assert removed == [created["id"]]
    assert (await api("GET", f"v1/files/{created['id']}")).code == 404


async def test_list_pages_filters_and_cursor(api: Any) -> None:
    ids = []
    for i in range(7):
        purpose = "batch" if i % 2 else "user_data"
        name = f"report-{i}.jsonl" if i % 3 == 0 else f"image-{i}.png"
        ids.append(body(await upload(api, f"{i}\n".encode(), filename=name, purpose=purpose))["id"])
    newest_first = list(reversed(ids))

    page0 = body(await api("GET", "v1/files", params={"page": 0, "page_size": 3}))
    assert page0["object"] == "list"
    assert [f["id"] for f in page0["data"]] == newest_first[:3]
    assert page0["total"] == 7 and page0["has_more"] is True
    assert page0["first_id"] == newest_first[0] and page0["last_id"] == newest_first[2]
    page2 = body(await api("GET", "v1/files", params={"page": 2, "page_size": 3}))
    assert [f["id"] for f in page2["data"]] == newest_first[6:]
    assert page2["has_more"] is False

    cursor = body(await api("GET", "v1/files", params={"limit": 4, "order": "asc"}))
    assert [f["id"] for f in cursor["data"]] == ids[:4]
    rest = body(
        await api(
            "GET", "v1/files", params={"limit": 4, "order": "asc", "after": cursor["last_id"]}
        )
    )
    assert [f["id"] for f in rest["data"]] == ids[4:]
    assert rest["has_more"] is False

    batch = body(await api("GET", "v1/files", params={"purpose": "batch"}))
    assert {f["id"] for f in batch["data"]} == {ids[1], ids[3], ids[5]}
    reports = body(await api("GET", "v1/files", params={"search": "report"}))
    assert {f["id"] for f in reports["data"]} == {ids[0], ids[3], ids[6]}
    short = body(await api("GET", "v1/files", params={"search": "-6"}))
    assert [f["id"] for f in short["data"]] == [ids[6]]
    pngs = body(await api("GET", "v1/files", params={"mimetypes": "image/png"}))
    assert len(pngs["data"]) == 4
    no_total = body(await api("GET", "v1/files", params={"include_total": "false"}))
    assert no_total["total"] is None
    by_source = body(await api("GET", "v1/files", params={"source": "repository"}))
    assert by_source["data"] == [] and by_source["total"] == 0
    batch_req = body(await api("GET", "v1/files", params={"sample_type": "batch_request"}))
    assert len(batch_req["data"]) == 3


async def test_ranges_etag_and_disposition(api: Any) -> None:
    data = bytes(range(256)) * 40
    created = body(await upload(api, data, filename='résumé "final".txt'))
    path = f"v1/files/{created['id']}/content"
    part = await api("GET", path, headers={"Range": "bytes=10-19"})
    assert part.code == 206 and part.body == data[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    tail = await api("GET", path, headers={"Range": "bytes=-5"})
    assert tail.body == data[-5:]
    open_ended = await api("GET", path, headers={"Range": f"bytes={len(data) - 3}-"})
    assert open_ended.body == data[-3:]
    bad = await api("GET", path, headers={"Range": f"bytes={len(data)}-"})
    assert bad.code == 416
    assert bad.headers["Content-Range"] == f"bytes */{len(data)}"
    assert body(bad)["error"]["code"] == "RANGE_NOT_SATISFIABLE"
    cached = await api("GET", path, headers={"If-None-Match": part.headers["ETag"]})
    assert cached.code == 304
    disposition = part.headers["Content-Disposition"]
    assert 'filename="r_sum_ _final_.txt"' in disposition
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.txt" in disposition


async def test_signed_url_works_without_token_until_expiry(
    api: Any, jp_http_port: int, jp_base_url: str
) -> None:
    data = b"signed content"
    created = body(await upload(api, data, filename="s.txt"))
    signed = body(await api("GET", f"v1/files/{created['id']}/url", params={"expiry": "1"}))
    url = signed["url"]
    assert urlsplit(url).port == jp_http_port
    assert urlsplit(url).path.startswith(f"{jp_base_url}modelfiles/v1/signed/files/")
    async with httpx.AsyncClient() as client:
        ok = await client.get(url)
        assert ok.status_code == 200 and ok.content == data
        tampered = await client.get(url.replace("signature=", "signature=0"))
        assert tampered.status_code == 403
        assert tampered.json()["error"]["code"] == "FORBIDDEN"
        parts = urlsplit(url)
        other = body(await upload(api, b"other", filename="o.txt"))
        swapped = url.replace(created["id"], other["id"])
        assert (await client.get(swapped)).status_code == 403
        assert (await client.get(f"{parts.scheme}://{parts.netloc}{parts.path}")).status_code == 403
        short = body(await api("GET", f"v1/files/{created['id']}/url", params={"expiry": "0.0003"}))
        await asyncio.sleep(2.1)
        expired = await client.get(short["url"])
        assert expired.status_code == 403
        assert "expired" in expired.json()["error"]["message"]
    for bad in ("0", "-1", "abc", "100000", "nan"):
        response = await api("GET", f"v1/files/{created['id']}/url", params={"expiry": bad})
        assert response.code == 400, bad


async def test_bad_input_gets_clear_json_errors(api: Any, modelfiles_root: Path) -> None:
    payload, ctype = multipart({"purpose": "batch"})
    missing = await api("POST", "v1/files", body=payload, headers={"Content-Type": ctype})
    assert missing.code == 400 and "'file'" in body(missing)["error"]["message"]

    wrong_purpose = await upload(api, b"x", purpose="not-a-purpose")
    assert wrong_purpose.code == 400 and "purpose" in body(wrong_purpose)["error"]["message"]
    weird_purpose = await upload(api, b"x", purpose='["batch"]')
    assert weird_purpose.code == 400

    not_multipart = await api(
        "POST", "v1/files", body=b"{}", headers={"Content-Type": "application/json"}
    )
    assert not_multipart.code == 400

    for params in (
        {"page": "-1"},
        {"page_size": "100000"},
        {"page_size": "0"},
        {"limit": "0"},
        {"order": "sideways"},
        {"page": "x"},
        {"include_total": "maybe"},
        {"after": "nope"},
        {"purpose": "x"},
    ):
        response = await api("GET", "v1/files", params=params)
        assert response.code == 400, params
        assert body(response)["error"]["code"] == "INVALID_REQUEST"

    for path in (
        "v1/files/unknown",
        "v1/files/unknown/content",
        "v1/files/unknown/url",
        "v1/files/..%2F..%2Fstate.sqlite3/content",
    ):
        response = await api("GET", path)
        assert response.code == 404, path
        assert body(response)["error"]["code"] == "NOT_FOUND"
    assert (await api("DELETE", "v1/files/unknown")).code == 404
    assert leftovers(modelfiles_root) == []
    assert body(await api("GET", "v1/files"))["total"] == 0


async def test_truncated_multipart_is_rejected_and_removed(api: Any, modelfiles_root: Path) -> None:
    payload, ctype = multipart({"purpose": "batch"}, os.urandom(200_000))
    truncated = payload[: len(payload) // 2]
    response = await api("POST", "v1/files", body=truncated, headers={"Content-Type": ctype})
    assert response.code == 400
    assert "truncated" in body(response)["error"]["message"]
    assert leftovers(modelfiles_root) == []
    assert body(await api("GET", "v1/files"))["total"] == 0


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../x", "x"),
        ("..\\..\\evil.txt", "evil.txt"),
        ("a\x00b.txt", "ab.txt"),
        ("模型 ✓.gguf", "模型 ✓.gguf"),
        ("..", "file"),
        ("PWN_invoice\u202egpj.exe", "PWN_invoicegpj.exe"),
        ("a\u2066b\u2069\u200f\u061c.txt", "ab.txt"),
        ("next\x85line\x9b31m.txt", "nextline31m.txt"),
        ("sep\u2028\u2029.txt", "sep.txt"),
    ],
)
async def test_traversal_and_odd_names_stay_metadata(
    api: Any, modelfiles_root: Path, tmp_path: Path, raw: str, expected: str
) -> None:
    before = sorted(p for p in tmp_path.rglob("*") if "files" not in p.parts)
    created = body(await upload(api, b"payload", filename=raw))
    assert created["filename"] == expected
    blobs = [p for p in (modelfiles_root / "files").rglob("*") if p.is_file()]
    assert [p.name for p in blobs] == [created["id"]]
    after = sorted(p for p in tmp_path.rglob("*") if "files" not in p.parts)
    assert before == after


async def test_long_names_are_truncated_to_255_bytes(api: Any) -> None:
    created = body(await upload(api, b"x", filename="é" * 300 + ".jsonl"))
    assert len(created["filename"].encode()) <= 255
    assert created["filename"].endswith(".jsonl")


async def test_raw_line_breaks_inside_a_quoted_filename_are_removed(api: Any) -> None:
    boundary = "rawCRLFboundary"
    payload = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="report\r\n2024\nfinal.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
        "a,b\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    ctype = f"multipart/form-data; boundary={boundary}"
    response = await api("POST", "v1/files", body=payload, headers={"Content-Type": ctype})
    assert response.code == 200
    assert body(response)["filename"] == "report2024final.csv"


async def test_part_headers_over_16_kib_are_refused_even_in_one_read(
    api: Any, modelfiles_root: Path
) -> None:
    response = await upload(api, b"x", filename="n" * 20_000 + ".txt")
    assert response.code == 400
    assert "headers are too large" in body(response)["error"]["message"]
    assert leftovers(modelfiles_root) == []
    assert body(await api("GET", "v1/files"))["total"] == 0


class TestSizeLimit:
    @pytest.fixture
    def modelfiles_config(self) -> dict[str, Any]:
        return {"max_upload_size": 1024 * 1024}

    async def test_declared_oversize_is_refused_before_reading(
        self, api: Any, modelfiles_root: Path
    ) -> None:
        response = await upload(api, os.urandom(3 * 1024 * 1024))
        assert response.code == 413
        assert body(response)["error"]["code"] == "PAYLOAD_TOO_LARGE"
        assert leftovers(modelfiles_root) == []

    async def test_streamed_oversize_stops_when_limit_crossed(
        self, server_url: str, token: str, modelfiles_root: Path, api: Any
    ) -> None:
        # No Content-Length (chunked): the limit is found while streaming.
        just_over = os.urandom(1024 * 1024 + 1)
        payload, ctype = multipart({}, just_over)

        async def chunks() -> Any:
            for start in range(0, len(payload), 64 * 1024):
                yield payload[start : start + 64 * 1024]
                await asyncio.sleep(0)

        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{server_url}modelfiles/v1/files",
                content=chunks(),
                headers={"Content-Type": ctype, "Authorization": f"token {token}"},
            )
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
        await eventually(lambda: leftovers(modelfiles_root) == [])
        assert body(await api("GET", "v1/files"))["total"] == 0

    async def test_exactly_the_limit_is_accepted(self, api: Any) -> None:
        data = os.urandom(1024 * 1024)
        response = await upload(api, data)
        assert response.code == 200 and body(response)["bytes"] == len(data)


async def test_dropped_connection_leaves_nothing(
    api: Any, jp_http_port: int, jp_base_url: str, token: str, modelfiles_root: Path
) -> None:
    payload, ctype = multipart({}, os.urandom(4 * 1024 * 1024))
    _reader, writer = await asyncio.open_connection("127.0.0.1", jp_http_port)
    head = (
        f"POST {jp_base_url}modelfiles/v1/files HTTP/1.1\r\nHost: localhost\r\n"
        f"Authorization: token {token}\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode()
    writer.write(head + payload[: 3 * 1024 * 1024])
    await writer.drain()
    await eventually(lambda: leftovers(modelfiles_root))  # the upload is streaming to disk
    writer.close()
    await eventually(lambda: leftovers(modelfiles_root) == [])
    assert body(await api("GET", "v1/files"))["total"] == 0


async def test_upload_body_is_streamed_not_buffered(api: Any) -> None:
    data = os.urandom(40 * 1024 * 1024)
    created = body(await upload(api, data))
    assert created["bytes"] == len(data)
    assert created["sha256"] == hashlib.sha256(data).hexdigest()


async def test_purposes_are_served_and_are_what_uploads_accept(api: Any) -> None:
    """One list of purposes (files/models.py) served to the faces; each one is accepted."""
    from jupyter_modelfiles.files.models import DEFAULT_PURPOSE, PURPOSES

    from .openapi_check import validate_response

    served = body(await api("GET", "v1/files/purposes"))
    validate_response("/v1/files/purposes", "get", 200, served)
    assert served == {"object": "list", "data": list(PURPOSES), "default": DEFAULT_PURPOSE}
    for purpose in served["data"]:
        created = body(await upload(api, b"x", purpose=purpose))
        assert created["purpose"] == purpose
    refused = await upload(api, b"x", purpose="not-a-purpose")
    assert refused.code == 400


async def test_events_are_published_for_created_and_deleted_files(api: Any, services: Any) -> None:
    subscription = services.events.subscribe(lambda e: e.topic == "file")
    created = body(await upload(api, b"abc"))
    event = await asyncio.wait_for(subscription.get(), 5)
    assert event.key == created["id"] and event.payload["bytes"] == 3
    await api("DELETE", f"v1/files/{created['id']}")
    event = await asyncio.wait_for(subscription.get(), 5)
    assert event.payload == {"id": created["id"], "object": "file", "deleted": True}
    subscription.close()


def _open_sockets(pid: int) -> int:
    """TCP sockets the process holds open (listening ones included)."""
    import psutil

    return len(psutil.Process(pid).net_connections(kind="tcp"))


def test_requests_and_downloads_leak_no_sockets(jupyter_process: Any) -> None:
    """A real server process: after uploads, reads, errors and URL downloads, its open
    sockets and file descriptors come back to where they were (nothing held per request)."""
    import psutil

    from .origin import Origin

    assert jupyter_process.process is not None
    server = psutil.Process(jupyter_process.process.pid)
    with jupyter_process.client() as warm:  # first requests open lazy, long-lived resources
        assert warm.get("files").status_code == 200
        assert warm.get("openapi.json").status_code == 200
    time.sleep(0.5)
    sockets_before, fds_before = _open_sockets(server.pid), server.num_fds()

    with Origin() as origin:
        origin.add("leak.bin", 256 * 1024)
        for round_ in range(10):
            with jupyter_process.client() as client:  # a fresh connection each round
                data = os.urandom(4096)
                created = client.post(
                    "files", files={"file": (f"f{round_}.bin", data)}, data={"purpose": "batch"}
                ).json()
                assert client.get(f"files/{created['id']}/content").content == data
                assert client.get("files/file-missing/content").status_code == 404
                signed = client.get(f"files/{created['id']}/url").json()["url"]
                assert httpx.get(signed, timeout=10).content == data
                job = client.post("downloads", json={"url": origin.url("leak.bin")}).json()
                deadline = time.monotonic() + 30
                while job["status"] not in ("completed", "failed"):
                    assert time.monotonic() < deadline, job
                    time.sleep(0.05)
                    job = client.get(f"downloads/{job['job_id']}").json()
                assert job["status"] == "completed", job
                assert client.delete(f"files/{created['id']}").status_code == 200

    deadline = time.monotonic() + 15
    while True:
        sockets_after, fds_after = _open_sockets(server.pid), server.num_fds()
        if sockets_after <= sockets_before and fds_after <= fds_before + 2:
            break
        assert time.monotonic() < deadline, (
            f"sockets {sockets_before} -> {sockets_after}, fds {fds_before} -> {fds_after}"
        )
        time.sleep(0.2)


async def walk_pages(api: Any, params: dict[str, Any], page_size: int) -> tuple[list[str], int]:
    """Every id by ``page=N`` (the server finds deep pages by keyset), and the total it gave."""
    ids: list[str] = []
    page = 0
    while True:
        listing = body(
            await api("GET", "v1/files", params={**params, "page": page, "page_size": page_size})
        )
        ids += [f["id"] for f in listing["data"]]
        total = listing["total"]
        if not listing["has_more"]:
            return ids, total
        page += 1


async def walk_cursor(api: Any, params: dict[str, Any], limit: int) -> list[str]:
    ids: list[str] = []
    after: dict[str, Any] = {}
    while True:
        listing = body(await api("GET", "v1/files", params={**params, "limit": limit, **after}))
        ids += [f["id"] for f in listing["data"]]
        if not listing["has_more"]:
            return ids
        after = {"after": listing["last_id"]}


async def test_deep_pages_cursors_and_totals_agree_under_filters_and_search(api: Any) -> None:
    ids: list[str] = []
    purposes: dict[str, str] = {}
    names: dict[str, str] = {}
    for i in range(23):
        purpose = ("batch", "user_data", "fine-tune")[i % 3]
        name = f"{'alpha' if i % 2 else 'beta'}-{i:02d}.{'jsonl' if i % 4 else 'txt'}"
        created = body(await upload(api, f"{i}\n".encode(), filename=name, purpose=purpose))
        ids.append(created["id"])
        purposes[created["id"]] = purpose
        names[created["id"]] = name
    deleted = ids.pop(7)  # a hole in seq, and the counts kept by triggers go down
    await api("DELETE", f"v1/files/{deleted}")

    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({}, ids),
        ({"order": "asc"}, ids),
        ({"purpose": "batch"}, [i for i in ids if purposes[i] == "batch"]),
        ({"search": "alpha"}, [i for i in ids if "alpha" in names[i]]),
        (
            {"search": "alpha", "purpose": "user_data"},
            [i for i in ids if "alpha" in names[i] and purposes[i] == "user_data"],
        ),
        ({"search": "-1", "order": "asc"}, [i for i in ids if "-1" in names[i]]),
        (
            {"mimetypes": "text/plain", "purpose": "fine-tune"},
            [i for i in ids if names[i].endswith(".txt") and purposes[i] == "fine-tune"],
        ),
    ]
    for params, expected in cases:
        want = expected if params.get("order") == "asc" else list(reversed(expected))
        paged, total = await walk_pages(api, params, page_size=4)
        assert paged == want, params
        assert total == len(expected), params
        assert await walk_cursor(api, params, limit=3) == want, params
        beyond = body(await api("GET", "v1/files", params={**params, "page": 50, "page_size": 4}))
        assert beyond["data"] == [] and beyond["has_more"] is False
        assert beyond["total"] == len(expected), params


async def test_counts_survive_the_schema_upgrade(tmp_path: Path) -> None:
    """A state database from before the kept counts gets them from its existing rows."""
    from jupyter_modelfiles.events import EventBus
    from jupyter_modelfiles.files.models import ListQuery
    from jupyter_modelfiles.files.store import SCHEMA, FileStore
    from jupyter_modelfiles.state import Database

    db = Database(tmp_path / "state.sqlite3")
    db.migrate("files", SCHEMA[:1])
    db.run_sync(
        lambda c: c.executemany(
            "INSERT INTO files (id, bytes, created_at, filename, purpose, sample_type, source, "
            "mimetype, sha256) VALUES (?, 1, 0, ?, ?, 'pretrain', 'upload', 'text/plain', '')",
            [(f"file-{n}", f"old-{n}.txt", "batch" if n < 3 else "user_data") for n in range(5)],
        )
    )
    store = FileStore(tmp_path, db, EventBus())
    try:
        assert (await store.list(ListQuery())).total == 5
        assert (await store.list(ListQuery(purpose="batch"))).total == 3
        assert (await store.list(ListQuery(sources=["upload", "upload"]))).total == 5
        assert (await store.list(ListQuery(search="old-4"))).total == 1
    finally:
        db.close()
