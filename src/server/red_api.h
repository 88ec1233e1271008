/* SPDX-License-Identifier: MIT */
/*
 * red_api.h - the RED routes of the HTTP server (server/http.h):
 *   GET /api/v1/map          the service map (red_json.h) over ?since=
 *                            (default 15m), drill-down ?host= ?pid=
 *                            ?by=service|process
 *   GET /api/v1/metrics/red  RED series: ?kind=service|endpoint|edge (or
 *                            implied by ?endpoint= / ?edge=CLIENT->SERVER),
 *                            ?service= ?endpoint= ?edge= ?protocol= ?host=
 *                            ?pid= ?by=service|host|process ?since=15m
 *                            ?step= (a duration; none: one point)
 *   GET /metrics             Prometheus text (server/prom.h)
 * Bad parameters get a 400 naming the parameter (the core's getters).
 *
 * Stores: with `api` set, queries run on the API's read-only store handle
 * (server/api.h, one query at a time); without, each request opens its
 * own read-only store from store_url (tests). /metrics reads only memory
 * (the rollup's cumulative series and the self counters).
 */
#ifndef ZT_SERVER_RED_API_H
#define ZT_SERVER_RED_API_H

#include <stddef.h>

#include "server/api.h"
#include "server/http.h"
#include "server/prom.h"
#include "trace/rollup.h"

#define ZT_RED_SELF_MAX 64

struct zt_red_api {
	const char *store_url; /* borrowed: a data dir or store URL */
	struct zt_api *api;    /* borrowed, or NULL: open store_url per request */
	/* borrowed, NULL: no RED in /metrics (yet); may be set while serving
	 * (an __atomic store: the command publishes it once the sink exists) */
	struct zt_rollup *roll;
	/* Fills up to cap self counters (names and help: static text);
	 * returns how many. Called on an HTTP thread: read counters
	 * atomically or accept a torn read of a counter. */
	size_t (*self)(void *ctx, struct zt_prom_counter *out, size_t cap);
	void *self_ctx;
};

/* Registers the three routes; api must outlive the server. */
int zt_red_api_register(struct zt_http_server *srv, struct zt_red_api *api);

/* The handlers, for tests (ctx: struct zt_red_api). */
int zt_red_api_map(void *ctx, struct zt_http_req *req);
int zt_red_api_red(void *ctx, struct zt_http_req *req);
int zt_red_api_metrics(void *ctx, struct zt_http_req *req);

#endif /* ZT_SERVER_RED_API_H */
