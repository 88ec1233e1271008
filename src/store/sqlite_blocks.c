/* SPDX-License-Identifier: MIT */
/*
 * sqlite_blocks.c - the embedded store's span blocks (schema version 5):
 * writing them, reading one back, retention and the conversion of older
 * files. See sqlite_int.h for the layout; sqlite_vtab.c reads them as SQL.
 *
 * Why blocks: a row per span cost ~6 us of CPU in SQLite alone (42 columns
 * bound and packed, a unique index and a trace index per span), more than
 * all the rest of ingest. A block is one row per ZT_SQ_BLOCK_SPANS spans,
 * one trace_blocks row per trace in it, and a zstd frame that is ~4x
 * smaller than the rows were.
 *
 * Duplicates (store.h: a span whose (start_ns, span_uid) is stored already
 * changes nothing). There is no per-span index to ask, so the writer keeps
 * the identities of the spans it wrote last in memory, in two generations
 * of RECENT_CAP keys (64-bit hashes of the identity). Every stored span that
 * started after `horizon` is in them: when a generation is dropped, the
 * horizon moves up to the latest start it held; at open (or after a failed
 * write) they are filled from the newest blocks, and the horizon is the
 * latest start of the older ones. A span that started at or before the
 * horizon (a resend of old data, a very long request) is looked up in the
 * blocks whose start range holds its start: their uid hashes first, then
 * the block itself.
 */
#include "store/sqlite_int.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "util/hash.h"

#define RECENT_CAP (1u << 18) /* identities per generation: 8 MiB for both */
#define RECENT_SLOTS (RECENT_CAP * 2)
#define LOOKAHEAD 8 /* records whose identity slots are fetched ahead */
#define ZSTD_LEVEL 1

struct recent_gen {
	uint64_t *slot; /* RECENT_SLOTS, 0: empty */
	uint32_t n;
	uint64_t max_start;
};

struct zt_sq_bw {
	ZSTD_CCtx *cctx;
	uint8_t *raw; /* the block being built: encoded records */
	size_t rawlen, rawcap;
	uint64_t uidh[ZT_SQ_BLOCK_SPANS + 1]; /* little-endian hashes of the uids, then their check */
	uint32_t n;
	uint64_t smin, smax;
	uint8_t *z;
	size_t zcap;
	uint32_t tset[2 * ZT_SQ_BLOCK_SPANS]; /* trace ids seen in the block: record index + 1 */
	size_t offs[ZT_SQ_BLOCK_SPANS];
	struct recent_gen g[2];
	int cur;
	uint64_t horizon;
	int seeded;
	sqlite3_stmt *ins_block, *ins_trace, *get_block, *near;
};

static const char schema_v5[] =
    "CREATE TABLE IF NOT EXISTS span_blocks (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " start_min INTEGER NOT NULL, start_max INTEGER NOT NULL, n INTEGER NOT NULL,"
    " uids BLOB NOT NULL, data BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS span_blocks_min ON span_blocks(start_min);"
    "CREATE INDEX IF NOT EXISTS span_blocks_max ON span_blocks(start_max);"
    "CREATE TABLE IF NOT EXISTS trace_blocks (trace_id TEXT NOT NULL, block INTEGER NOT NULL,"
    " PRIMARY KEY (trace_id, block)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS trace_blocks_block ON trace_blocks(block);";

