/* SPDX-License-Identifier: MIT */
/*
 * test_mqtt.c - the MQTT parser (src/proto/mqtt.c) through the shared
 * harness: DeepFlow's real captures and hand-made MQTT 3.1.1 / 5.0 packets,
 * every split point, every truncated prefix, gaps, pipelining, errors,
 * inference and redaction. MQTT_DUMP=1 prints the messages of each run.
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

#include "mqtt_vectors.h"

extern const struct zt_proto_ops zt_mqtt_ops;
#define OPS (&zt_mqtt_ops)
#define L(s) (sizeof(s) - 1)
#define EG ZT_DIR_EGRESS
#define IN ZT_DIR_INGRESS
#define CH(d, s)                                                                                             \
	{                                                                                                    \
		.dir = (d), .data = (s), .len = L(s)                                                         \
	}

static struct ph_msgs ref, got;

static void dump(const struct ph_msgs *o)
{
	if (!getenv("MQTT_DUMP"))
		return;
	for (size_t i = 0; i < o->n; i++) {
		const struct zt_msg *m = &o->m[i];
		printf("%zu: kind=%u dir=%u pair=%u key=%#llx type=%s res='%s' st=%u code=%d exc='%s' "
		       "bytes=%llu "
		       "flags=%#x ver=%s seq=%u",
		       i, m->kind, m->dir, m->pair, (unsigned long long)m->key, m->request_type,
		       m->request_resource, m->status, m->flags & ZT_MF_HAS_CODE ? m->response_code : -1,
		       m->response_exception, (unsigned long long)m->bytes, m->flags, m->version, m->seq);
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

/* What one message must say; NULL / -1: not checked. */
struct want {
	uint8_t kind, pair, dir;
	const char *type, *res;
	int status; /* -1: not checked */
	int code;   /* -2: no code */
	const char *exc;
	uint64_t bytes;
	uint32_t flags; /* these must be set */
};

static void check_msgs(const struct ph_msgs *o, const struct want *w, size_t nw)
{
	if (o->n != nw)
		fail_msg("%zu messages, want %zu", o->n, nw);
	for (size_t i = 0; i < nw; i++) {
		const struct zt_msg *m = &o->m[i];
		if (m->kind != w[i].kind || m->pair != w[i].pair || m->dir != w[i].dir)
			fail_msg("msg %zu: kind/pair/dir %u/%u/%u, want %u/%u/%u", i, m->kind, m->pair,
				 m->dir, w[i].kind, w[i].pair, w[i].dir);
		if (w[i].type && strcmp(m->request_type, w[i].type))
			fail_msg("msg %zu: type '%s', want '%s'", i, m->request_type, w[i].type);
		if (w[i].res && strcmp(m->request_resource, w[i].res))
			fail_msg("msg %zu: resource '%s', want '%s'", i, m->request_resource, w[i].res);
		if (w[i].status >= 0 && m->status != w[i].status)
			fail_msg("msg %zu: status %u, want %d", i, m->status, w[i].status);
		if (w[i].code == -2 && (m->flags & ZT_MF_HAS_CODE))
			fail_msg("msg %zu: has code %d", i, m->response_code);
		if (w[i].code >= 0 && (!(m->flags & ZT_MF_HAS_CODE) || m->response_code != w[i].code))
			fail_msg("msg %zu: code %d, want %d", i, m->response_code, w[i].code);
		if (w[i].exc && strcmp(m->response_exception, w[i].exc))
			fail_msg("msg %zu: exception '%s', want '%s'", i, m->response_exception, w[i].exc);
		if (w[i].bytes && m->bytes != w[i].bytes)
			fail_msg("msg %zu: bytes %llu, want %llu", i, (unsigned long long)m->bytes,
				 (unsigned long long)w[i].bytes);
		if ((m->flags & w[i].flags) != w[i].flags)
			fail_msg("msg %zu: flags %#x, want %#x set", i, m->flags, w[i].flags);
	}
}

/* Each request of kind KEY is answered by exactly one response of its key
 * (the session pairs by it). */
