/* SPDX-License-Identifier: MIT */
/*
 * postgresql.c - PostgreSQL frontend/backend protocol v3 (ZT_L7_POSTGRESQL).
 *
 * Framing: every message but the client's first is type byte + int32 length
 * (counting itself) + body; the startup packets (StartupMessage, SSLRequest,
 * GSSENCRequest, CancelRequest) have no type byte. Each direction is a
 * resumable state machine: the 5-byte header (8 for a startup packet) is
 * gathered across segments, then the body is counted by its length, so body
 * bytes may fall in a capture gap. Only the bodies we read are kept (a
 * bounded prefix): Q, P, B, C and the startup packet from the client; E, C
 * from the server. Authentication messages ('p') are never kept.
 *
 * Spans (FIFO pairing):
 *   simple query   Q ............................. -> ... ReadyForQuery
 *   extended query P/B/D/E/C/H ... Sync ........... -> ... ReadyForQuery
 *   function call  F ............................. -> ... ReadyForQuery
 * The server answers every Q, F and Sync with exactly one ReadyForQuery, so
 * requests and responses line up in order, also with several Syncs in
 * flight (pipelining). One Q holding several statements is one span (the
 * first keyword names it, pg.rows adds up the CommandComplete counts). A
 * CancelRequest is a one-way span. The startup phase (up to the first
 * ReadyForQuery) makes no span; its ErrorResponse (a failed login) neither.
 * NoticeResponse, NotificationResponse and ParameterStatus between requests
 * are not responses.
 *
 * Fields: request_type is the first SQL keyword (SELECT, BEGIN, WITH...) of
 * the Query, or of the first Execute's statement; a batch that executes
 * nothing is PREPARE (Parse), DESCRIBE, CLOSE or SYNC; EXECUTE when the
 * statement was prepared before tracing began (its name in pg.statement);
 * CANCEL, FUNCTION_CALL. request_resource is the SQL normalised (literals ->
 * '?', pg_sql.c), request_domain the database of the StartupMessage (its
 * user when absent; empty when tracing began mid-connection). Errors:
 * response_exception "SQLSTATE: message" (fields C and M); SQLSTATEs are
 * not numbers, so response_code stays null; the class decides client or
 * server error (zt_pg_sqlstate_class). Attributes: pg.rows (sum of the
 * CommandComplete counts), pg.commands (> 1 statements), pg.executes (> 1
 * Executes in a batch), pg.copy_in_bytes (COPY FROM STDIN data),
 * pg.statement, pg.prep_evicted (named statements replaced because the
 * per-connection table of PG_PREP_MAX was full).
 *
 * Gaps: when a message header falls in bytes the capture did not keep (a big
 * result: DataRows past the 1 KiB prefix), the direction loses framing.
 * The server direction comes back (a) at a fully captured segment ending in
 * ReadyForQuery (the server flushes after it, so it ends a write) or (b)
 * when the client sends its next request while only the lost one was
 * outstanding: the lost response ends there (flags truncated + lost_sync)
 * and the server's next byte starts a message. The client direction comes
 * back at a segment that starts like a frontend message (as strict as
 * inference).
 */
#include "proto/postgresql.h"
#include "proto/proto.h"
#include "bpf/events.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#define PG_BODY_BUF 1024 /* body prefix kept for the messages we read */
#define PG_PREP_MAX 16	 /* named prepared statements per connection */
#define PG_SQL_LEN 384	 /* normalised SQL kept per statement */
#define PG_DB_LEN 64

enum pg_st {
	PG_S_HDR = 0, /* between messages, or a header gathered in hdr[0..hlen) */
	PG_S_BODY,    /* mlen - got body bytes left */
	PG_S_ANSWER,  /* server: the one-byte answer to SSLRequest/GSSENCRequest */
	PG_S_LOST,    /* framing lost: see the resynchronisation rules above */
};

