/* SPDX-License-Identifier: MIT */
/*
 * test_mongodb.c - the MongoDB parser (src/proto/mongodb.c) on real mongod
 * and mongo shell bytes (the DeepFlow peer captures, mongo_vectors.h: a
 * SCRAM login, isMaster over OP_QUERY/OP_REPLY, commands over OP_MSG, an
 * error reply) and on hand-built BSON for what they lack (moreToCome,
 * writeErrors, OP_COMPRESSED, legacy writes, gaps, credentials). Streams go
 * through parser_harness.h: whole, split at every byte, byte by byte.
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
#include "proto/proto.h"

#include "foreign_starts.h"
#include "kafka_vectors.h"
#include "mongo_vectors.h"

extern const struct zt_proto_ops zt_mongodb_ops;
#define OPS (&zt_mongodb_ops)
#define N(a) (sizeof(a) / sizeof((a)[0]))
#define REQ ZT_MSG_REQUEST
#define RESP ZT_MSG_RESPONSE
#define KEY ZT_PAIR_KEY

static struct ph_msgs got, ref;

static const char *attr(const struct zt_msg *m, const char *k)
{
	for (unsigned i = 0; i < m->attrs.n; i++)
		if (!strcmp(m->attrs.a[i].key, k))
			return m->attrs.a[i].val;
	return "";
}

/* ---- the peer captures ---------------------------------------------- */

static void test_find_op_msg(void **unused)
{
	struct ph_chunk c[] = {{.dir = 0, .data = mv_msg_0, .len = sizeof(mv_msg_0)},
			       {.dir = 1, .data = mv_msg_1, .len = sizeof(mv_msg_1)}};
	ph_check_splits(OPS, c, 2, false, NULL, &ref);
	assert_int_equal(ref.n, 2);
	const struct zt_msg *q = &ref.m[0], *r = &ref.m[1];
	assert_int_equal(q->kind, REQ);
	assert_int_equal(q->pair, KEY);
	assert_int_equal(q->key, 40);
	assert_string_equal(q->request_type, "find");
	assert_string_equal(q->request_resource, "query");
	assert_string_equal(q->request_domain, "sky-test");
	assert_int_equal(q->bytes, 230);
	assert_int_equal(r->kind, RESP);
	assert_int_equal(r->key, 40);
	assert_int_equal(r->status, ZT_RS_OK);
	assert_false(r->flags & ZT_MF_HAS_CODE);
	assert_int_equal(r->bytes, 285);
}

/* mongo.pcap: the mongo shell 4.4 connecting with SCRAM and running its
 * start-up commands, per DeepFlow's mongo.result. */
static void test_shell_session(void **unused)
{
	static const struct {
		const uint8_t *p;
		size_t n;
	} seg[] = {
#define S(i) {mv_all_##i, sizeof(mv_all_##i)}
	    S(0),  S(1),  S(2),	 S(3),	S(4),  S(5),  S(6),  S(7),  S(8),  S(9),
	    S(10), S(11), S(12), S(13), S(14), S(15), S(16), S(17), S(18), S(19),
	    S(20), S(21), S(22), S(23), S(24), S(25), S(26), S(27), S(28), S(29),
#undef S
	};
	static const char *types[] = {"isMaster",	"saslContinue", "saslContinue", "whatsmyuri",
				      "buildinfo",	"getLog",	"isMaster",	"buildInfo",
				      "getCmdLineOpts", "buildInfo",	"isMaster",	"replSetGetStatus",
				      "getLog",		"isMaster",	"endSessions"};
	struct ph_chunk c[N(seg)];
	for (size_t i = 0; i < N(seg); i++)
		c[i] = (struct ph_chunk){.dir = (uint8_t)(i & 1), .data = seg[i].p, .len = seg[i].n};
	ph_run(OPS, c, N(c), &(struct ph_feed){.cut = PH_WHOLE}, &ref);
	assert_int_equal(ref.n, 30);
	for (size_t i = 0; i < 15; i++) {
		const struct zt_msg *q = &ref.m[2 * i], *r = &ref.m[2 * i + 1];
		if (strcmp(q->request_type, types[i]))
			fail_msg("exchange %zu: %s, want %s", i, q->request_type, types[i]);
		assert_int_equal(q->kind, REQ);
		assert_int_equal(r->kind, RESP);
		assert_int_equal(q->key, r->key);
		assert_int_equal(q->key, i == 0 ? 0 : i - 0); /* requestIDs 0, 1, 2... */
		assert_string_equal(q->request_domain,
				    i == 6 || i == 7 || i == 9 || i == 10 || i == 13 ? "test" : "admin");
		assert_int_equal(q->bytes, seg[2 * i].n);
		assert_int_equal(r->bytes, seg[2 * i + 1].n);
		if (i == 11) { /* replSetGetStatus on a standalone */
			assert_int_equal(r->status, ZT_RS_CLIENT_ERROR);
			assert_true(r->flags & ZT_MF_HAS_CODE);
			assert_int_equal(r->response_code, 76);
			assert_string_equal(r->response_exception, "not running with --replSet");
		} else {
			assert_int_equal(r->status, ZT_RS_OK);
			assert_false(r->flags & ZT_MF_HAS_CODE);
		}
	}
	/* the login exchanges, cut every way */
	ph_check_splits(OPS, c, 6, false, NULL, &got);
}

