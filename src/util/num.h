/* SPDX-License-Identifier: MIT */
#ifndef ZT_NUM_H
#define ZT_NUM_H

#include <stdint.h>
#include <time.h>

/* Parses a whole decimal number in [0, max]; 0 or -EINVAL (junk, sign,
 * empty, overflow, above max). */
int zt_parse_uint(const char *s, uint64_t max, uint64_t *out);
/* Parses a size: a number (decimals allowed) and an optional unit, any
 * case: B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (of
 * 1024); "10GB", "1.5GiB", "4096". 0 or -EINVAL. */
int zt_parse_size(const char *s, uint64_t *out);

static inline uint64_t zt_clock_ns(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

#endif /* ZT_NUM_H */
