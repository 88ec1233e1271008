/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite.c - the embedded store: one SQLite file, DIR/ztrace.db, in WAL
 * mode so that `ztrace spans` and the API read while `ztrace up` writes.
 *
 * Rows hold one column per span field, named as the span JSON keys. Values
 * that span.h calls null are SQL NULL, so SQL and JSON agree on "unknown".
 * Enums are stored as their names (tap_side, l7_protocol, response_status,
 * l4_protocol) so the file is readable without this code.
 *
 * Failed open: *out still receives a store holding the message (readable with
 * zt_store_errmsg(), released with ops->close()), unless memory ran out, in
 * which case *out is NULL. Every op of such a store returns -EBADF.
 *
 * Writes: put_spans copies into a batch; flush writes the batch in one
 * transaction through one reused INSERT OR IGNORE statement. A failed flush
 * keeps the batch for the next flush; put_spans then returns the error and
 * does not queue the rest of its spans.
 *
 * Queries see flushed spans only.
 *
 * Threads: a store object is used by one thread at a time (open one per
 * thread); separate objects, in one process or many, share the file safely.
 */
#include "store/store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <sqlite3.h>

/*
 * Schema versions: 1 had span_uid TEXT PRIMARY KEY and a separate start_ns
 * index; 2 makes (start_ns, span_uid) the one unique key and indexes
 * syscall_trace_id_resp only where it differs from syscall_trace_id_req.
 * Columns are the same in both: readers take either, a writer converts 1
 * into 2 when it opens the file (see migrate_v1).
 */
#define ZT_SCHEMA_VERSION 2
#define ZT_BATCH_MAX 4096
#define ZT_BATCH_MIN 256
#define ZT_BUSY_TIMEOUT_MS 5000
#define ZT_XSTR(x) #x
#define ZT_STR(x) ZT_XSTR(x)

/*
 * The columns, in the order the INSERT binds them and the SELECT reads them.
 * Type affinity only; NULL is allowed wherever span.h allows null.
 */
#define SPAN_COLUMNS(X)                                                                                      \
	X(span_uid, "TEXT NOT NULL")                                                             \
	X(start_ns, "INTEGER NOT NULL")                                                                      \
	X(end_ns, "INTEGER NOT NULL")                                                                        \
	X(duration_ns, "INTEGER NOT NULL")                                                                   \
	X(tap_side, "TEXT")                                                                                  \
	X(host, "TEXT")                                                                                      \
	X(netns, "INTEGER")                                                                                  \
	X(pid, "INTEGER")                                                                                    \
	X(tid_req, "INTEGER")                                                                                \
	X(tid_resp, "INTEGER")                                                                               \
	X(process, "TEXT")                                                                                   \
	X(l7_protocol, "TEXT")                                                                               \
	X(version, "TEXT")                                                                                   \
	X(request_type, "TEXT")                                                                              \
	X(request_domain, "TEXT")                                                                            \
	X(request_resource, "TEXT")                                                                          \
	X(endpoint, "TEXT")                                                                                  \
	X(response_status, "TEXT")                                                                           \
	X(response_code, "INTEGER")                                                                          \
	X(response_exception, "TEXT")                                                                        \
	X(req_bytes, "INTEGER")                                                                              \
	X(resp_bytes, "INTEGER")                                                                             \
	X(client_ip, "TEXT")                                                                                 \
	X(client_port, "INTEGER")                                                                            \
	X(server_ip, "TEXT")                                                                                 \
	X(server_port, "INTEGER")                                                                            \
	X(l4_protocol, "TEXT")                                                                               \
	X(req_tcp_seq, "INTEGER")                                                                            \
	X(resp_tcp_seq, "INTEGER")                                                                           \
	X(syscall_trace_id_req, "INTEGER")                                                                   \
	X(syscall_trace_id_resp, "INTEGER")                                                                  \
	X(x_request_id, "TEXT")                                                                              \
	X(x_request_id_resp, "TEXT")                                                                         \
	X(trace_id, "TEXT")                                                                                  \
	X(span_id, "TEXT")                                                                                   \
	X(parent_span_id, "TEXT")                                                                            \
	X(is_tls, "INTEGER")                                                                                 \
	X(flags, "INTEGER")

enum span_col {
#define X(name, type) COL_##name,
	SPAN_COLUMNS(X)
#undef X
	    COL__COUNT,
};

static const char *const col_names[COL__COUNT] = {
#define X(name, type) #name,
    SPAN_COLUMNS(X)
#undef X
};

