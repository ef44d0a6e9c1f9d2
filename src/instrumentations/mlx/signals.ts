/**
 * Ending signals for a profiled process (the preload's side). SIGINT, SIGTERM and SIGHUP write the
 * trace before the process ends:
 * - with no handler of the app's own, the trace is written and the signal raised again with its
 *   default action, so the process still dies of it and its exit status says so;
 * - when the app listens for the signal itself, its handler decides, as it would unprofiled; the trace
 *   is written by the 'exit' hook when the app ends.
 * `mlx-trace run` forwards the signals its parent process gets over a control pipe
 * (MLX_TRACE_CONTROL_FD) rather than as signals: a Ctrl-C reaches both processes of the group, and the
 * app must see it once. A forwarded signal is raised here unless the same one arrived directly just
 * before; each forwarded line is answered with "ack", so run knows the app's event loop is turning.
 * An app whose JS thread never yields (a synchronous training loop) runs no listener at all: the
 * native layer records the signal and the next eval or sync point handles it the same way (write,
 * then raise), unless the app has a listener of its own, which runs whenever the app lets it.
 */
import { Socket } from 'node:net';
import { constants } from 'node:os';

export const ENDING_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type EndingSignal = (typeof ENDING_SIGNALS)[number];

/** The environment variable naming the control pipe's fd in the child of `mlx-trace run`. */
export const CONTROL_FD_ENV = 'MLX_TRACE_CONTROL_FD';

/** A forwarded signal is the same as a direct one seen within this many ms (group delivery). */
const SAME_SIGNAL_MS = 1000;
/** How long a forwarded signal waits for its direct twin of a group delivery to be handled first. */
const FORWARD_DELAY_MS = 50;

/** Native signal watching (MlxInstrumentation._watchSignals): returns a function marking it handled. */
export type SignalWatch = (signals: number[], onPending: (signo: number) => void) => (() => void) | null;

/**
 * Installs the handlers. `write` writes the trace (synchronously) and is called at most once by the
 * caller's own guard; it runs before the signal is raised again. `watch`, when given, also handles
 * signals that arrive while the JS thread is busy. `flush`, when given, runs (and is waited for) before
 * both when the event loop can run it: live OpenTelemetry spans still queued.
 */
export function handleEndingSignals(write: () => void, watch?: SignalWatch, flush?: () => Promise<unknown>): void {
  const lastSeen = new Map<string, number>();
  let handled = () => {};
  const raise = (sig: EndingSignal) => {
    for (const s of ENDING_SIGNALS) process.removeListener(s, onSignal);
    // No listener left: Node restores the default action, which ends the process with this signal.
    process.kill(process.pid, sig);
  };
  // The app has its own handler: it decides what the signal does; 'exit' writes the trace.
  const appHandles = (sig: EndingSignal) => process.listenerCount(sig) > 1;
  const onSignal = (sig: EndingSignal) => {
    lastSeen.set(sig, Date.now());
    handled();
    if (appHandles(sig)) return;
    // The flush first (it is bounded), so the trace's meta counts what the live spans' delivery lost.
    const end = () => (write(), raise(sig));
    if (flush) void flush().then(end, end);
    else end();
  };
  for (const s of ENDING_SIGNALS) process.on(s, onSignal);
  // After the listeners, so the native handler hands each signal on to Node's.
  const byNumber = new Map(ENDING_SIGNALS.map((s) => [constants.signals[s], s] as const));
  handled = watch?.([...byNumber.keys()], (signo) => {
    const sig = byNumber.get(signo);
    if (!sig || appHandles(sig)) return;
    write();
    raise(sig);
  }) ?? handled;
  listenForForwarded(lastSeen);
}

/** Reads signal names from `mlx-trace run`'s control pipe, one a line, and raises each unless seen. */
function listenForForwarded(lastSeen: Map<string, number>): void {
  const fd = Number(process.env[CONTROL_FD_ENV]);
  // The app's own child processes are not ours to control.
  delete process.env[CONTROL_FD_ENV];
  if (!Number.isInteger(fd) || fd < 3) return;
  let pipe: Socket;
  try {
    pipe = new Socket({ fd, readable: true, writable: true });
  } catch {
    return;
  }
  pipe.unref();
  pipe.on('error', () => pipe.destroy());
  pipe.setEncoding('utf8');
  let pending = '';
  pipe.on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      const sig = line.trim() as EndingSignal;
      if (!ENDING_SIGNALS.includes(sig)) continue;
      pipe.write('ack\n');
      const at = Date.now();
      setTimeout(() => {
        if ((lastSeen.get(sig) ?? -Infinity) >= at - SAME_SIGNAL_MS) return;
        process.kill(process.pid, sig);
      }, FORWARD_DELAY_MS).unref();
    }
  });
}
