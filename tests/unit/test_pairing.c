/* SPDX-License-Identifier: MIT */
/* Pairing by the mode a message carries (FIFO, key, one-way), per-peer
 * entries of unconnected UDP sockets, the bounded pending pool, and the
 * thread trace context's lifetime. A fake protocol ("kv", one message per
 * segment) exercises the modes no real parser uses yet. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <malloc.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evgen.h"
#include "proto/proto.h"
#include "session/session.h"

/* ---- the fake protocol ----
 *   "Q key"  request, pairs by key      "A key code"  its response
 *   "P key"  one-way request            "R x" / "S code"  FIFO request / response */
static int kv_infer(const uint8_t *b, size_t n, const struct zt_infer_hints *h)
{
	(void)h;
	return n >= 2 && strchr("QAPRS", b[0]) && b[1] == ' ' ? 90 : 0;
}

static void kv_feed(void *st, const struct zt_seg *seg, zt_emit_fn emit, void *ctx)
{
	struct zt_msg m;
	char text[64];
	size_t n = seg->caplen < sizeof(text) - 1 ? seg->caplen : sizeof(text) - 1;
	unsigned long key = 0;
	int code = 0;

	(void)st;
	if (n < 2)
		return;
	memcpy(text, seg->data, n);
	text[n] = '\0';
	memset(&m, 0, sizeof(m));
	zt_msg_begin(&m, seg, 0);
	m.bytes = seg->len;
	switch (text[0]) {
	case 'Q':
	case 'P':
		m.kind = ZT_MSG_REQUEST;
		m.pair = text[0] == 'Q' ? ZT_PAIR_KEY : ZT_PAIR_ONEWAY;
		key = strtoul(text + 2, NULL, 10);
		m.key = key;
		snprintf(m.request_resource, sizeof(m.request_resource), "key%lu", key);
		snprintf(m.request_type, sizeof(m.request_type), "%s", text[0] == 'Q' ? "GET" : "PUBLISH");
		break;
	case 'A':
		m.kind = ZT_MSG_RESPONSE;
		m.pair = ZT_PAIR_KEY;
		sscanf(text + 2, "%lu %d", &key, &code);
		m.key = key;
		m.response_code = code;
		m.flags |= ZT_MF_HAS_CODE;
		m.status = code ? ZT_RS_SERVER_ERROR : ZT_RS_OK;
		break;
	case 'R':
		m.kind = ZT_MSG_REQUEST;
		snprintf(m.request_resource, sizeof(m.request_resource), "%s", text + 2);
		break;
	default: /* 'S' */
		m.kind = ZT_MSG_RESPONSE;
		m.response_code = atoi(text + 2);
		m.flags |= ZT_MF_HAS_CODE;
		m.status = ZT_RS_OK;
		break;
	}
	emit(ctx, &m);
}

static int kv_first_kind(const uint8_t *b, size_t n)
{
	return n && strchr("QPR", b[0]) ? ZT_MSG_REQUEST : ZT_MSG_RESPONSE;
}

static const struct zt_proto_ops kv_ops = {
    .id = ZT_L7_HTTP1, /* any id: only this table is installed */
    .name = "KV",
    .infer = kv_infer,
    .state_size = 8,
    .feed = kv_feed,
    .first_kind = kv_first_kind,
};
static const struct zt_proto_ops *const kv_table[] = {&kv_ops, NULL};

/* ---- harness ---- */

#define MAXSPANS 64
static struct zt_span spans[MAXSPANS];
static int nspans;
static uint8_t ev[ZT_EVENT_MAX_SIZE];

static void sink(void *ctx, const struct zt_span *s)
{
	(void)ctx;
	if (nspans < MAXSPANS)
		spans[nspans] = *s;
	nspans++;
}

static struct zt_session *new_session(uint32_t max_conns, uint32_t pend_cap)
{
	struct zt_session_cfg cfg = {.host = "h1", .max_conns = max_conns, .pend_cap = pend_cap};
	nspans = 0;
	memset(spans, 0, sizeof(spans));
	return zt_session_new(&cfg, sink, NULL);
}

static void send_ev(struct zt_session *s, uint64_t sk, uint32_t tid, uint8_t dir, uint64_t ts, const char *p,
		    uint16_t lport, uint16_t rport)
{
	size_t n = evgen_data(ev, sk, 100, tid, "app", dir, ts, 1, p, (uint32_t)strlen(p), strlen(p), lport, rport);
	assert_int_equal(zt_session_event(s, ev, n), 0);
}

