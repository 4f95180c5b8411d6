"""notebooks/tour.ipynb executed as shipped with nbclient against the live server, offline."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from jupyter_modelfiles.catalog.manifest import parse_manifest

from .conftest import Live

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def modelfiles_config() -> dict[str, Any]:
    # No manifest, no origin: the notebook makes its own. The Hub is a closed local port, as on
    # a machine without internet.
    return {"ram_budget": 256 * 1024 * 1024, "hf_endpoint": "http://127.0.0.1:9"}


async def run_tour(live: Live, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Execute notebooks/tour.ipynb exactly as shipped (no parameter is overridden)."""
    monkeypatch.setenv("JUPYTER_MODELFILES_URL", live.api_url)
    monkeypatch.setenv("JUPYTER_MODELFILES_TOKEN", live.token)
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    for name in ("TOUR_FILE_URL", "TOUR_MODEL_ID", "TOUR_QUANT", "TOUR_SOURCE"):
        monkeypatch.delenv(name, raising=False)
    workdir.mkdir(parents=True, exist_ok=True)
    notebook = nbformat.read(REPO / "notebooks" / "tour.ipynb", as_version=4)
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    )
    await client.async_execute()
    return notebook


def summary_of(notebook: Any) -> dict[str, Any]:
    outputs = {cell["id"]: cell.get("outputs", []) for cell in notebook.cells}
    summary_text = "".join(o.get("text", "") for o in outputs["tour-29"])
    return json.loads(summary_text.strip().splitlines()[-1])


async def test_tour_notebook_runs_every_face_offline(
    live: Live, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook = await run_tour(live, tmp_path, monkeypatch)

    summary = summary_of(notebook)
    notes = tmp_path / "tour-origin" / "tour-notes.txt"
    assert summary["download"] == "completed"
    assert summary["download_bytes"] == notes.stat().st_size
    assert summary["models_found"] == ["tour/tiny-gguf"]
    assert summary["model_job"] == "completed"
    assert summary["model_loaded"] is True and summary["model_unloaded"] is True
    assert (tmp_path / "requests.jsonl").exists()
    # The manifest it writes describes the model it made, and parses as a manifest.
    manifest = json.loads((tmp_path / "tour-manifest.json").read_text())
    (entry,) = manifest["models"]
    model_bytes = (tmp_path / "tour-origin" / "tour-tiny.F32.gguf").read_bytes()
    assert entry["files"][0]["sha256"] == hashlib.sha256(model_bytes).hexdigest()
    assert parse_manifest(json.dumps(manifest), "tour")[0].id == "tour/tiny-gguf"

    outputs = {cell["id"]: cell.get("outputs", []) for cell in notebook.cells}
    errors = [o for cell in outputs.values() for o in cell if o.get("output_type") == "error"]
    assert errors == []

    # Widgets were displayed (widget views, not errors), magics printed tables.
    def kinds(cell_id: str) -> set[str]:
        return {key for o in outputs[cell_id] for key in o.get("data", {})}

    for cell_id in ("tour-13", "tour-16", "tour-18", "tour-21"):
        assert "application/vnd.jupyter.widget-view+json" in kinds(cell_id), cell_id
    files_table = "".join(o.get("text", "") for o in outputs["tour-11"])
    assert "requests.jsonl" in files_table and "batch" in files_table
    status = "".join(o.get("text", "") for o in outputs["tour-19"])
    assert "completed" in status and "tour-notes.txt" in status
    model_files = "".join(o.get("text", "") for o in outputs["tour-22"])
    assert "F32" in model_files


async def test_tour_notebook_runs_again_in_the_same_server(
    live: Live, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A second run finds its model registered (by the first run, with another origin port).
    await run_tour(live, tmp_path / "first", monkeypatch)
    summary = summary_of(await run_tour(live, tmp_path / "second", monkeypatch))
    assert summary["models_found"] == ["tour/tiny-gguf"]
    assert summary["model_loaded"] is True and summary["model_unloaded"] is True
