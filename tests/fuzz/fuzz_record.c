/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: a `ztrace record` file decoded and replayed through the
 * whole session layer (inference, HTTP parsing, pairing, eviction). Any
 * input must end in a clean result or a clear error, never a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/record.h"
#include "session/session.h"

static void sink(void *ctx, const struct zt_span *s)
{
	/* touch the strings: they must be terminated */
	*(size_t *)ctx += strlen(s->request_resource) + strlen(s->endpoint) + strlen(s->span_uid);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct zt_rec_reader r;
	struct zt_session_cfg cfg = {.host = "fuzz", .max_conns = 4, .max_pending = 4, .idle_timeout_ns = 1000000};
	size_t acc = 0;
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
	s = zt_session_new(&cfg, sink, &acc);
	if (s && zt_rec_reader_open(&r, NULL, f, err, sizeof(err)) == 0) {
		int n = 0;
		while (zt_rec_next(&r, &rec, &len, err, sizeof(err)) == 1) {
			zt_session_event(s, rec, len);
			if ((++n & 7) == 0)
				zt_session_tick(s, ((const struct zt_event_hdr *)rec)->ts_ns);
		}
		zt_rec_reader_close(&r);
	}
	zt_session_free(s);
	fclose(f);
	return 0;
}
