/* SPDX-License-Identifier: MIT */
/*
 * prom.h - Prometheus text exposition (format 0.0.4) of ztrace's metrics:
 * RED per service, endpoint and edge from the rollup's cumulative series
 * (trace/rollup.h) as request and error counters and latency histograms
 * (_bucket{le=...}, _sum, _count, in seconds), and ztrace's own counters
 * (every drop counter: kernel, pipeline, session, joiner, sink/store),
 * each family with # HELP and # TYPE.
 *
 * Families:
 *   ztrace_service_requests_total{service,protocol}
 *   ztrace_service_errors_total{service,protocol,class}   class: client_error|server_error|timeout
 *   ztrace_service_duration_seconds{service,protocol}      histogram
 *   ztrace_endpoint_*{service,protocol,endpoint}           the same three
 *   ztrace_edge_*{client,server,protocol}                  the same three
 *   ztrace_<self counter>_total                             one per zt_prom_counter given
 *
 * Label values are escaped (\\, \", \n) and made valid UTF-8 (a byte that
 * is not becomes '?'): endpoints come from captured traffic.
 *
 * Return convention: 0 or a negative errno (-ENOMEM).
 * Ownership: the caller frees out->p (free()).
 */
#ifndef ZT_SERVER_PROM_H
#define ZT_SERVER_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "trace/rollup.h"

#define ZT_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* A growable text buffer. */
struct zt_sbuf {
	char *p;
	size_t n, cap;
	int oom; /* an append failed: the text is incomplete */
};
void zt_sbuf_printf(struct zt_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void zt_sbuf_free(struct zt_sbuf *b);

/* One self-metric: name without the ztrace_ prefix and _total suffix
 * ("ring_full"), help text, value. */
struct zt_prom_counter {
	const char *name;
	const char *help;
	uint64_t value;
};

/* Renders r's series (r may be NULL: none) and the n counters into out
 * (appended). */
int zt_prom_render(struct zt_sbuf *out, struct zt_rollup *r, const struct zt_prom_counter *self, size_t n);
/* Appends a label value, escaped (see above). */
void zt_prom_escape(struct zt_sbuf *out, const char *v);

#endif /* ZT_SERVER_PROM_H */
