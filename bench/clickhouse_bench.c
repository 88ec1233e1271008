/* SPDX-License-Identifier: MIT */
/*
 * clickhouse_bench.c - the store figures of issue 12, ClickHouse side by side
 * with SQLite on the same spans: insert spans/s from one writer (put_spans
 * one span at a time, as the sink does, then flush), bytes per span on disk,
 * and the latency of a trace by id and of a trace search. Driven by
 * bench/clickhouse.py, which starts the clickhouse-server.
 *
 * usage: clickhouse_bench N CLICKHOUSE_URL SQLITE_DIR
 *
 * Spans: traces of 5 spans (client/server pairs and a thread child), 40
 * services, 200 endpoints, random 128-bit trace ids, spread over one hour of
 * start times; fields filled as a real HTTP span (~20 of them non-null).
 * Latencies: medians of 30 queries (trace by id: random stored traces; search:
 * `ztrace traces --service S --limit 20` over the last 10 min, and the same
 * over the whole hour).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store.h"

#define NS 1000000000ull

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static const uint64_t T0 = 1764460800ull * NS; /* an hour's start */

static void make_span(struct zt_span *s, size_t i, char trace[33])
{
	size_t k = i % 5;
	unsigned svc = (unsigned)((i / 5) % 40), ep = (unsigned)((i / 5 * 7) % 200);

	zt_span_clear(s);
	if (k == 0)
		snprintf(trace, 33, "%016llx%016llx", (unsigned long long)rnd(), (unsigned long long)rnd());
	snprintf(s->span_uid, sizeof(s->span_uid), "%016llx", (unsigned long long)rnd());
	s->start_ns = T0 + (uint64_t)i * 3600000ull + k * 1000; /* 1M spans per hour */
	s->duration_ns = 200000 + rnd() % 5000000;
	s->end_ns = s->start_ns + s->duration_ns;
	s->tap_side = k % 2 ? ZT_TAP_SERVER_PROCESS : ZT_TAP_CLIENT_PROCESS;
	snprintf(s->host, sizeof(s->host), "host-%u", svc % 8);
	s->netns = 4026531840u;
	s->pid = 1000 + svc;
	s->tid_req = s->tid_resp = s->pid + (unsigned)k;
	snprintf(s->process, sizeof(s->process), "svc%02u", k < 2 ? svc : (svc + 1) % 40);
	s->l7_protocol = ZT_L7_HTTP1;
	snprintf(s->version, sizeof(s->version), "1.1");
	snprintf(s->request_type, sizeof(s->request_type), "GET");
	snprintf(s->request_domain, sizeof(s->request_domain), "svc%02u.internal:8080", svc);
	snprintf(s->request_resource, sizeof(s->request_resource), "/api/v1/items/%llu?page=%u",
		 (unsigned long long)(rnd() % 100000), (unsigned)(rnd() % 10));
	snprintf(s->endpoint, sizeof(s->endpoint), "GET /api/v1/ep%03u/{id}", ep);
	s->response_status = rnd() % 50 ? ZT_RS_OK : ZT_RS_SERVER_ERROR;
	s->response_code = s->response_status == ZT_RS_OK ? 200 : 503;
	s->req_bytes = 120 + rnd() % 200;
	s->resp_bytes = 500 + rnd() % 5000;
	s->client_ip[10] = s->client_ip[11] = 0xff;
	s->client_ip[12] = 10, s->client_ip[15] = (uint8_t)svc;
	memcpy(s->server_ip, s->client_ip, 16);
	s->server_ip[15] = (uint8_t)(svc + 1);
	s->client_port = (uint16_t)(30000 + rnd() % 30000);
	s->server_port = 8080;
	s->l4_protocol = 6;
	s->req_tcp_seq = (uint32_t)rnd();
	s->resp_tcp_seq = (uint32_t)rnd();
	s->flags = ZT_SPAN_HAS_SEQ | ZT_SPAN_HAS_RESP_SEQ;
	snprintf(s->trace_id, sizeof(s->trace_id), "%s", trace);
}

static int count_cb(void *ctx, const struct zt_span *s)
{
	(void)s;
	(*(size_t *)ctx)++;
	return 0;
}

static int sum_cb(void *ctx, const struct zt_trace_summary *t)
{
	(void)t;
	(*(size_t *)ctx)++;
	return 0;
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), dcmp);
	return v[n / 2];
}

#define Q 30

