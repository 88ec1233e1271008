/* SPDX-License-Identifier: MIT */
/*
 * test_kafka.c - the Kafka parser (src/proto/kafka.c) on real broker and
 * client bytes (the DeepFlow peer captures, kafka_vectors.h) and on
 * hand-built messages for what the captures lack (acks=0, errors, gaps,
 * lost framing, SASL). Every stream goes through parser_harness.h: whole,
 * split in two at every byte, byte by byte, each segment at a guard page.
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
#include "proto/kafka.h"
#include "proto/proto.h"

#include "foreign_starts.h"
#include "kafka_vectors.h"
#include "mongo_vectors.h"

extern const struct zt_proto_ops zt_kafka_ops;
#define OPS (&zt_kafka_ops)
#define A(x) (x), sizeof(x)

static struct ph_msgs got, ref;

/* Expected fields of one message; NULL strings are not checked. */
struct want {
	uint8_t kind, pair, status;
	uint64_t key;
	const char *type, *resource, *version, *client, *exc;
	int code; /* 0: no code */
	uint64_t bytes;
	uint32_t flags; /* besides HAS_CODE */
};

static const char *attr(const struct zt_msg *m, const char *k)
{
	for (unsigned i = 0; i < m->attrs.n; i++)
		if (!strcmp(m->attrs.a[i].key, k))
			return m->attrs.a[i].val;
	return "";
}

static void check_one(const struct zt_msg *m, const struct want *w, size_t i)
{
	if (m->kind != w->kind)
		fail_msg("message %zu: kind %d, want %d", i, m->kind, w->kind);
	assert_int_equal(m->pair, w->pair);
	assert_int_equal(m->key, w->key);
	assert_int_equal(m->bytes, w->bytes);
	assert_int_equal(m->flags & ~(uint32_t)ZT_MF_HAS_CODE, w->flags);
	if (w->type)
		assert_string_equal(m->request_type, w->type);
	if (w->resource)
		assert_string_equal(m->request_resource, w->resource);
	if (w->version)
		assert_string_equal(m->version, w->version);
	if (w->client)
		assert_string_equal(attr(m, "kafka.client_id"), w->client);
	if (w->kind == ZT_MSG_RESPONSE) {
		assert_int_equal(m->status, w->status);
		assert_int_equal((m->flags & ZT_MF_HAS_CODE) != 0, w->code != 0);
		if (w->code)
			assert_int_equal(m->response_code, w->code);
		assert_string_equal(m->response_exception, w->exc ? w->exc : "");
	}
}

/* Whole run checked against want; every other cut must give the same. */
static void check_stream(const struct ph_chunk *c, size_t nc, const struct want *w, size_t nw)
{
	ph_run(OPS, c, nc, &(struct ph_feed){.cut = PH_WHOLE}, &got);
	if (got.n != nw)
		fail_msg("%zu messages, want %zu", got.n, nw);
	for (size_t i = 0; i < nw; i++)
		check_one(&got.m[i], &w[i], i);
	ph_check_splits(OPS, c, nc, false, NULL, &ref);
}

#define EG(x)                                                                                                \
	{                                                                                                    \
		.dir = ZT_DIR_EGRESS, .data = (x), .len = sizeof(x)                                          \
	}
#define IN(x)                                                                                                \
	{                                                                                                    \
		.dir = ZT_DIR_INGRESS, .data = (x), .len = sizeof(x)                                         \
	}
#define N(a) (sizeof(a) / sizeof((a)[0]))
#define REQ ZT_MSG_REQUEST
#define RESP ZT_MSG_RESPONSE
#define KEY ZT_PAIR_KEY

/* ---- the peer captures ---------------------------------------------- */

static void test_produce_v2(void **unused)
{
	struct ph_chunk c[] = {EG(kv_00_produce_v2_0), IN(kv_00_produce_v2_1)};
	struct want w[] = {
	    {.kind = REQ,
	     .pair = KEY,
	     .key = 1,
	     .type = "Produce",
	     .resource = "topic2",
	     .version = "2",
	     .client = "console-producer",
	     .bytes = 121},
	    {.kind = RESP, .pair = KEY, .key = 1, .status = ZT_RS_OK, .bytes = 50},
	};
	check_stream(c, N(c), w, N(w));
}

static void test_produce_v7_python(void **unused)
{
	/* kafka-python, headers carrying sw8; the request is 312 bytes */
	struct ph_chunk c[] = {EG(kv_00_produce_v7_sw8_0), IN(kv_00_produce_v7_sw8_1)};
	struct want w[] = {
	    {.kind = REQ,
	     .pair = KEY,
	     .key = 1,
	     .type = "Produce",
	     .resource = "quickstart-events",
	     .version = "7",
	     .client = "kafka-python-producer-1",
	     .bytes = 312},
	    {.kind = RESP, .pair = KEY, .key = 1, .status = ZT_RS_OK, .bytes = 69},
	};
	check_stream(c, N(c), w, N(w));
}

