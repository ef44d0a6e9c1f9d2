/**
 * The names of a window's layer spans by span id, which a primitive's layer tag is. Ids are added
 * in increasing order, so two arrays and a binary search hold them: a layer span (a decode loop opens
 * ~30 per token) costs two pushes, not a hashed insert (docs/design.md has what the Map cost).
 */
import { objectArray } from './arrays';

export class LayerNames {
  private ids: number[] = [];
  private names: string[] = objectArray();

  get size(): number {
    return this.ids.length;
  }

  /** Adds layer `id`; ids must come in increasing order (an id at or below the last is ignored). */
  add(id: number, name: string): void {
    const n = this.ids.length;
    if (n > 0 && this.ids[n - 1] >= id) return;
    this.ids.push(id);
    this.names.push(name);
  }

  get(id: number): string | undefined {
    const ids = this.ids;
    let lo = 0;
    let hi = ids.length - 1;
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
    if (this.ids[this.ids.length - 1] !== id) return;
    this.ids.pop();
    this.names.pop();
  }

  /** Keeps the layers `keep` says yes to, in order. */
  retain(keep: (id: number) => boolean): void {
    let j = 0;
    for (let i = 0; i < this.ids.length; i++) {
      if (!keep(this.ids[i])) continue;
      this.ids[j] = this.ids[i];
      this.names[j++] = this.names[i];
    }
    this.ids.length = j;
    this.names.length = j;
  }

  /** Those of `older` (a recorder taken over), whose ids all come before these, then these. */
  prepend(older: LayerNames): void {
    const ids: number[] = [];
    const names: string[] = objectArray();
    for (const from of [older, this]) {
      for (let i = 0; i < from.ids.length; i++) {
        if (ids.length > 0 && ids[ids.length - 1] >= from.ids[i]) continue;
        ids.push(from.ids[i]);
        names.push(from.names[i]);
      }
    }
    this.ids = ids;
    this.names = names;
  }
}
