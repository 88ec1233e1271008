/* SPDX-License-Identifier: MIT */
/*
 * span.h - the span record: one observed request/response exchange, as the
 * session layer builds it and every sink (store, JSON, batch encoder) takes
 * it. It sits at the bottom of the layers: it includes no parser or store.
 *
 * ONE field table, ZT_SPAN_FIELDS, declares every exported field: its name
 * (the JSON key and the SQL column), its kind (C type, null rule, text
 * form) and, for strings, its size. The struct members, the SQLite schema,
 * inserts and reads, the JSON encoder and the CLI's printer are generated
 * from it (through zt_span_fields[] and zt_span_get/zt_span_set below), so
 * adding a field is one line here.
 *
 * Null rules by kind (a null is never invented, DESIGN.md):
 *   STR      char[size], null when ""      U64      never null
 *   U64Z     null when 0                    U32      never null
 *   PORT     uint16_t, null when 0          I32N     int32_t, null when < 0
 *   SEQREQ   uint32_t, null unless flags has ZT_SPAN_HAS_SEQ
 *   SEQRESP  uint32_t, null unless flags has ZT_SPAN_HAS_RESP_SEQ
 *   IP       uint8_t[16] (v6 form, v4 as ::ffff:a.b.c.d), null when all zero
 *   TAP/L7/L4/LINK uint8_t enums, null when unknown; RSTATUS never null ("unknown")
 *   BOOL     uint8_t 0/1                    FLAGS    uint32_t, names in JSON
 *   ATTRS    struct zt_attrs, null when empty; a JSON object in JSON and SQL
 */
#ifndef ZT_MODEL_SPAN_H
#define ZT_MODEL_SPAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "model/l7.h"

enum zt_tap_side {
	ZT_TAP_UNKNOWN = 0,
	ZT_TAP_CLIENT_PROCESS = 1,
	ZT_TAP_SERVER_PROCESS = 2,
	ZT_TAP_CLIENT_NIC = 3, /* packets at the client's NIC (a capture file, ZT_DF_NIC) */
	ZT_TAP_SERVER_NIC = 4, /* packets at the server's NIC */
	ZT_TAP_APP = 5,        /* reported by the application's own SDK (OTLP ingest) */
	ZT_TAP__LAST = ZT_TAP_APP,
};

/* Status class: set by the parser, which alone knows what an error is in
 * its protocol (proto.h). */
enum zt_resp_status {
	ZT_RS_UNKNOWN = 0,
	ZT_RS_OK = 1,
	ZT_RS_CLIENT_ERROR = 2,
	ZT_RS_SERVER_ERROR = 3,
	ZT_RS_TIMEOUT = 4,
};

/* zt_span.flags; the names are the JSON "flags" array's words. */
#define ZT_SPAN_FLAG_LIST(X)                                                                                 \
	X(HAS_SEQ, 0, NULL)            /* req_tcp_seq valid */                                               \
	X(TRUNCATED, 1, "truncated")   /* a message head was not fully captured */                           \
	X(LOST_SYNC, 2, "lost_sync")   /* framing was lost in this exchange */                               \
	X(NO_RESPONSE, 3, "no_response") /* request never answered (closed/timeout/overflow) */              \
	X(HAS_RESP_SEQ, 4, NULL)       /* resp_tcp_seq valid */                                              \
	X(ONE_WAY, 5, "one_way")       /* a message that expects no response (fire and forget) */        \
	X(AMBIGUOUS, 6, "ambiguous_thread") /* the thread served 2+ requests at once: no thread link */  \
	X(EARLY_RESPONSE, 7, "early_response") /* answered before the request was fully sent */

/* How a span got its parent (trace assembly, trace/joiner.h). */
enum zt_link_kind {
	ZT_LINK_NONE = 0,
	ZT_LINK_TCP_SEQ = 1,      /* client and server side of one exchange: equal TCP seqs */
	ZT_LINK_THREAD = 2,       /* a call the serving thread made: syscall_trace_id */
	ZT_LINK_X_REQUEST_ID = 3, /* a proxy's egress call carrying its ingress request's id */
	ZT_LINK_EXPLICIT = 4,     /* ids carried in trace headers */
};
const char *zt_link_kind_name(unsigned k); /* "tcp_seq"...; NULL for none */

enum zt_span_flags {
#define X(id, bit, name) ZT_SPAN_##id = 1u << (bit),
	ZT_SPAN_FLAG_LIST(X)
#undef X
};

