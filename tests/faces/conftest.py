"""Fixtures of the tests of the notebook and terminal faces (client, widgets, magics, CLI)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from ..origin import Origin, running_origin


@dataclass(frozen=True)
class Live:
    """A listening Jupyter server: its root URL (with base_url) and token."""

    url: str
    token: str

    @property
    def api_url(self) -> str:
        return self.url + "modelfiles/"


@pytest.fixture
def live(server_url: str, token: str, http_server_client: Any) -> Live:
    """The real server, listening on its port (``http_server_client`` binds it)."""
    return Live(server_url, token)


MODEL_ID = "tour/tiny-model"
MODEL_FILE = "tiny-model.Q8_0.gguf"


@contextmanager
def catalog_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Origin]:
    """A local origin serving a plain file (``notes.bin``) and a small real GGUF model."""
    from ..model_files import MiB, make_gguf

    with running_origin() as running:
        running.add("notes.bin", 3 * MiB, seed=21)
        gguf = make_gguf(tmp_path_factory.mktemp("gguf") / MODEL_FILE, 4 * MiB)
        running.replace(MODEL_FILE, gguf.read_bytes())
        yield running


def catalog_config(origin: Origin, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``ModelFilesApp`` settings with a manifest catalog of one model served by ``origin``."""
    data = origin.files[MODEL_FILE].data
    manifest = tmp_path_factory.mktemp("manifest") / "catalog.json"
    model = {
        "id": MODEL_ID,
        "name": "Tiny tour model",
        "description": "A small GGUF served by the test origin.",
        "files": [
            {
                "url": origin.url(MODEL_FILE),
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        ],
    }
    manifest.write_text(json.dumps({"models": [model]}))
    # The Hub is a closed local port: no test waits on DNS or the internet.
    return {
        "manifests": [str(manifest)],
        "ram_budget": 256 * 1024 * 1024,
        "hf_endpoint": "http://127.0.0.1:9",
    }
