/* SPDX-License-Identifier: MIT */
/*
 * test_postgresql.c - the PostgreSQL v3 parser (src/proto/postgresql.c,
 * pg_sql.c). Real streams (pg_vectors.h, generated from captures of psql
 * 15, pgbench and a JDBC client) and synthetic ones go through
 * parser_harness.h: every segment ends at a guard page, and every stream is
 * also run with each chunk split in two at every byte and byte by byte,
 * which must give the same messages.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/events.h"
#include "parser_harness.h"
#include "pg_vectors.h"
#include "proto/postgresql.h"
#include "proto/proto.h"

extern const struct zt_proto_ops zt_postgresql_ops;
#define OPS (&zt_postgresql_ops)
#define N(a) (sizeof(a) / sizeof((a)[0]))
#define REQ ZT_MSG_REQUEST
#define RESP ZT_MSG_RESPONSE
#define TR ZT_MF_TRUNCATED
#define LS ZT_MF_LOST_SYNC

/* ---- building messages -------------------------------------------------- */

/* A growing byte buffer: one chunk of a synthetic stream. */
struct buf {
	uint8_t b[8192];
	size_t n;
};

static void put(struct buf *o, const void *p, size_t n)
{
	assert_true(o->n + n <= sizeof(o->b));
	if (n)
		memcpy(o->b + o->n, p, n);
	o->n += n;
}

static void put32(struct buf *o, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	put(o, b, 4);
}

static void put16(struct buf *o, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	put(o, b, 2);
}

/* type + length + body; body given as bytes (n may include NULs) */
static void msg(struct buf *o, char type, const void *body, size_t n)
{
	put(o, &type, 1);
	put32(o, (uint32_t)n + 4);
	put(o, body, n);
}

#define MSG(o, t, lit) msg((o), (t), (lit), sizeof(lit) - 1)

static void parse(struct buf *o, const char *name, const char *sql)
{
	struct buf b = {.n = 0};
	put(&b, name, strlen(name) + 1);
	put(&b, sql, strlen(sql) + 1);
	put16(&b, 0);
	msg(o, 'P', b.b, b.n);
}

static void bind(struct buf *o, const char *stmt, const char *param)
{
	struct buf b = {.n = 0};
	put(&b, "", 1);
	put(&b, stmt, strlen(stmt) + 1);
	put16(&b, 0);
	put16(&b, param ? 1 : 0);
	if (param) {
		put32(&b, (uint32_t)strlen(param));
		put(&b, param, strlen(param));
	}
	put16(&b, 0);
	msg(o, 'B', b.b, b.n);
}

static void execute(struct buf *o)
{
	MSG(o, 'E', "\0\0\0\0\0");
}

static void sync_(struct buf *o)
{
	msg(o, 'S', NULL, 0);
}

static void query(struct buf *o, const char *sql)
{
	msg(o, 'Q', sql, strlen(sql) + 1);
}

static void ready(struct buf *o)
{
	MSG(o, 'Z', "I");
}

static void complete(struct buf *o, const char *tag)
{
	msg(o, 'C', tag, strlen(tag) + 1);
}

static void error(struct buf *o, const char *code, const char *text)
{
	struct buf b = {.n = 0};
	put(&b, "SERROR\0VERROR\0C", 15);
	put(&b, code, strlen(code) + 1);
	put(&b, "M", 1);
	put(&b, text, strlen(text) + 1);
	put(&b, "", 1);
	msg(o, 'E', b.b, b.n);
}

static void datarow(struct buf *o, const char *v)
{
	struct buf b = {.n = 0};
	put16(&b, 1);
	put32(&b, (uint32_t)strlen(v));
	put(&b, v, strlen(v));
	msg(o, 'D', b.b, b.n);
}

#define CH(dir_, bf)                                                                                         \
	{                                                                                                    \
		.dir = (dir_), .data = (bf).b, .len = (bf).n                                                 \
	}
#define CHG(dir_, bf, g)                                                                                     \
	{                                                                                                    \
		.dir = (dir_), .data = (bf).b, .len = (bf).n, .gap = (g)                                     \
	}
#define EG ZT_DIR_EGRESS
#define IN ZT_DIR_INGRESS

/* ---- expectations ---------------------------------------------------------- */

/* NULL strings are not checked; "" asserts empty. */
struct want {
	uint8_t kind;
	const char *type, *resource, *domain, *exc;
	uint8_t status; /* responses */
	uint32_t flags; /* ZT_MF_TRUNCATED | ZT_MF_LOST_SYNC, exactly */
	uint8_t pair;
	const char *akey, *aval; /* one attribute that must be there */
	uint64_t bytes;		 /* 0: not checked */
};

static const char *attr(const struct zt_msg *m, const char *key)
{
	for (unsigned i = 0; i < m->attrs.n; i++)
		if (strcmp(m->attrs.a[i].key, key) == 0)
			return m->attrs.a[i].val;
	return NULL;
}

static void check_msg(const struct zt_msg *m, const struct want *w, size_t i)
{
	if (m->kind != w->kind)
		fail_msg("message %zu: kind %u, want %u (type %s)", i, m->kind, w->kind, m->request_type);
	if (w->type && strcmp(m->request_type, w->type))
		fail_msg("message %zu: request_type '%s', want '%s'", i, m->request_type, w->type);
	if (w->resource && strcmp(m->request_resource, w->resource))
		fail_msg("message %zu: resource '%s', want '%s'", i, m->request_resource, w->resource);
	if (w->domain)
		assert_string_equal(m->request_domain, w->domain);
	if (w->exc && strcmp(m->response_exception, w->exc))
		fail_msg("message %zu: exception '%s', want '%s'", i, m->response_exception, w->exc);
	if (w->kind == RESP && w->status != 0xff)
		assert_int_equal(m->status, w->status ? w->status : ZT_RS_OK);
	if ((m->flags & (TR | LS)) != w->flags)
		fail_msg("message %zu: flags %#x, want %#x", i, m->flags & (TR | LS), w->flags);
	assert_int_equal(m->pair, w->pair);
	assert_false(m->flags & ZT_MF_HAS_CODE); /* SQLSTATEs are not numbers: exception only */
	if (w->akey) {
		const char *v = attr(m, w->akey);
		if (!v || (w->aval && strcmp(v, w->aval)))
			fail_msg("message %zu: attribute %s = %s, want %s", i, w->akey, v ? v : "(none)",
				 w->aval);
	}
	if (w->bytes)
		assert_int_equal(m->bytes, w->bytes);
}

