/* SPDX-License-Identifier: MIT */
/*
 * sink.h - the span sink of `up` and `replay`: trace assembly (the joiner)
 * in front of a store. Spans go through the joiner's window; what it
 * releases, and the late links and aliases it finds, go to the store. The
 * functions match the pipeline's sink callbacks (agent/pipeline.h).
 *
 * Return convention: 0 or a negative errno (message: zt_store_sink_errmsg).
 */
#ifndef ZT_STORE_SINK_H
#define ZT_STORE_SINK_H

#include "store/store.h"
#include "trace/joiner.h"

struct zt_store_sink;

/* st: borrowed, NULL for none (replay --no-store); on_span: optional, sees
 * every released span (replay --json). */
struct zt_store_sink *zt_store_sink_new(struct zt_store *st, const struct zt_joiner_cfg *jc,
					int (*on_span)(void *ctx, const struct zt_span *s), void *ctx);
int zt_store_sink_put(void *sink, const struct zt_span *s);
void zt_store_sink_tick(void *sink, uint64_t now_ns);
int zt_store_sink_end(void *sink);
int zt_store_sink_flush(void *sink);
const char *zt_store_sink_errmsg(void *sink);
const struct zt_joiner_stats *zt_store_sink_joiner_stats(const struct zt_store_sink *k);
void zt_store_sink_free(struct zt_store_sink *k);

#endif /* ZT_STORE_SINK_H */
