/* SPDX-License-Identifier: MIT */
/*
 * test_http_server.c - the HTTP core (server/http.h) on a real socket
 * (127.0.0.1, an ephemeral port) driven by libcurl: a registered route
 * with a path parameter is served; unknown path 404, wrong method 405 with
 * Allow; a bad parameter 400 naming it; POST bodies plain and gzip; an
 * oversized body 413 (by Content-Length and by a chunked body); a
 * truncated/garbage gzip body 400; the bearer token; a non-loopback
 * address refused without a token file; a port in use named as such.
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
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <zlib.h>

#include "server/http.h"

struct buf {
	char *p;
	size_t n;
};

static size_t on_data(char *d, size_t sz, size_t nm, void *ctx)
{
	struct buf *b = ctx;
	char *np = realloc(b->p, b->n + sz * nm + 1);

	if (!np)
		return 0;
	memcpy(np + b->n, d, sz * nm);
	b->p = np;
	b->n += sz * nm;
	b->p[b->n] = '\0';
	return sz * nm;
}

/* One request; returns the status, the body in *out (caller frees). */
static long request(const char *method, const char *url, const char *const *headers, const void *body,
		    size_t blen, char **out)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hl = NULL;
	struct buf b = {0};
	long status = 0;

	for (size_t i = 0; headers && headers[i]; i++)
		hl = curl_slist_append(hl, headers[i]);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
	}
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	if (out)
		*out = b.p ? b.p : strdup("");
	else
		free(b.p);
	return status;
}

static int h_item(void *ctx, struct zt_http_req *req)
{
	uint64_t n = 1;

	(void)ctx;
	if (zt_http_param_u64(req, "n", 1, 100, &n))
		return 0;
	return zt_http_reply_json(req, 200,
				  json_pack("{s:s, s:I}", "id", zt_http_path_param(req, "id"), "n", (json_int_t)n));
}

static int h_echo(void *ctx, struct zt_http_req *req)
{
	size_t len;
	const uint8_t *b = zt_http_body(req, &len);

	(void)ctx;
	return zt_http_reply_raw(req, 200, "application/octet-stream", b ? (const void *)b : "", len);
}

static struct zt_http_server *start(const char *token_file, char *base, size_t basesz)
{
	struct zt_http_cfg cfg = {.listen = "127.0.0.1:0", .token_file = token_file, .max_body = 4096};
	struct zt_http_server *srv;
	char err[256];

	assert_int_equal(zt_http_new(&cfg, &srv, err, sizeof(err)), 0);
	assert_int_equal(zt_http_route(srv, "GET", "/api/items/{id}", h_item, NULL), 0);
	assert_int_equal(zt_http_route(srv, "POST", "/echo", h_echo, NULL), 0);
	assert_int_equal(zt_http_route(srv, "POST", "/echo", h_echo, NULL), -17); /* EEXIST */
	assert_int_equal(zt_http_start(srv, err, sizeof(err)), 0);
	snprintf(base, basesz, "http://%s", zt_http_address(srv));
	return srv;
}

static void test_routes(void **state)
{
	char base[128], url[256], *out;
	struct zt_http_server *srv = start(NULL, base, sizeof(base));
	json_t *o;

	(void)state;
	snprintf(url, sizeof(url), "%s/api/items/a%%20b?n=7", base);
	assert_int_equal(request("GET", url, NULL, NULL, 0, &out), 200);
	o = json_loads(out, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(o, "id")), "a b");
	assert_int_equal(json_integer_value(json_object_get(o, "n")), 7);
	json_decref(o);
	free(out);

	snprintf(url, sizeof(url), "%s/api/items/x?n=700", base);
	assert_int_equal(request("GET", url, NULL, NULL, 0, &out), 400);
	assert_non_null(strstr(out, "\"param\":\"n\""));
	free(out);

	snprintf(url, sizeof(url), "%s/api/nothing", base);
	assert_int_equal(request("GET", url, NULL, NULL, 0, &out), 404);
	assert_non_null(strstr(out, "\"error\""));
	free(out);

	snprintf(url, sizeof(url), "%s/api/items/x", base);
	assert_int_equal(request("DELETE", url, NULL, NULL, 0, &out), 405);
	free(out);
	snprintf(url, sizeof(url), "%s/echo", base);
	assert_int_equal(request("GET", url, NULL, NULL, 0, &out), 405);
	free(out);
	snprintf(url, sizeof(url), "%s/api/items/x?n=%%zz", base);
	assert_int_equal(request("GET", url, NULL, NULL, 0, &out), 400);
	free(out);
	zt_http_free(srv);
}