static struct ph_msgs got, ref;

/* Runs the stream whole and checks the messages; with splits, every cut of
 * the stream into segments must give the same messages. */
static void check_stream(const struct ph_chunk *st, size_t nst, const struct want *w, size_t nw, bool splits)
{
	ph_run(OPS, st, nst, &(struct ph_feed){.cut = PH_WHOLE, .finish = true}, &got);
	for (size_t i = 0; i < got.n && i < nw; i++)
		check_msg(&got.m[i], &w[i], i);
	if (got.n != nw)
		fail_msg("got %zu messages, want %zu", got.n, nw);
	if (splits)
		ph_check_splits(OPS, st, nst, true, NULL, &ref);
}

#define CHECK(st, w) check_stream((st), N(st), (w), N(w), true)
#define CHECK_WHOLE(st, w) check_stream((st), N(st), (w), N(w), false)

/* ---- ops, inference ---------------------------------------------------------- */

static void test_ops(void **unused)
{
	assert_int_equal(OPS->id, ZT_L7_POSTGRESQL);
	assert_string_equal(OPS->name, "PostgreSQL");
	assert_ptr_equal(zt_proto_by_id(ZT_L7_POSTGRESQL), OPS);
	assert_ptr_equal(zt_proto_by_name("postgresql"), OPS);
	assert_true(OPS->state_size < 20 * 1024);
	assert_non_null(OPS->redact_payload);
}

struct infer_case {
	const char *name;
	const void *p;
	size_t n;
	bool yes;
};

