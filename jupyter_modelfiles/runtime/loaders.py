"""The loader registry: which code turns a model's files into an object in memory, by format.

Built in: ``gguf`` (the ``gguf`` package's :class:`GGUFReader`, tensors copied into RAM),
``safetensors`` (a ``dict`` of numpy arrays) and ``onnx`` (an ``onnxruntime.InferenceSession``).
Their packages are extras (``pip install "jupyter-modelfiles[gguf]"``, ``[safetensors]``,
``[onnx]`` or ``[all]``): when one is missing, loading that format fails with
:class:`LoaderNotInstalled` (422) naming the extra to install.

Other packages add formats through the entry point group ``jupyter_modelfiles.loaders``; the
entry point's name is the format and its object a callable ``load(paths: list[Path]) -> Any``,
optionally with an ``extensions`` attribute (e.g. ``(".pt",)``) used to recognise files and a
``describe(obj) -> dict`` attribute for a JSON summary. For example, in ``pyproject.toml``::

    [project.entry-points."jupyter_modelfiles.loaders"]
    pytorch = "my_package.loaders:load_torch_weights_only"

A registered loader for a pickle-based format (``pytorch``, ``pickle``...) is how such files
become loadable; without one they are refused, since unpickling runs arbitrary code.
"""

from __future__ import annotations

import importlib.util
import mmap
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from ..errors import LoaderNotInstalled, LoadFailed, UnsafeFormat, UnsupportedFormat

ENTRY_POINT_GROUP = "jupyter_modelfiles.loaders"

#: Formats whose files are Python pickles: never loaded without a registered safe loader.
PICKLE_FORMATS = frozenset({"pytorch", "pickle", "pt", "pth", "bin", "pkl", "ckpt", "torch"})
PICKLE_EXTENSIONS = frozenset({".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt"})

LoadFunction = Callable[[list[Path]], Any]


@dataclass(frozen=True)
class Loader:
    """One format's loader: ``load(paths)`` plus how its files are recognised."""

    format: str
    load: LoadFunction
    extensions: tuple[str, ...] = ()
    describe: Callable[[Any], dict[str, Any]] | None = None
    source: str = "builtin"
    options: dict[str, Any] = field(default_factory=dict)
    #: Top-level modules the loader imports, and the extra of jupyter-modelfiles that has them.
    requires: tuple[str, ...] = ()
    extra: str | None = None

    def missing_modules(self) -> list[str]:
        """Required modules that cannot be imported here (checked without importing them)."""
        return [name for name in self.requires if not _importable(name)]

    def check_installed(self) -> None:
        """:class:`LoaderNotInstalled` naming the extra when a required module is missing."""
        missing = self.missing_modules()
        if missing:
            raise LoaderNotInstalled(
                f"loading {self.format} files needs {', '.join(missing)}, which "
                f"{'is' if len(missing) == 1 else 'are'} not installed: "
                f'pip install "jupyter-modelfiles[{self.extra or self.format}]" '
                "(or [all] for every format), then restart the server or kernel"
            )


def _importable(name: str) -> bool:
    if name in sys.modules:
        return sys.modules[name] is not None
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


# -- built-in loaders ----------------------------------------------------------------------
def load_gguf(paths: list[Path]) -> Any:
    """A :class:`gguf.GGUFReader` whose tensors' data are copies in RAM (not the memmap).

    The file's mapping is then told to drop its pages (``MADV_DONTNEED``), so the process's
    resident memory is the tensors themselves, as a runtime holding the weights would have.
    Split GGUF files (``-00001-of-0000N``) give one reader per file, in a list.
    """
    import numpy as np
    from gguf import GGUFReader

    readers = []
    for path in _with_suffix(paths, (".gguf",)):
        reader = GGUFReader(path)
        for index, tensor in enumerate(reader.tensors):
            reader.tensors[index] = tensor._replace(data=np.array(tensor.data, copy=True))
        _drop_mapped_pages(reader.data)
        readers.append(reader)
    return readers[0] if len(readers) == 1 else readers


