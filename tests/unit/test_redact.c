/* SPDX-License-Identifier: MIT */
/*
 * test_redact.c - redaction of recorded payloads on the reassembled stream
 * (proto/redact.h): a secret split across syscalls at every byte position
 * is masked exactly as if it had come in one write; long Cookie lines; gaps;
 * streams kept apart; a full table counted; --redact-bodies keeps HTTP/1
 * heads only.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http1.h"
#include "proto/proto.h"
#include "proto/redact.h"

/* The reproduction of the issue: the header name split between two sends. */
static const char REQ[] = "GET /a?token=SECRET3&b=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer SECRET1\r\nCookie: sid=SECRET2; "
			  "theme=dark\r\nAccept: */*\r\n\r\n";

/* Feeds s[0..n) to stream (sk, dir) cut at the given offsets; out gets
 * what would be written to the recording. */
static void feed_cuts(struct zt_redactor *r, uint64_t sk, const char *s, size_t n, const size_t *cuts,
		      size_t ncuts, char *out)
{
	size_t prev = 0;

	for (size_t k = 0; k <= ncuts; k++) {
		size_t end = k < ncuts ? cuts[k] : n;
		memcpy(out + prev, s + prev, end - prev);
		zt_redact_stream(r, sk, 7, 0, (uint8_t *)out + prev, end - prev, end - prev);
		prev = end;
	}
}

static void one_shot(const char *s, size_t n, char *out)
{
	memcpy(out, s, n);
	zt_proto_redact_payload((uint8_t *)out, n);
}

static void test_split_everywhere(void **state)
{
	size_t n = sizeof(REQ) - 1;
	char want[sizeof(REQ)], got[sizeof(REQ)];

	one_shot(REQ, n, want);
	assert_null(memmem(want, n, "SECRET", 6));
	assert_non_null(memmem(want, n, "Host: x", 7)); /* only secrets go */
	/* every single cut, then every pair of cuts */
	for (size_t i = 1; i < n; i++) {
		struct zt_redactor *r = zt_redactor_new(64);
		size_t cut[1] = {i};
		feed_cuts(r, 1, REQ, n, cut, 1, got);
		assert_memory_equal(got, want, n);
		zt_redactor_free(r);
	}
	for (size_t i = 1; i < n; i += 3)
		for (size_t j = i + 1; j < n; j += 2) {
			struct zt_redactor *r = zt_redactor_new(64);
			size_t cut[2] = {i, j};
			feed_cuts(r, 1, REQ, n, cut, 2, got);
			assert_memory_equal(got, want, n);
			zt_redactor_free(r);
		}
	/* one byte per write */
	{
		struct zt_redactor *r = zt_redactor_new(64);
		size_t cuts[sizeof(REQ)];
		for (size_t i = 0; i + 1 < n; i++)
			cuts[i] = i + 1;
		feed_cuts(r, 1, REQ, n, cuts, n - 1, got);
		assert_memory_equal(got, want, n);
		assert_int_equal(zt_redactor_stats(r)->bytes,
				 strlen("SECRET3") + strlen("Bearer SECRET1") + strlen("sid=SECRET2; theme=dark"));
		zt_redactor_free(r);
	}
	(void)state;
}

/* A Cookie line longer than the tail, written 1000 bytes at a time. */
static void test_overlong_line(void **state)
{
	size_t vlen = 3 * ZT_REDACT_TAIL, n;
	char *s = malloc(vlen + 64), *got = malloc(vlen + 64);
	struct zt_redactor *r = zt_redactor_new(64);
	size_t cuts[32], nc = 0;

	n = (size_t)sprintf(s, "GET / HTTP/1.1\r\nCookie: ");
	memset(s + n, 'S', vlen);
	n += vlen;
	n += (size_t)sprintf(s + n, "\r\nHost: y\r\n\r\n");
	for (size_t c = 1000; c < n; c += 1000)
		cuts[nc++] = c;
	feed_cuts(r, 3, s, n, cuts, nc, got);
	assert_null(memchr(got, 'S', n));
	assert_non_null(memmem(got, n, "Host: y", 7));
	assert_true(zt_redactor_stats(r)->overlong > 0);
	zt_redactor_free(r);
	free(s);
	free(got);
	(void)state;
}

