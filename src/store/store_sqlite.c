/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite.c - the embedded store: one SQLite file, DIR/ztrace.db, in WAL
 * mode so that `ztrace spans` and the API read while `ztrace up` writes.
 *
 * Rows hold one column per span field, named as the span JSON keys. Values
 * that span.h calls null are SQL NULL, so SQL and JSON agree on "unknown".
 * Enums are stored as their names (tap_side, l7_protocol, response_status,
 * l4_protocol) so the file is readable without this code.
 *
 * Failed open: *out still receives a store holding the message (readable with
 * zt_store_errmsg(), released with ops->close()), unless memory ran out, in
 * which case *out is NULL. Every op of such a store returns -EBADF.
 *
 * Writes: put_spans copies into a batch; flush writes the batch in one
 * transaction through one reused INSERT OR IGNORE statement. A failed flush
 * keeps the batch for the next flush; put_spans then returns the error and
 * does not queue the rest of its spans.
 *
 * Queries see flushed spans only.
 *
 * Threads: a store object is used by one thread at a time (open one per
 * thread); separate objects, in one process or many, share the file safely.
 */
#include "store/store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <sqlite3.h>

/*
 * Schema versions: 1 had span_uid TEXT PRIMARY KEY and a separate start_ns
 * index; 2 makes (start_ns, span_uid) the one unique key and indexes
 * syscall_trace_id_resp only where it differs from syscall_trace_id_req;
 * 3 adds the attributes column; 4 the trace assembly's parent_uid and
 * link_kind. Readers take any of them (a column a
 * version lacks reads as null); a writer converts 1 and 2 into 3 when it
 * opens the file (see migrate).
 *
 * The columns are the span record's fields (model/span.h), one each, named
 * and ordered as the field table; their SQL types follow the field kinds.
 */
#define ZT_SCHEMA_VERSION 4
#define ZT_BATCH_MAX 4096
#define ZT_BATCH_MIN 256
#define ZT_BUSY_TIMEOUT_MS 5000
#define ZT_XSTR(x) #x
#define ZT_STR(x) ZT_XSTR(x)

/* The schema version that brought a column. */
static int col_since(int f)
{
	switch (f) {
	case ZT_F_attributes:
		return 3;
	case ZT_F_parent_uid:
	case ZT_F_link_kind:
		return 4;
	default:
		return 1;
	}
}

static const char *col_type(int f)
{
	const struct zt_field *d = &zt_span_fields[f];
	bool text = d->kind == ZT_FK_STR || d->kind == ZT_FK_IP || d->kind == ZT_FK_TAP || d->kind == ZT_FK_L7 ||
		    d->kind == ZT_FK_L4 || d->kind == ZT_FK_RSTATUS || d->kind == ZT_FK_ATTRS || d->kind == ZT_FK_LINK;

	if (d->flags & ZT_FF_NOTNULL)
		return text ? "TEXT NOT NULL" : "INTEGER NOT NULL";
	return text ? "TEXT" : "INTEGER";
}

/*
 * Every index costs about as much per insert as the row itself, so there are
 * as few as the lookups need:
 *  - spans_start_uid is the time index and the duplicate check at once
 *    (INSERT OR IGNORE). Its keys grow with time, so inserts touch its right
 *    edge only; a unique index on span_uid alone (a hash) made every insert
 *    dirty a random page and cost ~30% of the insert rate. A span stored
 *    twice has the same start_ns and uid (the uid hashes start_ns), so
 *    duplicates are still caught. Its order is the queries' ORDER BY.
 *  - Lookup keys are mostly absent (no trace headers, no seq on UDP): partial
 *    indexes skip the NULLs. An equality on the column implies IS NOT NULL,
 *    so lookups still use them.
 *  - syscall_trace_id_resp is almost always equal to syscall_trace_id_req
 *    (one thread reads the request and writes the response), so it is
 *    indexed only where it differs. A lookup of context X is therefore
 *      syscall_trace_id_req = X OR (syscall_trace_id_resp = X AND
 *      syscall_trace_id_resp IS NOT syscall_trace_id_req)
 *    where the second term, copied from the index, lets SQLite use it.
 */
