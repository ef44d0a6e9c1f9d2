/**
 * The op table, the summary and the page around them in Chromium: search by substring and /regex/, sort, group,
 * filter by category, keyboard reach, a narrow window, and traces with nothing (or only layers) to show.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import type { Trace } from '../../src/core/model/trace';
import { syntheticTrace } from '../helpers/synthetic-trace';
import { emptyTrace } from '../helpers/html-fixture';
import { mainTrace, SHOTS, tableLabels, useHtmlSession } from '../helpers/html-browser';
import { layerResolver } from '../../src/core/model/span-facts';

const { open, exportTo } = useHtmlSession();

describe('op table', () => {
  let report: string;
  let trace: Trace;

  beforeAll(async () => {
    ({ trace } = await mainTrace());
    report = await exportTo('report-tables.html', trace);
  }, 300_000);

  it('the search box filters the table by substring and by /regex/, and reports a bad regex', async () => {
    const o = await open(report);
    try {
      const p = o.page;
      const all = await tableLabels(p);
      expect(all.length).toBeGreaterThan(2);
      const search = p.locator('#ops-search');
      await search.fill('mat');
      const sub = await tableLabels(p);
      expect(sub.length).toBeGreaterThan(0);
      expect(sub.length).toBeLessThan(all.length);
      for (const l of sub) expect(l.toLowerCase()).toContain('mat');

      const two = all.slice(0, 2);
      const esc = (x: string) => x.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      await search.fill(`/^(${two.map(esc).join('|')})$/`);
      expect((await tableLabels(p)).sort()).toEqual([...two].sort());

      await search.fill('/(/');
      expect(await p.locator('#ops-status').textContent()).toContain('Invalid regular expression');
      expect(await search.getAttribute('aria-invalid')).toBe('true');

      await search.fill('');
      expect((await tableLabels(p)).length).toBe(all.length);
      expect(o.errors).toEqual([]);
    } finally {
      await o.close();
    }
  });

  it('sorts by a column, groups by layer and device, and filters by category from the donut legend', async () => {
    const o = await open(report);
    try {
      const p = o.page;
      await p.locator('#ops-table th[data-col="calls"] button').click();
      const calls = await p.$$eval('#ops-table tbody tr', (rows) => rows.map((r) => Number(r.children[1].textContent!.replace(/,/g, ''))));
      expect(calls).toEqual([...calls].sort((a, b) => b - a));
      expect(await p.locator('#ops-table th[data-col="calls"]').getAttribute('aria-sort')).toBe('descending');

      await p.selectOption('#ops-group', 'layer');
      const layers = await tableLabels(p);
      const layerOf = layerResolver(trace);
      const expected = new Set(trace.spans.filter((s) => s.kind === 'primitive').map(layerOf));
      expect(new Set(layers)).toEqual(expected);

      await p.selectOption('#ops-group', 'device');
      expect(new Set(await tableLabels(p))).toEqual(new Set(trace.spans.filter((s) => s.kind === 'primitive').map((s) => s.device)));

      await p.selectOption('#ops-group', 'op');
      const matmul = p.locator('#categories .legend button[data-cat="0"]');
      await matmul.click();
      expect(await matmul.getAttribute('aria-pressed')).toBe('true');
      const labels = await tableLabels(p);
      expect(labels.length).toBeGreaterThan(0);
      for (const l of labels) expect(['Matmul', 'AddMM', 'QuantizedMatmul', 'GatherMM', 'GatherQMM', 'BlockMaskedMM', 'Convolution']).toContain(l);
      expect(o.errors).toEqual([]);
    } finally {
      await o.close();
    }
  });

  it('every control is reachable with Tab', async () => {
    const o = await open(report);
    try {
      const p = o.page;
      const reached = new Set<string>();
      for (let k = 0; k < 80; k++) {
        await p.keyboard.press('Tab');
        const what = await p.evaluate(() => {
          const a = document.activeElement as HTMLElement | null;
          if (!a || a === document.body) return 'body';
          const sec = a.closest('section')?.id ?? a.closest('header,nav')?.tagName.toLowerCase() ?? '';
          return `${sec}:${a.tagName.toLowerCase()}${a.id ? `#${a.id}` : ''}`;
        });
        reached.add(what);
      }
      for (const want of ['timeline:canvas', 'roofline:canvas', 'categories:button', 'ops:input#ops-search', 'ops:select#ops-group',
        'ops:select#ops-cat', 'ops:button', 'ops:tr', 'summary:li']) {
        expect([...reached]).toContain(want);
      }
      expect(o.errors).toEqual([]);
    } finally {
      await o.close();
    }
  });

  it('fits a narrow window without horizontal scrolling', async () => {
    const o = await open(report, { width: 390, height: 800 });
    try {
      const p = o.page;
      const overflow = await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(overflow).toBeLessThanOrEqual(0);
      for (const id of ['summary', 'timeline', 'roofline', 'categories', 'ops']) {
        const box = (await p.locator(`#${id}`).boundingBox())!;
        expect(box.width).toBeLessThanOrEqual(390);
        expect(box.height).toBeGreaterThan(50);
      }
      await p.screenshot({ path: join(SHOTS, 'narrow-full-page.png'), fullPage: true });
      for (const id of ['timeline', 'roofline', 'ops']) await p.locator(`#${id}`).screenshot({ path: join(SHOTS, `narrow-${id}.png`) });
      expect(o.errors).toEqual([]);
    } finally {
      await o.close();
    }
  });
});

describe('op table and summary: edge cases', () => {
  it('an empty trace opens without errors and says there is nothing to show', async () => {
    const o = await open(await exportTo('empty.html', emptyTrace()));
    try {
      const p = o.page;
      expect(await p.locator('#summary .top-ops').textContent()).toContain('No ops recorded');
      expect(await p.locator('#roofline .rf-note').textContent()).toContain('nothing to plot');
      expect(await p.locator('#ops-table tbody tr').count()).toBe(0);
      expect(o.errors).toEqual([]);
      expect(o.requests).toEqual([]);
    } finally {
      await o.close();
    }
  });

  it('a JS-timed trace without primitives shows its layers and why native timing was off', async () => {
    const t = syntheticTrace({ steps: 2 });
    const jsTrace: Trace = {
      ...t,
      spans: t.spans.filter((s) => s.kind !== 'primitive'),
      memory: [],
      meta: { ...t.meta, timing: 'js', fallbackReason: 'native addon not built for this platform', peaks: { flops: 0, bandwidth: 0, source: 'default' } },
    };
    const o = await open(await exportTo('js-timing.html', jsTrace));
    try {
      const p = o.page;
      expect(await p.locator('#summary .card.warn').first().textContent()).toContain('native addon not built for this platform');
      const labels = await tableLabels(p);
      expect(labels).toContain('layers.0.attention (Attention)');
      await p.selectOption('#ops-group', 'layer');
      expect(await tableLabels(p)).toContain('layers.0.attention (Attention)');
      expect(await p.locator('#roofline .rf-note').textContent()).toContain('no compute or bandwidth peaks');
      expect(o.errors).toEqual([]);
    } finally {
      await o.close();
    }
  });
});

describe('summary: advisor state', () => {
  it('tells "the advisor found nothing" from "the advisor did not run"', async () => {
    const ran = syntheticTrace({ steps: 1 });
    ran.meta.advice = [];
    const notRun = syntheticTrace({ steps: 1 });
    delete (notRun.meta as Record<string, unknown>).advice;
    for (const [name, trace, text] of [
      ['advice-none.html', ran, /found none of the MLX performance pitfalls/],
      ['advice-not-run.html', notRun, /has not run on this trace/],
    ] as const) {
      const o = await open(await exportTo(name, trace));
      try {
        expect(await o.page.locator('#summary .findings ul').innerText()).toMatch(text);
      } finally {
        await o.close();
      }
    }
  });
});

describe('op table: messages and selection follow the controls', () => {
  let file: string;
  beforeAll(async () => {
    file = await exportTo('table-controls.html', syntheticTrace({ steps: 3, blocks: 2 }));
  });

  it('a bad regex is reported once, in the browser’s words', async () => {
    const o = await open(file);
    try {
      const p = o.page;
      await p.locator('#ops-search').fill('/(/');
      const status = (await p.locator('#ops-status').textContent())!;
      expect(status.match(/Invalid regular expression/g), status).toHaveLength(1);
      expect(status).toMatch(/^Invalid regular expression: \/\(\/: /);
      expect(o.errors).toEqual([]);
    } finally {
      await o.close();
    }
  });

  it('changing the grouping clears the selection in every view', async () => {
    const o = await open(file);
    try {
      const p = o.page;
      const row = p.locator('#ops-table tbody tr', { hasText: 'Matmul' }).first();
      await row.click();
      expect(await p.locator('#ops-status').textContent()).toContain('selected: Matmul');
      expect((await p.evaluate(() => (window as any).__mlxTrace.timeline.highlighted())).length).toBeGreaterThan(0);
      for (const g of ['layer', 'device', 'shapes', 'op']) {
        await p.selectOption('#ops-group', g);
        expect(await p.locator('#ops-status').textContent(), g).not.toContain('selected:');
        expect(await p.evaluate(() => (window as any).__mlxTrace.selection()), g).toBeNull();
        expect(await p.evaluate(() => (window as any).__mlxTrace.timeline.highlighted()), g).toEqual([]);
        expect(await p.locator('#ops-table tbody tr.selected').count(), g).toBe(0);
      }
      expect(o.errors).toEqual([]);
    } finally {
      await o.close();
    }
  });
});

describe('summary cards', () => {
  it('no card value wraps inside itself or spills out of its card, from a phone to a wide screen', async () => {
    const t = syntheticTrace({ steps: 2 });
    // The default ceilings (defaultPeaks), whose '50.0 GFLOP/s' is the longest value a card shows.
    t.meta.peaks = { flops: 50e9, bandwidth: 10e9, source: 'default' };
    const file = await exportTo('cards.html', t);
    for (const width of [1280, 1100, 900, 760, 600, 480, 390, 340]) {
      const o = await open(file, { width });
      try {
        const values = await o.page.$$eval('.cards .card-value', (els) => els.map((e) => {
          const line = parseFloat(getComputedStyle(e).lineHeight);
          const card = e.parentElement!.getBoundingClientRect();
          const r = e.getBoundingClientRect();
          const range = document.createRange();
          range.selectNodeContents(e);
          const text = range.getBoundingClientRect();
          return { text: e.textContent, lines: Math.round(r.height / line), overflow: text.right - card.right };
        }));
        expect(values.some((v) => v.text === '50.0 GFLOP/s')).toBe(true);
        for (const v of values) {
          expect(v.lines, `${width}px: ${v.text}`).toBe(1);
          expect(v.overflow, `${width}px: ${v.text}`).toBeLessThanOrEqual(0);
        }
        expect(o.errors).toEqual([]);
      } finally {
        await o.close();
      }
    }
  });
});
