/* SPDX-License-Identifier: MIT */
/*
 * otlp_encode.c - spans -> ExportTraceServiceRequest (protobuf-c), the
 * mapping otlp_export.h describes. All messages of one request live in one
 * allocation (struct enc) sized by the span count; strings point into the
 * spans or into per-span text buffers of that allocation.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "server/otlp_export.h"
#include "util/hash.h"

typedef Opentelemetry__Proto__Common__V1__KeyValue kv_t;
typedef Opentelemetry__Proto__Common__V1__AnyValue any_t;
typedef Opentelemetry__Proto__Trace__V1__Span span_t;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans scope_spans_t;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans rs_t;
typedef Opentelemetry__Proto__Resource__V1__Resource res_t;

#define MAX_KV (16 + ZT_ATTRS_MAX) /* attributes per span */
#define RES_KV 3
#define TEXT_LEN 64 /* formatted numbers, addresses */

/* Everything of one span. */
struct enc_span {
	span_t sp;
	Opentelemetry__Proto__Trace__V1__Status status;
	kv_t kv[MAX_KV];
	kv_t *kvp[MAX_KV];
	any_t any[MAX_KV];
	char text[MAX_KV][TEXT_LEN];
	char name[ZT_TYPE_LEN + ZT_RESOURCE_LEN + 2];
	uint8_t tid[16], sid[8], pid[8];
	unsigned group; /* its resource */
};

/* One resource: (host, process, pid). */
struct enc_res {
	rs_t rs;
	res_t res;
	scope_spans_t ss;
	Opentelemetry__Proto__Common__V1__InstrumentationScope scope;
	scope_spans_t *ssp;
	kv_t kv[RES_KV];
	kv_t *kvp[RES_KV];
	any_t any[RES_KV];
	const struct zt_span *first; /* a span of the group: its host, process, pid */
	size_t nspans;
};

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* hex (exactly 2n digits) -> n bytes; false otherwise. */
static bool unhex(const char *h, uint8_t *out, size_t n)
{
	if (strlen(h) != 2 * n)
		return false;
	for (size_t i = 0; i < n; i++) {
		int a = hexval(h[2 * i]), b = hexval(h[2 * i + 1]);
		if (a < 0 || b < 0)
			return false;
		out[i] = (uint8_t)(a << 4 | b);
	}
	return true;
}

/* An 8-byte id for a uid: its hex when it is 16 hex digits (always, for
 * uids ztrace makes), else a hash of it; never all zero. */
static void id8(const char *uid, uint8_t out[8])
{
	if (!unhex(uid, out, 8)) {
		uint64_t h = zt_mix64(zt_hash_str(uid)) | 1;
		for (int i = 7; i >= 0; i--, h >>= 8)
			out[i] = (uint8_t)h;
	}
}

struct kvb {
	struct enc_span *e;
	unsigned n;
};

static any_t *kv_new(struct kvb *b, const char *key)
{
	unsigned i = b->n;

	if (i >= MAX_KV)
		return NULL;
	opentelemetry__proto__common__v1__key_value__init(&b->e->kv[i]);
	opentelemetry__proto__common__v1__any_value__init(&b->e->any[i]);
	b->e->kv[i].key = (char *)key;
	b->e->kv[i].value = &b->e->any[i];
	b->e->kvp[i] = &b->e->kv[i];
	b->n++;
	return &b->e->any[i];
}

static void kv_str(struct kvb *b, const char *key, const char *val)
{
	any_t *a;

	if (!val || !val[0] || !(a = kv_new(b, key)))
		return;
	a->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
	a->string_value = (char *)val;
}

static void kv_int(struct kvb *b, const char *key, int64_t v)
{
	any_t *a = kv_new(b, key);

	if (!a)
		return;
	a->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
	a->int_value = v;
}

/* A copy into the span's text slot of the next attribute. */
static const char *text_of(struct kvb *b, const char *s)
{
	if (b->n >= MAX_KV)
		return NULL;
	snprintf(b->e->text[b->n], TEXT_LEN, "%s", s);
	return b->e->text[b->n];
}

static bool ip_set(const uint8_t ip[16])
{
	for (int i = 0; i < 16; i++)
		if (ip[i])
			return true;
	return false;
}

static bool is_db(uint8_t l7)
{
	return l7 == ZT_L7_MYSQL || l7 == ZT_L7_POSTGRESQL || l7 == ZT_L7_REDIS || l7 == ZT_L7_MEMCACHED ||
	       l7 == ZT_L7_MONGODB;
}

static const char *db_system(uint8_t l7)
{
	switch (l7) {
	case ZT_L7_MYSQL:
		return "mysql";
	case ZT_L7_POSTGRESQL:
		return "postgresql";
	case ZT_L7_REDIS:
		return "redis";
	case ZT_L7_MEMCACHED:
		return "memcached";
	default:
		return "mongodb";
	}
}

