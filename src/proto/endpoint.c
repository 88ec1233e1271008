/* SPDX-License-Identifier: MIT */
/*
 * endpoint.c - endpoint normalisation; see endpoint.h.
 */
#include "proto/endpoint.h"

#include <string.h>
#include <strings.h>

/* Output cursor: appends are cut at cap, so a long path truncates the
 * endpoint instead of overflowing out. */
struct ep_out {
	char *p;
	size_t cap; /* bytes available, NUL excluded */
	size_t n;
};

static void ep_put(struct ep_out *o, const char *s, size_t n)
{
	if (n > o->cap - o->n)
		n = o->cap - o->n;
	memcpy(o->p + o->n, s, n);
	o->n += n;
}

static bool ep_is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

static bool ep_is_uuid(const char *p, size_t n)
{
	if (n != 36)
		return false;
	for (size_t i = 0; i < n; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? p[i] != '-' : !ep_is_hex((unsigned char)p[i]))
			return false;
	}
	return true;
}

bool zt_endpoint_is_id_segment(const char *p, size_t n)
{
	size_t digits = 0, hex = 0, alnum = 0;

	if (!p || n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c >= '0' && c <= '9')
			digits++;
		if (ep_is_hex(c))
			hex++;
		if ((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'))
			alnum++;
	}
	return digits == n || ep_is_uuid(p, n) || (n >= 16 && hex == n) ||
	       (n >= 8 && alnum == n && 2 * digits > n);
}

size_t zt_endpoint_normalize(const char *method, const char *path, char *out, size_t outsz)
{
	if (!out || outsz == 0)
		return 0;
	struct ep_out o = {out, outsz - 1, 0};
	const char *p = path ? path : "";

	if (method && method[0]) {
		ep_put(&o, method, strlen(method));
		ep_put(&o, " ", 1);
	}
	/* absolute-form (proxies): drop scheme and authority */
	size_t skip = 0;
	if (strncasecmp(p, "http://", 7) == 0)
		skip = 7;
	else if (strncasecmp(p, "https://", 8) == 0)
		skip = 8;
	if (skip) {
		p += skip;
		p += strcspn(p, "/?#");
	}
	size_t plen = strcspn(p, "?#");
	if (plen == 0)
		ep_put(&o, "/", 1);
	for (size_t i = 0; i < plen;) {
		if (p[i] == '/') {
			ep_put(&o, "/", 1);
			i++;
			continue;
		}
		size_t s = i;
		while (i < plen && p[i] != '/')
			i++;
		if (zt_endpoint_is_id_segment(p + s, i - s))
			ep_put(&o, "{id}", 4);
		else
			ep_put(&o, p + s, i - s);
	}
	out[o.n] = '\0';
	return o.n;
}
