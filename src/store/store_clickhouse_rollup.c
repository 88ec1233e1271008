/* SPDX-License-Identifier: MIT */
/*
 * store_clickhouse_rollup.c - the ClickHouse backend's RED rollups
 * (store.h: put_rollups, query_red, retain_rollups).
 *
 * Table `rollup` (rollup_local + a Distributed `rollup` in a cluster):
 *   ReplacingMergeTree, PARTITION BY res * 1000000 + day of bucket_ns (one
 *   partition per resolution and UTC day: the two resolutions are retained
 *   apart), ORDER BY (res, kind, bucket_ns, writer, seq, row): a RED query
 *   (one resolution, one kind, a time range) is a primary-key range.
 *
 * Rows are the rollup's DELTAS (trace/rollup.h): SQLite adds them into one
 * row per series and bucket with an UPSERT; ClickHouse has no UPSERT, so
 * every delta is its own row and the read adds them up (below). A delta
 * resent after a failure (the INSERT happened but its reply was lost, or
 * ClickHouse went away mid-batch) must not count twice: each batch gets an
 * id (writer, seq) when it is queued - writer a random 64-bit id per open
 * store, seq counting its batches - and each row its index in the batch.
 * A retry resends the same batch with the same ids, so a copy of a row is
 * the same (res, kind, bucket_ns, writer, seq, row): ReplacingMergeTree
 * folds copies at its next merge, and every read deduplicates exactly
 * until then with LIMIT 1 BY writer, seq, row.
 *
 * Merging at read time, in C (red_agg.c): the histogram is hist.h's sparse
 * varint blob, which 18.16 cannot merge in SQL (no user functions). A
 * newer design could keep the buckets as two arrays and let ClickHouse
 * add them with sumMap in an AggregatingMergeTree; keeping one codec and
 * one merging code (the same as SQLite's) makes the two backends answer
 * the same, exactly. The rows read are those of the range asked, one per
 * series per bucket per flush that touched it (a flush drains once a
 * second), decoded as they arrive: memory is red_agg's groups only.
 *
 * Retention (retain_rollups): whole days of one resolution that ended
 * before the bound are dropped (DROP PARTITION, cheap), and the rows of
 * the day that straddles it by ALTER TABLE ... DELETE (a mutation, 18.x),
 * waited for so that the next read no longer sees them. A TTL on the
 * table (19.6+) would do both without a mutation. The sink calls it once
 * a minute; the mutation rewrites one day of one resolution's rows, small.
 */
#include "store/clickhouse_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "store/red_agg.h"
#include "trace/hist.h"

#define DAY_NS 86400000000000ull
#define PART_RES_MUL 1000000ull
#define MUTATION_WAIT_MS 20000

static const char rollup_cols[] =
    "res UInt32, bucket_ns UInt64, kind UInt8, host String, pid UInt32, service String, protocol String,"
    " endpoint String, peer String, peer_host String, peer_pid UInt32, requests UInt64, err_client UInt64,"
    " err_server UInt64, err_timeout UInt64, sum_ns UInt64, hist String, writer UInt64, seq UInt64,"
    " row UInt32";
static const char rollup_want[] =
    "res UInt32\nbucket_ns UInt64\nkind UInt8\nhost String\npid UInt32\nservice String\nprotocol String\n"
    "endpoint String\npeer String\npeer_host String\npeer_pid UInt32\nrequests UInt64\nerr_client UInt64\n"
    "err_server UInt64\nerr_timeout UInt64\nsum_ns UInt64\nhist String\nwriter UInt64\nseq UInt64\n"
    "row UInt32\n";
#define READ_COLS                                                                                            \
	"res, bucket_ns, kind, host, pid, service, protocol, endpoint, peer, peer_host, peer_pid, requests,"     \
	" err_client, err_server, err_timeout, sum_ns, hist"

int zt_ch_rollup_create(struct zt_ch *ch)
{
	char sql[2048];
	int err;

	snprintf(sql, sizeof(sql),
		 "CREATE TABLE IF NOT EXISTS %s.%s (%s) ENGINE = ReplacingMergeTree() PARTITION BY res * %llu + "
		 "intDiv(bucket_ns, %llu) ORDER BY (res, kind, bucket_ns, writer, seq, row)",
		 ch->db, ch->w_rollup, rollup_cols, PART_RES_MUL, DAY_NS);
	err = zt_ch_exec(ch, sql);
	if (!err && ch->cluster[0]) {
		snprintf(sql, sizeof(sql),
			 "CREATE TABLE IF NOT EXISTS %s.%s AS %s.%s ENGINE = Distributed(%s, %s, %s, writer)", ch->db,
			 ch->t_rollup, ch->db, ch->w_rollup, ch->cluster, ch->db, ch->w_rollup);
		err = zt_ch_exec(ch, sql);
	}
	return err;
}

