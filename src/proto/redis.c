/* SPDX-License-Identifier: MIT */
/*
 * redis.c - Redis RESP2/RESP3 (and inline commands): inference, a resumable
 * streaming parser, FIFO pairing and redaction of AUTH arguments.
 *
 * Streaming model: one struct rd_dir per direction is a resumable RESP
 * reader (enum rd_st) with an explicit stack of "values still expected" per
 * nesting level. Header lines (type byte .. CRLF) are gathered in a small
 * bounded buffer; bulk bodies are only counted (their first bytes copied
 * when a field wants them), so a 100 KB value whose capture stops after
 * 1 KiB still ends exactly where its length says, through the gap. A line
 * that falls into a gap cannot be framed: the direction loses sync until a
 * segment starts like a RESP value again.
 *
 * Roles: requests are arrays of bulk strings (or inline command lines);
 * everything is a response in the other direction. The direction carrying
 * requests is learnt from the first message start seen (rd_classify).
 *
 * Pairing is FIFO (the session's). Replies that answer no request are not
 * emitted, so they cannot steal a request's response:
 *   - RESP3 push messages ('>'): pub/sub messages, client-tracking
 *     invalidations;
 *   - RESP2 pub/sub messages (["message"|"pmessage"|"smessage", ...]) while
 *     the connection is subscribed (or nothing is pending);
 *   - the 2nd..Nth (un)subscribe confirmations of one (UN)SUBSCRIBE with N
 *     channels: the first confirmation is the command's response;
 *   - MONITOR's stream ("+<time> [db addr] ..." after MONITOR's +OK).
 * The parser keeps its own small FIFO of what the pending requests were
 * for this (rd_pend); it mirrors the session's.
 *
 * A reply that loses sync is still emitted (LOST_SYNC, status unknown) as
 * the answer of the oldest request, and reply bytes cannot resync while no
 * request is pending: the later reads of a long lost reply (redis-cli's
 * ~200 KB COMMAND DOCS) never become bogus replies.
 *
 * Fields: request_type is the command in upper case, with the subcommand
 * for two-word commands ("CONFIG GET", "CLIENT SETNAME"); request_resource
 * is the key (first argument; after the subcommand for two-word commands;
 * MIGRATE's third; none for PING, SELECT, AUTH, HELLO...); request_domain is
 * the database an answered SELECT chose (unknown, so null, before one);
 * version is "3" once HELLO 3 or a RESP3-only type was seen. Error replies
 * (-ERR, -WRONGTYPE, blob errors) carry their text as the exception, no
 * code; LOADING/BUSY/MASTERDOWN/MISCONF/OOM/READONLY/... are server errors,
 * the others client errors. AUTH and HELLO arguments are never captured
 * (redis_cmd.c also masks them, and CONFIG SET requirepass, in raw
 * payloads).
 *
 * Not handled (documented): RESP3 streamed strings/aggregates ($?, *?) lose
 * sync; CLIENT REPLY OFF/SKIP (requests without replies) misalign pairing
 * until the next close; requests past the capture prefix of a pipelined
 * write cannot be parsed (their replies count as orphan responses).
 */
#include "proto/proto.h"
#include "proto/redis.h"
#include "bpf/events.h"

#include <stdlib.h>
#include <string.h>

#include "util/text.h"

#define RD_DEPTH 16		 /* nesting levels followed; deeper loses sync */
#define RD_NUM_LINE 24		 /* longest length/count line accepted */
#define RD_MAX_BULK (1ull << 32) /* proto-max-bulk-len is 512 MB by default */
#define RD_MAX_AGG (1ull << 31)
#define RD_FIFO 64 /* pending requests remembered */
#define RD_WORD 16 /* first element of a reply, for pub/sub */

enum rd_st {
	RD_S_TYPE = 0, /* a value's type byte (or between messages: !in_msg) */
	RD_S_LINE,     /* the rest of a line, gathered in line[] */
	RD_S_BULK,     /* brem body bytes of a bulk string */
	RD_S_CRLF,     /* the CRLF after a bulk body; crlf_cr: CR seen */
	RD_S_LOST,     /* out of sync until a segment starts like RESP */
};

