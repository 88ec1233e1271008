/* SPDX-License-Identifier: MIT */
/*
 * test_memcached.c - Memcached text and binary parser through
 * parser_harness.h: table-driven scripts (requests and replies as pymemcache,
 * raw meta commands and the binary client of tests/data/proto/memcached
 * sent them to memcached 1.6), every split point and byte-by-byte feeding,
 * gaps, malformed input, inference and redaction.
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
#include <netinet/in.h>

#include "bpf/events.h"
#include "proto/proto.h"
#include "parser_harness.h"
#include "proto_sum.h"

extern const struct zt_proto_ops zt_memcached_ops;
#define OPS (&zt_memcached_ops)
#define OUT PS_OUT
#define IN PS_IN
#define CHECK(c, w) PS_CHECK(OPS, c, w)

/* ---- binary packets ---------------------------------------------------- */

struct pkt {
	uint8_t b[256];
	size_t n;
};

/* Appends one binary packet to p. */
static void bin(struct pkt *p, uint8_t magic, uint8_t op, const char *key, size_t extlen, const char *value,
		uint16_t status, uint32_t opaque)
{
	size_t kl = key ? strlen(key) : 0, vl = value ? strlen(value) : 0;
	uint32_t body = (uint32_t)(extlen + kl + vl);
	uint8_t *h = p->b + p->n;

	memset(h, 0, 24 + extlen);
	h[0] = magic;
	h[1] = op;
	h[2] = (uint8_t)(kl >> 8);
	h[3] = (uint8_t)kl;
	h[4] = (uint8_t)extlen;
	h[6] = (uint8_t)(status >> 8);
	h[7] = (uint8_t)status;
	h[8] = (uint8_t)(body >> 24);
	h[9] = (uint8_t)(body >> 16);
	h[10] = (uint8_t)(body >> 8);
	h[11] = (uint8_t)body;
	h[12] = (uint8_t)(opaque >> 24);
	h[13] = (uint8_t)(opaque >> 16);
	h[14] = (uint8_t)(opaque >> 8);
	h[15] = (uint8_t)opaque;
	p->n += 24 + extlen;
	if (kl)
		memcpy(p->b + p->n, key, kl);
	p->n += kl;
	if (vl)
		memcpy(p->b + p->n, value, vl);
	p->n += vl;
}

#define BREQ(p, op, key, ext, val, opq) bin((p), 0x80, (op), (key), (ext), (val), 0, (opq))
#define BRESP(p, op, key, ext, val, st, opq) bin((p), 0x81, (op), (key), (ext), (val), (st), (opq))
#define CH(dir_, p)                                                                                          \
	{                                                                                                    \
		.dir = (dir_), .data = (p).b, .len = (p).n                                                   \
	}

/* ---- text ------------------------------------------------------------ */

static void test_text_basic(void **unused)
{
	static const struct ph_chunk c[] = {
	    OUT("set user:1 0 0 5\r\nalice\r\n"),
	    IN("STORED\r\n"),
	    OUT("get user:1\r\n"),
	    IN("VALUE user:1 0 5\r\nalice\r\nEND\r\n"),
	    OUT("get nokey\r\n"),
	    IN("END\r\n"),
	    OUT("get user:1 nokey user:2\r\n"),
	    IN("VALUE user:1 0 5\r\nalice\r\nVALUE user:2 3 2\r\nhi\r\nEND\r\n"),
	    OUT("gets user:1\r\n"),
	    IN("VALUE user:1 0 5 42\r\nalice\r\nEND\r\n"),
	    OUT("cas user:1 0 0 5 42\r\ncarol\r\n"),
	    IN("EXISTS\r\n"),
	    OUT("incr n 5\r\n"),
	    IN("15\r\n"),
	    OUT("delete user:1\r\n"),
	    IN("NOT_FOUND\r\n"),
	    OUT("touch n 100\r\n"),
	    IN("TOUCHED\r\n"),
	    OUT("gat 100 user:1\r\n"),
	    IN("END\r\n"),
	    OUT("version\r\n"),
	    IN("VERSION 1.6.18\r\n"),
	};
	static const char *const w[] = {
	    "QF set|user:1 b=25",  "RF ok b=8",	 "QF get|user:1 b=12",	  "RF ok b=30",
	    "QF get|nokey b=11",   "RF ok b=5",	 "QF get|user:1 b=25",	  "RF ok b=52",
	    "QF gets|user:1 b=13", "RF ok b=33", "QF cas|user:1 b=28",	  "RF ok b=8",
	    "QF incr|n b=10",	   "RF ok b=4",	 "QF delete|user:1 b=15", "RF ok b=11",
	    "QF touch|n b=13",	   "RF ok b=9",	 "QF gat|user:1 b=16",	  "RF ok b=5",
	    "QF version| b=9",	   "RF ok b=16",
	};
	CHECK(c, w);
}

