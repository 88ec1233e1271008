/* SPDX-License-Identifier: MIT */
/* RED rollups: the histogram (bucket layout, quantile error bound, exact
 * merge, stored form and its damage checks), time bucketing and error
 * classes, edges (linked by TCP seq in both orders and by a late link,
 * by server address, unresolved, server-only), the series cap, the
 * /metrics series, and the SQLite rollup table (upsert merge, query
 * grouping and drill-down, steps, retention). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ch_server.h"
#include "store/store.h"
#include "trace/hist.h"
#include "trace/rollup.h"

#define MS 1000000ULL
#define S 1000000000ULL
#define T0 1800000000000000000ULL /* a multiple of 60 s */

static uint64_t rng = 88172645463325252ULL;
static uint64_t xr(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* ---- histogram ---- */

static void test_hist_layout(void **state)
{
	uint64_t lo, hi, prev_hi = 0;

	(void)state;
	for (unsigned i = 0; i < ZT_HIST_N; i++) {
		zt_hist_bounds(i, &lo, &hi);
		assert_int_equal(lo, prev_hi); /* contiguous, no gap, no overlap */
		assert_true(hi > lo);
		assert_true((hi - lo) * ZT_HIST_SUB <= (lo > 2 * ZT_HIST_SUB ? lo : 2 * ZT_HIST_SUB));
		assert_int_equal(zt_hist_index(lo), i);
		assert_int_equal(zt_hist_index(hi - 1), i);
		prev_hi = hi;
	}
	assert_int_equal(zt_hist_index(UINT64_MAX), ZT_HIST_N - 1);
	assert_int_equal(zt_hist_index(0), 0);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* A log-uniform spread from 1 us to ~10 s: the estimate of each quantile
 * is within ZT_HIST_REL_ERR of the true value of that rank. */
static void test_hist_quantile_bound(void **state)
{
	enum { N = 20000 };
	static uint64_t v[N];
	static struct zt_hist h;
	const double qs[] = {0.01, 0.5, 0.9, 0.99, 0.999, 1.0};
	double worst = 0;

	(void)state;
	memset(&h, 0, sizeof(h));
	for (int i = 0; i < N; i++) {
		v[i] = (uint64_t)(1000.0 * pow(10.0, 7.0 * (double)(xr() % 1000000) / 1e6));
		zt_hist_add(&h, v[i], 1);
	}
	qsort(v, N, sizeof(v[0]), cmp_u64);
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		uint64_t r = (uint64_t)ceil(qs[i] * N), truth = v[r - 1], est = zt_hist_quantile(&h, qs[i]);
		double err = fabs((double)est - (double)truth) / (double)truth;
		if (err > worst)
			worst = err;
		assert_true(err <= ZT_HIST_REL_ERR);
	}
	assert_true(worst > 0); /* the spread is not on bucket midpoints: a real check */
	assert_int_equal(zt_hist_quantile(&(struct zt_hist){0}, 0.5), 0);
}

/* Split one data set over three histograms (three hosts): the merge is
 * the histogram of the whole, bucket for bucket, in any order, also
 * through the stored form. */
static void test_hist_merge_exact(void **state)
{
	static struct zt_hist all, part[3], m1, m2, dec;
	static uint8_t buf[ZT_HIST_ENC_MAX];
	size_t n;

	(void)state;
	memset(&all, 0, sizeof(all));
	memset(part, 0, sizeof(part));
	for (int i = 0; i < 50000; i++) {
		uint64_t x = xr() % (5 * S) + (xr() % 3 == 0 ? xr() % 1000 : 0);
		zt_hist_add(&all, x, 1);
		zt_hist_add(&part[xr() % 3], x, 1);
	}
	memset(&m1, 0, sizeof(m1));
	memset(&m2, 0, sizeof(m2));
	zt_hist_merge(&m1, &part[0]);
	zt_hist_merge(&m1, &part[1]);
	zt_hist_merge(&m1, &part[2]);
	zt_hist_merge(&m2, &part[2]);
	zt_hist_merge(&m2, &part[0]);
	zt_hist_merge(&m2, &part[1]);
	assert_memory_equal(&m1, &all, sizeof(all));
	assert_memory_equal(&m2, &all, sizeof(all));
	/* stored form: decode merges */
	memset(&dec, 0, sizeof(dec));
	for (int p = 0; p < 3; p++) {
		n = zt_hist_encode(&part[p], buf, sizeof(buf));
		assert_true(n > 1);
		assert_int_equal(zt_hist_decode_merge(&dec, buf, n), 0);
	}
	assert_memory_equal(&dec, &all, sizeof(all));
	for (int i = 0; i < 4; i++)
		assert_int_equal(zt_hist_quantile(&dec, 0.25 * (i + 1)),
				 zt_hist_quantile(&all, 0.25 * (i + 1)));
}

static void test_hist_damaged(void **state)
{
	static struct zt_hist h, before;
	static uint8_t buf[ZT_HIST_ENC_MAX];
	const uint8_t bad_version[] = {2, 0, 1};
	const uint8_t past_end[] = {1, 0x80, 0x05, 1}; /* index 640 */
	const uint8_t zero_count[] = {1, 3, 0};
	const uint8_t repeat[] = {1, 3, 1, 0, 1}; /* index 3 twice */
	const uint8_t long_varint[] = {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1};
	size_t n;

	(void)state;
	memset(&h, 0, sizeof(h));
	zt_hist_add(&h, 12345, 7);
	zt_hist_add(&h, 999999, 1);
	before = h;
	assert_int_equal(zt_hist_decode_merge(&h, bad_version, sizeof(bad_version)), -EINVAL);
	assert_int_equal(zt_hist_decode_merge(&h, past_end, sizeof(past_end)), -EINVAL);
	assert_int_equal(zt_hist_decode_merge(&h, zero_count, sizeof(zero_count)), -EINVAL);
	assert_int_equal(zt_hist_decode_merge(&h, repeat, sizeof(repeat)), -EINVAL);
	assert_int_equal(zt_hist_decode_merge(&h, long_varint, sizeof(long_varint)), -EINVAL);
	assert_int_equal(zt_hist_decode_merge(&h, buf, 0), -EINVAL);
	n = zt_hist_encode(&before, buf, sizeof(buf));
	/* the last pair cut after its index: rejected, h untouched */
	assert_int_equal(zt_hist_decode_merge(&h, buf, n - 1), -EINVAL);
	/* a needless 0 continuation byte: not the canonical form */
	{
		const uint8_t padded[] = {1, 0x83, 0x00, 1};
		assert_int_equal(zt_hist_decode_merge(&h, padded, sizeof(padded)), -EINVAL);
	}
	assert_memory_equal(&h, &before, sizeof(h));
	assert_int_equal(zt_hist_decode_merge(&h, buf, n), 0);
	assert_int_equal(h.count, 2 * before.count);
}

/* ---- rollups ---- */

#define MAXROWS 128
static struct zt_rollup_row rows[MAXROWS];
static int nrows;

static int collect(void *ctx, const struct zt_rollup_row *r, size_t n)
{
	(void)ctx;
	for (size_t i = 0; i < n; i++) {
		assert_true(nrows < MAXROWS);
		rows[nrows++] = r[i];
	}
	return 0;
}

static int refuse(void *ctx, const struct zt_rollup_row *r, size_t n)
{
	(void)ctx;
	(void)r;
	(void)n;
	return -EIO;
}

static struct zt_span sp(const char *uid, uint8_t side, const char *proc, uint32_t pid, uint64_t start_ms,
			 uint64_t dur_ms, uint8_t status)
{
	struct zt_span s;

	zt_span_clear(&s);
	snprintf(s.span_uid, sizeof(s.span_uid), "%s", uid);
	snprintf(s.process, sizeof(s.process), "%s", proc);
	snprintf(s.host, sizeof(s.host), "h1");
	snprintf(s.endpoint, sizeof(s.endpoint), "GET /x");
	s.tap_side = side;
	s.pid = pid;
	s.l7_protocol = ZT_L7_HTTP1;
	s.start_ns = T0 + start_ms * MS;
	s.duration_ns = dur_ms * MS;
	s.end_ns = s.start_ns + s.duration_ns;
	s.response_status = status;
	s.server_ip[10] = s.server_ip[11] = 0xff;
	s.server_ip[12] = 127;
	s.server_ip[15] = 1;
	s.server_port = 8080;
	s.client_ip[10] = s.client_ip[11] = 0xff;
	s.client_ip[12] = 10;
	s.client_ip[15] = 9;
	return s;
}

static const struct zt_rollup_row *find(uint8_t kind, uint32_t res, uint64_t bucket, const char *svc,
					const char *peer)
{
	for (int i = 0; i < nrows; i++)
		if (rows[i].k.kind == kind && rows[i].k.res_s == res && rows[i].k.bucket_ns == bucket &&
		    !strcmp(rows[i].k.service, svc) && (!peer || !strcmp(rows[i].k.peer, peer)))
			return &rows[i];
	return NULL;
}

static int count_kind(uint8_t kind, uint32_t res)
{
	int n = 0;
	for (int i = 0; i < nrows; i++)
		n += rows[i].k.kind == kind && rows[i].k.res_s == res;
	return n;
}

static void test_bucketing(void **state)
{
	struct zt_rollup *r = zt_rollup_new(&(struct zt_rollup_cfg){0});
	const struct zt_rollup_row *row;
	struct zt_span s;

	(void)state;
	nrows = 0;
	/* 9.999 s and 10.000 s: two 10 s buckets, one minute */
	s = sp("a1", ZT_TAP_SERVER_PROCESS, "api", 10, 9999, 5, ZT_RS_OK);
	zt_rollup_span(r, &s);
	s = sp("a2", ZT_TAP_SERVER_PROCESS, "api", 10, 10000, 7, ZT_RS_CLIENT_ERROR);
	zt_rollup_span(r, &s);
	s = sp("a3", ZT_TAP_SERVER_PROCESS, "api", 10, 10001, 9, ZT_RS_SERVER_ERROR);
	zt_rollup_span(r, &s);
	s = sp("a4", ZT_TAP_SERVER_PROCESS, "api", 10, 60000, 1, ZT_RS_TIMEOUT); /* next minute */
	zt_rollup_span(r, &s);
	assert_int_equal(zt_rollup_drain(r, refuse, NULL), -EIO); /* kept */
	assert_int_equal(zt_rollup_drain(r, collect, NULL), 0);
	row = find(ZT_RK_SERVICE, 10, T0, "api", NULL);
	assert_non_null(row);
	assert_int_equal(row->v.requests, 1);
	row = find(ZT_RK_SERVICE, 10, T0 + 10 * S, "api", NULL);
	assert_non_null(row);
	assert_int_equal(row->v.requests, 2);
	assert_int_equal(row->v.errors[ZT_RERR_CLIENT], 1);
	assert_int_equal(row->v.errors[ZT_RERR_SERVER], 1);
	assert_int_equal(row->v.sum_ns, 16 * MS);
	assert_int_equal(row->v.hist.count, 2);
	row = find(ZT_RK_SERVICE, 60, T0, "api", NULL);
	assert_non_null(row);
	assert_int_equal(row->v.requests, 3);
	row = find(ZT_RK_SERVICE, 60, T0 + 60 * S, "api", NULL);
	assert_non_null(row);
	assert_int_equal(row->v.errors[ZT_RERR_TIMEOUT], 1);
	row = find(ZT_RK_ENDPOINT, 60, T0, "api", NULL);
	assert_non_null(row);
	assert_string_equal(row->k.endpoint, "GET /x");
	assert_int_equal(count_kind(ZT_RK_SERVICE, 10), 3);
	/* drained: the next drain has nothing */
	nrows = 0;
	assert_int_equal(zt_rollup_drain(r, collect, NULL), 0);
	assert_int_equal(nrows, 0);
	/* rows are reused: a new series starts from an empty histogram */
	s = sp("a5", ZT_TAP_SERVER_PROCESS, "other", 11, 120000, 3000, ZT_RS_OK);
	zt_rollup_span(r, &s);
	assert_int_equal(zt_rollup_drain(r, collect, NULL), 0);
	for (int i = 0, seen = 0; i < nrows; i++) {
		uint64_t sum = 0;
		if (rows[i].k.kind == ZT_RK_EDGE) /* a1..a4's server-only edges: their hold ended */
			continue;
		assert_true(++seen <= 4);
		assert_string_equal(rows[i].k.service, "other");
		for (unsigned b = 0; b < ZT_HIST_N; b++)
			sum += rows[i].v.hist.c[b];
		assert_int_equal(rows[i].v.requests, 1);
		assert_int_equal(rows[i].v.hist.count, 1);
		assert_int_equal(sum, 1);
		assert_int_equal(rows[i].v.hist.c[zt_hist_index(3000 * MS)], 1);
	}
	assert_int_equal(count_kind(ZT_RK_SERVICE, 10) + count_kind(ZT_RK_ENDPOINT, 60), 2);
	zt_rollup_free(r);
}

/* The client span measures the edge; its server end comes from the
 * linked server span, whichever is released first, and the exchange is
 * counted once. */
static void test_edge_linked(void **state)
{
	for (int order = 0; order < 2; order++) {
		struct zt_rollup *r = zt_rollup_new(&(struct zt_rollup_cfg){0});
		struct zt_rollup_stats st;
		const struct zt_rollup_row *row;
		struct zt_span c = sp("c1", ZT_TAP_CLIENT_PROCESS, "front", 20, 100, 30, ZT_RS_SERVER_ERROR);
		struct zt_span sv = sp("s1", ZT_TAP_SERVER_PROCESS, "back", 30, 101, 25, ZT_RS_SERVER_ERROR);

		(void)state;
		snprintf(sv.parent_uid, sizeof(sv.parent_uid), "c1");
		sv.link_kind = ZT_LINK_TCP_SEQ;
		sv.server_port = 9999; /* the address map must not be what names the server */
		nrows = 0;
		zt_rollup_span(r, order ? &sv : &c);
		zt_rollup_span(r, order ? &c : &sv);
		zt_rollup_end(r);
		assert_int_equal(zt_rollup_drain(r, collect, NULL), 0);
		row = find(ZT_RK_EDGE, 10, T0 + 100 * MS - (T0 + 100 * MS) % (10 * S), "front", "back");
		assert_non_null(row);
		assert_int_equal(row->v.requests, 1);
		assert_int_equal(row->v.errors[ZT_RERR_SERVER], 1);
		assert_int_equal(row->v.sum_ns, 30 * MS); /* the client's view */
		assert_int_equal(row->k.pid, 20);
		assert_int_equal(row->k.peer_pid, 30);
		assert_string_equal(row->k.peer_host, "h1");
		assert_int_equal(count_kind(ZT_RK_EDGE, 10), 1);
		zt_rollup_get_stats(r, &st);
		assert_int_equal(st.edges_linked, 1);
		assert_int_equal(st.edges_server_only + st.edges_by_addr + st.edges_unresolved, 0);
		zt_rollup_free(r);
	}
}

static void test_edge_late_link(void **state)
{
	struct zt_rollup *r = zt_rollup_new(&(struct zt_rollup_cfg){0});
	struct zt_rollup_stats st;
	struct zt_span sv = sp("s2", ZT_TAP_SERVER_PROCESS, "back", 30, 100, 5, ZT_RS_OK);
	struct zt_span c = sp("c2", ZT_TAP_CLIENT_PROCESS, "front", 20, 99, 8, ZT_RS_OK);

	(void)state;
	nrows = 0;
	zt_rollup_span(r, &sv); /* released before its link was known */
	zt_rollup_span(r, &c);
	zt_rollup_link(r, "s2", "c2", ZT_LINK_TCP_SEQ);
	zt_rollup_end(r);
	assert_int_equal(zt_rollup_drain(r, collect, NULL), 0);
	assert_non_null(find(ZT_RK_EDGE, 60, T0, "front", "back"));
	assert_int_equal(count_kind(ZT_RK_EDGE, 60), 1);
	zt_rollup_get_stats(r, &st);
	assert_int_equal(st.edges_linked, 1);
	assert_int_equal(st.edges_server_only, 0);
	zt_rollup_free(r);
}

/* Unlinked: the server address learned from server spans names the
 * server; an address no server span had is the peer's name; a server
 * span without a traced client is an edge from the client's ip. The hold
 * ends on stream time (span ends, ticks). */
static void test_edge_by_address(void **state)
{
	struct zt_rollup *r = zt_rollup_new(&(struct zt_rollup_cfg){.edge_hold_ns = 1 * S});
	struct zt_rollup_stats st;
	struct zt_span sv = sp("s3", ZT_TAP_SERVER_PROCESS, "db", 40, 0, 1, ZT_RS_OK);
	struct zt_span c = sp("c3", ZT_TAP_CLIENT_PROCESS, "app", 41, 100, 2, ZT_RS_OK);
	struct zt_span far = sp("c4", ZT_TAP_CLIENT_PROCESS, "app", 41, 100, 2, ZT_RS_OK);
	struct zt_span noport = sp("c5", ZT_TAP_CLIENT_PROCESS, "app", 41, 100, 2, ZT_RS_OK);

	(void)state;
	nrows = 0;
	far.server_port = 5432;
	noport.server_port = 0; /* a server named by address keeps its port, even 0 */
	zt_rollup_span(r, &sv);
	zt_rollup_span(r, &c);
	zt_rollup_span(r, &far);
	zt_rollup_span(r, &noport);
	zt_rollup_tick(r, T0 + 500 * MS);
	assert_int_equal(zt_rollup_drain(r, collect, NULL), 0);
	assert_int_equal(count_kind(ZT_RK_EDGE, 10), 0); /* still waiting */
	zt_rollup_tick(r, T0 + 1200 * MS);
	assert_int_equal(zt_rollup_drain(r, collect, NULL), 0);
	assert_non_null(find(ZT_RK_EDGE, 10, T0, "app", "db"));
	assert_non_null(find(ZT_RK_EDGE, 10, T0, "app", "127.0.0.1:5432"));
	assert_non_null(find(ZT_RK_EDGE, 10, T0, "app", "127.0.0.1:0"));
	assert_non_null(find(ZT_RK_EDGE, 10, T0, "10.0.0.9", "db")); /* s3: no client */
	zt_rollup_get_stats(r, &st);
	assert_int_equal(st.edges_by_addr, 1);
	assert_int_equal(st.edges_unresolved, 2);
	assert_int_equal(st.edges_server_only, 1);
	zt_rollup_free(r);
}

/* Bounded: 3 series at most between drains; the rest is counted. The
 * pending table resolves its oldest early when full. */
static void test_caps(void **state)
{
	struct zt_rollup *r =
	    zt_rollup_new(&(struct zt_rollup_cfg){.max_series = 3, .max_pending = 2, .max_prom_series = 2});
	struct zt_rollup_stats st;
	char uid[16], name[16];

	(void)state;
	nrows = 0;
	for (int i = 0; i < 5; i++) {
		struct zt_span c;
		snprintf(uid, sizeof(uid), "u%d", i);
		snprintf(name, sizeof(name), "p%d", i);
		c = sp(uid, ZT_TAP_CLIENT_PROCESS, name, 1, 100, 1, ZT_RS_OK);
		zt_rollup_span(r, &c);
	}
	zt_rollup_get_stats(r, &st);
	assert_int_equal(st.pending_full, 3);
	zt_rollup_end(r);
	zt_rollup_get_stats(r, &st);
	assert_int_equal(zt_rollup_drain(r, collect, NULL), 0);
	assert_int_equal(nrows, 3);
	/* 5 edges x 2 resolutions = 10 updates, 3 fit */
	assert_int_equal(st.series_overflow, 7);
	assert_int_equal(st.prom_overflow, 3);
	zt_rollup_free(r);
}

static int prom_cb(void *ctx, const struct zt_prom_series *p)
{
	if (p->kind == ZT_RK_SERVICE)
		*(const struct zt_prom_series **)ctx = p;
	return 0;
}

static void test_prom_series(void **state)
{
	struct zt_rollup *r = zt_rollup_new(&(struct zt_rollup_cfg){0});
	const struct zt_prom_series *p = NULL;
	const uint64_t durs_us[] = {100, 500, 501, 1000, 30000, 70000000};
	uint64_t total = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(durs_us) / sizeof(durs_us[0]); i++) {
		struct zt_span s = sp("x", ZT_TAP_SERVER_PROCESS, "svc", 1, i * 1000, 0, ZT_RS_OK);
		s.duration_ns = durs_us[i] * 1000;
		zt_rollup_span(r, &s);
	}
	assert_int_equal(zt_rollup_prom_each(r, prom_cb, &p), 0);
	assert_non_null(p);
	assert_int_equal(p->requests, 6);
	assert_int_equal(p->le[0], 2); /* <= 0.5 ms: 100 us, 500 us */
	assert_int_equal(p->le[1], 2); /* (0.5, 1] ms */
	assert_int_equal(p->le[6], 1); /* (25, 50] ms */
	for (int i = 0; i < ZT_PROM_LE_N; i++)
		total += p->le[i];
	assert_int_equal(total, 5); /* 70 s is past the last bound: +Inf only */
	zt_rollup_free(r);
}

