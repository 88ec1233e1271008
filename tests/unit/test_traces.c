/* SPDX-License-Identifier: MIT */
/*
 * test_traces.c - the store's trace assembly facts and trace queries
 * (store.h: put_link, put_alias, query_trace, query_traces) on both
 * backends, SQLite and a clickhouse-server this test starts (ch_server.h,
 * ports 20713-20715): hand-made traces, late links, aliases and their chains, spans
 * found by trace id, alias or span_uid, summaries with every filter and sort.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "ch_server.h"
#include "store/store.h"

#define MS 1000000ull
#define T0 (1700000000ull * 1000 * MS)

#define TA "4bf92f3577b34da6a3ce929d0e0e4736" /* a W3C trace id */
#define TB "0af7651916cd43dd8448eb211c80319c"

/* ---- helpers ------------------------------------------------------------ */

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

static int setup_dir(void **state)
{
	char tmpl[] = "/tmp/ztrace-test-traces-XXXXXX";
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

static struct ch_server g_ch = {.http_port = 20713, .tcp_port = 20714, .inter_port = 20715};
static unsigned g_db_seq;

/* A ClickHouse case's state: the URL of a database of its own. */
static int setup_ch(void **state)
{
	char *url = NULL, sql[128];

	g_db_seq++;
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS zt_traces_%u", g_db_seq);
	if (ch_srv_sql(&g_ch, sql))
		return -1;
	if (asprintf(&url, "clickhouse://127.0.0.1:%d/zt_traces_%u", g_ch.http_port, g_db_seq) < 0)
		return -1;
	*state = url;
	return 0;
}

static int teardown_ch(void **state)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS zt_traces_%u", g_db_seq);
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

/* A span of a hand-made trace: uid "000000000000000N" style, times in ms
 * after T0. trace and parent may be NULL. */
static struct zt_span mk(unsigned uid, unsigned start_ms, unsigned dur_ms, enum zt_tap_side side, const char *process,
			 const char *endpoint, const char *trace, unsigned parent, uint8_t kind)
{
	struct zt_span s;

	zt_span_clear(&s);
	snprintf(s.span_uid, sizeof(s.span_uid), "%016x", uid);
	s.start_ns = T0 + start_ms * MS;
	s.duration_ns = dur_ms * MS;
	s.end_ns = s.start_ns + s.duration_ns;
	s.tap_side = (uint8_t)side;
	s.pid = 100 + uid;
	snprintf(s.process, sizeof(s.process), "%s", process);
	s.l7_protocol = ZT_L7_HTTP1;
	snprintf(s.endpoint, sizeof(s.endpoint), "%s", endpoint);
	s.response_status = ZT_RS_OK;
	s.response_code = 200;
	if (trace)
		snprintf(s.trace_id, sizeof(s.trace_id), "%s", trace);
	if (parent) {
		snprintf(s.parent_uid, sizeof(s.parent_uid), "%016x", parent);
		s.link_kind = kind;
	}
	return s;
}

static const char *uid(unsigned u)
{
	static char buf[8][ZT_UID_LEN];
	static unsigned k;
	char *b = buf[k++ % 8];

	snprintf(b, ZT_UID_LEN, "%016x", u);
	return b;
}

static void put(struct zt_store *st, const struct zt_span *s, size_t n)
{
	assert_int_equal(st->ops->put_spans(st, s, n), 0);
	assert_int_equal(st->ops->flush(st), 0);
}

struct collect {
	struct zt_span *spans;
	size_t n, cap;
	size_t stop_after;
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

/* query_trace into c (emptied first); returns the op's result. */
static int trace(struct zt_store *st, const char *id, struct collect *c)
{
	free(c->spans);
	memset(c, 0, sizeof(*c));
	return st->ops->query_trace(st, id, collect_cb, c);
}

struct sums {
	struct zt_trace_summary t[32];
	size_t n;
};

static int sum_cb(void *ctx, const struct zt_trace_summary *t)
{
	struct sums *s = ctx;

	assert_true(s->n < 32);
	s->t[s->n++] = *t;
	return 0;
}

static size_t traces(struct zt_store *st, const struct zt_trace_query *q, struct sums *s)
{
	memset(s, 0, sizeof(*s));
	if (st->ops->query_traces(st, q, sum_cb, s))
		fail_msg("query_traces: %s", zt_store_errmsg(st));
	return s->n;
}

static const struct zt_trace_summary *find_sum(const struct sums *s, const char *id)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->t[i].trace_id, id))
			return &s->t[i];
	fail_msg("no summary for trace %s", id);
	return NULL;
}

static long long sql_count(const char *dir, const char *sql)
{
	char path[512];
	sqlite3 *db;
	sqlite3_stmt *stmt;
	long long n = -1;

	snprintf(path, sizeof(path), "%s/ztrace.db", dir);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	n = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return n;
}