struct pg_dir {
	uint8_t st; /* enum pg_st */
	uint8_t hlen;
	uint8_t type;  /* the current message's type; 0: a startup packet */
	bool untyped;  /* client: the next message is a startup packet */
	bool keep;     /* the current body is copied into body[] */
	bool cut;      /* bytes of a kept body fell in a gap */
	uint16_t blen; /* bytes in body[] */
	uint8_t hdr[8];
	uint32_t mlen; /* body bytes (after the length, and a startup packet's code) */
	uint32_t got;  /* body bytes consumed */
	uint32_t code; /* startup packet: the protocol code */
	char body[PG_BODY_BUF];
};

struct pg_prep {
	char name[PG_NAME_LEN]; /* "" : free slot */
	char sql[PG_SQL_LEN];
};

struct pg_state {
	struct pg_dir d[2];
	int8_t req_dir; /* enum zt_dir carrying the client's messages; -1: unknown */
	bool dead;	/* the connection went TLS/GSS: nothing more to read */
	bool startup;	/* in the startup phase, until the first ReadyForQuery */
	/* the request being built (client direction) */
	bool req_open;
	bool has_parse, has_describe, has_close;
	uint16_t nexec;
	char bind_sql[PG_SQL_LEN]; /* SQL of the last Bind's statement */
	char bind_name[PG_NAME_LEN];
	struct zt_msg req;
	/* the response being built (server direction) */
	bool resp_open;
	bool resp_seen; /* a valid message header was read in it */
	bool resp_err;
	uint16_t ncmd;
	uint64_t rows;
	bool has_rows;
	uint64_t copy_in; /* CopyData bytes the client sent for the pending COPY */
	struct zt_msg resp;
	uint32_t npend; /* requests emitted and not yet answered */
	uint32_t prep_evicted;
	uint32_t prep_next;
	char db[PG_DB_LEN];
	char version[8];
	char unnamed_sql[PG_SQL_LEN];
	struct pg_prep prep[PG_PREP_MAX];
};

_Static_assert(sizeof(struct pg_state) < 20 * 1024, "per-connection state must stay small");

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int pg_infer(const uint8_t *buf, size_t len, const struct zt_infer_hints *h)
{
	/* TCP only; port 5432 proves nothing: the bytes are judged strictly */
	if (h && h->l4 == IPPROTO_UDP)
		return 0;
	return zt_pg_infer_front(buf, len);
}

static int pg_first_kind(const uint8_t *buf, size_t len)
{
	return zt_pg_infer_front(buf, len) >= 50 ? ZT_MSG_REQUEST : 0;
}

/* ---- small helpers -------------------------------------------------------- */

static void pg_attr(struct zt_msg *m, const char *key, const char *val)
{
	if (m->attrs.n >= ZT_ATTRS_MAX)
		return;
	snprintf(m->attrs.a[m->attrs.n].key, ZT_ATTR_KEY_LEN, "%s", key);
	snprintf(m->attrs.a[m->attrs.n].val, ZT_ATTR_VAL_LEN, "%s", val);
	m->attrs.n++;
}

static void pg_attr_u64(struct zt_msg *m, const char *key, uint64_t v)
{
	char b[24];

	snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
	pg_attr(m, key, b);
}

/* A C string at body[*i..blen) (cut at blen when unterminated). */
static const char *pg_body_str(const struct pg_dir *d, size_t *i, size_t *n, bool *whole)
{
	const char *s = d->body + *i;
	size_t avail = *i < d->blen ? d->blen - *i : 0;
	const char *z = memchr(s, 0, avail);

	*whole = z != NULL;
	*n = z ? (size_t)(z - s) : avail;
	*i += *n + (z ? 1 : 0);
	return s;
}

static struct pg_prep *pg_prep_find(struct pg_state *s, const char *name, size_t n)
{
	if (n == 0 || n >= PG_NAME_LEN)
		return NULL;
	for (size_t k = 0; k < PG_PREP_MAX; k++)
		if (s->prep[k].name[0] && strlen(s->prep[k].name) == n &&
		    memcmp(s->prep[k].name, name, n) == 0)
			return &s->prep[k];
	return NULL;
}

