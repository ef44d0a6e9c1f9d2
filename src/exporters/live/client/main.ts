/**
 * The live page's entry point. It listens to /events: each 'batch' message brings the spans that arrived since the
 * previous one, which go into the page's store (./store.ts); the dashboard's views are installed once on the window
 * laid out from the store, and each batch after that updates them in place (clientMain's update), so the op table
 * keeps its search, grouping and sort, and the timeline its zoom, following the newest time when it showed it.
 * Pause stops the updates so the window can be inspected (batches still go into the store); resume shows the newest.
 * When the app ends the page says so and keeps the last window; a dropped connection reconnects and starts afresh
 * from the server's window. Self-contained (no imports at run time): its source text is embedded in the page.
 */
import type { ClientData, ClientParts } from '../../html/client/types';
import type { BatchMessage, RateSeries, WindowStats } from '../protocol';
import type { LiveStoreClient } from './store';

export interface LiveParts extends ClientParts {
  clientMain: (parts: ClientParts, data?: ClientData) => ((next: ClientData) => void) | null;
  liveRate: (canvas: HTMLCanvasElement, rates: RateSeries, util: ReturnType<ClientParts['makeUtil']>) => void;
  liveStore: (util: ReturnType<ClientParts['makeUtil']>) => LiveStoreClient;
}

