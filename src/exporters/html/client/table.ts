/**
 * The op table: the terminal report's columns (calls, total, self, mean, %, GFLOP/s, GB/s, intensity, device),
 * grouped by op, op + shapes, layer or device; sortable by any column; filtered by substring or /regex/ and by
 * category. Rows are selectable (click or Enter) and follow selections made in the other views.
 * A multi-pass trace adds the row's time per measured pass (mean, p50, p95, std over the passes, as the terminal's
 * pass statistics); warm-up passes are left out of those and of every total.
 * Self-contained (no imports at run time): its source text is embedded in the report.
 */
import type { AggRow, App, GroupBy, Selection } from './types';

export function installTable(app: App): void {
  const { util, model: m, head } = app;
  const search = document.getElementById('ops-search') as HTMLInputElement;
  const group = document.getElementById('ops-group') as HTMLSelectElement;
  const catSel = document.getElementById('ops-cat') as HTMLSelectElement;
  const status = document.getElementById('ops-status') as HTMLElement;
  const table = document.getElementById('ops-table') as HTMLTableElement;
  const wrap = table.parentElement as HTMLElement;
  const MAX_ROWS = 400;

  head.categories.forEach((c, i) => catSel.append(util.el('option', { value: String(i) }, c.label)));

  interface Col { id: string; label: string; title: string; num: boolean; value(r: AggRow): number | string; text(r: AggRow): string }
  // Rates over the calls that have a count; a count of 0 (a copy has no FLOPs) shows as 0, no count as '–'.
  const rate = (amount: number, ns: number) => (ns > 0 ? amount / (ns / 1e9) / 1e9 : NaN);
  const intensity = (r: AggRow) => (r.flopsTime > 0 && r.bytes > 0 ? r.flops / r.bytes : NaN);
  const fixed = (v: number) => (Number.isFinite(v) ? (v === 0 ? '0' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) : '–');
  const devs = (mask: number) => m.devices.filter((_, i) => mask & (1 << i)).join('+');
  const cols: Col[] = [
    { id: 'name', label: 'Op', title: 'Name', num: false, value: (r) => r.label.toLowerCase(), text: (r) => r.label },
    { id: 'calls', label: 'Calls', title: 'Number of calls', num: true, value: (r) => r.calls, text: (r) => util.fmtCount(r.calls) },
    { id: 'total', label: 'Total', title: 'Total time', num: true, value: (r) => r.total, text: (r) => util.fmtNs(r.total) },
    { id: 'self', label: 'Self', title: 'Time not spent in nested spans', num: true, value: (r) => r.self, text: (r) => util.fmtNs(r.self) },
    { id: 'mean', label: 'Mean', title: 'Mean time per call', num: true, value: (r) => r.total / r.calls, text: (r) => util.fmtNs(r.total / r.calls) },
    { id: 'pct', label: '%', title: 'Share of busy time', num: true, value: (r) => r.total / m.evalTime, text: (r) => util.fmtPct(r.total / m.evalTime) },
    { id: 'gflops', label: 'GFLOP/s', title: 'Achieved GFLOP/s (calls with a cost formula)', num: true, value: (r) => rate(r.flops, r.flopsTime), text: (r) => fixed(rate(r.flops, r.flopsTime)) },
    { id: 'gbs', label: 'GB/s', title: 'Achieved GB/s (calls with a byte count)', num: true, value: (r) => rate(r.bytes, r.bytesTime), text: (r) => fixed(rate(r.bytes, r.bytesTime)) },
    { id: 'ai', label: 'FLOP/B', title: 'Arithmetic intensity: FLOPs per byte moved', num: true, value: intensity, text: (r) => fixed(intensity(r)) },
    { id: 'device', label: 'Device', title: 'Devices it ran on', num: false, value: (r) => devs(r.devices), text: (r) => devs(r.devices) },
  ];
  const passes = head.passes;
  if (passes) {
    const over = `over ${util.fmtCount(m.slots)} measured pass${m.slots === 1 ? '' : 'es'}`;
    const stat = (id: 'mean' | 'p50' | 'p95' | 'std', label: string, what: string): Col =>
      ({ id: `pass-${id}`, label, title: `Time per pass: ${what} ${over}`, num: true, value: (r) => r.pass?.[id] ?? NaN, text: (r) => (r.pass ? util.fmtNs(r.pass[id]) : '–') });
    cols.splice(5, 0, stat('mean', 'Pass mean', 'mean'), stat('p50', 'Pass p50', 'median'), stat('p95', 'Pass p95', '95th percentile'),
      stat('std', 'Pass std', 'standard deviation'));
    cols.find((c) => c.id === 'calls')!.title = `Number of calls in the measured passes`;
    cols.find((c) => c.id === 'total')!.title = `Total time in the measured passes`;
  }
  let lastShown: AggRow[] = [];
  let sortCol = 'total';
  let sortDesc = true;
  let selection: Selection | null = null;

  const by = () => group.value as GroupBy;
  const nameLabel = () => ({ op: 'Op', shapes: 'Op + shapes', layer: 'Layer', device: 'Device' })[by()];

  function matcher(): ((s: string) => boolean) | null {
    const q = search.value.trim();
    search.removeAttribute('aria-invalid');
    if (!q) return null;
    const re = /^\/(.*)\/([a-z]*)$/s.exec(q);
    if (re) {
      try {
        const rx = new RegExp(re[1], re[2].replace(/[gy]/g, ''));
        return (s) => rx.test(s);
      } catch (e) {
        search.setAttribute('aria-invalid', 'true');
        // Chromium's message already starts with these words; others' may not.
        const msg = (e as Error).message;
        throw new Error(/^invalid regular expression/i.test(msg) ? msg : `Invalid regular expression: ${msg}`);
      }
    }
    const low = q.toLowerCase();
    return (s) => s.toLowerCase().includes(low);
  }

  function selectedKeys(): Set<number> {
    const keys = new Set<number>();
    if (!selection) return keys;
    const g = by();
    if (selection.spans) {
      // Explicit spans: the rows they count in (warm-up spans and spans of other kinds are in none).
      for (const i of selection.spans) {
        if (m.passSlot && m.passSlot[i] < 0) continue;
        const k = app.groupKeyOfSpan(i, g);
        if (k >= 0 && m.sigKind[m.sig[i]] === m.tableKind) keys.add(k);
      }
    } else if (selection.by === g) keys.add(selection.key);
    else if (selection.by === 'shapes' && g === 'op') keys.add(m.sigName[selection.key]);
    else if (selection.by === 'op' && g === 'shapes') {
      for (const r of m.aggregate('shapes')) if (m.sigName[r.key] === selection.key) keys.add(r.key);
    }
    return keys;
  }

  function render() {
    const g = by();
    catSel.disabled = g === 'layer' || g === 'device';
    let rows = m.aggregate(g);
    let problem = '';
    let match: ((s: string) => boolean) | null = null;
    try { match = matcher(); } catch (e) { problem = (e as Error).message; }
    if (match) rows = rows.filter((r) => match!(r.label) || (!!r.detail && match!(r.detail)));
    const cat = catSel.value;
    if (cat !== '' && !catSel.disabled) rows = rows.filter((r) => String(r.cat) === cat);
    const col = cols.find((c) => c.id === sortCol) ?? cols[2];
    const dir = sortDesc ? -1 : 1;
    rows = rows.slice().sort((a, b) => {
      const va = col.value(a), vb = col.value(b);
      if (typeof va === 'number' && typeof vb === 'number') {
        const na = Number.isFinite(va), nb = Number.isFinite(vb);
        if (!na || !nb) return na === nb ? 0 : na ? -1 : 1; // blanks last either way
        return (va - vb) * dir || b.total - a.total;
      }
      return String(va) < String(vb) ? -dir : String(va) > String(vb) ? dir : b.total - a.total;
    });
    const keys = selectedKeys();
    let shown = rows.slice(0, MAX_ROWS);
    if (keys.size && rows.length > MAX_ROWS) shown = shown.concat(rows.slice(MAX_ROWS).filter((r) => keys.has(r.key)));

    const hr = util.el('tr');
    for (const c of cols) {
      const active = c.id === sortCol;
      const b = util.el('button', { type: 'button', title: `${c.title}: click to sort` }, c.id === 'name' ? nameLabel() : c.label);
      if (active) b.append(sortDesc ? ' ▼' : ' ▲');
      b.addEventListener('click', () => {
        if (sortCol === c.id) sortDesc = !sortDesc;
        else { sortCol = c.id; sortDesc = c.num; }
        render();
        (table.querySelector(`th[data-col="${c.id}"] button`) as HTMLElement | null)?.focus();
      });
      const th = util.el('th', { scope: 'col', 'data-col': c.id, class: c.num ? 'num' : '' }, b);
      th.setAttribute('aria-sort', active ? (sortDesc ? 'descending' : 'ascending') : 'none');
      hr.append(th);
    }
    table.tHead!.replaceChildren(hr);

    const body = table.tBodies[0];
    const frag = document.createDocumentFragment();
    let firstSel: HTMLElement | null = null;
    let sumCalls = 0, sumTotal = 0;
    for (const r of rows) { sumCalls += r.calls; sumTotal += r.total; }
    for (const r of shown) {
      const tr = util.el('tr', { tabindex: '0', 'data-key': String(r.key) });
      for (const c of cols) {
        if (c.id === 'name') {
          const cell = util.el('td', { class: 'name' });
          if (r.cat >= 0) cell.append(util.el('span', { class: 'swatch', 'data-cat': String(r.cat) }));
          cell.append(util.el('span', { class: 'label' }, r.label));
          if (r.detail) cell.append(util.el('span', { class: 'detail' }, r.detail));
          tr.append(cell);
        } else tr.append(util.el('td', { class: c.num ? 'num' : '' }, c.text(r)));
      }
      if (keys.has(r.key)) {
        tr.classList.add('selected');
        tr.setAttribute('aria-selected', 'true');
        firstSel ??= tr;
      }
      const pick = () => app.select({ by: by(), key: r.key, label: r.label, source: 'table' });
      tr.addEventListener('click', pick);
      tr.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); pick(); }
        else if (e.key === 'ArrowDown') { e.preventDefault(); (tr.nextElementSibling as HTMLElement | null)?.focus(); }
        else if (e.key === 'ArrowUp') { e.preventDefault(); (tr.previousElementSibling as HTMLElement | null)?.focus(); }
      });
      frag.append(tr);
    }
    body.replaceChildren(frag);
    lastShown = shown;
    // Totals: calls and time add up; so do the rows' mean times per pass (a sum of means is the mean of sums).
    let sumPassMean = 0;
    for (const r of rows) sumPassMean += r.pass?.mean ?? 0;
    const footText: Record<string, string> = { name: `${util.fmtCount(rows.length)} rows`, calls: util.fmtCount(sumCalls), total: util.fmtNs(sumTotal) };
    if (passes) footText['pass-mean'] = util.fmtNs(sumPassMean);
    const foot = util.el('tr');
    for (const c of cols) foot.append(util.el('td', { class: c.num ? 'num' : '' }, footText[c.id] ?? ''));
    table.tFoot!.replaceChildren(foot);
    // Swatch colors come from the theme (CSS variables), set by class in CSS.
    const total = m.aggregate(g).length;
    const parts = [problem || `${util.fmtCount(rows.length)} of ${util.fmtCount(total)} ${head.kinds[m.tableKind]} groups`];
    if (passes) {
      const w = passes.warmup.length;
      parts.push(`per-pass statistics over ${util.fmtCount(m.slots)} measured pass${m.slots === 1 ? '' : 'es'}${w > 0
        ? `; ${util.fmtCount(w)} warm-up pass${w === 1 ? '' : 'es'} left out of the statistics and totals` : ''}`);
    }
    if (g === 'layer' && m.tableKind === 2) parts.push(`each layer's row is the time of the ${head.kinds[m.tableKind]}s it built`);
    if (m.ceilings) parts.push(`rates against ceilings of ${m.ceilings.text}`);
    if (rows.length > shown.length) parts.push(`showing the first ${util.fmtCount(MAX_ROWS)}: refine the search to see others`);
    if (selection) parts.push(`selected: ${selection.label}`);
    status.textContent = parts.join(' · ');
    if (firstSel) wrap.scrollTop = Math.max(0, firstSel.offsetTop - wrap.clientHeight / 3);
  }

  search.addEventListener('input', render);
  // A selection belongs to the grouping it was made in: a new grouping starts with none.
  group.addEventListener('change', () => { if (selection) app.select(null); else render(); });
  catSel.addEventListener('change', render);
  search.addEventListener('keydown', (e) => { if (e.key === 'Escape') { search.value = ''; render(); } });

  app.onSelect((s) => {
    selection = s;
    if (s && s.source !== 'table') {
      const g = by();
      const mappable = !!s.spans || s.by === g || (s.by === 'shapes' && g === 'op') || (s.by === 'op' && g === 'shapes');
      if (!mappable) group.value = s.by;
      // Make sure the selected row is not hidden by a filter.
      const keys = selectedKeys();
      const visible = m.aggregate(by()).filter((r) => keys.has(r.key));
      let match: ((x: string) => boolean) | null = null;
      try { match = matcher(); } catch { match = null; }
      if (match && !visible.some((r) => match!(r.label) || match!(r.detail))) search.value = '';
      if (catSel.value !== '' && !visible.some((r) => String(r.cat) === catSel.value)) catSel.value = '';
      catSel.dispatchEvent(new Event('change'));
    }
    render();
  });
  app.expose('table', {
    rows: () => lastShown.map((r) => ({ key: r.key, label: r.label, calls: r.calls, total: r.total, pass: r.pass })),
  });
  render();
}
