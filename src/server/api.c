/* SPDX-License-Identifier: MIT */
/*
 * api.c - /api/v1/spans, /api/v1/traces, /api/v1/traces/{id},
 * /api/v1/services and /api/v1/status (api.h).
 *
 * Paging of /api/v1/spans: a page is `limit` spans counted back from the
 * newest matching span, skipping `offset` of them, given oldest first (the
 * first page is what `ztrace spans --limit N --json` prints). Offsets
 * counted from "the newest" move when spans arrive; so the `next` link
 * carries a cursor pinning the newest span's start time of the first page:
 * a later page first counts the matching spans that started after the pin
 * and skips them too. (A span stored late with an older start time can
 * still shift a page by one: the store has no insertion order to pin.)
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "model/span_json.h"
#include "server/api.h"
#include "server/api_int.h"
#include "store/trace_json.h"
#include "util/hash.h"
#include "util/num.h"

#define SPANS_DEFAULT_LIMIT 100
#define SPANS_MAX_LIMIT 10000
#define SPANS_MAX_OFFSET 1000000
#define TRACES_DEFAULT_LIMIT 20
#define TRACES_MAX_LIMIT 10000
#define TRACE_MAX_SPANS 10000
#define SERVICES_DEFAULT_SINCE_NS (3600ULL * 1000000000ULL)
#define SERVICES_MAX 4096

struct zt_api {
	struct zt_store *st;
	pthread_mutex_t mu;
	char version[32];
	uint64_t started_ns;
	zt_api_hook status;
	void *status_ctx;
	zt_api_hook agents; /* under mu */
	void *agents_ctx;
	struct zt_http_server *srv;
};

int zt_api_with_store(struct zt_api *api, zt_api_store_fn fn, void *arg)
{
	int rc;

	pthread_mutex_lock(&api->mu);
	rc = fn(api->st, arg);
	pthread_mutex_unlock(&api->mu);
	return rc;
}

/* A store failure as a 500 (-ENOMEM and the like) or, for what the store
 * calls a bad id, a 400 naming param. */
static int store_error(struct zt_http_req *req, struct zt_api *api, int rc, const char *what)
{
	char msg[sizeof(api->st->errmsg)];

	pthread_mutex_lock(&api->mu);
	snprintf(msg, sizeof(msg), "%s", zt_store_errmsg(api->st));
	pthread_mutex_unlock(&api->mu);
	return zt_http_reply_error(req, 500, NULL, "%s failed: %s", what, msg[0] ? msg : strerror(-rc));
}

/* now - d, 0 when d reaches back past the epoch (no bound) */
static uint64_t since_from(uint64_t d)
{
	uint64_t now = zt_clock_ns(CLOCK_REALTIME);

	return d < now ? now - d : 0;
}

/* ---- /api/v1/spans ---- */

static const char *const side_names[] = {"client", "server", "client-nic", "server-nic", "client-process",
					 "server-process", NULL};
static const uint8_t side_values[] = {ZT_TAP_CLIENT_PROCESS, ZT_TAP_SERVER_PROCESS, ZT_TAP_CLIENT_NIC,
				      ZT_TAP_SERVER_NIC,     ZT_TAP_CLIENT_PROCESS, ZT_TAP_SERVER_PROCESS};
static const char *const status_names[] = {"unknown", "ok", "client_error", "server_error", "timeout", NULL};

