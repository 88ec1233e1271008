/* SPDX-License-Identifier: MIT */
/*
 * test_store.c - the store (store.h) on both backends: every backend-neutral
 * case runs against SQLite and against a clickhouse-server this test starts
 * (ch_server.h; its ports 20710-20712), then the cases of each backend's own
 * (SQLite's files and migrations; ClickHouse's URLs, foreign tables, outage
 * buffer and partition retention); span JSON and the duration parser.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "ch_server.h"
#include "model/span_json.h"
#include "store/store.h"
#include "store/sqlite_int.h"
#include "util/duration.h"

#define NS 1000000000ull
#define T0 (1700000000ull * NS)

/* ---- helpers ------------------------------------------------------------ */

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

static int setup_dir(void **state)
{
	char tmpl[] = "/tmp/ztrace-test-store-XXXXXX";
	char *dir = mkdtemp(tmpl);

	if (!dir)
		return -1;
	*state = strdup(dir);
	return *state ? 0 : -1;
}

static int teardown_dir(void **state)
{
	nftw(*state, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(*state);
	return 0;
}

static void set_ip(uint8_t ip[16], int family, const char *text)
{
	memset(ip, 0, 16);
	if (family == AF_INET) {
		ip[10] = ip[11] = 0xff;
		assert_int_equal(inet_pton(AF_INET, text, ip + 12), 1);
	} else {
		assert_int_equal(inet_pton(AF_INET6, text, ip), 1);
	}
}

/* Every field set to a non-null, distinct value. */
static void full_span(struct zt_span *s, unsigned i)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->span_uid, sizeof(s->span_uid), "%016llx", 0xabc0000000000000ull + i);
	s->start_ns = T0 + i * 1000ull;
	s->duration_ns = 1234567;
	s->end_ns = s->start_ns + s->duration_ns;
	s->tap_side = ZT_TAP_SERVER_PROCESS;
	snprintf(s->host, sizeof(s->host), "host-%u", i % 3);
	s->netns = 4026531840u;
	s->pid = 4242;
	s->tid_req = 4243;
	s->tid_resp = 4244;
	snprintf(s->process, sizeof(s->process), "nginx");
	s->l7_protocol = ZT_L7_HTTP1;
	snprintf(s->version, sizeof(s->version), "1.1");
	snprintf(s->request_type, sizeof(s->request_type), "POST");
	snprintf(s->request_domain, sizeof(s->request_domain), "api.example.com");
	snprintf(s->request_resource, sizeof(s->request_resource),
		 "/users/%u/orders?limit=10&x='; DROP TABLE", i);
	snprintf(s->endpoint, sizeof(s->endpoint), "POST /users/{id}/orders");
	s->response_status = ZT_RS_SERVER_ERROR;
	s->response_code = 503;
	snprintf(s->response_exception, sizeof(s->response_exception), "Service Unavailable");
	s->req_bytes = 321;
	s->resp_bytes = 5ull << 33;
	s->l4_protocol = IPPROTO_TCP;
	set_ip(s->client_ip, AF_INET6, "2001:db8::1");
	set_ip(s->server_ip, AF_INET6, "2001:db8::2:1");
	s->client_port = 54321;
	s->server_port = 443;
	s->req_tcp_seq = 0xfffffff0u; /* above INT32_MAX: must not come back negative */
	s->resp_tcp_seq = 7;
	s->syscall_trace_id_req = 0xfedcba9876543210ull; /* above INT64_MAX */
	s->syscall_trace_id_resp = 99;
	snprintf(s->x_request_id, sizeof(s->x_request_id), "req-%u", i);
	snprintf(s->x_request_id_resp, sizeof(s->x_request_id_resp), "resp-%u", i);
	snprintf(s->trace_id, sizeof(s->trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
	snprintf(s->span_id, sizeof(s->span_id), "00f067aa0ba902b7");
	snprintf(s->parent_span_id, sizeof(s->parent_span_id), "00f067aa0ba902b6");
	s->is_tls = 1;
	snprintf(s->parent_uid, sizeof(s->parent_uid), "%016llx", 0xabc0000000000000ull + i + 1000);
	s->link_kind = ZT_LINK_X_REQUEST_ID;
	zt_attrs_add(&s->attributes, "http.user_agent", "curl/7.88 \"quoted\" \\ back", 25);
	zt_attrs_add(&s->attributes, "db.rows", "12", 2);
	s->flags = ZT_SPAN_HAS_SEQ | ZT_SPAN_HAS_RESP_SEQ | ZT_SPAN_TRUNCATED | ZT_SPAN_LOST_SYNC | ZT_SPAN_NO_RESPONSE;
}

/* Every nullable field null (span.h convention); the rest zero. */
static void null_span(struct zt_span *s, unsigned i)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->span_uid, sizeof(s->span_uid), "%016llx", 0x0110000000000000ull + i);
	s->start_ns = T0 + i;
	s->response_code = -1;
}

static void assert_span_equal(const struct zt_span *a, const struct zt_span *b)
{
	assert_string_equal(a->span_uid, b->span_uid);
	assert_int_equal(a->start_ns, b->start_ns);
	assert_int_equal(a->end_ns, b->end_ns);
	assert_int_equal(a->duration_ns, b->duration_ns);
	assert_int_equal(a->tap_side, b->tap_side);
	assert_string_equal(a->host, b->host);
	assert_int_equal(a->netns, b->netns);
	assert_int_equal(a->pid, b->pid);
	assert_int_equal(a->tid_req, b->tid_req);
	assert_int_equal(a->tid_resp, b->tid_resp);
	assert_string_equal(a->process, b->process);
	assert_int_equal(a->l7_protocol, b->l7_protocol);
	assert_string_equal(a->version, b->version);
	assert_string_equal(a->request_type, b->request_type);
	assert_string_equal(a->request_domain, b->request_domain);
	assert_string_equal(a->request_resource, b->request_resource);
	assert_string_equal(a->endpoint, b->endpoint);
	assert_int_equal(a->response_status, b->response_status);
	assert_int_equal(a->response_code, b->response_code);
	assert_string_equal(a->response_exception, b->response_exception);
	assert_int_equal(a->req_bytes, b->req_bytes);
	assert_int_equal(a->resp_bytes, b->resp_bytes);
	assert_int_equal(a->l4_protocol, b->l4_protocol);
	assert_memory_equal(a->client_ip, b->client_ip, 16);
	assert_memory_equal(a->server_ip, b->server_ip, 16);
	assert_int_equal(a->client_port, b->client_port);
	assert_int_equal(a->server_port, b->server_port);
	assert_int_equal(a->req_tcp_seq, b->req_tcp_seq);
	assert_int_equal(a->resp_tcp_seq, b->resp_tcp_seq);
	assert_int_equal(a->syscall_trace_id_req, b->syscall_trace_id_req);
	assert_int_equal(a->syscall_trace_id_resp, b->syscall_trace_id_resp);
	assert_string_equal(a->x_request_id, b->x_request_id);
	assert_string_equal(a->x_request_id_resp, b->x_request_id_resp);
	assert_string_equal(a->trace_id, b->trace_id);
	assert_string_equal(a->span_id, b->span_id);
	assert_string_equal(a->parent_span_id, b->parent_span_id);
	assert_int_equal(a->is_tls, b->is_tls);
	assert_string_equal(a->parent_uid, b->parent_uid);
	assert_int_equal(a->link_kind, b->link_kind);
	assert_int_equal(a->attributes.n, b->attributes.n);
	for (unsigned i = 0; i < a->attributes.n; i++) {
		assert_string_equal(a->attributes.a[i].key, b->attributes.a[i].key);
		assert_string_equal(a->attributes.a[i].val, b->attributes.a[i].val);
	}
	assert_int_equal(a->flags, b->flags);
}

/* Collects query results. */
struct collect {
	struct zt_span *spans;
	size_t n, cap;
	size_t stop_after; /* 0: never stop */
};

static int collect_cb(void *ctx, const struct zt_span *s)
{
	struct collect *c = ctx;

	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->spans = realloc(c->spans, c->cap * sizeof(*c->spans));
		assert_non_null(c->spans);
	}
	c->spans[c->n++] = *s;
	return c->stop_after && c->n >= c->stop_after ? 1 : 0;
}

static struct ch_server g_ch = {.http_port = 20710, .tcp_port = 20711, .inter_port = 20712};
static unsigned g_db_seq;

/* A ClickHouse case's state: the URL of a database of its own. */
static int setup_ch(void **state)
{
	char *url = NULL, sql[128];

	g_db_seq++;
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS zt_store_%u", g_db_seq);
	if (ch_srv_sql(&g_ch, sql))
		return -1;
	if (asprintf(&url, "clickhouse://127.0.0.1:%d/zt_store_%u", g_ch.http_port, g_db_seq) < 0)
		return -1;
	*state = url;
	return 0;
}

static int teardown_ch(void **state)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS zt_store_%u", g_db_seq);
	(void)ch_srv_sql(&g_ch, sql);
	free(*state);
	return 0;
}

static int is_ch(const char *url)
{
	return strncmp(url, "clickhouse://", 13) == 0;
}

/* dir: a data dir (SQLite) or a clickhouse:// URL, through the factory. */
static struct zt_store *open_ok(const char *dir, enum zt_store_mode mode)
{
	struct zt_store *st = NULL;
	int rc = zt_store_open(dir, mode, &st);

	if (rc)
		fail_msg("open %s: %d %s", dir, rc, st ? zt_store_errmsg(st) : "");
	return st;
}

static size_t query(struct zt_store *st, const struct zt_span_query *q, struct collect *c)
{
	free(c->spans);
	memset(c, 0, sizeof(*c));
	assert_int_equal(st->ops->query_spans(st, q, collect_cb, c), 0);
	return c->n;
}

