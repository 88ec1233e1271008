/* SPDX-License-Identifier: MIT */
/*
 * sink.h - the span sink of `up` and `replay`: trace assembly (the joiner)
 * in front of a store. Spans go through the joiner's window; what it
 * releases, and the late links and aliases it finds, go to the store. The
 * functions match the pipeline's sink callbacks (agent/pipeline.h).
 *
 * Return convention: 0 or a negative errno (message: zt_store_sink_errmsg).
 *
 * Back-off (zt_store_sink_backoff, `up`): a store that fails to write (a
 * full disk, an I/O error) does not stop tracing. The sink stops writing,
 * counts every span it cannot store (store_failed) and tries again after
 * 1 s, then 2, 4, 8 s at most; the store keeps its unwritten batch for that
 * retry. Without back-off (replay) the first failure is returned.
 */
#ifndef ZT_STORE_SINK_H
#define ZT_STORE_SINK_H

#include "store/store.h"
#include "trace/joiner.h"
#include "trace/rollup.h"

struct zt_store_sink;

/* st: borrowed, NULL for none (replay --no-store); on_span: optional, sees
 * every released span (replay --json). */
struct zt_store_sink *zt_store_sink_new(struct zt_store *st, const struct zt_joiner_cfg *jc,
					int (*on_span)(void *ctx, const struct zt_span *s), void *ctx);
int zt_store_sink_put(void *sink, const struct zt_span *s);
/* The same for one span encoded (model/span_codec.h; trace/joiner.h
 * zt_joiner_put_rec). */
int zt_store_sink_put_rec(void *sink, const uint8_t *rec, size_t len);
void zt_store_sink_tick(void *sink, uint64_t now_ns);
int zt_store_sink_end(void *sink);
int zt_store_sink_flush(void *sink);
const char *zt_store_sink_errmsg(void *sink);

struct zt_store_sink_stats {
	uint64_t store_failed; /* spans not stored: dropped while failing, or
				* pending in the store's batch at the end */
	uint64_t failures;     /* times writing started failing */
	uint64_t recoveries;   /* times it worked again */
	int failing;           /* backing off now */
	uint64_t retention_dropped; /* old spans dropped by retention */
	uint64_t retention_errors;
	uint64_t rollup_rows_dropped; /* rollup rows dropped by their retention */
	char last_error[768];  /* the store's message when it started failing */
};
void zt_store_sink_backoff(struct zt_store_sink *k, int on);
/* Retention, applied from the writer's ticks (every 10 s, or a quarter of
 * a short max_age, at least 1 s): spans that started more than max_age_ns
 * before now, then the oldest while the store takes more than max_bytes,
 * are dropped (counted in retention_dropped). 0: no such bound. */
void zt_store_sink_retention(struct zt_store_sink *k, uint64_t max_age_ns, uint64_t max_bytes);
/* After the last flush: what the store still holds unwritten (it was
 * failing) is counted in store_failed. */
void zt_store_sink_finish(struct zt_store_sink *k);
/* RED rollups of the released spans (trace/rollup.h): written with each
 * flush when the store keeps rollups; rows of 10 s buckets older than
 * fine_ns and of 1 min buckets older than coarse_ns are dropped (0: kept). */
void zt_store_sink_rollup_retention(struct zt_store_sink *k, uint64_t fine_ns, uint64_t coarse_ns);
/* Borrowed for the sink's life: its cumulative series feed /metrics.
 * NULL for a sink without a store (nothing would read the rollups). */
struct zt_rollup *zt_store_sink_rollup(const struct zt_store_sink *k);
const struct zt_store_sink_stats *zt_store_sink_stats(const struct zt_store_sink *k);
const struct zt_joiner_stats *zt_store_sink_joiner_stats(const struct zt_store_sink *k);
void zt_store_sink_free(struct zt_store_sink *k);

/* The store the sink writes (for its status op; owned by the caller of
 * zt_store_sink_new). */
struct zt_store *zt_store_sink_store(const struct zt_store_sink *k);

#endif /* ZT_STORE_SINK_H */
