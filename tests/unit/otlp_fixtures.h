/* SPDX-License-Identifier: MIT */
/* otlp_fixtures.h - what test_otlp.c and test_otlp_export.c share: an
 * OTLP request as a text proto (encoded by protoc at test time, independent
 * of our code) and in OTLP/JSON, its ids, and a span collector. */
#ifndef ZT_TEST_OTLP_FIXTURES_H
#define ZT_TEST_OTLP_FIXTURES_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/span_json.h"
#include "server/otlp.h"

#define UNUSED __attribute__((unused))
#define MAXSP 64
static struct zt_span got[MAXSP] UNUSED;
static int ngot UNUSED;
static int refuse UNUSED; /* emit refuses spans (a full queue) */

static UNUSED int emit(void *ctx, const struct zt_span *s)
{
	(void)ctx;
	if (refuse)
		return -ENOSPC;
	if (ngot < MAXSP)
		got[ngot++] = *s;
	return 0;
}

/* Runs protoc --encode on a text proto; returns the bytes (malloc'd). */
static UNUSED uint8_t *protoc_encode(const char *text, size_t *len)
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
static const char *TEXT_REQ UNUSED =
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

static const char *JSON_REQ UNUSED =
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

static UNUSED char *json_of(const struct zt_span *s)
{
	json_t *o = zt_span_to_json(s);
	char *t = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(o);
	assert_non_null(t);
	return t;
}

#endif /* ZT_TEST_OTLP_FIXTURES_H */
