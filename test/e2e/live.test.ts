/**
 * The live view end to end: real apps running the decode loop (src/demo/llama.ts TINY_LLAMA) under
 * `mlx-trace run --live`, the preload's MLX_TRACE_LIVE and inst.serveLive(); plain HTTP clients of
 * /events (as curl -N), the address it binds, the token with --host, the saves; and the page in a
 * real headless Chromium: spans arriving, pause, reload, the app's exit, and a stalled client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { getPriority, networkInterfaces } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { baseEnv, buildCli, ROOT } from '../helpers/cli';
import { loadTrace } from '../../src/core/io/persist';
import { APP, fetchText, readEvents, startApp, wire, type SseEvent } from '../helpers/live-app';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];
const SHOTS = resolve('test-output/screenshots');

let dist: string;
let work: string;

/** A non-loopback IPv4 address of this machine, if it has one. */
function otherAddress(): string | null {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return null;
}

beforeAll(async () => {
  dist = await buildCli('live');
  work = join(ROOT, 'test-output', `live-work-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  writeFileSync(join(work, 'app.js'), APP(dist));
}, 240_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
  rmSync(dist, { recursive: true, force: true });
});

describe('mlx-trace run --live (plain HTTP)', () => {
  it('streams windows of the decode loop as Server-Sent Events on 127.0.0.1, saves the window, and ends the stream when the app exits', async () => {
    const out = join(work, 'run-out');
    const app = await startApp(work, [join(dist, 'cli.js'), 'run', '--live', '--no-report', '--out', out, 'app.js'], {}, /live view at (\S+)/);
    try {
      const url = new URL(app.url);
      expect(url.hostname).toBe('127.0.0.1');
      expect(url.search).toBe('');
      // Until the window holds a few decoded tokens, and a few batches came (the first as soon as the stream opens).
      const tokensIn = (e: SseEvent) => e.event === 'batch' && JSON.parse(e.data).rates.latencies.length > 2;
      const first = await readEvents(`${app.url}events`, (ev) => ev.some(tokensIn) && ev.filter((e) => e.event === 'batch').length >= 3);
      expect(first.status).toBe(200);
      expect(first.type).toMatch(/^text\/event-stream/);
      expect(first.events[0].event).toBe('hello');
      const batches = first.events.filter((e) => e.event === 'batch').map((e) => JSON.parse(e.data));
      // The first batch is the whole window; the next ones only what arrived since, numbered in the same tables.
      expect(batches.map((b) => b.reset)).toEqual([true, ...batches.slice(1).map(() => false)]);
      expect(batches[0].session.name).toBe('app.js');
      const strings = batches.flatMap((b) => b.tables.strings);
      expect(new Set(strings).size).toBe(strings.length);
      // The decode loop's primitives, layers and sync points, and the token spans the server finds.
      expect(strings).toEqual(expect.arrayContaining(['Matmul', 'asyncEval', 'item', 'token']));
      const spans = batches.reduce((a, b) => a + b.n, 0);
      expect(spans).toBeGreaterThan(100);
      let lanes = 0;
      for (const b of batches) {
        lanes += b.tables.lanes.length;
        const start = wire(b.cols.start, b.n), end = wire(b.cols.end, b.n), lane = wire(b.cols.lane, b.n);
        expect(start.every((t, i) => t >= 0 && end[i] >= t && end[i] <= b.to)).toBe(true);
        expect(lane.every((l) => l >= 0 && l < lanes)).toBe(true);
        expect(b.to).toBeGreaterThan(b.from);
        // The recorder's times are whole ns: they go as narrow differences, not f64.
        if (b.n > 100) expect(b.cols.start.type).not.toBe('f64');
      }
      // Batches follow each other in time: a later one starts no earlier than the earlier one.
      const starts = batches.map((b) => wire(b.cols.start, b.n).reduce((m, x) => Math.min(m, x), Infinity));
      expect(starts[batches.length - 1]).toBeGreaterThanOrEqual(starts[1]);
      const w = batches.find((b) => b.rates.latencies.length > 2);
      expect(w.rates.what).toBe('tokens');
      expect(w.stats.spans).toBeGreaterThan(100);

      // Only the loopback: the machine's other address refuses, and a Host that is not the loopback is turned away.
      const other = otherAddress();
      if (other) {
        const refused = await new Promise<string>((r) => {
          const s = connect({ host: other, port: Number(url.port) }, () => { s.destroy(); r('connected'); });
          s.on('error', (e: NodeJS.ErrnoException) => r(e.code ?? 'error'));
        });
        expect(refused).toBe('ECONNREFUSED');
      }
      const rebound = await fetchText(`${app.url}events`, { host: `evil.example:${url.port}` });
      expect(rebound.status).toBe(403);

      const page = await fetchText(app.url);
      expect(page.status).toBe(200);
      const html = page.body.toString('utf8');
      expect(html).toContain("connect-src 'self'");
      // The header names both bounds of the window: its length and the span cap, whichever binds first.
      expect(html).toMatch(/the last 10 s or 200,000 spans, whichever is shorter/);
      expect(html).toMatch(/default-src 'none'/);
      expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)="(https?:)?\/\//);

      const saved = await fetchText(`${app.url}save.mlxtrace`);
      expect(saved.status).toBe(200);
      expect(String(saved.headers['content-disposition'])).toMatch(/attachment; filename=".*\.mlxtrace"/);
      const file = join(work, 'window.mlxtrace');
      writeFileSync(file, saved.body);
      const trace = loadTrace(file);
      expect(trace.spans.length).toBeGreaterThan(100);
      expect(trace.spans.some((s) => s.kind === 'primitive' && s.name === 'Matmul' && (s.flops ?? 0) > 0)).toBe(true);
      expect(trace.spans.some((s) => s.kind === 'user' && s.attrs?.phase === 'decode')).toBe(true);
      let lo = Infinity, hi = -Infinity;
      for (const s of trace.spans) { if (s.start < lo) lo = s.start; if (s.end > hi) hi = s.end; }
      const span = hi - lo;
      expect(span).toBeLessThanOrEqual(12e9);
      const dash = await fetchText(`${app.url}save.html`);
      expect(dash.status).toBe(200);
      const dashHtml = dash.body.toString('utf8');
      expect(dashHtml).toMatch(/^<!doctype html>[\s\S]*id="mlx-trace-head"/);
      // Its title gives the saved window's real length, which the span cap can make shorter than 10 s.
      const titled = /<title>[^<]*\(live, last (\d[\d.]*) (ms|s)\)/.exec(dashHtml);
      expect(titled).not.toBeNull();
      const titledNs = Number(titled![1]) * (titled![2] === 's' ? 1e9 : 1e6);
      expect(Math.abs(titledNs - span)).toBeLessThan(Math.max(0.2 * span, 1.5e9));

      // The app's exit: an open stream gets 'end' and closes; run writes its usual files.
      const tail = readEvents(`${app.url}events`, (ev) => ev.some((e) => e.event === 'end'));
      await new Promise((r) => setTimeout(r, 1500));
      app.stop();
      const last = await tail;
      expect(last.events.map((e) => e.event)).toContain('end');
      expect(await app.exited).toBe(0);
      expect(existsSync(join(out, 'trace.mlxtrace'))).toBe(true);
    } finally {
      app.stop();
      app.proc.kill('SIGKILL');
    }
  }, 300_000);

  it('with --host, every URL needs the random token; bad values are one line and the app runs on', async () => {
    const app = await startApp(work, ['--require', join(dist, 'register.js'), 'app.js'], { MLX_TRACE_LIVE: '0', MLX_TRACE_LIVE_HOST: '0.0.0.0', MLX_TRACE_QUIET: '1', MLX_TRACE_OUT: join(work, 'tok') }, /live view at (\S+)/);
    try {
      const url = new URL(app.url);
      const token = url.searchParams.get('token') ?? '';
      expect(token).toMatch(/^[0-9a-f]{32}$/);
      const base = `http://127.0.0.1:${url.port}`;
      for (const path of ['/', '/events', '/save.mlxtrace', '/stats']) {
        expect((await fetchText(`${base}${path}`)).status).toBe(403);
        expect((await fetchText(`${base}${path}?token=${'0'.repeat(32)}`)).status).toBe(403);
      }
      expect((await fetchText(`${base}/?token=${token}`)).status).toBe(200);
      const ev = await readEvents(`${base}/events?token=${token}`, (e) => e.some((x) => x.event === 'batch'));
      expect(ev.status).toBe(200);
      // The page carries the token on to /events and the saves (from its own URL).
      expect((await fetchText(`${base}/?token=${token}`)).body.toString('utf8')).toMatch(/URLSearchParams\(location\.search\)\.get\(["']token["']\)/);
    } finally {
      app.stop();
      await app.exited;
    }
    const bad = await new Promise<string>((r) => {
      const p = spawn(process.execPath, ['--require', join(dist, 'register.js'), '-e', 'console.log("app ran")'], { cwd: work, env: baseEnv({ MLX_TRACE_LIVE: 'yes', MLX_TRACE_QUIET: '1', MLX_TRACE_OUT: join(work, 'bad') }) });
      let all = '';
      p.stdout.on('data', (d) => (all += d));
      p.stderr.on('data', (d) => (all += d));
      p.on('close', (c) => r(`${all}exit ${c}`));
    });
    expect(bad).toContain('MLX_TRACE_LIVE must be a port number');
    expect(bad).toContain('app ran');
    expect(bad).toContain('exit 0');
  }, 300_000);
});

describe('the live page in Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('shows spans arriving from the decode loop, pauses, reconnects after a reload, and keeps the data when the app ends', async () => {
    const app = await startApp(work, ['app.js'], { MAX_SECS: '400', LIVE_API: JSON.stringify({ port: 0, refreshMs: 500, windowSeconds: 4 }) }, /live-api (\S+)/);
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    const page = await context.newPage();
    const origin = new URL(app.url).origin;
    const outside: string[] = [];
    const errors: string[] = [];
    page.on('request', (r) => { if (!r.url().startsWith(origin) && !r.url().startsWith('data:')) outside.push(r.url()); });
    page.on('pageerror', (e) => errors.push(e.message));
    type LiveState = { batches: number; applied: number; spans: number; state: string; what: string; paused: boolean; skipped: number };
    const live = () => page.evaluate(() => (window as unknown as { __mlxLive: LiveState }).__mlxLive);
    const viewOf = () => page.evaluate(() => {
      const c = document.querySelector('#timeline canvas') as HTMLCanvasElement;
      return { start: Number(c.dataset.viewStart), end: Number(c.dataset.viewEnd) };
    });
    try {
      await page.goto(app.url);
      await page.waitForFunction(() => (window as any).__mlxLive.applied >= 1, null, { timeout: 120_000 });
      const a = await live();
      // The window fills: more spans in view than in the first one (an update may bring only findings).
      await page.waitForFunction((x) => (window as any).__mlxLive.applied > x.applied && (window as any).__mlxLive.spans > x.spans, a, { timeout: 120_000 });
      const b = await live();
      expect(b.state, app.stderr()).toBe('live');
      expect(b.what).toBe('tokens');
      // The dashboard's views, on the window: the timeline drew a range, the op table has rows.
      await page.waitForSelector('html[data-ready="all"]');
      const drawn = await page.evaluate(() => {
        const c = document.querySelector('#timeline canvas') as HTMLCanvasElement;
        return { end: Number(c.dataset.viewEnd), start: Number(c.dataset.viewStart), rows: document.querySelectorAll('#ops-table tbody tr').length, rate: (document.getElementById('live-rate') as HTMLCanvasElement).dataset.what };
      });
      expect(drawn.end).toBeGreaterThan(drawn.start);
      expect(drawn.rows).toBeGreaterThan(3);
      expect(drawn.rate).toBe('tokens');
      mkdirSync(SHOTS, { recursive: true });
      await page.screenshot({ path: join(SHOTS, 'live.png') });

      // Updates happen in place: the op table grouped by layer stays so, with its search, and its views are not
      // mounted anew (the same elements); the timeline scrolls on with the newest time.
      await page.selectOption('#ops-group', 'layer');
      await page.fill('#ops-search', 'layers');
      const marked = await page.evaluate(() => { (document.getElementById('ops-table') as any).__mark = 1; (document.querySelector('#timeline canvas') as any).__mark = 1; return true; });
      expect(marked).toBe(true);
      const v0 = await viewOf();
      const g0 = await live();
      await page.waitForFunction((n) => (window as any).__mlxLive.applied >= n + 2, g0.applied, { timeout: 120_000 });
      const kept = await page.evaluate(() => ({
        group: (document.getElementById('ops-group') as HTMLSelectElement).value,
        search: (document.getElementById('ops-search') as HTMLInputElement).value,
        same: (document.getElementById('ops-table') as any).__mark === 1 && (document.querySelector('#timeline canvas') as any).__mark === 1,
        labels: Array.from(document.querySelectorAll('#ops-table tbody td.name .label'), (e) => e.textContent),
        status: document.getElementById('ops-status')!.textContent,
      }));
      expect(kept).toMatchObject({ group: 'layer', search: 'layers', same: true });
      expect(kept.labels.length).toBeGreaterThan(0);
      for (const l of kept.labels) expect(l).toMatch(/layers/);
      expect(kept.status).toMatch(/each layer's row/);
      const v1 = await viewOf();
      expect(v1.end).toBeGreaterThan(v0.end);
      await page.fill('#ops-search', '');
      await page.selectOption('#ops-group', 'op');

      // Paused, new batches arrive but the views stay; on resume the newest is shown.
      await page.click('#live-pause');
      const p0 = await live();
      const pv = await viewOf();
      await page.waitForFunction((n) => (window as any).__mlxLive.batches >= n + 2, p0.batches, { timeout: 120_000 });
      const p1 = await live();
      expect(p1.state).toBe('paused');
      expect(p1.applied).toBe(p0.applied);
      expect(await viewOf()).toEqual(pv);
      await page.click('#live-pause');
      expect((await live()).applied).toBeGreaterThan(p1.applied);

      // A reload connects again and gets a window at once.
      await page.reload();
      await page.waitForFunction(() => (window as any).__mlxLive.applied >= 1 && (window as any).__mlxLive.state === 'live', null, { timeout: 120_000 });

      // The app ends: the page says so and keeps what it shows.
      const before = await live();
      app.stop();
      await page.waitForFunction(() => (window as any).__mlxLive.state === 'ended', null, { timeout: 60_000 });
      expect(await app.exited).toBe(0);
      await page.waitForTimeout(1500);
      const after = await live();
      expect(after.spans).toBeGreaterThan(0);
      expect(after.applied).toBeGreaterThanOrEqual(before.applied);
      expect(await page.locator('#live-status').textContent()).toMatch(/^ended/);
      expect(await page.evaluate(() => document.querySelectorAll('#ops-table tbody tr').length)).toBeGreaterThan(3);
      await page.screenshot({ path: join(SHOTS, 'live-ended.png') });
      expect(outside).toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
      app.stop();
      app.proc.kill('SIGKILL');
    }
  }, 400_000);
});

