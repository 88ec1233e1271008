/* SPDX-License-Identifier: MIT */
/*
 * test_mysql.c - MySQL / MariaDB parser: inference, SQL normalisation, the
 * error split, redaction, and the streaming parser on real byte streams.
 *
 * The streams in mysql_vectors.h are the captured payloads of the golden
 * recordings (tests/data/proto/mysql, see its README), one connection per
 * stream, each syscall one chunk (captured prefix + uncaptured gap): they
 * were extracted from the .zrec files by a few lines of python reading
 * struct zt_data_ev. Every stream is also fed cut at every byte
 * (parser_harness.h: ph_check_splits), each segment ending at a guard page.
 * DeepFlow's captures of MySQL servers (df_*) cross-check other servers'
 * bytes. Hand-made packets cover what the real clients did not send (16 MB
 * packets, multi-results, LOCAL INFILE, hostile lengths).
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
#include "proto/mysql.h"
#include "proto/proto.h"

/* tables name only the fields that matter to each case */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include "mysql_vectors.h"

extern const struct zt_proto_ops zt_mysql_ops;
#define OPS (&zt_mysql_ops)
#define L(s) (sizeof(s) - 1)
#define N(a) (sizeof(a) / sizeof((a)[0]))

static struct ph_msgs out;

static const char *attr(const struct zt_msg *m, const char *k)
{
	for (unsigned i = 0; i < m->attrs.n; i++)
		if (strcmp(m->attrs.a[i].key, k) == 0)
			return m->attrs.a[i].val;
	return NULL;
}

/* Expected exchange: request type and resource, response code (0: none),
 * rows attribute (NULL: absent), one-way (no response message). */
struct exch {
	const char *type, *resource;
	int code;
	const char *rows;
	bool oneway;
	uint8_t status;
	uint32_t flags; /* request | response flags expected set */
};

/* Checks that out holds exactly these exchanges, request then response. */
static void check_exchanges(const struct ph_msgs *o, const struct exch *x, size_t nx, uint8_t req_dir)
{
	size_t k = 0;

	for (size_t i = 0; i < nx; i++) {
		if (k >= o->n)
			fail_msg("exchange %zu (%s): no request, %zu messages", i, x[i].type, o->n);
		const struct zt_msg *q = &o->m[k++];
		if (q->kind != ZT_MSG_REQUEST || q->dir != req_dir)
			fail_msg("exchange %zu: message %zu is not a request in dir %u", i, k - 1, req_dir);
		if (strcmp(q->request_type, x[i].type) != 0)
			fail_msg("exchange %zu: type %s, want %s", i, q->request_type, x[i].type);
		if (x[i].resource && strcmp(q->request_resource, x[i].resource) != 0)
			fail_msg("exchange %zu: resource '%s', want '%s'", i, q->request_resource,
				 x[i].resource);
		assert_int_equal(q->pair, x[i].oneway ? ZT_PAIR_ONEWAY : ZT_PAIR_FIFO);
		if (x[i].oneway)
			continue;
		if (k >= o->n)
			fail_msg("exchange %zu (%s): no response", i, x[i].type);
		const struct zt_msg *r = &o->m[k++];
		if (r->kind != ZT_MSG_RESPONSE || r->dir == req_dir)
			fail_msg("exchange %zu: message %zu is not a response", i, k - 1);
		if (x[i].code) {
			assert_true(r->flags & ZT_MF_HAS_CODE);
			assert_int_equal(r->response_code, x[i].code);
		} else {
			assert_false(r->flags & ZT_MF_HAS_CODE);
		}
		assert_int_equal(r->status, x[i].status ? x[i].status : ZT_RS_OK);
		const char *rows = attr(r, "mysql.rows");
		if (x[i].rows ? !rows || strcmp(rows, x[i].rows) != 0 : rows != NULL)
			fail_msg("exchange %zu: rows %s, want %s", i, rows ? rows : "(none)",
				 x[i].rows ? x[i].rows : "(none)");
		if ((((uint32_t)q->flags | r->flags) & x[i].flags) != x[i].flags)
			fail_msg("exchange %zu: flags %x|%x, want %x", i, q->flags, r->flags, x[i].flags);
	}
	if (k != o->n)
		fail_msg("%zu messages, want %zu", o->n, k);
}

/* ---- inference ------------------------------------------------------- */

static void test_infer(void **unused)
{
	struct zt_infer_hints h = {0};
	/* the greeting as the server writes it, a COM_QUERY with its header */
	assert_int_equal(OPS->infer((const uint8_t *)pymysql_client_0, L(pymysql_client_0), &h), 90);
	assert_int_equal(OPS->first_kind((const uint8_t *)pymysql_client_0, L(pymysql_client_0)),
			 ZT_MSG_RESPONSE);
	assert_int_equal(OPS->infer((const uint8_t *)pymysql_client_3, L(pymysql_client_3), &h), 80);
	assert_int_equal(OPS->first_kind((const uint8_t *)pymysql_client_3, L(pymysql_client_3)),
			 ZT_MSG_REQUEST);
	/* HandshakeResponse41 (ztrace started between greeting and login) */
	assert_int_equal(OPS->infer((const uint8_t *)pymysql_client_1, L(pymysql_client_1), &h), 75);
	/* the server reads header and payload apart: the bare payload */
	assert_int_equal(OPS->infer((const uint8_t *)big_server_5, L(big_server_5), &h), 70);
	assert_int_equal(OPS->first_kind((const uint8_t *)big_server_5, L(big_server_5)), ZT_MSG_REQUEST);
	/* every proper prefix of a greeting is refused (its length says more) */
	for (size_t k = 0; k < L(pymysql_client_0); k++) {
		const uint8_t *p = ph_at_guard(pymysql_client_0, k);
		assert_int_equal(OPS->infer(p, k, &h), 0);
	}
	static const struct {
		const char *in;
		size_t n;
		int conf;
	} t[] = {
	    {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27, 0},
	    {"HTTP/1.1 200 OK\r\n\r\n", 19, 0},
	    {"\x01\x00\x00\x00\x0e", 5, 60},		    /* COM_PING */
	    {"\x01\x00\x00\x00\x01", 5, 0},		    /* COM_QUIT: too little to go on */
	    {"\x0e\x00\x00\x00\x03SELECT 1 + 23", 18, 80},  /* COM_QUERY */
	    {"\x0e\x00\x00\x01\x03SELECT 1 + 23", 18, 0},   /* seq 1 */
	    {"\x0f\x00\x00\x00\x03SELECT 1 + 23", 18, 80},  /* longer: the capture may be cut */
	    {"\x0f\x00\x00\x00\x01SELECT 1 + 23", 18, 0},   /* not a command we infer from */
	    {"\x0d\x00\x00\x00\x03SELECT 1 + 23", 18, 0},   /* length too short */
	    {"\x0e\x00\x00\x00\x03FROBNICATE xy", 18, 0},   /* not a statement */
	    {"\x0e\x00\x00\x00\x03SELECT\x01 + 23", 18, 0}, /* a control byte */
	    {"\x05\x00\x00\x00\x02ztdb", 9, 60},	    /* COM_INIT_DB */
	    {"\x0a\x00\x00\x00\x17\x01\x00\x00\x00\x00\x01\x00\x00\x00", 14, 60}, /* COM_STMT_EXECUTE */
	    {"\x0a\x00\x00\x00\x17\x01\x00\x00\x00\x00\x02\x00\x00\x00", 14, 0},  /* iterations != 1 */
	    {"*1\r\n$4\r\nPING\r\n", 14, 0},					  /* Redis */
	    {"\x03SELECT 1", 9, 70},						  /* bare payload */
	    {"\x03", 1, 0},
	    {"", 0, 0},
	};
	for (size_t i = 0; i < N(t); i++) {
		const uint8_t *p = ph_at_guard(t[i].in, t[i].n);
		if (OPS->infer(p, t[i].n, &h) != t[i].conf)
			fail_msg("infer case %zu: %d, want %d", i, OPS->infer(p, t[i].n, &h), t[i].conf);
	}
	assert_int_equal(OPS->infer(NULL, 0, &h), 0);
}

