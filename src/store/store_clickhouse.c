/* SPDX-License-Identifier: MIT */
/*
 * store_clickhouse.c - the ClickHouse backend (store.h) over ClickHouse's
 * HTTP interface with libcurl: one easy handle per store, so the connection
 * is kept alive between requests; inserts are RowBinary, gzip-compressed
 * (Content-Encoding: gzip, which 18.16 decodes; by default only when the
 * server is on another host), in batches bounded by size (ZT_CH_BATCH spans
 * or 32 MiB) and age (1 s: put_spans writes a batch once
 * its first span is that old). Reads are in store_clickhouse_query.c.
 *
 * URL: clickhouse://HOST:PORT/DB[?user=U&password_file=F&cluster=NAME
 *      &compress=0|1|auto&buffer_mb=N]. The database and tables are created when
 * missing; tables that exist with other columns are refused with a message
 * naming the column (a foreign table is never written).
 *
 * Schema (works on 18.16; see each table for what a newer server does better):
 *   spans        ReplacingMergeTree, PARTITION BY hour of start_ns, ORDER BY
 *                (start_ns, span_uid): the time range of "recent spans /
 *                traces" is a primary-key range, and (start_ns, span_uid) is
 *                the span's identity (store.h's duplicate rule), so a merge
 *                folds copies of one span into one row.
 *   trace_index  one row per trace per batch: (tid, min and max start_ns),
 *                ORDER BY tid, partitioned like spans. Trace-by-id reads it
 *                first (a primary-key lookup in each partition's index), then
 *                reads spans WHERE start_ns BETWEEN min AND max AND trace_id IN
 *                (...): partitions outside the bounds are skipped and, inside,
 *                only the granules of that time range are read. No full scan,
 *                without the skip indexes (bloom_filter on trace_id) that
 *                ClickHouse >= 19.x has. tid is the trace_id, or the span_uid
 *                of a span stored without one (own = 1).
 *   span_uids    (uid, start_ns) per span, ORDER BY uid, partitioned like
 *                spans: `ztrace trace UID` looks the uid up there (a
 *                primary-key read), then reads spans at (start_ns, span_uid),
 *                instead of reading the span_uid column of every partition.
 *   rollup       RED delta rows: store_clickhouse_rollup.c.
 *   span_links   the joiner's late links (child -> parent), ORDER BY child_uid,
 *   trace_alias  its late aliases, ORDER BY alias; both partitioned by the
 *                hour they were written (at_ns), and "first fact wins" is
 *                argMin(.., at_ns) at read.
 * TTL (19.6+) would express the age retention in the table; here retention
 * drops whole hour partitions (retain below).
 *
 * Idempotent writes: a span is written at most once. Before a batch is
 * inserted, the flush asks which of its (start_ns, span_uid) are stored
 * already (primary-key ranges: the batch's time range) and leaves them out,
 * as SQLite's INSERT OR IGNORE does, so a batch resent after a failure (or
 * after a reply lost on the wire: the insert may have happened) is not
 * doubled and spans_written counts only new spans. Two writers racing on the
 * same span could both insert it; then ReplacingMergeTree folds the copies
 * at its next merge, and every read deduplicates exactly until then
 * (LIMIT 1 BY start_ns, span_uid for span lists, uniqExact(start_ns,
 * span_uid) for counts). insert_deduplicate would do it on Replicated
 * tables only, which need ZooKeeper.
 *
 * The status op (store.h) publishes the buffer's state under a mutex for
 * the API thread: spans and bytes held, the bound, spans refused, since
 * when writes fail and why.
 *
 * ClickHouse down or slow: put_spans keeps accepting into a bounded buffer
 * of encoded batches (buffer_mb, default 256 MiB, ~800k spans) and flush
 * keeps it while the server fails, retrying after 1, 2, 4, 8 s at most; a
 * buffered outage is not a flush error (nothing is lost: the sink would
 * otherwise stop handing over spans). When the buffer is full, put_spans
 * refuses with -ENOBUFS: the sink counts those spans (store_failed) and the
 * store counts them too (stats.buffer_dropped). Everything buffered is
 * written, in order, once the server answers again. close() tries the
 * buffer for up to ZT_CH_CLOSE_MS more; what is still unwritten then stays
 * counted in spans_pending.
 *
 * Scale-out (cluster=NAME, a cluster of the server's remote_servers): each
 * writer creates spans_local etc. on the server it talks to, and a
 * Distributed table of the same name without _local over the cluster;
 * writers insert into their server's local tables, readers read the
 * Distributed ones (every shard answers). The duplicate check reads the
 * Distributed table, so a batch resent through another writer is caught
 * too. DDL ON CLUSTER needs ZooKeeper; this way needs none. The two ends of
 * one exchange reaching different writers are linked through the shared
 * tables: store_clickhouse_xlink.c.
 */
