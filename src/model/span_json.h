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
/* The inverse of zt_span_to_json (a span read back from the HTTP API):
 * fills *s from the object o. Missing keys and JSON null leave the field
 * null; unknown keys are ignored (a newer server may send more). -EINVAL
 * when a value does not fit its field (wrong type, text too long for the
 * field, unknown enum name or flag, a number out of range), with the
 * field's name in err. */
int zt_span_from_json(const json_t *o, struct zt_span *s, char *err, size_t errsz);
/* Prints the span as one compact JSON object followed by '\n'. */
int zt_span_print_json(FILE *f, const struct zt_span *s);

#endif /* ZT_MODEL_SPAN_JSON_H */
