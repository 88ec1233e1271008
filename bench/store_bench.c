/* SPDX-License-Identifier: MIT */
/*
 * store_bench.c - spans/s through the store interface (store.h, the SQLite
 * backend), the way `ztrace up` writes: one put_spans() call per span, the
 * store flushing each full batch in one transaction, a final flush.
 *
 * usage: store_bench DIR N [traces|legacy] [SQL]
 *   DIR must not hold a store yet; N spans are inserted. Prints one JSON
 *   object: insert time, spans/s, file sizes after close (SQLite checkpoints
 *   the WAL into the db on the last close), rows counted back, peak RSS, and
 *   the time of a few trace queries on the result (when the store has them).
 *   SQL, if given, runs on the new file before the inserts (e.g. an extra
 *   index, to measure what it costs).
 *
 * The spans look like what the session layer builds for HTTP traffic on a
 * busy host: a few processes and endpoints, IPv4 LAN addresses, TCP seqs
 * always set, syscall trace ids shaped like session.c's, an X-Request-ID on
 * 30% of them and a traceparent's span ids on 20%. Start times increase with
 * small jitter (spans come out in end order, not start order). span_uids are
 * 64-bit hashes in hex, as session.c makes them. Templates are built once; per
 * span only the fields that differ between exchanges are rewritten, with
 * cheap integer code, so the generator costs little next to the store.
 *
 * traces (the default): as the trace joiner stores them, every span has a
 * trace_id (32 random hex digits a trace); consecutive spans form traces of
 * 2 to 6 spans, each span after the first the child of the one before it
 * (parent_uid, link_kind). legacy: spans before trace assembly, a trace_id
 * only on the 20% with a traceparent, no parent_uid.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "store/store.h"

#define NTEMPL 64
#define T0 1700000000000000000ull
#define HOST_HASH 0x9c3e5a1f27ull

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static void hex(char *dst, uint64_t v, int digits)
{
	static const char h[] = "0123456789abcdef";

	for (int i = digits - 1; i >= 0; i--, v >>= 4)
		dst[i] = h[v & 15];
	dst[digits] = '\0';
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long file_size(const char *dir, const char *name)
{
	char path[4096];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &sb) == 0 ? (long long)sb.st_size : 0;
}

static void v4(uint8_t ip[16], uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	memset(ip, 0, 16);
	ip[10] = ip[11] = 0xff;
	ip[12] = a;
	ip[13] = b;
	ip[14] = c;
	ip[15] = d;
}

static const struct {
	const char *process, *method, *domain, *resource, *endpoint;
	int code;
} shapes[] = {
    {"nginx", "GET", "shop.example.com", "/api/v1/users/%u/orders?limit=20", "GET /api/v1/users/{id}/orders", 200},
    {"nginx", "GET", "shop.example.com", "/static/app.%u.js", "GET /static/app.{id}.js", 200},
    {"python3", "POST", "127.0.0.1:8000", "/api/v1/cart/%u/items", "POST /api/v1/cart/{id}/items", 201},
    {"curl", "GET", "localhost:8080", "/health", "GET /health", 200},
    {"node", "GET", "inventory:3000", "/items/%u", "GET /items/{id}", 404},
    {"java", "PUT", "payments.internal:8443", "/v2/payments/%u/capture", "PUT /v2/payments/{id}/capture", 503},
    {"envoy", "GET", "search.internal", "/search?q=shoes&page=%u", "GET /search", 200},
    {"nginx", "DELETE", "shop.example.com", "/api/v1/sessions/%u", "DELETE /api/v1/sessions/{id}", 204},
};
#define NSHAPES (sizeof(shapes) / sizeof(shapes[0]))

static void template_span(struct zt_span *s, unsigned k)
{
	unsigned sh = k % NSHAPES;

	memset(s, 0, sizeof(*s));
	s->tap_side = k % 2 ? ZT_TAP_CLIENT_PROCESS : ZT_TAP_SERVER_PROCESS;
	snprintf(s->host, sizeof(s->host), "web-%02u.example.net", k % 2);
	s->netns = 4026531840u;
	s->pid = 1000 + k % 16;
	s->tid_req = s->pid + 1;
	s->tid_resp = s->pid + 1;
	snprintf(s->process, sizeof(s->process), "%s", shapes[sh].process);
	s->l7_protocol = ZT_L7_HTTP1;
	snprintf(s->version, sizeof(s->version), "1.1");
	snprintf(s->request_type, sizeof(s->request_type), "%s", shapes[sh].method);
	snprintf(s->request_domain, sizeof(s->request_domain), "%s", shapes[sh].domain);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(s->request_resource, sizeof(s->request_resource), shapes[sh].resource, 1000 + k * 7919 % 90000);
#pragma GCC diagnostic pop
	snprintf(s->endpoint, sizeof(s->endpoint), "%s", shapes[sh].endpoint);
	s->response_code = shapes[sh].code;
	s->response_status = s->response_code >= 500 ? ZT_RS_SERVER_ERROR
			     : s->response_code >= 400 ? ZT_RS_CLIENT_ERROR
						       : ZT_RS_OK;
	if (s->response_code >= 400)
		snprintf(s->response_exception, sizeof(s->response_exception), "%s",
			 s->response_code == 404 ? "Not Found" : "Service Unavailable");
	s->req_bytes = 180 + k % 300;
	s->resp_bytes = 400 + (k * 37) % 4000;
	s->l4_protocol = IPPROTO_TCP;
	v4(s->client_ip, 10, 0, (uint8_t)(k % 4), (uint8_t)(10 + k % 50));
	v4(s->server_ip, 10, 0, 1, (uint8_t)(1 + sh));
	s->server_port = (uint16_t)(sh % 2 ? 8080 : 443);
	s->flags = ZT_SPAN_HAS_SEQ | ZT_SPAN_HAS_RESP_SEQ;
}

static int count_cb(void *ctx, const struct zt_span *s)
{
	(*(unsigned long *)ctx)++;
	return 0;
}

static int count_sum_cb(void *ctx, const struct zt_trace_summary *t)
{
	(*(unsigned long *)ctx)++;
	return 0;
}

/* Times the read side on the stored spans, with a reader of its own as the
 * CLI would open one: a trace by id, a trace by one of its span_uids (found
 * by scanning the time index), summaries of the last 1% of the time range (the
 * whole window aggregated), the 20 most recent of all (a walk of the newest
 * spans) and the 20 longest of all (everything aggregated). */
