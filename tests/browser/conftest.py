"""Browser fixtures: a real ``jupyter lab`` with the built extension, driven by Debian's chromium.

The lab server runs as a subprocess with token auth, a base_url, its state in tmp, the
modelfiles server extension enabled and the built labextension (``jupyter_modelfiles/labextension``)
made discoverable through ``JUPYTER_PATH``. If the labextension is not built yet, it is built
once with npm (``labextension/``: ``npm ci`` then ``npm run build``).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ..jupyter_process import REPO, free_port

BUILT = REPO / "jupyter_modelfiles" / "labextension"
CHROMIUM = os.environ.get("MODELFILES_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = REPO / "docs" / "screenshots"


def _ensure_built() -> None:
    if (BUILT / "package.json").exists() and (BUILT / "static" / "style.js").exists():
        return
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    source = REPO / "labextension"
    if not (source / "node_modules").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=source, env=env, check=True)
    subprocess.run(["npm", "run", "build"], cwd=source, env=env, check=True)


class LabProcess:
    """``python -m jupyterlab`` on 127.0.0.1 with everything under ``workdir``."""

    def __init__(
        self, workdir: Path, base_url: str = "/lab%40base/", extra_args: list[str] | None = None
    ):
        self.workdir = workdir
        self.extra_args = extra_args or []
        self.base_url = base_url
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.root = workdir / "modelfiles-root"
        self.log_path = workdir / "jupyter-lab.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.base_url}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.url}modelfiles/v1/", headers=self.headers, timeout=30)

    def start(self, timeout: float = 90) -> None:
        data = self.workdir / "data"
        extensions = data / "labextensions"
        extensions.mkdir(parents=True, exist_ok=True)
        link = extensions / "jupyter-modelfiles"
        if not link.exists():
            link.symlink_to(BUILT, target_is_directory=True)
        config = self.workdir / "config"
        (config / "labconfig").mkdir(parents=True, exist_ok=True)
        # No news/update toasts over the panel in screenshots.
        disabled = {"@jupyterlab/apputils-extension:announcements": True}
        (config / "labconfig" / "page_config.json").write_text(
            json.dumps({"disabledExtensions": disabled})
        )
        (self.workdir / "notebooks").mkdir(exist_ok=True)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
            "JUPYTER_PATH": str(data),
            "JUPYTER_CONFIG_DIR": str(config),
            "JUPYTER_RUNTIME_DIR": str(self.workdir / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(self.workdir / "settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(self.workdir / "workspaces"),
        }
        args = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.base_url={self.base_url}",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.workdir / 'notebooks'}",
            "--ServerApp.jpserver_extensions={'jupyter_modelfiles': True}",
            f"--ModelFilesApp.root_dir={self.root}",
            "--LabApp.news_url=None",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            *self.extra_args,
        ]
        log = open(self.log_path, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited: {self.log_path.read_text()[-3000:]}")
            try:
                response = httpx.get(f"{self.url}api/status", headers=self.headers, timeout=2)
                if response.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"jupyter lab did not start: {self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@pytest.fixture
def jp_asyncio_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """Override pytest-jupyter's autouse loop: Playwright's sync API owns the thread's loop."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture
def jp_server_cleanup() -> Iterator[None]:
    """No in-process ServerApp here (the lab runs in a subprocess): nothing to clean."""
    yield


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabProcess]:
    _ensure_built()
    process = LabProcess(tmp_path_factory.mktemp("lab"))
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser: Any, lab: LabProcess) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{lab.url}lab?token={lab.token}")
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=60_000)
    page.evaluate("() => window.jupyterapp.restored.then(() => true)")
    try:
        yield page
    finally:
        context.close()
    assert not [e for e in errors if "modelfiles" in e.lower()], errors


def screenshot_path(tmp_path: Path, name: str) -> Path:
    """``docs/screenshots/NAME`` when MODELFILES_UPDATE_SCREENSHOTS=1, else under tmp."""
    if os.environ.get("MODELFILES_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS / name
    return tmp_path / name


def open_panel(page: Any) -> Any:
    """Click the sidebar tab (unless the restored layout already shows it); return the panel."""
    panel = page.locator("#jp-modelfiles-sidebar")
    tab = page.locator('.jp-SideBar .lm-TabBar-tab[data-id="jp-modelfiles-sidebar"]')
    tab.wait_for()
    if "lm-mod-current" not in (tab.get_attribute("class") or ""):
        tab.click()
    panel.wait_for(state="visible")
    return panel