static const char *const col_types[COL__COUNT] = {
#define X(name, type) type,
    SPAN_COLUMNS(X)
#undef X
};

/*
 * Every index costs about as much per insert as the row itself, so there are
 * as few as the lookups need:
 *  - spans_start_uid is the time index and the duplicate check at once
 *    (INSERT OR IGNORE). Its keys grow with time, so inserts touch its right
 *    edge only; a unique index on span_uid alone (a hash) made every insert
 *    dirty a random page and cost ~30% of the insert rate. A span stored
 *    twice has the same start_ns and uid (the uid hashes start_ns), so
 *    duplicates are still caught. Its order is the queries' ORDER BY.
 *  - Lookup keys are mostly absent (no trace headers, no seq on UDP): partial
 *    indexes skip the NULLs. An equality on the column implies IS NOT NULL,
 *    so lookups still use them.
 *  - syscall_trace_id_resp is almost always equal to syscall_trace_id_req
 *    (one thread reads the request and writes the response), so it is
 *    indexed only where it differs. A lookup of context X is therefore
 *      syscall_trace_id_req = X OR (syscall_trace_id_resp = X AND
 *      syscall_trace_id_resp IS NOT syscall_trace_id_req)
 *    where the second term, copied from the index, lets SQLite use it.
 */
static const char schema_indexes[] =
    "CREATE UNIQUE INDEX IF NOT EXISTS spans_start_uid ON spans(start_ns, span_uid);"
    "CREATE INDEX IF NOT EXISTS spans_trace_id ON spans(trace_id) WHERE trace_id IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS spans_tcp_seq ON spans(req_tcp_seq, resp_tcp_seq)"
    " WHERE req_tcp_seq IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS spans_xrid ON spans(x_request_id) WHERE x_request_id IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS spans_strace_req ON spans(syscall_trace_id_req)"
    " WHERE syscall_trace_id_req IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS spans_strace_resp ON spans(syscall_trace_id_resp)"
    " WHERE syscall_trace_id_resp IS NOT NULL AND syscall_trace_id_resp IS NOT syscall_trace_id_req;";

struct zt_sqlite {
	struct zt_store base;
	sqlite3 *db; /* NULL: open failed, only errmsg is valid */
	enum zt_store_mode mode;
	sqlite3_stmt *insert, *begin, *commit, *rollback;
	struct zt_span *batch; /* owned copies, not yet flushed */
	size_t n, cap;
	char select_cols[1024]; /* "span_uid,start_ns,...": built once */
};

static const struct zt_store_ops sqlite_ops;

static struct zt_sqlite *to_sq(struct zt_store *st)
{
	return (struct zt_sqlite *)st;
}

static int set_err(struct zt_sqlite *sq, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int set_err(struct zt_sqlite *sq, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sq->base.errmsg, sizeof(sq->base.errmsg), fmt, ap);
	va_end(ap);
	return err;
}

/* SQLite result code -> negative errno, for the return convention. */
static int sql_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
		return -EILSEQ;
	default:
		return -EIO;
	}
}

static int sql_fail(struct zt_sqlite *sq, int rc, const char *what)
{
	return set_err(sq, sql_errno(rc), "sqlite: %s: %s", what,
		       sq->db ? sqlite3_errmsg(sq->db) : sqlite3_errstr(rc));
}

static int exec(struct zt_sqlite *sq, const char *sql)
{
	int rc = sqlite3_exec(sq->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : sql_fail(sq, rc, sql);
}

static int mkdir_p(const char *dir)
{
	char path[PATH_MAX];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, len + 1);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* ---- span <-> row ------------------------------------------------------ */

static int bind_text(sqlite3_stmt *stmt, int col, const char *s)
{
	if (!s || !s[0])
		return sqlite3_bind_null(stmt, col + 1);
	/* SQLITE_STATIC: the batch outlives the step that reads it. */
	return sqlite3_bind_text(stmt, col + 1, s, -1, SQLITE_STATIC);
}

static int bind_int(sqlite3_stmt *stmt, int col, int64_t v)
{
	return sqlite3_bind_int64(stmt, col + 1, v);
}

static int bind_int_or_null(sqlite3_stmt *stmt, int col, int64_t v, bool is_null)
{
	return is_null ? sqlite3_bind_null(stmt, col + 1) : sqlite3_bind_int64(stmt, col + 1, v);
}

/*
 * Same text as zt_ip_str(). The v4 case is formatted by hand: inet_ntop goes
 * through sprintf, which showed up in insert profiles (two addresses a row).
 */
static void ip_text(const uint8_t ip[16], char *out, size_t outsz)
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	char *p = out;

	if (memcmp(ip, v4mapped, 12) != 0 || outsz < INET_ADDRSTRLEN) {
		zt_ip_str(ip, out, (unsigned)outsz);
		return;
	}
	for (int i = 12; i < 16; i++) {
		unsigned b = ip[i];

		if (b >= 100)
			*p++ = (char)('0' + b / 100);
		if (b >= 10)
			*p++ = (char)('0' + b / 10 % 10);
		*p++ = (char)('0' + b % 10);
		*p++ = i < 15 ? '.' : '\0';
	}
}

