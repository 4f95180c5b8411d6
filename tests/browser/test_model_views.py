"""The main-area Model files view and the sidebar's model rows, as a user meets them (issue 14).

A real ``jupyter lab`` with a manifest catalog whose files live on a local origin: a model with
two quantizations, a real GGUF that loads, a file that is not a GGUF (its load fails), a file
whose catalog checksum is wrong, and a larger file that downloads slowly enough to watch.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..model_files import make_gguf
from ..origin import Origin, running_origin
from .conftest import LabProcess, _ensure_built, open_panel, screenshot_path

pytestmark = pytest.mark.browser

SLOW_SIZE = 8_000_000


def _entry(origin: Origin, name: str, data: bytes, *, sha: str | None = None) -> dict[str, Any]:
    return {
        "url": origin.url(name),
        "size": len(data),
        "sha256": sha or hashlib.sha256(data).hexdigest(),
    }


@pytest.fixture(scope="module")
def origin() -> Iterator[Origin]:
    with running_origin() as served:
        yield served


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, origin: Origin) -> Iterator[LabProcess]:
    _ensure_built()
    workdir = tmp_path_factory.mktemp("lab-views")
    q4 = origin.add("tiny-chat-1b.Q4_K_M.gguf", 400_000, seed=11)
    q8 = origin.add("tiny-chat-1b.Q8_0.gguf", 700_000, seed=12)
    real = make_gguf(workdir / "tiny-real.F32.gguf", size=2 * 1024 * 1024).read_bytes()
    origin.replace("tiny-real.F32.gguf", real)
    broken = origin.add("broken-3b.Q4_0.gguf", 200_000, seed=13)  # random bytes: no GGUF magic
    changed = origin.add("changed-2b.Q4_0.gguf", 150_000, seed=14)
    slow = origin.add("big-13b.Q5_K_M.gguf", SLOW_SIZE, seed=15)
    models = [
        {
            "id": "acme/tiny-chat-1b-instruct-GGUF",
            "name": "Tiny Chat 1B Instruct (a long model name that the sidebar cuts)",
            "provider": "Acme Labs",
            "parameters": 1.1,
            "context_length": 4096,
            "files": [
                _entry(origin, "tiny-chat-1b.Q4_K_M.gguf", q4),
                _entry(origin, "tiny-chat-1b.Q8_0.gguf", q8),
            ],
        },
        {
            "id": "team/tiny-real",
            "name": "Tiny Real",
            "files": [_entry(origin, "tiny-real.F32.gguf", real)],
        },
        {
            "id": "team/broken-3b",
            "name": "Broken 3B",
            "files": [_entry(origin, "broken-3b.Q4_0.gguf", broken)],
        },
        {
            "id": "team/changed-2b",
            "name": "Changed 2B",
            "files": [_entry(origin, "changed-2b.Q4_0.gguf", changed, sha="0" * 64)],
        },
        {
            "id": "team/big-13b",
            "name": "Big 13B",
            "parameters": 13.0,
            "files": [_entry(origin, "big-13b.Q5_K_M.gguf", slow)],
        },
    ]
    manifest = workdir / "catalog.json"
    manifest.write_text(json.dumps({"models": models}))
    process = LabProcess(workdir, extra_args=[f"--ModelFilesApp.manifests={manifest}"])
    process.start()
    try:
        yield process
    finally:
        process.stop()


def _open_view(page: Any) -> Any:
    view = page.locator("#jp-modelfiles-main")
    view.wait_for(state="visible", timeout=15_000)
    view.locator('.jp-ModelFiles-modelrow[data-model-id="team/tiny-real"]').wait_for(timeout=15_000)
    return view


def _no_sideways_scroll(page: Any, selector: str) -> list[str]:
    """Elements inside ``selector`` wider than it, or the panel scrolling sideways."""
    return page.evaluate(
        """(selector) => {
            const root = document.querySelector(selector);
            const box = root.getBoundingClientRect();
            const out = [];
            if (root.scrollWidth > root.clientWidth + 1) {
                out.push('panel scrolls: ' + root.scrollWidth);
            }
            for (const el of root.querySelectorAll('button, .jp-ModelFiles-badge, input, select')) {
                const r = el.getBoundingClientRect();
                if (r.width && r.right > box.right + 1) out.push(el.outerHTML.slice(0, 80));
            }
            return out;
        }""",
        selector,
    )


def _set_sidebar_width(page: Any, width: int) -> None:
    """Drag the handle between the left area and the main area until the panel is ``width``."""
    panel = page.locator("#jp-modelfiles-sidebar")
    for _ in range(4):
        box = panel.bounding_box()
        if abs(box["width"] - width) <= 2:
            return
        handle = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle").first
        hb = handle.bounding_box()
        x, y = hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + (width - box["width"]), y, steps=5)
        page.mouse.up()
        page.wait_for_timeout(200)
    assert abs(panel.bounding_box()["width"] - width) <= 2


def test_main_view_opens_from_sidebar_launcher_and_palette(page: Any, tmp_path: Path) -> None:
    panel = open_panel(page)
    panel.get_by_role("button", name="Open the Model files view").click()
    view = _open_view(page)
    # a real table: full names, provider, format and quantizations, parameters, context, RAM fit
    row = view.locator('.jp-ModelFiles-modelrow[data-model-id="acme/tiny-chat-1b-instruct-GGUF"]')
    cells = row.locator("td").all_inner_texts()
    assert cells[0].splitlines()[1:] == [
        "Tiny Chat 1B Instruct (a long model name that the sidebar cuts)",
        "acme/tiny-chat-1b-instruct-GGUF",
    ]
    assert cells[1] == "Acme Labs"
    assert cells[2].splitlines()[0] == "gguf" and "Q4_K_M" in cells[2] and "Q8_0" in cells[2]
    assert cells[3] == "1.1 B" and cells[4] == "4,096"
    assert row.locator(".jp-ModelFiles-fit").inner_text() in ("fits", "tight", "too big")
    assert "free of" in view.get_by_label("memory").inner_text()

    # sortable: by size, then the other way round
    view.get_by_role("button", name="Sort by Size").click()
    ids = view.locator(".jp-ModelFiles-modelrow").evaluate_all(
        "(rows) => rows.map(r => r.dataset.modelId)"
    )
    assert ids[-1] == "team/big-13b" and ids[0] == "team/changed-2b"
    view.get_by_role("button", name="Sort by Size").click()
    first = view.locator(".jp-ModelFiles-modelrow").first.get_attribute("data-model-id")
    assert first == "team/big-13b"
    assert view.locator("th[aria-sort=descending]").inner_text().startswith("Size")

    # filterable by words and by state
    view.get_by_label("Filter models").fill("q8_0")
    assert view.locator(".jp-ModelFiles-modelrow").evaluate_all(
        "(rows) => rows.map(r => r.dataset.modelId)"
    ) == ["acme/tiny-chat-1b-instruct-GGUF"]
    view.get_by_label("Filter models").fill("")
    view.get_by_label("Filter by state").select_option("loaded")
    view.get_by_text("No model matches the filters.").wait_for()
    view.get_by_label("Filter by state").select_option("")
    page.screenshot(path=str(screenshot_path(tmp_path, "labextension-main-view.png")))
    # the dark theme: the same view, theme colours only
    light = view.evaluate("(el) => getComputedStyle(el).color")
    page.evaluate(
        "() => { void window.jupyterapp.commands.execute("
        "'apputils:change-theme', { theme: 'JupyterLab Dark' }); }"
    )
    page.wait_for_selector('body[data-jp-theme-light="false"]', state="attached", timeout=20_000)
    page.wait_for_function(
        "(before) => getComputedStyle(document.querySelector('#jp-modelfiles-main')).color"
        " !== before",
        arg=light,
        timeout=10_000,
    )
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=20_000)
    page.screenshot(path=str(screenshot_path(tmp_path, "labextension-main-view-dark.png")))
    page.evaluate(
        "() => { void window.jupyterapp.commands.execute("
        "'apputils:change-theme', { theme: 'JupyterLab Light' }); }"
    )
    page.wait_for_selector('body[data-jp-theme-light="true"]', state="attached", timeout=20_000)

    # the launcher card and the command palette open it too
    page.evaluate("() => { window.jupyterapp.shell.currentWidget.close(); }")
    view.wait_for(state="detached", timeout=10_000)
    page.evaluate("() => { void window.jupyterapp.commands.execute('launcher:create'); }")
    page.locator(".jp-LauncherCard:visible", has_text="Model files").first.click()
    _open_view(page)
    page.evaluate("() => { window.jupyterapp.shell.currentWidget.close(); }")
    view.wait_for(state="detached", timeout=10_000)
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:activate-command-palette')")
    palette = page.locator("#command-palette")
    palette.locator("input").fill("Model files: open the main view")
    palette.locator(".lm-CommandPalette-item", has_text="Model files: open the main view").click()
    _open_view(page)


@pytest.mark.parametrize("width", [250, 450])
def test_sidebar_fits_its_width(page: Any, tmp_path: Path, width: int) -> None:
    panel = open_panel(page)
    _set_sidebar_width(page, width)
    model = panel.locator('.jp-ModelFiles-model[data-model-id="acme/tiny-chat-1b-instruct-GGUF"]')
    model.wait_for(timeout=15_000)
    name = model.locator(".jp-ModelFiles-name").first
    # the tooltip is the full name (and id), not the description
    assert name.get_attribute("title") == (
        "Tiny Chat 1B Instruct (a long model name that the sidebar cuts) "
        "(acme/tiny-chat-1b-instruct-GGUF)"
    )
    model.get_by_role("button", name="Expand Tiny Chat 1B Instruct", exact=False).click()
    files = model.locator(".jp-ModelFiles-modelfile")
    files.nth(1).wait_for(timeout=10_000)
    # one line per size: nothing wraps onto two lines
    for meta in files.locator(".jp-ModelFiles-meta").all():
        assert meta.evaluate("(el) => el.scrollHeight <= el.clientHeight + 2")
    assert _no_sideways_scroll(page, "#jp-modelfiles-sidebar") == []
    panel.screenshot(path=str(screenshot_path(tmp_path, f"labextension-sidebar-{width}.png")))
    model.get_by_role("button", name="Collapse Tiny Chat 1B Instruct", exact=False).click()


def test_progress_on_the_files_own_row_then_path_and_snippets(
    page: Any, lab: LabProcess, origin: Origin, tmp_path: Path
) -> None:
    page.evaluate("() => { void window.jupyterapp.commands.execute('modelfiles:open-view'); }")
    view = _open_view(page)
    open_panel(page)
    model = view.locator('.jp-ModelFiles-modelrow[data-model-id="team/big-13b"]')
    model.get_by_role("button", name="Expand Big 13B").click()
    file_row = view.locator('.jp-ModelFiles-modelfile[data-file-id="big-13b.Q5_K_M.gguf"]')
    file_row.wait_for(timeout=10_000)
    origin.rate = 1_000_000
    try:
        file_row.get_by_role("button", name="Download big-13b.Q5_K_M.gguf").click()
        # progress on the file's own row: bar, speed, time left, pause and cancel
        bar = file_row.locator("[role=progressbar]")
        page.wait_for_function(
            """() => {
                const bar = document.querySelector(
                    '#jp-modelfiles-main [data-file-id="big-13b.Q5_K_M.gguf"] [role=progressbar]');
                const v = bar && Number(bar.getAttribute('aria-valuenow'));
                return v > 5 && v < 90;
            }""",
            timeout=20_000,
        )
        file_row.get_by_label("time left").wait_for(timeout=10_000)
        assert "/s" in file_row.inner_text()
        page.screenshot(path=str(screenshot_path(tmp_path, "labextension-download-on-row.png")))
        file_row.get_by_role("button", name="Pause big-13b.Q5_K_M.gguf").click()
        file_row.get_by_role("button", name="Resume big-13b.Q5_K_M.gguf").wait_for(timeout=10_000)
        # the sidebar's row of the same file says the same
        sidebar_model = page.locator(
            '#jp-modelfiles-sidebar .jp-ModelFiles-model[data-model-id="team/big-13b"]'
        )
        sidebar_model.wait_for(timeout=15_000)
        assert bar.get_attribute("aria-valuenow") is not None
        origin.rate = None
        file_row.get_by_role("button", name="Resume big-13b.Q5_K_M.gguf").click()
    finally:
        origin.rate = None
    # downloaded: where it is (with a copy button) and snippets to use it
    path = file_row.locator(".jp-ModelFiles-path")
    path.wait_for(timeout=30_000)
    with lab.api() as api:
        files = api.get("models/team%2Fbig-13b/files").json()["data"]
    local = files[0]["downloadStatus"]["localPath"]
    assert path.get_attribute("title") == local and Path(local).stat().st_size == SLOW_SIZE
    assert path.inner_text().endswith("/big-13b.Q5_K_M.gguf")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    file_row.get_by_role("button", name="Copy the path of big-13b.Q5_K_M.gguf").click()
    assert page.evaluate("() => navigator.clipboard.readText()") == local
    file_row.get_by_text("Use it").click()
    snippets = file_row.locator(".jp-ModelFiles-snippet pre").all_inner_texts()
    assert snippets[0] == (
        'import jupyter_modelfiles as mf\nmodel = mf.open("team/big-13b", "big-13b.Q5_K_M.gguf")'
    )
    assert snippets[-1] == f"llama-cli -m '{local}' -p \"Hello\""
    file_row.get_by_role("button", name="Copy llama.cpp snippet").click()
    assert page.evaluate("() => navigator.clipboard.readText()").startswith("llama-cli -m")


def test_notices_go_away_and_already_downloaded_says_so(page: Any) -> None:
    panel = open_panel(page)
    search = panel.get_by_label("Search models")
    search.fill("tiny-chat")
    search.press("Enter")
    model = panel.locator('.jp-ModelFiles-model[data-model-id="acme/tiny-chat-1b-instruct-GGUF"]')
    model.wait_for(timeout=15_000)
    model.get_by_role("button", name="Download Tiny Chat 1B", exact=False).click()
    notice = panel.locator(".jp-ModelFiles-notice")
    notice.filter(has_text="Downloading acme/tiny-chat-1b-instruct-GGUF").wait_for()
    model.locator(".jp-ModelFiles-badge", has_text="downloaded").wait_for(timeout=30_000)
    notice.wait_for(state="detached", timeout=15_000)  # transient: it went away by itself
    model.get_by_role("button", name="Download Tiny Chat 1B", exact=False).click()
    notice.filter(has_text="is already downloaded").wait_for(timeout=10_000)
    assert "Downloading" not in notice.inner_text()
    notice.get_by_role("button", name="Dismiss notice").click()
    notice.wait_for(state="detached")


def test_loading_spinner_memory_on_the_row_and_plain_load_errors(
    page: Any, lab: LabProcess
) -> None:
    panel = open_panel(page)
    search = panel.get_by_label("Search models")
    search.fill("team")
    search.press("Enter")
    real = panel.locator('.jp-ModelFiles-model[data-model-id="team/tiny-real"]')
    broken = panel.locator('.jp-ModelFiles-model[data-model-id="team/broken-3b"]')
    real.wait_for(timeout=15_000)
    for model, title in ((real, "Tiny Real"), (broken, "Broken 3B")):
        model.get_by_role("button", name=f"Download {title}", exact=True).click()
        model.locator(".jp-ModelFiles-badge", has_text="downloaded").wait_for(timeout=30_000)

    # a spinner while it loads (a worker process starts: seen by an observer of the page)
    page.evaluate(
        """() => {
            window.__spinner = false;
            const seen = () => {
                const row = document.querySelector(
                    '#jp-modelfiles-sidebar [data-model-id="team/tiny-real"]');
                const spinner = '.jp-ModelFiles-spinner[aria-label="Loading Tiny Real"]';
                if (row && row.querySelector(spinner)) {
                    window.__spinner = true;
                }
            };
            new MutationObserver(seen).observe(document.body, { subtree: true, childList: true });
        }"""
    )
    real.get_by_role("button", name="Load Tiny Real", exact=True).click()
    real.get_by_role("button", name="Unload Tiny Real", exact=True).wait_for(timeout=30_000)
    assert page.evaluate("() => window.__spinner") is True
    assert real.get_by_role("status", name="Loading Tiny Real").count() == 0
    with lab.api() as api:
        rss = api.get("models/team%2Ftiny-real").json()["loaded_rss_bytes"]
    badge = real.locator(".jp-ModelFiles-badge", has_text=re.compile(r"^loaded"))
    assert rss > 0 and " · " in badge.inner_text() and badge.inner_text().endswith("iB")

    # a failed load: on the model's own row, in plain words, with a next step
    broken.get_by_role("button", name="Load Broken 3B", exact=True).click()
    error = broken.locator(".jp-ModelFiles-error")
    error.wait_for(timeout=30_000)
    assert error.inner_text() == (
        "not a valid GGUF file: the download may be damaged; delete it and download again"
    )
    assert panel.locator('[data-section="models"] > .jp-ModelFiles-error').count() == 0
    real.get_by_role("button", name="Unload Tiny Real", exact=True).click()
    real.get_by_role("button", name="Load Tiny Real", exact=True).wait_for(timeout=30_000)


def test_downloads_clear_finished_one_row_per_file_and_checksum_words(
    page: Any, lab: LabProcess, origin: Origin
) -> None:
    panel = open_panel(page)
    downloads = panel.locator('[data-section="downloads"]')
    # a download that fails at once (404) shows failed and stays failed (issue 14, item 1)
    panel.get_by_label("Download URL").fill(origin.url("no-such-file.gguf"))
    panel.get_by_label("Download URL").press("Enter")
    failed = downloads.locator(
        '[data-group="failed"] .jp-ModelFiles-job', has_text="no-such-file.gguf"
    )
    failed.wait_for(timeout=15_000)
    page.wait_for_timeout(1500)
    assert failed.count() == 1
    assert (
        downloads.locator(
            '[data-group="downloading"] .jp-ModelFiles-job', has_text="no-such-file.gguf"
        ).count()
        == 0
    )
    assert "HTTP 404" in failed.inner_text()

    # the same file twice: one row, the earlier run on demand
    name = "twice.bin"
    origin.add(name, 50_000, seed=31)
    for _ in range(2):
        panel.get_by_label("Download URL").fill(origin.url(name))
        panel.get_by_label("Download URL").press("Enter")
        downloads.locator('[data-group="completed"] .jp-ModelFiles-job', has_text=name).wait_for(
            timeout=15_000
        )
        page.wait_for_function(
            """(name) => [...document.querySelectorAll('#jp-modelfiles-sidebar .jp-ModelFiles-job')]
                .filter(el => el.textContent.includes(name))
                .every(el => el.dataset.status === 'completed')""",
            arg=name,
        )
    with lab.api() as api:
        runs = [j for j in api.get("downloads").json()["data"] if j["file"] == name]
    assert len(runs) == 2
    row = downloads.locator(".jp-ModelFiles-job", has_text=name)
    assert row.count() == 1
    row.get_by_role("button", name="Show 1 earlier run").click()
    row.locator(".jp-ModelFiles-earlier li").wait_for()

    # a checksum mismatch says why a retry cannot help, and offers what can
    search = panel.get_by_label("Search models")
    search.fill("changed")
    search.press("Enter")
    model = panel.locator('.jp-ModelFiles-model[data-model-id="team/changed-2b"]')
    model.get_by_role("button", name="Download Changed 2B", exact=True).click()
    mismatch = downloads.locator('[data-group="failed"] .jp-ModelFiles-job', has_text="changed-2b")
    mismatch.wait_for(timeout=30_000)
    assert "differs from the expected SHA-256" in mismatch.inner_text()
    assert mismatch.get_by_role("button", name="Retry changed-2b.Q4_0.gguf").count() == 0
    mismatch.get_by_role("button", name="Re-read the catalog for changed-2b.Q4_0.gguf").wait_for()

    # a cancelled job stays (with its state) until cleared
    origin.add("to-cancel.bin", 4_000_000, seed=32)
    origin.rate = 300_000
    try:
        panel.get_by_label("Download URL").fill(origin.url("to-cancel.bin"))
        panel.get_by_label("Download URL").press("Enter")
        live = downloads.locator(
            '[data-group="downloading"] .jp-ModelFiles-job', has_text="to-cancel.bin"
        )
        live.wait_for(timeout=15_000)
        live.get_by_role("button", name="Cancel to-cancel.bin").click()
        downloads.locator(
            '[data-group="cancelled"] .jp-ModelFiles-job', has_text="to-cancel.bin"
        ).wait_for(timeout=15_000)
    finally:
        origin.rate = None

    downloads.get_by_role("button", name="Clear finished downloads").click()
    page.wait_for_function(
        "() => !document.querySelector('#jp-modelfiles-sidebar .jp-ModelFiles-job')", timeout=10_000
    )
    downloads.get_by_text("No downloads.").wait_for()
    with lab.api() as api:
        groups = api.get("models/download/status").json()
    assert all(groups[g] == [] for g in ("completed", "failed", "cancelled"))
    # and it stays cleared after a reload
    page.reload()
    panel = open_panel(page)
    panel.locator('[data-section="downloads"]').get_by_text("No downloads.").wait_for(
        timeout=15_000
    )


def test_small_things(page: Any, lab: LabProcess, tmp_path: Path) -> None:
    panel = open_panel(page)
    panel.locator(".jp-ModelFiles-conn-open").wait_for()
    # no emoji check marks: JupyterLab's icon (an SVG) marks downloaded things
    assert "✓" not in panel.inner_text() and "✅" not in panel.inner_text()

    # clearing the Files search box lists everything again
    with lab.api() as api:
        for name in ("alpha.txt", "beta.txt"):
            assert api.post("files", files={"file": (name, b"x")}).status_code == 200
    search = panel.get_by_label("Search files")
    search.fill("alpha")
    search.press("Enter")
    panel.locator(".jp-ModelFiles-file", has_text="beta.txt").wait_for(state="detached")
    search.fill("")
    panel.locator(".jp-ModelFiles-file", has_text="beta.txt").wait_for(timeout=10_000)

    # an upload cancelled by the user reads "cancelled", not an error, on one line
    source = tmp_path / "a-rather-long-upload-name-for-a-narrow-panel.bin"
    source.write_bytes(os.urandom(64 * 1024 * 1024))
    # Chromium's own network throttling keeps the upload going long enough to cancel it (the
    # faster store would otherwise finish 64 MiB before the click); the server stays real.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 2**20},
    )
    with page.expect_file_chooser() as chooser:
        panel.get_by_role("button", name="Upload files").click()
    chooser.value.set_files(str(source))
    upload = panel.locator(".jp-ModelFiles-upload", has_text=source.name)
    upload.wait_for()
    line = upload.locator(".jp-ModelFiles-row")
    height = line.evaluate("(el) => el.getBoundingClientRect().height")
    assert height < 30  # one line: name (cut with an ellipsis), bytes, cancel
    upload.get_by_role("button", name=f"Cancel upload of {source.name}").click()
    panel.locator('.jp-ModelFiles-upload[data-status="cancelled"]').wait_for(timeout=10_000)
    assert upload.locator(".jp-ModelFiles-error").count() == 0
    assert "cancelled" in upload.inner_text()
    # the server cancelled the sliced upload: its partial file is gone, no file appeared
    tmp_dir = lab.root / "files" / ".tmp"
    deadline = time.monotonic() + 10
    while list(tmp_dir.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(tmp_dir.iterdir()) == []
    with lab.api() as api:
        names = [f["filename"] for f in api.get("files").json()["data"]]
    assert source.name not in names
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    cdp.detach()

    # the server goes away: the panel says so in words, with the time to the next try
    lab.stop()
    try:
        status = panel.locator(".jp-ModelFiles-connwords")
        status.wait_for(timeout=15_000)
        page.wait_for_function(
            """() => /disconnected, retrying in \\d+ s/.test(
                document.querySelector('#jp-modelfiles-sidebar .jp-ModelFiles-connwords')
                  ?.textContent ?? '')""",
            timeout=30_000,
        )
    finally:
        lab.start()
    panel.locator(".jp-ModelFiles-conn-open").wait_for(timeout=60_000)
