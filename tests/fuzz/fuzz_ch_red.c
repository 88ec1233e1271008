/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the ClickHouse backend's RED reply decoder
 * (src/store/store_clickhouse_rollup.c): RowBinary rollup rows as a
 * ClickHouse server would send them (the hist column is hist.h's sparse
 * blob, decoded as hostile), merged into the groups of a query whose kind,
 * resolution and step come from the first byte. Every merged row is then
 * emitted. Seeds in tests/data/fuzz/ch_red/ (see its README).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/clickhouse_int.h"
#include "store/red_agg.h"

static int emit_cb(void *ctx, const struct zt_rollup_row *row)
{
	(void)ctx;
	if (row->v.hist.count > UINT64_MAX / 2 && row->v.requests == 0)
		return 0; /* read every field */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zt_red_query q = {0};
	struct zt_red_agg *a;
	size_t used = 0;

	if (size < 1)
		return 0;
	q.kind = data[0] % ZT_RK__COUNT;
	q.res_s = data[0] & 0x10 ? ZT_ROLLUP_RES_COARSE : ZT_ROLLUP_RES_FINE;
	q.step_ns = data[0] & 0x20 ? 60000000000ull : 0;
	q.by = (uint8_t)((data[0] >> 6) % 3);
	a = zt_red_agg_new(&q);
	if (!a)
		return 0;
	(void)zt_ch_red_decode(a, (const char *)data + 1, size - 1, &used);
	if (used > size - 1)
		abort();
	(void)zt_red_agg_emit(a, emit_cb, NULL);
	zt_red_agg_free(a);
	return 0;
}
