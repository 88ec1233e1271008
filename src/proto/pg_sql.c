/* SPDX-License-Identifier: MIT */
/*
 * pg_sql.c - the PostgreSQL parser's byte and text helpers: inference of
 * frontend messages, SQL normalisation (literals -> '?'), the first keyword,
 * SQLSTATE classes, and redaction of the authentication messages in raw
 * payloads. See postgresql.h.
 *
 * The SQL is captured text: hostile, cut anywhere. Every loop is bounded by
 * n and every write by outsz.
 */
#include "proto/postgresql.h"
#include "model/span.h"

#include <stdbool.h>
#include <string.h>

static bool pg_is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool pg_is_ident(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
	       c == '$' || c >= 0x80;
}

static bool pg_is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* Skips a quoted string whose opening quote is at i; backslash escapes
 * count only in E'' strings. Returns the index after the closing quote, or
 * n when the text ends first. */
static size_t pg_skip_string(const char *s, size_t n, size_t i, bool esc)
{
	for (i++; i < n; i++) {
		if (esc && s[i] == '\\') {
			i++;
			continue;
		}
		if (s[i] == '\'') {
			if (i + 1 < n && s[i + 1] == '\'') {
				i++;
				continue;
			}
			return i + 1;
		}
	}
	return n;
}

/* $tag$ ... $tag$ starting at i (s[i] == '$'): the index after the closing
 * tag, n if unterminated, or 0 if s[i] does not open a dollar quote. */
static size_t pg_skip_dollar(const char *s, size_t n, size_t i)
{
	size_t t = i + 1;

	while (t < n && s[t] != '$' && pg_is_ident((unsigned char)s[t]))
		t++;
	if (t >= n || s[t] != '$')
		return 0;
	if (t > i + 1 && pg_is_digit((unsigned char)s[i + 1]))
		return 0;      /* $1$ is not a tag */
	size_t tl = t - i + 1; /* the tag with both dollars */
	for (size_t k = t + 1; k + tl <= n; k++)
		if (s[k] == '$' && memcmp(s + k, s + i, tl) == 0)
			return k + tl;
	return n;
}

static uint32_t pg_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t pg_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* ---- inference ---------------------------------------------------------- */

bool zt_pg_front_type(uint8_t t)
{
	return t && strchr("QPBDESCHFXdcfp", t);
}

/* Backend-only types: they say the bytes flow from the server. */
bool zt_pg_back_only_type(uint8_t t)
{
	return t && strchr("ZTRK123nIstGWVv", t);
}

/* Text a client would send as SQL: printable or UTF-8, tabs and newlines. */
static bool pg_text(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
			return false;
	return true;
}

/* A NUL-terminated string at p[*i..n): printable; advances past the NUL. */
static bool pg_cstr(const uint8_t *p, size_t n, size_t *i, size_t max)
{
	size_t s = *i;
	const uint8_t *z = s < n ? memchr(p + s, 0, n - s) : NULL;

	if (!z || (size_t)(z - p) - s > max || !pg_text(p + s, (size_t)(z - p) - s))
		return false;
	*i = (size_t)(z - p) + 1;
	return true;
}

