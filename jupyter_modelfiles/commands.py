"""The verbs of ``jupyter modelfiles`` and ``%modelfiles``, defined once.

Each verb declares its arguments and runs against a :class:`Face` (the terminal or the
notebook), returning an :class:`Outcome`: the data (``--json`` prints it), its text rendering,
the value a notebook cell gets back, and the exit status. What differs between the faces is
left to them: which progress bars to draw, and how a started download is followed.

Bad arguments found after parsing raise :class:`~jupyter_modelfiles.errors.UsageProblem`;
server errors are the other :class:`~jupyter_modelfiles.errors.ModelFilesError` classes.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from .errors import UsageProblem
from .formatting import describe_job, files_table, model_files_table, models_table, status_table

if TYPE_CHECKING:  # the client (and httpx) load only when a verb talks to a server
    from .client import ModelFilesClient, ProgressCallback

__all__ = [
    "BAR_OPTIONS",
    "VERBS",
    "CommandParser",
    "Face",
    "Outcome",
    "Verb",
    "add_verb_parsers",
    "jobs_text",
    "verb_parser",
]

#: tqdm options of the notebook's byte progress bars (the terminal's: :mod:`.terminal_bars`).
BAR_OPTIONS: dict[str, Any] = {"unit": "B", "unit_scale": True, "unit_divisor": 1024}


@dataclass(frozen=True)
class Outcome:
    """What a verb did: ``data`` for ``--json``, ``text`` for people, ``value`` for a cell."""

    data: Any
    text: str
    value: Any = None
    exit_code: int = 0


class Face(Protocol):
    """Where a verb runs: the terminal (``cli.py``) or the notebook (``magics.py``)."""

    @property
    def client(self) -> ModelFilesClient: ...

    @property
    def quiet(self) -> bool:
        """No progress bars (the terminal's ``--json``)."""
        ...

    def progress_bar(self, total: int | None, desc: str) -> Any:
        """A bar (context manager with ``total``, ``n``, ``update``) for ``total`` bytes."""
        ...

    def show_downloads(self, jobs: list[dict[str, Any]], wait: bool | None) -> Outcome:
        """Show started download jobs; follow them to their end when ``wait``."""
        ...


# -- declaring verbs ------------------------------------------------------------------------
@dataclass(frozen=True)
class Arg:
    """One ``add_argument`` call."""

    flags: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)


def arg(*flags: str, **options: Any) -> Arg:
    return Arg(flags, options)


@dataclass(frozen=True)
class OneOf:
    """Mutually exclusive arguments."""

    args: tuple[Arg, ...]


Run = Callable[[Face, argparse.Namespace], Outcome]


