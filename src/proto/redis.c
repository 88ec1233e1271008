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
 * Not handled (documented): RESP3 streamed strings/aggregates ($?, *?) lose
 * sync; CLIENT REPLY OFF/SKIP (requests without replies) misalign pairing
 * until the next close.
 */
#include "proto/proto.h"
#include "bpf/events.h"

#include <stdlib.h>
#include <string.h>

#include "util/text.h"

#define RD_DEPTH 16          /* nesting levels followed; deeper loses sync */
#define RD_LINE 600          /* header/inline line bytes kept (longer: counted) */
#define RD_NUM_LINE 24       /* longest length/count line accepted */
#define RD_MAX_BULK (1ull << 32) /* proto-max-bulk-len is 512 MB by default */
#define RD_MAX_AGG (1ull << 31)
#define RD_CMD 40            /* command / subcommand bytes kept */
#define RD_FIFO 64           /* pending requests remembered */
#define RD_WORD 16           /* first element of a reply, for pub/sub */

enum rd_st {
	RD_S_TYPE = 0, /* a value's type byte (or between messages: !in_msg) */
	RD_S_LINE,     /* the rest of a line, gathered in line[] */
	RD_S_BULK,     /* brem body bytes of a bulk string */
	RD_S_CRLF,     /* the CRLF after a bulk body; crlf_left bytes */
	RD_S_LOST,     /* out of sync until a segment starts like RESP */
};

/* Command flags (rd_cmds). */
enum {
	RD_F_TWO = 1 << 0,     /* two-word command: CONFIG GET, CLIENT SETNAME */
	RD_F_NOKEY = 1 << 1,   /* no key argument: resource stays empty */
	RD_F_SECRET = 1 << 2,  /* arguments are secrets: never captured */
	RD_F_KEY3 = 1 << 3,    /* MIGRATE host port KEY ... */
	RD_F_SUB = 1 << 4,     /* SUBSCRIBE family: N confirmations */
	RD_F_UNSUB = 1 << 5,   /* UNSUBSCRIBE family */
	RD_F_MONITOR = 1 << 6, /* MONITOR: a stream follows its +OK */
	RD_F_HELLO = 1 << 7,   /* HELLO protover [AUTH user pass] [SETNAME n] */
	RD_F_SELECT = 1 << 8,  /* SELECT db: the connection's database */
	RD_F_RESET = 1 << 9,   /* RESET: back to database 0 */
};

