"""Plain objects of the catalog: a model, its logical files and their parts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class FilePart:
    """One physical file to download (a logical file may have several: splits, shards)."""

    filename: str
    url: str
    size: int | None = None
    sha256: str | None = None
    etag: str | None = None  # Hub blob id (LFS sha256 or git blob sha1): the cache blob name


@dataclass
class ModelFileSet:
    """A logical model file: one quantization of the weights, maybe split into parts."""

    id: str
    name: str
    format: str
    quantization: str | None
    parts: list[FilePart]
    max_ram_usage: int | None = None

    @property
    def size(self) -> int:
        return sum(p.size or 0 for p in self.parts)

    @property
    def sha256(self) -> str:
        """The SHA-256 of the (first) part; split sets are verified part by part."""
        return self.parts[0].sha256 or "" if self.parts else ""

    @property
    def url(self) -> str:
        return self.parts[0].url if self.parts else ""


@dataclass
class CatalogModel:
    """A model as the catalog knows it, whatever its source."""

    id: str
    name: str
    source: str  # hub | manifest | custom
    description: str = ""
    files: list[ModelFileSet] = field(default_factory=list)
    format: str | None = None
    parameters: float | None = None  # billions
    context_length: int | None = None
    architecture: str | None = None
    provider: str | None = None
    created: str | None = None
    updated: str | None = None
    revision: str | None = None  # Hub commit the file list was read at
    repo_id: str | None = None
    custom: bool = False
    recommended: str | None = None  # file id
    extra: dict[str, Any] = field(default_factory=dict)

    def file(self, file_id: str) -> ModelFileSet | None:
        for entry in self.files:
            if entry.id == file_id:
                return entry
        return None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CatalogModel:
        files = [
            ModelFileSet(
                **{
                    **f,
                    "parts": [FilePart(**p) for p in f.get("parts", [])],
                }
            )
            for f in data.get("files", [])
        ]
        return cls(**{**data, "files": files})


def _kind_ok(value: Any, kind: type | tuple[type, ...], optional: bool) -> bool:
    if value is None:
        return optional
    return not isinstance(value, bool) and isinstance(value, kind)


def type_problem(model: CatalogModel) -> str | None:
    """What is wrong with the types of a stored model's fields (``None`` when nothing is).

    Rows are validated on the way in; this guards the reads against rows written by older
    versions or by hand, so one bad row cannot break a listing.
    """
    fields: list[tuple[str, Any, type | tuple[type, ...], bool]] = [
        ("id", model.id, str, False),
        ("name", model.name, str, False),
        ("description", model.description, str, False),
        ("parameters", model.parameters, (int, float), True),
        ("context_length", model.context_length, int, True),
        ("provider", model.provider, str, True),
        ("created", model.created, str, True),
    ]
    if not isinstance(model.files, list):
        return "files"
    for entry in model.files:
        fields += [
            ("files.id", entry.id, str, False),
            ("files.name", entry.name, str, False),
            ("files.format", entry.format, str, False),
            ("files.quantization", entry.quantization, str, True),
        ]
        for part in entry.parts:
            fields += [
                ("files.parts.filename", part.filename, str, False),
                ("files.parts.url", part.url, str, False),
                ("files.parts.size", part.size, int, True),
                ("files.parts.sha256", part.sha256, str, True),
            ]
    for name, value, kind, optional in fields:
        if not _kind_ok(value, kind, optional):
            return f"{name} is {type(value).__name__}"
    return None
