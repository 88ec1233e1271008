/* SPDX-License-Identifier: MIT */
/* hash.h - small deterministic hashes (ids and table buckets). */
#ifndef ZT_UTIL_HASH_H
#define ZT_UTIL_HASH_H

#include <stdint.h>

/* splitmix64 finaliser: a bijection of 64-bit values. */
static inline uint64_t zt_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

/* FNV-1a of a NUL-terminated string; NULL hashes like "". */
static inline uint64_t zt_hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; s && *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* FNV-1a of n bytes: equal to zt_hash_str of the same bytes as a string. */
static inline uint64_t zt_hash_bytes(const void *p, unsigned long n)
{
	const unsigned char *b = p;
	uint64_t h = 1469598103934665603ULL;
	for (unsigned long i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

#endif /* ZT_UTIL_HASH_H */
