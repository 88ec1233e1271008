/* SPDX-License-Identifier: MIT */
/*
 * h2_stream.c - HTTP/2 streams: header blocks become requests and
 * responses keyed by stream id, DATA counts bytes (and gRPC's length-
 * prefixed messages), END_STREAM, RST_STREAM, GOAWAY and the connection's
 * end complete them. See h2.h.
 *
 * A request is emitted when the client ends its side (END_STREAM), or
 * earlier when the response ends first; a response when the server ends
 * its side (after trailers for gRPC). A streaming RPC is thus one span from
 * the first HEADERS to the trailers.
 */
#include <stdio.h>
#include <string.h>

#include "proto/h2.h"
#include "proto/trace_hdr.h"
#include "bpf/events.h"

/* What one decoded header block says. */
struct h2_blk {
	struct zt_msg m; /* method, path, authority, ids, x-request-id, grpc-message */
	int status;	 /* :status, 0 absent */
	int grpc_status; /* -1 absent */
	bool method, grpc;
	unsigned unknown; /* fields lost to an unknown dynamic table */
	struct zt_trace_hdrs th;
	char arena[2048]; /* trace header values, alive until resolve */
	size_t used;
};

static bool eq(const char *a, size_t n, const char *lit)
{
	return n == strlen(lit) && memcmp(a, lit, n) == 0;
}

static int parse_uint(const char *p, size_t n, int max)
{
	int v = 0;

	if (n == 0 || n > 9)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v <= max ? v : -1;
}

