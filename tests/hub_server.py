"""A local server speaking the subset of the Hugging Face Hub API the catalog uses.

``/api/models`` (search), ``/api/models/{repo}[/revision/{rev}]`` (siblings with LFS size and
SHA-256), ``/{repo}/resolve/{rev}/{file}`` (HEAD/GET: LFS files redirect to ``/cdn/{sha}``
with ``X-Repo-Commit``/``X-Linked-Etag``/``X-Linked-Size``), Range requests, gated and
unknown repos answered with the ``X-Error-Code`` headers ``huggingface_hub`` understands.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import numpy as np


def make_gguf(
    path: Path,
    *,
    name: str = "tiny",
    arch: str = "llama",
    quant_file_type: int = 15,
    layers: int = 2,
    embd: int = 64,
    heads: int = 4,
    heads_kv: int = 2,
    context: int = 2048,
    extra_bytes: int = 0,
) -> Path:
    """A small valid GGUF file written with the ``gguf`` package's ``GGUFWriter``."""
    import gguf

    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_name(name)
    writer.add_file_type(quant_file_type)
    writer.add_block_count(layers)
    writer.add_context_length(context)
    writer.add_embedding_length(embd)
    writer.add_head_count(heads)
    writer.add_head_count_kv(heads_kv)
    writer.add_array("tokenizer.ggml.tokens", [f"t{i}" for i in range(300)])
    rng = np.random.default_rng(len(name))
    writer.add_tensor("token_embd.weight", rng.standard_normal((32, embd), dtype=np.float32))
    for i in range(layers):
        writer.add_tensor(
            f"blk.{i}.attn_q.weight", rng.standard_normal((embd, embd)).astype(np.float16)
        )
    if extra_bytes:
        writer.add_tensor("pad", np.zeros(extra_bytes // 4, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def make_safetensors(path: Path, dtype: str = "float16") -> Path:
    from safetensors.numpy import save_file

    save_file(
        {
            "w1": np.ones((16, 8), dtype=dtype),
            "w2": np.zeros((8,), dtype=dtype),
        },
        str(path),
    )
    return path


@dataclass
class Repo:
    repo_id: str
    files: dict[str, bytes]
    sha: str = "0123456789abcdef0123456789abcdef01234567"
    gated: bool = False
    author: str | None = None
    tags: list[str] = field(default_factory=list)

    def is_lfs(self, name: str) -> bool:
        return not name.endswith((".json", ".txt", ".md"))

    def sibling(self, name: str) -> dict[str, Any]:
        data = self.files[name]
        git_sha = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        out: dict[str, Any] = {"rfilename": name, "size": len(data), "blobId": git_sha}
        if self.is_lfs(name):
            out["lfs"] = {
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
                "pointerSize": 134,
            }
        return out

    def etag(self, name: str) -> str:
        s = self.sibling(name)
        return s["lfs"]["sha256"] if "lfs" in s else s["blobId"]


class FakeHub:
    """The server object: ``repos``, ``url``, ``requests`` (a log), ``offline`` switch."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.static: dict[str, bytes] = {}  # other files (manifests, non-Hub model files)
        self.requests: list[str] = []
        self.lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                hub._handle(self, head=True)

            def do_GET(self) -> None:
                hub._handle(self, head=False)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, repo: Repo) -> Repo:
        self.repos[repo.repo_id] = repo
        return repo

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- request handling ----------------------------------------------------------------
    def _send(
        self,
        h: BaseHTTPRequestHandler,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        head: bool = False,
    ) -> None:
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if not head:
            h.wfile.write(body)

    def _json(
        self, h: BaseHTTPRequestHandler, payload: Any, status: int = 200, **extra: str
    ) -> None:
        self._send(
            h, status, json.dumps(payload).encode(), {"Content-Type": "application/json", **extra}
        )

    def _error(self, h: BaseHTTPRequestHandler, status: int, code: str, head: bool = False) -> None:
        self._send(
            h,
            status,
            json.dumps({"error": code}).encode(),
            {"Content-Type": "application/json", "X-Error-Code": code, "X-Error-Message": code},
            head=head,
        )

    def _handle(self, h: BaseHTTPRequestHandler, head: bool) -> None:
        parsed = urlparse(h.path)
        path = unquote(parsed.path)
        with self.lock:
            self.requests.append(f"{h.command} {h.path}")
        query = parse_qs(parsed.query)
        if path in self.static:
            return self._body(h, self.static[path], {"ETag": '"static"'}, head)
        if path == "/api/models":
            return self._search(h, query)
        m = re.match(r"^/api/models/([^/]+/[^/]+)/tree/([^/]+)$", path)
        if m:
            return self._tree(h, m.group(1), m.group(2))
        m = re.match(r"^/api/models/([^/]+/[^/]+?)(?:/revision/([^/]+))?$", path)
        if m:
            return self._info(h, m.group(1), m.group(2))
        m = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path)
        if m:
            return self._resolve(h, m.group(1), m.group(2), m.group(3), head)
        m = re.match(r"^/cdn/([0-9a-f]{64})$", path)
        if m:
            return self._cdn(h, m.group(1), head)
        self._send(h, 404, b"not found", head=head)

    def _search(self, h: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> None:
        text = (query.get("search") or [""])[0].lower()
        filters = query.get("filter") or []
        limit = int((query.get("limit") or ["1000"])[0])
        out = []
        for repo in self.repos.values():
            if text and text not in repo.repo_id.lower():
                continue
            if any(f not in repo.tags for f in filters):
                continue
            out.append(
                {
                    "id": repo.repo_id,
                    "modelId": repo.repo_id,
                    "author": repo.author,
                    "tags": repo.tags,
                    "createdAt": "2024-05-01T12:00:00.000Z",
                    "gated": repo.gated,
                }
            )
        self._json(h, out[:limit])

    def _tree(self, h: BaseHTTPRequestHandler, repo_id: str, revision: str) -> None:
        """The repo's file list (``snapshot_download`` reads it; no pagination)."""
        repo = self.repos.get(repo_id)
        if repo is None:
            return self._error(h, 401, "RepoNotFound")
        if revision not in ("main", repo.sha):
            return self._error(h, 404, "RevisionNotFound")
        entries = []
        for name in sorted(repo.files):
            sibling = repo.sibling(name)
            entry = {"type": "file", "path": name, "size": sibling["size"]}
            entry["oid"] = sibling["blobId"]
            if "lfs" in sibling:
                entry["lfs"] = {"oid": sibling["lfs"]["sha256"], "size": sibling["size"]}
            entries.append(entry)
        self._json(h, entries)

    def _info(self, h: BaseHTTPRequestHandler, repo_id: str, revision: str | None) -> None:
        repo = self.repos.get(repo_id)
        if repo is None:
            return self._error(h, 401, "RepoNotFound")
        if revision not in (None, "main", repo.sha):
            return self._error(h, 404, "RevisionNotFound")
        if repo.gated and not (h.headers.get("Authorization") or "").startswith("Bearer "):
            # the Hub lists gated repos but refuses their files without an accepted token
            pass
        self._json(
            h,
            {
                "id": repo_id,
                "modelId": repo_id,
                "author": repo.author or repo_id.split("/")[0],
                "sha": repo.sha,
                "private": False,
                "gated": repo.gated,
                "tags": repo.tags,
                "createdAt": "2024-05-01T12:00:00.000Z",
                "lastModified": "2024-06-01T12:00:00.000Z",
                "siblings": [repo.sibling(n) for n in sorted(repo.files)],
            },
        )

    def _resolve(
        self, h: BaseHTTPRequestHandler, repo_id: str, rev: str, name: str, head: bool
    ) -> None:
        repo = self.repos.get(repo_id)
        if repo is None:
            return self._error(h, 401, "RepoNotFound", head)
        if repo.gated and h.headers.get("Authorization") != "Bearer hf_good_token":
            return self._error(h, 403, "GatedRepo", head)
        if rev not in ("main", repo.sha) or name not in repo.files:
            return self._error(h, 404, "EntryNotFound", head)
        data = repo.files[name]
        common = {"X-Repo-Commit": repo.sha, "ETag": f'"{repo.etag(name)}"'}
        if repo.is_lfs(name):
            sha = hashlib.sha256(data).hexdigest()
            return self._send(
                h,
                302,
                b"",
                {
                    **common,
                    "Location": f"{self.url}/cdn/{sha}",
                    "X-Linked-Etag": f'"{sha}"',
                    "X-Linked-Size": str(len(data)),
                },
                head=head,
            )
        self._body(h, data, common, head)

    def _cdn(self, h: BaseHTTPRequestHandler, sha: str, head: bool) -> None:
        for repo in self.repos.values():
            for data in repo.files.values():
                if hashlib.sha256(data).hexdigest() == sha:
                    return self._body(h, data, {"ETag": f'"{sha}"'}, head)
        self._send(h, 404, b"no such blob", head=head)

    def _body(
        self, h: BaseHTTPRequestHandler, data: bytes, headers: dict[str, str], head: bool
    ) -> None:
        headers = {**headers, "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
        rng = h.headers.get("Range")
        m = re.match(r"^bytes=(\d+)-(\d*)$", rng or "")
        if m:
            start = int(m.group(1))
            end = min(int(m.group(2)) if m.group(2) else len(data) - 1, len(data) - 1)
            if start >= len(data):
                return self._send(h, 416, b"", {"Content-Range": f"bytes */{len(data)}"}, head)
            return self._send(
                h,
                206,
                data[start : end + 1],
                {**headers, "Content-Range": f"bytes {start}-{end}/{len(data)}"},
                head,
            )
        self._send(h, 200, data, headers, head)
