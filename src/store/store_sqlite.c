/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite.c - the embedded store: one SQLite file, DIR/ztrace.db, in WAL
 * mode so that `ztrace spans` and the API read while `ztrace up` writes.
 *
 * Spans are stored in blocks (schema version 5, sqlite_blocks.c) and read
 * back as the table `spans` (sqlite_vtab.c): one column per span field, named
 * as the span JSON keys. Values that span.h calls null are SQL NULL, so SQL
 * and JSON agree on "unknown". Enums read as their names (tap_side,
 * l7_protocol, response_status, l4_protocol). Files of versions 1..4 (a row
 * per span) are read as they are, and converted when a writer opens them.
 *
 * Failed open: *out still receives a store holding the message (readable with
 * zt_store_errmsg(), released with ops->close()), unless memory ran out, in
 * which case *out is NULL. Every op of such a store returns -EBADF.
 *
 * Writes: put_spans, put_link and put_alias copy into batches; flush writes
 * them all in one transaction (span blocks, then links, then aliases). A failed flush keeps every batch for the
 * next flush; a put_* that had to flush then returns the error and does not
 * queue the rest of its input.
 *
 * Queries see flushed data only. The trace queries are in store_traces.c.
 *
 * Threads: a store object is used by one thread at a time (open one per
 * thread); separate objects, in one process or many, share the file safely.
 */
#include "store/store.h"
#include "store/sqlite_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/*
 * Schema versions: 1 had span_uid TEXT PRIMARY KEY and a separate start_ns
 * index; 2 makes (start_ns, span_uid) the one unique key and indexes
 * syscall_trace_id_resp only where it differs from syscall_trace_id_req;
 * 3 adds the attributes column; 4 is built for traces: the trace assembly's
 * parent_uid and link_kind columns, the span_links and trace_alias tables,
 * and only two indexes on spans (time and trace_id, see below). Readers take
 * any of them (a column a version lacks reads as null, a missing table as
 * empty); a writer converts 1..3 into 4 when it opens the file (see migrate).
 * A version 4 file without the two tables (written by a development build
 * between the two halves of v4) is completed the same way. 5 stores spans
 * in blocks (sqlite_int.h); a writer converts 1..4 into 5.
 *
 * The columns are the span record's fields (model/span.h), one each, named
 * and ordered as the field table; their SQL types follow the field kinds.
 */
#define ZT_SCHEMA_VERSION 5
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

/*
 * span_links and trace_alias hold the joiner's late facts; both are small
 * (a link only when the parent came after the child was stored, an alias
 * only when two partial traces merged after both were stored) and keyed by
 * what they answer: a child's link, an alias's trace, and (trace_alias_target)
 * the aliases of a trace. Version 4 kept spans as rows with two indexes
 * (time, trace_id); version 5 keeps them in blocks (sqlite_blocks.c).
 */
static const char trace_schema[] =
    "CREATE TABLE IF NOT EXISTS span_links (child_uid TEXT NOT NULL PRIMARY KEY, parent_uid TEXT NOT NULL,"
    " link_kind TEXT) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS trace_alias (alias TEXT NOT NULL PRIMARY KEY, trace_id TEXT NOT NULL)"
    " WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS trace_alias_target ON trace_alias(trace_id);";

/* A reader of a file without the two tables (version 1..3, or the early
 * version 4) gets empty ones in its connection's temp schema, which unqualified
 * names look up first: the trace queries need no second form. */
static const char temp_trace_tables[] =
    "CREATE TEMP TABLE IF NOT EXISTS span_links (child_uid TEXT NOT NULL PRIMARY KEY, parent_uid TEXT NOT NULL,"
    " link_kind TEXT);"
    "CREATE TEMP TABLE IF NOT EXISTS trace_alias (alias TEXT NOT NULL PRIMARY KEY, trace_id TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS temp.trace_alias_target ON trace_alias(trace_id);";

static const struct zt_store_ops sqlite_ops;

static struct zt_sqlite *to_sq(struct zt_store *st)
{
	return (struct zt_sqlite *)st;
}

int zt_sq_set_err(struct zt_sqlite *sq, int err, const char *fmt, ...)
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

/* A damaged file: what is wrong, and what the user can do about it. */
static int damaged(struct zt_sqlite *sq, const char *detail)
{
	return zt_sq_set_err(sq, -EILSEQ,
			     "%s is damaged (%s). Its spans cannot be read or written safely. Move it aside and "
			     "start fresh: 'mv %s %s.broken' (and its -wal and -shm files, if any); 'ztrace up' "
			     "then creates a new one. What is still readable can be exported with "
			     "'sqlite3 %s.broken .dump > ztrace-salvage.sql'",
			     sq->path, detail, sq->path, sq->path, sq->path);
}

