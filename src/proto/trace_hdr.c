/* SPDX-License-Identifier: MIT */
/*
 * trace_hdr.c - decoding of trace-context headers; see trace_hdr.h.
 *
 * Every decoder validates the whole value before it writes anything, and
 * resolve() decodes into a scratch copy that reaches the caller only on
 * success, so a header that fails half-way cannot leave half an id behind.
 */
#include "proto/trace_hdr.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "util/text.h"

struct th_slice {
	const char *p;
	size_t n;
};

static bool th_is_hex(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (zt_hexval((unsigned char)p[i]) < 0)
			return false;
	return true;
}

static bool th_all_zero(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != '0')
			return false;
	return true;
}

/* A non-zero hex id of min..max digits. */
static bool th_hex_id(struct th_slice s, size_t min, size_t max)
{
	return s.n >= min && s.n <= max && th_is_hex(s.p, s.n) && !th_all_zero(s.p, s.n);
}

/* Copies a validated hex id lowercased, cut to dstsz - 1 (callers validate
 * lengths that fit, the cut only keeps a wrong caller in bounds). */
static void th_copy_hex(char *dst, size_t dstsz, struct th_slice s)
{
	size_t n = s.n < dstsz ? s.n : dstsz - 1;

	for (size_t i = 0; i < n; i++)
		dst[i] = (char)zt_lower((unsigned char)s.p[i]);
	dst[n] = '\0';
}

/* Splits v at sep into at most max fields; returns the field count, or
 * max + 1 if there are more. */
static size_t th_split(struct th_slice v, char sep, struct th_slice *f, size_t max)
{
	size_t nf = 0, s = 0;

	for (size_t i = 0; i <= v.n; i++) {
		if (i < v.n && v.p[i] != sep)
			continue;
		if (nf == max)
			return max + 1;
		f[nf++] = (struct th_slice){v.p + s, i - s};
		s = i + 1;
	}
	return nf;
}

/* traceparent: version-traceid(32)-parentid(16)-flags(2). The parent id
 * names the caller's span, i.e. the span this message belongs to. */
static bool th_traceparent(struct th_slice v, struct zt_trace_ids *ids)
{
	struct th_slice f[5];
	size_t nf = th_split(v, '-', f, 5);

	if (nf < 4 || nf > 5 || f[0].n != 2 || !th_is_hex(f[0].p, 2) || zt_ieq(f[0].p, 2, "ff"))
		return false;
	/* version 00 has exactly four fields; later versions may append */
	if (nf == 5 && zt_ieq(f[0].p, 2, "00"))
		return false;
	if (!th_hex_id(f[1], 32, 32) || !th_hex_id(f[2], 16, 16) || f[3].n != 2 || !th_is_hex(f[3].p, 2))
		return false;
	th_copy_hex(ids->trace_id, sizeof(ids->trace_id), f[1]);
	th_copy_hex(ids->span_id, sizeof(ids->span_id), f[2]);
	return true;
}

/* b3: traceid(16|32)-spanid(16)[-sampled[-parentspanid(16)]]; a lone
 * sampling flag ("0", "1", "d") carries no ids. */
static bool th_b3(struct th_slice v, struct zt_trace_ids *ids)
{
	struct th_slice f[4];
	size_t nf = th_split(v, '-', f, 4);

	if (nf < 2 || nf > 4)
		return false;
	if ((f[0].n != 16 && f[0].n != 32) || !th_hex_id(f[0], 16, 32) || !th_hex_id(f[1], 16, 16))
		return false;
	if (nf >= 3 && !(f[2].n == 1 && (f[2].p[0] == '0' || f[2].p[0] == '1' || f[2].p[0] == 'd')))
		return false;
	if (nf == 4 && !th_hex_id(f[3], 16, 16))
		return false;
	th_copy_hex(ids->trace_id, sizeof(ids->trace_id), f[0]);
	th_copy_hex(ids->span_id, sizeof(ids->span_id), f[1]);
	if (nf == 4)
		th_copy_hex(ids->parent_span_id, sizeof(ids->parent_span_id), f[3]);
	return true;
}