/*
 * Trace TA: curl -> nginx -> python, seen on both sides of each hop:
 *   1 curl client GET /api            0..100 ms, root
 *   2 nginx server                    1..99,  parent 1 (tcp_seq)
 *   3 nginx client to the backend    10..60,  parent 2 (thread)
 *   4 python server                  11..59,  no parent when stored: a late link to 3 comes
 * Trace TB: one unrelated exchange (5, 6).
 */
static void store_two_traces(struct zt_store *st)
{
	struct zt_span s[6] = {
	    mk(1, 0, 100, ZT_TAP_CLIENT_PROCESS, "curl", "GET /api", TA, 0, 0),
	    mk(2, 1, 98, ZT_TAP_SERVER_PROCESS, "nginx", "GET /api", TA, 1, ZT_LINK_TCP_SEQ),
	    mk(3, 10, 50, ZT_TAP_CLIENT_PROCESS, "nginx", "GET /items", TA, 2, ZT_LINK_THREAD),
	    mk(4, 11, 48, ZT_TAP_SERVER_PROCESS, "python3", "GET /items", TA, 0, 0),
	    mk(5, 500, 5, ZT_TAP_CLIENT_PROCESS, "wget", "GET /other", TB, 0, 0),
	    mk(6, 501, 3, ZT_TAP_SERVER_PROCESS, "nginx", "GET /other", TB, 5, ZT_LINK_TCP_SEQ),
	};

	/* out of start order on purpose: the query orders */
	put(st, s + 3, 3);
	put(st, s, 3);
}

/* ---- one trace ---------------------------------------------------------- */

