// The benchmarks' paired statistics (bench/lib.mjs pairedStats): the trimmed mean comes with its own
// interval, which a few huge pairs do not widen the way they widen the plain mean's.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

interface Stats {
  trimmed: number;
  trimmedCi95: number;
  mean: number;
  ci95: number;
  median: number;
  pairs: number;
}
// bench/ is plain JS outside the typed sources: loaded by path, typed here.
const { pairedStats, median } = (await import(join(__dirname, '../../bench/lib.mjs'))) as {
  pairedStats: (diffs: number[]) => Stats;
  median: (xs: number[]) => number;
};

describe('pairedStats', () => {
  it("gives the trimmed mean Yuen's interval, from the winsorized spread", () => {
    const s = pairedStats([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(s.trimmed).toBe(5.5);
    // Winsorized: 2 2 3 4 5 6 7 8 9 9 (sd 2.718); 1.96 * sd / (0.8 * sqrt(10)).
    expect(s.trimmedCi95).toBeCloseTo(2.106, 3);
    expect(s.median).toBe(6);
    expect(s.pairs).toBe(10);
  });

  it('keeps the trimmed interval where one stall widens the mean a hundredfold', () => {
    const base = Array.from({ length: 40 }, (_, i) => 100 + (i % 5));
    const calm = pairedStats(base);
    const stalled = pairedStats([...base.slice(0, 39), 100_000]);
    expect(stalled.trimmed).toBeCloseTo(calm.trimmed, 0);
    expect(stalled.trimmedCi95).toBeLessThan(2 * calm.trimmedCi95 + 1);
    expect(stalled.ci95).toBeGreaterThan(100 * stalled.trimmedCi95);
  });
});

describe('median', () => {
  it('is the middle value of an odd count and the upper middle of an even one, leaving its input as it was', () => {
    const xs = [5, 1, 4, 2, 3];
    expect(median(xs)).toBe(3);
    expect(xs).toEqual([5, 1, 4, 2, 3]);
    expect(median([4, 1, 3, 2])).toBe(3);
    expect(median([10, 9])).toBe(10);
  });
});
