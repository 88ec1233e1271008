/* SPDX-License-Identifier: MIT */
/*
 * hist.h - the latency histogram of the RED rollups: fixed log-linear
 * buckets (HdrHistogram's layout with 16 sub-buckets per power of two), so
 * that two histograms of any time buckets, hosts or processes merge
 * EXACTLY by adding counts: the bucket edges never depend on the data.
 *
 * Buckets (values in ns): 0..31 have a bucket each; above, the octave
 * [2^p, 2^(p+1)) is cut into 16 equal buckets of width 2^(p-4). A value's
 * bucket is [lo, lo + w) with w <= lo / 16, so a quantile given as the
 * bucket's midpoint is within 1/32 (3.125%) of the true value of that rank
 * (ZT_HIST_REL_ERR; the unit test checks it). Values of 2^43 ns (~2.4 h)
 * and more share the last bucket.
 *
 * Stored form (zt_hist_encode/decode): sparse, 1 version byte, then pairs
 * of varints (index delta from the previous nonzero bucket, count). The
 * decoder treats its input as hostile (a damaged file): every bound is
 * checked, it never reads past len (fuzz_hist).
 *
 * Return convention: 0 or a negative errno.
 */
#ifndef ZT_TRACE_HIST_H
#define ZT_TRACE_HIST_H

#include <stddef.h>
#include <stdint.h>

#define ZT_HIST_SUB_BITS 4
#define ZT_HIST_SUB (1u << ZT_HIST_SUB_BITS)
#define ZT_HIST_MAX_EXP 42						   /* highest octave: [2^42, 2^43) */
#define ZT_HIST_N ((ZT_HIST_MAX_EXP - ZT_HIST_SUB_BITS + 2) * ZT_HIST_SUB) /* 640 */
#define ZT_HIST_REL_ERR (1.0 / (2 * ZT_HIST_SUB))
/* encoded size at most: version + a pair of 2+10 byte varints per bucket */
#define ZT_HIST_ENC_MAX (1 + ZT_HIST_N * 12)

struct zt_hist {
	uint64_t count; /* sum of c[] */
	uint64_t c[ZT_HIST_N];
};

unsigned zt_hist_index(uint64_t v);
/* The bucket's values: [lo, hi) (hi exclusive). */
void zt_hist_bounds(unsigned i, uint64_t *lo, uint64_t *hi);
void zt_hist_add(struct zt_hist *h, uint64_t v, uint64_t n);
void zt_hist_merge(struct zt_hist *dst, const struct zt_hist *src);
/* The value at quantile q (0 < q <= 1): the r-th smallest, r = ceil(q *
 * count), given as its bucket's midpoint; 0 when empty. */
uint64_t zt_hist_quantile(const struct zt_hist *h, double q);
/* Count of values <= v exactly when v + 1 is a bucket edge, else of values
 * in buckets entirely <= v (a lower bound). */
uint64_t zt_hist_count_le(const struct zt_hist *h, uint64_t v);

/* Writes h into out (ZT_HIST_ENC_MAX bytes suffice); returns the length. */
size_t zt_hist_encode(const struct zt_hist *h, uint8_t *out, size_t cap);
/* Adds the encoded histogram to h (h is not cleared: decode merges).
 * -EINVAL on a damaged encoding; h is then unchanged. */
int zt_hist_decode_merge(struct zt_hist *h, const uint8_t *in, size_t len);

#endif /* ZT_TRACE_HIST_H */