/* Remembers a named statement; a full table replaces its oldest entry and
 * counts it (pg.prep_evicted on the span that did it). */
static void pg_prep_store(struct pg_state *s, const char *name, size_t n, const char *sql)
{
	struct pg_prep *p = pg_prep_find(s, name, n);

	if (n == 0 || n >= PG_NAME_LEN)
		return;
	if (!p) {
		for (size_t k = 0; k < PG_PREP_MAX && !p; k++)
			if (!s->prep[k].name[0])
				p = &s->prep[k];
		if (!p) {
			p = &s->prep[s->prep_next++ % PG_PREP_MAX];
			s->prep_evicted++;
			pg_attr_u64(&s->req, "pg.prep_evicted", s->prep_evicted);
		}
		memcpy(p->name, name, n);
		p->name[n] = '\0';
	}
	snprintf(p->sql, sizeof(p->sql), "%s", sql);
}

/* ---- requests (client direction) ---------------------------------------- */

static void pg_lose(struct pg_state *s, int dir, zt_emit_fn emit, void *ctx);

/* Emits the response being built; flags add to its own. ZT_MF_LOST_SYNC on a
 * response no message of which was read leaves its status unknown. */
static void pg_emit_resp(struct pg_state *s, uint32_t flags, zt_emit_fn emit, void *ctx)
{
	struct zt_msg *m = &s->resp;

	m->kind = ZT_MSG_RESPONSE;
	m->pair = ZT_PAIR_FIFO;
	m->flags |= flags;
	if (!m->status && (flags & ZT_MF_LOST_SYNC) && !s->resp_seen)
		m->status = ZT_RS_UNKNOWN;
	else if (!m->status)
		m->status = s->resp_err ? ZT_RS_SERVER_ERROR : ZT_RS_OK;
	memcpy(m->version, s->version, sizeof(s->version));
	if (s->has_rows)
		pg_attr_u64(m, "pg.rows", s->rows);
	if (s->ncmd > 1)
		pg_attr_u64(m, "pg.commands", s->ncmd);
	if (s->copy_in)
		pg_attr_u64(m, "pg.copy_in_bytes", s->copy_in);
	emit(ctx, m);
	s->resp_open = s->resp_err = s->has_rows = false;
	s->ncmd = 0;
	s->rows = s->copy_in = 0;
	if (s->npend)
		s->npend--;
}

/* A request is complete. When the server direction lost its framing and
 * only the lost exchange was outstanding, that response ended before this
 * request (the client waited for it): it is emitted first, and the server's
 * next byte starts a message. It is emitted even when none of it could be
 * read (status unknown; no bytes seen: it ends where this request starts):
 * the session pairs in order, and a response left out would shift every
 * later pair on the connection. */
static void pg_emit_req(struct pg_state *s, uint8_t pair, zt_emit_fn emit, void *ctx)
{
	struct pg_dir *sd = &s->d[!s->req_dir];
	struct zt_msg *m = &s->req;

	if (sd->st == PG_S_LOST && pair == ZT_PAIR_FIFO) {
		if (s->npend == 1) {
			if (!s->resp_open) {
				zt_msg_reset(&s->resp);
				s->resp.dir = (uint8_t)!s->req_dir;
				s->resp.start_ns = s->resp.end_ns = m->start_ns;
				s->resp.tid_start = s->resp.tid_end = m->tid_start;
				s->resp_seen = false;
			}
			pg_emit_resp(s, ZT_MF_TRUNCATED | ZT_MF_LOST_SYNC, emit, ctx);
		}
		if (s->npend == 0) {
			sd->st = PG_S_HDR;
			sd->hlen = 0;
			s->resp_open = false;
		}
	}
	m->kind = ZT_MSG_REQUEST;
	m->pair = pair;
	memcpy(m->version, s->version, sizeof(s->version));
	snprintf(m->request_domain, sizeof(m->request_domain), "%s", s->db);
	emit(ctx, m);
	if (pair == ZT_PAIR_FIFO)
		s->npend++;
	s->req_open = false;
}