static int rd_infer(const uint8_t *buf, size_t len, const struct zt_infer_hints *h)
{
	bool port = h && h->l4 != 17 && (h->lport == 6379 || h->rport == 6379);

	if (!buf || (h && h->l4 == 17))
		return 0;
	switch (rd_classify(buf, len)) {
	case RD_C_REQ_KNOWN:
		return 90;
	case RD_C_REQ:
		return port ? 80 : 60;
	case RD_C_RESP:
		/* a lone reply (tracing began mid-connection) says little */
		return port ? 70 : 45;
	case RD_C_INLINE:
		/* "get k\r\n" is also memcached's: only the port tips it */
		return port ? 65 : 40;
	default:
		return 0;
	}
}

static int rd_first_kind(const uint8_t *buf, size_t len)
{
	switch (buf ? rd_classify(buf, len) : RD_C_NONE) {
	case RD_C_REQ_KNOWN:
	case RD_C_REQ:
	case RD_C_INLINE:
		return ZT_MSG_REQUEST;
	case RD_C_RESP:
		return ZT_MSG_RESPONSE;
	default:
		return 0;
	}
}

/* ---- state ---------------------------------------------------------- */

/* What a pending request expects (the parser's mirror of the session's
 * FIFO). */
struct rd_pend {
	uint16_t flags;	 /* RD_F_SUB / _UNSUB / _MONITOR / _SELECT / _RESET of the command */
	int32_t db;	 /* SELECT: the database it asks for */
	bool answered;	 /* its first confirmation was emitted */
	uint32_t expect; /* confirmations due (channels); 0: unknown */
	uint32_t seen;
};

struct rd_dir {
	uint8_t st;	/* enum rd_st */
	bool in_msg;	/* msg begun */
	uint8_t ltype;	/* type byte of the line being read; 'I': inline */
	uint8_t depth;	/* current nesting level; 0: the top */
	uint8_t ttype;	/* type of the top-level value (after attributes) */
	bool line_over; /* the line was longer than line[] */
	char lastc;	/* last line byte before the LF (the CR) */
	bool crlf_cr;	/* RD_S_CRLF: CR seen */
	bool tentative; /* resyncing on a segment too short to tell: its first
			 * line must start a message, else lost again */
	uint16_t cmd_flags;
	uint8_t want; /* what the current string element is captured into */
	uint16_t llen;
	uint16_t cmdlen, sublen, wlen;
	uint32_t reslen;
	uint64_t n1;		/* element count of the top-level aggregate */
	uint64_t brem;		/* RD_S_BULK: body bytes left */
	int64_t r2;		/* reply: the integer at index 2 (subscription count) */
	uint32_t ridx;		/* request: index of the key argument; 0: none */
	uint64_t rem[RD_DEPTH]; /* values still expected per level */
	char line[RD_LINE];
	char cmd[RD_CMD], sub[RD_CMD];
	char word[RD_WORD]; /* reply: element 0 of the top aggregate */
	struct zt_msg msg;
};

struct rd_state {
	struct rd_dir d[2];
	struct rd_pend fifo[RD_FIFO];
	uint8_t fifo_head, fifo_n;
	int8_t req_dir;	 /* direction carrying requests; -1 unknown */
	bool subscribed; /* RESP2 pub/sub mode: message arrays are pushes */
	bool monitoring; /* MONITOR answered: simple strings are its stream */
	bool resp3;	 /* HELLO 3 seen or a RESP3-only type */
	int32_t db;	 /* database after an answered SELECT; -1: unknown (a
			  * connection traced from its middle may have one) */
};

_Static_assert(sizeof(struct rd_state) < 12 * 1024, "per-connection state must stay small");

/* What a string element is captured into. */
enum { RD_W_NONE = 0, RD_W_CMD, RD_W_SUB, RD_W_RES, RD_W_WORD, RD_W_EXC };

static void rd_dir_reset(struct rd_dir *d, uint8_t st)
{
	d->st = st;
	d->in_msg = false;
	d->tentative = false;
	d->depth = 0;
	d->llen = 0;
	d->want = RD_W_NONE;
}

static void rd_init(void *state)
{
	struct rd_state *s = state;

	for (int i = 0; i < 2; i++)
		rd_dir_reset(&s->d[i], RD_S_TYPE);
	s->fifo_head = s->fifo_n = 0;
	s->req_dir = -1;
	s->subscribed = s->monitoring = s->resp3 = false;
	s->db = -1;
}

static void rd_fifo_push(struct rd_state *s, const struct rd_pend *p)
{
	if (s->fifo_n == RD_FIFO)
		return; /* deeper pipelines: the extra entries count as plain */
	s->fifo[(s->fifo_head + s->fifo_n) % RD_FIFO] = *p;
	s->fifo_n++;
}

