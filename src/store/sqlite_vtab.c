/* SPDX-License-Identifier: MIT */
/*
 * sqlite_vtab.c - the table `spans` of a version 5 file, read from its span
 * blocks (sqlite_blocks.c) by a virtual table in the connection's temp
 * schema: the span and trace queries stay plain SQL over the same columns
 * as the row table of versions 1..4 (names, types, null rules: every value
 * goes through zt_span_get, as the rows were written).
 *
 * Plans (xBestIndex), cheapest first:
 *   trace    trace_id = ?: the blocks trace_blocks names, their spans with
 *            that trace id.
 *   uid      span_uid = ?: the blocks whose uid hashes hold the uid's.
 *   scan     every block whose start range meets the start_ns bounds, in
 *            start order (ascending or descending, ties by span_uid): blocks
 *            overlap in time, so their spans go through a heap, and a span
 *            is returned once no block still unread can hold an earlier one
 *            (start_min ascending, start_max descending). An ORDER BY on
 *            (start_ns[, span_uid]) is thereby done here, and a LIMIT reads
 *            only the newest blocks.
 * start_ns bounds narrow every plan. SQLite checks every constraint again
 * (none is omitted): the plans only choose which spans to look at.
 *
 * A small cache keeps the blocks read last (a trace's blocks are read again
 * by the next query); block ids are never reused (AUTOINCREMENT), so a
 * cached block is never stale.
 */
#include "store/sqlite_int.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/hash.h"

#define CACHE_BLOCKS 8

enum plan { P_SCAN = 0, P_TRACE = 1, P_UID = 2 };
#define IDX_PLAN 3
#define IDX_LO 4
#define IDX_HI 8
#define IDX_DESC 16

struct vt {
	sqlite3_vtab base;
	sqlite3 *db;
	sqlite3_stmt *get; /* one block by id: used inside a load only */
	struct zt_sq_block *cache[CACHE_BLOCKS]; /* most recent first */
};

struct hent {
	struct zt_sq_block *b;
	uint32_t i;
};

struct cur {
	sqlite3_vtab_cursor base;
	int plan, desc;
	uint64_t lo, hi;
	char key[ZT_TRACE_ID_LEN];
	size_t keylen;
	uint64_t keyh; /* uid plan: the uid's hash, little-endian */
	sqlite3_stmt *q;
	int q_plan, q_desc; /* what q was prepared for */
	int q_more;         /* q has a row not taken yet */
	/* trace, uid: the block being read, and the next span to look at */
	struct zt_sq_block *blk;
	uint32_t next;
	/* scan */
	struct hent *heap;
	size_t nheap, capheap;
	/* the current row */
	struct zt_sq_block *rb;
	uint32_t ri;
	int eof;
	int decoded;
	struct zt_span span;
	struct zt_val val;
};

/* ---- the block cache ---------------------------------------------------- */

static int vt_err(struct vt *v, int err, int64_t id)
{
	sqlite3_free(v->base.zErrMsg);
	if (err == -EILSEQ) {
		v->base.zErrMsg = sqlite3_mprintf("span block %lld is damaged", (long long)id);
		return SQLITE_CORRUPT;
	}
	if (err == -ENOMEM)
		return SQLITE_NOMEM;
	v->base.zErrMsg = sqlite3_mprintf("span block %lld unreadable (%s)", (long long)id, strerror(-err));
	return SQLITE_IOERR;
}

/* A block with a reference for the caller; SQLITE_OK, or an error code
 * (-ENOENT: gone since it was listed: *out NULL and SQLITE_OK). */
