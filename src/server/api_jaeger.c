/* SPDX-License-Identifier: MIT */
/*
 * api_jaeger.c - the Jaeger query API (what Grafana's Jaeger data source
 * and the Jaeger UI call), over the same store as /api/v1:
 *   GET /api/services                       {"data": ["nginx", ...], ...}
 *   GET /api/services/{service}/operations  {"data": ["GET /users/{id}", ...]}
 *   GET /api/traces?service=&operation=&start=&end=&minDuration=&maxDuration=&limit=
 *   GET /api/traces/{traceID}
 * Answers are Jaeger's structured response {"data", "total", "limit",
 * "offset", "errors"} with traces in Jaeger's JSON model
 * (jaegertracing/jaeger model/json/model.go: Trace{traceID, spans,
 * processes}, Span{traceID, spanID, operationName, references, startTime,
 * duration (µs), tags, logs, processID}, KeyValue{key, type, value}).
 *
 * Ids. Jaeger wants hex trace ids of 16 or 32 digits and span ids of 16.
 * A ztrace span_uid is 16 hex digits: it is the spanID. A ztrace trace id
 * that is 16 or 32 hex digits (W3C, B3, the joiner's own, a lone span's
 * uid) is the traceID as is (lower case). Any other (SkyWalking's text
 * ids) is given as its root span's uid (the first span without a parent
 * in the trace, else the first span): /api/traces/{id} reads that back,
 * since the store finds a trace by any of its spans' uids. A 16-digit id
 * not found is also tried with 16 leading zeros (clients that drop them).
 *
 * What maps loosely: service is the process name; a search's service and
 * operation filter the trace's root span (the store indexes roots), and
 * the search asks the store for 4x the limit (service as a prefix,
 * operation as a substring) and then filters exactly. Tags filters are
 * not supported (400). Operations are the endpoints seen in the last hour.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "server/api.h"
#include "server/api_int.h"
#include "util/hash.h"
#include "util/num.h"

#define J_DEFAULT_LIMIT 20
#define J_MAX_LIMIT 1000
#define J_TRACE_MAX_SPANS 10000
#define J_WINDOW_NS (3600ULL * 1000000000ULL)
#define J_MAX_OPS 1024

/* ---- answers ---- */

static int j_reply(struct zt_http_req *req, json_t *data, size_t total)
{
	json_t *o = json_pack("{s:o, s:I, s:i, s:i, s:n}", "data", data ? data : json_null(), "total",
			      (json_int_t)total, "limit", 0, "offset", 0, "errors");

	return zt_http_reply_json(req, 200, o);
}

