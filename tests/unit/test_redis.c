/* SPDX-License-Identifier: MIT */
/*
 * test_redis.c - Redis RESP2/RESP3 parser through parser_harness.h:
 * table-driven scripts in the byte sequences redis-cli, redis-benchmark and
 * redis-server 7 exchange (recorded in tests/data/proto/redis), every split
 * point and byte-by-byte feeding, gaps, pub/sub and MONITOR streams,
 * malformed input, inference and redaction.
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
#include "proto/redis.h"
#include "parser_harness.h"
#include "proto_sum.h"

extern const struct zt_proto_ops zt_redis_ops;
#define OPS (&zt_redis_ops)
#define OUT PS_OUT
#define IN PS_IN
#define CHECK(c, w) PS_CHECK(OPS, c, w)

#define SET_FOO "*3\r\n$3\r\nset\r\n$3\r\nfoo\r\n$3\r\nbar\r\n"
#define GET_FOO "*2\r\n$3\r\nget\r\n$3\r\nfoo\r\n"

static void test_basic(void **unused)
{
	static const struct ph_chunk c[] = {
	    OUT(SET_FOO),
	    IN("+OK\r\n"),
	    OUT(GET_FOO),
	    IN("$3\r\nbar\r\n"),
	    OUT("*2\r\n$3\r\nGET\r\n$4\r\nnone\r\n"),
	    IN("$-1\r\n"),
	    OUT("*3\r\n$5\r\nlpush\r\n$1\r\nl\r\n$1\r\na\r\n"),
	    IN(":1\r\n"),
	    OUT("*2\r\n$3\r\nget\r\n$1\r\nl\r\n"),
	    IN("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
	    OUT("*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$9\r\nmaxmemory\r\n"),
	    IN("*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"),
	    OUT("*3\r\n$6\r\nclient\r\n$7\r\nsetname\r\n$5\r\nmyapp\r\n"),
	    IN("+OK\r\n"),
	    OUT("*2\r\n$5\r\nbogus\r\n$1\r\nx\r\n"),
	    IN("-ERR unknown command 'bogus', with args beginning with: 'x' \r\n"),
	    OUT("*2\r\n$4\r\nAUTH\r\n$6\r\ns3cret\r\n"),
	    IN("-ERR AUTH <password> called without any password configured for the default user. Are you "
	       "sure "
	       "your configuration is correct?\r\n"),
	    OUT("*1\r\n$4\r\nPING\r\n"),
	    IN("-LOADING Redis is loading the dataset in memory\r\n"),
	    OUT("*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n"),
	    IN(":-3\r\n"),
	};
	static const char *const w[] = {
	    "QF SET|foo b=31",
	    "RF ok b=5",
	    "QF GET|foo b=22",
	    "RF ok b=9",
	    "QF GET|none b=23",
	    "RF ok b=5",
	    "QF LPUSH|l b=29",
	    "RF ok b=4",
	    "QF GET|l b=20",
	    "RF client_error b=68 exc=WRONGTYPE Operation against a key holding the wrong kind of value",
	    "QF CONFIG GET|maxmemory b=40",
	    "RF ok b=26",
	    "QF CLIENT SETNAME|myapp b=40",
	    "RF ok b=5",
	    "QF BOGUS|x b=22",
	    "RF client_error b=62 exc=ERR unknown command 'bogus', with args beginning with: 'x' ",
	    "QF AUTH| b=26",
	    "RF client_error b=127 exc=ERR AUTH <password> called without any password configured for the "
	    "default user. Are you sure your configuration is correct?",
	    "QF PING| b=14",
	    "RF server_error b=49 exc=LOADING Redis is loading the dataset in memory",
	    "QF INCR|n b=21",
	    "RF ok b=5",
	};
	CHECK(c, w);
}

static void test_pipelined(void **unused)
{
	/* redis-benchmark -P 3: three requests in one write, three replies
	 * in one read */
	static const struct ph_chunk c[] = {
	    OUT("*3\r\n$3\r\nSET\r\n$16\r\nkey:__rand_int__\r\n$3\r\nxxx\r\n"
		"*3\r\n$3\r\nSET\r\n$16\r\nkey:__rand_int__\r\n$3\r\nxxx\r\n"
		"*2\r\n$3\r\nGET\r\n$16\r\nkey:__rand_int__\r\n"),
	    IN("+OK\r\n+OK\r\n$3\r\nxxx\r\n"),
	};
	static const char *const w[] = {
	    "QF SET|key:__rand_int__ b=45",
	    "QF SET|key:__rand_int__ b=45",
	    "QF GET|key:__rand_int__ b=36",
	    "RF ok b=5",
	    "RF ok b=5",
	    "RF ok b=9",
	};
	CHECK(c, w);
}

