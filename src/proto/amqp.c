/* SPDX-License-Identifier: MIT */
/*
 * amqp.c - AMQP 0-9-1 (RabbitMQ) over TCP.
 *
 * Framing: the client's protocol header "AMQP\0\0\x09\x01", then frames of
 * type (1 method, 2 content header, 3 content body, 8 heartbeat), channel,
 * size, payload and the end octet 0xCE (lpframe.h; a wrong end octet loses
 * sync). Heartbeats are ignored.
 *
 * Pairing: ZT_PAIR_KEY with key = channel | (direction of the request) <<
 * 16. A peer sends at most one synchronous method per channel before its
 * reply, and the session pairs a response with the OLDEST request of its
 * key, so this is FIFO per channel and direction. Either side may ask:
 * Connection.Start, Tune and Secure are requests of the broker, answered by
 * the client's -Ok (as DeepFlow shows them).
 *   synchronous method -> its -Ok (Get -> Get-Ok or Get-Empty)
 *   nowait set on a method that has the bit: ONEWAY
 *   Basic.Publish, Deliver, Return, Ack, Nack, Reject, Recover-Async,
 *   Connection.Blocked/Unblocked: ONEWAY
 *   Connection.Close / Channel.Close carry a reply code and text. When the
 *     other side has a synchronous request outstanding on that channel
 *     (Queue.Declare of a missing queue, Connection.Open of a missing
 *     vhost), the Close IS its answer: a response with the code (404...),
 *     status and text, and the Close-Ok that follows is consumed. Otherwise
 *     the Close is a request (resource: the failing method, e.g.
 *     "Basic.Publish" for a publish to a missing exchange) and its Close-Ok
 *     the response, which carries the Close's code and text.
 * Methods that carry content (Publish, Deliver, Return, Get-Ok) are emitted
 * once their content header and body frames have been counted (sizes
 * include them; bodies beyond the capture are gaps). A method frame on the
 * same channel, or another content method in the same direction, ends a
 * content early (the message is then marked truncated).
 *
 * Fields: request_type "Class.Method", request_domain the vhost of
 * Connection.Open, request_resource the queue / exchange, or for Publish,
 * Deliver, Return and Get-Ok "exchange/routing-key".
 * Credentials: Start-Ok's SASL response (PLAIN: "\0user\0password"),
 * Secure-Ok's response and Update-Secret's secret are never copied;
 * amqp_redact() blanks them in raw payloads (PLAIN keeps the user name).
 */
#include "proto/lpframe.h"
#include "proto/proto.h"
#include "bpf/events.h"

#include <stdio.h>
#include <string.h>

#define AM_SIZE_MAX (64u << 20) /* larger frames are not AMQP to us */
#define AM_SYNC 8		/* channels with a sync request tracked per direction */

static const uint8_t am_header[8] = {'A', 'M', 'Q', 'P', 0, 0, 9, 1};

enum am_kind {
	AM_REQ = 1,  /* synchronous: expects its reply */
	AM_RESP,     /* a synchronous method's reply */
	AM_ONEWAY,   /* asynchronous */
	AM_CLOSE,    /* Connection.Close, Channel.Close */
	AM_CLOSE_OK, /* their -Ok */
};

/* How to find the resource and the nowait bit of a method's arguments:
 * skip `lead` bytes (the reserved short), the resource is shortstr number
 * `res` (1-based, 0: none), the bits octet follows shortstr number `nw_after`
 * and nowait is bit `nw_bit` of it (nw_after 0: no nowait). */
struct am_method {
	uint16_t cls, mth;
	const char *name;
	uint8_t kind;
	bool from_server; /* sent only by the broker (first_kind) */
	bool content;
	uint8_t lead, res, nw_after, nw_bit;
};

