"""The jupyter-server extension: configuration, service construction and routes."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from jupyter_server.utils import url_path_join
from traitlets import Bool, Float, Int, List, Unicode, default, validate

from . import defaults
from ._version import __version__
from .catalog.service import Catalog
from .downloads.destinations import DEFAULT_DENY, DestinationPolicy
from .downloads.engine import DEFAULT_SPLIT_BELOW
from .downloads.jobs import Job
from .downloads.manager import DownloadManager
from .events import EventBus
from .files.store import FileStore
from .runtime.manager import RuntimeManager
from .services import Services
from .state import Database


class ModelFilesApp(ExtensionApp):
    """Model catalogs, resumable downloads, an uploaded-files store and model loading."""

    name = "jupyter_modelfiles"
    description = __doc__
    version = __version__
    load_other_extensions = True

    root_dir = Unicode(
        help="Where jupyter-modelfiles keeps its state database, uploads and downloads.",
    ).tag(config=True)

    @default("root_dir")
    def _default_root_dir(self) -> str:
        return os.path.join(jupyter_data_dir(), "modelfiles")

    max_upload_size = Int(
        defaults.MAX_UPLOAD_SIZE,
        help="Largest accepted upload in bytes; larger uploads are refused with 413 while "
        "streaming.",
    ).tag(config=True)

    @validate("max_upload_size")
    def _check_max_upload_size(self, proposal: dict[str, Any]) -> int:
        if proposal["value"] <= 0:
            raise ValueError("max_upload_size must be positive")
        return int(proposal["value"])

    upload_idle_timeout = Float(
        defaults.UPLOAD_IDLE_TIMEOUT,
        help="Seconds an upload body may send nothing before it is dropped with 408 "
        "(a stalled or deliberately slow client); 0 means never.",
    ).tag(config=True)

    @validate("upload_idle_timeout")
    def _check_upload_idle_timeout(self, proposal: dict[str, Any]) -> float:
        if proposal["value"] < 0:
            raise ValueError("upload_idle_timeout must be 0 (never) or positive")
        return float(proposal["value"])

    signed_url_default_expiry_hours = Float(
        defaults.SIGNED_URL_DEFAULT_EXPIRY_HOURS,
        help="Lifetime of a signed file URL when the request names no expiry.",
    ).tag(config=True)

    batch_output_expiry_hours = Float(
        defaults.BATCH_OUTPUT_EXPIRY_HOURS,
        help="Lifetime of a batch_output file that names no expiry (Novita gives output files "
        "an expires_at); 0 keeps them forever.",
    ).tag(config=True)

    signed_url_max_expiry_hours = Float(
        defaults.SIGNED_URL_MAX_EXPIRY_HOURS,
        help="Longest lifetime a signed file URL may be given.",
    ).tag(config=True)

    ram_budget = Int(
        0,
        help="Memory (bytes) that loaded models may use together; loading more unloads the "
        "least recently used ones. 0 means 60% of the memory available at start-up.",
    ).tag(config=True)

    @validate("ram_budget")
    def _check_ram_budget(self, proposal: dict[str, Any]) -> int:
        if proposal["value"] < 0:
            raise ValueError("ram_budget must be >= 0 (0 = 60% of available memory)")
        return int(proposal["value"])

    unload_after = Float(
        0.0,
        help="Unload a loaded model after it has been idle this many seconds; 0 means never.",
    ).tag(config=True)

    @validate("unload_after")
    def _check_unload_after(self, proposal: dict[str, Any]) -> float:
        if proposal["value"] < 0:
            raise ValueError("unload_after must be >= 0 (0 = never)")
        return float(proposal["value"])

    manifests = List(
        Unicode(),
        help="Model catalogs (JSON or YAML files or http(s) URLs) listing models and their files.",
    ).tag(config=True)

    hf_endpoint = Unicode(
        None, allow_none=True, help="Hugging Face Hub endpoint (default: HF_ENDPOINT or the Hub)."
    ).tag(config=True)

    hf_token = Unicode(
        None,
        allow_none=True,
        help="Hugging Face token for gated/private repos (default: HF_TOKEN).",
    ).tag(config=True)

    hf_cache_dir = Unicode(
        help="Hugging Face cache where Hub files land (default: huggingface_hub's HF_HUB_CACHE).",
    ).tag(config=True)

    @default("hf_cache_dir")
    def _default_hf_cache_dir(self) -> str:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)

    max_concurrent_downloads = Int(
        defaults.MAX_CONCURRENT_DOWNLOADS,
        help="How many download jobs run at the same time; the others wait in the queue.",
    ).tag(config=True)

    connections_per_download = Int(
        defaults.CONNECTIONS_PER_DOWNLOAD,
        help="Parallel ranged connections per file (aria2-style splitting, pieces >= 16 MiB).",
    ).tag(config=True)

    download_split_below = Int(
        DEFAULT_SPLIT_BELOW,
        help="Bytes/s: a file starts on one connection and opens the others "
        "(connections_per_download) only when that one is slower than this after a second; "
        "0 opens them all at once. Splitting a fast transfer only costs CPU (out-of-order "
        "pieces must be read back to hash) and connections at the origin.",
    ).tag(config=True)

    download_stall_timeout = Float(
        defaults.DOWNLOAD_STALL_TIMEOUT,
        help="Seconds without data (or far too slow) before a connection is retried.",
    ).tag(config=True)

    download_rate_limit = Int(0, help="Per-file download rate limit in bytes/s; 0 means none.").tag(
        config=True
    )

    download_give_up_after = Float(
        180.0,
        help="Seconds a download may go without receiving any data, retries included, before "
        "it fails (an origin that accepts connections and never answers).",
    ).tag(config=True)

    download_worker_processes = Bool(
        True,
        help="Run each download's engine in a worker process of its own (one per running file) "
        "so the data path never holds the server's event loop or GIL; False runs it in a "
        "thread of the server.",
    ).tag(config=True)

    download_worker_nice = Int(
        defaults.DOWNLOAD_WORKER_NICE,
        help="How much lower (nice increment, 0-19) download worker processes run than the "
        "server, so the server and kernels stay responsive while files download.",
    ).tag(config=True)

    @validate("download_split_below")
    def _check_split_below(self, proposal: dict[str, Any]) -> int:
        if proposal["value"] < 0:
            raise ValueError("download_split_below must be >= 0 bytes/s (0: split at once)")
        return int(proposal["value"])

    @validate("download_give_up_after")
    def _check_give_up_after(self, proposal: dict[str, Any]) -> float:
        if not proposal["value"] > 0:
            raise ValueError("download_give_up_after must be > 0 seconds")
        return float(proposal["value"])

    download_allow = List(
        Unicode(),
        help="Host names (a name covers its subdomains) and CIDR ranges downloads may come "
        "from, checked on the first URL and every redirect, on the resolved addresses. Empty "
        "(the default) allows every destination download_deny does not deny.",
    ).tag(config=True)

    download_deny = List(
        Unicode(),
        list(DEFAULT_DENY),
        help="Host names and CIDR ranges downloads may never come from (wins over "
        "download_allow). Default: the link-local ranges 169.254.0.0/16 and fe80::/10. The "
        "Jupyter server's own address and port are always denied.",
    ).tag(config=True)

    @validate("download_allow", "download_deny")
    def _check_destinations(self, proposal: dict[str, Any]) -> list[str]:
        name = proposal["trait"].name
        DestinationPolicy(**{name.removeprefix("download_"): proposal["value"]})
        return list(proposal["value"])

    @validate("max_concurrent_downloads", "connections_per_download")
    def _check_positive(self, proposal: dict[str, Any]) -> int:
        if proposal["value"] < 1:
            raise ValueError(f"{proposal['trait'].name} must be at least 1")
        return int(proposal["value"])

    shared_cache_dir = Unicode(
        "",
        help="Team mode: a directory every user server mounts (JupyterHub). Model files are "
        "stored once there (Hub files in the Hugging Face cache layout under hub/, others as "
        "blobs/<sha256>), and one server transfers each file while the others wait for it. "
        "Per-user state stays in root_dir. Empty: single-server mode.",
    ).tag(config=True)

    coordination_url = Unicode(
        "",
        help="Team mode across hosts: a postgresql:// URL; PostgreSQL decides which server "
        "transfers each shared file. Empty with shared_cache_dir set: file locks in the "
        "shared directory (several servers on ONE host, local disk only).",
    ).tag(config=True)

    team_admins = List(
        Unicode(),
        help="Team mode: user names (JUPYTERHUB_USER of a user server, else the OS user) whose "
        "deletes remove shared model files even when other users still reference them.",
    ).tag(config=True)

    services: Services | None = None
    _started = False

    def _team(self, root: Path) -> Any:
        """The team-mode pair (store + coordinator), checked now: a clear error at start."""
        if not self.shared_cache_dir:
            if self.coordination_url:
                raise ValueError("ModelFilesApp.coordination_url needs shared_cache_dir too")
            return None
        from .team.setup import start_team

        return start_team(
            Path(self.shared_cache_dir).expanduser(),
            self.coordination_url or None,
            holder=root,
            admins=list(self.team_admins),
        )

    def _route_package_logs(self) -> None:
        """Send the package's module loggers (``jupyter_modelfiles.*``) to the server's log,
        with its handlers, format and level, as jupyter_server does for Tornado's loggers."""
        server_log = self.serverapp.log if self.serverapp is not None else self.log
        package_log = logging.getLogger(__package__ or "jupyter_modelfiles")
        package_log.parent = server_log  # type: ignore[assignment]
        package_log.propagate = True
        package_log.setLevel(server_log.getEffectiveLevel())

    def initialize_settings(self) -> None:
        self._route_package_logs()
        root = Path(self.root_dir).expanduser()
        root.mkdir(mode=0o700, parents=True, exist_ok=True)  # new: the owner's alone
        team = self._team(root)
        hf_cache_dir = Path(self.hf_cache_dir).expanduser()
        if team is not None:
            # Hub files go to the shared Hugging Face cache; kernels and terminals see it too
            hf_cache_dir = team.transfers.store.hub_cache
            os.environ["HF_HUB_CACHE"] = str(hf_cache_dir)
        db = Database(root / "state.sqlite3")
        events = EventBus()
        files = FileStore(
            root,
            db,
            events,
            max_upload_size=self.max_upload_size,
            default_expiry_hours=self.signed_url_default_expiry_hours,
            max_expiry_hours=self.signed_url_max_expiry_hours,
            batch_output_expiry_hours=self.batch_output_expiry_hours,
        )
        downloads = DownloadManager(
            db,
            events,
            root / ".partial",
            max_concurrent=self.max_concurrent_downloads,
            connections=self.connections_per_download,
            split_below=self.download_split_below,
            stall_timeout=self.download_stall_timeout,
            rate_limit=self.download_rate_limit or None,
            give_up_after=self.download_give_up_after,
            destinations=DestinationPolicy(
                self.download_allow,
                self.download_deny,
                server_port=lambda: self.serverapp.port if self.serverapp else None,  # once bound
            ),
            team=team.transfers if team is not None else None,
            worker_processes=self.download_worker_processes,
            worker_nice=self.download_worker_nice,
        )

        async def adopt_into_files_store(job: Job) -> None:
            args = job.hook_args
            record = await files.adopt_file(
                job.dest,
                filename=args.get("filename") or job.dest.name,
                purpose=args.get("purpose") or "user_data",
                source="download",
                sha256=job.sha256,
            )
            job.hook_args = {**args, "file_id": record["id"]}

        downloads.register_hook("files_store", adopt_into_files_store)
        runtime = RuntimeManager(
            events,
            ram_budget_bytes=self.ram_budget or None,
            unload_after=self.unload_after or None,
        )
        catalog = Catalog(
            db,
            events,
            downloads,
            root,
            hf_cache_dir,
            manifests=list(self.manifests),
            hf_endpoint=self.hf_endpoint,
            hf_token=self.hf_token,
            team=team,
        )
        self.services = Services(
            db=db,
            events=events,
            files=files,
            downloads=downloads,
            runtime=runtime,
            catalog=catalog,
        )
        self.settings["modelfiles"] = self.services
        self.settings["modelfiles_upload_idle_timeout"] = self.upload_idle_timeout
        os.environ["JUPYTER_MODELFILES_ROOT"] = str(root)
        # Kernels and terminals started by this server inherit these (client discovery).
        serverapp = self.serverapp
        assert serverapp is not None  # initialize_settings runs inside a server
        os.environ["JUPYTER_MODELFILES_URL"] = url_path_join(
            serverapp.connection_url, "modelfiles/"
        )
        os.environ["JUPYTER_MODELFILES_TOKEN"] = serverapp.identity_provider.token or ""
        self.log.info("jupyter-modelfiles %s: state in %s", __version__, root)
        if team is not None:
            self.log.info("jupyter-modelfiles team mode: %s", team.describe())
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # the server starts its loop later: _start_jupyter_server_extension
        self._start_services()

    def _start_services(self) -> None:
        """Start background work (sweeps, download queue); needs the running server loop."""
        if self.services is None or self._started:
            return
        self._started = True
        self.services.files.start()
        asyncio.get_running_loop().create_task(self.services.downloads.start())

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        self._start_services()

    def initialize_handlers(self) -> None:
        from .handlers import default_handlers

        self.handlers.extend(default_handlers)

    async def stop_extension(self) -> None:
        """Close every service; one that fails is logged and the others still close."""
        services, self.services = self.services, None
        if services is None:
            return
        closers: list[tuple[str, Callable[[], Any] | None]] = [
            ("runtime", services.runtime.close if services.runtime is not None else None),
            ("catalog", getattr(services.catalog, "close", None)),
            ("downloads", services.downloads.close),
            ("files", services.files.close),
            ("database", services.db.close),
        ]
        for name, close in closers:
            if close is None:
                continue
            try:
                result = close()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                self.log.exception("jupyter-modelfiles: closing the %s failed", name)