static int load(struct vt *v, int64_t id, int cached, struct zt_sq_block **out)
{
	int err;

	*out = NULL;
	for (int i = 0; i < CACHE_BLOCKS && v->cache[i]; i++) {
		if (v->cache[i]->id != id)
			continue;
		struct zt_sq_block *b = v->cache[i];
		memmove(&v->cache[1], &v->cache[0], (size_t)i * sizeof(v->cache[0]));
		v->cache[0] = b;
		b->refs++;
		*out = b;
		return SQLITE_OK;
	}
	err = zt_sq_block_load(v->get, id, out);
	if (err == -ENOENT)
		return SQLITE_OK;
	if (err)
		return vt_err(v, err, id);
	if (cached) {
		zt_sq_block_unref(v->cache[CACHE_BLOCKS - 1]);
		memmove(&v->cache[1], &v->cache[0], (CACHE_BLOCKS - 1) * sizeof(v->cache[0]));
		v->cache[0] = *out;
		(*out)->refs++;
	}
	return SQLITE_OK;
}

/* ---- module ------------------------------------------------------------ */

static const char *col_decl(int f)
{
	switch (zt_span_fields[f].kind) {
	case ZT_FK_STR:
	case ZT_FK_IP:
	case ZT_FK_TAP:
	case ZT_FK_L7:
	case ZT_FK_L4:
	case ZT_FK_RSTATUS:
	case ZT_FK_ATTRS:
	case ZT_FK_LINK:
		return "TEXT";
	default:
		return "INTEGER";
	}
}

static int vt_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out, char **err)
{
	char sql[2048];
	size_t len = (size_t)snprintf(sql, sizeof(sql), "CREATE TABLE x(");
	struct vt *v;
	int rc;

	for (int f = 0; f < ZT_F__COUNT && len < sizeof(sql); f++)
		len += (size_t)snprintf(sql + len, sizeof(sql) - len, "%s%s %s", f ? ", " : "", zt_span_fields[f].name,
					col_decl(f));
	if (len + 2 >= sizeof(sql))
		return SQLITE_ERROR;
	snprintf(sql + len, sizeof(sql) - len, ")");
	rc = sqlite3_declare_vtab(db, sql);
	if (rc != SQLITE_OK)
		return rc;
	v = sqlite3_malloc(sizeof(*v));
	if (!v)
		return SQLITE_NOMEM;
	memset(v, 0, sizeof(*v));
	v->db = db;
	rc = sqlite3_prepare_v3(db, "SELECT n, data FROM main.span_blocks WHERE id = ?1", -1, SQLITE_PREPARE_PERSISTENT,
				&v->get, NULL);
	if (rc != SQLITE_OK) {
		*err = sqlite3_mprintf("%s", sqlite3_errmsg(db));
		sqlite3_free(v);
		return rc;
	}
	sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
	*out = &v->base;
	return SQLITE_OK;
}

static int vt_disconnect(sqlite3_vtab *base)
{
	struct vt *v = (struct vt *)base;

	for (int i = 0; i < CACHE_BLOCKS; i++)
		zt_sq_block_unref(v->cache[i]);
	sqlite3_finalize(v->get);
	sqlite3_free(v);
	return SQLITE_OK;
}