/* ---- hand-built BSON -------------------------------------------------- */

struct buf {
	uint8_t b[4096];
	size_t n;
};

static void put(struct buf *b, const void *p, size_t n)
{
	assert_true(b->n + n <= sizeof(b->b));
	memcpy(b->b + b->n, p, n);
	b->n += n;
}
static void put32(struct buf *b, uint32_t v)
{
	uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	put(b, x, 4);
}
static void set32(struct buf *b, size_t at, uint32_t v)
{
	b->b[at] = (uint8_t)v, b->b[at + 1] = (uint8_t)(v >> 8), b->b[at + 2] = (uint8_t)(v >> 16),
	b->b[at + 3] = (uint8_t)(v >> 24);
}
static size_t doc_begin(struct buf *b)
{
	size_t at = b->n;
	put32(b, 0);
	return at;
}
static void doc_end(struct buf *b, size_t at)
{
	uint8_t z = 0;
	put(b, &z, 1);
	set32(b, at, (uint32_t)(b->n - at));
}
static void el(struct buf *b, uint8_t t, const char *name)
{
	put(b, &t, 1);
	put(b, name, strlen(name) + 1);
}
static void el_str(struct buf *b, const char *name, const char *v)
{
	el(b, 2, name);
	put32(b, (uint32_t)strlen(v) + 1);
	put(b, v, strlen(v) + 1);
}
static void el_i32(struct buf *b, const char *name, int32_t v)
{
	el(b, 16, name);
	put32(b, (uint32_t)v);
}
static void el_dbl(struct buf *b, const char *name, double v)
{
	el(b, 1, name);
	put(b, &v, 8);
}
static void el_bin(struct buf *b, const char *name, const char *v)
{
	uint8_t st = 0;
	el(b, 5, name);
	put32(b, (uint32_t)strlen(v));
	put(b, &st, 1);
	put(b, v, strlen(v));
}

/* MsgHeader + OP_MSG flags + kind 0; the caller writes the body document
 * and calls msg_end. */
static void msg_begin(struct buf *b, uint32_t id, uint32_t resp_to, uint32_t flags)
{
	uint8_t kind = 0;
	b->n = 0;
	put32(b, 0), put32(b, id), put32(b, resp_to), put32(b, 2013), put32(b, flags);
	put(b, &kind, 1);
}
static void msg_end(struct buf *b)
{
	set32(b, 0, (uint32_t)b->n);
}

static void find_req(struct buf *b, uint32_t id, const char *coll, const char *db)
{
	msg_begin(b, id, 0, 0);
	size_t d = doc_begin(b);
	el_str(b, "find", coll);
	size_t f = (el(b, 3, "filter"), doc_begin(b));
	el_i32(b, "x", 1);
	doc_end(b, f);
	el_str(b, "$db", db);
	doc_end(b, d);
	msg_end(b);
}