/* The filters shared by /api/v1/spans; 0, or -EINVAL once answered. */
static int span_query_params(struct zt_http_req *req, struct zt_span_query *q)
{
	uint64_t d = 0, pid = 0, port = 0;
	bool errors = false;
	int side = -1, status = -1;

	if (zt_http_param_duration(req, "since", &d) || zt_http_param_str(req, "protocol", 32, &q->protocol) ||
	    zt_http_param_str(req, "process", ZT_PROCESS_LEN - 1, &q->process) ||
	    zt_http_param_enum(req, "status", status_names, &status) || zt_http_param_bool(req, "errors", &errors) ||
	    zt_http_param_duration(req, "min_duration", &q->min_duration_ns) ||
	    zt_http_param_str(req, "path", ZT_RESOURCE_LEN - 1, &q->path) ||
	    zt_http_param_str(req, "endpoint", ZT_ENDPOINT_LEN - 1, &q->endpoint) ||
	    zt_http_param_u64(req, "pid", 1, UINT32_MAX, &pid) || zt_http_param_u64(req, "port", 1, 65535, &port) ||
	    zt_http_param_enum(req, "tap_side", side_names, &side))
		return -EINVAL;
	if (q->protocol && zt_l7_from_name(q->protocol) == ZT_L7_UNKNOWN) {
		zt_http_reply_error(req, 400, "protocol", "parameter 'protocol': unknown protocol '%.32s'", q->protocol);
		return -EINVAL;
	}
	if (d)
		q->since_ns = since_from(d);
	q->errors_only = errors;
	q->pid = (uint32_t)pid;
	q->port = (uint16_t)port;
	if (side >= 0)
		q->tap_side = side_values[side];
	if (status >= 0)
		q->status = zt_resp_status_name((enum zt_resp_status)status);
	return 0;
}

struct page {
	json_t *arr;         /* the first keep spans of the result, oldest first */
	size_t keep;
	uint64_t seen;       /* spans the query gave */
	uint64_t newest_ns;  /* the last one's start */
	int err;
};

static int page_cb(void *ctx, const struct zt_span *s)
{
	struct page *p = ctx;

	p->seen++;
	p->newest_ns = s->start_ns;
	if (json_array_size(p->arr) < p->keep) {
		json_t *j = zt_span_to_json(s);
		if (!j || json_array_append_new(p->arr, j))
			return p->err = -ENOMEM;
	}
	return 0;
}

static int count_cb(void *ctx, const struct zt_span *s)
{
	(void)s;
	(*(uint64_t *)ctx)++;
	return 0;
}

struct spans_run {
	struct zt_span_query q;
	struct page page;
	uint64_t pin, newer; /* cursor pin; spans started after it */
	bool have_pin;
};

static int spans_run(struct zt_store *st, void *arg)
{
	struct spans_run *r = arg;
	int rc;

	if (r->have_pin) {
		struct zt_span_query nq = r->q;
		nq.since_ns = r->pin + 1 > r->q.since_ns ? r->pin + 1 : r->q.since_ns;
		nq.limit = 0;
		rc = st->ops->query_spans(st, &nq, count_cb, &r->newer);
		if (rc)
			return rc;
		if (r->newer > SPANS_MAX_OFFSET)
			r->newer = SPANS_MAX_OFFSET;
		r->q.limit += (unsigned)r->newer;
	}
	rc = st->ops->query_spans(st, &r->q, page_cb, &r->page);
	return r->page.err ? r->page.err : rc;
}

/* Appends "&name=value" (percent-encoded) to out. */
static void url_add(char *out, size_t outsz, const char *name, const char *val)
{
	size_t n = strlen(out);

	n += (size_t)snprintf(out + n, n < outsz ? outsz - n : 0, "%s%s=", n ? "&" : "", name);
	for (const unsigned char *c = (const unsigned char *)val; *c && n + 4 < outsz; c++) {
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		    strchr("-._~", *c))
			out[n++] = (char)*c;
		else
			n += (size_t)snprintf(out + n, outsz - n, "%%%02X", *c);
	}
	out[n < outsz ? n : outsz - 1] = '\0';
}

static int parse_cursor(const char *c, uint64_t *pin, uint64_t *off)
{
	unsigned long long a, b;
	int used = 0;

	if (sscanf(c, "%llu_%llu%n", &a, &b, &used) != 2 || c[used] || c[0] < '0' || c[0] > '9' ||
	    strchr(c, '+') || strchr(c, '-') || strchr(c, ' ') || b > SPANS_MAX_OFFSET)
		return -EINVAL;
	*pin = a;
	*off = b;
	return 0;
}