/* Streams are kept apart: sockets, and the two directions of one. */
static void test_streams_apart(void **state)
{
	struct zt_redactor *r = zt_redactor_new(64);
	char a[] = "GET / HTTP/1.1\r\nAuthori", b[] = "zation: Bearer S\r\n\r\n";

	zt_redact_stream(r, 1, 1, 0, (uint8_t *)a, strlen(a), strlen(a));
	/* the same bytes on another socket, then the other direction: not a
	 * continuation of socket 1's line */
	char b2[sizeof(b)], b3[sizeof(b)];
	memcpy(b2, b, sizeof(b));
	memcpy(b3, b, sizeof(b));
	zt_redact_stream(r, 2, 1, 0, (uint8_t *)b2, strlen(b2), strlen(b2));
	assert_string_equal(b2, b);
	zt_redact_stream(r, 1, 1, 1, (uint8_t *)b3, strlen(b3), strlen(b3));
	assert_string_equal(b3, b);
	zt_redact_stream(r, 1, 1, 0, (uint8_t *)b, strlen(b), strlen(b));
	assert_string_equal(b, "zation: ********\r\n\r\n");
	/* a closed socket's line is forgotten */
	char c[] = "Cooki", d[] = "e: x=1\r\n";
	zt_redact_stream(r, 5, 1, 0, (uint8_t *)c, strlen(c), strlen(c));
	zt_redactor_close(r, 5);
	zt_redact_stream(r, 5, 1, 0, (uint8_t *)d, strlen(d), strlen(d));
	assert_string_equal(d, "e: x=1\r\n");
	zt_redactor_free(r);
	(void)state;
}

/* A payload cut by the capture size: the bytes after it are unknown, the
 * next payload starts afresh (no false continuation). */
static void test_gap_resets(void **state)
{
	struct zt_redactor *r = zt_redactor_new(64);
	char a[] = "GET / HTTP/1.1\r\nAuthori", b[] = "zation: x\r\n";

	zt_redact_stream(r, 1, 1, 0, (uint8_t *)a, strlen(a), strlen(a) + 100);
	zt_redact_stream(r, 1, 1, 0, (uint8_t *)b, strlen(b), strlen(b));
	assert_string_equal(b, "zation: x\r\n");
	zt_redactor_free(r);
	(void)state;
}

/* More streams than slots: the oldest are forgotten and counted. */
static void test_table_full(void **state)
{
	struct zt_redactor *r = zt_redactor_new(8);
	char buf[] = "x";

	for (uint64_t sk = 1; sk <= 100; sk++)
		zt_redact_stream(r, sk, 1, 0, (uint8_t *)buf, 1, 1);
	assert_int_equal(zt_redactor_stats(r)->evicted, 92);
	zt_redactor_free(r);
	(void)state;
}

/* --redact-bodies: heads kept (secrets still masked), bodies and other
 * bytes overwritten, pipelined heads and heads split across writes kept. */
static void test_bodies(void **state)
{
	const char req[] = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nCookie: c=1\r\n\r\nhello"
			   "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
	const char want[] = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nCookie: ***\r\n\r\n*****"
			    "****************************";
	struct zt_redactor *r = zt_redactor_new(64);
	char got[sizeof(req)];
	size_t cut[1] = {30};

	zt_redactor_set_bodies(r, 1);
	feed_cuts(r, 1, req, sizeof(req) - 1, cut, 1, got);
	/* the body runs into the next request: without parsing lengths it is
	 * all masked (the safe side); a head that starts a write is kept */
	assert_memory_equal(got, want, sizeof(req) - 1);
	{
		char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", body[] = "more body";
		char redis[] = "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
		zt_redact_stream(r, 2, 1, 1, (uint8_t *)resp, strlen(resp), strlen(resp));
		assert_string_equal(resp, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n***");
		zt_redact_stream(r, 2, 1, 1, (uint8_t *)body, strlen(body), strlen(body));
		assert_string_equal(body, "*********");
		zt_redact_stream(r, 3, 1, 0, (uint8_t *)redis, strlen(redis), strlen(redis));
		assert_null(memchr(redis, 'G', strlen(redis)));
	}
	zt_redactor_free(r);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_split_everywhere), cmocka_unit_test(test_overlong_line),
	    cmocka_unit_test(test_streams_apart),    cmocka_unit_test(test_gap_resets),
	    cmocka_unit_test(test_table_full),	     cmocka_unit_test(test_bodies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