static const struct am_method am_methods[] = {
    {10, 10, "Connection.Start", AM_REQ, true, false, 0, 0, 0, 0},
    {10, 11, "Connection.Start-Ok", AM_RESP, false, false, 0, 0, 0, 0},
    {10, 20, "Connection.Secure", AM_REQ, true, false, 0, 0, 0, 0},
    {10, 21, "Connection.Secure-Ok", AM_RESP, false, false, 0, 0, 0, 0},
    {10, 30, "Connection.Tune", AM_REQ, true, false, 0, 0, 0, 0},
    {10, 31, "Connection.Tune-Ok", AM_RESP, false, false, 0, 0, 0, 0},
    {10, 40, "Connection.Open", AM_REQ, false, false, 0, 1, 0, 0},
    {10, 41, "Connection.Open-Ok", AM_RESP, true, false, 0, 0, 0, 0},
    {10, 50, "Connection.Close", AM_CLOSE, false, false, 0, 0, 0, 0},
    {10, 51, "Connection.Close-Ok", AM_CLOSE_OK, false, false, 0, 0, 0, 0},
    {10, 60, "Connection.Blocked", AM_ONEWAY, true, false, 0, 0, 0, 0},
    {10, 61, "Connection.Unblocked", AM_ONEWAY, true, false, 0, 0, 0, 0},
    {10, 70, "Connection.Update-Secret", AM_REQ, false, false, 0, 0, 0, 0},
    {10, 71, "Connection.Update-Secret-Ok", AM_RESP, true, false, 0, 0, 0, 0},
    {20, 10, "Channel.Open", AM_REQ, false, false, 0, 0, 0, 0},
    {20, 11, "Channel.Open-Ok", AM_RESP, true, false, 0, 0, 0, 0},
    {20, 20, "Channel.Flow", AM_REQ, false, false, 0, 0, 0, 0},
    {20, 21, "Channel.Flow-Ok", AM_RESP, false, false, 0, 0, 0, 0},
    {20, 40, "Channel.Close", AM_CLOSE, false, false, 0, 0, 0, 0},
    {20, 41, "Channel.Close-Ok", AM_CLOSE_OK, false, false, 0, 0, 0, 0},
    {40, 10, "Exchange.Declare", AM_REQ, false, false, 2, 1, 2, 4},
    {40, 11, "Exchange.Declare-Ok", AM_RESP, true, false, 0, 0, 0, 0},
    {40, 20, "Exchange.Delete", AM_REQ, false, false, 2, 1, 1, 1},
    {40, 21, "Exchange.Delete-Ok", AM_RESP, true, false, 0, 0, 0, 0},
    {40, 30, "Exchange.Bind", AM_REQ, false, false, 2, 1, 3, 0},
    {40, 31, "Exchange.Bind-Ok", AM_RESP, true, false, 0, 0, 0, 0},
    {40, 40, "Exchange.Unbind", AM_REQ, false, false, 2, 1, 3, 0},
    {40, 51, "Exchange.Unbind-Ok", AM_RESP, true, false, 0, 0, 0, 0},
    {50, 10, "Queue.Declare", AM_REQ, false, false, 2, 1, 1, 4},
    {50, 11, "Queue.Declare-Ok", AM_RESP, true, false, 0, 0, 0, 0},
    {50, 20, "Queue.Bind", AM_REQ, false, false, 2, 1, 3, 0},
    {50, 21, "Queue.Bind-Ok", AM_RESP, true, false, 0, 0, 0, 0},
    {50, 30, "Queue.Purge", AM_REQ, false, false, 2, 1, 1, 0},
    {50, 31, "Queue.Purge-Ok", AM_RESP, true, false, 0, 0, 0, 0},
    {50, 40, "Queue.Delete", AM_REQ, false, false, 2, 1, 1, 2},
    {50, 41, "Queue.Delete-Ok", AM_RESP, true, false, 0, 0, 0, 0},
    {50, 50, "Queue.Unbind", AM_REQ, false, false, 2, 1, 0, 0},
    {50, 51, "Queue.Unbind-Ok", AM_RESP, true, false, 0, 0, 0, 0},
    {60, 10, "Basic.Qos", AM_REQ, false, false, 0, 0, 0, 0},
    {60, 11, "Basic.Qos-Ok", AM_RESP, true, false, 0, 0, 0, 0},
    {60, 20, "Basic.Consume", AM_REQ, false, false, 2, 1, 2, 3},
    {60, 21, "Basic.Consume-Ok", AM_RESP, true, false, 0, 0, 0, 0},
    {60, 30, "Basic.Cancel", AM_REQ, false, false, 0, 1, 1, 0},
    {60, 31, "Basic.Cancel-Ok", AM_RESP, false, false, 0, 0, 0, 0},
    {60, 40, "Basic.Publish", AM_ONEWAY, false, true, 0, 0, 0, 0},
    {60, 50, "Basic.Return", AM_ONEWAY, true, true, 0, 0, 0, 0},
    {60, 60, "Basic.Deliver", AM_ONEWAY, true, true, 0, 0, 0, 0},
    {60, 70, "Basic.Get", AM_REQ, false, false, 2, 1, 0, 0},
    {60, 71, "Basic.Get-Ok", AM_RESP, true, true, 0, 0, 0, 0},
    {60, 72, "Basic.Get-Empty", AM_RESP, true, false, 0, 0, 0, 0},
    {60, 80, "Basic.Ack", AM_ONEWAY, false, false, 0, 0, 0, 0},
    {60, 90, "Basic.Reject", AM_ONEWAY, false, false, 0, 0, 0, 0},
    {60, 100, "Basic.Recover-Async", AM_ONEWAY, false, false, 0, 0, 0, 0},
    {60, 110, "Basic.Recover", AM_REQ, false, false, 0, 0, 0, 0},
    {60, 111, "Basic.Recover-Ok", AM_RESP, true, false, 0, 0, 0, 0},
    {60, 120, "Basic.Nack", AM_ONEWAY, false, false, 0, 0, 0, 0},
    {85, 10, "Confirm.Select", AM_REQ, false, false, 0, 0, 0, 0},
    {85, 11, "Confirm.Select-Ok", AM_RESP, true, false, 0, 0, 0, 0},
    {90, 10, "Tx.Select", AM_REQ, false, false, 0, 0, 0, 0},
    {90, 11, "Tx.Select-Ok", AM_RESP, true, false, 0, 0, 0, 0},
    {90, 20, "Tx.Commit", AM_REQ, false, false, 0, 0, 0, 0},
    {90, 21, "Tx.Commit-Ok", AM_RESP, true, false, 0, 0, 0, 0},
    {90, 30, "Tx.Rollback", AM_REQ, false, false, 0, 0, 0, 0},
    {90, 31, "Tx.Rollback-Ok", AM_RESP, true, false, 0, 0, 0, 0},
};