static void test_produce_v9_flexible(void **unused)
{
	struct ph_chunk c[] = {EG(kv_00_produce_v9_0), IN(kv_00_produce_v9_1)};
	struct want w[] = {
	    {.kind = REQ,
	     .pair = KEY,
	     .key = 0x2f,
	     .type = "Produce",
	     .resource = "zqy-test",
	     .version = "9",
	     .client = "console-producer",
	     .bytes = 156},
	    {.kind = RESP, .pair = KEY, .key = 0x2f, .status = ZT_RS_OK, .bytes = 59},
	};
	check_stream(c, N(c), w, N(w));
}

static void test_fetch_v12(void **unused)
{
	struct ph_chunk c[] = {EG(kv_01_fetch_v12_ok_0), IN(kv_01_fetch_v12_ok_1)};
	struct want w[] = {
	    {.kind = REQ,
	     .pair = KEY,
	     .key = 0x3cf3,
	     .type = "Fetch",
	     .resource = "zqy-test",
	     .version = "12",
	     .client = "consumer-console-consumer-8919-1",
	     .bytes = 120},
	    {.kind = RESP, .pair = KEY, .key = 0x3cf3, .status = ZT_RS_OK, .bytes = 21},
	};
	check_stream(c, N(c), w, N(w));
}

static void test_fetch_v12_error(void **unused)
{
	/* the capture's top-level error code was edited to 0x1400 (5120):
	 * not a code Kafka defines, reported as it is */
	struct ph_chunk c[] = {EG(kv_01_fetch_v12_unknown_0), IN(kv_01_fetch_v12_unknown_1)};
	struct want w[] = {
	    {.kind = REQ, .pair = KEY, .key = 20, .type = "Fetch", .resource = "", .bytes = 77},
	    {.kind = RESP,
	     .pair = KEY,
	     .key = 20,
	     .status = ZT_RS_CLIENT_ERROR,
	     .code = 5120,
	     .exc = "UNKNOWN_ERROR_5120",
	     .bytes = 21},
	};
	check_stream(c, N(c), w, N(w));
}

static void test_group_apis(void **unused)
{
	struct ph_chunk join[] = {EG(kv_11_join_group_v7_0), IN(kv_11_join_group_v7_1)};
	struct want wj[] = {
	    {.kind = REQ,
	     .pair = KEY,
	     .key = 120,
	     .type = "JoinGroup",
	     .resource = "zzzz12",
	     .version = "7",
	     .client = "consumer-zzzz12-1",
	     .bytes = 145},
	    /* DeepFlow reads -1 too: UNKNOWN_SERVER_ERROR, the broker's */
	    {.kind = RESP,
	     .pair = KEY,
	     .key = 120,
	     .status = ZT_RS_SERVER_ERROR,
	     .code = -1,
	     .exc = "UNKNOWN_SERVER_ERROR",
	     .bytes = 79},
	};
	check_stream(join, N(join), wj, N(wj));
	struct ph_chunk leave[] = {EG(kv_13_leave_group_v4_0), IN(kv_13_leave_group_v4_1)};
	struct want wl[] = {
	    {.kind = REQ, .pair = KEY, .key = 0xc9, .type = "LeaveGroup", .resource = "zzzz12", .bytes = 98},
	    {.kind = RESP, .pair = KEY, .key = 0xc9, .status = ZT_RS_OK, .bytes = 76},
	};
	check_stream(leave, N(leave), wl, N(wl));
	struct ph_chunk sync[] = {EG(kv_14_sync_group_v5_0), IN(kv_14_sync_group_v5_1)};
	struct want ws[] = {
	    {.kind = REQ, .pair = KEY, .key = 120, .type = "SyncGroup", .resource = "zzzz12", .bytes = 211},
	    /* -1 as well (DeepFlow agrees) */
	    {.kind = RESP,
	     .pair = KEY,
	     .key = 120,
	     .status = ZT_RS_SERVER_ERROR,
	     .code = -1,
	     .exc = "UNKNOWN_SERVER_ERROR",
	     .bytes = 70},
	};
	check_stream(sync, N(sync), ws, N(ws));
}

static void test_api_versions_v3(void **unused)
{
	/* a flexible request, answered with response header v0 */
	struct ph_chunk c[] = {EG(kv_18_api_versions_v3_0), IN(kv_18_api_versions_v3_1)};
	struct want w[] = {
	    {.kind = REQ,
	     .pair = KEY,
	     .key = 2,
	     .type = "ApiVersions",
	     .resource = "",
	     .version = "3",
	     .client = "adminclient-1",
	     .bytes = 53},
	    {.kind = RESP, .pair = KEY, .key = 2, .status = ZT_RS_OK, .bytes = 439},
	};
	check_stream(c, N(c), w, N(w));
}

