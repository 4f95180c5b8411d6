"""Plain typed objects of the files store and the one place their JSON shape is defined."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

#: Purposes the store accepts: the union of Mistral's, OpenAI's and Novita's.
PURPOSES: tuple[str, ...] = (
    "batch",
    "batch_output",
    "fine-tune",
    "fine-tune-results",
    "ocr",
    "agentic_safety",
    "user_data",
    "assistants",
    "assistants_output",
    "vision",
    "evals",
)
SAMPLE_TYPES: tuple[str, ...] = (
    "pretrain",
    "instruct",
    "batch_request",
    "batch_result",
    "batch_error",
)
SOURCES: tuple[str, ...] = ("upload", "repository", "mistral", "download")
DEFAULT_PURPOSE = "user_data"
_SAMPLE_TYPE_BY_PURPOSE = {
    "batch": "batch_request",
    "batch_output": "batch_result",
    "fine-tune": "instruct",
}


def count_requests(chunks: Iterable[bytes]) -> int:
    """Requests in a batch input file read as ``chunks``: its lines that are not blank."""
    total, pending = 0, False  # pending: the unfinished line so far is not blank
    for chunk in chunks:
        pieces = chunk.split(b"\n")
        for piece in pieces[:-1]:
            total += pending or bool(piece.strip())
            pending = False
        pending = pending or bool(pieces[-1].strip())
    return total + pending


def purposes_payload() -> dict[str, Any]:
    """``GET v1/files/purposes``: the purposes the store accepts, for the front ends' menus."""
    return {"object": "list", "data": list(PURPOSES), "default": DEFAULT_PURPOSE}


def default_sample_type(purpose: str) -> str:
    return _SAMPLE_TYPE_BY_PURPOSE.get(purpose, "pretrain")


@dataclass
class FileRecord:
    """A stored file: the union of the Mistral, OpenAI and Novita file objects."""

    id: str
    bytes: int
    created_at: int
    filename: str
    purpose: str
    sample_type: str
    source: str
    mimetype: str
    sha256: str
    num_lines: int | None = None
    total_requests: int | None = None
    expires_at: int | None = None
    status: str = "processed"
    visibility: str = "workspace"

    def to_json(self) -> dict[str, Any]:
        metadata: dict[str, Any] = {}
        if self.total_requests is not None:
            metadata["total_requests"] = self.total_requests
        out: dict[str, Any] = {
            "id": self.id,
            "object": "file",
            "bytes": self.bytes,
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": self.status,
            "status_details": None,
            "sample_type": self.sample_type,
            "source": self.source,
            "num_lines": self.num_lines,
            "mimetype": self.mimetype,
            "sha256": self.sha256,
            "visibility": self.visibility,
            "signature": None,
            "deleted": False,
            "metadata": metadata,
        }
        if self.expires_at is not None:  # absent, not null, when the file never expires
            out["expires_at"] = self.expires_at
        return out


@dataclass
class ListQuery:
    """Filters and paging of ``GET v1/files`` (Mistral page style or OpenAI cursor style)."""

    page: int = 0
    page_size: int = 100
    after: str | None = None
    limit: int | None = None
    order: str = "desc"
    search: str | None = None
    purpose: str | None = None
    sources: list[str] = field(default_factory=list)
    sample_types: list[str] = field(default_factory=list)
    mimetypes: list[str] = field(default_factory=list)
    include_total: bool = True


@dataclass
class ListResult:
    data: list[FileRecord]
    total: int | None
    has_more: bool

    def to_json(self) -> dict[str, Any]:
        return {
            # Novita's list envelope ({code, message, data}); OpenAI and Mistral ignore them
            "code": "200",
            "message": "success",
            "object": "list",
            "data": [record.to_json() for record in self.data],
            "total": self.total,
            "has_more": self.has_more,
            "first_id": self.data[0].id if self.data else None,
            "last_id": self.data[-1].id if self.data else None,
        }
