/* SPDX-License-Identifier: MIT */
/*
 * test_http1.c - HTTP/1.x head parsers, streaming parser and redaction.
 * Table-driven; every input goes through parser_harness.h, which places it
 * so that its last byte is followed by a PROT_NONE page: any read past it
 * faults, with or without ASan.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <netinet/in.h>

#include "bpf/events.h"
#include "parser_harness.h"
#include "proto/http1.h"
#include "proto/proto.h"

/* ---- real-looking traffic -------------------------------------------- */

#define CURL_GET "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n"
#define NGINX_200                                                                                            \
	"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 06 May 2024 10:00:00 GMT\r\n"                 \
	"Content-Type: text/html\r\nContent-Length: 615\r\n"                                                 \
	"Last-Modified: Tue, 13 Jun 2023 15:08:10 GMT\r\nConnection: keep-alive\r\n"                         \
	"ETag: \"64888a6a-267\"\r\nAccept-Ranges: bytes\r\n\r\n"
#define PY_200                                                                                               \
	"HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11.2\r\nDate: Mon, 06 May 2024 10:00:00 GMT\r\n" \
	"Content-type: text/html; charset=utf-8\r\nContent-Length: 12\r\n\r\n"
#define GET_A "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
#define GET_B "GET /b HTTP/1.1\r\nHost: h\r\n\r\n"
#define GET_C "GET /c HTTP/1.1\r\nHost: h\r\n\r\n"
#define OK2 "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
#define L(s) (sizeof(s) - 1)

/* ---- head parsers ---------------------------------------------------- */

struct head_case {
	const char *name;
	bool response;
	const char *in;
	int ret; /* 0: strlen(in) */
	const char *method, *path;
	int minor, status;
	const char *reason;
	size_t nhdr;
	int64_t cl;
	bool te, chunked, close, keep_alive, upgrade;
	int hidx; /* header to check by index, with hname/hvalue */
	const char *hname, *hvalue;
};

static const struct head_case valid_heads[] = {
    {.name = "curl",
     .in = CURL_GET,
     .method = "GET",
     .path = "/",
     .minor = 1,
     .nhdr = 3,
     .cl = -1,
     .hidx = 1,
     .hname = "User-Agent",
     .hvalue = "curl/7.88.1"},
    {.name = "nginx",
     .response = true,
     .in = NGINX_200,
     .minor = 1,
     .status = 200,
     .reason = "OK",
     .nhdr = 8,
     .cl = 615,
     .keep_alive = true,
     .hidx = 6,
     .hname = "ETag",
     .hvalue = "\"64888a6a-267\""},
    {.name = "python",
     .response = true,
     .in = PY_200,
     .minor = 0,
     .status = 200,
     .reason = "OK",
     .nhdr = 4,
     .cl = 12,
     .hidx = 2,
     .hname = "Content-type",
     .hvalue = "text/html; charset=utf-8"},
    {.name = "post body after head",
     .in = "POST /api/v1/items?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody",
     .ret = L("POST /api/v1/items?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n"),
     .method = "POST",
     .path = "/api/v1/items?x=1",
     .minor = 1,
     .nhdr = 2,
     .cl = 4,
     .hidx = 0,
     .hname = "Host",
     .hvalue = "a"},
    {.name = "bare LF",
     .in = "GET /x HTTP/1.0\nHost:  spaced  \n\n",
     .method = "GET",
     .path = "/x",
     .minor = 0,
     .nhdr = 1,
     .cl = -1,
     .hidx = 0,
     .hname = "Host",
     .hvalue = "spaced"},
    {.name = "chunked",
     .response = true,
     .in = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n",
     .minor = 1,
     .status = 200,
     .reason = "OK",
     .nhdr = 2,
     .cl = -1,
     .te = true,
     .chunked = true,
     .close = true},
    {.name = "te not last",
     .response = true,
     .in = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
     .minor = 1,
     .status = 200,
     .reason = "OK",
     .nhdr = 1,
     .cl = -1,
     .te = true},
    {.name = "no reason",
     .response = true,
     .in = "HTTP/1.1 204\r\n\r\n",
     .minor = 1,
     .status = 204,
     .reason = "",
     .cl = -1},
    {.name = "reason spaces",
     .response = true,
     .in = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
     .minor = 1,
     .status = 404,
     .reason = "Not Found",
     .nhdr = 1,
     .cl = 0},
    {.name = "duplicate equal CL",
     .response = true,
     .in = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\n",
     .minor = 1,
     .status = 200,
     .reason = "OK",
     .nhdr = 2,
     .cl = 3},
    {.name = "upgrade",
     .in = "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
     .method = "GET",
     .path = "/ws",
     .minor = 1,
     .nhdr = 3,
     .cl = -1,
     .upgrade = true},
    {.name = "connect",
     .in = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
     .method = "CONNECT",
     .path = "example.com:443",
     .minor = 1,
     .nhdr = 1,
     .cl = -1},
    {.name = "options star",
     .in = "OPTIONS * HTTP/1.1\r\n\r\n",
     .method = "OPTIONS",
     .path = "*",
     .minor = 1,
     .cl = -1},
    {.name = "empty value",
     .in = "GET / HTTP/1.1\r\nX-Empty:\r\nX-Tab:\tv\t\r\n\r\n",
     .method = "GET",
     .path = "/",
     .minor = 1,
     .nhdr = 2,
     .cl = -1,
     .hidx = 1,
     .hname = "X-Tab",
     .hvalue = "v"},
    {.name = "16-char method",
     .in = "BASELINE-CONTROL /x HTTP/1.1\r\n\r\n",
     .method = "BASELINE-CONTROL",
     .path = "/x",
     .minor = 1,
     .cl = -1},
    {.name = "keep-alive list",
     .in = "GET / HTTP/1.0\r\nConnection: Keep-Alive, TE\r\n\r\n",
     .method = "GET",
     .path = "/",
     .minor = 0,
     .nhdr = 1,
     .cl = -1,
     .keep_alive = true},
};

static void assert_slice(struct h1_slice s, const char *want)
{
	if (!want)
		return;
	assert_int_equal(s.n, strlen(want));
	assert_memory_equal(s.p, want, s.n);
}

static int parse_req(void *h, const uint8_t *buf, size_t len)
{
	return h1_parse_request_head((const char *)buf, len, h);
}

static int parse_resp(void *h, const uint8_t *buf, size_t len)
{
	return h1_parse_response_head((const char *)buf, len, h);
}

static struct ph_parser head_parser(bool response, const char *name, struct h1_head *h)
{
	return (struct ph_parser){
	    .name = name,
	    .parse = response ? parse_resp : parse_req,
	    .ctx = h,
	    .incomplete = -2,
	};
}

static void test_head_valid(void **unused)
{
	struct h1_head h;

	for (size_t i = 0; i < sizeof(valid_heads) / sizeof(valid_heads[0]); i++) {
		const struct head_case *c = &valid_heads[i];
		size_t n = strlen(c->in);
		int want = c->ret ? c->ret : (int)n;
		struct ph_parser p = head_parser(c->response, c->name, &h);

		print_message("head: %s\n", c->name);
		assert_int_equal(ph_parse_at_guard(&p, c->in, n), want);
		assert_slice(h.method, c->method);
		assert_slice(h.path, c->path);
		assert_slice(h.reason, c->reason);
		assert_int_equal(h.minor_version, c->minor);
		assert_int_equal(h.status, c->status);
		assert_int_equal(h.num_headers, c->nhdr);
		assert_int_equal(h.content_length, c->cl);
		assert_int_equal(h.te, c->te);
		assert_int_equal(h.chunked, c->chunked);
		assert_int_equal(h.connection_close, c->close);
		assert_int_equal(h.connection_keep_alive, c->keep_alive);
		assert_int_equal(h.upgrade, c->upgrade);
		if (c->hname) {
			assert_slice(h.headers[c->hidx].name, c->hname);
			assert_slice(h.headers[c->hidx].value, c->hvalue);
		}
	}
}

/* Every proper prefix of a valid head is incomplete, never an error. */
static void test_head_prefixes(void **unused)
{
	struct h1_head h;

	for (size_t i = 0; i < sizeof(valid_heads) / sizeof(valid_heads[0]); i++) {
		const struct head_case *c = &valid_heads[i];
		size_t n = strlen(c->in);
		size_t want = c->ret ? (size_t)c->ret : n;
		struct ph_parser p = head_parser(c->response, c->name, &h);

		ph_check_prefixes(&p, c->in, n, want, (int)want);
	}
}