static int h_spans(void *ctx, struct zt_http_req *req)
{
	static const char *const allowed[] = {"since", "protocol", "process", "status", "errors", "min_duration",
					      "path", "endpoint", "pid", "port", "tap_side", "limit",
					      "offset", "cursor", NULL};
	struct zt_api *api = ctx;
	struct spans_run r;
	uint64_t limit = SPANS_DEFAULT_LIMIT, offset = 0;
	const char *cursor = NULL;
	size_t start, end;
	json_t *out, *spans;
	char next[2048] = "";
	bool more;
	int rc;

	memset(&r, 0, sizeof(r));
	if (zt_http_params_only(req, allowed) || span_query_params(req, &r.q) ||
	    zt_http_param_u64(req, "limit", 1, SPANS_MAX_LIMIT, &limit) ||
	    zt_http_param_u64(req, "offset", 0, SPANS_MAX_OFFSET, &offset) ||
	    zt_http_param_str(req, "cursor", 64, &cursor))
		return 0;
	if (cursor && zt_http_query(req, "offset"))
		return zt_http_reply_error(req, 400, "cursor", "give either 'cursor' or 'offset', not both");
	if (cursor && parse_cursor(cursor, &r.pin, &offset))
		return zt_http_reply_error(req, 400, "cursor", "parameter 'cursor': not a cursor this server gave");
	r.have_pin = cursor != NULL;
	/* one more than the page: is there a next one? */
	r.q.limit = (unsigned)(offset + limit + 1);
	r.page.keep = limit + 1;
	r.page.arr = json_array();
	if (!r.page.arr)
		return -ENOMEM;
	rc = zt_api_with_store(api, spans_run, &r);
	if (rc) {
		json_decref(r.page.arr);
		return store_error(req, api, rc, "reading spans");
	}
	/* the result: the newest q.limit spans, oldest first; the page ends
	 * offset+newer spans before its end */
	more = r.page.seen == r.q.limit;
	start = more ? 1 : 0;
	end = r.page.seen > offset + r.newer ? (size_t)(r.page.seen - offset - r.newer) : 0;
	if (end > r.page.keep)
		end = r.page.keep;
	if (end < start)
		end = start;
	spans = json_array();
	for (size_t i = start; spans && i < end; i++)
		json_array_append(spans, json_array_get(r.page.arr, i));
	json_decref(r.page.arr);
	if (!r.have_pin)
		r.pin = r.page.newest_ns;
	if (more) {
		char cur[64];

		for (unsigned i = 0; i < zt_http_query_count(req); i++) {
			const char *k = zt_http_query_key(req, i);
			if (strcmp(k, "offset") && strcmp(k, "cursor"))
				url_add(next, sizeof(next), k, zt_http_query_val(req, i));
		}
		snprintf(cur, sizeof(cur), "%" PRIu64 "_%" PRIu64, r.pin, offset + limit);
		url_add(next, sizeof(next), "cursor", cur);
	}
	out = json_object();
	if (!out || !spans) {
		json_decref(out);
		json_decref(spans);
		return -ENOMEM;
	}
	json_object_set_new(out, "count", json_integer((json_int_t)json_array_size(spans)));
	json_object_set_new(out, "limit", json_integer((json_int_t)limit));
	json_object_set_new(out, "offset", json_integer((json_int_t)offset));
	if (more) {
		char link[2200];
		snprintf(link, sizeof(link), "/api/v1/spans?%s", next);
		json_object_set_new(out, "next", json_string(link));
	} else {
		json_object_set_new(out, "next", json_null());
	}
	json_object_set_new(out, "spans", spans);
	return zt_http_reply_json(req, 200, out);
}

/* ---- /api/v1/traces ---- */

struct traces_run {
	struct zt_trace_query q;
	json_t *arr;
	int err;
};

static int summary_cb(void *ctx, const struct zt_trace_summary *t)
{
	struct traces_run *r = ctx;
	json_t *j = zt_trace_summary_to_json(t);

	if (!j || json_array_append_new(r->arr, j))
		return r->err = -ENOMEM;
	return 0;
}

static int traces_run(struct zt_store *st, void *arg)
{
	struct traces_run *r = arg;
	int rc = st->ops->query_traces(st, &r->q, summary_cb, r);

	return r->err ? r->err : rc;
}

