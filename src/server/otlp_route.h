/* SPDX-License-Identifier: MIT */
/*
 * otlp_route.h - POST /v1/traces on the HTTP server core (server/http.h):
 * OTLP/HTTP trace ingest into the caller's span queue.
 *
 * Threads: the handler runs on the server's worker threads, several at
 * once; each decodes into its own span builder and hands every span to
 * emit, which must be safe from any thread. `ztrace up` passes
 * zt_pipeline_span_offer (agent/pipeline.h): the spans join the capture
 * pipeline's queue and reach the joiner and the store on the one writer
 * thread, so neither needs a lock of its own; `ztrace server` passes
 * zt_ingest_offer (server/ingest.h), the same idea for its ingest thread.
 * A full queue refuses spans:
 * counted, answered as OTLP partial success (or 503 when all were refused,
 * so the SDK retries).
 *
 * Return convention: 0 or a negative errno.
 */
#ifndef ZT_SERVER_OTLP_ROUTE_H
#define ZT_SERVER_OTLP_ROUTE_H

#include "server/http.h"
#include "server/otlp.h"
#include "server/otlp_export.h"

struct zt_otlp_ingest {
	zt_otlp_emit_fn emit; /* thread-safe */
	void *emit_ctx;
	char host[64];             /* for spans whose resource has no host.name */
	struct zt_otlp_stats stats; /* updated atomically */
};

/* Registers POST /v1/traces (before zt_http_start); in must outlive the
 * server. */
int zt_otlp_route(struct zt_http_server *srv, struct zt_otlp_ingest *in);

/* {"ingest": {...counters}, "export": {...counters}} for /api/v1/status;
 * either may be NULL (left out). Any thread; a new reference. */
json_t *zt_otlp_status_json(struct zt_otlp_ingest *in, struct zt_otlp_exporter *out);

#endif /* ZT_SERVER_OTLP_ROUTE_H */