/* The app span's own kind from its span.kind attribute. */
static int app_kind(const struct zt_span *s)
{
	static const char *names[] = {"unspecified", "internal", "server", "client", "producer", "consumer"};

	for (unsigned i = 0; i < s->attributes.n && i < ZT_ATTRS_MAX; i++)
		if (strcmp(s->attributes.a[i].key, "span.kind") == 0)
			for (int k = 0; k < 6; k++)
				if (strcmp(s->attributes.a[i].val, names[k]) == 0)
					return k;
	return 0;
}

static void map_span(const struct zt_span *s, struct enc_span *e)
{
	span_t *sp = &e->sp;
	struct kvb b = {e, 0};
	char buf[64];
	int kind;
	bool client;

	opentelemetry__proto__trace__v1__span__init(sp);
	if (!unhex(s->trace_id, e->tid, 16)) {
		/* not assembled (no joiner): a trace of its own, from the uid */
		uint64_t h = zt_mix64(zt_hash_str(s->span_uid)) | 1;
		memset(e->tid, 0, 8);
		for (int i = 15; i >= 8; i--, h >>= 8)
			e->tid[i] = (uint8_t)h;
	}
	id8(s->span_uid, e->sid);
	sp->trace_id = (ProtobufCBinaryData){16, e->tid};
	sp->span_id = (ProtobufCBinaryData){8, e->sid};
	if (s->parent_uid[0]) {
		id8(s->parent_uid, e->pid);
		sp->parent_span_id = (ProtobufCBinaryData){8, e->pid};
	} else if (s->tap_side == ZT_TAP_APP ? unhex(s->parent_span_id, e->pid, 8) : unhex(s->span_id, e->pid, 8)) {
		/* the caller its trace header (or the SDK) named: the tree
		 * continues into the instrumented service */
		sp->parent_span_id = (ProtobufCBinaryData){8, e->pid};
	}
	switch (s->tap_side) {
	case ZT_TAP_CLIENT_PROCESS:
	case ZT_TAP_CLIENT_NIC:
		kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT;
		break;
	case ZT_TAP_SERVER_PROCESS:
	case ZT_TAP_SERVER_NIC:
		kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER;
		break;
	case ZT_TAP_APP:
		kind = app_kind(s);
		break;
	default:
		kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_INTERNAL;
	}
	sp->kind = (Opentelemetry__Proto__Trace__V1__Span__SpanKind)kind;
	client = kind == OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT;
	if (s->endpoint[0])
		snprintf(e->name, sizeof(e->name), "%s", s->endpoint);
	else if (s->request_type[0])
		snprintf(e->name, sizeof(e->name), "%s%s%s", s->request_type, s->request_resource[0] ? " " : "",
			 s->request_resource);
	else
		snprintf(e->name, sizeof(e->name), "%s", zt_l7_name(s->l7_protocol));
	sp->name = e->name;
	sp->start_time_unix_nano = s->start_ns;
	sp->end_time_unix_nano = s->end_ns >= s->start_ns ? s->end_ns : s->start_ns;

	/* attributes */
	if (s->l7_protocol == ZT_L7_HTTP1) {
		kv_str(&b, "http.request.method", s->request_type);
		kv_str(&b, "url.path", s->request_resource);
		if (s->response_code >= 0)
			kv_int(&b, "http.response.status_code", s->response_code);
		kv_str(&b, "server.address", s->request_domain);
	} else if (is_db(s->l7_protocol)) {
		kv_str(&b, "db.system", db_system(s->l7_protocol));
		kv_str(&b, "db.query.text", s->request_resource);
		kv_str(&b, "db.operation.name", s->request_type);
		kv_str(&b, "db.namespace", s->request_domain);
		if (s->response_code >= 0)
			kv_int(&b, "db.response.status_code", s->response_code);
	} else if (s->l7_protocol != ZT_L7_UNKNOWN) {
		kv_str(&b, "ztrace.request_type", s->request_type);
		kv_str(&b, "ztrace.request_resource", s->request_resource);
		if (s->response_code >= 0)
			kv_int(&b, "ztrace.response_code", s->response_code);
	}
	if (s->l7_protocol != ZT_L7_UNKNOWN)
		kv_str(&b, "network.protocol.name", zt_l7_name(s->l7_protocol));
	/* the other end: the server for a client span, the client for a server span */
	const uint8_t *peer_ip = client ? s->server_ip : s->client_ip;
	uint16_t peer_port = client ? s->server_port : s->client_port;
	if (ip_set(peer_ip)) {
		zt_ip_str(peer_ip, buf, sizeof(buf));
		const char *t = text_of(&b, buf);
		kv_str(&b, "network.peer.address", t);
		kv_str(&b, "net.peer.ip", t);
		if (peer_port) {
			kv_int(&b, "network.peer.port", peer_port);
			kv_int(&b, "net.peer.port", peer_port);
		}
	}
	kv_str(&b, "ztrace.tap_side", zt_tap_side_name((enum zt_tap_side)s->tap_side));
	kv_str(&b, "ztrace.span_uid", s->span_uid);
	if (s->link_kind)
		kv_str(&b, "ztrace.link_kind", zt_link_kind_name(s->link_kind));
	if (s->tid_req)
		kv_int(&b, "thread.id", s->tid_req);
	for (unsigned i = 0; i < s->attributes.n && i < ZT_ATTRS_MAX; i++)
		if (strcmp(s->attributes.a[i].key, "span.kind") != 0)
			kv_str(&b, s->attributes.a[i].key, s->attributes.a[i].val);
	sp->n_attributes = b.n;
	sp->attributes = e->kvp;

	/* status */
	opentelemetry__proto__trace__v1__status__init(&e->status);
	if (s->response_status == ZT_RS_SERVER_ERROR || s->response_status == ZT_RS_TIMEOUT ||
	    (s->response_status == ZT_RS_CLIENT_ERROR && client)) {
		e->status.code = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
		e->status.message = (char *)(s->response_exception[0] ? s->response_exception
								      : zt_resp_status_name((enum zt_resp_status)s->response_status));
		sp->status = &e->status;
	}
}

