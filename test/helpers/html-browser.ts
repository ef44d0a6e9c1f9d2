/**
 * Shared by the dashboard tests: a real headless Chromium with every request other than the report itself blocked
 * and counted, console errors and dialogs collected, and small readers of what the page shows (canvas pixels, the
 * timeline's range, table labels). Screenshots go to test-output/screenshots/ for a person to look at.
 */
import { afterAll, beforeAll, expect } from 'vitest';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { exportHtml } from '../../src/exporters/html';
import type { Trace } from '../../src/core/model/trace';
import { syntheticTrace } from './synthetic-trace';
import { withAdvice } from './html-fixture';

export const OUT = resolve('test-output/html');
export const SHOTS = resolve('test-output/screenshots');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

export interface Opened {
  page: Page;
  url: string;
  /** Every request other than the document itself. */
  requests: string[];
  errors: string[];
  dialogs: string[];
  close(): Promise<void>;
}

export interface HtmlSession {
  browser(): Browser;
  open(file: string, opts?: { width?: number; height?: number; dark?: boolean }): Promise<Opened>;
  /** Writes the report through the public path API (so the file under test is what users get) into OUT/name. */
  exportTo(name: string, trace: Trace): Promise<string>;
}

/** Launches Chromium before the file's tests and closes it after; call once at the top of a test file. */
export function useHtmlSession(): HtmlSession {
  let browser: Browser;
  beforeAll(async () => {
    mkdirSync(OUT, { recursive: true });
    mkdirSync(SHOTS, { recursive: true });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  });
  afterAll(async () => {
    await browser?.close();
  });
  return {
    browser: () => browser,
    async open(file, opts = {}) {
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
    },
    async exportTo(name, trace) {
      const file = join(OUT, name);
      await exportHtml(trace, file);
      return file;
    },
  };
}

/**
 * The trace the dashboard tests open: a saved trace named by MLX_TRACE_HTML_TRACE, else a real MLX recording
 * (test/helpers/real-trace.ts) when it exists, else the synthetic trace.
 */
export async function mainTrace(): Promise<{ trace: Trace; real: boolean }> {
  const saved = process.env.MLX_TRACE_HTML_TRACE;
  if (saved) return { trace: withAdvice(JSON.parse(readFileSync(saved, 'utf8')) as Trace), real: true };
  if (existsSync(resolve('test/helpers/real-trace.ts'))) {
    const spec = './real-trace';
    const mod = (await import(/* @vite-ignore */ spec)) as { recordRealTrace: () => Promise<Trace> };
    return { trace: withAdvice(await mod.recordRealTrace()), real: true };
  }
  return { trace: withAdvice(syntheticTrace({ steps: 4, blocks: 3, primitivesPerLayer: 6 })), real: false };
}

/** Pixels of the canvas (or of a box in it, in CSS pixels) that differ from the page background. */
export async function drawnPixels(page: Page, selector: string, box?: { x: number; y: number; w: number; h: number }): Promise<{ drawn: number; total: number }> {
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

export const viewRange = (page: Page) =>
  page.evaluate(() => {
    const c = document.querySelector('#timeline canvas') as HTMLCanvasElement;
    return { start: Number(c.dataset.viewStart), end: Number(c.dataset.viewEnd) };
  });

export const tableLabels = (page: Page) => page.$$eval('#ops-table tbody tr td.name .label', (els) => els.map((e) => e.textContent ?? ''));

/** '127 ms', '6.75 ms', '850 µs' -> ns. */
export function parseDuration(text: string): number {
  const m = /(-?[\d.]+)\s*(ns|µs|ms|s)\b/.exec(text);
  if (!m) throw new Error(`no duration in ${JSON.stringify(text)}`);
  return Number(m[1]) * { ns: 1, µs: 1e3, ms: 1e6, s: 1e9 }[m[2] as 'ns' | 'µs' | 'ms' | 's'];
}

/** Three significant digits, as the page prints them. */
export const close3 = (shown: number, want: number, what = '') => expect(Math.abs(shown - want), `${what}: shown ${shown}, want ${want}`).toBeLessThanOrEqual(Math.abs(want) * 0.006 + 1e-9);
/** Durations travel as float32 and are summed in float64: equal to ~1e-6. */
export const closeF32 = (got: number, want: number) => expect(Math.abs(got - want)).toBeLessThanOrEqual(Math.abs(want) * 2e-6 + 1);

/** Resolves after the page's next two animation frames: a redraw the last input scheduled has run by then. */
export const nextFrame = (page: Page) => page.evaluate(() => new Promise<void>((r) => requestAnimationFrame(() => requestAnimationFrame(() => r()))));