static void test_infer(void **unused)
{
	static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n", post[] = "POST /a HTTP/1.1\r\n\r\n";
	static const char redis[] = "*1\r\n$4\r\nPING\r\n", inl[] = "PING\r\n";
	static const uint8_t mysql_query[] = {0x09, 0, 0, 0, 0x03, 's', 'e', 'l', 'e', 'c', 't', ' ', '1'};
	static const uint8_t mysql_q51[] = {0x51, 0, 0, 0, 0x03, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '1'};
	static const uint8_t tls_hello[] = {0x16, 0x03, 0x01, 0x00, 0x30, 0x01, 0, 0, 0x2c, 0x03, 0x03};
	static const uint8_t ssl_cut[] = {0, 0, 0, 8, 0x04, 0xd2, 0x16};
	static const uint8_t startup_nouser[] = {0,   0,   0,	17,  0,	  3,   0,   0, 'd',
						 'a', 't', 'a', 'b', 'a', 's', 'e', 0};
	static const uint8_t q_badlen[] = {'Q', 0x7f, 0, 0, 0, 's', 'e', 'l', 0};
	static const uint8_t q_binary[] = {'Q', 0, 0, 0, 8, 1, 2, 3, 0};
	static const uint8_t q_trailing_junk[] = {'Q', 0,    0,	   0,	 7,    'a',  'b',
						  0,   0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t back_ready[] = {'Z', 0, 0, 0, 5, 'I'};
	static const uint8_t back_error[] = {'E', 0, 0, 0, 8, 'S', 'x', 0, 0};
	static const uint8_t sync_only[] = {'S', 0, 0, 0, 4};
	struct buf pipe = {.n = 0}, bindx = {.n = 0}, longq = {.n = 0};
	parse(&pipe, "", "SELECT 1");
	bind(&pipe, "", NULL);
	execute(&pipe);
	sync_(&pipe);
	bind(&bindx, "S_1", "42");
	execute(&bindx);
	sync_(&bindx);
	/* a Q longer than the capture: only its prefix is there */
	put(&longq, "Q\0\0\x10\0SELECT * FROM t WHERE a IN (", 33);
	while (longq.n < 1024)
		put(&longq, "1, ", 3);

	const struct infer_case cases[] = {
	    {"SSLRequest (psql)", psql_scram_0, sizeof(psql_scram_0), true},
	    {"StartupMessage (psql)", psql_scram_2, sizeof(psql_scram_2), true},
	    {"StartupMessage (pgbench)", pgbench_noinit_2, sizeof(pgbench_noinit_2), true},
	    {"startup cut by the capture", psql_scram_2, 40, true},
	    {"Q (psql)", psql_error_8, sizeof(psql_error_8), true},
	    {"Q (DeepFlow)", peer_simple_0, sizeof(peer_simple_0), true},
	    {"P/D/S (DeepFlow)", peer_prepare_0, sizeof(peer_prepare_0), true},
	    {"P/B/D/E/S (JDBC)", peer_jdbc_0, sizeof(peer_jdbc_0), true},
	    {"B/E/S (JDBC)", peer_jdbc_2, sizeof(peer_jdbc_2), true},
	    {"P/B/E/S built", pipe.b, pipe.n, true},
	    {"B/E/S built", bindx.b, bindx.n, true},
	    {"Q longer than the capture", longq.b, longq.n, true},
	    {"HTTP GET", http, sizeof(http) - 1, false},
	    {"HTTP POST", post, sizeof(post) - 1, false},
	    {"RESP", redis, sizeof(redis) - 1, false},
	    {"Redis inline", inl, sizeof(inl) - 1, false},
	    {"MySQL COM_QUERY", mysql_query, sizeof(mysql_query), false},
	    {"MySQL packet of 0x51 bytes", mysql_q51, sizeof(mysql_q51), false},
	    {"TLS ClientHello", tls_hello, sizeof(tls_hello), false},
	    {"SSLRequest cut", ssl_cut, sizeof(ssl_cut), false},
	    {"startup without user", startup_nouser, sizeof(startup_nouser), false},
	    {"Q with a huge length", q_badlen, sizeof(q_badlen), false},
	    {"Q of binary bytes", q_binary, sizeof(q_binary), false},
	    {"Q followed by junk", q_trailing_junk, sizeof(q_trailing_junk), false},
	    {"backend ReadyForQuery", back_ready, sizeof(back_ready), false},
	    {"backend ErrorResponse", back_error, sizeof(back_error), false},
	    {"a lone Sync (ambiguous)", sync_only, sizeof(sync_only), false},
	    {"server SCRAM message", psql_scram_5, sizeof(psql_scram_5), false},
	    {"client PasswordMessage", psql_cleartext_4, sizeof(psql_cleartext_4), false},
	};
	struct zt_infer_hints h = {.l4 = 6, .dir = ZT_DIR_EGRESS, .lport = 5432, .rport = 40000};
	for (size_t i = 0; i < N(cases); i++) {
		const uint8_t *p = ph_at_guard(cases[i].p, cases[i].n);
		int c = OPS->infer(p, cases[i].n, &h);
		if ((c >= 50) != cases[i].yes)
			fail_msg("%s: confidence %d", cases[i].name, c);
		assert_int_equal(OPS->first_kind(p, cases[i].n), cases[i].yes ? ZT_MSG_REQUEST : 0);
		/* the registry agrees: nobody else claims these, and HTTP wins its own */
		const struct zt_proto_ops *best = zt_proto_infer(p, cases[i].n, &h);
		if (cases[i].yes)
			assert_ptr_equal(best, OPS);
		else
			assert_ptr_not_equal(best, OPS);
		/* every prefix is safe to look at */
		for (size_t k = 0; k < cases[i].n; k++)
			(void)OPS->infer(ph_at_guard(cases[i].p, k), k, &h);
	}
	assert_int_equal(OPS->infer(NULL, 0, NULL), 0);
	/* TCP only: the same bytes over UDP are not PostgreSQL */
	struct zt_infer_hints udp = {.l4 = 17, .dir = ZT_DIR_EGRESS};
	assert_true(
	    OPS->infer(ph_at_guard(peer_simple_0, sizeof(peer_simple_0)), sizeof(peer_simple_0), &h) >= 50);
	assert_int_equal(
	    OPS->infer(ph_at_guard(peer_simple_0, sizeof(peer_simple_0)), sizeof(peer_simple_0), &udp), 0);
}

/* ---- real streams ------------------------------------------------------------ */

static void test_real_psql_scram(void **unused)
{
	/* SSLRequest, 'N', startup, SCRAM (4 messages), AuthenticationOk +
	 * ParameterStatus + BackendKeyData + ReadyForQuery: no message; then
	 * "select 1; select 2" as one span with 2 commands, and Terminate */
	static const struct want w[] = {
	    {.kind = REQ,
	     .type = "SELECT",
	     .resource = "select ?; select ?",
	     .domain = "postgres",
	     .bytes = 24},
	    {.kind = RESP, .exc = "", .akey = "pg.rows", .aval = "2", .bytes = 126},
	};
	CHECK(psql_scram, w);
	ph_run(OPS, psql_scram, N(psql_scram), &(struct ph_feed){.cut = PH_WHOLE}, &got);
	assert_string_equal(attr(&got.m[1], "pg.commands"), "2");
	assert_string_equal(got.m[0].version, "3.0");
}

static void test_real_psql_error(void **unused)
{
	static const struct want w[] = {
	    {.kind = REQ, .type = "SELECT", .resource = "select * from nope"},
	    {.kind = RESP,
	     .status = ZT_RS_CLIENT_ERROR,
	     .exc = "42P01: relation \"nope\" does not exist",
	     .bytes = 104 + 6},
	};
	CHECK(psql_error, w);
}

static void test_real_notice(void **unused)
{
	/* the NOTICE belongs to the request in flight; ParameterStatus in the
	 * response is part of it; rows: none (DROP TABLE, SET carry no count) */
	static const struct want w[] = {
	    {.kind = REQ, .type = "DROP", .resource = "drop table if exists zz; set application_name=?"},
	    {.kind = RESP, .exc = "", .akey = "pg.commands", .aval = "2", .bytes = 110 + 55},
	};
	CHECK(psql_notice, w);
	assert_null(attr(&got.m[1], "pg.rows"));
}

static void test_real_copy(void **unused)
{
	static const struct want w[] = {
	    {.kind = REQ, .type = "COPY", .resource = "COPY t FROM STDIN"},
	    {.kind = RESP, .akey = "pg.copy_in_bytes", .aval = "22", .bytes = 12 + 18},
	};
	CHECK(psql_copy, w);
	assert_string_equal(attr(&got.m[1], "pg.rows"), "2");
}

static void test_real_md5_cleartext(void **unused)
{
	static const struct want w[] = {
	    {.kind = REQ, .type = "SELECT", .resource = "select ?", .domain = "postgres"},
	    {.kind = RESP, .akey = "pg.rows", .aval = "1"},
	};
	CHECK(psql_md5, w);
	CHECK(psql_cleartext, w);
}

static void test_real_pgbench_error(void **unused)
{
	static const struct want w[] = {
	    {.kind = REQ, .type = "SELECT", .resource = "select count(*) from pgbench_branches"},
	    {.kind = RESP,
	     .status = ZT_RS_CLIENT_ERROR,
	     .exc = "42P01: relation \"pgbench_branches\" does not exist"},
	};
	CHECK(pgbench_noinit, w);
}

static void test_real_peer(void **unused)
{
	static const struct want err[] = {
	    {.kind = REQ, .type = "ASDSDFDSF", .resource = "asdsdfdsf;"},
	    {.kind = RESP,
	     .status = ZT_RS_CLIENT_ERROR,
	     .exc = "42601: syntax error at or near \"asdsdfdsf\""},
	};
	static const struct want prep[] = {
	    /* a named Parse + Describe + Sync: prepared, not executed */
	    {.kind = REQ, .type = "PREPARE", .resource = "delete from test where id=$1 returning id"},
	    {.kind = RESP},
	};
	static const struct want simple[] = {
	    {.kind = REQ, .type = "DELETE", .resource = "delete from test;", .domain = ""},
	    {.kind = RESP, .akey = "pg.rows", .aval = "1"},
	};
	/* JDBC, traced mid-connection: statements S_18... were prepared
	 * before; the unnamed one is in the stream */
	static const struct want jdbc[] = {
	    {.kind = REQ, .type = "SELECT", .resource = "SELECT ?"},
	    {.kind = RESP, .akey = "pg.rows", .aval = "1"},
	    {.kind = REQ, .type = "EXECUTE", .resource = "", .akey = "pg.statement", .aval = "S_18"},
	    {.kind = RESP},
	    {.kind = REQ, .type = "EXECUTE", .akey = "pg.statement", .aval = "S_56"},
	    {.kind = RESP},
	    {.kind = REQ, .type = "EXECUTE", .akey = "pg.statement", .aval = "S_57"},
	    {.kind = RESP},
	    {.kind = REQ, .type = "EXECUTE", .akey = "pg.statement", .aval = "S_242"},
	    {.kind = RESP},
	    {.kind = REQ, .type = "EXECUTE", .akey = "pg.statement", .aval = "S_150"},
	    {.kind = RESP},
	};
	CHECK(peer_error, err);
	CHECK(peer_prepare, prep);
	CHECK(peer_simple, simple);
	CHECK(peer_jdbc, jdbc);
}

/* ---- synthetic streams ---------------------------------------------------------- */

static void test_extended_named(void **unused)
{
	/* PQprepare then PQexecPrepared twice (pgbench -M prepared), then Close */
	struct buf c1 = {.n = 0}, s1 = {.n = 0}, c2 = {.n = 0}, s2 = {.n = 0}, c3 = {.n = 0}, c4 = {.n = 0};
	parse(&c1, "P0_0", "SELECT abalance FROM pgbench_accounts WHERE aid = $1;");
	sync_(&c1);
	MSG(&s1, '1', "");
	ready(&s1);
	bind(&c2, "P0_0", "77");
	MSG(&c2, 'D', "P");
	execute(&c2);
	sync_(&c2);
	MSG(&s2, '2', "");
	MSG(&s2, 'T', "\0\1a\0\0\0\0\0\0\0\0\0\0\x17\0\4\xff\xff\xff\xff\0\0");
	datarow(&s2, "0");
	complete(&s2, "SELECT 1");
	ready(&s2);
	MSG(&c3, 'C', "SP0_0\0");
	sync_(&c3);
	bind(&c4, "P0_0", "78");
	execute(&c4);
	sync_(&c4);
	struct buf s3 = {.n = 0};
	MSG(&s3, '3', "");
	ready(&s3);
	const struct ph_chunk st[] = {CH(EG, c1), CH(IN, s1), CH(EG, c2), CH(IN, s2), CH(EG, c2),
				      CH(IN, s2), CH(EG, c3), CH(IN, s3), CH(EG, c4), CH(IN, s2)};
	const char *sql = "SELECT abalance FROM pgbench_accounts WHERE aid = $1;";
	const struct want w[] = {
	    {.kind = REQ, .type = "PREPARE", .resource = sql, .bytes = c1.n},
	    {.kind = RESP, .bytes = s1.n},
	    {.kind = REQ, .type = "SELECT", .resource = sql, .bytes = c2.n},
	    {.kind = RESP, .akey = "pg.rows", .aval = "1", .bytes = s2.n},
	    {.kind = REQ, .type = "SELECT", .resource = sql},
	    {.kind = RESP},
	    {.kind = REQ, .type = "CLOSE", .resource = ""},
	    {.kind = RESP},
	    /* closed: its SQL is forgotten */
	    {.kind = REQ, .type = "EXECUTE", .resource = "", .akey = "pg.statement", .aval = "P0_0"},
	    {.kind = RESP},
	};
	CHECK(st, w);
}

static void test_pipelining(void **unused)
{
	/* three Syncs in flight in one write; the second fails, the server
	 * skips to its Sync; every Sync still gets its ReadyForQuery */
	struct buf c = {.n = 0}, s = {.n = 0};
	parse(&c, "", "INSERT INTO t VALUES ($1)");
	bind(&c, "", "1");
	execute(&c);
	sync_(&c);
	parse(&c, "", "SELECT * FROM nope WHERE x = 'secret'");
	bind(&c, "", NULL);
	execute(&c);
	sync_(&c);
	parse(&c, "", "SELECT 2");
	bind(&c, "", NULL);
	execute(&c);
	execute(&c);
	sync_(&c);
	MSG(&s, '1', "");
	MSG(&s, '2', "");
	complete(&s, "INSERT 0 1");
	ready(&s);
	error(&s, "42P01", "relation \"nope\" does not exist");
	ready(&s);
	MSG(&s, '1', "");
	MSG(&s, '2', "");
	datarow(&s, "2");
	complete(&s, "SELECT 1");
	datarow(&s, "2");
	complete(&s, "SELECT 1");
	ready(&s);
	const struct ph_chunk st[] = {CH(EG, c), CH(IN, s)};
	const struct want w[] = {
	    {.kind = REQ, .type = "INSERT", .resource = "INSERT INTO t VALUES ($1)"},
	    {.kind = REQ, .type = "SELECT", .resource = "SELECT * FROM nope WHERE x = ?"},
	    {.kind = REQ, .type = "SELECT", .resource = "SELECT ?", .akey = "pg.executes", .aval = "2"},
	    {.kind = RESP, .akey = "pg.rows", .aval = "1"},
	    {.kind = RESP, .status = ZT_RS_CLIENT_ERROR, .exc = "42P01: relation \"nope\" does not exist"},
	    {.kind = RESP, .akey = "pg.rows", .aval = "2"},
	};
	CHECK(st, w);
}

static void test_server_initiated(void **unused)
{
	/* between requests: a NotificationResponse, a NoticeResponse and a
	 * ParameterStatus are not responses; a server error class */
	struct buf q1 = {.n = 0}, r1 = {.n = 0}, async = {.n = 0}, q2 = {.n = 0}, r2 = {.n = 0};
	query(&q1, "LISTEN ch");
	complete(&r1, "LISTEN");
	ready(&r1);
	MSG(&async, 'A',
	    "\0\0\0\x2a"
	    "ch\0payload\0");
	MSG(&async, 'N', "SWARNING\0C01000\0Mhello\0\0");
	MSG(&async, 'S', "TimeZone\0UTC\0");
	query(&q2, "SELECT pg_sleep(100)");
	error(&r2, "57014", "canceling statement due to user request");
	ready(&r2);
	const struct ph_chunk st[] = {CH(EG, q1), CH(IN, r1), CH(IN, async), CH(EG, q2), CH(IN, r2)};
	const struct want w[] = {
	    {.kind = REQ, .type = "LISTEN"},
	    {.kind = RESP, .bytes = r1.n},
	    {.kind = REQ, .type = "SELECT", .resource = "SELECT pg_sleep(?)"},
	    {.kind = RESP,
	     .status = ZT_RS_SERVER_ERROR,
	     .exc = "57014: canceling statement due to user request",
	     .bytes = r2.n},
	};
	CHECK(st, w);
}

static void test_cancel_and_ssl(void **unused)
{
	static const uint8_t cancel[] = {0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0x30, 0x39, 1, 2, 3, 4};
	const struct ph_chunk st[] = {{.dir = EG, .data = cancel, .len = sizeof(cancel)}};
	const struct want w[] = {{.kind = REQ, .type = "CANCEL", .pair = ZT_PAIR_ONEWAY, .bytes = 16}};
	CHECK(st, w);

	/* the server accepts TLS: what follows is encrypted, nothing is read */
	struct buf s = {.n = 0}, junk = {.n = 0};
	put(&s, "S", 1);
	query(&junk, "SELECT 1");
	const struct ph_chunk tls[] = {CH(EG, ((struct buf){.b = {0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f}, .n = 8})),
				       CH(IN, s), CH(EG, junk), CH(IN, junk)};
	ph_run(OPS, tls, N(tls), &(struct ph_feed){.cut = PH_WHOLE, .finish = true}, &got);
	assert_int_equal(got.n, 0);
}

static void test_big_result_gap(void **unused)
{
	/* a result far past the 1 KiB capture: framing is lost in the gap
	 * and comes back when the client sends its next query */
	struct buf q1 = {.n = 0}, r1 = {.n = 0}, r1b = {.n = 0}, q2 = {.n = 0}, r2 = {.n = 0};
	query(&q1, "SELECT generate_series(1, 100000)");
	MSG(&r1, 'T', "\0\1g\0\0\0\0\0\0\0\0\0\0\x17\0\4\xff\xff\xff\xff\0\0");
	while (r1.n < 1000)
		datarow(&r1, "12345");
	put(&r1, "D\0\0", 3);	  /* a header cut by the capture */
	put(&r1b, "\x31\x32", 2); /* the next write starts mid-row */
	query(&q2, "SELECT 1");
	datarow(&r2, "1");
	complete(&r2, "SELECT 1");
	ready(&r2);
	const struct ph_chunk st[] = {CH(EG, q1), CHG(IN, r1, 7192), CHG(IN, r1b, 8190), CH(EG, q2),
				      CH(IN, r2)};
	const struct want w[] = {
	    {.kind = REQ, .type = "SELECT", .resource = "SELECT generate_series(?, ?)"},
	    {.kind = RESP, .flags = TR | LS, .bytes = r1.n + 7192 + 2 + 8190},
	    {.kind = REQ, .type = "SELECT", .resource = "SELECT ?"},
	    {.kind = RESP, .flags = 0, .akey = "pg.rows", .aval = "1", .bytes = r2.n},
	};
	CHECK(st, w);

	/* the same, but the last write is captured whole and ends with
	 * CommandComplete + ReadyForQuery: the response ends there, rows
	 * found by the length of the CommandComplete */
	struct buf tail = {.n = 0};
	put(&tail,
	    "\0\0\0\x05"
	    "99999",
	    9); /* the end of a DataRow */
	datarow(&tail, "100000");
	complete(&tail, "SELECT 100000");
	ready(&tail);
	const struct ph_chunk st2[] = {CH(EG, q1), CHG(IN, r1, 7192), CH(IN, tail), CH(EG, q2), CH(IN, r2)};
	const struct want w2[] = {
	    {.kind = REQ, .type = "SELECT"},
	    {.kind = RESP, .flags = TR, .akey = "pg.rows", .aval = "100000", .bytes = r1.n + 7192 + tail.n},
	    {.kind = REQ, .type = "SELECT"},
	    {.kind = RESP, .akey = "pg.rows", .aval = "1"},
	};
	/* cutting the last write moves where the parser can look for the
	 * ReadyForQuery: whole runs only */
	CHECK_WHOLE(st2, w2);

	/* nothing of the response was captured (a segment of 0 captured
	 * bytes): it still ends at the next query, status unknown, so that
	 * the responses after it pair with their own requests */
	const struct ph_chunk st4[] = {CH(EG, q1), {.dir = IN, .gap = 300}, CH(EG, q2), CH(IN, r2)};
	const struct want w4[] = {
	    {.kind = REQ, .type = "SELECT"},
	    {.kind = RESP, .status = 0xff, .flags = TR | LS, .bytes = 300},
	    {.kind = REQ, .type = "SELECT", .resource = "SELECT ?"},
	    {.kind = RESP, .akey = "pg.rows", .aval = "1", .bytes = r2.n},
	};
	CHECK(st4, w4);
	assert_int_equal(got.m[1].status, ZT_RS_UNKNOWN);

	/* the connection closes after a lost result: finish() ends it */
	const struct ph_chunk st3[] = {CH(EG, q1), CHG(IN, r1, 7192)};
	const struct want w3[] = {{.kind = REQ, .type = "SELECT"}, {.kind = RESP, .flags = TR | LS}};
	CHECK(st3, w3);
}

static void test_truncated_sql(void **unused)
{
	/* a query longer than the capture: the resource is its prefix,
	 * normalised, the request truncated, framing kept by the length */
	struct buf q = {.n = 0}, r = {.n = 0};
	char sql[3000];
	size_t n = (size_t)snprintf(sql, sizeof(sql), "INSERT INTO t VALUES ");
	while (n < sizeof(sql) - 20)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, "(%zu, 'pw'), ", n);
	sql[n - 2] = '\0';
	query(&q, sql);
	size_t full = q.n;
	q.n = 1024;
	complete(&r, "INSERT 0 150");
	ready(&r);
	const struct ph_chunk st[] = {CHG(EG, q, full - 1024), CH(IN, r)};
	const struct want w[] = {
	    {.kind = REQ, .type = "INSERT", .flags = TR, .bytes = full},
	    {.kind = RESP, .akey = "pg.rows", .aval = "150"},
	};
	CHECK(st, w);
	assert_true(strncmp(got.m[0].request_resource, "INSERT INTO t VALUES (?, ?), (?, ?)", 35) == 0);
	assert_null(strstr(got.m[0].request_resource, "pw"));
	assert_true(strlen(got.m[0].request_resource) < ZT_RESOURCE_LEN);

	/* a Bind whose parameters run past the capture: Execute and Sync are
	 * in the gap; the batch is emitted as lost, the next one resyncs */
	struct buf b = {.n = 0}, r2 = {.n = 0}, q2 = {.n = 0};
	parse(&b, "", "UPDATE t SET doc = $1");
	size_t pos = b.n;
	char big[1500];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	bind(&b, "", big);
	execute(&b);
	sync_(&b);
	size_t whole = b.n;
	b.n = pos + 200;
	complete(&r2, "UPDATE 1");
	ready(&r2);
	query(&q2, "COMMIT");
	const struct ph_chunk st2[] = {CHG(EG, b, whole - b.n), CH(IN, r2), CH(EG, q2), CH(IN, r2)};
	const struct want w2[] = {
	    {.kind = REQ, .type = "UPDATE", .resource = "UPDATE t SET doc = $1", .flags = TR | LS},
	    {.kind = RESP, .akey = "pg.rows", .aval = "1"},
	    {.kind = REQ, .type = "COMMIT"},
	    {.kind = RESP},
	};
	CHECK_WHOLE(st2, w2);
}