/* X-B3-*: the trace id decides; a bad span or parent id is dropped on its
 * own rather than costing the trace id (instrumentations disagree on them). */
static bool th_xb3(struct th_slice t, struct th_slice s, struct th_slice p, struct zt_trace_ids *ids)
{
	if ((t.n != 16 && t.n != 32) || !th_hex_id(t, 16, 32))
		return false;
	th_copy_hex(ids->trace_id, sizeof(ids->trace_id), t);
	if (th_hex_id(s, 16, 16))
		th_copy_hex(ids->span_id, sizeof(ids->span_id), s);
	if (th_hex_id(p, 16, 16))
		th_copy_hex(ids->parent_span_id, sizeof(ids->parent_span_id), p);
	return true;
}

/* uber-trace-id: traceid:spanid:parentid:flags, ids hex and possibly
 * shorter than 32/16 digits (kept as given, lowercased); parent "0" means
 * none. Some clients URL-encode the colons as %3A. */
static bool th_uber(struct th_slice v, struct zt_trace_ids *ids)
{
	/* the longest valid value, 32:16:16:2 = 69 bytes, fits; a longer
	 * one cannot be valid and is refused without being scanned further */
	char tmp[96];
	size_t n = 0;
	struct th_slice f[5];

	for (size_t i = 0; i < v.n; i++) {
		if (n == sizeof(tmp))
			return false;
		if (v.p[i] == '%' && i + 2 < v.n && v.p[i + 1] == '3' && (v.p[i + 2] | 0x20) == 'a') {
			tmp[n++] = ':';
			i += 2;
		} else {
			tmp[n++] = v.p[i];
		}
	}
	size_t nf = th_split((struct th_slice){tmp, n}, ':', f, 4);
	if (nf != 4 || !th_hex_id(f[0], 1, 32) || !th_hex_id(f[1], 1, 16) || f[3].n < 1 || f[3].n > 2 ||
	    !th_is_hex(f[3].p, f[3].n))
		return false;
	bool no_parent = f[2].n == 1 && f[2].p[0] == '0';
	if (!no_parent && !th_hex_id(f[2], 1, 16))
		return false;
	th_copy_hex(ids->trace_id, sizeof(ids->trace_id), f[0]);
	th_copy_hex(ids->span_id, sizeof(ids->span_id), f[1]);
	if (!no_parent)
		th_copy_hex(ids->parent_span_id, sizeof(ids->parent_span_id), f[2]);
	return true;
}

static int th_b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Standard base64 (padding optional) into out[0..outsz); -1 if invalid or
 * too long. */