int zt_sq_fail(struct zt_sqlite *sq, int rc, const char *what)
{
	if ((rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB) {
		char detail[256];
		snprintf(detail, sizeof(detail), "sqlite: %s: %s", what,
			 sq->db ? sqlite3_errmsg(sq->db) : sqlite3_errstr(rc));
		return damaged(sq, detail);
	}
	return zt_sq_set_err(sq, sql_errno(rc), "sqlite: %s: %s", what,
			     sq->db ? sqlite3_errmsg(sq->db) : sqlite3_errstr(rc));
}

static int check_deadline(void *arg)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 >= *(uint64_t *)arg;
}

/*
 * A quick integrity check at open (PRAGMA quick_check: every page and
 * b-tree, not the index contents), within a time budget: ~11 ms per MB
 * here, so files up to a few hundred MB are checked whole; on a bigger one
 * the check stops at the budget and says nothing. A damaged page met later
 * by a query or a write gives the same message (zt_sq_fail).
 */
static int integrity_check(struct zt_sqlite *sq, unsigned budget_ms)
{
	sqlite3_stmt *st = NULL;
	struct timespec ts;
	uint64_t deadline;
	int rc, err = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	deadline = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 + budget_ms;
	sqlite3_progress_handler(sq->db, 10000, check_deadline, &deadline);
	rc = sqlite3_prepare_v2(sq->db, "PRAGMA quick_check(1)", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *r = (const char *)sqlite3_column_text(st, 0);
		if (r && strcmp(r, "ok") != 0) {
			char detail[256];
			static const char pre[] = "*** in database main ***\n";
			if (strncmp(r, pre, sizeof(pre) - 1) == 0)
				r += sizeof(pre) - 1;
			snprintf(detail, sizeof(detail), "integrity check: %s", r);
			for (char *c = detail; *c; c++)
				if (*c == '\n')
					*c = ' ';
			err = damaged(sq, detail);
		}
	} else if ((rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB) {
		err = zt_sq_fail(sq, rc, "integrity check");
	} /* SQLITE_INTERRUPT: over budget, unchecked; others show up later */
	sqlite3_finalize(st);
	sqlite3_progress_handler(sq->db, 0, NULL, NULL);
	return err;
}

static int exec(struct zt_sqlite *sq, const char *sql)
{
	int rc = sqlite3_exec(sq->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : zt_sq_fail(sq, rc, sql);
}

/*
 * Spans hold what processes said to each other: the data dir and its files
 * are for their owner only. New ones are (mkdir 0700, the process umask
 * 077); existing ones readable by others are fixed, and the store says so
 * in its notice. A directory shared by design (sticky, like /tmp) or not
 * ours is left alone: only our files in it are fixed.
 */
static void make_private(struct zt_sqlite *sq, const char *dir)
{
	static const char *const files[] = {"ztrace.db", "ztrace.db-wal", "ztrace.db-shm", "ztrace.lock"};
	char path[PATH_MAX];
	struct stat st;
	size_t n = 0;

	if (stat(dir, &st) == 0 && (st.st_mode & 077) && !(st.st_mode & S_ISVTX) && st.st_uid == geteuid() &&
	    chmod(dir, st.st_mode & 07700) == 0)
		n += (size_t)snprintf(sq->base.notice + n, sizeof(sq->base.notice) - n, "%s", dir);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, files[i]) >= sizeof(path))
			continue;
		if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) &&
		    chmod(path, st.st_mode & 0700) == 0 && n < sizeof(sq->base.notice))
			n += (size_t)snprintf(sq->base.notice + n, sizeof(sq->base.notice) - n, "%s%s", n ? ", " : "",
					      path);
	}
	if (n && n < sizeof(sq->base.notice))
		snprintf(sq->base.notice + n, sizeof(sq->base.notice) - n,
			 " could be read by other users: made private to their owner");
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
	/* the data dir itself: its owner's only */
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
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
void zt_sq_row_to_span(const struct zt_sq_cols *c, sqlite3_stmt *st, struct zt_span *s)
{
	struct zt_val v;

	memset(s, 0, sizeof(*s));
	s->response_code = -1;
	for (int i = 0; i < c->n; i++) {
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
		(void)zt_span_set(s, (enum zt_span_field)c->field[i], &v);
	}
}

/* ---- ops --------------------------------------------------------------- */

/* One statement of a flush: bound (0) or the bind error, then stepped. */
static int step_insert(struct zt_sqlite *sq, sqlite3_stmt *stmt, int bind_rc, const char *what)
{
	int rc;

	if (bind_rc != SQLITE_OK)
		return zt_sq_fail(sq, bind_rc, what);
	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	return rc == SQLITE_DONE ? 0 : zt_sq_fail(sq, rc, what);
}

static int bind_link(sqlite3_stmt *st, const struct zt_sq_link *l)
{
	/* The batch outlives the step: no copies. */
	return sqlite3_bind_text(st, 1, l->child, -1, SQLITE_STATIC) |
	       sqlite3_bind_text(st, 2, l->parent, -1, SQLITE_STATIC) |
	       sqlite3_bind_text(st, 3, zt_link_kind_name(l->kind), -1, SQLITE_STATIC);
}

