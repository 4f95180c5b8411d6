"""Where Chromium's CPU goes in a browser upload: CPU seconds per process type per GiB.

Runs the sidebar and the mf.upload() widget uploads of bench_upload.py (and curl beside them,
interleaved, for the ratio) and splits the client side's CPU by Chromium process type
(browser, network service, renderer, gpu, ...) and Playwright's driver; the server's CPU is
the lab's. Usage: python benchmarks/chromium_cpu.py [--size-mib 1024] [--rounds 2]
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import tempfile
import time
from pathlib import Path

import psutil
from bench_upload import Bench, load, make_file

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, LabProcess, _ensure_built


def kind(process: psutil.Process) -> str:
    try:
        cmdline = process.cmdline()
    except psutil.Error:
        return "gone"
    if not cmdline:
        return "?"
    if "chrom" not in cmdline[0]:
        return Path(cmdline[0]).name
    for arg in cmdline:
        if arg.startswith("--utility-sub-type="):
            return "chromium " + arg.split("=", 1)[1].rsplit(".", 1)[-1]
        if arg.startswith("--type="):
            return "chromium " + arg.split("=", 1)[1]
    return "chromium browser"


def sample(root: psutil.Process, skip: int = -1) -> dict[int, tuple[str, float]]:
    """CPU seconds of ``root`` and its descendants, but not ``skip`` (the lab) nor its own."""
    out = {}
    skipped: set[int] = set()
    if skip >= 0:
        try:
            lab = psutil.Process(skip)
            skipped = {skip, *(p.pid for p in lab.children(recursive=True))}
        except psutil.Error:
            pass
    for process in [root, *root.children(recursive=True)]:
        if process.pid in skipped:
            continue
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        out[process.pid] = (kind(process), times.user + times.system)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    size = args.size_mib << 20
    from playwright.sync_api import sync_playwright

    _ensure_built()
    work = Path(tempfile.mkdtemp(prefix="chromium-cpu-"))
    lab = LabProcess(work / "lab", extra_args=[f"--ModelFilesApp.max_upload_size={size * 2}"])
    lab.workdir.mkdir()
    me = psutil.Process()
    try:
        lab.start()
        assert lab.process is not None
        server = psutil.Process(lab.process.pid)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
                bench = Bench(lab, page, work)
                bench.open_lab()
                source = work / "upload.bin"
                make_file(source, size)
                for round_ in range(args.rounds):
                    curl_seconds = 0.0
                    for tag, upload in (
                        ("curl", bench.curl),
                        ("sidebar", bench.sidebar),
                        ("widget", bench.widget),
                    ):
                        named = work / f"{tag}-{round_}-{source.name}"
                        os.link(source, named)
                        os.sync()
                        before, server_before = sample(me, server.pid), sample(server)
                        start = time.perf_counter()
                        upload(named)
                        seconds = time.perf_counter() - start
                        after, server_after = sample(me, server.pid), sample(server)
                        bench.forget(named.name)
                        named.unlink()
                        split: dict[str, float] = collections.Counter()
                        for pid, (name, cpu) in after.items():
                            split[name] += cpu - before.get(pid, (name, 0.0))[1]
                        served = sum(c for _, c in server_after.values()) - sum(
                            server_before.get(pid, ("", 0.0))[1] for pid in server_after
                        )
                        curl_seconds = curl_seconds or seconds
                        gib = size / (1 << 30)
                        parts = "  ".join(
                            f"{name} {cpu / gib:.2f}"
                            for name, cpu in sorted(split.items(), key=lambda kv: -kv[1])
                            if cpu > 0.01
                        )
                        ratio = curl_seconds / seconds
                        print(
                            f"round {round_} {tag:<8} {seconds:6.2f} s {ratio:5.2f}x curl"
                            f" | CPU-s per GiB: server {served / gib:.2f} | {parts}"
                            f" | load {load()}",
                            flush=True,
                        )
            finally:
                browser.close()
    finally:
        lab.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