static void check_pairs(const struct ph_msgs *o, size_t want_pairs)
{
	size_t pairs = 0;
	for (size_t i = 0; i < o->n; i++) {
		if (o->m[i].kind != ZT_MSG_RESPONSE)
			continue;
		size_t k = 0;
		for (size_t j = 0; j < i; j++)
			if (o->m[j].kind == ZT_MSG_REQUEST && o->m[j].pair == ZT_PAIR_KEY &&
			    o->m[j].key == o->m[i].key)
				k++;
		assert_true(k >= 1);
		pairs++;
	}
	assert_int_equal(pairs, want_pairs);
}

/* ---- hand-made packets (from mosquitto 2.0.11 recordings) ------------- */

/* CONNECT 3.1.1, clean session, user + password, client id zt-sub */
#define V4_CONNECT "\x10\x28\x00\x04MQTT\x04\xc2\x00\x3c\x00\x06zt-sub\x00\x06ztuser\x00\x0czt-s3cret-pw"
#define V4_CONNACK_OK "\x20\x02\x00\x00"
#define V4_CONNACK_5 "\x20\x02\x00\x05"
#define SUB_1 "\x82\x09\x00\x01\x00\x04zt/#\x01"
#define SUBACK_1 "\x90\x03\x00\x01\x01"
#define SUBACK_FAIL "\x90\x03\x00\x02\x80"
#define SUB_2 "\x82\x09\x00\x02\x00\x04zt/x\x01"
#define PUB0 "\x30\x0c\x00\x05zt/q0hello"
#define PUB1 "\x32\x0e\x00\x05zt/q1\x00\x07hello"
#define PUBACK7 "\x40\x02\x00\x07"
#define PUB2 "\x34\x0e\x00\x05zt/q2\x00\x08hello"
#define PUBREC8 "\x50\x02\x00\x08"
#define PUBREL8 "\x62\x02\x00\x08"
#define PUBCOMP8 "\x70\x02\x00\x08"
#define PINGREQ "\xc0\x00"
#define PINGRESP "\xd0\x00"
#define DISC "\xe0\x00"
#define UNSUB "\xa2\x08\x00\x03\x00\x04zt/#"
#define UNSUBACK "\xb0\x02\x00\x03"

