/**
 * Terminal text: the number formats (core/model/units.ts, re-exported here), ANSI color that is on only for a TTY
 * and never when NO_COLOR is set (https://no-color.org), widths, padding and cutting. Pure functions, no state.
 */

export { formatSig, formatDuration, parseDuration, formatBytes, formatCount, formatSI, formatPercent } from '../../core/model/units';

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

/**
 * Control characters (C0, DEL, C1, line and paragraph separators, bidirectional overrides) that reach a terminal
 * from trace data: an ESC or CSI would let a name move the cursor, clear the screen, set the window title or
 * write the clipboard (OSC 52); a bidi override reorders what is read.
 */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text from a trace (names, messages, meta) made safe to print: each control character becomes '?', so a
 * sequence never reaches the terminal and a later cut cannot split one. Call it before measuring or cutting.
 */
export function printable(s: unknown): string {
  const text = typeof s === 'string' ? s : String(s);
  return text.replace(CONTROL, '?');
}

/**
 * A layer name ('layers.11.self_attn.q_proj (Linear)') in `width` columns, keeping what tells rows apart: the
 * leaf and its class stay whole, path segments before it shrink to their first character from the left
 * ('l.11.s.q_proj (Linear)'; numbers stay whole), and only then is the start cut ('…q_proj (Linear)').
 */
export function fitLayerName(name: string, width: number): string {
  if ([...name].length <= width) return name;
  const m = /^(\S+?)((?: \([^()]*\))?)$/.exec(name);
  if (!m || !m[1].includes('.')) return truncateStart(name, width);
  const parts = m[1].split('.');
  const suffix = m[2];
  const text = () => parts.join('.') + suffix;
  for (let i = 0; i < parts.length - 1 && [...text()].length > width; i++) {
    if (!/^\d+$/.test(parts[i])) parts[i] = [...parts[i]][0] ?? '';
  }
  return truncateStart(text(), width);
}

/** Shorten plain text to `width` columns by cutting its start ('…q_proj (Linear)'): the end is the leaf. */
export function truncateStart(s: string, width: number): string {
  const chars = [...s];
  if (chars.length <= width) return s;
  if (width <= 0) return '';
  return '…' + chars.slice(chars.length - (width - 1)).join('');
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