static void test_resp3(void **unused)
{
	static const struct ph_chunk c[] = {
	    OUT("*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n"),
	    IN("%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n"),
	    OUT("*2\r\n$7\r\nHGETALL\r\n$1\r\nh\r\n"),
	    IN("%1\r\n$1\r\nf\r\n$1\r\nv\r\n"),
	    OUT("*2\r\n$8\r\nSMEMBERS\r\n$1\r\ns\r\n"),
	    IN("~2\r\n$1\r\na\r\n$1\r\nb\r\n"),
	    OUT("*3\r\n$6\r\nZSCORE\r\n$1\r\nz\r\n$1\r\nm\r\n"),
	    IN(",1.5\r\n"),
	    OUT("*2\r\n$3\r\nGET\r\n$4\r\nnone\r\n"),
	    IN("_\r\n"),
	    /* a push between a request and its reply is not the reply */
	    OUT("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"),
	    IN(">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"),
	    IN("$1\r\nv\r\n"),
	    /* attribute, then the reply it describes */
	    OUT("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"),
	    IN("|1\r\n+key-popularity\r\n%1\r\n$1\r\nk\r\n,0.19\r\n$1\r\nv\r\n"),
	    OUT("*1\r\n$4\r\nPING\r\n"),
	    IN("#t\r\n(3492890328409238509324850943850943825024385\r\n"), /* two replies */
	    OUT("*1\r\n$4\r\nPING\r\n"),
	    IN("=15\r\ntxt:Some string\r\n"),
	    OUT("*1\r\n$4\r\nPING\r\n"),
	    IN("!21\r\nSYNTAX invalid syntax\r\n"),
	};
	static const char *const w[] = {
	    "QF HELLO| b=22 v=3",
	    "RF ok b=42",
	    "QF HGETALL|h b=24 v=3",
	    "RF ok b=18",
	    "QF SMEMBERS|s b=25 v=3",
	    "RF ok b=18",
	    "QF ZSCORE|z b=30 v=3",
	    "RF ok b=6",
	    "QF GET|none b=23 v=3",
	    "RF ok b=3",
	    "QF GET|k b=20 v=3",
	    "RF ok b=7",
	    "QF GET|k b=20 v=3",
	    "RF ok b=46",
	    "QF PING| b=14 v=3",
	    "RF ok b=4",
	    "RF ok b=46",
	    "QF PING| b=14 v=3",
	    "RF ok b=22",
	    "QF PING| b=14 v=3",
	    "RF client_error b=28 exc=SYNTAX invalid syntax",
	};
	CHECK(c, w);
}

static void test_big_value(void **unused)
{
	/* redis-cli -x set big < 100 KB; get big: the capture holds 1 KiB of
	 * each syscall, the lengths frame the rest */
	static const struct ph_chunk c[] = {
	    PS_OUT_GAP("*3\r\n$3\r\nset\r\n$3\r\nbig\r\n$100000\r\nxxxx", 100000 - 4 + 2),
	    IN("+OK\r\n"),
	    OUT("*2\r\n$3\r\nget\r\n$3\r\nbig\r\n"),
	    PS_IN_GAP("$100000\r\nxxxx", 16384 - 13),
	    {.dir = ZT_DIR_INGRESS, .gap = 100000 + 2 - 16384 + 9},
	    OUT(GET_FOO),
	    IN("$3\r\nbar\r\n"),
	};
	static const char *const w[] = {
	    "QF SET|big b=100033", "RF ok b=5",	      "QF GET|big b=22",
	    "RF ok b=100011",	   "QF GET|foo b=22", "RF ok b=9",
	};
	CHECK(c, w);
}

