"""Configuration defaults, defined once: the extension's traits and the services both use them."""

from __future__ import annotations

#: Largest accepted upload (``ModelFilesApp.max_upload_size``).
MAX_UPLOAD_SIZE = 512 * 1024 * 1024
#: Lifetime of a signed file URL when the request names no expiry, and the longest allowed.
SIGNED_URL_DEFAULT_EXPIRY_HOURS = 24.0
SIGNED_URL_MAX_EXPIRY_HOURS = 24.0 * 30
#: Seconds an upload body may send nothing before it is dropped (``upload_idle_timeout``).
UPLOAD_IDLE_TIMEOUT = 60.0
#: Lifetime of a ``batch_output`` file that names no expiry (0: never expires).
BATCH_OUTPUT_EXPIRY_HOURS = 24.0 * 30
#: Download jobs running at the same time; the others wait in the queue.
MAX_CONCURRENT_DOWNLOADS = 2
#: Parallel ranged connections per file.
CONNECTIONS_PER_DOWNLOAD = 4
#: Seconds without data (or far too slow) before a connection is retried.
DOWNLOAD_STALL_TIMEOUT = 30.0
#: How much lower (``nice`` increment) a download worker process runs than the server: on a
#: small machine the server and the kernels answer first; the data path needs little CPU.
DOWNLOAD_WORKER_NICE = 10


def upload_too_large(limit: int, size: int | None = None) -> str:
    """The message of a refused upload: what the limit is and who can raise it."""
    from .formatting import human_bytes  # formatting imports the services: keep this module leaf

    what = "the file" if size is None else f"the upload ({human_bytes(size)}, {size} bytes)"
    return (
        f"{what} is larger than the limit of {human_bytes(limit)} ({limit} bytes); "
        "ask an admin to raise ModelFilesApp.max_upload_size"
    )
