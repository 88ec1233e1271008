/* SPDX-License-Identifier: MIT */
/*
 * hpack.c - HPACK decoding; see hpack.h.
 *
 * Huffman decoding walks a 4-bit automaton (nghttp2's scheme): a state is an
 * internal node of the code tree (257 leaves, so 256 internal nodes, ids fit
 * a byte), and each (state, nibble) transition says which node it reaches,
 * whether it completed a symbol (at most one: codes are 5 bits or longer)
 * and whether it ran into EOS. The automaton is built from the RFC's code
 * table at first use rather than pasted as 4096 generated numbers.
 */
#include "proto/hpack.h"

#include <pthread.h>
#include <string.h>

/* ---- Huffman ---- */

enum { HF_EMIT = 1, HF_FAIL = 2, HF_ACCEPT = 4 };

struct huff_tr {
	uint8_t next; /* node reached */
	uint8_t sym;  /* with HF_EMIT */
	uint8_t flags;
};

static struct huff_tr huff_dec[256][16];
static pthread_once_t huff_once = PTHREAD_ONCE_INIT;

static void huff_build(void)
{
	/* child >= 0: internal node id; < 0: leaf -(sym + 1); 0 in a non-root
	 * slot: not yet made (the root is never a child) */
	static int16_t child[256][2];
	static uint8_t depth[256];
	static bool ones[256]; /* the path from the root is all 1 bits */
	int nodes = 1;

	memset(child, 0, sizeof(child));
	ones[0] = true;
	depth[0] = 0;
	for (int s = 0; s < HPACK_HUFF_SYMS; s++) {
		int node = 0;
		for (int b = hpack_huff_code[s].len - 1; b >= 0; b--) {
			int bit = (hpack_huff_code[s].code >> b) & 1;
			if (b == 0) {
				child[node][bit] = (int16_t)-(s + 1);
				break;
			}
			if (child[node][bit] <= 0) {
				int nn = nodes++;
				child[node][bit] = (int16_t)nn;
				depth[nn] = (uint8_t)(depth[node] + 1);
				ones[nn] = ones[node] && bit;
			}
			node = child[node][bit];
		}
	}
	for (int st = 0; st < nodes; st++) {
		for (int x = 0; x < 16; x++) {
			struct huff_tr tr = {0, 0, 0};
			int node = st;
			for (int b = 3; b >= 0; b--) {
				int c = child[node][(x >> b) & 1];
				if (c < 0) {
					int sym = -c - 1;
					if (sym == 256)
						tr.flags |= HF_FAIL;
					tr.sym = (uint8_t)sym;
					tr.flags |= HF_EMIT;
					node = 0;
				} else {
					node = c;
				}
			}
			tr.next = (uint8_t)node;
			if (ones[node] && depth[node] <= 7)
				tr.flags |= HF_ACCEPT;
			huff_dec[st][x] = tr;
		}
	}
}

int hpack_huff_decode(const uint8_t *in, size_t n, char *out, size_t cap, size_t *outlen)
{
	uint8_t st = 0;
	uint8_t acc = HF_ACCEPT; /* the empty string is valid */
	size_t o = 0;

	pthread_once(&huff_once, huff_build);
	for (size_t i = 0; i < n; i++) {
		const struct huff_tr *a = &huff_dec[st][in[i] >> 4];
		const struct huff_tr *b;

		if (a->flags & HF_FAIL)
			return -1;
		if (a->flags & HF_EMIT) {
			if (o < cap)
				out[o] = (char)a->sym;
			o++;
		}
		b = &huff_dec[a->next][in[i] & 15];
		if (b->flags & HF_FAIL)
			return -1;
		if (b->flags & HF_EMIT) {
			if (o < cap)
				out[o] = (char)b->sym;
			o++;
		}
		st = b->next;
		acc = b->flags & HF_ACCEPT;
	}
	*outlen = o;
	return acc ? 0 : -1;
}

/* ---- integers ---- */

int hpack_int(const uint8_t *p, size_t n, unsigned prefix_bits, uint32_t *v)
{
	uint32_t mask = (1u << prefix_bits) - 1;
	uint64_t val;

	if (n == 0)
		return 0;
	val = p[0] & mask;
	if (val < mask) {
		*v = (uint32_t)val;
		return 1;
	}
	for (size_t i = 1, m = 0; i < n; i++, m += 7) {
		if (m > 28) /* a 5th continuation byte: > 2^35 or padding zeros */
			return -1;
		val += (uint64_t)(p[i] & 127) << m;
		if (val > HPACK_INT_MAX)
			return -1;
		if (!(p[i] & 128)) {
			*v = (uint32_t)val;
			return (int)(i + 1);
		}
	}
	return 0;
}

