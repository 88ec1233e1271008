/* SPDX-License-Identifier: MIT */
/*
 * test_hpack.c - HPACK decoding (proto/hpack.h): RFC 7541 Appendix C byte
 * for byte (C.1 integers, C.2 literal representations, C.3/C.4 requests
 * without and with Huffman, C.5/C.6 responses with a 256-byte table and
 * eviction), Huffman edge cases (EOS, padding), every symbol round-tripped,
 * incomplete tables (never guessed, newer entries still usable), malformed
 * blocks, and every prefix of every vector at a guard page.
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

#include "parser_harness.h"
#include "proto/hpack.h"

/* ---- helpers ---- */

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
	size_t n = 0;

	for (; h[0] && h[1] && n < cap; h += 2) {
		unsigned v;
		assert_int_equal(sscanf(h, "%2x", &v), 1);
		out[n++] = (uint8_t)v;
	}
	return n;
}

/* Decoded fields as "name: value\n" lines; unknown ones as "?\n". */
struct got {
	char text[4096];
	size_t n;
	unsigned flags_or;
};

static void collect(void *ctx, const char *name, size_t nl, const char *value, size_t vl, unsigned flags)
{
	struct got *g = ctx;
	int k;

	g->flags_or |= flags;
	if (flags & HPACK_F_UNKNOWN)
		k = snprintf(g->text + g->n, sizeof(g->text) - g->n, "?\n");
	else if (flags & HPACK_F_NAME_UNKNOWN)
		k = snprintf(g->text + g->n, sizeof(g->text) - g->n, "?: %.*s\n", (int)vl, value);
	else
		k = snprintf(g->text + g->n, sizeof(g->text) - g->n, "%.*s: %.*s\n", (int)nl, name, (int)vl, value);
	g->n += (size_t)k;
	if (g->n >= sizeof(g->text))
		g->n = sizeof(g->text) - 1;
}

static int decode_hex(struct hpack_table *t, const char *hex, struct got *g)
{
	uint8_t buf[512];
	size_t n = unhex(hex, buf, sizeof(buf));

	memset(g, 0, sizeof(*g));
	return hpack_decode_block(t, ph_at_guard(buf, n), n, collect, g);
}

/* The table's entries newest first, as Appendix C lists them. */
static void table_text(const struct hpack_table *t, char *out, size_t cap)
{
	size_t o = 0;

	out[0] = '\0';
	for (int i = t->n - 1; i >= 0; i--)
		o += (size_t)snprintf(out + o, cap - o, "[%d] %.*s: %.*s\n", t->n - i, t->ent[i].nlen,
				      (const char *)t->buf + t->ent[i].off, t->ent[i].vlen,
				      (const char *)t->buf + t->ent[i].off + t->ent[i].nlen);
}

struct vec {
	const char *id, *hex, *fields, *table;
	uint32_t size;
};

static void run_vecs(const struct vec *v, size_t n, uint32_t max_size)
{
	static struct hpack_table t;
	struct got g;
	char tt[2048];

	hpack_table_init(&t, true);
	t.max_size = t.limit = max_size;
	for (size_t i = 0; i < n; i++) {
		int r = decode_hex(&t, v[i].hex, &g);
		if (r != 0)
			fail_msg("%s: decode answered %d", v[i].id, r);
		if (strcmp(g.text, v[i].fields))
			fail_msg("%s: fields\n%s\nwant\n%s", v[i].id, g.text, v[i].fields);
		table_text(&t, tt, sizeof(tt));
		if (strcmp(tt, v[i].table))
			fail_msg("%s: table\n%s\nwant\n%s", v[i].id, tt, v[i].table);
		if (t.size != v[i].size)
			fail_msg("%s: table size %u, want %u", v[i].id, t.size, v[i].size);
	}
}

/* ---- C.1 ---- */