static void test_v311_session(void **st)
{
	static const struct ph_chunk c[] = {
	    CH(EG, V4_CONNECT), CH(IN, V4_CONNACK_OK), CH(EG, SUB_1),	 CH(IN, SUBACK_1),
	    CH(EG, PUB0),	CH(EG, PUB1),	       CH(IN, PUBACK7),	 CH(EG, PUB2),
	    CH(IN, PUBREC8),	CH(EG, PUBREL8),       CH(IN, PUBCOMP8), CH(EG, PINGREQ),
	    CH(IN, PINGRESP),	CH(EG, UNSUB),	       CH(IN, UNSUBACK), CH(EG, DISC),
	};
	static const struct want w[] = {
	    {ZT_MSG_REQUEST, ZT_PAIR_KEY, EG, "CONNECT", "zt-sub", -1, -2, "", L(V4_CONNECT), 0},
	    {ZT_MSG_RESPONSE, ZT_PAIR_KEY, IN, "CONNACK", NULL, ZT_RS_OK, 0, "", 4, 0},
	    {ZT_MSG_REQUEST, ZT_PAIR_KEY, EG, "SUBSCRIBE", "zt/#", -1, -2, "", 11, 0},
	    {ZT_MSG_RESPONSE, ZT_PAIR_KEY, IN, "SUBACK", NULL, ZT_RS_OK, 1, "", 5, 0},
	    {ZT_MSG_REQUEST, ZT_PAIR_ONEWAY, EG, "PUBLISH", "zt/q0", -1, -2, "", L(PUB0), 0},
	    {ZT_MSG_REQUEST, ZT_PAIR_KEY, EG, "PUBLISH", "zt/q1", -1, -2, "", L(PUB1), 0},
	    {ZT_MSG_RESPONSE, ZT_PAIR_KEY, IN, "PUBACK", NULL, ZT_RS_OK, -2, "", 4, 0},
	    {ZT_MSG_REQUEST, ZT_PAIR_KEY, EG, "PUBLISH", "zt/q2", -1, -2, "", L(PUB2), 0},
	    /* PUBREC, PUBREL: inside the QoS 2 span */
	    {ZT_MSG_RESPONSE, ZT_PAIR_KEY, IN, "PUBCOMP", NULL, ZT_RS_OK, -2, "", 4, 0},
	    {ZT_MSG_REQUEST, ZT_PAIR_KEY, EG, "PINGREQ", "", -1, -2, "", 2, 0},
	    {ZT_MSG_RESPONSE, ZT_PAIR_KEY, IN, "PINGRESP", NULL, ZT_RS_OK, -2, "", 2, 0},
	    {ZT_MSG_REQUEST, ZT_PAIR_KEY, EG, "UNSUBSCRIBE", "zt/#", -1, -2, "", L(UNSUB), 0},
	    {ZT_MSG_RESPONSE, ZT_PAIR_KEY, IN, "UNSUBACK", NULL, ZT_RS_OK, -2, "", 4, 0},
	    {ZT_MSG_REQUEST, ZT_PAIR_ONEWAY, EG, "DISCONNECT", "", -1, -2, "", 2, 0},
	};
	(void)st;
	run(c, sizeof(c) / sizeof(c[0]), &ref);
	check_msgs(&ref, w, sizeof(w) / sizeof(w[0]));
	check_pairs(&ref, 6);
	/* the PUBLISH QoS 2 pairs with the PUBCOMP, not with the QoS 1 ack */
	assert_int_equal(ref.m[7].key, ref.m[8].key);
	assert_int_not_equal(ref.m[5].key, ref.m[7].key);
	/* version, timing and seq of the first message */
	assert_string_equal(ref.m[0].version, "3.1.1");
	assert_int_equal(ref.m[0].start_ns, ph_enter_ns(0));
	assert_int_equal(ref.m[0].seq, ph_seq(c, 0));
	assert_int_equal(ref.m[1].end_ns, ph_exit_ns(1));
	/* CONNECT attributes: client id and user, never the password */
	assert_string_equal(ref.m[0].attrs.a[0].key, "mqtt.client_id");
	assert_string_equal(ref.m[0].attrs.a[1].val, "ztuser");
	assert_null(memmem(&ref.m[0], sizeof(ref.m[0]), "s3cret", 6));
	ph_check_splits(OPS, c, sizeof(c) / sizeof(c[0]), true, NULL, &ref);
}

/* All packets of both directions in one segment each (pipelined). */
static void test_pipelined(void **st)
{
	static const struct ph_chunk c[] = {
	    CH(EG, V4_CONNECT SUB_1 PUB1 PINGREQ),
	    CH(IN, V4_CONNACK_OK SUBACK_1 PUBACK7 PINGRESP),
	};
	(void)st;
	run(c, 2, &ref);
	assert_int_equal(ref.n, 8);
	check_pairs(&ref, 4);
	/* each message's seq is its own first byte */
	assert_int_equal(ref.m[1].seq, ph_seq(c, 0) + L(V4_CONNECT));
	assert_int_equal(ref.m[5].seq, ph_seq(c, 1) + L(V4_CONNACK_OK));
	ph_check_splits(OPS, c, 2, true, NULL, &ref);
}

/* The broker delivers to a subscriber: PUBLISH travels broker -> client and
 * the client's PUBACK answers it; the same packet id used by the client's
 * own publish does not mix them. */
static void test_broker_delivery(void **st)
{
	static const struct ph_chunk c[] = {
	    CH(EG, V4_CONNECT), CH(IN, V4_CONNACK_OK), CH(EG, PUB1),
	    CH(IN, PUB1),	CH(EG, PUBACK7),       CH(IN, PUBACK7),
	};
	(void)st;
	run(c, 6, &ref);
	assert_int_equal(ref.n, 6);
	/* client's publish (msg 2) is answered by the ingress PUBACK (msg 5);
	 * broker's publish (msg 3) by the egress PUBACK (msg 4) */
	assert_int_equal(ref.m[2].key, ref.m[5].key);
	assert_int_equal(ref.m[3].key, ref.m[4].key);
	assert_int_not_equal(ref.m[2].key, ref.m[3].key);
	assert_string_equal(ref.m[3].attrs.a[1].key, "mqtt.from");
	assert_string_equal(ref.m[3].attrs.a[1].val, "broker");
	assert_int_equal(ref.m[2].attrs.n, 1);
	ph_check_splits(OPS, c, 6, true, NULL, &ref);
}