/* ---- SQL -------------------------------------------------------------- */

static void test_normalize(void **unused)
{
	static const struct {
		const char *in, *want;
		bool cut;
	} t[] = {
	    {"SELECT * FROM t WHERE id = 42", "SELECT * FROM t WHERE id = ?"},
	    {"  select  a,\n\tb from t1 where x='it''s' and y=\"q\\\"x\" ",
	     "select a, b from t1 where x=? and y=?"},
	    {"INSERT INTO t VALUES (1, -2.5e-3, 0x1F, X'0A', b'01', NULL)",
	     "INSERT INTO t VALUES (?, -?, ?, ?, ?, NULL)"},
	    {"SELECT `col 1`, t2.c3 FROM `db`.`t2` /* hint */ -- c\n# more\nLIMIT 10",
	     "SELECT `col 1`, t2.c3 FROM `db`.`t2` LIMIT ?"},
	    {"SELECT .5, a1b2 FROM t", "SELECT ?, a1b2 FROM t"},
	    {"SELECT 'unterminated", "SELECT ?"},
	    {"SELECT 1 /* open comment", "SELECT ?"},
	    {"", ""},
	};
	char o[ZT_RESOURCE_LEN];
	bool cut;

	for (size_t i = 0; i < N(t); i++) {
		size_t n = strlen(t[i].in);
		const char *p = (const char *)ph_at_guard(t[i].in, n);
		zt_mysql_normalize(p, n, o, sizeof(o), &cut);
		if (strcmp(o, t[i].want) != 0 || cut != t[i].cut)
			fail_msg("case %zu: '%s' (cut %d), want '%s'", i, o, cut, t[i].want);
	}
	/* every prefix of every case, at the guard page */
	for (size_t i = 0; i < N(t); i++)
		for (size_t k = 0; k <= strlen(t[i].in); k++)
			zt_mysql_normalize((const char *)ph_at_guard(t[i].in, k), k, o, sizeof(o), &cut);
	/* a small output is cut and says so */
	zt_mysql_normalize("SELECT abc FROM t", 17, o, 8, &cut);
	assert_string_equal(o, "SELECT ");
	assert_true(cut);

	char kw[ZT_TYPE_LEN];
	assert_int_equal(zt_mysql_keyword(" /* x */ (select 1)", 19, kw, sizeof(kw)), 6);
	assert_string_equal(kw, "SELECT");
	assert_int_equal(zt_mysql_keyword("-- c\nshow tables", 16, kw, sizeof(kw)), 4);
	assert_string_equal(kw, "SHOW");
	assert_int_equal(zt_mysql_keyword("123", 3, kw, sizeof(kw)), 0);
}

static void test_endpoint(void **unused)
{
	static const struct {
		const char *type, *sql, *want;
	} t[] = {
	    {"SELECT", "SELECT id, name FROM items WHERE price > ?", "SELECT items"},
	    {"SELECT", "select * from `db`.`t2` join t3", "SELECT `db`.`t2`"},
	    {"SELECT", "SELECT ?, ?", "SELECT"},
	    {"SELECT", "SELECT ? AS `from` FROM t", "SELECT t"},
	    {"INSERT", "INSERT INTO items VALUES (?)", "INSERT items"},
	    {"UPDATE", "UPDATE items SET price = ?", "UPDATE items"},
	    {"DELETE", "DELETE FROM items", "DELETE items"},
	    {"STMT_EXECUTE", "SELECT name FROM items WHERE id = ?", "STMT_EXECUTE items"},
	    {"STMT_EXECUTE", "", "STMT_EXECUTE"},
	    {"PING", "", "PING"},
	    {"CREATE", "CREATE TABLE t (a INT)", "CREATE"},
	};
	char ep[ZT_ENDPOINT_LEN];

	for (size_t i = 0; i < N(t); i++) {
		zt_mysql_endpoint(t[i].type, t[i].sql, ep, sizeof(ep));
		if (strcmp(ep, t[i].want) != 0)
			fail_msg("case %zu: '%s', want '%s'", i, ep, t[i].want);
	}
	for (size_t k = 0; k < 16; k++) { /* small outputs are cut, NUL-terminated */
		char small[16];
		size_t n = zt_mysql_endpoint("STMT_EXECUTE", "SELECT a FROM items_long_name", small, k);
		if (k)
			assert_true(n < k && small[n] == '\0');
	}
	/* the registered hook */
	struct zt_msg m;
	zt_msg_reset(&m);
	strcpy(m.request_type, "SELECT");
	strcpy(m.request_resource, "SELECT a FROM b");
	OPS->endpoint(&m, ep, sizeof(ep));
	assert_string_equal(ep, "SELECT b");
}