/* ---- store -------------------------------------------------------------- */

static void test_roundtrip(void **state)
{
	const char *dir = *state;
	struct zt_span in[4];
	struct zt_span_query q = {0};
	struct collect c = {0};
	struct zt_store *st = open_ok(dir, ZT_STORE_RW);

	full_span(&in[0], 0);
	null_span(&in[1], 1);
	full_span(&in[2], 2); /* IPv4, UDP, client side, no seq */
	set_ip(in[2].client_ip, AF_INET, "10.0.0.1");
	set_ip(in[2].server_ip, AF_INET, "192.168.1.20");
	in[2].l4_protocol = IPPROTO_UDP;
	in[2].tap_side = ZT_TAP_CLIENT_PROCESS;
	in[2].flags = ZT_SPAN_TRUNCATED;
	in[2].req_tcp_seq = in[2].resp_tcp_seq = 0; /* null without HAS_SEQ */
	in[2].response_status = ZT_RS_OK;
	in[2].response_code = 0; /* 0 is a value, not null */
	null_span(&in[3], 3);
	in[3].response_status = ZT_RS_TIMEOUT;
	for (int i = 0; i < 4; i++) {
		in[i].start_ns = T0 + (uint64_t)i * 1000;
		in[i].end_ns = in[i].start_ns + in[i].duration_ns;
	}

	assert_int_equal(st->ops->put_spans(st, in, 4), 0);
	assert_int_equal(st->spans_written, 0);
	assert_int_equal(st->ops->flush(st), 0);
	assert_int_equal(st->spans_written, 4);
	st->ops->close(st);

	st = open_ok(dir, ZT_STORE_RO);
	assert_int_equal(query(st, &q, &c), 4);
	/* ascending start_ns: in[] order by construction */
	for (int i = 0; i < 4; i++)
		assert_span_equal(&c.spans[i], &in[i]);
	st->ops->close(st);
	free(c.spans);
}

static void test_nulls_are_sql_null(void **state)
{
	const char *dir = *state;
	char path[512];
	struct zt_span s;
	struct zt_store *st = open_ok(dir, ZT_STORE_RW);
	sqlite3 *db;
	sqlite3_stmt *stmt;
	static const char *const nullable[] = {
	    "tap_side",
	    "host",
	    "process",
	    "l7_protocol",
	    "version",
	    "request_type",
	    "request_domain",
	    "request_resource",
	    "endpoint",
	    "response_code",
	    "response_exception",
	    "client_ip",
	    "client_port",
	    "server_ip",
	    "server_port",
	    "l4_protocol",
	    "req_tcp_seq",
	    "resp_tcp_seq",
	    "syscall_trace_id_req",
	    "syscall_trace_id_resp",
	    "x_request_id",
	    "x_request_id_resp",
	    "trace_id",
	    "span_id",
	    "parent_span_id",
	};

	null_span(&s, 7);
	assert_int_equal(st->ops->put_spans(st, &s, 1), 0);
	st->ops->close(st); /* close flushes */

	/* the store's own connection: `spans` is its virtual table over the blocks */
	(void)path;
	assert_int_equal(zt_store_open_sqlite(dir, ZT_STORE_RO, &st), 0);
	db = ((struct zt_sqlite *)st)->db;
	for (size_t i = 0; i < sizeof(nullable) / sizeof(nullable[0]); i++) {
		char sql[256];

		snprintf(sql, sizeof(sql), "SELECT %s IS NULL FROM spans", nullable[i]);
		assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
		if (!sqlite3_column_int(stmt, 0))
			fail_msg("column %s is not NULL", nullable[i]);
		sqlite3_finalize(stmt);
	}
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(stmt, 0), "wal");
	sqlite3_finalize(stmt);
	st->ops->close(st);
}

/*
 * SQLite flushes spans ZT_SQ_ROWS (8) to an INSERT: a duplicate inside such a
 * statement, of a row in an earlier statement or in its own, is skipped
 * alone; the first copy stays, the count is of rows really inserted.
 */
static void test_duplicates_in_multirow_insert(void **state)
{
	const char *dir = *state;
	struct zt_span spans[21];
	struct zt_span_query q = {0};
	struct collect c = {0};
	struct zt_store *st = open_ok(dir, ZT_STORE_RW);
	size_t n = 0;

	for (unsigned i = 0; i < 19; i++) {
		full_span(&spans[n++], i);
		if (i == 9) { /* rows 10 and 12: in the second 8-row statement */
			full_span(&spans[n], 3); /* of a row of the first statement */
			snprintf(spans[n++].process, sizeof(spans[0].process), "other");
		}
		if (i == 10) {
			full_span(&spans[n], 9); /* of row 9, in the same statement */
			snprintf(spans[n++].process, sizeof(spans[0].process), "other");
		}
	}
	assert_int_equal(n, 21);
	assert_int_equal(st->ops->put_spans(st, spans, n), 0);
	assert_int_equal(st->ops->flush(st), 0);
	assert_int_equal(st->spans_written, 19);
	assert_int_equal(query(st, &q, &c), 19);
	for (size_t i = 0; i < c.n; i++)
		assert_string_equal(c.spans[i].process, "nginx");
	free(c.spans);
	st->ops->close(st);
}

static void test_duplicates_ignored(void **state)
{
	const char *dir = *state;
	struct zt_span a, b;
	struct zt_span_query q = {0};
	struct collect c = {0};
	struct zt_store *st = open_ok(dir, ZT_STORE_RW);

	full_span(&a, 1);
	b = a;
	snprintf(b.process, sizeof(b.process), "other");
	assert_int_equal(st->ops->put_spans(st, &a, 1), 0);
	assert_int_equal(st->ops->put_spans(st, &b, 1), 0); /* same batch */
	assert_int_equal(st->ops->flush(st), 0);
	assert_int_equal(st->ops->put_spans(st, &b, 1), 0); /* later batch */
	assert_int_equal(st->ops->flush(st), 0);
	assert_int_equal(st->spans_written, 1);
	assert_int_equal(query(st, &q, &c), 1);
	assert_string_equal(c.spans[0].process, "nginx");
	st->ops->close(st);
	free(c.spans);
}

static void test_autoflush_and_reader(void **state)
{
	const char *dir = *state;
	size_t n = 5000;
	struct zt_span *in = calloc(n, sizeof(*in));
	struct zt_span_query q = {0};
	struct collect c = {0};
	struct zt_store *st = open_ok(dir, ZT_STORE_RW), *ro;

	assert_non_null(in);
	for (size_t i = 0; i < n; i++)
		full_span(&in[i], (unsigned)i);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(st->ops->put_spans(st, &in[i], 1), 0);
	/* SQLite writes every 4096 spans; ClickHouse batches 32768 or 1 s */
	if (!is_ch(dir))
		assert_int_equal(st->spans_written, 4096);
	assert_int_equal(st->spans_written + st->spans_pending, n);

	/* A reader while the writer is open sees what is flushed. */
	ro = open_ok(dir, ZT_STORE_RO);
	assert_int_equal(query(ro, &q, &c), st->spans_written);
	assert_int_equal(st->ops->flush(st), 0);
	assert_int_equal(query(ro, &q, &c), n);
	/* The reader cannot write. */
	assert_int_equal(ro->ops->put_spans(ro, in, 1), -EROFS);

	/* A callback returning non-0 stops the walk. */
	free(c.spans);
	memset(&c, 0, sizeof(c));
	c.stop_after = 10;
	assert_int_equal(ro->ops->query_spans(ro, &q, collect_cb, &c), 0);
	assert_int_equal(c.n, 10);

	ro->ops->close(ro);
	st->ops->close(st);
	free(c.spans);
	free(in);
}

static void test_query_filters(void **state)
{
	const char *dir = *state;
	struct zt_span in[10];
	struct zt_span_query q = {0};
	struct collect c = {0};
	struct zt_store *st = open_ok(dir, ZT_STORE_RW);

	/* Inserted out of time order on purpose. */
	for (unsigned i = 0; i < 10; i++) {
		unsigned t = (i * 7) % 10; /* a permutation of 0..9 */

		full_span(&in[i], i);
		in[i].start_ns = T0 + t * NS;
		snprintf(in[i].process, sizeof(in[i].process), "%s", t % 2 ? "curl" : "nginx");
		if (t % 3 == 0)
			in[i].l7_protocol = ZT_L7_UNKNOWN;
	}
	assert_int_equal(st->ops->put_spans(st, in, 10), 0);
	assert_int_equal(st->ops->flush(st), 0);

	assert_int_equal(query(st, &q, &c), 10);
	for (size_t i = 0; i < c.n; i++)
		assert_int_equal(c.spans[i].start_ns, T0 + i * NS);

	q.since_ns = T0 + 6 * NS;
	assert_int_equal(query(st, &q, &c), 4);
	assert_int_equal(c.spans[0].start_ns, T0 + 6 * NS);

	q = (struct zt_span_query){.protocol = "http"};
	assert_int_equal(query(st, &q, &c), 6); /* t in 1,2,4,5,7,8 */
	q.protocol = "HTTP";
	assert_int_equal(query(st, &q, &c), 6);
	q.protocol = "Http";
	assert_int_equal(query(st, &q, &c), 6);
	q.protocol = "mysql";
	assert_int_equal(query(st, &q, &c), 0);
	q.protocol = "' OR 1=1 --"; /* bound, never spliced into SQL */
	assert_int_equal(query(st, &q, &c), 0);

	q = (struct zt_span_query){.process = "curl"};
	assert_int_equal(query(st, &q, &c), 5);
	for (size_t i = 0; i < c.n; i++)
		assert_string_equal(c.spans[i].process, "curl");
	q.process = "CURL"; /* a prefix in any case */
	assert_int_equal(query(st, &q, &c), 5);
	q.process = "ngi";
	assert_int_equal(query(st, &q, &c), 5);
	q.process = "url"; /* not a prefix */
	assert_int_equal(query(st, &q, &c), 0);

	/* limit: the most recent N, in ascending order */
	q = (struct zt_span_query){.limit = 3};
	assert_int_equal(query(st, &q, &c), 3);
	assert_int_equal(c.spans[0].start_ns, T0 + 7 * NS);
	assert_int_equal(c.spans[1].start_ns, T0 + 8 * NS);
	assert_int_equal(c.spans[2].start_ns, T0 + 9 * NS);
	q.limit = 100;
	assert_int_equal(query(st, &q, &c), 10);

	/* all filters together: nginx (even t), http (t % 3 != 0), t >= 1 -> 2, 4, 8; last 2 */
	q = (struct zt_span_query){
	    .since_ns = T0 + 1 * NS, .protocol = "http", .process = "nginx", .limit = 2};
	assert_int_equal(query(st, &q, &c), 2);
	assert_int_equal(c.spans[0].start_ns, T0 + 4 * NS);
	assert_int_equal(c.spans[1].start_ns, T0 + 8 * NS);

	st->ops->close(st);
	free(c.spans);
}

