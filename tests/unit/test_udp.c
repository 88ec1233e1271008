/* SPDX-License-Identifier: MIT */
/*
 * test_udp.c - DNS over UDP through the whole session (conn table, roles,
 * pairing by key), with records shaped as bpf/ztrace.bpf.c emits them for
 * each UDP path: an unconnected server socket answering several peers
 * (recvfrom/sendto, recvmsg/sendmsg: the peer comes from the syscall's
 * sockaddr), sendmmsg/recvmmsg (one record per datagram, ZT_DF_MMSG, the
 * same syscall times) and a connected socket's read/write. UDP records
 * carry no TCP sequence number.
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

#include "bpf/events.h"
#include "evgen.h"
#include "model/l7.h"
#include "session/session.h"

#define L(s) (sizeof(s) - 1)

/* glibc's A and AAAA queries for svc.zt.test (getent ahosts, one sendmmsg)
 * and dnsmasq's answers; `ID` patched per test */
#define Q_A "\x5e\xc4\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03svc\x02zt\x04test\x00\x00\x01\x00\x01"
#define Q_AAAA "\x6e\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03svc\x02zt\x04test\x00\x00\x1c\x00\x01"
#define R_A                                                                                                  \
	"\x5e\xc4\x85\x80\x00\x01\x00\x01\x00\x00\x00\x00\x03svc\x02zt\x04test\x00\x00\x01\x00\x01"          \
	"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x00\x00\x04\x0a\x09\x08\x07"
#define R_AAAA_NX "\x6e\xcd\x81\x83\x00\x01\x00\x00\x00\x00\x00\x00\x03svc\x02zt\x04test\x00\x00\x1c\x00\x01"

#define MAX_SPANS 32
static struct zt_span got[MAX_SPANS];
static size_t ngot;

static void sink(void *ctx, const struct zt_span *s)
{
	(void)ctx;
	assert_true(ngot < MAX_SPANS);
	got[ngot++] = *s;
}

static struct zt_session *new_session(void)
{
	struct zt_session_cfg cfg = {.host = "h1"};

	ngot = 0;
	return zt_session_new(&cfg, sink, NULL);
}

/* One UDP datagram as the kernel side reports it. */
struct dgram {
	uint64_t sk;
	uint8_t dir;
	enum zt_syscall sys;
	uint64_t ts;
	uint16_t lport, rport;
	uint8_t peer_last; /* raddr 127.0.0.peer_last; 0: unknown (::) */
	bool mmsg;
	const char *data;
	size_t len;
	uint16_t id; /* 0: as in data */
	const char *comm;
};

static void feed(struct zt_session *s, const struct dgram *d)
{
	static uint8_t buf[ZT_EVENT_MAX_SIZE];
	uint8_t payload[512];

	memcpy(payload, d->data, d->len);
	if (d->id) {
		payload[0] = (uint8_t)(d->id >> 8);
		payload[1] = (uint8_t)d->id;
	}
	size_t n = evgen_data(buf, d->sk, 42, 43, d->comm ? d->comm : "proc", d->dir, d->ts, 0, payload,
			      (uint32_t)d->len, d->len, d->lport, d->rport);
	struct zt_data_ev *e = (struct zt_data_ev *)buf;
	e->l4 = 17;
	e->flags &= ~(uint32_t)ZT_DF_HAS_SEQ;
	if (d->mmsg)
		e->flags |= ZT_DF_MMSG;
	e->syscall = (uint8_t)d->sys;
	e->raddr[15] = d->peer_last;
	if (!d->peer_last) /* the syscall did not say its peer: the socket's own
			    * labels, ::ffff:0.0.0.0 (unconnected) */
		memset(e->raddr + 12, 0, 4);
	assert_int_equal(zt_session_event(s, buf, n), 0);
}

static const struct zt_span *span_of(uint16_t client_port, const char *type, uint8_t tap)
{
	for (size_t i = 0; i < ngot; i++)
		if (got[i].client_port == client_port && !strcmp(got[i].request_type, type) &&
		    got[i].tap_side == tap)
			return &got[i];
	return NULL;
}

/* dnsmasq's socket (recvmsg/sendmsg, unconnected: rport from msg_name)
 * serves two clients whose queries carry the same id: each peer is its own
 * entry, so each answer pairs with its own peer's query. */
