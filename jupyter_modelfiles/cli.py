"""``jupyter modelfiles VERB ...``: the terminal face.

Talks to a running Jupyter server (found like the kernel client does, or ``--url/--token``);
``download --standalone`` runs the download engine in this process instead. The verbs are
:mod:`jupyter_modelfiles.commands`; this face prints their text (or JSON with ``--json``),
draws progress bars (:mod:`.terminal_bars`) for transfers and follows downloads to their
end. Exit status: 0 ok, 1 the server refused, 2 bad usage, 3 a download failed or was
cancelled, 130 interrupted.

Importing this module never imports ipywidgets (the command line has no widgets).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .commands import VERBS, Outcome, add_verb_parsers, jobs_text
from .errors import ModelFilesError, UsageProblem
from .formatting import job_label
from .terminal_bars import TerminalBars

if TYPE_CHECKING:  # httpx is imported only by verbs that talk to a server (not --standalone)
    from .client import ModelFilesClient

__all__ = ["Terminal", "build_parser", "follow", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jupyter modelfiles",
        description="Get, keep and use model files through a running Jupyter server.",
    )
    parser.add_argument("--url", help="the Jupyter server URL (default: discovered)")
    parser.add_argument("--token", help="the Jupyter server token")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    add_verb_parsers(parser.add_subparsers(dest="verb", metavar="VERB", required=True))
    return parser


class Terminal:
    """The terminal :class:`~jupyter_modelfiles.commands.Face`: progress bars on stderr."""

    def __init__(self, url: str | None, token: str | None, *, quiet: bool = False):
        self._url = url
        self._token = token
        self._quiet = quiet
        self._client: ModelFilesClient | None = None

    @property
    def client(self) -> ModelFilesClient:
        if self._client is None:
            from .client import ModelFilesClient

            self._client = ModelFilesClient(self._url, self._token)
        return self._client

    @property
    def quiet(self) -> bool:
        return self._quiet

    def progress_bar(self, total: int | None, desc: str) -> Any:
        return TerminalBars(disable=self._quiet).bar(total, desc)

    def show_downloads(self, jobs: list[dict[str, Any]], wait: bool | None) -> Outcome:
        """Follow the jobs with a bar each (unless ``--no-wait``); exit 3 if one did not end
        completed."""
        if wait is False or not jobs:
            return Outcome(jobs, jobs_text(jobs))
        final = follow(self.client, jobs, quiet=self._quiet)
        ok = all(job.get("status") in ("completed", "already_downloaded") for job in final)
        return Outcome(final, jobs_text(final), exit_code=0 if ok else 3)


def follow(
    client: ModelFilesClient,
    jobs: list[dict[str, Any]],
    *,
    poll: float = 0.2,
    quiet: bool = False,
) -> list[dict[str, Any]]:
    """Show a bar per job until every job ends; returns the final statuses."""
    from .client import TERMINAL_STATUSES

    state = {str(job.get("job_id")): job for job in jobs}
    board = TerminalBars(disable=quiet)
    bars = {
        job_id: board.bar(job.get("total_size_bytes") or None, job_label(job)[:40])
        for job_id, job in state.items()
    }
    try:
        while True:
            for job_id in list(state):
                job = state[job_id]
                if job.get("status") not in TERMINAL_STATUSES and job_id:
                    job = state[job_id] = client.get_download(job_id)
                bar = bars[job_id]
                total = job.get("total_size_bytes")
                if total and bar.total != total:
                    bar.total = total
                bar.update(int(job.get("downloaded_bytes") or 0) - bar.n)
                bar.set_postfix_str(str(job.get("status", "")), refresh=False)
            if all(j.get("status") in TERMINAL_STATUSES or not k for k, j in state.items()):
                return list(state.values())
            time.sleep(poll)
    finally:
        for bar in bars.values():
            bar.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    face = Terminal(args.url, args.token, quiet=args.json)
    try:
        outcome = VERBS[args.verb].run(face, args)
    except UsageProblem as problem:
        parser.print_usage(sys.stderr)
        print(f"jupyter modelfiles: error: {problem.message}", file=sys.stderr)
        return 2
    except ModelFilesError as error:
        print(f"jupyter modelfiles: {error.message} [{error.code}]", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print(json.dumps(outcome.data, indent=2, default=str) if args.json else outcome.text)
    return outcome.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
