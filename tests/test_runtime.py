"""RuntimeManager: real model files, real worker processes, memory measured with psutil."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest

from jupyter_modelfiles.errors import Conflict
from jupyter_modelfiles.events import EventBus
from jupyter_modelfiles.runtime import (
    LoaderRegistry,
    LoadFailed,
    RuntimeManager,
    UnsupportedFormat,
    load,
)

from .conftest import eventually
from .model_files import MiB, make_gguf, make_onnx, make_safetensors

SIZE = 24 * MiB


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {
        "gguf": make_gguf(root / "tiny.gguf", SIZE),
        "safetensors": make_safetensors(root / "tiny.safetensors", SIZE),
        "onnx": make_onnx(root / "tiny.onnx", SIZE),
        "st-a": make_safetensors(root / "a.safetensors", SIZE, seed=11),
        "st-b": make_safetensors(root / "b.safetensors", SIZE, seed=12),
        "st-c": make_safetensors(root / "c.safetensors", SIZE, seed=13),
    }


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An installed-looking distribution declaring loaders in the entry point group."""
    root = tmp_path_factory.mktemp("plugin")
    (root / "modelfiles_test_loaders.py").write_text(
        textwrap.dedent(
            """
            import os
            import numpy as np

            def load_npy(paths):
                return {"array": np.load(paths[0])}

            load_npy.extensions = (".npy",)
            load_npy.describe = lambda obj: {"shape": list(obj["array"].shape)}

            def crash(paths):
                os.abort()

            def exit_hard(paths):
                os._exit(3)

            def fail(paths):
                raise ValueError("this file is not a model I understand")

            def slow(paths):
                import time
                time.sleep(5)
                return {"ok": True}
            """
        )
    )
    dist = root / "modelfiles_test_loaders-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: modelfiles-test-loaders\nVersion: 0.1\n"
    )
    (dist / "entry_points.txt").write_text(
        "[jupyter_modelfiles.loaders]\n"
        "npy = modelfiles_test_loaders:load_npy\n"
        "crashy = modelfiles_test_loaders:crash\n"
        "exits = modelfiles_test_loaders:exit_hard\n"
        "failing = modelfiles_test_loaders:fail\n"
        "slow = modelfiles_test_loaders:slow\n"
    )
    return root


@pytest.fixture
def with_plugins(plugin_dir: Path, monkeypatch: pytest.MonkeyPatch) -> LoaderRegistry:
    """The plugin visible to this process (sys.path) and to the workers (PYTHONPATH)."""
    monkeypatch.syspath_prepend(str(plugin_dir))
    old = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(plugin_dir), old) if p))
    return LoaderRegistry()


async def wait_event(sub: Any, predicate: Any, timeout: float = 5.0) -> dict[str, Any]:
    """Read events until one's payload satisfies ``predicate``; return that payload."""

    async def find() -> dict[str, Any]:
        while True:
            event = await sub.get()
            if predicate(event.payload):
                return event.payload

    return await asyncio.wait_for(find(), timeout)


def total_rss() -> int:
    """This process plus all its children (the workers)."""
    me = psutil.Process()
    total = me.memory_info().rss
    for child in me.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:
            pass
    return total


