/* SPDX-License-Identifier: MIT */
/*
 * fuzz_http_query.c - libFuzzer target for what the HTTP API decodes from
 * outside: byte 0 picks the decoder, the rest is its input.
 *   0: a query string through the HTTP core (server/http.h): split and
 *      percent-decode, then every typed getter and the unknown-name check
 *      on the names the API uses; an answer, when one is given, is JSON
 *      with an "error" text.
 *   1: Jaeger's Go-duration parameters (minDuration, lookback).
 *   2: a span object as /api/v1 sends it (what `--server` decodes):
 *      decode, encode, decode again: the two encodings must be equal.
 *   3: a trace summary object, likewise.
 * Seeds in tests/data/fuzz/http_query/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "model/span_json.h"
#include "server/api_int.h"
#include "server/http.h"
#include "store/trace_json.h"

static void check_answer(struct zt_http_req *req)
{
	json_t *o;

	if (!zt_http_test_status(req))
		return;
	if (zt_http_test_status(req) != 400)
		abort();
	o = json_loads(zt_http_test_body(req), 0, NULL);
	if (!o || !json_is_string(json_object_get(o, "error")))
		abort();
	json_decref(o);
}

static void fuzz_query(const char *qs)
{
	static const char *const names[] = {"since", "limit", "errors", "status", "path", "x", NULL};
	static const char *const enums[] = {"ok", "client_error", NULL};
	struct zt_http_req *req = zt_http_test_req("GET", "/api/v1/spans", qs);
	uint64_t u = 0;
	bool b = false;
	int e = 0;
	const char *s = NULL;

	if (!req)
		return;
	for (int i = 0; i < 6; i++) {
		struct zt_http_req *r = zt_http_test_req("GET", "/api/v1/spans", qs);
		if (!r)
			break;
		switch (i) {
		case 0:
			zt_http_param_duration(r, "since", &u);
			break;
		case 1:
			zt_http_param_u64(r, "limit", 1, 10000, &u);
			break;
		case 2:
			zt_http_param_bool(r, "errors", &b);
			break;
		case 3:
			zt_http_param_enum(r, "status", enums, &e);
			break;
		case 4:
			if (!zt_http_param_str(r, "path", 64, &s) && s && (strlen(s) > 64 || !*s))
				abort();
			break;
		default:
			zt_http_params_only(r, names);
			break;
		}
		check_answer(r);
		zt_http_test_free(r);
	}
	for (unsigned i = 0; i < zt_http_query_count(req); i++)
		if (!zt_http_query_key(req, i)[0])
			abort(); /* empty names are refused */
	zt_http_test_free(req);
}

static void fuzz_span(const uint8_t *d, size_t n)
{
	json_t *o = json_loadb((const char *)d, n, JSON_DECODE_ANY, NULL), *j1 = NULL, *j2 = NULL;
	struct zt_span *s = malloc(sizeof(*s)), *s2 = malloc(sizeof(*s2));
	char err[256];

	if (o && s && s2 && !zt_span_from_json(o, s, err, sizeof(err))) {
		j1 = zt_span_to_json(s);
		if (!j1 || zt_span_from_json(j1, s2, err, sizeof(err)))
			abort(); /* what we encode, we decode */
		j2 = zt_span_to_json(s2);
		if (!j2 || !json_equal(j1, j2))
			abort();
	}
	json_decref(o);
	json_decref(j1);
	json_decref(j2);
	free(s);
	free(s2);
}

static void fuzz_summary(const uint8_t *d, size_t n)
{
	json_t *o = json_loadb((const char *)d, n, JSON_DECODE_ANY, NULL), *j1 = NULL, *j2 = NULL;
	struct zt_trace_summary t, t2;
	char err[256];

	if (o && !zt_trace_summary_from_json(o, &t, err, sizeof(err))) {
		j1 = zt_trace_summary_to_json(&t);
		if (!j1 || zt_trace_summary_from_json(j1, &t2, err, sizeof(err)))
			abort();
		j2 = zt_trace_summary_to_json(&t2);
		if (!j2 || !json_equal(j1, j2))
			abort();
	}
	json_decref(o);
	json_decref(j1);
	json_decref(j2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;
	uint64_t ns;

	if (size < 1 || size > 65536)
		return 0;
	text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0'; /* the text stops at a NUL, as a C string does */
	switch (data[0] % 4) {
	case 0:
		fuzz_query(text);
		break;
	case 1:
		zt_jaeger_parse_duration(text, &ns);
		break;
	case 2:
		fuzz_span(data + 1, size - 1);
		break;
	default:
		fuzz_summary(data + 1, size - 1);
		break;
	}
	free(text);
	return 0;
}
