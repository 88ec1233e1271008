/* SPDX-License-Identifier: MIT */
/*
 * http.h - the HTTP server core (libmicrohttpd): a route table of
 * (method, path pattern) -> handler, query parameters with typed parsing,
 * JSON answers and JSON errors, request bodies (gzip inflated), bearer
 * token auth. The API (server/api.h), the RED/map handlers, OTLP ingest and
 * /metrics register their routes here; `ztrace up` and `ztrace server`
 * start one server.
 *
 * Errors are JSON: {"error": "what went wrong", "param": "name"} ("param"
 * only when one parameter is to blame) with 400 (bad parameter or body),
 * 401 (token missing or wrong), 404 (no such route or object), 405 (the
 * path exists with other methods; Allow says which), 413 (body too big),
 * 415 (Content-Encoding not gzip/identity), 500 (handler failure).
 *
 * Threads: handlers run on the server's worker threads (a pool of
 * cfg.threads), several at once: a handler's ctx must be safe for that.
 *
 * Return convention: 0 on success, negative errno on failure (with a
 * message in the caller's err buffer where one is taken).
 */
#ifndef ZT_SERVER_HTTP_H
#define ZT_SERVER_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define ZT_HTTP_DEFAULT_LISTEN "127.0.0.1:7070"
#define ZT_HTTP_MAX_PARAMS 32
#define ZT_HTTP_MAX_PATH_PARAMS 4

struct zt_http_server;
struct zt_http_req;

struct zt_http_cfg {
	const char *listen;     /* "HOST:PORT" / "[V6]:PORT" (numeric), NULL: ZT_HTTP_DEFAULT_LISTEN */
	const char *token_file; /* bearer token (first line); required unless listen is loopback */
	size_t max_body;        /* bytes of a request body, after gzip inflation; 0: 16 MiB */
	unsigned max_conns;     /* connections at once; 0: 64 */
	unsigned threads;       /* worker threads; 0: 4 */
	unsigned timeout_s;     /* idle connection timeout; 0: 30 */
};

/* A handler answers with exactly one zt_http_reply* call (or one of the
 * typed-parameter helpers answered 400 for it) and returns 0. A handler
 * that returns non-0 without answering gets a 500. req is borrowed for
 * the call only. */
typedef int (*zt_http_handler)(void *ctx, struct zt_http_req *req);

/* Checks cfg (listen address, token file) without binding: -EINVAL with a
 * message for a bad address, a non-loopback address without token_file,
 * or an unreadable/empty token file. */
int zt_http_new(const struct zt_http_cfg *cfg, struct zt_http_server **out, char *err, size_t errsz);
/* Registers a route before zt_http_start. method: "GET", "POST"...;
 * pattern: "/a/b/{name}/c" where {name} matches one non-empty path
 * segment (percent-decoded, read with zt_http_path_param). The first
 * matching route wins. -EEXIST for the same method and pattern twice,
 * -ENOSPC when the table is full, -EBUSY once started. */
int zt_http_route(struct zt_http_server *srv, const char *method, const char *pattern, zt_http_handler fn,
		  void *ctx);
/* Binds and serves (own threads). -EADDRINUSE etc. with a message. */
int zt_http_start(struct zt_http_server *srv, char *err, size_t errsz);
/* The bound address ("127.0.0.1:7070"), valid after start. */
const char *zt_http_address(const struct zt_http_server *srv);
/* Stops serving (waits for running handlers) and frees; NULL is fine. */
void zt_http_free(struct zt_http_server *srv);

/* True when the numeric address text (as in cfg.listen, with or without a
 * port) is a loopback address: 127.0.0.0/8, ::1 or ::ffff:127.x. */
bool zt_http_is_loopback(const char *listen);

/* Server counters (for /api/v1/status and /metrics). */
struct zt_http_stats {
	uint64_t requests, errors_4xx, errors_5xx, unauthorized, bodies_too_big;
};
void zt_http_get_stats(const struct zt_http_server *srv, struct zt_http_stats *out);

/* ---- the request ---- */

