/* SPDX-License-Identifier: MIT */
/*
 * mysql_sql.c - the MySQL parser's text helpers: SQL normalisation, the
 * first keyword, the error-class split, and redaction of authentication
 * data in raw payloads. All of them read only [0, n) of their input.
 */
#include "proto/mysql.h"
#include "model/span.h"

#include <stdio.h>
#include <string.h>

#include "util/text.h"

static bool my_is_ident(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
	       c == '$' || c >= 0x80;
}

static bool my_is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* Skips a comment at i, if one starts there; returns the index after it
 * (n when it runs to the end) or i. */
static size_t my_skip_comment(const char *s, size_t n, size_t i)
{
	if (i + 1 < n && s[i] == '/' && s[i + 1] == '*') {
		for (i += 2; i + 1 < n; i++)
			if (s[i] == '*' && s[i + 1] == '/')
				return i + 2;
		return n;
	}
	if (s[i] == '#' ||
	    (i + 2 < n && s[i] == '-' && s[i + 1] == '-' && my_is_space((unsigned char)s[i + 2])) ||
	    (i + 2 == n && s[i] == '-' && s[i + 1] == '-')) {
		while (i < n && s[i] != '\n')
			i++;
		return i;
	}
	return i;
}

/* Skips a quoted literal starting at s[i] (the quote); backslash escapes
 * and doubled quotes stay inside. Returns the index after the closing
 * quote, or n. */
static size_t my_skip_quoted(const char *s, size_t n, size_t i)
{
	char q = s[i];

	for (i++; i < n; i++) {
		if (s[i] == '\\' && q != '`') {
			i++;
			continue;
		}
		if (s[i] == q) {
			if (i + 1 < n && s[i + 1] == q) {
				i++;
				continue;
			}
			return i + 1;
		}
	}
	return n;
}

size_t zt_mysql_normalize(const char *s, size_t n, char *out, size_t outsz, bool *cut)
{
	size_t i = 0, o = 0;
	bool space = false; /* a blank is owed before the next token */

	*cut = false;
	if (outsz == 0)
		return 0;
#define PUT(c)                                                                                               \
	do {                                                                                                 \
		if (o + 1 >= outsz) {                                                                        \
			*cut = true;                                                                         \
			goto out;                                                                            \
		}                                                                                            \
		out[o++] = (char)(c);                                                                        \
	} while (0)
#define TOKEN()                                                                                              \
	do {                                                                                                 \
		if (space && o > 0)                                                                          \
			PUT(' ');                                                                            \
		space = false;                                                                               \
	} while (0)
	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		size_t j;

		if (my_is_space(c) || c < 0x20 || c == 0x7f) {
			space = true;
			i++;
			continue;
		}
		if ((j = my_skip_comment(s, n, i)) != i) {
			space = true;
			i = j;
			continue;
		}
		if (c == '\'' || c == '"') {
			TOKEN();
			PUT('?');
			i = my_skip_quoted(s, n, i);
			continue;
		}
		if (c == '`') {
			TOKEN();
			j = my_skip_quoted(s, n, i);
			for (size_t k = i; k < j; k++)
				PUT((unsigned char)s[k] < 0x20 ? '?' : s[k]);
			i = j;
			continue;
		}
		/* X'0A', B'01', N'text': a literal with a one-letter prefix */
		if ((c | 0x20) == 'x' || (c | 0x20) == 'b' || (c | 0x20) == 'n') {
			if (i + 1 < n && s[i + 1] == '\'' &&
			    (i == 0 || !my_is_ident((unsigned char)s[i - 1]))) {
				TOKEN();
				PUT('?');
				i = my_skip_quoted(s, n, i + 1);
				continue;
			}
		}
		if ((c >= '0' && c <= '9') || (c == '.' && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9' &&
					       (i == 0 || !my_is_ident((unsigned char)s[i - 1])))) {
			if (i > 0 && my_is_ident((unsigned char)s[i - 1])) {
				/* part of an identifier: t1, col2 */
				PUT(c);
				i++;
				continue;
			}
			TOKEN();
			PUT('?');
			/* 12, 1.5e-3, 0x1F */
			while (i < n) {
				unsigned char d = (unsigned char)s[i];
				if ((d | 0x20) == 'e' && i + 1 < n && (s[i + 1] == '-' || s[i + 1] == '+')) {
					i += 2;
					continue;
				}
				if (!(my_is_ident(d) || d == '.'))
					break;
				i++;
			}
			continue;
		}
		TOKEN();
		PUT(c);
		i++;
	}
