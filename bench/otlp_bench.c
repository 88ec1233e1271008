/* SPDX-License-Identifier: MIT */
/*
 * otlp_bench.c - OTLP ingest spans/s on one core: the body of POST
 * /v1/traces through zt_otlp_handle (decode, mapping, answer), and the same
 * plus the path `ztrace up` gives the spans (the joiner and the SQLite store,
 * zt_store_sink), for protobuf and OTLP/JSON bodies.
 *
 * usage: otlp_bench MODE DIR NSPANS
 *   MODE: pb | json (decode only: spans counted and dropped) or
 *         pb-sink | json-sink (decode + joiner + store in DIR, which must
 *         not hold a store yet)
 * Prints one JSON object: spans, wall and CPU seconds, spans per second of
 * each, body bytes per span.
 *
 * The requests look like an OpenTelemetry SDK's batches of HTTP server
 * and client spans: 512 spans per request, 8 resources a request
 * (service.name, host.name, process.pid, telemetry.sdk.*), one scope, each
 * span with its ids, a name, kind, times, 9 HTTP/network attributes of the
 * current semantic conventions and a status; traces of 4 spans (server,
 * two clients, a downstream server), so the joiner makes explicit links.
 * The bodies are built once before timing (protobuf-c for protobuf,
 * jansson for JSON), each request with fresh ids and times.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "server/otlp.h"
#include "store/sink.h"
#include "store/store.h"

#define PER_REQ 512
#define NRES 8
#define NATTR 9

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this process: the figure that holds on a shared, busy
 * machine (wall time there includes waiting for a CPU). */
static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct gspan {
	uint8_t tid[16], sid[8], pid[8];
	int has_parent, kind;
	uint64_t start, end;
	int code;
	char path[32], peer[16];
	int res;
};

/* The spans of request r: traces of 4 spans. */
static void gen(uint64_t r, struct gspan *g)
{
	for (int i = 0; i < PER_REQ; i++) {
		uint64_t t = r * PER_REQ + (uint64_t)(i / 4), h = mix64(t + 1);
		struct gspan *s = &g[i];
		memset(s, 0, sizeof(*s));
		for (int k = 0; k < 8; k++) {
			s->tid[k] = (uint8_t)(h >> (8 * k));
			s->tid[8 + k] = (uint8_t)(mix64(h) >> (8 * k));
		}
		uint64_t sid = mix64(h ^ (uint64_t)(i % 4 + 1)) | 1;
		for (int k = 0; k < 8; k++)
			s->sid[k] = (uint8_t)(sid >> (8 * k));
		if (i % 4) { /* 1, 2: clients of span 0; 3: server under 1 */
			uint64_t p = mix64(h ^ (uint64_t)(i % 4 == 3 ? 2 : 1)) | 1;
			for (int k = 0; k < 8; k++)
				s->pid[k] = (uint8_t)(p >> (8 * k));
			s->has_parent = 1;
		}
		s->kind = i % 4 == 0 || i % 4 == 3 ? 2 : 3;
		s->start = 1700000000000000000ull + t * 1000000ull + (uint64_t)(i % 4) * 10000;
		s->end = s->start + 500000 - (uint64_t)(i % 4) * 20000;
		s->code = h % 50 ? 200 : 503;
		snprintf(s->path, sizeof(s->path), "/api/v1/items/%u", (unsigned)(h % 1000));
		snprintf(s->peer, sizeof(s->peer), "10.0.%u.%u", (unsigned)(h >> 8) % 4, (unsigned)(h >> 16) % 250 + 1);
		s->res = (int)((h >> 24) % NRES);
	}
}

typedef Opentelemetry__Proto__Common__V1__KeyValue kv_t;
typedef Opentelemetry__Proto__Common__V1__AnyValue any_t;

static void set_str(kv_t *kv, any_t *a, const char *k, const char *v)
{
	opentelemetry__proto__common__v1__key_value__init(kv);
	opentelemetry__proto__common__v1__any_value__init(a);
	kv->key = (char *)k;
	kv->value = a;
	a->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
	a->string_value = (char *)v;
}

