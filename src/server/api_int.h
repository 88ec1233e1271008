/* SPDX-License-Identifier: MIT */
/* api_int.h - what api.c shares with api_jaeger.c (not for other modules). */
#ifndef ZT_SERVER_API_INT_H
#define ZT_SERVER_API_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "model/span.h"
#include "server/api.h"

struct zt_api_svc {
	char name[ZT_PROCESS_LEN];
	uint64_t spans, errors;
	bool used;
};

/* Process names of the spans started since since_ns, with span and error
 * counts (at most 3072 names: the rest are not listed). *out: sorted by
 * spans, most first, *n of them (caller frees *out). */
int zt_api_services(struct zt_api *api, uint64_t since_ns, struct zt_api_svc **out, unsigned *n);

/* A Go time.Duration text ("1.5s", "100ms", "1h30m", "250us", "250µs"),
 * what Jaeger's minDuration/maxDuration/lookback take, in ns; -EINVAL for
 * anything else or an overflow. */
int zt_jaeger_parse_duration(const char *s, uint64_t *ns);

#endif /* ZT_SERVER_API_INT_H */
