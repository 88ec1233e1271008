/* SPDX-License-Identifier: MIT */
/*
 * store_status.h - a store's write state (store.h, the status op) as the
 * commands show it: in /api/v1/status's "store" object and in `up`'s
 * status and stop lines. A backend without the op shows nothing more.
 *
 * Return convention: 1 when something was written, 0 when there is
 * nothing to say. Thread-safe as the status op is.
 */
#ifndef ZT_STORE_STATUS_H
#define ZT_STORE_STATUS_H

#include <jansson.h>
#include <stddef.h>

#include "store/store.h"

/* Adds "buffer" {spans, bytes, bound_bytes, dropped}, "failing_since"
 * (epoch seconds, null while writing), "outages" and "last_error" to obj. */
int zt_store_status_json(struct zt_store *st, json_t *obj);
/* One line for a person: while failing (final = 0), or the outages of the
 * whole run (final = 1). No newline. */
int zt_store_status_line(struct zt_store *st, int final, char *buf, size_t size);

#endif /* ZT_STORE_STATUS_H */