static int bind_ip(sqlite3_stmt *stmt, int col, const struct zt_span *s, const uint8_t ip[16])
{
	char buf[INET6_ADDRSTRLEN];

	if (!s->family)
		return sqlite3_bind_null(stmt, col + 1);
	ip_text(ip, buf, sizeof(buf));
	return sqlite3_bind_text(stmt, col + 1, buf, -1, SQLITE_TRANSIENT);
}

static const char *l4_name(uint8_t l4)
{
	switch (l4) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	default:
		return NULL;
	}
}

/*
 * u64 values go through int64 unchanged bit for bit; timestamps and byte
 * counts stay below 2^63, so ordering and comparisons in SQL hold for them.
 */
static int bind_span(sqlite3_stmt *st, const struct zt_span *s)
{
	bool no_seq = !(s->flags & ZT_SPAN_HAS_SEQ);
	int rc = 0;

	rc |= bind_text(st, COL_span_uid, s->span_uid);
	rc |= bind_int(st, COL_start_ns, (int64_t)s->start_ns);
	rc |= bind_int(st, COL_end_ns, (int64_t)s->end_ns);
	rc |= bind_int(st, COL_duration_ns, (int64_t)s->duration_ns);
	rc |=
	    bind_text(st, COL_tap_side, s->tap_side == ZT_TAP_UNKNOWN ? NULL : zt_tap_side_name(s->tap_side));
	rc |= bind_text(st, COL_host, s->host);
	rc |= bind_int(st, COL_netns, s->netns);
	rc |= bind_int(st, COL_pid, s->pid);
	rc |= bind_int(st, COL_tid_req, s->tid_req);
	rc |= bind_int(st, COL_tid_resp, s->tid_resp);
	rc |= bind_text(st, COL_process, s->process);
	rc |= bind_text(st, COL_l7_protocol,
			s->l7_protocol == ZT_L7_UNKNOWN ? NULL : zt_l7_name(s->l7_protocol));
	rc |= bind_text(st, COL_version, s->version);
	rc |= bind_text(st, COL_request_type, s->request_type);
	rc |= bind_text(st, COL_request_domain, s->request_domain);
	rc |= bind_text(st, COL_request_resource, s->request_resource);
	rc |= bind_text(st, COL_endpoint, s->endpoint);
	rc |= bind_text(st, COL_response_status, zt_resp_status_name(s->response_status));
	rc |= bind_int_or_null(st, COL_response_code, s->response_code, s->response_code < 0);
	rc |= bind_text(st, COL_response_exception, s->response_exception);
	rc |= bind_int(st, COL_req_bytes, (int64_t)s->req_bytes);
	rc |= bind_int(st, COL_resp_bytes, (int64_t)s->resp_bytes);
	rc |= bind_ip(st, COL_client_ip, s, s->client_ip);
	rc |= bind_int_or_null(st, COL_client_port, s->client_port, s->client_port == 0);
	rc |= bind_ip(st, COL_server_ip, s, s->server_ip);
	rc |= bind_int_or_null(st, COL_server_port, s->server_port, s->server_port == 0);
	rc |= bind_text(st, COL_l4_protocol, l4_name(s->l4));
	rc |= bind_int_or_null(st, COL_req_tcp_seq, s->req_tcp_seq, no_seq);
	rc |= bind_int_or_null(st, COL_resp_tcp_seq, s->resp_tcp_seq, no_seq);
	rc |= bind_int_or_null(st, COL_syscall_trace_id_req, (int64_t)s->syscall_trace_id_req,
			       s->syscall_trace_id_req == 0);
	rc |= bind_int_or_null(st, COL_syscall_trace_id_resp, (int64_t)s->syscall_trace_id_resp,
			       s->syscall_trace_id_resp == 0);
	rc |= bind_text(st, COL_x_request_id, s->x_request_id);
	rc |= bind_text(st, COL_x_request_id_resp, s->x_request_id_resp);
	rc |= bind_text(st, COL_trace_id, s->trace_id);
	rc |= bind_text(st, COL_span_id, s->span_id);
	rc |= bind_text(st, COL_parent_span_id, s->parent_span_id);
	rc |= bind_int(st, COL_is_tls, s->is_tls ? 1 : 0);
	rc |= bind_int(st, COL_flags, s->flags);
	/* SQLITE_OK is 0: any failure leaves a bit set. */
	return rc;
}

