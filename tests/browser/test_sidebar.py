"""The sidebar in a real Chromium against a real ``jupyter lab``: files, live events, theme."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from ..origin import running_origin
from .conftest import LabProcess, first_slice_reset, open_panel, screenshot_path

pytestmark = pytest.mark.browser


def _drop_files(page: Any, selector: str, files: dict[str, str]) -> None:
    """Dispatch dragenter/dragover/drop with real File objects, as a desktop drag would."""
    transfer = page.evaluate_handle(
        """(files) => {
            const dt = new DataTransfer();
            for (const [name, text] of Object.entries(files)) {
                dt.items.add(new File([text], name, { type: 'application/octet-stream' }));
            }
            return dt;
        }""",
        files,
    )
    target = page.locator(selector)
    for kind in ("dragenter", "dragover", "drop"):
        target.dispatch_event(kind, {"dataTransfer": transfer})


def _listed(lab: LabProcess) -> dict[str, dict[str, Any]]:
    with lab.api() as api:
        response = api.get("files", params={"page_size": 100})
        assert response.status_code == 200, response.text
        return {f["filename"]: f for f in response.json()["data"]}


def test_palette_commands_and_panel_sections(page: Any) -> None:
    panel = open_panel(page)
    for title in ("Models", "Downloads", "Files"):
        assert panel.locator("summary", has_text=title).count() == 1
    # live updates connected (the dot turns "open")
    panel.locator(".jp-ModelFiles-conn-open").wait_for()
    palette = page.locator("#command-palette")
    search = palette.locator("input")
    labels = ("Model files: open", "Download model...", "Upload file...")
    found: list[str] = []
    # the modal palette closes when the shell takes the focus back (e.g. right after start):
    # open it again and carry on with the labels not seen yet
    for _attempt in range(8):
        if len(found) == len(labels):
            break
        page.evaluate(
            "() => window.jupyterapp.commands.execute('apputils:activate-command-palette')"
        )
        try:
            for label in labels:
                if label in found:
                    continue
                search.fill(label, timeout=2_000)
                item = palette.locator(".lm-CommandPalette-item", has_text=label).first
                item.wait_for(timeout=2_000)
                found.append(label)
        except PlaywrightTimeout:
            continue
    assert found == list(labels)
    page.keyboard.press("Escape")

    # the open command brings the panel back after it was closed
    page.locator('.jp-SideBar .lm-TabBar-tab[data-id="jp-modelfiles-sidebar"]').click()
    panel.wait_for(state="hidden")
    page.evaluate("() => window.jupyterapp.commands.execute('modelfiles:open')")
    panel.wait_for(state="visible")
    assert (
        page.evaluate("() => window.jupyterapp.commands.label('modelfiles:download')")
        == "Download model..."
    )


def test_drag_and_drop_upload_then_delete(page: Any, lab: LabProcess, tmp_path: Path) -> None:
    panel = open_panel(page)
    panel.locator(".jp-ModelFiles-conn-open").wait_for()
    content = "".join(f'{{"row": {i}}}\n' for i in range(2000))
    _drop_files(page, "#jp-modelfiles-sidebar .jp-ModelFiles-dropzone", {"dropped.jsonl": content})

    row = panel.locator(".jp-ModelFiles-file", has_text="dropped.jsonl")
    row.wait_for(timeout=15_000)
    panel.locator('.jp-ModelFiles-upload[data-status="done"]', has_text="dropped.jsonl").wait_for()
    stored = _listed(lab)["dropped.jsonl"]
    assert stored["bytes"] == len(content.encode())
    assert stored["purpose"] == "user_data"
    assert row.get_attribute("data-file-id") == stored["id"]

    # the file's bytes come back through the content route the panel links to
    href = row.locator("a", has_text="Download").get_attribute("href")
    assert href is not None and href.endswith(f"modelfiles/v1/files/{stored['id']}/content")
    fetched = page.evaluate("(u) => fetch(u).then(r => r.text())", href)
    assert fetched == content

    # delete asks first; cancelling keeps the file
    row.get_by_role("button", name="Delete dropped.jsonl").click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for()
    dialog.get_by_role("button", name="Cancel").click()
    dialog.wait_for(state="detached")
    assert "dropped.jsonl" in _listed(lab)

    row.get_by_role("button", name="Delete dropped.jsonl").click()
    page.locator(".jp-Dialog").get_by_role("button", name="Delete").click()
    row.wait_for(state="detached", timeout=10_000)
    assert "dropped.jsonl" not in _listed(lab)


def test_files_uploaded_elsewhere_appear_live(page: Any, lab: LabProcess) -> None:
    panel = open_panel(page)
    panel.locator(".jp-ModelFiles-conn-open").wait_for()
    with lab.api() as api:
        created = api.post(
            "files", files={"file": ("from-cli.jsonl", b'{"a": 1}\n')}, data={"purpose": "batch"}
        )
        assert created.status_code == 200, created.text
    # no reload, no polling: the WebSocket event puts it on the page
    row = panel.locator(f'.jp-ModelFiles-file[data-file-id="{created.json()["id"]}"]')
    row.wait_for(timeout=10_000)
    assert "batch" in row.inner_text()
    with lab.api() as api:
        assert api.delete(f"files/{created.json()['id']}").status_code == 200
    row.wait_for(state="detached", timeout=10_000)


def test_an_upload_whose_slice_breaks_is_resumed(
    page: Any, lab: LabProcess, tmp_path: Path
) -> None:
    """A network failure of a slice's request (here: the page's first slice request reset
    before it reached the server) is retried after asking the server what it kept; the file
    arrives whole, the row ends "done"."""
    panel = open_panel(page)
    panel.locator(".jp-ModelFiles-conn-open").wait_for()
    data = os.urandom(3 * 1024 * 1024 + 11)
    source = tmp_path / "resumed.bin"
    source.write_bytes(data)
    with first_slice_reset(page) as slices:
        with page.expect_file_chooser() as chooser:
            panel.get_by_role("button", name="Upload files").click()
        chooser.value.set_files(str(source))
        panel.locator('.jp-ModelFiles-upload[data-status="done"]', has_text="resumed.bin").wait_for(
            timeout=30_000
        )
    assert len(slices) == 2 and all("offset=0" in url for url in slices)
    stored = _listed(lab)["resumed.bin"]
    assert stored["bytes"] == len(data)
    assert stored["sha256"] == hashlib.sha256(data).hexdigest()


def test_upload_button_signed_url_and_themes(page: Any, lab: LabProcess, tmp_path: Path) -> None:
    panel = open_panel(page)
    panel.locator(".jp-ModelFiles-conn-open").wait_for()
    source = tmp_path / "weights-notes.txt"
    source.write_bytes(os.urandom(300_000))
    with page.expect_file_chooser() as chooser:
        panel.get_by_role("button", name="Upload files").click()
    chooser.value.set_files(str(source))
    row = panel.locator(".jp-ModelFiles-file", has_text="weights-notes.txt")
    row.wait_for(timeout=15_000)
    assert _listed(lab)["weights-notes.txt"]["bytes"] == 300_000

    # copy signed URL: the notice confirms, and the URL works without a token
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    row.get_by_role("button", name="Copy signed URL of weights-notes.txt").click()
    panel.locator(".jp-ModelFiles-notice", has_text="Signed URL").wait_for()

    # keyboard: the files search is a form; Enter filters the listing
    search = panel.get_by_label("Search files")
    search.focus()
    page.keyboard.type("weights")
    page.keyboard.press("Enter")
    panel.locator(".jp-ModelFiles-file", has_text="weights-notes.txt").wait_for()

    light_bg = panel.evaluate("(el) => getComputedStyle(el).backgroundColor")
    panel.screenshot(path=str(screenshot_path(tmp_path, "labextension-light.png")))

    page.locator(".lm-MenuBar-itemLabel", has_text="Settings").click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Theme$")).hover()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^JupyterLab Dark$")).click()
    page.wait_for_selector('body[data-jp-theme-light="false"]', state="attached", timeout=20_000)
    page.wait_for_function(
        "(before) => getComputedStyle(document.querySelector('#jp-modelfiles-sidebar'))"
        ".backgroundColor !== before",
        arg=light_bg,
        timeout=10_000,
    )
    dark_bg = panel.evaluate("(el) => getComputedStyle(el).backgroundColor")
    assert dark_bg != light_bg
    panel.screenshot(path=str(screenshot_path(tmp_path, "labextension-dark.png")))


def test_events_socket_reconnects_after_server_restart(page: Any, lab: LabProcess) -> None:
    panel = open_panel(page)
    panel.locator(".jp-ModelFiles-conn-open").wait_for()
    lab.stop()
    panel.locator(".jp-ModelFiles-conn-open").wait_for(state="detached", timeout=15_000)
    lab.start()
    # a file added right after the restart shows up: the panel reconnected by itself
    # (backoff, no page reload) and reloaded its lists
    with lab.api() as api:
        created = api.post("files", files={"file": ("after-restart.txt", b"hello")})
        assert created.status_code == 200, created.text
    panel.locator(".jp-ModelFiles-conn-open").wait_for(timeout=45_000)
    panel.locator(f'.jp-ModelFiles-file[data-file-id="{created.json()["id"]}"]').wait_for(
        timeout=15_000
    )


def test_download_from_local_origin_pause_resume_complete(
    page: Any, lab: LabProcess, tmp_path: Path
) -> None:
    size = 6_000_000
    with running_origin() as origin:
        data = origin.add("tiny-model.gguf", size, seed=7)
        origin.rate = 1_000_000  # ~6 s: time to pause and resume from the panel
        panel = open_panel(page)
        panel.locator(".jp-ModelFiles-conn-open").wait_for()
        panel.get_by_label("Download URL").fill(origin.url("tiny-model.gguf"))
        panel.get_by_label("Expected SHA-256 (optional)").fill(hashlib.sha256(data).hexdigest())
        panel.get_by_label("Download URL").press("Enter")

        downloading = panel.locator(
            '[data-group="downloading"] .jp-ModelFiles-job', has_text="tiny-model.gguf"
        )
        downloading.wait_for(timeout=15_000)
        job_id = downloading.get_attribute("data-job-id")
        assert job_id
        # live progress arrives over the WebSocket: the bar moves, speed is shown
        page.wait_for_function(
            """(id) => {
                const bar = document.querySelector(
                    `.jp-ModelFiles-job[data-job-id="${id}"] [role=progressbar]`);
                const v = bar && Number(bar.getAttribute('aria-valuenow'));
                return v > 0 && v < 100;
            }""",
            arg=job_id,
            timeout=15_000,
        )
        assert "/s" in downloading.inner_text()

        downloading.get_by_role("button", name="Pause tiny-model.gguf").click()
        paused = panel.locator(f'[data-group="paused"] [data-job-id="{job_id}"]')
        paused.wait_for(timeout=10_000)
        with lab.api() as api:
            status = api.get(f"models/download/status/{job_id}").json()
        assert status["status"] == "paused"
        assert 0 < status["downloaded_bytes"] < size
        panel.screenshot(path=str(screenshot_path(tmp_path, "labextension-downloads.png")))

        paused.get_by_role("button", name="Resume tiny-model.gguf").click()
        completed = panel.locator(f'[data-group="completed"] [data-job-id="{job_id}"]')
        completed.wait_for(timeout=30_000)
        assert completed.locator("[role=progressbar]").get_attribute("aria-valuenow") == "100"
        with lab.api() as api:
            status = api.get(f"models/download/status/{job_id}").json()
        assert status["status"] == "completed"
        assert status["downloaded_bytes"] == status["total_size_bytes"] == size
        # resumed, not restarted: a ranged request picked up where the pause left off
        starts = [
            int(r["range"].split("=")[1].split("-")[0])
            for r in origin.data_requests()
            if (r["range"] or "").startswith("bytes=")
        ]
        assert any(start > 0 for start in starts), origin.data_requests()