static int vt_best_index(sqlite3_vtab *base, sqlite3_index_info *ii)
{
	int itrace = -1, iuid = -1, ilo = -1, ihi = -1, argv = 0, idx = P_SCAN;
	double cost;

	for (int i = 0; i < ii->nConstraint; i++) {
		const struct sqlite3_index_constraint *c = &ii->aConstraint[i];
		if (!c->usable)
			continue;
		if (c->iColumn == ZT_F_trace_id && c->op == SQLITE_INDEX_CONSTRAINT_EQ)
			itrace = i;
		else if (c->iColumn == ZT_F_span_uid && c->op == SQLITE_INDEX_CONSTRAINT_EQ)
			iuid = i;
		else if (c->iColumn == ZT_F_start_ns) {
			if (c->op == SQLITE_INDEX_CONSTRAINT_GE || c->op == SQLITE_INDEX_CONSTRAINT_GT ||
			    c->op == SQLITE_INDEX_CONSTRAINT_EQ)
				ilo = i;
			if (c->op == SQLITE_INDEX_CONSTRAINT_LE || c->op == SQLITE_INDEX_CONSTRAINT_LT ||
			    c->op == SQLITE_INDEX_CONSTRAINT_EQ)
				ihi = i;
		}
	}
	if (itrace >= 0) {
		idx = P_TRACE;
		ii->aConstraintUsage[itrace].argvIndex = ++argv;
		cost = 20;
	} else if (iuid >= 0) {
		idx = P_UID;
		ii->aConstraintUsage[iuid].argvIndex = ++argv;
		cost = 5000;
	} else {
		cost = 1e7;
	}
	if (ilo >= 0) {
		idx |= IDX_LO;
		ii->aConstraintUsage[ilo].argvIndex = ++argv;
		cost /= 4;
	}
	if (ihi >= 0) {
		if (ihi == ilo) { /* start_ns = ?: one value, both bounds */
			idx |= IDX_HI;
		} else {
			idx |= IDX_HI;
			ii->aConstraintUsage[ihi].argvIndex = ++argv;
		}
		cost /= 4;
	}
	/* ORDER BY start_ns [, span_uid], one direction: the scan's own order */
	if ((idx & IDX_PLAN) == P_SCAN && ii->nOrderBy >= 1 && ii->nOrderBy <= 2 &&
	    ii->aOrderBy[0].iColumn == ZT_F_start_ns &&
	    (ii->nOrderBy == 1 ||
	     (ii->aOrderBy[1].iColumn == ZT_F_span_uid && ii->aOrderBy[1].desc == ii->aOrderBy[0].desc))) {
		ii->orderByConsumed = 1;
		if (ii->aOrderBy[0].desc)
			idx |= IDX_DESC;
	}
	ii->idxNum = idx;
	ii->estimatedCost = cost;
	ii->estimatedRows = (idx & IDX_PLAN) == P_TRACE ? 10 : (idx & IDX_PLAN) == P_UID ? 1 : 1000000;
	(void)base;
	return SQLITE_OK;
}

static int vt_open(sqlite3_vtab *base, sqlite3_vtab_cursor **out)
{
	struct cur *c = sqlite3_malloc(sizeof(*c));

	if (!c)
		return SQLITE_NOMEM;
	memset(c, 0, offsetof(struct cur, span));
	c->q_plan = -1;
	c->eof = 1;
	*out = &c->base;
	(void)base;
	return SQLITE_OK;
}

static void cur_reset(struct cur *c)
{
	zt_sq_block_unref(c->blk);
	c->blk = NULL;
	zt_sq_block_unref(c->rb);
	c->rb = NULL;
	for (size_t i = 0; i < c->nheap; i++)
		zt_sq_block_unref(c->heap[i].b);
	c->nheap = 0;
	if (c->q)
		sqlite3_reset(c->q);
	c->q_more = 0;
	c->eof = 1;
}

static int vt_close(sqlite3_vtab_cursor *base)
{
	struct cur *c = (struct cur *)base;

	cur_reset(c);
	sqlite3_finalize(c->q);
	sqlite3_free(c->heap);
	sqlite3_free(c);
	return SQLITE_OK;
}

/* ---- scan: the heap ----------------------------------------------------- */

/* <0: a comes before b in the cursor's order */
static int order(const struct cur *c, const struct hent *a, const struct hent *b)
{
	const struct zt_span_keys *x = &a->b->k[a->i], *y = &b->b->k[b->i];
	int r;

	if (x->start_ns != y->start_ns)
		r = x->start_ns < y->start_ns ? -1 : 1;
	else {
		size_t l = x->uid_len < y->uid_len ? x->uid_len : y->uid_len;
		r = memcmp(x->uid, y->uid, l);
		if (!r)
			r = (x->uid_len > y->uid_len) - (x->uid_len < y->uid_len);
	}
	return c->desc ? -r : r;
}

static void heap_push(struct cur *c, struct hent e)
{
	size_t i = c->nheap++;

	while (i) {
		size_t p = (i - 1) / 2;
		if (order(c, &c->heap[p], &e) <= 0)
			break;
		c->heap[i] = c->heap[p];
		i = p;
	}
	c->heap[i] = e;
}

