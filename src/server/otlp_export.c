/* SPDX-License-Identifier: MIT */
/*
 * otlp_export.c - the exporter: a bounded span queue, one thread that
 * batches, encodes (otlp_encode.c) and POSTs with libcurl (one easy handle:
 * keep-alive), with retries and back-off. See otlp_export.h.
 */
#include "server/otlp_export.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "util/num.h"

#define BACKOFF0_NS 500000000ULL
#define RESP_MAX 65536

struct zt_otlp_exporter {
	struct zt_otlp_export_cfg cfg;
	char url[1024];
	char path[256];    /* the URL's path: its requests are not exported */
	uint16_t port;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thr;
	bool started, stopping;
	uint64_t stop_deadline; /* monotonic ns: give up sending after it */
	/* queue: [head, head + count) mod cap, with each span's arrival */
	struct zt_span *q;
	uint64_t *at;
	uint32_t cap, head, count;
	struct zt_span *batch; /* the thread's own copy of a batch */
	struct zt_otlp_export_stats st;
	CURL *curl;
	char resp[RESP_MAX];
	size_t resp_len;
};

static size_t on_body(char *p, size_t sz, size_t nm, void *ctx)
{
	struct zt_otlp_exporter *e = ctx;
	size_t n = sz * nm, room = RESP_MAX - e->resp_len;

	memcpy(e->resp + e->resp_len, p, n < room ? n : room);
	e->resp_len += n < room ? n : room;
	return n;
}

static void set_error(struct zt_otlp_exporter *e, const char *what, long code)
{
	pthread_mutex_lock(&e->mu);
	snprintf(e->st.last_error, sizeof(e->st.last_error), "%s %ld", what, code);
	pthread_mutex_unlock(&e->mu);
}

/* One POST. 0: delivered; -EAGAIN: retry; -EINVAL: give up. */
static int post(struct zt_otlp_exporter *e, const uint8_t *body, size_t len, uint64_t *rejected)
{
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
	long code = 0;
	CURLcode cr;

	*rejected = 0;
	e->resp_len = 0;
	curl_easy_setopt(e->curl, CURLOPT_URL, e->url);
	curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, e);
	curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, (long)e->cfg.timeout_ms);
	curl_easy_setopt(e->curl, CURLOPT_NOSIGNAL, 1L);
	cr = curl_easy_perform(e->curl);
	curl_slist_free_all(h);
	__atomic_fetch_add(&e->st.requests, 1, __ATOMIC_RELAXED);
	if (cr != CURLE_OK) {
		set_error(e, curl_easy_strerror(cr), (long)cr);
		return -EAGAIN;
	}
	curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &code);
	if (code >= 200 && code < 300) {
		Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse *r =
		    opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(
			NULL, e->resp_len, (const uint8_t *)e->resp);
		if (r && r->partial_success && r->partial_success->rejected_spans > 0)
			*rejected = (uint64_t)r->partial_success->rejected_spans;
		if (r)
			opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(r, NULL);
		return 0;
	}
	set_error(e, "the receiver answered HTTP", code);
	/* OTLP/HTTP: these are the retryable answers */
	if (code == 429 || code == 502 || code == 503 || code == 504)
		return -EAGAIN;
	return -EINVAL;
}

/* Sleeps ns unless stopping passes its deadline first; false when the
 * exporter must give up. */
static bool backoff_wait(struct zt_otlp_exporter *e, uint64_t ns)
{
	struct timespec ts;
	uint64_t until = zt_clock_ns(CLOCK_MONOTONIC) + ns;
	bool go_on = true;

	pthread_mutex_lock(&e->mu);
	while (zt_clock_ns(CLOCK_MONOTONIC) < until) {
		if (e->stopping && zt_clock_ns(CLOCK_MONOTONIC) + ns / 2 >= e->stop_deadline) {
			go_on = false;
			break;
		}
		uint64_t now = zt_clock_ns(CLOCK_REALTIME) + 50000000ULL;
		ts.tv_sec = (time_t)(now / 1000000000ULL);
		ts.tv_nsec = (long)(now % 1000000000ULL);
		pthread_cond_timedwait(&e->cv, &e->mu, &ts);
	}
	pthread_mutex_unlock(&e->mu);
	return go_on;
}

