/* SPDX-License-Identifier: MIT */
/*
 * http1.c - HTTP/1.x: head parsers and the streaming parser (redaction:
 * http1_redact.c). See http1.h for the head parsers' return convention.
 *
 * Streaming model: one struct h1_state per connection holds one struct h1_dir
 * per direction. Each direction is a resumable state machine (enum h1_st)
 * that consumes a segment from a resume offset; head bytes are accumulated in
 * a bounded buffer and reparsed as they grow, body bytes are only counted, so
 * they may fall in a gap. Captured bytes are hostile: every index is checked
 * against caplen and every length is bounded before use.
 */
#include "proto/http1.h"
#include "proto/endpoint.h"
#include "proto/trace_hdr.h"
#include "bpf/events.h"

#include <errno.h>
#include <string.h>

#include "util/text.h"

#define H1_HEAD_BUF 4096   /* longest head we parse; longer is TRUNCATED */
#define H1_CHUNK_LINE 1024 /* longest chunk-size line (with extensions) */
#define H1_FIFO 32	   /* pending requests remembered for responses */
#define H1_CL_DIGITS 18	   /* < 10^18: no overflow in int64_t */
#define H1_CHUNK_DIGITS 15 /* < 16^15: no overflow in uint64_t */

/* ---- character classes ------------------------------------------------ */

/* Byte classes, by table: these tests run on every byte of every head. */
enum {
	H1_C_TCHAR = 1 << 0, /* RFC 9110 tchar: methods and header names */
	H1_C_CTL = 1 << 1,   /* control bytes: < 0x20 and 0x7f */
};

static const uint8_t h1_class[256] = {
    [0x00 ... 0x1f] = H1_C_CTL,
    [0x7f] = H1_C_CTL,
    ['0' ... '9'] = H1_C_TCHAR,
    ['A' ... 'Z'] = H1_C_TCHAR,
    ['a' ... 'z'] = H1_C_TCHAR,
    ['!'] = H1_C_TCHAR,
    ['#'] = H1_C_TCHAR,
    ['$'] = H1_C_TCHAR,
    ['%'] = H1_C_TCHAR,
    ['&'] = H1_C_TCHAR,
    ['\''] = H1_C_TCHAR,
    ['*'] = H1_C_TCHAR,
    ['+'] = H1_C_TCHAR,
    ['-'] = H1_C_TCHAR,
    ['.'] = H1_C_TCHAR,
    ['^'] = H1_C_TCHAR,
    ['_'] = H1_C_TCHAR,
    ['`'] = H1_C_TCHAR,
    ['|'] = H1_C_TCHAR,
    ['~'] = H1_C_TCHAR,
};

static bool h1_is_tchar(unsigned char c)
{
	return h1_class[c] & H1_C_TCHAR;
}

static bool h1_is_ctl(unsigned char c)
{
	return h1_class[c] & H1_C_CTL;
}

/* Skips from i the bytes that are not control bytes (nor spaces, when
 * below is 0x21 rather than 0x20), 8 at a time while 8 remain: header values
 * and targets are mostly plain text. Returns the index of the first byte
 * < below or == 0x7f, or len. In the word tests a flag can be wrong only
 * above a true hit (a borrow runs upwards), so the lowest flag is exact:
 * on little-endian hosts it is the first such byte in memory. */
static size_t h1_skip_text(const char *buf, size_t len, size_t i, uint8_t below)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;

	while (len - i >= 8) {
		uint64_t x, del, hit;

		memcpy(&x, buf + i, 8);
		del = x ^ (0x7f * ones);
		/* some byte < 0x20 | some byte == 0x7f */
		hit = ((x - below * ones) & ~x & highs) | ((del - ones) & ~del & highs);
		if (hit) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			return i + (size_t)__builtin_ctzll(hit) / 8;
#else
			break;
#endif
		}
		i += 8;
	}
	while (i < len && (uint8_t)buf[i] >= below && buf[i] != 0x7f)
		i++;
	return i;
}

static bool h1_is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static struct h1_slice h1_trim(const char *p, size_t n)
{
	while (n && h1_is_blank(*p)) {
		p++;
		n--;
	}
	while (n && h1_is_blank(p[n - 1]))
		n--;
	return (struct h1_slice){p, n};
}

/* ---- head parsers ---------------------------------------------------- */

static void h1_head_reset(struct h1_head *h)
{
	memset(h, 0, offsetof(struct h1_head, headers));
	h->content_length = -1;
	h->te = h->chunked = h->connection_close = h->connection_keep_alive = h->upgrade = false;
}

/* "HTTP/1.0" or "HTTP/1.1" at *pi. */
static int h1_parse_version(const char *buf, size_t len, size_t *pi, int *minor)
{
	static const char v[] = "HTTP/1.";
	size_t i = *pi;

	for (size_t k = 0; k < sizeof(v) - 1; k++, i++) {
		if (i >= len)
			return -2;
		if (buf[i] != v[k])
			return -1;
	}
	if (i >= len)
		return -2;
	if (buf[i] != '0' && buf[i] != '1')
		return -1;
	*minor = buf[i] - '0';
	*pi = i + 1;
	return 0;
}

/* CRLF or a bare LF at *pi. */
static int h1_parse_eol(const char *buf, size_t len, size_t *pi)
{
	size_t i = *pi;

	if (i >= len)
		return -2;
	if (buf[i] == '\r') {
		if (++i >= len)
			return -2;
	}
	if (buf[i] != '\n')
		return -1;
	*pi = i + 1;
	return 0;
}

/* Content-Length: 1..H1_CL_DIGITS digits; a list ("5, 5") is refused. */
static int64_t h1_parse_cl(struct h1_slice v)
{
	int64_t n = 0;

	if (v.n == 0 || v.n > H1_CL_DIGITS)
		return -1;
	for (size_t i = 0; i < v.n; i++) {
		if (v.p[i] < '0' || v.p[i] > '9')
			return -1;
		n = n * 10 + (v.p[i] - '0');
	}
	return n;
}

