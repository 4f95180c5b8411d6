"""jupyter-modelfiles: get, keep and use machine-learning model files in Jupyter."""

from __future__ import annotations

import types
from typing import Any

from ._version import __version__

__all__ = [
    "AsyncModelFilesClient",
    "ModelFilesClient",
    "__version__",
    "browser",
    "download",
    "files",
    "load_ipython_extension",
    "open",
    "upload",
]

#: Names re-exported lazily (importing ipywidgets/httpx only when first used).
_LAZY = {
    "ModelFilesClient": "client",
    "AsyncModelFilesClient": "client",
    "browser": "widgets",
    "upload": "widgets",
    "download": "widgets",
}


def __getattr__(name: str) -> Any:
    """Lazy notebook-facing functions (no heavy imports when the server loads the package)."""
    if name == "open":
        from .runtime.inkernel import open as open_model

        return open_model
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'jupyter_modelfiles' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


class _FilesPackage(types.ModuleType):
    """The files-store package, also callable: ``jupyter_modelfiles.files()`` shows the browser."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from .widgets import files as show_files

        return show_files(*args, **kwargs)


# ``jupyter_modelfiles.files`` is the store's subpackage; make it callable as the notebook face.
from . import files as _files_package  # noqa: E402

_files_package.__class__ = _FilesPackage


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext jupyter_modelfiles``: register ``%modelfiles`` and ``%download``."""
    from .magics import register

    register(ipython)


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .extension import ModelFilesApp

    return [{"module": "jupyter_modelfiles", "app": ModelFilesApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-modelfiles"}]
