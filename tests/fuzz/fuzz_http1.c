/* SPDX-License-Identifier: MIT */
/*
 * fuzz_http1.c - libFuzzer target for the HTTP/1.x parser.
 *
 * Input: byte 0 configures the run, bytes 1.. are the stream.
 *   bits 0-1  largest segment: 1, 16, 256 or 4096 bytes
 *   bit  2    requests travel ingress (we are the server)
 *   bit  3    cut captures short and add gaps
 *   bit  4    sprinkle EOF segments
 *   bits 5-7  seed of the segment-size generator
 * Segments go to the request direction unless they start with "HTTP/"; a
 * segment that does not look like a start stays in the previous direction.
 * Every segment is a heap copy of exactly caplen bytes so ASan sees
 * over-reads. The head parsers, zt_endpoint_normalize and zt_http_redact
 * run on the raw input too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/events.h"
#include "proto/endpoint.h"
#include "proto/http1.h"
#include "proto/proto.h"

static void check_str(const char *s, size_t cap)
{
	if (strnlen(s, cap) >= cap)
		abort();
}

static void fuzz_emit(void *ctx, const struct zt_msg *m)
{
	char ep[64 + ZT_TYPE_LEN + ZT_RESOURCE_LEN];

	(void)ctx;
	if ((m->kind != ZT_MSG_REQUEST && m->kind != ZT_MSG_RESPONSE) || m->dir > ZT_DIR_INGRESS)
		abort();
	check_str(m->version, sizeof(m->version));
	check_str(m->request_type, sizeof(m->request_type));
	check_str(m->request_domain, sizeof(m->request_domain));
	check_str(m->request_resource, sizeof(m->request_resource));
	check_str(m->response_exception, sizeof(m->response_exception));
	check_str(m->trace_id, sizeof(m->trace_id));
	check_str(m->span_id, sizeof(m->span_id));
	check_str(m->parent_span_id, sizeof(m->parent_span_id));
	check_str(m->x_request_id, sizeof(m->x_request_id));
	/* span ids are validated hex, never raw bytes */
	for (const char *p = m->span_id; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			abort();
	if (m->end_ns < m->start_ns && m->dir == ZT_DIR_EGRESS)
		abort();
	size_t n = zt_endpoint_normalize(m->request_type, m->request_resource, ep, sizeof(ep));
	if (n >= sizeof(ep) || ep[n] != '\0')
		abort();
}

static uint32_t rng_next(uint32_t *s)
{
	/* xorshift32: deterministic per input, so crashes reproduce */
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
	zt_http1_ops.feed(state, seg, fuzz_emit, NULL);
	free(buf);
}

static void fuzz_pure(const uint8_t *data, size_t size)
{
	struct h1_head h;
	char *buf = malloc(size ? size : 1);

	if (!buf)
		abort();
	memcpy(buf, data, size);
	for (int resp = 0; resp < 2; resp++) {
		int r = resp ? h1_parse_response_head(buf, size, &h) : h1_parse_request_head(buf, size, &h);
		if (r > (int)size || r == 0 || r < -2)
			abort();
		if (r > 0) {
			for (size_t i = 0; i < h.num_headers; i++) {
				const struct h1_header *x = &h.headers[i];
				if (x->name.p < buf || x->name.p + x->name.n > buf + r || x->value.p < buf ||
				    x->value.p + x->value.n > buf + r)
					abort();
			}
		}
	}
	(void)h1_infer(data, size, 0);

	/* redaction keeps length and line structure */
	size_t red = zt_http_redact((uint8_t *)buf, size);
	if (red > size)
		abort();
	for (size_t i = 0; i < size; i++)
		if (buf[i] != (char)data[i] && (buf[i] != '*' || data[i] == '\r' || data[i] == '\n'))
			abort();

	/* endpoint: method = bytes up to the first space, path = the rest */
	char method[ZT_TYPE_LEN], path[ZT_RESOURCE_LEN], out[96];
	size_t sp = 0;
	while (sp < size && data[sp] != ' ')
		sp++;
	zt_copy_str(method, sizeof(method), (const char *)data, sp);
	zt_copy_str(path, sizeof(path), (const char *)data + (sp < size ? sp + 1 : sp),
		    sp < size ? size - sp - 1 : 0);
	size_t outsz = size ? (size_t)(data[0] % sizeof(out)) : 0;
	size_t n = zt_endpoint_normalize(method, path, out, outsz);
	if (outsz && (n >= outsz || out[n] != '\0'))
		abort();
	/* target redaction: in place, length-preserving, only '*' written */
	char tgt[ZT_RESOURCE_LEN];
	memcpy(tgt, path, sizeof(tgt));
	size_t done = zt_http_redact_target(tgt);
	if (strlen(tgt) != strlen(path) || done > strlen(path))
		abort();
	for (size_t i = 0; path[i]; i++)
		if (tgt[i] != path[i] && tgt[i] != '*')
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
	uint8_t req_dir = (cfg & 4) ? ZT_DIR_INGRESS : ZT_DIR_EGRESS;
	uint8_t dir = req_dir;
	uint32_t seq[2] = {1, 0x7fffff00u}; /* the second wraps */
	uint64_t t = 1;
	void *state = malloc(zt_http1_ops.state_size);

	if (!state)
		abort();
	memset(state, 0xa5, zt_http1_ops.state_size); /* init() must not rely on zeroes */
	zt_http1_ops.init(state);
	data++;
	size--;
	for (size_t off = 0; off < size;) {
		size_t n = 1 + rng_next(&rng) % maxseg[cfg & 3];
		if (n > size - off)
			n = size - off;
		const uint8_t *p = data + off;
		if (n >= 5 && memcmp(p, "HTTP/", 5) == 0)
			dir = req_dir ^ 1;
		else if (h1_infer(p, n, 0))
			dir = req_dir;
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
		    .has_seq = true,
		    .dir = dir,
		};
		feed_copy(state, &seg, p, cap);
		seq[dir] += (uint32_t)(n + extra);
		t += 10;
		off += n;
		if ((cfg & 16) && rng_next(&rng) % 16 == 0) {
			struct zt_seg eof = {.enter_ns = t, .exit_ns = t + 1, .dir = dir, .eof = true};
			feed_copy(state, &eof, NULL, 0);
		}
	}
	zt_http1_ops.finish(state, t, fuzz_emit, NULL);
	free(state);
	return 0;
}