static void test_trace_with_late_link(void **state)
{
	struct zt_store *st = open_ok(*state, ZT_STORE_RW), *ro;
	struct collect c = {0};

	store_two_traces(st);
	assert_int_equal(trace(st, TA, &c), 0);
	assert_int_equal(c.n, 4);
	assert_string_equal(c.spans[3].span_uid, uid(4));
	assert_string_equal(c.spans[3].parent_uid, ""); /* no link yet */

	/* The late link is durable after the next flush, not before. */
	assert_int_equal(st->ops->put_link(st, uid(4), uid(3), ZT_LINK_TCP_SEQ), 0);
	assert_int_equal(trace(st, TA, &c), 0);
	assert_string_equal(c.spans[3].parent_uid, "");
	assert_int_equal(st->ops->flush(st), 0);
	st->ops->close(st);

	ro = open_ok(*state, ZT_STORE_RO);
	assert_int_equal(trace(ro, TA, &c), 0);
	assert_int_equal(c.n, 4);
	for (unsigned i = 0; i < 4; i++) {
		assert_string_equal(c.spans[i].span_uid, uid(i + 1)); /* start order */
		assert_string_equal(c.spans[i].trace_id, TA);
	}
	assert_string_equal(c.spans[0].parent_uid, "");
	assert_int_equal(c.spans[0].link_kind, ZT_LINK_NONE);
	assert_string_equal(c.spans[1].parent_uid, uid(1));
	assert_int_equal(c.spans[1].link_kind, ZT_LINK_TCP_SEQ);
	assert_string_equal(c.spans[2].parent_uid, uid(2));
	assert_int_equal(c.spans[2].link_kind, ZT_LINK_THREAD);
	assert_string_equal(c.spans[3].parent_uid, uid(3)); /* the late link applied */
	assert_int_equal(c.spans[3].link_kind, ZT_LINK_TCP_SEQ);
	assert_string_equal(c.spans[3].process, "python3");

	/* The other trace, and by a span_uid: the span's whole trace. */
	assert_int_equal(trace(ro, TB, &c), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(trace(ro, uid(3), &c), 0);
	assert_int_equal(c.n, 4);
	assert_string_equal(c.spans[0].span_uid, uid(1));
	assert_string_equal(c.spans[0].trace_id, TA);
	assert_int_equal(trace(ro, "000000000000000A", &c), -ENOENT); /* no span 0xa */
	assert_int_equal(trace(ro, "0000000000000006", &c), 0);
	assert_string_equal(c.spans[0].trace_id, TB);

	/* Unknown ids: -ENOENT with a message. */
	assert_int_equal(trace(ro, "ffffffffffffffffffffffffffffffff", &c), -ENOENT);
	assert_non_null(strstr(zt_store_errmsg(ro), "ffffffffffffffffffffffffffffffff"));
	assert_int_equal(trace(ro, "ffffffffffffffff", &c), -ENOENT);
	assert_int_equal(c.n, 0);
	assert_int_equal(trace(ro, "", &c), -EINVAL);
	assert_int_equal(trace(ro, "0123456789012345678901234567890123", &c), -EINVAL);

	/* A callback that returns non-0 stops the walk. */
	free(c.spans);
	memset(&c, 0, sizeof(c));
	c.stop_after = 2;
	assert_int_equal(ro->ops->query_trace(ro, TA, collect_cb, &c), 0);
	assert_int_equal(c.n, 2);

	/* A reader cannot write facts. */
	assert_int_equal(ro->ops->put_link(ro, uid(6), uid(5), ZT_LINK_TCP_SEQ), -EROFS);
	assert_int_equal(ro->ops->put_alias(ro, TB, TA), -EROFS);
	ro->ops->close(ro);
	free(c.spans);
}

/*
 * Three partial traces merged after all had spans stored: X -> Y, then
 * Y -> Z (a chain). Every name and every span_uid finds the whole trace,
 * reported under Z.
 */
static void test_alias_chain(void **state)
{
	struct zt_store *st = open_ok(*state, ZT_STORE_RW);
	struct collect c = {0};
	const char *ids[] = {"aaaa", "bbbb", "cccc", "0000000000000011", "0000000000000013"};
	struct zt_span s[4] = {
	    mk(0x10, 0, 50, ZT_TAP_CLIENT_PROCESS, "curl", "GET /x", "aaaa", 0, 0),
	    mk(0x11, 1, 40, ZT_TAP_SERVER_PROCESS, "nginx", "GET /x", "aaaa", 0x10, ZT_LINK_TCP_SEQ),
	    mk(0x12, 5, 20, ZT_TAP_CLIENT_PROCESS, "nginx", "GET /y", "bbbb", 0, 0),
	    mk(0x13, 6, 10, ZT_TAP_SERVER_PROCESS, "python3", "GET /y", "cccc", 0, 0),
	};

	put(st, s, 4);
	assert_int_equal(st->ops->put_alias(st, "aaaa", "bbbb"), 0);
	assert_int_equal(st->ops->put_link(st, uid(0x12), uid(0x11), ZT_LINK_THREAD), 0);
	assert_int_equal(st->ops->flush(st), 0);
	/* One link in: aaaa and bbbb are one trace, cccc still its own. */
	assert_int_equal(trace(st, "aaaa", &c), 0);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.spans[0].trace_id, "bbbb");
	assert_int_equal(trace(st, "cccc", &c), 0);
	assert_int_equal(c.n, 1);

	assert_int_equal(st->ops->put_alias(st, "bbbb", "cccc"), 0);
	assert_int_equal(st->ops->put_link(st, uid(0x13), uid(0x12), ZT_LINK_TCP_SEQ), 0);
	assert_int_equal(st->ops->flush(st), 0);
	for (size_t k = 0; k < sizeof(ids) / sizeof(ids[0]); k++) {
		assert_int_equal(trace(st, ids[k], &c), 0);
		if (c.n != 4)
			fail_msg("by %s: %zu spans", ids[k], c.n);
		for (unsigned i = 0; i < 4; i++) {
			assert_string_equal(c.spans[i].span_uid, uid(0x10 + i));
			assert_string_equal(c.spans[i].trace_id, "cccc");
		}
		assert_string_equal(c.spans[2].parent_uid, uid(0x11));
		assert_int_equal(c.spans[2].link_kind, ZT_LINK_THREAD);
		assert_string_equal(c.spans[3].parent_uid, uid(0x12));
	}
	st->ops->close(st);
	free(c.spans);
}

/* Aliases no joiner writes still give an answer: a cycle is one trace named
 * by its smallest id; a chain past the step bound is refused, not walked. */
static void test_alias_cycle_and_bound(void **state)
{
	struct zt_store *st = open_ok(*state, ZT_STORE_RW);
	struct collect c = {0};
	struct sums sums;
	struct zt_trace_query q = {0};
	char a[16], b[16];
	struct zt_span s[3] = {
	    mk(0x20, 0, 5, ZT_TAP_CLIENT_PROCESS, "curl", "GET /p", "pppp", 0, 0),
	    mk(0x21, 1, 5, ZT_TAP_CLIENT_PROCESS, "curl", "GET /q", "qqqq", 0, 0),
	    mk(0x22, 9, 5, ZT_TAP_CLIENT_PROCESS, "curl", "GET /l", "l0", 0, 0),
	};

	put(st, s, 3);
	assert_int_equal(st->ops->put_alias(st, "qqqq", "pppp"), 0);
	assert_int_equal(st->ops->put_alias(st, "pppp", "qqqq"), 0);
	for (int i = 0; i < 70; i++) {
		snprintf(a, sizeof(a), "l%d", i);
		snprintf(b, sizeof(b), "l%d", i + 1);
		assert_int_equal(st->ops->put_alias(st, a, b), 0);
	}
	assert_int_equal(st->ops->flush(st), 0);
	assert_int_equal(trace(st, "qqqq", &c), 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.spans[0].trace_id, "pppp");
	assert_string_equal(c.spans[1].trace_id, "pppp");
	assert_int_equal(trace(st, "pppp", &c), 0);
	assert_int_equal(c.n, 2);

	assert_int_equal(trace(st, "l0", &c), -ELOOP);
	assert_non_null(strstr(zt_store_errmsg(st), "aliases"));
	assert_int_equal(trace(st, "l10", &c), 0); /* 60 steps from its end: within the bound */
	assert_int_equal(c.n, 1);
	assert_string_equal(c.spans[0].trace_id, "l70");

	/* Summaries: the cycle is one trace; the too-long chain stays unmerged. */
	assert_int_equal(traces(st, &q, &sums), 2);
	assert_int_equal(find_sum(&sums, "pppp")->spans, 2);
	assert_int_equal(find_sum(&sums, "l0")->spans, 1);
	st->ops->close(st);
	free(c.spans);
}

