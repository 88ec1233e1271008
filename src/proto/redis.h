/* SPDX-License-Identifier: MIT */
/*
 * redis.h - internals of the Redis parser shared by its two files:
 * redis_cmd.c (the command table, RESP message starts, payload redaction)
 * and redis.c (the streaming parser). Not an interface for other layers.
 */
#ifndef ZT_PROTO_REDIS_H
#define ZT_PROTO_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RD_LINE 600 /* header/inline line bytes kept (longer: counted) */
#define RD_CMD 40   /* command / subcommand bytes kept */

/* Command flags (rd_cmds). */
enum {
	RD_F_TWO = 1 << 0,     /* two-word command: CONFIG GET, CLIENT SETNAME */
	RD_F_NOKEY = 1 << 1,   /* no key argument: resource stays empty */
	RD_F_SECRET = 1 << 2,  /* arguments are secrets: never captured */
	RD_F_KEY3 = 1 << 3,    /* MIGRATE host port KEY ... */
	RD_F_SUB = 1 << 4,     /* SUBSCRIBE family: N confirmations */
	RD_F_UNSUB = 1 << 5,   /* UNSUBSCRIBE family */
	RD_F_MONITOR = 1 << 6, /* MONITOR: a stream follows its +OK */
	RD_F_HELLO = 1 << 7,   /* HELLO protover [AUTH user pass] [SETNAME n] */
	RD_F_SELECT = 1 << 8,  /* SELECT db: the connection's database */
	RD_F_RESET = 1 << 9,   /* RESET: back to database 0 */
};

struct rd_cmd {
	const char *name; /* lowercase */
	uint16_t flags;	  /* RD_F_* */
};

/* A known command by name (any case), or NULL. */
const struct rd_cmd *rd_cmd_find(const char *p, size_t n);

/* What the bytes at a message start are (rd_classify). */
enum {
	RD_C_NONE = 0,	/* not RESP */
	RD_C_REQ_KNOWN, /* an array of bulk strings starting with a known command */
	RD_C_REQ,	/* the same with an unknown command-like word */
	RD_C_INLINE,	/* an inline command line (a known word) */
	RD_C_RESP,	/* a reply value's well-formed first line */
	RD_C_MORE,	/* a prefix of one of those: more bytes will tell */
};
int rd_classify(const uint8_t *buf, size_t len);

/* A RESP type byte. */
bool rd_is_type(unsigned char c);
/* A byte of a command name. */
bool rd_cmd_byte(unsigned char c);
/* Decimal digits of buf[i..) up to CRLF: the value in *v; a '-' only for
 * "-1" (null) unless any_neg. Returns the index after LF, 0 when the bytes
 * run out, -1 when malformed. */
long rd_num_line_any(const uint8_t *buf, size_t len, size_t i, int64_t *v, bool any_neg);
long rd_num_line(const uint8_t *buf, size_t len, size_t i, int64_t *v);

/* zt_redis_ops.redact_payload: see redis_cmd.c. */
size_t rd_redact_payload(uint8_t *buf, size_t len);

#endif /* ZT_PROTO_REDIS_H */
