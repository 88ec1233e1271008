/* SPDX-License-Identifier: MIT */
/*
 * client.c - `--server URL` for spans, trace and traces (client.h): the
 * store's query structs as /api/v1 query strings, the answers decoded
 * back into spans and trace summaries (model/span_json.h,
 * store/trace_json.h) for the commands' own printers.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cli/client.h"
#include "model/span_json.h"
#include "store/trace_json.h"
#include "util/num.h"

#define API_MAX_LIMIT 10000 /* /api/v1's page bound */
#define MAX_ANSWER (512u << 20)

struct zt_client {
	CURL *curl;
	char base[512];
	char auth[600]; /* "Authorization: Bearer ..." or "" */
	char errmsg[768];
};

const char *zt_client_errmsg(const struct zt_client *c) { return c->errmsg; }

static int read_token(const char *file, char *out, size_t outsz, char *err, size_t errsz)
{
	FILE *f = fopen(file, "re");
	char tok[512] = "";

	if (!f) {
		snprintf(err, errsz, "cannot read the token file %s: %s", file, strerror(errno));
		return -EINVAL;
	}
	if (!fgets(tok, sizeof(tok), f))
		tok[0] = '\0';
	fclose(f);
	tok[strcspn(tok, "\r\n")] = '\0';
	if (!tok[0]) {
		snprintf(err, errsz, "the token file %s is empty", file);
		return -EINVAL;
	}
	snprintf(out, outsz, "Authorization: Bearer %s", tok);
	return 0;
}

