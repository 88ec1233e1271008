/* SPDX-License-Identifier: MIT */
/*
 * test_endpoint.c - endpoint normalisation (proto/endpoint.h). Inputs are
 * NUL-terminated strings placed so that the NUL is the last byte before a
 * guard page: reading past the terminator faults.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "parser_harness.h"
#include "proto/endpoint.h"
#include "proto/proto.h"

/* A copy of s, NUL included, ending at the guard page; NULL stays NULL. */
static const char *at_guard(const char *s)
{
	return s ? (const char *)ph_at_guard(s, strlen(s) + 1) : NULL;
}

static void test_normalize(void **unused)
{
	static const struct {
		const char *method, *path, *want;
	} t[] = {
	    {"GET", "/", "GET /"},
	    {"GET", "", "GET /"},
	    {"GET", "/users/123/orders?page=2#top", "GET /users/{id}/orders"},
	    {"DELETE", "/items/550e8400-e29b-41d4-a716-446655440000", "DELETE /items/{id}"},
	    {"GET", "/blob/deadbeefdeadbeef0123", "GET /blob/{id}"},
	    {"GET", "/blob/deadbeef", "GET /blob/deadbeef"},
	    {"GET", "/o/ab123456/x", "GET /o/{id}/x"},
	    {"GET", "/archive/page2024", "GET /archive/page2024"},
	    {"GET", "/api/v1/users", "GET /api/v1/users"},
	    {"GET", "/a//b/", "GET /a//b/"},
	    {"GET", "http://example.com:8080/x/42?q", "GET /x/{id}"},
	    {"GET", "HTTPS://example.com/7", "GET /{id}"},
	    {"GET", "https://example.com", "GET /"},
	    {"GET", "http://example.com?q=1", "GET /"},
	    {"OPTIONS", "*", "OPTIONS *"},
	    {"CONNECT", "example.com:443", "CONNECT example.com:443"},
	    {"", "/x/1", "/x/{id}"},
	    {NULL, "/x/1", "/x/{id}"},
	    {NULL, NULL, "/"},
	    {"GET", NULL, "GET /"},
	    {"GET", "?only=query", "GET /"},
	    {"GET", "#frag", "GET /"},
	    {"GET", "/u/550e8400-e29b-41d4-a716-44665544000Z", "GET /u/550e8400-e29b-41d4-a716-44665544000Z"},
	    {"GET", "/1/2/3", "GET /{id}/{id}/{id}"},
	    {"GET", "/files/report.pdf", "GET /files/report.pdf"},
	};
	char out[ZT_RESOURCE_LEN + ZT_TYPE_LEN];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		/* only the path is at the guard: the arena holds one input */
		size_t n = zt_endpoint_normalize(t[i].method, at_guard(t[i].path), out, sizeof(out));
		assert_string_equal(out, t[i].want);
		assert_int_equal(n, strlen(t[i].want));
		n = zt_endpoint_normalize(at_guard(t[i].method), t[i].path, out, sizeof(out));
		assert_string_equal(out, t[i].want);
	}
}

static void test_normalize_truncates(void **unused)
{
	char out[8];

	memset(out, 'x', sizeof(out));
	assert_int_equal(zt_endpoint_normalize("GET", "/users/123", out, sizeof(out)), 7);
	assert_string_equal(out, "GET /us");
	assert_int_equal(zt_endpoint_normalize("GET", "/1", out, 1), 0);
	assert_string_equal(out, "");
	assert_int_equal(zt_endpoint_normalize("GET", "/1", out, 0), 0);
	assert_int_equal(zt_endpoint_normalize("GET", "/1", NULL, 10), 0);
	assert_int_equal(zt_endpoint_normalize("GET", "/1/", out, 8), 7);
	assert_string_equal(out, "GET /{i");

	/* out at the guard page: writing one byte past outsz faults */
	for (size_t sz = 1; sz <= 24; sz++) {
		char *o = (char *)ph_at_guard(NULL, 0) - sz;
		size_t n = zt_endpoint_normalize("PROPFIND", "/a/12345678/b?x", o, sz);
		assert_true(n < sz);
		assert_int_equal(strlen(o), n);
		assert_memory_equal(o, "PROPFIND /a/{id}/b", n);
	}
}

static void test_id_segment(void **unused)
{
	static const struct {
		const char *seg;
		bool id;
	} t[] = {
	    {"0", true},
	    {"123", true},
	    {"007", true},
	    {"550e8400-e29b-41d4-a716-446655440000", true},
	    {"550E8400-E29B-41D4-A716-446655440000", true},
	    {"550e8400e29b-41d4-a716-446655440000-", false}, /* dashes misplaced */
	    {"550e8400-e29b-41d4-a716-44665544000", false},  /* 35 chars */
	    {"deadbeefdeadbeef", true},			     /* hex, 16 */
	    {"DEADBEEFDEADBEEF", true},
	    {"deadbeefdeadbee", false}, /* hex, 15, with letters */
	    {"ab123456", true},		/* 8, 6 digits */
	    {"abcd1234", false},	/* 8, half digits: not more than half */
	    {"abc12345", true},
	    {"a1234567", true},
	    {"ab12345", false}, /* 7 */
	    {"page2024", false},
	    {"v1", false},
	    {"users", false},
	    {"ab-123456", false}, /* not alphanumeric */
	    {"12345678901234567890", true},
	    {"", false},
	    {"{id}", false},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t n = strlen(t[i].seg);
		/* no NUL: the segment is a slice of a longer string */
		const char *p = (const char *)ph_at_guard(t[i].seg, n);
		if (zt_endpoint_is_id_segment(p, n) != t[i].id)
			fail_msg("segment '%s': want %s", t[i].seg, t[i].id ? "an id" : "no id");
	}
	assert_false(zt_endpoint_is_id_segment(NULL, 0));
	assert_false(zt_endpoint_is_id_segment(NULL, 5));
	/* a slice: only p[0..n) counts */
	assert_true(zt_endpoint_is_id_segment("123abc", 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_normalize),
	    cmocka_unit_test(test_normalize_truncates),
	    cmocka_unit_test(test_id_segment),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
