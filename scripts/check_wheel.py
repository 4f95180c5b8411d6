"""A wheel carries the production build of the labextension, even after a development build.

Copies this checkout (the files git knows, plus the built labextension) to a temporary
directory, makes sure a development build (source maps, ``build_log.json``) lies in it, builds
a wheel with pip, and fails if the wheel's labextension has source maps, a ``build_log.json``
or an absolute path of the build machine, or lacks the files JupyterLab loads.

Run by scripts/test.sh (it takes a minute or two: too slow for a pytest test).
Usage: python scripts/check_wheel.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILT = Path("jupyter_modelfiles/labextension")
SHARE = "share/jupyter/labextensions/jupyter-modelfiles/"


def tracked_files() -> list[Path]:
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return [Path(name) for name in listing.split("\0") if name and (ROOT / name).is_file()]


def copy_checkout(dest: Path) -> None:
    for name in tracked_files():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dest / name)  # keep mtimes: npm sees node_modules as fresh
    if (ROOT / BUILT).is_dir():
        shutil.copytree(ROOT / BUILT, dest / BUILT, symlinks=True)
    modules = ROOT / "labextension" / "node_modules"
    if modules.is_dir():
        (dest / "labextension" / "node_modules").symlink_to(modules)


def ensure_development_build(src: Path) -> None:
    if not (src / BUILT / "build_log.json").exists():
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        subprocess.run(["npm", "run", "build"], cwd=src / "labextension", check=True, env=env)
    maps = list((src / BUILT).rglob("*.map"))
    assert (src / BUILT / "build_log.json").exists() and maps, "no development build to start from"


def problems_of(wheel: Path, build_dir: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if SHARE in n]
        texts = {n: archive.read(n) for n in names}
    problems = [f"source map in the wheel: {n}" for n in names if n.endswith(".map")]
    problems += [f"build log in the wheel: {n}" for n in names if n.endswith("build_log.json")]
    for marker in (str(build_dir), str(ROOT)):
        problems += [f"{n} names {marker}" for n, text in texts.items() if marker.encode() in text]
    for needed in ("package.json", "static/style.js", "install.json"):
        if not any(n.endswith(SHARE + needed) for n in names):
            problems.append(f"missing from the wheel: {SHARE}{needed}")
    if not any("/static/remoteEntry." in n for n in names):
        problems.append("missing from the wheel: static/remoteEntry.*.js")
    package = next((texts[n] for n in names if n.endswith(SHARE + "package.json")), b"{}")
    if "_build" not in json.loads(package).get("jupyterlab", {}):
        problems.append("the wheel's package.json has no jupyterlab._build (not a built extension)")
    return problems


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="modelfiles-wheel-") as tmp:
        src, out = Path(tmp) / "src", Path(tmp) / "dist"
        copy_checkout(src)
        ensure_development_build(src)
        print(f"==> pip wheel (a development build lies in {src / BUILT})", flush=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
            check=True,
        )
        (wheel,) = out.glob("*.whl")
        problems = problems_of(wheel, src)
    for problem in problems:
        print(f"wheel check: {problem}", file=sys.stderr)
    if not problems:
        print(f"==> {wheel.name}: production labextension only")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
