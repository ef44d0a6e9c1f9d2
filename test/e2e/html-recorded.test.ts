/**
 * The dashboard on real MLX recordings: generation speed and the per-token chart, per-pass statistics, counter
 * lanes and a finding's evidence spans.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import type { Trace } from '../../src/core/model/trace';
import type { Finding } from '../../src/core/analysis/advisor';
import { passStats, summarize } from '../../src/core/analysis/stats';
import { withCounters } from '../helpers/counters-fixture';
import { syntheticTrace } from '../helpers/synthetic-trace';
import { recordDashboardTraces, type DashboardTraces } from '../helpers/dashboard-traces';
import { close3, closeF32, drawnPixels, parseDuration, SHOTS, useHtmlSession, viewRange, nextFrame } from '../helpers/html-browser';

const { open, exportTo } = useHtmlSession();


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
      // The timeline zoomed to the token: the token with a margin of at most half its length on each side (not
      // a fraction of the trace: a token slowed down by the machine may be a large part of a 12-token recording).
      const r = await viewRange(p);
      expect(r.start).toBeLessThanOrEqual(tokenSpans[4].start);
      expect(r.end).toBeGreaterThanOrEqual(tokenSpans[4].end);
      expect(r.end - r.start).toBeLessThanOrEqual(2 * (tokenSpans[4].end - tokenSpans[4].start) + 1);
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
      await nextFrame(p);
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

describe('generation chart: labels', () => {
  it('the p50 and p95 labels sit clear of every bar and of each other, wide and narrow', async () => {
    // 16 decoded tokens whose last ones are slower than p95, as a cache that grows makes them: the bars reach past
    // both percentile lines at the right end, where the labels used to be drawn.
    const t = syntheticTrace({ steps: 1 });
    const base = Math.max(...t.spans.map((s) => s.end)) + 1000;
    const durs = Array.from({ length: 16 }, (_, k) => 1_000_000 + k * 60_000);
    let at = base;
    durs.forEach((d, k) => {
      t.spans.push({ id: 900_000 + k, parentId: null, kind: 'user', name: `token ${k + 1}`, start: at, end: at + d, thread: t.spans[0].thread,
        device: 'cpu', inputs: [], outputs: [], flops: null, bytes: null, attrs: { phase: 'decode', token: k + 1 } });
      at += d + 500;
    });
    const sorted = [...durs].sort((a, b) => a - b);
    const pct = (q: number) => sorted[Math.round(q * (sorted.length - 1))] / 1e6;
    t.meta.generation = { promptTokens: 8, generatedTokens: 17, timeToFirstTokenMs: 3, prefillTokensPerSec: 2000, decodeTokensPerSec: 800,
      tokenLatencyMs: { p50: pct(0.5), p95: pct(0.95), mean: pct(0.5), min: sorted[0] / 1e6, max: sorted[15] / 1e6 } };
    const file = await exportTo('generation-labels.html', t);
    for (const width of [1280, 700, 390]) {
      const o = await open(file, { width });
      try {
        const gen = await o.page.evaluate(() => ({ bars: (window as any).__mlxTrace.generation.bars(), labels: (window as any).__mlxTrace.generation.labels() }));
        expect(gen.bars).toHaveLength(16);
        expect(gen.labels.map((l: { text: string }) => l.text.split(' ')[0])).toEqual(['p50', 'p95']);
        type Box = { x: number; y: number; w: number; h: number };
        const meets = (a: Box, b: Box) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
        for (const l of gen.labels) {
          for (const [k, b] of gen.bars.entries()) expect(meets(l, b.box), `${width}px: ${l.text} over bar ${k + 1}`).toBe(false);
        }
        expect(meets(gen.labels[0], gen.labels[1]), `${width}px: the labels overlap`).toBe(false);
        expect(o.errors).toEqual([]);
      } finally {
        await o.close();
      }
    }
  });
});