static bool pg_sql_start(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r' || p[i] == '('))
		i++;
	if (i == n)
		return n > 0;
	uint8_t c = p[i] | 0x20;
	return (c >= 'a' && c <= 'z') || p[i] == '-' || p[i] == '/';
}

/* The structure of a whole Bind body b[0..n). */
static bool pg_bind_ok(const uint8_t *b, size_t n)
{
	size_t i = 0;

	if (!pg_cstr(b, n, &i, PG_NAME_LEN) || !pg_cstr(b, n, &i, PG_NAME_LEN) || n - i < 2)
		return false;
	size_t k = pg_be16(b + i);
	i += 2;
	if ((n - i) / 2 < k + 1)
		return false;
	i += 2 * k;
	size_t np = pg_be16(b + i);
	i += 2;
	for (size_t j = 0; j < np; j++) {
		if (n - i < 4)
			return false;
		uint32_t l = pg_be32(b + i);
		i += 4;
		if (l == 0xffffffffu)
			continue;
		if (l > n - i)
			return false;
		i += l;
	}
	if (n - i < 2)
		return false;
	k = pg_be16(b + i);
	i += 2;
	return (n - i) == 2 * k;
}

/* Confidence that buf starts a frontend message: the startup packets, or
 * Q, P, B (the others are ambiguous with backend types). A whole first
 * message must be exactly what its type says, and what follows it must
 * start another frontend message. */
int zt_pg_infer_front(const uint8_t *buf, size_t len)
{
	if (!buf || len < 5)
		return 0;
	if (len >= 8 && buf[0] == 0) {
		uint32_t l = pg_be32(buf), code = pg_be32(buf + 4);
		if ((code == PG_CODE_SSL || code == PG_CODE_GSS) && l == 8 && len == 8)
			return 95;
		if (code == PG_CODE_CANCEL && l == 16 && len == 16)
			return 90;
		if (code >> 16 == 3 && (code & 0xffff) < 16 && l > 8 && l <= PG_STARTUP_MAX) {
			size_t n = len < l ? len : l;
			if (memmem(buf + 8, n - 8, "user\0", 5) == NULL)
				return 0;
			for (size_t i = 8; i < n; i++)
				if (buf[i] && buf[i] < 0x20)
					return 0;
			if (len >= l)
				return buf[l - 1] == 0 && buf[l - 2] == 0 ? 95 : 0;
			return 80;
		}
		return 0;
	}
	uint8_t t = buf[0];
	uint32_t l = pg_be32(buf + 1);
	if (l < 4 || l > PG_MAX_LEN)
		return 0;
	size_t end = (size_t)l + 1, n = end <= len ? end : len; /* captured part */
	const uint8_t *b = buf + 5;
	size_t bn = n - 5;
	size_t i = 0;
	int conf;

	switch (t) {
	case 'Q':
		if (l < 5)
			return 0;
		if (end <= len) {
			if (b[bn - 1] != 0 || !pg_text(b, bn - 1) || !pg_sql_start(b, bn - 1))
				return 0;
			conf = 85;
		} else {
			/* SQL longer than the capture: the prefix must be long
			 * enough to judge */
			if (len < 256 || !pg_text(b, bn) || !pg_sql_start(b, bn))
				return 0;
			return 65;
		}
		break;
	case 'P':
		if (end > len || !pg_cstr(b, bn, &i, PG_NAME_LEN))
			return 0;
		size_t q = i;
		if (!pg_cstr(b, bn, &i, bn) || !pg_sql_start(b + q, i - q - 1) || bn - i < 2 ||
		    bn - i - 2 != 4u * pg_be16(b + i))
			return 0;
		conf = 85;
		break;
	case 'B':
		if (end > len || !pg_bind_ok(b, bn))
			return 0;
		conf = 80;
		break;
	default:
		return 0;
	}
	if (end == len)
		return conf;
	/* another message follows: its header must be a frontend one */
	if (len - end < 5)
		return conf - 10;
	uint32_t l2 = pg_be32(buf + end + 1);
	return zt_pg_front_type(buf[end]) && buf[end] != 'p' && l2 >= 4 && l2 <= PG_MAX_LEN ? conf : 0;
}

size_t zt_pg_normalize(const char *s, size_t n, char *out, size_t outsz)
{
	size_t i = 0, o = 0;
	bool space = false;

	if (!outsz)
		return 0;
#define PUT(ch)                                                                                              \
	do {                                                                                                 \
		if (o + 1 < outsz)                                                                           \
			out[o++] = (ch);                                                                     \
	} while (0)
	while (i < n && o + 1 < outsz) {
		unsigned char c = (unsigned char)s[i];

		if (pg_is_space(c) || c == 0) {
			space = true;
			i++;
			continue;
		}
		if (c == '-' && i + 1 < n && s[i + 1] == '-') {
			while (i < n && s[i] != '\n')
				i++;
			space = true;
			continue;
		}
		if (c == '/' && i + 1 < n && s[i + 1] == '*') {
			for (i += 2; i < n && !(s[i] == '*' && i + 1 < n && s[i + 1] == '/'); i++)
				;
			i = i < n ? i + 2 : n;
			space = true;
			continue;
		}
		if (space && o > 0)
			PUT(' ');
		space = false;
		if (c == '\'') {
			i = pg_skip_string(s, n, i, false);
			PUT('?');
			continue;
		}
		if (i + 1 < n && s[i + 1] == '\'' && strchr("EeBbXxNn", c)) {
			i = pg_skip_string(s, n, i + 1, c == 'E' || c == 'e');
			PUT('?');
			continue;
		}
		if (c == '$') {
			if (i + 1 < n && pg_is_digit((unsigned char)s[i + 1])) { /* a parameter: kept */
				PUT('$');
				for (i++; i < n && pg_is_digit((unsigned char)s[i]); i++)
					PUT(s[i]);
				continue;
			}
			size_t e = pg_skip_dollar(s, n, i);
			if (e) {
				i = e;
				PUT('?');
				continue;
			}
		}
		if (pg_is_digit(c) || (c == '.' && i + 1 < n && pg_is_digit((unsigned char)s[i + 1]))) {
			while (i < n &&
			       (pg_is_digit((unsigned char)s[i]) || s[i] == '.' || s[i] == '_' ||
				((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'f') || (s[i] | 0x20) == 'x' ||
				((s[i] == '+' || s[i] == '-') && (s[i - 1] | 0x20) == 'e')))
				i++;
			PUT('?');
			continue;
		}
		if (c == '"') {
			PUT('"');
			for (i++; i < n && s[i] != '"'; i++)
				PUT((unsigned char)s[i] < 0x20 ? '?' : s[i]);
			if (i < n) {
				PUT('"');
				i++;
			}
			continue;
		}
		if (pg_is_ident(c)) {
			for (; i < n && pg_is_ident((unsigned char)s[i]); i++)
				PUT(s[i]); /* PUT skips its argument when full */
			continue;
		}
		PUT(c < 0x20 || c == 0x7f ? '?' : (char)c);
		i++;
	}
#undef PUT
	out[o] = '\0';
	return o;
}

void zt_pg_first_keyword(const char *s, size_t n, char *out, size_t outsz)
{
	size_t i = 0, o = 0;

	if (!outsz)
		return;
	for (;;) {
		while (i < n && (pg_is_space((unsigned char)s[i]) || s[i] == '(' || s[i] == ';'))
			i++;
		if (i + 1 < n && s[i] == '-' && s[i + 1] == '-') {
			while (i < n && s[i] != '\n')
				i++;
		} else if (i + 1 < n && s[i] == '/' && s[i + 1] == '*') {
			for (i += 2; i < n && !(s[i] == '*' && i + 1 < n && s[i + 1] == '/'); i++)
				;
			i = i < n ? i + 2 : n;
		} else {
			break;
		}
	}
	while (i < n && o + 1 < outsz) {
		unsigned char c = (unsigned char)s[i++];
		if (c >= 'a' && c <= 'z')
			c = (unsigned char)(c - 'a' + 'A');
		else if (!(c >= 'A' && c <= 'Z') && c != '_')
			break;
		out[o++] = (char)c;
	}
	out[o] = '\0';
}

uint8_t zt_pg_sqlstate_class(const char *st)
{
	/* The request was wrong: not supported (0A), cardinality (21), data
	 * (22), integrity (23), cursor/transaction state (24, 25), statement
	 * name (26), triggered data change (27), authorization (28), SQL
	 * routine/transaction termination (2B, 2D, 2F), cursor name (34),
	 * catalog/schema name (3D, 3F), syntax or access rule (42), WITH CHECK
	 * OPTION (44). Everything else (40 rollback, 53 resources, 57
	 * cancel/shutdown, 58 system, XX internal, P0 PL/pgSQL...) is the
	 * server's. */
	static const char client[][3] = {"0A", "21", "22", "23", "24", "25", "26", "27", "28",
					 "2B", "2D", "2F", "34", "3D", "3F", "42", "44"};

	if (!st || !st[0] || !st[1])
		return ZT_RS_SERVER_ERROR;
	for (size_t i = 0; i < sizeof(client) / sizeof(client[0]); i++)
		if (st[0] == client[i][0] && st[1] == client[i][1])
			return ZT_RS_CLIENT_ERROR;
	return ZT_RS_SERVER_ERROR;
}

/* A raw payload of any protocol comes here (recordings are redacted before
 * inference), so only an exactly framed message at offset 0 is touched:
 *   'p' + int32 len filling the whole payload: PasswordMessage (cleartext
 *       or md5), SASLInitialResponse, SASLResponse (the SCRAM proof), GSS
 *       data. libpq writes each of these alone and waits for the answer,
 *       so both the client's write and the server's read hold exactly one.
 *       A SASL mechanism name at the start is kept.
 *   'R' + int32 len + int32 11 or 12 (AuthenticationSASLContinue/Final):
 *       the server's SCRAM data, which with the client's messages would
 *       allow an offline guess of the password.
 * Bytes become '*'; lengths stay. */
/* The quoted literal after each PASSWORD keyword of a Query's SQL
 * (CREATE/ALTER ROLE ... PASSWORD 'x', \password's ALTER USER): overwritten
 * up to its closing quote or the end of the captured bytes. */
static size_t pg_redact_sql_passwords(uint8_t *p, size_t n)
{
	size_t done = 0;

	for (size_t i = 0; i + 9 < n; i++) {
		if ((p[i] | 0x20) != 'p' || (i > 0 && pg_is_ident(p[i - 1])))
			continue;
		size_t k = 0;
		while (k < 8 && (p[i + k] | 0x20) == (uint8_t) "password"[k])
			k++;
		if (k < 8)
			continue;
		size_t j = i + 8;
		while (j < n && pg_is_space(p[j]))
			j++;
		bool esc = false; /* E'...': backslash escapes */
		if (j + 1 < n && (p[j] | 0x20) == 'e' && p[j + 1] == '\'') {
			esc = true;
			j++;
		}
		if (j >= n || p[j] != '\'')
			continue;
		for (j++; j < n; j++) {
			if (p[j] == '\'' && (j + 1 >= n || p[j + 1] != '\''))
				break; /* the closing quote ('' is a quote inside) */
			if ((p[j] == '\'' || (esc && p[j] == '\\')) && j + 1 < n) {
				p[j++] = '*';
				done++;
			}
			p[j] = '*';
			done++;
		}
		i = j;
	}
	return done;
}

size_t zt_pg_redact(uint8_t *buf, size_t len)
{
	size_t from = 0, to = 0;

	if (!buf || len < 6)
		return 0;
	uint32_t l = pg_be32(buf + 1);
	/* a Query, whole or cut by the capture (inference is stricter about
	 * short prefixes than redaction needs to be) */
	if (buf[0] == 'Q' && l >= 5 && l <= PG_MAX_LEN &&
	    ((uint64_t)l + 1 <= len ? zt_pg_infer_front(buf, len) >= 50
				    : pg_text(buf + 5, len - 5) && pg_sql_start(buf + 5, len - 5)))
		return pg_redact_sql_passwords(buf + 5, (uint64_t)l + 1 < len ? l - 4 : len - 5);
	if (buf[0] == 'p' && l >= 5 && (uint64_t)l + 1 == len) {
		static const char *const mech[] = {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"};
		from = 5;
		for (size_t k = 0; k < 2; k++) {
			size_t ml = strlen(mech[k]) + 1;
			if (len >= 5 + ml + 4 && memcmp(buf + 5, mech[k], ml) == 0) {
				from = 5 + ml + 4;
				break;
			}
		}
		to = len;
	} else if (buf[0] == 'R' && len >= 9 && l >= 8 && l <= 4096 && (uint64_t)l + 1 <= len) {
		uint32_t code = pg_be32(buf + 5);
		if (code == 11 || code == 12) {
			from = 9;
			to = (size_t)l + 1;
		}
	}
	for (size_t i = from; i < to; i++)
		buf[i] = '*';
	return to > from ? to - from : 0;
}
