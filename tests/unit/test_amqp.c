/* SPDX-License-Identifier: MIT */
/*
 * test_amqp.c - the AMQP 0-9-1 parser (src/proto/amqp.c) through the shared
 * harness: DeepFlow's real captures (pika against RabbitMQ) and frames built
 * here the way pika and RabbitMQ 3.x write them; every split point, every
 * truncated prefix, content bodies in gaps, lost sync, errors (Channel.Close
 * 404 after a publish, as the answer to a declare; Connection.Close 530 for
 * a missing vhost), inference and redaction. AMQP_DUMP=1 prints messages.
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

#include "amqp_vectors.h"

extern const struct zt_proto_ops zt_amqp_ops;
#define OPS (&zt_amqp_ops)
#define L(s) (sizeof(s) - 1)
#define EG ZT_DIR_EGRESS
#define IN ZT_DIR_INGRESS

static struct ph_msgs ref, got;

static void dump(const struct ph_msgs *o)
{
	if (!getenv("AMQP_DUMP"))
		return;
	for (size_t i = 0; i < o->n; i++) {
		const struct zt_msg *m = &o->m[i];
		printf(
		    "%zu: kind=%u dir=%u pair=%u key=%#llx type=%s dom='%s' res='%s' st=%u code=%d exc='%s' "
		    "bytes=%llu flags=%#x",
		    i, m->kind, m->dir, m->pair, (unsigned long long)m->key, m->request_type,
		    m->request_domain, m->request_resource, m->status,
		    m->flags & ZT_MF_HAS_CODE ? m->response_code : -1, m->response_exception,
		    (unsigned long long)m->bytes, m->flags);
		for (unsigned k = 0; k < m->attrs.n; k++)
			printf(" %s=%s", m->attrs.a[k].key, m->attrs.a[k].val);
		printf("\n");
	}
}

static void run(const struct ph_chunk *c, size_t n, struct ph_msgs *out)
{
	ph_run(OPS, c, n, &(struct ph_feed){.cut = PH_WHOLE, .finish = true}, out);
	dump(out);
}

/* ---- frames ----------------------------------------------------------- */

/* A stream being built: frames appended to buf; chunk() closes a syscall. */
struct stream {
	uint8_t buf[8192];
	size_t len, mark;
	struct ph_chunk c[64];
	size_t nc;
};

