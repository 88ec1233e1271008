/* SPDX-License-Identifier: MIT */
/*
 * endpoint.h - the normalised endpoint of a request, "METHOD /path/{id}":
 * the span name, the key of per-endpoint statistics. Normalising keeps that
 * key's cardinality bounded: ids in paths (or in Redis keys, gRPC paths)
 * would otherwise make every request its own endpoint.
 */
#ifndef ZT_ENDPOINT_H
#define ZT_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>

/* Writes "METHOD /normalised/path" (just the path if method is NULL or
 * empty) to out and NUL-terminates it, cutting at outsz - 1 bytes. Query and
 * fragment are dropped, scheme and authority of an absolute-form target
 * ("http://host/x") too; an empty path becomes "/"; a path segment for
 * which zt_endpoint_is_id_segment() holds becomes "{id}". method and path
 * are NUL-terminated strings (as in struct zt_msg) and may be NULL.
 * Returns the length written, without the NUL; 0 if out is NULL or outsz 0. */
size_t zt_endpoint_normalize(const char *method, const char *path, char *out, size_t outsz);

/* Whether p[0..n) looks like an identifier rather than a name:
 *   - all digits;
 *   - a UUID (8-4-4-4-12 hex);
 *   - hex of length >= 16;
 *   - length >= 8, letters and digits only, more than half of them digits
 *     (order numbers like "ab123456"; words like "page2024" are kept).
 * The empty segment is not an id. Reads p[0..n) only. */
bool zt_endpoint_is_id_segment(const char *p, size_t n);

#endif /* ZT_ENDPOINT_H */
