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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define ZT_CH_BATCH 131072
#define ZT_CH_CHUNK_BYTES (32u << 20)
#define ZT_CH_AGE_NS 1000000000ull
#define ZT_CH_BUFFER_DEFAULT (256ull << 20)
#define ZT_CH_WAIT_MIN_NS 1000000000ull
#define ZT_CH_WAIT_MAX_NS 8000000000ull
#define ZT_CH_CLOSE_MS 5000
#define ZT_CH_HOUR_NS 3600000000000ull

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

/* ---- HTTP ----------------------------------------------------------------- */

struct reply {
	struct zt_ch_buf *out;
	struct zt_ch_buf err; /* the body of a failed request */
	zt_ch_sink_fn sink;
	void *ctx;
	long status;
	int sink_rc;
	CURL *curl;
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	struct reply *r = arg;
	size_t n = size * nmemb;

	if (!r->status)
		curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->status != 200) {
		if (r->err.len < 4096)
			(void)zt_ch_buf_put(&r->err, data, n);
		return n;
	}
	if (r->sink) {
		r->sink_rc = r->sink(r->ctx, data, n);
		return r->sink_rc ? 0 : n; /* 0: curl stops with a write error */
	}
	if (r->out && zt_ch_buf_put(r->out, data, n))
		return 0;
	return n;
}

/* gzip (RFC 1952) of data at level 1: inserts are large and the server is
 * usually near; level 1 keeps compression off the critical path. */
static int gzip_buf(const char *data, size_t n, struct zt_ch_buf *out)
{
	z_stream z = {0};
	size_t bound;
	int rc;

	if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	bound = deflateBound(&z, n) + 64;
	out->len = 0;
	if (out->cap < bound + 1) {
		char *np = realloc(out->p, bound + 1);
		if (!np) {
			deflateEnd(&z);
			return -ENOMEM;
		}
		out->p = np;
		out->cap = bound + 1;
	}
	z.next_in = (unsigned char *)(uintptr_t)data;
	z.avail_in = (uInt)n;
	z.next_out = (unsigned char *)out->p;
	z.avail_out = (uInt)bound;
	rc = deflate(&z, Z_FINISH);
	out->len = z.total_out;
	deflateEnd(&z);
	return rc == Z_STREAM_END ? 0 : -EIO;
}

/* "Code: 60, e.displayText() = DB::Exception: Table x doesn't exist., ..."
 * -> the text after "DB::Exception: ", without the e.what() tail. */
static void server_message(const char *body, char *out, size_t size)
{
	const char *m = strstr(body, "DB::Exception: ");
	const char *end;
	int code = 0;

	if (sscanf(body, "Code: %d", &code) != 1)
		code = 0;
	m = m ? m + 15 : body;
	end = strstr(m, ", e.what()");
	if (!end)
		end = m + strcspn(m, "\n");
	snprintf(out, size, "%.*s%s", (int)(end - m > 400 ? 400 : end - m), m, code ? "" : "");
	(void)code;
}

static int server_code(const char *body)
{
	int code = 0;

	return sscanf(body, "Code: %d", &code) == 1 ? code : 0;
}

int zt_ch_http(struct zt_ch *ch, const char *sql_in_url, const char *body, size_t blen, bool gzip,
	       struct zt_ch_buf *out, zt_ch_sink_fn sink, void *sink_ctx)
{
	struct reply r = {.out = out, .sink = sink, .ctx = sink_ctx, .curl = ch->curl};
	struct curl_slist *hdr = NULL;
	struct zt_ch_buf url = {0}, z = {0};
	CURLcode cc;
	int err = 0;