def _drop_mapped_pages(array: Any) -> None:
    raw = getattr(array, "_mmap", None)
    if isinstance(raw, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
        try:
            raw.madvise(mmap.MADV_DONTNEED)
        except (OSError, ValueError):
            pass


def describe_gguf(obj: Any) -> dict[str, Any]:
    readers = obj if isinstance(obj, list) else [obj]
    tensors = [t for r in readers for t in r.tensors]
    info: dict[str, Any] = {
        "tensors": len(tensors),
        "tensor_bytes": int(sum(int(t.data.nbytes) for t in tensors)),
    }
    arch = readers[0].fields.get("general.architecture")
    if arch is not None:
        try:
            info["architecture"] = arch.contents()
        except Exception:  # older gguf packages have no contents()
            pass
    return info


def load_safetensors(paths: list[Path]) -> dict[str, Any]:
    """Every tensor of every ``.safetensors`` file, as numpy arrays in one dict."""
    from safetensors.numpy import load_file

    tensors: dict[str, Any] = {}
    for path in _with_suffix(paths, (".safetensors",)):
        tensors.update(load_file(str(path)))
    return tensors


def describe_safetensors(obj: Any) -> dict[str, Any]:
    return {
        "tensors": len(obj),
        "tensor_bytes": int(sum(int(a.nbytes) for a in obj.values())),
    }


def load_onnx(paths: list[Path]) -> Any:
    """An ``onnxruntime.InferenceSession`` on the CPU (external data files sit beside it)."""
    import onnxruntime

    models = _with_suffix(paths, (".onnx",))
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(
        str(models[0]), sess_options=options, providers=["CPUExecutionProvider"]
    )


def describe_onnx(obj: Any) -> dict[str, Any]:
    return {
        "inputs": [i.name for i in obj.get_inputs()],
        "outputs": [o.name for o in obj.get_outputs()],
    }


def _with_suffix(paths: Sequence[Path], suffixes: tuple[str, ...]) -> list[Path]:
    chosen = [Path(p) for p in paths if Path(p).suffix.lower() in suffixes]
    if not chosen:
        chosen = [Path(p) for p in paths]
    if not chosen:
        raise LoadFailed("no files to load")
    return sorted(chosen)


BUILTIN = (
    Loader("gguf", load_gguf, (".gguf",), describe_gguf, requires=("gguf", "numpy"), extra="gguf"),
    Loader(
        "safetensors",
        load_safetensors,
        (".safetensors",),
        describe_safetensors,
        requires=("safetensors", "numpy"),
        extra="safetensors",
    ),
    Loader("onnx", load_onnx, (".onnx",), describe_onnx, requires=("onnxruntime",), extra="onnx"),
)


# -- the registry --------------------------------------------------------------------------
class LoaderRegistry:
    """Loaders by format name: the built-ins, entry points, and :meth:`register` calls."""

    def __init__(self, *, discover: bool = True):
        self._loaders: dict[str, Loader] = {loader.format: loader for loader in BUILTIN}
        self._discover = discover
        self._discovered = False
        self._lock = threading.Lock()
        self.errors: dict[str, str] = {}

    def register(
        self,
        fmt: str,
        load: LoadFunction,
        *,
        extensions: Sequence[str] = (),
        describe: Callable[[Any], dict[str, Any]] | None = None,
    ) -> None:
        """Add or replace the loader of ``fmt`` (in this process)."""
        exts = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions)
        self._loaders[fmt.lower()] = Loader(fmt.lower(), load, exts, describe, "registered")

    def _load_entry_points(self) -> None:
        with self._lock:
            if self._discovered or not self._discover:
                return
            self._discovered = True
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                try:
                    fn = ep.load()
                except Exception as error:  # a broken plugin must not break the others
                    self.errors[ep.name] = f"{type(error).__name__}: {error}"
                    continue
                exts = tuple(getattr(fn, "extensions", ()) or ())
                self._loaders[ep.name.lower()] = Loader(
                    ep.name.lower(), fn, exts, getattr(fn, "describe", None), ep.value
                )

    def formats(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._loaders)

    def get(self, fmt: str) -> Loader | None:
        self._load_entry_points()
        return self._loaders.get(fmt.lower())

    def resolve(self, fmt: str | None, paths: Sequence[Path]) -> Loader:
        """The loader for ``fmt`` (or, if unknown, the files' extensions); refuse pickles.

        A built-in loader whose packages are missing raises :class:`LoaderNotInstalled`.
        """
        loader = self._find(fmt, paths)
        loader.check_installed()
        return loader

    def _find(self, fmt: str | None, paths: Sequence[Path]) -> Loader:
        self._load_entry_points()
        name = (fmt or "").strip().lower()
        loader = self._loaders.get(name) if name else None
        if loader is None:
            suffixes = {Path(p).suffix.lower() for p in paths}
            for candidate in self._loaders.values():
                if suffixes & set(candidate.extensions):
                    loader = candidate
                    break
        if loader is not None:
            return loader
        if name in PICKLE_FORMATS or {Path(p).suffix.lower() for p in paths} & PICKLE_EXTENSIONS:
            raise UnsafeFormat(
                f"refusing to load {name or 'these'} files: pickle-based formats "
                "(.bin/.pt/.pth/.pkl/.ckpt) can run arbitrary code when loaded, and no safe "
                "(weights-only) loader is installed. Use the model's safetensors, GGUF or ONNX "
                f"files, or register a safe loader in the {ENTRY_POINT_GROUP!r} entry point group."
            )
        raise UnsupportedFormat(
            f"no loader for format {name or '(none)'!r} (files: "
            f"{', '.join(Path(p).name for p in paths) or 'none'}); known formats: "
            f"{', '.join(sorted(self._loaders))}"
        )


_registry: LoaderRegistry | None = None


def registry() -> LoaderRegistry:
    """The process-wide registry (entry points discovered on first use)."""
    global _registry
    if _registry is None:
        _registry = LoaderRegistry()
    return _registry


def load(fmt: str | None, paths: Sequence[Path | str]) -> Any:
    """Load ``paths`` in this process with the loader of ``fmt``; what ``open()`` returns."""
    files = [Path(p) for p in paths]
    loader = registry().resolve(fmt, files)
    missing = [str(p) for p in files if not p.exists()]
    if missing:
        raise LoadFailed(f"model files are missing: {', '.join(missing)}")
    return loader.load(files)


def describe(loader: Loader, obj: Any) -> dict[str, Any]:
    """A JSON-safe summary of a loaded object."""
    summary: dict[str, Any] = {"type": f"{type(obj).__module__}.{type(obj).__qualname__}"}
    if loader.describe is not None:
        try:
            summary.update(loader.describe(obj))
        except Exception as error:
            summary["describe_error"] = str(error)
    return summary