#include "store/clickhouse_int.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define ZT_CH_BATCH 131072
#define ZT_CH_CHUNK_BYTES (32u << 20)
#define ZT_CH_AGE_NS 1000000000ull
#define ZT_CH_WAIT_MIN_NS 1000000000ull
#define ZT_CH_WAIT_MAX_NS 8000000000ull
#define ZT_CH_CLOSE_MS 5000

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int zt_ch_set_err(struct zt_ch *ch, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ch->base.errmsg, sizeof(ch->base.errmsg), fmt, ap);
	va_end(ap);
	return err;
}

static struct zt_ch *to_ch(struct zt_store *st)
{
	return (struct zt_ch *)st;
}

/* ---- status ---------------------------------------------------------------- */

/* The writer publishes its outage state for the status op, which the API
 * calls from its own thread. */
static void publish_status(struct zt_ch *ch)
{
	pthread_mutex_lock(&ch->pub_lock);
	ch->pub.buffered_spans = ch->base.spans_pending;
	ch->pub.buffered_bytes = ch->buffered_bytes;
	ch->pub.buffer_bound = ch->max_buffer_bytes;
	ch->pub.buffer_dropped = ch->stats.buffer_dropped;
	ch->pub.failing_since_ns = ch->down ? ch->down_since_ns : 0;
	ch->pub.outages = ch->stats.outages;
	snprintf(ch->pub.last_error, sizeof(ch->pub.last_error), "%s", ch->down_msg);
	pthread_mutex_unlock(&ch->pub_lock);
}

static int ch_status(struct zt_store *st, struct zt_store_status *out)
{
	struct zt_ch *ch = (struct zt_ch *)st;

	pthread_mutex_lock(&ch->pub_lock);
	*out = ch->pub;
	pthread_mutex_unlock(&ch->pub_lock);
	return 0;
}

/* ---- writes --------------------------------------------------------------- */

int zt_ch_check_writable(struct zt_ch *ch)
{
	if (!ch->open)
		return zt_ch_set_err(ch, -EBADF, "store is not open");
	if (ch->mode != ZT_STORE_RW)
		return zt_ch_set_err(ch, -EROFS, "store is open read-only");
	return 0;
}

static void chunk_free(struct zt_ch_chunk *c)
{
	if (!c)
		return;
	free(c->rows.p);
	free(c->keys);
	free(c);
}

static size_t chunk_bytes(const struct zt_ch_chunk *c)
{
	return c->rows.cap + c->cap * sizeof(*c->keys);
}

static int key_cmp(const void *a, const void *b)
{
	const struct zt_ch_key *x = a, *y = b;

	if (x->start_ns != y->start_ns)
		return x->start_ns < y->start_ns ? -1 : 1;
	if (strcmp(x->uid, y->uid))
		return strcmp(x->uid, y->uid);
	return x->off < y->off ? -1 : x->off > y->off; /* first put first */
}

/* The keys of c already stored: marked by len = 0 (their rows are left out).
 * Spans repeated inside the batch keep their first copy. */
struct stored_ctx {
	struct zt_ch_chunk *c;
	struct zt_ch_buf rest;
};