static void pg_set_sql(struct zt_msg *m, const char *sql)
{
	zt_pg_first_keyword(sql, strlen(sql), m->request_type, sizeof(m->request_type));
	snprintf(m->request_resource, sizeof(m->request_resource), "%s", sql);
}

static void pg_startup_params(struct pg_state *s, struct pg_dir *d)
{
	size_t i = 0, kn, vn;
	bool kw, vw;
	char user[PG_DB_LEN] = "";

	while (i < d->blen) {
		const char *k = pg_body_str(d, &i, &kn, &kw);
		if (!kw || kn == 0)
			break;
		const char *v = pg_body_str(d, &i, &vn, &vw);
		if (!vw)
			break;
		if (kn == 8 && memcmp(k, "database", 8) == 0)
			zt_copy_str(s->db, sizeof(s->db), v, vn);
		else if (kn == 4 && memcmp(k, "user", 4) == 0)
			zt_copy_str(user, sizeof(user), v, vn);
	}
	if (!s->db[0]) /* the server's default: the user's name */
		memcpy(s->db, user, sizeof(user));
}

/* The client's message in d is complete. */
static void pg_client_msg(struct pg_state *s, struct pg_dir *d, const struct zt_seg *seg, zt_emit_fn emit,
			  void *ctx)
{
	char sql[PG_SQL_LEN];
	size_t i = 0, n;
	bool whole;
	const char *p;

	if (d->type == 0) {
		if (d->code == PG_CODE_SSL || d->code == PG_CODE_GSS) {
			struct pg_dir *sd = &s->d[!s->req_dir];
			sd->st = PG_S_ANSWER;
			d->untyped = true;
		} else if (d->code == PG_CODE_CANCEL) {
			zt_msg_extend(&s->req, seg);
			s->req.bytes = 16;
			snprintf(s->req.request_type, sizeof(s->req.request_type), "CANCEL");
			pg_emit_req(s, ZT_PAIR_ONEWAY, emit, ctx);
		} else if (d->code >> 16 != 3) {
			pg_lose(s, s->req_dir, emit, ctx);
		} else {
			snprintf(s->version, sizeof(s->version), "3.%u", d->code & 0xffu);
			pg_startup_params(s, d);
			s->startup = true;
		}
		return;
	}
	if (s->req_open)
		zt_msg_extend(&s->req, seg);
	switch (d->type) {
	case 'Q':
		if (!s->req_open)
			return;
		p = pg_body_str(d, &i, &n, &whole);
		zt_pg_first_keyword(p, n, s->req.request_type, sizeof(s->req.request_type));
		zt_pg_normalize(p, n, s->req.request_resource, sizeof(s->req.request_resource));
		if (d->cut || !whole)
			s->req.flags |= ZT_MF_TRUNCATED;
		pg_emit_req(s, ZT_PAIR_FIFO, emit, ctx);
		return;
	case 'F':
		if (!s->req_open)
			return;
		snprintf(s->req.request_type, sizeof(s->req.request_type), "FUNCTION_CALL");
		pg_emit_req(s, ZT_PAIR_FIFO, emit, ctx);
		return;
	case 'P': {
		bool nw;
		size_t nn;
		const char *name = pg_body_str(d, &i, &nn, &nw);
		p = pg_body_str(d, &i, &n, &whole);
		zt_pg_normalize(p, n, sql, sizeof(sql));
		if (!nw)
			return;
		if (nn == 0)
			memcpy(s->unnamed_sql, sql, sizeof(sql));
		else
			pg_prep_store(s, name, nn, sql);
		if (!s->has_parse && !s->nexec) {
			pg_set_sql(&s->req, sql);
			if (d->cut || !whole)
				s->req.flags |= ZT_MF_TRUNCATED;
		}
		s->has_parse = true;
		return;
	}
	case 'B': {
		size_t nn;
		p = pg_body_str(d, &i, &n, &whole); /* portal */
		const char *name = pg_body_str(d, &i, &nn, &whole);
		if (!whole)
			return;
		const struct pg_prep *pr = nn ? pg_prep_find(s, name, nn) : NULL;
		if (nn == 0)
			memcpy(s->bind_sql, s->unnamed_sql, sizeof(sql));
		else if (pr)
			memcpy(s->bind_sql, pr->sql, sizeof(sql));
		else
			s->bind_sql[0] = '\0'; /* prepared before tracing began, or evicted */
		zt_copy_str(s->bind_name, sizeof(s->bind_name), name, nn);
		return;
	}
	case 'E':
		if (s->nexec++ == 0) {
			pg_set_sql(&s->req, s->bind_sql);
			if (!s->bind_sql[0]) {
				snprintf(s->req.request_type, sizeof(s->req.request_type), "EXECUTE");
				if (s->bind_name[0])
					pg_attr(&s->req, "pg.statement", s->bind_name);
			}
		}
		return;
	case 'D':
		s->has_describe = true;
		return;
	case 'C': {
		p = pg_body_str(d, &i, &n, &whole);
		if (n == 0)
			return;
		s->has_close = true;
		if (p[0] == 'S' && n > 1) {
			struct pg_prep *pr = pg_prep_find(s, p + 1, n - 1);
			if (pr)
				pr->name[0] = '\0';
		}
		return;
	}
	case 'S':
		if (!s->req_open)
			return;
		if (s->nexec > 1)
			pg_attr_u64(&s->req, "pg.executes", s->nexec);
		if (!s->nexec) {
			const char *t = s->has_parse	  ? "PREPARE"
					: s->has_describe ? "DESCRIBE"
					: s->has_close	  ? "CLOSE"
							  : "SYNC";
			snprintf(s->req.request_type, sizeof(s->req.request_type), "%s", t);
		}
		pg_emit_req(s, ZT_PAIR_FIFO, emit, ctx);
		return;
	case 'd':
	case 'c':
	case 'f':
		s->copy_in += 5 + (uint64_t)d->mlen;
		return;
	default: /* H, X, p: nothing to read */
		return;
	}
}

