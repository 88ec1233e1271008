/* SPDX-License-Identifier: MIT */
#include "model/span_json.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

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

/* Flag names (the JSON "flags" array) -> bits; -EINVAL for a name not ours. */
static int flags_from_json(const json_t *a, uint32_t *out)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {
#define X(id, bit, name) {ZT_SPAN_##id, name},
	    ZT_SPAN_FLAG_LIST(X)
#undef X
	};
	size_t i;
	json_t *v;

	if (!json_is_array(a))
		return -EINVAL;
	json_array_foreach(a, i, v) {
		size_t k;

		if (!json_is_string(v))
			return -EINVAL;
		for (k = 0; k < sizeof(names) / sizeof(names[0]); k++)
			if (names[k].name && !strcmp(names[k].name, json_string_value(v)))
				break;
		if (k == sizeof(names) / sizeof(names[0]))
			return -EINVAL;
		*out |= names[k].bit;
	}
	return 0;
}

/* One field's JSON value -> zt_val for zt_span_set; -EINVAL when the JSON
 * type is not the field's. */
static int val_from_json(const struct zt_field *d, const json_t *j, struct zt_val *v)
{
	memset(v, 0, offsetof(struct zt_val, buf));
	switch (d->kind) {
	case ZT_FK_STR:
		if (!json_is_string(j) || json_string_length(j) >= d->size ||
		    strlen(json_string_value(j)) != json_string_length(j))
			return -EINVAL; /* too long, or a NUL inside */
		v->type = ZT_VAL_TEXT;
		v->s = json_string_value(j);
		return 0;
	case ZT_FK_IP:
	case ZT_FK_TAP:
	case ZT_FK_L7:
	case ZT_FK_L4:
	case ZT_FK_RSTATUS:
	case ZT_FK_LINK:
		if (!json_is_string(j))
			return -EINVAL;
		v->type = ZT_VAL_TEXT;
		v->s = json_string_value(j);
		return 0;
	case ZT_FK_ATTRS: {
		char *text;
		size_t n;

		if (!json_is_object(j))
			return -EINVAL;
		text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (!text)
			return -EINVAL;
		n = strlen(text);
		if (n >= sizeof(v->buf)) {
			free(text);
			return -EINVAL;
		}
		memcpy(v->buf, text, n + 1);
		free(text);
		v->type = ZT_VAL_TEXT;
		v->s = v->buf;
		return 0;
	}
	case ZT_FK_BOOL:
		if (!json_is_boolean(j))
			return -EINVAL;
		v->type = ZT_VAL_INT;
		v->u = json_is_true(j);
		return 0;
	default:
		break;
	}
	/* integers: u64 above INT64_MAX come as decimal strings */
	v->type = ZT_VAL_INT;
	if (json_is_integer(j)) {
		json_int_t x = json_integer_value(j);
		if (x < 0 && d->kind != ZT_FK_I32N)
			return -EINVAL;
		v->u = (uint64_t)x;
		v->is_signed = d->kind == ZT_FK_I32N;
		return 0;
	}
	if (json_is_string(j) && (d->kind == ZT_FK_U64 || d->kind == ZT_FK_U64Z)) {
		const char *t = json_string_value(j);
		uint64_t x = 0;

		if (!*t)
			return -EINVAL;
		for (; *t; t++) {
			if (*t < '0' || *t > '9' || x > (UINT64_MAX - (uint64_t)(*t - '0')) / 10)
				return -EINVAL;
			x = x * 10 + (uint64_t)(*t - '0');
		}
		v->u = x;
		return 0;
	}
	return -EINVAL;
}

int zt_span_from_json(const json_t *o, struct zt_span *s, char *err, size_t errsz)
{
	struct zt_val *v;
	int ret = 0;

	zt_span_clear(s);
	if (!json_is_object(o)) {
		snprintf(err, errsz, "a span is a JSON object");
		return -EINVAL;
	}
	v = malloc(sizeof(*v));
	if (!v) {
		snprintf(err, errsz, "out of memory");
		return -ENOMEM;
	}
	for (int f = 0; f < ZT_F__COUNT; f++) {
		const struct zt_field *d = &zt_span_fields[f];
		const json_t *j = json_object_get(o, d->name);
		int rc;

		if (!j || json_is_null(j))
			continue;
		if (d->kind == ZT_FK_FLAGS) /* OR: seq fields set HAS_SEQ bits already */
			rc = flags_from_json(j, &s->flags);
		else
			rc = val_from_json(d, j, v) ? -EINVAL : zt_span_set(s, (enum zt_span_field)f, v);
		if (rc) {
			snprintf(err, errsz, "span field '%s': invalid value", d->name);
			ret = -EINVAL;
			break;
		}
	}
	free(v);
	return ret;
}
