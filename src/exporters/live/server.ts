/**
 * The live view's HTTP server (in the worker thread): the page at GET /, Server-Sent Events at
 * GET /events, the window saved at GET /save.mlxtrace and GET /save.html, counters at GET /stats.
 *
 * Every refresh, while someone is connected, the last N seconds become one Trace, packed by the
 * dashboard's own packer (the page mounts the dashboard's views on it), and that one message goes
 * to every client. A client with more than clientQueueBytes waiting (slow, stalled, or a closed
 * laptop) skips windows, counted and shown on its page, so a client never holds more than that.
 *
 * Security: 127.0.0.1 by default, and then only requests whose Host names the loopback (a page
 * elsewhere cannot reach it by DNS rebinding); any other address needs the random token in every URL.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { advise, type Finding } from '../../core/analysis/advisor';
import { saveTrace } from '../../core/io/persist';
import type { Trace } from '../../core/model/trace';
import { renderHtml } from '../html';
import { packTrace } from '../html/pack';
import { livePage } from './page';
import type { ResolvedLiveOptions } from './protocol';
import type { LiveStore, RateSeries, WindowStats } from './store';

interface Client {
  res: ServerResponse;
  skipped: number;
  sent: number;
  since: number;
}

/** The SSE message of one window: the packed trace (columns as base64), rates and counters. */
export interface WindowMessage {
  head: ReturnType<typeof packTrace>['head'];
  cols: Record<string, string>;
  rates: RateSeries;
  stats: WindowStats;
}

/** The stretch of the window the advisor reads. */
const ADVICE_SPAN_NS = 2e9;

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

export class LiveServer {
  private server: Server;
  private clients = new Set<Client>();
  private page: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastWindow: string | null = null;
  private lastStats: WindowStats | null = null;
  private findings: Finding[] = [];
  private lastAdvice = 0;
  private ended = false;
  /** Windows made, and the ms the parts of the last one took (for /stats). */
  private windows = 0;
  private windowMs = { build: 0, advise: 0, pack: 0, encode: 0 };

  constructor(
    private readonly store: LiveStore,
    private readonly opts: ResolvedLiveOptions,
    private readonly token: string,
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
    this.page ??= livePage({ name: this.store.session.name, windowSeconds: this.opts.windowSeconds, refreshMs: this.opts.refreshMs, recording: this.store.session.recording });
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' }).end(this.page);
  }

  private openEvents(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.flushHeaders();
    const c: Client = { res, skipped: 0, sent: 0, since: Date.now() };
    res.write(`retry: 1000\nevent: hello\ndata: ${JSON.stringify({ name: this.store.session.name, windowSeconds: this.opts.windowSeconds, ended: this.ended })}\n\n`);
    if (this.ended) {
      if (this.lastWindow) res.write(this.lastWindow);
      res.end('event: end\ndata: {}\n\n');
      return;
    }
    this.clients.add(c);
    req.on('close', () => this.clients.delete(c));
    // A page that comes (back) sees the window at once, not a refresh later.
    const w = this.lastWindow && !this.store.dirty ? this.lastWindow : this.makeWindow();
    if (w) this.write(c, w);
  }

  /** Writes unless the client already has its fill waiting; then the message is skipped and counted. */
  private write(c: Client, text: string): void {
    if (c.res.writableLength > this.opts.clientQueueBytes) {
      c.skipped++;
      return;
    }
    c.res.write(text);
    c.sent++;
  }

  /**
   * The next refresh: refreshMs after this one, or three times what the last window cost when that is
   * longer, so the server's thread is busy at most a third of the time however big the window is.
   */
  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      const t0 = performance.now();
      this.tick();
      if (!this.ended) this.schedule(Math.max(this.opts.refreshMs, 3 * (performance.now() - t0)));
    }, ms);
  }

  private tick(): void {
    if (this.clients.size === 0) return;
    const w = this.store.dirty ? this.makeWindow() : null;
    for (const c of this.clients) {
      if (w) this.write(c, w);
      // Counters are small and always go, unless the client holds twice its fill.
      if (c.res.writableLength <= 2 * this.opts.clientQueueBytes) c.res.write(`event: stats\ndata: ${JSON.stringify({ ...this.lastStats, skipped: c.skipped, clients: this.clients.size })}\n\n`);
    }
  }

  /** The window as a trace, with the advisor's findings (refreshed every adviceMs). */
  windowTrace(): { trace: Trace; rates: RateSeries } {
    const t0 = performance.now();
    const w = this.store.window(this.store.session.name);
    const now = Date.now();
    const t1 = performance.now();
    this.windowMs.build = t1 - t0;
    // The advisor reads every span: at most a tenth of the server's time.
    if (now - this.lastAdvice >= Math.max(this.opts.adviceMs, 10 * this.windowMs.advise)) {
      this.lastAdvice = now;
      try {
        // The advisor looks at the last ADVICE_SPAN_NS: its findings are about what the app does now.
        const since = this.store.stats(0).latest - ADVICE_SPAN_NS;
        this.findings = advise({ ...w.trace, spans: w.trace.spans.filter((s) => s.end >= since), memory: w.trace.memory.filter((m) => m.t >= since) });
      } catch {
        this.findings = [];
      }
      this.windowMs.advise = performance.now() - t1;
    }
    w.trace.meta.advice = this.findings;
    return w;
  }

  private makeWindow(): string | null {
    const { trace, rates } = this.windowTrace();
    const t0 = performance.now();
    const packed = packTrace(trace);
    const t1 = performance.now();
    this.windowMs.pack = t1 - t0;
    const cols: Record<string, string> = {};
    for (const c of packed.columns) cols[c.desc.id] = Buffer.from(c.data.buffer, c.data.byteOffset, c.data.byteLength).toString('base64');
    this.lastStats = this.store.stats(packed.head.spanCount);
    const msg: WindowMessage = { head: packed.head, cols, rates, stats: this.lastStats };
    this.lastWindow = `event: window\ndata: ${JSON.stringify(msg)}\n\n`;
    this.windows++;
    this.windowMs.encode = performance.now() - t1;
    return this.lastWindow;
  }

  private save(res: ServerResponse, kind: 'mlxtrace' | 'html'): void {
    const { trace } = this.windowTrace();
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const base = `${this.store.session.name.replace(/[^\w.-]+/g, '_')}-live-${stamp}`;
    let body: Buffer;
    if (kind === 'html') body = Buffer.from(renderHtml(trace, { title: `${this.store.session.name} (live, last ${this.opts.windowSeconds} s)` }), 'utf8');
    else {
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
    const body = { ...this.store.stats(this.lastStats?.spans ?? 0), windows: this.windows, windowMs: this.windowMs, clientQueueBytes: this.opts.clientQueueBytes, ended: this.ended, clients };
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
  }

  /** The app ended: every client gets the last window and an end event. */
  end(): Promise<void> {
    this.ended = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    // No last window: the app is waiting for this at its exit, and the page keeps the window it has.
    const waits: Promise<void>[] = [];
    for (const c of this.clients) {
      waits.push(new Promise((r) => c.res.end('event: end\ndata: {}\n\n', () => r())));
    }
    this.clients.clear();
    return Promise.all(waits).then(() => undefined);
  }

  close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    for (const c of this.clients) c.res.end();
    this.clients.clear();
    this.server.closeAllConnections?.();
    return new Promise((r) => this.server.close(() => r()));
  }
}
