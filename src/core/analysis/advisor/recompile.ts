/** Rule recompile: a compiled function that builds its kernels again after its first use. */
import { formatDuration } from '../../model/units';
import { ADVISOR_LIMITS as L, type Finding } from './types';
import { type Index, type Prim, shapeText } from './span-index';
import { evidenceOf, layerList, plural, severityFor } from './evidence';

// ---------------------------------------------------------------------------------------------------------------
// Rule 4: recompilation

/**
 * mx.compile compiles again when an input shape or a constant (non-array) argument changes, and compiling
 * is expensive. Seen in a trace (CPU build, checked by running it): the first execution of each newly
 * compiled kernel is a Compiled primitive that takes seconds (the backend builds the kernel's code) instead
 * of microseconds. (Writing Fast MLX, "Compile".)
 */
export function recompiles(ix: Index): Finding[] {
  if (ix.jsTiming || ix.compiled.length < 2) return [];
  const bandwidth = ix.trace.meta?.peaks?.bandwidth > 0 ? ix.trace.meta.peaks.bandwidth : 20e9;
  // A call site: the layer that called the compiled function and the function's dtype signature.
  interface Site { calls: Prim[]; lastEval: number | null; builds: Prim[]; again: Prim[] }
  const sites = new Map<string, Site>();
  for (const p of ix.compiled) {
    const s = p.span;
    const sig = (s.inputs ?? []).map((t) => t.dtype).join(',') + '>' + (s.outputs ?? []).map((t) => t.dtype).join(',');
    const key = `${s.layerId ?? s.layer ?? ''}|${sig}`;
    let site = sites.get(key);
    if (!site) sites.set(key, (site = { calls: [], lastEval: null, builds: [], again: [] }));
    let io = 0;
    for (const t of s.inputs ?? []) io += t.bytes;
    for (const t of s.outputs ?? []) io += t.bytes;
    const expected = (io / bandwidth) * 1e9 + 20_000;
    const built = p.dur >= L.jitMinNs && p.dur >= L.jitFactor * expected;
    // Two different compiled functions called from one layer both build in their first eval; a build in a
    // later eval than an earlier call of the same site is a recompilation.
    if (built) {
      if (site.calls.length > 0 && site.calls.some((c) => c.span.parentId !== s.parentId)) site.again.push(p);
      site.builds.push(p);
    }
    site.calls.push(p);
  }
  const again: Prim[] = [];
  const shapeChanges: string[] = [];
  let sameShapes = 0;
  for (const site of sites.values()) {
    if (site.again.length === 0) continue;
    again.push(...site.again);
    const sigs = site.builds.map((p) => (p.span.inputs ?? []).map((t) => shapeText(t.shape)).join(' '));
    if (new Set(sigs).size > 1) shapeChanges.push(`${sigs[0]} -> ${sigs[sigs.length - 1]}`);
    else sameShapes++;
  }
  if (again.length === 0) return [];
  let atStake = 0;
  for (const p of again) atStake += p.dur;
  const where = layerList(ix.layerOf, again);
  const why =
    shapeChanges.length > 0 && sameShapes === 0
      ? `its input shapes changed (${shapeChanges[0]})`
      : shapeChanges.length > 0
        ? `input shapes changed (${shapeChanges[0]}) and, elsewhere, a constant argument`
        : 'with the same input shapes, so a constant (a JS number argument) changed between calls';
  return [
    {
      rule: 'recompile',
      severity: severityFor(atStake, ix.busyNs) === 'info' ? 'warning' : severityFor(atStake, ix.busyNs),
      message:
        `A compiled function${where ? ` called in ${where}` : ''} was compiled again ${plural(again.length, 'time')} ` +
        `after its first use (${formatDuration(atStake)} building kernels): ${why}.`,
      evidence: evidenceOf(again.map((p) => p.span)),
      suggestion:
        'Pass values that change between calls as mx.array arguments, not JS numbers; keep input shapes ' +
        'fixed (pad to a few sizes), or compile with shapeless=true (mx.compile(fn, true)) when only shapes change.',
      timeAtStake: atStake,
    },
  ];
}
