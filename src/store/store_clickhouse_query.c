/* SPDX-License-Identifier: MIT */
/*
 * store_clickhouse_query.c - the ClickHouse backend's reads: spans
 * (query_spans), one trace (query_trace) and trace summaries (query_traces),
 * with the semantics store.h gives and SQLite implements (store_sqlite.c,
 * store_traces.c): late links applied, aliases resolved to the final id, a
 * span without trace_id a trace of its own.
 *
 * Duplicates: spans are written at most once (the flush's check, see
 * store_clickhouse.c), but two writers racing on one span may both write it
 * until a merge folds them; reads are exact anyway: span lists take one row
 * per (start_ns, span_uid) (LIMIT 1 BY), counts are uniqExact over it, and
 * min/max/argMin do not change with a copy.
 *
 * SQL text: ClickHouse 18.16 has no bound query parameters over HTTP
 * ({name:Type} came in 19.x), so values go in as literals: numbers printed
 * by us, text through zt_ch_buf_quote (every byte that is not printable
 * ASCII, ' and \ hex-escaped), never spliced raw.
 *
 * Replies are RowBinary, decoded as they arrive (a long span list is never
 * held whole) with bounds checked on every length.
 */
#include "store/clickhouse_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ZT_ALIAS_STEPS 64

/* ---- streaming RowBinary ------------------------------------------------- */

/* A reply decoded row by row: decode() takes one row from p[0..n) (bytes
 * used, 0 incomplete, < 0 malformed) and hands it on; its return rule is the
 * sink's (0 go on, 1 stop, < 0 error). */
struct rows {
	struct zt_ch_buf rest;
	long (*decode)(struct rows *r, const char *p, size_t n, int *rc);
	void *ctx;
	struct zt_span span;
	int bad; /* the reply was malformed */
};

static int rows_sink(void *arg, const char *data, size_t n)
{
	struct rows *r = arg;
	size_t at = 0;
	int rc = 0;

	if (zt_ch_buf_put(&r->rest, data, n))
		return -ENOMEM;
	while (at < r->rest.len && !rc) {
		long used = r->decode(r, r->rest.p + at, r->rest.len - at, &rc);
		if (used < 0) {
			r->bad = 1;
			return -EBADMSG;
		}
		if (used == 0)
			break;
		at += (size_t)used;
	}
	memmove(r->rest.p, r->rest.p + at, r->rest.len - at);
	r->rest.len -= at;
	return rc;
}

/* Runs a SELECT ... FORMAT RowBinary through r: 0 (also when a callback
 * stopped it), or < 0 with the message set. */
static int run_rows(struct zt_ch *ch, struct zt_ch_buf *sql, struct rows *r)
{
	int err = zt_ch_http(ch, NULL, sql->p, sql->len, false, NULL, rows_sink, r);

	if (err == 1)
		err = 0;
	else if (!err && r->rest.len)
		r->bad = 1, err = -EBADMSG;
	if (err == -EBADMSG && r->bad)
		err = zt_ch_set_err(ch, -EPROTO, "ClickHouse at %s: a reply that is not the rows asked for", ch->where);
	else if (err == -ENOMEM)
		err = zt_ch_set_err(ch, err, "out of memory reading from ClickHouse");
	free(r->rest.p);
	r->rest = (struct zt_ch_buf){0};
	return err;
}

/* Appends the span columns, in field order, as zt_ch_decode_span reads them. */
static int put_cols(struct zt_ch_buf *b, const char *prefix)
{
	int err = 0;

	for (int f = 0; f < ZT_F__COUNT && !err; f++)
		err = zt_ch_buf_printf(b, "%s%s%s", f ? "," : "", prefix, zt_span_fields[f].name);
	return err;
}

static bool opened(struct zt_ch *ch, int *err)
{
	*err = ch->open ? 0 : zt_ch_set_err(ch, -EBADF, "store is not open");
	return ch->open;
}

/* ---- spans --------------------------------------------------------------- */

struct span_cb_ctx {
	zt_span_cb cb;
	void *ctx;
};

static long decode_to_cb(struct rows *r, const char *p, size_t n, int *rc)
{
	struct span_cb_ctx *c = r->ctx;
	long used = zt_ch_decode_span(p, n, &r->span);

	if (used > 0) {
		int x = c->cb(c->ctx, &r->span);
		*rc = x > 0 ? 1 : x;
	}
	return used;
}

