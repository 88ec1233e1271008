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
 * A span by uid. spans_start_uid holds span_uid, so the inner SELECT scans
 * that index (~35 bytes a span), not the table (~400): no index on span_uid
 * alone, which would cost every insert a random page (see store_sqlite.c).
 * 1: found (*start_ns, trace_id: "" when the span has none); 0: no such span.
 */
static int find_span(struct zt_sqlite *sq, const char *uid, int64_t *start_ns, char trace_id[ZT_TRACE_ID_LEN])
{
	sqlite3_stmt *stmt = NULL;
	int rc, ret = 0;

	rc = sqlite3_prepare_v2(sq->db,
				"SELECT start_ns, trace_id FROM spans WHERE rowid IN"
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
 * One pass over the spans in the time window (the time index when --since):
 *  w: each span with its trace (final id through temp.zt_alias_final, its
 *     own uid when it has no trace_id), whether it has a parent (late link
 *     applied) and whether its status is an error;
 *  r: the spans of each trace ranked: parentless first, then by start: rank 1
 *     is the root (the first span when every span has a parent, its root
 *     lost);
 *  g: one row per trace.
 * With a since bound, a trace with spans before it started before it: the
 * two NOT EXISTS probe spans_trace (trace_id, start_ns) for the trace's id
 * and each of its aliases, one index seek each.
 */
int zt_sq_query_traces(struct zt_store *st, const struct zt_trace_query *q, zt_trace_cb cb, void *ctx)
{
	struct zt_sqlite *sq = (struct zt_sqlite *)st;
	char sql[4096], where[1024] = "1";
	sqlite3_stmt *stmt = NULL;
	struct zt_trace_summary *t = NULL;
	int rc, ret;

	if (!sq->db)
		return zt_sq_set_err(sq, -EBADF, "store is not open");
	ret = fill_alias_final(sq);
	if (ret)
		return ret;
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
		"WITH w AS (SELECT COALESCE(f.final, s.trace_id, s.span_uid) AS tid, s.span_uid AS uid,"
		" s.start_ns AS t0, s.end_ns AS t1, s.process AS process, s.endpoint AS endpoint,"
		" s.response_status IN (:e1, :e2, :e3) AS err,"
		" (CASE WHEN l.child_uid IS NULL THEN %s ELSE l.parent_uid END) IS NOT NULL AS has_parent"
		" FROM spans s LEFT JOIN temp.zt_alias_final f ON f.alias = s.trace_id"
		" LEFT JOIN span_links l ON l.child_uid = s.span_uid%s),"
		" r AS (SELECT *, row_number() OVER (PARTITION BY tid ORDER BY has_parent, t0, uid) AS rn FROM w),"
		" g AS (SELECT tid, max(CASE WHEN rn = 1 THEN uid END) AS root_uid,"
		" max(CASE WHEN rn = 1 THEN process END) AS root_process,"
		" max(CASE WHEN rn = 1 THEN endpoint END) AS root_endpoint,"
		" min(t0) AS start, max(max(t1) - min(t0), 0) AS dur, count(*) AS n, sum(err) AS errs"
		" FROM r GROUP BY tid)"
		" SELECT tid, root_uid, root_process, root_endpoint, start, dur, n, errs FROM g WHERE %s"
		" ORDER BY %s, tid%s",
		sq->version >= 4 ? "s.parent_uid" : "NULL", q->since_ns ? " WHERE s.start_ns >= :since" : "", where,
		q->sort_by_duration ? "dur DESC, start DESC" : "start DESC", q->limit ? " LIMIT :limit" : "") >=
	    sizeof(sql))
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
		ret = zt_sq_fail(sq, rc, "bind trace summaries");
		goto out;
	}
	t = malloc(sizeof(*t));
	if (!t) {
		ret = zt_sq_set_err(sq, -ENOMEM, "out of memory");
		goto out;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *c;
		int r;

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
