/* SPDX-License-Identifier: MIT */
/*
 * memcached.c - Memcached text (classic and meta commands) and binary
 * protocols: inference, a resumable streaming parser, pairing, redaction.
 *
 * A connection speaks one of the two (memcached decides by the first byte);
 * the parser decides the same way at its first message start.
 *
 * Text: lines, some followed by a data block of a length the line gives
 * (set/add/replace/append/prepend/cas/ms; VALUE and VA replies). Data blocks
 * are counted, not read, so they may lie in a capture gap. Replies pair
 * FIFO; a reply starting VALUE/STAT/ITEM runs to its END line. Requests that
 * get no reply become ONE-WAY spans: `noreply` storage/delete/incr/decr/
 * touch/flush_all/verbosity, `quit`, and quiet meta commands (flag q). A
 * quiet meta command may still be answered (a mg hit, an error): while the
 * oldest request the parser remembers is quiet, a reply other than MN
 * answers it and is not emitted; MN answers the mn that follows them.
 *
 * Binary: 24-byte headers (magic 0x80 request / 0x81 response), body length
 * in the header; pairing by KEY on the opaque. Quiet opcodes (GETQ, SETQ...)
 * answer only on a hit or an error: their requests are ONE-WAY spans and a
 * reply with a quiet opcode is not emitted (it answers a one-way span).
 *
 * Fields: request_type is the command as sent (text: "get", "mg"; binary:
 * the opcode's name, "GET", "SETQ"); request_resource the (first) key.
 * Text errors: ERROR and CLIENT_ERROR are client errors, SERVER_ERROR a
 * server error, the line is the exception; misses and refusals (END
 * without VALUE, NOT_FOUND, NOT_STORED, EXISTS, EN, NF) are ok answers.
 * Binary: a status other than 0 is the response code, its class the
 * status's (0x82.. 0x86 but 0x83: server), the reply's value its text.
 *
 * A line that runs into a capture gap cannot be framed, except where the
 * syscall's end is the message's end in practice: a request line of a
 * command without a data block (a long multi-get) and the rest of a
 * multi-value reply; those complete at the segment end, TRUNCATED.
 */
#include "proto/proto.h"
#include "bpf/events.h"

#include <stdlib.h>
#include <string.h>

#include "util/text.h"

#define MC_LINE 512 /* line bytes kept; longer lines are counted */
#define MC_KEY 250  /* memcached's longest key */
#define MC_MAX_DATA (1ull << 31)
#define MC_FIFO 64
#define MC_BIN_HDR 24
#define MC_MAX_BODY (1ull << 30)

enum mc_st {
	MC_S_START = 0, /* between messages */
	MC_S_LINE,	/* a text line, gathered in line[] */
	MC_S_DATA,	/* rem bytes of a data block, its CRLF included */
	MC_S_BHDR,	/* a binary header, gathered in line[] */
	MC_S_BBODY,	/* rem bytes of a binary body */
	MC_S_LOST,
};

enum mc_mode { MC_M_UNKNOWN = 0, MC_M_TEXT, MC_M_BIN };

/* ---- binary opcodes ------------------------------------------------- */

/* ext: extras length a request carries (-1: any); key: 1 required, 0
 * forbidden, -1 either. */
/* clang-format off */
static const struct mc_op {
	uint8_t op;
	const char *name;
	int8_t ext, key;
	bool quiet;
} mc_ops[] = {
    {0x00, "GET", 0, 1, false},	      {0x01, "SET", 8, 1, false},	 {0x02, "ADD", 8, 1, false},
    {0x03, "REPLACE", 8, 1, false},   {0x04, "DELETE", 0, 1, false},	 {0x05, "INCREMENT", 20, 1, false},
    {0x06, "DECREMENT", 20, 1, false}, {0x07, "QUIT", 0, 0, false},	 {0x08, "FLUSH", -1, 0, false},
    {0x09, "GETQ", 0, 1, true},	      {0x0a, "NOOP", 0, 0, false},	 {0x0b, "VERSION", 0, 0, false},
    {0x0c, "GETK", 0, 1, false},      {0x0d, "GETKQ", 0, 1, true},	 {0x0e, "APPEND", 0, 1, false},
    {0x0f, "PREPEND", 0, 1, false},   {0x10, "STAT", 0, -1, false},	 {0x11, "SETQ", 8, 1, true},
    {0x12, "ADDQ", 8, 1, true},	      {0x13, "REPLACEQ", 8, 1, true},	 {0x14, "DELETEQ", 0, 1, true},
    {0x15, "INCREMENTQ", 20, 1, true}, {0x16, "DECREMENTQ", 20, 1, true}, {0x17, "QUITQ", 0, 0, true},
    {0x18, "FLUSHQ", -1, 0, true},    {0x19, "APPENDQ", 0, 1, true},	 {0x1a, "PREPENDQ", 0, 1, true},
    {0x1b, "VERBOSITY", 4, 0, false}, {0x1c, "TOUCH", 4, 1, false},	 {0x1d, "GAT", 4, 1, false},
    {0x1e, "GATQ", 4, 1, true},	      {0x20, "SASL_LIST_MECHS", 0, 0, false},
    {0x21, "SASL_AUTH", 0, 1, false}, {0x22, "SASL_STEP", 0, 1, false}, {0x23, "GATK", 4, 1, false},
    {0x24, "GATKQ", 4, 1, true},
};
/* clang-format on */