static int h_traces(void *ctx, struct zt_http_req *req)
{
	static const char *const allowed[] = {"since", "service", "endpoint", "errors", "min_duration", "sort",
					      "limit", NULL};
	static const char *const sorts[] = {"start", "duration", NULL};
	struct zt_api *api = ctx;
	struct traces_run r;
	uint64_t d = 0, limit = TRACES_DEFAULT_LIMIT;
	bool errors = false;
	int sort = 0, rc;
	json_t *out;

	memset(&r, 0, sizeof(r));
	if (zt_http_params_only(req, allowed) || zt_http_param_duration(req, "since", &d) ||
	    zt_http_param_str(req, "service", ZT_PROCESS_LEN - 1, &r.q.service) ||
	    zt_http_param_str(req, "endpoint", ZT_ENDPOINT_LEN - 1, &r.q.endpoint) ||
	    zt_http_param_bool(req, "errors", &errors) ||
	    zt_http_param_duration(req, "min_duration", &r.q.min_duration_ns) ||
	    zt_http_param_enum(req, "sort", sorts, &sort) ||
	    zt_http_param_u64(req, "limit", 1, TRACES_MAX_LIMIT, &limit))
		return 0;
	if (d)
		r.q.since_ns = since_from(d);
	r.q.errors_only = errors;
	r.q.sort_by_duration = sort;
	r.q.limit = (unsigned)limit;
	r.arr = json_array();
	if (!r.arr)
		return -ENOMEM;
	rc = zt_api_with_store(api, traces_run, &r);
	if (rc) {
		json_decref(r.arr);
		return store_error(req, api, rc, "reading traces");
	}
	out = json_pack("{s:I, s:I, s:o}", "count", (json_int_t)json_array_size(r.arr), "limit", (json_int_t)limit,
			"traces", r.arr);
	return zt_http_reply_json(req, 200, out);
}

/* ---- /api/v1/traces/{id} ---- */

struct trace_run {
	const char *id;
	json_t *arr;
	char tid[ZT_TRACE_ID_LEN];
	bool truncated;
	int err;
};

static int trace_cb(void *ctx, const struct zt_span *s)
{
	struct trace_run *r = ctx;
	json_t *j;

	if (json_array_size(r->arr) == TRACE_MAX_SPANS) {
		r->truncated = true;
		return 1;
	}
	if (!json_array_size(r->arr)) /* as `ztrace trace` names it */
		snprintf(r->tid, sizeof(r->tid), "%s", s->trace_id[0] ? s->trace_id : s->span_uid);
	j = zt_span_to_json(s);
	if (!j || json_array_append_new(r->arr, j))
		return r->err = -ENOMEM;
	return 0;
}

static int trace_run(struct zt_store *st, void *arg)
{
	struct trace_run *r = arg;
	int rc = st->ops->query_trace(st, r->id, trace_cb, r);

	return r->err ? r->err : rc;
}

/* A trace id or span uid as the store takes them: 1..32 printable
 * characters without spaces (SkyWalking ids are text). */
static bool id_ok(const char *id)
{
	size_t n = strlen(id);

	if (!n || n >= ZT_TRACE_ID_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)id[i] <= 0x20 || (unsigned char)id[i] >= 0x7f)
			return false;
	return true;
}

static int h_trace(void *ctx, struct zt_http_req *req)
{
	static const char *const allowed[] = {NULL};
	struct zt_api *api = ctx;
	struct trace_run r;
	json_t *out;
	int rc;

	memset(&r, 0, sizeof(r));
	if (zt_http_params_only(req, allowed))
		return 0;
	r.id = zt_http_path_param(req, "id");
	if (!r.id || !id_ok(r.id))
		return zt_http_reply_error(req, 400, "id", "invalid trace id: 1 to %d printable characters",
					   ZT_TRACE_ID_LEN - 1);
	r.arr = json_array();
	if (!r.arr)
		return -ENOMEM;
	rc = zt_api_with_store(api, trace_run, &r);
	if (rc == -ENOENT || (!rc && !json_array_size(r.arr))) {
		json_decref(r.arr);
		return zt_http_reply_error(req, 404, "id", "no trace %s", r.id);
	}
	if (rc == -EINVAL) {
		json_decref(r.arr);
		return zt_http_reply_error(req, 400, "id", "invalid trace id '%s'", r.id);
	}
	if (rc) {
		json_decref(r.arr);
		return store_error(req, api, rc, "reading the trace");
	}
	out = json_pack("{s:s, s:o}", "trace_id", r.tid, "spans", r.arr);
	if (out && r.truncated)
		json_object_set_new(out, "truncated", json_true());
	return zt_http_reply_json(req, 200, out);
}

