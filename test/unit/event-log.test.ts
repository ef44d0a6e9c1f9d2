// The recorder's columns: time order of interleaved per-thread runs; emptied logs keep their room.
import { describe, it, expect } from 'vitest';
import { MemoryLog, PrimitiveLog, registerSignature, timeOrder, type Signature } from '../../src/core/record/event-log';

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

describe('slice() and nextWindow()', () => {
  const sigA: Signature = { inputs: [], outputs: [] };
  const sigAId = registerSignature(sigA);
  const fill = (log: PrimitiveLog, n: number, base: number) => {
    for (let i = 0; i < n; i++) log.push(base + i, 1, i, i + 1, 2, 3, 4, 0, sigAId);
  };

  it('copies the entries into columns of their size, which the next window written into the old ones leaves alone', () => {
    const log = new PrimitiveLog();
    fill(log, 5000, 0);
    const taken = log.slice();
    const columns = log.id;
    const next = log.nextWindow();
    expect(next).toBe(log);
    expect([next.length, next.id]).toEqual([0, columns]);
    expect(next.id).toBe(columns);
    fill(next, 3000, 10000);
    expect([taken.length, taken.id.length, taken.id[0], taken.id[4999], taken.t1[4999], next.id[2999]]).toEqual([5000, 5000, 0, 4999, 5000, 12999]);
    expect(taken.sigAt(4999)).toBe(sigA);
    // A copy grows like any log when written to.
    fill(taken, 1, 7);
    expect([taken.length, taken.id[5000]]).toEqual([5001, 7]);
    const part = taken.slice(10, 20);
    expect([part.length, part.id.length, part.id[0], part.t0[9], part.sigAt(9)]).toEqual([10, 10, 10, 19, sigA]);
    const empty = new PrimitiveLog().slice();
    fill(empty, 3, 0);
    expect(empty.length).toBe(3);

    const mem = new MemoryLog();
    for (let i = 0; i < 2000; i++) mem.push(i, 1, i, -1);
    const memTaken = mem.slice();
    mem.nextWindow().push(99, 2, 2, 3);
    expect([memTaken.length, memTaken.t.length, memTaken.t[0], memTaken.live[1999]]).toEqual([2000, 2000, 0, 1999]);
  });

  it('gives the room back after eight windows in a row used much less of it, not after one', () => {
    const log = new PrimitiveLog();
    fill(log, 100_000, 0);
    const room = log.id.length;
    // Short and long windows taken in turn (a warm-up, then a generation): the room stays.
    let next = log.nextWindow();
    for (let w = 0; w < 20; w++) {
      fill(next, w % 2 ? 100_000 : 10, 0);
      next = next.nextWindow();
      expect(next.id.length).toBe(room);
    }
    expect(next).toBe(log);
    // Seven small windows keep it; the eighth gives it back, sized to that window.
    for (let w = 0; w < 7; w++) {
      fill(next, 10, 0);
      next = next.nextWindow();
      expect(next.id.length).toBe(room);
    }
    fill(next, 10, 0);
    expect(next.nextWindow().id.length).toBe(1024);

    const mem = new MemoryLog();
    for (let i = 0; i < 50_000; i++) mem.push(i, 1, i, -1);
    expect(mem.nextWindow().t.length).toBe(65536);
    let one: MemoryLog = new MemoryLog(65536);
    for (let w = 0; w < 7; w++) {
      one.push(7, 16, 16, 2);
      one = one.nextWindow();
      expect(one.t.length).toBe(65536);
    }
    one.push(7, 16, 16, 2);
    expect(one.nextWindow().t.length).toBe(1024);
  });
});