static void test_err_class(void **unused)
{
	assert_int_equal(zt_mysql_err_class(1146, "42S02"), ZT_RS_CLIENT_ERROR);
	assert_int_equal(zt_mysql_err_class(1064, "42000"), ZT_RS_CLIENT_ERROR);
	assert_int_equal(zt_mysql_err_class(1062, "23000"), ZT_RS_CLIENT_ERROR);
	assert_int_equal(zt_mysql_err_class(1045, "28000"), ZT_RS_CLIENT_ERROR);
	assert_int_equal(zt_mysql_err_class(1213, "40001"), ZT_RS_SERVER_ERROR);
	assert_int_equal(zt_mysql_err_class(1205, "HY000"), ZT_RS_SERVER_ERROR);
	assert_int_equal(zt_mysql_err_class(1040, "08004"), ZT_RS_SERVER_ERROR);
	assert_int_equal(zt_mysql_err_class(1037, "HY001"), ZT_RS_SERVER_ERROR);
	assert_int_equal(zt_mysql_err_class(1243, "HY000"), ZT_RS_CLIENT_ERROR);
	assert_int_equal(zt_mysql_err_class(1040, NULL), ZT_RS_SERVER_ERROR);
}

/* ---- redaction -------------------------------------------------------- */

static bool has_scramble(const uint8_t *p, size_t n, const uint8_t *scr, size_t sn)
{
	return memmem(p, n, scr, sn) != NULL;
}

static void test_redact(void **unused)
{
	/* a HandshakeResponse41 as pymysql writes it, with a known scramble */
	uint8_t hsr[160];
	const uint8_t scr[20] = {0x80, 0x9d, 0xa8, 0xf5, 0xac, 0xdc, 0xa3, 0x27, 0x11, 0x22,
				 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc};
	size_t n = L(login_client_1);
	assert_true(n < sizeof(hsr));
	memcpy(hsr, login_client_1, n);
	/* the recording's scramble is already stars: put a real-looking one back */
	uint8_t *a = memmem(hsr, n, "zt_app\0\x14", 8);
	assert_non_null(a);
	memcpy(a + 8, scr, 20);
	uint8_t *p = ph_at_guard(hsr, n);
	assert_int_equal(zt_mysql_redact(p, n), 20);
	assert_false(has_scramble(p, n, scr, 20));
	assert_memory_equal(p, hsr, (size_t)(a + 8 - hsr)); /* user and before kept */
	assert_memory_equal(p + (a + 28 - hsr), a + 28,
			    n - (size_t)(a + 28 - hsr)); /* db, plugin, attrs kept */
	/* the same payload read without its header (servers do) */
	p = ph_at_guard(hsr + 4, n - 4);
	assert_int_equal(zt_mysql_redact(p, n - 4), 20);
	assert_false(has_scramble(p, n - 4, scr, 20));
	/* every cut of it: never past the end, never a scramble byte left in
	 * the captured part once the length byte is in */
	for (size_t k = 0; k <= n; k++) {
		p = ph_at_guard(hsr, k);
		zt_mysql_redact(p, k);
		for (size_t j = (size_t)(a + 8 - hsr); j < k && j < (size_t)(a + 28 - hsr); j++)
			assert_int_equal(p[j], '*');
	}
	/* a lone AuthSwitchResponse; a clear password (printable first byte) */
	static const char sw[] = "\x14\x00\x00\x03\x5a\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd"
				 "\xee\xff\x01\x02\x03\x04";
	p = ph_at_guard(sw, L(sw));
	assert_int_equal(zt_mysql_redact(p, L(sw)), 20);
	for (size_t j = 4; j < L(sw); j++)
		assert_int_equal(p[j], '*');
	/* the server's OK (0 rows, 0 warnings) and ERR are kept */
	static const char ok[] = "\x07\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00";
	static const char okst[] =
	    "\x10\x00\x00\x02\x00\x00\x00\x02\x40\x00\x00\x00\x07\x01\x05\x04\x7a\x74\x64\x62";
	p = ph_at_guard(ok, L(ok));
	assert_int_equal(zt_mysql_redact(p, L(ok)), 0);
	p = ph_at_guard(okst, L(okst));
	assert_int_equal(zt_mysql_redact(p, L(okst)), 0);
	/* an OK with rows and a text info (after LOCAL INFILE) is kept */
	static const char okinfo[] = "\x16\x00\x00\x04\x00\x02\x00\x02\x00\x00\x00"
				     "Records: 2  Del";
	p = ph_at_guard(okinfo, L(okinfo));
	assert_int_equal(zt_mysql_redact(p, L(okinfo)), 0);
	p = ph_at_guard(login_client_2, L(login_client_2)); /* ERR 1045 */
	assert_int_equal(zt_mysql_redact(p, L(login_client_2)), 0);
	/* commands, greetings, results, other protocols: untouched */
	const char *keep[] = {pymysql_client_0, pymysql_client_3, pymysql_client_8,
			      "GET / HTTP/1.1\r\nHost: x\r\n\r\n"};
	size_t keepn[] = {L(pymysql_client_0), L(pymysql_client_3), L(pymysql_client_8), 27};
	for (size_t i = 0; i < N(keep); i++) {
		p = ph_at_guard(keep[i], keepn[i]);
		assert_int_equal(zt_mysql_redact(p, keepn[i]), 0);
		assert_memory_equal(p, keep[i], keepn[i]);
	}
	/* COM_CHANGE_USER: user NUL, 20-byte auth, db */
	static const char cu[] = "\x22\x00\x00\x00\x11zt_"
				 "app\x00\x14\x5a\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff"
				 "\x01\x02\x03\x04ztdb\x00";
	p = ph_at_guard(cu, L(cu));
	assert_int_equal(zt_mysql_redact(p, L(cu)), 20);
	assert_memory_equal(p + 33, "ztdb", 4);
	assert_int_equal(zt_mysql_redact(NULL, 5), 0);
	/* binary data with the filler's zeros but no user name, or a zero
	 * max packet size: not a HandshakeResponse, untouched */
	uint8_t z[64] = {0x0d, 0xa2, 0x3a, 0x00, 0xff, 0xff, 0xff, 0x00, 0x2d};
	z[32] = 0x01; /* a control byte where the user name starts */
	memset(z + 34, 0x41, 20);
	p = ph_at_guard(z, sizeof(z));
	assert_int_equal(zt_mysql_redact(p, sizeof(z)), 0);
	z[32] = 'u';
	memset(z + 4, 0, 4);
	p = ph_at_guard(z, sizeof(z));
	assert_int_equal(zt_mysql_redact(p, sizeof(z)), 0);
	z[4] = 0xff; /* now it is one: user "u", auth length 0x41... cut */
	p = ph_at_guard(z, sizeof(z));
	assert_true(zt_mysql_redact(p, sizeof(z)) > 0);
	/* the parser never copies auth data: the recorded scramble (already
	 * stars) would show as '*' in a field */
	struct ph_chunk c[] = {{ZT_DIR_INGRESS, pymysql_client_0, L(pymysql_client_0), 0},
			       {ZT_DIR_EGRESS, hsr, n, 0},
			       {ZT_DIR_INGRESS, login_client_2, L(login_client_2), 0}};
	ph_run(OPS, c, N(c), &(struct ph_feed){0}, &out);
	assert_int_equal(out.n, 2);
	for (size_t i = 0; i < out.n; i++)
		assert_false(memmem(&out.m[i], sizeof(out.m[i]), scr, 4));
}

