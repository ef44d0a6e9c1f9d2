// Shared by benchmark cases: the envelope of a generated trace.

/** A Trace around generated spans and memory events, with fixed metadata so runs compare. */
export function benchTrace(spans, memory) {
  return {
    schema: 'mlx-trace/1', name: 'bench', spans, memory, dropped: 0,
    meta: {
      timing: 'native', createdAt: new Date(0).toISOString(), origin: { monotonicNs: 0, epochNs: '0' },
      host: { platform: 'linux', arch: 'x64', cpuModel: 'bench', cpus: 2, totalMemory: 0, hostname: 'bench' },
      versions: { mlx: '0.0.7', node: process.versions.node, mlxTrace: '0.1.0' },
      peaks: { flops: 1e11, bandwidth: 2e10, source: 'default' },
    },
  };
}
