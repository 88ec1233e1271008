/* SPDX-License-Identifier: MIT */
/*
 * test_h2_redact.c - HTTP/2 header secrets masked in raw bytes
 * (proto/h2_redact.h): literal names raw and Huffman, static name indexes,
 * dynamic name indexes (a sensitive entry masked, a plain one kept),
 * padding, priority, CONTINUATION; every split point (one and two cuts)
 * gives the bytes of the whole-buffer pass; the result decodes with
 * hpack_decode_block to the same fields with '*' values; other protocols
 * and non-h2 bytes untouched; gaps; the stream redactor (proto/redact.h).
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

#include "proto/h2_redact.h"
#include "proto/hpack.h"
#include "proto/proto.h"
#include "proto/redact.h"

struct buf {
	uint8_t b[4096];
	size_t n;
};

static void put(struct buf *o, const void *p, size_t n)
{
	if (n)
		memcpy(o->b + o->n, p, n);
	o->n += n;
}

static void put8(struct buf *o, uint8_t v)
{
	o->b[o->n++] = v;
}

static void put_int(struct buf *o, uint8_t first, unsigned prefix, uint32_t v)
{
	uint32_t max = (1u << prefix) - 1;
	if (v < max) {
		put8(o, (uint8_t)(first | v));
		return;
	}
	put8(o, (uint8_t)(first | max));
	v -= max;
	while (v >= 128) {
		put8(o, (uint8_t)(v % 128 + 128));
		v /= 128;
	}
	put8(o, (uint8_t)v);
}

static void put_str(struct buf *o, const char *s, bool huff)
{
	size_t n = strlen(s);
	if (!huff) {
		put_int(o, 0, 7, (uint32_t)n);
		put(o, s, n);
		return;
	}
	uint8_t tmp[512];
	size_t tn = 0;
	uint64_t acc = 0;
	unsigned bits = 0;
	for (size_t i = 0; i < n; i++) {
		const struct hpack_huff_sym *c = &hpack_huff_code[(uint8_t)s[i]];
		acc = (acc << c->len) | c->code;
		bits += c->len;
		while (bits >= 8) {
			tmp[tn++] = (uint8_t)(acc >> (bits - 8));
			bits -= 8;
		}
	}
	if (bits)
		tmp[tn++] = (uint8_t)((acc << (8 - bits)) | ((1u << (8 - bits)) - 1));
	put_int(o, 0x80, 7, (uint32_t)tn);
	put(o, tmp, tn);
}

static void frame(struct buf *o, uint8_t type, uint8_t flags, uint32_t sid, const uint8_t *p, size_t n)
{
	uint8_t h[9] = {(uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n, type, flags,
			(uint8_t)(sid >> 24), (uint8_t)(sid >> 16), (uint8_t)(sid >> 8), (uint8_t)sid};
	put(o, h, 9);
	put(o, p, n);
}

/* The blocks, kept for decoding after redaction: offsets in the stream. */
struct blk {
	size_t off[2], len[2]; /* up to two fragments (HEADERS + CONTINUATION) */
};
static struct blk blocks[3];

#define SECRETS "SECRETTOKEN1", "c00kieSECRET2", "apiKEY3SECRET", "SECRETviaDYN4", "proxSECRET5"

