/* SPDX-License-Identifier: MIT */
/*
 * mysql.c - MySQL / MariaDB client/server protocol (classic protocol,
 * uncompressed, no TLS).
 *
 * Framing: every packet is a 3-byte little-endian payload length, a
 * sequence id, and the payload; a payload of 0xffffff continues in the next
 * packet (a "logical packet" here is the concatenation). Each direction is
 * framed by these lengths alone; payload bytes are counted, not read, so
 * they may fall in a gap. Only a header in a gap loses the framing:
 *   - in the request direction, sync comes back at a syscall that starts
 *     like a command (seq 0, a known command byte, SQL text...);
 *   - in the response direction the response goes on "blind" (its bytes
 *     are counted, the span is marked truncated) until the client's next
 *     command proves it complete: the classic protocol answers one command
 *     at a time.
 *
 * Roles: the server speaks first (Initial Handshake v10); the direction
 * that sends it answers, the other one requests. Started mid-connection,
 * the first command packet decides.
 *
 * Phases: greeting -> HandshakeResponse41 -> auth exchange (AuthSwitch,
 * more data) -> OK (no span) or ERR (a LOGIN span carrying the error) ->
 * commands. An SSLRequest ends parsing: the rest is TLS.
 *
 * Responses are parsed by the command they answer (a FIFO of pending
 * command bytes): OK, ERR, EOF, result sets (column count, column
 * definitions, rows until EOF / OK, with or without CLIENT_DEPRECATE_EOF),
 * COM_STMT_PREPARE's answer (statement id -> SQL, kept per connection in a
 * small LRU map so that COM_STMT_EXECUTE spans show their SQL), LOCAL
 * INFILE requests. Credentials are never copied: the auth data is skipped
 * here and overwritten in raw payloads by zt_mysql_redact (mysql_sql.c).
 */
#include "proto/mysql.h"
#include "proto/proto.h"
#include "bpf/events.h"

#include <stdio.h>
#include <string.h>

#define MY_BUF 1024 /* payload prefix kept per logical packet */
#define MY_FIFO 16  /* commands awaiting their response */
#define MY_STMTS 8  /* prepared statements remembered per connection */
#define MY_PREP 2   /* COM_STMT_PREPAREs awaiting their statement id */
#define MY_DB_LEN 64

enum my_phase {
	PH_START = 0, /* nothing seen: the first packet decides */
	PH_HSR,	      /* greeting seen: the client's HandshakeResponse next */
	PH_AUTH,      /* auth exchange until the server's OK or ERR */
	PH_CMD,	      /* command phase */
	PH_TLS,	      /* SSLRequest: the rest is encrypted, not parsed */
};

enum my_sync {
	SY_OK = 0, /* framing known */
	SY_WAIT,   /* a header fell in a gap: wait for a resync point */
};

/* Where a response is, by the command it answers. */
enum my_rst {
	R_FIRST = 0, /* first packet of a response (or of a further result set) */
	R_COLDEFS,   /* ncols column definitions */
	R_ROWS,	     /* rows until EOF / OK / ERR */
	R_DEFS,	     /* COM_STMT_PREPARE: parameter and column definitions */
	R_DEF_EOF,   /* ... and the EOF that ends them (without DEPRECATE_EOF) */
	R_FIELDS,    /* COM_FIELD_LIST: column definitions until EOF */
	R_INFILE,    /* LOCAL INFILE sent: the OK / ERR after the file */
	R_AUTH,	     /* COM_CHANGE_USER: auth exchange until OK / ERR */
};

struct my_dir {
	uint8_t sync; /* enum my_sync */
	uint8_t hlen; /* header bytes gathered */
	uint8_t hdr[4];
	uint8_t pseq;	 /* sequence id of the logical packet's first packet */
	bool more;	 /* the logical packet continues (0xffffff payload) */
	bool in_msg;	 /* msg has begun */
	bool blind;	 /* response framing lost: counting until the next command */
	uint32_t plen;	 /* payload length of the current packet */
	uint32_t prem;	 /* its payload bytes still to come */
	uint32_t blen;	 /* payload prefix bytes in buf */
	uint64_t ltotal; /* logical packet payload length so far */
	struct zt_msg msg;
	uint8_t buf[MY_BUF];
};

struct my_stmt {
	uint32_t id;
	uint32_t used; /* LRU clock; 0: free */
	bool cut;      /* sql is not the whole statement */
	char sql[ZT_RESOURCE_LEN];
};

