/** Rule unfused-op: norms, RoPE, softmax and attention composed from primitives where a fused kernel exists. */
import { formatDuration } from '../../model/units';
import { ADVISOR_LIMITS as L, type Finding } from './types';
import { back, fwd, type Group, hasInputShape, in0, type Index, Op, out0, type Prim, sameShape } from './span-index';
import { evidenceOf, layerList, plural, severityFor } from './evidence';

// ---------------------------------------------------------------------------------------------------------------
// Rule 2: composed operations with a fused equivalent

type FusedKind = 'rmsNorm' | 'layerNorm' | 'rope' | 'sdpa' | 'softmax';

const FUSED_TEXT: Record<FusedKind, { what: string; fix: string }> = {
  rmsNorm: {
    what: 'RMS normalization is composed from separate primitives (square, mean, rsqrt, multiply)',
    fix: 'Use mx.fast.rmsNorm(x, weight, eps) (nn.RMSNorm does): one fused kernel, no intermediate arrays.',
  },
  layerNorm: {
    what: 'Layer normalization is composed from separate primitives (mean, subtract, variance, rsqrt, multiply)',
    fix: 'Use mx.fast.layerNorm(x, weight, bias, eps) (weight and bias may be null; nn.LayerNorm uses it).',
  },
  rope: {
    what: 'Rotary position embedding is composed from sin/cos and element-wise primitives',
    fix: 'Use mx.fast.rope(x, dims, traditional, base, scale, offset) (nn.RoPE does).',
  },
  sdpa: {
    what: 'Attention is spelled out as matmul, softmax, matmul',
    fix:
      'Use mx.fast.scaledDotProductAttention(q, k, v, scale, mask): it never materializes the ' +
      'attention-score matrix.',
  },
  softmax: {
    what: 'Softmax is spelled out by hand (exp, sum, divide)',
    fix: 'Use mx.softmax(x, axis) (precise=true to accumulate in float32): one fused, numerically safe kernel.',
  },
};

/** One occurrence of a composed pattern: indexes into its group. */
interface Match {
  kind: FusedKind;
  group: Group;
  idx: number[];
}

/**
 * The fused mx.fast kernels (rms_norm, layer_norm, rope, scaled_dot_product_attention) and mx.softmax do in
 * one pass what the composed ops do in several, each writing a full intermediate array.
 * (Writing Fast MLX, "Use Fast Ops".)
 */
