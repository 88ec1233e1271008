/* SPDX-License-Identifier: MIT */
/*
 * span_json.h - a span as a JSON object, with the keys of the command-line
 * contract (DESIGN.md) plus netns, version, l4_protocol, x_request_id_resp
 * and flags. Unknown values (the null convention of span.h) are JSON null.
 *
 * Return convention: zt_span_to_json returns a new reference (the caller
 * json_decref()s it) or NULL when out of memory; zt_span_print_json returns
 * 0 or a negative errno.
 */
#ifndef ZT_SPAN_JSON_H
#define ZT_SPAN_JSON_H

#include <stdio.h>

#include <jansson.h>

#include "session/span.h"

json_t *zt_span_to_json(const struct zt_span *s);
/* Prints the span as one compact JSON object followed by '\n'. */
int zt_span_print_json(FILE *f, const struct zt_span *s);

#endif /* ZT_SPAN_JSON_H */
