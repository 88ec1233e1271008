/* SPDX-License-Identifier: MIT */
/* red_agg.c - see red_agg.h. Groups live in a growable array with an
 * open-addressing index rebuilt when it grows; emit sorts them. */
#include "store/red_agg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/hash.h"

#define NS 1000000000ULL
#define NONE UINT32_MAX

struct zt_red_agg {
	const struct zt_red_query *q;
	uint32_t res_s;
	uint8_t l7; /* protocol filter, ZT_L7_UNKNOWN: any */
	struct zt_rollup_row *rows;
	uint32_t n, cap;
	uint32_t *index, mask;
};

uint32_t zt_red_res_for(const struct zt_red_query *q)
{
	if (q->res_s == ZT_ROLLUP_RES_FINE || q->res_s == ZT_ROLLUP_RES_COARSE)
		return q->res_s;
	if (q->step_ns && q->step_ns % (ZT_ROLLUP_RES_COARSE * NS) == 0)
		return ZT_ROLLUP_RES_COARSE;
	return ZT_ROLLUP_RES_FINE;
}

struct zt_red_agg *zt_red_agg_new(const struct zt_red_query *q)
{
	struct zt_red_agg *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->q = q;
	a->res_s = zt_red_res_for(q);
	a->l7 = q->protocol ? (uint8_t)zt_l7_from_name(q->protocol) : ZT_L7_UNKNOWN;
	return a;
}

void zt_red_agg_free(struct zt_red_agg *a)
{
	if (!a)
		return;
	free(a->rows);
	free(a->index);
	free(a);
}

int zt_red_agg_match(const struct zt_red_agg *a, const struct zt_rollup_key *k)
{
	const struct zt_red_query *q = a->q;

	if (k->kind != q->kind || k->res_s != a->res_s)
		return 0;
	if (q->since_ns && k->bucket_ns < q->since_ns - q->since_ns % (a->res_s * NS))
		return 0;
	if (q->until_ns && k->bucket_ns >= q->until_ns)
		return 0;
	if ((q->service && strcmp(k->service, q->service)) ||
	    (q->endpoint && strcmp(k->endpoint, q->endpoint)) || (q->peer && strcmp(k->peer, q->peer)) ||
	    (q->host && strcmp(k->host, q->host)) || (q->pid && k->pid != q->pid))
		return 0;
	if (q->protocol && (a->l7 == ZT_L7_UNKNOWN || k->l7 != a->l7))
		return 0;
	return 1;
}

static uint64_t group_hash(const struct zt_rollup_key *k)
{
	uint64_t h =
	    zt_mix64(k->bucket_ns ^ ((uint64_t)k->l7 << 56) ^ k->pid ^ ((uint64_t)k->peer_pid << 24));
	h = zt_mix64(h ^ zt_hash_str(k->host));
	h = zt_mix64(h ^ zt_hash_str(k->service));
	h = zt_mix64(h ^ zt_hash_str(k->endpoint));
	h = zt_mix64(h ^ zt_hash_str(k->peer));
	return zt_mix64(h ^ zt_hash_str(k->peer_host));
}

static int key_cmp(const struct zt_rollup_key *a, const struct zt_rollup_key *b)
{
	int c;

	if ((c = strcmp(a->service, b->service)) || (c = strcmp(a->endpoint, b->endpoint)) ||
	    (c = strcmp(a->peer, b->peer)))
		return c;
	if (a->l7 != b->l7)
		return a->l7 < b->l7 ? -1 : 1;
	if ((c = strcmp(a->host, b->host)))
		return c;
	if (a->pid != b->pid)
		return a->pid < b->pid ? -1 : 1;
	if ((c = strcmp(a->peer_host, b->peer_host)))
		return c;
	if (a->peer_pid != b->peer_pid)
		return a->peer_pid < b->peer_pid ? -1 : 1;
	if (a->bucket_ns != b->bucket_ns)
		return a->bucket_ns < b->bucket_ns ? -1 : 1;
	return 0;
}

