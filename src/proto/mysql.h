/* SPDX-License-Identifier: MIT */
/*
 * mysql.h - MySQL / MariaDB client/server protocol: the helpers the parser
 * (mysql.c) shares with its SQL helpers (mysql_sql.c) and its tests.
 */
#ifndef ZT_PROTO_MYSQL_H
#define ZT_PROTO_MYSQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* SQL text -> resource: literals ('str', "str", numbers, hex, X'..') become
 * ?, comments go, whitespace runs become one space. Writes a NUL-terminated
 * string of at most outsz-1 bytes; *cut is set when the output could not
 * hold all of it. Returns the output length. */
size_t zt_mysql_normalize(const char *sql, size_t n, char *out, size_t outsz, bool *cut);

/* The first SQL keyword, upper-cased (leading blanks, comments and '('
 * skipped); "" when the text starts with no word. Returns its length. */
size_t zt_mysql_keyword(const char *sql, size_t n, char *out, size_t outsz);

/* Status class (enum zt_resp_status) of an ERR packet: see mysql_sql.c for
 * the split between the client's fault and the server's. sqlstate: 5 chars
 * or NULL. */
uint8_t zt_mysql_err_class(uint16_t code, const char *sqlstate);

/* Whether text[0..n) looks like an SQL statement: printable and starting
 * with a statement keyword we know (inference is strict). */
bool zt_mysql_looks_sql(const uint8_t *text, size_t n);

/* Length-preserving redaction of the authentication data in a raw
 * payload: HandshakeResponse41 and COM_CHANGE_USER auth responses, and the
 * lone auth-exchange packets (AuthSwitchResponse, clear or RSA-encrypted
 * passwords). Returns bytes overwritten. */
size_t zt_mysql_redact(uint8_t *buf, size_t len);

#endif /* ZT_PROTO_MYSQL_H */
