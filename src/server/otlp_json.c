/* SPDX-License-Identifier: MIT */
/*
 * otlp_json.c - ExportTraceServiceRequest in OTLP/JSON (jansson) -> spans.
 *
 * OTLP/JSON is the protobuf JSON mapping with three exceptions the spec
 * makes: trace and span ids are hex (not base64), enums are integers, keys
 * are lowerCamelCase. As the protobuf JSON mapping asks of parsers, the
 * original snake_case names, enum names and 64-bit integers given either as
 * strings or as numbers are accepted too; unknown fields are ignored.
 * jansson bounds nesting itself (its parser's depth limit, 2048).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/otlp.h"
#include "server/otlp_map.h"

/* A member by its lowerCamelCase name, or its snake_case one. */
static json_t *get(const json_t *o, const char *camel, const char *snake)
{
	json_t *v = json_object_get(o, camel);

	return v || !snake ? v : json_object_get(o, snake);
}

static size_t arr_size(const json_t *a)
{
	return json_is_array(a) ? json_array_size(a) : 0;
}

/* A uint64 from a number or a decimal string; false when neither. */
static bool get_u64(const json_t *v, uint64_t *out)
{
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*out = (uint64_t)json_integer_value(v);
		return true;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t n = json_string_length(v);
		uint64_t x = 0;
		if (n == 0 || n > 20)
			return false;
		for (size_t i = 0; i < n; i++) {
			if (s[i] < '0' || s[i] > '9' || x > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
				return false;
			x = x * 10 + (uint64_t)(s[i] - '0');
		}
		*out = x;
		return true;
	}
	if (!v) {
		*out = 0;
		return true;
	}
	return false;
}

/* An enum: an integer, or its name from names[] (index = value). */
static int get_enum(const json_t *v, const char *const *names, int count)
{
	if (json_is_integer(v))
		return (int)json_integer_value(v) >= 0 && json_integer_value(v) < 1000 ? (int)json_integer_value(v) : 0;
	if (json_is_string(v))
		for (int i = 0; i < count; i++)
			if (strcmp(json_string_value(v), names[i]) == 0)
				return i;
	return 0;
}

static void val_of(const json_t *any, struct otlp_val *v)
{
	json_t *x;
	uint64_t u;

	memset(v, 0, sizeof(*v));
	if (!json_is_object(any))
		return;
	if ((x = get(any, "stringValue", "string_value")) && json_is_string(x)) {
		v->type = OTLP_V_STR;
		v->s = json_string_value(x);
		v->n = json_string_length(x);
	} else if ((x = get(any, "intValue", "int_value"))) {
		if (json_is_integer(x)) {
			v->type = OTLP_V_INT;
			v->i = json_integer_value(x);
		} else if (json_is_string(x) && json_string_value(x)[0] == '-') {
			/* a negative int64 as a string */
			json_t *mag = json_string(json_string_value(x) + 1);
			if (mag && get_u64(mag, &u) && u <= INT64_MAX) {
				v->type = OTLP_V_INT;
				v->i = -(int64_t)u;
			}
			json_decref(mag);
		} else if (get_u64(x, &u) && u <= INT64_MAX) {
			v->type = OTLP_V_INT;
			v->i = (int64_t)u;
		}
	} else if ((x = get(any, "doubleValue", "double_value")) && json_is_number(x)) {
		v->type = OTLP_V_DOUBLE;
		v->d = json_number_value(x);
	} else if ((x = get(any, "boolValue", "bool_value")) && json_is_boolean(x)) {
		v->type = OTLP_V_BOOL;
		v->i = json_is_true(x);
	} else if (json_object_size(any)) {
		v->type = OTLP_V_OTHER;
	}
}

static void attrs_each(const json_t *attrs, void (*fn)(void *, const char *, size_t, const struct otlp_val *),
		       void *arg)
{
	struct otlp_val v;

	for (size_t i = 0; i < arr_size(attrs) && i < ZT_OTLP_MAX_ATTRS; i++) {
		json_t *kv = json_array_get(attrs, i), *k = json_object_get(kv, "key");
		if (!json_is_string(k))
			continue;
		val_of(json_object_get(kv, "value"), &v);
		fn(arg, json_string_value(k), json_string_length(k), &v);
	}
}

static void res_attr(void *arg, const char *k, size_t n, const struct otlp_val *v)
{
	otlp_res_attr(arg, k, n, v);
}