static struct hent heap_pop(struct cur *c)
{
	struct hent top = c->heap[0], last = c->heap[--c->nheap];
	size_t i = 0, n = c->nheap;

	for (;;) {
		size_t l = 2 * i + 1, m = l;
		if (l >= n)
			break;
		if (l + 1 < n && order(c, &c->heap[l + 1], &c->heap[l]) < 0)
			m = l + 1;
		if (order(c, &last, &c->heap[m]) <= 0)
			break;
		c->heap[i] = c->heap[m];
		i = m;
	}
	if (n)
		c->heap[i] = last;
	return top;
}

static int in_bounds(const struct cur *c, uint64_t t)
{
	return t >= c->lo && t <= c->hi;
}

/* Reads the next listed block into the heap (its spans within bounds). */
static int scan_load(struct cur *c)
{
	struct vt *v = (struct vt *)c->base.pVtab;
	struct zt_sq_block *b;
	int64_t id = sqlite3_column_int64(c->q, 0);
	int rc = load(v, id, 0, &b);

	if (rc != SQLITE_OK)
		return rc;
	c->q_more = sqlite3_step(c->q) == SQLITE_ROW;
	if (!b)
		return SQLITE_OK;
	if (c->nheap + b->n > c->capheap) {
		size_t ncap = c->capheap ? c->capheap * 2 : 1024;
		while (ncap < c->nheap + b->n)
			ncap *= 2;
		struct hent *nh = sqlite3_realloc64(c->heap, ncap * sizeof(*nh));
		if (!nh) {
			zt_sq_block_unref(b);
			return SQLITE_NOMEM;
		}
		c->heap = nh;
		c->capheap = ncap;
	}
	for (uint32_t i = 0; i < b->n; i++) {
		if (!in_bounds(c, b->k[i].start_ns))
			continue;
		b->refs++;
		heap_push(c, (struct hent){b, i});
	}
	zt_sq_block_unref(b);
	return SQLITE_OK;
}

static int scan_next(struct cur *c)
{
	for (;;) {
		/* a block still unread may hold a span that comes first: its
		 * bound (start_max descending, start_min ascending) reaches the
		 * heap's top */
		if (c->q_more) {
			uint64_t bound = (uint64_t)sqlite3_column_int64(c->q, 1);
			uint64_t top = c->nheap ? c->heap[0].b->k[c->heap[0].i].start_ns : 0;
			if (!c->nheap || (c->desc ? bound >= top : bound <= top)) {
				int rc = scan_load(c);
				if (rc != SQLITE_OK)
					return rc;
				continue;
			}
		}
		if (!c->nheap) {
			c->eof = 1;
			return SQLITE_OK;
		}
		struct hent e = heap_pop(c);
		c->rb = e.b; /* the heap's reference moves to the row */
		c->ri = e.i;
		return SQLITE_OK;
	}
}

/* ---- trace and uid: block by block --------------------------------------- */

static int match(const struct cur *c, const struct zt_span_keys *k)
{
	if (!in_bounds(c, k->start_ns))
		return 0;
	if (c->plan == P_TRACE)
		return k->trace_len == c->keylen && !memcmp(k->trace, c->key, c->keylen);
	return k->uid_len == c->keylen && !memcmp(k->uid, c->key, c->keylen);
}

/* uid plan: does the listed block's uid hashes hold the key's? -1: damaged */
static int uid_candidate(const struct cur *c)
{
	const uint8_t *u = sqlite3_column_blob(c->q, 1);
	int n = zt_sq_uids_check(u, sqlite3_column_bytes(c->q, 1));

	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		uint64_t h;
		memcpy(&h, u + 8 * i, 8);
		if (h == c->keyh)
			return 1;
	}
	return 0;
}

