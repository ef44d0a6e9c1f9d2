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
  const gen = trace.meta.generation as Record<string, unknown> | undefined;
  if (gen && typeof gen === 'object' && typeof gen.timeToFirstTokenMs === 'number') {
    // Read from a file: each figure is shown as a number or '-'.
    const n = (v: unknown, digits = 2) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '-');
    const lat = (gen.tokenLatencyMs ?? {}) as Record<string, unknown>;
    const decoded = typeof gen.generatedTokens === 'number' ? gen.generatedTokens - 1 : NaN;
    out.push('', c.bold('Generation'));
    out.push(`  time to first token ${n(gen.timeToFirstTokenMs)} ms (prompt of ${n(gen.promptTokens, 0)} tokens: ${n(gen.prefillTokensPerSec, 1)} tokens/s)`);
    out.push(`  decode ${n(gen.decodeTokensPerSec, 1)} tokens/s over ${n(decoded, 0)} tokens; per-token latency p50 ${n(lat.p50)} ms, p95 ${n(lat.p95)} ms`);
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