/* ---- responses (server direction) ------------------------------------------ */

static void pg_error_fields(struct pg_state *s, struct pg_dir *d)
{
	/* "CODE: message" fits the field: the message is cut to what is left */
	char code[6] = "", msg[ZT_EXC_LEN - 7] = "";
	size_t i = 0, n;
	bool whole, all = false;

	while (i < d->blen) {
		char f = d->body[i++];
		if (f == 0) {
			all = true;
			break;
		}
		const char *v = pg_body_str(d, &i, &n, &whole);
		if (f == 'C')
			zt_copy_str(code, sizeof(code), v, n);
		else if (f == 'M')
			zt_copy_str(msg, sizeof(msg), v, n);
		if (!whole)
			break;
	}
	if (!all || d->cut)
		s->resp.flags |= ZT_MF_TRUNCATED;
	s->resp_err = true;
	s->resp.status = zt_pg_sqlstate_class(code);
	snprintf(s->resp.response_exception, sizeof(s->resp.response_exception), "%s%s%s", code,
		 code[0] && msg[0] ? ": " : "", msg);
}

/* CommandComplete: "SELECT 5", "INSERT 0 1", "BEGIN": rows are the last
 * number when there is one. */
static void pg_command_tag(struct pg_state *s, const struct pg_dir *d)
{
	size_t n = strnlen(d->body, d->blen), e = n;

	s->ncmd++;
	while (e > 0 && d->body[e - 1] >= '0' && d->body[e - 1] <= '9')
		e--;
	if (e == n || e == 0 || d->body[e - 1] != ' ' || n - e > 19)
		return;
	uint64_t v = 0;
	for (size_t k = e; k < n; k++)
		v = v * 10 + (uint64_t)(d->body[k] - '0');
	s->rows += v;
	s->has_rows = true;
}

