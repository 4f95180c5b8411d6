"""Loaders are extras: without a format's packages, loading it answers 422 naming the extra.

Each test runs a fresh interpreter whose imports of the blocked packages fail (a meta-path
finder installed before anything else), as on a base install without the extra.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from jupyter_modelfiles.catalog import ggml

from .jupyter_process import JupyterServerProcess
from .model_files import MiB, make_gguf, make_onnx
from .origin import Origin

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


class ServerWithout(JupyterServerProcess):
    """A real server whose interpreter cannot import ``blocked`` (a ``sitecustomize``)."""

    def __init__(self, workdir: Path, blocked: list[str], **kwargs: Any):
        super().__init__(workdir, **kwargs)
        self.site = workdir / "site"
        self.site.mkdir(parents=True, exist_ok=True)
        (self.site / "sitecustomize.py").write_text(f"BLOCKED = {blocked!r}\n" + BLOCKER)

    def environment(self) -> dict[str, str]:
        env = super().environment()
        env["PYTHONPATH"] = os.pathsep.join([str(self.site), env["PYTHONPATH"]])
        return env


def test_load_route_answers_422_naming_the_extra(tmp_path: Path, model_dir: Path) -> None:
    """A base install (onnxruntime blocked) downloads an ONNX model; loading it is a 422."""
    data = (model_dir / "model.onnx").read_bytes()
    with Origin() as origin:
        origin.replace("model.onnx", data)
        manifest = tmp_path / "catalog.json"
        manifest.write_text(
            json.dumps(
                {
                    "models": [
                        {
                            "id": "team/tiny-onnx",
                            "files": [
                                {
                                    "url": origin.url("model.onnx"),
                                    "size": len(data),
                                    "sha256": hashlib.sha256(data).hexdigest(),
                                }
                            ],
                        }
                    ]
                }
            )
        )
        server = ServerWithout(
            tmp_path / "server",
            ["onnxruntime"],
            extra_args=[f"--ModelFilesApp.manifests={manifest}"],
        )
        server.start()
        try:
            with server.client() as api:
                started = api.post("models/team/tiny-onnx/download", json={})
                assert started.status_code == 200, started.text
                deadline = time.monotonic() + 60
                while not api.get("models/team/tiny-onnx").json().get("downloaded"):
                    assert time.monotonic() < deadline, "the download did not finish"
                    time.sleep(0.2)
                refused = api.post("models/team/tiny-onnx/load")
                assert refused.status_code == 422, refused.text
                error = refused.json()["error"]
                assert error["code"] == "LOADER_NOT_INSTALLED"
                assert 'pip install "jupyter-modelfiles[onnx]"' in error["message"]
                assert api.get("models/team/tiny-onnx").json()["loaded"] is False
        finally:
            server.stop()
