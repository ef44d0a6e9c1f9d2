// The HTML packer names each primitive's layer by span-facts' rule while indexing layer spans as its one pass meets
// them: whatever order the layer spans come in, and when two share an id, its layer column must agree with
// layerResolver's answer for every primitive.
import { describe, expect, it } from 'vitest';
import { packTrace } from '../../src/exporters/html/pack';
import { layerResolver, NO_LAYER } from '../../src/core/model/span-facts';
import type { Span, Trace } from '../../src/core/model/trace';
import { syntheticTrace } from '../helpers/synthetic-trace';
import { aggregate } from '../../src/core/analysis/aggregate';

/** Layer name per primitive start, as the packed columns say (primitive starts are unique in these traces). */
function packedLayers(trace: Trace): Map<number, string> {
  const { head, columns } = packTrace(trace);
  const col = (id: string) => columns.find((c) => c.desc.id === id)!.data as ArrayLike<number>;
  const [start, layer, sig, sigKind] = [col('start'), col('layer'), col('sig'), col('sigKind')];
  const out = new Map<number, string>();
  for (let i = 0; i < head.spanCount; i++) {
    if (head.kinds[sigKind[sig[i]]] !== 'primitive') continue;
    out.set(start[i], layer[i] === 0 ? NO_LAYER : head.strings[head.layers[layer[i] - 1]]);
  }
  return out;
}

function expectedLayers(trace: Trace): Map<number, string> {
  const of = layerResolver(trace);
  const out = new Map<number, string>();
  for (const s of trace.spans) if (s != null && s.kind === 'primitive' && Number.isFinite(s.start) && Number.isFinite(s.end)) out.set(s.start, of(s));
  return out;
}

const base = () => syntheticTrace({ steps: 3, blocks: 3, primitivesPerLayer: 3 });
const layersOf = (t: Trace) => t.spans.filter((s) => s.kind === 'layer');
const others = (t: Trace) => t.spans.filter((s) => s.kind !== 'layer');

const variants: Record<string, () => Trace> = {
  'in recorder order': base,
  'layer spans after their primitives': () => { const t = base(); t.spans = others(t).concat(layersOf(t)); return t; },
  'layer ids falling': () => { const t = base(); t.spans = layersOf(t).reverse().concat(others(t)); return t; },
  'a later layer span reuses an id': () => { const t = base(); t.spans.push({ ...layersOf(t)[2], name: 'other (Other)' }); return t; },
  'an earlier layer span reuses an id, without times': () => {
    const t = base();
    t.spans.unshift({ ...layersOf(t)[1], name: 'first (First)', start: NaN });
    return t;
  },
  'a primitive names a layer id that no span has': () => {
    const t = base();
    const p = t.spans.find((s) => s.kind === 'primitive')!;
    p.layerId = 987654;
    return t;
  },
  'a hole in the spans array': () => { const t = base(); (t.spans as (Span | null)[]).splice(3, 0, null); return t; },
};

describe('html packer: layer of each primitive', () => {
  for (const [name, make] of Object.entries(variants)) {
    it(name, () => {
      const t = make();
      const want = expectedLayers(t);
      expect(want.size).toBeGreaterThan(10);
      expect([...want.values()].some((l) => l !== NO_LAYER)).toBe(true);
      expect(packedLayers(t)).toEqual(want);
    });
  }
});

describe("aggregate's onSpan, which the HTML packer's scan rides on", () => {
  it('sees every element of trace.spans once, in order, whatever its kind or pass', () => {
    const t = syntheticTrace({ steps: 2, blocks: 2, primitivesPerLayer: 2 });
    t.spans.forEach((s, i) => { if (i % 3 === 0) { s.pass = i % 2; s.warmup = i % 2 === 0; } });
    const seen: Span[] = [];
    aggregate(t, { by: ['layer'], passes: 'measured', onSpan: (s) => seen.push(s) });
    expect(seen).toHaveLength(t.spans.length);
    seen.forEach((s, i) => expect(s).toBe(t.spans[i]));
  });
});
