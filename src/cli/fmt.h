/* SPDX-License-Identifier: MIT */
/* fmt.h - text formats the CLI's tables share. */
#ifndef ZT_CLI_FMT_H
#define ZT_CLI_FMT_H

#include <stddef.h>
#include <stdint.h>

/* "850ns", "12.3us", "4.5ms", "1.23s". */
void zt_fmt_duration(uint64_t ns, char *out, size_t outsz);
/* s cut to at most cols display columns with "..." (UTF-8 aware: a
 * continuation byte takes no column); "-" for an empty s. */
void zt_fmt_cut(const char *s, size_t cols, char *out, size_t outsz);
/* "client", "server" or "-" for a tap side. */
const char *zt_fmt_side(uint8_t tap_side);

#endif /* ZT_CLI_FMT_H */
