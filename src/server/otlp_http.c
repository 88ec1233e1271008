/* SPDX-License-Identifier: MIT */
/*
 * otlp_http.c - one OTLP/HTTP POST /v1/traces: content type and encoding,
 * a bounded gunzip, the decoder, and the answer the OTLP/HTTP spec asks
 * for (ExportTraceServiceResponse with partial_success, or a
 * google.rpc.Status on 4xx/5xx, each in the request's encoding).
 * Independent of the HTTP server: the route (otlp_route.c) passes the body
 * and headers in and sends the reply out.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "server/otlp.h"

#define CT_PB "application/x-protobuf"
#define CT_JSON "application/json"

/* The media type without parameters ("application/json; charset=utf-8"). */
static int fmt_of(const char *ct)
{
	size_t n;

	if (!ct)
		return 0;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	n = strcspn(ct, "; \t");
	if ((n == strlen(CT_PB) && strncasecmp(ct, CT_PB, n) == 0) ||
	    (n == strlen("application/protobuf") && strncasecmp(ct, "application/protobuf", n) == 0))
		return ZT_OTLP_PB;
	if (n == strlen(CT_JSON) && strncasecmp(ct, CT_JSON, n) == 0)
		return ZT_OTLP_JSON;
	return 0;
}

/* Inflates a gzip body into *out (malloc'd), at most ZT_OTLP_MAX_BODY
 * bytes: 0, -EMSGSIZE past the bound, -EINVAL when it is not gzip. */
static int gunzip(const uint8_t *in, size_t n, uint8_t **out, size_t *outlen)
{
	z_stream z;
	size_t cap = n * 4 < 65536 ? 65536 : n * 4;
	uint8_t *buf;
	int zr, rc = 0;

	if (cap > ZT_OTLP_MAX_BODY + 1)
		cap = ZT_OTLP_MAX_BODY + 1;
	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return -ENOMEM;
	buf = malloc(cap);
	if (!buf) {
		inflateEnd(&z);
		return -ENOMEM;
	}
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)n;
	for (;;) {
		z.next_out = buf + z.total_out;
		z.avail_out = (uInt)(cap - z.total_out);
		zr = inflate(&z, Z_NO_FLUSH);
		if (zr == Z_STREAM_END)
			break;
		if (zr != Z_OK && zr != Z_BUF_ERROR) {
			rc = -EINVAL;
			break;
		}
		if (z.avail_out == 0) {
			if (cap > ZT_OTLP_MAX_BODY) {
				rc = -EMSGSIZE;
				break;
			}
			size_t ncap = cap * 2 > ZT_OTLP_MAX_BODY + 1 ? ZT_OTLP_MAX_BODY + 1 : cap * 2;
			uint8_t *nb = realloc(buf, ncap);
			if (!nb) {
				rc = -ENOMEM;
				break;
			}
			buf = nb;
			cap = ncap;
		} else if (z.avail_in == 0 || zr == Z_BUF_ERROR) {
			rc = -EINVAL; /* truncated */
			break;
		}
	}
	if (rc == 0 && z.total_out > ZT_OTLP_MAX_BODY)
		rc = -EMSGSIZE;
	*outlen = z.total_out;
	inflateEnd(&z);
	if (rc) {
		free(buf);
		return rc;
	}
	*out = buf;
	return 0;
}

static void add(uint64_t *c, uint64_t v)
{
	__atomic_fetch_add(c, v, __ATOMIC_RELAXED);
}

/* google.rpc.Status { int32 code = 1; string message = 2; } by hand: it is
 * the only message of that schema OTLP needs. */
static int status_reply(struct zt_otlp_reply *rep, int http, int fmt, int grpc_code, const char *msg)
{
	size_t mlen = strlen(msg);

	rep->status = http;
	if (fmt == ZT_OTLP_PB) {
		uint8_t *p = malloc(mlen + 16);
		size_t o = 0;
		if (!p)
			return -ENOMEM;
		p[o++] = 0x08;
		p[o++] = (uint8_t)grpc_code;
		p[o++] = 0x12;
		for (size_t v = mlen; ; v >>= 7) {
			p[o++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
			if (v <= 0x7f)
				break;
		}
		memcpy(p + o, msg, mlen);
		rep->body = p;
		rep->len = o + mlen;
		rep->content_type = CT_PB;
		return 0;
	}
	json_t *o = json_pack("{s:i,s:s}", "code", grpc_code, "message", msg);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!s)
		return -ENOMEM;
	rep->body = (uint8_t *)s;
	rep->len = strlen(s);
	rep->content_type = CT_JSON;
	return 0;
}

