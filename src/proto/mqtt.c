/* SPDX-License-Identifier: MIT */
/*
 * mqtt.c - MQTT 3.1, 3.1.1 and 5.0 over TCP.
 *
 * Framing: a fixed header (type << 4 | flags) and a remaining length varint
 * of at most 4 bytes (lpframe.h keeps each packet's first LPF_BUF bytes;
 * payloads beyond are only counted, so they may fall in a capture gap).
 *
 * What becomes a span (every pairing is ZT_PAIR_KEY so that FIFO-paired
 * responses never take a keyed request: the session's FIFO takes the oldest
 * request of ANY key). A key is (class << 32 | request direction << 16 |
 * packet id): client and broker number their packets independently, so the
 * direction of the request is part of it.
 *   CONNECT -> CONNACK          class CONN; non-zero return/reason code is
 *                               an error named by the code
 *   PUBLISH QoS 0               ONEWAY, resource = topic
 *   PUBLISH QoS 1 -> PUBACK     class PUB, by packet id
 *   PUBLISH QoS 2 -> PUBCOMP    ONE span covers the whole exactly-once
 *                               handshake (PUBLISH, PUBREC, PUBREL, PUBCOMP):
 *                               PUBREC and PUBREL are consumed silently,
 *                               unless PUBREC carries a failure (>= 0x80,
 *                               MQTT 5), which then ends the span
 *   SUBSCRIBE -> SUBACK         resource = first topic filter; a 0x80+ code
 *                               in SUBACK is an error
 *   UNSUBSCRIBE -> UNSUBACK
 *   PINGREQ -> PINGRESP         class PING, key 0: FIFO among pings
 *   DISCONNECT, AUTH            ONEWAY
 * PUBLISH travels both ways: the broker delivers a subscription's messages
 * to the subscriber as PUBLISH. Those are requests in the broker->client
 * direction, paired by the subscriber's PUBACK/PUBCOMP like any other;
 * once the CONNECT was seen they carry the attribute mqtt.from=broker.
 *
 * The password (and MQTT 5 authentication data) is never copied into a
 * message; mqtt_redact() blanks them in raw payloads (length-preserving).
 */
#include "proto/lpframe.h"
#include "proto/proto.h"
#include "bpf/events.h"

#include <stdio.h>
#include <string.h>

enum mq_type {
	MQ_CONNECT = 1,
	MQ_CONNACK,
	MQ_PUBLISH,
	MQ_PUBACK,
	MQ_PUBREC,
	MQ_PUBREL,
	MQ_PUBCOMP,
	MQ_SUBSCRIBE,
	MQ_SUBACK,
	MQ_UNSUBSCRIBE,
	MQ_UNSUBACK,
	MQ_PINGREQ,
	MQ_PINGRESP,
	MQ_DISCONNECT,
	MQ_AUTH,
};

static const char *const mq_names[16] = {
    NULL,	 "CONNECT", "CONNACK",	   "PUBLISH",  "PUBACK",  "PUBREC",   "PUBREL",	    "PUBCOMP",
    "SUBSCRIBE", "SUBACK",  "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH",
};

/* pairing classes (the key's top half) */
enum { MQ_K_CONN = 1, MQ_K_PUB = 2, MQ_K_SUB = 3, MQ_K_UNSUB = 4, MQ_K_PING = 5 };

#define MQ_RL_MAX 268435455u /* 4 varint bytes */

#define MQ_ALIASES 16
#define MQ_ALIAS_LEN 128

struct mq_state {
	struct lpf_dir d[2];
	uint8_t level;	    /* protocol level from CONNECT: 3, 4, 5; 0 unknown */
	uint8_t client_dir; /* direction CONNECT travelled + 1; 0 unknown */
	bool fed[2];	    /* a segment of this direction was fed */
	/* MQTT 5 topic aliases per direction (each sender numbers its own):
	 * alias 1..MQ_ALIASES -> topic, cut to MQ_ALIAS_LEN - 1 bytes */
	char alias[2][MQ_ALIASES][MQ_ALIAS_LEN];
	/* the message being built: in the state, not on the stack, so that its
	 * padding stays zeroed (equal messages are equal bytes) */
	struct zt_msg m;
};

/* ---- framing ---------------------------------------------------------- */

