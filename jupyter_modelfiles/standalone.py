"""``jupyter modelfiles download --standalone``: the download engine in this process.

No server, no catalog: one URL to one file, with the engine's ranged connections, durable
journal and SHA-256 verification. Unless ``connections`` is given, the download starts with
one connection and opens more only when that one is slow (an origin that limits each
connection); on a fast link one connection is the quickest and cheapest. Interrupting
(Ctrl-C) keeps the partial file and journal next to the target, so running the same command
again resumes.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .errors import InvalidRequest, UpstreamError
from .terminal_bars import TerminalBars

__all__ = ["download_url", "target_for"]


def target_for(url: str, output: str | Path, filename: str | None = None) -> Path:
    """``output`` itself, or ``output/<name>`` when it is a directory or ends with ``/`` (the
    name from the URL). Give the text as typed: ``Path("models/")`` has lost its slash."""
    ends_with_slash = isinstance(output, str) and output.endswith(("/", os.sep))
    output = Path(output).expanduser()
    if output.is_dir() or ends_with_slash:
        name = filename or unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        if not name or name in (".", ".."):
            raise InvalidRequest(f"cannot tell a file name from {url!r}; pass --file NAME")
        return output / Path(name).name
    return output


def download_url(
    url: str,
    output: str | Path,
    *,
    sha256: str | None = None,
    filename: str | None = None,
    connections: int | None = None,
    quiet: bool = False,
) -> dict[str, Any]:
    """Download ``url`` to ``output`` with a progress bar on stderr (unless ``quiet``);
    returns ``{path, bytes, sha256}``."""
    from .downloads.engine import (
        DEFAULT_SPLIT_BELOW,
        DownloadError,
        EngineConfig,
        FileDownload,
        Stopped,
    )

    dest = target_for(url, output, filename)
    dest.parent.mkdir(parents=True, exist_ok=True)
    config = EngineConfig()
    if connections:
        config.connections = connections  # asked for: split at once
    else:
        config.split_below = DEFAULT_SPLIT_BELOW  # split only where one connection is slow
    bar = TerminalBars(disable=quiet).bar(None, dest.name[:40])
    lock = threading.Lock()

    def progress(done: int, total: int | None) -> None:
        with lock:
            if total is not None and bar.total != total:
                bar.total = total
            bar.update(done - bar.n)

    engine = FileDownload(
        url,
        dest,
        dest.with_name(f".{dest.name}.partial"),
        dest.with_name(f".{dest.name}.journal"),
        sha256=sha256,
        config=config,
        on_progress=progress,
    )
    try:
        result = engine.run()
    except KeyboardInterrupt:
        engine.stop("pause")
        raise
    except DownloadError as error:
        raise UpstreamError(error.message) from None
    except Stopped as stopped:  # pragma: no cover - only stop() from Ctrl-C above
        raise UpstreamError(f"download stopped: {stopped.reason}") from None
    finally:
        bar.close()
    return {"path": str(result.path), "bytes": result.size, "sha256": result.sha256}
