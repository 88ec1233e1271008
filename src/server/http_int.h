/* SPDX-License-Identifier: MIT */
/*
 * http_int.h - the request record shared by http.c (libmicrohttpd side)
 * and http_params.c (parsing, answers). Not for handlers: they use http.h.
 */
#ifndef ZT_SERVER_HTTP_INT_H
#define ZT_SERVER_HTTP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/http.h"

struct MHD_Connection;
struct MHD_Response;

#define ZT_HTTP_MAX_EXTRA_HEADERS 4

struct zt_http_req {
	struct zt_http_server *srv;     /* NULL for a test request */
	struct MHD_Connection *conn;    /* NULL for a test request */
	char *uri;                      /* raw request target, owned */
	char *path;                     /* decoded path, owned */
	char method[16];
	struct zt_http_params query;
	int query_err;                  /* the query string did not parse */
	const void *route;              /* matched route, or NULL */
	unsigned npp;
	const char *pp_name[ZT_HTTP_MAX_PATH_PARAMS];
	char *pp_val[ZT_HTTP_MAX_PATH_PARAMS]; /* owned */
	uint8_t *body;                  /* owned; inflated at dispatch when gzip */
	size_t body_len, body_cap;
	uint64_t discarded;             /* body bytes dropped after the bound */
	bool started, early;            /* first call seen; answered before the body */
	unsigned status;                /* answered with this; 0: not yet */
	char *test_body;                /* a test request's answer, owned */
	unsigned nextra;
	char *extra[ZT_HTTP_MAX_EXTRA_HEADERS][2]; /* owned name/value pairs */
};

/* Sends (or, for a test request, keeps) the answer. Copies body. */
int zt_http__send(struct zt_http_req *req, unsigned status, const char *ctype, const void *body, size_t len);

#endif /* ZT_SERVER_HTTP_INT_H */