static void test_c1_integers(void **st)
{
	uint32_t v;
	const uint8_t a[] = {0x0a}, b[] = {0x1f, 0x9a, 0x0a}, c[] = {0x2a};
	const uint8_t big[] = {0x1f, 0xff, 0xff, 0xff, 0xff, 0x0f};
	const uint8_t pad[] = {0x1f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};

	(void)st;
	assert_int_equal(hpack_int(a, 1, 5, &v), 1);
	assert_int_equal(v, 10);
	assert_int_equal(hpack_int(b, 3, 5, &v), 3);
	assert_int_equal(v, 1337);
	assert_int_equal(hpack_int(c, 1, 8, &v), 1);
	assert_int_equal(v, 42);
	/* incomplete prefixes, oversized values, endless continuation bytes */
	assert_int_equal(hpack_int(b, 2, 5, &v), 0);
	assert_int_equal(hpack_int(b, 0, 5, &v), 0);
	assert_int_equal(hpack_int(big, sizeof(big), 5, &v), -1);
	assert_int_equal(hpack_int(pad, sizeof(pad), 5, &v), -1);
}

/* ---- C.2 ---- */

static void test_c2_literals(void **st)
{
	static struct hpack_table t;
	struct got g;
	char tt[256];

	(void)st;
	hpack_table_init(&t, true);
	assert_int_equal(decode_hex(&t, "400a637573746f6d2d6b65790d637573746f6d2d686561646572", &g), 0);
	assert_string_equal(g.text, "custom-key: custom-header\n");
	table_text(&t, tt, sizeof(tt));
	assert_string_equal(tt, "[1] custom-key: custom-header\n");
	assert_int_equal(t.size, 55);

	hpack_table_init(&t, true);
	assert_int_equal(decode_hex(&t, "040c2f73616d706c652f70617468", &g), 0); /* C.2.2 */
	assert_string_equal(g.text, ":path: /sample/path\n");
	assert_int_equal(t.n, 0);
	assert_int_equal(decode_hex(&t, "100870617373776f726406736563726574", &g), 0); /* C.2.3 */
	assert_string_equal(g.text, "password: secret\n");
	assert_int_equal(t.n, 0);
	assert_int_equal(decode_hex(&t, "82", &g), 0); /* C.2.4 */
	assert_string_equal(g.text, ":method: GET\n");
	assert_int_equal(t.size, 0);
}

/* ---- C.3 / C.4: requests, table 4096 ---- */

#define REQ1 ":method: GET\n:scheme: http\n:path: /\n:authority: www.example.com\n"
#define REQ2 REQ1 "cache-control: no-cache\n"
#define REQ3 ":method: GET\n:scheme: https\n:path: /index.html\n:authority: www.example.com\ncustom-key: custom-value\n"
#define TBL1 "[1] :authority: www.example.com\n"
#define TBL2 "[1] cache-control: no-cache\n[2] :authority: www.example.com\n"
#define TBL3 "[1] custom-key: custom-value\n[2] cache-control: no-cache\n[3] :authority: www.example.com\n"

static const struct vec c3[] = {
    {"C.3.1", "828684410f7777772e6578616d706c652e636f6d", REQ1, TBL1, 57},
    {"C.3.2", "828684be58086e6f2d6361636865", REQ2, TBL2, 110},
    {"C.3.3", "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565", REQ3, TBL3, 164},
};
static const struct vec c4[] = {
    {"C.4.1", "828684418cf1e3c2e5f23a6ba0ab90f4ff", REQ1, TBL1, 57},
    {"C.4.2", "828684be5886a8eb10649cbf", REQ2, TBL2, 110},
    {"C.4.3", "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf", REQ3, TBL3, 164},
};

static void test_c3_requests(void **st)
{
	(void)st;
	run_vecs(c3, 3, 4096);
}

static void test_c4_requests_huffman(void **st)
{
	(void)st;
	run_vecs(c4, 3, 4096);
}

/* ---- C.5 / C.6: responses, table 256, eviction ---- */

#define RSP1                                                                                                 \
	":status: 302\ncache-control: private\ndate: Mon, 21 Oct 2013 20:13:21 GMT\n"                        \
	"location: https://www.example.com\n"