/* Calls fn on each trimmed, non-empty element of a comma list. */
static void h1_list_each(struct h1_slice v, void (*fn)(struct h1_head *, struct h1_slice), struct h1_head *h)
{
	size_t i = 0;

	while (i < v.n) {
		size_t s = i;
		while (i < v.n && v.p[i] != ',')
			i++;
		struct h1_slice e = h1_trim(v.p + s, i - s);
		if (e.n)
			fn(h, e);
		i++; /* the comma */
	}
}

static void h1_te_elem(struct h1_head *h, struct h1_slice e)
{
	/* Only the last coding decides: "gzip, chunked" is chunked. Parameters
	 * (";q=") do not occur on chunked, so compare the whole element. */
	h->chunked = zt_ieq(e.p, e.n, "chunked");
}

static void h1_conn_elem(struct h1_head *h, struct h1_slice e)
{
	if (zt_ieq(e.p, e.n, "close"))
		h->connection_close = true;
	else if (zt_ieq(e.p, e.n, "keep-alive"))
		h->connection_keep_alive = true;
}

/* Derives framing from one complete header line; -1 on a bad or conflicting
 * Content-Length (a smuggling vector: the two ends would disagree). */
static int h1_frame_header(struct h1_head *h, struct h1_slice name, struct h1_slice value)
{
	switch (zt_lower((unsigned char)name.p[0])) {
	case 'c':
		if (zt_ieq(name.p, name.n, "content-length")) {
			int64_t cl = h1_parse_cl(value);
			if (cl < 0 || (h->content_length >= 0 && h->content_length != cl))
				return -1;
			h->content_length = cl;
		} else if (zt_ieq(name.p, name.n, "connection")) {
			h1_list_each(value, h1_conn_elem, h);
		}
		break;
	case 't':
		if (zt_ieq(name.p, name.n, "transfer-encoding")) {
			h->te = true;
			h->chunked = false;
			h1_list_each(value, h1_te_elem, h);
		}
		break;
	case 'u':
		if (zt_ieq(name.p, name.n, "upgrade"))
			h->upgrade = true;
		break;
	}
	return 0;
}

static int h1_parse_headers(const char *buf, size_t len, size_t i, struct h1_head *h)
{
	for (;;) {
		if (i >= len)
			return -2;
		if (buf[i] == '\r' || buf[i] == '\n') {
			int r = h1_parse_eol(buf, len, &i);
			if (r < 0)
				return r;
			/* A head is at most a few KiB in practice; refuse sizes
			 * that do not fit the return type. */
			return i > (size_t)INT32_MAX ? -1 : (int)i;
		}
		size_t ns = i;
		while (i < len && h1_is_tchar((unsigned char)buf[i]))
			i++;
		if (i >= len)
			return -2;
		if (buf[i] != ':')
			return -1; /* also catches obs-fold and "Name :" */
		struct h1_slice name = {buf + ns, i - ns};
		if (name.n == 0)
			return -1;
		i++; /* ':' */
		size_t vs = i;
		for (;;) {
			i = h1_skip_text(buf, len, i, 0x20);
			if (i >= len)
				return -2;
			unsigned char c = (unsigned char)buf[i];
			if (c == '\r' || c == '\n')
				break;
			if (c != '\t')
				return -1;
			i++;
		}
		struct h1_slice value = h1_trim(buf + vs, i - vs);
		int r = h1_parse_eol(buf, len, &i);
		if (r < 0)
			return r;
		if (h1_frame_header(h, name, value) < 0)
			return -1;
		if (h->num_headers < H1_MAX_HEADERS) {
			h->headers[h->num_headers].name = name;
			h->headers[h->num_headers].value = value;
			h->num_headers++;
		}
		h->headers_seen++;
	}
}

static size_t h1_skip_sp(const char *buf, size_t len, size_t i)
{
	while (i < len && buf[i] == ' ')
		i++;
	return i;
}

int h1_parse_request_head(const char *buf, size_t len, struct h1_head *out)
{
	size_t i = 0;
	int r;

	h1_head_reset(out);
	for (;;) {
		if (i >= len)
			return -2;
		if (buf[i] == ' ')
			break;
		if (!h1_is_tchar((unsigned char)buf[i]))
			return -1;
		if (++i > H1_METHOD_MAX)
			return -1;
	}
	if (i == 0)
		return -1;
	out->method = (struct h1_slice){buf, i};
	i = h1_skip_sp(buf, len, i);
	size_t ps = i;
	/* bytes >= 0x80 pass: some clients send raw UTF-8 */
	i = h1_skip_text(buf, len, i, 0x21);
	if (i >= len)
		return -2;
	if (buf[i] != ' ')
		return -1; /* a control byte */
	out->path = (struct h1_slice){buf + ps, i - ps};
	i = h1_skip_sp(buf, len, i);
	if ((r = h1_parse_version(buf, len, &i, &out->minor_version)) < 0)
		return r;
	if ((r = h1_parse_eol(buf, len, &i)) < 0)
		return r;
	return h1_parse_headers(buf, len, i, out);
}

int h1_parse_response_head(const char *buf, size_t len, struct h1_head *out)
{
	size_t i = 0;
	int r;

	h1_head_reset(out);
	if ((r = h1_parse_version(buf, len, &i, &out->minor_version)) < 0)
		return r;
	if (i >= len)
		return -2;
	if (buf[i] != ' ')
		return -1;
	i = h1_skip_sp(buf, len, i);
	int status = 0;
	for (int k = 0; k < 3; k++, i++) {
		if (i >= len)
			return -2;
		if (buf[i] < '0' || buf[i] > '9')
			return -1;
		status = status * 10 + (buf[i] - '0');
	}
	if (status < 100)
		return -1;
	out->status = status;
	if (i >= len)
		return -2;
	size_t rs = i;
	if (buf[i] == ' ') {
		i = h1_skip_sp(buf, len, i);
		rs = i;
	} else if (buf[i] != '\r' && buf[i] != '\n') {
		return -1; /* "200x" */
	}
	for (;;) {
		if (i >= len)
			return -2;
		unsigned char c = (unsigned char)buf[i];
		if (c == '\r' || c == '\n')
			break;
		if (h1_is_ctl(c) && c != '\t')
			return -1;
		i++;
	}
	out->reason = h1_trim(buf + rs, i - rs);
	if ((r = h1_parse_eol(buf, len, &i)) < 0)
		return r;
	return h1_parse_headers(buf, len, i, out);
}