/* Storing a fact twice changes nothing; a second link for the same child is
 * ignored (the first stays); bad arguments are refused with a message. */
static void test_facts_duplicates_and_args(void **state)
{
	struct zt_store *st = open_ok(*state, ZT_STORE_RW);
	struct collect c = {0};
	char long_uid[40];

	store_two_traces(st);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(st->ops->put_link(st, uid(4), uid(3), ZT_LINK_TCP_SEQ), 0);
		assert_int_equal(st->ops->put_alias(st, TB, TA), 0);
	}
	assert_int_equal(st->ops->flush(st), 0);
	assert_int_equal(st->ops->put_link(st, uid(4), uid(3), ZT_LINK_TCP_SEQ), 0);
	assert_int_equal(st->ops->put_link(st, uid(4), uid(1), ZT_LINK_X_REQUEST_ID), 0);
	assert_int_equal(st->ops->put_alias(st, TB, TA), 0);
	assert_int_equal(st->ops->put_alias(st, TB, "ffff"), 0);
	assert_int_equal(st->ops->flush(st), 0);
	assert_int_equal(st->spans_written, 6); /* facts are not spans */
	/* SQLite stores a fact once; ClickHouse appends and reads the first */
	if (!is_ch(*state)) {
		assert_int_equal(sql_count(*state, "SELECT count(*) FROM span_links"), 1);
		assert_int_equal(sql_count(*state, "SELECT count(*) FROM trace_alias"), 1);
	}
	assert_int_equal(trace(st, TB, &c), 0);
	assert_int_equal(c.n, 6);
	assert_string_equal(c.spans[3].parent_uid, uid(3));
	assert_int_equal(c.spans[3].link_kind, ZT_LINK_TCP_SEQ);

	memset(long_uid, '1', sizeof(long_uid) - 1);
	long_uid[sizeof(long_uid) - 1] = '\0';
	assert_int_equal(st->ops->put_link(st, "", uid(1), ZT_LINK_TCP_SEQ), -EINVAL);
	assert_true(strlen(zt_store_errmsg(st)) > 0);
	assert_int_equal(st->ops->put_link(st, long_uid, uid(1), ZT_LINK_TCP_SEQ), -EINVAL);
	assert_int_equal(st->ops->put_link(st, uid(2), NULL, ZT_LINK_TCP_SEQ), -EINVAL);
	assert_int_equal(st->ops->put_link(st, uid(2), uid(2), ZT_LINK_TCP_SEQ), -EINVAL);
	assert_int_equal(st->ops->put_link(st, uid(2), uid(1), ZT_LINK_NONE), -EINVAL);
	assert_int_equal(st->ops->put_link(st, uid(2), uid(1), 99), -EINVAL);
	assert_non_null(strstr(zt_store_errmsg(st), "99"));
	assert_int_equal(st->ops->put_alias(st, TA, TA), -EINVAL);
	assert_int_equal(st->ops->put_alias(st, "", TA), -EINVAL);
	assert_int_equal(st->ops->put_alias(st, TA, long_uid), -EINVAL);
	assert_int_equal(st->ops->flush(st), 0);
	if (!is_ch(*state)) {
		assert_int_equal(sql_count(*state, "SELECT count(*) FROM span_links"), 1);
		assert_int_equal(sql_count(*state, "SELECT count(*) FROM trace_alias"), 1);
	}
	assert_int_equal(trace(st, TB, &c), 0);
	assert_string_equal(c.spans[3].parent_uid, uid(3));
	assert_int_equal(c.spans[3].link_kind, ZT_LINK_TCP_SEQ);
	assert_string_equal(c.spans[0].trace_id, TA);
	st->ops->close(st);
	free(c.spans);
}

static void exec_sql(const char *dir, const char *sql)
{
	char path[512], *err = NULL;
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/ztrace.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
	sqlite3_close(db);
}

