/* SPDX-License-Identifier: MIT */
/*
 * fuzz_wire.c - libFuzzer target for the agent protocol's decoder, as the
 * server runs it on bytes from a connection: frames cut from the stream
 * (zt_wire_frame_next), each message decoded (zstd + protobuf-c,
 * zt_wire_msg_decode) and a batch's spans mapped into the span record
 * (zt_wire_span_from_pb). Seeds in tests/data/fuzz/wire/ (README there).
 */
#include <stddef.h>
#include <stdint.h>

#include "agent/ship_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct zt_wbuf scratch;
	static struct zt_span span;
	size_t off = 0;

	for (;;) {
		struct zt_wire_frame f;
		ProtobufCMessage *m;
		ssize_t n = zt_wire_frame_next(data + off, size - off, &f);
		if (n <= 0)
			break;
		off += (size_t)n;
		if (zt_wire_msg_decode(&f, &scratch, &m))
			continue;
		if (f.type == ZT_WIRE_BATCH) {
			Ztrace__Agent__SpanBatch *b = (Ztrace__Agent__SpanBatch *)m;
			for (size_t i = 0; i < b->n_spans; i++)
				(void)zt_wire_span_from_pb(b->spans[i], &span);
		}
		protobuf_c_message_free_unpacked(m, NULL);
	}
	return 0;
}