static void test_prepared_table_full(void **unused)
{
	/* 17 named statements: the 17th replaces the oldest and says so; the
	 * 17th is found, the first is not */
	struct buf c = {.n = 0}, s = {.n = 0}, e1 = {.n = 0}, e17 = {.n = 0};
	char name[16], sql[64];
	for (int i = 1; i <= 17; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		snprintf(sql, sizeof(sql), "SELECT %d FROM t%d", i, i);
		parse(&c, name, sql);
	}
	sync_(&c);
	MSG(&s, '1', "");
	ready(&s);
	bind(&e1, "s1", NULL);
	execute(&e1);
	sync_(&e1);
	bind(&e17, "s17", NULL);
	execute(&e17);
	sync_(&e17);
	const struct ph_chunk st[] = {CH(EG, c), CH(IN, s), CH(EG, e1), CH(IN, s), CH(EG, e17), CH(IN, s)};
	const struct want w[] = {
	    {.kind = REQ,
	     .type = "PREPARE",
	     .resource = "SELECT ? FROM t1",
	     .akey = "pg.prep_evicted",
	     .aval = "1"},
	    {.kind = RESP},
	    {.kind = REQ, .type = "EXECUTE", .resource = "", .akey = "pg.statement", .aval = "s1"},
	    {.kind = RESP},
	    {.kind = REQ, .type = "SELECT", .resource = "SELECT ? FROM t17"},
	    {.kind = RESP},
	};
	CHECK(st, w);
}

