/* SPDX-License-Identifier: MIT */
/*
 * clickhouse_int.h - what the ClickHouse backend's files share: the store
 * object, the HTTP call, SQL quoting and the RowBinary span codec.
 * store_clickhouse.c has the writes, the outage buffer, open and close;
 * store_clickhouse_admin.c the schema, retention and URL;
 * store_clickhouse_http.c the HTTP call; store_clickhouse_query.c the reads;
 * store_clickhouse_xlink.c the cross-writer links; ch_rowbinary.c the codec. Not an interface: nothing
 * outside src/store/ (and the fuzz target of the codec) includes this.
 *
 * Return convention: 0 or a negative errno, message in the store's errmsg.
 */
#ifndef ZT_STORE_CLICKHOUSE_INT_H
#define ZT_STORE_CLICKHOUSE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* A growing byte buffer (owned by whoever holds it; free(p)). */
struct zt_ch_buf {
	char *p;
	size_t len, cap;
};
int zt_ch_buf_put(struct zt_ch_buf *b, const void *data, size_t n);
int zt_ch_buf_printf(struct zt_ch_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a ClickHouse string literal ('...', every byte that is not
 * printable ASCII, and ' and \, escaped as \xHH): user text is never SQL. */
int zt_ch_buf_quote(struct zt_ch_buf *b, const char *s);

/* One span of a batch: where its RowBinary row is, and the keys the flush
 * needs (the duplicate check and the trace index). */
struct zt_ch_key {
	uint64_t start_ns;
	uint32_t off, len; /* its row in the chunk's rows */
	char uid[ZT_UID_LEN];
	char tid[ZT_TRACE_ID_LEN]; /* trace_id, or "" */
};

/* A batch of encoded spans: sealed at ZT_CH_BATCH spans, 32 MiB or its age
 * bound, then queued until a flush writes it. */
struct zt_ch_chunk {
	struct zt_ch_chunk *next;
	struct zt_ch_buf rows;
	struct zt_ch_key *keys;
	size_t n, cap;
	uint64_t born_ns; /* CLOCK_MONOTONIC of its first span */
};

struct zt_ch_link {
	char child[ZT_UID_LEN], parent[ZT_UID_LEN];
	uint8_t kind;
	uint64_t at_ns;
};

struct zt_ch_alias {
	char alias[ZT_TRACE_ID_LEN], trace_id[ZT_TRACE_ID_LEN];
	uint64_t at_ns;
};

/* A span whose other end another writer may hold (cluster mode). */
struct zt_ch_xcand {
	char uid[ZT_UID_LEN], tid[ZT_TRACE_ID_LEN];
	uint64_t start_ns;
	uint64_t due; /* 0: not looked up yet; else when to look the second time */
	uint32_t seq;
	uint16_t cport, sport;
	uint8_t side, matched;
};

/* A batch of rollup delta rows (RowBinary), identified by (writer, seq):
 * resent whole until ClickHouse took it. */
struct zt_ch_rbatch {
	struct zt_ch_rbatch *next;
	struct zt_ch_buf rows;
	uint64_t seq;
	uint32_t n;
	bool tried; /* sent once: no more rows are added to it */
};

struct zt_ch {
	struct zt_store base;
	enum zt_store_mode mode;
	void *curl;          /* CURL *, one per store: keep-alive */
	char base_url[512];  /* http://HOST:PORT/?database=DB&... */
	char where[400];     /* HOST:PORT/DB, for messages */
	char db[128];        /* the database name (checked: [A-Za-z0-9_]) */
	char cluster[128];   /* "" or the remote_servers cluster name */
	char user[128];
	char *password;      /* from password_file, or NULL */
	bool gzip;           /* compress inserts (Content-Encoding: gzip) */
	bool open;           /* the schema was checked */
	/* The tables written and read: "spans" / "spans_local" etc. */
	char t_spans[160], t_index[160], t_links[160], t_alias[160];   /* read (Distributed in a cluster) */
	char w_spans[160], w_index[160], w_links[160], w_alias[160];   /* written (local in a cluster) */
	char t_rollup[160], w_rollup[160];
	char t_uidx[160], w_uidx[160]; /* span_uids: span_uid -> start_ns */
	bool no_uidx; /* read-only on a database from before span_uids */
	/* RED rollup batches waiting for a flush (store_clickhouse_rollup.c) */
	struct zt_ch_rbatch *rb_head, *rb_tail;
	uint64_t writer_id, rb_seq;
	bool no_rollup; /* read-only on a database from before rollups */
	/* The outage buffer: sealed chunks in order, then the one filling. */
	struct zt_ch_chunk *head, *tail;
	size_t buffered_bytes, max_buffer_bytes;
	struct zt_ch_link *links;
	size_t nlinks, caplinks;
	struct zt_ch_alias *aliases;
	size_t naliases, capaliases;
	uint64_t last_at_ns; /* strictly increasing write stamp of links/aliases */
	uint64_t batch_age_ns;
	/* Outage state (see store_clickhouse.c, "ClickHouse down or slow"). */
	uint64_t retry_mono_ns, wait_ns;
	bool down;
	uint64_t down_since_ns; /* CLOCK_REALTIME when writing started failing */
	char down_msg[512];
	struct zt_ch_stats {
		uint64_t outages;        /* times writing started failing */
		uint64_t buffer_dropped; /* spans refused: the buffer was full */
		uint64_t dup_skipped;    /* spans already stored, not written again */
		uint64_t partitions_dropped;
		uint64_t inserts;        /* INSERT requests that succeeded */
		uint64_t xlinks;         /* cross-writer links made (cluster mode) */
		uint64_t xlink_skipped;  /* candidates not looked up: too many held */
		uint64_t rollup_rows;    /* rollup delta rows written */
	} stats;
	/* the status op's snapshot, published by the writer (publish_status) */
	pthread_mutex_t pub_lock;
	struct zt_store_status pub;
	struct zt_ch_xcand *xl; /* store_clickhouse_xlink.c */
	size_t nxl, capxl;
};

int zt_ch_set_err(struct zt_ch *ch, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* One HTTP request. sql_in_url: a statement passed in the URL (INSERT ...
 * FORMAT RowBinary, whose data is the body), else the body is the SQL.
 * out: the reply body (NULL: discarded). sink: when set, receives the reply
 * as it comes (returns 0 to go on, non-0 to stop: the call then returns
 * that value). 0, or a negative errno with a message naming the server. */
typedef int (*zt_ch_sink_fn)(void *ctx, const char *data, size_t n);
int zt_ch_http(struct zt_ch *ch, const char *sql_in_url, const char *body, size_t blen, bool gzip,
	       struct zt_ch_buf *out, zt_ch_sink_fn sink, void *sink_ctx);
/* A statement whose reply is ignored (DDL, ALTER). */
int zt_ch_exec(struct zt_ch *ch, const char *sql);

/* ---- RowBinary: the spans' columns, in field-table order ----------------- */

/* ClickHouse column type of span field f. */
const char *zt_ch_col_type(int f);
/* Appends span s as one RowBinary row. */
int zt_ch_encode_span(struct zt_ch_buf *b, const struct zt_span *s);
/* Decodes one row from p[0..n): bytes used, 0 when the row is incomplete,
 * -EPROTO when the bytes are no row of ours. s is fully set on success. */
long zt_ch_decode_span(const char *p, size_t n, struct zt_span *s);
/* RowBinary pieces the readers decode (same return rule). */
long zt_ch_get_u64(const char *p, size_t n, uint64_t *v);
long zt_ch_get_str(const char *p, size_t n, char *out, size_t outsz);
/* A String's bytes in place (*data points into p). */
long zt_ch_get_blob(const char *p, size_t n, const char **data, size_t *len);
/* Appends a String: varint length, then the bytes. */
int zt_ch_put_bytes(struct zt_ch_buf *b, const void *data, size_t n);

/* store_clickhouse.c: -EBADF (not open) or -EROFS (read-only), with a message. */
int zt_ch_check_writable(struct zt_ch *ch);

/* store_clickhouse_admin.c: schema, retention, URL (clickhouse:// stripped). */
int zt_ch_create_tables(struct zt_ch *ch);
int zt_ch_check_schema(struct zt_ch *ch);
uint64_t zt_ch_used_bytes(struct zt_store *st);
int zt_ch_retain(struct zt_store *st, uint64_t min_start_ns, uint64_t max_bytes, uint64_t limit, uint64_t *dropped,
		 int *more);
int zt_ch_parse_url(struct zt_ch *ch, const char *rest);

/* store_clickhouse_xlink.c: note a span put (cluster mode only), and after
 * the spans are written, look up the other ends (facts into the batches). */
void zt_ch_xlink_note(struct zt_ch *ch, const struct zt_span *s);
int zt_ch_xlink_run(struct zt_ch *ch);

/* store_clickhouse_rollup.c: the rollup table (created with the others),
 * the queued batches written by write_all after the spans, RED reads and
 * rollup retention. */
int zt_ch_rollup_create(struct zt_ch *ch);
const char *zt_ch_rollup_want(void); /* its columns, for the schema check */
int zt_ch_rollup_write(struct zt_ch *ch);
void zt_ch_rollup_free(struct zt_ch *ch);
int zt_ch_put_rollups(struct zt_store *st, const struct zt_rollup_row *rows, size_t n);
int zt_ch_query_red(struct zt_store *st, const struct zt_red_query *q, zt_red_cb cb, void *ctx);
int zt_ch_retain_rollups(struct zt_store *st, uint32_t res_s, uint64_t min_bucket_ns, uint64_t *dropped);
/* Decodes the complete RowBinary rollup rows of a RED reply in p[0..n)
 * into agg (red_agg.h); *used: their bytes. 0, -EBADMSG (not our rows),
 * or red_agg's error. For the fuzz target; query_red streams the same. */
struct zt_red_agg;
int zt_ch_red_decode(struct zt_red_agg *agg, const char *p, size_t n, size_t *used);

/* store_clickhouse_query.c */
int zt_ch_query_spans(struct zt_store *st, const struct zt_span_query *q, zt_span_cb cb, void *ctx);
int zt_ch_query_trace(struct zt_store *st, const char *id, zt_span_cb cb, void *ctx);
int zt_ch_query_traces(struct zt_store *st, const struct zt_trace_query *q, zt_trace_cb cb, void *ctx);

#endif /* ZT_STORE_CLICKHOUSE_INT_H */