/* A flush that fails keeps spans, links and aliases for the next one, and
 * the failed one left nothing half-written (one transaction). */
static void test_failed_flush_keeps_facts(void **state)
{
	struct zt_store *st = open_ok(*state, ZT_STORE_RW);
	struct zt_span s = mk(0x30, 0, 5, ZT_TAP_CLIENT_PROCESS, "curl", "GET /f", "ffff", 0, 0);
	struct collect c = {0};

	/* Another connection makes alias inserts fail while `block` has a row. */
	exec_sql(*state, "CREATE TABLE block (x); INSERT INTO block VALUES (1);"
			 "CREATE TRIGGER no_alias BEFORE INSERT ON trace_alias WHEN (SELECT count(*) FROM block) > 0"
			 " BEGIN SELECT RAISE(ABORT, 'blocked by the test'); END;");
	assert_int_equal(st->ops->put_spans(st, &s, 1), 0);
	assert_int_equal(st->ops->put_link(st, uid(0x31), uid(0x30), ZT_LINK_TCP_SEQ), 0);
	assert_int_equal(st->ops->put_alias(st, "eeee", "ffff"), 0);
	assert_true(st->ops->flush(st) < 0);
	assert_non_null(strstr(zt_store_errmsg(st), "blocked by the test"));
	assert_int_equal(st->spans_written, 0);
	assert_int_equal(sql_count(*state, "SELECT coalesce(sum(n), 0) FROM span_blocks"), 0);
	assert_int_equal(sql_count(*state, "SELECT count(*) FROM span_links"), 0);

	exec_sql(*state, "DELETE FROM block");
	assert_int_equal(st->ops->flush(st), 0);
	assert_int_equal(st->spans_written, 1);
	assert_int_equal(sql_count(*state, "SELECT coalesce(sum(n), 0) FROM span_blocks"), 1);
	assert_int_equal(sql_count(*state, "SELECT count(*) FROM span_links"), 1);
	assert_int_equal(sql_count(*state, "SELECT count(*) FROM trace_alias"), 1);
	assert_int_equal(trace(st, "eeee", &c), 0);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.spans[0].trace_id, "ffff");
	st->ops->close(st);
	free(c.spans);
}

/* Spans stored without trace_id (files before trace assembly) are traces of
 * their own, named by their span_uid; their trace_id stays null. */
static void test_spans_without_trace_id(void **state)
{
	struct zt_store *st = open_ok(*state, ZT_STORE_RW);
	struct zt_span s[2] = {
	    mk(0x40, 0, 5, ZT_TAP_CLIENT_PROCESS, "curl", "GET /a", NULL, 0, 0),
	    mk(0x41, 1, 7, ZT_TAP_SERVER_PROCESS, "nginx", "GET /a", NULL, 0, 0),
	};
	struct collect c = {0};
	struct zt_trace_query q = {0};
	struct sums sums;

	put(st, s, 2);
	assert_int_equal(trace(st, uid(0x41), &c), 0);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.spans[0].span_uid, uid(0x41));
	assert_string_equal(c.spans[0].trace_id, "");
	assert_int_equal(traces(st, &q, &sums), 2);
	assert_string_equal(sums.t[0].trace_id, uid(0x41)); /* most recent first */
	assert_string_equal(sums.t[0].root_uid, uid(0x41));
	assert_int_equal(sums.t[0].spans, 1);
	assert_int_equal(sums.t[0].duration_ns, 7 * MS);
	st->ops->close(st);
	free(c.spans);
}

/* ---- summaries ---------------------------------------------------------- */

/*
 * Five traces (times in ms after T0):
 *   t1   0..100   curl  "GET /api/users"   3 spans, 1 server_error
 *   t2 200..210   Wget  "GET /health"       1 span
 *   t3 300..800   curl  "POST /api/orders"  2 spans, 1 timeout, 1 client_error;
 *                                           plus alias t3b (1 span, 310..320)
 *   t4 900..905   java  "GET /api/users"    2 spans, every span with a parent
 *                                           (its root lost): root = first span
 *   t5 1000..1001 curl  "GET /x"            server side first in start order,
 *                                           its parent is the later-stored client
 *                                           span (late link): root = the client
 */
