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
