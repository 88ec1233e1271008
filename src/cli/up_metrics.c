/* SPDX-License-Identifier: MIT */
/* up_metrics.c - see up_metrics.h. */
#include "cli/up_metrics.h"

#include <string.h>

#include "bpf/events.h"

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

size_t zt_up_self_metrics(void *ctx, struct zt_prom_counter *out, size_t cap)
{
	struct zt_up_metrics *mp = ctx, m_, *m = &m_;
	uint64_t kc[ZT_CNT__COUNT] = {0};
	size_t n = 0;

	/* the command publishes each object once it exists (__atomic stores) */
	m->sess = __atomic_load_n(&mp->sess, __ATOMIC_ACQUIRE);
	m->pipe = __atomic_load_n(&mp->pipe, __ATOMIC_ACQUIRE);
	m->sink = __atomic_load_n(&mp->sink, __ATOMIC_ACQUIRE);
	m->store = __atomic_load_n(&mp->store, __ATOMIC_ACQUIRE);
	m->http = __atomic_load_n(&mp->http, __ATOMIC_ACQUIRE);

#define C(name_, help_, v_)                                                                                  \
	do {                                                                                                 \
		if (n < cap)                                                                                 \
			out[n++] = (struct zt_prom_counter){name_, help_, (v_)};                             \
	} while (0)
	if (m->pipe) {
		struct zt_source *src = zt_pipeline_source(m->pipe);
		const struct zt_pipeline_stats *ps = zt_pipeline_stats(m->pipe);
		if (src && src->ops->counters)
			src->ops->counters(src, kc);
		C("kernel_events", "Records the kernel programs wrote to the ring buffer.",
		  kc[ZT_CNT_EVENTS]);
		C("kernel_ring_full", "Records lost in the kernel: ring buffer full.", kc[ZT_CNT_RING_FULL]);
		C("kernel_map_full", "Syscalls lost in the kernel: in-flight map full.", kc[ZT_CNT_MAP_FULL]);
		C("kernel_payload_truncated", "Payloads cut at the capture cap.", kc[ZT_CNT_PAYLOAD_TRUNC]);
		C("kernel_iov_truncated", "iovec arrays longer than the kernel reads.", kc[ZT_CNT_IOV_TRUNC]);
		C("kernel_mmsg_truncated", "mmsg batches longer than the kernel reads.",
		  kc[ZT_CNT_MMSG_TRUNC]);
		C("kernel_quiet", "Syscalls not captured: connection of no known protocol.",
		  kc[ZT_CNT_QUIET]);
		C("kernel_unix", "Syscalls on Unix-domain sockets: not traced.", kc[ZT_CNT_UNIX]);
		C("kernel_skipped", "Syscalls inside a known message body: payload not copied.",
		  kc[ZT_CNT_SKIPPED]);
		C("pipeline_events", "Records the source delivered.", LOAD(ps->events));
		C("pipeline_spans", "Spans handed to the writer queue.", LOAD(ps->spans));
		C("pipeline_queue_full", "Spans dropped: the writer queue was full.", LOAD(ps->queue_full));
		C("pipeline_sink_errors", "Sink put/flush failures.", LOAD(ps->sink_errors));
	}
	if (m->sess) {
		const struct zt_session_stats *st = zt_session_stats(m->sess);
		C("session_bad_events", "Malformed kernel records rejected.", LOAD(st->bad_events));
		C("session_conns_evicted", "Connections pushed out of a full table.",
		  LOAD(st->conns_evicted));
		C("session_unanswered", "Requests closed or timed out without a response.",
		  LOAD(st->unanswered));
		C("session_orphan_responses", "Responses with no pending request.",
		  LOAD(st->orphan_responses));
		C("session_pending_overflow", "Requests pushed out of a full pending queue.",
		  LOAD(st->pending_overflow));
		C("session_pend_pool_empty", "Requests that found the pending pool empty.",
		  LOAD(st->pend_pool_empty));
		C("session_truncated", "Messages whose head was cut.", LOAD(st->truncated));
		C("session_lost_sync", "Messages in which framing was lost.", LOAD(st->lost_sync));
		C("session_ctx_collisions", "Thread contexts overwritten in the tid table.",
		  LOAD(st->ctx_collisions));
		C("session_spans", "Spans built.", LOAD(st->spans));
	}
	if (m->sink) {
		const struct zt_joiner_stats *js = zt_store_sink_joiner_stats(m->sink);
		const struct zt_store_sink_stats *ks = zt_store_sink_stats(m->sink);
		struct zt_rollup_stats rs;
		C("joiner_window_full", "Spans released before their hold-back window ended.",
		  LOAD(js->window_full));
		C("joiner_keys_evicted_early", "Link keys dropped before their ttl.",
		  LOAD(js->keys_evicted_early));
		C("joiner_containment_refused", "Thread links refused: call outside the server span.",
		  LOAD(js->containment_refused));
		C("joiner_late_links", "Links made after the child span was stored.", LOAD(js->late_links));
		C("store_failed", "Spans not stored: the store was failing.", LOAD(ks->store_failed));
		C("store_failures", "Times writing to the store started failing.", LOAD(ks->failures));
		C("store_retention_dropped", "Old spans dropped by retention.", LOAD(ks->retention_dropped));
		C("store_retention_errors", "Retention runs that failed.", LOAD(ks->retention_errors));
		C("store_rollup_rows_dropped", "Rollup rows dropped by their retention.",
		  LOAD(ks->rollup_rows_dropped));
		memset(&rs, 0, sizeof(rs));
		if (zt_store_sink_rollup(m->sink))
			zt_rollup_get_stats(zt_store_sink_rollup(m->sink), &rs);
		C("rollup_series_overflow", "RED series updates lost: the series table was full.",
		  rs.series_overflow);
		C("rollup_prom_overflow", "RED /metrics series updates lost: the table was full.",
		  rs.prom_overflow);
		C("rollup_pending_full", "Edges resolved before their hold ended: the table was full.",
		  rs.pending_full);
		C("rollup_edges_linked", "Edges whose server end was found by a TCP-seq link.",
		  rs.edges_linked);
		C("rollup_edges_by_addr", "Edges whose server end was found by its address.",
		  rs.edges_by_addr);
		C("rollup_edges_unresolved", "Edges to a server not traced (named by address).",
		  rs.edges_unresolved);
		C("rollup_edges_server_only", "Edges from a client not traced (server side only).",
		  rs.edges_server_only);
		C("rollup_skipped", "Spans without a tap side: in no RED series.", rs.skipped);
	}
	if (m->store)
		C("store_spans_written", "Spans durably stored.", LOAD(m->store->spans_written));
	if (m->http) {
		struct zt_http_stats hs;
		zt_http_get_stats(m->http, &hs);
		C("http_requests", "HTTP requests answered by the API server.", hs.requests);
		C("http_errors_4xx", "HTTP requests answered with a 4xx.", hs.errors_4xx);
		C("http_errors_5xx", "HTTP requests answered with a 5xx.", hs.errors_5xx);
		C("http_unauthorized", "HTTP requests refused: token missing or wrong.", hs.unauthorized);
		C("http_bodies_too_big", "HTTP request bodies over the bound.", hs.bodies_too_big);
	}
#undef C
	return n;
}