static void ok_reply(struct buf *b, uint32_t id, uint32_t resp_to, double ok, int n, int code,
		     const char *err)
{
	msg_begin(b, id, resp_to, 0);
	size_t d = doc_begin(b);
	if (n >= 0)
		el_i32(b, "n", n);
	if (code)
		el_i32(b, "code", code), el_str(b, "errmsg", err), el_str(b, "codeName", "X");
	el_dbl(b, "ok", ok);
	doc_end(b, d);
	msg_end(b);
}

void dbg(const struct ph_msgs *o);
void dbg(const struct ph_msgs *o)
{
	for (size_t i = 0; i < o->n; i++)
		printf("%d key=%lu type=%s res=%s st=%d code=%d exc=%s\n", o->m[i].kind,
		       (unsigned long)o->m[i].key, o->m[i].request_type, o->m[i].request_resource,
		       o->m[i].status, o->m[i].response_code, o->m[i].response_exception);
}
static void test_pymongo_like(void **unused)
{
	/* find + reply, a failing command, a pipelined pair answered out of
	 * order, an insert answered with writeErrors */
	struct buf q1, r1, q2, r2, q3, q4, both, r3, r4, q5, r5;
	find_req(&q1, 1, "users", "app");
	ok_reply(&r1, 100, 1, 1.0, -1, 0, NULL);
	find_req(&q2, 2, "nosuch", "app");
	ok_reply(&r2, 101, 2, 0.0, -1, 26, "ns does not exist");
	find_req(&q3, 3, "a", "app");
	find_req(&q4, 4, "b", "app");
	both.n = 0;
	put(&both, q3.b, q3.n), put(&both, q4.b, q4.n);
	ok_reply(&r3, 102, 3, 1.0, -1, 0, NULL);
	ok_reply(&r4, 103, 4, 1.0, 2, 0, NULL);
	msg_begin(&q5, 5, 0, 0);
	size_t d = doc_begin(&q5);
	el_str(&q5, "insert", "users"), el_str(&q5, "$db", "app");
	doc_end(&q5, d);
	msg_end(&q5);
	msg_begin(&r5, 104, 5, 0);
	d = doc_begin(&r5);
	el_i32(&r5, "n", 0);
	size_t we = (el(&r5, 4, "writeErrors"), doc_begin(&r5));
	size_t e0 = (el(&r5, 3, "0"), doc_begin(&r5));
	el_i32(&r5, "index", 0), el_i32(&r5, "code", 11000),
	    el_str(&r5, "errmsg", "E11000 duplicate key error");
	doc_end(&r5, e0);
	doc_end(&r5, we);
	el_dbl(&r5, "ok", 1.0);
	doc_end(&r5, d);
	msg_end(&r5);
	struct ph_chunk c[] = {
	    {.dir = 0, .data = q1.b, .len = q1.n},     {.dir = 1, .data = r1.b, .len = r1.n},
	    {.dir = 0, .data = q2.b, .len = q2.n},     {.dir = 1, .data = r2.b, .len = r2.n},
	    {.dir = 0, .data = both.b, .len = both.n}, {.dir = 1, .data = r4.b, .len = r4.n},
	    {.dir = 1, .data = r3.b, .len = r3.n},     {.dir = 0, .data = q5.b, .len = q5.n},
	    {.dir = 1, .data = r5.b, .len = r5.n},
	};
	ph_check_splits(OPS, c, N(c), false, NULL, &ref);
	assert_int_equal(ref.n, 10);
	const struct zt_msg *m = ref.m;
	assert_string_equal(m[0].request_type, "find");
	assert_string_equal(m[0].request_resource, "users");
	assert_string_equal(m[0].request_domain, "app");
	assert_int_equal(m[1].status, ZT_RS_OK);
	assert_int_equal(m[1].key, 1);
	assert_int_equal(m[3].status, ZT_RS_CLIENT_ERROR);
	assert_int_equal(m[3].response_code, 26);
	assert_string_equal(m[3].response_exception, "ns does not exist");
	assert_int_equal(m[4].key, 3);
	assert_int_equal(m[5].key, 4);
	assert_int_equal(m[6].key, 4); /* r4 first */
	assert_string_equal(attr(&m[6], "mongodb.n"), "2");
	assert_int_equal(m[7].key, 3);
	assert_string_equal(m[8].request_type, "insert");
	assert_int_equal(m[9].status, ZT_RS_CLIENT_ERROR);
	assert_int_equal(m[9].response_code, 11000);
	assert_string_equal(m[9].response_exception, "E11000 duplicate key error");
	assert_string_equal(attr(&m[9], "mongodb.n"), "0");
}

