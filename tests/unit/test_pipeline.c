/* SPDX-License-Identifier: MIT */
/* The runner: a live source never waits on a slow sink (full queue counted,
 * nothing else lost), a finite source loses nothing and keeps stream order,
 * inline mode calls the sink in order, failures stop the run with the
 * sink's message. The queue is a byte ring of encoded spans: spans of
 * varying size wrap around a small ring many times and come out whole,
 * through sink_put (decoded) and sink_put_rec (records) alike; offers from
 * other threads are bounded by bytes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agent/pipeline.h"
#include "model/span_codec.h"

#define NREC 3000
/* the smallest ring (clamped up to 2 * ZT_SPAN_CODEC_MAX, ~6 KiB): a few
 * spans of the sizes below, the 3000 wrap around it hundreds of times */
#define SMALL_Q 1

struct fake_src {
	struct zt_source base;
	struct zt_pipeline *p;
	uint32_t next, nrec;
};

/* Each record becomes one span (the stage below): records are 40-byte
 * headers whose ts_ns numbers them. */
static int fake_poll(struct zt_source *src, int timeout_ms, char *err, size_t errsz)
{
	struct fake_src *f = (struct fake_src *)src;
	struct zt_event_hdr h;
	int n = 0;

	(void)timeout_ms;
	(void)err;
	(void)errsz;
	while (n < 500 && f->next < f->nrec) {
		memset(&h, 0, sizeof(h));
		h.type = ZT_EV_PROC_EXEC;
		h.size = sizeof(h);
		h.ts_ns = ++f->next;
		zt_pipeline_event(f->p, &h, sizeof(h));
		n++;
	}
	if (f->next == f->nrec)
		src->ended = true;
	return n;
}

static void fake_close(struct zt_source *src)
{
	(void)src;
}

static const struct zt_source_ops fake_ops = {.name = "fake", .poll = fake_poll, .close = fake_close};

/* Span i, its encoding from ~70 bytes to ~1.3 KiB as i varies. */
static void make_span(uint64_t i, struct zt_span *s)
{
	memset(s, 0, sizeof(*s));
	s->start_ns = i;
	s->end_ns = i + 1000 + i % 7;
	s->duration_ns = s->end_ns - s->start_ns;
	snprintf(s->span_uid, sizeof(s->span_uid), "%016llx", (unsigned long long)(i * 2654435761u));
	s->l7_protocol = (uint8_t)(i % 5);
	s->response_code = i % 3 ? (int32_t)(i % 600) : -(int32_t)i;
	s->client_port = (uint16_t)i;
	if (i % 4 == 1) {
		s->client_ip[10] = s->client_ip[11] = 0xff;
		memcpy(s->client_ip + 12, &i, 4);
	} else if (i % 4 == 2) {
		memset(s->server_ip, (int)(i & 0xff) | 1, 16);
	}
	size_t rl = (i * 37) % (ZT_RESOURCE_LEN - 1), el = (i * 101) % 700;
	if (el >= ZT_ENDPOINT_LEN)
		el = 0;
	memset(s->request_resource, 'a' + (int)(i % 26), rl);
	memset(s->endpoint, 'A' + (int)(i % 26), el);
	if (i % 3 == 0)
		snprintf(s->trace_id, sizeof(s->trace_id), "%032llx", (unsigned long long)i);
	for (unsigned k = 0; k < i % (ZT_ATTRS_MAX + 1); k++) {
		char key[16], val[64];
		snprintf(key, sizeof(key), "k%u", k);
		snprintf(val, sizeof(val), "v%llu-%u", (unsigned long long)i, k);
		zt_attrs_add(&s->attributes, key, val, strlen(val));
	}
}

/* s with every byte past a string's NUL zero: two spans with the same
 * fields compare equal with memcmp. */
static void norm_span(struct zt_span *dst, const struct zt_span *src)
{
	memset(dst, 0, sizeof(*dst));
	zt_span_copy(dst, src);
	for (unsigned k = 0; k < dst->attributes.n; k++) {
		__typeof__(dst->attributes.a[0]) *a = &dst->attributes.a[k];
		size_t kl = strnlen(a->key, sizeof(a->key)), vl = strnlen(a->val, sizeof(a->val));
		memset(a->key + kl, 0, sizeof(a->key) - kl);
		memset(a->val + vl, 0, sizeof(a->val) - vl);
	}
}

/* Is s span start_ns, whole? */
static bool span_ok(const struct zt_span *s)
{
	static struct zt_span want, got, raw;

	make_span(s->start_ns, &raw);
	norm_span(&want, &raw);
	norm_span(&got, s);
	return memcmp(&want, &got, sizeof(want)) == 0;
}

struct run {
	struct zt_pipeline *p;
	uint64_t seen[NREC + 1];
	uint64_t nseen, last, out_of_order, flushes, damaged, puts, recs;
	int slow_us;
	int fail_at;
};