static void test_text_errors(void **unused)
{
	static const struct ph_chunk c[] = {
	    OUT("version\r\n"),
	    IN("VERSION 1.6.18\r\n"),
	    OUT("bogus_command\r\n"),
	    IN("ERROR\r\n"),
	    OUT("incr big 1\r\n"),
	    IN("CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"),
	    OUT("set k 0 0 1\r\nx\r\n"),
	    IN("SERVER_ERROR out of memory storing object\r\n"),
	};
	static const char *const w[] = {
	    "QF version| b=9",
	    "RF ok b=16",
	    "QF bogus_command| b=15",
	    "RF client_error b=7 exc=ERROR",
	    "QF incr|big b=12",
	    "RF client_error b=62 exc=CLIENT_ERROR cannot increment or decrement non-numeric value",
	    "QF set|k b=16",
	    "RF server_error b=43 exc=SERVER_ERROR out of memory storing object",
	};
	CHECK(c, w);
}

static void test_text_noreply_pipelined(void **unused)
{
	/* noreply sets are one-way; the get after them pairs with its reply */
	static const struct ph_chunk c[] = {
	    OUT("set a 0 0 1 noreply\r\n1\r\nset b 0 0 1 noreply\r\n2\r\nget a b\r\n"),
	    IN("VALUE a 0 1\r\n1\r\nVALUE b 0 1\r\n2\r\nEND\r\n"),
	    OUT("delete a noreply\r\nflush_all noreply\r\nquit\r\n"),
	};
	static const char *const w[] = {
	    "QO set|a b=24",	"QO set|b b=24",      "QF get|a b=9", "RF ok b=37",
	    "QO delete|a b=18", "QO flush_all| b=19", "QO quit| b=6",
	};
	CHECK(c, w);
}

static void test_text_meta(void **unused)
{
	/* quiet mg: a miss gets no reply, a hit does; mn ends the batch */
	static const struct ph_chunk c[] = {
	    OUT("ms meta:1 2 T0\r\nhi\r\n"),
	    IN("HD\r\n"),
	    OUT("mg meta:1 v\r\n"),
	    IN("VA 2\r\nhi\r\n"),
	    OUT("mg nokey v q\r\nmg meta:1 v q k\r\nmn\r\n"),
	    IN("VA 2 kmeta:1\r\nhi\r\nMN\r\n"),
	    OUT("md meta:1 q\r\nmn\r\n"),
	    IN("MN\r\n"),
	    OUT("ma nokey\r\n"),
	    IN("NF\r\n"),
	};
	static const char *const w[] = {
	    "QF ms|meta:1 b=20", "RF ok b=4",	      "QF mg|meta:1 b=13", "RF ok b=10",
	    "QO mg|nokey b=14",	 "QO mg|meta:1 b=17", "QF mn| b=4",	   "RF ok b=4",
	    "QO md|meta:1 b=13", "QF mn| b=4",	      "RF ok b=4",	   "QF ma|nokey b=10",
	    "RF ok b=4",
	};
	CHECK(c, w);
}

static void test_text_stats(void **unused)
{
	static const struct ph_chunk c[] = {
	    OUT("stats\r\n"),
	    IN("STAT pid 1234\r\nSTAT uptime 5\r\n"),
	    IN("STAT version 1.6.18\r\nEND\r\n"),
	    OUT("stats detail on\r\n"),
	    IN("OK\r\n"),
	};
	static const char *const w[] = {"QF stats| b=7", "RF ok b=56", "QF stats| b=17", "RF ok b=4"};
	CHECK(c, w);
}

static void test_text_big_values(void **unused)
{
	/* 100 KB set and get; the capture holds the first bytes only */
	static const struct ph_chunk c[] = {
	    PS_OUT_GAP("set big 0 0 100000\r\nxxxx", 100000 - 4 + 2),
	    IN("STORED\r\n"),
	    OUT("get big\r\n"),
	    PS_IN_GAP("VALUE big 0 100000\r\nxxxx", 100000 - 4 + 2 + 5),
	    OUT("get big\r\n"),
	    PS_IN_GAP("VALUE big 0 100000\r\nxxxx", 60000),
	    PS_IN_GAP("xx", 40000 - 2 - 4 + 2 + 5),
	    OUT("get a\r\n"),
	    IN("END\r\n"),
	};
	static const char *const w[] = {
	    "QF set|big b=100022", "RF ok b=8",	     "QF get|big b=9", "RF ok b=100027",
	    "QF get|big b=9",	   "RF ok b=100027", "QF get|a b=7",   "RF ok b=5",
	};
	CHECK(c, w);
}