/* ---- message starts ------------------------------------------------- */

/* What the first bytes of a message say. Inference, resynchronisation, the
 * session's client/server guess and the choice of head parser all ask this
 * one question, so they cannot disagree on what an HTTP/1 start is. */
enum h1_start {
	H1_START_NONE = 0, /* not the start of an HTTP/1 message */
	H1_START_MORE,	   /* a proper prefix of a start: more bytes will tell */
	H1_START_REQ,	   /* a method we know and a space */
	H1_START_RESP,	   /* "HTTP/1." */
};

static const struct {
	const char *s;
	uint8_t n;
	uint8_t start; /* enum h1_start */
} h1_starts[] = {
    {"GET ", 4, H1_START_REQ},	   {"POST ", 5, H1_START_REQ},	  {"PUT ", 4, H1_START_REQ},
    {"DELETE ", 7, H1_START_REQ},  {"HEAD ", 5, H1_START_REQ},	  {"OPTIONS ", 8, H1_START_REQ},
    {"PATCH ", 6, H1_START_REQ},   {"CONNECT ", 8, H1_START_REQ}, {"TRACE ", 6, H1_START_REQ},
    {"HTTP/1.", 7, H1_START_RESP},
};

/* Looks at the first 8 bytes at most; the empty prefix is MORE. */
static enum h1_start h1_start_of(const uint8_t *buf, size_t len)
{
	enum h1_start best = H1_START_NONE;

	if (len == 0)
		return H1_START_MORE;
	for (size_t i = 0; i < sizeof(h1_starts) / sizeof(h1_starts[0]); i++) {
		size_t n = h1_starts[i].n;
		if (h1_starts[i].s[0] != (char)buf[0])
			continue; /* cheap filter: this runs on every first head */
		if (len >= n) {
			if (memcmp(buf, h1_starts[i].s, n) == 0)
				return h1_starts[i].start;
		} else if (memcmp(buf, h1_starts[i].s, len) == 0) {
			best = H1_START_MORE;
		}
	}
	return best;
}

bool h1_starts_request(const uint8_t *buf, size_t len)
{
	return buf && h1_start_of(buf, len) == H1_START_REQ;
}

int h1_infer(const uint8_t *buf, size_t len, int dir)
{
	if (!buf)
		return 0;
	return h1_start_of(buf, len) >= H1_START_REQ ? 90 : 0;
}

/* Inference on a connection's first bytes: a request line that is whole in
 * the capture must end in " HTTP/1.x" (NATS and others begin with "CONNECT
 * {json}" or "PUB subject"); a cut one is judged by its method. */
static int h1_infer_op(const uint8_t *buf, size_t len, const struct zt_infer_hints *hints)
{
	int c = h1_infer(buf, len, hints ? hints->dir : 0);
	const uint8_t *nl;

	if (c && h1_start_of(buf, len) == H1_START_REQ && (nl = memchr(buf, '\n', len))) {
		size_t n = (size_t)(nl - buf);
		if (n && buf[n - 1] == '\r')
			n--;
		if (n < 9 || memcmp(buf + n - 9, " HTTP/1.", 8) != 0 || buf[n - 1] < '0' || buf[n - 1] > '9')
			return 0;
	}
	return c;
}

static int h1_first_kind(const uint8_t *buf, size_t len)
{
	switch (buf ? h1_start_of(buf, len) : H1_START_NONE) {
	case H1_START_REQ:
		return ZT_MSG_REQUEST;
	case H1_START_RESP:
		return ZT_MSG_RESPONSE;
	default:
		return 0;
	}
}

/* ---- message fields from a head -------------------------------------- */

enum h1_kind {
	H1_K_NONE = 0,
	H1_K_REQ = ZT_MSG_REQUEST,
	H1_K_RESP = ZT_MSG_RESPONSE,
};

/* The status class is the parser's call (DESIGN.md): 1xx-3xx are ok. */
static uint8_t h1_status_class(int code)
{
	if (code >= 500)
		return ZT_RS_SERVER_ERROR;
	if (code >= 400)
		return ZT_RS_CLIENT_ERROR;
	return code >= 100 ? ZT_RS_OK : ZT_RS_UNKNOWN;
}

/* A 101 response switching to cleartext HTTP/2 (Upgrade: h2c). */
static bool h1_upgrades_to_h2c(const struct h1_head *h)
{
	for (size_t i = 0; i < h->num_headers; i++)
		if (zt_ieq(h->headers[i].name.p, h->headers[i].name.n, "upgrade") &&
		    zt_ieq(h->headers[i].value.p, h->headers[i].value.n, "h2c"))
			return true;
	return false;
}