static void test_oneway_and_legacy(void **unused)
{
	/* w:0 insert: moreToCome, no reply; legacy OP_INSERT; OP_COMPRESSED */
	struct buf a, b, z, q, r;
	msg_begin(&a, 9, 0, 2);
	size_t d = doc_begin(&a);
	el_str(&a, "insert", "logs"), el_str(&a, "$db", "app");
	doc_end(&a, d);
	msg_end(&a);
	b.n = 0;
	put32(&b, 0), put32(&b, 10), put32(&b, 0), put32(&b, 2002), put32(&b, 0);
	put(&b, "app.legacy", 11);
	d = doc_begin(&b);
	el_i32(&b, "x", 1);
	doc_end(&b, d);
	set32(&b, 0, (uint32_t)b.n);
	z.n = 0;
	put32(&z, 0), put32(&z, 11), put32(&z, 0), put32(&z, 2012), put32(&z, 2013), put32(&z, 100);
	put(&z, "\x02xxxxxxxxxxxxxx", 15);
	set32(&z, 0, (uint32_t)z.n);
	find_req(&q, 12, "c", "app");
	ok_reply(&r, 200, 12, 1.0, -1, 0, NULL);
	struct ph_chunk c[] = {{.dir = 0, .data = a.b, .len = a.n},
			       {.dir = 0, .data = b.b, .len = b.n},
			       {.dir = 0, .data = z.b, .len = z.n},
			       {.dir = 0, .data = q.b, .len = q.n},
			       {.dir = 1, .data = r.b, .len = r.n}};
	ph_check_splits(OPS, c, N(c), false, NULL, &ref);
	assert_int_equal(ref.n, 5);
	assert_int_equal(ref.m[0].pair, ZT_PAIR_ONEWAY);
	assert_string_equal(ref.m[0].request_type, "insert");
	assert_int_equal(ref.m[1].pair, ZT_PAIR_ONEWAY);
	assert_string_equal(ref.m[1].request_type, "OP_INSERT");
	assert_string_equal(ref.m[1].request_domain, "app");
	assert_string_equal(ref.m[1].request_resource, "legacy");
	assert_int_equal(ref.m[2].pair, KEY);
	assert_string_equal(ref.m[2].request_type, "OP_MSG");
	assert_string_equal(attr(&ref.m[2], "mongodb.compressor"), "zlib");
	assert_int_equal(ref.m[4].key, 12);
}

static int infer_at_guard(const void *p, size_t n, uint16_t port);