static void col_str(sqlite3_stmt *st, int col, char *dst, size_t dstsz)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(dst, dstsz, "%s", t ? (const char *)t : "");
}

static bool col_null(sqlite3_stmt *st, int col)
{
	return sqlite3_column_type(st, col) == SQLITE_NULL;
}

static uint64_t col_u64(sqlite3_stmt *st, int col)
{
	return (uint64_t)sqlite3_column_int64(st, col);
}

/* Parses the text form back; family follows the text (dotted quad: v4). */
static void col_ip(sqlite3_stmt *st, int col, uint16_t *family, uint8_t ip[16])
{
	const char *t = (const char *)sqlite3_column_text(st, col);
	uint8_t v4[4];

	if (!t)
		return;
	if (inet_pton(AF_INET, t, v4) == 1) {
		memset(ip, 0, 10);
		ip[10] = ip[11] = 0xff;
		memcpy(ip + 12, v4, 4);
		*family = AF_INET;
	} else if (inet_pton(AF_INET6, t, ip) == 1) {
		*family = AF_INET6;
	}
}

static void row_to_span(sqlite3_stmt *st, struct zt_span *s)
{
	const char *t;

	memset(s, 0, sizeof(*s));
	col_str(st, COL_span_uid, s->span_uid, sizeof(s->span_uid));
	s->start_ns = col_u64(st, COL_start_ns);
	s->end_ns = col_u64(st, COL_end_ns);
	s->duration_ns = col_u64(st, COL_duration_ns);
	t = (const char *)sqlite3_column_text(st, COL_tap_side);
	for (int i = ZT_TAP_CLIENT_PROCESS; t && i <= ZT_TAP_SERVER_PROCESS; i++)
		if (strcmp(t, zt_tap_side_name(i)) == 0)
			s->tap_side = (uint8_t)i;
	col_str(st, COL_host, s->host, sizeof(s->host));
	s->netns = (uint32_t)sqlite3_column_int64(st, COL_netns);
	s->pid = (uint32_t)sqlite3_column_int64(st, COL_pid);
	s->tid_req = (uint32_t)sqlite3_column_int64(st, COL_tid_req);
	s->tid_resp = (uint32_t)sqlite3_column_int64(st, COL_tid_resp);
	col_str(st, COL_process, s->process, sizeof(s->process));
	t = (const char *)sqlite3_column_text(st, COL_l7_protocol);
	for (size_t i = 0; t && zt_protocols[i]; i++)
		if (strcasecmp(t, zt_protocols[i]->name) == 0)
			s->l7_protocol = (uint8_t)zt_protocols[i]->id;
	col_str(st, COL_version, s->version, sizeof(s->version));
	col_str(st, COL_request_type, s->request_type, sizeof(s->request_type));
	col_str(st, COL_request_domain, s->request_domain, sizeof(s->request_domain));
	col_str(st, COL_request_resource, s->request_resource, sizeof(s->request_resource));
	col_str(st, COL_endpoint, s->endpoint, sizeof(s->endpoint));
	t = (const char *)sqlite3_column_text(st, COL_response_status);
	for (int i = ZT_RS_OK; t && i <= ZT_RS_TIMEOUT; i++)
		if (strcmp(t, zt_resp_status_name(i)) == 0)
			s->response_status = (uint8_t)i;
	s->response_code = col_null(st, COL_response_code) ? -1 : sqlite3_column_int(st, COL_response_code);
	col_str(st, COL_response_exception, s->response_exception, sizeof(s->response_exception));
	s->req_bytes = col_u64(st, COL_req_bytes);
	s->resp_bytes = col_u64(st, COL_resp_bytes);
	col_ip(st, COL_client_ip, &s->family, s->client_ip);
	col_ip(st, COL_server_ip, &s->family, s->server_ip);
	s->client_port = (uint16_t)sqlite3_column_int(st, COL_client_port);
	s->server_port = (uint16_t)sqlite3_column_int(st, COL_server_port);
	t = (const char *)sqlite3_column_text(st, COL_l4_protocol);
	if (t && strcmp(t, "tcp") == 0)
		s->l4 = IPPROTO_TCP;
	else if (t && strcmp(t, "udp") == 0)
		s->l4 = IPPROTO_UDP;
	s->flags = (uint32_t)sqlite3_column_int64(st, COL_flags);
	/* The seq columns are the truth: the flag only says they are set. */
	if (col_null(st, COL_req_tcp_seq)) {
		s->flags &= ~(uint32_t)ZT_SPAN_HAS_SEQ;
	} else {
		s->flags |= ZT_SPAN_HAS_SEQ;
		s->req_tcp_seq = (uint32_t)sqlite3_column_int64(st, COL_req_tcp_seq);
		s->resp_tcp_seq = (uint32_t)sqlite3_column_int64(st, COL_resp_tcp_seq);
	}
	s->syscall_trace_id_req = col_u64(st, COL_syscall_trace_id_req);
	s->syscall_trace_id_resp = col_u64(st, COL_syscall_trace_id_resp);
	col_str(st, COL_x_request_id, s->x_request_id, sizeof(s->x_request_id));
	col_str(st, COL_x_request_id_resp, s->x_request_id_resp, sizeof(s->x_request_id_resp));
	col_str(st, COL_trace_id, s->trace_id, sizeof(s->trace_id));
	col_str(st, COL_span_id, s->span_id, sizeof(s->span_id));
	col_str(st, COL_parent_span_id, s->parent_span_id, sizeof(s->parent_span_id));
	s->is_tls = sqlite3_column_int(st, COL_is_tls) ? 1 : 0;
}

