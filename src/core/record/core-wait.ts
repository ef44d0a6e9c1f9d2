/**
 * How long each thread of this process has waited for a CPU core while runnable (Linux's
 * /proc/self/task/<tid>/schedstat, its second field, in ns). While MLX's thread waits so, busy time
 * passes with no primitive running: the report says how much, so a low coverage is read for what it
 * is. Elsewhere (no /proc) nothing is known and the map is empty.
 */
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync, readSync } from 'node:fs';

/** The calling thread's id (Linux: /proc/thread-self names <pid>/task/<tid>), or null where there is no /proc. */
export function currentThreadId(): number | null {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : null;
  } catch {
    return null;
  }
}

/** The wait for a core in a thread's schedstat text (its second field, ns), or null when it has none. */
function waitedIn(schedstat: string): number | null {
  const waited = Number(schedstat.split(' ')[1]);
  return Number.isFinite(waited) ? waited : null;
}

export function coreWaits(): Map<number, number> {
  const out = new Map<number, number>();
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const waited = waitedIn(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8'));
      if (waited !== null) out.set(Number(tid), waited);
    } catch {
      // the thread ended
    }
  }
  return out;
}

/**
 * ns the threads in `threads` waited for a core between two readings; null when unknown. A thread
 * missing from `before` was born since, and has waited only since then, when `before` read every
 * thread (coreWaits()); when it read only some (CoreWaitReader.read), nothing is known of it.
 */
export function waitedBetween(before: Map<number, number>, after: Map<number, number>, threads: Iterable<number>, beforeReadAll = true): number | null {
  let ns = 0;
  let known = false;
  for (const tid of threads) {
    const b = before.get(tid);
    if (b === undefined && !beforeReadAll) continue;
    const a = after.get(tid);
    if (a === undefined) continue;
    ns += a - (b ?? 0);
    known = true;
  }
  return known ? ns : null;
}

/** Threads a reader keeps a descriptor for, at most (a process rarely runs primitives on more than two). */
const MAX_READ_THREADS = 64;

/**
 * Reads the core waits of a few threads through descriptors kept open, one pread each. A take reads
 * the threads that ran its window's primitives, and the next window starts from the same ones: opening,
 * reading and closing every thread's file (coreWaits()) took ~250 µs a take with MLX's 12 threads,
 * against a few µs this way (docs/design.md, "A take's fixed cost").
 */
export class CoreWaitReader {
  private readonly fds = new Map<number, number>();
  private readonly buf = Buffer.alloc(256);
  private readonly decoder = new TextDecoder();

  /** The waits of `tids` now (ns) into `out`; a thread that ended, or that there is no file for, is left out. */
  read(tids: Iterable<number>, out = new Map<number, number>()): Map<number, number> {
    for (const tid of tids) {
      const waited = this.readOne(tid);
      if (waited !== null) out.set(tid, waited);
    }
    return out;
  }

  private readOne(tid: number): number | null {
    let fd = this.fds.get(tid);
    try {
      if (fd === undefined) {
        if (this.fds.size >= MAX_READ_THREADS) return null;
        fd = openSync(`/proc/self/task/${tid}/schedstat`, 'r');
        this.fds.set(tid, fd);
      }
      const n = readSync(fd, this.buf, 0, this.buf.length, 0);
      return waitedIn(this.decoder.decode(this.buf.subarray(0, n)));
    } catch {
      // No such thread (it ended, or there is no /proc): its descriptor, if any, goes.
      if (fd !== undefined) {
        this.fds.delete(tid);
        try {
          closeSync(fd);
        } catch {
          /* already gone */
        }
      }
      return null;
    }
  }
}
