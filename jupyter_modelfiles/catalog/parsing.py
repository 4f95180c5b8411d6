"""Quantization and format from file names, split-file grouping, readable byte sizes."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Longest names first so ``Q4_K_M`` wins over ``Q4_K`` and ``IQ4_XS`` over ``Q4``.
_GGUF_QUANTS = [
    "IQ1_S",
    "IQ1_M",
    "IQ2_XXS",
    "IQ2_XS",
    "IQ2_S",
    "IQ2_M",
    "IQ3_XXS",
    "IQ3_XS",
    "IQ3_S",
    "IQ3_M",
    "IQ4_NL",
    "IQ4_XS",
    "TQ1_0",
    "TQ2_0",
    "Q2_K_S",
    "Q2_K_L",
    "Q2_K",
    "Q3_K_S",
    "Q3_K_M",
    "Q3_K_L",
    "Q3_K_XL",
    "Q3_K",
    "Q4_K_S",
    "Q4_K_M",
    "Q4_K_L",
    "Q4_K",
    "Q4_0_4_4",
    "Q4_0_4_8",
    "Q4_0_8_8",
    "Q4_0",
    "Q4_1",
    "Q5_K_S",
    "Q5_K_M",
    "Q5_K_L",
    "Q5_K",
    "Q5_0",
    "Q5_1",
    "Q6_K_L",
    "Q6_K",
    "Q8_0",
    "Q8_K",
    "MXFP4",
    "BF16",
    "F16",
    "FP16",
    "F32",
    "FP32",
]
_QUANT_RE = re.compile(
    r"(?<![A-Za-z0-9])("
    + "|".join(sorted(_GGUF_QUANTS, key=len, reverse=True))
    + r")(?![A-Za-z0-9])",
    re.IGNORECASE,
)
_SPLIT_RE = re.compile(
    r"^(?P<base>.+?)-(?P<index>\d{5})-of-(?P<count>\d{5})(?P<ext>\.[A-Za-z0-9_]+)$"
)
_SAFETENSORS_SHARD_RE = re.compile(
    r"^(?P<base>.+?)-(?P<index>\d{5})-of-(?P<count>\d{5})\.safetensors$"
)

#: Preference order for the recommended file of a model with several quantizations.
RECOMMENDED_QUANTS = [
    "Q4_K_M",
    "Q4_K_S",
    "Q5_K_M",
    "Q4_0",
    "Q5_K_S",
    "Q6_K",
    "Q8_0",
    "IQ4_XS",
    "Q3_K_M",
    "Q4_1",
    "Q5_0",
    "Q3_K_L",
    "Q2_K",
    "BF16",
    "F16",
    "F32",
]

#: safetensors / numpy dtype names to the quantization label we report.
SAFETENSORS_DTYPES = {
    "F64": "F64",
    "F32": "F32",
    "F16": "F16",
    "BF16": "BF16",
    "I64": "I64",
    "I32": "I32",
    "I16": "I16",
    "I8": "I8",
    "U8": "U8",
    "BOOL": "BOOL",
    "F8_E4M3": "F8_E4M3",
    "F8_E5M2": "F8_E5M2",
}

WEIGHT_FORMATS = {".gguf": "gguf", ".safetensors": "safetensors", ".onnx": "onnx"}


def file_format(filename: str) -> str | None:
    """``gguf``, ``safetensors`` or ``onnx`` from the file name; ``None`` for other files."""
    lowered = filename.lower()
    for ext, fmt in WEIGHT_FORMATS.items():
        if lowered.endswith(ext):
            return fmt
    return None


def quantization_from_name(filename: str) -> str | None:
    """The quantization label in a file name (``model.Q4_K_M.gguf`` -> ``Q4_K_M``)."""
    name = filename.rsplit("/", 1)[-1]
    # The last label in the name is the quantization; earlier ones belong to the model name.
    matches = list(_QUANT_RE.finditer(name))
    if not matches:
        return None
    label = matches[-1].group(1).upper()
    return {"FP16": "F16", "FP32": "F32"}.get(label, label)


@dataclass(frozen=True)
class SplitName:
    """``base-00001-of-00003.gguf`` -> base ``base.gguf``, index 1, count 3."""

    logical: str
    index: int
    count: int


def split_name(filename: str) -> SplitName | None:
    """Recognise ``-NNNNN-of-MMMMM`` split parts (GGUF splits and safetensors shards)."""
    directory, _, name = filename.rpartition("/")
    match = _SPLIT_RE.match(name)
    if not match:
        return None
    logical = match.group("base") + match.group("ext")
    if directory:
        logical = f"{directory}/{logical}"
    return SplitName(logical, int(match.group("index")), int(match.group("count")))


def group_files(filenames: list[str]) -> dict[str, list[str]]:
    """Group split parts into logical files: ``{logical name: [parts in order]}``.

    A split set is only grouped when every part is present; otherwise its parts stay apart.
    """
    groups: dict[str, list[tuple[int, str]]] = {}
    counts: dict[str, int] = {}
    singles: dict[str, list[str]] = {}
    for filename in filenames:
        split = split_name(filename)
        if split is None:
            singles[filename] = [filename]
            continue
        groups.setdefault(split.logical, []).append((split.index, filename))
        counts[split.logical] = split.count
    out: dict[str, list[str]] = dict(singles)
    for logical, parts in groups.items():
        parts.sort()
        if [i for i, _ in parts] == list(range(1, counts[logical] + 1)):
            out[logical] = [name for _, name in parts]
        else:
            for _, name in parts:
                out[name] = [name]
    return out


def recommended(quantizations: list[str | None]) -> int:
    """Index of the recommended entry among ``quantizations`` (first known preference)."""
    ranked = {q: i for i, q in enumerate(RECOMMENDED_QUANTS)}
    best, best_rank = 0, len(ranked) + 1
    for index, quant in enumerate(quantizations):
        rank = ranked.get((quant or "").upper(), len(ranked))
        if rank < best_rank:
            best, best_rank = index, rank
    return best
