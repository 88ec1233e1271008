/* SPDX-License-Identifier: MIT */
/*
 * ship_wire.h - the agent protocol's frames and messages
 * (wire/ztrace/agent.proto): what `ztrace agent` writes to its spool and
 * sends, and what `ztrace server` decodes. Both sides use this one codec.
 *
 *   +----------------+--------+------------------------------+
 *   | length (4, BE) | type   | payload: `length` bytes      |
 *   +----------------+--------+------------------------------+
 *   type: ZT_WIRE_HELLO.. in bits 0-3, ZT_WIRE_ZSTD (bit 7): the payload
 *   is one zstd frame carrying its content size. Other bits: an error.
 *
 * Bounds: a payload above ZT_WIRE_FRAME_MAX, a decompressed message above
 * ZT_WIRE_MSG_MAX, a batch of more than ZT_WIRE_BATCH_MAX spans are errors
 * (the server closes the connection and counts them); nothing is allocated
 * before a length is checked against its bound.
 *
 * Return convention: 0 (or a byte count) on success, negative errno on
 * failure: -EMSGSIZE over a bound, -EPROTO malformed, -ENOMEM.
 */
#ifndef ZT_AGENT_SHIP_WIRE_H
#define ZT_AGENT_SHIP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "model/span.h"
#include "ztrace/agent.pb-c.h"

#define ZT_WIRE_VERSION 1
#define ZT_WIRE_HDR 5
#define ZT_WIRE_FRAME_MAX (16u << 20) /* payload bytes */
#define ZT_WIRE_MSG_MAX (64u << 20)   /* a message, decompressed */
#define ZT_WIRE_BATCH_MAX 16384       /* spans per batch */
#define ZT_WIRE_ZSTD 0x80
#define ZT_WIRE_TYPE_MASK 0x0f

enum zt_wire_type {
	ZT_WIRE_HELLO = 1,
	ZT_WIRE_ACK = 2,
	ZT_WIRE_BATCH = 3,
	ZT_WIRE_STATS = 4,
};

/* A growable byte buffer; zero-initialise, zt_wbuf_free to release. */
struct zt_wbuf {
	uint8_t *p;
	size_t len, cap;
};
int zt_wbuf_reserve(struct zt_wbuf *b, size_t more);
void zt_wbuf_free(struct zt_wbuf *b);

/* One frame found in a byte stream; payload borrows the caller's bytes. */
struct zt_wire_frame {
	uint8_t type;       /* enum zt_wire_type */
	bool zstd;
	const uint8_t *payload;
	uint32_t len;
};

/* The frame at the start of buf[0..len): returns its whole size (header
 * included) and fills f; 0 when more bytes are needed; -EMSGSIZE when the
 * length is over ZT_WIRE_FRAME_MAX, -EPROTO for a type byte no frame has
 * (both are known from the first 5 bytes: a bad stream is refused before
 * its payload is read). */
ssize_t zt_wire_frame_next(const uint8_t *buf, size_t len, struct zt_wire_frame *f);

/* Appends one frame carrying message m (packed, zstd-compressed when
 * compress) to out. */
int zt_wire_frame_put(struct zt_wbuf *out, enum zt_wire_type type, const ProtobufCMessage *m, bool compress);

/* Decodes a frame's message, decompressing it when flagged: the message
 * type must be the frame's. *out is freed with protobuf_c_message_free_unpacked
 * (NULL allocator). scratch: a buffer reused between calls (the
 * decompressed bytes). */
int zt_wire_msg_decode(const struct zt_wire_frame *f, struct zt_wbuf *scratch, ProtobufCMessage **out);

/* Span <-> message, generated from ZT_SPAN_FIELDS: a field added to the
 * span record without its agent.proto line does not compile.
 * to_pb: pb borrows s's strings, and attrs[] (ZT_ATTRS_MAX messages) and
 * aptr[] hold its attributes; keep s, attrs and aptr alive while pb is
 * used. */
void zt_wire_span_to_pb(const struct zt_span *s, Ztrace__Agent__Span *pb, Ztrace__Agent__Attr *attrs,
			Ztrace__Agent__Attr **aptr);
/* from_pb: fills s (cleared first). Returns the number of fields that did
 * not fit and were cut or nulled (text too long, an enum or ip out of
 * range, too many attributes): outside input is made to fit, never
 * trusted; 0 when all fit. */
int zt_wire_span_from_pb(const Ztrace__Agent__Span *pb, struct zt_span *s);

/* One batch frame (compressed) for spans[0..n). */
int zt_wire_batch_encode(const char *agent_id, uint64_t seq, uint64_t created_ns, const struct zt_span *spans,
			 size_t n, struct zt_wbuf *out);

/* "HOST:PORT" or "[V6]:PORT" -> host and port text (port 1..65535);
 * -EINVAL when it is neither. */
int zt_wire_hostport(const char *s, char *host, size_t hsz, char *port, size_t psz);

#endif /* ZT_AGENT_SHIP_WIRE_H */