/* ---- streams ---------------------------------------------------------- */

static const struct exch pymysql_x[] = {
    {"DELETE", "DELETE FROM items"},
    {"INSERT", "INSERT INTO items VALUES (?, ?, ?), (?, ?, ?), (?, ?, ?)"},
    {"SELECT", "SELECT id, name FROM items WHERE price > ? AND name <> ?", .rows = "2"},
    {"SELECT", "SELECT * FROM no_such_table", 1146, .status = ZT_RS_CLIENT_ERROR},
    {"PING", ""},
    {"INIT_DB", "ztdb"},
    {"UPDATE", "UPDATE items SET price = ? WHERE id = ?"},
    {"SELECT", "SELECT COUNT(*) FROM items", .rows = "1"},
    {"QUIT", "", .oneway = true},
};

static void test_stream_pymysql(void **unused)
{
	ph_check_splits(OPS, pymysql_client, N(pymysql_client), true, NULL, &out);
	check_exchanges(&out, pymysql_x, N(pymysql_x), ZT_DIR_EGRESS);
	const struct zt_msg *e = &out.m[7];
	assert_string_equal(e->response_exception, "#42S02 Table 'ztdb.no_such_table' doesn't exist");
	for (size_t i = 0; i < out.n; i++)
		if (out.m[i].kind == ZT_MSG_REQUEST)
			assert_string_equal(out.m[i].request_domain, "ztdb");
	/* bytes: a request is its packets, headers included */
	assert_int_equal(out.m[0].bytes, L(pymysql_client_3));
	assert_string_equal(attr(&out.m[3], "mysql.affected_rows"), "3");
	/* times: the request starts at the write's entry, the response ends
	 * at the exit of the read of its last byte */
	assert_int_equal(out.m[0].start_ns, ph_enter_ns(3));
	assert_int_equal(out.m[1].end_ns, ph_exit_ns(4));
	assert_true(out.m[0].has_seq);
	assert_int_equal(out.m[0].seq, ph_seq(pymysql_client, 3));
}

/* The server's side: it reads headers and payloads with separate calls. */
static void test_stream_server_side(void **unused)
{
	ph_check_splits(OPS, pymysql_server, N(pymysql_server), true, NULL, &out);
	check_exchanges(&out, pymysql_x, N(pymysql_x), ZT_DIR_INGRESS);
}

#define PREP "SELECT name, price FROM items WHERE id = ?"
static const struct exch binary_x[] = {
    {"STMT_PREPARE", PREP},
    {"STMT_EXECUTE", PREP, .rows = "1"},
    {"STMT_EXECUTE", PREP, .rows = "1"},
    {"STMT_EXECUTE", "", 1243, .status = ZT_RS_CLIENT_ERROR},
    {"STMT_CLOSE", PREP, .oneway = true},
    {"PREPARE", "PREPARE s1 FROM ?"},
    {"EXECUTE", "EXECUTE s1 USING ?", .rows = "1"},
    {"DEALLOCATE", "DEALLOCATE PREPARE s1"},
    {"QUIT", "", .oneway = true},
};

static void test_stream_binary(void **unused)
{
	ph_check_splits(OPS, binary_client, N(binary_client), true, NULL, &out);
	check_exchanges(&out, binary_x, N(binary_x), ZT_DIR_EGRESS);
	assert_string_equal(attr(&out.m[1], "mysql.stmt_id"), attr(&out.m[2], "mysql.stmt_id"));
}

static const struct exch deprecate_x[] = {
    {"SELECT", "SELECT id, name FROM items ORDER BY id", .rows = "3"},
    {"STMT_PREPARE", PREP},
    {"STMT_EXECUTE", PREP, .rows = "1"},
    {"STMT_CLOSE", PREP, .oneway = true},
    {"QUIT", "", .oneway = true},
};

static void test_stream_deprecate_eof(void **unused)
{
	ph_check_splits(OPS, deprecate_client, N(deprecate_client), true, NULL, &out);
	check_exchanges(&out, deprecate_x, N(deprecate_x), ZT_DIR_EGRESS);
}

static void test_stream_login_error(void **unused)
{
	static const struct exch x[] = {{"LOGIN", "zt_app", 1045, .status = ZT_RS_CLIENT_ERROR}};
	ph_check_splits(OPS, login_client, N(login_client), true, NULL, &out);
	check_exchanges(&out, x, N(x), ZT_DIR_EGRESS);
	assert_string_equal(out.m[0].request_domain, "ztdb");
	assert_true(strncmp(out.m[1].response_exception, "#28000 Access denied for user 'zt_app'", 38) == 0);
}

static void test_stream_cli(void **unused)
{
	static const struct exch x[] = {
	    {"SELECT", "SELECT name FROM items WHERE id = ?", .rows = "1"},
	    {"SELECT", "SELECT ?, ?", .rows = "1"},
	    {"SELECT", "SELECT * FROM nope_cli", 1146, .status = ZT_RS_CLIENT_ERROR},
	    {"QUIT", "", .oneway = true},
	};
	ph_check_splits(OPS, cli_client, N(cli_client), true, NULL, &out);
	check_exchanges(&out, x, N(x), ZT_DIR_EGRESS);
}

/* A read-only cursor: the execute's answer ends at the EOF flagged
 * CURSOR_EXISTS; COM_STMT_FETCH answers rows and an EOF. */
