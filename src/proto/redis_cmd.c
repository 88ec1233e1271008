/* SPDX-License-Identifier: MIT */
/*
 * redis_cmd.c - the Redis parser's static knowledge: the command table
 * (inference is sure of known commands; flags say which argument is the
 * key, which are secrets, which commands change the connection's mode),
 * what a RESP message start looks like, and the redaction of secrets in
 * raw payloads. The streaming parser is redis.c.
 */
#include "proto/redis.h"

#include <string.h>

#include "util/text.h"

/* Known commands, sorted (bsearch), lowercase. Inference is sure of these. */
/* clang-format off */
static const struct rd_cmd rd_cmds[] = {
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
/* clang-format on */

static int rd_cmd_cmp(const char *p, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char a = zt_lower((unsigned char)p[i]), b = (unsigned char)name[i];
		if (b == 0 || a != b)
			return b == 0 ? 1 : (int)a - (int)b;
	}
	return name[n] ? -1 : 0;
}

const struct rd_cmd *rd_cmd_find(const char *p, size_t n)
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

bool rd_is_type(unsigned char c)
{
	return c && strchr("+-:$*_,#!=(%~>|", c) != NULL;
}

/* Decimal digits of buf[i..) up to CRLF: the value in *v (with a leading
 * '-' for "-1" only). Returns the index after LF, 0 when the bytes run out,
 * -1 when malformed. */
long rd_num_line_any(const uint8_t *buf, size_t len, size_t i, int64_t *v, bool any_neg)
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
long rd_num_line(const uint8_t *buf, size_t len, size_t i, int64_t *v)
{
	return rd_num_line_any(buf, len, i, v, false);
}

bool rd_cmd_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '_' || c == '.' || c == '|';
}

/* What the bytes at a message start are. */
int rd_classify(const uint8_t *buf, size_t len)
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

/* ---- redaction ------------------------------------------------------- */

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
size_t rd_redact_payload(uint8_t *buf, size_t len)
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
		int kind = 0;	    /* 1 AUTH, 2 HELLO, 3 MIGRATE, 4 CONFIG, 5 ACL */
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
			} else if (kind == 4 && a >= 2 &&
				   (zt_ieq(p, have, "requirepass") || zt_ieq(p, have, "masterauth"))) {
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
