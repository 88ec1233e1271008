/* SPDX-License-Identifier: MIT */
/*
 * red_bench.c - what the RED rollups cost and how fast they answer.
 *
 * usage: red_bench DIR [N]   (DIR: a new directory; N exchanges, default 500000)
 *
 * Traffic: N exchanges over one hour of span time among 20 services with 5
 * endpoints each; every exchange is a client span and a server span linked
 * by TCP seq (as the joiner releases them), 3% server errors, 1% client
 * errors, durations spread log-uniformly from 100 us to 1 s.
 *
 * Times are CPU time of the thread (CLOCK_THREAD_CPUTIME_ID).
 * Prints one JSON object:
 *   ingest_ns_per_span   zt_rollup_span per span (median of 5 runs, each a
 *                        fresh rollup, drained every second of span time
 *                        as the sink does)
 *   store_rows, store_s  rows in the rollup table after writing the run
 *                        through a SQLite store (upserts every second of
 *                        span time), and the CPU time that took
 *   map_15m_ms, map_1h_ms, series_1h_step1m_ms
 *                        zt_red_map over the last 15 min / the hour, and
 *                        endpoint series with 1 min steps over the hour
 *                        (medians of 5)
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/red_json.h"
#include "store/store.h"
#include "trace/rollup.h"

#define NS 1000000000ULL
#define NSVC 20
#define NEP 5
#define CHUNK 2048

/* CPU time of this thread: the benches share a loaded 2-core machine, and
 * wall time would count the time other processes had the CPU. */
