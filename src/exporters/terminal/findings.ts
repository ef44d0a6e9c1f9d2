/** The advisor's findings as terminal lines (the findings themselves come from core/analysis/advisor). */
import type { Finding, Severity } from '../../core/analysis/advisor';
import { formatCount, formatDuration, makeColors, noColorRequested, printable } from './format';

export interface FormatFindingsOptions {
  /** ANSI color; never on when NO_COLOR is set. @default false */
  color?: boolean;
  /** Evidence ids shown per finding. @default 8 */
  evidenceLimit?: number;
}

/** Findings as terminal lines: severity, rule and message, then the suggestion and evidence span ids. */
export function formatFindings(findings: Finding[], opts: FormatFindingsOptions = {}): string[] {
  const c = makeColors(opts.color === true && !noColorRequested());
  if (findings.length === 0) return ['No findings: nothing in this trace matches a known MLX performance pitfall.'];
  const limit = Math.max(0, opts.evidenceLimit ?? 8);
  const paint: Record<Severity, (s: string) => string> = { critical: c.red, warning: c.yellow, info: c.cyan };
  // Findings may come from a file (trace.meta.advice): every text is printed through printable().
  const shown = findings.map((f) => ({
    severity: printable(f.severity),
    paint: paint[f.severity] ?? ((s: string) => s),
    rule: printable(f.rule),
    message: printable(f.message),
    suggestion: printable(f.suggestion),
    stake: typeof f.timeAtStake === 'number' && f.timeAtStake > 0 ? f.timeAtStake : 0,
    evidence: Array.isArray(f.evidence) ? f.evidence.map((id) => printable(id)) : [],
  }));
  const lines: string[] = [];
  const width = Math.max(...shown.map((f) => f.severity.length));
  shown.forEach((f, i) => {
    if (i > 0) lines.push('');
    const stake = f.stake > 0 ? c.dim(` (${formatDuration(f.stake)} at stake)`) : '';
    lines.push(`${f.paint(f.severity.padEnd(width))}  ${c.bold(f.rule)}  ${f.message}${stake}`);
    const indent = ' '.repeat(width + 2);
    lines.push(`${indent}fix: ${f.suggestion}`);
    if (f.evidence.length > 0) {
      const ids = f.evidence.slice(0, limit).join(', ');
      const more = f.evidence.length > limit ? ` (+${formatCount(f.evidence.length - limit)} more)` : '';
      lines.push(c.dim(`${indent}spans: ${ids}${more}`));
    }
  });
  return lines;
}
