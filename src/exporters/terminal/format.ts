/**
 * Shared formatting for everything a person reads: durations, byte sizes, counts, rates, percentages,
 * plus ANSI color that is on only for a TTY and never when NO_COLOR is set (https://no-color.org).
 * Pure functions, no state; every exporter and the CLI use these so numbers look the same everywhere.
 */

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

// ---------------------------------------------------------------------------------------------------------------
// Color

/** The small part of a stream this module looks at; process.stdout and process.stderr fit it. */
export interface MaybeTty {
  isTTY?: boolean;
}

/** True when NO_COLOR is set to a non-empty value (the no-color.org rule). */
export function noColorRequested(env: Record<string, string | undefined> = process.env): boolean {
  const v = env.NO_COLOR;
  return v !== undefined && v !== '';
}

/**
 * Whether to color output written to `stream`: only when it is a TTY and NO_COLOR is not set.
 * `wanted` (a user's explicit choice) can turn color off, or on for a non-TTY, but never overrides NO_COLOR.
 */
export function shouldColor(stream: MaybeTty | undefined, wanted?: boolean, env: Record<string, string | undefined> = process.env): boolean {
  if (noColorRequested(env)) return false;
  if (wanted !== undefined) return wanted;
  return stream?.isTTY === true;
}

export interface Colors {
  enabled: boolean;
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

const sgr = (open: number, close: number) => (s: string) => `\x1b[${open}m${s}\x1b[${close}m`;
const identity = (s: string) => s;

/** Color functions that wrap text in ANSI SGR codes when enabled and return it unchanged when not. */
export function makeColors(enabled: boolean): Colors {
  if (!enabled) {
    return { enabled, bold: identity, dim: identity, red: identity, green: identity, yellow: identity, cyan: identity };
  }
  return {
    enabled,
    bold: sgr(1, 22),
    dim: sgr(2, 22),
    red: sgr(31, 39),
    green: sgr(32, 39),
    yellow: sgr(33, 39),
    cyan: sgr(36, 39),
  };
}

const ANSI_RE = /\x1b\[[0-9;]*m/g;

export function stripAnsi(s: string): string {
  return s.replace(ANSI_RE, '');
}

/** Width on a terminal, ignoring ANSI codes (every code point counts as one column; fine for names and numbers). */
export function visibleWidth(s: string): number {
  let n = 0;
  for (const _ of stripAnsi(s)) n++;
  return n;
}

export function padEndVisible(s: string, width: number): string {
  const w = visibleWidth(s);
  return w >= width ? s : s + ' '.repeat(width - w);
}

export function padStartVisible(s: string, width: number): string {
  const w = visibleWidth(s);
  return w >= width ? s : ' '.repeat(width - w) + s;
}

/**
 * Shorten plain text to `width` columns by cutting the middle ('layers.1…q_proj'), because both the start
 * (model part) and the end (leaf name) of op and layer names carry meaning.
 */
export function truncateMiddle(s: string, width: number): string {
  const chars = [...s];
  if (chars.length <= width) return s;
  if (width <= 0) return '';
  if (width === 1) return '…';
  const keep = width - 1;
  const head = Math.ceil(keep / 2);
  const tail = keep - head;
  return chars.slice(0, head).join('') + '…' + (tail > 0 ? chars.slice(chars.length - tail).join('') : '');
}

/** Plain text broken at spaces into lines of at most `width` columns (a word longer than that is cut in the middle). */
export function wrapText(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    const w = truncateMiddle(word, width);
    if (line && visibleWidth(line) + 1 + visibleWidth(w) > width) {
      lines.push(line);
      line = w;
    } else {
      line = line ? `${line} ${w}` : w;
    }
  }
  if (line) lines.push(line);
  return lines;
}

/** The terminal width to lay out for: the stream's columns when it is a TTY, else `fallback`. */
export function terminalWidth(stream: (MaybeTty & { columns?: number }) | undefined = process.stdout, fallback = 100): number {
  const c = stream?.isTTY ? stream.columns : undefined;
  return typeof c === 'number' && c > 0 ? c : fallback;
}