static int stage(void *ctx, const void *rec, size_t len)
{
	struct run *r = ctx;
	struct zt_span s;

	(void)len;
	make_span(((const struct zt_event_hdr *)rec)->ts_ns, &s);
	zt_pipeline_span(r->p, &s);
	return 0;
}

static int put(void *ctx, const struct zt_span *s)
{
	struct run *r = ctx;

	r->puts++;
	if (r->fail_at && s->start_ns == (uint64_t)r->fail_at)
		return -ENOSPC;
	if (r->slow_us) {
		struct timespec ts = {0, r->slow_us * 1000L};
		nanosleep(&ts, NULL);
	}
	if (!span_ok(s))
		r->damaged++;
	if (s->start_ns <= r->last)
		r->out_of_order++;
	r->last = s->start_ns;
	if (s->start_ns <= NREC)
		r->seen[s->start_ns]++;
	r->nseen++;
	return 0;
}

/* The record sink: each record decodes to exactly len bytes and the span. */
static int put_rec(void *ctx, const uint8_t *rec, size_t len)
{
	static struct zt_span s;
	struct run *r = ctx;

	r->recs++;
	memset(&s, 0x5a, sizeof(s)); /* garbage a partial decode would leave */
	if (zt_span_decode(rec, len, &s) != (long)len) {
		r->damaged++;
		r->nseen++;
		return 0;
	}
	r->puts--; /* put() counts the sink_put calls */
	return put(ctx, &s);
}

static int flush(void *ctx)
{
	((struct run *)ctx)->flushes++;
	return 0;
}

static const char *errmsg(void *ctx)
{
	(void)ctx;
	return "disk full";
}

#define SINK_PUT 1
#define SINK_REC 2

/* Spans 1..n each came out once, whole, in order. */
static void assert_each_once(const struct run *r, uint64_t n)
{
	for (uint64_t i = 1; i <= n; i++)
		assert_int_equal(r->seen[i], 1);
	assert_int_equal(r->damaged, 0);
	assert_int_equal(r->out_of_order, 0);
}

static int run_cfg(struct run *r, bool threaded, bool live, uint32_t qbytes, int sinks, char *err, size_t errsz)
{
	struct zt_pipeline_cfg pc = {
	    .on_event = stage,
	    .stage_ctx = r,
	    .sink_put = sinks & SINK_PUT ? put : NULL,
	    .sink_flush = flush,
	    .sink_errmsg = errmsg,
	    .sink_ctx = r,
	    .threaded = threaded,
	    .queue_bytes = qbytes,
	    .sink_put_rec = sinks & SINK_REC ? put_rec : NULL,
	};
	struct fake_src f = {.base = {.ops = &fake_ops, .live = live}, .nrec = NREC};
	int rc;

	r->p = f.p = zt_pipeline_new(&pc);
	assert_non_null(r->p);
	rc = zt_pipeline_run(r->p, &f.base, err, errsz);
	return rc;
}

static int run_once(struct run *r, bool threaded, bool live, uint32_t qbytes, char *err, size_t errsz)
{
	return run_cfg(r, threaded, live, qbytes, SINK_PUT, err, errsz);
}

static void test_live_never_waits(void **state)
{
	static struct run r;
	char err[128];

	memset(&r, 0, sizeof(r));
	r.slow_us = 200; /* a slow store */
	assert_int_equal(run_once(&r, true, true, SMALL_Q, err, sizeof(err)), 0);
	const struct zt_pipeline_stats *st = zt_pipeline_stats(r.p);
	assert_int_equal(st->events, NREC);
	assert_int_equal(st->spans, NREC);
	assert_true(st->queue_full > 0);
	/* every span is either written or counted as dropped */
	assert_int_equal(st->written + st->queue_full, NREC);
	assert_int_equal(r.nseen, st->written);
	assert_int_equal(r.damaged, 0);
	assert_int_equal(r.out_of_order, 0);
	assert_true(r.flushes >= 1);
	zt_pipeline_free(r.p);
	(void)state;
}

static void test_finite_loses_nothing(void **state)
{
	static struct run r;
	char err[128];

	memset(&r, 0, sizeof(r));
	r.slow_us = 20;
	assert_int_equal(run_once(&r, true, false, SMALL_Q, err, sizeof(err)), 0);
	const struct zt_pipeline_stats *st = zt_pipeline_stats(r.p);
	assert_int_equal(st->queue_full, 0);
	assert_int_equal(st->written, NREC);
	assert_each_once(&r, NREC);
	zt_pipeline_free(r.p);
	(void)state;
}

/* Spans of every size through a small ring as fast as they come, to
 * sink_put (each record decoded into one reused span), to sink_put_rec
 * (the records; sink_put unused when both are set), and inline: the same
 * spans, whole, in order, none lost. */