#define ZT_HOSTNAME_LEN 64
#define ZT_UID_LEN 17 /* 16 hex + NUL */
#define ZT_PROCESS_LEN 16
#define ZT_VERSION_LEN 8
#define ZT_TYPE_LEN 33 /* request_type: method, command, API name */
#define ZT_DOMAIN_LEN 256
#define ZT_RESOURCE_LEN 512
#define ZT_ENDPOINT_LEN 600
#define ZT_EXC_LEN 128
#define ZT_XRID_LEN 64
#define ZT_TRACE_ID_LEN 33 /* 32 hex + NUL */
#define ZT_SPAN_ID_LEN 17  /* 16 hex + NUL */

/* A small bounded list of protocol attributes (name = value), set by the
 * parser; names are short fixed words of the parser ("http.user_agent"),
 * values are cut to their size. */
#define ZT_ATTRS_MAX 6
#define ZT_ATTR_KEY_LEN 24
#define ZT_ATTR_VAL_LEN 104
struct zt_attrs {
	uint8_t n;
	struct {
		char key[ZT_ATTR_KEY_LEN];
		char val[ZT_ATTR_VAL_LEN];
	} a[ZT_ATTRS_MAX];
};

/* field flags */
#define ZT_FF_NOTNULL 1u /* a required column (SQL NOT NULL) */

/* X(name, KIND, string size or 0, field flags) -- order is the JSON key
 * order and the SQL column order. */
#define ZT_SPAN_FIELDS(X)                                                                                    \
	X(span_uid, STR, ZT_UID_LEN, ZT_FF_NOTNULL)                                                          \
	X(start_ns, U64, 0, ZT_FF_NOTNULL) /* first byte of the request, unix epoch ns */                    \
	X(end_ns, U64, 0, ZT_FF_NOTNULL)   /* last byte of the response */                                   \
	X(duration_ns, U64, 0, ZT_FF_NOTNULL)                                                                \
	X(tap_side, TAP, 0, 0)                                                                               \
	X(host, STR, ZT_HOSTNAME_LEN, 0)                                                                     \
	X(netns, U32, 0, 0)                                                                                  \
	X(pid, U32, 0, 0)                                                                                    \
	X(tid_req, U32, 0, 0)                                                                                \
	X(tid_resp, U32, 0, 0)                                                                               \
	X(process, STR, ZT_PROCESS_LEN, 0)                                                                   \
	X(l7_protocol, L7, 0, 0)                                                                             \
	X(version, STR, ZT_VERSION_LEN, 0)                                                                   \
	X(request_type, STR, ZT_TYPE_LEN, 0)                                                                 \
	X(request_domain, STR, ZT_DOMAIN_LEN, 0)                                                             \
	X(request_resource, STR, ZT_RESOURCE_LEN, 0)                                                         \
	X(endpoint, STR, ZT_ENDPOINT_LEN, 0)                                                                 \
	X(response_status, RSTATUS, 0, 0)                                                                    \
	X(response_code, I32N, 0, 0)                                                                         \
	X(response_exception, STR, ZT_EXC_LEN, 0)                                                            \
	X(req_bytes, U64, 0, 0)                                                                              \
	X(resp_bytes, U64, 0, 0)                                                                             \
	X(client_ip, IP, 0, 0)                                                                               \
	X(client_port, PORT, 0, 0)                                                                           \
	X(server_ip, IP, 0, 0)                                                                               \
	X(server_port, PORT, 0, 0)                                                                           \
	X(l4_protocol, L4, 0, 0)                                                                             \
	X(req_tcp_seq, SEQREQ, 0, 0)                                                                         \
	X(resp_tcp_seq, SEQRESP, 0, 0)                                                                       \
	X(syscall_trace_id_req, U64Z, 0, 0)                                                                  \
	X(syscall_trace_id_resp, U64Z, 0, 0)                                                                 \
	X(x_request_id, STR, ZT_XRID_LEN, 0)      /* on the request */                                       \
	X(x_request_id_resp, STR, ZT_XRID_LEN, 0) /* on the response */                                      \
	X(trace_id, STR, ZT_TRACE_ID_LEN, 0)                                                                 \
	X(span_id, STR, ZT_SPAN_ID_LEN, 0)                                                                   \
	X(parent_span_id, STR, ZT_SPAN_ID_LEN, 0)                                                            \
	X(is_tls, BOOL, 0, 0)                                                                                \
	X(parent_uid, STR, ZT_UID_LEN, 0) /* assembly: the parent span, null at a root */                     \
	X(link_kind, LINK, 0, 0)          /* assembly: how parent_uid was found */                           \
	X(attributes, ATTRS, 0, 0)                                                                           \
	X(flags, FLAGS, 0, 0)

