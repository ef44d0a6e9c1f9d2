/**
 * The page's entry point: reads the packed head, builds the model, installs the views and wires selection and
 * theme changes between them. The timeline is installed first and signals readiness (data-ready="timeline" on
 * <html>, window.__mlxTraceReady) as soon as it has drawn; the other views follow in the next task.
 * Self-contained (no imports at run time): its source text is embedded in the report.
 */
import type { Head } from '../format';
import type { App, ClientData, ClientParts, GroupBy, Selection, Theme } from './types';

/**
 * With `data` (the live view), the head and columns come from it, not from the page, and the returned function takes
 * the next data: the model and head change in place, the timeline lays its rows out anew and keeps its view, the op
 * table keeps its search, grouping and sort, and the views that summarise the whole window are installed anew in
 * their own sections (every few seconds). One function past the usual length: its source text is the page's, and the
 * update shares the install's listeners and sections. A selection by group stays (group keys are the session's); one of explicit spans is let go.
 */
export function clientMain(parts: ClientParts, data?: ClientData): ((next: ClientData) => void) | null {
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
    return null;
  }
  const util = data?.util ?? parts.makeUtil();
  const model = parts.buildModel(head, util, data?.columns);
  w.__mlxTrace.decodeMs = performance.now() - t0;

  // Listeners by the view section that registered them ('' for views that stay across data updates).
  const selectListeners: { fn: (s: Selection | null) => void; scope: string }[] = [];
  const themeListeners: { fn: () => void; scope: string }[] = [];
  const dataListeners: (() => void)[] = [];
  let scope = '';
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
      for (const f of themeListeners) f.fn();
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
        try { f.fn(sel); } catch (e) { fail('selection', e); }
      }
    },
    onSelect: (fn) => { selectListeners.push({ fn, scope }); },
    onData: (fn) => { dataListeners.push(fn); },
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
    onTheme: (fn) => { themeListeners.push({ fn, scope }); },
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

  // The rest after the first paint; one view failing leaves the others working. Views with a section id summarise
  // the whole data and are installed anew in a fresh copy of their section when it grows (the live view).
  const views: [string, string, (a: App) => void][] = [
    ['summary', 'summary', parts.installSummary],
    ['generation chart', 'summary', parts.installGeneration],
    ['op table', '', parts.installTable],
    ['roofline', 'roofline', parts.installRoofline],
    ['category chart', 'categories', parts.installDonut],
  ];
  const pristine = new Map<string, Node>();
  const aborts = new Map<string, AbortController>();
  let installed = false;
  // Views that summarise the whole data are installed anew at most every SUMMARY_MS (a window's summary moves slowly: the
  // live page's own cards and rate chart show what changes each refresh), and at most a tenth of the time.
  const SUMMARY_MS = 5000;
  let summarisedAt = 0, summaryCost = 0;
  const install = (sections: Set<string> | null) => {
    for (const [name, section, fn] of views) {
      if (sections && !sections.has(section)) continue;
      scope = section;
      let scoped = app;
      if (section) {
        const ac = aborts.get(section) ?? new AbortController();
        aborts.set(section, ac);
        scoped = { ...app, signal: ac.signal, util: { ...util, onWidth: (el, f) => util.onWidth(el, f, ac.signal) } };
      }
      try { fn(scoped); } catch (e) { fail(name, e); }
    }
    scope = '';
  };
  setTimeout(() => {
    if (data) for (const [, section] of views) if (section) pristine.set(section, document.getElementById(section)!.cloneNode(true));
    install(null);
    installed = true;
    w.__mlxTrace.allMs = performance.now() - t0;
    html.dataset.ready = 'all';
  }, 0);
  if (!data) return null;

  return (next: ClientData) => {
    const t1 = performance.now();
    const nextModel = parts.buildModel(next.head, util, next.columns);
    Object.assign(head, next.head);
    Object.assign(model, nextModel, { head });
    if (current?.spans) current = null;
    for (const f of dataListeners) {
      try { f(); } catch (e) { fail('update', e); }
    }
    if (installed && (next.final || performance.now() - summarisedAt >= Math.max(SUMMARY_MS, 10 * summaryCost))) {
      const t2 = performance.now();
      const sections = new Set(pristine.keys());
      for (const section of sections) {
        aborts.get(section)?.abort();
        aborts.delete(section);
        document.getElementById(section)?.replaceWith(pristine.get(section)!.cloneNode(true));
      }
      for (const list of [selectListeners, themeListeners]) {
        let k = 0;
        for (const l of list) if (!sections.has(l.scope)) list[k++] = l as never;
        list.length = k;
      }
      install(sections);
      summarisedAt = performance.now();
      summaryCost = summarisedAt - t2;
    }
    app.select(current);
    w.__mlxTrace.updateMs = performance.now() - t1;
  };
}