static int and_text(struct zt_ch_buf *b, const char *pre, const char *text, const char *post)
{
	int err = zt_ch_buf_printf(b, "%s", pre);

	err = err ? err : zt_ch_buf_quote(b, text);
	return err ? err : zt_ch_buf_printf(b, "%s", post);
}

/* The filters of store.h as SQL over the spans columns. A null field ("" or
 * 0) matches no filter on it. Enums compare by value: a name no enum value
 * has matches nothing. */
static int span_where(struct zt_ch_buf *b, const struct zt_span_query *q)
{
	int err = zt_ch_buf_printf(b, " WHERE 1");

	if (!err && q->since_ns)
		err = zt_ch_buf_printf(b, " AND start_ns >= %llu", (unsigned long long)q->since_ns);
	if (!err && q->protocol) {
		enum zt_l7 l7 = zt_l7_from_name(q->protocol);
		err = l7 == ZT_L7_UNKNOWN ? zt_ch_buf_printf(b, " AND 0")
					  : and_text(b, " AND l7_protocol = ", zt_l7_name(l7), "");
	}
	if (!err && q->process)
		err = and_text(b, " AND process != '' AND lower(substring(process, 1, length(", q->process, ")))");
	if (!err && q->process)
		err = and_text(b, " = lower(", q->process, ")");
	if (!err && q->status) {
		int v = -1;
		for (int s = ZT_RS_UNKNOWN; s <= ZT_RS_TIMEOUT; s++)
			if (strcasecmp(q->status, zt_resp_status_name((enum zt_resp_status)s)) == 0)
				v = s;
		err = zt_ch_buf_printf(b, v < 0 ? " AND 0" : " AND response_status = %d", v);
	}
	if (!err && q->errors_only)
		err = zt_ch_buf_printf(b, " AND response_status IN (%d, %d, %d)", ZT_RS_CLIENT_ERROR, ZT_RS_SERVER_ERROR,
				       ZT_RS_TIMEOUT);
	if (!err && q->min_duration_ns)
		err = zt_ch_buf_printf(b, " AND duration_ns >= %llu", (unsigned long long)q->min_duration_ns);
	if (!err && q->path)
		err = and_text(b, " AND request_resource != '' AND position(request_resource, ", q->path, ") > 0");
	if (!err && q->endpoint)
		err = and_text(b, " AND endpoint != '' AND position(endpoint, ", q->endpoint, ") > 0");
	if (!err && q->pid)
		err = zt_ch_buf_printf(b, " AND pid = %u", q->pid);
	if (!err && q->port)
		err = zt_ch_buf_printf(b, " AND (client_port = %u OR server_port = %u)", q->port, q->port);
	if (!err && q->tap_side)
		err = zt_ch_buf_printf(b, " AND tap_side = %u", q->tap_side);
	return err;
}

int zt_ch_query_spans(struct zt_store *st, const struct zt_span_query *q, zt_span_cb cb, void *ctx)
{
	struct zt_ch *ch = (struct zt_ch *)st;
	struct zt_ch_buf sql = {0};
	struct span_cb_ctx c = {cb, ctx};
	struct rows *r;
	int err;

	if (!opened(ch, &err))
		return err;
	if (q->tap_side > ZT_TAP__LAST)
		return zt_ch_set_err(ch, -EINVAL, "unknown tap side %u", q->tap_side);
	r = calloc(1, sizeof(*r));
	if (!r)
		return zt_ch_set_err(ch, -ENOMEM, "out of memory");
	r->decode = decode_to_cb;
	r->ctx = &c;
	err = zt_ch_buf_printf(&sql, "SELECT ");
	err = err ? err : put_cols(&sql, "");
	err = err ? err : zt_ch_buf_printf(&sql, " FROM %s.%s", ch->db, ch->t_spans);
	err = err ? err : span_where(&sql, q);
	if (q->limit) /* the most recent N, given in time order */
		err = err ? err
			  : zt_ch_buf_printf(&sql,
					     " ORDER BY start_ns DESC, span_uid DESC LIMIT 1 BY start_ns, span_uid LIMIT %u",
					     q->limit);
	else
		err = err ? err : zt_ch_buf_printf(&sql, " ORDER BY start_ns, span_uid LIMIT 1 BY start_ns, span_uid");
	if (q->limit && !err) {
		struct zt_ch_buf outer = {0};
		err = zt_ch_buf_printf(&outer, "SELECT * FROM (");
		err = err ? err : zt_ch_buf_put(&outer, sql.p, sql.len);
		err = err ? err : zt_ch_buf_printf(&outer, ") ORDER BY start_ns, span_uid");
		free(sql.p);
		sql = outer;
	}
	err = err ? err : zt_ch_buf_printf(&sql, " FORMAT RowBinary");
	if (err)
		err = zt_ch_set_err(ch, err, "out of memory for a query");
	else
		err = run_rows(ch, &sql, r);
	free(sql.p);
	free(r);
	return err;
}