/* ---- ops --------------------------------------------------------------- */

static int sq_flush(struct zt_store *st)
{
	struct zt_sqlite *sq = to_sq(st);
	uint64_t inserted = 0;
	int rc, err;

	if (!sq->db)
		return set_err(sq, -EBADF, "store is not open");
	if (sq->n == 0)
		return 0;
	rc = sqlite3_step(sq->begin);
	sqlite3_reset(sq->begin);
	if (rc != SQLITE_DONE)
		return sql_fail(sq, rc, "begin");
	for (size_t i = 0; i < sq->n; i++) {
		rc = bind_span(sq->insert, &sq->batch[i]);
		if (rc != SQLITE_OK) {
			err = sql_fail(sq, rc, "bind span");
			goto rollback;
		}
		rc = sqlite3_step(sq->insert);
		sqlite3_reset(sq->insert);
		if (rc != SQLITE_DONE) {
			err = sql_fail(sq, rc, "insert span");
			goto rollback;
		}
		/* 0 when the span_uid was already stored: not a new row. */
		inserted += (uint64_t)sqlite3_changes(sq->db);
	}
	sqlite3_clear_bindings(sq->insert);
	rc = sqlite3_step(sq->commit);
	sqlite3_reset(sq->commit);
	if (rc != SQLITE_DONE) {
		err = sql_fail(sq, rc, "commit");
		goto rollback;
	}
	sq->n = 0;
	sq->base.spans_written += inserted;
	return 0;

rollback:
	sqlite3_clear_bindings(sq->insert);
	/* Keep the batch: the next flush retries it. */
	if (!sqlite3_get_autocommit(sq->db)) {
		sqlite3_step(sq->rollback);
		sqlite3_reset(sq->rollback);
	}
	return err;
}

static int sq_put_spans(struct zt_store *st, const struct zt_span *spans, size_t n)
{
	struct zt_sqlite *sq = to_sq(st);

	if (!sq->db)
		return set_err(sq, -EBADF, "store is not open");
	if (sq->mode != ZT_STORE_RW)
		return set_err(sq, -EROFS, "store is open read-only");
	while (n > 0) {
		size_t k;

		if (sq->n == ZT_BATCH_MAX) {
			int err = sq_flush(st);
			if (err)
				return err;
		}
		if (sq->n == sq->cap) {
			/* cap doubles up to ZT_BATCH_MAX: no overflow possible. */
			size_t ncap = sq->cap ? sq->cap * 2 : ZT_BATCH_MIN;
			struct zt_span *nb = realloc(sq->batch, ncap * sizeof(*nb));

			if (!nb)
				return set_err(sq, -ENOMEM, "out of memory for the span batch");
			sq->batch = nb;
			sq->cap = ncap;
		}
		k = sq->cap - sq->n < n ? sq->cap - sq->n : n;
		memcpy(&sq->batch[sq->n], spans, k * sizeof(*spans));
		sq->n += k;
		spans += k;
		n -= k;
	}
	if (sq->n == ZT_BATCH_MAX)
		return sq_flush(st);
	return 0;
}