/* Fixed-header flags the spec requires (PUBLISH: any but QoS 3). */
static bool mq_flags_ok(unsigned type, unsigned flags)
{
	switch (type) {
	case MQ_PUBLISH:
		return ((flags >> 1) & 3) != 3;
	case MQ_PUBREL:
	case MQ_SUBSCRIBE:
	case MQ_UNSUBSCRIBE:
		return flags == 2;
	default:
		return type != 0 && flags == 0;
	}
}

/* Remaining length at buf[1..]: 0 need more, -1 invalid, else the varint's
 * byte count, with the value in *rl. */
static int mq_varint(const uint8_t *buf, uint32_t have, uint32_t *rl)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		if (1u + (uint32_t)i >= have)
			return 0;
		uint8_t b = buf[1 + i];
		v |= (uint32_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*rl = v;
			return i + 1;
		}
	}
	return -1;
}

static int64_t mq_len(const uint8_t *buf, uint32_t have)
{
	uint32_t rl;
	int n;

	if (have < 1)
		return 0;
	if (!mq_flags_ok(buf[0] >> 4, buf[0] & 15))
		return -1;
	n = mq_varint(buf, have, &rl);
	if (n <= 0)
		return n;
	return 1 + n + (int64_t)rl;
}

/* ---- fields ----------------------------------------------------------- */

static void mq_str(struct lpf_rd *r, char *dst, size_t dstsz, bool *cut)
{
	uint16_t n = lpf_u16(r);
	uint32_t got;
	const uint8_t *p = lpf_bytes(r, n, &got);

	if (dst)
		zt_copy_str(dst, dstsz, (const char *)p, got);
	if (got < n && cut)
		*cut = true;
}

static uint32_t mq_rd_varint(struct lpf_rd *r)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		uint8_t b = lpf_u8(r);
		v |= (uint32_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80))
			return v;
	}
	r->cut = true; /* a fifth byte: malformed */
	return v;
}

/* MQTT 5 properties of interest. */
struct mq_props {
	char reason[ZT_EXC_LEN];
	uint16_t topic_alias;
};

/* Reads a property block (length varint + properties) within the packet's
 * body end `end` (offset in r). Unknown ids end the walk. */
static void mq_props(struct lpf_rd *r, uint32_t end, struct mq_props *pr)
{
	uint32_t len = mq_rd_varint(r), stop;

	if (r->cut)
		return;
	stop = len > end - (r->i < end ? r->i : end) ? end : r->i + len;
	while (r->i < stop && r->i < r->n) {
		uint8_t id = lpf_u8(r);
		switch (id) {
		case 0x01:
		case 0x17:
		case 0x19:
		case 0x24:
		case 0x25:
		case 0x28:
		case 0x29:
		case 0x2a:
			lpf_skip(r, 1);
			break;
		case 0x13:
		case 0x21:
		case 0x22:
			lpf_skip(r, 2);
			break;
		case 0x23:
			pr->topic_alias = lpf_u16(r);
			break;
		case 0x02:
		case 0x11:
		case 0x18:
		case 0x27:
			lpf_skip(r, 4);
			break;
		case 0x0b:
			mq_rd_varint(r);
			break;
		case 0x1f:
			mq_str(r, pr->reason, sizeof(pr->reason), NULL);
			break;
		case 0x03:
		case 0x08:
		case 0x09:
		case 0x12:
		case 0x15:
		case 0x16:
		case 0x1a:
		case 0x1c:
			mq_str(r, NULL, 0, NULL);
			break;
		case 0x26:
			mq_str(r, NULL, 0, NULL);
			mq_str(r, NULL, 0, NULL);
			break;
		default:
			r->i = stop;
			return;
		}
	}
	if (r->i < stop)
		lpf_skip(r, stop - r->i);
}

/* ---- reason codes ----------------------------------------------------- */

static const char *mq_v3_connack(uint8_t c)
{
	static const char *const n[] = {"Connection Accepted",	     "Unacceptable Protocol Version",
					"Identifier Rejected",	     "Server Unavailable",
					"Bad User Name or Password", "Not Authorized"};
	return c < 6 ? n[c] : "Unknown";
}