struct bad_case {
	bool response;
	const char *in;
};

static const struct bad_case bad_heads[] = {
    {false, "GET / HTTP/1.2\r\n\r\n"},
    {false, "GET / HTTP/2.0\r\n\r\n"},
    {false, "GET / http/1.1\r\n\r\n"},
    {false, "GET /\r\n\r\n"},			     /* HTTP/0.9 */
    {false, "G\x01T / HTTP/1.1\r\n\r\n"},	     /* control byte in method */
    {false, "GET /a\x7f HTTP/1.1\r\n\r\n"},	     /* control byte in path */
    {false, "GET /a\tb HTTP/1.1\r\n\r\n"},	     /* tab in path */
    {false, "ABCDEFGHIJKLMNOPQ / HTTP/1.1\r\n\r\n"}, /* 17-char method */
    {false, " GET / HTTP/1.1\r\n\r\n"},
    {false, "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"},
    {false, "GET / HTTP/1.1\r\nName : x\r\n\r\n"},
    {false, "GET / HTTP/1.1\r\n: x\r\n\r\n"},
    {false, "GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n"},
    {false, "GET / HTTP/1.1\r\nA: b\x01\r\n\r\n"},
    {false, "GET / HTTP/1.1\r\nA\x80: b\r\n\r\n"},
    {false, "GET / HTTP/1.1\rX\n\r\n"},
    {false, "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"},
    {false, "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"},
    {false, "GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n"},
    {false, "GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n"},
    {false, "GET / HTTP/1.1\r\nContent-Length: \r\n\r\n"},
    {false, "HTTP/1.1 200 OK\r\n\r\n"}, /* a response where a request is due */
    {true, "HTTP/1.2 200 OK\r\n\r\n"},
    {true, "HTTP/1.1 20 OK\r\n\r\n"},
    {true, "HTTP/1.1 2000 OK\r\n\r\n"},
    {true, "HTTP/1.1 099 OK\r\n\r\n"},
    {true, "HTTP/1.1 abc OK\r\n\r\n"},
    {true, "HTTP/1.1200 OK\r\n\r\n"},
    {true, "HTTP/1.1 200 O\x01K\r\n\r\n"},
    {true, "GET / HTTP/1.1\r\n\r\n"},
    {true, "HTTP/1.1 200 OK\r\nX\r\n\r\n"},
};

/* Prefixes of a bad head: incomplete until the offending byte, an error
 * from there on. The streaming parser relies on this monotonicity when it
 * bisects for the offending byte. */
struct mono {
	size_t idx;
	bool failed; /* a shorter prefix was an error */
};

static void check_monotone(void *ctx, size_t k, int r)
{
	struct mono *m = ctx;

	if (r != -1 && r != -2)
		fail_msg("bad head %zu: prefix %zu gave %d", m->idx, k, r);
	if (m->failed && r != -1)
		fail_msg("bad head %zu: prefix %zu gave %d after an error", m->idx, k, r);
	m->failed = r == -1;
}

static void test_head_malformed(void **unused)
{
	struct h1_head h;

	for (size_t i = 0; i < sizeof(bad_heads) / sizeof(bad_heads[0]); i++) {
		const char *in = bad_heads[i].in;
		size_t n = strlen(in);
		struct ph_parser p = head_parser(bad_heads[i].response, "bad head", &h);
		struct mono m = {.idx = i};

		int r = ph_parse_at_guard(&p, in, n);
		if (r != -1)
			fail_msg("bad head %zu gave %d", i, r);
		ph_each_prefix(&p, in, n, check_monotone, &m);
	}
}

static void test_head_many_headers(void **unused)
{
	char in[8192];
	size_t n = 0;
	struct h1_head h;

	n += (size_t)snprintf(in + n, sizeof(in) - n, "HTTP/1.1 200 OK\r\n");
	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(in + n, sizeof(in) - n, "X-H%d: %d\r\n", i, i);
	n += (size_t)snprintf(in + n, sizeof(in) - n, "Content-Length: 7\r\n\r\n");
	const char *buf = (const char *)ph_at_guard(in, n);
	assert_int_equal(h1_parse_response_head(buf, n, &h), (int)n);
	assert_int_equal(h.num_headers, H1_MAX_HEADERS);
	assert_int_equal(h.headers_seen, 101);
	assert_int_equal(h.content_length, 7); /* framing from a header not kept */
}

static void test_infer(void **unused)
{
	static const struct {
		const char *in;
		int want;
	} t[] = {
	    {"GET / HTTP/1.1\r\n", 90},
	    {"POST /x", 90},
	    {"PUT ", 90},
	    {"DELETE /", 90},
	    {"HEAD /", 90},
	    {"OPTIONS *", 90},
	    {"PATCH /", 90},
	    {"CONNECT a:1", 90},
	    {"TRACE /", 90},
	    {"HTTP/1.1 200", 90},
	    {"HTTP/1.0", 90},
	    {"GET", 0},
	    {"GETX /", 0},
	    {"get /", 0},
	    {"HTTP/2.0 200", 0},
	    {"PRI * HTTP/2.0", 0},
	    {"\x16\x03\x01\x02", 0},
	    {"", 0},
	    {"HTTP/1", 0},
	};
	const struct zt_infer_hints eg = {
	    .l4 = IPPROTO_TCP, .dir = ZT_DIR_EGRESS, .lport = 40000, .rport = 80};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t n = strlen(t[i].in);
		assert_int_equal(zt_http1_ops.infer(ph_at_guard(t[i].in, n), n, &eg), t[i].want);
	}
	assert_int_equal(zt_http1_ops.infer(NULL, 0, NULL), 0);
	assert_ptr_equal(zt_proto_infer((const uint8_t *)"GET / ", 6, NULL), &zt_http1_ops);
	assert_null(zt_proto_infer((const uint8_t *)"\0\0\0\0", 4, NULL));
}

/* infer() and first_kind() agree on what starts a message: every request
 * start and the response start, each whole (and longer) and each proper
 * prefix, the latter never enough to decide. */
static void test_starts(void **unused)
{
	static const struct {
		const char *start;
		int kind;
	} t[] = {
	    {"GET ", ZT_MSG_REQUEST},	  {"POST ", ZT_MSG_REQUEST},	{"PUT ", ZT_MSG_REQUEST},
	    {"DELETE ", ZT_MSG_REQUEST},  {"HEAD ", ZT_MSG_REQUEST},	{"OPTIONS ", ZT_MSG_REQUEST},
	    {"PATCH ", ZT_MSG_REQUEST},	  {"CONNECT ", ZT_MSG_REQUEST}, {"TRACE ", ZT_MSG_REQUEST},
	    {"HTTP/1.", ZT_MSG_RESPONSE},
	};
	char buf[32];

	assert_non_null(zt_http1_ops.first_kind);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t n = strlen(t[i].start);
		snprintf(buf, sizeof(buf), t[i].kind == ZT_MSG_REQUEST ? "%s/x HTTP/1.1\r\n" : "%s1 200 OK\r\n",
			 t[i].start);
		for (size_t k = 0; k <= strlen(buf); k++) {
			const uint8_t *p = ph_at_guard(buf, k);
			int infer = zt_http1_ops.infer(p, k, NULL);
			int kind = zt_http1_ops.first_kind(p, k);
			if (infer != (k >= n ? 90 : 0) || kind != (k >= n ? t[i].kind : 0))
				fail_msg("'%.*s': infer %d, first_kind %d", (int)k, buf, infer, kind);
		}
	}
	/* not starts, however long */
	static const char *const no[] = {"get / HTTP/1.1", "HTTP/2 200",	  "HTTP/1",	 "GETX /",
					 " GET /",	   "PROPFIND / HTTP/1.1", "\x16\x03\x01"};
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		size_t n = strlen(no[i]);
		assert_int_equal(zt_http1_ops.infer(ph_at_guard(no[i], n), n, NULL), 0);
		assert_int_equal(zt_http1_ops.first_kind(ph_at_guard(no[i], n), n), 0);
	}
	assert_int_equal(zt_http1_ops.first_kind(NULL, 0), 0);
	/* whole first lines that start like a request but are no HTTP/1
	 * request line (NATS's CONNECT {json}) are not inferred */
	static const char *const not_h1[] = {"CONNECT {\"verbose\":false}\r\n", "GET key\r\n", "PUT / HTTP/2\r\n",
					     "GET / HTTP/1.x\r\n"};
	for (size_t i = 0; i < sizeof(not_h1) / sizeof(not_h1[0]); i++) {
		size_t n = strlen(not_h1[i]);
		assert_int_equal(zt_http1_ops.infer(ph_at_guard(not_h1[i], n), n, NULL), 0);
	}
}

