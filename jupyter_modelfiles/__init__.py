"""jupyter-modelfiles: get, keep and use machine-learning model files in Jupyter."""

from __future__ import annotations

from typing import Any

from ._version import __version__

__all__ = [
    "AsyncModelFilesClient",
    "ModelFilesClient",
    "__version__",
    "browser",
    "download",
    "files_browser",
    "load_ipython_extension",
    "open",
    "upload",
]

#: Names re-exported lazily (importing ipywidgets/httpx only when first used).
_LAZY = {
    "ModelFilesClient": "client",
    "AsyncModelFilesClient": "client",
    "browser": "widgets",
    "files_browser": "widgets",
    "upload": "widgets",
    "download": "widgets",
}


def __getattr__(name: str) -> Any:
    """Lazy notebook-facing functions (no heavy imports when the server loads the package)."""
    if name == "open":
        from .kernel import open as open_model

        return open_model
    module = _LAZY.get(name)
    if module is None:
        hint = " (the files browser is files_browser())" if name == "files" else ""
        raise AttributeError(f"module 'jupyter_modelfiles' has no attribute {name!r}{hint}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext jupyter_modelfiles``: register ``%modelfiles`` and ``%download``."""
    from .magics import register

    register(ipython)


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .extension import ModelFilesApp

    return [{"module": "jupyter_modelfiles", "app": ModelFilesApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-modelfiles"}]