/* ---- the dynamic table ---- */

void hpack_table_init(struct hpack_table *t, bool complete)
{
	t->max_size = HPACK_DEFAULT_SIZE;
	t->limit = HPACK_DEFAULT_SIZE;
	t->size = 0;
	t->n = 0;
	t->used = 0;
	t->complete = complete;
}

void hpack_table_lost(struct hpack_table *t)
{
	t->size = 0;
	t->n = 0;
	t->used = 0;
	t->complete = false;
}

void hpack_table_set_limit(struct hpack_table *t, uint32_t v)
{
	if (v > t->limit)
		t->limit = v;
}

/* Drops the k oldest entries. */
static void tbl_drop(struct hpack_table *t, unsigned k)
{
	uint16_t bytes = 0;

	if (k == 0)
		return;
	if (k >= t->n) {
		t->n = 0;
		t->used = 0;
		t->size = 0;
		return;
	}
	for (unsigned i = 0; i < k; i++) {
		bytes += t->ent[i].nlen + t->ent[i].vlen;
		t->size -= t->ent[i].nlen + t->ent[i].vlen + 32u;
	}
	memmove(t->buf, t->buf + bytes, t->used - bytes);
	t->used -= bytes;
	t->n -= k;
	for (unsigned i = 0; i < t->n; i++) {
		t->ent[i] = t->ent[i + k];
		t->ent[i].off -= bytes;
	}
}

/* Evicts until size <= max (RFC 7541 4.3/4.4). */
static void tbl_fit(struct hpack_table *t, uint64_t room)
{
	unsigned k = 0;
	uint64_t size = t->size;

	while (k < t->n && size + room > t->max_size) {
		size -= t->ent[k].nlen + t->ent[k].vlen + 32u;
		k++;
	}
	tbl_drop(t, k);
}

/* Adds an entry whose full lengths are fn/fv and whose bytes are in
 * name[0..min(fn, HPACK_STR_MAX)) and value[..]. */
static void tbl_add(struct hpack_table *t, const char *name, size_t fn, const char *value, size_t fv)
{
	uint64_t esz = (uint64_t)fn + fv + 32;

	tbl_fit(t, esz);
	if (esz > t->max_size) {
		tbl_drop(t, t->n); /* an entry larger than the table empties it */
		return;
	}
	if (fn + fv > HPACK_TABLE_MAX) {
		/* fits the encoder's (large) table, not ours: indices shift by
		 * an entry we cannot hold */
		hpack_table_lost(t);
		return;
	}
	/* our storage bound (the encoder's table may be larger than ours):
	 * what we drop here the encoder still has, so we no longer know all */
	unsigned k = 0;
	size_t used = t->used;
	while (k < t->n && (used + fn + fv > HPACK_TABLE_MAX || t->n - k >= HPACK_ENTRIES_MAX)) {
		used -= t->ent[k].nlen + t->ent[k].vlen;
		k++;
	}
	if (k) {
		tbl_drop(t, k);
		t->complete = false;
	}
	struct hpack_entry *e = &t->ent[t->n++];
	e->off = t->used;
	e->nlen = (uint16_t)fn;
	e->vlen = (uint16_t)fv;
	memcpy(t->buf + t->used, name, fn);
	memcpy(t->buf + t->used + fn, value, fv);
	t->used = (uint16_t)(t->used + fn + fv);
	t->size += (uint32_t)esz;
}

/* ---- blocks ---- */

enum lookup { LK_OK = 0, LK_UNKNOWN = 1, LK_BAD = -1 };

/* Index idx (>= 1) -> name/value slices. */
static int lookup(const struct hpack_table *t, uint32_t idx, const char **n, size_t *nl, const char **v, size_t *vl)
{
	if (idx == 0)
		return LK_BAD;
	if (idx <= HPACK_STATIC_N) {
		*n = hpack_static[idx].name;
		*nl = hpack_static[idx].nlen;
		*v = hpack_static[idx].value;
		*vl = hpack_static[idx].vlen;
		return LK_OK;
	}
	uint32_t d = idx - HPACK_STATIC_N - 1;
	if (d >= t->n)
		return t->complete ? LK_BAD : LK_UNKNOWN;
	const struct hpack_entry *e = &t->ent[t->n - 1 - d];
	*n = (const char *)t->buf + e->off;
	*nl = e->nlen;
	*v = (const char *)t->buf + e->off + e->nlen;
	*vl = e->vlen;
	return LK_OK;
}