static void test_server_two_peers_same_id(void **st)
{
	struct zt_session *s = new_session();
	const uint64_t sk = 0x1000;

	(void)st;
	assert_non_null(s);
	feed(s, &(struct dgram){sk, ZT_DIR_INGRESS, ZT_SYS_RECVMSG, 1000, 53, 40001, 1, false, Q_A, L(Q_A),
				0x0101, NULL});
	feed(s, &(struct dgram){sk, ZT_DIR_INGRESS, ZT_SYS_RECVMSG, 2000, 53, 40002, 2, false, Q_AAAA,
				L(Q_AAAA), 0x0101, NULL});
	/* the second peer is answered first */
	feed(s, &(struct dgram){sk, ZT_DIR_EGRESS, ZT_SYS_SENDMSG, 3000, 53, 40002, 2, false, R_AAAA_NX,
				L(R_AAAA_NX), 0x0101, NULL});
	feed(s, &(struct dgram){sk, ZT_DIR_EGRESS, ZT_SYS_SENDMSG, 4000, 53, 40001, 1, false, R_A, L(R_A),
				0x0101, NULL});
	assert_int_equal(ngot, 2);
	const struct zt_span *a = span_of(40001, "A", ZT_TAP_SERVER_PROCESS);
	const struct zt_span *aaaa = span_of(40002, "AAAA", ZT_TAP_SERVER_PROCESS);
	assert_non_null(a);
	assert_non_null(aaaa);
	assert_int_equal(a->l7_protocol, ZT_L7_DNS);
	assert_int_equal(a->response_code, 0);
	assert_int_equal(a->server_port, 53);
	assert_int_equal(a->client_ip[15], 1);
	assert_int_equal(aaaa->response_code, 3);
	assert_string_equal(aaaa->response_exception, "NXDOMAIN");
	assert_int_equal(aaaa->client_ip[15], 2);
	assert_int_equal(aaaa->end_ns - aaaa->start_ns, 3500 - 2500); /* its own query's time */
	assert_false(a->flags & ZT_SPAN_HAS_SEQ);
	zt_session_free(s);
}

/* glibc: connect(), the A and AAAA queries in one sendmmsg (two records,
 * one syscall), the answers by recvfrom in either order. */
static void test_client_sendmmsg(void **st)
{
	struct zt_session *s = new_session();
	const uint64_t sk = 0x2000;

	(void)st;
	feed(s, &(struct dgram){sk, ZT_DIR_EGRESS, ZT_SYS_SENDMMSG, 1000, 50687, 53, 1, true, Q_A, L(Q_A), 0,
				"getent"});
	feed(s, &(struct dgram){sk, ZT_DIR_EGRESS, ZT_SYS_SENDMMSG, 1000, 50687, 53, 1, true, Q_AAAA,
				L(Q_AAAA), 0, "getent"});
	feed(s, &(struct dgram){sk, ZT_DIR_INGRESS, ZT_SYS_RECVFROM, 2000, 50687, 53, 1, false, R_AAAA_NX,
				L(R_AAAA_NX), 0, "getent"});
	feed(s, &(struct dgram){sk, ZT_DIR_INGRESS, ZT_SYS_RECVFROM, 3000, 50687, 53, 1, false, R_A, L(R_A),
				0, "getent"});
	assert_int_equal(ngot, 2);
	const struct zt_span *a = span_of(50687, "A", ZT_TAP_CLIENT_PROCESS);
	const struct zt_span *aaaa = span_of(50687, "AAAA", ZT_TAP_CLIENT_PROCESS);
	assert_non_null(a);
	assert_non_null(aaaa);
	assert_string_equal(a->request_resource, "svc.zt.test");
	assert_int_equal(a->req_bytes, L(Q_A));
	assert_int_equal(a->resp_bytes, L(R_A));
	assert_int_equal(aaaa->response_status, ZT_RS_CLIENT_ERROR);
	assert_string_equal(a->process, "getent");
	zt_session_free(s);
}

/* recvmmsg on a server: several peers' queries in one syscall, one record
 * each with its own peer; sendmmsg answers them. */
