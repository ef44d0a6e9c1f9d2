import { describeCeilings, measurePeaks, savePeaks } from '../../core/cost/calibrate';
import { formatSI } from '../../exporters/terminal/format';
import { loadMlx } from '../../core/record/load-mlx';
import { registerMlxInstrumentation } from '../../instrumentations/mlx/api';
import { UsageError, err, out } from '../ui';
import type { Command } from './index';

export const calibrateCommand: Command = {
  summary: "measure this machine's peak FLOP/s and memory bandwidth for the roofline",
  help: `Usage: mlx-trace calibrate [--seconds S] [--dry-run]

Runs short float32 matmuls and vector adds with MLX under the profiler and stores the best rates of
their primitive spans, timed by the native hooks as every op of a trace is; traces recorded afterwards
carry them (meta.peaks) and the roofline draws its ceilings from them.

Options:
  --seconds S   time spent on timed rounds (default: 1)
  --dry-run     measure and print, do not store`,
  options: { seconds: { type: 'string' }, 'dry-run': { type: 'boolean' } },
  async run(values) {
    const seconds = values.seconds === undefined ? 1 : Number(values.seconds);
    if (!(Number.isFinite(seconds) && seconds >= 0)) throw new UsageError(`--seconds must be a number >= 0, not "${values.seconds}"`);
    const mlx = loadMlx();
    const inst = registerMlxInstrumentation();
    try {
      if (inst.timing !== 'native') {
        err(`mlx-trace calibrate: the native hook layer is not in use (${inst.fallbackReason}); the ceilings are measured with its timing, so nothing was measured`);
        return 1;
      }
      const peaks = measurePeaks(mlx.core, (work) => {
        inst.takeTrace(); // set-up and warm-up work left out
        work();
        return inst.takeTrace().spans;
      }, { seconds });
      const { matmul, add } = peaks.details;
      out(`compute:   ${formatSI(peaks.flops, 'FLOP/s')} (fastest of ${matmul.spans} Matmul spans)`);
      out(`bandwidth: ${formatSI(peaks.bandwidth, 'B/s')} (fastest of ${add.spans} element-wise spans: ${add.op})`);
      out(`ceilings:  ${describeCeilings(peaks).label}`);
      if (!values['dry-run']) out(`stored in ${savePeaks(peaks)}`);
      return 0;
    } finally {
      inst.disable();
    }
  },
};
