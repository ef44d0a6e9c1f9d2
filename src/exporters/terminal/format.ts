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