/* ---- aliases -------------------------------------------------------------- */

struct alias_map {
	struct zt_ch_alias *a; /* sorted by alias; trace_id is the first target */
	size_t n, cap;
};

static int alias_cmp(const void *x, const void *y)
{
	return strcmp(((const struct zt_ch_alias *)x)->alias, ((const struct zt_ch_alias *)y)->alias);
}

static long decode_alias(struct rows *r, const char *p, size_t n, int *rc)
{
	struct alias_map *m = r->ctx;
	struct zt_ch_alias a = {0};
	long x = zt_ch_get_str(p, n, a.alias, sizeof(a.alias)), y;

	if (x <= 0)
		return x;
	y = zt_ch_get_str(p + x, n - (size_t)x, a.trace_id, sizeof(a.trace_id));
	if (y <= 0)
		return y;
	if (!a.alias[0] || !a.trace_id[0])
		return x + y;
	if (m->n == m->cap) {
		size_t ncap = m->cap ? m->cap * 2 : 64;
		struct zt_ch_alias *na = realloc(m->a, ncap * sizeof(*na));
		if (!na) {
			*rc = -ENOMEM;
			return x + y;
		}
		m->a = na;
		m->cap = ncap;
	}
	m->a[m->n++] = a;
	return x + y;
}

/* Every alias with its first target (argMin over the write stamp: the first
 * fact stays, as in SQLite's INSERT OR IGNORE). */
static int load_aliases(struct zt_ch *ch, struct alias_map *m)
{
	struct zt_ch_buf sql = {0};
	struct rows *r = calloc(1, sizeof(*r));
	int err;

	if (!r)
		return zt_ch_set_err(ch, -ENOMEM, "out of memory");
	r->decode = decode_alias;
	r->ctx = m;
	err = zt_ch_buf_printf(&sql,
			       "SELECT alias, argMin(trace_id, at_ns) FROM %s.%s GROUP BY alias ORDER BY alias FORMAT "
			       "RowBinary",
			       ch->db, ch->t_alias);
	err = err ? zt_ch_set_err(ch, err, "out of memory") : run_rows(ch, &sql, r);
	free(sql.p);
	free(r);
	if (!err && m->n)
		qsort(m->a, m->n, sizeof(*m->a), alias_cmp);
	return err;
}

static const char *alias_next(const struct alias_map *m, const char *id)
{
	struct zt_ch_alias key;
	const struct zt_ch_alias *hit;

	snprintf(key.alias, sizeof(key.alias), "%.32s", id);
	hit = m->n ? bsearch(&key, m->a, m->n, sizeof(*m->a), alias_cmp) : NULL;
	return hit ? hit->trace_id : NULL;
}

/* id's final id (store_traces.c's rule: a cycle is named by its smallest
 * member; more than ZT_ALIAS_STEPS steps is -ELOOP). */
static int resolve_final(struct zt_ch *ch, const struct alias_map *m, const char *id, char final[ZT_TRACE_ID_LEN])
{
	char path[ZT_ALIAS_STEPS + 1][ZT_TRACE_ID_LEN];
	int n = 0;

	snprintf(path[0], sizeof(path[0]), "%s", id);
	for (;;) {
		const char *next;

		if (n == ZT_ALIAS_STEPS)
			return zt_ch_set_err(ch, -ELOOP, "trace %s: more than %d aliases in a chain", id, ZT_ALIAS_STEPS);
		next = alias_next(m, path[n]);
		if (!next) {
			memcpy(final, path[n], ZT_TRACE_ID_LEN);
			return 0;
		}
		snprintf(path[++n], ZT_TRACE_ID_LEN, "%s", next);
		for (int i = 0; i < n; i++) {
			int min = i;
			if (strcmp(path[i], path[n]) != 0)
				continue;
			for (int j = i + 1; j < n; j++)
				if (strcmp(path[j], path[min]) < 0)
					min = j;
			memcpy(final, path[min], ZT_TRACE_ID_LEN);
			return 0;
		}
	}
}

