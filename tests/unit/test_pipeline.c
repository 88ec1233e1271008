/* SPDX-License-Identifier: MIT */
/* The runner: a live source never waits on a slow sink (full queue counted,
 * nothing else lost), a finite source loses nothing and keeps stream order,
 * inline mode calls the sink in order, failures stop the run with the
 * sink's message. */
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

#define NREC 3000

struct fake_src {
	struct zt_source base;
	struct zt_pipeline *p;
	uint32_t next;
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
	while (n < 500 && f->next < NREC) {
		memset(&h, 0, sizeof(h));
		h.type = ZT_EV_PROC_EXEC;
		h.size = sizeof(h);
		h.ts_ns = ++f->next;
		zt_pipeline_event(f->p, &h, sizeof(h));
		n++;
	}
	if (f->next == NREC)
		src->ended = true;
	return n;
}

static void fake_close(struct zt_source *src)
{
	(void)src;
}

static const struct zt_source_ops fake_ops = {.name = "fake", .poll = fake_poll, .close = fake_close};

struct run {
	struct zt_pipeline *p;
	uint64_t seen[NREC + 1];
	uint64_t nseen, last, out_of_order, flushes;
	int slow_us;
	int fail_at;
};

static int stage(void *ctx, const void *rec, size_t len)
{
	struct run *r = ctx;
	struct zt_span s;

	(void)len;
	memset(&s, 0, sizeof(s));
	s.start_ns = ((const struct zt_event_hdr *)rec)->ts_ns;
	zt_pipeline_span(r->p, &s);
	return 0;
}

static int put(void *ctx, const struct zt_span *s)
{
	struct run *r = ctx;

	if (r->fail_at && s->start_ns == (uint64_t)r->fail_at)
		return -ENOSPC;
	if (r->slow_us) {
		struct timespec ts = {0, r->slow_us * 1000L};
		nanosleep(&ts, NULL);
	}
	if (s->start_ns <= r->last)
		r->out_of_order++;
	r->last = s->start_ns;
	if (s->start_ns <= NREC)
		r->seen[s->start_ns]++;
	r->nseen++;
	return 0;
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

static int run_once(struct run *r, bool threaded, bool live, uint32_t qlen, char *err, size_t errsz)
{
	struct zt_pipeline_cfg pc = {
	    .on_event = stage,
	    .stage_ctx = r,
	    .sink_put = put,
	    .sink_flush = flush,
	    .sink_errmsg = errmsg,
	    .sink_ctx = r,
	    .threaded = threaded,
	    .queue_bytes = qlen,
	};
	struct fake_src f = {.base = {.ops = &fake_ops, .live = live}};
	int rc;

	r->p = f.p = zt_pipeline_new(&pc);
	assert_non_null(r->p);
	rc = zt_pipeline_run(r->p, &f.base, err, errsz);
	return rc;
}

static void test_live_never_waits(void **state)
{
	static struct run r;
	char err[128];

	memset(&r, 0, sizeof(r));
	r.slow_us = 200; /* a slow store */
	assert_int_equal(run_once(&r, true, true, 16, err, sizeof(err)), 0);
	const struct zt_pipeline_stats *st = zt_pipeline_stats(r.p);
	assert_int_equal(st->events, NREC);
	assert_int_equal(st->spans, NREC);
	assert_true(st->queue_full > 0);
	/* every span is either written or counted as dropped */
	assert_int_equal(st->written + st->queue_full, NREC);
	assert_int_equal(r.nseen, st->written);
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
	assert_int_equal(run_once(&r, true, false, 16, err, sizeof(err)), 0);
	const struct zt_pipeline_stats *st = zt_pipeline_stats(r.p);
	assert_int_equal(st->queue_full, 0);
	assert_int_equal(st->written, NREC);
	for (int i = 1; i <= NREC; i++)
		assert_int_equal(r.seen[i], 1);
	assert_int_equal(r.out_of_order, 0);
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
