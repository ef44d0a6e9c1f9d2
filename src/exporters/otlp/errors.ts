/**
 * How exportOtlp words a failure: plain words for exporter errors, the export's deadline, and the collector's
 * HTTP status read off the export's own connections.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Agent as HttpAgent, STATUS_CODES, type Agent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { formatCount } from '../terminal/format';

/**
 * Plain words for an exporter error: 'connection refused', 'no answer within 2000 ms', 'HTTP 500 (Internal Server
 * Error)'. `lastStatus` is the collector's last non-2xx answer: the exporter retries 429 and 502-504 and then
 * reports only 'retryable status', so the status comes from there.
 */
export function describeExportError(err: unknown, timeoutMillis: number, lastStatus?: number): string {
  if (err == null) return 'unknown error';
  if (err instanceof DeadlineError) return err.message;
  const e = err as { code?: unknown; message?: unknown; errors?: unknown[]; data?: unknown };
  const nested = Array.isArray(e.errors) ? (e.errors[0] as { code?: unknown } | undefined) : undefined;
  const code = typeof e.code === 'string' ? e.code : typeof nested?.code === 'string' ? nested.code : e.code;
  const message = typeof e.message === 'string' ? e.message : String(err);
  switch (code) {
    case 'ECONNREFUSED': return 'connection refused';
    case 'ECONNRESET': return 'connection reset by the collector';
    case 'ENOTFOUND': case 'EAI_AGAIN': return 'host not found';
    case 'ETIMEDOUT': return `no answer within ${timeoutMillis} ms`;
    case 'EHOSTUNREACH': case 'ENETUNREACH': return 'host unreachable';
    case 'EPIPE': return 'connection closed by the collector';
    default: break;
  }
  if (typeof code === 'number') {
    return `HTTP ${code}${message && message !== 'undefined' ? ` (${message})` : ''}`;
  }
  if (/retryable status/i.test(message) && lastStatus !== undefined) {
    return `HTTP ${lastStatus} (${STATUS_CODES[lastStatus] ?? 'error'}), still after retrying for ${timeoutMillis} ms`;
  }
  if (/timed out/i.test(message)) return `no answer within ${timeoutMillis} ms`;
  return message || 'unknown error';
}

export type ExportCallback = Parameters<OTLPTraceExporter['export']>[1];

/** The export ran out of time as a whole (deadlineMillis), as opposed to one request timing out. */
export class DeadlineError extends Error {
  constructor(ms: number) {
    super(`deadline of ${formatCount(ms)} ms reached`);
  }
}

export const positive = (n: number | undefined): number | undefined => (typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : undefined);

/**
 * The HTTP status of the collector's answers to this export's requests, seen through Node's http diagnostics
 * channel on the export's own agent (the exporter keeps the status of a retried answer to itself).
 */
export class HttpStatusWatch {
  private readonly _agent: Agent;
  last: number | undefined;
  private readonly _onResponse = (msg: unknown): void => {
    const { request, response } = msg as { request?: { agent?: unknown }; response?: { statusCode?: number } };
    const code = response?.statusCode;
    if (request?.agent === this._agent && typeof code === 'number' && (code < 200 || code > 299)) this.last = code;
  };

  constructor(protocol: string) {
    this._agent = protocol === 'https:' ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
    subscribe('http.client.response.finish', this._onResponse);
  }

  readonly agentFactory = (): Agent => this._agent;

  close(): void {
    unsubscribe('http.client.response.finish', this._onResponse);
    this._agent.destroy();
  }
}