/* "'a','b',..." : final and every alias whose chain leads to it, walked
 * backwards from final (as store_traces.c's recursive query: the bound on
 * chain length applies to resolving an id, not to gathering a trace). */
static int trace_ids(struct zt_ch *ch, const struct alias_map *m, const char *final, struct zt_ch_buf *out)
{
	char *in = calloc(m->n ? m->n : 1, 1);
	bool grew = true;
	int err;

	(void)ch;
	if (!in)
		return -ENOMEM;
	err = zt_ch_buf_quote(out, final);
	while (grew && !err) {
		grew = false;
		for (size_t i = 0; i < m->n; i++) {
			bool hit = !in[i] && strcmp(m->a[i].trace_id, final) == 0;
			for (size_t j = 0; j < m->n && !hit && !in[i]; j++)
				hit = in[j] && strcmp(m->a[i].trace_id, m->a[j].alias) == 0;
			if (hit && strcmp(m->a[i].alias, final) != 0) {
				in[i] = 1;
				grew = true;
				err = and_text(out, ",", m->a[i].alias, "");
			}
		}
	}
	free(in);
	return err;
}

/* transform(COL, [aliases], [finals], COL): every alias to its final id
 * (the summaries group by it). "COL" when there are none. */
static int final_expr(struct zt_ch *ch, const struct alias_map *m, const char *col, struct zt_ch_buf *out)
{
	char f[ZT_TRACE_ID_LEN];
	size_t k = 0;
	int err;

	if (!m->n)
		return zt_ch_buf_printf(out, "%s", col);
	err = zt_ch_buf_printf(out, "transform(%s, [", col);
	for (size_t i = 0; i < m->n && !err; i++)
		if (!resolve_final(ch, m, m->a[i].alias, f) && strcmp(f, m->a[i].alias))
			err = and_text(out, k++ ? "," : "", m->a[i].alias, "");
	err = err ? err : zt_ch_buf_printf(out, "], [");
	k = 0;
	for (size_t i = 0; i < m->n && !err; i++)
		if (!resolve_final(ch, m, m->a[i].alias, f) && strcmp(f, m->a[i].alias))
			err = and_text(out, k++ ? "," : "", f, "");
	err = err ? err : zt_ch_buf_printf(out, "], %s)", col);
	if (!err && k == 0) { /* every alias was in a bad chain */
		out->len = 0;
		err = zt_ch_buf_printf(out, "%s", col);
	}
	return err;
}

/* ---- one trace ----------------------------------------------------------- */

struct span_list {
	struct zt_span *s;
	size_t n, cap;
};

static long decode_to_list(struct rows *r, const char *p, size_t n, int *rc)
{
	struct span_list *l = r->ctx;
	long used = zt_ch_decode_span(p, n, &r->span);

	if (used <= 0)
		return used;
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 16;
		struct zt_span *ns = realloc(l->s, ncap * sizeof(*ns));
		if (!ns) {
			*rc = -ENOMEM;
			return used;
		}
		l->s = ns;
		l->cap = ncap;
	}
	l->s[l->n++] = r->span;
	return used;
}

struct link_ctx {
	struct span_list *l;
};

static long decode_link(struct rows *r, const char *p, size_t n, int *rc)
{
	struct span_list *l = r->ctx;
	char child[ZT_UID_LEN], parent[ZT_UID_LEN];
	long a, b;

	(void)rc;
	a = zt_ch_get_str(p, n, child, sizeof(child));
	if (a <= 0)
		return a;
	b = zt_ch_get_str(p + a, n - (size_t)a, parent, sizeof(parent));
	if (b <= 0)
		return b;
	if ((size_t)(a + b) >= n)
		return 0;
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->s[i].span_uid, child) != 0)
			continue;
		snprintf(l->s[i].parent_uid, sizeof(l->s[i].parent_uid), "%s", parent);
		l->s[i].link_kind = (unsigned char)p[a + b] <= ZT_LINK_EXPLICIT ? (uint8_t)p[a + b] : ZT_LINK_NONE;
	}
	return a + b + 1;
}

