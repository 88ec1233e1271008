/* SPDX-License-Identifier: MIT */
/*
 * store_clickhouse_http.c - the ClickHouse backend's one HTTP call (libcurl,
 * the store's easy handle: the connection is kept alive between requests),
 * gzip of insert bodies, and the server's error replies turned into errno
 * and a message that names the server.
 */
#include "store/clickhouse_int.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ---- HTTP ----------------------------------------------------------------- */

struct reply {
	struct zt_ch_buf *out;
	struct zt_ch_buf err; /* the body of a failed request */
	zt_ch_sink_fn sink;
	void *ctx;
	long status;
	int sink_rc;
	CURL *curl;
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	struct reply *r = arg;
	size_t n = size * nmemb;

	if (!r->status)
		curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->status != 200) {
		if (r->err.len < 4096)
			(void)zt_ch_buf_put(&r->err, data, n);
		return n;
	}
	if (r->sink) {
		r->sink_rc = r->sink(r->ctx, data, n);
		return r->sink_rc ? 0 : n; /* 0: curl stops with a write error */
	}
	if (r->out && zt_ch_buf_put(r->out, data, n))
		return 0;
	return n;
}

/* gzip (RFC 1952) of data at level 1: inserts are large and the server is
 * usually near; level 1 keeps compression off the critical path. */
static int gzip_buf(const char *data, size_t n, struct zt_ch_buf *out)
{
	z_stream z = {0};
	size_t bound;
	int rc;

	if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	bound = deflateBound(&z, n) + 64;
	out->len = 0;
	if (out->cap < bound + 1) {
		char *np = realloc(out->p, bound + 1);
		if (!np) {
			deflateEnd(&z);
			return -ENOMEM;
		}
		out->p = np;
		out->cap = bound + 1;
	}
	z.next_in = (unsigned char *)(uintptr_t)data;
	z.avail_in = (uInt)n;
	z.next_out = (unsigned char *)out->p;
	z.avail_out = (uInt)bound;
	rc = deflate(&z, Z_FINISH);
	out->len = z.total_out;
	deflateEnd(&z);
	return rc == Z_STREAM_END ? 0 : -EIO;
}

/* "Code: 60, e.displayText() = DB::Exception: Table x doesn't exist., ..."
 * -> the text after "DB::Exception: ", without the e.what() tail. */
static void server_message(const char *body, char *out, size_t size)
{
	const char *m = strstr(body, "DB::Exception: ");
	const char *end;
	int code = 0;

	if (sscanf(body, "Code: %d", &code) != 1)
		code = 0;
	m = m ? m + 15 : body;
	end = strstr(m, ", e.what()");
	if (!end)
		end = m + strcspn(m, "\n");
	snprintf(out, size, "%.*s%s", (int)(end - m > 400 ? 400 : end - m), m, code ? "" : "");
	(void)code;
}

static int server_code(const char *body)
{
	int code = 0;

	return sscanf(body, "Code: %d", &code) == 1 ? code : 0;
}

int zt_ch_http(struct zt_ch *ch, const char *sql_in_url, const char *body, size_t blen, bool gzip,
	       struct zt_ch_buf *out, zt_ch_sink_fn sink, void *sink_ctx)
{
	struct reply r = {.out = out, .sink = sink, .ctx = sink_ctx, .curl = ch->curl};
	struct curl_slist *hdr = NULL;
	struct zt_ch_buf url = {0}, z = {0};
	CURLcode cc;
	int err = 0;

	if (!ch->curl)
		return zt_ch_set_err(ch, -EBADF, "store is not open");
	err = zt_ch_buf_printf(&url, "%s", ch->base_url);
	if (!err && sql_in_url) {
		char *esc = curl_easy_escape(ch->curl, sql_in_url, 0);
		err = esc ? zt_ch_buf_printf(&url, "&query=%s", esc) : -ENOMEM;
		curl_free(esc);
	}
	if (!err && gzip) {
		err = gzip_buf(body, blen, &z);
		body = z.p;
		blen = z.len;
		hdr = curl_slist_append(hdr, "Content-Encoding: gzip");
	}
	if (err) {
		err = zt_ch_set_err(ch, err, "ClickHouse request: %s", strerror(-err));
		goto out;
	}
	hdr = curl_slist_append(hdr, "Content-Type: application/octet-stream");
	curl_easy_setopt(ch->curl, CURLOPT_URL, url.p);
	curl_easy_setopt(ch->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(ch->curl, CURLOPT_POSTFIELDS, body ? body : "");
	curl_easy_setopt(ch->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
	curl_easy_setopt(ch->curl, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(ch->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(ch->curl, CURLOPT_WRITEDATA, &r);
	cc = curl_easy_perform(ch->curl);
	if (!r.status)
		curl_easy_getinfo(ch->curl, CURLINFO_RESPONSE_CODE, &r.status);
	if (cc == CURLE_WRITE_ERROR && r.sink_rc) {
		err = r.sink_rc; /* the reader stopped (or failed: its message is set) */
		goto out;
	}
	if (cc != CURLE_OK) {
		int e = cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT
			: cc == CURLE_COULDNT_CONNECT  ? -ECONNREFUSED
			: cc == CURLE_OUT_OF_MEMORY    ? -ENOMEM
						       : -EIO;
		err = zt_ch_set_err(ch, e, "ClickHouse at %s is unreachable: %s", ch->where, curl_easy_strerror(cc));
		goto out;
	}
	if (r.status != 200) {
		char msg[512];
		int code = server_code(r.err.p ? r.err.p : "");

		server_message(r.err.p ? r.err.p : "", msg, sizeof(msg));
		/* 192/193/516: unknown user, wrong password, authentication failed */
		err = zt_ch_set_err(ch,
				    code == 192 || code == 193 || code == 516 ? -EACCES
				    : code == 81 || code == 60		      ? -ENOENT
				    : r.status >= 500 && code == 0	      ? -EIO
				    /* another shard of the cluster is away (a Distributed read):
				     * 279 ALL_CONNECTION_TRIES_FAILED, 210 NETWORK_ERROR,
				     * 209 SOCKET_TIMEOUT, 159 TIMEOUT_EXCEEDED: ridden out too */
				    : code == 279 || code == 210 || code == 209 || code == 159 ? -EIO
										      : -EPROTO,
				    "ClickHouse at %s refused (HTTP %ld, code %d): %s", ch->where, r.status, code, msg);
	}
out:
	curl_slist_free_all(hdr);
	free(url.p);
	free(z.p);
	free(r.err.p);
	return err;
}

int zt_ch_exec(struct zt_ch *ch, const char *sql)
{
	return zt_ch_http(ch, NULL, sql, strlen(sql), false, NULL, NULL, NULL);
}