static void time_queries(const char *dir, const char *trace_id, const char *uid, uint64_t since)
{
	struct zt_store *st = NULL;
	struct zt_trace_query q = {0};
	unsigned long n1 = 0, n2 = 0, n3 = 0, n4 = 0, n5 = 0;
	double t0, t1, t2, t3, t4, t5;

	if (zt_store_open(dir, ZT_STORE_RO, &st) || !st->ops->query_trace) {
		if (st)
			st->ops->close(st);
		printf("\"queries\": null}\n");
		return;
	}
	t0 = now_s();
	st->ops->query_trace(st, trace_id, count_cb, &n1);
	t1 = now_s();
	st->ops->query_trace(st, uid, count_cb, &n2);
	t2 = now_s();
	q.since_ns = since;
	st->ops->query_traces(st, &q, count_sum_cb, &n3);
	t3 = now_s();
	q = (struct zt_trace_query){.limit = 20};
	st->ops->query_traces(st, &q, count_sum_cb, &n4);
	t4 = now_s();
	q = (struct zt_trace_query){.limit = 20, .sort_by_duration = 1};
	st->ops->query_traces(st, &q, count_sum_cb, &n5);
	t5 = now_s();
	printf("\"queries\": {\"trace_by_id_ms\": %.3f, \"spans\": %lu, \"trace_by_uid_ms\": %.3f, \"spans_by_uid\": %lu,"
	       " \"traces_last_1pct_ms\": %.1f, \"traces_last_1pct\": %lu, \"traces_recent20_ms\": %.1f,"
	       " \"traces_longest20_ms\": %.1f}}\n",
	       (t1 - t0) * 1e3, n1, (t2 - t1) * 1e3, n2, (t3 - t2) * 1e3, n3, (t4 - t3) * 1e3, (t5 - t4) * 1e3);
	st->ops->close(st);
}

