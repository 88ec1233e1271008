/* SPDX-License-Identifier: MIT */
/*
 * http.c - the libmicrohttpd side of the HTTP core (http.h): listening,
 * auth, routing, body collection and answers.
 *
 * One request goes through the access handler several times: the first
 * call (headers read) authenticates, routes and checks Content-Length, and
 * answers at once when any of that fails (MHD then skips the body and
 * closes); later calls collect the body up to max_body (what passes the
 * bound is dropped and answered 413); the last call dispatches.
 * The raw request target comes from MHD's URI log callback (called before
 * MHD splits and decodes it): this file decodes path segments and the query
 * itself (http_params.c), so the fuzzer runs the same code.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>
#include <zlib.h>

#include "server/http.h"
#include "server/http_int.h"

#define MAX_ROUTES 64
#define MAX_SEGS 12
#define MAX_TOKEN 512
#define DISCARD_MAX (64u << 20) /* body bytes dropped past the bound before the connection is cut */

struct route {
	char method[12];
	char *pattern; /* owned */
	unsigned nseg;
	char *seg[MAX_SEGS]; /* into pattern_buf; "{name}" kept with braces */
	char *pattern_buf;   /* owned */
	zt_http_handler fn;
	void *ctx;
};

struct zt_http_server {
	struct zt_http_cfg cfg;
	char listen[128];
	char bound[128];
	char token[MAX_TOKEN];
	size_t token_len;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct MHD_Daemon *d;
	unsigned nroutes;
	struct route routes[MAX_ROUTES];
	struct zt_http_stats stats; /* atomics */
};

/* ---- configuration ---- */

/* Splits "HOST:PORT" / "[V6]:PORT" into a sockaddr; numeric hosts only
 * (no DNS at start-up). */
static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len, char *err, size_t errsz)
{
	char host[64];
	const char *colon, *port;
	struct addrinfo hints = {0}, *ai = NULL;
	size_t hlen;
	char *end;
	unsigned long p;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || rb[1] != ':')
			goto bad;
		hlen = (size_t)(rb - s - 1);
		if (hlen >= sizeof(host))
			goto bad;
		memcpy(host, s + 1, hlen);
		port = rb + 2;
	} else {
		colon = strrchr(s, ':');
		if (!colon || strchr(s, ':') != colon)
			goto bad;
		hlen = (size_t)(colon - s);
		if (!hlen || hlen >= sizeof(host))
			goto bad;
		memcpy(host, s, hlen);
		port = colon + 1;
	}
	host[hlen] = '\0';
	errno = 0;
	p = strtoul(port, &end, 10);
	if (!*port || *end || errno || p > 65535 || port[0] == '-' || port[0] == '+')
		goto bad;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &ai) || !ai)
		goto bad;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
bad:
	snprintf(err, errsz, "invalid listen address '%s': expected IP:PORT or [IPv6]:PORT (e.g. 127.0.0.1:7070)", s);
	return -EINVAL;
}

static bool sockaddr_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
		if (IN6_IS_ADDR_LOOPBACK(a))
			return true;
		return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
	}
	return false;
}

bool zt_http_is_loopback(const char *listen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char err[8], buf[80];

	if (!parse_listen(listen, &ss, &len, err, sizeof(err)))
		return sockaddr_loopback(&ss);
	/* no port: try it with one */
	if (snprintf(buf, sizeof(buf), strchr(listen, ':') ? "[%s]:1" : "%s:1", listen) >= (int)sizeof(buf))
		return false;
	return !parse_listen(buf, &ss, &len, err, sizeof(err)) && sockaddr_loopback(&ss);
}

static int read_token(const char *file, char *tok, size_t *toklen, char *err, size_t errsz)
{
	FILE *f = fopen(file, "re");
	size_t n;

	if (!f) {
		snprintf(err, errsz, "cannot read the token file %s: %s", file, strerror(errno));
		return -EINVAL;
	}
	if (!fgets(tok, MAX_TOKEN, f))
		tok[0] = '\0';
	fclose(f);
	n = strcspn(tok, "\r\n");
	tok[n] = '\0';
	if (n < 8) {
		snprintf(err, errsz, "the token file %s must hold a token of at least 8 characters on its first line",
			 file);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)tok[i] <= 0x20 || tok[i] == 0x7f) {
			snprintf(err, errsz, "the token in %s has spaces or control characters", file);
			return -EINVAL;
		}
	}
	*toklen = n;
	return 0;
}