static struct rd_pend *rd_fifo_head(struct rd_state *s)
{
	return s->fifo_n ? &s->fifo[s->fifo_head] : NULL;
}

static void rd_fifo_pop(struct rd_state *s)
{
	if (!s->fifo_n)
		return;
	s->fifo_head = (uint8_t)((s->fifo_head + 1) % RD_FIFO);
	s->fifo_n--;
}

static bool rd_is_req(const struct rd_state *s, int dir)
{
	return s->req_dir == dir;
}

/* ---- message completion -------------------------------------------- */

static void rd_upper(char *dst, const char *src, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[i] = (char)((c >= 'a' && c <= 'z') ? c - 32 : (c < 0x20 || c == 0x7f) ? '?' : c);
	}
	dst[n] = '\0';
}

/* request_type: COMMAND, or COMMAND SUBCOMMAND for two-word commands. */
static void rd_set_type(struct rd_dir *d)
{
	struct zt_msg *m = &d->msg;
	size_t n = d->cmdlen < ZT_TYPE_LEN - 1 ? d->cmdlen : ZT_TYPE_LEN - 1;

	rd_upper(m->request_type, d->cmd, n);
	if ((d->cmd_flags & RD_F_TWO) && d->sublen && n + 1 + d->sublen < ZT_TYPE_LEN) {
		m->request_type[n] = ' ';
		rd_upper(m->request_type + n + 1, d->sub, d->sublen);
	}
}

static void rd_set_version(struct rd_state *s, struct zt_msg *m)
{
	if (s->resp3)
		memcpy(m->version, "3", 2);
}

static void rd_emit_request(struct rd_state *s, struct rd_dir *d, zt_emit_fn emit, void *ctx)
{
	struct rd_pend p = {.flags = d->cmd_flags &
				     (RD_F_SUB | RD_F_UNSUB | RD_F_MONITOR | RD_F_SELECT | RD_F_RESET),
			    .db = -1};

	if (d->cmd_flags & (RD_F_SUB | RD_F_UNSUB))
		p.expect = d->n1 > 1 && d->n1 - 1 < UINT32_MAX ? (uint32_t)(d->n1 - 1) : 0;
	if ((d->cmd_flags & RD_F_HELLO) && d->sublen == 1 && d->sub[0] == '3')
		s->resp3 = true;
	if ((d->cmd_flags & RD_F_SELECT) && d->sublen > 0 && d->sublen <= 5) {
		p.db = 0;
		for (uint16_t i = 0; i < d->sublen && p.db >= 0; i++)
			p.db = d->sub[i] >= '0' && d->sub[i] <= '9' ? p.db * 10 + (d->sub[i] - '0') : -1;
	}
	if (s->db >= 0) {
		/* the database a SELECT chose: the request's domain */
		char db[12];
		int n = 0, v = s->db;
		do
			db[n++] = (char)('0' + v % 10);
		while ((v /= 10) > 0 && n < 11);
		for (int i = 0; i < n; i++)
			d->msg.request_domain[i] = db[n - 1 - i];
		d->msg.request_domain[n] = '\0';
	}
	d->msg.kind = ZT_MSG_REQUEST;
	d->msg.pair = ZT_PAIR_FIFO;
	rd_set_type(d);
	d->msg.request_resource[d->reslen] = '\0';
	if (d->cmd_flags & RD_F_SECRET)
		d->msg.request_resource[0] = '\0';
	rd_set_version(s, &d->msg);
	rd_fifo_push(s, &p);
	emit(ctx, &d->msg);
}

/* Redis error codes that say the server, not the request, failed. */
static uint8_t rd_error_class(const char *t)
{
	static const char *const server[] = {"LOADING",	 "BUSY",       "MASTERDOWN",  "MISCONF",
					     "OOM",	 "NOREPLICAS", "CLUSTERDOWN", "TRYAGAIN",
					     "READONLY", "NOTBUSY"};
	size_t n = strcspn(t, " ");

	for (size_t i = 0; i < sizeof(server) / sizeof(server[0]); i++)
		if (n == strlen(server[i]) && memcmp(t, server[i], n) == 0)
			return ZT_RS_SERVER_ERROR;
	return ZT_RS_CLIENT_ERROR;
}

static bool rd_word_in(const struct rd_dir *d, const char *const *words)
{
	for (; *words; words++)
		if (zt_ieq(d->word, d->wlen, *words))
			return true;
	return false;
}