struct my_state {
	struct my_dir d[2];
	int8_t req_dir;	 /* direction carrying commands; -1: not known yet */
	uint8_t phase;	 /* enum my_phase */
	uint8_t rst;	 /* enum my_rst */
	bool caps_known; /* both capability sets seen (handshake observed) */
	bool eof_known;	 /* deprecate_eof is known: from the capabilities, or
			  * learned from a result's packets */
	bool deprecate_eof;
	bool query_attrs;
	bool infile;   /* request side: LOCAL INFILE data until an empty packet */
	bool skip_eof; /* a def list ended with caps unknown: an EOF may trail */
	bool mid_eof;  /* R_ROWS: the EOF after the column definitions was seen */
	bool rows_seen;
	uint32_t srv_caps;
	uint32_t ncols, nparams; /* definitions still to come */
	uint64_t rows;
	uint8_t fifo[MY_FIFO];
	uint8_t fifo_head, fifo_n;
	uint8_t prep_head, prep_n;
	bool prep_cut[MY_PREP];
	char prep[MY_PREP][ZT_RESOURCE_LEN];
	uint32_t stmt_clock;
	struct my_stmt stmts[MY_STMTS];
	char db[MY_DB_LEN];
};

_Static_assert(sizeof(struct my_state) < 16 * 1024, "per-connection state must stay small");