static int bind_alias(sqlite3_stmt *st, const struct zt_sq_alias *a)
{
	return sqlite3_bind_text(st, 1, a->alias, -1, SQLITE_STATIC) |
	       sqlite3_bind_text(st, 2, a->trace_id, -1, SQLITE_STATIC);
}

/* One write transaction: tx_begin, the statements, then tx_end with their
 * result, which commits, or rolls back after a failure (what the
 * statements did is undone; the caller keeps what it wanted written). */
static int tx_begin(struct zt_sqlite *sq)
{
	int rc = sqlite3_step(sq->begin);

	sqlite3_reset(sq->begin);
	return rc == SQLITE_DONE ? 0 : zt_sq_fail(sq, rc, "begin");
}

static int tx_end(struct zt_sqlite *sq, int err)
{
	if (!err) {
		int rc = sqlite3_step(sq->commit);
		sqlite3_reset(sq->commit);
		if (rc != SQLITE_DONE)
			err = zt_sq_fail(sq, rc, "commit");
	}
	if (err && !sqlite3_get_autocommit(sq->db)) {
		sqlite3_step(sq->rollback);
		sqlite3_reset(sq->rollback);
	}
	return err;
}

static int sq_flush(struct zt_store *st)
{
	struct zt_sqlite *sq = to_sq(st);
	uint64_t inserted = 0;
	int err = 0;

	if (!sq->db)
		return zt_sq_set_err(sq, -EBADF, "store is not open");
	if (sq->n == 0 && sq->nlinks == 0 && sq->naliases == 0 && sq->nrollups == 0)
		return 0;
	if ((err = tx_begin(sq)))
		return err;
	/* spans already stored are skipped (store.h), not counted */
	if (sq->n)
		err = zt_sq_blocks_put(sq, sq->recs, sq->recs_len, &inserted);
	for (size_t i = 0; i < sq->nlinks && !err; i++)
		err = step_insert(sq, sq->insert_link, bind_link(sq->insert_link, &sq->links[i]), "insert link");
	for (size_t i = 0; i < sq->naliases && !err; i++)
		err = step_insert(sq, sq->insert_alias, bind_alias(sq->insert_alias, &sq->aliases[i]),
				  "insert alias");
	if (!err)
		err = zt_sq_rollup_write(sq);
	sqlite3_clear_bindings(sq->insert_link);
	sqlite3_clear_bindings(sq->insert_alias);
	if ((err = tx_end(sq, err))) {
		zt_sq_blocks_abort(sq);
		return err; /* the batches stay: the next flush retries them */
	}
	sq->n = sq->nlinks = sq->naliases = 0;
	sq->recs_len = 0;
	zt_sq_rollup_written(sq);
	sq->base.spans_written += inserted;
	sq->base.spans_pending = 0;
	return 0;
}

static int check_writable(struct zt_sqlite *sq)
{
	if (!sq->db)
		return zt_sq_set_err(sq, -EBADF, "store is not open");
	if (sq->mode != ZT_STORE_RW)
		return zt_sq_set_err(sq, -EROFS, "store is open read-only");
	return 0;
}

/*
 * Room for one more element in a batch (*buf of *n used, *cap allocated):
 * a full batch (ZT_BATCH_MAX) is flushed first, then the batch grows by
 * doubling up to ZT_BATCH_MAX (no overflow possible).
 */
static int batch_room(struct zt_sqlite *sq, void **buf, size_t *n, size_t *cap, size_t elem, const char *what)
{
	if (*n == ZT_BATCH_MAX) {
		int err = sq_flush(&sq->base);
		if (err)
			return err;
	}
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : ZT_BATCH_MIN;
		void *nb = realloc(*buf, ncap * elem);

		if (!nb)
			return zt_sq_set_err(sq, -ENOMEM, "out of memory for the %s batch", what);
		*buf = nb;
		*cap = ncap;
	}
	return 0;
}

/*
 * Spans are encoded as they come (model/span_codec.h: the bytes they use,
 * ~200 instead of a 2.7 KiB copy) and kept so until a flush commits them.
 */
/* Room for need more bytes in the batch's records, doubling as needed. */
static int recs_room(struct zt_sqlite *sq, size_t need)
{
	size_t ncap = sq->cap ? sq->cap : 64 * ZT_SPAN_CODEC_MAX;
	uint8_t *nr;

	if (sq->cap - sq->recs_len >= need)
		return 0;
	while (ncap - sq->recs_len < need)
		ncap *= 2;
	if (!(nr = realloc(sq->recs, ncap)))
		return zt_sq_set_err(sq, -ENOMEM, "out of memory for the span batch");
	sq->recs = nr;
	sq->cap = ncap;
	return 0;
}