static int run(const char *name, const char *url, size_t n, char (*ids)[33], char (*uids)[17])
{
	struct zt_store *st = NULL;
	struct zt_span s;
	char trace[33] = "";
	double t0, t1, lat_id[Q], lat_uid[Q], lat_search[Q], lat_all[Q];
	size_t got;
	int rc = zt_store_open(url, ZT_STORE_RW, &st);

	if (rc) {
		fprintf(stderr, "%s: open %s: %s\n", name, url, st ? zt_store_errmsg(st) : strerror(-rc));
		return 1;
	}
	rng = 88172645463325252ull;
	t0 = now_s();
	for (size_t i = 0; i < n; i++) {
		make_span(&s, i, trace);
		if (i % 5 == 0 && ids) {
			memcpy(ids[i / 5], trace, 33);
			memcpy(uids[i / 5], s.span_uid, 17);
		}
		if ((rc = st->ops->put_spans(st, &s, 1))) {
			fprintf(stderr, "%s: put: %s\n", name, zt_store_errmsg(st));
			return 1;
		}
	}
	if ((rc = st->ops->flush(st)) || st->spans_pending) {
		fprintf(stderr, "%s: flush: %s\n", name, zt_store_errmsg(st));
		return 1;
	}
	t1 = now_s();
	printf("%s insert: %zu spans in %.2f s = %.0f spans/s (written %llu)\n", name, n, t1 - t0, n / (t1 - t0),
	       (unsigned long long)st->spans_written);
	fflush(stdout);
	st->ops->close(st);
	st = NULL;
	if (zt_store_open(url, ZT_STORE_RO, &st)) {
		fprintf(stderr, "%s: reopen: %s\n", name, zt_store_errmsg(st));
		return 1;
	}
	printf("%s bytes: %llu on disk = %.1f bytes/span\n", name, (unsigned long long)st->ops->used_bytes(st),
	       (double)st->ops->used_bytes(st) / (double)n);
	for (int q = 0; q < Q; q++) {
		const char *id = ids[(rnd() % (n / 5))];
		struct zt_trace_query tq = {.service = "svc07", .limit = 20, .since_ns = T0 + n * 3600000ull - 600 * NS};
		struct zt_trace_query all = {.service = "svc07", .limit = 20};

		got = 0;
		t0 = now_s();
		if (st->ops->query_trace(st, id, count_cb, &got) || got != 5) {
			fprintf(stderr, "%s: trace %s: %zu spans: %s\n", name, id, got, zt_store_errmsg(st));
			return 1;
		}
		lat_id[q] = (now_s() - t0) * 1e3;
		/* by the uid of one of its spans: `ztrace trace UID` */
		id = uids[(rnd() % (n / 5))];
		got = 0;
		t0 = now_s();
		if (st->ops->query_trace(st, id, count_cb, &got) || got != 5) {
			fprintf(stderr, "%s: trace of span %s: %zu spans: %s\n", name, id, got, zt_store_errmsg(st));
			return 1;
		}
		lat_uid[q] = (now_s() - t0) * 1e3;
		got = 0;
		t0 = now_s();
		if (st->ops->query_traces(st, &tq, sum_cb, &got) || got == 0) {
			fprintf(stderr, "%s: search: %zu: %s\n", name, got, zt_store_errmsg(st));
			return 1;
		}
		lat_search[q] = (now_s() - t0) * 1e3;
		if (q < 5) { /* the whole hour: slow on both; 5 are enough */
			got = 0;
			t0 = now_s();
			if (st->ops->query_traces(st, &all, sum_cb, &got) || got == 0) {
				fprintf(stderr, "%s: search all: %s\n", name, zt_store_errmsg(st));
				return 1;
			}
			lat_all[q] = (now_s() - t0) * 1e3;
		}
	}
	printf("%s trace-by-id: median %.1f ms; trace-by-span-uid: median %.1f ms; search (service, last 10 min, "
	       "20): median %.1f ms; search (service, whole hour, 20): median %.1f ms\n",
	       name, median(lat_id, Q), median(lat_uid, Q), median(lat_search, Q), median(lat_all, 5));
	st->ops->close(st);
	return 0;
}

int main(int argc, char **argv)
{
	size_t n;
	char (*ids)[33];
	char (*uids)[17];
	int rc;

	if (argc != 4) {
		fprintf(stderr, "usage: clickhouse_bench N CLICKHOUSE_URL SQLITE_DIR\n");
		return 2;
	}
	n = strtoull(argv[1], NULL, 10) / 5 * 5;
	ids = calloc(n / 5 + 1, sizeof(*ids));
	uids = calloc(n / 5 + 1, sizeof(*uids));
	if (!ids || !uids || n == 0)
		return 2;
	/* A B (the figures of one run; ratios by the driver) */
	rc = run("clickhouse", argv[2], n, ids, uids);
	if (!rc)
		rc = run("sqlite", argv[3], n, ids, uids);
	free(ids);
	free(uids);
	return rc;
}