static const struct mc_op *mc_op_find(uint8_t op)
{
	for (size_t i = 0; i < sizeof(mc_ops) / sizeof(mc_ops[0]); i++)
		if (mc_ops[i].op == op)
			return &mc_ops[i];
	return NULL;
}

static uint32_t mc_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t mc_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* A binary header that is what its opcode says (strict: inference). */
static bool mc_bin_hdr_ok(const uint8_t *h)
{
	const struct mc_op *op = mc_op_find(h[1]);
	uint16_t keylen = mc_be16(h + 2);
	uint8_t ext = h[4];
	uint32_t body = mc_be32(h + 8);

	if (!op || h[5] != 0 || body > MC_MAX_BODY || (uint64_t)keylen + ext > body || keylen > MC_KEY)
		return false;
	if (h[0] == 0x81) {
		uint16_t st = mc_be16(h + 6);
		return st <= 0x0b || (st >= 0x20 && st <= 0x24) || (st >= 0x81 && st <= 0x86);
	}
	if (h[0] != 0x80 || mc_be16(h + 6) != 0)
		return false; /* vbucket is 0 for plain memcached clients */
	if (op->ext >= 0 && ext != op->ext)
		return false;
	if ((op->key == 1 && keylen == 0) || (op->key == 0 && keylen != 0))
		return false;
	return true;
}

/* ---- text commands ---------------------------------------------------- */

enum {
	MC_T_STORE = 1 << 0, /* a data block follows: <bytes> is token 4 */
	MC_T_RETR = 1 << 1,  /* keys from token 1 on (get/gets), reply ends with END */
	MC_T_GAT = 1 << 2,   /* gat <exptime> <key>... */
	MC_T_NOKEY = 1 << 3,
	MC_T_META = 1 << 4, /* flags after the key; q = quiet */
	MC_T_MS = 1 << 5,   /* ms <key> <datalen> flags: a data block */
	MC_T_QUIT = 1 << 6, /* no reply */
};

/* clang-format off */
static const struct mc_cmd {
	const char *name;
	uint8_t flags;
} mc_cmds[] = {
    {"get", MC_T_RETR},	     {"gets", MC_T_RETR},	{"gat", MC_T_GAT},	{"gats", MC_T_GAT},
    {"set", MC_T_STORE},     {"add", MC_T_STORE},	{"replace", MC_T_STORE}, {"append", MC_T_STORE},
    {"prepend", MC_T_STORE}, {"cas", MC_T_STORE},	{"delete", 0},		{"incr", 0},
    {"decr", 0},	     {"touch", 0},		{"flush_all", MC_T_NOKEY}, {"version", MC_T_NOKEY},
    {"stats", MC_T_NOKEY},   {"verbosity", MC_T_NOKEY}, {"quit", MC_T_NOKEY | MC_T_QUIT},
    {"mg", MC_T_META},	     {"ms", MC_T_META | MC_T_MS}, {"md", MC_T_META},	{"ma", MC_T_META},
    {"mn", MC_T_NOKEY},	     {"me", 0},			{"shutdown", MC_T_NOKEY},
    {"cache_memlimit", MC_T_NOKEY}, {"lru_crawler", MC_T_NOKEY}, {"slabs", MC_T_NOKEY},
    {"watch", MC_T_NOKEY},   {"misbehave", MC_T_NOKEY},
};
/* clang-format on */

static const struct mc_cmd *mc_cmd_find(const char *p, size_t n)
{
	for (size_t i = 0; i < sizeof(mc_cmds) / sizeof(mc_cmds[0]); i++)
		if (strlen(mc_cmds[i].name) == n && memcmp(mc_cmds[i].name, p, n) == 0)
			return &mc_cmds[i];
	return NULL;
}

/* Reply lines that start a reply, by first word. */
static const char *const mc_replies[] = {
    "VALUE", "END",	 "STORED",	 "NOT_STORED",	 "EXISTS",  "NOT_FOUND", "DELETED", "TOUCHED",
    "OK",    "ERROR",	 "CLIENT_ERROR", "SERVER_ERROR", "VERSION", "STAT",	 "ITEM",    "RESET",
    "VA",    "HD",	 "EN",		 "NS",		 "EX",	    "NF",	 "MN",	    "ME",
    "BUSY",  "BADCLASS", "NOSPARE",	 "NOTFULL",	 "UNSAFE",  "SAME",	 NULL,
};