static void store_summary_traces(struct zt_store *st)
{
	struct zt_span s[] = {
	    mk(0x51, 0, 100, ZT_TAP_CLIENT_PROCESS, "curl", "GET /api/users", "t1", 0, 0),
	    mk(0x52, 1, 98, ZT_TAP_SERVER_PROCESS, "nginx", "GET /api/users", "t1", 0x51, ZT_LINK_TCP_SEQ),
	    mk(0x53, 5, 10, ZT_TAP_CLIENT_PROCESS, "nginx", "GET /db", "t1", 0x52, ZT_LINK_THREAD),
	    mk(0x54, 200, 10, ZT_TAP_CLIENT_PROCESS, "Wget", "GET /health", "t2", 0, 0),
	    mk(0x55, 300, 500, ZT_TAP_CLIENT_PROCESS, "curl", "POST /api/orders", "t3", 0, 0),
	    mk(0x56, 301, 400, ZT_TAP_SERVER_PROCESS, "nginx", "POST /api/orders", "t3", 0x55, ZT_LINK_TCP_SEQ),
	    mk(0x57, 310, 10, ZT_TAP_CLIENT_PROCESS, "nginx", "GET /stock", "t3b", 0, 0),
	    mk(0x58, 900, 5, ZT_TAP_SERVER_PROCESS, "java", "GET /api/users", "t4", 0x50, ZT_LINK_TCP_SEQ),
	    mk(0x59, 901, 2, ZT_TAP_CLIENT_PROCESS, "java", "GET /x", "t4", 0x58, ZT_LINK_THREAD),
	    mk(0x5b, 1000, 1, ZT_TAP_SERVER_PROCESS, "nginx", "GET /x", "t5", 0, 0),
	    mk(0x5a, 1000, 1, ZT_TAP_CLIENT_PROCESS, "curl", "GET /x", "t5", 0, 0),
	};

	s[2].response_status = ZT_RS_SERVER_ERROR;
	s[4].response_status = ZT_RS_TIMEOUT;
	s[5].response_status = ZT_RS_CLIENT_ERROR;
	s[3].response_status = ZT_RS_UNKNOWN;
	s[9].start_ns -= 1; /* the server side seen first */
	put(st, s, sizeof(s) / sizeof(s[0]));
	assert_int_equal(st->ops->put_alias(st, "t3b", "t3"), 0);
	assert_int_equal(st->ops->put_link(st, uid(0x5b), uid(0x5a), ZT_LINK_TCP_SEQ), 0);
	assert_int_equal(st->ops->flush(st), 0);
}

static void assert_order(const struct sums *s, const char *const *want, size_t n)
{
	if (s->n != n)
		fail_msg("%zu traces, want %zu", s->n, n);
	for (size_t i = 0; i < n; i++)
		if (strcmp(s->t[i].trace_id, want[i]))
			fail_msg("trace %zu is %s, want %s", i, s->t[i].trace_id, want[i]);
}

