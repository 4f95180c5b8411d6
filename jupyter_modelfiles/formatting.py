"""Human-readable sizes, speeds and durations: the one place bytes become text.

The server (Pieces ``readable`` fields, error messages), the widgets, magics and CLI all use
IEC units (KiB, MiB, GiB), as does the labextension's ``format.ts``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from .downloads.jobs import STATUS_GROUPS

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_bytes(size: float | None) -> str:
    """``1536`` -> ``"1.5 KiB"``; ``None`` -> ``"?"``."""
    if size is None:
        return "?"
    value = float(size)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} PiB"  # pragma: no cover - loop always returns


def bytes_descriptor(size: float) -> dict[str, Any]:
    """A Pieces byte descriptor: ``{"value": 1536, "readable": "1.5 KiB"}``."""
    return {"value": int(size), "readable": human_bytes(size)}


def human_speed(rate: float | None) -> str:
    return "" if not rate else f"{human_bytes(rate)}/s"


def human_duration(seconds: float | None) -> str:
    """``3725`` -> ``"1:02:05"``; short durations as ``"0:42"``."""
    if seconds is None or seconds < 0:
        return "?"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 string (or epoch seconds) as an aware datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(float(value), tz=timezone.utc)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def eta_seconds(job: dict[str, Any]) -> float | None:
    """Seconds left for a job: from ``estimated_completion``, else from bytes and speed."""
    when = parse_time(job.get("estimated_completion"))
    if when is not None:
        return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
    total, done, rate = (
        job.get("total_size_bytes"),
        job.get("downloaded_bytes") or 0,
        job.get("bytes_per_second"),
    )
    if total and rate:
        return max(0.0, (total - done) / rate)
    return None


def describe_job(job: dict[str, Any]) -> str:
    """One line: ``status  done / total  (pct)  speed  ETA``."""
    status = str(job.get("status", "?"))
    done = job.get("downloaded_bytes") or 0
    total = job.get("total_size_bytes")
    parts = [status, f"{human_bytes(done)} / {human_bytes(total)}"]
    if total:
        parts.append(f"{100.0 * done / total:.1f}%")
    if status == "downloading":
        if job.get("bytes_per_second"):
            parts.append(human_speed(job["bytes_per_second"]))
        eta = eta_seconds(job)
        if eta is not None:
            parts.append(f"ETA {human_duration(eta)}")
    if job.get("error"):
        parts.append(f"error: {job['error']}")
    return "  ".join(parts)


def job_label(job: dict[str, Any]) -> str:
    """What a job downloads: its file name, model id, URL or id."""
    for key in ("file", "filename", "model_id", "url"):
        value = job.get(key)
        if value:
            text = str(value)
            return text.rsplit("/", 1)[-1] if key == "url" else text
    return str(job.get("job_id", "download"))


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain-text table with left-aligned columns."""
    widths = [len(h) for h in header]
    for row in rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))
    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(header)).rstrip()]
    lines.append("  ".join("-" * width for width in widths))
    lines.extend("  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip() for row in rows)
    return "\n".join(lines)


def files_table(records: list[dict[str, Any]]) -> str:
    """Uploaded files: id, name, size, purpose, created."""
    rows = [
        [
            str(r.get("id", "")),
            str(r.get("filename", "")),
            human_bytes(r.get("bytes")),
            str(r.get("purpose", "")),
            datetime.fromtimestamp(int(r.get("created_at") or 0), tz=timezone.utc).strftime(
                "%Y-%m-%d %H:%M"
            ),
        ]
        for r in records
    ]
    return table(rows, ["ID", "FILENAME", "SIZE", "PURPOSE", "CREATED (UTC)"])


def describe_bytes(value: Any) -> str:
    """A Pieces byte descriptor ``{value, readable}`` or a plain number, as text."""
    if isinstance(value, dict):
        return str(value.get("readable") or human_bytes(value.get("value")))
    if isinstance(value, (int, float)):
        return human_bytes(value)
    return ""


def models_table(models: list[dict[str, Any]]) -> str:
    """Catalog models: id, name, quantization, size, RAM, state."""
    rows = []
    for m in models:
        state = "loaded" if m.get("loaded") else "downloaded" if m.get("downloaded") else ""
        if m.get("downloading"):
            state = "downloading"
        rows.append(
            [
                str(m.get("id", "")),
                str(m.get("name", "")),
                str(m.get("quantization") or ""),
                describe_bytes(m.get("bytes")),
                describe_bytes(m.get("ram")),
                state,
            ]
        )
    return table(rows, ["ID", "NAME", "QUANT", "SIZE", "RAM", "STATE"])


def model_files_table(files: list[dict[str, Any]]) -> str:
    """A model's files (Anaconda ModelFile, camelCase)."""
    rows = [
        [
            str(f.get("name") or f.get("id") or ""),
            str(f.get("quantization") or ""),
            str(f.get("format") or ""),
            human_bytes(f.get("sizeBytes")),
            human_bytes(f.get("maxRamUsage")) if f.get("maxRamUsage") else "",
            "yes" if f.get("isDownloaded") else "",
        ]
        for f in files
    ]
    return table(rows, ["FILE", "QUANT", "FORMAT", "SIZE", "RAM", "DOWNLOADED"])


def status_table(groups: dict[str, Any]) -> str:
    """LM Studio's grouped job status: one line per job."""
    rows = []
    for group in STATUS_GROUPS:
        if group == "cancelled":
            continue
        for job in groups.get(group) or []:
            rows.append([str(job.get("job_id", "")), job_label(job), describe_job(job)])
    if not rows:
        return "no downloads"
    return table(rows, ["JOB", "WHAT", "STATUS"])