static int list_next(struct cur *c)
{
	struct vt *v = (struct vt *)c->base.pVtab;

	for (;;) {
		if (c->blk) {
			while (c->next < c->blk->n && !match(c, &c->blk->k[c->next]))
				c->next++;
			if (c->next < c->blk->n) {
				c->rb = c->blk;
				c->blk->refs++;
				c->ri = c->next++;
				return SQLITE_OK;
			}
			zt_sq_block_unref(c->blk);
			c->blk = NULL;
		}
		if (!c->q_more) {
			c->eof = 1;
			return SQLITE_OK;
		}
		int64_t id = sqlite3_column_int64(c->q, 0);
		int want = c->plan == P_TRACE ? 1 : uid_candidate(c);
		if (want < 0)
			return vt_err(v, -EILSEQ, id);
		c->q_more = sqlite3_step(c->q) == SQLITE_ROW;
		if (want) {
			int rc = load(v, id, 1, &c->blk);
			if (rc != SQLITE_OK)
				return rc;
			c->next = 0;
		}
	}
}

/* ---- cursor ------------------------------------------------------------ */

static int vt_next(sqlite3_vtab_cursor *base)
{
	struct cur *c = (struct cur *)base;

	zt_sq_block_unref(c->rb);
	c->rb = NULL;
	c->decoded = 0;
	return c->plan == P_SCAN ? scan_next(c) : list_next(c);
}

static int prepare_list(struct cur *c)
{
	static const char *const sql[3][2] = {
	    [P_SCAN] = {"SELECT id, start_min FROM main.span_blocks WHERE start_min <= ?2 AND start_max >= ?1"
			" ORDER BY start_min, id",
			"SELECT id, start_max FROM main.span_blocks WHERE start_max >= ?1 AND start_min <= ?2"
			" ORDER BY start_max DESC, id DESC"},
	    [P_TRACE] = {"SELECT block FROM main.trace_blocks WHERE trace_id = ?3", NULL},
	    [P_UID] = {"SELECT id, uids FROM main.span_blocks WHERE start_max >= ?1 AND start_min <= ?2", NULL},
	};
	struct vt *v = (struct vt *)c->base.pVtab;
	int desc = c->plan == P_SCAN && c->desc;

	if (c->q && (c->q_plan != c->plan || c->q_desc != desc)) {
		sqlite3_finalize(c->q);
		c->q = NULL;
	}
	if (!c->q) {
		int rc = sqlite3_prepare_v3(v->db, sql[c->plan][desc], -1, 0, &c->q, NULL);
		if (rc != SQLITE_OK)
			return rc;
		c->q_plan = c->plan;
		c->q_desc = desc;
	}
	return SQLITE_OK;
}

static uint64_t arg_u64(sqlite3_value *a, uint64_t dflt)
{
	switch (sqlite3_value_numeric_type(a)) {
	case SQLITE_INTEGER:
		return sqlite3_value_int64(a) < 0 ? 0 : (uint64_t)sqlite3_value_int64(a);
	case SQLITE_FLOAT: {
		double d = sqlite3_value_double(a);
		return d <= 0 ? 0 : d >= 9.2e18 ? (uint64_t)INT64_MAX : (uint64_t)d;
	}
	default:
		return dflt;
	}
}

