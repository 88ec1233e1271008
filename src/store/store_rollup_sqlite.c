/* SPDX-License-Identifier: MIT */
/*
 * store_rollup_sqlite.c - the SQLite backend's RED rollups (store.h:
 * put_rollups, query_red, retain_rollups). One table, one row per series
 * and time bucket (WITHOUT ROWID, keyed by resolution and time first, so a
 * range query and a retention delete are range scans). A row written
 * twice for one bucket (two flushes inside 10 s) is merged in place by an
 * UPSERT: counts added, histograms merged by zt_hist_merge(), an SQL
 * function registered on the writer's connection. Histograms are stored
 * in hist.h's sparse form; the protocol as its name (readable in sqlite3).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/red_agg.h"
#include "store/sqlite_int.h"
#include "trace/hist.h"

#define ROLLUP_MAX_QUEUED 65536 /* rows waiting for a flush; more: flushed first */

static const char rollup_schema[] =
    "CREATE TABLE IF NOT EXISTS rollup (res INTEGER NOT NULL, bucket_ns INTEGER NOT NULL, kind INTEGER NOT "
    "NULL,"
    " host TEXT NOT NULL, pid INTEGER NOT NULL, service TEXT NOT NULL, protocol TEXT NOT NULL,"
    " endpoint TEXT NOT NULL, peer TEXT NOT NULL, peer_host TEXT NOT NULL, peer_pid INTEGER NOT NULL,"
    " requests INTEGER NOT NULL, err_client INTEGER NOT NULL, err_server INTEGER NOT NULL,"
    " err_timeout INTEGER NOT NULL, sum_ns INTEGER NOT NULL, hist BLOB NOT NULL,"
    " PRIMARY KEY (res, bucket_ns, kind, host, pid, service, protocol, endpoint, peer, peer_host, peer_pid))"
    " WITHOUT ROWID";

#define KEY_COLS "res, bucket_ns, kind, host, pid, service, protocol, endpoint, peer, peer_host, peer_pid"
#define VAL_COLS "requests, err_client, err_server, err_timeout, sum_ns, hist"

static const char upsert_sql[] =
    "INSERT INTO rollup (" KEY_COLS ", " VAL_COLS
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
    " ?13, ?14, ?15, ?16, ?17) ON CONFLICT (" KEY_COLS
    ") DO UPDATE SET requests = requests + excluded.requests,"
    " err_client = err_client + excluded.err_client, err_server = err_server + excluded.err_server,"
    " err_timeout = err_timeout + excluded.err_timeout, sum_ns = sum_ns + excluded.sum_ns,"
    " hist = zt_hist_merge(hist, excluded.hist)";

/* zt_hist_merge(stored, new): the merged histogram. A damaged stored blob
 * (a corrupt file) is replaced by the new one rather than failing every
 * later flush of that series. */
static void sql_hist_merge(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	struct zt_hist *h = calloc(1, sizeof(*h));
	uint8_t *out = malloc(ZT_HIST_ENC_MAX);
	size_t n;

	(void)argc;
	if (!h || !out) {
		free(h);
		free(out);
		sqlite3_result_error_nomem(cx);
		return;
	}
	for (int i = 0; i < 2; i++) {
		const void *b = sqlite3_value_blob(argv[i]);
		int len = sqlite3_value_bytes(argv[i]);
		if (b && len > 0)
			(void)zt_hist_decode_merge(h, b, (size_t)len); /* damaged: adds nothing */
	}
	n = zt_hist_encode(h, out, ZT_HIST_ENC_MAX);
	sqlite3_result_blob(cx, out, (int)n, free);
	free(h);
}