struct mc_tok {
	const char *p;
	size_t n;
};

/* Splits line[0..n) on spaces into at most max tokens; returns the count. */
static size_t mc_split(const char *line, size_t n, struct mc_tok *t, size_t max)
{
	size_t k = 0, i = 0;

	while (i < n && k < max) {
		while (i < n && line[i] == ' ')
			i++;
		size_t s = i;
		while (i < n && line[i] != ' ')
			i++;
		if (i > s)
			t[k++] = (struct mc_tok){line + s, i - s};
	}
	return k;
}

static bool mc_num(const struct mc_tok *t, uint64_t *v)
{
	uint64_t n = 0;

	if (t->n == 0 || t->n > 19)
		return false;
	for (size_t i = 0; i < t->n; i++) {
		if (t->p[i] < '0' || t->p[i] > '9')
			return false;
		n = n * 10 + (uint64_t)(t->p[i] - '0');
	}
	*v = n;
	return true;
}

static bool mc_is_word(const struct mc_tok *t, const char *w)
{
	return t->n == strlen(w) && memcmp(t->p, w, t->n) == 0;
}

/* ---- classification of a message start -------------------------------- */

enum {
	MC_C_NONE = 0,
	MC_C_MORE,
	MC_C_REQ,
	MC_C_REQ_STRICT,
	MC_C_RESP,
	MC_C_RESP_WEAK,
	MC_C_BREQ,
	MC_C_BRESP
};

static int mc_classify(const uint8_t *buf, size_t len)
{
	if (len == 0)
		return MC_C_MORE;
	if (buf[0] == 0x80 || buf[0] == 0x81) {
		if (len < MC_BIN_HDR)
			return MC_C_MORE;
		if (!mc_bin_hdr_ok(buf))
			return MC_C_NONE;
		return buf[0] == 0x80 ? MC_C_BREQ : MC_C_BRESP;
	}
	size_t e = 0;
	while (e < len && e < MC_LINE && buf[e] != '\n')
		e++;
	if (e >= len)
		return MC_C_MORE;
	if (e == MC_LINE || e == 0 || buf[e - 1] != '\r')
		return MC_C_NONE;
	for (size_t i = 0; i < e - 1; i++)
		if (buf[i] < 0x20 || buf[i] == 0x7f)
			return MC_C_NONE;
	struct mc_tok t[8];
	size_t nt = mc_split((const char *)buf, e - 1, t, 8);
	if (nt == 0)
		return MC_C_NONE;
	const struct mc_cmd *c = mc_cmd_find(t[0].p, t[0].n);
	if (c) {
		uint64_t v;
		if (c->flags & MC_T_STORE) {
			bool cas = mc_is_word(&t[0], "cas");
			size_t need = cas ? 6 : 5;
			if (nt < need || nt > need + 1 || t[1].n > MC_KEY || !mc_num(&t[2], &v) ||
			    !mc_num(&t[4], &v))
				return MC_C_NONE;
			if (nt == need + 1 && !mc_is_word(&t[need], "noreply"))
				return MC_C_NONE;
			return MC_C_REQ_STRICT;
		}
		if (c->flags & (MC_T_RETR | MC_T_META))
			return nt >= 2 && t[1].n <= MC_KEY ? MC_C_REQ_STRICT : MC_C_NONE;
		if (c->flags & MC_T_GAT)
			return nt >= 3 && mc_num(&t[1], &v) ? MC_C_REQ_STRICT : MC_C_NONE;
		return MC_C_REQ;
	}
	for (size_t i = 0; mc_replies[i]; i++) {
		if (mc_is_word(&t[0], mc_replies[i])) {
			uint64_t v;
			if (mc_is_word(&t[0], "VALUE"))
				return nt >= 4 && mc_num(&t[2], &v) && mc_num(&t[3], &v) ? MC_C_RESP
											 : MC_C_NONE;
			if (mc_is_word(&t[0], "VA"))
				return nt >= 2 && mc_num(&t[1], &v) ? MC_C_RESP : MC_C_NONE;
			return i >= 2 && i <= 7 ? MC_C_RESP : MC_C_RESP_WEAK;
		}
	}
	uint64_t v;
	if (nt == 1 && mc_num(&t[0], &v))
		return MC_C_RESP_WEAK; /* incr/decr result */
	return MC_C_NONE;
}

static int mc_infer(const uint8_t *buf, size_t len, const struct zt_infer_hints *h)
{
	bool port = h && (h->lport == 11211 || h->rport == 11211);

	/* memcached over UDP adds an 8-byte frame header: not parsed */
	if (!buf || (h && h->l4 == 17))
		return 0;
	switch (mc_classify(buf, len)) {
	case MC_C_REQ_STRICT:
		return port ? 90 : 80;
	case MC_C_BREQ:
		return port ? 90 : 80;
	case MC_C_REQ:
		return port ? 80 : 60;
	case MC_C_RESP:
	case MC_C_BRESP:
		return port ? 70 : 55;
	case MC_C_RESP_WEAK:
		return port ? 55 : 30;
	default:
		return 0;
	}
}

