/* SPDX-License-Identifier: MIT */
/*
 * h2.c - HTTP/2 framing: detection, the frame reader of each direction
 * (frames split across segments and several per segment, padding, capture
 * gaps skipped by frame length, resync after a lost frame), SETTINGS,
 * RST_STREAM and GOAWAY. What frames mean for streams is h2_stream.c's.
 */
#include "proto/h2.h"
#include "proto/h2_redact.h"

#include <stddef.h>
#include <string.h>

#include "proto/endpoint.h"
#include "proto/http1.h"
#include "bpf/events.h"

#define H2_BLOCK_FRAMES_MAX 4096 /* CONTINUATIONs in one block: a flood beyond is lost */
#define H2_INFER_FRAME_MAX 16384 /* SETTINGS_MAX_FRAME_SIZE's initial value */

static uint32_t be24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Whether a 9-byte frame header is one a peer would send: a known type,
 * only that type's flags, the stream id its type needs, its fixed length,
 * length at most max_len. Strict on purpose: it decides detection and
 * resync. */
static bool h2_header_plausible(const uint8_t h[9], uint32_t max_len)
{
	static const uint8_t flags_ok[10] = {0x09, 0x2d, 0, 0, 0x01, 0x0c, 0x01, 0, 0, 0x04};
	uint32_t len = be24(h), sid = be32(h + 5);
	uint8_t type = h[3], flags = h[4];

	if (type > H2_CONTINUATION || (flags & ~flags_ok[type]) || (sid & 0x80000000u) || len > max_len)
		return false;
	switch (type) {
	case H2_SETTINGS:
		return sid == 0 && len % 6 == 0 && (!(flags & 1) || len == 0);
	case H2_PING:
		return sid == 0 && len == 8;
	case H2_GOAWAY:
		return sid == 0 && len >= 8;
	case H2_WINDOW_UPDATE:
		return len == 4;
	case H2_PRIORITY:
		return sid != 0 && len == 5;
	case H2_RST_STREAM:
		return sid != 0 && len == 4;
	default:
		return sid != 0;
	}
}

/* Frames chained from buf[0]: how many headers are complete and plausible
 * before the chain leaves buf; *end gets where the chain's last frame ends
 * (may lie past len). *broken: a header inside buf was not plausible.
 * CONTINUATION cannot start a chain. */
static unsigned h2_chain(const uint8_t *buf, size_t len, uint32_t max_len, uint64_t *end, bool *broken)
{
	uint64_t off = 0;
	unsigned n = 0;

	*end = 0;
	*broken = false;
	while (off + 9 <= len) {
		if (!h2_header_plausible(buf + off, max_len) || (n == 0 && buf[off + 3] == H2_CONTINUATION)) {
			*broken = true;
			return n;
		}
		n++;
		off += 9 + be24(buf + off);
		*end = off;
		if (n >= 8)
			break;
	}
	return n;
}

static bool h2_is_preface_prefix(const uint8_t *buf, size_t len)
{
	size_t n = len < H2_PREFACE_LEN ? len : H2_PREFACE_LEN;

	return n > 0 && memcmp(buf, H2_PREFACE, n) == 0;
}

static int h2_infer(const uint8_t *buf, size_t len, const struct zt_infer_hints *h)
{
	uint64_t end;
	bool broken;
	unsigned n;

	(void)h;
	if (len >= H2_PREFACE_LEN && h2_is_preface_prefix(buf, len))
		return 100;
	if (len >= 8 && h2_is_preface_prefix(buf, len))
		return 80; /* a short read of the preface */
	/* mid-connection: two or more plausible frames chained over the
	 * buffer (the last may run past it) */
	n = h2_chain(buf, len, H2_INFER_FRAME_MAX, &end, &broken);
	if (n >= 2 && !broken)
		return end == len ? 70 : 60;
	/* one HEADERS frame, its block complete, exactly filling the read */
	if (n == 1 && !broken && end == len && buf[3] == H2_HEADERS && (buf[4] & H2_FL_END_HEADERS) &&
	    (be32(buf + 5) & 1) && be24(buf) > 0)
		return 55;
	return 0;
}