static const char schema_indexes[] =
    "CREATE UNIQUE INDEX IF NOT EXISTS spans_start_uid ON spans(start_ns, span_uid);"
    "CREATE INDEX IF NOT EXISTS spans_trace_id ON spans(trace_id) WHERE trace_id IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS spans_tcp_seq ON spans(req_tcp_seq, resp_tcp_seq)"
    " WHERE req_tcp_seq IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS spans_xrid ON spans(x_request_id) WHERE x_request_id IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS spans_strace_req ON spans(syscall_trace_id_req)"
    " WHERE syscall_trace_id_req IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS spans_strace_resp ON spans(syscall_trace_id_resp)"
    " WHERE syscall_trace_id_resp IS NOT NULL AND syscall_trace_id_resp IS NOT syscall_trace_id_req;";

struct zt_sqlite {
	struct zt_store base;
	sqlite3 *db; /* NULL: open failed, only errmsg is valid */
	enum zt_store_mode mode;
	sqlite3_stmt *insert, *begin, *commit, *rollback;
	struct zt_span *batch; /* owned copies, not yet flushed */
	size_t n, cap;
	int version;		/* the file's schema version */
	char select_cols[1024]; /* the columns this file has: "span_uid,start_ns,..." */
	int sel_field[ZT_F__COUNT]; /* result column -> span field */
	int nsel;
};

static const struct zt_store_ops sqlite_ops;

static struct zt_sqlite *to_sq(struct zt_store *st)
{
	return (struct zt_sqlite *)st;
}

static int set_err(struct zt_sqlite *sq, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int set_err(struct zt_sqlite *sq, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sq->base.errmsg, sizeof(sq->base.errmsg), fmt, ap);
	va_end(ap);
	return err;
}

/* SQLite result code -> negative errno, for the return convention. */
static int sql_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
		return -EILSEQ;
	default:
		return -EIO;
	}
}

static int sql_fail(struct zt_sqlite *sq, int rc, const char *what)
{
	return set_err(sq, sql_errno(rc), "sqlite: %s: %s", what,
		       sq->db ? sqlite3_errmsg(sq->db) : sqlite3_errstr(rc));
}

