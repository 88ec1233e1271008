/* SPDX-License-Identifier: MIT */
/*
 * test_trace_hdr.c - trace-context header decoding (proto/trace_hdr.h):
 * each format valid and invalid, precedence between formats, first
 * occurrence wins, and hostile values. Values are offered as a parser would
 * offer them (name, trimmed value); in turn each one is placed just before a
 * guard page, so reading past any value faults.
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

#include "parser_harness.h"
#include "proto/trace_hdr.h"

#define TP "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
#define TP_TRACE "0af7651916cd43dd8448eb211c80319c"
#define TP_SPAN "b7ad6b7169203331"
#define B3 "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90"
#define B3_TRACE "80f198ee56343ba864fe8b2a57d3eff7"
#define B3_SPAN "e457b5a2e4d86bd1"
#define B3_PARENT "05e3ac9a4f6e3b90"
#define UBER "5f9c3a1b2d4e6f708192a3b4c5d6e7f8:a1b2c3d4e5f60718:0:1"
#define UBER_TRACE "5f9c3a1b2d4e6f708192a3b4c5d6e7f8"
#define UBER_SPAN "a1b2c3d4e5f60718"
/* base64("a3b2c1.123.16000000000001") */
#define SW8                                                                                                  \
	"1-YTNiMmMxLjEyMy4xNjAwMDAwMDAwMDAwMQ==-YTNiMmMxLjEyMy4xNjAwMDAwMDAwMDAwMg==-3-c3Zj-aW5z-L2FwaQ==-"  \
	"MTI3LjAuMC4xOjgwODA="
#define SW8_TRACE "a3b2c1.123.16000000000001"

/* ---- helpers ----------------------------------------------------------- */

#define MAX_HDRS 8

struct hdr {
	const char *name, *val;
	size_t nlen, vlen;
};

/* Splits "Name: value\r\n..." into headers (value trimmed of blanks), as
 * the HTTP/1 parser hands them over. */
static size_t split_headers(const char *text, struct hdr *h)
{
	size_t n = 0;
	const char *p = text;

	while (*p) {
		const char *eol = strstr(p, "\r\n");
		const char *colon = memchr(p, ':', (size_t)(eol - p));
		assert_non_null(eol);
		assert_non_null(colon);
		assert_true(n < MAX_HDRS);
		h[n].name = p;
		h[n].nlen = (size_t)(colon - p);
		const char *v = colon + 1, *e = eol;
		while (v < e && (*v == ' ' || *v == '\t'))
			v++;
		while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		h[n].val = v;
		h[n].vlen = (size_t)(e - v);
		n++;
		p = eol + 2;
	}
	return n;
}