static int h2_first_kind(const uint8_t *buf, size_t len)
{
	return h2_is_preface_prefix(buf, len) ? ZT_MSG_REQUEST : 0;
}

/* Resets the control fields only: the header-block buffers, the tables'
 * entry bytes and the stream messages are read only below lengths reset
 * here (clearing all ~90 KiB cost more than parsing a short connection). */
static void h2_init(void *state)
{
	struct h2_state *s = state;

	for (int i = 0; i < 2; i++) {
		struct h2_dir *d = &s->d[i];
		memset(d, 0, offsetof(struct h2_dir, block));
		hpack_table_init(&d->tbl, false);
		d->frames = d->gap_bytes = d->resyncs = d->bad = 0;
	}
	s->client_dir = -1;
	s->tick = 0;
	s->streams_dropped = 0;
	for (unsigned i = 0; i < H2_STREAMS; i++) {
		s->st[i].sid = 0;
		s->st[i].bits = 0;
	}
}

/* ---- frames ---- */

static void h2_lose(struct h2_state *s, uint8_t dir)
{
	struct h2_dir *d = &s->d[dir];

	/* frames of open streams may have gone by: their message counts in
	 * this direction are no longer known */
	for (unsigned i = 0; i < H2_STREAMS; i++) {
		struct h2_stream *t = &s->st[i];
		if (!t->sid)
			continue;
		t->lpm[dir].lost = true;
		/* counted by the session, shown on the span */
		if (((t->bits & H2S_REQ) && !(t->bits & H2S_REQ_SENT)) || (t->bits & H2S_RESP))
			t->m.flags |= ZT_MF_LOST_SYNC;
	}
	d->lost = true;
	d->hdr_n = 0;
	d->in_block = false;
	d->bad++;
	/* a header block may have gone by unseen: its table entries too */
	hpack_table_lost(&d->tbl);
}

static void h2_frame_begin(struct h2_state *s, uint8_t dir)
{
	struct h2_dir *d = &s->d[dir];

	d->flen = be24(d->hdr);
	d->type = d->hdr[3];
	d->flags = d->hdr[4];
	d->sid = be32(d->hdr + 5) & 0x7fffffffu;
	d->fpos = 0;
	d->pre_n = 0;
	d->bad_frame = false;
	d->frames++;
	switch (d->type) {
	case H2_DATA:
		d->pre_need = d->flags & H2_FL_PADDED ? 1 : 0;
		break;
	case H2_HEADERS:
		d->pre_need = (d->flags & H2_FL_PADDED ? 1 : 0) + (d->flags & H2_FL_PRIORITY ? 5 : 0);
		break;
	case H2_PUSH_PROMISE:
		d->pre_need = (d->flags & H2_FL_PADDED ? 1 : 0) + 4;
		break;
	case H2_RST_STREAM:
	case H2_WINDOW_UPDATE:
		d->pre_need = 4;
		break;
	case H2_PRIORITY:
		d->pre_need = 5;
		break;
	case H2_PING:
	case H2_GOAWAY:
		d->pre_need = 8;
		break;
	default: /* SETTINGS (entries read as content), CONTINUATION, extensions */
		d->pre_need = 0;
		break;
	}
	d->body_end = d->flen;
	if (d->pre_need > d->flen || (d->type == H2_SETTINGS && d->flen % 6))
		d->bad_frame = true;
	/* stream frames on stream 0: a peer's protocol error, not ours to read */
	if (d->sid == 0 && d->type != H2_SETTINGS && d->type != H2_PING && d->type != H2_GOAWAY &&
	    d->type != H2_WINDOW_UPDATE && d->type <= H2_CONTINUATION) {
		d->bad_frame = true;
		d->bad++;
	}
	/* a header block is HEADERS/PUSH_PROMISE then CONTINUATIONs of the
	 * same stream, nothing in between (RFC 9113 6.10) */
	if (d->in_block && (d->type != H2_CONTINUATION || d->sid != d->block_sid)) {
		d->block_lost = true;
		d->in_block = false;
		hpack_table_lost(&d->tbl);
		d->bad++;
	}
	if (d->type == H2_HEADERS || d->type == H2_PUSH_PROMISE) {
		d->in_block = true;
		d->block_lost = d->bad_frame;
		d->block_type = d->type;
		d->block_flags = d->flags;
		d->block_sid = d->sid;
		d->block_len = 0;
		d->block_cut = false;
		d->block_bytes = 0;
		d->block_frames = 0;
		d->block_fo = d->fo;
	} else if (d->type == H2_CONTINUATION) {
		if (!d->in_block) {
			d->bad_frame = true; /* no block to continue */
			d->bad++;
		} else if (++d->block_frames > H2_BLOCK_FRAMES_MAX) {
			d->block_lost = true;
		}
	}
	if (d->type == H2_SETTINGS && !(d->flags & 1))
		d->pre_need = 0;
}