export function liveMain(parts: LiveParts): void {
  const cfg = JSON.parse(document.getElementById('mlx-live-config')?.textContent ?? '{}') as { windowSeconds: number; refreshMs: number };
  const token = new URLSearchParams(location.search).get('token');
  const query = token ? `?token=${encodeURIComponent(token)}` : '';
  const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
  const status = byId<HTMLElement>('live-status');
  const pauseBtn = byId<HTMLButtonElement>('live-pause');
  const saves = [byId<HTMLAnchorElement>('live-save-trace'), byId<HTMLAnchorElement>('live-save-html')];
  for (const a of saves) a.href = `${a.getAttribute('href')}${query}`;
  const cards = document.querySelector('#live .cards') as HTMLElement;
  const rateCanvas = byId<HTMLCanvasElement>('live-rate');
  const util = parts.makeUtil();

  const store = parts.liveStore(util);
  let update: ((next: ClientData) => void) | null = null;
  let paused = false;
  let ended = false;
  /** A batch came that the views do not show yet. */
  let pending = false;
  let rates: RateSeries | null = null;
  let stats: WindowStats | null = null;
  let skipped = 0;
  const state = { batches: 0, applied: 0, spans: 0, primitives: 0, notSent: 0, since: 0, busyNs: 0, coveredNs: 0, state: 'connecting', paused: false, skipped: 0, reconnects: 0, what: '', applyMs: 0 };
  (window as unknown as { __mlxLive: typeof state }).__mlxLive = state;

  const setStatus = (s: string, text: string) => {
    state.state = s;
    if (status.dataset.state !== s) status.dataset.state = s;
    if (status.textContent !== text) status.textContent = text;
  };
  const describe = () => {
    if (ended) return setStatus('ended', 'ended: the app exited; its last window stays on this page');
    if (paused) return setStatus('paused', 'paused: new data is kept for when you resume');
    setStatus('live', `live · ${util.fmtCount(state.batches)} updates`);
  };

  const card = (label: string, value: string, note: string, warn = false) =>
    util.el('div', { class: warn ? 'card warn' : 'card' }, util.el('div', { class: 'card-label' }, label), util.el('div', { class: 'card-value' }, value), util.el('div', { class: 'card-note' }, note));

  /** What the cards and the rate chart show now: neither is redrawn while it stays the same (a redraw lays the page out anew). */
  let shownCards = '';
  let drawnRates: RateSeries | null = null;

  util.onWidth(rateCanvas.parentElement ?? rateCanvas, () => { if (drawnRates) parts.liveRate(rateCanvas, drawnRates, util); });

  function showNow() {
    const st = stats;
    const r = rates;
    if (!st || !r) return;
    const vals = r.values;
    // The rate now: the last second of full buckets (the newest bucket is still filling).
    const k = Math.max(1, Math.round(1e9 / r.bucketNs));
    const recent = vals.slice(Math.max(0, vals.length - 1 - k), Math.max(0, vals.length - 1));
    const now = recent.length ? recent.reduce((a, b) => a + b, 0) / recent.length : 0;
    const lat = r.latencies;
    const lost = st.recorderDropped + st.feedDropped;
    // The span cap binds when the app makes spans faster than the window can hold: the window is then shorter.
    const spanNs = Math.max(0, st.latest - st.from);
    const held = spanNs < 0.98 * cfg.windowSeconds * 1e9
      ? `last ${util.fmtNs(spanNs)}: the server keeps ${util.fmtCount(st.spanCap)} spans (serveLive maxSpans)`
      : `last ${cfg.windowSeconds} s`;
    const prims = state.notSent > 0
      ? `the last ${util.fmtNs(Math.max(0, st.latest - state.since))} of primitives · ${util.fmtCount(state.notSent)} older not sent (the tables and Save have them)`
      : 'every primitive of the window';
    const shown: [string, string, string, boolean?][] = [
      ['Spans in view', util.fmtCount(state.spans), `${held} · ${prims}`],
      [r.what === 'tokens' ? 'Tokens/s' : 'Evals/s', now >= 100 ? util.fmtCount(now) : now.toFixed(1), 'over the last second'],
      ...(lat.length ? [['Token latency', util.fmtNs(lat[lat.length - 1]), `latest · ${util.fmtCount(lat.length)} tokens in view`] as [string, string, string]] : []),
      ['Live bytes', util.fmtBytes(st.liveBytes), 'allocated by MLX now'],
      ['Peak memory', util.fmtBytes(st.peakBytes), 'since the live server started'],
      ['Dropped', util.fmtCount(lost), `recorder ${util.fmtCount(st.recorderDropped)} · feed ${util.fmtCount(st.feedDropped)}`, lost > 0],
      ['Skipped updates', util.fmtCount(skipped), 'this page was too slow to take them', skipped > 0],
    ];
    const key = JSON.stringify(shown);
    if (key !== shownCards) {
      shownCards = key;
      cards.replaceChildren(...shown.map(([label, value, note, warn]) => card(label, value, note, warn)));
    }
    if (r !== drawnRates) {
      drawnRates = r;
      parts.liveRate(rateCanvas, r, util);
    }
    state.what = r.what;
  }

  /** When the last apply ended, and the timer of one waiting for its turn. */
  let appliedAt = -Infinity;
  let soon: ReturnType<typeof setTimeout> | null = null;

  /**
   * Applies the batches that came, at most so often that laying out the window takes a quarter of a core:
   * the page often runs on the app's machine, and a window of many spans takes long to lay out.
   */
  function applySoon() {
    // A hidden page shows nothing: it takes the batches in and lays the window out when it is shown again.
    if (soon !== null || document.hidden) return;
    const wait = appliedAt + 3 * state.applyMs - performance.now();
    if (wait <= 0) apply();
    else soon = setTimeout(() => { soon = null; if (!paused && pending) apply(); }, wait);
  }

  /** Shows the store's window: the views installed on the first, updated in place after. */
  function apply() {
    const t0 = performance.now();
    if (soon !== null) clearTimeout(soon);
    soon = null;
    pending = false;
    const data: ClientData = { ...store.layout(), util, final: ended };
    state.spans = data.head.spanCount;
    const p = store.primitives();
    state.primitives = p.held;
    state.notSent = Math.max(0, p.window - p.held);
    state.since = p.since;
    state.busyNs = data.head.busy?.ns ?? 0;
    state.coveredNs = data.head.busy?.coveredNs ?? 0;
    if (update) update(data);
    else update = parts.clientMain(parts, data);
    showNow();
    state.applied++;
    appliedAt = performance.now();
    state.applyMs = appliedAt - t0;
  }

  document.addEventListener('visibilitychange', () => { if (!document.hidden && !paused && pending) applySoon(); });

  pauseBtn.addEventListener('click', () => {
    paused = !paused;
    state.paused = paused;
    pauseBtn.setAttribute('aria-pressed', String(paused));
    pauseBtn.textContent = paused ? 'Resume' : 'Pause';
    if (!paused && pending) apply();
    describe();
  });

  const es = new EventSource(`events${query}`);
  es.addEventListener('open', () => { if (!ended) describe(); });
  es.addEventListener('batch', (e) => {
    const msg = JSON.parse((e as MessageEvent).data) as BatchMessage;
    store.append(msg);
    rates = msg.rates;
    stats = msg.stats;
    state.batches++;
    pending = true;
    if (!paused) applySoon();
    describe();
  });
  es.addEventListener('stats', (e) => {
    const st = JSON.parse((e as MessageEvent).data) as WindowStats;
    stats = st;
    skipped = st.skipped ?? 0;
    state.skipped = skipped;
    if (!paused) showNow();
  });
  es.addEventListener('end', () => {
    ended = true;
    es.close();
    if (!paused) apply();
    for (const a of saves) a.setAttribute('aria-disabled', 'true');
    describe();
  });
  es.addEventListener('error', () => {
    if (ended) return;
    state.reconnects++;
    setStatus('reconnecting', 'connection lost: reconnecting… (the data shown stays)');
  });
}