/* Fills the "what" of m from a (possibly partial) head. */
static void h1_fill(struct zt_msg *m, const struct h1_head *h, int kind)
{
	struct zt_trace_hdrs th;
	struct zt_trace_ids ids;

	m->kind = (uint8_t)kind;
	if (kind == H1_K_REQ) {
		zt_copy_str(m->request_type, sizeof(m->request_type), h->method.p, h->method.n);
		zt_copy_str(m->request_resource, sizeof(m->request_resource), h->path.p, h->path.n);
	} else {
		m->response_code = h->status;
		m->flags |= ZT_MF_HAS_CODE;
		m->status = h1_status_class(h->status);
		if (h->status >= 400)
			zt_copy_str(m->response_exception, sizeof(m->response_exception), h->reason.p, h->reason.n);
	}
	if (h->connection_close)
		m->flags |= ZT_MF_CLOSE;
	/* first occurrence of each header wins; the slices point into the
	 * head buffer, alive until resolve below */
	zt_trace_hdrs_init(&th);
	for (size_t i = 0; i < h->num_headers; i++) {
		struct h1_slice n = h->headers[i].name, v = h->headers[i].value;

		if (zt_trace_hdrs_offer(&th, n.p, n.n, v.p, v.n))
			continue;
		if (zt_ieq(n.p, n.n, "host")) {
			if (!m->request_domain[0])
				zt_copy_str(m->request_domain, sizeof(m->request_domain), v.p, v.n);
		} else if (zt_is_request_id_header(n.p, n.n)) {
			if (!m->x_request_id[0])
				zt_copy_str(m->x_request_id, sizeof(m->x_request_id), v.p, v.n);
		}
	}
	if (zt_trace_hdrs_resolve(&th, &ids)) {
		memcpy(m->trace_id, ids.trace_id, sizeof(m->trace_id));
		memcpy(m->span_id, ids.span_id, sizeof(m->span_id));
		memcpy(m->parent_span_id, ids.parent_span_id, sizeof(m->parent_span_id));
	}
}

/* Best effort on a head that will never parse (cut, too long, malformed):
 * the start line as far as it goes and the header lines that are complete.
 * Returns false if not even the method or status could be read. */
static bool h1_salvage(const char *buf, size_t len, int kind, struct h1_head *h)
{
	size_t i = 0;

	h1_head_reset(h);
	if (kind == H1_K_REQ) {
		while (i < len && i <= H1_METHOD_MAX && h1_is_tchar((unsigned char)buf[i]))
			i++;
		if (i == 0 || i > H1_METHOD_MAX || i >= len || buf[i] != ' ')
			return false;
		h->method = (struct h1_slice){buf, i};
		i = h1_skip_sp(buf, len, i);
		size_t ps = i;
		while (i < len && buf[i] != ' ' && !h1_is_ctl((unsigned char)buf[i]))
			i++;
		h->path = (struct h1_slice){buf + ps, i - ps};
		i = h1_skip_sp(buf, len, i);
		if (h1_parse_version(buf, len, &i, &h->minor_version) < 0)
			h->minor_version = -1;
	} else {
		if (h1_parse_version(buf, len, &i, &h->minor_version) < 0 || i >= len || buf[i] != ' ')
			return false;
		i = h1_skip_sp(buf, len, i);
		if (len - i < 3)
			return false;
		for (int k = 0; k < 3; k++, i++) {
			if (buf[i] < '0' || buf[i] > '9')
				return false;
			h->status = h->status * 10 + (buf[i] - '0');
		}
		if (h->status < 100)
			return false;
		size_t rs = h1_skip_sp(buf, len, i);
		i = rs;
		while (i < len && buf[i] != '\r' && buf[i] != '\n')
			i++;
		h->reason = h1_trim(buf + rs, i - rs);
	}
	/* complete header lines after the start line */
	const char *nl = memchr(buf + i, '\n', len - i);
	while (nl) {
		size_t ls = (size_t)(nl - buf) + 1;
		nl = memchr(buf + ls, '\n', len - ls);
		if (!nl)
			break;
		size_t le = (size_t)(nl - buf);
		if (le > ls && buf[le - 1] == '\r')
			le--;
		const char *colon = memchr(buf + ls, ':', le - ls);
		if (!colon || colon == buf + ls)
			continue;
		struct h1_slice name = {buf + ls, (size_t)(colon - (buf + ls))};
		bool ok = true;
		for (size_t k = 0; k < name.n; k++)
			ok = ok && h1_is_tchar((unsigned char)name.p[k]);
		if (!ok || h->num_headers == H1_MAX_HEADERS)
			continue;
		struct h1_slice value = h1_trim(colon + 1, (size_t)(buf + le - colon - 1));
		/* framing of a head we lost is moot: ignore its errors */
		(void)h1_frame_header(h, name, value);
		h->headers[h->num_headers].name = name;
		h->headers[h->num_headers].value = value;
		h->num_headers++;
	}
	return true;
}

static void h1_set_version(struct zt_msg *m, int minor)
{
	if (minor == 0 || minor == 1) {
		m->version[0] = '1';
		m->version[1] = '.';
		m->version[2] = (char)('0' + minor);
		m->version[3] = '\0';
	}
}

/* ---- streaming ------------------------------------------------------- */

/* Per-direction parse state. */
enum h1_st {
	H1_S_HEAD = 0,	 /* between messages or in a head: hbuf[0..hlen) */
	H1_S_BODY_CL,	 /* rem body bytes left (Content-Length) */
	H1_S_CHUNK_SIZE, /* a chunk-size line, gathered in hbuf */
	H1_S_CHUNK_DATA, /* rem chunk-data bytes left */
	H1_S_CHUNK_CRLF, /* the CRLF after chunk data; crlf_cr: CR seen */
	H1_S_TRAILER,	 /* trailer lines up to the empty line, in hbuf */
	H1_S_BODY_EOF,	 /* body delimited by the close */
	H1_S_CUT,	 /* a request whose head was cut (capture size): its bytes
			  * are counted up to the next request start */
	H1_S_LOST,	 /* out of sync until a segment starts like HTTP */
};

/* What a pending request means for its response's framing. */
enum h1_pending {
	H1_P_OTHER = 0,
	H1_P_HEAD,    /* response has no body */
	H1_P_CONNECT, /* 2xx response turns the connection into a tunnel */
};

struct h1_dir {
	uint8_t st;	/* enum h1_st */
	bool in_msg;	/* msg has begun (zt_msg_begin done) */
	bool tentative; /* resyncing on a short segment: the head so far is only
			 * a prefix of a message start, drop it silently if not */
	bool crlf_cr;
	bool seen; /* a head parsed in this direction: from then on, methods
		    * infer() does not know (PROPFIND...) are accepted */
	bool early; /* a request emitted when its response began (ZT_MF_EARLY):
		     * the rest of its body is counted, not emitted again */
	uint32_t hlen;
	uint64_t rem;
	struct zt_msg msg;
	char hbuf[H1_HEAD_BUF];
};

