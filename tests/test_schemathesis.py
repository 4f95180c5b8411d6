"""schemathesis fuzzes the API from its OpenAPI document: no 5xx, responses conform."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx


def test_schemathesis_finds_no_server_errors(jupyter_process: Any, tmp_path: Path) -> None:
    spec = httpx.get(f"{jupyter_process.api_url}/openapi.json", headers=jupyter_process.headers)
    assert spec.status_code == 200
    document = spec.json()
    document["servers"] = [{"url": jupyter_process.url.rstrip("/") + "/modelfiles"}]
    spec_path = tmp_path / "openapi.json"
    spec_path.write_text(json.dumps(document))
    # Seed one file so that id-taking routes have something real to hit too.
    with jupyter_process.client() as client:
        client.post("files", files={"file": ("seed.jsonl", b'{"a": 1}\n')})
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            str(spec_path),
            "--url",
            jupyter_process.url.rstrip("/") + "/modelfiles",
            "-H",
            f"Authorization: token {jupyter_process.token}",
            "--checks",
            "not_a_server_error,response_schema_conformance,"
            "status_code_conformance,content_type_conformance",
            "--max-examples",
            os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25"),
            "--exclude-method",
            "DELETE",
            "--seed",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,  # schemathesis keeps a cache in the working directory
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "passed" in output.lower()