static int hexv(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* grpc-message is percent-encoded (gRPC over HTTP/2, "Responses"). */
static void copy_pct(char *dst, size_t dstsz, const char *p, size_t n)
{
	char tmp[ZT_EXC_LEN];
	size_t o = 0;

	for (size_t i = 0; i < n && o < sizeof(tmp); i++) {
		int h, l;
		if (p[i] == '%' && i + 2 < n && (h = hexv(p[i + 1])) >= 0 && (l = hexv(p[i + 2])) >= 0) {
			tmp[o++] = (char)(h << 4 | l);
			i += 2;
		} else {
			tmp[o++] = p[i];
		}
	}
	zt_copy_str(dst, dstsz, tmp, o);
}

static void on_field(void *ctx, const char *name, size_t nl, const char *value, size_t vl, unsigned flags)
{
	struct h2_blk *b = ctx;
	struct zt_msg *m = &b->m;

	if (flags & (HPACK_F_UNKNOWN | HPACK_F_NAME_UNKNOWN)) {
		b->unknown++;
		return;
	}
	if (nl && name[0] == ':') {
		if (eq(name, nl, ":method")) {
			b->method = true;
			zt_copy_str(m->request_type, sizeof(m->request_type), value, vl);
		} else if (eq(name, nl, ":path")) {
			zt_copy_str(m->request_resource, sizeof(m->request_resource), value, vl);
		} else if (eq(name, nl, ":authority")) {
			zt_copy_str(m->request_domain, sizeof(m->request_domain), value, vl);
		} else if (eq(name, nl, ":status")) {
			int v = parse_uint(value, vl, 999);
			b->status = v >= 100 ? v : 0;
		}
		return;
	}
	if (eq(name, nl, "content-type")) {
		b->grpc = vl >= 16 && memcmp(value, "application/grpc", 16) == 0;
	} else if (eq(name, nl, "grpc-status")) {
		b->grpc_status = parse_uint(value, vl, 1000000);
	} else if (eq(name, nl, "grpc-message")) {
		copy_pct(m->response_exception, sizeof(m->response_exception), value, vl);
	} else if (eq(name, nl, "host")) {
		if (!m->request_domain[0])
			zt_copy_str(m->request_domain, sizeof(m->request_domain), value, vl);
	} else if (zt_is_request_id_header(name, nl)) {
		if (!m->x_request_id[0])
			zt_copy_str(m->x_request_id, sizeof(m->x_request_id), value, vl);
	} else if (vl <= sizeof(b->arena) - b->used) {
		/* a trace header's value must outlive this call */
		char *v = b->arena + b->used;
		memcpy(v, value, vl);
		if (zt_trace_hdrs_offer(&b->th, name, nl, v, vl))
			b->used += vl;
	}
}

/* ---- stream slots ---- */

static struct h2_stream *st_find(struct h2_state *s, uint32_t sid)
{
	for (unsigned i = 0; i < H2_STREAMS; i++)
		if (s->st[i].sid == sid && sid)
			return &s->st[i];
	return NULL;
}

static void emit_req(struct h2_stream *t, struct h2_emit *e)
{
	char v[16];

	if (!(t->bits & H2S_REQ) || (t->bits & H2S_REQ_SENT))
		return;
	t->bits |= H2S_REQ_SENT;
	if (t->bits & H2S_GRPC) {
		t->req.l7 = ZT_L7_GRPC;
		if (!t->lpm[t->req.dir].lost) {
			int n = snprintf(v, sizeof(v), "%u", t->lpm[t->req.dir].count);
			zt_attrs_add(&t->req.attrs, "grpc.req_msgs", v, (size_t)n);
		}
	}
	e->fn(e->ctx, &t->req);
}

static void st_free(struct h2_stream *t)
{
	t->sid = 0;
	t->bits = 0;
}

/* A free slot for sid; when none is free the least recently active stream
 * is given up (its request emitted; its response will find no stream). */
static struct h2_stream *st_new(struct h2_state *s, uint32_t sid, struct h2_emit *e)
{
	struct h2_stream *old = &s->st[0];

	for (unsigned i = 0; i < H2_STREAMS; i++) {
		if (!s->st[i].sid) {
			old = &s->st[i];
			goto take;
		}
		if (s->st[i].touched < old->touched)
			old = &s->st[i];
	}
	emit_req(old, e);
	s->streams_dropped++;
take:
	memset(old->lpm, 0, sizeof(old->lpm));
	old->sid = sid;
	old->bits = 0;
	old->touched = ++s->tick;
	return old;
}

/* ---- status ---- */

int h2s_status_class_grpc(int code)
{
	switch (code) {
	case 0:
		return ZT_RS_OK;
	case 1:	 /* CANCELLED: by the caller */
	case 3:	 /* INVALID_ARGUMENT */
	case 5:	 /* NOT_FOUND */
	case 6:	 /* ALREADY_EXISTS */
	case 7:	 /* PERMISSION_DENIED */
	case 9:	 /* FAILED_PRECONDITION */
	case 11: /* OUT_OF_RANGE */
	case 16: /* UNAUTHENTICATED */
		return ZT_RS_CLIENT_ERROR;
	case 2:	 /* UNKNOWN */
	case 4:	 /* DEADLINE_EXCEEDED */
	case 8:	 /* RESOURCE_EXHAUSTED */
	case 10: /* ABORTED */
	case 12: /* UNIMPLEMENTED */
	case 13: /* INTERNAL */
	case 14: /* UNAVAILABLE */
	case 15: /* DATA_LOSS */
		return ZT_RS_SERVER_ERROR;
	default:
		return ZT_RS_UNKNOWN;
	}
}

static int http_class(int code)
{
	if (code >= 500)
		return ZT_RS_SERVER_ERROR;
	if (code >= 400)
		return ZT_RS_CLIENT_ERROR;
	return code >= 100 ? ZT_RS_OK : ZT_RS_UNKNOWN;
}

static const char *h2_err_name(uint32_t code)
{
	static const char *const names[] = {
	    "NO_ERROR",		 "PROTOCOL_ERROR",     "INTERNAL_ERROR",      "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT",
	    "STREAM_CLOSED",	 "FRAME_SIZE_ERROR",   "REFUSED_STREAM",      "CANCEL",		    "COMPRESSION_ERROR",
	    "CONNECT_ERROR",	 "ENHANCE_YOUR_CALM",  "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
	};
	return code < sizeof(names) / sizeof(names[0]) ? names[code] : "UNKNOWN_ERROR";
}

/* The response side ended (END_STREAM, or the stream was cut): the
 * request goes first if it has not, then the response; the slot is freed. */
static void emit_resp(struct h2_stream *t, struct h2_emit *e)
{
	char v[16];

	emit_req(t, e);
	if (t->bits & H2S_RESP) {
		if (t->bits & H2S_GRPC) {
			t->resp.l7 = ZT_L7_GRPC;
			if (!t->lpm[t->resp.dir].lost) {
				int n = snprintf(v, sizeof(v), "%u", t->lpm[t->resp.dir].count);
				zt_attrs_add(&t->resp.attrs, "grpc.resp_msgs", v, (size_t)n);
			}
		}
		e->fn(e->ctx, &t->resp);
	}
	st_free(t);
}

/* The fields of a block into msg m (request or response). */
static void take_fields(struct zt_msg *m, struct h2_blk *b, bool lost)
{
	struct zt_trace_ids ids;
	char v[16];

#define TAKE(f)                                                                                              \
	if (b->m.f[0])                                                                                       \
		memcpy(m->f, b->m.f, sizeof(m->f));
	TAKE(request_type)
	TAKE(request_resource)
	TAKE(request_domain)
	TAKE(x_request_id)
	TAKE(response_exception)
#undef TAKE
	if (!m->trace_id[0] && zt_trace_hdrs_resolve(&b->th, &ids)) {
		memcpy(m->trace_id, ids.trace_id, sizeof(m->trace_id));
		memcpy(m->span_id, ids.span_id, sizeof(m->span_id));
		memcpy(m->parent_span_id, ids.parent_span_id, sizeof(m->parent_span_id));
	}
	if (lost || b->unknown) {
		/* partial: never guessed, flagged */
		int n = lost ? snprintf(v, sizeof(v), "block_lost") : snprintf(v, sizeof(v), "%u", b->unknown);
		bool have = false;
		m->flags |= ZT_MF_TRUNCATED;
		for (unsigned i = 0; i < m->attrs.n && i < ZT_ATTRS_MAX; i++)
			have |= strcmp(m->attrs.a[i].key, "h2.unknown_headers") == 0;
		if (!have)
			zt_attrs_add(&m->attrs, "h2.unknown_headers", v, (size_t)n);
	}
}

static void msg_start(struct zt_msg *m, uint8_t kind, uint32_t sid, const struct h2_origin *fo)
{
	zt_msg_reset(m);
	m->kind = kind;
	m->pair = ZT_PAIR_KEY;
	m->key = sid;
	zt_msg_begin(m, &fo->seg, fo->off);
	memcpy(m->version, "2", 2);
}

void h2s_block(struct h2_state *s, uint8_t dir, const struct zt_seg *seg, struct h2_emit *e)
{
	struct h2_dir *d = &s->d[dir];
	static __thread struct h2_blk b; /* ~5 KiB: off the stack */
	bool lost = d->block_lost, end = d->block_flags & H2_FL_END_STREAM;
	uint32_t sid = d->block_sid;
	struct h2_stream *t;
	int kind = 0;

	zt_msg_reset(&b.m);
	b.status = 0;
	b.grpc_status = -1;
	b.method = b.grpc = false;
	b.unknown = 0;
	b.used = 0;
	zt_trace_hdrs_init(&b.th);
	if (lost)
		hpack_table_lost(&d->tbl);
	else if (hpack_decode_block(&d->tbl, d->block, d->block_len, on_field, &b) < 0) {
		d->bad++;
		lost = true;
	}
	if (d->block_type == H2_PUSH_PROMISE)
		return; /* decoded for the table; pushed streams are not followed */
	t = st_find(s, sid);
	if (b.method)
		kind = ZT_MSG_REQUEST;
	else if (b.status)
		kind = ZT_MSG_RESPONSE;
	else if (t && (t->bits & H2S_REQ) && t->req.dir == dir)
		kind = ZT_MSG_REQUEST; /* trailers of the request */
	else if (t && (t->bits & H2S_RESP) && t->resp.dir == dir)
		kind = ZT_MSG_RESPONSE; /* trailers */
	else if (s->client_dir >= 0)
		kind = dir == (uint8_t)s->client_dir ? ZT_MSG_REQUEST : ZT_MSG_RESPONSE;
	else if ((sid & 1) && b.grpc_status < 0)
		kind = ZT_MSG_REQUEST; /* a new client stream opens with HEADERS */
	if (!kind)
		return;
	if (s->client_dir < 0)
		s->client_dir = (int8_t)(kind == ZT_MSG_REQUEST ? dir : dir ^ 1);
	if (!t)
		t = st_new(s, sid, e);
	t->touched = ++s->tick;

	if (kind == ZT_MSG_REQUEST) {
		if (!(t->bits & H2S_REQ)) {
			msg_start(&t->req, ZT_MSG_REQUEST, sid, &d->block_fo);
			t->bits |= H2S_REQ;
			if (b.grpc)
				t->bits |= H2S_GRPC;
		}
		take_fields(&t->req, &b, lost);
		t->req.bytes += d->block_bytes;
		zt_msg_extend(&t->req, seg);
		if (end) {
			t->bits |= H2S_REQ_END;
			emit_req(t, e);
		}
		return;
	}
	if (b.status >= 100 && b.status < 200)
		return; /* interim (100-continue, 103): the final one follows */
	if (!(t->bits & H2S_RESP)) {
		msg_start(&t->resp, ZT_MSG_RESPONSE, sid, &d->block_fo);
		t->bits |= H2S_RESP;
		if (b.status) {
			t->resp.response_code = b.status;
			t->resp.flags |= ZT_MF_HAS_CODE;
			t->resp.status = (uint8_t)http_class(b.status);
		}
		if (b.grpc)
			t->bits |= H2S_GRPC;
	}
	take_fields(&t->resp, &b, lost);
	if (b.grpc_status >= 0) {
		/* trailers, or a trailers-only response */
		t->bits |= H2S_GRPC_STATUS | H2S_GRPC;
		t->resp.response_code = b.grpc_status;
		t->resp.flags |= ZT_MF_HAS_CODE;
		t->resp.status = (uint8_t)h2s_status_class_grpc(b.grpc_status);
	}
	t->resp.bytes += d->block_bytes;
	zt_msg_extend(&t->resp, seg);
	if (end)
		emit_resp(t, e);
}

/* gRPC length-prefixed messages: 1 byte flags, 4 bytes length, payload. */
static void lpm_feed(struct h2_lpm *l, const uint8_t *p, uint32_t n, uint64_t gap)
{
	while (n > 0 && !l->lost) {
		if (l->left) {
			uint32_t k = l->left < n ? l->left : n;
			l->left -= k;
			p += k;
			n -= k;
			continue;
		}
		l->pre[l->pre_n++] = *p++;
		n--;
		if (l->pre_n == 5) {
			l->count++;
			l->left = (uint32_t)l->pre[1] << 24 | (uint32_t)l->pre[2] << 16 | (uint32_t)l->pre[3] << 8 |
				  l->pre[4];
			l->pre_n = 0;
		}
	}
	if (gap && !l->lost) {
		if (gap <= l->left && l->pre_n == 0)
			l->left -= (uint32_t)gap;
		else
			l->lost = true; /* a prefix hid in the gap */
	}
}

void h2s_data(struct h2_state *s, uint8_t dir, uint32_t sid, const uint8_t *p, uint32_t n, uint64_t gap)
{
	struct h2_stream *t = st_find(s, sid);

	if (t && (t->bits & H2S_GRPC))
		lpm_feed(&t->lpm[dir & 1], p, n, gap);
}

void h2s_frame_end(struct h2_state *s, uint8_t dir, const struct zt_seg *seg, struct h2_emit *e)
{
	struct h2_dir *d = &s->d[dir];
	struct h2_stream *t = st_find(s, d->sid);
	bool end = d->flags & H2_FL_END_STREAM;

	if (!t)
		return;
	t->touched = ++s->tick;
	if ((t->bits & H2S_REQ) && t->req.dir == dir) {
		t->req.bytes += 9ull + d->flen;
		zt_msg_extend(&t->req, seg);
		if (end) {
			t->bits |= H2S_REQ_END;
			emit_req(t, e);
		}
	} else if ((t->bits & H2S_RESP) && t->resp.dir == dir) {
		t->resp.bytes += 9ull + d->flen;
		zt_msg_extend(&t->resp, seg);
		if (end)
			emit_resp(t, e);
	}
}

/* Ends stream t with an error named `why` sent by side dir. */
static void st_abort(struct h2_state *s, struct h2_stream *t, uint8_t dir, const char *what, uint32_t code,
		     struct h2_emit *e)
{
	struct h2_dir *d = &s->d[dir];
	bool by_client = s->client_dir >= 0 && dir == (uint8_t)s->client_dir;

	if (!(t->bits & H2S_REQ)) {
		st_free(t);
		return;
	}
	if (!(t->bits & H2S_RESP)) {
		msg_start(&t->resp, ZT_MSG_RESPONSE, t->sid, &d->fo);
		t->resp.dir = t->req.dir ^ 1;
		t->bits |= H2S_RESP;
	}
	snprintf(t->resp.response_exception, sizeof(t->resp.response_exception), "%s %s", what, h2_err_name(code));
	if (code != 0 || !(t->bits & H2S_GRPC_STATUS))
		t->resp.status = (uint8_t)(code == 0 && (t->resp.flags & ZT_MF_HAS_CODE)
					       ? t->resp.status
					       : by_client ? ZT_RS_CLIENT_ERROR : ZT_RS_SERVER_ERROR);
	emit_resp(t, e);
}

void h2s_rst(struct h2_state *s, uint8_t dir, uint32_t sid, uint32_t code, struct h2_emit *e)
{
	struct h2_stream *t = st_find(s, sid);

	if (t)
		st_abort(s, t, dir, "RST_STREAM", code, e);
}

void h2s_goaway(struct h2_state *s, uint8_t dir, uint32_t last_sid, uint32_t code, struct h2_emit *e)
{
	for (unsigned i = 0; i < H2_STREAMS; i++) {
		struct h2_stream *t = &s->st[i];
		/* streams past last_sid were never processed; on an error
		 * GOAWAY none of the open ones will complete */
		if (t->sid && (t->sid > last_sid || code != 0))
			st_abort(s, t, dir, "GOAWAY", code, e);
	}
}

void h2s_finish(struct h2_state *s, struct h2_emit *e)
{
	/* oldest first, so that the session sees requests in their order */
	for (;;) {
		struct h2_stream *old = NULL;
		for (unsigned i = 0; i < H2_STREAMS; i++)
			if (s->st[i].sid && (!old || s->st[i].touched < old->touched))
				old = &s->st[i];
		if (!old)
			return;
		if (old->bits & H2S_RESP)
			emit_resp(old, e); /* ended by the close */
		else {
			emit_req(old, e);
			st_free(old);
		}
	}
}