/* ---- hand-built messages --------------------------------------------- */

struct buf {
	uint8_t b[2048];
	size_t n;
};

static void put(struct buf *b, const void *p, size_t n)
{
	assert_true(b->n + n <= sizeof(b->b));
	memcpy(b->b + b->n, p, n);
	b->n += n;
}
static void put8(struct buf *b, uint8_t v)
{
	put(b, &v, 1);
}
static void put16(struct buf *b, int v)
{
	uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	put(b, x, 2);
}
static void put32(struct buf *b, uint32_t v)
{
	uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	put(b, x, 4);
}
static void putstr(struct buf *b, const char *s)
{
	put16(b, (int)strlen(s));
	put(b, s, strlen(s));
}
/* sets the size field at 0 from the length */
static void seal(struct buf *b)
{
	uint32_t n = (uint32_t)(b->n - 4);
	b->b[0] = (uint8_t)(n >> 24), b->b[1] = (uint8_t)(n >> 16), b->b[2] = (uint8_t)(n >> 8),
	b->b[3] = (uint8_t)n;
}

/* Produce v3 (kafka-python / kcat style, not flexible). extra: bytes of
 * record batch announced (the caller may leave them to a gap). */
static void produce_v3(struct buf *b, uint32_t corr, int acks, const char *topic, uint32_t extra)
{
	b->n = 0;
	put32(b, 0);
	put16(b, 0), put16(b, 3), put32(b, corr), putstr(b, "rdkafka");
	put16(b, -1);	/* transactional_id null */
	put16(b, acks); /* acks */
	put32(b, 1500); /* timeout */
	put32(b, 1);	/* one topic */
	putstr(b, topic);
	put32(b, 1);	      /* one partition */
	put32(b, 0);	      /* index */
	put32(b, 61 + extra); /* batch size */
	for (int i = 0; i < 61; i++)
		put8(b, (uint8_t)i);
	seal(b);
	uint32_t n = (uint32_t)(b->n - 4 + extra);
	b->b[0] = (uint8_t)(n >> 24), b->b[1] = (uint8_t)(n >> 16), b->b[2] = (uint8_t)(n >> 8),
	b->b[3] = (uint8_t)n;
}

static void produce_v3_resp(struct buf *b, uint32_t corr, const char *topic, int err)
{
	b->n = 0;
	put32(b, 0);
	put32(b, corr);
	put32(b, 1), putstr(b, topic);
	put32(b, 1), put32(b, 0), put16(b, err);
	put32(b, 0), put32(b, 0), put32(b, 0), put32(b, 0); /* base offset, log append time */
	put32(b, 0), put32(b, 0);
	put32(b, 0); /* throttle */
	seal(b);
}

static void test_acks0_oneway(void **unused)
{
	struct buf a, b2, r2;
	produce_v3(&a, 7, 0, "fire", 0);
	produce_v3(&b2, 8, 1, "kept", 0);
	produce_v3_resp(&r2, 8, "kept", 0);
	struct ph_chunk c[] = {{.dir = 0, .data = a.b, .len = a.n},
			       {.dir = 0, .data = b2.b, .len = b2.n},
			       {.dir = 1, .data = r2.b, .len = r2.n}};
	struct want w[] = {
	    {.kind = REQ,
	     .pair = ZT_PAIR_ONEWAY,
	     .key = 7,
	     .type = "Produce",
	     .resource = "fire",
	     .bytes = a.n},
	    {.kind = REQ, .pair = KEY, .key = 8, .type = "Produce", .resource = "kept", .bytes = b2.n},
	    {.kind = RESP, .pair = KEY, .key = 8, .status = ZT_RS_OK, .bytes = r2.n},
	};
	check_stream(c, N(c), w, N(w));
}

static void test_unknown_topic_error(void **unused)
{
	struct buf q, r;
	produce_v3(&q, 9, -1, "nosuch", 0);
	produce_v3_resp(&r, 9, "nosuch", 3);
	struct ph_chunk c[] = {{.dir = 0, .data = q.b, .len = q.n}, {.dir = 1, .data = r.b, .len = r.n}};
	struct want w[] = {
	    {.kind = REQ, .pair = KEY, .key = 9, .type = "Produce", .resource = "nosuch", .bytes = q.n},
	    {.kind = RESP,
	     .pair = KEY,
	     .key = 9,
	     .status = ZT_RS_CLIENT_ERROR,
	     .code = 3,
	     .exc = "UNKNOWN_TOPIC_OR_PARTITION",
	     .bytes = r.n},
	};
	check_stream(c, N(c), w, N(w));
	/* a broker-side error is a server error */
	produce_v3_resp(&r, 9, "nosuch", 6);
	c[1].len = r.n;
	ph_run(OPS, c, N(c), &(struct ph_feed){.cut = PH_WHOLE}, &got);
	assert_int_equal(got.n, 2);
	assert_int_equal(got.m[1].status, ZT_RS_SERVER_ERROR);
	assert_string_equal(got.m[1].response_exception, "NOT_LEADER_OR_FOLLOWER");
}

