// OpenTelemetry Node SDK bootstrap for bench/node/app.js, loaded with
// `node -r ./otel.js app.js`. Traces only: http + express auto-instrumentation,
// a BatchSpanProcessor (SDK defaults: 512 spans per batch, 5 s delay, queue
// 2048) and the OTLP/HTTP trace exporter (JSON) posting to
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (bench/node.py runs a sink there that
// counts the spans and discards them). Metrics and logs exporters are off.
'use strict';
process.env.OTEL_METRICS_EXPORTER = process.env.OTEL_METRICS_EXPORTER || 'none';
process.env.OTEL_LOGS_EXPORTER = process.env.OTEL_LOGS_EXPORTER || 'none';

const { NodeSDK } = require('@opentelemetry/sdk-node');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
const { ExpressInstrumentation } = require('@opentelemetry/instrumentation-express');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { ATTR_SERVICE_NAME } = require('@opentelemetry/semantic-conventions');

const exporter = new OTLPTraceExporter({
  url: process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || 'http://127.0.0.1:4318/v1/traces',
});

const sdk = new NodeSDK({
  resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: 'bench-users' }),
  spanProcessors: [new BatchSpanProcessor(exporter)],
  instrumentations: [new HttpInstrumentation(), new ExpressInstrumentation()],
});
sdk.start();

// Flush the last batch before exiting; app.js exits on SIGTERM/SIGINT.
let shuttingDown = false;
function shutdown() {
  if (shuttingDown) return;
  shuttingDown = true;
  sdk.shutdown().catch((e) => console.error('otel shutdown:', e)).finally(() => process.exit(0));
}
process.prependListener('SIGTERM', shutdown);
process.prependListener('SIGINT', shutdown);