static void kv(struct zt_session *s, uint64_t sk, uint8_t dir, uint64_t ts, const char *p)
{
	send_ev(s, sk, 7, dir, ts, p, 5000, 6379);
}

static int kv_setup(void **state)
{
	(void)state;
	zt_proto_set_table(kv_table);
	return 0;
}

static int kv_teardown(void **state)
{
	(void)state;
	zt_proto_set_table(NULL);
	return 0;
}

/* ---- tests ---- */

static void test_pair_by_key_out_of_order(void **state)
{
	struct zt_session *s = new_session(0, 0);
	const struct zt_session_stats *st = zt_session_stats(s);

	kv(s, 1, ZT_DIR_EGRESS, 1000, "Q 1");
	kv(s, 1, ZT_DIR_EGRESS, 2000, "Q 2");
	kv(s, 1, ZT_DIR_INGRESS, 3000, "A 2 0");
	kv(s, 1, ZT_DIR_INGRESS, 4000, "A 1 7");
	assert_int_equal(nspans, 2);
	assert_string_equal(spans[0].request_resource, "key2");
	assert_int_equal(spans[0].response_code, 0);
	assert_int_equal(spans[0].response_status, ZT_RS_OK);
	assert_string_equal(spans[1].request_resource, "key1");
	assert_int_equal(spans[1].response_code, 7);
	/* the parser's class, not an HTTP reading of the code */
	assert_int_equal(spans[1].response_status, ZT_RS_SERVER_ERROR);
	assert_int_equal(spans[1].duration_ns, 4000 + 500 - 1000);
	/* a response whose key nobody asked for */
	kv(s, 1, ZT_DIR_INGRESS, 5000, "A 9 0");
	assert_int_equal(st->orphan_responses, 1);
	assert_int_equal(nspans, 2);
	zt_session_free(s);
	(void)state;
}

static void test_one_way(void **state)
{
	struct zt_session *s = new_session(0, 0);
	const struct zt_session_stats *st = zt_session_stats(s);

	kv(s, 1, ZT_DIR_EGRESS, 1000, "P 5");
	assert_int_equal(nspans, 1); /* at once, not when the connection ends */
	assert_true(spans[0].flags & ZT_SPAN_ONE_WAY);
	assert_false(spans[0].flags & ZT_SPAN_NO_RESPONSE);
	assert_string_equal(spans[0].request_type, "PUBLISH");
	assert_int_equal(spans[0].response_code, -1);
	zt_session_flush(s);
	assert_int_equal(nspans, 1);
	assert_int_equal(st->one_way, 1);
	assert_int_equal(st->unanswered, 0);
	zt_session_free(s);
	(void)state;
}

static void test_fifo_with_fake(void **state)
{
	struct zt_session *s = new_session(0, 0);

	kv(s, 1, ZT_DIR_EGRESS, 1000, "R a");
	kv(s, 1, ZT_DIR_EGRESS, 2000, "R b");
	kv(s, 1, ZT_DIR_INGRESS, 3000, "S 1");
	kv(s, 1, ZT_DIR_INGRESS, 4000, "S 2");
	assert_int_equal(nspans, 2);
	assert_string_equal(spans[0].request_resource, "a");
	assert_int_equal(spans[0].response_code, 1);
	assert_string_equal(spans[1].request_resource, "b");
	assert_int_equal(spans[1].response_code, 2);
	zt_session_free(s);
	(void)state;
}

/* One unconnected UDP socket (a DNS server) answers two clients: one entry
 * per peer, each pairing its own exchange. */