struct h1_state {
	struct h1_dir d[2];    /* by enum zt_dir */
	uint8_t fifo[H1_FIFO]; /* enum h1_pending of requests not yet answered */
	uint8_t fifo_head, fifo_n;
	int8_t req_dir; /* direction carrying requests; -1: not yet known */
	bool upgraded;	/* 101 / CONNECT 2xx: the rest is not HTTP */
};

_Static_assert(sizeof(struct h1_state) < 12 * 1024, "per-connection state must stay small");
_Static_assert(H1_HEAD_BUF >= H1_CHUNK_LINE, "chunk lines are gathered in hbuf");

static void h1_dir_reset(struct h1_dir *d, uint8_t st);

/* Resets the control fields only: hbuf is read below hlen only, and msg is
 * cleared when a message begins (in_msg false). Clearing all of the state
 * (~10 KiB) cost more than parsing a short connection's messages. */
static void h1_init(void *state)
{
	struct h1_state *s = state;

	for (int i = 0; i < 2; i++) {
		h1_dir_reset(&s->d[i], H1_S_HEAD);
		s->d[i].seen = false;
	}
	memset(s->fifo, 0, sizeof(s->fifo));
	s->fifo_head = s->fifo_n = 0;
	s->req_dir = -1;
	s->upgraded = false;
}

static void h1_fifo_push(struct h1_state *s, uint8_t p)
{
	/* Full: deeper pipelines than H1_FIFO are not seen in practice; the
	 * extra responses fall back to H1_P_OTHER. */
	if (s->fifo_n == H1_FIFO)
		return;
	s->fifo[(s->fifo_head + s->fifo_n) % H1_FIFO] = p;
	s->fifo_n++;
}

static uint8_t h1_fifo_pop(struct h1_state *s)
{
	if (s->fifo_n == 0)
		return H1_P_OTHER; /* tracing began mid-connection */
	uint8_t p = s->fifo[s->fifo_head];
	s->fifo_head = (uint8_t)((s->fifo_head + 1) % H1_FIFO);
	s->fifo_n--;
	return p;
}

static void h1_dir_reset(struct h1_dir *d, uint8_t st)
{
	d->st = st;
	d->in_msg = false;
	d->tentative = false;
	d->crlf_cr = false;
	d->hlen = 0;
	d->rem = 0;
	d->early = false;
}

static void h1_lose(struct h1_state *s, struct h1_dir *d, int dir)
{
	h1_dir_reset(d, H1_S_LOST);
	/* Responses we cannot frame may be missing: the pending requests no
	 * longer line up with what follows. */
	if (s->req_dir >= 0 && dir != s->req_dir)
		s->fifo_n = 0;
}

static void h1_complete(struct h1_dir *d, zt_emit_fn emit, void *ctx)
{
	if (!d->early)
		emit(ctx, &d->msg);
	h1_dir_reset(d, H1_S_HEAD);
}

/* A final response begins while its request is still being sent (the
 * server refused it early: 413 on a big body, 405 or 417 to Expect:
 * 100-continue): the request is emitted now, so that the two pair, with the
 * bytes sent so far. Only when this response answers that request: it is
 * the one request in flight. */
static void h1_early_request(struct h1_state *s, zt_emit_fn emit, void *ctx)
{
	struct h1_dir *rq;

	if (s->req_dir < 0 || s->fifo_n != 1)
		return;
	rq = &s->d[s->req_dir];
	if (!rq->in_msg || rq->early || rq->st == H1_S_HEAD || rq->st == H1_S_LOST)
		return;
	if (rq->st != H1_S_CUT) /* a cut head ends where it ends: not early */
		rq->msg.flags |= ZT_MF_EARLY;
	emit(ctx, &rq->msg);
	rq->early = true;
}


/* Which head parser applies to buf in direction dir: the direction's role
 * once a head settled it, else what the start says. A bare prefix ("H" of
 * "HEAD " or "HTTP/1.") waits for more bytes; bytes that start nothing are
 * handed to the request parser, which rejects them. */
static int h1_kind_of(const struct h1_state *s, int dir, const char *buf, size_t len)
{
	if (s->req_dir >= 0)
		return dir == s->req_dir ? H1_K_REQ : H1_K_RESP;
	switch (h1_start_of((const uint8_t *)buf, len)) {
	case H1_START_RESP:
		return H1_K_RESP;
	case H1_START_MORE:
		return H1_K_NONE;
	default:
		return H1_K_REQ;
	}
}

/* A head that will not parse: emit what can be salvaged, lose sync. */
/* A head that will not complete: what its captured part says goes into
 * d->msg, and the pending-request FIFO changes as a parsed head would
 * change it. false when nothing salvages. */
static bool h1_take_salvage(struct h1_state *s, struct h1_dir *d, int dir, int kind)
{
	struct h1_head h;

	if (!d->in_msg || d->tentative || kind == H1_K_NONE || !h1_salvage(d->hbuf, d->hlen, kind, &h))
		return false;
	if (s->req_dir < 0)
		s->req_dir = (int8_t)(kind == H1_K_REQ ? dir : !dir);
	h1_fill(&d->msg, &h, kind);
	h1_set_version(&d->msg, h.minor_version);
	if (kind == H1_K_REQ)
		h1_fifo_push(s, zt_ieq(h.method.p, h.method.n, "head") ? H1_P_HEAD : H1_P_OTHER);
	else if (h.status >= 200)
		(void)h1_fifo_pop(s);
	return true;
}

static void h1_fail(struct h1_state *s, struct h1_dir *d, int dir, int kind, uint32_t flags, zt_emit_fn emit,
		    void *ctx)
{
	if (h1_take_salvage(s, d, dir, kind)) {
		d->msg.flags |= flags | ZT_MF_LOST_SYNC;
		emit(ctx, &d->msg);
	}
	h1_lose(s, d, dir);
}

