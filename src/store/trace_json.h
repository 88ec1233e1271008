/* SPDX-License-Identifier: MIT */
/*
 * trace_json.h - a trace summary (store.h) as JSON, the one shape
 * `ztrace traces --json` prints and /api/v1/traces answers: trace_id,
 * root_uid, root_process, root_endpoint (null when empty), start_ns,
 * duration_ns, spans, errors. And back, for `ztrace traces --server`.
 *
 * Return convention: _to_json returns a new reference or NULL (out of
 * memory); _from_json returns 0 or -EINVAL naming the key in err.
 */
#ifndef ZT_STORE_TRACE_JSON_H
#define ZT_STORE_TRACE_JSON_H

#include <stddef.h>

#include <jansson.h>

#include "store/store.h"

json_t *zt_trace_summary_to_json(const struct zt_trace_summary *t);
int zt_trace_summary_from_json(const json_t *o, struct zt_trace_summary *t, char *err, size_t errsz);

#endif /* ZT_STORE_TRACE_JSON_H */
