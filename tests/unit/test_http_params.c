/* SPDX-License-Identifier: MIT */
/*
 * test_http_params.c - the HTTP core's query parsing (server/http.h):
 * splitting and percent-decoding, every typed getter's accepted and
 * rejected values (a 400 naming the parameter), duplicates, unknown
 * parameters, and the listen-address loopback rule.
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

#include <jansson.h>

#include "server/http.h"

static void test_split(void **state)
{
	struct zt_http_params p;
	const char *qs = "a=1&b=x%20y+z&&c&d=&e=%2F%3D%26";

	(void)state;
	assert_int_equal(zt_http_params_parse(qs, strlen(qs), &p), 0);
	assert_int_equal(p.n, 5);
	assert_string_equal(p.p[0].key, "a");
	assert_string_equal(p.p[0].val, "1");
	assert_string_equal(p.p[1].val, "x y z");
	assert_string_equal(p.p[2].key, "c");
	assert_string_equal(p.p[2].val, "");
	assert_string_equal(p.p[3].key, "d");
	assert_string_equal(p.p[3].val, "");
	assert_string_equal(p.p[4].val, "/=&");
	zt_http_params_free(&p);
	assert_int_equal(zt_http_params_parse("", 0, &p), 0);
	assert_int_equal(p.n, 0);
	zt_http_params_free(&p);
}

static void test_split_bad(void **state)
{
	static const char *bad[] = {"a=%", "a=%4", "a=%zz", "a=%00", "=1", "%00=1", "a=1&=2", "x=%G0"};
	struct zt_http_params p;
	char many[400] = "";

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(zt_http_params_parse(bad[i], strlen(bad[i]), &p), -22);
	for (int i = 0; i <= ZT_HTTP_MAX_PARAMS; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "%sp%d=1", i ? "&" : "", i);
	assert_int_equal(zt_http_params_parse(many, strlen(many), &p), -22);
}

/* The answer of a test request is {"error": ..., "param": NAME}. */
static void assert_400(struct zt_http_req *req, const char *param)
{
	json_t *o;

	assert_int_equal(zt_http_test_status(req), 400);
	o = json_loads(zt_http_test_body(req), 0, NULL);
	assert_non_null(o);
	assert_true(json_is_string(json_object_get(o, "error")));
	assert_string_equal(json_string_value(json_object_get(o, "param")), param);
	json_decref(o);
}

static void test_u64(void **state)
{
	static const struct {
		const char *q;
		int ok;
		uint64_t v;
	} cases[] = {
	    {"limit=10", 1, 10},     {"limit=0", 1, 0},       {"limit=1000", 1, 1000}, {"limit=1001", 0, 0},
	    {"limit=-1", 0, 0},      {"limit=", 0, 0},        {"limit=1x", 0, 0},      {"limit=+5", 0, 0},
	    {"limit=99999999999999999999999", 0, 0},           {"limit=1&limit=2", 0, 0}, {"other=1", 1, 77},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct zt_http_req *req = zt_http_test_req("GET", "/x", cases[i].q);
		uint64_t v = 77;
		int rc = zt_http_param_u64(req, "limit", 0, 1000, &v);

		if (cases[i].ok) {
			assert_int_equal(rc, 0);
			assert_int_equal(v, cases[i].v);
			assert_int_equal(zt_http_test_status(req), 0);
		} else {
			assert_int_equal(rc, -22);
			assert_int_equal(v, 77); /* untouched */
			assert_400(req, "limit");
		}
		zt_http_test_free(req);
	}
}

static void test_duration(void **state)
{
	struct zt_http_req *req;
	uint64_t v = 0;

	(void)state;
	req = zt_http_test_req("GET", "/x", "since=15m");
	assert_int_equal(zt_http_param_duration(req, "since", &v), 0);
	assert_int_equal(v, 15ULL * 60 * 1000000000ULL);
	zt_http_test_free(req);
	for (const char *const *q = (const char *const[]){"since=15x", "since=", "since=-1s", "since=1.5s", NULL}; *q;
	     q++) {
		req = zt_http_test_req("GET", "/x", *q);
		v = 5;
		assert_int_equal(zt_http_param_duration(req, "since", &v), -22);
		assert_int_equal(v, 5);
		assert_400(req, "since");
		zt_http_test_free(req);
	}
}

