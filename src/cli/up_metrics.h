/* SPDX-License-Identifier: MIT */
/*
 * up_metrics.h - `ztrace up`'s own counters for /metrics (server/prom.h):
 * every drop counter of the kernel, the pipeline, the session, the joiner,
 * the sink/store and the rollups, read from an HTTP thread (a counter may
 * be read mid-update: Prometheus counters tolerate that, they only grow).
 */
#ifndef ZT_CLI_UP_METRICS_H
#define ZT_CLI_UP_METRICS_H

#include <stddef.h>

#include "agent/pipeline.h"
#include "server/http.h"
#include "server/prom.h"
#include "session/session.h"
#include "store/sink.h"

struct zt_up_metrics {
	struct zt_session *sess;
	struct zt_pipeline *pipe;
	struct zt_store_sink *sink;
	struct zt_store *store;
	struct zt_http_server *http; /* the server answering: its own counters */
};

/* The red_api self callback (ctx: struct zt_up_metrics). */
size_t zt_up_self_metrics(void *ctx, struct zt_prom_counter *out, size_t cap);

#endif /* ZT_CLI_UP_METRICS_H */