static void test_ops(void **unused)
{
	assert_int_equal(zt_http1_ops.id, ZT_L7_HTTP1);
	assert_string_equal(zt_http1_ops.name, "HTTP");
	assert_true(zt_http1_ops.state_size < 12 * 1024);
	assert_ptr_equal(zt_proto_by_id(ZT_L7_HTTP1), &zt_http1_ops);
	assert_non_null(zt_http1_ops.init);
	assert_non_null(zt_http1_ops.feed);
	assert_non_null(zt_http1_ops.finish);
}

/* ---- streaming harness ----------------------------------------------- */

/* Steps are parser_harness.h chunks; these build them from literals. */
#define EG(s)                                                                                                \
	{                                                                                                    \
		.dir = ZT_DIR_EGRESS, .data = (s), .len = L(s)                                               \
	}
#define IN(s)                                                                                                \
	{                                                                                                    \
		.dir = ZT_DIR_INGRESS, .data = (s), .len = L(s)                                              \
	}
#define EG_GAP(s, g)                                                                                         \
	{                                                                                                    \
		.dir = ZT_DIR_EGRESS, .data = (s), .len = L(s), .gap = (g)                                   \
	}
#define IN_GAP(s, g)                                                                                         \
	{                                                                                                    \
		.dir = ZT_DIR_INGRESS, .data = (s), .len = L(s), .gap = (g)                                  \
	}
#define IN_GAP_ONLY(g)                                                                                       \
	{                                                                                                    \
		.dir = ZT_DIR_INGRESS, .gap = (g)                                                            \
	}
#define IN_EOF                                                                                               \
	{                                                                                                    \
		.dir = ZT_DIR_INGRESS, .eof = true                                                           \
	}

static struct ph_msgs cap_a, cap_b;

static void run_steps(const struct ph_chunk *st, size_t nst, enum ph_cut cut, bool finish,
		      struct ph_msgs *out)
{
	ph_run(&zt_http1_ops, st, nst, &(struct ph_feed){.cut = cut, .finish = finish}, out);
}

/* Expected message; NULL strings are not checked, "" asserts empty. */
struct want {
	uint8_t kind;
	uint32_t flags;
	const char *method, *path, *host, *version;
	int status;
	uint64_t bytes;
	const char *exc, *trace, *span, *parent, *xrid;
	bool ts;      /* check timestamps and seq: */
	int at;	      /* step where the message starts */
	uint32_t off; /* offset of its first byte in that step */
	int end;      /* step carrying its last byte */
};

static void assert_str(const char *got, const char *want, size_t cap)
{
	assert_true(strnlen(got, cap) < cap);
	if (want)
		assert_string_equal(got, want);
}

static void check_msg(const struct zt_msg *m, const struct want *w, const struct ph_chunk *st, size_t nst)
{
	assert_int_equal(m->kind, w->kind);
	assert_int_equal(m->flags & ~(uint32_t)ZT_MF_HAS_CODE, w->flags);
	assert_string_equal(m->request_type, w->method ? w->method : "");
	if (w->path)
		assert_string_equal(m->request_resource, w->path);
	/* a response always carries its code, and the class the parser gives it */
	assert_int_equal(m->kind == ZT_MSG_RESPONSE, (m->flags & ZT_MF_HAS_CODE) != 0);
	assert_int_equal((m->flags & ZT_MF_HAS_CODE) ? m->response_code : 0, w->status);
	if (m->kind == ZT_MSG_RESPONSE)
		assert_int_equal(m->status, w->status >= 500   ? ZT_RS_SERVER_ERROR
					    : w->status >= 400 ? ZT_RS_CLIENT_ERROR
							       : ZT_RS_OK);
	assert_int_equal(m->bytes, w->bytes);
	assert_str(m->request_domain, w->host, sizeof(m->request_domain));
	assert_str(m->version, w->version, sizeof(m->version));
	assert_str(m->response_exception, w->exc, sizeof(m->response_exception));
	assert_str(m->trace_id, w->trace, sizeof(m->trace_id));
	assert_str(m->span_id, w->span, sizeof(m->span_id));
	assert_str(m->parent_span_id, w->parent, sizeof(m->parent_span_id));
	assert_str(m->x_request_id, w->xrid, sizeof(m->x_request_id));
	if (w->ts) {
		assert_true(w->at >= 0 && (size_t)w->at < nst && w->end >= w->at && (size_t)w->end < nst);
		const struct ph_chunk *s = &st[w->at];
		assert_int_equal(m->dir, s->dir);
		assert_int_equal(m->start_ns,
				 s->dir == ZT_DIR_EGRESS ? ph_enter_ns(w->at) : ph_exit_ns(w->at));
		assert_int_equal(m->end_ns, ph_exit_ns(w->end));
		assert_true(m->has_seq);
		assert_int_equal(m->seq, ph_seq(st, w->at) + w->off);
		assert_int_equal(m->tid_start, ph_tid(s->dir));
		assert_int_equal(m->tid_end, ph_tid(st[w->end].dir));
	}
}

/* Runs the steps whole and checks the wanted messages; then every cut of
 * the steps into segments (each step split in two at every byte, and byte
 * by byte) must emit the very same messages. */
static void check_ex(const struct ph_chunk *st, size_t nst, const struct want *w, size_t nw, bool finish)
{
	run_steps(st, nst, PH_WHOLE, finish, &cap_a);
	if (cap_a.n != nw)
		fail_msg("got %zu messages, want %zu", cap_a.n, nw);
	for (size_t i = 0; i < nw; i++) {
		check_msg(&cap_a.m[i], &w[i], st, nst);
	}
	ph_check_splits(&zt_http1_ops, st, nst, finish, NULL, &cap_b);
}

#define CHECK(st, w) check_ex((st), sizeof(st) / sizeof((st)[0]), (w), sizeof(w) / sizeof((w)[0]), false)
#define CHECK_FINISH(st, w)                                                                                  \
	check_ex((st), sizeof(st) / sizeof((st)[0]), (w), sizeof(w) / sizeof((w)[0]), true)

#define REQ ZT_MSG_REQUEST
#define RESP ZT_MSG_RESPONSE

/* ---- streaming tests ------------------------------------------------- */

static void test_stream_req_resp(void **unused)
{
	static const struct ph_chunk st[] = {EG(CURL_GET), IN_GAP(NGINX_200, 615)};
	static const struct want w[] = {
	    {.kind = REQ,
	     .method = "GET",
	     .path = "/",
	     .host = "127.0.0.1:8080",
	     .version = "1.1",
	     .bytes = L(CURL_GET),
	     .exc = "",
	     .trace = "",
	     .xrid = "",
	     .ts = true,
	     .at = 0,
	     .end = 0},
	    {.kind = RESP,
	     .status = 200,
	     .version = "1.1",
	     .host = "",
	     .path = "",
	     .exc = "",
	     .bytes = L(NGINX_200) + 615,
	     .ts = true,
	     .at = 1,
	     .end = 1},
	};
	CHECK(st, w);
}

/* We are the server: requests are ingress, timestamps from their exits. */
static void test_stream_server_side(void **unused)
{
	static const struct ph_chunk st[] = {IN(CURL_GET), EG(PY_200 "<html></html"), IN(GET_A), EG(OK2)};
	static const struct want w[] = {
	    {.kind = REQ, .method = "GET", .path = "/", .bytes = L(CURL_GET), .ts = true, .at = 0, .end = 0},
	    {.kind = RESP,
	     .status = 200,
	     .version = "1.0",
	     .bytes = L(PY_200) + 12,
	     .ts = true,
	     .at = 1,
	     .end = 1},
	    {.kind = REQ, .method = "GET", .path = "/a", .bytes = L(GET_A), .ts = true, .at = 2, .end = 2},
	    {.kind = RESP, .status = 200, .bytes = L(OK2), .ts = true, .at = 3, .end = 3},
	};
	CHECK(st, w);
}

