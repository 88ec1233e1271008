/* SPDX-License-Identifier: MIT */
/*
 * ship.h - the agent's span sink: batches spans (bounded by count and by
 * age), numbers them, writes each to the spool (agent/ship_spool.h) and a
 * sender thread ships them to `ztrace server` over the agent protocol
 * (agent/ship_wire.h), deleting each once acknowledged. While the server is
 * away the sender reconnects with back-off (0.2 s doubling to 5 s) and the
 * spool fills; a full spool drops new batches, counted (spool_full_*).
 *
 *   pipeline writer thread: zt_ship_put / tick / end / flush  -> spool
 *   sender thread:          spool -> TCP -> Ack -> spool delete
 *
 * The put/tick/end/flush functions match the pipeline's sink callbacks
 * (agent/pipeline.h); they never wait on the network.
 *
 * Return convention: 0 or a negative errno (message in err / errmsg).
 * Ownership: spans are copied; cfg strings are copied at zt_ship_new.
 */
#ifndef ZT_AGENT_SHIP_H
#define ZT_AGENT_SHIP_H

#include <stddef.h>
#include <stdint.h>

#include "model/span.h"

struct zt_ship_cfg {
	const char *server;       /* HOST:PORT */
	const char *spool_dir;
	uint64_t spool_max;       /* bytes (0: 256 MiB) */
	uint32_t batch_spans;     /* spans per batch at most (0: 2048) */
	uint64_t batch_age_ns;    /* a batch is closed this long after its first span (0: 1 s) */
	const char *host, *kernel, *version;
	/* Only spans of this network namespace (inode) are shipped (0: all);
	 * the others are counted in netns_skipped. */
	uint32_t netns;
};

struct zt_ship_stats {
	uint64_t spans_in;            /* spans put (after the netns filter) */
	uint64_t netns_skipped;       /* spans of another network namespace */
	uint64_t batches_spooled, spans_spooled;   /* this run */
	uint64_t spool_full_batches, spool_full_spans; /* dropped: the spool was full */
	uint64_t spool_errors;        /* batches not stored: encode or write failed (spans counted below) */
	uint64_t spool_error_spans;
	uint64_t batches_sent;        /* frames sent (resends included) */
	uint64_t acked_seq;
	uint64_t acked_spans_total;   /* spans acknowledged by the server, all runs */
	uint64_t spooled_spans_total; /* spans stored in the spool, all runs: acked + still spooled */
	uint64_t spool_batches, spool_spans, spool_bytes; /* waiting in the spool now */
	uint64_t spool_replayed;      /* batches found in the spool at start */
	uint64_t spool_corrupt;
	uint64_t connects, connect_failures, disconnects;
	uint64_t refused;             /* the server refused the Hello */
	int connected;
};

struct zt_ship;

int zt_ship_new(const struct zt_ship_cfg *cfg, struct zt_ship **out, char *err, size_t errsz);
const char *zt_ship_agent_id(const struct zt_ship *k);
/* pipeline sink callbacks (ctx: the zt_ship) */
int zt_ship_put(void *ctx, const struct zt_span *s);
void zt_ship_tick(void *ctx, uint64_t now_ns);
int zt_ship_end(void *ctx);
int zt_ship_flush(void *ctx);
const char *zt_ship_errmsg(void *ctx);
/* The drop counters sent in the next AgentStats (names borrowed: static
 * strings), replacing the previous ones. At most 48. */
void zt_ship_set_counters(struct zt_ship *k, const char *const *names, const uint64_t *values, size_t n);
/* Waits until the spool is empty (all acknowledged) or timeout_ms passed;
 * 0 or -ETIMEDOUT. */
int zt_ship_drain(struct zt_ship *k, int timeout_ms);
void zt_ship_get_stats(struct zt_ship *k, struct zt_ship_stats *out);
/* Stops the sender thread and frees. */
void zt_ship_free(struct zt_ship *k);

#endif /* ZT_AGENT_SHIP_H */