static void span_attr(void *arg, const char *k, size_t n, const struct otlp_val *v)
{
	otlp_span_attr(arg, k, n, v);
}

static const char *str_or_empty(const json_t *v, size_t *n)
{
	*n = json_is_string(v) ? json_string_length(v) : 0;
	return json_is_string(v) ? json_string_value(v) : "";
}

static void map_span(struct otlp_sb *b, const json_t *sp)
{
	static const char *const kinds[] = {"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
					    "SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"};
	static const char *const codes[] = {"STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"};
	size_t tn, sn, pn, nn;
	const char *t = str_or_empty(get(sp, "traceId", "trace_id"), &tn);
	const char *s = str_or_empty(get(sp, "spanId", "span_id"), &sn);
	const char *p = str_or_empty(get(sp, "parentSpanId", "parent_span_id"), &pn);
	const char *name = str_or_empty(json_object_get(sp, "name"), &nn);
	uint64_t start, end;
	json_t *st;

	if (!json_is_object(sp)) {
		otlp_span_bad(b, "a span is not a JSON object");
		return;
	}
	otlp_span_ids_hex(b, t, tn, s, sn, p, pn);
	otlp_span_set_name(b, name, nn);
	b->kind = get_enum(json_object_get(sp, "kind"), kinds, 6);
	if (!get_u64(get(sp, "startTimeUnixNano", "start_time_unix_nano"), &start) ||
	    !get_u64(get(sp, "endTimeUnixNano", "end_time_unix_nano"), &end))
		otlp_span_bad(b, "start or end time is not a uint64");
	else
		otlp_span_set_times(b, start, end);
	if (json_is_object(st = json_object_get(sp, "status"))) {
		size_t mn;
		const char *msg = str_or_empty(json_object_get(st, "message"), &mn);
		otlp_span_set_status(b, get_enum(json_object_get(st, "code"), codes, 3), msg, mn);
	}
	attrs_each(json_object_get(sp, "attributes"), span_attr, b);
}

int zt_otlp_decode_json(const char *buf, size_t len, const char *host, zt_otlp_emit_fn emit, void *ctx,
			struct zt_otlp_result *r, char *err, size_t errsz)
{
	json_error_t je;
	json_t *root, *rss;
	struct otlp_sb *b;
	struct otlp_res res;
	uint64_t nspans = 0;

	memset(r, 0, sizeof(*r));
	if (len > ZT_OTLP_MAX_BODY) {
		snprintf(err, errsz, "request body of %zu bytes exceeds %u", len, ZT_OTLP_MAX_BODY);
		return -EMSGSIZE;
	}
	root = json_loadb(buf, len, 0, &je);
	if (!root) {
		snprintf(err, errsz, "invalid JSON at line %d column %d: %s", je.line, je.column, je.text);
		return -EINVAL;
	}
	rss = get(root, "resourceSpans", "resource_spans");
	if (!json_is_object(root) || (rss && !json_is_array(rss))) {
		json_decref(root);
		snprintf(err, errsz, "not an ExportTraceServiceRequest: expected {\"resourceSpans\": [...]}");
		return -EINVAL;
	}
	b = malloc(sizeof(*b));
	if (!b) {
		json_decref(root);
		snprintf(err, errsz, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < arr_size(rss); i++) {
		json_t *rs = json_array_get(rss, i), *sss = get(rs, "scopeSpans", "scope_spans");
		otlp_res_init(&res, host);
		attrs_each(json_object_get(json_object_get(rs, "resource"), "attributes"), res_attr, &res);
		for (size_t s = 0; s < arr_size(sss); s++) {
			json_t *ss = json_array_get(sss, s), *spans = json_object_get(ss, "spans");
			size_t scn;
			const char *scope = str_or_empty(json_object_get(json_object_get(ss, "scope"), "name"), &scn);
			for (size_t k = 0; k < arr_size(spans); k++) {
				if (++nspans > ZT_OTLP_MAX_SPANS) {
					otlp_reject(r, "more spans in one request than the bound");
					continue;
				}
				otlp_span_begin(b, &res, scope, scn);
				map_span(b, json_array_get(spans, k));
				otlp_span_end(b, emit, ctx, r);
			}
		}
	}
	free(b);
	json_decref(root);
	return 0;
}