/* A request head cut by the capture size (a gap, or longer than hbuf):
 * what was captured is salvaged and the request goes on being counted,
 * byte by byte as the syscalls report them, up to the next segment that
 * starts a request (clients write a request per syscall) or the response;
 * sizes stay right and the next request is found. `rest`: bytes of the
 * segment past what was counted. Returns false when nothing salvages. */
static bool h1_cut_request(struct h1_state *s, struct h1_dir *d, int dir, uint64_t rest)
{
	if (!h1_take_salvage(s, d, dir, H1_K_REQ))
		return false;
	d->msg.flags |= ZT_MF_TRUNCATED;
	d->msg.bytes += rest;
	d->st = H1_S_CUT;
	d->hlen = 0;
	d->seen = true;
	return true;
}

/* A head parsed: decide the body framing, or complete the message. */
static void h1_on_head(struct h1_state *s, struct h1_dir *d, int dir, int kind, const struct h1_head *h,
		       zt_emit_fn emit, void *ctx)
{
	struct zt_msg *m = &d->msg;

	if (s->req_dir < 0)
		s->req_dir = (int8_t)(kind == H1_K_REQ ? dir : !dir);
	h1_fill(m, h, kind);
	h1_set_version(m, h->minor_version);
	d->hlen = 0;
	d->tentative = false;
	d->seen = true;

	if (kind == H1_K_REQ) {
		uint8_t p = H1_P_OTHER;
		if (zt_ieq(h->method.p, h->method.n, "head"))
			p = H1_P_HEAD;
		else if (zt_ieq(h->method.p, h->method.n, "connect"))
			p = H1_P_CONNECT;
		h1_fifo_push(s, p);
		if (h->chunked) {
			d->st = H1_S_CHUNK_SIZE;
		} else if (h->te) {
			/* RFC 9112 6.3: unframeable request, the server
			 * answers 400 and closes */
			m->flags |= ZT_MF_LOST_SYNC;
			emit(ctx, m);
			h1_lose(s, d, dir);
		} else if (h->content_length > 0) {
			d->st = H1_S_BODY_CL;
			d->rem = (uint64_t)h->content_length;
		} else {
			h1_complete(d, emit, ctx);
		}
		return;
	}

	if (h->status < 200) {
		if (h->status == 101) {
			m->flags |= ZT_MF_UPGRADE;
			s->upgraded = true;
			if (h1_upgrades_to_h2c(h)) {
				/* RFC 7540 3.2: HTTP/2 follows; the request
				 * continues as its stream 1 */
				m->l7 = ZT_L7_HTTP2;
				m->key = 1;
			}
		} else {
			m->flags |= ZT_MF_INTERIM; /* the final response follows */
		}
		h1_complete(d, emit, ctx);
		return;
	}
	h1_early_request(s, emit, ctx);
	uint8_t p = h1_fifo_pop(s);
	if (p == H1_P_CONNECT && h->status < 300) {
		m->flags |= ZT_MF_UPGRADE;
		s->upgraded = true;
		h1_complete(d, emit, ctx);
	} else if (p == H1_P_HEAD || h->status == 204 || h->status == 304) {
		h1_complete(d, emit, ctx);
	} else if (h->chunked) {
		d->st = H1_S_CHUNK_SIZE;
	} else if (h->content_length > 0) {
		d->st = H1_S_BODY_CL;
		d->rem = (uint64_t)h->content_length;
	} else if (h->content_length == 0) {
		h1_complete(d, emit, ctx);
	} else {
		d->st = H1_S_BODY_EOF;
	}
}

struct h1_cur {
	const struct zt_seg *seg;
	const char *data;
	uint32_t cap; /* captured bytes, <= len */
	uint64_t len;
	int dir;
};

