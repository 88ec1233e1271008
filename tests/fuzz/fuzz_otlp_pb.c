/* SPDX-License-Identifier: MIT */
/* fuzz_otlp_pb.c - libFuzzer target for OTLP/HTTP protobuf ingest: the
 * input is a POST /v1/traces body (ExportTraceServiceRequest), through
 * zt_otlp_handle (descriptor walk, protobuf-c unpack on a budget, mapping,
 * answer encoding). Byte 0's low bit asks for the gzip path (the rest is
 * then a gzip stream). Every span emitted must be one ztrace can store and
 * print: ids hex of the right length, valid UTF-8 (its JSON encodes).
 * Seeds in tests/data/fuzz/otlp_pb/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/span_json.h"
#include "server/otlp.h"

#ifndef FUZZ_CT
#define FUZZ_CT "application/x-protobuf"
#endif

static int emit(void *ctx, const struct zt_span *s)
{
	json_t *o;

	(void)ctx;
	if (strlen(s->trace_id) != 32 || strlen(s->span_id) != 16 || strcmp(s->span_uid, s->span_id) != 0 ||
	    s->tap_side != ZT_TAP_APP || s->end_ns < s->start_ns)
		abort();
	o = zt_span_to_json(s); /* NULL: a string jansson refuses (invalid UTF-8) */
	if (!o)
		abort();
	json_decref(o);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zt_otlp_reply rep;

	if (size < 1)
		return 0;
	if (zt_otlp_handle(data + 1, size - 1, FUZZ_CT, (data[0] & 1) ? "gzip" : NULL, "fuzz", emit, NULL, NULL,
			   &rep) == 0) {
		if (rep.status != 200 && rep.status != 400 && rep.status != 413)
			abort();
		free(rep.body);
	}
	return 0;
}
