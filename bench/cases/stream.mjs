// Streaming recording (registerMlxInstrumentation({ stream })): RSS growth while an MLX loop records
// 10M primitives to a .mlxtrace file, from the RSS once the first ~1M are recorded (columns, encoder
// buffers and the allocator warmed up) to the highest RSS seen after, scaled to 10M when a time
// budget cut the loop short (extra.primitives says how many were recorded). Goal: at most 50 MB.
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';

const require = createRequire(import.meta.url);
const sdk = require('../../dist/index.js');

const TARGET = 10_000_000;
const WARM = 1_000_000;
/** The loop stops here whatever it has recorded, and the growth is scaled to TARGET. */
const BUDGET_MS = 240_000;

export default [
  {
    id: 'stream.rss_growth_mb_per_10m_spans',
    unit: 'MB',
    goal: 50,
    better: 'lower',
    async run() {
      const dir = mkdtempSync(join(tmpdir(), 'mlx-trace-bench-stream-'));
      const path = join(dir, 'trace.mlxtrace');
      try {
        const inst = sdk.registerMlxInstrumentation({ stream: { path } });
        const { core: mx } = require('@frost-beta/mlx');
        // One eval of a chain of 1,000 adds: ~2,000 primitives (each add and its broadcast).
        const step = () => {
          let x = mx.ones([8]);
          for (let i = 0; i < 1000; i++) x = mx.add(x, 1);
          mx.eval(x);
        };
        const t0 = Date.now();
        let base = 0;
        let peak = 0;
        let recorded = 0;
        const written = () => inst.recorder.held + inst.streamedSpans;
        while (recorded < TARGET && Date.now() - t0 < BUDGET_MS) {
          step();
          // The flush timer runs between tasks, as in an app that serves requests.
          await tick();
          recorded = written();
          const rss = process.memoryUsage.rss();
          if (base === 0) {
            if (recorded >= WARM) base = rss;
          } else if (rss > peak) peak = rss;
        }
        const spans = inst.endStream();
        const growth = (Math.max(peak, base) - base) / 2 ** 20;
        const measured = spans - WARM;
        return {
          value: (growth * (TARGET - WARM)) / measured,
          extra: {
            primitives: spans,
            scaledFrom: measured < TARGET - WARM ? measured : undefined,
            growthMb: Math.round(growth * 10) / 10,
            fileMb: Math.round(statSync(path).size / 2 ** 20),
            seconds: Math.round((Date.now() - t0) / 1000),
            load1: loadavg()[0],
          },
        };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  },
];
