/* SPDX-License-Identifier: MIT */
/*
 * fuzz_dns.c - libFuzzer target for the DNS parser (src/proto/dns.c).
 *
 * Input: byte 0 configures the run, bytes 1.. are the stream.
 *   bit  0    UDP (datagrams, no TCP seq) instead of TCP (length prefixes)
 *   bits 1-2  largest segment: 1, 16, 256 or 2048 bytes
 *   bit  3    cut captures short and add gaps
 *   bit  4    the first segment goes ingress (we are the server)
 *   bits 5-7  seed of the segment-size generator
 * A segment's direction flips when its bytes read as the other kind (QR).
 * Every segment is a heap copy of exactly caplen bytes so ASan sees
 * over-reads. dns_name, dns_parse and dns_infer also run on the raw input
 * at several offsets.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/events.h"
#include "proto/dns.h"
#include "proto/proto.h"

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
	if (m->pair != ZT_PAIR_KEY || m->key > 0xffff)
		abort();
	check_str(m->request_type, sizeof(m->request_type));
	check_str(m->request_resource, sizeof(m->request_resource));
	check_str(m->response_exception, sizeof(m->response_exception));
	for (unsigned i = 0; i < m->attrs.n; i++) {
		check_str(m->attrs.a[i].key, sizeof(m->attrs.a[i].key));
		check_str(m->attrs.a[i].val, sizeof(m->attrs.a[i].val));
	}
	if (m->kind == ZT_MSG_RESPONSE && !(m->flags & ZT_MF_HAS_CODE))
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

static void fuzz_pure(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);
	struct dns_info in;
	char name[DNS_NAME_TEXT];
	size_t next;

	if (!buf)
		abort();
	memcpy(buf, data, size);
	for (size_t off = 0; off < size && off < 64; off += 7) {
		int r = dns_name(buf, size, off, name, sizeof(name), &next);
		if (r == 0 && (next > size || strlen(name) >= sizeof(name)))
			abort();
		if (r < -2 || r > 0)
			abort();
	}
	if (dns_parse(buf, size, &in) == 0) {
		check_str(in.qname, sizeof(in.qname));
		check_str(in.first_addr, sizeof(in.first_addr));
		if (in.complete && in.end > size)
			abort();
	}
	for (uint8_t l4 = 6; l4 <= 17; l4 += 11) {
		struct zt_infer_hints h = {.l4 = l4, .lport = 53};
		int c = dns_infer(buf, size, &h);
		if (c < 0 || c > 100)
			abort();
	}
	(void)zt_dns_ops.first_kind(buf, size);
	free(buf);
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
	zt_dns_ops.feed(state, seg, fuzz_emit, NULL);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t maxseg[4] = {1, 16, 256, 2048};

	fuzz_pure(data, size);
	if (size < 1)
		return 0;

	uint8_t cfg = data[0];
	bool udp = cfg & 1;
	uint32_t rng = 0x9e3779b9u ^ (uint32_t)(cfg >> 5) ^ (uint32_t)size;
	uint8_t dir = (cfg & 16) ? ZT_DIR_INGRESS : ZT_DIR_EGRESS;
	uint32_t seq[2] = {1, 0x7fffff00u};
	uint64_t t = 1;
	void *state = malloc(zt_dns_ops.state_size);

	if (!state)
		abort();
	memset(state, 0xa5, zt_dns_ops.state_size); /* init() must not rely on zeroes */
	zt_dns_ops.init(state);
	data++;
	size--;
	for (size_t off = 0; off < size;) {
		size_t n = 1 + rng_next(&rng) % maxseg[(cfg >> 1) & 3];
		if (n > size - off)
			n = size - off;
		const uint8_t *p = data + off;
		size_t qr = udp ? 2 : 4;
		if (n > qr)
			dir = (p[qr] & 0x80) ? ZT_DIR_INGRESS : ZT_DIR_EGRESS;
		uint32_t cap = (uint32_t)n;
		uint64_t extra = 0;
		if ((cfg & 8) && rng_next(&rng) % 4 == 0) {
			cap = rng_next(&rng) % (uint32_t)(n + 1);
			if (rng_next(&rng) % 2)
				extra = rng_next(&rng) % 5000;
		}
		struct zt_seg seg = {
		    .len = n + extra,
		    .enter_ns = t,
		    .exit_ns = t + 5,
		    .tid = 7,
		    .seq = seq[dir],
		    .has_seq = !udp,
		    .dir = dir,
		};
		feed_copy(state, &seg, p, cap);
		seq[dir] += (uint32_t)(n + extra);
		t += 10;
		off += n;
	}
	zt_dns_ops.finish(state, t, fuzz_emit, NULL);
	free(state);
	return 0;
}
