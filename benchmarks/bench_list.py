"""List-page latency of ``GET v1/files`` with 100,000 stored file records.

Seeds the store's SQLite table directly (records only, same schema the server uses), starts a
real server on it and prints p50/p95 over repeated requests: plain first page, a deep page,
purpose filter, substring search (FTS5 trigram) and a two-letter search (LIKE scan).

Usage: python benchmarks/bench_list.py [--records 100000] [--repeat 50]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from _common import JupyterServerProcess, percentile

WORDS = ["train", "eval", "batch", "prompts", "llama", "mistral", "images", "audio", "notes"]


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-list-"))
    server = JupyterServerProcess(work)
    try:
        server.start()  # creates the schema
        server.stop()
        started = time.perf_counter()
        seed(server.root / "state.sqlite3", args.records)
        print(f"seeded {args.records} records in {time.perf_counter() - started:.1f} s")
        server.start()
        queries = {
            "first page (page_size=100)": {"page_size": 100},
            "first page, include_total=false": {"page_size": 100, "include_total": "false"},
            "deep page (page=900)": {"page": 900, "page_size": 100},
            "cursor (after=, limit=100)": None,
            "purpose=batch": {"purpose": "batch"},
            "search=mistral-llama (FTS trigram)": {"search": "mistral-llama"},
            "search=04242 (FTS trigram, rare)": {"search": "04242"},
            "search=ll (2 chars, LIKE scan)": {"search": "ll"},
        }
        with httpx.Client(base_url=server.api_url + "/", headers=server.headers) as client:
            middle = client.get("files", params={"page": 500, "page_size": 1}).json()
            queries["cursor (after=, limit=100)"] = {"after": middle["data"][0]["id"], "limit": 100}
            print(f"{'query':<40} {'p50 ms':>8} {'p95 ms':>8}  results")
            for label, params in queries.items():
                timings = []
                total = None
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    response = client.get("files", params=params)
                    timings.append((time.perf_counter() - start) * 1000)
                    assert response.status_code == 200, response.text
                    total = response.json()["total"]
                print(
                    f"{label:<40} {percentile(timings, 50):8.1f} {percentile(timings, 95):8.1f}"
                    f"  total={total}"
                )
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