static void test_stream_cursor(void **unused)
{
	static const char q[] = "SELECT id, name FROM items ORDER BY id";
	static const struct exch x[] = {
	    {"STMT_PREPARE", q},
	    {"STMT_EXECUTE", q},
	    {"STMT_FETCH", q, .rows = "2"},
	    {"STMT_FETCH", q, .rows = "1"},
	    {"QUIT", "", .oneway = true},
	};
	ph_check_splits(OPS, cursor_client, N(cursor_client), true, NULL, &out);
	check_exchanges(&out, x, N(x), ZT_DIR_EGRESS);
}

/* Results and statements past the 1 KiB capture: gaps. */
static void test_stream_big(void **unused)
{
	static const struct exch x[] = {
	    {"SELECT", "SELECT seq, REPEAT(?, ?) FROM seq_1_to_60", .flags = ZT_MF_TRUNCATED},
	    {"SELECT", NULL, .rows = "0", .flags = ZT_MF_TRUNCATED},
	    {"SELECT", "SELECT ?", .rows = "1"},
	    {"QUIT", "", .oneway = true},
	};
	ph_check_splits(OPS, big_client, N(big_client), true, NULL, &out);
	check_exchanges(&out, x, N(x), ZT_DIR_EGRESS);
	/* every byte counted, the gaps included */
	assert_int_equal(out.m[1].bytes, L(big_client_4) + big_client[4].gap);
	assert_int_equal(out.m[2].bytes, L(big_client_5) + big_client[5].gap);
	/* the blind response ended with the last read of it */
	assert_int_equal(out.m[1].end_ns, ph_exit_ns(4));
	assert_false(out.m[5].flags & ZT_MF_TRUNCATED);
	ph_check_splits(OPS, big_server, N(big_server), true, NULL, &out);
	check_exchanges(&out, x, N(x), ZT_DIR_INGRESS);
}

/* Tracing that starts mid-connection: from a command on. */
static void test_stream_midstream(void **unused)
{
	ph_run(OPS, pymysql_client + 3, N(pymysql_client) - 3, &(struct ph_feed){0}, &out);
	check_exchanges(&out, pymysql_x, N(pymysql_x), ZT_DIR_EGRESS);
	assert_string_equal(out.m[0].request_domain, ""); /* the login was not seen */
	/* the server side: bare payload first (its header was read before) */
	ph_run(OPS, pymysql_server + 5, N(pymysql_server) - 5, &(struct ph_feed){0}, &out);
	assert_int_equal(out.n, 17);
	assert_string_equal(out.m[0].request_type, "DELETE");
	assert_int_equal(out.m[0].bytes, L(pymysql_server_5) + 4);
	/* starting in the middle of a response: nothing until the next command */
	ph_run(OPS, pymysql_client + 4, N(pymysql_client) - 4, &(struct ph_feed){0}, &out);
	assert_int_equal(out.n, 15);
	assert_string_equal(out.m[0].request_type, "INSERT");
	/* capabilities unknown: DEPRECATE_EOF is told by the packets */
	ph_check_splits(OPS, deprecate_client + 3, N(deprecate_client) - 3, true, NULL, &out);
	check_exchanges(&out, deprecate_x, N(deprecate_x), ZT_DIR_EGRESS);
	ph_check_splits(OPS, binary_client + 3, N(binary_client) - 3, true, NULL, &out);
	check_exchanges(&out, binary_x, N(binary_x), ZT_DIR_EGRESS);
}

/* Every prefix of a whole connection, cut anywhere: no read past the
 * captured bytes, and what is emitted is what the whole run emits first. */
static void test_stream_truncated(void **unused)
{
	static struct ph_msgs full;
	struct ph_chunk c[N(binary_client)];

	ph_run(OPS, binary_client, N(binary_client), &(struct ph_feed){0}, &full);
	for (size_t i = 0; i < N(binary_client); i++) {
		for (size_t k = 0; k <= binary_client[i].len; k++) {
			memcpy(c, binary_client, sizeof(c));
			c[i].len = k; /* capture cut at k: the rest is a gap */
			c[i].gap = binary_client[i].len - k + binary_client[i].gap;
			ph_run(OPS, c, i + 1, &(struct ph_feed){.finish = true}, &out);
			assert_true(out.n <= full.n);
			for (size_t j = 0; j < out.n; j++)
				assert_int_equal(out.m[j].kind, full.m[j].kind);
		}
	}
}

/* Hand-made packets: pipelining, 16 MB packets, multi-results, LOCAL
 * INFILE, hostile lengths. */
#define HDR(len, seq)                                                                                        \
	(char)((len)&0xff), (char)(((len) >> 8) & 0xff), (char)(((len) >> 16) & 0xff), (char)(seq)

static void test_stream_pipelined(void **unused)
{
	static const char q2[] = "\x09\x00\x00\x00\x03SELECT 1\x09\x00\x00\x00\x03SELECT 2";
	static const char r2[] =
	    "\x01\x00\x00\x01\x01\x17\x00\x00\x02\x03"
	    "def\x00\x00\x00\x01\x31\x00\x0c\x3f\x00\x01\x00\x00\x00\x08\x81\x00\x00\x00\x00"
	    "\x05\x00\x00\x03\xfe\x00\x00\x02\x00\x02\x00\x00\x04\x01\x31\x05\x00\x00\x05\xfe\x00\x00\x02\x00"
	    "\x09\x00\x00\x01\xff\x7a\x04#HY000";
	struct ph_chunk c[] = {{ZT_DIR_EGRESS, q2, L(q2), 0}, {ZT_DIR_INGRESS, r2, L(r2), 0}};
	static const struct exch x[] = {{"SELECT", "SELECT ?", .rows = "1"}};

	ph_check_splits(OPS, c, N(c), true, NULL, &out);
	assert_int_equal(out.n, 4);
	assert_int_equal(out.m[0].kind, ZT_MSG_REQUEST);
	assert_int_equal(out.m[1].kind, ZT_MSG_REQUEST);
	assert_int_equal(out.m[2].kind, ZT_MSG_RESPONSE);
	assert_string_equal(attr(&out.m[2], "mysql.rows"), "1");
	assert_int_equal(out.m[3].response_code, 1146);
	(void)x;
}

