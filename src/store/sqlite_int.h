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

#include "model/span_codec.h"
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
	sqlite3_stmt *insert_link, *insert_alias, *begin, *commit, *rollback;
	uint8_t *recs; /* n spans not yet flushed, encoded (span_codec.h); owned */
	size_t n, recs_len, cap;
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
	/* sqlite_blocks.c: the span block writer (schema 5), NULL until prepared */
	struct zt_sq_bw *bw;
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

/*
 * sqlite_blocks.c: spans are stored in blocks (schema version 5): up to
 * ZT_SQ_BLOCK_SPANS spans, each in model/span_codec.h's form, one zstd frame
 * per block, with the block's start range and the hashes of its span uids;
 * trace_blocks says which blocks hold a trace's spans. sqlite_vtab.c reads
 * them back as the table `spans`, so every query is plain SQL.
 */
#define ZT_SQ_BLOCK_SPANS 512

/* A block read back: its records decompressed, and their keys. Shared by
 * reference (a cursor's rows, the block cache); the last unref frees it. */
struct zt_sq_block {
	int64_t id;
	uint32_t n, refs;
	uint8_t *raw;
	struct zt_span_keys *k; /* n, pointing into raw */
};
/* get: a prepared "SELECT n, data FROM span_blocks WHERE id = ?1" (reset
 * before returning). 0, -ENOENT (no such block), -EILSEQ (damaged), -ENOMEM. */
int zt_sq_block_load(sqlite3_stmt *get, int64_t id, struct zt_sq_block **out);
void zt_sq_block_unref(struct zt_sq_block *b);
/* A block's uids column (the uid hashes, then a hash of them): the number
 * of hashes, or -1 when it does not check (damaged). */
int zt_sq_uids_check(const void *uids, int bytes);

/* The version 5 tables (inside the caller's transaction). */
int zt_sq_blocks_create(struct zt_sqlite *sq);
/* A writer's state and statements (after the schema exists). */
int zt_sq_blocks_prepare(struct zt_sqlite *sq);
/* Writes spans (len bytes of encoded records) into new blocks inside the
 * caller's transaction, skipping
 * those already stored (store.h's duplicate rule); *inserted counts the
 * others. After a failure the caller rolls back and calls
 * zt_sq_blocks_abort. */
int zt_sq_blocks_put(struct zt_sqlite *sq, const uint8_t *recs, size_t len, uint64_t *inserted);
void zt_sq_blocks_abort(struct zt_sqlite *sq);
/* Version 1..4 -> 5: the rows of the old spans table into blocks, then the
 * table dropped (inside the caller's transaction). */
int zt_sq_blocks_migrate(struct zt_sqlite *sq);
/* Retention over blocks (inside the caller's transaction): drops up to n
 * spans that started before `before`, oldest blocks first, with their late
 * links; a block only partly dropped is rewritten. *got counts them. */
int zt_sq_blocks_drop_oldest(struct zt_sqlite *sq, uint64_t before, uint64_t n, uint64_t *got);
/* Spans stored (the blocks' counts). */
int zt_sq_blocks_count(struct zt_sqlite *sq, uint64_t *n);
void zt_sq_blocks_close(struct zt_sqlite *sq);

/* sqlite_vtab.c: the `spans` table over the blocks, in the connection's
 * temp schema (unqualified `spans` finds it). */
int zt_sq_vtab_register(struct zt_sqlite *sq);

#endif /* ZT_STORE_SQLITE_INT_H */