static void test_udp_entry_per_peer(void **state)
{
	struct zt_session *s = new_session(0, 0);
	const struct zt_session_stats *st = zt_session_stats(s);
	const char *qs[2] = {"Q 7", "Q 7"}; /* same id from both clients */

	for (int i = 0; i < 2; i++) {
		size_t n = evgen_data(ev, 1, 100, 7, "dns", ZT_DIR_INGRESS, 1000 + i, 1, qs[i], 3, 3, 53,
				      (uint16_t)(40000 + i));
		((struct zt_data_ev *)ev)->l4 = IPPROTO_UDP;
		((struct zt_data_ev *)ev)->flags &= ~(uint32_t)ZT_DF_HAS_SEQ;
		zt_session_event(s, ev, n);
	}
	assert_int_equal(st->conns_opened, 2);
	for (int i = 1; i >= 0; i--) {
		char a[16];
		snprintf(a, sizeof(a), "A 7 %d", i);
		size_t n = evgen_data(ev, 1, 100, 7, "dns", ZT_DIR_EGRESS, 3000 + i, 1, a, (uint32_t)strlen(a),
				      strlen(a), 53, (uint16_t)(40000 + i));
		((struct zt_data_ev *)ev)->l4 = IPPROTO_UDP;
		zt_session_event(s, ev, n);
	}
	assert_int_equal(nspans, 2);
	assert_int_equal(st->orphan_responses, 0);
	/* each client got the answer sent to it */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(spans[i].tap_side, ZT_TAP_SERVER_PROCESS);
		assert_int_equal(spans[i].response_code, spans[i].client_port - 40000);
		assert_int_equal(spans[i].l4_protocol, IPPROTO_UDP);
		assert_int_equal(spans[i].req_tcp_seq, 0);
		assert_false(spans[i].flags & ZT_SPAN_HAS_SEQ);
	}
	assert_string_not_equal(spans[0].span_uid, spans[1].span_uid);
	zt_session_free(s);
	(void)state;
}

/* The shared pending pool is a hard bound: past it a request is stored at
 * once as unanswered (counted), nothing is allocated. */
static void test_pending_pool_bound(void **state)
{
	struct zt_session *s = new_session(4, 2);
	const struct zt_session_stats *st = zt_session_stats(s);

	kv(s, 1, ZT_DIR_EGRESS, 1000, "Q 1");
	kv(s, 2, ZT_DIR_EGRESS, 1100, "Q 2");
	assert_int_equal(nspans, 0);
	kv(s, 3, ZT_DIR_EGRESS, 1200, "Q 3");
	assert_int_equal(st->pend_pool_empty, 1);
	assert_int_equal(st->unanswered, 1);
	assert_int_equal(nspans, 1);
	assert_string_equal(spans[0].request_resource, "key3");
	assert_true(spans[0].flags & ZT_SPAN_NO_RESPONSE);
	/* an answer frees a slot for the next request */
	kv(s, 1, ZT_DIR_INGRESS, 1300, "A 1 0");
	kv(s, 3, ZT_DIR_EGRESS, 1400, "Q 4");
	assert_int_equal(st->pend_pool_empty, 1);
	zt_session_free(s);
	(void)state;
}

/* Memory is bounded by design: however many connections and requests come,
 * the heap stops growing once every table slot has its parser state. */
static void test_memory_bounded(void **state)
{
	const uint32_t max_conns = 64;
	struct zt_session *s = new_session(max_conns, 256);
	const struct zt_session_stats *st = zt_session_stats(s);
	char q[32];
	uint64_t ts = 1000;

	/* warm up: every slot used once */
	for (uint64_t sk = 1; sk <= max_conns; sk++)
		kv(s, sk, ZT_DIR_EGRESS, ts++, "Q 1");
	size_t before = mallinfo2().uordblks;
	for (uint64_t sk = 1000; sk < 1000 + 50 * max_conns; sk++) {
		for (int i = 0; i < 20; i++) {
			snprintf(q, sizeof(q), "Q %d", i);
			kv(s, sk, ZT_DIR_EGRESS, ts++, q);
		}
	}
	size_t after = mallinfo2().uordblks;
	assert_true(st->conns_evicted >= 49 * max_conns);
	assert_true(st->unanswered > 0);
	assert_int_equal(after, before);
	assert_true(zt_session_mem_bound(s) > (size_t)max_conns * 256);
	zt_session_free(s);
	(void)state;
}

/* ---- thread trace context (HTTP, the built-in table) ---- */

static const char *REQ = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
static const char *RESP = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

static const struct zt_span *span_of(uint64_t sk_port, uint8_t side)
{
	for (int i = 0; i < nspans && i < MAXSPANS; i++)
		if (spans[i].server_port == sk_port && spans[i].tap_side == side)
			return &spans[i];
	return NULL;
}

