/** Rules memory-peak and large-temporary: peak memory far above the working set, and huge short-lived arrays. */
import { formatBytes, formatDuration } from '../../model/units';
import type { MemoryEvent, Span } from '../../model/trace';
import { ADVISOR_LIMITS as L, type Finding } from './types';
import { ANY_OP, type EvalInfo, fwd, type Index, NONE_CLAIMED, Op, out0, type Prim, sameShape, shapeText } from './span-index';
import { evidenceOf, layerList, plural, severityFor } from './evidence';
import { percentileSorted } from '../passes';

// ---------------------------------------------------------------------------------------------------------------
// Rule 5: memory

/**
 * Peak memory is what decides whether a model fits: materializing arrays before casting or holding
 * temporaries during an eval raises it above what the program keeps. (Writing Fast MLX, "Memory Use": lazy
 * loading, release temporaries.) In Node, an array's memory is released when its JS object is collected.
 */
export function memoryPeak(ix: Index): Finding[] {
  const mem = ix.trace.memory ?? [];
  if (mem.length < 2) return [];
  let peak = -Infinity;
  let peakAt = 0;
  for (let i = 0; i < mem.length; i++) {
    if (mem[i].live > peak) {
      peak = mem[i].live;
      peakAt = i;
    }
  }
  // The working set: live bytes between evals (after each one ends), where an iterative program rests.
  const samples: number[] = [];
  let j = -1;
  for (const e of ix.evals) {
    while (j + 1 < mem.length && mem[j + 1].t <= e.span.end) j++;
    if (j >= 0) samples.push(mem[j].live);
  }
  const working = samples.length >= 3 ? percentileSorted([...samples].sort((x, y) => x - y), 0.5) : mem[mem.length - 1].live;
  if (!(peak >= L.peakRatio * working && peak - working >= L.peakMinExcess)) return [];

  // What filled it: the largest allocations since live was last at the working set.
  let from = peakAt;
  while (from > 0 && mem[from - 1].live > working) from--;
  const allocs = largestAllocations(mem, from, peakAt, 20);
  const spans: Span[] = [];
  const peakEval = evalAt(ix.evals, mem[peakAt].t);
  if (peakEval) spans.push(peakEval.span);
  for (const a of allocs) {
    const p = primAt(ix.prims, a.t);
    if (p) spans.push(p.span);
  }
  const total = ix.trace.meta?.host?.totalMemory ?? 0;
  const excess = peak - working;
  return [
    {
      rule: 'memory-peak',
      severity: total > 0 && excess >= total / 4 ? 'critical' : 'warning',
      message:
        `Memory peaked at ${formatBytes(peak)}${peakEval ? ` during ${peakEval.span.kind} ${peakEval.span.id}` : ''}, ` +
        `${(peak / Math.max(1, working)).toFixed(1)}x the ${formatBytes(working)} the program holds between evals ` +
        `(median): ${formatBytes(excess)} of arrays alive at once that are not kept.`,
      evidence: evidenceOf(spans),
      suggestion:
        'Do not materialize what you convert right after (cast or load weights in their final dtype before ' +
        'mx.eval), evaluate large batches in pieces, and drop references to arrays you no longer need before ' +
        'calling mx.eval (in Node an array is freed when its JS object is garbage-collected).',
      timeAtStake: 0,
    },
  ];
}

/** Single arrays far larger than the program's working set, consumed within the same eval. */
export function largeTemporaries(ix: Index): Finding[] {
  if (ix.jsTiming) return [];
  const mem = ix.trace.memory ?? [];
  // Live bytes before each eval, when the allocator was recorded.
  const liveBefore = new Map<number, number>();
  if (mem.length > 0) {
    let j = -1;
    for (const e of ix.evals) {
      while (j + 1 < mem.length && mem[j + 1].t < e.span.start) j++;
      liveBefore.set(e.span.id, j >= 0 ? mem[j].live : 0);
    }
  }
  const temps: Prim[] = [];
  const users: Prim[] = [];
  let largest = 0;
  let largestShape: number[] | undefined;
  for (const g of ix.groups) {
    for (let i = 0; i < g.length; i++) {
      const p = g[i];
      const o = out0(p);
      if (p.fast || !o || p.op === Op.View || !(o.bytes >= L.tempMinBytes)) continue;
      const base = p.span.parentId != null ? liveBefore.get(p.span.parentId) : undefined;
      if (base !== undefined && !(o.bytes >= L.tempFactor * base)) continue;
      // Consumed later in the same layer group: a temporary, not a result the program keeps.
      const u = fwd(g, i + 1, i + L.window, NONE_CLAIMED, ANY_OP, (q) => (q.span.inputs ?? []).some((t) => sameShape(t?.shape, o.shape) && t.dtype === o.dtype));
      if (u < 0) continue;
      temps.push(p);
      if (!g[u].fast) users.push(g[u]);
      if (o.bytes > largest) {
        largest = o.bytes;
        largestShape = o.shape;
      }
    }
  }
  if (temps.length === 0) return [];
  let atStake = 0;
  for (const p of temps) atStake += p.dur;
  const where = layerList(ix.layerOf, temps);
  return [
    {
      rule: 'large-temporary',
      severity: severityFor(atStake, ix.busyNs) === 'info' ? 'warning' : severityFor(atStake, ix.busyNs),
      message:
        `${plural(temps.length, 'temporary array')} of ${formatBytes(L.tempMinBytes)} or more (largest ` +
        `${formatBytes(largest)}, shape ${shapeText(largestShape)})${where ? ` in ${where}` : ''}, far larger than ` +
        `the memory the program held before the eval; writing them took ${formatDuration(atStake)}.`,
      evidence: evidenceOf([...temps, ...users].map((p) => p.span)),
      suggestion:
        'Avoid materializing broadcast intermediates: use matmul / mx.addmm or mx.fast kernels instead of ' +
        'broadcast-multiply-then-sum, reduce earlier, or process the data in chunks.',
      timeAtStake: atStake,
    },
  ];
}

/** The k largest allocations in mem[from..to], without sorting them all (the climb can be the whole trace). */
function largestAllocations(mem: MemoryEvent[], from: number, to: number, k: number): MemoryEvent[] {
  const top: MemoryEvent[] = [];
  for (let i = from; i <= to; i++) {
    const e = mem[i];
    if (e.delta <= 0 || (top.length === k && e.delta <= top[k - 1].delta)) continue;
    let j = Math.min(top.length, k - 1);
    while (j > 0 && top[j - 1].delta < e.delta) {
      top[j] = top[j - 1];
      j--;
    }
    top[j] = e;
  }
  return top;
}

/** The eval running at t, or the last one started before it. */
function evalAt(evals: EvalInfo[], t: number): EvalInfo | null {
  let lo = 0;
  let hi = evals.length - 1;
  let best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (evals[mid].span.start <= t) {
      best = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return best >= 0 ? evals[best] : null;
}

/** The primitive running at t (the last one started at or before t, if it has not ended). */
function primAt(prims: Prim[], t: number): Prim | null {
  let lo = 0;
  let hi = prims.length - 1;
  let best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (prims[mid].span.start <= t) {
      best = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return best >= 0 && prims[best].span.end >= t ? prims[best] : null;
}