#define RSP2                                                                                                 \
	":status: 307\ncache-control: private\ndate: Mon, 21 Oct 2013 20:13:21 GMT\n"                        \
	"location: https://www.example.com\n"
#define RSP3                                                                                                 \
	":status: 200\ncache-control: private\ndate: Mon, 21 Oct 2013 20:13:22 GMT\n"                        \
	"location: https://www.example.com\ncontent-encoding: gzip\n"                                        \
	"set-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1\n"
#define RTBL1                                                                                                \
	"[1] location: https://www.example.com\n[2] date: Mon, 21 Oct 2013 20:13:21 GMT\n"                   \
	"[3] cache-control: private\n[4] :status: 302\n"
#define RTBL2                                                                                                \
	"[1] :status: 307\n[2] location: https://www.example.com\n[3] date: Mon, 21 Oct 2013 20:13:21 GMT\n" \
	"[4] cache-control: private\n"
#define RTBL3                                                                                                \
	"[1] set-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1\n"                         \
	"[2] content-encoding: gzip\n[3] date: Mon, 21 Oct 2013 20:13:22 GMT\n"

static const struct vec c5[] = {
    {"C.5.1",
     "4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470"
     "733a2f2f7777772e6578616d706c652e636f6d",
     RSP1, RTBL1, 222},
    {"C.5.2", "4803333037c1c0bf", RSP2, RTBL2, 222},
    {"C.5.3",
     "88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d4153444a"
     "4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31",
     RSP3, RTBL3, 215},
};
static const struct vec c6[] = {
    {"C.6.1",
     "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae8"
     "2ae43d3",
     RSP1, RTBL1, 222},
    {"C.6.2", "4883640effc1c0bf", RSP2, RTBL2, 222},
    {"C.6.3",
     "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960"
     "d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
     RSP3, RTBL3, 215},
};

static void test_c5_responses(void **st)
{
	(void)st;
	run_vecs(c5, 3, 256);
}

static void test_c6_responses_huffman(void **st)
{
	(void)st;
	run_vecs(c6, 3, 256);
}

/* ---- Huffman ---- */

/* Encodes s with the RFC's code, padding with ones. */
static size_t huff_encode(const uint8_t *s, size_t n, uint8_t *out)
{
	uint64_t acc = 0;
	unsigned bits = 0;
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		acc = acc << hpack_huff_code[s[i]].len | hpack_huff_code[s[i]].code;
		bits += hpack_huff_code[s[i]].len;
		while (bits >= 8) {
			out[o++] = (uint8_t)(acc >> (bits - 8));
			bits -= 8;
		}
	}
	if (bits)
		out[o++] = (uint8_t)(acc << (8 - bits) | ((1u << (8 - bits)) - 1));
	return o;
}

static void test_huffman_every_symbol(void **st)
{
	uint8_t s[256], enc[1024];
	char dec[300];
	size_t dl;

	(void)st;
	for (int i = 0; i < 256; i++)
		s[i] = (uint8_t)i;
	size_t el = huff_encode(s, 256, enc);
	assert_int_equal(hpack_huff_decode(enc, el, dec, sizeof(dec), &dl), 0);
	assert_int_equal(dl, 256);
	assert_memory_equal(dec, s, 256);
	/* every single symbol, and pairs of random ones */
	srand(7);
	for (int k = 0; k < 2000; k++) {
		size_t n = 1 + (size_t)(rand() % 40);
		for (size_t i = 0; i < n; i++)
			s[i] = (uint8_t)(k < 256 && i == 0 ? k : rand());
		el = huff_encode(s, n, enc);
		assert_int_equal(hpack_huff_decode(ph_at_guard(enc, el), el, dec, sizeof(dec), &dl), 0);
		assert_int_equal(dl, n);
		assert_memory_equal(dec, s, n);
	}
}