static int j_error(struct zt_http_req *req, unsigned code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int j_error(struct zt_http_req *req, unsigned code, const char *fmt, ...)
{
	char msg[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (char *c = msg; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
			*c = '?';
	return zt_http_reply_json(req, code,
				  json_pack("{s:n, s:i, s:i, s:i, s:[{s:i, s:s}]}", "data", "total", 0, "limit", 0,
					    "offset", 0, "errors", "code", (int)code, "msg", msg));
}

/* ---- parameters ---- */

int zt_jaeger_parse_duration(const char *s, uint64_t *ns)
{
	static const struct {
		const char *u;
		uint64_t ns;
	} units[] = {{"ns", 1}, {"us", 1000}, {"\xc2\xb5s", 1000}, {"\xce\xbcs", 1000}, {"ms", 1000000},
		     {"s", 1000000000ULL}, {"m", 60000000000ULL}, {"h", 3600000000000ULL}};
	uint64_t total = 0;

	if (!*s)
		return -EINVAL;
	if (!strcmp(s, "0")) {
		*ns = 0;
		return 0;
	}
	while (*s) {
		uint64_t whole = 0, frac = 0, scale = 1, unit = 0, v;
		bool digits = false;
		size_t k, ulen = 0;

		for (; *s >= '0' && *s <= '9'; s++, digits = true) {
			if (whole > (UINT64_MAX - 9) / 10)
				return -EINVAL;
			whole = whole * 10 + (uint64_t)(*s - '0');
		}
		if (*s == '.') {
			for (s++; *s >= '0' && *s <= '9'; s++, digits = true) {
				if (scale < 1000000000ULL) { /* finer than a ns: dropped */
					frac = frac * 10 + (uint64_t)(*s - '0');
					scale *= 10;
				}
			}
		}
		if (!digits)
			return -EINVAL;
		/* the longest unit that matches ("ms" before "m") */
		for (k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
			size_t n = strlen(units[k].u);
			if (!strncmp(s, units[k].u, n) && n > ulen) {
				ulen = n;
				unit = units[k].ns;
			}
		}
		if (!ulen)
			return -EINVAL;
		s += ulen;
		if (whole && unit > UINT64_MAX / whole)
			return -EINVAL;
		v = whole * unit + frac * unit / scale; /* frac < scale <= 1e9, unit <= 3.6e12: may overflow */
		if (frac && unit > UINT64_MAX / frac)
			return -EINVAL;
		if (v < whole * unit || total > UINT64_MAX - v)
			return -EINVAL;
		total += v;
	}
	*ns = total;
	return 0;
}

/* A decimal u64 param; absent: untouched. -EINVAL when bad (not answered). */
static int j_u64(const char *v, uint64_t max, uint64_t *out)
{
	uint64_t x = 0;

	if (!v)
		return 0;
	if (!*v)
		return -EINVAL;
	for (; *v; v++) {
		if (*v < '0' || *v > '9' || x > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		x = x * 10 + (uint64_t)(*v - '0');
	}
	if (x > max)
		return -EINVAL;
	*out = x;
	return 0;
}

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	return n > 0;
}

/* ---- a trace in Jaeger's model ---- */

struct jtrace {
	struct zt_span *s;
	size_t n, cap;
	bool truncated;
	int err;
};

static int collect_cb(void *ctx, const struct zt_span *s)
{
	struct jtrace *t = ctx;

	if (t->n == J_TRACE_MAX_SPANS) {
		t->truncated = true;
		return 1;
	}
	if (t->n == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 16;
		struct zt_span *ns = realloc(t->s, ncap * sizeof(*ns));
		if (!ns)
			return t->err = -ENOMEM;
		t->s = ns;
		t->cap = ncap;
	}
	t->s[t->n++] = *s;
	return 0;
}

static long find_span(const struct jtrace *t, const char *uid)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->s[i].span_uid, uid))
			return (long)i;
	return -1;
}

/* The Jaeger traceID of a trace (see the top of this file). */
static void jaeger_trace_id(const struct jtrace *t, char out[ZT_TRACE_ID_LEN])
{
	const char *id = t->s[0].trace_id[0] ? t->s[0].trace_id : t->s[0].span_uid;
	size_t n = strlen(id), root = 0;

	if ((n == 16 || n == 32) && is_hex(id, n)) {
		for (size_t i = 0; i <= n; i++)
			out[i] = (char)((id[i] >= 'A' && id[i] <= 'F') ? id[i] + 32 : id[i]);
		return;
	}
	for (size_t i = 0; i < t->n; i++) {
		if (!t->s[i].parent_uid[0] || find_span(t, t->s[i].parent_uid) < 0) {
			root = i;
			break;
		}
	}
	snprintf(out, ZT_TRACE_ID_LEN, "%s", t->s[root].span_uid);
}

static bool is_error(uint8_t st)
{
	return st == ZT_RS_CLIENT_ERROR || st == ZT_RS_SERVER_ERROR || st == ZT_RS_TIMEOUT;
}

/* The operation name: the endpoint, else request type and resource, else
 * the protocol. Shared by search, operations and traces. */
static void op_name(const struct zt_span *s, char *out, size_t outsz)
{
	if (s->endpoint[0])
		snprintf(out, outsz, "%s", s->endpoint);
	else if (s->request_type[0] || s->request_resource[0])
		snprintf(out, outsz, "%s%s%s", s->request_type, s->request_type[0] && s->request_resource[0] ? " " : "",
			 s->request_resource);
	else
		snprintf(out, outsz, "%s", s->l7_protocol ? zt_l7_name(s->l7_protocol) : "unknown");
}

static void tag_str(json_t *tags, const char *k, const char *v)
{
	if (v && v[0])
		json_array_append_new(tags, json_pack("{s:s, s:s, s:s%}", "key", k, "type", "string", "value", v,
						      strlen(v)));
}

static void tag_int(json_t *tags, const char *k, int64_t v)
{
	json_array_append_new(tags, json_pack("{s:s, s:s, s:I}", "key", k, "type", "int64", "value", (json_int_t)v));
}

static void tag_bool(json_t *tags, const char *k, bool v)
{
	json_array_append_new(tags, json_pack("{s:s, s:s, s:b}", "key", k, "type", "bool", "value", v));
}