static void test_stream_keepalive(void **unused)
{
	static const struct ph_chunk st[] = {EG(GET_A), IN(OK2), EG(GET_B), IN(OK2), EG(GET_C), IN(OK2)};
	static const struct want w[] = {
	    {.kind = REQ,
	     .method = "GET",
	     .path = "/a",
	     .host = "h",
	     .bytes = L(GET_A),
	     .ts = true,
	     .at = 0,
	     .end = 0},
	    {.kind = RESP, .status = 200, .bytes = L(OK2), .ts = true, .at = 1, .end = 1},
	    {.kind = REQ, .method = "GET", .path = "/b", .bytes = L(GET_B), .ts = true, .at = 2, .end = 2},
	    {.kind = RESP, .status = 200, .bytes = L(OK2), .ts = true, .at = 3, .end = 3},
	    {.kind = REQ, .method = "GET", .path = "/c", .bytes = L(GET_C), .ts = true, .at = 4, .end = 4},
	    {.kind = RESP, .status = 200, .bytes = L(OK2), .ts = true, .at = 5, .end = 5},
	};
	CHECK(st, w);
}

static void test_stream_pipelining(void **unused)
{
	static const struct ph_chunk st[] = {EG(GET_A GET_B GET_C), IN(OK2 OK2 "\r\n" OK2)};
	static const struct want w[] = {
	    {.kind = REQ,
	     .method = "GET",
	     .path = "/a",
	     .bytes = L(GET_A),
	     .ts = true,
	     .at = 0,
	     .off = 0,
	     .end = 0},
	    {.kind = REQ,
	     .method = "GET",
	     .path = "/b",
	     .bytes = L(GET_B),
	     .ts = true,
	     .at = 0,
	     .off = L(GET_A),
	     .end = 0},
	    {.kind = REQ,
	     .method = "GET",
	     .path = "/c",
	     .bytes = L(GET_C),
	     .ts = true,
	     .at = 0,
	     .off = L(GET_A GET_B),
	     .end = 0},
	    {.kind = RESP, .status = 200, .bytes = L(OK2), .ts = true, .at = 1, .off = 0, .end = 1},
	    {.kind = RESP, .status = 200, .bytes = L(OK2), .ts = true, .at = 1, .off = L(OK2), .end = 1},
	    /* the stray CRLF between messages belongs to neither */
	    {.kind = RESP,
	     .status = 200,
	     .bytes = L(OK2),
	     .ts = true,
	     .at = 1,
	     .off = L(OK2 OK2 "\r\n"),
	     .end = 1},
	};
	CHECK(st, w);
}

#define POST_HEAD "POST /upload HTTP/1.1\r\nHost: up\r\nContent-Length: 10\r\n\r\n"

static void test_stream_split3(void **unused)
{
	static const struct ph_chunk st[] = {EG("POST /upl"), EG("oad HTTP/1.1\r\nHost: up\r\nContent-Le"),
					     EG("ngth: 10\r\n\r\n0123456789"), IN(OK2)};
	static const struct want w[] = {
	    {.kind = REQ,
	     .method = "POST",
	     .path = "/upload",
	     .host = "up",
	     .bytes = L(POST_HEAD) + 10,
	     .ts = true,
	     .at = 0,
	     .end = 2},
	    {.kind = RESP, .status = 200, .bytes = L(OK2), .ts = true, .at = 3, .end = 3},
	};
	CHECK(st, w);
}

/* Timing fields aside, two messages are the same. */
static void same_but_timing(const struct zt_msg *want, const struct zt_msg *got, const char *what)
{
	struct zt_msg a, b;

	memcpy(&a, want, sizeof(a));
	memcpy(&b, got, sizeof(b));
	a.start_ns = b.start_ns = a.end_ns = b.end_ns = 0;
	a.tid_start = b.tid_start = a.tid_end = b.tid_end = 0;
	a.trace_ctx = b.trace_ctx = 0;
	if (memcmp(&a, &b, sizeof(a)) != 0)
		fail_msg("%s: messages differ", what);
}

/* A request and a response, each cut in two at every point as separate
 * syscalls, give the same messages as uncut, and the times of the syscalls
 * that carried their first and last bytes. */
static void test_stream_every_split(void **unused)
{
	static const char req[] = POST_HEAD "0123456789";
	static const char resp[] = "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
				   "4\r\nabcd\r\n3;x=y\r\nefg\r\n0\r\nT: v\r\n\r\n";
	struct ph_chunk whole[] = {EG(req), IN(resp)};

	run_steps(whole, 2, PH_WHOLE, false, &cap_a);
	assert_int_equal(cap_a.n, 2);
	assert_int_equal(cap_a.m[0].bytes, L(req));
	assert_int_equal(cap_a.m[1].bytes, L(resp));
	assert_int_equal(cap_a.m[1].response_code, 201);
	assert_int_equal(cap_a.m[1].flags, ZT_MF_HAS_CODE);
	for (size_t k = 1; k < L(req); k++) {
		for (size_t j = 1; j < L(resp); j += (k % 7) + 1) {
			struct ph_chunk st[] = {
			    {.dir = 0, .data = req, .len = k},
			    {.dir = 0, .data = req + k, .len = L(req) - k},
			    {.dir = 1, .data = resp, .len = j},
			    {.dir = 1, .data = resp + j, .len = L(resp) - j},
			};
			run_steps(st, 4, PH_WHOLE, false, &cap_b);
			ph_assert_same_msgs(&cap_a, &cap_b, same_but_timing, "split request and response");
			assert_int_equal(cap_b.m[0].end_ns, ph_exit_ns(1));
			assert_int_equal(cap_b.m[1].start_ns, ph_exit_ns(2));
			assert_int_equal(cap_b.m[1].end_ns, ph_exit_ns(3));
		}
	}
}

#define RESP_3000 "HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n"

static void test_stream_cl_gaps(void **unused)
{
	static const struct ph_chunk st[] = {
	    EG(GET_A),
	    IN_GAP(RESP_3000 "0123456789", 990), /* 1000 body bytes */
	    IN_GAP_ONLY(1000),			 /* nothing captured */
	    IN_GAP("abcdef", 994),		 /* last byte here */
	    EG(GET_B),
	    IN(OK2),
	};
	static const struct want w[] = {
	    {.kind = REQ, .method = "GET", .path = "/a", .bytes = L(GET_A), .ts = true, .at = 0, .end = 0},
	    {.kind = RESP, .status = 200, .bytes = L(RESP_3000) + 3000, .ts = true, .at = 1, .end = 3},
	    {.kind = REQ, .method = "GET", .path = "/b", .bytes = L(GET_B), .ts = true, .at = 4, .end = 4},
	    {.kind = RESP, .status = 200, .bytes = L(OK2), .ts = true, .at = 5, .end = 5},
	};
	CHECK(st, w);
}

#define CHUNKED_HEAD "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

static void test_stream_chunked(void **unused)
{
	static const struct ph_chunk st[] = {
	    EG(GET_A),
	    IN(CHUNKED_HEAD "5\r\nhel"),
	    IN("lo\r\n6;ext=1\r\n world\r"),
	    IN("\nA\r\n0123456789\r\n0\r"),
	    IN("\nX-Trailer: a\r\n\r\n"),
	    EG(GET_B),
	    IN(OK2),
	};
	static const size_t body =
	    L("5\r\nhello\r\n6;ext=1\r\n world\r\nA\r\n0123456789\r\n0\r\nX-Trailer: a\r\n\r\n");
	static const struct want w[] = {
	    {.kind = REQ, .method = "GET", .path = "/a", .bytes = L(GET_A), .ts = true, .at = 0, .end = 0},
	    {.kind = RESP, .status = 200, .bytes = L(CHUNKED_HEAD) + body, .ts = true, .at = 1, .end = 4},
	    {.kind = REQ, .method = "GET", .path = "/b", .bytes = L(GET_B), .ts = true, .at = 5, .end = 5},
	    {.kind = RESP, .status = 200, .bytes = L(OK2), .ts = true, .at = 6, .end = 6},
	};
	CHECK(st, w);
}

