/**
 * The timeline's geometry: the time axis on top, then per lane a header and one row per nesting depth, the memory
 * curve, and one small lane per counter track. Heights are fixed here; only the width follows the page.
 * Self-contained (no imports at run time): its source text is embedded in the report.
 */
import type { App } from '../types';
import type { TimelineLayout } from './types';

export function timelineLayout(app: App): TimelineLayout {
  const { head, model: m, util } = app;
  const AXIS = 22, LANE_HEAD = 18, ROW = 18, LANE_GAP = 8, MEM_LABEL = 16, MEM_H = 56, CTR_LABEL = 16, CTR_H = 32;
  const MAX_HEIGHT = 6000;
  const rowsN = head.rowLane.length;
  const rowY = new Float64Array(rowsN);
  const laneY: number[] = [];
  let y = AXIS + 4;
  let r0 = 0;
  head.lanes.forEach((lane, li) => {
    laneY[li] = y;
    y += LANE_HEAD;
    for (let d = 0; d < lane.rows; d++, r0++) { rowY[r0] = y; y += ROW; }
    y += LANE_GAP;
  });
  const hasMem = m.memT.length > 0;
  const memTop = y + MEM_LABEL;
  if (hasMem) y = memTop + MEM_H + 8;
  const ctrTop = head.counters.map(() => {
    const top = y + CTR_LABEL;
    y = top + CTR_H + 8;
    return top;
  });
  return {
    AXIS, LANE_HEAD, ROW, MEM_LABEL, MEM_H, CTR_LABEL, CTR_H,
    rowsN, off: head.rowOffset, rowY, laneY, hasMem, memTop, ctrTop,
    totalH: Math.min(MAX_HEIGHT, Math.max(y, AXIS + 40)),
    rowOf: (i) => Math.max(0, util.upperBound(head.rowOffset, 0, head.rowOffset.length, i) - 1),
  };
}
