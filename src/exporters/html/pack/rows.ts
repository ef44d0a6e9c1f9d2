/**
 * Flame rows: lanes (device + thread) ordered by their first span, each lane's spans stacked by nesting depth, and
 * the span columns laid out row after row in start order, so the page can binary-search a row for the visible time
 * range. Nesting in time, not parentId, decides the row, so a lane's rows never overlap even when parents live on
 * another thread.
 */
import type { HeadLane } from '../format';
import { uintColumn } from './common';
import type { SpanScan } from './spans';

export interface RowLayout {
  lanes: HeadLane[];
  rowLane: number[];
  rowDepth: number[];
  /** Where each row's spans start in the span columns (rows + 1 entries). */
  rowOffset: number[];
  /** Position in the span columns of each compact index, when asked for. */
  posOfV: Int32Array | null;
  columns: SpanColumns;
}

type UintColumn = ReturnType<typeof uintColumn>;

/** The per-span columns, in row order; pass only for a trace with passes. */
export interface SpanColumns {
  start: Float64Array;
  dur: Float32Array;
  sig: UintColumn;
  layer: UintColumn;
  pass: UintColumn | null;
}

/** Lays out the rows and fills the span columns. */
export function layoutRows(scan: SpanScan, wantPositions: boolean): RowLayout {
  const { laneOrder, laneStart, byLane } = groupByLane(scan);
  const { depth, laneRows } = nestLanes(scan, laneStart, byLane);
  const rowLane: number[] = [];
  const rowDepth: number[] = [];
  const rowBase: number[] = [];
  laneRows.forEach((rows, lane) => {
    rowBase.push(rowLane.length);
    for (let d = 0; d < rows; d++) { rowLane.push(lane); rowDepth.push(d); }
  });
  const posOfV = wantPositions ? new Int32Array(scan.n) : null;
  const { rowOffset, columns } = fillColumns(scan, { laneStart, byLane, depth, rowBase, rows: rowLane.length, posOfV });
  const info = scan.lanes.info;
  return {
    lanes: laneOrder.map((l, rank) => ({ device: info[l].device, thread: info[l].thread, rows: laneRows[rank] })),
    rowLane,
    rowDepth,
    rowOffset,
    posOfV,
    columns,
  };
}

/**
 * What grouping and nesting read of a scan. The live page lays its window out batch by batch instead
 * (src/exporters/live/client/store.ts); these two are what test/e2e/live-layout.test.ts holds it to.
 */
export interface LaneScan {
  n: number;
  start: ArrayLike<number>;
  end: ArrayLike<number>;
  lane: ArrayLike<number>;
  lanes: { info: { thread: number; first: number }[] };
}

/** Lanes ordered by their first span; spans grouped by lane rank (a counting sort keeps trace order within a lane). */
export function groupByLane(scan: LaneScan): { laneOrder: number[]; laneStart: Int32Array; byLane: Int32Array } {
  const info = scan.lanes.info;
  const n = scan.n;
  const laneOrder = info.map((_, i) => i).sort((a, b) => info[a].first - info[b].first || info[a].thread - info[b].thread);
  const laneRank = new Int32Array(info.length);
  laneOrder.forEach((l, rank) => { laneRank[l] = rank; });
  const laneStart = new Int32Array(info.length + 1);
  for (let k = 0; k < n; k++) laneStart[laneRank[scan.lane[k]] + 1]++;
  for (let l = 0; l < info.length; l++) laneStart[l + 1] += laneStart[l];
  const byLane = new Int32Array(n);
  const cursor = laneStart.slice(0, info.length);
  for (let k = 0; k < n; k++) byLane[cursor[laneRank[scan.lane[k]]]++] = k;
  return { laneOrder, laneStart, byLane };
}

/** Per lane: start order (parents before children on ties), then each span's depth by interval nesting. */
export function nestLanes(scan: LaneScan, laneStart: Int32Array, byLane: Int32Array): { depth: Uint16Array; laneRows: number[] } {
  const vStart = scan.start, vEnd = scan.end;
  const depth = new Uint16Array(scan.n);
  const laneRows: number[] = [];
  const stack = new Float64Array(65536);
  for (let l = 0; l + 1 < laneStart.length; l++) {
    const lo = laneStart[l], hi = laneStart[l + 1];
    let inOrder = true;
    for (let k = lo + 1; k < hi; k++) {
      const a = byLane[k - 1], b = byLane[k];
      if (vStart[a] > vStart[b] || (vStart[a] === vStart[b] && vEnd[a] < vEnd[b])) { inOrder = false; break; }
    }
    if (!inOrder) {
      // A plain array sort (TimSort) is fast on the nearly sorted order recorders produce.
      const idx = Array.from(byLane.subarray(lo, hi));
      idx.sort((x, y) => vStart[x] - vStart[y] || vEnd[y] - vEnd[x] || x - y);
      byLane.set(idx, lo);
    }
    let top = 0;
    let maxDepth = 0;
    for (let k = lo; k < hi; k++) {
      const v = byLane[k];
      const st = vStart[v];
      while (top > 0 && stack[top - 1] <= st) top--;
      const d = Math.min(top, 65535);
      depth[v] = d;
      if (d > maxDepth) maxDepth = d;
      if (top < stack.length) stack[top++] = vEnd[v];
    }
    laneRows.push(hi > lo ? maxDepth + 1 : 0);
  }
  return { depth, laneRows };
}

interface Grouped {
  laneStart: Int32Array;
  byLane: Int32Array;
  depth: Uint16Array;
  rowBase: number[];
  rows: number;
  posOfV: Int32Array | null;
}

/** Rows lane by lane, depth by depth; a stable counting sort keeps start order inside each row. */
function fillColumns(scan: SpanScan, g: Grouped): { rowOffset: number[]; columns: SpanColumns } {
  const { laneStart, byLane, depth, rowBase, posOfV } = g;
  const lanes = laneStart.length - 1;
  const n = scan.n;
  const rowOffset: number[] = new Array(g.rows + 1).fill(0);
  for (let l = 0; l < lanes; l++) {
    for (let k = laneStart[l]; k < laneStart[l + 1]; k++) rowOffset[rowBase[l] + depth[byLane[k]] + 1]++;
  }
  for (let r = 1; r <= g.rows; r++) rowOffset[r] += rowOffset[r - 1];
  const fill = rowOffset.slice(0, g.rows);
  const start = new Float64Array(n);
  const dur = new Float32Array(n);
  const sigCol = uintColumn(scan.sigs.size, n);
  const layerCol = uintColumn(scan.layers.list.length + 1, n);
  const vPass = scan.passes.column;
  const passCol = vPass ? uintColumn(scan.passes.codes.length + 1, n) : null;
  for (let l = 0; l < lanes; l++) {
    for (let k = laneStart[l]; k < laneStart[l + 1]; k++) {
      const v = byLane[k];
      const p = fill[rowBase[l] + depth[v]]++;
      start[p] = scan.start[v];
      dur[p] = scan.end[v] - scan.start[v];
      sigCol.data[p] = scan.sig[v];
      layerCol.data[p] = scan.layer[v];
      if (passCol) passCol.data[p] = vPass![v];
      if (posOfV) posOfV[v] = p;
    }
  }
  return { rowOffset, columns: { start, dur, sig: sigCol, layer: layerCol, pass: passCol } };
}