int zt_http_new(const struct zt_http_cfg *cfg, struct zt_http_server **out, char *err, size_t errsz)
{
	struct zt_http_server *srv = calloc(1, sizeof(*srv));
	int rc;

	*out = NULL;
	if (!srv) {
		snprintf(err, errsz, "out of memory");
		return -ENOMEM;
	}
	srv->cfg = *cfg;
	snprintf(srv->listen, sizeof(srv->listen), "%s", cfg->listen ? cfg->listen : ZT_HTTP_DEFAULT_LISTEN);
	srv->cfg.listen = srv->listen;
	if (!srv->cfg.max_body)
		srv->cfg.max_body = 16u << 20;
	if (!srv->cfg.max_conns)
		srv->cfg.max_conns = 64;
	if (!srv->cfg.threads)
		srv->cfg.threads = 4;
	if (!srv->cfg.timeout_s)
		srv->cfg.timeout_s = 30;
	srv->cfg.token_file = NULL; /* not kept: the token is */
	rc = parse_listen(srv->listen, &srv->addr, &srv->addrlen, err, errsz);
	if (rc)
		goto fail;
	if (cfg->token_file) {
		rc = read_token(cfg->token_file, srv->token, &srv->token_len, err, errsz);
		if (rc)
			goto fail;
	} else if (!sockaddr_loopback(&srv->addr)) {
		snprintf(err, errsz,
			 "listening on %s (not a loopback address) needs --token-file FILE: clients then send "
			 "'Authorization: Bearer TOKEN'",
			 srv->listen);
		rc = -EINVAL;
		goto fail;
	}
	*out = srv;
	return 0;
fail:
	free(srv);
	return rc;
}

/* ---- routes ---- */

static int split_segs(char *path, char **seg, unsigned max, unsigned *n)
{
	*n = 0;
	if (path[0] != '/')
		return -EINVAL;
	if (!path[1])
		return 0; /* "/" */
	for (char *p = path + 1;;) {
		char *slash = strchr(p, '/');
		if (*n == max)
			return -E2BIG;
		seg[(*n)++] = p;
		if (!slash)
			break;
		*slash = '\0';
		p = slash + 1;
	}
	return 0;
}

int zt_http_route(struct zt_http_server *srv, const char *method, const char *pattern, zt_http_handler fn,
		  void *ctx)
{
	struct route *r;

	if (srv->d)
		return -EBUSY;
	if (strlen(method) >= sizeof(r->method) || !fn)
		return -EINVAL;
	for (unsigned i = 0; i < srv->nroutes; i++)
		if (!strcmp(srv->routes[i].method, method) && !strcmp(srv->routes[i].pattern, pattern))
			return -EEXIST;
	if (srv->nroutes == MAX_ROUTES)
		return -ENOSPC;
	r = &srv->routes[srv->nroutes];
	memset(r, 0, sizeof(*r));
	snprintf(r->method, sizeof(r->method), "%s", method);
	r->pattern = strdup(pattern);
	r->pattern_buf = strdup(pattern);
	if (!r->pattern || !r->pattern_buf || split_segs(r->pattern_buf, r->seg, MAX_SEGS, &r->nseg)) {
		free(r->pattern);
		free(r->pattern_buf);
		return r->pattern && r->pattern_buf ? -EINVAL : -ENOMEM;
	}
	for (unsigned i = 0, np = 0; i < r->nseg; i++) {
		if (r->seg[i][0] == '{' && ++np > ZT_HTTP_MAX_PATH_PARAMS) {
			free(r->pattern);
			free(r->pattern_buf);
			return -EINVAL;
		}
	}
	r->fn = fn;
	r->ctx = ctx;
	srv->nroutes++;
	return 0;
}

/* Matches the decoded segments against r; fills the request's path
 * params (names borrowed from the route, values copied). */
