/* SPDX-License-Identifier: MIT */
/*
 * test_ingest.c - `ztrace server`'s ingest against a store that buffers
 * through an outage, and the hand-off of spans from other threads:
 *  - deferred ack: a store wrapper whose flush answers 0 while it keeps the
 *    spans in memory (spans_pending > 0, as the ClickHouse store does while
 *    ClickHouse is down) gets no Ack sent for the batch; once the wrapper
 *    writes them (the outage ends) the Ack comes and the spans are stored;
 *  - zt_ingest_offer: spans from another thread reach the store through the
 *    ingest thread; a full queue refuses (-ENOSPC) and counts, and an OTLP
 *    request then gets 503; a stopped ingest refuses (-EAGAIN).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/ship_wire.h"
#include "server/ingest.h"
#include "server/otlp.h"
#include "store/store.h"

#include "ingest_harness.h"

#define T0 (1700000000ull * 1000000000ull)

static void mk_span(struct zt_span *s, unsigned i)
{
	zt_span_clear(s);
	snprintf(s->span_uid, sizeof(s->span_uid), "%016x", 0xdef000u + i);
	s->start_ns = T0 + i * 1000;
	s->end_ns = s->start_ns + 500;
	s->duration_ns = 500;
	s->tap_side = ZT_TAP_SERVER_PROCESS;
	snprintf(s->host, sizeof(s->host), "h1");
	snprintf(s->process, sizeof(s->process), "svc");
	s->l7_protocol = ZT_L7_HTTP1;
	snprintf(s->endpoint, sizeof(s->endpoint), "GET /x");
}

/* ---- a store that holds spans in memory through an "outage" ---- */

struct outage_store {
	struct zt_store base;
	struct zt_store *inner;
	int down;                /* atomic: set by the test thread */
	struct zt_span *held;    /* the ingest thread only */
	size_t nheld, cap;
	unsigned flushes_down;   /* atomic: flushes answered 0 while holding */
};

static int os_put_spans(struct zt_store *st, const struct zt_span *s, size_t n)
{
	struct outage_store *o = (struct outage_store *)st;

	if (o->nheld + n > o->cap) {
		o->cap = (o->nheld + n) * 2;
		o->held = realloc(o->held, o->cap * sizeof(*o->held));
		assert_non_null(o->held);
	}
	memcpy(o->held + o->nheld, s, n * sizeof(*s));
	o->nheld += n;
	__atomic_store_n(&st->spans_pending, o->nheld, __ATOMIC_RELAXED);
	return 0;
}

static int os_flush(struct zt_store *st)
{
	struct outage_store *o = (struct outage_store *)st;
	int rc;

	if (__atomic_load_n(&o->down, __ATOMIC_ACQUIRE)) {
		__atomic_fetch_add(&o->flushes_down, 1, __ATOMIC_RELAXED);
		return 0; /* buffered, "will write later": spans_pending stays */
	}
	if (o->nheld && (rc = o->inner->ops->put_spans(o->inner, o->held, o->nheld)))
		return rc;
	if ((rc = o->inner->ops->flush(o->inner)))
		return rc;
	o->nheld = 0;
	st->spans_written = o->inner->spans_written;
	__atomic_store_n(&st->spans_pending, 0, __ATOMIC_RELAXED);
	return 0;
}

static int os_put_link(struct zt_store *st, const char *c, const char *p, uint8_t k)
{
	struct outage_store *o = (struct outage_store *)st;
	return o->inner->ops->put_link(o->inner, c, p, k);
}

static int os_put_alias(struct zt_store *st, const char *a, const char *t)
{
	struct outage_store *o = (struct outage_store *)st;
	return o->inner->ops->put_alias(o->inner, a, t);
}

static void os_close(struct zt_store *st)
{
	struct outage_store *o = (struct outage_store *)st;

	o->inner->ops->close(o->inner);
	free(o->held);
	free(o);
}

static const struct zt_store_ops outage_ops = {
	.name = "outage-test",
	.put_spans = os_put_spans,
	.flush = os_flush,
	.put_link = os_put_link,
	.put_alias = os_put_alias,
	.close = os_close,
};

/* ---- a server on a thread ---- */

