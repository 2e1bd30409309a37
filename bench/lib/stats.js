'use strict';
/** Summaries of repeated samples: median and spread (min–max), and a few number formats. */

function sorted(xs) {
  return xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
}

function quantile(xs, q) {
  const s = sorted(xs);
  if (s.length === 0) return NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/** {median, min, max, n} of finite samples. */
function summary(xs) {
  const s = sorted(xs);
  return { median: quantile(s, 0.5), min: s.length ? s[0] : NaN, max: s.length ? s[s.length - 1] : NaN, n: s.length };
}

function fmtNum(x, digits = 0) {
  if (!Number.isFinite(x)) return '–';
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** "11,234 (10,900–11,500)": median and range; range omitted for one sample. */
function fmtSpread(xs, digits = 0, unit = '') {
  const s = summary(xs);
  if (s.n === 0) return '–';
  const med = fmtNum(s.median, digits) + unit;
  if (s.n === 1 || s.min === s.max) return med;
  return `${med} (${fmtNum(s.min, digits)}–${fmtNum(s.max, digits)})`;
}

function fmtBytes(b) {
  if (!Number.isFinite(b)) return '–';
  return `${(b / 1024 / 1024).toFixed(1)} MiB`;
}

/** The k-th rotation of xs (A B C D, then B C D A, …): each rep in another order, so order effects spread. */
function rotate(xs, k) {
  const n = xs.length;
  return xs.map((_, i) => xs[(i + k) % n]);
}

module.exports = { quantile, summary, fmtNum, fmtSpread, fmtBytes, rotate };
