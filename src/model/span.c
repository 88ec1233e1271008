/* SPDX-License-Identifier: MIT */
/*
 * span.c - the field table's run-time half: descriptors, and the generic
 * get/set every encoder (SQLite, JSON, the CLI table) goes through.
 */
#include "model/span.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

const struct zt_field zt_span_fields[ZT_F__COUNT] = {
#define X(name, kind, sz, ff) {#name, ZT_FK_##kind, ff, sz, (uint32_t)offsetof(struct zt_span, name)},
	ZT_SPAN_FIELDS(X)
#undef X
};

const char *zt_tap_side_name(enum zt_tap_side t)
{
	switch (t) {
	case ZT_TAP_CLIENT_PROCESS:
		return "client-process";
	case ZT_TAP_SERVER_PROCESS:
		return "server-process";
	case ZT_TAP_CLIENT_NIC:
		return "client-nic";
	case ZT_TAP_SERVER_NIC:
		return "server-nic";
	case ZT_TAP_APP:
		return "app";
	default:
		return "unknown";
	}
}

const char *zt_resp_status_name(enum zt_resp_status s)
{
	switch (s) {
	case ZT_RS_OK:
		return "ok";
	case ZT_RS_CLIENT_ERROR:
		return "client_error";
	case ZT_RS_SERVER_ERROR:
		return "server_error";
	case ZT_RS_TIMEOUT:
		return "timeout";
	default:
		return "unknown";
	}
}

const char *zt_link_kind_name(unsigned k)
{
	static const char *const names[] = {NULL, "tcp_seq", "thread", "x_request_id", "explicit"};
	return k < sizeof(names) / sizeof(names[0]) ? names[k] : NULL;
}

static const char *link_name_u(unsigned k)
{
	const char *n = zt_link_kind_name(k);
	return n ? n : "";
}

static const char *l4_name(uint8_t l4)
{
	return l4 == IPPROTO_TCP ? "tcp" : l4 == IPPROTO_UDP ? "udp" : NULL;
}

/* The v4 case is formatted by hand: inet_ntop goes through sprintf, which
 * showed up in store insert profiles (two addresses a row). */
void zt_ip_str(const uint8_t ip[16], char *out, unsigned outsz)
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	char *p = out;

	if (memcmp(ip, v4mapped, 12) != 0) {
		inet_ntop(AF_INET6, ip, out, outsz);
		return;
	}
	if (outsz < INET_ADDRSTRLEN) {
		inet_ntop(AF_INET, ip + 12, out, outsz);
		return;
	}
	for (int i = 12; i < 16; i++) {
		unsigned b = ip[i];

		if (b >= 100)
			*p++ = (char)('0' + b / 100);
		if (b >= 10)
			*p++ = (char)('0' + b / 10 % 10);
		*p++ = (char)('0' + b % 10);
		*p++ = i < 15 ? '.' : '\0';
	}
}

static bool ip_is_null(const uint8_t ip[16])
{
	static const uint8_t zero[16];
	return memcmp(ip, zero, 16) == 0;
}