static void send_batch(struct zt_otlp_exporter *e, uint32_t n)
{
	uint8_t *body;
	size_t len;
	uint64_t rejected, wait = BACKOFF0_NS;

	if (zt_otlp_encode(e->batch, n, &body, &len)) {
		__atomic_fetch_add(&e->st.dropped_failed, n, __ATOMIC_RELAXED);
		return;
	}
	for (uint32_t attempt = 0;; attempt++) {
		int rc = post(e, body, len, &rejected);
		if (rc == 0) {
			__atomic_fetch_add(&e->st.sent, n - (rejected < n ? rejected : n), __ATOMIC_RELAXED);
			__atomic_fetch_add(&e->st.rejected, rejected, __ATOMIC_RELAXED);
			break;
		}
		__atomic_fetch_add(&e->st.failures, 1, __ATOMIC_RELAXED);
		if (rc != -EAGAIN || attempt >= e->cfg.max_retries || !backoff_wait(e, wait)) {
			__atomic_fetch_add(&e->st.dropped_failed, n, __ATOMIC_RELAXED);
			break;
		}
		__atomic_fetch_add(&e->st.retries, 1, __ATOMIC_RELAXED);
		wait *= 2;
	}
	free(body);
}

static void *export_main(void *arg)
{
	struct zt_otlp_exporter *e = arg;

	pthread_mutex_lock(&e->mu);
	for (;;) {
		uint64_t now = zt_clock_ns(CLOCK_MONOTONIC);
		bool due = e->count >= e->cfg.batch_max || (e->count && now - e->at[e->head] >= e->cfg.batch_age_ns) ||
			   (e->stopping && e->count);
		if (!due) {
			if (e->stopping)
				break;
			struct timespec ts;
			uint64_t t = zt_clock_ns(CLOCK_REALTIME) + 50000000ULL;
			ts.tv_sec = (time_t)(t / 1000000000ULL);
			ts.tv_nsec = (long)(t % 1000000000ULL);
			pthread_cond_timedwait(&e->cv, &e->mu, &ts);
			continue;
		}
		if (e->stopping && now >= e->stop_deadline) {
			/* out of time: what is left is dropped, counted */
			__atomic_fetch_add(&e->st.dropped_failed, e->count, __ATOMIC_RELAXED);
			e->count = 0;
			break;
		}
		uint32_t n = e->count < e->cfg.batch_max ? e->count : e->cfg.batch_max;
		for (uint32_t i = 0; i < n; i++)
			e->batch[i] = e->q[(e->head + i) % e->cap];
		e->head = (e->head + n) % e->cap;
		e->count -= n;
		pthread_mutex_unlock(&e->mu);
		send_batch(e, n);
		pthread_mutex_lock(&e->mu);
	}
	pthread_mutex_unlock(&e->mu);
	return NULL;
}

