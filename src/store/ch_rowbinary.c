/* SPDX-License-Identifier: MIT */
/*
 * ch_rowbinary.c - spans <-> ClickHouse RowBinary rows, column by column in
 * the span field table's order (model/span.h), and the small buffer and
 * quoting helpers the backend's SQL is built with.
 *
 * A column holds its field's C value as is, so the null rules of span.h
 * carry over without Nullable columns (which cost a byte map per column):
 * "" is a null string, 0 a null U64Z/PORT, -1 a null I32N, a zero IP a null
 * address, a seq is null unless its flag bit is set. Enums with values fixed
 * in span.h (tap side, status, link kind; l4 is the IP protocol number) are
 * UInt8; the l7 protocol is its name (String), because its numbers follow
 * the order of a list that grows. On ClickHouse >= 19.x LowCardinality(String)
 * would store the names (process, host, l7) as dictionaries; 18.16 has it
 * only behind allow_experimental_low_cardinality_type.
 *
 * Decoding reads bytes from the server: every length is bounded before use
 * (fuzz_ch_rowbinary feeds it garbage).
 */
#include "store/clickhouse_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int zt_ch_buf_put(struct zt_ch_buf *b, const void *data, size_t n)
{
	if (!b->p || n >= b->cap - b->len) { /* room for n bytes and the NUL */
		size_t ncap = b->cap ? b->cap : 4096;
		char *np;

		while (ncap - b->len < n + 1) {
			if (ncap > SIZE_MAX / 2)
				return -ENOMEM;
			ncap *= 2;
		}
		np = realloc(b->p, ncap);
		if (!np)
			return -ENOMEM;
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0'; /* text stays a C string; room was kept */
	return 0;
}

int zt_ch_buf_printf(struct zt_ch_buf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -EOVERFLOW; /* fixed fragments and numbers only */
	return zt_ch_buf_put(b, tmp, (size_t)n);
}

int zt_ch_buf_quote(struct zt_ch_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	int err = zt_ch_buf_put(b, "'", 1);

	for (const unsigned char *p = (const unsigned char *)s; *p && !err; p++) {
		if (*p >= 0x20 && *p < 0x7f && *p != '\'' && *p != '\\') {
			err = zt_ch_buf_put(b, p, 1);
		} else {
			char e[4] = {'\\', 'x', hex[*p >> 4], hex[*p & 15]};
			err = zt_ch_buf_put(b, e, 4);
		}
	}
	return err ? err : zt_ch_buf_put(b, "'", 1);
}

const char *zt_ch_col_type(int f)
{
	switch (zt_span_fields[f].kind) {
	case ZT_FK_STR:
	case ZT_FK_ATTRS:
	case ZT_FK_L7:
		return "String";
	case ZT_FK_U64:
	case ZT_FK_U64Z:
		return "UInt64";
	case ZT_FK_U32:
	case ZT_FK_SEQREQ:
	case ZT_FK_SEQRESP:
	case ZT_FK_FLAGS:
		return "UInt32";
	case ZT_FK_PORT:
		return "UInt16";
	case ZT_FK_I32N:
		return "Int32";
	case ZT_FK_IP:
		return "FixedString(16)";
	default: /* TAP, L4, RSTATUS, BOOL, LINK */
		return "UInt8";
	}
}

static int put_varint(struct zt_ch_buf *b, uint64_t v)
{
	unsigned char tmp[10];
	size_t n = 0;

	do {
		tmp[n] = (unsigned char)(v & 0x7f);
		v >>= 7;
		if (v)
			tmp[n] |= 0x80;
		n++;
	} while (v);
	return zt_ch_buf_put(b, tmp, n);
}

static int put_str(struct zt_ch_buf *b, const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	int err = put_varint(b, n);

	return err ? err : zt_ch_buf_put(b, s, n);
}

int zt_ch_put_bytes(struct zt_ch_buf *b, const void *data, size_t n)
{
	int err = put_varint(b, n);

	return err ? err : zt_ch_buf_put(b, data, n);
}

/* Little-endian integer of `size` bytes (x86 and arm64 are little-endian;
 * the build refuses others below). */
static int put_le(struct zt_ch_buf *b, uint64_t v, size_t size)
{
	return zt_ch_buf_put(b, &v, size);
}
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "RowBinary is little-endian");