static int exec(struct zt_sqlite *sq, const char *sql)
{
	int rc = sqlite3_exec(sq->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : sql_fail(sq, rc, sql);
}

static int mkdir_p(const char *dir)
{
	char path[PATH_MAX];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, len + 1);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* ---- span <-> row ------------------------------------------------------ */

/*
 * Every field goes through zt_span_get/zt_span_set (model/span.h): SQL and
 * JSON agree on null by construction. u64 values go through int64 unchanged
 * bit for bit; timestamps and byte counts stay below 2^63, so ordering and
 * comparisons in SQL hold for them.
 */
static int bind_span(sqlite3_stmt *st, const struct zt_span *s)
{
	struct zt_val v;
	int rc = 0;

	for (int f = 0; f < ZT_F__COUNT; f++) {
		zt_span_get(s, (enum zt_span_field)f, &v);
		if (v.type == ZT_VAL_NULL)
			rc |= sqlite3_bind_null(st, f + 1);
		else if (v.type == ZT_VAL_INT)
			rc |= sqlite3_bind_int64(st, f + 1, (int64_t)v.u);
		else if (v.s == v.buf) /* formatted into v: copy */
			rc |= sqlite3_bind_text(st, f + 1, v.s, -1, SQLITE_TRANSIENT);
		else /* the span's own bytes or a static name: the batch outlives the step */
			rc |= sqlite3_bind_text(st, f + 1, v.s, -1, SQLITE_STATIC);
	}
	/* SQLITE_OK is 0: any failure leaves a bit set. */
	return rc;
}

static void row_to_span(struct zt_sqlite *sq, sqlite3_stmt *st, struct zt_span *s)
{
	struct zt_val v;

	memset(s, 0, sizeof(*s));
	s->response_code = -1;
	for (int i = 0; i < sq->nsel; i++) {
		v.is_signed = 0;
		switch (sqlite3_column_type(st, i)) {
		case SQLITE_NULL:
			v.type = ZT_VAL_NULL;
			break;
		case SQLITE_INTEGER:
			v.type = ZT_VAL_INT;
			v.u = (uint64_t)sqlite3_column_int64(st, i);
			break;
		default:
			v.type = ZT_VAL_TEXT;
			v.s = (const char *)sqlite3_column_text(st, i);
			break;
		}
		/* A value that does not fit its field (a file edited by hand)
		 * reads as null, as the null convention says. */
		(void)zt_span_set(s, (enum zt_span_field)sq->sel_field[i], &v);
	}
}

/* ---- ops --------------------------------------------------------------- */

static int sq_flush(struct zt_store *st)
{
	struct zt_sqlite *sq = to_sq(st);
	uint64_t inserted = 0;
	int rc, err;

	if (!sq->db)
		return set_err(sq, -EBADF, "store is not open");
	if (sq->n == 0)
		return 0;
	rc = sqlite3_step(sq->begin);
	sqlite3_reset(sq->begin);
	if (rc != SQLITE_DONE)
		return sql_fail(sq, rc, "begin");
	for (size_t i = 0; i < sq->n; i++) {
		rc = bind_span(sq->insert, &sq->batch[i]);
		if (rc != SQLITE_OK) {
			err = sql_fail(sq, rc, "bind span");
			goto rollback;
		}
		rc = sqlite3_step(sq->insert);
		sqlite3_reset(sq->insert);
		if (rc != SQLITE_DONE) {
			err = sql_fail(sq, rc, "insert span");
			goto rollback;
		}
		/* 0 when the span_uid was already stored: not a new row. */
		inserted += (uint64_t)sqlite3_changes(sq->db);
	}
	sqlite3_clear_bindings(sq->insert);
	rc = sqlite3_step(sq->commit);
	sqlite3_reset(sq->commit);
	if (rc != SQLITE_DONE) {
		err = sql_fail(sq, rc, "commit");
		goto rollback;
	}
	sq->n = 0;
	sq->base.spans_written += inserted;
	return 0;

rollback:
	sqlite3_clear_bindings(sq->insert);
	/* Keep the batch: the next flush retries it. */
	if (!sqlite3_get_autocommit(sq->db)) {
		sqlite3_step(sq->rollback);
		sqlite3_reset(sq->rollback);
	}
	return err;
}

static int sq_put_spans(struct zt_store *st, const struct zt_span *spans, size_t n)
{
	struct zt_sqlite *sq = to_sq(st);

	if (!sq->db)
		return set_err(sq, -EBADF, "store is not open");
	if (sq->mode != ZT_STORE_RW)
		return set_err(sq, -EROFS, "store is open read-only");
	while (n > 0) {
		size_t k;

		if (sq->n == ZT_BATCH_MAX) {
			int err = sq_flush(st);
			if (err)
				return err;
		}
		if (sq->n == sq->cap) {
			/* cap doubles up to ZT_BATCH_MAX: no overflow possible. */
			size_t ncap = sq->cap ? sq->cap * 2 : ZT_BATCH_MIN;
			struct zt_span *nb = realloc(sq->batch, ncap * sizeof(*nb));

			if (!nb)
				return set_err(sq, -ENOMEM, "out of memory for the span batch");
			sq->batch = nb;
			sq->cap = ncap;
		}
		k = sq->cap - sq->n < n ? sq->cap - sq->n : n;
		memcpy(&sq->batch[sq->n], spans, k * sizeof(*spans));
		sq->n += k;
		spans += k;
		n -= k;
	}
	if (sq->n == ZT_BATCH_MAX)
		return sq_flush(st);
	return 0;
}

/*
 * Only fixed SQL text is assembled here; every value is a bound parameter.
 * A positive cb return stops the walk and is success; a negative one stops it
 * and is returned.
 */
static int sq_query_spans(struct zt_store *st, const struct zt_span_query *q, zt_span_cb cb, void *ctx)
{
	struct zt_sqlite *sq = to_sq(st);
	sqlite3_stmt *stmt = NULL;
	struct zt_span *span = NULL;
	char where[256] = "1";
	char sql[2048];
	int idx = 1, rc, ret = 0;
	size_t wl;

	if (!sq->db)
		return set_err(sq, -EBADF, "store is not open");
	/* Fixed fragments, far below sizeof(where): no truncation to check. */
	if (q->since_ns) {
		wl = strlen(where);
		snprintf(where + wl, sizeof(where) - wl, " AND start_ns >= ?");
	}
	if (q->protocol) {
		wl = strlen(where);
		snprintf(where + wl, sizeof(where) - wl, " AND l7_protocol = ? COLLATE NOCASE");
	}
	if (q->process) {
		wl = strlen(where);
		snprintf(where + wl, sizeof(where) - wl, " AND process = ?");
	}
	if (q->limit)
		snprintf(sql, sizeof(sql),
			 "SELECT * FROM (SELECT %s FROM spans WHERE %s ORDER BY start_ns DESC, span_uid DESC"
			 " LIMIT ?) ORDER BY start_ns, span_uid",
			 sq->select_cols, where);
	else
		snprintf(sql, sizeof(sql), "SELECT %s FROM spans WHERE %s ORDER BY start_ns, span_uid",
			 sq->select_cols, where);

	rc = sqlite3_prepare_v2(sq->db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK) {
		ret = sql_fail(sq, rc, "prepare query");
		goto cleanup;
	}
	if (q->since_ns)
		sqlite3_bind_int64(stmt, idx++, q->since_ns > INT64_MAX ? INT64_MAX : (int64_t)q->since_ns);
	if (q->protocol)
		sqlite3_bind_text(stmt, idx++, q->protocol, -1, SQLITE_STATIC);
	if (q->process)
		sqlite3_bind_text(stmt, idx++, q->process, -1, SQLITE_STATIC);
	if (q->limit)
		sqlite3_bind_int64(stmt, idx++, q->limit);

	/* A zt_span is a few KiB: keep it off the caller's stack. */
	span = malloc(sizeof(*span));
	if (!span) {
		ret = set_err(sq, -ENOMEM, "out of memory");
		goto cleanup;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		int r;

		row_to_span(sq, stmt, span);
		r = cb(ctx, span);
		if (r) {
			ret = r < 0 ? r : 0;
			goto cleanup;
		}
	}
	if (rc != SQLITE_DONE)
		ret = sql_fail(sq, rc, "query");

cleanup:
	free(span);
	sqlite3_finalize(stmt);
	return ret;
}

static void sq_close(struct zt_store *st)
{
	struct zt_sqlite *sq = to_sq(st);

	if (!st)
		return;
	if (sq->db && sq->mode == ZT_STORE_RW)
		sq_flush(st);
	sqlite3_finalize(sq->insert);
	sqlite3_finalize(sq->begin);
	sqlite3_finalize(sq->commit);
	sqlite3_finalize(sq->rollback);
	/* close_v2: the db is released even if a statement were left over. */
	sqlite3_close_v2(sq->db);
	free(sq->batch);
	free(sq);
}

static const struct zt_store_ops sqlite_ops = {
    .name = "sqlite",
    .put_spans = sq_put_spans,
    .flush = sq_flush,
    .query_spans = sq_query_spans,
    .close = sq_close,
};

/* ---- open -------------------------------------------------------------- */

/*
 * SQLite's memory statistics take a global mutex around every allocation
 * (~10% of the insert time); nothing here reads them. sqlite3_config() works
 * only before SQLite initialises and is not thread-safe, hence a constructor:
 * it runs before main(), while no thread exists. Should anything initialise
 * SQLite earlier, the call fails harmlessly and statistics stay on.
 */
__attribute__((constructor)) static void sq_global_config(void)
{
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static int pragma_int(struct zt_sqlite *sq, const char *sql, int64_t *out)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(sq->db, sql, -1, &stmt, NULL);

	if (rc == SQLITE_OK) {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW) {
			*out = sqlite3_column_int64(stmt, 0);
			rc = SQLITE_OK;
		}
	}
	if (rc != SQLITE_OK)
		rc = sql_fail(sq, rc, sql);
	sqlite3_finalize(stmt);
	return rc;
}

