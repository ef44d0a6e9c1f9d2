/**
 * mlx-trace: a profiler for MLX programs in Node.js.
 * This file is the one public entry; each export is documented where it is defined.
 */
export { TRACE_SCHEMA, forEachSpan, childrenIndex, spanDuration } from './core/trace';
export type { Trace, Span, SpanKind, TensorInfo, MemoryEvent, TraceMeta, Peaks, HostInfo, Device, TimingMode } from './core/trace';
export { exportOtlp, resolveOtlpUrl } from './exporters/otlp';
export type { OtlpExportOptions, OtlpExportResult } from './exporters/otlp';
export { formatReport, printReport, summarizeReport } from './exporters/report';
export type { ReportOptions, ReportRow, ReportSummary, ReportSortBy, ReportGroupBy } from './exporters/report';
export { formatDuration, formatBytes, formatCount, formatSI, formatPercent, shouldColor } from './core/format';
export { exportHtml, renderHtml } from './exporters/html';
export type { HtmlOptions } from './exporters/html';
export { opCategory, OP_CATEGORIES, OP_CATEGORY_LABELS } from './core/categories';
export type { OpCategory } from './core/categories';
export { exportChromeTrace, toChromeTraceEvents } from './exporters/chrome';
export type { ChromeTraceEvent, ChromeTraceOptions, ChromeExportResult } from './exporters/chrome';
export { exportPerfetto, toPerfetto } from './exporters/perfetto';
export type { PerfettoOptions, PerfettoExportResult } from './exporters/perfetto';
export { saveTrace, loadTrace, TraceFileError } from './core/persist';
export type { TraceFileErrorCode, SaveOptions, LoadOptions } from './core/persist';
export { estimateCost, COST_FORMULAS, missingCostFormulas, applyCostModel, derivedMetrics, costReason, resolveOpName } from './core/cost';
export type { Cost, CostHints, CostFormula, MissingCost, DerivedMetrics } from './core/cost';
export { calibratePeaks, loadPeaks, savePeaks, defaultPeaks, readPeaksFile, peaksFilePath } from './core/calibrate';
export type { CalibrateOptions, CalibratedPeaks, CalibrationMlx, PeaksFile } from './core/calibrate';
export { registerMlxInstrumentation, activeInstrumentation, profile, withSpan, opTimer, takeManualTrace } from './core/api';
export type { ProfileOptions, OpTimerInfo } from './core/api';
export { MlxInstrumentation } from './instrumentations/mlx';
export type { MlxInstrumentationConfig } from './instrumentations/mlx';
export { profileGeneration } from './core/generation';
export type { GenerationOptions, GenerationStats } from './core/generation';
export { advise, formatFindings } from './core/advisor';
export type { Finding, Severity, AdviceRule, FormatFindingsOptions } from './core/advisor';
export { compareTraces, regressions } from './core/compare';
export type { Comparison, CompareRow, CompareOptions, Regression, RegressionOptions } from './core/compare';
export { passStats, withPassStats, formatPassStats } from './core/stats';
export type { PassStats, PassStatsRow, PassStatsOptions } from './core/stats';
export { renderDiffHtml } from './exporters/html/diff';
export { benchOps } from './bench/runner';
export type { BenchOpsOptions, BenchOpsResult } from './bench/runner';
export { benchModel } from './bench/model-bench';
export type { BenchModelOptions, BenchModelResult } from './bench/model-bench';
export { mergeTraces } from './core/merge';
export type { MergeOptions } from './core/merge';