/* SETTINGS entry (id, value) from dir: HEADER_TABLE_SIZE bounds the table
 * of the other direction (the one this side decodes). */
static void h2_setting(struct h2_state *s, uint8_t dir, const uint8_t e[6])
{
	uint16_t id = (uint16_t)(e[0] << 8 | e[1]);

	if (id == 1)
		hpack_table_set_limit(&s->d[dir ^ 1].tbl, be32(e + 2));
}

/* The fixed fields are all in d->pre. */
static void h2_pre_done(struct h2_dir *d)
{
	if ((d->type == H2_DATA || d->type == H2_HEADERS || d->type == H2_PUSH_PROMISE) &&
	    (d->flags & H2_FL_PADDED)) {
		uint32_t pad = d->pre[0];
		if (pad > d->flen - d->pre_need) {
			d->bad_frame = true; /* padding longer than the payload */
			d->bad++;
			if (d->in_block)
				d->block_lost = true;
		} else {
			d->body_end = d->flen - pad;
		}
	}
}

static void h2_block_add(struct h2_dir *d, const uint8_t *p, uint32_t n)
{
	if (!d->in_block || d->block_lost || d->block_cut)
		return;
	if (n > H2_BLOCK_MAX - d->block_len) {
		d->block_lost = true; /* too big to keep: its fields are lost */
		return;
	}
	memcpy(d->block + d->block_len, p, n);
	d->block_len += n;
}

/* Payload bytes p[0..n) at payload offset d->fpos (p NULL: a gap). */
static void h2_payload(struct h2_state *s, uint8_t dir, const uint8_t *p, uint32_t n)
{
	struct h2_dir *d = &s->d[dir];

	while (n > 0) {
		uint32_t k;
		if (d->bad_frame) {
			d->fpos += n;
			return;
		}
		if (d->fpos < d->pre_need) {
			k = d->pre_need - d->fpos < n ? d->pre_need - d->fpos : n;
			if (p)
				memcpy(d->pre + d->fpos, p, k);
			else {
				d->bad_frame = true; /* the fixed fields are in a gap */
				if (d->in_block)
					d->block_lost = true;
			}
			d->fpos += k;
			if (d->fpos == d->pre_need && !d->bad_frame)
				h2_pre_done(d);
		} else if (d->fpos < d->body_end) {
			k = d->body_end - d->fpos < n ? d->body_end - d->fpos : n;
			switch (d->type) {
			case H2_DATA:
				h2s_data(s, dir, d->sid, p, p ? k : 0, p ? 0 : k);
				break;
			case H2_HEADERS:
			case H2_PUSH_PROMISE:
			case H2_CONTINUATION:
				if (p)
					h2_block_add(d, p, k);
				else if (d->in_block)
					d->block_cut = true;
				break;
			case H2_SETTINGS:
				for (uint32_t i = 0; i < k; i++) {
					if (p)
						d->pre[d->pre_n] = p[i];
					if (++d->pre_n == 6) {
						if (p)
							h2_setting(s, dir, d->pre);
						d->pre_n = 0;
					}
				}
				break;
			default:
				break;
			}
			d->fpos += k;
		} else {
			k = d->flen - d->fpos < n ? d->flen - d->fpos : n; /* padding */
			d->fpos += k;
		}
		n -= k;
		if (p)
			p += k;
	}
}