static int reindex(struct zt_red_agg *a, uint32_t slots)
{
	uint32_t *ix = malloc(slots * sizeof(*ix));

	if (!ix)
		return -ENOMEM;
	memset(ix, 0xff, slots * sizeof(*ix));
	free(a->index);
	a->index = ix;
	a->mask = slots - 1;
	for (uint32_t r = 0; r < a->n; r++) {
		uint32_t i = (uint32_t)group_hash(&a->rows[r].k) & a->mask;
		while (ix[i] != NONE)
			i = (i + 1) & a->mask;
		ix[i] = r;
	}
	return 0;
}

/* The group row of a stored row (NULL: filtered out, *err set on failure). */
static struct zt_rollup_row *group_of(struct zt_red_agg *a, const struct zt_rollup_key *stored, int *err)
{
	const struct zt_red_query *q = a->q;
	struct zt_rollup_key k;
	uint64_t step = q->step_ns, w = a->res_s * NS;
	uint32_t i;

	*err = 0;
	if (!zt_red_agg_match(a, stored))
		return NULL;
	k = *stored;
	if (q->by != ZT_RED_BY_PROCESS) {
		k.pid = k.peer_pid = 0;
		if (q->by != ZT_RED_BY_HOST)
			k.host[0] = k.peer_host[0] = '\0';
	}
	if (step) {
		step = (step + w - 1) / w * w;
		k.bucket_ns -= k.bucket_ns % step;
	} else {
		k.bucket_ns = q->since_ns - q->since_ns % w;
	}
	if (!a->index || (a->n + 1) * 2 > a->mask + 1) {
		if ((*err = reindex(a, a->index ? (a->mask + 1) * 2 : 64)))
			return NULL;
	}
	for (i = (uint32_t)group_hash(&k) & a->mask; a->index[i] != NONE; i = (i + 1) & a->mask)
		if (!key_cmp(&a->rows[a->index[i]].k, &k))
			return &a->rows[a->index[i]];
	if (a->n == ZT_RED_MAX_ROWS) {
		*err = -E2BIG;
		return NULL;
	}
	if (a->n == a->cap) {
		uint32_t ncap = a->cap ? a->cap * 2 : 16;
		struct zt_rollup_row *nr = realloc(a->rows, (size_t)ncap * sizeof(*nr));
		if (!nr) {
			*err = -ENOMEM;
			return NULL;
		}
		a->rows = nr;
		a->cap = ncap;
	}
	memset(&a->rows[a->n], 0, sizeof(a->rows[0]));
	a->rows[a->n].k = k;
	a->index[i] = a->n;
	return &a->rows[a->n++];
}

int zt_red_agg_add(struct zt_red_agg *a, const struct zt_rollup_key *stored, const struct zt_rollup_val *v)
{
	int err;
	struct zt_rollup_row *g = group_of(a, stored, &err);

	if (g)
		zt_rollup_val_merge(&g->v, v);
	return err;
}

int zt_red_agg_add_blob(struct zt_red_agg *a, const struct zt_rollup_key *stored,
			const struct zt_rollup_val *v, const void *blob, size_t len)
{
	int err;
	struct zt_rollup_row *g = group_of(a, stored, &err);

	if (g) {
		zt_rollup_val_merge(&g->v, v);
		if (blob && len)
			(void)zt_hist_decode_merge(&g->v.hist, blob, len);
	}
	return err;
}

static int row_cmp(const void *x, const void *y)
{
	return key_cmp(&(*(const struct zt_rollup_row *const *)x)->k,
		       &(*(const struct zt_rollup_row *const *)y)->k);
}

int zt_red_agg_emit(struct zt_red_agg *a, zt_red_cb cb, void *ctx)
{
	/* sorted by pointer: a row is 6 KiB, moving rows made the sort the cost */
	const struct zt_rollup_row **order = malloc((a->n ? a->n : 1) * sizeof(*order));
	int rc = 0;

	if (!order)
		return -ENOMEM;
	for (uint32_t i = 0; i < a->n; i++)
		order[i] = &a->rows[i];
	if (a->n)
		qsort(order, a->n, sizeof(order[0]), row_cmp);
	for (uint32_t i = 0; i < a->n && !rc; i++)
		rc = cb(ctx, order[i]);
	free(order);
	return rc;
}