static int sq_put_spans(struct zt_store *st, const struct zt_span *spans, size_t n)
{
	struct zt_sqlite *sq = to_sq(st);
	int err = check_writable(sq);

	if (err)
		return err;
	for (size_t i = 0; i < n; i++) {
		long len;

		if (sq->n == ZT_BATCH_MAX && (err = sq_flush(st)))
			return err;
		if ((err = recs_room(sq, ZT_SPAN_CODEC_MAX)))
			return err;
		len = zt_span_encode(&spans[i], sq->recs + sq->recs_len, sq->cap - sq->recs_len);
		if (len < 0)
			return zt_sq_set_err(sq, -EIO, "encoding span %s failed", spans[i].span_uid);
		sq->recs_len += (size_t)len;
		sq->base.spans_pending = ++sq->n;
	}
	if (sq->n == ZT_BATCH_MAX)
		return sq_flush(st);
	return 0;
}

static int sq_put_recs(struct zt_store *st, const uint8_t *recs, size_t len, size_t n)
{
	struct zt_sqlite *sq = to_sq(st);
	int err = check_writable(sq);
	struct zt_span_keys k;

	if (err)
		return err;
	for (size_t i = 0, off = 0; i < n; i++, off += k.size) {
		if (zt_span_keys(recs + off, len - off, &k))
			return zt_sq_set_err(sq, -EINVAL, "put_recs: record %zu is not an encoded span", i);
		if (sq->n == ZT_BATCH_MAX && (err = sq_flush(st)))
			return err;
		if ((err = recs_room(sq, k.size)))
			return err;
		memcpy(sq->recs + sq->recs_len, k.rec, k.size);
		sq->recs_len += k.size;
		sq->base.spans_pending = ++sq->n;
	}
	if (sq->n == ZT_BATCH_MAX)
		return sq_flush(st);
	return 0;
}

/* An id given to put_link/put_alias: 1 to size-1 bytes. */
static bool id_ok(const char *id, size_t size)
{
	return id && id[0] && strnlen(id, size) < size;
}

static int sq_put_link(struct zt_store *st, const char *child_uid, const char *parent_uid, uint8_t link_kind)
{
	struct zt_sqlite *sq = to_sq(st);
	struct zt_sq_link *l;
	int err = check_writable(sq);

	if (err)
		return err;
	if (!id_ok(child_uid, ZT_UID_LEN) || !id_ok(parent_uid, ZT_UID_LEN))
		return zt_sq_set_err(sq, -EINVAL, "put_link: a span_uid must be 1 to %d characters",
				     ZT_UID_LEN - 1);
	if (strcmp(child_uid, parent_uid) == 0)
		return zt_sq_set_err(sq, -EINVAL, "put_link: span %s cannot be its own parent", child_uid);
	if (link_kind == ZT_LINK_NONE || !zt_link_kind_name(link_kind))
		return zt_sq_set_err(sq, -EINVAL, "put_link: unknown link kind %u", link_kind);
	err = batch_room(sq, (void **)&sq->links, &sq->nlinks, &sq->caplinks, sizeof(*l), "link");
	if (err)
		return err;
	l = &sq->links[sq->nlinks++];
	snprintf(l->child, sizeof(l->child), "%s", child_uid);
	snprintf(l->parent, sizeof(l->parent), "%s", parent_uid);
	l->kind = link_kind;
	return 0;
}

static int sq_put_alias(struct zt_store *st, const char *alias, const char *trace_id)
{
	struct zt_sqlite *sq = to_sq(st);
	struct zt_sq_alias *a;
	int err = check_writable(sq);

	if (err)
		return err;
	if (!id_ok(alias, ZT_TRACE_ID_LEN) || !id_ok(trace_id, ZT_TRACE_ID_LEN))
		return zt_sq_set_err(sq, -EINVAL, "put_alias: a trace id must be 1 to %d characters",
				     ZT_TRACE_ID_LEN - 1);
	if (strcmp(alias, trace_id) == 0)
		return zt_sq_set_err(sq, -EINVAL, "put_alias: trace %s cannot be an alias of itself", alias);
	err = batch_room(sq, (void **)&sq->aliases, &sq->naliases, &sq->capaliases, sizeof(*a), "alias");
	if (err)
		return err;
	a = &sq->aliases[sq->naliases++];
	snprintf(a->alias, sizeof(a->alias), "%s", alias);
	snprintf(a->trace_id, sizeof(a->trace_id), "%s", trace_id);
	return 0;
}

/*
 * Only fixed SQL text is assembled here; every value is a bound parameter.
 * A positive cb return stops the walk and is success; a negative one stops it
 * and is returned.
 */
static void where_add(char *where, size_t size, const char *cond)
{
	size_t wl = strlen(where);

	/* Fixed fragments; the caller's buffer is sized for all of them. */
	snprintf(where + wl, size - wl, " AND %s", cond);
}

