/* SPDX-License-Identifier: MIT */
/* OTLP ingest: requests encoded by protoc itself (`protoc --encode` of a
 * text proto written here, independent of our code) and the same request
 * in OTLP/JSON must give the same spans, field for field; the id mapping;
 * rejected spans (bad ids, times, the span bound) with the rest kept;
 * malformed protobuf (every truncated prefix, deep nesting, garbage) and
 * JSON; the OTLP/HTTP answers (415, gzip, 400, 413, partial success, 503).
 * The joiner and export: test_otlp_export.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "otlp_fixtures.h"
#include "server/otlp.h"

static void check_two_spans(void)
{
	struct zt_span *srv = &got[0], *cli = &got[1];
	char ip[64];

	assert_int_equal(ngot, 2);
	/* ids: hex of the OTLP bytes; the span's uid is its span id */
	assert_string_equal(srv->trace_id, TID_HEX);
	assert_string_equal(srv->span_id, SRV_HEX);
	assert_string_equal(srv->span_uid, SRV_HEX);
	assert_string_equal(srv->parent_span_id, "");
	assert_string_equal(cli->span_uid, CLI_HEX);
	assert_string_equal(cli->parent_span_id, SRV_HEX);
	assert_string_equal(cli->trace_id, TID_HEX);
	/* where */
	assert_int_equal(srv->tap_side, ZT_TAP_APP);
	assert_string_equal(zt_tap_side_name(srv->tap_side), "app");
	assert_string_equal(srv->process, "frontend");
	assert_string_equal(srv->host, "web-1");
	assert_int_equal(srv->pid, 4242);
	/* l7 */
	assert_int_equal(srv->l7_protocol, ZT_L7_HTTP1);
	assert_string_equal(srv->endpoint, "GET /users/{id}");
	assert_string_equal(srv->request_type, "GET");
	assert_string_equal(srv->request_resource, "/users/7?x=1");
	assert_string_equal(srv->request_domain, "localhost:8080");
	assert_string_equal(srv->version, "1.1");
	assert_int_equal(srv->response_code, 200);
	assert_int_equal(srv->response_status, ZT_RS_OK);
	assert_int_equal(srv->start_ns, 1700000000000000000ULL);
	assert_int_equal(srv->duration_ns, 5000000);
	zt_ip_str(srv->client_ip, ip, sizeof(ip));
	assert_string_equal(ip, "127.0.0.1");
	assert_int_equal(srv->client_port, 51000);
	assert_int_equal(srv->server_port, 0);
	/* the client span: new conventions, the peer is the server */
	assert_string_equal(cli->request_type, "POST");
	assert_string_equal(cli->request_resource, "/api?q=2");
	assert_string_equal(cli->request_domain, "backend");
	assert_int_equal(cli->response_code, 503);
	assert_int_equal(cli->response_status, ZT_RS_SERVER_ERROR);
	assert_string_equal(cli->response_exception, "backend said 503");
	zt_ip_str(cli->server_ip, ip, sizeof(ip));
	assert_string_equal(ip, "::1");
	assert_int_equal(cli->server_port, 9000);
	/* attributes: kind and scope */
	char *t = json_of(cli);
	assert_non_null(strstr(t, "\"span.kind\":\"client\""));
	assert_non_null(strstr(t, "\"otel.scope\":\"@opentelemetry/instrumentation-http\""));
	free(t);
}

static void test_pb_from_protoc(void **st)
{
	size_t len;
	uint8_t *buf = protoc_encode(TEXT_REQ, &len);
	struct zt_otlp_result r;
	char err[300];

	(void)st;
	ngot = 0;
	assert_int_equal(zt_otlp_decode_pb(buf, len, "default-host", emit, NULL, &r, err, sizeof(err)), 0);
	assert_int_equal(r.accepted, 2);
	assert_int_equal(r.rejected, 0);
	check_two_spans();
	free(buf);
}