static void test_errors(void **st)
{
	/* 3.1.1 CONNACK 5; SUBACK failure 0x80; 5.0 CONNACK 0x86 with a reason
	 * string property; 5.0 PUBACK 0x87 without one */
	static const struct ph_chunk c[] = {
	    CH(EG, V4_CONNECT),
	    CH(IN, V4_CONNACK_5),
	    CH(EG, SUB_2),
	    CH(IN, SUBACK_FAIL),
	};
	static const struct want w[] = {
	    {ZT_MSG_REQUEST, ZT_PAIR_KEY, EG, "CONNECT", "zt-sub", -1, -2, "", 0, 0},
	    {ZT_MSG_RESPONSE, ZT_PAIR_KEY, IN, "CONNACK", NULL, ZT_RS_CLIENT_ERROR, 5, "Not Authorized", 0,
	     0},
	    {ZT_MSG_REQUEST, ZT_PAIR_KEY, EG, "SUBSCRIBE", "zt/x", -1, -2, "", 0, 0},
	    {ZT_MSG_RESPONSE, ZT_PAIR_KEY, IN, "SUBACK", NULL, ZT_RS_CLIENT_ERROR, 0x80, "Failure", 0, 0},
	};
	(void)st;
	run(c, 4, &ref);
	check_msgs(&ref, w, 4);
	check_pairs(&ref, 2);

	/* MQTT 5 */
	static const struct ph_chunk c5[] = {
	    CH(EG, "\x10\x2c\x00\x04MQTT\x05\xc2\x00\x3c\x03\x21\x00\x14\x00\x06zt-"
		   "sub\x00\x06ztuser\x00\x0czt-s3cret-pw"),
	    CH(IN, "\x20\x0b\x00\x86\x08\x1f\x00\x05nope!"),
	    CH(EG, "\x32\x0f\x00\x05zt/q1\x00\x07\x00hello"),
	    CH(IN, "\x40\x04\x00\x07\x87\x00"),
	    CH(EG, "\x34\x0f\x00\x05zt/q2\x00\x08\x00hello"),
	    CH(IN, "\x50\x03\x00\x08\x97"),
	    CH(EG, "\xe0\x02\x8e\x00"),
	};
	static const struct want w5[] = {
	    {ZT_MSG_REQUEST, ZT_PAIR_KEY, EG, "CONNECT", "zt-sub", -1, -2, "", 0, 0},
	    {ZT_MSG_RESPONSE, ZT_PAIR_KEY, IN, "CONNACK", NULL, ZT_RS_CLIENT_ERROR, 0x86, "nope!", 0, 0},
	    {ZT_MSG_REQUEST, ZT_PAIR_KEY, EG, "PUBLISH", "zt/q1", -1, -2, "", 0, 0},
	    {ZT_MSG_RESPONSE, ZT_PAIR_KEY, IN, "PUBACK", NULL, ZT_RS_CLIENT_ERROR, 0x87, "Not authorized", 0,
	     0},
	    {ZT_MSG_REQUEST, ZT_PAIR_KEY, EG, "PUBLISH", "zt/q2", -1, -2, "", 0, 0},
	    /* a failing PUBREC ends the QoS 2 span */
	    {ZT_MSG_RESPONSE, ZT_PAIR_KEY, IN, "PUBREC", NULL, ZT_RS_CLIENT_ERROR, 0x97, "Quota exceeded", 0,
	     0},
	    {ZT_MSG_REQUEST, ZT_PAIR_ONEWAY, EG, "DISCONNECT", "", -1, -2, "", 0, 0},
	};
	run(c5, 7, &ref);
	check_msgs(&ref, w5, 7);
	assert_int_equal(ref.m[2].attrs.n, 1);
	check_pairs(&ref, 3);
	assert_string_equal(ref.m[0].version, "5.0");
	assert_string_equal(ref.m[6].attrs.a[0].val, "Session taken over");
	ph_check_splits(OPS, c5, 7, true, NULL, &ref);
}

