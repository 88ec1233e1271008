/* SPDX-License-Identifier: MIT */
/*
 * test_api_json.c - the decoders the API and `--server` rely on: a span
 * read back from its JSON (model/span_json.h) equals the span (every
 * field kind: big u64 as text, v4/v6 addresses, seq bits, enums, flags,
 * attributes), bad values are refused naming the field; trace summaries
 * likewise; Jaeger's Go durations (server/api_int.h).
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

#include "model/span_json.h"
#include "server/api_int.h"
#include "store/trace_json.h"

static void fill(struct zt_span *s)
{
	zt_span_clear(s);
	snprintf(s->span_uid, sizeof(s->span_uid), "00000000000000ff");
	s->start_ns = 1795997318479189844ULL;
	s->end_ns = s->start_ns + 5;
	s->duration_ns = 5;
	s->tap_side = ZT_TAP_SERVER_PROCESS;
	snprintf(s->process, sizeof(s->process), "nginx");
	s->pid = 42;
	s->l7_protocol = ZT_L7_HTTP1;
	snprintf(s->request_type, sizeof(s->request_type), "GET");
	snprintf(s->request_resource, sizeof(s->request_resource), "/a?b=\"c\"\\");
	s->response_status = ZT_RS_SERVER_ERROR;
	s->response_code = 503;
	s->client_ip[10] = s->client_ip[11] = 0xff;
	s->client_ip[12] = 10;
	s->client_ip[15] = 7;
	s->server_ip[15] = 1; /* ::1 */
	s->client_port = 5555;
	s->server_port = 80;
	s->l4_protocol = 6;
	s->req_tcp_seq = 0; /* valid though zero: HAS_SEQ */
	s->flags = ZT_SPAN_HAS_SEQ | ZT_SPAN_TRUNCATED | ZT_SPAN_EARLY_RESPONSE;
	s->syscall_trace_id_req = UINT64_MAX; /* a decimal string in JSON */
	snprintf(s->trace_id, sizeof(s->trace_id), "6b0cbe86de76c65e918acfcabeb7088c");
	snprintf(s->parent_uid, sizeof(s->parent_uid), "0123456789abcdef");
	s->link_kind = ZT_LINK_THREAD;
	s->is_tls = 1;
	zt_attrs_add(&s->attributes, "http.user_agent", "curl/8.0 \xc3\xa9", 12);
}

static void test_span_roundtrip(void **state)
{
	struct zt_span a, b;
	json_t *ja, *jb;
	char err[128];

	(void)state;
	fill(&a);
	ja = zt_span_to_json(&a);
	assert_non_null(ja);
	assert_true(json_is_string(json_object_get(ja, "syscall_trace_id_req")));
	assert_int_equal(zt_span_from_json(ja, &b, err, sizeof(err)), 0);
	jb = zt_span_to_json(&b);
	assert_true(json_equal(ja, jb));
	assert_int_equal(b.syscall_trace_id_req, UINT64_MAX);
	assert_int_equal(b.flags, a.flags);
	assert_memory_equal(b.client_ip, a.client_ip, 16);
	assert_memory_equal(b.server_ip, a.server_ip, 16);
	assert_int_equal(b.response_code, 503);
	assert_string_equal(b.attributes.a[0].val, a.attributes.a[0].val);
	json_decref(ja);
	json_decref(jb);
}

static void test_span_bad(void **state)
{
	static const char *const bad[][2] = {
	    {"{\"span_uid\": \"0123456789abcdef0\"}", "span_uid"},     /* too long for the field */
	    {"{\"start_ns\": -1}", "start_ns"},                         /* negative */
	    {"{\"start_ns\": \"12x\"}", "start_ns"},
	    {"{\"pid\": 4294967296}", "pid"},                           /* past u32 */
	    {"{\"client_port\": 65536}", "client_port"},
	    {"{\"tap_side\": \"sideways\"}", "tap_side"},
	    {"{\"l7_protocol\": 7}", "l7_protocol"},
	    {"{\"flags\": [\"bogus\"]}", "flags"},
	    {"{\"flags\": \"truncated\"}", "flags"},
	    {"{\"client_ip\": \"1.2.3\"}", "client_ip"},
	    {"{\"is_tls\": 1}", "is_tls"},
	    {"{\"attributes\": [1]}", "attributes"},
	    {"{\"process\": \"a\\u0000b\"}", "process"},                /* a NUL inside */
	};
	struct zt_span s;
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *o = json_loads(bad[i][0], JSON_ALLOW_NUL, NULL);
		assert_non_null(o);
		assert_int_equal(zt_span_from_json(o, &s, err, sizeof(err)), -22);
		assert_non_null(strstr(err, bad[i][1]));
		json_decref(o);
	}
	/* unknown keys are fine, missing ones null */
	{
		json_t *o = json_loads("{\"new_field\": 1, \"pid\": 7}", 0, NULL);
		assert_int_equal(zt_span_from_json(o, &s, err, sizeof(err)), 0);
		assert_int_equal(s.pid, 7);
		assert_int_equal(s.response_code, -1);
		json_decref(o);
	}
}

static void test_summary(void **state)
{
	struct zt_trace_summary t = {.start_ns = 5, .duration_ns = 6, .spans = 3, .errors = 1}, u;
	json_t *j, *o;
	char err[128];

	(void)state;
	snprintf(t.trace_id, sizeof(t.trace_id), "abc");
	snprintf(t.root_process, sizeof(t.root_process), "nginx");
	j = zt_trace_summary_to_json(&t);
	assert_true(json_is_null(json_object_get(j, "root_uid")));
	assert_int_equal(zt_trace_summary_from_json(j, &u, err, sizeof(err)), 0);
	assert_string_equal(u.trace_id, "abc");
	assert_string_equal(u.root_process, "nginx");
	assert_int_equal(u.spans, 3);
	json_decref(j);
	o = json_loads("{\"trace_id\": \"a\", \"start_ns\": 1, \"duration_ns\": 1, \"spans\": -1, \"errors\": 0}", 0,
		       NULL);
	assert_int_equal(zt_trace_summary_from_json(o, &u, err, sizeof(err)), -22);
	assert_non_null(strstr(err, "spans"));
	json_decref(o);
}

static void test_go_duration(void **state)
{
	static const struct {
		const char *s;
		uint64_t ns;
	} ok[] = {
	    {"0", 0},           {"1ns", 1},          {"1.5s", 1500000000ULL}, {"100ms", 100000000ULL},
	    {"250us", 250000},  {"250\xc2\xb5s", 250000}, {"1h30m", 5400000000000ULL}, {".5ms", 500000},
	    {"2m", 120000000000ULL},
	};
	static const char *const bad[] = {"", "1", "s", "1x", "-1s", "1.s5", "1e3s", "99999999999999999999h", ". s"};
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(zt_jaeger_parse_duration(ok[i].s, &v), 0);
		assert_int_equal(v, ok[i].ns);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(zt_jaeger_parse_duration(bad[i], &v), -22);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_span_roundtrip),
	    cmocka_unit_test(test_span_bad),
	    cmocka_unit_test(test_summary),
	    cmocka_unit_test(test_go_duration),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