int main(int argc, char **argv)
{
	struct zt_span *tmpl, *s;
	struct zt_store *st = NULL;
	struct rusage ru;
	char *end, probe_trace[ZT_TRACE_ID_LEN] = "", probe_uid[ZT_UID_LEN] = "", prev_uid[ZT_UID_LEN] = "";
	unsigned trace_left = 0;
	int err, legacy = 0;

	if (argc < 3 || argc > 5 || (argc >= 4 && strcmp(argv[3], "traces") && strcmp(argv[3], "legacy"))) {
		fprintf(stderr, "usage: store_bench DIR N [traces|legacy] [SQL]\n");
		return 2;
	}
	legacy = argc >= 4 && !strcmp(argv[3], "legacy");
	const char *dir = argv[1];
	unsigned long n = strtoul(argv[2], &end, 10);
	if (*end || n == 0) {
		fprintf(stderr, "store_bench: bad N\n");
		return 2;
	}
	tmpl = calloc(NTEMPL, sizeof(*tmpl));
	s = calloc(1, sizeof(*s));
	if (!tmpl || !s)
		return 1;
	for (unsigned k = 0; k < NTEMPL; k++)
		template_span(&tmpl[k], k);

	err = zt_store_open(dir, ZT_STORE_RW, &st);
	if (err) {
		fprintf(stderr, "store_bench: open: %s\n", st ? zt_store_errmsg(st) : strerror(-err));
		return 1;
	}
	if (argc == 5) { /* the store's prepared insert re-prepares on the schema change */
		char dbpath[4096], *msg = NULL;
		sqlite3 *db;

		snprintf(dbpath, sizeof(dbpath), "%s/ztrace.db", dir);
		if (sqlite3_open(dbpath, &db) != SQLITE_OK || sqlite3_exec(db, argv[4], NULL, NULL, &msg) != SQLITE_OK) {
			fprintf(stderr, "store_bench: %s: %s\n", argv[4], msg ? msg : sqlite3_errmsg(db));
			return 1;
		}
		sqlite3_close(db);
	}
	uint64_t t = T0, ctx = 0, ctx_seq = 0;
	double t0 = now_s();
	for (unsigned long i = 0; i < n; i++) {
		uint64_t r = mix64(i + 1);

		memcpy(s, &tmpl[i % NTEMPL], sizeof(*s));
		hex(s->span_uid, mix64(r ^ 0x5bd1e995), 16);
		t += 2000 + (r & 0xfff); /* ~330k spans per second of traffic */
		s->start_ns = t - ((r >> 12) & 0xffff);
		s->duration_ns = 50000 + ((r >> 28) & 0xfffff);
		s->end_ns = s->start_ns + s->duration_ns;
		s->client_port = (uint16_t)(32768 + (r >> 20) % 28000);
		s->req_tcp_seq = (uint32_t)(r >> 32);
		s->resp_tcp_seq = (uint32_t)r;
		/* session.c: host_hash << 40 ^ a per-host counter, started when
		 * a server thread reads a request; a client span carries its
		 * thread's context (a proxy's current one; 0 for plain clients). */
		if (s->tap_side == ZT_TAP_SERVER_PROCESS)
			ctx = ++ctx_seq;
		if (s->tap_side == ZT_TAP_SERVER_PROCESS || strcmp(s->process, "curl") != 0) {
			s->syscall_trace_id_req = HOST_HASH << 40 ^ ctx;
			s->syscall_trace_id_resp = s->syscall_trace_id_req;
		}
		if (r % 10 < 3)
			hex(s->x_request_id, mix64(r + 1), 32);
		if (r % 10 >= 5 && r % 10 < 7) {
			if (legacy) {
				hex(s->trace_id, mix64(r + 2), 16);
				hex(s->trace_id + 16, mix64(r + 3), 16);
			}
			hex(s->span_id, mix64(r + 4), 16);
			hex(s->parent_span_id, mix64(r + 5), 16);
		}
		if (!legacy) {
			if (trace_left == 0) { /* a new trace: its root */
				trace_left = 2 + (unsigned)((r >> 40) % 5);
				hex(s->trace_id, mix64(r + 6), 16);
				hex(s->trace_id + 16, mix64(r + 7), 16);
			} else { /* the child of the span before it, in the same trace */
				memcpy(s->trace_id, probe_trace, sizeof(s->trace_id));
				memcpy(s->parent_uid, prev_uid, sizeof(s->parent_uid));
				s->link_kind = s->tap_side == ZT_TAP_SERVER_PROCESS ? ZT_LINK_TCP_SEQ : ZT_LINK_THREAD;
			}
			trace_left--;
			memcpy(probe_trace, s->trace_id, sizeof(probe_trace));
			memcpy(prev_uid, s->span_uid, sizeof(prev_uid));
		} else if (s->trace_id[0]) {
			memcpy(probe_trace, s->trace_id, sizeof(probe_trace));
		}
		if (i == n / 2) /* a span in the middle: the lookups below find it */
			memcpy(probe_uid, s->span_uid, sizeof(probe_uid));
		err = st->ops->put_spans(st, s, 1);
		if (err) {
			fprintf(stderr, "store_bench: put_spans: %s\n", zt_store_errmsg(st));
			return 1;
		}
	}
	err = st->ops->flush(st);
	if (err) {
		fprintf(stderr, "store_bench: flush: %s\n", zt_store_errmsg(st));
		return 1;
	}
	double t1 = now_s();
	long long db_open = file_size(dir, "ztrace.db"), wal_open = file_size(dir, "ztrace.db-wal");
	unsigned long long written = st->spans_written;
	st->ops->close(st); /* last connection: checkpoints the WAL */
	double t2 = now_s();

	/* Count the rows back, independently of the store code. */
	char path[4096];
	sqlite3 *db;
	sqlite3_stmt *q;
	long long rows = -1, user_version = -1;
	snprintf(path, sizeof(path), "%s/ztrace.db", dir);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
		if (sqlite3_prepare_v2(db, "SELECT total(n) FROM span_blocks", -1, &q, NULL) == SQLITE_OK &&
		    sqlite3_step(q) == SQLITE_ROW)
			rows = sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
		if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL) == SQLITE_OK &&
		    sqlite3_step(q) == SQLITE_ROW)
			user_version = sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
	}
	sqlite3_close(db);
	long long dbsz = file_size(dir, "ztrace.db"), wal = file_size(dir, "ztrace.db-wal");

	getrusage(RUSAGE_SELF, &ru);
	printf("{\"n\": %lu, \"insert_s\": %.6f, \"spans_per_s\": %.1f, \"close_s\": %.6f,"
	       " \"spans_written\": %llu, \"rows\": %lld, \"schema_version\": %lld,"
	       " \"db_bytes_open\": %lld, \"wal_bytes_open\": %lld, \"db_bytes\": %lld, \"wal_bytes\": %lld,"
	       " \"bytes_per_span\": %.1f, \"peak_rss_kib\": %ld, \"span_struct_bytes\": %zu, \"mode\": \"%s\",",
	       n, t1 - t0, (double)n / (t1 - t0), t2 - t1, written, rows, user_version, db_open, wal_open, dbsz,
	       wal, (double)(dbsz + wal) / (double)n, ru.ru_maxrss, sizeof(struct zt_span), legacy ? "legacy" : "traces");
	time_queries(dir, probe_trace, probe_uid, t - (t - T0) / 100);
	free(tmpl);
	free(s);
	return rows == (long long)n ? 0 : 1;
}
