/* SPDX-License-Identifier: MIT */
/*
 * fuzz_mqtt.c - libFuzzer target for the MQTT parser (and, compiled from
 * fuzz_amqp.c with FUZZ_OPS set, for AMQP: both frame by length through
 * lpframe.c).
 *
 * Input: byte 0 configures the run, then segments, each a direction byte
 * (bit 0: direction; bit 1: capture only half of it, the rest is a gap;
 * bit 2: an EOF segment before it), a 16-bit little-endian length and the
 * bytes (a length past the end takes what is left). Seeds in
 * tests/data/fuzz/{mqtt,amqp}/ are real streams in this form
 * (tests/data/proto/pcap2c.py). Config byte:
 *   bits 0-1  largest piece a segment is cut into: 1, 7, 64, or whole
 *   bit  2    call finish() at the end
 * Every piece is a heap copy of exactly caplen bytes so ASan sees
 * over-reads. infer(), first_kind() and redact_payload() run on every
 * segment too; redaction must preserve the length and touch only bytes it
 * blanks with '*'.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/events.h"
#include "proto/proto.h"

#ifndef FUZZ_OPS
#define FUZZ_OPS zt_mqtt_ops
#endif
extern const struct zt_proto_ops FUZZ_OPS;

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
	if (m->pair > ZT_PAIR_ONEWAY || m->status > ZT_RS_TIMEOUT || m->attrs.n > ZT_ATTRS_MAX)
		abort();
	check_str(m->version, sizeof(m->version));
	check_str(m->request_type, sizeof(m->request_type));
	check_str(m->request_domain, sizeof(m->request_domain));
	check_str(m->request_resource, sizeof(m->request_resource));
	check_str(m->response_exception, sizeof(m->response_exception));
	if (!m->request_type[0] || m->end_ns < m->start_ns)
		abort();
}

static void feed_piece(void *state, struct zt_seg *seg, const uint8_t *p, uint32_t caplen, uint64_t len)
{
	uint8_t *buf = malloc(caplen ? caplen : 1);

	if (!buf)
		abort();
	memcpy(buf, p, caplen);
	seg->data = buf;
	seg->caplen = caplen;
	seg->len = len;
	FUZZ_OPS.feed(state, seg, fuzz_emit, NULL);
	free(buf);
}

static void redact_check(const uint8_t *p, size_t n)
{
	uint8_t *b = malloc(n ? n : 1);

	if (!b)
		abort();
	memcpy(b, p, n);
	size_t r = FUZZ_OPS.redact_payload(b, n);
	size_t changed = 0;
	for (size_t i = 0; i < n; i++)
		if (b[i] != p[i]) {
			if (b[i] != '*')
				abort();
			changed++;
		}
	if (changed > r || r > n)
		abort();
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t piece_max[4] = {1, 7, 64, UINT32_MAX};
	struct zt_infer_hints h = {.l4 = 6, .lport = 1883, .rport = 5672};
	void *state;
	size_t i = 1;
	uint64_t t = 1000;

	if (size < 1)
		return 0;
	state = calloc(1, FUZZ_OPS.state_size);
	if (!state)
		abort();
	FUZZ_OPS.init(state);
	uint32_t pmax = piece_max[data[0] & 3];
	while (i < size) {
		uint8_t d = data[i++];
		size_t n = 0;
		if (i + 2 <= size) {
			n = data[i] | (size_t)data[i + 1] << 8;
			i += 2;
		} else {
			i = size;
		}
		if (n > size - i)
			n = size - i;
		const uint8_t *p = data + i;
		i += n;
		struct zt_seg seg = {.dir = d & 1, .tid = 7, .has_seq = true, .seq = (uint32_t)i};
		if (d & 4) {
			seg.eof = true;
			seg.enter_ns = seg.exit_ns = t++;
			feed_piece(state, &seg, p, 0, 0);
			seg.eof = false;
		}
		FUZZ_OPS.infer(p, n, &h);
		FUZZ_OPS.first_kind(p, n);
		redact_check(p, n);
		size_t cap = d & 2 ? n / 2 : n;
		for (size_t off = 0; off < cap || (off == 0 && n == 0);) {
			uint32_t k = cap - off < pmax ? (uint32_t)(cap - off) : pmax;
			bool last = off + k >= cap;
			seg.enter_ns = t;
			seg.exit_ns = t + 10;
			t += 20;
			/* the uncaptured rest rides on the last piece as a gap */
			feed_piece(state, &seg, p + off, k, last ? k + (n - cap) : k);
			off += k;
			if (n == 0)
				break;
		}
	}
	if (data[0] & 4)
		FUZZ_OPS.finish(state, t, fuzz_emit, NULL);
	free(state);
	return 0;
}