static void pg_server_msg(struct pg_state *s, struct pg_dir *d, const struct zt_seg *seg, zt_emit_fn emit,
			  void *ctx)
{
	if (s->startup) {
		/* Authentication*, ParameterStatus, BackendKeyData, a
		 * failed login's ErrorResponse: no span */
		if (d->type == 'Z')
			s->startup = false;
		return;
	}
	if (!s->resp_open)
		return; /* a notice, notification or parameter between requests */
	zt_msg_extend(&s->resp, seg);
	switch (d->type) {
	case 'E':
		pg_error_fields(s, d);
		break;
	case 'C':
		pg_command_tag(s, d);
		break;
	case 'Z':
		pg_emit_resp(s, 0, emit, ctx);
		break;
	}
}

/* ---- framing ---------------------------------------------------------------- */

static bool pg_keep_body(const struct pg_state *s, bool client, uint8_t type)
{
	if (client)
		return type == 0 || type == 'Q' || type == 'P' || type == 'B' || type == 'C';
	return !s->startup && (type == 'E' || type == 'C');
}

/* A message starts at (seg, off): the request or response it belongs to
 * begins here when none is open. Server messages between requests that are
 * not answers (notices, notifications, parameters) open nothing. */
static void pg_msg_start(struct pg_state *s, bool client, int type, const struct zt_seg *seg, uint64_t off)
{
	if (client) {
		if (!type && !s->req_open) {
			/* a startup packet: only a CancelRequest makes a span,
			 * from here; no request is open */
			zt_msg_reset(&s->req);
			zt_msg_begin(&s->req, seg, off);
			return;
		}
		if (s->req_open || !type || !strchr("QPBDECHSF", type))
			return;
		zt_msg_reset(&s->req);
		zt_msg_begin(&s->req, seg, off);
		s->req_open = true;
		s->has_parse = s->has_describe = s->has_close = false;
		s->nexec = 0;
		s->bind_sql[0] = s->bind_name[0] = '\0';
		return;
	}
	if (s->resp_open || s->startup)
		return;
	if (type == 'A' || type == 'S' || ((type == 'N' || type == 0) && s->npend == 0))
		return;
	zt_msg_reset(&s->resp);
	s->resp_err = s->has_rows = false;
	s->ncmd = 0;
	s->rows = s->copy_in = 0;
	zt_msg_begin(&s->resp, seg, off);
	s->resp_open = true;
}

static void pg_lose(struct pg_state *s, int dir, zt_emit_fn emit, void *ctx)
{
	struct pg_dir *d = &s->d[dir];

	/* the bytes of a header cut short belong to the exchange */
	if (dir == s->req_dir && s->req_open)
		s->req.bytes += d->hlen;
	else if (dir != s->req_dir && s->resp_open)
		s->resp.bytes += d->hlen;
	d->st = PG_S_LOST;
	d->hlen = 0;
	d->untyped = false;
	if (dir == s->req_dir) {
		/* a request cut in a gap: it was most likely sent whole (one
		 * Sync), and a response will come */
		if (s->req_open) {
			s->req.flags |= ZT_MF_TRUNCATED | ZT_MF_LOST_SYNC;
			if (!s->req.request_type[0])
				snprintf(s->req.request_type, sizeof(s->req.request_type), "UNKNOWN");
			pg_emit_req(s, ZT_PAIR_FIFO, emit, ctx);
		}
	} else if (s->resp_open) {
		s->resp.flags |= ZT_MF_TRUNCATED;
	}
}

/* A response whose framing was lost ends with this fully captured segment
 * if its last bytes are ReadyForQuery; rows come from the CommandComplete
 * right before it, found by its length. */