static json_t *span_tags(const struct zt_span *s)
{
	json_t *tags = json_array();
	bool client = s->tap_side == ZT_TAP_CLIENT_PROCESS || s->tap_side == ZT_TAP_CLIENT_NIC;
	const uint8_t *peer_ip = client ? s->server_ip : s->client_ip;
	uint16_t peer_port = client ? s->server_port : s->client_port;
	char ip[64];

	if (!tags)
		return NULL;
	if (s->tap_side)
		tag_str(tags, "span.kind", client ? "client" : "server");
	tag_str(tags, "ztrace.tap_side", s->tap_side ? zt_tap_side_name(s->tap_side) : NULL);
	tag_str(tags, "ztrace.protocol", s->l7_protocol ? zt_l7_name(s->l7_protocol) : NULL);
	if (s->l7_protocol == ZT_L7_HTTP1) {
		tag_str(tags, "http.method", s->request_type);
		tag_str(tags, "http.target", s->request_resource);
		tag_str(tags, "http.host", s->request_domain);
		if (s->response_code >= 0)
			tag_int(tags, "http.status_code", s->response_code);
	} else {
		tag_str(tags, "ztrace.request_type", s->request_type);
		tag_str(tags, "ztrace.request_resource", s->request_resource);
		tag_str(tags, "ztrace.request_domain", s->request_domain);
		if (s->response_code >= 0)
			tag_int(tags, "ztrace.response_code", s->response_code);
	}
	tag_str(tags, "ztrace.response_status", zt_resp_status_name(s->response_status));
	tag_str(tags, "ztrace.response_exception", s->response_exception);
	if (is_error(s->response_status))
		tag_bool(tags, "error", true);
	zt_ip_str(peer_ip, ip, sizeof(ip));
	if (memcmp(peer_ip, (const uint8_t[16]){0}, 16))
		tag_str(tags, "net.peer.ip", ip);
	if (peer_port)
		tag_int(tags, "net.peer.port", peer_port);
	tag_int(tags, "ztrace.req_bytes", (int64_t)s->req_bytes);
	tag_int(tags, "ztrace.resp_bytes", (int64_t)s->resp_bytes);
	if (s->is_tls)
		tag_bool(tags, "ztrace.tls", true);
	tag_str(tags, "ztrace.span_uid", s->span_uid);
	tag_str(tags, "ztrace.trace_id", s->trace_id);
	tag_str(tags, "ztrace.link_kind", s->link_kind ? zt_link_kind_name(s->link_kind) : NULL);
	tag_str(tags, "ztrace.x_request_id", s->x_request_id);
	for (unsigned i = 0; i < s->attributes.n && i < ZT_ATTRS_MAX; i++)
		tag_str(tags, s->attributes.a[i].key, s->attributes.a[i].val);
	return tags;
}

/* The key of a Jaeger process: name, pid and host. */
static bool same_process(const struct zt_span *a, const struct zt_span *b)
{
	return a->pid == b->pid && !strcmp(a->process, b->process) && !strcmp(a->host, b->host);
}