static void test_bool_enum_str(void **state)
{
	static const char *const sides[] = {"client", "server", NULL};
	struct zt_http_req *req;
	bool b = false;
	int e = -1;
	const char *s = NULL;

	(void)state;
	req = zt_http_test_req("GET", "/x", "errors&side=SERVER&path=%2Fapi%2Fx");
	assert_int_equal(zt_http_param_bool(req, "errors", &b), 0);
	assert_true(b);
	assert_int_equal(zt_http_param_enum(req, "side", sides, &e), 0);
	assert_int_equal(e, 1);
	assert_int_equal(zt_http_param_str(req, "path", 64, &s), 0);
	assert_string_equal(s, "/api/x");
	zt_http_test_free(req);

	req = zt_http_test_req("GET", "/x", "errors=maybe");
	assert_int_equal(zt_http_param_bool(req, "errors", &b), -22);
	assert_400(req, "errors");
	zt_http_test_free(req);

	req = zt_http_test_req("GET", "/x", "side=nic");
	assert_int_equal(zt_http_param_enum(req, "side", sides, &e), -22);
	assert_400(req, "side");
	zt_http_test_free(req);

	req = zt_http_test_req("GET", "/x", "path=a%0Ab");
	assert_int_equal(zt_http_param_str(req, "path", 64, &s), -22);
	assert_400(req, "path");
	zt_http_test_free(req);

	req = zt_http_test_req("GET", "/x", "path=");
	assert_int_equal(zt_http_param_str(req, "path", 64, &s), -22);
	assert_400(req, "path");
	zt_http_test_free(req);

	req = zt_http_test_req("GET", "/x", "path=abcdef");
	assert_int_equal(zt_http_param_str(req, "path", 5, &s), -22);
	assert_400(req, "path");
	zt_http_test_free(req);
}

static void test_only(void **state)
{
	static const char *const allowed[] = {"limit", "since", NULL};
	struct zt_http_req *req;

	(void)state;
	req = zt_http_test_req("GET", "/x", "limit=1&since=1s");
	assert_int_equal(zt_http_params_only(req, allowed), 0);
	zt_http_test_free(req);
	req = zt_http_test_req("GET", "/x", "limit=1&lmit=2");
	assert_int_equal(zt_http_params_only(req, allowed), -22);
	assert_400(req, "lmit");
	zt_http_test_free(req);
	/* a name that is not UTF-8 still gives a JSON answer */
	req = zt_http_test_req("GET", "/x", "%FF%FE=1");
	assert_int_equal(zt_http_params_only(req, allowed), -22);
	assert_400(req, "??");
	zt_http_test_free(req);
}

static void test_loopback(void **state)
{
	(void)state;
	assert_true(zt_http_is_loopback("127.0.0.1:7070"));
	assert_true(zt_http_is_loopback("127.0.0.2:7070"));
	assert_true(zt_http_is_loopback("[::1]:7070"));
	assert_true(zt_http_is_loopback("[::ffff:127.0.0.1]:1"));
	assert_true(zt_http_is_loopback("127.0.0.1"));
	assert_false(zt_http_is_loopback("0.0.0.0:7070"));
	assert_false(zt_http_is_loopback("[::]:7070"));
	assert_false(zt_http_is_loopback("10.1.2.3:7070"));
	assert_false(zt_http_is_loopback("localhost:7070")); /* numeric only */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_split),    cmocka_unit_test(test_split_bad),
	    cmocka_unit_test(test_u64),      cmocka_unit_test(test_duration),
	    cmocka_unit_test(test_bool_enum_str), cmocka_unit_test(test_only),
	    cmocka_unit_test(test_loopback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