static void test_thread_ctx_not_stale(void **state)
{
	struct zt_session *s = new_session(0, 0);
	const struct zt_span *srv, *during, *after;

	/* thread 7 serves a request on sk 1 (port 80) and, while serving it,
	 * calls a backend on sk 2 (port 81) */
	send_ev(s, 1, 7, ZT_DIR_INGRESS, 1000, REQ, 80, 40000);
	send_ev(s, 2, 7, ZT_DIR_EGRESS, 2000, REQ, 40001, 81);
	send_ev(s, 2, 7, ZT_DIR_INGRESS, 3000, RESP, 40001, 81);
	send_ev(s, 1, 7, ZT_DIR_EGRESS, 4000, RESP, 80, 40000);
	/* then, idle, the same thread calls another backend: no context */
	send_ev(s, 3, 7, ZT_DIR_EGRESS, 5000, REQ, 40002, 82);
	send_ev(s, 3, 7, ZT_DIR_INGRESS, 6000, RESP, 40002, 82);
	srv = span_of(80, ZT_TAP_SERVER_PROCESS);
	during = span_of(81, ZT_TAP_CLIENT_PROCESS);
	after = span_of(82, ZT_TAP_CLIENT_PROCESS);
	assert_non_null(srv);
	assert_non_null(during);
	assert_non_null(after);
	assert_true(srv->syscall_trace_id_req != 0);
	assert_int_equal(srv->syscall_trace_id_resp, srv->syscall_trace_id_req);
	assert_int_equal(during->syscall_trace_id_req, srv->syscall_trace_id_req);
	assert_int_equal(after->syscall_trace_id_req, 0);
	assert_int_equal(after->syscall_trace_id_resp, 0);
	/* the next request on the server socket starts a new context */
	send_ev(s, 1, 7, ZT_DIR_INGRESS, 7000, REQ, 80, 40000);
	send_ev(s, 1, 7, ZT_DIR_EGRESS, 8000, RESP, 80, 40000);
	assert_int_equal(spans[nspans - 1].tap_side, ZT_TAP_SERVER_PROCESS);
	assert_true(spans[nspans - 1].syscall_trace_id_req != 0);
	assert_true(spans[nspans - 1].syscall_trace_id_req != srv->syscall_trace_id_req);
	zt_session_free(s);
	(void)state;
}

/* An event loop: one thread reads A and B, answers A, reads C, then makes
 * a call (for B or C: nobody can tell). The call must be flagged ambiguous,
 * not tied to C's context. */
static void test_event_loop_ambiguous(void **state)
{
	struct zt_session *s = new_session(0, 0);
	const struct zt_span *call;

	send_ev(s, 11, 9, ZT_DIR_INGRESS, 1000, REQ, 80, 40011);
	send_ev(s, 12, 9, ZT_DIR_INGRESS, 1100, REQ, 80, 40012);
	send_ev(s, 11, 9, ZT_DIR_EGRESS, 1200, RESP, 80, 40011);
	send_ev(s, 13, 9, ZT_DIR_INGRESS, 1300, REQ, 80, 40013);
	send_ev(s, 20, 9, ZT_DIR_EGRESS, 1400, REQ, 40020, 81);
	send_ev(s, 20, 9, ZT_DIR_INGRESS, 1500, RESP, 40020, 81);
	call = span_of(81, ZT_TAP_CLIENT_PROCESS);
	assert_non_null(call);
	assert_true(call->flags & ZT_SPAN_AMBIGUOUS);
	/* once every request is answered, the next one starts clean */
	send_ev(s, 12, 9, ZT_DIR_EGRESS, 1600, RESP, 80, 40012);
	send_ev(s, 13, 9, ZT_DIR_EGRESS, 1700, RESP, 80, 40013);
	send_ev(s, 11, 9, ZT_DIR_INGRESS, 1800, REQ, 80, 40011);
	send_ev(s, 21, 9, ZT_DIR_EGRESS, 1900, REQ, 40021, 82);
	send_ev(s, 21, 9, ZT_DIR_INGRESS, 2000, RESP, 40021, 82);
	call = span_of(82, ZT_TAP_CLIENT_PROCESS);
	assert_non_null(call);
	assert_false(call->flags & ZT_SPAN_AMBIGUOUS);
	assert_true(call->syscall_trace_id_req != 0);
	zt_session_free(s);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_pair_by_key_out_of_order, kv_setup, kv_teardown),
	    cmocka_unit_test_setup_teardown(test_one_way, kv_setup, kv_teardown),
	    cmocka_unit_test_setup_teardown(test_fifo_with_fake, kv_setup, kv_teardown),
	    cmocka_unit_test_setup_teardown(test_udp_entry_per_peer, kv_setup, kv_teardown),
	    cmocka_unit_test_setup_teardown(test_pending_pool_bound, kv_setup, kv_teardown),
	    cmocka_unit_test_setup_teardown(test_memory_bounded, kv_setup, kv_teardown),
	    cmocka_unit_test(test_thread_ctx_not_stale),
	    cmocka_unit_test(test_event_loop_ambiguous),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