/* MQTT 5 topic aliases: a PUBLISH with topic and alias 3 sets it, a later
 * PUBLISH with an empty topic and alias 3 is on that topic; alias 9, never
 * set, stays unknown (attribute). */
static void test_topic_alias(void **st)
{
	static const struct ph_chunk c[] = {
	    CH(EG, "\x10\x14\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x07zt-alis"),
	    CH(IN, "\x20\x03\x00\x00\x00"),
	    CH(EG, "\x30\x0d\x00\x05zt/al\x03\x23\x00\x03hi"),
	    CH(EG, "\x30\x08\x00\x00\x03\x23\x00\x03hi"),
	    CH(EG, "\x30\x08\x00\x00\x03\x23\x00\x09hi"),
	};
	(void)st;
	run(c, 5, &ref);
	assert_int_equal(ref.n, 5);
	assert_string_equal(ref.m[2].request_resource, "zt/al");
	assert_string_equal(ref.m[3].request_resource, "zt/al");
	assert_string_equal(ref.m[4].request_resource, "");
	assert_string_equal(ref.m[4].attrs.a[1].key, "mqtt.topic_alias");
	assert_string_equal(ref.m[4].attrs.a[1].val, "9");
	ph_check_splits(OPS, c, 5, true, NULL, &ref);
}

/* Real captures (DeepFlow's test pcaps). */
static void test_peer_captures(void **st)
{
	(void)st;
	/* mqttx: CONNECT, SUBSCRIBE testtopic, UNSUBSCRIBE, PUBLISH... */
	run(mq_roundtrip, sizeof(mq_roundtrip) / sizeof(mq_roundtrip[0]), &ref);
	assert_true(ref.n >= 8);
	assert_string_equal(ref.m[0].request_type, "CONNECT");
	assert_string_equal(ref.m[0].request_resource, "mqttx_eaf9a0c9");
	assert_string_equal(ref.m[2].request_type, "SUBSCRIBE");
	assert_string_equal(ref.m[2].request_resource, "testtopic");
	for (size_t i = 0; i < ref.n; i++)
		assert_int_equal(ref.m[i].flags & (ZT_MF_TRUNCATED | ZT_MF_LOST_SYNC), 0);
	ph_check_splits(OPS, mq_roundtrip, sizeof(mq_roundtrip) / sizeof(mq_roundtrip[0]), true, NULL, &ref);

	/* a client publishes 10 retained QoS 1 PUBLISH hello/N/world, several
	 * per segment (no CONNECT seen: ztrace started mid-connection) */
	run(mq_multi, sizeof(mq_multi) / sizeof(mq_multi[0]), &ref);
	size_t pubs = 0;
	for (size_t i = 0; i < ref.n; i++)
		if (!strcmp(ref.m[i].request_type, "PUBLISH")) {
			char t[32];
			snprintf(t, sizeof(t), "hello/%zu/world", pubs);
			assert_string_equal(ref.m[i].request_resource, t);
			assert_int_equal(ref.m[i].dir, EG);
			pubs++;
		}
	assert_true(pubs >= 10);
	ph_check_splits(OPS, mq_multi, sizeof(mq_multi) / sizeof(mq_multi[0]), true, NULL, &ref);

	/* a benchmark publisher: QoS 1 publishes on "bench" and their PUBACKs */
	run(mq_pub, sizeof(mq_pub) / sizeof(mq_pub[0]), &ref);
	size_t acks = 0;
	pubs = 0;
	for (size_t i = 0; i < ref.n; i++) {
		if (!strcmp(ref.m[i].request_type, "PUBLISH")) {
			assert_string_equal(ref.m[i].request_resource, "bench");
			pubs++;
		}
		acks += !strcmp(ref.m[i].request_type, "PUBACK");
	}
	assert_int_equal(pubs, 2);
	assert_int_equal(pubs, acks);
	ph_check_splits(OPS, mq_pub, sizeof(mq_pub) / sizeof(mq_pub[0]), true, NULL, &ref);
}

