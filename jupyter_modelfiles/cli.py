"""``jupyter modelfiles VERB ...``: the terminal face.

Talks to a running Jupyter server (found like the kernel client does, or ``--url/--token``);
``download --standalone`` runs the download engine in this process instead. Downloads and
uploads show tqdm progress bars. Exit status: 0 ok, 1 the server refused, 2 bad usage,
3 a download failed or was cancelled, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .client import ModelFilesClient
from .errors import ModelFilesError
from .formatting import (
    describe_job,
    files_table,
    job_label,
    model_files_table,
    models_table,
    status_table,
)

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jupyter modelfiles",
        description="Get, keep and use model files through a running Jupyter server.",
    )
    parser.add_argument("--url", help="the Jupyter server URL (default: discovered)")
    parser.add_argument("--token", help="the Jupyter server token")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True

    p = verbs.add_parser("list", help="list catalog models")
    p.add_argument("search", nargs="?", help="text to search for")
    p.add_argument("--source", help="hub, manifest, custom or local")

    p = verbs.add_parser("files", help="list uploaded files, or the files of a model")
    p.add_argument("model", nargs="?", help="a catalog model id")
    p.add_argument("--search", "-s")
    p.add_argument("--purpose", "-p")
    p.add_argument("--page", type=_non_negative, default=0)
    p.add_argument("--page-size", type=_positive, default=20)

    p = verbs.add_parser("download", help="download a URL or a catalog model")
    p.add_argument("target", help="a catalog model id, a Hugging Face URL or any URL")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--file", "-f", help="one file of the model (for a URL: save as)")
    which.add_argument("--quant", "-q", help="a quantization, e.g. Q4_K_M")
    p.add_argument("--sha256", help="expected SHA-256 of a URL download")
    p.add_argument("--no-wait", action="store_true", help="start the job and return")
    p.add_argument(
        "--standalone",
        action="store_true",
        help="run the download engine in this process (no server); needs --output",
    )
    p.add_argument("--output", "-o", help="with --standalone: the file or directory to write")

    p = verbs.add_parser("status", help="show download jobs (all, or one)")
    p.add_argument("job", nargs="?")
    for verb in ("pause", "resume"):
        p = verbs.add_parser(verb, help=f"{verb} a download job")
        p.add_argument("job")
    p = verbs.add_parser("cancel", help="cancel a download job, or a model's downloads")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("job", nargs="?")
    target.add_argument("--model", "-m")

    p = verbs.add_parser("upload", help="upload a file to the files store")
    p.add_argument("path")
    p.add_argument("--purpose", "-p", default="user_data")
    p.add_argument("--filename")

    p = verbs.add_parser("get", help="save a stored file's content to a path")
    p.add_argument("file_id")
    p.add_argument("dest", nargs="?", default=".")

    p = verbs.add_parser("delete", help="delete a stored file")
    p.add_argument("file_id")

    p = verbs.add_parser("url", help="print a signed URL of a stored file")
    p.add_argument("file_id")
    p.add_argument("--expiry", type=float, help="hours until the URL expires")

    for verb in ("load", "unload"):
        p = verbs.add_parser(verb, help=f"{verb} a downloaded model")
        p.add_argument("model")
    return parser


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


class Cli:
    """The verbs, printing tables (or JSON with ``--json``)."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self._client: ModelFilesClient | None = None

    @property
    def client(self) -> ModelFilesClient:
        if self._client is None:
            self._client = ModelFilesClient(self.args.url, self.args.token)
        return self._client

    def out(self, payload: Any, text: str) -> None:
        print(json.dumps(payload, indent=2, default=str) if self.args.json else text)

    def run(self) -> int:
        verb = self.args.verb
        return int(getattr(self, f"do_{verb}")() or 0)

    def do_list(self) -> None:
        from .widgets._models import models_of

        models = models_of(self.client.list_models(self.args.search, source=self.args.source))
        self.out(models, models_table(models) if models else "no models")

    def do_files(self) -> None:
        if self.args.model:
            files = self.client.model_files(self.args.model)
            self.out(files, model_files_table(files))
            return
        listing = self.client.list_files(
            page=self.args.page,
            page_size=self.args.page_size,
            search=self.args.search,
            purpose=self.args.purpose,
        )
        text = files_table(listing["data"]) if listing["data"] else "no files"
        if listing.get("total") is not None:
            text += f"\npage {self.args.page} · {listing['total']} files in all"
        self.out(listing, text)

    def do_download(self) -> int:
        if self.args.standalone:
            return self._standalone_download()
        from .widgets import start_download

        jobs = start_download(
            self.client, self.args.target, self.args.file, self.args.quant, self.args.sha256
        )
        if self.args.no_wait or not jobs:
            self.out(jobs, "\n".join(f"{j.get('job_id', '')}  {describe_job(j)}" for j in jobs))
            return 0
        final = follow(self.client, jobs, quiet=self.args.json)
        self.out(final, "\n".join(f"{j.get('job_id')}  {describe_job(j)}" for j in final))
        ok = all(j.get("status") in ("completed", "already_downloaded") for j in final)
        return 0 if ok else 3

    def _standalone_download(self) -> int:
        if not self.args.output:
            raise UsageProblem("download --standalone needs --output FILE_OR_DIR")
        if not self.args.target.startswith(("http://", "https://")):
            raise UsageProblem("download --standalone takes a URL (the catalog needs a server)")
        from .standalone import download_url

        result = download_url(
            self.args.target,
            Path(self.args.output),
            sha256=self.args.sha256,
            filename=self.args.file,
            quiet=self.args.json,
        )
        self.out(result, f"{result['path']}  {result['bytes']} bytes  sha256 {result['sha256']}")
        return 0

    def do_status(self) -> None:
        if self.args.job:
            job = self.client.download_status(self.args.job)
            self.out(job, describe_job(job))
        else:
            groups = self.client.download_status()
            self.out(groups, status_table(groups))

    def do_pause(self) -> None:
        job = self.client.pause_download(self.args.job)
        self.out(job, describe_job(job))

    def do_resume(self) -> None:
        job = self.client.resume_download(self.args.job)
        self.out(job, describe_job(job))

    def do_cancel(self) -> None:
        if self.args.model:
            answer = self.client.cancel_model_download(self.args.model)
            self.out(answer, f"cancelled the downloads of {self.args.model}")
        else:
            job = self.client.cancel_download(self.args.job)
            self.out(job, describe_job(job))

    def do_upload(self) -> None:
        from tqdm import tqdm

        path = Path(self.args.path).expanduser()
        if not path.is_file():
            raise UsageProblem(f"{self.args.path} is not a file")
        with tqdm(
            total=path.stat().st_size,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=path.name,
            disable=self.args.json,
        ) as bar:
            record = self.client.upload_file(
                path,
                self.args.purpose,
                filename=self.args.filename,
                progress=lambda done, _total: bar.update(done - bar.n),
            )
        self.out(record, f"{record['id']}  {record['filename']}  {record['bytes']} bytes")

    def do_get(self) -> None:
        from tqdm import tqdm

        with tqdm(unit="B", unit_scale=True, unit_divisor=1024, disable=self.args.json) as bar:

            def progress(done: int, total: int | None) -> None:
                if total is not None and bar.total != total:
                    bar.total = total
                bar.update(done - bar.n)

            path = self.client.download_file(self.args.file_id, self.args.dest, progress=progress)
        self.out({"path": str(path)}, str(path))

    def do_delete(self) -> None:
        answer = self.client.delete_file(self.args.file_id)
        self.out(answer, f"deleted {answer.get('id', self.args.file_id)}")

    def do_url(self) -> None:
        url = self.client.file_url(self.args.file_id, self.args.expiry)
        self.out({"url": url}, url)

    def do_load(self) -> None:
        answer = self.client.load_model(self.args.model)
        self.out(answer, f"loaded {self.args.model}")

    def do_unload(self) -> None:
        answer = self.client.unload_model(self.args.model)
        self.out(answer, f"unloaded {self.args.model}")


class UsageProblem(Exception):
    """Bad command-line input found after parsing (exit status 2)."""


def follow(
    client: ModelFilesClient,
    jobs: list[dict[str, Any]],
    *,
    poll: float = 0.2,
    quiet: bool = False,
) -> list[dict[str, Any]]:
    """Show a tqdm bar per job until every job ends; returns the final statuses."""
    from tqdm import tqdm

    from .client import TERMINAL_STATUSES

    state = {str(job.get("job_id")): job for job in jobs}
    bars = {
        job_id: tqdm(
            total=job.get("total_size_bytes") or None,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=job_label(job)[:40],
            position=index,
            leave=True,
            disable=quiet,
        )
        for index, (job_id, job) in enumerate(state.items())
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
    try:
        return Cli(args).run()
    except UsageProblem as problem:
        parser.print_usage(sys.stderr)
        print(f"jupyter modelfiles: error: {problem}", file=sys.stderr)
        return 2
    except ModelFilesError as error:
        print(f"jupyter modelfiles: {error.message} [{error.code}]", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