static void test_getmore_and_legacy_query(void **unused)
{
	/* getMore names its collection in "collection"; a legacy OP_QUERY on
	 * a collection (not $cmd) answered by an OP_REPLY with QueryFailure */
	struct buf g, gr, q, r;
	msg_begin(&g, 30, 0, 0);
	size_t d = doc_begin(&g);
	el(&g, 18, "getMore");
	uint8_t cid[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	put(&g, cid, 8);
	el_str(&g, "collection", "events"), el_str(&g, "$db", "app");
	doc_end(&g, d);
	msg_end(&g);
	ok_reply(&gr, 300, 30, 1.0, -1, 0, NULL);
	q.n = 0;
	put32(&q, 0), put32(&q, 31), put32(&q, 0), put32(&q, 2004), put32(&q, 0);
	put(&q, "shop.orders", 12);
	put32(&q, 0), put32(&q, 1);
	d = doc_begin(&q);
	el_i32(&q, "id", 5);
	doc_end(&q, d);
	set32(&q, 0, (uint32_t)q.n);
	r.n = 0;
	put32(&r, 0), put32(&r, 301), put32(&r, 31), put32(&r, 1);
	put32(&r, 2), put32(&r, 0), put32(&r, 0), put32(&r, 0), put32(&r, 1); /* QueryFailure */
	d = doc_begin(&r);
	el_str(&r, "$err", "bad query"), el_i32(&r, "code", 2);
	doc_end(&r, d);
	set32(&r, 0, (uint32_t)r.n);
	struct ph_chunk c[] = {{.dir = 0, .data = g.b, .len = g.n},
			       {.dir = 1, .data = gr.b, .len = gr.n},
			       {.dir = 0, .data = q.b, .len = q.n},
			       {.dir = 1, .data = r.b, .len = r.n}};
	ph_check_splits(OPS, c, N(c), false, NULL, &ref);
	assert_int_equal(ref.n, 4);
	assert_string_equal(ref.m[0].request_type, "getMore");
	assert_string_equal(ref.m[0].request_resource, "events");
	assert_string_equal(ref.m[0].request_domain, "app");
	assert_string_equal(ref.m[2].request_type, "OP_QUERY");
	assert_string_equal(ref.m[2].request_resource, "orders");
	assert_string_equal(ref.m[2].request_domain, "shop");
	assert_int_equal(ref.m[3].key, 31);
	assert_int_equal(ref.m[3].status, ZT_RS_CLIENT_ERROR);
	assert_int_equal(ref.m[3].response_code, 2);
	assert_string_equal(ref.m[3].response_exception, "bad query");
}

static void test_sections_and_checksum(void **unused)
{
	/* an insert as drivers send it: a kind-1 "documents" sequence before
	 * the kind-0 body, with checksumPresent and a CRC-32C at the end; a
	 * pwd inside a sequence document is redacted too */
	struct buf q;
	uint8_t one = 1, zero = 0;
	q.n = 0;
	put32(&q, 0), put32(&q, 60), put32(&q, 0), put32(&q, 2013), put32(&q, 1);
	put(&q, &one, 1);
	size_t sl = q.n;
	put32(&q, 0);
	put(&q, "documents", 10);
	size_t d = doc_begin(&q);
	el_str(&q, "user", "bob"), el_str(&q, "pwd", "seqsecret");
	doc_end(&q, d);
	set32(&q, sl, (uint32_t)(q.n - sl));
	put(&q, &zero, 1);
	d = doc_begin(&q);
	el_str(&q, "insert", "accounts"), el_str(&q, "$db", "bank");
	doc_end(&q, d);
	put32(&q, 0xdeadbeef); /* checksum */
	msg_end(&q);
	struct buf r;
	ok_reply(&r, 61, 60, 1.0, 1, 0, NULL);
	struct ph_chunk c[] = {{.dir = 0, .data = q.b, .len = q.n}, {.dir = 1, .data = r.b, .len = r.n}};
	ph_check_splits(OPS, c, N(c), false, NULL, &ref);
	assert_int_equal(ref.n, 2);
	assert_string_equal(ref.m[0].request_type, "insert");
	assert_string_equal(ref.m[0].request_resource, "accounts");
	assert_string_equal(ref.m[0].request_domain, "bank");
	assert_int_equal(ref.m[0].pair, KEY);
	assert_int_equal(ref.m[1].key, 60);
	assert_true(infer_at_guard(q.b, q.n, 0) >= 50);
	uint8_t *p = ph_at_guard(q.b, q.n);
	assert_int_equal(OPS->redact_payload(p, q.n), 9);
	assert_null(memmem(p, q.n, "seqsecret", 9));
	assert_non_null(memmem(p, q.n, "bob", 3));
}

static void test_gaps(void **unused)
{
	/* a 100 KB insert whose documents were not captured: counted, and the
	 * next exchange still parses; a header in a gap loses the framing
	 * until a segment starts a message */
	struct buf q, r, q2, r2;
	msg_begin(&q, 1, 0, 0);
	size_t d = doc_begin(&q);
	el_str(&q, "insert", "big"), el_str(&q, "$db", "app");
	doc_end(&q, d);
	uint8_t one = 1;
	put(&q, &one, 1);
	put32(&q, 100000);
	msg_end(&q);
	set32(&q, 0, (uint32_t)q.n + 100000 - 5);
	ok_reply(&r, 50, 1, 1.0, 1000, 0, NULL);
	find_req(&q2, 2, "after", "app");
	ok_reply(&r2, 51, 2, 1.0, -1, 0, NULL);
	struct ph_chunk c[] = {{.dir = 0, .data = q.b, .len = q.n, .gap = 100000 - 5},
			       {.dir = 1, .data = r.b, .len = r.n},
			       {.dir = 0, .data = q2.b, .len = q2.n},
			       {.dir = 1, .data = r2.b, .len = r2.n}};
	ph_check_splits(OPS, c, N(c), false, NULL, &ref);
	assert_int_equal(ref.n, 4);
	assert_string_equal(ref.m[0].request_type, "insert");
	assert_int_equal(ref.m[0].bytes, q.n + 100000 - 5);
	assert_string_equal(ref.m[2].request_resource, "after");
	assert_int_equal(ref.m[3].key, 2);
	struct ph_chunk lost[] = {{.dir = 0, .data = q2.b, .len = 2, .gap = 5000},
				  {.dir = 0, .data = "garbage!", .len = 8},
				  {.dir = 0, .data = q2.b, .len = q2.n},
				  {.dir = 1, .data = r2.b, .len = r2.n}};
	ph_run(OPS, lost, N(lost), &(struct ph_feed){.cut = PH_WHOLE}, &got);
	assert_int_equal(got.n, 2);
	assert_string_equal(got.m[0].request_resource, "after");
	assert_int_equal(got.m[1].status, ZT_RS_OK);
}

/* ---- inference -------------------------------------------------------- */

static int infer_at_guard(const void *p, size_t n, uint16_t port)
{
	struct zt_infer_hints h = {.l4 = 6, .lport = 40000, .rport = port};
	return OPS->infer(ph_at_guard(p, n), n, &h);
}

static void test_infer(void **unused)
{
	assert_true(infer_at_guard(mv_msg_0, sizeof(mv_msg_0), 0) >= 50);
	assert_int_equal(OPS->first_kind(ph_at_guard(mv_msg_0, sizeof(mv_msg_0)), sizeof(mv_msg_0)), REQ);
	assert_true(infer_at_guard(mv_all_0, sizeof(mv_all_0), 0) >= 50); /* OP_QUERY */
	assert_true(infer_at_guard(mv_all_2, sizeof(mv_all_2), 0) >= 50);
	/* a reply (mid-connection): weaker, but a response */
	assert_true(infer_at_guard(mv_msg_1, sizeof(mv_msg_1), 0) >= 50);
	assert_int_equal(OPS->first_kind(ph_at_guard(mv_msg_1, sizeof(mv_msg_1)), sizeof(mv_msg_1)), RESP);
	assert_true(infer_at_guard(mv_msg_0, sizeof(mv_msg_0), 27017) >
		    infer_at_guard(mv_msg_0, sizeof(mv_msg_0), 0));
	/* a server reading the header alone (mongod does): 16 bytes suffice
	 * for a request, not for a reply */
	assert_true(infer_at_guard(mv_msg_0, 16, 0) >= 50);
	assert_int_equal(OPS->first_kind(ph_at_guard(mv_msg_0, 16), 16), REQ);
	assert_int_equal(infer_at_guard(mv_msg_1, 16, 27017), 0);
	assert_true(infer_at_guard(mv_all_0, 16, 0) >= 50);
	for (size_t k = 0; k < sizeof(mv_msg_0); k++)
		if (k == 16)
			continue;
		else if (k < 21)
			assert_int_equal(infer_at_guard(mv_msg_0, k, 27017), 0);
		else
			(void)infer_at_guard(mv_msg_0, k, 27017);
	static const struct {
		const void *p;
		size_t n;
	} no[] = {{kv_00_produce_v2_0, sizeof(kv_00_produce_v2_0)},
		  {kv_18_api_versions_v3_1, 439},
		  {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27},
		  {"*1\r\n$4\r\nPING\r\n", 14},
		  {"\x00\x00\x00\x25\x00\x03\x00\x00user\x00postgres\x00database\x00postgres\x00\x00", 37}};
	for (size_t i = 0; i < N(no); i++)
		if (infer_at_guard(no[i].p, no[i].n, 27017) >= 50)
			fail_msg("not mongo %zu inferred", i);
	for (size_t i = 0; i < N(foreign_starts); i++)
		for (size_t k = 0; k <= foreign_starts[i].n; k++)
			if (infer_at_guard(foreign_starts[i].p, k, 27017) >= 50)
				fail_msg("%s (%zu bytes) inferred as MongoDB", foreign_starts[i].name, k);
	/* and their bytes are not touched by the redaction */
	for (size_t i = 0; i < N(foreign_starts); i++) {
		uint8_t *p = ph_at_guard(foreign_starts[i].p, foreign_starts[i].n);
		if (OPS->redact_payload(p, foreign_starts[i].n) || memcmp(p, foreign_starts[i].p, foreign_starts[i].n))
			fail_msg("%s redacted", foreign_starts[i].name);
	}
}

/* mongod reads each request as header, then body: the same messages */
static void test_header_reads(void **unused)
{
	struct ph_chunk c[] = {{.dir = 1, .data = mv_msg_0, .len = 16},
			       {.dir = 1, .data = mv_msg_0 + 16, .len = sizeof(mv_msg_0) - 16},
			       {.dir = 0, .data = mv_msg_1, .len = sizeof(mv_msg_1)}};
	ph_check_splits(OPS, c, N(c), false, NULL, &ref);
	assert_int_equal(ref.n, 2);
	assert_int_equal(ref.m[0].kind, REQ);
	assert_int_equal(ref.m[0].dir, ZT_DIR_INGRESS);
	assert_string_equal(ref.m[0].request_type, "find");
	assert_int_equal(ref.m[1].kind, RESP);
	assert_int_equal(ref.m[1].key, 40);
}

static void test_hostile(void **unused)
{
	uint8_t tmp[600];
	for (int v = 0; v < 2; v++) {
		const uint8_t *p = v ? mv_msg_1 : mv_msg_0;
		size_t n = v ? sizeof(mv_msg_1) : sizeof(mv_msg_0);
		for (size_t k = 0; k < n; k++) {
			memcpy(tmp, p, n);
			tmp[k] ^= 0xff;
			struct ph_chunk c[] = {{.dir = 0, .data = tmp, .len = n},
					       {.dir = 1, .data = tmp, .len = n}};
			ph_run(OPS, c, 2, &(struct ph_feed){.cut = PH_WHOLE}, &got);
			(void)infer_at_guard(tmp, n, 0);
			memcpy(tmp, p, n);
			tmp[k] ^= 0xff;
			(void)OPS->redact_payload(ph_at_guard(tmp, n), n);
		}
	}
}

/* ---- redaction -------------------------------------------------------- */

static void test_redact(void **unused)
{
	/* the capture's saslContinue (SCRAM client-final, with its proof) */
	uint8_t *p = ph_at_guard(mv_all_2, sizeof(mv_all_2));
	size_t n = OPS->redact_payload(p, sizeof(mv_all_2));
	assert_true(n > 100);
	assert_null(memmem(p, sizeof(mv_all_2), "p=", 2)); /* the proof */
	assert_non_null(memmem(p, sizeof(mv_all_2), "saslContinue", 12));
	/* and still parses */
	uint8_t copy[sizeof(mv_all_2)];
	memcpy(copy, p, sizeof(copy));
	struct ph_chunk c[] = {{.dir = 0, .data = copy, .len = sizeof(copy)}};
	ph_run(OPS, c, 1, &(struct ph_feed){.cut = PH_WHOLE}, &got);
	assert_int_equal(got.n, 1);
	assert_string_equal(got.m[0].request_type, "saslContinue");
	/* isMaster with speculativeAuthenticate: the nested saslStart payload */
	p = ph_at_guard(mv_all_0, sizeof(mv_all_0));
	assert_true(OPS->redact_payload(p, sizeof(mv_all_0)) > 20);
	assert_null(memmem(p, sizeof(mv_all_0), "biwsbj1", 7)); /* "n,,n=" base64 */
	/* createUser's pwd, in an OP_MSG built here */
	struct buf b;
	msg_begin(&b, 1, 0, 0);
	size_t d = doc_begin(&b);
	el_str(&b, "createUser", "alice"), el_str(&b, "pwd", "hunter2secret");
	el_bin(&b, "payload", "binsecret"), el_str(&b, "$db", "admin");
	doc_end(&b, d);
	msg_end(&b);
	p = ph_at_guard(b.b, b.n);
	assert_int_equal(OPS->redact_payload(p, b.n), 13 + 9);
	assert_null(memmem(p, b.n, "hunter2", 7));
	assert_null(memmem(p, b.n, "binsecret", 9));
	assert_non_null(memmem(p, b.n, "alice", 5));
	/* every prefix at the guard: no read past it */
	for (size_t k = 0; k < b.n; k++)
		(void)OPS->redact_payload(ph_at_guard(b.b, k), k);
	/* the body alone, as mongod reads it after the header */
	p = ph_at_guard(b.b + 16, b.n - 16);
	assert_int_equal(OPS->redact_payload(p, b.n - 16), 13 + 9);
	assert_null(memmem(p, b.n - 16, "hunter2", 7));
	assert_null(memmem(p, b.n - 16, "binsecret", 9));
	/* cut inside the password: what was captured is overwritten */
	size_t at = (size_t)((uint8_t *)memmem(b.b, b.n, "hunter2", 7) - b.b) + 3;
	p = ph_at_guard(b.b + 16, at - 16);
	assert_int_equal(OPS->redact_payload(p, at - 16), 3);
	for (size_t k = 16; k < b.n; k++)
		(void)OPS->redact_payload(ph_at_guard(b.b + 16, k - 16), k - 16);
	/* an ordinary find is left as it was */
	p = ph_at_guard(mv_msg_0, sizeof(mv_msg_0));
	assert_int_equal(OPS->redact_payload(p, sizeof(mv_msg_0)), 0);
}

static void test_ops(void **unused)
{
	assert_ptr_equal(zt_proto_by_id(ZT_L7_MONGODB), OPS);
	assert_ptr_equal(zt_proto_by_name("mongodb"), OPS);
	assert_true(OPS->state_size < 8 * 1024);
	struct zt_msg m;
	char ep[ZT_ENDPOINT_LEN];
	memset(&m, 0, sizeof(m));
	strcpy(m.request_type, "find");
	strcpy(m.request_resource, "users");
	OPS->endpoint(&m, ep, sizeof(ep));
	assert_string_equal(ep, "find users");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ops),
	    cmocka_unit_test(test_find_op_msg),
	    cmocka_unit_test(test_shell_session),
	    cmocka_unit_test(test_pymongo_like),
	    cmocka_unit_test(test_oneway_and_legacy),
	    cmocka_unit_test(test_getmore_and_legacy_query), cmocka_unit_test(test_sections_and_checksum),
	    cmocka_unit_test(test_gaps),
	    cmocka_unit_test(test_infer),
	    cmocka_unit_test(test_header_reads),
	    cmocka_unit_test(test_hostile),
	    cmocka_unit_test(test_redact),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
