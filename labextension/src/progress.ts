/**
 * Upload progress at a human pace: the browser reports every few milliseconds, and each report
 * re-renders the sidebar, CPU the page would take from the server on a small machine.
 */

/** `report(loaded, total)` at most once per `intervalMs`, and always when the last byte is sent. */
export function throttledProgress(
  report: (loaded: number, total: number) => void,
  intervalMs = 200,
  now: () => number = () => Date.now()
): (loaded: number, total: number) => void {
  let last = Number.NEGATIVE_INFINITY;
  return (loaded, total) => {
    const time = now();
    if (loaded >= total || time - last >= intervalMs) {
      last = time;
      report(loaded, total);
    }
  };
}
