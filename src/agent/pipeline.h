/* SPDX-License-Identifier: MIT */
/*
 * pipeline.h - one source interface and one pipeline runner, used by `up`,
 * `record`, `replay` and bench/pipeline_bench alike.
 *
 *   source (bpf | replay | pcap later)          [reader thread: the caller's]
 *     -> stage.on_event  (the session, or the recorder)
 *     -> zt_pipeline_span() from the stage's sink
 *     -> bounded queue of encoded spans (model/span_codec.h), in bytes
 *        (full: counted in queue_full, never waited on by a live source)
 *     -> sink.put_rec, or sink.put of each span decoded; sink.flush
 *        (the store)                             [writer thread]
 *
 * The agent layer sits below the session and the store: it knows them only
 * as the callbacks below, which the command wires.
 *
 * A live source never waits on the sink: a full queue drops the span and
 * counts it. A finite source (replay) makes the runner wait instead and, in
 * inline mode (no writer thread), calls the sink in stream order: replay is
 * deterministic.
 *
 * Return convention: 0 on success, negative errno on failure with a message
 * in the caller's err buffer (or zt_pipeline_errmsg()).
 * Ownership: records and spans are borrowed for the duration of a callback.
 *
 * The queue is a byte ring: zt_pipeline_span encodes the span into it on
 * the caller's thread while the span is hot (~150-300 bytes, not the
 * ~2.7 KiB struct), the writer takes the records out in order, in batches
 * (woken by its 50 ms timer or a half-full ring, never per span), giving
 * the room back every 1/16 of the ring. Without sink_put_rec it decodes
 * each record into one span it reuses (in cache) for sink_put. Inline mode
 * (no writer thread) has no queue: each span goes to the sink at once.
 */
#ifndef ZT_PIPELINE_H
#define ZT_PIPELINE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/source.h"
#include "bpf/events.h"
#include "model/span.h"

struct zt_pipeline;

/* ---- sources ---- */

struct zt_source;
struct zt_source_ops {
	const char *name; /* "bpf", "replay" */
	/* Delivers pending records to zt_pipeline_event(); waits up to
	 * timeout_ms for the first (live sources). Returns the number
	 * delivered, or a negative errno (err filled). A finite source sets
	 * src->ended at its end. */
	int (*poll)(struct zt_source *src, int timeout_ms, char *err, size_t errsz);
	/* Optional: stop capturing a socket whose bytes match no protocol. */
	int (*quiet)(struct zt_source *src, uint64_t sk, uint64_t sock_ino);
	/* Optional: stop copying direction dir's payload up to TCP seq `seq`
	 * (a message body of known length no parser reads). */
	int (*skip)(struct zt_source *src, uint64_t sk, uint64_t sock_ino, uint8_t dir, uint32_t seq);
	/* Optional: the kernel's counters (enum zt_counter), else zeros. */
	void (*counters)(struct zt_source *src, uint64_t out[ZT_CNT__COUNT]);
	void (*close)(struct zt_source *src);
};

struct zt_source {
	const struct zt_source_ops *ops;
	bool live;            /* events happen now (bpf), not from a file */
	bool ended;           /* a finite source reached its end */
	int64_t mono_to_real; /* epoch ns = event ns + mono_to_real */
	char host[64];        /* the host the events come from */
};

/* The live kernel programs of this host. */
int zt_source_open_bpf(const struct zt_bpf_opts *o, struct zt_pipeline *p, struct zt_source **out, char *err,
		       size_t errsz);
/* A recording made by `ztrace record`. */
int zt_source_open_replay(const char *path, struct zt_pipeline *p, struct zt_source **out, char *err,
			  size_t errsz);
void zt_source_close(struct zt_source *src);

/* ---- the runner ---- */

struct zt_pipeline_stats {
	uint64_t events;       /* records the source delivered */
	uint64_t spans;        /* spans handed to zt_pipeline_span */
	uint64_t queue_full;   /* spans dropped: the queue was full (live only) */
	uint64_t written;      /* spans the sink took (sink_put or sink_put_rec) */
	uint64_t sink_errors;  /* sink.put/flush failures (the first message kept) */
	uint64_t last_ts;      /* hdr.ts_ns of the latest record */
};

struct zt_pipeline_cfg {
	/* the stage: every record of the source, in stream order */
	int (*on_event)(void *ctx, const void *rec, size_t len);
	void (*on_tick)(void *ctx, uint64_t now_ns); /* idle timeouts (optional) */
	void (*on_end)(void *ctx);                   /* the stream ended: flush (optional) */
	void *stage_ctx;
	/* the sink (optional): spans, on the writer thread when threaded.
	 * sink_put takes a span; sink_put_rec, when set, is used instead
	 * and takes the span's record (zt_span_encode's form, len bytes,
	 * model/span_codec.h) as the queue holds it, undecoded. Either is
	 * enough. */
	int (*sink_put)(void *ctx, const struct zt_span *s);
	int (*sink_put_rec)(void *ctx, const uint8_t *rec, size_t len);
	int (*sink_flush)(void *ctx);
	/* optional: the writer's timer (live sources only; CLOCK_REALTIME ns),
	 * at least every 50 ms, spans or not */
	void (*sink_tick)(void *ctx, uint64_t now_ns);
	/* optional: the last span was put (before the final sink_flush) */
	int (*sink_end)(void *ctx);
	const char *(*sink_errmsg)(void *ctx);
	void *sink_ctx;
	bool threaded;        /* a writer thread runs the sink */
	/* bytes of encoded spans the queue holds (0: 8 MiB, ~30k spans,
	 * touched only as it fills; at least 2 * ZT_SPAN_CODEC_MAX). A span
	 * is queued only while ZT_SPAN_CODEC_MAX bytes are free. */
	uint32_t queue_bytes;
	uint64_t flush_ns;    /* sink flush period (0: 200 ms) */
	/* the loop */
	uint64_t duration_ns;                 /* stop after this long (0: until the end or *stop) */
	volatile sig_atomic_t *stop;          /* set by a signal handler */
	uint64_t status_ns;                   /* period of on_status (0: never) */
	void (*on_status)(void *ctx, struct zt_pipeline *p, double secs);
	void *status_ctx;
};

struct zt_pipeline *zt_pipeline_new(const struct zt_pipeline_cfg *cfg);
/* The stage's span sink: queue s for the sink (encoded: s is not kept).
 * A full queue drops it (queue_full) for a live source, waits for the
 * writer for a finite one. */
void zt_pipeline_span(void *pipeline, const struct zt_span *s);
/* Another thread's spans (OTLP ingest on the HTTP server's threads): queue
 * s for the same writer (encoded), never waiting. Safe from any thread
 * (the queue's lock). Returns 0, -ENOSPC when the queue is full (counted
 * in queue_full), -EOPNOTSUPP without a writer thread. */
int zt_pipeline_span_offer(struct zt_pipeline *p, const struct zt_span *s);
/* The sources' record callback. */
int zt_pipeline_event(void *pipeline, const void *rec, size_t len);
/* Runs src until it ends, *stop, the duration, or a source/sink failure;
 * then drains the source, ends the stage, drains the queue into the sink
 * and flushes it. Returns 0, or the first failure (message in err). */
int zt_pipeline_run(struct zt_pipeline *p, struct zt_source *src, char *err, size_t errsz);
const struct zt_pipeline_stats *zt_pipeline_stats(struct zt_pipeline *p);
struct zt_source *zt_pipeline_source(struct zt_pipeline *p);
void zt_pipeline_free(struct zt_pipeline *p);

#endif /* ZT_PIPELINE_H */
