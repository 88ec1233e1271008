/* SPDX-License-Identifier: MIT */
/*
 * fuzz_trace_hdr.c - libFuzzer target for trace-context header decoding
 * (proto/trace_hdr.h).
 *
 * Input: header lines separated by '\n', each "name:value" (no colon: the
 * whole line is a name with an empty value). They are offered in order, as
 * a parser would, then resolved. Every name and value is a heap copy of
 * exactly its length so ASan sees a read past either.
 * Checks: the ids are NUL-terminated in their fields; span ids are
 * lowercase hex; a trace id is printable; there is no span without a trace;
 * resolve answers true exactly when it found a trace id, and again the same
 * (it must not depend on anything but the offered headers).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/trace_hdr.h"

#define MAX_HDRS 32

static char *copy_exact(const uint8_t *p, size_t n)
{
	char *c = malloc(n ? n : 1);

	if (!c)
		abort();
	memcpy(c, p, n);
	return c;
}

static void check_hex(const char *s, size_t cap)
{
	if (strnlen(s, cap) >= cap)
		abort();
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *names[MAX_HDRS], *vals[MAX_HDRS];
	size_t nlen[MAX_HDRS], vlen[MAX_HDRS], n = 0;
	struct zt_trace_hdrs th;
	struct zt_trace_ids a, b;

	for (size_t off = 0; off < size && n < MAX_HDRS;) {
		const uint8_t *line = data + off;
		const uint8_t *nl = memchr(line, '\n', size - off);
		size_t len = nl ? (size_t)(nl - line) : size - off;
		const uint8_t *colon = memchr(line, ':', len);
		size_t nl_len = colon ? (size_t)(colon - line) : len;

		names[n] = copy_exact(line, nl_len);
		nlen[n] = nl_len;
		vlen[n] = colon ? len - nl_len - 1 : 0;
		vals[n] = copy_exact(colon ? colon + 1 : line, vlen[n]);
		n++;
		off += len + 1;
	}

	zt_trace_hdrs_init(&th);
	for (size_t i = 0; i < n; i++) {
		(void)zt_trace_hdrs_offer(&th, names[i], nlen[i], vals[i], vlen[i]);
		(void)zt_is_request_id_header(names[i], nlen[i]);
	}
	memset(&a, 0xa5, sizeof(a));
	bool ok = zt_trace_hdrs_resolve(&th, &a);
	if (strnlen(a.trace_id, sizeof(a.trace_id)) >= sizeof(a.trace_id))
		abort();
	for (const char *p = a.trace_id; *p; p++)
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
			abort();
	check_hex(a.span_id, sizeof(a.span_id));
	check_hex(a.parent_span_id, sizeof(a.parent_span_id));
	if (ok != (a.trace_id[0] != '\0'))
		abort();
	if (!a.trace_id[0] && (a.span_id[0] || a.parent_span_id[0]))
		abort();
	memset(&b, 0x5a, sizeof(b));
	if (zt_trace_hdrs_resolve(&th, &b) != ok || memcmp(&a, &b, sizeof(a)) != 0)
		abort();

	for (size_t i = 0; i < n; i++) {
		free(names[i]);
		free(vals[i]);
	}
	return 0;
}