static const struct am_method *am_lookup(uint16_t cls, uint16_t mth)
{
	for (size_t i = 0; i < sizeof(am_methods) / sizeof(am_methods[0]); i++)
		if (am_methods[i].cls == cls && am_methods[i].mth == mth)
			return &am_methods[i];
	return NULL;
}

/* A content method waiting for its header and body frames. */
struct am_content {
	struct zt_msg m;
	bool on, hdr_seen;
	uint16_t chan;
	uint64_t body_left;
};

/* A Close sent in one direction, waiting for its Close-Ok. */
struct am_close {
	bool on, answered; /* answered: it was the reply to a sync request */
	uint16_t chan, code;
	char text[ZT_EXC_LEN];
};

struct am_state {
	struct lpf_dir d[2];
	struct am_content ct[2];
	struct am_close cl[2];
	uint16_t sync_chan[2][AM_SYNC];			     /* channels with a sync request sent in dir */
	uint16_t sync_cls[2][AM_SYNC], sync_mth[2][AM_SYNC]; /* ... and its method */
	uint8_t sync_on[2][AM_SYNC];
	uint8_t sync_next[2];
	char vhost[ZT_DOMAIN_LEN];
	uint32_t frame_max; /* negotiated (Tune-Ok); 0 unknown */
	struct zt_msg m;    /* being built; in the state so its padding stays zero */
};

/* ---- framing ---------------------------------------------------------- */

