/* SPDX-License-Identifier: MIT */
/*
 * fuzz_redis.c - libFuzzer target for the Redis parser (src/proto/redis.c).
 *
 * Input: byte 0 configures the run, bytes 1.. are the stream.
 *   bits 0-1  largest segment: 1, 16, 256 or 4096 bytes
 *   bit  2    the first segment travels ingress (we are the server)
 *   bit  3    cut captures short and add gaps
 *   bit  4    sprinkle EOF segments
 *   bits 5-7  seed of the segment-size / direction generator
 * A segment's direction flips when the generator says so, so requests and
 * replies interleave both ways. Every segment is a heap copy of exactly
 * caplen bytes so ASan sees over-reads. infer, first_kind and
 * redact_payload run on the raw input too; redaction must keep the length
 * and write only '*'.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/events.h"
#include "proto/proto.h"

#ifndef OPS /* another target may include this driver with its own */
extern const struct zt_proto_ops zt_redis_ops;
#define OPS zt_redis_ops
#endif

static void check_str(const char *s, size_t cap)
{
	if (strnlen(s, cap) >= cap)
		abort();
}

static void fuzz_emit(void *ctx, const struct zt_msg *m)
{
	(void)ctx;
	if ((m->kind != ZT_MSG_REQUEST && m->kind != ZT_MSG_RESPONSE) || m->dir > ZT_DIR_INGRESS)
		abort();
	if (m->pair > ZT_PAIR_ONEWAY || m->status > ZT_RS_TIMEOUT)
		abort();
	check_str(m->version, sizeof(m->version));
	check_str(m->request_type, sizeof(m->request_type));
	check_str(m->request_domain, sizeof(m->request_domain));
	check_str(m->request_resource, sizeof(m->request_resource));
	check_str(m->response_exception, sizeof(m->response_exception));
	/* stored strings never carry control bytes */
	for (const char *p = m->request_resource; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			abort();
	for (const char *p = m->response_exception; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			abort();
	if (m->end_ns < m->start_ns && m->dir == ZT_DIR_EGRESS)
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
	OPS.feed(state, seg, fuzz_emit, NULL);
	free(buf);
}

static void fuzz_pure(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);
	struct zt_infer_hints h = {.l4 = 6, .lport = 6379, .rport = 11211};

	if (!buf)
		abort();
	memcpy(buf, data, size);
	int c = OPS.infer(buf, size, &h);
	if (c < 0 || c > 100)
		abort();
	int k = OPS.first_kind(buf, size);
	if (k != 0 && k != ZT_MSG_REQUEST && k != ZT_MSG_RESPONSE)
		abort();
	size_t red = OPS.redact_payload(buf, size);
	if (red > size)
		abort();
	for (size_t i = 0; i < size; i++)
		if (buf[i] != data[i] && buf[i] != '*')
			abort();
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t maxseg[4] = {1, 16, 256, 4096};

	fuzz_pure(data, size);
	if (size < 1)
		return 0;

	uint8_t cfg = data[0];
	uint32_t rng = 0x9e3779b9u ^ (uint32_t)(cfg >> 5) ^ (uint32_t)size;
	uint8_t dir = (cfg & 4) ? ZT_DIR_INGRESS : ZT_DIR_EGRESS;
	uint32_t seq[2] = {1, 0x7fffff00u};
	uint64_t t = 1;
	void *state = malloc(OPS.state_size);

	if (!state)
		abort();
	memset(state, 0xa5, OPS.state_size); /* init() must not rely on zeroes */
	OPS.init(state);
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
	OPS.finish(state, t, fuzz_emit, NULL);
	free(state);
	return 0;
}