/* A client's stream: preface, SETTINGS, three header blocks. */
static void client_stream(struct buf *o)
{
	struct buf b1 = {0}, b2 = {0}, b3 = {0};

	put(o, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24);
	uint8_t settings[6] = {0, 4, 0, 0, 0xff, 0xff};
	frame(o, 4, 0, 0, settings, 6);
	/* block 1: indexed :method GET, :path "/a" (name 4), authorization
	 * incremental (static 23) raw, cookie never-indexed (static 32)
	 * Huffman, x-api-key new Huffman name raw value, x-trace new name
	 * incremental (kept), proxy-authorization (49) without indexing */
	put8(&b1, 0x82);
	put_int(&b1, 0x00, 4, 4);
	put_str(&b1, "/a", false);
	put_int(&b1, 0x40, 6, 23);
	put_str(&b1, "Bearer SECRETTOKEN1", false);
	put_int(&b1, 0x10, 4, 32);
	put_str(&b1, "sid=c00kieSECRET2", true);
	put8(&b1, 0x00);
	put_str(&b1, "X-Api-Key", true);
	put_str(&b1, "apiKEY3SECRET", false);
	put8(&b1, 0x40);
	put_str(&b1, "x-trace", false);
	put_str(&b1, "keep-me-1", true);
	put_int(&b1, 0x00, 4, 49);
	put_str(&b1, "Basic proxSECRET5", true);
	/* HEADERS padded + priority */
	uint8_t pl[600];
	size_t pn = 0;
	pl[pn++] = 3; /* pad length */
	memcpy(pl + pn, "\x00\x00\x00\x00\x10", 5);
	pn += 5;
	memcpy(pl + pn, b1.b, b1.n);
	blocks[0].off[0] = o->n + 9 + pn;
	blocks[0].len[0] = b1.n;
	pn += b1.n;
	memset(pl + pn, 0, 3);
	pn += 3;
	frame(o, 1, 0x08 | 0x20 | 0x04 | 0x01, 1, pl, pn);
	/* a DATA frame full of "authorization" lookalikes: never touched */
	frame(o, 0, 0, 1, (const uint8_t *)"\x40\x0d" "authorization" "\x03" "abc", 19);
	/* block 2: dynamic 63 = authorization (62 is x-trace), a new
	 * value; dynamic 62 = x-trace, a new value (kept); split over
	 * HEADERS + CONTINUATION in the middle of the secret */
	put_int(&b2, 0x40, 6, 63);
	put_str(&b2, "Bearer SECRETviaDYN4", true);
	put_int(&b2, 0x00, 4, 63); /* now 63 is x-trace, 64 authorization */
	put_str(&b2, "keep-me-2", false);
	put8(&b2, 0xbe); /* indexed 62: the new authorization entry */
	size_t cut = b2.n / 3;
	blocks[1].off[0] = o->n + 9;
	blocks[1].len[0] = cut;
	frame(o, 1, 0, 3, b2.b, cut);
	blocks[1].off[1] = o->n + 9;
	blocks[1].len[1] = b2.n - cut;
	frame(o, 9, 0x04, 3, b2.b + cut, b2.n - cut);
	/* block 3: a size update to 0 empties the table; then a literal
	 * with new name "cookie" raw */
	put8(&b3, 0x20);
	put8(&b3, 0x00);
	put_str(&b3, "cookie", false);
	put_str(&b3, "a=1", false);
	blocks[2].off[0] = o->n + 9;
	blocks[2].len[0] = b3.n;
	frame(o, 1, 0x05, 5, b3.b, b3.n);
}

struct fields {
	char s[2048];
	int unknown;
};

static void on_field(void *ctx, const char *name, size_t nl, const char *value, size_t vl, unsigned flags)
{
	struct fields *f = ctx;
	size_t k = strlen(f->s);
	if (flags & HPACK_F_UNKNOWN)
		f->unknown++;
	snprintf(f->s + k, sizeof(f->s) - k, "%.*s=%.*s|", (int)nl, name, (int)vl, value);
}

/* Decodes the three blocks of a (redacted) stream with the parser's HPACK. */
static void decode_all(const uint8_t *s, struct fields *f)
{
	static struct hpack_table t;
	hpack_table_init(&t, true);
	hpack_table_set_limit(&t, 65535);
	memset(f, 0, sizeof(*f));
	for (int i = 0; i < 3; i++) {
		uint8_t blk[1024];
		size_t n = 0;
		for (int k = 0; k < 2; k++) {
			memcpy(blk + n, s + blocks[i].off[k], blocks[i].len[k]);
			n += blocks[i].len[k];
		}
		assert_int_equal(hpack_decode_block(&t, blk, n, on_field, f), 0);
	}
}

static bool has(const uint8_t *p, size_t n, const char *s)
{
	return memmem(p, n, s, strlen(s)) != NULL;
}

