/* SPDX-License-Identifier: MIT */
/* OTLP in trace assembly and export: SDK spans joining eBPF spans of the
 * same traceparent in the joiner (explicit parents, and an SDK id replacing
 * an inferred thread link after the fact); eBPF and app spans encoded as
 * ExportTraceServiceRequest and read back with protobuf-c and our own
 * ingest; the exporter against a live OTLP/HTTP receiver (batches by size
 * and age, 503 retried, drops when the queue is full or the receiver gone,
 * its own requests not exported). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <time.h>

#include "otlp_fixtures.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "server/http.h"
#include "server/otlp_export.h"
#include "server/otlp_route.h"
#include "trace/joiner.h"

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
	struct zt_joiner_out o = {j_span, NULL, NULL, NULL, NULL};
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
	struct zt_joiner_out o = {j_span, j_link, NULL, NULL, NULL};
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
	    cmocka_unit_test(test_joiner_links_app_spans),
	    cmocka_unit_test(test_export_encoding),
	    cmocka_unit_test(test_exporter_live),
	    cmocka_unit_test(test_joiner_relinks_late_sdk_span),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
