import { calibratePeaks, savePeaks } from '../../core/cost/calibrate';
import { formatSI } from '../../exporters/terminal/format';
import { loadMlx } from '../../core/record/load-mlx';
import { out } from '../ui';
import type { Command } from './index';

export const calibrateCommand: Command = {
  summary: "measure this machine's peak FLOP/s and memory bandwidth for the roofline",
  help: `Usage: mlx-trace calibrate [--seconds S] [--dry-run]

Runs a large float32 matmul and a large copy with MLX and stores the best rates; traces recorded
afterwards carry them (meta.peaks) and the roofline draws its ceilings from them.

Options:
  --seconds S   time budget per measurement (default: 1)
  --dry-run     measure and print, do not store`,
  options: { seconds: { type: 'string' }, 'dry-run': { type: 'boolean' } },
  async run(values) {
    const mlx = loadMlx();
    const seconds = values.seconds === undefined ? undefined : Number(values.seconds);
    const peaks = calibratePeaks(mlx.core, { seconds });
    out(`compute:   ${formatSI(peaks.flops, 'FLOP/s')}`);
    out(`bandwidth: ${formatSI(peaks.bandwidth, 'B/s')}`);
    if (!values['dry-run']) out(`stored in ${savePeaks(peaks)}`);
    return 0;
  },
};
