/** What the CLI prints: one-line errors, NO_COLOR-aware styling, a progress bar on TTY stderr only. */
import { shouldColor, makeColors } from '../exporters/terminal/format';

export class UsageError extends Error {}
/** A check that ran and failed (exit code 1), as opposed to a usage error (2). */
export class CheckFailed extends Error {}

export const out = (s = '') => process.stdout.write(s + '\n');
export const err = (s: string) => process.stderr.write(s + '\n');
export const colors = () => makeColors(shouldColor(process.stdout));

/**
 * A one-line progress bar on stderr, only when stderr is a TTY (not in CI, not in a pipe). It redraws with
 * '\r' and pads with spaces instead of the erase-line escape, so NO_COLOR terminals get no escape at all.
 */
export class Progress {
  private last = 0;
  private drawn = 0;
  private readonly on = !!process.stderr.isTTY && !process.env.CI;
  constructor(private readonly label: string, private readonly total: number) {}
  tick(done: number, note = ''): void {
    if (!this.on) return;
    const t = Date.now();
    if (t - this.last < 50 && done < this.total) return;
    this.last = t;
    const width = 24;
    const frac = this.total ? Math.min(1, done / this.total) : 1;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
    const line = `${this.label} [${bar}] ${done}/${this.total} ${note}`.slice(0, (process.stderr.columns || 80) - 1);
    process.stderr.write('\r' + line.padEnd(this.drawn));
    this.drawn = line.length;
  }
  done(): void {
    if (this.on && this.drawn > 0) process.stderr.write('\r' + ' '.repeat(this.drawn) + '\r');
    this.drawn = 0;
  }
}
