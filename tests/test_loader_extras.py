"""Loaders are extras: without a format's packages, loading it answers 422 naming the extra.

Each test runs a fresh interpreter whose imports of the blocked packages fail (a meta-path
finder installed before anything else), as on a base install without the extra.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jupyter_modelfiles.catalog import ggml

from .model_files import MiB, make_gguf, make_onnx

REPO = Path(__file__).resolve().parent.parent

BLOCKER = """
import sys

class _Blocked:
    def __init__(self, names):
        self.names = set(names)

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.names:
            raise ModuleNotFoundError("No module named %r (blocked by the test)" % name, name=name)
        return None

sys.meta_path.insert(0, _Blocked(BLOCKED))
"""


def run_without(blocked: list[str], body: str) -> dict[str, object]:
    """Run ``body`` (which prints one JSON line last) in an interpreter without ``blocked``."""
    script = f"BLOCKED = {blocked!r}\n" + BLOCKER + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("extras")
    make_onnx(root / "model.onnx", 2 * MiB)
    make_gguf(root / "tiny.gguf", 2 * MiB)
    return root


def test_base_install_imports_without_any_loader_package() -> None:
    """Server, catalog (headers included), downloads and client never import a loader package."""
    result = run_without(
        ["numpy", "gguf", "safetensors", "onnxruntime", "onnx"],
        """
        import json, sys
        import jupyter_modelfiles.extension, jupyter_modelfiles.handlers
        import jupyter_modelfiles.catalog.service, jupyter_modelfiles.catalog.headers
        import jupyter_modelfiles.downloads, jupyter_modelfiles.client
        names = ("numpy", "gguf", "safetensors", "onnxruntime")
        heavy = sorted(m for m in names if m in sys.modules)
        print(json.dumps({"heavy": heavy}))
        """,
    )
    assert result == {"heavy": []}


def test_gguf_header_is_read_without_gguf_or_numpy(model_dir: Path) -> None:
    result = run_without(
        ["numpy", "gguf"],
        f"""
        import json
        from jupyter_modelfiles.catalog.headers import parse_gguf_header
        header = parse_gguf_header(open({str(model_dir / "tiny.gguf")!r}, "rb").read())
        print(json.dumps({{"tensors": header.tensor_count, "bytes": header.tensor_bytes}}))
        """,
    )
    assert result["tensors"] and int(result["bytes"]) > MiB  # type: ignore[call-overload]


def test_open_without_the_extra_names_it(model_dir: Path) -> None:
    """The kernel's ``open()`` of an ONNX file without onnxruntime: 422, ``[onnx]`` named."""
    result = run_without(
        ["onnxruntime"],
        f"""
        import json
        import jupyter_modelfiles as mf
        from jupyter_modelfiles.errors import ModelFilesError
        try:
            mf.open({str(model_dir / "model.onnx")!r})
        except ModelFilesError as error:
            print(json.dumps({{"status": error.status, "code": error.code, "message": str(error)}}))
        """,
    )
    assert result["status"] == 422
    assert result["code"] == "LOADER_NOT_INSTALLED"
    message = str(result["message"])
    assert "onnxruntime" in message
    assert 'pip install "jupyter-modelfiles[onnx]"' in message


def test_runtime_load_without_the_extra_is_refused_before_a_worker_starts(
    model_dir: Path,
) -> None:
    """What the load route answers (422): the server's runtime refuses with the same message."""
    result = run_without(
        ["gguf"],
        f"""
        import asyncio, json
        from pathlib import Path
        from jupyter_modelfiles.events import EventBus
        from jupyter_modelfiles.runtime.manager import RuntimeManager
        from jupyter_modelfiles.errors import ModelFilesError

        async def main():
            runtime = RuntimeManager(EventBus())
            try:
                await runtime.load("org/tiny", "gguf", [Path({str(model_dir / "tiny.gguf")!r})])
            except ModelFilesError as error:
                return {{"status": error.status, "code": error.code, "message": str(error),
                         "workers": len(runtime.loaded())}}
            finally:
                await runtime.close()

        print(json.dumps(asyncio.run(main())))
        """,
    )
    assert (result["status"], result["code"], result["workers"]) == (
        422,
        "LOADER_NOT_INSTALLED",
        0,
    )
    assert 'pip install "jupyter-modelfiles[gguf]"' in str(result["message"])


def test_with_the_package_the_same_format_loads(model_dir: Path) -> None:
    """The check is not a blanket refusal: another format's block leaves ONNX loadable."""
    result = run_without(
        ["gguf"],
        f"""
        import json
        from jupyter_modelfiles.runtime.loaders import load
        session = load("onnx", [{str(model_dir / "model.onnx")!r}])
        print(json.dumps({{"inputs": [i.name for i in session.get_inputs()]}}))
        """,
    )
    assert result["inputs"]


def test_ggml_tables_match_the_gguf_package() -> None:
    """Our copy of the GGUF numbers agrees with the ``gguf`` package (installed in tests)."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType, LlamaFileType

    assert {v.value: v.name for v in GGUFValueType} == ggml.VALUE_TYPE_NAMES
    sizes = {int(q): (GGMLQuantizationType(q).name, *GGML_QUANT_SIZES[q]) for q in GGML_QUANT_SIZES}
    assert {k: sizes.get(k) for k in ggml.GGML_TYPES} == ggml.GGML_TYPES
    file_types = {f.value: f.name for f in LlamaFileType}
    assert {k: file_types.get(k) for k in ggml.FILE_TYPES} == ggml.FILE_TYPES
