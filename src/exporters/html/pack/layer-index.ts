import type { Span } from '../../../core/model/trace';
import { layerOf, NO_LAYER } from '../../../core/model/span-facts';

/** Layer spans the LayerIndex keeps at hand (a power of two). */
const RING = 256;

/**
 * Which layer built a primitive (span-facts layerOf) with the layer spans indexed as the scan meets them, so the
 * packer needs no pass of its own over the spans to index them first. Recorders write a layer span before the
 * primitives it builds; a primitive whose layerId is not among the layer spans met so far makes it index the whole
 * trace at that point, as layerResolver does. An early answer can differ from the whole index's only when two layer
 * spans share an id: `exact` is then false, and the caller scans again with layerResolver.
 */
export class LayerIndex {
  // While layer ids rise in trace order (as a recorder numbers them) no two share one, and a primitive's layer is
  // among the last few met: those are kept in a ring, newest last. A layer id that falls, or a primitive whose layer
  // is not in the ring, makes the index read the whole trace once, as layerResolver does, noting ids met twice.
  private readonly ringIds = new Float64Array(RING);
  private readonly ringSpans: (Span | undefined)[] = new Array(RING).fill(undefined);
  private count = 0;
  private lastMet = -Infinity;
  private all: Map<number, Span> | null = null;
  private duplicate = false;
  private readonly find = (id: number): Span | undefined => {
    if (this.all === null) {
      const l = this.recent(id);
      if (l !== undefined) return l;
      this.indexAll();
    }
    return this.all!.get(id);
  };
  // Primitives come in runs built by one layer: answer a run without a lookup.
  private lastId: number | null | undefined = undefined;
  private lastLayer: string | null | undefined = undefined;
  private last = NO_LAYER;

  constructor(private readonly spans: readonly Span[]) {}

  /** Every layer span, in trace order, before any primitive after it is asked about. */
  meet(s: Span): void {
    if (this.all !== null) return;
    const id = s.id;
    if (typeof id !== 'number' || !(id > this.lastMet)) {
      this.indexAll();
      return;
    }
    this.lastMet = id;
    const k = this.count++ & (RING - 1);
    this.ringIds[k] = id;
    this.ringSpans[k] = s;
  }

  /** The ring's layer span with this id: newest first, stopping at the first older id. */
  private recent(id: number): Span | undefined {
    const n = Math.min(this.count, RING);
    for (let j = 1; j <= n; j++) {
      const k = (this.count - j) & (RING - 1);
      const x = this.ringIds[k];
      if (x === id) return this.ringSpans[k];
      if (x < id) return undefined;
    }
    return undefined;
  }

  private indexAll(): void {
    const all = (this.all = new Map());
    for (let i = 0; i < this.spans.length; i++) {
      const t = this.spans[i];
      if (t == null || t.kind !== 'layer') continue;
      const was = all.get(t.id);
      if (was !== undefined && was !== t) this.duplicate = true;
      all.set(t.id, t);
    }
  }

  /** The layer of primitive s. */
  readonly of = (s: Span): string => {
    if (s.layerId !== this.lastId || s.layer !== this.lastLayer) {
      this.last = layerOf(s, this.find);
      this.lastId = s.layerId;
      this.lastLayer = s.layer;
    }
    return this.last;
  };

  get exact(): boolean {
    return !this.duplicate;
  }
}
