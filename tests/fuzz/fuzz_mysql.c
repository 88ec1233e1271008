/* SPDX-License-Identifier: MIT */
/*
 * fuzz_mysql.c - libFuzzer target for the MySQL / MariaDB parser.
 *
 * Input: a sequence of records, each one syscall of a connection:
 *   byte 0     bit 0: direction (0 egress, 1 ingress)
 *              bit 1: an EOF segment of that direction follows
 *              bit 2: the capture is cut: caplen = len * (bits 4-7) / 16
 *              bit 3: a gap of (bits 4-7) * 97 bytes follows the data
 *   bytes 1-2  data length, little-endian (cut to what remains)
 *   data
 * Seeds (tests/data/fuzz/mysql/) are the golden recordings' streams in this
 * form. Every segment is a heap copy of exactly caplen bytes so ASan sees
 * over-reads. The pure helpers (normalisation, keyword, redaction,
 * inference) run on the raw input too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/events.h"
#include "proto/mysql.h"
#include "proto/proto.h"

extern const struct zt_proto_ops zt_mysql_ops;

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
	for (unsigned i = 0; i < m->attrs.n; i++) {
		check_str(m->attrs.a[i].key, sizeof(m->attrs.a[i].key));
		check_str(m->attrs.a[i].val, sizeof(m->attrs.a[i].val));
	}
	if (m->end_ns < m->start_ns && m->dir == ZT_DIR_EGRESS)
		abort();
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
	zt_mysql_ops.feed(state, seg, fuzz_emit, NULL);
	free(buf);
}

static void fuzz_pure(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);
	char out[ZT_RESOURCE_LEN], kw[ZT_TYPE_LEN];
	bool cut;

	if (!buf)
		abort();
	memcpy(buf, data, size);
	size_t osz = size ? 1 + data[0] % sizeof(out) : sizeof(out);
	size_t n = zt_mysql_normalize((const char *)buf, size, out, osz, &cut);
	if (n >= osz || out[n] != '\0' || strlen(out) != n)
		abort();
	n = zt_mysql_keyword((const char *)buf, size, kw, sizeof(kw));
	if (n >= sizeof(kw) || kw[n] != '\0')
		abort();
	(void)zt_mysql_looks_sql(buf, size);
	char ep[64];
	size_t epsz = size ? data[size - 1] % sizeof(ep) : sizeof(ep);
	n = zt_mysql_endpoint("SELECT", out, ep, epsz);
	if (epsz && (n >= epsz || ep[n] != '\0'))
		abort();
	(void)zt_mysql_ops.infer(buf, size, NULL);
	(void)zt_mysql_ops.first_kind(buf, size);
	/* redaction: in place, length-preserving, only '*' written */
	size_t red = zt_mysql_redact(buf, size);
	size_t changed = 0;
	for (size_t i = 0; i < size; i++) {
		if (buf[i] != data[i]) {
			if (buf[i] != '*')
				abort();
			changed++;
		}
	}
	if (changed > red || red > size)
		abort();
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t seq[2] = {1, 0x7fffff00u};
	uint64_t t = 1;
	void *state;

	fuzz_pure(data, size);
	state = calloc(1, zt_mysql_ops.state_size); /* zeroed, as the session does */
	if (!state)
		abort();
	zt_mysql_ops.init(state);
	for (size_t off = 0; off + 3 <= size;) {
		uint8_t ctl = data[off];
		size_t n = (size_t)data[off + 1] | (size_t)data[off + 2] << 8;
		off += 3;
		if (n > size - off)
			n = size - off;
		uint8_t dir = ctl & 1;
		uint32_t cap = (uint32_t)n;
		uint64_t gap = 0;
		if (ctl & 4)
			cap = (uint32_t)(n * (ctl >> 4) / 16);
		if (ctl & 8)
			gap = (uint64_t)(ctl >> 4) * 97;
		struct zt_seg seg = {
		    .len = n + gap,
		    .enter_ns = t,
		    .exit_ns = t + 5,
		    .tid = 7,
		    .seq = seq[dir],
		    .has_seq = true,
		    .dir = dir,
		};
		if (seg.len > 0)
			feed_copy(state, &seg, data + off, cap);
		seq[dir] += (uint32_t)seg.len;
		t += 10;
		off += n;
		if (ctl & 2) {
			struct zt_seg eof = {.enter_ns = t, .exit_ns = t + 1, .dir = dir, .eof = true};
			feed_copy(state, &eof, NULL, 0);
		}
	}
	zt_mysql_ops.finish(state, t, fuzz_emit, NULL);
	free(state);
	return 0;
}
