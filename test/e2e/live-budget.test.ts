/**
 * The live page holds only the newest primitives of the window (serveLive's pagePrimitives) and counts the rest:
 * a real decode loop (far more primitives a second than that) served to a real Chromium. With the app idle the
 * window stands still, so the page's last batch and a save are of the same window: the page has every primitive of
 * the save that ended since its cut and no other, says how many it was not sent, and its op and layer tables total
 * every primitive of the save.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { buildCli, ROOT } from '../helpers/cli';
import { APP, fetchText, startApp } from '../helpers/live-app';
import { loadTrace } from '../../src/core/io/persist';
import { aggregate } from '../../src/core/analysis/aggregate';
import type { Span } from '../../src/core/model/trace';

/** The page's budget of primitives, set through serveLive's option (the default is larger). */
const BUDGET = 8000;
/** The server's span cap: a decode loop makes more spans than this in the 4 s window, even on a loaded machine. */
const SPAN_CAP = 30_000;
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

let dist: string;
let work: string;
let browser: Browser;

beforeAll(async () => {
  dist = await buildCli('live-budget');
  work = join(ROOT, 'test-output', `live-budget-work-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  writeFileSync(join(work, 'app.js'), APP(dist));
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  rmSync(work, { recursive: true, force: true });
  rmSync(dist, { recursive: true, force: true });
});

/** Calls and total time (ns) of primitives by a label, sorted by label. */
function totals(spans: Span[], label: (s: Span) => string): { label: string; calls: number; total: number }[] {
  const by = new Map<string, { label: string; calls: number; total: number }>();
  for (const s of spans) {
    const k = label(s);
    const r = by.get(k) ?? { label: k, calls: 0, total: 0 };
    r.calls++;
    r.total += s.end - s.start;
    by.set(k, r);
  }
  return [...by.values()].sort((a, b) => a.label.localeCompare(b.label));
}

describe('the live page under a decode loop', () => {
  it('holds the newest primitives, counts those it was not sent, and its tables total every primitive of the window', async () => {
    const app = await startApp(work, ['app.js'], { MAX_SECS: '300', LIVE_API: JSON.stringify({ port: 0, refreshMs: 500, windowSeconds: 4, pagePrimitives: BUDGET, maxSpans: SPAN_CAP }) }, /live-api (\S+)/);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    type LiveState = { batches: number; applied: number; spans: number; primitives: number; notSent: number; since: number; busyNs: number; coveredNs: number };
    const live = () => page.evaluate(() => ({ ...(window as unknown as { __mlxLive: LiveState }).__mlxLive }));
    const stats = async () => JSON.parse((await fetchText(`${app.url}stats`)).body.toString('utf8'));
    try {
      await page.goto(app.url);
      // The loop makes more primitives in a window than a page holds.
      await page.waitForFunction(() => (window as any).__mlxLive.applied >= 2 && (window as any).__mlxLive.notSent > 0, null, { timeout: 120_000 });
      const moving = await live();
      expect(moving.primitives).toBeGreaterThan(BUDGET / 2);
      // The cut is the end of the budget-th newest primitive: more only where ends tie.
      expect(moving.primitives).toBeLessThanOrEqual(BUDGET * 1.01);
      expect(moving.spans).toBeGreaterThan(moving.primitives);

      // The app idles: nothing more arrives, the page gets the last batch and shows it.
      app.pause(true);
      let last = await stats();
      for (let i = 0; i < 60; i++) {
        await page.waitForTimeout(1500);
        const now = await stats();
        if (now.receivedSpans === last.receivedSpans) break;
        last = now;
      }
      await page.waitForTimeout(1500);
      const state = await live();
      const saved = await fetchText(`${app.url}save.mlxtrace`);
      const file = join(work, 'window.mlxtrace');
      writeFileSync(file, saved.body);
      const trace = loadTrace(file);
      const prims = trace.spans.filter((s) => s.kind === 'primitive');
      expect((await stats()).receivedSpans).toBe(last.receivedSpans);

      // The page has exactly the saved primitives that ended since its cut; the rest it counts as not sent.
      const pageIds = await page.evaluate((n) => {
        const span = (window as any).__mlxTrace.span as (i: number) => { kind: string; id: number };
        const ids: number[] = [];
        for (let i = 0; i < n; i++) { const s = span(i); if (s.kind === 'primitive') ids.push(s.id); }
        return ids;
      }, state.spans);
      expect(pageIds.length).toBe(state.primitives);
      const since = prims.filter((s) => s.end >= state.since);
      expect(new Set(pageIds)).toEqual(new Set(since.map((s) => s.id)));
      expect(state.notSent).toBe(prims.length - pageIds.length);
      expect(state.notSent).toBeGreaterThan(0);
      const cards = await page.locator('#live .cards').textContent();
      expect(cards).toContain(`${state.notSent.toLocaleString('en-US')} older not sent`);
      // When the loop makes spans faster than the server's cap holds 4 s of them, the card says how far back the
      // window really reaches; spans let go over the cap are not counted as dropped (nothing recorded was lost).
      const st = await stats();
      if (st.latest - st.from < 0.98 * 4e9) expect(cards).toMatch(/last [\d.]+ m?s: the server keeps 30,000 spans \(serveLive maxSpans\)/);
      else expect(cards).toContain('last 4 s ·');
      expect(cards).toContain('Dropped0recorder 0 · feed 0');

      // The op table and the by-layer table count every primitive of the window, not the ones the page has.
      const rows = () => page.evaluate(() => ((window as any).__mlxTrace.table.rows() as { label: string; calls: number; total: number }[])
        .map(({ label, calls, total }) => ({ label, calls, total })).sort((a, b) => a.label.localeCompare(b.label)));
      expect(await rows()).toEqual(totals(prims, (s) => s.name));
      await page.selectOption('#ops-group', 'layer');
      expect(await rows()).toEqual(totals(prims, (s) => s.layer ?? '(no layer)'));

      // Shares and coverage are of busy time as the saved window's aggregation measures it (evals, each asyncEval
      // until its work finished, sync points), not of the eval spans alone: an asyncEval's span reaches the page
      // before its work ran.
      const agg = aggregate(trace, { by: ['op'] });
      expect(state.busyNs).toBeGreaterThan(0);
      expect(state.coveredNs).toBeLessThanOrEqual(state.busyNs);
      expect(Math.abs(state.busyNs - agg.busy.ns)).toBeLessThan(0.01 * agg.busy.ns);
      expect(Math.abs(state.coveredNs / state.busyNs - agg.coveredNs / agg.busy.ns)).toBeLessThan(0.01);

      app.pause(false);
      app.stop();
      expect(await app.exited).toBe(0);
    } finally {
      await page.close();
      app.stop();
      app.pause(false);
      app.proc.kill('SIGKILL');
    }
  }, 400_000);
});