static void check_all(int sinks, bool threaded, uint32_t qbytes)
{
	static struct run r;
	char err[128];

	memset(&r, 0, sizeof(r));
	assert_int_equal(run_cfg(&r, threaded, false, qbytes, sinks, err, sizeof(err)), 0);
	const struct zt_pipeline_stats *st = zt_pipeline_stats(r.p);
	assert_int_equal(st->spans, NREC);
	assert_int_equal(st->queue_full, 0);
	assert_int_equal(st->written, NREC);
	assert_each_once(&r, NREC);
	assert_int_equal(r.puts, sinks & SINK_REC ? 0 : NREC);
	assert_int_equal(r.recs, sinks & SINK_REC ? NREC : 0);
	zt_pipeline_free(r.p);
}

static void test_ring_wraps_decoded(void **state)
{
	check_all(SINK_PUT, true, SMALL_Q);
	check_all(SINK_PUT, true, 20000); /* a ring no multiple of any size */
	(void)state;
}

static void test_ring_wraps_records(void **state)
{
	check_all(SINK_REC, true, SMALL_Q);
	check_all(SINK_PUT | SINK_REC, true, 20000);
	check_all(SINK_REC, false, 0);
	(void)state;
}

/* Another thread's offers: bounded by the ring's bytes, never waiting;
 * a full ring refuses (-ENOSPC, counted); what was taken is written. */
static void test_offer_bounded(void **state)
{
	static struct run r;
	static struct zt_span s;
	static uint8_t enc[ZT_SPAN_CODEC_MAX];
	const uint32_t qbytes = 64 * 1024;
	struct zt_pipeline_cfg pc = {.sink_put = put, .sink_ctx = &r, .threaded = true, .queue_bytes = qbytes};
	struct fake_src f = {.base = {.ops = &fake_ops, .live = true}, .nrec = 0};
	uint64_t k = 0, bytes = 0, biggest = 0;
	char err[128];
	int rc;

	memset(&r, 0, sizeof(r));
	r.p = f.p = zt_pipeline_new(&pc);
	assert_non_null(r.p);
	/* no writer yet: nothing leaves the ring */
	for (;;) {
		make_span(k + 1, &s);
		rc = zt_pipeline_span_offer(r.p, &s);
		if (rc)
			break;
		long n = zt_span_encode(&s, enc, sizeof(enc));
		bytes += (uint64_t)n;
		biggest = (uint64_t)n > biggest ? (uint64_t)n : biggest;
		k++;
	}
	assert_int_equal(rc, -ENOSPC);
	assert_int_equal(zt_pipeline_stats(r.p)->queue_full, 1);
	assert_int_equal(zt_pipeline_stats(r.p)->spans, k);
	/* full: less than an encoding's room was left */
	assert_true(bytes <= qbytes);
	assert_true(bytes + ZT_SPAN_CODEC_MAX > qbytes);
	assert_true(k > qbytes / biggest);
	assert_int_equal(zt_pipeline_run(r.p, &f.base, err, sizeof(err)), 0);
	assert_int_equal(zt_pipeline_stats(r.p)->written, k);
	assert_int_equal(r.nseen, k);
	assert_each_once(&r, k);
	zt_pipeline_free(r.p);

	/* inline mode has no queue to offer to */
	pc.threaded = false;
	r.p = zt_pipeline_new(&pc);
	assert_int_equal(zt_pipeline_span_offer(r.p, &s), -EOPNOTSUPP);
	zt_pipeline_free(r.p);
	(void)state;
}

static void test_inline_in_order(void **state)
{
	static struct run r;
	char err[128];

	memset(&r, 0, sizeof(r));
	assert_int_equal(run_once(&r, false, false, 0, err, sizeof(err)), 0);
	assert_int_equal(zt_pipeline_stats(r.p)->written, NREC);
	assert_int_equal(r.damaged, 0);
	assert_int_equal(r.out_of_order, 0);
	assert_int_equal(r.flushes, 1);
	zt_pipeline_free(r.p);
	(void)state;
}

static void test_sink_failure_stops(void **state)
{
	static struct run r;
	char err[128] = "";

	memset(&r, 0, sizeof(r));
	r.fail_at = 10;
	assert_int_equal(run_once(&r, false, false, 0, err, sizeof(err)), -EIO);
	assert_non_null(strstr(err, "disk full"));
	assert_true(zt_pipeline_stats(r.p)->sink_errors >= 1);
	zt_pipeline_free(r.p);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_live_never_waits),
	    cmocka_unit_test(test_finite_loses_nothing),
	    cmocka_unit_test(test_inline_in_order),
	    cmocka_unit_test(test_sink_failure_stops),
	    cmocka_unit_test(test_ring_wraps_decoded),
	    cmocka_unit_test(test_ring_wraps_records),
	    cmocka_unit_test(test_offer_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