static int mc_first_kind(const uint8_t *buf, size_t len)
{
	switch (buf ? mc_classify(buf, len) : MC_C_NONE) {
	case MC_C_REQ:
	case MC_C_REQ_STRICT:
	case MC_C_BREQ:
		return ZT_MSG_REQUEST;
	case MC_C_RESP:
	case MC_C_RESP_WEAK:
	case MC_C_BRESP:
		return ZT_MSG_RESPONSE;
	default:
		return 0;
	}
}

/* ---- state ---------------------------------------------------------- */

struct mc_dir {
	uint8_t st; /* enum mc_st */
	bool in_msg;
	bool multi; /* reply: VALUE/STAT/ITEM lines until END */
	bool line_over;
	bool store;	/* request: the line announced a data block */
	bool oneway;	/* request: noreply / quiet / quit */
	bool tentative; /* resyncing on a segment too short to tell: the first
			 * line or header must start a message, else lost again */
	uint16_t llen;
	uint64_t rem;
	const struct mc_op *op; /* binary: the header's opcode */
	uint16_t keylen;
	uint8_t ext;
	uint32_t bpos; /* binary: body bytes seen */
	char line[MC_LINE];
	struct zt_msg msg;
};

struct mc_state {
	struct mc_dir d[2];
	uint8_t mode;	    /* enum mc_mode */
	int8_t req_dir;	    /* text: direction carrying requests; -1 unknown */
	bool fifo[MC_FIFO]; /* text: pending requests, true = quiet meta */
	uint8_t fifo_head, fifo_n;
};

_Static_assert(sizeof(struct mc_state) < 8 * 1024, "per-connection state must stay small");

static void mc_dir_reset(struct mc_dir *d, uint8_t st)
{
	d->st = st;
	d->in_msg = false;
	d->multi = d->line_over = d->store = d->oneway = d->tentative = false;
	d->llen = 0;
	d->rem = 0;
}

static void mc_init(void *state)
{
	struct mc_state *s = state;

	for (int i = 0; i < 2; i++)
		mc_dir_reset(&s->d[i], MC_S_START);
	s->mode = MC_M_UNKNOWN;
	s->req_dir = -1;
	s->fifo_head = s->fifo_n = 0;
}

static void mc_fifo_push(struct mc_state *s, bool quiet)
{
	if (s->fifo_n == MC_FIFO)
		return;
	s->fifo[(s->fifo_head + s->fifo_n) % MC_FIFO] = quiet;
	s->fifo_n++;
}

static void mc_fifo_pop(struct mc_state *s)
{
	if (s->fifo_n) {
		s->fifo_head = (uint8_t)((s->fifo_head + 1) % MC_FIFO);
		s->fifo_n--;
	}
}

/* ---- text messages --------------------------------------------------- */

/* Fills a request from its line; sets the data block to expect. */
static void mc_text_request(struct mc_dir *d)
{
	struct zt_msg *m = &d->msg;
	struct mc_tok t[24];
	size_t nt = mc_split(d->line, d->llen, t, 24);
	uint64_t v;

	m->kind = ZT_MSG_REQUEST;
	m->pair = ZT_PAIR_FIFO;
	if (nt == 0)
		return;
	zt_copy_str(m->request_type, sizeof(m->request_type), t[0].p, t[0].n);
	const struct mc_cmd *c = mc_cmd_find(t[0].p, t[0].n);
	uint8_t f = c ? c->flags : 0;
	size_t ki = (f & MC_T_GAT) ? 2 : (f & MC_T_NOKEY) ? 0 : 1;
	if (ki && ki < nt)
		zt_copy_str(m->request_resource, sizeof(m->request_resource), t[ki].p, t[ki].n);
	if (f & MC_T_STORE) {
		if (nt >= 5 && mc_num(&t[4], &v) && v <= MC_MAX_DATA) {
			d->store = true;
			d->rem = v + 2;
		}
	} else if ((f & MC_T_MS) && nt >= 3 && mc_num(&t[2], &v) && v <= MC_MAX_DATA) {
		d->store = true;
		d->rem = v + 2;
	}
	if (f & MC_T_QUIT)
		d->oneway = true;
	if (!(f & MC_T_META) && nt >= 2 && mc_is_word(&t[nt - 1], "noreply"))
		d->oneway = true;
	if (f & MC_T_META)
		for (size_t i = 2; i < nt; i++)
			if (mc_is_word(&t[i], "q"))
				d->oneway = true;
	if (d->oneway)
		m->pair = ZT_PAIR_ONEWAY;
}

static void mc_text_emit_request(struct mc_state *s, struct mc_dir *d, zt_emit_fn emit, void *ctx)
{
	bool quiet_meta = d->oneway && d->msg.request_type[0] == 'm' && d->msg.request_type[2] == '\0';

	/* quiet meta commands may be answered: remember them */
	if (!d->oneway || quiet_meta)
		mc_fifo_push(s, quiet_meta);
	emit(ctx, &d->msg);
	mc_dir_reset(d, MC_S_START);
}

