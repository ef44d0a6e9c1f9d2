/**
 * The one way mlx-trace writes a file (saved traces, HTML, Chrome and Perfetto files): the bytes go
 * to a temporary file in the target's folder, every write's byte count is checked (a full disk
 * stores fewer bytes than asked, then fails), then fsync and a rename over the target. On any failure
 * the target is as it was before and the temporary file is removed, so a reader never sees half a
 * file under the real name and a full disk never costs the previous file.
 */
import { close, closeSync, fdatasync, fsyncSync, openSync, renameSync, statSync, unlinkSync, writeSync, writev } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Writable } from 'node:stream';

export interface AtomicFileOptions {
  /**
   * Most bytes one write system call is given. Tests set it to make every write short, as a nearly
   * full disk does; the writer must then write the rest.
   */
  maxWriteBytes?: number;
}

let serial = 0;
/** Most buffers one writev system call takes on Linux. */
const IOV_MAX = 1024;
/** write() starts the disk on what it wrote once this many more bytes are written (see startSync). */
const AHEAD_BYTES = 8 << 20;
/** Early syncs of one file under way at most. */
const AHEAD_MAX = 4;
/**
 * Files whose early-sync descriptor may be open at once: those descriptors close when the event
 * loop runs their callbacks, so a synchronous loop of saves would otherwise hold one per file.
 */
const AHEAD_FILES = 4;
let aheadOpen = 0;

/** A file being written under a temporary name beside `path`; commit() puts it in place. */
export class AtomicFile {
  readonly tmp: string;
  private fd: number | null;
  private readonly max: number;
  /** Bytes written since the last early sync started. */
  private unsynced = 0;
  /** The descriptor early syncs use, their number under way, and whether the file is done with. */
  private ahead: { fd: number; pending: number; done: boolean } | null = null;

