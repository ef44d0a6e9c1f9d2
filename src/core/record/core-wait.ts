/**
 * How long each thread of this process has waited for a CPU core while runnable (Linux's
 * /proc/self/task/<tid>/schedstat, its second field, in ns). While MLX's thread waits so, busy time
 * passes with no primitive running: the report says how much, so a low coverage is read for what it
 * is. Elsewhere (no /proc) nothing is known and the map is empty.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** The calling thread's id (Linux: /proc/thread-self names <pid>/task/<tid>), or null where there is no /proc. */
export function currentThreadId(): number | null {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : null;
  } catch {
    return null;
  }
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
      const waited = Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[1]);
      if (Number.isFinite(waited)) out.set(Number(tid), waited);
    } catch {
      // the thread ended
    }
  }
  return out;
}

/** ns the threads in `threads` waited for a core between two coreWaits() readings; null when unknown. */
export function waitedBetween(before: Map<number, number>, after: Map<number, number>, threads: Iterable<number>): number | null {
  let ns = 0;
  let known = false;
  for (const tid of threads) {
    const b = before.get(tid) ?? 0; // a thread born since `before` has waited only since then
    const a = after.get(tid);
    if (a === undefined) continue;
    ns += a - b;
    known = true;
  }
  return known ? ns : null;
}
