"""Catalog building blocks: names, split sets, GGUF/safetensors headers (local and Range),
the RAM estimate, manifests and the Hub source against a local Hub."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from pathlib import Path

import gguf
import pytest

from jupyter_modelfiles.catalog.filesets import build_file_sets
from jupyter_modelfiles.catalog.headers import (
    http_reader,
    local_reader,
    read_gguf_header,
    read_safetensors_header,
    summarize_safetensors,
)
from jupyter_modelfiles.catalog.hub import HubSource
from jupyter_modelfiles.catalog.manifest import parse_manifest
from jupyter_modelfiles.catalog.models import FilePart
from jupyter_modelfiles.catalog.parsing import (
    file_format,
    group_files,
    quantization_from_name,
    recommended,
)
from jupyter_modelfiles.catalog.ram import OVERHEAD_FIXED, max_ram_usage
from jupyter_modelfiles.errors import Conflict, Forbidden, InvalidRequest, NotFound, UpstreamError

from .hub_server import FakeHub, Repo, make_gguf, make_safetensors


@pytest.mark.parametrize(
    ("name", "quant"),
    [
        ("Llama-3-8B-Instruct.Q4_K_M.gguf", "Q4_K_M"),
        ("llama-3-8b-instruct-q4_k_s.gguf", "Q4_K_S"),
        ("phi-2.Q2_K.gguf", "Q2_K"),
        ("mistral-7b-v0.1.Q8_0.gguf", "Q8_0"),
        ("qwen2-7b-IQ4_XS-00001-of-00002.gguf", "IQ4_XS"),
        ("gemma-2b-IQ2_XXS.gguf", "IQ2_XXS"),
        ("model-f16.gguf", "F16"),
        ("model.BF16.gguf", "BF16"),
        ("ggml-model-f32.gguf", "F32"),
        ("sub/dir/Model-Q5_K_M.gguf", "Q5_K_M"),
        ("model.safetensors", None),
    ],
)
def test_quantization_from_name(name: str, quant: str | None) -> None:
    assert quantization_from_name(name) == quant


def test_formats_and_recommended() -> None:
    assert file_format("a/b.GGUF") == "gguf"
    assert file_format("model-00001-of-00002.safetensors") == "safetensors"
    assert file_format("model.onnx") == "onnx"
    assert file_format("config.json") is None
    assert recommended(["Q8_0", "Q2_K", "Q4_K_M", None]) == 2


def test_split_files_grouped_only_when_complete() -> None:
    names = [
        "m-Q4_K_M-00002-of-00003.gguf",
        "m-Q4_K_M-00001-of-00003.gguf",
        "m-Q4_K_M-00003-of-00003.gguf",
        "m-Q8_0-00001-of-00002.gguf",  # incomplete: stays apart
        "m.Q2_K.gguf",
    ]
    groups = group_files(names)
    assert groups["m-Q4_K_M.gguf"] == sorted(names[:3])
    assert "m-Q8_0-00001-of-00002.gguf" in groups
    assert groups["m.Q2_K.gguf"] == ["m.Q2_K.gguf"]

    parts = [FilePart(n, f"http://x/{n}", 10) for n in [*names, "config.json"]]
    sets = {s.id: s for s in build_file_sets(parts)}
    assert sets["m-Q4_K_M.gguf"].quantization == "Q4_K_M"
    assert sets["m-Q4_K_M.gguf"].size == 30
    assert sets["m-Q4_K_M.gguf"].parts[0].filename.endswith("00001-of-00003.gguf")


def test_safetensors_shards_and_onnx_sets() -> None:
    names = [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "config.json",
        "tokenizer.json",
        "onnx/model.onnx",
        "onnx/model.onnx_data",
        "README.md",
    ]
    sets = {s.id: s for s in build_file_sets([FilePart(n, "u", 1) for n in names])}
    st = sets["model.safetensors"]
    assert st.format == "safetensors"
    assert {p.filename for p in st.parts} == {names[0], names[1], "config.json", "tokenizer.json"}
    onnx = sets["onnx__model.onnx"]
    assert [p.filename for p in onnx.parts][:2] == ["onnx/model.onnx", "onnx/model.onnx_data"]
    assert "README.md" not in {p.filename for s in sets.values() for p in s.parts}


def test_gguf_header_local_matches_gguf_reader(tmp_path: Path) -> None:
    path = make_gguf(tmp_path / "m.gguf", layers=3, embd=64, heads=4, heads_kv=2, context=1024)
    header = read_gguf_header(local_reader(path))
    reader = gguf.GGUFReader(str(path))
    assert header.parameter_count == sum(int(t.n_elements) for t in reader.tensors)
    assert header.tensor_bytes == sum(int(t.n_bytes) for t in reader.tensors)
    assert header.architecture == "llama"
    assert header.context_length == 1024
    assert header.quantization == "Q4_K_M"
    # 2 (K,V) * 3 layers * 1024 tokens * (2 kv heads * 16 dims) * 2 bytes
    assert header.kv_cache_bytes(1024) == 2 * 3 * 1024 * 32 * 2
    assert header.metadata["tokenizer.ggml.tokens"] == {"array_of": "STRING", "length": 300}


def test_ram_estimate_formula(tmp_path: Path) -> None:
    path = make_gguf(tmp_path / "m.gguf", layers=2, context=100_000)
    header = read_gguf_header(local_reader(path))
    weights = 1_000_000_000
    kv = header.kv_cache_bytes(4096)  # capped at 4096 tokens
    assert max_ram_usage(weights, header) == int(weights + kv + OVERHEAD_FIXED + 0.05 * weights)
    assert max_ram_usage(weights) == int(weights + OVERHEAD_FIXED + 0.05 * weights)


def test_bad_headers_are_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"NOPE" + b"\0" * 100)
    with pytest.raises(InvalidRequest, match="not a GGUF"):
        read_gguf_header(local_reader(bad))
    truncated = tmp_path / "t.gguf"
    truncated.write_bytes(make_gguf(tmp_path / "full.gguf").read_bytes()[:200])
    with pytest.raises(InvalidRequest, match="truncated"):
        read_gguf_header(local_reader(truncated))


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[FakeHub]:
    server = FakeHub()
    files = {
        "tiny.Q4_K_M.gguf": make_gguf(tmp_path / "a.gguf", extra_bytes=600_000).read_bytes(),
        "tiny.Q8_0.gguf": make_gguf(tmp_path / "b.gguf", quant_file_type=7).read_bytes(),
        "config.json": b'{"model_type": "llama"}',
    }
    server.add(Repo("org/tiny-GGUF", files, tags=["gguf"]))
    server.add(
        Repo(
            "org/st-model",
            {
                "model.safetensors": make_safetensors(tmp_path / "m.safetensors").read_bytes(),
                "config.json": b"{}",
            },
            tags=["safetensors"],
        )
    )
    server.add(Repo("org/gated", {"x.Q4_0.gguf": files["tiny.Q8_0.gguf"]}, gated=True))
    yield server
    server.close()


def test_headers_over_http_range(hub: FakeHub) -> None:
    url = f"{hub.url}/org/tiny-GGUF/resolve/main/tiny.Q4_K_M.gguf"
    header = read_gguf_header(http_reader(url))
    assert header.quantization == "Q4_K_M"
    # the header was read with a Range request, not the whole ~600 kB file
    assert any(r.startswith("GET /cdn/") for r in hub.requests)
    st = summarize_safetensors(
        read_safetensors_header(
            http_reader(f"{hub.url}/org/st-model/resolve/main/model.safetensors")
        )
    )
    assert st.quantization == "F16" and st.parameter_count == 136
    with pytest.raises(UpstreamError):
        read_gguf_header(http_reader(f"{hub.url}/org/nothing/resolve/main/x.gguf"))


async def test_hub_source_search_files_and_errors(hub: FakeHub) -> None:
    source = HubSource(hub.url, token=None)
    found = await source.search("tiny")
    assert [m.id for m in found] == ["org/tiny-GGUF"]
    assert [m.id for m in await source.search(None, library="safetensors")] == ["org/st-model"]
    model = await source.model("org/tiny-GGUF")
    sets = {s.id: s for s in model.files}
    data = hub.repos["org/tiny-GGUF"].files["tiny.Q4_K_M.gguf"]
    part = sets["tiny.Q4_K_M.gguf"].parts[0]
    assert part.sha256 == hashlib.sha256(data).hexdigest() and part.size == len(data)
    assert (
        part.url
        == f"{hub.url}/org/tiny-GGUF/resolve/{hub.repos['org/tiny-GGUF'].sha}/tiny.Q4_K_M.gguf"
    )
    assert model.revision == hub.repos["org/tiny-GGUF"].sha
    with pytest.raises(NotFound):
        await source.model("org/missing")
    offline = HubSource("http://127.0.0.1:9", token=None)
    with pytest.raises(UpstreamError, match="unreachable"):
        await offline.model("org/tiny-GGUF")
    with pytest.raises(UpstreamError):
        await offline.search("x")


async def test_gated_repo_is_a_clear_error(hub: FakeHub) -> None:
    # model info answers 403 GatedRepo for gated repos without access
    hub.repos["org/gated"].gated = True
    source = HubSource(hub.url)
    original = hub._info

    def gated_info(h, repo_id, revision):  # type: ignore[no-untyped-def]
        if hub.repos.get(repo_id) and hub.repos[repo_id].gated:
            return hub._error(h, 403, "GatedRepo")
        return original(h, repo_id, revision)

    hub._info = gated_info  # type: ignore[method-assign]
    with pytest.raises(Forbidden, match="gated"):
        await source.model("org/gated")
    await asyncio.sleep(0)


def test_manifest_yaml_and_json() -> None:
    text = """