static bool pg_tail_ready(struct pg_state *s, const struct zt_seg *seg)
{
	const uint8_t *p = seg->data;
	size_t n = seg->caplen;

	if (n < 6 || n != seg->len)
		return false;
	const uint8_t *z = p + n - 6;
	if (z[0] != 'Z' || be32(z + 1) != 5 || !(z[5] == 'I' || z[5] == 'T' || z[5] == 'E'))
		return false;
	size_t zpos = n - 6;
	/* 'C' + int32 L + tag NUL: back = 1 + L bytes before the Z */
	for (size_t back = 7; back <= 70 && back <= zpos; back++) {
		size_t c = zpos - back;
		if (p[c] == 'C' && be32(p + c + 1) == back - 1 && p[zpos - 1] == 0) {
			struct pg_dir tmp;
			tmp.blen = (uint16_t)(back - 5);
			memcpy(tmp.body, p + c + 5, tmp.blen);
			pg_command_tag(s, &tmp);
			break;
		}
	}
	return true;
}

/* The header in d->hdr is complete: validate and set up the body. */
static bool pg_header(struct pg_state *s, struct pg_dir *d, bool client)
{
	uint32_t l;

	if (d->untyped) {
		l = be32(d->hdr);
		d->type = 0;
		d->code = be32(d->hdr + 4);
		if (l < 8 || l > PG_STARTUP_MAX)
			return false;
		d->mlen = l - 8;
		d->untyped = false;
	} else {
		d->type = d->hdr[0];
		l = be32(d->hdr + 1);
		if (l < 4 || l > PG_MAX_LEN)
			return false;
		if (!d->type || (client ? !zt_pg_front_type(d->type)
					: !(zt_pg_back_only_type(d->type) || strchr("DESCHNAdc", d->type))))
			return false;
		d->mlen = l - 4;
	}
	d->got = 0;
	d->blen = 0;
	d->cut = false;
	d->keep = pg_keep_body(s, client, d->type);
	d->st = PG_S_BODY;
	if (!client && s->resp_open)
		s->resp_seen = true;
	return true;
}

