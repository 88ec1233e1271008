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

/* The endpoint of a request: its type and, for statements that name
 * one, the first table ("SELECT items", "STMT_EXECUTE items", "INSERT
 * `db`.`t`"); the type alone otherwise. sql is a normalised resource.
 * Returns the output length (< outsz). */
size_t zt_mysql_endpoint(const char *type, const char *sql, char *out, size_t outsz);

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

/* ---- wire format (shared by mysql.c and mysql_shape.c) ---- */

#define MY_MAXPKT 0xffffffu /* a payload this long continues in the next packet */

/* capability flags */
#define MY_CAP_CONNECT_WITH_DB 0x00000008u
#define MY_CAP_PROTOCOL_41 0x00000200u
#define MY_CAP_SSL 0x00000800u
#define MY_CAP_SECURE_CONN 0x00008000u
#define MY_CAP_PLUGIN_AUTH 0x00080000u
#define MY_CAP_PLUGIN_AUTH_LENENC 0x00200000u
#define MY_CAP_DEPRECATE_EOF 0x01000000u
#define MY_CAP_QUERY_ATTRIBUTES 0x08000000u
/* server status flags */
#define MY_ST_MORE_RESULTS 0x0008u
#define MY_ST_CURSOR_EXISTS 0x0040u

enum my_cmd {
	MY_CMD_QUIT = 0x01,
	MY_CMD_INIT_DB = 0x02,
	MY_CMD_QUERY = 0x03,
	MY_CMD_FIELD_LIST = 0x04,
	MY_CMD_STATISTICS = 0x09,
	MY_CMD_CHANGE_USER = 0x11,
	MY_CMD_STMT_PREPARE = 0x16,
	MY_CMD_STMT_EXECUTE = 0x17,
	MY_CMD_STMT_LONG_DATA = 0x18,
	MY_CMD_STMT_CLOSE = 0x19,
	MY_CMD_STMT_RESET = 0x1a,
	MY_CMD_STMT_FETCH = 0x1c,
	MY_CMD_BULK_EXECUTE = 0xfa, /* MariaDB COM_STMT_BULK_EXECUTE */
};

static inline uint32_t my_le16(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static inline uint32_t my_le24(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}

static inline uint32_t my_le32(const uint8_t *p)
{
	return my_le24(p) | (uint32_t)p[3] << 24;
}

/* Length-encoded integer at p[*i], within n bytes. */
static inline bool my_lenenc(const uint8_t *p, size_t n, size_t *i, uint64_t *v)
{
	size_t k = *i, w;

	if (k >= n)
		return false;
	if (p[k] < 0xfb) {
		*v = p[k];
		*i = k + 1;
		return true;
	}
	w = p[k] == 0xfc ? 2 : p[k] == 0xfd ? 3 : p[k] == 0xfe ? 8 : 0;
	if (w == 0 || n - k - 1 < w)
		return false;
	*v = 0;
	for (size_t j = 0; j < w; j++)
		*v |= (uint64_t)p[k + 1 + j] << (8 * j);
	*i = k + 1 + w;
	return true;
}

/* Names of the commands parsed (request_type), NULL for other bytes. */
extern const char *const zt_mysql_cmd_names[256];

/* Shapes of whole packets: payload p[0..n) captured of a payload of plen. */
bool zt_mysql_is_greeting(const uint8_t *p, size_t n, uint32_t plen, uint32_t *caps);
bool zt_mysql_is_hsr(const uint8_t *p, size_t n, uint32_t plen);
bool zt_mysql_is_command(const uint8_t *p, size_t n, uint32_t plen);
bool zt_mysql_is_err(const uint8_t *p, size_t n, uint32_t plen);

enum zt_mysql_first {
	MY_F_NONE = 0,
	MY_F_GREETING, /* server: the connection's first packet */
	MY_F_ERR,      /* server: an ERR */
	MY_F_HSR,      /* client: HandshakeResponse41 */
	MY_F_COMMAND,  /* client: a command */
	MY_F_RAW_SQL,  /* client: COM_QUERY / COM_STMT_PREPARE payload without its
			* header (a server reads the 4-byte header and the payload
			* with two calls: tracing that starts mid-connection on the
			* server side sees the payload first) */
};

/* What the first bytes of a stream (header included, or a bare command
 * payload) are: enum zt_mysql_first, and the inference confidence. */
int zt_mysql_classify(const uint8_t *buf, size_t len, int *conf);

#endif /* ZT_PROTO_MYSQL_H */
