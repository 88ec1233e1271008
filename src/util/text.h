/* SPDX-License-Identifier: MIT */
/* text.h - byte-level text helpers for parsers of captured (hostile) bytes:
 * no locale, no NUL termination assumed. */
#ifndef ZT_UTIL_TEXT_H
#define ZT_UTIL_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* 0..15 for a hex digit (any case), -1 otherwise. */
static inline int zt_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* ASCII lowercase. */
static inline unsigned char zt_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

/* Case-insensitive equality of p[0..n) and a lowercase literal. */
static inline bool zt_ieq(const char *p, size_t n, const char *lit)
{
	size_t ln = strlen(lit);

	if (n != ln)
		return false;
	for (size_t i = 0; i < n; i++)
		if (zt_lower((unsigned char)p[i]) != (unsigned char)lit[i])
			return false;
	return true;
}

#endif /* ZT_UTIL_TEXT_H */