@dataclass(frozen=True)
class Verb:
    """A verb: its name, one line of help, its arguments and what it does."""

    name: str
    help: str
    arguments: tuple[Arg | OneOf, ...]
    run: Run

    def configure(self, parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        for item in self.arguments:
            if isinstance(item, OneOf):
                group = parser.add_mutually_exclusive_group()
                for one in item.args:
                    group.add_argument(*one.flags, **one.options)
            else:
                parser.add_argument(*item.flags, **item.options)
        parser.set_defaults(verb=self.name)
        return parser


#: Every verb, in the order help lists them.
VERBS: dict[str, Verb] = {}


def verb(name: str, help: str, *arguments: Arg | OneOf) -> Callable[[Run], Run]:
    """Register the decorated function as the verb ``name``."""

    def register(run: Run) -> Run:
        VERBS[name] = Verb(name, help, arguments, run)
        return run

    return register


class CommandParser(argparse.ArgumentParser):
    """argparse whose errors raise :class:`UsageProblem` instead of exiting (for notebooks)."""

    def error(self, message: str) -> NoReturn:
        raise UsageProblem(f"{self.prog}: {message}\n{self.format_usage().strip()}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise UsageProblem(message or f"{self.prog}: exit {status}")


def verb_parser(name: str, prog: str) -> CommandParser:
    """A parser of one verb's arguments (``prog`` e.g. ``%modelfiles download``)."""
    spec = VERBS[name]
    parser = CommandParser(prog=prog, description=spec.help[:1].upper() + spec.help[1:] + ".")
    spec.configure(parser)
    return parser


def add_verb_parsers(subparsers: Any) -> None:
    """Add every verb to an ``add_subparsers()`` object (the terminal's ``VERB``)."""
    for spec in VERBS.values():
        spec.configure(subparsers.add_parser(spec.name, help=spec.help))


def _positive(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def _non_negative(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


# -- renderings -----------------------------------------------------------------------------
def jobs_text(jobs: list[dict[str, Any]]) -> str:
    """One line per job: its id and how it stands."""
    return "\n".join(f"{job.get('job_id', '')}  {describe_job(job)}" for job in jobs)


def _short(payload: Any) -> str:
    """The model snapshot fields that say whether it is loaded, as JSON."""
    if isinstance(payload, dict):
        keep = {
            k: payload[k] for k in ("id", "loaded", "loaded_rss_bytes", "status") if k in payload
        }
        return json.dumps(keep or payload, default=str)
    return json.dumps(payload, default=str)


def _feed(bar: Any) -> ProgressCallback:
    """A client ``progress(done, total)`` callback that moves a progress bar."""

    def progress(done: int, total: int | None) -> None:
        if total is not None and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    return progress


# -- the verbs ------------------------------------------------------------------------------
@verb(
    "list",
    "list catalog models",
    arg("search", nargs="?", help="text to search for"),
    arg("--source", help="hub, manifest, custom or local"),
)
def _list(face: Face, args: argparse.Namespace) -> Outcome:
    from .client import models_of

    models = models_of(face.client.list_models(args.search, source=args.source))
    return Outcome(models, models_table(models) if models else "no models")


@verb(
    "files",
    "list uploaded files, or the files of a catalog model",
    arg("model", nargs="?", help="a catalog model id"),
    arg("--search", "-s", help="filter uploaded files by name"),
    arg("--purpose", "-p", help="filter uploaded files by purpose"),
    arg("--page", type=_non_negative, default=0, help="page number (0-based)"),
    arg("--page-size", type=_positive, default=20, help="files per page"),
)
def _files(face: Face, args: argparse.Namespace) -> Outcome:
    if args.model:
        files = face.client.model_files(args.model)
        return Outcome(files, model_files_table(files))
    listing = face.client.list_files(
        page=args.page, page_size=args.page_size, search=args.search, purpose=args.purpose
    )
    text = files_table(listing["data"]) if listing["data"] else "no files"
    if listing.get("total") is not None:
        text += f"\npage {args.page} · {listing['total']} files in all"
    return Outcome(listing, text)


@verb(
    "download",
    "download a URL or a catalog model",
    arg("target", help="a catalog model id, a Hugging Face URL or any URL"),
    OneOf(
        (
            arg("--file", "-f", help="one file of the model (for a URL: save as)"),
            arg("--quant", "-q", help="a quantization, e.g. Q4_K_M"),
        )
    ),
    arg("--sha256", help="expected SHA-256 of a URL download"),
    arg(
        "--wait",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="follow the download to its end (default: yes in a terminal, no in a notebook)",
    ),
    arg(
        "--standalone",
        action="store_true",
        help="run the download engine in this process (no server); needs --output",
    ),
    arg("--output", "-o", help="with --standalone: the file or directory to write"),
)
def _download(face: Face, args: argparse.Namespace) -> Outcome:
    if args.standalone:
        return _standalone_download(face, args)
    jobs = face.client.download(
        args.target, file=args.file, quantization=args.quant, sha256=args.sha256
    )
    return face.show_downloads(jobs, args.wait)


def _standalone_download(face: Face, args: argparse.Namespace) -> Outcome:
    if not args.output:
        raise UsageProblem("download --standalone needs --output FILE_OR_DIR")
    if not args.target.startswith(("http://", "https://")):
        raise UsageProblem("download --standalone takes a URL (the catalog needs a server)")
    from .standalone import download_url

    result = download_url(
        args.target,
        args.output,  # as typed: a trailing slash means a directory
        sha256=args.sha256,
        filename=args.file,
        quiet=face.quiet,
    )
    text = f"{result['path']}  {result['bytes']} bytes  sha256 {result['sha256']}"
    return Outcome(result, text)


@verb(
    "status",
    "show download jobs (all, or one)",
    arg("job", nargs="?", help="a job id"),
)
def _status(face: Face, args: argparse.Namespace) -> Outcome:
    if args.job:
        job = face.client.download_status(args.job)
        return Outcome(job, describe_job(job))
    groups = face.client.download_status()
    return Outcome(groups, status_table(groups))


@verb("pause", "pause a download job", arg("job", help="a job id"))
def _pause(face: Face, args: argparse.Namespace) -> Outcome:
    job = face.client.pause_download(args.job)
    return Outcome(job, describe_job(job))


@verb("resume", "resume a download job", arg("job", help="a job id"))
def _resume(face: Face, args: argparse.Namespace) -> Outcome:
    job = face.client.resume_download(args.job)
    return Outcome(job, describe_job(job))


@verb(
    "cancel",
    "cancel a download job, or a model's downloads",
    arg("job", nargs="?", help="a job id"),
    arg("--model", "-m", help="cancel every download of this model"),
)
def _cancel(face: Face, args: argparse.Namespace) -> Outcome:
    if bool(args.job) == bool(args.model):
        raise UsageProblem("give a JOB id or --model MODEL (one of them)")
    if args.model:
        answer = face.client.cancel_model_download(args.model)
        return Outcome(answer, f"cancelled the downloads of {args.model}")
    job = face.client.cancel_download(args.job)
    return Outcome(job, describe_job(job))


@verb(
    "upload",
    "upload a file to the files store",
    arg("path", help="the file to upload"),
    arg("--purpose", "-p", default="user_data", help="the file's purpose"),
    arg("--filename", help="store under this name"),
)
def _upload(face: Face, args: argparse.Namespace) -> Outcome:
    path = Path(args.path).expanduser()
    if not path.is_file():
        raise UsageProblem(f"{args.path} is not a file")
    with face.progress_bar(path.stat().st_size, path.name) as bar:
        record = face.client.upload_file(
            path, args.purpose, filename=args.filename, progress=_feed(bar)
        )
    text = f"{record['id']}  {record['filename']}  {record['bytes']} bytes"
    return Outcome(record, text, value=record)


@verb(
    "get",
    "save a stored file's content to a path",
    arg("file_id", help="a stored file's id"),
    arg("dest", nargs="?", default=".", help="a file or directory (default: here)"),
)
def _get(face: Face, args: argparse.Namespace) -> Outcome:
    with face.progress_bar(None, args.file_id) as bar:
        path = face.client.download_file(args.file_id, args.dest, progress=_feed(bar))
    return Outcome({"path": str(path)}, str(path))


@verb("delete", "delete a stored file", arg("file_id", help="a stored file's id"))
def _delete(face: Face, args: argparse.Namespace) -> Outcome:
    answer = face.client.delete_file(args.file_id)
    return Outcome(answer, f"deleted {answer.get('id', args.file_id)}")


@verb(
    "url",
    "print a signed URL of a stored file",
    arg("file_id", help="a stored file's id"),
    arg("--expiry", type=float, help="hours until the URL expires"),
)
def _url(face: Face, args: argparse.Namespace) -> Outcome:
    url = face.client.file_url(args.file_id, args.expiry)
    return Outcome({"url": url}, url)


@verb("load", "load a downloaded model", arg("model", help="a catalog model id"))
def _load(face: Face, args: argparse.Namespace) -> Outcome:
    answer = face.client.load_model(args.model)
    return Outcome(answer, f"loaded {args.model}  {_short(answer)}")


@verb("unload", "unload a loaded model", arg("model", help="a catalog model id"))
def _unload(face: Face, args: argparse.Namespace) -> Outcome:
    answer = face.client.unload_model(args.model)
    return Outcome(answer, f"unloaded {args.model}  {_short(answer)}")