def worker_pids() -> set[int]:
    return {
        c.pid
        for c in psutil.Process().children()
        if "jupyter_modelfiles.runtime.worker" in " ".join(_cmdline(c))
    }


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except psutil.Error:
        return []


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_each_format_loads_in_its_own_worker_and_unload_frees_it(
    models: dict[str, Path],
) -> None:
    events = EventBus()
    sub = events.subscribe(lambda e: e.topic == "model")
    runtime = RuntimeManager(events, ram_budget_bytes=2048 * MiB)
    try:
        before = total_rss()
        pids = {}
        for fmt in ("gguf", "safetensors", "onnx"):
            info = await runtime.load(f"org/{fmt}", fmt, [models[fmt]])
            assert info["loaded"] is True and info["format"] == fmt
            assert info["pid"] != os.getpid() and psutil.pid_exists(info["pid"])
            assert info["pid"] in worker_pids()
            # the weights are in the worker's memory, not in a lazily mapped file
            assert info["loaded_rss_bytes"] > SIZE + 16 * MiB, info
            assert info["load_time_ms"] > 0 and info["loaded_at"].endswith("Z")
            pids[fmt] = info["pid"]
        assert len(set(pids.values())) == 3
        assert runtime.info("org/gguf")["summary"]["tensors"] == 4
        assert runtime.info("org/gguf")["summary"]["architecture"] == "llama"
        assert runtime.info("org/safetensors")["summary"]["tensor_bytes"] == SIZE
        assert runtime.info("org/onnx")["summary"]["inputs"] == ["X"]
        assert {m["id"] for m in runtime.loaded()} == {"org/gguf", "org/safetensors", "org/onnx"}
        loaded_total = total_rss()
        assert loaded_total - before > 3 * SIZE

        for fmt in ("gguf", "safetensors", "onnx"):
            result = await runtime.unload(f"org/{fmt}")
            assert result["loaded"] is False and result["freed_rss_bytes"] > SIZE
            assert gone(pids[fmt])
            assert runtime.info(f"org/{fmt}") is None
        after = total_rss()
        # the memory went back to the operating system: server + workers dropped by 3 models
        assert loaded_total - after > 3 * SIZE, (before, loaded_total, after)
        assert runtime.loaded() == []
        latest = {}
        while sub._pending:
            event = await sub.get()
            latest[event.key] = event.payload
        assert latest["org/gguf"]["loaded"] is False and latest["org/gguf"]["reason"] == "unload"
    finally:
        sub.close()
        await runtime.close()


async def test_load_is_idempotent_even_concurrently(models: dict[str, Path]) -> None:
    runtime = RuntimeManager(EventBus(), ram_budget_bytes=1024 * MiB)
    try:
        first, second = await asyncio.gather(
            runtime.load("m", "safetensors", [models["safetensors"]]),
            runtime.load("m", "safetensors", [models["safetensors"]]),
        )
        again = await runtime.load("m", "safetensors", [models["safetensors"]])
        assert first["pid"] == second["pid"] == again["pid"]
        assert len(runtime.loaded()) == 1 and len(worker_pids()) == 1
        # unloading twice is fine too
        await runtime.unload("m")
        assert (await runtime.unload("m"))["loaded"] is False
    finally:
        await runtime.close()


async def test_lru_models_are_evicted_to_fit_the_budget(models: dict[str, Path]) -> None:
    events = EventBus()
    sub = events.subscribe(lambda e: e.topic == "model")
    runtime = RuntimeManager(events, ram_budget_bytes=1024 * MiB)
    try:
        a = await runtime.load("a", "safetensors", [models["st-a"]])
        need = runtime.estimate("safetensors", [models["st-c"]])
        # room for two models, not three
        runtime.ram_budget_bytes = a["loaded_rss_bytes"] + need + 12 * MiB
        b = await runtime.load("b", "safetensors", [models["st-b"]])
        assert {m["id"] for m in runtime.loaded()} == {"a", "b"}
        runtime.touch("a")  # b is now the least recently used
        c = await runtime.load("c", "safetensors", [models["st-c"]])
        assert {m["id"] for m in runtime.loaded()} == {"a", "c"}
        assert gone(b["pid"]) and not gone(a["pid"]) and not gone(c["pid"])
        assert runtime.used_bytes() <= runtime.ram_budget_bytes
        latest = {}
        while sub._pending:
            event = await sub.get()
            latest[event.key] = event.payload
        assert latest["b"] == {
            "id": "b",
            "loaded": False,
            "loaded_rss_bytes": 0,
            "format": "safetensors",
            "freed_rss_bytes": latest["b"]["freed_rss_bytes"],
            "reason": "evicted",
        }
        assert latest["c"]["loaded"] is True
    finally:
        sub.close()
        await runtime.close()


