/**
 * The summary: headline numbers (wall and eval time, coverage, timing mode, dropped events, peak memory, the
 * roofline's peaks and whether they were measured, passes of a multi-pass profile), the top ops, the advisor's findings (trace.meta.advice, each
 * with a button that selects its evidence spans) and the host facts. All as text nodes.
 * Self-contained (no imports at run time): its source text is embedded in the report.
 */
import type { App } from './types';

export function installSummary(app: App): void {
  const { util, model: m, head } = app;
  const el = util.el;
  const root = document.getElementById('summary')!;
  const cards = root.querySelector('.cards') as HTMLElement;
  const top = root.querySelector('.top-ops ol') as HTMLElement;
  const findings = root.querySelector('.findings ul') as HTMLElement;
  const facts = root.querySelector('.facts') as HTMLElement;

  const card = (label: string, value: string, note: string, warn = false) =>
    el('div', { class: warn ? 'card warn' : 'card' }, el('div', { class: 'card-label' }, label), el('div', { class: 'card-value' }, value),
      el('div', { class: 'card-note' }, note));
  const kind = head.kinds[m.tableKind];
  const mem = head.memory;
  const dropped = head.dropped;
  // With passes, eval time, coverage, top ops and the table count the measured passes only.
  const measured = head.passes ? ', measured passes' : '';
  const timingNote = head.meta.timing === 'native' ? 'timed inside eval by the native hooks'
    : head.meta.fallbackReason ? `native hooks not used: ${head.meta.fallbackReason}` : 'timed from JavaScript';
  // Busy time passes with no primitive while MLX's thread waits for a core: said once it is a visible share.
  const wait = head.meta.coreWaitNs;
  const coreWaitNote = wait !== null && head.busy && wait >= head.meta.coreWaitNoteShare * head.busy.ns ? ` · MLX's thread waited ${util.fmtNs(wait)} for a CPU core` : '';
  cards.replaceChildren(
    card('Wall time', util.fmtNs(m.wallTime), 'first span to last'),
    card('Busy time', util.fmtNs(m.evalTime), `evals, asyncEval work, item()/tolist()${measured}`),
    card('Coverage', util.fmtPct(head.busy && head.busy.ns > 0 ? head.busy.coveredNs / head.busy.ns : m.tableTime / m.evalTime), `${kind} time inside busy time${measured}${coreWaitNote}`, coreWaitNote !== ''),
    card('Timing', head.meta.timing, timingNote, head.meta.timing !== 'native'),
    card('Spans', util.fmtCount(head.spanCount), `${util.fmtCount(dropped)} dropped${head.skipped ? `, ${util.fmtCount(head.skipped)} malformed skipped` : ''}`, dropped > 0 || head.skipped > 0),
    card('Peak memory', mem ? util.fmtBytes(mem.peak) : 'not recorded', mem ? `${util.fmtCount(mem.sourceCount)} allocator events` : 'no allocator events'),
    // Default ceilings are flagged: every achieved rate is read against them.
    card('Peaks', head.meta.peaks.flops > 0 ? util.fmtRate(head.meta.peaks.flops, 'FLOP/s') : '–',
      head.meta.peaks.bandwidth > 0 ? `${util.fmtRate(head.meta.peaks.bandwidth, 'B/s')} · ${head.meta.peaks.label}` : 'no bandwidth peak',
      !!m.ceilings && !m.ceilings.measured),
  );
  const passes = head.passes;
  if (passes) {
    const n = passes.measured.length, w = passes.warmup.length;
    const plural = (k: number, one: string, many: string) => `${util.fmtCount(k)} ${k === 1 ? one : many}`;
    cards.append(card('Passes', plural(n, 'measured', 'measured'),
      w > 0 ? `${plural(w, 'warm-up pass', 'warm-up passes')} left out of every statistic and total` : 'no warm-up passes'));
    if (passes.wall.length > 0) {
      const st = m.summarize(passes.wall);
      cards.append(card('Time per pass', util.fmtNs(st.mean), `p50 ${util.fmtNs(st.p50)} · p95 ${util.fmtNs(st.p95)} · std ${util.fmtNs(st.std)}`));
    }
  }

  const ops = m.aggregate('op').slice().sort((a, b) => b.total - a.total).slice(0, 6);
  const maxT = ops[0]?.total ?? 0;
  top.replaceChildren(...ops.map((r) => {
    const bar = el('span', { class: 'bar', 'data-cat': String(r.cat) });
    bar.style.width = `${maxT > 0 ? Math.max(1, (r.total / maxT) * 100) : 0}%`;
    const li = el('li', {}, el('span', { class: 'top-name' }, r.label),
      el('span', { class: 'top-val' }, `${util.fmtNs(r.total)} · ${util.fmtPct(r.total / m.evalTime)} · ${util.fmtCount(r.calls)} call${r.calls === 1 ? '' : 's'}`),
      el('span', { class: 'bar-track' }, bar));
    li.tabIndex = 0;
    const pick = () => app.select({ by: 'op', key: r.key, label: r.label, source: 'summary' });
    li.addEventListener('click', pick);
    li.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); pick(); } });
    return li;
  }));
  if (ops.length === 0) top.replaceChildren(el('li', { class: 'muted' }, 'No ops recorded.'));

  if (head.advice.length === 0)
    findings.replaceChildren(
      el('li', { class: 'muted' }, head.adviceRan ? 'The advisor found none of the MLX performance pitfalls it knows.' : 'The advisor has not run on this trace (mlx-trace view --advice runs it).'),
    );
  else {
    const rank: Record<string, number> = { high: 0, error: 0, warning: 1, medium: 1, warn: 1, low: 2, info: 3 };
    const sorted = head.advice.slice().sort((a, b) => (rank[a.severity] ?? 3) - (rank[b.severity] ?? 3));
    // A finding's evidence button selects exactly its spans: the timeline highlights them (N steps through), the
    // table marks their ops. Pressed state follows the selection, wherever it was made.
    const buttons: [HTMLButtonElement, Int32Array][] = [];
    findings.replaceChildren(...sorted.map((f) => {
      const li = el('li', { class: `finding sev-${/^[a-z]+$/.test(f.severity) ? f.severity : 'info'}` },
        el('span', { class: 'sev' }, f.severity), el('span', { class: 'rule' }, f.rule),
        el('p', { class: 'msg' }, f.message), ...(f.suggestion ? [el('p', { class: 'fix' }, `Suggestion: ${f.suggestion}`)] : []),
        ...(f.timeAtStake != null && f.timeAtStake > 0 ? [el('p', { class: 'fix' }, `Time at stake: ${util.fmtNs(f.timeAtStake)}`)] : []));
      const n = f.spans.length;
      if (n > 0) {
        const spans = Int32Array.from(f.spans);
        const b = el('button', { type: 'button', class: 'evidence', 'aria-pressed': 'false' },
          `Show ${n === 1 ? 'its evidence span' : `its ${util.fmtCount(n)} evidence spans`} in the timeline`);
        b.addEventListener('click', () => {
          const on = b.getAttribute('aria-pressed') === 'true';
          app.select(on ? null : { by: 'op', key: -1, label: `evidence of ${f.rule}`, source: 'finding', spans });
          if (!on) document.querySelector('#timeline canvas')?.scrollIntoView({ block: 'nearest' });
        });
        buttons.push([b, spans]);
        li.append(el('p', {}, b));
      } else if (f.evidence > 0) {
        li.append(el('p', { class: 'fix' }, f.evidence === 1 ? 'Its evidence span is not in this trace.' : `Its ${util.fmtCount(f.evidence)} evidence spans are not in this trace.`));
      }
      return li;
    }));
    app.onSelect((sel) => {
      for (const [b, spans] of buttons) b.setAttribute('aria-pressed', String(!!sel && sel.spans === spans));
    });
  }

  const pairs: [string, string][] = [];
  const h = head.meta.host;
  if (h.cpuModel) pairs.push(['CPU', `${h.cpuModel}${h.cpus ? ` × ${h.cpus}` : ''}`]);
  if (typeof h.totalMemory === 'number') pairs.push(['Memory', util.fmtBytes(h.totalMemory)]);
  if (h.platform) pairs.push(['Platform', `${h.platform} ${h.arch ?? ''}`.trim()]);
  if (h.hostname) pairs.push(['Host', String(h.hostname)]);
  for (const [k, v] of Object.entries(head.meta.versions)) pairs.push([`${k} version`, v]);
  if (head.meta.createdAt) pairs.push(['Recorded', head.meta.createdAt]);
  for (const [k, v] of head.meta.facts) pairs.push([k, v]);
  facts.replaceChildren(...pairs.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}
