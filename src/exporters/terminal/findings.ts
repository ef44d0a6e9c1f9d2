/** The advisor's findings as terminal lines (the findings themselves come from core/analysis/advisor). */
import type { Finding, Severity } from '../../core/analysis/advisor';
import { formatCount, formatDuration, makeColors, noColorRequested } from './format';

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
  const lines: string[] = [];
  const width = Math.max(...findings.map((f) => f.severity.length));
  findings.forEach((f, i) => {
    if (i > 0) lines.push('');
    const stake = f.timeAtStake > 0 ? c.dim(` (${formatDuration(f.timeAtStake)} at stake)`) : '';
    lines.push(`${paint[f.severity](f.severity.padEnd(width))}  ${c.bold(f.rule)}  ${f.message}${stake}`);
    const indent = ' '.repeat(width + 2);
    lines.push(`${indent}fix: ${f.suggestion}`);
    if (f.evidence.length > 0) {
      const shown = f.evidence.slice(0, limit).join(', ');
      const more = f.evidence.length > limit ? ` (+${formatCount(f.evidence.length - limit)} more)` : '';
      lines.push(c.dim(`${indent}spans: ${shown}${more}`));
    }
  });
  return lines;
}