static void test_summaries(void **state)
{
	struct zt_store *st = open_ok(*state, ZT_STORE_RW), *ro;
	struct zt_trace_query q = {0};
	struct sums s;
	const struct zt_trace_summary *t;

	store_summary_traces(st);
	st->ops->close(st);
	ro = open_ok(*state, ZT_STORE_RO);

	/* All, most recent first; the alias merged into its trace. */
	assert_int_equal(traces(ro, &q, &s), 5);
	assert_order(&s, (const char *const[]){"t5", "t4", "t3", "t2", "t1"}, 5);
	t = find_sum(&s, "t1");
	assert_string_equal(t->root_uid, uid(0x51));
	assert_string_equal(t->root_process, "curl");
	assert_string_equal(t->root_endpoint, "GET /api/users");
	assert_int_equal(t->start_ns, T0);
	assert_int_equal(t->duration_ns, 100 * MS);
	assert_int_equal(t->spans, 3);
	assert_int_equal(t->errors, 1);
	t = find_sum(&s, "t3");
	assert_int_equal(t->spans, 3);
	assert_int_equal(t->errors, 2);
	assert_int_equal(t->start_ns, T0 + 300 * MS);
	assert_int_equal(t->duration_ns, 500 * MS);
	assert_string_equal(t->root_uid, uid(0x55));
	t = find_sum(&s, "t2");
	assert_int_equal(t->errors, 0); /* unknown is no error */
	t = find_sum(&s, "t4");
	assert_string_equal(t->root_uid, uid(0x58)); /* every span has a parent: the first */
	t = find_sum(&s, "t5");
	assert_string_equal(t->root_uid, uid(0x5a)); /* the late link made the earlier span a child */
	assert_string_equal(t->root_process, "curl");

	/* A span_uid in upper case finds its trace (uids are stored in lower case). */
	{
		struct collect c = {0};

		assert_int_equal(trace(ro, "000000000000005B", &c), 0);
		assert_int_equal(c.n, 2);
		assert_string_equal(c.spans[0].span_uid, uid(0x5b));
		assert_string_equal(c.spans[0].parent_uid, uid(0x5a));
		free(c.spans);
	}

	/* Sort by duration, longest first; limit. */
	q.sort_by_duration = 1;
	assert_int_equal(traces(ro, &q, &s), 5);
	assert_order(&s, (const char *const[]){"t3", "t1", "t2", "t4", "t5"}, 5);
	q.limit = 2;
	assert_int_equal(traces(ro, &q, &s), 2);
	assert_order(&s, (const char *const[]){"t3", "t1"}, 2);
	q = (struct zt_trace_query){.limit = 2};
	assert_int_equal(traces(ro, &q, &s), 2);
	assert_order(&s, (const char *const[]){"t5", "t4"}, 2);

	/* Service: the root's process, case-insensitive prefix. */
	q = (struct zt_trace_query){.service = "CUR"};
	assert_int_equal(traces(ro, &q, &s), 3);
	assert_order(&s, (const char *const[]){"t5", "t3", "t1"}, 3);
	q.service = "wget";
	assert_int_equal(traces(ro, &q, &s), 1);
	assert_order(&s, (const char *const[]){"t2"}, 1);
	q.service = "nginx"; /* never a root */
	assert_int_equal(traces(ro, &q, &s), 0);
	q.service = "%"; /* bound and compared, not a pattern */
	assert_int_equal(traces(ro, &q, &s), 0);

	/* Endpoint: the root's, substring. */
	q = (struct zt_trace_query){.endpoint = "/api/"};
	assert_int_equal(traces(ro, &q, &s), 3);
	assert_order(&s, (const char *const[]){"t4", "t3", "t1"}, 3);
	q.endpoint = "/stock"; /* a child's endpoint, not the root's */
	assert_int_equal(traces(ro, &q, &s), 0);

	/* Errors, minimum duration, all filters at once. */
	q = (struct zt_trace_query){.errors_only = 1};
	assert_int_equal(traces(ro, &q, &s), 2);
	assert_order(&s, (const char *const[]){"t3", "t1"}, 2);
	q = (struct zt_trace_query){.min_duration_ns = 100 * MS};
	assert_int_equal(traces(ro, &q, &s), 2);
	assert_order(&s, (const char *const[]){"t3", "t1"}, 2);
	q.min_duration_ns = 100 * MS + 1;
	assert_int_equal(traces(ro, &q, &s), 1);
	q = (struct zt_trace_query){.service = "curl", .endpoint = "users", .errors_only = 1,
				    .min_duration_ns = 50 * MS, .sort_by_duration = 1, .limit = 5};
	assert_int_equal(traces(ro, &q, &s), 1);
	assert_order(&s, (const char *const[]){"t1"}, 1);

	/* Since: traces that started at or after, whole. t3 started at 300
	 * although its alias's span starts at 310: excluded from 305 on. */
	q = (struct zt_trace_query){.since_ns = T0 + 300 * MS};
	assert_int_equal(traces(ro, &q, &s), 3);
	assert_order(&s, (const char *const[]){"t5", "t4", "t3"}, 3);
	assert_int_equal(find_sum(&s, "t3")->spans, 3);
	q.since_ns = T0 + 305 * MS;
	assert_int_equal(traces(ro, &q, &s), 2);
	assert_order(&s, (const char *const[]){"t5", "t4"}, 2);
	q.since_ns = T0 + 1 * MS; /* t1's later spans do not make it a trace of the window */
	assert_int_equal(traces(ro, &q, &s), 4);
	assert_order(&s, (const char *const[]){"t5", "t4", "t3", "t2"}, 4);
	ro->ops->close(ro);
}

/* The alias's own spans start first: a since bound between the alias's
 * start and the final trace's start excludes the whole trace. */
static void test_summaries_since_alias_first(void **state)
{
	struct zt_store *st = open_ok(*state, ZT_STORE_RW);
	struct zt_trace_query q = {0};
	struct sums s;
	struct zt_span sp[2] = {
	    mk(0x61, 0, 10, ZT_TAP_CLIENT_PROCESS, "curl", "GET /a", "early", 0, 0),
	    mk(0x62, 20, 10, ZT_TAP_SERVER_PROCESS, "nginx", "GET /a", "late", 0, 0),
	};

	put(st, sp, 2);
	assert_int_equal(st->ops->put_alias(st, "early", "late"), 0);
	assert_int_equal(st->ops->flush(st), 0);
	assert_int_equal(traces(st, &q, &s), 1);
	assert_string_equal(s.t[0].trace_id, "late");
	assert_string_equal(s.t[0].root_uid, uid(0x61));
	assert_int_equal(s.t[0].duration_ns, 30 * MS);
	q.since_ns = T0 + 10 * MS;
	assert_int_equal(traces(st, &q, &s), 0);
	st->ops->close(st);
}

/*
 * The most recent N traces come from a walk of the newest spans (store_traces.c:
 * traces_recent) when nothing but since filters; any other query aggregates
 * the whole window. Both must give the same list: the first N of all.
 */