static int exec(struct zt_sqlite *sq, const char *sql)
{
	int rc = sqlite3_exec(sq->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : zt_sq_fail(sq, rc, "schema");
}

int zt_sq_blocks_create(struct zt_sqlite *sq)
{
	return exec(sq, schema_v5);
}

/* ---- reading a block --------------------------------------------------- */

void zt_sq_block_unref(struct zt_sq_block *b)
{
	if (b && --b->refs == 0) {
		free(b->raw);
		free(b->k);
		free(b);
	}
}

int zt_sq_block_load(sqlite3_stmt *get, int64_t id, struct zt_sq_block **out)
{
	struct zt_sq_block *b = NULL;
	const void *z;
	unsigned long long size;
	int zlen, n, rc, err = 0;
	size_t off = 0;

	*out = NULL;
	sqlite3_bind_int64(get, 1, id);
	rc = sqlite3_step(get);
	if (rc != SQLITE_ROW) {
		err = rc == SQLITE_DONE ? -ENOENT : -EIO;
		goto out;
	}
	n = sqlite3_column_int(get, 0);
	z = sqlite3_column_blob(get, 1);
	zlen = sqlite3_column_bytes(get, 1);
	size = z ? ZSTD_getFrameContentSize(z, (size_t)zlen) : ZSTD_CONTENTSIZE_ERROR;
	if (n <= 0 || n > ZT_SQ_BLOCK_SPANS || size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
	    size > (unsigned long long)n * ZT_SPAN_CODEC_MAX) {
		err = -EILSEQ;
		goto out;
	}
	b = calloc(1, sizeof(*b));
	if (!b || !(b->raw = malloc(size ? size : 1)) || !(b->k = malloc((size_t)n * sizeof(*b->k)))) {
		err = -ENOMEM;
		goto out;
	}
	b->id = id;
	b->n = (uint32_t)n;
	b->refs = 1;
	if (ZSTD_decompress(b->raw, size, z, (size_t)zlen) != size) {
		err = -EILSEQ;
		goto out;
	}
	for (uint32_t i = 0; i < b->n; i++) {
		if (zt_span_keys(b->raw + off, size - off, &b->k[i])) {
			err = -EILSEQ;
			goto out;
		}
		off += b->k[i].size;
	}
	if (off != size)
		err = -EILSEQ;
out:
	sqlite3_reset(get);
	if (err) {
		if (b) {
			b->refs = 1;
			zt_sq_block_unref(b);
		}
		return err;
	}
	*out = b;
	return 0;
}

int zt_sq_uids_check(const void *uids, int bytes)
{
	uint64_t check;

	if (!uids || bytes < 8 || bytes % 8)
		return -1;
	memcpy(&check, (const uint8_t *)uids + bytes - 8, 8);
	return le64toh(check) == zt_hash_bytes(uids, (unsigned long)bytes - 8) ? bytes / 8 - 1 : -1;
}

/* ---- recent identities ------------------------------------------------- */

static uint64_t ident(uint64_t start_ns, const char *uid, size_t len)
{
	uint64_t k = zt_mix64(zt_hash_bytes(uid, len) ^ zt_mix64(start_ns));
	return k ? k : 1;
}

static int gen_has(const struct recent_gen *g, uint64_t k)
{
	for (uint32_t i = (uint32_t)k & (RECENT_SLOTS - 1);; i = (i + 1) & (RECENT_SLOTS - 1)) {
		if (g->slot[i] == k)
			return 1;
		if (!g->slot[i])
			return 0;
	}
}

static void recent_prefetch(const struct zt_sq_bw *w, uint64_t k)
{
	__builtin_prefetch(&w->g[0].slot[(uint32_t)k & (RECENT_SLOTS - 1)]);
	__builtin_prefetch(&w->g[1].slot[(uint32_t)k & (RECENT_SLOTS - 1)]);
}

static int recent_has(const struct zt_sq_bw *w, uint64_t k)
{
	return gen_has(&w->g[w->cur], k) || gen_has(&w->g[!w->cur], k);
}

static void recent_add(struct zt_sq_bw *w, uint64_t k, uint64_t start_ns)
{
	struct recent_gen *g = &w->g[w->cur];
	uint32_t i;

	if (g->n == RECENT_CAP) { /* the older generation goes: the horizon moves up */
		struct recent_gen *o = &w->g[!w->cur];
		if (o->max_start > w->horizon)
			w->horizon = o->max_start;
		memset(o->slot, 0, RECENT_SLOTS * sizeof(uint64_t));
		o->n = 0;
		o->max_start = 0;
		w->cur = !w->cur;
		g = o;
	}
	for (i = (uint32_t)k & (RECENT_SLOTS - 1); g->slot[i]; i = (i + 1) & (RECENT_SLOTS - 1))
		if (g->slot[i] == k)
			return;
	g->slot[i] = k;
	g->n++;
	if (start_ns > g->max_start)
		g->max_start = start_ns;
}

static void recent_clear(struct zt_sq_bw *w)
{
	for (int i = 0; i < 2; i++) {
		memset(w->g[i].slot, 0, RECENT_SLOTS * sizeof(uint64_t));
		w->g[i].n = 0;
		w->g[i].max_start = 0;
	}
	w->cur = 0;
	w->horizon = 0;
	w->seeded = 0;
}

/* The identities of the newest blocks, up to one generation; the horizon
 * is the latest start of the blocks left out. */
static int recent_seed(struct zt_sqlite *sq)
{
	struct zt_sq_bw *w = sq->bw;
	sqlite3_stmt *st = NULL;
	int64_t last = -1;
	uint32_t room = RECENT_CAP;
	int rc, err = 0;

	recent_clear(w);
	rc = sqlite3_prepare_v2(sq->db, "SELECT id, n FROM span_blocks ORDER BY id DESC", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return zt_sq_fail(sq, rc, "read span blocks");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		uint32_t n = (uint32_t)sqlite3_column_int(st, 1);
		struct zt_sq_block *b;

		if (n > room)
			break;
		if ((err = zt_sq_block_load(w->get_block, id, &b)))
			break;
		for (uint32_t i = 0; i < b->n; i++)
			recent_add(w, ident(b->k[i].start_ns, b->k[i].uid, b->k[i].uid_len), b->k[i].start_ns);
		zt_sq_block_unref(b);
		room -= n;
		last = id;
	}
	sqlite3_finalize(st);
	if (err)
		return err == -EILSEQ ? zt_sq_set_err(sq, err, "%s: a span block is damaged", sq->path)
				      : zt_sq_set_err(sq, err, "reading span blocks failed");
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return zt_sq_fail(sq, rc, "read span blocks");
	if (rc == SQLITE_ROW) { /* blocks left out */
		rc = sqlite3_prepare_v2(sq->db, "SELECT max(start_max) FROM span_blocks WHERE id < ?1", -1, &st, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_int64(st, 1, last < 0 ? INT64_MAX : last);
			if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
				w->horizon = (uint64_t)sqlite3_column_int64(st, 0);
				rc = SQLITE_OK;
			}
		}
		sqlite3_finalize(st);
		if (rc != SQLITE_OK)
			return zt_sq_fail(sq, rc, "read span blocks");
	}
	w->seeded = 1;
	return 0;
}

