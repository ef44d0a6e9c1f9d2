/**
 * Traces read from something that is not a regular file: a named pipe (FIFO), /dev/stdin, a
 * character device. Their bytes are copied to a temporary file first (the readers seek), and the
 * wait for them is bounded: the pipe is opened without blocking (a FIFO with no writer would block
 * open() forever) and polled, and a pipe that stays silent for `waitMs` is an error, not a hang.
 */
import { closeSync, constants, fstatSync, mkdtempSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AtomicFile } from './atomic-file';

/** How long a pipe may stay silent (before its first byte, or between two) before the read gives up. */
export const PIPE_WAIT_MS = 30_000;

/** Whether `path` exists and is neither a regular file nor a folder (a FIFO, a device, a socket). */
export function isSpecialFile(path: string): boolean {
  try {
    const st = statSync(path);
    return !st.isFile() && !st.isDirectory();
  } catch {
    return false;
  }
}

/** Thrown when nothing arrives within the wait. */
export class PipeTimeout extends Error {}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Copies everything readable from `path` into a new temporary file and returns its path and a
 * function that removes it. A named pipe is waited for until a writer has written and closed it;
 * /dev/stdin (and the other standard streams) end at their first end of file.
 */
export function spoolToTempFile(path: string, waitMs = PIPE_WAIT_MS): { file: string; remove: () => void } {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const dir = mkdtempSync(join(tmpdir(), 'mlx-trace-in-'));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  try {
    // A named pipe reads as ended until a writer opens it; the standard streams had theirs from the start.
    const waitForWriter = fstatSync(fd).isFIFO() && !/^\/(dev\/stdin|proc\/self\/fd\/0|dev\/fd\/0)$/.test(path);
    const out = new AtomicFile(join(dir, 'trace'));
    const buf = Buffer.allocUnsafe(1 << 20);
    let total = 0;
    let quietSince = Date.now();
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
        n = -1;
      }
      if (n > 0) {
        out.write(buf.subarray(0, n));
        total += n;
        quietSince = Date.now();
        continue;
      }
      if (n === 0 && (total > 0 || !waitForWriter)) break;
      if (Date.now() - quietSince > waitMs) {
        out.abandon();
        throw new PipeTimeout(`nothing ${total > 0 ? 'more ' : ''}arrived for ${Math.round(waitMs / 1000)} s (a pipe with no writer?)`);
      }
      Atomics.wait(pause, 0, 0, 5);
    }
    out.commit();
    return { file: join(dir, 'trace'), remove };
  } catch (e) {
    remove();
    throw e;
  } finally {
    closeSync(fd);
  }
}
