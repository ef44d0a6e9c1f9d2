/**
 * inst.serveLive(): the live view of a running app. Starts the server's worker thread, waits until
 * it listens (so the URL can be printed before the app's first synchronous loop), and hooks the
 * recorder's drains to feed it. At process exit the page gets the last window and an 'ended' event.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { hostInfo, type Recorder } from '../../core/record/recorder';
import type { FlightRecorderOptions } from './flight';
import { DEFAULT_CONFIG } from './span-runtime';
import type { MlxInstrumentationConfig } from './types';
import { LiveFeed } from '../../exporters/live/feed';
import {
  ACK_ENDED, ACK_READY, ACK_SLOTS, LIVE_DEFAULTS, type FromWorker, type LiveOptions, type ResolvedLiveOptions, type SessionInfo,
} from '../../exporters/live/protocol';

export type { LiveOptions } from '../../exporters/live/protocol';

export interface LiveHandle {
  /** The page's address (with ?token=… when the server listens beyond 127.0.0.1). */
  url: string;
  /** Stops feeding and closes the server. */
  close(): Promise<void>;
}

/**
 * How long the app's thread waits for the worker to listen, and at exit for the page to get the end.
 * The end waits behind the worker's refresh in progress, which on a loaded machine takes seconds;
 * a client whose queue stops moving cannot stretch it (the server cuts it after two seconds).
 */
const START_WAIT_MS = 15_000;
const END_WAIT_MS = 10_000;

export function startLive(rec: Recorder, session: Omit<SessionInfo, 'origin' | 'originHrNs' | 'host' | 'jsThread'>, options: LiveOptions = {}): LiveHandle {
  const opts = resolve(options);
  const token = opts.host === LIVE_DEFAULTS.host ? '' : randomBytes(16).toString('hex');
  const acksBuf = new SharedArrayBuffer(ACK_SLOTS * 4);
  const acks = new Int32Array(acksBuf);
  const origin = rec.now();
  const full: SessionInfo = {
    ...session, origin: { monotonicNs: origin, epochNs: rec.toEpochNs(origin).toString() }, originHrNs: Number(process.hrtime.bigint()),
    host: hostInfo(), jsThread: rec.jsThread,
  };
  const worker = startWorker();
  const { port1, port2 } = new MessageChannel();
  worker.postMessage({ type: 'start', options: opts, session: full, token, acks: acksBuf, reply: port2 }, [port2]);
  Atomics.wait(acks, ACK_READY, 0, START_WAIT_MS);
  const first = receiveMessageOnPort(port1)?.message as FromWorker | undefined;
  if (!first || first.type !== 'listening') {
    void worker.terminate();
    port1.close();
    const why = first?.type === 'error' ? first.message : 'the server did not start in time';
    throw new Error(`mlx-trace live: cannot serve on ${opts.host}:${opts.port}: ${why}`);
  }
  worker.unref();
  port1.unref();
  const feed = new LiveFeed(rec, worker, acksBuf);
  let closed = false;
  const onExit = () => {
    if (closed) return;
    closed = true;
    feed.stop();
    worker.postMessage({ type: 'end' });
    Atomics.wait(acks, ACK_ENDED, 0, END_WAIT_MS);
  };
  process.on('exit', onExit);
  return {
    url: first.url,
    close: async () => {
      process.off('exit', onExit);
      if (closed) return;
      closed = true;
      feed.stop();
      await new Promise<void>((res) => {
        const t = setTimeout(res, 2000);
        worker.on('message', (m: FromWorker) => { if (m.type === 'closed') { clearTimeout(t); res(); } });
        worker.postMessage({ type: 'close' });
      });
      port1.close();
      await worker.terminate();
    },
  };
}

/**
 * What the recorder keeps while the page is open, when the app chose nothing (no flight recorder,
 * stream or schedule): a flight recorder of the page's window, at most maxSpans spans. Unbounded,
 * an app that never takes its trace fills the recorder, which then drops every new span, and the
 * page would go empty. Null when the app's own choice bounds the recording.
 */
