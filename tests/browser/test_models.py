"""The Models section against the real catalog (a manifest whose file lives on a local origin)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..model_files import make_gguf
from ..origin import Origin, running_origin
from .conftest import LabProcess, _ensure_built, open_panel, screenshot_path

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def origin() -> Iterator[Origin]:
    with running_origin() as served:
        yield served


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, origin: Origin) -> Iterator[LabProcess]:
    _ensure_built()
    data = origin.add("tiny-7b.Q4_K_M.gguf", 300_000, seed=3)
    workdir = tmp_path_factory.mktemp("lab-models")
    real = make_gguf(workdir / "tiny-real.F32.gguf", size=2 * 1024 * 1024).read_bytes()
    origin.replace("tiny-real.F32.gguf", real)
    manifest = workdir / "catalog.json"
    model = {
        "id": "team/tiny-7b",
        "name": "Tiny 7B",
        "parameters": 7.0,
        "files": [
            {
                "url": origin.url("tiny-7b.Q4_K_M.gguf"),
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        ],
    }
    loadable = {
        "id": "team/tiny-real",
        "name": "Tiny Real",
        "files": [
            {
                "url": origin.url("tiny-real.F32.gguf"),
                "size": len(real),
                "sha256": hashlib.sha256(real).hexdigest(),
            }
        ],
    }
    manifest.write_text(json.dumps({"models": [model, loadable]}))
    process = LabProcess(workdir, extra_args=[f"--ModelFilesApp.manifests={manifest}"])
    process.start()
    try:
        yield process
    finally:
        process.stop()


def test_search_expand_download_model(page: Any, lab: LabProcess, tmp_path: Path) -> None:
    panel = open_panel(page)
    search = panel.get_by_label("Search models")
    search.fill("tiny")
    search.press("Enter")
    model = panel.locator('.jp-ModelFiles-model[data-model-id="team/tiny-7b"]')
    model.wait_for(timeout=15_000)
    assert "Q4_K_M" in model.inner_text()

    model.get_by_role("button", name="Expand Tiny 7B").click()
    row = model.locator(".jp-ModelFiles-modelfile").first
    row.wait_for(timeout=10_000)
    assert row.locator(".jp-ModelFiles-name").inner_text() == "tiny-7b.Q4_K_M.gguf"
    # The sidebar's format.ts writes sizes as formatting.human_bytes does (one decimal, IEC).
    quant, size, ram = row.locator(".jp-ModelFiles-meta").inner_text().split(" · ")
    assert (quant, size) == ("Q4_K_M", "293.0 KiB")
    assert ram.startswith("RAM ") and ram.endswith("MiB")  # the RAM estimate
    model.get_by_role("button", name="Download Tiny 7B", exact=True).click()
    panel.locator(
        '[data-group="completed"] .jp-ModelFiles-job', has_text="tiny-7b.Q4_K_M.gguf"
    ).wait_for(timeout=30_000)
    model.locator(".jp-ModelFiles-badge", has_text="downloaded").wait_for(timeout=10_000)
    model.locator('[aria-label="downloaded"]').wait_for(timeout=10_000)
    with lab.api() as api:
        snapshot = api.get("models/team%2Ftiny-7b").json()
    assert snapshot["downloaded"] is True
    assert model.get_by_role("button", name="Load Tiny 7B", exact=True).is_enabled()


def test_load_and_unload_buttons(page: Any, lab: LabProcess, tmp_path: Path) -> None:
    panel = open_panel(page)
    search = panel.get_by_label("Search models")
    search.fill("tiny-real")
    search.press("Enter")
    model = panel.locator('.jp-ModelFiles-model[data-model-id="team/tiny-real"]')
    model.wait_for(timeout=15_000)
    model.get_by_role("button", name="Download Tiny Real", exact=True).click()
    model.locator(".jp-ModelFiles-badge", has_text="downloaded").wait_for(timeout=30_000)

    model.get_by_role("button", name="Load Tiny Real", exact=True).click()
    model.get_by_role("button", name="Unload Tiny Real", exact=True).wait_for(timeout=30_000)
    with lab.api() as api:
        snapshot = api.get("models/team%2Ftiny-real").json()
    assert snapshot["loaded"] is True and snapshot["loaded_rss_bytes"] > 2 * 1024 * 1024
    model.get_by_role("button", name="Expand Tiny Real").click()
    model.locator(".jp-ModelFiles-modelfile").first.wait_for(timeout=10_000)
    panel.screenshot(path=str(screenshot_path(tmp_path, "labextension-models.png")))

    model.get_by_role("button", name="Unload Tiny Real", exact=True).click()
    model.get_by_role("button", name="Load Tiny Real", exact=True).wait_for(timeout=30_000)
    with lab.api() as api:
        assert api.get("models/team%2Ftiny-real").json()["loaded"] is False
