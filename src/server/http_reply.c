/* SPDX-License-Identifier: MIT */
/*
 * http_reply.c - answers (JSON, errors, raw) and the socket-less test
 * requests of the HTTP core (http.h); http.c queues what this builds.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "server/http.h"
#include "server/http_int.h"

/* ---- answers ---- */

int zt_http_add_header(struct zt_http_req *req, const char *name, const char *value)
{
	if (req->nextra == ZT_HTTP_MAX_EXTRA_HEADERS)
		return -ENOSPC;
	req->extra[req->nextra][0] = strdup(name);
	req->extra[req->nextra][1] = strdup(value);
	req->nextra++;
	return req->extra[req->nextra - 1][0] && req->extra[req->nextra - 1][1] ? 0 : -ENOMEM;
}

int zt_http__send(struct zt_http_req *req, unsigned status, const char *ctype, const void *body, size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result ok;

	if (req->status)
		return -EALREADY; /* one answer per request */
	req->status = status;
	if (req->srv)
		zt_http__count_status(req->srv, status);
	if (!req->conn) {
		free(req->test_body);
		req->test_body = malloc(len + 1);
		if (!req->test_body)
			return -ENOMEM;
		memcpy(req->test_body, body, len);
		req->test_body[len] = '\0';
		return 0;
	}
	r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return -ENOMEM;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	for (unsigned i = 0; i < req->nextra; i++)
		if (req->extra[i][0] && req->extra[i][1])
			MHD_add_response_header(r, req->extra[i][0], req->extra[i][1]);
	ok = MHD_queue_response(req->conn, status, r);
	MHD_destroy_response(r);
	return ok == MHD_YES ? 0 : -EIO;
}

int zt_http_reply_raw(struct zt_http_req *req, unsigned status, const char *content_type, const void *body,
		      size_t len)
{
	return zt_http__send(req, status, content_type, body, len);
}

int zt_http_reply_json(struct zt_http_req *req, unsigned status, json_t *body)
{
	char *s;
	int rc;

	if (!body)
		return zt_http__send(req, 500, "application/json", "{\"error\":\"out of memory\"}", 25);
	s = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(body);
	if (!s)
		return zt_http__send(req, 500, "application/json", "{\"error\":\"out of memory\"}", 25);
	rc = zt_http__send(req, status, "application/json", s, strlen(s));
	free(s);
	return rc;
}

/* Outside bytes (parameter names) in a message: printable ASCII only, so
 * the text is valid UTF-8 for jansson and safe in a terminal. */
static void printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

int zt_http_reply_error(struct zt_http_req *req, unsigned status, const char *param, const char *fmt, ...)
{
	char msg[512], pbuf[128];
	json_t *o;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	printable(msg);
	o = json_pack("{s:s}", "error", msg);
	if (o && param) {
		snprintf(pbuf, sizeof(pbuf), "%s", param);
		printable(pbuf);
		json_object_set_new(o, "param", json_string(pbuf));
	}
	return zt_http_reply_json(req, status, o);
}

/* ---- test requests (unit tests, fuzzers) ---- */

struct zt_http_req *zt_http_test_req(const char *method, const char *path, const char *query)
{
	struct zt_http_req *req = calloc(1, sizeof(*req));
	char *uri;
	size_t n;

	if (!req)
		return NULL;
	snprintf(req->method, sizeof(req->method), "%s", method);
	n = strlen(path) + (query ? strlen(query) + 1 : 0) + 1;
	uri = malloc(n);
	if (!uri || snprintf(uri, n, "%s%s%s", path, query ? "?" : "", query ? query : "") < 0 ||
	    zt_http__parse_target(req, uri)) {
		free(uri);
		zt_http__req_free(req);
		return NULL;
	}
	free(uri);
	return req;
}

unsigned zt_http_test_status(const struct zt_http_req *req) { return req->status; }
const char *zt_http_test_body(const struct zt_http_req *req) { return req->test_body; }
void zt_http_test_free(struct zt_http_req *req) { zt_http__req_free(req); }