static void h2_frame_end(struct h2_state *s, uint8_t dir, const struct zt_seg *seg, struct h2_emit *e)
{
	struct h2_dir *d = &s->d[dir];

	d->hdr_n = 0;
	if (d->bad_frame && d->type != H2_HEADERS && d->type != H2_CONTINUATION && d->type != H2_PUSH_PROMISE)
		return;
	switch (d->type) {
	case H2_DATA:
		h2s_frame_end(s, dir, seg, e);
		break;
	case H2_HEADERS:
	case H2_PUSH_PROMISE:
	case H2_CONTINUATION:
		if (!d->in_block)
			break;
		d->block_bytes += 9ull + d->flen;
		if (d->flags & H2_FL_END_HEADERS) {
			d->in_block = false;
			h2s_block(s, dir, seg, e);
		}
		break;
	case H2_RST_STREAM:
		h2s_rst(s, dir, d->sid, be32(d->pre), e);
		break;
	case H2_GOAWAY:
		h2s_goaway(s, dir, be32(d->pre) & 0x7fffffffu, be32(d->pre + 4), e);
		break;
	default:
		break;
	}
}

/* A direction's first byte: 'P' starts the client preface (the direction
 * is then seen from its start: its HPACK table complete). Otherwise its
 * first frame header decides, once complete (h2_first_frame). */
static void h2_dir_start(struct h2_state *s, uint8_t dir, const uint8_t *p, size_t n)
{
	struct h2_dir *d = &s->d[dir];

	if (!n)
		return;
	d->started = true;
	if (p[0] == 'P') {
		d->preface = 1; /* matching: see h2_feed */
		s->client_dir = (int8_t)dir;
		hpack_table_init(&d->tbl, true);
		return;
	}
	d->preface = H2_PREFACE_LEN + 1; /* none */
	d->first_frame = true;
}

/* The direction's first frame header: a server's SETTINGS (not an ACK)
 * opens the connection, so its table is complete; a header no peer would
 * send means we joined mid-frame. Returns false when framing is lost. */
static bool h2_first_frame(struct h2_state *s, uint8_t dir)
{
	struct h2_dir *d = &s->d[dir];

	d->first_frame = false;
	if (!h2_header_plausible(d->hdr, H2_FRAME_MAX) || d->hdr[3] == H2_CONTINUATION) {
		h2_lose(s, dir);
		return false;
	}
	if (d->hdr[3] == H2_SETTINGS && d->hdr[4] == 0)
		hpack_table_init(&d->tbl, true);
	return true;
}