static void test_pubsub_resp2(void **unused)
{
	static const struct ph_chunk c[] = {
	    OUT("*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n$1\r\nb\r\n"),
	    IN("*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n"),
	    IN("*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$5\r\nhello\r\n"),
	    OUT("*1\r\n$4\r\nPING\r\n"),
	    IN("*3\r\n$7\r\nmessage\r\n$1\r\nb\r\n$2\r\nhi\r\n"), /* before PING's reply: not it */
	    IN("*2\r\n$4\r\npong\r\n$0\r\n\r\n"),
	    OUT("*1\r\n$11\r\nunsubscribe\r\n"),
	    IN("*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:1\r\n"),
	    IN("*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:0\r\n"),
	    OUT("*2\r\n$6\r\nLRANGE\r\n$1\r\nl\r\n"),
	    IN("*3\r\n$7\r\nmessage\r\n$1\r\nx\r\n$1\r\ny\r\n"), /* not subscribed: a list */
	};
	static const char *const w[] = {
	    "QF SUBSCRIBE|a b=33",  "RF ok b=30", "QF PING| b=14",    "RF ok b=20",
	    "QF UNSUBSCRIBE| b=22", "RF ok b=33", "QF LRANGE|l b=23", "RF ok b=31",
	};
	CHECK(c, w);
}

static void test_pubsub_resp3(void **unused)
{
	static const struct ph_chunk c[] = {
	    OUT("*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n"),
	    IN(">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"),
	    IN(">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\nmsg\r\n"),
	    OUT("*1\r\n$4\r\nPING\r\n"),
	    IN(">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\nmsg\r\n+PONG\r\n"),
	};
	static const char *const w[] = {"QF SUBSCRIBE|ch b=27", "RF ok b=31", "QF PING| b=14 v=3",
					"RF ok b=7"};
	CHECK(c, w);
}

static void test_monitor(void **unused)
{
	static const struct ph_chunk c[] = {
	    OUT("*1\r\n$7\r\nMONITOR\r\n"),
	    IN("+OK\r\n"),
	    IN("+1700000000.123456 [0 127.0.0.1:50000] \"set\" \"a\" \"1\"\r\n"),
	    IN("+1700000000.223456 [0 127.0.0.1:50000] \"get\" \"a\"\r\n"),
	    OUT("*1\r\n$4\r\nQUIT\r\n"),
	    IN("+1700000000.323456 [0 127.0.0.1:50002] \"ping\"\r\n+OK\r\n"),
	};
	static const char *const w[] = {"QF MONITOR| b=17", "RF ok b=5", "QF QUIT| b=14", "RF ok b=5"};
	CHECK(c, w);
}

static void test_inline_and_server_side(void **unused)
{
	static const struct ph_chunk c[] = {
	    IN("PING\r\n"),
	    OUT("+PONG\r\n"),
	    IN("set k v\r\nget k\r\n\r\n"),
	    OUT("+OK\r\n$1\r\nv\r\n"),
	    IN("auth s3cret\r\n"),
	    OUT("-ERR\r\n"),
	};
	static const char *const w[] = {
	    "QF PING| b=6", "RF ok b=7", "QF SET|k b=9",  "QF GET|k b=7",
	    "RF ok b=5",    "RF ok b=7", "QF AUTH| b=13", "RF client_error b=6 exc=ERR",
	};
	CHECK(c, w);
}

static void test_lost_and_resync(void **unused)
{
	static const struct ph_chunk c[] = {
	    OUT(GET_FOO),
	    PS_IN_GAP("-ERR some", 3000), /* an error line in a gap: cannot be framed */
	    IN("rest of it\r\n"),	  /* not a reply start: skipped */
	    OUT(GET_FOO),
	    IN("$3\r\nbar\r\n"),				  /* starts a segment: in sync again */
	    OUT("*2\r\n$3\r\nGET\r\n$99999999999999\r\nfoo\r\n"), /* a bad length */
	    OUT(GET_FOO),
	    IN("$3\r\nbar\r\n"),
	};
	static const char *const w[] = {
	    "QF GET|foo b=22", "RF client_error b=9 exc=ERR some T L",
	    "QF GET|foo b=22", "RF ok b=9",
	    "QF GET| b=30 L",  "QF GET|foo b=22",
	    "RF ok b=9",
	};
	CHECK(c, w);
}

