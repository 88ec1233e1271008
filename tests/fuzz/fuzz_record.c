/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: a `ztrace record` file decoded and replayed through the
 * whole session layer (inference, HTTP parsing, pairing, eviction) and the
 * trace joiner (small bounds, so the window, key eviction, late links and
 * aliases all run). Any input must end in a clean result or a clear
 * error, never a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/record.h"
#include "session/session.h"
#include "trace/joiner.h"

static size_t acc;

static int out_span(void *ctx, const struct zt_span *s)
{
	/* touch the strings: they must be terminated */
	acc += strlen(s->request_resource) + strlen(s->endpoint) + strlen(s->span_uid) + strlen(s->trace_id) +
	       strlen(s->parent_uid);
	if (strlen(s->trace_id) == 0)
		abort(); /* every released span has a trace */
	return 0;
}

static int out_link(void *ctx, const char *c, const char *p, uint8_t kind)
{
	acc += strlen(c) + strlen(p) + kind;
	return 0;
}

static int out_alias(void *ctx, const char *a, const char *t)
{
	acc += strlen(a) + strlen(t);
	return 0;
}

static void sink(void *ctx, const struct zt_span *s)
{
	zt_joiner_put(ctx, s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct zt_rec_reader r;
	struct zt_session_cfg cfg = {
	    .host = "fuzz", .max_conns = 4, .max_pending = 4, .pend_cap = 8, .idle_timeout_ns = 1000000};
	struct zt_joiner_cfg jc = {.window_ns = 1000, .key_ttl_ns = 100000, .max_spans = 4, .max_keys = 16};
	struct zt_joiner_out jo = {out_span, out_link, out_alias, NULL, NULL};
	struct zt_joiner *j;
	char err[256];
	const void *rec;
	size_t len;
	FILE *f;
	struct zt_session *s;

	if (size == 0)
		return 0;
	f = fmemopen((void *)data, size, "rb");
	if (!f)
		return 0;
	j = zt_joiner_new(&jc, &jo);
	s = j ? zt_session_new(&cfg, sink, j) : NULL;
	if (s && zt_rec_reader_open(&r, NULL, f, err, sizeof(err)) == 0) {
		int n = 0;
		while (zt_rec_next(&r, &rec, &len, err, sizeof(err)) == 1) {
			zt_session_event(s, rec, len);
			if ((++n & 7) == 0)
				zt_session_tick(s, ((const struct zt_event_hdr *)rec)->ts_ns);
		}
		zt_rec_reader_close(&r);
	}
	zt_session_free(s); /* flushes the session into the joiner */
	if (j)
		zt_joiner_flush(j);
	zt_joiner_free(j);
	fclose(f);
	return 0;
}
