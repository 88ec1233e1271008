/* SPDX-License-Identifier: MIT */
/*
 * client.h - the reading commands' `--server URL`: the same queries as
 * the store's (store.h), asked of a ztrace server's /api/v1 over HTTP
 * (libcurl), with results given to the same callbacks, so `spans`,
 * `trace` and `traces` print the same lines from either.
 *
 * Return convention: 0, or a negative errno with a message in the
 * client's error text (zt_client_errmsg): -EHOSTUNREACH when the server
 * cannot be reached, -ENOENT for a 404 (no such trace), -EPROTO for an
 * error answer or an answer that is not the API's JSON.
 */
#ifndef ZT_CLI_CLIENT_H
#define ZT_CLI_CLIENT_H

#include <stdint.h>

#include "store/store.h"

struct zt_client;

/* url: "http://HOST:PORT" (a trailing '/' is fine). token_file: the
 * server's bearer token (first line), or NULL. -EINVAL for a URL that is
 * not http(s). */
int zt_client_open(const char *url, const char *token_file, struct zt_client **out, char *err, size_t errsz);
const char *zt_client_errmsg(const struct zt_client *c);
/* As query_spans: q->limit 0 means all (read in pages, held in memory
 * until printed oldest first). */
int zt_client_spans(struct zt_client *c, const struct zt_span_query *q, zt_span_cb cb, void *ctx);
/* As query_trace; *truncated set when the server cut the trace. */
int zt_client_trace(struct zt_client *c, const char *id, zt_span_cb cb, void *ctx, int *truncated);
/* As query_traces; q->limit 0 asks for the API's maximum (10000). */
int zt_client_traces(struct zt_client *c, const struct zt_trace_query *q, zt_trace_cb cb, void *ctx);
void zt_client_close(struct zt_client *c);

#endif /* ZT_CLI_CLIENT_H */
