/**
 * The page's entry point: reads the packed head, builds the model, installs the views and wires selection and
 * theme changes between them. The timeline is installed first and signals readiness (data-ready="timeline" on
 * <html>, window.__mlxTraceReady) as soon as it has drawn; the other views follow in the next task.
 * Self-contained (no imports at run time): its source text is embedded in the report.
 */
import type { Head } from '../format';
import type { App, ClientData, ClientParts, GroupBy, Selection, Theme } from './types';

/** With `data` (the live view), the head and columns come from it, not from the page, and the views are mounted anew. */
export function clientMain(parts: ClientParts, data?: ClientData): void {
  const w = window as unknown as { __mlxTrace: Record<string, unknown>; __mlxTraceReady?: boolean };
  const t0 = performance.now();
  w.__mlxTrace = {};
  const html = document.documentElement;
  const fail = (where: string, e: unknown) => {
    const msg = e instanceof Error ? e.message : String(e);
    console.error(`mlx-trace report: ${where} failed: ${msg}`);
    const box = document.getElementById('errors');
    if (box) {
      box.hidden = false;
      const p = document.createElement('p');
      p.textContent = `The ${where} could not be shown: ${msg}`;
      box.append(p);
    }
  };

  let head: Head;
  try {
    head = data ? data.head : (JSON.parse(document.getElementById('mlx-trace-head')?.textContent ?? '') as Head);
    if (!head || head.v !== 1) throw new Error('this report was written by a newer mlx-trace');
  } catch (e) {
    fail('report data', e);
    return;
  }
  const util = data?.util ?? parts.makeUtil();
  const model = parts.buildModel(head, util, data?.columns);
  w.__mlxTrace.decodeMs = performance.now() - t0;

  const selectListeners: ((s: Selection | null) => void)[] = [];
  const themeListeners: (() => void)[] = [];
  let theme: Theme | null = null;
  const readTheme = (): Theme => {
    const v = util.cssVar;
    return {
      bg: v('--bg'), fg: v('--fg'), muted: v('--muted'), grid: v('--grid'), panel: v('--panel'), accent: v('--accent'),
      sel: v('--sel'), merged: v('--merged'), memLine: v('--mem-line'), memFill: v('--mem-fill'), counter: v('--counter'), token: v('--token'),
      cat: head.categories.map((c) => v(`--c-${c.id}`)),
      kind: head.kinds.map((k) => v(`--k-${k}`)),
    };
  };
  // Views mounted anew (live) read the theme when mounted; a listener per mount would keep every old model alive.
  if (!data) {
    window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
      theme = null;
      for (const f of themeListeners) f();
    });
  }
  let current: Selection | null = null;
  const app: App = {
    head,
    util,
    model,
    colors: () => (theme ??= readTheme()),
    select(sel) {
      current = sel;
      for (const f of selectListeners) {
        try { f(sel); } catch (e) { fail('selection', e); }
      }
    },
    onSelect: (fn) => { selectListeners.push(fn); },
    groupKeyOfSpan(i: number, by: GroupBy) {
      const s = model.sig[i];
      if (by === 'op') return model.sigName[s];
      if (by === 'shapes') return s;
      if (model.sigKind[s] !== model.tableKind) return -1;
      if (by === 'layer') return model.tableKind === 2 ? model.layer[i] : model.sigName[s];
      return model.spanDevice[i];
    },
    isSelected(sel: Selection, i: number) {
      const sp = sel.spans;
      if (!sp) return app.groupKeyOfSpan(i, sel.by) === sel.key;
      let lo = 0, hi = sp.length;
      while (lo < hi) { const mid = (lo + hi) >>> 1; if (sp[mid] < i) lo = mid + 1; else hi = mid; }
      return lo < sp.length && sp[lo] === i;
    },
    onTheme: (fn) => { themeListeners.push(fn); },
    expose: (name, value) => { w.__mlxTrace[name] = value; },
  };
  app.expose('selection', () => current && { ...current, spans: current.spans ? Array.from(current.spans) : undefined });
  // A span by position, as the views see it (tests compare it with the trace).
  app.expose('span', (i: number) => ({ name: model.str(model.sigName[model.sig[i]]), kind: model.kindOf(i), start: model.start[i], dur: model.dur[i], id: model.spanId(i) }));
  app.expose('select', app.select);

  try {
    app.expose('timeline', parts.installTimeline(app, parts));
  } catch (e) {
    fail('timeline', e);
  }
  w.__mlxTrace.timelineMs = performance.now() - t0;
  html.dataset.ready = 'timeline';
  w.__mlxTraceReady = true;

  // The rest after the first paint; one view failing leaves the others working.
  setTimeout(() => {
    const views: [string, (a: App) => void][] = [
      ['summary', parts.installSummary],
      ['generation chart', parts.installGeneration],
      ['op table', parts.installTable],
      ['roofline', parts.installRoofline],
      ['category chart', parts.installDonut],
    ];
    for (const [name, install] of views) {
      try { install(app); } catch (e) { fail(name, e); }
    }
    w.__mlxTrace.allMs = performance.now() - t0;
    html.dataset.ready = 'all';
  }, 0);
}
