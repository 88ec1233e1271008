/* SPDX-License-Identifier: MIT */
#include "util/num.h"

#include <errno.h>

int zt_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int zt_parse_size(const char *s, uint64_t *out)
{
	static const struct {
		const char *unit;
		uint64_t mult;
	} units[] = {
	    {"", 1},
	    {"B", 1},
	    {"KB", 1000ULL},
	    {"MB", 1000000ULL},
	    {"GB", 1000000000ULL},
	    {"TB", 1000000000000ULL},
	    {"KiB", 1ULL << 10},
	    {"MiB", 1ULL << 20},
	    {"GiB", 1ULL << 30},
	    {"TiB", 1ULL << 40},
	};
	uint64_t whole = 0, frac = 0, fdiv = 1;
	const char *p = s;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (whole > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		for (; *p >= '0' && *p <= '9'; p++)
			if (fdiv < 1000000000ULL) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				fdiv *= 10;
			}
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		const char *u = units[i].unit;
		size_t k = 0;
		while (u[k] && p[k] && (p[k] | 0x20) == (u[k] | 0x20))
			k++;
		if (u[k] || p[k])
			continue;
		if (whole > UINT64_MAX / units[i].mult)
			return -EINVAL;
		/* frac < fdiv <= 1e9: no overflow in either product */
		*out = whole * units[i].mult + frac * (units[i].mult / fdiv) + frac * (units[i].mult % fdiv) / fdiv;
		return 0;
	}
	return -EINVAL;
}