export function unfusedOps(ix: Index): Finding[] {
  const matches: Match[] = [];
  for (const g of ix.groups) {
    if (g.length < 3) continue;
    let anchors = 0;
    for (const p of g) if (!p.fast && (p.op === Op.Sqrt || p.op === Op.Exp || p.op === Op.Softmax || p.op === Op.Sin)) anchors++;
    if (anchors === 0) continue;
    const claimed = new Uint8Array(g.length);
    const claim = (m: Match) => {
      for (const i of m.idx) claimed[i] = 1;
      matches.push(m);
    };
    for (let k = 0; k < g.length; k++) if (g[k].op === Op.Sqrt && !g[k].fast) { const m = matchNorm(g, k, claimed); if (m) claim(m); }
    // Hand softmaxes first, so an attention block built around one is reported once, as attention.
    const softmaxes: Match[] = [];
    for (let k = 0; k < g.length; k++) {
      if (g[k].op !== Op.Exp || g[k].fast || claimed[k]) continue;
      const m = matchSoftmax(g, k, claimed);
      if (m) {
        for (const i of m.idx) claimed[i] = 1;
        softmaxes.push(m);
      }
    }
    const inAttention = new Set<Match>();
    const softmaxAt: { start: number; end: number; sm?: Match }[] = [];
    for (let k = 0; k < g.length; k++) if (g[k].op === Op.Softmax && !g[k].fast && !claimed[k]) softmaxAt.push({ start: k, end: k });
    for (const sm of softmaxes) softmaxAt.push({ start: sm.idx[0], end: sm.idx[sm.idx.length - 1], sm });
    for (const a of softmaxAt) {
      const m = matchAttention(g, a.start, a.end, claimed);
      if (!m) continue;
      if (a.sm) {
        inAttention.add(a.sm);
        m.idx.push(...a.sm.idx);
      }
      claim(m);
    }
    for (const sm of softmaxes) if (!inAttention.has(sm)) matches.push(sm);
    for (let k = 0; k < g.length; k++) if (g[k].op === Op.Sin && !g[k].fast && !claimed[k]) { const m = matchRope(g, k, claimed); if (m) claim(m); }
  }
  const byKind = new Map<FusedKind, Match[]>();
  for (const m of matches) {
    let a = byKind.get(m.kind);
    if (!a) byKind.set(m.kind, (a = []));
    a.push(m);
  }
  const findings: Finding[] = [];
  for (const [kind, list] of byKind) {
    const prims: Prim[] = [];
    let atStake = 0;
    let total = 0;
    for (const m of list) {
      let sum = 0;
      let keep = 0;
      for (const i of m.idx) {
        const p = m.group[i];
        // Patterns are anchored on hand-written ops but may pass through fallback ones, never reported.
        if (p.fast) continue;
        prims.push(p);
        sum += p.dur;
        // The fused kernel still does one pass (norms, rope, softmax) or the two matmuls (attention).
        keep = kind === 'sdpa' ? keep + (p.op === Op.Matmul ? p.dur : 0) : Math.max(keep, p.dur);
      }
      total += sum;
      atStake += Math.max(0, sum - keep);
    }
    // One primitive per match stands for its layer: all of a match comes from one group.
    const where = layerList(
      ix.layerOf,
      list.map((m) => m.group[m.idx[0]]),
      list.map((m) => m.idx.length),
    );
    const t = FUSED_TEXT[kind];
    findings.push({
      rule: 'unfused-op',
      severity: severityFor(atStake, ix.busyNs),
      message:
        `${t.what}: ${plural(list.length, 'place')}` +
        (where ? ` (${where})` : '') +
        `, ${plural(prims.length, 'primitive')} taking ${formatDuration(total)}.`,
      evidence: evidenceOf(prims.map((p) => p.span)),
      suggestion: t.fix,
      timeAtStake: atStake,
    });
  }
  return findings;
}


/** Non-view ops in (lo, hi) whose output has shape a or b: the eps add, 1/N scaling, mask add... */
function interior(g: Group, lo: number, hi: number, claimed: Uint8Array, a: number[] | undefined, b: number[] | undefined, into: number[]) {
  for (let i = lo + 1; i < hi; i++) {
    if (claimed[i] || g[i].op === Op.View || into.includes(i)) continue;
    const s = out0(g[i])?.shape;
    if (sameShape(s, a) || sameShape(s, b)) into.push(i);
  }
}

/** RMSNorm / LayerNorm, anchored at the (r)sqrt: square -> reduce -> [+eps] -> rsqrt -> multiply. */
function matchNorm(g: Group, k: number, claimed: Uint8Array): Match | null {
  const W = L.window;
  const normShape = in0(g[k])?.shape;
  const r = back(g, k - 1, k - W, claimed, (1 << Op.Reduce), (p) => sameShape(out0(p)?.shape, normShape));
  if (r < 0) return null;
  const rowShape = in0(g[r])?.shape;
  const sq = back(g, r - 1, k - W, claimed, (1 << Op.Square), (p) => sameShape(out0(p)?.shape, rowShape));
  if (sq < 0) return null;
  const x = in0(g[sq])?.shape;
  const m = fwd(g, k + 1, k + W, claimed, (1 << Op.Mul) | (1 << Op.Div), (p) => hasInputShape(p, x));
  if (m < 0) return null;
  const idx = [sq, r, k, m];
  // x - mean(x) in front of the square makes it a layer norm.
  const sub = back(g, sq - 1, k - W, claimed, (1 << Op.Sub), (p) => sameShape(out0(p)?.shape, x));
  let kind: FusedKind = 'rmsNorm';
  let first = sq;
  if (sub >= 0) {
    kind = 'layerNorm';
    idx.push(sub);
    first = sub;
    const mean = back(g, sub - 1, k - W, claimed, (1 << Op.Reduce), (p) => sameShape(in0(p)?.shape, x));
    if (mean >= 0) {
      idx.push(mean);
      first = mean;
    }
  }
  // The weight (and bias) applied right after.
  let last = m;
  for (let n = 0; n < 2; n++) {
    const w = fwd(g, last + 1, last + 4, claimed, (1 << Op.Mul) | (1 << Op.Add), (p) => sameShape(out0(p)?.shape, x));
    if (w < 0) break;
    idx.push(w);
    last = w;
  }
  interior(g, first, last, claimed, normShape, x, idx);
  return { kind, group: g, idx };
}

