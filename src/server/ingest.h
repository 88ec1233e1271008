/* SPDX-License-Identifier: MIT */
/*
 * ingest.h - the server side of the agent protocol (agent/ship_wire.h):
 * accepts agents over TCP, decodes their batches and feeds the spans to
 * the same sink as `ztrace up` (store/sink.h: the joiner, then the store),
 * and acknowledges a batch only once the store made its spans durable.
 *
 * Durability of an ack: the joiner releases spans in the order they were
 * put (its window is a FIFO ring, trace/joiner.c), so a batch whose spans
 * were put as the P-th..Q-th is wholly released once Q spans came out of
 * the joiner (counted by the sink's on_span); a store flush that then
 * succeeds without a failure since the previous one makes it durable. A
 * batch released while the store failed is not acknowledged: its agent's
 * connection is closed and the agent resends it (the store's duplicate
 * rule makes spans stored twice count once).
 *
 * Duplicates: per agent, the highest contiguous durable seq is kept in
 * STATE_DIR/agents/AGENT_ID (tmp + fsync + rename, before the Ack is sent),
 * so a batch resent after a server kill -9 is recognised; batches at or
 * below it, or already in flight, are dropped and counted.
 *
 * Threads: zt_ingest_run is one thread (poll over every connection);
 * zt_ingest_agents and zt_ingest_get_stats may be called from any thread.
 * Return convention: 0 or a negative errno (message in err).
 */
#ifndef ZT_SERVER_INGEST_H
#define ZT_SERVER_INGEST_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct zt_ingest_cfg {
	const char *listen;      /* ADDR:PORT (default 127.0.0.1:7071) */
	const char *state_dir;   /* where the dedup state lives (created) */
	uint32_t max_conns;      /* agents connected at once (0: 256); more are refused, counted */
	uint64_t flush_ns;       /* store flush + ack period (0: 100 ms) */
	uint64_t max_pending_spans; /* spans taken and not yet durable before reading stops (0: 1M) */
	uint64_t joiner_window_ns;  /* the joiner's hold-back (0: its default) */
	/* bytes all connections may buffer for frames above 64 KiB (0: 256 MiB);
	 * a frame that does not fit waits its turn (buffer_waits) */
	uint64_t max_buffered;
	uint32_t max_offered;       /* spans zt_ingest_offer may queue (0: 4096); more are refused, counted */
};

/* One agent, as the API shows it (copied out: no pointer into the
 * registry). */
#define ZT_INGEST_COUNTERS_MAX 48
struct zt_agent_info {
	char agent_id[33];
	char host[64], kernel[128], version[32];
	char peer[64];              /* ip:port of its connection, "" when not connected */
	int connected;
	uint32_t protocol_version;
	uint64_t first_seen_ns, last_seen_ns, started_ns; /* epoch ns */
	uint64_t acked_seq;         /* highest contiguous durable batch */
	uint64_t batches, spans;    /* taken from it since the server started */
	uint64_t dup_batches;       /* resent batches dropped as duplicates */
	uint64_t bad_spans;         /* fields cut to fit (zt_wire_span_from_pb) */
	size_t ncounters;           /* its last AgentStats */
	struct {
		char name[32];
		uint64_t value;
	} counters[ZT_INGEST_COUNTERS_MAX];
};

struct zt_ingest_stats {
	uint64_t conns_accepted, conns_refused, conns_open;
	uint64_t frames_bad;        /* garbage: bad type byte, undecodable message, bad order */
	uint64_t frames_oversize;   /* over ZT_WIRE_FRAME_MAX / ZT_WIRE_MSG_MAX / ZT_WIRE_BATCH_MAX */
	uint64_t version_refused;   /* agents of another protocol version */
	uint64_t batches, spans;    /* taken */
	uint64_t bad_spans;         /* spans with fields cut to fit */
	uint64_t dup_batches;       /* already durable: dropped */
	uint64_t acks_deferred;     /* commits that acked nothing: the store still held spans in memory */
	uint64_t dup_inflight;      /* already taken, not yet durable: dropped */
	uint64_t acked_batches;     /* made durable and acknowledged */
	uint64_t store_failures;    /* commits in which the store failed (batches resent) */
	uint64_t state_errors;      /* dedup state files that could not be written */
	uint64_t paused;            /* times reading stopped: too many spans pending */
	uint64_t buffer_waits;      /* large frames that waited for input budget */
	uint64_t conns_stalled;     /* closed: a large frame stopped arriving for 30 s */
	uint64_t spans_written;     /* the store's count (duplicates not counted) */
	uint64_t offered_spans;     /* taken from zt_ingest_offer's queue (OTLP) */
	uint64_t offered_full;      /* refused by zt_ingest_offer: the queue was full */
	char last_store_error[256]; /* the store's message at the last failed commit, "" */
};

struct zt_ingest;

/* st: borrowed, kept open by the caller until zt_ingest_free. */
int zt_ingest_new(const struct zt_ingest_cfg *cfg, struct zt_store *st, struct zt_ingest **out, char *err,
		  size_t errsz);
/* 0 when addr is a listen address zt_ingest_new takes; else -EINVAL and
 * a message (checked before anything is created). */
int zt_ingest_check_listen(const char *addr, char *err, size_t errsz);
/* The bound address (port 0 in cfg: the one the kernel gave). */
const char *zt_ingest_address(const struct zt_ingest *g);
/* Serves until *stop; then flushes (acks what became durable) and returns. */
int zt_ingest_run(struct zt_ingest *g, volatile sig_atomic_t *stop, char *err, size_t errsz);
/* Copies up to max agents into out; returns how many agents there are. */
size_t zt_ingest_agents(struct zt_ingest *g, struct zt_agent_info *out, size_t max);
void zt_ingest_get_stats(struct zt_ingest *g, struct zt_ingest_stats *out);
/* The sink's counters (joiner links, store failures) for the stop line. */
const struct zt_store_sink *zt_ingest_sink(const struct zt_ingest *g);
void zt_ingest_free(struct zt_ingest *g);

/* Hands one span to the ingest thread (ctx: the struct zt_ingest; the
 * signature of zt_otlp_emit_fn), for spans that come from no agent: OTLP
 * requests on the HTTP threads. Any thread, never waits: the span is
 * copied into a bounded queue that the ingest thread drains into its
 * sink. 0; -ENOSPC when the queue is full (counted in offered_full; the
 * queue also fills while ingest is paused on pending spans); -EAGAIN once
 * zt_ingest_run is stopping. Queued spans are not yet durable: unlike an
 * agent's batch, nothing is acknowledged for them (OTLP answers once
 * they are queued, as `ztrace up` does). */
struct zt_span;
int zt_ingest_offer(void *ctx, const struct zt_span *s);

#endif /* ZT_SERVER_INGEST_H */
