/* SPDX-License-Identifier: MIT */
/* frame32.c - the 32-bit length framer of kafka.c and mongodb.c (frame32.h). */
#include "proto/frame32.h"

#include <string.h>

static void f32_reset(struct f32_dir *d, uint8_t st)
{
	d->st = st;
	d->hn = 0;
	d->in_msg = false;
	d->gap = false;
	d->blen = 0;
	d->total = 0;
	d->rem = 0;
}

void f32_dir_init(struct f32_dir *d)
{
	f32_reset(d, F32_S_LEN);
}

static void f32_complete(const struct f32_proto *p, void *ps, struct f32_dir *d, int dir, zt_emit_fn emit,
			 void *ctx)
{
	d->msg.bytes = d->total;
	p->done(ps, d, dir, emit, ctx);
	f32_reset(d, F32_S_LEN);
}

void f32_feed(const struct f32_proto *p, void *ps, struct f32_dir *d, const struct zt_seg *seg,
	      zt_emit_fn emit, void *ctx)
{
	const uint8_t *data = seg->data;
	uint64_t len = seg->len, off = 0;
	uint32_t cap = data ? seg->caplen : 0;
	int dir = seg->dir;

	if (cap > len) /* a broken record: trust the smaller */
		cap = (uint32_t)len;
	if (len > 0) {
		if (d->in_msg)
			zt_msg_extend(&d->msg, seg);
		if (d->st == F32_S_LOST) {
			/* resynchronise only where a syscall starts a message */
			if (cap && p->start_ok(ps, dir, data, cap))
				f32_reset(d, F32_S_LEN);
		}
		while (off < len && d->st != F32_S_LOST) {
			if (d->st == F32_S_LEN) {
				if (!d->in_msg) {
					zt_msg_reset(&d->msg);
					zt_msg_begin(&d->msg, seg, off);
					d->in_msg = true;
				}
				if (off >= cap) { /* the length is in a gap */
					f32_reset(d, F32_S_LOST);
					break;
				}
				while (d->hn < 4 && off < cap)
					d->buf[d->hn++] = data[off++];
				if (d->hn < 4)
					continue; /* the next segment, or a gap */
				uint32_t n = p->little_endian ? f32_le32(d->buf) : f32_be32(d->buf);
				uint64_t total = p->len_includes ? n : (uint64_t)n + 4;
				if (total < p->min_total || total > p->max_total) {
					f32_reset(d, F32_S_LOST);
					break;
				}
				d->total = total;
				d->blen = 4;
				d->rem = total - 4;
				d->st = F32_S_BODY;
				if (d->rem == 0)
					f32_complete(p, ps, d, dir, emit, ctx);
				continue;
			}
			/* F32_S_BODY: keep a prefix, count the rest */
			uint64_t n = d->rem < len - off ? d->rem : len - off;
			if (!d->gap && d->blen < F32_BUF) {
				uint64_t want = F32_BUF - d->blen < n ? F32_BUF - d->blen : n;
				uint64_t have = off < cap ? cap - off : 0;
				if (have > want)
					have = want;
				memcpy(d->buf + d->blen, data + off, (size_t)have);
				d->blen += (uint32_t)have;
				if (have < want)
					d->gap = true; /* what follows in buf would be misplaced */
			}
			d->rem -= n;
			off += n;
			if (d->rem == 0)
				f32_complete(p, ps, d, dir, emit, ctx);
		}
	}
	if (seg->eof)
		f32_reset(d, F32_S_LEN); /* half a message is dropped */
}