static void test_huffman_errors(void **st)
{
	char out[16];
	size_t n;
	const uint8_t a_ok[] = {0x1f};		 /* 'a' 00011 + 111 */
	const uint8_t a_zero_pad[] = {0x18};	 /* 'a' + 000: padding not ones */
	const uint8_t a_long_pad[] = {0x1f, 0xff}; /* 'a' + 11 ones: > 7 bits */
	const uint8_t eos[] = {0xff, 0xff, 0xff, 0xff}; /* EOS (30 ones) + 2 */
	const uint8_t only_pad[] = {0xfe};		 /* 7 ones then 0 */

	(void)st;
	assert_int_equal(hpack_huff_decode(a_ok, 1, out, sizeof(out), &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(out[0], 'a');
	assert_int_equal(hpack_huff_decode(a_zero_pad, 1, out, sizeof(out), &n), -1);
	assert_int_equal(hpack_huff_decode(a_long_pad, 2, out, sizeof(out), &n), -1);
	assert_int_equal(hpack_huff_decode(eos, 4, out, sizeof(out), &n), -1);
	assert_int_equal(hpack_huff_decode(only_pad, 1, out, sizeof(out), &n), -1);
	assert_int_equal(hpack_huff_decode(a_ok, 0, out, sizeof(out), &n), 0);
	assert_int_equal(n, 0);
}

/* ---- trust ---- */

static void test_incomplete_table_never_guesses(void **st)
{
	static struct hpack_table t;
	struct got g;

	(void)st;
	/* joined mid-connection: C.3.2 refers to entry 62, which we never saw */
	hpack_table_init(&t, false);
	assert_int_equal(decode_hex(&t, "828684be58086e6f2d6361636865", &g), 0);
	assert_string_equal(g.text, ":method: GET\n:scheme: http\n:path: /\n?\ncache-control: no-cache\n");
	assert_true(g.flags_or & HPACK_F_UNKNOWN);
	/* the entry it added is known: index 62 is now cache-control, 63 not */
	assert_int_equal(decode_hex(&t, "be", &g), 0);
	assert_string_equal(g.text, "cache-control: no-cache\n");
	assert_int_equal(decode_hex(&t, "bf", &g), 0);
	assert_string_equal(g.text, "?\n");
	/* an indexed name of an unknown entry with a literal value: the
	 * value is given, the name is not, and the table is lost */
	assert_int_equal(decode_hex(&t, "7f0003616263", &g), 0); /* name idx 63 */
	assert_string_equal(g.text, "?: abc\n");
	assert_int_equal(t.n, 0);
	assert_false(t.complete);
	/* a complete table: the same reference is an error, and the table
	 * is given up */
	hpack_table_init(&t, true);
	assert_int_equal(decode_hex(&t, "be", &g), -1);
	assert_false(t.complete);
	assert_int_equal(decode_hex(&t, "be", &g), 0);
	assert_string_equal(g.text, "?\n");
}

static void test_malformed_blocks(void **st)
{
	static struct hpack_table t;
	struct got g;

	(void)st;
	const char *bad[] = {
	    "80",		  /* index 0 */
	    "c0",		  /* index 64 on an empty, complete table */
	    "3fe21f",		  /* size update 4097 > limit */
	    "823f",		  /* size update after a field (and cut) */
	    "82203fe11f",	  /* size update after a field */
	    "400a6375",		  /* string longer than the block */
	    "408f",		  /* Huffman string cut */
	    "40811800",		  /* Huffman name with zero padding */
	    "ff8080808080808001", /* integer too long */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		hpack_table_init(&t, true);
		if (decode_hex(&t, bad[i], &g) != -1)
			fail_msg("'%s' decoded", bad[i]);
	}
	/* a size update within the limit evicts */
	hpack_table_init(&t, true);
	assert_int_equal(decode_hex(&t, "400a637573746f6d2d6b65790d637573746f6d2d686561646572", &g), 0);
	assert_int_equal(t.n, 1);
	assert_int_equal(decode_hex(&t, "20", &g), 0);
	assert_int_equal(t.n, 0);
	assert_int_equal(t.max_size, 0);
	/* a larger limit announced by SETTINGS allows a larger update */
	hpack_table_set_limit(&t, 8192);
	assert_int_equal(decode_hex(&t, "3fe13f", &g), 0);
	assert_int_equal(t.max_size, 8192);
}

/* More and larger entries than our storage: the oldest go, the table is
 * marked incomplete, references to them are unknown, not wrong. */
static void test_storage_bound(void **st)
{
	static struct hpack_table t;
	uint8_t blk[4200];
	struct got g;

	(void)st;
	hpack_table_init(&t, true);
	hpack_table_set_limit(&t, 65536);
	t.max_size = 65536;
	for (int i = 0; i < 300; i++) {
		/* literal, new name "k" + 2 digits, value of 30 bytes */
		size_t o = 0;
		blk[o++] = 0x40;
		blk[o++] = 3;
		o += (size_t)sprintf((char *)blk + o, "k%02d", i % 100);
		blk[o++] = 30;
		memset(blk + o, 'a' + i % 26, 30);
		o += 30;
		memset(&g, 0, sizeof(g));
		assert_int_equal(hpack_decode_block(&t, blk, o, collect, &g), 0);
		assert_true(t.used <= HPACK_TABLE_MAX && t.n <= HPACK_ENTRIES_MAX);
	}
	assert_false(t.complete);
	memset(&g, 0, sizeof(g));
	assert_int_equal(decode_hex(&t, "be", &g), 0); /* the newest: known */
	assert_string_equal(g.text, "k99: " "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\n");
	blk[0] = 0xff; /* index 127 + 200: past what we hold */
	blk[1] = 200;
	blk[2] = 1;
	memset(&g, 0, sizeof(g));
	assert_int_equal(hpack_decode_block(&t, blk, 3, collect, &g), 0);
	assert_string_equal(g.text, "?\n");
	/* a value longer than HPACK_STR_MAX is cut in the callback and, too
	 * large for the 64 KiB table's storage, makes the table lost */
	size_t o = 0;
	blk[o++] = 0x40;
	blk[o++] = 1;
	blk[o++] = 'x';
	blk[o++] = 0x7f;
	blk[o++] = 0x81;
	blk[o++] = 0x20; /* 127 + 4097 = 4224 */
	memset(blk + o, 'v', 4224 - 100);
	assert_int_equal(hpack_decode_block(&t, blk, o + 4124, collect, &g), -1); /* too short */
	static uint8_t big[4300];
	memcpy(big, blk, o);
	memset(big + o, 'v', 4224);
	memset(&g, 0, sizeof(g));
	hpack_table_init(&t, true);
	hpack_table_set_limit(&t, 65536);
	t.max_size = 65536;
	assert_int_equal(hpack_decode_block(&t, big, o + 4224, collect, &g), 0);
	assert_true(g.flags_or & HPACK_F_CUT);
	assert_false(t.complete);
}

/* Every prefix of every vector, at the guard page: decodes or fails, never
 * reads past the end. */
static void test_every_prefix(void **st)
{
	static struct hpack_table t;
	const struct vec *sets[] = {c3, c4, c5, c6};
	uint8_t buf[512];
	struct got g;

	(void)st;
	for (size_t s = 0; s < 4; s++)
		for (size_t i = 0; i < 3; i++) {
			size_t n = unhex(sets[s][i].hex, buf, sizeof(buf));
			for (size_t k = 0; k <= n; k++) {
				hpack_table_init(&t, false);
				memset(&g, 0, sizeof(g));
				int r = hpack_decode_block(&t, ph_at_guard(buf, k), k, collect, &g);
				assert_true(r == 0 || r == -1);
			}
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_c1_integers),
	    cmocka_unit_test(test_c2_literals),
	    cmocka_unit_test(test_c3_requests),
	    cmocka_unit_test(test_c4_requests_huffman),
	    cmocka_unit_test(test_c5_responses),
	    cmocka_unit_test(test_c6_responses_huffman),
	    cmocka_unit_test(test_huffman_every_symbol),
	    cmocka_unit_test(test_huffman_errors),
	    cmocka_unit_test(test_incomplete_table_never_guesses),
	    cmocka_unit_test(test_malformed_blocks),
	    cmocka_unit_test(test_storage_bound),
	    cmocka_unit_test(test_every_prefix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
