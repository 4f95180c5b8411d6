"""``jupyter modelfiles`` as a subprocess against the live server."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from .conftest import Live

REPO = Path(__file__).resolve().parents[2]


async def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    environ = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    for name in ("JUPYTER_MODELFILES_URL", "JUPYTER_MODELFILES_TOKEN", "JPY_PARENT_PID"):
        if not env or name not in env:
            environ.pop(name, None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "jupyter_modelfiles.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environ,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_upload_list_get_url_delete(live: Live, tmp_path: Path) -> None:
    data = os.urandom(2 * 1024 * 1024 + 3)
    (tmp_path / "weights.bin").write_bytes(data)
    auth = ("--url", live.url, "--token", live.token)
    code, out, err = await cli(*auth, "--json", "upload", str(tmp_path / "weights.bin"))
    assert code == 0, err
    record = json.loads(out)
    assert record["bytes"] == len(data)

    code, out, _ = await cli(*auth, "files", "--search", "weights")
    assert code == 0 and record["id"] in out and "2.0 MiB" in out

    # Discovery through the environment, as in a terminal opened by Jupyter.
    env = {"JUPYTER_MODELFILES_URL": live.api_url, "JUPYTER_MODELFILES_TOKEN": live.token}
    code, out, err = await cli("get", record["id"], str(tmp_path / "copy.bin"), env=env)
    assert code == 0, err
    assert (tmp_path / "copy.bin").read_bytes() == data
    assert "100%" in err  # the tqdm bar

    code, out, _ = await cli(*auth, "url", record["id"], "--expiry", "1")
    assert code == 0 and out.strip().startswith(live.url) and "signature=" in out

    code, out, _ = await cli(*auth, "delete", record["id"])
    assert code == 0 and f"deleted {record['id']}" in out
    code, _, err = await cli(*auth, "delete", record["id"])
    assert code == 1 and "NOT_FOUND" in err


async def test_bad_usage_and_no_server(live: Live, tmp_path: Path) -> None:
    code, _, err = await cli("--url", live.url, "--token", live.token, "files", "--page-size", "0")
    assert code == 2 and "must be >= 1" in err
    code, _, err = await cli("--url", live.url, "--token", live.token, "upload", "/no/such/file")
    assert code == 2 and "not a file" in err
    code, _, err = await cli("download", "x", "--file", "a", "--quant", "b")
    assert code == 2 and "not allowed with" in err
    code, _, err = await cli("files", env={"JUPYTER_RUNTIME_DIR": str(tmp_path)})
    assert code == 1 and "no Jupyter server with jupyter-modelfiles was found" in err
    code, _, err = await cli("--url", live.url, "--token", "wrong", "files")
    assert code == 1 and "FORBIDDEN" in err and "token" in err


async def test_standalone_download_verifies_and_fails_clearly(tmp_path: Path) -> None:
    import hashlib

    from ..origin import running_origin

    with running_origin() as origin:
        data = origin.add("model.gguf", 5 * 1024 * 1024 + 11, seed=3)
        digest = hashlib.sha256(data).hexdigest()
        code, out, err = await cli(
            "--json",
            "download",
            "--standalone",
            origin.url("model.gguf"),
            "--sha256",
            digest,
            "-o",
            str(tmp_path),
        )
        assert code == 0, err
        result = json.loads(out)
        assert result == {
            "path": str(tmp_path / "model.gguf"),
            "bytes": len(data),
            "sha256": digest,
        }
        assert (tmp_path / "model.gguf").read_bytes() == data
        assert not list(tmp_path.glob(".model.gguf.*"))  # no partial or journal left

        code, _, err = await cli(
            "download",
            "--standalone",
            origin.url("model.gguf"),
            "--sha256",
            "0" * 64,
            "-o",
            str(tmp_path / "bad.gguf"),
        )
        assert code == 1 and "UPSTREAM_ERROR" in err and "not published" in err
        assert not (tmp_path / "bad.gguf").exists()

        code, _, err = await cli("download", "--standalone", origin.url("model.gguf"))
        assert code == 2 and "--output" in err

        # "-o models/" names a directory even before it exists (it used to become a file
        # called "models": Path() drops the trailing slash).
        code, out, err = await cli(
            "download", "--standalone", origin.url("model.gguf"), "-o", f"{tmp_path}/new/"
        )
        assert code == 0, err
        assert (tmp_path / "new" / "model.gguf").read_bytes() == data


async def run_python(code: str, cwd: Path) -> None:
    """Run ``code`` in a fresh interpreter (this checkout on its path); it must exit 0."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=cwd,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, (out.decode(), err.decode())


async def test_a_standalone_download_never_imports_httpx(tmp_path: Path) -> None:
    """``download --standalone`` needs no HTTP client library: httpx (about 14 MiB of RSS)
    stays out of the process, and so do team mode and huggingface_hub (the engine's journal
    uses one helper of ``team``; the package used to import its coordinators, 0.13 s)."""
    from ..origin import running_origin

    with running_origin() as origin:
        origin.add("x.bin", 1024 * 1024)
        code = (
            "import sys\nfrom jupyter_modelfiles.cli import main\n"
            f"code = main(['download', '--standalone', {origin.url('x.bin')!r}, '-o', 'x.bin'])\n"
            "assert code == 0, code\n"
            "assert 'httpx' not in sys.modules and 'ipywidgets' not in sys.modules\n"
            "heavy = {'huggingface_hub', 'asyncio', 'jupyter_modelfiles.team.coordinator'}\n"
            "assert not heavy & set(sys.modules), heavy & set(sys.modules)\n"
        )
        await run_python(code, tmp_path)
    assert (tmp_path / "x.bin").stat().st_size == 1024 * 1024


async def test_the_command_line_never_imports_ipywidgets(live: Live, tmp_path: Path) -> None:
    """A fresh interpreter imports the CLI, then runs verbs, without loading the widget stack."""
    for code in (
        "import sys, jupyter_modelfiles.cli\nassert 'ipywidgets' not in sys.modules\n",
        (
            "import sys\nfrom jupyter_modelfiles.cli import main\n"
            f"codes = [main(['--url', {live.url!r}, '--token', {live.token!r}, *verb])"
            " for verb in (['files'], ['status'], ['download', 'nowhere/model'])]\n"
            "assert 'ipywidgets' not in sys.modules, sorted(sys.modules)\n"
            "assert codes == [0, 0, 1], codes\n"
        ),
    ):
        await run_python(code, tmp_path)