static void test_pipelined_and_out_of_order(void **unused)
{
	/* two requests in one write; responses paired by correlation id, the
	 * second answered first (the parser must read each one's API) */
	struct buf q1, q2, both, r1, r2;
	produce_v3(&q1, 100, 1, "t1", 0);
	produce_v3(&q2, 101, -1, "t2", 0);
	both.n = 0;
	put(&both, q1.b, q1.n), put(&both, q2.b, q2.n);
	produce_v3_resp(&r1, 100, "t1", 0);
	produce_v3_resp(&r2, 101, "t2", 3);
	struct ph_chunk c[] = {{.dir = 0, .data = both.b, .len = both.n},
			       {.dir = 1, .data = r2.b, .len = r2.n},
			       {.dir = 1, .data = r1.b, .len = r1.n}};
	struct want w[] = {
	    {.kind = REQ, .pair = KEY, .key = 100, .type = "Produce", .resource = "t1", .bytes = q1.n},
	    {.kind = REQ, .pair = KEY, .key = 101, .type = "Produce", .resource = "t2", .bytes = q2.n},
	    {.kind = RESP,
	     .pair = KEY,
	     .key = 101,
	     .status = ZT_RS_CLIENT_ERROR,
	     .code = 3,
	     .exc = "UNKNOWN_TOPIC_OR_PARTITION",
	     .bytes = r2.n},
	    {.kind = RESP, .pair = KEY, .key = 100, .status = ZT_RS_OK, .bytes = r1.n},
	};
	check_stream(c, N(c), w, N(w));
}

static void test_big_batch_in_gap(void **unused)
{
	/* a 200 KB produce: the kernel captured the first bytes only; the
	 * size frames it, the gap is counted, the next message still parses */
	struct buf q, r, q2, r2;
	produce_v3(&q, 5, 1, "big", 200000);
	produce_v3_resp(&r, 5, "big", 0);
	produce_v3(&q2, 6, 1, "small", 0);
	produce_v3_resp(&r2, 6, "small", 0);
	struct ph_chunk c[] = {{.dir = 0, .data = q.b, .len = q.n, .gap = 200000},
			       {.dir = 1, .data = r.b, .len = r.n},
			       {.dir = 0, .data = q2.b, .len = q2.n},
			       {.dir = 1, .data = r2.b, .len = r2.n}};
	struct want w[] = {
	    {.kind = REQ, .pair = KEY, .key = 5, .type = "Produce", .resource = "big", .bytes = q.n + 200000},
	    {.kind = RESP, .pair = KEY, .key = 5, .status = ZT_RS_OK, .bytes = r.n},
	    {.kind = REQ, .pair = KEY, .key = 6, .type = "Produce", .resource = "small", .bytes = q2.n},
	    {.kind = RESP, .pair = KEY, .key = 6, .status = ZT_RS_OK, .bytes = r2.n},
	};
	check_stream(c, N(c), w, N(w));
}

static void test_header_in_gap(void **unused)
{
	/* only the size was captured: a truncated request that cannot pair */
	struct buf q, q0;
	produce_v3(&q0, 4, 1, "first", 0);
	produce_v3(&q, 5, 1, "cut", 0);
	struct ph_chunk c[] = {{.dir = 0, .data = q0.b, .len = q0.n},
			       {.dir = 0, .data = q.b, .len = 6, .gap = q.n - 6}};
	ph_run(OPS, c, 2, &(struct ph_feed){.cut = PH_WHOLE}, &got);
	assert_int_equal(got.n, 2);
	assert_true(got.m[1].flags & ZT_MF_TRUNCATED);
	assert_int_equal(got.m[1].kind, REQ);
	assert_int_equal(got.m[1].bytes, q.n);
	assert_int_equal(got.m[1].key, UINT64_MAX);
	/* as the first message of a connection it tells nothing: dropped */
	ph_run(OPS, c + 1, 1, &(struct ph_feed){.cut = PH_WHOLE}, &got);
	assert_int_equal(got.n, 0);
}

