/* SPDX-License-Identifier: MIT */
#include "model/span_json.h"

#include <errno.h>
#include <inttypes.h>

/*
 * JSON integers are int64 in jansson. A u64 above INT64_MAX is given as a
 * decimal string: a double would silently change it.
 */
static json_t *u64_json(uint64_t v)
{
	char buf[24];

	if (v <= INT64_MAX)
		return json_integer((json_int_t)v);
	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return json_string(buf);
}

static json_t *flags_json(uint32_t flags)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {
#define X(id, bit, name) {ZT_SPAN_##id, name},
	    ZT_SPAN_FLAG_LIST(X)
#undef X
	};
	json_t *a = json_array();

	for (size_t i = 0; a && i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].name && (flags & names[i].bit))
			json_array_append_new(a, json_string(names[i].name));
	return a;
}

static json_t *attrs_json(const struct zt_attrs *a)
{
	json_t *o = json_object();

	for (unsigned i = 0; o && i < a->n && i < ZT_ATTRS_MAX; i++)
		json_object_set_new(o, a->a[i].key, json_string(a->a[i].val));
	return o;
}

json_t *zt_span_to_json(const struct zt_span *s)
{
	json_t *o = json_object();
	struct zt_val v;
	int err = 0;

	if (!o)
		return NULL;
	for (int f = 0; f < ZT_F__COUNT; f++) {
		const struct zt_field *d = &zt_span_fields[f];
		json_t *j;

		zt_span_get(s, (enum zt_span_field)f, &v);
		if (d->kind == ZT_FK_FLAGS)
			j = flags_json(s->flags);
		else if (v.type == ZT_VAL_NULL)
			j = json_null();
		else if (d->kind == ZT_FK_ATTRS)
			j = attrs_json(&s->attributes);
		else if (d->kind == ZT_FK_BOOL)
			j = json_boolean(v.u);
		else if (v.type == ZT_VAL_TEXT)
			j = json_string(v.s);
		else if (v.is_signed)
			j = json_integer((json_int_t)(int64_t)v.u);
		else
			j = u64_json(v.u);
		/* json_object_set_new fails (and frees the value) on NULL */
		err |= json_object_set_new(o, d->name, j);
	}
	if (err) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int zt_span_print_json(FILE *f, const struct zt_span *s)
{
	json_t *o = zt_span_to_json(s);
	int ret = 0;

	if (!o)
		return -ENOMEM;
	if (json_dumpf(o, f, JSON_COMPACT | JSON_PRESERVE_ORDER) < 0 || fputc('\n', f) == EOF)
		ret = -EIO;
	json_decref(o);
	return ret;
}