/* Sets select_cols and sel_field to the columns a file of `version` has. */
static void set_columns(struct zt_sqlite *sq, int version)
{
	size_t len = 0;

	sq->version = version;
	sq->nsel = 0;
	for (int f = 0; f < ZT_F__COUNT; f++) {
		if (col_since(f) > version)
			continue;
		len += (size_t)snprintf(sq->select_cols + len, sizeof(sq->select_cols) - len, "%s%s",
					sq->nsel ? "," : "", zt_span_fields[f].name);
		sq->sel_field[sq->nsel++] = f;
	}
}
_Static_assert(ZT_F__COUNT * 24 < 1024, "column names fit select_cols");

/*
 * Version 1..3 -> current, inside the caller's transaction. 1: the table is
 * rebuilt (its PRIMARY KEY cannot be dropped in place), rows keep their
 * order, the v1 indexes go with the old table. 2, 3: the new columns are
 * added.
 */
static int migrate(struct zt_sqlite *sq, int64_t from, const char *create_table)
{
	char sql[2048];
	int err;

	if (from >= 2) {
		for (int f = 0; f < ZT_F__COUNT; f++) {
			if (col_since(f) <= from)
				continue;
			snprintf(sql, sizeof(sql), "ALTER TABLE spans ADD COLUMN %s %s", zt_span_fields[f].name,
				 col_type(f));
			if ((err = exec(sq, sql)))
				return err;
		}
		return 0;
	}
	set_columns(sq, (int)from);
	if ((size_t)snprintf(sql, sizeof(sql), "INSERT OR IGNORE INTO spans (%s) SELECT %s FROM spans_v1 ORDER BY rowid",
			     sq->select_cols, sq->select_cols) >= sizeof(sql))
		return set_err(sq, -EOVERFLOW, "migration text too long");
	err = exec(sq, "ALTER TABLE spans RENAME TO spans_v1");
	if (!err)
		err = exec(sq, create_table);
	if (!err)
		err = exec(sq, sql);
	if (!err)
		err = exec(sq, "DROP TABLE spans_v1");
	return err;
}

