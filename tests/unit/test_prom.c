/* SPDX-License-Identifier: MIT */
/* Prometheus text exposition (server/prom.h) and the RED routes
 * (server/red_api.h) on test requests: families with HELP and TYPE before
 * their samples, cumulative buckets ending in +Inf == _count, label
 * escaping and UTF-8 repair, self counters; /api/v1/map and
 * /api/v1/metrics/red against a real SQLite store, bad parameters. The
 * e2e test (red.sh) runs promtool on a live /metrics. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/prom.h"
#include "server/red_api.h"
#include "store/sink.h"
#include "store/store.h"

#define MS 1000000ULL

static struct zt_span sp(const char *uid, uint8_t side, const char *proc, const char *ep, uint64_t start_ns,
			 uint64_t dur_ns, uint8_t status)
{
	struct zt_span s;

	zt_span_clear(&s);
	snprintf(s.span_uid, sizeof(s.span_uid), "%s", uid);
	snprintf(s.process, sizeof(s.process), "%s", proc);
	snprintf(s.endpoint, sizeof(s.endpoint), "%s", ep);
	snprintf(s.host, sizeof(s.host), "h1");
	s.tap_side = side;
	s.pid = 7;
	s.l7_protocol = ZT_L7_HTTP1;
	s.start_ns = start_ns;
	s.duration_ns = dur_ns;
	s.end_ns = start_ns + dur_ns;
	s.response_status = status;
	s.server_port = 80;
	return s;
}

/* Every sample's family was announced (HELP then TYPE) before it. */
static void assert_families_announced(const char *text)
{
	char fam[256] = "";
	const char *line = text;

	while (*line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char name[256];
		size_t n = strcspn(line, "{ ");
		assert_true(end != NULL); /* the text ends with a newline */
		if (!strncmp(line, "# TYPE ", 7)) {
			size_t k = strcspn(line + 7, " ");
			snprintf(fam, sizeof(fam), "%.*s", (int)k, line + 7);
		} else if (line[0] != '#') {
			snprintf(name, sizeof(name), "%.*s", (int)n, line);
			assert_true(fam[0]);
			assert_true(strncmp(name, fam, strlen(fam)) == 0);
		}
		line += len + 1;
	}
}

static void test_render(void **state)
{
	struct zt_rollup *r = zt_rollup_new(&(struct zt_rollup_cfg){0});
	struct zt_prom_counter self[] = {{"kernel_ring_full", "Records lost.", 3}};
	struct zt_sbuf b = {0};
	uint64_t t = 1800000000000000000ULL;
	struct zt_span s;

	(void)state;
	s = sp("a", ZT_TAP_SERVER_PROCESS, "api", "GET /a", t, 2 * MS, ZT_RS_OK);
	zt_rollup_span(r, &s);
	s = sp("b", ZT_TAP_SERVER_PROCESS, "api", "GET /a", t, 40 * MS, ZT_RS_SERVER_ERROR);
	zt_rollup_span(r, &s);
	s = sp("c", ZT_TAP_SERVER_PROCESS, "api", "GET /\"q\"\\\n\xff", t, 100 * 1000 * MS,
	       ZT_RS_CLIENT_ERROR);
	zt_rollup_span(r, &s);
	assert_int_equal(zt_prom_render(&b, r, self, 1), 0);
	assert_non_null(b.p);
	b.p[b.n] = '\0';
	assert_families_announced(b.p);
	assert_non_null(strstr(b.p, "# TYPE ztrace_service_duration_seconds histogram\n"));
	assert_non_null(strstr(b.p, "ztrace_service_requests_total{service=\"api\",protocol=\"HTTP\"} 3\n"));
	assert_non_null(strstr(
	    b.p,
	    "ztrace_service_errors_total{service=\"api\",protocol=\"HTTP\",class=\"server_error\"} 1\n"));
	/* cumulative buckets: 2 ms in le=0.0025, 40 ms from le=0.05 on, 100 s only in +Inf */
	assert_non_null(strstr(
	    b.p,
	    "ztrace_service_duration_seconds_bucket{service=\"api\",protocol=\"HTTP\",le=\"0.001\"} 0\n"));
	assert_non_null(strstr(
	    b.p,
	    "ztrace_service_duration_seconds_bucket{service=\"api\",protocol=\"HTTP\",le=\"0.0025\"} 1\n"));
	assert_non_null(strstr(
	    b.p,
	    "ztrace_service_duration_seconds_bucket{service=\"api\",protocol=\"HTTP\",le=\"0.05\"} 2\n"));
	assert_non_null(strstr(
	    b.p, "ztrace_service_duration_seconds_bucket{service=\"api\",protocol=\"HTTP\",le=\"60\"} 2\n"));
	assert_non_null(strstr(
	    b.p,
	    "ztrace_service_duration_seconds_bucket{service=\"api\",protocol=\"HTTP\",le=\"+Inf\"} 3\n"));
	assert_non_null(
	    strstr(b.p, "ztrace_service_duration_seconds_count{service=\"api\",protocol=\"HTTP\"} 3\n"));
	assert_non_null(strstr(
	    b.p, "ztrace_service_duration_seconds_sum{service=\"api\",protocol=\"HTTP\"} 100.042000000\n"));
	/* escaping: quote, backslash, newline; an invalid byte becomes '?' */
	assert_non_null(strstr(b.p, "endpoint=\"GET /\\\"q\\\"\\\\\\n?\"}"));
	assert_non_null(
	    strstr(b.p, "# TYPE ztrace_kernel_ring_full_total counter\nztrace_kernel_ring_full_total 3\n"));
	zt_sbuf_free(&b);
	zt_rollup_free(r);
}

