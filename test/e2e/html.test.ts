/**
 * exportHtml: the document (self-contained, escaped, packed data that adds up to the trace) and the dashboard in a
 * real headless Chromium with every network request blocked and counted.
 * Screenshots of each view go to test-output/screenshots/ for a person to look at.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { exportHtml, renderHtml } from '../../src/exporters/html';
import { packTrace } from '../../src/exporters/html/pack';
import type { Span, Trace } from '../../src/core/model/trace';
import type { Finding } from '../../src/core/analysis/advisor';
import { layerResolver } from '../../src/core/model/span-facts';
import { passStats, summarize } from '../../src/core/analysis/stats';
import { syntheticTrace } from '../helpers/synthetic-trace';
import { emptyTrace, withAdvice, xssTrace, XSS_LAYER, XSS_NAME, XSS_OP } from '../helpers/html-fixture';
import { withCounters } from '../helpers/counters-fixture';
import { recordDashboardTraces, type DashboardTraces } from '../helpers/dashboard-traces';

const OUT = resolve('test-output/html');
const SHOTS = resolve('test-output/screenshots');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

/**
 * The trace the dashboard tests open: a saved trace named by MLX_TRACE_HTML_TRACE, else a real MLX recording
 * (test/helpers/real-trace.ts) when it exists, else the synthetic trace.
 */
async function mainTrace(): Promise<{ trace: Trace; real: boolean }> {
  const saved = process.env.MLX_TRACE_HTML_TRACE;
  if (saved) return { trace: withAdvice(JSON.parse(readFileSync(saved, 'utf8')) as Trace), real: true };
  if (existsSync(resolve('test/helpers/real-trace.ts'))) {
    const spec = './helpers/real-trace';
    const mod = (await import(/* @vite-ignore */ spec)) as { recordRealTrace: () => Promise<Trace> };
    return { trace: withAdvice(await mod.recordRealTrace()), real: true };
  }
  return { trace: withAdvice(syntheticTrace({ steps: 4, blocks: 3, primitivesPerLayer: 6 })), real: false };
}

interface Opened {
  page: Page;
  url: string;
  /** Every request other than the document itself. */
  requests: string[];
  errors: string[];
  dialogs: string[];
  close(): Promise<void>;
}

let browser: Browser;

async function open(file: string, opts: { width?: number; height?: number; dark?: boolean } = {}): Promise<Opened> {
  const context = await browser.newContext({
    viewport: { width: opts.width ?? 1280, height: opts.height ?? 900 },
    colorScheme: opts.dark ? 'dark' : 'light',
  });
  const page = await context.newPage();
  const url = pathToFileURL(file).href;
  const requests: string[] = [];
  const errors: string[] = [];
  const dialogs: string[] = [];
  await page.route('**/*', (route) => {
    if (route.request().url() === url) return route.continue();
    requests.push(`routed: ${route.request().url()}`);
    return route.abort();
  });
  page.on('request', (r) => { if (r.url() !== url) requests.push(r.url()); });
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); });
  await page.goto(url);
  await page.waitForFunction(() => document.documentElement.dataset.ready === 'all', null, { timeout: 30_000 });
  return { page, url, requests, errors, dialogs, close: () => context.close() };
}

/** Written through the public path API, so the file under test is what users get. */
async function exportTo(name: string, trace: Trace): Promise<string> {
  const file = join(OUT, name);
  await exportHtml(trace, file);
  return file;
}

/** Pixels of the canvas (or of a box in it, in CSS pixels) that differ from the page background. */
async function drawnPixels(page: Page, selector: string, box?: { x: number; y: number; w: number; h: number }): Promise<{ drawn: number; total: number }> {
  return page.evaluate(([sel, box]) => {
    const c = document.querySelector(sel) as HTMLCanvasElement;
    // Read a copy, so the page's own canvas is not flagged for repeated readbacks.
    const copy = document.createElement('canvas');
    copy.width = c.width;
    copy.height = c.height;
    const ctx = copy.getContext('2d', { willReadFrequently: true })!;
    ctx.drawImage(c, 0, 0);
    const k = c.width / c.getBoundingClientRect().width;
    const area = box ? { x: Math.round(box.x * k), y: Math.round(box.y * k), w: Math.round(box.w * k), h: Math.round(box.h * k) } : { x: 0, y: 0, w: c.width, h: c.height };
    const data = ctx.getImageData(area.x, area.y, area.w, area.h).data;
    const probe = document.createElement('canvas').getContext('2d', { willReadFrequently: true })!;
    probe.fillStyle = getComputedStyle(document.documentElement).getPropertyValue('--bg').trim();
    probe.fillRect(0, 0, 1, 1);
    const [r, g, b] = probe.getImageData(0, 0, 1, 1).data;
    let drawn = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (Math.abs(data[i] - r) + Math.abs(data[i + 1] - g) + Math.abs(data[i + 2] - b) > 30) drawn++;
    }
    return { drawn, total: data.length / 4 };
  }, [selector, box] as const);
}

const viewRange = (page: Page) =>
  page.evaluate(() => {
    const c = document.querySelector('#timeline canvas') as HTMLCanvasElement;
    return { start: Number(c.dataset.viewStart), end: Number(c.dataset.viewEnd) };
  });

const tableLabels = (page: Page) => page.$$eval('#ops-table tbody tr td.name .label', (els) => els.map((e) => e.textContent ?? ''));

beforeAll(async () => {
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
});

afterAll(async () => {
  await browser?.close();
});