static int find_key(struct zt_ch_chunk *c, uint64_t start, const char *uid)
{
	size_t lo = 0, hi = c->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		struct zt_ch_key *k = &c->keys[mid];
		int cmp = k->start_ns != start ? (k->start_ns < start ? -1 : 1) : strcmp(k->uid, uid);
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	while (lo < c->n && c->keys[lo].start_ns == start && strcmp(c->keys[lo].uid, uid) == 0)
		c->keys[lo++].len = 0;
	return 0;
}

static int on_stored(void *arg, const char *data, size_t n)
{
	struct stored_ctx *s = arg;
	size_t at = 0;

	if (zt_ch_buf_put(&s->rest, data, n))
		return -ENOMEM;
	for (;;) {
		uint64_t start;
		char uid[ZT_UID_LEN];
		long a = zt_ch_get_u64(s->rest.p + at, s->rest.len - at, &start), b;

		if (a <= 0)
			break;
		b = zt_ch_get_str(s->rest.p + at + a, s->rest.len - at - (size_t)a, uid, sizeof(uid));
		if (b < 0)
			return -EBADMSG;
		if (b == 0)
			break;
		find_key(s->c, start, uid);
		at += (size_t)(a + b);
	}
	memmove(s->rest.p, s->rest.p + at, s->rest.len - at);
	s->rest.len -= at;
	return 0;
}

static int mark_stored(struct zt_ch *ch, struct zt_ch_chunk *c)
{
	struct zt_ch_buf sql = {0};
	struct stored_ctx s = {.c = c};
	size_t asked = 0;
	int err;

	qsort(c->keys, c->n, sizeof(*c->keys), key_cmp);
	for (size_t i = 1; i < c->n; i++)
		if (c->keys[i].start_ns == c->keys[i - 1].start_ns && strcmp(c->keys[i].uid, c->keys[i - 1].uid) == 0)
			c->keys[i].len = 0;
	/* The stored keys in the batch's time range, matched here: a primary-key
	 * range read. Batches of a live writer follow time, so the range holds
	 * little but the batch's own spans when they were written already. (A
	 * list of the batch's keys in an IN clause made ClickHouse 18.16 parse
	 * 32k tuples per batch: 20x slower.) */
	for (size_t i = 0; i < c->n; i++)
		asked += c->keys[i].len != 0;
	err = zt_ch_buf_printf(&sql,
			       "SELECT start_ns, span_uid FROM %s.%s WHERE start_ns >= %llu AND start_ns <= %llu "
			       "FORMAT RowBinary",
			       ch->db, ch->t_spans, (unsigned long long)c->keys[0].start_ns,
			       (unsigned long long)c->keys[c->n - 1].start_ns);
	if (!err && !asked)
		goto out; /* every key is known stored */
	if (err)
		err = zt_ch_set_err(ch, err, "out of memory for the duplicate check");
	else
		err = zt_ch_http(ch, NULL, sql.p, sql.len, false, NULL, on_stored, &s);
	if (err == -EBADMSG || err == -ENOMEM)
		err = zt_ch_set_err(ch, err, "ClickHouse at %s: unexpected reply to the duplicate check", ch->where);
out:
	free(sql.p);
	free(s.rest.p);
	return err;
}

/* The trace index rows of a chunk: per tid, min and max start. Keys are
 * sorted by time; a small sort by tid groups them. */
static int tid_cmp(const void *a, const void *b)
{
	const struct zt_ch_key *const *x = a, *const *y = b;
	const char *tx = (*x)->tid[0] ? (*x)->tid : (*x)->uid, *ty = (*y)->tid[0] ? (*y)->tid : (*y)->uid;
	int c = strcmp(tx, ty);

	return c ? c : ((*x)->tid[0] != 0) - ((*y)->tid[0] != 0);
}