const char *zt_ch_rollup_want(void)
{
	return rollup_want;
}

static uint64_t random_id(void)
{
	uint64_t v = 0;
	struct timespec ts;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v)) {
		clock_gettime(CLOCK_REALTIME, &ts);
		v = ((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) ^ ((uint64_t)getpid() << 40);
	}
	return v ? v : 1;
}

/* ---- writes -------------------------------------------------------------- */

static int put_u(struct zt_ch_buf *b, uint64_t v, size_t size)
{
	return zt_ch_buf_put(b, &v, size); /* little-endian: ch_rowbinary.c asserts it */
}

static int put_s(struct zt_ch_buf *b, const char *s, size_t max)
{
	return zt_ch_put_bytes(b, s, strnlen(s, max));
}

static int encode_row(struct zt_ch_buf *b, const struct zt_rollup_row *r, uint64_t writer, uint64_t seq,
		      uint32_t idx, uint8_t *hbuf)
{
	const struct zt_rollup_key *k = &r->k;
	const char *proto = zt_l7_name(k->l7);
	size_t hn = zt_hist_encode(&r->v.hist, hbuf, ZT_HIST_ENC_MAX);
	int err = 0;

	err = err ? err : put_u(b, k->res_s, 4);
	err = err ? err : put_u(b, k->bucket_ns, 8);
	err = err ? err : put_u(b, k->kind, 1);
	err = err ? err : put_s(b, k->host, sizeof(k->host));
	err = err ? err : put_u(b, k->pid, 4);
	err = err ? err : put_s(b, k->service, sizeof(k->service));
	err = err ? err : put_s(b, proto ? proto : "", 64);
	err = err ? err : put_s(b, k->endpoint, sizeof(k->endpoint));
	err = err ? err : put_s(b, k->peer, sizeof(k->peer));
	err = err ? err : put_s(b, k->peer_host, sizeof(k->peer_host));
	err = err ? err : put_u(b, k->peer_pid, 4);
	err = err ? err : put_u(b, r->v.requests, 8);
	for (int i = 0; i < ZT_RERR__COUNT; i++)
		err = err ? err : put_u(b, r->v.errors[i], 8);
	err = err ? err : put_u(b, r->v.sum_ns, 8);
	err = err ? err : zt_ch_put_bytes(b, hbuf, hn);
	err = err ? err : put_u(b, writer, 8);
	err = err ? err : put_u(b, seq, 8);
	err = err ? err : put_u(b, idx, 4);
	return err;
}

int zt_ch_put_rollups(struct zt_store *st, const struct zt_rollup_row *rows, size_t n)
{
	struct zt_ch *ch = (struct zt_ch *)st;
	struct zt_ch_rbatch *b = ch->rb_tail;
	uint8_t *hbuf;
	size_t before;
	int err = zt_ch_check_writable(ch);

	if (err || !n)
		return err;
	if (!b || b->tried) {
		b = calloc(1, sizeof(*b));
		if (!b)
			return zt_ch_set_err(ch, -ENOMEM, "out of memory for the rollup batch");
		if (!ch->writer_id)
			ch->writer_id = random_id();
		b->seq = ++ch->rb_seq;
		if (ch->rb_tail)
			ch->rb_tail->next = b;
		else
			ch->rb_head = b;
		ch->rb_tail = b;
	}
	hbuf = malloc(ZT_HIST_ENC_MAX);
	if (!hbuf)
		return zt_ch_set_err(ch, -ENOMEM, "out of memory for the rollup batch");
	/* counted in the outage buffer: a long outage refuses spans first,
	 * rollups (a few rows a second) are always taken */
	before = b->rows.cap;
	for (size_t i = 0; i < n && !err; i++) {
		size_t at = b->rows.len;
		err = encode_row(&b->rows, &rows[i], ch->writer_id, b->seq, b->n, hbuf);
		if (err)
			b->rows.len = at;
		else
			b->n++;
	}
	ch->buffered_bytes += b->rows.cap - before;
	free(hbuf);
	return err ? zt_ch_set_err(ch, err, "out of memory for the rollup batch") : 0;
}