static void test_lost_and_resync(void **unused)
{
	/* the size field falls in a gap: framing is lost until a segment
	 * starts with a request; that one and its response pair again */
	struct buf q, r;
	produce_v3(&q, 42, 1, "again", 0);
	produce_v3_resp(&r, 42, "again", 0);
	struct ph_chunk c[] = {{.dir = 0, .data = NULL, .len = 0, .gap = 3000},
			       {.dir = 0, .data = "\x01\x02\x03junk", .len = 7},
			       {.dir = 0, .data = q.b, .len = q.n},
			       {.dir = 1, .data = r.b, .len = r.n}};
	ph_run(OPS, c, N(c), &(struct ph_feed){.cut = PH_WHOLE}, &got);
	assert_int_equal(got.n, 2);
	assert_int_equal(got.m[0].key, 42);
	assert_string_equal(got.m[0].request_resource, "again");
	assert_int_equal(got.m[1].kind, RESP);
	assert_int_equal(got.m[1].status, ZT_RS_OK);
	/* a size out of bounds loses the framing too: nothing emitted */
	struct ph_chunk bad[] = {
	    {.dir = 0, .data = "\x7f\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x01", .len = 12}};
	ph_run(OPS, bad, 1, &(struct ph_feed){.cut = PH_WHOLE}, &got);
	assert_int_equal(got.n, 0);
}

static void test_orphan_response(void **unused)
{
	/* mid-connection: a response whose request we never saw keeps its key,
	 * without a code (its API is unknown) */
	struct buf q, r;
	produce_v3(&q, 1, 1, "a", 0);
	produce_v3_resp(&r, 77, "a", 3);
	struct ph_chunk c[] = {{.dir = 0, .data = q.b, .len = q.n}, {.dir = 1, .data = r.b, .len = r.n}};
	struct want w[] = {
	    {.kind = REQ, .pair = KEY, .key = 1, .type = "Produce", .bytes = q.n},
	    {.kind = RESP, .pair = KEY, .key = 77, .status = ZT_RS_UNKNOWN, .bytes = r.n},
	};
	check_stream(c, N(c), w, N(w));
}

static void test_metadata_and_apiversions_built(void **unused)
{
	/* Metadata v1 for one topic, its response with the topic's error 3 */
	struct buf q, r;
	q.n = 0;
	put32(&q, 0), put16(&q, 3), put16(&q, 1), put32(&q, 3), putstr(&q, "rdkafka");
	put32(&q, 1), putstr(&q, "orders");
	seal(&q);
	r.n = 0;
	put32(&r, 0), put32(&r, 3);
	put32(&r, 1); /* brokers */
	put32(&r, 0), putstr(&r, "127.0.0.1"), put32(&r, 16801), put16(&r, -1);
	put32(&r, 0);								     /* controller */
	put32(&r, 1), put16(&r, 3), putstr(&r, "orders"), put8(&r, 0), put32(&r, 0); /* topics */
	seal(&r);
	struct ph_chunk c[] = {{.dir = 0, .data = q.b, .len = q.n}, {.dir = 1, .data = r.b, .len = r.n}};
	struct want w[] = {
	    {.kind = REQ,
	     .pair = KEY,
	     .key = 3,
	     .type = "Metadata",
	     .resource = "orders",
	     .version = "1",
	     .client = "rdkafka",
	     .bytes = q.n},
	    {.kind = RESP,
	     .pair = KEY,
	     .key = 3,
	     .status = ZT_RS_CLIENT_ERROR,
	     .code = 3,
	     .exc = "UNKNOWN_TOPIC_OR_PARTITION",
	     .bytes = r.n},
	};
	check_stream(c, N(c), w, N(w));
}

static int infer_at_guard(const void *p, size_t n, uint16_t port);

/* ---- more APIs, table-driven ------------------------------------------ */

/* A request header (api, ver, corr, client "zt") then `body`; a response
 * (corr, plus header tags if flex) then `rbody`. Bodies are hex strings. */
struct api_case {
	const char *name;
	int api, ver;
	bool flex;
	const char *body, *rbody;
	const char *type, *resource;
	int code;
	uint8_t status;
	const char *exc;
};

