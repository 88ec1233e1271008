/* SPDX-License-Identifier: MIT */
/*
 * otlp.h - OTLP/HTTP trace ingest: ExportTraceServiceRequest, protobuf
 * (protobuf-c) or OTLP/JSON (jansson), into struct zt_span with tap_side
 * `app` (the application's SDK reported it), and the OTLP/HTTP answer.
 *
 * Mapping (one span per OTLP span; otlp_map.c):
 *   span_uid        the OTLP span id (16 hex): unique per span, and what a
 *                   child's parent_span_id names
 *   trace_id, span_id, parent_span_id   lowercase hex of the OTLP ids: the
 *                   joiner's explicit keys, shared with eBPF spans whose
 *                   traceparent carries the same ids
 *   process         resource attribute service.name (host: host.name, pid:
 *                   process.pid)
 *   endpoint        the span name; request_* / response_code / l7_protocol
 *                   from the http.*, url.*, rpc.*, db.*, messaging.*
 *                   semantic attributes (old and new conventions)
 *   response_status status.code ERROR -> server_error (client_error for an
 *                   HTTP 4xx), OK -> ok, UNSET -> by the HTTP/gRPC code if
 *                   any, else ok (UNSET is the SDKs' default for success)
 *   attributes      span.kind, otel.scope (instrumentation scope name)
 * A span without a valid trace id (16 bytes, not all zero) or span id (8
 * bytes, not all zero), or ending before it starts, is rejected (counted,
 * the others are kept: OTLP partial success).
 *
 * Bounds: the body at most ZT_OTLP_MAX_BODY bytes, also once gunzipped;
 * ZT_OTLP_MAX_SPANS spans per request (the rest rejected); protobuf
 * nesting ZT_OTLP_MAX_DEPTH (checked before protobuf-c unpacks, which has
 * no bound of its own) and the unpacked tree's memory ZT_OTLP_MAX_MEM;
 * attributes read per span ZT_OTLP_MAX_ATTRS; strings cut to their field.
 *
 * Return convention: 0, or a negative errno with a message in err:
 * -EINVAL undecodable (HTTP 400), -EMSGSIZE too large (413),
 * -EPROTONOSUPPORT unknown content type or encoding (415), -ENOMEM.
 * Ownership: bodies are borrowed; spans given to emit are borrowed for the
 * call (copy them).
 */
#ifndef ZT_SERVER_OTLP_H
#define ZT_SERVER_OTLP_H

#include <stddef.h>
#include <stdint.h>

#include "model/span.h"

#define ZT_OTLP_MAX_BODY (8u << 20)
#define ZT_OTLP_MAX_SPANS 65536
#define ZT_OTLP_MAX_DEPTH 32
#define ZT_OTLP_MAX_MEM (256u << 20)
#define ZT_OTLP_MAX_ATTRS 256

/* Takes one decoded span; a non-zero return rejects it (counted). */
typedef int (*zt_otlp_emit_fn)(void *ctx, const struct zt_span *s);

struct zt_otlp_result {
	uint64_t accepted; /* spans given to emit and taken */
	uint64_t rejected; /* spans not taken: invalid, over the bound, or emit refused */
	uint64_t busy;     /* of those, refused by emit (a full queue) */
	char reason[160];  /* the first rejection's cause ("" for none) */
};

/* host: the host named on spans whose resource has no host.name. */
int zt_otlp_decode_pb(const uint8_t *buf, size_t len, const char *host, zt_otlp_emit_fn emit, void *ctx,
		      struct zt_otlp_result *r, char *err, size_t errsz);
int zt_otlp_decode_json(const char *buf, size_t len, const char *host, zt_otlp_emit_fn emit, void *ctx,
			struct zt_otlp_result *r, char *err, size_t errsz);

/* ---- OTLP/HTTP (otlp_http.c) ---- */

enum zt_otlp_fmt { ZT_OTLP_PB = 1, ZT_OTLP_JSON = 2 };

/* The answer to one POST /v1/traces. body: malloc'd, the caller frees. */
struct zt_otlp_reply {
	int status;               /* 200, 400, 413, 415, 500, 503 (every span refused by a full queue: retry) */
	const char *content_type; /* static */
	uint8_t *body;
	size_t len;
};

/* Counters of the endpoint (one writer at a time: the caller serialises,
 * or reads them as approximate). */
struct zt_otlp_stats {
	uint64_t requests, spans_accepted, spans_rejected;
	uint64_t bad_requests;   /* 400: undecodable */
	uint64_t too_large;      /* 413 */
	uint64_t unsupported;    /* 415: content type or encoding */
	uint64_t busy;           /* 503: the queue refused every span */
};

/* Decodes one request (content_type / content_encoding as sent, NULL when
 * absent; "gzip" bodies are inflated, bounded) and builds the answer the
 * OTLP/HTTP spec asks for: 200 + ExportTraceServiceResponse (partial_success
 * with rejected_spans when some were refused), or 4xx + a google.rpc.Status,
 * each encoded like the request. Returns 0 when reply is filled (also for a
 * 4xx), -ENOMEM otherwise. st may be NULL; it is updated atomically. */
int zt_otlp_handle(const uint8_t *body, size_t len, const char *content_type, const char *content_encoding,
		   const char *host, zt_otlp_emit_fn emit, void *ctx, struct zt_otlp_stats *st,
		   struct zt_otlp_reply *reply);

#endif /* ZT_SERVER_OTLP_H */
