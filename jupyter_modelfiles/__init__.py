"""jupyter-modelfiles: get, keep and use machine-learning model files in Jupyter."""

from __future__ import annotations

from typing import Any

from ._version import __version__

__all__ = ["__version__"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .extension import ModelFilesApp

    return [{"module": "jupyter_modelfiles", "app": ModelFilesApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-modelfiles"}]
