/* SPDX-License-Identifier: MIT */
/* The stored RED histogram (trace/hist.h) read back from a possibly
 * damaged file: the decoder must reject or accept without reading past the
 * input, leave the histogram untouched on rejection, and an accepted
 * histogram must encode back to the same bytes (the form is canonical)
 * and give quantiles without crashing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trace/hist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct zt_hist h, before;
	static uint8_t enc[ZT_HIST_ENC_MAX];
	size_t n;

	memset(&h, 0, sizeof(h));
	zt_hist_add(&h, 1000, 3);
	before = h;
	if (zt_hist_decode_merge(&h, data, size) != 0) {
		if (memcmp(&h, &before, sizeof(h)))
			abort();
		return 0;
	}
	memset(&h, 0, sizeof(h));
	if (zt_hist_decode_merge(&h, data, size) != 0)
		abort();
	n = zt_hist_encode(&h, enc, sizeof(enc));
	if (n != size || memcmp(enc, data, size))
		abort();
	(void)zt_hist_quantile(&h, 0.5);
	(void)zt_hist_quantile(&h, 0.99);
	return 0;
}