int zt_ch_encode_span(struct zt_ch_buf *b, const struct zt_span *s)
{
	int err = 0;

	for (int f = 0; f < ZT_F__COUNT && !err; f++) {
		const struct zt_field *d = &zt_span_fields[f];
		const char *p = (const char *)s + d->offset;

		switch (d->kind) {
		case ZT_FK_STR:
			err = put_str(b, p, d->size);
			break;
		case ZT_FK_L7:
			err = *p ? put_str(b, zt_l7_name((uint8_t)*p), 64) : put_str(b, "", 1);
			break;
		case ZT_FK_ATTRS: {
			struct zt_val v;
			zt_span_get(s, (enum zt_span_field)f, &v);
			err = put_str(b, v.type == ZT_VAL_TEXT ? v.s : "", ZT_VAL_BUF);
			break;
		}
		case ZT_FK_U64:
		case ZT_FK_U64Z:
			err = put_le(b, *(const uint64_t *)(const void *)p, 8);
			break;
		case ZT_FK_U32:
		case ZT_FK_SEQREQ:
		case ZT_FK_SEQRESP:
		case ZT_FK_FLAGS:
			err = put_le(b, *(const uint32_t *)(const void *)p, 4);
			break;
		case ZT_FK_I32N:
			err = put_le(b, (uint32_t) * (const int32_t *)(const void *)p, 4);
			break;
		case ZT_FK_PORT:
			err = put_le(b, *(const uint16_t *)(const void *)p, 2);
			break;
		case ZT_FK_IP:
			err = zt_ch_buf_put(b, p, 16);
			break;
		default:
			err = put_le(b, *(const uint8_t *)p, 1);
			break;
		}
	}
	return err;
}

static long get_varint(const char *p, size_t n, uint64_t *v)
{
	uint64_t r = 0;

	for (size_t i = 0; i < 10; i++) {
		if (i >= n)
			return 0;
		r |= (uint64_t)((unsigned char)p[i] & 0x7f) << (7 * i);
		if (!((unsigned char)p[i] & 0x80)) {
			*v = r;
			return (long)i + 1;
		}
	}
	return -EPROTO;
}

long zt_ch_get_u64(const char *p, size_t n, uint64_t *v)
{
	if (n < 8)
		return 0;
	memcpy(v, p, 8);
	return 8;
}

/* A string into out (cut to outsz-1: a column longer than its field was not
 * written by us, and is cut rather than refused). */
long zt_ch_get_str(const char *p, size_t n, char *out, size_t outsz)
{
	uint64_t len;
	long h = get_varint(p, n, &len);

	if (h <= 0)
		return h;
	if (len > (64u << 20))
		return -EPROTO; /* no column of ours is that long */
	if (len > n - (size_t)h)
		return 0;
	if (out) {
		size_t k = len < outsz ? len : outsz - 1;
		memcpy(out, p + h, k);
		out[k] = '\0';
		/* a NUL inside the value ends it, as in the field */
	}
	return h + (long)len;
}

long zt_ch_get_blob(const char *p, size_t n, const char **data, size_t *len)
{
	uint64_t l;
	long h = get_varint(p, n, &l);

	if (h <= 0)
		return h;
	if (l > (64u << 20))
		return -EPROTO;
	if (l > n - (size_t)h)
		return 0;
	*data = p + h;
	*len = (size_t)l;
	return h + (long)l;
}

long zt_ch_decode_span(const char *p, size_t n, struct zt_span *s)
{
	size_t at = 0;
	char tmp[ZT_VAL_BUF];

	zt_span_clear(s);
	for (int f = 0; f < ZT_F__COUNT; f++) {
		const struct zt_field *d = &zt_span_fields[f];
		char *dst = (char *)s + d->offset;
		size_t size;
		long r;

		switch (d->kind) {
		case ZT_FK_STR:
			r = zt_ch_get_str(p + at, n - at, dst, d->size);
			if (r < 0)
				return r;
			if (r == 0)
				return 0;
			at += (size_t)r;
			continue;
		case ZT_FK_L7:
		case ZT_FK_ATTRS: {
			struct zt_val v = {.type = ZT_VAL_TEXT};
			r = zt_ch_get_str(p + at, n - at, tmp, sizeof(tmp));
			if (r <= 0)
				return r;
			at += (size_t)r;
			if (tmp[0]) {
				v.s = tmp;
				(void)zt_span_set(s, (enum zt_span_field)f, &v); /* a bad value reads as null */
			}
			continue;
		}
		case ZT_FK_U64:
		case ZT_FK_U64Z:
			size = 8;
			break;
		case ZT_FK_U32:
		case ZT_FK_SEQREQ:
		case ZT_FK_SEQRESP:
		case ZT_FK_FLAGS:
		case ZT_FK_I32N:
			size = 4;
			break;
		case ZT_FK_PORT:
			size = 2;
			break;
		case ZT_FK_IP:
			size = 16;
			break;
		default:
			size = 1;
			break;
		}
		if (n - at < size)
			return 0;
		memcpy(dst, p + at, size);
		at += size;
	}
	/* enums outside their range read as unknown (null), as in SQLite */
	if (s->tap_side > ZT_TAP__LAST)
		s->tap_side = ZT_TAP_UNKNOWN;
	if (s->response_status > ZT_RS_TIMEOUT)
		s->response_status = ZT_RS_UNKNOWN;
	if (s->link_kind > ZT_LINK_EXPLICIT)
		s->link_kind = ZT_LINK_NONE;
	if (s->l4_protocol != 6 && s->l4_protocol != 17)
		s->l4_protocol = 0;
	if (s->is_tls > 1)
		s->is_tls = 1;
	if (s->response_code < -1)
		s->response_code = -1;
	return (long)at;
}
