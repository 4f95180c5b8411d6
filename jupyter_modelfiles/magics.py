"""IPython magics: ``%modelfiles VERB ...`` and ``%download MODEL_OR_URL``.

``%load_ext jupyter_modelfiles`` registers them. Every verb talks to the running Jupyter
server through :class:`~jupyter_modelfiles.client.ModelFilesClient`; server errors and bad
arguments become ``UsageError`` with the server's message.
"""

from __future__ import annotations

import argparse
import json
import shlex
from collections.abc import Callable
from typing import Any, NoReturn

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from .client import ModelFilesClient
from .errors import ModelFilesError
from .formatting import (
    describe_job,
    files_table,
    model_files_table,
    models_table,
    status_table,
)

__all__ = ["ModelFilesMagics", "register"]

VERBS = (
    "list",
    "files",
    "download",
    "status",
    "pause",
    "resume",
    "cancel",
    "upload",
    "load",
    "unload",
)


class VerbParser(argparse.ArgumentParser):
    """An argparse parser whose errors are ``UsageError`` (never ``SystemExit``)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}\n{self.format_usage().strip()}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise UsageError(message or f"{self.prog}: exit {status}")


def _parser(verb: str, description: str) -> VerbParser:
    return VerbParser(prog=f"%modelfiles {verb}", description=description, add_help=False)


def _build_parsers() -> dict[str, VerbParser]:
    parsers: dict[str, VerbParser] = {}
    p = parsers["list"] = _parser("list", "List catalog models.")
    p.add_argument("search", nargs="?", default=None, help="text to search for")
    p.add_argument("--source", default=None, help="hub, manifest, custom or local")
    p = parsers["files"] = _parser(
        "files", "List uploaded files, or with MODEL the files of a catalog model."
    )
    p.add_argument("model", nargs="?", default=None, help="a catalog model id")
    p.add_argument("--search", "-s", default=None, help="filter uploaded files by name")
    p.add_argument("--purpose", "-p", default=None, help="filter uploaded files by purpose")
    p.add_argument("--page", type=int, default=0, help="page number (0-based)")
    p.add_argument("--page-size", type=int, default=20, help="files per page")
    p = parsers["download"] = _parser("download", "Download a URL or a catalog model.")
    _download_arguments(p)
    p = parsers["status"] = _parser("status", "Show all download jobs, or one job.")
    p.add_argument("job", nargs="?", default=None, help="a job id")
    for verb in ("pause", "resume"):
        p = parsers[verb] = _parser(verb, f"{verb.capitalize()} a download job.")
        p.add_argument("job", help="a job id")
    p = parsers["cancel"] = _parser("cancel", "Cancel a download job (or a model's downloads).")
    p.add_argument("job", nargs="?", default=None, help="a job id")
    p.add_argument("--model", "-m", default=None, help="cancel every download of this model")
    p = parsers["upload"] = _parser("upload", "Upload a file from the kernel's disk.")
    p.add_argument("path", help="the file to upload")
    p.add_argument("--purpose", "-p", default="user_data", help="the file's purpose")
    p.add_argument("--filename", default=None, help="store under this name")
    for verb in ("load", "unload"):
        p = parsers[verb] = _parser(verb, f"{verb.capitalize()} a downloaded model.")
        p.add_argument("model", help="a catalog model id")
    return parsers


def _download_arguments(parser: Any) -> None:
    parser.add_argument("target", help="a catalog model id, a Hugging Face URL or any URL")
    parser.add_argument("--file", "-f", default=None, help="one file of the model (or a name)")
    parser.add_argument("--quant", "-q", default=None, help="a quantization, e.g. Q4_K_M")
    parser.add_argument("--sha256", default=None, help="expected SHA-256 of a URL download")
    parser.add_argument("--wait", action="store_true", help="block until the download ends")


def _usage() -> str:
    parsers = _build_parsers()
    lines = ["%modelfiles VERB [ARGS]  (verbs: " + ", ".join(VERBS) + ")", ""]
    for verb in VERBS:
        lines.append(parsers[verb].format_usage().replace("usage: ", "  ").rstrip())
    return "\n".join(lines)


@magics_class
class ModelFilesMagics(Magics):
    """``%modelfiles`` and ``%download``."""

    def __init__(self, shell: Any = None, client: ModelFilesClient | None = None):
        super().__init__(shell)
        self._client = client
        self._parsers = _build_parsers()

    @property
    def client(self) -> ModelFilesClient:
        if self._client is None:
            try:
                self._client = ModelFilesClient()
            except ModelFilesError as error:
                raise UsageError(error.message) from None
        return self._client

    @line_magic
    def modelfiles(self, line: str) -> Any:
        try:
            words = shlex.split(line)
        except ValueError as error:
            raise UsageError(f"%modelfiles: {error}") from None
        if not words or words[0] in ("-h", "--help", "help"):
            print(_usage())
            return None
        verb, rest = words[0], words[1:]
        if verb not in self._parsers:
            raise UsageError(f"%modelfiles: unknown verb {verb!r}.\n{_usage()}")
        if "-h" in rest or "--help" in rest:
            print(self._parsers[verb].format_help())
            return None
        args = self._parsers[verb].parse_args(rest)
        handler: Callable[[Any], Any] = getattr(self, f"_do_{verb}")
        try:
            return handler(args)
        except ModelFilesError as error:
            raise UsageError(f"%modelfiles {verb}: {error.message} [{error.code}]") from None

    modelfiles.__doc__ = "Manage model files from the notebook.\n\n" + _usage()

    @magic_arguments()
    @argument("target", help="a catalog model id, a Hugging Face URL or any URL")
    @argument("--file", "-f", default=None, help="one file of the model (or a name to save as)")
    @argument("--quant", "-q", default=None, help="a quantization, e.g. Q4_K_M")
    @argument("--sha256", default=None, help="expected SHA-256 of a URL download")
    @argument("--wait", action="store_true", help="block until the download ends")
    @line_magic
    def download(self, line: str) -> Any:
        """Download a model or URL with a live progress bar; returns the job."""
        args = parse_argstring(self.download, line)
        try:
            return self._do_download(args)
        except ModelFilesError as error:
            raise UsageError(f"%download: {error.message} [{error.code}]") from None

    # -- verbs --------------------------------------------------------------------------
    def _do_list(self, args: Any) -> None:
        from .widgets import models_of

        models = models_of(self.client.list_models(args.search, source=args.source))
        print(models_table(models) if models else "no models")

    def _do_files(self, args: Any) -> None:
        if args.model:
            print(model_files_table(self.client.model_files(args.model)))
            return
        if args.page < 0 or args.page_size < 1:
            raise UsageError("%modelfiles files: --page must be >= 0 and --page-size >= 1")
        listing = self.client.list_files(
            page=args.page, page_size=args.page_size, search=args.search, purpose=args.purpose
        )
        print(files_table(listing["data"]) if listing["data"] else "no files")
        if listing.get("total") is not None:
            print(f"page {args.page} · {listing['total']} files in all")

    def _do_download(self, args: Any) -> Any:
        if args.file and args.quant:
            raise UsageError("choose one of --file and --quant, not both")
        from .widgets import download

        result = download(
            args.target, args.file, args.quant, sha256=args.sha256, client=self.client
        )
        if args.wait:
            for job in result if isinstance(result, list) else [result]:
                if job.id:
                    job.wait()
        return result

    def _do_status(self, args: Any) -> None:
        if args.job:
            print(describe_job(self.client.download_status(args.job)))
        else:
            print(status_table(self.client.download_status()))

    def _do_pause(self, args: Any) -> None:
        print(describe_job(self.client.pause_download(args.job)))

    def _do_resume(self, args: Any) -> None:
        print(describe_job(self.client.resume_download(args.job)))

    def _do_cancel(self, args: Any) -> None:
        if bool(args.job) == bool(args.model):
            raise UsageError("%modelfiles cancel: give a JOB id or --model MODEL (one of them)")
        if args.model:
            self.client.cancel_model_download(args.model)
            print(f"cancelled the downloads of {args.model}")
        else:
            print(describe_job(self.client.cancel_download(args.job)))

    def _do_upload(self, args: Any) -> dict[str, Any]:
        from pathlib import Path

        from tqdm.auto import tqdm

        path = Path(args.path).expanduser()
        if not path.is_file():
            raise UsageError(f"%modelfiles upload: {args.path} is not a file")
        with tqdm(
            total=path.stat().st_size,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=path.name,
        ) as bar:

            def progress(done: int, total: int | None) -> None:
                bar.update(done - bar.n)

            return self.client.upload_file(
                path, args.purpose, filename=args.filename, progress=progress
            )

    def _do_load(self, args: Any) -> None:
        print(_short(self.client.load_model(args.model)))

    def _do_unload(self, args: Any) -> None:
        print(_short(self.client.unload_model(args.model)))


def _short(payload: Any) -> str:
    if isinstance(payload, dict):
        keep = {
            k: payload[k] for k in ("id", "loaded", "loaded_rss_bytes", "status") if k in payload
        }
        return json.dumps(keep or payload, default=str)
    return json.dumps(payload, default=str)


def register(ipython: Any, client: ModelFilesClient | None = None) -> ModelFilesMagics:
    """Register the magics on an IPython shell."""
    magics = ModelFilesMagics(ipython, client)
    ipython.register_magics(magics)
    return magics