static void test_escape_utf8(void **state)
{
	struct zt_sbuf b = {0};

	(void)state;
	zt_prom_escape(&b, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80|\xc3|\xed\xa0\x80|\xc0\xaf");
	b.p[b.n] = '\0';
	/* valid 2-, 3-, 4-byte sequences kept; a cut one, a surrogate, an overlong: '?' per byte */
	assert_string_equal(b.p, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80|?|???|??");
	zt_sbuf_free(&b);
}

/* ---- the routes on a real store ---- */

static char dir[] = "/tmp/zt-prom-XXXXXX";

static size_t self_cb(void *ctx, struct zt_prom_counter *out, size_t cap)
{
	(void)ctx;
	if (cap < 1)
		return 0;
	out[0] = (struct zt_prom_counter){"pipeline_queue_full", "Spans dropped.", 9};
	return 1;
}

static json_t *call(zt_http_handler fn, struct zt_red_api *api, const char *path, const char *query,
		    unsigned *status)
{
	struct zt_http_req *req = zt_http_test_req("GET", path, query);
	json_t *j;

	assert_non_null(req);
	assert_int_equal(fn(api, req), 0);
	*status = zt_http_test_status(req);
	j = json_loads(zt_http_test_body(req), 0, NULL);
	zt_http_test_free(req);
	return j;
}

static void test_routes(void **state)
{
	struct zt_store *st = NULL;
	struct zt_store_sink *k;
	struct zt_red_api api = {.store_url = dir, .self = self_cb};
	struct timespec ts;
	uint64_t now;
	unsigned status;
	json_t *j, *e;
	struct zt_span c, s;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(zt_store_open(dir, ZT_STORE_RW, &st), 0);
	k = zt_store_sink_new(st, &(struct zt_joiner_cfg){0}, NULL, NULL);
	assert_non_null(k);
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ULL - 5000000000ULL;
	for (int i = 0; i < 4; i++) {
		char uid[16];
		snprintf(uid, sizeof(uid), "c%d", i);
		c = sp(uid, ZT_TAP_CLIENT_PROCESS, "web", "GET /u", now + (uint64_t)i * MS, 5 * MS,
		       i == 3 ? ZT_RS_SERVER_ERROR : ZT_RS_OK);
		snprintf(uid, sizeof(uid), "s%d", i);
		s = sp(uid, ZT_TAP_SERVER_PROCESS, "users", "GET /u", now + (uint64_t)i * MS + MS, 3 * MS,
		       c.response_status);
		/* the joiner links them: equal TCP sequence numbers */
		c.flags = s.flags = ZT_SPAN_HAS_SEQ | ZT_SPAN_HAS_RESP_SEQ;
		c.req_tcp_seq = s.req_tcp_seq = 1000 + (uint32_t)i;
		c.resp_tcp_seq = s.resp_tcp_seq = 5000 + (uint32_t)i;
		assert_int_equal(zt_store_sink_put(k, &c), 0);
		assert_int_equal(zt_store_sink_put(k, &s), 0);
	}
	assert_int_equal(zt_store_sink_end(k), 0);
	assert_int_equal(zt_store_sink_flush(k), 0);
	api.roll = zt_store_sink_rollup(k);

	j = call(zt_red_api_map, &api, "/api/v1/map", "since=1h", &status);
	assert_int_equal(status, 200);
	assert_int_equal(json_array_size(json_object_get(j, "nodes")), 2);
	e = json_array_get(json_object_get(j, "edges"), 0);
	assert_non_null(e);
	assert_string_equal(json_string_value(json_object_get(e, "client")), "web");
	assert_string_equal(json_string_value(json_object_get(e, "server")), "users");
	assert_int_equal(json_integer_value(json_object_get(e, "requests")), 4);
	assert_int_equal(json_integer_value(json_object_get(e, "errors")), 1);
	assert_true(json_number_value(json_object_get(e, "p50_ms")) > 4.8);
	assert_true(json_number_value(json_object_get(e, "p50_ms")) < 5.2);
	json_decref(j);

	j = call(zt_red_api_red, &api, "/api/v1/metrics/red", "endpoint=GET%20/u&since=1h", &status);
	assert_int_equal(status, 200);
	assert_string_equal(json_string_value(json_object_get(j, "kind")), "endpoint");
	e = json_array_get(json_object_get(json_array_get(json_object_get(j, "series"), 0), "points"), 0);
	assert_int_equal(json_integer_value(json_object_get(e, "requests")), 4);
	json_decref(j);

	/* drill-down to a pid that is not there: nothing */
	j = call(zt_red_api_red, &api, "/api/v1/metrics/red", "service=users&pid=8&since=1h", &status);
	assert_int_equal(status, 200);
	assert_int_equal(json_array_size(json_object_get(j, "series")), 0);
	json_decref(j);

	{
		const struct {
			const char *q, *param;
		} bad[] = {{"since=yesterday", "since"},
			   {"step=1s", "step"},
			   {"pid=0", "pid"},
			   {"kind=node", "kind"},
			   {"edge=nope", "edge"},
			   {"protocol=gopher", "protocol"},
			   {"kind=service&endpoint=x", "endpoint"},
			   {"by=moon", "by"},
			   {"x=1", NULL}};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			j = call(zt_red_api_red, &api, "/api/v1/metrics/red", bad[i].q, &status);
			assert_int_equal(status, 400);
			if (bad[i].param)
				assert_string_equal(json_string_value(json_object_get(j, "param")),
						    bad[i].param);
			json_decref(j);
		}
	}

	{
		struct zt_http_req *req = zt_http_test_req("GET", "/metrics", NULL);
		assert_int_equal(zt_red_api_metrics(&api, req), 0);
		assert_int_equal(zt_http_test_status(req), 200);
		assert_non_null(strstr(
		    zt_http_test_body(req),
		    "ztrace_edge_requests_total{client=\"web\",server=\"users\",protocol=\"HTTP\"} 4\n"));
		assert_non_null(strstr(zt_http_test_body(req), "ztrace_pipeline_queue_full_total 9\n"));
		zt_http_test_free(req);
	}
	zt_store_sink_free(k);
	st->ops->close(st);
	/* no store at all: a 404 naming it, not a crash */
	{
		struct zt_red_api none = {.store_url = "/nonexistent/zt-none"};
		j = call(zt_red_api_map, &none, "/api/v1/map", NULL, &status);
		assert_int_equal(status, 404);
		json_decref(j);
	}
	{
		char cmd[64];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		assert_int_equal(system(cmd), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_render),
	    cmocka_unit_test(test_escape_utf8),
	    cmocka_unit_test(test_routes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