/* Every prefix of a stream cut as a single segment: no read past it, and
 * whatever is emitted is a prefix of the whole run's messages. */
static void test_prefixes(void **st)
{
	static const char s[] = V4_CONNECT SUB_1 PUB0 PUB1 PUB2 PINGREQ UNSUB DISC;
	struct ph_chunk c = {.dir = EG, .data = s};
	(void)st;
	c.len = L(s);
	ph_run(OPS, &c, 1, &(struct ph_feed){0}, &ref);
	assert_int_equal(ref.n, 8);
	for (size_t k = 0; k < L(s); k++) {
		c.len = k;
		ph_run(OPS, &c, 1, &(struct ph_feed){.finish = true}, &got);
		assert_true(got.n < ref.n);
		for (size_t i = 0; i < got.n; i++)
			assert_memory_equal(&got.m[i], &ref.m[i], sizeof(got.m[i]));
	}
}

/* A PUBLISH bigger than the capture: the payload is a gap, the topic was
 * captured (not truncated), the next packet is found by length. Then a
 * capture that cuts the topic: truncated. */
static void test_gaps(void **st)
{
	static const char pub_head[] = "\x32\xa0\x9c\x01\x00\x05zt/bg\x00\x09"; /* rl 20000 */
	static const struct ph_chunk c[] = {
	    {.dir = EG, .data = pub_head, .len = L(pub_head), .gap = 20000 - 9},
	    CH(EG, PINGREQ),
	    CH(IN, "\x40\x02\x00\x09" PINGRESP),
	};
	(void)st;
	run(c, 3, &ref);
	assert_int_equal(ref.n, 4);
	assert_string_equal(ref.m[0].request_resource, "zt/bg");
	assert_int_equal(ref.m[0].bytes, 20004);
	assert_int_equal(ref.m[0].flags & ZT_MF_TRUNCATED, 0);
	assert_string_equal(ref.m[1].request_type, "PINGREQ");
	check_pairs(&ref, 2);
	ph_check_splits(OPS, c, 3, true, NULL, &ref);

	/* the topic itself is cut by the capture */
	static const char cut_topic[] = "\x30\x20\x00\x1azt/a-very-long";
	static const struct ph_chunk c2[] = {
	    {.dir = EG, .data = cut_topic, .len = L(cut_topic), .gap = 34 - L(cut_topic)},
	    CH(EG, PUB0),
	};
	run(c2, 2, &ref);
	assert_int_equal(ref.n, 2);
	assert_string_equal(ref.m[0].request_resource, "zt/a-very-long");
	assert_true(ref.m[0].flags & ZT_MF_TRUNCATED);
	assert_int_equal(ref.m[0].bytes, 34);
	assert_string_equal(ref.m[1].request_resource, "zt/q0");
	assert_int_equal(ref.m[1].flags & ZT_MF_TRUNCATED, 0);
}

/* A gap inside a fixed header loses the framing: the rest of the segment
 * is skipped and parsing resumes at a later segment that starts with
 * well-formed packets; that packet says it follows a loss. */
static void test_lost_sync(void **st)
{
	static const char two[] = PUB0 "\x30";
	static const struct ph_chunk c[] = {
	    {.dir = EG, .data = two, .len = L(two), .gap = 20}, /* next header cut */
	    CH(EG, "garbage, not mqtt"),
	    CH(EG, PUB1),
	};
	(void)st;
	run(c, 3, &ref);
	assert_int_equal(ref.n, 2);
	assert_string_equal(ref.m[0].request_resource, "zt/q0");
	assert_int_equal(ref.m[0].flags & ZT_MF_LOST_SYNC, 0);
	assert_string_equal(ref.m[1].request_resource, "zt/q1");
	assert_true(ref.m[1].flags & ZT_MF_LOST_SYNC);

	/* invalid fixed-header flags (SUBSCRIBE must have 0x2) */
	static const struct ph_chunk c2[] = {CH(EG, "\x80\x09\x00\x01\x00\x04zt/#\x01"), CH(EG, PUB0)};
	run(c2, 2, &ref);
	assert_int_equal(ref.n, 1);
	assert_true(ref.m[0].flags & ZT_MF_LOST_SYNC);
	/* a remaining length with a fifth varint byte */
	static const struct ph_chunk c3[] = {CH(EG, "\x30\xff\xff\xff\xff\x01"), CH(EG, PINGREQ)};
	run(c3, 2, &ref);
	assert_int_equal(ref.n, 1);
	assert_string_equal(ref.m[0].request_type, "PINGREQ");
}