static bool route_match(const struct route *r, char **seg, unsigned nseg, struct zt_http_req *req)
{
	if (r->nseg != nseg)
		return false;
	for (unsigned i = 0; i < nseg; i++) {
		if (r->seg[i][0] == '{') {
			if (!seg[i][0])
				return false;
		} else if (strcmp(r->seg[i], seg[i])) {
			return false;
		}
	}
	if (!req)
		return true;
	for (unsigned i = 0; i < nseg; i++) {
		if (r->seg[i][0] != '{')
			continue;
		req->pp_name[req->npp] = r->seg[i];
		req->pp_val[req->npp] = strdup(seg[i]);
		if (!req->pp_val[req->npp])
			return false;
		req->npp++;
	}
	return true;
}

const char *zt_http_path_param(const struct zt_http_req *req, const char *name)
{
	size_t n = strlen(name);

	for (unsigned i = 0; i < req->npp; i++) {
		const char *p = req->pp_name[i]; /* "{name}" */
		if (!strncmp(p + 1, name, n) && p[n + 1] == '}' && !p[n + 2])
			return req->pp_val[i];
	}
	return NULL;
}

/* ---- the request record ---- */

static void req_free(struct zt_http_req *req)
{
	if (!req)
		return;
	free(req->uri);
	free(req->path);
	zt_http_params_free(&req->query);
	for (unsigned i = 0; i < req->npp; i++)
		free(req->pp_val[i]);
	for (unsigned i = 0; i < req->nextra; i++) {
		free(req->extra[i][0]);
		free(req->extra[i][1]);
	}
	free(req->body);
	free(req->test_body);
	free(req);
}

/* Splits the raw target into the decoded path and the query. -EINVAL
 * (the path is bad: 400) or -ENOMEM. */
static int req_parse_target(struct zt_http_req *req, const char *uri)
{
	const char *q = strchr(uri, '?');
	size_t plen = q ? (size_t)(q - uri) : strlen(uri);

	req->uri = strdup(uri);
	req->path = malloc(plen + 1);
	if (!req->uri || !req->path)
		return -ENOMEM;
	memcpy(req->path, uri, plen);
	req->path[plen] = '\0';
	if (q)
		req->query_err = zt_http_params_parse(q + 1, strlen(q + 1), &req->query);
	return 0;
}

const char *zt_http_method(const struct zt_http_req *req) { return req->method; }
const char *zt_http_path(const struct zt_http_req *req) { return req->path; }

const char *zt_http_header(const struct zt_http_req *req, const char *name)
{
	if (!req->conn)
		return NULL;
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const uint8_t *zt_http_body(const struct zt_http_req *req, size_t *len)
{
	*len = req->body_len;
	return req->body_len ? req->body : NULL;
}

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
	if (req->srv) {
		if (status >= 500)
			__atomic_add_fetch(&req->srv->stats.errors_5xx, 1, __ATOMIC_RELAXED);
		else if (status >= 400)
			__atomic_add_fetch(&req->srv->stats.errors_4xx, 1, __ATOMIC_RELAXED);
	}
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
	    req_parse_target(req, uri)) {
		free(uri);
		req_free(req);
		return NULL;
	}
	free(uri);
	return req;
}

unsigned zt_http_test_status(const struct zt_http_req *req) { return req->status; }
const char *zt_http_test_body(const struct zt_http_req *req) { return req->test_body; }
void zt_http_test_free(struct zt_http_req *req) { req_free(req); }

/* ---- serving ---- */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct zt_http_req *req = calloc(1, sizeof(*req));

	(void)conn;
	if (!req)
		return NULL;
	req->srv = cls;
	if (req_parse_target(req, uri)) {
		req_free(req);
		return NULL;
	}
	return req;
}

static void on_done(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	req_free(*con_cls);
	*con_cls = NULL;
}

/* Constant time in the token's length: every byte of the expected token is
 * compared whatever the given one holds, and no branch depends on where
 * they first differ. */
