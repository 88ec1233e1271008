/* SPDX-License-Identifier: MIT */
/*
 * hpack.h - HPACK header block decoding (RFC 7541) for the HTTP/2 parser.
 *
 * One struct hpack_table per connection and direction (the encoder's table
 * of the side that sends the header blocks). The table is a fixed-size
 * value: no allocation, bounded memory (HPACK_TABLE_MAX bytes of entries).
 *
 * Trust. The table knows the newest `n` entries exactly. `complete` says
 * whether these are all the entries the encoder holds (we saw the direction
 * from its first header block) or whether older, unknown entries may exist
 * (ztrace joined mid-connection, a header block was lost in a capture gap,
 * or the encoder's table outgrew HPACK_TABLE_MAX). An index into a complete
 * table past its entries is an error; into an incomplete one, the field is
 * unknown: reported with HPACK_F_UNKNOWN and no bytes, never guessed.
 *
 * Return convention, written once: 0 success; -1 malformed input (the
 * table's state is then unknown: hpack_table_lost() has been applied).
 *
 * Ownership: the name/value slices given to the field callback are borrowed
 * for the duration of the call only.
 */
#ifndef ZT_HPACK_H
#define ZT_HPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HPACK_STATIC_N 61
#define HPACK_HUFF_SYMS 257
#define HPACK_DEFAULT_SIZE 4096u /* SETTINGS_HEADER_TABLE_SIZE's initial value */
#define HPACK_TABLE_MAX 4096u	 /* entry bytes (name + value) kept per table */
#define HPACK_ENTRIES_MAX 128u	 /* 4096 / 32: the most entries a 4096 table holds */
#define HPACK_STR_MAX 4096u	 /* longest string handed out (longer: cut) */
#define HPACK_INT_MAX (1u << 28) /* larger integers are malformed here */

struct hpack_huff_sym {
	uint32_t code; /* right-aligned, sent most significant bit first */
	uint8_t len;   /* bits, 5..30 */
};
struct hpack_static_entry {
	const char *name, *value;
	uint8_t nlen, vlen;
};
extern const struct hpack_huff_sym hpack_huff_code[HPACK_HUFF_SYMS]; /* 256: EOS */
extern const struct hpack_static_entry hpack_static[HPACK_STATIC_N + 1]; /* [0] unused */

struct hpack_entry {
	uint16_t off; /* into hpack_table.buf */
	uint16_t nlen, vlen;
};

struct hpack_table {
	uint32_t max_size; /* the encoder's current maximum (size updates) */
	uint32_t limit;	   /* the largest maximum the decoder allowed (SETTINGS) */
	uint32_t size;	   /* RFC 7541 4.1 size of the entries known */
	uint16_t n;	   /* entries known, newest last in ent[] */
	uint16_t used;	   /* bytes of buf in use */
	bool complete;	   /* no unknown entries older than ent[0] (see above) */
	struct hpack_entry ent[HPACK_ENTRIES_MAX]; /* oldest first */
	uint8_t buf[HPACK_TABLE_MAX];		   /* entry bytes, oldest first */
};

/* hpack_field_fn flags */
enum hpack_field_flags {
	HPACK_F_UNKNOWN = 1u << 0, /* refers to a dynamic entry we do not know:
				    * name and value are empty, the field is lost */
	HPACK_F_NAME_UNKNOWN = 1u << 1, /* only the name is unknown (literal value) */
	HPACK_F_CUT = 1u << 2,		/* name or value longer than HPACK_STR_MAX: cut */
	HPACK_F_HUFFMAN = 1u << 3,	/* the value was Huffman-coded */
};

typedef void (*hpack_field_fn)(void *ctx, const char *name, size_t nlen, const char *value, size_t vlen,
			       unsigned flags);

/* An empty table. complete: the direction is seen from its start. */
void hpack_table_init(struct hpack_table *t, bool complete);
/* The encoder's table can no longer be followed (a header block lost): the
 * known entries are dropped and the table marked incomplete. */
void hpack_table_lost(struct hpack_table *t);
/* The decoder sent SETTINGS_HEADER_TABLE_SIZE = v (acknowledged or not): a
 * size update up to v is allowed. */
void hpack_table_set_limit(struct hpack_table *t, uint32_t v);

/* Decodes one complete header block (HEADERS + CONTINUATION fragments,
 * padding and priority removed), calling fn for each field in order and
 * updating the table. */
int hpack_decode_block(struct hpack_table *t, const uint8_t *p, size_t n, hpack_field_fn fn, void *ctx);

/* Integer with an N-bit prefix (5.1) at p[0..n): the value in *v, bytes
 * used returned; 0 when incomplete, -1 when larger than HPACK_INT_MAX. */
int hpack_int(const uint8_t *p, size_t n, unsigned prefix_bits, uint32_t *v);

/* Huffman-decodes in[0..n) into out[0..cap); *outlen gets the full decoded
 * length (bytes past cap are decoded and counted, not stored). 0, or -1 on
 * EOS in the string, padding longer than 7 bits or not all ones. */
int hpack_huff_decode(const uint8_t *in, size_t n, char *out, size_t cap, size_t *outlen);

#endif /* ZT_HPACK_H */
