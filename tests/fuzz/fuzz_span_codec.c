/* SPDX-License-Identifier: MIT */
/*
 * fuzz_span_codec.c - libFuzzer target for the span codec (model/span_codec.h)
 * on a damaged store block: the records of the input, one after another, as a
 * block reader walks them. Each record's keys (zt_span_keys) and the record
 * (zt_span_decode) are read without a read past the input, refused with
 * -EINVAL or accepted; an accepted record agrees with its keys, and its span
 * encodes to a record that decodes to the same span, field by field
 * (tests/unit/span_eq.h), and encodes to the same bytes again; the record
 * is refused with its body one byte shorter (no byte of it goes unread). Seeds in
 * tests/data/fuzz/span_codec/ (README there).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/span_codec.h"
#include "tests/unit/span_eq.h"

static void check_record(const uint8_t *in, size_t len, const struct zt_span *a, long n)
{
	static struct zt_span b, scratch;
	static uint8_t enc[ZT_SPAN_CODEC_MAX], enc2[ZT_SPAN_CODEC_MAX];
	struct zt_span_keys k;
	long m, m2;

	/* the keys of an accepted record are its span's */
	if (zt_span_keys(in, len, &k) || k.size != (size_t)n || (size_t)n > len)
		abort();
	if (k.start_ns != a->start_ns || k.uid_len >= ZT_UID_LEN || k.trace_len >= ZT_TRACE_ID_LEN ||
	    memcmp(k.uid, a->span_uid, k.uid_len) || a->span_uid[k.uid_len] ||
	    memcmp(k.trace, a->trace_id, k.trace_len) || a->trace_id[k.trace_len])
		abort();
	/* re-encoded, it decodes to itself */
	m = zt_span_encode(a, enc, sizeof(enc));
	if (m <= 0 || (size_t)m > sizeof(enc))
		abort();
	memset(&b, 0x5a, sizeof(b));
	if (zt_span_decode(enc, (size_t)m, &b) != m || span_diff(a, &b) >= 0)
		abort();
	/* every byte of the body is the span's: the body one byte shorter
	 * (in a 3-byte length prefix) is refused */
	{
		size_t pre = (size_t)((const uint8_t *)k.uid - 9 - in), body = (size_t)n - pre - 1;
		enc2[0] = (uint8_t)(body | 0x80);
		enc2[1] = (uint8_t)(body >> 7 | 0x80);
		enc2[2] = (uint8_t)(body >> 14);
		memcpy(enc2 + 3, in + pre, body);
		if (zt_span_decode(enc2, 3 + body, &scratch) != -EINVAL)
			abort();
	}
	/* and that form is canonical: the same bytes again */
	m2 = zt_span_encode(&b, enc2, sizeof(enc2));
	if (m2 != m || memcmp(enc, enc2, (size_t)m))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct zt_span a;
	size_t off = 0;

	while (off < size) {
		struct zt_span_keys k;
		int kr = zt_span_keys(data + off, size - off, &k);
		long n;

		if (kr != 0 && kr != -EINVAL)
			abort();
		if (kr == 0 &&
		    (k.size > size - off || (const uint8_t *)k.trace + k.trace_len > data + off + k.size))
			abort();
		n = zt_span_decode(data + off, size - off, &a);
		if (n == -EINVAL)
			break;
		if (n <= 0)
			abort();
		check_record(data + off, size - off, &a, n);
		off += (size_t)n;
	}
	return 0;
}
