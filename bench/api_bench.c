/* SPDX-License-Identifier: MIT */
/*
 * api_bench.c - latency of the HTTP API (src/server/api*.c) over a store
 * that bench/traces_bench.c filled (sink mode: real assembled traces).
 *
 * usage: api_bench measure DIR [NQUERY]
 *          the API on 127.0.0.1 (ephemeral port), one keep-alive libcurl
 *          connection; NQUERY (default 200) trace ids sampled from the
 *          store. Trace by id is timed through the API and straight on the
 *          store (query_trace, the same read with no HTTP nor JSON),
 *          alternated A B B A in 4 rounds; trace searches and span pages
 *          through the API. Prints one JSON object (ms: median, p90, p99).
 *        api_bench serve DIR
 *          serves the API and prints "listening on ADDR" until stdin
 *          closes (bench/api.py compares the CLI's --server with --data).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "server/api.h"
#include "server/http.h"
#include "store/store.h"

#define MAXQ 5000

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double pct(double *v, unsigned n, double p)
{
	qsort(v, n, sizeof(*v), cmp_d);
	return v[(unsigned)((n - 1) * p + 0.5)];
}

struct sink {
	size_t bytes;
};

static size_t on_data(char *d, size_t sz, size_t nm, void *ctx)
{
	(void)d;
	((struct sink *)ctx)->bytes += sz * nm;
	return sz * nm;
}

static CURL *curl;
static char base[160];

/* One GET; its time in ms, or -1 unless answered 200. */
static double get(const char *path, size_t *bytes)
{
	char url[1024];
	struct sink s = {0};
	long status = 0;
	double t0;

	snprintf(url, sizeof(url), "%s%s", base, path);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &s);
	t0 = now_ms();
	if (curl_easy_perform(curl) != CURLE_OK)
		return -1;
	t0 = now_ms() - t0;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (bytes)
		*bytes = s.bytes;
	return status == 200 ? t0 : -1;
}

struct ids {
	char (*id)[ZT_TRACE_ID_LEN];
	unsigned n, want, every, seen;
};

static int take_id(void *ctx, const struct zt_trace_summary *t)
{
	struct ids *x = ctx;

	if (x->seen++ % x->every == 0 && x->n < x->want)
		memcpy(x->id[x->n++], t->trace_id, ZT_TRACE_ID_LEN);
	return x->want && x->n == x->want;
}

static int count_cb(void *ctx, const struct zt_span *s)
{
	(void)s;
	(*(unsigned *)ctx)++;
	return 0;
}

static void print_stats(const char *name, double *v, unsigned n, size_t bytes, int last)
{
	printf("  \"%s\": {\"n\": %u, \"median_ms\": %.3f, \"p90_ms\": %.3f, \"p99_ms\": %.3f, \"bytes\": %zu}%s\n",
	       name, n, pct(v, n, 0.5), pct(v, n, 0.9), pct(v, n, 0.99), bytes, last ? "" : ",");
}

