/**
 * The live view end to end: real apps running the decode loop (src/demo/llama.ts TINY_LLAMA) under
 * `mlx-trace run --live`, the preload's MLX_TRACE_LIVE and inst.serveLive(); plain HTTP clients of
 * /events (as curl -N), the address it binds, the token with --host, the saves; and the page in a
 * real headless Chromium: spans arriving, pause, reload, the app's exit, and a stalled client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { get, request } from 'node:http';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { baseEnv, buildCli, ROOT } from '../helpers/cli';
import { loadTrace } from '../../src/core/io/persist';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];
const SHOTS = resolve('test-output/screenshots');

let dist: string;
let work: string;

/** The app: the pipelined decode loop until STOP exists (or MAX_SECS), then a line with tokens and RSS. */
const APP = (distDir: string) => `
const { existsSync } = require('node:fs');
const mlx = require('@frost-beta/mlx');
const { createLlama, generate, TINY_LLAMA } = require(${JSON.stringify(join(distDir, 'demo.js'))});
if (process.env.LIVE_API) {
  const sdk = require(${JSON.stringify(join(distDir, 'index.js'))});
  // The app runs for minutes and never takes its trace: serveLive bounds the recording to what the page needs.
  const live = sdk.registerMlxInstrumentation(JSON.parse(process.env.LIVE_CONFIG || '{}')).serveLive(JSON.parse(process.env.LIVE_API));
  process.stderr.write('live-api ' + live.url + '\\n');
}
const model = createLlama(mlx, TINY_LLAMA);
const t0 = Date.now();
const rss0 = process.memoryUsage().rss;
let tokens = 0;
const max = Number(process.env.MAX_SECS || 60) * 1000;
while (!(process.env.STOP && existsSync(process.env.STOP)) && Date.now() - t0 < max) {
  generate(mlx, model, { prompt: [1, 2, 3], tokens: 24 });
  tokens += 24;
}
process.stderr.write('app-done ' + JSON.stringify({ tokens, secs: (Date.now() - t0) / 1000, rss0, rss: process.memoryUsage().rss }) + '\\n');
`;

interface App {
  proc: ChildProcess;
  url: string;
  stderr(): string;
  exited: Promise<number>;
  stop(): void;
}

/**
 * Starts `node args` and waits for the live URL on its stderr: on a whole line (a pipe may hand over
 * 'http://127.0.0.1:4' before the rest of the port), and then for the server to answer.
 */
function startApp(args: string[], env: Record<string, string>, urlLine: RegExp): Promise<App> {
  const stop = join(work, `stop-${Math.random().toString(36).slice(2)}`);
  const proc = spawn(process.execPath, args, { cwd: work, env: baseEnv({ ...env, STOP: stop }), stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stdout!.resume();
  const exited = new Promise<number>((r) => proc.on('close', (c) => r(c ?? 1)));
  return new Promise((res, rej) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); rej(new Error(`no live URL in 90 s; stderr:\n${err}`)); }, 90_000);
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
      const waiting = !urlLine.exec(err.slice(0, err.lastIndexOf('\n') + 1));
      err += d;
      const m = waiting && urlLine.exec(err.slice(0, err.lastIndexOf('\n') + 1));
      if (m) {
        clearTimeout(timer);
        const app = { proc, url: m[1], stderr: () => err, exited, stop: () => writeFileSync(stop, '') };
        const stats = new URL(m[1]);
        stats.pathname = '/stats';
        fetchText(stats.href).then((r) => (r.status === 200 ? res(app) : rej(new Error(`the live server answered ${r.status} to /stats`))), rej);
      }
    });
    proc.on('close', () => rej(new Error(`the app exited before serving; stderr:\n${err}`)));
  });
}

interface SseEvent { event: string; data: string }

