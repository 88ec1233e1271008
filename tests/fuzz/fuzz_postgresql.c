/* SPDX-License-Identifier: MIT */
/*
 * fuzz_postgresql.c - libFuzzer target for the PostgreSQL v3 parser.
 *
 * Input: a sequence of records, as the seeds in tests/data/fuzz/postgresql/
 * (written by tests/data/proto/postgresql/gen_vectors.py from real streams):
 *   dir   1 byte   bit 0: direction (0 egress, 1 ingress); bit 1: EOF
 *                  segment; bit 2: cut this record in two segments
 *   gap   2 bytes  little-endian: bytes moved but not captured, after data
 *   len   2 bytes  little-endian: captured bytes that follow (cut to what is
 *                  left of the input)
 *   data  len bytes
 * Every segment is a heap copy of exactly caplen bytes, so ASan sees
 * over-reads. infer(), first_kind(), redaction and the SQL helpers run on
 * each record too; finish() runs at the end. Emitted messages must be sane:
 * NUL-terminated fields, a kind, a direction, no credential bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/events.h"
#include "proto/postgresql.h"
#include "proto/proto.h"

extern const struct zt_proto_ops zt_postgresql_ops;

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
	if (m->pair != ZT_PAIR_FIFO && m->pair != ZT_PAIR_ONEWAY)
		abort();
	check_str(m->version, sizeof(m->version));
	check_str(m->request_type, sizeof(m->request_type));
	check_str(m->request_domain, sizeof(m->request_domain));
	check_str(m->request_resource, sizeof(m->request_resource));
	check_str(m->response_exception, sizeof(m->response_exception));
	if (m->attrs.n > ZT_ATTRS_MAX)
		abort();
	for (unsigned i = 0; i < m->attrs.n; i++) {
		check_str(m->attrs.a[i].key, sizeof(m->attrs.a[i].key));
		check_str(m->attrs.a[i].val, sizeof(m->attrs.a[i].val));
	}
	/* a response's class is ok/client/server error, or unknown when none of
	 * it could be read (lost sync) */
	if (m->kind == ZT_MSG_RESPONSE && m->status > ZT_RS_SERVER_ERROR)
		abort();
	if (m->kind == ZT_MSG_RESPONSE && m->status == ZT_RS_UNKNOWN && !(m->flags & ZT_MF_LOST_SYNC))
		abort();
}

static void feed_copy(void *state, struct zt_seg *seg, const uint8_t *p, uint32_t caplen, uint64_t len)
{
	uint8_t *buf = caplen ? malloc(caplen) : NULL;

	if (caplen) {
		if (!buf)
			abort();
		memcpy(buf, p, caplen);
	}
	seg->data = buf;
	seg->caplen = caplen;
	seg->len = len;
	zt_postgresql_ops.feed(state, seg, fuzz_emit, NULL);
	free(buf);
}

static void side_checks(const uint8_t *p, size_t n)
{
	uint8_t *b = n ? malloc(n) : NULL;
	char out[ZT_RESOURCE_LEN], kw[ZT_TYPE_LEN];

	if (n && !b)
		abort();
	if (n)
		memcpy(b, p, n);
	int c = zt_postgresql_ops.infer(b, n, NULL);
	if (c < 0 || c > 100)
		abort();
	(void)zt_postgresql_ops.first_kind(b, n);
	size_t r = zt_postgresql_ops.redact_payload(b, n);
	if (r > n || zt_postgresql_ops.redact_payload(b, n) != r)
		abort(); /* idempotent: a second pass finds the same bytes */
	size_t o = zt_pg_normalize((const char *)b, n, out, sizeof(out));
	if (o >= sizeof(out) || out[o] != '\0')
		abort();
	zt_pg_first_keyword((const char *)b, n, kw, sizeof(kw));
	check_str(kw, sizeof(kw));
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	void *state = calloc(1, zt_postgresql_ops.state_size);
	size_t off = 0;
	uint64_t t = 1000;

	if (!state)
		abort();
	zt_postgresql_ops.init(state);
	while (size - off >= 5) {
		uint8_t flags = data[off];
		uint16_t gap = (uint16_t)(data[off + 1] | data[off + 2] << 8);
		size_t len = (size_t)(data[off + 3] | data[off + 4] << 8);
		off += 5;
		if (len > size - off)
			len = size - off;
		const uint8_t *p = data + off;
		off += len;
		struct zt_seg seg = {
		    .enter_ns = t,
		    .exit_ns = t + 10,
		    .tid = 1 + (flags & 1),
		    .seq = (uint32_t)off,
		    .has_seq = true,
		    .dir = flags & 1,
		};
		t += 100;
		side_checks(p, len);
		if (flags & 2) {
			seg.eof = true;
			feed_copy(state, &seg, NULL, 0, 0);
			continue;
		}
		if ((flags & 4) && len > 1) {
			size_t cut = 1 + (size_t)gap % (len - 1);
			feed_copy(state, &seg, p, (uint32_t)cut, cut);
			feed_copy(state, &seg, p + cut, (uint32_t)(len - cut), len - cut + gap);
		} else {
			feed_copy(state, &seg, p, (uint32_t)len, len + gap);
		}
	}
	zt_postgresql_ops.finish(state, t, fuzz_emit, NULL);
	free(state);
	return 0;
}