int main(int argc, char **argv)
{
	struct zt_api_cfg ac = {.version = "bench"};
	struct zt_http_cfg hc = {.listen = "127.0.0.1:0"};
	struct zt_http_server *srv = NULL;
	struct zt_api *api = NULL;
	struct zt_store *st = NULL;
	struct ids ids = {0};
	char err[512];
	unsigned nq = 200;
	static double a[MAXQ], b[MAXQ];

	if (argc < 3 || (strcmp(argv[1], "measure") && strcmp(argv[1], "serve"))) {
		fprintf(stderr, "usage: api_bench measure|serve DIR [NQUERY]\n");
		return 2;
	}
	if (argc > 3)
		nq = (unsigned)strtoul(argv[3], NULL, 10);
	if (!nq || nq > MAXQ / 4)
		nq = 200;
	ac.store_url = argv[2];
	if (zt_api_new(&ac, &api, err, sizeof(err)) || zt_http_new(&hc, &srv, err, sizeof(err)) ||
	    zt_api_register(api, srv) || zt_http_start(srv, err, sizeof(err))) {
		fprintf(stderr, "api_bench: %s\n", err);
		return 1;
	}
	snprintf(base, sizeof(base), "http://%s", zt_http_address(srv));
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(argv[1], "serve")) {
		char buf[64];
		printf("listening on %s\n", zt_http_address(srv));
		fflush(stdout);
		while (fread(buf, 1, sizeof(buf), stdin) > 0)
			;
		zt_http_free(srv);
		zt_api_free(api);
		return 0;
	}

	/* trace ids spread over the whole store: every k-th of all traces */
	if (zt_store_open(argv[2], ZT_STORE_RO, &st)) {
		fprintf(stderr, "api_bench: open: %s\n", st ? zt_store_errmsg(st) : "?");
		return 1;
	}
	ids.want = nq;
	ids.every = 1;
	ids.id = calloc(nq, sizeof(*ids.id));
	{
		/* count the traces first, then take every k-th */
		struct ids all = {.every = UINT32_MAX, .want = 0, .id = ids.id}; /* counts only */
		st->ops->query_traces(st, &(struct zt_trace_query){.limit = 0}, take_id, &all);
		ids.every = all.seen / nq ? all.seen / nq : 1;
		st->ops->query_traces(st, &(struct zt_trace_query){.limit = 0}, take_id, &ids);
		printf("{\n  \"traces_in_store\": %u,\n", all.seen);
	}

	curl_global_init(CURL_GLOBAL_DEFAULT);
	curl = curl_easy_init();
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);

	/* trace by id: API (A) and the store directly (B), A B B A */
	{
		unsigned na = 0, nb = 0, spans = 0;
		size_t bytes = 0;
		for (unsigned round = 0; round < 4; round++) {
			int api_first = round == 0 || round == 3;
			for (int part = 0; part < 2; part++) {
				int use_api = part == 0 ? api_first : !api_first;
				for (unsigned i = 0; i < ids.n; i++) {
					char path[128];
					if (use_api) {
						snprintf(path, sizeof(path), "/api/v1/traces/%s", ids.id[i]);
						a[na] = get(path, &bytes);
						if (a[na++] < 0) {
							fprintf(stderr, "api_bench: %s failed\n", path);
							return 1;
						}
					} else {
						double t0 = now_ms();
						spans = 0;
						st->ops->query_trace(st, ids.id[i], count_cb, &spans);
						b[nb++] = now_ms() - t0;
					}
				}
			}
		}
		print_stats("api_trace_by_id", a, na, bytes, 0);
		print_stats("store_query_trace", b, nb, 0, 0);
		/* Jaeger's trace by id */
		na = 0;
		for (unsigned i = 0; i < ids.n; i++) {
			char path[128];
			snprintf(path, sizeof(path), "/api/traces/%s", ids.id[i]);
			a[na] = get(path, &bytes);
			if (a[na++] < 0) {
				fprintf(stderr, "api_bench: %s failed\n", path);
				return 1;
			}
		}
		print_stats("jaeger_trace_by_id", a, na, bytes, 0);
	}
	/* searches */
	{
		static const char *const searches[][2] = {
		    {"search_recent_20", "/api/v1/traces?limit=20"},
		    {"search_service_20", "/api/v1/traces?service=loadgen&limit=20"},
		    {"search_errors_20", "/api/v1/traces?errors=true&limit=20"},
		    {"search_endpoint_20", "/api/v1/traces?endpoint=orders&limit=20"},
		    {"search_min_duration_20", "/api/v1/traces?min_duration=20ms&limit=20"},
		    {"search_by_duration_20", "/api/v1/traces?sort=duration&limit=20"},
		    {"jaeger_search_20", "/api/traces?service=loadgen&limit=20"},
		    {"services_all", "/api/v1/services?since=36500d"},
		    {"spans_page_100", "/api/v1/spans?limit=100"},
		    {"spans_page_100_filtered", "/api/v1/spans?process=java&errors=true&limit=100"},
		};
		/* 20 runs each, or fewer (at least 3) when they take over 20 s */
		for (size_t k = 0; k < sizeof(searches) / sizeof(searches[0]); k++) {
			size_t bytes = 0;
			unsigned reps = 0;
			double spent = 0;
			while (reps < 20 && (reps < 3 || spent < 20000)) {
				a[reps] = get(searches[k][1], &bytes);
				if (a[reps] < 0) {
					fprintf(stderr, "api_bench: %s failed\n", searches[k][1]);
					return 1;
				}
				spent += a[reps++];
			}
			print_stats(searches[k][0], a, reps, bytes, k + 1 == sizeof(searches) / sizeof(searches[0]));
		}
	}
	printf("}\n");
	curl_easy_cleanup(curl);
	st->ops->close(st);
	zt_http_free(srv);
	zt_api_free(api);
	return 0;
}