/** A softmax written out: [max, subtract] -> exp -> sum -> divide, anchored at the exp. */
function matchSoftmax(g: Group, k: number, claimed: Uint8Array): Match | null {
  const W = L.window;
  const shape = out0(g[k])?.shape;
  if (!shape || shape.length === 0) return null;
  const r = fwd(g, k + 1, k + W, claimed, (1 << Op.Reduce), (p) => sameShape(in0(p)?.shape, shape));
  if (r < 0) return null;
  const d = fwd(g, r + 1, k + W, claimed, (1 << Op.Div), (p) => sameShape(out0(p)?.shape, shape) && hasInputShape(p, shape));
  if (d < 0) return null;
  const idx = [k, r, d];
  let first = k;
  const sub = back(g, k - 1, k - W, claimed, (1 << Op.Sub), (p) => sameShape(out0(p)?.shape, in0(g[k])?.shape));
  if (sub >= 0) {
    idx.push(sub);
    first = sub;
    const mx = back(g, sub - 1, k - W, claimed, (1 << Op.Reduce), (p) => sameShape(in0(p)?.shape, shape));
    if (mx >= 0) {
      idx.push(mx);
      first = mx;
    }
  }
  interior(g, first, d, claimed, shape, undefined, idx);
  idx.sort((a, b) => a - b);
  return { kind: 'softmax', group: g, idx };
}

/** scores = q @ k^T (scaled, masked) -> softmax -> @ v, anchored at the softmax (start..end in the group). */
function matchAttention(g: Group, start: number, end: number, claimed: Uint8Array): Match | null {
  const W = L.window;
  const scores = in0(g[start])?.shape;
  if (!scores || scores.length < 2) return null;
  const m1 = back(g, start - 1, start - W, claimed, (1 << Op.Matmul), (p) => sameShape(out0(p)?.shape, scores));
  if (m1 < 0) return null;
  const probs = out0(g[end])?.shape;
  const m2 = fwd(g, end + 1, end + W, claimed, (1 << Op.Matmul), (p) => sameShape(in0(p)?.shape, probs));
  if (m2 < 0) return null;
  const idx = [m1, m2];
  if (start === end) idx.push(start);
  interior(g, m1, start, claimed, scores, undefined, idx);
  return { kind: 'sdpa', group: g, idx };
}

/** Rotary embedding: sin and cos of the same angles, then x1*cos - x2*sin (and +), anchored at the sin. */
function matchRope(g: Group, k: number, claimed: Uint8Array): Match | null {
  const W = L.window;
  const angles = out0(g[k])?.shape;
  let c = -1;
  const isCos = (i: number) => i >= 0 && i < g.length && !claimed[i] && g[i].op === Op.Cos && sameShape(out0(g[i])?.shape, angles);
  for (let d = 1; d <= W && c < 0; d++) {
    if (isCos(k - d)) c = k - d;
    else if (isCos(k + d)) c = k + d;
  }
  if (c < 0) return null;
  const lo = Math.min(k, c);
  const hi = Math.max(k, c);
  const m = fwd(g, hi + 1, hi + W, claimed, (1 << Op.Mul));
  if (m < 0) return null;
  const rotated = out0(g[m])?.shape;
  const a = fwd(g, m + 1, hi + W, claimed, (1 << Op.Sub) | (1 << Op.Add), (p) => sameShape(out0(p)?.shape, rotated));
  if (a < 0) return null;
  const idx = [k, c];
  let last = a;
  for (let i = lo + 1; i <= Math.min(g.length - 1, a + 8); i++) {
    if (claimed[i] || i === k || i === c) continue;
    const p = g[i];
    const arith = p.op === Op.Mul || p.op === Op.Add || p.op === Op.Sub || p.op === Op.Concat;
    if (arith && (sameShape(out0(p)?.shape, rotated) || p.op === Op.Concat)) {
      idx.push(i);
      last = Math.max(last, i);
    }
  }
  if (last < a) return null;
  return { kind: 'rope', group: g, idx };
}