/*
 * Only fixed SQL text is assembled here; every value is a bound parameter.
 * A positive cb return stops the walk and is success; a negative one stops it
 * and is returned.
 */
static int sq_query_spans(struct zt_store *st, const struct zt_span_query *q, zt_span_cb cb, void *ctx)
{
	struct zt_sqlite *sq = to_sq(st);
	sqlite3_stmt *stmt = NULL;
	struct zt_span *span = NULL;
	char where[256] = "1";
	char sql[2048];
	int idx = 1, rc, ret = 0;
	size_t wl;

	if (!sq->db)
		return set_err(sq, -EBADF, "store is not open");
	/* Fixed fragments, far below sizeof(where): no truncation to check. */
	if (q->since_ns) {
		wl = strlen(where);
		snprintf(where + wl, sizeof(where) - wl, " AND start_ns >= ?");
	}
	if (q->protocol) {
		wl = strlen(where);
		snprintf(where + wl, sizeof(where) - wl, " AND l7_protocol = ? COLLATE NOCASE");
	}
	if (q->process) {
		wl = strlen(where);
		snprintf(where + wl, sizeof(where) - wl, " AND process = ?");
	}
	if (q->limit)
		snprintf(sql, sizeof(sql),
			 "SELECT * FROM (SELECT %s FROM spans WHERE %s ORDER BY start_ns DESC, span_uid DESC"
			 " LIMIT ?) ORDER BY start_ns, span_uid",
			 sq->select_cols, where);
	else
		snprintf(sql, sizeof(sql), "SELECT %s FROM spans WHERE %s ORDER BY start_ns, span_uid",
			 sq->select_cols, where);

	rc = sqlite3_prepare_v2(sq->db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK) {
		ret = sql_fail(sq, rc, "prepare query");
		goto cleanup;
	}
	if (q->since_ns)
		sqlite3_bind_int64(stmt, idx++, q->since_ns > INT64_MAX ? INT64_MAX : (int64_t)q->since_ns);
	if (q->protocol)
		sqlite3_bind_text(stmt, idx++, q->protocol, -1, SQLITE_STATIC);
	if (q->process)
		sqlite3_bind_text(stmt, idx++, q->process, -1, SQLITE_STATIC);
	if (q->limit)
		sqlite3_bind_int64(stmt, idx++, q->limit);

	/* A zt_span is a few KiB: keep it off the caller's stack. */
	span = malloc(sizeof(*span));
	if (!span) {
		ret = set_err(sq, -ENOMEM, "out of memory");
		goto cleanup;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		int r;

		row_to_span(stmt, span);
		r = cb(ctx, span);
		if (r) {
			ret = r < 0 ? r : 0;
			goto cleanup;
		}
	}
	if (rc != SQLITE_DONE)
		ret = sql_fail(sq, rc, "query");

cleanup:
	free(span);
	sqlite3_finalize(stmt);
	return ret;
}

static void sq_close(struct zt_store *st)
{
	struct zt_sqlite *sq = to_sq(st);

	if (!st)
		return;
	if (sq->db && sq->mode == ZT_STORE_RW)
		sq_flush(st);
	sqlite3_finalize(sq->insert);
	sqlite3_finalize(sq->begin);
	sqlite3_finalize(sq->commit);
	sqlite3_finalize(sq->rollback);
	/* close_v2: the db is released even if a statement were left over. */
	sqlite3_close_v2(sq->db);
	free(sq->batch);
	free(sq);
}

static const struct zt_store_ops sqlite_ops = {
    .name = "sqlite",
    .put_spans = sq_put_spans,
    .flush = sq_flush,
    .query_spans = sq_query_spans,
    .close = sq_close,
};

/* ---- open -------------------------------------------------------------- */

/*
 * SQLite's memory statistics take a global mutex around every allocation
 * (~10% of the insert time); nothing here reads them. sqlite3_config() works
 * only before SQLite initialises and is not thread-safe, hence a constructor:
 * it runs before main(), while no thread exists. Should anything initialise
 * SQLite earlier, the call fails harmlessly and statistics stay on.
 */
__attribute__((constructor)) static void sq_global_config(void)
{
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static int pragma_int(struct zt_sqlite *sq, const char *sql, int64_t *out)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(sq->db, sql, -1, &stmt, NULL);

	if (rc == SQLITE_OK) {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW) {
			*out = sqlite3_column_int64(stmt, 0);
			rc = SQLITE_OK;
		}
	}
	if (rc != SQLITE_OK)
		rc = sql_fail(sq, rc, sql);
	sqlite3_finalize(stmt);
	return rc;
}