static int64_t am_len(const uint8_t *buf, uint32_t have)
{
	if (have < 1)
		return 0;
	if (buf[0] == 'A') {
		for (uint32_t i = 0; i < have && i < 8; i++)
			if (buf[i] != am_header[i])
				return -1;
		return have < 8 ? 0 : 8;
	}
	if (buf[0] != 1 && buf[0] != 2 && buf[0] != 3 && buf[0] != 8)
		return -1;
	if (have < 7)
		return 0;
	uint32_t size = (uint32_t)buf[3] << 24 | (uint32_t)buf[4] << 16 | (uint32_t)buf[5] << 8 | buf[6];
	if (size > AM_SIZE_MAX || (buf[0] == 8 && size != 0))
		return -1;
	return 8 + (int64_t)size;
}

/* ---- reply codes ------------------------------------------------------ */

static uint8_t am_code_status(uint16_t code)
{
	switch (code) {
	case 200:
		return ZT_RS_OK;
	case 320: /* connection-forced: the broker closed it */
	case 506: /* resource-error */
	case 540: /* not-implemented */
	case 541: /* internal-error */
		return ZT_RS_SERVER_ERROR;
	}
	return ZT_RS_CLIENT_ERROR;
}

static void am_set_close(struct zt_msg *m, uint16_t code, const char *text)
{
	m->response_code = code;
	m->flags |= ZT_MF_HAS_CODE;
	m->status = am_code_status(code);
	if (m->status != ZT_RS_OK)
		snprintf(m->response_exception, sizeof(m->response_exception), "%s", text);
}

/* ---- sync tracking ---------------------------------------------------- */

static void am_sync_add(struct am_state *s, unsigned dir, uint16_t chan, uint16_t cls, uint16_t mth)
{
	unsigned k = AM_SYNC;

	for (unsigned i = 0; i < AM_SYNC; i++)
		if (s->sync_on[dir][i] && s->sync_chan[dir][i] == chan)
			k = i;
	if (k == AM_SYNC)
		k = s->sync_next[dir]++ % AM_SYNC;
	s->sync_on[dir][k] = 1;
	s->sync_chan[dir][k] = chan;
	s->sync_cls[dir][k] = cls;
	s->sync_mth[dir][k] = mth;
}

/* Removes chan's entry if its method is cls.mth (cls 0: any); true if
 * there was one. */
static bool am_sync_del(struct am_state *s, unsigned dir, uint16_t chan, uint16_t cls, uint16_t mth)
{
	for (int i = 0; i < AM_SYNC; i++)
		if (s->sync_on[dir][i] && s->sync_chan[dir][i] == chan &&
		    (!cls || (s->sync_cls[dir][i] == cls && s->sync_mth[dir][i] == mth))) {
			s->sync_on[dir][i] = 0;
			return true;
		}
	return false;
}

/* ---- fields ----------------------------------------------------------- */

static void am_shortstr(struct lpf_rd *r, char *dst, size_t dstsz, bool *cut)
{
	uint8_t n = lpf_u8(r);
	uint32_t got;
	const uint8_t *p = lpf_bytes(r, n, &got);

	if (dst)
		zt_copy_str(dst, dstsz, (const char *)p, got);
	if (got < n && cut)
		*cut = true;
}

static uint64_t am_key(uint16_t chan, unsigned req_dir)
{
	return (uint64_t)chan | (uint64_t)(req_dir & 1) << 16;
}

static void am_emit_content(struct am_state *s, unsigned dir, bool early, zt_emit_fn emit, void *ctx)
{
	struct am_content *c = &s->ct[dir];

	if (!c->on)
		return;
	if (early)
		c->m.flags |= ZT_MF_TRUNCATED;
	c->on = false;
	emit(ctx, &c->m);
}

/* exchange/routing-key at r */
static void am_exrk(struct lpf_rd *r, struct zt_msg *m, bool *cut)
{
	char ex[256], rk[256];

	am_shortstr(r, ex, sizeof(ex), cut);
	am_shortstr(r, rk, sizeof(rk), cut);
	snprintf(m->request_resource, sizeof(m->request_resource), "%s/%s", ex, rk);
}

