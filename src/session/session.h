/* SPDX-License-Identifier: MIT */
/*
 * session.h - from raw kernel events to spans.
 *
 * The session drives the connection table (conn/, bounded, every close
 * counted by cause), runs protocol inference on each connection's first
 * bytes, feeds the protocol parser one segment per syscall, keeps the
 * per-thread syscall trace context, pairs requests with responses by the
 * mode each message carries (FIFO, by key, one-way: proto.h), applies the
 * protocol's redaction to requests, and hands finished spans to a sink. It is plain deterministic C driven only by the events it is given
 * and the times passed to zt_session_tick(): a replayed recording produces
 * exactly the spans the live run did.
 *
 * Return convention: 0 on success, negative errno on failure.
 * Ownership: spans passed to the sink are borrowed for the call only.
 */
#ifndef ZT_SESSION_H
#define ZT_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "agent/pipeline.h"
#include "model/span.h"

struct zt_session_cfg {
	const char *host;         /* reported in every span */
	int64_t mono_to_real;     /* epoch ns = event ns + mono_to_real */
	uint32_t max_conns;       /* connection table size (0: 16384) */
	uint32_t max_pending;     /* unanswered requests kept per connection (0: 64) */
	uint32_t pend_cap;        /* unanswered requests kept in all (0: 16384) */
	uint64_t idle_timeout_ns; /* a connection idle this long is closed (0: 120 s) */
	/* Optional: called once when a TCP connection's first bytes match no
	 * protocol, so the live source can stop capturing it. */
	void (*on_unclassified)(void *ctx, uint64_t sk, uint64_t sock_ino);
	/* Optional: the bytes of direction dir before TCP seq `seq` are a body
	 * the parser only counts: the kernel need not copy them. */
	void (*on_body)(void *ctx, uint64_t sk, uint64_t sock_ino, uint8_t dir, uint32_t seq);
	void *hook_ctx;
};

/* Counters: every event is accounted for in exactly one outcome. */
struct zt_session_stats {
	uint64_t events;           /* records given to zt_session_event */
	uint64_t bad_events;       /* malformed records, rejected */
	uint64_t data_events;
	uint64_t sock_events, proc_events;
	uint64_t conns_opened;
	uint64_t conns_closed;     /* by a TCP close seen in the kernel */
	uint64_t conns_idle;       /* closed after idle_timeout */
	uint64_t conns_evicted;    /* pushed out of a full table */
	uint64_t conns_reused;     /* a socket address reused by a new socket */
	uint64_t conns_unclassified; /* no protocol recognised in the first bytes */
	uint64_t segs_unclassified;  /* data events on such connections */
	uint64_t segs_stashed;       /* short first segments kept to infer with the next */
	uint64_t segs_joined;        /* ... that did infer with the next (Kafka size reads) */
	uint64_t bodies_skipped;     /* bodies the kernel was told not to copy */
	uint64_t requests, responses, interim;
	uint64_t one_way;          /* requests that expect no response: spans at once */
	uint64_t spans;
	uint64_t unanswered;       /* requests closed or timed out without response */
	uint64_t orphan_responses; /* responses with no pending request */
	uint64_t pending_overflow; /* requests pushed out of a full pending queue */
	uint64_t pend_pool_empty;  /* requests that found the shared pending pool empty
				    * (stored at once as unanswered spans) */
	uint64_t truncated;        /* messages whose head was cut */
	uint64_t lost_sync;        /* messages in which framing was lost */
	uint64_t ctx_collisions;   /* thread contexts overwritten in the tid table */
	uint64_t ctx_ambiguous;    /* contexts serving 2+ requests at once: no thread links */
	uint64_t tls_events;       /* TLS plaintext records (ZT_DF_TLS) */
	uint64_t tls_conns;        /* connections whose plaintext replaced their ciphertext */
	uint64_t tls_cipher_ignored; /* ciphertext records of such connections, not parsed */
};

typedef void (*zt_span_sink_fn)(void *ctx, const struct zt_span *s);

struct zt_session;

struct zt_session *zt_session_new(const struct zt_session_cfg *cfg, zt_span_sink_fn sink, void *sink_ctx);
/* One raw record (struct zt_event_hdr + body). Malformed records are
 * counted in bad_events and return -EINVAL; nothing else fails. */
int zt_session_event(struct zt_session *s, const void *rec, size_t len);
/* Closes connections idle since before now_ns - idle_timeout. */
void zt_session_tick(struct zt_session *s, uint64_t now_ns);
/* Closes every connection: complete messages become spans, unanswered
 * requests become spans without a response. */
void zt_session_flush(struct zt_session *s);
/* The counters; the pointer stays valid and current until zt_session_free. */
const struct zt_session_stats *zt_session_stats(const struct zt_session *s);
/* Bytes the session's tables may use at most (conn.h states the bound). */
size_t zt_session_mem_bound(const struct zt_session *s);
void zt_session_free(struct zt_session *s);

/* Makes the session a pipeline's stage: every record to zt_session_event,
 * ticks to zt_session_tick, the end to zt_session_flush. The pipeline is
 * made first (the session sends its spans there), so the session is named
 * through *holder, set once zt_session_new returned. */
void zt_session_as_stage(struct zt_pipeline_cfg *pc, struct zt_session **holder);

#endif /* ZT_SESSION_H */
