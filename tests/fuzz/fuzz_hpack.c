/* SPDX-License-Identifier: MIT */
/*
 * fuzz_hpack.c - libFuzzer target for the HPACK decoder (src/proto/hpack.c).
 *
 * Input: byte 0 configures the table (bit 0: complete, i.e. seen from the
 * connection's start; bits 1-3: SETTINGS limit 0, 256, 4096 or 65536 ...),
 * then header blocks, each prefixed by a length byte (blocks of up to 255
 * bytes; the last one takes what is left), decoded in turn on the same
 * table. Each block is a heap copy of exactly its bytes so ASan sees
 * over-reads. After every block the table's bounds and accounting must
 * hold; a few bytes are also run through the Huffman decoder alone.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/hpack.h"

static void on_field(void *ctx, const char *name, size_t nl, const char *value, size_t vl, unsigned flags)
{
	(void)ctx;
	if (nl > HPACK_STR_MAX || vl > HPACK_STR_MAX)
		abort();
	if ((flags & HPACK_F_UNKNOWN) && (nl || vl))
		abort();
	/* touch every byte: ASan checks the slices */
	volatile unsigned sum = 0;
	for (size_t i = 0; i < nl; i++)
		sum += (unsigned char)name[i];
	for (size_t i = 0; i < vl; i++)
		sum += (unsigned char)value[i];
}

static void check_table(const struct hpack_table *t)
{
	uint32_t size = 0, used = 0;

	if (t->n > HPACK_ENTRIES_MAX || t->used > HPACK_TABLE_MAX)
		abort();
	for (unsigned i = 0; i < t->n; i++) {
		if (t->ent[i].off != used)
			abort();
		used += t->ent[i].nlen + t->ent[i].vlen;
		size += t->ent[i].nlen + t->ent[i].vlen + 32u;
	}
	if (used != t->used || size != t->size || (t->complete && size > t->max_size))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t limits[8] = {0, 256, 4096, 65536, 100, 4097, 1u << 20, 32};
	static struct hpack_table t;

	if (size < 1)
		return 0;
	hpack_table_init(&t, data[0] & 1);
	hpack_table_set_limit(&t, limits[(data[0] >> 1) & 7]);
	for (size_t off = 1; off < size;) {
		size_t n = data[off++];
		if (n > size - off)
			n = size - off;
		uint8_t *b = malloc(n ? n : 1);
		if (!b)
			abort();
		memcpy(b, data + off, n);
		int r = hpack_decode_block(&t, b, n, on_field, NULL);
		if (r != 0 && r != -1)
			abort();
		if (r == -1 && (t.complete || t.n))
			abort(); /* an error leaves the table lost */
		check_table(&t);
		char out[64];
		size_t ol;
		if (hpack_huff_decode(b, n < 16 ? n : 16, out, sizeof(out), &ol) == 0 && ol > 16 * 8 / 5)
			abort(); /* codes are 5 bits or longer */
		free(b);
		off += n;
	}
	return 0;
}