/* A text reply's first (or END) line decides its status. */
static void mc_text_status(struct zt_msg *m, const char *line, size_t n)
{
	if (n >= 5 && memcmp(line, "ERROR", 5) == 0 && (n == 5 || line[5] == ' ')) {
		m->status = ZT_RS_CLIENT_ERROR;
		zt_copy_str(m->response_exception, sizeof(m->response_exception), line, n);
	} else if (n >= 12 && memcmp(line, "CLIENT_ERROR", 12) == 0) {
		m->status = ZT_RS_CLIENT_ERROR;
		zt_copy_str(m->response_exception, sizeof(m->response_exception), line, n);
	} else if (n >= 12 && memcmp(line, "SERVER_ERROR", 12) == 0) {
		m->status = ZT_RS_SERVER_ERROR;
		zt_copy_str(m->response_exception, sizeof(m->response_exception), line, n);
	} else if (!m->status) {
		m->status = ZT_RS_OK;
	}
}

static void mc_text_emit_reply(struct mc_state *s, struct mc_dir *d, zt_emit_fn emit, void *ctx)
{
	bool mn = d->llen == 2 && memcmp(d->line, "MN", 2) == 0 && !d->multi;

	d->msg.kind = ZT_MSG_RESPONSE;
	d->msg.pair = ZT_PAIR_FIFO;
	if (s->fifo_n && s->fifo[s->fifo_head]) {
		if (!mn) {
			/* answers a quiet meta command: a one-way span */
			mc_fifo_pop(s);
			mc_dir_reset(d, MC_S_START);
			return;
		}
		while (s->fifo_n && s->fifo[s->fifo_head])
			mc_fifo_pop(s); /* unanswered quiet commands are done */
	}
	mc_fifo_pop(s);
	emit(ctx, &d->msg);
	mc_dir_reset(d, MC_S_START);
}

static void mc_lose(struct mc_state *s, struct mc_dir *d, int dir, uint32_t flags, zt_emit_fn emit,
		    void *ctx);

/* What a line's first word makes it: 1 a command, 2 a reply, 0 neither. */
static int mc_line_kind(const struct mc_dir *d)
{
	struct mc_tok t[1];
	uint64_t v;

	if (mc_split(d->line, d->llen, t, 1) != 1)
		return 0;
	if (mc_cmd_find(t[0].p, t[0].n))
		return 1;
	for (size_t i = 0; mc_replies[i]; i++)
		if (mc_is_word(&t[0], mc_replies[i]))
			return 2;
	return mc_num(&t[0], &v) && d->llen == t[0].n ? 2 : 0;
}

/* Until a line told, which direction carries requests is unknown: a
 * command word says this one, a reply word (or a number) the other.
 * Returns false when the line says neither. */
static bool mc_side(struct mc_state *s, const struct mc_dir *d, int dir)
{
	int k;

	if (s->req_dir >= 0)
		return true;
	k = mc_line_kind(d);
	if (k)
		s->req_dir = (int8_t)(k == 1 ? dir : !dir);
	return k != 0;
}

/* A whole text line (CRLF stripped) is in line[0..llen). */
static void mc_text_line(struct mc_state *s, struct mc_dir *d, int dir, zt_emit_fn emit, void *ctx)
{
	struct mc_tok t[6];
	size_t nt;
	uint64_t v;

	if (!mc_side(s, d, dir)) {
		mc_lose(s, d, dir, 0, emit, ctx);
		return;
	}
	if (d->tentative) {
		if (mc_line_kind(d) != (dir == s->req_dir ? 1 : 2)) {
			mc_dir_reset(d, MC_S_LOST); /* not a message start: silent */
			return;
		}
		d->tentative = false;
	}
	if (dir == s->req_dir) {
		mc_text_request(d);
		if (d->store) {
			d->st = MC_S_DATA;
			return;
		}
		mc_text_emit_request(s, d, emit, ctx);
		return;
	}
	nt = mc_split(d->line, d->llen, t, 6);
	if (nt >= 4 && mc_is_word(&t[0], "VALUE") && mc_num(&t[3], &v) && v <= MC_MAX_DATA) {
		if (!d->multi && t[1].n)
			d->msg.status = ZT_RS_OK;
		d->multi = true;
		d->rem = v + 2;
		d->st = MC_S_DATA;
		return;
	}
	if (nt >= 2 && !d->multi && mc_is_word(&t[0], "VA") && mc_num(&t[1], &v) && v <= MC_MAX_DATA) {
		d->msg.status = ZT_RS_OK;
		d->rem = v + 2;
		d->st = MC_S_DATA;
		return;
	}
	if (nt >= 1 && (mc_is_word(&t[0], "STAT") || mc_is_word(&t[0], "ITEM"))) {
		d->multi = true;
		d->st = MC_S_LINE;
		d->llen = 0;
		return;
	}
	mc_text_status(&d->msg, d->line, d->llen);
	mc_text_emit_reply(s, d, emit, ctx);
}

