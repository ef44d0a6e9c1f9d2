/**
 * Generation speed: time to first token, prefill and decode tokens/s, per-token latency, with a user
 * span per phase and per token so the trace shows where each token's time went.
 */
import { activeInstrumentation, registerMlxInstrumentation } from './api';
import { percentileSorted } from '../../core/analysis/passes';
import type { Trace } from '../../core/model/trace';

export interface GenerationOptions<T> {
  /** Runs the prompt through the model and evaluates the first token; returns it. */
  prefill: () => T | Promise<T>;
  /** Produces (and evaluates) the token after `prev`; i counts from 1. */
  decodeStep: (prev: T, i: number) => T | Promise<T>;
  /** Tokens to decode after the first one. */
  tokens: number;
  /** Prompt length in tokens, for prefill tokens/s. */
  promptTokens: number;
  name?: string;
}

import type { GenerationStats } from '../../core/model/meta';
export type { GenerationStats };

/** Profiles one generation; the stats are also in trace.meta.generation. */
export async function profileGeneration<T>(opts: GenerationOptions<T>): Promise<{ trace: Trace; stats: GenerationStats }> {
  const owned = !activeInstrumentation();
  const inst = owned ? registerMlxInstrumentation() : activeInstrumentation()!;
  try {
    const mark = inst.recorder.mark();
    const now = () => Number(process.hrtime.bigint());
    const t0 = now();
    let tok = await inst.withSpan('prefill', () => opts.prefill(), { phase: 'prefill', tokens: opts.promptTokens });
    const ttft = now() - t0;
    const lat: number[] = [];
    for (let i = 1; i <= opts.tokens; i++) {
      const s = now();
      tok = await inst.withSpan(`token ${i}`, () => opts.decodeStep(tok, i), { phase: 'decode', token: i });
      lat.push(now() - s);
    }
    const stats = generationStats(opts.promptTokens, ttft, lat);
    const trace = inst.recorder.take(opts.name ?? 'generation', { generation: stats }, mark, inst.getConfig().retainProfiles === true);
    return { trace, stats };
  } finally {
    if (owned) inst.disable();
  }
}

/**
 * Generation speed from the time to the first token and each later token's latency (ns): what profileGeneration
 * and `mlx-trace demo` report, and what trace.meta.generation holds.
 */
export function generationStats(promptTokens: number, ttftNs: number, latencyNs: readonly number[]): GenerationStats {
  const decodeNs = latencyNs.reduce((a, b) => a + b, 0);
  const sorted = [...latencyNs].sort((a, b) => a - b);
  const ms = (ns: number) => +(ns / 1e6).toFixed(4);
  return {
    promptTokens,
    generatedTokens: latencyNs.length + 1,
    timeToFirstTokenMs: ms(ttftNs),
    prefillTokensPerSec: +(promptTokens / (ttftNs / 1e9)).toFixed(2),
    decodeTokensPerSec: latencyNs.length ? +(latencyNs.length / (decodeNs / 1e9)).toFixed(2) : 0,
    tokenLatencyMs: {
      p50: ms(percentileSorted(sorted, 0.5)),
      p95: ms(percentileSorted(sorted, 0.95)),
      mean: ms(decodeNs / Math.max(1, latencyNs.length)),
      min: ms(sorted[0] ?? NaN),
      max: ms(sorted[sorted.length - 1] ?? NaN),
    },
  };
}
