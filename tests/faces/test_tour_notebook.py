"""notebooks/tour.ipynb executed with nbclient against the live server and a local origin."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from ..model_files import MiB
from ..origin import Origin
from .conftest import MODEL_ID, Live, catalog_config, catalog_origin

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Origin]:
    with catalog_origin(tmp_path_factory) as running:
        yield running


@pytest.fixture
def modelfiles_config(origin: Origin, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return catalog_config(origin, tmp_path_factory)


async def test_tour_notebook_runs_every_face(
    live: Live, origin: Origin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTER_MODELFILES_URL", live.api_url)
    monkeypatch.setenv("JUPYTER_MODELFILES_TOKEN", live.token)
    monkeypatch.setenv("TOUR_FILE_URL", origin.url("notes.bin"))
    monkeypatch.setenv("TOUR_MODEL_ID", MODEL_ID)
    monkeypatch.setenv("TOUR_QUANT", "Q8_0")
    monkeypatch.setenv("TOUR_SOURCE", "manifest")
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    notebook = nbformat.read(REPO / "notebooks" / "tour.ipynb", as_version=4)
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    await client.async_execute()

    outputs = {cell["id"]: cell.get("outputs", []) for cell in notebook.cells}
    summary_text = "".join(o.get("text", "") for o in outputs["tour-25"])
    summary = json.loads(summary_text.strip().splitlines()[-1])
    assert summary["download"] == "completed"
    assert summary["download_bytes"] == 3 * MiB
    assert summary["models_found"] == [MODEL_ID]
    assert summary["model_job"] == "completed"
    assert summary["model_loaded"] is True and summary["model_unloaded"] is True
    assert (tmp_path / "requests.jsonl").exists()

    # Widgets were displayed (widget views, not errors), magics printed tables.
    def kinds(cell_id: str) -> set[str]:
        return {key for o in outputs[cell_id] for key in o.get("data", {})}

    for cell_id in ("tour-09", "tour-12", "tour-14", "tour-17"):
        assert "application/vnd.jupyter.widget-view+json" in kinds(cell_id), cell_id
    files_table = "".join(o.get("text", "") for o in outputs["tour-07"])
    assert "requests.jsonl" in files_table and "batch" in files_table
    status = "".join(o.get("text", "") for o in outputs["tour-15"])
    assert "completed" in status and "notes.bin" in status
    model_files = "".join(o.get("text", "") for o in outputs["tour-18"])
    assert "Q8_0" in model_files
    assert os.environ["TOUR_MODEL_ID"] == MODEL_ID