/* mosquitto reads a packet's fixed header by itself: the session feeds the
 * parser from the first segment it recognised, the CONNECT's body. */
static void test_headless_connect(void **st)
{
	static const char body[] =
	    "\x00\x04MQTT\x04\xc2\x00\x3c\x00\x06zt-sub\x00\x06ztuser\x00\x0czt-s3cret-pw";
	static const struct ph_chunk c[] = {
	    CH(IN, body),
	    CH(EG, V4_CONNACK_OK),
	    CH(IN, "\x82"),
	    CH(IN, "\x09"),
	    CH(IN, "\x00\x01\x00\x04zt/#\x01"),
	    CH(EG, SUBACK_1),
	};
	(void)st;
	run(c, 6, &ref);
	assert_int_equal(ref.n, 4);
	assert_string_equal(ref.m[0].request_type, "CONNECT");
	assert_int_equal(ref.m[0].dir, IN);
	assert_int_equal(ref.m[0].bytes, L(V4_CONNECT));
	assert_int_equal(ref.m[0].seq, ph_seq(c, 0) - 2); /* its header's seq */
	assert_string_equal(ref.m[0].request_resource, "zt-sub");
	assert_string_equal(ref.m[2].request_resource, "zt/#");
	check_pairs(&ref, 2);
	assert_int_equal(OPS->infer((const uint8_t *)body, L(body), &(struct zt_infer_hints){.l4 = 6}), 90);
	assert_int_equal(OPS->first_kind((const uint8_t *)body, L(body)), ZT_MSG_REQUEST);
}

static void test_infer(void **st)
{
	struct zt_infer_hints h = {.l4 = 6, .lport = 40000, .rport = 16700};
	struct zt_infer_hints hp = {.l4 = 6, .lport = 40000, .rport = 1883};
	struct zt_infer_hints udp = {.l4 = 17, .rport = 1883};
#define INF(s, hh) OPS->infer((const uint8_t *)(s), L(s), &(hh))
	(void)st;
	assert_int_equal(INF(V4_CONNECT, h), 95);
	assert_int_equal(INF(V4_CONNECT, udp), 0);
	assert_int_equal(INF("\x10\x10\x00\x06MQIsdp\x03\x02\x00\x3c\x00\x02id", h), 95);
	assert_int_equal(INF("\x10\x26\x00\x04MQTT\x06\xc2", h), 0); /* level 6 */
	assert_int_equal(INF("\x10\x26\x00\x04MQTT\x04\xc3", h), 0); /* reserved flag */
	/* mid-connection: well-formed packets filling the buffer exactly */
	assert_true(INF(PUB1 PUB0, h) >= 50);
	assert_true(INF(PUB1 PUB0, hp) > INF(PUB1 PUB0, h));
	assert_true(INF(PINGREQ, h) < 50); /* two bytes prove little */
	assert_true(INF(PINGREQ, hp) >= 50);
	assert_int_equal(INF(PUB1 "\x00", hp), 0); /* trailing byte */
	assert_int_equal(INF("GET / HTTP/1.1\r\nHost: x\r\n\r\n", hp), 0);
	assert_int_equal(INF("AMQP\x00\x00\x09\x01", hp), 0);
	assert_int_equal(
	    INF("\x01\x00\x00\x00\x00\x00\x0c\x00\x0a\x00\x0a\x00\x09\x00\x00\x00\x00\x00\xce", hp), 0);
	assert_int_equal(INF("*1\r\n$4\r\nPING\r\n", hp), 0);
	assert_int_equal(INF("", hp), 0);
	assert_int_equal(OPS->first_kind((const uint8_t *)V4_CONNECT, L(V4_CONNECT)), ZT_MSG_REQUEST);
	assert_int_equal(OPS->first_kind((const uint8_t *)V4_CONNACK_OK, 4), ZT_MSG_RESPONSE);
	assert_int_equal(OPS->first_kind((const uint8_t *)PUB1, L(PUB1)), 0);
	/* every prefix of a CONNECT at the guard page */
	for (size_t k = 0; k <= L(V4_CONNECT); k++)
		OPS->infer(ph_at_guard(V4_CONNECT, k), k, &h);
#undef INF
}

