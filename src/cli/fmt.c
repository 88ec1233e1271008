/* SPDX-License-Identifier: MIT */
#include "cli/fmt.h"

#include <stdbool.h>
#include <stdio.h>

#include "model/span.h"

void zt_fmt_duration(uint64_t ns, char *out, size_t outsz)
{
	if (ns < 1000)
		snprintf(out, outsz, "%lluns", (unsigned long long)ns);
	else if (ns < 1000000)
		snprintf(out, outsz, "%.1fus", (double)ns / 1e3);
	else if (ns < 1000000000)
		snprintf(out, outsz, "%.1fms", (double)ns / 1e6);
	else
		snprintf(out, outsz, "%.2fs", (double)ns / 1e9);
}

void zt_fmt_cut(const char *s, size_t cols, char *out, size_t outsz)
{
	size_t n = 0, o = 0, w = 0, total = 0;

	if (!s[0]) {
		snprintf(out, outsz, "-");
		return;
	}
	for (const char *p = s; *p; p++)
		total += ((unsigned char)*p & 0xc0) != 0x80;
	if (total <= cols || cols < 4) {
		snprintf(out, outsz, "%s", s);
		return;
	}
	while (s[n] && o + 4 < outsz) {
		bool lead = ((unsigned char)s[n] & 0xc0) != 0x80;
		if (lead && w == cols - 3)
			break;
		w += lead;
		out[o++] = s[n++];
	}
	snprintf(out + o, outsz - o, "...");
}

const char *zt_fmt_side(uint8_t tap_side)
{
	switch (tap_side) {
	case ZT_TAP_CLIENT_PROCESS:
		return "client";
	case ZT_TAP_SERVER_PROCESS:
		return "server";
	case ZT_TAP_CLIENT_NIC:
		return "c-nic";
	case ZT_TAP_SERVER_NIC:
		return "s-nic";
	case ZT_TAP_APP:
		return "app";
	default:
		return "-";
	}
}