/* The late links of the listed spans, applied (first fact per child). */
static int apply_links(struct zt_ch *ch, struct span_list *l)
{
	struct zt_ch_buf sql = {0};
	struct rows *r;
	int err;

	if (!l->n)
		return 0;
	r = calloc(1, sizeof(*r));
	if (!r)
		return zt_ch_set_err(ch, -ENOMEM, "out of memory");
	r->decode = decode_link;
	r->ctx = l;
	err = zt_ch_buf_printf(&sql,
			       "SELECT child_uid, argMin(parent_uid, at_ns), argMin(link_kind, at_ns) FROM %s.%s WHERE "
			       "child_uid IN (",
			       ch->db, ch->t_links);
	for (size_t i = 0; i < l->n && !err; i++)
		err = and_text(&sql, i ? "," : "", l->s[i].span_uid, "");
	err = err ? err : zt_ch_buf_printf(&sql, ") GROUP BY child_uid FORMAT RowBinary");
	err = err ? zt_ch_set_err(ch, err, "out of memory") : run_rows(ch, &sql, r);
	free(sql.p);
	free(r);
	return err;
}

static int emit_list(struct span_list *l, const char *final, zt_span_cb cb, void *ctx)
{
	for (size_t i = 0; i < l->n; i++) {
		int r;
		if (final)
			snprintf(l->s[i].trace_id, sizeof(l->s[i].trace_id), "%s", final);
		r = cb(ctx, &l->s[i]);
		if (r)
			return r < 0 ? r : 0;
	}
	return 0;
}

/* TSV "a\tb\tc\n" of unsigned numbers. */
static int select_u64s(struct zt_ch *ch, struct zt_ch_buf *sql, unsigned long long *v, int n)
{
	struct zt_ch_buf out = {0};
	int err = zt_ch_buf_printf(sql, " FORMAT TSV");

	err = err ? zt_ch_set_err(ch, err, "out of memory") : zt_ch_http(ch, NULL, sql->p, sql->len, false, &out, NULL, NULL);
	if (!err) {
		int got = n == 2 ? sscanf(out.p ? out.p : "", "%llu\t%llu", &v[0], &v[1])
				 : sscanf(out.p ? out.p : "", "%llu\t%llu\t%llu", &v[0], &v[1], &v[2]);
		if (got != n)
			err = zt_ch_set_err(ch, -EPROTO, "ClickHouse at %s: unexpected reply '%.40s'", ch->where,
					    out.p ? out.p : "");
	}
	free(out.p);
	return err;
}

/*
 * The spans of trace `final` (and its aliases, `ids` quoted): the trace
 * index gives their time bounds (a primary-key lookup per partition), then
 * the spans are read in those bounds only. *count: spans emitted.
 */
static int emit_trace(struct zt_ch *ch, const char *ids, const char *final, zt_span_cb cb, void *ctx, size_t *count)
{
	struct zt_ch_buf sql = {0};
	struct span_list l = {0};
	unsigned long long b[3] = {0};
	struct rows *r = NULL;
	int err;

	err = zt_ch_buf_printf(&sql, "SELECT min(min_start), max(max_start), count() FROM %s.%s WHERE own = 0 AND tid IN (%s)",
			       ch->db, ch->t_index, ids);
	err = err ? zt_ch_set_err(ch, err, "out of memory") : select_u64s(ch, &sql, b, 3);
	if (err || b[2] == 0)
		goto out;
	r = calloc(1, sizeof(*r));
	if (!r) {
		err = zt_ch_set_err(ch, -ENOMEM, "out of memory");
		goto out;
	}
	r->decode = decode_to_list;
	r->ctx = &l;
	sql.len = 0;
	err = zt_ch_buf_printf(&sql, "SELECT ");
	err = err ? err : put_cols(&sql, "");
	err = err ? err
		  : zt_ch_buf_printf(&sql,
				     " FROM %s.%s WHERE start_ns >= %llu AND start_ns <= %llu AND trace_id IN (%s) ORDER BY "
				     "start_ns, span_uid LIMIT 1 BY start_ns, span_uid FORMAT RowBinary",
				     ch->db, ch->t_spans, b[0], b[1], ids);
	err = err ? zt_ch_set_err(ch, err, "out of memory") : run_rows(ch, &sql, r);
	err = err ? err : apply_links(ch, &l);
	if (!err) {
		*count = l.n;
		err = emit_list(&l, final, cb, ctx);
	}
out:
	free(sql.p);
	free(r);
	free(l.s);
	return err;
}

