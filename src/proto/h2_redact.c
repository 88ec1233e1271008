/* SPDX-License-Identifier: MIT */
/*
 * h2_redact.c - sensitive HPACK header values masked in raw HTTP/2 bytes,
 * one byte at a time so that any split across syscalls is the same as none.
 * See h2_redact.h.
 */
#include "proto/h2_redact.h"

#include <stdlib.h>
#include <string.h>

#include "proto/hpack.h"

#define H2R_ENTRIES 512	      /* dynamic entries modelled (4096 / 32 = 128 at the default size) */
#define H2R_NAME 32	      /* name characters compared (longer: not sensitive) */
#define H2R_DETECT_FRAME 16384 /* SETTINGS_MAX_FRAME_SIZE's default: detection only */
#define H2R_HUFF_FILL 0xf9    /* '*' is 11111001 in HPACK's Huffman code */

static const char h2r_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define H2R_PREFACE_LEN 24

enum { M_OFF, M_PREFACE, M_FRAMES };
enum { H_OP, H_INT, H_SLEN, H_STR };
enum { I_IGNORE, I_NAMEIDX, I_SIZE, I_STRLEN };

struct h2r_ent {
	uint32_t size;
	uint16_t nlen;
	uint8_t sens;
};

struct h2r {
	uint8_t mode;
	bool was_h2, fresh;
	uint8_t pre_n;
	/* frame */
	uint8_t hdr[9], hdr_n;
	uint8_t type, flags;
	uint32_t flen, fpos, pre_need, block_end;
	bool block; /* this frame's payload carries header block bytes */
	/* HPACK */
	uint8_t hs, ikind, ishift;
	uint32_t ival;
	bool inc;	 /* literal with incremental indexing */
	bool in_value;	 /* the string is the value */
	bool huff, sens, name_unknown;
	uint32_t str_left;
	char name[H2R_NAME];
	uint32_t name_dlen, val_dlen;
	uint8_t hacc_len;
	uint32_t hacc;
	/* dynamic table model, ent[(head + i) % H2R_ENTRIES] oldest first */
	struct h2r_ent *ent;
	uint16_t n, head;
	bool complete;
	uint32_t max_size, size;
	bool guess;	/* stateless: an unresolvable dynamic name is not masked */
	uint64_t detected, lost;
};

/* ---- canonical Huffman decoding, one bit at a time ---- */

static uint32_t hf_first[31], hf_count[31], hf_off[31];
static uint16_t hf_sym[HPACK_HUFF_SYMS];
static bool hf_ready;

static void hf_init(void)
{
	uint32_t k = 0;

	if (hf_ready)
		return;
	/* the code is canonical (RFC 7541 Appendix B): per length, symbols in
	 * code order; test_h2 checks it against hpack_huff_decode */
	for (unsigned len = 5; len <= 30; len++) {
		hf_off[len] = k;
		hf_first[len] = UINT32_MAX;
		for (unsigned s = 0; s < HPACK_HUFF_SYMS; s++)
			if (hpack_huff_code[s].len == len) {
				if (hf_first[len] == UINT32_MAX || hpack_huff_code[s].code < hf_first[len])
					hf_first[len] = hpack_huff_code[s].code;
				hf_count[len]++;
			}
		for (uint32_t c = 0; c < hf_count[len]; c++)
			for (unsigned s = 0; s < HPACK_HUFF_SYMS; s++)
				if (hpack_huff_code[s].len == len && hpack_huff_code[s].code == hf_first[len] + c)
					hf_sym[k++] = (uint16_t)s;
	}
	hf_ready = true;
}

/* Feeds one byte of a Huffman string; each decoded symbol is counted in
 * *dlen and, for a name, stored lowercase. */
static void hf_byte(struct h2r *r, uint8_t b, uint32_t *dlen, bool name)
{
	for (int i = 7; i >= 0; i--) {
		r->hacc = (r->hacc << 1) | ((b >> i) & 1u);
		r->hacc_len++;
		if (r->hacc_len > 30) { /* not a code: count nothing more */
			r->hacc_len = 31;
			continue;
		}
		if (r->hacc_len >= 5 && r->hacc - hf_first[r->hacc_len] < hf_count[r->hacc_len]) {
			uint16_t s = hf_sym[hf_off[r->hacc_len] + r->hacc - hf_first[r->hacc_len]];
			if (name && *dlen < H2R_NAME)
				r->name[*dlen] = (char)(s >= 'A' && s <= 'Z' ? s + 32 : s);
			(*dlen)++;
			r->hacc = 0;
			r->hacc_len = 0;
		}
	}
}