/* MQTT 5 reason code names (spec 2.4). */
/* clang-format off */
static const char *const mq_v5_names[256] = {
    [0x00] = "Success", [0x01] = "Granted QoS 1",
    [0x02] = "Granted QoS 2", [0x04] = "Disconnect with Will Message",
    [0x10] = "No matching subscribers", [0x11] = "No subscription existed",
    [0x18] = "Continue authentication", [0x19] = "Re-authenticate",
    [0x80] = "Unspecified error", [0x81] = "Malformed Packet",
    [0x82] = "Protocol Error", [0x83] = "Implementation specific error",
    [0x84] = "Unsupported Protocol Version", [0x85] = "Client Identifier not valid",
    [0x86] = "Bad User Name or Password", [0x87] = "Not authorized",
    [0x88] = "Server unavailable", [0x89] = "Server busy",
    [0x8a] = "Banned", [0x8b] = "Server shutting down",
    [0x8c] = "Bad authentication method", [0x8d] = "Keep Alive timeout",
    [0x8e] = "Session taken over", [0x8f] = "Topic Filter invalid",
    [0x90] = "Topic Name invalid", [0x91] = "Packet Identifier in use",
    [0x92] = "Packet Identifier not found", [0x93] = "Receive Maximum exceeded",
    [0x94] = "Topic Alias invalid", [0x95] = "Packet too large",
    [0x96] = "Message rate too high", [0x97] = "Quota exceeded",
    [0x98] = "Administrative action", [0x99] = "Payload format invalid",
    [0x9a] = "Retain not supported", [0x9b] = "QoS not supported",
    [0x9c] = "Use another server", [0x9d] = "Server moved",
    [0x9e] = "Shared Subscriptions not supported", [0x9f] = "Connection rate exceeded",
    [0xa0] = "Maximum connect time", [0xa1] = "Subscription Identifiers not supported",
    [0xa2] = "Wildcard Subscriptions not supported",
};
/* clang-format on */

static const char *mq_v5_reason(uint8_t c)
{
	return mq_v5_names[c] ? mq_v5_names[c] : "Unknown";
}

/* The broker's fault, not the client's request's. */
static bool mq_v5_server_fault(uint8_t c)
{
	return c == 0x80 || c == 0x83 || c == 0x88 || c == 0x89 || c == 0x8b || c == 0x9c || c == 0x9d;
}

/* Sets the status, code and exception of a response from a reason code. */
static void mq_set_code(struct zt_msg *m, uint8_t code, bool v3_connack, const char *reason_str)
{
	m->response_code = code;
	m->flags |= ZT_MF_HAS_CODE;
	if (v3_connack ? code == 0 : code < 0x80) {
		m->status = ZT_RS_OK;
		return;
	}
	if (v3_connack)
		m->status = code == 3 ? ZT_RS_SERVER_ERROR : ZT_RS_CLIENT_ERROR;
	else
		m->status = mq_v5_server_fault(code) ? ZT_RS_SERVER_ERROR : ZT_RS_CLIENT_ERROR;
	if (reason_str && reason_str[0])
		snprintf(m->response_exception, sizeof(m->response_exception), "%s", reason_str);
	else
		snprintf(m->response_exception, sizeof(m->response_exception), "%s",
			 v3_connack ? mq_v3_connack(code) : mq_v5_reason(code));
}

static uint64_t mq_key(unsigned cls, unsigned req_dir, uint16_t pid)
{
	return (uint64_t)cls << 32 | (uint64_t)(req_dir & 1) << 16 | pid;
}

static void mq_version(const struct mq_state *s, struct zt_msg *m)
{
	const char *v = s->level == 5 ? "5.0" : s->level == 4 ? "3.1.1" : s->level == 3 ? "3.1" : "";
	snprintf(m->version, sizeof(m->version), "%s", v);
}

/* ---- CONNECT ---------------------------------------------------------- */

/* Where a CONNECT's fields lie in its body (offsets from the body start;
 * len is the declared length, captured or not). */
struct mq_span {
	uint32_t off, len;
	bool present;
};
struct mq_connect {
	uint8_t level, flags;
	uint16_t keep_alive;
	struct mq_span client_id, will_topic, username, password, auth_data;
	uint32_t end; /* offset just past the last field: the body length */
	bool cut;     /* the body ended before the fields did */
};

static struct mq_span mq_take(struct lpf_rd *r)
{
	struct mq_span s = {.present = true};
	uint32_t got;

