/**
 * Streamed .mlxtrace files (layout version 2, layout.ts): a recording appends its spans and memory
 * events to an open file a flush at a time, through the same column encoder saveTrace uses, so what
 * the recorder holds stays bounded however long the app runs. The file grows as `path + ".partial"`
 * and is renamed to `path` once its end block (with the totals) is written; a process killed before
 * that leaves the .partial file, which loadTrace reads up to its last complete block.
 */
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { JsonBytes } from '../json-bytes';
import { ColumnEncoder, type RowSource } from './column-source';
import { BLOCK } from './layout';

/** The suffix of a streamed file while it grows. */
export const PARTIAL = '.partial';

export class TraceStreamWriter {
  /** Where the file grows until finish() renames it to `path`. */
  readonly partial: string;
  private fd: number | null;
  private readonly w: JsonBytes;
  private readonly encoder: ColumnEncoder;
  /** Rows written so far. */
  spans = 0;
  memory = 0;
  /** Bytes written so far. */
  bytes = 0;

  /**
   * Opens `path + ".partial"` (replacing one left by an earlier run) and writes the preamble and the
   * header: `traceJson` is the JSON of the trace's top-level keys but spans and memory. Throws the
   * system error when the file cannot be created.
   */
  constructor(
    readonly path: string,
    traceJson: string,
  ) {
    this.partial = path + PARTIAL;
    this.fd = openSync(this.partial, 'w', 0o666);
    // Blocks go out in chunks of up to 1 MB (a column of a full block goes out whole, unbuffered).
    this.w = new JsonBytes(1 << 20, (b) => this.write(b));
    this.encoder = new ColumnEncoder(this.w, BLOCK, null);
    this.encoder.begin(traceJson, null, null);
    this.w.flush();
  }

  get open(): boolean {
    return this.fd !== null;
  }

  private write(b: Uint8Array): void {
    const fd = this.fd;
    if (fd === null) throw new Error(`${this.path}: the stream is already finished`);
    for (let done = 0; done < b.length; ) {
      const n = writeSync(fd, b, done, b.length - done);
      if (n <= 0) throw Object.assign(new Error('no space left on the device'), { code: 'ENOSPC' });
      done += n;
    }
    this.bytes += b.length;
  }

  /** Appends the source's spans, then its memory events, as blocks (each after the definitions it needs). */
  append(source: RowSource): void {
    if (source.spanCount > 0) this.encoder.spansFrom(source);
    if (source.memoryCount > 0) this.encoder.memoryFrom(source);
    this.w.flush();
    this.spans += source.spanCount;
    this.memory += source.memoryCount;
  }

  /**
   * Writes the end block (the totals, the trace's final `dropped` and `meta` keys to add), syncs and
   * closes the file and renames it to `path`.
   */
  finish(dropped: number, meta: Record<string, unknown> = {}): void {
    this.encoder.end(JSON.stringify({ spans: this.spans, memory: this.memory, dropped, meta }));
    this.w.flush();
    const fd = this.fd!;
    this.fd = null;
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(this.partial, this.path);
  }

  /** Closes the file as it is (a .partial file loadTrace reads up to its last complete block). */
  abandon(): void {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    closeSync(fd);
  }
}
