/* SPDX-License-Identifier: MIT */
#include "session/span.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

const char *zt_tap_side_name(enum zt_tap_side t)
{
	switch (t) {
	case ZT_TAP_CLIENT_PROCESS:
		return "client-process";
	case ZT_TAP_SERVER_PROCESS:
		return "server-process";
	default:
		return "unknown";
	}
}

const char *zt_resp_status_name(enum zt_resp_status s)
{
	switch (s) {
	case ZT_RS_OK:
		return "ok";
	case ZT_RS_CLIENT_ERROR:
		return "client_error";
	case ZT_RS_SERVER_ERROR:
		return "server_error";
	case ZT_RS_TIMEOUT:
		return "timeout";
	default:
		return "unknown";
	}
}

const char *zt_l7_name(enum zt_l7 p)
{
	const struct zt_proto_ops *ops = zt_proto_by_id(p);
	return ops ? ops->name : "unknown";
}

void zt_ip_str(const uint8_t ip[16], char *out, unsigned outsz)
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (memcmp(ip, v4mapped, 12) == 0)
		inet_ntop(AF_INET, ip + 12, out, outsz);
	else
		inet_ntop(AF_INET6, ip, out, outsz);
}
