/* SPDX-License-Identifier: MIT */
/* OTLP ingest: requests encoded by protoc itself (`protoc --encode` of a
 * text proto written here, independent of our code) and the same request
 * in OTLP/JSON must give the same spans, field for field; the id mapping;
 * rejected spans (bad ids, times, the span bound) with the rest kept;
 * malformed protobuf (every truncated prefix, deep nesting, garbage) and
 * JSON; the OTLP/HTTP answers (415, gzip, 400, 413, partial success, 503);
 * and SDK spans joining eBPF spans of the same trace in the joiner. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "model/span_json.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "server/http.h"
#include "server/otlp.h"
#include "server/otlp_export.h"
#include "server/otlp_route.h"
#include "trace/joiner.h"

#define MAXSP 64
static struct zt_span got[MAXSP];
static int ngot;
static int refuse; /* emit refuses spans (a full queue) */

static int emit(void *ctx, const struct zt_span *s)
{
	(void)ctx;
	if (refuse)
		return -ENOSPC;
	if (ngot < MAXSP)
		got[ngot++] = *s;
	return 0;
}

/* Runs protoc --encode on a text proto; returns the bytes (malloc'd). */
static uint8_t *protoc_encode(const char *text, size_t *len)
{
	char in[] = "/tmp/ztotlp-inXXXXXX", out[] = "/tmp/ztotlp-outXXXXXX", cmd[512];
	int fi = mkstemp(in), fo = mkstemp(out);
	uint8_t *buf = malloc(1 << 20);
	FILE *f;

	assert_true(fi >= 0 && fo >= 0 && buf);
	assert_int_equal(write(fi, text, strlen(text)), (ssize_t)strlen(text));
	close(fi);
	close(fo);
	snprintf(cmd, sizeof(cmd),
		 "protoc --proto_path=wire "
		 "--encode=opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest "
		 "opentelemetry/proto/collector/trace/v1/trace_service.proto < %s > %s",
		 in, out);
	assert_int_equal(system(cmd), 0);
	f = fopen(out, "rb");
	assert_non_null(f);
	*len = fread(buf, 1, 1 << 20, f);
	fclose(f);
	unlink(in);
	unlink(out);
	return buf;
}

#define TID_HEX "5b8efff798038103d269b633813fc60c"
#define TID_ESC "\\x5b\\x8e\\xff\\xf7\\x98\\x03\\x81\\x03\\xd2\\x69\\xb6\\x33\\x81\\x3f\\xc6\\x0c"
#define SRV_HEX "eee19b7ec3c1b174"
#define SRV_ESC "\\xee\\xe1\\x9b\\x7e\\xc3\\xc1\\xb1\\x74"
#define CLI_HEX "00f067aa0ba902b7"
#define CLI_ESC "\\x00\\xf0\\x67\\xaa\\x0b\\xa9\\x02\\xb7"

/* A server span (old HTTP conventions) with a client child (new ones)
 * that failed, from service "frontend". */
