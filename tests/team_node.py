"""A stand-in server node for the coordination tests: ``python -m tests.team_node ...``.

It asks the coordinator for one key and prints what happens as JSON lines on stdout:
``{"event": "owned", "bytes_done": N}`` when it owns the key, then ``reported`` lines as it
"transfers" (1 MiB every 0.1 s), ``progress`` lines while another node owns it, ``done`` when
the key is (or becomes) done. ``--finish-at BYTES`` completes the transfer at that size.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from jupyter_modelfiles.team import Claim, Coordinator, LocalCoordinator, TransferRecord
from jupyter_modelfiles.team.keys import ContentKey

STEP = 1 << 20


def emit(event: str, **fields: object) -> None:
    sys.stdout.write(json.dumps({"event": event, "t": time.time(), **fields}) + "\n")
    sys.stdout.flush()


def coordinator(kind: str, target: str) -> Coordinator:
    if kind == "postgres":
        from jupyter_modelfiles.team.postgres import PostgresCoordinator

        return PostgresCoordinator(target)
    return LocalCoordinator(Path(target))


async def run(kind: str, target: str, key: ContentKey, finish_at: int | None) -> None:
    async with coordinator(kind, target) as coord:
        emit("ready", owner=coord.owner)

        def seen(record: TransferRecord) -> None:
            emit("progress", bytes_done=record.bytes_done, status=record.status)

        got = await coord.acquire(key, total=finish_at, path="partial", on_progress=seen)
        if isinstance(got, TransferRecord):
            emit("done", path=got.path, bytes_done=got.bytes_done)
            return
        claim: Claim = got
        emit("owned", bytes_done=claim.bytes_done)
        done = claim.bytes_done
        while finish_at is None or done < finish_at:
            await asyncio.sleep(0.1)
            done += STEP
            await claim.progress(done)
            emit("reported", bytes_done=done)
        await claim.complete(f"blobs/{key}")
        emit("completed", bytes_done=done)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["postgres", "local"])
    parser.add_argument("target", help="PostgreSQL URL, or the locks directory")
    parser.add_argument("key")
    parser.add_argument("--finish-at", type=int, default=None)
    args = parser.parse_args()
    asyncio.run(run(args.kind, args.target, ContentKey(args.key), args.finish_at))


if __name__ == "__main__":
    main()


class NodeProcess:
    """Runs this module in a subprocess and collects its events (used by the tests)."""

    def __init__(self, kind: str, target: str, key: ContentKey, *extra: str) -> None:
        import os
        import subprocess
        import threading

        repo = Path(__file__).resolve().parent.parent
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.team_node", kind, target, str(key), *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=repo,
            env=env,
            text=True,
        )
        self.events: list[dict[str, object]] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.events.append(json.loads(line))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def named(self, event: str) -> list[dict[str, object]]:
        with self._changed:
            return [e for e in self.events if e["event"] == event]

    def wait_for(self, event: str, timeout: float = 30.0, after: float = 0.0) -> dict[str, object]:
        """The first ``event`` line (stamped later than ``after``); fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for found in self.events:
                    if found["event"] == event and float(found["t"]) >= after:  # type: ignore[arg-type]
                        return found
                left = deadline - time.monotonic()
                if left <= 0 or (self.process.poll() is not None and not self._reader.is_alive()):
                    stderr = self.process.stderr.read() if self.process.poll() is not None else ""  # type: ignore[union-attr]
                    raise AssertionError(
                        f"no {event!r} within {timeout} s; events {self.events[-5:]}; {stderr}"
                    )
                self._changed.wait(min(left, 0.5))

    def kill(self) -> None:
        """``kill -9``."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        self.kill()
        for stream in (self.process.stdout, self.process.stderr):
            if stream:
                stream.close()
