/* SPDX-License-Identifier: MIT */
/*
 * span_codec.c - see span_codec.h. Encoding is unchecked against out's room
 * per field: zt_span_encode needs ZT_SPAN_CODEC_MAX bytes, more than any
 * span takes (every string is bounded by its field). Decoding checks every
 * length against both the input and the field.
 */
#include "model/span_codec.h"

#include <errno.h>
#include <string.h>

/* ---- encode ------------------------------------------------------------ */

static inline uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static inline uint64_t zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static inline uint8_t *put_str(uint8_t *p, const char *s, size_t size)
{
	size_t l = strnlen(s, size - 1);

	p = put_varint(p, l);
	memcpy(p, s, l);
	return p + l;
}

static uint8_t *put_ip(uint8_t *p, const uint8_t ip[16])
{
	static const uint8_t zero[16], v4pre[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (!memcmp(ip, zero, 16)) {
		*p++ = 0;
	} else if (!memcmp(ip, v4pre, 12)) {
		*p++ = 4;
		memcpy(p, ip + 12, 4);
		p += 4;
	} else {
		*p++ = 16;
		memcpy(p, ip, 16);
		p += 16;
	}
	return p;
}

static uint8_t *put_attrs(uint8_t *p, const struct zt_attrs *a)
{
	uint8_t n = a->n < ZT_ATTRS_MAX ? a->n : ZT_ATTRS_MAX;

	*p++ = n;
	for (unsigned i = 0; i < n; i++) {
		size_t kl = strnlen(a->a[i].key, ZT_ATTR_KEY_LEN - 1), vl = strnlen(a->a[i].val, ZT_ATTR_VAL_LEN - 1);
		*p++ = (uint8_t)kl;
		memcpy(p, a->a[i].key, kl);
		p += kl;
		*p++ = (uint8_t)vl;
		memcpy(p, a->a[i].val, vl);
		p += vl;
	}
	return p;
}

/* span_uid, start_ns and trace_id lead the record (the keys); the rest
 * follow in field order. */
#define SKIP_span_uid 1
#define SKIP_start_ns 1
#define SKIP_trace_id 1
#define IS_KEY(name) IS_KEY_(SKIP_##name)
#define IS_KEY_(x) IS_KEY__(x)
#define IS_KEY__(x) (sizeof(#x) == 2) /* "1" when SKIP_name is defined */

#define ENC_STR(f_, sz) p = put_str(p, s->f_, sz)
#define ENC_U64(f_, sz) p = put_varint(p, s->f_)
#define ENC_U64Z(f_, sz) p = put_varint(p, s->f_)
#define ENC_U32(f_, sz) p = put_varint(p, s->f_)
#define ENC_PORT(f_, sz) p = put_varint(p, s->f_)
#define ENC_I32N(f_, sz) p = put_varint(p, zigzag(s->f_))
#define ENC_SEQREQ(f_, sz) p = put_varint(p, s->f_)
#define ENC_SEQRESP(f_, sz) p = put_varint(p, s->f_)
#define ENC_IP(f_, sz) p = put_ip(p, s->f_)
#define ENC_TAP(f_, sz) *p++ = s->f_
#define ENC_L7(f_, sz) *p++ = s->f_
#define ENC_L4(f_, sz) *p++ = s->f_
#define ENC_RSTATUS(f_, sz) *p++ = s->f_
#define ENC_BOOL(f_, sz) *p++ = s->f_
#define ENC_FLAGS(f_, sz) p = put_varint(p, s->f_)
#define ENC_ATTRS(f_, sz) p = put_attrs(p, &s->f_)
#define ENC_LINK(f_, sz) *p++ = s->f_

long zt_span_encode(const struct zt_span *s, uint8_t *out, size_t cap)
{
	uint8_t *body = out + 3, *p = body;
	size_t n, l;

	if (cap < ZT_SPAN_CODEC_MAX)
		return -ENOSPC;
	for (int i = 0; i < 8; i++)
		*p++ = (uint8_t)(s->start_ns >> (8 * i));
	l = strnlen(s->span_uid, sizeof(s->span_uid) - 1);
	*p++ = (uint8_t)l;
	memcpy(p, s->span_uid, l);
	p += l;
	l = strnlen(s->trace_id, sizeof(s->trace_id) - 1);
	*p++ = (uint8_t)l;
	memcpy(p, s->trace_id, l);
	p += l;
#define X(name, kind, sz, ff)                                                                                \
	if (!IS_KEY(name)) {                                                                                 \
		if (ZT_F_##name == ZT_F_end_ns)                                                              \
			p = put_varint(p, zigzag((int64_t)(s->end_ns - s->start_ns)));                      \
		else                                                                                         \
			ENC_##kind(name, sz);                                                                \
	}
	ZT_SPAN_FIELDS(X)
#undef X
	/* the length in a fixed 3-byte varint (bodies are < 2^21 bytes):
	 * the body was written in place, behind it */
	n = (size_t)(p - body);
	out[0] = (uint8_t)(n | 0x80);
	out[1] = (uint8_t)(n >> 7 | 0x80);
	out[2] = (uint8_t)(n >> 14);
	return (long)(n + 3);
}

/* ---- decode ------------------------------------------------------------ */

struct rd {
	const uint8_t *p, *end;
	int bad;
};

static inline uint64_t get_varint(struct rd *r)
{
	uint64_t v = 0;

	for (int shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->end) {
			r->bad = 1;
			return 0;
		}
		uint8_t b = *r->p++;
		/* the 10th byte holds bit 63 only: more is a value wider
		 * than 64 bits, damage (not bits to drop) */
		if (shift == 63 && b > 1)
			break;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	r->bad = 1;
	return 0;
}

static inline uint8_t get_u8(struct rd *r)
{
	if (r->p >= r->end) {
		r->bad = 1;
		return 0;
	}
	return *r->p++;
}

/* n bytes into dst (size bytes of room, NUL added): n must be < size. */
static inline void get_bytes(struct rd *r, char *dst, size_t n, size_t size)
{
	if (r->bad || n >= size || n > (size_t)(r->end - r->p)) {
		r->bad = 1;
		dst[0] = '\0';
		return;
	}
	memcpy(dst, r->p, n);
	dst[n] = '\0';
	r->p += n;
}

static inline void get_str(struct rd *r, char *dst, size_t size)
{
	get_bytes(r, dst, get_varint(r), size);
}

static void get_ip(struct rd *r, uint8_t ip[16])
{
	uint8_t form = get_u8(r);

	memset(ip, 0, 16);
	if (form == 0)
		return;
	if ((form != 4 && form != 16) || form > r->end - r->p) {
		r->bad = 1;
		return;
	}
	if (form == 4) {
		ip[10] = ip[11] = 0xff;
		memcpy(ip + 12, r->p, 4);
	} else {
		memcpy(ip, r->p, 16);
	}
	r->p += form;
}

static void get_attrs(struct rd *r, struct zt_attrs *a)
{
	uint8_t n = get_u8(r);

	a->n = 0;
	if (n > ZT_ATTRS_MAX) {
		r->bad = 1;
		return;
	}
	for (unsigned i = 0; i < n && !r->bad; i++) {
		get_bytes(r, a->a[i].key, get_u8(r), ZT_ATTR_KEY_LEN);
		get_bytes(r, a->a[i].val, get_u8(r), ZT_ATTR_VAL_LEN);
	}
	if (!r->bad)
		a->n = n;
}

/* Integers wider than their field are damage, not values to cut. */
#define GET_UINT(f_, max_)                                                                                   \
	do {                                                                                                 \
		uint64_t v_ = get_varint(&r);                                                                \
		if (v_ > (max_))                                                                             \
			r.bad = 1;                                                                           \
		s->f_ = (__typeof__(s->f_))v_;                                                               \
	} while (0)
#define DEC_STR(f_, sz) get_str(&r, s->f_, sz)
#define DEC_U64(f_, sz) s->f_ = get_varint(&r)
#define DEC_U64Z(f_, sz) s->f_ = get_varint(&r)
#define DEC_U32(f_, sz) GET_UINT(f_, UINT32_MAX)
#define DEC_PORT(f_, sz) GET_UINT(f_, UINT16_MAX)
#define DEC_I32N(f_, sz)                                                                                     \
	do {                                                                                                 \
		int64_t v_ = unzigzag(get_varint(&r));                                                       \
		if (v_ < INT32_MIN || v_ > INT32_MAX)                                                        \
			r.bad = 1;                                                                           \
		s->f_ = (int32_t)v_;                                                                         \
	} while (0)
#define DEC_SEQREQ(f_, sz) GET_UINT(f_, UINT32_MAX)
#define DEC_SEQRESP(f_, sz) GET_UINT(f_, UINT32_MAX)
#define DEC_IP(f_, sz) get_ip(&r, s->f_)
#define DEC_TAP(f_, sz) s->f_ = get_u8(&r)
#define DEC_L7(f_, sz) s->f_ = get_u8(&r)
#define DEC_L4(f_, sz) s->f_ = get_u8(&r)
#define DEC_RSTATUS(f_, sz) s->f_ = get_u8(&r)
#define DEC_BOOL(f_, sz) s->f_ = get_u8(&r)
#define DEC_FLAGS(f_, sz) GET_UINT(f_, UINT32_MAX)
#define DEC_ATTRS(f_, sz) get_attrs(&r, &s->f_)
#define DEC_LINK(f_, sz) s->f_ = get_u8(&r)

int zt_span_keys(const uint8_t *in, size_t len, struct zt_span_keys *k)
{
	struct rd r = {in, in + len, 0};
	uint64_t body = get_varint(&r);

	if (r.bad || body > (uint64_t)(r.end - r.p) || body < 10)
		return -EINVAL;
	r.end = r.p + body;
	k->rec = in;
	k->size = (size_t)(r.end - in);
	k->start_ns = 0;
	for (int i = 0; i < 8; i++)
		k->start_ns |= (uint64_t)r.p[i] << (8 * i);
	r.p += 8;
	k->uid_len = get_u8(&r);
	if (r.bad || k->uid_len >= ZT_UID_LEN || k->uid_len > r.end - r.p)
		return -EINVAL;
	k->uid = (const char *)r.p;
	r.p += k->uid_len;
	k->trace_len = get_u8(&r);
	if (r.bad || k->trace_len >= ZT_TRACE_ID_LEN || k->trace_len > r.end - r.p)
		return -EINVAL;
	k->trace = (const char *)r.p;
	return 0;
}

long zt_span_decode(const uint8_t *in, size_t len, struct zt_span *s)
{
	struct zt_span_keys k;
	struct rd r;

	if (zt_span_keys(in, len, &k))
		return -EINVAL;
	s->start_ns = k.start_ns;
	memcpy(s->span_uid, k.uid, k.uid_len);
	s->span_uid[k.uid_len] = '\0';
	memcpy(s->trace_id, k.trace, k.trace_len);
	s->trace_id[k.trace_len] = '\0';
	r.p = (const uint8_t *)k.trace + k.trace_len;
	r.end = in + k.size;
	r.bad = 0;
#define X(name, kind, sz, ff)                                                                                \
	if (!IS_KEY(name)) {                                                                                 \
		if (ZT_F_##name == ZT_F_end_ns)                                                              \
			s->end_ns = s->start_ns + (uint64_t)unzigzag(get_varint(&r));                        \
		else                                                                                         \
			DEC_##kind(name, sz);                                                                \
	}
	ZT_SPAN_FIELDS(X)
#undef X
	if (r.bad || r.p != r.end)
		return -EINVAL;
	return (long)k.size;
}

/* ---- the assembly's fields rewritten ----------------------------------- */

/* Skips one field of each kind (the reader's checks, no copy). */
static void skip_n(struct rd *r, uint64_t n)
{
	if (r->bad || n > (uint64_t)(r->end - r->p))
		r->bad = 1;
	else
		r->p += n;
}

static void skip_attrs(struct rd *r)
{
	uint8_t n = get_u8(r);

	if (n > ZT_ATTRS_MAX)
		r->bad = 1;
	for (unsigned i = 0; i < n && !r->bad; i++) {
		skip_n(r, get_u8(r));
		skip_n(r, get_u8(r));
	}
}

#define SKIP_STR(r) skip_n(r, get_varint(r))
#define SKIP_U64(r) (void)get_varint(r)
#define SKIP_U64Z(r) (void)get_varint(r)
#define SKIP_U32(r) (void)get_varint(r)
#define SKIP_PORT(r) (void)get_varint(r)
#define SKIP_I32N(r) (void)get_varint(r)
#define SKIP_SEQREQ(r) (void)get_varint(r)
#define SKIP_SEQRESP(r) (void)get_varint(r)
#define SKIP_IP(r) skip_n(r, get_u8(r))
#define SKIP_TAP(r) (void)get_u8(r)
#define SKIP_L7(r) (void)get_u8(r)
#define SKIP_L4(r) (void)get_u8(r)
#define SKIP_RSTATUS(r) (void)get_u8(r)
#define SKIP_BOOL(r) (void)get_u8(r)
#define SKIP_FLAGS(r) (void)get_varint(r)
#define SKIP_ATTRS(r) skip_attrs(r)
#define SKIP_LINK(r) (void)get_u8(r)

long zt_span_reassemble(const uint8_t *in, size_t len, const char *trace_id, const char *parent_uid,
			uint8_t link_kind, uint8_t *out, size_t cap)
{
	struct zt_span_keys k;
	struct rd r;
	const uint8_t *par = NULL, *after = NULL;
	size_t tl = strnlen(trace_id, ZT_TRACE_ID_LEN), pl = strnlen(parent_uid, ZT_UID_LEN), n;
	uint8_t *p;

	if (zt_span_keys(in, len, &k) || tl >= ZT_TRACE_ID_LEN || pl >= ZT_UID_LEN)
		return -EINVAL;
	r.p = (const uint8_t *)k.trace + k.trace_len;
	r.end = in + k.size;
	r.bad = 0;
	/* the fields before parent_uid are skipped; it and link_kind are
	 * replaced; what follows is copied as it is */
#define X(name, kind, sz, ff)                                                                                	if (!IS_KEY(name) && !after) {                                                                       		if (ZT_F_##name == ZT_F_parent_uid)                                                          			par = r.p;                                                                           		SKIP_##kind(&r);                                                                             		if (ZT_F_##name == ZT_F_link_kind)                                                           			after = r.p;                                                                         	}
	ZT_SPAN_FIELDS(X)
#undef X
	if (r.bad || !par || !after)
		return -EINVAL;
	/* the sizes: keys, the body up to parent_uid, the new fields, the rest */
	n = (size_t)(par - ((const uint8_t *)k.trace + k.trace_len)); /* the fields between */
	{
		size_t body = 8 + 1 + k.uid_len + 1 + tl + n + 1 + pl + 1 + (size_t)(r.end - after);
		if (body + 3 > cap)
			return -ENOSPC;
		p = out + 3;
		memcpy(p, (const uint8_t *)k.uid - 9, 8 + 1 + k.uid_len); /* start_ns, uid */
		p += 8 + 1 + k.uid_len;
		*p++ = (uint8_t)tl;
		memcpy(p, trace_id, tl);
		p += tl;
		memcpy(p, k.trace + k.trace_len, n);
		p += n;
		*p++ = (uint8_t)pl; /* a varint: < 128 */
		memcpy(p, parent_uid, pl);
		p += pl;
		*p++ = link_kind;
		memcpy(p, after, (size_t)(r.end - after));
		out[0] = (uint8_t)(body | 0x80);
		out[1] = (uint8_t)(body >> 7 | 0x80);
		out[2] = (uint8_t)(body >> 14);
		return (long)(body + 3);
	}
}