static const char *TEXT_REQ =
    "resource_spans {\n"
    "  resource {\n"
    "    attributes { key: \"service.name\" value { string_value: \"frontend\" } }\n"
    "    attributes { key: \"host.name\" value { string_value: \"web-1\" } }\n"
    "    attributes { key: \"process.pid\" value { int_value: 4242 } }\n"
    "  }\n"
    "  scope_spans {\n"
    "    scope { name: \"@opentelemetry/instrumentation-http\" }\n"
    "    spans {\n"
    "      trace_id: \"" TID_ESC "\" span_id: \"" SRV_ESC "\"\n"
    "      name: \"GET /users/{id}\" kind: SPAN_KIND_SERVER\n"
    "      start_time_unix_nano: 1700000000000000000 end_time_unix_nano: 1700000000005000000\n"
    "      attributes { key: \"http.method\" value { string_value: \"GET\" } }\n"
    "      attributes { key: \"http.target\" value { string_value: \"/users/7?x=1\" } }\n"
    "      attributes { key: \"http.status_code\" value { int_value: 200 } }\n"
    "      attributes { key: \"http.host\" value { string_value: \"localhost:8080\" } }\n"
    "      attributes { key: \"net.peer.ip\" value { string_value: \"127.0.0.1\" } }\n"
    "      attributes { key: \"net.peer.port\" value { int_value: 51000 } }\n"
    "      attributes { key: \"http.flavor\" value { string_value: \"1.1\" } }\n"
    "    }\n"
    "    spans {\n"
    "      trace_id: \"" TID_ESC "\" span_id: \"" CLI_ESC "\" parent_span_id: \"" SRV_ESC "\"\n"
    "      name: \"POST\" kind: SPAN_KIND_CLIENT\n"
    "      start_time_unix_nano: 1700000000001000000 end_time_unix_nano: 1700000000004000000\n"
    "      attributes { key: \"http.request.method\" value { string_value: \"POST\" } }\n"
    "      attributes { key: \"url.path\" value { string_value: \"/api\" } }\n"
    "      attributes { key: \"url.query\" value { string_value: \"q=2\" } }\n"
    "      attributes { key: \"http.response.status_code\" value { int_value: 503 } }\n"
    "      attributes { key: \"server.address\" value { string_value: \"backend\" } }\n"
    "      attributes { key: \"network.peer.address\" value { string_value: \"::1\" } }\n"
    "      attributes { key: \"network.peer.port\" value { int_value: 9000 } }\n"
    "      status { code: STATUS_CODE_ERROR message: \"backend said 503\" }\n"
    "    }\n"
    "  }\n"
    "}\n";

static const char *JSON_REQ =
    "{\"resourceSpans\":[{\"resource\":{\"attributes\":["
    "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"frontend\"}},"
    "{\"key\":\"host.name\",\"value\":{\"stringValue\":\"web-1\"}},"
    "{\"key\":\"process.pid\",\"value\":{\"intValue\":\"4242\"}}]},"
    "\"scopeSpans\":[{\"scope\":{\"name\":\"@opentelemetry/instrumentation-http\"},\"spans\":["
    "{\"traceId\":\"" TID_HEX "\",\"spanId\":\"" SRV_HEX "\",\"parentSpanId\":\"\","
    "\"name\":\"GET /users/{id}\",\"kind\":2,"
    "\"startTimeUnixNano\":\"1700000000000000000\",\"endTimeUnixNano\":\"1700000000005000000\","
    "\"attributes\":["
    "{\"key\":\"http.method\",\"value\":{\"stringValue\":\"GET\"}},"
    "{\"key\":\"http.target\",\"value\":{\"stringValue\":\"/users/7?x=1\"}},"
    "{\"key\":\"http.status_code\",\"value\":{\"intValue\":200}},"
    "{\"key\":\"http.host\",\"value\":{\"stringValue\":\"localhost:8080\"}},"
    "{\"key\":\"net.peer.ip\",\"value\":{\"stringValue\":\"127.0.0.1\"}},"
    "{\"key\":\"net.peer.port\",\"value\":{\"intValue\":\"51000\"}},"
    "{\"key\":\"http.flavor\",\"value\":{\"stringValue\":\"1.1\"}}],\"status\":{}},"
    "{\"traceId\":\"" TID_HEX "\",\"spanId\":\"" CLI_HEX "\",\"parentSpanId\":\"" SRV_HEX "\","
    "\"name\":\"POST\",\"kind\":3,"
    "\"startTimeUnixNano\":1700000000001000000,\"endTimeUnixNano\":\"1700000000004000000\","
    "\"attributes\":["
    "{\"key\":\"http.request.method\",\"value\":{\"stringValue\":\"POST\"}},"
    "{\"key\":\"url.path\",\"value\":{\"stringValue\":\"/api\"}},"
    "{\"key\":\"url.query\",\"value\":{\"stringValue\":\"q=2\"}},"
    "{\"key\":\"http.response.status_code\",\"value\":{\"intValue\":\"503\"}},"
    "{\"key\":\"server.address\",\"value\":{\"stringValue\":\"backend\"}},"
    "{\"key\":\"network.peer.address\",\"value\":{\"stringValue\":\"::1\"}},"
    "{\"key\":\"network.peer.port\",\"value\":{\"intValue\":9000}}],"
    "\"status\":{\"code\":2,\"message\":\"backend said 503\"}}]}]}]}";

