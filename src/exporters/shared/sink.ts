/**
 * Where an exporter streams its output: a file path (written through AtomicFile: a temporary file renamed over
 * the path once complete, so a failure leaves the previous file as it was; '.gz' compresses) or a Writable
 * the caller owns. Writes honour backpressure, so memory stays flat however big the trace; errors come back
 * as one clear Error instead of an unhandled 'error' event.
 */
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { atomicWriteStream, ioReason } from '../../core/io/atomic-file';

export type ExportTarget = string | NodeJS.WritableStream | Writable;

export interface Sink {
  /** Resolves once the stream can take more (immediately unless it is above its high-water mark). */
  write(chunk: string | Uint8Array): Promise<void>;
  /**
   * Writes buf[0, length) and takes ownership of buf: it goes back to the pool once the stream is done
   * with it. Reusing buffers matters: a fresh 128 KiB Buffer per chunk is hundreds of MB of external
   * memory per export, and V8 answers that with full GCs over the (large) trace heap.
   */
  writePooled(buf: Uint8Array, length: number): Promise<void>;
  /** A buffer of at least `size` bytes, reused from earlier writes when possible. */
  acquire(size: number): Uint8Array;
  /** Flushes; puts the file in place when the sink opened it, leaves a caller's stream open. */
  close(): Promise<void>;
  /** After a failure: removes the unfinished file the sink opened (the path keeps its old file); a caller's stream is left as it is. */
  abort(): Promise<void>;
  /** Bytes handed to the stream so far (before compression). */
  readonly bytes: number;
}

export function isExportTarget(x: unknown): x is ExportTarget {
  return (typeof x === 'string' && x.length > 0) || (x != null && typeof (x as Writable).write === 'function');
}

export function openSink(target: ExportTarget, what: string): Sink {
  if (typeof target === 'string') {
    let file: Writable;
    try {
      // A 1 MiB buffer lets the file system write while the next chunks are serialized.
      file = atomicWriteStream(target);
    } catch (e) {
      return new FailedSink(new Error(`cannot write ${what} ${target}: ${ioReason(e)}`));
    }
    const abort = async () => {
      file.destroy(new Error('aborted'));
    };
    if (target.endsWith('.gz')) {
      const gzip = createGzip();
      gzip.pipe(file);
      // Surface file errors (ENOENT, ENOSPC) through the gzip stream we write to.
      file.on('error', (e) => gzip.destroy(e));
      return new StreamSink(gzip, `${what} ${target}`, async () => {
        gzip.end();
        await finished(file);
      }, async () => {
        gzip.destroy();
        await abort();
      });
    }
    return new StreamSink(file, `${what} ${target}`, async () => {
      file.end();
      await finished(file);
    }, abort);
  }
  return new StreamSink(target as Writable, what, null);
}

class StreamSink implements Sink {
  bytes = 0;
  private _error: Error | null = null;
  private _free: Uint8Array[] = [];

  constructor(
    private readonly _stream: Writable,
    private readonly _label: string,
    private readonly _closeOwned: (() => Promise<void>) | null,
    private readonly _abortOwned: (() => Promise<void>) | null = null,
  ) {
    // Keep the first error; later writes reject with it instead of throwing an unhandled 'error' event.
    _stream.on('error', (e: Error) => {
      this._error ??= e;
    });
  }

  private _fail(e: unknown): Error {
    // A system error in a few words (the temporary file's name is no business of the user's).
    const msg = (e as NodeJS.ErrnoException)?.code ? ioReason(e) : e instanceof Error ? e.message : String(e);
    return new Error(`cannot write ${this._label}: ${msg}`);
  }

  acquire(size: number): Uint8Array {
    for (let i = this._free.length - 1; i >= 0; i--) {
      const b = this._free[i];
      if (b.length >= size) {
        this._free.splice(i, 1);
        return b;
      }
    }
    return new Uint8Array(size);
  }

  writePooled(buf: Uint8Array, length: number): Promise<void> {
    if (this._closeOwned === null) {
      // A caller's stream may keep the chunk after its callback (a PassThrough hands it to a reader later):
      // give it its own copy and reuse ours at once.
      const copy = Buffer.allocUnsafe(length);
      copy.set(buf.subarray(0, length));
      this._free.push(buf);
      return this.write(copy);
    }
    // Our own file/gzip streams are done with a chunk when its write callback runs.
    return this.write(buf.subarray(0, length), () => {
      if (this._free.length < 32) this._free.push(buf);
    });
  }

  async write(chunk: string | Uint8Array, done?: () => void): Promise<void> {
    if (this._error) throw this._fail(this._error);
    this.bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
    if (this._stream.write(chunk, done)) return;
    await new Promise<void>((resolve, reject) => {
      const done = (e?: Error) => {
        this._stream.off('drain', onDrain);
        this._stream.off('error', onError);
        this._stream.off('close', onClose);
        if (e) reject(this._fail(e));
        else resolve();
      };
      const onDrain = () => done();
      const onError = (e: Error) => done(e);
      const onClose = () => done(this._error ?? new Error('the stream closed before the trace was written'));
      this._stream.on('drain', onDrain);
      this._stream.on('error', onError);
      this._stream.on('close', onClose);
    });
  }

  async close(): Promise<void> {
    if (this._error) throw this._fail(this._error);
    try {
      if (this._closeOwned) {
        await this._closeOwned();
      } else {
        // A caller's stream stays open; wait until what we wrote has been flushed through it.
        await new Promise<void>((resolve, reject) => this._stream.write('', (e) => (e ? reject(e) : resolve())));
      }
    } catch (e) {
      throw this._fail(this._error ?? e);
    }
    if (this._error) throw this._fail(this._error);
  }

  async abort(): Promise<void> {
    if (this._abortOwned) await this._abortOwned();
  }
}

/** The sink of a file that could not be opened (a missing folder, no permission): every write reports why. */
class FailedSink implements Sink {
  readonly bytes = 0;
  constructor(private readonly _error: Error) {}
  write(): Promise<void> {
    return Promise.reject(this._error);
  }
  writePooled(): Promise<void> {
    return Promise.reject(this._error);
  }
  acquire(size: number): Uint8Array {
    return new Uint8Array(size);
  }
  close(): Promise<void> {
    return Promise.reject(this._error);
  }
  async abort(): Promise<void> {}
}
