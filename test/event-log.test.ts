// The recorder's columns: time order of interleaved per-thread runs.
import { describe, it, expect } from 'vitest';
import { timeOrder } from '../src/core/event-log';

describe('timeOrder', () => {
  it('is null when the column is already in order', () => {
    expect(timeOrder(new Float64Array([1, 2, 2, 5]), 0, 4)).toBeNull();
    expect(timeOrder(new Float64Array([9, 1, 2, 3]), 1, 4)).toBeNull();
  });

  it('orders interleaved runs stably, within the range asked for', () => {
    // Three runs (as three threads' rings drained in turn), equal times across runs.
    const t = new Float64Array([100, 1, 4, 7, 10, 2, 4, 8, 0, 4, 9]);
    const order = Array.from(timeOrder(t, 1, t.length)!);
    expect(order.map((i) => t[i])).toEqual([0, 1, 2, 4, 4, 4, 7, 8, 9, 10]);
    // Stable: equal times keep their original order (indices 2, 6, 9 all hold 4).
    expect(order.filter((i) => t[i] === 4)).toEqual([2, 6, 9]);
  });

  it('matches a stable sort on random runs', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const values: number[] = [];
    for (let r = 0; r < 50; r++) {
      let x = Math.floor(rand() * 1000);
      for (let k = Math.floor(rand() * 40); k > 0; k--) values.push((x += Math.floor(rand() * 5)));
    }
    const t = Float64Array.from(values);
    const expected = values.map((v, i) => [v, i]).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map((p) => p[1]);
    expect(Array.from(timeOrder(t, 0, t.length)!)).toEqual(expected);
  });
});