static bool am_method_frame(struct am_state *s, struct lpf_dir *d, const struct zt_seg *seg, uint16_t chan,
			    struct lpf_rd *r, bool partial, zt_emit_fn emit, void *ctx)
{
	unsigned dir = seg->dir & 1, odir = dir ^ 1;
	uint16_t cls = lpf_u16(r), mth = lpf_u16(r);
	const struct am_method *am;
	struct zt_msg *m = &s->m;
	bool cut = false;

	if (r->cut)
		return !partial ? false : true;
	am = am_lookup(cls, mth);
	if (!am)
		return true; /* a method of an extension: not ours to pair */
	/* a method ends a content of its channel; another content method
	 * needs the slot */
	if (s->ct[dir].on && (s->ct[dir].chan == chan || am->content))
		am_emit_content(s, dir, true, emit, ctx);

	zt_msg_reset(m);
	lpf_where(d, m);
	m->dir = seg->dir;
	m->bytes = d->total;
	m->pair = ZT_PAIR_KEY;
	snprintf(m->request_type, sizeof(m->request_type), "%s", am->name);
	snprintf(m->version, sizeof(m->version), "0-9-1");

	/* generic resource and nowait */
	bool nowait = false;
	if (am->res || am->nw_after) {
		struct lpf_rd a = *r;
		lpf_skip(&a, am->lead);
		unsigned last = am->res > am->nw_after ? am->res : am->nw_after;
		for (unsigned i = 1; i <= last; i++)
			am_shortstr(&a, i == am->res ? m->request_resource : NULL,
				    sizeof(m->request_resource), &cut);
		if (am->nw_after)
			nowait = (lpf_u8(&a) >> am->nw_bit) & 1;
		cut = cut || a.cut;
	}