/* A reply is complete: emit it, or swallow it when it answers nothing. */
static void rd_on_reply(struct rd_state *s, struct rd_dir *d, zt_emit_fn emit, void *ctx)
{
	static const char *const confirms[] = {"subscribe",    "psubscribe",   "ssubscribe", "unsubscribe",
					       "punsubscribe", "sunsubscribe", NULL};
	static const char *const pushes[] = {"message", "pmessage", "smessage", NULL};
	struct rd_pend *head = rd_fifo_head(s);
	bool agg = d->ttype == '*' || d->ttype == '>';
	struct zt_msg *m = &d->msg;

	if (agg && d->n1 >= 3 && rd_word_in(d, confirms)) {
		bool unsub = d->wlen >= 11 && zt_ieq(d->word + d->wlen - 11, 11, "unsubscribe");
		s->subscribed = !unsub || d->r2 > 0;
		if (head && (head->flags & (RD_F_SUB | RD_F_UNSUB))) {
			bool first = !head->answered;
			head->answered = true;
			head->seen++;
			if (head->expect ? head->seen >= head->expect : d->r2 == 0)
				rd_fifo_pop(s);
			if (first) {
				m->kind = ZT_MSG_RESPONSE;
				m->status = ZT_RS_OK;
				emit(ctx, m);
			}
		}
		return; /* an extra confirmation answers no request */
	}
	if (d->ttype == '>')
		return; /* RESP3 push: invalidation, pub/sub message */
	if (agg && (d->n1 == 3 || d->n1 == 4) && rd_word_in(d, pushes) && (s->subscribed || !head))
		return;
	if (s->monitoring && d->ttype == '+' && d->llen > 0 && d->line[0] >= '0' && d->line[0] <= '9')
		return; /* MONITOR's stream */
	if (head && head->answered) {
		/* an UNSUBSCRIBE whose confirmation count we could not know */
		rd_fifo_pop(s);
		head = rd_fifo_head(s);
	}
	m->kind = ZT_MSG_RESPONSE;
	m->pair = ZT_PAIR_FIFO;
	if (d->ttype == '-' || d->ttype == '!') {
		m->status = rd_error_class(m->response_exception);
	} else {
		m->status = ZT_RS_OK;
		m->response_exception[0] = '\0';
	}
	if (head) {
		if ((head->flags & RD_F_MONITOR) && m->status == ZT_RS_OK)
			s->monitoring = true;
		if ((head->flags & RD_F_SELECT) && m->status == ZT_RS_OK)
			s->db = head->db;
		if ((head->flags & RD_F_RESET) && m->status == ZT_RS_OK)
			s->db = 0;
		rd_fifo_pop(s);
	}
	emit(ctx, m);
}

static void rd_complete(struct rd_state *s, struct rd_dir *d, int dir, zt_emit_fn emit, void *ctx)
{
	if (rd_is_req(s, dir))
		rd_emit_request(s, d, emit, ctx);
	else
		rd_on_reply(s, d, emit, ctx);
	rd_dir_reset(d, RD_S_TYPE);
}

static void rd_take(struct rd_dir *d, const char *p, size_t n);

/* Framing is gone: emit what is known of the message in progress (a
 * request whose command was read; any reply but a MONITOR line) and wait
 * for a segment that starts like RESP. The lost reply answers the oldest
 * request, so the parser's FIFO stays aligned with the session's; until a
 * request is pending again, reply bytes (the rest of the lost reply, read
 * by later syscalls) cannot resync. */
static void rd_lose(struct rd_state *s, struct rd_dir *d, int dir, uint32_t flags, zt_emit_fn emit, void *ctx)
{
	if (d->in_msg && d->st == RD_S_LINE && d->depth == 0 && d->ltype == '-' && !rd_is_req(s, dir)) {
		/* an error line cut by a gap: its start is the exception */
		d->want = RD_W_EXC;
		rd_take(d, d->line, d->llen);
		d->want = RD_W_NONE;
		d->ttype = '-';
	}
	if (d->in_msg) {
		d->msg.flags |= flags | ZT_MF_LOST_SYNC;
		if (rd_is_req(s, dir)) {
			if (d->cmdlen)
				rd_emit_request(s, d, emit, ctx);
		} else if (s->monitoring && d->depth == 0 && (d->ltype == '+' || d->ttype == '+')) {
			/* a MONITOR line longer than the capture: answers nothing */
		} else if (s->req_dir >= 0) {
			rd_fifo_pop(s);
			d->msg.kind = ZT_MSG_RESPONSE;
			d->msg.pair = ZT_PAIR_FIFO;
			d->msg.status =
			    d->ttype == '-' ? rd_error_class(d->msg.response_exception) : ZT_RS_UNKNOWN;
			emit(ctx, &d->msg);
		}
	}
	rd_dir_reset(d, RD_S_LOST);
}