	s.len = lpf_u16(r);
	s.off = r->i;
	lpf_bytes(r, s.len, &got);
	return s;
}

/* Parses a CONNECT body (after the fixed header): 0 ok, -1 not a CONNECT
 * variable header. Fields cut by the end of p set c->cut. */
static int mq_connect_parse(const uint8_t *p, uint32_t n, struct mq_connect *c)
{
	struct lpf_rd r = lpf_rd(p, n);
	uint16_t nl = lpf_u16(&r);
	uint32_t got;
	const uint8_t *name = lpf_bytes(&r, nl, &got);

	memset(c, 0, sizeof(*c));
	if (r.cut)
		return -1;
	if (!((nl == 4 && !memcmp(name, "MQTT", 4)) || (nl == 6 && !memcmp(name, "MQIsdp", 6))))
		return -1;
	c->level = lpf_u8(&r);
	c->flags = lpf_u8(&r);
	c->keep_alive = lpf_u16(&r);
	if (r.cut)
		return -1;
	if (c->level == 5) {
		/* properties: Authentication Data (0x16) may be a secret */
		uint32_t plen = mq_rd_varint(&r), stop = r.i + (plen < n - r.i ? plen : n - r.i);
		while (!r.cut && r.i < stop) {
			uint8_t id = lpf_u8(&r);
			if (id == 0x16) {
				c->auth_data = mq_take(&r);
			} else if (id == 0x11 || id == 0x27) {
				lpf_skip(&r, 4);
			} else if (id == 0x21 || id == 0x22) {
				lpf_skip(&r, 2);
			} else if (id == 0x17 || id == 0x19) {
				lpf_skip(&r, 1);
			} else if (id == 0x15) {
				mq_take(&r);
			} else if (id == 0x26) {
				mq_take(&r);
				mq_take(&r);
			} else {
				r.i = stop;
			}
		}
		if (r.i < stop)
			lpf_skip(&r, stop - r.i);
	}
	c->client_id = mq_take(&r);
	if (c->flags & 0x04) {
		if (c->level == 5) {
			uint32_t wl = mq_rd_varint(&r);
			lpf_skip(&r, wl);
		}
		c->will_topic = mq_take(&r);
		mq_take(&r); /* will payload */
	}
	if (c->flags & 0x80)
		c->username = mq_take(&r);
	if (c->flags & 0x40)
		c->password = mq_take(&r);
	c->cut = r.cut;
	c->end = r.i;
	return 0;
}

/* ---- messages --------------------------------------------------------- */

static void mq_attr(struct zt_msg *m, const char *key, const uint8_t *body, uint32_t have, struct mq_span s)
{
	if (!s.present || s.off > have)
		return;
	uint32_t n = s.len < have - s.off ? s.len : have - s.off;
	zt_attrs_add(&m->attrs, key, (const char *)body + s.off, n);
}