/* The spans a query returned, as a bit mask of their numbers (the low
 * byte of the uid, as full_span and null_span number them). */
static unsigned got(struct zt_store *st, const struct zt_span_query *q)
{
	struct collect c = {0};
	unsigned m = 0;

	query(st, q, &c);
	for (size_t i = 0; i < c.n; i++)
		m |= 1u << (strtoull(c.spans[i].span_uid, NULL, 16) & 0xff);
	free(c.spans);
	return m;
}

#define B(i) (1u << (i))

static void test_query_more_filters(void **state)
{
	const char *dir = *state;
	struct zt_span in[6];
	struct zt_span_query q;
	struct collect c = {0};
	struct zt_store *st = open_ok(dir, ZT_STORE_RW);

	for (unsigned i = 0; i < 6; i++)
		full_span(&in[i], i);
	/* 0: full_span as it is: nginx, server side, server_error 503, 1.2ms,
	 * pid 4242, ports 54321 -> 443, POST /users/0/orders... */
	/* 1: a client's fast good GET */
	in[1].response_status = ZT_RS_OK;
	in[1].response_code = 200;
	in[1].tap_side = ZT_TAP_CLIENT_PROCESS;
	snprintf(in[1].process, sizeof(in[1].process), "curl");
	in[1].pid = 777;
	in[1].client_port = 40000;
	in[1].server_port = 8080;
	in[1].duration_ns = 50 * 1000000ull;
	snprintf(in[1].request_resource, sizeof(in[1].request_resource), "/index.html");
	snprintf(in[1].endpoint, sizeof(in[1].endpoint), "GET /index.html");
	/* 2: % and _ in the path, literally */
	in[2].response_status = ZT_RS_CLIENT_ERROR;
	in[2].response_code = 404;
	snprintf(in[2].process, sizeof(in[2].process), "nginx-worker");
	in[2].duration_ns = 200 * 1000000ull;
	snprintf(in[2].request_resource, sizeof(in[2].request_resource), "/a%%b_c/100%%_done");
	snprintf(in[2].endpoint, sizeof(in[2].endpoint), "GET /a%%b_c/{id}");
	/* 3: what "a%b_c" matches as a LIKE pattern, but not as text */
	in[3].response_status = ZT_RS_TIMEOUT;
	in[3].response_code = -1;
	snprintf(in[3].process, sizeof(in[3].process), "Nginx");
	in[3].duration_ns = 100 * 1000000ull;
	snprintf(in[3].request_resource, sizeof(in[3].request_resource), "/aXbYc/100Z_done");
	/* 4: nulls everywhere: matches no filter on a field */
	null_span(&in[4], 4);
	/* 5: the same letters in another case; 8080 as the client port */
	in[5].response_status = ZT_RS_OK;
	in[5].tap_side = ZT_TAP_CLIENT_PROCESS;
	snprintf(in[5].process, sizeof(in[5].process), "ngx");
	in[5].client_port = 8080;
	in[5].server_port = 9999;
	snprintf(in[5].request_resource, sizeof(in[5].request_resource), "/A%%B_C");
	snprintf(in[5].endpoint, sizeof(in[5].endpoint), "get /index.html");
	assert_int_equal(st->ops->put_spans(st, in, 6), 0);
	assert_int_equal(st->ops->flush(st), 0);

	q = (struct zt_span_query){0};
	assert_int_equal(got(st, &q), B(0) | B(1) | B(2) | B(3) | B(4) | B(5));

	/* status, by its stored name, any case */
	q = (struct zt_span_query){.status = "ok"};
	assert_int_equal(got(st, &q), B(1) | B(5));
	q.status = "OK";
	assert_int_equal(got(st, &q), B(1) | B(5));
	q.status = "client_error";
	assert_int_equal(got(st, &q), B(2));
	q.status = "server_error";
	assert_int_equal(got(st, &q), B(0));
	q.status = "timeout";
	assert_int_equal(got(st, &q), B(3));
	q.status = "unknown";
	assert_int_equal(got(st, &q), B(4));
	q.status = "' OR 1=1 --";
	assert_int_equal(got(st, &q), 0);

	/* errors: client_error, server_error, timeout; with a status, both hold */
	q = (struct zt_span_query){.errors_only = 1};
	assert_int_equal(got(st, &q), B(0) | B(2) | B(3));
	q.status = "timeout";
	assert_int_equal(got(st, &q), B(3));
	q.status = "ok";
	assert_int_equal(got(st, &q), 0);

	/* min duration: at least, the bound itself included */
	q = (struct zt_span_query){.min_duration_ns = 100 * 1000000ull};
	assert_int_equal(got(st, &q), B(2) | B(3));
	q.min_duration_ns = 1234567;
	assert_int_equal(got(st, &q), B(0) | B(1) | B(2) | B(3) | B(5));
	q.min_duration_ns = UINT64_MAX; /* above what SQLite holds: clamped, nothing */
	assert_int_equal(got(st, &q), 0);

	/* path: a substring, case-sensitive, % and _ are plain characters */
	q = (struct zt_span_query){.path = "a%b_c"};
	assert_int_equal(got(st, &q), B(2));
	q.path = "%";
	assert_int_equal(got(st, &q), B(2) | B(5));
	q.path = "_";
	assert_int_equal(got(st, &q), B(2) | B(3) | B(5));
	q.path = "100%_";
	assert_int_equal(got(st, &q), B(2));
	q.path = "/users/";
	assert_int_equal(got(st, &q), B(0));
	q.path = "/USERS/";
	assert_int_equal(got(st, &q), 0);
	q.path = "x='; DROP TABLE"; /* bound, never spliced into SQL */
	assert_int_equal(got(st, &q), B(0));
	q.path = "\\";
	assert_int_equal(got(st, &q), 0);

	/* endpoint: a substring, case-sensitive */
	q = (struct zt_span_query){.endpoint = "/index.html"};
	assert_int_equal(got(st, &q), B(1) | B(5));
	q.endpoint = "GET ";
	assert_int_equal(got(st, &q), B(1) | B(2));
	q.endpoint = "{id}";
	assert_int_equal(got(st, &q), B(0) | B(2) | B(3));
	q.endpoint = "a%b_";
	assert_int_equal(got(st, &q), B(2));

	/* process: a prefix, ASCII case-insensitive, wildcards literal */
	q = (struct zt_span_query){.process = "ngi"};
	assert_int_equal(got(st, &q), B(0) | B(2) | B(3));
	q.process = "NGINX";
	assert_int_equal(got(st, &q), B(0) | B(2) | B(3));
	q.process = "nginx-";
	assert_int_equal(got(st, &q), B(2));
	q.process = "n";
	assert_int_equal(got(st, &q), B(0) | B(2) | B(3) | B(5));
	q.process = "gin"; /* inside, not at the start */
	assert_int_equal(got(st, &q), 0);
	q.process = "n%";
	assert_int_equal(got(st, &q), 0);
	q.process = "_ginx";
	assert_int_equal(got(st, &q), 0);
	q.process = "nginx-worker-too-long-a-name";
	assert_int_equal(got(st, &q), 0);

	/* pid */
	q = (struct zt_span_query){.pid = 777};
	assert_int_equal(got(st, &q), B(1));
	q.pid = 4242;
	assert_int_equal(got(st, &q), B(0) | B(2) | B(3) | B(5));
	q.pid = 4243;
	assert_int_equal(got(st, &q), 0);

	/* port: either end */
	q = (struct zt_span_query){.port = 8080};
	assert_int_equal(got(st, &q), B(1) | B(5));
	q.port = 443;
	assert_int_equal(got(st, &q), B(0) | B(2) | B(3));
	q.port = 54321;
	assert_int_equal(got(st, &q), B(0) | B(2) | B(3));
	q.port = 9999;
	assert_int_equal(got(st, &q), B(5));
	q.port = 1;
	assert_int_equal(got(st, &q), 0);

	/* side */
	q = (struct zt_span_query){.tap_side = ZT_TAP_CLIENT_PROCESS};
	assert_int_equal(got(st, &q), B(1) | B(5));
	q.tap_side = ZT_TAP_SERVER_PROCESS;
	assert_int_equal(got(st, &q), B(0) | B(2) | B(3));
	q.tap_side = 7;
	assert_int_equal(st->ops->query_spans(st, &q, collect_cb, &c), -EINVAL);
	assert_non_null(strstr(zt_store_errmsg(st), "tap side"));

	/* together: every filter holds */
	q = (struct zt_span_query){.process = "ngi", .errors_only = 1, .min_duration_ns = 100 * 1000000ull};
	assert_int_equal(got(st, &q), B(2) | B(3));
	q.path = "%";
	assert_int_equal(got(st, &q), B(2));
	q = (struct zt_span_query){.tap_side = ZT_TAP_CLIENT_PROCESS, .port = 8080, .status = "ok", .pid = 4242,
				   .endpoint = "index", .protocol = "http", .limit = 1};
	assert_int_equal(got(st, &q), B(5));

	st->ops->close(st);
	free(c.spans);
}

