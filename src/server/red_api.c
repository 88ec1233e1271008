/* SPDX-License-Identifier: MIT */
/* red_api.c - see red_api.h. */
#include "server/red_api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/red_json.h"
#include "store/store.h"

#define NS 1000000000ULL
#define DEFAULT_SINCE_NS (15ULL * 60 * NS)

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static int open_store(struct zt_red_api *api, struct zt_http_req *req, struct zt_store **st)
{
	int rc = zt_store_open(api->store_url, ZT_STORE_RO, st);

	if (rc) {
		zt_http_reply_error(req, rc == -ENOENT ? 404 : 500, NULL, "cannot open the store: %s",
				    *st ? zt_store_errmsg(*st) : strerror(-rc));
		if (*st)
			(*st)->ops->close(*st);
		*st = NULL;
		return rc;
	}
	return 0;
}

/* One RED query on a store: the map (mq) or series (q). */
struct red_call {
	struct zt_http_req *req;
	const struct zt_red_map_query *mq;
	const struct zt_red_query *q;
	json_t *out;
	char *err;
	size_t errsz;
	int answered; /* the store could not be opened: answered already */
};

static int run_query(struct zt_store *st, void *arg)
{
	struct red_call *c = arg;

	return c->mq ? zt_red_map(st, c->mq, &c->out, c->err, c->errsz)
		     : zt_red_series(st, c->q, &c->out, c->err, c->errsz);
}

static int with_store(struct zt_red_api *api, struct red_call *c)
{
	struct zt_store *st = NULL;
	int rc;

	if (api->api)
		return zt_api_with_store(api->api, run_query, c);
	if (open_store(api, c->req, &st)) {
		c->answered = 1;
		return 0;
	}
	rc = run_query(st, c);
	st->ops->close(st);
	return rc;
}

/* The filters both RED routes take. */
static int common(struct zt_http_req *req, uint64_t *since, const char **host, uint32_t *pid)
{
	uint64_t ago = DEFAULT_SINCE_NS, p = 0;

	if (zt_http_param_duration(req, "since", &ago) ||
	    zt_http_param_str(req, "host", ZT_HOSTNAME_LEN - 1, host) ||
	    zt_http_param_u64(req, "pid", 1, UINT32_MAX, &p))
		return -EINVAL;
	*since = now_ns() > ago ? now_ns() - ago : 0;
	*pid = (uint32_t)p;
	return 0;
}

int zt_red_api_map(void *ctx, struct zt_http_req *req)
{
	static const char *const allowed[] = {"since", "host", "pid", "by", NULL};
	static const char *const bys[] = {"service", "process", NULL};
	struct zt_red_api *api = ctx;
	struct zt_red_map_query q = {0};
	char err[512];
	json_t *out;
	int by = 0, rc;

	if (zt_http_params_only(req, allowed) || common(req, &q.since_ns, &q.host, &q.pid) ||
	    zt_http_param_enum(req, "by", bys, &by))
		return 0;
	q.by_process = by == 1;
	{
		struct red_call c = {req, &q, NULL, NULL, err, sizeof(err), 0};
		rc = with_store(api, &c);
		if (c.answered)
			return 0;
		out = c.out;
	}
	if (rc)
		return zt_http_reply_error(req, rc == -EOPNOTSUPP ? 501 : 500, NULL, "%s", err);
	return zt_http_reply_json(req, 200, out);
}