/* The trace t (spans in start order) as a Jaeger Trace object. */
static json_t *jaeger_trace(const struct jtrace *t)
{
	char tid[ZT_TRACE_ID_LEN], op[ZT_ENDPOINT_LEN + ZT_TYPE_LEN + 2], pid[24];
	json_t *spans = json_array(), *procs = json_object();
	size_t *proc_of = calloc(t->n ? t->n : 1, sizeof(*proc_of));
	size_t nproc = 0;

	if (!spans || !procs || !proc_of)
		goto fail;
	jaeger_trace_id(t, tid);
	for (size_t i = 0; i < t->n; i++) {
		const struct zt_span *s = &t->s[i];
		json_t *refs = json_array(), *logs = json_array(), *js;
		size_t p = nproc;

		for (size_t k = 0; k < i; k++) {
			if (same_process(&t->s[k], s)) {
				p = proc_of[k];
				break;
			}
		}
		if (p == nproc) {
			json_t *ptags = json_array();
			tag_str(ptags, "hostname", s->host);
			tag_int(ptags, "pid", s->pid);
			snprintf(pid, sizeof(pid), "p%zu", ++nproc);
			json_object_set_new(procs, pid,
					    json_pack("{s:s, s:o}", "serviceName", s->process[0] ? s->process : "unknown",
						      "tags", ptags));
			p = nproc - 1;
		}
		proc_of[i] = p;
		snprintf(pid, sizeof(pid), "p%zu", p + 1);
		if (s->parent_uid[0] && find_span(t, s->parent_uid) >= 0)
			json_array_append_new(refs, json_pack("{s:s, s:s, s:s}", "refType", "CHILD_OF", "traceID", tid,
							      "spanID", s->parent_uid));
		if (s->response_exception[0])
			json_array_append_new(logs, json_pack("{s:I, s:[{s:s, s:s, s:s}, {s:s, s:s, s:s}]}",
							      "timestamp", (json_int_t)(s->end_ns / 1000), "fields",
							      "key", "event", "type", "string", "value", "error", "key",
							      "message", "type", "string", "value",
							      s->response_exception));
		op_name(s, op, sizeof(op));
		js = json_pack("{s:s, s:s, s:i, s:s, s:o, s:I, s:I, s:o, s:o, s:s}", "traceID", tid, "spanID",
			       s->span_uid, "flags", 1, "operationName", op, "references", refs ? refs : json_array(),
			       "startTime", (json_int_t)(s->start_ns / 1000), "duration",
			       (json_int_t)(s->duration_ns / 1000), "tags", span_tags(s), "logs",
			       logs ? logs : json_array(), "processID", pid);
		if (!js || json_array_append_new(spans, js))
			goto fail;
	}
	free(proc_of);
	{
		json_t *o = json_pack("{s:s, s:o, s:o}", "traceID", tid, "spans", spans, "processes", procs);
		if (o && t->truncated)
			json_object_set_new(o, "warnings",
					    json_pack("[s]", "trace truncated: only its first 10000 spans are shown"));
		return o;
	}
fail:
	free(proc_of);
	json_decref(spans);
	json_decref(procs);
	return NULL;
}

struct jread {
	const char *id;
	struct jtrace t;
};

static int read_trace(struct zt_store *st, void *arg)
{
	struct jread *r = arg;
	int rc = st->ops->query_trace(st, r->id, collect_cb, &r->t);

	return r->t.err ? r->t.err : rc;
}

/* Reads one trace by a Jaeger id (jaeger: lower-cased, maybe
 * zero-extended) or by a store id as is. */
static int load_trace(struct zt_api *api, const char *jid, bool jaeger, struct jtrace *t)
{
	char id[ZT_TRACE_ID_LEN + 16];
	size_t n = strlen(jid);
	struct jread r = {.id = id};
	int rc;

	for (size_t i = 0; i <= n; i++)
		id[i] = (char)((jaeger && jid[i] >= 'A' && jid[i] <= 'F') ? jid[i] + 32 : jid[i]);
	rc = zt_api_with_store(api, read_trace, &r);
	if (jaeger && rc == -ENOENT && n == 16) {
		free(r.t.s);
		memset(&r.t, 0, sizeof(r.t));
		snprintf(id, sizeof(id), "0000000000000000%s", jid);
		for (size_t i = 16; i < 32; i++)
			id[i] = (char)((id[i] >= 'A' && id[i] <= 'F') ? id[i] + 32 : id[i]);
		rc = zt_api_with_store(api, read_trace, &r);
	}
	if (!rc && !r.t.n)
		rc = -ENOENT;
	*t = r.t;
	return rc;
}

/* ---- handlers ---- */

static int h_services(void *ctx, struct zt_http_req *req)
{
	struct zt_api *api = ctx;
	struct zt_api_svc *tab = NULL;
	unsigned n = 0;
	json_t *data = json_array();
	int rc = zt_api_services(api, zt_clock_ns(CLOCK_REALTIME) - J_WINDOW_NS, &tab, &n);

	if (rc) {
		json_decref(data);
		return j_error(req, 500, "reading services failed: %s", strerror(-rc));
	}
	for (unsigned i = 0; data && i < n; i++)
		if (tab[i].name[0])
			json_array_append_new(data, json_string(tab[i].name));
	free(tab);
	return j_reply(req, data, json_array_size(data));
}

struct ops_run {
	struct zt_span_query q;
	const char *service;
	char (*ops)[ZT_ENDPOINT_LEN + ZT_TYPE_LEN + 2];
	unsigned n;
};

static int ops_cb(void *ctx, const struct zt_span *s)
{
	struct ops_run *r = ctx;
	char op[ZT_ENDPOINT_LEN + ZT_TYPE_LEN + 2];

	if (strcmp(s->process, r->service))
		return 0; /* the store's filter is a prefix */
	op_name(s, op, sizeof(op));
	for (unsigned i = 0; i < r->n; i++)
		if (!strcmp(r->ops[i], op))
			return 0;
	if (r->n < J_MAX_OPS)
		memcpy(r->ops[r->n++], op, sizeof(op));
	return 0;
}

