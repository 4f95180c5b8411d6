"""How fast can Chromium upload at all on this machine? Its ceiling against a server that only
counts the bytes, beside curl into the same server.

A minimal Tornado server on 127.0.0.1 (in this process) takes a raw ``PUT`` body in
``data_received`` chunks, or WebSocket binary messages, and only counts them (no hashing, no
writing). Debian's Chromium, driven by Playwright, uploads a ``--size-mib`` file picked in a
file input, as the sidebar and the widget could:

- ``fetch`` ``PUT`` with the File as the body (what the sidebar's sliced upload does);
- ``XMLHttpRequest`` ``PUT`` with the File as the body;
- a WebSocket, the File sent as Blob slices of 16 MiB, two messages in flight;

and ``curl -T`` sends the same file to the same server. Printed per contestant: wall time,
MiB/s, the ratio to curl, Chromium's CPU-seconds (all its processes) and this process's (the
server). This bounds what any browser upload of jupyter-modelfiles can reach here: the real
server does more per byte (multipart or slice bookkeeping, SHA-256, the disk).

Usage: python benchmarks/bench_chromium_ceiling.py [--size-mib 1024] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import tornado.httpserver
import tornado.ioloop
import tornado.netutil
import tornado.web
import tornado.websocket
from _common import cpu_seconds  # (also puts the checkout on sys.path)

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

MiB = 1 << 20
received = {"bytes": 0}

PAGE = """<!doctype html><input type="file" id="file"><script>
const file = () => document.getElementById("file").files[0];
window.fetchPut = async () =>
  (await (await fetch("/raw", {method: "PUT", body: file()})).json()).bytes;
window.xhrPut = (progress) => new Promise((resolve, reject) => {
  const xhr = new XMLHttpRequest();
  xhr.open("PUT", "/raw");
  if (progress) { xhr.upload.onprogress = (event) => { window.lastProgress = event.loaded; }; }
  xhr.onload = () => resolve(JSON.parse(xhr.responseText).bytes);
  xhr.onerror = reject;
  xhr.send(file());
});
window.websocket = (chunk, inFlight) => new Promise((resolve, reject) => {
  const f = file();
  const ws = new WebSocket(`ws://${location.host}/ws`);
  let sent = 0, waiting = 0;
  const pump = () => {
    while (sent < f.size && waiting < inFlight) {
      const end = Math.min(f.size, sent + chunk);
      ws.send(f.slice(sent, end));
      sent = end;
      waiting++;
    }
  };
  ws.onopen = pump;
  ws.onerror = reject;
  ws.onmessage = (event) => {
    waiting--;
    const count = Number(event.data);
    if (count >= f.size) { ws.close(); resolve(count); } else { pump(); }
  };
});
</script>"""


class PageHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write(PAGE)


@tornado.web.stream_request_body
class RawHandler(tornado.web.RequestHandler):
    def prepare(self) -> None:
        received["bytes"] = 0

    def data_received(self, chunk: bytes) -> None:
        received["bytes"] += len(chunk)

    def put(self) -> None:
        self.write({"bytes": received["bytes"]})


class CountingSocket(tornado.websocket.WebSocketHandler):
    def open(self, *args: Any, **kwargs: Any) -> None:
        received["bytes"] = 0

    def on_message(self, message: str | bytes) -> None:
        received["bytes"] += len(message)
        self.write_message(str(received["bytes"]))  # one answer per message: the window


def serve(port: list[int], ready: threading.Event) -> None:
    asyncio.set_event_loop(asyncio.new_event_loop())
    app = tornado.web.Application(
        [("/", PageHandler), ("/raw", RawHandler), ("/ws", CountingSocket)],
        websocket_max_message_size=64 * MiB,
    )
    server = tornado.httpserver.HTTPServer(app, max_body_size=1 << 40)
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server.add_sockets(sockets)
    port.append(sockets[0].getsockname()[1])
    ready.set()
    tornado.ioloop.IOLoop.current().start()


def chromium_processes() -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if cmdline and "chrom" in Path(cmdline[0]).name:
            found.append(process)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    size = args.size_mib * MiB
    work = Path(tempfile.mkdtemp(prefix="chromium-ceiling-", dir="/dev/shm"))
    source = work / "upload.bin"
    with open(source, "wb") as out:
        for _ in range(args.size_mib):
            out.write(os.urandom(MiB))
    port: list[int] = []
    ready = threading.Event()
    threading.Thread(target=serve, args=(port, ready), daemon=True).start()
    ready.wait()
    base = f"http://127.0.0.1:{port[0]}"
    me = psutil.Process()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"{os.cpu_count()} cores, Linux {platform.release()}; {args.size_mib} MiB from "
        f"/dev/shm; Chromium {CHROMIUM}; load average {load}",
        flush=True,
    )
    from playwright.sync_api import sync_playwright

    results: dict[str, list[tuple[float, float, float]]] = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.goto(base + "/")
                page.set_input_files("#file", str(source))
                chromium = chromium_processes()
                contestants: dict[str, str | None] = {
                    "curl -T (raw PUT)": None,
                    "Chromium fetch PUT of the File": "fetchPut()",
                    "Chromium XHR PUT of the File": "xhrPut(false)",
                    "Chromium XHR PUT of the File, upload progress": "xhrPut(true)",
                    "Chromium WebSocket, 16 MiB Blob slices x2": f"websocket({16 * MiB}, 2)",
                }
                for round_ in range(args.rounds):
                    for name, script in contestants.items():
                        client_before, server_before = cpu_seconds(chromium), cpu_seconds([me])
                        began = time.perf_counter()
                        if script is None:
                            subprocess.run(
                                [
                                    "curl",
                                    "-sS",
                                    "-o",
                                    "/dev/null",
                                    "-T",
                                    str(source),
                                    base + "/raw",
                                ],
                                check=True,
                            )
                            count = received["bytes"]
                        else:
                            count = int(page.evaluate(script))
                        seconds = time.perf_counter() - began
                        if count != size:
                            raise RuntimeError(f"{name}: the server counted {count} bytes")
                        results.setdefault(name, []).append(
                            (
                                seconds,
                                cpu_seconds(chromium) - client_before,
                                cpu_seconds([me]) - server_before,
                            )
                        )
                        print(f"  round {round_ + 1}: {name}: {seconds:.2f} s", flush=True)
            finally:
                browser.close()
    finally:
        for leftover in work.iterdir():
            leftover.unlink()
        work.rmdir()
    gib = size / (1 << 30)
    curl = sorted(r[0] for r in results["curl -T (raw PUT)"])[
        len(results["curl -T (raw PUT)"]) // 2
    ]
    print()
    print(
        f"{'contestant':44} {'wall s':>7} {'MiB/s':>6} {'speed vs curl':>13} "
        f"{'Chromium CPU-s/GiB':>18} {'server CPU-s/GiB':>16}"
    )
    for name, runs in results.items():
        runs.sort()
        seconds, client, server = runs[len(runs) // 2]
        print(
            f"{name:44} {seconds:7.2f} {args.size_mib / seconds:6.0f} {curl / seconds:12.2f}x "
            f"{client / gib:18.2f} {server / gib:16.2f}"
        )
    print(f"load average now {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
