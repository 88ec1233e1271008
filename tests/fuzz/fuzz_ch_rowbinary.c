/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the ClickHouse backend's RowBinary span decoder
 * (src/store/ch_rowbinary.c), which reads what a ClickHouse server sends:
 * rows are decoded one after the other from the input as a reply would
 * arrive, and every decoded span must encode again to a row that decodes to
 * the same span (the codec's round trip). Seeds in tests/data/fuzz/ch_rowbinary/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/clickhouse_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct zt_span s, t;
	struct zt_ch_buf b = {0};
	size_t at = 0;

	while (at < size) {
		long n = zt_ch_decode_span((const char *)data + at, size - at, &s);
		long m;

		if (n <= 0)
			break;
		at += (size_t)n;
		b.len = 0;
		if (zt_ch_encode_span(&b, &s))
			abort();
		m = zt_ch_decode_span(b.p, b.len, &t);
		if (m != (long)b.len || strcmp(s.span_uid, t.span_uid) || s.start_ns != t.start_ns ||
		    s.flags != t.flags || strcmp(s.endpoint, t.endpoint) || s.attributes.n != t.attributes.n)
			abort();
	}
	/* the small readers of the other replies */
	{
		uint64_t v;
		char str[40];
		(void)zt_ch_get_u64((const char *)data, size, &v);
		(void)zt_ch_get_str((const char *)data, size, str, sizeof(str));
	}
	free(b.p);
	return 0;
}
