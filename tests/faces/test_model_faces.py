"""The catalog and runtime through the faces: ModelBrowser clicks, magics and CLI verbs."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from jupyter_modelfiles.client import ModelFilesClient
from jupyter_modelfiles.widgets import ModelBrowser

from ..origin import Origin
from .conftest import MODEL_FILE, MODEL_ID, Live, catalog_config, catalog_origin
from .test_cli import cli


@pytest.fixture
def origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Origin]:
    with catalog_origin(tmp_path_factory) as running:
        yield running


@pytest.fixture
def modelfiles_config(origin: Origin, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return catalog_config(origin, tmp_path_factory)


async def test_model_browser_searches_shows_files_and_downloads_with_one_click(
    live: Live,
) -> None:
    client = ModelFilesClient(live.url, live.token)
    browser = await asyncio.to_thread(ModelBrowser, client, source="manifest")
    assert [m["id"] for m in browser.models] == [MODEL_ID]
    await asyncio.to_thread(browser.search, "no-such-model-anywhere")
    assert browser.models == [] and "no models" in browser.message.value
    await asyncio.to_thread(browser.search, "tiny")
    assert browser.rows[0].model_id == MODEL_ID

    await asyncio.to_thread(browser.rows[0].files_button.click)  # pick it
    assert "Tiny tour model" in browser.details.value
    (row,) = browser.files_box.children
    assert "Q8_0" in row.label.value and "GGUF" in row.label.value.upper()
    assert "MiB" in row.label.value and "RAM" in row.label.value
    assert row.download_button.description == "Download"

    await asyncio.to_thread(row.download_button.click)
    (bar,) = browser.progress
    assert bar in browser.downloads.children
    final = await asyncio.to_thread(bar.job.wait, 30)
    assert final["status"] == "completed"
    deadline = time.monotonic() + 10
    while bar.bar.bar_style != "success" and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert bar.bar.bar_style == "success"

    await asyncio.to_thread(browser.select, MODEL_ID)  # now shown as downloaded
    (row,) = browser.files_box.children
    assert row.download_button.disabled and row.download_button.description == "Downloaded"


@pytest.fixture
def shell(live: Live, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    monkeypatch.setenv("JUPYTER_MODELFILES_URL", live.api_url)
    monkeypatch.setenv("JUPYTER_MODELFILES_TOKEN", live.token)
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "jupyter_modelfiles")
    ip.magics_manager.registry["ModelFilesMagics"]._client = None
    yield ip


async def run_magic(ip: InteractiveShell, name: str, line: str) -> tuple[Any, str]:
    def run() -> tuple[Any, str]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            result = ip.run_line_magic(name, line)
        return result, out.getvalue()

    return await asyncio.to_thread(run)


async def test_model_magics_list_files_download_load_unload(shell: InteractiveShell) -> None:
    _, listing = await run_magic(shell, "modelfiles", "list tiny --source manifest")
    assert MODEL_ID in listing and "Tiny tour model" in listing
    _, files = await run_magic(shell, "modelfiles", f"files {MODEL_ID}")
    assert "Q8_0" in files and MODEL_FILE in files
    with pytest.raises(UsageError, match="no Q2_K file"):
        await run_magic(shell, "download", f"{MODEL_ID} --quant Q2_K")
    job, _ = await run_magic(shell, "download", f"{MODEL_ID} --quant Q8_0 --wait")
    assert job.state == "completed"
    _, loaded = await run_magic(shell, "modelfiles", f"load {MODEL_ID}")
    assert '"loaded": true' in loaded
    _, unloaded = await run_magic(shell, "modelfiles", f"unload {MODEL_ID}")
    assert '"loaded": false' in unloaded
    with pytest.raises(UsageError, match="NOT_FOUND"):
        await run_magic(shell, "modelfiles", "load no-such-model")


async def test_cli_model_verbs(live: Live) -> None:
    auth = ("--url", live.url, "--token", live.token)
    code, out, _ = await cli(*auth, "list", "--source", "manifest")
    assert code == 0 and MODEL_ID in out
    code, out, _ = await cli(*auth, "--json", "files", MODEL_ID)
    assert code == 0 and json.loads(out)[0]["quantization"] == "Q8_0"
    code, out, err = await cli(*auth, "download", MODEL_ID, "--quant", "Q8_0")
    assert code == 0, err
    assert "completed" in out and "100%" in err
    code, out, err = await cli(*auth, "load", MODEL_ID)
    assert code == 0 and f"loaded {MODEL_ID}" in out, err
    code, out, _ = await cli(*auth, "--json", "list", "--source", "manifest")
    assert json.loads(out)[0]["loaded"] is True
    code, out, _ = await cli(*auth, "unload", MODEL_ID)
    assert code == 0 and f"unloaded {MODEL_ID}" in out
    code, _, err = await cli(*auth, "load", "no-such-model")
    assert code == 1 and "NOT_FOUND" in err


def _text(markup: str) -> str:
    """What a cell reads as (its HTML without tags)."""
    return " ".join(re.sub(r"<[^>]+>", " ", markup).split())


async def test_model_browser_is_a_table_with_the_main_views_columns_and_states(
    live: Live,
) -> None:
    from jupyter_modelfiles.widgets._models import COLUMNS

    client = ModelFilesClient(live.url, live.token)
    browser = await asyncio.to_thread(ModelBrowser, client, source="manifest")
    headers = [button.description for button in browser.headers.values()]
    assert headers == ["Model ▲", "Provider", "Format", "Params", "Context", "Size", "RAM", "State"]
    # a grid of ipywidgets: the headers, then one cell per column per model
    assert len(browser.table.children) == len(COLUMNS) * (1 + len(browser.rows))
    row = browser.rows[0]
    texts = [_text(cell.value) for cell in row.cells[:-1]]
    assert "Tiny tour model" in texts[0] and MODEL_ID in texts[0]
    assert texts[1] == "tour" and texts[2].startswith("gguf") and "Q8_0" in texts[2]
    assert texts[5].endswith("MiB")
    memory = await asyncio.to_thread(client.system_memory)
    assert "free of" in browser.memory_label.value and memory["ram_budget_bytes"] > 0
    assert any(fit in texts[6] for fit in ("fits", "tight", "too big"))
    assert _text(row.state.value) == "not downloaded"

    # states and the state filter follow the server
    await asyncio.to_thread(browser.state_filter.__setattr__, "value", "downloaded")
    assert browser.rows == []
    jobs = await asyncio.to_thread(browser.download, MODEL_ID)
    await asyncio.to_thread(jobs[0].wait, 30)
    await asyncio.to_thread(browser.search)
    assert [r.model_id for r in browser.rows] == [MODEL_ID]
    assert _text(browser.rows[0].state.value) == "downloaded"
    await asyncio.to_thread(browser.state_filter.__setattr__, "value", "")

    # sorting: the same header twice reverses the order
    await asyncio.to_thread(browser.headers["size"].click)
    assert browser.headers["size"].description == "Size ▲" and browser.ascending
    await asyncio.to_thread(browser.headers["size"].click)
    assert browser.headers["size"].description == "Size ▼" and not browser.ascending
    assert browser.headers["name"].description == "Model"

    # asked again: nothing new to fetch, and it says so
    assert await asyncio.to_thread(browser.download, MODEL_ID) == []
    assert "already downloaded" in browser.message.value
    await asyncio.to_thread(browser.select, MODEL_ID)
    (file_row,) = browser.files_box.children
    assert file_row.path is not None and file_row.path.is_file()
    assert "✅" not in file_row.label.value and str(file_row.path) in file_row.label.value