static void test_ro_missing(void **state)
{
	char dir[512], want[600];
	struct zt_store *st = NULL;
	struct stat sb;

	snprintf(dir, sizeof(dir), "%s/nothing-here", (const char *)*state);
	assert_int_equal(zt_store_open_sqlite(dir, ZT_STORE_RO, &st), -ENOENT);
	assert_non_null(st);
	snprintf(want, sizeof(want), "no ztrace data in %s (run `ztrace up` first)", dir);
	assert_string_equal(zt_store_errmsg(st), want);
	/* A failed store answers -EBADF and closes cleanly. */
	assert_int_equal(st->ops->flush(st), -EBADF);
	st->ops->close(st);
	/* RO never creates anything. */
	assert_int_equal(stat(dir, &sb), -1);

	/* An existing dir without a db is the same case. */
	assert_int_equal(zt_store_open_sqlite(*state, ZT_STORE_RO, &st), -ENOENT);
	assert_non_null(strstr(zt_store_errmsg(st), "no ztrace data in"));
	st->ops->close(st);
}

static void test_rw_creates_dirs(void **state)
{
	char dir[512], path[600];
	struct stat sb;
	struct zt_store *st;

	snprintf(dir, sizeof(dir), "%s/a/b/c", (const char *)*state);
	st = open_ok(dir, ZT_STORE_RW);
	st->ops->close(st);
	snprintf(path, sizeof(path), "%s/ztrace.db", dir);
	assert_int_equal(stat(path, &sb), 0);
	/* Reopening an existing store works, and an empty store is readable. */
	st = open_ok(dir, ZT_STORE_RW);
	st->ops->close(st);
	st = open_ok(dir, ZT_STORE_RO);
	st->ops->close(st);
}

static void sql_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
}

static void test_schema_version_refused(void **state)
{
	const char *dir = *state;
	char path[512];
	struct zt_store *st = NULL;
	sqlite3 *db;
	sqlite3_stmt *stmt;
	struct stat before, after;

	snprintf(path, sizeof(path), "%s/ztrace.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sql_exec(db, "CREATE TABLE spans (future TEXT); INSERT INTO spans VALUES ('keep me');"
		     " PRAGMA user_version = 999;");
	sqlite3_close(db);
	assert_int_equal(stat(path, &before), 0);

	assert_int_equal(zt_store_open_sqlite(dir, ZT_STORE_RW, &st), -EPROTO);
	assert_non_null(strstr(zt_store_errmsg(st), "999"));
	assert_non_null(strstr(zt_store_errmsg(st), "newer"));
	st->ops->close(st);
	assert_int_equal(zt_store_open_sqlite(dir, ZT_STORE_RO, &st), -EPROTO);
	st->ops->close(st);

	/* Untouched: same bytes, same version, same journal mode, same row. */
	assert_int_equal(stat(path, &after), 0);
	assert_int_equal(before.st_size, after.st_size);
	assert_int_equal(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
	assert_int_equal(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT future FROM spans", -1, &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(stmt, 0), "keep me");
	sqlite3_finalize(stmt);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(stmt, 0), 999);
	sqlite3_finalize(stmt);
	sqlite3_close(db);

	/* A foreign db at version 0 is refused too. */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sql_exec(db, "PRAGMA user_version = 0;");
	sqlite3_close(db);
	assert_int_equal(zt_store_open_sqlite(dir, ZT_STORE_RW, &st), -EPROTO);
	assert_non_null(strstr(zt_store_errmsg(st), "not a ztrace database"));
	st->ops->close(st);
}

static void test_not_sqlite(void **state)
{
	char path[512];
	struct zt_store *st = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/ztrace.db", (const char *)*state);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("this is not a database, just some text long enough to have a header..........................",
	      f);
	fclose(f);
	assert_true(zt_store_open_sqlite(*state, ZT_STORE_RO, &st) < 0);
	assert_true(strlen(zt_store_errmsg(st)) > 0);
	st->ops->close(st);
	assert_true(zt_store_open_sqlite(*state, ZT_STORE_RW, &st) < 0);
	st->ops->close(st);
}

/* Retention: by age (the spans before the cutoff and their late links go,
 * in chunks of `limit`), then by size (the oldest go until the pages in
 * use are under 90% of the bound); what stays is the newest. */
static void test_retention(void **state)
{
	const char *dir = *state;
	size_t n = 20000;
	struct zt_span *in = calloc(n, sizeof(*in));
	struct zt_store *st = open_ok(dir, ZT_STORE_RW);
	struct zt_span_query q = {0};
	struct collect c = {0};
	uint64_t dropped = 0, used0, used;
	int more = 0, rounds = 0;

	assert_non_null(in);
	for (size_t i = 0; i < n; i++)
		full_span(&in[i], (unsigned)i);
	assert_int_equal(st->ops->put_spans(st, in, n), 0);
	/* late links: one of a span that will go, one of a span that stays */
	assert_int_equal(st->ops->put_link(st, in[10].span_uid, in[11].span_uid, ZT_LINK_THREAD), 0);
	assert_int_equal(st->ops->put_link(st, in[n - 1].span_uid, in[n - 2].span_uid, ZT_LINK_THREAD), 0);
	assert_int_equal(st->ops->flush(st), 0);

	/* by age: spans 0..4999 started before T0 + 5000 us; 3000 per call */
	assert_int_equal(st->ops->retain(st, T0 + 5000 * 1000ull, 0, 3000, &dropped, &more), 0);
	assert_int_equal(dropped, 3000);
	assert_true(more);
	assert_int_equal(st->ops->retain(st, T0 + 5000 * 1000ull, 0, 3000, &dropped, &more), 0);
	assert_int_equal(dropped, 5000);
	assert_false(more);
	assert_int_equal(query(st, &q, &c), n - 5000);
	assert_string_equal(c.spans[0].span_uid, in[5000].span_uid);

	/* by size: down to 90% of half of what is used now */
	used0 = st->ops->used_bytes(st);
	assert_true(used0 > 0);
	do {
		assert_int_equal(st->ops->retain(st, 0, used0 / 2, 4000, &dropped, &more), 0);
	} while (more && ++rounds < 50);
	used = st->ops->used_bytes(st);
	assert_true(used <= used0 / 2);
	free(c.spans);
	memset(&c, 0, sizeof(c));
	size_t left = query(st, &q, &c);
	assert_true(left > 0 && left < n - 5000);
	assert_int_equal(dropped, n - left);
	/* the newest stayed, the oldest went */
	assert_string_equal(c.spans[left - 1].span_uid, in[n - 1].span_uid);
	assert_string_equal(c.spans[0].span_uid, in[n - left].span_uid);
	st->ops->close(st);
	{
		/* the late link of a dropped span went with it, the newest's stayed */
		char sql[512], path[512];
		sqlite3 *db;
		sqlite3_stmt *stmt;
		snprintf(path, sizeof(path), "%s/ztrace.db", dir);
		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM span_links");
		assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int(stmt, 0), 1);
		sqlite3_finalize(stmt);
		sqlite3_close(db);
	}
	free(c.spans);
	free(in);
}

static int count_span_cb(void *ctx, const struct zt_span *s)
{
	(void)s;
	(*(size_t *)ctx)++;
	return 0;
}

/* Random bytes over the second half of a file of 5000 spans (issue 13's
 * reproduction, made sure to hit the b-tree pages: spans in blocks leave
 * pages partly empty, where bytes change nothing): both modes refuse it at
 * open, the message says the file is damaged and how to move it aside. */
static void test_damaged_file(void **state)
{
	const char *dir = *state;
	size_t n = 5000;
	struct zt_span *in = calloc(n, sizeof(*in));
	struct zt_store *st = open_ok(dir, ZT_STORE_RW);
	char path[512];
	uint8_t junk[4096];
	struct stat sb;
	FILE *f;

	assert_non_null(in);
	for (size_t i = 0; i < n; i++)
		full_span(&in[i], (unsigned)i);
	assert_int_equal(st->ops->put_spans(st, in, n), 0);
	st->ops->close(st);
	snprintf(path, sizeof(path), "%s/ztrace.db", dir);
	assert_int_equal(stat(path, &sb), 0);
	srand(7);
	f = fopen(path, "r+b");
	assert_non_null(f);
	assert_int_equal(fseek(f, sb.st_size / 2, SEEK_SET), 0);
	for (off_t o = sb.st_size / 2; o < sb.st_size; o += (off_t)sizeof(junk)) {
		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (uint8_t)rand();
		assert_int_equal(fwrite(junk, 1, sizeof(junk), f), sizeof(junk));
	}
	fclose(f);
	for (int mode = 0; mode < 2; mode++) {
		st = NULL;
		assert_int_equal(zt_store_open_sqlite(dir, mode ? ZT_STORE_RW : ZT_STORE_RO, &st), -EILSEQ);
		assert_non_null(strstr(zt_store_errmsg(st), "is damaged"));
		assert_non_null(strstr(zt_store_errmsg(st), "ztrace.db.broken"));
		st->ops->close(st);
	}
	free(in);
}