describe('exportHtml (document)', () => {
  const trace = withAdvice(syntheticTrace({ steps: 3, blocks: 2 }));

  it('returns one self-contained document and writes the same bytes to a file', async () => {
    const html = exportHtml(trace);
    expect(typeof html).toBe('string');
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html.trimEnd().endsWith('</html>')).toBe(true);
    // Nothing refers to another resource: no src/href to a URL, no @import, no url() in CSS.
    expect(html).not.toMatch(/\s(src|href)\s*=\s*["']?(https?:|\/\/)/i);
    expect(html).not.toMatch(/@import|url\(/i);
    // CSP: scripts only by hash, nothing fetched.
    expect(html).toMatch(/<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]+'/);
    // Exactly one executable script (the rest are data blocks).
    const scripts = [...html.matchAll(/<script([^>]*)>/g)].map((m) => m[1]);
    expect(scripts.filter((a) => !/type="application\/(json|octet-stream)"/.test(a))).toEqual(['']);

    const file = join(OUT, 'written.html');
    const result = exportHtml(trace, file);
    expect(result).toBeInstanceOf(Promise);
    await expect(result).resolves.toBeUndefined();
    expect(readFileSync(file, 'utf8')).toBe(html);
    expect(renderHtml(trace)).toBe(html);
  });

  it('gives one clear error for input that is not a trace', async () => {
    expect(() => exportHtml(null as unknown as Trace)).toThrow(/^exportHtml: expected an mlx-trace trace \(an object with a spans array\), got null$/);
    expect(() => exportHtml({ schema: 'other/2', spans: [] } as unknown as Trace)).toThrow(/unsupported trace schema "other\/2"/);
    await expect(exportHtml(trace, '' as string)).rejects.toThrow(/output path must be a non-empty string/);
    await expect(exportHtml(trace, join(OUT, 'no-such-dir', 'x.html'))).rejects.toThrow(/ENOENT/);
  });

  it('packs spans into columns whose sums equal the trace', () => {
    const { head, columns } = packTrace(trace);
    const col = (id: string) => columns.find((c) => c.desc.id === id)!.data;
    const start = col('start') as Float64Array;
    const dur = col('dur') as Float32Array;
    const sig = col('sig');
    const sigKind = col('sigKind');
    const sigName = col('sigName');
    const sigFlops = col('sigFlops') as Float64Array;
    expect(head.spanCount).toBe(trace.spans.length);
    expect(start.length).toBe(trace.spans.length);

    const prims = trace.spans.filter((s) => s.kind === 'primitive');
    let primTime = 0, flops = 0, matmuls = 0;
    for (let i = 0; i < head.spanCount; i++) {
      if (head.kinds[sigKind[sig[i]]] !== 'primitive') continue;
      primTime += dur[i];
      if (!Number.isNaN(sigFlops[sig[i]])) flops += sigFlops[sig[i]];
      if (head.strings[sigName[sig[i]]] === 'Matmul') matmuls++;
    }
    expect(primTime).toBe(prims.reduce((a, s) => a + (s.end - s.start), 0));
    expect(flops).toBe(prims.reduce((a, s) => a + (s.flops ?? 0), 0));
    expect(matmuls).toBe(prims.filter((s) => s.name === 'Matmul').length);
    // Uncosted ops stay uncosted (NaN in the column, never a silent 0).
    expect(prims.some((s) => s.flops === null)).toBe(true);
    for (let s = 0; s < head.sigCount; s++) {
      if (head.strings[sigName[s]] === 'CustomKernel') expect(Number.isNaN(sigFlops[s])).toBe(true);
    }
    // Rows are in start order and their spans never overlap.
    for (let r = 0; r < head.rowLane.length; r++) {
      for (let i = head.rowOffset[r] + 1; i < head.rowOffset[r + 1]; i++) {
        expect(start[i]).toBeGreaterThanOrEqual(start[i - 1] + dur[i - 1]);
      }
    }
    // Two threads in the trace, two lanes.
    expect(head.lanes.map((l) => l.thread).sort()).toEqual([4242, 4243]);
    expect(head.memory!.peak).toBe(Math.max(...trace.memory.map((e) => e.live)));
  });

  it('sorts unsorted spans and memory, and skips spans without times', () => {
    const t = syntheticTrace({ steps: 2 });
    const shuffled: Trace = {
      ...t,
      spans: [...t.spans].reverse().concat([{ ...t.spans[0], id: 99999, start: NaN }]),
      memory: [...t.memory].reverse(),
    };
    const a = packTrace(t), b = packTrace(shuffled);
    const col = (p: ReturnType<typeof packTrace>, id: string) => Array.from(p.columns.find((c) => c.desc.id === id)!.data);
    expect(b.head.skipped).toBe(1);
    expect(col(b, 'start')).toEqual(col(a, 'start'));
    expect(col(b, 'dur')).toEqual(col(a, 'dur'));
    expect(b.head.rowOffset).toEqual(a.head.rowOffset);
    expect(col(b, 'memT')).toEqual(col(a, 'memT'));
  });

  it('reduces a huge memory curve to per-bucket extremes but keeps the exact peak', () => {
    const t = syntheticTrace({ steps: 1 });
    const memory = [];
    for (let i = 0; i < 400_000; i++) {
      // A saw-tooth between 0 and 100 bytes, with one short spike of 1 MB.
      const live = (i % 2 ? 0 : 100) + (i === 123_456 ? 1_000_000 : 0);
      memory.push({ t: i * 10, delta: 0, live });
    }
    const p = packTrace({ ...t, memory });
    expect(p.head.memory!.downsampled).toBe(true);
    expect(p.head.memory!.count).toBeLessThanOrEqual(120_000);
    expect(p.head.memory!.sourceCount).toBe(400_000);
    expect(p.head.memory!.peak).toBe(1_000_100);
    const lives = Array.from(p.columns.find((c) => c.desc.id === 'memLive')!.data);
    expect(Math.max(...lives)).toBe(1_000_100);
  });

  it('never puts a trace name into the markup unescaped', () => {
    const html = exportHtml(xssTrace());
    for (const bad of [XSS_LAYER, XSS_OP, XSS_NAME, '<script>alert(6)</script>', '<iframe', '<svg', '<b>', '<img']) {
      expect(html.includes(bad)).toBe(false);
    }
    // The title and heading carry the name escaped; the data carries it as JSON with < escaped.
    expect(html).toContain('<h1>&#34;&#62;&#60;svg onload=alert(3)&#62;</h1>');
    expect(html).toContain('\\u003cimg src=x onerror=alert(1)\\u003e');
    expect(html.match(/<\/script>/g)!.length).toBe(html.match(/<script[ >]/g)!.length);
  });
});

describe('dashboard in Chromium', () => {
  let report: string;
  let real = false;
  let trace: Trace;

  beforeAll(async () => {
    ({ trace, real } = await mainTrace());
    report = await exportTo('report.html', trace);
  }, 300_000);

  it('opens with zero network requests, no console errors and every view present', async () => {
    const o = await open(report);
    try {
      const p = o.page;
      expect(await p.locator('#summary .card').count()).toBeGreaterThanOrEqual(6);
      expect(await p.locator('#summary .card').first().textContent()).toContain('Wall time');
      expect(await p.locator('#summary .top-ops li').count()).toBeGreaterThan(0);
      expect(await p.locator('#summary .finding').count()).toBe(2);
      expect(await p.locator('#summary .finding').first().textContent()).toContain('Softmax is spelled out by hand');
      expect(await p.locator('#summary .finding').first().textContent()).toContain('Time at stake: 1.20 µs');
      expect(await p.locator('#timeline canvas').isVisible()).toBe(true);
      expect(await p.locator('#roofline canvas').isVisible()).toBe(true);
      const points = await p.evaluate(() => (window as any).__mlxTrace.roofline.points().length);
      expect(points).toBeGreaterThan(0);
      expect(await p.locator('#categories .legend li').count()).toBe(6);
      expect(await p.locator('#ops-table tbody tr').count()).toBeGreaterThan(0);
      expect(await p.locator('#errors').isHidden()).toBe(true);
      // The table's numbers are the trace's: total primitive calls.
      const calls = trace.spans.filter((s) => s.kind === 'primitive').length;
      const footCalls = await p.locator('#ops-table tfoot td').nth(1).textContent();
      expect(Number(footCalls!.replace(/,/g, ''))).toBe(calls);

      await p.screenshot({ path: join(SHOTS, 'full-page.png'), fullPage: true });
      for (const id of ['summary', 'timeline', 'roofline', 'categories', 'ops']) {
        await p.locator(`#${id}`).screenshot({ path: join(SHOTS, `${id}.png`) });
      }
      expect(o.requests).toEqual([]);
      expect(o.errors).toEqual([]);
      expect(o.dialogs).toEqual([]);
    } finally {
      await o.close();
    }
    if (!real) console.log('html.test: test/helpers/real-trace.ts not found, used the synthetic trace');
  });

  it('served over HTTP, the page asks the server for nothing but itself (not even a favicon)', async () => {
    const body = readFileSync(report);
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(req.url ?? '');
      if (req.url === '/report.html') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(body);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/report.html`;
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const requests: string[] = [];
      const errors: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      await page.goto(url);
      await page.waitForFunction(() => document.documentElement.dataset.ready === 'all');
      await page.waitForTimeout(300);
      expect(requests).toEqual([url]);
      expect(seen).toEqual(['/report.html']);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
      await new Promise((r) => server.close(r));
    }
  });

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
      await p.waitForTimeout(50);
      const zoomed = await viewRange(p);
      expect(zoomed.end - zoomed.start).toBeLessThan((full.end - full.start) * 0.75);

      await p.keyboard.press('ArrowRight');
      await p.waitForTimeout(50);
      const panned = await viewRange(p);
      expect(panned.start).toBeGreaterThan(zoomed.start);
      expect(panned.end - panned.start).toBeCloseTo(zoomed.end - zoomed.start, 3);

      await canvas.scrollIntoViewIfNeeded();
      const box = (await canvas.boundingBox())!;
      await p.mouse.move(box.x + box.width / 2, box.y + 60);
      await p.mouse.wheel(0, -400);
      await p.waitForTimeout(50);
      const wheeled = await viewRange(p);
      expect(wheeled.end - wheeled.start).toBeLessThan(panned.end - panned.start);

      await p.mouse.move(box.x + box.width / 2, box.y + 60);
      await p.mouse.down();
      await p.mouse.move(box.x + box.width / 2 + 200, box.y + 60, { steps: 5 });
      await p.mouse.up();
      await p.waitForTimeout(50);
      const dragged = await viewRange(p);
      expect(dragged.start).toBeLessThan(wheeled.start);

      await canvas.focus();
      await p.keyboard.press('0');
      await p.waitForTimeout(50);
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
          await p.waitForTimeout(30);
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

  it('a click on a roofline point selects that op in the table and the timeline; keys do the same', async () => {
    const o = await open(report);
    try {
      const p = o.page;
      const pts = await p.evaluate(() => (window as any).__mlxTrace.roofline.points());
      const target = pts[0];
      await p.locator('#roofline canvas').scrollIntoViewIfNeeded();
      const box = (await p.locator('#roofline canvas').boundingBox())!;
      await p.mouse.click(box.x + target.x, box.y + target.y);
      const sel = await p.evaluate(() => (window as any).__mlxTrace.selection());
      expect(sel).toMatchObject({ by: 'shapes', source: 'roofline', label: target.label });
      expect(await p.locator('#ops-table tbody tr.selected .label').first().textContent()).toBe(target.label);
      expect(await p.locator('.tl-details').textContent()).toContain(target.label);
      await p.screenshot({ path: join(SHOTS, 'selected-from-roofline.png'), fullPage: true });
      await p.locator('#timeline').screenshot({ path: join(SHOTS, 'selected-timeline.png') });

      await p.locator('#roofline canvas').focus();
      await p.keyboard.press('ArrowRight');
      await p.keyboard.press('ArrowRight');
      await p.keyboard.press('Enter');
      const sel2 = await p.evaluate(() => (window as any).__mlxTrace.selection());
      expect(sel2.label).toBe(pts[1].label);

      // N in the timeline brings the next highlighted call into view and shows it.
      await p.locator('#timeline canvas').focus();
      await p.keyboard.press('0');
      await p.keyboard.press('n');
      await p.waitForTimeout(50);
      expect(await p.locator('.tl-details strong').textContent()).toBe(pts[1].label);

      // Escape in the timeline clears the selection everywhere.
      await p.locator('#timeline canvas').focus();
      await p.keyboard.press('Escape');
      expect(await p.evaluate(() => (window as any).__mlxTrace.selection())).toBeNull();
      expect(await p.locator('#ops-table tbody tr.selected').count()).toBe(0);

      // A table row is selectable from the keyboard.
      await p.locator('#ops-table tbody tr').nth(1).focus();
      await p.keyboard.press('Enter');
      const sel3 = await p.evaluate(() => (window as any).__mlxTrace.selection());
      expect(sel3.source).toBe('table');
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

describe('dashboard safety and edge cases', () => {
  it('the dialog check itself works (control: an unescaped handler does fire)', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); });
    await page.setContent(`<body>${XSS_LAYER}</body>`);
    await expect.poll(() => dialogs.length).toBe(1);
    await context.close();
  });

  it('a trace full of markup runs no script and shows the names as text', async () => {
    const file = await exportTo('xss.html', xssTrace());
    const o = await open(file);
    try {
      const p = o.page;
      await p.selectOption('#ops-group', 'layer');
      // The layer column names the layer span that built each primitive (span-facts layerOf).
      expect(await tableLabels(p)).toContain(`${XSS_LAYER} (<i>Block</i>)`);
      await p.selectOption('#ops-group', 'op');
      expect(await tableLabels(p)).toContain(XSS_OP);
      expect(await p.locator('h1').textContent()).toBe(XSS_NAME);
      expect(await p.title()).toBe(`${XSS_NAME} · mlx-trace`);
      expect(await p.locator('#summary .finding .msg').textContent()).toBe(XSS_LAYER);
      expect(await p.locator('#summary .facts').textContent()).toContain('<img src=x onerror=window.__xss=1>');
      // Hover a layer span so its name goes through the tooltip too.
      const at = await p.evaluate((n) => (window as any).__mlxTrace.timeline.locate(n), `${XSS_LAYER} (<i>Block</i>)`);
      if (at) {
        await p.locator('#timeline canvas').scrollIntoViewIfNeeded();
        const box = (await p.locator('#timeline canvas').boundingBox())!;
        await p.mouse.move(box.x + at.x, box.y + at.y);
        await expect.poll(() => p.locator('#tip').textContent()).toContain(XSS_LAYER);
      }
      // The counter lane's name, and the evidence button's label built from the rule.
      expect(JSON.parse((await p.locator('#timeline canvas').getAttribute('data-counter-lanes'))!)).toEqual([XSS_LAYER]);
      const [lane] = await p.evaluate(() => (window as any).__mlxTrace.timeline.counterLanes());
      await p.locator('#timeline canvas').scrollIntoViewIfNeeded();
      const cbox = (await p.locator('#timeline canvas').boundingBox())!;
      await p.mouse.move(cbox.x + cbox.width / 2, cbox.y + lane.y + lane.h / 2);
      await expect.poll(() => p.locator('#tip').textContent()).toContain(XSS_LAYER);
      expect(await p.locator('#tip').textContent()).toContain('<b onmouseover=alert(8)>°C');
      await p.locator('#summary .finding button.evidence').click();
      expect((await p.evaluate(() => (window as any).__mlxTrace.selection())).label).toBe('evidence of <script>alert(6)</script>');
      expect(await p.locator('.tl-details').textContent()).toContain('<script>alert(6)</script>');
      await p.waitForTimeout(200);
      expect(await p.evaluate(() => (window as any).__xss)).toBeUndefined();
      expect(await p.locator('img, svg, iframe, main script, b, i').count()).toBe(0);
      expect(o.dialogs).toEqual([]);
      expect(o.requests).toEqual([]);
      expect(o.errors).toEqual([]);
      await p.locator('#ops').screenshot({ path: join(SHOTS, 'xss-ops.png') });
    } finally {
      await o.close();
    }
  });

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

  it('a larger trace (sub-pixel spans merged) draws, zooms deep and stays error-free', async () => {
    const big = syntheticTrace({ steps: 40, blocks: 8, primitivesPerLayer: 30, seed: 3 });
    const o = await open(await exportTo('large.html', big));
    try {
      const p = o.page;
      expect((await drawnPixels(p, '#timeline canvas')).drawn).toBeGreaterThan(0);
      await p.locator('#timeline canvas').focus();
      for (let k = 0; k < 25; k++) await p.keyboard.press('+');
      await p.waitForTimeout(50);
      const r = await viewRange(p);
      expect(r.end - r.start).toBeGreaterThanOrEqual(10);
      expect((await drawnPixels(p, '#timeline canvas')).drawn).toBeGreaterThan(0);
      expect(o.errors).toEqual([]);
    } finally {
      await o.close();
    }
  });
});

/** '127 ms', '6.75 ms', '850 µs' -> ns. */
function parseDuration(text: string): number {
  const m = /(-?[\d.]+)\s*(ns|µs|ms|s)\b/.exec(text);
  if (!m) throw new Error(`no duration in ${JSON.stringify(text)}`);
  return Number(m[1]) * { ns: 1, µs: 1e3, ms: 1e6, s: 1e9 }[m[2] as 'ns' | 'µs' | 'ms' | 's'];
}

/** Three significant digits, as the page prints them. */
const close3 = (shown: number, want: number, what = '') => expect(Math.abs(shown - want), `${what}: shown ${shown}, want ${want}`).toBeLessThanOrEqual(Math.abs(want) * 0.006 + 1e-9);
/** Durations travel as float32 and are summed in float64: equal to ~1e-6. */
const closeF32 = (got: number, want: number) => expect(Math.abs(got - want)).toBeLessThanOrEqual(Math.abs(want) * 2e-6 + 1);

describe('dashboard: generation speed, pass statistics, counter tracks, findings with evidence (real MLX)', () => {
  const PASSES = 4, WARMUP = 2, TOKENS = 12;
  let traces: DashboardTraces;
  let genFile: string, passFile: string, adviceFile: string;
  let passTrace: Trace;

  beforeAll(async () => {
    traces = await recordDashboardTraces({ passes: PASSES, warmup: WARMUP, tokens: TOKENS });
    genFile = await exportTo('generation.html', traces.generation.trace);
    // Counter tracks as bench-model samples them from /sys, over the multi-pass profile.
    passTrace = withCounters(traces.passes);
    passFile = await exportTo('passes.html', passTrace);
    const promotion = traces.promotion;
    const advice = [...(promotion.meta.advice as Finding[]), { rule: 'elsewhere', severity: 'info', message: 'Evidence from another trace.',
      suggestion: '', evidence: [987654321], timeAtStake: 0 }];
    adviceFile = await exportTo('advice.html', { ...promotion, meta: { ...promotion.meta, advice } });
  }, 300_000);

  it('shows time to first token, prefill and decode tokens/s and p50/p95 latency from meta.generation', async () => {
    const o = await open(genFile);
    try {
      const p = o.page;
      const { stats } = traces.generation;
      await expect.poll(() => p.locator('#summary .gen').isVisible()).toBe(true);
      const cards = await p.$$eval('#summary .gen .card', (els) => els.map((e) => [e.querySelector('.card-label')!.textContent, e.querySelector('.card-value')!.textContent]));
      const value = (label: string) => cards.find((c) => c[0] === label)![1]!;
      expect(cards.map((c) => c[0])).toEqual(['Time to first token', 'Prefill tokens/s', 'Decode tokens/s', 'Token latency p50', 'Token latency p95']);
      close3(parseDuration(value('Time to first token')), stats.timeToFirstTokenMs * 1e6);
      const num = (text: string) => Number(text.replace(/,/g, ''));
      close3(num(value('Prefill tokens/s')), stats.prefillTokensPerSec);
      close3(num(value('Decode tokens/s')), stats.decodeTokensPerSec);
      close3(parseDuration(value('Token latency p50')), stats.tokenLatencyMs.p50 * 1e6);
      close3(parseDuration(value('Token latency p95')), stats.tokenLatencyMs.p95 * 1e6);
      await p.locator('#summary .gen').screenshot({ path: join(SHOTS, 'generation.png') });
      expect(o.errors).toEqual([]);
      expect(o.requests).toEqual([]);
    } finally {
      await o.close();
    }
    // Narrow and dark: the cards wrap, the chart fits.
    const n = await open(genFile, { width: 390, height: 800, dark: true });
    try {
      const p = n.page;
      expect(await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).toBeLessThanOrEqual(0);
      expect((await p.locator('#summary .gen canvas').boundingBox())!.width).toBeLessThanOrEqual(390);
      expect((await drawnPixels(p, '#summary .gen canvas')).drawn).toBeGreaterThan(0);
      await p.locator('#summary .gen').screenshot({ path: join(SHOTS, 'narrow-dark-generation.png') });
      expect(n.errors).toEqual([]);
    } finally {
      await n.close();
    }
  });

  it('draws a bar per decoded token from its span; a bar (click or keys) finds the token in the timeline', async () => {
    const o = await open(genFile);
    try {
      const p = o.page;
      const trace = traces.generation.trace;
      const tokenSpans = trace.spans.filter((s) => s.kind === 'user' && s.attrs?.phase === 'decode').sort((a, b) => (a.attrs!.token as number) - (b.attrs!.token as number));
      expect(tokenSpans.length).toBe(TOKENS);
      expect(await p.locator('#summary .gen canvas').getAttribute('data-tokens')).toBe(String(TOKENS));
      const bars = await p.evaluate(() => (window as any).__mlxTrace.generation.bars());
      expect(bars.map((b: { token: number }) => b.token)).toEqual(tokenSpans.map((s) => s.attrs!.token));
      bars.forEach((b: { durNs: number }, k: number) => closeF32(b.durNs, tokenSpans[k].end - tokenSpans[k].start));
      expect((await drawnPixels(p, '#summary .gen canvas')).drawn).toBeGreaterThan(0);

      const canvas = p.locator('#summary .gen canvas');
      await canvas.scrollIntoViewIfNeeded();
      const box = (await canvas.boundingBox())!;
      const fifth = bars[4];
      await p.mouse.click(box.x + fifth.x, box.y + fifth.y);
      const sel = await p.evaluate(() => (window as any).__mlxTrace.selection());
      expect(sel).toMatchObject({ source: 'generation', label: 'token 5', spans: [fifth.span] });
      const span = await p.evaluate((i) => (window as any).__mlxTrace.span(i), fifth.span);
      expect(span).toMatchObject({ name: 'token 5', kind: 'user', id: tokenSpans[4].id });
      expect(await p.evaluate(() => (window as any).__mlxTrace.timeline.highlighted())).toEqual([fifth.span]);
      // The timeline zoomed to the token.
      const r = await viewRange(p);
      expect(r.start).toBeLessThanOrEqual(tokenSpans[4].start);
      expect(r.end).toBeGreaterThanOrEqual(tokenSpans[4].end);
      expect(r.end - r.start).toBeLessThan((trace.spans.reduce((a, s) => Math.max(a, s.end), 0) - trace.spans.reduce((a, s) => Math.min(a, s.start), Infinity)) / 2);
      expect(await p.locator('.tl-details').textContent()).toContain('token 5');
      expect(await p.locator('.tl-details').textContent()).toContain(`Span id${tokenSpans[4].id}`);
      await p.locator('#timeline').screenshot({ path: join(SHOTS, 'generation-token-timeline.png') });

      await canvas.focus();
      await p.keyboard.press('ArrowRight');
      await p.keyboard.press('ArrowRight');
      await p.keyboard.press('Enter');
      expect((await p.evaluate(() => (window as any).__mlxTrace.selection())).label).toBe('token 2');
      expect(o.errors).toEqual([]);
    } finally {
      await o.close();
    }
  });

  it('shows per-pass mean, p50, p95 and std per op, equal to passStats, with warm-ups out of every total', async () => {
    const o = await open(passFile);
    try {
      const p = o.page;
      const trace = passTrace;
      const cards = await p.$$eval('#summary > .cards .card', (els) => els.map((e) => Array.from(e.children, (c) => c.textContent ?? '')));
      expect(cards.find((c) => c[0] === 'Passes')).toEqual(['Passes', `${PASSES} measured`, `${WARMUP} warm-up passes left out of every statistic and total`]);
      const perPass = cards.find((c) => c[0] === 'Time per pass')!;
      const wall = summarize(traces.passes.spans.filter((s) => s.kind === 'user' && s.attrs?.pass === s.pass && !s.warmup).map((s) => s.end - s.start));
      expect(wall.n).toBe(PASSES);
      close3(parseDuration(perPass[1]), wall.mean, 'mean');
      const [w50, w95, wstd] = perPass[2].split(' · ');
      close3(parseDuration(w50), wall.p50, w50);
      close3(parseDuration(w95), wall.p95, w95);
      close3(parseDuration(wstd), wall.std, wstd);
      // The pass facts are on the card, not repeated among the host facts.
      expect(await p.locator('#summary .facts dt').allTextContents()).not.toContain('passes');

      for (const col of ['pass-mean', 'pass-p50', 'pass-p95', 'pass-std']) expect(await p.locator(`#ops-table th[data-col="${col}"]`).count()).toBe(1);
      const status = (await p.locator('#ops-status').textContent())!;
      expect(status).toContain(`per-pass statistics over ${PASSES} measured passes; ${WARMUP} warm-up passes left out of the statistics and totals`);

      const want = passStats(trace, { groupBy: 'op' });
      expect(want.passes).toBe(PASSES);
      const rows = await p.evaluate(() => (window as any).__mlxTrace.table.rows());
      expect(new Set(rows.map((r: { label: string }) => r.label))).toEqual(new Set(want.rows.map((r) => r.key)));
      for (const w of want.rows) {
        const got = rows.find((r: { label: string }) => r.label === w.key);
        expect(got.calls).toBe(Math.round(w.calls * PASSES));
        closeF32(got.pass.mean, w.time.mean);
        closeF32(got.pass.p50, w.time.p50);
        closeF32(got.pass.p95, w.time.p95);
        expect(Math.abs(got.pass.std - w.time.std)).toBeLessThanOrEqual(w.time.mean * 1e-5 + 1);
      }
      // Totals: the measured passes' primitives only.
      const prims = trace.spans.filter((s) => s.kind === 'primitive');
      const measured = prims.filter((s) => s.pass !== undefined && !s.warmup);
      expect(measured.length).toBeLessThan(prims.length);
      const foot = await p.locator('#ops-table tfoot td').allTextContents();
      const headers = await p.locator('#ops-table thead th').evaluateAll((ths) => ths.map((t) => t.getAttribute('data-col')));
      expect(Number(foot[headers.indexOf('calls')].replace(/,/g, ''))).toBe(measured.length);
      close3(parseDuration(foot[headers.indexOf('total')]), measured.reduce((a, s) => a + s.end - s.start, 0), 'total');
      close3(parseDuration(foot[headers.indexOf('pass-mean')]), want.primitive.mean, 'pass mean');

      // Sorting by a statistic orders the rows by it.
      await p.locator('#ops-table th[data-col="pass-p95"] button').click();
      const p95 = (await p.evaluate(() => (window as any).__mlxTrace.table.rows())).map((r: { pass: { p95: number } }) => r.pass.p95);
      expect(p95).toEqual([...p95].sort((a: number, b: number) => b - a));
      await p.locator('#ops').screenshot({ path: join(SHOTS, 'ops-passes.png') });
      expect(o.errors).toEqual([]);
      expect(o.requests).toEqual([]);
    } finally {
      await o.close();
    }
  });

  it('draws a line lane per counter track under the memory curve, named in data-counter-lanes, with values on hover', async () => {
    const o = await open(passFile);
    try {
      const p = o.page;
      const names = passTrace.counters!.map((c) => c.name);
      const canvas = p.locator('#timeline canvas');
      expect(JSON.parse((await canvas.getAttribute('data-counter-lanes'))!)).toEqual(names);
      const lanes = await p.evaluate(() => (window as any).__mlxTrace.timeline.counterLanes());
      expect(lanes.map((l: { name: string }) => l.name)).toEqual(names);
      const width = (await canvas.boundingBox())!.width;
      for (const l of lanes) {
        const { drawn, total } = await drawnPixels(p, '#timeline canvas', { x: 0, y: l.y, w: width, h: l.h - 1 });
        expect(drawn, l.name).toBeGreaterThan(width * 0.5); // a line across the lane
        expect(drawn, l.name).toBeLessThan(total * 0.5); // a line, not a filled box
      }
      // Hover: the value of the last sample at that time.
      await canvas.scrollIntoViewIfNeeded();
      const box = (await canvas.boundingBox())!;
      const temp = passTrace.counters![1];
      await p.mouse.move(box.x + width * 0.75, box.y + lanes[1].y + lanes[1].h / 2);
      await expect.poll(() => p.locator('#tip').isVisible()).toBe(true);
      const tip = (await p.locator('#tip').textContent())!;
      expect(tip).toContain(temp.name);
      const view = await viewRange(p);
      const t = view.start + 0.75 * (view.end - view.start);
      const last = temp.samples.filter(([st]) => st <= t).at(-1)!;
      expect(tip).toContain(`Value${last[1].toFixed(1)} °C`);
      await p.locator('#timeline').screenshot({ path: join(SHOTS, 'timeline-counters.png') });
      expect(o.errors).toEqual([]);
    } finally {
      await o.close();
    }
    const d = await open(passFile, { dark: true });
    try {
      const lanes = await d.page.evaluate(() => (window as any).__mlxTrace.timeline.counterLanes());
      const width = (await d.page.locator('#timeline canvas').boundingBox())!.width;
      expect((await drawnPixels(d.page, '#timeline canvas', { x: 0, y: lanes[0].y, w: width, h: lanes[0].h - 1 })).drawn).toBeGreaterThan(width * 0.5);
      await d.page.locator('#timeline').screenshot({ path: join(SHOTS, 'dark-timeline-counters.png') });
      expect(d.errors).toEqual([]);
    } finally {
      await d.close();
    }
  });

  it('a finding’s button selects exactly its evidence spans in the timeline and their ops in the table', async () => {
    const o = await open(adviceFile);
    try {
      const p = o.page;
      const promotion = traces.promotion;
      const finding = (promotion.meta.advice as Finding[]).find((f) => f.rule === 'type-promotion')!;
      expect(finding, 'the advisor finds the float32 scalar').toBeDefined();
      const li = p.locator('#summary .finding', { hasText: finding.message });
      const button = li.locator('button.evidence');
      const n = finding.evidence.length;
      expect(await button.textContent()).toBe(`Show ${n === 1 ? 'its evidence span' : `its ${n} evidence spans`} in the timeline`);
      await button.click();
      expect(await button.getAttribute('aria-pressed')).toBe('true');
      const sel = await p.evaluate(() => (window as any).__mlxTrace.selection());
      expect(sel.source).toBe('finding');
      const ids = await p.evaluate((spans) => spans.map((i: number) => (window as any).__mlxTrace.span(i).id), sel.spans);
      expect([...ids].sort((a, b) => a - b)).toEqual([...finding.evidence].sort((a, b) => a - b));
      // The same spans, as the trace has them.
      const byId = new Map(promotion.spans.map((s) => [s.id, s]));
      for (const i of sel.spans) {
        const got = await p.evaluate((k) => (window as any).__mlxTrace.span(k), i);
        const s = byId.get(got.id)!;
        expect([got.name, got.start]).toEqual([s.name, s.start]);
      }
      expect(await p.evaluate(() => (window as any).__mlxTrace.timeline.highlighted())).toEqual(sel.spans);
      // The table marks the ops of the evidence primitives.
      const evidenceOps = new Set(finding.evidence.map((id) => byId.get(id)!).filter((s) => s.kind === 'primitive').map((s) => s.name));
      expect(evidenceOps.has('AsType')).toBe(true);
      expect(new Set(await p.locator('#ops-table tbody tr.selected .label').allTextContents())).toEqual(evidenceOps);
      expect(await p.locator('.tl-details').textContent()).toMatch(/Span id\d+/);
      // N steps through the evidence.
      const first = await p.evaluate(() => (window as any).__mlxTrace.timeline.view());
      await p.locator('#timeline canvas').focus();
      await p.keyboard.press('n');
      await p.waitForTimeout(50);
      expect(await p.evaluate(() => (window as any).__mlxTrace.timeline.view())).not.toEqual(first);
      await p.screenshot({ path: join(SHOTS, 'finding-evidence.png'), fullPage: true });

      // Pressed again: nothing selected.
      await button.click();
      expect(await p.evaluate(() => (window as any).__mlxTrace.selection())).toBeNull();
      expect(await button.getAttribute('aria-pressed')).toBe('false');
      // Evidence the trace does not have is said, not offered.
      const other = p.locator('#summary .finding', { hasText: 'Evidence from another trace.' });
      expect(await other.locator('button').count()).toBe(0);
      expect(await other.textContent()).toContain('Its evidence span is not in this trace.');
      expect(o.errors).toEqual([]);
      expect(o.requests).toEqual([]);
    } finally {
      await o.close();
    }
  });
});

describe('packing what issue 7 adds', () => {
  const col = (p: ReturnType<typeof packTrace>, id: string) => p.columns.find((c) => c.desc.id === id)?.data;

  it('adds no column to a trace without passes, counters, findings or generation (bytes per span unchanged)', () => {
    const p = packTrace(syntheticTrace({ steps: 2 }));
    expect(p.columns.map((c) => c.desc.id)).toEqual(['start', 'dur', 'sig', 'layer', 'sigKind', 'sigCat', 'sigName', 'sigShapes', 'sigDtype',
      'sigFlops', 'sigBytes', 'memT', 'memLive']);
    expect([p.head.passes, p.head.generation, p.head.counters]).toEqual([null, null, []]);
  });

  it('a pass column of one byte per span with (pass, warm-up) codes', () => {
    const t = syntheticTrace({ steps: 5 });
    const steps = t.spans.filter((s) => s.kind === 'user');
    const stepOf = (s: Span): number => (s.kind === 'user' ? steps.indexOf(s) : stepOf(t.spans.find((x) => x.id === s.parentId || x.id === s.layerId)!));
    for (const s of t.spans) {
      const k = stepOf(s);
      s.pass = k;
      s.warmup = k < 2;
    }
    for (const s of steps) s.attrs = { pass: s.pass!, warmup: s.warmup! };
    const p = packTrace(t);
    const pass = col(p, 'pass')!;
    expect(pass).toBeInstanceOf(Uint8Array);
    expect(p.head.passes).toMatchObject({ measured: [2, 3, 4], warmup: [0, 1] });
    expect(p.head.passes!.wall).toEqual(steps.slice(2).map((s) => s.end - s.start));
    // A sweep numbering its passes the same way per setting (bench-model): wall time adds up per pass number.
    const last = t.spans.reduce((a, s) => Math.max(a, s.end), 0);
    const again: Span = { ...steps[2], id: 99_999, start: last + 10, end: last + 510 };
    expect(packTrace({ ...t, spans: [...t.spans, again] }).head.passes!.wall[0]).toBe(steps[2].end - steps[2].start + 500);
    // Every span's code names its own pass.
    const start = col(p, 'start')!;
    const byStart = new Map<number, Span[]>();
    for (const s of t.spans) byStart.set(s.start, [...(byStart.get(s.start) ?? []), s]);
    for (let i = 0; i < start.length; i++) {
      const code = p.head.passes!.codes[pass[i] - 1];
      expect(byStart.get(start[i])!.some((s) => s.pass === code.pass && s.warmup === code.warmup)).toBe(true);
    }
  });

  it('counter tracks: finite samples in time order, a huge track reduced to per-bucket extremes', () => {
    const t = syntheticTrace({ steps: 1 });
    const big: [number, number][] = Array.from({ length: 100_000 }, (_, i) => [i * 100, 50 + (i % 7) + (i === 77_777 ? 40 : 0) - (i === 12_345 ? 30 : 0)]);
    t.counters = [
      { name: 'c', unit: 'MHz', samples: [[300, 3], [100, 1], [200, Number.NaN], [150, 1.5]] },
      { name: 'bad', unit: 'x', samples: 'nope' as never },
      { name: 'big', unit: '°C', samples: big },
    ];
    const p = packTrace(t);
    const T = col(p, 'counterT')!, V = col(p, 'counterV')!;
    const [c, b] = p.head.counters;
    expect(p.head.counters.map((h) => h.name)).toEqual(['c', 'big']);
    expect([...T.slice(c.offset, c.offset + c.count)]).toEqual([100, 150, 300]);
    expect([...V.slice(c.offset, c.offset + c.count)]).toEqual([1, 1.5, 3]);
    expect([c.min, c.max, c.sourceCount]).toEqual([1, 3, 3]);
    expect(b.sourceCount).toBe(100_000);
    expect(b.count).toBeLessThanOrEqual(30_000);
    const bv = [...V.slice(b.offset, b.offset + b.count)];
    const values = big.map((x) => x[1]);
    const extremes = [Math.min(...values), Math.max(...values)];
    expect(extremes).toEqual([24, 90]); // the one-sample dip and spike
    expect([Math.min(...bv), Math.max(...bv)]).toEqual(extremes);
    expect([b.min, b.max]).toEqual(extremes);
    const bt = [...T.slice(b.offset, b.offset + b.count)];
    expect(bt).toEqual([...bt].sort((x, y) => x - y));
  });

  it('evidence ids become positions of exactly those spans, with their ids alongside', () => {
    const t = syntheticTrace({ steps: 3 });
    const softmax = t.spans.filter((s) => s.name === 'Softmax');
    t.meta.advice = [{ rule: 'r', severity: 'warning', message: 'm', suggestion: '', evidence: [...softmax.map((s) => s.id), 424242], timeAtStake: 5 }];
    const p = packTrace(t);
    const f = p.head.advice[0];
    expect(f.evidence).toBe(softmax.length + 1);
    expect(f.spans.length).toBe(softmax.length);
    const start = col(p, 'start')!, idPos = col(p, 'idPos')!, idVal = col(p, 'idVal')!;
    expect([...idPos]).toEqual(f.spans);
    expect(new Set(f.spans.map((i) => start[i]))).toEqual(new Set(softmax.map((s) => s.start)));
    expect([...idVal].sort((a, b) => a - b)).toEqual(softmax.map((s) => s.id).sort((a, b) => a - b));
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