static void test_stream_chunk_data_gap(void **unused)
{
	/* 0x1f4 = 500 data bytes: 10 captured, 490 + CRLF in the gap */
	static const struct ph_chunk st[] = {
	    EG(GET_A),
	    IN_GAP(CHUNKED_HEAD "1f4\r\n0123456789", 492),
	    IN_GAP("1\r\n", 3), /* one byte of data and its CRLF in a gap */
	    IN("0\r\n\r\n"),
	    EG(GET_B),
	    IN(OK2),
	};
	static const struct want w[] = {
	    {.kind = REQ, .method = "GET", .path = "/a", .bytes = L(GET_A), .ts = true, .at = 0, .end = 0},
	    {.kind = RESP,
	     .status = 200,
	     .bytes = L(CHUNKED_HEAD) + 5 + 502 + 6 + 5,
	     .ts = true,
	     .at = 1,
	     .end = 3},
	    {.kind = REQ, .method = "GET", .path = "/b", .bytes = L(GET_B), .ts = true, .at = 4, .end = 4},
	    {.kind = RESP, .status = 200, .bytes = L(OK2), .ts = true, .at = 5, .end = 5},
	};
	CHECK(st, w);
}

static void test_stream_chunk_size_gap(void **unused)
{
	static const struct ph_chunk st[] = {
	    EG(GET_A),
	    IN_GAP(CHUNKED_HEAD "5\r\nhello\r\n", 100), /* next size line lost */
	    IN("3\r\nabc\r\n0\r\n\r\n"),		/* no resync mid-body */
	    EG(GET_B),
	    IN(OK2),
	};
	static const struct want w[] = {
	    {.kind = REQ, .method = "GET", .path = "/a", .bytes = L(GET_A), .ts = true, .at = 0, .end = 0},
	    {.kind = RESP,
	     .flags = ZT_MF_LOST_SYNC,
	     .status = 200,
	     .bytes = L(CHUNKED_HEAD "5\r\nhello\r\n"),
	     .ts = true,
	     .at = 1,
	     .end = 1},
	    {.kind = REQ, .method = "GET", .path = "/b", .bytes = L(GET_B), .ts = true, .at = 3, .end = 3},
	    {.kind = RESP, .status = 200, .bytes = L(OK2), .ts = true, .at = 4, .end = 4},
	};
	CHECK(st, w);
}

#define HEAD_REQ "HEAD /big.iso HTTP/1.1\r\nHost: h\r\n\r\n"
#define HEAD_RESP "HTTP/1.1 200 OK\r\nContent-Length: 4700000000\r\n\r\n"

static void test_stream_head(void **unused)
{
	static const struct ph_chunk st[] = {EG(HEAD_REQ), IN(HEAD_RESP), EG(GET_A), IN(OK2)};
	static const struct want w[] = {
	    {.kind = REQ,
	     .method = "HEAD",
	     .path = "/big.iso",
	     .bytes = L(HEAD_REQ),
	     .ts = true,
	     .at = 0,
	     .end = 0},
	    {.kind = RESP, .status = 200, .bytes = L(HEAD_RESP), .ts = true, .at = 1, .end = 1},
	    {.kind = REQ, .method = "GET", .path = "/a", .bytes = L(GET_A), .ts = true, .at = 2, .end = 2},
	    {.kind = RESP, .status = 200, .bytes = L(OK2), .ts = true, .at = 3, .end = 3},
	};
	CHECK(st, w);
}

/* Pipelined HEAD then GET: the FIFO tells the two responses apart. */
static void test_stream_head_pipelined(void **unused)
{
	static const struct ph_chunk st[] = {EG(HEAD_REQ GET_A), IN(HEAD_RESP OK2)};
	static const struct want w[] = {
	    {.kind = REQ, .method = "HEAD", .bytes = L(HEAD_REQ)},
	    {.kind = REQ, .method = "GET", .bytes = L(GET_A)},
	    {.kind = RESP, .status = 200, .bytes = L(HEAD_RESP)},
	    {.kind = RESP,
	     .status = 200,
	     .bytes = L(OK2),
	     .ts = true,
	     .at = 1,
	     .off = L(HEAD_RESP),
	     .end = 1},
	};
	CHECK(st, w);
}

#define EXPECT_REQ "POST /p HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
#define CONT "HTTP/1.1 100 Continue\r\n\r\n"
#define CREATED "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"

static void test_stream_100_continue(void **unused)
{
	static const struct ph_chunk st[] = {EG(EXPECT_REQ), IN(CONT), EG("hello"), IN(CREATED)};
	static const struct want w[] = {
	    {.kind = RESP,
	     .flags = ZT_MF_INTERIM,
	     .status = 100,
	     .bytes = L(CONT),
	     .ts = true,
	     .at = 1,
	     .end = 1},
	    {.kind = REQ,
	     .method = "POST",
	     .path = "/p",
	     .bytes = L(EXPECT_REQ) + 5,
	     .ts = true,
	     .at = 0,
	     .end = 2},
	    {.kind = RESP, .status = 201, .bytes = L(CREATED), .ts = true, .at = 3, .end = 3},
	};
	CHECK(st, w);
}

/* The server refuses before the request is complete (issue 13): 405 to
 * Expect: 100-continue, the body never sent, the connection reused; the
 * request is emitted when the response begins, flagged EARLY, so the two
 * pair instead of an orphan response and an unanswered request. */
#define R405 "HTTP/1.1 405 Not Allowed\r\nContent-Length: 0\r\n\r\n"
static void test_stream_early_405(void **unused)
{
	static const struct ph_chunk st[] = {EG(EXPECT_REQ), IN(R405), EG(GET_B), IN(OK2)};
	static const struct want w[] = {
	    {.kind = REQ,
	     .flags = ZT_MF_EARLY,
	     .method = "POST",
	     .path = "/p",
	     .host = "h",
	     .version = "1.1",
	     .bytes = L(EXPECT_REQ),
	     .ts = true,
	     .at = 0,
	     .end = 0},
	    {.kind = RESP, .status = 405, .exc = "Not Allowed", .version = "1.1", .bytes = L(R405)},
	    {.kind = REQ, .method = "GET", .path = "/b", .host = "h", .version = "1.1", .bytes = L(GET_B), .ts = true,
	     .at = 2, .end = 2},
	    {.kind = RESP, .status = 200, .version = "1.1", .bytes = L(OK2)},
	};
	CHECK(st, w);
}

/* 413 on a big POST: part of the body sent (some of it not captured), the
 * answer, then the rest of the body (counted, not a second request) and the
 * next request. */
#define BIG_POST "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 3000\r\n\r\n"
#define R413 "HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: 4\r\n\r\nbig!"
static void test_stream_early_413(void **unused)
{
	static const struct ph_chunk st[] = {EG_GAP(BIG_POST "abcd", 996), IN(R413), EG_GAP("", 2000), EG(GET_B),
					     IN(OK2)};
	static const struct want w[] = {
	    {.kind = REQ,
	     .flags = ZT_MF_EARLY,
	     .method = "POST",
	     .path = "/up",
	     .host = "h",
	     .version = "1.1",
	     .bytes = L(BIG_POST) + 1000,
	     .ts = true,
	     .at = 0,
	     .end = 0},
	    {.kind = RESP, .status = 413, .exc = "Request Entity Too Large", .version = "1.1", .bytes = L(R413)},
	    {.kind = REQ, .method = "GET", .path = "/b", .host = "h", .version = "1.1", .bytes = L(GET_B), .ts = true,
	     .at = 3, .end = 3},
	    {.kind = RESP, .status = 200, .version = "1.1", .bytes = L(OK2)},
	};
	CHECK(st, w);
}

#define DEL "DELETE /items/1 HTTP/1.1\r\nHost: h\r\n\r\n"
#define R204 "HTTP/1.1 204 No Content\r\n\r\n"
#define INM "GET /i HTTP/1.1\r\nIf-None-Match: \"x\"\r\n\r\n"
#define R304 "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 615\r\n\r\n"

static void test_stream_204_304(void **unused)
{
	static const struct ph_chunk st[] = {EG(DEL), IN(R204), EG(INM), IN(R304), EG(GET_A), IN(OK2)};
	static const struct want w[] = {
	    {.kind = REQ, .method = "DELETE", .path = "/items/1", .bytes = L(DEL)},
	    {.kind = RESP, .status = 204, .bytes = L(R204), .exc = ""},
	    {.kind = REQ, .method = "GET", .path = "/i", .bytes = L(INM)},
	    {.kind = RESP, .status = 304, .bytes = L(R304), .exc = ""},
	    {.kind = REQ, .method = "GET", .path = "/a", .bytes = L(GET_A)},
	    {.kind = RESP, .status = 200, .bytes = L(OK2), .ts = true, .at = 5, .end = 5},
	};
	CHECK(st, w);
}

