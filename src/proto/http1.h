/* SPDX-License-Identifier: MIT */
/*
 * http1.h - HTTP/1.0 and HTTP/1.1: head parsers, the streaming parser behind
 * zt_http1_ops, and redaction of HTTP secrets (in raw payloads and request
 * targets). Trace headers are decoded by proto/trace_hdr.h, endpoints
 * normalised by proto/endpoint.h.
 *
 * Return convention of the head parsers (picohttpparser's), written once:
 *   > 0  bytes of the head section, request/status line and the empty line
 *        that ends it included;
 *    -2  incomplete: every proper prefix of a valid head answers -2;
 *    -1  error: no continuation of these bytes is a valid head.
 *
 * Ownership: the parsers never allocate or copy; every slice in struct
 * h1_head points into the caller's buffer, which must stay alive and
 * unchanged while the slices are used.
 *
 * Tolerance: a bare LF ends a line like CRLF does; runs of spaces separate the
 * request-line parts. Strictness: control bytes in method, target and header
 * names, a space before a header colon, obs-fold, versions other than
 * HTTP/1.0 and HTTP/1.1, methods longer than H1_METHOD_MAX, a malformed or
 * conflicting Content-Length are errors.
 */
#ifndef ZT_HTTP1_H
#define ZT_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

#define H1_MAX_HEADERS 64 /* headers kept as slices; later ones still frame */
#define H1_METHOD_MAX 16  /* longest method token accepted */

struct h1_slice {
	const char *p;
	size_t n;
};

struct h1_header {
	struct h1_slice name;
	struct h1_slice value; /* optional whitespace around it trimmed */
};

struct h1_head {
	struct h1_slice method; /* requests */
	struct h1_slice path;	/* requests: request-target as sent */
	int minor_version;	/* 0 or 1 */
	int status;		/* responses: 100..999 */
	struct h1_slice reason; /* responses: may be empty */
	size_t num_headers;	/* <= H1_MAX_HEADERS */
	size_t headers_seen;	/* all header lines, also those not kept */
	struct h1_header headers[H1_MAX_HEADERS];
	/* framing, derived from every header line */
	int64_t content_length; /* -1: absent */
	bool te;		/* Transfer-Encoding present */
	bool chunked;		/* ... and its last coding is chunked */
	bool connection_close;
	bool connection_keep_alive;
	bool upgrade; /* Upgrade header present */
};

int h1_parse_request_head(const char *buf, size_t len, struct h1_head *out);
int h1_parse_response_head(const char *buf, size_t len, struct h1_head *out);

/* 90 if buf starts with a known method and a space, or with "HTTP/1.";
 * 0 otherwise. Pure and cheap: looks at the first 8 bytes at most. */
int h1_infer(const uint8_t *buf, size_t len, int dir);
/* Whether buf starts with a request line's method and a space. */
bool h1_starts_request(const uint8_t *buf, size_t len);

/* Overwrites with '*' the values of Authorization, Proxy-Authorization,
 * Cookie and Set-Cookie header lines in a raw captured payload (which may be
 * cut anywhere, start mid-message and hold several messages). A line is a
 * header line if it starts at buf[0] or after '\n' with one of these names
 * (any case), optional blanks and ':'; names that only start alike
 * ("Cookies-Policy") are left alone. The value runs from its first non-blank
 * byte to the next CR, LF or the end of buf. Length-preserving; returns the
 * number of bytes overwritten. */
size_t zt_http_redact(uint8_t *buf, size_t len);

/* Overwrites with '*' (in place, length-preserving) the values of query
 * parameters named like secrets (token, password, api_key, sig...) and the
 * password of URL userinfo in a request target. Returns bytes overwritten. */
size_t zt_http_redact_target(char *target);
/* Replaces the secret query-parameter names with a comma-separated list
 * (any case, at most 32 names of 31 bytes); NULL restores the defaults
 * (token, password, api_key, sig...). -EINVAL, nothing changed, on a bad
 * list. Not thread-safe: call at start. */
int zt_http_secret_params_set(const char *csv);

extern const struct zt_proto_ops zt_http1_ops;

#endif /* ZT_HTTP1_H */