static uint64_t mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t xr(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median5(double v[5])
{
	qsort(v, 5, sizeof(v[0]), cmp_d);
	return v[2];
}

/* Exchange i: client span into c, server span into s. */
static void exchange(uint64_t t0, uint64_t i, uint64_t n, struct zt_span *c, struct zt_span *s)
{
	unsigned from = (unsigned)(xr() % NSVC), to = (unsigned)((from + 1 + xr() % (NSVC - 1)) % NSVC);
	unsigned ep = (unsigned)(xr() % NEP), r = (unsigned)(xr() % 100);
	uint64_t start = t0 + i * (3600 * NS / n);
	uint64_t dur = (uint64_t)(100000.0 * pow(10.0, 4.0 * (double)(xr() % 10000) / 10000.0));
	uint8_t st = r < 3 ? ZT_RS_SERVER_ERROR : r < 4 ? ZT_RS_CLIENT_ERROR : ZT_RS_OK;

	zt_span_clear(c);
	snprintf(c->span_uid, sizeof(c->span_uid), "c%015llx", (unsigned long long)i);
	snprintf(c->process, sizeof(c->process), "svc-%02u", from);
	snprintf(c->host, sizeof(c->host), "host-%u", from % 4);
	c->pid = 1000 + from;
	c->tap_side = ZT_TAP_CLIENT_PROCESS;
	c->l7_protocol = ZT_L7_HTTP1;
	c->start_ns = start;
	c->duration_ns = dur + 200000;
	c->end_ns = start + c->duration_ns;
	c->response_status = st;
	c->server_ip[10] = c->server_ip[11] = 0xff;
	c->server_ip[12] = 10;
	c->server_ip[15] = (uint8_t)to;
	c->server_port = 8080;
	*s = *c;
	snprintf(s->span_uid, sizeof(s->span_uid), "s%015llx", (unsigned long long)i);
	snprintf(s->process, sizeof(s->process), "svc-%02u", to);
	snprintf(s->host, sizeof(s->host), "host-%u", to % 4);
	snprintf(s->endpoint, sizeof(s->endpoint), "GET /api/v1/res%u/{id}", ep);
	s->pid = 1000 + to;
	s->tap_side = ZT_TAP_SERVER_PROCESS;
	s->start_ns = start + 100000;
	s->duration_ns = dur;
	s->end_ns = s->start_ns + dur;
	snprintf(s->parent_uid, sizeof(s->parent_uid), "%s", c->span_uid);
	s->link_kind = ZT_LINK_TCP_SEQ;
}

static int drop_rows(void *ctx, const struct zt_rollup_row *rows, size_t n)
{
	(void)rows;
	*(size_t *)ctx += n;
	return 0;
}

static int put_rows(void *ctx, const struct zt_rollup_row *rows, size_t n)
{
	struct zt_store *st = ctx;
	return st->ops->put_rollups(st, rows, n);
}

static int count_rows(void *ctx, const struct zt_rollup_row *row)
{
	(void)row;
	(*(size_t *)ctx)++;
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 500000;
	struct timespec now;
	uint64_t t0, t_end, t;
	double ingest[5], m15[5], m60[5], ser[5], store_s;
	struct zt_span c, s;
	struct zt_store *st = NULL;
	size_t rows = 0, drained = 0;
	char err[512];

	/* a drain per second of span time, as `up`'s sink does */
	uint64_t flush_every = n / 3600 ? n / 3600 : 1;

	if (argc < 2 || !n) {
		fprintf(stderr, "usage: red_bench DIR [N]\n");
		return 2;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	t_end = (uint64_t)now.tv_sec * NS;
	t0 = t_end - 3600 * NS;

	/* the spans are made first (in chunks), so the clock is read per chunk */
	struct zt_span *pre = malloc(2 * CHUNK * sizeof(*pre));
	if (!pre)
		return 1;
	for (int run = 0; run < 5; run++) {
		struct zt_rollup *r = zt_rollup_new(&(struct zt_rollup_cfg){0});
		uint64_t spent = 0;
		rng = 0x9e3779b97f4a7c15ULL;
		for (uint64_t i0 = 0; i0 < n; i0 += CHUNK) {
			uint64_t m = n - i0 < CHUNK ? n - i0 : CHUNK;
			for (uint64_t j = 0; j < m; j++)
				exchange(t0, i0 + j, n, &pre[2 * j], &pre[2 * j + 1]);
			t = mono();
			for (uint64_t j = 0; j < m; j++) {
				uint64_t i = i0 + j;
				zt_rollup_span(r, &pre[2 * j]);
				zt_rollup_span(r, &pre[2 * j + 1]);
				if (i % flush_every == flush_every - 1)
					zt_rollup_drain(r, drop_rows, &drained);
			}
			spent += mono() - t;
		}
		if (run == 0) {
			struct zt_rollup_stats rs;
			zt_rollup_get_stats(r, &rs);
			fprintf(
			    stderr,
			    "red_bench: %llu series updates over the cap, %llu rows drained, %llu linked\n",
			    (unsigned long long)rs.series_overflow, (unsigned long long)rs.rows_drained,
			    (unsigned long long)rs.edges_linked);
		}
		zt_rollup_free(r);
		ingest[run] = (double)spent / (double)(2 * n);
	}

	if (getenv("RED_BENCH_INGEST_ONLY")) { /* for profiling the rollup alone */
		printf("{\"ingest_ns_per_span\": %.1f}\n", median5(ingest));
		return 0;
	}
	if (zt_store_open(argv[1], ZT_STORE_RW, &st)) {
		fprintf(stderr, "red_bench: %s\n", st ? zt_store_errmsg(st) : "cannot open the store");
		return 1;
	}
	{
		struct zt_rollup *r = zt_rollup_new(&(struct zt_rollup_cfg){0});
		rng = 0x9e3779b97f4a7c15ULL;
		t = mono();
		for (uint64_t i = 0; i < n; i++) {
			exchange(t0, i, n, &c, &s);
			zt_rollup_span(r, &c);
			zt_rollup_span(r, &s);
			if (i % flush_every == flush_every - 1 || i == n - 1) {
				if (i == n - 1)
					zt_rollup_end(r);
				if (zt_rollup_drain(r, put_rows, st) || st->ops->flush(st)) {
					fprintf(stderr, "red_bench: %s\n", zt_store_errmsg(st));
					return 1;
				}
			}
		}
		store_s = (double)(mono() - t) / 1e9;
		zt_rollup_free(r);
	}
	st->ops->close(st);
	if (zt_store_open(argv[1], ZT_STORE_RO, &st))
		return 1;
	for (unsigned k = 0; k < ZT_RK__COUNT; k++)
		for (unsigned res = 0; res < 2; res++) {
			struct zt_red_query q = {.kind = (uint8_t)k,
						 .by = ZT_RED_BY_PROCESS,
						 .step_ns = 10 * NS,
						 .res_s = res ? ZT_ROLLUP_RES_COARSE : ZT_ROLLUP_RES_FINE};
			if (res)
				q.step_ns = 60 * NS;
			st->ops->query_red(st, &q, count_rows, &rows);
		}
	for (int run = 0; run < 5; run++) {
		struct zt_red_map_query mq = {.since_ns = t_end - 900 * NS, .until_ns = t_end};
		struct zt_red_query q = {
		    .kind = ZT_RK_ENDPOINT, .since_ns = t0, .until_ns = t_end, .step_ns = 60 * NS};
		json_t *out = NULL;
		t = mono();
		if (zt_red_map(st, &mq, &out, err, sizeof(err)))
			return 1;
		m15[run] = (double)(mono() - t) / 1e6;
		json_decref(out);
		mq.since_ns = t0;
		t = mono();
		if (zt_red_map(st, &mq, &out, err, sizeof(err)))
			return 1;
		m60[run] = (double)(mono() - t) / 1e6;
		json_decref(out);
		t = mono();
		if (zt_red_series(st, &q, &out, err, sizeof(err))) {
			fprintf(stderr, "red_bench: %s\n", err);
			return 1;
		}
		ser[run] = (double)(mono() - t) / 1e6;
		json_decref(out);
	}
	st->ops->close(st);
	printf(
	    "{\"exchanges\": %llu, \"spans\": %llu, \"ingest_ns_per_span\": %.1f, \"store_rows\": %zu, "
	    "\"store_s\": %.2f, \"map_15m_ms\": %.2f, \"map_1h_ms\": %.2f, \"series_1h_step1m_ms\": %.2f}\n",
	    (unsigned long long)n, (unsigned long long)(2 * n), median5(ingest), rows, store_s, median5(m15),
	    median5(m60), median5(ser));
	return 0;
}