#define WS_REQ "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
#define WS_101 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"

static void test_stream_upgrade(void **unused)
{
	static const struct ph_chunk st[] = {
	    EG(WS_REQ), IN(WS_101 "\x81\x05hello"), EG("\x81\x85garbage"), EG(GET_A), IN(OK2), IN_EOF,
	};
	static const struct want w[] = {
	    {.kind = REQ, .method = "GET", .path = "/chat", .bytes = L(WS_REQ)},
	    {.kind = RESP,
	     .flags = ZT_MF_UPGRADE,
	     .status = 101,
	     .bytes = L(WS_101),
	     .ts = true,
	     .at = 1,
	     .end = 1},
	};
	CHECK_FINISH(st, w);
}

#define CONNECT_REQ "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
#define CONNECT_200 "HTTP/1.1 200 Connection Established\r\n\r\n"

static void test_stream_connect(void **unused)
{
	static const struct ph_chunk st[] = {EG(CONNECT_REQ), IN(CONNECT_200), EG("\x16\x03\x01\x02\x00"),
					     IN(OK2)};
	static const struct want w[] = {
	    {.kind = REQ,
	     .method = "CONNECT",
	     .path = "example.com:443",
	     .host = "example.com:443",
	     .bytes = L(CONNECT_REQ)},
	    {.kind = RESP, .flags = ZT_MF_UPGRADE, .status = 200, .bytes = L(CONNECT_200)},
	};
	CHECK(st, w);
}

#define PY_EOF "HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11.2\r\nContent-type: text/html\r\n\r\n"

static void test_stream_eof_body(void **unused)
{
	static const struct ph_chunk st[] = {
	    EG("GET / HTTP/1.0\r\n\r\n"), IN(PY_EOF "<html>"), IN_GAP("<body>", 100), IN("</html>"), IN_EOF,
	};
	static const struct want w[] = {
	    {.kind = REQ, .method = "GET", .version = "1.0", .bytes = L("GET / HTTP/1.0\r\n\r\n")},
	    {.kind = RESP,
	     .flags = ZT_MF_EOF_BODY,
	     .status = 200,
	     .version = "1.0",
	     .bytes = L(PY_EOF) + 6 + 106 + 7,
	     .ts = true,
	     .at = 1,
	     .end = 3},
	};
	CHECK(st, w);
}

static void test_stream_eof_body_finish(void **unused)
{
	static const struct ph_chunk st[] = {
	    EG("GET / HTTP/1.1\r\n\r\n"),
	    IN("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabc"),
	    IN("def"),
	};
	static const struct want w[] = {
	    {.kind = REQ, .method = "GET", .bytes = L("GET / HTTP/1.1\r\n\r\n")},
	    {.kind = RESP,
	     .flags = ZT_MF_EOF_BODY | ZT_MF_CLOSE,
	     .status = 200,
	     .bytes = L("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n") + 6,
	     .ts = true,
	     .at = 1,
	     .end = 2},
	};
	CHECK_FINISH(st, w);
}

/* finish() drops partial messages: half a head, half a CL body. */
static void test_stream_finish_drops_partial(void **unused)
{
	static const struct ph_chunk st[] = {EG(GET_A), IN(RESP_3000 "abc"), EG("GET /b HTTP/1.1\r\nHo")};
	static const struct want w[] = {
	    {.kind = REQ, .method = "GET", .path = "/a", .bytes = L(GET_A)},
	};
	CHECK_FINISH(st, w);
}

/* Issue 13's 8 KB of headers past the capture size, as the server reads
 * them (nginx: 1 KiB first, then the rest in one read whose capture is cut):
 * the request keeps its real size and the next one on the connection is
 * found, without lost_sync. */
#define H8_FIRST "GET /h8 HTTP/1.1\r\nHost: big\r\nX-A: aaaaaaaaaaaaaaaaaaaa\r\n"
#define H8_MORE "X-B: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n"
static void test_stream_cut_head_server(void **unused)
{
	static const struct ph_chunk st[] = {IN(H8_FIRST), IN_GAP(H8_MORE, 8000), EG(OK2), IN(GET_A), EG(OK2)};
	static const struct want w[] = {
	    {.kind = REQ,
	     .flags = ZT_MF_TRUNCATED,
	     .method = "GET",
	     .path = "/h8",
	     .host = "big",
	     .version = "1.1",
	     .bytes = L(H8_FIRST) + L(H8_MORE) + 8000,
	     .ts = true,
	     .at = 0,
	     .end = 1},
	    {.kind = RESP, .status = 200, .version = "1.1", .bytes = L(OK2), .ts = true, .at = 2, .end = 2},
	    {.kind = REQ, .method = "GET", .path = "/a", .bytes = L(GET_A), .ts = true, .at = 3, .end = 3},
	    {.kind = RESP, .status = 200, .bytes = L(OK2), .ts = true, .at = 4, .end = 4},
	};
	CHECK(st, w);
}

static void test_stream_truncated_gap(void **unused)
{
	static const struct ph_chunk st[] = {
	    EG_GAP("GET /cut?x=1 HTTP/1.1\r\nHost: api\r\nX-Request-ID: r-1\r\nUser-Ag", 50),
	    IN("HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno!"),
	    EG(GET_B),
	    IN(OK2),
	};
	static const struct want w[] = {
	    {.kind = REQ,
	     .flags = ZT_MF_TRUNCATED,
	     .method = "GET",
	     .path = "/cut?x=1",
	     .host = "api",
	     .xrid = "r-1",
	     .version = "1.1",
	     /* the head's rest is counted from the syscall's size */
	     .bytes = L("GET /cut?x=1 HTTP/1.1\r\nHost: api\r\nX-Request-ID: r-1\r\nUser-Ag") + 50,
	     .ts = true,
	     .at = 0,
	     .end = 0},
	    {.kind = RESP,
	     .status = 404,
	     .exc = "Not Found",
	     .bytes = L("HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno!")},
	    {.kind = REQ, .method = "GET", .path = "/b", .bytes = L(GET_B), .ts = true, .at = 2, .end = 2},
	    {.kind = RESP, .status = 200, .bytes = L(OK2)},
	};
	CHECK(st, w);
}

/* A gap cuts the status line: the status is still known. */
static void test_stream_truncated_status(void **unused)
{
	static const struct ph_chunk st[] = {
	    EG(GET_A),
	    IN_GAP("HTTP/1.1 503 Service Unava", 400),
	    EG(GET_B),
	    IN(OK2),
	};
	static const struct want w[] = {
	    {.kind = REQ, .method = "GET", .path = "/a", .bytes = L(GET_A)},
	    {.kind = RESP,
	     .flags = ZT_MF_TRUNCATED | ZT_MF_LOST_SYNC,
	     .status = 503,
	     .exc = "Service Unava",
	     .bytes = L("HTTP/1.1 503 Service Unava")},
	    {.kind = REQ, .method = "GET", .path = "/b", .bytes = L(GET_B)},
	    {.kind = RESP, .status = 200, .bytes = L(OK2), .ts = true, .at = 3, .end = 3},
	};
	CHECK(st, w);
}

static void test_stream_truncated_big(void **unused)
{
	static char big[6000];
	size_t n = 0;

	n += (size_t)snprintf(big + n, sizeof(big) - n, "GET /huge HTTP/1.1\r\nHost: big\r\nX-Fill: ");
	while (n < 5000)
		big[n++] = 'a';
	n += (size_t)snprintf(big + n, sizeof(big) - n, "\r\n\r\n");
	struct ph_chunk st[] = {
	    {.dir = 0, .data = big, .len = n},
	    IN(OK2),
	    EG(GET_B),
	    IN(OK2),
	};
	struct want w[] = {
	    {.kind = REQ,
	     .flags = ZT_MF_TRUNCATED,
	     .method = "GET",
	     .path = "/huge",
	     .host = "big",
	     .bytes = n, /* past the head buffer, counted to the end */
	     .ts = true,
	     .at = 0,
	     .end = 0},
	    {.kind = RESP, .status = 200, .bytes = L(OK2)},
	    {.kind = REQ, .method = "GET", .path = "/b", .bytes = L(GET_B)},
	    {.kind = RESP, .status = 200, .bytes = L(OK2)},
	};
	check_ex(st, 4, w, 4, false);
}

