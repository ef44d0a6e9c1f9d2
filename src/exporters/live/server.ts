/**
 * The live view's HTTP server (in the worker thread): the page at GET /, Server-Sent Events at
 * GET /events, the window saved at GET /save.mlxtrace and GET /save.html, counters at GET /stats.
 *
 * Every refresh each client gets one 'batch' event: the spans that arrived since its previous batch,
 * in the session's tables (./batch.ts), which its page appends to the model its views read; a page
 * that connects, or comes back, first gets the whole window as one batch. The same batch text goes to
 * every client that is at the same point. A client with more than clientQueueBytes waiting (slow,
 * stalled, or a closed laptop) skips refreshes, counted and shown on its page, and catches up with
 * one batch once it reads again, so a client never holds more than that.
 *
 * Security: 127.0.0.1 by default, and then only requests whose Host names the loopback (a page
 * elsewhere cannot reach it by DNS rebinding); any other address needs the random token in every URL.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { performance as nodePerformance } from 'node:perf_hooks';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { advise } from '../../core/analysis/advisor';
import { saveTrace } from '../../core/io/persist';
import type { Trace } from '../../core/model/trace';
import { formatDuration } from '../../core/model/units';
import { renderHtml } from '../html';
import { packAdvice, packHeadMeta } from '../html/pack/meta';
import { KIND_CODES } from '../html/format';
import { OP_CATEGORIES, OP_CATEGORY_LABELS } from '../../core/model/categories';
import { LiveTables, makeBatch, NO_TABLES, type TableCursor } from './batch';
import { windowPrimitives, type WindowPrimitives } from './groups';
import { livePage } from './page';
import type { BatchMessage, RateSeries, ResolvedLiveOptions, WindowStats } from './protocol';
import type { LiveStore } from './store';

interface Client {
  res: ServerResponse;
  skipped: number;
  sent: number;
  since: number;
  /** The newest chunk its page has (-1: none yet, the next batch is a reset), the tables it has, the findings it has. */
  upTo: number;
  tables: TableCursor;
  advice: number;
  /** Its page has every primitive that ended since this time (only moves on: a page never has a gap in them). */
  cut: number;
}

/** The stretch of the window the advisor reads: the last seconds, and at most so many spans. */
const ADVICE_SPAN_NS = 2e9;
const ADVICE_MAX_SPANS = 20_000;

/**
 * A batch as JSON text in parts: the base64 of its columns are parts as they are (base64 needs no escaping),
 * so they are neither scanned by JSON.stringify nor copied into one string.
 */
function batchJson(msg: BatchMessage): string[] {
  const { cols, mem, ...rest } = msg;
  const parts = [JSON.stringify(rest).slice(0, -1)];
  for (const [name, o] of [['cols', cols], ['mem', mem]] as const) {
    let sep = `,"${name}":{`;
    for (const [k, { data, ...c }] of Object.entries(o)) {
      parts.push(`${sep}"${k}":${JSON.stringify(c).slice(0, -1)},"data":"`, data, '"}');
      sep = ',';
    }
    parts.push('}');
  }
  parts.push('}');
  return parts;
}

/** The calling thread's CPU time in ns (Linux), or null. */
function threadCpuNs(): number | null {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);
  } catch {
    return null;
  }
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

export class LiveServer {
  private server: Server;
  private clients = new Set<Client>();
  private page: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private tables = new LiveTables();
  private lastStats: WindowStats | null = null;
  private lastRates: RateSeries | null = null;
  private advice: BatchMessage['advice'] = { findings: [], ids: [] };
  private findings: ReturnType<typeof advise> = [];
  /** Bumped when the findings change; a client that has an older one gets them with its next batch. */
  private adviceVersion = 0;
  private lastAdvice = 0;
  private ended = false;
  /** Batches made, and the ms the parts of the last refresh took (for /stats). */
  private batches = 0;
  /** Batch events written to clients, and their bytes. */
  private sent = { batches: 0, bytes: 0 };
  /** This thread's event-loop use since the server started: the share of a core the live view takes beside the app. */
  private readonly elu0 = nodePerformance.eventLoopUtilization();
  /** This thread's CPU time (ns, null where the system does not say) and the wall clock when the server started. */
  private readonly cpu0 = threadCpuNs();
  private readonly wall0 = performance.now();
  private refreshMs = { batch: 0, advise: 0 };
  /** The window's primitives for the pages (groups.ts), made once per arrival. */
  private prims: { seq: number; from: number; value: WindowPrimitives } | null = null;

