/**
 * A real OTLP/HTTP trace receiver for tests: an HTTP server on 127.0.0.1:<random port> that takes
 * POST /v1/traces, decodes protobuf (application/x-protobuf) or JSON (application/json) bodies with protobufjs and
 * the OTLP .proto files in proto/opentelemetry, and keeps the decoded spans.
 *
 * It can be told to misbehave like a broken collector: answer 500, or accept the request and never answer.
 * The JSON decoding is strict (unknown fields, non-hex ids, enum names instead of numbers are errors), following
 * the OTLP/JSON rules: lowerCamelCase field names, trace/span ids as hex, 64-bit integers as decimal strings.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

export type ReceiverMode = 'ok' | 'error500' | 'hang';

export type AttrValue = string | number | boolean | Buffer | AttrValue[] | { [k: string]: AttrValue } | null;

export interface DecodedSpan {
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  name: string;
  kind: number;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Record<string, AttrValue>;
  status: { code: number; message: string };
  links: { traceId: string; spanId: string; attributes: Record<string, AttrValue> }[];
  flags: number;
  resource: Record<string, AttrValue>;
  scope: { name: string; version: string };
}

export interface ReceivedRequest {
  encoding: 'json' | 'protobuf';
  headers: IncomingMessage['headers'];
  bodyBytes: number;
  spans: DecodedSpan[];
}

export interface OtlpReceiver {
  /** http://127.0.0.1:<port>/v1/traces */
  url: string;
  port: number;
  mode: ReceiverMode;
  /** Requests that reached the handler, whatever the mode (decoded ones are in `requests`). */
  hits: number;
  requests: ReceivedRequest[];
  /** Decode failures; a test should expect this to stay empty. */
  errors: string[];
  spans(): DecodedSpan[];
  close(): Promise<void>;
}

const protoDir = fileURLToPath(new URL('../../proto', import.meta.url));

let cached: { request: protobuf.Type; response: protobuf.Type } | null = null;

/** The ExportTraceServiceRequest/Response types, loaded once from proto/opentelemetry. */
export function otlpTypes(): { request: protobuf.Type; response: protobuf.Type } {
  if (cached) return cached;
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(protoDir, target);
  root.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto');
  root.resolveAll();
  cached = {
    request: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest'),
    response: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse'),
  };
  return cached;
}

const ID_FIELDS = new Set(['traceId', 'spanId', 'parentSpanId']);
const LONG_TYPES = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const INT_TYPES = new Set(['int32', 'uint32', 'sint32', 'fixed32', 'sfixed32']);

/** OTLP/JSON -> a plain object protobufjs fromObject accepts, checking every field against the .proto. */
function fromOtlpJson(type: protobuf.Type, json: unknown, path: string): Record<string, unknown> {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new Error(`${path}: expected an object`);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json as Record<string, unknown>)) {
    const field = type.fields[key];
    if (!field) throw new Error(`${path}.${key}: no such field in ${type.fullName}`);
    if (value === null || value === undefined) continue;
    field.resolve();
    const one = (v: unknown, p: string): unknown => {
      const rt = field.resolvedType;
      if (rt instanceof protobuf.Type) return fromOtlpJson(rt, v, p);
      if (rt instanceof protobuf.Enum) {
        if (typeof v !== 'number' || !Number.isInteger(v)) throw new Error(`${p}: enum values are integers in OTLP/JSON, got ${JSON.stringify(v)}`);
        return v;
      }
      if (field.type === 'bytes') {
        if (typeof v !== 'string') throw new Error(`${p}: bytes must be a string`);
        if (ID_FIELDS.has(key)) {
          if (!/^([0-9a-fA-F]{2})*$/.test(v)) throw new Error(`${p}: ids are hex in OTLP/JSON, got ${JSON.stringify(v)}`);
          return Buffer.from(v, 'hex');
        }
        return Buffer.from(v, 'base64');
      }
      if (LONG_TYPES.has(field.type)) {
        // Decimal strings pass through: protobufjs fromObject turns them into exact Longs.
        if (typeof v === 'string' && /^-?\d+$/.test(v)) return v;
        if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
        throw new Error(`${p}: 64-bit integer expected, got ${JSON.stringify(v)}`);
      }
      if (INT_TYPES.has(field.type)) {
        if (typeof v !== 'number' || !Number.isInteger(v)) throw new Error(`${p}: integer expected, got ${JSON.stringify(v)}`);
        return v;
      }
      if (field.type === 'double' || field.type === 'float') {
        if (typeof v === 'number' || v === 'NaN' || v === 'Infinity' || v === '-Infinity') return Number(v);
        throw new Error(`${p}: number expected, got ${JSON.stringify(v)}`);
      }
      if (field.type === 'string' && typeof v !== 'string') throw new Error(`${p}: string expected`);
      if (field.type === 'bool' && typeof v !== 'boolean') throw new Error(`${p}: boolean expected`);
      return v;
    };
    if (field.repeated) {
      if (!Array.isArray(value)) throw new Error(`${path}.${key}: expected an array`);
      out[key] = value.map((v, i) => one(v, `${path}.${key}[${i}]`));
    } else {
      out[key] = one(value, `${path}.${key}`);
    }
  }
  return out;
}