static bool token_ok(const struct zt_http_server *srv, const char *auth)
{
	static const char bearer[] = "Bearer ";
	unsigned char diff = 0;
	size_t n;

	if (!auth || strncasecmp(auth, bearer, sizeof(bearer) - 1))
		return false;
	auth += sizeof(bearer) - 1;
	n = strnlen(auth, MAX_TOKEN + 1);
	diff |= (unsigned char)(n != srv->token_len);
	for (size_t i = 0; i < srv->token_len; i++)
		diff |= (unsigned char)(srv->token[i] ^ auth[i < n ? i : 0]);
	return diff == 0;
}

/* The first call: auth, route, declared size, encoding. Returns 0 to go on
 * reading the body, 1 when an answer was queued. */
static int req_first(struct zt_http_server *srv, struct zt_http_req *req)
{
	char *segs[MAX_SEGS + 1];
	char *pathbuf;
	unsigned nseg = 0;
	const char *cl, *ce;
	char allow[128] = "";
	size_t an = 0;
	bool path_known = false;
	int rc;

	__atomic_add_fetch(&srv->stats.requests, 1, __ATOMIC_RELAXED);
	if (srv->token_len && !token_ok(srv, zt_http_header(req, MHD_HTTP_HEADER_AUTHORIZATION))) {
		__atomic_add_fetch(&srv->stats.unauthorized, 1, __ATOMIC_RELAXED);
		zt_http_add_header(req, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
		zt_http_reply_error(req, 401, NULL, "missing or wrong token: send 'Authorization: Bearer TOKEN'");
		return 1;
	}
	pathbuf = strdup(req->path);
	if (!pathbuf) {
		zt_http_reply_error(req, 500, NULL, "out of memory");
		return 1;
	}
	/* "/a/b/" is "/a/b" */
	if (strlen(pathbuf) > 1 && pathbuf[strlen(pathbuf) - 1] == '/')
		pathbuf[strlen(pathbuf) - 1] = '\0';
	rc = split_segs(pathbuf, segs, MAX_SEGS, &nseg);
	for (unsigned i = 0; !rc && i < nseg; i++) {
		size_t len = strlen(segs[i]);
		rc = zt_http_pct_decode(segs[i], &len, false);
	}
	if (rc) {
		free(pathbuf);
		if (rc == -E2BIG)
			zt_http_reply_error(req, 404, NULL, "no such path");
		else
			zt_http_reply_error(req, 400, NULL, "bad request path (bad percent escape?)");
		return 1;
	}
	for (unsigned i = 0; i < srv->nroutes; i++) {
		const struct route *r = &srv->routes[i];
		if (!route_match(r, segs, nseg, NULL))
			continue;
		path_known = true;
		if (strcmp(r->method, req->method)) {
			if (!strstr(allow, r->method) && an < sizeof(allow))
				an += (size_t)snprintf(allow + an, sizeof(allow) - an, "%s%s", an ? ", " : "", r->method);
			continue;
		}
		if (!route_match(r, segs, nseg, req)) {
			free(pathbuf);
			zt_http_reply_error(req, 500, NULL, "out of memory");
			return 1;
		}
		req->route = r;
		break;
	}
	free(pathbuf);
	if (!req->route) {
		if (path_known) {
			zt_http_add_header(req, MHD_HTTP_HEADER_ALLOW, allow);
			zt_http_reply_error(req, 405, NULL, "method %s not allowed here (allowed: %s)", req->method,
					    allow);
		} else {
			zt_http_reply_error(req, 404, NULL, "no such path: %.200s", req->path);
		}
		return 1;
	}
	if (req->query_err) {
		zt_http_reply_error(req, 400, NULL, "bad query string (bad percent escape or more than %d parameters)",
				    ZT_HTTP_MAX_PARAMS);
		return 1;
	}
	cl = zt_http_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl && strtoull(cl, NULL, 10) > srv->cfg.max_body) {
		__atomic_add_fetch(&srv->stats.bodies_too_big, 1, __ATOMIC_RELAXED);
		zt_http_reply_error(req, 413, NULL, "request body larger than %zu bytes", srv->cfg.max_body);
		return 1;
	}
	ce = zt_http_header(req, MHD_HTTP_HEADER_CONTENT_ENCODING);
	if (ce && strcasecmp(ce, "gzip") && strcasecmp(ce, "identity")) {
		zt_http_reply_error(req, 415, NULL, "Content-Encoding '%.40s' not supported (gzip or identity)", ce);
		return 1;
	}
	return 0;
}