static const struct api_case api_cases[] = {
    {"FindCoordinator v2: coordinator not available", 10, 2, false, "0003677270" "00",
     "00000000" "000f" "ffff" "ffffffff" "0000" "ffffffff", "FindCoordinator", "grp", 15, ZT_RS_SERVER_ERROR,
     "COORDINATOR_NOT_AVAILABLE"},
    {"Heartbeat v1: rebalance", 12, 1, false, "0003677270" "00000005" "00016d", "00000000" "001b", "Heartbeat",
     "grp", 27, ZT_RS_CLIENT_ERROR, "REBALANCE_IN_PROGRESS"},
    {"Heartbeat v4 (flexible): ok", 12, 4, true, "04677270" "00000005" "026d" "00" "00", "00000000" "0000" "00",
     "Heartbeat", "grp", 0, ZT_RS_OK, NULL},
    {"OffsetCommit v2: unknown member", 8, 2, false,
     "0003677270" "00000005" "00016d" "ffffffffffffffff" "00000001" "00066f7264657273" "00000001" "00000000"
     "0000000000000007" "ffff",
     "00000001" "00066f7264657273" "00000001" "00000000" "0019", "OffsetCommit", "grp", 25, ZT_RS_CLIENT_ERROR,
     "UNKNOWN_MEMBER_ID"},
    {"OffsetFetch v1: ok", 9, 1, false, "0003677270" "00000001" "00066f7264657273" "00000001" "00000000",
     "00000001" "00066f7264657273" "00000001" "00000000" "0000000000000007" "0000" "0000", "OffsetFetch", "grp", 0,
     ZT_RS_OK, NULL},
    {"ListOffsets v1: unknown topic", 2, 1, false,
     "ffffffff" "00000001" "00066f7264657273" "00000001" "00000000" "ffffffffffffffff",
     "00000001" "00066f7264657273" "00000001" "00000000" "0003" "ffffffffffffffff" "ffffffffffffffff",
     "ListOffsets", "orders", 3, ZT_RS_CLIENT_ERROR, "UNKNOWN_TOPIC_OR_PARTITION"},
    {"CreateTopics v2: already exists", 19, 2, false,
     "00000001" "00066f7264657273" "00000001" "0001" "00000000" "00000000" "00007530" "00",
     "00000000" "00000001" "00066f7264657273" "0024" "ffff", "CreateTopics", "orders", 36, ZT_RS_CLIENT_ERROR,
     "TOPIC_ALREADY_EXISTS"},
    {"SaslHandshake v1: unsupported mechanism", 17, 1, false, "00055343524d41", "0021" "00000001" "0005504c41494e",
     "SaslHandshake", "", 33, ZT_RS_CLIENT_ERROR, "UNSUPPORTED_SASL_MECHANISM"},
    {"DescribeConfigs v1: API without error parsing: status unknown", 32, 1, false, "00000000" "00",
     "00000000" "00000000", "DescribeConfigs", "", 0, ZT_RS_UNKNOWN, NULL},
};

static void unhex(struct buf *b, const char *h)
{
	for (; h[0] && h[1]; h += 2) {
		unsigned v;
		assert_int_equal(sscanf(h, "%2x", &v), 1);
		put8(b, (uint8_t)v);
	}
}

static void test_more_apis(void **unused)
{
	for (size_t i = 0; i < N(api_cases); i++) {
		const struct api_case *t = &api_cases[i];
		struct buf q, r;
		q.n = r.n = 0;
		put32(&q, 0), put16(&q, t->api), put16(&q, t->ver), put32(&q, 500 + (uint32_t)i), putstr(&q, "zt");
		if (t->flex)
			put8(&q, 0);
		unhex(&q, t->body);
		seal(&q);
		put32(&r, 0), put32(&r, 500 + (uint32_t)i);
		if (t->flex)
			put8(&r, 0);
		unhex(&r, t->rbody);
		seal(&r);
		struct ph_chunk c[] = {{.dir = 0, .data = q.b, .len = q.n}, {.dir = 1, .data = r.b, .len = r.n}};
		struct want w[] = {
		    {.kind = REQ, .pair = KEY, .key = 500 + i, .type = t->type, .resource = t->resource, .client = "zt",
		     .bytes = q.n},
		    {.kind = RESP, .pair = KEY, .key = 500 + i, .status = t->status, .code = t->code, .exc = t->exc,
		     .bytes = r.n},
		};
		print_message("%s\n", t->name);
		check_stream(c, N(c), w, N(w));
		/* the request alone is a Kafka start */
		assert_true(infer_at_guard(q.b, q.n, 0) >= 50);
	}
}

/* ---- inference ------------------------------------------------------- */

static int infer_at_guard(const void *p, size_t n, uint16_t port)
{
	struct zt_infer_hints h = {.l4 = 6, .dir = 0, .lport = 40000, .rport = port};
	return OPS->infer(ph_at_guard(p, n), n, &h);
}