static int ops_run(struct zt_store *st, void *arg)
{
	struct ops_run *r = arg;

	return st->ops->query_spans(st, &r->q, ops_cb, r);
}

static int cmp_op(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int h_operations(void *ctx, struct zt_http_req *req)
{
	struct zt_api *api = ctx;
	struct ops_run r;
	json_t *data;
	int rc;

	memset(&r, 0, sizeof(r));
	r.service = zt_http_path_param(req, "service");
	if (!r.service || strlen(r.service) >= ZT_PROCESS_LEN)
		return j_error(req, 400, "invalid service name");
	r.q.process = r.service;
	r.q.since_ns = zt_clock_ns(CLOCK_REALTIME) - J_WINDOW_NS;
	r.ops = calloc(J_MAX_OPS, sizeof(*r.ops));
	if (!r.ops)
		return -ENOMEM;
	rc = zt_api_with_store(api, ops_run, &r);
	if (rc) {
		free(r.ops);
		return j_error(req, 500, "reading operations failed: %s", strerror(-rc));
	}
	qsort(r.ops, r.n, sizeof(*r.ops), cmp_op);
	data = json_array();
	for (unsigned i = 0; data && i < r.n; i++)
		json_array_append_new(data, json_string(r.ops[i]));
	free(r.ops);
	return j_reply(req, data, json_array_size(data));
}

static int h_trace(void *ctx, struct zt_http_req *req)
{
	struct zt_api *api = ctx;
	const char *id = zt_http_path_param(req, "id");
	struct jtrace t = {0};
	json_t *tr;
	int rc;

	if (!id || !(strlen(id) == 16 || strlen(id) == 32) || !is_hex(id, strlen(id)))
		return j_error(req, 400, "invalid trace id '%.40s': 16 or 32 hex digits", id ? id : "");
	rc = load_trace(api, id, true, &t);
	if (rc == -ENOENT || rc == -EINVAL) {
		free(t.s);
		return j_error(req, 404, "trace not found");
	}
	if (rc) {
		free(t.s);
		return j_error(req, 500, "reading the trace failed: %s", strerror(-rc));
	}
	tr = jaeger_trace(&t);
	free(t.s);
	if (!tr)
		return -ENOMEM;
	return j_reply(req, json_pack("[o]", tr), 1);
}

struct search_run {
	struct zt_trace_query q;
	char (*ids)[ZT_TRACE_ID_LEN];
	const char *service, *operation;
	uint64_t end_ns, max_dur_ns;
	unsigned n, want;
	int err;
};

static int search_cb(void *ctx, const struct zt_trace_summary *t)
{
	struct search_run *r = ctx;

	if (r->n == r->want)
		return 1;
	if (strcmp(t->root_process, r->service))
		return 0;
	if (r->operation) {
		struct zt_span s;
		char op[ZT_ENDPOINT_LEN + ZT_TYPE_LEN + 2];

		/* the summary has the root's endpoint: the operation when set */
		zt_span_clear(&s);
		snprintf(s.endpoint, sizeof(s.endpoint), "%s", t->root_endpoint);
		op_name(&s, op, sizeof(op));
		if (t->root_endpoint[0] && strcmp(op, r->operation))
			return 0;
	}
	if (r->end_ns && t->start_ns > r->end_ns)
		return 0;
	if (r->max_dur_ns && t->duration_ns > r->max_dur_ns)
		return 0;
	memcpy(r->ids[r->n++], t->trace_id, ZT_TRACE_ID_LEN);
	return 0;
}

static int search_run(struct zt_store *st, void *arg)
{
	struct search_run *r = arg;

	return st->ops->query_traces(st, &r->q, search_cb, r);
}

static int h_traces(void *ctx, struct zt_http_req *req)
{
	struct zt_api *api = ctx;
	struct search_run r;
	uint64_t start_us = 0, end_us = 0, limit = J_DEFAULT_LIMIT, lookback = 0;
	const char *v, *tags = zt_http_query(req, "tags");
	json_t *data;
	unsigned ntraceid = 0;

	memset(&r, 0, sizeof(r));
	/* traceID=...&traceID=...: those traces */
	for (unsigned i = 0; i < zt_http_query_count(req); i++)
		ntraceid += !strcmp(zt_http_query_key(req, i), "traceID");
	if (ntraceid) {
		data = json_array();
		for (unsigned i = 0; data && i < zt_http_query_count(req); i++) {
			struct jtrace t = {0};
			const char *id = zt_http_query_val(req, i);

			if (strcmp(zt_http_query_key(req, i), "traceID"))
				continue;
			if (!(strlen(id) == 16 || strlen(id) == 32) || !is_hex(id, strlen(id))) {
				json_decref(data);
				return j_error(req, 400, "invalid traceID '%.40s': 16 or 32 hex digits", id);
			}
			if (!load_trace(api, id, true, &t))
				json_array_append_new(data, jaeger_trace(&t));
			free(t.s);
		}
		return j_reply(req, data, json_array_size(data));
	}
	r.service = zt_http_query(req, "service");
	if (!r.service || !r.service[0])
		return j_error(req, 400, "Parameter 'service' is required");
	if (strlen(r.service) >= ZT_PROCESS_LEN)
		return j_error(req, 400, "unknown service '%.40s'", r.service);
	r.operation = zt_http_query(req, "operation");
	if (r.operation && !r.operation[0])
		r.operation = NULL;
	if (j_u64(zt_http_query(req, "start"), UINT64_MAX / 1000, &start_us))
		return j_error(req, 400, "parameter 'start': expected microseconds since the epoch");
	if (j_u64(zt_http_query(req, "end"), UINT64_MAX / 1000, &end_us))
		return j_error(req, 400, "parameter 'end': expected microseconds since the epoch");
	if (j_u64(zt_http_query(req, "limit"), J_MAX_LIMIT, &limit) || !limit)
		return j_error(req, 400, "parameter 'limit': expected 1 to %d", J_MAX_LIMIT);
	if ((v = zt_http_query(req, "minDuration")) && v[0] && zt_jaeger_parse_duration(v, &r.q.min_duration_ns))
		return j_error(req, 400, "parameter 'minDuration': expected a duration such as 1.2s, 100ms, 500us");
	if ((v = zt_http_query(req, "maxDuration")) && v[0] && zt_jaeger_parse_duration(v, &r.max_dur_ns))
		return j_error(req, 400, "parameter 'maxDuration': expected a duration such as 1.2s, 100ms, 500us");
	if (r.max_dur_ns && r.max_dur_ns < r.q.min_duration_ns)
		return j_error(req, 400, "'maxDuration' should be greater than 'minDuration'");
	if ((v = zt_http_query(req, "lookback")) && v[0] && strcmp(v, "custom") &&
	    zt_jaeger_parse_duration(v, &lookback))
		return j_error(req, 400, "parameter 'lookback': expected a duration such as 1h");
	if (tags && tags[0] && strcmp(tags, "{}"))
		return j_error(req, 400, "tag filters are not supported by ztrace");
	if (start_us)
		r.q.since_ns = start_us * 1000;
	else if (lookback)
		r.q.since_ns = zt_clock_ns(CLOCK_REALTIME) - lookback;
	r.end_ns = end_us * 1000;
	r.q.service = r.service;
	r.q.endpoint = r.operation; /* a substring to the store; exact in search_cb */
	r.q.limit = (unsigned)(limit * 4 + 16); /* filtered exactly in search_cb */
	r.want = (unsigned)limit;
	r.ids = calloc(limit, sizeof(*r.ids));
	if (!r.ids)
		return -ENOMEM;
	if (zt_api_with_store(api, search_run, &r) < 0) {
		free(r.ids);
		return j_error(req, 500, "searching traces failed");
	}
	data = json_array();
	for (unsigned i = 0; data && i < r.n; i++) {
		struct jtrace t = {0};

		if (!load_trace(api, r.ids[i], false, &t)) {
			json_t *tr = jaeger_trace(&t);
			if (tr)
				json_array_append_new(data, tr);
		}
		free(t.s);
	}
	free(r.ids);
	return j_reply(req, data, json_array_size(data));
}

int zt_api_jaeger_register(struct zt_api *api, struct zt_http_server *srv)
{
	int rc = 0;

	rc |= zt_http_route(srv, "GET", "/api/services", h_services, api);
	rc |= zt_http_route(srv, "GET", "/api/services/{service}/operations", h_operations, api);
	rc |= zt_http_route(srv, "GET", "/api/traces", h_traces, api);
	rc |= zt_http_route(srv, "GET", "/api/traces/{id}", h_trace, api);
	return rc ? -EINVAL : 0;
}