int zt_otlp_export_new(const struct zt_otlp_export_cfg *cfg, struct zt_otlp_exporter **out, char *err, size_t errsz)
{
	struct zt_otlp_exporter *e;

	*out = NULL;
	if (!cfg->url || (strncasecmp(cfg->url, "http://", 7) != 0 && strncasecmp(cfg->url, "https://", 8) != 0) ||
	    strlen(cfg->url) < 10 || strlen(cfg->url) >= sizeof(e->url)) {
		snprintf(err, errsz, "invalid OTLP export URL '%s': expected http://HOST:PORT/v1/traces (or https://)",
			 cfg->url ? cfg->url : "");
		return -EINVAL;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		goto nomem;
	e->cfg = *cfg;
	if (!e->cfg.queue_len)
		e->cfg.queue_len = 4096;
	if (!e->cfg.batch_max)
		e->cfg.batch_max = 512;
	if (e->cfg.batch_max > e->cfg.queue_len)
		e->cfg.batch_max = e->cfg.queue_len;
	if (!e->cfg.batch_age_ns)
		e->cfg.batch_age_ns = 1000000000ULL;
	if (!e->cfg.max_retries)
		e->cfg.max_retries = 5;
	if (!e->cfg.timeout_ms)
		e->cfg.timeout_ms = 10000;
	snprintf(e->url, sizeof(e->url), "%s", cfg->url);
	{
		/* scheme://host[:port][/path] */
		const char *h = strstr(e->url, "://") + 3, *sl = strchr(h, '/'), *colon;
		size_t hl = sl ? (size_t)(sl - h) : strlen(h);
		colon = memrchr(h, ':', hl);
		e->port = colon && !memchr(colon, ']', hl - (size_t)(colon - h)) ? (uint16_t)atoi(colon + 1)
			  : strncasecmp(e->url, "https", 5) == 0 ? 443 : 80;
		snprintf(e->path, sizeof(e->path), "%s", sl ? sl : "/");
	}
	e->cap = e->cfg.queue_len;
	e->q = calloc(e->cap, sizeof(*e->q));
	e->at = calloc(e->cap, sizeof(*e->at));
	e->batch = calloc(e->cfg.batch_max, sizeof(*e->batch));
	e->curl = curl_easy_init();
	if (!e->q || !e->at || !e->batch || !e->curl)
		goto nomem;
	pthread_mutex_init(&e->mu, NULL);
	pthread_cond_init(&e->cv, NULL);
	if (pthread_create(&e->thr, NULL, export_main, e)) {
		snprintf(err, errsz, "cannot start the OTLP export thread");
		zt_otlp_export_free(e, 0, NULL);
		return -EAGAIN;
	}
	e->started = true;
	*out = e;
	return 0;
nomem:
	if (e) {
		if (e->curl)
			curl_easy_cleanup(e->curl);
		free(e->batch);
		free(e->at);
		free(e->q);
		free(e);
	}
	snprintf(err, errsz, "out of memory");
	return -ENOMEM;
}

int zt_otlp_export_put(void *exp, const struct zt_span *s)
{
	struct zt_otlp_exporter *e = exp;
	int rc = 0;

	if (s->l7_protocol == ZT_L7_HTTP1 && s->server_port == e->port &&
	    strncmp(s->request_resource, e->path, strlen(e->path)) == 0) {
		__atomic_fetch_add(&e->st.self_skipped, 1, __ATOMIC_RELAXED);
		return 0;
	}
	pthread_mutex_lock(&e->mu);
	if (e->count == e->cap || e->stopping) {
		e->st.dropped_full++;
		rc = -ENOSPC;
	} else {
		uint32_t i = (e->head + e->count) % e->cap;
		e->q[i] = *s;
		e->at[i] = zt_clock_ns(CLOCK_MONOTONIC);
		e->count++;
		e->st.queued++;
		if (e->count == e->cfg.batch_max)
			pthread_cond_signal(&e->cv);
	}
	pthread_mutex_unlock(&e->mu);
	return rc;
}

void zt_otlp_export_get_stats(struct zt_otlp_exporter *e, struct zt_otlp_export_stats *out)
{
	pthread_mutex_lock(&e->mu);
	*out = e->st;
	out->sent = __atomic_load_n(&e->st.sent, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&e->mu);
}

void zt_otlp_export_free(struct zt_otlp_exporter *e, uint32_t timeout_ms, struct zt_otlp_export_stats *stats)
{
	if (!e)
		return;
	if (e->started) {
		pthread_mutex_lock(&e->mu);
		e->stopping = true;
		e->stop_deadline = zt_clock_ns(CLOCK_MONOTONIC) + (uint64_t)timeout_ms * 1000000ULL;
		pthread_cond_broadcast(&e->cv);
		pthread_mutex_unlock(&e->mu);
		/* a request in flight ends by its own timeout at worst */
		pthread_join(e->thr, NULL);
	}
	if (stats)
		*stats = e->st;
	pthread_mutex_destroy(&e->mu);
	pthread_cond_destroy(&e->cv);
	curl_easy_cleanup(e->curl);
	free(e->batch);
	free(e->at);
	free(e->q);
	free(e);
}