static int th_b64dec(struct th_slice s, char *out, size_t outsz)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t n = 0, i = 0;

	while (i < s.n && s.p[i] != '=') {
		int v = th_b64val((unsigned char)s.p[i++]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == outsz)
				return -1;
			out[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	while (i < s.n && s.p[i] == '=')
		i++;
	return i == s.n ? (int)n : -1;
}

/* sw8: sample-base64(traceId)-base64(segmentId)-spanIndex-...; SkyWalking
 * trace ids are printable text, not hex: kept as decoded if they fit; its
 * span ids are not W3C-shaped and are not taken. */
static bool th_sw8(struct th_slice v, struct zt_trace_ids *ids)
{
	struct th_slice f[3];
	char dec[ZT_TRACE_ID_LEN - 1];

	if (th_split(v, '-', f, 2) < 3) /* at least sample, trace id and more */
		return false;
	if (f[0].n != 1 || (f[0].p[0] != '0' && f[0].p[0] != '1'))
		return false;
	int n = th_b64dec(f[1], dec, sizeof(dec));
	if (n <= 0)
		return false;
	for (int i = 0; i < n; i++)
		if ((unsigned char)dec[i] < 0x21 || (unsigned char)dec[i] > 0x7e)
			return false;
	memcpy(ids->trace_id, dec, (size_t)n);
	ids->trace_id[n] = '\0';
	return true;
}

void zt_trace_hdrs_init(struct zt_trace_hdrs *h)
{
	memset(h, 0, sizeof(*h));
}

static void th_take(struct zt_trace_val *slot, const char *val, size_t vlen)
{
	if (slot->set)
		return; /* first occurrence wins */
	slot->p = val;
	slot->n = vlen;
	slot->set = true;
}

bool zt_trace_hdrs_offer(struct zt_trace_hdrs *h, const char *name, size_t nlen, const char *val, size_t vlen)
{
	struct zt_trace_val *slot = NULL;

	if (!name)
		return false;
	/* By length first: this runs on every header of every message and
	 * most names are ruled out without reading a byte. */
	switch (nlen) {
	case 2:
		if (zt_ieq(name, nlen, "b3"))
			slot = &h->b3;
		break;
	case 3:
		if (zt_ieq(name, nlen, "sw8"))
			slot = &h->sw8;
		break;
	case 11:
		if (zt_ieq(name, nlen, "traceparent"))
			slot = &h->traceparent;
		else if (zt_ieq(name, nlen, "x-b3-spanid"))
			slot = &h->x_b3_spanid;
		break;
	case 12:
		if (zt_ieq(name, nlen, "x-b3-traceid"))
			slot = &h->x_b3_traceid;
		break;
	case 13:
		if (zt_ieq(name, nlen, "uber-trace-id"))
			slot = &h->uber_trace_id;
		break;
	case 17:
		if (zt_ieq(name, nlen, "x-b3-parentspanid"))
			slot = &h->x_b3_parentspanid;
		break;
	}
	if (!slot)
		return false;
	/* "" rather than NULL: the decoders do pointer arithmetic on p */
	th_take(slot, val ? val : "", val ? vlen : 0);
	return true;
}

static struct th_slice th_of(const struct zt_trace_val *v)
{
	return (struct th_slice){v->p, v->n};
}

bool zt_trace_hdrs_resolve(const struct zt_trace_hdrs *h, struct zt_trace_ids *out)
{
	struct zt_trace_ids tmp;
	bool ok;

	memset(out, 0, sizeof(*out));
	memset(&tmp, 0, sizeof(tmp));
	/* x-b3-spanid and x-b3-parentspanid only count with x-b3-traceid;
	 * an absent one is the empty slice, which th_xb3 drops */
	ok = (h->traceparent.set && th_traceparent(th_of(&h->traceparent), &tmp)) ||
	     (h->b3.set && th_b3(th_of(&h->b3), &tmp)) ||
	     (h->x_b3_traceid.set &&
	      th_xb3(th_of(&h->x_b3_traceid), th_of(&h->x_b3_spanid), th_of(&h->x_b3_parentspanid), &tmp)) ||
	     (h->uber_trace_id.set && th_uber(th_of(&h->uber_trace_id), &tmp)) ||
	     (h->sw8.set && th_sw8(th_of(&h->sw8), &tmp));
	if (ok)
		*out = tmp;
	return ok;
}

/* The request-id header names, lowercase, NUL-separated; set once at
 * start (zt_request_id_headers_set), read by every parser after. */
#define RID_MAX 8
#define RID_LEN 64
static char rid_names[RID_MAX][RID_LEN] = {"x-request-id", "x-correlation-id"};
static int rid_n = 2;

int zt_request_id_headers_set(const char *csv)
{
	char names[RID_MAX][RID_LEN];
	int n = 0;
	const char *p = csv;

	while (p && *p) {
		size_t len = strcspn(p, ",");
		if (len == 0 || len >= RID_LEN || n == RID_MAX)
			return -EINVAL;
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)p[i];
			if (c <= ' ' || c == ':' || c >= 0x7f)
				return -EINVAL;
			names[n][i] = (char)zt_lower(c);
		}
		names[n++][len] = '\0';
		p += len;
		if (*p == ',')
			p++;
	}
	if (n == 0)
		return -EINVAL;
	memcpy(rid_names, names, sizeof(names));
	rid_n = n;
	return 0;
}

bool zt_is_request_id_header(const char *name, size_t n)
{
	for (int i = 0; name && i < rid_n; i++)
		if (zt_ieq(name, n, rid_names[i]))
			return true;
	return false;
}