describe('an app that never takes its trace', () => {
  it('records only what the live window needs: past the recorder\'s maxSpans nothing is dropped and the windows keep moving', async () => {
    // A low maxSpans stands for the default's two million: unbounded, the recorder would be full after it.
    const maxSpans = 20_000;
    const app = await startApp(work, ['app.js'], { MAX_SECS: '200', LIVE_CONFIG: JSON.stringify({ maxSpans }), LIVE_API: JSON.stringify({ port: 0, refreshMs: 250, windowSeconds: 2 }) }, /live-api (\S+)/);
    const stats = async () => JSON.parse((await fetchText(`${app.url}stats`)).body.toString('utf8'));
    try {
      expect((await fetchText(app.url)).body.toString('utf8')).toContain('the app set no bound, so recording keeps the last 2 s or 20,000 spans');
      let s: any = null;
      for (let i = 0; i < 150 && !(s?.receivedSpans > 5 * maxSpans); i++) {
        await new Promise((r) => setTimeout(r, 1000));
        s = await stats();
      }
      expect(s.receivedSpans).toBeGreaterThan(5 * maxSpans);
      expect(s.recorderDropped).toBe(0);
      // Still moving: newer spans arrive and the window holds them.
      await new Promise((r) => setTimeout(r, 1500));
      const later = await stats();
      expect(later.receivedSpans).toBeGreaterThan(s.receivedSpans);
      expect(later.latest).toBeGreaterThan(s.latest);
      expect(later.recorderDropped).toBe(0);
      const w = await readEvents(`${app.url}events`, (ev) => ev.some((e) => e.event === 'batch'));
      expect(JSON.parse(w.events.find((e) => e.event === 'batch')!.data).n).toBeGreaterThan(0);
      app.stop();
      expect(await app.exited).toBe(0);
    } finally {
      app.stop();
      app.proc.kill('SIGKILL');
    }
  }, 300_000);
});

