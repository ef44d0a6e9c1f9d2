'use strict';
// An HTTP server that runs a small MLX model per request, traced with the OpenTelemetry Node SDK and
// mlx-trace: each request is a span, with the model's eval, layer and primitive spans beneath it.
//
//   node examples/jaeger/server.js            # then: curl -X POST http://localhost:3000/predict
//
// Spans go to OTLP/HTTP at OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces,
// else http://localhost:4318/v1/traces (Jaeger all-in-one; see README.md).

const http = require('node:http');
const { trace, SpanKind, SpanStatusCode } = require('@opentelemetry/api');
const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { registerMlxInstrumentation, MlxBatchSpanProcessor } = require('mlx-trace');

// 1. The OTel SDK. register() installs the AsyncLocalStorage context manager, which is what makes the request
//    span the parent of the MLX spans. mlx-trace's batch processor exports in the background, sized for MLX's
//    span rate (a span per primitive, tens of thousands per second under load; OTEL_BSP_* overrides it), and
//    counts what it loses: when the collector is down or slow it drops spans once its queue is full instead of
//    growing without bound. At shutdown it sends every queued batch at once, so the exporter must allow that
//    many requests together (concurrencyLimit), else it refuses the rest.
const sizing = MlxBatchSpanProcessor.sizing();
const mlxBatch = new MlxBatchSpanProcessor(new OTLPTraceExporter({ concurrencyLimit: sizing.concurrencyLimit }), sizing);
const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ 'service.name': process.env.OTEL_SERVICE_NAME || 'mlx-model-server' }),
  spanProcessors: [mlxBatch],
});
provider.register();

// 2. mlx-trace, before @frost-beta/mlx is loaded, so the library is patched as it loads.
const inst = registerMlxInstrumentation({ tracerProvider: provider });

// 3. The model: a two-layer MLP classifier.
const { core: mx, nn } = require('@frost-beta/mlx');

class MLP extends nn.Module {
  constructor(dims, hidden, classes) {
    super();
    this.fc1 = new nn.Linear(dims, hidden);
    this.fc2 = new nn.Linear(hidden, classes);
  }

  forward(x) {
    return this.fc2.forward(nn.relu(this.fc1.forward(x)));
  }
}

const model = new MLP(64, 256, 10);
mx.eval(model.parameters());

const tracer = trace.getTracer('mlx-jaeger-example');

function predict(batch) {
  const x = mx.random.normal([batch, 64]);
  const probs = mx.softmax(model.forward(x), -1);
  mx.eval(probs); // the eval span: MLX runs the lazy graph here, one primitive span per kernel
  return mx.argmax(probs, -1).tolist();
}

const server = http.createServer((req, res) => {
  const path = (req.url || '/').split('?')[0];
  if (path !== '/predict') {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('POST /predict\n');
    return;
  }
  tracer.startActiveSpan(
    `${req.method} /predict`,
    { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method, 'url.path': path } },
    (span) => {
      try {
        const batch = Math.min(256, Math.max(1, Number(new URL(req.url, 'http://x').searchParams.get('batch')) || 8));
        const classes = predict(batch);
        span.setAttribute('http.response.status_code', 200);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ classes }) + '\n');
      } catch (err) {
        span.recordException(err);
        span.setStatus({ code: SpanStatusCode.ERROR, message: String(err && err.message) });
        span.setAttribute('http.response.status_code', 500);
        res.writeHead(500, { 'content-type': 'text/plain' }).end('model failed\n');
      } finally {
        span.end();
      }
    },
  );
});

const port = Number(process.env.PORT || 3000);
server.listen(port, process.env.HOST || '127.0.0.1', () => {
  const { port: actual } = server.address();
  // One line a script can wait for (the example's test reads the port from it).
  console.log(`listening on http://127.0.0.1:${actual}/predict`);
});

/** How long the shutdown waits for the last spans to reach the collector. */
const FLUSH_MS = 5000;

async function shutdown() {
  server.close();
  inst.disable();
  // Every queued batch, answered or failed within FLUSH_MS; a collector that is down or slow must not turn a
  // clean exit into a crash or a hang.
  await mlxBatch.flush(FLUSH_MS);
  // One line: 'mlx-trace: sent 1,234 of 1,234 MLX spans (0 dropped)', with the reasons when some were lost.
  console.error(mlxBatch.summary());
  process.exit(0);
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