int zt_ch_rollup_write(struct zt_ch *ch)
{
	char sql[512];
	int err = 0;

	snprintf(sql, sizeof(sql), "INSERT INTO %s.%s FORMAT RowBinary", ch->db, ch->w_rollup);
	while (ch->rb_head && !err) {
		struct zt_ch_rbatch *b = ch->rb_head;

		b->tried = true; /* a retry resends exactly these rows */
		err = zt_ch_http(ch, sql, b->rows.p, b->rows.len, ch->gzip, NULL, NULL, NULL);
		if (err)
			break;
		ch->stats.inserts++;
		ch->stats.rollup_rows += b->n;
		ch->rb_head = b->next;
		if (!ch->rb_head)
			ch->rb_tail = NULL;
		ch->buffered_bytes -= b->rows.cap;
		free(b->rows.p);
		free(b);
	}
	return err;
}

void zt_ch_rollup_free(struct zt_ch *ch)
{
	while (ch->rb_head) {
		struct zt_ch_rbatch *b = ch->rb_head;
		ch->rb_head = b->next;
		free(b->rows.p);
		free(b);
	}
	ch->rb_tail = NULL;
}

/* ---- reads --------------------------------------------------------------- */

struct red_read {
	struct zt_red_agg *agg;
	struct zt_rollup_row *row;
	struct zt_ch_buf rest;
	int err; /* from red_agg */
};

static long get_fixed(const char *p, size_t n, void *v, size_t size)
{
	if (n < size)
		return 0;
	memset(v, 0, 8);
	memcpy(v, p, size);
	return (long)size;
}

/* One row from p[0..n): bytes used, 0 when incomplete, -EPROTO if garbage. */
static long decode_row(struct red_read *r, const char *p, size_t n)
{
	struct zt_rollup_key *k = &r->row->k;
	struct zt_rollup_val *v = &r->row->v;
	char proto[64];
	const char *blob = NULL;
	size_t at = 0, blen = 0;
	uint64_t u;
	long m;
	int err;

#define FIX(dst, size)                                                                                       \
	do {                                                                                                 \
		if ((m = get_fixed(p + at, n - at, &u, size)) <= 0)                                          \
			return m;                                                                            \
		at += (size_t)m;                                                                             \
		dst = u;                                                                                     \
	} while (0)
#define STR(dst, size)                                                                                       \
	do {                                                                                                 \
		if ((m = zt_ch_get_str(p + at, n - at, dst, size)) <= 0)                                     \
			return m;                                                                            \
		at += (size_t)m;                                                                             \
	} while (0)
	memset(k, 0, sizeof(*k));
	memset(v, 0, offsetof(struct zt_rollup_val, hist)); /* the histogram stays empty: the blob goes to the group */
	FIX(k->res_s, 4);
	FIX(k->bucket_ns, 8);
	FIX(k->kind, 1);
	STR(k->host, sizeof(k->host));
	FIX(k->pid, 4);
	STR(k->service, sizeof(k->service));
	STR(proto, sizeof(proto));
	STR(k->endpoint, sizeof(k->endpoint));
	STR(k->peer, sizeof(k->peer));
	STR(k->peer_host, sizeof(k->peer_host));
	FIX(k->peer_pid, 4);
	FIX(v->requests, 8);
	for (int i = 0; i < ZT_RERR__COUNT; i++)
		FIX(v->errors[i], 8);
	FIX(v->sum_ns, 8);
	if ((m = zt_ch_get_blob(p + at, n - at, &blob, &blen)) <= 0)
		return m;
	at += (size_t)m;
#undef FIX
#undef STR
	k->l7 = (uint8_t)zt_l7_from_name(proto);
	/* a damaged histogram adds the counts, nothing to the histogram */
	err = zt_red_agg_add_blob(r->agg, k, v, blob, blen);
	if (err) {
		r->err = err;
		return -ECANCELED;
	}
	return (long)at;
}

/* The complete rows of p[0..n) into r->agg; *used: bytes they took. */
static int decode_rows(struct red_read *r, const char *p, size_t n, size_t *used)
{
	size_t at = 0;

	for (;;) {
		long m = decode_row(r, p + at, n - at);
		if (m < 0) {
			*used = at;
			return m == -ECANCELED ? m : -EBADMSG;
		}
		if (m == 0)
			break;
		at += (size_t)m;
	}
	*used = at;
	return 0;
}

