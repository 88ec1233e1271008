/* SPDX-License-Identifier: MIT */
/*
 * span_eq.h - is one span the same as another, field by field (test_span_codec.c,
 * tests/fuzz/fuzz_span_codec.c). Two views must agree for every field of the
 * field table: the stored value (strings up to their NUL, since bytes past it are
 * undefined; attributes in use; every other member by its bytes, so enums, bools
 * and sequence numbers hidden by flags are compared exactly) and the value
 * zt_span_get gives every encoder.
 */
#ifndef ZT_TEST_SPAN_EQ_H
#define ZT_TEST_SPAN_EQ_H

#include <string.h>

#include "model/span.h"

static const size_t span_eq_member_size[ZT_F__COUNT] = {
#define X(name, kind, sz, ff) [ZT_F_##name] = sizeof(((struct zt_span *)0)->name),
    ZT_SPAN_FIELDS(X)
#undef X
};

static int span_eq_attrs(const struct zt_attrs *a, const struct zt_attrs *b)
{
	if (a->n != b->n)
		return 0;
	for (unsigned i = 0; i < a->n && i < ZT_ATTRS_MAX; i++)
		if (strncmp(a->a[i].key, b->a[i].key, ZT_ATTR_KEY_LEN) ||
		    strncmp(a->a[i].val, b->a[i].val, ZT_ATTR_VAL_LEN))
			return 0;
	return 1;
}

/* The first field (enum zt_span_field) where a and b differ, or -1. */
static int span_diff(const struct zt_span *a, const struct zt_span *b)
{
	static struct zt_val va, vb; /* 2 KiB each */

	for (int f = 0; f < ZT_F__COUNT; f++) {
		const struct zt_field *d = &zt_span_fields[f];
		const char *pa = (const char *)a + d->offset, *pb = (const char *)b + d->offset;

		if (d->kind == ZT_FK_STR) {
			if (strncmp(pa, pb, d->size))
				return f;
		} else if (d->kind == ZT_FK_ATTRS) {
			if (!span_eq_attrs((const void *)pa, (const void *)pb))
				return f;
		} else if (memcmp(pa, pb, span_eq_member_size[f])) {
			return f;
		}
		zt_span_get(a, (enum zt_span_field)f, &va);
		zt_span_get(b, (enum zt_span_field)f, &vb);
		if (va.type != vb.type || va.is_signed != vb.is_signed)
			return f;
		if (va.type == ZT_VAL_INT && va.u != vb.u)
			return f;
		if (va.type == ZT_VAL_TEXT && strcmp(va.s, vb.s))
			return f;
	}
	return -1;
}

#endif /* ZT_TEST_SPAN_EQ_H */