static int trace_by_id(struct zt_ch *ch, const struct alias_map *m, const char *id, zt_span_cb cb, void *ctx,
		       size_t *count)
{
	char final[ZT_TRACE_ID_LEN];
	struct zt_ch_buf ids = {0};
	int err = resolve_final(ch, m, id, final);

	if (err)
		return err;
	err = trace_ids(ch, m, final, &ids);
	err = err ? zt_ch_set_err(ch, err, "out of memory") : emit_trace(ch, ids.p, final, cb, ctx, count);
	free(ids.p);
	return err;
}

static int is_uid(const char *id)
{
	if (strlen(id) != ZT_UID_LEN - 1)
		return 0;
	for (const char *p = id; *p; p++)
		if (!isxdigit((unsigned char)*p))
			return 0;
	return 1;
}

/* The start_ns of span `uid` from span_uids (ORDER BY uid: a primary-key
 * lookup in each hour partition's index): 1 found, 0 not there, or an error. */
static int uid_start(struct zt_ch *ch, const char *uid, uint64_t *start)
{
	struct zt_ch_buf sql = {0}, out = {0};
	unsigned long long v;
	int err, found = 0;

	if (ch->no_uidx)
		return 0;
	err = zt_ch_buf_printf(&sql, "SELECT start_ns FROM %s.%s WHERE uid = ", ch->db, ch->t_uidx);
	err = err ? err : zt_ch_buf_quote(&sql, uid);
	err = err ? err : zt_ch_buf_printf(&sql, " ORDER BY start_ns LIMIT 1 FORMAT TSV");
	err = err ? zt_ch_set_err(ch, err, "out of memory") : zt_ch_http(ch, NULL, sql.p, sql.len, false, &out, NULL, NULL);
	if (!err && out.p && out.len && sscanf(out.p, "%llu", &v) == 1) {
		*start = v;
		found = 1;
	}
	free(sql.p);
	free(out.p);
	return err ? err : found;
}

/*
 * A span by uid. Its start_ns comes from span_uids (a primary-key lookup),
 * then the span is a point read of spans' primary key (start_ns, span_uid).
 * A span stored before span_uids existed is found by reading the span_uid
 * column of every partition (ClickHouse >= 19.x could keep a bloom_filter
 * skip index on span_uid instead of the side table).
 */
static int span_by_uid(struct zt_ch *ch, const struct alias_map *m, const char *uid, zt_span_cb cb, void *ctx,
		       size_t *count)
{
	struct zt_ch_buf sql = {0}, out = {0};
	struct span_list l = {0};
	struct rows *r = calloc(1, sizeof(*r));
	uint64_t start = 0;
	int err, indexed;

	if (!r)
		return zt_ch_set_err(ch, -ENOMEM, "out of memory");
	indexed = uid_start(ch, uid, &start);
	for (int pass = indexed > 0 ? 0 : 1; pass < 2; pass++) {
		if (indexed < 0) {
			err = indexed;
			goto out;
		}
		memset(r, 0, sizeof(*r));
		r->decode = decode_to_list;
		r->ctx = &l;
		sql.len = 0;
		err = zt_ch_buf_printf(&sql, "SELECT ");
		err = err ? err : put_cols(&sql, "");
		err = err ? err : zt_ch_buf_printf(&sql, " FROM %s.%s WHERE ", ch->db, ch->t_spans);
		if (!err && pass == 0)
			err = zt_ch_buf_printf(&sql, "start_ns = %llu AND ", (unsigned long long)start);
		err = err ? err : zt_ch_buf_printf(&sql, "span_uid = ");
		err = err ? err : zt_ch_buf_quote(&sql, uid);
		err = err ? err : zt_ch_buf_printf(&sql, " ORDER BY start_ns LIMIT 1 FORMAT RowBinary");
		err = err ? zt_ch_set_err(ch, err, "out of memory") : run_rows(ch, &sql, r);
		if (err || l.n)
			break; /* pass 1: the scan, for a span from before span_uids */
	}
	if (err || l.n == 0)
		goto out;
	if (l.s[0].trace_id[0]) {
		char tid[ZT_TRACE_ID_LEN];
		snprintf(tid, sizeof(tid), "%s", l.s[0].trace_id);
		err = trace_by_id(ch, m, tid, cb, ctx, count);
	} else {
		err = apply_links(ch, &l);
		if (!err) {
			*count = 1;
			err = emit_list(&l, NULL, cb, ctx);
		}
	}
out:
	free(sql.p);
	free(out.p);
	free(r);
	free(l.s);
	return err;
}

