/* SPDX-License-Identifier: MIT */
/*
 * span_codec.h - a compact binary form of one span, exact both ways, for the
 * embedded store's span blocks (store/sqlite_blocks.c). A typical span is
 * ~2.7 KiB in memory and ~150-250 bytes encoded.
 *
 * Layout (all integers little-endian):
 *   varint  body length (bytes after this varint; written as 3 bytes)
 *   u64     start_ns (8 bytes, fixed: read without decoding)
 *   u8 len, span_uid bytes
 *   u8 len, trace_id bytes           (the keys a reader sorts and filters on)
 *   then every other field in field-table order:
 *     STR            varint length, bytes (length < the field's size)
 *     end_ns         zigzag varint of end_ns - start_ns
 *     other integers varint (I32N: zigzag)
 *     IP             u8 form (0: all zero, 4: v4-mapped, 16), then 0/4/16 bytes
 *     enums, bool    u8
 *     ATTRS          u8 count, then per attribute: u8 key length, key, u8
 *                    value length, value
 * Field order and kinds come from the field table (model/span.h): a field
 * added there is encoded with no change here, but changes the format, so
 * data written before reads as damaged (the store's schema version guards
 * this).
 *
 * Return convention: sizes in bytes, or a negative errno (-ENOSPC: out too
 * small; -EINVAL: the input is not a span in this form).
 */
#ifndef ZT_MODEL_SPAN_CODEC_H
#define ZT_MODEL_SPAN_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "model/span.h"

/* Room zt_span_encode needs: more than any span takes. */
#define ZT_SPAN_CODEC_MAX (sizeof(struct zt_span) + 256)

/* Encodes s into out (cap >= ZT_SPAN_CODEC_MAX bytes): the bytes written. */
long zt_span_encode(const struct zt_span *s, uint8_t *out, size_t cap);

/* Decodes the span at in (len bytes available) into s: the bytes it took
 * (its whole record, length prefix included). */
long zt_span_decode(const uint8_t *in, size_t len, struct zt_span *s);

/* The record at in (len bytes available) with the trace assembly's fields
 * (trace_id, parent_uid, link_kind) set to these, the others' bytes as they
 * are, into out (cap >= the record's size + ZT_TRACE_ID_LEN + ZT_UID_LEN is
 * enough): the bytes written. Cheaper than decoding and encoding again. */
long zt_span_reassemble(const uint8_t *in, size_t len, const char *trace_id, const char *parent_uid,
			uint8_t link_kind, uint8_t *out, size_t cap);

/* The keys of the span at in without decoding it: pointers into in. */
struct zt_span_keys {
	const uint8_t *rec; /* the record: in */
	uint64_t start_ns;
	const char *uid;   /* not NUL-terminated: uid_len bytes */
	const char *trace; /* trace_len bytes, 0: no trace id */
	uint8_t uid_len, trace_len;
	size_t size; /* the whole record, length prefix included */
};
int zt_span_keys(const uint8_t *in, size_t len, struct zt_span_keys *k);

#endif /* ZT_MODEL_SPAN_CODEC_H */