/* A string literal (5.2) at p[0..n): decoded into out[0..HPACK_STR_MAX),
 * full length in *len. Bytes used, or -1. */
static int read_str(const uint8_t *p, size_t n, char *out, size_t *len, unsigned *flags)
{
	uint32_t sl;
	int k = hpack_int(p, n, 7, &sl);

	if (k <= 0 || sl > n - (size_t)k)
		return -1;
	if (p[0] & 0x80) {
		if (hpack_huff_decode(p + k, sl, out, HPACK_STR_MAX, len) < 0)
			return -1;
		*flags |= HPACK_F_HUFFMAN;
	} else {
		*len = sl;
		memcpy(out, p + k, sl < HPACK_STR_MAX ? sl : HPACK_STR_MAX);
	}
	if (*len > HPACK_STR_MAX)
		*flags |= HPACK_F_CUT;
	return k + (int)sl;
}

static size_t min_str(size_t n)
{
	return n < HPACK_STR_MAX ? n : HPACK_STR_MAX;
}

int hpack_decode_block(struct hpack_table *t, const uint8_t *p, size_t n, hpack_field_fn fn, void *ctx)
{
	char name[HPACK_STR_MAX], value[HPACK_STR_MAX];
	size_t off = 0;
	bool fields = false;

	while (off < n) {
		uint8_t b = p[off];
		uint32_t idx;
		int k;

		if (b & 0x80) { /* 6.1 indexed field */
			const char *np, *vp;
			size_t nl, vl;
			if ((k = hpack_int(p + off, n - off, 7, &idx)) <= 0)
				goto bad;
			off += (size_t)k;
			int r = lookup(t, idx, &np, &nl, &vp, &vl);
			if (r == LK_BAD)
				goto bad;
			if (r == LK_UNKNOWN)
				fn(ctx, "", 0, "", 0, HPACK_F_UNKNOWN);
			else
				fn(ctx, np, nl, vp, vl, 0);
			fields = true;
			continue;
		}
		if ((b & 0xe0) == 0x20) { /* 6.3 dynamic table size update */
			if ((k = hpack_int(p + off, n - off, 5, &idx)) <= 0)
				goto bad;
			if (fields || (t->complete && idx > t->limit))
				goto bad;
			off += (size_t)k;
			t->max_size = idx;
			tbl_fit(t, 0);
			continue;
		}
		/* 6.2 literals: with incremental indexing (01), without (0000),
		 * never indexed (0001) */
		bool incr = (b & 0xc0) == 0x40;
		unsigned flags = 0;
		size_t nl, vl;
		if ((k = hpack_int(p + off, n - off, incr ? 6 : 4, &idx)) <= 0)
			goto bad;
		off += (size_t)k;
		if (idx) {
			const char *np, *vp;
			size_t vl0;
			int r = lookup(t, idx, &np, &nl, &vp, &vl0);
			if (r == LK_BAD)
				goto bad;
			if (r == LK_UNKNOWN) {
				flags |= HPACK_F_NAME_UNKNOWN;
				nl = 0;
			} else {
				memcpy(name, np, nl); /* insertion may evict it */
			}
		} else {
			if ((k = read_str(p + off, n - off, name, &nl, &flags)) < 0)
				goto bad;
			off += (size_t)k;
			flags &= ~(unsigned)HPACK_F_HUFFMAN; /* the flag speaks of the value */
		}
		if ((k = read_str(p + off, n - off, value, &vl, &flags)) < 0)
			goto bad;
		off += (size_t)k;
		fn(ctx, name, min_str(nl), value, min_str(vl), flags);
		fields = true;
		if (incr) {
			if (flags & HPACK_F_NAME_UNKNOWN)
				hpack_table_lost(t); /* an entry of unknown size */
			else
				tbl_add(t, name, nl, value, vl);
		}
	}
	return 0;
bad:
	hpack_table_lost(t);
	return -1;
}
