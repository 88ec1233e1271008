/* SPDX-License-Identifier: MIT */
/*
 * otlp_map.h - the one mapping of an OTLP span to struct zt_span, shared by
 * the protobuf and the JSON decoders (they only walk their encoding and
 * feed this builder). Internal to src/server/otlp*.c; see otlp.h for the
 * mapping rules.
 *
 * Use: otlp_res_init + otlp_res_attr per resource attribute; per span
 * otlp_span_begin, otlp_span_set_* / otlp_span_attr, otlp_span_end.
 * Strings are (pointer, length) slices, borrowed for the call.
 */
#ifndef ZT_SERVER_OTLP_MAP_H
#define ZT_SERVER_OTLP_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/span.h"
#include "server/otlp.h"

/* An attribute value; arrays, maps and bytes are OTLP_V_OTHER (ignored). */
enum otlp_vtype { OTLP_V_NONE, OTLP_V_STR, OTLP_V_INT, OTLP_V_DOUBLE, OTLP_V_BOOL, OTLP_V_OTHER };
struct otlp_val {
	uint8_t type; /* enum otlp_vtype */
	const char *s;
	size_t n;
	int64_t i;
	double d;
};

struct otlp_res {
	char service[ZT_PROCESS_LEN];
	char host[ZT_HOSTNAME_LEN];
	uint32_t pid;
};

/* What the semantic attributes give before they are combined. */
struct otlp_sb {
	struct zt_span s;
	int kind;        /* OTLP SpanKind, 0 unspecified */
	int status_code; /* OTLP StatusCode: 0 unset, 1 ok, 2 error */
	int http_code, grpc_code; /* -1: absent */
	bool http, bad;
	char bad_why[64];
	char path[ZT_RESOURCE_LEN], query[ZT_RESOURCE_LEN];
	char peer_addr[64], host_addr[64];
	int peer_port, host_port;
	unsigned nattrs;
};

void otlp_res_init(struct otlp_res *r, const char *host);
void otlp_res_attr(struct otlp_res *r, const char *key, size_t klen, const struct otlp_val *v);

void otlp_span_begin(struct otlp_sb *b, const struct otlp_res *r, const char *scope, size_t scope_len);
/* Ids as raw bytes (protobuf) ... */
void otlp_span_ids_raw(struct otlp_sb *b, const uint8_t *tid, size_t tlen, const uint8_t *sid, size_t slen,
		       const uint8_t *pid, size_t plen);
/* ... or as hex text (OTLP/JSON); an empty parent means a root. */
void otlp_span_ids_hex(struct otlp_sb *b, const char *tid, size_t tlen, const char *sid, size_t slen,
		       const char *pid, size_t plen);
void otlp_span_set_name(struct otlp_sb *b, const char *name, size_t n);
void otlp_span_set_times(struct otlp_sb *b, uint64_t start_ns, uint64_t end_ns);
void otlp_span_set_status(struct otlp_sb *b, int code, const char *msg, size_t n);
void otlp_span_attr(struct otlp_sb *b, const char *key, size_t klen, const struct otlp_val *v);
/* Marks the span invalid (it will be rejected with why). */
void otlp_span_bad(struct otlp_sb *b, const char *why);
/* Finishes the span and emits it, or counts it rejected. */
void otlp_span_end(struct otlp_sb *b, zt_otlp_emit_fn emit, void *ctx, struct zt_otlp_result *r);
/* Counts one span rejected for why (bounds). */
void otlp_reject(struct zt_otlp_result *r, const char *why);

#endif /* ZT_SERVER_OTLP_MAP_H */