/* Known commands, sorted (bsearch), lowercase. Inference is sure of these. */
static const struct rd_cmd {
	const char *name;
	uint16_t flags;
} rd_cmds[] = {
    {"acl", RD_F_TWO},	{"append", 0},	{"asking", RD_F_NOKEY},
    {"auth", RD_F_SECRET | RD_F_NOKEY},	{"bgrewriteaof", RD_F_NOKEY},
    {"bgsave", RD_F_NOKEY},	{"bitcount", 0},	{"bitfield", 0},	{"bitop", 0},
    {"bitpos", 0},	{"blmove", 0},	{"blpop", 0},	{"brpop", 0},	{"brpoplpush", 0},
    {"bzpopmax", 0},	{"bzpopmin", 0},	{"client", RD_F_TWO},	{"cluster", RD_F_TWO},
    {"command", RD_F_TWO},	{"config", RD_F_TWO},	{"copy", 0},	{"dbsize", RD_F_NOKEY},
    {"debug", RD_F_TWO},	{"decr", 0},	{"decrby", 0},	{"del", 0},
    {"discard", RD_F_NOKEY},	{"dump", 0},	{"echo", RD_F_NOKEY},	{"eval", 0},
    {"eval_ro", 0},	{"evalsha", 0},	{"evalsha_ro", 0},	{"exec", RD_F_NOKEY},
    {"exists", 0},	{"expire", 0},	{"expireat", 0},	{"expiretime", 0},
    {"fcall", 0},	{"flushall", RD_F_NOKEY},	{"flushdb", RD_F_NOKEY},
    {"function", RD_F_TWO},	{"geoadd", 0},	{"geodist", 0},	{"geohash", 0},
    {"geopos", 0},	{"georadius", 0},	{"geosearch", 0},	{"get", 0},
    {"getbit", 0},	{"getdel", 0},	{"getex", 0},	{"getrange", 0},	{"getset", 0},
    {"hdel", 0},	{"hello", RD_F_HELLO | RD_F_NOKEY},	{"hexists", 0},	{"hget", 0},
    {"hgetall", 0},	{"hincrby", 0},	{"hincrbyfloat", 0},	{"hkeys", 0},	{"hlen", 0},
    {"hmget", 0},	{"hmset", 0},	{"hrandfield", 0},	{"hscan", 0},	{"hset", 0},
    {"hsetnx", 0},	{"hstrlen", 0},	{"hvals", 0},	{"incr", 0},	{"incrby", 0},
    {"incrbyfloat", 0},	{"info", RD_F_NOKEY},	{"keys", 0},	{"lastsave", RD_F_NOKEY},
    {"latency", RD_F_TWO},	{"lindex", 0},	{"linsert", 0},	{"llen", 0},	{"lmove", 0},
    {"lmpop", 0},	{"lpop", 0},	{"lpos", 0},	{"lpush", 0},	{"lpushx", 0},
    {"lrange", 0},	{"lrem", 0},	{"lset", 0},	{"ltrim", 0},	{"memory", RD_F_TWO},
    {"mget", 0},	{"migrate", RD_F_KEY3},	{"module", RD_F_TWO},
    {"monitor", RD_F_MONITOR | RD_F_NOKEY},	{"move", 0},	{"mset", 0},	{"msetnx", 0},
    {"multi", RD_F_NOKEY},	{"object", RD_F_TWO},	{"persist", 0},	{"pexpire", 0},
    {"pexpireat", 0},	{"pfadd", 0},	{"pfcount", 0},	{"pfmerge", 0},
    {"ping", RD_F_NOKEY},	{"psetex", 0},	{"psubscribe", RD_F_SUB},	{"psync", RD_F_NOKEY},
    {"pttl", 0},	{"publish", 0},	{"pubsub", RD_F_TWO},	{"punsubscribe", RD_F_UNSUB},
    {"quit", RD_F_NOKEY},	{"randomkey", RD_F_NOKEY},	{"readonly", RD_F_NOKEY},
    {"readwrite", RD_F_NOKEY},	{"rename", 0},	{"renamenx", 0},	{"replicaof", RD_F_NOKEY},
    {"reset", RD_F_NOKEY | RD_F_RESET},	{"restore", 0},	{"role", RD_F_NOKEY},	{"rpop", 0},
    {"rpoplpush", 0},	{"rpush", 0},	{"rpushx", 0},	{"sadd", 0},	{"save", RD_F_NOKEY},
    {"scan", 0},	{"scard", 0},	{"script", RD_F_TWO},	{"sdiff", 0},	{"sdiffstore", 0},
    {"select", RD_F_NOKEY | RD_F_SELECT},	{"set", 0},	{"setbit", 0},	{"setex", 0},	{"setnx", 0},
    {"setrange", 0},	{"shutdown", RD_F_NOKEY},	{"sinter", 0},	{"sintercard", 0},
    {"sinterstore", 0},	{"sismember", 0},	{"slaveof", RD_F_NOKEY},	{"slowlog", RD_F_TWO},
    {"smembers", 0},	{"smismember", 0},	{"smove", 0},	{"sort", 0},	{"spop", 0},
    {"spublish", 0},	{"srandmember", 0},	{"srem", 0},	{"sscan", 0},
    {"ssubscribe", RD_F_SUB},	{"strlen", 0},	{"subscribe", RD_F_SUB},	{"sunion", 0},
    {"sunionstore", 0},	{"sunsubscribe", RD_F_UNSUB},	{"swapdb", RD_F_NOKEY},
    {"sync", RD_F_NOKEY},	{"time", RD_F_NOKEY},	{"touch", 0},	{"ttl", 0},	{"type", 0},
    {"unlink", 0},	{"unsubscribe", RD_F_UNSUB},	{"unwatch", RD_F_NOKEY},
    {"wait", RD_F_NOKEY},	{"watch", 0},	{"xack", 0},	{"xadd", 0},	{"xautoclaim", 0},
    {"xclaim", 0},	{"xdel", 0},	{"xgroup", RD_F_TWO},	{"xinfo", RD_F_TWO},
    {"xlen", 0},	{"xpending", 0},	{"xrange", 0},	{"xread", 0},	{"xreadgroup", 0},
    {"xrevrange", 0},	{"xtrim", 0},	{"zadd", 0},	{"zcard", 0},	{"zcount", 0},
    {"zdiff", 0},	{"zincrby", 0},	{"zinter", 0},	{"zinterstore", 0},	{"zlexcount", 0},
    {"zmscore", 0},	{"zpopmax", 0},	{"zpopmin", 0},	{"zrandmember", 0},	{"zrange", 0},
    {"zrangebylex", 0},	{"zrangebyscore", 0},	{"zrank", 0},	{"zrem", 0},
    {"zremrangebyrank", 0},	{"zremrangebyscore", 0},	{"zrevrange", 0},
    {"zrevrangebyscore", 0},	{"zrevrank", 0},	{"zscan", 0},	{"zscore", 0},
    {"zunion", 0},	{"zunionstore", 0},
};