/* Damage inside a span block (the b-trees intact: open cannot see it) is
 * found when the block is read: the data's checksum, the uid hashes' check.
 * Every read that meets it fails with the damaged-file message; nothing
 * crashes and no wrong span comes out. */
static void test_damaged_block(void **state)
{
	static const char *const damage[2] = {
	    /* 16 bytes of the first block's data zeroed */
	    "UPDATE span_blocks SET data = substr(data, 1, 40) || zeroblob(16) || substr(data, 57)"
	    " WHERE id = (SELECT min(id) FROM span_blocks)",
	    /* 8 bytes of the last block's uid hashes zeroed */
	    "UPDATE span_blocks SET uids = zeroblob(8) || substr(uids, 9) WHERE id = (SELECT max(id) FROM span_blocks)",
	};
	const char *dir = *state;
	size_t n = 2000;
	struct zt_span *in = calloc(n, sizeof(*in));
	char path[512], cmd[1600];

	assert_non_null(in);
	for (size_t i = 0; i < n; i++)
		full_span(&in[i], (unsigned)i);
	snprintf(path, sizeof(path), "%s/ztrace.db", dir);
	for (int d = 0; d < 2; d++) {
		struct zt_store *st;
		sqlite3 *db;

		snprintf(cmd, sizeof(cmd), "rm -f %s %s-wal %s-shm", path, path, path);
		assert_int_equal(system(cmd), 0);
		st = open_ok(dir, ZT_STORE_RW);
		assert_int_equal(st->ops->put_spans(st, in, n), 0);
		st->ops->close(st);
		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		sql_exec(db, damage[d]);
		sqlite3_close(db);
		for (int mode = 0; mode < 2; mode++) {
			struct zt_span_query q = {0};
			size_t got = 0;
			/* a full read meets the damaged data; a span by uid reads
			 * every block's uid hashes */
			int rc_scan = d == 0 ? -EILSEQ : 0;
			assert_int_equal(zt_store_open_sqlite(dir, mode ? ZT_STORE_RW : ZT_STORE_RO, &st), 0);
			assert_int_equal(st->ops->query_spans(st, &q, count_span_cb, &got), rc_scan);
			if (rc_scan) {
				assert_non_null(strstr(zt_store_errmsg(st), "is damaged"));
				assert_non_null(strstr(zt_store_errmsg(st), "ztrace.db.broken"));
			} else {
				assert_int_equal(got, n);
			}
			if (d == 1) {
				assert_int_equal(st->ops->query_trace(st, in[0].span_uid, count_span_cb, &got), -EILSEQ);
				assert_non_null(strstr(zt_store_errmsg(st), "is damaged"));
			}
			st->ops->close(st);
		}
	}
	free(in);
}

/* The factory: "sqlite:DIR" and a plain DIR are the embedded store; a URL
 * of a backend this build lacks is refused with a message, never taken for
 * a directory. */
static void test_factory(void **state)
{
	const char *dir = *state;
	char url[600];
	struct zt_store *st = NULL;
	struct zt_span in;
	struct zt_span_query q = {0};
	struct collect c = {0};

	snprintf(url, sizeof(url), "sqlite:%s/f", dir);
	assert_int_equal(zt_store_open(url, ZT_STORE_RW, &st), 0);
	full_span(&in, 1);
	assert_int_equal(st->ops->put_spans(st, &in, 1), 0);
	st->ops->close(st);
	snprintf(url, sizeof(url), "%s/f", dir);
	assert_int_equal(zt_store_open(url, ZT_STORE_RO, &st), 0);
	assert_int_equal(query(st, &q, &c), 1);
	assert_span_equal(&c.spans[0], &in);
	st->ops->close(st);
	free(c.spans);

	st = NULL;
	assert_int_equal(zt_store_open("mongodb://127.0.0.1:8123/db", ZT_STORE_RW, &st), -EPROTONOSUPPORT);
	assert_non_null(st);
	assert_non_null(strstr(zt_store_errmsg(st), "unsupported store 'mongodb'"));
	st->ops->close(st);
	snprintf(url, sizeof(url), "sqlite:%s/missing", dir);
	assert_true(zt_store_open(url, ZT_STORE_RO, &st) < 0);
	assert_non_null(strstr(zt_store_errmsg(st), "no ztrace data"));
	st->ops->close(st);
}

/* A version 2 file (no attributes, parent_uid, link_kind) is read as it is
 * and converted to the current version by the first writer, its rows kept. */
static void test_migrate_v2(void **state)
{
	const char *dir = *state;
	char path[512], cols[2048] = "", sql[4096];
	struct zt_store *st = NULL;
	struct zt_span in;
	struct zt_span_query q = {0};
	struct collect c = {0};
	sqlite3 *db;
	sqlite3_stmt *stmt;
	size_t n = 0;

	for (int f = 0; f < ZT_F__COUNT; f++)
		if (f != ZT_F_attributes && f != ZT_F_parent_uid && f != ZT_F_link_kind) /* v3, v4 */
			n += (size_t)snprintf(cols + n, sizeof(cols) - n, "%s%s", n ? "," : "", zt_span_fields[f].name);
	snprintf(path, sizeof(path), "%s/ztrace.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	snprintf(sql, sizeof(sql),
		 "CREATE TABLE spans (%s); CREATE UNIQUE INDEX spans_start_uid ON spans(start_ns, span_uid);"
		 "INSERT INTO spans (span_uid, start_ns, end_ns, duration_ns, response_status, process)"
		 " VALUES ('00000000000000aa', 5, 6, 1, 'ok', 'old');"
		 "PRAGMA user_version = 2;",
		 cols);
	sql_exec(db, sql);
	sqlite3_close(db);

	assert_int_equal(zt_store_open_sqlite(dir, ZT_STORE_RO, &st), 0);
	assert_int_equal(query(st, &q, &c), 1);
	assert_string_equal(c.spans[0].process, "old");
	assert_int_equal(c.spans[0].attributes.n, 0);
	st->ops->close(st);

	st = open_ok(dir, ZT_STORE_RW);
	full_span(&in, 2);
	assert_int_equal(st->ops->put_spans(st, &in, 1), 0);
	assert_int_equal(st->ops->flush(st), 0);
	assert_int_equal(query(st, &q, &c), 2);
	assert_string_equal(c.spans[0].span_uid, "00000000000000aa");
	assert_span_equal(&c.spans[1], &in);
	st->ops->close(st);
	free(c.spans);

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(stmt, 0), 5);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
}

static long long db_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *stmt;
	long long v;

	if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return v;
}

static long long file_int(const char *dir, const char *sql)
{
	char path[512];
	sqlite3 *db;
	long long v;

	snprintf(path, sizeof(path), "%s/ztrace.db", dir);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	v = db_int(db, sql);
	sqlite3_close(db);
	return v;
}

#define V3_INDEXES                                                                                           \
	"CREATE UNIQUE INDEX spans_start_uid ON spans(start_ns, span_uid);"                                  \
	"CREATE INDEX spans_trace_id ON spans(trace_id) WHERE trace_id IS NOT NULL;"                         \
	"CREATE INDEX spans_tcp_seq ON spans(req_tcp_seq, resp_tcp_seq) WHERE req_tcp_seq IS NOT NULL;"      \
	"CREATE INDEX spans_xrid ON spans(x_request_id) WHERE x_request_id IS NOT NULL;"                     \
	"CREATE INDEX spans_strace_req ON spans(syscall_trace_id_req) WHERE syscall_trace_id_req IS NOT NULL;" \
	"CREATE INDEX spans_strace_resp ON spans(syscall_trace_id_resp) WHERE syscall_trace_id_resp IS NOT NULL" \
	" AND syscall_trace_id_resp IS NOT syscall_trace_id_req;"

#define OLD_INDEX_COUNT                                                                                      \
	"SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN ('spans_trace_id', 'spans_tcp_seq'," \
	" 'spans_xrid', 'spans_strace_req', 'spans_strace_resp')"

static int count_cb(void *ctx, const struct zt_span *s)
{
	(*(size_t *)ctx)++;
	return 0;
}

/*
 * A version 3 file with its six indexes: a reader takes it as it is (trace
 * queries work, the file is not touched); the first writer converts it to
 * version 4: the per-key indexes dropped, the trace index and the two trace
 * tables created, rows kept. A version 4 file of the first half of v4 (old
 * indexes, no trace tables) is completed the same way.
 */
