/* SPDX-License-Identifier: MIT */
/*
 * dns.h - internals of the DNS parser (src/proto/dns.c) that tests and the
 * fuzz target call directly. Everything else sees only zt_dns_ops.
 *
 * Return convention of the parse functions (picohttpparser's):
 *   >= 0  done, -1 malformed (not DNS), -2 incomplete (more bytes needed).
 */
#ifndef ZT_DNS_H
#define ZT_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

#define DNS_HDR_LEN 12
#define DNS_NAME_WIRE_MAX 255 /* RFC 1035 3.1: a name's wire length, length bytes included */
#define DNS_NAME_TEXT 256     /* presentation form, NUL included */
#define DNS_MAX_JUMPS 32      /* compression pointers followed per name */

/* What dns_parse() found in one message. */
struct dns_info {
	uint16_t id, flags, qdcount, ancount, nscount, arcount;
	bool has_q;		   /* the first question was parsed */
	char qname[DNS_NAME_TEXT]; /* lower-cased, no trailing dot; "." is the root */
	uint16_t qtype, qclass;
	bool complete;	     /* every section parsed inside the bytes given */
	size_t end;	     /* with complete: the offset after the last record */
	bool edns;	     /* an OPT record was parsed */
	uint8_t ext_rcode;   /* OPT: upper 8 bits of the 12-bit RCODE */
	uint16_t udp_size;   /* OPT: the sender's UDP payload size */
	char first_addr[48]; /* first A/AAAA record of the answer section, text */
};

#define DNS_QR(f) (((f) >> 15) & 1)
#define DNS_OPCODE(f) (((f) >> 11) & 0xf)
#define DNS_TC(f) (((f) >> 9) & 1)
#define DNS_Z(f) (((f) >> 6) & 1)
#define DNS_RCODE(f) ((f)&0xf)

/* Decodes the name at b[off], following compression pointers (forward and
 * backward, at most DNS_MAX_JUMPS, total wire length <= 255). Writes the
 * presentation form to out (may be NULL) and the offset after the name's
 * in-place bytes to *next. Returns 0, -1 malformed, -2 when the name runs
 * past cap. Never reads b[cap] or beyond. */
int dns_name(const uint8_t *b, size_t cap, size_t off, char *out, size_t outsz, size_t *next);
/* Parses the header, the first question and as many records as `cap`
 * holds. Returns 0 (the header and the first question, if any, parsed; the
 * records may be cut: see info->complete), -1 malformed, -2 when the header
 * or the first question runs past cap. */
int dns_parse(const uint8_t *b, size_t cap, struct dns_info *info);
/* Whether a parsed header looks like a real query or response (the strict
 * inference rules: opcode QUERY/NOTIFY/UPDATE, Z clear, one question,
 * queries carry no answers...). */
bool dns_plausible(const struct dns_info *info);
/* Presentation names: QTYPE ("A", "TYPE999"), RCODE ("NXDOMAIN", "RCODE23"). */
const char *dns_qtype_name(uint16_t t, char *buf, size_t bufsz);
const char *dns_rcode_name(unsigned rcode, char *buf, size_t bufsz);
/* The status class of an RCODE (enum zt_resp_status). */
uint8_t dns_rcode_status(unsigned rcode);
int dns_infer(const uint8_t *buf, size_t len, const struct zt_infer_hints *h);

extern const struct zt_proto_ops zt_dns_ops;

#endif /* ZT_DNS_H */