static char *json_of(const struct zt_span *s)
{
	json_t *o = zt_span_to_json(s);
	char *t = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(o);
	assert_non_null(t);
	return t;
}

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

/* ---- the joiner: SDK spans and eBPF spans of one traceparent ---- */

static struct zt_span jout[16];
static int njout;
static int j_span(void *ctx, const struct zt_span *s)
{
	(void)ctx;
	if (njout < 16)
		jout[njout++] = *s;
	return 0;
}

static const struct zt_span *by_uid(const char *uid)
{
	for (int i = 0; i < njout; i++)
		if (strcmp(jout[i].span_uid, uid) == 0)
			return &jout[i];
	fail_msg("span %s not released", uid);
	return NULL;
}

static void test_joiner_links_app_spans(void **st)
{
	struct zt_joiner_cfg cfg = {0};
	struct zt_joiner_out o = {j_span, NULL, NULL, NULL};
	struct zt_joiner *j = zt_joiner_new(&cfg, &o);
	struct zt_span ebpf_cli, ebpf_srv;
	struct zt_otlp_result r;
	size_t len;
	uint8_t *buf = protoc_encode(TEXT_REQ, &len);
	char err[300];

	(void)st;
	ngot = 0;
	assert_int_equal(zt_otlp_decode_pb(buf, len, "h", emit, NULL, &r, err, sizeof(err)), 0);
	/* the wire view of the SDK's client span: the call carried
	 * traceparent 00-TID-CLI-01, seen at the caller and the callee */
	zt_span_clear(&ebpf_cli);
	strcpy(ebpf_cli.span_uid, "c000000000000001");
	ebpf_cli.tap_side = ZT_TAP_CLIENT_PROCESS;
	ebpf_cli.start_ns = 1700000000001100000ULL;
	ebpf_cli.end_ns = 1700000000003900000ULL;
	strcpy(ebpf_cli.trace_id, TID_HEX);
	strcpy(ebpf_cli.span_id, CLI_HEX);
	ebpf_cli.flags = ZT_SPAN_HAS_SEQ | ZT_SPAN_HAS_RESP_SEQ;
	ebpf_cli.req_tcp_seq = 100;
	ebpf_cli.resp_tcp_seq = 200;
	ebpf_srv = ebpf_cli;
	strcpy(ebpf_srv.span_uid, "5000000000000001");
	ebpf_srv.tap_side = ZT_TAP_SERVER_PROCESS;
	njout = 0;
	assert_int_equal(zt_joiner_put(j, &ebpf_srv), 0);
	assert_int_equal(zt_joiner_put(j, &ebpf_cli), 0);
	assert_int_equal(zt_joiner_put(j, &got[1]), 0); /* SDK client span */
	assert_int_equal(zt_joiner_put(j, &got[0]), 0); /* SDK server span, the root */
	assert_int_equal(zt_joiner_flush(j), 0);
	assert_int_equal(njout, 4);
	for (int i = 0; i < 4; i++)
		assert_string_equal(jout[i].trace_id, TID_HEX);
	/* the SDK's own tree, and the wire spans under the SDK call */
	assert_string_equal(by_uid(SRV_HEX)->parent_uid, "");
	assert_string_equal(by_uid(CLI_HEX)->parent_uid, SRV_HEX);
	assert_int_equal(by_uid(CLI_HEX)->link_kind, ZT_LINK_EXPLICIT);
	assert_string_equal(by_uid("c000000000000001")->parent_uid, CLI_HEX);
	assert_string_equal(by_uid("5000000000000001")->parent_uid, "c000000000000001");
	zt_joiner_free(j);
	free(buf);
}


/* ---- export ---- */