static bool mq_frame(void *st, struct lpf_dir *d, const struct zt_seg *seg, zt_emit_fn emit, void *ctx)
{
	struct mq_state *s = st;
	struct zt_msg *m = &s->m;
	uint8_t type = d->buf[0] >> 4, flags = d->buf[0] & 15;
	uint32_t rl = 0, hl;
	unsigned dir = seg->dir & 1, req_dir = dir ^ 1;
	bool cut = false;

	hl = 1 + (uint32_t)mq_varint(d->buf, d->have, &rl);
	const uint8_t *body = d->buf + hl;
	uint32_t bhave = d->have - hl; /* have >= hl: the header was complete */
	struct lpf_rd r = lpf_rd(body, bhave);
	bool partial = d->have < d->total; /* the body was not all kept */
	struct mq_props pr;

	memset(&pr, 0, sizeof(pr));
	zt_msg_reset(m);
	lpf_where(d, m);
	m->dir = seg->dir;
	m->bytes = d->total;
	m->pair = ZT_PAIR_KEY;
	m->kind = ZT_MSG_RESPONSE;
	snprintf(m->request_type, sizeof(m->request_type), "%s", mq_names[type]);

	switch (type) {
	case MQ_CONNECT: {
		struct mq_connect c;
		if (mq_connect_parse(body, bhave, &c) < 0)
			return !partial ? false : true;
		s->level = c.level;
		s->client_dir = (uint8_t)(dir + 1);
		m->kind = ZT_MSG_REQUEST;
		m->key = mq_key(MQ_K_CONN, dir, 0);
		mq_attr(m, "mqtt.client_id", body, bhave, c.client_id);
		if (c.client_id.present && c.client_id.off <= bhave) {
			uint32_t n = c.client_id.len < bhave - c.client_id.off ? c.client_id.len
									       : bhave - c.client_id.off;
			zt_copy_str(m->request_resource, sizeof(m->request_resource),
				    (const char *)body + c.client_id.off, n);
		}
		mq_attr(m, "mqtt.username", body, bhave, c.username);
		mq_attr(m, "mqtt.will_topic", body, bhave, c.will_topic);
		/* the password is in the kept head but never leaves it */
		cut = c.cut &&
		      (c.client_id.off + c.client_id.len > bhave || c.username.off + c.username.len > bhave);
		break;
	}
	case MQ_CONNACK: {
		lpf_u8(&r); /* session present */
		uint8_t code = lpf_u8(&r);
		if (s->level == 5)
			mq_props(&r, bhave, &pr);
		m->key = mq_key(MQ_K_CONN, req_dir, 0);
		cut = r.cut && partial;
		if (rl < 2)
			return false;
		mq_set_code(m, code, s->level != 5, pr.reason);
		break;
	}
	case MQ_PUBLISH: {
		unsigned qos = (flags >> 1) & 3;
		uint16_t pid = 0;
		mq_str(&r, m->request_resource, sizeof(m->request_resource), &cut);
		if (qos)
			pid = lpf_u16(&r);
		cut = cut || r.cut; /* topic or packet id not captured (or malformed) */
		if (s->level == 5)
			mq_props(&r, rl < bhave ? rl : bhave, &pr);
		m->kind = ZT_MSG_REQUEST;
		if (qos == 0) {
			m->pair = ZT_PAIR_ONEWAY;
		} else {
			m->key = mq_key(MQ_K_PUB, dir, pid);
		}
		char q[2] = {(char)('0' + qos), 0};
		zt_attrs_add(&m->attrs, "mqtt.qos", q, 1);
		if (pr.topic_alias >= 1 && pr.topic_alias <= MQ_ALIASES) {
			/* a topic with an alias sets it; an empty topic uses it */
			char *slot = s->alias[dir][pr.topic_alias - 1];
			if (m->request_resource[0])
				snprintf(slot, MQ_ALIAS_LEN, "%.127s", m->request_resource);
			else
				snprintf(m->request_resource, sizeof(m->request_resource), "%s", slot);
		}
		if (!m->request_resource[0] && pr.topic_alias) {
			char a[8];
			int n = snprintf(a, sizeof(a), "%u", pr.topic_alias);
			zt_attrs_add(&m->attrs, "mqtt.topic_alias", a, (size_t)n);
		}
		if (s->client_dir && dir + 1 != s->client_dir)
			zt_attrs_add(&m->attrs, "mqtt.from", "broker", 6);
		break;
	}
	case MQ_PUBACK:
	case MQ_PUBREC:
	case MQ_PUBREL:
	case MQ_PUBCOMP: {
		uint16_t pid = lpf_u16(&r);
		if (r.cut)
			return true; /* rl < 2: nothing to pair (a gap cannot cut it: 4 bytes) */
		bool has_code = rl >= 3;
		uint8_t code = has_code ? lpf_u8(&r) : 0;
		if (rl >= 4)
			mq_props(&r, bhave, &pr);
		if (type == MQ_PUBREL)
			return true; /* inside the QoS 2 span */
		if (type == MQ_PUBREC && code < 0x80)
			return true; /* the span ends at PUBCOMP */
		m->key = mq_key(MQ_K_PUB, req_dir, pid);
		if (has_code)
			mq_set_code(m, code, false, pr.reason);
		else
			m->status = ZT_RS_OK;
		break;
	}
	case MQ_SUBSCRIBE:
	case MQ_UNSUBSCRIBE: {
		uint16_t pid = lpf_u16(&r);
		if (s->level == 5)
			mq_props(&r, bhave, &pr);
		mq_str(&r, m->request_resource, sizeof(m->request_resource), &cut);
		cut = cut || r.cut;
		/* count the topic filters that were captured */
		unsigned nf = r.cut ? 0 : 1;
		if (type == MQ_SUBSCRIBE)
			lpf_u8(&r);
		while (!r.cut && r.i < bhave) {
			mq_str(&r, NULL, 0, NULL);
			if (type == MQ_SUBSCRIBE)
				lpf_u8(&r);
			if (!r.cut)
				nf++;
		}
		if (nf > 1) {
			char b[12];
			int n = snprintf(b, sizeof(b), "%u", nf);
			zt_attrs_add(&m->attrs, "mqtt.filters", b, (size_t)n);
		}
		m->kind = ZT_MSG_REQUEST;
		m->key = mq_key(type == MQ_SUBSCRIBE ? MQ_K_SUB : MQ_K_UNSUB, dir, pid);
		break;
	}
	case MQ_SUBACK:
	case MQ_UNSUBACK: {
		uint16_t pid = lpf_u16(&r);
		if (r.cut)
			return true;
		if (s->level == 5)
			mq_props(&r, bhave, &pr);
		m->key = mq_key(type == MQ_SUBACK ? MQ_K_SUB : MQ_K_UNSUB, req_dir, pid);
		m->status = ZT_RS_OK;
		/* codes: the first failure, else the first code */
		int first = -1, bad = -1;
		while (r.i < bhave && r.i < rl) {
			uint8_t c = lpf_u8(&r);
			if (first < 0)
				first = c;
			if (c >= 0x80 && bad < 0)
				bad = c;
		}
		if (bad >= 0) {
			mq_set_code(m, (uint8_t)bad, false,
				    s->level == 5 ? pr.reason
				    : bad == 0x80 ? "Failure"
						  : NULL);
			if (bad == 0x80)
				m->status = ZT_RS_CLIENT_ERROR; /* a refused filter: ACLs, mostly */
		} else if (first >= 0)
			mq_set_code(m, (uint8_t)first, false, NULL);
		break;
	}
	case MQ_PINGREQ:
		m->kind = ZT_MSG_REQUEST;
		m->key = mq_key(MQ_K_PING, dir, 0);
		break;
	case MQ_PINGRESP:
		m->key = mq_key(MQ_K_PING, req_dir, 0);
		m->status = ZT_RS_OK;
		break;
	case MQ_DISCONNECT:
	case MQ_AUTH: {
		m->kind = ZT_MSG_REQUEST;
		m->pair = ZT_PAIR_ONEWAY;
		if (rl >= 1) {
			uint8_t code = lpf_u8(&r);
			if (rl >= 2)
				mq_props(&r, bhave, &pr);
			if (!r.cut && code) {
				const char *why = pr.reason[0] ? pr.reason : mq_v5_reason(code);
				zt_attrs_add(&m->attrs, "mqtt.reason", why, strlen(why));
			}
		}
		break;
	}
	default:
		return false;
	}
	if (cut)
		m->flags |= ZT_MF_TRUNCATED;
	mq_version(s, m);
	emit(ctx, m);
	return true;
}