static void test_malformed(void **unused)
{
	/* a bad header loses the direction without a crash; a startup
	 * packet of an unknown version; lengths at the limits */
	static const uint8_t bad_type[] = {'Q', 0, 0, 0, 9, 'S', 'E', 'L', 0, '~', 0, 0, 0, 4};
	static const uint8_t huge[] = {'Q', 0x7f, 0xff, 0xff, 0xff, 'a'};
	static const uint8_t short_len[] = {'Q', 0, 0, 0, 2};
	static const uint8_t v2[] = {0, 0, 0, 12, 0, 2, 0, 0, 'u', 0, 0, 0};
	static const uint8_t zero_back[] = {0, 0, 0, 0, 0, 0};
	const struct ph_chunk cases[][2] = {
	    {{.dir = EG, .data = bad_type, .len = sizeof(bad_type)},
	     {.dir = IN, .data = zero_back, .len = 6}},
	    {{.dir = EG, .data = huge, .len = sizeof(huge)}, {.dir = IN, .data = zero_back, .len = 6}},
	    {{.dir = EG, .data = short_len, .len = sizeof(short_len)},
	     {.dir = IN, .data = zero_back, .len = 6}},
	    {{.dir = EG, .data = v2, .len = sizeof(v2)}, {.dir = IN, .data = zero_back, .len = 6}},
	};
	for (size_t i = 0; i < N(cases); i++) {
		ph_run(OPS, cases[i], 2, &(struct ph_feed){.cut = PH_BYTES, .finish = true}, &got);
		for (size_t k = 0; k < got.n; k++)
			assert_true(strnlen(got.m[k].request_resource, ZT_RESOURCE_LEN) < ZT_RESOURCE_LEN);
	}
	/* the first message after "Q...~" ('~' is no frontend type) loses
	 * the client side: the Q itself was whole and is emitted */
	ph_run(OPS, cases[0], 2, &(struct ph_feed){.cut = PH_WHOLE, .finish = true}, &got);
	assert_int_equal(got.n, 1);
	assert_string_equal(got.m[0].request_type, "SEL");

	/* hostile random segments: must not crash or read past them */
	uint32_t x = 12345;
	uint8_t rnd[512];
	for (int round = 0; round < 300; round++) {
		struct ph_chunk ch[6];
		for (int k = 0; k < 6; k++) {
			size_t n = 1 + (size_t)((x = x * 1103515245 + 12345) >> 16) % 80;
			for (size_t j = 0; j < n; j++)
				rnd[k * 80 + j] = (uint8_t)((x = x * 1103515245 + 12345) >> 16);
			if (round % 3 == 0) /* start with a valid request */
				memcpy(rnd, peer_jdbc_2, sizeof(peer_jdbc_2) < 80 ? sizeof(peer_jdbc_2) : 80);
			ch[k] = (struct ph_chunk){.dir = (uint8_t)(k & 1),
						  .data = rnd + k * 80,
						  .len = n,
						  .gap = (x >> 20) & 1 ? (x >> 8) & 0xfff : 0};
		}
		ph_run(OPS, ch, 6, &(struct ph_feed){.cut = PH_WHOLE, .finish = true}, &got);
	}
}