/* ---- the SQLite rollup table ---- */

static struct zt_rollup_row got[16];
static int ngot;
static int red_cb(void *ctx, const struct zt_rollup_row *row)
{
	(void)ctx;
	assert_true(ngot < 16);
	got[ngot++] = *row;
	return 0;
}

static void row_set(struct zt_rollup_row *w, uint64_t bucket, const char *host, uint32_t pid, uint64_t v0,
		    int n)
{
	memset(w, 0, sizeof(*w));
	w->k.res_s = 10;
	w->k.bucket_ns = bucket;
	w->k.kind = ZT_RK_SERVICE;
	w->k.l7 = ZT_L7_HTTP1;
	w->k.pid = pid;
	snprintf(w->k.host, sizeof(w->k.host), "%s", host);
	snprintf(w->k.service, sizeof(w->k.service), "api");
	for (int i = 0; i < n; i++)
		zt_rollup_val_add(&w->v, v0 + (uint64_t)i * 1000, i % 4 == 0 ? ZT_RS_SERVER_ERROR : ZT_RS_OK);
}

/* The store's rollup ops on both backends: `dir` is a data dir (SQLite) or
 * a clickhouse:// URL (a database of its own on the server main starts). */
static struct ch_server g_ch = {.http_port = 20900, .tcp_port = 20901, .inter_port = 20902};

