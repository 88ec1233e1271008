/* SPDX-License-Identifier: MIT */
/*
 * span.h - the span record: one observed request/response exchange, as the
 * session layer builds it and every sink (store, JSON, batch encoder) takes
 * it. Field names follow the span record of DESIGN.md.
 *
 * Null convention: a string field is null when empty; response_code is null
 * when < 0; tcp seqs are null unless ZT_SPAN_HAS_SEQ; syscall trace ids and
 * ports/addresses are null when 0 / family == 0.
 */
#ifndef ZT_SPAN_H
#define ZT_SPAN_H

#include <stdint.h>

#include "proto/proto.h"

enum zt_tap_side {
	ZT_TAP_UNKNOWN = 0,
	ZT_TAP_CLIENT_PROCESS = 1,
	ZT_TAP_SERVER_PROCESS = 2,
};

enum zt_resp_status {
	ZT_RS_UNKNOWN = 0,
	ZT_RS_OK = 1,
	ZT_RS_CLIENT_ERROR = 2,
	ZT_RS_SERVER_ERROR = 3,
	ZT_RS_TIMEOUT = 4,
};

/* zt_span.flags */
enum zt_span_flags {
	ZT_SPAN_HAS_SEQ = 1u << 0,    /* req_tcp_seq / resp_tcp_seq valid */
	ZT_SPAN_TRUNCATED = 1u << 1,  /* a message head was not fully captured */
	ZT_SPAN_LOST_SYNC = 1u << 2,  /* framing was lost in this exchange */
	ZT_SPAN_NO_RESPONSE = 1u << 3, /* request never answered (closed/timeout) */
};

#define ZT_HOSTNAME_LEN 64
#define ZT_UID_LEN 17 /* 16 hex + NUL */
#define ZT_ENDPOINT_LEN 600

struct zt_span {
	char span_uid[ZT_UID_LEN];
	uint64_t start_ns, end_ns, duration_ns; /* start/end: unix epoch ns */
	uint8_t tap_side;                       /* enum zt_tap_side */
	char host[ZT_HOSTNAME_LEN];
	uint32_t netns;
	uint32_t pid, tid_req, tid_resp;
	char process[16];
	uint8_t l7_protocol; /* enum zt_l7 */
	char version[4];
	char request_type[ZT_METHOD_LEN];
	char request_domain[ZT_HOST_LEN];
	char request_resource[ZT_PATH_LEN];
	char endpoint[ZT_ENDPOINT_LEN];
	uint8_t response_status; /* enum zt_resp_status */
	int32_t response_code;   /* < 0: null */
	char response_exception[ZT_EXC_LEN];
	uint64_t req_bytes, resp_bytes;
	uint16_t family; /* AF_INET / AF_INET6; 0: addresses unknown */
	uint8_t l4;      /* IPPROTO_TCP / IPPROTO_UDP */
	uint8_t client_ip[16], server_ip[16]; /* v6 form, v4 as ::ffff:a.b.c.d */
	uint16_t client_port, server_port;
	uint32_t req_tcp_seq, resp_tcp_seq;
	uint64_t syscall_trace_id_req, syscall_trace_id_resp;
	char x_request_id[ZT_XRID_LEN];      /* on the request */
	char x_request_id_resp[ZT_XRID_LEN]; /* on the response */
	char trace_id[ZT_TRACE_ID_LEN];
	char span_id[ZT_SPAN_ID_LEN];
	char parent_span_id[ZT_SPAN_ID_LEN];
	uint8_t is_tls;
	uint32_t flags; /* enum zt_span_flags */
};

const char *zt_tap_side_name(enum zt_tap_side t);
const char *zt_resp_status_name(enum zt_resp_status s);
const char *zt_l7_name(enum zt_l7 p);
/* Formats ip (v6 form) as text: dotted quad when v4-mapped. */
void zt_ip_str(const uint8_t ip[16], char *out, unsigned outsz);

#endif /* ZT_SPAN_H */