/* The same request in OTLP/JSON gives the very same spans. */
static void test_json_equals_pb(void **st)
{
	size_t len;
	uint8_t *buf = protoc_encode(TEXT_REQ, &len);
	struct zt_otlp_result r;
	char err[300];
	char *pb_json[2];

	(void)st;
	ngot = 0;
	assert_int_equal(zt_otlp_decode_pb(buf, len, "h", emit, NULL, &r, err, sizeof(err)), 0);
	pb_json[0] = json_of(&got[0]);
	pb_json[1] = json_of(&got[1]);
	ngot = 0;
	assert_int_equal(zt_otlp_decode_json(JSON_REQ, strlen(JSON_REQ), "h", emit, NULL, &r, err, sizeof(err)), 0);
	check_two_spans();
	for (int i = 0; i < 2; i++) {
		char *j = json_of(&got[i]);
		assert_string_equal(j, pb_json[i]);
		free(j);
		free(pb_json[i]);
	}
	free(buf);
}

/* snake_case names, enum names, uppercase hex, numbers for int64; no
 * service.name: the span keeps the default host, no process. */
static void test_json_variants(void **st)
{
	const char *j = "{\"resource_spans\":[{\"scope_spans\":[{\"spans\":[{\"trace_id\":\"5B8EFFF798038103D269B633813FC60C\","
			"\"span_id\":\"EEE19B7EC3C1B174\",\"name\":\"q\",\"kind\":\"SPAN_KIND_CLIENT\","
			"\"start_time_unix_nano\":5,\"end_time_unix_nano\":9,"
			"\"attributes\":[{\"key\":\"db.system\",\"value\":{\"stringValue\":\"redis\"}},"
			"{\"key\":\"db.statement\",\"value\":{\"stringValue\":\"GET k\"}},"
			"{\"key\":\"weird\",\"value\":{\"arrayValue\":{\"values\":[{\"intValue\":\"-3\"}]}}}],"
			"\"status\":{\"code\":\"STATUS_CODE_OK\"}}]}]}]}";
	struct zt_otlp_result r;
	char err[300];

	(void)st;
	ngot = 0;
	assert_int_equal(zt_otlp_decode_json(j, strlen(j), "myhost", emit, NULL, &r, err, sizeof(err)), 0);
	assert_int_equal(r.accepted, 1);
	assert_string_equal(got[0].trace_id, TID_HEX);
	assert_string_equal(got[0].span_uid, SRV_HEX);
	assert_string_equal(got[0].host, "myhost");
	assert_string_equal(got[0].process, "");
	assert_int_equal(got[0].l7_protocol, ZT_L7_REDIS);
	assert_string_equal(got[0].request_resource, "GET k");
	assert_int_equal(got[0].response_status, ZT_RS_OK);
	assert_int_equal(got[0].duration_ns, 4);
	char *t = json_of(&got[0]);
	assert_non_null(strstr(t, "\"span.kind\":\"client\""));
	free(t);
}

/* Bad spans are rejected and counted, the good ones in the same request
 * kept (OTLP partial success). */
static void test_rejects(void **st)
{
	const char *j = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
			"{\"traceId\":\"00000000000000000000000000000000\",\"spanId\":\"0102030405060708\",\"startTimeUnixNano\":1,\"endTimeUnixNano\":2},"
			"{\"traceId\":\"" TID_HEX "\",\"spanId\":\"01020304050607\",\"startTimeUnixNano\":1,\"endTimeUnixNano\":2},"
			"{\"traceId\":\"" TID_HEX "\",\"spanId\":\"zz02030405060708\",\"startTimeUnixNano\":1,\"endTimeUnixNano\":2},"
			"{\"traceId\":\"" TID_HEX "\",\"spanId\":\"0102030405060708\",\"startTimeUnixNano\":9,\"endTimeUnixNano\":2},"
			"{\"traceId\":\"" TID_HEX "\",\"spanId\":\"0102030405060708\",\"startTimeUnixNano\":\"x\",\"endTimeUnixNano\":2},"
			"7,"
			"{\"traceId\":\"" TID_HEX "\",\"spanId\":\"0102030405060708\",\"parentSpanId\":\"0000000000000000\","
			"\"startTimeUnixNano\":1,\"endTimeUnixNano\":2}]}]}]}";
	struct zt_otlp_result r;
	char err[300];

	(void)st;
	ngot = 0;
	assert_int_equal(zt_otlp_decode_json(j, strlen(j), "h", emit, NULL, &r, err, sizeof(err)), 0);
	assert_int_equal(r.rejected, 6);
	assert_int_equal(r.accepted, 1);
	assert_int_equal(ngot, 1);
	assert_string_equal(got[0].parent_span_id, ""); /* zeros mean a root */
	assert_non_null(strstr(r.reason, "all-zero"));
}

