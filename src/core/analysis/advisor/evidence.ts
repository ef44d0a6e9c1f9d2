/** How findings state their weight and point at spans: severity by share of busy time, evidence ids, layer lists, counts. */
import { formatCount } from '../../model/units';
import type { Span } from '../../model/trace';
import { NO_LAYER } from '../../model/span-facts';
import { ADVISOR_LIMITS as L, type Severity } from './types';
import type { Prim } from './span-index';

export function severityFor(ns: number, busyNs: number): Severity {
  const share = busyNs > 0 ? ns / busyNs : 0;
  return share >= L.criticalShare ? 'critical' : share >= L.warnShare ? 'warning' : 'info';
}

/**
 * Evidence ids, unique, in id order (the recorder numbers spans as they begin, so this is time order),
 * capped. A typed-array sort: no comparator calls, for lists of tens of thousands of spans.
 */
export function evidenceOf(spans: Span[]): number[] {
  const sorted = new Float64Array(spans.length);
  for (let i = 0; i < spans.length; i++) sorted[i] = spans[i].id;
  sorted.sort();
  const ids: number[] = [];
  for (let i = 0; i < sorted.length && ids.length < L.maxEvidence; i++) {
    if (i === 0 || sorted[i] !== sorted[i - 1]) ids.push(sorted[i]);
  }
  return ids;
}

/**
 * Layer names (`layerOf`: the index's span-facts resolver) of some primitives, most frequent first, as 'a, b and
 * 3 more'. With `weights`, prims[i] stands for weights[i] primitives of its layer (one per pattern match).
 */
export function layerList(layerOf: (s: Span) => string, prims: Prim[], weights?: number[], max = 3): string {
  const counts = new Map<string, number>();
  let lastName: string | undefined;
  let run = 0;
  // Lists come in runs of one layer (a group): count a run without a lookup.
  const flush = () => {
    if (lastName !== undefined && lastName !== NO_LAYER) counts.set(lastName, (counts.get(lastName) ?? 0) + run);
  };
  for (let i = 0; i < prims.length; i++) {
    const l = layerOf(prims[i].span);
    const w = weights ? weights[i] : 1;
    if (l === lastName) {
      run += w;
      continue;
    }
    flush();
    lastName = l;
    run = w;
  }
  flush();
  const names = [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([n]) => n);
  if (names.length === 0) return '';
  const shown = names.slice(0, max).join(', ');
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}

/** formatCount without its locale machinery for the small counts most messages have. */
export const count = (n: number) => (n < 1000 && Number.isInteger(n) ? String(n) : formatCount(n));
export const plural = (n: number, one: string, many = one + 's') => `${count(n)} ${n === 1 ? one : many}`;