static void store_case(const char *dir)
{
	struct zt_store *st = NULL;
	static struct zt_rollup_row w[5];
	static struct zt_rollup_val all;
	struct zt_red_query q;
	uint64_t dropped = 0;

	assert_int_equal(zt_store_open(dir, ZT_STORE_RW, &st), 0);
	assert_non_null(st->ops->put_rollups);
	row_set(&w[0], T0, "h1", 100, 1 * MS, 40);
	row_set(&w[1], T0, "h1", 101, 3 * MS, 10);
	row_set(&w[2], T0 + 10 * S, "h2", 100, 7 * MS, 25);
	row_set(&w[3], T0, "h1", 100, 2 * MS, 5); /* same series and bucket as w[0], a later flush */
	assert_int_equal(st->ops->put_rollups(st, w, 3), 0);
	assert_int_equal(st->ops->flush(st), 0);
	assert_int_equal(st->ops->put_rollups(st, &w[3], 1), 0);
	assert_int_equal(st->ops->flush(st), 0);
	memset(&all, 0, sizeof(all));
	for (int i = 0; i < 4; i++)
		zt_rollup_val_merge(&all, &w[i].v);

	/* everything merged: counts and the histogram exactly */
	memset(&q, 0, sizeof(q));
	q.kind = ZT_RK_SERVICE;
	ngot = 0;
	assert_int_equal(st->ops->query_red(st, &q, red_cb, NULL), 0);
	assert_int_equal(ngot, 1);
	assert_string_equal(got[0].k.service, "api");
	assert_string_equal(got[0].k.host, "");
	assert_int_equal(got[0].v.requests, 80);
	assert_int_equal(got[0].v.errors[ZT_RERR_SERVER], all.errors[ZT_RERR_SERVER]);
	assert_int_equal(got[0].v.sum_ns, all.sum_ns);
	assert_memory_equal(&got[0].v.hist, &all.hist, sizeof(all.hist));

	/* drill-down: per process, and one host */
	q.by = ZT_RED_BY_PROCESS;
	ngot = 0;
	assert_int_equal(st->ops->query_red(st, &q, red_cb, NULL), 0);
	assert_int_equal(ngot, 3);
	assert_string_equal(got[0].k.host, "h1");
	assert_int_equal(got[0].k.pid, 100);
	assert_int_equal(got[0].v.requests, 45); /* w[0] + w[3], upserted */
	q.by = ZT_RED_BY_HOST;
	q.host = "h2";
	ngot = 0;
	assert_int_equal(st->ops->query_red(st, &q, red_cb, NULL), 0);
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].v.requests, 25);

	/* steps of 10 s: two points */
	memset(&q, 0, sizeof(q));
	q.kind = ZT_RK_SERVICE;
	q.step_ns = 10 * S;
	q.since_ns = T0;
	ngot = 0;
	assert_int_equal(st->ops->query_red(st, &q, red_cb, NULL), 0);
	assert_int_equal(ngot, 2);
	assert_int_equal(got[0].k.bucket_ns, T0);
	assert_int_equal(got[0].v.requests, 55);
	assert_int_equal(got[1].k.bucket_ns, T0 + 10 * S);
	/* since past both: nothing */
	q.since_ns = T0 + 20 * S;
	ngot = 0;
	assert_int_equal(st->ops->query_red(st, &q, red_cb, NULL), 0);
	assert_int_equal(ngot, 0);

	/* retention of 10 s rows before T0 + 10 s */
	assert_int_equal(st->ops->retain_rollups(st, 10, T0 + 10 * S, &dropped), 0);
	assert_int_equal(dropped, 2);
	st->ops->close(st);

	/* a reader sees the same */
	assert_int_equal(zt_store_open(dir, ZT_STORE_RO, &st), 0);
	memset(&q, 0, sizeof(q));
	q.kind = ZT_RK_SERVICE;
	ngot = 0;
	assert_int_equal(st->ops->query_red(st, &q, red_cb, NULL), 0);
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].v.requests, 25);
	st->ops->close(st);

	/* a coarse row two days back: whole days go (ClickHouse: DROP PARTITION) */
	assert_int_equal(zt_store_open(dir, ZT_STORE_RW, &st), 0);
	row_set(&w[4], T0 - 2 * 86400 * S, "h1", 100, 1 * MS, 3);
	w[4].k.res_s = 60;
	assert_int_equal(st->ops->put_rollups(st, &w[4], 1), 0);
	assert_int_equal(st->ops->flush(st), 0);
	memset(&q, 0, sizeof(q));
	q.kind = ZT_RK_SERVICE;
	q.res_s = 60;
	ngot = 0;
	assert_int_equal(st->ops->query_red(st, &q, red_cb, NULL), 0);
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].v.requests, 3);
	dropped = 0;
	assert_int_equal(st->ops->retain_rollups(st, 60, T0, &dropped), 0);
	assert_int_equal(dropped, 1);
	ngot = 0;
	assert_int_equal(st->ops->query_red(st, &q, red_cb, NULL), 0);
	assert_int_equal(ngot, 0);
	/* the 10 s rows are another resolution: untouched */
	q.res_s = 10;
	ngot = 0;
	assert_int_equal(st->ops->query_red(st, &q, red_cb, NULL), 0);
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].v.requests, 25);
	st->ops->close(st);
}