static void test_json_malformed(void **st)
{
	const char *bad[] = {"", "{", "[]", "{\"resourceSpans\":{}}", "nul", "{\"resourceSpans\":[1,2]}x"};
	struct zt_otlp_result r;
	char err[300];

	(void)st;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ngot = 0;
		assert_int_equal(zt_otlp_decode_json(bad[i], strlen(bad[i]), "h", emit, NULL, &r, err, sizeof(err)), -EINVAL);
		assert_true(err[0] != '\0');
	}
	/* valid JSON of the wrong shape inside: nothing decoded, nothing crashed */
	const char *odd = "{\"resourceSpans\":[1,{\"scopeSpans\":\"x\"},{\"scopeSpans\":[{\"spans\":[[]]}]}]}";
	ngot = 0;
	assert_int_equal(zt_otlp_decode_json(odd, strlen(odd), "h", emit, NULL, &r, err, sizeof(err)), 0);
	assert_int_equal(r.accepted, 0);
	assert_int_equal(r.rejected, 1);
	/* every truncated prefix of a valid request: an error, never a crash */
	size_t n = strlen(JSON_REQ);
	for (size_t k = 0; k < n; k++) {
		char *p = malloc(k ? k : 1);
		memcpy(p, JSON_REQ, k);
		ngot = 0;
		assert_int_equal(zt_otlp_decode_json(p, k, "h", emit, NULL, &r, err, sizeof(err)), -EINVAL);
		free(p);
	}
}

static void test_pb_malformed(void **st)
{
	size_t len;
	uint8_t *buf = protoc_encode(TEXT_REQ, &len);
	struct zt_otlp_result r;
	char err[300];
	int ok = 0, bad = 0;

	(void)st;
	/* every truncated prefix: decodes fewer spans or fails, never crashes */
	for (size_t k = 0; k < len; k++) {
		uint8_t *p = malloc(k ? k : 1);
		memcpy(p, buf, k);
		ngot = 0;
		int rc = zt_otlp_decode_pb(p, k, "h", emit, NULL, &r, err, sizeof(err));
		assert_true(rc == 0 || rc == -EINVAL);
		assert_true(ngot <= 2);
		rc == 0 ? ok++ : bad++;
		free(p);
	}
	assert_true(bad > (int)len / 2);
	/* garbage */
	uint8_t g[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	assert_int_equal(zt_otlp_decode_pb(g, sizeof(g), "h", emit, NULL, &r, err, sizeof(err)), -EINVAL);
	uint8_t grp[] = {0x0b, 0x0c}; /* a group */
	assert_int_equal(zt_otlp_decode_pb(grp, sizeof(grp), "h", emit, NULL, &r, err, sizeof(err)), -EINVAL);
	/* an empty request is valid and has no spans */
	assert_int_equal(zt_otlp_decode_pb(g, 0, "h", emit, NULL, &r, err, sizeof(err)), 0);
	assert_int_equal(r.accepted + r.rejected, 0);
	free(buf);
}

/* Deep nesting where it really recurses: a span attribute's value. */
static void test_pb_deep_attribute(void **st)
{
	/* resource_spans{scope_spans{spans{attributes{key:"k" value{array_value{values{array_value{...}}}}}}}} */
	char *text = malloc(1 << 20);
	size_t o = 0;
	int depth = ZT_OTLP_MAX_DEPTH + 5;
	size_t len;
	struct zt_otlp_result r;
	char err[300];

	(void)st;
	o += (size_t)sprintf(text + o, "resource_spans { scope_spans { spans { trace_id: \"" TID_ESC "\" span_id: \"" SRV_ESC
				       "\" start_time_unix_nano: 1 end_time_unix_nano: 2 attributes { key: \"k\" value { ");
	for (int i = 0; i < depth; i++)
		o += (size_t)sprintf(text + o, "array_value { values { ");
	for (int i = 0; i < depth; i++)
		o += (size_t)sprintf(text + o, "} } ");
	sprintf(text + o, "} } } } }\n");
	uint8_t *buf = protoc_encode(text, &len);
	ngot = 0;
	assert_int_equal(zt_otlp_decode_pb(buf, len, "h", emit, NULL, &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "nested"));
	free(buf);
	/* a few levels are fine */
	o = 0;
	o += (size_t)sprintf(text + o, "resource_spans { scope_spans { spans { trace_id: \"" TID_ESC "\" span_id: \"" SRV_ESC
				       "\" start_time_unix_nano: 1 end_time_unix_nano: 2 attributes { key: \"k\" value { ");
	for (int i = 0; i < 5; i++)
		o += (size_t)sprintf(text + o, "array_value { values { ");
	for (int i = 0; i < 5; i++)
		o += (size_t)sprintf(text + o, "} } ");
	sprintf(text + o, "} } } } }\n");
	buf = protoc_encode(text, &len);
	ngot = 0;
	assert_int_equal(zt_otlp_decode_pb(buf, len, "h", emit, NULL, &r, err, sizeof(err)), 0);
	assert_int_equal(r.accepted, 1);
	free(buf);
	free(text);
}

static uint8_t *gzip_of(const uint8_t *in, size_t n, size_t *outlen)
{
	z_stream z;
	uint8_t *out = malloc(n + 1024);

	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)(n + 1024);
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	*outlen = z.total_out;
	deflateEnd(&z);
	return out;
}