  /** Opens the temporary file; throws the system error (ENOENT for a missing folder, EACCES...). */
  constructor(
    readonly path: string,
    opts: AtomicFileOptions = {},
  ) {
    this.tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${serial++}.tmp`);
    this.max = Math.max(1, Math.floor(opts.maxWriteBytes ?? 2 ** 30));
    // Permissions as a plain create would give (0666 less the umask); the target's own are not copied.
    this.fd = openSync(this.tmp, 'wx', 0o666);
  }

  private get open(): number {
    if (this.fd === null) throw new Error(`${this.path}: the file was already committed or abandoned`);
    return this.fd;
  }

  /** Writes all of `b`, system call after system call until every byte is stored. */
  write(b: Uint8Array): void {
    const fd = this.open;
    for (let done = 0; done < b.length; ) {
      const n = writeSync(fd, b, done, Math.min(b.length - done, this.max));
      if (n <= 0) throw noSpace();
      done += n;
    }
    this.unsynced += b.length;
    if (this.unsynced >= AHEAD_BYTES) this.startSync();
  }

  /**
   * Starts the disk on the bytes written so far, on libuv's thread pool, while the caller goes on
   * writing: commit()'s fsync, which stays the one that counts, then waits for the last bytes only
   * instead of the whole file. Through a descriptor of its own, which is closed once its syncs are
   * done (the main one may be closed and its number reused before that). A failure here changes
   * nothing: commit() syncs everything again.
   */
  private startSync(): void {
    this.unsynced = 0;
    let a = this.ahead;
    if (a === null) {
      if (aheadOpen >= AHEAD_FILES) return;
      try {
        a = this.ahead = { fd: openSync(this.tmp, 'r'), pending: 0, done: false };
      } catch {
        return;
      }
      aheadOpen++;
    }
    if (a.pending >= AHEAD_MAX) return;
    const ahead = a;
    ahead.pending++;
    fdatasync(ahead.fd, () => {
      if (--ahead.pending === 0 && ahead.done) closeAhead(ahead.fd);
    });
  }

  /** No more early syncs: their descriptor is closed now, or when the last one under way ends. */
  private endSyncs(): void {
    const a = this.ahead;
    if (a === null || a.done) return;
    a.done = true;
    if (a.pending === 0) closeAhead(a.fd);
  }

  /** write() without blocking the event loop. */
  writeAsync(b: Uint8Array): Promise<void> {
    return this.writevAsync([b]);
  }

  /**
   * Writes all of `chunks` in order, several per system call (at most IOV_MAX views, `maxWriteBytes`
   * bytes), without copying them into one buffer first; a short write continues where it stopped.
   */
  async writevAsync(chunks: readonly Uint8Array[]): Promise<void> {
    const fd = this.open;
    let i = 0;
    let off = 0; // the next byte to write is chunks[i][off]
    for (;;) {
      while (i < chunks.length && off === chunks[i].length) {
        i++;
        off = 0;
      }
      if (i === chunks.length) return;
      const batch: Uint8Array[] = [];
      let room = this.max;
      for (let k = i, o = off; k < chunks.length && room > 0 && batch.length < IOV_MAX; k++, o = 0) {
        const part = chunks[k].subarray(o, o + room);
        batch.push(part);
        room -= part.length;
      }
      const n = await new Promise<number>((resolve, reject) => writev(fd, batch, null, (e, written) => (e ? reject(e) : resolve(written))));
      if (n <= 0) throw noSpace();
      for (let left = n; left > 0; ) {
        const rest = chunks[i].length - off;
        if (left < rest) {
          off += left;
          left = 0;
        } else {
          left -= rest;
          i++;
          off = 0;
        }
      }
    }
  }

  /** Flushes the bytes to the disk, then renames the file over the target. Abandons it on failure. */
  commit(): void {
    const fd = this.open;
    this.endSyncs();
    try {
      fsyncSync(fd);
      this.fd = null;
      closeSync(fd);
      renameSync(this.tmp, this.path);
    } catch (e) {
      this.abandon();
      throw e;
    }
  }

  /** Closes and removes the temporary file; the target is untouched. Safe to call more than once. */
  abandon(): void {
    this.endSyncs();
    if (this.fd !== null) {
      try {
        closeSync(this.fd);
      } catch {
        // closed already
      }
      this.fd = null;
    }
    try {
      unlinkSync(this.tmp);
    } catch {
      // already gone
    }
  }
}

function closeAhead(fd: number): void {
  aheadOpen--;
  close(fd, () => {});
}

function noSpace(): NodeJS.ErrnoException {
  return Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
}

/**
 * A Writable onto an AtomicFile: ending it commits the file (the 'finish' event comes after the
 * rename), destroying it or a failed write abandons it.
 */
export function atomicWriteStream(path: string, opts: AtomicFileOptions = {}): Writable {
  const file = new AtomicFile(path, opts);
  let committed = false;
  return new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Uint8Array, _enc, cb) {
      file.writeAsync(chunk).then(() => cb(), (e: Error) => cb(e));
    },
    writev(chunks, cb) {
      file.writevAsync(chunks.map((c) => c.chunk as Uint8Array)).then(() => cb(), (e: Error) => cb(e));
    },
    final(cb) {
      try {
        file.commit();
        committed = true;
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
    destroy(e, cb) {
      if (!committed) file.abandon();
      cb(e);
    },
  });
}

/** Writes a whole file atomically (AtomicFile): the text as UTF-8, or the bytes. Throws the system error. */
export function writeFileAtomic(path: string, data: string | Uint8Array, opts: AtomicFileOptions = {}): void {
  const file = new AtomicFile(path, opts);
  try {
    file.write(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    file.commit();
  } catch (e) {
    file.abandon();
    throw e;
  }
}

/** The reason of a system error in a few words, for the one line a user sees. */
export function ioReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EISDIR':
      return 'is a directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOSPC':
      return 'no space left on the device';
    case 'EDQUOT':
      return 'disk quota exceeded';
    case 'EROFS':
      return 'read-only file system';
    default:
      return code ?? (e instanceof Error ? e.message.split('\n')[0] : String(e));
  }
}

/** Whether two paths name the same file (same device and inode); false when either does not exist. */
export function sameFile(a: string, b: string): boolean {
  try {
    const sa = statSync(a);
    const sb = statSync(b);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false;
  }
}