out:
	out[o] = '\0';
	return o;
#undef PUT
#undef TOKEN
}

size_t zt_mysql_keyword(const char *s, size_t n, char *out, size_t outsz)
{
	size_t i = 0, o = 0, j;

	if (outsz == 0)
		return 0;
	while (i < n) {
		if (my_is_space((unsigned char)s[i]) || s[i] == '(') {
			i++;
			continue;
		}
		if ((j = my_skip_comment(s, n, i)) != i) {
			i = j;
			continue;
		}
		break;
	}
	while (i < n && o + 1 < outsz) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'))
			break;
		out[o++] = (char)(c & ~0x20 & 0xff);
		if (c == '_')
			out[o - 1] = '_';
		i++;
	}
	out[o] = '\0';
	return o;
}

/* Finds word w (upper case) as a whole word in s[0..n), outside quotes;
 * returns the index after it or n. */
static size_t my_find_word(const char *s, size_t n, const char *w)
{
	size_t wl = strlen(w);

	for (size_t i = 0; i + wl <= n; i++) {
		if (s[i] == '\'' || s[i] == '"' || s[i] == '`') {
			i = my_skip_quoted(s, n, i) - 1;
			continue;
		}
		if ((i > 0 && my_is_ident((unsigned char)s[i - 1])) ||
		    (i + wl < n && my_is_ident((unsigned char)s[i + wl])))
			continue;
		size_t k = 0;
		while (k < wl && (unsigned char)(s[i + k] & ~0x20) == (unsigned char)w[k])
			k++;
		if (k == wl)
			return i + wl;
	}
	return n;
}

size_t zt_mysql_endpoint(const char *type, const char *sql, char *out, size_t outsz)
{
	static const struct {
		const char *kw, *after;
	} t[] = {
	    {"SELECT", "FROM"},	  {"DELETE", "FROM"}, {"INSERT", "INTO"},    {"REPLACE", "INTO"},
	    {"UPDATE", "UPDATE"}, {"CALL", "CALL"},   {"TRUNCATE", "TABLE"},
	};
	char kw[ZT_TYPE_LEN];
	size_t n = strlen(sql), o, i;

	if (outsz == 0)
		return 0;
	/* COM_STMT_*: the prepared statement's own first keyword */
	if (!zt_mysql_keyword(sql, n, kw, sizeof(kw)))
		memcpy(kw, "", 1);
	o = (size_t)snprintf(out, outsz, "%s", type);
	if (o >= outsz)
		return outsz - 1;
	for (size_t k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
		if (strcmp(kw, t[k].kw) != 0)
			continue;
		i = my_find_word(sql, n, t[k].after);
		while (i < n && sql[i] == ' ')
			i++;
		size_t b = i;
		while (i < n && (my_is_ident((unsigned char)sql[i]) || sql[i] == '.' || sql[i] == '`'))
			i++;
		if (i > b && o + 1 + (i - b) < outsz) {
			out[o++] = ' ';
			memcpy(out + o, sql + b, i - b);
			o += i - b;
			out[o] = '\0';
		}
		break;
	}
	return o;
}

/* Statements a client opens a COM_QUERY / COM_STMT_PREPARE with. */
static const char *const my_keywords[] = {
    "SELECT",  "INSERT",  "UPDATE",   "DELETE",	  "REPLACE", "SET",	  "SHOW",	"USE",
    "CREATE",  "DROP",	  "ALTER",    "BEGIN",	  "START",   "COMMIT",	  "ROLLBACK",	"CALL",
    "EXPLAIN", "DESC",	  "DESCRIBE", "WITH",	  "PREPARE", "EXECUTE",	  "DEALLOCATE", "LOCK",
    "UNLOCK",  "GRANT",	  "REVOKE",   "TRUNCATE", "LOAD",    "SAVEPOINT", "RELEASE",	"KILL",
    "FLUSH",   "ANALYZE", "OPTIMIZE", "CHECK",	  "REPAIR",  "RENAME",	  "HANDLER",	"DO",
    "XA",      "VALUES",  "TABLE",    "SIGNAL",	  "INSTALL", "UNINSTALL", "RESET",	"PURGE",
    "CHANGE",  "HELP",	  "CHECKSUM", "BINLOG",	  "CACHE",   "SHUTDOWN",
};