	switch (am->kind) {
	case AM_REQ:
		if (cls == 10 && mth == 40) {
			/* Connection.Open: the vhost is every later span's domain */
			snprintf(s->vhost, sizeof(s->vhost), "%.255s", m->request_resource);
			m->request_resource[0] = '\0';
		}
		if (nowait) {
			m->kind = ZT_MSG_REQUEST;
			m->pair = ZT_PAIR_ONEWAY;
			break;
		}
		m->kind = ZT_MSG_REQUEST;
		m->key = am_key(chan, dir);
		am_sync_add(s, dir, chan, cls, mth);
		break;
	case AM_RESP:
		m->kind = ZT_MSG_RESPONSE;
		m->key = am_key(chan, odir);
		m->status = ZT_RS_OK;
		am_sync_del(s, odir, chan, 0, 0);
		if (cls == 10 && mth == 11) {
			/* Start-Ok: client-properties, mechanism, response (secret) */
			char mech[32];
			lpf_skip(r, lpf_u32(r));
			am_shortstr(r, mech, sizeof(mech), NULL);
			if (!r->cut)
				zt_attrs_add(&m->attrs, "amqp.mechanism", mech, strlen(mech));
			uint32_t rl = lpf_u32(r), got;
			const uint8_t *p = lpf_bytes(r, rl, &got);
			if (!strcmp(mech, "PLAIN") && got == rl && rl > 0 && p[0] == 0) {
				const uint8_t *e = memchr(p + 1, 0, rl - 1);
				if (e)
					zt_attrs_add(&m->attrs, "amqp.user", (const char *)p + 1,
						     (size_t)(e - p - 1));
			}
		} else if (cls == 10 && mth == 31) {
			/* Tune-Ok: channel-max, frame-max (what both sides use) */
			lpf_skip(r, 2);
			uint32_t fm = lpf_u32(r);
			if (!r->cut)
				s->frame_max = fm;
		} else if (cls == 50 && mth == 11) {
			char q[256], b[24];
			am_shortstr(r, q, sizeof(q), NULL);
			uint32_t mc = lpf_u32(r), cc = lpf_u32(r);
			if (!r->cut) {
				int n = snprintf(b, sizeof(b), "%u", mc);
				zt_attrs_add(&m->attrs, "amqp.message_count", b, (size_t)n);
				n = snprintf(b, sizeof(b), "%u", cc);
				zt_attrs_add(&m->attrs, "amqp.consumer_count", b, (size_t)n);
			}
		} else if (cls == 60 && mth == 71) {
			lpf_skip(r, 9); /* delivery-tag, redelivered */
			am_exrk(r, m, &cut);
		}
		break;
	case AM_ONEWAY:
		m->kind = ZT_MSG_REQUEST;
		m->pair = ZT_PAIR_ONEWAY;
		if (cls == 60 && mth == 40) {
			lpf_skip(r, 2);
			am_exrk(r, m, &cut);
		} else if (cls == 60 && mth == 60) {
			am_shortstr(r, NULL, 0, NULL); /* consumer tag */
			lpf_skip(r, 9);
			am_exrk(r, m, &cut);
		} else if (cls == 60 && mth == 50) {
			char text[ZT_ATTR_VAL_LEN], b[8];
			uint16_t code = lpf_u16(r);
			am_shortstr(r, text, sizeof(text), NULL);
			am_exrk(r, m, &cut);
			int n = snprintf(b, sizeof(b), "%u", code);
			zt_attrs_add(&m->attrs, "amqp.reply_code", b, (size_t)n);
			zt_attrs_add(&m->attrs, "amqp.reply_text", text, strlen(text));
		}
		break;
	case AM_CLOSE: {
		struct am_close *c = &s->cl[dir];
		uint16_t code = lpf_u16(r), fcls, fmth;
		am_shortstr(r, c->text, sizeof(c->text), &cut);
		fcls = lpf_u16(r);
		fmth = lpf_u16(r);
		c->on = true;
		c->chan = chan;
		c->code = code;
		c->answered = false;
		if (fcls && am_sync_del(s, odir, chan, fcls, fmth)) {
			/* the answer to the other side's outstanding request:
			 * the Close names the method that failed */
			c->answered = true;
			m->kind = ZT_MSG_RESPONSE;
			m->key = am_key(chan, odir);
			am_set_close(m, code, c->text);
			break;
		}
		m->kind = ZT_MSG_REQUEST;
		m->key = am_key(chan, dir);
		const struct am_method *f = am_lookup(fcls, fmth);
		if (f)
			snprintf(m->request_resource, sizeof(m->request_resource), "%s", f->name);
		break;
	}
	case AM_CLOSE_OK: {
		struct am_close *c = &s->cl[odir];
		m->kind = ZT_MSG_RESPONSE;
		m->key = am_key(chan, odir);
		m->status = ZT_RS_OK;
		if (c->on && c->chan == chan) {
			c->on = false;
			if (c->answered)
				return true; /* its Close was the answer already */
			am_set_close(m, c->code, c->text);
		}
		break;
	}
	}
	if (cut && partial)
		m->flags |= ZT_MF_TRUNCATED;
	snprintf(m->request_domain, sizeof(m->request_domain), "%s", s->vhost);
	if (am->content) {
		struct am_content *c = &s->ct[dir];
		zt_msg_copy(&c->m, m);
		c->on = true;
		c->hdr_seen = false;
		c->chan = chan;
		c->body_left = 0;
		return true;
	}
	emit(ctx, m);
	return true;
}

