/**
 * The timeline's shared state and the shapes of its units. Type-only: each unit is a self-contained function whose
 * source text is embedded in the report (see ../../template.ts); installTimeline receives them as parts and they
 * share one TimelineState object.
 */
import type { App, Theme } from '../types';

/** Geometry fixed at install time: where each lane, row, the memory curve and each counter lane sit (CSS px). */
export interface TimelineLayout {
  AXIS: number;
  LANE_HEAD: number;
  ROW: number;
  MEM_LABEL: number;
  MEM_H: number;
  CTR_LABEL: number;
  CTR_H: number;
  rowsN: number;
  /** head.rowOffset: row r's spans are positions off[r] .. off[r + 1]. */
  off: number[];
  rowY: Float64Array;
  laneY: number[];
  hasMem: boolean;
  memTop: number;
  /** Top of each counter lane's plot. */
  ctrTop: number[];
  totalH: number;
  /** The row span position i lies in. */
  rowOf(i: number): number;
}

/** Spans picked by the current selection, per row: ix[rowOff[r] .. rowOff[r + 1]) are row r's. */
export interface HighlightSet {
  ix: Int32Array;
  rowOff: Int32Array;
}

export interface TimelineState {
  app: App;
  canvas: HTMLCanvasElement;
  layout: TimelineLayout;
  /** First span start and last span end (or a short range for an empty trace); the axis counts from span0. */
  span0: number;
  span1: number;
  /** The widest view (a little room after the last span) and the narrowest range in ns. */
  fullS: number;
  fullE: number;
  minRange: number;
  /** The visible time range. */
  viewS: number;
  viewE: number;
  /** Canvas width in CSS px, as of the last draw. */
  W: number;
  /** Span under the pointer, and the span whose details are shown (-1: none). */
  hover: number;
  selected: number;
  sel: HighlightSet | null;
  /** Redraws at the next animation frame (once however often it is called). */
  schedule(): void;
}

export interface TimelineView {
  set(start: number, end: number): void;
  zoomAt(factor: number, anchor: number): void;
  pan(px: number): void;
}

export interface TimelineTick {
  /** Canvas x and time of the tick, and its label. */
  x: number;
  t: number;
  label: string;
}

export interface TimelineAxis {
  ticks(): TimelineTick[];
  draw(ctx: CanvasRenderingContext2D, th: Theme): void;
  /** "Showing a – b (length of total)" for the visible range. */
  rangeText(): string;
}

export interface SpanPainter {
  /** Every row's spans; then the highlighted ones on top, and the hovered and selected outlines. */
  draw(ctx: CanvasRenderingContext2D, th: Theme): void;
}

export interface TrackPainter {
  draw(ctx: CanvasRenderingContext2D, th: Theme): void;
  /** Tooltip title and rows for the memory curve or a counter lane at (x, y), or null when y is over neither. */
  tipAt(x: number, y: number): { title: string; rows: [string, string][] } | null;
}

export interface TimelineDetails {
  /** The span under (x, y), preferring one that contains the time; and how many spans share that pixel. */
  hitTest(x: number, y: number): { span: number; inPixel: number } | null;
  describe(i: number, inPixel: number): [string, string][];
  /** Shows span i in the details panel, after an optional lead line. */
  show(i: number, lead?: string): void;
  /** Replaces the panel with a line of text. */
  note(text: string, muted?: boolean): void;
  /** Canvas coordinates of the middle of the first span with this name that is at least 4 px wide in view. */
  locate(name: string): { x: number; y: number } | null;
}

export interface TimelineSelection {
  /** Selects span i's op in every view and shows its details. */
  pick(i: number): void;
  /** Centers the next (or previous) highlighted span and shows its details. */
  jump(dir: 1 | -1): void;
}

export interface TimelineHandle {
  draw(): void;
  view(): { start: number; end: number };
  setView(start: number, end: number): void;
  /** Canvas coordinates of the middle of the first span with this name that is at least 4 px wide in view (for tests and automation). */
  locate(name: string): { x: number; y: number } | null;
  /** The counter lanes: name, unit and the plot's box in canvas coordinates. */
  counterLanes(): { name: string; unit: string; y: number; h: number }[];
  /** Positions of the highlighted spans (the selection), ascending. */
  highlighted(): number[];
  /** The time axis' ticks as last drawn. */
  ticks(): TimelineTick[];
  /** The visible range line under the canvas. */
  rangeText(): string;
}

/** The units installTimeline puts together (see ../types.ts ClientParts). */
export interface TimelineParts {
  timelineLayout(app: App): TimelineLayout;
  timelineView(st: TimelineState): TimelineView;
  timelineAxis(st: TimelineState): TimelineAxis;
  timelineSpans(st: TimelineState): SpanPainter;
  timelineTracks(st: TimelineState): TrackPainter;
  timelineDetails(st: TimelineState, root: HTMLElement): TimelineDetails;
  timelineInput(st: TimelineState, view: TimelineView, details: TimelineDetails, tracks: TrackPainter, selection: TimelineSelection): void;
  timelineSelection(st: TimelineState, view: TimelineView, details: TimelineDetails): TimelineSelection;
}