bool zt_mysql_looks_sql(const uint8_t *t, size_t n)
{
	char kw[ZT_TYPE_LEN];
	size_t k;

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (t[i] < 0x20 && t[i] != '\t' && t[i] != '\r' && t[i] != '\n')
			return false;
		if (t[i] == 0x7f)
			return false;
	}
	k = zt_mysql_keyword((const char *)t, n, kw, sizeof(kw));
	if (k == 0)
		return false;
	for (size_t i = 0; i < sizeof(my_keywords) / sizeof(my_keywords[0]); i++)
		if (strcmp(kw, my_keywords[i]) == 0)
			return true;
	return false;
}

/*
 * The split between the client's fault and the server's. MySQL error
 * numbers mix both; the SQLSTATE class tells most of it:
 *   server_error: the server could not serve a valid request: connection
 *     failures (class 08), transaction rollbacks (class 40: deadlock,
 *     serialization), and the HY000 "general" errors that are resource or
 *     server trouble: too many connections (1040), out of memory (1037,
 *     1038, 1041), disk full (1021), lock wait timeout (1205), deadlock
 *     (1213), shutdown in progress (1053), aborted connections (1152,
 *     1153-1161), storage-engine errors (1026, 1030), read-only server
 *     (1290, 1836), query interrupted (1317), XA rollback (1614).
 *   client_error: everything else: syntax and access (42xxx), missing
 *     objects (42S02), constraint violations (23xxx), bad data (22xxx),
 *     authentication (28000), and the remaining HY000 errors, which are
 *     mostly statement errors (unknown system variable, wrong arguments).
 */
uint8_t zt_mysql_err_class(uint16_t code, const char *st)
{
	static const uint16_t server_codes[] = {1021, 1026, 1030, 1037, 1038, 1040, 1041, 1053, 1152,
						1153, 1154, 1155, 1156, 1157, 1158, 1159, 1160, 1161,
						1205, 1213, 1290, 1317, 1614, 1836, 1927};

	if (st && ((st[0] == '0' && st[1] == '8') || (st[0] == '4' && st[1] == '0')))
		return ZT_RS_SERVER_ERROR;
	for (size_t i = 0; i < sizeof(server_codes) / sizeof(server_codes[0]); i++)
		if (code == server_codes[i])
			return ZT_RS_SERVER_ERROR;
	/* client library errors (2000-2999) never travel; a server that sends
	 * one is failing */
	if (code >= 2000 && code < 3000)
		return ZT_RS_SERVER_ERROR;
	return ZT_RS_CLIENT_ERROR;
}

/* ---- redaction ------------------------------------------------------- */

#define MY_CLIENT_PROTOCOL_41 0x00000200u
#define MY_CLIENT_SECURE_CONN 0x00008000u
#define MY_CLIENT_PLUGIN_AUTH_LENENC 0x00200000u

static size_t my_star(uint8_t *p, size_t n)
{
	memset(p, '*', n);
	return n;
}

/* Auth data of a HandshakeResponse41 payload p[0..n) (n captured bytes of
 * a payload of plen): returns bytes overwritten. */
static size_t my_redact_hsr(uint8_t *p, size_t n, uint32_t plen)
{
	uint32_t caps;
	size_t i;
	uint64_t alen;

	if (n < 33 || plen < 33)
		return 0;
	caps = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	if (!(caps & MY_CLIENT_PROTOCOL_41))
		return 0;
	for (i = 9; i < 28; i++) /* filler; MariaDB uses 28..31 for its capabilities */
		if (p[i] != 0)
			return 0;
	if ((p[4] | p[5] | p[6] | p[7]) == 0)
		return 0; /* max packet size: never 0 */
	/* user name: 1..320 text bytes (80 characters of UTF-8): this runs
	 * on every protocol's payloads, the shape must be tight */
	for (i = 32; i < n && p[i]; i++)
		if (p[i] < 0x20 || p[i] == 0x7f || i - 32 >= 320)
			return 0;
	if (i >= n || i == 32)
		return 0;
	i++;
	if (i >= n)
		return 0;
	if (caps & MY_CLIENT_PLUGIN_AUTH_LENENC) {
		if (p[i] < 0xfb) {
			alen = p[i];
			i += 1;
		} else if (p[i] == 0xfc && i + 2 < n) {
			alen = (uint64_t)p[i + 1] | (uint64_t)p[i + 2] << 8;
			i += 3;
		} else {
			return my_star(p + i, n - i); /* odd: redact all that follows */
		}
	} else if (caps & MY_CLIENT_SECURE_CONN) {
		alen = p[i++];
	} else {
		size_t e = i;
		while (e < n && p[e])
			e++;
		alen = e - i;
	}
	if (i >= n)
		return 0;
	if (alen > n - i)
		alen = n - i;
	return my_star(p + i, (size_t)alen);
}