/* Appends body bytes up to the bound; past it they are dropped (counted
 * in req->discarded) and the request is answered 413 at its end. */
static void req_collect(struct zt_http_server *srv, struct zt_http_req *req, const char *data, size_t n)
{
	if (req->discarded || req->body_len + n > srv->cfg.max_body) {
		req->discarded += n;
		return;
	}
	if (req->body_len + n > req->body_cap) {
		size_t cap = req->body_cap ? req->body_cap : 4096;
		uint8_t *b;

		while (cap < req->body_len + n)
			cap *= 2;
		if (cap > srv->cfg.max_body)
			cap = srv->cfg.max_body;
		b = realloc(req->body, cap);
		if (!b) {
			req->discarded += n; /* answered 413: no room */
			return;
		}
		req->body = b;
		req->body_cap = cap;
	}
	memcpy(req->body + req->body_len, data, n);
	req->body_len += n;
}

/* gzip (or zlib) body -> inflated, within max_body. -EFBIG past the
 * bound, -EINVAL for data that is no (complete) gzip stream. */
static int inflate_body(struct zt_http_req *req, size_t max)
{
	z_stream z = {0};
	uint8_t *out = NULL;
	size_t cap = 0;
	int zr, rc = 0;

	if (!req->body_len)
		return -EINVAL;
	if (inflateInit2(&z, MAX_WBITS + 32) != Z_OK) /* +32: gzip or zlib header, detected */
		return -ENOMEM;
	z.next_in = req->body;
	z.avail_in = (uInt)req->body_len;
	do {
		if (z.total_out == cap) {
			size_t ncap = cap ? cap * 2 : req->body_len * 4 + 1024;
			uint8_t *nb;

			if (cap >= max) {
				rc = -EFBIG;
				break;
			}
			if (ncap > max)
				ncap = max;
			nb = realloc(out, ncap + 1);
			if (!nb) {
				rc = -ENOMEM;
				break;
			}
			out = nb;
			cap = ncap;
		}
		z.next_out = out + z.total_out;
		z.avail_out = (uInt)(cap - z.total_out);
		zr = inflate(&z, Z_NO_FLUSH);
		if (zr == Z_STREAM_END)
			break;
		if (zr != Z_OK && !(zr == Z_BUF_ERROR && z.avail_out == 0)) {
			rc = -EINVAL; /* corrupt, or input ended inside the stream */
			break;
		}
	} while (1);
	if (!rc && z.avail_in) /* bytes after the gzip member */
		rc = -EINVAL;
	if (!rc) {
		free(req->body);
		req->body = out;
		req->body_len = z.total_out;
		req->body_cap = cap;
		out = NULL;
	}
	inflateEnd(&z);
	free(out);
	return rc;
}