static void test_text_gaps(void **unused)
{
	/* a multi-get line longer than the capture ends with its syscall;
	 * a reply line in a gap loses sync until a reply starts a segment */
	static const struct ph_chunk c[] = {
	    PS_OUT_GAP("get k1 k2 k3", 3000),
	    IN("END\r\n"),
	    OUT("get a\r\n"),
	    PS_IN_GAP("VALUE a 0 1\r\n1\r\n", 2000), /* the rest of a multi-value reply */
	    OUT("get b\r\n"),
	    PS_IN_GAP("VALUE b 0 1", 2000), /* a reply line in a gap: lost, still get b's */
	    IN("e a b\r\nx\r\n"),	    /* nothing pending: skipped */
	    OUT("get c\r\n"),
	    IN("END\r\n"), /* in sync again */
	};
	static const char *const w[] = {
	    "QF get|k1 b=3012 T", "RF ok b=5",		 "QF get|a b=7", "RF ok b=2016 T",
	    "QF get|b b=7",	  "RF unknown b=11 T L", "QF get|c b=7", "RF ok b=5",
	};
	CHECK(c, w);
}

static void test_text_server_side(void **unused)
{
	static const struct ph_chunk c[] = {
	    IN("get user:1\r\n"),
	    OUT("END\r\n"),
	};
	static const char *const w[] = {"QF get|user:1 b=12", "RF ok b=5"};
	CHECK(c, w);
}

static void test_text_malformed(void **unused)
{
	static const struct ph_chunk c[] = {
	    OUT("get a\r\n"), IN("END\n"), /* bare LF: not memcached */
	    OUT("get b\r\n"), IN("END\r\n"), OUT("set k 0 0 99999999999999999999\r\n"),
	    OUT("get c\r\n"), IN("END\r\n"),
	};
	/* the bare-LF reply loses sync but still answers get a; the
	 * overlong length is no length (set k stays unanswered) */
	static const char *const w[] = {"QF get|a b=7",	 "RF unknown b=4 L", "QF get|b b=7", "RF ok b=5",
					"QF set|k b=32", "QF get|c b=7",     "RF ok b=5"};
	CHECK(c, w);
}

/* ---- binary ------------------------------------------------------------ */

static void test_binary(void **unused)
{
	static struct pkt q1, r1, q2, r2, q3, r3, q4, r4, q5, r5;

	q1.n = r1.n = q2.n = r2.n = q3.n = r3.n = q4.n = r4.n = q5.n = r5.n = 0;
	BREQ(&q1, 0x00, "bkey", 0, NULL, 1);
	BRESP(&r1, 0x00, NULL, 0, "Not found", 1, 1);
	BREQ(&q2, 0x01, "bkey", 8, "value", 2);
	BRESP(&r2, 0x01, NULL, 0, NULL, 0, 2);
	/* quiet: a miss (no reply), a hit (a reply), a set; then NOOP */
	BREQ(&q3, 0x09, "nokey", 0, NULL, 6);
	BREQ(&q3, 0x0d, "bkey", 0, NULL, 7);
	BREQ(&q3, 0x11, "q", 8, "v", 8);
	BREQ(&q3, 0x0a, NULL, 0, NULL, 9);
	BRESP(&r3, 0x0d, "bkey", 4, "value", 0, 7);
	BRESP(&r3, 0x0a, NULL, 0, NULL, 0, 9);
	/* STAT: one reply per statistic, the empty one ends it */
	BREQ(&q4, 0x10, NULL, 0, NULL, 12);
	BRESP(&r4, 0x10, "pid", 0, "1", 0, 12);
	BRESP(&r4, 0x10, "uptime", 0, "5", 0, 12);
	BRESP(&r4, 0x10, NULL, 0, NULL, 0, 12);
	BREQ(&q5, 0x05, "cnt", 20, NULL, 13);
	BRESP(&r5, 0x05, NULL, 0, "Non-numeric server-side value for incr or decr", 6, 13);
	const struct ph_chunk c[] = {
	    CH(ZT_DIR_EGRESS, q1), CH(ZT_DIR_INGRESS, r1), CH(ZT_DIR_EGRESS, q2), CH(ZT_DIR_INGRESS, r2),
	    CH(ZT_DIR_EGRESS, q3), CH(ZT_DIR_INGRESS, r3), CH(ZT_DIR_EGRESS, q4), CH(ZT_DIR_INGRESS, r4),
	    CH(ZT_DIR_EGRESS, q5), CH(ZT_DIR_INGRESS, r5),
	};
	static const char *const w[] = {
	    "QK1 GET|bkey b=28",
	    "RK1 client_error b=33 code=1 exc=Not found",
	    "QK2 SET|bkey b=41",
	    "RK2 ok b=24",
	    "QO GETQ|nokey b=29",
	    "QO GETKQ|bkey b=28",
	    "QO SETQ|q b=34",
	    "QK9 NOOP| b=24",
	    "RK9 ok b=24",
	    "QK12 STAT| b=24",
	    "RK12 ok b=24",
	    "QK13 INCREMENT|cnt b=47",
	    "RK13 client_error b=70 code=6 exc=Non-numeric server-side value for incr or decr",
	};
	CHECK(c, w);
}