async def test_a_model_larger_than_the_budget_is_refused_before_loading(
    models: dict[str, Path], tmp_path: Path
) -> None:
    runtime = RuntimeManager(EventBus(), ram_budget_bytes=200 * MiB)
    try:
        kept = await runtime.load("kept", "gguf", [models["gguf"]])
        huge = tmp_path / "huge.gguf"
        with huge.open("wb") as f:  # sparse: 300 MiB on paper, nothing on disk
            f.truncate(300 * MiB)
        with pytest.raises(Conflict) as raised:
            await runtime.load("huge", "gguf", [huge])
        assert "RAM budget" in raised.value.message and "huge" in raised.value.message
        assert raised.value.status == 409
        # nothing was evicted for a model that could never fit, and no worker was started
        assert [m["id"] for m in runtime.loaded()] == ["kept"]
        assert worker_pids() == {kept["pid"]}
    finally:
        await runtime.close()


async def test_idle_models_are_unloaded_after_the_ttl(models: dict[str, Path]) -> None:
    events = EventBus()
    sub = events.subscribe(lambda e: e.topic == "model" and e.key == "idle")
    runtime = RuntimeManager(events, ram_budget_bytes=1024 * MiB, unload_after=1.0)
    try:
        info = await runtime.load("idle", "gguf", [models["gguf"]])
        for _ in range(3):  # used: kept loaded past its TTL
            await asyncio.sleep(0.5)
            runtime.touch("idle")
        assert runtime.info("idle") is not None
        await eventually(lambda: runtime.info("idle") is None, timeout=5)
        await eventually(lambda: gone(info["pid"]), timeout=5)
        payload = await wait_event(sub, lambda p: not p["loaded"] and "reason" in p)
        assert payload["reason"] == "idle"
    finally:
        sub.close()
        await runtime.close()


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("crashy", "SIGABRT"),
        ("exits", "exited with status 3"),
        ("failing", "ValueError: this file is not a model I understand"),
    ],
)
async def test_a_loader_that_crashes_fails_the_load_and_the_manager_stays_usable(
    models: dict[str, Path],
    with_plugins: LoaderRegistry,
    tmp_path: Path,
    fmt: str,
    expected: str,
) -> None:
    events = EventBus()
    sub = events.subscribe(lambda e: e.topic == "model" and e.key == "bad")
    runtime = RuntimeManager(events, ram_budget_bytes=1024 * MiB, loaders=with_plugins)
    bad = tmp_path / "model.weights"
    bad.write_bytes(b"\0" * 1024)
    try:
        with pytest.raises(LoadFailed) as raised:
            await runtime.load("bad", fmt, [bad])
        assert expected in raised.value.message
        assert raised.value.status == 422 and raised.value.code == "LOAD_FAILED"
        assert runtime.info("bad") is None and worker_pids() == set()
        payload = await wait_event(sub, lambda p: "error" in p)
        assert payload["loaded"] is False and expected in payload["error"]
        ok = await runtime.load("good", "safetensors", [models["safetensors"]])
        assert ok["loaded"] is True
    finally:
        sub.close()
        await runtime.close()


async def test_a_slow_load_does_not_hold_up_other_models(
    models: dict[str, Path], with_plugins: LoaderRegistry, tmp_path: Path
) -> None:
    runtime = RuntimeManager(EventBus(), ram_budget_bytes=1024 * MiB, loaders=with_plugins)
    weights = tmp_path / "slow.weights"
    weights.write_bytes(b"\0" * 1024)
    try:
        fast = await runtime.load("fast", "gguf", [models["gguf"]])
        slow = asyncio.ensure_future(runtime.load("slow", "slow", [weights]))
        await eventually(lambda: "slow" in runtime._reserved, timeout=5)
        await runtime.unload("fast")
        other = await runtime.load("other", "safetensors", [models["safetensors"]])
        assert not slow.done()  # both happened while the slow model was still loading
        assert gone(fast["pid"]) and other["loaded"] is True
        assert (await slow)["summary"]["type"] == "builtins.dict"
        # closing the manager during a load ends that worker too
        again = asyncio.ensure_future(runtime.load("slow-2", "slow", [weights]))
        await eventually(lambda: runtime._starting, timeout=5)
        starting = {w.pid for w in runtime._starting}
        await runtime.close()
        with pytest.raises((LoadFailed, Conflict)):
            await again
        assert all(gone(pid) for pid in starting) and worker_pids() == set()
    finally:
        await runtime.close()