static bool am_frame(void *st, struct lpf_dir *d, const struct zt_seg *seg, zt_emit_fn emit, void *ctx)
{
	struct am_state *s = st;
	unsigned dir = seg->dir & 1;
	const uint8_t *b = d->buf;

	if (b[0] == 'A')
		return true; /* the protocol header */
	if (d->have == d->total && b[d->total - 1] != 0xCE)
		return false;
	uint16_t chan = (uint16_t)(b[1] << 8 | b[2]);
	uint32_t size = (uint32_t)(d->total - 8);
	uint32_t phave = d->have - 7 < size ? d->have - 7 : size;
	struct lpf_rd r = lpf_rd(b + 7, phave);
	struct am_content *c = &s->ct[dir];
	bool partial = phave < size;

	if (d->predicted) {
		/* a body frame whose header was in a gap (am_predict) */
		uint64_t n = d->total - 8;
		c->body_left -= n < c->body_left ? n : c->body_left;
		c->m.bytes += d->total;
		lpf_extend(d, &c->m);
		if (c->body_left == 0)
			am_emit_content(s, dir, false, emit, ctx);
		return true;
	}
	switch (b[0]) {
	case 1:
		return am_method_frame(s, d, seg, chan, &r, partial, emit, ctx);
	case 2:
		if (c->on && c->chan == chan && !c->hdr_seen) {
			lpf_skip(&r, 4); /* class, weight */
			c->body_left = lpf_u64(&r);
			c->hdr_seen = !r.cut;
			c->m.bytes += d->total;
			lpf_extend(d, &c->m);
			if (!c->hdr_seen)
				am_emit_content(s, dir, true, emit, ctx);
			else if (c->body_left == 0)
				am_emit_content(s, dir, false, emit, ctx);
		}
		return true;
	case 3:
		if (c->on && c->chan == chan && c->hdr_seen) {
			c->body_left -= size < c->body_left ? size : c->body_left;
			c->m.bytes += d->total;
			lpf_extend(d, &c->m);
			if (c->body_left == 0)
				am_emit_content(s, dir, false, emit, ctx);
		}
		return true;
	default:
		return true; /* heartbeat */
	}
}

/* A frame header fell in a gap while a content is being received in this
 * direction: its body frames are cut at frame_max, so the next one is
 * min(body left, frame_max - 8) bytes of payload. Only with a negotiated
 * frame_max (Tune-Ok seen) and when the captured part of the header, if any,
 * agrees (a body frame of the content's channel). */
static uint64_t am_predict(void *st, const struct lpf_dir *d)
{
	struct am_state *s = st;
	unsigned dir = (unsigned)(d - s->d) & 1;
	struct am_content *c = &s->ct[dir];

	if (!c->on || !c->hdr_seen || c->body_left == 0 || s->frame_max <= 8)
		return 0;
	if (d->have >= 1 && d->buf[0] != 3)
		return 0;
	if (d->have >= 3 && (uint16_t)(d->buf[1] << 8 | d->buf[2]) != c->chan)
		return 0;
	uint64_t n = c->body_left < s->frame_max - 8u ? c->body_left : s->frame_max - 8u;
	return 8 + n;
}

/* ---- inference -------------------------------------------------------- */

/* The first frame at buf: 0 no, 1 a well-formed frame, 2 a method frame of a
 * known method. Its end octet must be captured. */
static int am_first_frame(const uint8_t *buf, size_t len, const struct am_method **am)
{
	int64_t l = am_len(buf, len > LPF_HDR_MAX ? LPF_HDR_MAX : (uint32_t)len);

	*am = NULL;
	if (l <= 8 || buf[0] == 'A' || (uint64_t)l > len)
		return l == 8 && buf[0] == 8 && len >= 8 && buf[7] == 0xCE ? 1 : 0;
	if (buf[l - 1] != 0xCE)
		return 0;
	if (buf[0] == 1 && l >= 12) {
		*am = am_lookup((uint16_t)(buf[7] << 8 | buf[8]), (uint16_t)(buf[9] << 8 | buf[10]));
		return *am ? 2 : 0;
	}
	return 1;
}

static int am_infer(const uint8_t *buf, size_t len, const struct zt_infer_hints *h)
{
	bool port = h && (h->lport == 5672 || h->rport == 5672);
	const struct am_method *am;

	if (h && h->l4 && h->l4 != 6 /* IPPROTO_TCP */)
		return 0;
	if (len >= 8 && !memcmp(buf, am_header, 8))
		return 95;
	switch (am_first_frame(buf, len, &am)) {
	case 2:
		return 80;
	case 1:
		return port ? 50 : 30;
	}
	return 0;
}

static bool am_resync(const uint8_t *buf, uint32_t caplen)
{
	const struct am_method *am;

	return (caplen >= 8 && !memcmp(buf, am_header, 8)) || am_first_frame(buf, caplen, &am) > 0;
}