/* A span at or before the horizon: is it in a stored block? 1 yes, 0 no. */
static int stored_before(struct zt_sqlite *sq, const struct zt_span_keys *s)
{
	struct zt_sq_bw *w = sq->bw;
	uint64_t h = htole64(zt_hash_bytes(s->uid, s->uid_len));
	int rc, found = 0, err = 0;

	sqlite3_bind_int64(w->near, 1, (int64_t)s->start_ns);
	while (!found && !err && (rc = sqlite3_step(w->near)) == SQLITE_ROW) {
		const uint64_t *u = sqlite3_column_blob(w->near, 1);
		int nb = zt_sq_uids_check(u, sqlite3_column_bytes(w->near, 1));
		struct zt_sq_block *b;

		if (nb < 0) {
			err = -EILSEQ;
			break;
		}
		for (int i = 0; i < nb; i++) {
			uint64_t v;
			memcpy(&v, u + i, 8);
			if (v != h)
				continue;
			if ((err = zt_sq_block_load(w->get_block, sqlite3_column_int64(w->near, 0), &b)))
				break;
			for (uint32_t j = 0; j < b->n && !found; j++)
				found = b->k[j].start_ns == s->start_ns && b->k[j].uid_len == s->uid_len &&
					!memcmp(b->k[j].uid, s->uid, s->uid_len);
			zt_sq_block_unref(b);
			break;
		}
	}
	if (!err && !found && rc != SQLITE_DONE && rc != SQLITE_ROW)
		err = zt_sq_fail(sq, rc, "duplicate check");
	else if (err)
		err = zt_sq_set_err(sq, err, "duplicate check: span block unreadable (%s)", strerror(-err));
	sqlite3_reset(w->near);
	return err ? err : found;
}