static void test_http_answers(void **st)
{
	struct zt_otlp_reply rep;
	struct zt_otlp_stats stats = {0};
	size_t len, glen;
	uint8_t *buf = protoc_encode(TEXT_REQ, &len), *gz;

	(void)st;
	/* 415: unknown type */
	assert_int_equal(zt_otlp_handle(buf, len, "text/plain", NULL, "h", emit, NULL, &stats, &rep), 0);
	assert_int_equal(rep.status, 415);
	free(rep.body);
	assert_int_equal(zt_otlp_handle(buf, len, NULL, NULL, "h", emit, NULL, &stats, &rep), 0);
	assert_int_equal(rep.status, 415);
	free(rep.body);
	assert_int_equal(zt_otlp_handle(buf, len, "application/x-protobuf", "br", "h", emit, NULL, &stats, &rep), 0);
	assert_int_equal(rep.status, 415);
	free(rep.body);
	assert_int_equal(stats.unsupported, 3);
	/* 200, gzip, protobuf answer without partial_success */
	gz = gzip_of(buf, len, &glen);
	ngot = 0;
	assert_int_equal(zt_otlp_handle(gz, glen, "application/x-protobuf", "gzip", "h", emit, NULL, &stats, &rep), 0);
	assert_int_equal(rep.status, 200);
	assert_int_equal(ngot, 2);
	assert_string_equal(rep.content_type, "application/x-protobuf");
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse *resp =
	    opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(NULL, rep.len, rep.body);
	assert_non_null(resp);
	assert_null(resp->partial_success);
	opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(resp, NULL);
	free(rep.body);
	/* 400: truncated gzip, and a body that is not protobuf */
	assert_int_equal(zt_otlp_handle(gz, glen / 2, "application/x-protobuf", "gzip", "h", emit, NULL, &stats, &rep), 0);
	assert_int_equal(rep.status, 400);
	free(rep.body);
	free(gz);
	assert_int_equal(zt_otlp_handle((const uint8_t *)"\xff\xff", 2, "application/x-protobuf; charset=x", NULL, "h", emit,
					NULL, &stats, &rep),
			 0);
	assert_int_equal(rep.status, 400);
	/* the error body is a google.rpc.Status: code 3 then the message */
	assert_true(rep.len > 4 && rep.body[0] == 0x08 && rep.body[1] == 3 && rep.body[2] == 0x12);
	free(rep.body);
	assert_int_equal(stats.bad_requests, 2);
	/* 413: a gzip bomb past the bound */
	uint8_t *zeros = calloc(1, ZT_OTLP_MAX_BODY + 4096);
	gz = gzip_of(zeros, ZT_OTLP_MAX_BODY + 4096, &glen);
	assert_int_equal(zt_otlp_handle(gz, glen, "application/json", "gzip", "h", emit, NULL, &stats, &rep), 0);
	assert_int_equal(rep.status, 413);
	assert_string_equal(rep.content_type, "application/json");
	free(rep.body);
	free(gz);
	free(zeros);
	/* partial success in JSON: one good span, one bad */
	const char *j = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
			"{\"traceId\":\"" TID_HEX "\",\"spanId\":\"0102030405060708\",\"startTimeUnixNano\":1,\"endTimeUnixNano\":2},"
			"{\"traceId\":\"" TID_HEX "\",\"spanId\":\"\",\"startTimeUnixNano\":1,\"endTimeUnixNano\":2}]}]}]}";
	ngot = 0;
	assert_int_equal(zt_otlp_handle((const uint8_t *)j, strlen(j), "application/json", NULL, "h", emit, NULL, &stats, &rep), 0);
	assert_int_equal(rep.status, 200);
	assert_int_equal(ngot, 1);
	assert_non_null(strstr((char *)rep.body, "\"rejectedSpans\":\"1\""));
	free(rep.body);
	/* the same in protobuf: partial_success.rejected_spans */
	ngot = 0;
	assert_int_equal(zt_otlp_handle(buf, len, "application/x-protobuf", NULL, "h", emit, NULL, &stats, &rep), 0);
	free(rep.body);
	/* 503: the queue refused every span */
	refuse = 1;
	assert_int_equal(zt_otlp_handle(buf, len, "application/x-protobuf", NULL, "h", emit, NULL, &stats, &rep), 0);
	refuse = 0;
	assert_int_equal(rep.status, 503);
	free(rep.body);
	assert_int_equal(stats.busy, 1);
	assert_int_equal(stats.spans_accepted, 5);
	free(buf);
}

