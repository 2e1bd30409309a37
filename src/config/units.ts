import { usageError } from '../errors';

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a duration into milliseconds: `500ms`, `5s`, `2m`, `1h`, `1.5s`, or a bare number
 * of milliseconds (`250`). `0` means "off" wherever a duration enables a feature.
 */
export function parseDuration(input: string | number, what = 'duration'): number {
  if (typeof input === 'number') {
    if (Number.isFinite(input) && input >= 0) return input;
    throw usageError(`${what}: expected a non-negative duration, got ${input}`);
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(input);
  if (!m) throw usageError(`${what}: "${input}" is not a duration (use e.g. 500ms, 5s, 2m, 1h)`);
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2] ?? 'ms']);
}

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2,
  g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3,
};

/** Parses a byte size: `512M`, `1.5G`, `300MiB`, or a bare number of bytes. Units are binary. */
export function parseSize(input: string | number, what = 'size'): number {
  if (typeof input === 'number') {
    if (Number.isFinite(input) && input >= 0) return input;
    throw usageError(`${what}: expected a non-negative size, got ${input}`);
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(input);
  const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw usageError(`${what}: "${input}" is not a size (use e.g. 512M, 1G)`);
  return Math.round(Number(m[1]) * unit);
}

/** Parses a non-negative integer count, with a clear error naming the option. */
export function parseCount(input: string | number, what: string): number {
  const n = typeof input === 'number' ? input : /^\s*\d+\s*$/.test(input) ? Number(input) : NaN;
  if (!Number.isSafeInteger(n) || n < 0) throw usageError(`${what}: expected a non-negative integer, got "${input}"`);
  return n;
}