/* ---- the dynamic table's model ---- */

static void tbl_clear(struct h2r *r)
{
	r->n = 0;
	r->size = 0;
}

static void tbl_evict(struct h2r *r, uint32_t room)
{
	while (r->n && r->size + room > r->max_size) {
		r->size -= r->ent[r->head].size;
		r->head = (uint16_t)((r->head + 1) % H2R_ENTRIES);
		r->n--;
	}
}

static void tbl_add(struct h2r *r, uint32_t nlen, uint32_t vlen, bool sens)
{
	uint32_t sz = nlen + vlen + 32;

	if (sz > r->max_size) {
		tbl_clear(r);
		return;
	}
	tbl_evict(r, sz);
	if (r->n == H2R_ENTRIES) { /* the encoder keeps one we forget */
		r->size -= r->ent[r->head].size;
		r->head = (uint16_t)((r->head + 1) % H2R_ENTRIES);
		r->n--;
		r->complete = false;
	}
	struct h2r_ent *e = &r->ent[(r->head + r->n) % H2R_ENTRIES];
	e->size = sz;
	e->nlen = (uint16_t)(nlen > UINT16_MAX ? UINT16_MAX : nlen);
	e->sens = sens;
	r->n++;
	r->size += sz;
}

static const char *const sens_names[] = {
    "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-auth-token",
};

static bool name_sensitive(const char *p, uint32_t n)
{
	for (size_t k = 0; k < sizeof(sens_names) / sizeof(sens_names[0]); k++)
		if (strlen(sens_names[k]) == n && memcmp(sens_names[k], p, n) == 0)
			return true;
	return false;
}

/* The literal's name is table entry idx (>= 1). */
static void name_by_index(struct h2r *r, uint32_t idx)
{
	r->name_unknown = false;
	if (idx <= HPACK_STATIC_N) {
		r->sens = idx == 23 || idx == 32 || idx == 49 || idx == 55;
		r->name_dlen = hpack_static[idx].nlen;
		return;
	}
	uint32_t k = idx - HPACK_STATIC_N - 1; /* 0: the newest */
	if (k < r->n) {
		const struct h2r_ent *e = &r->ent[(r->head + r->n - 1 - k) % H2R_ENTRIES];
		r->sens = e->sens;
		r->name_dlen = e->nlen;
	} else {
		/* unknown name: masked, the safe side; the stateless pass
		 * (a payload alone) would mask every mid-connection reuse */
		r->sens = !r->guess;
		r->name_unknown = true;
	}
}

/* ---- header block bytes ---- */

static void lose(struct h2r *r)
{
	r->mode = M_OFF;
	r->lost++;
}

static void str_start(struct h2r *r, uint32_t len)
{
	r->str_left = len;
	r->hacc = 0;
	r->hacc_len = 0;
	if (r->in_value)
		r->val_dlen = r->huff ? 0 : len;
	else
		r->name_dlen = 0;
	r->hs = H_STR;
}

static void str_end(struct h2r *r)
{
	if (!r->in_value) {
		r->sens = r->name_dlen <= H2R_NAME && name_sensitive(r->name, r->name_dlen);
		r->name_unknown = false;
		r->in_value = true;
		r->hs = H_SLEN;
		return;
	}
	if (r->inc) {
		if (r->name_unknown) { /* an entry of unknown size: the model is lost */
			tbl_clear(r);
			r->complete = false;
		} else {
			tbl_add(r, r->name_dlen, r->val_dlen, r->sens);
		}
	}
	r->hs = H_OP;
}

static void int_done(struct h2r *r, uint32_t v)
{
	switch (r->ikind) {
	case I_IGNORE:
		r->hs = H_OP;
		break;
	case I_SIZE:
		r->max_size = v;
		tbl_evict(r, 0);
		r->hs = H_OP;
		break;
	case I_NAMEIDX:
		name_by_index(r, v);
		r->in_value = true;
		r->hs = H_SLEN;
		break;
	case I_STRLEN:
		str_start(r, v);
		if (v == 0)
			str_end(r);
		break;
	}
}