static void test_stream_multi(void **unused)
{
	/* 16 MB COM_QUERY: 0xffffff payload (captured 1 KiB, the rest a gap),
	 * then the last packet of 6 bytes; OK. Then CALL with two result sets
	 * (MORE_RESULTS on the first EOF) and the final OK. Then LOCAL
	 * INFILE: 0xfb name, the file (2 packets, the last empty), OK. */
	static char big[1024];
	memcpy(big, (const char[]){HDR(0xffffff, 0), 0x03}, 5);
	memcpy(big + 5, "INSERT INTO t VALUES ('", 23);
	memset(big + 28, 'a', sizeof(big) - 28);
	static const char tail[] = "\x05\x00\x00\x01"
				   "aaa')";
	static const char tail_pad[] = "\x06\x00\x00\x01"
				       "aaa')"
				       "\x00";
	static const char ok1[] = "\x07\x00\x00\x02\x00\x01\x00\x02\x00\x00\x00";
	static const char call[] = "\x09\x00\x00\x00\x03"
				   "CALL p()";
	static const char res[] = "\x01\x00\x00\x01\x01"
				  "\x05\x00\x00\x02\x03"
				  "def\x00"
				  "\x05\x00\x00\x03\xfe\x00\x00\x0a\x00"
				  "\x02\x00\x00\x04\x01\x31"
				  "\x05\x00\x00\x05\xfe\x00\x00\x0a\x00" /* more results */
				  "\x01\x00\x00\x06\x01"
				  "\x05\x00\x00\x07\x03"
				  "def\x00"
				  "\x05\x00\x00\x08\xfe\x00\x00\x0a\x00"
				  "\x02\x00\x00\x09\x01\x32"
				  "\x02\x00\x00\x0a\x01\x33"
				  "\x05\x00\x00\x0b\xfe\x00\x00\x0a\x00"
				  "\x07\x00\x00\x0c\x00\x00\x00\x02\x00\x00\x00";
	static const char li[] = "\x28\x00\x00\x00\x03"
				 "LOAD DATA LOCAL INFILE 'f' INTO TABLE t";
	static const char fb[] = "\x02\x00\x00\x01\xfb"
				 "f";
	static const char file[] = "\x04\x00\x00\x02"
				   "1\n2\n"
				   "\x00\x00\x00\x03";
	static const char ok2[] = "\x07\x00\x00\x04\x00\x02\x00\x02\x00\x00\x00";
	struct ph_chunk c[] = {
	    {ZT_DIR_EGRESS, big, sizeof(big), 0xffffff + 4 - sizeof(big)},
	    {ZT_DIR_EGRESS, tail, L(tail), 0},
	    {ZT_DIR_INGRESS, ok1, L(ok1), 0},
	    {ZT_DIR_EGRESS, call, L(call), 0},
	    {ZT_DIR_INGRESS, res, L(res), 0},
	    {ZT_DIR_EGRESS, li, L(li), 0},
	    {ZT_DIR_INGRESS, fb, L(fb), 0},
	    {ZT_DIR_EGRESS, file, L(file), 0},
	    {ZT_DIR_INGRESS, ok2, L(ok2), 0},
	};
	(void)tail_pad;
	static const struct exch x[] = {
	    {"INSERT", NULL, .flags = ZT_MF_TRUNCATED},
	    {"CALL", "CALL p()", .rows = "3"},
	    {"LOAD", "LOAD DATA LOCAL INFILE ? INTO TABLE t"},
	};
	ph_run(OPS, c, N(c), &(struct ph_feed){.finish = true}, &out);
	check_exchanges(&out, x, N(x), ZT_DIR_EGRESS);
	assert_int_equal(out.m[0].bytes, 0xffffff + 4 + L(tail));
	assert_true(strncmp(out.m[0].request_resource, "INSERT INTO t VALUES (?", 23) == 0);
	assert_string_equal(attr(&out.m[1], "mysql.affected_rows"), "1");
	assert_string_equal(attr(&out.m[5], "mysql.local_infile"), "f");
	assert_string_equal(attr(&out.m[5], "mysql.affected_rows"), "2");
	/* the splits of everything but the 16 MB packet */
	ph_check_splits(OPS, c + 3, N(c) - 3, true, NULL, &out);
	assert_int_equal(out.n, 4);
}

static void test_stream_hostile(void **unused)
{
	/* a greeting, then garbage lengths and bytes in both directions: no
	 * crash, no read past a segment, nothing emitted for garbage */
	static const char junk1[] = "\xff\xff\xff\x00\x03SELECT";
	static const char junk2[] = "\x00\x00\x00\x00\x00\x00\x00\x00";
	static const char junk3[] = "\x05\x00\x00\x01\xfe\x00\x00\x02\x00\x03\x00\x00\x00\x03"
				    "XY";
	struct ph_chunk c[] = {
	    {ZT_DIR_INGRESS, pymysql_client_0, L(pymysql_client_0), 0},
	    {ZT_DIR_INGRESS, junk3, L(junk3), 0},
	    {ZT_DIR_EGRESS, junk2, L(junk2), 0},
	    {ZT_DIR_EGRESS, junk1, L(junk1), 5},
	    {ZT_DIR_INGRESS, junk1, L(junk1), 100},
	    {0, NULL, 0, 0, true},
	    {ZT_DIR_EGRESS, junk3, L(junk3), 0},
	};
	ph_check_splits(OPS, c, N(c), true, NULL, &out);
	assert_int_equal(out.n, 0);
	/* responses with no request; a seq-0 0xff greeting */
	static const char err_greet[] = "\x17\x00\x00\x00\xff\x10\x04Too many connections";
	struct ph_chunk d[] = {{ZT_DIR_INGRESS, err_greet, L(err_greet), 0}};
	ph_run(OPS, d, 1, &(struct ph_feed){.finish = true}, &out);
	assert_int_equal(out.n, 0);
	(void)d;
}

/* Capabilities unknown (tracing began after the handshake): the packets
 * tell whether EOFs are sent. A: without DEPRECATE_EOF, a prepare's
 * trailing EOF arrives after a pipelined query was sent. B: with it, an
 * empty result ends with an OK-0xfe right after the definitions. */
