/* SPDX-License-Identifier: MIT */
/*
 * store.h - the storage interface. SQLite is the embedded backend; a second
 * backend (ClickHouse) implements the same vtable later. Commands open a
 * store by URL through zt_store_open(), never a backend directly.
 *
 * Duplicate rule (every backend): a span is identified by (start_ns,
 * span_uid). Putting a span whose identity is already stored is not an
 * error and changes nothing: the first copy stays, spans_written does not
 * count it. A batch resent after a failure therefore never doubles spans.
 *
 * Return convention: 0 on success, negative errno on failure; on failure a
 * message is available from zt_store_errmsg().
 */
#ifndef ZT_STORE_H
#define ZT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "model/span.h"
#include "trace/rollup.h"

struct zt_store;

/* Filter for queries; zero values and NULL mean "any", and every filter
 * given must hold. Text is always bound, never part of the SQL text; the
 * substring and prefix filters take it literally (no wildcards: % and _
 * are plain characters). A span whose field is null matches no filter on
 * that field. */
struct zt_span_query {
	uint64_t since_ns;        /* start_ns >= since_ns (unix epoch ns) */
	const char *protocol;     /* l7 protocol name, case-insensitive */
	const char *process;      /* process name starts with this, ASCII case-insensitive */
	const char *status;       /* response_status is this name ("ok", "client_error",
				   * "server_error", "timeout", "unknown"), case-insensitive */
	int errors_only;          /* response_status is client_error, server_error or timeout */
	uint64_t min_duration_ns; /* duration_ns >= min_duration_ns */
	const char *path;         /* substring of request_resource, case-sensitive */
	const char *endpoint;     /* substring of endpoint, case-sensitive */
	uint32_t pid;             /* this pid */
	uint16_t port;            /* client_port or server_port is this port */
	uint8_t tap_side;         /* enum zt_tap_side; ZT_TAP_UNKNOWN: any */
	unsigned limit;           /* most recent N spans, 0: all */
};

typedef int (*zt_span_cb)(void *ctx, const struct zt_span *s);

/* Filter of trace summaries; zero values mean "any". */
struct zt_trace_query {
	uint64_t since_ns;        /* the trace started at or after (epoch ns) */
	const char *service;      /* root span's process, case-insensitive prefix */
	const char *endpoint;     /* root span's endpoint, substring */
	int errors_only;          /* at least one span with an error status */
	uint64_t min_duration_ns; /* trace duration at least */
	int sort_by_duration;     /* 0: most recent first; 1: longest first */
	unsigned limit;           /* N traces, 0: all */
};

/* One trace in a list: its root is the span without parent_uid that
 * started first (a trace cut by a lost link may have several). */
struct zt_trace_summary {
	char trace_id[ZT_TRACE_ID_LEN];
	char root_uid[ZT_UID_LEN];
	char root_process[ZT_PROCESS_LEN];
	char root_endpoint[ZT_ENDPOINT_LEN];
	uint64_t start_ns, duration_ns; /* first start to last end of all spans */
	uint32_t spans, errors;         /* errors: client_error, server_error, timeout */
};

typedef int (*zt_trace_cb)(void *ctx, const struct zt_trace_summary *t);

/* RED rollups (trace/rollup.h) over a time range. Text filters are exact
 * (NULL: any). Rows of the range are merged (counts added, histograms
 * merged exactly) per group and per step. */
enum zt_red_by {
	ZT_RED_BY_SERVICE = 0, /* hosts and processes merged: host "", pid 0 */
	ZT_RED_BY_HOST = 1,    /* one group per host (pid 0) */
	ZT_RED_BY_PROCESS = 2, /* one group per host and pid */
};
struct zt_red_query {
	uint8_t kind;         /* enum zt_rollup_kind */
	uint64_t since_ns;    /* buckets starting at or after (epoch ns); 0: all */
	uint64_t until_ns;    /* ... and before; 0: no bound */
	uint64_t step_ns;     /* one point per step (a multiple of the resolution, rounded up); 0: one for the range */
	uint32_t res_s;       /* ZT_ROLLUP_RES_FINE or _COARSE; 0: fine unless step is a multiple of 60 s */
	const char *service;  /* (edge: the client) */
	const char *endpoint;
	const char *peer;     /* edge: the server */
	const char *protocol; /* l7 name, case-insensitive */
	const char *host;     /* drill-down: only this host (edge: the client's) */
	uint32_t pid;         /* drill-down: only this process, 0: any */
	uint8_t by;           /* enum zt_red_by */
};
/* A merged row: k.bucket_ns is the point's start (the first bucket of the
 * step), k.res_s the resolution read. Borrowed for the call. */
typedef int (*zt_red_cb)(void *ctx, const struct zt_rollup_row *row);

/* A backend's write state (store.h status op): what an outage buffer
 * holds and why. Counters are since the store was opened. */
struct zt_store_status {
	uint64_t buffered_spans;   /* accepted, waiting for the backend */
	uint64_t buffered_bytes;   /* memory they (and queued rollups) take */
	uint64_t buffer_bound;     /* bytes; past it new spans are refused */
	uint64_t buffer_dropped;   /* spans refused because the buffer was full */
	uint64_t failing_since_ns; /* epoch ns when writes started failing, 0: writing */
	uint64_t outages;          /* times writes started failing */
	char last_error[512];      /* the failure that started the current (or last) outage, or "" */
};