/* One byte of a header block, at *p; returns 1 when it was overwritten. */
static size_t blk_byte(struct h2r *r, uint8_t *p)
{
	uint8_t b = *p;

	switch (r->hs) {
	case H_OP:
		r->ikind = I_IGNORE;
		r->ishift = 0;
		if (b & 0x80) {
			r->ival = b & 0x7f;
			if (r->ival == 0x7f)
				r->hs = H_INT;
			return 0;
		}
		if ((b & 0xe0) == 0x20) {
			r->ikind = I_SIZE;
			r->ival = b & 0x1f;
			if (r->ival == 0x1f)
				r->hs = H_INT;
			else
				int_done(r, r->ival);
			return 0;
		}
		r->inc = (b & 0x40) != 0;
		r->ival = r->inc ? (b & 0x3fu) : (b & 0x0fu);
		r->in_value = false;
		if (r->ival == 0) {
			r->hs = H_SLEN; /* a literal name */
		} else if (r->ival == (r->inc ? 0x3fu : 0x0fu)) {
			r->ikind = I_NAMEIDX;
			r->hs = H_INT;
		} else {
			r->ikind = I_NAMEIDX;
			int_done(r, r->ival);
		}
		return 0;
	case H_INT:
		if (r->ishift > 21) {
			lose(r);
			return 0;
		}
		r->ival += (uint32_t)(b & 0x7f) << r->ishift;
		r->ishift += 7;
		if (!(b & 0x80))
			int_done(r, r->ival);
		return 0;
	case H_SLEN:
		r->huff = (b & 0x80) != 0;
		r->ikind = I_STRLEN;
		r->ishift = 0;
		r->ival = b & 0x7f;
		if (r->ival == 0x7f)
			r->hs = H_INT;
		else
			int_done(r, r->ival);
		return 0;
	case H_STR: {
		size_t done = 0;
		if (r->in_value) {
			if (r->huff)
				hf_byte(r, b, &r->val_dlen, false);
			if (r->sens) {
				uint8_t fill = r->huff ? H2R_HUFF_FILL : '*';
				done = b != fill;
				*p = fill;
			}
		} else if (r->huff) {
			hf_byte(r, b, &r->name_dlen, true);
		} else {
			if (r->name_dlen < H2R_NAME)
				r->name[r->name_dlen] = (char)(b >= 'A' && b <= 'Z' ? b + 32 : b);
			r->name_dlen++;
		}
		if (--r->str_left == 0)
			str_end(r);
		return done;
	}
	}
	return 0;
}

/* ---- frames ---- */

enum { T_DATA, T_HEADERS, T_PRIORITY, T_RST, T_SETTINGS, T_PUSH, T_PING, T_GOAWAY, T_WINDOW, T_CONT };

/* A plausible frame header (detection: strict). */
static bool hdr_plausible(const uint8_t *h)
{
	static const uint8_t flags_ok[10] = {0x09, 0x2d, 0, 0, 0x01, 0x0c, 0x01, 0, 0, 0x04};
	uint32_t len = (uint32_t)h[0] << 16 | (uint32_t)h[1] << 8 | h[2];
	uint32_t sid = ((uint32_t)h[5] << 24 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 8 | h[8]);
	uint8_t t = h[3];

	if (t > T_CONT || (h[4] & ~flags_ok[t]) || (sid >> 31) || len > H2R_DETECT_FRAME)
		return false;
	switch (t) {
	case T_SETTINGS:
		return sid == 0 && len % 6 == 0 && !(h[4] && len);
	case T_PING:
		return sid == 0 && len == 8;
	case T_GOAWAY:
		return sid == 0 && len >= 8;
	case T_RST:
	case T_WINDOW:
		return len == 4 && (t == T_WINDOW || sid);
	case T_PRIORITY:
		return sid && len == 5;
	default:
		return sid != 0;
	}
}

/* p[0..n) is wholly a chain of plausible frame headers (the last frame
 * may continue past n; a cut header after one whole frame is allowed). */
static bool chain_ok(const uint8_t *p, size_t n)
{
	size_t i = 0;
	unsigned frames = 0;

	while (i < n) {
		if (n - i < 9)
			return frames > 0;
		if (!hdr_plausible(p + i))
			return false;
		frames++;
		i += 9 + ((size_t)p[i] << 16 | (size_t)p[i + 1] << 8 | p[i + 2]);
	}
	return frames > 0;
}

static bool starts_settings(const uint8_t *p, size_t n)
{
	return n >= 9 && p[3] == T_SETTINGS && p[4] == 0 && hdr_plausible(p);
}

static void follow(struct h2r *r, uint8_t mode, bool complete)
{
	if (!r->ent) {
		r->ent = calloc(H2R_ENTRIES, sizeof(*r->ent));
		if (!r->ent)
			return; /* no memory: not followed */
	}
	r->mode = mode;
	r->was_h2 = true;
	r->detected++;
	r->pre_n = 0;
	r->hdr_n = 0;
	r->block = false;
	r->hs = H_OP;
	r->head = 0;
	tbl_clear(r);
	r->complete = complete;
	(void)r->complete; /* kept for debugging: the unknown-name rule covers it */
	r->max_size = HPACK_DEFAULT_SIZE;
}