/* C member per kind */
#define ZT_MEMBER_STR(n, sz) char n[sz]
#define ZT_MEMBER_U64(n, sz) uint64_t n
#define ZT_MEMBER_U64Z(n, sz) uint64_t n
#define ZT_MEMBER_U32(n, sz) uint32_t n
#define ZT_MEMBER_PORT(n, sz) uint16_t n
#define ZT_MEMBER_I32N(n, sz) int32_t n
#define ZT_MEMBER_SEQREQ(n, sz) uint32_t n
#define ZT_MEMBER_SEQRESP(n, sz) uint32_t n
#define ZT_MEMBER_IP(n, sz) uint8_t n[16]
#define ZT_MEMBER_TAP(n, sz) uint8_t n
#define ZT_MEMBER_L7(n, sz) uint8_t n
#define ZT_MEMBER_L4(n, sz) uint8_t n
#define ZT_MEMBER_RSTATUS(n, sz) uint8_t n
#define ZT_MEMBER_BOOL(n, sz) uint8_t n
#define ZT_MEMBER_FLAGS(n, sz) uint32_t n
#define ZT_MEMBER_ATTRS(n, sz) struct zt_attrs n
#define ZT_MEMBER_LINK(n, sz) uint8_t n

struct zt_span {
#define X(name, kind, sz, ff) ZT_MEMBER_##kind(name, sz);
	ZT_SPAN_FIELDS(X)
#undef X
};

enum zt_field_kind {
	ZT_FK_STR,
	ZT_FK_U64,
	ZT_FK_U64Z,
	ZT_FK_U32,
	ZT_FK_PORT,
	ZT_FK_I32N,
	ZT_FK_SEQREQ,
	ZT_FK_SEQRESP,
	ZT_FK_IP,
	ZT_FK_TAP,
	ZT_FK_L7,
	ZT_FK_L4,
	ZT_FK_RSTATUS,
	ZT_FK_BOOL,
	ZT_FK_FLAGS,
	ZT_FK_ATTRS,
	ZT_FK_LINK,
};

enum zt_span_field {
#define X(name, kind, sz, ff) ZT_F_##name,
	ZT_SPAN_FIELDS(X)
#undef X
	ZT_F__COUNT,
};

struct zt_field {
	const char *name; /* JSON key and SQL column */
	uint8_t kind;     /* enum zt_field_kind */
	uint8_t flags;    /* ZT_FF_* */
	uint16_t size;    /* STR: bytes with the NUL */
	uint32_t offset;  /* in struct zt_span */
};
extern const struct zt_field zt_span_fields[ZT_F__COUNT];

/* One field's value in a form every encoder takes. Integers are given as
 * their 64-bit pattern in u (I32N: sign-extended, is_signed set); text is
 * NUL-terminated at s (pointing into the span, a static name, or buf).
 * ATTRS is given as JSON object text. */
enum zt_val_type { ZT_VAL_NULL = 0, ZT_VAL_INT = 1, ZT_VAL_TEXT = 2 };
#define ZT_VAL_BUF 2048
struct zt_val {
	uint8_t type; /* enum zt_val_type */
	uint8_t is_signed;
	uint64_t u;
	const char *s;
	char buf[ZT_VAL_BUF];
};

/* Empties a span for building: every field at its null or zero value,
 * strings emptied by their first byte (bytes past a NUL are never read).
 * A memset of the whole span (~2.7 KiB) per span was 3% of the pipeline. */
#define ZT_CLEAR_STR(f_) s->f_[0] = '\0'
#define ZT_CLEAR_U64(f_) s->f_ = 0
#define ZT_CLEAR_U64Z(f_) s->f_ = 0
#define ZT_CLEAR_U32(f_) s->f_ = 0
#define ZT_CLEAR_PORT(f_) s->f_ = 0
#define ZT_CLEAR_I32N(f_) s->f_ = -1
#define ZT_CLEAR_SEQREQ(f_) s->f_ = 0
#define ZT_CLEAR_SEQRESP(f_) s->f_ = 0
#define ZT_CLEAR_IP(f_) memset(s->f_, 0, sizeof(s->f_))
#define ZT_CLEAR_TAP(f_) s->f_ = 0
#define ZT_CLEAR_L7(f_) s->f_ = 0
#define ZT_CLEAR_L4(f_) s->f_ = 0
#define ZT_CLEAR_RSTATUS(f_) s->f_ = 0
#define ZT_CLEAR_BOOL(f_) s->f_ = 0
#define ZT_CLEAR_FLAGS(f_) s->f_ = 0
#define ZT_CLEAR_ATTRS(f_) s->f_.n = 0
#define ZT_CLEAR_LINK(f_) s->f_ = 0
static inline void zt_span_clear(struct zt_span *s)
{
#define X(name, kind, sz, ff) ZT_CLEAR_##kind(name);
	ZT_SPAN_FIELDS(X)
#undef X
}