static void set_int(kv_t *kv, any_t *a, const char *k, int64_t v)
{
	opentelemetry__proto__common__v1__key_value__init(kv);
	opentelemetry__proto__common__v1__any_value__init(a);
	kv->key = (char *)k;
	kv->value = a;
	a->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
	a->int_value = v;
}

static const char *SERVICES[NRES] = {"checkout", "cart", "catalog", "payment", "shipping", "users", "search", "auth"};

static uint8_t *build_pb(const struct gspan *g, size_t *len)
{
	static Opentelemetry__Proto__Trace__V1__Span sp[PER_REQ], *spp[NRES][PER_REQ];
	static Opentelemetry__Proto__Trace__V1__Status st[PER_REQ];
	static kv_t kv[PER_REQ][NATTR], *kvp[PER_REQ][NATTR], rkv[NRES][5], *rkvp[NRES][5];
	static any_t any[PER_REQ][NATTR], rany[NRES][5];
	static Opentelemetry__Proto__Trace__V1__ResourceSpans rs[NRES], *rsp[NRES];
	static Opentelemetry__Proto__Resource__V1__Resource res[NRES];
	static Opentelemetry__Proto__Trace__V1__ScopeSpans ss[NRES], *ssp[NRES];
	static Opentelemetry__Proto__Common__V1__InstrumentationScope scope;
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest req =
	    OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
	size_t nin[NRES] = {0};

	opentelemetry__proto__common__v1__instrumentation_scope__init(&scope);
	scope.name = "@opentelemetry/instrumentation-http";
	scope.version = "0.223.0";
	for (int r = 0; r < NRES; r++) {
		opentelemetry__proto__trace__v1__resource_spans__init(&rs[r]);
		opentelemetry__proto__resource__v1__resource__init(&res[r]);
		opentelemetry__proto__trace__v1__scope_spans__init(&ss[r]);
		set_str(&rkv[r][0], &rany[r][0], "service.name", SERVICES[r]);
		set_str(&rkv[r][1], &rany[r][1], "host.name", "node-7");
		set_int(&rkv[r][2], &rany[r][2], "process.pid", 1000 + r);
		set_str(&rkv[r][3], &rany[r][3], "telemetry.sdk.language", "nodejs");
		set_str(&rkv[r][4], &rany[r][4], "telemetry.sdk.version", "2.12.0");
		for (int k = 0; k < 5; k++)
			rkvp[r][k] = &rkv[r][k];
		res[r].attributes = rkvp[r];
		res[r].n_attributes = 5;
		rs[r].resource = &res[r];
		ss[r].scope = &scope;
		ss[r].spans = spp[r];
		ssp[r] = &ss[r];
		rs[r].scope_spans = &ssp[r];
		rs[r].n_scope_spans = 1;
		rsp[r] = &rs[r];
	}
	for (int i = 0; i < PER_REQ; i++) {
		const struct gspan *s = &g[i];
		Opentelemetry__Proto__Trace__V1__Span *p = &sp[i];
		opentelemetry__proto__trace__v1__span__init(p);
		p->trace_id = (ProtobufCBinaryData){16, (uint8_t *)s->tid};
		p->span_id = (ProtobufCBinaryData){8, (uint8_t *)s->sid};
		if (s->has_parent)
			p->parent_span_id = (ProtobufCBinaryData){8, (uint8_t *)s->pid};
		p->name = s->kind == 2 ? "GET /api/v1/items/:id" : "GET";
		p->kind = (Opentelemetry__Proto__Trace__V1__Span__SpanKind)s->kind;
		p->start_time_unix_nano = s->start;
		p->end_time_unix_nano = s->end;
		set_str(&kv[i][0], &any[i][0], "http.request.method", "GET");
		set_str(&kv[i][1], &any[i][1], "url.path", s->path);
		set_str(&kv[i][2], &any[i][2], "url.scheme", "http");
		set_str(&kv[i][3], &any[i][3], "server.address", "catalog.internal");
		set_int(&kv[i][4], &any[i][4], "server.port", 8080);
		set_str(&kv[i][5], &any[i][5], "network.peer.address", s->peer);
		set_int(&kv[i][6], &any[i][6], "network.peer.port", 40000 + i);
		set_int(&kv[i][7], &any[i][7], "http.response.status_code", s->code);
		set_str(&kv[i][8], &any[i][8], "network.protocol.version", "1.1");
		for (int k = 0; k < NATTR; k++)
			kvp[i][k] = &kv[i][k];
		p->attributes = kvp[i];
		p->n_attributes = NATTR;
		opentelemetry__proto__trace__v1__status__init(&st[i]);
		st[i].code = s->code >= 500 ? OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR
					    : OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_UNSET;
		p->status = &st[i];
		spp[s->res][nin[s->res]++] = p;
	}
	for (int r = 0; r < NRES; r++)
		ss[r].n_spans = nin[r];
	req.resource_spans = rsp;
	req.n_resource_spans = NRES;
	*len = opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(&req);
	uint8_t *buf = malloc(*len);
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(&req, buf);
	return buf;
}

