/* SPDX-License-Identifier: MIT */
/*
 * store_traces.c - the SQLite backend's trace queries: one trace by id
 * (query_trace) and trace summaries (query_traces). Schema and writes are in
 * store_sqlite.c.
 *
 * A trace is the spans whose trace_id is its id or one of its aliases. The
 * joiner writes an alias when two partial traces merged after both had
 * spans stored: trace_alias(alias -> trace_id), possibly in chains (a -> b,
 * then b -> c). An id resolves by following its aliases to the end of the
 * chain: the final id, under which the trace is reported. Each alias has one
 * target, so the aliases form chains and trees whose root is the final id.
 * A cycle (a file no joiner wrote, or edited by hand) is one trace named by
 * its smallest member; a chain longer than ZT_ALIAS_STEPS is refused.
 *
 * Late links (span_links) replace the child span's parent_uid and
 * link_kind wherever spans are read here.
 *
 * Spans stored without a trace_id (files written before trace assembly)
 * are each a trace of their own, named by their span_uid: every stored span
 * belongs to exactly one trace, and `ztrace trace UID` shows any span. Such a
 * span's trace_id stays null in what query_trace returns (no null is
 * invented); the trace's id is its span_uid.
 *
 * Only fixed SQL text is assembled here; every value is a bound parameter.
 * A positive callback return stops a walk and is success; a negative one
 * stops it and is returned.
 */
#include "store/sqlite_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZT_ALIAS_STEPS 64

/* ---- aliases ------------------------------------------------------------ */

/* One step along the aliases: 1 and *out set when id is an alias, 0 when it
 * is not, < 0 on error (message set). */
typedef int (*alias_next_fn)(struct zt_sqlite *sq, void *ctx, const char *id, char out[ZT_TRACE_ID_LEN]);

/* Follows id's aliases to the final id (see the top of this file). */
static int resolve_final(struct zt_sqlite *sq, const char *id, alias_next_fn next, void *ctx,
			 char final[ZT_TRACE_ID_LEN])
{
	char path[ZT_ALIAS_STEPS + 1][ZT_TRACE_ID_LEN];
	int n = 0;

	snprintf(path[0], sizeof(path[0]), "%s", id);
	for (;;) {
		int r, min;

		if (n == ZT_ALIAS_STEPS)
			return zt_sq_set_err(sq, -ELOOP, "trace %s: more than %d aliases in a chain", id,
					     ZT_ALIAS_STEPS);
		r = next(sq, ctx, path[n], path[n + 1]);
		if (r < 0)
			return r;
		if (r == 0) {
			memcpy(final, path[n], ZT_TRACE_ID_LEN);
			return 0;
		}
		n++;
		for (int i = 0; i < n; i++) {
			if (strcmp(path[i], path[n]) != 0)
				continue;
			/* path[i..n-1] is a cycle: its smallest member names it. */
			min = i;
			for (int j = i + 1; j < n; j++)
				if (strcmp(path[j], path[min]) < 0)
					min = j;
			memcpy(final, path[min], ZT_TRACE_ID_LEN);
			return 0;
		}
	}
}

/* alias_next_fn over the file: ctx is a prepared "trace_id of alias ?". */
static int next_sql(struct zt_sqlite *sq, void *ctx, const char *id, char out[ZT_TRACE_ID_LEN])
{
	sqlite3_stmt *stmt = ctx;
	int rc, ret = 0;

	sqlite3_reset(stmt);
	rc = sqlite3_bind_text(stmt, 1, id, -1, SQLITE_TRANSIENT);
	if (rc != SQLITE_OK)
		return zt_sq_fail(sq, rc, "bind alias");
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(stmt, 0);

		/* A target that is no id (hand-edited file) ends the chain. */
		if (t && t[0] && strlen(t) < ZT_TRACE_ID_LEN) {
			memcpy(out, t, strlen(t) + 1);
			ret = 1;
		}
	} else if (rc != SQLITE_DONE) {
		ret = zt_sq_fail(sq, rc, "read alias");
	}
	sqlite3_reset(stmt);
	return ret;
}

/* All aliases in memory, sorted by alias: the summaries resolve every one. */
struct alias_map {
	struct zt_sq_alias *a;
	size_t n, cap;
};

static int alias_cmp(const void *x, const void *y)
{
	return strcmp(((const struct zt_sq_alias *)x)->alias, ((const struct zt_sq_alias *)y)->alias);
}