static int vt_filter(sqlite3_vtab_cursor *base, int idx, const char *idxstr, int argc, sqlite3_value **argv)
{
	struct cur *c = (struct cur *)base;
	int a = 0, rc;

	cur_reset(c);
	c->plan = idx & IDX_PLAN;
	c->desc = (idx & IDX_DESC) != 0;
	c->lo = 0;
	c->hi = INT64_MAX;
	c->keylen = 0;
	if (c->plan != P_SCAN) {
		const unsigned char *t = sqlite3_value_text(argv[a]);
		size_t n = (size_t)sqlite3_value_bytes(argv[a++]);
		if (!t || sqlite3_value_type(argv[a - 1]) == SQLITE_NULL || n == 0 ||
		    n >= (c->plan == P_TRACE ? ZT_TRACE_ID_LEN : ZT_UID_LEN))
			return SQLITE_OK; /* no span has it: eof */
		memcpy(c->key, t, n);
		c->keylen = n;
		c->keyh = zt_hash_bytes(t, n);
	}
	if (idx & IDX_LO) {
		/* a bound that is not a number matches nothing stored as one:
		 * leave it to SQLite's own check, read everything */
		c->lo = arg_u64(argv[a], 0);
		if ((idx & IDX_HI) && a + 1 == argc) /* start_ns = ?: one argument */
			c->hi = arg_u64(argv[a], INT64_MAX);
		a++;
	}
	if ((idx & IDX_HI) && a < argc)
		c->hi = arg_u64(argv[a++], INT64_MAX);
	if (c->hi > INT64_MAX)
		c->hi = INT64_MAX;
	if ((rc = prepare_list(c)) != SQLITE_OK)
		return rc;
	if (c->plan == P_TRACE) {
		sqlite3_bind_text(c->q, 3, c->key, (int)c->keylen, SQLITE_TRANSIENT);
	} else {
		sqlite3_bind_int64(c->q, 1, (int64_t)c->lo);
		sqlite3_bind_int64(c->q, 2, (int64_t)c->hi);
	}
	c->q_more = sqlite3_step(c->q) == SQLITE_ROW;
	c->eof = 0;
	(void)idxstr;
	return vt_next(base);
}

static int vt_eof(sqlite3_vtab_cursor *base)
{
	return ((struct cur *)base)->eof;
}

static int vt_column(sqlite3_vtab_cursor *base, sqlite3_context *ctx, int col)
{
	struct cur *c = (struct cur *)base;
	const struct zt_span_keys *k = &c->rb->k[c->ri];

	/* the keys are read without decoding the span */
	if (col == ZT_F_start_ns) {
		sqlite3_result_int64(ctx, (int64_t)k->start_ns);
		return SQLITE_OK;
	}
	if (col == ZT_F_span_uid || col == ZT_F_trace_id) {
		const char *p = col == ZT_F_span_uid ? k->uid : k->trace;
		int n = col == ZT_F_span_uid ? k->uid_len : k->trace_len;
		if (n)
			sqlite3_result_text(ctx, p, n, SQLITE_TRANSIENT);
		else
			sqlite3_result_null(ctx);
		return SQLITE_OK;
	}
	if (col < 0 || col >= ZT_F__COUNT)
		return SQLITE_ERROR;
	if (!c->decoded) {
		if (zt_span_decode(k->rec, k->size, &c->span) < 0)
			return vt_err((struct vt *)base->pVtab, -EILSEQ, c->rb->id);
		c->decoded = 1;
	}
	zt_span_get(&c->span, (enum zt_span_field)col, &c->val);
	if (c->val.type == ZT_VAL_NULL)
		sqlite3_result_null(ctx);
	else if (c->val.type == ZT_VAL_INT)
		sqlite3_result_int64(ctx, (int64_t)c->val.u);
	else
		sqlite3_result_text(ctx, c->val.s, -1, SQLITE_TRANSIENT);
	return SQLITE_OK;
}

static int vt_rowid(sqlite3_vtab_cursor *base, sqlite_int64 *rowid)
{
	struct cur *c = (struct cur *)base;

	*rowid = c->rb->id * 1024 + c->ri;
	return SQLITE_OK;
}

static const sqlite3_module spans_module = {
    .iVersion = 0,
    .xCreate = vt_connect,
    .xConnect = vt_connect,
    .xBestIndex = vt_best_index,
    .xDisconnect = vt_disconnect,
    .xDestroy = vt_disconnect,
    .xOpen = vt_open,
    .xClose = vt_close,
    .xFilter = vt_filter,
    .xNext = vt_next,
    .xEof = vt_eof,
    .xColumn = vt_column,
    .xRowid = vt_rowid,
};

int zt_sq_vtab_register(struct zt_sqlite *sq)
{
	int rc = sqlite3_create_module(sq->db, "zt_spans", &spans_module, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_exec(sq->db, "CREATE VIRTUAL TABLE IF NOT EXISTS temp.spans USING zt_spans", NULL, NULL,
				  NULL);
	return rc == SQLITE_OK ? 0 : zt_sq_fail(sq, rc, "spans table");
}
