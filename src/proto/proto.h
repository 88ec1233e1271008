/* SPDX-License-Identifier: MIT */
/*
 * proto.h - the interface every application-protocol parser implements.
 *
 * A parser sees one connection's two byte streams as a sequence of segments
 * (one per traced syscall, in event order). A segment carries the payload
 * prefix the kernel captured and the number of bytes the syscall really
 * moved; bytes past the prefix are a *gap*: their count is known, their
 * content is not. Parsers must never read past seg->caplen, must bound every
 * length before indexing, and must treat the bytes as hostile.
 *
 * Protocols register through one entry in the table in proto.c (like nDPI).
 * Inference: infer() looks at the first captured bytes of a connection in one
 * direction and answers a confidence 0..100; the highest answer >= 50 wins.
 *
 * Ownership: the session layer allocates state_size bytes of zeroed state per
 * connection, calls init() once, feed() per segment, and finish() when the
 * connection closes (what the close delimits is completed there) before it
 * frees the state. Messages handed to emit() are borrowed for the duration
 * of the call only.
 */
#ifndef ZT_PROTO_H
#define ZT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/l7.h"
#include "model/span.h"

enum zt_msg_kind {
	ZT_MSG_REQUEST = 1,
	ZT_MSG_RESPONSE = 2,
};

/* How a message finds its partner; the session pairs per connection by it,
 * so a new protocol needs no change there (DESIGN.md, protocol contract). */
enum zt_pair_mode {
	ZT_PAIR_FIFO = 0,   /* order on the connection (HTTP/1, Redis, SQL): the
			     * oldest pending request takes the response */
	ZT_PAIR_KEY = 1,    /* zt_msg.key: stream id, DNS id, correlation id; a
			     * response takes the pending request of its key */
	ZT_PAIR_ONEWAY = 2, /* a request that expects no response (MQTT QoS 0,
			     * Kafka acks=0, noreply): a span at once */
};

/* zt_msg.flags */
enum zt_msg_flags {
	ZT_MF_TRUNCATED = 1u << 0,  /* header section not fully captured */
	ZT_MF_LOST_SYNC = 1u << 1,  /* framing lost inside this message */
	ZT_MF_EOF_BODY = 1u << 2,   /* body delimited by connection close */
	ZT_MF_INTERIM = 1u << 3,    /* interim response (HTTP 1xx): pairs with nothing */
	ZT_MF_UPGRADE = 1u << 4,    /* 101 / CONNECT: stream stops being HTTP */
	ZT_MF_CLOSE = 1u << 5,      /* Connection: close */
	ZT_MF_HAS_CODE = 1u << 6,   /* response_code is set */
	ZT_MF_CTX_AMBIGUOUS = 1u << 7, /* trace_ctx was shared by 2+ requests in flight */
	ZT_MF_EARLY = 1u << 8,      /* request emitted when its response began, before it
				     * was fully sent (a 413, a 405 to Expect: 100-continue):
				     * bytes are those sent by then */
};

/* One segment of one direction of a connection, as the parser sees it. */
struct zt_seg {
	const uint8_t *data; /* captured prefix */
	uint32_t caplen;     /* captured bytes at data */
	uint64_t len;        /* bytes the syscall moved; len - caplen is a gap */
	uint64_t enter_ns, exit_ns;
	uint32_t tid;
	uint32_t seq;        /* TCP seq of data[0], valid if has_seq */
	bool has_seq;
	uint8_t dir;         /* enum zt_dir */
	bool eof;            /* the peer closed this direction (len == 0) */
	uint64_t trace_ctx;  /* the thread's syscall trace context (session layer) */
	bool ctx_ambiguous;  /* ... which serves 2+ requests at once */
};

/* The string fields of struct zt_msg. */
#define ZT_MSG_STRINGS(X)                                                                                    \
	X(version) X(request_type) X(request_domain) X(request_resource) X(response_exception) X(trace_id)     \
	    X(span_id) X(parent_span_id) X(x_request_id)

/* One application message (request or response), in protocol-neutral
 * fields (the span record's). Strings are NUL-terminated and cut to their
 * field size; "" means absent. The parser fills everything below "what";
 * zt_msg_begin()/zt_msg_extend() fill "where". */
struct zt_msg {
	uint8_t kind;   /* enum zt_msg_kind */
	uint8_t dir;    /* enum zt_dir of the segment that carried it */
	uint8_t pair;   /* enum zt_pair_mode */
	uint8_t status; /* responses: enum zt_resp_status (the parser's class) */
	uint32_t flags; /* enum zt_msg_flags */
	uint64_t key;   /* ZT_PAIR_KEY: the pairing key, same on both messages */
	uint8_t l7;     /* enum zt_l7 of this message when not the connection's
			 * (gRPC on an HTTP/2 connection); on a ZT_MF_UPGRADE
			 * response: the protocol the connection switches to,
			 * its pending request continuing under `key` (h2c) */
	/* where */
	uint64_t start_ns; /* egress: entry of first syscall; ingress: its exit */
	uint64_t end_ns;   /* exit of the syscall carrying the last byte */
	uint32_t tid_start, tid_end;
	uint32_t seq;      /* TCP seq of the message's first byte */
	bool has_seq;
	uint64_t bytes;    /* wire bytes: head + body */
	uint64_t trace_ctx; /* seg->trace_ctx of the first segment */
	/* what */
	char version[ZT_VERSION_LEN];
	char request_type[ZT_TYPE_LEN];         /* method, command, API name */
	char request_domain[ZT_DOMAIN_LEN];     /* host, database, vhost */
	char request_resource[ZT_RESOURCE_LEN]; /* path, statement, key, topic */
	int32_t response_code;                  /* valid with ZT_MF_HAS_CODE */
	char response_exception[ZT_EXC_LEN];
	/* ids carried by the message */
	char trace_id[ZT_TRACE_ID_LEN];
	char span_id[ZT_SPAN_ID_LEN];
	char parent_span_id[ZT_SPAN_ID_LEN];
	char x_request_id[ZT_XRID_LEN];
	struct zt_attrs attrs; /* last: zt_msg_reset/zt_msg_copy skip its unused slots */
};