static void hexs(char *out, const uint8_t *p, int n)
{
	for (int i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

static json_t *jkv_s(const char *k, const char *v)
{
	return json_pack("{s:s,s:{s:s}}", "key", k, "value", "stringValue", v);
}

static json_t *jkv_i(const char *k, long long v)
{
	char b[24];
	snprintf(b, sizeof(b), "%lld", v);
	return json_pack("{s:s,s:{s:s}}", "key", k, "value", "intValue", b);
}

static uint8_t *build_json(const struct gspan *g, size_t *len)
{
	json_t *rss = json_array(), *spans[NRES];
	char tid[33], sid[17], pid[17], ts[24], te[24];

	for (int r = 0; r < NRES; r++) {
		json_t *attrs = json_array();
		json_array_append_new(attrs, jkv_s("service.name", SERVICES[r]));
		json_array_append_new(attrs, jkv_s("host.name", "node-7"));
		json_array_append_new(attrs, jkv_i("process.pid", 1000 + r));
		json_array_append_new(attrs, jkv_s("telemetry.sdk.language", "nodejs"));
		json_array_append_new(attrs, jkv_s("telemetry.sdk.version", "2.12.0"));
		spans[r] = json_array();
		json_array_append_new(
		    rss, json_pack("{s:{s:o},s:[{s:{s:s,s:s},s:O}]}", "resource", "attributes", attrs, "scopeSpans", "scope",
				   "name", "@opentelemetry/instrumentation-http", "version", "0.223.0", "spans", spans[r]));
		json_decref(spans[r]);
	}
	for (int i = 0; i < PER_REQ; i++) {
		const struct gspan *s = &g[i];
		json_t *attrs = json_array();
		hexs(tid, s->tid, 16);
		hexs(sid, s->sid, 8);
		pid[0] = '\0';
		if (s->has_parent)
			hexs(pid, s->pid, 8);
		snprintf(ts, sizeof(ts), "%llu", (unsigned long long)s->start);
		snprintf(te, sizeof(te), "%llu", (unsigned long long)s->end);
		json_array_append_new(attrs, jkv_s("http.request.method", "GET"));
		json_array_append_new(attrs, jkv_s("url.path", s->path));
		json_array_append_new(attrs, jkv_s("url.scheme", "http"));
		json_array_append_new(attrs, jkv_s("server.address", "catalog.internal"));
		json_array_append_new(attrs, jkv_i("server.port", 8080));
		json_array_append_new(attrs, jkv_s("network.peer.address", s->peer));
		json_array_append_new(attrs, jkv_i("network.peer.port", 40000 + i));
		json_array_append_new(attrs, jkv_i("http.response.status_code", s->code));
		json_array_append_new(attrs, jkv_s("network.protocol.version", "1.1"));
		json_array_append_new(spans[s->res],
				      json_pack("{s:s,s:s,s:s,s:s,s:i,s:s,s:s,s:o,s:{s:i}}", "traceId", tid, "spanId", sid,
						"parentSpanId", pid, "name", s->kind == 2 ? "GET /api/v1/items/:id" : "GET",
						"kind", s->kind, "startTimeUnixNano", ts, "endTimeUnixNano", te,
						"attributes", attrs, "status", "code", s->code >= 500 ? 2 : 0));
	}
	json_t *root = json_pack("{s:o}", "resourceSpans", rss);
	char *t = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	*len = strlen(t);
	return (uint8_t *)t;
}

static uint64_t dropped;
static int count_only(void *ctx, const struct zt_span *s)
{
	(void)ctx;
	dropped += s->start_ns & 1;
	return 0;
}

int main(int argc, char **argv)
{
	struct gspan *g = calloc(PER_REQ, sizeof(*g));
	struct zt_store *st = NULL;
	struct zt_store_sink *sink = NULL;
	struct zt_otlp_stats ostats = {0};
	int json, use_sink, err;

	if (argc != 4) {
		fprintf(stderr, "usage: otlp_bench pb|json|pb-sink|json-sink DIR NSPANS\n");
		return 2;
	}
	json = strncmp(argv[1], "json", 4) == 0;
	use_sink = strstr(argv[1], "-sink") != NULL;
	uint64_t nreq = (strtoull(argv[3], NULL, 10) + PER_REQ - 1) / PER_REQ;
	uint8_t **bodies = calloc(nreq, sizeof(*bodies));
	size_t *lens = calloc(nreq, sizeof(*lens)), total = 0;
	for (uint64_t r = 0; r < nreq; r++) {
		gen(r, g);
		bodies[r] = json ? build_json(g, &lens[r]) : build_pb(g, &lens[r]);
		total += lens[r];
	}
	if (use_sink) {
		struct zt_joiner_cfg jc = {0};
		if ((err = zt_store_open(argv[2], ZT_STORE_RW, &st))) {
			fprintf(stderr, "otlp_bench: cannot open the store in %s: %d\n", argv[2], err);
			return 1;
		}
		sink = zt_store_sink_new(st, &jc, NULL, NULL);
	}
	double t0 = now_s(), c0 = cpu_s();
	for (uint64_t r = 0; r < nreq; r++) {
		struct zt_otlp_reply rep;
		if (zt_otlp_handle(bodies[r], lens[r], json ? "application/json" : "application/x-protobuf", NULL, "bench",
				   use_sink ? zt_store_sink_put : count_only, use_sink ? (void *)sink : NULL, &ostats,
				   &rep) ||
		    rep.status != 200) {
			fprintf(stderr, "otlp_bench: request %llu answered %d\n", (unsigned long long)r, rep.status);
			return 1;
		}
		free(rep.body);
	}
	if (use_sink && (zt_store_sink_end(sink) || zt_store_sink_flush(sink))) {
		fprintf(stderr, "otlp_bench: flush failed: %s\n", zt_store_sink_errmsg(sink));
		return 1;
	}
	double secs = now_s() - t0, cpu = cpu_s() - c0;
	uint64_t n = ostats.spans_accepted, explicit_links = 0, written = n;
	if (use_sink) {
		explicit_links = zt_store_sink_joiner_stats(sink)->links[ZT_LINK_EXPLICIT];
		written = st->spans_written;
	}
	printf("{\"mode\": \"%s\", \"spans\": %llu, \"rejected\": %llu, \"written\": %llu, \"explicit_links\": %llu, "
	       "\"seconds\": %.6f, \"spans_per_s\": %.1f, \"cpu_seconds\": %.6f, \"spans_per_cpu_s\": %.1f, "
	       "\"body_bytes_per_span\": %.1f}\n",
	       argv[1], (unsigned long long)n, (unsigned long long)ostats.spans_rejected, (unsigned long long)written,
	       (unsigned long long)explicit_links, secs, (double)n / secs, cpu, (double)n / cpu,
	       (double)total / (double)(nreq * PER_REQ));
	zt_store_sink_free(sink);
	if (st)
		st->ops->close(st);
	for (uint64_t r = 0; r < nreq; r++)
		free(bodies[r]);
	free(bodies);
	free(lens);
	free(g);
	return 0;
}
