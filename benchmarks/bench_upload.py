"""Upload files from every face, side by side in one run, against ``curl -F``.

A real ``jupyter lab`` (token auth, a base_url, the built labextension) stores the uploads on
disk under a temp dir; for each size (default 64 MiB and 1 GiB) the contestants are:

- ``curl -F`` to ``POST modelfiles/v1/files`` (the yardstick: every ratio is to it);
- the python client, ``ModelFilesClient.upload_file`` (a streamed multipart body);
- Debian's Chromium driven by Playwright: the sidebar's upload (its file input), the
  ``mf.upload()`` widget in a notebook (both a sliced upload: ``POST v1/uploads``, the File as
  raw ``PUT .../slices`` bodies, ``POST .../complete``), the same page sending what the sidebar
  sent before (one XHR of a ``FormData`` to ``POST v1/files``), and JupyterLab's own "Upload Files"
  button of the file browser (the contents API: 1 MiB base64 chunks, one ``PUT`` each).

Each upload is timed from the moment it starts until the server's answer is seen (the sidebar's
row and the widget turn "done"; for JupyterLab's upload, the file has its full size on disk);
the modelfiles uploads are checked against the file's SHA-256. Before each upload the page cache
is flushed (``sync``) so that one contestant's writeback does not slow the next. Prints MiB/s,
the ratio to curl, the CPU seconds of the server (with its kernel) and of the client side (curl,
this process, Chromium and its driver), and the load average (the machine may be shared).

Usage: python benchmarks/bench_upload.py [--sizes-mib 64,1024] [--no-contents]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import psutil
from _common import PeakRss, cpu_seconds, mib

from jupyter_modelfiles.client import ModelFilesClient
from tests.browser.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LabProcess,
    _ensure_built,
    run_notebook,
)

Upload = Callable[[Path], None]


def make_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    block = os.urandom(1 << 20)
    with open(path, "wb") as handle:
        for i in range(size // len(block)):
            chunk = block[:8] + i.to_bytes(8, "little") + block[16:]
            handle.write(chunk)
            digest.update(chunk)
    return digest.hexdigest()


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


class CpuMeter:
    """CPU seconds of the server (the lab and its kernel) and of the client side: this process,
    its reaped children (curl) and its other descendants (the Playwright driver, Chromium)."""

    def __init__(self, server_pid: int):
        self.server = psutil.Process(server_pid)
        self.me = psutil.Process()

    def sample(self) -> tuple[float, float]:
        servers = [self.server, *self.server.children(recursive=True)]
        pids = {process.pid for process in servers}
        clients = [self.me, *(p for p in self.me.children(recursive=True) if p.pid not in pids)]
        reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
        return cpu_seconds(servers), cpu_seconds(clients) + reaped.ru_utime + reaped.ru_stime


class Bench:
    """The lab, the browser page and the contestants."""

    def __init__(self, lab: LabProcess, page: Any, work: Path):
        self.lab = lab
        self.page = page
        self.work = work
        self.client = ModelFilesClient(lab.url, lab.token, timeout=900)

    # -- the modelfiles store --------------------------------------------------------------
    def stored(self, name: str) -> dict[str, Any]:
        for record in self.client.iter_files():
            if record["filename"] == name:
                return record
        raise AssertionError(f"{name} was not stored")

    def forget(self, name: str) -> None:
        self.client.delete_file(self.stored(name)["id"])

    # -- contestants ---------------------------------------------------------------------
    def curl(self, source: Path) -> None:
        subprocess.run(
            [
                "curl",
                "-sS",
                "--fail",
                "-o",
                "/dev/null",
                "-H",
                f"Authorization: token {self.lab.token}",
                "-F",
                f"file=@{source}",
                "-F",
                "purpose=user_data",
                f"{self.lab.api_url}/files",
            ],
            check=True,
        )

    def python_client(self, source: Path) -> None:
        self.client.upload_file(source)

    def sidebar(self, source: Path) -> None:
        panel = self.page.locator("#jp-modelfiles-sidebar")
        panel.locator(".jp-ModelFiles-fileinput").set_input_files(str(source))
        self.page.wait_for_function(
            "(name) => [...document.querySelectorAll('.jp-ModelFiles-upload')].some(el =>"
            " el.dataset.status !== 'uploading' && el.textContent.includes(name))",
            arg=source.name,
            timeout=900_000,
            polling=20,
        )
        row = panel.locator(".jp-ModelFiles-upload", has_text=source.name)
        assert row.get_attribute("data-status") == "done", row.inner_text()

    def page_multipart(self, source: Path) -> None:
        """What the sidebar sent before v1/uploads: one XHR of a FormData (purpose, File) to
        ``POST v1/files`` with the token and the XSRF cookie, from the same page."""
        self.page.evaluate(
            "() => { if (!document.getElementById('bench-file')) {"
            " const input = document.createElement('input'); input.type = 'file';"
            " input.id = 'bench-file'; input.style.display = 'none';"
            " document.body.appendChild(input); } }"
        )
        self.page.locator("#bench-file").set_input_files(str(source))
        status = self.page.evaluate(
            """([url, token]) => new Promise(resolve => {
                const file = document.getElementById('bench-file').files[0];
                const xsrf = (document.cookie.match(/(?:^|; )_xsrf=([^;]*)/) || [])[1];
                const xhr = new XMLHttpRequest();
                xhr.open('POST', url);
                xhr.setRequestHeader('Authorization', 'token ' + token);
                if (xsrf) { xhr.setRequestHeader('X-XSRFToken', decodeURIComponent(xsrf)); }
                xhr.onload = () => resolve(xhr.status);
                xhr.onerror = () => resolve(-1);
                const form = new FormData();
                form.append('purpose', 'user_data');
                form.append('file', file, file.name);
                xhr.send(form);
            })""",
            [f"{self.lab.api_url}/files", self.lab.token],
        )
        assert status == 200, status

    def widget(self, source: Path) -> None:
        control = self.page.locator(".modelfiles-upload").first
        control.locator(".modelfiles-upload-input").set_input_files(str(source))
        control.locator(".modelfiles-upload-start").click()
        self.page.wait_for_function(
            "(name) => { const el = document.querySelector('.modelfiles-upload');"
            " const label = el.querySelector('.modelfiles-upload-label').textContent;"
            " return el.dataset.status === 'error' ||"
            " (el.dataset.status === 'done' && label.includes(name)); }",
            arg=source.name,
            timeout=900_000,
            polling=20,
        )
        status = control.get_attribute("data-status")
        assert status == "done", control.locator(".modelfiles-upload-label").inner_text()

    def contents(self, source: Path) -> None:
        target = self.lab.workdir / "notebooks" / source.name
        size = source.stat().st_size
        toolbar = self.page.locator(".jp-FileBrowser-toolbar")
        with self.page.expect_file_chooser() as chooser:
            toolbar.locator('[data-jp-item-name="uploader"] jp-button').click()
        chooser.value.set_files(str(source))
        if size > 15 << 20:  # JupyterLab asks before uploading a large file
            self.page.locator(".jp-Dialog").get_by_role("button", name="Upload").click()
        while not (target.exists() and target.stat().st_size >= size):
            time.sleep(0.02)

    # -- the run ---------------------------------------------------------------------------
    def open_lab(self) -> None:
        notebook = nbformat.v4.new_notebook(
            cells=[nbformat.v4.new_code_cell("import jupyter_modelfiles as mf\nmf.upload()")]
        )
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
        nbformat.write(notebook, self.lab.workdir / "notebooks" / "upload.ipynb")
        run_notebook(self.page, self.lab, "upload.ipynb")
        self.page.locator(".modelfiles-upload").first.wait_for(timeout=60_000)
        self.show(sidebar=True)
        self.page.locator("#jp-modelfiles-sidebar .jp-ModelFiles-conn-open").wait_for(
            timeout=30_000
        )

    def show(self, sidebar: bool) -> None:
        """The sidebar and the file browser share the left area: show the one in use."""
        tab_id = "jp-modelfiles-sidebar" if sidebar else "filebrowser"
        tab = self.page.locator(f'.jp-SideBar .lm-TabBar-tab[data-id="{tab_id}"]')
        if "lm-mod-current" not in (tab.get_attribute("class") or ""):
            tab.click()
        shown = "#jp-modelfiles-sidebar" if sidebar else ".jp-FileBrowser-toolbar"
        self.page.locator(shown).wait_for(state="visible")


def run(bench: Bench, size: int, contents: bool) -> None:
    source = bench.work / f"upload-{size >> 20}m.bin"
    expected = make_file(source, size)
    contestants: list[tuple[str, str, Upload, bool]] = [
        ("curl -F (v1/files)", "curl", bench.curl, True),
        ("python client upload_file (v1/files)", "python", bench.python_client, True),
        ("Chromium: sidebar upload (v1/uploads)", "sidebar", bench.sidebar, True),
        ("Chromium: mf.upload() widget (v1/uploads)", "widget", bench.widget, True),
        ("Chromium: page XHR FormData (v1/files, before)", "multipart", bench.page_multipart, True),
    ]
    if contents:
        contestants.append(
            ("Chromium: JupyterLab Upload Files (contents)", "jlab", bench.contents, False)
        )
    print(f"\n{mib(size)}  sha256 {expected[:16]}...  load average {load()}")
    curl_seconds = 0.0
    assert bench.lab.process is not None
    for title, tag, upload, ours in contestants:
        named = bench.work / f"{tag}-{size >> 20}m-{source.name}"
        os.link(source, named)
        bench.show(sidebar=tag != "jlab")
        os.sync()
        meter = CpuMeter(bench.lab.process.pid)
        with PeakRss(bench.lab.process.pid) as rss:
            server_cpu, client_cpu = meter.sample()
            start = time.perf_counter()
            upload(named)
            seconds = time.perf_counter() - start
            server_after, client_after = meter.sample()
        if ours:
            record = bench.stored(named.name)
            assert record["sha256"] == expected and record["bytes"] == size, record
            bench.forget(named.name)
        else:
            (bench.lab.workdir / "notebooks" / named.name).unlink()
        named.unlink()
        curl_seconds = curl_seconds or seconds
        print(
            f"  {title:<46} {seconds:7.2f} s {size / seconds / (1 << 20):7.1f} MiB/s"
            f"  {curl_seconds / seconds:5.2f}x curl"
            f"  CPU-s server {server_after - server_cpu:5.2f}"
            f" client {client_after - client_cpu:5.2f}"
            f"  server peak RSS +{mib(rss.peak - rss.baseline)}  load {load()}",
            flush=True,
        )
    source.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes-mib", default="64,1024", help="comma-separated sizes")
    parser.add_argument(
        "--no-contents", action="store_true", help="skip JupyterLab's own upload (slow)"
    )
    parser.add_argument("--workdir", default=None, help="where the lab stores (default: a tmp dir)")
    args = parser.parse_args()
    sizes = [int(s) << 20 for s in args.sizes_mib.split(",")]
    if not shutil.which("curl"):
        sys.exit("curl is needed (the yardstick)")
    from playwright.sync_api import sync_playwright

    _ensure_built()
    work = Path(tempfile.mkdtemp(prefix="bench-upload-", dir=args.workdir))
    print(f"{os.cpu_count()} CPUs, store under {work}, load average {load()}")
    lab = LabProcess(work / "lab", extra_args=[f"--ModelFilesApp.max_upload_size={max(sizes) * 2}"])
    lab.workdir.mkdir()
    try:
        lab.start()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
                bench = Bench(lab, page, work)
                bench.open_lab()
                for size in sizes:
                    run(bench, size, contents=not args.no_contents)
            finally:
                browser.close()
    finally:
        lab.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