static void srv_start(struct srv *s, const char *dir, struct zt_store *st, uint32_t max_offered)
{
	struct zt_ingest_cfg ic = {.listen = "127.0.0.1:0", .state_dir = dir, .flush_ns = 20000000ULL,
				   .joiner_window_ns = 10000000ULL, .max_offered = max_offered};
	char err[256];

	memset(s, 0, sizeof(*s));
	s->st = st;
	assert_int_equal(zt_ingest_new(&ic, s->st, &s->g, err, sizeof(err)), 0);
	assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
}

static void send_buf(int fd, struct zt_wbuf *b)
{
	assert_int_equal(write(fd, b->p, b->len), (ssize_t)b->len);
	zt_wbuf_free(b);
}

/* The next Ack's acked_seq; -1 when none came within ms (or EOF). */
static int64_t read_ack(int fd, int ms)
{
	static uint8_t buf[4096];
	size_t n = 0;
	struct zt_wbuf scratch = {0};

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		struct zt_wire_frame f;
		ProtobufCMessage *m;
		if (poll(&p, 1, ms) != 1)
			return -1;
		ssize_t r = read(fd, buf + n, sizeof(buf) - n);
		if (r <= 0)
			return -1;
		n += (size_t)r;
		if (zt_wire_frame_next(buf, n, &f) > 0) {
			assert_int_equal(f.type, ZT_WIRE_ACK);
			assert_int_equal(zt_wire_msg_decode(&f, &scratch, &m), 0);
			int64_t v = (int64_t)((Ztrace__Agent__Ack *)m)->acked_seq;
			protobuf_c_message_free_unpacked(m, NULL);
			zt_wbuf_free(&scratch);
			return v;
		}
	}
}

static void test_deferred_ack(void **state)
{
	static const char *id = "0123456789abcdef0123456789abcdef";
	char tmpl[] = "/tmp/ztrace-test-ingest2-XXXXXX", *dir = mkdtemp(tmpl);
	struct outage_store *o = calloc(1, sizeof(*o));
	Ztrace__Agent__Hello h = ZTRACE__AGENT__HELLO__INIT;
	struct zt_ingest_stats st;
	struct zt_span sp[5];
	struct zt_wbuf b = {0};
	struct srv s;
	int fd;

	assert_non_null(o);
	assert_int_equal(zt_store_open(dir, ZT_STORE_RW, &o->inner), 0);
	o->base.ops = &outage_ops;
	o->down = 1;
	srv_start(&s, dir, &o->base, 0);

	fd = dial(zt_ingest_address(s.g));
	h.protocol_version = ZT_WIRE_VERSION;
	h.agent_id = (char *)id;
	h.host = "h1";
	h.first_unacked_seq = 1;
	assert_int_equal(zt_wire_frame_put(&b, ZT_WIRE_HELLO, &h.base, false), 0);
	send_buf(fd, &b);
	assert_int_equal(read_ack(fd, 5000), 0);
	for (unsigned i = 0; i < 5; i++)
		mk_span(&sp[i], i);
	assert_int_equal(zt_wire_batch_encode(id, 1, T0, sp, 5, &b), 0);
	send_buf(fd, &b);

	/* the outage: flushes answer 0, the spans stay in memory: no Ack */
	assert_int_equal(read_ack(fd, 600), -1);
	zt_ingest_get_stats(s.g, &st);
	assert_int_equal(st.batches, 1);
	assert_int_equal(st.acked_batches, 0);
	assert_true(st.acks_deferred > 0);
	assert_true(__atomic_load_n(&o->flushes_down, __ATOMIC_RELAXED) > 0);
	assert_int_equal(__atomic_load_n(&o->base.spans_pending, __ATOMIC_RELAXED), 5);
	assert_int_equal(stored(dir), 0);

	/* back: the next flush writes them, then the Ack comes */
	__atomic_store_n(&o->down, 0, __ATOMIC_RELEASE);
	assert_int_equal(read_ack(fd, 5000), 1);
	assert_int_equal(stored(dir), 5);
	zt_ingest_get_stats(s.g, &st);
	assert_int_equal(st.acked_batches, 1);
	assert_int_equal(st.store_failures, 0);
	close(fd);
	srv_stop(&s);
	rm_tree(dir);
}

/* Spans from another thread (OTLP's HTTP workers) through the bounded
 * queue: refused when full, then drained into the store once the ingest
 * thread runs, refused after it stopped. */