static uint64_t h1_step_head(struct h1_state *s, struct h1_dir *d, const struct h1_cur *c, uint64_t off,
			     zt_emit_fn emit, void *ctx)
{
	struct h1_head h;

	if (d->hlen == 0) {
		/* RFC 9112 2.2: empty lines before a request are ignored
		 * (clients add CRLF after a body). */
		while (off < c->cap && (c->data[off] == '\r' || c->data[off] == '\n'))
			off++;
		if (off >= c->cap) {
			if (off < c->len) /* the next message starts in a gap */
				h1_lose(s, d, c->dir);
			return c->len;
		}
	}
	if (!d->in_msg) {
		zt_msg_reset(&d->msg);
		zt_msg_begin(&d->msg, c->seg, off);
		d->in_msg = true;
	}
	if (off >= c->cap) { /* head cut by a gap */
		int kind = h1_kind_of(s, c->dir, d->hbuf, d->hlen);
		if (kind != H1_K_REQ || !h1_cut_request(s, d, c->dir, c->len - off))
			h1_fail(s, d, c->dir, kind, ZT_MF_TRUNCATED, emit, ctx);
		return c->len;
	}
	size_t n = c->cap - off, prev = d->hlen;
	if (n > H1_HEAD_BUF - prev)
		n = H1_HEAD_BUF - prev;
	if (prev == 0) {
		/* Most heads arrive whole in one segment: parse them where the
		 * capture holds them. Copying the segment (head and the body
		 * after it) into hbuf first was ~7% of the live reader; only a
		 * head that does not parse whole here is gathered below, and
		 * parsed again there on the same bytes. */
		const char *p = c->data + off;
		int kind = H1_K_NONE, r = -2;
		if (!(d->tentative || !d->seen) || h1_start_of((const uint8_t *)p, n) != H1_START_NONE)
			kind = h1_kind_of(s, c->dir, p, n);
		if (kind == H1_K_REQ)
			r = h1_parse_request_head(p, n, &h);
		else if (kind == H1_K_RESP)
			r = h1_parse_response_head(p, n, &h);
		if (r > 0) {
			d->msg.bytes += (size_t)r;
			h1_on_head(s, d, c->dir, kind, &h, emit, ctx);
			return off + (size_t)r;
		}
	}
	memcpy(d->hbuf + prev, c->data + off, n);
	d->hlen += (uint32_t)n;
	if (d->tentative || !d->seen) {
		/* Until this direction proved to carry HTTP, and when
		 * resyncing, a head must start like infer() wants. */
		enum h1_start t = h1_start_of((const uint8_t *)d->hbuf, d->hlen);
		if (t == H1_START_NONE) {
			h1_lose(s, d, c->dir); /* not a message start: silent */
			return c->len;
		}
		if (t != H1_START_MORE)
			d->tentative = false;
	}
	int kind = h1_kind_of(s, c->dir, d->hbuf, d->hlen);
	int r = -2;
	if (kind == H1_K_REQ)
		r = h1_parse_request_head(d->hbuf, d->hlen, &h);
	else if (kind == H1_K_RESP)
		r = h1_parse_response_head(d->hbuf, d->hlen, &h);
	if (r > 0) {
		size_t used = (size_t)r - prev;
		d->msg.bytes += used;
		h1_on_head(s, d, c->dir, kind, &h, emit, ctx);
		return off + used;
	}
	if (r == -1) {
		/* Count the bytes up to the offending one, whatever the
		 * segmentation: errors are monotone in the prefix length,
		 * so bisect for the shortest failing prefix. */
		size_t lo = prev, hi = d->hlen; /* parse(lo) == -2, parse(hi) == -1 */
		while (hi - lo > 1) {
			size_t mid = lo + (hi - lo) / 2;
			int rm = kind == H1_K_REQ ? h1_parse_request_head(d->hbuf, mid, &h)
						  : h1_parse_response_head(d->hbuf, mid, &h);
			if (rm == -1)
				hi = mid;
			else
				lo = mid;
		}
		d->msg.bytes += hi - prev;
		h1_fail(s, d, c->dir, kind, 0, emit, ctx);
		return c->len;
	}
	off += n;
	d->msg.bytes += n;
	if (d->hlen == H1_HEAD_BUF) {
		if (kind != H1_K_REQ || !h1_cut_request(s, d, c->dir, c->len - off))
			h1_fail(s, d, c->dir, kind, ZT_MF_TRUNCATED, emit, ctx);
		return c->len;
	}
	/* off == cap: a gap, if any, is handled on the next step */
	return off;
}

/* Gathers one line into hbuf. Returns 1 when hbuf holds a whole line
 * (LF-terminated), 0 when the captured bytes ran out first, -1 when the line
 * exceeds max. */
static int h1_take_line(struct h1_dir *d, const struct h1_cur *c, uint64_t *off, size_t max)
{
	const char *p = c->data + *off;
	size_t avail = c->cap - *off;
	const char *nl = memchr(p, '\n', avail);
	size_t n = nl ? (size_t)(nl - p) + 1 : avail;

	if (n > max - d->hlen)
		return -1;
	memcpy(d->hbuf + d->hlen, p, n);
	d->hlen += (uint32_t)n;
	*off += n;
	d->msg.bytes += n;
	return nl ? 1 : 0;
}

/* chunk-size [ BWS ; ext ] CRLF: size, or -1. */
static int64_t h1_chunk_size(const char *p, size_t n)
{
	uint64_t v = 0;
	size_t i = 0;

	while (i < n && zt_hexval((unsigned char)p[i]) >= 0) {
		if (i == H1_CHUNK_DIGITS)
			return -1;
		v = v * 16 + (uint64_t)zt_hexval((unsigned char)p[i]);
		i++;
	}
	if (i == 0 || i >= n)
		return -1;
	char c = p[i];
	if (c != ' ' && c != '\t' && c != ';' && c != '\r' && c != '\n')
		return -1;
	return (int64_t)v;
}

static void h1_lost_in_body(struct h1_state *s, struct h1_dir *d, int dir, zt_emit_fn emit, void *ctx)
{
	d->msg.flags |= ZT_MF_LOST_SYNC;
	if (!d->early)
		emit(ctx, &d->msg);
	h1_lose(s, d, dir);
}

static uint64_t h1_step(struct h1_state *s, struct h1_dir *d, const struct h1_cur *c, uint64_t off,
			zt_emit_fn emit, void *ctx)
{
	uint64_t n;
	int r;

	switch (d->st) {
	case H1_S_HEAD:
		return h1_step_head(s, d, c, off, emit, ctx);
	case H1_S_BODY_CL:
	case H1_S_CHUNK_DATA:
		/* body bytes are counted, not read: a gap is fine */
		n = c->len - off < d->rem ? c->len - off : d->rem;
		d->rem -= n;
		d->msg.bytes += n;
		off += n;
		if (d->rem == 0) {
			if (d->st == H1_S_BODY_CL) {
				h1_complete(d, emit, ctx);
			} else {
				d->st = H1_S_CHUNK_CRLF;
				d->crlf_cr = false;
			}
		}
		return off;
	case H1_S_CHUNK_CRLF:
		if (off >= c->cap) {
			/* in a gap: assume the CRLF every sender writes */
			n = d->crlf_cr ? 1 : 2;
			if (n > c->len - off)
				n = c->len - off;
			off += n;
			d->msg.bytes += n;
			if (d->crlf_cr || n == 2) {
				d->st = H1_S_CHUNK_SIZE;
				d->hlen = 0;
			} else {
				d->crlf_cr = true;
			}
			return off;
		}
		if (c->data[off] == '\r' && !d->crlf_cr) {
			d->crlf_cr = true;
		} else if (c->data[off] == '\n') {
			d->st = H1_S_CHUNK_SIZE;
			d->hlen = 0;
		} else {
			h1_lost_in_body(s, d, c->dir, emit, ctx);
			return c->len;
		}
		d->msg.bytes++;
		return off + 1;
	case H1_S_CHUNK_SIZE:
		if (off >= c->cap) { /* the size is in a gap: framing gone */
			h1_lost_in_body(s, d, c->dir, emit, ctx);
			return c->len;
		}
		r = h1_take_line(d, c, &off, H1_CHUNK_LINE);
		if (r == 0)
			return off;
		int64_t sz = r > 0 ? h1_chunk_size(d->hbuf, d->hlen) : -1;
		if (sz < 0) {
			h1_lost_in_body(s, d, c->dir, emit, ctx);
			return c->len;
		}
		d->hlen = 0;
		if (sz == 0) {
			d->st = H1_S_TRAILER;
		} else {
			d->st = H1_S_CHUNK_DATA;
			d->rem = (uint64_t)sz;
		}
		return off;
	case H1_S_TRAILER:
		if (off >= c->cap) {
			h1_lost_in_body(s, d, c->dir, emit, ctx);
			return c->len;
		}
		r = h1_take_line(d, c, &off, H1_HEAD_BUF);
		if (r == 0)
			return off;
		if (r < 0) {
			h1_lost_in_body(s, d, c->dir, emit, ctx);
			return c->len;
		}
		if (d->hlen == 1 || (d->hlen == 2 && d->hbuf[0] == '\r'))
			h1_complete(d, emit, ctx); /* the empty line */
		else
			d->hlen = 0; /* a trailer field: not kept */
		return off;
	case H1_S_BODY_EOF:
	case H1_S_CUT:
		d->msg.bytes += c->len - off;
		return c->len;
	default: /* H1_S_LOST */
		return c->len;
	}
}

