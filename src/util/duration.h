/* SPDX-License-Identifier: MIT */
/*
 * duration.h - parsing of human durations given on the command line.
 *
 * Return convention: 0 on success, negative errno on failure.
 */
#ifndef ZT_DURATION_H
#define ZT_DURATION_H

#include <stdint.h>

/*
 * Parses "<digits><unit>" where unit is one of ns, us, ms, s, m, h, d; plain
 * digits mean seconds ("30" == "30s"). No sign, spaces or fractions.
 * Stores nanoseconds in *ns_out. -EINVAL on empty input, junk or a value that
 * overflows 64 bits of nanoseconds; *ns_out is untouched then.
 */
int zt_parse_duration(const char *s, uint64_t *ns_out);

#endif /* ZT_DURATION_H */
