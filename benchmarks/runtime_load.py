"""Load/unload figures of the runtime: worker RSS, load time, memory returned on unload.

Usage: PYTHONPATH=. python benchmarks/runtime_load.py [MiB per model, default 256]
Prints, per format: file size, load time (in the worker, and end to end including the
worker's start), the worker's RSS, and how much the server + workers total dropped on unload.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jupyter_modelfiles.events import EventBus
from jupyter_modelfiles.runtime import RuntimeManager
from tests.model_files import MiB, make_gguf, make_onnx, make_safetensors


def total_rss() -> int:
    me = psutil.Process()
    return me.memory_info().rss + sum(c.memory_info().rss for c in me.children(recursive=True))


async def main(size_mib: int) -> None:
    size = size_mib * MiB
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = {
            "gguf": make_gguf(root / "m.gguf", size),
            "safetensors": make_safetensors(root / "m.safetensors", size),
            "onnx": make_onnx(root / "m.onnx", size),
        }
        runtime = RuntimeManager(EventBus())
        print(f"RAM budget: {runtime.ram_budget_bytes / MiB:.0f} MiB; model files: {size_mib} MiB")
        print(f"{'format':<12} {'load ms':>8} {'e2e ms':>8} {'RSS MiB':>8} {'freed MiB':>10}")
        try:
            for fmt, path in files.items():
                before = total_rss()
                started = time.perf_counter()
                info = await runtime.load(fmt, fmt, [path])
                e2e = (time.perf_counter() - started) * 1000
                loaded = total_rss()
                await runtime.unload(fmt)
                after = total_rss()
                print(
                    f"{fmt:<12} {info['load_time_ms']:>8.0f} {e2e:>8.0f} "
                    f"{info['loaded_rss_bytes'] / MiB:>8.0f} {(loaded - after) / MiB:>10.0f}"
                    f"   (total before {before / MiB:.0f}, loaded {loaded / MiB:.0f}, "
                    f"after {after / MiB:.0f})"
                )
        finally:
            await runtime.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 256))