static void frame_begin(struct h2r *r)
{
	const uint8_t *h = r->hdr;

	r->flen = (uint32_t)h[0] << 16 | (uint32_t)h[1] << 8 | h[2];
	r->type = h[3];
	r->flags = h[4];
	r->fpos = 0;
	r->pre_need = 0;
	r->block_end = r->flen;
	r->block = false;
	uint32_t sid = ((uint32_t)h[5] << 24 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 8 | h[8]) & 0x7fffffffu;
	if (r->type == T_HEADERS || r->type == T_PUSH || r->type == T_CONT) {
		if (!sid) {
			lose(r);
			return;
		}
		r->block = true;
		if (r->type != T_CONT) {
			r->hs = H_OP; /* a new header block */
			r->pre_need = (r->flags & 0x08 ? 1 : 0) + (r->type == T_PUSH ? 4 : r->flags & 0x20 ? 5 : 0);
		}
		if (r->pre_need > r->flen)
			lose(r);
	}
}

size_t h2r_feed(struct h2r *r, uint8_t *p, size_t n, bool gap)
{
	size_t i = 0, done = 0;

	if (!r || !p)
		return 0;
	hf_init();
	if (n && r->mode == M_OFF) {
		size_t m = n < H2R_PREFACE_LEN ? n : H2R_PREFACE_LEN;
		if (memcmp(p, h2r_preface, m) == 0)
			follow(r, M_PREFACE, true);
		else if ((r->fresh || r->was_h2 || starts_settings(p, n)) && chain_ok(p, n))
			follow(r, M_FRAMES, r->fresh && starts_settings(p, n));
	}
	if (n)
		r->fresh = false;
	while (i < n && r->mode != M_OFF) {
		if (r->mode == M_PREFACE) {
			if (p[i] != (uint8_t)h2r_preface[r->pre_n]) {
				lose(r);
				break;
			}
			i++;
			if (++r->pre_n == H2R_PREFACE_LEN)
				r->mode = M_FRAMES;
			continue;
		}
		if (r->hdr_n < 9) {
			r->hdr[r->hdr_n++] = p[i++];
			if (r->hdr_n == 9)
				frame_begin(r);
			if (r->hdr_n == 9 && r->flen == 0)
				r->hdr_n = 0;
			continue;
		}
		/* payload byte fpos of the frame */
		if (r->block) {
			if (r->fpos < r->pre_need) {
				if (r->fpos == 0 && (r->flags & 0x08)) {
					uint32_t pad = p[i];
					if (pad + r->pre_need > r->flen) {
						lose(r);
						break;
					}
					r->block_end = r->flen - pad;
				}
			} else if (r->fpos < r->block_end) {
				done += blk_byte(r, &p[i]);
			}
			i++;
			r->fpos++;
		} else { /* not a header block: skipped whole */
			uint32_t k = r->flen - r->fpos;
			if (k > n - i)
				k = (uint32_t)(n - i);
			i += k;
			r->fpos += k;
		}
		if (r->mode != M_OFF && r->fpos == r->flen)
			r->hdr_n = 0;
	}
	if (gap && r->mode != M_OFF)
		lose(r); /* the bytes after are unknown */
	return done;
}

struct h2r *h2r_new(void)
{
	struct h2r *r = calloc(1, sizeof(*r));

	if (r)
		h2r_reset(r);
	return r;
}

void h2r_reset(struct h2r *r)
{
	struct h2r_ent *ent = r->ent;

	memset(r, 0, sizeof(*r));
	r->ent = ent;
	r->fresh = true;
}

void h2r_free(struct h2r *r)
{
	if (!r)
		return;
	free(r->ent);
	free(r);
}

void h2r_counts(const struct h2r *r, uint64_t *detected, uint64_t *lost)
{
	*detected = r->detected;
	*lost = r->lost;
}

size_t zt_h2_redact(uint8_t *buf, size_t len)
{
	static __thread struct h2r_ent ent[H2R_ENTRIES];
	struct h2r r;

	if (!buf || len < 9)
		return 0;
	memset(&r, 0, sizeof(r));
	r.fresh = true;
	r.guess = true;
	r.ent = ent;
	return h2r_feed(&r, buf, len, false);
}