int zt_ch_red_decode(struct zt_red_agg *agg, const char *p, size_t n, size_t *used)
{
	struct red_read r = {.agg = agg};
	int err;

	r.row = calloc(1, sizeof(*r.row));
	if (!r.row)
		return -ENOMEM;
	err = decode_rows(&r, p, n, used);
	free(r.row);
	return err == -ECANCELED ? r.err : err;
}

static int on_rows(void *arg, const char *data, size_t n)
{
	struct red_read *r = arg;
	size_t at = 0;
	int err;

	if (zt_ch_buf_put(&r->rest, data, n))
		return -ENOMEM;
	err = decode_rows(r, r->rest.p, r->rest.len, &at);
	if (err)
		return err;
	memmove(r->rest.p, r->rest.p + at, r->rest.len - at);
	r->rest.len -= at;
	return 0;
}

static int add_text_filter(struct zt_ch_buf *sql, const char *col, const char *val)
{
	int err;

	if (!val)
		return 0;
	err = zt_ch_buf_printf(sql, " AND %s = ", col);
	return err ? err : zt_ch_buf_quote(sql, val);
}

int zt_ch_query_red(struct zt_store *st, const struct zt_red_query *q, zt_red_cb cb, void *ctx)
{
	struct zt_ch *ch = (struct zt_ch *)st;
	struct red_read r = {0};
	struct zt_ch_buf sql = {0};
	uint32_t res = zt_red_res_for(q);
	uint64_t w = res * 1000000000ull, since = q->since_ns - q->since_ns % w;
	int err;

	if (!ch->open)
		return zt_ch_set_err(ch, -EBADF, "store is not open");
	if (q->kind >= ZT_RK__COUNT)
		return zt_ch_set_err(ch, -EINVAL, "unknown rollup kind %u", q->kind);
	if (ch->no_rollup)
		return 0; /* a database from before rollups, read-only: none */
	r.agg = zt_red_agg_new(q);
	r.row = calloc(1, sizeof(*r.row));
	if (!r.agg || !r.row) {
		err = zt_ch_set_err(ch, -ENOMEM, "out of memory");
		goto out;
	}
	err = zt_ch_buf_printf(&sql, "SELECT " READ_COLS " FROM %s.%s WHERE res = %u AND kind = %u AND bucket_ns >= %llu",
			       ch->db, ch->t_rollup, res, q->kind, (unsigned long long)since);
	if (!err && q->until_ns)
		err = zt_ch_buf_printf(&sql, " AND bucket_ns < %llu", (unsigned long long)q->until_ns);
	err = err ? err : add_text_filter(&sql, "service", q->service);
	err = err ? err : add_text_filter(&sql, "endpoint", q->endpoint);
	err = err ? err : add_text_filter(&sql, "peer", q->peer);
	err = err ? err : add_text_filter(&sql, "host", q->host);
	if (!err && q->pid)
		err = zt_ch_buf_printf(&sql, " AND pid = %u", q->pid);
	/* protocol: red_agg matches it (case-insensitive by name, as SQLite) */
	err = err ? err : zt_ch_buf_printf(&sql, " LIMIT 1 BY writer, seq, row FORMAT RowBinary");
	if (err) {
		err = zt_ch_set_err(ch, -ENOMEM, "out of memory");
		goto out;
	}
	err = zt_ch_http(ch, NULL, sql.p, sql.len, false, NULL, on_rows, &r);
	if (err == -ECANCELED && r.err == -E2BIG)
		err = zt_ch_set_err(ch, -E2BIG, "more than %d rows in the answer: narrow the range or raise the step",
				    ZT_RED_MAX_ROWS);
	else if (err == -ECANCELED || err == -ENOMEM)
		err = zt_ch_set_err(ch, -ENOMEM, "out of memory");
	else if (err == -EBADMSG)
		err = zt_ch_set_err(ch, -EBADMSG, "ClickHouse at %s: unexpected reply to a RED query", ch->where);
	else if (!err && r.rest.len)
		err = zt_ch_set_err(ch, -EBADMSG, "ClickHouse at %s: a RED reply ends inside a row", ch->where);
	if (!err)
		err = zt_red_agg_emit(r.agg, cb, ctx);
out:
	free(sql.p);
	free(r.rest.p);
	free(r.row);
	zt_red_agg_free(r.agg);
	return err;
}

/* ---- retention ----------------------------------------------------------- */