static int create_schema(struct zt_sqlite *sq)
{
	char sql[4096];
	size_t len;
	int64_t version = 0, objects = 0;
	int err;

	len = (size_t)snprintf(sql, sizeof(sql), "CREATE TABLE IF NOT EXISTS spans (");
	for (int i = 0; i < ZT_F__COUNT && len < sizeof(sql); i++)
		len += (size_t)snprintf(sql + len, sizeof(sql) - len, "%s%s %s", i ? ", " : "",
					zt_span_fields[i].name, col_type(i));
	if (len < sizeof(sql))
		len += (size_t)snprintf(sql + len, sizeof(sql) - len, ");");
	if (len >= sizeof(sql))
		return set_err(sq, -EOVERFLOW, "schema text too long");

	/* IMMEDIATE: a second `ztrace up` racing on a new file waits, then sees it. */
	err = exec(sq, "BEGIN IMMEDIATE");
	if (err)
		return err;
	err = pragma_int(sq, "PRAGMA user_version", &version);
	if (!err && version == 0)
		err = pragma_int(sq, "SELECT count(*) FROM sqlite_master", &objects);
	if (err)
		goto rollback;
	if (version == ZT_SCHEMA_VERSION) {
		set_columns(sq, ZT_SCHEMA_VERSION);
		return exec(sq, "COMMIT");
	}
	if (version >= 1 && version < ZT_SCHEMA_VERSION) {
		err = migrate(sq, version, sql);
	} else if (version != 0 || objects != 0) {
		err = set_err(sq, -EPROTO, "not a ztrace database (schema version %lld)", (long long)version);
		goto rollback;
	} else {
		err = exec(sq, sql);
	}
	if (!err)
		err = exec(sq, schema_indexes);
	if (!err)
		err = exec(sq, "PRAGMA user_version = " ZT_STR(ZT_SCHEMA_VERSION));
	if (!err)
		err = exec(sq, "COMMIT");
	if (!err) {
		set_columns(sq, ZT_SCHEMA_VERSION);
		return 0;
	}
rollback:
	sqlite3_exec(sq->db, "ROLLBACK", NULL, NULL, NULL);
	return err;
}

static int prepare(struct zt_sqlite *sq, const char *sql, sqlite3_stmt **out)
{
	int rc = sqlite3_prepare_v3(sq->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);

	return rc == SQLITE_OK ? 0 : sql_fail(sq, rc, "prepare");
}

static int prepare_writes(struct zt_sqlite *sq)
{
	char sql[2048];
	size_t len;
	int err;

	/* a writer's file is at ZT_SCHEMA_VERSION: every field is a column,
	 * bound in field order (bind_span) */
	len =
	    (size_t)snprintf(sql, sizeof(sql), "INSERT OR IGNORE INTO spans (%s) VALUES (?", sq->select_cols);
	for (int i = 1; i < ZT_F__COUNT && len < sizeof(sql); i++)
		len += (size_t)snprintf(sql + len, sizeof(sql) - len, ",?");
	if (len < sizeof(sql))
		len += (size_t)snprintf(sql + len, sizeof(sql) - len, ")");
	if (len >= sizeof(sql))
		return set_err(sq, -EOVERFLOW, "insert text too long");
	err = prepare(sq, sql, &sq->insert);
	if (!err)
		err = prepare(sq, "BEGIN IMMEDIATE", &sq->begin);
	if (!err)
		err = prepare(sq, "COMMIT", &sq->commit);
	if (!err)
		err = prepare(sq, "ROLLBACK", &sq->rollback);
	return err;
}

