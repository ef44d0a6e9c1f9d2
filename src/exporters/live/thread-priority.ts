/**
 * Lowers the calling thread's scheduling priority (Linux: nice applies per thread, and a thread id
 * is a pid to setpriority). The live server's thread calls it: its work (keeping the window, packing
 * batches, serving pages) can wait, while the app's threads, on a machine with few cores, cannot.
 * Returns the nice value the thread now has, or null where it stays as it was.
 */
import { getPriority, setPriority } from 'node:os';
import { currentThreadId } from '../../core/record/core-wait';

/** Nice 10: under full load the thread still gets about a tenth of a core (CFS weight 110 of 1024), enough to keep up. */
export const LIVE_THREAD_NICE = 10;

export function lowerThreadPriority(nice = LIVE_THREAD_NICE): number | null {
  if (process.platform !== 'linux') return null;
  const tid = currentThreadId();
  if (tid === null) return null;
  try {
    setPriority(tid, Math.max(getPriority(tid), nice));
    return getPriority(tid);
  } catch {
    return null; // not allowed here (a sandbox), or no /proc: the thread keeps its priority
  }
}