static int rd_cmd_cmp(const char *p, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char a = zt_lower((unsigned char)p[i]), b = (unsigned char)name[i];
		if (b == 0 || a != b)
			return b == 0 ? 1 : (int)a - (int)b;
	}
	return name[n] ? -1 : 0;
}

static const struct rd_cmd *rd_cmd_find(const char *p, size_t n)
{
	size_t lo = 0, hi = sizeof(rd_cmds) / sizeof(rd_cmds[0]);

	if (n == 0 || n >= RD_CMD)
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = rd_cmd_cmp(p, n, rd_cmds[mid].name);
		if (c == 0)
			return &rd_cmds[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* ---- what a message start looks like --------------------------------- */

static bool rd_is_type(unsigned char c)
{
	return c && strchr("+-:$*_,#!=(%~>|", c) != NULL;
}

/* Decimal digits of buf[i..) up to CRLF: the value in *v (with a leading
 * '-' for "-1" only). Returns the index after LF, 0 when the bytes run out,
 * -1 when malformed. */
static long rd_num_line_any(const uint8_t *buf, size_t len, size_t i, int64_t *v, bool any_neg)
{
	size_t s = i;
	bool neg = false;
	uint64_t n = 0;

	if (i < len && buf[i] == '-') {
		neg = true;
		i++;
	}
	while (i < len && buf[i] >= '0' && buf[i] <= '9') {
		n = n * 10 + (uint64_t)(buf[i] - '0');
		if (++i - s > 12)
			return -1;
	}
	if (i >= len)
		return 0;
	if (i == s + neg || buf[i] != '\r')
		return -1;
	if (++i >= len)
		return 0;
	if (buf[i] != '\n')
		return -1;
	if (neg && n != 1 && !any_neg)
		return -1;
	*v = neg ? -(int64_t)n : (int64_t)n;
	return (long)(i + 1);
}

/* Lengths and counts: digits, or "-1" (null). */
static long rd_num_line(const uint8_t *buf, size_t len, size_t i, int64_t *v)
{
	return rd_num_line_any(buf, len, i, v, false);
}

static bool rd_cmd_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '_' || c == '.' || c == '|';
}

enum { RD_C_NONE = 0, RD_C_REQ_KNOWN, RD_C_REQ, RD_C_INLINE, RD_C_RESP, RD_C_MORE };

/* What the bytes at a message start are. */
static int rd_classify(const uint8_t *buf, size_t len)
{
	int64_t n, l;
	long i;

	if (len == 0)
		return RD_C_MORE;
	if (buf[0] == '*') {
		i = rd_num_line(buf, len, 1, &n);
		if (i <= 0)
			return i == 0 ? RD_C_MORE : RD_C_NONE;
		if (n == -1)
			return RD_C_RESP; /* null array */
		if (n == 0 || (size_t)i >= len)
			return n == 0 ? RD_C_RESP : RD_C_MORE;
		if (buf[i] != '$')
			return rd_is_type(buf[i]) ? RD_C_RESP : RD_C_NONE;
		long j = rd_num_line(buf, len, (size_t)i + 1, &l);
		if (j <= 0)
			return j == 0 ? RD_C_MORE : RD_C_NONE;
		if (l < 0)
			return RD_C_RESP; /* a null element: a reply */
		if ((uint64_t)l > len - (size_t)j)
			return RD_C_MORE;
		if (l == 0 || l >= RD_CMD)
			return RD_C_RESP;
		for (int64_t k = 0; k < l; k++)
			if (!rd_cmd_byte(buf[j + k]))
				return RD_C_RESP;
		if ((size_t)(j + l) + 2 > len)
			return RD_C_MORE;
		if (buf[j + l] != '\r' || buf[j + l + 1] != '\n')
			return RD_C_NONE;
		return rd_cmd_find((const char *)buf + j, (size_t)l) ? RD_C_REQ_KNOWN : RD_C_REQ;
	}
	if (rd_is_type(buf[0])) {
		/* a reply: its first line must be well formed */
		size_t k = 1;
		while (k < len && k < RD_LINE && buf[k] != '\r' && buf[k] != '\n')
			k++;
		if (k >= len)
			return RD_C_MORE;
		if (buf[k] == '\r' && k + 1 >= len)
			return RD_C_MORE;
		if (buf[k] != '\r' || buf[k + 1] != '\n')
			return RD_C_NONE;
		switch (buf[0]) {
		case ':':
			return rd_num_line_any(buf, len, 1, &n, true) > 0 ? RD_C_RESP : RD_C_NONE;
		case '$':
		case '%':
		case '~':
		case '>':
		case '|':
		case '!':
		case '=':
		case '(':
			return rd_num_line(buf, len, 1, &n) > 0 ? RD_C_RESP : RD_C_NONE;
		case '_':
			return k == 1 ? RD_C_RESP : RD_C_NONE;
		case '#':
			return k == 2 && (buf[1] == 't' || buf[1] == 'f') ? RD_C_RESP : RD_C_NONE;
		case '+':
		case '-':
			return k > 1 ? RD_C_RESP : RD_C_NONE;
		default:
			return k > 1 ? RD_C_RESP : RD_C_NONE;
		}
	}
	/* an inline command: a known word, then space or CRLF */
	size_t w = 0;
	while (w < len && w < RD_CMD && rd_cmd_byte(buf[w]))
		w++;
	if (w >= len)
		return RD_C_MORE;
	if (w == 0 || (buf[w] != ' ' && buf[w] != '\r') || !rd_cmd_find((const char *)buf, w))
		return RD_C_NONE;
	for (size_t k = w; k < len; k++) {
		if (buf[k] == '\n') {
			/* "GET /x HTTP/1.1" is HTTP's */
			if (k >= 10 && memcmp(buf + k - 10, " HTTP/1.", 8) == 0)
				return RD_C_NONE;
			return k > 0 && buf[k - 1] == '\r' ? RD_C_INLINE : RD_C_NONE;
		}
		if (buf[k] < 0x20 && buf[k] != '\r' && buf[k] != '\t')
			return RD_C_NONE;
	}
	return RD_C_MORE;
}

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
	uint16_t flags;  /* RD_F_SUB / _UNSUB / _MONITOR / _SELECT / _RESET of the command */
	int32_t db;      /* SELECT: the database it asks for */
	bool answered;   /* its first confirmation was emitted */
	uint32_t expect; /* confirmations due (channels); 0: unknown */
	uint32_t seen;
};