static int next_mem(struct zt_sqlite *sq, void *ctx, const char *id, char out[ZT_TRACE_ID_LEN])
{
	const struct alias_map *m = ctx;
	struct zt_sq_alias key;
	const struct zt_sq_alias *hit;

	snprintf(key.alias, sizeof(key.alias), "%s", id);
	hit = bsearch(&key, m->a, m->n, sizeof(*m->a), alias_cmp);
	if (!hit)
		return 0;
	memcpy(out, hit->trace_id, ZT_TRACE_ID_LEN);
	return 1;
}

static int load_aliases(struct zt_sqlite *sq, struct alias_map *m)
{
	sqlite3_stmt *stmt = NULL;
	int rc, ret = 0;

	rc = sqlite3_prepare_v2(sq->db, "SELECT alias, trace_id FROM trace_alias", -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return zt_sq_fail(sq, rc, "prepare aliases");
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *al = (const char *)sqlite3_column_text(stmt, 0);
		const char *t = (const char *)sqlite3_column_text(stmt, 1);

		if (!al || !t || !al[0] || !t[0] || strlen(al) >= ZT_TRACE_ID_LEN || strlen(t) >= ZT_TRACE_ID_LEN)
			continue; /* not ids: a hand-edited file */
		if (m->n == m->cap) {
			size_t ncap = m->cap ? m->cap * 2 : 64;
			struct zt_sq_alias *na = realloc(m->a, ncap * sizeof(*na));

			if (!na) {
				ret = zt_sq_set_err(sq, -ENOMEM, "out of memory for trace aliases");
				goto out;
			}
			m->a = na;
			m->cap = ncap;
		}
		snprintf(m->a[m->n].alias, sizeof(m->a[m->n].alias), "%s", al);
		snprintf(m->a[m->n].trace_id, sizeof(m->a[m->n].trace_id), "%s", t);
		m->n++;
	}
	if (rc != SQLITE_DONE)
		ret = zt_sq_fail(sq, rc, "read aliases");
	else if (m->n)
		qsort(m->a, m->n, sizeof(*m->a), alias_cmp);
out:
	sqlite3_finalize(stmt);
	return ret;
}

