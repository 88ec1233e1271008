/* SPDX-License-Identifier: MIT */
/*
 * lpframe.h - framing of length-prefixed binary protocols (MQTT, AMQP) over
 * captured segments: one direction's resumable accumulator.
 *
 * A frame's length is known from its first few bytes (the protocol's len()
 * answers it). The accumulator keeps the first LPF_BUF bytes of the frame in
 * progress, counts the rest (captured or not: bytes past a segment's caplen
 * are a gap), and calls the protocol's frame() once the frame's last byte
 * has been counted. Parsers then read fields from the kept head only, and
 * call a field cut by a gap truncated.
 *
 * Return convention of len(buf, have): > 0 the frame's total length in
 * bytes (header included), 0 more bytes are needed, -1 not a frame (framing
 * is lost). len() must answer from at most LPF_HDR_MAX bytes.
 *
 * Lost sync: when a frame header is cut by a gap (its length is unknown) or
 * len() refuses the bytes, the direction skips to the start of a later
 * segment whose bytes the protocol's resync() accepts (strictly: usually its
 * infer()); the next frame then carries lost_sync.
 */
#ifndef ZT_PROTO_LPFRAME_H
#define ZT_PROTO_LPFRAME_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/proto.h"

#define LPF_BUF 1024   /* head bytes kept per frame: every field we parse fits */
#define LPF_HDR_MAX 16 /* len() never needs more than this */

struct lpf_dir {
	uint8_t buf[LPF_BUF]; /* the frame's first `have` bytes */
	uint32_t have;	      /* bytes in buf, contiguous from the frame's start */
	uint64_t total;	      /* frame length, 0 while unknown */
	uint64_t got;	      /* bytes of the frame counted, captured or not */
	bool lost;	      /* lost sync: waiting for a segment start to resync */
	bool predicted;	      /* the frame's header fell in a gap: its length is
			       * the protocol's prediction (lpf_ops.predict) */
	bool lost_note;	      /* the next frame reports lost sync */
	/* where the frame in progress lies */
	uint64_t start_ns, end_ns;
	uint32_t tid_start, tid_end;
	uint32_t seq;
	bool has_seq, ctx_ambiguous;
	uint64_t trace_ctx;
};

/* How a protocol frames its bytes. frame() gets the finished frame (d->buf,
 * d->have, d->total) and returns false when the frame turns out not to be
 * one (a bad end marker): the direction then loses sync. */
struct lpf_ops {
	int64_t (*len)(const uint8_t *buf, uint32_t have);
	bool (*frame)(void *st, struct lpf_dir *d, const struct zt_seg *seg, zt_emit_fn emit, void *ctx);
	bool (*resync)(const uint8_t *buf, uint32_t caplen);
	/* Optional: a frame header falls (partly: d->have bytes of it are in
	 * d->buf) in a gap; the protocol may know the frame's length anyway
	 * (AMQP: the next body frame of a content whose size it knows). > 0:
	 * that length, and frame() later sees d->predicted; 0: sync is lost. */
	uint64_t (*predict)(void *st, const struct lpf_dir *d);
};

void lpf_reset(struct lpf_dir *d);
/* Consumes one segment of this direction. */
void lpf_feed(struct lpf_dir *d, const struct lpf_ops *ops, void *st, const struct zt_seg *seg,
	      zt_emit_fn emit, void *ctx);
/* Fills the "where" of m from the frame in progress (zt_msg_begin's work);
 * sets ZT_MF_LOST_SYNC if sync was lost before this frame. */
void lpf_where(const struct lpf_dir *d, struct zt_msg *m);
/* Extends m (a message spanning several frames) to the end of d's frame. */
void lpf_extend(const struct lpf_dir *d, struct zt_msg *m);

/* A bounded reader over a frame's kept head: reads past the end set `cut`
 * and answer zeroes, so field parsers need no checks of their own. */
struct lpf_rd {
	const uint8_t *p;
	uint32_t n, i;
	bool cut;
};
static inline struct lpf_rd lpf_rd(const uint8_t *p, uint32_t n)
{
	return (struct lpf_rd){p, n, 0, false};
}
uint8_t lpf_u8(struct lpf_rd *r);
uint16_t lpf_u16(struct lpf_rd *r);
uint32_t lpf_u32(struct lpf_rd *r);
uint64_t lpf_u64(struct lpf_rd *r);
/* Skips n bytes (cut when fewer remain: then i = n). */
void lpf_skip(struct lpf_rd *r, uint64_t n);
/* Returns a pointer to the next n bytes and their captured count in *got
 * (cut when fewer than n remain). */
const uint8_t *lpf_bytes(struct lpf_rd *r, uint64_t n, uint32_t *got);

#endif /* ZT_PROTO_LPFRAME_H */
