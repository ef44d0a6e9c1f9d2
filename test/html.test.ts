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
import { exportHtml, renderHtml } from '../src/exporters/html';
import { packTrace } from '../src/exporters/html/pack';
import type { Trace } from '../src/core/trace';
import { syntheticTrace } from './helpers/synthetic-trace';
import { emptyTrace, withAdvice, xssTrace, XSS_LAYER, XSS_NAME, XSS_OP } from './helpers/html-fixture';

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

/** Pixels of the canvas that differ from the page background. */
async function drawnPixels(page: Page, selector: string): Promise<{ drawn: number; total: number }> {
  return page.evaluate((sel) => {
    const c = document.querySelector(sel) as HTMLCanvasElement;
    // Read a copy, so the page's own canvas is not flagged for repeated readbacks.
    const copy = document.createElement('canvas');
    copy.width = c.width;
    copy.height = c.height;
    const ctx = copy.getContext('2d', { willReadFrequently: true })!;
    ctx.drawImage(c, 0, 0);
    const data = ctx.getImageData(0, 0, c.width, c.height).data;
    const probe = document.createElement('canvas').getContext('2d', { willReadFrequently: true })!;
    probe.fillStyle = getComputedStyle(document.documentElement).getPropertyValue('--bg').trim();
    probe.fillRect(0, 0, 1, 1);
    const [r, g, b] = probe.getImageData(0, 0, 1, 1).data;
    let drawn = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (Math.abs(data[i] - r) + Math.abs(data[i + 1] - g) + Math.abs(data[i + 2] - b) > 30) drawn++;
    }
    return { drawn, total: data.length / 4 };
  }, selector);
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
      const expected = new Set(trace.spans.filter((s) => s.kind === 'primitive').map((s) => s.layer ?? '(no layer)'));
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
      expect(await tableLabels(p)).toContain(XSS_LAYER);
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