static void test_infer(void **unused)
{
	static const struct {
		const uint8_t *p;
		size_t n;
	} reqs[] = {{A(kv_00_produce_v2_0)},	{A(kv_00_produce_v7_sw8_0)}, {A(kv_00_produce_v9_0)},
		    {A(kv_01_fetch_v12_ok_0)},	{A(kv_11_join_group_v7_0)},  {A(kv_13_leave_group_v4_0)},
		    {A(kv_14_sync_group_v5_0)}, {A(kv_18_api_versions_v3_0)}};
	static const struct {
		const uint8_t *p;
		size_t n;
	} not_kafka[] = {{A(kv_00_produce_v2_1)},
			 {A(kv_01_fetch_v12_ok_1)},
			 {A(kv_18_api_versions_v3_1)},
			 {A(mv_msg_0)},
			 {A(mv_msg_1)},
			 {A(mv_all_0)}};
	static const char *texts[] = {
	    "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
	    "*1\r\n$4\r\nPING\r\n",
	    /* PostgreSQL StartupMessage: 00 03 00 00 reads as Metadata v0 */
	    "\x00\x00\x00\x25\x00\x03\x00\x00user\x00postgres\x00database\x00postgres\x00\x00",
	    "\x00\x00\x00\x08\x04\xd2\x16\x2f", /* SSLRequest */
	    "\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04\x61\x62\x63\x64",
	};
	for (size_t i = 0; i < N(reqs); i++) {
		int c = infer_at_guard(reqs[i].p, reqs[i].n, 0);
		if (c < 50)
			fail_msg("request %zu: confidence %d", i, c);
		assert_true(infer_at_guard(reqs[i].p, reqs[i].n, 9092) > c);
		assert_int_equal(OPS->first_kind(ph_at_guard(reqs[i].p, reqs[i].n), reqs[i].n), REQ);
		/* every prefix: never a crash, and below 50 until the header is in */
		for (size_t k = 0; k < reqs[i].n; k++) {
			int ck = infer_at_guard(reqs[i].p, k, 9092);
			if (k < 14)
				assert_int_equal(ck, 0);
		}
	}
	for (size_t i = 0; i < N(not_kafka); i++)
		if (infer_at_guard(not_kafka[i].p, not_kafka[i].n, 9092) >= 50)
			fail_msg("not kafka %zu inferred", i);
	for (size_t i = 0; i < N(texts); i++) {
		size_t n = i == 2 ? 37 : i == 3 ? 8 : i == 4 ? 16 : strlen(texts[i]);
		if (infer_at_guard(texts[i], n, 9092) >= 50)
			fail_msg("text %zu inferred as kafka", i);
	}
	assert_int_equal(infer_at_guard("", 0, 9092), 0);
	for (size_t i = 0; i < N(foreign_starts); i++)
		for (size_t k = 0; k <= foreign_starts[i].n; k++)
			if (infer_at_guard(foreign_starts[i].p, k, 9092) >= 50)
				fail_msg("%s (%zu bytes) inferred as Kafka", foreign_starts[i].name, k);
	/* and their bytes are not touched by the redaction */
	for (size_t i = 0; i < N(foreign_starts); i++) {
		uint8_t *p = ph_at_guard(foreign_starts[i].p, foreign_starts[i].n);
		if (OPS->redact_payload(p, foreign_starts[i].n) || memcmp(p, foreign_starts[i].p, foreign_starts[i].n))
			fail_msg("%s redacted", foreign_starts[i].name);
	}
}

/* ---- hostile input ---------------------------------------------------- */

static void test_hostile(void **unused)
{
	/* every vector with every byte flipped, fed whole: no crash, no read
	 * past the guard page, only well-formed messages */
	static const struct {
		const uint8_t *p;
		size_t n;
	} v[] = {{A(kv_00_produce_v9_0)},
		 {A(kv_11_join_group_v7_1)},
		 {A(kv_18_api_versions_v3_1)},
		 {A(kv_01_fetch_v12_ok_0)}};
	uint8_t tmp[512];
	for (size_t i = 0; i < N(v); i++) {
		for (size_t k = 0; k < v[i].n; k++) {
			memcpy(tmp, v[i].p, v[i].n);
			tmp[k] ^= 0xff;
			struct ph_chunk c[] = {{.dir = 0, .data = tmp, .len = v[i].n},
					       {.dir = 1, .data = tmp, .len = v[i].n}};
			ph_run(OPS, c, 2, &(struct ph_feed){.cut = PH_WHOLE}, &got);
			for (size_t j = 0; j < got.n; j++) {
				assert_true(strnlen(got.m[j].request_type, ZT_TYPE_LEN) < ZT_TYPE_LEN);
				assert_true(got.m[j].bytes <= 0x10000000ull);
			}
			(void)infer_at_guard(tmp, v[i].n, 0);
		}
	}
}

/* ---- redaction -------------------------------------------------------- */

