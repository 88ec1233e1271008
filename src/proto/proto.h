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

enum zt_l7 {
	ZT_L7_UNKNOWN = 0,
	ZT_L7_HTTP1 = 1,
	ZT_L7__COUNT,
};

enum zt_msg_kind {
	ZT_MSG_REQUEST = 1,
	ZT_MSG_RESPONSE = 2,
};

/* zt_msg.flags */
enum zt_msg_flags {
	ZT_MF_TRUNCATED = 1u << 0,  /* header section not fully captured */
	ZT_MF_LOST_SYNC = 1u << 1,  /* framing lost inside this message */
	ZT_MF_EOF_BODY = 1u << 2,   /* body delimited by connection close */
	ZT_MF_INTERIM = 1u << 3,    /* 1xx interim response: pairs with nothing */
	ZT_MF_UPGRADE = 1u << 4,    /* 101 / CONNECT: stream stops being HTTP */
	ZT_MF_CLOSE = 1u << 5,      /* Connection: close */
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
};

#define ZT_METHOD_LEN 17 /* 16 characters + NUL */
#define ZT_HOST_LEN 256
#define ZT_PATH_LEN 512
#define ZT_TRACE_ID_LEN 33  /* 32 hex + NUL */
#define ZT_SPAN_ID_LEN 17   /* 16 hex + NUL */
#define ZT_XRID_LEN 64
#define ZT_EXC_LEN 128

/* One application message (request or response). Strings are NUL-terminated
 * and cut to their field size; "" means absent. */
struct zt_msg {
	uint8_t kind;  /* enum zt_msg_kind */
	uint8_t dir;   /* enum zt_dir of the segment that carried it */
	uint32_t flags; /* enum zt_msg_flags */
	/* where: filled by zt_msg_begin()/zt_msg_extend() */
	uint64_t start_ns; /* egress: entry of first syscall; ingress: its exit */
	uint64_t end_ns;   /* exit of the syscall carrying the last byte */
	uint32_t tid_start, tid_end;
	uint32_t seq;      /* TCP seq of the message's first byte */
	bool has_seq;
	uint64_t bytes;    /* wire bytes: head + body */
	uint64_t trace_ctx; /* seg->trace_ctx of the first segment */
	/* what */
	char version[4];   /* "1.0", "1.1" */
	char method[ZT_METHOD_LEN];
	char host[ZT_HOST_LEN];
	char path[ZT_PATH_LEN]; /* path with query, as sent */
	int status;             /* response status code, 0 if none */
	char exception[ZT_EXC_LEN];
	/* ids carried by the message */
	char trace_id[ZT_TRACE_ID_LEN];
	char span_id[ZT_SPAN_ID_LEN];
	char parent_span_id[ZT_SPAN_ID_LEN];
	char x_request_id[ZT_XRID_LEN];
};

typedef void (*zt_emit_fn)(void *ctx, const struct zt_msg *m);

struct zt_proto_ops {
	enum zt_l7 id;
	const char *name; /* as stored: "HTTP" */
	/* Confidence 0..100 that `buf` (the first captured bytes of a stream in
	 * direction dir) starts a message of this protocol. Pure. */
	int (*infer)(const uint8_t *buf, size_t len, int dir);
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
};

/* The registration table; NULL-terminated. */
extern const struct zt_proto_ops *const zt_protocols[];
const struct zt_proto_ops *zt_proto_by_id(enum zt_l7 id);
/* Best protocol for the first bytes of a stream, or NULL. */
const struct zt_proto_ops *zt_proto_infer(const uint8_t *buf, size_t len, int dir);

/* Helpers shared by parsers: a message starts at byte `off` of seg / its
 * last byte lies in seg. */
void zt_msg_begin(struct zt_msg *m, const struct zt_seg *seg, uint64_t off);
void zt_msg_extend(struct zt_msg *m, const struct zt_seg *seg);

/* Copy at most dstsz-1 bytes of src[0..n) to dst, NUL-terminate, replacing
 * control bytes with '?'. */
void zt_copy_str(char *dst, size_t dstsz, const char *src, size_t n);

#endif /* ZT_PROTO_H */