static void test_lost_reply_rest(void **unused)
{
	/* redis-cli's COMMAND DOCS: a nested reply much longer than the
	 * capture, read in several syscalls. Its first line in a gap loses
	 * sync; later reads of it start anywhere, even like a reply, and
	 * must not become replies while no request is pending. */
	static const struct ph_chunk c[] = {
	    OUT("*2\r\n$7\r\nCOMMAND\r\n$4\r\nDOCS\r\n"),
	    PS_IN_GAP("*166\r\n$4\r\nincr\r\n*10\r\n$7\r\nsummary", 16000),
	    PS_IN_GAP("$5\r\nsince\r\n", 16000),
	    OUT(GET_FOO),
	    IN("$3\r\nbar\r\n"),
	    /* MONITOR: a line longer than the capture answers nothing */
	    OUT("*1\r\n$7\r\nMONITOR\r\n"),
	    IN("+OK\r\n"),
	    PS_IN_GAP("+1700000000.1 [0 127.0.0.1:5] \"set\" \"k\" \"xxxx", 3000),
	    OUT("*1\r\n$4\r\nQUIT\r\n"),
	    IN("+OK\r\n"),
	};
	static const char *const w[] = {
	    "QF COMMAND DOCS| b=27", "RF unknown b=34 T L", "QF GET|foo b=22", "RF ok b=9",
	    "QF MONITOR| b=17",	     "RF ok b=5",	    "QF QUIT| b=14",   "RF ok b=5",
	};
	CHECK(c, w);
}

static void test_select_domain(void **unused)
{
	/* the database is known only once a SELECT was answered */
	static const struct ph_chunk c[] = {
	    OUT(GET_FOO),
	    IN("$3\r\nbar\r\n"),
	    OUT("*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n"),
	    IN("+OK\r\n"),
	    OUT(GET_FOO),
	    IN("$-1\r\n"),
	    OUT("*2\r\n$6\r\nSELECT\r\n$2\r\n99\r\n"),
	    IN("-ERR DB index is out of range\r\n"),
	    OUT(GET_FOO),
	    IN("$-1\r\n"),
	    OUT("*1\r\n$5\r\nRESET\r\n"),
	    IN("+RESET\r\n"),
	    OUT(GET_FOO),
	    IN("$3\r\nbar\r\n"),
	};
	static const char *const w[] = {
	    "QF GET|foo b=22",	   "RF ok b=9",
	    "QF SELECT| b=23",	   "RF ok b=5",
	    "QF GET|foo b=22 d=2", "RF ok b=5",
	    "QF SELECT| b=24 d=2", "RF client_error b=31 exc=ERR DB index is out of range",
	    "QF GET|foo b=22 d=2", "RF ok b=5",
	    "QF RESET| b=15 d=2",  "RF ok b=8",
	    "QF GET|foo b=22 d=0", "RF ok b=9",
	};
	CHECK(c, w);
}

static void test_pipeline_past_capture(void **unused)
{
	/* redis-benchmark -P 64: one write longer than the capture. The
	 * requests whose header lines lie in the gap cannot be parsed; the
	 * one cut inside is kept (LOST_SYNC); the next write starts a
	 * request again. All replies are parsed: the extra ones are the
	 * session's orphan responses. */
	static const struct ph_chunk c[] = {
	    PS_OUT_GAP(SET_FOO SET_FOO "*3\r\n$3\r\nSET\r\n$3\r\nf", 2 + 2 * 31 + 31 * 2),
	    IN("+OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n"),
	    OUT(GET_FOO),
	    IN("$3\r\nbar\r\n"),
	};
	static const char *const w[] = {
	    "QF SET|foo b=31", "QF SET|foo b=31", "QF SET|f b=22 T L", "RF ok b=5",	  "RF ok b=5",
	    "RF ok b=5",       "RF ok b=5",	  "RF ok b=5",	       "QF GET|foo b=22", "RF ok b=9",
	};
	CHECK(c, w);
}

static void test_too_deep(void **unused)
{
	/* nesting past RD_DEPTH loses sync (not split: a cut at an inner
	 * "*1" would rightly resync there) */
	static const struct ph_chunk c[] = {
	    OUT(GET_FOO),
	    IN("*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*"
	       "1\r\n*1\r\n:1\r\n"),
	    OUT(GET_FOO), IN("*15\r\n"), /* resync on a reply start */
	};
	static const char *const w[] = {"QF GET|foo b=22", "RF unknown b=64 L", "QF GET|foo b=22"};
	ps_check(OPS, c, PS_N(c), w, PS_N(w), false);
}