/* ---- inference -------------------------------------------------------- */

/* A CONNECT's variable header at buf[0], without its fixed header:
 * "\0\4MQTT" level 4 or 5, or "\0\6MQIsdp" level 3, connect flags with
 * the reserved bit clear. */
static bool mq_is_connect_body(const uint8_t *p, size_t k)
{
	if (k >= 8 && !memcmp(p, "\0\4MQTT", 6) && (p[6] == 4 || p[6] == 5))
		return !(p[7] & 1);
	if (k >= 10 && !memcmp(p, "\0\6MQIsdp", 8) && p[8] == 3)
		return !(p[9] & 1);
	return false;
}

/* A CONNECT's variable header at buf[0] (fixed header included). */
static bool mq_is_connect(const uint8_t *buf, size_t len)
{
	uint32_t rl;
	int n;

	if (len < 2 || buf[0] != 0x10)
		return false;
	n = mq_varint(buf, len > 5 ? 5 : (uint32_t)len, &rl);
	if (n <= 0 || rl < 10)
		return false;
	return mq_is_connect_body(buf + 1 + n, len - 1 - (size_t)n);
}

static bool mq_printable(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] == 0x7f)
			return false;
	return true;
}

/* Mid-connection: a sequence of well-formed packets filling buf exactly.
 * Returns 0 (no), 1 (plausible), 2 (a PUBLISH/SUBSCRIBE with a readable
 * topic among them). */