static void test_whole(void **state)
{
	struct buf o = {0};
	struct fields before, after;
	const char *secrets[] = {SECRETS};

	client_stream(&o);
	decode_all(o.b, &before);
	assert_string_equal(before.s,
			    ":method=GET|:path=/a|authorization=Bearer SECRETTOKEN1|cookie=sid=c00kieSECRET2|X-Api-Key="
			    "apiKEY3SECRET|x-trace=keep-me-1|proxy-authorization=Basic proxSECRET5|authorization=Bearer "
			    "SECRETviaDYN4|x-trace=keep-me-2|authorization=Bearer SECRETviaDYN4|cookie=a=1|");
	struct h2r *r = h2r_new();
	size_t done = h2r_feed(r, o.b, o.n, false);
	assert_true(done > 0);
	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		assert_false(has(o.b, o.n, secrets[i]));
	assert_true(has(o.b, o.n, "\x0d" "authorization\x03" "abc")); /* DATA untouched */
	decode_all(o.b, &after);
	/* raw values: '*' of the same length; Huffman ones: one '*' per byte */
	assert_string_equal(after.s, ":method=GET|:path=/a|authorization=*******************|cookie=*************|"
				     "X-Api-Key=*************|x-trace=keep-me-1|proxy-authorization=**************|"
				     "authorization=****************|x-trace=keep-me-2|authorization=****************|"
				     "cookie=***|");
	uint64_t det, lost;
	h2r_counts(r, &det, &lost);
	assert_int_equal(det, 1);
	assert_int_equal(lost, 0);
	h2r_free(r);
	(void)state;
}

static void test_every_split(void **state)
{
	struct buf o = {0}, want;
	uint8_t got[4096];

	client_stream(&o);
	want = o;
	struct h2r *r = h2r_new();
	h2r_feed(r, want.b, want.n, false);
	for (size_t a = 0; a <= o.n; a++) {
		for (size_t b = a; b <= o.n; b += (a % 7 == 0 ? 1 : 41)) {
			memcpy(got, o.b, o.n);
			h2r_reset(r);
			h2r_feed(r, got, a, false);
			h2r_feed(r, got + a, b - a, false);
			h2r_feed(r, got + b, o.n - b, false);
			if (memcmp(got, want.b, o.n) != 0)
				fail_msg("cuts at %zu and %zu differ from the whole pass", a, b);
		}
	}
	h2r_free(r);
	(void)state;
}

/* A server direction: SETTINGS first, then set-cookie (static 55). */
static void test_server_side(void **state)
{
	struct buf o = {0}, b = {0};
	frame(&o, 4, 0, 0, NULL, 0);
	frame(&o, 4, 1, 0, NULL, 0);
	put8(&b, 0x88); /* :status 200 */
	put_int(&b, 0x40, 6, 55);
	put_str(&b, "sess=SRVSECRET; Path=/", true);
	frame(&o, 1, 0x04, 1, b.b, b.n);
	struct h2r *r = h2r_new();
	/* a first payload shorter than a frame header is not recognised
	 * (h2_redact.h): cuts from 9 on, and none */
	for (size_t cut = 9; cut <= o.n + 1; cut++) {
		struct buf c = o;
		if (cut > o.n)
			cut = 0;
		h2r_reset(r);
		h2r_feed(r, c.b, cut, false);
		h2r_feed(r, c.b + cut, c.n - cut, false);
		assert_int_not_equal(memcmp(c.b, o.b, o.n), 0);
		assert_int_equal(c.b[c.n - 1], 0xf9);
		if (cut == 0)
			break;
	}
	h2r_free(r);
	(void)state;
}