static void test_hostile(void **unused)
{
	/* huge counts, stray bytes: never a crash, never a hang */
	static const struct ph_chunk c[] = {
	    OUT(GET_FOO),	    IN("*99999999999\r\n"), OUT(GET_FOO),
	    IN("\x00\x01\x02\r\n"), OUT(GET_FOO),	    IN("$3\r\nbar\r\n"),
	};
	static const char *const w[] = {
	    "QF GET|foo b=22", "RF unknown b=14 L", "QF GET|foo b=22", "QF GET|foo b=22", "RF ok b=9",
	};
	CHECK(c, w);
}

static void test_cmd_table(void **unused)
{
	/* bsearch over the table: a name out of order would not be found */
	static const char *const names[] = {"acl",     "append",      "bzpopmin", "eval",   "eval_ro",
					    "evalsha", "get",	      "GeT",	  "hello",  "monitor",
					    "select",  "sinterstore", "xgroup",	  "zunion", "zunionstore"};
	for (size_t i = 0; i < PS_N(names); i++)
		if (!rd_cmd_find(names[i], strlen(names[i])))
			fail_msg("%s not found", names[i]);
	assert_null(rd_cmd_find("gett", 4));
	assert_null(rd_cmd_find("", 0));
	assert_true(rd_cmd_find("AUTH", 4)->flags & RD_F_SECRET);
	assert_true(rd_cmd_find("config", 6)->flags & RD_F_TWO);
}

static void test_infer(void **unused)
{
	static const struct {
		const char *in;
		int min, max, kind;
	} cases[] = {
	    {SET_FOO, 90, 90, ZT_MSG_REQUEST},
	    {"*1\r\n$7\r\nCOMMAND\r\n", 90, 90, ZT_MSG_REQUEST},
	    {"*2\r\n$6\r\nMYCMD1\r\n$1\r\nx\r\n", 60, 60, ZT_MSG_REQUEST}, /* a module's command */
	    {"+OK\r\n", 0, 49, ZT_MSG_RESPONSE},
	    {"$3\r\nbar\r\n", 0, 49, ZT_MSG_RESPONSE},
	    {"PING\r\n", 0, 49, ZT_MSG_REQUEST}, /* inline: also memcached-like */
	    {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 0, 0},
	    {"get foo\r\n", 0, 49, ZT_MSG_REQUEST},
	    {"set k 0 0 1\r\nx\r\n", 0, 49, ZT_MSG_REQUEST},
	    {"*3\r\n$3\r\nSET\r\n$3\r\nfoo", 90, 90, ZT_MSG_REQUEST}, /* cut after the command */
	    {"*3\r\n$3\r\nSE", 0, 0, 0},			      /* more bytes will tell */
	    {"*x\r\n", 0, 0, 0},
	    {"*1\r\n$4\r\nPING\n", 0, 0, 0},
	    {"+OK\n", 0, 0, 0},
	    {":12a\r\n", 0, 0, 0},
	    {"\x16\x03\x01\x02\x00\x01", 0, 0, 0},
	};
	for (size_t i = 0; i < PS_N(cases); i++) {
		size_t n = strlen(cases[i].in);
		int c = OPS->infer(ph_at_guard(cases[i].in, n), n, NULL);
		if (c < cases[i].min || c > cases[i].max)
			fail_msg("case %zu: confidence %d not in %d..%d", i, c, cases[i].min, cases[i].max);
		int k = OPS->first_kind(ph_at_guard(cases[i].in, n), n);
		if (k != cases[i].kind)
			fail_msg("case %zu: first_kind %d, want %d", i, k, cases[i].kind);
		for (size_t p = 0; p < n; p++) {
			(void)OPS->infer(ph_at_guard(cases[i].in, p), p, NULL);
			(void)OPS->first_kind(ph_at_guard(cases[i].in, p), p);
		}
	}
	/* the port raises a weak answer over 50, never a zero one */
	struct zt_infer_hints h = {.l4 = IPPROTO_TCP, .rport = 6379};
	assert_true(OPS->infer(ph_at_guard("+OK\r\n", 5), 5, &h) >= 50);
	assert_int_equal(OPS->infer(ph_at_guard("hullo\r\n", 7), 7, &h), 0);
}

