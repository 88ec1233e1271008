// A Node HTTP service instrumented with OpenTelemetry's Node SDK, for
// tests/e2e/otlp_e2e.py. Environment:
//   ROLE=frontend|backend   frontend: GET /order/:id calls the backend's
//                           GET /stock/:id and answers with both results
//   PORT, BACKEND_PORT, SERVICE (service.name)
//   OTLP_URL (ztrace's /v1/traces), OTLP_FORMAT=proto|json (which exporter)
// Each answer carries the ids the SDK gave its server span (the test's
// ground truth). SIGTERM flushes the SDK's last batch, then exits.
'use strict';
const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const api = require('@opentelemetry/api');

const fmt = process.env.OTLP_FORMAT || 'proto';
const { OTLPTraceExporter } = fmt === 'json' ? require('@opentelemetry/exporter-trace-otlp-http')
                                             : require('@opentelemetry/exporter-trace-otlp-proto');
const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ 'service.name': process.env.SERVICE || process.env.ROLE }),
  // a short delay: the test waits for the spans
  spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: process.env.OTLP_URL }),
                                          { scheduledDelayMillis: 200 })],
});
provider.register();
registerInstrumentations({ instrumentations: [new HttpInstrumentation()] });

const http = require('http'); // after the instrumentation is registered

function ids() {
  const sc = api.trace.getActiveSpan().spanContext();
  return { trace_id: sc.traceId, span_id: sc.spanId };
}

const server = http.createServer((req, res) => {
  const own = ids();
  const m = req.url.match(/^\/(order|stock)\/(\d+)$/);
  if (!m) {
    res.writeHead(404);
    res.end();
    return;
  }
  if (process.env.ROLE === 'backend') {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ stock: Number(m[2]) * 3, server: own }));
    return;
  }
  http.get({ host: '127.0.0.1', port: Number(process.env.BACKEND_PORT), path: `/stock/${m[2]}` }, (bres) => {
    let body = '';
    bres.on('data', (c) => (body += c));
    bres.on('end', () => {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ order: Number(m[2]), server: own, backend: JSON.parse(body) }));
    });
  }).on('error', (e) => {
    res.writeHead(502);
    res.end(String(e));
  });
});

server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log(`listening ${process.env.PORT}`));

function shutdown() {
  server.close();
  provider.shutdown().catch((e) => console.error('otel shutdown:', e)).finally(() => process.exit(0));
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
