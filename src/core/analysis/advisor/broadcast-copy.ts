/** Rule broadcast-copy: a reshape that writes a broadcast array out in full, the copy mx.repeat makes. */
import { formatDuration } from '../../model/units';
import { ADVISOR_LIMITS as L, type Finding } from './types';
import { back, type Index, in0, NONE_CLAIMED, Op, out0, type Prim, sameShape, shapeText } from './span-index';
import { evidenceOf, layerList, plural, severityFor } from './evidence';
import { percentileSorted } from '../passes';

// ---------------------------------------------------------------------------------------------------------------
// Rule 7: broadcast arrays copied by a reshape

/** The primitives a reshape becomes. */
const RESHAPES = new Set(['Reshape', 'Flatten', 'Unflatten']);

/**
 * A reshape is a view when the input's strides allow it, and a copy of the whole array when they do not.
 * Merging a broadcast axis (stride 0) with another never allows it, and that is how mx.repeat is spelled: a
 * broadcast, then a reshape. On the CPU build that copy walks the input's strides, several times slower than
 * a copy of the same bytes (docs/design.md has the figures), while the copy after a transpose (an attention
 * output's) is an ordinary one a program usually needs. So only reshapes of a broadcast are reported: those
 * a program can drop, since broadcasting does the repeat without writing it out. A view takes a fraction of a
 * microsecond whatever the size, so a shape whose median reshape takes L.copyMinNs or more copied (the median:
 * a view the OS interrupted once does not count).
 */
export function broadcastCopies(ix: Index): Finding[] {
  if (ix.jsTiming) return [];
  /** Reshapes of a broadcast, by input and output shape. */
  const sites = new Map<string, Prim[]>();
  for (const g of ix.groups) {
    for (let k = 0; k < g.length; k++) {
      const p = g[k];
      if (p.fast || !RESHAPES.has(p.name)) continue;
      const from = in0(p)?.shape;
      if (back(g, k - 1, k - L.window, NONE_CLAIMED, 1 << Op.View, (b) => b.name === 'Broadcast' && sameShape(out0(b)?.shape, from)) < 0) continue;
      const key = `${shapeText(from)} -> ${shapeText(out0(p)?.shape)}`;
      let site = sites.get(key);
      if (!site) sites.set(key, (site = []));
      site.push(p);
    }
  }
  const copies: { shapes: string; prims: Prim[]; ns: number }[] = [];
  for (const [siteShapes, sitePrims] of sites) {
    const durs = sitePrims.map((p) => p.dur).sort((a, b) => a - b);
    if (percentileSorted(durs, 0.5) < L.copyMinNs) continue;
    copies.push({ shapes: siteShapes, prims: sitePrims, ns: durs.reduce((a, b) => a + b, 0) });
  }
  if (copies.length === 0) return [];
  let total = 0;
  let bytes = 0;
  const prims: Prim[] = [];
  for (const c of copies) {
    total += c.ns;
    for (const p of c.prims) bytes += out0(p)?.bytes ?? 0;
    prims.push(...c.prims);
  }
  if (total < L.copyMinShare * ix.busyNs) return [];
  copies.sort((a, b) => b.ns - a.ns);
  const shapes = copies.length > 1 ? `${copies[0].shapes} and ${plural(copies.length - 1, 'more shape')}` : copies[0].shapes;
  const where = layerList(ix.layerOf, prims);
  const rate = bytes / total; // bytes per ns: GB/s
  const share = ix.busyNs > 0 ? ` (${((total / ix.busyNs) * 100).toFixed(1)} % of busy time)` : '';
  return [
    {
      rule: 'broadcast-copy',
      severity: severityFor(total, ix.busyNs),
      message:
        `${plural(prims.length, 'reshape')} wrote a broadcast array out in full, the copy mx.repeat makes (a broadcast, ` +
        `then a reshape)${where ? ` in ${where}` : ''}: ${shapes}, ${formatDuration(total)}${share} at ${rate.toFixed(rate < 1 ? 2 : 1)} GB/s.`,
      evidence: evidenceOf(prims.map((p) => p.span)),
      suggestion:
        'Let broadcasting do the repeat instead of writing it out. For grouped-query attention, ' +
        'mx.fast.scaledDotProductAttention(q, k, v, scale, mask) takes k and v with fewer heads than q as they are; ' +
        'elsewhere, reshape the other operand to [..., groups, repeats, ...] so the op broadcasts against the unrepeated array.',
      timeAtStake: total,
    },
  ];
}
