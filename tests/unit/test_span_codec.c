/* SPDX-License-Identifier: MIT */
/* The span codec (model/span_codec.h): round trips of an all-null span, of
 * spans with every field at its widest, of a typical span and of 10k
 * pseudo-random ones (each compared field by field, tests/unit/span_eq.h);
 * the bytes match a second writer of the layout the header documents; the
 * keys read without decoding; records decode back in sequence from one
 * buffer; every truncation and every kind of damage is refused without a read
 * past the input (inputs end at a guard page, and the ASan build checks the
 * same); encode refuses a buffer smaller than ZT_SPAN_CODEC_MAX. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "model/span.h"
#include "model/span_codec.h"
#include "span_eq.h"

#define N_RANDOM 10000

static uint64_t rng;
static uint64_t xr(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* ---- inputs that end at a guard page ---------------------------------- */

static uint8_t *g_pages;
static size_t g_room;
static uint8_t *g_all, *g_in; /* test_random_spans' records (freed at the end, even after a failure) */

static int guard_setup(void **state)
{
	long pg = sysconf(_SC_PAGESIZE);

	(void)state;
	g_room = (ZT_SPAN_CODEC_MAX + (size_t)pg - 1) / (size_t)pg * (size_t)pg;
	g_pages = mmap(NULL, g_room + (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g_pages == MAP_FAILED || mprotect(g_pages + g_room, (size_t)pg, PROT_NONE))
		return -1;
	g_all = malloc((size_t)N_RANDOM * ZT_SPAN_CODEC_MAX);
	return g_all ? 0 : -1;
}

static int guard_teardown(void **state)
{
	(void)state;
	munmap(g_pages, g_room + (size_t)sysconf(_SC_PAGESIZE));
	free(g_all);
	free(g_in);
	return 0;
}

/* A copy of in[0..len) whose last byte is the last before the guard page. */
static const uint8_t *guarded(const uint8_t *in, size_t len)
{
	uint8_t *p = g_pages + g_room - len;

	assert_true(len <= g_room);
	memcpy(p, in, len);
	return p;
}

/* ---- spans -------------------------------------------------------------- */

static void *field_at(struct zt_span *s, int f)
{
	return (char *)s + zt_span_fields[f].offset;
}

/* An integer of a random width (small values are the common case, and every
 * varint length is reached), sometimes all ones. */
static uint64_t rnd_int(void)
{
	unsigned bits = (unsigned)(xr() % 66);

	if (bits == 65)
		return UINT64_MAX;
	return bits == 64 ? xr() : xr() & ((1ULL << bits) - 1);
}

static void rnd_text(char *dst, size_t size)
{
	size_t n;

	switch (xr() % 4) {
	case 0:
		n = 0;
		break;
	case 1:
		n = size - 1;
		break;
	default:
		n = xr() % size;
	}
	for (size_t i = 0; i < n; i++)
		dst[i] = (char)(1 + xr() % 255); /* any byte but NUL */
	dst[n] = '\0';
}

static void rnd_ip(uint8_t ip[16])
{
	memset(ip, 0, 16);
	switch (xr() % 5) {
	case 0: /* null */
		break;
	case 1: /* v4-mapped */
		ip[10] = ip[11] = 0xff;
		for (int i = 12; i < 16; i++)
			ip[i] = (uint8_t)xr();
		break;
	case 2: /* ::a.b.c.d and ::fe:a.b.c.d: the v4 prefix but one byte */
		ip[11] = xr() % 2 ? 0xff : 0;
		for (int i = 12; i < 16; i++)
			ip[i] = (uint8_t)xr();
		break;
	case 3: /* v6, only the last byte set */
		ip[15] = (uint8_t)(1 + xr() % 255);
		break;
	default:
		for (int i = 0; i < 16; i++)
			ip[i] = (uint8_t)xr();
	}
}

/* Every field from the field table at a random value; the bytes past each
 * string's NUL, and attributes past n, are left as garbage. */
static void rnd_span(struct zt_span *s)
{
	memset(s, 0xa5, sizeof(*s));
	for (int f = 0; f < ZT_F__COUNT; f++) {
		const struct zt_field *d = &zt_span_fields[f];
		void *p = field_at(s, f);
		uint64_t v = rnd_int();

		switch (d->kind) {
		case ZT_FK_STR:
			rnd_text(p, d->size);
			break;
		case ZT_FK_IP:
			rnd_ip(p);
			break;
		case ZT_FK_ATTRS: {
			struct zt_attrs *a = p;
			a->n = (uint8_t)(xr() % (ZT_ATTRS_MAX + 1));
			for (unsigned i = 0; i < a->n; i++) {
				rnd_text(a->a[i].key, ZT_ATTR_KEY_LEN);
				rnd_text(a->a[i].val, ZT_ATTR_VAL_LEN);
			}
			break;
		}
		case ZT_FK_I32N: {
			static const int32_t edge[] = {-1, INT32_MIN, INT32_MAX, 0, 200, 404, 503};
			int32_t x = xr() % 2 ? edge[xr() % 7] : (int32_t)(uint32_t)(xr() % 2 ? v : -v);
			memcpy(p, &x, 4);
			break;
		}
		default:
			switch (span_eq_member_size[f]) {
			case 1:
				*(uint8_t *)p = (uint8_t)v;
				break;
			case 2: {
				uint16_t x = (uint16_t)v;
				memcpy(p, &x, 2);
				break;
			}
			case 4: {
				uint32_t x = (uint32_t)v;
				memcpy(p, &x, 4);
				break;
			}
			default:
				memcpy(p, &v, 8);
			}
		}
	}
}

/* Every field at its widest: strings and attributes full (0xff bytes, the
 * most escaping in JSON), integers at their maximum, end_ns before start_ns;
 * response_code and the addresses as given. */
static void max_span(struct zt_span *s, int32_t code, const uint8_t cip[16], const uint8_t sip[16])
{
	memset(s, 0xff, sizeof(*s));
	for (int f = 0; f < ZT_F__COUNT; f++) {
		const struct zt_field *d = &zt_span_fields[f];
		char *p = field_at(s, f);

		if (d->kind == ZT_FK_STR) {
			p[d->size - 1] = '\0';
		} else if (d->kind == ZT_FK_ATTRS) {
			struct zt_attrs *a = (void *)p;
			a->n = ZT_ATTRS_MAX;
			for (unsigned i = 0; i < ZT_ATTRS_MAX; i++) {
				memset(a->a[i].key, '"', ZT_ATTR_KEY_LEN - 1);
				a->a[i].key[ZT_ATTR_KEY_LEN - 1] = '\0';
				a->a[i].val[ZT_ATTR_VAL_LEN - 1] = '\0';
			}
		}
	}
	s->start_ns = UINT64_MAX;
	s->end_ns = 0;
	s->response_code = code;
	memcpy(s->client_ip, cip, 16);
	memcpy(s->server_ip, sip, 16);
}

/* What an HTTP exchange through nginx looks like. */
static void typical_span(struct zt_span *s)
{
	zt_span_clear(s);
	strcpy(s->span_uid, "5f0e1d2c3b4a6978");
	s->start_ns = 1800000000123456789ULL;
	s->end_ns = s->start_ns + 1234567;
	s->duration_ns = 1234567;
	s->tap_side = ZT_TAP_SERVER_PROCESS;
	strcpy(s->host, "web-1");
	s->netns = 4026531840u;
	s->pid = 81234;
	s->tid_req = s->tid_resp = 81234;
	strcpy(s->process, "nginx");
	s->l7_protocol = ZT_L7_HTTP1;
	strcpy(s->version, "1.1");
	strcpy(s->request_type, "GET");
	strcpy(s->request_domain, "shop.example.com");
	strcpy(s->request_resource, "/api/v1/users/42?expand=orders");
	strcpy(s->endpoint, "/api/v1/users/{id}");
	s->response_status = ZT_RS_OK;
	s->response_code = 200;
	s->req_bytes = 412;
	s->resp_bytes = 18234;
	s->client_ip[10] = s->client_ip[11] = s->server_ip[10] = s->server_ip[11] = 0xff;
	memcpy(s->client_ip + 12, "\x0a\x00\x00\x07", 4);
	memcpy(s->server_ip + 12, "\x0a\x00\x00\x02", 4);
	s->client_port = 51234;
	s->server_port = 8080;
	s->l4_protocol = 6;
	s->req_tcp_seq = 3000000000u;
	s->resp_tcp_seq = 12345678;
	s->syscall_trace_id_req = 1ULL << 40 | 77;
	strcpy(s->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
	strcpy(s->span_id, "00f067aa0ba902b7");
	s->link_kind = ZT_LINK_EXPLICIT;
	zt_attrs_add(&s->attributes, "http.user_agent", "curl/7.88.1", 11);
	s->flags = ZT_SPAN_HAS_SEQ | ZT_SPAN_HAS_RESP_SEQ;
}

/* ---- a second writer of the layout span_codec.h documents, from the
 * run-time field table, that can write one kind of damage ---------------- */

enum dmg {
	D_NONE,
	D_STR_LEN,	/* field f (a string): length = its size, that many bytes follow */
	D_IP_FORM,	/* field f (an IP): form byte arg, then 16 bytes */
	D_ATTRS_N,	/* count arg, then arg well-formed attributes */
	D_ATTR_KEY_LEN, /* the first key: ZT_ATTR_KEY_LEN bytes */
	D_ATTR_VAL_LEN, /* the first value: ZT_ATTR_VAL_LEN bytes */
	D_VARINT11,	/* field f (a varint): 11 bytes, value 0 */
	D_VARINT_WIDE,	/* field f (a varint): 10 bytes holding a bit past 64 */
	D_VALUE,	/* field f (a varint): arg, whatever the field holds */
	D_BODY_LONG,	/* the length prefix counts one byte more than follows */
	D_BODY_SHORT,	/* the length prefix is arg (< 10), that many bytes follow */
	D_TRAILING,	/* one byte more inside the body */
};
struct dmg_at {
	enum dmg d;
	int f;
	uint64_t arg;
};

struct wr {
	uint8_t *p;
};

static void w_u8(struct wr *w, uint8_t b)
{
	*w->p++ = b;
}

static void w_bytes(struct wr *w, const void *b, size_t n)
{
	memcpy(w->p, b, n);
	w->p += n;
}

static void w_varint(struct wr *w, uint64_t v)
{
	do {
		w_u8(w, (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0)));
		v >>= 7;
	} while (v);
}

static void w_fill(struct wr *w, uint8_t b, size_t n)
{
	memset(w->p, b, n);
	w->p += n;
}

/* Field f's integer v, or its damage. */
static void w_int(struct wr *w, int f, uint64_t v, const struct dmg_at *g)
{
	if (g->f != f || (g->d != D_VARINT11 && g->d != D_VARINT_WIDE && g->d != D_VALUE)) {
		w_varint(w, v);
	} else if (g->d == D_VARINT11) {
		w_fill(w, 0x80, 10);
		w_u8(w, 0);
	} else if (g->d == D_VARINT_WIDE) {
		w_fill(w, 0xff, 9);
		w_u8(w, 0x02); /* bit 64 */
	} else {
		w_varint(w, g->arg);
	}
}

static uint64_t zz(int64_t v)
{
	return (uint64_t)v << 1 ^ (uint64_t)(v >> 63);
}

static void w_attrs(struct wr *w, const struct zt_attrs *a, const struct dmg_at *g)
{
	unsigned n = g->d == D_ATTRS_N ? (unsigned)g->arg : a->n;

	w_u8(w, (uint8_t)n);
	for (unsigned i = 0; i < n; i++) {
		const char *k = i < a->n ? a->a[i].key : "k", *v = i < a->n ? a->a[i].val : "v";
		size_t kl = strlen(k), vl = strlen(v);

		if (i == 0 && g->d == D_ATTR_KEY_LEN)
			kl = ZT_ATTR_KEY_LEN, k = NULL;
		if (i == 0 && g->d == D_ATTR_VAL_LEN)
			vl = ZT_ATTR_VAL_LEN, v = NULL;
		w_u8(w, (uint8_t)kl);
		k ? w_bytes(w, k, kl) : w_fill(w, 'k', kl);
		w_u8(w, (uint8_t)vl);
		v ? w_bytes(w, v, vl) : w_fill(w, 'v', vl);
	}
}

/* The record into out; its size. */
static size_t ref_encode(const struct zt_span *s, uint8_t *out, const struct dmg_at *g)
{
	struct wr w = {out + 3};
	size_t n;

	for (int i = 0; i < 8; i++)
		w_u8(&w, (uint8_t)(s->start_ns >> 8 * i));
	for (int k = 0; k < 2; k++) { /* the keys: u8 lengths */
		int f = k ? ZT_F_trace_id : ZT_F_span_uid;
		const char *t = (const char *)s + zt_span_fields[f].offset;

		if (g->d == D_STR_LEN && g->f == f) {
			w_u8(&w, (uint8_t)zt_span_fields[f].size);
			w_fill(&w, 'u', zt_span_fields[f].size);
		} else {
			w_u8(&w, (uint8_t)strlen(t));
			w_bytes(&w, t, strlen(t));
		}
	}
	for (int f = 0; f < ZT_F__COUNT; f++) {
		const struct zt_field *d = &zt_span_fields[f];
		const uint8_t *p = (const uint8_t *)s + d->offset;
		uint64_t v = 0;

		if (f == ZT_F_span_uid || f == ZT_F_start_ns || f == ZT_F_trace_id)
			continue;
		switch (d->kind) {
		case ZT_FK_STR:
			if (g->d == D_STR_LEN && g->f == f) {
				w_varint(&w, d->size);
				w_fill(&w, 's', d->size);
			} else {
				w_varint(&w, strlen((const char *)p));
				w_bytes(&w, p, strlen((const char *)p));
			}
			break;
		case ZT_FK_IP: {
			static const uint8_t zero[16], v4[12] = {[10] = 0xff, [11] = 0xff};
			if (g->d == D_IP_FORM && g->f == f) {
				w_u8(&w, (uint8_t)g->arg);
				w_bytes(&w, p, 16);
			} else if (!memcmp(p, zero, 16)) {
				w_u8(&w, 0);
			} else if (!memcmp(p, v4, 12)) {
				w_u8(&w, 4);
				w_bytes(&w, p + 12, 4);
			} else {
				w_u8(&w, 16);
				w_bytes(&w, p, 16);
			}
			break;
		}
		case ZT_FK_ATTRS:
			w_attrs(&w, (const void *)p, g);
			break;
		case ZT_FK_TAP:
		case ZT_FK_L7:
		case ZT_FK_L4:
		case ZT_FK_RSTATUS:
		case ZT_FK_BOOL:
		case ZT_FK_LINK:
			w_u8(&w, *p);
			break;
		case ZT_FK_I32N: {
			int32_t x;
			memcpy(&x, p, 4);
			w_int(&w, f, zz(x), g);
			break;
		}
		default: /* the unsigned integers, end_ns as a signed distance */
			memcpy(&v, p, span_eq_member_size[f]); /* little-endian */
			if (f == ZT_F_end_ns)
				v = zz((int64_t)(s->end_ns - s->start_ns));
			w_int(&w, f, v, g);
		}
	}
	if (g->d == D_TRAILING)
		w_u8(&w, 0);
	n = (size_t)(w.p - (out + 3));
	if (g->d == D_BODY_LONG)
		n++;
	if (g->d == D_BODY_SHORT)
		n = g->arg;
	out[0] = (uint8_t)(n | 0x80);
	out[1] = (uint8_t)(n >> 7 | 0x80);
	out[2] = (uint8_t)(n >> 14);
	return g->d == D_BODY_SHORT ? 3 + n : (size_t)(w.p - out);
}

/* ---- checks ------------------------------------------------------------- */

static uint8_t g_enc[ZT_SPAN_CODEC_MAX], g_ref[2 * ZT_SPAN_CODEC_MAX];
static struct zt_span g_out;

static void assert_same(const struct zt_span *want, const struct zt_span *got)
{
	int f = span_diff(want, got);

	if (f >= 0)
		fail_msg("field %s differs", zt_span_fields[f].name);
}

/* keys read from in[0..len) give s's start_ns, span_uid, trace_id */
static void assert_keys(const uint8_t *in, size_t len, const struct zt_span *s, size_t size)
{
	struct zt_span_keys k;

	assert_int_equal(zt_span_keys(in, len, &k), 0);
	assert_int_equal(k.size, size);
	assert_true(k.start_ns == s->start_ns);
	assert_int_equal(k.uid_len, strlen(s->span_uid));
	assert_memory_equal(k.uid, s->span_uid, k.uid_len);
	assert_int_equal(k.trace_len, strlen(s->trace_id));
	assert_memory_equal(k.trace, s->trace_id, k.trace_len);
	assert_true((const uint8_t *)k.uid > in && (const uint8_t *)k.trace + k.trace_len <= in + size);
}

/* s encodes to the documented layout, decodes to itself taking exactly its
 * bytes (from an input ending at the guard page), and its keys read back:
 * the encoded size. */
static size_t round_trip(const struct zt_span *s)
{
	static const struct dmg_at none = {D_NONE, -1, 0};
	long n = zt_span_encode(s, g_enc, sizeof(g_enc));
	const uint8_t *in;

	assert_true(n > 10 && (size_t)n <= ZT_SPAN_CODEC_MAX);
	assert_int_equal(ref_encode(s, g_ref, &none), n);
	assert_memory_equal(g_ref, g_enc, (size_t)n);
	in = guarded(g_enc, (size_t)n);
	memset(&g_out, 0x5a, sizeof(g_out));
	assert_int_equal(zt_span_decode(in, (size_t)n, &g_out), n);
	assert_same(s, &g_out);
	assert_keys(in, (size_t)n, s, (size_t)n);
	return (size_t)n;
}

/* Every cut of the record in enc[0..n) is refused: the input cut (the
 * length prefix then says more than there is), and the body cut with the
 * prefix saying so (the decoder then runs out inside a field). */
static void assert_cuts_refused(const uint8_t *enc, size_t n)
{
	static uint8_t cut[ZT_SPAN_CODEC_MAX];
	struct zt_span_keys k;

	for (size_t len = 0; len < n; len++) {
		const uint8_t *in = guarded(enc, len);
		assert_int_equal(zt_span_decode(in, len, &g_out), -EINVAL);
		assert_int_equal(zt_span_keys(in, len, &k), -EINVAL);
	}
	for (size_t body = 0; body < n - 3; body++) {
		memcpy(cut + 3, enc + 3, body);
		cut[0] = (uint8_t)(body | 0x80);
		cut[1] = (uint8_t)(body >> 7 | 0x80);
		cut[2] = (uint8_t)(body >> 14);
		assert_int_equal(zt_span_decode(guarded(cut, 3 + body), 3 + body, &g_out), -EINVAL);
	}
}

/* ---- tests -------------------------------------------------------------- */

static void test_null_span(void **state)
{
	static struct zt_span s;
	size_t n;

	(void)state;
	memset(&s, 0xa5, sizeof(s)); /* garbage past every string's NUL */
	zt_span_clear(&s);
	n = round_trip(&s);
	/* 3 prefix, 8 start_ns, 2 key lengths, one byte for every other field
	 * but response_code (-1: zigzag 1, one byte too) */
	assert_int_equal(n, 3 + 8 + 2 + (ZT_F__COUNT - 3));
	assert_cuts_refused(g_enc, n);
}

static void test_max_span(void **state)
{
	static const uint8_t zero[16], v4[16] = {[10] = 0xff, [11] = 0xff, 255, 255, 255, 255},
				       v6[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
						 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	static const int32_t codes[] = {-1, INT32_MIN, INT32_MAX};
	static const uint8_t *const ips[] = {zero, v4, v6};
	static struct zt_span s;
	size_t widest = 0;

	(void)state;
	for (int c = 0; c < 3; c++)
		for (int i = 0; i < 3; i++)
			for (int j = 0; j < 3; j++) {
				size_t n;

				max_span(&s, codes[c], ips[i], ips[j]);
				n = round_trip(&s);
				if (n > widest)
					widest = n;
				if (c == 1 && i == 2 && j == 2)
					assert_cuts_refused(g_enc, n);
			}
	print_message("widest span: %zu bytes encoded (ZT_SPAN_CODEC_MAX %zu, struct %zu)\n", widest,
		      (size_t)ZT_SPAN_CODEC_MAX, sizeof(struct zt_span));
	/* ZT_SPAN_CODEC_MAX holds the widest span, with room to spare */
	assert_true(widest + 64 <= ZT_SPAN_CODEC_MAX);
}

static void test_typical_span(void **state)
{
	static struct zt_span s;
	size_t n;

	(void)state;
	typical_span(&s);
	n = round_trip(&s);
	print_message("typical span: %zu bytes encoded\n", n);
	/* 265 bytes with its trace context (the header: ~150-250 typical),
	 * against ~2.7 KiB in memory */
	assert_true(n < 300);
	assert_cuts_refused(g_enc, n);
}

static void test_random_spans(void **state)
{
	static struct zt_span s;
	size_t total = 0, off = 0;
	uint8_t *all = g_all, *in;

	(void)state;
	rng = 0x9e3779b97f4a7c15ULL;
	for (int i = 0; i < N_RANDOM; i++) {
		size_t n;

		rnd_span(&s);
		n = round_trip(&s);
		if (i < 200)
			assert_cuts_refused(g_enc, n);
		memcpy(all + total, g_enc, n);
		total += n;
	}
	/* the same spans back, in order, from one buffer (the bytes after each
	 * record are the next record: a decoder reading past its record's end
	 * would take them) */
	in = g_in = malloc(total);
	assert_non_null(in);
	memcpy(in, all, total);
	rng = 0x9e3779b97f4a7c15ULL;
	for (int i = 0; i < N_RANDOM; i++) {
		long n;

		rnd_span(&s);
		n = zt_span_decode(in + off, total - off, &g_out);
		assert_true(n > 0);
		assert_same(&s, &g_out);
		assert_keys(in + off, total - off, &s, (size_t)n);
		off += (size_t)n;
	}
	assert_int_equal(off, total);
	assert_int_equal(zt_span_decode(in + off, 0, &g_out), -EINVAL);
}

/* zt_span_reassemble: the record with trace_id, parent_uid and link_kind
 * replaced is, byte for byte, what encoding the span with those values
 * gives, for random spans and new values of every length (empty included);
 * a cut record is refused, and so is too small a buffer. */
static void test_reassemble(void **state)
{
	static struct zt_span s;
	static uint8_t out[ZT_SPAN_CODEC_MAX + 64], want[ZT_SPAN_CODEC_MAX];

	(void)state;
	rng = 0x1234567;
	for (int i = 0; i < 3000; i++) {
		char tid[ZT_TRACE_ID_LEN], par[ZT_UID_LEN];
		uint8_t link = (uint8_t)(xr() % 5);
		long n, w, r;

		rnd_span(&s);
		n = zt_span_encode(&s, g_enc, ZT_SPAN_CODEC_MAX);
		assert_true(n > 0);
		memset(tid, 0, sizeof(tid));
		memset(par, 0, sizeof(par));
		memset(tid, 'a' + (int)(xr() % 6), xr() % ZT_TRACE_ID_LEN);
		memset(par, '0' + (int)(xr() % 10), xr() % ZT_UID_LEN);
		r = zt_span_reassemble(g_enc, (size_t)n, tid, par, link, out, sizeof(out));
		memcpy(s.trace_id, tid, sizeof(tid));
		memcpy(s.parent_uid, par, sizeof(par));
		s.link_kind = link;
		w = zt_span_encode(&s, want, sizeof(want));
		assert_int_equal(r, w);
		assert_memory_equal(out, want, (size_t)w);
		if (i < 50) {
			assert_int_equal(zt_span_reassemble(g_enc, (size_t)n - 1, tid, par, link, out, sizeof(out)),
					 -EINVAL);
			assert_int_equal(zt_span_reassemble(g_enc, (size_t)n, tid, par, link, out, (size_t)w - 1),
					 -ENOSPC);
		}
	}
}

/* One damaged record of s is refused; the same record undamaged is not
 * (so the damage is what is refused). */
static void assert_damage_refused(const struct zt_span *s, enum dmg d, int f, uint64_t arg)
{
	static const struct dmg_at none = {D_NONE, -1, 0};
	struct dmg_at g = {d, f, arg};
	size_t n = ref_encode(s, g_ref, &none);

	assert_int_equal(zt_span_decode(guarded(g_ref, n), n, &g_out), (long)n);
	n = ref_encode(s, g_ref, &g);
	if (zt_span_decode(guarded(g_ref, n), n, &g_out) != -EINVAL)
		fail_msg("damage %d at %s (arg %llu) accepted", (int)d, f >= 0 ? zt_span_fields[f].name : "-",
			 (unsigned long long)arg);
}

static void test_damage_refused(void **state)
{
	static struct zt_span s;
	static const uint8_t forms[] = {1, 3, 5, 15, 17, 255};

	(void)state;
	typical_span(&s);
	for (int f = 0; f < ZT_F__COUNT; f++) {
		const struct zt_field *d = &zt_span_fields[f];

		switch (d->kind) {
		case ZT_FK_STR:
			assert_damage_refused(&s, D_STR_LEN, f, 0);
			break;
		case ZT_FK_IP:
			for (unsigned i = 0; i < sizeof(forms); i++)
				assert_damage_refused(&s, D_IP_FORM, f, forms[i]);
			break;
		case ZT_FK_U64:
		case ZT_FK_U64Z:
		case ZT_FK_U32:
		case ZT_FK_PORT:
		case ZT_FK_I32N:
		case ZT_FK_SEQREQ:
		case ZT_FK_SEQRESP:
		case ZT_FK_FLAGS:
			if (f == ZT_F_start_ns) /* fixed 8 bytes */
				break;
			assert_damage_refused(&s, D_VARINT11, f, 0);
			assert_damage_refused(&s, D_VARINT_WIDE, f, 0);
			if (d->kind == ZT_FK_I32N) {
				assert_damage_refused(&s, D_VALUE, f, zz((int64_t)INT32_MAX + 1));
				assert_damage_refused(&s, D_VALUE, f, zz((int64_t)INT32_MIN - 1));
			} else if (d->kind == ZT_FK_PORT) {
				assert_damage_refused(&s, D_VALUE, f, 1ULL << 16);
			} else if (span_eq_member_size[f] == 4) {
				assert_damage_refused(&s, D_VALUE, f, 1ULL << 32);
				assert_damage_refused(&s, D_VALUE, f, UINT64_MAX);
			}
			break;
		default:
			break;
		}
	}
	assert_damage_refused(&s, D_ATTRS_N, -1, ZT_ATTRS_MAX + 1);
	assert_damage_refused(&s, D_ATTRS_N, -1, 255);
	assert_damage_refused(&s, D_ATTR_KEY_LEN, -1, 0);
	assert_damage_refused(&s, D_ATTR_VAL_LEN, -1, 0);
	assert_damage_refused(&s, D_BODY_LONG, -1, 0);
	assert_damage_refused(&s, D_TRAILING, -1, 0);
	for (unsigned b = 0; b < 10; b++)
		assert_damage_refused(&s, D_BODY_SHORT, -1, b);
}

static void test_encode_room(void **state)
{
	static struct zt_span s;
	static uint8_t out[ZT_SPAN_CODEC_MAX];
	static const size_t caps[] = {0, 1, 300, ZT_SPAN_CODEC_MAX - 1};

	(void)state;
	typical_span(&s); /* ~200 bytes: the room asked for is the worst case's */
	for (unsigned i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		memset(out, 0x77, sizeof(out));
		assert_int_equal(zt_span_encode(&s, out, caps[i]), -ENOSPC);
		for (size_t j = 0; j < sizeof(out); j++)
			assert_int_equal(out[j], 0x77); /* nothing written */
	}
	assert_true(zt_span_encode(&s, out, ZT_SPAN_CODEC_MAX) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_null_span),	   cmocka_unit_test(test_max_span),
	    cmocka_unit_test(test_typical_span),   cmocka_unit_test(test_random_spans),
	    cmocka_unit_test(test_damage_refused), cmocka_unit_test(test_encode_room),
	    cmocka_unit_test(test_reassemble),
	};
	return cmocka_run_group_tests_name("span_codec", tests, guard_setup, guard_teardown);
}
