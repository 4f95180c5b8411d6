"""The streaming multipart parser gives the same parts however the body is split."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jupyter_modelfiles.files.multipart import (
    MultipartError,
    PartHeaders,
    StreamingMultipartParser,
)

BOUNDARY = b"xYzBoundary42"


def body_of(fields: dict[str, str], payload: bytes, filename: str = "f.bin") -> bytes:
    out = b"preamble to ignore\r\n"
    for name, value in fields.items():
        out += b"--" + BOUNDARY + b"\r\n"
        out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode() + b"\r\n"
    out += b"--" + BOUNDARY + b"\r\n"
    out += f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'.encode()
    out += b"Content-Type: application/octet-stream\r\n\r\n" + payload + b"\r\n"
    out += b"--" + BOUNDARY + b"--\r\nepilogue"
    return out


def parse(chunks: list[bytes]) -> tuple[list[tuple[str, str | None, bytes]], bool]:
    parts: list[tuple[str, str | None, bytearray]] = []

    def begin(headers: PartHeaders) -> None:
        parts.append((headers.name, headers.filename, bytearray()))

    def data(chunk: bytes) -> None:
        parts[-1][2].extend(chunk)

    parser = StreamingMultipartParser(BOUNDARY, begin, data, lambda: None)
    for chunk in chunks:
        parser.write(chunk)
    return [(n, f, bytes(d)) for n, f, d in parts], parser.complete


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for point in [*points, len(data)]:
        pieces.append(data[last:point])
        last = point
    return pieces


# Payloads full of near-delimiters: CRLF, dashes and pieces of the boundary.
tricky = st.lists(
    st.sampled_from([b"\r\n", b"--", b"\r\n--", b"xYz", BOUNDARY[:-1], b"a", b"\x00", b"\r"]),
    max_size=60,
).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(
    payload=tricky | st.binary(max_size=2000), cuts=st.lists(st.integers(0, 10_000), max_size=12)
)
def test_any_split_gives_the_same_parts(payload: bytes, cuts: list[int]) -> None:
    body = body_of({"purpose": "batch", "note": "a\r\n-b"}, payload)
    parts, complete = parse(split(body, cuts))
    assert complete
    assert parts == [
        ("purpose", None, b"batch"),
        ("note", None, b"a\r\n-b"),
        ("file", "f.bin", payload),
    ]


def test_unicode_and_rfc2231_filenames() -> None:
    body = body_of({}, b"x", filename="模型.gguf")
    assert parse([body])[0][0][1] == "模型.gguf"
    encoded = body.replace(
        'filename="模型.gguf"'.encode(), b"filename*=UTF-8''%E6%A8%A1%E5%9E%8B.gguf"
    )
    assert parse([encoded])[0][0][1] == "模型.gguf"


def test_truncated_body_is_not_complete() -> None:
    body = body_of({}, b"0123456789" * 100)
    _parts, complete = parse([body[: len(body) // 2]])
    assert not complete


def test_garbage_is_rejected() -> None:
    with pytest.raises(MultipartError):
        parse([b"\x00" * 70_000])
    with pytest.raises(MultipartError):
        parse([b"--" + BOUNDARY + b"XX"])


def test_part_headers_over_the_limit_are_refused_in_one_chunk_or_many() -> None:
    body = body_of({}, b"data", filename="n" * 20_000)
    with pytest.raises(MultipartError, match="too large"):
        parse([body])
    with pytest.raises(MultipartError, match="too large"):
        parse(split(body, list(range(0, len(body), 1000))))


def test_a_raw_line_break_inside_a_quoted_filename_does_not_cut_it() -> None:
    body = body_of({}, b"data", filename="two\r\nlines\n.txt")
    parts, complete = parse([body])
    assert complete and parts == [("file", "twolines.txt", b"data")]
