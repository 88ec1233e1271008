/* SPDX-License-Identifier: MIT */
/*
 * otlp_pb.c - ExportTraceServiceRequest in protobuf (protobuf-c) -> spans.
 *
 * protobuf-c's unpack recurses into nested messages with no depth bound,
 * and OTLP's AnyValue nests (array_value, kvlist_value) without end: a body
 * of a few MiB of nested arrays would overflow the stack. So the wire is
 * first walked by the generated descriptors (depth and message count
 * bounded, iterative within a message), and unpack then runs on an
 * allocator with a memory budget.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "server/otlp.h"
#include "server/otlp_map.h"

typedef Opentelemetry__Proto__Common__V1__KeyValue pb_kv;
typedef Opentelemetry__Proto__Common__V1__AnyValue pb_any;
typedef Opentelemetry__Proto__Trace__V1__Span pb_span;

#define MAX_MSGS 1000000u /* nested messages in one request */

static int read_varint(const uint8_t *p, size_t n, size_t *i, uint64_t *out)
{
	uint64_t v = 0;

	for (int shift = 0; shift < 64; shift += 7) {
		if (*i >= n)
			return -1;
		uint8_t b = p[(*i)++];
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return 0;
		}
	}
	return -1;
}

/* Checks that p[0..n) is well-formed protobuf for d, nested at most
 * ZT_OTLP_MAX_DEPTH deep with at most MAX_MSGS messages. */
static int pb_check(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n, int depth, uint32_t *msgs)
{
	size_t i = 0;
	uint64_t tag, len;

	if (depth > ZT_OTLP_MAX_DEPTH || ++*msgs > MAX_MSGS)
		return -1;
	while (i < n) {
		if (read_varint(p, n, &i, &tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
			return -1;
		switch (tag & 7) {
		case 0:
			if (read_varint(p, n, &i, &len))
				return -1;
			break;
		case 1:
			if (n - i < 8)
				return -1;
			i += 8;
			break;
		case 5:
			if (n - i < 4)
				return -1;
			i += 4;
			break;
		case 2: {
			if (read_varint(p, n, &i, &len) || len > n - i)
				return -1;
			const ProtobufCFieldDescriptor *f =
			    protobuf_c_message_descriptor_get_field(d, (unsigned)(tag >> 3));
			if (f && f->type == PROTOBUF_C_TYPE_MESSAGE &&
			    pb_check(f->descriptor, p + i, (size_t)len, depth + 1, msgs))
				return -1;
			i += (size_t)len;
			break;
		}
		default: /* groups (3, 4) are not in proto3; 6, 7 do not exist */
			return -1;
		}
	}
	return 0;
}

/* ---- an allocator with a budget ---- */

struct budget {
	size_t used, max;
};

static void *b_alloc(void *data, size_t size)
{
	struct budget *b = data;
	size_t *p;

	if (size > b->max - b->used || size + sizeof(size_t) < size)
		return NULL;
	p = malloc(size + sizeof(size_t));
	if (!p)
		return NULL;
	*p = size;
	b->used += size;
	return p + 1;
}

static void b_free(void *data, void *ptr)
{
	struct budget *b = data;
	size_t *p = ptr;

	if (!p)
		return;
	b->used -= p[-1];
	free(p - 1);
}

/* ---- mapping ---- */

static void val_of(const pb_any *a, struct otlp_val *v)
{
	memset(v, 0, sizeof(*v));
	if (!a)
		return;
	switch (a->value_case) {
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE:
		v->type = OTLP_V_STR;
		v->s = a->string_value ? a->string_value : "";
		v->n = strlen(v->s);
		break;
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
		v->type = OTLP_V_INT;
		v->i = a->int_value;
		break;
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
		v->type = OTLP_V_DOUBLE;
		v->d = a->double_value;
		break;
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
		v->type = OTLP_V_BOOL;
		v->i = a->bool_value;
		break;
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE__NOT_SET:
		break;
	default:
		v->type = OTLP_V_OTHER;
	}
}

static void map_span(struct otlp_sb *b, const pb_span *sp)
{
	struct otlp_val v;

	otlp_span_ids_raw(b, sp->trace_id.data, sp->trace_id.len, sp->span_id.data, sp->span_id.len,
			  sp->parent_span_id.data, sp->parent_span_id.len);
	if (sp->name)
		otlp_span_set_name(b, sp->name, strlen(sp->name));
	b->kind = (int)sp->kind;
	otlp_span_set_times(b, sp->start_time_unix_nano, sp->end_time_unix_nano);
	if (sp->status)
		otlp_span_set_status(b, (int)sp->status->code, sp->status->message,
				     sp->status->message ? strlen(sp->status->message) : 0);
	for (size_t i = 0; i < sp->n_attributes; i++) {
		const pb_kv *kv = sp->attributes[i];
		if (!kv->key)
			continue;
		val_of(kv->value, &v);
		otlp_span_attr(b, kv->key, strlen(kv->key), &v);
	}
}

int zt_otlp_decode_pb(const uint8_t *buf, size_t len, const char *host, zt_otlp_emit_fn emit, void *ctx,
		      struct zt_otlp_result *r, char *err, size_t errsz)
{
	const ProtobufCMessageDescriptor *d = &opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor;
	struct budget bud = {0, ZT_OTLP_MAX_MEM};
	ProtobufCAllocator alloc = {b_alloc, b_free, &bud};
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *req;
	struct otlp_sb *b;
	struct otlp_res res;
	uint32_t msgs = 0;
	uint64_t nspans = 0;

	memset(r, 0, sizeof(*r));
	if (len > ZT_OTLP_MAX_BODY) {
		snprintf(err, errsz, "request body of %zu bytes exceeds %u", len, ZT_OTLP_MAX_BODY);
		return -EMSGSIZE;
	}
	if (pb_check(d, buf, len, 0, &msgs)) {
		snprintf(err, errsz, "not a valid ExportTraceServiceRequest (malformed protobuf, nested deeper than %d, or "
				     "more than %u messages)", ZT_OTLP_MAX_DEPTH, MAX_MSGS);
		return -EINVAL;
	}
	req = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(&alloc, len, buf);
	if (!req) {
		snprintf(err, errsz, "not a valid ExportTraceServiceRequest%s",
			 bud.used + 4096 >= bud.max ? " (over the decoder's memory budget)" : "");
		return -EINVAL;
	}
	b = malloc(sizeof(*b));
	if (!b) {
		opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req, &alloc);
		snprintf(err, errsz, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < req->n_resource_spans; i++) {
		const Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = req->resource_spans[i];
		otlp_res_init(&res, host);
		for (size_t k = 0; rs->resource && k < rs->resource->n_attributes; k++) {
			const pb_kv *kv = rs->resource->attributes[k];
			struct otlp_val v;
			if (!kv->key)
				continue;
			val_of(kv->value, &v);
			otlp_res_attr(&res, kv->key, strlen(kv->key), &v);
		}
		for (size_t s = 0; s < rs->n_scope_spans; s++) {
			const Opentelemetry__Proto__Trace__V1__ScopeSpans *ss = rs->scope_spans[s];
			const char *scope = ss->scope && ss->scope->name ? ss->scope->name : "";
			for (size_t k = 0; k < ss->n_spans; k++) {
				if (++nspans > ZT_OTLP_MAX_SPANS) {
					otlp_reject(r, "more spans in one request than the bound");
					continue;
				}
				otlp_span_begin(b, &res, scope, strlen(scope));
				map_span(b, ss->spans[k]);
				otlp_span_end(b, emit, ctx, r);
			}
		}
	}
	free(b);
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req, &alloc);
	return 0;
}
