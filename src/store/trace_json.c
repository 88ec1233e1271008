/* SPDX-License-Identifier: MIT */
#include "store/trace_json.h"

#include <errno.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static json_t *str_or_null(const char *s)
{
	return s[0] ? json_string(s) : json_null();
}

json_t *zt_trace_summary_to_json(const struct zt_trace_summary *t)
{
	json_t *j = json_object();
	int err = !j;

	if (!j)
		return NULL;
	err |= json_object_set_new(j, "trace_id", json_string(t->trace_id));
	err |= json_object_set_new(j, "root_uid", str_or_null(t->root_uid));
	err |= json_object_set_new(j, "root_process", str_or_null(t->root_process));
	err |= json_object_set_new(j, "root_endpoint", str_or_null(t->root_endpoint));
	err |= json_object_set_new(j, "start_ns", json_integer((json_int_t)t->start_ns));
	err |= json_object_set_new(j, "duration_ns", json_integer((json_int_t)t->duration_ns));
	err |= json_object_set_new(j, "spans", json_integer(t->spans));
	err |= json_object_set_new(j, "errors", json_integer(t->errors));
	if (err) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* A text key into out[size]: null or absent is "", too long is -EINVAL. */
static int get_text(const json_t *o, const char *key, char *out, size_t size, bool required)
{
	const json_t *v = json_object_get(o, key);

	out[0] = '\0';
	if (!v || json_is_null(v))
		return required ? -EINVAL : 0;
	if (!json_is_string(v) || json_string_length(v) >= size ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return -EINVAL;
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int get_uint(const json_t *o, const char *key, uint64_t max, uint64_t *out)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
		return -EINVAL;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

int zt_trace_summary_from_json(const json_t *o, struct zt_trace_summary *t, char *err, size_t errsz)
{
	uint64_t spans = 0, errors = 0;
	const char *bad = NULL;

	memset(t, 0, sizeof(*t));
	if (!json_is_object(o))
		bad = "(not an object)";
	else if (get_text(o, "trace_id", t->trace_id, sizeof(t->trace_id), true))
		bad = "trace_id";
	else if (get_text(o, "root_uid", t->root_uid, sizeof(t->root_uid), false))
		bad = "root_uid";
	else if (get_text(o, "root_process", t->root_process, sizeof(t->root_process), false))
		bad = "root_process";
	else if (get_text(o, "root_endpoint", t->root_endpoint, sizeof(t->root_endpoint), false))
		bad = "root_endpoint";
	else if (get_uint(o, "start_ns", INT64_MAX, &t->start_ns))
		bad = "start_ns";
	else if (get_uint(o, "duration_ns", INT64_MAX, &t->duration_ns))
		bad = "duration_ns";
	else if (get_uint(o, "spans", UINT32_MAX, &spans))
		bad = "spans";
	else if (get_uint(o, "errors", UINT32_MAX, &errors))
		bad = "errors";
	if (bad) {
		snprintf(err, errsz, "trace summary: invalid '%s'", bad);
		return -EINVAL;
	}
	t->spans = (uint32_t)spans;
	t->errors = (uint32_t)errors;
	return 0;
}