/* ---- credentials -------------------------------------------------------------- */

static bool has(const void *hay, size_t n, const char *needle)
{
	return memmem(hay, n, needle, strlen(needle)) != NULL;
}

static void test_redact(void **unused)
{
	struct {
		const char *name;
		const uint8_t *p;
		size_t n;
		const char *secret; /* must be gone */
		const char *kept;   /* must stay */
	} yes[] = {
	    {"cleartext PasswordMessage", psql_cleartext_4, sizeof(psql_cleartext_4), "clear-pw-55", NULL},
	    {"md5 PasswordMessage", psql_md5_4, sizeof(psql_md5_4), "783a528ba7403a2c0a3fc2b1be1abe28", NULL},
	    {"SASLInitialResponse", psql_scram_4, sizeof(psql_scram_4), "n,,n=,r=", "SCRAM-SHA-256"},
	    {"SASLResponse (client proof)", psql_scram_6, sizeof(psql_scram_6), "p=", NULL},
	    {"AuthenticationSASLContinue", psql_scram_5, sizeof(psql_scram_5),
	     "s=aLwaCguF0VwpQliajZw6ow==", NULL},
	    {"AuthenticationSASLFinal + AuthenticationOk...", psql_scram_7, sizeof(psql_scram_7),
	     "v=", "application_name"},
	};
	for (size_t i = 0; i < N(yes); i++) {
		uint8_t *p = ph_at_guard(yes[i].p, yes[i].n);
		assert_true(has(p, yes[i].n, yes[i].secret));
		size_t r = OPS->redact_payload(p, yes[i].n);
		if (r == 0 || has(p, yes[i].n, yes[i].secret))
			fail_msg("%s: not redacted", yes[i].name);
		if (yes[i].kept && !has(p, yes[i].n, yes[i].kept))
			fail_msg("%s: %s was redacted too", yes[i].name, yes[i].kept);
		assert_int_equal(p[0], yes[i].p[0]);			   /* framing stays */
		assert_memory_equal(p + 1, yes[i].p + 1, 4);		   /* the length */
		assert_int_equal(zt_proto_redact_payload(p, yes[i].n), r); /* idempotent, via the registry */
	}
	/* a password in SQL: its literal, in a Query, also cut by the capture */
	static const struct {
		const char *in, *out;
	} sql[] = {
	    {"ALTER ROLE bob PASSWORD 'hunter2' VALID UNTIL 'infinity'",
	     "ALTER ROLE bob PASSWORD '*******' VALID UNTIL 'infinity'"},
	    {"create user x with password  'it''s'", "create user x with password  '*****'"},
	    {"CREATE USER x PASSWORD E'a\\'b' LOGIN", "CREATE USER x PASSWORD E'****' LOGIN"},
	    {"SELECT password FROM users WHERE password = 'kept'", NULL}, /* not after the keyword: kept */
	};
	for (size_t i = 0; i < N(sql); i++) {
		struct buf q = {.n = 0};
		query(&q, sql[i].in);
		uint8_t *qp = ph_at_guard(q.b, q.n);
		size_t r = OPS->redact_payload(qp, q.n);
		const char *want = sql[i].out ? sql[i].out : sql[i].in;
		if (strcmp((const char *)qp + 5, want) != 0)
			fail_msg("SQL %zu: '%s', want '%s'", i, (const char *)qp + 5, want);
		assert_int_equal(r > 0, sql[i].out != NULL);
		qp = ph_at_guard(q.b, q.n - 4); /* cut inside the literal */
		OPS->redact_payload(qp, q.n - 4);
		if (sql[i].out)
			assert_false(has(qp, q.n - 4, "hunter2") || has(qp, q.n - 4, "it''s"));
	}

	/* the whole registry redacts it too (recordings go through it) */
	uint8_t *p = ph_at_guard(psql_cleartext_4, sizeof(psql_cleartext_4));
	assert_true(zt_proto_redact_payload(p, sizeof(psql_cleartext_4)) > 0);
	assert_false(has(p, sizeof(psql_cleartext_4), "clear-pw-55"));

	/* nothing else is touched: other messages, other protocols, near misses */
	static const char http[] = "POST /login HTTP/1.1\r\n\r\npassword=x";
	static const uint8_t p_short[] = {'p', 0,   0,	 0, 9,
					  'a', 'b', 'c', 0};	     /* length says 10 bytes, 9 here */
	static const uint8_t r_ok[] = {'R', 0, 0, 0, 8, 0, 0, 0, 0}; /* AuthenticationOk */
	static const uint8_t r_md5[] = {'R', 0, 0, 0, 12, 0, 0, 0, 5, 1, 2, 3, 4}; /* the salt is no secret */
	struct {
		const void *p;
		size_t n;
	} no[] = {
	    {http, sizeof(http) - 1},
	    {p_short, sizeof(p_short)},
	    {r_ok, sizeof(r_ok)},
	    {r_md5, sizeof(r_md5)},
	    {psql_scram_8, sizeof(psql_scram_8)},
	    {psql_scram_2, sizeof(psql_scram_2)},
	    {peer_jdbc_0, sizeof(peer_jdbc_0)},
	};
	for (size_t i = 0; i < N(no); i++) {
		p = ph_at_guard(no[i].p, no[i].n);
		assert_int_equal(OPS->redact_payload(p, no[i].n), 0);
		assert_memory_equal(p, no[i].p, no[i].n);
		for (size_t k = 0; k < no[i].n; k++) /* every prefix is safe */
			(void)OPS->redact_payload(ph_at_guard(no[i].p, k), k);
	}
	assert_int_equal(OPS->redact_payload(NULL, 0), 0);
}