static void test_stream_caps_unknown(void **unused)
{
	static const char qa[] = "\x09\x00\x00\x00\x16"
				 "SELECT ?"
				 "\x09\x00\x00\x00\x03"
				 "SELECT 1";
	/* one group of definitions only (a column): nothing tells whether
	 * the EOF after it comes until it does */
	static const char ra[] = "\x0c\x00\x00\x01\x00\x05\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00"
				 "\x05\x00\x00\x02\x03"
				 "def\x00"
				 "\x05\x00\x00\x03\xfe\x00\x00\x02\x00"
				 "\x01\x00\x00\x01\x01"
				 "\x05\x00\x00\x02\x03"
				 "def\x00"
				 "\x05\x00\x00\x03\xfe\x00\x00\x02\x00"
				 "\x02\x00\x00\x04\x01\x31"
				 "\x05\x00\x00\x05\xfe\x00\x00\x02\x00";
	static const char qb1[] = "\x18\x00\x00\x00\x03"
				  "SELECT 1 FROM t WHERE 0";
	static const char rb1[] = "\x01\x00\x00\x01\x01"
				  "\x05\x00\x00\x02\x03"
				  "def\x00"
				  "\x07\x00\x00\x03\xfe\x00\x00\x02\x00\x00\x00";
	static const char qb2[] = "\x09\x00\x00\x00\x03"
				  "SELECT 2";
	static const char rb2[] = "\x01\x00\x00\x01\x01"
				  "\x05\x00\x00\x02\x03"
				  "def\x00"
				  "\x02\x00\x00\x03\x01\x32"
				  "\x07\x00\x00\x04\xfe\x00\x00\x02\x00\x00\x00";
	struct ph_chunk a[] = {{ZT_DIR_EGRESS, qa, L(qa), 0}, {ZT_DIR_INGRESS, ra, L(ra), 0}};
	struct ph_chunk b[] = {{ZT_DIR_EGRESS, qb1, L(qb1), 0},
			       {ZT_DIR_INGRESS, rb1, L(rb1), 0},
			       {ZT_DIR_EGRESS, qb2, L(qb2), 0},
			       {ZT_DIR_INGRESS, rb2, L(rb2), 0}};
	static const struct exch xb[] = {{"SELECT", "SELECT ? FROM t WHERE ?", .rows = "0"},
					 {"SELECT", "SELECT ?", .rows = "1"}};

	ph_check_splits(OPS, a, N(a), true, NULL, &out);
	assert_int_equal(out.n, 4);
	assert_string_equal(out.m[0].request_type, "STMT_PREPARE");
	assert_string_equal(out.m[1].request_type, "SELECT");
	assert_int_equal(out.m[2].kind, ZT_MSG_RESPONSE);
	assert_string_equal(attr(&out.m[2], "mysql.stmt_id"), "5");
	assert_string_equal(attr(&out.m[3], "mysql.rows"), "1");
	ph_check_splits(OPS, b, N(b), true, NULL, &out);
	check_exchanges(&out, xb, N(xb), ZT_DIR_EGRESS);
}

/* The database of a request: USE, COM_INIT_DB, COM_CHANGE_USER. */
static void test_stream_domain(void **unused)
{
	static const char use[] = "\x0b\x00\x00\x00\x03"
				  "USE `shop`";
	static const char ok[] = "\x07\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00";
	static const char sel[] = "\x09\x00\x00\x00\x03"
				  "SELECT 1";
	static const char res[] = "\x01\x00\x00\x01\x01"
				  "\x05\x00\x00\x02\x03"
				  "def\x00"
				  "\x05\x00\x00\x03\xfe\x00\x00\x02\x00"
				  "\x02\x00\x00\x04\x01\x31"
				  "\x05\x00\x00\x05\xfe\x00\x00\x02\x00";
	/* COM_CHANGE_USER: user, 20-byte auth, db; an AuthSwitchRequest, the
	 * client's answer (seq 3), then OK */
	static const char cu[] = "\x20\x00\x00\x00\x11"
				 "bob\x00"
				 "\x14"
				 "ABCDEFGHIJKLMNOPQRST"
				 "inv\x00"
				 "\x21\x00";
	static const char sw[] = "\x16\x00\x00\x02\xfe"
				 "mysql_old\x00"
				 "0123456789\x00";
	static const char swr[] = "\x08\x00\x00\x03"
				  "secret!!";
	static const char ok3[] = "\x07\x00\x00\x04\x00\x00\x00\x02\x00\x00\x00";
	static const char idb[] = "\x05\x00\x00\x00\x02"
				  "logs";
	struct ph_chunk c[] = {
	    {ZT_DIR_EGRESS, use, L(use), 0}, {ZT_DIR_INGRESS, ok, L(ok), 0},
	    {ZT_DIR_EGRESS, sel, L(sel), 0}, {ZT_DIR_INGRESS, res, L(res), 0},
	    {ZT_DIR_EGRESS, cu, L(cu), 0},   {ZT_DIR_INGRESS, sw, L(sw), 0},
	    {ZT_DIR_EGRESS, swr, L(swr), 0}, {ZT_DIR_INGRESS, ok3, L(ok3), 0},
	    {ZT_DIR_EGRESS, sel, L(sel), 0}, {ZT_DIR_INGRESS, res, L(res), 0},
	    {ZT_DIR_EGRESS, idb, L(idb), 0}, {ZT_DIR_INGRESS, ok, L(ok), 0},
	    {ZT_DIR_EGRESS, sel, L(sel), 0}, {ZT_DIR_INGRESS, res, L(res), 0},
	};
	static const struct exch x[] = {
	    {"USE", "USE `shop`"},  {"SELECT", "SELECT ?", .rows = "1"},
	    {"CHANGE_USER", "bob"}, {"SELECT", "SELECT ?", .rows = "1"},
	    {"INIT_DB", "logs"},    {"SELECT", "SELECT ?", .rows = "1"},
	};
	static const char *const dom[] = {"shop", "shop", "inv", "inv", "logs", "logs"};

	ph_check_splits(OPS, c, N(c), true, NULL, &out);
	check_exchanges(&out, x, N(x), ZT_DIR_EGRESS);
	for (size_t i = 0; i < N(dom); i++)
		assert_string_equal(out.m[2 * i].request_domain, dom[i]);
	for (size_t i = 0; i < out.n; i++) /* no auth byte in any message */
		assert_null(memmem(&out.m[i], sizeof(out.m[i]), "ABCDEFGH", 8));
	assert_null(memmem(&out.m[5], sizeof(out.m[5]), "secret!!", 8));
	/* and the raw payloads lose them */
	uint8_t *p = ph_at_guard(cu, L(cu));
	assert_int_equal(zt_mysql_redact(p, L(cu)), 20);
	assert_null(memmem(p, L(cu), "ABCDEFGH", 8));
	p = ph_at_guard(swr, L(swr));
	assert_int_equal(zt_mysql_redact(p, L(swr)), 8);
	assert_null(memmem(p, L(swr), "secret", 6));
}