static void test_server_recvmmsg(void **st)
{
	struct zt_session *s = new_session();
	const uint64_t sk = 0x3000;

	(void)st;
	for (uint16_t p = 0; p < 3; p++)
		feed(s,
		     &(struct dgram){sk, ZT_DIR_INGRESS, ZT_SYS_RECVMMSG, 1000, 16654, (uint16_t)(41000 + p),
				     1, true, Q_A, L(Q_A), (uint16_t)(0x3000 + p), NULL});
	for (uint16_t p = 3; p-- > 0;)
		feed(s,
		     &(struct dgram){sk, ZT_DIR_EGRESS, ZT_SYS_SENDMMSG, 2000, 16654, (uint16_t)(41000 + p),
				     1, true, R_A, L(R_A), (uint16_t)(0x3000 + p), NULL});
	assert_int_equal(ngot, 3);
	for (uint16_t p = 0; p < 3; p++) {
		const struct zt_span *sp = span_of((uint16_t)(41000 + p), "A", ZT_TAP_SERVER_PROCESS);
		assert_non_null(sp);
		assert_int_equal(sp->response_code, 0);
	}
	zt_session_free(s);
}

/* A connected socket's write/read; ztrace started after a query left: its
 * answer is an orphan and the next exchange pairs. */
static void test_connected_read_write(void **st)
{
	struct zt_session *s = new_session();
	const uint64_t sk = 0x4000;

	(void)st;
	feed(s, &(struct dgram){sk, ZT_DIR_INGRESS, ZT_SYS_READ, 500, 45000, 16653, 1, false, R_A, L(R_A),
				0x7777, NULL});
	feed(s, &(struct dgram){sk, ZT_DIR_EGRESS, ZT_SYS_WRITE, 1000, 45000, 16653, 1, false, Q_A, L(Q_A),
				0x1111, NULL});
	feed(s, &(struct dgram){sk, ZT_DIR_INGRESS, ZT_SYS_READ, 2000, 45000, 16653, 1, false, R_A, L(R_A),
				0x1111, NULL});
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].tap_side, ZT_TAP_CLIENT_PROCESS);
	assert_int_equal(got[0].client_port, 45000);
	assert_int_equal(got[0].server_port, 16653);
	assert_int_equal(got[0].response_code, 0);
	assert_int_equal(zt_session_stats(s)->orphan_responses, 1);
	zt_session_free(s);
}

/* python: sock.sendto(query, server) then sock.recv(): the answer's record
 * has no peer (recvfrom without an address buffer); it still meets its
 * query, and with two servers asked from one socket it goes to the entry
 * that waits for an answer. */
static void test_recv_without_peer(void **st)
{
	struct zt_session *s = new_session();
	const uint64_t sk = 0x5000;

	(void)st;
	feed(s, &(struct dgram){sk, ZT_DIR_EGRESS, ZT_SYS_SENDTO, 1000, 33000, 16653, 1, false, Q_A, L(Q_A),
				0x4444, NULL});
	feed(s, &(struct dgram){sk, ZT_DIR_INGRESS, ZT_SYS_RECVFROM, 2000, 33000, 0, 0, false, R_A, L(R_A),
				0x4444, NULL});
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].tap_side, ZT_TAP_CLIENT_PROCESS);
	assert_int_equal(got[0].server_port, 16653);
	assert_int_equal(got[0].server_ip[15], 1);
	assert_int_equal(got[0].response_code, 0);
	/* server .2 answered (with its peer), then server .3's answer comes
	 * without one: it goes to .3's entry, the one still waiting */
	feed(s, &(struct dgram){sk, ZT_DIR_EGRESS, ZT_SYS_SENDTO, 3000, 33000, 53, 2, false, Q_A, L(Q_A),
				0x5555, NULL});
	feed(s, &(struct dgram){sk, ZT_DIR_EGRESS, ZT_SYS_SENDTO, 3100, 33000, 53, 3, false, Q_A, L(Q_A),
				0x6666, NULL});
	feed(s, &(struct dgram){sk, ZT_DIR_INGRESS, ZT_SYS_RECVFROM, 4000, 33000, 53, 2, false, R_A, L(R_A),
				0x5555, NULL});
	feed(s, &(struct dgram){sk, ZT_DIR_INGRESS, ZT_SYS_READ, 5000, 33000, 0, 0, false, R_A, L(R_A),
				0x6666, NULL});
	assert_int_equal(ngot, 3);
	assert_int_equal(got[2].server_ip[15], 3);
	assert_int_equal(got[2].response_code, 0);
	assert_int_equal(zt_session_stats(s)->orphan_responses, 0);
	zt_session_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_server_two_peers_same_id), cmocka_unit_test(test_client_sendmmsg),
	    cmocka_unit_test(test_server_recvmmsg),	     cmocka_unit_test(test_connected_read_write),
	    cmocka_unit_test(test_recv_without_peer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