/* COM_CHANGE_USER payload p[0..n): 0x11 user NUL auth-len auth ... */
static size_t my_redact_change_user(uint8_t *p, size_t n)
{
	size_t i = 1;
	uint64_t alen;

	while (i < n && p[i])
		i++;
	if (++i >= n)
		return 0;
	alen = p[i++]; /* CLIENT_SECURE_CONNECTION: every client since 4.1 */
	if (alen > n - i)
		alen = n - i;
	return my_star(p + i, (size_t)alen);
}

/* Whether p[0..n) is a whole OK packet payload: 0x00, two length-encoded
 * integers, status and warnings, then nothing or text (a random scramble
 * that starts with 0x00 passes this about once in 10^5). */
static bool my_ok_shape(const uint8_t *p, size_t n)
{
	size_t i = 1;

	if (n < 7 || p[0] != 0x00)
		return false;
	for (int k = 0; k < 2; k++) {
		if (p[i] < 0xfb)
			i += 1;
		else if (p[i] == 0xfc)
			i += 3;
		else if (p[i] == 0xfd)
			i += 4;
		else
			return false;
		if (i >= n)
			return false;
	}
	if (n - i < 4)
		return false;
	for (i += 4; i < n; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return false;
	return true;
}

size_t zt_mysql_redact(uint8_t *buf, size_t len)
{
	size_t off = 0, done = 0;

	if (!buf)
		return 0;
	/* A server reads the 4-byte header and the payload with two calls:
	 * a HandshakeResponse41 payload alone is recognised by its shape. */
	if (len >= 33 && buf[8] != 0)
		done += my_redact_hsr(buf, len, (uint32_t)len);
	while (done == 0 && len - off >= 5) {
		uint8_t *h = buf + off;
		uint32_t plen = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16;
		uint8_t seq = h[3];
		size_t cap = len - off - 4 < plen ? len - off - 4 : plen;

		if (plen == 0)
			break;
		if (seq == 1 && plen >= 33 && plen <= 0x10000)
			done += my_redact_hsr(h + 4, cap, plen);
		else if (seq == 0 && h[4] == 0x11 && plen <= 0x10000)
			done += my_redact_change_user(h + 4, cap);
		else if (off == 0 && seq >= 2 && seq <= 9 && plen + 4 == len && plen <= 1024 &&
			 !(h[4] == 0xff && plen >= 9 && h[7] == '#') &&
			 !(h[4] == 0x00 && plen >= 7 && h[5] == 0 && h[6] == 0 && h[9] == 0 && h[10] == 0) &&
			 !my_ok_shape(h + 4, plen))
			/* a lone packet of the auth exchange: AuthSwitchResponse,
			 * a clear or RSA-encrypted password. A first byte the
			 * server's auth packets start with (OK 0x00, more data
			 * 0x01, switch 0xfe, ERR 0xff) stays so that the parser
			 * still tells them apart: a printable password never
			 * starts so, a scramble leaks at most that byte. An ERR
			 * and an OK (0 rows, id 0, 0 warnings: 32 bits a
			 * scramble matches once in 4e9; or an OK whose info is
			 * text) are kept whole. LOCAL INFILE data packets sent
			 * one per call are starred too: file contents. */
			done += h[4] == 0x00 || h[4] == 0x01 || h[4] >= 0xfe ? my_star(h + 5, plen - 1)
									     : my_star(h + 4, plen);
		if ((uint64_t)plen + 4 > len - off)
			break;
		off += plen + 4;
	}
	return done;
}
