/**
 * The advisor: reads a Trace and says what to fix, each rule resting on a documented MLX performance fact
 * ("Writing Fast MLX", https://gist.github.com/awni/4beb1f7dfefc6f9426f3a7deee74af50, and the MLX docs).
 *
 * Pure over the plain-data Trace model. One indexing pass groups primitives by the eval that ran them and
 * the layer that built them; each rule then makes one linear pass (pattern rules look at most WINDOW
 * neighbours), so the work grows linearly with the trace.
 *
 * Spans marked `attrs.fast` are the fallback graph of an mx.fast call (a backend without the fused kernel
 * runs plain primitives): they already are the recommended spelling and are never flagged.
 */
import type { Trace } from '../../model/trace';
import { assertTrace } from '../../model/checks';
import { buildIndex } from './span-index';
import type { Finding, Severity } from './types';
import { typePromotion } from './type-promotion';
import { unfusedOps } from './unfused-op';
import { evalCadence } from './eval-cadence';
import { recompiles } from './recompile';
import { largeTemporaries, memoryPeak } from './memory';
import { broadcastCopies } from './broadcast-copy';

export { ADVISOR_LIMITS } from './types';
export type { AdviceRule, Finding, Severity } from './types';

// ---------------------------------------------------------------------------------------------------------------
// Entry points

const SEVERITY_RANK: Record<Severity, number> = { critical: 0, warning: 1, info: 2 };

/**
 * What to fix in the traced program, most severe (then most time at stake) first. Pure: reads the trace,
 * changes nothing. Throws a TypeError with one line when `trace` is not a Trace.
 */
export function advise(trace: Trace): Finding[] {
  assertTrace(trace, 'advise');
  const ix = buildIndex(trace);
  const findings = [
    ...typePromotion(ix),
    ...unfusedOps(ix),
    ...evalCadence(ix),
    ...recompiles(ix),
    ...broadcastCopies(ix),
    ...memoryPeak(ix),
    ...largeTemporaries(ix),
  ];
  return findings.sort((a, b) => SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] || b.timeAtStake - a.timeAtStake);
}
