/**
 * Sections the terminal report adds below its table when the trace has them: generation speed,
 * multi-pass statistics and the advisor's findings.
 */
import { advise, type Finding } from '../../core/analysis/advisor';
import { formatFindings } from './findings';
import type { Colors } from './format';
import { formatPassStats } from './pass-stats';
import type { Trace } from '../../core/model/trace';

export interface SectionOptions {
  /** Run the advisor (or show trace.meta.advice when the trace carries findings). */
  advice?: boolean;
  width: number;
  color: boolean;
}

export function reportSections(trace: Trace, c: Colors, opts: SectionOptions): string[] {
  const out: string[] = [];
  const gen = trace.meta.generation as
    | { promptTokens: number; generatedTokens: number; timeToFirstTokenMs: number; prefillTokensPerSec: number; decodeTokensPerSec: number; tokenLatencyMs: { p50: number; p95: number } }
    | undefined;
  if (gen && typeof gen.timeToFirstTokenMs === 'number') {
    out.push('', c.bold('Generation'));
    out.push(`  time to first token ${gen.timeToFirstTokenMs.toFixed(2)} ms (prompt of ${gen.promptTokens} tokens: ${gen.prefillTokensPerSec.toFixed(1)} tokens/s)`);
    out.push(`  decode ${gen.decodeTokensPerSec.toFixed(1)} tokens/s over ${gen.generatedTokens - 1} tokens; per-token latency p50 ${gen.tokenLatencyMs.p50.toFixed(2)} ms, p95 ${gen.tokenLatencyMs.p95.toFixed(2)} ms`);
  }
  if (trace.spans.some((s) => s.pass !== undefined)) {
    const lines = formatPassStats(trace, { width: opts.width, color: opts.color });
    if (lines.length) out.push('', ...lines);
  }
  if (opts.advice) {
    const findings: Finding[] = Array.isArray(trace.meta.advice) ? (trace.meta.advice as Finding[]) : advise(trace);
    out.push('', c.bold('Advice'), ...formatFindings(findings, { color: opts.color }).map((l) => '  ' + l));
  }
  return out;
}