static int mq_walk(const uint8_t *buf, size_t len)
{
	size_t i = 0;
	int strong = 0;

	if (len == 0)
		return 0;
	while (i < len) {
		uint32_t have = len - i > LPF_HDR_MAX ? LPF_HDR_MAX : (uint32_t)(len - i), rl = 0;
		int64_t l = mq_len(buf + i, have);
		if (l <= 0 || (uint64_t)l > len - i)
			return 0;
		unsigned type = buf[i] >> 4, qos = (buf[i] >> 1) & 3;
		int vn = mq_varint(buf + i, have, &rl);
		const uint8_t *b = buf + i + 1 + vn;
		switch (type) {
		case MQ_CONNACK:
			if (rl < 2 || b[0] > 1)
				return 0;
			break;
		case MQ_PUBLISH: {
			if (rl < 2u + (qos ? 2u : 0u))
				return 0;
			uint16_t tl = (uint16_t)(b[0] << 8 | b[1]);
			if (tl + 2u + (qos ? 2u : 0u) > rl || !mq_printable(b + 2, tl))
				return 0;
			if (tl >= 2)
				strong = 2;
			break;
		}
		case MQ_PUBACK:
		case MQ_PUBREC:
		case MQ_PUBREL:
		case MQ_PUBCOMP:
		case MQ_UNSUBACK:
			if (rl < 2)
				return 0;
			break;
		case MQ_SUBACK:
			if (rl < 3)
				return 0;
			break;
		case MQ_SUBSCRIBE:
		case MQ_UNSUBSCRIBE: {
			if (rl < 5)
				return 0;
			uint16_t tl = (uint16_t)(b[2] << 8 | b[3]);
			if (tl + 4u > rl || !mq_printable(b + 4, tl))
				return 0;
			if (tl >= 2)
				strong = 2;
			break;
		}
		case MQ_PINGREQ:
		case MQ_PINGRESP:
			if (rl != 0)
				return 0;
			break;
		case MQ_CONNECT:
			return 0; /* handled by mq_is_connect */
		default:
			break;
		}
		i += (size_t)l;
	}
	return strong ? strong : 1;
}

static bool mq_port(uint16_t p)
{
	return p == 1883 || p == 8883;
}

static int mq_infer(const uint8_t *buf, size_t len, const struct zt_infer_hints *h)
{
	bool port = h && (mq_port(h->lport) || mq_port(h->rport));
	int w;

	if (h && h->l4 && h->l4 != 6 /* IPPROTO_TCP */)
		return 0;
	if (mq_is_connect(buf, len))
		return 95;
	if (mq_is_connect_body(buf, len))
		return 90; /* a broker reading the fixed header on its own first */
	w = mq_walk(buf, len);
	if (!w)
		return 0;
	return (w == 2 ? 55 : 30) + (port ? 20 : 0);
}

static bool mq_resync(const uint8_t *buf, uint32_t caplen)
{
	return mq_is_connect(buf, caplen) || mq_walk(buf, caplen) > 0;
}

static int mq_first_kind(const uint8_t *buf, size_t len)
{
	if (len < 1)
		return 0;
	if (mq_is_connect_body(buf, len))
		return ZT_MSG_REQUEST;
	switch (buf[0] >> 4) {
	case MQ_CONNECT:
	case MQ_SUBSCRIBE:
	case MQ_UNSUBSCRIBE:
	case MQ_PINGREQ:
		return ZT_MSG_REQUEST;
	case MQ_CONNACK:
	case MQ_SUBACK:
	case MQ_UNSUBACK:
	case MQ_PINGRESP:
		return ZT_MSG_RESPONSE;
	}
	return 0; /* PUBLISH and its acks travel both ways */
}

/* ---- ops -------------------------------------------------------------- */

static const struct lpf_ops mq_lpf = {.len = mq_len, .frame = mq_frame, .resync = mq_resync};

static void mq_init(void *st)
{
	struct mq_state *s = st;

	lpf_reset(&s->d[0]);
	lpf_reset(&s->d[1]);
}

