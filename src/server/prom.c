/* SPDX-License-Identifier: MIT */
/* prom.c - see prom.h. Each family is written in one pass over the
 * rollup's series (the exposition format wants a family's samples
 * together, after its HELP and TYPE). */
#include "server/prom.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void zt_sbuf_printf(struct zt_sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		size_t room = b->cap - b->n;
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->n : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if ((size_t)n < room) {
			b->n += (size_t)n;
			return;
		}
		size_t ncap = b->cap ? b->cap * 2 : 4096;
		while (ncap - b->n <= (size_t)n)
			ncap *= 2;
		char *np = realloc(b->p, ncap);
		if (!np) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
}

void zt_sbuf_free(struct zt_sbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* Length of the valid UTF-8 sequence at s (1..4), 0 if none. */
static size_t utf8_len(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xe0 && s[0] <= 0xef) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f))
			return 0; /* overlong, surrogate */
		return 3;
	}
	if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
			return 0;
		if ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
			return 0;
		return 4;
	}
	return 0;
}

void zt_prom_escape(struct zt_sbuf *out, const char *v)
{
	const unsigned char *s = (const unsigned char *)v;

	while (*s) {
		size_t n = utf8_len(s);
		if (n == 0) {
			zt_sbuf_printf(out, "?");
			s++;
		} else if (*s == '\\') {
			zt_sbuf_printf(out, "\\\\");
			s++;
		} else if (*s == '"') {
			zt_sbuf_printf(out, "\\\"");
			s++;
		} else if (*s == '\n') {
			zt_sbuf_printf(out, "\\n");
			s++;
		} else {
			zt_sbuf_printf(out, "%.*s", (int)n, (const char *)s);
			s += n;
		}
	}
}

static const char *const kind_prefix[ZT_RK__COUNT] = {"service", "endpoint", "edge"};
static const char *const class_name[ZT_RERR__COUNT] = {"client_error", "server_error", "timeout"};

enum what { W_REQUESTS, W_ERRORS, W_HIST };

struct pass {
	struct zt_sbuf *out;
	uint8_t kind;
	enum what what;
};

static void labels(struct zt_sbuf *o, const struct zt_prom_series *s)
{
	if (s->kind == ZT_RK_EDGE) {
		zt_sbuf_printf(o, "client=\"");
		zt_prom_escape(o, s->service);
		zt_sbuf_printf(o, "\",server=\"");
		zt_prom_escape(o, s->peer);
	} else {
		zt_sbuf_printf(o, "service=\"");
		zt_prom_escape(o, s->service);
	}
	zt_sbuf_printf(o, "\",protocol=\"");
	zt_prom_escape(o, zt_l7_name(s->l7));
	zt_sbuf_printf(o, "\"");
	if (s->kind == ZT_RK_ENDPOINT) {
		zt_sbuf_printf(o, ",endpoint=\"");
		zt_prom_escape(o, s->endpoint);
		zt_sbuf_printf(o, "\"");
	}
}

static int one_series(void *ctx, const struct zt_prom_series *s)
{
	struct pass *p = ctx;
	struct zt_sbuf *o = p->out;
	const char *k = kind_prefix[p->kind];
	uint64_t cum = 0;

	if (s->kind != p->kind)
		return 0;
	switch (p->what) {
	case W_REQUESTS:
		zt_sbuf_printf(o, "ztrace_%s_requests_total{", k);
		labels(o, s);
		zt_sbuf_printf(o, "} %llu\n", (unsigned long long)s->requests);
		break;
	case W_ERRORS:
		for (int c = 0; c < ZT_RERR__COUNT; c++) {
			zt_sbuf_printf(o, "ztrace_%s_errors_total{", k);
			labels(o, s);
			zt_sbuf_printf(o, ",class=\"%s\"} %llu\n", class_name[c],
				       (unsigned long long)s->errors[c]);
		}
		break;
	case W_HIST:
		for (int i = 0; i < ZT_PROM_LE_N; i++) {
			cum += s->le[i];
			zt_sbuf_printf(o, "ztrace_%s_duration_seconds_bucket{", k);
			labels(o, s);
			zt_sbuf_printf(o, ",le=\"%g\"} %llu\n", zt_prom_le[i], (unsigned long long)cum);
		}
		zt_sbuf_printf(o, "ztrace_%s_duration_seconds_bucket{", k);
		labels(o, s);
		zt_sbuf_printf(o, ",le=\"+Inf\"} %llu\n", (unsigned long long)s->requests);
		zt_sbuf_printf(o, "ztrace_%s_duration_seconds_sum{", k);
		labels(o, s);
		zt_sbuf_printf(o, "} %.9f\n", (double)s->sum_ns / 1e9);
		zt_sbuf_printf(o, "ztrace_%s_duration_seconds_count{", k);
		labels(o, s);
		zt_sbuf_printf(o, "} %llu\n", (unsigned long long)s->requests);
		break;
	}
	return 0;
}

int zt_prom_render(struct zt_sbuf *out, struct zt_rollup *r, const struct zt_prom_counter *self, size_t n)
{
	static const char *const what_help[3] = {
	    "requests observed", "requests answered with an error, by class", "request duration"};
	static const char *const kind_help[ZT_RK__COUNT] = {
	    "per service (server side)", "per service endpoint (server side)",
	    "per edge from client service to server service (client side)"};

	for (int kind = 0; kind < ZT_RK__COUNT; kind++) {
		for (int w = 0; w < 3; w++) {
			struct pass p = {out, (uint8_t)kind, (enum what)w};
			const char *k = kind_prefix[kind];
			if (w == W_HIST) {
				zt_sbuf_printf(out, "# HELP ztrace_%s_duration_seconds %s %s.\n", k,
					       what_help[w], kind_help[kind]);
				zt_sbuf_printf(out, "# TYPE ztrace_%s_duration_seconds histogram\n", k);
			} else {
				const char *fam = w == W_REQUESTS ? "requests" : "errors";
				zt_sbuf_printf(out, "# HELP ztrace_%s_%s_total %s %s.\n", k, fam,
					       what_help[w], kind_help[kind]);
				zt_sbuf_printf(out, "# TYPE ztrace_%s_%s_total counter\n", k, fam);
			}
			if (r)
				zt_rollup_prom_each(r, one_series, &p);
		}
	}
	for (size_t i = 0; i < n; i++) {
		zt_sbuf_printf(out, "# HELP ztrace_%s_total %s\n", self[i].name, self[i].help);
		zt_sbuf_printf(out, "# TYPE ztrace_%s_total counter\n", self[i].name);
		zt_sbuf_printf(out, "ztrace_%s_total %llu\n", self[i].name,
			       (unsigned long long)self[i].value);
	}
	return out->oom ? -ENOMEM : 0;
}