/* ---- /api/v1/services ---- */

struct services_run {
	struct zt_span_query q;
	struct zt_api_svc *tab; /* SERVICES_MAX slots, open addressing */
	unsigned n;
	uint64_t other, other_errors; /* past SERVICES_MAX names */
};

static int services_cb(void *ctx, const struct zt_span *s)
{
	struct services_run *r = ctx;
	bool err = s->response_status == ZT_RS_CLIENT_ERROR || s->response_status == ZT_RS_SERVER_ERROR ||
		   s->response_status == ZT_RS_TIMEOUT;
	size_t i = zt_hash_str(s->process) & (SERVICES_MAX - 1);

	for (unsigned probe = 0; probe < SERVICES_MAX; probe++, i = (i + 1) & (SERVICES_MAX - 1)) {
		struct zt_api_svc *v = &r->tab[i];
		if (!v->used) {
			if (r->n >= SERVICES_MAX * 3 / 4)
				break;
			v->used = true;
			memcpy(v->name, s->process, sizeof(v->name));
			r->n++;
		} else if (strcmp(v->name, s->process)) {
			continue;
		}
		v->spans++;
		v->errors += err;
		return 0;
	}
	r->other++;
	r->other_errors += err;
	return 0;
}

static int services_run(struct zt_store *st, void *arg)
{
	struct services_run *r = arg;

	return st->ops->query_spans(st, &r->q, services_cb, r);
}

static int svc_cmp(const void *a, const void *b)
{
	const struct zt_api_svc *x = a, *y = b;

	if (x->used != y->used)
		return x->used ? -1 : 1;
	if (x->spans != y->spans)
		return x->spans > y->spans ? -1 : 1;
	return strcmp(x->name, y->name);
}

int zt_api_services(struct zt_api *api, uint64_t since_ns, struct zt_api_svc **out, unsigned *n)
{
	struct services_run r;
	int rc;

	memset(&r, 0, sizeof(r));
	r.q.since_ns = since_ns;
	r.tab = calloc(SERVICES_MAX, sizeof(*r.tab));
	if (!r.tab)
		return -ENOMEM;
	rc = zt_api_with_store(api, services_run, &r);
	if (rc) {
		free(r.tab);
		return rc;
	}
	qsort(r.tab, SERVICES_MAX, sizeof(*r.tab), svc_cmp);
	*out = r.tab;
	*n = r.n;
	return 0;
}

static int h_services(void *ctx, struct zt_http_req *req)
{
	static const char *const allowed[] = {"since", NULL};
	struct zt_api *api = ctx;
	uint64_t d = SERVICES_DEFAULT_SINCE_NS, since;
	struct zt_api_svc *tab = NULL;
	unsigned n = 0;
	json_t *arr, *out;
	int rc;

	if (zt_http_params_only(req, allowed) || zt_http_param_duration(req, "since", &d))
		return 0;
	since = since_from(d);
	rc = zt_api_services(api, since, &tab, &n);
	if (rc)
		return store_error(req, api, rc, "reading spans");
	arr = json_array();
	for (unsigned i = 0; arr && i < n; i++)
		json_array_append_new(arr, json_pack("{s:o, s:I, s:I}", "name",
						     tab[i].name[0] ? json_string(tab[i].name) : json_null(), "spans",
						     (json_int_t)tab[i].spans, "errors", (json_int_t)tab[i].errors));
	free(tab);
	out = json_pack("{s:I, s:o}", "since_ns", (json_int_t)since, "services", arr ? arr : json_array());
	return zt_http_reply_json(req, 200, out);
}

