/* SPDX-License-Identifier: MIT */
/*
 * postgresql.h - PostgreSQL frontend/backend protocol v3: the pieces unit
 * tests reach directly. The parser itself is zt_postgresql_ops (proto.h).
 */
#ifndef ZT_PROTO_POSTGRESQL_H
#define ZT_PROTO_POSTGRESQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Protocol constants (the codes of the untyped startup packets). */
#define PG_CODE_V3 196608u
#define PG_CODE_CANCEL 80877102u
#define PG_CODE_SSL 80877103u
#define PG_CODE_GSS 80877104u
#define PG_MAX_LEN (1u << 30) /* the server's own limit on a message */
#define PG_STARTUP_MAX 10000  /* the server's MAX_STARTUP_PACKET_LENGTH */
#define PG_NAME_LEN 64	      /* NAMEDATALEN */

/* Confidence 0..100 that buf[0..len) starts a frontend message: a startup
 * packet (StartupMessage with a user, SSLRequest, GSSENCRequest,
 * CancelRequest, each exactly framed), or Q, P, B whose whole first message
 * is exactly what its type says and is followed by nothing or another
 * frontend header. Other types (D, E, S, C, H...) are also backend types
 * and never infer. Pure; reads nothing past len. */
int zt_pg_infer_front(const uint8_t *buf, size_t len);

/* Message types a client sends (Q P B D E S C H F X d c f p) / that only a
 * server sends (Z T R K 1 2 3 n I s t G W V v). */
bool zt_pg_front_type(uint8_t t);
bool zt_pg_back_only_type(uint8_t t);

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
