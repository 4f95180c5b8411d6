"""Turn a flat list of downloadable files into logical model files (``ModelFileSet``)."""

from __future__ import annotations

from .models import FilePart, ModelFileSet
from .parsing import file_format, group_files, quantization_from_name

#: Small files that travel with safetensors / ONNX weights (config, tokenizer).
_COMPANION_NAMES = {"tokenizer.model", "merges.txt", "vocab.txt", "spiece.model"}


def is_companion(filename: str) -> bool:
    name = filename.rsplit("/", 1)[-1]
    return name.endswith(".json") or name in _COMPANION_NAMES


def build_file_sets(parts: list[FilePart]) -> list[ModelFileSet]:
    """GGUF: one set per quantization (split parts grouped); safetensors: all shards plus
    config/tokenizer in one set; ONNX: each graph with its external data and companions.
    Files that are none of these become sets of their own (format from the extension)."""
    by_name = {p.filename: p for p in parts}
    companions = [p for p in parts if is_companion(p.filename)]
    weights = [p for p in parts if file_format(p.filename)]
    sets: list[ModelFileSet] = []
    gguf = [p.filename for p in weights if file_format(p.filename) == "gguf"]
    for logical, names in sorted(group_files(gguf).items()):
        sets.append(
            ModelFileSet(
                id=logical.replace("/", "__"),
                name=logical,
                format="gguf",
                quantization=quantization_from_name(logical),
                parts=[by_name[n] for n in names],
            )
        )
    shards = sorted(p.filename for p in weights if file_format(p.filename) == "safetensors")
    if shards:
        first = group_files(shards)
        name = next(iter(first)) if len(first) == 1 else "model.safetensors"
        sets.append(
            ModelFileSet(
                id=name.replace("/", "__"),
                name=name,
                format="safetensors",
                quantization=quantization_from_name(name),
                parts=[by_name[n] for n in shards] + companions,
            )
        )
    for p in weights:
        if file_format(p.filename) != "onnx":
            continue
        data = [by_name[n] for n in (p.filename + "_data", p.filename + ".data") if n in by_name]
        sets.append(
            ModelFileSet(
                id=p.filename.replace("/", "__"),
                name=p.filename,
                format="onnx",
                quantization=quantization_from_name(p.filename),
                parts=[p, *data, *companions],
            )
        )
    if not sets:
        for p in parts:
            if is_companion(p.filename):
                continue
            ext = p.filename.rsplit(".", 1)[-1].lower() if "." in p.filename else "bin"
            sets.append(
                ModelFileSet(
                    id=p.filename.replace("/", "__"),
                    name=p.filename,
                    format=ext,
                    quantization=quantization_from_name(p.filename),
                    parts=[p],
                )
            )
    return sets