static void h1_feed(void *state, const struct zt_seg *seg, zt_emit_fn emit, void *ctx)
{
	struct h1_state *s = state;

	if (s->upgraded || seg->dir > ZT_DIR_INGRESS)
		return;
	struct h1_dir *d = &s->d[seg->dir];
	struct h1_cur c = {
	    .seg = seg,
	    .data = (const char *)seg->data,
	    .cap = seg->data ? seg->caplen : 0,
	    .len = seg->len,
	    .dir = seg->dir,
	};
	if (c.cap > c.len) /* a broken record: trust the smaller */
		c.cap = (uint32_t)c.len;

	if (c.len > 0) {
		uint64_t off = 0;

		/* A request counted without being parsed (its head was cut,
		 * or it was answered early and its body may never come) ends
		 * where the next request starts; h1_complete emits it unless
		 * it was emitted already. A segment too short to tell starts
		 * a tentative head. */
		if ((d->st == H1_S_CUT || d->early) && c.cap) {
			enum h1_start t = h1_start_of(seg->data, c.cap);
			if (t == H1_START_REQ || (t == H1_START_MORE && c.cap == c.len)) {
				h1_complete(d, emit, ctx);
				d->tentative = t == H1_START_MORE;
			}
		}
		if (d->in_msg && !d->early)
			zt_msg_extend(&d->msg, seg);
		if (d->st == H1_S_LOST) {
			/* Resynchronise only where a syscall boundary meets
			 * what looks like a message start; a segment too short
			 * to tell starts a tentative head. */
			enum h1_start t = c.cap ? h1_start_of(seg->data, c.cap) : H1_START_NONE;
			if (t >= H1_START_REQ || (t == H1_START_MORE && c.cap == c.len)) {
				h1_dir_reset(d, H1_S_HEAD);
				d->tentative = t == H1_START_MORE;
			}
		}
		while (off < c.len && d->st != H1_S_LOST && !s->upgraded) {
			uint64_t next = h1_step(s, d, &c, off, emit, ctx);
			if (next <= off)
				break; /* no progress: a bug, but never a hang */
			off = next;
		}
	}
	if (seg->eof && !s->upgraded) {
		if (d->in_msg && d->st == H1_S_BODY_EOF) {
			d->msg.flags |= ZT_MF_EOF_BODY;
			h1_complete(d, emit, ctx);
		} else if (d->st == H1_S_CUT) {
			h1_complete(d, emit, ctx);
		} else {
			/* half a message is dropped; a lost direction
			 * stays lost until a segment starts like HTTP */
			h1_dir_reset(d, d->st == H1_S_LOST ? H1_S_LOST : H1_S_HEAD);
		}
	}
}

static void h1_finish(void *state, uint64_t now_ns, zt_emit_fn emit, void *ctx)
{
	struct h1_state *s = state;

	for (int i = 0; i < 2; i++) {
		struct h1_dir *d = &s->d[i];
		if (d->in_msg && d->st == H1_S_BODY_EOF) {
			d->msg.flags |= ZT_MF_EOF_BODY;
			emit(ctx, &d->msg);
		} else if (d->st == H1_S_CUT && !d->early) {
			emit(ctx, &d->msg);
		}
		/* other partial messages are dropped: half a head says little */
		h1_dir_reset(d, H1_S_HEAD);
	}
}

static void h1_endpoint(const struct zt_msg *req, char *out, size_t outsz)
{
	zt_endpoint_normalize(req->request_type, req->request_resource, out, outsz);
}

static void h1_redact_msg(struct zt_msg *m)
{
	zt_http_redact_target(m->request_resource);
}

static uint64_t h1_body_left(const void *state, uint8_t dir)
{
	const struct h1_state *s = state;
	const struct h1_dir *d;

	if (dir > ZT_DIR_INGRESS || s->upgraded)
		return 0;
	d = &s->d[dir];
	return d->st == H1_S_BODY_CL || d->st == H1_S_CHUNK_DATA ? d->rem : 0;
}

/* zt_http_redact and zt_http_redact_target: http1_redact.c. */
const struct zt_proto_ops zt_http1_ops = {
    .id = ZT_L7_HTTP1,
    .name = "HTTP",
    .infer = h1_infer_op,
    .state_size = sizeof(struct h1_state),
    .init = h1_init,
    .feed = h1_feed,
    .finish = h1_finish,
    .first_kind = h1_first_kind,
    .endpoint = h1_endpoint,
    .redact_msg = h1_redact_msg,
    .redact_payload = zt_http_redact,
    .body_left = h1_body_left,
};