static int index_rows(struct zt_ch_chunk *c, struct zt_ch_buf *out)
{
	struct zt_ch_key **v = malloc(c->n * sizeof(*v));
	int err = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < c->n; i++)
		v[i] = &c->keys[i];
	qsort(v, c->n, sizeof(*v), tid_cmp);
	for (size_t i = 0; i < c->n && !err;) {
		size_t j = i;
		uint64_t lo = v[i]->start_ns, hi = v[i]->start_ns;
		int own = !v[i]->tid[0];
		const char *tid = own ? v[i]->uid : v[i]->tid;
		unsigned char len = (unsigned char)strlen(tid);

		while (j < c->n && tid_cmp(&v[i], &v[j]) == 0) {
			lo = v[j]->start_ns < lo ? v[j]->start_ns : lo;
			hi = v[j]->start_ns > hi ? v[j]->start_ns : hi;
			j++;
		}
		err = zt_ch_buf_put(out, &len, 1);
		if (!err)
			err = zt_ch_buf_put(out, tid, len);
		if (!err)
			err = zt_ch_buf_put(out, &(unsigned char){(unsigned char)own}, 1);
		if (!err)
			err = zt_ch_buf_put(out, &lo, 8);
		if (!err)
			err = zt_ch_buf_put(out, &hi, 8);
		i = j;
	}
	free(v);
	return err;
}

/* The span_uids rows of a chunk: (uid, start_ns) of each distinct span.
 * Every key, stored before or not: a retry writes them again, harmless (a
 * lookup takes the first). */
static int uid_rows(const struct zt_ch_chunk *c, struct zt_ch_buf *out)
{
	int err = 0;

	for (size_t i = 0; i < c->n && !err; i++) {
		const struct zt_ch_key *k = &c->keys[i];
		if (i && k->start_ns == c->keys[i - 1].start_ns && strcmp(k->uid, c->keys[i - 1].uid) == 0)
			continue; /* keys are sorted by mark_stored */
		err = zt_ch_put_bytes(out, k->uid, strlen(k->uid));
		if (!err)
			err = zt_ch_buf_put(out, &k->start_ns, 8);
	}
	return err;
}

static int insert(struct zt_ch *ch, const char *table, const char *rows, size_t len)
{
	char sql[256];
	int err;

	snprintf(sql, sizeof(sql), "INSERT INTO %s.%s FORMAT RowBinary", ch->db, table);
	err = zt_ch_http(ch, sql, rows, len, ch->gzip, NULL, NULL, NULL);
	if (!err)
		ch->stats.inserts++;
	return err;
}

/* Writes one chunk: the duplicate check, the new rows, the trace index.
 * Idempotent: a retry after any failure writes nothing twice (the check
 * finds what the failed try wrote; index rows are min/max, repeatable). */
static int write_chunk(struct zt_ch *ch, struct zt_ch_chunk *c)
{
	struct zt_ch_buf rows = {0}, idx = {0}, uids = {0};
	size_t fresh = 0, known = 0;
	int err;

	if (c->n == 0)
		return 0;
	for (size_t i = 0; i < c->n; i++)
		known += c->keys[i].len == 0;
	err = mark_stored(ch, c);
	if (err)
		return err;
	for (size_t i = 0; i < c->n && !err; i++) {
		if (!c->keys[i].len)
			continue;
		err = zt_ch_buf_put(&rows, c->rows.p + c->keys[i].off, c->keys[i].len);
		fresh++;
	}
	ch->stats.dup_skipped += c->n - fresh - known;
	if (!err)
		err = index_rows(c, &idx);
	if (!err)
		err = uid_rows(c, &uids);
	if (err) {
		err = zt_ch_set_err(ch, err, "out of memory for a ClickHouse batch");
		goto out;
	}
	if (fresh)
		err = insert(ch, ch->w_spans, rows.p, rows.len);
	if (!err) {
		/* written: a retry of the index below must not write them again */
		ch->base.spans_written += fresh;
		for (size_t i = 0; i < c->n; i++)
			c->keys[i].len = 0;
		err = insert(ch, ch->w_index, idx.p, idx.len);
		if (!err)
			err = insert(ch, ch->w_uidx, uids.p, uids.len);
	}
out:
	free(rows.p);
	free(idx.p);
	free(uids.p);
	return err;
}