static int query_u64(struct zt_ch *ch, const char *sql, uint64_t *v)
{
	struct zt_ch_buf out = {0};
	int err = zt_ch_http(ch, NULL, sql, strlen(sql), false, &out, NULL, NULL);

	if (!err && (!out.p || sscanf(out.p, "%llu", (unsigned long long *)v) != 1))
		err = zt_ch_set_err(ch, -EBADMSG, "ClickHouse at %s: unexpected reply to '%.80s'", ch->where, sql);
	free(out.p);
	return err;
}

/* Waits until the table has no mutation left to do. */
static int wait_mutations(struct zt_ch *ch)
{
	struct zt_ch_buf sql = {0};
	int err;

	err = zt_ch_buf_printf(&sql, "SELECT count() FROM system.mutations WHERE NOT is_done AND database = ");
	err = err ? err : zt_ch_buf_quote(&sql, ch->db);
	err = err ? err : zt_ch_buf_printf(&sql, " AND table = ");
	err = err ? err : zt_ch_buf_quote(&sql, ch->w_rollup);
	if (err) {
		free(sql.p);
		return zt_ch_set_err(ch, -ENOMEM, "out of memory");
	}
	for (int waited = 0;; waited += 20) {
		uint64_t left = 0;
		if ((err = query_u64(ch, sql.p, &left)) || !left)
			break;
		if (waited >= MUTATION_WAIT_MS) {
			err = zt_ch_set_err(ch, -ETIMEDOUT, "ClickHouse at %s: rollup retention still running after %d s",
					    ch->where, MUTATION_WAIT_MS / 1000);
			break;
		}
		usleep(20000);
	}
	free(sql.p);
	return err;
}

int zt_ch_retain_rollups(struct zt_store *st, uint32_t res_s, uint64_t min_bucket_ns, uint64_t *dropped)
{
	struct zt_ch *ch = (struct zt_ch *)st;
	struct zt_ch_buf out = {0};
	char sql[1536];
	uint64_t n = 0, first_day = min_bucket_ns / DAY_NS;
	int err = zt_ch_check_writable(ch);

	if (err)
		return err;
	/* what goes, counted as SQLite counts: series x buckets */
	snprintf(sql, sizeof(sql),
		 "SELECT uniqExact(bucket_ns, kind, host, pid, service, protocol, endpoint, peer, peer_host, "
		 "peer_pid) FROM %s.%s WHERE res = %u AND bucket_ns < %llu",
		 ch->db, ch->w_rollup, res_s, (unsigned long long)min_bucket_ns);
	if ((err = query_u64(ch, sql, &n)) || n == 0)
		return err;
	/* whole days before the bound's day */
	snprintf(sql, sizeof(sql),
		 "SELECT DISTINCT partition FROM system.parts WHERE active AND database = '%s' AND table = '%s' "
		 "AND toUInt64(partition) >= %llu AND toUInt64(partition) < %llu FORMAT TSV",
		 ch->db, ch->w_rollup, (unsigned long long)(res_s * PART_RES_MUL),
		 (unsigned long long)(res_s * PART_RES_MUL + first_day));
	err = zt_ch_http(ch, NULL, sql, strlen(sql), false, &out, NULL, NULL);
	for (const char *p = out.p; !err && p && *p;) {
		unsigned long long part;
		if (sscanf(p, "%llu", &part) != 1) {
			err = zt_ch_set_err(ch, -EBADMSG, "ClickHouse at %s: unexpected partition list", ch->where);
			break;
		}
		snprintf(sql, sizeof(sql), "ALTER TABLE %s.%s DROP PARTITION %llu", ch->db, ch->w_rollup, part);
		err = zt_ch_exec(ch, sql);
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	free(out.p);
	if (err)
		return err;
	/* the rest of the bound's day: a mutation, waited for */
	if (min_bucket_ns % DAY_NS) {
		uint64_t left = 0;
		snprintf(sql, sizeof(sql), "SELECT count() FROM %s.%s WHERE res = %u AND bucket_ns < %llu", ch->db,
			 ch->w_rollup, res_s, (unsigned long long)min_bucket_ns);
		if ((err = query_u64(ch, sql, &left)))
			return err;
		if (left) {
			snprintf(sql, sizeof(sql), "ALTER TABLE %s.%s DELETE WHERE res = %u AND bucket_ns < %llu", ch->db,
				 ch->w_rollup, res_s, (unsigned long long)min_bucket_ns);
			if ((err = zt_ch_exec(ch, sql)) || (err = wait_mutations(ch)))
				return err;
		}
	}
	*dropped += n;
	return 0;
}
