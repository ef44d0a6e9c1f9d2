/** Rules eval-too-often and graph-too-large: how often the program evaluates, and how much at once. */
import { formatCount, formatDuration } from '../../model/units';
import type { Span } from '../../model/trace';
import { ADVISOR_LIMITS as L, type Finding } from './types';
import type { EvalInfo, Index } from './span-index';
import { count, evidenceOf, plural, severityFor } from './evidence';

// ---------------------------------------------------------------------------------------------------------------
// Rule 3: evaluation cadence

/**
 * Every eval (and every item()/tolist(), which evaluates) has a fixed overhead: evaluate once per
 * iteration, not per element; but a graph that grows too big before an eval is expensive too.
 * (Writing Fast MLX, "Graph Evaluation".)
 */
export function evalCadence(ix: Index): Finding[] {
  if (ix.jsTiming) return []; // JS-timed traces do not put primitives under evals
  const findings: Finding[] = [];
  // Runs of small evals/syncs in a row under the same parent (a step, a request, or the top level) where
  // most evals spend more time in eval overhead than in their primitives. Smallness is structural (few
  // primitives) so that one eval slowed down by the machine does not split a run.
  const runs: EvalInfo[][] = [];
  const current = new Map<number | null, EvalInfo[]>();
  const close = (key: number | null) => {
    const r = current.get(key);
    current.delete(key);
    if (!r || r.length < L.smallEvalRun) return;
    // Judged eval by eval, not on the run's sums: one primitive preempted for milliseconds by another
    // process would otherwise outweigh the overhead of every other eval in the run.
    let dominated = 0;
    for (const e of r) if (e.span.end - e.span.start - e.primNs >= e.primNs) dominated++;
    if (2 * dominated >= r.length) runs.push(r);
  };
  for (const e of ix.evals) {
    const small = e.prims <= L.smallEvalPrimitives;
    const key = e.span.parentId;
    if (!small) {
      close(key);
      continue;
    }
    let r = current.get(key);
    if (!r) current.set(key, (r = []));
    r.push(e);
  }
  for (const key of [...current.keys()]) close(key);
  if (runs.length > 0) {
    let atStake = 0;
    let runCount = 0;
    let syncs = 0;
    let longest = 0;
    const spans: Span[] = [];
    for (const r of runs) {
      let sum = 0;
      let max = 0;
      for (const e of r) {
        const over = Math.max(0, e.span.end - e.span.start - e.primNs);
        sum += over;
        max = Math.max(max, over);
        spans.push(e.span);
        if (e.span.kind === 'sync') syncs++;
      }
      // Merged into one eval, a run pays the overhead once.
      atStake += sum - max;
      runCount += r.length;
      longest = Math.max(longest, r.length);
    }
    const what = syncs === runCount ? 'sync points (item()/tolist())' : syncs > 0 ? 'evals and sync points' : 'evals';
    findings.push({
      rule: 'eval-too-often',
      severity: severityFor(atStake, ix.busyNs),
      message:
        `${count(runCount)} small ${what} in ${plural(runs.length, 'run')} (up to ${count(longest)} in a row), ` +
        `each running at most ${L.smallEvalPrimitives} primitives, most spending more time in eval overhead ` +
        `than in the primitives: ${formatDuration(atStake)} of overhead that one eval would not pay.`,
      evidence: evidenceOf(spans),
      suggestion:
        'Evaluate once per iteration (one token, one optimizer step) instead of per element: build the whole ' +
        'computation and call mx.eval once, keep loops over elements inside MLX ops, and read many values at ' +
        'once with tolist() instead of item() in a loop.',
      timeAtStake: atStake,
    });
  }
  const big = ix.evals.filter((e) => e.prims > L.graphPrimitives);
  if (big.length > 0) {
    let atStake = 0;
    let maxPrims = 0;
    for (const e of big) {
      atStake += Math.max(0, e.span.end - e.span.start - e.primNs);
      maxPrims = Math.max(maxPrims, e.prims);
    }
    findings.push({
      rule: 'graph-too-large',
      severity: severityFor(atStake, ix.busyNs) === 'critical' ? 'critical' : 'warning',
      message:
        `${plural(big.length, 'eval')} ran a graph of more than ${formatCount(L.graphPrimitives)} primitives ` +
        `(up to ${count(maxPrims)}); ${formatDuration(atStake)} of their time is eval overhead, not primitives.`,
      evidence: evidenceOf(big.map((e) => e.span)),
      suggestion:
        'Evaluate at the end of each iteration of the loop that builds the graph (once per step) instead of ' +
        'letting one graph grow across many iterations.',
      timeAtStake: atStake,
    });
  }
  return findings;
}