struct zt_store_ops {
	const char *name;
	/* Queue spans; they are durable after the next flush. */
	int (*put_spans)(struct zt_store *st, const struct zt_span *spans, size_t n);
	/* The same for spans already encoded (model/span_codec.h): n records
	 * in len bytes. Optional: a backend without it is given structs. */
	int (*put_recs)(struct zt_store *st, const uint8_t *recs, size_t len, size_t n);
	int (*flush)(struct zt_store *st);
	/* Calls cb for each span, in start_ns order; stops if cb returns non-0. */
	int (*query_spans)(struct zt_store *st, const struct zt_span_query *q, zt_span_cb cb, void *ctx);
	/* Trace assembly's late facts (trace/joiner.h), batched like spans and
	 * durable after the next flush (written in the same transaction as the
	 * spans; a failed flush keeps them for the next). Storing one twice
	 * changes nothing, and the first fact about a child or an alias stays:
	 * a later, different one is ignored.
	 * put_link: a parent found after the child span was stored; uids of 1
	 * to 16 characters, child != parent, link_kind not ZT_LINK_NONE
	 * (-EINVAL with a message otherwise).
	 * put_alias: two partial traces merged after both had spans stored;
	 * `alias` now names `trace_id` (ids of 1 to 32 characters, distinct).
	 * Chains are allowed: a -> b, then b -> c makes a and b names of c. */
	int (*put_link)(struct zt_store *st, const char *child_uid, const char *parent_uid, uint8_t link_kind);
	int (*put_alias)(struct zt_store *st, const char *alias, const char *trace_id);
	/* Every span of one trace, in start_ns order, late links applied
	 * (parent_uid, link_kind) and trace_id given as the trace's id: its
	 * final id, at the end of its alias chain. id: a trace_id, any alias
	 * of it, or the span_uid of any of its spans (a trace id is tried
	 * first). A span stored without trace_id (files before trace assembly)
	 * is a trace of its own, named by its span_uid; its trace_id stays
	 * null. -ENOENT when nothing matches, -EINVAL for an id that is no id,
	 * -ELOOP for an alias chain too long to follow. cb: as query_spans. */
	int (*query_trace)(struct zt_store *st, const char *id, zt_span_cb cb, void *ctx);
	/* Trace summaries, filtered and sorted as q says (equal keys: the more
	 * recent first, then by trace_id);
	 * a trace and its aliases are one summary under the final id, and a
	 * span without trace_id is a trace of its own. With since_ns, a trace
	 * counts only if it started at or after it, and is then complete. */
	int (*query_traces)(struct zt_store *st, const struct zt_trace_query *q, zt_trace_cb cb, void *ctx);
	/* Retention: drops up to `limit` of the oldest spans (and their late
	 * links) that started before min_start_ns (0: no age bound), or while
	 * the stored data takes more than max_bytes (0: no size bound; it then
	 * drops down to 90% of it). *dropped counts them; *more is set when
	 * the limit stopped it before the bounds were met (call again soon).
	 * Optional. */
	int (*retain)(struct zt_store *st, uint64_t min_start_ns, uint64_t max_bytes, uint64_t limit,
		      uint64_t *dropped, int *more);
	/* RED rollups, optional (NULL: the backend keeps none).
	 * put_rollups: delta rows (trace/rollup.h), added to what is stored
	 * for the same series and bucket (histograms merged); queued like
	 * spans and written in the same flush transaction.
	 * query_red: merged rows, by group then time; -E2BIG when the answer
	 * would exceed ZT_RED_MAX_ROWS (narrow the range or raise the step).
	 * retain_rollups: drops rows of resolution res_s whose bucket started
	 * before min_bucket_ns; *dropped counts them. */
	int (*put_rollups)(struct zt_store *st, const struct zt_rollup_row *rows, size_t n);
	int (*query_red)(struct zt_store *st, const struct zt_red_query *q, zt_red_cb cb, void *ctx);
	int (*retain_rollups)(struct zt_store *st, uint32_t res_s, uint64_t min_bucket_ns, uint64_t *dropped);
	/* The write state, optional (NULL: nothing buffered beyond
	 * spans_pending). Safe to call from another thread than the one
	 * writing (a snapshot taken under the backend's own lock). */
	int (*status)(struct zt_store *st, struct zt_store_status *out);
	/* Bytes the stored data takes (pages in use), or 0 if unknown. */
	uint64_t (*used_bytes)(struct zt_store *st);
	void (*close)(struct zt_store *st);
};

struct zt_store {
	const struct zt_store_ops *ops;
	char errmsg[768];
	char notice[512]; /* what opening changed that the user should know (permissions fixed), or "" */
	uint64_t spans_written; /* durable spans since open */
	uint64_t spans_pending; /* accepted, not yet durable (the next flush writes them) */
};

enum zt_store_mode { ZT_STORE_RW, ZT_STORE_RO };

#define ZT_RED_MAX_ROWS 20000

/* The store factory. url: "sqlite:DIR" or a plain DIR (the embedded
 * store, DIR/ztrace.db, created when RW). An unknown scheme ("scheme:" or
 * "scheme://") fails with -EPROTONOSUPPORT and a message. On failure *out
 * may hold a store carrying the message (zt_store_errmsg, then close). */
int zt_store_open(const char *url, enum zt_store_mode mode, struct zt_store **out);

/* Backends (the factory's; commands use zt_store_open). */
int zt_store_open_sqlite(const char *dir, enum zt_store_mode mode, struct zt_store **out);
/* url: clickhouse://HOST:PORT/DB[?user=U&password_file=F&cluster=NAME
 * &compress=0|1|auto&buffer_mb=N] (store_clickhouse.c). */
int zt_store_open_clickhouse(const char *url, enum zt_store_mode mode, struct zt_store **out);

static inline const char *zt_store_errmsg(const struct zt_store *st) { return st->errmsg; }

#endif /* ZT_STORE_H */