/* ---- element handling ------------------------------------------------ */

/* Which field the string element starting now feeds. */
static uint8_t rd_want(const struct rd_state *s, const struct rd_dir *d, int dir, uint8_t type)
{
	if (rd_is_req(s, dir)) {
		if (d->depth != 1)
			return RD_W_NONE;
		uint64_t idx = d->n1 - d->rem[1];
		if (idx == 0)
			return RD_W_CMD;
		if (d->cmd_flags & RD_F_SECRET)
			return RD_W_NONE;
		if (idx == 1 && (d->cmd_flags & (RD_F_TWO | RD_F_HELLO | RD_F_SELECT)))
			return RD_W_SUB;
		return d->ridx && idx == d->ridx ? RD_W_RES : RD_W_NONE;
	}
	if (d->depth == 0)
		return type == '-' || type == '!' ? RD_W_EXC : RD_W_NONE;
	if (d->depth == 1 && d->n1 - d->rem[1] == 0 && (d->ttype == '*' || d->ttype == '>'))
		return RD_W_WORD;
	return RD_W_NONE;
}

/* Appends captured string bytes to the wanted field. */
static void rd_take(struct rd_dir *d, const char *p, size_t n)
{
	char *dst;
	size_t cap, have;
	uint16_t *l16 = NULL;
	uint32_t *l32 = NULL;

	switch (d->want) {
	case RD_W_CMD:
		dst = d->cmd, cap = RD_CMD, l16 = &d->cmdlen;
		break;
	case RD_W_SUB:
		dst = d->sub, cap = RD_CMD, l16 = &d->sublen;
		break;
	case RD_W_WORD:
		dst = d->word, cap = RD_WORD - 1, l16 = &d->wlen;
		break;
	case RD_W_RES:
		dst = d->msg.request_resource, cap = ZT_RESOURCE_LEN - 1, l32 = &d->reslen;
		break;
	case RD_W_EXC:
		dst = d->msg.response_exception, cap = ZT_EXC_LEN - 1, l32 = &d->reslen;
		break;
	default:
		return;
	}
	have = l16 ? *l16 : *l32;
	if (have >= cap)
		return;
	if (n > cap - have)
		n = cap - have;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		dst[have + i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	have += n;
	if (l16)
		*l16 = (uint16_t)have;
	else
		*l32 = (uint32_t)have;
	if (d->want == RD_W_WORD)
		d->word[have] = '\0';
	if (d->want == RD_W_EXC)
		dst[have] = '\0';
}

/* A string element ended: what it decides. */
static void rd_elem_string_done(struct rd_state *s, struct rd_dir *d, int dir)
{
	if (!rd_is_req(s, dir) || d->depth != 1)
		return;
	uint64_t idx = d->n1 - d->rem[1];
	if (idx == 0) {
		const struct rd_cmd *c = rd_cmd_find(d->cmd, d->cmdlen);
		d->cmd_flags = c ? c->flags : 0;
		if (d->cmd_flags & RD_F_NOKEY)
			d->ridx = 0;
		else if (d->cmd_flags & RD_F_TWO)
			d->ridx = 2;
		else if (d->cmd_flags & RD_F_KEY3)
			d->ridx = 3;
		else
			d->ridx = 1;
	}
}

/* One value at the current level is complete; pops finished aggregates. */
static void rd_value_done(struct rd_state *s, struct rd_dir *d, int dir, zt_emit_fn emit, void *ctx)
{
	d->rem[d->depth]--;
	while (d->depth > 0 && d->rem[d->depth] == 0) {
		d->depth--;
		d->rem[d->depth]--;
	}
	d->st = RD_S_TYPE;
	if (d->depth == 0 && d->rem[0] == 0)
		rd_complete(s, d, dir, emit, ctx);
}

/* Splits an inline command line into command, subcommand, key. */
static void rd_inline(struct rd_state *s, struct rd_dir *d)
{
	const char *p = d->line;
	size_t n = d->llen, i = 0, argi = 0;

	d->n1 = 0;
	while (i < n) {
		while (i < n && (p[i] == ' ' || p[i] == '\t'))
			i++;
		size_t w = i;
		while (i < n && p[i] != ' ' && p[i] != '\t')
			i++;
		if (i == w)
			break;
		d->n1++;
		d->want = argi == 0 ? RD_W_CMD : RD_W_NONE;
		if (argi > 0 && !(d->cmd_flags & RD_F_SECRET)) {
			if (argi == 1 && (d->cmd_flags & (RD_F_TWO | RD_F_HELLO | RD_F_SELECT)))
				d->want = RD_W_SUB;
			else if (d->ridx && argi == d->ridx)
				d->want = RD_W_RES;
		}
		rd_take(d, p + w, i - w);
		if (argi == 0) {
			d->depth = 1;
			d->rem[1] = d->n1 = 1;
			rd_elem_string_done(s, d, s->req_dir);
			d->depth = 0;
		}
		argi++;
	}
	d->want = RD_W_NONE;
}

/* A whole line (without CRLF) of type d->ltype is in line[0..llen). */
static int rd_on_line(struct rd_state *s, struct rd_dir *d, int dir, zt_emit_fn emit, void *ctx)
{
	uint8_t t = d->ltype;
	int64_t v = 0;

	if (t == 'I') {
		if (d->llen == 0 && !d->line_over) {
			rd_dir_reset(d, RD_S_TYPE); /* an empty line between commands */
			return 0;
		}
		rd_inline(s, d);
		d->msg.kind = ZT_MSG_REQUEST;
		rd_complete(s, d, dir, emit, ctx);
		return 0;
	}
	if (strchr(":$*%~>|!=", t)) {
		d->line[d->llen < RD_LINE ? d->llen : RD_LINE - 1] = '\0';
		uint8_t tmp[RD_NUM_LINE + 2];
		if (d->line_over || d->llen > RD_NUM_LINE)
			return -1;
		memcpy(tmp, d->line, d->llen);
		tmp[d->llen] = '\r';
		tmp[d->llen + 1] = '\n';
		if (t == '$' && d->llen == 1 && d->line[0] == '?')
			return -1; /* streamed string: not followed */
		if (rd_num_line_any(tmp, d->llen + 2u, 0, &v, t == ':') <= 0)
			return -1;
	}
	if (d->depth == 0 && t != '|')
		d->ttype = t;
	if (strchr("_,#(%~>|!=", t) && d->depth == 0)
		s->resp3 = true;
	switch (t) {
	case '$':
	case '!':
	case '=':
		if (v < 0) {
			rd_value_done(s, d, dir, emit, ctx);
			return 0;
		}
		if ((uint64_t)v > RD_MAX_BULK)
			return -1;
		d->want = rd_want(s, d, dir, t);
		d->brem = (uint64_t)v;
		d->st = RD_S_BULK;
		d->crlf_cr = false;
		return 0;
	case '*':
	case '%':
	case '~':
	case '>':
	case '|':
		if (v < 0 || v == 0) {
			if (t == '|' && v == 0)
				d->rem[d->depth]++; /* an empty attribute still precedes a value */
			else if (d->depth == 0)
				d->n1 = 0;
			rd_value_done(s, d, dir, emit, ctx);
			return 0;
		}
		if ((uint64_t)v > RD_MAX_AGG || d->depth + 1 >= RD_DEPTH)
			return -1;
		if (t == '%' || t == '|')
			v *= 2;
		if (t == '|')
			d->rem[d->depth]++; /* the attribute precedes the value it describes */
		if (d->depth == 0 && t != '|')
			d->n1 = (uint64_t)v;
		else if (d->depth == 0)
			d->n1 = 0;
		d->depth++;
		d->rem[d->depth] = (uint64_t)v;
		d->st = RD_S_TYPE;
		return 0;
	case ':':
		if (!rd_is_req(s, dir) && d->depth == 1 && d->n1 - d->rem[1] == 2)
			d->r2 = v;
		rd_value_done(s, d, dir, emit, ctx);
		return 0;
	case '_':
		if (d->llen != 0)
			return -1;
		rd_value_done(s, d, dir, emit, ctx);
		return 0;
	case '#':
		if (d->llen != 1 || (d->line[0] != 't' && d->line[0] != 'f'))
			return -1;
		rd_value_done(s, d, dir, emit, ctx);
		return 0;
	default: /* + - , ( : the line is the value */
		d->want = rd_want(s, d, dir, t);
		rd_take(d, d->line, d->llen);
		rd_elem_string_done(s, d, dir);
		d->want = RD_W_NONE;
		rd_value_done(s, d, dir, emit, ctx);
		return 0;
	}
}

/* ---- streaming ------------------------------------------------------- */

struct rd_cur {
	const struct zt_seg *seg;
	const char *data;
	uint32_t cap;
	uint64_t len;
	int dir;
};

static uint64_t rd_step(struct rd_state *s, struct rd_dir *d, const struct rd_cur *c, uint64_t off,
			zt_emit_fn emit, void *ctx)
{
	uint64_t n;

	switch (d->st) {
	case RD_S_TYPE:
		if (!d->in_msg) {
			/* CRLF between inline commands (telnet) */
			while (off < c->cap && rd_is_req(s, c->dir) &&
			       (c->data[off] == '\r' || c->data[off] == '\n'))
				off++;
			if (off >= c->len)
				return off;
		}
		if (off >= c->cap) {
			rd_lose(s, d, c->dir, ZT_MF_TRUNCATED, emit, ctx);
			return c->len;
		}
		if (!d->in_msg) {
			zt_msg_reset(&d->msg);
			zt_msg_begin(&d->msg, c->seg, off);
			d->in_msg = true;
			d->depth = 0;
			d->rem[0] = 1;
			d->n1 = 0;
			d->ttype = 0;
			d->cmdlen = d->sublen = d->wlen = 0;
			d->reslen = 0;
			d->cmd_flags = 0;
			d->ridx = 0;
			d->r2 = -1;
			d->word[0] = '\0';
		}
		unsigned char t = (unsigned char)c->data[off];
		if (rd_is_req(s, c->dir) && d->depth == 0 && t != '*') {
			d->ltype = 'I';
		} else if (rd_is_type(t)) {
			d->ltype = t;
			off++;
			d->msg.bytes++;
		} else if (d->tentative) {
			rd_dir_reset(d, RD_S_LOST); /* not a message start: silent */
			return c->len;
		} else {
			rd_lose(s, d, c->dir, 0, emit, ctx);
			return c->len;
		}
		d->st = RD_S_LINE;
		d->llen = 0;
		d->line_over = false;
		d->lastc = 0;
		return off;
	case RD_S_LINE: {
		if (off >= c->cap) { /* a line in a gap cannot be framed */
			rd_lose(s, d, c->dir, ZT_MF_TRUNCATED, emit, ctx);
			return c->len;
		}
		const char *p = c->data + off;
		size_t avail = c->cap - off;
		const char *nl = memchr(p, '\n', avail);
		size_t take = nl ? (size_t)(nl - p) + 1 : avail;
		size_t keep = take - (nl ? 1 : 0);
		if (keep > (size_t)(RD_LINE - d->llen)) {
			d->line_over = true;
			keep = RD_LINE - d->llen;
		}
		memcpy(d->line + d->llen, p, keep);
		d->llen = (uint16_t)(d->llen + keep);
		if (take > (nl ? 1u : 0u))
			d->lastc = p[take - (nl ? 2 : 1)];
		off += take;
		d->msg.bytes += take;
		if (!nl)
			return off;
		if (d->lastc != '\r') {
			rd_lose(s, d, c->dir, 0, emit, ctx);
			return c->len;
		}
		if (!d->line_over)
			d->llen--; /* the CR; past line[] when the line was longer */
		if (d->tentative) {
			bool ok;
			d->tentative = false;
			if (!rd_is_req(s, c->dir))
				ok = d->ltype != 'I';
			else if (d->ltype == 'I') {
				size_t w = 0;
				while (w < d->llen && w < RD_CMD && rd_cmd_byte((unsigned char)d->line[w]))
					w++;
				ok = rd_cmd_find(d->line, w) != NULL;
			} else
				ok = d->ltype == '*';
			if (!ok) {
				rd_dir_reset(d, RD_S_LOST); /* not a message start: silent */
				return c->len;
			}
		}
		if (rd_on_line(s, d, c->dir, emit, ctx) < 0) {
			rd_lose(s, d, c->dir, 0, emit, ctx);
			return c->len;
		}
		return off;
	}
	case RD_S_BULK:
		n = c->len - off < d->brem ? c->len - off : d->brem;
		if (off < c->cap) {
			uint64_t got = c->cap - off < n ? c->cap - off : n;
			rd_take(d, c->data + off, (size_t)got);
			if (got < n && d->want != RD_W_NONE)
				d->msg.flags |= ZT_MF_TRUNCATED;
		} else if (n && d->want != RD_W_NONE) {
			d->msg.flags |= ZT_MF_TRUNCATED;
		}
		d->brem -= n;
		d->msg.bytes += n;
		off += n;
		if (d->brem == 0) {
			rd_elem_string_done(s, d, c->dir);
			d->want = RD_W_NONE;
			d->st = RD_S_CRLF;
			d->crlf_cr = false;
		}
		return off;
	case RD_S_CRLF:
		if (off >= c->cap) {
			/* in a gap: assume the CRLF every sender writes */
			n = d->crlf_cr ? 1 : 2;
			if (n > c->len - off)
				n = c->len - off;
			off += n;
			d->msg.bytes += n;
			if (d->crlf_cr || n == 2)
				rd_value_done(s, d, c->dir, emit, ctx);
			else
				d->crlf_cr = true;
			return off;
		}
		if (!d->crlf_cr && c->data[off] == '\r') {
			d->crlf_cr = true;
		} else if (d->crlf_cr && c->data[off] == '\n') {
			d->msg.bytes++;
			rd_value_done(s, d, c->dir, emit, ctx);
			return off + 1;
		} else {
			rd_lose(s, d, c->dir, 0, emit, ctx);
			return c->len;
		}
		d->msg.bytes++;
		return off + 1;
	default:
		return c->len;
	}
}

static void rd_feed(void *state, const struct zt_seg *seg, zt_emit_fn emit, void *ctx)
{
	struct rd_state *s = state;

	if (seg->dir > ZT_DIR_INGRESS)
		return;
	struct rd_dir *d = &s->d[seg->dir];
	struct rd_cur c = {
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
		int k = c.cap ? rd_classify(seg->data, c.cap) : RD_C_NONE;

		if (s->req_dir < 0) {
			/* the first message start decides which side asks */
			if (k == RD_C_REQ_KNOWN || k == RD_C_REQ || k == RD_C_INLINE)
				s->req_dir = (int8_t)seg->dir;
			else if (k == RD_C_RESP)
				s->req_dir = (int8_t)!seg->dir;
			else if (k == RD_C_MORE && c.cap)
				/* too short to tell: arrays and words are
				 * requests, other types replies */
				s->req_dir =
				    (int8_t)(seg->data[0] == '*' || !rd_is_type(seg->data[0]) ? seg->dir
											      : !seg->dir);
			else
				return; /* wait for a start that tells */
		}
		if (d->in_msg)
			zt_msg_extend(&d->msg, seg);
		if (d->st == RD_S_LOST) {
			bool ok = rd_is_req(s, seg->dir)
				      ? (k == RD_C_REQ_KNOWN || k == RD_C_REQ || k == RD_C_INLINE)
				      : (k == RD_C_RESP || k == RD_C_REQ || k == RD_C_REQ_KNOWN);
			if (!rd_is_req(s, seg->dir) && !s->fifo_n)
				return; /* no request pending: the rest of a lost reply */
			bool more = k == RD_C_MORE && c.cap == c.len;
			if (!ok && !more)
				return;
			rd_dir_reset(d, RD_S_TYPE);
			d->tentative = more;
		}
		while (off < c.len && d->st != RD_S_LOST) {
			uint8_t st = d->st;
			uint64_t next = rd_step(s, d, &c, off, emit, ctx);
			/* a step may consume nothing only to change state
			 * (an inline command's first byte) */
			if (next < off || (next == off && d->st == st))
				break; /* no progress: a bug, but never a hang */
			off = next;
		}
	}
	if (seg->eof)
		rd_dir_reset(d, d->st == RD_S_LOST ? RD_S_LOST : RD_S_TYPE);
}

static void rd_finish(void *state, uint64_t now_ns, zt_emit_fn emit, void *ctx)
{
	struct rd_state *s = state;

	/* RESP messages end by their lengths: a partial one says nothing */
	for (int i = 0; i < 2; i++)
		rd_dir_reset(&s->d[i], RD_S_TYPE);
}

/* ---- redaction ------------------------------------------------------- */

static void rd_redact_msg(struct zt_msg *m)
{
	if (zt_ieq(m->request_type, strlen(m->request_type), "auth") ||
	    zt_ieq(m->request_type, strlen(m->request_type), "hello"))
		m->request_resource[0] = '\0';
}

const struct zt_proto_ops zt_redis_ops = {
    .id = ZT_L7_REDIS,
    .name = "Redis",
    .infer = rd_infer,
    .state_size = sizeof(struct rd_state),
    .init = rd_init,
    .feed = rd_feed,
    .finish = rd_finish,
    .first_kind = rd_first_kind,
    .redact_msg = rd_redact_msg,
    .redact_payload = rd_redact_payload,
};