/* The first segment of a direction is a CONNECT body: the fixed header was
 * read by a syscall of its own (mosquitto reads it byte by byte) before the
 * protocol was known, so the session never fed it. A CONNECT's body length
 * follows from its fields: the header is rebuilt in front of the captured
 * bytes, at the sequence numbers it had. */
static bool mq_feed_headless(struct mq_state *s, const struct zt_seg *seg, zt_emit_fn emit, void *ctx)
{
	uint8_t tmp[5 + LPF_BUF];
	uint32_t cap = seg->caplen < seg->len ? seg->caplen : (uint32_t)seg->len;
	struct mq_connect c;
	uint32_t rl, hl = 1;

	if (cap > LPF_BUF)
		cap = LPF_BUF;
	if (mq_connect_parse(seg->data, cap, &c) < 0 || c.cut)
		return false;
	rl = c.end;
	if (rl > seg->len)
		return false;
	tmp[0] = 0x10;
	for (uint32_t v = rl;; v >>= 7) {
		tmp[hl++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		if (v <= 0x7f)
			break;
	}
	memcpy(tmp + hl, seg->data, cap);
	struct zt_seg syn = *seg;
	syn.data = tmp;
	syn.caplen = hl + cap;
	syn.len = seg->len + hl;
	syn.seq = seg->seq - hl;
	lpf_feed(&s->d[seg->dir & 1], &mq_lpf, s, &syn, emit, ctx);
	return true;
}

static void mq_feed(void *st, const struct zt_seg *seg, zt_emit_fn emit, void *ctx)
{
	struct mq_state *s = st;
	unsigned dir = seg->dir & 1;

	if (!s->fed[dir] && !seg->eof) {
		s->fed[dir] = true;
		if (seg->caplen && mq_is_connect_body(seg->data, seg->caplen) &&
		    mq_feed_headless(s, seg, emit, ctx))
			return;
	}
	lpf_feed(&s->d[dir], &mq_lpf, s, seg, emit, ctx);
}

static void mq_finish(void *st, uint64_t now_ns, zt_emit_fn emit, void *ctx)
{
	/* a packet cut by the close says nothing: nothing to complete */
}

/* Blanks the password and authentication data of every CONNECT found in
 * buf (a raw captured payload, any protocol): length-preserving. A CONNECT
 * is found by its variable header ("\0\4MQTT" level 4 or 5, "\0\6MQIsdp"
 * level 3), with or without its fixed header in the same buffer: brokers
 * (mosquitto) read the fixed header and the body in separate syscalls. */
static size_t mq_redact(uint8_t *buf, size_t len)
{
	size_t done = 0;

	if (!buf)
		return 0;
	for (size_t i = 0; i + 10 <= len; i++) {
		if (buf[i] != 0 || !((buf[i + 1] == 4 && !memcmp(buf + i + 2, "MQTT", 4) &&
				      (buf[i + 6] == 4 || buf[i + 6] == 5)) ||
				     (buf[i + 1] == 6 && i + 12 <= len && !memcmp(buf + i + 2, "MQIsdp", 6) &&
				      buf[i + 8] == 3)))
			continue;
		uint8_t *body = buf + i;
		size_t bn = len - i;
		struct mq_connect c;
		if (bn > UINT32_MAX)
			bn = UINT32_MAX;
		if (mq_connect_parse(body, (uint32_t)bn, &c) < 0)
			continue;
		struct mq_span sec[2] = {c.password, c.auth_data};
		size_t end = 0;
		for (int k = 0; k < 2; k++) {
			if (!sec[k].present || sec[k].off >= bn)
				continue;
			size_t e = sec[k].off + (size_t)sec[k].len;
			if (e > bn)
				e = bn;
			memset(body + sec[k].off, '*', e - sec[k].off);
			done += e - sec[k].off;
			if (e > end)
				end = e;
		}
		/* go on after the CONNECT's fields: no byte is counted twice */
		if (c.end > end)
			end = c.end < bn ? c.end : bn;
		if (end > 1)
			i += end - 1;
	}
	return done;
}

const struct zt_proto_ops zt_mqtt_ops = {
    .id = ZT_L7_MQTT,
    .name = "MQTT",
    .infer = mq_infer,
    .state_size = sizeof(struct mq_state),
    .init = mq_init,
    .feed = mq_feed,
    .finish = mq_finish,
    .first_kind = mq_first_kind,
    .redact_payload = mq_redact,
};
