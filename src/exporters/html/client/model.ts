/**
 * Page-side data model: decodes the packed columns (base64 typed arrays) and derives what every view reads:
 * span ends, self time, devices, eval time, and aggregates by op, op + shapes, layer or device.
 * Self-contained (no imports at run time): its source text is embedded in the report.
 */
import type { Head } from '../format';
import type { AggRow, GroupBy, Model, Uints, Util } from './types';

/**
 * Columns come from the page's <script id="mlx-col-…"> elements, or in `columns` (the live view) as base64 text or as
 * typed arrays of the head's types.
 */
export function buildModel(head: Head, util: Util, columns?: Map<string, string | ArrayBufferView>): Model {
  const cols = new Map<string, ArrayBufferView>();
  for (const c of head.columns) {
    const given = columns?.get(c.id);
    if (given !== undefined && typeof given !== 'string') {
      cols.set(c.id, given);
      continue;
    }
    const node = columns ? null : document.getElementById(`mlx-col-${c.id}`);
    const bytes = util.fromBase64(columns ? given ?? '' : node ? (node.textContent ?? '').trim() : '');
    // Each decode owns a fresh buffer at offset 0, so 8-byte views are aligned. Columns are little-endian, as is
    // every machine that runs a browser today.
    const buf = bytes.buffer as ArrayBuffer;
    const view =
      c.type === 'f64' ? new Float64Array(buf, 0, c.length)
      : c.type === 'f32' ? new Float32Array(buf, 0, c.length)
      : c.type === 'u32' ? new Uint32Array(buf, 0, c.length)
      : c.type === 'u16' ? new Uint16Array(buf, 0, c.length)
      : new Uint8Array(buf, 0, c.length);
    cols.set(c.id, view);
    // The base64 text is no longer needed; let the page drop it.
    node?.remove();
  }
  const get = <T extends ArrayBufferView>(id: string, empty: T): T => (cols.get(id) as T | undefined) ?? empty;

  const n = head.spanCount;
  const start = get('start', new Float64Array(0));
  const dur = get('dur', new Float32Array(0));
  const sig = get<Uints>('sig', new Uint8Array(0));
  const layer = get<Uints>('layer', new Uint8Array(0));
  const sigKind = get('sigKind', new Uint8Array(0));
  const sigCat = get('sigCat', new Uint8Array(0));
  const sigName = get('sigName', new Uint32Array(0));
  const sigShapes = get('sigShapes', new Uint32Array(0));
  const sigDtype = get('sigDtype', new Uint32Array(0));
  const sigFlops = get('sigFlops', new Float64Array(0));
  const sigBytes = get('sigBytes', new Float64Array(0));
  const memT = get('memT', new Float64Array(0));
  const memLive = get('memLive', new Float64Array(0));
  const counterT = get('counterT', new Float64Array(0));
  const counterV = get('counterV', new Float64Array(0));
  const passCol = get<Uints>('pass', new Uint8Array(0));
  const idPos = get<Uints>('idPos', new Uint32Array(0));
  const idVal = get<Uints | Float64Array>('idVal', new Uint32Array(0));
  // The live view's table rows: the window's primitives summed by signature, layer and lane (the page holds only the
  // newest of them). With them the table counts these sums, not the spans; a primitive's self time is its time (no span
  // nests in a primitive).
  const grpSig = cols.get('grpSig') as Uints | undefined;
  const grpLayer = get<Uints>('grpLayer', new Uint32Array(0));
  const grpLane = get<Uints>('grpLane', new Uint32Array(0));
  const grpCalls = get('grpCalls', new Float64Array(0));
  const grpTotal = get('grpTotal', new Float64Array(0));

  // Multi-pass: the slot of each span's measured pass, -1 for warm-up spans and spans outside the passes.
  const passes = head.passes;
  let passSlot: Int32Array | null = null;
  const slots = passes ? Math.max(1, passes.measured.length) : 1;
  if (passes) {
    const slotOfCode = new Int32Array(passes.codes.length + 1).fill(-1);
    passes.codes.forEach((c, k) => { if (!c.warmup) slotOfCode[k + 1] = passes.measured.indexOf(c.pass); });
    passSlot = new Int32Array(head.spanCount);
    for (let i = 0; i < passSlot.length; i++) passSlot[i] = i < passCol.length ? slotOfCode[passCol[i]] : -1;
  }
  const counted = (i: number) => passSlot === null || passSlot[i] >= 0;

  const end = new Float64Array(n);
  for (let i = 0; i < n; i++) end[i] = start[i] + dur[i];

  // Devices and the device of each span (from its lane).
  const devices: string[] = [];
  for (const l of head.lanes) if (!devices.includes(l.device)) devices.push(l.device);
  const spanDevice = new Uint8Array(n);
  const rows = head.rowLane.length;
  for (let r = 0; r < rows; r++) spanDevice.fill(devices.indexOf(head.lanes[head.rowLane[r]].device), head.rowOffset[r], head.rowOffset[r + 1]);

  // Self time: each row's spans lie inside the row above (same lane); walk both in start order.
  const self = new Float64Array(n);
  for (let i = 0; i < n; i++) self[i] = dur[i];
  for (let r = 1; r < rows; r++) {
    if (head.rowLane[r] !== head.rowLane[r - 1]) continue;
    let p = head.rowOffset[r - 1];
    const pEnd = head.rowOffset[r];
    for (let c = head.rowOffset[r]; c < head.rowOffset[r + 1]; c++) {
      while (p < pEnd && end[p] <= start[c]) p++;
      if (p >= pEnd) break;
      if (start[p] <= start[c]) self[p] -= dur[c];
    }
  }
  for (let i = 0; i < n; i++) if (self[i] < 0) self[i] = 0;

  // Which kind the table counts: primitives when there are any.
  const present = new Set<number>();
  for (let s = 0; s < sigKind.length; s++) present.add(sigKind[s]);
  const tableKind = [2, 1, 4, 3, 0].find((k) => present.has(k)) ?? 2;
  const grouped = grpSig !== undefined && tableKind === 2;
  const grpDevice = Uint8Array.from(grouped ? grpLane : [], (l) => devices.indexOf(head.lanes[l].device));

  // Eval time: the union of eval intervals (evals on several threads may overlap).
  const evals: [number, number][] = [];
  let tableTime = 0;
  for (let i = 0; i < n; i++) {
    if (!counted(i)) continue;
    const k = sigKind[sig[i]];
    if (k === 0) evals.push([start[i], end[i]]);
    if (k === tableKind && !grouped) tableTime += dur[i];
  }
  if (grouped) for (let u = 0; u < grpTotal.length; u++) tableTime += grpTotal[u];
  evals.sort((a, b) => a[0] - b[0]);
  let evalTime = 0;
  let curS = -Infinity, curE = -Infinity;
  for (const [s, e] of evals) {
    if (s > curE) { if (curE > curS) evalTime += curE - curS; curS = s; curE = e; } else if (e > curE) curE = e;
  }
  if (curE > curS) evalTime += curE - curS;
  const wallTime = Math.max(0, head.t1 - head.t0);
  if (evalTime <= 0) evalTime = passes ? tableTime || wallTime : wallTime;
  // Busy time (evals, asyncEval work, syncs) from the packer: the same base as the terminal report's shares.
  if (head.busy && head.busy.ns > 0) evalTime = head.busy.ns;

  const str = (id: number) => head.strings[id] ?? '';

  // Same definitions as src/core/analysis/passes.ts summarize(): linear-interpolated percentiles, sample std.
  const summarize = (values: ArrayLike<number>) => {
    const k = values.length;
    if (k === 0) return { mean: 0, p50: 0, p95: 0, std: 0 };
    const sorted = Float64Array.from(values).sort();
    let sum = 0;
    for (let i = 0; i < k; i++) sum += sorted[i];
    const mean = sum / k;
    let sq = 0;
    for (let i = 0; i < k; i++) sq += (sorted[i] - mean) ** 2;
    const pct = (q: number) => {
      const pos = (k - 1) * q, lo = Math.floor(pos), hi = Math.min(k - 1, lo + 1);
      return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
    };
    return { mean, p50: pct(0.5), p95: pct(0.95), std: k > 1 ? Math.sqrt(sq / (k - 1)) : 0 };
  };

  const cache = new Map<GroupBy, AggRow[]>();
  const aggregate = (by: GroupBy): AggRow[] => {
    const hit = cache.get(by);
    if (hit) return hit;
    // Without primitives the table counts layer spans, whose layer is themselves.
    if (by === 'layer' && tableKind !== 2) return aggregate('op');
    const rowsOut: AggRow[] = [];
    const index = new Map<number, AggRow>();
    const labelOf = (key: number, s: number): [string, string, number] => {
      if (by === 'op') return [str(sigName[s]), '', sigCat[s]];
      if (by === 'shapes') {
        const detail = [str(sigShapes[s]), str(sigDtype[s])].filter(Boolean).join(' · ');
        return [str(sigName[s]), detail, sigCat[s]];
      }
      if (by === 'layer') return [key === 0 ? '(no layer)' : str(head.layers[key - 1]), '', -1];
      return [devices[key] ?? '?', '', -1];
    };
    // Each unit is a span, or (grouped) a sum of spans of one signature, layer and lane.
    const units = grouped ? grpSig.length : n;
    for (let i = 0; i < units; i++) {
      const s = grouped ? grpSig[i] : sig[i];
      if (sigKind[s] !== tableKind) continue;
      const slot = passSlot === null || grouped ? 0 : passSlot[i];
      if (slot < 0) continue;
      const dev = grouped ? grpDevice[i] : spanDevice[i];
      let key: number;
      if (by === 'op') {
        key = sigName[s];
      } else if (by === 'shapes') key = s;
      else if (by === 'layer') key = grouped ? grpLayer[i] : layer[i];
      else key = dev;
      let row = index.get(key);
      if (!row) {
        const [label, detail, cat] = labelOf(key, s);
        row = { key, label, detail, cat, calls: 0, total: 0, self: 0, flops: 0, flopsTime: 0, bytes: 0, bytesTime: 0, devices: 0,
          perPass: passSlot ? new Float64Array(slots) : null, pass: null };
        index.set(key, row);
        rowsOut.push(row);
      }
      const calls = grouped ? grpCalls[i] : 1;
      const d = grouped ? grpTotal[i] : dur[i];
      row.calls += calls;
      row.total += d;
      row.self += grouped ? d : self[i];
      const f = sigFlops[s];
      if (f === f) { row.flops += f * calls; row.flopsTime += d; }
      const b = sigBytes[s];
      if (b === b) { row.bytes += b * calls; row.bytesTime += d; }
      row.devices |= 1 << dev;
      if (row.perPass) row.perPass[slot] += d;
    }
    for (const r of rowsOut) if (r.perPass) r.pass = summarize(r.perPass);
    cache.set(by, rowsOut);
    return rowsOut;
  };

  // The roofline's ceilings as every view names them: the figures and where they come from.
  const pk = head.meta.peaks;
  const ceilings = pk.flops > 0 && pk.bandwidth > 0
    ? { flops: pk.flops, bandwidth: pk.bandwidth, measured: pk.measured, label: pk.label, note: pk.note,
      text: `${util.fmtRate(pk.flops, 'FLOP/s')} · ${util.fmtRate(pk.bandwidth, 'B/s')} (${pk.label})` }
    : null;

  return {
    head,
    ceilings,
    n,
    start,
    dur,
    end,
    self,
    sig,
    layer,
    spanDevice,
    devices,
    sigKind,
    sigCat,
    sigName,
    sigShapes,
    sigDtype,
    sigFlops,
    sigBytes,
    memT,
    memLive,
    counterT,
    counterV,
    passSlot,
    slots,
    passOf: (i: number) => {
      const c = passes && i < passCol.length ? passes.codes[passCol[i] - 1] : undefined;
      return c ? { pass: c.pass, warmup: c.warmup } : null;
    },
    spanId: (i: number) => {
      let lo = 0, hi = idPos.length;
      while (lo < hi) { const mid = (lo + hi) >>> 1; if (idPos[mid] < i) lo = mid + 1; else hi = mid; }
      return lo < idPos.length && idPos[lo] === i ? idVal[lo] : null;
    },
    summarize,
    tableKind,
    evalTime,
    wallTime,
    tableTime,
    str,
    kindOf: (i: number) => head.kinds[sigKind[sig[i]]] ?? 'user',
    aggregate,
  };
}