static void test_recent_walk_equals_window(void **state)
{
	struct zt_store *st = open_ok(*state, ZT_STORE_RW);
	struct zt_trace_query all = {0}, q;
	struct sums whole, part;
	static const uint64_t since[] = {0, T0, T0 + 1 * MS, T0 + 300 * MS, T0 + 305 * MS, T0 + 901 * MS,
					 T0 + 2000 * MS};
	/* t6: a long trace that started first but whose last span is the newest:
	 * the walk meets it first and must still place it last. */
	struct zt_span s[3] = {
	    mk(0x70, 0, 1500, ZT_TAP_CLIENT_PROCESS, "curl", "GET /slow", "t6", 0, 0),
	    mk(0x71, 1400, 50, ZT_TAP_SERVER_PROCESS, "nginx", "GET /slow", "t6", 0x70, ZT_LINK_TCP_SEQ),
	    mk(0x72, 1200, 5, ZT_TAP_CLIENT_PROCESS, "curl", "GET /x", NULL, 0, 0),
	};

	/* the walk also serves root and error filters (it meets only traces
	 * with a span that could match): the same answers as the window's */
	static const struct {
		const char *service, *endpoint;
		int errors;
	} filt[] = {{NULL, NULL, 0}, {"curl", NULL, 0}, {"CUR", NULL, 0}, {NULL, "/slow", 0},
		    {NULL, "GET", 0},    {NULL, NULL, 1},   {"curl", "/x", 1}, {"nomatch", NULL, 0}};
	size_t matched = 0;

	store_summary_traces(st);
	s[0].start_ns -= 1; /* before t1: the oldest start */
	put(st, s, 3);
	for (size_t fi = 0; fi < sizeof(filt) / sizeof(filt[0]); fi++) {
		for (size_t k = 0; k < sizeof(since) / sizeof(since[0]); k++) {
			all.since_ns = since[k];
			all.service = filt[fi].service;
			all.endpoint = filt[fi].endpoint;
			all.errors_only = filt[fi].errors;
			traces(st, &all, &whole);
			matched += whole.n;
			for (unsigned limit = 1; limit <= whole.n + 1; limit++) {
				q = all;
				q.limit = limit;
				traces(st, &q, &part);
				if (part.n != (limit < whole.n ? limit : whole.n))
					fail_msg("filter %zu since %zu limit %u: %zu traces of %zu", fi, k, limit,
						 part.n, whole.n);
				for (size_t i = 0; i < part.n; i++)
					if (memcmp(&part.t[i], &whole.t[i], sizeof(part.t[i])) != 0)
						fail_msg("filter %zu since %zu limit %u: trace %zu is %s, want %s", fi,
							 k, limit, i, part.t[i].trace_id, whole.t[i].trace_id);
			}
		}
	}
	assert_true(matched > 0);
	all = (struct zt_trace_query){0};
	traces(st, &all, &whole);
	assert_int_equal(whole.n, 7);
	assert_string_equal(whole.t[6].trace_id, "t6");
	assert_string_equal(whole.t[0].trace_id, uid(0x72));
	st->ops->close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_trace_with_late_link, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_alias_chain, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_alias_cycle_and_bound, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_facts_duplicates_and_args, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_failed_flush_keeps_facts, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_spans_without_trace_id, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_summaries, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_summaries_since_alias_first, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_recent_walk_equals_window, setup_dir, teardown_dir),
	};
	/* The same cases on ClickHouse, but the one that breaks SQLite writes
	 * with a trigger (test_store's outage case covers ClickHouse's). */
	const struct CMUnitTest ch_tests[] = {
	    cmocka_unit_test_setup_teardown(test_trace_with_late_link, setup_ch, teardown_ch),
	    cmocka_unit_test_setup_teardown(test_alias_chain, setup_ch, teardown_ch),
	    cmocka_unit_test_setup_teardown(test_alias_cycle_and_bound, setup_ch, teardown_ch),
	    cmocka_unit_test_setup_teardown(test_facts_duplicates_and_args, setup_ch, teardown_ch),
	    cmocka_unit_test_setup_teardown(test_spans_without_trace_id, setup_ch, teardown_ch),
	    cmocka_unit_test_setup_teardown(test_summaries, setup_ch, teardown_ch),
	    cmocka_unit_test_setup_teardown(test_summaries_since_alias_first, setup_ch, teardown_ch),
	    cmocka_unit_test_setup_teardown(test_recent_walk_equals_window, setup_ch, teardown_ch),
	};
	int failed = cmocka_run_group_tests_name("traces_sqlite", tests, NULL, NULL);

	if (ch_server_or_skip(&g_ch, "test_traces")) {
		failed += cmocka_run_group_tests_name("traces_clickhouse", ch_tests, NULL, NULL);
		ch_server_destroy(&g_ch);
	}
	return failed;
}
