/* SPDX-License-Identifier: MIT */
/*
 * http_params.c - query strings: splitting, percent-decoding and the typed
 * getters that answer 400 naming the parameter (http.h). No libmicrohttpd
 * here: the fuzzer and the unit tests drive it without a socket.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/http.h"
#include "server/http_int.h"
#include "util/duration.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int zt_http_pct_decode(char *s, size_t *len, bool plus_space)
{
	size_t r = 0, w = 0, n = *len;

	while (r < n) {
		char c = s[r];

		if (c == '%') {
			int hi, lo;

			if (r + 2 >= n) /* fewer than two digits left */
				return -EINVAL;
			hi = hexval(s[r + 1]);
			lo = hexval(s[r + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -EINVAL;
			s[w++] = (char)(hi << 4 | lo);
			r += 3;
			continue;
		}
		if (c == '\0')
			return -EINVAL;
		s[w++] = (plus_space && c == '+') ? ' ' : c;
		r++;
	}
	s[w] = '\0';
	*len = w;
	return 0;
}

void zt_http_params_free(struct zt_http_params *p)
{
	if (!p)
		return;
	free(p->buf);
	p->buf = NULL;
	p->n = 0;
}

int zt_http_params_parse(const char *qs, size_t len, struct zt_http_params *out)
{
	char *buf, *pos, *end;

	memset(out, 0, sizeof(*out));
	if (!len)
		return 0;
	buf = malloc(len + 1);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, qs, len);
	buf[len] = '\0';
	out->buf = buf;
	pos = buf;
	end = buf + len;
	while (pos <= end) {
		char *amp = memchr(pos, '&', (size_t)(end - pos));
		char *stop = amp ? amp : end;
		char *eq;
		size_t klen, vlen;

		if (stop == pos) { /* "a=1&&b=2" or a trailing '&': nothing there */
			if (!amp)
				break;
			pos = amp + 1;
			continue;
		}
		*stop = '\0';
		eq = memchr(pos, '=', (size_t)(stop - pos));
		if (eq)
			*eq = '\0';
		klen = (size_t)((eq ? eq : stop) - pos);
		vlen = eq ? (size_t)(stop - eq - 1) : 0;
		if (out->n == ZT_HTTP_MAX_PARAMS || zt_http_pct_decode(pos, &klen, true) || !klen ||
		    (eq && zt_http_pct_decode(eq + 1, &vlen, true))) {
			zt_http_params_free(out);
			return -EINVAL;
		}
		out->p[out->n].key = pos;
		out->p[out->n].val = eq ? eq + 1 : stop; /* "" when no '=' */
		out->n++;
		if (!amp)
			break;
		pos = amp + 1;
	}
	return 0;
}

/* The value of name; -EINVAL (after a 400) when it is given twice. */
static int lookup(struct zt_http_req *req, const char *name, const char **val)
{
	const struct zt_http_params *p = &req->query;
	const char *found = NULL;

	for (unsigned i = 0; i < p->n; i++) {
		if (strcmp(p->p[i].key, name))
			continue;
		if (found) {
			zt_http_reply_error(req, 400, name, "parameter '%s' given more than once", name);
			return -EINVAL;
		}
		found = p->p[i].val;
	}
	*val = found;
	return 0;
}

const char *zt_http_query(const struct zt_http_req *req, const char *name)
{
	const struct zt_http_params *p = &req->query;

	for (unsigned i = 0; i < p->n; i++)
		if (!strcmp(p->p[i].key, name))
			return p->p[i].val;
	return NULL;
}

unsigned zt_http_query_count(const struct zt_http_req *req) { return req->query.n; }
const char *zt_http_query_key(const struct zt_http_req *req, unsigned i) { return req->query.p[i].key; }
const char *zt_http_query_val(const struct zt_http_req *req, unsigned i) { return req->query.p[i].val; }

int zt_http_params_only(struct zt_http_req *req, const char *const *allowed)
{
	for (unsigned i = 0; i < req->query.n; i++) {
		const char *k = req->query.p[i].key;
		size_t j = 0;

		while (allowed[j] && strcmp(allowed[j], k))
			j++;
		if (!allowed[j]) {
			/* the name is outside input: printed with %.64s, and jansson
			 * rejects invalid UTF-8, so a name it cannot carry is "?" */
			zt_http_reply_error(req, 400, k, "unknown parameter '%.64s'", k);
			return -EINVAL;
		}
	}
	return 0;
}

int zt_http_param_u64(struct zt_http_req *req, const char *name, uint64_t min, uint64_t max, uint64_t *out)
{
	const char *v;
	uint64_t x = 0;

	if (lookup(req, name, &v))
		return -EINVAL;
	if (!v)
		return 0;
	if (!*v)
		goto bad;
	for (const char *c = v; *c; c++) {
		if (*c < '0' || *c > '9' || x > (UINT64_MAX - (uint64_t)(*c - '0')) / 10)
			goto bad;
		x = x * 10 + (uint64_t)(*c - '0');
	}
	if (x < min || x > max)
		goto bad;
	*out = x;
	return 0;
bad:
	zt_http_reply_error(req, 400, name, "parameter '%s': expected an integer from %llu to %llu", name,
			    (unsigned long long)min, (unsigned long long)max);
	return -EINVAL;
}

int zt_http_param_duration(struct zt_http_req *req, const char *name, uint64_t *out)
{
	const char *v;
	uint64_t ns;

	if (lookup(req, name, &v))
		return -EINVAL;
	if (!v)
		return 0;
	if (zt_parse_duration(v, &ns)) {
		zt_http_reply_error(req, 400, name,
				    "parameter '%s': expected a duration such as 500ms, 30s, 15m, 2h or 7d", name);
		return -EINVAL;
	}
	*out = ns;
	return 0;
}

int zt_http_param_bool(struct zt_http_req *req, const char *name, bool *out)
{
	const char *v;

	if (lookup(req, name, &v))
		return -EINVAL;
	if (!v)
		return 0;
	if (!*v || !strcmp(v, "1") || !strcasecmp(v, "true")) {
		*out = true;
		return 0;
	}
	if (!strcmp(v, "0") || !strcasecmp(v, "false")) {
		*out = false;
		return 0;
	}
	zt_http_reply_error(req, 400, name, "parameter '%s': expected true or false", name);
	return -EINVAL;
}

int zt_http_param_enum(struct zt_http_req *req, const char *name, const char *const *names, int *out)
{
	const char *v;
	char list[256];
	size_t n = 0;

	if (lookup(req, name, &v))
		return -EINVAL;
	if (!v)
		return 0;
	for (int i = 0; names[i]; i++) {
		if (!strcasecmp(v, names[i])) {
			*out = i;
			return 0;
		}
	}
	list[0] = '\0';
	for (int i = 0; names[i] && n < sizeof(list); i++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "", names[i]);
	zt_http_reply_error(req, 400, name, "parameter '%s': expected one of %s", name, list);
	return -EINVAL;
}

int zt_http_param_str(struct zt_http_req *req, const char *name, size_t maxlen, const char **out)
{
	const char *v;
	size_t len;

	if (lookup(req, name, &v))
		return -EINVAL;
	if (!v)
		return 0;
	len = strlen(v);
	if (!len || len > maxlen) {
		zt_http_reply_error(req, 400, name, "parameter '%s': expected 1 to %zu bytes of text", name, maxlen);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) {
			zt_http_reply_error(req, 400, name, "parameter '%s': control characters are not allowed",
					    name);
			return -EINVAL;
		}
	}
	*out = v;
	return 0;
}