/* Binds by name; a name the statement does not have is no error (that
 * filter was not asked for). */
static int bind_text(sqlite3_stmt *stmt, const char *name, const char *v)
{
	int i = sqlite3_bind_parameter_index(stmt, name);

	return i ? sqlite3_bind_text(stmt, i, v, -1, SQLITE_STATIC) : SQLITE_OK;
}

static int bind_u64(sqlite3_stmt *stmt, const char *name, uint64_t v)
{
	int i = sqlite3_bind_parameter_index(stmt, name);

	return i ? sqlite3_bind_int64(stmt, i, v > INT64_MAX ? INT64_MAX : (int64_t)v) : SQLITE_OK;
}

/*
 * The filters are fixed SQL fragments with named parameters; the user's
 * text is only ever bound. Substrings (path, endpoint) use instr(): it is
 * case-sensitive and has no wildcards, so % and _ need no escaping (LIKE
 * would ignore ASCII case and need an ESCAPE clause), and it is the rule
 * `ztrace traces --endpoint` already follows. The process prefix compares
 * the first length(:process) characters under NOCASE (ASCII case-insensitive,
 * again literal), as `ztrace traces --service` does. A null column makes
 * instr(), substr() and = null: such a span matches no filter on it.
 */
static int sq_query_spans(struct zt_store *st, const struct zt_span_query *q, zt_span_cb cb, void *ctx)
{
	struct zt_sqlite *sq = to_sq(st);
	sqlite3_stmt *stmt = NULL;
	struct zt_span *span = NULL;
	char where[1024] = "1";
	char sql[4096];
	int rc, ret = 0;

	if (!sq->db)
		return zt_sq_set_err(sq, -EBADF, "store is not open");
	if (q->tap_side > ZT_TAP__LAST)
		return zt_sq_set_err(sq, -EINVAL, "unknown tap side %u", q->tap_side);
	if (q->since_ns)
		where_add(where, sizeof(where), "start_ns >= :since");
	if (q->protocol)
		where_add(where, sizeof(where), "l7_protocol = :protocol COLLATE NOCASE");
	if (q->process)
		where_add(where, sizeof(where), "substr(process, 1, length(:process)) = :process COLLATE NOCASE");
	if (q->status)
		where_add(where, sizeof(where), "response_status = :status COLLATE NOCASE");
	if (q->errors_only)
		where_add(where, sizeof(where), "response_status IN (:e1, :e2, :e3)");
	if (q->min_duration_ns)
		where_add(where, sizeof(where), "duration_ns >= :mindur");
	if (q->path)
		where_add(where, sizeof(where), "instr(request_resource, :path) > 0");
	if (q->endpoint)
		where_add(where, sizeof(where), "instr(endpoint, :endpoint) > 0");
	if (q->pid)
		where_add(where, sizeof(where), "pid = :pid");
	if (q->port)
		where_add(where, sizeof(where), "(client_port = :port OR server_port = :port)");
	if (q->tap_side)
		where_add(where, sizeof(where), "tap_side = :side");
	if ((size_t)snprintf(sql, sizeof(sql),
			     q->limit ? "SELECT * FROM (SELECT %s FROM spans WHERE %s ORDER BY start_ns DESC,"
					" span_uid DESC LIMIT :limit) ORDER BY start_ns, span_uid"
				      : "SELECT %s FROM spans WHERE %s ORDER BY start_ns, span_uid",
			     sq->cols.sql, where) >= sizeof(sql))
		return zt_sq_set_err(sq, -EOVERFLOW, "query text too long");

	rc = sqlite3_prepare_v2(sq->db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK) {
		ret = zt_sq_fail(sq, rc, "prepare query");
		goto cleanup;
	}
	/* Only the parameters the text has are bound (see bind_text). */
	rc = bind_u64(stmt, ":since", q->since_ns);
	if (q->protocol)
		rc |= bind_text(stmt, ":protocol", q->protocol);
	if (q->process)
		rc |= bind_text(stmt, ":process", q->process);
	if (q->status)
		rc |= bind_text(stmt, ":status", q->status);
	rc |= bind_text(stmt, ":e1", zt_resp_status_name(ZT_RS_CLIENT_ERROR));
	rc |= bind_text(stmt, ":e2", zt_resp_status_name(ZT_RS_SERVER_ERROR));
	rc |= bind_text(stmt, ":e3", zt_resp_status_name(ZT_RS_TIMEOUT));
	rc |= bind_u64(stmt, ":mindur", q->min_duration_ns);
	if (q->path)
		rc |= bind_text(stmt, ":path", q->path);
	if (q->endpoint)
		rc |= bind_text(stmt, ":endpoint", q->endpoint);
	rc |= bind_u64(stmt, ":pid", q->pid);
	rc |= bind_u64(stmt, ":port", q->port);
	rc |= bind_text(stmt, ":side", zt_tap_side_name((enum zt_tap_side)q->tap_side));
	rc |= bind_u64(stmt, ":limit", q->limit);
	if (rc != SQLITE_OK) { /* SQLITE_OK is 0: any failure leaves a bit set */
		ret = zt_sq_fail(sq, rc, "bind query");
		goto cleanup;
	}

	/* A zt_span is a few KiB: keep it off the caller's stack. */
	span = malloc(sizeof(*span));
	if (!span) {
		ret = zt_sq_set_err(sq, -ENOMEM, "out of memory");
		goto cleanup;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		int r;

		zt_sq_row_to_span(&sq->cols, stmt, span);
		r = cb(ctx, span);
		if (r) {
			ret = r < 0 ? r : 0;
			goto cleanup;
		}
	}
	if (rc != SQLITE_DONE)
		ret = zt_sq_fail(sq, rc, "query");

cleanup:
	free(span);
	sqlite3_finalize(stmt);
	return ret;
}