static void ebpf_span(struct zt_span *s, const char *uid, uint8_t side)
{
	zt_span_clear(s);
	strcpy(s->span_uid, uid);
	s->tap_side = side;
	s->start_ns = 1700000000000000000ULL;
	s->end_ns = s->start_ns + 2000000;
	s->duration_ns = 2000000;
	strcpy(s->host, "node-a");
	strcpy(s->process, "nginx");
	s->pid = 77;
	s->tid_req = 78;
	s->l7_protocol = ZT_L7_HTTP1;
	strcpy(s->request_type, "GET");
	strcpy(s->request_resource, "/x");
	strcpy(s->endpoint, "GET /x");
	s->response_code = 502;
	s->response_status = ZT_RS_SERVER_ERROR;
	s->client_ip[10] = s->client_ip[11] = 0xff;
	s->client_ip[12] = 10, s->client_ip[15] = 1;
	s->client_port = 40000;
	s->server_ip[10] = s->server_ip[11] = 0xff;
	s->server_ip[12] = 10, s->server_ip[15] = 2;
	s->server_port = 80;
	strcpy(s->trace_id, TID_HEX);
}

static const Opentelemetry__Proto__Common__V1__AnyValue *attr(const Opentelemetry__Proto__Trace__V1__Span *sp,
							     const char *key)
{
	for (size_t i = 0; i < sp->n_attributes; i++)
		if (strcmp(sp->attributes[i]->key, key) == 0)
			return sp->attributes[i]->value;
	return NULL;
}

static void id_hex(const ProtobufCBinaryData *b, char *out)
{
	for (size_t i = 0; i < b->len; i++)
		sprintf(out + 2 * i, "%02x", b->data[i]);
	out[2 * b->len] = '\0';
}

/* eBPF spans -> ExportTraceServiceRequest: ids, parent, kind, attributes,
 * status, resources; then the same bytes through our own ingest. */
