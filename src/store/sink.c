/* SPDX-License-Identifier: MIT */
#include "store/sink.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BACKOFF_MIN_NS 1000000000ULL
#define BACKOFF_MAX_NS 8000000000ULL
#define ROLLUP_DRAIN_NS 1000000000ULL

struct zt_store_sink {
	struct zt_store *st;
	struct zt_joiner *j;
	struct zt_rollup *roll; /* RED of every released span (trace/rollup.h) */
	uint64_t roll_keep_ns[2], next_roll_retain_ns; /* rollup retention: fine, coarse */
	uint64_t next_drain_ns; /* rollups are written at most once a second */
	bool ended;             /* sink_end was called: the next flush drains all */
	int (*on_span)(void *ctx, const struct zt_span *s);
	void *ctx;
	char errmsg[768];
	bool backoff;
	uint64_t retry_ns, wait_ns;
	uint64_t max_age_ns, max_bytes, next_retain_ns;
	struct zt_store_sink_stats stats;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* The store failed (its message is in errmsg): with back-off, start or go
 * on backing off and swallow the error. */
static int store_failed(struct zt_store_sink *k, int rc)
{
	if (!k->backoff)
		return rc;
	if (!k->stats.failing) {
		k->stats.failing = 1;
		k->stats.failures++;
		snprintf(k->stats.last_error, sizeof(k->stats.last_error), "%s", k->errmsg);
		k->wait_ns = BACKOFF_MIN_NS;
	} else if (k->wait_ns < BACKOFF_MAX_NS) {
		k->wait_ns *= 2;
	}
	k->retry_ns = mono_ns() + k->wait_ns;
	return 0;
}

/* While backing off: whether it is time to try the store again. */
static bool may_write(struct zt_store_sink *k)
{
	return !k->stats.failing || mono_ns() >= k->retry_ns;
}

/* A released span: its rollup, the printer, the store (given the record
 * when the joiner made one and the store takes records, else the struct). */
static int out_span_rec(void *ctx, const struct zt_span *s, const uint8_t *rec, size_t len)
{
	struct zt_store_sink *k = ctx;
	int rc = 0;

	if (k->roll)
		zt_rollup_span(k->roll, s);
	if (k->on_span && (rc = k->on_span(k->ctx, s))) {
		snprintf(k->errmsg, sizeof(k->errmsg), "printing spans failed");
		return rc;
	}
	if (!k->st)
		return 0;
	if (k->stats.failing) {
		k->stats.store_failed++; /* the retry is the flush's */
		return 0;
	}
	if ((rc = rec ? k->st->ops->put_recs(k->st, rec, len, 1) : k->st->ops->put_spans(k->st, s, 1))) {
		/* the span was not taken; the store keeps its batch */
		snprintf(k->errmsg, sizeof(k->errmsg), "%s", zt_store_errmsg(k->st));
		rc = store_failed(k, rc);
		if (!rc)
			k->stats.store_failed++;
	}
	return rc;
}

static int out_span(void *ctx, const struct zt_span *s)
{
	return out_span_rec(ctx, s, NULL, 0);
}

static int out_link(void *ctx, const char *child, const char *parent, uint8_t kind)
{
	struct zt_store_sink *k = ctx;
	int rc = 0;

	if (k->roll)
		zt_rollup_link(k->roll, child, parent, kind);
	if (k->stats.failing)
		return 0; /* a late link of spans that may not be stored either */
	if (k->st && k->st->ops->put_link && (rc = k->st->ops->put_link(k->st, child, parent, kind))) {
		snprintf(k->errmsg, sizeof(k->errmsg), "%s", zt_store_errmsg(k->st));
		rc = store_failed(k, rc);
	}
	return rc;
}

static int out_alias(void *ctx, const char *alias, const char *trace_id)
{
	struct zt_store_sink *k = ctx;
	int rc = 0;

	if (k->stats.failing)
		return 0;
	if (k->st && k->st->ops->put_alias && (rc = k->st->ops->put_alias(k->st, alias, trace_id))) {
		snprintf(k->errmsg, sizeof(k->errmsg), "%s", zt_store_errmsg(k->st));
		rc = store_failed(k, rc);
	}
	return rc;
}

struct zt_store_sink *zt_store_sink_new(struct zt_store *st, const struct zt_joiner_cfg *jc,
					int (*on_span)(void *ctx, const struct zt_span *s), void *ctx)
{
	struct zt_store_sink *k = calloc(1, sizeof(*k));
	struct zt_joiner_out out = {0};

	if (!k)
		return NULL;
	k->st = st;
	k->on_span = on_span;
	k->ctx = ctx;
	out.span = out_span;
	out.link = out_link;
	out.alias = out_alias;
	out.ctx = k;
	if (st && st->ops->put_recs)
		out.span_rec = out_span_rec;
	k->j = zt_joiner_new(jc, &out);
	/* without a store nothing would read the rollups */
	k->roll = st ? zt_rollup_new(&(struct zt_rollup_cfg){0}) : NULL;
	if (!k->j || (st && !k->roll)) {
		zt_store_sink_free(k);
		return NULL;
	}
	return k;
}

int zt_store_sink_put_rec(void *sink, const uint8_t *rec, size_t len)
{
	return zt_joiner_put_rec(((struct zt_store_sink *)sink)->j, rec, len);
}

int zt_store_sink_put(void *sink, const struct zt_span *s)
{
	return zt_joiner_put(((struct zt_store_sink *)sink)->j, s);
}

/* Spans dropped by retention per call: a bounded pause of the writer
 * (~0.3 s here); with more to drop it comes back in half a second. */
#define RETAIN_CHUNK 50000

static void retain(struct zt_store_sink *k, uint64_t now_ns)
{
	uint64_t every, cutoff;
	int more = 0;

	if (!k->st || !k->st->ops->retain || (!k->max_age_ns && !k->max_bytes) || k->stats.failing ||
	    now_ns < k->next_retain_ns)
		return;
	/* every 10 s, or a quarter of a short retention, at least 1 s */
	every = k->max_age_ns && k->max_age_ns / 4 < 10000000000ULL ? k->max_age_ns / 4 : 10000000000ULL;
	if (every < 1000000000ULL)
		every = 1000000000ULL;
	cutoff = k->max_age_ns && now_ns > k->max_age_ns ? now_ns - k->max_age_ns : 0;
	if (k->st->ops->retain(k->st, cutoff, k->max_bytes, RETAIN_CHUNK, &k->stats.retention_dropped, &more)) {
		snprintf(k->errmsg, sizeof(k->errmsg), "%s", zt_store_errmsg(k->st));
		k->stats.retention_errors++;
	}
	k->next_retain_ns = now_ns + (more ? every / 2 : every);
}

/* Rollup retention: each resolution by its own age, once a minute. */
static void retain_rollups(struct zt_store_sink *k, uint64_t now_ns)
{
	static const uint32_t res[2] = {ZT_ROLLUP_RES_FINE, ZT_ROLLUP_RES_COARSE};

	if (!k->st || !k->st->ops->retain_rollups || k->stats.failing || now_ns < k->next_roll_retain_ns)
		return;
	for (int i = 0; i < 2; i++) {
		if (!k->roll_keep_ns[i] || now_ns <= k->roll_keep_ns[i])
			continue;
		if (k->st->ops->retain_rollups(k->st, res[i], now_ns - k->roll_keep_ns[i],
					       &k->stats.rollup_rows_dropped)) {
			snprintf(k->errmsg, sizeof(k->errmsg), "%s", zt_store_errmsg(k->st));
			k->stats.retention_errors++;
		}
	}
	k->next_roll_retain_ns = now_ns + 60000000000ULL;
}

void zt_store_sink_rollup_retention(struct zt_store_sink *k, uint64_t fine_ns, uint64_t coarse_ns)
{
	k->roll_keep_ns[0] = fine_ns;
	k->roll_keep_ns[1] = coarse_ns;
}

struct zt_rollup *zt_store_sink_rollup(const struct zt_store_sink *k)
{
	return k->roll;
}

void zt_store_sink_tick(void *sink, uint64_t now_ns)
{
	struct zt_store_sink *k = sink;

	/* a failure shows at the next put or flush */
	(void)zt_joiner_tick(k->j, now_ns);
	if (k->roll)
		zt_rollup_tick(k->roll, now_ns);
	retain(k, now_ns);
	retain_rollups(k, now_ns);
}

void zt_store_sink_retention(struct zt_store_sink *k, uint64_t max_age_ns, uint64_t max_bytes)
{
	k->max_age_ns = max_age_ns;
	k->max_bytes = max_bytes;
}

int zt_store_sink_end(void *sink)
{
	struct zt_store_sink *k = sink;
	int rc = zt_joiner_flush(k->j);

	if (k->roll)
		zt_rollup_end(k->roll); /* waiting edges: resolved now, drained by the last flush */
	k->ended = true;
	/* the last chance: one more try even while backing off */
	if (!rc && k->stats.failing)
		k->retry_ns = 0;
	return rc;
}

static int put_rollups(void *ctx, const struct zt_rollup_row *rows, size_t n)
{
	struct zt_store *st = ctx;
	return st->ops->put_rollups(st, rows, n);
}

int zt_store_sink_flush(void *sink)
{
	struct zt_store_sink *k = sink;
	int rc = zt_joiner_tick(k->j, 0); /* a failure kept from a tick */

	if (rc || !k->st || !may_write(k))
		return rc;
	/* the rollups of the spans released so far, in the spans' transaction;
	 * once a second (a flush is every 200 ms): each drain upserts every
	 * series touched, histogram merge included, so fewer drains cost less
	 * and lose nothing (the rollup keeps adding up in between) */
	if (k->roll && k->st->ops->put_rollups && (k->ended || mono_ns() >= k->next_drain_ns)) {
		if ((rc = zt_rollup_drain(k->roll, put_rollups, k->st))) {
			snprintf(k->errmsg, sizeof(k->errmsg), "%s", zt_store_errmsg(k->st));
			return store_failed(k, rc);
		}
		k->next_drain_ns = mono_ns() + ROLLUP_DRAIN_NS;
	}
	if ((rc = k->st->ops->flush(k->st))) {
		snprintf(k->errmsg, sizeof(k->errmsg), "%s", zt_store_errmsg(k->st));
		return store_failed(k, rc);
	}
	if (k->stats.failing) {
		k->stats.failing = 0;
		k->stats.recoveries++;
	}
	return 0;
}

void zt_store_sink_finish(struct zt_store_sink *k)
{
	if (k->st && k->stats.failing) {
		k->stats.store_failed += k->st->spans_pending;
		k->st->spans_pending = 0;
	}
}

void zt_store_sink_backoff(struct zt_store_sink *k, int on)
{
	k->backoff = on != 0;
}

const struct zt_store_sink_stats *zt_store_sink_stats(const struct zt_store_sink *k)
{
	return &k->stats;
}

const char *zt_store_sink_errmsg(void *sink)
{
	return ((struct zt_store_sink *)sink)->errmsg;
}

const struct zt_joiner_stats *zt_store_sink_joiner_stats(const struct zt_store_sink *k)
{
	return zt_joiner_stats(k->j);
}

void zt_store_sink_free(struct zt_store_sink *k)
{
	if (!k)
		return;

	zt_joiner_free(k->j);
	zt_rollup_free(k->roll);
	free(k);
}

struct zt_store *zt_store_sink_store(const struct zt_store_sink *k)
{
	return k->st;
}