/* ---- binary messages ------------------------------------------------- */

static uint8_t mc_bin_class(uint16_t st)
{
	if (st == 0)
		return ZT_RS_OK;
	if (st >= 0x82 && st <= 0x86)
		return st == 0x83 ? ZT_RS_CLIENT_ERROR : ZT_RS_SERVER_ERROR; /* 0x83: not supported */
	return ZT_RS_CLIENT_ERROR;
}

static void mc_bin_header(struct mc_dir *d)
{
	const uint8_t *h = (const uint8_t *)d->line;
	struct zt_msg *m = &d->msg;

	d->op = mc_op_find(h[1]);
	d->keylen = mc_be16(h + 2);
	d->ext = h[4];
	d->rem = mc_be32(h + 8);
	d->bpos = 0;
	m->key = mc_be32(h + 12);
	m->pair = ZT_PAIR_KEY;
	if (d->op)
		zt_copy_str(m->request_type, sizeof(m->request_type), d->op->name, strlen(d->op->name));
	if (h[0] == 0x80) {
		m->kind = ZT_MSG_REQUEST;
		if (d->op && d->op->quiet)
			m->pair = ZT_PAIR_ONEWAY;
	} else {
		uint16_t st = mc_be16(h + 6);
		m->kind = ZT_MSG_RESPONSE;
		m->status = mc_bin_class(st);
		if (st) {
			m->response_code = st;
			m->flags |= ZT_MF_HAS_CODE;
		}
	}
	d->llen = 0; /* line[] now gathers the key / error text */
}

/* Body bytes p[0..n) at body offset d->bpos: the key of a request, the
 * error text of a failed reply. The value of SASL messages is never kept. */
static void mc_bin_body(struct mc_dir *d, const char *p, size_t n)
{
	struct zt_msg *m = &d->msg;
	uint32_t ks = d->ext, ke = (uint32_t)d->ext + d->keylen;

	for (size_t i = 0; i < n; i++) {
		uint32_t pos = d->bpos + (uint32_t)i;
		if (m->kind == ZT_MSG_REQUEST && pos >= ks && pos < ke && d->llen < MC_LINE)
			d->line[d->llen++] = p[i];
		else if (m->kind == ZT_MSG_RESPONSE && m->status != ZT_RS_OK && pos >= ke &&
			 d->llen < ZT_EXC_LEN - 1)
			d->line[d->llen++] = p[i];
		else if (pos >= ke)
			break;
	}
}

static void mc_bin_done(struct mc_dir *d, zt_emit_fn emit, void *ctx)
{
	struct zt_msg *m = &d->msg;

	if (m->kind == ZT_MSG_REQUEST) {
		if (d->keylen)
			zt_copy_str(m->request_resource, sizeof(m->request_resource), d->line, d->llen);
		emit(ctx, m);
	} else if (!(d->op && d->op->quiet) && !(d->op && d->op->op == 0x10 && d->keylen)) {
		if (m->status != ZT_RS_OK)
			zt_copy_str(m->response_exception, sizeof(m->response_exception), d->line, d->llen);
		emit(ctx, m);
	}
	/* not emitted: a reply with a quiet opcode (it answers a one-way
	 * span) and STAT's per-statistic replies (the empty-key one that
	 * ends the series is STAT's response) */
	mc_dir_reset(d, MC_S_START);
}

/* ---- streaming ------------------------------------------------------- */

struct mc_cur {
	const struct zt_seg *seg;
	const char *data;
	uint32_t cap;
	uint64_t len;
	int dir;
};

/* Framing is gone. A text reply in progress is emitted (LOST_SYNC) so that
 * it still answers its request: the requests and replies the session pairs
 * stay aligned, and the parser's FIFO with them; a lost request direction
 * emits nothing (its command line was not read). */
static void mc_lose(struct mc_state *s, struct mc_dir *d, int dir, uint32_t flags, zt_emit_fn emit, void *ctx)
{
	if (d->in_msg && s->mode == MC_M_TEXT && s->req_dir >= 0 && dir != s->req_dir) {
		d->msg.flags |= flags | ZT_MF_LOST_SYNC;
		mc_text_emit_reply(s, d, emit, ctx);
	}
	mc_dir_reset(d, MC_S_LOST);
}

