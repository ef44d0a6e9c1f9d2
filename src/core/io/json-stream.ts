/**
 * An incremental reader for one JSON object whose big arrays are streamed element by element.
 *
 * Why not JSON.parse(readFileSync(path, 'utf8')): V8 strings stop at ~512 MB (2^29 - 24 chars), and
 * parsing one giant string needs the text and the whole object graph in memory at once. Here the
 * file is read in chunks; the top-level object's values are cut out byte-exactly by a small scanner
 * (depth, strings, escapes) and each piece goes to JSON.parse on its own. The elements of the
 * arrays named in `streamKeys` are handed over one at a time, so the only size limit is that a
 * single element (one span, or 'meta') must stay under V8's string limit.
 *
 * Errors are ScanError: 'truncated' when the file ends inside a value, 'syntax' otherwise; both
 * carry the byte offset and what was being read.
 */
import { readSync } from 'node:fs';

export class ScanError extends Error {
  constructor(
    readonly kind: 'truncated' | 'syntax',
    readonly detail: string,
    readonly offset: number,
  ) {
    super(detail);
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJ = 0x7b;
const CLOSE_OBJ = 0x7d;
const OPEN_ARR = 0x5b;
const CLOSE_ARR = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

type Where = string | (() => string);

const isWs = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

export interface StreamHandlers {
  /** Arrays under these top-level keys are streamed to onElement instead of being parsed whole. */
  streamKeys: ReadonlySet<string>;
  /** A top-level member that was parsed whole. */
  onMember(key: string, value: unknown): void;
  /** The start of a streamed array (its key), before its first element. */
  onArrayStart(key: string): void;
  onElement(key: string, index: number, value: unknown): void;
  /** Label of what is being read, for error messages ('span 17', 'meta'...). */
  label(key: string, index: number | null): string;
}

export class JsonObjectStream {
  private buf: Buffer;
  /** File offset of buf[0]. */
  private base = 0;
  private len = 0;
  private pos = 0;
  private eof = false;

  constructor(
    private readonly fd: number,
    chunkBytes: number,
  ) {
    this.buf = Buffer.allocUnsafe(Math.max(16, chunkBytes));
  }

  /** Byte offset in the file of the next unread byte. */
  get offset(): number {
    return this.base + this.pos;
  }

  /** Reads the next chunk; bytes before `pos` are dropped. Returns false at end of file. */
  private refill(): boolean {
    if (this.eof) return false;
    this.base += this.pos;
    const keep = this.len - this.pos;
    if (keep > 0) this.buf.copy(this.buf, 0, this.pos, this.len);
    this.len = keep;
    this.pos = 0;
    const n = readSync(this.fd, this.buf, this.len, this.buf.length - this.len, null);
    if (n === 0) this.eof = true;
    this.len += n;
    return n > 0;
  }

  /** The next byte without consuming it, -1 at end of file. */
  private peek(): number {
    if (this.pos >= this.len && !this.refill()) return -1;
    return this.buf[this.pos];
  }

  private skipWs(): number {
    for (;;) {
      while (this.pos < this.len) {
        const c = this.buf[this.pos];
        if (!isWs(c)) return c;
        this.pos++;
      }
      if (!this.refill()) return -1;
    }
  }

  /** `where` is a string or a function making it: element labels are built only when something fails. */
  private fail(c: number, expected: string, where: Where): never {
    const w = typeof where === 'string' ? where : where();
    if (c === -1) throw new ScanError('truncated', `the file ends ${w}`, this.offset);
    throw new ScanError('syntax', `expected ${expected} ${w}, found ${showByte(c)}`, this.offset);
  }

  /**
   * Cuts out the text of the JSON value starting at pos (whitespace already skipped). Containers
   * and strings end at their closing byte; scalars at the next delimiter. Does not validate:
   * JSON.parse of the returned text does.
   */
  private scanValue(where: Where): string {
    const first = this.peek();
    if (first === -1 || first === CLOSE_ARR || first === CLOSE_OBJ || first === COMMA || first === COLON) {
      this.fail(first, 'a value', where);
    }
    const pieces: Buffer[] = [];
    let start = this.pos;
    let depth = 0;
    let inStr = false;
    let esc = false;
    const container = first === OPEN_OBJ || first === OPEN_ARR;
    const scalar = !container && first !== QUOTE;
    let done = false;
    while (!done) {
      const buf = this.buf;
      const len = this.len;
      let i = this.pos;
      if (scalar) {
        while (i < len) {
          const c = buf[i];
          if (c === COMMA || c === CLOSE_ARR || c === CLOSE_OBJ || c === COLON || isWs(c)) {
            done = true;
            break;
          }
          i++;
        }
      } else {
        while (i < len) {
          const c = buf[i];
          if (inStr) {
            if (esc) {
              esc = false;
              i++;
              continue;
            }
            // Jump to the next quote natively (most bytes of a trace are inside strings), then
            // count the backslashes before it: an odd run means the quote is escaped.
            const q = buf.indexOf(QUOTE, i);
            const end = q < 0 || q >= len ? len : q;
            let b = 0;
            while (end - 1 - b >= i && buf[end - 1 - b] === BACKSLASH) b++;
            if (end === len) {
              esc = (b & 1) === 1; // a backslash at the chunk's end escapes the next chunk's first byte
              i = len;
              break;
            }
            i = q + 1;
            if ((b & 1) === 1) continue;
            inStr = false;
            if (!container) {
              done = true;
              break;
            }
            continue;
          } else if (c === QUOTE) inStr = true;
          else if (c === OPEN_OBJ || c === OPEN_ARR) depth++;
          else if (c === CLOSE_OBJ || c === CLOSE_ARR) {
            if (--depth === 0) {
              i++;
              done = true;
              break;
            }
          }
          i++;
        }
      }
      this.pos = i;
      if (done) break;
      // The value goes on past this chunk: keep what we have and read on.
      pieces.push(Buffer.from(this.buf.subarray(start, this.len)));
      this.pos = this.len;
      const more = this.refill();
      start = this.pos;
      if (!more) {
        if (scalar) break; // a scalar may end the file; the caller sees the missing delimiter
        throw new ScanError('truncated', `the file ends ${typeof where === 'string' ? where : where()}`, this.offset);
      }
    }
    if (pieces.length === 0) return this.buf.toString('utf8', start, this.pos);
    pieces.push(this.buf.subarray(start, this.pos));
    return Buffer.concat(pieces).toString('utf8');
  }

  private parseValue(where: Where): unknown {
    const at = this.offset;
    const text = this.scanValue(where);
    try {
      return JSON.parse(text);
    } catch {
      const w = typeof where === 'string' ? where : where();
      throw new ScanError('syntax', `invalid JSON ${w} (bytes ${at}-${at + Buffer.byteLength(text)})`, at);
    }
  }

  /** Reads the whole top-level object, calling the handlers as members and elements complete. */
  read(h: StreamHandlers): void {
    let c = this.skipWs();
    // A UTF-8 byte order mark is allowed before the text.
    if (c === 0xef && this.pos + 2 < this.len && this.buf[this.pos + 1] === 0xbb && this.buf[this.pos + 2] === 0xbf) {
      this.pos += 3;
      c = this.skipWs();
    }
    if (c !== OPEN_OBJ) this.fail(c, "'{'", 'at the start of the file');
    this.pos++;
    c = this.skipWs();
    if (c === CLOSE_OBJ) {
      this.pos++;
    } else {
      for (;;) {
        c = this.skipWs();
        if (c !== QUOTE) this.fail(c, 'a quoted key', 'in the top-level object');
        const key = this.parseValue('in a top-level key') as string;
        c = this.skipWs();
        if (c !== COLON) this.fail(c, "':'", `after the key '${key}'`);
        this.pos++;
        c = this.skipWs();
        if (h.streamKeys.has(key) && c === OPEN_ARR) {
          this.pos++;
          this.readArray(key, h);
        } else {
          h.onMember(key, this.parseValue(`in ${h.label(key, null)}`));
        }
        c = this.skipWs();
        if (c === COMMA) {
          this.pos++;
          continue;
        }
        if (c === CLOSE_OBJ) {
          this.pos++;
          break;
        }
        this.fail(c, "',' or '}'", `after ${h.label(key, null)}`);
      }
    }
    c = this.skipWs();
    if (c !== -1) throw new ScanError('syntax', `unexpected data after the end of the trace, ${showByte(c)}`, this.offset);
  }

  private readArray(key: string, h: StreamHandlers): void {
    h.onArrayStart(key);
    let c = this.skipWs();
    if (c === CLOSE_ARR) {
      this.pos++;
      return;
    }
    let i = 0;
    const where = () => `in ${h.label(key, i)}`;
    for (; ; i++) {
      this.skipWs();
      h.onElement(key, i, this.parseValue(where));
      c = this.skipWs();
      if (c === COMMA) {
        this.pos++;
        continue;
      }
      if (c === CLOSE_ARR) {
        this.pos++;
        return;
      }
      this.fail(c, "',' or ']'", `after ${h.label(key, i)}`);
    }
  }
}

function showByte(c: number): string {
  if (c >= 0x20 && c < 0x7f) return `'${String.fromCharCode(c)}'`;
  return `byte 0x${c.toString(16).padStart(2, '0')}`;
}
