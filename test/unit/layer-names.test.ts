// The recorder's layer names by span id (src/core/record/layer-names.ts): what a primitive's layer
// tag turns into, checked against a Map doing the same work.
import { describe, expect, it } from 'vitest';
import { LayerNames } from '../../src/core/record/layer-names';

describe('LayerNames', () => {
  it('answers like a Map through adds, drops, retains and prepends', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const names = new LayerNames();
    const map = new Map<number, string>();
    let id = 1;
    for (let step = 0; step < 3000; step++) {
      const r = rnd();
      if (r < 0.7) {
        id += 1 + Math.floor(rnd() * 3);
        names.add(id, `layer ${id}`);
        map.set(id, `layer ${id}`);
      } else if (r < 0.8) {
        names.dropLast(id);
        map.delete(id);
      } else if (r < 0.82) {
        const floor = id - Math.floor(rnd() * 50);
        const open = new Set([...map.keys()].filter(() => rnd() < 0.1));
        names.retain((k) => k >= floor || open.has(k));
        for (const k of [...map.keys()]) if (!(k >= floor || open.has(k))) map.delete(k);
      }
      const q = Math.floor(rnd() * (id + 2));
      expect(names.get(q)).toBe(map.get(q));
    }
    expect(names.size).toBe(map.size);
    for (let q = 0; q <= id + 1; q++) expect(names.get(q)).toBe(map.get(q));
  });

  it('ignores an id at or below the last, and prepends an older window', () => {
    const older = new LayerNames();
    older.add(2, 'a');
    older.add(5, 'b');
    const names = new LayerNames();
    names.add(9, 'c');
    names.add(9, 'dup');
    names.add(4, 'late');
    expect(names.get(9)).toBe('c');
    expect(names.get(4)).toBeUndefined();
    names.dropLast(5);
    expect(names.get(9)).toBe('c');
    names.prepend(older);
    expect([2, 5, 9].map((k) => names.get(k))).toEqual(['a', 'b', 'c']);
    expect(names.size).toBe(3);
  });
});
