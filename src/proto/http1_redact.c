/* SPDX-License-Identifier: MIT */
/*
 * http1_redact.c - HTTP/1's secrets: header values (Authorization,
 * Proxy-Authorization, Cookie, Set-Cookie) and request-target secrets (query
 * parameters named like secrets, URL passwords), in raw payloads and in
 * stored paths. See http1.h.
 */
#include "proto/http1.h"

#include <errno.h>
#include <string.h>

#include "util/text.h"

#define H1_HEAD_BUF 4096 /* longest request target redacted in a payload */

static const struct {
	const char *name; /* lowercase */
	size_t len;
} h1_secrets[] = {
    {"authorization", 13},
    {"proxy-authorization", 19},
    {"cookie", 6},
    {"set-cookie", 10},
};

/* Redacts the value if the line at p is a secret header; returns bytes. */
static size_t h1_redact_line(uint8_t *p, size_t n)
{
	for (size_t k = 0; k < sizeof(h1_secrets) / sizeof(h1_secrets[0]); k++) {
		size_t nl = h1_secrets[k].len, i;
		const char *name = h1_secrets[k].name;

		if (n <= nl || zt_lower(p[0]) != (unsigned char)name[0])
			continue;
		for (i = 1; i < nl; i++)
			if (zt_lower(p[i]) != (unsigned char)name[i])
				break;
		if (i < nl)
			continue;
		/* blanks before ':' are invalid HTTP, but redacting them
		 * too errs on the safe side */
		while (i < n && (p[i] == ' ' || p[i] == '\t'))
			i++;
		if (i >= n || p[i] != ':')
			continue;
		i++;
		while (i < n && (p[i] == ' ' || p[i] == '\t'))
			i++;
		size_t s = i;
		while (i < n && p[i] != '\r' && p[i] != '\n')
			p[i++] = '*';
		return i - s;
	}
	return 0;
}

/* The secrets of a request line's target (query parameters, URL
 * password), in place: the target runs from after the method to the next
 * blank, line end or the end of buf. */
static size_t h1_redact_request_line(uint8_t *p, size_t n)
{
	char t[H1_HEAD_BUF];
	size_t s = 0, e, done;

	while (s < n && p[s] != ' ')
		s++;
	e = ++s;
	while (e < n && p[e] != ' ' && p[e] != '\r' && p[e] != '\n')
		e++;
	if (s >= n || e - s >= sizeof(t))
		return 0;
	memcpy(t, p + s, e - s);
	t[e - s] = '\0';
	done = zt_http_redact_target(t);
	/* The buffer ends inside the URL's authority ("http://bob:pw" and no
	 * '@' yet): what follows a ':' may be a password whose '@' comes in
	 * the next syscall, too late to mask what is written now. Masked
	 * (a port, as often: the safe side). */
	if (e == n) {
		char *auth = strstr(t, "://"), *colon;
		if (auth && (auth += 3, auth[strcspn(auth, "/?#@")] == '\0') && (colon = strchr(auth, ':')))
			for (char *c = colon + 1; *c; c++)
				if (*c != '*') {
					*c = '*';
					done++;
				}
	}
	if (done)
		memcpy(p + s, t, e - s); /* same length: values are masked in place */
	return done;
}

size_t zt_http_redact(uint8_t *buf, size_t len)
{
	size_t done = 0, i = 0;

	if (!buf)
		return 0;
	while (i < len) {
		if (h1_starts_request(buf + i, len - i))
			done += h1_redact_request_line(buf + i, len - i);
		switch (buf[i] | 0x20) { /* cheap first-letter filter */
		case 'a':
		case 'p':
		case 'c':
		case 's':
			done += h1_redact_line(buf + i, len - i);
			break;
		}
		const uint8_t *nl = memchr(buf + i, '\n', len - i);
		if (!nl)
			break;
		i = (size_t)(nl - buf) + 1;
	}
	return done;
}

/* Query parameters whose values are secrets (lowercase; matched whole, any
 * case). */
/* Query parameters whose values are secrets, lowercase, matched whole in
 * any case. The defaults below; `up --redact-params` replaces them (set at
 * start, read by the pipeline after). */
#define H1_SECRET_MAX 32
#define H1_SECRET_LEN 32
static const char *const h1_secret_defaults[] = {
    "token", "access_token", "refresh_token", "id_token", "password", "passwd", "pwd", "secret",
    "client_secret", "api_key", "apikey", "key", "sig", "signature", "auth", "session", "sessionid",
};
static char h1_secret_params[H1_SECRET_MAX][H1_SECRET_LEN];
static int h1_nsecret = -1; /* -1: the defaults */

static bool h1_secret_param(const char *p, size_t n)
{
	if (h1_nsecret < 0) {
		for (size_t i = 0; i < sizeof(h1_secret_defaults) / sizeof(h1_secret_defaults[0]); i++)
			if (zt_ieq(p, n, h1_secret_defaults[i]))
				return true;
		return false;
	}
	for (int i = 0; i < h1_nsecret; i++)
		if (zt_ieq(p, n, h1_secret_params[i]))
			return true;
	return false;
}

int zt_http_secret_params_set(const char *csv)
{
	char names[H1_SECRET_MAX][H1_SECRET_LEN];
	int n = 0;

	if (!csv) {
		h1_nsecret = -1;
		return 0;
	}
	for (const char *p = csv; *p;) {
		size_t len = strcspn(p, ",");
		if (len == 0 || len >= H1_SECRET_LEN || n == H1_SECRET_MAX)
			return -EINVAL;
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)p[i];
			if (c <= ' ' || c >= 0x7f || c == '=' || c == '&' || c == '#' || c == '?')
				return -EINVAL;
			names[n][i] = (char)zt_lower(c);
		}
		names[n++][len] = '\0';
		p += len;
		if (*p == ',' && *++p == '\0')
			return -EINVAL; /* a trailing comma: an empty name */
	}
	if (n == 0)
		return -EINVAL;
	memcpy(h1_secret_params, names, sizeof(names));
	h1_nsecret = n;
	return 0;
}

size_t zt_http_redact_target(char *t)
{
	size_t done = 0;
	char *q, *at, *auth;

	if (!t)
		return 0;
	/* userinfo of an absolute-form target: scheme://user:PASSWORD@host */
	auth = strstr(t, "://");
	if (auth) {
		auth += 3;
		size_t alen = strcspn(auth, "/?#");
		at = memchr(auth, '@', alen);
		char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
		for (char *c = colon ? colon + 1 : NULL; c && c < at; c++, done++)
			*c = '*';
	}
	q = strchr(t, '?');
	while (q && *q) {
		char *name = q + 1, *eq, *end;
		end = name + strcspn(name, "&#");
		eq = memchr(name, '=', (size_t)(end - name));
		if (eq && h1_secret_param(name, (size_t)(eq - name)))
			for (char *c = eq + 1; c < end; c++, done++)
				*c = '*';
		q = *end == '&' ? end : NULL;
	}
	return done;
}