static void test_binary_big(void **unused)
{
	static struct pkt q, r;
	static uint8_t big_req[24 + 8 + 3], big_resp[24 + 4];

	q.n = r.n = 0;
	BREQ(&q, 0x00, "big", 0, NULL, 3);
	/* SET big with a 100000-byte value: header, extras, key captured */
	memset(big_req, 0, sizeof(big_req));
	big_req[0] = 0x80, big_req[1] = 0x01, big_req[3] = 3, big_req[4] = 8;
	uint32_t body = 8 + 3 + 100000;
	big_req[8] = (uint8_t)(body >> 24), big_req[9] = (uint8_t)(body >> 16),
	big_req[10] = (uint8_t)(body >> 8), big_req[11] = (uint8_t)body, big_req[15] = 2;
	memcpy(big_req + 32, "big", 3);
	memset(big_resp, 0, sizeof(big_resp));
	big_resp[0] = 0x81, big_resp[1] = 0x00, big_resp[4] = 4;
	body = 4 + 100000;
	big_resp[8] = (uint8_t)(body >> 24), big_resp[9] = (uint8_t)(body >> 16),
	big_resp[10] = (uint8_t)(body >> 8), big_resp[11] = (uint8_t)body, big_resp[15] = 3;
	static struct pkt ok;
	ok.n = 0;
	BRESP(&ok, 0x01, NULL, 0, NULL, 0, 2);
	const struct ph_chunk c[] = {
	    {.dir = ZT_DIR_EGRESS, .data = big_req, .len = sizeof(big_req), .gap = 100000},
	    CH(ZT_DIR_INGRESS, ok),
	    CH(ZT_DIR_EGRESS, q),
	    {.dir = ZT_DIR_INGRESS, .data = big_resp, .len = sizeof(big_resp), .gap = 60000},
	    {.dir = ZT_DIR_INGRESS, .gap = 40000},
	};
	static const char *const w[] = {"QK2 SET|big b=100035", "RK2 ok b=24", "QK3 GET|big b=27",
					"RK3 ok b=100028"};
	CHECK(c, w);
}

static void test_binary_header_in_gap(void **unused)
{
	static struct pkt q, q2, r2;
	static const uint8_t cut[10] = {0x81, 0x00};

	q.n = q2.n = r2.n = 0;
	BREQ(&q, 0x00, "a", 0, NULL, 1);
	BREQ(&q2, 0x00, "b", 0, NULL, 2);
	BRESP(&r2, 0x00, NULL, 0, NULL, 0, 2);
	const struct ph_chunk c[] = {
	    CH(ZT_DIR_EGRESS, q),
	    {.dir = ZT_DIR_INGRESS, .data = cut, .len = sizeof(cut), .gap = 30}, /* header cut: lost */
	    CH(ZT_DIR_EGRESS, q2),
	    CH(ZT_DIR_INGRESS, r2), /* a header starts the segment: in sync again */
	};
	static const char *const w[] = {"QK1 GET|a b=25", "QK2 GET|b b=25", "RK2 ok b=24"};
	CHECK(c, w);
}

/* ---- inference ------------------------------------------------------- */