/*
 * Version 1 -> 2, inside the caller's transaction: the table is rebuilt (its
 * PRIMARY KEY cannot be dropped in place), rows keep their order, the v1
 * indexes go with the old table.
 */
static int migrate_v1(struct zt_sqlite *sq, const char *create_table)
{
	char sql[2048];
	int err;

	if ((size_t)snprintf(sql, sizeof(sql), "INSERT OR IGNORE INTO spans (%s) SELECT %s FROM spans_v1 ORDER BY rowid",
			     sq->select_cols, sq->select_cols) >= sizeof(sql))
		return set_err(sq, -EOVERFLOW, "migration text too long");
	err = exec(sq, "ALTER TABLE spans RENAME TO spans_v1");
	if (!err)
		err = exec(sq, create_table);
	if (!err)
		err = exec(sq, sql);
	if (!err)
		err = exec(sq, "DROP TABLE spans_v1");
	return err;
}

static int create_schema(struct zt_sqlite *sq)
{
	char sql[4096];
	size_t len;
	int64_t version = 0, objects = 0;
	int err;

	len = (size_t)snprintf(sql, sizeof(sql), "CREATE TABLE IF NOT EXISTS spans (");
	for (int i = 0; i < COL__COUNT && len < sizeof(sql); i++)
		len += (size_t)snprintf(sql + len, sizeof(sql) - len, "%s%s %s", i ? ", " : "", col_names[i],
					col_types[i]);
	if (len < sizeof(sql))
		len += (size_t)snprintf(sql + len, sizeof(sql) - len, ");");
	if (len >= sizeof(sql))
		return set_err(sq, -EOVERFLOW, "schema text too long");

	/* IMMEDIATE: a second `ztrace up` racing on a new file waits, then sees v1. */
	err = exec(sq, "BEGIN IMMEDIATE");
	if (err)
		return err;
	err = pragma_int(sq, "PRAGMA user_version", &version);
	if (!err && version == 0)
		err = pragma_int(sq, "SELECT count(*) FROM sqlite_master", &objects);
	if (err)
		goto rollback;
	if (version == ZT_SCHEMA_VERSION)
		return exec(sq, "COMMIT");
	if (version == 1) {
		err = migrate_v1(sq, sql);
	} else if (version != 0 || objects != 0) {
		err = set_err(sq, -EPROTO, "not a ztrace database (schema version %lld)", (long long)version);
		goto rollback;
	} else {
		err = exec(sq, sql);
	}
	if (!err)
		err = exec(sq, schema_indexes);
	if (!err)
		err = exec(sq, "PRAGMA user_version = " ZT_STR(ZT_SCHEMA_VERSION));
	if (!err)
		err = exec(sq, "COMMIT");
	if (!err)
		return 0;
rollback:
	sqlite3_exec(sq->db, "ROLLBACK", NULL, NULL, NULL);
	return err;
}

static int prepare(struct zt_sqlite *sq, const char *sql, sqlite3_stmt **out)
{
	int rc = sqlite3_prepare_v3(sq->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);

	return rc == SQLITE_OK ? 0 : sql_fail(sq, rc, "prepare");
}

static int prepare_writes(struct zt_sqlite *sq)
{
	char sql[2048];
	size_t len;
	int err;

	len =
	    (size_t)snprintf(sql, sizeof(sql), "INSERT OR IGNORE INTO spans (%s) VALUES (?", sq->select_cols);
	for (int i = 1; i < COL__COUNT && len < sizeof(sql); i++)
		len += (size_t)snprintf(sql + len, sizeof(sql) - len, ",?");
	if (len < sizeof(sql))
		len += (size_t)snprintf(sql + len, sizeof(sql) - len, ")");
	if (len >= sizeof(sql))
		return set_err(sq, -EOVERFLOW, "insert text too long");
	err = prepare(sq, sql, &sq->insert);
	if (!err)
		err = prepare(sq, "BEGIN IMMEDIATE", &sq->begin);
	if (!err)
		err = prepare(sq, "COMMIT", &sq->commit);
	if (!err)
		err = prepare(sq, "ROLLBACK", &sq->rollback);
	return err;
}