static int ok_reply(struct zt_otlp_reply *rep, int fmt, const struct zt_otlp_result *r)
{
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse resp =
	    OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_RESPONSE__INIT;
	Opentelemetry__Proto__Collector__Trace__V1__ExportTracePartialSuccess ps =
	    OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_PARTIAL_SUCCESS__INIT;
	char msg[200];

	rep->status = 200;
	snprintf(msg, sizeof(msg), "%s", r->reason);
	if (fmt == ZT_OTLP_PB) {
		if (r->rejected) {
			ps.rejected_spans = (int64_t)r->rejected;
			ps.error_message = msg;
			resp.partial_success = &ps;
		}
		size_t n = opentelemetry__proto__collector__trace__v1__export_trace_service_response__get_packed_size(&resp);
		rep->body = malloc(n ? n : 1);
		if (!rep->body)
			return -ENOMEM;
		rep->len = opentelemetry__proto__collector__trace__v1__export_trace_service_response__pack(&resp, rep->body);
		rep->content_type = CT_PB;
		return 0;
	}
	char num[24];
	snprintf(num, sizeof(num), "%llu", (unsigned long long)r->rejected);
	json_t *o = r->rejected ? json_pack("{s:{s:s,s:s}}", "partialSuccess", "rejectedSpans", num, "errorMessage", msg)
				: json_object();
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!s)
		return -ENOMEM;
	rep->body = (uint8_t *)s;
	rep->len = strlen(s);
	rep->content_type = CT_JSON;
	return 0;
}

int zt_otlp_handle(const uint8_t *body, size_t len, const char *content_type, const char *content_encoding,
		   const char *host, zt_otlp_emit_fn emit, void *ctx, struct zt_otlp_stats *st,
		   struct zt_otlp_reply *reply)
{
	static struct zt_otlp_stats dummy;
	int fmt = fmt_of(content_type), rc;
	uint8_t *plain = NULL;
	struct zt_otlp_result r;
	char err[300];

	if (!st)
		st = &dummy;
	memset(reply, 0, sizeof(*reply));
	add(&st->requests, 1);
	if (!fmt) {
		add(&st->unsupported, 1);
		snprintf(err, sizeof(err), "unsupported content type '%.100s': use application/x-protobuf or application/json",
			 content_type ? content_type : "");
		return status_reply(reply, 415, ZT_OTLP_JSON, 3, err);
	}
	if (content_encoding && *content_encoding && strcasecmp(content_encoding, "identity") != 0) {
		if (strcasecmp(content_encoding, "gzip") != 0) {
			add(&st->unsupported, 1);
			snprintf(err, sizeof(err), "unsupported content encoding '%.100s': use gzip or none", content_encoding);
			return status_reply(reply, 415, fmt, 3, err);
		}
		rc = gunzip(body, len, &plain, &len);
		if (rc == -ENOMEM)
			return status_reply(reply, 500, fmt, 13, "out of memory");
		if (rc == -EMSGSIZE) {
			add(&st->too_large, 1);
			snprintf(err, sizeof(err), "request body exceeds %u bytes once decompressed", ZT_OTLP_MAX_BODY);
			return status_reply(reply, 413, fmt, 3, err);
		}
		if (rc) {
			add(&st->bad_requests, 1);
			return status_reply(reply, 400, fmt, 3, "body is not valid gzip");
		}
		body = plain;
	}
	if (fmt == ZT_OTLP_PB)
		rc = zt_otlp_decode_pb(body, len, host, emit, ctx, &r, err, sizeof(err));
	else
		rc = zt_otlp_decode_json((const char *)body, len, host, emit, ctx, &r, err, sizeof(err));
	free(plain);
	switch (rc) {
	case 0:
		break;
	case -EMSGSIZE:
		add(&st->too_large, 1);
		return status_reply(reply, 413, fmt, 3, err);
	case -ENOMEM:
		return status_reply(reply, 500, fmt, 13, err);
	default:
		add(&st->bad_requests, 1);
		return status_reply(reply, 400, fmt, 3, err);
	}
	add(&st->spans_accepted, r.accepted);
	add(&st->spans_rejected, r.rejected);
	if (r.busy && r.busy == r.rejected && r.accepted == 0) {
		/* only back-pressure refused spans: the client retries (OTLP/HTTP 503) */
		add(&st->busy, 1);
		return status_reply(reply, 503, fmt, 14, "the span queue is full: retry later");
	}
	return ok_reply(reply, fmt, &r);
}