	if (!ch->curl)
		return zt_ch_set_err(ch, -EBADF, "store is not open");
	err = zt_ch_buf_printf(&url, "%s", ch->base_url);
	if (!err && sql_in_url) {
		char *esc = curl_easy_escape(ch->curl, sql_in_url, 0);
		err = esc ? zt_ch_buf_printf(&url, "&query=%s", esc) : -ENOMEM;
		curl_free(esc);
	}
	if (!err && gzip) {
		err = gzip_buf(body, blen, &z);
		body = z.p;
		blen = z.len;
		hdr = curl_slist_append(hdr, "Content-Encoding: gzip");
	}
	if (err) {
		err = zt_ch_set_err(ch, err, "ClickHouse request: %s", strerror(-err));
		goto out;
	}
	hdr = curl_slist_append(hdr, "Content-Type: application/octet-stream");
	curl_easy_setopt(ch->curl, CURLOPT_URL, url.p);
	curl_easy_setopt(ch->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(ch->curl, CURLOPT_POSTFIELDS, body ? body : "");
	curl_easy_setopt(ch->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
	curl_easy_setopt(ch->curl, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(ch->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(ch->curl, CURLOPT_WRITEDATA, &r);
	cc = curl_easy_perform(ch->curl);
	if (!r.status)
		curl_easy_getinfo(ch->curl, CURLINFO_RESPONSE_CODE, &r.status);
	if (cc == CURLE_WRITE_ERROR && r.sink_rc) {
		err = r.sink_rc; /* the reader stopped (or failed: its message is set) */
		goto out;
	}
	if (cc != CURLE_OK) {
		int e = cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT
			: cc == CURLE_COULDNT_CONNECT  ? -ECONNREFUSED
			: cc == CURLE_OUT_OF_MEMORY    ? -ENOMEM
						       : -EIO;
		err = zt_ch_set_err(ch, e, "ClickHouse at %s is unreachable: %s", ch->where, curl_easy_strerror(cc));
		goto out;
	}
	if (r.status != 200) {
		char msg[512];
		int code = server_code(r.err.p ? r.err.p : "");

		server_message(r.err.p ? r.err.p : "", msg, sizeof(msg));
		/* 192/193/516: unknown user, wrong password, authentication failed */
		err = zt_ch_set_err(ch,
				    code == 192 || code == 193 || code == 516 ? -EACCES
				    : code == 81 || code == 60		      ? -ENOENT
				    : r.status >= 500 && code == 0	      ? -EIO
										      : -EPROTO,
				    "ClickHouse at %s refused (HTTP %ld, code %d): %s", ch->where, r.status, code, msg);
	}
out:
	curl_slist_free_all(hdr);
	free(url.p);
	free(z.p);
	free(r.err.p);
	return err;
}

int zt_ch_exec(struct zt_ch *ch, const char *sql)
{
	return zt_ch_http(ch, NULL, sql, strlen(sql), false, NULL, NULL, NULL);
}

/* ---- schema --------------------------------------------------------------- */

/* The engine clause of each table, for plain MergeTree; a cluster's local
 * tables have the same. */
static const char *const spans_engine =
    "ENGINE = ReplacingMergeTree() PARTITION BY intDiv(start_ns, 3600000000000) ORDER BY (start_ns, span_uid)";

static int create_tables(struct zt_ch *ch)
{
	struct zt_ch_buf sql = {0};
	int err;
	const struct {
		const char *w, *r, *cols, *engine, *key;
	} aux[] = {
	    {ch->w_index, ch->t_index, "tid String, own UInt8, min_start UInt64, max_start UInt64",
	     "ENGINE = MergeTree() PARTITION BY intDiv(min_start, 3600000000000) ORDER BY tid", "cityHash64(tid)"},
	    {ch->w_links, ch->t_links, "child_uid String, parent_uid String, link_kind UInt8, at_ns UInt64",
	     "ENGINE = MergeTree() PARTITION BY intDiv(at_ns, 3600000000000) ORDER BY child_uid", "cityHash64(child_uid)"},
	    {ch->w_alias, ch->t_alias, "alias String, trace_id String, at_ns UInt64",
	     "ENGINE = MergeTree() PARTITION BY intDiv(at_ns, 3600000000000) ORDER BY alias", "cityHash64(alias)"},
	};

	err = zt_ch_buf_printf(&sql, "CREATE DATABASE IF NOT EXISTS %s", ch->db);
	if (!err)
		err = zt_ch_exec(ch, sql.p);
	sql.len = 0;
	if (!err)
		err = zt_ch_buf_printf(&sql, "CREATE TABLE IF NOT EXISTS %s.%s (", ch->db, ch->w_spans);
	for (int f = 0; f < ZT_F__COUNT && !err; f++)
		err = zt_ch_buf_printf(&sql, "%s%s %s", f ? ", " : "", zt_span_fields[f].name, zt_ch_col_type(f));
	if (!err)
		err = zt_ch_buf_printf(&sql, ") %s", spans_engine);
	if (!err)
		err = zt_ch_exec(ch, sql.p);
	for (size_t i = 0; i < 3 && !err; i++) {
		sql.len = 0;
		err = zt_ch_buf_printf(&sql, "CREATE TABLE IF NOT EXISTS %s.%s (%s) %s", ch->db, aux[i].w, aux[i].cols,
				       aux[i].engine);
		if (!err)
			err = zt_ch_exec(ch, sql.p);
		if (!err && ch->cluster[0]) {
			sql.len = 0;
			err = zt_ch_buf_printf(&sql,
					       "CREATE TABLE IF NOT EXISTS %s.%s AS %s.%s ENGINE = Distributed(%s, %s, %s, %s)",
					       ch->db, aux[i].r, ch->db, aux[i].w, ch->cluster, ch->db, aux[i].w, aux[i].key);
			if (!err)
				err = zt_ch_exec(ch, sql.p);
		}
	}
	if (!err && ch->cluster[0]) {
		/* rows go to the writer's own shard (local inserts); the key is
		 * what a direct INSERT into the Distributed table would use */
		sql.len = 0;
		err = zt_ch_buf_printf(&sql,
				       "CREATE TABLE IF NOT EXISTS %s.%s AS %s.%s ENGINE = Distributed(%s, %s, %s, "
				       "cityHash64(span_uid))",
				       ch->db, ch->t_spans, ch->db, ch->w_spans, ch->cluster, ch->db, ch->w_spans);
		if (!err)
			err = zt_ch_exec(ch, sql.p);
	}
	free(sql.p);
	return err;
}

/* The columns a table must have (name type, in order): a table of that name
 * made by something else is refused, never written. */
static int check_table(struct zt_ch *ch, const char *table, const char *want)
{
	struct zt_ch_buf sql = {0}, out = {0};
	int err;

	err = zt_ch_buf_printf(&sql, "SELECT name, type FROM system.columns WHERE database = ");
	if (!err)
		err = zt_ch_buf_quote(&sql, ch->db);
	if (!err)
		err = zt_ch_buf_printf(&sql, " AND table = ");
	if (!err)
		err = zt_ch_buf_quote(&sql, table);
	if (!err)
		err = zt_ch_buf_printf(&sql, " FORMAT TSV");
	if (!err)
		err = zt_ch_http(ch, NULL, sql.p, sql.len, false, &out, NULL, NULL);
	if (err)
		goto done;
	/* out: "name\ttype\n" per column; want: "name type\n" per column */
	for (const char *o = out.p ? out.p : "", *w = want; *w;) {
		size_t wl = strcspn(w, "\n"), ol = strcspn(o, "\n");
		char got[256], exp[256];

		snprintf(exp, sizeof(exp), "%.*s", (int)wl, w);
		snprintf(got, sizeof(got), "%.*s", (int)ol, o);
		for (char *c = got; *c; c++)
			if (*c == '\t')
				*c = ' ';
		if (strcmp(got, exp) != 0) {
			err = zt_ch_set_err(ch, -EPROTO,
					    "%s.%s on %s is not a ztrace table: expected column '%s', found '%s'. Use "
					    "another database (clickhouse://HOST:PORT/OTHER_DB) or drop that table",
					    ch->db, table, ch->where, exp, got[0] ? got : "nothing");
			goto done;
		}
		w += wl + (w[wl] == '\n');
		o += ol + (o[ol] == '\n');
	}
done:
	free(sql.p);
	free(out.p);
	return err;
}

static int check_schema(struct zt_ch *ch)
{
	struct zt_ch_buf want = {0};
	int err = 0;

	for (int f = 0; f < ZT_F__COUNT && !err; f++)
		err = zt_ch_buf_printf(&want, "%s %s\n", zt_span_fields[f].name, zt_ch_col_type(f));
	if (!err)
		err = check_table(ch, ch->t_spans, want.p);
	if (!err && ch->cluster[0])
		err = check_table(ch, ch->w_spans, want.p);
	if (!err)
		err = check_table(ch, ch->t_index, "tid String\nown UInt8\nmin_start UInt64\nmax_start UInt64\n");
	if (!err)
		err = check_table(ch, ch->t_links,
				  "child_uid String\nparent_uid String\nlink_kind UInt8\nat_ns UInt64\n");
	if (!err)
		err = check_table(ch, ch->t_alias, "alias String\ntrace_id String\nat_ns UInt64\n");
	free(want.p);
	return err;
}

/* ---- writes --------------------------------------------------------------- */

static int check_writable(struct zt_ch *ch)
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
	struct zt_ch_buf rows = {0}, idx = {0};
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
	}
out:
	free(rows.p);
	free(idx.p);
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
static int try_write(struct zt_ch *ch, bool force)
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
	int err = check_writable(ch);

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
	int err = check_writable(ch);

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
	return 0;
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
	int err = check_writable(ch);

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
	int err = check_writable(ch);

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

/* ---- retention -------------------------------------------------------------- */

struct part {
	uint64_t hour, rows, bytes;
};

/* The spans partitions (hour number, rows, bytes on disk) of the tables this
 * writer writes, oldest first. */
static int list_parts(struct zt_ch *ch, struct part **out, size_t *n)
{
	struct zt_ch_buf sql = {0}, res = {0};
	size_t cap = 0;
	int err;

	*out = NULL;
	*n = 0;
	err = zt_ch_buf_printf(&sql,
			       "SELECT toUInt64(partition), sum(rows), sum(bytes_on_disk) FROM system.parts WHERE "
			       "active AND database = ");
	err = err ? err : zt_ch_buf_quote(&sql, ch->db);
	err = err ? err : zt_ch_buf_printf(&sql, " AND table = ");
	err = err ? err : zt_ch_buf_quote(&sql, ch->w_spans);
	err = err ? err : zt_ch_buf_printf(&sql, " GROUP BY partition ORDER BY 1 FORMAT TSV");
	if (!err)
		err = zt_ch_http(ch, NULL, sql.p, sql.len, false, &res, NULL, NULL);
	for (const char *p = res.p; !err && p && *p;) {
		unsigned long long h, r, b;
		if (sscanf(p, "%llu\t%llu\t%llu", &h, &r, &b) != 3) {
			err = zt_ch_set_err(ch, -EPROTO, "ClickHouse at %s: unexpected partition list", ch->where);
			break;
		}
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct part *np = realloc(*out, ncap * sizeof(*np));
			if (!np) {
				err = zt_ch_set_err(ch, -ENOMEM, "out of memory");
				break;
			}
			*out = np;
			cap = ncap;
		}
		(*out)[(*n)++] = (struct part){h, r, b};
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	free(sql.p);
	free(res.p);
	return err;
}

/* Drops hour `h` of every table of this writer (spans, index, and the
 * links and aliases written in that hour, which name spans of that hour or
 * before). */
static int drop_hour(struct zt_ch *ch, uint64_t h)
{
	const char *tables[] = {ch->w_spans, ch->w_index, ch->w_links, ch->w_alias};
	char sql[512];
	int err = 0;

	for (size_t i = 0; i < 4 && !err; i++) {
		snprintf(sql, sizeof(sql), "ALTER TABLE %s.%s DROP PARTITION %llu", ch->db, tables[i],
			 (unsigned long long)h);
		err = zt_ch_exec(ch, sql);
	}
	if (!err)
		ch->stats.partitions_dropped++;
	return err;
}

static uint64_t ch_used_bytes(struct zt_store *st)
{
	struct zt_ch *ch = to_ch(st);
	struct part *p = NULL;
	size_t n = 0;
	uint64_t sum = 0;

	if (!ch->open || list_parts(ch, &p, &n))
		return 0;
	for (size_t i = 0; i < n; i++)
		sum += p[i].bytes;
	free(p);
	return sum;
}

/*
 * Retention drops whole hours (partitions), oldest first: an hour goes when
 * it ended before min_start_ns, or while the data is over max_bytes (down to
 * 90% of it). So age retention keeps up to an hour more than asked; a TTL
 * (19.6+) could drop rows exactly. The limit counts spans; an hour is never
 * split, so one hour may go past it. In a cluster each writer drops the hours
 * of its own server.
 */
static int ch_retain(struct zt_store *st, uint64_t min_start_ns, uint64_t max_bytes, uint64_t limit,
		     uint64_t *dropped, int *more)
{
	struct zt_ch *ch = to_ch(st);
	struct part *p = NULL;
	size_t n = 0, i = 0;
	uint64_t used = 0, got = 0;
	int err = check_writable(ch);

	*more = 0;
	if (err || (err = list_parts(ch, &p, &n)))
		return err;
	for (size_t k = 0; k < n; k++)
		used += p[k].bytes;
	for (; i < n && !err; i++) {
		bool old = min_start_ns && (p[i].hour + 1) * ZT_CH_HOUR_NS <= min_start_ns;
		bool big = max_bytes && used > max_bytes / 10 * 9 && used > max_bytes;

		if (!old && !big)
			break;
		if (big && i == n - 1)
			break; /* never the current hour for size: that would drop what was just written */
		if (limit && got >= limit) {
			*more = 1;
			break;
		}
		err = drop_hour(ch, p[i].hour);
		if (!err) {
			got += p[i].rows;
			used -= p[i].bytes;
			*dropped += p[i].rows; /* counted once gone */
		}
		/* size: once over max_bytes, go on down to 90% */
		if (big)
			max_bytes = max_bytes / 10 * 9 + 1;
	}
	free(p);
	return err;
}

/* ---- open / close ------------------------------------------------------------ */

static void ch_close(struct zt_store *st)
{
	struct zt_ch *ch = to_ch(st);

	if (!st)
		return;
	if (ch->open && ch->mode == ZT_STORE_RW && (ch->head || ch->nlinks || ch->naliases || ch->nxl)) {
		/* the buffer, and the cross-writer candidates' second look */
		uint64_t end = mono_ns() + ZT_CH_CLOSE_MS * 1000000ull;
		while ((write_all(ch) || ch->nxl || ch->nlinks || ch->naliases) && mono_ns() < end)
			usleep(200000);
	}
	while (ch->head) {
		struct zt_ch_chunk *c = ch->head;
		ch->head = c->next;
		chunk_free(c);
	}
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
    .retain = ch_retain,
    .used_bytes = ch_used_bytes,
    .close = ch_close,
};

static bool name_ok(const char *s)
{
	if (!s[0])
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

/* "%41" and "+" in URL parameters. */
static void url_decode(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (*s == '%' && isxdigit((unsigned char)s[1]) && isxdigit((unsigned char)s[2])) {
			char h[3] = {s[1], s[2], 0};
			*o++ = (char)strtol(h, NULL, 16);
			s += 2;
		} else {
			*o++ = *s == '+' ? ' ' : *s;
		}
	}
	*o = '\0';
}

static int read_password(struct zt_ch *ch, const char *file)
{
	FILE *f = fopen(file, "r");
	char buf[256];
	size_t n;

	if (!f)
		return zt_ch_set_err(ch, -errno, "cannot read password_file %s: %s", file, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	ch->password = strdup(buf);
	return ch->password ? 0 : zt_ch_set_err(ch, -ENOMEM, "out of memory");
}

/* clickhouse://HOST:PORT/DB?k=v&... (after the scheme). */
static int parse_url(struct zt_ch *ch, const char *rest)
{
	char buf[1024], host[256] = "", *q, *slash;
	unsigned port = 8123;
	int err = 0;

	if (strlen(rest) >= sizeof(buf))
		return zt_ch_set_err(ch, -EINVAL, "clickhouse URL too long");
	snprintf(buf, sizeof(buf), "%s", rest);
	q = strchr(buf, '?');
	if (q)
		*q++ = '\0';
	slash = strchr(buf, '/');
	if (!slash || !slash[1])
		return zt_ch_set_err(ch, -EINVAL,
				     "clickhouse URL without a database: expected clickhouse://HOST:PORT/DB");
	*slash = '\0';
	snprintf(ch->db, sizeof(ch->db), "%s", slash + 1);
	if (!name_ok(ch->db))
		return zt_ch_set_err(ch, -EINVAL, "clickhouse database name '%s': letters, digits and _ only",
				     slash + 1);
	if (buf[0] == '[') { /* [v6]:port */
		char *e = strchr(buf, ']');
		if (!e)
			return zt_ch_set_err(ch, -EINVAL, "clickhouse URL: unclosed [ in the host");
		snprintf(host, sizeof(host), "%.*s", (int)(e - buf + 1), buf);
		if (e[1] == ':' && (sscanf(e + 2, "%u", &port) != 1 || port == 0 || port > 65535))
			return zt_ch_set_err(ch, -EINVAL, "clickhouse URL: bad port '%s'", e + 2);
	} else {
		char *c = strrchr(buf, ':');
		if (c) {
			char *end;
			unsigned long p = strtoul(c + 1, &end, 10);
			if (*end || p == 0 || p > 65535)
				return zt_ch_set_err(ch, -EINVAL, "clickhouse URL: bad port '%s'", c + 1);
			port = (unsigned)p;
			*c = '\0';
		}
		snprintf(host, sizeof(host), "%.255s", buf);
	}
	if (!host[0] || strpbrk(host, " @/?#"))
		return zt_ch_set_err(ch, -EINVAL, "clickhouse URL: bad host '%s'", host);
	snprintf(ch->where, sizeof(ch->where), "%s:%u/%s", host, port, ch->db);
	snprintf(ch->user, sizeof(ch->user), "default");
	/* compress=auto: gzip unless the server is on this host, where it only
	 * costs CPU on both sides (bench: 2x the insert rate without it) */
	ch->gzip = strcmp(host, "127.0.0.1") != 0 && strcmp(host, "[::1]") != 0 && strcmp(host, "localhost") != 0;
	ch->max_buffer_bytes = ZT_CH_BUFFER_DEFAULT;
	for (char *kv = q ? strtok(q, "&") : NULL; kv && !err; kv = strtok(NULL, "&")) {
		char *v = strchr(kv, '=');
		if (!v)
			return zt_ch_set_err(ch, -EINVAL, "clickhouse URL: parameter '%s' without a value", kv);
		*v++ = '\0';
		url_decode(v);
		if (strcmp(kv, "user") == 0)
			snprintf(ch->user, sizeof(ch->user), "%s", v);
		else if (strcmp(kv, "password_file") == 0)
			err = read_password(ch, v);
		else if (strcmp(kv, "cluster") == 0) {
			snprintf(ch->cluster, sizeof(ch->cluster), "%s", v);
			if (!name_ok(ch->cluster))
				return zt_ch_set_err(ch, -EINVAL, "clickhouse cluster name '%s': letters, digits and _ only",
						     v);
		} else if (strcmp(kv, "compress") == 0 && (!strcmp(v, "0") || !strcmp(v, "1") || !strcmp(v, "auto")))
			ch->gzip = v[0] == '1' || (v[0] == 'a' && ch->gzip);
		else if (strcmp(kv, "buffer_mb") == 0 && atoi(v) > 0 && atoi(v) <= 65536)
			ch->max_buffer_bytes = (size_t)atoi(v) << 20;
		else
			return zt_ch_set_err(ch, -EINVAL,
					     "clickhouse URL: unknown parameter '%s=%s' (known: user, password_file, "
					     "cluster, compress=0|1|auto, buffer_mb=N)",
					     kv, v);
	}
	if (err)
		return err;
	/* max_query_size and the AST bounds: the duplicate check lists a batch's keys */
	snprintf(ch->base_url, sizeof(ch->base_url), "http://%s:%u/?max_query_size=67108864&max_ast_elements=4000000&max_expanded_ast_elements=4000000", host, port);
	return 0;
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
	ch->batch_age_ns = ZT_CH_AGE_NS;
	*out = &ch->base;
	if (strncmp(url, scheme, sizeof(scheme) - 1) != 0)
		return zt_ch_set_err(ch, -EINVAL, "not a clickhouse:// URL: %s", url);
	if ((err = parse_url(ch, url + sizeof(scheme) - 1)))
		return err;
	snprintf(ch->t_spans, sizeof(ch->t_spans), "spans");
	snprintf(ch->t_index, sizeof(ch->t_index), "trace_index");
	snprintf(ch->t_links, sizeof(ch->t_links), "span_links");
	snprintf(ch->t_alias, sizeof(ch->t_alias), "trace_alias");
	snprintf(ch->w_spans, sizeof(ch->w_spans), "spans%s", ch->cluster[0] ? "_local" : "");
	snprintf(ch->w_index, sizeof(ch->w_index), "trace_index%s", ch->cluster[0] ? "_local" : "");
	snprintf(ch->w_links, sizeof(ch->w_links), "span_links%s", ch->cluster[0] ? "_local" : "");
	snprintf(ch->w_alias, sizeof(ch->w_alias), "trace_alias%s", ch->cluster[0] ? "_local" : "");

	curl_global_init(CURL_GLOBAL_DEFAULT); /* reference counted; once is enough */
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
	if (mode == ZT_STORE_RW && (err = create_tables(ch)))
		goto fail;
	err = check_schema(ch);
	if (err == -EPROTO && mode == ZT_STORE_RO && strstr(ch->base.errmsg, "found 'nothing'"))
		err = zt_ch_set_err(ch, -ENOENT, "no ztrace data in ClickHouse at %s (run `ztrace up --store %s` first)",
				    ch->where, url);
	if (err)
		goto fail;
	ch->open = true;
	return 0;
fail:
	if (err == -ENOENT && mode == ZT_STORE_RO && !strstr(ch->base.errmsg, "no ztrace data"))
		zt_ch_set_err(ch, -ENOENT, "no ztrace data in ClickHouse at %s (run `ztrace up --store %s` first)",
			      ch->where, url);
	return err;
}