static int write_facts(struct zt_ch *ch)
{
	struct zt_ch_buf rows = {0};
	int err = 0;

	for (size_t i = 0; i < ch->nlinks && !err; i++) {
		struct zt_ch_link *l = &ch->links[i];
		unsigned char a = (unsigned char)strlen(l->child), b = (unsigned char)strlen(l->parent);

		err = zt_ch_buf_put(&rows, &a, 1);
		err = err ? err : zt_ch_buf_put(&rows, l->child, a);
		err = err ? err : zt_ch_buf_put(&rows, &b, 1);
		err = err ? err : zt_ch_buf_put(&rows, l->parent, b);
		err = err ? err : zt_ch_buf_put(&rows, &l->kind, 1);
		err = err ? err : zt_ch_buf_put(&rows, &l->at_ns, 8);
	}
	if (!err && ch->nlinks)
		err = insert(ch, ch->w_links, rows.p, rows.len);
	if (!err)
		ch->nlinks = 0;
	rows.len = 0;
	for (size_t i = 0; i < ch->naliases && !err; i++) {
		struct zt_ch_alias *al = &ch->aliases[i];
		unsigned char a = (unsigned char)strlen(al->alias), b = (unsigned char)strlen(al->trace_id);

		err = zt_ch_buf_put(&rows, &a, 1);
		err = err ? err : zt_ch_buf_put(&rows, al->alias, a);
		err = err ? err : zt_ch_buf_put(&rows, &b, 1);
		err = err ? err : zt_ch_buf_put(&rows, al->trace_id, b);
		err = err ? err : zt_ch_buf_put(&rows, &al->at_ns, 8);
	}
	if (!err && ch->naliases)
		err = insert(ch, ch->w_alias, rows.p, rows.len);
	if (!err)
		ch->naliases = 0;
	free(rows.p);
	return err;
}

static size_t pending_spans(const struct zt_ch *ch)
{
	size_t n = 0;

	for (const struct zt_ch_chunk *c = ch->head; c; c = c->next)
		n += c->n;
	return n;
}

/* Writes every buffered chunk in order, then the links and aliases (after
 * the spans they name). A failure keeps the rest for the next try. */
static int write_all(struct zt_ch *ch)
{
	int err = 0;

	while (ch->head && !err) {
		struct zt_ch_chunk *c = ch->head;

		err = write_chunk(ch, c);
		if (err)
			break;
		ch->head = c->next;
		if (!ch->head)
			ch->tail = NULL;
		ch->buffered_bytes -= chunk_bytes(c);
		chunk_free(c);
	}
	if (!err)
		err = zt_ch_rollup_write(ch); /* after the spans they count, like SQLite's one transaction */
	if (!err)
		err = zt_ch_xlink_run(ch);
	if (!err)
		err = write_facts(ch);
	ch->base.spans_pending = pending_spans(ch);
	return err;
}

/* A failure the buffer can ride out: the server is away or overloaded. A
 * refusal (a bad table, no permission) is not waited out. */
static bool transient(int err)
{
	return err == -ECONNREFUSED || err == -ETIMEDOUT || err == -EIO;
}

/* flush and the size/age bound: write what is buffered, unless the server
 * failed recently and it is not yet time to retry. See the top of the file
 * for why a buffered outage returns 0. */
static int try_write_inner(struct zt_ch *ch, bool force);

static int try_write(struct zt_ch *ch, bool force)
{
	int err = try_write_inner(ch, force);

	publish_status(ch);
	return err;
}

static int try_write_inner(struct zt_ch *ch, bool force)
{
	uint64_t now = mono_ns();
	int err;

	if (ch->down && !force && now < ch->retry_mono_ns)
		return 0;
	err = write_all(ch);
	if (!err) {
		ch->down = false;
		return 0;
	}
	if (!transient(err))
		return err;
	if (!ch->down) {
		ch->down = true;
		ch->down_since_ns = real_ns();
		ch->stats.outages++;
		ch->wait_ns = ZT_CH_WAIT_MIN_NS;
		snprintf(ch->down_msg, sizeof(ch->down_msg), "%.500s", ch->base.errmsg);
	} else if (ch->wait_ns < ZT_CH_WAIT_MAX_NS) {
		ch->wait_ns *= 2;
	}
	ch->retry_mono_ns = now + ch->wait_ns;
	return 0;
}