static void test_export_encoding(void **st)
{
	struct zt_span sp[3];
	uint8_t *buf;
	size_t len;
	char hex[40];

	(void)st;
	ebpf_span(&sp[0], "a1b2c3d4e5f60718", ZT_TAP_SERVER_PROCESS);
	strcpy(sp[0].span_id, CLI_HEX); /* traceparent named the SDK caller */
	ebpf_span(&sp[1], "0000000000000abc", ZT_TAP_CLIENT_PROCESS);
	strcpy(sp[1].parent_uid, "a1b2c3d4e5f60718");
	strcpy(sp[1].process, "curl");
	sp[1].response_status = ZT_RS_CLIENT_ERROR;
	sp[1].response_code = 404;
	ebpf_span(&sp[2], "1111111111111111", ZT_TAP_SERVER_PROCESS);
	sp[2].response_status = ZT_RS_CLIENT_ERROR; /* a 4xx is not a server span's error */
	assert_int_equal(zt_otlp_encode(sp, 3, &buf, &len), 0);
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *req =
	    opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(NULL, len, buf);
	assert_non_null(req);
	/* two resources: nginx (two spans) and curl */
	assert_int_equal(req->n_resource_spans, 2);
	const Opentelemetry__Proto__Trace__V1__ResourceSpans *r0 = req->resource_spans[0], *r1 = req->resource_spans[1];
	assert_string_equal(r0->resource->attributes[0]->key, "service.name");
	assert_string_equal(r0->resource->attributes[0]->value->string_value, "nginx");
	assert_string_equal(r1->resource->attributes[0]->value->string_value, "curl");
	assert_int_equal(r0->scope_spans[0]->n_spans, 2);
	assert_int_equal(r1->scope_spans[0]->n_spans, 1);
	const Opentelemetry__Proto__Trace__V1__Span *srv = r0->scope_spans[0]->spans[0];
	const Opentelemetry__Proto__Trace__V1__Span *cli = r1->scope_spans[0]->spans[0];
	const Opentelemetry__Proto__Trace__V1__Span *srv2 = r0->scope_spans[0]->spans[1];
	id_hex(&srv->trace_id, hex);
	assert_string_equal(hex, TID_HEX);
	id_hex(&srv->span_id, hex);
	assert_string_equal(hex, "a1b2c3d4e5f60718");
	id_hex(&srv->parent_span_id, hex); /* no parent_uid: the header's caller */
	assert_string_equal(hex, CLI_HEX);
	id_hex(&cli->parent_span_id, hex);
	assert_string_equal(hex, "a1b2c3d4e5f60718");
	assert_int_equal(srv2->parent_span_id.len, 0);
	assert_int_equal(srv->kind, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER);
	assert_int_equal(cli->kind, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT);
	assert_string_equal(srv->name, "GET /x");
	assert_int_equal(srv->end_time_unix_nano - srv->start_time_unix_nano, 2000000);
	assert_string_equal(attr(srv, "http.request.method")->string_value, "GET");
	assert_int_equal(attr(srv, "http.response.status_code")->int_value, 502);
	assert_string_equal(attr(srv, "network.peer.address")->string_value, "10.0.0.1");
	assert_int_equal(attr(srv, "network.peer.port")->int_value, 40000);
	assert_string_equal(attr(cli, "net.peer.ip")->string_value, "10.0.0.2");
	assert_string_equal(attr(srv, "ztrace.tap_side")->string_value, "server-process");
	assert_string_equal(attr(srv, "network.protocol.name")->string_value, "HTTP");
	assert_non_null(srv->status);
	assert_int_equal(srv->status->code, OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR);
	assert_non_null(cli->status); /* a client's 4xx is an error */
	assert_null(srv2->status);    /* a server's 4xx is not */
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req, NULL);
	/* round trip through our ingest: ids, parents and the rest survive */
	struct zt_otlp_result r;
	char err[300];
	ngot = 0;
	assert_int_equal(zt_otlp_decode_pb(buf, len, "h", emit, NULL, &r, err, sizeof(err)), 0);
	assert_int_equal(r.accepted, 3);
	assert_string_equal(got[0].span_uid, "a1b2c3d4e5f60718");
	assert_string_equal(got[0].parent_span_id, CLI_HEX);
	assert_string_equal(got[0].process, "nginx");
	assert_string_equal(got[0].host, "node-a");
	assert_int_equal(got[0].pid, 77);
	assert_string_equal(got[0].request_type, "GET");
	assert_int_equal(got[0].response_code, 502);
	assert_int_equal(got[0].response_status, ZT_RS_SERVER_ERROR);
	assert_string_equal(got[2].span_uid, "0000000000000abc");
	assert_string_equal(got[2].parent_span_id, "a1b2c3d4e5f60718");
	assert_int_equal(got[2].server_port, 80);
	free(buf);
	/* an app span keeps its own kind */
	ngot = 0;
	len = 0;
	buf = protoc_encode(TEXT_REQ, &len);
	assert_int_equal(zt_otlp_decode_pb(buf, len, "h", emit, NULL, &r, err, sizeof(err)), 0);
	free(buf);
	assert_int_equal(zt_otlp_encode(got, 2, &buf, &len), 0);
	req = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(NULL, len, buf);
	assert_int_equal(req->resource_spans[0]->scope_spans[0]->spans[1]->kind,
			 OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT);
	id_hex(&req->resource_spans[0]->scope_spans[0]->spans[1]->parent_span_id, hex);
	assert_string_equal(hex, SRV_HEX);
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req, NULL);
	free(buf);
}

/* The exporter against a real OTLP/HTTP receiver: ztrace's own HTTP
 * server with the /v1/traces route, on loopback. Batching by size, the
 * age bound, retries after 503s, and drops when the queue is full. */
static pthread_mutex_t rx_mu = PTHREAD_MUTEX_INITIALIZER;
static int rx_refuse; /* the receiver refuses this many spans (queue full: 503) */
static int rx_emit(void *ctx, const struct zt_span *s)
{
	(void)ctx;
	pthread_mutex_lock(&rx_mu);
	int rc = 0;
	if (rx_refuse > 0) {
		rx_refuse--;
		rc = -ENOSPC;
	} else if (ngot < MAXSP) {
		got[ngot++] = *s;
	}
	pthread_mutex_unlock(&rx_mu);
	return rc;
}

static int rx_count(void)
{
	pthread_mutex_lock(&rx_mu);
	int n = ngot;
	pthread_mutex_unlock(&rx_mu);
	return n;
}