static void migrate_from(const char *dir, int version)
{
	char path[512], cols[2048] = "", sql[8192];
	struct zt_store *st = NULL;
	struct zt_span_query q = {0};
	struct collect c = {0};
	size_t n = 0, count = 0;
	sqlite3 *db;

	for (int f = 0; f < ZT_F__COUNT; f++)
		if (version >= 4 || (f != ZT_F_parent_uid && f != ZT_F_link_kind))
			n += (size_t)snprintf(cols + n, sizeof(cols) - n, "%s%s", n ? "," : "", zt_span_fields[f].name);
	snprintf(path, sizeof(path), "%s/ztrace.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	snprintf(sql, sizeof(sql),
		 "CREATE TABLE spans (%s);" V3_INDEXES
		 "INSERT INTO spans (span_uid, start_ns, end_ns, duration_ns, response_status, process, trace_id,"
		 " req_tcp_seq) VALUES ('00000000000000aa', 5, 6, 1, 'ok', 'old', 'tttt', 7),"
		 " ('00000000000000bb', 8, 9, 1, 'ok', 'old2', 'tttt', NULL),"
		 " ('00000000000000cc', 10, 19, 9, 'timeout', 'old3', NULL, NULL);"
		 "PRAGMA user_version = %d;",
		 cols, version);
	sql_exec(db, sql);
	sqlite3_close(db);

	/* A reader: the trace queries work on the file as it is. */
	assert_int_equal(zt_store_open_sqlite(dir, ZT_STORE_RO, &st), 0);
	assert_int_equal(st->ops->query_trace(st, "tttt", count_cb, &count), 0);
	assert_int_equal(count, 2);
	assert_int_equal(st->ops->query_trace(st, "00000000000000cc", count_cb, &count), 0);
	assert_int_equal(count, 3);
	st->ops->close(st);
	assert_int_equal(file_int(dir, "PRAGMA user_version"), version);
	assert_int_equal(file_int(dir, OLD_INDEX_COUNT), 5);

	st = open_ok(dir, ZT_STORE_RW);
	assert_int_equal(query(st, &q, &c), 3);
	assert_string_equal(c.spans[0].span_uid, "00000000000000aa");
	assert_string_equal(c.spans[0].trace_id, "tttt");
	assert_int_equal(c.spans[0].req_tcp_seq, 7);
	assert_int_equal(st->ops->put_link(st, "00000000000000bb", "00000000000000aa", ZT_LINK_TCP_SEQ), 0);
	assert_int_equal(st->ops->put_alias(st, "tttt", "uuuu"), 0);
	assert_int_equal(st->ops->flush(st), 0);
	free(c.spans);
	memset(&c, 0, sizeof(c));
	assert_int_equal(st->ops->query_trace(st, "tttt", collect_cb, &c), 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.spans[1].parent_uid, "00000000000000aa");
	assert_string_equal(c.spans[1].trace_id, "uuuu");
	st->ops->close(st);
	free(c.spans);

	/* converted: the rows are in blocks, the row table and its indexes gone */
	assert_int_equal(file_int(dir, "PRAGMA user_version"), 5);
	assert_int_equal(file_int(dir, OLD_INDEX_COUNT), 0);
	assert_int_equal(file_int(dir, "SELECT count(*) FROM sqlite_master WHERE name = 'spans'"), 0);
	assert_int_equal(file_int(dir, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN"
				       " ('span_blocks_min', 'span_blocks_max', 'trace_blocks_block', 'trace_alias_target')"),
			 4);
	assert_int_equal(file_int(dir, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
				       " ('span_links', 'trace_alias', 'span_blocks', 'trace_blocks')"),
			 4);
	assert_int_equal(file_int(dir, "SELECT total(n) FROM span_blocks"), 3);
	/* the trace index names the block of trace tttt's spans */
	assert_int_equal(file_int(dir, "SELECT count(*) FROM trace_blocks WHERE trace_id = 'tttt'"), 1);
}

static void test_migrate_v3_indexes(void **state)
{
	migrate_from(*state, 3);
}

static void test_complete_early_v4(void **state)
{
	migrate_from(*state, 4);
}

/* A new file has the version 5 schema: span blocks, no row table. */
static void test_new_file_schema(void **state)
{
	struct zt_store *st = open_ok(*state, ZT_STORE_RW);

	st->ops->close(st);
	assert_int_equal(file_int(*state, "PRAGMA user_version"), 5);
	assert_int_equal(file_int(*state, OLD_INDEX_COUNT), 0);
	assert_int_equal(file_int(*state, "SELECT count(*) FROM sqlite_master WHERE tbl_name = 'spans'"), 0);
	assert_int_equal(file_int(*state, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
					  " ('span_blocks', 'trace_blocks')"),
			 2);
	assert_int_equal(file_int(*state, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
					  " ('span_links', 'trace_alias')"),
			 2);
}

/* ---- JSON --------------------------------------------------------------- */

static const char *const json_keys[] = {
    "span_uid",
    "start_ns",
    "end_ns",
    "duration_ns",
    "tap_side",
    "host",
    "pid",
    "tid_req",
    "tid_resp",
    "process",
    "l7_protocol",
    "request_type",
    "request_domain",
    "request_resource",
    "endpoint",
    "response_status",
    "response_code",
    "response_exception",
    "req_bytes",
    "resp_bytes",
    "client_ip",
    "client_port",
    "server_ip",
    "server_port",
    "req_tcp_seq",
    "resp_tcp_seq",
    "syscall_trace_id_req",
    "syscall_trace_id_resp",
    "x_request_id",
    "trace_id",
    "span_id",
    "parent_span_id",
    "is_tls",
    /* extras */
    "netns",
    "version",
    "l4_protocol",
    "x_request_id_resp",
    "attributes",
    "parent_uid",
    "link_kind",
    "flags",
};
#define N_JSON_KEYS (sizeof(json_keys) / sizeof(json_keys[0]))

static json_t *print_and_parse(const struct zt_span *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	json_error_t jerr;
	json_t *o;

	assert_non_null(f);
	assert_int_equal(zt_span_print_json(f, s), 0);
	fclose(f);
	/* one line, newline-terminated */
	assert_true(len > 2);
	assert_int_equal(buf[len - 1], '\n');
	assert_null(memchr(buf, '\n', len - 1));
	o = json_loads(buf, 0, &jerr);
	if (!o)
		fail_msg("bad JSON: %s: %s", jerr.text, buf);
	free(buf);
	return o;
}

static void assert_exact_keys(json_t *o)
{
	const char *key;
	json_t *v;

	assert_true(json_is_object(o));
	assert_int_equal(json_object_size(o), N_JSON_KEYS);
	for (size_t i = 0; i < N_JSON_KEYS; i++)
		if (!json_object_get(o, json_keys[i]))
			fail_msg("missing key %s", json_keys[i]);
	json_object_foreach(o, key, v)
	{
		size_t i;

		for (i = 0; i < N_JSON_KEYS && strcmp(key, json_keys[i]); i++)
			;
		if (i == N_JSON_KEYS)
			fail_msg("unexpected key %s", key);
	}
}

static void test_json_full(void **state)
{
	struct zt_span s;
	json_t *o, *flags;

	full_span(&s, 5);
	set_ip(s.client_ip, AF_INET, "10.1.2.3");
	o = print_and_parse(&s);
	assert_exact_keys(o);
	assert_string_equal(json_string_value(json_object_get(o, "span_uid")), s.span_uid);
	assert_int_equal(json_integer_value(json_object_get(o, "start_ns")), s.start_ns);
	assert_string_equal(json_string_value(json_object_get(o, "tap_side")), "server-process");
	assert_string_equal(json_string_value(json_object_get(o, "l7_protocol")), "HTTP");
	assert_string_equal(json_string_value(json_object_get(o, "response_status")), "server_error");
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "attributes"), "http.user_agent")),
			    "curl/7.88 \"quoted\" \\ back");
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "attributes"), "db.rows")), "12");
	assert_int_equal(json_integer_value(json_object_get(o, "response_code")), 503);
	assert_string_equal(json_string_value(json_object_get(o, "client_ip")), "10.1.2.3");
	assert_int_equal(json_integer_value(json_object_get(o, "client_port")), 54321);
	assert_string_equal(json_string_value(json_object_get(o, "l4_protocol")), "tcp");
	assert_int_equal(json_integer_value(json_object_get(o, "req_tcp_seq")), 0xfffffff0u);
	assert_int_equal(json_integer_value(json_object_get(o, "resp_bytes")), 5ull << 33);
	/* above INT64_MAX: decimal string, never a rounded double */
	assert_string_equal(json_string_value(json_object_get(o, "syscall_trace_id_req")),
			    "18364758544493064720");
	assert_int_equal(json_integer_value(json_object_get(o, "syscall_trace_id_resp")), 99);
	assert_string_equal(json_string_value(json_object_get(o, "request_resource")),
			    "/users/5/orders?limit=10&x='; DROP TABLE");
	assert_true(json_is_true(json_object_get(o, "is_tls")));
	assert_int_equal(json_integer_value(json_object_get(o, "netns")), 4026531840u);
	flags = json_object_get(o, "flags");
	assert_true(json_is_array(flags));
	assert_int_equal(json_array_size(flags), 3);
	assert_string_equal(json_string_value(json_array_get(flags, 0)), "truncated");
	assert_string_equal(json_string_value(json_array_get(flags, 1)), "lost_sync");
	assert_string_equal(json_string_value(json_array_get(flags, 2)), "no_response");
	json_decref(o);
}

static void test_json_nulls(void **state)
{
	static const char *const null_keys[] = {
	    "tap_side",
	    "host",
	    "process",
	    "l7_protocol",
	    "request_type",
	    "request_domain",
	    "request_resource",
	    "endpoint",
	    "response_code",
	    "response_exception",
	    "client_ip",
	    "client_port",
	    "server_ip",
	    "server_port",
	    "req_tcp_seq",
	    "resp_tcp_seq",
	    "syscall_trace_id_req",
	    "syscall_trace_id_resp",
	    "x_request_id",
	    "trace_id",
	    "span_id",
	    "parent_span_id",
	    "version",
	    "l4_protocol",
	    "x_request_id_resp",
	};
	struct zt_span s;
	json_t *o;

	null_span(&s, 1);
	o = print_and_parse(&s);
	assert_exact_keys(o);
	for (size_t i = 0; i < sizeof(null_keys) / sizeof(null_keys[0]); i++)
		if (!json_is_null(json_object_get(o, null_keys[i])))
			fail_msg("key %s is not null", null_keys[i]);
	assert_true(json_is_false(json_object_get(o, "is_tls")));
	assert_int_equal(json_array_size(json_object_get(o, "flags")), 0);
	assert_string_equal(json_string_value(json_object_get(o, "response_status")), "unknown");
	/* a seq of 0 is a value once HAS_SEQ says the seqs are known */
	s.flags = ZT_SPAN_HAS_SEQ | ZT_SPAN_HAS_RESP_SEQ;
	json_decref(o);
	o = print_and_parse(&s);
	assert_true(json_is_integer(json_object_get(o, "req_tcp_seq")));
	assert_int_equal(json_integer_value(json_object_get(o, "req_tcp_seq")), 0);
	json_decref(o);
}

