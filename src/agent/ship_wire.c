/* SPDX-License-Identifier: MIT */
#include "agent/ship_wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "util/num.h"

#include "model/l7.h"

int zt_wbuf_reserve(struct zt_wbuf *b, size_t more)
{
	size_t want, cap;
	uint8_t *p;

	if (more > SIZE_MAX / 2 - b->len)
		return -ENOMEM;
	want = b->len + more;
	if (want <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 4096;
	while (cap < want)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

void zt_wbuf_free(struct zt_wbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

ssize_t zt_wire_frame_next(const uint8_t *buf, size_t len, struct zt_wire_frame *f)
{
	uint32_t n;
	uint8_t t;

	if (len < ZT_WIRE_HDR)
		return 0;
	n = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
	t = buf[4];
	if (n > ZT_WIRE_FRAME_MAX)
		return -EMSGSIZE;
	if ((t & ~(ZT_WIRE_ZSTD | ZT_WIRE_TYPE_MASK)) || (t & ZT_WIRE_TYPE_MASK) < ZT_WIRE_HELLO ||
	    (t & ZT_WIRE_TYPE_MASK) > ZT_WIRE_STATS)
		return -EPROTO;
	if (len - ZT_WIRE_HDR < n)
		return 0;
	f->type = t & ZT_WIRE_TYPE_MASK;
	f->zstd = (t & ZT_WIRE_ZSTD) != 0;
	f->payload = buf + ZT_WIRE_HDR;
	f->len = n;
	return (ssize_t)(ZT_WIRE_HDR + n);
}

static void put_hdr(uint8_t *h, size_t n, uint8_t type)
{
	h[0] = (uint8_t)(n >> 24);
	h[1] = (uint8_t)(n >> 16);
	h[2] = (uint8_t)(n >> 8);
	h[3] = (uint8_t)n;
	h[4] = type;
}

int zt_wire_frame_put(struct zt_wbuf *out, enum zt_wire_type type, const ProtobufCMessage *m, bool compress)
{
	size_t n = protobuf_c_message_get_packed_size(m), body;
	uint8_t *raw = NULL;
	int rc;

	if (n > ZT_WIRE_MSG_MAX)
		return -EMSGSIZE;
	if (!compress) {
		if (n > ZT_WIRE_FRAME_MAX)
			return -EMSGSIZE;
		if ((rc = zt_wbuf_reserve(out, ZT_WIRE_HDR + n)))
			return rc;
		protobuf_c_message_pack(m, out->p + out->len + ZT_WIRE_HDR);
		put_hdr(out->p + out->len, n, (uint8_t)type);
		out->len += ZT_WIRE_HDR + n;
		return 0;
	}
	raw = malloc(n ? n : 1);
	if (!raw)
		return -ENOMEM;
	protobuf_c_message_pack(m, raw);
	body = ZSTD_compressBound(n);
	if ((rc = zt_wbuf_reserve(out, ZT_WIRE_HDR + body)))
		goto cleanup;
	/* level 1: the agent's CPU is the scarce one; spans still shrink ~8x */
	body = ZSTD_compress(out->p + out->len + ZT_WIRE_HDR, body, raw, n, 1);
	if (ZSTD_isError(body)) {
		rc = -EIO;
		goto cleanup;
	}
	if (body > ZT_WIRE_FRAME_MAX) {
		rc = -EMSGSIZE;
		goto cleanup;
	}
	put_hdr(out->p + out->len, body, (uint8_t)type | ZT_WIRE_ZSTD);
	out->len += ZT_WIRE_HDR + body;
	rc = 0;
cleanup:
	free(raw);
	return rc;
}

static const ProtobufCMessageDescriptor *desc_of(uint8_t type)
{
	switch (type) {
	case ZT_WIRE_HELLO:
		return &ztrace__agent__hello__descriptor;
	case ZT_WIRE_ACK:
		return &ztrace__agent__ack__descriptor;
	case ZT_WIRE_BATCH:
		return &ztrace__agent__span_batch__descriptor;
	case ZT_WIRE_STATS:
		return &ztrace__agent__agent_stats__descriptor;
	}
	return NULL;
}

int zt_wire_msg_decode(const struct zt_wire_frame *f, struct zt_wbuf *scratch, ProtobufCMessage **out)
{
	const ProtobufCMessageDescriptor *d = desc_of(f->type);
	const uint8_t *p = f->payload;
	size_t n = f->len;
	ProtobufCMessage *m;
	int rc;

	*out = NULL;
	if (!d)
		return -EPROTO;
	if (f->zstd) {
		unsigned long long cs = ZSTD_getFrameContentSize(f->payload, f->len);
		size_t got;
		/* the size is checked before anything is allocated for it */
		if (cs == ZSTD_CONTENTSIZE_ERROR || cs == ZSTD_CONTENTSIZE_UNKNOWN)
			return -EPROTO;
		if (cs > ZT_WIRE_MSG_MAX)
			return -EMSGSIZE;
		scratch->len = 0;
		if ((rc = zt_wbuf_reserve(scratch, (size_t)cs + 1)))
			return rc;
		got = ZSTD_decompress(scratch->p, (size_t)cs, f->payload, f->len);
		if (ZSTD_isError(got) || got != cs)
			return -EPROTO;
		p = scratch->p;
		n = got;
	}
	m = protobuf_c_message_unpack(d, NULL, n, p);
	if (!m)
		return -EPROTO;
	if (f->type == ZT_WIRE_BATCH && ((Ztrace__Agent__SpanBatch *)m)->n_spans > ZT_WIRE_BATCH_MAX) {
		protobuf_c_message_free_unpacked(m, NULL);
		return -EMSGSIZE;
	}
	*out = m;
	return 0;
}

/* ---- span <-> message, one line per kind ---- */

static const uint8_t zero_ip[16];

#define TO_STR(f_) pb->f_ = (char *)s->f_
#define TO_U64(f_) pb->f_ = s->f_
#define TO_U64Z(f_) pb->f_ = s->f_
#define TO_U32(f_) pb->f_ = s->f_
#define TO_PORT(f_) pb->f_ = s->f_
#define TO_I32N(f_) pb->f_ = s->f_
#define TO_SEQREQ(f_) pb->f_ = s->f_
#define TO_SEQRESP(f_) pb->f_ = s->f_
#define TO_IP(f_)                                                                                             \
	do {                                                                                                 \
		pb->f_.len = memcmp(s->f_, zero_ip, 16) ? 16 : 0;                                              \
		pb->f_.data = (uint8_t *)s->f_;                                                                \
	} while (0)
#define TO_TAP(f_) pb->f_ = s->f_
#define TO_L7(f_) pb->f_ = s->f_
#define TO_L4(f_) pb->f_ = s->f_
#define TO_RSTATUS(f_) pb->f_ = s->f_
#define TO_BOOL(f_) pb->f_ = s->f_
#define TO_FLAGS(f_) pb->f_ = s->f_
#define TO_LINK(f_) pb->f_ = s->f_
#define TO_ATTRS(f_)                                                                                          \
	do {                                                                                                 \
		pb->n_##f_ = s->f_.n <= ZT_ATTRS_MAX ? s->f_.n : ZT_ATTRS_MAX;                                  \
		for (size_t i_ = 0; i_ < pb->n_##f_; i_++) {                                                  \
			ztrace__agent__attr__init(&attrs[i_]);                                               \
			attrs[i_].key = (char *)s->f_.a[i_].key;                                              \
			attrs[i_].val = (char *)s->f_.a[i_].val;                                              \
			aptr[i_] = &attrs[i_];                                                               \
		}                                                                                            \
		pb->f_ = aptr;                                                                                \
	} while (0)

void zt_wire_span_to_pb(const struct zt_span *s, Ztrace__Agent__Span *pb, Ztrace__Agent__Attr *attrs,
			Ztrace__Agent__Attr **aptr)
{
	ztrace__agent__span__init(pb);
#define X(name, kind, sz, ff) TO_##kind(name);
	ZT_SPAN_FIELDS(X)
#undef X
}

/* Copies text into dst[sz], cut to fit; 1 when it was cut. */
static int put_text(char *dst, size_t sz, const char *src)
{
	size_t n = src ? strlen(src) : 0;
	int cut = 0;

	if (n >= sz) {
		n = sz - 1;
		cut = 1;
	}
	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
	return cut;
}

/* An unsigned value into a narrower field: out-of-range values become 0
 * (null/unknown) and count as cut. */
#define FROM_RANGE(f_, max)                                                                                   \
	do {                                                                                                 \
		if (pb->f_ > (max))                                                                           \
			bad++;                                                                               \
		else                                                                                         \
			s->f_ = pb->f_;                                                                        \
	} while (0)
#define FROM_STR(f_) bad += put_text(s->f_, sizeof(s->f_), pb->f_)
#define FROM_U64(f_) s->f_ = pb->f_
#define FROM_U64Z(f_) s->f_ = pb->f_
#define FROM_U32(f_) s->f_ = pb->f_
#define FROM_PORT(f_) FROM_RANGE(f_, 65535u)
#define FROM_I32N(f_) s->f_ = pb->f_ < -1 ? (bad++, -1) : pb->f_
#define FROM_SEQREQ(f_) s->f_ = pb->f_
#define FROM_SEQRESP(f_) s->f_ = pb->f_
#define FROM_IP(f_)                                                                                           \
	do {                                                                                                 \
		if (pb->f_.len == 16 && pb->f_.data)                                                           \
			memcpy(s->f_, pb->f_.data, 16);                                                        \
		else if (pb->f_.len)                                                                          \
			bad++;                                                                               \
	} while (0)
#define FROM_TAP(f_) FROM_RANGE(f_, ZT_TAP__LAST)
#define FROM_L7(f_) FROM_RANGE(f_, ZT_L7__COUNT - 1)
#define FROM_L4(f_) FROM_RANGE(f_, 255u)
#define FROM_RSTATUS(f_) FROM_RANGE(f_, ZT_RS_TIMEOUT)
#define FROM_BOOL(f_) s->f_ = pb->f_ ? 1 : 0
#define FROM_FLAGS(f_) s->f_ = pb->f_
#define FROM_LINK(f_) FROM_RANGE(f_, ZT_LINK_EXPLICIT)
#define FROM_ATTRS(f_)                                                                                        \
	do {                                                                                                 \
		size_t k_ = pb->n_##f_;                                                                       \
		if (k_ > ZT_ATTRS_MAX) {                                                                     \
			k_ = ZT_ATTRS_MAX;                                                                   \
			bad++;                                                                               \
		}                                                                                            \
		for (size_t i_ = 0; i_ < k_; i_++) {                                                         \
			bad += put_text(s->f_.a[i_].key, ZT_ATTR_KEY_LEN, pb->f_[i_]->key);                    \
			bad += put_text(s->f_.a[i_].val, ZT_ATTR_VAL_LEN, pb->f_[i_]->val);                    \
		}                                                                                            \
		s->f_.n = (uint8_t)k_;                                                                        \
	} while (0)

int zt_wire_span_from_pb(const Ztrace__Agent__Span *pb, struct zt_span *s)
{
	int bad = 0;

	zt_span_clear(s);
#define X(name, kind, sz, ff) FROM_##kind(name);
	ZT_SPAN_FIELDS(X)
#undef X
	return bad;
}

int zt_wire_batch_encode(const char *agent_id, uint64_t seq, uint64_t created_ns, const struct zt_span *spans,
			 size_t n, struct zt_wbuf *out)
{
	Ztrace__Agent__SpanBatch b = ZTRACE__AGENT__SPAN_BATCH__INIT;
	Ztrace__Agent__Span *pbs = NULL, **pp = NULL;
	Ztrace__Agent__Attr *attrs = NULL, **aptr = NULL;
	int rc = -ENOMEM;

	if (n > ZT_WIRE_BATCH_MAX)
		return -EMSGSIZE;
	pbs = calloc(n ? n : 1, sizeof(*pbs));
	pp = calloc(n ? n : 1, sizeof(*pp));
	attrs = calloc((n ? n : 1) * ZT_ATTRS_MAX, sizeof(*attrs));
	aptr = calloc((n ? n : 1) * ZT_ATTRS_MAX, sizeof(*aptr));
	if (!pbs || !pp || !attrs || !aptr)
		goto cleanup;
	for (size_t i = 0; i < n; i++) {
		zt_wire_span_to_pb(&spans[i], &pbs[i], attrs + i * ZT_ATTRS_MAX, aptr + i * ZT_ATTRS_MAX);
		pp[i] = &pbs[i];
	}
	b.agent_id = (char *)agent_id;
	b.seq = seq;
	b.created_ns = created_ns;
	b.n_spans = n;
	b.spans = pp;
	rc = zt_wire_frame_put(out, ZT_WIRE_BATCH, &b.base, true);
cleanup:
	free(pbs);
	free(pp);
	free(attrs);
	free(aptr);
	return rc;
}

int zt_wire_hostport(const char *s, char *host, size_t hsz, char *port, size_t psz)
{
	const char *colon = strrchr(s, ':');
	size_t hl;

	if (!colon || !colon[1] || strlen(colon + 1) >= psz)
		return -EINVAL;
	if (s[0] == '[') { /* [v6]:port */
		if (colon == s || colon[-1] != ']')
			return -EINVAL;
		s++;
		hl = (size_t)(colon - 1 - s);
	} else {
		hl = (size_t)(colon - s);
	}
	if (!hl || hl >= hsz)
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	snprintf(port, psz, "%s", colon + 1);
	uint64_t v;
	return zt_parse_uint(port, 65535, &v) || v == 0 ? -EINVAL : 0;
}