int zt_ch_query_trace(struct zt_store *st, const char *id, zt_span_cb cb, void *ctx)
{
	struct zt_ch *ch = (struct zt_ch *)st;
	struct alias_map m = {0};
	char uid[ZT_UID_LEN];
	size_t count = 0;
	int err;

	if (!opened(ch, &err))
		return err;
	if (!id || !id[0] || strnlen(id, ZT_TRACE_ID_LEN) >= ZT_TRACE_ID_LEN)
		return zt_ch_set_err(ch, -EINVAL, "a trace id or span_uid is 1 to %d characters", ZT_TRACE_ID_LEN - 1);
	err = load_aliases(ch, &m);
	if (!err)
		err = trace_by_id(ch, &m, id, cb, ctx, &count);
	if (err || count)
		goto out;
	if (!is_uid(id)) {
		err = zt_ch_set_err(ch, -ENOENT, "no trace %s", id);
		goto out;
	}
	for (int i = 0; i < ZT_UID_LEN; i++)
		uid[i] = (char)tolower((unsigned char)id[i]);
	err = span_by_uid(ch, &m, uid, cb, ctx, &count);
	if (!err && count == 0)
		err = zt_ch_set_err(ch, -ENOENT, "no trace or span %s", id);
out:
	free(m.a);
	return err;
}

/* ---- summaries ------------------------------------------------------------ */

struct sum_ctx {
	zt_trace_cb cb;
	void *ctx;
	struct zt_trace_summary t;
};

static long decode_summary(struct rows *r, const char *p, size_t n, int *rc)
{
	struct sum_ctx *c = r->ctx;
	struct zt_trace_summary *t = &c->t;
	uint64_t v[4];
	size_t at = 0;
	long x;

	memset(t, 0, sizeof(*t));
	if ((x = zt_ch_get_str(p, n, t->trace_id, sizeof(t->trace_id))) <= 0)
		return x;
	at += (size_t)x;
	if ((x = zt_ch_get_str(p + at, n - at, t->root_uid, sizeof(t->root_uid))) <= 0)
		return x;
	at += (size_t)x;
	if ((x = zt_ch_get_str(p + at, n - at, t->root_process, sizeof(t->root_process))) <= 0)
		return x;
	at += (size_t)x;
	if ((x = zt_ch_get_str(p + at, n - at, t->root_endpoint, sizeof(t->root_endpoint))) <= 0)
		return x;
	at += (size_t)x;
	for (int i = 0; i < 4; i++) {
		if ((x = zt_ch_get_u64(p + at, n - at, &v[i])) <= 0)
			return x;
		at += (size_t)x;
	}
	t->start_ns = v[0];
	t->duration_ns = v[1];
	t->spans = (uint32_t)v[2];
	t->errors = (uint32_t)v[3];
	x = c->cb(c->ctx, t);
	*rc = x > 0 ? 1 : (int)x;
	return (long)at;
}

/*
 * One pass over the spans of the window (a primary-key range with since),
 * grouped by trace: the final id (transform over the aliases) or the span's
 * own uid. The root is the row of min(rk), rk = has a parent (late link
 * applied) * 2^62 + start_ns, as in store_traces.c. With since, a trace with
 * spans before it started before it: the trace index (rows with min_start <
 * since) names those traces.
 */
