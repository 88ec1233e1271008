/* SPDX-License-Identifier: MIT */
/* store_status.c - see store_status.h. */
#include "store/store_status.h"

#include <stdio.h>
#include <time.h>

static int get(struct zt_store *st, struct zt_store_status *s)
{
	return st && st->ops->status && st->ops->status(st, s) == 0;
}

int zt_store_status_json(struct zt_store *st, json_t *obj)
{
	struct zt_store_status s = {0};

	if (!obj || !get(st, &s))
		return 0;
	json_object_set_new(obj, "buffer",
			    json_pack("{s:I, s:I, s:I, s:I}", "spans", (json_int_t)s.buffered_spans, "bytes",
				      (json_int_t)s.buffered_bytes, "bound_bytes", (json_int_t)s.buffer_bound,
				      "dropped", (json_int_t)s.buffer_dropped));
	json_object_set_new(obj, "failing_since",
			    s.failing_since_ns ? json_real((double)s.failing_since_ns / 1e9) : json_null());
	json_object_set_new(obj, "outages", json_integer((json_int_t)s.outages));
	json_object_set_new(obj, "last_error", json_string(s.last_error));
	return 1;
}

int zt_store_status_line(struct zt_store *st, int final, char *buf, size_t size)
{
	struct zt_store_status s = {0};
	struct timespec now;

	if (!get(st, &s))
		return 0;
	if (final) {
		if (!s.outages && !s.buffered_spans)
			return 0;
		snprintf(buf, size,
			 "store: %llu outages, %llu spans refused by the buffer bound (%llu MiB), %llu still buffered%s%.300s",
			 (unsigned long long)s.outages, (unsigned long long)s.buffer_dropped,
			 (unsigned long long)(s.buffer_bound >> 20), (unsigned long long)s.buffered_spans,
			 s.last_error[0] ? "; last error: " : "", s.last_error);
		return 1;
	}
	if (!s.failing_since_ns)
		return 0;
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(buf, size, "store failing for %.0f s: %llu spans buffered (%.1f of %llu MiB), %llu dropped",
		 ((double)now.tv_sec * 1e9 + (double)now.tv_nsec - (double)s.failing_since_ns) / 1e9,
		 (unsigned long long)s.buffered_spans, (double)s.buffered_bytes / (1 << 20),
		 (unsigned long long)(s.buffer_bound >> 20), (unsigned long long)s.buffer_dropped);
	return 1;
}
