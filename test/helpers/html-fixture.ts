/**
 * Traces for the HTML dashboard tests, built on the synthetic generator: one with advisor findings, one whose
 * names are script injections, one empty.
 */
import { TRACE_SCHEMA, type Trace } from '../../src/core/model/trace';
import { syntheticTrace } from './synthetic-trace';

/** The shape the advisor writes into trace.meta.advice. */
export function withAdvice(trace: Trace): Trace {
  return {
    ...trace,
    meta: {
      ...trace.meta,
      advice: [
        {
          rule: 'fused-softmax',
          severity: 'warning',
          message: 'Softmax is spelled out by hand in 2 layers (exp, sum, divide).',
          suggestion: 'Use mx.softmax, which runs as one fused kernel.',
          evidence: [1, 2],
          timeAtStake: 1200,
        },
        { rule: 'eval-too-often', severity: 'info', message: 'One eval per step: fine.', suggestion: '' },
      ],
    },
  };
}

export const XSS_LAYER = '<img src=x onerror=alert(1)>';
export const XSS_OP = '</script><script>window.__xss=2;alert(2)</script>';
export const XSS_NAME = '"><svg onload=alert(3)>';

/** Every name a user controls carries markup that would run if it were inserted as HTML. */
export function xssTrace(): Trace {
  const t = syntheticTrace({ steps: 2, blocks: 2, name: XSS_NAME });
  for (const s of t.spans) {
    if (s.kind === 'primitive') {
      if (s.layer) s.layer = XSS_LAYER;
      if (s.name === 'Gather') s.name = XSS_OP;
      if (s.inputs[0]) s.inputs = [{ ...s.inputs[0], dtype: '<b onmouseover=alert(4)>f32' }, ...s.inputs.slice(1)];
    } else if (s.kind === 'layer') s.name = `${XSS_LAYER} (<i>Block</i>)`;
  }
  return {
    ...t,
    meta: {
      ...t.meta,
      host: { ...t.meta.host, hostname: '<iframe src=javascript:alert(5)>' },
      advice: [{ rule: '<script>alert(6)</script>', severity: '<b>high</b>', message: XSS_LAYER, suggestion: '<a href=javascript:alert(7)>fix</a>',
        evidence: [t.spans[0].id] }],
      note: '<img src=x onerror=window.__xss=1>',
    },
    counters: [{ name: XSS_LAYER, unit: '<b onmouseover=alert(8)>°C', samples: [[t.spans[0].start, 40], [t.spans[t.spans.length - 1].end, 50]] }],
  };
}

export function emptyTrace(): Trace {
  const base = syntheticTrace({ steps: 1 });
  return { ...base, name: 'empty', spans: [], memory: [], schema: TRACE_SCHEMA };
}
