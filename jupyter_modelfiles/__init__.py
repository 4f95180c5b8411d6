"""jupyter-modelfiles: get, keep and use machine-learning model files in Jupyter."""

from __future__ import annotations

from typing import Any

from ._version import __version__

__all__ = ["__version__", "open"]


def __getattr__(name: str) -> Any:
    """Lazy notebook-facing functions (no heavy imports when the server loads the package)."""
    if name == "open":
        from .runtime.inkernel import open as open_model

        return open_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .extension import ModelFilesApp

    return [{"module": "jupyter_modelfiles", "app": ModelFilesApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-modelfiles"}]