/* ---- /api/v1/status ---- */

static int h_status(void *ctx, struct zt_http_req *req)
{
	static const char *const allowed[] = {NULL};
	struct zt_api *api = ctx;
	struct zt_http_stats hs = {0};
	json_t *out, *agents = json_array();
	uint64_t now = zt_clock_ns(CLOCK_REALTIME);

	if (zt_http_params_only(req, allowed))
		return 0;
	if (api->srv)
		zt_http_get_stats(api->srv, &hs);
	out = json_pack("{s:s, s:I, s:{s:I, s:I, s:I, s:I, s:I}}", "version", api->version, "uptime_s",
			(json_int_t)((now - api->started_ns) / 1000000000ULL), "http", "requests",
			(json_int_t)hs.requests, "errors_4xx", (json_int_t)hs.errors_4xx, "errors_5xx",
			(json_int_t)hs.errors_5xx, "unauthorized", (json_int_t)hs.unauthorized, "bodies_too_big",
			(json_int_t)hs.bodies_too_big);
	if (!out || !agents) {
		json_decref(out);
		json_decref(agents);
		return -ENOMEM;
	}
	pthread_mutex_lock(&api->mu);
	{
		json_t *store = json_pack("{s:s, s:I}", "backend", api->st->ops->name, "used_bytes",
					  (json_int_t)(api->st->ops->used_bytes ? api->st->ops->used_bytes(api->st) : 0));
		json_object_set_new(out, "store", store ? store : json_object());
	}
	if (api->status)
		api->status(api->status_ctx, out);
	if (api->agents)
		api->agents(api->agents_ctx, agents);
	pthread_mutex_unlock(&api->mu);
	json_object_set_new(out, "agents", agents);
	return zt_http_reply_json(req, 200, out);
}

/* ---- life ---- */

int zt_api_new(const struct zt_api_cfg *cfg, struct zt_api **out, char *err, size_t errsz)
{
	struct zt_api *api = calloc(1, sizeof(*api));
	int rc;

	*out = NULL;
	if (!api) {
		snprintf(err, errsz, "out of memory");
		return -ENOMEM;
	}
	rc = zt_store_open(cfg->store_url, ZT_STORE_RO, &api->st);
	if (rc) {
		snprintf(err, errsz, "the API cannot read the store %s: %s", cfg->store_url,
			 api->st ? zt_store_errmsg(api->st) : strerror(-rc));
		if (api->st)
			api->st->ops->close(api->st);
		free(api);
		return rc;
	}
	pthread_mutex_init(&api->mu, NULL);
	snprintf(api->version, sizeof(api->version), "%s", cfg->version ? cfg->version : "unknown");
	api->started_ns = zt_clock_ns(CLOCK_REALTIME);
	api->status = cfg->status;
	api->status_ctx = cfg->status_ctx;
	*out = api;
	return 0;
}

int zt_api_register(struct zt_api *api, struct zt_http_server *srv)
{
	int rc = 0;

	api->srv = srv;
	rc |= zt_http_route(srv, "GET", "/api/v1/spans", h_spans, api);
	rc |= zt_http_route(srv, "GET", "/api/v1/traces", h_traces, api);
	rc |= zt_http_route(srv, "GET", "/api/v1/traces/{id}", h_trace, api);
	rc |= zt_http_route(srv, "GET", "/api/v1/services", h_services, api);
	rc |= zt_http_route(srv, "GET", "/api/v1/status", h_status, api);
	if (rc)
		return -EINVAL;
	return zt_api_jaeger_register(api, srv);
}

void zt_api_set_agents_hook(struct zt_api *api, zt_api_hook fn, void *ctx)
{
	pthread_mutex_lock(&api->mu);
	api->agents = fn;
	api->agents_ctx = ctx;
	pthread_mutex_unlock(&api->mu);
}

void zt_api_free(struct zt_api *api)
{
	if (!api)
		return;
	if (api->st)
		api->st->ops->close(api->st);
	pthread_mutex_destroy(&api->mu);
	free(api);
}
