"""Multipart parsers on a 1 GiB upload body: ours (files/multipart.py) vs two maintained ones.

Parser work only (no disk, no network, no hashing): the body is generated in 1 MiB pieces, the
size the upload handler hands to its parser, and each parser's data callback only counts bytes.
Before timing, every parser must return the exact bytes of a smaller body full of
near-delimiters (CRLF, dashes, boundary prefixes) split at awkward places.

Compared: python-multipart (``python_multipart``, used by Starlette / FastAPI) and
streaming-form-data (Cython). Install them with ``pip install python-multipart
streaming-form-data``; a missing one is reported and skipped.

Usage: python benchmarks/bench_multipart.py [--size-mib 1024] [--piece-kib 1024] [--rounds 5]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from collections.abc import Callable, Iterator

from jupyter_modelfiles.files.multipart import PartHeaders, StreamingMultipartParser

BOUNDARY = b"----benchBoundary7MA4YWxkTrZu0gW"
CONTENT_TYPE = "multipart/form-data; boundary=" + BOUNDARY.decode()
Feed = Callable[[Iterator[bytes], Callable[[bytes], None]], None]


def body(payload_pieces: Iterator[bytes]) -> Iterator[bytes]:
    yield (
        b"--" + BOUNDARY + b"\r\n"
        b'Content-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
        b"--" + BOUNDARY + b"\r\n"
        b'Content-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
    )
    yield from payload_pieces
    yield b"\r\n--" + BOUNDARY + b"--\r\n"


def random_payload(size: int, piece: int) -> Iterator[bytes]:
    block = os.urandom(piece)
    for i in range(size // piece):
        yield i.to_bytes(8, "little") + block[8:]


def tricky_payload() -> bytes:
    parts = [b"\r\n", b"--", b"\r\n--", BOUNDARY[:-1], b"\r\n--" + BOUNDARY[:-3], b"x" * 999]
    return b"".join(parts[(i * 7) % len(parts)] for i in range(40_000))


def rechunk(pieces: Iterator[bytes], size: int) -> Iterator[bytes]:
    buffer = b""
    for piece in pieces:
        buffer += piece
        while len(buffer) >= size:
            yield buffer[:size]
            buffer = buffer[size:]
    if buffer:
        yield buffer


# -- the parsers, each fed the same pieces -------------------------------------------------
def ours(pieces: Iterator[bytes], on_file_data: Callable[[bytes], None]) -> None:
    current = {"file": False}

    def begin(headers: PartHeaders) -> None:
        current["file"] = headers.name == "file"

    def data(chunk: bytes) -> None:
        if current["file"]:
            on_file_data(chunk)

    parser = StreamingMultipartParser(BOUNDARY, begin, data, lambda: None)
    for piece in pieces:
        parser.write(piece)
    assert parser.complete


def python_multipart(pieces: Iterator[bytes], on_file_data: Callable[[bytes], None]) -> None:
    from python_multipart.multipart import MultipartParser

    state = {"header": b"", "value": b"", "file": False}

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["header"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        if state["header"].lower() == b"content-disposition":
            state["file"] = b'name="file"' in state["value"]
        state["header"] = state["value"] = b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["file"]:
            on_file_data(data[start:end])

    parser = MultipartParser(
        BOUNDARY,
        callbacks={
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
        },
    )
    for piece in pieces:
        parser.write(piece)
    parser.finalize()


def streaming_form_data(pieces: Iterator[bytes], on_file_data: Callable[[bytes], None]) -> None:
    from streaming_form_data import StreamingFormDataParser
    from streaming_form_data.targets import BaseTarget, ValueTarget

    class Target(BaseTarget):
        def on_data_received(self, chunk: bytes) -> None:
            on_file_data(chunk)

    parser = StreamingFormDataParser(headers={"Content-Type": CONTENT_TYPE})
    parser.register("file", Target())
    parser.register("purpose", ValueTarget())
    for piece in pieces:
        parser.data_received(piece)


def baseline(pieces: Iterator[bytes], on_file_data: Callable[[bytes], None]) -> None:
    """No parser: the cost of generating the pieces, included in every other row."""
    first = True
    for piece in pieces:
        if not first and not piece.startswith(b"\r\n--"):
            on_file_data(piece)
        first = False


PARSERS: dict[str, Feed] = {
    "(generating the body, no parser)": baseline,
    "ours (files/multipart.py, bytes.find)": ours,
    "python-multipart": python_multipart,
    "streaming-form-data (Cython)": streaming_form_data,
}


def check(name: str, feed: Feed) -> bool:
    """The parser returns the exact file bytes of a tricky body, split three ways."""
    payload = tricky_payload()
    expected = hashlib.sha256(payload).hexdigest()
    whole = b"".join(body(iter([payload])))
    for size in (1, 4093, 1 << 20):
        if size == 1:
            pieces: Iterator[bytes] = iter([whole[:5000], *rechunk(iter([whole[5000:]]), 997)])
        else:
            pieces = rechunk(iter([whole]), size)
        digest = hashlib.sha256()
        feed(pieces, digest.update)
        if digest.hexdigest() != expected:
            print(f"{name:<40} WRONG output with {size}-byte pieces")
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--piece-kib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    size, piece = args.size_mib << 20, args.piece_kib << 10
    print(f"{args.size_mib} MiB file part in {args.piece_kib} KiB pieces, best of {args.rounds}")
    ready: dict[str, Feed] = {}
    for name, feed in PARSERS.items():
        try:
            if feed is baseline or check(name, feed):
                ready[name] = feed
        except ImportError as error:
            print(f"{name:<40} not installed ({error.name})")
    best = dict.fromkeys(ready, float("inf"))
    for _ in range(args.rounds):  # round-robin, so a busy moment does not favour one parser
        for name, feed in ready.items():
            seen = [0]

            def count(chunk: bytes, seen: list[int] = seen) -> None:
                seen[0] += len(chunk)

            started = time.perf_counter()
            feed(body(random_payload(size, piece)), count)
            best[name] = min(best[name], time.perf_counter() - started)
            assert seen[0] == size, (name, seen[0], size)
    for name, seconds in best.items():
        print(f"{name:<40} {seconds:7.2f} s  {size / seconds / (1 << 20):8.1f} MiB/s")


if __name__ == "__main__":
    main()