static uint64_t mc_step(struct mc_state *s, struct mc_dir *d, const struct mc_cur *c, uint64_t off,
			zt_emit_fn emit, void *ctx)
{
	uint64_t n;

	switch (d->st) {
	case MC_S_START:
		if (off >= c->cap) {
			mc_lose(s, d, c->dir, 0, emit, ctx);
			return c->len;
		}
		zt_msg_reset(&d->msg);
		zt_msg_begin(&d->msg, c->seg, off);
		d->in_msg = true;
		d->llen = 0;
		d->line_over = false;
		d->st = s->mode == MC_M_BIN ? MC_S_BHDR : MC_S_LINE;
		return off;
	case MC_S_LINE: {
		if (off >= c->cap) {
			/* a line in a gap: framed by the syscall's end only
			 * where that is the message's end in practice */
			bool req = mc_side(s, d, c->dir) && c->dir == s->req_dir;
			if (!req && d->multi && d->llen == 0 && c->len - off == 5) {
				/* after a value, 5 bytes end the reply: END\r\n */
				d->msg.bytes += 5;
				d->msg.status = d->msg.status ? d->msg.status : ZT_RS_OK;
				mc_text_emit_reply(s, d, emit, ctx);
				return c->len;
			}
			if (req && d->llen) {
				mc_text_request(d);
				if (!d->store) {
					d->msg.flags |= ZT_MF_TRUNCATED;
					d->msg.bytes += c->len - off;
					mc_text_emit_request(s, d, emit, ctx);
					return c->len;
				}
			} else if (!req && d->multi) {
				d->msg.flags |= ZT_MF_TRUNCATED;
				d->msg.bytes += c->len - off;
				d->msg.status = d->msg.status ? d->msg.status : ZT_RS_OK;
				mc_text_emit_reply(s, d, emit, ctx);
				return c->len;
			}
			d->msg.flags |= ZT_MF_TRUNCATED;
			mc_lose(s, d, c->dir, ZT_MF_TRUNCATED, emit, ctx);
			return c->len;
		}
		const char *p = c->data + off;
		size_t avail = c->cap - off;
		const char *nl = memchr(p, '\n', avail);
		size_t take = nl ? (size_t)(nl - p) + 1 : avail;
		size_t keep = take;
		if (keep > (size_t)(MC_LINE - d->llen)) {
			d->line_over = true;
			keep = MC_LINE - d->llen;
		}
		memcpy(d->line + d->llen, p, keep);
		d->llen = (uint16_t)(d->llen + keep);
		off += take;
		d->msg.bytes += take;
		if (!nl)
			return off;
		if (!d->line_over) {
			/* strip LF and CR */
			d->llen--;
			if (d->llen == 0 || d->line[d->llen - 1] != '\r') {
				mc_lose(s, d, c->dir, 0, emit, ctx);
				return c->len;
			}
			d->llen--;
		}
		if (d->llen == 0 && !d->multi && c->dir == s->req_dir) {
			mc_dir_reset(d, MC_S_START); /* an empty line: memcached ignores it */
			return off;
		}
		mc_text_line(s, d, c->dir, emit, ctx);
		if (d->st == MC_S_LINE)
			d->llen = 0;
		return off;
	}
	case MC_S_DATA:
		n = c->len - off < d->rem ? c->len - off : d->rem;
		d->rem -= n;
		d->msg.bytes += n;
		off += n;
		if (d->rem == 0) {
			if (c->dir == s->req_dir) {
				mc_text_emit_request(s, d, emit, ctx);
			} else if (d->multi) {
				d->st = MC_S_LINE; /* next VALUE or END */
				d->llen = 0;
			} else {
				mc_text_emit_reply(s, d, emit, ctx); /* VA */
			}
		}
		return off;
	case MC_S_BHDR: {
		if (off >= c->cap) {
			mc_lose(s, d, c->dir, ZT_MF_TRUNCATED, emit, ctx);
			return c->len;
		}
		n = MC_BIN_HDR - d->llen;
		if (n > c->cap - off)
			n = c->cap - off;
		memcpy(d->line + d->llen, c->data + off, (size_t)n);
		d->llen = (uint16_t)(d->llen + n);
		d->msg.bytes += n;
		off += n;
		if (d->llen < MC_BIN_HDR)
			return off;
		const uint8_t *h = (const uint8_t *)d->line;
		if (d->tentative && !mc_bin_hdr_ok(h)) {
			mc_dir_reset(d, MC_S_LOST);
			return c->len;
		}
		d->tentative = false;
		if ((h[0] != 0x80 && h[0] != 0x81) || mc_be32(h + 8) > MC_MAX_BODY ||
		    (uint64_t)mc_be16(h + 2) + h[4] > mc_be32(h + 8)) {
			mc_lose(s, d, c->dir, 0, emit, ctx);
			return c->len;
		}
		mc_bin_header(d);
		if (d->rem == 0)
			mc_bin_done(d, emit, ctx);
		else
			d->st = MC_S_BBODY;
		return off;
	}
	case MC_S_BBODY:
		n = c->len - off < d->rem ? c->len - off : d->rem;
		if (off < c->cap) {
			uint64_t got = c->cap - off < n ? c->cap - off : n;
			mc_bin_body(d, c->data + off, (size_t)got);
			if (got < n && d->bpos + got < (uint64_t)d->ext + d->keylen)
				d->msg.flags |= ZT_MF_TRUNCATED;
		} else if (d->bpos < (uint32_t)d->ext + d->keylen) {
			d->msg.flags |= ZT_MF_TRUNCATED;
		}
		d->bpos = n < (uint64_t)(UINT32_MAX - d->bpos) ? d->bpos + (uint32_t)n : UINT32_MAX;
		d->rem -= n;
		d->msg.bytes += n;
		off += n;
		if (d->rem == 0)
			mc_bin_done(d, emit, ctx);
		return off;
	default:
		return c->len;
	}
}