int zt_sq_rollup_prepare(struct zt_sqlite *sq)
{
	int rc = sqlite3_create_function(sq->db, "zt_hist_merge", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
					 sql_hist_merge, NULL, NULL);

	if (rc != SQLITE_OK)
		return zt_sq_fail(sq, rc, "register zt_hist_merge");
	rc = sqlite3_exec(sq->db, rollup_schema, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return zt_sq_fail(sq, rc, "create the rollup table");
	rc = sqlite3_prepare_v3(sq->db, upsert_sql, -1, SQLITE_PREPARE_PERSISTENT, &sq->upsert_rollup, NULL);
	return rc == SQLITE_OK ? 0 : zt_sq_fail(sq, rc, "prepare the rollup upsert");
}

void zt_sq_rollup_close(struct zt_sqlite *sq)
{
	sqlite3_finalize(sq->upsert_rollup);
	sq->upsert_rollup = NULL;
	free(sq->rollups);
	sq->rollups = NULL;
	sq->nrollups = sq->caprollups = 0;
}

static int bind_row(struct zt_sqlite *sq, sqlite3_stmt *st, const struct zt_rollup_row *r, uint8_t *buf)
{
	const struct zt_rollup_key *k = &r->k;
	size_t n = zt_hist_encode(&r->v.hist, buf, ZT_HIST_ENC_MAX);
	int rc = SQLITE_OK;

	rc |= sqlite3_bind_int64(st, 1, k->res_s);
	rc |= sqlite3_bind_int64(st, 2, (int64_t)k->bucket_ns);
	rc |= sqlite3_bind_int64(st, 3, k->kind);
	rc |= sqlite3_bind_text(st, 4, k->host, -1, SQLITE_STATIC);
	rc |= sqlite3_bind_int64(st, 5, k->pid);
	rc |= sqlite3_bind_text(st, 6, k->service, -1, SQLITE_STATIC);
	rc |= sqlite3_bind_text(st, 7, zt_l7_name(k->l7), -1, SQLITE_STATIC);
	rc |= sqlite3_bind_text(st, 8, k->endpoint, -1, SQLITE_STATIC);
	rc |= sqlite3_bind_text(st, 9, k->peer, -1, SQLITE_STATIC);
	rc |= sqlite3_bind_text(st, 10, k->peer_host, -1, SQLITE_STATIC);
	rc |= sqlite3_bind_int64(st, 11, k->peer_pid);
	rc |= sqlite3_bind_int64(st, 12, (int64_t)r->v.requests);
	for (int i = 0; i < ZT_RERR__COUNT; i++)
		rc |= sqlite3_bind_int64(st, 13 + i, (int64_t)r->v.errors[i]);
	rc |= sqlite3_bind_int64(st, 16, (int64_t)r->v.sum_ns);
	rc |= sqlite3_bind_blob(st, 17, buf, (int)n, SQLITE_STATIC);
	return rc == SQLITE_OK ? 0 : zt_sq_fail(sq, SQLITE_MISUSE, "bind a rollup row");
}

int zt_sq_rollup_write(struct zt_sqlite *sq)
{
	uint8_t *buf;
	int err = 0;

	if (!sq->nrollups)
		return 0;
	if (!sq->upsert_rollup)
		return zt_sq_set_err(sq, -EROFS, "store is open read-only");
	buf = malloc(ZT_HIST_ENC_MAX);
	if (!buf)
		return zt_sq_set_err(sq, -ENOMEM, "out of memory writing rollups");
	for (size_t i = 0; i < sq->nrollups && !err; i++) {
		int rc;
		if ((err = bind_row(sq, sq->upsert_rollup, &sq->rollups[i], buf)))
			break;
		rc = sqlite3_step(sq->upsert_rollup);
		sqlite3_reset(sq->upsert_rollup);
		if (rc != SQLITE_DONE)
			err = zt_sq_fail(sq, rc, "write rollups");
	}
	sqlite3_clear_bindings(sq->upsert_rollup);
	free(buf);
	return err;
}

void zt_sq_rollup_written(struct zt_sqlite *sq)
{
	sq->nrollups = 0;
}

int zt_sq_put_rollups(struct zt_store *st, const struct zt_rollup_row *rows, size_t n)
{
	struct zt_sqlite *sq = (struct zt_sqlite *)st;

	if (!sq->db || !sq->upsert_rollup)
		return zt_sq_set_err(sq, sq->db ? -EROFS : -EBADF, "store is not open for writing");
	if (sq->nrollups + n > ROLLUP_MAX_QUEUED) {
		int err = st->ops->flush(st);
		if (err)
			return err;
		if (n > ROLLUP_MAX_QUEUED)
			return zt_sq_set_err(sq, -E2BIG, "%zu rollup rows at once (at most %d)", n,
					     ROLLUP_MAX_QUEUED);
	}
	if (sq->nrollups + n > sq->caprollups) {
		size_t ncap = sq->caprollups ? sq->caprollups : 64;
		struct zt_rollup_row *nr;
		while (ncap < sq->nrollups + n)
			ncap *= 2;
		nr = realloc(sq->rollups, ncap * sizeof(*nr));
		if (!nr)
			return zt_sq_set_err(sq, -ENOMEM, "out of memory for the rollup batch");
		sq->rollups = nr;
		sq->caprollups = ncap;
	}
	memcpy(&sq->rollups[sq->nrollups], rows, n * sizeof(*rows));
	sq->nrollups += n;
	return 0;
}

static void col_text(sqlite3_stmt *st, int col, char *out, size_t size)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	snprintf(out, size, "%s", t ? (const char *)t : "");
}