static void finalize_all(struct zt_sqlite *sq)
{
	sqlite3_stmt **all[] = {&sq->insert_link, &sq->insert_alias, &sq->begin,
				&sq->commit,      &sq->rollback,     &sq->upsert_rollup};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		sqlite3_finalize(*all[i]);
		*all[i] = NULL;
	}
}

static void sq_close(struct zt_store *st)
{
	struct zt_sqlite *sq = to_sq(st);

	if (!st)
		return;
	if (sq->db && sq->mode == ZT_STORE_RW)
		sq_flush(st);
	finalize_all(sq);
	zt_sq_blocks_close(sq);
	/* close_v2: the db is released even if a statement were left over. */
	sqlite3_close_v2(sq->db);
	free(sq->recs);
	free(sq->links);
	free(sq->aliases);
	zt_sq_rollup_close(sq);
	free(sq);
}

/* ---- retention ---------------------------------------------------------- */

static int pragma_int(struct zt_sqlite *sq, const char *sql, int64_t *out);

static uint64_t sq_used_bytes(struct zt_store *st)
{
	struct zt_sqlite *sq = to_sq(st);
	int64_t pages = -1, free_pages = -1, psize = -1;

	if (!sq->db || pragma_int(sq, "PRAGMA page_count", &pages) ||
	    pragma_int(sq, "PRAGMA freelist_count", &free_pages) || pragma_int(sq, "PRAGMA page_size", &psize))
		return 0;
	if (pages < 0 || free_pages < 0 || psize <= 0 || free_pages > pages)
		return 0;
	return (uint64_t)(pages - free_pages) * (uint64_t)psize;
}

/* Drops the `n` oldest spans, or those before `before` if that comes
 * first, with their late links; one transaction. A writer's file is at
 * version 5: the spans are in blocks. */
static int drop_oldest(struct zt_sqlite *sq, uint64_t before, uint64_t n, uint64_t *dropped)
{
	uint64_t got = 0;
	int err;

	if ((err = tx_begin(sq)))
		return err;
	err = zt_sq_blocks_drop_oldest(sq, before, n, &got);
	if ((err = tx_end(sq, err))) {
		zt_sq_blocks_abort(sq);
		return err;
	}
	*dropped += got; /* counted once they are gone */
	return 0;
}

/* Average bytes per stored span (pages in use over spans stored), for
 * turning bytes over the bound into a number of spans. */
static uint64_t span_bytes(struct zt_sqlite *sq, uint64_t used)
{
	uint64_t n = 0;

	if (zt_sq_blocks_count(sq, &n) || n == 0)
		return 100;
	return used / n ? used / n : 1;
}

static int sq_retain(struct zt_store *st, uint64_t min_start_ns, uint64_t max_bytes, uint64_t limit,
		     uint64_t *dropped, int *more)
{
	struct zt_sqlite *sq = to_sq(st);
	uint64_t before = *dropped;
	int err = check_writable(sq);

	*more = 0;
	if (err)
		return err;
	if (min_start_ns) {
		err = drop_oldest(sq, min_start_ns, limit, dropped);
		if (err)
			return err;
		if (*dropped - before == limit) {
			*more = 1;
			return 0;
		}
	}
	if (max_bytes) {
		uint64_t used = sq_used_bytes(st), target = max_bytes / 10 * 9;
		if (used > max_bytes) {
			uint64_t n = (used - target) / span_bytes(sq, used) + 1, got = *dropped;
			if (n > limit - (*dropped - before))
				n = limit - (*dropped - before);
			err = drop_oldest(sq, UINT64_MAX, n, dropped);
			if (err)
				return err;
			/* freed pages are reused, the file does not shrink:
			 * go on while pages in use are still over */
			*more = *dropped > got && sq_used_bytes(st) > target;
		}
	}
	return 0;
}