async def test_a_corrupted_gguf_fails_clearly(tmp_path: Path) -> None:
    runtime = RuntimeManager(EventBus(), ram_budget_bytes=1024 * MiB)
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + os.urandom(4096))
    try:
        with pytest.raises(LoadFailed) as raised:
            await runtime.load("broken", "gguf", [broken])
        assert "broken" in raised.value.message and "failed" in raised.value.message
        assert runtime.loaded() == []
    finally:
        await runtime.close()


async def test_a_worker_dying_after_load_is_noticed(models: dict[str, Path]) -> None:
    events = EventBus()
    sub = events.subscribe(lambda e: e.topic == "model" and e.key == "victim")
    runtime = RuntimeManager(events, ram_budget_bytes=1024 * MiB)
    try:
        info = await runtime.load("victim", "safetensors", [models["safetensors"]])
        os.kill(info["pid"], signal.SIGKILL)
        await eventually(lambda: runtime.info("victim") is None, timeout=5)
        payload = await wait_event(sub, lambda p: "error" in p)
        assert payload["reason"] == "crashed" and "SIGKILL" in payload["error"]
        again = await runtime.load("victim", "safetensors", [models["safetensors"]])
        assert again["pid"] != info["pid"]
    finally:
        sub.close()
        await runtime.close()


async def test_entry_point_loaders_extend_the_registry_in_the_workers(
    with_plugins: LoaderRegistry, tmp_path: Path
) -> None:
    array = np.arange(6 * MiB, dtype=np.float32)
    np.save(tmp_path / "weights.npy", array)
    assert "npy" in with_plugins.formats()
    runtime = RuntimeManager(EventBus(), ram_budget_bytes=1024 * MiB, loaders=with_plugins)
    try:
        # the format is recognised from the extension the plugin declared
        info = await runtime.load("npy-model", "unknown", [tmp_path / "weights.npy"])
        assert info["format"] == "npy" and info["summary"]["shape"] == [6 * MiB]
        assert info["loaded_rss_bytes"] > 24 * MiB
    finally:
        await runtime.close()


@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pt", "model.pth", "model.pkl"])
async def test_pickle_formats_are_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"\x80\x04K\x01.")  # a real pickle
    runtime = RuntimeManager(EventBus(), ram_budget_bytes=1024 * MiB)
    try:
        for fmt in ("pytorch", ""):
            with pytest.raises(UnsupportedFormat) as raised:
                await runtime.load("pickled", fmt, [path])
            assert raised.value.code == "UNSAFE_FORMAT" and raised.value.status == 422
            assert "pickle" in raised.value.message and "safetensors" in raised.value.message
        assert worker_pids() == set()
        with pytest.raises(UnsupportedFormat):
            load(None, [path])
    finally:
        await runtime.close()


async def test_missing_files_ask_for_a_download(tmp_path: Path) -> None:
    runtime = RuntimeManager(EventBus(), ram_budget_bytes=1024 * MiB)
    try:
        with pytest.raises(Conflict) as raised:
            await runtime.load("absent", "gguf", [tmp_path / "absent.gguf"])
        assert "download it first" in raised.value.message
    finally:
        await runtime.close()


