/**
 * The timeline in Chromium: drawn spans and memory, zoom and pan by keys, wheel and drag, hover and click, dark
 * mode, and a trace large enough that sub-pixel spans are merged.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import type { Trace } from '../../src/core/model/trace';
import { syntheticTrace } from '../helpers/synthetic-trace';
import { drawnPixels, mainTrace, SHOTS, useHtmlSession, viewRange, nextFrame } from '../helpers/html-browser';

const { open, exportTo } = useHtmlSession();

describe('timeline', () => {
  let report: string;
  let trace: Trace;

  beforeAll(async () => {
    ({ trace } = await mainTrace());
    report = await exportTo('report-timeline.html', trace);
  }, 300_000);

  it('the timeline canvas has drawn spans and the memory curve', async () => {
    const o = await open(report);
    try {
      const { drawn, total } = await drawnPixels(o.page, '#timeline canvas');
      expect(drawn).toBeGreaterThan(total * 0.05);
      expect(o.errors).toEqual([]);
    } finally {
      await o.close();
    }
  });

  it('zooms with keys and wheel, pans with arrows and drag, resets with 0', async () => {
    const o = await open(report);
    try {
      const p = o.page;
      const canvas = p.locator('#timeline canvas');
      const full = await viewRange(p);
      expect(full.end).toBeGreaterThan(full.start);
      await canvas.focus();
      await p.keyboard.press('+');
      await nextFrame(p);
      const zoomed = await viewRange(p);
      expect(zoomed.end - zoomed.start).toBeLessThan((full.end - full.start) * 0.75);

      await p.keyboard.press('ArrowRight');
      await nextFrame(p);
      const panned = await viewRange(p);
      expect(panned.start).toBeGreaterThan(zoomed.start);
      expect(panned.end - panned.start).toBeCloseTo(zoomed.end - zoomed.start, 3);

      await canvas.scrollIntoViewIfNeeded();
      const box = (await canvas.boundingBox())!;
      await p.mouse.move(box.x + box.width / 2, box.y + 60);
      await p.mouse.wheel(0, -400);
      await nextFrame(p);
      const wheeled = await viewRange(p);
      expect(wheeled.end - wheeled.start).toBeLessThan(panned.end - panned.start);

      await p.mouse.move(box.x + box.width / 2, box.y + 60);
      await p.mouse.down();
      await p.mouse.move(box.x + box.width / 2 + 200, box.y + 60, { steps: 5 });
      await p.mouse.up();
      await nextFrame(p);
      const dragged = await viewRange(p);
      expect(dragged.start).toBeLessThan(wheeled.start);

      await canvas.focus();
      await p.keyboard.press('0');
      await nextFrame(p);
      expect(await viewRange(p)).toEqual(full);
      expect(o.errors).toEqual([]);
    } finally {
      await o.close();
    }
  });

  it('shows a tooltip on hover and selects the op on click', async () => {
    const o = await open(report);
    try {
      const p = o.page;
      const name = trace.spans.filter((s) => s.kind === 'primitive').sort((a, b) => (b.end - b.start) - (a.end - a.start))[0].name;
      await p.locator('#timeline canvas').scrollIntoViewIfNeeded();
      const box = (await p.locator('#timeline canvas').boundingBox())!;
      // Zoom in until a span of that op is wide enough to point at.
      let at: { x: number; y: number } | null = null;
      for (let k = 0; k < 12 && !at; k++) {
        at = await p.evaluate((n) => (window as any).__mlxTrace.timeline.locate(n), name);
        if (!at) {
          await p.locator('#timeline canvas').focus();
          await p.keyboard.press('+');
          await nextFrame(p);
        }
      }
      expect(at).not.toBeNull();
      await p.mouse.move(box.x + at!.x, box.y + at!.y);
      await expect.poll(() => p.locator('#tip').isVisible()).toBe(true);
      const tip = (await p.locator('#tip').textContent())!;
      expect(tip).toContain(name);
      expect(tip).toContain('Duration');
      expect(tip).toContain('FLOPs');
      await p.screenshot({ path: join(SHOTS, 'timeline-tooltip.png'), clip: { x: 0, y: Math.max(0, box.y - 60), width: 1280, height: 520 } });
      await p.mouse.click(box.x + at!.x, box.y + at!.y);
      await expect.poll(() => p.locator('.tl-details').textContent()).toContain(name);
      const sel = await p.evaluate(() => (window as any).__mlxTrace.selection());
      expect(sel.label).toBe(name);
      expect(await p.locator('#ops-table tbody tr.selected .label').textContent()).toBe(name);
      expect(o.errors).toEqual([]);
    } finally {
      await o.close();
    }
  });

  it('dark mode switches the palette and stays readable', async () => {
    const o = await open(report, { dark: true });
    try {
      const p = o.page;
      const bg = await p.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
      const [r, g, b] = bg.match(/\d+/g)!.map(Number);
      expect(r + g + b).toBeLessThan(100);
      const { drawn } = await drawnPixels(p, '#timeline canvas');
      expect(drawn).toBeGreaterThan(0);
      await p.screenshot({ path: join(SHOTS, 'dark-full-page.png'), fullPage: true });
      await p.locator('#timeline').screenshot({ path: join(SHOTS, 'dark-timeline.png') });
      expect(o.errors).toEqual([]);
    } finally {
      await o.close();
    }
  });
});

describe('timeline: large traces', () => {
  it('a larger trace (sub-pixel spans merged) draws, zooms deep and stays error-free', async () => {
    const big = syntheticTrace({ steps: 40, blocks: 8, primitivesPerLayer: 30, seed: 3 });
    const o = await open(await exportTo('large.html', big));
    try {
      const p = o.page;
      expect((await drawnPixels(p, '#timeline canvas')).drawn).toBeGreaterThan(0);
      await p.locator('#timeline canvas').focus();
      for (let k = 0; k < 25; k++) await p.keyboard.press('+');
      await nextFrame(p);
      const r = await viewRange(p);
      expect(r.end - r.start).toBeGreaterThanOrEqual(10);
      expect((await drawnPixels(p, '#timeline canvas')).drawn).toBeGreaterThan(0);
      expect(o.errors).toEqual([]);
    } finally {
      await o.close();
    }
  });
});

describe('timeline: axis and range read true at every zoom', () => {
  let file: string;
  /** The trace's first start and last end. */
  let t0: number, t1: number;
  beforeAll(async () => {
    const trace = syntheticTrace({ steps: 6, blocks: 3, primitivesPerLayer: 6 });
    t0 = Math.min(...trace.spans.map((s) => s.start));
    t1 = Math.max(...trace.spans.map((s) => s.end));
    file = await exportTo('axis.html', trace);
  });

  /** The page's time labels ('163.005 ms') as ns. */
  const ns = (label: string) => {
    const m = /^(-?[\d.]+) (ns|µs|ms|s)$/.exec(label);
    if (!m) throw new Error(`not a time label: ${JSON.stringify(label)}`);
    return Number(m[1]) * { ns: 1, µs: 1e3, ms: 1e6, s: 1e9 }[m[2] as 'ns'];
  };
  const range = async (p: import('playwright-core').Page) => {
    const text = (await p.locator('#timeline .tl-range').textContent())!;
    const m = /^Showing (.+) – (.+) \((.+) of (.+)\)$/.exec(text);
    expect(m, text).not.toBeNull();
    return { text, from: ns(m![1]), to: ns(m![2]), len: ns(m![3]), total: ns(m![4]) };
  };

  it('zoomed in far from the start, every tick has its own label and each label reads its own time', async () => {
    const o = await open(file);
    try {
      const p = o.page;
      for (const width of [400, 3000, 40_000]) {
        const at = t0 + (t1 - t0) * 0.83;
        await p.evaluate(([s, e]) => (window as any).__mlxTrace.timeline.setView(s, e), [at, at + width]);
        const ticks: { t: number; label: string }[] = await p.evaluate(() => (window as any).__mlxTrace.timeline.ticks());
        expect(ticks.length, `${width} ns`).toBeGreaterThan(3);
        const labels = ticks.map((k) => k.label);
        expect(new Set(labels).size, labels.join(' | ')).toBe(labels.length);
        const step = ticks[1].t - ticks[0].t;
        for (const k of ticks) expect(Math.abs(ns(k.label) - (k.t - t0)), `${k.label} at ${k.t - t0} ns`).toBeLessThan(step / 2);
      }
      expect(o.errors).toEqual([]);
    } finally {
      await o.close();
    }
  });

  it('the visible range stays inside the trace and its numbers add up, at full view, zoomed and panned to either end', async () => {
    const o = await open(file);
    try {
      const p = o.page;
      const full = await range(p);
      expect(full.text).toMatch(/^Showing 0 ns – /);
      // 3 significant digits: equal to within the last digit.
      const near = (a: number, b: number) => Math.abs(a - b) <= Math.max(Math.abs(a), Math.abs(b)) * 0.006 + 1;
      expect(near(full.total, t1 - t0), full.text).toBe(true);
      expect(near(full.to, full.total), full.text).toBe(true);
      expect(near(full.len, full.total), full.text).toBe(true);
      const canvas = p.locator('#timeline canvas');
      await canvas.focus();
      for (const key of ['+', '+', 'ArrowRight', 'ArrowRight', 'ArrowRight', 'ArrowRight', 'ArrowRight', 'ArrowRight', 'ArrowRight',
        'ArrowRight', 'ArrowRight', 'ArrowRight', 'ArrowRight', 'ArrowRight', 'ArrowRight', 'ArrowRight']) {
        await p.keyboard.press(key);
        await nextFrame(p);
        const r = await range(p);
        expect(r.from, r.text).toBeGreaterThanOrEqual(0);
        expect(r.to, r.text).toBeLessThanOrEqual(r.total);
        expect(near(r.len, r.to - r.from), r.text).toBe(true);
        expect(near(r.total, t1 - t0), r.text).toBe(true);
      }
      expect(o.errors).toEqual([]);
    } finally {
      await o.close();
    }
  });
});