static const struct zt_store_ops sqlite_ops = {
    .name = "sqlite",
    .put_spans = sq_put_spans,
    .put_recs = sq_put_recs,
    .flush = sq_flush,
    .query_spans = sq_query_spans,
    .put_link = sq_put_link,
    .put_alias = sq_put_alias,
    .query_trace = zt_sq_query_trace,
    .query_traces = zt_sq_query_traces,
    .retain = sq_retain,
    .put_rollups = zt_sq_put_rollups,
    .query_red = zt_sq_query_red,
    .retain_rollups = zt_sq_retain_rollups,
    .used_bytes = sq_used_bytes,
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
		rc = zt_sq_fail(sq, rc, sql);
	sqlite3_finalize(stmt);
	return rc;
}

static void cols_add(struct zt_sq_cols *c, size_t *len, int f, const char *expr)
{
	*len += (size_t)snprintf(c->sql + *len, sizeof(c->sql) - *len, "%s%s", c->n ? "," : "", expr);
	c->field[c->n++] = f;
}

/*
 * Sets the column lists to the columns a file of `version` has: cols for
 * "FROM spans", tcols for "FROM spans s LEFT JOIN span_links l ON
 * l.child_uid = s.span_uid", where a late link replaces the span's own
 * parent_uid and link_kind (a file without those columns takes the link's).
 */
static void set_columns(struct zt_sqlite *sq, int version)
{
	size_t len = 0, tlen = 0;
	char expr[128];

	sq->version = version;
	sq->cols.n = sq->tcols.n = 0;
	for (int f = 0; f < ZT_F__COUNT; f++) {
		const char *name = zt_span_fields[f].name;
		bool linked = f == ZT_F_parent_uid || f == ZT_F_link_kind;

		if (col_since(f) <= version) {
			cols_add(&sq->cols, &len, f, name);
			if (linked)
				snprintf(expr, sizeof(expr), "CASE WHEN l.child_uid IS NULL THEN s.%s ELSE l.%s END",
					 name, name);
			else
				snprintf(expr, sizeof(expr), "s.%s", name);
			cols_add(&sq->tcols, &tlen, f, expr);
		} else if (linked) {
			snprintf(expr, sizeof(expr), "l.%s", name);
			cols_add(&sq->tcols, &tlen, f, expr);
		}
	}
}
_Static_assert(ZT_F__COUNT * 24 < 1024, "column names fit cols.sql");
_Static_assert(ZT_F__COUNT * 26 + 2 * 80 < 2048, "column expressions fit tcols.sql");

/* 2: the file has span_links and trace_alias (in its main schema). */
static int trace_tables(struct zt_sqlite *sq, int64_t *n)
{
	return pragma_int(sq,
			  "SELECT count(*) FROM main.sqlite_master WHERE type = 'table'"
			  " AND name IN ('span_links', 'trace_alias')",
			  n);
}

/*
 * A new file, or one of version 1..4 converted: the span rows go into
 * blocks (in start order), the row table and its indexes are dropped, the
 * trace tables are added where missing. One transaction: a conversion that
 * fails leaves the file as it was.
 */
static int create_schema(struct zt_sqlite *sq)
{
	int64_t version = 0, objects = 0, tables = 0;
	int err;

	/* IMMEDIATE: a second `ztrace up` racing on a new file waits, then sees it. */
	err = exec(sq, "BEGIN IMMEDIATE");
	if (err)
		return err;
	err = pragma_int(sq, "PRAGMA user_version", &version);
	if (!err && version == 0)
		err = pragma_int(sq, "SELECT count(*) FROM sqlite_master", &objects);
	if (!err && version == ZT_SCHEMA_VERSION)
		err = trace_tables(sq, &tables);
	if (err)
		goto rollback;
	if (version == ZT_SCHEMA_VERSION && tables == 2) { /* another writer was first */
		set_columns(sq, ZT_SCHEMA_VERSION);
		return exec(sq, "COMMIT");
	}
	if (version > ZT_SCHEMA_VERSION || (version == 0 && objects != 0)) {
		err = zt_sq_set_err(sq, -EPROTO, "not a ztrace database (schema version %lld)", (long long)version);
		goto rollback;
	}
	err = exec(sq, trace_schema);
	if (!err)
		err = zt_sq_blocks_create(sq);
	if (!err && !sq->bw)
		err = zt_sq_blocks_prepare(sq);
	if (!err && version >= 1 && version < ZT_SCHEMA_VERSION) {
		set_columns(sq, (int)version);
		err = zt_sq_blocks_migrate(sq);
	}
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

	return rc == SQLITE_OK ? 0 : zt_sq_fail(sq, rc, "prepare");
}