static void test_no_secret_in_messages(void **unused)
{
	/* whatever the cut, no emitted message holds a credential */
	const struct {
		const struct ph_chunk *st;
		size_t n;
		const char *secret;
	} runs[] = {
	    {psql_cleartext, N(psql_cleartext), "clear-pw-55"},
	    {psql_md5, N(psql_md5), "783a528ba7"},
	    {psql_scram, N(psql_scram), "TeebkeQh8APVYgExs9OE816F"},
	};
	for (size_t i = 0; i < N(runs); i++)
		for (int cut = PH_WHOLE; cut <= PH_BYTES; cut += 2) {
			ph_run(OPS, runs[i].st, runs[i].n,
			       &(struct ph_feed){.cut = (enum ph_cut)cut, .finish = true}, &got);
			assert_int_equal(got.n, 2);
			for (size_t k = 0; k < got.n; k++)
				assert_false(has(&got.m[k], sizeof(got.m[k]), runs[i].secret));
		}
}

/* ---- SQL helpers ------------------------------------------------------------------ */

static void test_normalize(void **unused)
{
	static const struct {
		const char *in, *out, *kw;
	} cases[] = {
	    {"SELECT 1", "SELECT ?", "SELECT"},
	    {"  select  *\n\tfrom t  where a = 'x''y' and b = 3.5e-3  ",
	     "select * from t where a = ? and b = ?", "SELECT"},
	    {"INSERT INTO t VALUES (E'a\\'b', $1, -42, .5, 0x1F)", "INSERT INTO t VALUES (?, $1, -?, ?, ?)",
	     "INSERT"},
	    {"SELECT $$body 'x' $$, $tag$ a $tag$ FROM t1", "SELECT ?, ? FROM t1", "SELECT"},
	    {"-- comment\nUPDATE t SET a=1 /* c */ WHERE \"Col 1\" = 'z'",
	     "UPDATE t SET a=? WHERE \"Col 1\" = ?", "UPDATE"},
	    {"(SELECT 1) UNION (SELECT 2)", "(SELECT ?) UNION (SELECT ?)", "SELECT"},
	    {"ALTER USER u PASSWORD 'unterminated secret", "ALTER USER u PASSWORD ?", "ALTER"},
	    {"select x1, t2.c3 from t2", "select x1, t2.c3 from t2", "SELECT"},
	    {"", "", ""},
	    {"   ", "", ""},
	    {"with q as (select 1) select * from q", "with q as (select ?) select * from q", "WITH"},
	};
	char out[ZT_RESOURCE_LEN], kw[ZT_TYPE_LEN];
	for (size_t i = 0; i < N(cases); i++) {
		size_t n = strlen(cases[i].in);
		const char *p = (const char *)ph_at_guard(cases[i].in, n);
		zt_pg_normalize(p, n, out, sizeof(out));
		assert_string_equal(out, cases[i].out);
		zt_pg_first_keyword(p, n, kw, sizeof(kw));
		assert_string_equal(kw, cases[i].kw);
		/* every prefix, and tiny outputs */
		for (size_t k = 0; k <= n; k++) {
			zt_pg_normalize((const char *)ph_at_guard(cases[i].in, k), k, out, sizeof(out));
			zt_pg_first_keyword((const char *)ph_at_guard(cases[i].in, k), k, kw, sizeof(kw));
		}
		assert_int_equal(zt_pg_normalize(p, n, out, 1), 0);
		assert_string_equal(out, "");
		zt_pg_normalize(p, n, out, 6);
		assert_true(strlen(out) <= 5);
	}
}

