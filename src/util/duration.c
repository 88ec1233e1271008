/* SPDX-License-Identifier: MIT */
#include "util/duration.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

static const struct {
	const char *suffix;
	uint64_t ns;
} units[] = {
    {"ns", 1ull},
    {"us", 1000ull},
    {"ms", 1000000ull},
    {"s", 1000000000ull},
    {"m", 60ull * 1000000000ull},
    {"h", 3600ull * 1000000000ull},
    {"d", 86400ull * 1000000000ull},
    {"", 1000000000ull}, /* plain integer: seconds */
};

int zt_parse_duration(const char *s, uint64_t *ns_out)
{
	uint64_t v = 0;
	const char *p = s;

	if (!s)
		return -EINVAL;
	/* Digits by hand: strtoull would accept spaces, signs and wrap "-1". */
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	if (p == s)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(p, units[i].suffix) != 0)
			continue;
		if (v > UINT64_MAX / units[i].ns)
			return -EINVAL;
		*ns_out = v * units[i].ns;
		return 0;
	}
	return -EINVAL;
}