static void req_dispatch(struct zt_http_server *srv, struct zt_http_req *req)
{
	const struct route *r = req->route;
	const char *ce = zt_http_header(req, MHD_HTTP_HEADER_CONTENT_ENCODING);

	if (req->discarded) {
		__atomic_add_fetch(&srv->stats.bodies_too_big, 1, __ATOMIC_RELAXED);
		zt_http_reply_error(req, 413, NULL, "request body larger than %zu bytes", srv->cfg.max_body);
		return;
	}
	if (ce && !strcasecmp(ce, "gzip")) {
		int rc = inflate_body(req, srv->cfg.max_body);
		if (rc == -EFBIG) {
			__atomic_add_fetch(&srv->stats.bodies_too_big, 1, __ATOMIC_RELAXED);
			zt_http_reply_error(req, 413, NULL, "inflated request body larger than %zu bytes",
					    srv->cfg.max_body);
			return;
		}
		if (rc) {
			zt_http_reply_error(req, rc == -ENOMEM ? 500 : 400, NULL,
					    rc == -ENOMEM ? "out of memory" : "body: bad or truncated gzip data");
			return;
		}
	}
	if (r->fn(r->ctx, req) && !req->status)
		zt_http_reply_error(req, 500, NULL, "internal error");
	else if (!req->status)
		zt_http_reply_error(req, 500, NULL, "internal error: the handler gave no answer");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct zt_http_server *srv = cls;
	struct zt_http_req *req = *con_cls;

	(void)url;
	(void)version;
	if (!req)
		return MHD_NO; /* out of memory in on_uri: the connection is closed */
	req->conn = conn;
	if (!req->started) {
		req->started = true;
		snprintf(req->method, sizeof(req->method), "%s", method);
		if (req_first(srv, req))
			req->early = true;
		return MHD_YES;
	}
	if (req->early) { /* answered; the body is not read */
		if (*upload_data_size) {
			*upload_data_size = 0;
			return MHD_YES;
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		req_collect(srv, req, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return req->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
	}
	if (!req->status)
		req_dispatch(srv, req);
	return MHD_YES;
}

int zt_http_start(struct zt_http_server *srv, char *err, size_t errsz)
{
	int fd, one = 1;
	char host[INET6_ADDRSTRLEN] = "?";
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (srv->d)
		return -EALREADY;
	fd = socket(srv->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errsz, "cannot create a socket: %s", strerror(errno));
		return -errno;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&srv->addr, srv->addrlen) < 0 || listen(fd, 64) < 0) {
		int e = errno;
		if (e == EADDRINUSE)
			snprintf(err, errsz, "cannot listen on %s: the port is in use by another program (choose "
					     "another with --listen, or --listen none)",
				 srv->listen);
		else
			snprintf(err, errsz, "cannot listen on %s: %s", srv->listen, strerror(e));
		close(fd);
		return -e;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET) {
			const struct sockaddr_in *a = (const void *)&ss;
			inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
			snprintf(srv->bound, sizeof(srv->bound), "%s:%u", host, ntohs(a->sin_port));
		} else {
			const struct sockaddr_in6 *a = (const void *)&ss;
			inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
			snprintf(srv->bound, sizeof(srv->bound), "[%s]:%u", host, ntohs(a->sin6_port));
		}
	}
	srv->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
					  (srv->addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
				  0, NULL, NULL, on_request, srv, MHD_OPTION_LISTEN_SOCKET, fd,
				  MHD_OPTION_THREAD_POOL_SIZE, srv->cfg.threads, MHD_OPTION_CONNECTION_LIMIT,
				  srv->cfg.max_conns, MHD_OPTION_CONNECTION_TIMEOUT, srv->cfg.timeout_s,
				  MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv, MHD_OPTION_NOTIFY_COMPLETED, on_done, srv,
				  MHD_OPTION_END);
	if (!srv->d) {
		snprintf(err, errsz, "cannot start the HTTP server on %s", srv->listen);
		close(fd);
		return -EIO;
	}
	return 0;
}

const char *zt_http_address(const struct zt_http_server *srv) { return srv->bound; }

void zt_http_get_stats(const struct zt_http_server *srv, struct zt_http_stats *out)
{
	out->requests = __atomic_load_n(&srv->stats.requests, __ATOMIC_RELAXED);
	out->errors_4xx = __atomic_load_n(&srv->stats.errors_4xx, __ATOMIC_RELAXED);
	out->errors_5xx = __atomic_load_n(&srv->stats.errors_5xx, __ATOMIC_RELAXED);
	out->unauthorized = __atomic_load_n(&srv->stats.unauthorized, __ATOMIC_RELAXED);
	out->bodies_too_big = __atomic_load_n(&srv->stats.bodies_too_big, __ATOMIC_RELAXED);
}

void zt_http_free(struct zt_http_server *srv)
{
	if (!srv)
		return;
	if (srv->d)
		MHD_stop_daemon(srv->d); /* closes the listening socket too */
	for (unsigned i = 0; i < srv->nroutes; i++) {
		free(srv->routes[i].pattern);
		free(srv->routes[i].pattern_buf);
	}
	explicit_bzero(srv->token, sizeof(srv->token));
	free(srv);
}