export function liveRecordingBound(cfg: MlxInstrumentationConfig, options: LiveOptions): FlightRecorderOptions | null {
  if (cfg.flightRecorder || cfg.stream || cfg.schedule) return null;
  return { seconds: resolve(options).windowSeconds, spans: cfg.maxSpans ?? DEFAULT_CONFIG.maxSpans! };
}

/** One line for the page: what the app's recording keeps. */
export function describeRecording(cfg: MlxInstrumentationConfig, bound: FlightRecorderOptions | null): string {
  const flight = bound ?? cfg.flightRecorder;
  if (flight) {
    const what = [flight.seconds ? `${flight.seconds} s` : '', flight.spans ? `${flight.spans.toLocaleString('en-US')} spans` : ''].filter(Boolean).join(' or ');
    return `${bound ? 'the app set no bound, so recording' : 'the app'} keeps the last ${what} (flight recorder: inst.dump(path) writes them)`;
  }
  if (cfg.stream) return `recording streams to ${cfg.stream.path}`;
  if (cfg.schedule) return 'the app\'s schedule chooses what is recorded';
  return '';
}

function resolve(o: LiveOptions): ResolvedLiveOptions {
  const r: ResolvedLiveOptions = { ...LIVE_DEFAULTS };
  const num = (k: keyof LiveOptions, min: number, max: number) => {
    const v = o[k];
    if (v === undefined) return;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw new TypeError(`serveLive: ${k} must be a number from ${min} to ${max}, got ${JSON.stringify(v)}`);
    (r as Record<string, unknown>)[k] = v;
  };
  num('port', 0, 65535);
  num('windowSeconds', 1, 3600);
  num('refreshMs', 50, 60_000);
  num('clientQueueBytes', 64 * 1024, 2 ** 31);
  num('maxSpans', 1000, 1e8);
  num('adviceMs', 100, 3_600_000);
  num('pagePrimitives', 1000, 10_000_000);
  if (o.host !== undefined) {
    if (typeof o.host !== 'string' || o.host === '') throw new TypeError(`serveLive: host must be an address such as 127.0.0.1 or 0.0.0.0, got ${JSON.stringify(o.host)}`);
    r.host = o.host;
  }
  return r;
}

/**
 * The worker's script: dist/live-worker.js beside this bundle; from the sources (tests), the worker's
 * TypeScript bundled on the spot with esbuild (a development dependency).
 */
function startWorker(): Worker {
  const built = join(__dirname, 'live-worker.js');
  // No execArgv: the app's --require/--import mlx-trace/register would otherwise load (and start a server) in the worker too.
  if (existsSync(built)) return new Worker(built, { execArgv: [] });
  const source = join(__dirname, '../../exporters/live/worker.ts');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const esbuild = require('esbuild') as typeof import('esbuild');
  const out = esbuild.buildSync({ entryPoints: [source], bundle: true, platform: 'node', format: 'cjs', target: 'node20', write: false, external: ['@frost-beta/mlx'] });
  return new Worker(out.outputFiles[0].text, { eval: true, execArgv: [] });
}

/**
 * The preload's live view: MLX_TRACE_LIVE=PORT (0 picks a free port), MLX_TRACE_LIVE_HOST for another
 * address. Prints the URL on stderr; a bad value or a busy port is one line, and the app runs on.
 */
export function liveFromEnv(inst: { serveLive(o: LiveOptions): LiveHandle }, env: NodeJS.ProcessEnv): LiveHandle | null {
  const raw = env.MLX_TRACE_LIVE;
  if (raw === undefined || raw === '') return null;
  const port = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || port > 65535) {
    process.stderr.write(`mlx-trace: MLX_TRACE_LIVE must be a port number (0 picks a free one), got ${JSON.stringify(raw)}; no live view\n`);
    return null;
  }
  try {
    const live = inst.serveLive({ port, ...(env.MLX_TRACE_LIVE_HOST ? { host: env.MLX_TRACE_LIVE_HOST } : {}) });
    process.stderr.write(`mlx-trace: live view at ${live.url}\n`);
    return live;
  } catch (e) {
    process.stderr.write(`mlx-trace: no live view: ${(e as Error).message}\n`);
    return null;
  }
}
