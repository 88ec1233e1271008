/* SPDX-License-Identifier: MIT */
/*
 * test_h2.c - the HTTP/2 and gRPC parser (proto/h2.h) through
 * parser_harness.h: every script is run whole, with each chunk split at
 * every position and byte by byte (same messages each time), each segment
 * at a guard page. Scripts are built here frame by frame with a small HPACK
 * encoder (literals, indexed fields, incremental indexing), so each case
 * says exactly which bytes it sends.
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
#include "proto/h2.h"

#define C ZT_DIR_EGRESS	  /* the client side's writes */
#define S ZT_DIR_INGRESS  /* ... its reads: the server's bytes */

/* ---- building bytes ---- */

struct buf {
	uint8_t b[16384];
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

static void frame(struct buf *b, uint8_t type, uint8_t flags, uint32_t sid, const void *p, size_t n)
{
	uint8_t h[9] = {(uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n, type, flags,
			(uint8_t)(sid >> 24), (uint8_t)(sid >> 16), (uint8_t)(sid >> 8), (uint8_t)sid};
	put(b, h, 9);
	if (n)
		put(b, p, n);
}

/* HPACK: a literal field without indexing, new name (6.2.2) */
static void lit(struct buf *h, const char *name, const char *value)
{
	put8(h, 0x00);
	put8(h, (uint8_t)strlen(name));
	put(h, name, strlen(name));
	put8(h, (uint8_t)strlen(value));
	put(h, value, strlen(value));
}

/* ... with incremental indexing (6.2.1) */
static void lit_inc(struct buf *h, const char *name, const char *value)
{
	put8(h, 0x40);
	put8(h, (uint8_t)strlen(name));
	put(h, name, strlen(name));
	put8(h, (uint8_t)strlen(value));
	put(h, value, strlen(value));
}

static void idx(struct buf *h, uint8_t i)
{
	put8(h, (uint8_t)(0x80 | i));
}

static const uint8_t settings_empty[1];

/* A gRPC message: flags, 4-byte length, payload. */
static void grpc_msg(struct buf *d, size_t n)
{
	uint8_t p[5] = {0, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
	put(d, p, 5);
	for (size_t i = 0; i < n; i++)
		put8(d, (uint8_t)('a' + i % 26));
}

static struct ph_chunk chunk(uint8_t dir, const struct buf *b)
{
	return (struct ph_chunk){.dir = dir, .data = b->b, .len = b->n};
}

static const char *attr(const struct zt_msg *m, const char *key)
{
	for (unsigned i = 0; i < m->attrs.n; i++)
		if (!strcmp(m->attrs.a[i].key, key))
			return m->attrs.a[i].val;
	return NULL;
}

static struct ph_msgs ref;

/* ---- cases ---- */

/* prior knowledge: preface, SETTINGS, a GET; SETTINGS, ACK, 200 + DATA */
static void test_get_prior_knowledge(void **st)
{
	static struct buf c1, s1, s2, h;
	(void)st;
	memset(&c1, 0, sizeof(c1));
	memset(&s1, 0, sizeof(s1));
	memset(&s2, 0, sizeof(s2));
	put(&c1, H2_PREFACE, H2_PREFACE_LEN);
	frame(&c1, H2_SETTINGS, 0, 0, "\x00\x03\x00\x00\x00\x64", 6);
	h.n = 0;
	idx(&h, 2);  /* :method GET */
	idx(&h, 6);  /* :scheme http */
	lit(&h, ":path", "/users/123?q=1");
	lit(&h, ":authority", "example.com:8080");
	lit(&h, "traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
	lit(&h, "x-request-id", "req-42");
	frame(&c1, H2_HEADERS, H2_FL_END_HEADERS | H2_FL_END_STREAM, 1, h.b, h.n);
	frame(&s1, H2_SETTINGS, 0, 0, NULL, 0);
	frame(&s1, H2_SETTINGS, 1, 0, NULL, 0);
	h.n = 0;
	idx(&h, 8); /* :status 200 */
	lit(&h, "content-type", "text/plain");
	frame(&s2, H2_HEADERS, H2_FL_END_HEADERS, 1, h.b, h.n);
	frame(&s2, H2_DATA, H2_FL_END_STREAM, 1, "hello", 5);
	struct ph_chunk cs[] = {chunk(C, &c1), chunk(S, &s1), chunk(S, &s2)};
	ph_check_splits(&zt_h2_ops, cs, 3, true, NULL, &ref);
	assert_int_equal(ref.n, 2);
	const struct zt_msg *q = &ref.m[0], *r = &ref.m[1];
	assert_int_equal(q->kind, ZT_MSG_REQUEST);
	assert_int_equal(q->pair, ZT_PAIR_KEY);
	assert_int_equal(q->key, 1);
	assert_string_equal(q->request_type, "GET");
	assert_string_equal(q->request_resource, "/users/123?q=1");
	assert_string_equal(q->request_domain, "example.com:8080");
	assert_string_equal(q->version, "2");
	assert_string_equal(q->trace_id, "0af7651916cd43dd8448eb211c80319c");
	assert_string_equal(q->span_id, "b7ad6b7169203331");
	assert_string_equal(q->x_request_id, "req-42");
	assert_int_equal(q->l7, 0);
	/* the request starts at its HEADERS frame: preface and SETTINGS before */
	assert_int_equal(q->seq, ph_seq(cs, 0) + H2_PREFACE_LEN + 15);
	assert_int_equal(q->bytes, c1.n - H2_PREFACE_LEN - 15);
	assert_int_equal(r->kind, ZT_MSG_RESPONSE);
	assert_int_equal(r->key, 1);
	assert_int_equal(r->response_code, 200);
	assert_true(r->flags & ZT_MF_HAS_CODE);
	assert_int_equal(r->status, ZT_RS_OK);
	assert_int_equal(r->seq, ph_seq(cs, 2));
	assert_int_equal(r->bytes, s2.n);
	assert_int_equal(r->end_ns, ph_exit_ns(2));
	assert_false((q->flags | r->flags) & ZT_MF_TRUNCATED);
	char ep[128];
	zt_h2_ops.endpoint(q, ep, sizeof(ep));
	assert_string_equal(ep, "GET /users/{id}");
	/* the preface tells the client */
	assert_int_equal(zt_h2_ops.first_kind(c1.b, c1.n), ZT_MSG_REQUEST);
	assert_true(zt_h2_ops.infer(c1.b, c1.n, NULL) >= 90);
	assert_true(zt_h2_ops.infer(c1.b, 10, NULL) >= 50);
}

/* gRPC unary with an error status in trailers; two interleaved streams */
static void grpc_request(struct buf *c, uint32_t sid, const char *path, size_t msg)
{
	static struct buf h, d;
	h.n = d.n = 0;
	idx(&h, 3); /* POST */
	idx(&h, 6);
	lit(&h, ":path", path);
	lit(&h, ":authority", "localhost:50051");
	lit_inc(&h, "content-type", "application/grpc");
	lit(&h, "te", "trailers");
	frame(c, H2_HEADERS, H2_FL_END_HEADERS, sid, h.b, h.n);
	grpc_msg(&d, msg);
	frame(c, H2_DATA, H2_FL_END_STREAM, sid, d.b, d.n);
}

static void test_grpc_unary_and_error(void **st)
{
	static struct buf c1, s1, s2, h, d;
	(void)st;
	c1.n = s1.n = s2.n = 0;
	put(&c1, H2_PREFACE, H2_PREFACE_LEN);
	frame(&c1, H2_SETTINGS, 0, 0, NULL, 0);
	grpc_request(&c1, 1, "/helloworld.Greeter/SayHello", 7);
	grpc_request(&c1, 3, "/helloworld.Greeter/Fail", 3);
	frame(&s1, H2_SETTINGS, 0, 0, "\x00\x01\x00\x00\x10\x00", 6);
	/* stream 3 answered first, trailers-only: 200 + grpc-status 5 */
	h.n = 0;
	idx(&h, 8);
	lit_inc(&h, "content-type", "application/grpc");
	lit(&h, "grpc-status", "5");
	lit(&h, "grpc-message", "no%20such%20user");
	frame(&s1, H2_HEADERS, H2_FL_END_HEADERS | H2_FL_END_STREAM, 3, h.b, h.n);
	/* stream 1: headers (content-type by the dynamic index), data, trailers */
	h.n = 0;
	idx(&h, 8);
	idx(&h, 62);
	frame(&s2, H2_HEADERS, H2_FL_END_HEADERS, 1, h.b, h.n);
	d.n = 0;
	grpc_msg(&d, 12);
	frame(&s2, H2_DATA, 0, 1, d.b, d.n);
	h.n = 0;
	lit(&h, "grpc-status", "0");
	frame(&s2, H2_HEADERS, H2_FL_END_HEADERS | H2_FL_END_STREAM, 1, h.b, h.n);
	struct ph_chunk cs[] = {chunk(C, &c1), chunk(S, &s1), chunk(S, &s2)};
	ph_check_splits(&zt_h2_ops, cs, 3, true, NULL, &ref);
	assert_int_equal(ref.n, 4);
	/* requests in stream order, then responses as they end */
	assert_string_equal(ref.m[0].request_resource, "/helloworld.Greeter/SayHello");
	assert_int_equal(ref.m[0].l7, ZT_L7_GRPC);
	assert_string_equal(attr(&ref.m[0], "grpc.req_msgs"), "1");
	assert_int_equal(ref.m[1].key, 3);
	assert_int_equal(ref.m[2].kind, ZT_MSG_RESPONSE);
	assert_int_equal(ref.m[2].key, 3);
	assert_int_equal(ref.m[2].response_code, 5);
	assert_int_equal(ref.m[2].status, ZT_RS_CLIENT_ERROR);
	assert_string_equal(ref.m[2].response_exception, "no such user");
	assert_int_equal(ref.m[3].key, 1);
	assert_int_equal(ref.m[3].response_code, 0);
	assert_int_equal(ref.m[3].status, ZT_RS_OK);
	assert_string_equal(attr(&ref.m[3], "grpc.resp_msgs"), "1");
	char ep[128];
	zt_h2_ops.endpoint(&ref.m[0], ep, sizeof(ep));
	assert_string_equal(ep, "/helloworld.Greeter/SayHello");
}

/* server streaming: messages across DATA frames, two in one frame, one
 * split over two; padding and priority on HEADERS, a CONTINUATION */
static void test_grpc_server_stream_padding_continuation(void **st)
{
	static struct buf c1, s1, s2, h, d, p;
	(void)st;
	c1.n = s1.n = s2.n = 0;
	put(&c1, H2_PREFACE, H2_PREFACE_LEN);
	frame(&c1, H2_SETTINGS, 0, 0, NULL, 0);
	h.n = 0;
	idx(&h, 3);
	idx(&h, 6);
	lit(&h, ":path", "/metrics.Feed/Watch");
	lit(&h, ":authority", "svc");
	lit(&h, "content-type", "application/grpc+proto");
	/* HEADERS: pad length 3, priority 5 bytes, first 10 block bytes, pad */
	p.n = 0;
	put8(&p, 3);
	put(&p, "\x00\x00\x00\x00\x10", 5);
	put(&p, h.b, 10);
	put(&p, "\0\0\0", 3);
	frame(&c1, H2_HEADERS, H2_FL_PADDED | H2_FL_PRIORITY, 1, p.b, p.n);
	frame(&c1, H2_CONTINUATION, H2_FL_END_HEADERS, 1, h.b + 10, h.n - 10);
	d.n = 0;
	grpc_msg(&d, 4);
	frame(&c1, H2_DATA, H2_FL_END_STREAM, 1, d.b, d.n);
	h.n = 0;
	idx(&h, 8);
	lit(&h, "content-type", "application/grpc");
	frame(&s1, H2_HEADERS, H2_FL_END_HEADERS, 1, h.b, h.n);
	d.n = 0;
	grpc_msg(&d, 10);
	grpc_msg(&d, 0);
	grpc_msg(&d, 20); /* split: 5 + 9 bytes here, the rest next frame */
	frame(&s1, H2_DATA, 0, 1, d.b, d.n - 11);
	/* padded DATA: pad 2 */
	p.n = 0;
	put8(&p, 2);
	put(&p, d.b + d.n - 11, 11);
	put(&p, "\0\0", 2);
	frame(&s2, H2_DATA, H2_FL_PADDED, 1, p.b, p.n);
	d.n = 0;
	grpc_msg(&d, 3);
	frame(&s2, H2_DATA, 0, 1, d.b, d.n);
	frame(&s2, H2_PING, 0, 0, "12345678", 8);
	frame(&s2, H2_WINDOW_UPDATE, 0, 0, "\0\0\x10\0", 4);
	h.n = 0;
	lit(&h, "grpc-status", "0");
	frame(&s2, H2_HEADERS, H2_FL_END_HEADERS | H2_FL_END_STREAM, 1, h.b, h.n);
	struct ph_chunk cs[] = {chunk(C, &c1), chunk(S, &s1), chunk(S, &s2)};
	ph_check_splits(&zt_h2_ops, cs, 3, true, NULL, &ref);
	assert_int_equal(ref.n, 2);
	assert_string_equal(ref.m[0].request_resource, "/metrics.Feed/Watch");
	assert_int_equal(ref.m[0].l7, ZT_L7_GRPC);
	assert_string_equal(attr(&ref.m[0], "grpc.req_msgs"), "1");
	assert_string_equal(attr(&ref.m[1], "grpc.resp_msgs"), "4");
	assert_int_equal(ref.m[1].response_code, 0);
	assert_int_equal(ref.m[1].bytes, s1.n + s2.n - 17 - 13);
}

/* RST_STREAM by the client, GOAWAY with an error, the close */
static void test_rst_goaway_close(void **st)
{
	static struct buf c1, c2, s1, h;
	(void)st;
	c1.n = c2.n = s1.n = 0;
	put(&c1, H2_PREFACE, H2_PREFACE_LEN);
	frame(&c1, H2_SETTINGS, 0, 0, NULL, 0);
	for (uint32_t sid = 1; sid <= 7; sid += 2) {
		h.n = 0;
		idx(&h, 2);
		idx(&h, 6);
		lit(&h, ":path", "/slow");
		frame(&c1, H2_HEADERS, H2_FL_END_HEADERS | H2_FL_END_STREAM, sid, h.b, h.n);
	}
	frame(&c2, H2_RST_STREAM, 0, 1, "\0\0\0\x08", 4); /* CANCEL */
	h.n = 0;
	idx(&h, 8);
	frame(&s1, H2_HEADERS, H2_FL_END_HEADERS, 3, h.b, h.n); /* 200, never ended */
	frame(&s1, H2_GOAWAY, 0, 0, "\0\0\0\x03\0\0\0\x02", 8); /* last 3, INTERNAL_ERROR */
	struct ph_chunk cs[] = {chunk(C, &c1), chunk(C, &c2), chunk(S, &s1)};
	ph_check_splits(&zt_h2_ops, cs, 3, true, NULL, &ref);
	/* 4 requests; responses: RST for 1, GOAWAY for 3 (its 200 kept), 5, 7 */
	assert_int_equal(ref.n, 8);
	unsigned resp = 0;
	for (size_t i = 0; i < ref.n; i++) {
		const struct zt_msg *m = &ref.m[i];
		if (m->kind != ZT_MSG_RESPONSE)
			continue;
		resp++;
		if (m->key == 1) {
			assert_string_equal(m->response_exception, "RST_STREAM CANCEL");
			assert_int_equal(m->status, ZT_RS_CLIENT_ERROR);
		} else {
			assert_string_equal(m->response_exception, "GOAWAY INTERNAL_ERROR");
			assert_int_equal(m->status, ZT_RS_SERVER_ERROR);
			if (m->key == 3)
				assert_int_equal(m->response_code, 200);
		}
	}
	assert_int_equal(resp, 4);
}

/* The capture is cut (1 KiB per syscall): the gap inside a DATA frame is
 * skipped by the frame's length; a gap past the frame loses framing, which
 * resumes at the next write. */
static void test_capture_gaps(void **st)
{
	static struct buf c1, s1, s2, s3, h, d;
	(void)st;
	c1.n = s1.n = s2.n = s3.n = 0;
	put(&c1, H2_PREFACE, H2_PREFACE_LEN);
	frame(&c1, H2_SETTINGS, 0, 0, NULL, 0);
	grpc_request(&c1, 1, "/a.B/C", 2);
	grpc_request(&c1, 3, "/a.B/D", 2);
	h.n = 0;
	idx(&h, 8);
	lit(&h, "content-type", "application/grpc");
	frame(&s1, H2_HEADERS, H2_FL_END_HEADERS, 1, h.b, h.n);
	d.n = 0;
	grpc_msg(&d, 3000);
	frame(&s1, H2_DATA, 0, 1, d.b, d.n);
	h.n = 0;
	lit(&h, "grpc-status", "0");
	frame(&s2, H2_HEADERS, H2_FL_END_HEADERS | H2_FL_END_STREAM, 1, h.b, h.n);
	/* stream 3: one write whose tail (with its trailers) is not captured */
	h.n = 0;
	idx(&h, 8);
	lit(&h, "content-type", "application/grpc");
	frame(&s3, H2_HEADERS, H2_FL_END_HEADERS, 3, h.b, h.n);
	size_t keep = s3.n + 20;
	frame(&s3, H2_DATA, 0, 3, d.b, 100);
	h.n = 0;
	lit(&h, "grpc-status", "0");
	frame(&s3, H2_HEADERS, H2_FL_END_HEADERS | H2_FL_END_STREAM, 3, h.b, h.n);
	size_t s3_all = s3.n;
	static struct buf s4;
	s4.n = 0;
	frame(&s4, H2_PING, 0, 0, "abcdefgh", 8);
	struct ph_chunk cs[] = {
	    chunk(C, &c1),
	    {.dir = S, .data = s1.b, .len = 1024, .gap = s1.n - 1024},
	    chunk(S, &s2),
	    {.dir = S, .data = s3.b, .len = keep, .gap = s3_all - keep},
	    chunk(S, &s4),
	};
	ph_check_splits(&zt_h2_ops, cs, 5, true, NULL, &ref);
	assert_int_equal(ref.n, 4);
	assert_int_equal(ref.m[2].key, 1);
	assert_int_equal(ref.m[2].response_code, 0);
	assert_int_equal(ref.m[2].bytes, s1.n + s2.n);
	assert_string_equal(attr(&ref.m[2], "grpc.resp_msgs"), "1");
	/* stream 3's trailers were in the gap: its response ends at the close,
	 * with the HTTP status it had */
	assert_int_equal(ref.m[3].key, 3);
	assert_int_equal(ref.m[3].response_code, 200);
}

/* Joined mid-connection: no preface; a request refers to a dynamic entry
 * we never saw: its path is not guessed, the message is flagged. */
static void test_mid_connection(void **st)
{
	static struct buf c1, s1, h;
	(void)st;
	c1.n = s1.n = 0;
	h.n = 0;
	idx(&h, 3);
	idx(&h, 6);
	idx(&h, 63); /* :path from an entry made before we joined */
	lit(&h, ":authority", "api");
	frame(&c1, H2_HEADERS, H2_FL_END_HEADERS, 41, h.b, h.n);
	frame(&c1, H2_DATA, H2_FL_END_STREAM, 41, "{}", 2);
	h.n = 0;
	idx(&h, 8);
	frame(&s1, H2_HEADERS, H2_FL_END_HEADERS | H2_FL_END_STREAM, 41, h.b, h.n);
	assert_true(zt_h2_ops.infer(c1.b, c1.n, NULL) >= 50);
	assert_int_equal(zt_h2_ops.first_kind(c1.b, c1.n), 0);
	struct ph_chunk cs[] = {chunk(C, &c1), chunk(S, &s1)};
	ph_check_splits(&zt_h2_ops, cs, 2, true, NULL, &ref);
	assert_int_equal(ref.n, 2);
	assert_string_equal(ref.m[0].request_type, "POST");
	assert_string_equal(ref.m[0].request_resource, "");
	assert_string_equal(ref.m[0].request_domain, "api");
	assert_true(ref.m[0].flags & ZT_MF_TRUNCATED);
	assert_string_equal(attr(&ref.m[0], "h2.unknown_headers"), "1");
	assert_int_equal(ref.m[1].response_code, 200);
}

/* Not HTTP/2: plain text, HTTP/1, random bytes, a lone frame header */
static void test_infer_negative(void **st)
{
	const char *no[] = {"GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\n", "*1\r\n$4\r\nPING\r\n",
			    "\x00\x00\x00\x10\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"};
	(void)st;
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		assert_true(zt_h2_ops.infer((const uint8_t *)no[i], strlen(no[i]) + (i == 3 ? 0 : 0), NULL) < 50);
	srand(3);
	unsigned hits = 0;
	for (int k = 0; k < 20000; k++) {
		uint8_t r[64];
		for (size_t i = 0; i < sizeof(r); i++)
			r[i] = (uint8_t)rand();
		hits += zt_h2_ops.infer(r, sizeof(r), NULL) >= 50;
	}
	assert_true(hits < 5);
}

/* Malformed input: bad padding, CONTINUATION without HEADERS, a frame
 * of 16 MiB - 1 announced, a flood of CONTINUATIONs, a header block longer
 * than we keep, HPACK garbage: no crash, nothing invented, memory fixed. */
static void test_malformed(void **st)
{
	static struct buf c1, h;
	struct ph_msgs *out = &ref;
	(void)st;
	c1.n = 0;
	put(&c1, H2_PREFACE, H2_PREFACE_LEN);
	frame(&c1, H2_HEADERS, H2_FL_PADDED | H2_FL_END_HEADERS, 1, "\x09\x82", 2); /* pad > payload */
	frame(&c1, H2_CONTINUATION, H2_FL_END_HEADERS, 3, "\x82", 1);
	frame(&c1, H2_HEADERS, H2_FL_END_HEADERS | H2_FL_END_STREAM, 5, "\xff\xff\xff\xff\xff\xff", 6);
	frame(&c1, H2_HEADERS, 0, 7, "\x82", 1);
	for (int i = 0; i < 300; i++)
		frame(&c1, H2_CONTINUATION, 0, 7, NULL, 0);
	h.n = 0;
	for (int i = 0; i < 500; i++)
		lit(&h, "x-pad", "0123456789");
	frame(&c1, H2_CONTINUATION, H2_FL_END_HEADERS, 7, h.b, h.n); /* > H2_BLOCK_MAX */
	uint8_t huge[9] = {0xff, 0xff, 0xff, H2_DATA, 0, 0, 0, 0, 9};
	put(&c1, huge, 9);
	struct ph_chunk cs[] = {{.dir = C, .data = c1.b, .len = c1.n, .gap = 0xffffff - 0}};
	ph_run(&zt_h2_ops, cs, 1, &(struct ph_feed){.cut = PH_WHOLE, .finish = true}, out);
	/* stream 7's block was too long: a request with unknown fields */
	for (size_t i = 0; i < out->n; i++) {
		assert_true(out->m[i].kind == ZT_MSG_REQUEST);
		assert_true(out->m[i].key == 1 || out->m[i].key == 5 || out->m[i].key == 7);
		assert_true(out->m[i].flags & ZT_MF_TRUNCATED);
		assert_string_equal(out->m[i].request_resource, "");
	}
	assert_true(sizeof(struct h2_state) < 160 * 1024);
}

/* Every prefix of a whole exchange, each as the last bytes before the
 * guard page, then the close: never a read past the end, never more
 * messages than the whole exchange has. */
static void test_every_prefix(void **st)
{
	static struct buf all, h;
	struct ph_msgs *out = &ref;
	(void)st;
	all.n = 0;
	put(&all, H2_PREFACE, H2_PREFACE_LEN);
	frame(&all, H2_SETTINGS, 0, 0, "\x00\x01\x00\x00\x01\x00", 6);
	grpc_request(&all, 1, "/p.S/M", 9);
	h.n = 0;
	idx(&h, 2);
	idx(&h, 6);
	lit_inc(&h, ":path", "/index.html");
	put(&h, "\x3f\xe1\x1f", 0);
	frame(&all, H2_HEADERS, H2_FL_END_HEADERS | H2_FL_END_STREAM, 3, h.b, h.n);
	frame(&all, H2_RST_STREAM, 0, 3, "\0\0\0\x08", 4);
	for (size_t k = 0; k <= all.n; k++) {
		struct ph_chunk cs[] = {{.dir = C, .data = all.b, .len = k}};
		ph_run(&zt_h2_ops, cs, 1, &(struct ph_feed){.cut = PH_WHOLE, .finish = true}, out);
		assert_true(out->n <= 3);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get_prior_knowledge),
	    cmocka_unit_test(test_grpc_unary_and_error),
	    cmocka_unit_test(test_grpc_server_stream_padding_continuation),
	    cmocka_unit_test(test_rst_goaway_close),
	    cmocka_unit_test(test_capture_gaps),
	    cmocka_unit_test(test_mid_connection),
	    cmocka_unit_test(test_infer_negative),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_every_prefix),
	};
	(void)settings_empty;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