int zt_attrs_add(struct zt_attrs *a, const char *key, const char *val, size_t vlen)
{
	if (a->n >= ZT_ATTRS_MAX)
		return 0;
	snprintf(a->a[a->n].key, sizeof(a->a[a->n].key), "%s", key);
	if (vlen >= sizeof(a->a[a->n].val))
		vlen = sizeof(a->a[a->n].val) - 1;
	for (size_t i = 0; i < vlen; i++) {
		unsigned char c = (unsigned char)val[i];
		a->a[a->n].val[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	a->a[a->n].val[vlen] = '\0';
	a->n++;
	return 1;
}

/* {"k":"v",...} into buf; the keys are the parser's fixed words, the values
 * are escaped (control bytes were replaced when added). */
static void attrs_text(const struct zt_attrs *a, char *buf, size_t bufsz)
{
	size_t o = 0;

	buf[o++] = '{';
	for (unsigned i = 0; i < a->n && i < ZT_ATTRS_MAX; i++) {
		const char *parts[2] = {a->a[i].key, a->a[i].val};
		if (i)
			buf[o++] = ',';
		for (int p = 0; p < 2; p++) {
			buf[o++] = '"';
			for (const char *c = parts[p]; *c && o + 8 < bufsz; c++) {
				if (*c == '"' || *c == '\\')
					buf[o++] = '\\';
				buf[o++] = *c;
			}
			buf[o++] = '"';
			if (p == 0)
				buf[o++] = ':';
		}
	}
	buf[o++] = '}';
	buf[o] = '\0';
}
/* Worst case: every byte escaped, plus quotes, colon, comma per pair. */
_Static_assert(ZT_ATTRS_MAX * (2 * (ZT_ATTR_KEY_LEN + ZT_ATTR_VAL_LEN) + 6) + 3 < ZT_VAL_BUF,
	       "attributes fit the value buffer");

static int attrs_parse(struct zt_attrs *a, const char *text)
{
	json_error_t e;
	json_t *o = json_loads(text, 0, &e), *v;
	const char *k;
	int rc = 0;

	memset(a, 0, sizeof(*a));
	if (!json_is_object(o)) {
		json_decref(o);
		return -EINVAL;
	}
	json_object_foreach(o, k, v)
	{
		if (!json_is_string(v)) {
			rc = -EINVAL;
			continue;
		}
		zt_attrs_add(a, k, json_string_value(v), json_string_length(v));
	}
	json_decref(o);
	return rc;
}

void zt_span_get(const struct zt_span *s, enum zt_span_field f, struct zt_val *v)
{
	const struct zt_field *d = &zt_span_fields[f];
	const char *p = (const char *)s + d->offset;
	const char *name = NULL;

	v->type = ZT_VAL_INT;
	v->is_signed = 0;
	v->s = NULL;
	switch (d->kind) {
	case ZT_FK_STR:
		v->type = p[0] ? ZT_VAL_TEXT : ZT_VAL_NULL;
		v->s = p;
		return;
	case ZT_FK_U64:
		memcpy(&v->u, p, 8);
		return;
	case ZT_FK_U64Z:
		memcpy(&v->u, p, 8);
		if (!v->u)
			v->type = ZT_VAL_NULL;
		return;
	case ZT_FK_U32:
	case ZT_FK_FLAGS: {
		uint32_t x;
		memcpy(&x, p, 4);
		v->u = x;
		return;
	}
	case ZT_FK_PORT: {
		uint16_t x;
		memcpy(&x, p, 2);
		v->u = x;
		if (!x)
			v->type = ZT_VAL_NULL;
		return;
	}
	case ZT_FK_I32N: {
		int32_t x;
		memcpy(&x, p, 4);
		v->u = (uint64_t)(int64_t)x;
		v->is_signed = 1;
		if (x < 0)
			v->type = ZT_VAL_NULL;
		return;
	}
	case ZT_FK_SEQREQ:
	case ZT_FK_SEQRESP: {
		uint32_t x, need = d->kind == ZT_FK_SEQREQ ? ZT_SPAN_HAS_SEQ : ZT_SPAN_HAS_RESP_SEQ;
		memcpy(&x, p, 4);
		v->u = x;
		if (!(s->flags & need))
			v->type = ZT_VAL_NULL;
		return;
	}
	case ZT_FK_IP:
		if (ip_is_null((const uint8_t *)p)) {
			v->type = ZT_VAL_NULL;
			return;
		}
		zt_ip_str((const uint8_t *)p, v->buf, sizeof(v->buf));
		v->type = ZT_VAL_TEXT;
		v->s = v->buf;
		return;
	case ZT_FK_TAP:
		name = *p ? zt_tap_side_name((uint8_t)*p) : NULL;
		break;
	case ZT_FK_L7:
		name = *p ? zt_l7_name((uint8_t)*p) : NULL;
		break;
	case ZT_FK_L4:
		name = l4_name((uint8_t)*p);
		break;
	case ZT_FK_LINK:
		name = zt_link_kind_name((uint8_t)*p);
		break;
	case ZT_FK_RSTATUS:
		name = zt_resp_status_name((uint8_t)*p);
		break;
	case ZT_FK_BOOL:
		v->u = *p ? 1 : 0;
		return;
	case ZT_FK_ATTRS: {
		const struct zt_attrs *a = (const void *)p;
		if (!a->n) {
			v->type = ZT_VAL_NULL;
			return;
		}
		attrs_text(a, v->buf, sizeof(v->buf));
		v->type = ZT_VAL_TEXT;
		v->s = v->buf;
		return;
	}
	}
	v->type = name ? ZT_VAL_TEXT : ZT_VAL_NULL;
	v->s = name;
}

static int name_index(const char *t, const char *(*fn)(unsigned), unsigned lo, unsigned hi)
{
	for (unsigned i = lo; i <= hi; i++)
		if (strcmp(t, fn(i)) == 0)
			return (int)i;
	return -1;
}

static const char *tap_name_u(unsigned i)
{
	return zt_tap_side_name((enum zt_tap_side)i);
}

static const char *rs_name_u(unsigned i)
{
	return zt_resp_status_name((enum zt_resp_status)i);
}

int zt_span_set(struct zt_span *s, enum zt_span_field f, const struct zt_val *v)
{
	const struct zt_field *d = &zt_span_fields[f];
	char *p = (char *)s + d->offset;
	bool text = v->type == ZT_VAL_TEXT && v->s, num = v->type == ZT_VAL_INT;
	int i;

	if (d->kind == ZT_FK_I32N)
		*(int32_t *)(void *)p = -1; /* null until proven otherwise */
	if (v->type == ZT_VAL_NULL)
		return 0;
	switch (d->kind) {
	case ZT_FK_STR:
		if (!text)
			return -EINVAL;
		snprintf(p, d->size, "%s", v->s);
		return 0;
	case ZT_FK_U64:
	case ZT_FK_U64Z:
		if (!num)
			return -EINVAL;
		memcpy(p, &v->u, 8);
		return 0;
	case ZT_FK_U32:
	case ZT_FK_FLAGS:
	case ZT_FK_SEQREQ:
	case ZT_FK_SEQRESP: {
		uint32_t x = (uint32_t)v->u;
		if (!num || v->u > UINT32_MAX)
			return -EINVAL;
		memcpy(p, &x, 4);
		if (d->kind == ZT_FK_SEQREQ)
			s->flags |= ZT_SPAN_HAS_SEQ;
		else if (d->kind == ZT_FK_SEQRESP)
			s->flags |= ZT_SPAN_HAS_RESP_SEQ;
		return 0;
	}
	case ZT_FK_PORT: {
		uint16_t x = (uint16_t)v->u;
		if (!num || v->u > UINT16_MAX)
			return -EINVAL;
		memcpy(p, &x, 2);
		return 0;
	}
	case ZT_FK_I32N: {
		int64_t x = (int64_t)v->u;
		if (!num || x < INT32_MIN || x > INT32_MAX)
			return -EINVAL;
		*(int32_t *)(void *)p = (int32_t)x;
		return 0;
	}
	case ZT_FK_BOOL:
		if (!num)
			return -EINVAL;
		*p = v->u ? 1 : 0;
		return 0;
	case ZT_FK_IP: {
		uint8_t v4[4];
		if (!text)
			return -EINVAL;
		if (inet_pton(AF_INET, v->s, v4) == 1) {
			memset(p, 0, 10);
			p[10] = p[11] = (char)0xff;
			memcpy(p + 12, v4, 4);
			return 0;
		}
		return inet_pton(AF_INET6, v->s, p) == 1 ? 0 : -EINVAL;
	}
	case ZT_FK_TAP:
		i = text ? name_index(v->s, tap_name_u, ZT_TAP_CLIENT_PROCESS, ZT_TAP__LAST) : -1;
		break;
	case ZT_FK_L7:
		i = text ? (int)zt_l7_from_name(v->s) : -1;
		if (i == ZT_L7_UNKNOWN)
			i = -1;
		break;
	case ZT_FK_L4:
		i = !text ? -1 : strcmp(v->s, "tcp") == 0 ? IPPROTO_TCP : strcmp(v->s, "udp") == 0 ? IPPROTO_UDP : -1;
		break;
	case ZT_FK_RSTATUS:
		i = text ? name_index(v->s, rs_name_u, ZT_RS_UNKNOWN, ZT_RS_TIMEOUT) : -1;
		break;
	case ZT_FK_LINK:
		i = text ? name_index(v->s, link_name_u, ZT_LINK_TCP_SEQ, ZT_LINK_EXPLICIT) : -1;
		break;
	case ZT_FK_ATTRS:
		return text ? attrs_parse((struct zt_attrs *)(void *)p, v->s) : -EINVAL;
	default:
		return -EINVAL;
	}
	if (i < 0)
		return -EINVAL;
	*(uint8_t *)p = (uint8_t)i;
	return 0;
}

int zt_span_field_by_name(const char *name)
{
	for (int i = 0; i < ZT_F__COUNT; i++)
		if (strcmp(zt_span_fields[i].name, name) == 0)
			return i;
	return -1;
}