/* ---- writing ----------------------------------------------------------- */

int zt_sq_blocks_prepare(struct zt_sqlite *sq)
{
	struct zt_sq_bw *w = calloc(1, sizeof(*w));
	int rc;

	if (!w)
		return zt_sq_set_err(sq, -ENOMEM, "out of memory for the block writer");
	sq->bw = w;
	w->cctx = ZSTD_createCCtx();
	for (int i = 0; i < 2; i++)
		w->g[i].slot = calloc(RECENT_SLOTS, sizeof(uint64_t));
	if (!w->cctx || !w->g[0].slot || !w->g[1].slot)
		return zt_sq_set_err(sq, -ENOMEM, "out of memory for the block writer");
	/* a checksum per block: damage inside one is found when it is read */
	ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, ZSTD_LEVEL);
	ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
	rc = sqlite3_prepare_v3(sq->db,
				"INSERT INTO span_blocks (start_min, start_max, n, uids, data) VALUES (?1, ?2, ?3, ?4, ?5)",
				-1, SQLITE_PREPARE_PERSISTENT, &w->ins_block, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v3(sq->db, "INSERT OR IGNORE INTO trace_blocks (trace_id, block) VALUES (?1, ?2)",
					-1, SQLITE_PREPARE_PERSISTENT, &w->ins_trace, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v3(sq->db, "SELECT n, data FROM span_blocks WHERE id = ?1", -1,
					SQLITE_PREPARE_PERSISTENT, &w->get_block, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v3(sq->db,
					"SELECT id, uids FROM span_blocks WHERE start_max >= ?1 AND start_min <= ?1", -1,
					SQLITE_PREPARE_PERSISTENT, &w->near, NULL);
	return rc == SQLITE_OK ? 0 : zt_sq_fail(sq, rc, "prepare");
}

void zt_sq_blocks_close(struct zt_sqlite *sq)
{
	struct zt_sq_bw *w = sq->bw;

	if (!w)
		return;
	sqlite3_finalize(w->ins_block);
	sqlite3_finalize(w->ins_trace);
	sqlite3_finalize(w->get_block);
	sqlite3_finalize(w->near);
	ZSTD_freeCCtx(w->cctx);
	free(w->raw);
	free(w->z);
	free(w->g[0].slot);
	free(w->g[1].slot);
	free(w);
	sq->bw = NULL;
}

void zt_sq_blocks_abort(struct zt_sqlite *sq)
{
	if (!sq->bw)
		return;
	sq->bw->n = 0;
	sq->bw->rawlen = 0;
	recent_clear(sq->bw); /* it may name spans the rollback undid */
}

/* The distinct trace ids of the block being built, one trace_blocks row each. */
static int write_traces(struct zt_sqlite *sq, int64_t id)
{
	struct zt_sq_bw *w = sq->bw;
	const uint32_t mask = 2 * ZT_SQ_BLOCK_SPANS - 1;
	int rc = SQLITE_OK;

	memset(w->tset, 0, sizeof(w->tset));
	for (uint32_t r = 0; r < w->n && rc == SQLITE_OK; r++) {
		struct zt_span_keys k, o;
		uint32_t i;

		zt_span_keys(w->raw + w->offs[r], w->rawlen - w->offs[r], &k);
		if (!k.trace_len)
			continue;
		for (i = (uint32_t)zt_hash_bytes(k.trace, k.trace_len) & mask; w->tset[i]; i = (i + 1) & mask) {
			zt_span_keys(w->raw + w->offs[w->tset[i] - 1], w->rawlen - w->offs[w->tset[i] - 1], &o);
			if (o.trace_len == k.trace_len && !memcmp(o.trace, k.trace, k.trace_len))
				break;
		}
		if (w->tset[i])
			continue;
		w->tset[i] = r + 1;
		sqlite3_bind_text(w->ins_trace, 1, k.trace, k.trace_len, SQLITE_STATIC);
		sqlite3_bind_int64(w->ins_trace, 2, id);
		rc = sqlite3_step(w->ins_trace);
		sqlite3_reset(w->ins_trace);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
	}
	return rc == SQLITE_OK ? 0 : zt_sq_fail(sq, rc, "insert trace block");
}

/* The block being built -> one span_blocks row (and its trace_blocks). */
static int emit_block(struct zt_sqlite *sq)
{
	struct zt_sq_bw *w = sq->bw;
	size_t bound = ZSTD_compressBound(w->rawlen), zl;
	int rc, err;

	if (!w->n)
		return 0;
	if (bound > w->zcap) {
		uint8_t *nz = realloc(w->z, bound);
		if (!nz)
			return zt_sq_set_err(sq, -ENOMEM, "out of memory for a span block");
		w->z = nz;
		w->zcap = bound;
	}
	zl = ZSTD_compress2(w->cctx, w->z, w->zcap, w->raw, w->rawlen);
	if (ZSTD_isError(zl))
		return zt_sq_set_err(sq, -EIO, "compressing a span block: %s", ZSTD_getErrorName(zl));
	sqlite3_bind_int64(w->ins_block, 1, (int64_t)w->smin);
	sqlite3_bind_int64(w->ins_block, 2, (int64_t)w->smax);
	sqlite3_bind_int(w->ins_block, 3, (int)w->n);
	w->uidh[w->n] = htole64(zt_hash_bytes(w->uidh, w->n * 8));
	sqlite3_bind_blob(w->ins_block, 4, w->uidh, (int)(w->n * 8 + 8), SQLITE_STATIC);
	sqlite3_bind_blob(w->ins_block, 5, w->z, (int)zl, SQLITE_STATIC);
	rc = sqlite3_step(w->ins_block);
	sqlite3_reset(w->ins_block);
	if (rc != SQLITE_DONE)
		return zt_sq_fail(sq, rc, "insert span block");
	err = write_traces(sq, sqlite3_last_insert_rowid(sq->db));
	w->n = 0;
	w->rawlen = 0;
	return err;
}

/* Appends one encoded record (len bytes at rec, keys k) to the block. */
static int block_add(struct zt_sqlite *sq, const uint8_t *rec, size_t len, const struct zt_span_keys *k)
{
	struct zt_sq_bw *w = sq->bw;

	if (w->rawcap - w->rawlen < len) {
		size_t ncap = w->rawcap ? w->rawcap * 2 : 256 * 1024;
		while (ncap - w->rawlen < len)
			ncap *= 2;
		uint8_t *nr = realloc(w->raw, ncap);
		if (!nr)
			return zt_sq_set_err(sq, -ENOMEM, "out of memory for a span block");
		w->raw = nr;
		w->rawcap = ncap;
	}
	memcpy(w->raw + w->rawlen, rec, len);
	if (!w->n || k->start_ns < w->smin)
		w->smin = k->start_ns;
	if (!w->n || k->start_ns > w->smax)
		w->smax = k->start_ns;
	w->offs[w->n] = w->rawlen;
	w->uidh[w->n] = htole64(zt_hash_bytes(k->uid, k->uid_len));
	w->rawlen += len;
	if (++w->n == ZT_SQ_BLOCK_SPANS)
		return emit_block(sq);
	return 0;
}

int zt_sq_blocks_put(struct zt_sqlite *sq, const uint8_t *recs, size_t len, uint64_t *inserted)
{
	struct zt_sq_bw *w = sq->bw;
	int err = 0;

	/* the identities' slots are random lines of 8 MiB: each record's are
	 * fetched LOOKAHEAD records before it is checked (two misses a span
	 * were most of this function) */
	struct zt_span_keys ks[LOOKAHEAD];
	uint64_t ids[LOOKAHEAD];
	size_t ahead = 0;
	unsigned nk = 0, at = 0;

	if (!w->seeded && (err = recent_seed(sq)))
		return err;
	for (;;) {
		while (nk < LOOKAHEAD && ahead < len) {
			unsigned i = (at + nk) % LOOKAHEAD;
			if (zt_span_keys(recs + ahead, len - ahead, &ks[i]))
				return zt_sq_set_err(sq, -EIO, "a queued span is unreadable");
			ahead += ks[i].size;
			ids[i] = ident(ks[i].start_ns, ks[i].uid, ks[i].uid_len);
			recent_prefetch(w, ids[i]);
			nk++;
		}
		if (!nk || err)
			break;
		struct zt_span_keys k = ks[at];
		uint64_t id = ids[at];
		at = (at + 1) % LOOKAHEAD;
		nk--;
		if (recent_has(w, id))
			continue;
		if (k.start_ns <= w->horizon) {
			int r = stored_before(sq, &k);
			if (r < 0)
				return r;
			if (r)
				continue;
		}
		recent_add(w, id, k.start_ns);
		err = block_add(sq, k.rec, k.size, &k);
		(*inserted)++;
	}
	if (!err)
		err = emit_block(sq);
	return err;
}

int zt_sq_blocks_count(struct zt_sqlite *sq, uint64_t *n)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(sq->db, "SELECT total(n) FROM span_blocks", -1, &st, NULL);

	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		*n = (uint64_t)sqlite3_column_double(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_OK ? 0 : zt_sq_fail(sq, rc, "count spans");
}

/* ---- conversion of older files ----------------------------------------- */

int zt_sq_blocks_migrate(struct zt_sqlite *sq)
{
	struct zt_sq_bw *w = sq->bw;
	struct zt_span *span = malloc(sizeof(*span));
	uint8_t *rec = malloc(ZT_SPAN_CODEC_MAX);
	sqlite3_stmt *st = NULL;
	char sql[2560];
	int rc, err = 0;

	if (!span || !rec) {
		free(span);
		free(rec);
		return zt_sq_set_err(sq, -ENOMEM, "out of memory");
	}
	snprintf(sql, sizeof(sql), "SELECT %s FROM main.spans ORDER BY start_ns, span_uid", sq->cols.sql);
	rc = sqlite3_prepare_v2(sq->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		free(span);
		free(rec);
		return zt_sq_fail(sq, rc, "converting spans");
	}
	while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct zt_span_keys keys;
		long len;

		zt_sq_row_to_span(&sq->cols, st, span);
		len = zt_span_encode(span, rec, ZT_SPAN_CODEC_MAX);
		if (len < 0 || zt_span_keys(rec, (size_t)len, &keys))
			err = zt_sq_set_err(sq, -EIO, "encoding span %s failed", span->span_uid);
		else
			err = block_add(sq, rec, (size_t)len, &keys);
	}
	if (!err && rc != SQLITE_DONE)
		err = zt_sq_fail(sq, rc, "converting spans");
	sqlite3_finalize(st);
	free(span);
	free(rec);
	if (!err)
		err = emit_block(sq);
	if (!err)
		err = exec(sq, "DROP TABLE main.spans");
	w->seeded = 0;
	return err;
}

/* ---- retention --------------------------------------------------------- */

static int step_done(struct zt_sqlite *sq, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : zt_sq_fail(sq, rc, what);
}

/* Deletes block id, its trace_blocks rows and the late links of the spans
 * of b marked in drop (all of them when drop is NULL). */
static int delete_block(struct zt_sqlite *sq, const struct zt_sq_block *b, const uint8_t *drop)
{
	static const char *const sqls[] = {"DELETE FROM span_links WHERE child_uid = ?1",
					   "DELETE FROM trace_blocks WHERE block = ?1",
					   "DELETE FROM span_blocks WHERE id = ?1"};
	sqlite3_stmt *st[3] = {NULL};
	int err = 0;

	for (int i = 0; i < 3 && !err; i++) {
		int rc = sqlite3_prepare_v2(sq->db, sqls[i], -1, &st[i], NULL);
		if (rc != SQLITE_OK)
			err = zt_sq_fail(sq, rc, "retention");
	}
	for (uint32_t i = 0; i < b->n && !err; i++) {
		if (drop && !drop[i])
			continue;
		sqlite3_bind_text(st[0], 1, b->k[i].uid, b->k[i].uid_len, SQLITE_STATIC);
		err = step_done(sq, st[0], "retention");
	}
	for (int i = 1; i < 3 && !err; i++) {
		sqlite3_bind_int64(st[i], 1, b->id);
		err = step_done(sq, st[i], "retention");
	}
	for (int i = 0; i < 3; i++)
		sqlite3_finalize(st[i]);
	return err;
}

/* Order of a block's spans by start (for a partial drop: oldest first). */
static int by_start(const void *a, const void *b, void *blk)
{
	const struct zt_sq_block *sb = blk;
	uint64_t x = sb->k[*(const uint32_t *)a].start_ns, y = sb->k[*(const uint32_t *)b].start_ns;
	return x < y ? -1 : x > y;
}

int zt_sq_blocks_drop_oldest(struct zt_sqlite *sq, uint64_t before, uint64_t n, uint64_t *got)
{
	struct zt_sq_bw *w = sq->bw;
	sqlite3_stmt *st = NULL;
	int rc, err = 0;

	*got = 0;
	if (before > INT64_MAX)
		before = INT64_MAX;
	rc = sqlite3_prepare_v2(sq->db,
				"SELECT id, start_max, n FROM span_blocks WHERE start_min < ?1 ORDER BY start_min, id", -1,
				&st, NULL);
	if (rc != SQLITE_OK)
		return zt_sq_fail(sq, rc, "retention");
	sqlite3_bind_int64(st, 1, (int64_t)before);
	/* the blocks to visit first: deleting while stepping would disturb it */
	int64_t *ids = NULL;
	size_t nids = 0, cap = 0;
	uint64_t planned = 0;
	while (planned < n && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (nids == cap) {
			int64_t *ni = realloc(ids, (cap = cap ? cap * 2 : 64) * sizeof(*ids));
			if (!ni) {
				err = zt_sq_set_err(sq, -ENOMEM, "out of memory");
				break;
			}
			ids = ni;
		}
		ids[nids++] = sqlite3_column_int64(st, 0);
		planned += (uint64_t)sqlite3_column_int64(st, 2);
	}
	if (!err && rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = zt_sq_fail(sq, rc, "retention");
	sqlite3_finalize(st);

	for (size_t bi = 0; bi < nids && !err && *got < n; bi++) {
		struct zt_sq_block *b;
		uint32_t *ord = NULL, nold = 0;
		uint8_t *drop = NULL;

		if ((err = zt_sq_block_load(w->get_block, ids[bi], &b))) {
			err = zt_sq_set_err(sq, err, "retention: span block %lld unreadable", (long long)ids[bi]);
			break;
		}
		ord = malloc(b->n * sizeof(*ord));
		drop = calloc(b->n, 1);
		if (!ord || !drop) {
			err = zt_sq_set_err(sq, -ENOMEM, "out of memory");
		} else {
			for (uint32_t i = 0; i < b->n; i++)
				if (b->k[i].start_ns < before)
					ord[nold++] = i;
			qsort_r(ord, nold, sizeof(*ord), by_start, b);
			if (nold > n - *got)
				nold = (uint32_t)(n - *got);
			for (uint32_t i = 0; i < nold; i++)
				drop[ord[i]] = 1;
			err = delete_block(sq, b, drop);
			/* the spans kept go into a new block */
			for (uint32_t i = 0; i < b->n && !err; i++) {
				if (drop[i])
					continue;
				err = block_add(sq, b->k[i].rec, b->k[i].size, &b->k[i]);
			}
			if (!err)
				err = emit_block(sq);
			if (!err)
				*got += nold;
		}
		free(ord);
		free(drop);
		zt_sq_block_unref(b);
	}
	free(ids);
	return err;
}
