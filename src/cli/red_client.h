/* SPDX-License-Identifier: MIT */
/*
 * red_client.h - `ztrace map|top --server URL`: GET one JSON answer of a
 * ztrace server's RED routes (server/red_api.h) over libcurl. The answer
 * has the same shape as the local functions' (server/red_json.h), so the
 * commands print either the same way.
 *
 * (cli/client.c has the same GET for spans and traces but keeps it
 * static; once it exports one, this file can go.)
 *
 * Return convention: 0, or a negative errno with a message in err:
 * -EINVAL for a URL that is not http(s) or an unreadable token file,
 * -EHOSTUNREACH when the server cannot be reached, -EPROTO for an error
 * answer (its "error" text quoted) or an answer that is not JSON.
 * Ownership: *out is a new reference (json_decref).
 */
#ifndef ZT_CLI_RED_CLIENT_H
#define ZT_CLI_RED_CLIENT_H

#include <jansson.h>
#include <stddef.h>

/* path_qs: "/api/v1/map?since=15m" (already escaped). */
int zt_red_client_get(const char *url, const char *token_file, const char *path_qs, json_t **out, char *err,
		      size_t errsz);
/* Appends "&k=v" (v escaped) to qs. */
void zt_red_client_qs(char *qs, size_t qssz, const char *k, const char *v);

#endif /* ZT_CLI_RED_CLIENT_H */
