/* SPDX-License-Identifier: MIT */
/* red_client.c - see red_client.h. */
#include "cli/red_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ANSWER (64u << 20) /* a map or a series answer is far smaller */

struct body {
	char *p;
	size_t n;
	int too_big;
};

static size_t on_data(char *d, size_t sz, size_t nm, void *ctx)
{
	struct body *b = ctx;
	size_t len = sz * nm;
	char *np;

	if (b->n + len > MAX_ANSWER) {
		b->too_big = 1;
		return 0;
	}
	np = realloc(b->p, b->n + len + 1);
	if (!np)
		return 0;
	memcpy(np + b->n, d, len);
	b->p = np;
	b->n += len;
	b->p[b->n] = '\0';
	return len;
}

static int read_token(const char *file, char *out, size_t outsz, char *err, size_t errsz)
{
	FILE *f = fopen(file, "r");

	if (!f) {
		snprintf(err, errsz, "cannot read the token file %s: %s", file, strerror(errno));
		return -EINVAL;
	}
	if (!fgets(out, (int)outsz, f))
		out[0] = '\0';
	fclose(f);
	out[strcspn(out, "\r\n")] = '\0';
	if (!out[0]) {
		snprintf(err, errsz, "the token file %s is empty", file);
		return -EINVAL;
	}
	return 0;
}

void zt_red_client_qs(char *qs, size_t qssz, const char *k, const char *v)
{
	char *e = curl_easy_escape(NULL, v, 0);
	size_t n = strlen(qs);

	if (e)
		snprintf(qs + n, qssz - n, "%s%s=%s", n ? "&" : "", k, e);
	curl_free(e);
}

int zt_red_client_get(const char *url, const char *token_file, const char *path_qs, json_t **out, char *err,
		      size_t errsz)
{
	struct curl_slist *hdrs = NULL;
	struct body b = {0};
	char full[4096], tok[512], auth[600];
	size_t ulen = strlen(url);
	long status = 0;
	CURLcode cc;
	CURL *c;
	int rc = 0;

	*out = NULL;
	if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) {
		snprintf(err, errsz, "invalid --server '%s': expected http://HOST:PORT", url);
		return -EINVAL;
	}
	while (ulen && url[ulen - 1] == '/')
		ulen--;
	if ((size_t)snprintf(full, sizeof(full), "%.*s%s", (int)ulen, url, path_qs) >= sizeof(full)) {
		snprintf(err, errsz, "request too long");
		return -EINVAL;
	}
	if (token_file) {
		if ((rc = read_token(token_file, tok, sizeof(tok), err, errsz)))
			return rc;
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
		hdrs = curl_slist_append(hdrs, auth);
	}
	c = curl_easy_init();
	if (!c) {
		curl_slist_free_all(hdrs);
		snprintf(err, errsz, "out of memory");
		return -ENOMEM;
	}
	curl_easy_setopt(c, CURLOPT_URL, full);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	if (hdrs)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	curl_slist_free_all(hdrs);
	if (cc != CURLE_OK) {
		snprintf(err, errsz, "%s: %s", url, b.too_big ? "answer too big" : curl_easy_strerror(cc));
		rc = b.too_big ? -EPROTO : -EHOSTUNREACH;
		goto done;
	}
	*out = b.p ? json_loads(b.p, 0, NULL) : NULL;
	if (status != 200) {
		json_t *e = *out ? json_object_get(*out, "error") : NULL;
		snprintf(err, errsz, "%s answered %ld: %s", url, status,
			 json_is_string(e) ? json_string_value(e) : "not the ztrace API");
		json_decref(*out);
		*out = NULL;
		rc = -EPROTO;
	} else if (!json_is_object(*out)) {
		snprintf(err, errsz, "%s: the answer is not the ztrace API's JSON", url);
		json_decref(*out);
		*out = NULL;
		rc = -EPROTO;
	}
done:
	free(b.p);
	return rc;
}
