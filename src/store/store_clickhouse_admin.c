/* SPDX-License-Identifier: MIT */
/*
 * store_clickhouse_admin.c - the ClickHouse backend's schema (created when
 * missing, a foreign table refused), retention by hour partitions, and the
 * clickhouse:// URL. The schema's reasons are at the top of
 * store_clickhouse.c.
 */
#include "store/clickhouse_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZT_CH_HOUR_NS 3600000000000ull
#define ZT_CH_BUFFER_DEFAULT (256ull << 20)

/* ---- schema --------------------------------------------------------------- */

/* The engine clause of each table, for plain MergeTree; a cluster's local
 * tables have the same. */
static const char *const spans_engine =
    "ENGINE = ReplacingMergeTree() PARTITION BY intDiv(start_ns, 3600000000000) ORDER BY (start_ns, span_uid)";

int zt_ch_create_tables(struct zt_ch *ch)
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
	    /* span_uid -> start_ns: `ztrace trace UID` is a primary-key lookup
	     * here, then a point read of spans (store_clickhouse_query.c) */
	    {ch->w_uidx, ch->t_uidx, "uid String, start_ns UInt64",
	     "ENGINE = MergeTree() PARTITION BY intDiv(start_ns, 3600000000000) ORDER BY uid", "cityHash64(uid)"},
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
	for (size_t i = 0; i < sizeof(aux) / sizeof(aux[0]) && !err; i++) {
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
	if (!err)
		err = zt_ch_rollup_create(ch);
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

int zt_ch_check_schema(struct zt_ch *ch)
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
	if (!err) {
		err = check_table(ch, ch->t_uidx, "uid String\nstart_ns UInt64\n");
		if (err == -EPROTO && ch->mode == ZT_STORE_RO && strstr(ch->base.errmsg, "found 'nothing'")) {
			ch->no_uidx = true; /* from before span_uids: found by a scan */
			err = 0;
		}
	}
	if (!err) {
		err = check_table(ch, ch->t_rollup, zt_ch_rollup_want());
		/* a reader of a database from before rollups: it has none */
		if (err == -EPROTO && ch->mode == ZT_STORE_RO && strstr(ch->base.errmsg, "found 'nothing'")) {
			ch->no_rollup = true;
			err = 0;
		}
	}
	free(want.p);
	return err;
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
	const char *tables[] = {ch->w_spans, ch->w_index, ch->w_links, ch->w_alias, ch->w_uidx}; /* rollups: their own retention */
	char sql[512];
	int err = 0;

	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]) && !err; i++) {
		snprintf(sql, sizeof(sql), "ALTER TABLE %s.%s DROP PARTITION %llu", ch->db, tables[i],
			 (unsigned long long)h);
		err = zt_ch_exec(ch, sql);
	}
	if (!err)
		ch->stats.partitions_dropped++;
	return err;
}

uint64_t zt_ch_used_bytes(struct zt_store *st)
{
	struct zt_ch *ch = (struct zt_ch *)st;
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
int zt_ch_retain(struct zt_store *st, uint64_t min_start_ns, uint64_t max_bytes, uint64_t limit,
		     uint64_t *dropped, int *more)
{
	struct zt_ch *ch = (struct zt_ch *)st;
	struct part *p = NULL;
	size_t n = 0, i = 0;
	uint64_t used = 0, got = 0;
	int err = zt_ch_check_writable(ch);

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
int zt_ch_parse_url(struct zt_ch *ch, const char *rest)
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