static int check_version(struct zt_sqlite *sq, const char *dir, const char *path)
{
	int64_t version = 0, objects = 0;
	int err;

	err = pragma_int(sq, "PRAGMA user_version", &version);
	if (!err && version == 0)
		err = pragma_int(sq, "SELECT count(*) FROM sqlite_master", &objects);
	if (err)
		return err;
	if (version == ZT_SCHEMA_VERSION) {
		set_columns(sq, ZT_SCHEMA_VERSION);
		return 0;
	}
	if (version >= 1 && version < ZT_SCHEMA_VERSION) { /* read as is, converted by a writer */
		set_columns(sq, (int)version);
		return sq->mode == ZT_STORE_RO ? 0 : 1;
	}
	if (version > ZT_SCHEMA_VERSION)
		return set_err(
		    sq, -EPROTO,
		    "%s has schema version %lld, newer than this ztrace knows (%d): upgrade ztrace", path,
		    (long long)version, ZT_SCHEMA_VERSION);
	if (version != 0 || objects != 0)
		return set_err(sq, -EPROTO, "%s is not a ztrace database (schema version %lld)", path,
			       (long long)version);
	if (sq->mode == ZT_STORE_RO)
		return set_err(sq, -ENOENT, "no ztrace data in %s (run `ztrace up` first)", dir);
	return 1; /* empty file: the caller creates the schema */
}

int zt_store_open_sqlite(const char *dir, enum zt_store_mode mode, struct zt_store **out)
{
	struct zt_sqlite *sq;
	char path[PATH_MAX];
	struct stat sb;
	int flags, rc, err;
	bool need_schema;

	*out = NULL;
	sq = calloc(1, sizeof(*sq));
	if (!sq)
		return -ENOMEM;
	sq->base.ops = &sqlite_ops;
	sq->mode = mode;
	*out = &sq->base;

	if ((size_t)snprintf(path, sizeof(path), "%s/ztrace.db", dir) >= sizeof(path)) {
		err = set_err(sq, -ENAMETOOLONG, "data directory path too long: %s", dir);
		goto fail;
	}
	if (mode == ZT_STORE_RW) {
		err = mkdir_p(dir);
		if (err) {
			set_err(sq, err, "cannot create data directory %s: %s", dir, strerror(-err));
			goto fail;
		}
		flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	} else {
		/* Check first: SQLite's "unable to open database file" says nothing useful. */
		if (stat(path, &sb) < 0) {
			err = -errno;
			if (err == -ENOENT)
				set_err(sq, err, "no ztrace data in %s (run `ztrace up` first)", dir);
			else
				set_err(sq, err, "cannot open %s: %s", path, strerror(errno));
			goto fail;
		}
		flags = SQLITE_OPEN_READONLY;
	}

	/*
	 * NOMUTEX: a store (its batch included) is used by one thread at a
	 * time anyway; SQLite's per-call connection mutex cost ~5% of inserts.
	 */
	rc = sqlite3_open_v2(path, &sq->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		err = set_err(sq, sql_errno(rc), "cannot open %s: %s", path,
			      sq->db ? sqlite3_errmsg(sq->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(sq->db, 1);
	/* Readers and the writer take turns on the WAL locks; wait, don't fail. */
	sqlite3_busy_timeout(sq->db, ZT_BUSY_TIMEOUT_MS);

	/* Before anything writes: a file from a newer ztrace must stay untouched. */
	err = check_version(sq, dir, path);
	if (err < 0)
		goto fail;
	need_schema = err == 1;
	if (mode == ZT_STORE_RW) {
		/*
		 * page_size: only takes effect on a new file, before WAL. 16 KiB
		 * pages made inserts ~1.5x faster than 4 KiB (rows are ~400
		 * bytes; fewer splits and WAL frames). WAL: readers never block
		 * the writer. NORMAL: a power loss may lose the last commits but
		 * never corrupts; spans are telemetry. The cache keeps the index
		 * pages a batch touches in memory; journal_size_limit stops the
		 * WAL file from staying at its high-water mark.
		 */
		err = exec(sq, "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
			       " PRAGMA temp_store=MEMORY; PRAGMA cache_size=-65536;"
			       " PRAGMA journal_size_limit=67108864;");
		if (!err && need_schema)
			err = create_schema(sq);
		if (!err)
			err = prepare_writes(sq);
		if (err)
			goto fail;
	}
	return 0;

fail:
	/* Keep the message, drop the connection: see the top of this file. */
	sqlite3_finalize(sq->insert);
	sqlite3_finalize(sq->begin);
	sqlite3_finalize(sq->commit);
	sqlite3_finalize(sq->rollback);
	sq->insert = sq->begin = sq->commit = sq->rollback = NULL;
	sqlite3_close_v2(sq->db);
	sq->db = NULL;
	return err;
}
