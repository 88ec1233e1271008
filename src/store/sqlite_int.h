/* SPDX-License-Identifier: MIT */
/*
 * sqlite_int.h - what the SQLite backend's two files share: the store object
 * and a few helpers. store_sqlite.c has the schema, opening, writes and the
 * span query; store_traces.c the trace queries. Not an interface: nothing
 * outside src/store/ includes this.
 */
#ifndef ZT_STORE_SQLITE_INT_H
#define ZT_STORE_SQLITE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <sqlite3.h>

#include "store/store.h"

/* A late link (put_link) or alias (put_alias) waiting for the next flush. */
struct zt_sq_link {
	char child[ZT_UID_LEN];
	char parent[ZT_UID_LEN];
	uint8_t kind; /* enum zt_link_kind, never NONE */
};

struct zt_sq_alias {
	char alias[ZT_TRACE_ID_LEN];
	char trace_id[ZT_TRACE_ID_LEN];
};

/* Result columns -> span fields, for row_to_span. */
struct zt_sq_cols {
	char sql[2048]; /* "span_uid,start_ns,..." or "s.span_uid,...", fixed text */
	int field[ZT_F__COUNT];
	int n;
};

struct zt_sqlite {
	struct zt_store base;
	sqlite3 *db; /* NULL: open failed, only errmsg is valid */
	enum zt_store_mode mode;
	sqlite3_stmt *insert, *insert_link, *insert_alias, *begin, *commit, *rollback;
	sqlite3_stmt *insert_rows; /* ZT_SQ_ROWS spans in one INSERT (store_sqlite.c) */
	struct zt_span *batch; /* owned copies, not yet flushed */
	size_t n, cap;
	struct zt_val *vals; /* sq_flush's bound values, ZT_SQ_ROWS x ZT_F__COUNT; owned */
	struct zt_sq_link *links;
	size_t nlinks, caplinks;
	struct zt_sq_alias *aliases;
	size_t naliases, capaliases;
	int version;		/* the file's schema version */
	struct zt_sq_cols cols;	/* the columns this file has, for query_spans */
	struct zt_sq_cols tcols; /* the same over "spans s LEFT JOIN span_links l", late links applied */
	char path[4096];	/* DIR/ztrace.db, for messages */
	/* store_rollup_sqlite.c: RED rollup rows waiting for the next flush */
	sqlite3_stmt *upsert_rollup;
	struct zt_rollup_row *rollups;
	size_t nrollups, caprollups;
};

int zt_sq_set_err(struct zt_sqlite *sq, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Sets the message from SQLite's and returns the negative errno for rc. */
int zt_sq_fail(struct zt_sqlite *sq, int rc, const char *what);
/* The current row of st, its columns as c says, into s. */
void zt_sq_row_to_span(const struct zt_sq_cols *c, sqlite3_stmt *st, struct zt_span *s);

/* store_traces.c */
int zt_sq_query_trace(struct zt_store *st, const char *id, zt_span_cb cb, void *ctx);
int zt_sq_query_traces(struct zt_store *st, const struct zt_trace_query *q, zt_trace_cb cb, void *ctx);

/* store_rollup_sqlite.c: the rollup table (created by a writer when
 * missing, outside the span schema's version: an older file simply has no
 * rollups yet) and its statement; written inside sq_flush's transaction. */
int zt_sq_rollup_prepare(struct zt_sqlite *sq);
int zt_sq_rollup_write(struct zt_sqlite *sq);
void zt_sq_rollup_written(struct zt_sqlite *sq); /* after the commit: the queue is empty */
void zt_sq_rollup_close(struct zt_sqlite *sq);
int zt_sq_put_rollups(struct zt_store *st, const struct zt_rollup_row *rows, size_t n);
int zt_sq_query_red(struct zt_store *st, const struct zt_red_query *q, zt_red_cb cb, void *ctx);
int zt_sq_retain_rollups(struct zt_store *st, uint32_t res_s, uint64_t min_bucket_ns, uint64_t *dropped);

#endif /* ZT_STORE_SQLITE_INT_H */