struct rd_dir {
	uint8_t st;       /* enum rd_st */
	bool in_msg;      /* msg begun */
	uint8_t ltype;    /* type byte of the line being read; 'I': inline */
	uint8_t depth;    /* current nesting level; 0: the top */
	uint8_t ttype;    /* type of the top-level value (after attributes) */
	bool line_over;   /* the line was longer than line[] */
	char lastc;       /* last line byte before the LF (the CR) */
	bool crlf_cr;     /* RD_S_CRLF: CR seen */
	bool tentative;   /* resyncing on a segment too short to tell: its first
			   * line must start a message, else lost again */
	uint16_t cmd_flags;
	uint8_t want;     /* what the current string element is captured into */
	uint16_t llen;
	uint16_t cmdlen, sublen, wlen;
	uint32_t reslen;
	uint64_t n1;      /* element count of the top-level aggregate */
	uint64_t brem;    /* RD_S_BULK: body bytes left */
	int64_t r2;       /* reply: the integer at index 2 (subscription count) */
	uint32_t ridx;    /* request: index of the key argument; 0: none */
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
	int8_t req_dir;  /* direction carrying requests; -1 unknown */
	bool subscribed; /* RESP2 pub/sub mode: message arrays are pushes */
	bool monitoring; /* MONITOR answered: simple strings are its stream */
	bool resp3;      /* HELLO 3 seen or a RESP3-only type */
	int32_t db;      /* database after an answered SELECT; -1: unknown (a
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
	struct rd_pend p = {.flags = d->cmd_flags & (RD_F_SUB | RD_F_UNSUB | RD_F_MONITOR | RD_F_SELECT | RD_F_RESET),
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
	static const char *const server[] = {"LOADING",	 "BUSY",      "MASTERDOWN", "MISCONF", "OOM",
					     "NOREPLICAS", "CLUSTERDOWN", "TRYAGAIN",  "READONLY", "NOTBUSY"};
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
	static const char *const confirms[] = {"subscribe",  "psubscribe",  "ssubscribe",  "unsubscribe",
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
			d->msg.status = d->ttype == '-' ? rd_error_class(d->msg.response_exception) : ZT_RS_UNKNOWN;
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
			while (off < c->cap && rd_is_req(s, c->dir) && (c->data[off] == '\r' || c->data[off] == '\n'))
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
			}
			else
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
				s->req_dir = (int8_t)(seg->data[0] == '*' || !rd_is_type(seg->data[0]) ? seg->dir
												: !seg->dir);
			else
				return; /* wait for a start that tells */
		}
		if (d->in_msg)
			zt_msg_extend(&d->msg, seg);
		if (d->st == RD_S_LOST) {
			bool ok = rd_is_req(s, seg->dir) ? (k == RD_C_REQ_KNOWN || k == RD_C_REQ || k == RD_C_INLINE)
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

static size_t rd_mask(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = '*';
	return n;
}

/* Masks the secret arguments of AUTH, HELLO ... AUTH u p, MIGRATE ... AUTH p
 * / AUTH2 u p, CONFIG SET requirepass|masterauth P, ACL SETUSER's >pass
 * and #hash rules, in every RESP command array (or inline AUTH) that starts a
 * message from buf[0] on; stops at the first bytes that are not one. The
 * bytes of a secret past len are simply not there. */
static size_t rd_redact_payload(uint8_t *buf, size_t len)
{
	size_t i = 0, done = 0;

	if (!buf)
		return 0;
	while (i < len) {
		int64_t argc, l;
		long j;

		if (buf[i] != '*') {
			/* inline AUTH password */
			if (len - i > 5 && zt_ieq((const char *)buf + i, 4, "auth") && buf[i + 4] == ' ') {
				size_t k = i + 5;
				while (k < len && buf[k] != '\r' && buf[k] != '\n')
					k++;
				done += rd_mask(buf + i + 5, k - i - 5);
			}
			return done;
		}
		j = rd_num_line(buf, len, i + 1, &argc);
		if (j <= 0 || argc <= 0)
			return done;
		i = (size_t)j;
		int kind = 0;      /* 1 AUTH, 2 HELLO, 3 MIGRATE, 4 CONFIG, 5 ACL */
		int64_t mask_n = 0; /* arguments still to mask */
		for (int64_t a = 0; a < argc; a++) {
			if (i >= len || buf[i] != '$')
				return done;
			j = rd_num_line(buf, len, i + 1, &l);
			if (j <= 0 || l < 0)
				return done;
			i = (size_t)j;
			size_t have = len - i < (uint64_t)l ? len - i : (size_t)l;
			const char *p = (const char *)buf + i;
			if (a == 0) {
				if (zt_ieq(p, have, "auth")) {
					kind = 1;
					mask_n = argc;
				} else if (zt_ieq(p, have, "hello")) {
					kind = 2;
				} else if (zt_ieq(p, have, "migrate")) {
					kind = 3;
				} else if (zt_ieq(p, have, "config")) {
					kind = 4;
				} else if (zt_ieq(p, have, "acl")) {
					kind = 5;
				}
			} else if (mask_n > 0) {
				done += rd_mask(buf + i, have);
				mask_n--;
			} else if (kind == 2 && zt_ieq(p, have, "auth")) {
				mask_n = 2;
			} else if (kind == 3 && zt_ieq(p, have, "auth")) {
				mask_n = 1;
			} else if (kind == 3 && zt_ieq(p, have, "auth2")) {
				mask_n = 2;
			} else if (kind == 4 && a >= 2 && (zt_ieq(p, have, "requirepass") ||
							   zt_ieq(p, have, "masterauth"))) {
				mask_n = 1; /* CONFIG SET requirepass PASSWORD */
			} else if (kind == 5 && a >= 3 && have && strchr("><#!", p[0])) {
				/* ACL SETUSER u >password #hash */
				done += rd_mask(buf + i + 1, have - 1);
			}
			if ((uint64_t)l > len - i)
				return done;
			i += (size_t)l;
			if (len - i < 2)
				return done;
			i += 2;
		}
	}
	return done;
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
