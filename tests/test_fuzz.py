"""Property-based fuzzing (hypothesis): no input makes a JSON route or an upload answer 5xx.

Every JSON route gets arbitrary JSON (objects shaped like its real bodies, anything else, and
raw bytes); ``POST v1/files`` gets multipart bodies built, broken and cut at random. Each answer
is below 500 and, when it is an error, the JSON error body. The multipart parser is also fuzzed
directly through its public API: it reproduces any well-formed body exactly, however the body
is cut into writes, and fails on anything else only with ``MultipartError``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_modelfiles.files.multipart import MultipartError, StreamingMultipartParser

from .jupyter_process import JupyterServerProcess

MODEL = "fuzz/model"
FILE = "fuzz.Q4_K_M.gguf"
JSON_ROUTES = [
    ("POST", "models"),
    ("POST", "models/update"),
    ("POST", "models/download"),
    ("PATCH", f"models/{MODEL}/files/{FILE}"),
    ("POST", f"models/{MODEL}/download"),
    ("POST", "downloads"),
]
KEYS = [
    "id", "name", "description", "files", "url", "size", "sha256", "quantization", "format",
    "parameters", "context_length", "provider", "action", "model", "purpose", "filename",
]  # fmt: skip
SETTINGS = settings(
    deadline=None,
    derandomize=True,  # the same cases every run: a failure is reproducible
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["..", "start", "pause", "http://127.0.0.1:9/x.gguf", "Q4_K_M", "gguf"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=20,
)
shaped = st.fixed_dictionaries(
    {},
    optional={
        key: json_values
        | st.lists(
            st.fixed_dictionaries(
                {"url": scalars}, optional={k: scalars for k in KEYS if k != "url"}
            ),
            max_size=3,
        )
        for key in KEYS
    },
)
bodies = (
    shaped.map(lambda d: json.dumps(d).encode())
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=200)
    | st.integers(min_value=1, max_value=3000).map(lambda n: b"[" * n + b"]" * n)
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    process = JupyterServerProcess(
        tmp_path_factory.mktemp("fuzz"),
        extra_args=["--ModelFilesApp.hf_endpoint=http://127.0.0.1:9"],  # never the internet
    )
    process.start()
    with process.client() as client:
        registered = client.post(
            "models",
            json={
                "id": MODEL,
                "name": "Fuzz",
                "files": [{"url": f"http://127.0.0.1:9/{FILE}", "size": 100}],
            },
        )
        assert registered.status_code == 201, registered.text
        yield client
    process.stop()


def assert_clean(response: httpx.Response, what: Any) -> None:
    assert response.status_code < 500, (what, response.status_code, response.text[:500])
    if response.status_code >= 400:
        error = response.json()["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str), what


@settings(SETTINGS, max_examples=300)
@given(route=st.sampled_from(JSON_ROUTES), payload=bodies)
def test_json_routes_never_answer_5xx(server: httpx.Client, route: Any, payload: bytes) -> None:
    method, path = route
    response = server.request(
        method, path, content=payload, headers={"Content-Type": "application/json"}
    )
    assert_clean(response, (route, payload[:300]))
    if response.status_code == 201:  # a custom model got registered: keep the catalog small
        server.delete(f"models/{response.json()['id']}", params={"forget": "true"})


BOUNDARY = "fuzzboundary0123"
header_values = st.text(
    st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=60
) | st.sampled_from(['form-data; name="file"; filename="..', "form-data", "attachment"])
parts = st.lists(
    st.tuples(
        st.sampled_from(["file", "purpose", "expires_after", "x"]) | st.text(max_size=10),
        st.none() | header_values,
        st.binary(max_size=300),
    ),
    max_size=4,
)


def build(items: list[tuple[str, str | None, bytes]], boundary: str = BOUNDARY) -> bytes:
    out = b""
    for name, filename, data in items:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data
        out += b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


@settings(SETTINGS, max_examples=150)
@given(
    items=parts,
    cut=st.none() | st.integers(min_value=0, max_value=2000),
    noise=st.binary(max_size=40),
    boundary=st.sampled_from([BOUNDARY, "other-boundary"]),
)
def test_uploads_never_answer_5xx(
    server: httpx.Client, items: Any, cut: int | None, noise: bytes, boundary: str
) -> None:
    # Bad Content-Type headers (refused before the body is read) are left out: the server
    # then closes the connection unread (issue 12 item 6, fixed on another branch)
    content_type = f"multipart/form-data; boundary={boundary}"
    payload = build(items)
    if cut is not None:
        payload = payload[:cut] + noise
    response = server.post("files", content=payload, headers={"Content-Type": content_type})
    assert_clean(response, (content_type, payload[:300]))
    if response.status_code == 200:
        server.delete(f"files/{response.json()['id']}")


def parse(body: bytes, boundary: bytes, sizes: list[int]) -> list[tuple[str, bytes]]:
    """The (name, data) of every part, the body written in pieces of ``sizes`` (cycled)."""
    found: list[tuple[str, bytes]] = []
    parser = StreamingMultipartParser(
        boundary,
        lambda headers: found.append((headers.name, b"")),
        lambda data: found.__setitem__(-1, (found[-1][0], found[-1][1] + data)),
        lambda: None,
    )
    offset, index = 0, 0
    while offset < len(body):
        size = sizes[index % len(sizes)] if sizes else len(body)
        parser.write(body[offset : offset + size])
        offset, index = offset + size, index + 1
    assert parser.complete
    return found


names = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='"\\'))


@settings(SETTINGS, max_examples=200)
@given(
    items=st.lists(st.tuples(names, st.binary(max_size=500)), max_size=4),
    sizes=st.lists(st.integers(min_value=1, max_value=64), max_size=5),
)
def test_the_parser_reproduces_any_well_formed_body(
    items: list[tuple[str, bytes]], sizes: list[int]
) -> None:
    # part data that contains the delimiter is not well formed; hypothesis rarely makes it
    items = [(n, d) for n, d in items if f"\r\n--{BOUNDARY}".encode() not in d]
    body = build([(n, None, d) for n, d in items])
    assert parse(body, BOUNDARY.encode(), sizes) == items


@settings(SETTINGS, max_examples=200)
@given(
    body=st.binary(max_size=400)
    | parts.map(build).flatmap(
        lambda b: st.tuples(st.integers(0, len(b)), st.binary(max_size=30)).map(
            lambda cut: b[: cut[0]] + cut[1] + b[cut[0] :]
        )
    ),
    sizes=st.lists(st.integers(min_value=1, max_value=64), max_size=5),
)
def test_the_parser_fails_only_with_multipart_error(body: bytes, sizes: list[int]) -> None:
    try:
        parse(body, BOUNDARY.encode(), sizes)
    except (MultipartError, AssertionError):
        pass  # refused, or incomplete: both are fine; anything else is a bug


def test_fuzz_helpers_build_what_the_tests_send(tmp_path: Path) -> None:
    """The builder makes bodies the parser accepts (so the fuzz tests above test something)."""
    body = build([("purpose", None, b"batch"), ("file", "a.jsonl", b"{}\r\n")])
    assert parse(body, BOUNDARY.encode(), [7]) == [("purpose", b"batch"), ("file", b"{}\r\n")]
