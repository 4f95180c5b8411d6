"""IPython magics: ``%modelfiles VERB ...`` and ``%download MODEL_OR_URL``.

``%load_ext jupyter_modelfiles`` registers them. The verbs are those of the command line
(:mod:`jupyter_modelfiles.commands`); this face prints their text, returns a value where a
cell wants one (the uploaded file's record, the download :class:`~jupyter_modelfiles.widgets.Job`
handles), draws notebook progress bars and shows started downloads as live widgets. Server
errors and bad arguments become ``UsageError`` with the server's message.
"""

from __future__ import annotations

import shlex
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class

from .client import ModelFilesClient
from .commands import BAR_OPTIONS, VERBS, Outcome, jobs_text, verb_parser
from .errors import ModelFilesError, UsageProblem

__all__ = ["ModelFilesMagics", "register"]


def _usage() -> str:
    lines = ["%modelfiles VERB [ARGS]  (verbs: " + ", ".join(VERBS) + ")", ""]
    for verb in VERBS:
        usage = verb_parser(verb, f"%modelfiles {verb}").format_usage()
        lines.append(usage.replace("usage: ", "  ").rstrip())
    return "\n".join(lines)


@magics_class
class ModelFilesMagics(Magics):
    """``%modelfiles`` and ``%download``: the notebook's
    :class:`~jupyter_modelfiles.commands.Face`."""

    def __init__(self, shell: Any = None, client: ModelFilesClient | None = None):
        super().__init__(shell)
        self._client = client

    # -- the Face -----------------------------------------------------------------------
    @property
    def client(self) -> ModelFilesClient:
        if self._client is None:
            self._client = ModelFilesClient()
        return self._client

    @property
    def quiet(self) -> bool:
        return False

    def progress_bar(self, total: int | None, desc: str) -> Any:
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, **BAR_OPTIONS)

    def show_downloads(self, jobs: list[dict[str, Any]], wait: bool | None) -> Outcome:
        """A live progress widget; the :class:`Job` (or :class:`JobGroup`), waited for if
        ``wait``."""
        from .widgets import show_jobs

        handle = show_jobs(jobs, self.client)
        if wait and handle.id:
            handle.wait()
        return Outcome(jobs, jobs_text(jobs), value=handle)

    # -- the magics ---------------------------------------------------------------------
    @line_magic
    def modelfiles(self, line: str) -> Any:
        words = _split(line, "%modelfiles")
        if not words or words[0] in ("-h", "--help", "help"):
            print(_usage())
            return None
        verb, rest = words[0], words[1:]
        if verb not in VERBS:
            raise UsageError(f"%modelfiles: unknown verb {verb!r}.\n{_usage()}")
        return self._run(verb, rest, f"%modelfiles {verb}")

    modelfiles.__doc__ = "Manage model files from the notebook.\n\n" + _usage()

    @line_magic
    def download(self, line: str) -> Any:
        return self._run("download", _split(line, "%download"), "%download")

    download.__doc__ = (
        "Download a model or URL with a live progress bar; returns the job.\n\n"
        + verb_parser("download", "%download").format_help()
    )

    def _run(self, verb: str, words: list[str], prog: str) -> Any:
        """Parse and run one verb: print its text, or return its value."""
        parser = verb_parser(verb, prog)
        if "-h" in words or "--help" in words:
            print(parser.format_help())
            return None
        try:
            args = parser.parse_args(words)
        except UsageProblem as problem:
            raise UsageError(problem.message) from None
        try:
            outcome = VERBS[verb].run(self, args)
        except UsageProblem as problem:
            raise UsageError(f"{prog}: {problem.message}") from None
        except ModelFilesError as error:
            raise UsageError(f"{prog}: {error.message} [{error.code}]") from None
        if outcome.value is not None:
            return outcome.value
        print(outcome.text)
        return None


def _split(line: str, prog: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError as error:
        raise UsageError(f"{prog}: {error}") from None


def register(ipython: Any, client: ModelFilesClient | None = None) -> ModelFilesMagics:
    """Register the magics on an IPython shell."""
    magics = ModelFilesMagics(ipython, client)
    ipython.register_magics(magics)
    return magics
