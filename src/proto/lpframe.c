/* SPDX-License-Identifier: MIT */
/* lpframe.c - see lpframe.h. */
#include "proto/lpframe.h"

#include <string.h>

#include "bpf/events.h"

void lpf_reset(struct lpf_dir *d)
{
	d->have = 0;
	d->total = 0;
	d->got = 0;
	d->predicted = false;
}

static void lpf_begin(struct lpf_dir *d, const struct zt_seg *seg, uint64_t off)
{
	d->start_ns = seg->dir == ZT_DIR_EGRESS ? seg->enter_ns : seg->exit_ns;
	d->end_ns = seg->exit_ns;
	d->tid_start = d->tid_end = seg->tid;
	d->has_seq = seg->has_seq;
	d->seq = seg->seq + (uint32_t)off;
	d->trace_ctx = seg->trace_ctx;
	d->ctx_ambiguous = seg->ctx_ambiguous;
}

void lpf_where(const struct lpf_dir *d, struct zt_msg *m)
{
	m->start_ns = d->start_ns;
	m->end_ns = d->end_ns;
	m->tid_start = d->tid_start;
	m->tid_end = d->tid_end;
	m->seq = d->seq;
	m->has_seq = d->has_seq;
	m->trace_ctx = d->trace_ctx;
	if (d->ctx_ambiguous)
		m->flags |= ZT_MF_CTX_AMBIGUOUS;
	if (d->lost_note)
		m->flags |= ZT_MF_LOST_SYNC;
}

void lpf_extend(const struct lpf_dir *d, struct zt_msg *m)
{
	m->end_ns = d->end_ns;
	m->tid_end = d->tid_end;
}

static void lpf_lose(struct lpf_dir *d)
{
	lpf_reset(d);
	d->lost = true;
	d->lost_note = true;
}

void lpf_feed(struct lpf_dir *d, const struct lpf_ops *ops, void *st, const struct zt_seg *seg,
	      zt_emit_fn emit, void *ctx)
{
	uint64_t off = 0;
	uint32_t caplen = seg->caplen;

	if (seg->eof) {
		lpf_reset(d); /* half a frame says nothing */
		return;
	}
	if (caplen > seg->len)
		caplen = (uint32_t)seg->len; /* never trust more than moved */
	if (d->lost) {
		/* only a segment start can be trusted to start a frame */
		if (caplen == 0 || !ops->resync(seg->data, caplen))
			return;
		d->lost = false;
		lpf_reset(d);
	}
	while (off < seg->len) {
		if (d->got == 0)
			lpf_begin(d, seg, off);
		d->end_ns = seg->exit_ns;
		d->tid_end = seg->tid;
		if (d->total == 0) {
			/* the header: bytes go to buf until len() knows */
			if (off >= caplen) {
				/* a gap inside a header: unless the protocol knows
				 * what frame lies there, the framing is lost */
				uint64_t p = ops->predict ? ops->predict(st, d) : 0;
				if (p <= d->have) {
					lpf_lose(d);
					return;
				}
				d->total = p;
				d->predicted = true;
				continue;
			}
			uint32_t room = LPF_HDR_MAX - d->have;
			uint32_t n = caplen - (uint32_t)off < room ? caplen - (uint32_t)off : room;
			memcpy(d->buf + d->have, seg->data + off, n);
			int64_t l = ops->len(d->buf, d->have + n);
			if (l < 0 || (l == 0 && d->have + n >= LPF_HDR_MAX)) {
				lpf_lose(d);
				return;
			}
			if (l == 0) {
				d->have += n;
				d->got += n;
				off += n;
				continue;
			}
			/* l > have: len() needed more than the bytes before this copy */
			if ((uint64_t)l <= d->have) {
				lpf_lose(d);
				return;
			}
			d->total = (uint64_t)l;
			uint64_t take = d->total - d->have < n ? d->total - d->have : n;
			d->have += (uint32_t)take;
			d->got += take;
			off += take;
		} else {
			uint64_t remain = d->total - d->got, n;
			if (off < caplen) {
				n = caplen - off < remain ? caplen - off : remain;
				/* keep bytes while the head is contiguous and has room */
				if (d->have == d->got && d->have < LPF_BUF) {
					uint64_t k = LPF_BUF - d->have < n ? LPF_BUF - d->have : n;
					memcpy(d->buf + d->have, seg->data + off, k);
					d->have += (uint32_t)k;
				}
			} else {
				n = seg->len - off < remain ? seg->len - off : remain;
			}
			d->got += n;
			off += n;
		}
		if (d->total && d->got >= d->total) {
			bool ok = ops->frame(st, d, seg, emit, ctx);
			d->lost_note = false;
			lpf_reset(d);
			if (!ok) {
				lpf_lose(d);
				return;
			}
		}
	}
}

/* ---- reader ---- */

uint8_t lpf_u8(struct lpf_rd *r)
{
	if (r->i + 1 > r->n) {
		r->cut = true;
		r->i = r->n;
		return 0;
	}
	return r->p[r->i++];
}

uint16_t lpf_u16(struct lpf_rd *r)
{
	uint16_t v = (uint16_t)(lpf_u8(r) << 8);
	return (uint16_t)(v | lpf_u8(r));
}

uint32_t lpf_u32(struct lpf_rd *r)
{
	uint32_t v = (uint32_t)lpf_u16(r) << 16;
	return v | lpf_u16(r);
}

uint64_t lpf_u64(struct lpf_rd *r)
{
	uint64_t v = (uint64_t)lpf_u32(r) << 32;
	return v | lpf_u32(r);
}

void lpf_skip(struct lpf_rd *r, uint64_t n)
{
	if (n > r->n - r->i) {
		r->cut = true;
		r->i = r->n;
		return;
	}
	r->i += (uint32_t)n;
}

const uint8_t *lpf_bytes(struct lpf_rd *r, uint64_t n, uint32_t *got)
{
	const uint8_t *p = r->p + r->i;

	if (n > r->n - r->i) {
		*got = r->n - r->i;
		r->cut = true;
		r->i = r->n;
		return p;
	}
	*got = (uint32_t)n;
	r->i += (uint32_t)n;
	return p;
}