int zt_red_api_red(void *ctx, struct zt_http_req *req)
{
	static const char *const allowed[] = {"kind", "service", "endpoint", "edge", "protocol", "since",
					      "step", "host",	 "pid",	     "by",   NULL};
	static const char *const kinds[] = {"service", "endpoint", "edge", NULL};
	static const char *const bys[] = {"service", "host", "process", NULL};
	struct zt_red_api *api = ctx;
	struct zt_red_query q;
	const char *edge = NULL;
	char client[ZT_SERVICE_LEN], *arrow;
	char err[512];
	json_t *out;
	int kind = -1, by = 0, rc;

	memset(&q, 0, sizeof(q));
	if (zt_http_params_only(req, allowed) || common(req, &q.since_ns, &q.host, &q.pid) ||
	    zt_http_param_enum(req, "kind", kinds, &kind) || zt_http_param_enum(req, "by", bys, &by) ||
	    zt_http_param_str(req, "service", ZT_SERVICE_LEN - 1, &q.service) ||
	    zt_http_param_str(req, "endpoint", ZT_ENDPOINT_LEN - 1, &q.endpoint) ||
	    zt_http_param_str(req, "edge", 2 * ZT_SERVICE_LEN, &edge) ||
	    zt_http_param_str(req, "protocol", 32, &q.protocol) ||
	    zt_http_param_duration(req, "step", &q.step_ns))
		return 0;
	if (q.protocol && zt_l7_from_name(q.protocol) == ZT_L7_UNKNOWN)
		return zt_http_reply_error(req, 400, "protocol", "unknown protocol '%s'", q.protocol);
	if (q.step_ns && q.step_ns < ZT_ROLLUP_RES_FINE * NS)
		return zt_http_reply_error(req, 400, "step", "step must be 10s or more");
	if (q.step_ns && q.since_ns && (now_ns() - q.since_ns) / q.step_ns > ZT_RED_MAX_ROWS)
		return zt_http_reply_error(req, 400, "step",
					   "too many points: raise the step or shorten since");
	if (edge) {
		/* "CLIENT->SERVER"; either side may be empty (any) */
		arrow = strstr(edge, "->");
		if (!arrow || (size_t)(arrow - edge) >= sizeof(client) || strlen(arrow + 2) >= ZT_SERVICE_LEN)
			return zt_http_reply_error(req, 400, "edge", "expected CLIENT->SERVER");
		memcpy(client, edge, (size_t)(arrow - edge));
		client[arrow - edge] = '\0';
		if (client[0])
			q.service = client;
		if (arrow[2])
			q.peer = arrow + 2;
		if (kind >= 0 && kind != ZT_RK_EDGE)
			return zt_http_reply_error(req, 400, "edge", "edge= needs kind=edge");
		kind = ZT_RK_EDGE;
	}
	if (kind < 0)
		kind = q.endpoint ? ZT_RK_ENDPOINT : ZT_RK_SERVICE;
	if (q.endpoint && kind != ZT_RK_ENDPOINT)
		return zt_http_reply_error(req, 400, "endpoint", "endpoint= needs kind=endpoint");
	q.kind = (uint8_t)kind;
	q.by = (uint8_t)by;
	{
		struct red_call c = {req, NULL, &q, NULL, err, sizeof(err), 0};
		rc = with_store(api, &c);
		if (c.answered)
			return 0;
		out = c.out;
	}
	if (rc)
		return zt_http_reply_error(req,
					   rc == -EOPNOTSUPP ? 501
					   : rc == -E2BIG    ? 400
							     : 500,
					   rc == -E2BIG ? "step" : NULL, "%s", err);
	return zt_http_reply_json(req, 200, out);
}

int zt_red_api_metrics(void *ctx, struct zt_http_req *req)
{
	struct zt_red_api *api = ctx;
	struct zt_prom_counter self[ZT_RED_SELF_MAX];
	struct zt_sbuf b = {0};
	size_t n = 0;
	int rc;

	if (zt_http_params_only(req, (const char *const[]){NULL}))
		return 0;
	if (api->self)
		n = api->self(api->self_ctx, self, ZT_RED_SELF_MAX);
	rc = zt_prom_render(&b, __atomic_load_n(&api->roll, __ATOMIC_ACQUIRE), self, n);
	if (rc) {
		zt_sbuf_free(&b);
		return zt_http_reply_error(req, 500, NULL, "out of memory rendering metrics");
	}
	rc = zt_http_reply_raw(req, 200, ZT_PROM_CONTENT_TYPE, b.p, b.n);
	zt_sbuf_free(&b);
	return rc;
}

int zt_red_api_register(struct zt_http_server *srv, struct zt_red_api *api)
{
	int rc = zt_http_route(srv, "GET", "/api/v1/map", zt_red_api_map, api);

	if (!rc)
		rc = zt_http_route(srv, "GET", "/api/v1/metrics/red", zt_red_api_red, api);
	if (!rc)
		rc = zt_http_route(srv, "GET", "/metrics", zt_red_api_metrics, api);
	return rc;
}