int zt_ch_query_traces(struct zt_store *st, const struct zt_trace_query *q, zt_trace_cb cb, void *ctx)
{
	struct zt_ch *ch = (struct zt_ch *)st;
	struct zt_ch_buf sql = {0}, fin = {0}, fin_idx = {0};
	struct alias_map m = {0};
	struct sum_ctx c = {.cb = cb, .ctx = ctx};
	struct rows *r = NULL;
	char since[64] = "";
	/* over Distributed tables a subquery of another one must be GLOBAL
	 * (computed once, sent to the shards) */
	const char *gin = ch->cluster[0] ? "GLOBAL IN" : "IN";
	int err;

	if (!opened(ch, &err))
		return err;
	err = load_aliases(ch, &m);
	if (err)
		goto out;
	err = final_expr(ch, &m, "trace_id", &fin);
	err = err ? err : final_expr(ch, &m, "tid", &fin_idx);
	if (q->since_ns)
		snprintf(since, sizeof(since), " WHERE start_ns >= %llu", (unsigned long long)q->since_ns);
	err = err ? err
		  : zt_ch_buf_printf(&sql,
				     "SELECT tid, root_uid, root_process, root_endpoint, start, dur, n, errs FROM (SELECT "
				     "tid, argMin(span_uid, rk) AS root_uid, argMin(process, rk) AS root_process, "
				     "argMin(endpoint, rk) AS root_endpoint, min(start_ns) AS start, max(end_ns) AS last, "
				     "if(last > start, last - start, 0) AS dur, uniqExact(start_ns, span_uid) AS n, "
				     "uniqExactIf(start_ns, span_uid, response_status IN (%d, %d, %d)) AS errs FROM (SELECT ",
				     ZT_RS_CLIENT_ERROR, ZT_RS_SERVER_ERROR, ZT_RS_TIMEOUT);
	err = err ? err : zt_ch_buf_printf(&sql, "if(trace_id = '', span_uid, ");
	err = err ? err : zt_ch_buf_put(&sql, fin.p, fin.len);
	err = err ? err
		  : zt_ch_buf_printf(&sql,
				     ") AS tid, toUInt64(parent_uid != '' OR span_uid %s (SELECT child_uid FROM %s.%s)) * "
				     "4611686018427387904 + start_ns AS rk, span_uid, process, endpoint, start_ns, end_ns, "
				     "response_status FROM %s.%s%s) GROUP BY tid) WHERE 1",
				     gin, ch->db, ch->t_links, ch->db, ch->t_spans, since);
	if (!err && q->since_ns) {
		/* traces with a span before since: index rows of their ids or aliases */
		err = zt_ch_buf_printf(&sql, " AND tid NOT %s (SELECT ", gin);
		err = err ? err : zt_ch_buf_put(&sql, fin_idx.p, fin_idx.len);
		err = err ? err
			  : zt_ch_buf_printf(&sql,
					     " FROM %s.%s WHERE own = 0 AND min_start < %llu AND (tid %s (SELECT trace_id FROM "
					     "%s.%s WHERE start_ns >= %llu)",
					     ch->db, ch->t_index, (unsigned long long)q->since_ns, gin, ch->db, ch->t_spans,
					     (unsigned long long)q->since_ns);
		/* every id an alias chain names: its spans count for its final id */
		for (size_t i = 0; i < m.n && !err; i++) {
			err = and_text(&sql, i ? "," : " OR tid IN (", m.a[i].alias, ",");
			err = err ? err : zt_ch_buf_quote(&sql, m.a[i].trace_id);
		}
		err = err ? err : zt_ch_buf_printf(&sql, m.n ? ")))" : "))");
	}
	if (!err && q->service) {
		err = and_text(&sql, " AND root_process != '' AND lower(substring(root_process, 1, length(", q->service,
			       ")))");
		err = err ? err : and_text(&sql, " = lower(", q->service, ")");
	}
	if (!err && q->endpoint)
		err = and_text(&sql, " AND root_endpoint != '' AND position(root_endpoint, ", q->endpoint, ") > 0");
	if (!err && q->errors_only)
		err = zt_ch_buf_printf(&sql, " AND errs > 0");
	if (!err && q->min_duration_ns)
		err = zt_ch_buf_printf(&sql, " AND dur >= %llu", (unsigned long long)q->min_duration_ns);
	err = err ? err
		  : zt_ch_buf_printf(&sql, q->sort_by_duration ? " ORDER BY dur DESC, start DESC, tid"
							       : " ORDER BY start DESC, tid");
	if (!err && q->limit)
		err = zt_ch_buf_printf(&sql, " LIMIT %u", q->limit);
	err = err ? err : zt_ch_buf_printf(&sql, " FORMAT RowBinary");
	if (err) {
		err = zt_ch_set_err(ch, err, "out of memory for a query");
		goto out;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		err = zt_ch_set_err(ch, -ENOMEM, "out of memory");
		goto out;
	}
	r->decode = decode_summary;
	r->ctx = &c;
	err = run_rows(ch, &sql, r);
out:
	free(r);
	free(sql.p);
	free(fin.p);
	free(fin_idx.p);
	free(m.a);
	return err;
}