/* Protobuf partial success carries the rejected count. */
static void test_pb_partial_success(void **st)
{
	char *text = malloc(8192);
	struct zt_otlp_reply rep;
	size_t len;

	(void)st;
	snprintf(text, 8192,
		 "resource_spans { scope_spans { spans { trace_id: \"" TID_ESC "\" span_id: \"" SRV_ESC "\" "
		 "start_time_unix_nano: 1 end_time_unix_nano: 2 }\n"
		 "spans { trace_id: \"\\x01\" span_id: \"" SRV_ESC "\" start_time_unix_nano: 1 end_time_unix_nano: 2 }\n"
		 "spans { trace_id: \"" TID_ESC "\" span_id: \"" CLI_ESC "\" start_time_unix_nano: 0 end_time_unix_nano: 2 } } }\n");
	uint8_t *buf = protoc_encode(text, &len);
	ngot = 0;
	assert_int_equal(zt_otlp_handle(buf, len, "application/x-protobuf", NULL, "h", emit, NULL, NULL, &rep), 0);
	assert_int_equal(rep.status, 200);
	assert_int_equal(ngot, 1);
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse *resp =
	    opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(NULL, rep.len, rep.body);
	assert_non_null(resp);
	assert_non_null(resp->partial_success);
	assert_int_equal(resp->partial_success->rejected_spans, 2);
	assert_non_null(strstr(resp->partial_success->error_message, "16 bytes"));
	opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(resp, NULL);
	free(rep.body);
	free(buf);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pb_from_protoc),
	    cmocka_unit_test(test_json_equals_pb),
	    cmocka_unit_test(test_json_variants),
	    cmocka_unit_test(test_rejects),
	    cmocka_unit_test(test_json_malformed),
	    cmocka_unit_test(test_pb_malformed),
	    cmocka_unit_test(test_pb_deep_attribute),
	    cmocka_unit_test(test_http_answers),
	    cmocka_unit_test(test_pb_partial_success),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