static void test_sqlstate(void **unused)
{
	static const struct {
		const char *code;
		uint8_t cls;
	} cases[] = {
	    {"42P01", ZT_RS_CLIENT_ERROR}, {"42601", ZT_RS_CLIENT_ERROR}, {"23505", ZT_RS_CLIENT_ERROR},
	    {"22012", ZT_RS_CLIENT_ERROR}, {"28P01", ZT_RS_CLIENT_ERROR}, {"0A000", ZT_RS_CLIENT_ERROR},
	    {"40001", ZT_RS_SERVER_ERROR}, {"53300", ZT_RS_SERVER_ERROR}, {"57014", ZT_RS_SERVER_ERROR},
	    {"XX000", ZT_RS_SERVER_ERROR}, {"P0001", ZT_RS_SERVER_ERROR}, {"", ZT_RS_SERVER_ERROR},
	};
	for (size_t i = 0; i < N(cases); i++)
		assert_int_equal(zt_pg_sqlstate_class(cases[i].code), cases[i].cls);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ops),
	    cmocka_unit_test(test_infer),
	    cmocka_unit_test(test_real_psql_scram),
	    cmocka_unit_test(test_real_psql_error),
	    cmocka_unit_test(test_real_notice),
	    cmocka_unit_test(test_real_copy),
	    cmocka_unit_test(test_real_md5_cleartext),
	    cmocka_unit_test(test_real_pgbench_error),
	    cmocka_unit_test(test_real_peer),
	    cmocka_unit_test(test_extended_named),
	    cmocka_unit_test(test_pipelining),
	    cmocka_unit_test(test_server_initiated),
	    cmocka_unit_test(test_cancel_and_ssl),
	    cmocka_unit_test(test_big_result_gap),
	    cmocka_unit_test(test_truncated_sql),
	    cmocka_unit_test(test_prepared_table_full),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_redact),
	    cmocka_unit_test(test_no_secret_in_messages),
	    cmocka_unit_test(test_normalize),
	    cmocka_unit_test(test_sqlstate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
