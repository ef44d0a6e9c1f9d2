/**
 * How quantities read as text: durations, byte sizes, counts, rates and percentages, the same in every view
 * (terminal, HTML, advisor messages, CLI). Pure functions, no state, nothing about terminals.
 */

/** A shape as the views write it: '512×4096', and 'scalar' for []. */
export function formatShape(shape: readonly number[]): string {
  return shape.length === 0 ? 'scalar' : shape.join('×');
}

/** Three significant digits, without exponent notation ('1.23', '12.3', '123', '1234'). */
export function formatSig(n: number, digits = 3): string {
  if (!Number.isFinite(n)) return String(n);
  if (n === 0) return '0';
  const abs = Math.abs(n);
  // Numbers with more integer digits than `digits` keep all of them: 1234 stays 1234, not 1.23e3.
  const intDigits = Math.floor(Math.log10(abs)) + 1;
  const decimals = Math.max(0, Math.min(20, digits - intDigits));
  return n.toFixed(decimals);
}

const DURATION_UNITS: [number, string][] = [
  [1e9, 's'],
  [1e6, 'ms'],
  [1e3, 'µs'],
  [1, 'ns'],
];

/** Nanoseconds as '812 ns', '12.3 µs', '1.23 ms', '2.50 s' (three significant digits, unit picked to fit). */
export function formatDuration(ns: number): string {
  if (!Number.isFinite(ns)) return '-';
  const abs = Math.abs(ns);
  for (const [scale, unit] of DURATION_UNITS) {
    // Round first so 999.7 µs becomes '1.00 ms' instead of '1000 µs'.
    if (abs >= scale * 0.9995 || scale === 1) {
      const v = ns / scale;
      if (scale === 1) return `${Math.round(v)} ns`;
      return `${formatFixed3(v)} ${unit}`;
    }
  }
  return `${ns} ns`;
}

/** Like formatSig(3) but keeps trailing zeros ('2.50'), so columns of durations line up by eye. */
function formatFixed3(v: number): string {
  const abs = Math.abs(v);
  if (abs >= 100) return v.toFixed(0);
  if (abs >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/** The inverse of formatDuration, for tests and CLI input: '1.23 ms' -> 1230000. Returns NaN if unreadable. */
export function parseDuration(text: string): number {
  const m = /^\s*(-?[\d.]+)\s*(ns|µs|us|ms|s)\s*$/.exec(text);
  if (!m) return NaN;
  const scale = { ns: 1, µs: 1e3, us: 1e3, ms: 1e6, s: 1e9 }[m[2] as 'ns' | 'µs' | 'us' | 'ms' | 's'];
  return Number(m[1]) * scale;
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** Bytes in binary units: '512 B', '1.50 KiB', '12.3 MiB'. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '-';
  const sign = bytes < 0 ? '-' : '';
  let v = Math.abs(bytes);
  let i = 0;
  while (v >= 1023.5 && i < BYTE_UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${sign}${Math.round(v)} B` : `${sign}${formatFixed3(v)} ${BYTE_UNITS[i]}`;
}

/** Integers with thousands separators: 1234567 -> '1,234,567' (fixed 'en-US' so output is the same on every machine). */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return '-';
  return Math.round(n).toLocaleString('en-US');
}

const SI_PREFIXES: [number, string][] = [
  [1e15, 'P'],
  [1e12, 'T'],
  [1e9, 'G'],
  [1e6, 'M'],
  [1e3, 'k'],
];

/** A value with an SI prefix and unit: formatSI(1.5e12, 'FLOP/s') -> '1.50 TFLOP/s', formatSI(20e9, 'B/s') -> '20.0 GB/s'. */
export function formatSI(n: number, unit: string): string {
  if (!Number.isFinite(n)) return '-';
  const abs = Math.abs(n);
  for (const [scale, prefix] of SI_PREFIXES) {
    if (abs >= scale * 0.9995) return `${formatFixed3(n / scale)} ${prefix}${unit}`;
  }
  return `${formatSig(n)} ${unit}`;
}

/** A fraction as a percentage: 0.1234 -> '12.3%'. */
export function formatPercent(fraction: number): string {
  if (!Number.isFinite(fraction)) return '-';
  const p = fraction * 100;
  // Only where one decimal would print a misleading 0.0%.
  if (p !== 0 && Math.abs(p) < 0.05) return p > 0 ? '<0.1%' : '>-0.1%';
  return `${p.toFixed(1)}%`;
}
