/* SPDX-License-Identifier: MIT */
/* The session layer: reassembly across syscalls, pairing (keep-alive,
 * pipelining), tap sides, TCP seqs, thread trace context, and that every
 * loss (unanswered, orphans, evictions, bad events) is counted. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "evgen.h"
#include "session/session.h"

#define MAXSPANS 64
static struct zt_span spans[MAXSPANS];
static int nspans;
static uint8_t ev[ZT_EVENT_MAX_SIZE];

static void sink(void *ctx, const struct zt_span *s)
{
	(void)ctx;
	assert_true(nspans < MAXSPANS);
	spans[nspans++] = *s;
}

static struct zt_session *new_session(uint32_t max_conns)
{
	struct zt_session_cfg cfg = {.host = "h1", .mono_to_real = 1000000000000LL, .max_conns = max_conns};
	nspans = 0;
	memset(spans, 0, sizeof(spans));
	return zt_session_new(&cfg, sink, NULL);
}

/* One syscall's worth of bytes, all captured. */
static void data(struct zt_session *s, uint64_t sk, uint32_t tid, uint8_t dir, uint64_t ts, uint32_t seq,
		 const char *p)
{
	size_t n = evgen_data(ev, sk, 100, tid, "app", dir, ts, seq, p, (uint32_t)strlen(p), strlen(p), 5000, 80);
	assert_int_equal(zt_session_event(s, ev, n), 0);
}

static const char *REQ = "GET /users/42?x=1 HTTP/1.1\r\nHost: example.test\r\n\r\n";
static const char *RESP = "HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nnope!";

static void test_client_exchange(void **state)
{
	struct zt_session *s = new_session(0);

	data(s, 1, 7, ZT_DIR_EGRESS, 1000, 100, REQ);
	data(s, 1, 7, ZT_DIR_INGRESS, 5000, 900, RESP);
	assert_int_equal(nspans, 1);
	assert_int_equal(spans[0].tap_side, ZT_TAP_CLIENT_PROCESS);
	assert_string_equal(spans[0].request_type, "GET");
	assert_string_equal(spans[0].request_domain, "example.test");
	assert_string_equal(spans[0].request_resource, "/users/42?x=1");
	assert_string_equal(spans[0].endpoint, "GET /users/{id}");
	assert_int_equal(spans[0].response_code, 404);
	assert_int_equal(spans[0].response_status, ZT_RS_CLIENT_ERROR);
	assert_string_equal(spans[0].response_exception, "Not Found");
	assert_true(spans[0].flags & ZT_SPAN_HAS_SEQ);
	assert_int_equal(spans[0].req_tcp_seq, 100);
	assert_int_equal(spans[0].resp_tcp_seq, 900);
	/* egress request starts at syscall entry, ingress response ends at exit */
	assert_int_equal(spans[0].start_ns, 1000000000000ULL + 1000);
	assert_int_equal(spans[0].end_ns, 1000000000000ULL + 5500);
	assert_int_equal(spans[0].duration_ns, 4500);
	assert_int_equal(spans[0].req_bytes, strlen(REQ));
	assert_int_equal(spans[0].resp_bytes, strlen(RESP));
	assert_int_equal(spans[0].client_port, 5000);
	assert_int_equal(spans[0].server_port, 80);
	assert_string_equal(spans[0].process, "app");
	assert_string_equal(spans[0].host, "h1");
	assert_int_equal(strlen(spans[0].span_uid), 16);
	zt_session_free(s);
	(void)state;
}

