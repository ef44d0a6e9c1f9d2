/**
 * mlx-trace: a profiler for MLX programs in Node.js.
 * This file is the one public entry; each export is documented where it is defined.
 */

// Recording: the instrumentation and the ways to scope what it records.
export { registerMlxInstrumentation, activeInstrumentation, profile, withSpan, opTimer, takeManualTrace } from './instrumentations/mlx/api';
export type { ProfileOptions, OpTimerInfo } from './instrumentations/mlx/api';
export { MlxInstrumentation } from './instrumentations/mlx';
export type { MlxInstrumentationConfig } from './instrumentations/mlx';
export type { LiveHandle, LiveOptions } from './instrumentations/mlx/live';
export { traceFiles } from './instrumentations/mlx/schedule';
export type { ScheduleOptions, TraceFilesOptions } from './instrumentations/mlx/schedule';
export type { FlightRecorderOptions } from './instrumentations/mlx/flight';
export { MlxBatchSpanProcessor } from './instrumentations/mlx/otel-delivery';
export type { MlxBatchSizing } from './instrumentations/mlx/otel-delivery';
export type { OtlpLiveDelivery } from './core/model/meta';
export { profileGeneration } from './instrumentations/mlx/generation';
export type { GenerationOptions, GenerationStats } from './instrumentations/mlx/generation';

// The trace model, saved and loaded.
export { TRACE_SCHEMA, forEachSpan, childrenIndex, spanDuration } from './core/model/trace';
export type { Trace, Span, SpanKind, TensorInfo, MemoryEvent, TraceMeta, Peaks, HostInfo, Device, TimingMode } from './core/model/trace';
export { saveTrace, loadTrace, TraceFileError } from './core/io/persist';
export type { TraceFileErrorCode, SaveOptions, LoadOptions } from './core/io/persist';
export { mergeTraces } from './core/analysis/merge';
export type { MergeOptions } from './core/analysis/merge';

// Exporters: each reads a Trace and knows nothing of MLX.
export { formatReport, printReport } from './exporters/terminal/report';
export type { ReportOptions, ReportSortBy, ReportGroupBy } from './exporters/terminal/report';
export { exportHtml, renderHtml } from './exporters/html';
export type { HtmlOptions } from './exporters/html';
export { renderDiffHtml } from './exporters/html/diff';
export { exportChromeTrace, toChromeTraceEvents } from './exporters/chrome';
export type { ChromeTraceEvent, ChromeTraceOptions, ChromeExportResult } from './exporters/chrome';
export { exportPerfetto, toPerfetto } from './exporters/perfetto';
export type { PerfettoOptions, PerfettoExportResult } from './exporters/perfetto';
export { exportOtlp } from './exporters/otlp';
export type { OtlpExportOptions, OtlpExportResult } from './exporters/otlp';

// Analysis: cost, roofline peaks, statistics, comparison, advice.
export { estimateCost, missingCostFormulas, derivedMetrics } from './core/cost';
export type { Cost, CostHints, MissingCost, DerivedMetrics } from './core/cost';
export { opCategory } from './core/model/categories';
export type { OpCategory } from './core/model/categories';
export { calibratePeaks, loadPeaks, savePeaks } from './core/cost/calibrate';
export type { CalibrateOptions, CalibratedPeaks } from './core/cost/calibrate';
export { passStats, withPassStats } from './core/analysis/stats';
export { formatPassStats } from './exporters/terminal/pass-stats';
export type { PassStats, PassStatsRow, PassStatsOptions } from './core/analysis/stats';
export { compareTraces, regressions } from './core/analysis/compare';
export type { Comparison, CompareRow, CompareOptions, Regression, RegressionOptions } from './core/analysis/compare';
export { advise } from './core/analysis/advisor';
export type { Finding, Severity, AdviceRule } from './core/analysis/advisor';
export { formatFindings } from './exporters/terminal/findings';
export type { FormatFindingsOptions } from './exporters/terminal/findings';

// Benchmarks of MLX itself, as traces.
export { benchOps } from './bench/runner';
export type { BenchOpsOptions, BenchOpsResult } from './bench/runner';
export { benchModel } from './bench/model-bench';
export type { BenchModelOptions, BenchModelResult } from './bench/model-bench';