static int ch_flush(struct zt_store *st)
{
	struct zt_ch *ch = to_ch(st);
	int err = zt_ch_check_writable(ch);

	return err ? err : try_write(ch, false);
}

static struct zt_ch_chunk *chunk_new(void)
{
	struct zt_ch_chunk *c = calloc(1, sizeof(*c));

	if (c)
		c->born_ns = mono_ns();
	return c;
}

static int ch_put_spans(struct zt_store *st, const struct zt_span *spans, size_t n)
{
	struct zt_ch *ch = to_ch(st);
	int err = zt_ch_check_writable(ch);

	if (err)
		return err;
	for (size_t i = 0; i < n; i++) {
		struct zt_ch_chunk *c = ch->tail;
		size_t before;
		struct zt_ch_key *k;

		if (!c || c->n == ZT_CH_BATCH || c->rows.len >= ZT_CH_CHUNK_BYTES) {
			/* a new batch: write the sealed ones first (if the server lets us) */
			if (c && (err = try_write(ch, false)))
				return err;
			if (ch->buffered_bytes >= ch->max_buffer_bytes) {
				ch->stats.buffer_dropped += n - i;
				publish_status(ch);
				return zt_ch_set_err(ch, -ENOBUFS,
						     "ClickHouse at %s has not taken spans since: %s; the buffer of %zu "
						     "MiB is full, new spans are dropped",
						     ch->where, ch->down_msg, ch->max_buffer_bytes >> 20);
			}
			if (!(c = chunk_new()))
				return zt_ch_set_err(ch, -ENOMEM, "out of memory for a span batch");
			if (ch->tail)
				ch->tail->next = c;
			else
				ch->head = c;
			ch->tail = c;
			ch->buffered_bytes += chunk_bytes(c);
		}
		if (c->n == c->cap) {
			size_t ncap = c->cap ? c->cap * 2 : 1024;
			struct zt_ch_key *nk = realloc(c->keys, ncap * sizeof(*nk));
			if (!nk)
				return zt_ch_set_err(ch, -ENOMEM, "out of memory for a span batch");
			ch->buffered_bytes += (ncap - c->cap) * sizeof(*nk);
			c->keys = nk;
			c->cap = ncap;
		}
		before = c->rows.cap;
		k = &c->keys[c->n];
		k->off = (uint32_t)c->rows.len;
		if ((err = zt_ch_encode_span(&c->rows, &spans[i]))) {
			c->rows.len = k->off;
			return zt_ch_set_err(ch, err, "out of memory for a span batch");
		}
		ch->buffered_bytes += c->rows.cap - before;
		k->len = (uint32_t)(c->rows.len - k->off);
		k->start_ns = spans[i].start_ns;
		snprintf(k->uid, sizeof(k->uid), "%s", spans[i].span_uid);
		snprintf(k->tid, sizeof(k->tid), "%s", spans[i].trace_id);
		c->n++;
		st->spans_pending++;
		zt_ch_xlink_note(ch, &spans[i]);
	}
	/* the age bound */
	if (ch->head && mono_ns() - ch->head->born_ns >= ch->batch_age_ns)
		return try_write(ch, false);
	return 0; /* published by the next flush (the sink's: 5 a second) */
}

static bool id_ok(const char *id, size_t size)
{
	return id && id[0] && strnlen(id, size) < size;
}

static uint64_t next_at(struct zt_ch *ch)
{
	uint64_t now = real_ns();

	ch->last_at_ns = now > ch->last_at_ns ? now : ch->last_at_ns + 1;
	return ch->last_at_ns;
}

