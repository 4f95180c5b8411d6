"""List-page latency of ``GET v1/files`` with 100,000 stored file records, before and after.

Seeds the store's SQLite table directly (records only, same schema the server uses), starts a
real server on it and prints p50/p95 over repeated requests: the first page with the total,
deep pages, cursor pages, filters, and every shape of search: 3+ characters (FTS5 trigram
phrase), 1 and 2 characters (the gram index), each alone and with filters, orders and pages.
The server remembers totals and page boundaries until the next write, so the repeats of a
query may be answered from what it remembered: "1st" is the first request of each query (in
the order below; an earlier query of the same search may have left its total). Each server
first answers 50 unmeasured list requests of another purpose, as a server in use is warm.

With ``--before REF`` the same queries also run against the code of that git ref (extracted
with ``git archive``; its server gets its own identical database), side by side. Jupyter's
own contents API listing a directory of as many files is printed beside it.

Usage: python benchmarks/bench_list.py [--records 100000] [--repeat 50] [--before main]
       [--workdir /dev/shm]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
import uuid
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
from _common import JupyterServerProcess, percentile

WORDS = ["train", "eval", "batch", "prompts", "llama", "mistral", "images", "audio", "notes"]
REPO = Path(__file__).resolve().parent.parent

WARM_UP = 50  # unmeasured requests first: the first ones after a start cost twice the CPU
MIDDLE = "<the id of the 50,001st newest file>"  # an ``after`` cursor, filled in by measure()
QUERIES: dict[str, dict[str, Any]] = {
    "first page (page_size=100) + total": {"page_size": 100},
    "first page, include_total=false": {"page_size": 100, "include_total": "false"},
    "deep page (page=500) + total": {"page": 500, "page_size": 100},
    "deep page (page=900) + total": {"page": 900, "page_size": 100},
    "last page (page=999) + total": {"page": 999, "page_size": 100},
    "cursor (after=, limit=100) + total": {"after": MIDDLE, "limit": 100},
    "purpose=batch + total": {"purpose": "batch"},
    "purpose=batch, page=200 + total": {"purpose": "batch", "page": 200},
    "purpose=batch + source=upload": {"purpose": "batch", "source": "upload"},
    "source=upload&source=download, page=300": {"source": ["upload", "download"], "page": 300},
    "sample_type=pretrain + mimetypes=jsonl": {
        "sample_type": "pretrain",
        "mimetypes": "application/jsonl",
    },
    "search=mistral-llama (FTS trigram)": {"search": "mistral-llama"},
    "search=04242 (FTS trigram, rare)": {"search": "04242"},
    "search=llama (common word)": {"search": "llama"},
    "search=jsonl (every file matches)": {"search": "jsonl"},
    "search=JSONL, order=asc": {"search": "JSONL", "order": "asc"},
    "search=llama, include_total=false": {"search": "llama", "include_total": "false"},
    "search=llama + purpose=batch": {"search": "llama", "purpose": "batch"},
    "search=llama + purpose, page=40": {"search": "llama", "purpose": "batch", "page": 40},
    "search=llama, page=200": {"search": "llama", "page": 200},
    "search=llama + cursor (after=, limit=100)": {"search": "llama", "after": MIDDLE},
    "search=llama + purpose + source": {
        "search": "llama",
        "purpose": "batch",
        "source": "upload",
    },
    "search=04242 + purpose=user_data": {"search": "04242", "purpose": "user_data"},
    "search=mistral-llama + sample_type + mimetypes": {
        "search": "mistral-llama",
        "sample_type": "pretrain",
        "mimetypes": "application/jsonl",
    },
    "search=ll (2 chars)": {"search": "ll"},
    "search=ll + purpose=batch": {"search": "ll", "purpose": "batch"},
    "search=ll, order=asc, page=150": {"search": "ll", "order": "asc", "page": 150},
    "search=LL + cursor (after=, limit=100)": {"search": "LL", "after": MIDDLE, "limit": 100},
    "search=zq (2 chars, no match)": {"search": "zq"},
    "search=l (1 char)": {"search": "l"},
    "search=a + purpose=fine-tune": {"search": "a", "purpose": "fine-tune"},
    "search=7 + purpose + source, page=20": {
        "search": "7",
        "purpose": "batch",
        "source": "upload",
        "page": 20,
    },
}


class CheckoutServer(JupyterServerProcess):
    """The same server started from another checkout of the package (``--before``)."""

    def __init__(self, workdir: Path, checkout: Path):
        super().__init__(workdir)
        self.checkout = checkout

    def environment(self) -> dict[str, str]:
        env = super().environment()
        env["PYTHONPATH"] = os.pathsep.join([str(self.checkout), str(REPO)])
        return env


def extract(ref: str, into: Path) -> Path:
    """The ``jupyter_modelfiles`` package as it is at git ``ref``."""
    archive = subprocess.check_output(
        ["git", "-C", str(REPO), "archive", "--format=tar", ref, "jupyter_modelfiles"]
    )
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def seed(db_path: Path, count: int) -> None:
    conn = sqlite3.connect(db_path)
    rng = random.Random(7)
    now = int(time.time())
    rows = []
    for i in range(count):
        name = f"{rng.choice(WORDS)}-{rng.choice(WORDS)}-{i:06d}.jsonl"
        purpose = rng.choice(["batch", "user_data", "fine-tune", "batch_output"])
        rows.append(
            (
                str(uuid.uuid4()),
                rng.randint(1, 1 << 30),
                now - count + i,
                name,
                purpose,
                "pretrain",
                "upload",
                "application/jsonl",
                "0" * 64,
            )
        )
    conn.executemany(
        "INSERT INTO files (id, bytes, created_at, filename, purpose, sample_type, source, "
        "mimetype, sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.commit()
    conn.close()


def start_seeded(server: JupyterServerProcess, records: int) -> None:
    server.start()  # creates the schema
    server.stop()
    began = time.perf_counter()
    seed(server.root / "state.sqlite3", records)
    print(f"seeded {records} records in {time.perf_counter() - began:.1f} s", flush=True)
    server.start()


Figures = tuple[float, float, float, Any]  # p50, p95, the first request, total


def measure(server: JupyterServerProcess, repeat: int) -> dict[str, Figures]:
    results: dict[str, Figures] = {}
    with httpx.Client(base_url=server.api_url + "/", headers=server.headers) as client:
        middle = client.get("files", params={"page": 500, "page_size": 1}).json()
        queries = {
            label: {key: middle["data"][0]["id"] if value == MIDDLE else value
                    for key, value in params.items()}
            for label, params in QUERIES.items()
        }  # fmt: skip
        # A server in use is warm: before the clock, it answers WARM_UP list requests that no
        # measured query repeats (another purpose, so nothing measured is remembered by them).
        for _ in range(WARM_UP):
            assert client.get("files", params={"purpose": "vision"}).status_code == 200
        for label, params in queries.items():
            timings = []
            total = None
            for _ in range(repeat):
                start = time.perf_counter()
                response = client.get("files", params=params)
                timings.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200, response.text
                total = response.json()["total"]
            results[label] = (
                percentile(timings, 50),
                percentile(timings, 95),
                timings[0],
                total,
            )
    return results


def contents_api(server: JupyterServerProcess, count: int, repeat: int) -> tuple[float, float]:
    """Jupyter's ``GET api/contents/DIR`` of a directory holding ``count`` empty files."""
    folder = server.workdir / "notebooks" / "many"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"file-{i:06d}.jsonl").touch()
    timings = []
    with httpx.Client(headers=server.headers, timeout=300) as client:
        for _ in range(repeat):
            start = time.perf_counter()
            response = client.get(f"{server.url}api/contents/many", params={"content": 1})
            timings.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, response.text
            assert len(response.json()["content"]) == count
    return percentile(timings, 50), percentile(timings, 95)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--before", help="a git ref to measure beside this checkout, e.g. main")
    parser.add_argument(
        "--contents-repeat", type=int, default=3, help="0 skips Jupyter's contents API"
    )
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-list-", dir=args.workdir)).resolve()
    # ``python -m jupyter_server`` puts its working directory first on sys.path: started from
    # the repository, the --before server imported this checkout's package, not the ref's.
    home = os.getcwd()
    os.chdir(work)
    try:
        before = None
        if args.before:
            checkout = extract(args.before, work / "before-code")
            old = CheckoutServer(work / "before", checkout)
            try:
                start_seeded(old, args.records)
                before = measure(old, args.repeat)
            finally:
                old.stop()
        server = JupyterServerProcess(work / "after")
        try:
            start_seeded(server, args.records)
            after = measure(server, args.repeat)
            contents = (
                contents_api(server, args.records, args.contents_repeat)
                if args.contents_repeat
                else None
            )
        finally:
            server.stop()
        print()
        print(f"GET v1/files with {args.records} records, {args.repeat} requests each (ms)")
        print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
        head = f"{'query':<46}"
        if before is not None:
            head += f" {'before p50':>10} {'p95':>7} {'1st':>7} |"
        print(f"{head} {'p50':>7} {'p95':>7} {'1st':>7}  total")
        for label, (p50, p95, first, total) in after.items():
            line = f"{label:<46}"
            if before is not None:
                b50, b95, bfirst, btotal = before[label]
                line += f" {b50:10.1f} {b95:7.1f} {bfirst:7.1f} |"
                if btotal != total:
                    line = f"{line} (before said total={btotal})"
            print(f"{line} {p50:7.1f} {p95:7.1f} {first:7.1f}  {total}")
        if contents is not None:
            print(
                f"{'Jupyter contents API, GET api/contents/DIR':<46} (a directory of "
                f"{args.records} files, no paging, {args.contents_repeat} requests) "
                f"p50 {contents[0]:.1f} p95 {contents[1]:.1f}"
            )
    finally:
        os.chdir(home)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