async def test_close_stops_every_worker(models: dict[str, Path]) -> None:
    runtime = RuntimeManager(EventBus(), ram_budget_bytes=1024 * MiB)
    a = await runtime.load("a", "gguf", [models["gguf"]])
    b = await runtime.load("b", "safetensors", [models["safetensors"]])
    await runtime.close()
    assert gone(a["pid"]) and gone(b["pid"]) and runtime.loaded() == []
    with pytest.raises(Conflict):
        await runtime.load("a", "gguf", [models["gguf"]])


def test_workers_exit_when_their_server_is_killed(models: dict[str, Path]) -> None:
    script = textwrap.dedent(
        """
        import asyncio, sys
        from pathlib import Path
        from jupyter_modelfiles.events import EventBus
        from jupyter_modelfiles.runtime import RuntimeManager

        async def main():
            runtime = RuntimeManager(EventBus(), ram_budget_bytes=1 << 30)
            info = await runtime.load("m", "safetensors", [Path(sys.argv[1])])
            print(info["pid"], flush=True)
            await asyncio.sleep(120)

        asyncio.run(main())
        """
    )
    server = subprocess.Popen(
        [sys.executable, "-c", script, str(models["safetensors"])],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    try:
        assert server.stdout is not None
        worker = int(server.stdout.readline())
        assert psutil.Process(worker).ppid() == server.pid and not gone(worker)
        server.kill()  # kill -9: no chance to clean up
        server.wait(10)
        deadline = time.monotonic() + 10
        while not gone(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert gone(worker), "the worker outlived its server"
    finally:
        server.kill()
        server.wait(10)


def test_default_budget_is_a_share_of_available_memory() -> None:
    runtime = RuntimeManager(EventBus())
    available = psutil.virtual_memory().available
    assert 0.5 * available < runtime.ram_budget_bytes < 0.7 * available
    assert runtime.unload_after is None


def test_open_gives_the_in_kernel_objects(models: dict[str, Path]) -> None:
    import gguf
    import onnxruntime

    import jupyter_modelfiles

    reader = jupyter_modelfiles.open(models["gguf"])
    assert isinstance(reader, gguf.GGUFReader) and len(reader.tensors) == 4
    assert all(t.data.flags.owndata for t in reader.tensors)  # copied out of the memmap
    tensors = jupyter_modelfiles.open(str(models["safetensors"]))
    assert sorted(tensors) == [f"layer.{i}.weight" for i in range(4)]
    assert sum(a.nbytes for a in tensors.values()) == SIZE
    session = jupyter_modelfiles.open(models["onnx"])
    assert isinstance(session, onnxruntime.InferenceSession)
    n = SIZE // 4
    (y,) = session.run(None, {"X": np.ones(n, dtype=np.float32)})
    assert y.shape == (n,)
    assert np.isfinite(y).all() and abs(float(y.mean()) - 1.0) < 0.01


async def test_split_gguf_and_sharded_safetensors_load_as_one_model(tmp_path: Path) -> None:
    import jupyter_modelfiles

    parts = [make_gguf(tmp_path / f"m-{i:05d}-of-00002.gguf", 2 * MiB, seed=20 + i) for i in (1, 2)]
    shards = [
        make_safetensors(
            tmp_path / f"model-{i:05d}-of-00002.safetensors", 2 * MiB, 30 + i, prefix=f"s{i}"
        )
        for i in (1, 2)
    ]
    readers = jupyter_modelfiles.open(parts[0])  # the other part is found beside it
    assert isinstance(readers, list) and [len(r.tensors) for r in readers] == [4, 4]
    runtime = RuntimeManager(EventBus(), ram_budget_bytes=1024 * MiB)
    try:
        info = await runtime.load("split", "gguf", parts)
        assert info["summary"]["tensors"] == 8
        info = await runtime.load("sharded", "safetensors", shards)
        assert info["summary"]["tensors"] == 8
        assert info["summary"]["tensor_bytes"] == 4 * MiB
    finally:
        await runtime.close()