static void put(struct stream *s, const void *p, size_t n)
{
	assert_true(s->len + n <= sizeof(s->buf));
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

/* type, channel, payload (n bytes), 0xCE */
static void frame(struct stream *s, uint8_t type, uint16_t ch, const void *payload, size_t n)
{
	uint8_t h[7] = {type,
			(uint8_t)(ch >> 8),
			(uint8_t)ch,
			(uint8_t)(n >> 24),
			(uint8_t)(n >> 16),
			(uint8_t)(n >> 8),
			(uint8_t)n};
	put(s, h, 7);
	put(s, payload, n);
	put(s, "\xce", 1);
}
#define METHOD(s, ch, lit) frame((s), 1, (ch), (lit), L(lit))

/* content header for a body of n bytes (class 60, no properties) */
static void content_header(struct stream *s, uint16_t ch, uint64_t n)
{
	uint8_t p[14] = {0, 60, 0, 0};
	for (int i = 0; i < 8; i++)
		p[4 + i] = (uint8_t)(n >> (56 - 8 * i));
	frame(s, 2, ch, p, 14);
}

static void chunk(struct stream *s, uint8_t dir, uint64_t gap)
{
	assert_true(s->nc < 64);
	s->c[s->nc++] =
	    (struct ph_chunk){.dir = dir, .data = s->buf + s->mark, .len = s->len - s->mark, .gap = gap};
	s->mark = s->len;
}

/* Methods as pika / RabbitMQ write them (payload: class, method, args). */
#define START                                                                                                \
	"\x00\x0a\x00\x0a\x00\x09\x00\x00\x00\x0c\x07productS\x00\x00\x00\x03RMQ\x00\x00\x00\x05PLAIN\x00"   \
	"\x00\x00"                                                                                           \
	"\x05"                                                                                               \
	"en_US"
#define START_OK                                                                                             \
	"\x00\x0a\x00\x0b\x00\x00\x00\x00\x05PLAIN\x00\x00\x00\x16\x00ztuser\x00zt-amqp-s3cret\x05"          \
	"en_US"
#define TUNE "\x00\x0a\x00\x1e\x07\xff\x00\x02\x00\x00\x00\x3c"
#define TUNE_OK "\x00\x0a\x00\x1f\x07\xff\x00\x02\x00\x00\x00\x00"
#define OPEN_VH "\x00\x0a\x00\x28\x01/\x00\x00"
#define OPEN_BAD "\x00\x0a\x00\x28\x04/bad\x00\x00"
#define OPEN_OK "\x00\x0a\x00\x29\x00"
#define CH_OPEN "\x00\x14\x00\x0a\x00"
#define CH_OPEN_OK "\x00\x14\x00\x0b\x00\x00\x00\x00"
#define Q_DECLARE "\x00\x32\x00\x0a\x00\x00\x04zt-q\x00\x00\x00\x00\x00"
#define Q_DECLARE_NW "\x00\x32\x00\x0a\x00\x00\x04zt-q\x10\x00\x00\x00\x00"
#define Q_DECLARE_PASSIVE "\x00\x32\x00\x0a\x00\x00\x04nope\x01\x00\x00\x00\x00"
#define Q_DECLARE_OK "\x00\x32\x00\x0b\x04zt-q\x00\x00\x00\x02\x00\x00\x00\x01"
#define PUBLISH "\x00\x3c\x00\x28\x00\x00\x00\x04zt-q\x00"
#define PUBLISH_MISSING "\x00\x3c\x00\x28\x00\x00\x0azt-missing\x07nowhere\x00"
#define GET "\x00\x3c\x00\x46\x00\x00\x04zt-q\x00"
#define GET_OK "\x00\x3c\x00\x47\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x04zt-q\x00\x00\x00\x00"
#define GET_EMPTY "\x00\x3c\x00\x48\x00"
#define ACK "\x00\x3c\x00\x50\x00\x00\x00\x00\x00\x00\x00\x01\x00"
#define DELIVER                                                                                              \
	"\x00\x3c\x00\x3c\x05"                                                                               \
	"ctag1\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x04zt-q"
#define CLOSE_404                                                                                            \
	"\x00\x14\x00\x28\x01\x94\x31NOT_FOUND - no exchange 'zt-missing' in vhost '/'\x00\x3c\x00\x28"
#define CLOSE_404_Q "\x00\x14\x00\x28\x01\x94\x28NOT_FOUND - no queue 'nope' in vhost '/'\x00\x32\x00\x0a"
#define CH_CLOSE_OK "\x00\x14\x00\x29"
#define CH_CLOSE_200 "\x00\x14\x00\x28\x00\xc8\x0fNormal shutdown\x00\x00\x00\x00\x00"
#define CONN_CLOSE_530 "\x00\x0a\x00\x32\x02\x12\x22NOT_ALLOWED - vhost /bad not found\x00\x0a\x00\x28"
#define CONN_CLOSE_OK "\x00\x0a\x00\x33"

static struct stream S;

/* The pika session of tests/data/proto/amqp/client.py, client side. */
static void build_session(struct stream *s)
{
	memset(s, 0, sizeof(*s));
	put(s, "AMQP\x00\x00\x09\x01", 8);
	chunk(s, EG, 0);
	METHOD(s, 0, START);
	chunk(s, IN, 0);
	METHOD(s, 0, START_OK);
	chunk(s, EG, 0);
	METHOD(s, 0, TUNE);
	chunk(s, IN, 0);
	METHOD(s, 0, TUNE_OK);
	METHOD(s, 0, OPEN_VH);
	chunk(s, EG, 0);
	METHOD(s, 0, OPEN_OK);
	chunk(s, IN, 0);
	METHOD(s, 1, CH_OPEN);
	chunk(s, EG, 0);
	METHOD(s, 1, CH_OPEN_OK);
	chunk(s, IN, 0);
	METHOD(s, 1, Q_DECLARE);
	chunk(s, EG, 0);
	METHOD(s, 1, Q_DECLARE_OK);
	chunk(s, IN, 0);
	/* publish: method, header and body in one write */
	METHOD(s, 1, PUBLISH);
	content_header(s, 1, 9);
	frame(s, 3, 1, "hello one", 9);
	chunk(s, EG, 0);
	METHOD(s, 1, GET);
	chunk(s, EG, 0);
	METHOD(s, 1, GET_OK);
	content_header(s, 1, 9);
	frame(s, 3, 1, "hello one", 9);
	chunk(s, IN, 0);
	METHOD(s, 1, ACK);
	METHOD(s, 1, GET);
	chunk(s, EG, 0);
	METHOD(s, 1, GET_EMPTY);
	chunk(s, IN, 0);
	/* a heartbeat from the broker: ignored */
	put(s, "\x08\x00\x00\x00\x00\x00\x00\xce", 8);
	chunk(s, IN, 0);
	METHOD(s, 1, DELIVER);
	content_header(s, 1, 5);
	frame(s, 3, 1, "three", 5);
	chunk(s, IN, 0);
	METHOD(s, 1, PUBLISH_MISSING);
	content_header(s, 1, 4);
	frame(s, 3, 1, "lost", 4);
	chunk(s, EG, 0);
	METHOD(s, 1, CLOSE_404);
	chunk(s, IN, 0);
	METHOD(s, 1, CH_CLOSE_OK);
	chunk(s, EG, 0);
	METHOD(s, 2, CH_OPEN);
	chunk(s, EG, 0);
	METHOD(s, 2, CH_OPEN_OK);
	chunk(s, IN, 0);
	METHOD(s, 2, Q_DECLARE_PASSIVE);
	chunk(s, EG, 0);
	METHOD(s, 2, CLOSE_404_Q);
	chunk(s, IN, 0);
	METHOD(s, 2, CH_CLOSE_OK);
	chunk(s, EG, 0);
	METHOD(s, 0, "\x00\x0a\x00\x32\x00\xc8\x0fNormal shutdown\x00\x00\x00\x00");
	chunk(s, EG, 0);
	METHOD(s, 0, CONN_CLOSE_OK);
	chunk(s, IN, 0);
}

struct want {
	uint8_t kind, pair, dir;
	const char *type, *res;
	int status, code;
	const char *exc;
};

static void check_msgs(const struct ph_msgs *o, const struct want *w, size_t nw)
{
	if (o->n != nw)
		fail_msg("%zu messages, want %zu", o->n, nw);
	for (size_t i = 0; i < nw; i++) {
		const struct zt_msg *m = &o->m[i];
		if (m->kind != w[i].kind || m->pair != w[i].pair || m->dir != w[i].dir)
			fail_msg("msg %zu (%s): kind/pair/dir %u/%u/%u, want %u/%u/%u", i, m->request_type,
				 m->kind, m->pair, m->dir, w[i].kind, w[i].pair, w[i].dir);
		if (w[i].type && strcmp(m->request_type, w[i].type))
			fail_msg("msg %zu: type '%s', want '%s'", i, m->request_type, w[i].type);
		if (w[i].res && strcmp(m->request_resource, w[i].res))
			fail_msg("msg %zu: resource '%s', want '%s'", i, m->request_resource, w[i].res);
		if (w[i].status >= 0 && m->status != w[i].status)
			fail_msg("msg %zu: status %u, want %d", i, m->status, w[i].status);
		if (w[i].code >= 0 && (!(m->flags & ZT_MF_HAS_CODE) || m->response_code != w[i].code))
			fail_msg("msg %zu: code %d, want %d", i, m->response_code, w[i].code);
		if (w[i].exc && strcmp(m->response_exception, w[i].exc))
			fail_msg("msg %zu: exception '%s', want '%s'", i, m->response_exception, w[i].exc);
	}
}

#define RQ ZT_MSG_REQUEST
#define RS ZT_MSG_RESPONSE
#define K ZT_PAIR_KEY
#define OW ZT_PAIR_ONEWAY

static void test_session(void **st)
{
	static const struct want w[] = {
	    {RQ, K, IN, "Connection.Start", "", -1, -1, NULL},
	    {RS, K, EG, "Connection.Start-Ok", NULL, ZT_RS_OK, -1, ""},
	    {RQ, K, IN, "Connection.Tune", "", -1, -1, NULL},
	    {RS, K, EG, "Connection.Tune-Ok", NULL, ZT_RS_OK, -1, ""},
	    {RQ, K, EG, "Connection.Open", "", -1, -1, NULL},
	    {RS, K, IN, "Connection.Open-Ok", NULL, ZT_RS_OK, -1, ""},
	    {RQ, K, EG, "Channel.Open", "", -1, -1, NULL},
	    {RS, K, IN, "Channel.Open-Ok", NULL, ZT_RS_OK, -1, ""},
	    {RQ, K, EG, "Queue.Declare", "zt-q", -1, -1, NULL},
	    {RS, K, IN, "Queue.Declare-Ok", NULL, ZT_RS_OK, -1, ""},
	    {RQ, OW, EG, "Basic.Publish", "/zt-q", -1, -1, NULL},
	    {RQ, K, EG, "Basic.Get", "zt-q", -1, -1, NULL},
	    {RS, K, IN, "Basic.Get-Ok", NULL, ZT_RS_OK, -1, ""},
	    {RQ, OW, EG, "Basic.Ack", "", -1, -1, NULL},
	    {RQ, K, EG, "Basic.Get", "zt-q", -1, -1, NULL},
	    {RS, K, IN, "Basic.Get-Empty", NULL, ZT_RS_OK, -1, ""},
	    {RQ, OW, IN, "Basic.Deliver", "/zt-q", -1, -1, NULL},
	    {RQ, OW, EG, "Basic.Publish", "zt-missing/nowhere", -1, -1, NULL},
	    /* unsolicited close: a request of the broker naming the failed method */
	    {RQ, K, IN, "Channel.Close", "Basic.Publish", -1, -1, NULL},
	    {RS, K, EG, "Channel.Close-Ok", NULL, ZT_RS_CLIENT_ERROR, 404,
	     "NOT_FOUND - no exchange 'zt-missing' in vhost '/'"},
	    {RQ, K, EG, "Channel.Open", "", -1, -1, NULL},
	    {RS, K, IN, "Channel.Open-Ok", NULL, ZT_RS_OK, -1, ""},
	    {RQ, K, EG, "Queue.Declare", "nope", -1, -1, NULL},
	    /* the close answers the declare; its Close-Ok is consumed */
	    {RS, K, IN, "Channel.Close", NULL, ZT_RS_CLIENT_ERROR, 404,
	     "NOT_FOUND - no queue 'nope' in vhost '/'"},
	    {RQ, K, EG, "Connection.Close", "", -1, -1, NULL},
	    {RS, K, IN, "Connection.Close-Ok", NULL, ZT_RS_OK, 200, ""},
	};
	(void)st;
	build_session(&S);
	run(S.c, S.nc, &ref);
	check_msgs(&ref, w, sizeof(w) / sizeof(w[0]));
	/* keys: each response names its request's channel and direction */
	assert_int_equal(ref.m[0].key, ref.m[1].key);
	assert_int_equal(ref.m[8].key, ref.m[9].key);
	assert_int_equal(ref.m[18].key, ref.m[19].key);
	assert_int_equal(ref.m[22].key, ref.m[23].key);
	assert_int_not_equal(ref.m[0].key, ref.m[4].key);  /* channel 0, other direction */
	assert_int_not_equal(ref.m[8].key, ref.m[22].key); /* channel 1 vs 2 */
	/* the vhost is the domain of everything after Connection.Open */
	assert_string_equal(ref.m[4].request_domain, "/");
	assert_string_equal(ref.m[10].request_domain, "/");
	assert_string_equal(ref.m[0].request_domain, "");
	/* publish and deliver count their content frames */
	assert_int_equal(ref.m[10].bytes, (8 + L(PUBLISH)) + (8 + 14) + (8 + 9));
	assert_int_equal(ref.m[12].bytes, (8 + L(GET_OK)) + (8 + 14) + (8 + 9));
	assert_int_equal(ref.m[16].bytes, (8 + L(DELIVER)) + (8 + 14) + (8 + 5));
	/* Start-Ok: the mechanism and user, never the password */
	assert_string_equal(ref.m[1].attrs.a[0].val, "PLAIN");
	assert_string_equal(ref.m[1].attrs.a[1].val, "ztuser");
	assert_null(memmem(ref.m, sizeof(ref.m[0]) * ref.n, "s3cret", 6));
	assert_string_equal(ref.m[9].attrs.a[0].val, "2"); /* message count */
	for (size_t i = 0; i < ref.n; i++) {
		assert_string_equal(ref.m[i].version, "0-9-1");
		assert_int_equal(ref.m[i].flags & (ZT_MF_TRUNCATED | ZT_MF_LOST_SYNC), 0);
	}
	ph_check_splits(OPS, S.c, S.nc, true, NULL, &ref);
}

/* A missing vhost: RabbitMQ answers Connection.Open with Connection.Close
 * 530 (as in DeepFlow's amqp-error capture). */
static void test_bad_vhost(void **st)
{
	static const struct want w[] = {
	    {RQ, K, EG, "Connection.Open", "", -1, -1, NULL},
	    {RS, K, IN, "Connection.Close", NULL, ZT_RS_CLIENT_ERROR, 530,
	     "NOT_ALLOWED - vhost /bad not found"},
	};
	(void)st;
	memset(&S, 0, sizeof(S));
	METHOD(&S, 0, OPEN_BAD);
	chunk(&S, EG, 0);
	METHOD(&S, 0, CONN_CLOSE_530);
	chunk(&S, IN, 0);
	METHOD(&S, 0, CONN_CLOSE_OK);
	chunk(&S, EG, 0);
	run(S.c, S.nc, &ref);
	check_msgs(&ref, w, 2);
	assert_string_equal(ref.m[0].request_domain, "/bad");
	assert_int_equal(ref.m[0].key, ref.m[1].key);
	ph_check_splits(OPS, S.c, S.nc, true, NULL, &ref);
}

/* nowait declares expect nothing: one-way */
static void test_nowait(void **st)
{
	(void)st;
	memset(&S, 0, sizeof(S));
	METHOD(&S, 1, Q_DECLARE_NW);
	METHOD(&S, 1, CH_CLOSE_200);
	chunk(&S, EG, 0);
	METHOD(&S, 1, CH_CLOSE_OK);
	chunk(&S, IN, 0);
	run(S.c, S.nc, &ref);
	assert_int_equal(ref.n, 3);
	assert_int_equal(ref.m[0].pair, ZT_PAIR_ONEWAY);
	assert_string_equal(ref.m[1].request_type, "Channel.Close");
	assert_int_equal(ref.m[2].status, ZT_RS_OK);
	assert_int_equal(ref.m[2].response_code, 200);
	assert_string_equal(ref.m[2].response_exception, "");
}

/* A body larger than the capture: gap bytes, the publish still ends at its
 * last body byte and the next method is found by the frame sizes. */
static void test_big_body(void **st)
{
	static uint8_t body[3000];
	(void)st;
	memset(&S, 0, sizeof(S));
	memset(body, 'x', sizeof(body));
	METHOD(&S, 1, PUBLISH);
	content_header(&S, 1, 100000);
	/* body frame of 100000 bytes: 3000 captured, the rest a gap */
	uint8_t h[7] = {3, 0, 1, 0, 0x01, 0x86, 0xa0};
	put(&S, h, 7);
	put(&S, body, sizeof(body));
	chunk(&S, EG, 100000 - 3000 + 1);
	METHOD(&S, 1, GET);
	chunk(&S, EG, 0);
	METHOD(&S, 1, GET_EMPTY);
	chunk(&S, IN, 0);
	run(S.c, S.nc, &ref);
	assert_int_equal(ref.n, 3);
	assert_string_equal(ref.m[0].request_type, "Basic.Publish");
	assert_int_equal(ref.m[0].bytes, (8 + L(PUBLISH)) + (8 + 14) + (8 + 100000));
	assert_int_equal(ref.m[0].flags & ZT_MF_TRUNCATED, 0);
	assert_int_equal(ref.m[0].end_ns, ph_exit_ns(0));
	assert_string_equal(ref.m[1].request_type, "Basic.Get");
	assert_int_equal(ref.m[1].flags & ZT_MF_LOST_SYNC, 0);
	ph_check_splits(OPS, S.c, S.nc, true, NULL, &ref);

	/* a body cut in frames of frame_max (4096 negotiated by Tune-Ok): one
	 * write carries them all, the capture ends in the first, so the other
	 * frame headers are in the gap and are predicted from the sizes */
	memset(&S, 0, sizeof(S));
	METHOD(&S, 0, "\x00\x0a\x00\x1f\x07\xff\x00\x00\x10\x00\x00\x00"); /* Tune-Ok 4096 */
	chunk(&S, EG, 0);
	METHOD(&S, 1, PUBLISH);
	content_header(&S, 1, 10000);
	uint8_t h2[7] = {3, 0, 1, 0, 0, 0x0f, 0xf8}; /* 4088 */
	put(&S, h2, 7);
	put(&S, body, 100);
	chunk(&S, EG, (4088 - 100 + 1) + (8 + 4088) + (8 + 1824));
	METHOD(&S, 1, GET);
	chunk(&S, EG, 0);
	run(S.c, S.nc, &ref);
	assert_int_equal(ref.n, 3);
	assert_string_equal(ref.m[1].request_type, "Basic.Publish");
	assert_int_equal(ref.m[1].bytes, (8 + L(PUBLISH)) + (8 + 14) + 3 * 8 + 10000);
	assert_int_equal(ref.m[1].flags & (ZT_MF_TRUNCATED | ZT_MF_LOST_SYNC), 0);
	assert_string_equal(ref.m[2].request_type, "Basic.Get");
	assert_int_equal(ref.m[2].flags & ZT_MF_LOST_SYNC, 0);
	ph_check_splits(OPS, S.c, S.nc, true, NULL, &ref);
	/* without a known frame_max the framing is lost: the publish is cut */
	run(S.c + 1, S.nc - 1, &ref);
	assert_int_equal(ref.n, 2);
	assert_true(ref.m[0].flags & ZT_MF_TRUNCATED);
	assert_true(ref.m[1].flags & ZT_MF_LOST_SYNC);

	/* the content spread over several writes: the publish ends with the
	 * last body frame */
	memset(&S, 0, sizeof(S));
	METHOD(&S, 1, PUBLISH);
	chunk(&S, EG, 0);
	content_header(&S, 1, 8);
	chunk(&S, EG, 0);
	frame(&S, 3, 1, "abcd", 4);
	chunk(&S, EG, 0);
	frame(&S, 3, 1, "efgh", 4);
	chunk(&S, EG, 0);
	run(S.c, S.nc, &ref);
	assert_int_equal(ref.n, 1);
	assert_int_equal(ref.m[0].start_ns, ph_enter_ns(0));
	assert_int_equal(ref.m[0].end_ns, ph_exit_ns(3));
	assert_int_equal(ref.m[0].bytes, (8 + L(PUBLISH)) + 22 + 12 + 12);
	/* the close cuts a content: the publish is still reported, truncated */
	S.nc = 2;
	run(S.c, S.nc, &ref);
	assert_int_equal(ref.n, 1);
	assert_true(ref.m[0].flags & ZT_MF_TRUNCATED);
}

static void test_lost_sync(void **st)
{
	(void)st;
	memset(&S, 0, sizeof(S));
	METHOD(&S, 1, GET);
	S.buf[S.len - 1] = 0x00; /* wrong end octet */
	METHOD(&S, 1, GET);
	chunk(&S, EG, 0);
	METHOD(&S, 1, GET_EMPTY);
	chunk(&S, IN, 0);
	METHOD(&S, 1, GET);
	chunk(&S, EG, 0);
	run(S.c, S.nc, &ref);
	/* the bad frame and the rest of its segment are dropped; the next
	 * segment that starts with a frame resynchronises */
	assert_int_equal(ref.n, 2);
	assert_string_equal(ref.m[0].request_type, "Basic.Get-Empty");
	assert_string_equal(ref.m[1].request_type, "Basic.Get");
	assert_true(ref.m[1].flags & ZT_MF_LOST_SYNC);

	/* a frame header cut by a gap */
	memset(&S, 0, sizeof(S));
	METHOD(&S, 1, GET);
	put(&S, "\x01\x00", 2);
	chunk(&S, EG, 30);
	put(&S, "garbage", 7);
	chunk(&S, EG, 0);
	METHOD(&S, 1, GET);
	chunk(&S, EG, 0);
	run(S.c, S.nc, &ref);
	assert_int_equal(ref.n, 2);
	assert_true(ref.m[1].flags & ZT_MF_LOST_SYNC);
	/* an oversized frame */
	memset(&S, 0, sizeof(S));
	put(&S, "\x01\x00\x01\x7f\xff\xff\xff", 7);
	chunk(&S, EG, 0);
	run(S.c, S.nc, &ref);
	assert_int_equal(ref.n, 0);
}

/* Real captures: pika against RabbitMQ (DeepFlow's amqp1, amqp-error). */
static void test_peer_captures(void **st)
{
	size_t n_pika = sizeof(am_pika) / sizeof(am_pika[0]), n_err = sizeof(am_err) / sizeof(am_err[0]);
	(void)st;
	run(am_pika, n_pika, &ref);
	assert_true(ref.n >= 10);
	assert_string_equal(ref.m[0].request_type, "Connection.Start");
	assert_string_equal(ref.m[1].request_type, "Connection.Start-Ok");
	size_t decl = 0, pub = 0;
	for (size_t i = 0; i < ref.n; i++) {
		decl += !strcmp(ref.m[i].request_type, "Queue.Declare") &&
			!strcmp(ref.m[i].request_resource, "hello");
		pub += !strcmp(ref.m[i].request_type, "Basic.Publish");
		assert_int_equal(ref.m[i].flags & (ZT_MF_TRUNCATED | ZT_MF_LOST_SYNC), 0);
	}
	assert_int_equal(decl, 2); /* two connections, one after the other: DeepFlow counts 2 too */
	assert_true(pub >= 1);
	ph_check_splits(OPS, am_pika, n_pika, true, NULL, &ref);

	run(am_err, n_err, &ref);
	/* connections to a missing vhost (530), and an Exchange.Declare with
	 * another type (406, answered by Channel.Close) */
	size_t e530 = 0, e406 = 0;
	for (size_t i = 0; i < ref.n; i++) {
		if (ref.m[i].status != ZT_RS_CLIENT_ERROR)
			continue;
		if (ref.m[i].response_code == 530) {
			e530++;
			assert_string_equal(ref.m[i].response_exception,
					    "NOT_ALLOWED - vhost /bad not found");
			assert_string_equal(ref.m[i].request_type, "Connection.Close");
			assert_int_equal(ref.m[i].kind, ZT_MSG_RESPONSE);
		} else {
			assert_int_equal(ref.m[i].response_code, 406);
			assert_true(!strncmp(ref.m[i].response_exception,
					     "PRECONDITION_FAILED - inequivalent arg", 38));
			e406++;
		}
	}
	assert_true(e530 >= 2);
	assert_true(e406 >= 1);
	ph_check_splits(OPS, am_err, n_err, true, NULL, &ref);
}

static void test_prefixes(void **st)
{
	(void)st;
	build_session(&S);
	/* the whole client side as one segment, cut at every length */
	static uint8_t all[8192];
	size_t n = 0;
	for (size_t i = 0; i < S.nc; i++)
		if (S.c[i].dir == EG) {
			memcpy(all + n, S.c[i].data, S.c[i].len);
			n += S.c[i].len;
		}
	struct ph_chunk c = {.dir = EG, .data = all, .len = n};
	ph_run(OPS, &c, 1, &(struct ph_feed){.finish = true}, &ref);
	assert_true(ref.n >= 10);
	for (size_t k = 0; k < n; k++) {
		c.len = k;
		ph_run(OPS, &c, 1, &(struct ph_feed){.finish = true}, &got);
		assert_true(got.n <= ref.n);
		for (size_t i = 0; i + 1 < got.n; i++) /* the last may be a content cut short */
			assert_memory_equal(&got.m[i], &ref.m[i], sizeof(got.m[i]));
	}
}

static void test_infer(void **st)
{
	struct zt_infer_hints h = {.l4 = 6, .lport = 40000, .rport = 16720};
	struct zt_infer_hints hp = {.l4 = 6, .lport = 40000, .rport = 5672};
	(void)st;
#define INF(s, n, hh) OPS->infer((const uint8_t *)(s), (n), &(hh))
	assert_int_equal(INF("AMQP\x00\x00\x09\x01", 8, h), 95);
	assert_int_equal(INF("AMQP\x00\x00\x09\x01", 8, ((struct zt_infer_hints){.l4 = 17})), 0);
	assert_int_equal(INF("AMQP\x01\x01\x00\x0a", 8, hp), 0); /* 0-10 */
	assert_int_equal(INF("AMQP\x00\x01\x00\x00", 8, hp), 0); /* 1.0 */
	memset(&S, 0, sizeof(S));
	METHOD(&S, 1, GET);
	assert_int_equal(INF(S.buf, S.len, h), 80); /* mid-connection */
	assert_int_equal(OPS->first_kind(S.buf, S.len), ZT_MSG_REQUEST);
	assert_int_equal(INF(S.buf, S.len - 1, h), 0); /* end octet missing */
	memset(&S, 0, sizeof(S));
	METHOD(&S, 0, START);
	assert_int_equal(OPS->first_kind(S.buf, S.len), ZT_MSG_RESPONSE); /* the broker's */
	memset(&S, 0, sizeof(S));
	METHOD(&S, 1, "\x00\x63\x00\x63"); /* unknown method */
	assert_int_equal(INF(S.buf, S.len, hp), 0);
	assert_true(INF("\x08\x00\x00\x00\x00\x00\x00\xce", 8, h) < 50);
	assert_int_equal(INF("GET / HTTP/1.1\r\n\r\n", 18, hp), 0);
	assert_int_equal(INF("\x10\x28\x00\x04MQTT\x04\xc2", 10, hp), 0);
	assert_int_equal(INF("", 0, hp), 0);
	assert_int_equal(OPS->first_kind((const uint8_t *)"AMQP\x00\x00\x09\x01", 8), ZT_MSG_REQUEST);
	for (size_t k = 0; k <= 8; k++)
		OPS->infer(ph_at_guard("AMQP\x00\x00\x09\x01", k), k, &h);
#undef INF
}

static void test_redact(void **st)
{
	(void)st;
	memset(&S, 0, sizeof(S));
	METHOD(&S, 0, START_OK);
	uint8_t *b = S.buf;
	size_t n = S.len;
	/* PLAIN: "\0ztuser\0" kept, the password starred, length the same */
	assert_int_equal(OPS->redact_payload(b, n), 14);
	assert_null(memmem(b, n, "s3cret", 6));
	assert_non_null(memmem(b, n,
			       "\0ztuser\0**************\x05"
			       "en_US",
			       28));
	/* Secure-Ok: the whole response */
	memset(&S, 0, sizeof(S));
	METHOD(&S, 0, "\x00\x0a\x00\x15\x00\x00\x00\x06secret");
	assert_int_equal(OPS->redact_payload(S.buf, S.len), 6);
	assert_null(memmem(S.buf, S.len, "secret", 6));
	/* a capture cut inside the response: what is there goes */
	memset(&S, 0, sizeof(S));
	METHOD(&S, 0, START_OK);
	assert_int_equal(OPS->redact_payload(ph_at_guard(S.buf, S.len - 12), S.len - 12), 9);
	/* Start-Ok after other frames in one write */
	memset(&S, 0, sizeof(S));
	put(&S, "AMQP\x00\x00\x09\x01", 8);
	METHOD(&S, 0, START_OK);
	assert_int_equal(OPS->redact_payload(S.buf, S.len), 14);
	/* other methods and protocols: untouched */
	memset(&S, 0, sizeof(S));
	METHOD(&S, 0, START);
	uint8_t copy[256];
	memcpy(copy, S.buf, S.len);
	assert_int_equal(OPS->redact_payload(S.buf, S.len), 0);
	assert_memory_equal(copy, S.buf, S.len);
	/* every prefix at the guard page */
	memset(&S, 0, sizeof(S));
	METHOD(&S, 0, START_OK);
	for (size_t k = 0; k <= S.len; k++)
		OPS->redact_payload(ph_at_guard(S.buf, k), k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_session),   cmocka_unit_test(test_bad_vhost),
	    cmocka_unit_test(test_nowait),    cmocka_unit_test(test_big_body),
	    cmocka_unit_test(test_lost_sync), cmocka_unit_test(test_peer_captures),
	    cmocka_unit_test(test_prefixes),  cmocka_unit_test(test_infer),
	    cmocka_unit_test(test_redact),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
