/* SPDX-License-Identifier: MIT */
/*
 * postgresql.h - PostgreSQL frontend/backend protocol v3: the pieces unit
 * tests reach directly. The parser itself is zt_postgresql_ops (proto.h).
 */
#ifndef ZT_PROTO_POSTGRESQL_H
#define ZT_PROTO_POSTGRESQL_H

#include <stddef.h>
#include <stdint.h>

/* SQL text src[0..n) normalised into out[0..outsz): literals (strings,
 * E'', $$ bodies, numbers) become '?', comments are dropped, runs of
 * whitespace become one space, leading/trailing blanks go. An unterminated
 * literal (text cut by the capture) still becomes '?', so a secret in it is
 * never copied. Always NUL-terminates (outsz > 0). Returns the length. */
size_t zt_pg_normalize(const char *src, size_t n, char *out, size_t outsz);

/* The first SQL keyword of src[0..n), upper-cased into out (outsz > 0);
 * "" when there is none. */
void zt_pg_first_keyword(const char *src, size_t n, char *out, size_t outsz);

/* Status class (enum zt_resp_status) of a 5-character SQLSTATE: classes
 * that say the request was wrong (syntax, missing object, constraint,
 * data, authorization...) are client errors, the rest server errors. */
uint8_t zt_pg_sqlstate_class(const char *sqlstate);

/* redact_payload of zt_postgresql_ops: length-preserving. */
size_t zt_pg_redact(uint8_t *buf, size_t len);

#endif /* ZT_PROTO_POSTGRESQL_H */
