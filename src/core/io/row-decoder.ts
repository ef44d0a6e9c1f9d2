/**
 * Reading the row layout of saved traces (rows.ts documents it and writes it): rows back into spans
 * and memory events, the other keys of a row's last object, and the Problem a bad row gives.
 */
import { MAX_NESTING, tooDeep } from '../model/checks';
import type { MemoryEvent, Span, TensorInfo } from '../model/trace';
import { MEMORY_KEYS, ROW12_KEYS, SPAN_KEYS } from './rows';

/**
 * Turns rows back into spans and memory events. Returns a problem (one line, without the
 * 'span N' prefix) instead of throwing; the caller then checks the object like any other span.
 */
export class RowDecoder {
  private strings: string[] = [];
  private tensors: TensorInfo[] = [];

  private str(v: unknown, field: string): string | Problem {
    if (typeof v === 'string') {
      this.strings.push(v);
      return v;
    }
    if (typeof v === 'number') {
      const s = this.strings[v];
      if (s !== undefined) return s;
    }
    return new Problem(`'${field}' is ${brief(v)}, expected a string or the number of one written earlier (${this.strings.length} so far)`);
  }

  private list(v: unknown, field: string): TensorInfo[] | Problem {
    if (!Array.isArray(v)) return new Problem(`'${field}' is ${brief(v)}, expected an array`);
    const out: TensorInfo[] = new Array(v.length);
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      if (typeof x === 'number') {
        const t = this.tensors[x];
        if (t === undefined) return new Problem(`'${field}[${i}]' is ${brief(x)}, expected a tensor or the number of one written earlier (${this.tensors.length} so far)`);
        out[i] = t;
      } else {
        // A definition: checked by the caller's span check; frozen and shared from here on.
        const t = (x !== null && typeof x === 'object' ? Object.freeze(x) : x) as TensorInfo;
        this.tensors.push(t);
        out[i] = t;
      }
    }
    return out;
  }

  span(row: unknown[]): Span | Problem {
    const n = row.length;
    const last = row[n - 1];
    const hasRest = n > 12 && last !== null && typeof last === 'object' && !Array.isArray(last);
    const fields = hasRest ? n - 1 : n;
    if (fields !== 12 && fields !== 14) return new Problem(`is a row of ${n} fields, expected 12 or 14 (and an optional object of other fields)`);
    const kind = this.str(row[2], 'kind');
    if (kind instanceof Problem) return kind;
    const name = this.str(row[3], 'name');
    if (name instanceof Problem) return name;
    const device = this.str(row[7], 'device');
    if (device instanceof Problem) return device;
    const inputs = this.list(row[8], 'inputs');
    if (inputs instanceof Problem) return inputs;
    const outputs = this.list(row[9], 'outputs');
    if (outputs instanceof Problem) return outputs;
    const s = {
      id: row[0],
      parentId: row[1],
      kind,
      name,
      start: row[4],
      end: row[5],
      thread: row[6],
      device,
      inputs,
      outputs,
      flops: row[10],
      bytes: row[11],
    } as Span;
    if (fields === 14) {
      s.layerId = row[12] as number | null;
      const layer = this.nullableStr(row[13], 'layer');
      if (layer instanceof Problem) return layer;
      s.layer = layer;
    }
    return hasRest ? withRest(s, last as Record<string, unknown>, fields === 14 ? SPAN_KEYS : ROW12_KEYS) : s;
  }

  memory(row: unknown[]): MemoryEvent | Problem {
    const n = row.length;
    const last = row[n - 1];
    const hasRest = n > 3 && last !== null && typeof last === 'object' && !Array.isArray(last);
    const fields = hasRest ? n - 1 : n;
    if (fields !== 3 && fields !== 4) return new Problem(`is a row of ${n} fields, expected 3 or 4 (and an optional object of other fields)`);
    const m = { t: row[0], delta: row[1], live: row[2] } as MemoryEvent;
    if (fields === 4) {
      const op = this.nullableStr(row[3], 'op');
      if (op instanceof Problem) return op;
      m.op = op;
    }
    return hasRest ? withRest(m, last as Record<string, unknown>, MEMORY_KEYS) : m;
  }

  private nullableStr(v: unknown, field: string): string | null | Problem {
    return v === null ? null : this.str(v, field);
  }
}

/** `o` with the other keys of its row's last object, or a Problem if one repeats a field. */
export function withRest<T extends object>(o: T, rest: Record<string, unknown>, known: ReadonlySet<string>): T | Problem {
  for (const k in rest) {
    if (known.has(k)) return new Problem(`has '${k}' twice (as a field and in its last object)`);
    if (tooDeep(rest[k])) return new Problem(`has '${k}' nested deeper than ${MAX_NESTING} levels`);
    // defineProperty: a '__proto__' key must stay a plain field, not set the prototype.
    Object.defineProperty(o, k, { value: rest[k], enumerable: true, writable: true, configurable: true });
  }
  return o;
}

export class Problem {
  constructor(readonly detail: string) {}
}

function brief(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 40 ? s.slice(0, 37) + '...' : s;
}