static void test_redact(void **unused)
{
	/* SaslAuthenticate v1: auth_bytes "\0alice\0s3cr3t" */
	struct buf q;
	q.n = 0;
	put32(&q, 0), put16(&q, 36), put16(&q, 1), put32(&q, 4), putstr(&q, "rdkafka");
	put32(&q, 13), put(&q, "\0alice\0s3cr3t", 13);
	seal(&q);
	uint8_t *p = ph_at_guard(q.b, q.n);
	size_t n = OPS->redact_payload(p, q.n);
	assert_int_equal(n, 17);
	assert_null(memmem(p, q.n, "s3cr3t", 6));
	assert_memory_equal(p, q.b, q.n - 17); /* the header is kept */
	/* the pipeline still parses it */
	struct ph_chunk c[] = {{.dir = 0, .data = p, .len = q.n}};
	uint8_t copy[256];
	memcpy(copy, p, q.n);
	c[0].data = copy;
	ph_run(OPS, c, 1, &(struct ph_feed){.cut = PH_WHOLE}, &got);
	assert_int_equal(got.n, 1);
	assert_string_equal(got.m[0].request_type, "SaslAuthenticate");
	/* SaslHandshake v0 style: the raw PLAIN token after a size */
	static const uint8_t raw[] = "\x00\x00\x00\x0d\x00"
				     "alice\x00s3cr3t";
	p = ph_at_guard(raw, 17);
	assert_int_equal(OPS->redact_payload(p, 17), 6);
	assert_memory_equal(p + 11, "******", 6);
	/* as a broker reads them: the size alone, then the rest */
	p = ph_at_guard(q.b + 4, q.n - 4);
	assert_int_equal(OPS->redact_payload(p, q.n - 4), 17);
	assert_null(memmem(p, q.n - 4, "s3cr3t", 6));
	p = ph_at_guard(raw + 4, 13);
	assert_int_equal(OPS->redact_payload(p, 13), 6);
	assert_null(memmem(p, 13, "s3cr3t", 6));
	/* text with NULs that is no token is left alone */
	p = ph_at_guard("user\0postgres\0database\0x\0\0", 27);
	assert_int_equal(OPS->redact_payload(p, 27), 0);
	/* other Kafka messages are left alone */
	p = ph_at_guard(kv_00_produce_v9_0, sizeof(kv_00_produce_v9_0));
	assert_int_equal(OPS->redact_payload(p, sizeof(kv_00_produce_v9_0)), 0);
	assert_memory_equal(p, kv_00_produce_v9_0, sizeof(kv_00_produce_v9_0));
	for (size_t k = 0; k < q.n; k++) /* prefixes at the guard */
		(void)OPS->redact_payload(ph_at_guard(q.b, k), k);
}

static void test_error_names(void **unused)
{
	assert_string_equal(zt_kafka_error_name(-1), "UNKNOWN_SERVER_ERROR");
	assert_string_equal(zt_kafka_error_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
	assert_string_equal(zt_kafka_error_name(35), "UNSUPPORTED_VERSION");
	assert_string_equal(zt_kafka_error_name(58), "SASL_AUTHENTICATION_FAILED");
	assert_string_equal(zt_kafka_error_name(79), "MEMBER_ID_REQUIRED");
	assert_string_equal(zt_kafka_error_name(100), "UNKNOWN_TOPIC_ID");
	assert_null(zt_kafka_error_name(-2));
	assert_null(zt_kafka_error_name(5000));
}

static void test_ops(void **unused)
{
	assert_ptr_equal(zt_proto_by_id(ZT_L7_KAFKA), OPS);
	assert_ptr_equal(zt_proto_by_name("kafka"), OPS);
	assert_true(OPS->state_size < 8 * 1024);
	struct zt_msg m;
	char ep[ZT_ENDPOINT_LEN];
	memset(&m, 0, sizeof(m));
	strcpy(m.request_type, "Produce");
	strcpy(m.request_resource, "orders");
	OPS->endpoint(&m, ep, sizeof(ep));
	assert_string_equal(ep, "Produce orders");
	m.request_resource[0] = '\0';
	OPS->endpoint(&m, ep, sizeof(ep));
	assert_string_equal(ep, "Produce");
	OPS->endpoint(&m, ep, 4);
	assert_string_equal(ep, "Pro");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ops),
	    cmocka_unit_test(test_produce_v2),
	    cmocka_unit_test(test_produce_v7_python),
	    cmocka_unit_test(test_produce_v9_flexible),
	    cmocka_unit_test(test_fetch_v12),
	    cmocka_unit_test(test_fetch_v12_error),
	    cmocka_unit_test(test_group_apis),
	    cmocka_unit_test(test_api_versions_v3),
	    cmocka_unit_test(test_acks0_oneway),
	    cmocka_unit_test(test_unknown_topic_error),
	    cmocka_unit_test(test_pipelined_and_out_of_order),
	    cmocka_unit_test(test_big_batch_in_gap),
	    cmocka_unit_test(test_header_in_gap),
	    cmocka_unit_test(test_lost_and_resync),
	    cmocka_unit_test(test_orphan_response),
	    cmocka_unit_test(test_metadata_and_apiversions_built),
	    cmocka_unit_test(test_more_apis),
	    cmocka_unit_test(test_infer),
	    cmocka_unit_test(test_hostile),
	    cmocka_unit_test(test_redact),
	    cmocka_unit_test(test_error_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
