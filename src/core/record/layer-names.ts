/**
 * The names of a window's layer spans by span id, which a primitive's layer tag is. Ids are added
 * in increasing order, so two arrays and a binary search hold them: a layer span (a decode loop opens
 * ~30 per token) costs two stores, not a hashed insert (docs/design.md has what the Map cost). The
 * recorder keeps one LayerNames from window to window, writing over the last window's entries, and
 * a take hands the trace a copy: new arrays per window would grow, copying, as each window fills.
 */
import { objectArray } from './arrays';

export class LayerNames {
  private ids: number[] = [];
  private names: string[] = objectArray();
  private n = 0;

  get size(): number {
    return this.n;
  }

  /** Adds layer `id`; ids must come in increasing order (an id at or below the last is ignored). */
  add(id: number, name: string): void {
    const n = this.n;
    if (n > 0 && this.ids[n - 1] >= id) return;
    if (n < this.ids.length) {
      this.ids[n] = id;
      this.names[n] = name;
    } else {
      this.ids.push(id);
      this.names.push(name);
    }
    this.n = n + 1;
  }

  get(id: number): string | undefined {
    const ids = this.ids;
    let lo = 0;
    let hi = this.n - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = ids[mid];
      if (v === id) return this.names[mid];
      if (v < id) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  /** Forgets the last layer if it is `id` (a span its sampler left out is the last begun). */
  dropLast(id: number): void {
    if (this.n > 0 && this.ids[this.n - 1] === id) this.n--;
  }

  /** Keeps the layers `keep` says yes to, in order. */
  retain(keep: (id: number) => boolean): void {
    let j = 0;
    for (let i = 0; i < this.n; i++) {
      if (!keep(this.ids[i])) continue;
      this.ids[j] = this.ids[i];
      this.names[j++] = this.names[i];
    }
    this.n = j;
  }

  /** Forgets every layer, keeping the room. */
  reset(): void {
    this.n = 0;
  }

  /** The layers as a LayerNames of their own (a taken trace's, while this one goes on). */
  copy(): LayerNames {
    const c = new LayerNames();
    c.ids = this.ids.slice(0, this.n);
    c.names = this.names.slice(0, this.n);
    c.n = this.n;
    return c;
  }

  /** Those of `older` (a recorder taken over), whose ids all come before these, then these. */
  prepend(older: LayerNames): void {
    const ids: number[] = [];
    const names: string[] = objectArray();
    for (const from of [older, this]) {
      for (let i = 0; i < from.n; i++) {
        if (ids.length > 0 && ids[ids.length - 1] >= from.ids[i]) continue;
        ids.push(from.ids[i]);
        names.push(from.names[i]);
      }
    }
    this.ids = ids;
    this.names = names;
    this.n = ids.length;
  }
}