static int prepare_writes(struct zt_sqlite *sq)
{
	int err;

	err = prepare(sq, "INSERT OR IGNORE INTO span_links (child_uid, parent_uid, link_kind) VALUES (?, ?, ?)",
			      &sq->insert_link);
	if (!err)
		err = prepare(sq, "INSERT OR IGNORE INTO trace_alias (alias, trace_id) VALUES (?, ?)",
			      &sq->insert_alias);
	if (!err)
		err = prepare(sq, "BEGIN IMMEDIATE", &sq->begin);
	if (!err)
		err = prepare(sq, "COMMIT", &sq->commit);
	if (!err)
		err = prepare(sq, "ROLLBACK", &sq->rollback);
	return err;
}

/*
 * 0: the file is ready for this store's mode; 1: a writer must create or
 * convert the schema first; < 0: refused (a newer or foreign file: left
 * untouched). A reader of an older file gets empty trace tables in its
 * temp schema (temp_trace_tables).
 */
static int check_version(struct zt_sqlite *sq, const char *dir, const char *path)
{
	int64_t version = 0, objects = 0, tables = 2;
	int err;

	err = pragma_int(sq, "PRAGMA user_version", &version);
	if (!err && version == 0)
		err = pragma_int(sq, "SELECT count(*) FROM sqlite_master", &objects);
	if (!err && version >= 1 && version <= ZT_SCHEMA_VERSION)
		err = trace_tables(sq, &tables);
	if (err)
		return err;
	if (version >= 1 && version <= ZT_SCHEMA_VERSION) { /* read as is, converted by a writer */
		set_columns(sq, (int)version);
		if (version == ZT_SCHEMA_VERSION && tables == 2)
			return 0;
		if (sq->mode == ZT_STORE_RW)
			return 1;
		/* a reader takes the file as it is: empty trace tables only
		 * where it has none */
		return tables == 2 ? 0 : exec(sq, temp_trace_tables);
	}
	if (version > ZT_SCHEMA_VERSION)
		return zt_sq_set_err(
		    sq, -EPROTO,
		    "%s has schema version %lld, newer than this ztrace knows (%d): upgrade ztrace", path,
		    (long long)version, ZT_SCHEMA_VERSION);
	if (version != 0 || objects != 0)
		return zt_sq_set_err(sq, -EPROTO, "%s is not a ztrace database (schema version %lld)", path,
			       (long long)version);
	if (sq->mode == ZT_STORE_RO)
		return zt_sq_set_err(sq, -ENOENT, "no ztrace data in %s (run `ztrace up` first)", dir);
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
		err = zt_sq_set_err(sq, -ENAMETOOLONG, "data directory path too long: %s", dir);
		goto fail;
	}
	snprintf(sq->path, sizeof(sq->path), "%s", path);
	if (mode == ZT_STORE_RW) {
		err = mkdir_p(dir);
		if (err) {
			zt_sq_set_err(sq, err, "cannot create data directory %s: %s", dir, strerror(-err));
			goto fail;
		}
		make_private(sq, dir);
		flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	} else {
		/* Check first: SQLite's "unable to open database file" says nothing useful. */
		if (stat(path, &sb) < 0) {
			err = -errno;
			if (err == -ENOENT)
				zt_sq_set_err(sq, err, "no ztrace data in %s (run `ztrace up` first)", dir);
			else
				zt_sq_set_err(sq, err, "cannot open %s: %s", path, strerror(errno));
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
		err = zt_sq_set_err(sq, sql_errno(rc), "cannot open %s: %s", path,
			      sq->db ? sqlite3_errmsg(sq->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(sq->db, 1);
	/* Readers and the writer take turns on the WAL locks; wait, don't fail. */
	sqlite3_busy_timeout(sq->db, ZT_BUSY_TIMEOUT_MS);
	/* Sorts and temp tables (the trace queries'): in memory, not in /tmp
	 * files. Set first: changing it later drops the temp tables. */
	err = exec(sq, "PRAGMA temp_store=MEMORY");
	if (err)
		goto fail;

	/* Before anything writes: a file from a newer ztrace must stay untouched. */
	err = check_version(sq, dir, path);
	if (err < 0)
		goto fail;
	need_schema = err == 1;
	if (!need_schema) {
		/* `up` can afford a longer look than a query command */
		err = integrity_check(sq, mode == ZT_STORE_RW ? 3000 : 500);
		if (err)
			goto fail;
	}
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
			       " PRAGMA cache_size=-65536;"
			       " PRAGMA journal_size_limit=67108864;");
		if (!err && need_schema)
			err = create_schema(sq);
		if (!err && !sq->bw)
			err = zt_sq_blocks_prepare(sq);
		if (!err)
			err = prepare_writes(sq);
		if (!err)
			err = zt_sq_rollup_prepare(sq);
		if (err)
			goto fail;
	}
	if (sq->version >= 5 && (err = zt_sq_vtab_register(sq)))
		goto fail;
	return 0;

fail:
	/* Keep the message, drop the connection: see the top of this file. */
	finalize_all(sq);
	zt_sq_blocks_close(sq);
	sqlite3_close_v2(sq->db);
	sq->db = NULL;
	return err;
}
