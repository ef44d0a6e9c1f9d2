/**
 * The live page's entry point. It listens to /events: each 'window' message is the last N seconds
 * packed as the dashboard packs a trace, and the page mounts the dashboard's views on it anew
 * (clientMain with the message as its data), keeping the op table's search, grouping and category.
 * Pause stops the mounting so a window can be inspected; the newest message is shown on resume.
 * When the app ends the page says so and keeps the last window; a dropped connection reconnects.
 * Self-contained (no imports at run time): its source text is embedded in the page, so it is one function with
 * its helpers inside, as the dashboard's views are.
 */
import type { Head } from '../../html/format';
import type { ClientData, ClientParts, Util } from '../../html/client/types';
import type { LiveRates } from './rate';

export interface LiveParts extends ClientParts {
  clientMain: (parts: ClientParts, data?: ClientData) => void;
  liveRate: (canvas: HTMLCanvasElement, rates: LiveRates, util: Util) => void;
}

interface LiveStats {
  spans: number;
  retainedSpans: number;
  recorderDropped: number;
  feedDropped: number;
  evictedSpans: number;
  liveBytes: number;
  peakBytes: number;
  skipped?: number;
  clients?: number;
}

interface WindowMessage {
  head: Head;
  cols: Record<string, string>;
  rates: LiveRates;
  stats: LiveStats;
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
  const views = byId<HTMLElement>('views');
  const pristine = views.innerHTML;
  const cards = document.querySelector('#live .cards') as HTMLElement;
  const rateCanvas = byId<HTMLCanvasElement>('live-rate');
  const util = parts.makeUtil();

  let paused = false;
  let ended = false;
  let latest: WindowMessage | null = null;
  let shown: WindowMessage | null = null;
  let skipped = 0;
  let lastStats: LiveStats | null = null;
  const state = { windows: 0, mounted: 0, spans: 0, state: 'connecting', paused: false, skipped: 0, reconnects: 0, what: '' };
  (window as unknown as { __mlxLive: typeof state }).__mlxLive = state;

  const setStatus = (s: string, text: string) => {
    state.state = s;
    status.dataset.state = s;
    status.textContent = text;
  };
  const describe = () => {
    if (ended) return setStatus('ended', `ended: the app exited; the last ${cfg.windowSeconds} s stay on this page`);
    if (paused) return setStatus('paused', 'paused: new data is kept for when you resume');
    setStatus('live', `live · ${util.fmtCount(state.windows)} updates`);
  };

  const card = (label: string, value: string, note: string, warn = false) =>
    util.el('div', { class: warn ? 'card warn' : 'card' }, util.el('div', { class: 'card-label' }, label), util.el('div', { class: 'card-value' }, value), util.el('div', { class: 'card-note' }, note));

  function showNow(msg: WindowMessage) {
    const st = lastStats ?? msg.stats;
    const r = msg.rates;
    const vals = r.values;
    // The rate now: the last second of full buckets (the newest bucket is still filling).
    const k = Math.max(1, Math.round(1e9 / r.bucketNs));
    const recent = vals.slice(Math.max(0, vals.length - 1 - k), Math.max(0, vals.length - 1));
    const now = recent.length ? recent.reduce((a, b) => a + b, 0) / recent.length : 0;
    const lat = r.latencies;
    const lost = st.recorderDropped + st.feedDropped + st.evictedSpans;
    cards.replaceChildren(
      card('Spans in view', util.fmtCount(msg.stats.spans), `last ${cfg.windowSeconds} s`),
      card(r.what === 'tokens' ? 'Tokens/s' : 'Evals/s', now >= 100 ? util.fmtCount(now) : now.toFixed(1), 'over the last second'),
      ...(lat.length ? [card('Token latency', util.fmtNs(lat[lat.length - 1]), `latest · ${util.fmtCount(lat.length)} tokens in view`)] : []),
      card('Live bytes', util.fmtBytes(st.liveBytes), 'allocated by MLX now'),
      card('Peak memory', util.fmtBytes(st.peakBytes), 'since the live server started'),
      card('Dropped', util.fmtCount(lost), `recorder ${util.fmtCount(st.recorderDropped)} · feed ${util.fmtCount(st.feedDropped)} · over the cap ${util.fmtCount(st.evictedSpans)}`, lost > 0),
      card('Skipped updates', util.fmtCount(skipped), 'this page was too slow to take them', skipped > 0),
    );
    parts.liveRate(rateCanvas, r, util);
    state.what = r.what;
  }

  function mount(msg: WindowMessage) {
    shown = msg;
    const value = (id: string) => (document.getElementById(id) as HTMLInputElement | null)?.value;
    const search = value('ops-search'), group = value('ops-group'), cat = value('ops-cat');
    views.innerHTML = pristine;
    if (search != null) byId<HTMLInputElement>('ops-search').value = search;
    if (group != null) byId<HTMLSelectElement>('ops-group').value = group;
    parts.clientMain(parts, { head: msg.head, columns: new Map(Object.entries(msg.cols)), util });
    // The op table fills its category list when installed, after clientMain's first paint.
    if (cat) setTimeout(() => {
      const sel = document.getElementById('ops-cat') as HTMLSelectElement | null;
      if (sel) { sel.value = cat; sel.dispatchEvent(new Event('change')); }
    }, 0);
    showNow(msg);
    state.mounted++;
    state.spans = msg.head.spanCount;
  }

  pauseBtn.addEventListener('click', () => {
    paused = !paused;
    state.paused = paused;
    pauseBtn.setAttribute('aria-pressed', String(paused));
    pauseBtn.textContent = paused ? 'Resume' : 'Pause';
    if (!paused && latest && latest !== shown) mount(latest);
    describe();
  });

  const es = new EventSource(`events${query}`);
  es.addEventListener('open', () => { if (!ended) describe(); });
  es.addEventListener('window', (e) => {
    const msg = JSON.parse((e as MessageEvent).data) as WindowMessage;
    latest = msg;
    state.windows++;
    if (!paused) mount(msg);
    describe();
  });
  es.addEventListener('stats', (e) => {
    const st = JSON.parse((e as MessageEvent).data) as LiveStats;
    lastStats = st;
    skipped = st.skipped ?? 0;
    state.skipped = skipped;
    if (shown && !paused) showNow(shown);
  });
  es.addEventListener('end', () => {
    ended = true;
    es.close();
    if (latest && latest !== shown && !paused) mount(latest);
    for (const a of saves) a.setAttribute('aria-disabled', 'true');
    describe();
  });
  es.addEventListener('error', () => {
    if (ended) return;
    state.reconnects++;
    setStatus('reconnecting', 'connection lost: reconnecting… (the data shown stays)');
  });
}
