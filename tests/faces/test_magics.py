"""``%load_ext jupyter_modelfiles`` in a real InteractiveShell against the live server."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from .conftest import Live


@pytest.fixture
def shell(live: Live, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    monkeypatch.setenv("JUPYTER_MODELFILES_URL", live.api_url)
    monkeypatch.setenv("JUPYTER_MODELFILES_TOKEN", live.token)
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "jupyter_modelfiles")
    # A fresh client per test (the server and its port change between tests).
    ip.magics_manager.registry["ModelFilesMagics"]._client = None
    yield ip


async def magic(ip: InteractiveShell, name: str, line: str) -> tuple[Any, str]:
    def run() -> tuple[Any, str]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            result = ip.run_line_magic(name, line)
        return result, out.getvalue()

    return await asyncio.to_thread(run)


async def test_upload_and_files_verbs(shell: InteractiveShell, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    (tmp_path / "batch input.jsonl").write_bytes(data)
    record, _ = await magic(
        shell, "modelfiles", f'upload "{tmp_path / "batch input.jsonl"}" --purpose batch'
    )
    assert record["bytes"] == len(data) and record["purpose"] == "batch"
    assert record["filename"] == "batch input.jsonl"

    _, listing = await magic(shell, "modelfiles", "files --search batch")
    assert (
        record["id"] in listing and "batch input.jsonl" in listing and "1 files in all" in listing
    )
    _, empty = await magic(shell, "modelfiles", "files --purpose fine-tune")
    assert "no files" in empty


async def test_the_magics_have_every_verb_of_the_command_line(
    shell: InteractiveShell, live: Live, tmp_path: Path
) -> None:
    """``url``, ``get`` and ``delete`` come from the one command layer, as in the terminal."""
    data = os.urandom(70_000)
    (tmp_path / "notes.txt").write_bytes(data)
    record, _ = await magic(shell, "modelfiles", f"upload {tmp_path / 'notes.txt'}")
    _, url = await magic(shell, "modelfiles", f"url {record['id']} --expiry 1")
    assert url.strip().startswith(live.url) and "signature=" in url
    _, saved = await magic(shell, "modelfiles", f"get {record['id']} {tmp_path / 'copy.txt'}")
    assert saved.strip() == str(tmp_path / "copy.txt")
    assert (tmp_path / "copy.txt").read_bytes() == data
    _, deleted = await magic(shell, "modelfiles", f"delete {record['id']}")
    assert deleted.strip() == f"deleted {record['id']}"
    with pytest.raises(UsageError, match="NOT_FOUND"):
        await magic(shell, "modelfiles", f"delete {record['id']}")


async def test_usage_errors_are_clear(shell: InteractiveShell, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown verb 'fetch'"):
        await magic(shell, "modelfiles", "fetch x")
    with pytest.raises(UsageError, match="required: job"):
        await magic(shell, "modelfiles", "pause")
    with pytest.raises(UsageError, match="not a file"):
        await magic(shell, "modelfiles", f"upload {tmp_path / 'nope.bin'}")
    with pytest.raises(UsageError, match="unknown purpose"):
        await magic(shell, "modelfiles", "files --purpose nonsense")
    with pytest.raises(UsageError, match="--quant/-q: not allowed with argument --file/-f"):
        await magic(shell, "download", "org/model --file a.gguf --quant Q4_K_M")
    with pytest.raises(UsageError, match="give a JOB id or --model"):
        await magic(shell, "modelfiles", "cancel")
    _, text = await magic(shell, "modelfiles", "")
    for verb in ("list", "files", "download", "status", "upload", "load", "unload"):
        assert f"%modelfiles {verb}" in text


async def test_no_server_is_a_usage_error(
    shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("JUPYTER_MODELFILES_URL", "JPY_PARENT_PID", "JUPYTERHUB_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(UsageError, match="no Jupyter server with jupyter-modelfiles"):
        await magic(shell, "modelfiles", "files")