static void test_bodies(void **state)
{
	char base[128], url[256], *out;
	struct zt_http_server *srv = start(NULL, base, sizeof(base));
	static const char *const gz[] = {"Content-Encoding: gzip", NULL};
	static const char *const chunked[] = {"Transfer-Encoding: chunked", NULL};
	static const char *const br[] = {"Content-Encoding: br", NULL};
	char big[8192], packed[9000];
	uLongf plen = sizeof(packed);
	z_stream z = {0};

	(void)state;
	snprintf(url, sizeof(url), "%s/echo", base);
	assert_int_equal(request("POST", url, NULL, "hello", 5, &out), 200);
	assert_string_equal(out, "hello");
	free(out);

	/* gzip: inflated for the handler */
	memset(big, 'a', 3000);
	deflateInit2(&z, 6, Z_DEFLATED, MAX_WBITS + 16, 8, Z_DEFAULT_STRATEGY);
	z.next_in = (Bytef *)big;
	z.avail_in = 3000;
	z.next_out = (Bytef *)packed;
	z.avail_out = sizeof(packed);
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	plen = z.total_out;
	deflateEnd(&z);
	assert_int_equal(request("POST", url, gz, packed, plen, &out), 200);
	assert_int_equal(strlen(out), 3000);
	free(out);
	/* truncated gzip, garbage gzip: 400 */
	assert_int_equal(request("POST", url, gz, packed, plen / 2, &out), 400);
	free(out);
	assert_int_equal(request("POST", url, gz, "garbage!", 8, &out), 400);
	free(out);
	/* a gzip bomb past max_body once inflated: 413 */
	memset(big, 'b', sizeof(big));
	memset(&z, 0, sizeof(z));
	deflateInit2(&z, 9, Z_DEFLATED, MAX_WBITS + 16, 8, Z_DEFAULT_STRATEGY);
	z.next_in = (Bytef *)big;
	z.avail_in = sizeof(big);
	z.next_out = (Bytef *)packed;
	z.avail_out = sizeof(packed);
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	plen = z.total_out;
	deflateEnd(&z);
	assert_int_equal(request("POST", url, gz, packed, plen, &out), 413);
	free(out);
	/* too big by Content-Length, and chunked (no length given) */
	assert_int_equal(request("POST", url, NULL, big, sizeof(big), &out), 413);
	free(out);
	assert_int_equal(request("POST", url, chunked, big, sizeof(big), &out), 413);
	free(out);
	assert_int_equal(request("POST", url, br, "x", 1, &out), 415);
	free(out);
	/* the server still answers */
	assert_int_equal(request("POST", url, NULL, "ok", 2, &out), 200);
	free(out);
	zt_http_free(srv);
}

static void test_token(void **state)
{
	char base[128], url[256], *out, tf[] = "/tmp/zt_http_tokenXXXXXX", err[256];
	int fd = mkstemp(tf);
	struct zt_http_server *srv;
	struct zt_http_cfg cfg = {.listen = "0.0.0.0:0"};
	static const char *const good[] = {"Authorization: Bearer s3cret-token-1", NULL};
	static const char *const bad[] = {"Authorization: Bearer s3cret-token-2", NULL};
	static const char *const shortt[] = {"Authorization: Bearer s3cret", NULL};
	static const char *const longt[] = {"Authorization: Bearer s3cret-token-1x", NULL};

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "s3cret-token-1\n", 15), 15);
	close(fd);
	/* not loopback and no token: refused */
	assert_int_equal(zt_http_new(&cfg, &srv, err, sizeof(err)), -22);
	assert_non_null(strstr(err, "--token-file"));

	srv = start(tf, base, sizeof(base));
	snprintf(url, sizeof(url), "%s/api/items/x", base);
	assert_int_equal(request("GET", url, NULL, NULL, 0, &out), 401);
	free(out);
	assert_int_equal(request("GET", url, bad, NULL, 0, &out), 401);
	free(out);
	assert_int_equal(request("GET", url, shortt, NULL, 0, &out), 401);
	free(out);
	assert_int_equal(request("GET", url, longt, NULL, 0, &out), 401);
	free(out);
	assert_int_equal(request("GET", url, good, NULL, 0, &out), 200);
	free(out);
	zt_http_free(srv);
	unlink(tf);
}

static void test_port_in_use(void **state)
{
	char base[128], err[256];
	struct zt_http_server *a = start(NULL, base, sizeof(base)), *b;
	struct zt_http_cfg cfg = {.listen = base + strlen("http://")};

	(void)state;
	assert_int_equal(zt_http_new(&cfg, &b, err, sizeof(err)), 0);
	assert_int_not_equal(zt_http_start(b, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "in use"));
	zt_http_free(b);
	zt_http_free(a);
	cfg.listen = "127.0.0.1";
	assert_int_equal(zt_http_new(&cfg, &b, err, sizeof(err)), -22);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_routes),
	    cmocka_unit_test(test_bodies),
	    cmocka_unit_test(test_token),
	    cmocka_unit_test(test_port_in_use),
	};
	curl_global_init(CURL_GLOBAL_ALL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
