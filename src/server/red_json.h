/* SPDX-License-Identifier: MIT */
/*
 * red_json.h - RED answers as JSON (jansson), shared by the HTTP API
 * (/api/v1/map, /api/v1/metrics/red) and the CLI (`ztrace map`, `top`):
 * one place decides the shape.
 *
 * A RED object: {"requests", "errors", "error_classes": {"client_error",
 * "server_error", "timeout"}, "error_rate" (0..1), "rate_per_s",
 * "mean_ms", "p50_ms", "p90_ms", "p99_ms"} (quantiles from the merged
 * histogram, within 3.2% of the true value; null when no requests).
 *
 * The map: {"since_ns", "until_ns", "nodes": [{"service", "requests",...
 * RED of what it serves, "protocols": [...], "traced": bool}], "edges":
 * [{"client", "server", "protocol", RED as the client saw it}]}. A node
 * only seen as an edge's end (a client, an untraced server) has zero
 * requests; "traced" is false for a name made from an address.
 *
 * Return convention: 0 or a negative errno with a message in err.
 * Ownership: *out is a new reference (json_decref).
 */
#ifndef ZT_SERVER_RED_JSON_H
#define ZT_SERVER_RED_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "store/store.h"

/* The RED object of v over secs seconds (secs <= 0: no rate). */
json_t *zt_red_val_json(const struct zt_rollup_val *v, double secs);
/* Adds row's labels (service, endpoint, peer as "server", protocol, and
 * host/pid when set) to obj. */
void zt_red_labels_json(json_t *obj, const struct zt_rollup_row *row);

struct zt_red_map_query {
	uint64_t since_ns, until_ns; /* until 0: now */
	const char *host;	     /* drill-down: this host's processes only */
	uint32_t pid;		     /* ... or one process */
	int by_process;		     /* nodes per (service, host, pid) rather than per service */
};
int zt_red_map(struct zt_store *st, const struct zt_red_map_query *q, json_t **out, char *err, size_t errsz);

/* Series of q (one object per group with "points": [{"t_ns", RED...}]),
 * as {"kind", "res_s", "step_ns", "since_ns", "until_ns", "series": [...]}. */
int zt_red_series(struct zt_store *st, const struct zt_red_query *q, json_t **out, char *err, size_t errsz);

#endif /* ZT_SERVER_RED_JSON_H */