  constructor(
    private readonly store: LiveStore,
    private readonly opts: ResolvedLiveOptions,
    private readonly token: string,
    /** The server thread's nice value when lowered (thread-priority.ts), null when unchanged; /stats says it. */
    private readonly threadNice: number | null = null,
  ) {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  listen(): Promise<string> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.host, () => {
        const a = this.server.address();
        const port = a && typeof a === 'object' ? a.port : this.opts.port;
        const host = this.opts.host.includes(':') ? `[${this.opts.host}]` : this.opts.host;
        this.schedule(this.opts.refreshMs);
        resolve(`http://${host}:${port}/${this.token ? `?token=${this.token}` : ''}`);
      });
    });
  }

  private allowed(req: IncomingMessage, url: URL): boolean {
    if (this.token) return url.searchParams.get('token') === this.token;
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    return LOOPBACK.has(host);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://live');
    if (!this.allowed(req, url)) {
      res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' }).end(this.token ? 'mlx-trace live: this URL needs the token the app printed (?token=…)\n' : 'mlx-trace live: only for this machine (Host must be 127.0.0.1 or localhost)\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    try {
      switch (url.pathname) {
        case '/': return this.sendPage(res);
        case '/events': return this.openEvents(req, res);
        case '/save.mlxtrace': return this.save(res, 'mlxtrace');
        case '/save.html': return this.save(res, 'html');
        case '/stats': return this.sendStats(res);
        default: res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
      }
    } catch (e) {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`mlx-trace live: ${(e as Error).message}\n`);
    }
  }

  private sendPage(res: ServerResponse): void {
    this.page ??= livePage({ name: this.store.session.name, windowSeconds: this.opts.windowSeconds, maxSpans: this.opts.maxSpans, refreshMs: this.opts.refreshMs, recording: this.store.session.recording });
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' }).end(this.page);
  }

  private openEvents(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.flushHeaders();
    const c: Client = { res, skipped: 0, sent: 0, since: Date.now(), upTo: -1, tables: NO_TABLES, advice: -1, cut: -Infinity };
    res.write(`retry: 1000\nevent: hello\ndata: ${JSON.stringify({ name: this.store.session.name, windowSeconds: this.opts.windowSeconds, ended: this.ended })}\n\n`);
    // A page that comes (back) gets the window at once, not a refresh later.
    this.send([c], false);
    if (this.ended) {
      res.end('event: end\ndata: {}\n\n');
      return;
    }
    this.clients.add(c);
    req.on('close', () => this.clients.delete(c));
  }

  /**
   * Sends each client what it has not seen: one batch (made once for the clients at the same point)
   * or, when nothing is new, the counters. A client with its fill waiting skips this refresh, counted.
   */
  private send(clients: Iterable<Client>, refresh = true): void {
    const t0 = performance.now();
    const texts = new Map<string, string[]>();
    const seq = this.store.seq;
    for (const c of clients) {
      const queued = c.res.writableLength;
      if (queued > this.opts.clientQueueBytes) {
        c.skipped++;
        // Counters are small and still go, unless the client holds twice its fill.
        if (queued <= 2 * this.opts.clientQueueBytes) c.res.write(this.statsEvent(c));
        continue;
      }
      if (c.upTo === seq && c.advice === this.adviceVersion) {
        c.res.write(this.statsEvent(c));
        continue;
      }
      const prims = this.windowPrimitives();
      c.cut = c.upTo < 0 ? prims.cut : Math.max(c.cut, prims.cut);
      const key = `${c.upTo}|${c.tables.strings},${c.tables.sigs},${c.tables.lanes},${c.tables.layers}|${c.advice === this.adviceVersion}|${c.cut}`;
      let text = texts.get(key);
      if (text === undefined) texts.set(key, (text = this.batchEvent(c, prims)));
      c.res.cork();
      for (const part of text) {
        c.res.write(part);
        this.sent.bytes += Buffer.byteLength(part);
      }
      c.res.uncork();
      this.sent.batches++;
      c.res.write(this.statsEvent(c));
      c.upTo = seq;
      c.tables = this.tables.cursor();
      c.advice = this.adviceVersion;
      c.sent++;
    }
    // What a refresh costs sets the next one's delay; a page's first batch is not a refresh.
    if (refresh && texts.size > 0) this.refreshMs.batch = performance.now() - t0;
  }

  /** The window's primitives: how many, their sums, and the cut time of the newest pagePrimitives. */
  private windowPrimitives(): WindowPrimitives {
    const { seq, from } = this.store;
    if (this.prims?.seq !== seq || this.prims.from !== from) this.prims = { seq, from, value: windowPrimitives(this.store, this.tables, this.opts.pagePrimitives) };
    return this.prims.value;
  }

  /** A batch event's text, in parts written one after the other (the columns are large: they are not joined into one string). */
  private batchEvent(c: Client, prims: WindowPrimitives): string[] {
    const reset = c.upTo < 0;
    const part = makeBatch(this.store, this.tables, c.upTo, c.tables, reset, c.cut);
    this.lastRates ??= this.store.rates();
    this.lastStats ??= this.store.stats(this.store.windowSpans());
    const msg: BatchMessage = {
      ...part,
      session: reset ? this.sessionHead() : null,
      rates: this.lastRates,
      stats: this.lastStats,
      advice: c.advice === this.adviceVersion ? null : this.advice,
      dropped: this.lastStats.recorderDropped + this.lastStats.feedDropped,
      cut: c.cut,
      primitives: prims.count,
      groups: prims.groups,
      busy: prims.busy,
    };
    this.batches++;
    return ['event: batch\ndata: ', ...batchJson(msg), '\n\n'];
  }

  private statsEvent(c: Client): string {
    return `event: stats\ndata: ${JSON.stringify({ ...(this.lastStats ?? this.store.stats(this.store.windowSpans())), skipped: c.skipped, clients: this.clients.size })}\n\n`;
  }

  /** The head's fixed parts, as the dashboard's packer writes them. */
  private sessionHead(): NonNullable<BatchMessage['session']> {
    return {
      name: this.store.session.name,
      meta: packHeadMeta(this.store.sessionMeta(), false),
      kinds: KIND_CODES,
      categories: OP_CATEGORIES.map((id) => ({ id, label: OP_CATEGORY_LABELS[id] })),
    };
  }

  /**
   * The next refresh: refreshMs after this one, or three times what the last one cost when that is
   * longer, so the server's thread is busy at most a third of the time.
   */
  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      this.tick();
      if (!this.ended) this.schedule(Math.max(this.opts.refreshMs, 3 * this.refreshMs.batch));
    }, ms);
  }

  private tick(): void {
    if (this.clients.size === 0) return;
    this.lastRates = this.store.rates();
    this.lastStats = null;
    this.adviseNow();
    this.send(this.clients);
  }

  /**
   * The advisor over the last ADVICE_SPAN_NS (its findings are about what the app does now), every
   * adviceMs, and at most a tenth of the server's time: it reads every span of that stretch.
   */
  private adviseNow(): void {
    const now = Date.now();
    if (now - this.lastAdvice < Math.max(this.opts.adviceMs, 10 * this.refreshMs.advise)) return;
    this.lastAdvice = now;
    const t0 = performance.now();
    let findings: ReturnType<typeof advise> = [];
    try {
      findings = advise(this.store.window(this.store.session.name, {}, Math.min(ADVICE_SPAN_NS, this.store.recentNs(ADVICE_MAX_SPANS))).trace);
    } catch {
      findings = [];
    }
    this.findings = findings;
    const packed = packAdvice(findings);
    if (JSON.stringify(packed) !== JSON.stringify(this.advice)) {
      this.advice = packed;
      this.adviceVersion++;
    }
    this.refreshMs.advise = performance.now() - t0;
  }

  /** The window as a trace (for the saves), with the advisor's latest findings. */
  windowTrace(): { trace: Trace; rates: RateSeries } {
    const w = this.store.window(this.store.session.name);
    w.trace.meta.advice = this.findings;
    return w;
  }

  private save(res: ServerResponse, kind: 'mlxtrace' | 'html'): void {
    const { trace } = this.windowTrace();
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const base = `${this.store.session.name.replace(/[^\w.-]+/g, '_')}-live-${stamp}`;
    let body: Buffer;
    if (kind === 'html') {
      // The window's real length: the span cap can make it shorter than windowSeconds.
      let lo = Infinity, hi = -Infinity;
      for (const s of trace.spans) {
        if (s.start < lo) lo = s.start;
        if (s.end > hi) hi = s.end;
      }
      const last = hi > lo ? `last ${formatDuration(hi - lo)}` : 'empty';
      body = Buffer.from(renderHtml(trace, { title: `${this.store.session.name} (live, ${last})` }), 'utf8');
    } else {
      const dir = mkdtempSync(join(tmpdir(), 'mlx-live-'));
      try {
        const file = join(dir, 'window.mlxtrace');
        saveTrace(trace, file);
        body = readFileSync(file);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    res.writeHead(200, {
      'content-type': kind === 'html' ? 'text/html; charset=utf-8' : 'application/octet-stream',
      'content-disposition': `attachment; filename="${base}.${kind}"`,
      'content-length': body.length,
      'cache-control': 'no-store',
    }).end(body);
  }

  private sendStats(res: ServerResponse): void {
    const clients = [...this.clients].map((c) => ({ queuedBytes: c.res.writableLength, skipped: c.skipped, sent: c.sent, connectedMs: Date.now() - c.since }));
    const busy = +nodePerformance.eventLoopUtilization(this.elu0).utilization.toFixed(4);
    // The event loop's use counts time the thread waited for a core; its CPU time is what it took from the app.
    const cpu = threadCpuNs();
    const cpuShare = cpu === null || this.cpu0 === null ? null : +((cpu - this.cpu0) / 1e6 / (performance.now() - this.wall0)).toFixed(4);
    const body = { ...this.store.stats(this.store.windowSpans()), batches: this.batches, sent: this.sent, refreshMs: this.refreshMs, busy, cpuShare, threadNice: this.threadNice, clientQueueBytes: this.opts.clientQueueBytes, ended: this.ended, clients };
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
  }

  /**
   * The app ended: a client that has read everything gets what arrived since its last batch; every
   * client gets an end event behind what it was sent. One still reading gets all of it however long
   * that takes; one whose queue has not moved for stallMs is cut, so a stalled page never holds the
   * app's exit (the app's own wait bounds the whole).
   */
  end(stallMs = 2000): Promise<void> {
    this.ended = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.lastRates = this.store.rates();
    this.lastStats = null;
    // A client still behind would get the last batch seconds later, and the end behind it.
    const behind = [...this.clients].filter((c) => c.res.writableLength > 0);
    for (const c of behind) c.skipped++;
    this.send([...this.clients].filter((c) => !behind.includes(c)));
    const waits = [...this.clients].map((c) => this.endClient(c, stallMs));
    this.clients.clear();
    return Promise.all(waits).then(() => undefined);
  }

  private endClient(c: Client, stallMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let queued = Infinity;
      let still = 0;
      const watch = setInterval(() => {
        const now = c.res.writableLength;
        still = now < queued ? 0 : still + 100;
        queued = now;
        if (still >= stallMs) finish(true);
      }, 100);
      const finish = (cut: boolean) => {
        clearInterval(watch);
        if (cut) c.res.destroy();
        resolve();
      };
      c.res.end('event: end\ndata: {}\n\n', () => finish(false));
      c.res.once('close', () => finish(false));
    });
  }

  close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    for (const c of this.clients) c.res.end();
    this.clients.clear();
    this.server.closeAllConnections?.();
    return new Promise((r) => this.server.close(() => r()));
  }
}