static void h2_feed(void *state, const struct zt_seg *seg, zt_emit_fn emit, void *ctx)
{
	struct h2_state *s = state;
	struct h2_emit e = {emit, ctx};
	uint8_t dir = seg->dir;
	struct h2_dir *d;
	const uint8_t *p = seg->data;
	size_t cap = seg->caplen, off = 0;
	uint64_t gap = seg->len > seg->caplen ? seg->len - seg->caplen : 0;

	if (dir > ZT_DIR_INGRESS || seg->eof)
		return;
	d = &s->d[dir];
	if (!d->started)
		h2_dir_start(s, dir, p, cap);
	if (d->lost) {
		uint64_t end;
		bool broken;
		/* a segment that starts with a frame (a write of whole
		 * frames): framing resumes there */
		if (cap >= 9 && h2_chain(p, cap, H2_FRAME_MAX, &end, &broken) >= 1 && !broken) {
			d->lost = false;
			d->hdr_n = 0;
			d->preface = H2_PREFACE_LEN + 1;
			d->resyncs++;
		} else {
			d->gap_bytes += seg->len;
			return;
		}
	}
	while (off < cap && !d->lost) {
		if (d->preface >= 1 && d->preface <= H2_PREFACE_LEN) {
			/* preface byte k-1 expected */
			if (p[off] != (uint8_t)H2_PREFACE[d->preface - 1]) {
				h2_lose(s, dir);
				break;
			}
			d->preface++;
			off++;
			continue;
		}
		if (d->hdr_n < 9) {
			if (d->hdr_n == 0) {
				d->fo.seg = *seg;
				d->fo.seg.data = NULL;
				d->fo.off = off;
			}
			size_t k = 9u - d->hdr_n < cap - off ? 9u - d->hdr_n : cap - off;
			memcpy(d->hdr + d->hdr_n, p + off, k);
			d->hdr_n = (uint8_t)(d->hdr_n + k);
			off += k;
			if (d->hdr_n == 9) {
				if (d->first_frame && !h2_first_frame(s, dir))
					break;
				h2_frame_begin(s, dir);
				if (d->flen == 0)
					h2_frame_end(s, dir, seg, &e);
			}
			continue;
		}
		uint32_t k = d->flen - d->fpos < cap - off ? d->flen - d->fpos : (uint32_t)(cap - off);
		h2_payload(s, dir, p + off, k);
		off += k;
		if (d->fpos == d->flen)
			h2_frame_end(s, dir, seg, &e);
	}
	if (gap && !d->lost) {
		d->gap_bytes += gap;
		if (d->hdr_n == 9 && gap <= (uint64_t)(d->flen - d->fpos)) {
			/* the gap ends inside (or at the end of) this frame */
			h2_payload(s, dir, NULL, (uint32_t)gap);
			if (d->fpos == d->flen)
				h2_frame_end(s, dir, seg, &e);
		} else {
			if (d->hdr_n == 9) {
				h2_payload(s, dir, NULL, d->flen - d->fpos);
				/* a header block whose last frame the gap cut: what
				 * was captured of it still says what it can */
				if (d->in_block && (d->flags & H2_FL_END_HEADERS) && d->type != H2_DATA) {
					d->block_bytes += 9ull + d->flen;
					d->in_block = false;
					h2s_block(s, dir, seg, &e);
				}
			}
			h2_lose(s, dir);
		}
	}
}

static void h2_finish(void *state, uint64_t now_ns, zt_emit_fn emit, void *ctx)
{
	struct h2_emit e = {emit, ctx};

	(void)now_ns;
	h2s_finish(state, &e);
}

static void h2_endpoint(const struct zt_msg *req, char *out, size_t outsz)
{
	if (req->l7 == ZT_L7_GRPC) {
		/* /package.Service/Method: names, not ids */
		size_t n = strnlen(req->request_resource, sizeof(req->request_resource));
		if (outsz == 0)
			return;
		if (n > outsz - 1)
			n = outsz - 1;
		memcpy(out, req->request_resource, n);
		out[n] = '\0';
		return;
	}
	zt_endpoint_normalize(req->request_type, req->request_resource, out, outsz);
}

static void h2_redact_msg(struct zt_msg *m)
{
	if (m->kind == ZT_MSG_REQUEST)
		zt_http_redact_target(m->request_resource);
}

const struct zt_proto_ops zt_h2_ops = {
    .id = ZT_L7_HTTP2,
    .name = "HTTP2",
    .infer = h2_infer,
    .state_size = sizeof(struct h2_state),
    .init = h2_init,
    .feed = h2_feed,
    .finish = h2_finish,
    .first_kind = h2_first_kind,
    .endpoint = h2_endpoint,
    .redact_msg = h2_redact_msg,
    .redact_payload = zt_h2_redact,
};