static int ch_put_link(struct zt_store *st, const char *child_uid, const char *parent_uid, uint8_t link_kind)
{
	struct zt_ch *ch = to_ch(st);
	int err = zt_ch_check_writable(ch);

	if (err)
		return err;
	if (!id_ok(child_uid, ZT_UID_LEN) || !id_ok(parent_uid, ZT_UID_LEN))
		return zt_ch_set_err(ch, -EINVAL, "put_link: a span_uid must be 1 to %d characters", ZT_UID_LEN - 1);
	if (strcmp(child_uid, parent_uid) == 0)
		return zt_ch_set_err(ch, -EINVAL, "put_link: span %s cannot be its own parent", child_uid);
	if (link_kind == ZT_LINK_NONE || !zt_link_kind_name(link_kind))
		return zt_ch_set_err(ch, -EINVAL, "put_link: unknown link kind %u", link_kind);
	if (ch->nlinks == ch->caplinks) {
		size_t ncap = ch->caplinks ? ch->caplinks * 2 : 256;
		struct zt_ch_link *nl = realloc(ch->links, ncap * sizeof(*nl));
		if (!nl)
			return zt_ch_set_err(ch, -ENOMEM, "out of memory for the link batch");
		ch->links = nl;
		ch->caplinks = ncap;
	}
	snprintf(ch->links[ch->nlinks].child, ZT_UID_LEN, "%s", child_uid);
	snprintf(ch->links[ch->nlinks].parent, ZT_UID_LEN, "%s", parent_uid);
	ch->links[ch->nlinks].kind = link_kind;
	ch->links[ch->nlinks++].at_ns = next_at(ch);
	return 0;
}

static int ch_put_alias(struct zt_store *st, const char *alias, const char *trace_id)
{
	struct zt_ch *ch = to_ch(st);
	int err = zt_ch_check_writable(ch);

	if (err)
		return err;
	if (!id_ok(alias, ZT_TRACE_ID_LEN) || !id_ok(trace_id, ZT_TRACE_ID_LEN))
		return zt_ch_set_err(ch, -EINVAL, "put_alias: a trace id must be 1 to %d characters",
				     ZT_TRACE_ID_LEN - 1);
	if (strcmp(alias, trace_id) == 0)
		return zt_ch_set_err(ch, -EINVAL, "put_alias: trace %s cannot be an alias of itself", alias);
	if (ch->naliases == ch->capaliases) {
		size_t ncap = ch->capaliases ? ch->capaliases * 2 : 256;
		struct zt_ch_alias *na = realloc(ch->aliases, ncap * sizeof(*na));
		if (!na)
			return zt_ch_set_err(ch, -ENOMEM, "out of memory for the alias batch");
		ch->aliases = na;
		ch->capaliases = ncap;
	}
	snprintf(ch->aliases[ch->naliases].alias, ZT_TRACE_ID_LEN, "%s", alias);
	snprintf(ch->aliases[ch->naliases].trace_id, ZT_TRACE_ID_LEN, "%s", trace_id);
	ch->aliases[ch->naliases++].at_ns = next_at(ch);
	return 0;
}

/* ---- open / close ------------------------------------------------------------ */

static void ch_close(struct zt_store *st)
{
	struct zt_ch *ch = to_ch(st);

	if (!st)
		return;
	if (ch->open && ch->mode == ZT_STORE_RW && (ch->head || ch->rb_head || ch->nlinks || ch->naliases || ch->nxl)) {
		/* the buffer, and the cross-writer candidates' second look */
		uint64_t end = mono_ns() + ZT_CH_CLOSE_MS * 1000000ull;
		while ((write_all(ch) || ch->nxl || ch->nlinks || ch->naliases || ch->rb_head) && mono_ns() < end)
			usleep(200000);
	}
	while (ch->head) {
		struct zt_ch_chunk *c = ch->head;
		ch->head = c->next;
		chunk_free(c);
	}
	zt_ch_rollup_free(ch);
	pthread_mutex_destroy(&ch->pub_lock);
	if (ch->curl)
		curl_easy_cleanup(ch->curl);
	free(ch->links);
	free(ch->aliases);
	free(ch->xl);
	free(ch->password);
	free(ch);
}

