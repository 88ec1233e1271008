/* SPDX-License-Identifier: MIT */
/*
 * otlp_export.h - OTLP/HTTP export of assembled spans: `ztrace up
 * --otlp-export URL` sends the spans the joiner releases (trace_id and
 * parent set) to an OTLP/HTTP receiver (a collector, Jaeger, Tempo...) as
 * ExportTraceServiceRequest protobuf, over libcurl.
 *
 * Span mapping (zt_otlp_encode):
 *   trace_id        ztrace's trace id (32 hex, explicit or derived) as 16 bytes
 *   span_id         span_uid (16 hex) as 8 bytes: deterministic, and for app
 *                   spans the SDK's own id (their uid is it)
 *   parent_span_id  parent_uid as 8 bytes; without one, the id the span's
 *                   trace header named (an eBPF span's traceparent parent,
 *                   an app span's parent_span_id), so the tree continues
 *                   into the instrumented caller
 *   kind            CLIENT for client-process/client-nic, SERVER for
 *                   server-process/server-nic, an app span's own kind
 *   name            endpoint, else request type and resource, else the protocol
 *   resource        service.name = process (else "unknown_service"),
 *                   host.name, process.pid; one ResourceSpans per
 *                   (host, process, pid) of a batch
 *   attributes      http.request.method, url.path, http.response.status_code,
 *                   server.address; db.system, db.query.text,
 *                   db.operation.name; network.peer.address/port and
 *                   net.peer.ip/port (the other end), network.protocol.name
 *                   (l7 protocol), ztrace.tap_side, ztrace.span_uid,
 *                   ztrace.link_kind, thread.id, the span's own attributes
 *   status          ERROR for server errors and timeouts (and client errors
 *                   on the client side, as OTel's HTTP conventions say),
 *                   with response_exception as message; else UNSET
 *
 * Delivery: zt_otlp_export_put copies a span into a bounded queue (full:
 * dropped and counted, never waited on); an exporter thread sends a batch
 * when it holds batch_max spans or its oldest waited batch_age_ns, and
 * retries a failed send (network error, 429, 502, 503, 504) with
 * exponential back-off (0.5 s doubling, at most max_retries times; then the
 * batch is dropped and counted). Other 4xx answers drop the batch
 * (counted): resending cannot help. Partial success's rejected spans are
 * counted.
 *
 * Return convention: 0 or a negative errno (message in err).
 * Ownership: spans given to put are copied.
 */
#ifndef ZT_SERVER_OTLP_EXPORT_H
#define ZT_SERVER_OTLP_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "model/span.h"

struct zt_otlp_export_cfg {
	const char *url;       /* http(s)://HOST:PORT/v1/traces */
	uint32_t queue_len;    /* spans waiting at most (0: 4096) */
	uint32_t batch_max;    /* spans per request (0: 512) */
	uint64_t batch_age_ns; /* oldest span's wait before a send (0: 1 s) */
	uint32_t max_retries;  /* per batch (0: 5) */
	uint32_t timeout_ms;   /* per request (0: 10000) */
};

struct zt_otlp_export_stats {
	uint64_t queued;          /* spans taken by put */
	uint64_t sent;            /* spans in batches the receiver accepted */
	uint64_t dropped_full;    /* spans put into a full queue */
	uint64_t dropped_failed;  /* spans of batches given up (retries spent, 4xx, encode failure) */
	uint64_t rejected;        /* spans the receiver refused by partial success */
	uint64_t self_skipped;    /* spans of the export's own requests (the receiver traced) */
	uint64_t requests, retries, failures;
	char last_error[256];
};

struct zt_otlp_exporter;

/* Checks the URL (http:// or https://) and starts the exporter thread. */
int zt_otlp_export_new(const struct zt_otlp_export_cfg *cfg, struct zt_otlp_exporter **out, char *err, size_t errsz);
/* Queues a copy of s; any thread. -ENOSPC when full (counted). The
 * signature fits zt_store_sink_new's on_span. */
int zt_otlp_export_put(void *exp, const struct zt_span *s);
/* Sends what is queued (waiting at most timeout_ms in all), stops the
 * thread and frees; NULL is fine. stats (optional) gets the final counts. */
void zt_otlp_export_free(struct zt_otlp_exporter *e, uint32_t timeout_ms, struct zt_otlp_export_stats *stats);
/* A snapshot of the counters. */
void zt_otlp_export_get_stats(struct zt_otlp_exporter *e, struct zt_otlp_export_stats *out);

/* Encodes n spans as one ExportTraceServiceRequest (malloc'd into *out). */
int zt_otlp_encode(const struct zt_span *spans, size_t n, uint8_t **out, size_t *len);

#endif /* ZT_SERVER_OTLP_EXPORT_H */
