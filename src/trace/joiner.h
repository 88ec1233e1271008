/* SPDX-License-Identifier: MIT */
/*
 * joiner.h - trace assembly at ingest: links spans into traces as they
 * arrive, by keys the exchanges already carry (DESIGN.md), so that each
 * stored span has its trace_id, parent_uid and link_kind and a trace is one
 * indexed read.
 *
 * Links (precision first: no link rather than a wrong one):
 *   tcp_seq       a server-process span's parent is the client-process span
 *                 of the same exchange: equal (req_tcp_seq, resp_tcp_seq);
 *                 NAT changes addresses, not sequence numbers.
 *   thread        a client-process span's parent is the server-process span
 *                 whose thread made the call: equal syscall_trace_id_req,
 *                 same process, the call inside the server span's time. Not
 *                 made for spans flagged ambiguous_thread.
 *   x_request_id  a proxy's egress client span's parent is its ingress
 *                 server span carrying the same X-Request-ID (on the request
 *                 or the response), same process.
 *   explicit      spans carrying the same trace id in their headers share a
 *                 trace. Parent edges from ids are made only through app
 *                 spans (tap_side app, OTLP ingest), whose span ids are
 *                 their own: an app span's parent is the app span its
 *                 parent_span_id names, and a client-process span whose
 *                 trace header carries an app span's id (the SDK made that
 *                 call) is that app span's child, also when a thread or
 *                 X-Request-ID link was made first (ids are definitive;
 *                 SDK spans arrive late): the link is replaced, late if
 *                 the span was written (relinked).
 *
 * Hold-back window: a span waits `window_ns` of stream time (span end
 * times) before it is released to the sink, so that the partners of most
 * links, which complete within milliseconds of each other, are there to
 * link before it is written. A link found later is not lost: the keys of
 * released spans are kept `key_ttl_ns` longer; a late parent makes a
 * late link (link_fn), and two traces that merge after both had spans
 * written make an alias (alias_fn: the younger id names the older).
 *
 * Trace ids: the explicit id from headers when the trace has one, else
 * derived from the trace's first released span (32 hex, stable: it never
 * changes once written): its end time, seconds then nanoseconds within the
 * second (8 hex each), then 64 bits of a hash of its uid. Derived ids sort
 * by time, so an index on trace_id grows at its right edge.
 *
 * Memory is bounded: max_spans spans wait at most (a full window releases
 * the oldest early: window_full), max_keys entries hold keys; nothing is
 * allocated after zt_joiner_new.
 *
 * Deterministic: only span times drive it (zt_joiner_tick is the live
 * source's idle timer), so a replay assembles the same traces every time.
 *
 * Return convention: 0 or the first negative errno a callback returned.
 * Ownership: spans given to put are copied; spans given to out are borrowed
 * for the call.
 */
#ifndef ZT_JOINER_H
#define ZT_JOINER_H

#include <stddef.h>
#include <stdint.h>

#include "model/span.h"

struct zt_joiner_cfg {
	uint64_t window_ns;  /* hold-back (0: 300 ms) */
	uint64_t key_ttl_ns; /* keys of released spans kept (0: 30 s) */
	/* The caps are counts, the window and the ttl times: past max / rate
	 * they cut the times short. A full window releases its oldest early
	 * (window_full): its links still form, late. A full key table drops
	 * the oldest keys before their ttl (keys_evicted_early): a partner
	 * that comes later finds nothing, the link is LOST (a request longer
	 * than max_keys / rate loses its calls; SDK spans exported in 5 s
	 * batches lose their explicit links). The defaults hold the 300 ms
	 * window up to ~50k spans/s and keys for 7.5 s at 35k spans/s (30 s
	 * up to ~8.7k spans/s); 65536 kept keys for 1.9 s at 35k/s and lost
	 * a 3 s request's thread links. */
	uint32_t max_spans;  /* spans held back at most (0: 16384) */
	/* bytes the held spans take at most, encoded (model/span_codec.h:
	 * ~150-400 bytes a span; 0: 512 per max_spans). Full, it releases
	 * the oldest early like a full window (window_full). */
	uint32_t max_bytes;
	uint32_t max_keys;   /* entries (held + released keys) at most (0: 262144) */
};

struct zt_joiner_out {
	int (*span)(void *ctx, const struct zt_span *s);
	int (*link)(void *ctx, const char *child_uid, const char *parent_uid, uint8_t link_kind);
	int (*alias)(void *ctx, const char *alias, const char *trace_id);
	void *ctx;
	/* Optional, called instead of span when set: the same span, and
	 * encoded (model/span_codec.h), assembly fields included, as a
	 * store takes it (store.h put_recs) without encoding it again. */
	int (*span_rec)(void *ctx, const struct zt_span *s, const uint8_t *rec, size_t len);
};

struct zt_joiner_stats {
	uint64_t spans;                  /* put */
	uint64_t released;               /* given to out.span */
	uint64_t links[5];               /* by enum zt_link_kind (explicit: trace merges) */
	uint64_t late_links;             /* made after the child was released */
	uint64_t aliases;                /* traces merged after both were written */
	uint64_t window_full;            /* released before their window ended */
	uint64_t keys_evicted_early;     /* keys dropped before their ttl: max_keys */
	uint64_t containment_refused;    /* thread links refused: call outside the server span */
	uint64_t relinked;               /* inferred links replaced by an SDK span's explicit one */
	uint64_t bad_records;            /* put_rec given bytes that are not one encoded span */
};

struct zt_joiner;

struct zt_joiner *zt_joiner_new(const struct zt_joiner_cfg *cfg, const struct zt_joiner_out *out);
/* Takes one span (copied); may release older ones. */
int zt_joiner_put(struct zt_joiner *j, const struct zt_span *s);
/* The same for a span encoded (model/span_codec.h): the len bytes at rec
 * are one whole record, kept as they are. -EINVAL (counted: bad_records)
 * when they are not. */
int zt_joiner_put_rec(struct zt_joiner *j, const uint8_t *rec, size_t len);
/* Releases the spans whose window ended before now_ns (epoch ns): the live
 * source's timer when traffic pauses. */
int zt_joiner_tick(struct zt_joiner *j, uint64_t now_ns);
/* Releases every span held (the stream ended). */
int zt_joiner_flush(struct zt_joiner *j);
const struct zt_joiner_stats *zt_joiner_stats(const struct zt_joiner *j);
size_t zt_joiner_mem(const struct zt_joiner *j); /* bytes allocated */
void zt_joiner_free(struct zt_joiner *j);

#endif /* ZT_JOINER_H */
