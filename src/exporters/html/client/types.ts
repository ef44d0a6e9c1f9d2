/**
 * Types shared by the page's script modules. Type-only: each client module is a self-contained function whose source
 * text is embedded in the report (see ../template.ts), so the modules talk only through these shapes at run time.
 */
import type { Head } from '../format';
import type { TimelineHandle, TimelineParts } from './timeline/types';

export type Uints = Uint8Array | Uint16Array | Uint32Array;

export interface Util {
  fmtNs(ns: number): string;
  fmtBytes(b: number): string;
  fmtFlops(f: number): string;
  fmtRate(perSecond: number, unit: string): string;
  fmtCount(n: number): string;
  fmtPct(x: number): string;
  /** First index in [lo, hi) with a[i] >= x (a sorted ascending). */
  lowerBound(a: ArrayLike<number>, lo: number, hi: number, x: number): number;
  /** First index in [lo, hi) with a[i] > x. */
  upperBound(a: ArrayLike<number>, lo: number, hi: number, x: number): number;
  /** createElement with text children only: names from the trace never pass through innerHTML. */
  el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Record<string, string>, ...children: (Node | string)[]): HTMLElementTagNameMap[K];
  cssVar(name: string): string;
  /** Black or white, whichever reads better on this color. */
  textOn(color: string): string;
  showTip(rows: [string, string][], title: string, x: number, y: number): void;
  hideTip(): void;
  /** Sizes a canvas to its CSS box times devicePixelRatio; returns the 2D context scaled to CSS pixels. */
  fitCanvas(c: HTMLCanvasElement, cssHeight: number): { ctx: CanvasRenderingContext2D; w: number; h: number };
  /** Calls fn (once per frame at most) when the element's width changes, until signal aborts; heights are ours, so they are ignored. */
  onWidth(el: Element, fn: () => void, signal?: AbortSignal): void;
  /** Bytes of base64 text (each call a fresh buffer at offset 0). */
  fromBase64(s: string): Uint8Array;
}

/** Aggregated spans for the table, roofline and donut. */
export interface AggRow {
  key: number;
  label: string;
  /** Second line (shapes · dtype) when grouped by op + shapes. */
  detail: string;
  /** Category index, or -1 when mixed / not an op. */
  cat: number;
  calls: number;
  total: number;
  self: number;
  /** FLOPs and the time of the calls that had a cost; same for bytes. */
  flops: number;
  flopsTime: number;
  bytes: number;
  bytesTime: number;
  /** Bit per device index (Model.devices). */
  devices: number;
  /** Multi-pass traces: the row's time in each measured pass, and its mean, p50, p95 and std over them. */
  perPass: Float64Array | null;
  pass: PassSummary | null;
}

export interface PassSummary {
  mean: number;
  p50: number;
  p95: number;
  std: number;
}

export type GroupBy = 'op' | 'shapes' | 'layer' | 'device';

export interface Model {
  head: Head;
  n: number;
  start: Float64Array;
  dur: Float32Array;
  end: Float64Array;
  /** Duration minus the time of the spans nested directly inside, in the same lane. */
  self: Float64Array;
  sig: Uints;
  layer: Uints;
  /** Device index (into devices) of each span's lane. */
  spanDevice: Uint8Array;
  devices: string[];
  sigKind: Uint8Array;
  sigCat: Uint8Array;
  sigName: Uint32Array;
  sigShapes: Uint32Array;
  sigDtype: Uint32Array;
  sigFlops: Float64Array;
  sigBytes: Float64Array;
  memT: Float64Array;
  memLive: Float64Array;
  /** Counter tracks' points (head.counters gives each track's slice). */
  counterT: Float64Array;
  counterV: Float64Array;
  /**
   * Multi-pass traces: per span, the slot of its measured pass (index into head.passes.measured), or -1 for a span
   * of a warm-up pass or outside the passes, which no statistic, total or chart counts. Null without passes.
   */
  passSlot: Int32Array | null;
  /** Measured passes (1 for a trace without passes). */
  slots: number;
  /** Pass number and whether it was a warm-up, for a span of a multi-pass trace; null otherwise. */
  passOf(span: number): { pass: number; warmup: boolean } | null;
  /** The trace's span id, for spans the report carries ids for (evidence, tokens); else null. */
  spanId(span: number): number | null;
  /** mean, p50, p95 (linear interpolation, as src/core/analysis/passes.ts) and sample std of some values. */
  summarize(values: ArrayLike<number>): PassSummary;
  /** Kind code of the spans the table counts: primitives, or when a trace has none, layers. */
  tableKind: number;
  /** Union of eval spans' time (the denominator of %), or the trace's span when it has no evals. */
  evalTime: number;
  wallTime: number;
  /** Sum of the table kind's span time. */
  tableTime: number;
  /**
   * The roofline's ceilings (null when the trace has none), whether they were measured on the recording machine,
   * and how views say so: label (a few words), note (a sentence), text ('50.0 GFLOP/s · 10.0 GB/s (label)').
   */
  ceilings: { flops: number; bandwidth: number; measured: boolean; label: string; note: string; text: string } | null;
  str(id: number): string;
  kindOf(span: number): string;
  aggregate(by: GroupBy): AggRow[];
}

/**
 * What is selected across views: every span whose group key (under `by`) equals `key`; or, when `spans` is given
 * (a finding's evidence, a generated token), exactly those spans (positions, ascending), and by/key are unused.
 */
export interface Selection {
  by: GroupBy;
  key: number;
  label: string;
  source: string;
  spans?: Int32Array;
}

export interface App {
  head: Head;
  util: Util;
  model: Model;
  /** Category color for a sig's category index, or a kind color for non-primitive spans. */
  colors(): Theme;
  select(sel: Selection | null): void;
  onSelect(fn: (sel: Selection | null) => void): void;
  /** Keys of the group a span belongs to, for each grouping (-1: the span is in no group of the table). */
  groupKeyOfSpan(span: number, by: GroupBy): number;
  /** Whether the selection holds this span. */
  isSelected(sel: Selection, span: number): boolean;
  onTheme(fn: () => void): void;
  /** Calls fn when the data grew (the live view), after the model and head changed in place and before the selection is sent again. */
  onData(fn: () => void): void;
  /** Aborts when the view is installed anew (the live view): for listeners on elements outside the view's own section. */
  signal?: AbortSignal;
  /** Publishes a test/automation handle on window.__mlxTrace. */
  expose(name: string, value: unknown): void;
}

export interface Theme {
  bg: string;
  fg: string;
  muted: string;
  grid: string;
  panel: string;
  accent: string;
  sel: string;
  cat: string[];
  kind: string[];
  merged: string;
  memLine: string;
  memFill: string;
  /** Counter lanes' line and the generation chart's bars. */
  counter: string;
  token: string;
}

export interface ClientParts extends TimelineParts {
  makeUtil: () => Util;
  buildModel: (head: Head, util: Util, columns?: Map<string, string | ArrayBufferView>) => Model;
  installSummary: (app: App) => void;
  installGeneration: (app: App) => void;
  installTimeline: (app: App, parts: TimelineParts) => TimelineHandle;
  installRoofline: (app: App) => void;
  installDonut: (app: App) => void;
  installTable: (app: App) => void;
}

/** A head and its columns (base64, or typed arrays, by column id) handed to clientMain instead of the page's own (the live view). */
export interface ClientData {
  head: Head;
  columns: Map<string, string | ArrayBufferView>;
  /** Kept across mounts, so its tooltip element is made once. */
  util?: Util;
  /** The last data (the live app ended): every view shows it, however recently it was updated. */
  final?: boolean;
}
