/**
 * Time by op category (matmul, attention, normalization, element-wise, memory movement, other) as a donut with a
 * legend. Legend entries are buttons: one filters the op table to that category.
 * Self-contained (no imports at run time): its source text is embedded in the report.
 */
import type { App } from './types';

export function installDonut(app: App): void {
  const { util, model: m, head } = app;
  const root = document.getElementById('categories')!;
  const canvas = root.querySelector('canvas') as HTMLCanvasElement;
  const legend = root.querySelector('.legend') as HTMLElement;
  const filter = document.getElementById('ops-cat') as HTMLSelectElement | null;

  // Self time, so a span nested in another op is not counted twice.
  const time = head.categories.map(() => 0);
  for (const row of m.aggregate('op')) if (row.cat >= 0) time[row.cat] += row.self;
  const total = time.reduce((a, b) => a + b, 0);
  const order = head.categories.map((_, i) => i).filter((i) => time[i] > 0);
  const frac = (i: number) => (total > 0 ? time[i] / total : 0);

  const buttons: HTMLButtonElement[] = [];
  legend.replaceChildren();
  for (const i of head.categories.map((_, k) => k)) {
    const sw = util.el('span', { class: 'swatch', 'data-cat': String(i) });
    const b = util.el('button', { type: 'button', 'aria-pressed': 'false', 'data-cat': String(i) },
      sw, util.el('span', { class: 'lg-label' }, head.categories[i].label),
      util.el('span', { class: 'lg-val' }, time[i] > 0 ? `${util.fmtNs(time[i])} · ${util.fmtPct(frac(i))}` : 'none'));
    if (time[i] === 0) b.classList.add('zero');
    b.addEventListener('click', () => {
      if (!filter) return;
      filter.value = filter.value === String(i) ? '' : String(i);
      filter.dispatchEvent(new Event('change'));
      filter.closest('section')?.scrollIntoView({ block: 'nearest' });
    });
    buttons.push(b);
    legend.append(util.el('li', {}, b));
  }
  filter?.addEventListener('change', () => {
    buttons.forEach((b, i) => b.setAttribute('aria-pressed', String(filter.value === String(i))));
  }, { signal: app.signal });

  let R = 100, cx = 100, cy = 100;
  function draw() {
    const size = Math.min(240, Math.max(160, canvas.parentElement?.clientWidth ?? 240));
    const fit = util.fitCanvas(canvas, size);
    const ctx = fit.ctx;
    const th = app.colors();
    ctx.fillStyle = th.bg;
    ctx.fillRect(0, 0, fit.w, size);
    R = size / 2 - 6;
    cx = Math.min(fit.w, size) / 2;
    cy = size / 2;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    if (total <= 0) {
      ctx.fillStyle = th.muted;
      ctx.font = '12px system-ui, sans-serif';
      ctx.fillText('No op time', cx, cy);
      return;
    }
    let a = -Math.PI / 2;
    for (const i of order) {
      const b = a + frac(i) * Math.PI * 2;
      ctx.beginPath();
      ctx.moveTo(cx, cy);
      ctx.arc(cx, cy, R, a, b);
      ctx.closePath();
      ctx.fillStyle = th.cat[i];
      ctx.fill();
      if (order.length > 1) { ctx.strokeStyle = th.bg; ctx.lineWidth = 1.5; ctx.stroke(); }
      a = b;
    }
    ctx.fillStyle = th.bg;
    ctx.beginPath();
    ctx.arc(cx, cy, R * 0.58, 0, Math.PI * 2);
    ctx.fill();
    ctx.fillStyle = th.fg;
    ctx.font = '600 15px system-ui, sans-serif';
    ctx.fillText(util.fmtNs(total), cx, cy - 8);
    ctx.fillStyle = th.muted;
    ctx.font = '11px system-ui, sans-serif';
    ctx.fillText(`${head.kinds[m.tableKind]} time`, cx, cy + 10);
  }

  canvas.addEventListener('pointermove', (e) => {
    const r = canvas.getBoundingClientRect();
    const x = e.clientX - r.left - cx, y = e.clientY - r.top - cy;
    const d = Math.hypot(x, y);
    if (total <= 0 || d > R || d < R * 0.58) { util.hideTip(); return; }
    let ang = Math.atan2(y, x) + Math.PI / 2;
    if (ang < 0) ang += Math.PI * 2;
    let acc = 0;
    for (const i of order) {
      acc += frac(i) * Math.PI * 2;
      if (ang <= acc) {
        util.showTip([['Time', util.fmtNs(time[i])], ['Share', util.fmtPct(frac(i))]], head.categories[i].label, e.clientX, e.clientY);
        return;
      }
    }
  });
  canvas.addEventListener('pointerleave', () => util.hideTip());
  app.onTheme(draw);
  util.onWidth(canvas.parentElement!, draw);
  draw();
}
