/* SPDX-License-Identifier: MIT */
/*
 * rollup.h - RED metrics (rate, errors, duration) of the spans the joiner
 * releases, per 10 s and per 1 min time bucket, for three kinds of series:
 *
 *   service   server-side spans (tap server-process/-nic) by the serving
 *             process: what a service answers
 *   endpoint  the same per (service, protocol, endpoint)
 *   edge      one per exchange between a client service and a server
 *             service, per protocol, measured where the call was made
 *             (the client span: the latency the caller sees)
 *
 * A service is the span's process name (a configured label later); a span
 * without one (packet capture) is named by its address: "ip:port" for a
 * server, "ip" for a client. Series are kept per host and pid too, so the
 * store can drill down to a host or one process and merge them back up.
 *
 * Edges: the server end of a client span is found in this order:
 *   1. linked: the joiner linked a server-process span to it by TCP
 *      sequence numbers (the server span's parent_uid, at release or by a
 *      late link). This is exact: the same bytes were seen at both ends,
 *      through NAT too, and it names the server's process and host.
 *   2. address: the server address the client called (ip:port) was seen
 *      on a server span before (a bounded map, latest wins). Used when the
 *      server side is traced but this exchange was not linked (its server
 *      span was lost, or came after the hold).
 *   3. unresolved: the server is not traced (a remote database): the peer
 *      is named "ip:port".
 * A client span waits `edge_hold_ns` for its server span (1); then 2 or 3.
 * A server span whose client was never seen (an untraced client, e.g.
 * another host) makes an edge from the client's ip after the same hold,
 * measured at the server.
 *
 * Every edge and every series value is counted once per exchange: a server
 * span linked to a client span adds nothing to the edge.
 *
 * Memory is bounded and allocated in zt_rollup_new: max_series delta
 * series between two drains (a span whose series does not fit is counted
 * in series_overflow), max_prom_series cumulative series for /metrics
 * (prom_overflow), max_pending edges waiting (a full table resolves its
 * oldest early: pending_full).
 *
 * Thread safety: every function takes the rollup's mutex; the writer
 * thread feeds it while an HTTP thread reads the cumulative series.
 * Return convention: 0 or a negative errno.
 */
#ifndef ZT_TRACE_ROLLUP_H
#define ZT_TRACE_ROLLUP_H

#include <stddef.h>
#include <stdint.h>

#include "model/span.h"
#include "trace/hist.h"

#define ZT_SERVICE_LEN 64 /* a process name, or "ip:port" (IPv6 fits) */

enum zt_rollup_kind {
	ZT_RK_SERVICE = 0,
	ZT_RK_ENDPOINT = 1,
	ZT_RK_EDGE = 2,
	ZT_RK__COUNT,
};
const char *zt_rollup_kind_name(unsigned k); /* "service", "endpoint", "edge" */

/* Error classes (response_status). */
enum { ZT_RERR_CLIENT = 0, ZT_RERR_SERVER = 1, ZT_RERR_TIMEOUT = 2, ZT_RERR__COUNT };

/* The two time resolutions, in seconds. */
#define ZT_ROLLUP_RES_FINE 10
#define ZT_ROLLUP_RES_COARSE 60

/* A series: its time bucket and identity. Unused text fields are "". */
struct zt_rollup_key {
	uint64_t bucket_ns; /* start of the bucket, a multiple of res_s (epoch ns) */
	uint32_t res_s;	    /* ZT_ROLLUP_RES_FINE or _COARSE */
	uint8_t kind;	    /* enum zt_rollup_kind */
	uint8_t l7;	    /* enum zt_l7 */
	uint32_t pid;	    /* the service's process (edge: the client's), 0 unknown */
	uint32_t peer_pid;  /* edge: the server's process, 0 unknown */
	char host[ZT_HOSTNAME_LEN];
	char service[ZT_SERVICE_LEN]; /* edge: the client service */
	char endpoint[ZT_ENDPOINT_LEN];
	char peer[ZT_SERVICE_LEN];	 /* edge: the server service */
	char peer_host[ZT_HOSTNAME_LEN]; /* edge: the server's host, "" unknown */
};