int zt_sq_query_red(struct zt_store *st, const struct zt_red_query *q, zt_red_cb cb, void *ctx)
{
	static const char sql[] = "SELECT " KEY_COLS ", " VAL_COLS " FROM rollup WHERE res = ?1 AND kind = ?2"
				  " AND bucket_ns >= ?3 AND bucket_ns < ?4 AND (?5 IS NULL OR service = ?5)"
				  " AND (?6 IS NULL OR endpoint = ?6) AND (?7 IS NULL OR peer = ?7)"
				  " AND (?8 IS NULL OR host = ?8) AND (?9 = 0 OR pid = ?9)";
	struct zt_sqlite *sq = (struct zt_sqlite *)st;
	struct zt_red_agg *agg = NULL;
	struct zt_rollup_row *row = NULL;
	sqlite3_stmt *stmt = NULL;
	uint64_t w, since;
	int64_t tables = 0;
	int rc, err = 0;

	if (!sq->db)
		return zt_sq_set_err(sq, -EBADF, "store is not open");
	if (q->kind >= ZT_RK__COUNT)
		return zt_sq_set_err(sq, -EINVAL, "unknown rollup kind %u", q->kind);
	rc = sqlite3_prepare_v2(sq->db,
				"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'rollup'",
				-1, &stmt, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW)
		tables = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	stmt = NULL;
	if (rc != SQLITE_ROW)
		return zt_sq_fail(sq, rc, "look for rollups");
	if (!tables)
		return 0; /* a file from before rollups: none */
	agg = zt_red_agg_new(q);
	row = calloc(1, sizeof(*row));
	if (!agg || !row) {
		err = zt_sq_set_err(sq, -ENOMEM, "out of memory");
		goto cleanup;
	}
	w = zt_red_res_for(q) * 1000000000ULL;
	since = q->since_ns - q->since_ns % w;
	rc = sqlite3_prepare_v2(sq->db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK) {
		err = zt_sq_fail(sq, rc, "query rollups");
		goto cleanup;
	}
	sqlite3_bind_int64(stmt, 1, zt_red_res_for(q));
	sqlite3_bind_int64(stmt, 2, q->kind);
	sqlite3_bind_int64(stmt, 3, since > INT64_MAX ? INT64_MAX : (int64_t)since);
	sqlite3_bind_int64(stmt, 4,
			   !q->until_ns || q->until_ns > INT64_MAX ? INT64_MAX : (int64_t)q->until_ns);
	if (q->service)
		sqlite3_bind_text(stmt, 5, q->service, -1, SQLITE_STATIC);
	if (q->endpoint)
		sqlite3_bind_text(stmt, 6, q->endpoint, -1, SQLITE_STATIC);
	if (q->peer)
		sqlite3_bind_text(stmt, 7, q->peer, -1, SQLITE_STATIC);
	if (q->host)
		sqlite3_bind_text(stmt, 8, q->host, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 9, q->pid);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct zt_rollup_key *k = &row->k;
		const void *blob;
		int len;

		memset(k, 0, sizeof(*k)); /* row->v.hist stays empty: blobs go straight to the group */
		k->res_s = (uint32_t)sqlite3_column_int64(stmt, 0);
		k->bucket_ns = (uint64_t)sqlite3_column_int64(stmt, 1);
		k->kind = (uint8_t)sqlite3_column_int64(stmt, 2);
		col_text(stmt, 3, k->host, sizeof(k->host));
		k->pid = (uint32_t)sqlite3_column_int64(stmt, 4);
		col_text(stmt, 5, k->service, sizeof(k->service));
		k->l7 = (uint8_t)zt_l7_from_name((const char *)sqlite3_column_text(stmt, 6));
		col_text(stmt, 7, k->endpoint, sizeof(k->endpoint));
		col_text(stmt, 8, k->peer, sizeof(k->peer));
		col_text(stmt, 9, k->peer_host, sizeof(k->peer_host));
		k->peer_pid = (uint32_t)sqlite3_column_int64(stmt, 10);
		row->v.requests = (uint64_t)sqlite3_column_int64(stmt, 11);
		for (int i = 0; i < ZT_RERR__COUNT; i++)
			row->v.errors[i] = (uint64_t)sqlite3_column_int64(stmt, 12 + i);
		row->v.sum_ns = (uint64_t)sqlite3_column_int64(stmt, 15);
		blob = sqlite3_column_blob(stmt, 16);
		len = sqlite3_column_bytes(stmt, 16);
		/* a damaged histogram (corrupt file) adds the row's counts but
		 * nothing to the histogram: quantiles then come from the rest */
		if ((err = zt_red_agg_add_blob(agg, k, &row->v, blob, len > 0 ? (size_t)len : 0))) {
			if (err == -E2BIG)
				zt_sq_set_err(
				    sq, err,
				    "more than %d rows in the answer: narrow the range or raise the step",
				    ZT_RED_MAX_ROWS);
			else
				zt_sq_set_err(sq, err, "out of memory");
			goto cleanup;
		}
	}
	if (rc != SQLITE_DONE) {
		err = zt_sq_fail(sq, rc, "read rollups");
		goto cleanup;
	}
	err = zt_red_agg_emit(agg, cb, ctx);
cleanup:
	sqlite3_finalize(stmt);
	zt_red_agg_free(agg);
	free(row);
	return err;
}

int zt_sq_retain_rollups(struct zt_store *st, uint32_t res_s, uint64_t min_bucket_ns, uint64_t *dropped)
{
	struct zt_sqlite *sq = (struct zt_sqlite *)st;
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (!sq->db || !sq->upsert_rollup)
		return zt_sq_set_err(sq, sq->db ? -EROFS : -EBADF, "store is not open for writing");
	rc = sqlite3_prepare_v2(sq->db, "DELETE FROM rollup WHERE res = ?1 AND bucket_ns < ?2", -1, &stmt,
				NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(stmt, 1, res_s);
		sqlite3_bind_int64(stmt, 2, min_bucket_ns > INT64_MAX ? INT64_MAX : (int64_t)min_bucket_ns);
		rc = sqlite3_step(stmt);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return zt_sq_fail(sq, rc, "rollup retention");
	*dropped += (uint64_t)sqlite3_changes(sq->db);
	return 0;
}