static int exec_sql(struct zt_sqlite *sq, const char *sql)
{
	int rc = sqlite3_exec(sq->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : zt_sq_fail(sq, rc, sql);
}

/*
 * temp.zt_alias_final: every alias with its final id, for the summaries'
 * joins. A connection's temp schema is its own (a reader's too), in memory.
 */
static int fill_alias_final(struct zt_sqlite *sq)
{
	struct alias_map m = {0};
	sqlite3_stmt *ins = NULL;
	char final[ZT_TRACE_ID_LEN];
	int rc, err;

	err = exec_sql(sq, "CREATE TEMP TABLE IF NOT EXISTS zt_alias_final (alias TEXT NOT NULL PRIMARY KEY,"
			   " final TEXT NOT NULL) WITHOUT ROWID;"
			   "CREATE INDEX IF NOT EXISTS temp.zt_alias_final_f ON zt_alias_final(final);"
			   "DELETE FROM temp.zt_alias_final;");
	if (!err)
		err = load_aliases(sq, &m);
	if (err || m.n == 0)
		goto out;
	rc = sqlite3_prepare_v2(sq->db, "INSERT INTO temp.zt_alias_final (alias, final) VALUES (?, ?)", -1, &ins,
				NULL);
	if (rc != SQLITE_OK) {
		err = zt_sq_fail(sq, rc, "prepare alias table");
		goto out;
	}
	for (size_t i = 0; i < m.n && !err; i++) {
		err = resolve_final(sq, m.a[i].alias, next_mem, &m, final);
		if (err == -ELOOP) /* one bad chain does not hide every trace: it stays unmerged */
			err = 0;
		else if (!err && strcmp(final, m.a[i].alias) != 0) {
			rc = sqlite3_bind_text(ins, 1, m.a[i].alias, -1, SQLITE_STATIC);
			if (rc == SQLITE_OK)
				rc = sqlite3_bind_text(ins, 2, final, -1, SQLITE_TRANSIENT);
			if (rc == SQLITE_OK)
				rc = sqlite3_step(ins);
			if (rc != SQLITE_DONE)
				err = zt_sq_fail(sq, rc, "fill alias table");
			sqlite3_reset(ins);
		}
	}
out:
	sqlite3_finalize(ins);
	free(m.a);
	return err;
}

/* ---- one trace ---------------------------------------------------------- */

/*
 * Calls cb for every span of the trace named `final` and its aliases (the
 * recursive part walks trace_alias backwards through trace_alias_target;
 * UNION drops repeats, so a cycle ends), late links applied, trace_id
 * reported as `final`. *count: spans seen.
 */
static int emit_trace(struct zt_sqlite *sq, const char *final, zt_span_cb cb, void *ctx, size_t *count)
{
	char sql[4096];
	sqlite3_stmt *stmt = NULL;
	struct zt_span *span = NULL;
	int rc, ret = 0;

	if ((size_t)snprintf(sql, sizeof(sql),
			     "WITH RECURSIVE ids(id) AS (SELECT ?1 UNION"
			     " SELECT a.alias FROM trace_alias a JOIN ids ON a.trace_id = ids.id)"
			     " SELECT %s FROM spans s LEFT JOIN span_links l ON l.child_uid = s.span_uid"
			     " WHERE s.trace_id IN (SELECT id FROM ids) ORDER BY s.start_ns, s.span_uid",
			     sq->tcols.sql) >= sizeof(sql))
		return zt_sq_set_err(sq, -EOVERFLOW, "trace query text too long");
	rc = sqlite3_prepare_v2(sq->db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return zt_sq_fail(sq, rc, "prepare trace query");
	rc = sqlite3_bind_text(stmt, 1, final, -1, SQLITE_STATIC);
	if (rc != SQLITE_OK) {
		ret = zt_sq_fail(sq, rc, "bind trace id");
		goto out;
	}
	/* A zt_span is a few KiB: keep it off the caller's stack. */
	span = malloc(sizeof(*span));
	if (!span) {
		ret = zt_sq_set_err(sq, -ENOMEM, "out of memory");
		goto out;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		int r;

		zt_sq_row_to_span(&sq->tcols, stmt, span);
		snprintf(span->trace_id, sizeof(span->trace_id), "%s", final);
		(*count)++;
		r = cb(ctx, span);
		if (r) {
			ret = r < 0 ? r : 0;
			goto out;
		}
	}
	if (rc != SQLITE_DONE)
		ret = zt_sq_fail(sq, rc, "trace query");
out:
	free(span);
	sqlite3_finalize(stmt);
	return ret;
}

/* A span stored without trace_id: its own trace (see the top of this file). */
static int emit_one(struct zt_sqlite *sq, int64_t start_ns, const char *uid, zt_span_cb cb, void *ctx,
		    size_t *count)
{
	char sql[4096];
	sqlite3_stmt *stmt = NULL;
	struct zt_span *span = NULL;
	int rc, ret = 0;

	if ((size_t)snprintf(sql, sizeof(sql),
			     "SELECT %s FROM spans s LEFT JOIN span_links l ON l.child_uid = s.span_uid"
			     " WHERE s.start_ns = ?1 AND s.span_uid = ?2",
			     sq->tcols.sql) >= sizeof(sql))
		return zt_sq_set_err(sq, -EOVERFLOW, "span query text too long");
	rc = sqlite3_prepare_v2(sq->db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return zt_sq_fail(sq, rc, "prepare span query");
	rc = sqlite3_bind_int64(stmt, 1, start_ns);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 2, uid, -1, SQLITE_STATIC);
	if (rc != SQLITE_OK) {
		ret = zt_sq_fail(sq, rc, "bind span");
		goto out;
	}
	span = malloc(sizeof(*span));
	if (!span) {
		ret = zt_sq_set_err(sq, -ENOMEM, "out of memory");
		goto out;
	}
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		int r;

		zt_sq_row_to_span(&sq->tcols, stmt, span);
		(*count)++;
		r = cb(ctx, span);
		ret = r < 0 ? r : 0;
	} else if (rc != SQLITE_DONE) {
		ret = zt_sq_fail(sq, rc, "span query");
	}
out:
	free(span);
	sqlite3_finalize(stmt);
	return ret;
}

/* 16 hex digits: the form of a span_uid. */
static int is_uid(const char *id)
{
	if (strlen(id) != ZT_UID_LEN - 1)
		return 0;
	for (const char *p = id; *p; p++)
		if (!isxdigit((unsigned char)*p))
			return 0;
	return 1;
}

/*
 * A span by uid. Version 5: the span table's uid plan (the blocks' uid
 * hashes, sqlite_vtab.c). 1..4: spans_start_uid holds span_uid, so the inner
 * SELECT scans that index (~35 bytes a span), not the table (~400).
 * 1: found (*start_ns, trace_id: "" when the span has none); 0: no such span.
 */
static int find_span(struct zt_sqlite *sq, const char *uid, int64_t *start_ns, char trace_id[ZT_TRACE_ID_LEN])
{
	sqlite3_stmt *stmt = NULL;
	int rc, ret = 0;

	rc = sqlite3_prepare_v2(sq->db,
				sq->version >= 5 ? "SELECT start_ns, trace_id FROM spans WHERE span_uid = ?1"
						   " ORDER BY start_ns LIMIT 1"
						 : "SELECT start_ns, trace_id FROM spans WHERE rowid IN"
						   " (SELECT rowid FROM spans WHERE span_uid = ?1) ORDER BY start_ns LIMIT 1",
				-1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return zt_sq_fail(sq, rc, "prepare span lookup");
	rc = sqlite3_bind_text(stmt, 1, uid, -1, SQLITE_STATIC);
	if (rc != SQLITE_OK) {
		ret = zt_sq_fail(sq, rc, "bind span uid");
		goto out;
	}
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(stmt, 1);

		*start_ns = sqlite3_column_int64(stmt, 0);
		snprintf(trace_id, ZT_TRACE_ID_LEN, "%s", t && strlen(t) < ZT_TRACE_ID_LEN ? t : "");
		ret = 1;
	} else if (rc != SQLITE_DONE) {
		ret = zt_sq_fail(sq, rc, "span lookup");
	}
out:
	sqlite3_finalize(stmt);
	return ret;
}

/* The trace an id names, resolved and emitted; *count 0: none. */
static int trace_by_id(struct zt_sqlite *sq, const char *id, zt_span_cb cb, void *ctx, size_t *count)
{
	char final[ZT_TRACE_ID_LEN];
	sqlite3_stmt *next = NULL;
	int rc, err;

	rc = sqlite3_prepare_v2(sq->db, "SELECT trace_id FROM trace_alias WHERE alias = ?1", -1, &next, NULL);
	if (rc != SQLITE_OK)
		return zt_sq_fail(sq, rc, "prepare alias lookup");
	err = resolve_final(sq, id, next_sql, next, final);
	sqlite3_finalize(next);
	if (err)
		return err;
	return emit_trace(sq, final, cb, ctx, count);
}

int zt_sq_query_trace(struct zt_store *st, const char *id, zt_span_cb cb, void *ctx)
{
	struct zt_sqlite *sq = (struct zt_sqlite *)st;
	char uid[ZT_UID_LEN], trace_id[ZT_TRACE_ID_LEN];
	int64_t start_ns = 0;
	size_t count = 0;
	int err;

	if (!sq->db)
		return zt_sq_set_err(sq, -EBADF, "store is not open");
	if (!id || !id[0] || strnlen(id, ZT_TRACE_ID_LEN) >= ZT_TRACE_ID_LEN)
		return zt_sq_set_err(sq, -EINVAL, "a trace id or span_uid is 1 to %d characters",
				     ZT_TRACE_ID_LEN - 1);
	/* A trace id first: one indexed lookup. */
	err = trace_by_id(sq, id, cb, ctx, &count);
	if (err || count)
		return err;
	/* Then a span_uid (stored in lower case): its trace. */
	if (!is_uid(id))
		return zt_sq_set_err(sq, -ENOENT, "no trace %s", id);
	for (int i = 0; i < ZT_UID_LEN; i++)
		uid[i] = (char)tolower((unsigned char)id[i]);
	err = find_span(sq, uid, &start_ns, trace_id);
	if (err < 0)
		return err;
	if (err == 0)
		return zt_sq_set_err(sq, -ENOENT, "no trace or span %s", id);
	if (trace_id[0])
		err = trace_by_id(sq, trace_id, cb, ctx, &count);
	else
		err = emit_one(sq, start_ns, uid, cb, ctx, &count);
	if (!err && count == 0) /* deleted since the lookup */
		err = zt_sq_set_err(sq, -ENOENT, "no trace or span %s", id);
	return err;
}

/* ---- summaries ---------------------------------------------------------- */

static void append(char *buf, size_t size, const char *text)
{
	size_t len = strlen(buf);

	/* Fixed fragments; the caller's buffer is sized for all of them. */
	snprintf(buf + len, size - len, "%s", text);
}

static int bind_named_text(sqlite3_stmt *stmt, const char *name, const char *v)
{
	int i = sqlite3_bind_parameter_index(stmt, name);

	return i ? sqlite3_bind_text(stmt, i, v, -1, SQLITE_STATIC) : SQLITE_OK;
}

static int bind_named_u64(sqlite3_stmt *stmt, const char *name, uint64_t v)
{
	int i = sqlite3_bind_parameter_index(stmt, name);

	return i ? sqlite3_bind_int64(stmt, i, v > INT64_MAX ? INT64_MAX : (int64_t)v) : SQLITE_OK;
}

/*
 * zt_first(x) and zt_last(x): min() and max() under other names. SQLite takes
 * the bare columns of a grouped SELECT from the row that holds the value of
 * its min() or max() aggregate only when there is exactly one: the summaries
 * use min() to pick each trace's root row and these for the time bounds.
 * (A window function ranking the rows did the same at twice the cost.)
 */
struct first_last {
	int64_t v;
	int set;
};

static void first_last_step(sqlite3_context *c, int argc, sqlite3_value **argv, int last)
{
	struct first_last *fl = sqlite3_aggregate_context(c, sizeof(*fl));
	int64_t v;

	if (!fl) {
		sqlite3_result_error_nomem(c);
		return;
	}
	if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
		return;
	v = sqlite3_value_int64(argv[0]);
	if (!fl->set || (last ? v > fl->v : v < fl->v)) {
		fl->v = v;
		fl->set = 1;
	}
}

static void first_step(sqlite3_context *c, int argc, sqlite3_value **argv)
{
	first_last_step(c, argc, argv, 0);
}

static void last_step(sqlite3_context *c, int argc, sqlite3_value **argv)
{
	first_last_step(c, argc, argv, 1);
}

static void first_last_final(sqlite3_context *c)
{
	struct first_last *fl = sqlite3_aggregate_context(c, 0);

	if (fl && fl->set)
		sqlite3_result_int64(c, fl->v);
	else
		sqlite3_result_null(c);
}

static int register_functions(struct zt_sqlite *sq)
{
	int rc = sqlite3_create_function_v2(sq->db, "zt_first", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, NULL,
					    first_step, first_last_final, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_create_function_v2(sq->db, "zt_last", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, NULL,
						last_step, first_last_final, NULL);
	return rc == SQLITE_OK ? 0 : zt_sq_fail(sq, rc, "register summary functions");
}

enum summary_scope {
	SCOPE_WINDOW, /* every trace with spans in the window */
	SCOPE_TRACE,  /* the trace :tid (a final id) */
	SCOPE_SPAN,   /* the trace of the one span (:t0, :tid) stored without trace_id */
};

/*
 * The summaries' SQL: one pass over the spans of the scope (the time index
 * with a since bound, else the table in storage order), grouped by trace:
 * the final id through temp.zt_alias_final, or the span's own uid when it has
 * no trace_id. The root is the row of min(rk), rk = has a parent (late link
 * applied) * 2^62 + start_ns: the first parentless span, or the first span
 * when every span has a parent (its root lost). Two spans of one trace
 * starting in the same nanosecond may tie: either is the root. start_ns
 * stays below 2^62 until the year 2116.
 * With a since bound, a trace with spans before it started before it: the
 * two NOT EXISTS probe spans_trace (trace_id, start_ns) for the trace's id
 * and each of its aliases, one index seek each.
 */
static int prepare_summaries(struct zt_sqlite *sq, const struct zt_trace_query *q, enum summary_scope scope,
			     sqlite3_stmt **out)
{
	static const char *const scope_sql[] = {
	    [SCOPE_WINDOW] = "",
	    [SCOPE_TRACE] = (" WHERE s.trace_id IN (SELECT :tid UNION ALL"
			     " SELECT alias FROM temp.zt_alias_final WHERE final = :tid)"),
	    [SCOPE_SPAN] = " WHERE s.start_ns = :t0 AND s.span_uid = :tid AND s.trace_id IS NULL",
	};
	char sql[4096], where[1024] = "1";
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (q->since_ns)
		append(where, sizeof(where),
		       " AND NOT EXISTS (SELECT 1 FROM spans p WHERE p.trace_id = g.tid AND p.start_ns < :since)"
		       " AND NOT EXISTS (SELECT 1 FROM temp.zt_alias_final a JOIN spans p ON p.trace_id = a.alias"
		       " WHERE a.final = g.tid AND p.start_ns < :since)");
	if (q->service)
		append(where, sizeof(where),
		       " AND substr(g.root_process, 1, length(:service)) = :service COLLATE NOCASE");
	if (q->endpoint)
		append(where, sizeof(where), " AND instr(g.root_endpoint, :endpoint) > 0");
	if (q->errors_only)
		append(where, sizeof(where), " AND g.errs > 0");
	if (q->min_duration_ns)
		append(where, sizeof(where), " AND g.dur >= :mindur");
	if ((size_t)snprintf(
		sql, sizeof(sql),
		"SELECT tid, root_uid, root_process, root_endpoint, start, dur, n, errs FROM"
		" (SELECT tid, root_uid, root_process, root_endpoint, start,"
		" CASE WHEN last > start THEN last - start ELSE 0 END AS dur, n, errs FROM"
		" (SELECT COALESCE(f.final, s.trace_id, s.span_uid) AS tid,"
		" min(((CASE WHEN l.child_uid IS NULL THEN %s ELSE l.parent_uid END) IS NOT NULL)"
		" * 4611686018427387904 + s.start_ns) AS rk,"
		" s.span_uid AS root_uid, s.process AS root_process, s.endpoint AS root_endpoint,"
		" zt_first(s.start_ns) AS start, zt_last(s.end_ns) AS last, count(*) AS n,"
		" sum(s.response_status IN (:e1, :e2, :e3)) AS errs"
		" FROM spans s%s LEFT JOIN temp.zt_alias_final f ON f.alias = s.trace_id"
		" LEFT JOIN span_links l ON l.child_uid = s.span_uid%s GROUP BY 1)) g"
		" WHERE %s%s%s",
		sq->version >= 4 ? "s.parent_uid" : "NULL", scope == SCOPE_WINDOW && !q->since_ns && sq->version < 5 ? " NOT INDEXED" : "",
		scope != SCOPE_WINDOW ? scope_sql[scope] : q->since_ns ? " WHERE s.start_ns >= :since" : "", where,
		scope != SCOPE_WINDOW ? ""
		: q->sort_by_duration ? " ORDER BY dur DESC, start DESC, tid"
				      : " ORDER BY start DESC, tid",
		scope == SCOPE_WINDOW && q->limit ? " LIMIT :limit" : "") >= sizeof(sql))
		return zt_sq_set_err(sq, -EOVERFLOW, "summary query text too long");

	rc = sqlite3_prepare_v2(sq->db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return zt_sq_fail(sq, rc, "prepare trace summaries");
	rc = bind_named_text(stmt, ":e1", zt_resp_status_name(ZT_RS_CLIENT_ERROR));
	rc |= bind_named_text(stmt, ":e2", zt_resp_status_name(ZT_RS_SERVER_ERROR));
	rc |= bind_named_text(stmt, ":e3", zt_resp_status_name(ZT_RS_TIMEOUT));
	rc |= bind_named_u64(stmt, ":since", q->since_ns);
	if (q->service)
		rc |= bind_named_text(stmt, ":service", q->service);
	if (q->endpoint)
		rc |= bind_named_text(stmt, ":endpoint", q->endpoint);
	rc |= bind_named_u64(stmt, ":mindur", q->min_duration_ns);
	rc |= bind_named_u64(stmt, ":limit", q->limit);
	if (rc != SQLITE_OK) { /* SQLITE_OK is 0: any failure leaves a bit set */
		sqlite3_finalize(stmt);
		return zt_sq_fail(sq, rc, "bind trace summaries");
	}
	*out = stmt;
	return 0;
}

static void read_summary(sqlite3_stmt *stmt, struct zt_trace_summary *t)
{
	const char *c;

	memset(t, 0, sizeof(*t));
	c = (const char *)sqlite3_column_text(stmt, 0);
	snprintf(t->trace_id, sizeof(t->trace_id), "%s", c ? c : "");
	c = (const char *)sqlite3_column_text(stmt, 1);
	snprintf(t->root_uid, sizeof(t->root_uid), "%s", c ? c : "");
	c = (const char *)sqlite3_column_text(stmt, 2);
	snprintf(t->root_process, sizeof(t->root_process), "%s", c ? c : "");
	c = (const char *)sqlite3_column_text(stmt, 3);
	snprintf(t->root_endpoint, sizeof(t->root_endpoint), "%s", c ? c : "");
	t->start_ns = (uint64_t)sqlite3_column_int64(stmt, 4);
	t->duration_ns = (uint64_t)sqlite3_column_int64(stmt, 5);
	t->spans = (uint32_t)sqlite3_column_int64(stmt, 6);
	t->errors = (uint32_t)sqlite3_column_int64(stmt, 7);
}

/* Every trace of the window in one statement: filtered, sorted and limited
 * in SQL. */
static int traces_window(struct zt_sqlite *sq, const struct zt_trace_query *q, zt_trace_cb cb, void *ctx)
{
	sqlite3_stmt *stmt = NULL;
	struct zt_trace_summary *t = NULL;
	int rc, ret;

	ret = prepare_summaries(sq, q, SCOPE_WINDOW, &stmt);
	if (ret)
		return ret;
	t = malloc(sizeof(*t));
	if (!t) {
		ret = zt_sq_set_err(sq, -ENOMEM, "out of memory");
		goto out;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		int r;

		read_summary(stmt, t);
		r = cb(ctx, t);
		if (r) {
			ret = r < 0 ? r : 0;
			goto out;
		}
	}
	if (rc != SQLITE_DONE)
		ret = zt_sq_fail(sq, rc, "trace summaries");
out:
	free(t);
	sqlite3_finalize(stmt);
	return ret;
}

/* ---- the most recent traces --------------------------------------------- */

/* A set of trace ids (open addressing, grows at half full). */
struct id_set {
	char (*slot)[ZT_TRACE_ID_LEN];
	size_t cap, n;
};

static uint64_t id_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* 1: added, 0: already there, -ENOMEM. */
static int id_set_add(struct id_set *set, const char *id)
{
	size_t i;

	if (2 * (set->n + 1) > set->cap) {
		struct id_set big = {.cap = set->cap ? set->cap * 2 : 1024};

		big.slot = calloc(big.cap, sizeof(*big.slot));
		if (!big.slot)
			return -ENOMEM;
		for (size_t k = 0; k < set->cap; k++)
			if (set->slot[k][0])
				id_set_add(&big, set->slot[k]);
		free(set->slot);
		*set = big;
	}
	for (i = id_hash(id) & (set->cap - 1); set->slot[i][0]; i = (i + 1) & (set->cap - 1))
		if (strcmp(set->slot[i], id) == 0)
			return 0;
	snprintf(set->slot[i], ZT_TRACE_ID_LEN, "%s", id);
	set->n++;
	return 1;
}

/* Most recent first, then by id: the window query's ORDER BY. */
static int recent_before(const struct zt_trace_summary *a, const struct zt_trace_summary *b)
{
	return a->start_ns != b->start_ns ? a->start_ns > b->start_ns : strcmp(a->trace_id, b->trace_id) < 0;
}

/*
 * The N most recent traces without aggregating the whole window: spans are
 * walked newest first (the time index, backwards); each trace met for the
 * first time is summarised on its own (SCOPE_TRACE: spans_trace, or SCOPE_SPAN)
 * and kept if it is among the N most recent so far. A trace not met yet has
 * no span after the walk's position, so it started at or before it: once the
 * position is below the N-th start kept, none can enter and the walk stops.
 * Reads about the spans of the last N traces instead of the whole window.
 */
static int traces_recent(struct zt_sqlite *sq, const struct zt_trace_query *q, zt_trace_cb cb, void *ctx)
{
	sqlite3_stmt *walk = NULL, *one_trace = NULL, *one_span = NULL;
	struct zt_trace_summary *top = NULL, *t;
	struct id_set seen = {0};
	size_t n = 0;
	int rc, ret;

	top = calloc((size_t)q->limit + 1, sizeof(*top));
	if (!top)
		return zt_sq_set_err(sq, -ENOMEM, "out of memory");
	ret = prepare_summaries(sq, q, SCOPE_TRACE, &one_trace);
	if (!ret)
		ret = prepare_summaries(sq, q, SCOPE_SPAN, &one_span);
	if (ret)
		goto out;
	/* A filter on the root's process or endpoint, or on errors, holds for
	 * at least one span of a trace it keeps (its root, its error span):
	 * the walk meets only traces with such a span, and each is then
	 * summarised and filtered exactly. */
	char wsql[1024] = "SELECT s.start_ns, COALESCE(f.final, s.trace_id, s.span_uid), s.trace_id IS NULL"
			  " FROM spans s LEFT JOIN temp.zt_alias_final f ON f.alias = s.trace_id WHERE 1";
	if (q->since_ns)
		append(wsql, sizeof(wsql), " AND s.start_ns >= :since");
	if (q->service)
		append(wsql, sizeof(wsql), " AND substr(s.process, 1, length(:service)) = :service COLLATE NOCASE");
	if (q->endpoint)
		append(wsql, sizeof(wsql), " AND instr(s.endpoint, :endpoint) > 0");
	if (q->errors_only)
		append(wsql, sizeof(wsql), " AND s.response_status IN (:e1, :e2, :e3)");
	append(wsql, sizeof(wsql), " ORDER BY s.start_ns DESC");
	rc = sqlite3_prepare_v2(sq->db, wsql, -1, &walk, NULL);
	if (rc == SQLITE_OK)
		rc = bind_named_u64(walk, ":since", q->since_ns);
	if (rc == SQLITE_OK && q->service)
		rc = bind_named_text(walk, ":service", q->service);
	if (rc == SQLITE_OK && q->endpoint)
		rc = bind_named_text(walk, ":endpoint", q->endpoint);
	if (rc == SQLITE_OK && q->errors_only) {
		rc = bind_named_text(walk, ":e1", zt_resp_status_name(ZT_RS_CLIENT_ERROR));
		rc |= bind_named_text(walk, ":e2", zt_resp_status_name(ZT_RS_SERVER_ERROR));
		rc |= bind_named_text(walk, ":e3", zt_resp_status_name(ZT_RS_TIMEOUT));
	}
	if (rc != SQLITE_OK) {
		ret = zt_sq_fail(sq, rc, "prepare the span walk");
		goto out;
	}
	while ((rc = sqlite3_step(walk)) == SQLITE_ROW) {
		int64_t at = sqlite3_column_int64(walk, 0);
		const char *tid = (const char *)sqlite3_column_text(walk, 1);
		sqlite3_stmt *one = sqlite3_column_int(walk, 2) ? one_span : one_trace;
		int r;

		if (n == q->limit && (uint64_t)at < top[n - 1].start_ns)
			break;
		if (!tid || strlen(tid) >= ZT_TRACE_ID_LEN)
			continue;
		r = id_set_add(&seen, tid);
		if (r < 0) {
			ret = zt_sq_set_err(sq, r, "out of memory for trace ids");
			goto out;
		}
		if (r == 0)
			continue;
		sqlite3_reset(one);
		rc = bind_named_text(one, ":tid", tid);
		if (rc == SQLITE_OK)
			rc = bind_named_u64(one, ":t0", (uint64_t)at);
		if (rc != SQLITE_OK) {
			ret = zt_sq_fail(sq, rc, "bind trace summary");
			goto out;
		}
		rc = sqlite3_step(one);
		if (rc == SQLITE_DONE) /* filtered out: started before since */
			continue;
		if (rc != SQLITE_ROW) {
			ret = zt_sq_fail(sq, rc, "trace summary");
			goto out;
		}
		/* insert in order into top[0..n], keep the first limit */
		t = &top[n];
		read_summary(one, t);
		for (size_t k = n; k > 0 && recent_before(&top[k], &top[k - 1]); k--) {
			struct zt_trace_summary tmp = top[k];

			top[k] = top[k - 1];
			top[k - 1] = tmp;
		}
		if (n < q->limit)
			n++;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		ret = zt_sq_fail(sq, rc, "span walk");
		goto out;
	}
	for (size_t k = 0; k < n; k++) {
		int r = cb(ctx, &top[k]);

		if (r) {
			ret = r < 0 ? r : 0;
			break;
		}
	}
out:
	sqlite3_finalize(walk);
	sqlite3_finalize(one_trace);
	sqlite3_finalize(one_span);
	free(seen.slot);
	free(top);
	return ret;
}

/* The walk pays a query per trace met: worth it for a short list of the
 * most recent traces. A minimum duration has no span that must match it
 * (the walk would meet every trace): the window query then. */
#define ZT_RECENT_MAX 1000

int zt_sq_query_traces(struct zt_store *st, const struct zt_trace_query *q, zt_trace_cb cb, void *ctx)
{
	struct zt_sqlite *sq = (struct zt_sqlite *)st;
	int ret;

	if (!sq->db)
		return zt_sq_set_err(sq, -EBADF, "store is not open");
	ret = register_functions(sq);
	if (!ret)
		ret = fill_alias_final(sq);
	if (ret)
		return ret;
	if (!q->sort_by_duration && q->limit > 0 && q->limit <= ZT_RECENT_MAX && !q->min_duration_ns)
		return traces_recent(sq, q, cb, ctx);
	return traces_window(sq, q, cb, ctx);
}