static bool same_resource(const struct zt_span *a, const struct zt_span *b)
{
	return a->pid == b->pid && strcmp(a->process, b->process) == 0 && strcmp(a->host, b->host) == 0;
}

int zt_otlp_encode(const struct zt_span *spans, size_t n, uint8_t **out, size_t *len)
{
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest req =
	    OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
	struct enc_span *es = calloc(n ? n : 1, sizeof(*es));
	struct enc_res *rs = calloc(n ? n : 1, sizeof(*rs));
	rs_t **rsp = calloc(n ? n : 1, sizeof(*rsp));
	span_t **spp = calloc(n ? n : 1, sizeof(*spp));
	size_t nres = 0;
	int rc = -ENOMEM;

	*out = NULL;
	*len = 0;
	if (!es || !rs || !rsp || !spp)
		goto cleanup;
	for (size_t i = 0; i < n; i++) {
		size_t g;
		map_span(&spans[i], &es[i]);
		for (g = 0; g < nres && !same_resource(rs[g].first, &spans[i]); g++)
			;
		if (g == nres)
			rs[nres++].first = &spans[i];
		es[i].group = (unsigned)g;
		rs[g].nspans++;
	}
	/* each group's spans, contiguous in spp */
	size_t off = 0;
	for (size_t g = 0; g < nres; g++) {
		struct enc_res *r = &rs[g];
		const struct zt_span *f = r->first;
		size_t k = 0;
		opentelemetry__proto__trace__v1__resource_spans__init(&r->rs);
		opentelemetry__proto__resource__v1__resource__init(&r->res);
		opentelemetry__proto__trace__v1__scope_spans__init(&r->ss);
		opentelemetry__proto__common__v1__instrumentation_scope__init(&r->scope);
		r->scope.name = "ztrace";
		r->ss.scope = &r->scope;
		for (int a = 0; a < RES_KV; a++) {
			opentelemetry__proto__common__v1__key_value__init(&r->kv[a]);
			opentelemetry__proto__common__v1__any_value__init(&r->any[a]);
			r->kv[a].value = &r->any[a];
			r->kvp[a] = &r->kv[a];
		}
		r->kv[0].key = "service.name";
		r->any[0].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
		r->any[0].string_value = (char *)(f->process[0] ? f->process : "unknown_service");
		r->res.n_attributes = 1;
		if (f->host[0]) {
			r->kv[1].key = "host.name";
			r->any[1].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
			r->any[1].string_value = (char *)f->host;
			r->res.n_attributes++;
		}
		if (f->pid) {
			kv_t *kv = &r->kv[r->res.n_attributes];
			kv->key = "process.pid";
			kv->value->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
			kv->value->int_value = f->pid;
			r->res.n_attributes++;
		}
		r->res.attributes = r->kvp;
		r->rs.resource = &r->res;
		r->ss.spans = spp + off;
		for (size_t i = 0; i < n; i++)
			if (es[i].group == g)
				spp[off + k++] = &es[i].sp;
		r->ss.n_spans = k;
		off += k;
		r->ssp = &r->ss;
		r->rs.scope_spans = &r->ssp;
		r->rs.n_scope_spans = 1;
		rsp[g] = &r->rs;
	}
	req.resource_spans = rsp;
	req.n_resource_spans = nres;
	*len = opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(&req);
	*out = malloc(*len ? *len : 1);
	if (!*out)
		goto cleanup;
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(&req, *out);
	rc = 0;
cleanup:
	free(spp);
	free(rsp);
	free(rs);
	free(es);
	return rc;
}
