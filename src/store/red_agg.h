/* SPDX-License-Identifier: MIT */
/*
 * red_agg.h - merging stored rollup rows into the groups and steps a RED
 * query asks for (store.h, query_red). Backend-independent: a backend
 * reads its rows in any order and hands them here.
 *
 * Return convention: 0 or a negative errno. Memory: grows with the groups
 * x steps of the answer, at most ZT_RED_MAX_ROWS rows (-E2BIG past it).
 */
#ifndef ZT_STORE_RED_AGG_H
#define ZT_STORE_RED_AGG_H

#include "store/store.h"

struct zt_red_agg;

/* The resolution a query reads: q->res_s, or coarse when the step is a
 * multiple of a minute, else fine. */
uint32_t zt_red_res_for(const struct zt_red_query *q);
/* q is borrowed until free. */
struct zt_red_agg *zt_red_agg_new(const struct zt_red_query *q);
/* Whether a stored row passes q's filters (the ones a backend did not
 * apply itself may be checked here). */
int zt_red_agg_match(const struct zt_red_agg *a, const struct zt_rollup_key *k);
/* Adds one stored row (k as stored) to its group and step. */
int zt_red_agg_add(struct zt_red_agg *a, const struct zt_rollup_key *k, const struct zt_rollup_val *v);
/* The same with the histogram in its stored form (trace/hist.h), merged
 * straight into the group (v's own histogram is not read: leave it empty).
 * A damaged blob adds the counts but nothing to the histogram. */
int zt_red_agg_add_blob(struct zt_red_agg *a, const struct zt_rollup_key *k, const struct zt_rollup_val *v,
			const void *blob, size_t len);
/* Calls cb for each merged row, by group then time; stops when cb
 * returns non-0 and returns that. */
int zt_red_agg_emit(struct zt_red_agg *a, zt_red_cb cb, void *ctx);
void zt_red_agg_free(struct zt_red_agg *a);

#endif /* ZT_STORE_RED_AGG_H */