static int am_first_kind(const uint8_t *buf, size_t len)
{
	const struct am_method *am;

	if (len >= 8 && !memcmp(buf, am_header, 8))
		return ZT_MSG_REQUEST;
	if (am_first_frame(buf, len, &am) == 2) {
		if (am->from_server)
			return ZT_MSG_RESPONSE;
		if (am->kind != AM_CLOSE && am->kind != AM_CLOSE_OK && am->kind != AM_ONEWAY)
			return ZT_MSG_REQUEST;
		if (am->cls == 60 && am->mth == 40)
			return ZT_MSG_REQUEST; /* Publish */
	}
	return 0;
}

/* ---- ops -------------------------------------------------------------- */

static const struct lpf_ops am_lpf = {
    .len = am_len, .frame = am_frame, .resync = am_resync, .predict = am_predict};

static void am_init(void *st)
{
	struct am_state *s = st;

	lpf_reset(&s->d[0]);
	lpf_reset(&s->d[1]);
}

static void am_feed(void *st, const struct zt_seg *seg, zt_emit_fn emit, void *ctx)
{
	struct am_state *s = st;

	lpf_feed(&s->d[seg->dir & 1], &am_lpf, s, seg, emit, ctx);
}

static void am_finish(void *st, uint64_t now_ns, zt_emit_fn emit, void *ctx)
{
	struct am_state *s = st;

	/* a content cut by the close: its method was seen, say so */
	am_emit_content(s, 0, true, emit, ctx);
	am_emit_content(s, 1, true, emit, ctx);
}

/* Blanks a longstr at p[0..n) from offset `from` of its bytes. */
static size_t am_blank(uint8_t *p, size_t n, size_t off, uint32_t slen, size_t from)
{
	size_t s = off + from, e = off + (size_t)slen;

	if (e > n)
		e = n;
	if (s >= e)
		return 0;
	memset(p + s, '*', e - s);
	return e - s;
}

/* Blanks the SASL responses and secrets of Connection.Start-Ok, Secure-Ok
 * and Update-Secret method frames found in buf (a raw captured payload, any
 * protocol): length-preserving. PLAIN keeps "\0user\0". */
static size_t am_redact(uint8_t *buf, size_t len)
{
	size_t done = 0;

	if (!buf)
		return 0;
	for (size_t i = 0; i + 11 <= len; i++) {
		if (buf[i] != 1 || buf[i + 7] != 0 || buf[i + 8] != 10 || buf[i + 9] != 0)
			continue;
		uint8_t mth = buf[i + 10];
		if (mth != 11 && mth != 21 && mth != 70)
			continue;
		uint32_t size = (uint32_t)buf[i + 3] << 24 | (uint32_t)buf[i + 4] << 16 |
				(uint32_t)buf[i + 5] << 8 | buf[i + 6];
		if (size > AM_SIZE_MAX || size < 4)
			continue;
		uint8_t *p = buf + i + 11;
		size_t n = len - i - 11;
		if (n > size - 4)
			n = size - 4;
		struct lpf_rd r = lpf_rd(p, (uint32_t)(n > UINT32_MAX ? UINT32_MAX : n));
		char mech[32] = "";
		if (mth == 11) {
			lpf_skip(&r, lpf_u32(&r));
			am_shortstr(&r, mech, sizeof(mech), NULL);
		}
		uint32_t slen = lpf_u32(&r);
		if (r.cut)
			continue;
		size_t off = r.i, from = 0;
		if (!strcmp(mech, "PLAIN")) {
			/* "authzid\0user\0password": keep up to the last NUL seen */
			for (size_t k = 0; k < slen && off + k < n; k++)
				if (p[off + k] == 0)
					from = k + 1;
			if (from == 0)
				from = 0;
		}
		done += am_blank(p, n, off, slen, from);
		/* go on after it: a pattern inside it is not a frame, and no
		 * byte is counted twice */
		i += 11 + off + (slen < n - off ? slen : n - off) - 1;
	}
	return done;
}

const struct zt_proto_ops zt_amqp_ops = {
    .id = ZT_L7_AMQP,
    .name = "AMQP",
    .infer = am_infer,
    .state_size = sizeof(struct am_state),
    .init = am_init,
    .feed = am_feed,
    .finish = am_finish,
    .first_kind = am_first_kind,
    .redact_payload = am_redact,
};