/* Bytes of other servers (MySQL 5.7 / 8, DeepFlow's test captures, TCP
 * segments rather than syscalls): a refused login, and a prepared
 * statement session replayed whole and then with every syscall's capture
 * cut at 256 bytes (the rest a gap): the framing survives by the lengths
 * and the blind responses, the byte counts stay exact. */
static void test_stream_other_servers(void **unused)
{
	static const struct exch lx[] = {{"LOGIN", "mydemo", 1040, .status = ZT_RS_SERVER_ERROR}};
	static const char ps[] = "SELECT * FROM `domain` WHERE state != ?";
	static const struct exch tx[] = {
	    {"STMT_PREPARE", ps},
	    {"STMT_EXECUTE", ps, .rows = "3"},
	    {"STMT_CLOSE", ps, .oneway = true},
	    {"SELECT", "SELECT * FROM `controller`", .rows = "3"},
	};
	static const struct exch tcut[] = {
	    {"STMT_PREPARE", ps, .flags = ZT_MF_TRUNCATED},
	    {"STMT_EXECUTE", ps, .flags = ZT_MF_TRUNCATED},
	    {"STMT_CLOSE", ps, .oneway = true},
	    {"SELECT", "SELECT * FROM `controller`", .flags = ZT_MF_TRUNCATED},
	};
	static struct ph_msgs full;
	struct ph_chunk c[N(df_truncate)];

	ph_check_splits(OPS, df_login_error, N(df_login_error), true, NULL, &out);
	check_exchanges(&out, lx, N(lx), ZT_DIR_EGRESS);
	assert_string_equal(out.m[0].request_domain, "mydemo-dn1");
	assert_string_equal(out.m[1].response_exception, "#08004 Too many connections");

	ph_run(OPS, df_truncate, N(df_truncate), &(struct ph_feed){.finish = true}, &full);
	check_exchanges(&full, tx, N(tx), ZT_DIR_EGRESS);
	memcpy(c, df_truncate, sizeof(c));
	for (size_t i = 0; i < N(c); i++)
		if (c[i].len > 256) {
			c[i].gap = c[i].len - 256;
			c[i].len = 256;
		}
	ph_check_splits(OPS, c, N(c), true, NULL, &out);
	check_exchanges(&out, tcut, N(tcut), ZT_DIR_EGRESS);
	assert_int_equal(out.n, full.n);
	for (size_t i = 0; i < out.n; i++)
		assert_int_equal(out.m[i].bytes, full.m[i].bytes);
}

/* A SSLRequest: the rest is TLS and is never parsed. */
static void test_stream_tls(void **unused)
{
	static const char sslreq[] =
	    "\x20\x00\x00\x01\x0d\xaa\x3a\x00\xff\xff\xff\x00\x2d"
	    "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";
	struct ph_chunk c[] = {
	    {ZT_DIR_INGRESS, pymysql_client_0, L(pymysql_client_0), 0},
	    {ZT_DIR_EGRESS, sslreq, L(sslreq), 0},
	    {ZT_DIR_EGRESS, pymysql_client_3, L(pymysql_client_3), 0}, /* would be a query in clear */
	    {ZT_DIR_INGRESS, pymysql_client_4, L(pymysql_client_4), 0},
	};
	ph_run(OPS, c, N(c), &(struct ph_feed){.finish = true}, &out);
	assert_int_equal(out.n, 0);
}

/* The statement map is bounded: the least recently used id goes. */
static void test_stmt_map(void **unused)
{
	char q[12][64], r[12][16], e[2][24];
	struct ph_chunk c[40];
	size_t n = 0;

	for (int i = 0; i < 10; i++) {
		int l = snprintf(q[i] + 5, sizeof(q[i]) - 5, "SELECT c%d FROM t", i);
		memcpy(q[i], (const char[]){HDR(l + 1, 0), 0x16}, 5);
		c[n++] = (struct ph_chunk){ZT_DIR_EGRESS, q[i], (size_t)l + 5, 0};
		memcpy(r[i], (const char[]){HDR(12, 1), 0x00, (char)(100 + i), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		       16);
		c[n++] = (struct ph_chunk){ZT_DIR_INGRESS, r[i], 16, 0};
	}
	/* execute ids 100 (evicted: 10 prepares, 8 slots) and 109 */
	for (int k = 0; k < 2; k++) {
		memcpy(e[k], (const char[]){HDR(10, 0), 0x17, (char)(k ? 109 : 100), 0, 0, 0, 0, 1, 0, 0, 0},
		       14);
		c[n++] = (struct ph_chunk){ZT_DIR_EGRESS, e[k], 14, 0};
		c[n++] =
		    (struct ph_chunk){ZT_DIR_INGRESS, "\x07\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00", 11, 0};
	}
	ph_run(OPS, c, n, &(struct ph_feed){0}, &out);
	assert_int_equal(out.n, 24);
	assert_string_equal(out.m[20].request_resource, "");
	assert_string_equal(attr(&out.m[20], "mysql.stmt_id"), "100");
	assert_string_equal(out.m[22].request_resource, "SELECT c9 FROM t");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_infer),
	    cmocka_unit_test(test_normalize),
	    cmocka_unit_test(test_err_class),
	    cmocka_unit_test(test_endpoint),
	    cmocka_unit_test(test_redact),
	    cmocka_unit_test(test_stream_pymysql),
	    cmocka_unit_test(test_stream_server_side),
	    cmocka_unit_test(test_stream_binary),
	    cmocka_unit_test(test_stream_deprecate_eof),
	    cmocka_unit_test(test_stream_login_error),
	    cmocka_unit_test(test_stream_cli),
	    cmocka_unit_test(test_stream_big),
	    cmocka_unit_test(test_stream_cursor),
	    cmocka_unit_test(test_stream_midstream),
	    cmocka_unit_test(test_stream_truncated),
	    cmocka_unit_test(test_stream_pipelined),
	    cmocka_unit_test(test_stream_multi),
	    cmocka_unit_test(test_stream_hostile),
	    cmocka_unit_test(test_stream_tls),
	    cmocka_unit_test(test_stream_other_servers),
	    cmocka_unit_test(test_stream_domain),
	    cmocka_unit_test(test_stream_caps_unknown),
	    cmocka_unit_test(test_stmt_map),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
