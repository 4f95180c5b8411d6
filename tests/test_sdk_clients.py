"""The official OpenAI and Mistral Python SDKs work against the files API unchanged."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
from mistralai.client import Mistral
from openai import OpenAI


def test_openai_sdk_round_trip(jupyter_process: Any) -> None:
    client = OpenAI(base_url=jupyter_process.api_url, api_key=jupyter_process.token)
    lines = "\n".join(json.dumps({"custom_id": str(i), "method": "POST"}) for i in range(5))
    created = client.files.create(file=("requests.jsonl", lines.encode()), purpose="batch")
    assert created.object == "file"
    assert created.filename == "requests.jsonl"
    assert created.bytes == len(lines.encode())
    assert created.purpose == "batch"

    for i in range(4):
        client.files.create(file=(f"extra-{i}.txt", b"x" * i), purpose="user_data")
    seen = [f.id for f in client.files.list(limit=2)]  # auto-paging follows `after`
    assert len(seen) == len(set(seen)) >= 5
    assert created.id in seen
    batch_only = [f.id for f in client.files.list(purpose="batch")]
    assert created.id in batch_only

    retrieved = client.files.retrieve(created.id)
    assert retrieved.id == created.id and retrieved.bytes == created.bytes
    content = client.files.content(created.id).read()
    assert content == lines.encode()

    deleted = client.files.delete(created.id)
    assert deleted.deleted is True and deleted.id == created.id
    assert created.id not in [f.id for f in client.files.list()]


def test_mistral_sdk_round_trip_with_signed_url(jupyter_process: Any) -> None:
    client = Mistral(api_key=jupyter_process.token, server_url=jupyter_process.url + "modelfiles")
    data = b'{"custom_id": "0", "body": {}}\n{"custom_id": "1", "body": {}}\n'
    uploaded = client.files.upload(
        file={"file_name": "batch_input.jsonl", "content": data}, purpose="batch"
    )
    assert uploaded.filename == "batch_input.jsonl"
    assert uploaded.size_bytes == len(data)
    assert uploaded.purpose == "batch"
    assert uploaded.num_lines == 2
    assert uploaded.source == "upload"

    listed = client.files.list(page=0, page_size=50, search="batch_input", purpose="batch")
    assert [f.id for f in listed.data] == [uploaded.id]
    assert listed.total == 1

    retrieved = client.files.retrieve(file_id=uploaded.id)
    assert retrieved.id == uploaded.id

    downloaded = client.files.download(file_id=uploaded.id)
    assert downloaded.read() == data

    signed = client.files.get_signed_url(file_id=uploaded.id, expiry=1)
    public = httpx.get(signed.url)  # no token at all
    assert public.status_code == 200
    assert hashlib.sha256(public.content).hexdigest() == hashlib.sha256(data).hexdigest()

    deleted = client.files.delete(file_id=uploaded.id)
    assert deleted.deleted is True
    assert httpx.get(signed.url).status_code == 404