static void mc_feed(void *state, const struct zt_seg *seg, zt_emit_fn emit, void *ctx)
{
	struct mc_state *s = state;

	if (seg->dir > ZT_DIR_INGRESS)
		return;
	struct mc_dir *d = &s->d[seg->dir];
	struct mc_cur c = {
	    .seg = seg,
	    .data = (const char *)seg->data,
	    .cap = seg->data ? seg->caplen : 0,
	    .len = seg->len,
	    .dir = seg->dir,
	};
	if (c.cap > c.len)
		c.cap = (uint32_t)c.len;

	if (c.len > 0) {
		uint64_t off = 0;
		int k = c.cap ? mc_classify(seg->data, c.cap) : MC_C_NONE;

		if (s->mode == MC_M_UNKNOWN) {
			/* memcached's own rule: the first byte; which side asks
			 * is decided by the first whole line (mc_side) */
			if (!c.cap)
				return;
			s->mode = (seg->data[0] == 0x80 || seg->data[0] == 0x81) ? MC_M_BIN : MC_M_TEXT;
		}
		if (d->in_msg)
			zt_msg_extend(&d->msg, seg);
		if (d->st == MC_S_LOST) {
			bool ok;
			if (s->mode == MC_M_BIN)
				ok = k == MC_C_BREQ || k == MC_C_BRESP;
			else if (s->req_dir < 0)
				ok = k == MC_C_REQ || k == MC_C_REQ_STRICT || k == MC_C_RESP ||
				     k == MC_C_RESP_WEAK;
			else if (seg->dir == s->req_dir)
				ok = k == MC_C_REQ || k == MC_C_REQ_STRICT;
			else /* the rest of a lost reply answers nothing */
				ok = (k == MC_C_RESP || k == MC_C_RESP_WEAK || k == MC_C_MORE) &&
				     s->fifo_n > 0;
			bool more = k == MC_C_MORE && c.cap == c.len;
			if (more && ok)
				ok = false; /* a reply start too short to tell: tentative */
			if (!ok && !more)
				return;
			mc_dir_reset(d, MC_S_START);
			d->tentative = more;
		}
		while (off < c.len && d->st != MC_S_LOST) {
			uint8_t st = d->st;
			uint64_t next = mc_step(s, d, &c, off, emit, ctx);
			if (next < off || (next == off && d->st == st))
				break;
			off = next;
		}
	}
	if (seg->eof)
		mc_dir_reset(d, d->st == MC_S_LOST ? MC_S_LOST : MC_S_START);
}

static void mc_finish(void *state, uint64_t now_ns, zt_emit_fn emit, void *ctx)
{
	struct mc_state *s = state;

	for (int i = 0; i < 2; i++)
		mc_dir_reset(&s->d[i], MC_S_START);
}

/* ---- redaction ------------------------------------------------------- */

/* Binary SASL_AUTH / SASL_STEP values (PLAIN: \0user\0password) in every
 * binary request from buf[0] on. The text protocol has no credentials
 * (memcached's text "authentication" is a set of a user/password value on
 * a -Y server: not recognised, see the README). */
static size_t mc_redact_payload(uint8_t *buf, size_t len)
{
	size_t i = 0, done = 0;

	if (!buf)
		return 0;
	while (len - i >= MC_BIN_HDR && buf[i] == 0x80 && mc_bin_hdr_ok(buf + i)) {
		uint8_t op = buf[i + 1];
		uint64_t body = mc_be32(buf + i + 8), vs = (uint64_t)buf[i + 4] + mc_be16(buf + i + 2);
		if (op == 0x21 || op == 0x22) {
			for (uint64_t k = vs; k < body && i + MC_BIN_HDR + k < len; k++, done++)
				buf[i + MC_BIN_HDR + k] = '*';
		}
		if (body > len - i - MC_BIN_HDR)
			break;
		i += MC_BIN_HDR + (size_t)body;
	}
	return done;
}

const struct zt_proto_ops zt_memcached_ops = {
    .id = ZT_L7_MEMCACHED,
    .name = "Memcached",
    .infer = mc_infer,
    .state_size = sizeof(struct mc_state),
    .init = mc_init,
    .feed = mc_feed,
    .finish = mc_finish,
    .first_kind = mc_first_kind,
    .redact_payload = mc_redact_payload,
};