static void test_exporter_live(void **st)
{
	struct zt_http_cfg hc = {.listen = "127.0.0.1:20611"};
	struct zt_http_server *srv;
	struct zt_otlp_ingest in = {.emit = rx_emit};
	struct zt_otlp_exporter *e;
	struct zt_otlp_export_cfg ec = {.url = "http://127.0.0.1:20611/v1/traces", .queue_len = 8, .batch_max = 4,
					.batch_age_ns = 200000000ULL};
	struct zt_otlp_export_stats es;
	char err[256];
	struct zt_span s;

	(void)st;
	assert_int_equal(zt_http_new(&hc, &srv, err, sizeof(err)), 0);
	assert_int_equal(zt_otlp_route(srv, &in), 0);
	assert_int_equal(zt_http_start(srv, err, sizeof(err)), 0);
	assert_int_equal(zt_otlp_export_new(&ec, &e, err, sizeof(err)), 0);
	ngot = 0;
	/* the first request is refused (503: retry), the resend lands */
	rx_refuse = 4;
	char uid[17];
	for (int i = 0; i < 4; i++) {
		snprintf(uid, sizeof(uid), "%016x", 0x100 + i);
		ebpf_span(&s, uid, ZT_TAP_SERVER_PROCESS);
		assert_int_equal(zt_otlp_export_put(e, &s), 0);
	}
	for (int w = 0; w < 100 && rx_count() < 4; w++)
		usleep(50000);
	assert_int_equal(rx_count(), 4);
	assert_string_equal(got[0].span_uid, "0000000000000100");
	assert_string_equal(got[3].span_uid, "0000000000000103");
	/* the receiver took them before its answer reached the exporter */
	for (int w = 0; w < 100; w++) {
		zt_otlp_export_get_stats(e, &es);
		if (es.sent == 4)
			break;
		usleep(20000);
	}
	assert_true(es.retries >= 1);
	assert_int_equal(es.sent, 4);
	/* one span alone goes out once it is 200 ms old, not before */
	ebpf_span(&s, "0000000000000200", ZT_TAP_CLIENT_PROCESS);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	zt_otlp_export_put(e, &s);
	for (int w = 0; w < 400 && rx_count() < 5; w++)
		usleep(5000);
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_int_equal(rx_count(), 5);
	double waited = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	assert_true(waited >= 0.19);
	/* the spans of the export's own requests (the receiver traced) are not exported */
	ebpf_span(&s, "0000000000000300", ZT_TAP_SERVER_PROCESS);
	s.server_port = 20611;
	strcpy(s.request_resource, "/v1/traces");
	assert_int_equal(zt_otlp_export_put(e, &s), 0);
	zt_otlp_export_free(e, 2000, &es);
	assert_int_equal(es.self_skipped, 1);
	assert_int_equal(es.sent, 5);
	assert_int_equal(es.dropped_full + es.dropped_failed, 0);
	zt_http_free(srv);
	/* the receiver gone: the queue fills (drops counted), batches are
	 * given up after their retries, and free returns by its deadline */
	ec.max_retries = 1;
	assert_int_equal(zt_otlp_export_new(&ec, &e, err, sizeof(err)), 0);
	int refused = 0;
	ebpf_span(&s, "0000000000000400", ZT_TAP_SERVER_PROCESS);
	for (int i = 0; i < 20; i++)
		refused += zt_otlp_export_put(e, &s) == -ENOSPC;
	assert_true(refused >= 20 - 8 - 4);
	zt_otlp_export_free(e, 1500, &es);
	assert_int_equal(es.sent, 0);
	assert_int_equal(es.dropped_full, (uint64_t)refused);
	assert_int_equal(es.queued, (uint64_t)(20 - refused));
	assert_int_equal(es.dropped_failed, es.queued);
	assert_true(es.failures >= 1);
	/* a bad URL is refused up front */
	ec.url = "ftp://x/v1/traces";
	assert_int_equal(zt_otlp_export_new(&ec, &e, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "http://"));
}

/* SDK spans come seconds after ztrace's own: the call's eBPF client span
 * was thread-linked to its server span and written; the SDK client span
 * whose id its traceparent carries then becomes its parent (a late link
 * that replaces the thread link). */
