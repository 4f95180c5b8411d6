import { formatBytes, formatDuration, formatEta, formatPercent, formatSpeed, fraction } from '../format';

describe('formatBytes', () => {
  it('uses binary units with sensible precision', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(10 * 1024 * 1024 + 1)).toBe('10.0 MiB');
    expect(formatBytes(4.1 * 1024 ** 3)).toBe('4.1 GiB');
    expect(formatBytes(30_000_000)).toBe('28.6 MiB'); // as formatting.human_bytes(30_000_000)
    expect(formatBytes(124196907504)).toBe('115.7 GiB');
  });

  it('shows "?" for unknown sizes', () => {
    expect(formatBytes(undefined)).toBe('?');
    expect(formatBytes(null)).toBe('?');
    expect(formatBytes(-1)).toBe('?');
    expect(formatBytes(NaN)).toBe('?');
  });
});

describe('formatSpeed', () => {
  it('formats bytes per second and hides zero', () => {
    expect(formatSpeed(9834240.879725136)).toBe('9.4 MiB/s');
    expect(formatSpeed(0)).toBe('');
    expect(formatSpeed(undefined)).toBe('');
  });
});

describe('formatDuration / formatEta', () => {
  it('formats durations', () => {
    expect(formatDuration(0)).toBe('0 s');
    expect(formatDuration(45.4)).toBe('45 s');
    expect(formatDuration(185)).toBe('3 min 05 s');
    expect(formatDuration(2 * 3600 + 7 * 60)).toBe('2 h 07 min');
    expect(formatDuration(3 * 86400 + 4 * 3600)).toBe('3 d 4 h');
    expect(formatDuration(-1)).toBe('');
  });

  it('uses the server estimate when there is one', () => {
    const now = Date.parse('2025-10-06T18:43:08.019Z');
    expect(formatEta('2025-10-06T22:24:29.908Z', now)).toBe('3 h 41 min');
    expect(formatEta('2025-10-06T18:43:00Z', now)).toBe('0 s');
  });

  it('derives an estimate from remaining bytes and speed otherwise', () => {
    expect(formatEta(undefined, 0, 1000, 10)).toBe('1 min 40 s');
    expect(formatEta('not a date', 0, 50, 10)).toBe('5 s');
    expect(formatEta(undefined, 0, 1000, 0)).toBe('');
    expect(formatEta(null, 0)).toBe('');
  });
});

describe('fraction / formatPercent', () => {
  it('clamps to [0, 1] and knows when the total is unknown', () => {
    expect(fraction(50, 200)).toBe(0.25);
    expect(fraction(300, 200)).toBe(1);
    expect(fraction(undefined, 200)).toBe(0);
    expect(fraction(5, 0)).toBeNull();
    expect(fraction(5, undefined)).toBeNull();
    expect(formatPercent(0.25)).toBe('25%');
    expect(formatPercent(0.012)).toBe('1.2%');
    expect(formatPercent(null)).toBe('');
  });
});