static void test_stream_malformed(void **unused)
{
	static const struct ph_chunk st[] = {
	    EG(GET_A),
	    IN(OK2),
	    EG("GET /x HTTP/1.1\r\nBad Header: x\r\n\r\n"),
	    IN("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
	    EG("\x16\x03\x01 not http at all"),
	    /* starts like PUT/POST/PATCH for one byte: no resync here, even
	     * when fed byte by byte */
	    EG("Pz /nope HTTP/1.1\r\n\r\n"),
	    EG(GET_B),
	    IN(OK2),
	};
	static const struct want w[] = {
	    {.kind = REQ, .method = "GET", .path = "/a", .bytes = L(GET_A)},
	    {.kind = RESP, .status = 200, .bytes = L(OK2)},
	    {.kind = REQ,
	     .flags = ZT_MF_LOST_SYNC,
	     .method = "GET",
	     .path = "/x",
	     .bytes = L("GET /x HTTP/1.1\r\nBad ")},
	    {.kind = RESP,
	     .flags = ZT_MF_CLOSE,
	     .status = 400,
	     .exc = "Bad Request",
	     .bytes = L("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")},
	    {.kind = REQ, .method = "GET", .path = "/b", .bytes = L(GET_B), .ts = true, .at = 6, .end = 6},
	    {.kind = RESP, .status = 200, .bytes = L(OK2)},
	};
	CHECK(st, w);
}

/* Tracing starts mid-connection: the first thing seen is a response body's
 * tail (ignored, not HTTP-looking) or a response. */
static void test_stream_midstream(void **unused)
{
	static const struct ph_chunk st[] = {
	    IN("tail of an earlier body"),
	    IN(OK2),
	    EG(GET_A),
	    IN(OK2),
	};
	static const struct want w[] = {
	    {.kind = RESP, .status = 200, .bytes = L(OK2), .ts = true, .at = 1, .end = 1},
	    {.kind = REQ, .method = "GET", .path = "/a", .bytes = L(GET_A)},
	    {.kind = RESP, .status = 200, .bytes = L(OK2)},
	};
	CHECK(st, w);
}

/* A chunked request body, then a response. */
static void test_stream_chunked_request(void **unused)
{
	static const struct ph_chunk st[] = {
	    EG("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"),
	    EG("0\r\n\r\n"),
	    IN(OK2),
	};
	static const struct want w[] = {
	    {.kind = REQ,
	     .method = "POST",
	     .path = "/c",
	     .bytes = L("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
	     .ts = true,
	     .at = 0,
	     .end = 1},
	    {.kind = RESP, .status = 200, .bytes = L(OK2)},
	};
	CHECK(st, w);
}

static void test_stream_exception_close(void **unused)
{
	static const struct ph_chunk st[] = {
	    EG("GET /boom HTTP/1.1\r\nConnection: close\r\n\r\n"),
	    IN("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 1\r\n\r\nx"),
	};
	static const struct want w[] = {
	    {.kind = REQ,
	     .flags = ZT_MF_CLOSE,
	     .method = "GET",
	     .path = "/boom",
	     .bytes = L("GET /boom HTTP/1.1\r\nConnection: close\r\n\r\n")},
	    {.kind = RESP,
	     .status = 500,
	     .exc = "Internal Server Error",
	     .bytes = L("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 1\r\n\r\nx")},
	};
	CHECK(st, w);
}

/* ---- ids -------------------------------------------------------------- */

/* The formats themselves are tested in test_trace_hdr.c; these check that
 * the headers of a head reach proto/trace_hdr.h and the ids the message. */
struct id_case {
	const char *headers;
	const char *trace, *span, *parent, *xrid;
};

static const struct id_case id_cases[] = {
    {"traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n",
     "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", "", ""},
    {"Traceparent: 00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-00\r\n",
     "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", "", ""},
    {"traceparent: 00-00000000000000000000000000000000-b7ad6b7169203331-01\r\n", "", "", "", ""},
    {"X-B3-TraceId: 80f198ee56343ba864fe8b2a57d3eff7\r\nX-B3-SpanId: e457b5a2e4d86bd1\r\n"
     "X-B3-ParentSpanId: 05e3ac9a4f6e3b90\r\nX-B3-Sampled: 1\r\n",
     "80f198ee56343ba864fe8b2a57d3eff7", "e457b5a2e4d86bd1", "05e3ac9a4f6e3b90", ""},
    {"uber-trace-id: abc123%3Adef4%3A5%3A1\r\n", "abc123", "def4", "5", ""},
    /* precedence: traceparent over b3; an invalid one yields to the next */
    {"b3: 64fe8b2a57d3eff7-e457b5a2e4d86bd1\r\n"
     "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n",
     "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", "", ""},
    {"traceparent: garbage\r\nb3: 64fe8b2a57d3eff7-e457b5a2e4d86bd1\r\n", "64fe8b2a57d3eff7",
     "e457b5a2e4d86bd1", "", ""},
    /* request ids */
    {"X-Request-ID: 7f2c1a3e-1b2c-4d5e-8f90-123456789abc\r\n", "", "", "",
     "7f2c1a3e-1b2c-4d5e-8f90-123456789abc"},
    {"x-request-id: abc\r\nX-Request-Id: second\r\n", "", "", "", "abc"},
    {"X-Correlation-ID: corr-1\r\n", "", "", "", "corr-1"},
    /* the first of either wins */
    {"X-Correlation-ID: corr-1\r\nX-Request-ID: req-1\r\n", "", "", "", "corr-1"},
    {"X-Request-ID: req-1\r\nX-Correlation-ID: corr-1\r\n", "", "", "", "req-1"},
    {"X-Request-Id: 0123456789012345678901234567890123456789012345678901234567890123456789\r\n", "", "", "",
     "012345678901234567890123456789012345678901234567890123456789012"},
    {"X-Request-Id: caf\xc3\xa9\r\n", "", "", "", "caf\xc3\xa9"}, /* bytes >= 0x80 are kept */
};

static void test_stream_ids(void **unused)
{
	for (size_t i = 0; i < sizeof(id_cases) / sizeof(id_cases[0]); i++) {
		char req[1024], resp[1024];
		const struct id_case *c = &id_cases[i];
		int n = snprintf(req, sizeof(req), "GET /t HTTP/1.1\r\nHost: h\r\n%s\r\n", c->headers);
		int m = snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\n%sContent-Length: 0\r\n\r\n",
				 c->headers);
		assert_true(n > 0 && n < (int)sizeof(req) && m > 0 && m < (int)sizeof(resp));
		struct ph_chunk st[] = {{.dir = 0, .data = req, .len = (size_t)n},
					{.dir = 1, .data = resp, .len = (size_t)m}};
		struct want w[] = {
		    {.kind = REQ,
		     .method = "GET",
		     .path = "/t",
		     .bytes = (uint64_t)n,
		     .trace = c->trace,
		     .span = c->span,
		     .parent = c->parent,
		     .xrid = c->xrid},
		    {.kind = RESP,
		     .status = 200,
		     .bytes = (uint64_t)m,
		     .trace = c->trace,
		     .span = c->span,
		     .parent = c->parent,
		     .xrid = c->xrid},
		};
		print_message("ids %zu\n", i);
		check_ex(st, 2, w, 2, false);
	}
}

/* Hostile segments: caplen beyond len, data NULL, unknown dir. */
static void test_stream_hostile_segments(void **unused)
{
	void *state = calloc(1, zt_http1_ops.state_size);
	/* only the 5 bytes len allows are readable */
	struct zt_seg seg = {.data = ph_at_guard(GET_A, 5), .caplen = 1000, .len = 5, .dir = 0};

	assert_non_null(state);
	zt_http1_ops.init(state);
	cap_a.n = 0;
	zt_http1_ops.feed(state, &seg, ph_collect, &cap_a);
	seg.dir = 7;
	zt_http1_ops.feed(state, &seg, ph_collect, &cap_a);
	seg = (struct zt_seg){.data = NULL, .caplen = 30, .len = 30, .dir = 1};
	zt_http1_ops.feed(state, &seg, ph_collect, &cap_a);
	zt_http1_ops.finish(state, 0, ph_collect, &cap_a);
	assert_int_equal(cap_a.n, 0);
	free(state);
}

/* The ops' endpoint hook normalises a request message's method and path
 * (the rules are tested in test_endpoint.c). */
static void test_ops_endpoint(void **unused)
{
	static const struct ph_chunk st[] = {EG("GET /users/123/orders?page=2 HTTP/1.1\r\nHost: h\r\n\r\n")};
	char out[64];

	assert_non_null(zt_http1_ops.endpoint);
	run_steps(st, 1, PH_WHOLE, false, &cap_a);
	assert_int_equal(cap_a.n, 1);
	zt_http1_ops.endpoint(&cap_a.m[0], out, sizeof(out));
	assert_string_equal(out, "GET /users/{id}/orders");
}

/* ---- redaction --------------------------------------------------------- */

static void test_redact(void **unused)
{
	static const struct {
		const char *in, *want;
		size_t n;
	} t[] = {
	    {"GET / HTTP/1.1\r\nAuthorization: Bearer abc.def\r\nHost: h\r\n\r\n",
	     "GET / HTTP/1.1\r\nAuthorization: **************\r\nHost: h\r\n\r\n", 14},
	    {"Cookie: a=1; b=2\r\n", "Cookie: ********\r\n", 8},
	    {"HTTP/1.1 200 OK\r\nset-cookie: s=1\r\nSet-Cookie: t=2; HttpOnly\r\n\r\nbody",
	     "HTTP/1.1 200 OK\r\nset-cookie: ***\r\nSet-Cookie: *************\r\n\r\nbody", 16},
	    {"x\nPROXY-AUTHORIZATION:Basic Zm9v\n", "x\nPROXY-AUTHORIZATION:**********\n", 10},
	    /* cut at the end of the buffer */
	    {"GET / HTTP/1.1\r\nCookie: sessi", "GET / HTTP/1.1\r\nCookie: *****", 5},
	    {"GET / HTTP/1.1\r\nCooki", "GET / HTTP/1.1\r\nCooki", 0},
	    {"Authorization:", "Authorization:", 0},
	    {"Authorization: \r\n", "Authorization: \r\n", 0},
	    /* not at a line start, or names that only start alike */
	    {"X-Cookie: a\r\nCookies-Policy: strict\r\nAuthorizationX: y\r\n",
	     "X-Cookie: a\r\nCookies-Policy: strict\r\nAuthorizationX: y\r\n", 0},
	    {"GET /?Cookie: x HTTP/1.1\r\n", "GET /?Cookie: x HTTP/1.1\r\n", 0},
	    /* starts mid-message with a header line */
	    {"cookie:\tq\r\nAccept: */*\r\n", "cookie:\t*\r\nAccept: */*\r\n", 1},
	    /* blanks before the colon: invalid, redacted anyway */
	    {"Cookie : x\r\n", "Cookie : *\r\n", 1},
	    {"", "", 0},
	    {"\n\n\nCookie: z", "\n\n\nCookie: *", 1},
	    /* a request line's secret query parameters and URL password */
	    {"GET /login?user=bob&token=abc123&x=1 HTTP/1.1\r\nHost: h\r\n\r\n",
	     "GET /login?user=bob&token=******&x=1 HTTP/1.1\r\nHost: h\r\n\r\n", 6},
	    {"GET http://bob:pw@h/x?api_key=k HTTP/1.1\r\n", "GET http://bob:**@h/x?api_key=* HTTP/1.1\r\n", 3},
	    {"POST /a?password=hunt", "POST /a?password=****", 4},
	    /* cut inside the authority: the '@' may come in the next syscall */
	    {"GET http://bob:pw", "GET http://bob:**", 2},
	    {"GET http://host:8080/x HTTP/1.1\r\n", "GET http://host:8080/x HTTP/1.1\r\n", 0},
	    {"HTTP/1.1 200 OK\r\nLocation: /x?token=t\r\n", "HTTP/1.1 200 OK\r\nLocation: /x?token=t\r\n", 0},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t n = strlen(t[i].in);
		uint8_t *buf = ph_at_guard(t[i].in, n);
		assert_int_equal(zt_http_redact(buf, n), t[i].n);
		assert_memory_equal(buf, t[i].want, n);
	}
	assert_int_equal(zt_http_redact(NULL, 5), 0);
}

/* Secret query parameters and URL passwords are masked in stored paths;
 * the names are a setting, a bad list changes nothing. */
static void test_redact_target(void **state)
{
	char t[256];

	snprintf(t, sizeof(t), "/x?q=1&Token=abc&sig=zz#frag");
	assert_int_equal(zt_http_redact_target(t), 5);
	assert_string_equal(t, "/x?q=1&Token=***&sig=**#frag");
	snprintf(t, sizeof(t), "http://bob:pw12@host/p?password=");
	zt_http_redact_target(t);
	assert_string_equal(t, "http://bob:****@host/p?password=");
	assert_int_equal(zt_http_secret_params_set("Q,other"), 0);
	snprintf(t, sizeof(t), "/x?q=1&token=abc&other=zz");
	zt_http_redact_target(t);
	assert_string_equal(t, "/x?q=*&token=abc&other=**");
	assert_int_equal(zt_http_secret_params_set("a,,b"), -EINVAL);
	assert_int_equal(zt_http_secret_params_set("a,"), -EINVAL);
	assert_int_equal(zt_http_secret_params_set("has=eq"), -EINVAL);
	assert_int_equal(zt_http_secret_params_set(""), -EINVAL);
	snprintf(t, sizeof(t), "/x?q=1");
	zt_http_redact_target(t);
	assert_string_equal(t, "/x?q=*"); /* unchanged by the refused lists */
	assert_int_equal(zt_http_secret_params_set(NULL), 0);
	snprintf(t, sizeof(t), "/x?q=1&api_key=k");
	zt_http_redact_target(t);
	assert_string_equal(t, "/x?q=1&api_key=*");
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_redact_target),
	    cmocka_unit_test(test_stream_early_405),
	    cmocka_unit_test(test_stream_early_413),
	    cmocka_unit_test(test_stream_cut_head_server),
	    cmocka_unit_test(test_head_valid),
	    cmocka_unit_test(test_head_prefixes),
	    cmocka_unit_test(test_head_malformed),
	    cmocka_unit_test(test_head_many_headers),
	    cmocka_unit_test(test_infer),
	    cmocka_unit_test(test_starts),
	    cmocka_unit_test(test_ops),
	    cmocka_unit_test(test_stream_req_resp),
	    cmocka_unit_test(test_stream_server_side),
	    cmocka_unit_test(test_stream_keepalive),
	    cmocka_unit_test(test_stream_pipelining),
	    cmocka_unit_test(test_stream_split3),
	    cmocka_unit_test(test_stream_every_split),
	    cmocka_unit_test(test_stream_cl_gaps),
	    cmocka_unit_test(test_stream_chunked),
	    cmocka_unit_test(test_stream_chunk_data_gap),
	    cmocka_unit_test(test_stream_chunk_size_gap),
	    cmocka_unit_test(test_stream_head),
	    cmocka_unit_test(test_stream_head_pipelined),
	    cmocka_unit_test(test_stream_100_continue),
	    cmocka_unit_test(test_stream_204_304),
	    cmocka_unit_test(test_stream_upgrade),
	    cmocka_unit_test(test_stream_connect),
	    cmocka_unit_test(test_stream_eof_body),
	    cmocka_unit_test(test_stream_eof_body_finish),
	    cmocka_unit_test(test_stream_finish_drops_partial),
	    cmocka_unit_test(test_stream_truncated_gap),
	    cmocka_unit_test(test_stream_truncated_status),
	    cmocka_unit_test(test_stream_truncated_big),
	    cmocka_unit_test(test_stream_malformed),
	    cmocka_unit_test(test_stream_midstream),
	    cmocka_unit_test(test_stream_chunked_request),
	    cmocka_unit_test(test_stream_exception_close),
	    cmocka_unit_test(test_stream_ids),
	    cmocka_unit_test(test_stream_hostile_segments),
	    cmocka_unit_test(test_ops_endpoint),
	    cmocka_unit_test(test_redact),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