/* Strings NUL-terminated within their fields; hex ids lowercase hex. */
static void check_ids_sane(const struct zt_trace_ids *ids)
{
	assert_true(strnlen(ids->trace_id, sizeof(ids->trace_id)) < sizeof(ids->trace_id));
	assert_true(strnlen(ids->span_id, sizeof(ids->span_id)) < sizeof(ids->span_id));
	assert_true(strnlen(ids->parent_span_id, sizeof(ids->parent_span_id)) < sizeof(ids->parent_span_id));
	for (const char *p = ids->span_id; *p; p++)
		assert_true((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'));
	for (const char *p = ids->parent_span_id; *p; p++)
		assert_true((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'));
	/* no span without a trace */
	if (!ids->trace_id[0])
		assert_true(!ids->span_id[0] && !ids->parent_span_id[0]);
}

/* Offers the headers, header `at_guard` (if < n) with its value copied to
 * end at the guard page, and resolves. */
static bool resolve_hdrs(const struct hdr *h, size_t n, size_t at_guard, struct zt_trace_ids *ids)
{
	struct zt_trace_hdrs th;

	zt_trace_hdrs_init(&th);
	for (size_t i = 0; i < n; i++) {
		const char *v = i == at_guard ? (const char *)ph_at_guard(h[i].val, h[i].vlen) : h[i].val;
		(void)zt_trace_hdrs_offer(&th, h[i].name, h[i].nlen, v, h[i].vlen);
	}
	memset(ids, 'x', sizeof(*ids)); /* resolve must clear what it does not set */
	bool ok = zt_trace_hdrs_resolve(&th, ids);
	check_ids_sane(ids);
	assert_int_equal(ok, ids->trace_id[0] != '\0');
	return ok;
}

static void expect_ids(const char *text, const char *trace, const char *span, const char *parent)
{
	struct hdr h[MAX_HDRS];
	struct zt_trace_ids ids;
	size_t n = split_headers(text, h);

	/* once with no value at the guard, then each value there in turn */
	for (size_t g = 0; g <= n; g++) {
		bool ok = resolve_hdrs(h, n, g, &ids);
		if (strcmp(ids.trace_id, trace) || strcmp(ids.span_id, span) ||
		    strcmp(ids.parent_span_id, parent))
			fail_msg("%s: got trace '%s' span '%s' parent '%s', want '%s' '%s' '%s'", text,
				 ids.trace_id, ids.span_id, ids.parent_span_id, trace, span, parent);
		assert_int_equal(ok, trace[0] != '\0');
	}
}

/* ---- one header at a time ---------------------------------------------- */

struct id_case {
	const char *headers;
	const char *trace, *span, *parent;
};

static const struct id_case id_cases[] = {
    /* traceparent */
    {"traceparent: " TP "\r\n", TP_TRACE, TP_SPAN, ""},
    {"Traceparent: 00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-00\r\n", TP_TRACE, TP_SPAN, ""},
    /* invalid traceparents: short, zero ids, version ff, extra field in 00 */
    {"traceparent: 00-0af7651916cd43dd8448eb211c80319-b7ad6b7169203331-01\r\n", "", "", ""},
    {"traceparent: 00-00000000000000000000000000000000-b7ad6b7169203331-01\r\n", "", "", ""},
    {"traceparent: 00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01\r\n", "", "", ""},
    {"traceparent: ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n", "", "", ""},
    {"traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-xx\r\n", "", "", ""},
    {"traceparent: 01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-xx\r\n", TP_TRACE, TP_SPAN, ""},
    {"traceparent: 00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01\r\n", "", "", ""},
    /* more invalid: flags not hex or one digit, version one digit, too few
     * fields, too many for a later version, empty */
    {"traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0g\r\n", "", "", ""},
    {"traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1\r\n", "", "", ""},
    {"traceparent: 0-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n", "", "", ""},
    {"traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331\r\n", "", "", ""},
    {"traceparent: 01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-a-b\r\n", "", "", ""},
    {"traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01\r\n", "", "", ""},
    {"traceparent:\r\n", "", "", ""},
    /* b3 single header */
    {"b3: " B3 "\r\n", B3_TRACE, B3_SPAN, B3_PARENT},
    {"B3: 64fe8b2a57d3eff7-e457b5a2e4d86bd1\r\n", "64fe8b2a57d3eff7", "e457b5a2e4d86bd1", ""},
    {"b3: 64FE8B2A57D3EFF7-E457B5A2E4D86BD1-d\r\n", "64fe8b2a57d3eff7", "e457b5a2e4d86bd1", ""},
    {"b3: 1\r\n", "", "", ""},
    {"b3: 64fe8b2a57d3eff7-e457b5a2e4d86bdz-1\r\n", "", "", ""},
    {"b3: 64fe8b2a57d3eff7-e457b5a2e4d86bd1-x\r\n", "", "", ""},
    {"b3: 64fe8b2a57d3eff764-e457b5a2e4d86bd1\r\n", "", "", ""},
    {"b3: 0000000000000000-e457b5a2e4d86bd1\r\n", "", "", ""},
    {"b3: 64fe8b2a57d3eff7-0000000000000000\r\n", "", "", ""},
    {"b3: 64fe8b2a57d3eff7-e457b5a2e4d86bd1-1-0000000000000000\r\n", "", "", ""},
    {"b3: 64fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90-x\r\n", "", "", ""},
    /* multi headers */
    {"X-B3-TraceId: 80f198ee56343ba864fe8b2a57d3eff7\r\nX-B3-SpanId: e457b5a2e4d86bd1\r\n"
     "X-B3-ParentSpanId: 05e3ac9a4f6e3b90\r\nX-B3-Sampled: 1\r\n",
     B3_TRACE, B3_SPAN, B3_PARENT},
    {"x-b3-traceid: 463AC35C9F6413AD\r\nx-b3-spanid: bogus\r\n", "463ac35c9f6413ad", "", ""},
    {"X-B3-SpanId: e457b5a2e4d86bd1\r\n", "", "", ""},
    {"x-b3-traceid: 00000000000000000000000000000000\r\nx-b3-spanid: e457b5a2e4d86bd1\r\n", "", "", ""},
    {"x-b3-traceid: 463ac35c9f6413ad\r\nx-b3-spanid: 0000000000000000\r\n"
     "x-b3-parentspanid: 05E3AC9A4F6E3B90\r\n",
     "463ac35c9f6413ad", "", "05e3ac9a4f6e3b90"},
    {"x-b3-traceid: 463ac35c9f6413ad0\r\n", "", "", ""},
    /* jaeger */
    {"uber-trace-id: " UBER "\r\n", UBER_TRACE, UBER_SPAN, ""},
    {"Uber-Trace-Id: ABC123:def4:5:3\r\n", "abc123", "def4", "5"},
    {"uber-trace-id: abc123%3Adef4%3A0%3A1\r\n", "abc123", "def4", ""},
    {"uber-trace-id: abc123%3adef4:7%3A1\r\n", "abc123", "def4", "7"},
    {"uber-trace-id: abc123%3Adef4%3A0%3\r\n", "", "", ""},
    {"uber-trace-id: abc123%3Bdef4%3A0%3A1\r\n", "", "", ""},
    {"uber-trace-id: abc123:def4:0\r\n", "", "", ""},
    {"uber-trace-id: xyz:def4:0:1\r\n", "", "", ""},
    {"uber-trace-id: 0:def4:0:1\r\n", "", "", ""},
    {"uber-trace-id: abc123:0000:0:1\r\n", "", "", ""},
    {"uber-trace-id: abc123:def4:00:1\r\n", "", "", ""}, /* "0" means no parent, "00" is a zero id */
    {"uber-trace-id: abc123:def4:0:100\r\n", "", "", ""},
    {"uber-trace-id: abc123:def4:0:1:extra\r\n", "", "", ""},
    {"uber-trace-id: 5f9c3a1b2d4e6f708192a3b4c5d6e7f80:a1b2c3d4e5f60718:0:1\r\n", "", "", ""},
    /* skywalking */
    {"sw8: " SW8 "\r\n", SW8_TRACE, "", ""},
    {"SW8: 0-YTNiMmMxLjEyMy4xNjAwMDAwMDAwMDAwMQ-x-3\r\n", SW8_TRACE, "", ""}, /* padding optional */
    /* decodes to 53 bytes: does not fit */
    {"sw8: 1-MWYyZDRiZjQ3YmY3MTFlYWI3OTRhY2RlNDgwMDExMjIuNTEuMTYzNDk4Nzc3NzYwODAwMDE=-YQ==-0-YQ==-YQ==-YQ=="
     "-YQ==\r\n",
     "", "", ""},
    {"sw8: 1-!!!!-YQ==-0-a-b-c-d\r\n", "", "", ""},
    {"sw8: 2-YTNi-YQ==-0\r\n", "", "", ""},    /* sample flag is 0 or 1 */
    {"sw8: 1-YTNi\r\n", "", "", ""},	       /* nothing after the trace id */
    {"sw8: 1--YQ==-0\r\n", "", "", ""},	       /* empty trace id */
    {"sw8: 1-AWFi-YQ==-0\r\n", "", "", ""},    /* decodes to "\x01ab": not printable */
    {"sw8: 1-YT=i-YQ==-0\r\n", "", "", ""},    /* padding in the middle */
    {"sw8: 1-YTNi==x-YQ==-0\r\n", "", "", ""}, /* bytes after the padding */
    /* not trace headers */
    {"traceparents: " TP "\r\nx-b3: " B3 "\r\nuber-trace: " UBER "\r\n", "", "", ""},
};

static void test_formats(void **unused)
{
	for (size_t i = 0; i < sizeof(id_cases) / sizeof(id_cases[0]); i++) {
		const struct id_case *c = &id_cases[i];

		print_message("case %zu\n", i);
		expect_ids(c->headers, c->trace, c->span, c->parent);
	}
}

/* Every prefix of every value of every case (at the guard page): never a
 * crash, never a malformed output. */
static int resolve_one(void *ctx, const uint8_t *buf, size_t len)
{
	const struct hdr *h = ctx;
	struct zt_trace_hdrs th;
	struct zt_trace_ids ids;

	zt_trace_hdrs_init(&th);
	assert_true(zt_trace_hdrs_offer(&th, h->name, h->nlen, (const char *)buf, len));
	memset(&ids, 'x', sizeof(ids));
	bool ok = zt_trace_hdrs_resolve(&th, &ids);
	check_ids_sane(&ids);
	return ok;
}

static void test_prefixes(void **unused)
{
	for (size_t i = 0; i < sizeof(id_cases) / sizeof(id_cases[0]); i++) {
		struct hdr h[MAX_HDRS];
		size_t n = split_headers(id_cases[i].headers, h);

		for (size_t j = 0; j < n; j++) {
			struct zt_trace_hdrs th;
			zt_trace_hdrs_init(&th);
			if (!zt_trace_hdrs_offer(&th, h[j].name, h[j].nlen, h[j].val, h[j].vlen))
				continue;
			struct ph_parser p = {
			    .name = id_cases[i].headers, .parse = resolve_one, .ctx = &h[j]};
			ph_each_prefix(&p, h[j].val, h[j].vlen, NULL, NULL);
		}
	}
}

/* ---- between headers --------------------------------------------------- */

/* One valid header of each format, in precedence order. */
static const char *const valid[] = {
    "traceparent: " TP "\r\n",
    "b3: " B3 "\r\n",
    "x-b3-traceid: 463ac35c9f6413ad\r\nx-b3-spanid: 0020000000000001\r\n",
    "uber-trace-id: " UBER "\r\n",
    "sw8: " SW8 "\r\n",
};
static const char *const winner[][3] = {
    {TP_TRACE, TP_SPAN, ""},
    {B3_TRACE, B3_SPAN, B3_PARENT},
    {"463ac35c9f6413ad", "0020000000000001", ""},
    {UBER_TRACE, UBER_SPAN, ""},
    {SW8_TRACE, "", ""},
};
/* The same formats, each present but invalid. */
static const char *const invalid[] = {
    "traceparent: 00-" TP_TRACE "-0000000000000000-01\r\n",
    "b3: " B3_TRACE "\r\n",
    "x-b3-traceid: 463ac35c9f6413\r\n",
    "uber-trace-id: " UBER_TRACE ":" UBER_SPAN "\r\n",
    "sw8: 1-*-YQ==-0\r\n",
};
#define NFMT 5

/* Every subset of formats, in both header orders, each present format
 * valid or invalid: the first valid format in precedence order wins, and
 * the order of the headers does not matter. */
static void test_precedence(void **unused)
{
	for (unsigned present = 0; present < (1u << NFMT); present++) {
		for (unsigned good = 0; good < (1u << NFMT); good++) {
			if (good & ~present)
				continue;
			for (int rev = 0; rev < 2; rev++) {
				char text[2048];
				size_t n = 0;
				int win = -1;

				text[0] = '\0';
				for (int k = 0; k < NFMT; k++) {
					int f = rev ? NFMT - 1 - k : k;
					if (!(present & (1u << f)))
						continue;
					int w = snprintf(text + n, sizeof(text) - n, "%s",
							 (good & (1u << f)) ? valid[f] : invalid[f]);
					assert_true(w > 0 && (size_t)w < sizeof(text) - n);
					n += (size_t)w;
				}
				for (int f = 0; f < NFMT && win < 0; f++)
					if (good & (1u << f))
						win = f;
				if (win < 0)
					expect_ids(text, "", "", "");
				else
					expect_ids(text, winner[win][0], winner[win][1], winner[win][2]);
			}
		}
	}
}

/* First occurrence of each header wins, even when it is invalid or empty:
 * a later copy may come from a different hop. */
static void test_first_wins(void **unused)
{
	expect_ids("traceparent: " TP "\r\n"
		   "traceparent: 00-11111111111111111111111111111111-2222222222222222-01\r\n",
		   TP_TRACE, TP_SPAN, "");
	expect_ids("traceparent: garbage\r\ntraceparent: " TP "\r\n", "", "", "");
	expect_ids("traceparent:\r\ntraceparent: " TP "\r\n", "", "", "");
	/* ... but an invalid one still yields to the next format */
	expect_ids("traceparent: garbage\r\ntraceparent: " TP "\r\nb3: 64fe8b2a57d3eff7-e457b5a2e4d86bd1\r\n",
		   "64fe8b2a57d3eff7", "e457b5a2e4d86bd1", "");
	expect_ids("x-b3-spanid: 1111111111111111\r\nx-b3-traceid: 463ac35c9f6413ad\r\n"
		   "x-b3-spanid: 2222222222222222\r\n",
		   "463ac35c9f6413ad", "1111111111111111", "");
}

/* ---- the API's edges --------------------------------------------------- */

static void test_offer(void **unused)
{
	static const struct {
		const char *name;
		bool is;
	} t[] = {
	    {"traceparent", true},
	    {"TRACEPARENT", true},
	    {"b3", true},
	    {"B3", true},
	    {"x-b3-traceid", true},
	    {"X-B3-SpanId", true},
	    {"X-B3-ParentSpanId", true},
	    {"uber-trace-id", true},
	    {"sw8", true},
	    {"tracestate", false},
	    {"b", false},
	    {"b33", false},
	    {"x-b3-sampled", false},
	    {"x-b3-flags", false},
	    {"x-request-id", false},
	    {"sw8-correlation", false},
	    {"", false},
	    {"traceparent\0", false}, /* the last: nlen counts the NUL */
	};
	struct zt_trace_hdrs th;

	zt_trace_hdrs_init(&th);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t n = strlen(t[i].name) + (i == sizeof(t) / sizeof(t[0]) - 1);
		const char *name = (const char *)ph_at_guard(t[i].name, n);
		assert_int_equal(zt_trace_hdrs_offer(&th, name, n, "v", 1), t[i].is);
	}
	/* a duplicate is still a trace header, it just does not take the slot */
	assert_true(zt_trace_hdrs_offer(&th, "traceparent", 11, TP, strlen(TP)));
	assert_int_equal(th.traceparent.n, 1);
	assert_false(zt_trace_hdrs_offer(&th, NULL, 11, "v", 1));
}

static void test_null_and_empty_values(void **unused)
{
	struct zt_trace_hdrs th;
	struct zt_trace_ids ids;

	zt_trace_hdrs_init(&th);
	assert_false(zt_trace_hdrs_resolve(&th, &ids));
	assert_string_equal(ids.trace_id, "");
	/* a NULL value is an empty one: it takes the slot and decodes to nothing */
	for (int i = 0; i < 2; i++) {
		zt_trace_hdrs_init(&th);
		assert_true(zt_trace_hdrs_offer(&th, "traceparent", 11, NULL, i ? 99 : 0));
		assert_true(zt_trace_hdrs_offer(&th, "b3", 2, NULL, 0));
		assert_true(zt_trace_hdrs_offer(&th, "x-b3-traceid", 12, NULL, 0));
		assert_true(zt_trace_hdrs_offer(&th, "uber-trace-id", 13, NULL, 0));
		assert_true(zt_trace_hdrs_offer(&th, "sw8", 3, NULL, 0));
		assert_true(zt_trace_hdrs_offer(&th, "traceparent", 11, TP, strlen(TP)));
		assert_true(th.traceparent.set);
		assert_int_equal(th.traceparent.n, 0);
		memset(&ids, 'x', sizeof(ids));
		assert_false(zt_trace_hdrs_resolve(&th, &ids));
		assert_string_equal(ids.trace_id, "");
		assert_string_equal(ids.span_id, "");
		assert_string_equal(ids.parent_span_id, "");
	}
}

/* Huge and pathological values: bounded work, no ids, no crash. */
static void test_hostile_values(void **unused)
{
	static const char *const names[] = {"traceparent", "b3", "x-b3-traceid", "uber-trace-id", "sw8"};
	static const char fills[] = {'-', ':', '%', 'a', '0', '='};
	size_t n = 1 << 20;
	char *big = malloc(n);

	assert_non_null(big);
	for (size_t f = 0; f < sizeof(fills); f++) {
		memset(big, fills[f], n);
		for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
			struct hdr h = {.name = names[k], .nlen = strlen(names[k]), .val = big, .vlen = n};
			struct zt_trace_ids ids;
			assert_false(resolve_hdrs(&h, 1, 0, &ids));
		}
	}
	free(big);
	/* long enough to fill uber-trace-id's decode buffer exactly, and one more */
	char u[97];
	memset(u, 'a', sizeof(u));
	for (size_t len = 95; len <= sizeof(u); len++) {
		struct hdr h = {.name = "uber-trace-id", .nlen = 13, .val = u, .vlen = len};
		struct zt_trace_ids ids;
		assert_false(resolve_hdrs(&h, 1, 0, &ids));
	}
}

static void test_request_id_header(void **unused)
{
	assert_true(zt_is_request_id_header("X-Request-ID", 12));
	assert_true(zt_is_request_id_header("x-request-id", 12));
	assert_false(zt_is_request_id_header("x-request-id", 11));
	assert_false(zt_is_request_id_header("x-request-ids", 13));
	assert_true(zt_is_request_id_header("X-Correlation-ID", 16));
	assert_true(zt_is_request_id_header("x-correlation-id", 16));
	assert_false(zt_is_request_id_header("x-correlation", 13));
	assert_false(zt_is_request_id_header("traceparent", 11));
	assert_false(zt_is_request_id_header("", 0));
	assert_false(zt_is_request_id_header(NULL, 12));
}

/* The request-id header names are a setting; bad lists change nothing. */
static void test_request_id_headers(void **state)
{
	assert_true(zt_is_request_id_header("X-Request-ID", 12));
	assert_int_equal(zt_request_id_headers_set("X-Trace-Req,req-id"), 0);
	assert_true(zt_is_request_id_header("x-trace-req", 11));
	assert_true(zt_is_request_id_header("REQ-ID", 6));
	assert_false(zt_is_request_id_header("X-Request-ID", 12));
	assert_int_equal(zt_request_id_headers_set(""), -EINVAL);
	assert_int_equal(zt_request_id_headers_set("a,,b"), -EINVAL);
	assert_int_equal(zt_request_id_headers_set("has space"), -EINVAL);
	assert_int_equal(zt_request_id_headers_set("a,b,c,d,e,f,g,h,i"), -EINVAL);
	assert_true(zt_is_request_id_header("req-id", 6)); /* unchanged by the failures */
	assert_int_equal(zt_request_id_headers_set("x-request-id,x-correlation-id"), 0);
	assert_true(zt_is_request_id_header("x-correlation-id", 16));
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_id_headers),
	    cmocka_unit_test(test_formats),	   cmocka_unit_test(test_prefixes),
	    cmocka_unit_test(test_precedence),	   cmocka_unit_test(test_first_wins),
	    cmocka_unit_test(test_offer),	   cmocka_unit_test(test_null_and_empty_values),
	    cmocka_unit_test(test_hostile_values), cmocka_unit_test(test_request_id_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