models:
  - id: team/tiny
    name: Tiny
    description: a small model
    files:
      - url: http://example.invalid/tiny.Q4_K_M.gguf
        size: 10
        sha256: "%s"
      - url: http://example.invalid/weights.bin
        quantization: Q4_0
        format: gguf
""" % ("a" * 64)
    [model] = parse_manifest(text, "inline.yaml")
    assert model.id == "team/tiny" and model.source == "manifest"
    ids = {s.id: s for s in model.files}
    assert ids["tiny.Q4_K_M.gguf"].quantization == "Q4_K_M"
    assert ids["weights.bin"].format == "gguf"
    [again] = parse_manifest('[{"id": "x", "files": ["https://h/x.Q8_0.gguf"]}]', "i.json")
    assert again.files[0].quantization == "Q8_0"
    with pytest.raises(InvalidRequest):
        parse_manifest("models: [{id: y, files: [{url: 'ftp://h/x'}]}]", "bad.yaml")


def test_hub_source_honours_hf_endpoint_and_hf_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:1234/")
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    source = HubSource()
    assert source.endpoint == "http://127.0.0.1:1234"
    assert source.auth_headers == {"Authorization": "Bearer hf_from_env"}
    explicit = HubSource("http://127.0.0.1:5678", token="hf_trait")
    assert explicit.endpoint == "http://127.0.0.1:5678" and explicit.token == "hf_trait"


async def test_custom_models_and_local_records_survive_a_restart(tmp_path: Path) -> None:
    from jupyter_modelfiles.catalog.service import Catalog
    from jupyter_modelfiles.downloads.manager import DownloadManager
    from jupyter_modelfiles.events import EventBus
    from jupyter_modelfiles.state import Database

    def open_catalog() -> tuple[Database, Catalog]:
        db = Database(tmp_path / "state.sqlite3")
        events = EventBus()
        return db, Catalog(
            db,
            events,
            DownloadManager(db, events, tmp_path / "root" / ".partial"),
            tmp_path / "root",
            tmp_path / "hf",
            hf_endpoint="http://127.0.0.1:9",
        )

    db, catalog = open_catalog()
    snap = await catalog.register_custom(
        {"name": "Keep Me", "files": [{"url": "http://127.0.0.1:9/keep.Q4_0.gguf", "size": 5}]}
    )
    assert snap["id"] == "custom/keep-me" and snap["custom"] is True
    assert db.schema_version("catalog") == 2
    db.close()
    db, catalog = open_catalog()
    again = await catalog.snapshot("custom/keep-me")
    assert again["name"] == "Keep Me" and again["files"][0]["quantization"] == "Q4_0"
    with pytest.raises(Conflict, match="download it first"):
        await catalog.resolve_local("custom/keep-me")
    with pytest.raises(NotFound):
        await catalog.resolve_local("nothing-here")  # not Hub-shaped: no Hub request
    with pytest.raises(NotFound, match="could not be asked"):  # Hub-shaped, Hub unreachable
        await catalog.resolve_local("custom/nothing")
    db.close()


async def test_an_unreachable_hub_fails_fast_after_the_first_timeout() -> None:
    """Offline, only the first Hub call waits for the network; the next ones answer at once."""
    import socket
    import time

    from jupyter_modelfiles.errors import UpstreamError

    silent = socket.socket()  # accepts connections (backlog) but never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        source = HubSource(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=1.0)
        started = time.monotonic()
        with pytest.raises(UpstreamError, match="unreachable"):
            await source.search("llama")
        first = time.monotonic() - started
        started = time.monotonic()
        with pytest.raises(UpstreamError, match="retrying in"):
            await source.search("llama")
        second = time.monotonic() - started
    finally:
        silent.close()
    assert first >= 0.9
    assert second < 0.2
