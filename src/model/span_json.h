/* SPDX-License-Identifier: MIT */
/*
 * span_json.h - a span as a JSON object, generated from the field table
 * (span.h): one key per field, in table order, with the field's null rule
 * (JSON null). u64 values above INT64_MAX (only ids get there) are decimal
 * strings; flags are an array of names; attributes an object.
 *
 * Return convention: zt_span_to_json returns a new reference (the caller
 * json_decref()s it) or NULL when out of memory; zt_span_print_json returns
 * 0 or a negative errno.
 */
#ifndef ZT_MODEL_SPAN_JSON_H
#define ZT_MODEL_SPAN_JSON_H

#include <stdio.h>

#include <jansson.h>

#include "model/span.h"

json_t *zt_span_to_json(const struct zt_span *s);
/* Prints the span as one compact JSON object followed by '\n'. */
int zt_span_print_json(FILE *f, const struct zt_span *s);

#endif /* ZT_MODEL_SPAN_JSON_H */