static void test_offer(void **state)
{
	char tmpl[] = "/tmp/ztrace-test-ingest2-XXXXXX", *dir = mkdtemp(tmpl);
	struct zt_ingest_cfg ic = {.listen = "127.0.0.1:0", .state_dir = dir, .flush_ns = 20000000ULL,
				   .joiner_window_ns = 10000000ULL, .max_offered = 8};
	struct zt_ingest_stats st;
	struct zt_span sp;
	struct srv s;
	char err[256];

	memset(&s, 0, sizeof(s));
	assert_int_equal(zt_store_open(dir, ZT_STORE_RW, &s.st), 0);
	assert_int_equal(zt_ingest_new(&ic, s.st, &s.g, err, sizeof(err)), 0);
	/* not running yet: the queue holds 8, the 9th is refused */
	for (unsigned i = 0; i < 8; i++) {
		mk_span(&sp, 100 + i);
		assert_int_equal(zt_ingest_offer(s.g, &sp), 0);
	}
	mk_span(&sp, 108);
	assert_int_equal(zt_ingest_offer(s.g, &sp), -ENOSPC);
	zt_ingest_get_stats(s.g, &st);
	assert_int_equal(st.offered_full, 1);
	/* an OTLP request meanwhile: every span refused -> 503 (the SDK retries) */
	{
		static const char body[] =
		    "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"5b8efff798038103d269b633813fc60c\","
		    "\"spanId\":\"eee19b7ec3c1b174\",\"name\":\"x\",\"startTimeUnixNano\":\"1700000000000000000\","
		    "\"endTimeUnixNano\":\"1700000000000001000\"}]}]}]}";
		struct zt_otlp_stats os = {0};
		struct zt_otlp_reply rep;
		assert_int_equal(zt_otlp_handle((const uint8_t *)body, sizeof(body) - 1, "application/json", NULL, "h",
						zt_ingest_offer, s.g, &os, &rep),
				 0);
		assert_int_equal(rep.status, 503);
		assert_int_equal(os.busy, 1);
		free(rep.body);
	}
	zt_ingest_get_stats(s.g, &st);
	assert_int_equal(st.offered_full, 2);
	assert_int_equal(pthread_create(&s.th, NULL, srv_main, &s), 0);
	for (int i = 0; i < 100; i++) { /* drained within a poll round */
		zt_ingest_get_stats(s.g, &st);
		if (st.offered_spans == 8)
			break;
		usleep(20000);
	}
	assert_int_equal(st.offered_spans, 8);
	/* room again: more go through while it runs */
	for (unsigned i = 0; i < 4; i++) {
		mk_span(&sp, 200 + i);
		assert_int_equal(zt_ingest_offer(s.g, &sp), 0);
	}
	s.stop = 1;
	pthread_join(s.th, NULL); /* the stop drains what was accepted */
	mk_span(&sp, 300);
	assert_int_equal(zt_ingest_offer(s.g, &sp), -EAGAIN);
	zt_ingest_get_stats(s.g, &st);
	assert_int_equal(st.offered_spans, 12);
	zt_ingest_free(s.g);
	s.st->ops->close(s.st);
	assert_int_equal(stored(dir), 12);
	rm_tree(dir);
}

/* Spans accepted just before a stop are stored by it, not lost: here
 * the run starts already stopped, so only the stop's drain can take them. */
static void test_offer_at_stop(void **state)
{
	char tmpl[] = "/tmp/ztrace-test-ingest2-XXXXXX", *dir = mkdtemp(tmpl);
	struct zt_ingest_cfg ic = {.listen = "127.0.0.1:0", .state_dir = dir};
	volatile sig_atomic_t stop = 1;
	struct zt_ingest_stats st;
	struct zt_ingest *g;
	struct zt_store *store;
	struct zt_span sp;
	char err[256];

	assert_int_equal(zt_store_open(dir, ZT_STORE_RW, &store), 0);
	assert_int_equal(zt_ingest_new(&ic, store, &g, err, sizeof(err)), 0);
	for (unsigned i = 0; i < 3; i++) {
		mk_span(&sp, 400 + i);
		assert_int_equal(zt_ingest_offer(g, &sp), 0);
	}
	assert_int_equal(zt_ingest_run(g, &stop, err, sizeof(err)), 0);
	zt_ingest_get_stats(g, &st);
	assert_int_equal(st.offered_spans, 3);
	zt_ingest_free(g);
	store->ops->close(store);
	assert_int_equal(stored(dir), 3);
	rm_tree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_deferred_ack),
	    cmocka_unit_test(test_offer),
	    cmocka_unit_test(test_offer_at_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