static int check_version(struct zt_sqlite *sq, const char *dir, const char *path)
{
	int64_t version = 0, objects = 0;
	int err;

	err = pragma_int(sq, "PRAGMA user_version", &version);
	if (!err && version == 0)
		err = pragma_int(sq, "SELECT count(*) FROM sqlite_master", &objects);
	if (err)
		return err;
	if (version == ZT_SCHEMA_VERSION)
		return 0;
	if (version == 1) /* same columns: read as is, converted by a writer */
		return sq->mode == ZT_STORE_RO ? 0 : 1;
	if (version > ZT_SCHEMA_VERSION)
		return set_err(
		    sq, -EPROTO,
		    "%s has schema version %lld, newer than this ztrace knows (%d): upgrade ztrace", path,
		    (long long)version, ZT_SCHEMA_VERSION);
	if (version != 0 || objects != 0)
		return set_err(sq, -EPROTO, "%s is not a ztrace database (schema version %lld)", path,
			       (long long)version);
	if (sq->mode == ZT_STORE_RO)
		return set_err(sq, -ENOENT, "no ztrace data in %s (run `ztrace up` first)", dir);
	return 1; /* empty file: the caller creates the schema */
}

int zt_store_open_sqlite(const char *dir, enum zt_store_mode mode, struct zt_store **out)
{
	struct zt_sqlite *sq;
	char path[PATH_MAX];
	struct stat sb;
	size_t len = 0;
	int flags, rc, err;
	bool need_schema;

	*out = NULL;
	sq = calloc(1, sizeof(*sq));
	if (!sq)
		return -ENOMEM;
	sq->base.ops = &sqlite_ops;
	sq->mode = mode;
	*out = &sq->base;

	for (int i = 0; i < COL__COUNT; i++)
		len += (size_t)snprintf(sq->select_cols + len, sizeof(sq->select_cols) - len, "%s%s",
					i ? "," : "", col_names[i]);
	if ((size_t)snprintf(path, sizeof(path), "%s/ztrace.db", dir) >= sizeof(path)) {
		err = set_err(sq, -ENAMETOOLONG, "data directory path too long: %s", dir);
		goto fail;
	}
	if (mode == ZT_STORE_RW) {
		err = mkdir_p(dir);
		if (err) {
			set_err(sq, err, "cannot create data directory %s: %s", dir, strerror(-err));
			goto fail;
		}
		flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	} else {
		/* Check first: SQLite's "unable to open database file" says nothing useful. */
		if (stat(path, &sb) < 0) {
			err = -errno;
			if (err == -ENOENT)
				set_err(sq, err, "no ztrace data in %s (run `ztrace up` first)", dir);
			else
				set_err(sq, err, "cannot open %s: %s", path, strerror(errno));
			goto fail;
		}
		flags = SQLITE_OPEN_READONLY;
	}

	/*
	 * NOMUTEX: a store (its batch included) is used by one thread at a
	 * time anyway; SQLite's per-call connection mutex cost ~5% of inserts.
	 */
	rc = sqlite3_open_v2(path, &sq->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		err = set_err(sq, sql_errno(rc), "cannot open %s: %s", path,
			      sq->db ? sqlite3_errmsg(sq->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(sq->db, 1);
	/* Readers and the writer take turns on the WAL locks; wait, don't fail. */
	sqlite3_busy_timeout(sq->db, ZT_BUSY_TIMEOUT_MS);

	/* Before anything writes: a file from a newer ztrace must stay untouched. */
	err = check_version(sq, dir, path);
	if (err < 0)
		goto fail;
	need_schema = err == 1;
	if (mode == ZT_STORE_RW) {
		/*
		 * page_size: only takes effect on a new file, before WAL. 16 KiB
		 * pages made inserts ~1.5x faster than 4 KiB (rows are ~400
		 * bytes; fewer splits and WAL frames). WAL: readers never block
		 * the writer. NORMAL: a power loss may lose the last commits but
		 * never corrupts; spans are telemetry. The cache keeps the index
		 * pages a batch touches in memory; journal_size_limit stops the
		 * WAL file from staying at its high-water mark.
		 */
		err = exec(sq, "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
			       " PRAGMA temp_store=MEMORY; PRAGMA cache_size=-65536;"
			       " PRAGMA journal_size_limit=67108864;");
		if (!err && need_schema)
			err = create_schema(sq);
		if (!err)
			err = prepare_writes(sq);
		if (err)
			goto fail;
	}
	return 0;

fail:
	/* Keep the message, drop the connection: see the top of this file. */
	sqlite3_finalize(sq->insert);
	sqlite3_finalize(sq->begin);
	sqlite3_finalize(sq->commit);
	sqlite3_finalize(sq->rollback);
	sq->insert = sq->begin = sq->commit = sq->rollback = NULL;
	sqlite3_close_v2(sq->db);
	sq->db = NULL;
	return err;
}
