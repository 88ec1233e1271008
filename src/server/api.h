/* SPDX-License-Identifier: MIT */
/*
 * api.h - the query API over a store, registered on an HTTP server
 * (server/http.h):
 *   GET /api/v1/spans          spans, filtered (struct zt_span_query), paged
 *   GET /api/v1/traces         trace summaries (struct zt_trace_query)
 *   GET /api/v1/traces/{id}    one trace: {"trace_id", "spans": [...]}
 *   GET /api/v1/services       process names with span and error counts
 *   GET /api/v1/status         version, uptime, HTTP counters, store, and
 *                              what the command's hooks add (pipeline
 *                              drops, agents)
 * and the Jaeger query API (api_jaeger.c): /api/services,
 * /api/services/{s}/operations, /api/traces, /api/traces/{id}.
 *
 * Span and trace-summary objects are exactly the CLI's --json objects
 * (model/span_json.h, store/trace_json.h).
 *
 * The API reads through its own read-only store handle, one query at a
 * time (a mutex: a store handle serves one thread at a time).
 *
 * Return convention: 0 or a negative errno, with a message in err.
 */
#ifndef ZT_SERVER_API_H
#define ZT_SERVER_API_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "server/http.h"
#include "store/store.h"

struct zt_api;

/* A hook adds keys to the /api/v1/status object (or, for agents, fills
 * the "agents" array). Called on an HTTP worker thread while the API's
 * lock is held: read shared counters atomically, do not block. */
typedef void (*zt_api_hook)(void *ctx, json_t *out);

struct zt_api_cfg {
	const char *store_url; /* opened read-only by the API */
	const char *version;   /* ztrace's version, shown by /api/v1/status */
	zt_api_hook status;    /* adds pipeline/store-writer facts; may be NULL */
	void *status_ctx;
};

int zt_api_new(const struct zt_api_cfg *cfg, struct zt_api **out, char *err, size_t errsz);
/* Registers every route of this file and of api_jaeger.c on srv; api
 * must outlive srv's serving (free srv first). */
int zt_api_register(struct zt_api *api, struct zt_http_server *srv);
/* The agents section of /api/v1/status: fn fills the "agents" array
 * (`ztrace server`'s registry); NULL: an empty array. May be set while
 * serving. */
void zt_api_set_agents_hook(struct zt_api *api, zt_api_hook fn, void *ctx);
void zt_api_free(struct zt_api *api);

/* ---- shared by api.c and api_jaeger.c ---- */

/* Runs fn with the API's store under its lock; returns fn's value. */
typedef int (*zt_api_store_fn)(struct zt_store *st, void *arg);
int zt_api_with_store(struct zt_api *api, zt_api_store_fn fn, void *arg);
int zt_api_jaeger_register(struct zt_api *api, struct zt_http_server *srv);

#endif /* ZT_SERVER_API_H */
