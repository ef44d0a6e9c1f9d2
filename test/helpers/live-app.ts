/**
 * The live tests' app and clients: the decode loop (src/demo/llama.ts TINY_LLAMA) as a script, started as a real
 * process that serves the live view; a plain HTTP reader of /events (as curl -N), GET, and a batch's columns as numbers.
 */
import { expect } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { get, request } from 'node:http';
import { join } from 'node:path';
import { baseEnv } from './cli';

/** The app: the pipelined decode loop until STOP exists (or MAX_SECS), idle while PAUSE exists, then a line with tokens and RSS. */
export const APP = (distDir: string) => `
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
const idle = new Int32Array(new SharedArrayBuffer(4));
while (!(process.env.STOP && existsSync(process.env.STOP)) && Date.now() - t0 < max) {
  if (process.env.PAUSE && existsSync(process.env.PAUSE)) {
    Atomics.wait(idle, 0, 0, 50);
    continue;
  }
  generate(mlx, model, { prompt: [1, 2, 3], tokens: 24 });
  tokens += 24;
}
process.stderr.write('app-done ' + JSON.stringify({ tokens, secs: (Date.now() - t0) / 1000, rss0, rss: process.memoryUsage().rss }) + '\\n');
`;

export interface LiveApp {
  proc: ChildProcess;
  url: string;
  stderr(): string;
  exited: Promise<number>;
  stop(): void;
  /** Makes the app idle (no MLX work, nothing recorded) until called with false. */
  pause(on: boolean): void;
}

/**
 * Starts `node args` and waits for the live URL on its stderr: on a whole line (a pipe may hand over
 * 'http://127.0.0.1:4' before the rest of the port), and then for the server to answer.
 */
export function startApp(work: string, args: string[], env: Record<string, string>, urlLine: RegExp): Promise<LiveApp> {
  const tag = Math.random().toString(36).slice(2);
  const stop = join(work, `stop-${tag}`), pause = join(work, `pause-${tag}`);
  const proc = spawn(process.execPath, args, { cwd: work, env: baseEnv({ ...env, STOP: stop, PAUSE: pause }), stdio: ['ignore', 'pipe', 'pipe'] });
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
        const app: LiveApp = { proc, url: m[1], stderr: () => err, exited, stop: () => writeFileSync(stop, ''),
          pause: (on) => (on ? writeFileSync(pause, '') : rmSync(pause, { force: true })) };
        const stats = new URL(m[1]);
        stats.pathname = '/stats';
        fetchText(stats.href).then((r) => (r.status === 200 ? res(app) : rej(new Error(`the live server answered ${r.status} to /stats`))), rej);
      }
    });
    proc.on('close', () => rej(new Error(`the app exited before serving; stderr:\n${err}`)));
  });
}

export interface SseEvent { event: string; data: string }

/** A batch's column as numbers (the protocol's WireColumn, read as a client other than the page would). */
export function wire(c: { type: string; base: number; delta: boolean; data: string; x: number[] }, n: number): number[] {
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
export function readEvents(url: string, until: (events: SseEvent[]) => boolean, timeoutMs = 90_000): Promise<{ events: SseEvent[]; status: number; type: string; ended: boolean }> {
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

export function fetchText(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer; headers: Record<string, unknown> }> {
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