static void test_redact(void **unused)
{
	static const struct {
		const char *in, *out;
		size_t n; /* bytes masked */
	} cases[] = {
	    {"*2\r\n$4\r\nAUTH\r\n$6\r\ns3cret\r\n", "*2\r\n$4\r\nAUTH\r\n$6\r\n******\r\n", 6},
	    {"*3\r\n$4\r\nauth\r\n$4\r\nuser\r\n$2\r\npw\r\n",
	     "*3\r\n$4\r\nauth\r\n$4\r\n****\r\n$2\r\n**\r\n", 6},
	    {"*7\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$1\r\nu\r\n$2\r\npw\r\n$7\r\nSETNAME\r\n$"
	     "1\r\nn\r\n",
	     "*7\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$1\r\n*\r\n$2\r\n**\r\n$7\r\nSETNAME\r\n$"
	     "1\r\nn\r\n",
	     3},
	    {"*9\r\n$7\r\nMIGRATE\r\n$1\r\nh\r\n$1\r\n1\r\n$1\r\nk\r\n$1\r\n0\r\n$1\r\n9\r\n$5\r\nAUTH2\r\n$"
	     "1\r\nu\r\n$"
	     "2\r\npw\r\n",
	     "*9\r\n$7\r\nMIGRATE\r\n$1\r\nh\r\n$1\r\n1\r\n$1\r\nk\r\n$1\r\n0\r\n$1\r\n9\r\n$5\r\nAUTH2\r\n$"
	     "1\r\n*\r\n$"
	     "2\r\n**\r\n",
	     3},
	    /* AUTH after another command in one write */
	    {GET_FOO "*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n", GET_FOO "*2\r\n$4\r\nAUTH\r\n$2\r\n**\r\n", 2},
	    /* cut inside the password: what is there is masked */
	    {"*2\r\n$4\r\nAUTH\r\n$6\r\ns3c", "*2\r\n$4\r\nAUTH\r\n$6\r\n***", 3},
	    {"AUTH s3cret\r\n", "AUTH ******\r\n", 6},
	    {"*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$11\r\nrequirepass\r\n$2\r\npw\r\n",
	     "*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$11\r\nrequirepass\r\n$2\r\n**\r\n", 2},
	    {"*4\r\n$3\r\nACL\r\n$7\r\nSETUSER\r\n$1\r\nu\r\n$3\r\n>pw\r\n",
	     "*4\r\n$3\r\nACL\r\n$7\r\nSETUSER\r\n$1\r\nu\r\n$3\r\n>**\r\n", 2},
	    {SET_FOO, SET_FOO, 0},
	    {"GET / HTTP/1.1\r\nAuthorization: x\r\n\r\n", "GET / HTTP/1.1\r\nAuthorization: x\r\n\r\n", 0},
	};
	for (size_t i = 0; i < PS_N(cases); i++) {
		size_t n = strlen(cases[i].in);
		uint8_t *g = ph_at_guard(cases[i].in, n);
		size_t r = OPS->redact_payload(g, n);
		if (r != cases[i].n || memcmp(g, cases[i].out, n) != 0)
			fail_msg("case %zu: masked %zu, got \"%.*s\"", i, r, (int)n, (const char *)g);
		for (size_t p = 0; p < n; p++) /* every prefix within bounds */
			(void)OPS->redact_payload(ph_at_guard(cases[i].in, p), p);
	}
	/* the message side: AUTH never keeps an argument */
	struct zt_msg m;
	zt_msg_reset(&m);
	strcpy(m.request_type, "AUTH");
	strcpy(m.request_resource, "s3cret");
	OPS->redact_msg(&m);
	assert_string_equal(m.request_resource, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basic),	    cmocka_unit_test(test_pipelined),
	    cmocka_unit_test(test_resp3),	    cmocka_unit_test(test_big_value),
	    cmocka_unit_test(test_pubsub_resp2),    cmocka_unit_test(test_pubsub_resp3),
	    cmocka_unit_test(test_monitor),	    cmocka_unit_test(test_inline_and_server_side),
	    cmocka_unit_test(test_lost_and_resync), cmocka_unit_test(test_hostile),
	    cmocka_unit_test(test_too_deep),	    cmocka_unit_test(test_pipeline_past_capture),
	    cmocka_unit_test(test_cmd_table),	    cmocka_unit_test(test_select_domain),
	    cmocka_unit_test(test_lost_reply_rest), cmocka_unit_test(test_infer),
	    cmocka_unit_test(test_redact),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