static void my_set(char *dst, size_t dstsz, const char *src)
{
	size_t n = strlen(src);
	if (n >= dstsz)
		n = dstsz - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void my_attr_u64(struct zt_msg *m, const char *key, uint64_t v)
{
	char b[24];
	int n = snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
	zt_attrs_add(&m->attrs, key, b, (size_t)n);
}

/* ---- inference --------------------------------------------------------- */

static int my_infer(const uint8_t *buf, size_t len, const struct zt_infer_hints *h)
{
	int conf;

	(void)h;
	zt_mysql_classify(buf, len, &conf);
	return conf;
}

static int my_first_kind(const uint8_t *buf, size_t len)
{
	int conf;

	switch (zt_mysql_classify(buf, len, &conf)) {
	case MY_F_GREETING:
	case MY_F_ERR:
		return ZT_MSG_RESPONSE;
	case MY_F_HSR:
	case MY_F_COMMAND:
	case MY_F_RAW_SQL:
		return ZT_MSG_REQUEST;
	default:
		return 0;
	}
}

/* ---- per-connection tables --------------------------------------------- */

static void my_fifo_push(struct my_state *s, uint8_t cmd)
{
	if (s->fifo_n == MY_FIFO)
		return; /* deeper pipelines: the extra responses parse as generic */
	s->fifo[(s->fifo_head + s->fifo_n) % MY_FIFO] = cmd;
	s->fifo_n++;
}

static void my_fifo_pop(struct my_state *s)
{
	if (s->fifo_n == 0)
		return;
	s->fifo_head = (uint8_t)((s->fifo_head + 1) % MY_FIFO);
	s->fifo_n--;
}

static struct my_stmt *my_stmt_find(struct my_state *s, uint32_t id)
{
	for (int i = 0; i < MY_STMTS; i++)
		if (s->stmts[i].used && s->stmts[i].id == id) {
			s->stmts[i].used = ++s->stmt_clock;
			return &s->stmts[i];
		}
	return NULL;
}

static void my_stmt_put(struct my_state *s, uint32_t id, const char *sql, bool cut)
{
	struct my_stmt *t = my_stmt_find(s, id);

	if (!t) {
		t = &s->stmts[0];
		for (int i = 0; i < MY_STMTS; i++) /* a free slot, else the least recently used */
			if (s->stmts[i].used < t->used)
				t = &s->stmts[i];
	}
	t->id = id;
	t->used = ++s->stmt_clock;
	t->cut = cut;
	my_set(t->sql, sizeof(t->sql), sql);
}

/* The statement a COM_STMT_* command names: resource and attribute. */
static void my_stmt_fill(struct my_state *s, struct zt_msg *m, const uint8_t *p, size_t n, bool forget)
{
	struct my_stmt *t;
	uint32_t id;

	if (n < 5)
		return;
	id = my_le32(p + 1);
	my_attr_u64(m, "mysql.stmt_id", id);
	if (!(t = my_stmt_find(s, id)))
		return;
	my_set(m->request_resource, sizeof(m->request_resource), t->sql);
	if (t->cut)
		m->flags |= ZT_MF_TRUNCATED;
	if (forget)
		t->used = 0;
}

/* ---- messages ----------------------------------------------------------- */

static void my_begin(struct my_dir *d, const struct zt_seg *seg, uint64_t off)
{
	if (d->in_msg)
		return;
	zt_msg_reset(&d->msg);
	zt_msg_begin(&d->msg, seg, off);
	d->in_msg = true;
}

static void my_resp_reset(struct my_state *s)
{
	s->rst = R_FIRST;
	s->rows = 0;
	s->ncols = s->nparams = 0;
	s->mid_eof = s->rows_seen = false;
}

/* The response in d is complete. */
static void my_resp_done(struct my_state *s, struct my_dir *d, uint8_t status, bool rows, zt_emit_fn emit,
			 void *ctx)
{
	struct zt_msg *m = &d->msg;

	m->kind = ZT_MSG_RESPONSE;
	m->pair = ZT_PAIR_FIFO;
	if (!m->status)
		m->status = status;
	if (rows)
		my_attr_u64(m, "mysql.rows", s->rows);
	emit(ctx, m);
	d->in_msg = false;
	d->blind = false;
	my_fifo_pop(s);
	my_resp_reset(s);
}

/* Fills an ERR packet's code, exception and class into m. */
static void my_fill_err(struct zt_msg *m, const uint8_t *p, size_t n)
{
	char exc[ZT_EXC_LEN];
	size_t o = 0;

	if (n < 3)
		return;
	uint16_t code = (uint16_t)my_le16(p + 1);
	m->response_code = code;
	m->flags |= ZT_MF_HAS_CODE;
	if (n >= 9 && p[3] == '#') {
		/* "#42S02 Table 'test.nope' doesn't exist" */
		size_t k = n - 9 < sizeof(exc) - 8 ? n - 9 : sizeof(exc) - 8;
		memcpy(exc, p + 3, 6);
		exc[6] = ' ';
		memcpy(exc + 7, p + 9, k);
		o = 7 + k;
		m->status = zt_mysql_err_class(code, (const char *)p + 4);
	} else {
		o = n - 3 < sizeof(exc) - 1 ? n - 3 : sizeof(exc) - 1;
		memcpy(exc, p + 3, o);
		m->status = zt_mysql_err_class(code, NULL);
	}
	zt_copy_str(m->response_exception, sizeof(m->response_exception), exc, o);
}

/* Status flags of an EOF (short) or OK-with-0xfe / OK packet. */
static uint32_t my_end_status(const uint8_t *p, size_t n, uint32_t total)
{
	size_t i = 1;
	uint64_t v;

	if (total < 9)
		return n >= 5 ? my_le16(p + 3) : 0;
	if (!my_lenenc(p, n, &i, &v) || !my_lenenc(p, n, &i, &v) || n - i < 2)
		return 0;
	return my_le16(p + i);
}

static void my_fill_ok(struct zt_msg *m, const uint8_t *p, size_t n, uint8_t cmd, uint32_t *status)
{
	size_t i = 1;
	uint64_t affected = 0, id;

	*status = 0;
	if (my_lenenc(p, n, &i, &affected) && my_lenenc(p, n, &i, &id) && n - i >= 2)
		*status = my_le16(p + i);
	if (cmd == MY_CMD_QUERY || cmd == MY_CMD_STMT_EXECUTE || cmd == MY_CMD_BULK_EXECUTE)
		my_attr_u64(m, "mysql.affected_rows", affected);
}

/* ---- the request side --------------------------------------------------- */

static void my_emit_req(struct my_state *s, struct my_dir *d, zt_emit_fn emit, void *ctx);

/* A command: fields, then the response side is told what to expect. */
static void my_command(struct my_state *s, struct my_dir *d, const uint8_t *p, size_t n, uint64_t total,
		       zt_emit_fn emit, void *ctx)
{
	struct zt_msg *m = &d->msg;
	uint8_t cmd = p[0];
	bool cut = n < total;
	size_t i;

	m->kind = ZT_MSG_REQUEST;
	m->pair = ZT_PAIR_FIFO;
	my_set(m->request_type, sizeof(m->request_type), zt_mysql_cmd_names[cmd]);
	switch (cmd) {
	case MY_CMD_QUERY:
	case MY_CMD_STMT_PREPARE: {
		size_t o = 1;
		bool ncut;
		if (cmd == MY_CMD_QUERY && n >= 3 && p[1] == 0 && p[2] == 1 &&
		    (s->query_attrs || !s->caps_known))
			o = 3;
		if (cmd == MY_CMD_QUERY) {
			char kw[ZT_TYPE_LEN];
			if (zt_mysql_keyword((const char *)p + o, n - o, kw, sizeof(kw)))
				my_set(m->request_type, sizeof(m->request_type), kw);
		}
		zt_mysql_normalize((const char *)p + o, n - o, m->request_resource,
				   sizeof(m->request_resource), &ncut);
		if (cut || ncut)
			m->flags |= ZT_MF_TRUNCATED;
		if (cmd == MY_CMD_QUERY && strcmp(m->request_type, "USE") == 0) {
			/* USE db: the database of what follows */
			const char *r = m->request_resource + 3;
			while (*r == ' ')
				r++;
			size_t k = strcspn(r, " ;");
			if (k && *r == '`' && k >= 2 && r[k - 1] == '`') {
				r++;
				k -= 2;
			}
			zt_copy_str(s->db, sizeof(s->db), r, k);
		}
		if (cmd == MY_CMD_STMT_PREPARE) {
			uint8_t slot = (uint8_t)((s->prep_head + s->prep_n) % MY_PREP);
			if (s->prep_n == MY_PREP) { /* unanswered prepares: the oldest goes */
				s->prep_head = (uint8_t)((s->prep_head + 1) % MY_PREP);
				s->prep_n--;
			}
			my_set(s->prep[slot], sizeof(s->prep[slot]), m->request_resource);
			s->prep_cut[slot] = (m->flags & ZT_MF_TRUNCATED) != 0;
			s->prep_n++;
		}
		break;
	}
	case MY_CMD_STMT_EXECUTE:
	case MY_CMD_BULK_EXECUTE:
	case MY_CMD_STMT_RESET:
	case MY_CMD_STMT_FETCH:
	case MY_CMD_STMT_LONG_DATA:
		my_stmt_fill(s, m, p, n, false);
		break;
	case MY_CMD_STMT_CLOSE:
		my_stmt_fill(s, m, p, n, true);
		break;
	case MY_CMD_INIT_DB:
		zt_copy_str(s->db, sizeof(s->db), (const char *)p + 1, n - 1);
		my_set(m->request_resource, sizeof(m->request_resource), s->db);
		break;
	case MY_CMD_FIELD_LIST:
		for (i = 1; i < n && p[i]; i++)
			;
		zt_copy_str(m->request_resource, sizeof(m->request_resource), (const char *)p + 1, i - 1);
		break;
	case MY_CMD_CHANGE_USER:
		/* user NUL, auth (1-byte length), db NUL: the auth is skipped */
		for (i = 1; i < n && p[i]; i++)
			;
		zt_copy_str(m->request_resource, sizeof(m->request_resource), (const char *)p + 1, i - 1);
		if (i + 1 < n) {
			size_t db = i + 2 + p[i + 1], e;
			for (e = db; e < n && p[e]; e++)
				;
			if (db < n && e < n)
				zt_copy_str(s->db, sizeof(s->db), (const char *)p + db, e - db);
		}
		break;
	}
	my_set(m->request_domain, sizeof(m->request_domain), s->db);
	if (cmd == MY_CMD_QUIT || cmd == MY_CMD_STMT_CLOSE || cmd == MY_CMD_STMT_LONG_DATA)
		m->pair = ZT_PAIR_ONEWAY; /* the server sends nothing back */
	else
		my_fifo_push(s, cmd);
	my_emit_req(s, d, emit, ctx);
}

/* Before a request is emitted, the response side learns that the previous
 * response (if any) is over: a blind one is emitted first, so that it pairs
 * with its own request; a side that lost or never had the framing starts
 * afresh at its next syscall. */
static void my_emit_req(struct my_state *s, struct my_dir *d, zt_emit_fn emit, void *ctx)
{
	struct my_dir *r = &s->d[!s->req_dir];

	if (r->blind && r->in_msg) {
		r->msg.flags |= ZT_MF_TRUNCATED;
		my_resp_done(s, r, ZT_RS_OK, false, emit, ctx);
	}
	if (r->sync == SY_WAIT || (!r->in_msg && (r->hlen || r->prem || r->more))) {
		r->sync = SY_OK;
		r->hlen = 0;
		r->prem = 0;
		r->more = false;
		r->in_msg = false;
		my_resp_reset(s);
	}
	emit(ctx, &d->msg);
	d->in_msg = false;
}

/* HandshakeResponse41: the user and database; the auth data is skipped. */
static void my_login(struct my_state *s, struct my_dir *d, const uint8_t *p, size_t n, uint64_t total)
{
	struct zt_msg *m = &d->msg;
	uint32_t caps = my_le32(p);
	size_t i, u;
	uint64_t alen = 0;

	if (total == 32 && (caps & MY_CAP_SSL)) {
		s->phase = PH_TLS; /* SSLRequest: TLS from here on */
		d->in_msg = false;
		return;
	}
	if (s->srv_caps) {
		s->caps_known = s->eof_known = true;
		s->deprecate_eof = (caps & s->srv_caps & MY_CAP_DEPRECATE_EOF) != 0;
		s->query_attrs = (caps & s->srv_caps & MY_CAP_QUERY_ATTRIBUTES) != 0;
	}
	m->kind = ZT_MSG_REQUEST;
	m->pair = ZT_PAIR_FIFO;
	my_set(m->request_type, sizeof(m->request_type), "LOGIN");
	for (u = i = 32; i < n && p[i]; i++)
		;
	zt_copy_str(m->request_resource, sizeof(m->request_resource), (const char *)p + u, i - u);
	i++;
	if (i < n && (caps & MY_CAP_PLUGIN_AUTH_LENENC)) {
		if (!my_lenenc(p, n, &i, &alen))
			i = n;
	} else if (i < n && (caps & MY_CAP_SECURE_CONN)) {
		alen = p[i++];
	} else {
		while (i < n && p[i])
			i++;
		i++;
	}
	if (alen > n)
		alen = n;
	i += (size_t)alen;
	if ((caps & MY_CAP_CONNECT_WITH_DB) && i < n) {
		size_t e;
		for (e = i; e < n && p[e]; e++)
			;
		if (e < n)
			zt_copy_str(s->db, sizeof(s->db), (const char *)p + i, e - i);
	}
	my_set(m->request_domain, sizeof(m->request_domain), s->db);
	if (n < total)
		m->flags |= ZT_MF_TRUNCATED;
	/* held (in_msg stays set) until the server's verdict: a LOGIN span is
	 * made only when it is an ERR; the auth packets that follow add their
	 * bytes to it */
	s->phase = PH_AUTH;
}

static void my_request(struct my_state *s, struct my_dir *d, const uint8_t *p, size_t n, uint64_t total,
		       zt_emit_fn emit, void *ctx)
{
	uint8_t seq = d->pseq;

	switch (s->phase) {
	case PH_START:
	case PH_HSR:
		if (seq == 1 && zt_mysql_is_hsr(p, n, (uint32_t)(total > 0xffffffff ? 0xffffffff : total))) {
			my_login(s, d, p, n, total);
			return;
		}
		if (seq == 0 && zt_mysql_is_command(p, n, (uint32_t)total)) {
			s->phase = PH_CMD;
			my_command(s, d, p, n, total, emit, ctx);
			return;
		}
		break;
	case PH_AUTH:
		return; /* auth data: kept out of every field */
	case PH_CMD:
		if (s->infile) {
			if (total == 0) /* the empty packet ends the file */
				s->infile = false;
			break;
		}
		if (seq == 0 && n > 0 && zt_mysql_cmd_names[p[0]]) {
			my_command(s, d, p, n, total, emit, ctx);
			return;
		}
		break;
	}
	d->in_msg = false;
}

/* ---- the response side -------------------------------------------------- */

static void my_unknown_resp(struct my_state *s, struct my_dir *d, zt_emit_fn emit, void *ctx)
{
	d->msg.flags |= ZT_MF_LOST_SYNC;
	my_resp_done(s, d, ZT_RS_UNKNOWN, false, emit, ctx);
	d->sync = SY_WAIT; /* back at the next command */
}

/* Whether EOF packets are sent, learned from the packets when the
 * handshake was not seen. */
static void my_learn_eof(struct my_state *s, bool deprecated)
{
	if (!s->eof_known) {
		s->eof_known = true;
		s->deprecate_eof = deprecated;
	}
}

/* The end of a result set (EOF / OK with 0xfe): another may follow. */
static void my_rows_end(struct my_state *s, struct my_dir *d, const uint8_t *p, size_t n, uint64_t total,
			zt_emit_fn emit, void *ctx)
{
	if (my_end_status(p, n, (uint32_t)total) & MY_ST_MORE_RESULTS) {
		s->rst = R_FIRST;
		return;
	}
	my_resp_done(s, d, ZT_RS_OK, true, emit, ctx);
}

static void my_response(struct my_state *s, struct my_dir *d, const uint8_t *p, size_t n, uint64_t total,
			zt_emit_fn emit, void *ctx)
{
	struct zt_msg *m = &d->msg;
	uint8_t b0 = n ? p[0] : 0, cmd;
	bool is_eof = b0 == 0xfe && total < 9;
	uint32_t st;
	uint64_t v;
	size_t i;

	if (s->phase == PH_AUTH) {
		struct my_dir *q = &s->d[s->req_dir];
		if (b0 == 0x00 && total >= 7) {
			/* logged in: the handshake makes no span */
			s->phase = PH_CMD;
			q->in_msg = false;
			d->in_msg = false;
		} else if (b0 == 0xff) {
			s->phase = PH_CMD;
			my_fill_err(m, p, n);
			m->kind = ZT_MSG_RESPONSE;
			m->pair = ZT_PAIR_FIFO;
			if (q->in_msg) {
				emit(ctx, &q->msg);
				q->in_msg = false;
				emit(ctx, m);
			}
			d->in_msg = false;
		}
		/* AuthSwitchRequest (0xfe), more data (0x01): the login goes on */
		return;
	}
	if (s->phase != PH_CMD || s->fifo_n == 0) {
		/* nothing asked (tracing began mid-connection): not a span */
		d->in_msg = false;
		return;
	}
	if (s->skip_eof && s->rst == R_FIRST && is_eof && s->fifo[s->fifo_head] != MY_CMD_FIELD_LIST) {
		s->skip_eof = false; /* the EOF trailing a prepare's definitions */
		d->in_msg = false;
		return;
	}
	s->skip_eof = false;
	cmd = s->fifo[s->fifo_head];
	switch (s->rst) {
	case R_FIRST:
		if (b0 == 0xff) {
			if (cmd == MY_CMD_STMT_PREPARE && s->prep_n) {
				s->prep_head = (uint8_t)((s->prep_head + 1) % MY_PREP);
				s->prep_n--;
			}
			my_fill_err(m, p, n);
			my_resp_done(s, d, ZT_RS_CLIENT_ERROR, s->rows > 0, emit, ctx);
			return;
		}
		if (cmd == MY_CMD_CHANGE_USER) {
			if (b0 == 0x00) {
				my_resp_done(s, d, ZT_RS_OK, false, emit, ctx);
			} else {
				s->rst = R_AUTH;
			}
			return;
		}
		if (cmd == MY_CMD_STATISTICS) { /* a text answer */
			my_resp_done(s, d, ZT_RS_OK, false, emit, ctx);
			return;
		}
		if (cmd == MY_CMD_STMT_PREPARE && b0 == 0x00 && total >= 12 && n >= 12) {
			uint32_t id = my_le32(p + 1);
			if (s->prep_n) {
				my_stmt_put(s, id, s->prep[s->prep_head], s->prep_cut[s->prep_head]);
				s->prep_head = (uint8_t)((s->prep_head + 1) % MY_PREP);
				s->prep_n--;
			}
			my_attr_u64(m, "mysql.stmt_id", id);
			s->ncols = my_le16(p + 5);
			s->nparams = my_le16(p + 7);
			if (s->ncols + s->nparams == 0) {
				my_resp_done(s, d, ZT_RS_OK, false, emit, ctx);
			} else {
				s->rst = R_DEFS;
			}
			return;
		}
		if (cmd == MY_CMD_FIELD_LIST) {
			if (is_eof)
				my_resp_done(s, d, ZT_RS_OK, false, emit, ctx);
			else
				s->rst = R_FIELDS;
			return;
		}
		if (cmd == MY_CMD_STMT_FETCH) {
			s->rst = R_ROWS;
			s->mid_eof = true;
			break; /* this packet is a row or the end */
		}
		if (b0 == 0x00 && total >= 7) {
			my_fill_ok(m, p, n, cmd, &st);
			if (st & MY_ST_MORE_RESULTS)
				return; /* the next result set follows */
			my_resp_done(s, d, ZT_RS_OK, s->rows > 0, emit, ctx);
			return;
		}
		if (is_eof) { /* COM_DEBUG, old COM_SHUTDOWN */
			my_resp_done(s, d, ZT_RS_OK, false, emit, ctx);
			return;
		}
		if (b0 == 0xfb && cmd == MY_CMD_QUERY) {
			zt_attrs_add(&m->attrs, "mysql.local_infile", (const char *)p + 1, n - 1);
			s->infile = true;
			s->rst = R_INFILE;
			return;
		}
		i = 0;
		if (b0 != 0 && b0 < 0xfe && my_lenenc(p, n, &i, &v) && v >= 1 && v <= 4096 && total <= 9) {
			s->ncols = (uint32_t)v;
			s->rst = R_COLDEFS;
			return;
		}
		my_unknown_resp(s, d, emit, ctx);
		return;
	case R_COLDEFS:
		if (b0 == 0xff) {
			my_fill_err(m, p, n);
			my_resp_done(s, d, ZT_RS_CLIENT_ERROR, false, emit, ctx);
			return;
		}
		if (--s->ncols == 0) {
			s->rst = R_ROWS;
			s->mid_eof = s->rows_seen = false;
		}
		return;
	case R_DEFS:
		if (!is_eof) {
			if (s->nparams)
				s->nparams--;
			else if (s->ncols)
				s->ncols--;
			if (s->nparams + s->ncols)
				return;
			if (s->eof_known && !s->deprecate_eof) {
				s->rst = R_DEF_EOF;
				return;
			}
		} else {
			my_learn_eof(s, false);
			if (s->nparams + s->ncols)
				return; /* the EOF between parameters and columns */
		}
		my_resp_done(s, d, ZT_RS_OK, false, emit, ctx);
		/* not known yet: an EOF may still trail the definitions */
		s->skip_eof = !s->eof_known && !is_eof;
		return;
	case R_DEF_EOF:
	case R_INFILE:
		if (b0 == 0xff) {
			my_fill_err(m, p, n);
			my_resp_done(s, d, ZT_RS_CLIENT_ERROR, false, emit, ctx);
		} else {
			if (s->rst == R_INFILE && b0 == 0x00)
				my_fill_ok(m, p, n, cmd, &st);
			my_resp_done(s, d, ZT_RS_OK, false, emit, ctx);
		}
		return;
	case R_FIELDS:
		if (b0 == 0xff) {
			my_fill_err(m, p, n);
			my_resp_done(s, d, ZT_RS_CLIENT_ERROR, false, emit, ctx);
		} else if (is_eof) {
			my_resp_done(s, d, ZT_RS_OK, false, emit, ctx);
		}
		return;
	case R_AUTH:
		if (b0 == 0x00) {
			my_resp_done(s, d, ZT_RS_OK, false, emit, ctx);
		} else if (b0 == 0xff) {
			my_fill_err(m, p, n);
			my_resp_done(s, d, ZT_RS_CLIENT_ERROR, false, emit, ctx);
		}
		return;
	default:
		break;
	}
	/* R_ROWS */
	if (b0 == 0xfe && total < MY_MAXPKT) {
		/* Without DEPRECATE_EOF an EOF (5 bytes) follows the column
		 * definitions; with it, only the closing OK (>= 7 bytes). Caps
		 * unknown: the length tells them apart. */
		bool mid = !s->mid_eof && !s->rows_seen && (s->eof_known ? !s->deprecate_eof : total < 7);
		if (!s->mid_eof)
			my_learn_eof(s, !mid);
		if (mid) {
			s->mid_eof = true;
			if (my_end_status(p, n, (uint32_t)total) & MY_ST_CURSOR_EXISTS)
				my_resp_done(s, d, ZT_RS_OK, false, emit,
					     ctx); /* rows come by COM_STMT_FETCH */
			return;
		}
		my_rows_end(s, d, p, n, total, emit, ctx);
		return;
	}
	if (b0 == 0xff && zt_mysql_is_err(p, n, (uint32_t)total)) {
		my_fill_err(m, p, n);
		my_resp_done(s, d, ZT_RS_CLIENT_ERROR, true, emit, ctx);
		return;
	}
	s->rows++;
	s->rows_seen = true;
}

/* ---- framing -------------------------------------------------------------- */

static void my_packet(struct my_state *s, int dir, zt_emit_fn emit, void *ctx)
{
	struct my_dir *d = &s->d[dir];
	const uint8_t *p = d->buf;
	size_t n = d->blen;
	uint64_t total = d->ltotal;
	int conf;

	if (s->req_dir < 0) {
		/* the first packet says who is who; rebuild its header */
		uint8_t tmp[5 + 511];
		size_t k = n < sizeof(tmp) - 4 ? n : sizeof(tmp) - 4;
		uint32_t t = total > MY_MAXPKT ? MY_MAXPKT : (uint32_t)total;
		tmp[0] = (uint8_t)t;
		tmp[1] = (uint8_t)(t >> 8);
		tmp[2] = (uint8_t)(t >> 16);
		tmp[3] = d->pseq;
		memcpy(tmp + 4, p, k);
		switch (zt_mysql_classify(tmp, k + 4, &conf)) {
		case MY_F_GREETING:
			zt_mysql_is_greeting(p, n, (uint32_t)total, &s->srv_caps);
			s->req_dir = (int8_t)!dir;
			s->phase = PH_HSR;
			d->in_msg = false;
			return;
		case MY_F_ERR:
			s->req_dir = (int8_t)!dir;
			s->phase = d->pseq == 0 ? PH_HSR : PH_CMD;
			d->in_msg = false;
			return;
		case MY_F_HSR:
		case MY_F_COMMAND:
			s->req_dir = (int8_t)dir;
			break;
		default:
			d->in_msg = false;
			return;
		}
	}
	if (s->phase == PH_TLS) {
		d->in_msg = false;
		return;
	}
	if (dir == s->req_dir)
		my_request(s, d, p, n, total, emit, ctx);
	else
		my_response(s, d, p, n, total, emit, ctx);
}

/* A header fell in a gap: the framing of this direction is gone. */
static void my_lost(struct my_state *s, int dir, zt_emit_fn emit, void *ctx)
{
	struct my_dir *d = &s->d[dir];

	d->sync = SY_WAIT;
	if (dir == s->req_dir && d->more && d->in_msg && s->phase == PH_CMD && d->blen) {
		/* a multi-packet command whose next header we lost */
		d->msg.flags |= ZT_MF_TRUNCATED | ZT_MF_LOST_SYNC;
		d->more = false;
		d->ltotal += 1; /* more than we have */
		my_packet(s, dir, emit, ctx);
	} else if (dir != s->req_dir && s->req_dir >= 0 && d->in_msg && s->phase == PH_CMD && s->fifo_n) {
		d->blind = true;
		d->msg.flags |= ZT_MF_TRUNCATED;
	} else if (!(dir == s->req_dir && s->phase == PH_AUTH)) {
		d->in_msg = false;
	}
	d->hlen = 0;
	d->prem = 0;
	d->more = false;
}

/* Whether a syscall of the request side starts with a command we would
 * resynchronise on. */
static bool my_resync(const uint8_t *p, size_t cap, uint64_t len)
{
	uint32_t plen;

	if (cap < 5)
		return false;
	plen = my_le24(p);
	if (p[3] != 0 || plen == 0 || (uint64_t)plen + 4 < len)
		return false;
	return zt_mysql_is_command(p + 4, cap - 4 < plen ? cap - 4 : plen, plen);
}

/* The session hands over zeroed state (proto.h): only what is not zero
 * is set. */
static void my_init(void *state)
{
	struct my_state *s = state;

	s->req_dir = -1;
}

static void my_feed(void *state, const struct zt_seg *seg, zt_emit_fn emit, void *ctx)
{
	struct my_state *s = state;
	struct my_dir *d;
	const uint8_t *data = seg->data;
	uint64_t len = seg->len, off = 0;
	uint32_t cap;
	int conf;

	if (seg->dir > ZT_DIR_INGRESS || s->phase == PH_TLS)
		return;
	d = &s->d[seg->dir];
	cap = data ? seg->caplen : 0;
	if (cap > len)
		cap = (uint32_t)len; /* a broken record: trust the smaller */
	if (len > 0) {
		if (s->req_dir < 0 && d->hlen == 0 && !d->more && d->prem == 0 && cap == len &&
		    len < MY_MAXPKT && zt_mysql_classify(data, cap, &conf) == MY_F_RAW_SQL) {
			/* a command payload whose header was read by an earlier
			 * call, before tracing began: the payload is this call */
			s->req_dir = (int8_t)seg->dir;
			my_begin(d, seg, 0);
			d->msg.bytes = 4;
			d->hlen = 4;
			d->plen = d->prem = (uint32_t)len;
			d->pseq = 0;
			d->blen = 0;
			d->ltotal = len;
		}
		if (d->in_msg)
			zt_msg_extend(&d->msg, seg);
		if (d->sync == SY_WAIT) {
			if (d->blind)
				d->msg.bytes += len;
			if (seg->dir != s->req_dir || !my_resync(data, cap, len))
				return;
			d->sync = SY_OK;
			d->hlen = 0;
			d->prem = 0;
			d->more = false;
		}
		while (off < len && d->sync == SY_OK && s->phase != PH_TLS) {
			if (d->hlen < 4) {
				if (off >= cap) { /* a header in a gap */
					my_lost(s, seg->dir, emit, ctx);
					if (d->blind)
						d->msg.bytes += len - off;
					break;
				}
				if (d->hlen == 0 && !d->more)
					my_begin(d, seg, off);
				while (d->hlen < 4 && off < cap) {
					d->hdr[d->hlen++] = data[off++];
					d->msg.bytes++;
				}
				if (d->hlen < 4)
					continue;
				d->plen = d->prem = my_le24(d->hdr);
				if (!d->more) {
					d->pseq = d->hdr[3];
					d->blen = 0;
					d->ltotal = 0;
				}
				d->ltotal += d->plen;
			}
			if (d->prem) {
				uint64_t k = len - off < d->prem ? len - off : d->prem;
				if (off < cap && d->blen < MY_BUF) {
					uint64_t c = cap - off < k ? cap - off : k;
					if (c > MY_BUF - d->blen)
						c = MY_BUF - d->blen;
					memcpy(d->buf + d->blen, data + off, (size_t)c);
					d->blen += (uint32_t)c;
				}
				d->prem -= (uint32_t)k;
				d->msg.bytes += k;
				off += k;
			}
			if (d->prem == 0) {
				d->hlen = 0;
				if (d->plen == MY_MAXPKT) {
					d->more = true;
					continue;
				}
				d->more = false;
				my_packet(s, seg->dir, emit, ctx);
			}
		}
	}
	if (seg->eof) {
		if (d->blind && d->in_msg) {
			my_resp_done(s, d, ZT_RS_OK, false, emit, ctx);
		} else if (!(seg->dir == s->req_dir && s->phase == PH_AUTH)) {
			d->in_msg = false; /* half a message says little */
		}
		d->hlen = 0;
		d->prem = 0;
		d->more = false;
	}
}

static void my_finish(void *state, uint64_t now_ns, zt_emit_fn emit, void *ctx)
{
	struct my_state *s = state;

	(void)now_ns;
	for (int i = 0; i < 2; i++) {
		struct my_dir *d = &s->d[i];
		/* a response cut by gaps and ended by the close */
		if (d->blind && d->in_msg && s->fifo_n)
			my_resp_done(s, d, ZT_RS_OK, false, emit, ctx);
		d->in_msg = false;
	}
}

static void my_endpoint(const struct zt_msg *req, char *out, size_t outsz)
{
	zt_mysql_endpoint(req->request_type, req->request_resource, out, outsz);
}

static size_t my_redact_payload(uint8_t *buf, size_t len)
{
	return zt_mysql_redact(buf, len);
}

const struct zt_proto_ops zt_mysql_ops = {
    .id = ZT_L7_MYSQL,
    .name = "MySQL",
    .infer = my_infer,
    .state_size = sizeof(struct my_state),
    .init = my_init,
    .feed = my_feed,
    .finish = my_finish,
    .first_kind = my_first_kind,
    .endpoint = my_endpoint,
    .redact_payload = my_redact_payload,
};