/** Decode a request body into an ExportTraceServiceRequest message. */
export function decodeOtlpBody(body: Buffer, contentType: string): { encoding: 'json' | 'protobuf'; message: protobuf.Message } {
  const { request } = otlpTypes();
  if (/application\/x-protobuf/.test(contentType)) {
    return { encoding: 'protobuf', message: request.decode(body) };
  }
  if (/application\/json/.test(contentType)) {
    const message = request.fromObject(fromOtlpJson(request, JSON.parse(body.toString('utf8')), 'request'));
    const err = request.verify(message);
    if (err) throw new Error(`request: ${err}`);
    // Through the wire format and back: what a protobuf receiver would see.
    return { encoding: 'json', message: request.decode(request.encode(message).finish()) };
  }
  throw new Error(`unsupported content-type ${JSON.stringify(contentType)}`);
}

type Obj = Record<string, unknown>;

function attrValue(v: Obj | undefined): AttrValue {
  if (!v) return null;
  if ('stringValue' in v) return v.stringValue as string;
  if ('boolValue' in v) return v.boolValue as boolean;
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return v.doubleValue as number;
  if ('bytesValue' in v) return Buffer.from(v.bytesValue as string, 'base64');
  if ('arrayValue' in v) return (((v.arrayValue as Obj).values as Obj[]) ?? []).map(attrValue);
  if ('kvlistValue' in v) return attrs(((v.kvlistValue as Obj).values as Obj[]) ?? []);
  return null;
}

function attrs(kvs: Obj[] | undefined): Record<string, AttrValue> {
  const out: Record<string, AttrValue> = {};
  for (const kv of kvs ?? []) out[kv.key as string] = attrValue(kv.value as Obj | undefined);
  return out;
}

const hex = (b64: unknown) => Buffer.from((b64 as string) ?? '', 'base64').toString('hex');

/** Flatten a decoded request to spans, each with its resource and scope. */
export function flattenSpans(message: protobuf.Message): DecodedSpan[] {
  const { request } = otlpTypes();
  const o = request.toObject(message, { longs: String, enums: Number, bytes: String, defaults: true, oneofs: false }) as Obj;
  const out: DecodedSpan[] = [];
  for (const rs of (o.resourceSpans as Obj[]) ?? []) {
    const resource = attrs(((rs.resource as Obj | undefined)?.attributes as Obj[]) ?? []);
    for (const ss of (rs.scopeSpans as Obj[]) ?? []) {
      const scope = (ss.scope as Obj | undefined) ?? {};
      for (const s of (ss.spans as Obj[]) ?? []) {
        const status = (s.status as Obj | undefined) ?? {};
        out.push({
          traceId: hex(s.traceId),
          spanId: hex(s.spanId),
          parentSpanId: hex(s.parentSpanId),
          name: s.name as string,
          kind: s.kind as number,
          startTimeUnixNano: BigInt(s.startTimeUnixNano as string),
          endTimeUnixNano: BigInt(s.endTimeUnixNano as string),
          attributes: attrs(s.attributes as Obj[]),
          status: { code: (status.code as number) ?? 0, message: (status.message as string) ?? '' },
          links: ((s.links as Obj[]) ?? []).map((l) => ({ traceId: hex(l.traceId), spanId: hex(l.spanId), attributes: attrs(l.attributes as Obj[]) })),
          flags: s.flags as number,
          resource,
          scope: { name: (scope.name as string) ?? '', version: (scope.version as string) ?? '' },
        });
      }
    }
  }
  return out;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export interface ReceiverOptions {
  mode?: ReceiverMode;
  /** In mode 'ok': answer this many requests normally, then switch to 'error500' (a collector failing mid-export). */
  okRequests?: number;
  /** In mode 'ok': answer every request with this HTTP status instead (429, 503: the collector is overloaded). */
  status?: number;
  /** In mode 'ok': answer each request this many ms after it arrived (a slow collector). */
  delayMs?: number;
}

export async function startOtlpReceiver(opts: ReceiverOptions = {}): Promise<OtlpReceiver> {
  const sockets = new Set<Socket>();
  const receiver = {
    url: '',
    port: 0,
    mode: opts.mode ?? 'ok',
    hits: 0,
    requests: [] as ReceivedRequest[],
    errors: [] as string[],
    spans(): DecodedSpan[] {
      return this.requests.flatMap((r) => r.spans);
    },
    close: async () => {},
  } satisfies OtlpReceiver;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST' || req.url !== '/v1/traces') {
      res.writeHead(404).end();
      return;
    }
    receiver.hits++;
    if (opts.okRequests !== undefined && receiver.mode === 'ok' && receiver.requests.length >= opts.okRequests) receiver.mode = 'error500';
    const raw = await readBody(req);
    // A receiver that has stopped answering: the socket stays open until the client gives up or close().
    if (receiver.mode === 'hang') return;
    if (receiver.mode === 'error500') {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('collector is broken (test)');
      return;
    }
    if (opts.status !== undefined) {
      res.writeHead(opts.status, { 'content-type': 'text/plain' }).end('collector is busy (test)');
      return;
    }
    if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
    const contentType = req.headers['content-type'] ?? '';
    try {
      const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
      const { encoding, message } = decodeOtlpBody(body, contentType);
      receiver.requests.push({ encoding, headers: req.headers, bodyBytes: raw.length, spans: flattenSpans(message) });
      // The OTLP/HTTP success answer: an ExportTraceServiceResponse in the request's encoding.
      if (encoding === 'json') res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      else res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(Buffer.from(otlpTypes().response.encode({}).finish()));
    } catch (e) {
      receiver.errors.push(e instanceof Error ? e.message : String(e));
      res.writeHead(400, { 'content-type': 'text/plain' }).end('bad OTLP request');
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e) => {
      receiver.errors.push(String(e));
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  receiver.port = port;
  receiver.url = `http://127.0.0.1:${port}/v1/traces`;
  receiver.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return receiver;
}

/** A port on 127.0.0.1 with nothing listening: bind, note the port, close. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