static const struct zt_store_ops ch_ops = {
    .name = "clickhouse",
    .put_spans = ch_put_spans,
    .flush = ch_flush,
    .query_spans = zt_ch_query_spans,
    .put_link = ch_put_link,
    .put_alias = ch_put_alias,
    .query_trace = zt_ch_query_trace,
    .query_traces = zt_ch_query_traces,
    .retain = zt_ch_retain,
    .put_rollups = zt_ch_put_rollups,
    .query_red = zt_ch_query_red,
    .retain_rollups = zt_ch_retain_rollups,
    .status = ch_status,
    .used_bytes = zt_ch_used_bytes,
    .close = ch_close,
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int zt_store_open_clickhouse(const char *url, enum zt_store_mode mode, struct zt_store **out)
{
	static const char scheme[] = "clickhouse://";
	struct zt_ch *ch;
	int err;

	*out = NULL;
	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	ch->base.ops = &ch_ops;
	ch->mode = mode;
	pthread_mutex_init(&ch->pub_lock, NULL);
	ch->batch_age_ns = ZT_CH_AGE_NS;
	*out = &ch->base;
	if (strncmp(url, scheme, sizeof(scheme) - 1) != 0)
		return zt_ch_set_err(ch, -EINVAL, "not a clickhouse:// URL: %s", url);
	if ((err = zt_ch_parse_url(ch, url + sizeof(scheme) - 1)))
		return err;
	snprintf(ch->t_spans, sizeof(ch->t_spans), "spans");
	snprintf(ch->t_index, sizeof(ch->t_index), "trace_index");
	snprintf(ch->t_links, sizeof(ch->t_links), "span_links");
	snprintf(ch->t_alias, sizeof(ch->t_alias), "trace_alias");
	snprintf(ch->w_spans, sizeof(ch->w_spans), "spans%s", ch->cluster[0] ? "_local" : "");
	snprintf(ch->w_index, sizeof(ch->w_index), "trace_index%s", ch->cluster[0] ? "_local" : "");
	snprintf(ch->w_links, sizeof(ch->w_links), "span_links%s", ch->cluster[0] ? "_local" : "");
	snprintf(ch->w_alias, sizeof(ch->w_alias), "trace_alias%s", ch->cluster[0] ? "_local" : "");
	snprintf(ch->t_uidx, sizeof(ch->t_uidx), "span_uids");
	snprintf(ch->w_uidx, sizeof(ch->w_uidx), "span_uids%s", ch->cluster[0] ? "_local" : "");
	snprintf(ch->t_rollup, sizeof(ch->t_rollup), "rollup");
	snprintf(ch->w_rollup, sizeof(ch->w_rollup), "rollup%s", ch->cluster[0] ? "_local" : "");

	/* curl_global_init is not thread-safe: once per process, whatever
	 * thread opens the first store (the API opens read handles in threads) */
	pthread_once(&curl_once, curl_init_once);
	ch->curl = curl_easy_init();
	if (!ch->curl)
		return zt_ch_set_err(ch, -ENOMEM, "cannot start libcurl");
	curl_easy_setopt(ch->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(ch->curl, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(ch->curl, CURLOPT_TIMEOUT_MS, 60000L);
	curl_easy_setopt(ch->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(ch->curl, CURLOPT_USERNAME, ch->user);
	curl_easy_setopt(ch->curl, CURLOPT_PASSWORD, ch->password ? ch->password : "");
	curl_easy_setopt(ch->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);

	/* A reader does not create: it needs the tables to be there. */
	if (mode == ZT_STORE_RW && (err = zt_ch_create_tables(ch)))
		goto fail;
	err = zt_ch_check_schema(ch);
	if (err == -EPROTO && mode == ZT_STORE_RO && strstr(ch->base.errmsg, "found 'nothing'"))
		err = zt_ch_set_err(ch, -ENOENT, "no ztrace data in ClickHouse at %s (run `ztrace up --store %s` first)",
				    ch->where, url);
	if (err)
		goto fail;
	ch->open = true;
	publish_status(ch);
	return 0;
fail:
	if (err == -ENOENT && mode == ZT_STORE_RO && !strstr(ch->base.errmsg, "no ztrace data"))
		zt_ch_set_err(ch, -ENOENT, "no ztrace data in ClickHouse at %s (run `ztrace up --store %s` first)",
			      ch->where, url);
	return err;
}