static void test_infer(void **unused)
{
	static const struct {
		const char *in;
		size_t n;
		int min, max, kind;
	} cases[] = {
	    {"set user:1 0 0 5\r\nalice\r\n", 0, 80, 100, ZT_MSG_REQUEST},
	    {"get user:1\r\n", 0, 80, 100, ZT_MSG_REQUEST},
	    {"cas k 0 0 1 5 noreply\r\n", 0, 80, 100, ZT_MSG_REQUEST},
	    {"mg key v\r\n", 0, 80, 100, ZT_MSG_REQUEST},
	    {"version\r\n", 0, 50, 100, ZT_MSG_REQUEST},
	    {"VALUE k 0 5\r\nalice\r\nEND\r\n", 0, 50, 80, ZT_MSG_RESPONSE},
	    {"STORED\r\n", 0, 50, 80, ZT_MSG_RESPONSE},
	    {"END\r\n", 0, 0, 49, ZT_MSG_RESPONSE},
	    {"\x80\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00\x01\0\0\0\0\0\0\0\0bkey", 28, 80,
	     100, ZT_MSG_REQUEST},
	    /* not memcached */
	    {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 0, 0, 0},
	    {"set k 0 0 x\r\n", 0, 0, 0, 0},
	    {"get \x01\r\n", 0, 0, 0, 0},
	    {"*1\r\n$4\r\nPING\r\n", 0, 0, 0, 0},
	    {"hello world\r\n", 0, 0, 0, 0},
	    /* GET with extras: not what the opcode says */
	    {"\x80\x00\x00\x04\x08\x00\x00\x00\x00\x00\x00\x0c\x00\x00\x00\x01\0\0\0\0\0\0\0\0", 24, 0, 0, 0},
	    /* SET without extras */
	    {"\x80\x01\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x01\0\0\0\0\0\0\0\0k", 25, 0, 0,
	     0},
	};
	for (size_t i = 0; i < PS_N(cases); i++) {
		size_t n = cases[i].n ? cases[i].n : strlen(cases[i].in);
		int c = OPS->infer(ph_at_guard(cases[i].in, n), n, NULL);
		if (c < cases[i].min || c > cases[i].max)
			fail_msg("case %zu: confidence %d not in %d..%d", i, c, cases[i].min, cases[i].max);
		if (c >= 50 || cases[i].kind)
			assert_int_equal(OPS->first_kind(ph_at_guard(cases[i].in, n), n), cases[i].kind);
		/* every prefix is read within bounds */
		for (size_t k = 0; k < n; k++)
			(void)OPS->infer(ph_at_guard(cases[i].in, k), k, NULL);
	}
	/* ports are hints: they raise a weak answer, never make one */
	struct zt_infer_hints h = {.l4 = IPPROTO_TCP, .lport = 11211};
	assert_true(OPS->infer(ph_at_guard("END\r\n", 5), 5, &h) >= 50);
	assert_int_equal(OPS->infer(ph_at_guard("hello\r\n", 7), 7, &h), 0);
	h.l4 = IPPROTO_UDP; /* UDP frames are not parsed */
	assert_int_equal(OPS->infer(ph_at_guard("get user:1\r\n", 12), 12, &h), 0);
}

/* ---- redaction ------------------------------------------------------- */

static void test_redact(void **unused)
{
	static struct pkt p;
	uint8_t buf[256];

	p.n = 0;
	BREQ(&p, 0x21, "PLAIN", 0, "\x01user\x01s3cret", 1);
	p.b[24 + 5] = 0, p.b[24 + 5 + 5] = 0; /* \0user\0s3cret */
	BREQ(&p, 0x00, "k", 0, NULL, 2);
	memcpy(buf, p.b, p.n);
	size_t n = OPS->redact_payload(buf, p.n);
	assert_int_equal(n, 12);
	assert_memory_equal(buf, p.b, 24 + 5);		       /* header and mechanism kept */
	assert_memory_equal(buf + 24 + 5, "************", 12); /* credentials masked */
	assert_memory_equal(buf + 41, p.b + 41, p.n - 41);     /* the next packet untouched */
	/* cut short: masks what is there, never writes past len */
	memcpy(buf, p.b, p.n);
	uint8_t *g = ph_at_guard(buf, 24 + 5 + 3);
	assert_int_equal(OPS->redact_payload(g, 24 + 5 + 3), 3);
	/* text and other protocols: untouched */
	const char *t = "set k 0 0 1\r\nx\r\n";
	g = ph_at_guard(t, strlen(t));
	assert_int_equal(OPS->redact_payload(g, strlen(t)), 0);
	assert_memory_equal(g, t, strlen(t));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_text_basic),
	    cmocka_unit_test(test_text_errors),
	    cmocka_unit_test(test_text_noreply_pipelined),
	    cmocka_unit_test(test_text_meta),
	    cmocka_unit_test(test_text_stats),
	    cmocka_unit_test(test_text_big_values),
	    cmocka_unit_test(test_text_gaps),
	    cmocka_unit_test(test_text_server_side),
	    cmocka_unit_test(test_text_malformed),
	    cmocka_unit_test(test_binary),
	    cmocka_unit_test(test_binary_big),
	    cmocka_unit_test(test_binary_header_in_gap),
	    cmocka_unit_test(test_infer),
	    cmocka_unit_test(test_redact),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