static void test_redact(void **st)
{
	char b[256];
	(void)st;
	/* whole CONNECT: the password bytes become '*', nothing else moves */
	memcpy(b, V4_CONNECT, L(V4_CONNECT));
	assert_int_equal(OPS->redact_payload((uint8_t *)b, L(V4_CONNECT)), 12);
	assert_memory_equal(b, V4_CONNECT, L(V4_CONNECT) - 12);
	assert_memory_equal(b + L(V4_CONNECT) - 12, "************", 12);
	/* the body alone (a broker's read) */
	static const char body[] =
	    "\x00\x04MQTT\x04\xc2\x00\x3c\x00\x06zt-sub\x00\x06ztuser\x00\x0czt-s3cret-pw";
	memcpy(b, body, L(body));
	assert_int_equal(OPS->redact_payload((uint8_t *)b, L(body)), 12);
	assert_null(memmem(b, L(body), "s3cret", 6));
	/* a capture that ends inside the password: what is there goes */
	memcpy(b, V4_CONNECT, L(V4_CONNECT));
	assert_int_equal(OPS->redact_payload(ph_at_guard(b, L(V4_CONNECT) - 5), L(V4_CONNECT) - 5), 7);
	/* MQTT 5 authentication data (0x16) and password */
	static const char v5[] = "\x10\x24\x00\x04MQTT\x05\xc2\x00\x3c\x09\x15\x00\x01X\x16\x00\x02\xab\xcd"
				 "\x00\x02id\x00\x02us\x00\x06secret";
	memcpy(b, v5, L(v5));
	assert_int_equal(OPS->redact_payload((uint8_t *)b, L(v5)), 8);
	assert_memory_equal(b + L(v5) - 6, "******", 6);
	assert_memory_equal(b + 20, "**", 2);
	/* a CONNECT after other packets in the same buffer */
	memcpy(b, PINGREQ V4_CONNECT, 2 + L(V4_CONNECT));
	assert_int_equal(OPS->redact_payload((uint8_t *)b, 2 + L(V4_CONNECT)), 12);
	/* no password flag: nothing; not MQTT: nothing */
	static const char nopw[] = "\x10\x12\x00\x04MQTT\x04\x82\x00\x3c\x00\x02id\x00\x02us";
	memcpy(b, nopw, L(nopw));
	assert_int_equal(OPS->redact_payload((uint8_t *)b, L(nopw)), 0);
	assert_memory_equal(b, nopw, L(nopw));
	assert_int_equal(OPS->redact_payload((uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18), 0);
	/* every prefix at the guard page */
	for (size_t k = 0; k <= L(V4_CONNECT); k++) {
		uint8_t *p = ph_at_guard(V4_CONNECT, k);
		OPS->redact_payload(p, k);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_v311_session),
	    cmocka_unit_test(test_pipelined),
	    cmocka_unit_test(test_broker_delivery),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_peer_captures),
	    cmocka_unit_test(test_prefixes),
	    cmocka_unit_test(test_gaps),
	    cmocka_unit_test(test_lost_sync),
	    cmocka_unit_test(test_headless_connect),
	    cmocka_unit_test(test_infer),
	    cmocka_unit_test(test_redact),
	    cmocka_unit_test(test_topic_alias),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
