/* SPDX-License-Identifier: MIT */
/*
 * fuzz_h2.c - libFuzzer target for the HTTP/2 parser (src/proto/h2.c,
 * h2_stream.c, hpack.c).
 *
 * Input: byte 0 configures the run, bytes 1.. are the stream.
 *   bits 0-1  largest segment: 1, 16, 256 or 4096 bytes
 *   bit  2    the first segment goes ingress
 *   bit  3    cut captures short and add gaps (as a 1 KiB capture does)
 *   bit  4    sprinkle EOF segments
 *   bits 5-7  seed of the segment-size and direction generator
 * Every segment is a heap copy of exactly caplen bytes so ASan sees
 * over-reads. Emitted messages must be well-formed (bounded strings, no
 * control bytes, a stream id as key). infer() and first_kind() run on the
 * raw input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/events.h"
#include "proto/h2.h"

static void check_str(const char *s, size_t cap)
{
	if (strnlen(s, cap) >= cap)
		abort();
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			abort();
}

static void fuzz_emit(void *ctx, const struct zt_msg *m)
{
	(void)ctx;
	if ((m->kind != ZT_MSG_REQUEST && m->kind != ZT_MSG_RESPONSE) || m->dir > ZT_DIR_INGRESS)
		abort();
	if (m->pair != ZT_PAIR_KEY || m->key == 0 || m->key > 0x7fffffffu || m->status > ZT_RS_TIMEOUT)
		abort();
	if (m->l7 != 0 && m->l7 != ZT_L7_GRPC)
		abort();
	check_str(m->request_type, sizeof(m->request_type));
	check_str(m->request_domain, sizeof(m->request_domain));
	check_str(m->request_resource, sizeof(m->request_resource));
	check_str(m->response_exception, sizeof(m->response_exception));
	check_str(m->x_request_id, sizeof(m->x_request_id));
	if (m->attrs.n > ZT_ATTRS_MAX)
		abort();
}

static uint32_t rng_next(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void feed_copy(void *state, struct zt_seg *seg, const uint8_t *p, uint32_t caplen)
{
	uint8_t *buf = caplen ? malloc(caplen) : NULL;

	if (caplen) {
		if (!buf)
			abort();
		memcpy(buf, p, caplen);
	}
	seg->data = buf;
	seg->caplen = caplen;
	zt_h2_ops.feed(state, seg, fuzz_emit, NULL);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t maxseg[4] = {1, 16, 256, 4096};
	uint8_t *raw = malloc(size ? size : 1);

	if (!raw)
		abort();
	memcpy(raw, data, size);
	int c = zt_h2_ops.infer(raw, size, NULL);
	int k = zt_h2_ops.first_kind(raw, size);
	free(raw);
	if (c < 0 || c > 100 || (k != 0 && k != ZT_MSG_REQUEST))
		abort();
	if (size < 1)
		return 0;

	uint8_t cfg = data[0];
	uint32_t rng = 0x9e3779b9u ^ (uint32_t)(cfg >> 5) ^ (uint32_t)size;
	uint8_t dir = (cfg & 4) ? ZT_DIR_INGRESS : ZT_DIR_EGRESS;
	uint32_t seq[2] = {1, 0x7fffff00u};
	uint64_t t = 1;
	void *state = malloc(zt_h2_ops.state_size);

	if (!state)
		abort();
	memset(state, 0xa5, zt_h2_ops.state_size); /* init() must not rely on zeroes */
	zt_h2_ops.init(state);
	data++;
	size--;
	for (size_t off = 0; off < size;) {
		size_t n = 1 + rng_next(&rng) % maxseg[cfg & 3];
		if (n > size - off)
			n = size - off;
		if (off && rng_next(&rng) % 3 == 0)
			dir ^= 1;
		uint32_t cap = (uint32_t)n;
		uint64_t extra = 0;
		if ((cfg & 8) && rng_next(&rng) % 4 == 0) {
			cap = rng_next(&rng) % (uint32_t)(n + 1);
			if (rng_next(&rng) % 2)
				extra = rng_next(&rng) % 200000;
		}
		struct zt_seg seg = {
		    .len = n + extra,
		    .enter_ns = t,
		    .exit_ns = t + 5,
		    .tid = 7,
		    .seq = seq[dir],
		    .has_seq = true,
		    .dir = dir,
		};
		feed_copy(state, &seg, data + off, cap);
		seq[dir] += (uint32_t)(n + extra);
		t += 10;
		off += n;
		if ((cfg & 16) && rng_next(&rng) % 16 == 0) {
			struct zt_seg eof = {.enter_ns = t, .exit_ns = t + 1, .dir = dir, .eof = true};
			feed_copy(state, &eof, NULL, 0);
		}
	}
	zt_h2_ops.finish(state, t, fuzz_emit, NULL);
	free(state);
	return 0;
}