/** A batch's column as numbers (the protocol's WireColumn, read as a client other than the page would). */
function wire(c: { type: string; base: number; delta: boolean; data: string; x: number[] }, n: number): number[] {
  const buf = Buffer.from(c.data, 'base64');
  const read = { u8: 'readUInt8', u16: 'readUInt16LE', u32: 'readUInt32LE', i8: 'readInt8', i16: 'readInt16LE', i32: 'readInt32LE', f64: 'readDoubleLE' }[c.type] as 'readUInt8';
  const size = { u8: 1, u16: 2, u32: 4, i8: 1, i16: 2, i32: 4, f64: 8 }[c.type]!;
  expect(buf.length).toBe(size * n);
  const out = Array.from({ length: n }, (_, i) => buf[read](i * size));
  for (let k = 0; k < c.x.length; k += 2) out[c.x[k]] = c.x[k + 1];
  let acc = c.base;
  return c.delta ? out.map((v) => (acc += v)) : out.map((v) => v + c.base);
}

/** GET a URL as an event stream (as `curl -N`); resolves with the events once `until` says so or the stream ends. */
function readEvents(url: string, until: (events: SseEvent[]) => boolean, timeoutMs = 90_000): Promise<{ events: SseEvent[]; status: number; type: string; ended: boolean }> {
  return new Promise((res, rej) => {
    const events: SseEvent[] = [];
    const req = get(url, (r) => {
      // A window's event is megabytes in many chunks: they are joined once an event is complete,
      // not searched again with each chunk (too slow to keep up on a loaded machine).
      let pending: string[] = [];
      let last = '';
      let done = false;
      const finish = (ended: boolean) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        req.destroy();
        res({ events, status: r.statusCode ?? 0, type: String(r.headers['content-type']), ended });
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      r.setEncoding('utf8');
      r.on('data', (d: string) => {
        const complete = d.includes('\n\n') || (last === '\n' && d.startsWith('\n'));
        pending.push(d);
        last = d.slice(-1) || last;
        if (!complete) return;
        let buf = pending.join('');
        let k;
        while ((k = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, k);
          buf = buf.slice(k + 2);
          const ev = { event: 'message', data: '' };
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) ev.event = line.slice(7);
            else if (line.startsWith('data: ')) ev.data += line.slice(6);
          }
          if (ev.data) events.push(ev);
        }
        pending = buf ? [buf] : [];
        last = buf.slice(-1);
        if (until(events)) finish(false);
      });
      r.on('end', () => finish(true));
      r.on('error', () => finish(true));
    });
    req.on('error', rej);
  });
}

function fetchText(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer; headers: Record<string, unknown> }> {
  return new Promise((res, rej) => {
    const req = request(url, { headers }, (r) => {
      const parts: Buffer[] = [];
      r.on('data', (d: Buffer) => parts.push(d));
      r.on('end', () => res({ status: r.statusCode ?? 0, body: Buffer.concat(parts), headers: r.headers }));
    });
    req.on('error', rej);
    req.end();
  });
}

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
    const app = await startApp([join(dist, 'cli.js'), 'run', '--live', '--no-report', '--out', out, 'app.js'], {}, /live view at (\S+)/);
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
      expect(dash.body.toString('utf8')).toMatch(/^<!doctype html>[\s\S]*id="mlx-trace-head"/);

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
    const app = await startApp(['--require', join(dist, 'register.js'), 'app.js'], { MLX_TRACE_LIVE: '0', MLX_TRACE_LIVE_HOST: '0.0.0.0', MLX_TRACE_QUIET: '1', MLX_TRACE_OUT: join(work, 'tok') }, /live view at (\S+)/);
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
    const app = await startApp(['app.js'], { MAX_SECS: '400', LIVE_API: JSON.stringify({ port: 0, refreshMs: 500, windowSeconds: 4 }) }, /live-api (\S+)/);
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
    const app = await startApp(['app.js'], { MAX_SECS: '200', LIVE_CONFIG: JSON.stringify({ maxSpans }), LIVE_API: JSON.stringify({ port: 0, refreshMs: 250, windowSeconds: 2 }) }, /live-api (\S+)/);
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
    const app = await startApp(['app.js'], { MAX_SECS: '150', LIVE_API: JSON.stringify({ port: 0, refreshMs: 200, windowSeconds: 4, clientQueueBytes: queue }) }, /live-api (\S+)/);
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