int zt_client_open(const char *url, const char *token_file, struct zt_client **out, char *err, size_t errsz)
{
	struct zt_client *c;
	size_t n;

	*out = NULL;
	if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) {
		snprintf(err, errsz, "invalid --server '%s': expected http://HOST:PORT", url);
		return -EINVAL;
	}
	if (strlen(url) >= sizeof(c->base)) {
		snprintf(err, errsz, "--server URL too long");
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errsz, "out of memory");
		return -ENOMEM;
	}
	snprintf(c->base, sizeof(c->base), "%s", url);
	n = strlen(c->base);
	while (n > 0 && c->base[n - 1] == '/')
		c->base[--n] = '\0';
	if (token_file && read_token(token_file, c->auth, sizeof(c->auth), err, errsz)) {
		free(c);
		return -EINVAL;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	c->curl = curl_easy_init();
	if (!c->curl) {
		snprintf(err, errsz, "cannot start libcurl");
		free(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

void zt_client_close(struct zt_client *c)
{
	if (!c)
		return;
	curl_easy_cleanup(c->curl);
	explicit_bzero(c->auth, sizeof(c->auth));
	free(c);
}

struct buf {
	char *p;
	size_t n;
	int too_big;
};

static size_t on_data(char *d, size_t sz, size_t nm, void *ctx)
{
	struct buf *b = ctx;
	size_t add = sz * nm;
	char *np;

	if (b->n + add > MAX_ANSWER) {
		b->too_big = 1;
		return 0;
	}
	np = realloc(b->p, b->n + add + 1);
	if (!np)
		return 0;
	memcpy(np + b->n, d, add);
	b->p = np;
	b->n += add;
	b->p[b->n] = '\0';
	return add;
}

/* GET base+path; the answer's JSON in *out (a new reference). An error
 * answer becomes -EPROTO (-ENOENT for 404) with the server's message. */
static int get_json(struct zt_client *c, const char *path, json_t **out)
{
	char url[4096];
	struct curl_slist *hl = NULL;
	struct buf b = {0};
	json_error_t je;
	long status = 0;
	CURLcode cc;
	json_t *j;

	*out = NULL;
	if ((size_t)snprintf(url, sizeof(url), "%s%s", c->base, path) >= sizeof(url)) {
		snprintf(c->errmsg, sizeof(c->errmsg), "request URL too long");
		return -EINVAL;
	}
	if (c->auth[0])
		hl = curl_slist_append(hl, c->auth);
	curl_easy_reset(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(c->curl, CURLOPT_ACCEPT_ENCODING, ""); /* whatever curl can inflate */
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	cc = curl_easy_perform(c->curl);
	curl_slist_free_all(hl);
	if (cc != CURLE_OK) {
		free(b.p);
		if (b.too_big) {
			snprintf(c->errmsg, sizeof(c->errmsg), "the server's answer is larger than %u MiB", MAX_ANSWER >> 20);
			return -EPROTO;
		}
		snprintf(c->errmsg, sizeof(c->errmsg), "cannot reach the server at %s: %s", c->base,
			 curl_easy_strerror(cc));
		return -EHOSTUNREACH;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	j = b.p ? json_loadb(b.p, b.n, 0, &je) : NULL;
	free(b.p);
	if (status != 200) {
		const char *msg = json_string_value(json_object_get(j, "error"));
		const char *param = json_string_value(json_object_get(j, "param"));

		snprintf(c->errmsg, sizeof(c->errmsg), "the server answered %ld: %s%s%s%s", status,
			 msg ? msg : "(no error message)", param ? " (parameter '" : "", param ? param : "",
			 param ? "')" : "");
		json_decref(j);
		return status == 404 ? -ENOENT : -EPROTO;
	}
	if (!json_is_object(j)) {
		snprintf(c->errmsg, sizeof(c->errmsg), "the server's answer is not the API's JSON%s%s",
			 j ? "" : ": ", j ? "" : je.text);
		json_decref(j);
		return -EPROTO;
	}
	*out = j;
	return 0;
}

/* Appends "&k=v", v percent-encoded. */
static void qs_add(char *qs, size_t qssz, const char *k, const char *v)
{
	size_t n = strlen(qs);

	n += (size_t)snprintf(qs + n, n < qssz ? qssz - n : 0, "%c%s=", n ? '&' : '?', k);
	for (const unsigned char *p = (const unsigned char *)v; *p && n + 4 < qssz; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("-._~", *p))
			qs[n++] = (char)*p;
		else
			n += (size_t)snprintf(qs + n, qssz - n, "%%%02X", *p);
	}
	qs[n < qssz ? n : qssz - 1] = '\0';
}

static void qs_u64(char *qs, size_t qssz, const char *k, uint64_t v)
{
	char num[32];

	snprintf(num, sizeof(num), "%" PRIu64, v);
	qs_add(qs, qssz, k, num);
}

/* An absolute since_ns as the API's "since" duration (ns resolution). */
static void qs_since(char *qs, size_t qssz, uint64_t since_ns)
{
	uint64_t now = zt_clock_ns(CLOCK_REALTIME);
	char d[40];

	if (!since_ns)
		return;
	snprintf(d, sizeof(d), "%" PRIu64 "ns", now > since_ns ? now - since_ns : 1);
	qs_add(qs, qssz, "since", d);
}

static int decode_spans(struct zt_client *c, const json_t *arr, size_t from, size_t to, zt_span_cb cb, void *ctx)
{
	struct zt_span *s = malloc(sizeof(*s));
	int rc = 0;

	if (!s)
		return -ENOMEM;
	for (size_t i = from; i < to && !rc; i++) {
		rc = zt_span_from_json(json_array_get(arr, i), s, c->errmsg, sizeof(c->errmsg));
		if (rc) {
			rc = -EPROTO;
			break;
		}
		rc = cb(ctx, s);
		if (rc > 0) /* the callback stops: success */
			rc = 1;
	}
	free(s);
	return rc;
}

int zt_client_spans(struct zt_client *c, const struct zt_span_query *q, zt_span_cb cb, void *ctx)
{
	char qs[2048] = "", path[4096];
	json_t **pages = NULL;
	size_t npages = 0, got = 0;
	uint64_t want = q->limit ? q->limit : UINT64_MAX;
	int rc = 0;

	qs_since(qs, sizeof(qs), q->since_ns);
	if (q->protocol)
		qs_add(qs, sizeof(qs), "protocol", q->protocol);
	if (q->process)
		qs_add(qs, sizeof(qs), "process", q->process);
	if (q->status)
		qs_add(qs, sizeof(qs), "status", q->status);
	if (q->errors_only)
		qs_add(qs, sizeof(qs), "errors", "true");
	if (q->min_duration_ns) {
		char d[40];
		snprintf(d, sizeof(d), "%" PRIu64 "ns", q->min_duration_ns);
		qs_add(qs, sizeof(qs), "min_duration", d);
	}
	if (q->path)
		qs_add(qs, sizeof(qs), "path", q->path);
	if (q->endpoint)
		qs_add(qs, sizeof(qs), "endpoint", q->endpoint);
	if (q->pid)
		qs_u64(qs, sizeof(qs), "pid", q->pid);
	if (q->port)
		qs_u64(qs, sizeof(qs), "port", q->port);
	if (q->tap_side)
		qs_add(qs, sizeof(qs), "tap_side", zt_tap_side_name((enum zt_tap_side)q->tap_side));
	qs_u64(qs, sizeof(qs), "limit", want < API_MAX_LIMIT ? want : API_MAX_LIMIT);
	snprintf(path, sizeof(path), "/api/v1/spans%s", qs);
	/* pages come newest first: kept, then given oldest first */
	while (got < want) {
		json_t *page, *arr, **np;
		const char *next;

		rc = get_json(c, path, &page);
		if (rc)
			break;
		arr = json_object_get(page, "spans");
		if (!json_is_array(arr)) {
			snprintf(c->errmsg, sizeof(c->errmsg), "the server's answer has no spans array");
			json_decref(page);
			rc = -EPROTO;
			break;
		}
		np = realloc(pages, (npages + 1) * sizeof(*pages));
		if (!np) {
			json_decref(page);
			rc = -ENOMEM;
			break;
		}
		pages = np;
		pages[npages++] = page;
		got += json_array_size(arr);
		next = json_string_value(json_object_get(page, "next"));
		if (!next || !json_array_size(arr))
			break;
		if (strncmp(next, "/api/v1/spans?", 14) || strlen(next) >= sizeof(path)) {
			snprintf(c->errmsg, sizeof(c->errmsg), "the server's next link is not /api/v1/spans");
			rc = -EPROTO;
			break;
		}
		snprintf(path, sizeof(path), "%s", next);
		if (want != UINT64_MAX && want - got < API_MAX_LIMIT) { /* the last page: only what is left */
			char *lim = strstr(path, "limit=");
			if (lim && (lim[-1] == '?' || lim[-1] == '&')) {
				char rest[4096], *amp = strchr(lim, '&');
				snprintf(rest, sizeof(rest), "%s", amp ? amp : "");
				snprintf(lim, sizeof(path) - (size_t)(lim - path), "limit=%" PRIu64 "%s", want - got, rest);
			}
		}
	}
	for (size_t p = npages; p-- > 0 && !rc;) {
		const json_t *arr = json_object_get(pages[p], "spans");
		size_t n = json_array_size(arr), from = 0;

		/* the oldest page may hold more than asked for */
		if (p == npages - 1 && got > want)
			from = got - want < n ? (size_t)(got - want) : n;
		rc = decode_spans(c, arr, from, n, cb, ctx);
	}
	for (size_t p = 0; p < npages; p++)
		json_decref(pages[p]);
	free(pages);
	return rc > 0 ? 0 : rc;
}

int zt_client_trace(struct zt_client *c, const char *id, zt_span_cb cb, void *ctx, int *truncated)
{
	char path[256] = "/api/v1/traces/";
	size_t n = strlen(path);
	json_t *o = NULL, *arr;
	int rc;

	for (const unsigned char *p = (const unsigned char *)id; *p && n + 4 < sizeof(path); p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("-._~", *p))
			path[n++] = (char)*p;
		else
			n += (size_t)snprintf(path + n, sizeof(path) - n, "%%%02X", *p);
	}
	path[n] = '\0';
	rc = get_json(c, path, &o);
	if (rc)
		return rc;
	arr = json_object_get(o, "spans");
	if (!json_is_array(arr)) {
		snprintf(c->errmsg, sizeof(c->errmsg), "the server's answer has no spans array");
		json_decref(o);
		return -EPROTO;
	}
	*truncated = json_is_true(json_object_get(o, "truncated"));
	rc = decode_spans(c, arr, 0, json_array_size(arr), cb, ctx);
	json_decref(o);
	return rc > 0 ? 0 : rc;
}

int zt_client_traces(struct zt_client *c, const struct zt_trace_query *q, zt_trace_cb cb, void *ctx)
{
	char qs[2048] = "", path[4096], num[40];
	json_t *o = NULL, *arr;
	size_t i;
	int rc;

	qs_since(qs, sizeof(qs), q->since_ns);
	if (q->service)
		qs_add(qs, sizeof(qs), "service", q->service);
	if (q->endpoint)
		qs_add(qs, sizeof(qs), "endpoint", q->endpoint);
	if (q->errors_only)
		qs_add(qs, sizeof(qs), "errors", "true");
	if (q->min_duration_ns) {
		snprintf(num, sizeof(num), "%" PRIu64 "ns", q->min_duration_ns);
		qs_add(qs, sizeof(qs), "min_duration", num);
	}
	if (q->sort_by_duration)
		qs_add(qs, sizeof(qs), "sort", "duration");
	qs_u64(qs, sizeof(qs), "limit", q->limit && q->limit < API_MAX_LIMIT ? q->limit : API_MAX_LIMIT);
	snprintf(path, sizeof(path), "/api/v1/traces%s", qs);
	rc = get_json(c, path, &o);
	if (rc)
		return rc;
	arr = json_object_get(o, "traces");
	if (!json_is_array(arr)) {
		snprintf(c->errmsg, sizeof(c->errmsg), "the server's answer has no traces array");
		json_decref(o);
		return -EPROTO;
	}
	for (i = 0; i < json_array_size(arr) && !rc; i++) {
		struct zt_trace_summary t;

		if (zt_trace_summary_from_json(json_array_get(arr, i), &t, c->errmsg, sizeof(c->errmsg))) {
			rc = -EPROTO;
			break;
		}
		rc = cb(ctx, &t);
	}
	json_decref(o);
	return rc > 0 ? 0 : rc;
}