/* Bytes that are not HTTP/2 are never touched, whatever they contain. */
static void test_not_h2(void **state)
{
	const char *inputs[] = {
	    "GET / HTTP/1.1\r\nAuthorization: Bearer X\r\n\r\n",
	    "*3\r\n$3\r\nSET\r\n$13\r\nauthorization\r\n",
	    "PRI * HTTP/1.1\r\n\r\n",
	};
	struct h2r *r = h2r_new();
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		uint8_t b[128];
		size_t n = strlen(inputs[i]);
		memcpy(b, inputs[i], n);
		h2r_reset(r);
		assert_int_equal(h2r_feed(r, b, n, false), 0);
		assert_memory_equal(b, inputs[i], n);
		assert_int_equal(zt_h2_redact(b, n), 0);
	}
	/* a plain stream stays plain even when a later payload looks like h2
	 * (only a SETTINGS frame or the preface start following there) */
	uint8_t fr[] = "\x00\x00\x13\x01\x04\x00\x00\x00\x01\x00\x0d" "authorization\x03" "abc";
	h2r_reset(r);
	uint8_t h1[] = "HTTP/1.1 200 OK\r\n\r\n";
	h2r_feed(r, h1, sizeof(h1) - 1, false);
	assert_int_equal(h2r_feed(r, fr, sizeof(fr) - 1, false), 0);
	/* the same frame as a direction's first payload: followed, masked */
	h2r_reset(r);
	assert_int_equal(h2r_feed(r, fr, sizeof(fr) - 1, false), 3);
	h2r_free(r);
	(void)state;
}

/* After a gap a known-h2 direction is followed again from a payload that
 * starts a frame; a dynamic name it cannot know is masked. */
static void test_gap(void **state)
{
	struct buf o = {0}, b = {0};
	client_stream(&o);
	struct h2r *r = h2r_new();
	h2r_feed(r, o.b, 40, true); /* a gap after */
	put_int(&b, 0x00, 4, 70);  /* unknown dynamic name */
	put_str(&b, "UNKNOWNSECRET", false);
	put_int(&b, 0x00, 4, 4); /* :path: kept */
	put_str(&b, "/kept", false);
	struct buf f = {0};
	frame(&f, 1, 0x05, 7, b.b, b.n);
	assert_int_equal(h2r_feed(r, f.b, f.n, false), 13);
	assert_false(has(f.b, f.n, "UNKNOWNSECRET"));
	assert_true(has(f.b, f.n, "/kept"));
	uint64_t det, lost;
	h2r_counts(r, &det, &lost);
	assert_int_equal(det, 2);
	assert_int_equal(lost, 1);
	/* stateless: the unknown name is left (not resolvable there) */
	struct buf g = {0};
	frame(&g, 1, 0x05, 7, b.b, b.n);
	assert_int_equal(zt_h2_redact(g.b, g.n), 0);
	h2r_free(r);
	(void)state;
}

/* Through the stream redactor that `ztrace record` uses, cut everywhere. */
static void test_stream_redactor(void **state)
{
	struct buf o = {0};
	const char *secrets[] = {SECRETS};
	client_stream(&o);
	for (size_t cut = 1; cut < o.n; cut += 3) {
		struct buf c = o;
		struct zt_redactor *red = zt_redactor_new(16);
		zt_redact_stream(red, 1, 2, 0, c.b, cut, cut);
		zt_redact_stream(red, 1, 2, 0, c.b + cut, c.n - cut, c.n - cut);
		for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
			if (has(c.b, c.n, secrets[i]))
				fail_msg("cut %zu: %s left", cut, secrets[i]);
		struct fields f;
		decode_all(c.b, &f);
		assert_non_null(strstr(f.s, "x-trace=keep-me-2|"));
		zt_redactor_free(red);
	}
	(void)state;
}

/* Huffman decoding in the redactor agrees with hpack_huff_decode (the
 * canonical-code assumption): a literal name Huffman-coded with every
 * symbol class is matched only when it spells a sensitive name. */
static void test_huffman_names(void **state)
{
	const char *names[] = {"authorization", "Set-Cookie", "x-auth-token", "authorizatio", "authorization2",
			       "x-{}~^|\\tok", "proxy-authorization"};
	const bool sens[] = {true, true, true, false, false, false, true};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct buf b = {0}, f = {0};
		put8(&b, 0x10);
		put_str(&b, names[i], true);
		put_str(&b, "vvvv", false);
		frame(&f, 1, 0x05, 1, b.b, b.n);
		assert_int_equal(zt_h2_redact(f.b, f.n), sens[i] ? 4 : 0);
	}
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_whole),	    cmocka_unit_test(test_every_split),
	    cmocka_unit_test(test_server_side),	    cmocka_unit_test(test_not_h2),
	    cmocka_unit_test(test_gap),		    cmocka_unit_test(test_stream_redactor),
	    cmocka_unit_test(test_huffman_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