static struct {
	char child[ZT_UID_LEN], parent[ZT_UID_LEN];
	uint8_t kind;
} late[4];
static int nlate;
static int j_link(void *ctx, const char *c, const char *p, uint8_t kind)
{
	(void)ctx;
	if (nlate < 4) {
		snprintf(late[nlate].child, ZT_UID_LEN, "%s", c);
		snprintf(late[nlate].parent, ZT_UID_LEN, "%s", p);
		late[nlate++].kind = kind;
	}
	return 0;
}

static void test_joiner_relinks_late_sdk_span(void **st)
{
	struct zt_joiner_cfg cfg = {.window_ns = 300000000ULL};
	struct zt_joiner_out o = {j_span, j_link, NULL, NULL};
	struct zt_joiner *j = zt_joiner_new(&cfg, &o);
	struct zt_span srv, cli, later;
	struct zt_otlp_result r;
	size_t len;
	uint8_t *buf = protoc_encode(TEXT_REQ, &len);
	char err[300];

	(void)st;
	ngot = 0;
	assert_int_equal(zt_otlp_decode_pb(buf, len, "h", emit, NULL, &r, err, sizeof(err)), 0);
	zt_span_clear(&srv);
	strcpy(srv.span_uid, "5000000000000009");
	srv.tap_side = ZT_TAP_SERVER_PROCESS;
	srv.pid = 10;
	srv.start_ns = 1700000000000000000ULL;
	srv.end_ns = srv.start_ns + 5000000;
	srv.syscall_trace_id_req = 77;
	cli = srv;
	strcpy(cli.span_uid, "c000000000000009");
	cli.tap_side = ZT_TAP_CLIENT_PROCESS;
	cli.start_ns += 1000000;
	cli.end_ns -= 1000000;
	strcpy(cli.trace_id, TID_HEX);
	strcpy(cli.span_id, CLI_HEX); /* the SDK's client span made this call */
	njout = nlate = 0;
	assert_int_equal(zt_joiner_put(j, &cli), 0);
	assert_int_equal(zt_joiner_put(j, &srv), 0);
	/* a later span moves stream time past the window: both are written */
	zt_span_clear(&later);
	strcpy(later.span_uid, "0000000000000fff");
	later.tap_side = ZT_TAP_SERVER_PROCESS;
	later.start_ns = later.end_ns = srv.end_ns + 2000000000ULL;
	assert_int_equal(zt_joiner_put(j, &later), 0);
	assert_string_equal(by_uid("c000000000000009")->parent_uid, "5000000000000009");
	assert_int_equal(by_uid("c000000000000009")->link_kind, ZT_LINK_THREAD);
	/* the SDK's spans arrive */
	assert_int_equal(zt_joiner_put(j, &got[0]), 0);
	assert_int_equal(zt_joiner_put(j, &got[1]), 0);
	assert_int_equal(zt_joiner_flush(j), 0);
	assert_int_equal(nlate, 1);
	assert_string_equal(late[0].child, "c000000000000009");
	assert_string_equal(late[0].parent, CLI_HEX);
	assert_int_equal(late[0].kind, ZT_LINK_EXPLICIT);
	assert_int_equal(zt_joiner_stats(j)->relinked, 1);
	assert_int_equal(zt_joiner_stats(j)->links[ZT_LINK_THREAD], 0);
	zt_joiner_free(j);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pb_from_protoc),    cmocka_unit_test(test_json_equals_pb),
	    cmocka_unit_test(test_json_variants),     cmocka_unit_test(test_rejects),
	    cmocka_unit_test(test_json_malformed),    cmocka_unit_test(test_pb_malformed),
	    cmocka_unit_test(test_pb_deep_attribute), cmocka_unit_test(test_http_answers),
	    cmocka_unit_test(test_pb_partial_success), cmocka_unit_test(test_joiner_links_app_spans),
	    cmocka_unit_test(test_export_encoding),   cmocka_unit_test(test_exporter_live),
	    cmocka_unit_test(test_joiner_relinks_late_sdk_span),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