describe('a stalled client', () => {
  it('costs the app a bounded queue: its windows are skipped and counted, the app decodes on', async () => {
    const queue = 256 * 1024;
    const app = await startApp(work, ['app.js'], { MAX_SECS: '150', LIVE_API: JSON.stringify({ port: 0, refreshMs: 200, windowSeconds: 4, clientQueueBytes: queue }) }, /live-api (\S+)/);
    const url = new URL(app.url);
    // A client that asks for the stream and never reads a byte.
    const stalled = connect({ host: '127.0.0.1', port: Number(url.port) });
    stalled.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1:${url.port}\r\n\r\n`);
    stalled.pause();
    // The server's end resets a connection with unread data: expected here.
    stalled.on('error', () => {});
    try {
      let stats: any = null;
      for (let i = 0; i < 120; i++) {
        await new Promise((r) => setTimeout(r, 1000));
        stats = JSON.parse((await fetchText(`${app.url}stats`)).body.toString('utf8'));
        if (stats.clients.length === 1 && stats.clients[0].skipped >= 3) break;
      }
      const c = stats.clients[0];
      expect(c.skipped).toBeGreaterThanOrEqual(3);
      // The server's thread says what share of a core it took.
      expect(stats.cpuShare).toBeGreaterThan(0);
      expect(stats.cpuShare).toBeLessThan(1);
      // It runs at a lower priority than the app's threads, which keep the one the app inherited from
      // this process (nice read from /proc, field 19).
      const base = getPriority();
      expect(stats.threadNice).toBe(Math.max(base, 10));
      const niceOf = (tid: string) => {
        const st = readFileSync(`/proc/${app.proc.pid}/task/${tid}/stat`, 'utf8');
        return Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[16]);
      };
      expect(niceOf(String(app.proc.pid))).toBe(base);
      if (base < 10) expect(readdirSync(`/proc/${app.proc.pid}/task`).map(niceOf).filter((n) => n === 10)).toHaveLength(1);
      // What waits for it: at most the cap plus the one message written when it was under (generous: 4 windows of 4 MB).
      expect(c.queuedBytes).toBeLessThanOrEqual(queue + 16 * 2 ** 20);
      app.stop();
      expect(await app.exited).toBe(0);
      const done = JSON.parse(/app-done (\{.*\})/.exec(app.stderr())![1]);
      expect(done.tokens).toBeGreaterThan(0);
    } finally {
      stalled.destroy();
      app.stop();
      app.proc.kill('SIGKILL');
    }
  }, 300_000);
});