/* Copies src into dst, each field's used bytes only: a string up to its NUL
 * (bytes past it are never read, see above), the attributes in use. A span
 * is ~2.7 KiB, mostly string room; a typical one uses ~400 bytes, and each
 * span is copied several times on its way to the store (pipeline queue,
 * joiner window, store batch), through memory no cache holds. */
#define ZT_COPY_STR(f_)                                                                                      \
	do {                                                                                                 \
		size_t l_ = strnlen(src->f_, sizeof(src->f_) - 1);                                           \
		memcpy(dst->f_, src->f_, l_);                                                                \
		dst->f_[l_] = '\0';                                                                          \
	} while (0)
#define ZT_COPY_VAL(f_) dst->f_ = src->f_
#define ZT_COPY_U64(f_) ZT_COPY_VAL(f_)
#define ZT_COPY_U64Z(f_) ZT_COPY_VAL(f_)
#define ZT_COPY_U32(f_) ZT_COPY_VAL(f_)
#define ZT_COPY_PORT(f_) ZT_COPY_VAL(f_)
#define ZT_COPY_I32N(f_) ZT_COPY_VAL(f_)
#define ZT_COPY_SEQREQ(f_) ZT_COPY_VAL(f_)
#define ZT_COPY_SEQRESP(f_) ZT_COPY_VAL(f_)
#define ZT_COPY_IP(f_) memcpy(dst->f_, src->f_, sizeof(dst->f_))
#define ZT_COPY_TAP(f_) ZT_COPY_VAL(f_)
#define ZT_COPY_L7(f_) ZT_COPY_VAL(f_)
#define ZT_COPY_L4(f_) ZT_COPY_VAL(f_)
#define ZT_COPY_RSTATUS(f_) ZT_COPY_VAL(f_)
#define ZT_COPY_BOOL(f_) ZT_COPY_VAL(f_)
#define ZT_COPY_FLAGS(f_) ZT_COPY_VAL(f_)
#define ZT_COPY_ATTRS(f_)                                                                                    \
	do {                                                                                                 \
		uint8_t n_ = src->f_.n < ZT_ATTRS_MAX ? src->f_.n : ZT_ATTRS_MAX;                           \
		dst->f_.n = n_;                                                                              \
		memcpy(dst->f_.a, src->f_.a, n_ * sizeof(src->f_.a[0]));                                     \
	} while (0)
#define ZT_COPY_LINK(f_) ZT_COPY_VAL(f_)
static inline void zt_span_copy(struct zt_span *restrict dst, const struct zt_span *restrict src)
{
#define X(name, kind, sz, ff) ZT_COPY_##kind(name);
	ZT_SPAN_FIELDS(X)
#undef X
}

/* Fills v with field f of s. */
void zt_span_get(const struct zt_span *s, enum zt_span_field f, struct zt_val *v);
/* Sets field f of s from v (the inverse of zt_span_get: ints for int kinds,
 * text for text kinds; NULL leaves the field at its null value). Returns 0,
 * or -EINVAL when v does not fit the field (the field is left null). */
int zt_span_set(struct zt_span *s, enum zt_span_field f, const struct zt_val *v);
/* Field index by name; -1 if none. */
int zt_span_field_by_name(const char *name);

const char *zt_tap_side_name(enum zt_tap_side t);
const char *zt_resp_status_name(enum zt_resp_status s);
/* Formats ip (v6 form) as text: dotted quad when v4-mapped. */
void zt_ip_str(const uint8_t ip[16], char *out, unsigned outsz);
/* Adds an attribute; false (nothing added) when the list is full. */
int zt_attrs_add(struct zt_attrs *a, const char *key, const char *val, size_t vlen);

#endif /* ZT_MODEL_SPAN_H */
