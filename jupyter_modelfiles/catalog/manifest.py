"""Manifest catalogs: curated JSON or YAML lists of models with their files.

Format (JSON or YAML)::

    models:
      - id: team/llama-3-8b            # required, may contain '/'
        name: Llama 3 8B Instruct      # optional (defaults to the id)
        description: ...
        provider: META                 # optional
        parameters: 8.0                # billions, optional
        context_length: 8192           # optional
        files:
          - url: https://.../llama-3-8b.Q4_K_M.gguf     # required
            name: llama-3-8b.Q4_K_M.gguf                # optional (from the URL)
            size: 4920000000                            # optional
            sha256: 0123...                             # optional (verified when given)
            quantization: Q4_K_M                        # optional (from the name)
            format: gguf                                # optional (from the name)

A top-level list is accepted too.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import httpx
import yaml

from ..errors import InvalidRequest, UpstreamError
from .filesets import build_file_sets
from .models import CatalogModel, FilePart, ModelFileSet
from .parsing import file_format, quantization_from_name


def parse_manifest(text: str, origin: str) -> list[CatalogModel]:
    """Models of one manifest document (JSON or YAML)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidRequest(f"manifest {origin} is neither JSON nor YAML: {exc}") from None
    if isinstance(data, dict):
        data = data.get("models")
    if not isinstance(data, list):
        raise InvalidRequest(f"manifest {origin} has no 'models' list")
    return [model_from_dict(entry, source="manifest", origin=origin) for entry in data]


def _name_from_url(url: str) -> str:
    return unquote(urlparse(url).path.rsplit("/", 1)[-1]) or "file"


_HEX = re.compile(r"[0-9a-fA-F]{64}")


def _optional(
    entry: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str, where: str
) -> Any:
    """``entry[key]`` when it is absent, ``None`` or a ``kind`` (never a bool), else 400."""
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, kind):
        raise InvalidRequest(f"{where}: {key!r} must be {what}, got {type(value).__name__}")
    return value


def _file_name(value: str, where: str) -> str:
    """A file name that is a relative path inside the model (no ``..``, ``.``, NUL)."""
    segments = value.replace("\\", "/").split("/")
    if not value.strip() or "\0" in value or any(s in ("", ".", "..") for s in segments):
        raise InvalidRequest(
            f"{where}: 'name' must be a relative file name without '.', '..' or empty "
            f"segments, got {value[:80]!r}"
        )
    return value


def parts_from_dicts(files: Any, origin: str) -> list[dict[str, Any]]:
    """The file entries of a model, every field's type checked (400 naming the field)."""
    if not isinstance(files, list) or not files:
        raise InvalidRequest(f"{origin}: 'files' must be a non-empty list")
    out = []
    for index, f in enumerate(files):
        where = f"{origin} files[{index}]"
        if isinstance(f, str):
            f = {"url": f}
        if not isinstance(f, dict) or not isinstance(f.get("url"), str):
            raise InvalidRequest(f"{where}: each file needs a 'url' (a string)")
        scheme = urlparse(f["url"]).scheme.lower()
        if scheme not in ("http", "https"):
            raise InvalidRequest(f"{where}: file url must be http(s), got {f['url'][:200]!r}")
        _file_name(_optional(f, "name", str, "a string", where) or _name_from_url(f["url"]), where)
        sha = _optional(f, "sha256", str, "a string of 64 hex characters", where)
        if sha is not None and not _HEX.fullmatch(sha):
            raise InvalidRequest(f"{where}: 'sha256' must be 64 hex characters")
        size = _optional(f, "size", int, "a non-negative integer", where)
        if size is not None and size < 0:
            raise InvalidRequest(f"{where}: 'size' must be a non-negative integer")
        _optional(f, "quantization", str, "a string", where)
        _optional(f, "format", str, "a string", where)
        out.append(f)
    return out


def model_from_dict(entry: Any, *, source: str, origin: str) -> CatalogModel:
    """A :class:`CatalogModel` from a manifest entry or a custom-model body.

    Every field's type is checked: a wrong one is a 400 naming the field.
    """
    if not isinstance(entry, dict):
        raise InvalidRequest(f"{origin}: each model must be an object")
    model_id = entry.get("id")
    if not isinstance(model_id, str) or not model_id.strip():
        raise InvalidRequest(f"{origin}: each model needs an 'id'")
    where = f"{origin} model {model_id[:200]}"
    _optional(entry, "name", str, "a string", where)
    _optional(entry, "description", str, "a string", where)
    _optional(entry, "provider", str, "a string", where)
    params = _optional(entry, "parameters", (int, float), "a number (billions)", where)
    context = _optional(entry, "context_length", int, "a non-negative integer", where)
    if context is not None and context < 0:
        raise InvalidRequest(f"{where}: 'context_length' must be a non-negative integer")
    files = parts_from_dicts(entry.get("files"), where)
    sets: list[ModelFileSet] = []
    plain: list[FilePart] = []
    for f in files:
        name = f.get("name") or _name_from_url(f["url"])
        part = FilePart(
            filename=name,
            url=f["url"],
            size=f.get("size"),
            sha256=(f.get("sha256") or None) and f["sha256"].lower(),
        )
        if f.get("quantization") or f.get("format"):
            sets.append(
                ModelFileSet(
                    id=name.replace("/", "__"),
                    name=name,
                    format=f.get("format") or file_format(name) or "bin",
                    quantization=f.get("quantization") or quantization_from_name(name),
                    parts=[part],
                )
            )
        else:
            plain.append(part)
    sets.extend(build_file_sets(plain))
    formats = {s.format for s in sets}
    return CatalogModel(
        id=model_id.strip(),
        name=str(entry.get("name") or model_id),
        source=source,
        description=str(entry.get("description") or ""),
        files=sets,
        format=formats.pop() if len(formats) == 1 else None,
        parameters=float(params) if params is not None else None,
        context_length=context,
        provider=entry.get("provider"),
        custom=source == "custom",
        extra={"origin": origin},
    )


async def load_manifest(location: str, timeout: float = 30.0) -> list[CatalogModel]:
    """Read a manifest from a path or an http(s) URL."""
    if urlparse(location).scheme in ("http", "https"):
        try:
            async with httpx.AsyncClient(follow_redirects=True, timeout=timeout) as client:
                response = await client.get(location)
        except httpx.HTTPError as exc:
            raise UpstreamError(f"manifest {location} is unreachable: {exc}") from None
        if response.status_code != 200:
            raise UpstreamError(f"manifest {location} answered HTTP {response.status_code}")
        text = response.text
    else:
        path = Path(location).expanduser()
        try:
            text = await asyncio.to_thread(path.read_text, "utf-8")
        except OSError as exc:
            raise UpstreamError(f"manifest {location} cannot be read: {exc}") from None
    return parse_manifest(text, location)


def dumps(model: CatalogModel) -> str:
    return json.dumps(model.to_json())
