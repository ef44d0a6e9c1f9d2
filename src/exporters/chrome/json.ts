/**
 * JSON text of one Trace Event Format record, as JSON.stringify would write it (keys in insertion order,
 * non-finite numbers as null) but faster on these flat records: used for metadata events and span attrs.
 */
import type { ChromeTraceEvent } from './types';

export function serializeEvent(e: ChromeTraceEvent): string {
  let s = '{"name":' + jsonString(e.name) + ',"ph":"' + e.ph + '"';
  if (e.bp !== undefined) s += ',"bp":"' + e.bp + '"';
  if (e.cat !== undefined) s += ',"cat":' + jsonString(e.cat);
  if (e.id !== undefined) s += ',"id":' + jsonNumber(e.id);
  if (e.ts !== undefined) s += ',"ts":' + jsonNumber(e.ts);
  if (e.dur !== undefined) s += ',"dur":' + jsonNumber(e.dur);
  s += ',"pid":' + jsonNumber(e.pid);
  if (e.tid !== undefined) s += ',"tid":' + jsonNumber(e.tid);
  if (e.args !== undefined) s += ',"args":' + jsonValue(e.args);
  return s + '}';
}

function jsonNumber(x: number): string {
  return Number.isFinite(x) ? String(x) : 'null';
}

// Span names, op names, dtypes and shape labels repeat endlessly: escape each distinct string once.
const stringCache = new Map<string, string>();
function jsonString(x: string): string {
  let q = stringCache.get(x);
  if (q === undefined) {
    q = JSON.stringify(x);
    if (stringCache.size > 100_000) stringCache.clear();
    stringCache.set(x, q);
  }
  return q;
}

/** Any value as JSON text; a bigint is written as a number, where JSON.stringify would throw. */
export function jsonValue(v: unknown): string {
  switch (typeof v) {
    case 'number':
      return jsonNumber(v);
    case 'string':
      return jsonString(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object': {
      if (v === null) return 'null';
      if (Array.isArray(v)) {
        let s = '[';
        for (let i = 0; i < v.length; i++) s += (i > 0 ? ',' : '') + (v[i] === undefined ? 'null' : jsonValue(v[i]));
        return s + ']';
      }
      if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return JSON.stringify(v) ?? 'null';
      let s = '{';
      let first = true;
      for (const k in v as Record<string, unknown>) {
        const x = (v as Record<string, unknown>)[k];
        if (x === undefined || typeof x === 'function' || typeof x === 'symbol') continue;
        s += (first ? '' : ',') + jsonString(k) + ':' + jsonValue(x);
        first = false;
      }
      return s + '}';
    }
    case 'bigint':
      return String(v);
    default:
      return 'null';
  }
}