/* ---- duration ----------------------------------------------------------- */

static void test_duration(void **state)
{
	static const struct {
		const char *in;
		int rc;
		uint64_t ns;
	} cases[] = {
	    {"500ms", 0, 500000000ull},
	    {"30s", 0, 30 * NS},
	    {"15m", 0, 900 * NS},
	    {"2h", 0, 7200 * NS},
	    {"7d", 0, 7 * 86400 * NS},
	    {"45", 0, 45 * NS},
	    {"0", 0, 0},
	    {"0s", 0, 0},
	    {"250us", 0, 250000ull},
	    {"17ns", 0, 17},
	    {"18446744073", 0, 18446744073ull * NS},
	    {"18446744074", -EINVAL, 0},	    /* seconds overflow 64-bit ns */
	    {"18446744073709551616ns", -EINVAL, 0}, /* digits overflow */
	    {"213503982335d", -EINVAL, 0},
	    {"", -EINVAL, 0},
	    {"s", -EINVAL, 0},
	    {"ms", -EINVAL, 0},
	    {"-5s", -EINVAL, 0},
	    {"+5s", -EINVAL, 0},
	    {" 5s", -EINVAL, 0},
	    {"5s ", -EINVAL, 0},
	    {"1.5s", -EINVAL, 0},
	    {"5x", -EINVAL, 0},
	    {"5S", -EINVAL, 0},
	    {"5sec", -EINVAL, 0},
	    {"5m5s", -EINVAL, 0},
	    {"abc", -EINVAL, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t ns = 12345;
		int rc = zt_parse_duration(cases[i].in, &ns);

		if (rc != cases[i].rc)
			fail_msg("'%s': rc %d, want %d", cases[i].in, rc, cases[i].rc);
		assert_int_equal(ns, cases[i].rc ? 12345 : cases[i].ns);
	}
	assert_int_equal(zt_parse_duration(NULL, &(uint64_t){0}), -EINVAL);
}

/* ---- ClickHouse's own cases ---------------------------------------------- */

static void test_ch_urls(void **state)
{
	static const struct {
		const char *url, *msg;
		int rc;
	} cases[] = {
	    {"clickhouse://127.0.0.1:8123", "without a database", -EINVAL},
	    {"clickhouse://127.0.0.1:8123/", "without a database", -EINVAL},
	    {"clickhouse://127.0.0.1:99999/db", "bad port", -EINVAL},
	    {"clickhouse://127.0.0.1:x/db", "bad port", -EINVAL},
	    {"clickhouse://127.0.0.1:8123/my-db", "letters, digits and _ only", -EINVAL},
	    {"clickhouse://127.0.0.1:8123/db;DROP", "letters, digits and _ only", -EINVAL},
	    {"clickhouse://127.0.0.1:8123/db?color=red", "unknown parameter 'color=red'", -EINVAL},
	    {"clickhouse://127.0.0.1:8123/db?user", "without a value", -EINVAL},
	    {"clickhouse://127.0.0.1:8123/db?cluster=a'b", "cluster name", -EINVAL},
	    {"clickhouse://127.0.0.1:8123/db?password_file=/nonexistent/pw", "cannot read password_file", -ENOENT},
	    /* nothing listens there (this test's range) */
	    {"clickhouse://127.0.0.1:20719/db", "ClickHouse at 127.0.0.1:20719/db is unreachable", -ECONNREFUSED},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct zt_store *st = NULL;
		int rc = zt_store_open(cases[i].url, ZT_STORE_RW, &st);

		if (rc != cases[i].rc || !st || !strstr(zt_store_errmsg(st), cases[i].msg))
			fail_msg("%s: rc %d (want %d), message '%s' (want '%s')", cases[i].url, rc, cases[i].rc,
				 st ? zt_store_errmsg(st) : "", cases[i].msg);
		/* a failed store answers -EBADF and closes cleanly */
		assert_int_equal(st->ops->flush(st), -EBADF);
		st->ops->close(st);
	}
}

static void test_ch_ro_missing(void **state)
{
	const char *url = *state;
	struct zt_store *st = NULL;
	char sql[160];

	assert_int_equal(zt_store_open(url, ZT_STORE_RO, &st), -ENOENT);
	assert_non_null(strstr(zt_store_errmsg(st), "no ztrace data in ClickHouse"));
	assert_int_equal(st->ops->query_spans(st, &(struct zt_span_query){0}, collect_cb, NULL), -EBADF);
	st->ops->close(st);
	/* RO never creates the database */
	snprintf(sql, sizeof(sql), "SELECT throwIf(count() > 0) FROM system.databases WHERE name = 'zt_store_%u'",
		 g_db_seq);
	assert_int_equal(ch_srv_sql(&g_ch, sql), 0);
}

/* A table of that name made by someone else is refused, never written. */
static void test_ch_foreign_table(void **state)
{
	const char *url = *state;
	struct zt_store *st = NULL;
	char sql[200];

	snprintf(sql, sizeof(sql), "CREATE DATABASE zt_store_%u", g_db_seq);
	assert_int_equal(ch_srv_sql(&g_ch, sql), 0);
	snprintf(sql, sizeof(sql), "CREATE TABLE zt_store_%u.spans (x UInt8) ENGINE = Memory", g_db_seq);
	assert_int_equal(ch_srv_sql(&g_ch, sql), 0);
	snprintf(sql, sizeof(sql), "INSERT INTO zt_store_%u.spans VALUES (7)", g_db_seq);
	assert_int_equal(ch_srv_sql(&g_ch, sql), 0);
	assert_int_equal(zt_store_open(url, ZT_STORE_RW, &st), -EPROTO);
	if (!strstr(zt_store_errmsg(st), "spans on 127.0.0.1") || !strstr(zt_store_errmsg(st), "is not a ztrace table") ||
	    !strstr(zt_store_errmsg(st), "expected column 'span_uid String', found 'x UInt8'"))
		fail_msg("message: %s", zt_store_errmsg(st));
	st->ops->close(st);
	assert_int_equal(zt_store_open(url, ZT_STORE_RO, &st), -EPROTO);
	st->ops->close(st);
	/* untouched: one row, its one column */
	snprintf(sql, sizeof(sql), "SELECT throwIf(count() != 1 OR sum(x) != 7) FROM zt_store_%u.spans", g_db_seq);
	assert_int_equal(ch_srv_sql(&g_ch, sql), 0);
}

static int sum_one(void *ctx, const struct zt_trace_summary *t)
{
	*(struct zt_trace_summary *)ctx = *t;
	return 0;
}

static unsigned count_spans(struct zt_store *st)
{
	struct collect c = {0};
	size_t n = query(st, &(struct zt_span_query){0}, &c);

	free(c.spans);
	return (unsigned)n;
}

/* Hours are partitions: retention drops whole hours, oldest first, counted. */
static void test_ch_retention(void **state)
{
	const char *url = *state;
	const uint64_t H = 3600ull * NS, base = 472223ull * H; /* an hour's start */
	struct zt_store *st = open_ok(url, ZT_STORE_RW);
	struct zt_span s;
	uint64_t dropped = 0, used0, used1;
	unsigned k = 0;
	int more = 0;

	/* 3 spans in hour 0, 2 in hour 1, 1 in hour 2 */
	for (unsigned h = 0; h < 3; h++)
		for (unsigned i = 0; i < 3 - h; i++) {
			full_span(&s, k++);
			s.start_ns = base + h * H + i * NS;
			assert_int_equal(st->ops->put_spans(st, &s, 1), 0);
		}
	assert_int_equal(st->ops->flush(st), 0);
	used0 = st->ops->used_bytes(st);
	assert_true(used0 > 0);
	/* nothing is old enough yet */
	assert_int_equal(st->ops->retain(st, base + H / 2, 0, 1000, &dropped, &more), 0);
	assert_int_equal(dropped, 0);
	/* hours 0 and 1 ended before hour 2 started */
	assert_int_equal(st->ops->retain(st, base + 2 * H + 1, 0, 1000, &dropped, &more), 0);
	assert_int_equal(dropped, 5);
	assert_int_equal(more, 0);
	assert_int_equal(count_spans(st), 1);
	used1 = st->ops->used_bytes(st);
	assert_true(used1 < used0);
	/* by size: hours 3 and 4 more; over the bound the oldest go, never the newest */
	for (unsigned h = 3; h < 5; h++) {
		full_span(&s, k++);
		s.start_ns = base + h * H;
		assert_int_equal(st->ops->put_spans(st, &s, 1), 0);
	}
	assert_int_equal(st->ops->flush(st), 0);
	dropped = 0;
	assert_int_equal(st->ops->retain(st, 0, 1, 1000, &dropped, &more), 0);
	assert_int_equal(dropped, 2); /* hours 2 and 3 */
	assert_int_equal(count_spans(st), 1);
	st->ops->close(st);
}

/* Compressed inserts (gzip, forced: on loopback the default is off) and a
 * user with a password from a file; a wrong password is refused clearly. */
static void test_ch_gzip_and_auth(void **state)
{
	const char *url = *state;
	char u[512], pw[] = "/tmp/ztrace-ch-pw-XXXXXX";
	struct zt_span in[50];
	struct collect c = {0};
	struct zt_store *st = NULL;
	FILE *f;
	int fd = mkstemp(pw);

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs(CH_TEST_PASSWORD "\n", f);
	fclose(f);
	snprintf(u, sizeof(u), "%s?compress=1&user=zt&password_file=%s", url, pw);
	st = open_ok(u, ZT_STORE_RW);
	for (unsigned i = 0; i < 50; i++)
		full_span(&in[i], i);
	assert_int_equal(st->ops->put_spans(st, in, 50), 0);
	assert_int_equal(st->ops->flush(st), 0);
	assert_int_equal(st->spans_written, 50);
	assert_int_equal(query(st, &(struct zt_span_query){0}, &c), 50);
	for (unsigned i = 0; i < 50; i++)
		assert_span_equal(&c.spans[i], &in[i]);
	st->ops->close(st);

	f = fopen(pw, "w");
	fputs("wrong\n", f);
	fclose(f);
	assert_int_equal(zt_store_open(u, ZT_STORE_RO, &st), -EACCES);
	if (!strstr(zt_store_errmsg(st), "refused") || !strstr(zt_store_errmsg(st), "code 193"))
		fail_msg("message: %s", zt_store_errmsg(st));
	st->ops->close(st);
	unlink(pw);
	free(c.spans);
}

/*
 * Two writers racing on one span may both insert it (the duplicate check
 * runs before the insert): reads stay exact until a merge folds the copies.
 * The race is made here by copying every row once more behind the store.
 */
static void test_ch_racing_copies(void **state)
{
	const char *url = *state;
	struct zt_store *st = open_ok(url, ZT_STORE_RW);
	struct zt_span in[6];
	struct zt_trace_query tq = {0};
	struct zt_trace_summary sum;
	struct collect c = {0};
	char sql[200];
	int n = 0;

	for (unsigned i = 0; i < 6; i++)
		full_span(&in[i], i);
	assert_int_equal(st->ops->put_spans(st, in, 6), 0);
	assert_int_equal(st->ops->flush(st), 0);
	snprintf(sql, sizeof(sql), "INSERT INTO zt_store_%u.spans SELECT * FROM zt_store_%u.spans", g_db_seq, g_db_seq);
	assert_int_equal(ch_srv_sql(&g_ch, sql), 0);
	snprintf(sql, sizeof(sql), "SELECT throwIf(count() != 12) FROM zt_store_%u.spans", g_db_seq);
	assert_int_equal(ch_srv_sql(&g_ch, sql), 0); /* the copies are there */
	assert_int_equal(count_spans(st), 6);
	assert_int_equal(query(st, &(struct zt_span_query){.limit = 4}, &c), 4);
	assert_int_equal(c.spans[3].start_ns, in[5].start_ns);
	assert_int_equal(st->ops->query_trace(st, in[0].trace_id, collect_cb, &c), 0);
	assert_int_equal(c.n, 4 + 6); /* 4 from before, 6 of the trace */
	memset(&sum, 0, sizeof(sum));
	assert_int_equal(st->ops->query_traces(st, &tq, sum_one, &sum), 0);
	assert_int_equal(sum.spans, 6);
	assert_int_equal(sum.errors, 6);
	(void)n;
	st->ops->close(st);
	free(c.spans);
}

/*
 * ClickHouse down: put_spans and flush go on accepting into the buffer
 * (flush 0, spans_pending counts them), reads fail with a clear message; a
 * store whose buffer is full refuses with -ENOBUFS; when the server is back,
 * everything buffered is written, once.
 */
static void test_ch_outage(void **state)
{
	const char *url = *state;
	char small[300];
	struct zt_span *in = calloc(200, sizeof(*in)), s;
	struct zt_store *st = open_ok(url, ZT_STORE_RW), *tiny;
	struct zt_store_status stat;
	size_t taken = 0;
	uint64_t deadline;
	int rc = 0;

	assert_non_null(in);
	snprintf(small, sizeof(small), "%s?buffer_mb=1&compress=0", url);
	tiny = open_ok(small, ZT_STORE_RW);
	for (unsigned i = 0; i < 200; i++)
		full_span(&in[i], i);
	assert_int_equal(st->ops->put_spans(st, in, 100), 0);
	assert_int_equal(st->ops->flush(st), 0);
	assert_int_equal(st->spans_written, 100);

	ch_server_stop(&g_ch);
	assert_int_equal(st->ops->put_spans(st, in + 100, 100), 0);
	assert_int_equal(st->ops->flush(st), 0); /* buffered, not an error */
	assert_int_equal(st->spans_pending, 100);
	assert_int_equal(st->spans_written, 100);
	/* the status op says so (what /api/v1/status shows) */
	assert_non_null(st->ops->status);
	assert_int_equal(st->ops->status(st, &stat), 0);
	assert_int_equal(stat.buffered_spans, 100);
	assert_true(stat.buffered_bytes > 0);
	assert_int_equal(stat.buffer_bound, 256u << 20);
	assert_true(stat.failing_since_ns > (uint64_t)(time(NULL) - 60) * NS);
	assert_int_equal(stat.outages, 1);
	assert_non_null(strstr(stat.last_error, "is unreachable"));
	rc = st->ops->query_spans(st, &(struct zt_span_query){0}, collect_cb, NULL);
	assert_int_equal(rc, -ECONNREFUSED);
	assert_non_null(strstr(zt_store_errmsg(st), "is unreachable"));
	/* a 1 MiB buffer fills: the rest is refused, with a message */
	rc = 0;
	for (unsigned i = 0; i < 100000 && rc == 0; i++) {
		full_span(&s, 1000 + i);
		rc = tiny->ops->put_spans(tiny, &s, 1);
		taken += rc == 0;
	}
	assert_int_equal(rc, -ENOBUFS);
	assert_non_null(strstr(zt_store_errmsg(tiny), "buffer of 1 MiB is full"));
	assert_true(taken > 1000);
	assert_int_equal(tiny->ops->status(tiny, &stat), 0);
	assert_int_equal(stat.buffer_dropped, 1);
	assert_int_equal(stat.buffered_spans, taken);
	assert_int_equal(stat.buffer_bound, 1u << 20);

	assert_int_equal(ch_server_start(&g_ch), 0);
	deadline = (uint64_t)time(NULL) + 20;
	while ((st->spans_pending || tiny->spans_pending) && (uint64_t)time(NULL) < deadline) {
		if (st->ops->flush(st) || tiny->ops->flush(tiny))
			fail_msg("flush after the restart: %s | %s", zt_store_errmsg(st), zt_store_errmsg(tiny));
		usleep(200000);
	}
	assert_int_equal(st->spans_pending, 0);
	assert_int_equal(st->spans_written, 200);
	assert_int_equal(tiny->spans_written, taken);
	assert_int_equal(st->ops->status(st, &stat), 0);
	assert_int_equal(stat.buffered_spans, 0);
	assert_int_equal(stat.failing_since_ns, 0);
	assert_int_equal(stat.outages, 1);
	/* the same 200 again: nothing doubles (store.h's duplicate rule) */
	assert_int_equal(st->ops->put_spans(st, in, 200), 0);
	assert_int_equal(st->ops->flush(st), 0);
	assert_int_equal(st->spans_written, 200);
	assert_int_equal(count_spans(st), 200 + taken);
	tiny->ops->close(tiny);
	st->ops->close(st);
	free(in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_roundtrip, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_nulls_are_sql_null, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_duplicates_ignored, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_duplicates_in_multirow_insert, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_autoflush_and_reader, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_query_filters, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_query_more_filters, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_ro_missing, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_rw_creates_dirs, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_schema_version_refused, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_damaged_block, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_damaged_file, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_retention, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_not_sqlite, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_factory, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_migrate_v2, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_migrate_v3_indexes, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_complete_early_v4, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_new_file_schema, setup_dir, teardown_dir),
	    cmocka_unit_test(test_json_full),
	    cmocka_unit_test(test_json_nulls),
	    cmocka_unit_test(test_duration),
	    cmocka_unit_test(test_ch_urls),
	};
	/* The same backend-neutral cases on ClickHouse, then its own. */
	const struct CMUnitTest ch_tests[] = {
	    cmocka_unit_test_setup_teardown(test_roundtrip, setup_ch, teardown_ch),
	    cmocka_unit_test_setup_teardown(test_duplicates_ignored, setup_ch, teardown_ch),
	    cmocka_unit_test_setup_teardown(test_autoflush_and_reader, setup_ch, teardown_ch),
	    cmocka_unit_test_setup_teardown(test_query_filters, setup_ch, teardown_ch),
	    cmocka_unit_test_setup_teardown(test_query_more_filters, setup_ch, teardown_ch),
	    cmocka_unit_test_setup_teardown(test_ch_ro_missing, setup_ch, teardown_ch),
	    cmocka_unit_test_setup_teardown(test_ch_foreign_table, setup_ch, teardown_ch),
	    cmocka_unit_test_setup_teardown(test_ch_retention, setup_ch, teardown_ch),
	    cmocka_unit_test_setup_teardown(test_ch_gzip_and_auth, setup_ch, teardown_ch),
	    cmocka_unit_test_setup_teardown(test_ch_racing_copies, setup_ch, teardown_ch),
	    cmocka_unit_test_setup_teardown(test_ch_outage, setup_ch, teardown_ch),
	};
	int failed = cmocka_run_group_tests_name("store_sqlite", tests, NULL, NULL);

	if (ch_server_or_skip(&g_ch, "test_store")) {
		failed += cmocka_run_group_tests_name("store_clickhouse", ch_tests, NULL, NULL);
		ch_server_destroy(&g_ch);
	}
	return failed;
}