/* What inference may know besides the bytes. Ports are hints, never proof:
 * a parser may raise its confidence on its usual port, but must not answer
 * >= 50 on a port alone. */
struct zt_infer_hints {
	uint8_t l4;     /* IPPROTO_TCP / IPPROTO_UDP */
	uint8_t dir;    /* enum zt_dir of the bytes */
	uint16_t lport; /* local port of the traced socket */
	uint16_t rport; /* remote port, 0 if unknown */
};

typedef void (*zt_emit_fn)(void *ctx, const struct zt_msg *m);

struct zt_proto_ops {
	enum zt_l7 id;
	const char *name; /* as stored: "HTTP" */
	/* Confidence 0..100 that `buf` (the first captured bytes of a stream)
	 * starts a message of this protocol. Pure. */
	int (*infer)(const uint8_t *buf, size_t len, const struct zt_infer_hints *h);
	size_t state_size;
	void (*init)(void *state);
	/* Consume one segment; emit() each message once it is complete. */
	void (*feed)(void *state, const struct zt_seg *seg, zt_emit_fn emit, void *ctx);
	/* The connection ended (close/evict/flush): emit what is complete,
	 * e.g. a response whose body was delimited by the close. */
	void (*finish)(void *state, uint64_t now_ns, zt_emit_fn emit, void *ctx);
	/* Optional: whether the first bytes of a stream (for which infer()
	 * answered >= 50) start a request or a response; tells the session
	 * whether this side is the client or the server before any message is
	 * complete. Returns enum zt_msg_kind, or 0 when it cannot tell. */
	int (*first_kind)(const uint8_t *buf, size_t len);
	/* Optional: the normalised endpoint of a request ("GET /users/{id}"),
	 * NUL-terminated in out[0..outsz). */
	void (*endpoint)(const struct zt_msg *req, char *out, size_t outsz);
	/* Optional redaction, each protocol of its own secrets (DESIGN.md):
	 * redact_msg overwrites secret values in a message's fields before it
	 * becomes a span; redact_payload overwrites them in a raw captured
	 * payload (length-preserving, returns bytes overwritten) before it is
	 * written to a recording. */
	void (*redact_msg)(struct zt_msg *m);
	size_t (*redact_payload)(uint8_t *buf, size_t len);
	/* Optional: after feed(), how many more bytes of direction dir are
	 * the current message's body, of known length, that the parser only
	 * counts (an HTTP body with Content-Length, a chunk's data); 0 when
	 * none or unknown. The session lets the kernel skip copying them. */
	uint64_t (*body_left)(const void *state, uint8_t dir);
};

/* The registration table in use; NULL-terminated. */
extern const struct zt_proto_ops *const *zt_protocols;
/* Installs another table (tests: a fake protocol that pairs by key or is
 * one-way); NULL restores the built-in one. Not thread-safe: call before
 * any session exists. */
void zt_proto_set_table(const struct zt_proto_ops *const *table);
const struct zt_proto_ops *zt_proto_by_id(enum zt_l7 id);
/* By stored name, case-insensitive ("redis"); NULL when none is registered. */
const struct zt_proto_ops *zt_proto_by_name(const char *name);
/* Best protocol for the first bytes of a stream, or NULL. */
const struct zt_proto_ops *zt_proto_infer(const uint8_t *buf, size_t len, const struct zt_infer_hints *h);
/* Redacts a raw payload whose protocol is not known (a recording is written
 * before inference): every protocol's redact_payload runs on it. */
size_t zt_proto_redact_payload(uint8_t *buf, size_t len);

/* Helpers shared by parsers: a message starts at byte `off` of seg / its
 * last byte lies in seg. */
void zt_msg_begin(struct zt_msg *m, const struct zt_seg *seg, uint64_t off);
/* Clears m for a new message: the fixed fields are zeroed, the strings
 * emptied (their first byte), the attributes emptied. Bytes past a string's
 * NUL stay as they were: clearing the whole struct (~1 KiB) per message was
 * 5% of the pipeline. Who compares whole structs calls zt_msg_canon(). */
void zt_msg_reset(struct zt_msg *m);
/* Zeroes the bytes past each string's NUL and the unused attribute slots,
 * so that equal messages are equal bytes (tests compare with memcmp). */
void zt_msg_canon(struct zt_msg *m);
/* Copies m without its unused attribute slots. */
void zt_msg_copy(struct zt_msg *dst, const struct zt_msg *src);
void zt_msg_extend(struct zt_msg *m, const struct zt_seg *seg);

/* Copy at most dstsz-1 bytes of src[0..n) to dst, NUL-terminate, replacing
 * control bytes with '?'. */
void zt_copy_str(char *dst, size_t dstsz, const char *src, size_t n);

#endif /* ZT_PROTO_H */
