/* SPDX-License-Identifier: MIT */
/* hist.c - see hist.h. */
#include "trace/hist.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#define HIST_VERSION 1

unsigned zt_hist_index(uint64_t v)
{
	unsigned p;

	if (v < 2 * ZT_HIST_SUB)
		return (unsigned)v;
	p = 63u - (unsigned)__builtin_clzll(v);
	if (p > ZT_HIST_MAX_EXP)
		return ZT_HIST_N - 1;
	return (p - ZT_HIST_SUB_BITS + 1) * ZT_HIST_SUB +
	       (unsigned)((v >> (p - ZT_HIST_SUB_BITS)) & (ZT_HIST_SUB - 1));
}

void zt_hist_bounds(unsigned i, uint64_t *lo, uint64_t *hi)
{
	unsigned p, m;

	if (i < 2 * ZT_HIST_SUB) {
		*lo = i;
		*hi = (uint64_t)i + 1;
		return;
	}
	p = i / ZT_HIST_SUB + ZT_HIST_SUB_BITS - 1;
	m = i % ZT_HIST_SUB;
	*lo = (uint64_t)(ZT_HIST_SUB + m) << (p - ZT_HIST_SUB_BITS);
	*hi = *lo + (1ULL << (p - ZT_HIST_SUB_BITS));
}

void zt_hist_add(struct zt_hist *h, uint64_t v, uint64_t n)
{
	h->c[zt_hist_index(v)] += n;
	h->count += n;
}

void zt_hist_merge(struct zt_hist *dst, const struct zt_hist *src)
{
	if (!src->count)
		return;
	for (unsigned i = 0; i < ZT_HIST_N; i++)
		dst->c[i] += src->c[i];
	dst->count += src->count;
}

uint64_t zt_hist_quantile(const struct zt_hist *h, double q)
{
	uint64_t r, seen = 0, lo, hi;

	if (!h->count || !(q > 0))
		return 0;
	if (q > 1)
		q = 1;
	r = (uint64_t)ceil(q * (double)h->count);
	if (r < 1)
		r = 1;
	for (unsigned i = 0; i < ZT_HIST_N; i++) {
		seen += h->c[i];
		if (seen >= r) {
			zt_hist_bounds(i, &lo, &hi);
			return lo + (hi - lo) / 2;
		}
	}
	return 0; /* count and c[] disagree: not reached for a consistent h */
}

uint64_t zt_hist_count_le(const struct zt_hist *h, uint64_t v)
{
	uint64_t n = 0, lo, hi;

	for (unsigned i = 0; i < ZT_HIST_N; i++) {
		zt_hist_bounds(i, &lo, &hi);
		if (hi - 1 > v)
			break;
		n += h->c[i];
	}
	return n;
}

static size_t put_varint(uint8_t *out, size_t cap, size_t at, uint64_t v)
{
	do {
		if (at >= cap)
			return cap + 1;
		out[at++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	return at;
}

size_t zt_hist_encode(const struct zt_hist *h, uint8_t *out, size_t cap)
{
	size_t at = 0;
	unsigned prev = 0;

	if (cap < 1)
		return 0;
	out[at++] = HIST_VERSION;
	for (unsigned i = 0; i < ZT_HIST_N; i++) {
		if (!h->c[i])
			continue;
		at = put_varint(out, cap, at, i - prev);
		at = put_varint(out, cap, at, h->c[i]);
		if (at > cap)
			return 0;
		prev = i;
	}
	return at;
}

static int get_varint(const uint8_t *in, size_t len, size_t *at, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned shift = 0; shift < 64; shift += 7) {
		uint8_t b;

		if (*at >= len)
			return -EINVAL;
		b = in[(*at)++];
		/* past 64 bits, or a needless 0 byte: the form is canonical */
		if ((shift == 63 && b > 1) || (shift && b == 0))
			return -EINVAL;
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -EINVAL;
}

/* One pass over an encoding: checks it (apply 0) or adds it to h (apply
 * 1, only after a checking pass said yes). */
static int decode_pass(struct zt_hist *h, const uint8_t *in, size_t len, int apply, uint64_t *total)
{
	uint64_t idx = 0, d, c;
	size_t at = 1;
	int first = 1;

	*total = 0;
	while (at < len) {
		if (get_varint(in, len, &at, &d) || get_varint(in, len, &at, &c))
			return -EINVAL;
		/* strictly increasing indexes (the first may be 0), counts > 0 */
		if ((!first && d == 0) || d >= ZT_HIST_N || idx + d >= ZT_HIST_N || c == 0 ||
		    *total + c < *total)
			return -EINVAL;
		idx += d;
		first = 0;
		if (apply)
			h->c[idx] += c;
		*total += c;
	}
	return 0;
}

int zt_hist_decode_merge(struct zt_hist *h, const uint8_t *in, size_t len)
{
	uint64_t total;

	/* checked first, so that a damaged blob leaves h as it was */
	if (len < 1 || in[0] != HIST_VERSION || decode_pass(h, in, len, 0, &total))
		return -EINVAL;
	if (h->count + total < h->count)
		return -EINVAL;
	(void)decode_pass(h, in, len, 1, &total);
	h->count += total;
	return 0;
}
