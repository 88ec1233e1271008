/* SPDX-License-Identifier: MIT */
/*
 * mysql_shape.c - what MySQL packets look like, for inference, the first
 * packet of a connection and resynchronisation (see mysql.h). Every check
 * reads only the bytes it is given and bounds every length.
 */
#include "proto/mysql.h"

/* Names of the commands we parse; others are not commands to us. */
const char *const zt_mysql_cmd_names[256] = {
    [0x01] = "QUIT",
    [0x02] = "INIT_DB",
    [0x03] = "QUERY",
    [0x04] = "FIELD_LIST",
    [0x07] = "REFRESH",
    [0x08] = "SHUTDOWN",
    [0x09] = "STATISTICS",
    [0x0a] = "PROCESS_INFO",
    [0x0c] = "PROCESS_KILL",
    [0x0d] = "DEBUG",
    [0x0e] = "PING",
    [0x11] = "CHANGE_USER",
    [0x16] = "STMT_PREPARE",
    [0x17] = "STMT_EXECUTE",
    [0x18] = "STMT_SEND_LONG_DATA",
    [0x19] = "STMT_CLOSE",
    [0x1a] = "STMT_RESET",
    [0x1b] = "SET_OPTION",
    [0x1c] = "STMT_FETCH",
    [0x1f] = "RESET_CONNECTION",
    [0xfa] = "STMT_BULK_EXECUTE",
};

/* Initial Handshake v10, whole in p[0..n) == its payload. */
bool zt_mysql_is_greeting(const uint8_t *p, size_t n, uint32_t plen, uint32_t *caps)
{
	size_t i, v;

	if (n != plen || plen < 40 || plen > 512 || p[0] != 10)
		return false;
	for (i = 1; i < n && i < 64 && p[i]; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return false;
	v = i; /* the NUL ending the server version */
	if (v == 1 || v >= n || p[v] || v + 31 > n)
		return false;
	/* conn id (4), auth data part 1 (8), filler 0 */
	if (p[v + 13] != 0)
		return false;
	*caps = my_le16(p + v + 14) | my_le16(p + v + 19) << 16;
	return (*caps & MY_CAP_PROTOCOL_41) != 0;
}

/* HandshakeResponse41 (or SSLRequest) of a payload of plen, n captured. */
bool zt_mysql_is_hsr(const uint8_t *p, size_t n, uint32_t plen)
{
	if (plen < 32 || n < 32 || !(my_le32(p) & MY_CAP_PROTOCOL_41))
		return false;
	for (size_t i = 9; i < 28; i++)
		if (p[i])
			return false;
	return p[8] != 0; /* a character set */
}

static bool my_is_ident_text(const uint8_t *p, size_t n)
{
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x21 || p[i] == 0x7f)
			return false;
	return true;
}

/* Confidence that payload p[0..n) of length plen is a client command
 * (sequence id 0 checked by the caller); 0 when it is not one we would
 * infer a connection from. */
static int my_command_conf(const uint8_t *p, size_t n, uint32_t plen)
{
	if (n == 0)
		return 0;
	switch (p[0]) {
	case MY_CMD_QUERY:
	case MY_CMD_STMT_PREPARE: {
		size_t o = 1;
		size_t m = n < plen ? n : plen;
		if (p[0] == MY_CMD_QUERY && m >= 3 && p[1] == 0 && p[2] == 1)
			o = 3; /* MySQL 8 query attributes, none */
		return m > o && zt_mysql_looks_sql(p + o, m - o) ? 80 : 0;
	}
	case MY_CMD_STMT_EXECUTE:
	case MY_CMD_BULK_EXECUTE:
		return plen >= 10 && n >= 10 && p[5] <= 0x0f && my_le32(p + 6) == 1 ? 60 : 0;
	case 0x0e: /* PING */
		return plen == 1 ? 60 : 0;
	case MY_CMD_INIT_DB:
		return plen == n && my_is_ident_text(p + 1, n - 1) ? 60 : 0;
	default:
		return 0;
	}
}

/* Any command we parse, for resynchronising the request side. */
bool zt_mysql_is_command(const uint8_t *p, size_t n, uint32_t plen)
{
	if (n == 0 || !zt_mysql_cmd_names[p[0]])
		return false;
	if (my_command_conf(p, n, plen) > 0)
		return true;
	switch (p[0]) {
	case MY_CMD_QUERY:
	case MY_CMD_STMT_PREPARE:
	case MY_CMD_STMT_EXECUTE:
	case MY_CMD_BULK_EXECUTE:
	case MY_CMD_INIT_DB:
		return false; /* their strict checks failed above */
	case MY_CMD_STMT_CLOSE:
	case MY_CMD_STMT_RESET:
		return plen == 5;
	case MY_CMD_STMT_FETCH:
		return plen == 9;
	default:
		return plen == 1 || p[0] == MY_CMD_FIELD_LIST || p[0] == MY_CMD_CHANGE_USER;
	}
}

/* An ERR packet with its SQLSTATE marker. */
bool zt_mysql_is_err(const uint8_t *p, size_t n, uint32_t plen)
{
	return n >= 9 && plen >= 9 && p[0] == 0xff && p[3] == '#';
}

int zt_mysql_classify(const uint8_t *buf, size_t len, int *conf)
{
	uint32_t plen, caps;
	const uint8_t *p = buf + 4;
	size_t n;

	*conf = 0;
	if (!buf || len < 5)
		return MY_F_NONE;
	plen = my_le24(buf);
	n = len - 4;
	if (plen == 0 || (uint64_t)plen + 4 < len)
		return MY_F_NONE; /* one packet per first syscall, or a cut one */
	if (buf[3] == 0 && zt_mysql_is_greeting(p, n, plen, &caps)) {
		*conf = 90;
		return MY_F_GREETING;
	}
	if (buf[3] == 0 && (*conf = my_command_conf(p, n, plen)) > 0)
		return MY_F_COMMAND;
	if (buf[3] == 1 && n == plen && zt_mysql_is_hsr(p, n, plen)) {
		*conf = 75;
		return MY_F_HSR;
	}
	if (buf[3] <= 1 && n == plen && zt_mysql_is_err(p, n, plen) && my_le16(p + 1) >= 1000 &&
	    my_le16(p + 1) < 5000) {
		*conf = 60;
		return MY_F_ERR;
	}
	if ((buf[0] == MY_CMD_QUERY || buf[0] == MY_CMD_STMT_PREPARE) &&
	    zt_mysql_looks_sql(buf + 1, len - 1)) {
		*conf = 70;
		return MY_F_RAW_SQL;
	}
	return MY_F_NONE;
}