struct zt_rollup_val {
	uint64_t requests;
	uint64_t errors[ZT_RERR__COUNT];
	uint64_t sum_ns; /* of durations */
	struct zt_hist hist;
};

struct zt_rollup_row {
	struct zt_rollup_key k;
	struct zt_rollup_val v;
};

/* Adds one exchange (a duration and a status) to v. */
void zt_rollup_val_add(struct zt_rollup_val *v, uint64_t duration_ns, uint8_t resp_status);
void zt_rollup_val_merge(struct zt_rollup_val *dst, const struct zt_rollup_val *src);

/* Prometheus' histogram buckets (seconds); counted exactly per value. */
#define ZT_PROM_LE_N 16
extern const double zt_prom_le[ZT_PROM_LE_N];

/* A cumulative series for /metrics: since the rollup started, no time
 * bucket, no host or pid (one process serves one host's metrics). */
struct zt_prom_series {
	uint8_t kind, l7;
	char service[ZT_SERVICE_LEN];
	char endpoint[ZT_ENDPOINT_LEN];
	char peer[ZT_SERVICE_LEN];
	uint64_t requests, errors[ZT_RERR__COUNT], sum_ns;
	uint64_t le[ZT_PROM_LE_N]; /* values <= zt_prom_le[i] (not cumulative across i) */
};

struct zt_rollup_cfg {
	uint32_t max_series;	  /* delta series between drains (0: 2048) */
	uint32_t max_prom_series; /* cumulative series (0: 2048) */
	uint32_t max_pending;	  /* edges waiting for their other end (0: 16384) */
	uint32_t max_addrs;	  /* server addresses remembered (0: 4096) */
	uint64_t edge_hold_ns;	  /* how long a client span waits for its server span (0: 2 s) */
};

struct zt_rollup_stats {
	uint64_t spans;		    /* seen */
	uint64_t skipped;	    /* no tap side: neither client nor server */
	uint64_t series_overflow;   /* series updates lost: max_series */
	uint64_t prom_overflow;	    /* /metrics updates lost: max_prom_series */
	uint64_t pending_full;	    /* edges resolved before their hold ended */
	uint64_t edges_linked;	    /* edges by TCP-seq link */
	uint64_t edges_by_addr;	    /* by the server address map */
	uint64_t edges_unresolved;  /* server not traced: peer named by address */
	uint64_t edges_server_only; /* a server span whose client was not traced */
	uint64_t rows_drained;	    /* delta rows handed to the store */
};

struct zt_rollup;

struct zt_rollup *zt_rollup_new(const struct zt_rollup_cfg *cfg);
/* A span the joiner released (borrowed for the call). */
void zt_rollup_span(struct zt_rollup *r, const struct zt_span *s);
/* A late link the joiner found after it released the child. */
void zt_rollup_link(struct zt_rollup *r, const char *child_uid, const char *parent_uid, uint8_t link_kind);
/* Stream time moves on (epoch ns): edges whose hold ended are resolved. */
void zt_rollup_tick(struct zt_rollup *r, uint64_t now_ns);
/* The stream ended: every waiting edge is resolved now. */
void zt_rollup_end(struct zt_rollup *r);
/* Hands the delta rows gathered since the last drain to put (rows
 * borrowed for the call); they are cleared only if put returns 0, else
 * kept (and still added to) for the next drain. */
int zt_rollup_drain(struct zt_rollup *r, int (*put)(void *ctx, const struct zt_rollup_row *rows, size_t n),
		    void *ctx);
/* Calls cb for each cumulative series (under the mutex: cb must not call
 * back into r); stops when cb returns non-0 and returns that. */
int zt_rollup_prom_each(struct zt_rollup *r, int (*cb)(void *ctx, const struct zt_prom_series *s), void *ctx);
/* A copy of the counters. */
void zt_rollup_get_stats(struct zt_rollup *r, struct zt_rollup_stats *out);
void zt_rollup_free(struct zt_rollup *r);

#endif /* ZT_TRACE_ROLLUP_H */