static void test_server_exchange_and_context(void **state)
{
	struct zt_session *s = new_session(0);

	/* thread 9 serves on conn 1 and calls out on conn 2 meanwhile */
	data(s, 1, 9, ZT_DIR_INGRESS, 1000, 100, REQ);
	data(s, 2, 9, ZT_DIR_EGRESS, 2000, 300, "GET /down HTTP/1.1\r\n\r\n");
	data(s, 2, 9, ZT_DIR_INGRESS, 3000, 400, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	data(s, 1, 9, ZT_DIR_EGRESS, 4000, 900, RESP);
	/* next request on conn 1: a new context */
	data(s, 1, 9, ZT_DIR_INGRESS, 5000, 100 + (uint32_t)strlen(REQ), REQ);
	data(s, 1, 9, ZT_DIR_EGRESS, 6000, 900 + (uint32_t)strlen(RESP), RESP);
	assert_int_equal(nspans, 3);
	assert_int_equal(spans[0].tap_side, ZT_TAP_CLIENT_PROCESS);
	assert_string_equal(spans[0].request_resource, "/down");
	assert_int_equal(spans[1].tap_side, ZT_TAP_SERVER_PROCESS);
	assert_int_equal(spans[1].start_ns, 1000000000000ULL + 1500); /* ingress: at exit */
	assert_int_equal(spans[1].client_port, 80);                   /* remote end of a server socket */
	assert_int_equal(spans[1].server_port, 5000);
	assert_true(spans[1].syscall_trace_id_req != 0);
	assert_true(spans[0].syscall_trace_id_req == spans[1].syscall_trace_id_req);
	assert_true(spans[1].syscall_trace_id_resp == spans[1].syscall_trace_id_req);
	assert_true(spans[2].syscall_trace_id_req != spans[1].syscall_trace_id_req);
	assert_int_equal(spans[2].req_tcp_seq, 100 + strlen(REQ));
	zt_session_free(s);
	(void)state;
}

static void test_pipelining(void **state)
{
	struct zt_session *s = new_session(0);
	const char *reqs = "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\nGET /c HTTP/1.1\r\nHost: h\r\n\r\n";
	const char *r1 = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\nHTTP/1.1 5";
	const char *r2 = "03 Service Unavailable\r\nContent-Length: 3\r\n\r\nxyz";

	data(s, 1, 7, ZT_DIR_EGRESS, 1000, 1000, reqs);
	data(s, 1, 7, ZT_DIR_INGRESS, 2000, 5000, r1);
	data(s, 1, 7, ZT_DIR_INGRESS, 3000, 5000 + (uint32_t)strlen(r1), r2);
	assert_int_equal(nspans, 3);
	assert_string_equal(spans[0].request_resource, "/a");
	assert_int_equal(spans[0].response_code, 200);
	assert_string_equal(spans[1].request_resource, "/b");
	assert_int_equal(spans[1].response_code, 201);
	assert_string_equal(spans[2].request_resource, "/c");
	assert_int_equal(spans[2].response_code, 503);
	assert_int_equal(spans[2].response_status, ZT_RS_SERVER_ERROR);
	/* seqs of messages inside one syscall are offset from its first byte */
	assert_int_equal(spans[1].req_tcp_seq, 1000 + 28);
	assert_int_equal(spans[2].req_tcp_seq, 1000 + 56);
	assert_int_equal(spans[1].resp_tcp_seq, 5000 + 40);
	assert_int_equal(spans[2].resp_tcp_seq, 5000 + 40 + 43);
	assert_int_equal(spans[2].end_ns, 1000000000000ULL + 3500);
	zt_session_free(s);
	(void)state;
}

static void test_split_and_gap(void **state)
{
	struct zt_session *s = new_session(0);
	/* request head over three syscalls; response body mostly uncaptured */
	data(s, 1, 7, ZT_DIR_EGRESS, 1000, 10, "POST /up");
	data(s, 1, 7, ZT_DIR_EGRESS, 2000, 18, "load HTTP/1.1\r\nContent-Le");
	data(s, 1, 7, ZT_DIR_EGRESS, 3000, 43, "ngth: 3\r\n\r\nabc");
	const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n";
	uint8_t buf[64];
	memcpy(buf, head, strlen(head));
	size_t n = evgen_data(ev, 1, 100, 7, "app", ZT_DIR_INGRESS, 4000, 70, buf, (uint32_t)strlen(head),
			      strlen(head) + 6000, 5000, 80);
	assert_int_equal(zt_session_event(s, ev, n), 0);
	assert_int_equal(nspans, 0);
	n = evgen_data(ev, 1, 100, 7, "app", ZT_DIR_INGRESS, 5000, 0, "", 0, 4000, 5000, 80);
	assert_int_equal(zt_session_event(s, ev, n), 0);
	assert_int_equal(nspans, 1);
	assert_string_equal(spans[0].request_type, "POST");
	assert_string_equal(spans[0].request_resource, "/upload");
	assert_int_equal(spans[0].req_tcp_seq, 10);
	assert_int_equal(spans[0].start_ns, 1000000000000ULL + 1000);
	assert_int_equal(spans[0].end_ns, 1000000000000ULL + 5500);
	assert_int_equal(spans[0].resp_bytes, strlen(head) + 10000);
	zt_session_free(s);
	(void)state;
}

static void test_losses_counted(void **state)
{
	struct zt_session *s = new_session(2);
	const struct zt_session_stats *st = zt_session_stats(s);

	/* orphan response: tracing started after the request */
	data(s, 1, 7, ZT_DIR_INGRESS, 1000, 1, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(st->orphan_responses, 1);
	/* unanswered request, then the socket closes */
	data(s, 2, 7, ZT_DIR_EGRESS, 2000, 1, REQ);
	size_t n = evgen_close(ev, 2, 3000);
	zt_session_event(s, ev, n);
	assert_int_equal(st->conns_closed, 1);
	assert_int_equal(st->unanswered, 1);
	assert_int_equal(nspans, 1);
	assert_true(spans[0].flags & ZT_SPAN_NO_RESPONSE);
	assert_int_equal(spans[0].response_code, -1);
	/* table of 2: a third connection evicts the least recent (conn 1) */
	data(s, 3, 7, ZT_DIR_EGRESS, 4000, 1, REQ);
	data(s, 4, 7, ZT_DIR_EGRESS, 5000, 1, REQ);
	assert_int_equal(st->conns_evicted, 1);
	assert_int_equal(st->unanswered, 1);
	data(s, 5, 7, ZT_DIR_EGRESS, 6000, 1, REQ);
	assert_int_equal(st->conns_evicted, 2);
	assert_int_equal(st->unanswered, 2); /* conn 3's request */
	/* unrecognised bytes: the connection is given up after a few tries */
	for (int i = 0; i < 6; i++)
		data(s, 6, 7, ZT_DIR_EGRESS, 7000 + (uint64_t)i, 1, "\x16\x03\x01garbage");
	assert_int_equal(st->conns_unclassified, 1);
	assert_int_equal(st->segs_unclassified, 6);
	/* a malformed record */
	memset(ev, 0, 64);
	assert_int_equal(zt_session_event(s, ev, 10), -22);
	assert_int_equal(st->bad_events, 1);
	/* idle timeout: conn 5's request times out on the event clock */
	zt_session_tick(s, 6000 + 121ULL * 1000000000ULL);
	assert_int_equal(spans[nspans - 1].response_status, ZT_RS_TIMEOUT);
	zt_session_free(s);
	(void)state;
}

static void test_socket_reuse(void **state)
{
	struct zt_session *s = new_session(0);
	const struct zt_session_stats *st = zt_session_stats(s);

	data(s, 1, 7, ZT_DIR_EGRESS, 1000, 1, REQ);
	/* same struct sock address, new socket inode */
	size_t n = evgen_data(ev, 1, 100, 7, "app", ZT_DIR_EGRESS, 2000, 1, REQ, (uint32_t)strlen(REQ), strlen(REQ),
			      5000, 80);
	((struct zt_data_ev *)ev)->sock_ino = 999;
	zt_session_event(s, ev, n);
	assert_int_equal(st->conns_reused, 1);
	assert_int_equal(nspans, 1);
	assert_true(spans[0].flags & ZT_SPAN_NO_RESPONSE);
	zt_session_free(s);
	(void)state;
}

/* Same events, same spans: uids are deterministic. */
static void test_deterministic(void **state)
{
	char uid[3][ZT_UID_LEN];
	for (int round = 0; round < 2; round++) {
		struct zt_session *s = new_session(0);
		data(s, 1, 7, ZT_DIR_EGRESS, 1000, 100, REQ);
		data(s, 1, 7, ZT_DIR_INGRESS, 5000, 900, RESP);
		data(s, 1, 7, ZT_DIR_EGRESS, 6000, 100 + (uint32_t)strlen(REQ), REQ);
		data(s, 1, 7, ZT_DIR_INGRESS, 7000, 900 + (uint32_t)strlen(RESP), RESP);
		assert_int_equal(nspans, 2);
		if (round == 0) {
			memcpy(uid[0], spans[0].span_uid, ZT_UID_LEN);
			memcpy(uid[1], spans[1].span_uid, ZT_UID_LEN);
		} else {
			assert_string_equal(uid[0], spans[0].span_uid);
			assert_string_equal(uid[1], spans[1].span_uid);
		}
		assert_string_not_equal(spans[0].span_uid, spans[1].span_uid);
		zt_session_free(s);
	}
	(void)uid[2];
	(void)state;
}

static uint64_t quiet_sk, quiet_ino;
static int quiet_calls;

static void on_unclassified(void *ctx, uint64_t sk, uint64_t ino)
{
	assert_ptr_equal(ctx, &quiet_calls);
	quiet_calls++;
	quiet_sk = sk;
	quiet_ino = ino;
}

/* A TCP connection whose first bytes match no protocol is reported once, so
 * the live source can stop capturing it; an HTTP one never is. */
static void test_unclassified_hook(void **state)
{
	struct zt_session_cfg cfg = {.host = "h1", .on_unclassified = on_unclassified, .hook_ctx = &quiet_calls};
	struct zt_session *s = zt_session_new(&cfg, sink, NULL);

	nspans = 0;
	quiet_calls = 0;
	for (int i = 0; i < 10; i++)
		data(s, 0x77, 1, ZT_DIR_EGRESS, 1000 + (uint64_t)i * 10, 100 + (uint32_t)i * 8, "\x01\x02binary");
	assert_int_equal(quiet_calls, 1);
	assert_true(quiet_sk == 0x77 && quiet_ino == (0x77 ^ 0x5a5a));
	assert_int_equal(zt_session_stats(s)->conns_unclassified, 1);
	data(s, 0x88, 2, ZT_DIR_EGRESS, 2000, 1, REQ);
	data(s, 0x88, 2, ZT_DIR_INGRESS, 3000, 1, RESP);
	zt_session_flush(s);
	assert_int_equal(quiet_calls, 1);
	assert_int_equal(nspans, 1);
	zt_session_free(s);
}

/* A server that reads a request's 4-byte length alone, then the rest
 * (Kafka's broker): 4 bytes infer nothing, so they are kept and inference
 * runs on them and the next read together; the kept read is parsed first. */
static void test_length_read_alone(void **state)
{
	static const uint8_t size[] = {0, 0, 0, 13};
	static const uint8_t body[] = {0, 18, 0, 0, 0, 0, 0, 7, 0, 3, 'c', 'l', 'i'}; /* ApiVersions v0, id 7 */
	static const uint8_t resp[] = {0, 0, 0, 10, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0};
	struct zt_session *s = new_session(0);
	size_t n;

	n = evgen_data(ev, 0x99, 100, 9, "broker", ZT_DIR_INGRESS, 1000, 500, size, 4, 4, 9092, 40000);
	assert_int_equal(zt_session_event(s, ev, n), 0);
	n = evgen_data(ev, 0x99, 100, 9, "broker", ZT_DIR_INGRESS, 1100, 504, body, sizeof(body), sizeof(body), 9092,
		       40000);
	assert_int_equal(zt_session_event(s, ev, n), 0);
	n = evgen_data(ev, 0x99, 100, 9, "broker", ZT_DIR_EGRESS, 1200, 900, resp, sizeof(resp), sizeof(resp), 9092,
		       40000);
	assert_int_equal(zt_session_event(s, ev, n), 0);
	zt_session_flush(s);
	assert_int_equal(nspans, 1);
	assert_int_equal(spans[0].tap_side, ZT_TAP_SERVER_PROCESS);
	assert_int_equal(spans[0].l7_protocol, ZT_L7_KAFKA);
	assert_string_equal(spans[0].request_type, "ApiVersions");
	assert_int_equal(spans[0].req_tcp_seq, 500); /* from the kept read */
	assert_int_equal(spans[0].req_bytes, 17);
	/* the kept read started the broker thread's context, as any first
	 * read of a request does */
	assert_true(spans[0].syscall_trace_id_req != 0);
	assert_int_equal(spans[0].syscall_trace_id_req, spans[0].syscall_trace_id_resp);
	assert_int_equal(zt_session_stats(s)->segs_joined, 1);
	zt_session_free(s);
	(void)state;
}

/* A broker's own deliveries waiting for their acks are no requests it
 * serves: a request it reads in two syscalls meanwhile is not ambiguous. */
static void test_pushed_pending_not_ambiguous(void **state)
{
	static const uint8_t connect[] = {0x10, 0x0f, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 3, 'c', 'i', 'd'};
	static const uint8_t connack[] = {0x20, 2, 0, 0};
	static const uint8_t deliver[] = {0x32, 9, 0, 3, 'a', '/', 'b', 0, 1, 'h', 'i'}; /* QoS 1, id 1 */
	static const uint8_t pub_head[] = {0x32, 9};
	static const uint8_t pub_rest[] = {0, 3, 'c', '/', 'd', 0, 5, 'y', 'o'}; /* QoS 1, id 5 */
	static const uint8_t puback[] = {0x40, 2, 0, 5};
	struct zt_session *s = new_session(0);
	const struct {
		uint8_t dir;
		const uint8_t *p;
		size_t n;
	} steps[] = {
	    {ZT_DIR_INGRESS, connect, sizeof(connect)}, {ZT_DIR_EGRESS, connack, sizeof(connack)},
	    {ZT_DIR_EGRESS, deliver, sizeof(deliver)},	{ZT_DIR_INGRESS, pub_head, sizeof(pub_head)},
	    {ZT_DIR_INGRESS, pub_rest, sizeof(pub_rest)}, {ZT_DIR_EGRESS, puback, sizeof(puback)},
	};
	uint32_t seq[2] = {100, 900};

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		size_t n = evgen_data(ev, 0x42, 100, 3, "broker", steps[i].dir, 1000 + i * 100, seq[steps[i].dir],
				      steps[i].p, (uint32_t)steps[i].n, steps[i].n, 1883, 40001);
		seq[steps[i].dir] += (uint32_t)steps[i].n;
		assert_int_equal(zt_session_event(s, ev, n), 0);
	}
	zt_session_flush(s);
	size_t found = 0;
	for (int i = 0; i < nspans; i++)
		if (strcmp(spans[i].request_type, "PUBLISH") == 0 && strcmp(spans[i].request_resource, "c/d") == 0) {
			found++;
			assert_int_equal(spans[i].flags & ZT_SPAN_AMBIGUOUS, 0);
		}
	assert_int_equal(found, 1);
	zt_session_free(s);
	(void)state;
}

static uint64_t body_sk;
static uint8_t body_dir;
static uint32_t body_seq;
static int body_calls;

static void on_body(void *ctx, uint64_t sk, uint64_t ino, uint8_t dir, uint32_t seq)
{
	(void)ctx;
	(void)ino;
	body_sk = sk;
	body_dir = dir;
	body_seq = seq;
	body_calls++;
}

/* A body of known length that the parser only counts: the session tells
 * the kernel where it ends (once), so the kernel may stop copying it; a
 * small body is not worth it. */
static void test_body_skip_hint(void **state)
{
	struct zt_session_cfg cfg = {.host = "h1", .on_body = on_body};
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
	static const char small[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
	struct zt_session *s;
	size_t n;

	nspans = 0;
	body_calls = 0;
	s = zt_session_new(&cfg, sink, NULL);
	data(s, 0x51, 7, ZT_DIR_EGRESS, 1000, 10, REQ);
	n = evgen_data(ev, 0x51, 100, 7, "app", ZT_DIR_INGRESS, 2000, 5000, head, (uint32_t)strlen(head),
		       strlen(head) + 1000, 5000, 80); /* head + 1000 body bytes */
	assert_int_equal(zt_session_event(s, ev, n), 0);
	assert_int_equal(body_calls, 1);
	assert_int_equal(body_sk, 0x51);
	assert_int_equal(body_dir, ZT_DIR_INGRESS);
	assert_int_equal(body_seq, 5000 + strlen(head) + 100000);
	/* the rest arrives without payload (skipped): counted, not told again */
	n = evgen_data(ev, 0x51, 100, 7, "app", ZT_DIR_INGRESS, 3000, 5000 + (uint32_t)strlen(head) + 1000, "", 0,
		       99000, 5000, 80);
	assert_int_equal(zt_session_event(s, ev, n), 0);
	assert_int_equal(body_calls, 1);
	zt_session_flush(s);
	assert_int_equal(nspans, 1);
	assert_int_equal(spans[0].resp_bytes, strlen(head) + 100000);
	/* a small body: no hint */
	data(s, 0x52, 7, ZT_DIR_EGRESS, 4000, 10, REQ);
	data(s, 0x52, 7, ZT_DIR_INGRESS, 5000, 10, small);
	assert_int_equal(body_calls, 1);
	zt_session_free(s);
	(void)state;
}

/* h2c: an HTTP/1 request with Upgrade: h2c, 101, then HTTP/2 on the same
 * connection. The upgraded request is answered on stream 1; the connection
 * is HTTP/2 from then on. A 101 to another protocol stays an HTTP/1 span. */
static void bdata(struct zt_session *s, uint64_t sk, uint8_t dir, uint64_t ts, uint32_t seq, const void *p,
		  size_t n)
{
	size_t k = evgen_data(ev, sk, 100, 7, "app", dir, ts, seq, p, (uint32_t)n, n, 5000, 80);
	assert_int_equal(zt_session_event(s, ev, k), 0);
}

static void test_h2c_upgrade(void **state)
{
	static const char up[] = "GET /up HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\n"
				 "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n";
	static const char sw[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
	/* server SETTINGS; client preface + SETTINGS + GET /second on stream 3 */
	static const uint8_t s_settings[] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
	static const uint8_t c_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
					   "\x00\x00\x00\x04\x00\x00\x00\x00\x00"
					   "\x00\x00\x0b\x01\x05\x00\x00\x00\x03"
					   "\x82\x86\x04\x07/second";
	/* stream 1: 200 + DATA "hi"; stream 3: 404 */
	static const uint8_t s_resp[] = {0, 0, 1, 1, 4, 0, 0, 0, 1, 0x88, 0, 0, 2, 0, 1, 0, 0, 0, 1, 'h', 'i',
					 0, 0, 1, 1, 5, 0, 0, 0, 3, 0x8d};
	struct zt_session *s = new_session(0);

	bdata(s, 1, ZT_DIR_EGRESS, 1000, 100, up, strlen(up));
	bdata(s, 1, ZT_DIR_INGRESS, 2000, 900, sw, strlen(sw));
	assert_int_equal(nspans, 0); /* the 101 does not answer it */
	bdata(s, 1, ZT_DIR_INGRESS, 2100, 900 + (uint32_t)strlen(sw), s_settings, sizeof(s_settings));
	bdata(s, 1, ZT_DIR_EGRESS, 3000, 100 + (uint32_t)strlen(up), c_preface, sizeof(c_preface) - 1);
	bdata(s, 1, ZT_DIR_INGRESS, 4000, 909 + (uint32_t)strlen(sw), s_resp, sizeof(s_resp));
	assert_int_equal(nspans, 2);
	assert_string_equal(spans[0].request_resource, "/up");
	assert_int_equal(spans[0].l7_protocol, ZT_L7_HTTP2);
	assert_int_equal(spans[0].response_code, 200);
	assert_int_equal(spans[0].req_tcp_seq, 100);
	assert_int_equal(spans[0].end_ns, 1000000000000ULL + 4500);
	assert_string_equal(spans[1].request_resource, "/second");
	assert_string_equal(spans[1].request_type, "GET");
	assert_int_equal(spans[1].response_code, 404);
	assert_int_equal(spans[1].l7_protocol, ZT_L7_HTTP2);
	assert_int_equal(zt_session_stats(s)->orphan_responses, 0);
	zt_session_free(s);

	/* websocket: the 101 is the answer, nothing switches */
	s = new_session(0);
	data(s, 2, 7, ZT_DIR_EGRESS, 1000, 100, "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n");
	data(s, 2, 7, ZT_DIR_INGRESS, 2000, 900, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
	assert_int_equal(nspans, 1);
	assert_int_equal(spans[0].response_code, 101);
	assert_int_equal(spans[0].l7_protocol, ZT_L7_HTTP1);
	zt_session_free(s);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_exchange), cmocka_unit_test(test_server_exchange_and_context),
		cmocka_unit_test(test_pipelining),      cmocka_unit_test(test_split_and_gap),
		cmocka_unit_test(test_losses_counted),  cmocka_unit_test(test_socket_reuse),
		cmocka_unit_test(test_deterministic),   cmocka_unit_test(test_unclassified_hook),
		cmocka_unit_test(test_length_read_alone), cmocka_unit_test(test_pushed_pending_not_ambiguous),
		cmocka_unit_test(test_body_skip_hint),
		cmocka_unit_test(test_h2c_upgrade),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
