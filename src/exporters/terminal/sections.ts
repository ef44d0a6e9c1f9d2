/**
 * Sections the terminal report adds below its table when the trace has them: generation speed,
 * multi-pass statistics and the advisor's findings.
 */
import { advise, type Finding } from '../../core/analysis/advisor';
import { formatFindings } from './findings';
import type { Colors } from './format';
import { formatPassStats } from './pass-stats';
import type { Trace } from '../../core/model/trace';
import { readAdvice, readGeneration } from '../../core/model/meta';

export interface SectionOptions {
  /** Run the advisor (or show trace.meta.advice when the trace carries findings). */
  advice?: boolean;
  width: number;
  color: boolean;
}

export function reportSections(trace: Trace, c: Colors, opts: SectionOptions): string[] {
  const out: string[] = [];
  const gen = readGeneration(trace.meta);
  if (gen && gen.timeToFirstTokenMs !== null) {
    const f = (x: number | null, digits: number) => (x === null ? '?' : x.toFixed(digits));
    out.push('', c.bold('Generation'));
    out.push(`  time to first token ${gen.timeToFirstTokenMs.toFixed(2)} ms (prompt of ${gen.promptTokens ?? '?'} tokens: ${f(gen.prefillTokensPerSec, 1)} tokens/s)`);
    out.push(`  decode ${f(gen.decodeTokensPerSec, 1)} tokens/s over ${gen.generatedTokens === null ? '?' : gen.generatedTokens - 1} tokens; per-token latency p50 ${f(gen.tokenLatencyMs.p50, 2)} ms, p95 ${f(gen.tokenLatencyMs.p95, 2)} ms`);
  }
  if (trace.spans.some((s) => s.pass !== undefined)) {
    const lines = formatPassStats(trace, { width: opts.width, color: opts.color });
    if (lines.length) out.push('', ...lines);
  }
  if (opts.advice) {
    const findings = (readAdvice(trace.meta) as Finding[] | null) ?? advise(trace);
    out.push('', c.bold('Advice'), ...formatFindings(findings, { color: opts.color }).map((l) => '  ' + l));
  }
  return out;
}