static void pg_feed(void *state, const struct zt_seg *seg, zt_emit_fn emit, void *ctx)
{
	struct pg_state *s = state;
	uint32_t cap = seg->data ? seg->caplen : 0;
	uint64_t len = seg->len, off = 0;

	if (s->dead || seg->dir > ZT_DIR_INGRESS || len == 0)
		return;
	if (cap > len)
		cap = (uint32_t)len;
	if (s->req_dir < 0) {
		/* The session feeds from the segment inference accepted, and
		 * only frontend bytes are accepted: this side is the client.
		 * Typed messages mean tracing began mid-connection: the
		 * server's side syncs once a request is out. */
		s->req_dir = (int8_t)seg->dir;
		s->d[seg->dir].untyped = cap && seg->data[0] == 0;
		if (!s->d[seg->dir].untyped)
			s->d[!seg->dir].st = PG_S_LOST;
	}
	bool client = seg->dir == s->req_dir;
	struct pg_dir *d = &s->d[seg->dir];

	if (d->st == PG_S_LOST) {
		if (client) {
			if (!cap || zt_pg_infer_front(seg->data, cap) < 50) {
				/* CopyData of a COPY FROM STDIN the server is
				 * waiting for, whose headers went past the capture */
				if (s->resp_open)
					s->copy_in += len;
				return;
			}
			d->st = PG_S_HDR;
			d->hlen = 0;
			d->untyped = seg->data[0] == 0;
		} else {
			if (s->resp_open) {
				s->resp.bytes += len;
				zt_msg_extend(&s->resp, seg);
			}
			if (cap && pg_tail_ready(s, seg)) {
				if (s->resp_open)
					pg_emit_resp(s, 0, emit, ctx);
				d->st = PG_S_HDR;
				d->hlen = 0;
			}
			return;
		}
	}
	/* a body of 0 bytes completes with its header, even at the end */
	while ((off < len || (d->st == PG_S_BODY && d->got == d->mlen)) && !s->dead) {
		switch (d->st) {
		case PG_S_ANSWER:
			if (off >= cap) {
				pg_lose(s, seg->dir, emit, ctx);
				return;
			}
			if (seg->data[off] == 'S' || seg->data[off] == 'G') {
				s->dead = true; /* TLS or GSS encryption from here on */
				return;
			}
			d->st = PG_S_HDR;
			if (seg->data[off] == 'N')
				off++; /* else an old server's ErrorResponse: a message */
			break;
		case PG_S_HDR: {
			size_t need = d->untyped ? 8 : 5;
			if (d->hlen == 0)
				pg_msg_start(s, client, d->untyped || off >= cap ? 0 : seg->data[off], seg,
					     off);
			if (off >= cap) { /* the header is in a gap */
				pg_lose(s, seg->dir, emit, ctx);
				if (!client && s->resp_open) {
					s->resp.bytes += len - off;
					zt_msg_extend(&s->resp, seg);
				}
				return;
			}
			size_t k = need - d->hlen;
			if (k > cap - off)
				k = cap - off;
			memcpy(d->hdr + d->hlen, seg->data + off, k);
			d->hlen = (uint8_t)(d->hlen + k);
			off += k;
			if (d->hlen < need)
				break;
			if (!pg_header(s, d, client)) {
				pg_lose(s, seg->dir, emit, ctx);
				return;
			}
			break;
		}
		case PG_S_BODY: {
			uint64_t n = d->mlen - d->got;
			if (n > len - off)
				n = len - off;
			if (d->keep && d->blen < PG_BODY_BUF) {
				uint64_t c = off < cap ? cap - off : 0;
				if (c > n)
					c = n;
				if (c > (uint64_t)(PG_BODY_BUF - d->blen))
					c = PG_BODY_BUF - d->blen;
				if (c) /* seg->data may be NULL when nothing was captured */
					memcpy(d->body + d->blen, seg->data + off, c);
				d->blen = (uint16_t)(d->blen + c);
				if (c < n && d->blen < PG_BODY_BUF)
					d->cut = true;
			}
			d->got += (uint32_t)n;
			off += n;
			if (d->got < d->mlen)
				break;
			uint64_t size = (uint64_t)d->mlen + (d->type ? 5 : 8);
			if (client && s->req_open)
				s->req.bytes += size;
			else if (!client && s->resp_open)
				s->resp.bytes += size;
			d->st = PG_S_HDR;
			d->hlen = 0;
			if (client)
				pg_client_msg(s, d, seg, emit, ctx);
			else
				pg_server_msg(s, d, seg, emit, ctx);
			break;
		}
		default: /* PG_S_LOST: reached mid-segment; wait for the next one */
			return;
		}
	}
}

static void pg_finish(void *state, uint64_t now_ns, zt_emit_fn emit, void *ctx)
{
	struct pg_state *s = state;

	(void)now_ns;
	/* the response to the last request, ended by the close: a lost one
	 * (a big result the client read to the end) or a FATAL error */
	if (s->resp_open && s->resp_seen && s->npend > 0 && s->req_dir >= 0)
		pg_emit_resp(s, s->d[!s->req_dir].st == PG_S_LOST ? ZT_MF_LOST_SYNC : 0, emit, ctx);
	s->resp_open = s->req_open = false;
}

static void pg_init(void *state)
{
	struct pg_state *s = state;

	memset(s->d, 0, sizeof(s->d));
	s->req_dir = -1;
	s->dead = s->startup = s->req_open = s->resp_open = false;
	s->npend = s->prep_evicted = s->prep_next = 0;
	s->copy_in = 0;
	s->db[0] = s->version[0] = s->unnamed_sql[0] = '\0';
	for (size_t k = 0; k < PG_PREP_MAX; k++)
		s->prep[k].name[0] = '\0';
}

const struct zt_proto_ops zt_postgresql_ops = {
    .id = ZT_L7_POSTGRESQL,
    .name = "PostgreSQL",
    .infer = pg_infer,
    .state_size = sizeof(struct pg_state),
    .init = pg_init,
    .feed = pg_feed,
    .finish = pg_finish,
    .first_kind = pg_first_kind,
    .redact_payload = zt_pg_redact,
};
