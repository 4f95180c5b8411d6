"""Download + verified SHA-256 from nginx on loopback, every contestant side by side in one run.

For each file size (default 2 GiB and 1 GiB), in rounds that interleave the contestants:
``curl -o`` then ``openssl dgst -sha256`` (the reference every ratio is against), ``curl``
then ``sha256sum``, ``aria2c --checksum``, huggingface_hub's ``http_get`` + hashlib, our
engine in-process (``standalone.download_url``, the CLI's defaults), our engine as users run
it (``jupyter modelfiles download --standalone URL -o OUT --sha256 X``, start-up included)
and through a running Jupyter server's API (``POST v1/downloads``). Each row: wall time,
time relative to curl + openssl, peak RSS (the process tree's, sampled; the server's for the
API row) and CPU-seconds per GiB (the child's rusage, its children included). Before each
contestant the page cache is flushed (``sync``) so the last one's writeback does not slow it;
then it waits ``--settle`` seconds (3): in a virtual machine whose kernel reports freed
memory to the host, the contestant that ran right after a 1 GiB file was deleted was slowed
by that (on tmpfs the same command took 0.59x or 0.90x of curl depending on its place in the
round). Before the first, the package's .pyc files are written as a wheel install would.

Then "where splitting pays": the same file from an nginx location limited to 50 MiB/s per
connection (``limit_rate 50m``), our engine with 1 and 4 connections and with its default
(one connection that splits when slow) beside ``aria2c -x4 -s4``.

Optionally (``--status``) the server's ``/api/status`` p50/p99 while 4 downloads run.

Needs nginx, aria2c, curl, openssl: ``apt-get install -y nginx aria2``.
Usage: python benchmarks/bench_download.py --workdir /dev/shm [--sizes-mib 2048 1024]
       [--rounds 1] [--throttled-size-mib 1024] [--status]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import JupyterServerProcess, PeakRss, percentile
from _nginx import INSTALL_HINT, Nginx, make_file

GiB = 1 << 30
REFERENCE = "curl -o + openssl dgst"

ENGINE_CODE = """
import sys
from pathlib import Path
from jupyter_modelfiles.standalone import download_url
url, out, sha, connections = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
result = download_url(url, Path(out), sha256=sha, connections=connections or None, quiet=True)
print(result["sha256"])
"""


@dataclass
class Run:
    wall: float
    cpu: float
    peak: int
    ok: bool


def hf_child(url: str, out: str) -> None:
    from huggingface_hub.file_download import http_get

    with open(out, "wb") as handle:
        http_get(url, handle)
    sha = hashlib.sha256()
    with open(out, "rb") as handle:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
    print(sha.hexdigest())


def tree_rss(process: psutil.Process) -> int:
    total = 0
    for proc in [process, *process.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_process(argv: list[str], work: Path) -> tuple[float, float, int, int, str]:
    """Run a command; return wall s, CPU s (rusage, children included), peak RSS, rc, stdout."""
    out_path, err_path = work / "child.stdout", work / "child.stderr"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        began = time.perf_counter()
        child = subprocess.Popen(argv, stdout=out, stderr=err)
        process = psutil.Process(child.pid)
        peak = 0
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            try:
                peak = max(peak, tree_rss(process))
            except psutil.Error:
                pass
            time.sleep(0.01)
        wall = time.perf_counter() - began
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        print(f"    {argv[0]} failed: {err_path.read_text()[-1000:]}", flush=True)
    return wall, usage.ru_utime + usage.ru_stime, peak, child.returncode, out_path.read_text()


def run_server(url: str, expected: str, work: Path) -> Run:
    server = JupyterServerProcess(work / "server-one")
    server.start()
    try:
        assert server.process is not None
        process = psutil.Process(server.process.pid)
        with server.client() as client, PeakRss(server.process.pid) as rss:
            cpu_before = sum(process.cpu_times()[:4])
            began = time.perf_counter()
            job = client.post("downloads", json={"url": url, "sha256": expected}).json()
            while True:
                state = client.get(f"downloads/{job['job_id']}").json()
                if state["status"] in ("completed", "failed"):
                    break
                time.sleep(0.02)
            wall = time.perf_counter() - began
            cpu = sum(process.cpu_times()[:4]) - cpu_before
        ok = state["status"] == "completed" and state.get("sha256") == expected
        return Run(wall, cpu, rss.peak, ok)
    finally:
        server.stop()
        shutil.rmtree(work / "server-one", ignore_errors=True)


Contestant = Callable[[str, Path, str], Run]


def command(argv_for: Callable[[str, Path, str], list[str]], *, digest_out: bool) -> Contestant:
    """A contestant that runs one command; ok when it exits 0 (and prints the right digest)."""

    def run(url: str, out: Path, expected: str) -> Run:
        wall, cpu, peak, rc, stdout = run_process(argv_for(url, out, expected), out.parent)
        ok = rc == 0 and (not digest_out or stdout.split()[:1] == [expected])
        for leftover in out.parent.glob(f"{out.name}*"):
            leftover.unlink()
        return Run(wall, cpu, peak, ok)

    return run


def engine(connections: int) -> Contestant:
    return command(
        lambda u, o, x: [sys.executable, "-c", ENGINE_CODE, u, str(o), x, str(connections)],
        digest_out=True,
    )


def aria2c(*flags: str) -> Contestant:
    return command(
        lambda u, o, x: [
            "aria2c",
            "-q",
            *flags,
            "--allow-overwrite=true",
            "--auto-file-renaming=false",
            "--file-allocation=none",
            f"--checksum=sha-256={x}",
            "-d",
            str(o.parent),
            "-o",
            o.name,
            u,
        ],
        digest_out=False,
    )


def jupyter_cli() -> Contestant:
    jupyter = str(Path(sys.executable).with_name("jupyter"))

    def argv(url: str, out: Path, sha256: str) -> list[str]:
        flags = ["-o", str(out), "--sha256", sha256]
        return [jupyter, "modelfiles", "download", "--standalone", url, *flags]

    return command(argv, digest_out=False)


def shell(template: str) -> Contestant:
    return command(
        lambda u, o, x: ["sh", "-c", template.format(url=u, out=o)],
        digest_out=True,
    )


def loopback_contestants(has_hf: bool) -> dict[str, Contestant]:
    contestants: dict[str, Contestant] = {
        REFERENCE: shell("curl -s -o {out} {url} && openssl dgst -sha256 -r {out}"),
        "curl -o + sha256sum": shell("curl -s -o {out} {url} && sha256sum {out}"),
        "aria2c --checksum (1 conn)": aria2c(),
        "engine in-process (CLI defaults)": engine(0),
        "jupyter modelfiles download --standalone": jupyter_cli(),
        "through the server (POST v1/downloads)": lambda u, o, x: run_server(u, x, o.parent),
    }
    if has_hf:
        contestants["huggingface_hub http_get + sha256"] = command(
            lambda u, o, x: [sys.executable, __file__, "--hf-child", u, str(o)], digest_out=True
        )
    return contestants


def throttled_contestants() -> dict[str, Contestant]:
    return {
        "curl -o + openssl dgst (1 conn)": shell(
            "curl -s -o {out} {url} && openssl dgst -sha256 -r {out}"
        ),
        "engine, 1 connection": engine(1),
        "engine, 4 connections": engine(4),
        "engine, CLI defaults (splits when slow)": engine(0),
        "aria2c -x4 -s4 --checksum": aria2c("-x4", "-s4", "--min-split-size=16M"),
    }


def run_rounds(
    contestants: dict[str, Contestant],
    url: str,
    out: Path,
    expected: str,
    rounds: int,
    settle: float = 0.0,
) -> dict[str, list[Run]]:
    results: dict[str, list[Run]] = {name: [] for name in contestants}
    for number in range(1, rounds + 1):
        for name, contestant in contestants.items():
            os.sync()  # the last contestant's writeback does not slow this one
            time.sleep(settle)  # nor the return of its freed memory to the VM's host
            run = contestant(url, out, expected)
            results[name].append(run)
            flag = "" if run.ok else "  (NOT OK)"
            print(f"  round {number}: {name}: {run.wall:.2f} s{flag}", flush=True)
    return results


def print_table(
    title: str, results: dict[str, list[Run]], size: int, reference: str, ratio_label: str
) -> None:
    ref_wall = statistics.median(r.wall for r in results[reference])
    print()
    print(title)
    print(
        f"{'contestant':42} {'wall s':>7} {'MiB/s':>6} {ratio_label:>9} {'peak RSS':>9} "
        f"{'CPU-s/GiB':>9}  ok"
    )
    for name, runs in results.items():
        wall = statistics.median(r.wall for r in runs)
        cpu = statistics.median(r.cpu for r in runs)
        peak = max(r.peak for r in runs)
        ok = "yes" if all(r.ok for r in runs) else "NO"
        print(
            f"{name:42} {wall:7.2f} {size / wall / (1 << 20):6.0f} {wall / ref_wall:8.2f}x "
            f"{peak / (1 << 20):7.0f}Mi {cpu / (size / GiB):9.2f}  {ok}"
        )


def generate(blob: Path, size: int) -> str:
    """Write ``size`` random bytes to ``blob``; return their SHA-256 (by openssl)."""
    print(f"\ngenerating {size >> 20} MiB of random bytes ...", flush=True)
    make_file(blob, size)
    digest = subprocess.check_output(["openssl", "dgst", "-sha256", "-r", str(blob)])
    return digest.split()[0].decode()


def describe_machine(work: Path) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    nginx = subprocess.run(
        [shutil.which("nginx") or "/usr/sbin/nginx", "-v"], capture_output=True, text=True
    ).stderr.strip()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}, Python "
        f"{platform.python_version()}, {nginx}; workdir {work} "
        f"({'tmpfs' if str(work).startswith('/dev/shm') else 'disk'}); load average {load}"
    )


def status_latency(urls: list[str], work: Path) -> tuple[list[float], float, list[str]]:
    server = JupyterServerProcess(
        work / "server-four", extra_args=["--ModelFilesApp.max_concurrent_downloads=4"]
    )
    server.start()
    latencies: list[float] = []
    try:
        with server.client() as client:
            began = time.perf_counter()
            jobs = [
                client.post("downloads", json={"url": u, "filename": f"copy{i}.bin"}).json()
                for i, u in enumerate(urls)
            ]
            done = threading.Event()

            def probe() -> None:
                with httpx.Client(headers=server.headers, timeout=30) as status_client:
                    while not done.is_set():
                        t = time.perf_counter()
                        status_client.get(f"{server.url}api/status").raise_for_status()
                        latencies.append(time.perf_counter() - t)
                        time.sleep(0.02)

            thread = threading.Thread(target=probe)
            thread.start()
            states: list[str] = []
            while True:
                states = [client.get(f"downloads/{j['job_id']}").json()["status"] for j in jobs]
                if all(s in ("completed", "failed") for s in states):
                    break
                time.sleep(0.1)
            wall = time.perf_counter() - began
            done.set()
            thread.join()
        return latencies, wall, states
    finally:
        server.stop()


def idle_latency(work: Path, count: int = 200) -> list[float]:
    server = JupyterServerProcess(work / "server-idle")
    server.start()
    latencies: list[float] = []
    try:
        with httpx.Client(headers=server.headers, timeout=30) as client:
            for _ in range(count):
                t = time.perf_counter()
                client.get(f"{server.url}api/status").raise_for_status()
                latencies.append(time.perf_counter() - t)
                time.sleep(0.02)
        return latencies
    finally:
        server.stop()


def print_status(serve: Path, nginx: Nginx, blob: Path, work: Path) -> None:
    for i in range(4):
        (serve / f"copy{i}.bin").symlink_to(blob)
    latencies, wall, states = status_latency([nginx.url(f"copy{i}.bin") for i in range(4)], work)
    idle = idle_latency(work)
    p50, p99 = percentile(idle, 50) * 1000, percentile(idle, 99) * 1000
    print()
    print(f"/api/status of an idle server: p50={p50:.1f} ms p99={p99:.1f} ms")
    p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
    print(
        f"/api/status while 4 downloads of {blob.stat().st_size >> 20} MiB run through the "
        f"server ({wall:.1f} s, {states}): n={len(latencies)} p50={p50:.1f} ms "
        f"p99={p99:.1f} ms max={max(latencies) * 1000:.1f} ms"
    )


def compile_package() -> None:
    """Write the package's .pyc files, as installing the wheel does: our commands then start
    like an installed copy's, even where PYTHONDONTWRITEBYTECODE is set (a checkout with that
    set recompiles every changed module at each start, ~30 ms)."""
    import compileall

    import jupyter_modelfiles

    compileall.compile_dir(Path(jupyter_modelfiles.__file__).parent, quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes-mib", type=int, nargs="*", default=[2048, 1024], help="none: skip loopback"
    )
    parser.add_argument("--throttled-size-mib", type=int, default=1024, help="0 to skip")
    parser.add_argument("--limit-rate", default="50m", help="nginx limit_rate per connection")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--settle",
        type=float,
        default=3.0,
        help="seconds to wait before each contestant: a virtual machine that reports freed "
        "memory to its host (after 2 s) otherwise slows whoever runs next to a deletion",
    )
    parser.add_argument("--workdir", default=None, help="e.g. /dev/shm to take the disk out")
    parser.add_argument("--status", action="store_true", help="also /api/status latency")
    parser.add_argument("--hf-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hf_child:
        hf_child(*args.hf_child)
        return
    for tool in ("nginx", "aria2c", "curl", "openssl", "sha256sum"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"{tool} is missing: {INSTALL_HINT}")
    try:
        import huggingface_hub  # noqa: F401

        has_hf = True
    except ImportError:
        has_hf = False
        print("huggingface_hub is not installed: its row is left out")
    compile_package()
    work = Path(tempfile.mkdtemp(prefix="bench-download-", dir=args.workdir))
    serve = work / "serve"
    serve.mkdir()
    print(describe_machine(work), flush=True)
    nginx = Nginx(serve, limit_rate=args.limit_rate).start()
    try:
        for size_mib in args.sizes_mib:
            size = size_mib << 20
            blob = serve / "blob.bin"
            expected = generate(blob, size)
            results = run_rounds(
                loopback_contestants(has_hf),
                nginx.url("blob.bin"),
                work / "out.bin",
                expected,
                args.rounds,
                args.settle,
            )
            print_table(
                f"{size_mib} MiB from nginx on loopback, download + verified SHA-256 "
                f"(median of {args.rounds} round(s); time relative to {REFERENCE})",
                results,
                size,
                REFERENCE,
                "vs curl",
            )
            if args.status and size_mib == args.sizes_mib[-1]:
                print_status(serve, nginx, blob, work)
            blob.unlink()
        if args.throttled_size_mib:
            size = args.throttled_size_mib << 20
            blob = serve / "slow.bin"
            expected = generate(blob, size)
            results = run_rounds(
                throttled_contestants(),
                nginx.url("slow.bin", slow=True),
                work / "out.bin",
                expected,
                args.rounds,
            )
            print_table(
                f"{args.throttled_size_mib} MiB from nginx limited to {args.limit_rate} per "
                f"connection (time relative to the engine with 1 connection)",
                results,
                size,
                "engine, 1 connection",
                "vs 1 conn",
            )
            one = statistics.median(r.wall for r in results["engine, 1 connection"])
            four = statistics.median(r.wall for r in results["engine, 4 connections"])
            aria = statistics.median(r.wall for r in results["aria2c -x4 -s4 --checksum"])
            print(
                f"4 connections are {one / four:.2f}x as fast as 1 (target >= 3.5x); "
                f"aria2c -x4 -s4 is {one / aria:.2f}x"
            )
    finally:
        nginx.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
