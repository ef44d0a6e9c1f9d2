/**
 * Page-side helpers: number formatting, binary search, safe DOM building, the tooltip, canvas sizing.
 * Self-contained (no imports at run time): its source text is embedded in the report.
 */
import type { Util } from './types';

export function makeUtil(): Util {
  const sig3 = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  const SI = ['', 'k', 'M', 'G', 'T', 'P', 'E'];
  const si = (v: number, unit: string) => {
    if (!Number.isFinite(v)) return '–';
    let i = 0;
    let x = Math.abs(v);
    while (x >= 1000 && i < SI.length - 1) { x /= 1000; i++; }
    return `${v < 0 ? '-' : ''}${sig3(x)} ${SI[i]}${unit}`;
  };
  const fmtNs = (ns: number) => {
    if (!Number.isFinite(ns)) return '–';
    if (ns === 0) return '0 ns';
    const a = Math.abs(ns);
    const sign = ns < 0 ? '-' : '';
    if (a < 1e3) return `${sign}${a < 10 ? a.toFixed(1) : a.toFixed(0)} ns`;
    if (a < 1e6) return `${sign}${sig3(a / 1e3)} µs`;
    if (a < 1e9) return `${sign}${sig3(a / 1e6)} ms`;
    return `${sign}${sig3(a / 1e9)} s`;
  };
  const fmtBytes = (b: number) => {
    if (!Number.isFinite(b)) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    let x = Math.abs(b);
    while (x >= 1024 && i < units.length - 1) { x /= 1024; i++; }
    return `${b < 0 ? '-' : ''}${i === 0 ? x.toFixed(0) : sig3(x)} ${units[i]}`;
  };
  const lowerBound = (a: ArrayLike<number>, lo: number, hi: number, x: number) => {
    while (lo < hi) {
      const m = (lo + hi) >>> 1;
      if (a[m] < x) lo = m + 1; else hi = m;
    }
    return lo;
  };
  const upperBound = (a: ArrayLike<number>, lo: number, hi: number, x: number) => {
    while (lo < hi) {
      const m = (lo + hi) >>> 1;
      if (a[m] <= x) lo = m + 1; else hi = m;
    }
    return lo;
  };
  function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Record<string, string>, ...children: (Node | string)[]) {
    const e = document.createElement(tag);
    if (attrs) for (const k of Object.keys(attrs)) e.setAttribute(k, attrs[k]);
    for (const c of children) e.append(typeof c === 'string' ? document.createTextNode(c) : c);
    return e;
  }
  const styles = getComputedStyle(document.documentElement);
  const cssVar = (name: string) => styles.getPropertyValue(name).trim();
  const textOn = (color: string) => {
    const m = /^#([0-9a-f]{6})$/i.exec(color);
    if (!m) return '#000';
    const v = parseInt(m[1], 16);
    const lin = (c: number) => { const s = c / 255; return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; };
    const L = 0.2126 * lin((v >> 16) & 255) + 0.7152 * lin((v >> 8) & 255) + 0.0722 * lin(v & 255);
    return L > 0.22 ? '#111' : '#fff';
  };

  let tip: HTMLElement | null = null;
  const showTip = (rows: [string, string][], title: string, x: number, y: number) => {
    if (!tip) {
      tip = el('div', { id: 'tip', role: 'tooltip' });
      document.body.append(tip);
    }
    const dl = el('dl');
    for (const [k, v] of rows) dl.append(el('dt', {}, k), el('dd', {}, v));
    tip.replaceChildren(el('strong', {}, title), dl);
    tip.style.display = 'block';
    const r = tip.getBoundingClientRect();
    const left = Math.max(4, Math.min(x + 14, window.innerWidth - r.width - 4));
    const top = y + 16 + r.height > window.innerHeight ? Math.max(4, y - r.height - 10) : y + 16;
    tip.style.left = `${left}px`;
    tip.style.top = `${top}px`;
  };
  const hideTip = () => { if (tip) tip.style.display = 'none'; };

  const fitCanvas = (c: HTMLCanvasElement, cssHeight: number) => {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(50, c.parentElement ? c.parentElement.clientWidth : c.clientWidth);
    const h = Math.max(20, Math.round(cssHeight));
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
      c.style.width = `${w}px`;
      c.style.height = `${h}px`;
    }
    const ctx = c.getContext('2d')!;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return { ctx, w, h };
  };

  const onWidth = (target: Element, fn: () => void, signal?: AbortSignal) => {
    let last = -1;
    let queued = false;
    const ro = new ResizeObserver((entries) => {
      const w = Math.round(entries[entries.length - 1].contentRect.width);
      if (w === last || queued) return;
      last = w;
      queued = true;
      requestAnimationFrame(() => { queued = false; fn(); });
    });
    ro.observe(target);
    signal?.addEventListener('abort', () => ro.disconnect());
  };

  // Native decoder where the browser has one (Chrome 140+, Firefox 133+, Safari 18.2+); atob elsewhere.
  const fromBase64 = (s: string): Uint8Array => {
    const U = Uint8Array as unknown as { fromBase64?: (s: string) => Uint8Array };
    if (typeof U.fromBase64 === 'function') return U.fromBase64(s);
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  };

  return {
    onWidth,
    fromBase64,
    fmtNs,
    fmtBytes,
    fmtFlops: (f) => si(f, 'FLOP'),
    fmtRate: (v, unit) => si(v, unit),
    fmtCount: (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–'),
    fmtPct: (x) => (Number.isFinite(x) ? `${(x * 100).toFixed(x >= 0.1 ? 1 : 2)}%` : '–'),
    lowerBound,
    upperBound,
    el,
    cssVar,
    textOn,
    showTip,
    hideTip,
    fitCanvas,
  };
}
