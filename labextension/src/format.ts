/**
 * Human-readable numbers for the sidebar: sizes, speeds, remaining time, progress.
 *
 * Pure functions (no JupyterLab imports) so jest can test them directly.
 */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/**
 * `1536` -> `"1.5 KiB"`; unknown or negative sizes -> `"?"`. IEC units with one decimal, the
 * same text as the Python side's `formatting.human_bytes` (and the API's `readable` fields).
 */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes) || bytes < 0) {
    return '?';
  }
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) {
    return `${Math.round(value)} B`;
  }
  return `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** Bytes per second as `"12.3 MiB/s"`; nothing known -> `""`. */
export function formatSpeed(bytesPerSecond: number | null | undefined): string {
  if (
    bytesPerSecond === null ||
    bytesPerSecond === undefined ||
    !Number.isFinite(bytesPerSecond) ||
    bytesPerSecond <= 0
  ) {
    return '';
  }
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** A duration in seconds as `"45 s"`, `"3 min 05 s"`, `"2 h 07 min"`, `"3 d 4 h"`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) {
    return '';
  }
  const s = Math.round(seconds);
  if (s < 60) {
    return `${s} s`;
  }
  const pad = (n: number): string => String(n).padStart(2, '0');
  const minutes = Math.floor(s / 60);
  if (minutes < 60) {
    return `${minutes} min ${pad(s % 60)} s`;
  }
  const hours = Math.floor(minutes / 60);
  if (hours < 24) {
    return `${hours} h ${pad(minutes % 60)} min`;
  }
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/**
 * Time left until `estimatedCompletion` (ISO 8601) as seen at `now` (ms since epoch);
 * when the server gave no estimate, derive one from the remaining bytes and the speed.
 */
export function formatEta(
  estimatedCompletion: string | null | undefined,
  now: number,
  remainingBytes?: number,
  bytesPerSecond?: number | null
): string {
  if (estimatedCompletion) {
    const at = Date.parse(estimatedCompletion);
    if (Number.isFinite(at)) {
      return formatDuration(Math.max(0, (at - now) / 1000));
    }
  }
  if (
    remainingBytes !== undefined &&
    remainingBytes >= 0 &&
    bytesPerSecond !== null &&
    bytesPerSecond !== undefined &&
    bytesPerSecond > 0
  ) {
    return formatDuration(remainingBytes / bytesPerSecond);
  }
  return '';
}

/** Progress in [0, 1]; `null` when the total is unknown. */
export function fraction(done: number | null | undefined, total: number | null | undefined): number | null {
  if (total === null || total === undefined || !Number.isFinite(total) || total <= 0) {
    return null;
  }
  const value = (done ?? 0) / total;
  return Math.min(1, Math.max(0, value));
}

/** `0.4567` -> `"45.7%"`; `null` -> `""`. */
export function formatPercent(value: number | null): string {
  if (value === null) {
    return '';
  }
  return `${(value * 100).toFixed(value >= 0.1 ? 0 : 1)}%`;
}

/** A UNIX timestamp in seconds as a short local date/time. */
export function formatTimestamp(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) {
    return '';
  }
  const date = new Date(seconds * 1000);
  return date.toISOString().replace('T', ' ').slice(0, 16);
}