static void test_store_sqlite(void **state)
{
	char dir[] = "/tmp/zt-rollup-XXXXXX", cmd[128];

	(void)state;
	assert_non_null(mkdtemp(dir));
	store_case(dir);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static void ch_fresh_db(char *url, size_t size, const char *db)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", db);
	assert_int_equal(ch_srv_sql(&g_ch, sql), 0);
	snprintf(url, size, "clickhouse://127.0.0.1:%d/%s", g_ch.http_port, db);
}

static void test_store_clickhouse(void **state)
{
	char url[128];

	(void)state;
	ch_fresh_db(url, sizeof(url), "zt_rollup_1");
	store_case(url);
}

/*
 * ClickHouse keeps deltas, one row each: a batch that reached the server
 * twice (a resend after a lost reply: the same writer, seq and row ids)
 * counts once; rows put while the server is away are written once it is
 * back (flush says 0 meanwhile, as for spans).
 */
static void test_clickhouse_resend_outage(void **state)
{
	char url[128];
	struct zt_store *st = NULL;
	static struct zt_rollup_row w[2];
	struct zt_red_query q;
	time_t deadline;

	(void)state;
	ch_fresh_db(url, sizeof(url), "zt_rollup_2");
	assert_int_equal(zt_store_open(url, ZT_STORE_RW, &st), 0);
	row_set(&w[0], T0, "h1", 100, 1 * MS, 40);
	row_set(&w[1], T0, "h1", 100, 2 * MS, 5); /* the same series and bucket, another delta */
	assert_int_equal(st->ops->put_rollups(st, w, 2), 0);
	assert_int_equal(st->ops->flush(st), 0);
	/* the copies a resent batch leaves until a merge folds them */
	assert_int_equal(ch_srv_sql(&g_ch, "INSERT INTO zt_rollup_2.rollup SELECT * FROM zt_rollup_2.rollup"), 0);
	memset(&q, 0, sizeof(q));
	q.kind = ZT_RK_SERVICE;
	ngot = 0;
	assert_int_equal(st->ops->query_red(st, &q, red_cb, NULL), 0);
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].v.requests, 45);
	assert_int_equal(got[0].v.hist.count, 45);

	ch_server_stop(&g_ch);
	assert_int_equal(st->ops->put_rollups(st, w, 1), 0);
	assert_int_equal(st->ops->flush(st), 0); /* buffered, not an error */
	assert_int_equal(ch_server_start(&g_ch), 0);
	deadline = time(NULL) + 20;
	do {
		usleep(200000);
		assert_int_equal(st->ops->flush(st), 0);
		ngot = 0;
		assert_int_equal(st->ops->query_red(st, &q, red_cb, NULL), 0);
	} while (got[0].v.requests == 45 && time(NULL) < deadline);
	assert_int_equal(got[0].v.requests, 85);
	st->ops->close(st);
	/* a reader of a database from before rollups: no rows, no error */
	assert_int_equal(ch_srv_sql(&g_ch, "DROP TABLE zt_rollup_2.rollup"), 0);
	assert_int_equal(zt_store_open(url, ZT_STORE_RO, &st), 0);
	ngot = 0;
	assert_int_equal(st->ops->query_red(st, &q, red_cb, NULL), 0);
	assert_int_equal(ngot, 0);
	st->ops->close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hist_layout),
	    cmocka_unit_test(test_hist_quantile_bound),
	    cmocka_unit_test(test_hist_merge_exact),
	    cmocka_unit_test(test_hist_damaged),
	    cmocka_unit_test(test_bucketing),
	    cmocka_unit_test(test_edge_linked),
	    cmocka_unit_test(test_edge_late_link),
	    cmocka_unit_test(test_edge_by_address),
	    cmocka_unit_test(test_caps),
	    cmocka_unit_test(test_prom_series),
	    cmocka_unit_test(test_store_sqlite),
	};
	const struct CMUnitTest ch_tests[] = {
	    cmocka_unit_test(test_store_clickhouse),
	    cmocka_unit_test(test_clickhouse_resend_outage),
	};
	int failed = cmocka_run_group_tests_name("rollup", tests, NULL, NULL);

	if (ch_server_or_skip(&g_ch, "test_rollup")) {
		failed += cmocka_run_group_tests_name("rollup_clickhouse", ch_tests, NULL, NULL);
		ch_server_destroy(&g_ch);
	}
	return failed;
}
