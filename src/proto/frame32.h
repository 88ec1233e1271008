/* SPDX-License-Identifier: MIT */
/*
 * frame32.h - streaming framer for protocols whose messages start with a
 * 32-bit length (Kafka: big-endian, excluding itself; MongoDB: little-endian,
 * including itself). Shared by kafka.c and mongodb.c.
 *
 * One struct f32_dir per direction keeps a resumable state: the length field
 * is gathered across segments, then the message's first F32_BUF captured
 * bytes are kept in buf and the rest is only counted, so a body may lie in a
 * gap (the syscall moved more than was captured). Only a length field that
 * falls in a gap, or a length out of bounds, loses the framing; the direction
 * then stays lost until a segment starts with bytes the protocol's start_ok()
 * accepts.
 */
#ifndef ZT_PROTO_FRAME32_H
#define ZT_PROTO_FRAME32_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/proto.h"

#define F32_BUF 1024 /* captured message prefix kept for the parser */

enum f32_st {
	F32_S_LEN = 0, /* between messages or inside the length field */
	F32_S_BODY,    /* inside a message: rem bytes left */
	F32_S_LOST,    /* out of sync until a segment starts like a message */
};

struct f32_dir {
	uint8_t st;	/* enum f32_st */
	uint8_t hn;	/* length-field bytes gathered in buf */
	bool in_msg;	/* msg begun (zt_msg_begin done) */
	bool gap;	/* bytes of the kept prefix fell in a gap */
	uint32_t blen;	/* bytes kept in buf (length field included) */
	uint64_t total; /* message size on the wire, length field included */
	uint64_t rem;	/* bytes of the message still to come */
	struct zt_msg msg;
	uint8_t buf[F32_BUF];
};

/* What a protocol tells the framer. */
struct f32_proto {
	bool little_endian; /* MongoDB */
	bool len_includes;  /* the length counts its own 4 bytes */
	uint64_t min_total; /* smallest / largest whole message, length field */
	uint64_t max_total; /* included; outside: framing lost */
	/* Whether captured bytes at a segment start begin a message of this
	 * protocol in direction dir (used to leave F32_S_LOST). */
	bool (*start_ok)(void *pstate, int dir, const uint8_t *buf, size_t len);
	/* A whole message was framed: d->buf[0..d->blen) is its captured
	 * prefix (length field included), d->total its size, d->gap whether
	 * some of the kept prefix was not captured; d->msg has its "where".
	 * The protocol fills d->msg and emits it (or drops it). */
	void (*done)(void *pstate, struct f32_dir *d, int dir, zt_emit_fn emit, void *ctx);
};

void f32_dir_init(struct f32_dir *d);
/* Feeds one segment to direction d (seg->dir). */
void f32_feed(const struct f32_proto *p, void *pstate, struct f32_dir *d, const struct zt_seg *seg,
	      zt_emit_fn emit, void *ctx);
/* Big/little-endian loads of captured bytes (the caller bounds them). */
static inline uint32_t f32_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint16_t f32_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint32_t f32_le32(const uint8_t *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

#endif /* ZT_PROTO_FRAME32_H */