const char *zt_http_method(const struct zt_http_req *req);
const char *zt_http_path(const struct zt_http_req *req); /* decoded, without the query */
const char *zt_http_header(const struct zt_http_req *req, const char *name); /* NULL if absent */
/* The body, inflated when it was gzip; NULL/0 when none. Borrowed. */
const uint8_t *zt_http_body(const struct zt_http_req *req, size_t *len);
/* A {name} of the route pattern; NULL if the pattern has none. */
const char *zt_http_path_param(const struct zt_http_req *req, const char *name);

/* ---- query parameters ----
 * The typed getters answer 400 naming the parameter (and return -EINVAL)
 * when it is present but invalid; when absent they leave *out untouched
 * and return 0, so callers preset defaults. A parameter given twice is
 * invalid. */

/* Raw value (decoded), NULL if absent. */
const char *zt_http_query(const struct zt_http_req *req, const char *name);
/* The parameters in request order (for building links). */
unsigned zt_http_query_count(const struct zt_http_req *req);
const char *zt_http_query_key(const struct zt_http_req *req, unsigned i);
const char *zt_http_query_val(const struct zt_http_req *req, unsigned i);
/* 400 for any parameter not in allowed (NULL-terminated). */
int zt_http_params_only(struct zt_http_req *req, const char *const *allowed);
int zt_http_param_u64(struct zt_http_req *req, const char *name, uint64_t min, uint64_t max, uint64_t *out);
/* A duration (util/duration.h: 500ms, 30s, 2h...), in ns. */
int zt_http_param_duration(struct zt_http_req *req, const char *name, uint64_t *out);
/* true/false/1/0; an empty value ("?errors") is true. */
int zt_http_param_bool(struct zt_http_req *req, const char *name, bool *out);
/* One of names (NULL-terminated, ASCII case-insensitive): *out = index. */
int zt_http_param_enum(struct zt_http_req *req, const char *name, const char *const *names, int *out);
/* Text of 1..maxlen bytes without control characters; *out borrowed. */
int zt_http_param_str(struct zt_http_req *req, const char *name, size_t maxlen, const char **out);

/* ---- answers ---- */

/* Takes the reference to body (json_decref'd here, also on failure). */
int zt_http_reply_json(struct zt_http_req *req, unsigned status, json_t *body);
/* param may be NULL. */
int zt_http_reply_error(struct zt_http_req *req, unsigned status, const char *param, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Copies body. */
int zt_http_reply_raw(struct zt_http_req *req, unsigned status, const char *content_type, const void *body,
		      size_t len);
/* Adds a header to the answer not yet sent (call before the reply). */
int zt_http_add_header(struct zt_http_req *req, const char *name, const char *value);

/* ---- parsing, exposed for tests and the fuzzer ---- */

/* A query string ("a=1&b=x%20y", no '?') split and percent-decoded ('+'
 * is a space) into the caller's params; -EINVAL for a bad escape, a NUL
 * escape, an empty name or more than ZT_HTTP_MAX_PARAMS. */
struct zt_http_params {
	unsigned n;
	struct {
		char *key, *val; /* point into buf */
	} p[ZT_HTTP_MAX_PARAMS];
	char *buf; /* owned: zt_http_params_free */
};
int zt_http_params_parse(const char *qs, size_t len, struct zt_http_params *out);
void zt_http_params_free(struct zt_http_params *p);
/* Percent-decodes in place (plus_space: '+' -> ' '); -EINVAL for a bad or
 * NUL escape. Returns the new length through *len. */
int zt_http_pct_decode(char *s, size_t *len, bool plus_space);
/* A request for tests/fuzzing: no connection; replies are kept and read
 * back with zt_http_test_status/_body. */
struct zt_http_req *zt_http_test_req(const char *method, const char *path, const char *query);
unsigned zt_http_test_status(const struct zt_http_req *req); /* 0: no reply yet */
const char *zt_http_test_body(const struct zt_http_req *req);
void zt_http_test_free(struct zt_http_req *req);

#endif /* ZT_SERVER_HTTP_H */
