/* SPDX-License-Identifier: MIT */
/* The pcap source: packets built by hand go through the decoder and the
 * exact records it emits are checked (in-order, out-of-order,
 * retransmissions, overlaps, holes given up as gaps, FIN/RST, mid-stream,
 * UDP, IPv6, VLAN, SLL/SLL2/raw/null links, IP fragments, snap-length cuts,
 * bounds); then whole files (classic pcap in micro and nanoseconds, pcapng,
 * a header with swapped version bytes) through libpcap, the source, the
 * session and the HTTP parser into client-nic / server-nic spans. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/pcap_source.h"
#include "agent/pipeline.h"
#include "session/session.h"

/* ---- collected records ---- */

#define MAXEV 256
struct rec {
	uint32_t type;
	uint64_t ts, sk, ino, bytes;
	uint32_t seq, flags, cap;
	uint16_t family, l4, lport, rport;
	uint8_t dir;
	uint8_t laddr[16];
	char data[ZT_PAYLOAD_MAX + 1];
};
static struct rec evs[MAXEV];
static int nev;

static int collect(void *ctx, const void *r, size_t len)
{
	const struct zt_event_hdr *h = r;
	struct rec *e = &evs[nev];

	(void)ctx;
	assert_true(nev < MAXEV);
	assert_int_equal(h->size, len);
	memset(e, 0, sizeof(*e));
	e->type = h->type;
	e->ts = h->ts_ns;
	if (h->type == ZT_EV_DATA) {
		const struct zt_data_ev *d = r;
		assert_int_equal(len, sizeof(*d) + d->cap_len);
		assert_true(d->cap_len <= d->bytes && d->cap_len <= ZT_PAYLOAD_MAX);
		assert_true(d->flags & ZT_DF_NIC);
		assert_int_equal(h->pid, 0);
		assert_int_equal(h->tid, 0);
		e->sk = d->sk;
		e->ino = d->sock_ino;
		e->bytes = d->bytes;
		e->seq = d->tcp_seq;
		e->flags = d->flags;
		e->cap = d->cap_len;
		e->family = d->family;
		e->l4 = d->l4;
		e->lport = d->lport;
		e->rport = d->rport;
		e->dir = d->dir;
		memcpy(e->laddr, d->laddr, 16);
		memcpy(e->data, d + 1, d->cap_len);
	} else {
		const struct zt_sock_ev *s = r;
		assert_int_equal(h->type, ZT_EV_SOCK_STATE);
		assert_int_equal(s->newstate, ZT_TCP_CLOSE);
		e->sk = s->sk;
		e->lport = s->lport;
		e->rport = s->rport;
	}
	nev++;
	return 0;
}

/* ---- packets ---- */

enum link { L_ETH, L_VLAN, L_SLL, L_SLL2, L_RAW, L_NULL };
static const int link_dlt[] = {
    [L_ETH] = 1, [L_VLAN] = 1, [L_SLL] = 113, [L_SLL2] = 276, [L_RAW] = 12, [L_NULL] = 0};

#define FIN 0x01
#define SYN 0x02
#define RST 0x04
#define PSH 0x08
#define ACK 0x10

struct ep {
	bool v6;
	uint8_t a[16]; /* v4: first 4 bytes */
	uint16_t port;
};
static const struct ep CLI = {false, {10, 0, 0, 1}, 40000};
static const struct ep SRV = {false, {10, 0, 0, 2}, 80};
static const struct ep CLI6 = {true, {0x20, 0x01, 0x0d, 0xb8, [15] = 1}, 40000};
static const struct ep SRV6 = {true, {0x20, 0x01, 0x0d, 0xb8, [15] = 2}, 8080};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* Link header for an IP packet of `ethertype`; returns its length. */
static size_t put_link(uint8_t *b, enum link l, uint16_t ethertype)
{
	memset(b, 0, 24);
	switch (l) {
	case L_ETH:
		put16(b + 12, ethertype);
		return 14;
	case L_VLAN:
		put16(b + 12, 0x8100);
		put16(b + 14, 42);
		put16(b + 16, ethertype);
		return 18;
	case L_SLL:
		put16(b + 14, ethertype);
		return 16;
	case L_SLL2:
		put16(b, ethertype);
		return 20;
	case L_RAW:
		return 0;
	case L_NULL: {
		uint32_t fam = ethertype == 0x0800 ? 2 : 10;
		memcpy(b, &fam, 4);
		return 4;
	}
	}
	return 0;
}

/* IP header (no fragmentation) around an L4 payload of n bytes. */
static size_t put_ip(uint8_t *b, const struct ep *s, const struct ep *d, uint8_t proto, size_t n)
{
	if (s->v6) {
		memset(b, 0, 40);
		b[0] = 0x60;
		put16(b + 4, (uint16_t)n);
		b[6] = proto;
		b[7] = 64;
		memcpy(b + 8, s->a, 16);
		memcpy(b + 24, d->a, 16);
		return 40;
	}
	memset(b, 0, 20);
	b[0] = 0x45;
	put16(b + 2, (uint16_t)(20 + n));
	b[8] = 64;
	b[9] = proto;
	memcpy(b + 12, s->a, 4);
	memcpy(b + 16, d->a, 4);
	return 20;
}

static uint8_t pkt[70000];
static uint32_t cur_ack; /* the ack field of the next TCP segments */

static size_t build_tcp(enum link l, const struct ep *s, const struct ep *d, uint32_t seq, uint8_t fl,
			const void *pl, size_t n)
{
	size_t o = put_link(pkt, l, s->v6 ? 0x86dd : 0x0800);
	o += put_ip(pkt + o, s, d, IPPROTO_TCP, 20 + n);
	memset(pkt + o, 0, 20);
	put16(pkt + o, s->port);
	put16(pkt + o + 2, d->port);
	put32(pkt + o + 4, seq);
	put32(pkt + o + 8, cur_ack);
	pkt[o + 12] = 5 << 4;
	pkt[o + 13] = fl;
	o += 20;
	if (n)
		memcpy(pkt + o, pl, n);
	return o + n;
}

static size_t build_udp(enum link l, const struct ep *s, const struct ep *d, const void *pl, size_t n)
{
	size_t o = put_link(pkt, l, s->v6 ? 0x86dd : 0x0800);
	o += put_ip(pkt + o, s, d, IPPROTO_UDP, 8 + n);
	put16(pkt + o, s->port);
	put16(pkt + o + 2, d->port);
	put16(pkt + o + 4, (uint16_t)(8 + n));
	put16(pkt + o + 6, 0);
	o += 8;
	memcpy(pkt + o, pl, n);
	return o + n;
}

static struct zt_pcap_dec *dec;
static enum link cur_link;
static uint64_t now = 1700000000000000000ULL;

static void new_dec(unsigned sides)
{
	struct zt_pcap_cfg c = {.sides = sides};
	nev = 0;
	cur_ack = 0;
	dec = zt_pcap_dec_new(&c, collect, NULL);
	assert_non_null(dec);
	cur_link = L_ETH;
}

static void feed(size_t n)
{
	now += 1000;
	zt_pcap_dec_packet(dec, link_dlt[cur_link], now, pkt, (uint32_t)n, (uint32_t)n);
}

static void tcp(const struct ep *s, const struct ep *d, uint32_t seq, uint8_t fl, const char *pl)
{
	feed(build_tcp(cur_link, s, d, seq, fl, pl, pl ? strlen(pl) : 0));
}

#define CISN 1000u
#define SISN 5000u
static void handshake(const struct ep *c, const struct ep *s)
{
	tcp(c, s, CISN, SYN, NULL);
	tcp(s, c, SISN, SYN | ACK, NULL);
	tcp(c, s, CISN + 1, ACK, NULL);
}

static void expect_data(int i, uint8_t dir, uint32_t seq, const char *payload)
{
	assert_true(i < nev);
	assert_int_equal(evs[i].type, ZT_EV_DATA);
	assert_int_equal(evs[i].dir, dir);
	assert_int_equal(evs[i].seq, seq);
	assert_int_equal(evs[i].bytes, strlen(payload));
	assert_int_equal(evs[i].cap, strlen(payload));
	assert_string_equal(evs[i].data, payload);
	assert_true(evs[i].flags & ZT_DF_HAS_SEQ);
	assert_false(evs[i].flags & (ZT_DF_TRUNCATED | ZT_DF_EOF));
}

static void expect_gap(int i, uint8_t dir, uint32_t seq, uint64_t bytes)
{
	assert_true(i < nev);
	assert_int_equal(evs[i].type, ZT_EV_DATA);
	assert_int_equal(evs[i].dir, dir);
	assert_int_equal(evs[i].seq, seq);
	assert_int_equal(evs[i].cap, 0);
	assert_int_equal(evs[i].bytes, bytes);
	assert_true(evs[i].flags & ZT_DF_TRUNCATED);
}

static void expect_eof(int i)
{
	assert_true(i < nev);
	assert_int_equal(evs[i].type, ZT_EV_DATA);
	assert_int_equal(evs[i].dir, ZT_DIR_INGRESS);
	assert_int_equal(evs[i].bytes, 0);
	assert_true(evs[i].flags & ZT_DF_EOF);
}

static void done(void)
{
	zt_pcap_dec_free(dec);
	dec = NULL;
}

/* ---- decoder tests (the client's view unless said) ---- */

static void test_in_order_both_views(void **state)
{
	(void)state;
	new_dec(ZT_PCAP_SIDE_BOTH);
	handshake(&CLI, &SRV);
	assert_int_equal(nev, 0); /* a handshake emits nothing */
	tcp(&CLI, &SRV, CISN + 1, PSH | ACK, "hello");
	tcp(&SRV, &CLI, SISN + 1, PSH | ACK, "world!");
	tcp(&CLI, &SRV, CISN + 6, FIN | ACK, NULL);
	tcp(&SRV, &CLI, SISN + 7, FIN | ACK, NULL);
	tcp(&CLI, &SRV, CISN + 7, ACK, NULL);
	/* each chunk: the sender's view (egress) then the receiver's (ingress) */
	assert_int_equal(nev, 8);
	expect_data(0, ZT_DIR_EGRESS, CISN + 1, "hello");
	expect_data(1, ZT_DIR_INGRESS, CISN + 1, "hello");
	assert_int_equal(evs[0].lport, 40000);
	assert_int_equal(evs[0].rport, 80);
	assert_int_equal(evs[1].lport, 80);
	assert_int_equal(evs[1].rport, 40000);
	assert_int_not_equal(evs[0].sk, evs[1].sk);
	assert_int_equal(evs[0].ino, evs[1].ino);
	assert_int_equal(evs[0].sk >> 63, 0); /* never a kernel address */
	assert_int_equal(evs[0].family, AF_INET);
	assert_int_equal(evs[0].l4, IPPROTO_TCP);
	assert_int_equal(evs[0].laddr[10], 0xff);
	assert_int_equal(evs[0].laddr[12], 10);
	assert_int_equal(evs[0].laddr[15], 1);
	expect_data(2, ZT_DIR_EGRESS, SISN + 1, "world!");
	assert_int_equal(evs[2].sk, evs[1].sk); /* the server's view */
	expect_data(3, ZT_DIR_INGRESS, SISN + 1, "world!");
	/* the client's FIN: the server's view reads an end of file */
	expect_eof(4);
	assert_int_equal(evs[4].sk, evs[1].sk);
	expect_eof(5);
	assert_int_equal(evs[5].sk, evs[0].sk);
	/* FIN both ways: both views close */
	assert_int_equal(evs[6].type, ZT_EV_SOCK_STATE);
	assert_int_equal(evs[7].type, ZT_EV_SOCK_STATE);
	assert_true((evs[6].sk == evs[0].sk && evs[7].sk == evs[1].sk) ||
		    (evs[6].sk == evs[1].sk && evs[7].sk == evs[0].sk));
	const struct zt_pcap_stats *st = zt_pcap_dec_stats(dec);
	assert_int_equal(st->packets, 8);
	assert_int_equal(st->tcp_segments, 8);
	assert_int_equal(st->flows, 1);
	assert_int_equal(st->flows_closed, 1);
	assert_int_equal(st->retrans_segments + st->ooo_segments + st->gaps, 0);
	assert_int_equal(st->events, 8);
	zt_pcap_dec_finish(dec);
	assert_int_equal(nev, 8); /* nothing left */
	done();
}

static void test_out_of_order(void **state)
{
	(void)state;
	new_dec(ZT_PCAP_SIDE_CLIENT);
	handshake(&CLI, &SRV);
	tcp(&CLI, &SRV, CISN + 4, PSH | ACK, "DEF");
	tcp(&CLI, &SRV, CISN + 7, PSH | ACK, "GH");
	assert_int_equal(nev, 0);
	tcp(&CLI, &SRV, CISN + 1, PSH | ACK, "ABC");
	assert_int_equal(nev, 3);
	expect_data(0, ZT_DIR_EGRESS, CISN + 1, "ABC");
	expect_data(1, ZT_DIR_EGRESS, CISN + 4, "DEF");
	expect_data(2, ZT_DIR_EGRESS, CISN + 7, "GH");
	assert_int_equal(zt_pcap_dec_stats(dec)->ooo_segments, 2);
	assert_int_equal(zt_pcap_dec_stats(dec)->gaps, 0);
	done();
}

static void test_retransmission(void **state)
{
	(void)state;
	new_dec(ZT_PCAP_SIDE_CLIENT);
	handshake(&CLI, &SRV);
	tcp(&CLI, &SRV, CISN + 1, PSH | ACK, "GET / HTTP/1.1\r\n");
	tcp(&CLI, &SRV, CISN + 1, PSH | ACK, "GET / HTTP/1.1\r\n");
	tcp(&CLI, &SRV, CISN + 17, PSH | ACK, "\r\n");
	assert_int_equal(nev, 2);
	expect_data(0, ZT_DIR_EGRESS, CISN + 1, "GET / HTTP/1.1\r\n");
	expect_data(1, ZT_DIR_EGRESS, CISN + 17, "\r\n");
	assert_int_equal(zt_pcap_dec_stats(dec)->retrans_segments, 1);
	assert_int_equal(zt_pcap_dec_stats(dec)->retrans_bytes, 16);
	done();
}

static void test_overlapping_retransmission(void **state)
{
	(void)state;
	new_dec(ZT_PCAP_SIDE_CLIENT);
	handshake(&CLI, &SRV);
	tcp(&CLI, &SRV, CISN + 1, PSH | ACK, "0123456789");
	/* repacketised: 5 old bytes and 5 new */
	tcp(&CLI, &SRV, CISN + 6, PSH | ACK, "56789abcde");
	assert_int_equal(nev, 2);
	expect_data(0, ZT_DIR_EGRESS, CISN + 1, "0123456789");
	expect_data(1, ZT_DIR_EGRESS, CISN + 11, "abcde");
	assert_int_equal(zt_pcap_dec_stats(dec)->retrans_segments, 1);
	assert_int_equal(zt_pcap_dec_stats(dec)->retrans_bytes, 5);
	/* held segments that overlap: trimmed when they go out */
	tcp(&CLI, &SRV, CISN + 20, PSH | ACK, "jklmn");
	tcp(&CLI, &SRV, CISN + 18, PSH | ACK, "hijk");
	tcp(&CLI, &SRV, CISN + 16, PSH | ACK, "fg");
	assert_int_equal(nev, 5);
	expect_data(2, ZT_DIR_EGRESS, CISN + 16, "fg");
	expect_data(3, ZT_DIR_EGRESS, CISN + 18, "hijk");
	expect_data(4, ZT_DIR_EGRESS, CISN + 22, "lmn");
	assert_int_equal(zt_pcap_dec_stats(dec)->retrans_bytes, 7);
	done();
}

static void test_hole_becomes_gap_when_peer_answers(void **state)
{
	(void)state;
	new_dec(ZT_PCAP_SIDE_CLIENT);
	handshake(&CLI, &SRV);
	tcp(&CLI, &SRV, CISN + 1, PSH | ACK, "abc");
	tcp(&CLI, &SRV, CISN + 9, PSH | ACK, "xyz"); /* 5 bytes missing */
	assert_int_equal(nev, 1);
	tcp(&SRV, &CLI, SISN + 1, PSH | ACK, "reply");
	assert_int_equal(nev, 4);
	expect_data(0, ZT_DIR_EGRESS, CISN + 1, "abc");
	expect_gap(1, ZT_DIR_EGRESS, CISN + 4, 5);
	expect_data(2, ZT_DIR_EGRESS, CISN + 9, "xyz");
	expect_data(3, ZT_DIR_INGRESS, SISN + 1, "reply");
	assert_int_equal(zt_pcap_dec_stats(dec)->gaps, 1);
	assert_int_equal(zt_pcap_dec_stats(dec)->gap_bytes, 5);
	/* the late bytes are old now */
	tcp(&CLI, &SRV, CISN + 4, PSH | ACK, "defgh");
	assert_int_equal(nev, 4);
	assert_int_equal(zt_pcap_dec_stats(dec)->retrans_bytes, 5);
	done();
}

/* client-ip.pcap: the capture holds the request's first segment only; the
 * response acknowledges all of it: the rest is a gap before the response. */
static void test_ack_proves_missing_bytes(void **state)
{
	(void)state;
	new_dec(ZT_PCAP_SIDE_CLIENT);
	handshake(&CLI, &SRV);
	tcp(&CLI, &SRV, CISN + 1, PSH | ACK, "POST / HTTP/1.1\r\n");
	cur_ack = CISN + 1 + 17 + 100;
	tcp(&SRV, &CLI, SISN + 1, ACK, NULL); /* a pure ACK proves nothing yet */
	assert_int_equal(nev, 1);
	tcp(&SRV, &CLI, SISN + 1, PSH | ACK, "HTTP/1.1 200 OK\r\n");
	assert_int_equal(nev, 3);
	expect_gap(1, ZT_DIR_EGRESS, CISN + 18, 100);
	expect_data(2, ZT_DIR_INGRESS, SISN + 1, "HTTP/1.1 200 OK\r\n");
	/* an ack that also counts the client's FIN: the gap stops at the FIN */
	cur_ack = SISN + 1;
	tcp(&CLI, &SRV, CISN + 130, FIN | ACK, NULL);
	cur_ack = CISN + 131;
	tcp(&SRV, &CLI, SISN + 18, PSH | ACK, "x");
	assert_int_equal(nev, 5);
	expect_gap(3, ZT_DIR_EGRESS, CISN + 118, 12);
	expect_data(4, ZT_DIR_INGRESS, SISN + 18, "x"); /* the client's own FIN: no EOF in its view */
	done();
}

static void test_hole_timeout_and_end(void **state)
{
	(void)state;
	new_dec(ZT_PCAP_SIDE_CLIENT);
	handshake(&CLI, &SRV);
	tcp(&CLI, &SRV, CISN + 3, PSH | ACK, "cd");
	assert_int_equal(nev, 0);
	now += 3000000000ULL; /* past the 2 s hole timeout */
	tcp(&CLI, &SRV, CISN + 5, ACK, NULL);
	assert_int_equal(nev, 2);
	expect_gap(0, ZT_DIR_EGRESS, CISN + 1, 2);
	expect_data(1, ZT_DIR_EGRESS, CISN + 3, "cd");
	/* a hole still open at the end of the capture, and a FIN after it */
	tcp(&CLI, &SRV, CISN + 9, PSH | ACK | FIN, "ij");
	assert_int_equal(nev, 2);
	zt_pcap_dec_finish(dec);
	assert_int_equal(nev, 5);
	expect_gap(2, ZT_DIR_EGRESS, CISN + 5, 4);
	expect_data(3, ZT_DIR_EGRESS, CISN + 9, "ij");
	assert_int_equal(evs[4].type, ZT_EV_SOCK_STATE); /* the client's view: no EOF of its own FIN */
	done();
}

static void test_rst_closes(void **state)
{
	(void)state;
	new_dec(ZT_PCAP_SIDE_BOTH);
	handshake(&CLI, &SRV);
	tcp(&CLI, &SRV, CISN + 1, PSH | ACK, "req");
	tcp(&SRV, &CLI, SISN + 1, RST | ACK, NULL);
	assert_int_equal(nev, 4);
	assert_int_equal(evs[2].type, ZT_EV_SOCK_STATE);
	assert_int_equal(evs[3].type, ZT_EV_SOCK_STATE);
	tcp(&CLI, &SRV, CISN + 4, PSH | ACK, "late");
	assert_int_equal(nev, 4);
	assert_int_equal(zt_pcap_dec_stats(dec)->after_close, 1);
	/* the 4-tuple reused: a new socket (generation) */
	tcp(&CLI, &SRV, 90000, SYN, NULL);
	tcp(&CLI, &SRV, 90001, PSH | ACK, "again");
	assert_int_equal(nev, 6);
	expect_data(4, ZT_DIR_EGRESS, 90001, "again");
	assert_int_equal(evs[4].sk, evs[0].sk);
	assert_int_not_equal(evs[4].ino, evs[0].ino);
	assert_int_equal(zt_pcap_dec_stats(dec)->flows, 2);
	done();
	/* a flow seen mid-stream (only the server spoke), then a SYN on its
	 * 4-tuple: a new connection, the old one closed */
	new_dec(ZT_PCAP_SIDE_CLIENT);
	tcp(&SRV, &CLI, 777, PSH | ACK, "old");
	tcp(&CLI, &SRV, CISN, SYN, NULL);
	tcp(&SRV, &CLI, SISN, SYN | ACK, NULL);
	tcp(&SRV, &CLI, SISN + 1, PSH | ACK, "new");
	assert_int_equal(nev, 3);
	expect_data(0, ZT_DIR_INGRESS, 777, "old");
	assert_int_equal(evs[1].type, ZT_EV_SOCK_STATE);
	expect_data(2, ZT_DIR_INGRESS, SISN + 1, "new");
	assert_int_not_equal(evs[2].ino, evs[0].ino);
	assert_int_equal(zt_pcap_dec_stats(dec)->gaps, 0);
	done();
}

static void test_mid_stream(void **state)
{
	(void)state;
	new_dec(ZT_PCAP_SIDE_CLIENT);
	/* no handshake; the server speaks first in the capture; 80 is a
	 * known server port, so the client is the 40000 end */
	tcp(&SRV, &CLI, 777777, PSH | ACK, "HTTP/1.1 200 OK\r\n");
	tcp(&CLI, &SRV, 123456, ACK, NULL); /* a pure ACK starts nothing */
	tcp(&CLI, &SRV, 123456, PSH | ACK, "GET /x HTTP/1.1\r\n");
	assert_int_equal(nev, 2);
	expect_data(0, ZT_DIR_INGRESS, 777777, "HTTP/1.1 200 OK\r\n");
	assert_int_equal(evs[0].lport, 40000);
	expect_data(1, ZT_DIR_EGRESS, 123456, "GET /x HTTP/1.1\r\n");
	done();
	/* unknown ports: the higher port is the client */
	struct ep a = CLI, b = SRV;
	a.port = 50000;
	b.port = 7000;
	new_dec(ZT_PCAP_SIDE_CLIENT);
	tcp(&b, &a, 1, PSH | ACK, "x");
	assert_int_equal(nev, 1);
	assert_int_equal(evs[0].lport, 50000);
	assert_int_equal(evs[0].dir, ZT_DIR_INGRESS);
	done();
}

static void test_syn_sender_is_client(void **state)
{
	(void)state;
	/* a SYN-ACK seen before its SYN (out-of-order.pcap) and a client on
	 * port 80: the handshake decides, not the ports */
	struct ep c = SRV, s = CLI;
	new_dec(ZT_PCAP_SIDE_CLIENT);
	tcp(&s, &c, SISN, SYN | ACK, NULL);
	tcp(&c, &s, CISN, SYN, NULL);
	tcp(&c, &s, CISN + 1, PSH | ACK, "hi");
	assert_int_equal(nev, 1);
	expect_data(0, ZT_DIR_EGRESS, CISN + 1, "hi");
	assert_int_equal(evs[0].lport, 80);
	done();
}

static void test_udp(void **state)
{
	(void)state;
	struct ep c = CLI, s = SRV;
	s.port = 53;
	new_dec(ZT_PCAP_SIDE_BOTH);
	feed(build_udp(L_ETH, &c, &s, "query", 5));
	feed(build_udp(L_ETH, &s, &c, "answer", 6));
	assert_int_equal(nev, 4);
	assert_int_equal(evs[0].l4, IPPROTO_UDP);
	assert_int_equal(evs[0].dir, ZT_DIR_EGRESS);
	assert_int_equal(evs[0].lport, 40000);
	assert_int_equal(evs[0].rport, 53);
	assert_int_equal(evs[0].bytes, 5);
	assert_string_equal(evs[0].data, "query");
	assert_false(evs[0].flags & ZT_DF_HAS_SEQ);
	assert_int_equal(evs[1].dir, ZT_DIR_INGRESS);
	assert_int_equal(evs[1].lport, 53);
	assert_string_equal(evs[3].data, "answer");
	assert_int_equal(evs[3].dir, ZT_DIR_INGRESS);
	assert_int_equal(evs[3].lport, 40000);
	assert_int_equal(zt_pcap_dec_stats(dec)->udp_datagrams, 2);
	zt_pcap_dec_finish(dec);
	assert_int_equal(nev, 4); /* UDP has no close */
	done();
}

static void test_ipv6(void **state)
{
	(void)state;
	new_dec(ZT_PCAP_SIDE_CLIENT);
	handshake(&CLI6, &SRV6);
	tcp(&CLI6, &SRV6, CISN + 1, PSH | ACK, "v6 bytes");
	assert_int_equal(nev, 1);
	expect_data(0, ZT_DIR_EGRESS, CISN + 1, "v6 bytes");
	assert_int_equal(evs[0].family, AF_INET6);
	assert_memory_equal(evs[0].laddr, CLI6.a, 16);
	assert_int_equal(evs[0].rport, 8080);
	done();
}

static void test_links(void **state)
{
	(void)state;
	static const enum link links[] = {L_VLAN, L_SLL, L_SLL2, L_RAW, L_NULL};
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		new_dec(ZT_PCAP_SIDE_CLIENT);
		cur_link = links[i];
		handshake(&CLI, &SRV);
		tcp(&CLI, &SRV, CISN + 1, PSH | ACK, "over the link");
		feed(build_udp(cur_link, &CLI6, &SRV6, "udp6", 4));
		assert_int_equal(nev, 2);
		expect_data(0, ZT_DIR_EGRESS, CISN + 1, "over the link");
		assert_string_equal(evs[1].data, "udp6");
		assert_int_equal(zt_pcap_dec_stats(dec)->malformed + zt_pcap_dec_stats(dec)->non_ip, 0);
		done();
	}
	/* not IP: ARP over Ethernet, an unknown link type */
	new_dec(0);
	size_t n = put_link(pkt, L_ETH, 0x0806);
	memset(pkt + n, 0, 28);
	feed(n + 28);
	zt_pcap_dec_packet(dec, 147, now, pkt, 60, 60);
	assert_int_equal(zt_pcap_dec_stats(dec)->non_ip, 2);
	assert_int_equal(nev, 0);
	done();
}

/* A UDP datagram of 3000 bytes in three IPv4 fragments, out of order. */
static void test_ip_fragments(void **state)
{
	(void)state;
	static uint8_t l4[3008], frag[1600];
	struct ep c = CLI, s = SRV;
	s.port = 2000;
	put16(l4, c.port);
	put16(l4 + 2, s.port);
	put16(l4 + 4, sizeof(l4));
	for (size_t i = 8; i < sizeof(l4); i++)
		l4[i] = (uint8_t)('a' + i % 26);
	static const uint32_t offs[] = {1480, 0, 2960};
	new_dec(ZT_PCAP_SIDE_CLIENT);
	for (int k = 0; k < 3; k++) {
		uint32_t off = offs[k], len = off + 1480 > sizeof(l4) ? (uint32_t)sizeof(l4) - off : 1480;
		size_t o = put_link(frag, L_ETH, 0x0800);
		memcpy(pkt, frag, o);
		put_ip(pkt + o, &c, &s, IPPROTO_UDP, len);
		put16(pkt + o + 4, 0x1234);
		put16(pkt + o + 6, (uint16_t)((off / 8) | (off + len < sizeof(l4) ? 0x2000 : 0)));
		memcpy(pkt + o + 20, l4 + off, len);
		feed(o + 20 + len);
		assert_int_equal(nev, k == 2 ? 1 : 0);
	}
	assert_int_equal(evs[0].bytes, 3000);
	assert_int_equal(evs[0].cap, 3000);
	assert_memory_equal(evs[0].data, l4 + 8, 3000);
	assert_int_equal(zt_pcap_dec_stats(dec)->ip_fragments, 3);
	assert_int_equal(zt_pcap_dec_stats(dec)->ip_reassembled, 1);
	/* a lone middle fragment never completes: dropped at the end */
	size_t o = put_link(pkt, L_ETH, 0x0800);
	put_ip(pkt + o, &c, &s, IPPROTO_UDP, 8);
	put16(pkt + o + 4, 0x9999);
	put16(pkt + o + 6, 0x2000 | 10);
	feed(o + 28);
	zt_pcap_dec_finish(dec);
	assert_int_equal(nev, 1);
	assert_int_equal(zt_pcap_dec_stats(dec)->ip_frag_dropped, 1);
	done();
}

/* The same over IPv6: a fragment extension header, two fragments. */
static void test_ipv6_fragments(void **state)
{
	(void)state;
	static uint8_t l4[2008];
	struct ep c = CLI6, s = SRV6;
	s.port = 53;
	put16(l4, c.port);
	put16(l4 + 2, s.port);
	put16(l4 + 4, sizeof(l4));
	for (size_t i = 8; i < sizeof(l4); i++)
		l4[i] = (uint8_t)('A' + i % 26);
	new_dec(ZT_PCAP_SIDE_CLIENT);
	for (uint32_t off = 0; off < sizeof(l4); off += 1232) {
		uint32_t len = off + 1232 > sizeof(l4) ? (uint32_t)sizeof(l4) - off : 1232;
		size_t o = put_link(pkt, L_ETH, 0x86dd);
		put_ip(pkt + o, &c, &s, 44, 8 + len);
		uint8_t *fh = pkt + o + 40;
		memset(fh, 0, 8);
		fh[0] = IPPROTO_UDP;
		put16(fh + 2, (uint16_t)(off | (off + len < sizeof(l4) ? 1 : 0)));
		put32(fh + 4, 0xabcdef);
		memcpy(fh + 8, l4 + off, len);
		feed(o + 48 + len);
	}
	assert_int_equal(nev, 1);
	assert_int_equal(evs[0].family, AF_INET6);
	assert_int_equal(evs[0].bytes, 2000);
	assert_memory_equal(evs[0].data, l4 + 8, 2000);
	assert_int_equal(zt_pcap_dec_stats(dec)->ip_fragments, 2);
	assert_int_equal(zt_pcap_dec_stats(dec)->ip_reassembled, 1);
	done();
}

static void test_snaplen_cut_and_big_segments(void **state)
{
	(void)state;
	static char big[10001];
	memset(big, 'b', 10000);
	new_dec(ZT_PCAP_SIDE_CLIENT);
	handshake(&CLI, &SRV);
	/* 10000 bytes in one segment (GRO on loopback): pieces of 4096 */
	size_t n = build_tcp(L_ETH, &CLI, &SRV, CISN + 1, ACK, big, 10000);
	zt_pcap_dec_packet(dec, 1, now, pkt, (uint32_t)n, (uint32_t)n);
	assert_int_equal(nev, 3);
	assert_int_equal(evs[0].cap, 4096);
	assert_int_equal(evs[1].seq, CISN + 1 + 4096);
	assert_int_equal(evs[2].seq, CISN + 1 + 8192);
	assert_int_equal(evs[2].bytes, 10000 - 8192);
	/* the snap length kept 54 + 100 bytes of a 1000-byte payload */
	n = build_tcp(L_ETH, &CLI, &SRV, CISN + 10001, ACK, big, 1000);
	zt_pcap_dec_packet(dec, 1, now, pkt, 54 + 100, (uint32_t)n);
	assert_int_equal(nev, 4);
	assert_int_equal(evs[3].cap, 100);
	assert_int_equal(evs[3].bytes, 1000);
	assert_true(evs[3].flags & ZT_DF_TRUNCATED);
	assert_int_equal(zt_pcap_dec_stats(dec)->cut, 1);
	/* the stream goes on after the cut bytes */
	tcp(&CLI, &SRV, CISN + 11001, PSH | ACK, "next");
	expect_data(4, ZT_DIR_EGRESS, CISN + 11001, "next");
	done();
}

static void test_bounds(void **state)
{
	(void)state;
	/* a held segment costs its bytes and a 24-byte node: two of 4 bytes fit */
	struct zt_pcap_cfg c = {.sides = ZT_PCAP_SIDE_CLIENT, .ooo_flow_bytes = 60, .max_flows = 1};
	nev = 0;
	dec = zt_pcap_dec_new(&c, collect, NULL);
	cur_link = L_ETH;
	handshake(&CLI, &SRV);
	tcp(&CLI, &SRV, CISN + 3, ACK, "cdef");
	tcp(&CLI, &SRV, CISN + 7, ACK, "ghij");
	assert_int_equal(nev, 0);
	tcp(&CLI, &SRV, CISN + 12, ACK, "lm"); /* 82 > 60: the first hole is given up */
	assert_int_equal(zt_pcap_dec_stats(dec)->ooo_overflow, 1);
	assert_int_equal(nev, 3);
	expect_gap(0, ZT_DIR_EGRESS, CISN + 1, 2);
	expect_data(1, ZT_DIR_EGRESS, CISN + 3, "cdef");
	expect_data(2, ZT_DIR_EGRESS, CISN + 7, "ghij");
	/* a second flow with a table of one: the first is evicted (closed) */
	struct ep other = CLI;
	other.port = 40001;
	tcp(&other, &SRV, 1, PSH | ACK, "x");
	assert_int_equal(zt_pcap_dec_stats(dec)->flows_evicted, 1);
	assert_int_equal(nev, 7);
	expect_gap(3, ZT_DIR_EGRESS, CISN + 11, 1); /* its held bytes went out first */
	expect_data(4, ZT_DIR_EGRESS, CISN + 12, "lm");
	assert_int_equal(evs[5].type, ZT_EV_SOCK_STATE); /* then its close */
	expect_data(6, ZT_DIR_EGRESS, 1, "x");
	done();
}

static void test_idle_timeout(void **state)
{
	(void)state;
	new_dec(ZT_PCAP_SIDE_CLIENT);
	handshake(&CLI, &SRV);
	tcp(&CLI, &SRV, CISN + 1, PSH | ACK, "a");
	now += 121ULL * 1000000000ULL;
	feed(build_udp(L_ETH, &CLI6, &SRV6, "u", 1));
	assert_int_equal(nev, 3);
	assert_int_equal(evs[1].type, ZT_EV_SOCK_STATE);
	assert_int_equal(zt_pcap_dec_stats(dec)->flows_idle, 1);
	done();
}

static void test_malformed(void **state)
{
	(void)state;
	new_dec(0);
	/* every prefix of a valid packet, and garbage: nothing read past the end */
	size_t n = build_tcp(L_VLAN, &CLI6, &SRV6, 1, PSH | ACK, "payload", 7);
	static uint8_t copy[200];
	memcpy(copy, pkt, n);
	for (size_t k = 0; k < n; k++) {
		uint8_t *p = malloc(k ? k : 1);
		memcpy(p, copy, k);
		zt_pcap_dec_packet(dec, 1, now, p, (uint32_t)k, (uint32_t)n);
		free(p);
	}
	assert_true(zt_pcap_dec_stats(dec)->malformed > 0);
	done();
}

/* ---- whole files through libpcap, the source, the session ---- */

#define MAXSPANS 16
static struct zt_span spans[MAXSPANS];
static int nspans;

static void span_sink(void *ctx, const struct zt_span *s)
{
	(void)ctx;
	assert_true(nspans < MAXSPANS);
	spans[nspans++] = *s;
}

/* Replays path through the pcap source and the session; returns
 * zt_source_open_pcap's result. */
static int replay(const char *path, char *err, size_t errsz)
{
	struct zt_pipeline_cfg pc;
	struct zt_session *sess = NULL;
	struct zt_source *src = NULL;
	struct zt_session_cfg sc = {.host = "h"};
	int rc;

	nspans = 0;
	memset(&pc, 0, sizeof(pc));
	zt_session_as_stage(&pc, &sess);
	struct zt_pipeline *p = zt_pipeline_new(&pc);
	assert_non_null(p);
	rc = zt_source_open_pcap(path, NULL, p, &src, err, errsz);
	if (rc == 0) {
		sess = zt_session_new(&sc, span_sink, NULL);
		assert_non_null(sess);
		/* the session sinks spans itself (span_sink), the pipeline has none */
		assert_int_equal(zt_pipeline_run(p, src, err, errsz), 0);
		zt_session_free(sess);
		zt_source_close(src);
	}
	zt_pipeline_free(p);
	return rc;
}

static const char *HREQ = "GET /hello?x=1 HTTP/1.1\r\nHost: h\r\n\r\n";
static const char *HRESP = "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno";

/* One HTTP exchange, as a list of (ts, packet) written by pcap_dump. */
static void write_exchange(pcap_dumper_t *dp, int nano)
{
	struct pcap_pkthdr h;
	uint64_t t = 1700000000ULL * 1000000000ULL + 123456789;
	struct {
		const struct ep *s, *d;
		uint32_t seq;
		uint8_t fl;
		const char *pl;
	} seg[] = {
	    {&CLI, &SRV, CISN, SYN, NULL},
	    {&SRV, &CLI, SISN, SYN | ACK, NULL},
	    {&CLI, &SRV, CISN + 1, PSH | ACK, HREQ},
	    {&SRV, &CLI, SISN + 1, PSH | ACK, HRESP},
	    {&CLI, &SRV, CISN + 1 + (uint32_t)strlen(HREQ), FIN | ACK, NULL},
	    {&SRV, &CLI, SISN + 1 + (uint32_t)strlen(HRESP), FIN | ACK, NULL},
	};
	for (size_t i = 0; i < sizeof(seg) / sizeof(seg[0]); i++, t += 1000) {
		size_t n = build_tcp(L_ETH, seg[i].s, seg[i].d, seg[i].seq, seg[i].fl, seg[i].pl,
				     seg[i].pl ? strlen(seg[i].pl) : 0);
		h.ts.tv_sec = (time_t)(t / 1000000000ULL);
		h.ts.tv_usec = (suseconds_t)(nano ? t % 1000000000ULL : t % 1000000000ULL / 1000);
		h.caplen = h.len = (uint32_t)n;
		pcap_dump((u_char *)dp, &h, pkt);
	}
}

static void check_exchange_spans(uint64_t start_ns)
{
	assert_int_equal(nspans, 2);
	int cli = spans[0].tap_side == ZT_TAP_CLIENT_NIC ? 0 : 1;
	assert_int_equal(spans[cli].tap_side, ZT_TAP_CLIENT_NIC);
	assert_int_equal(spans[1 - cli].tap_side, ZT_TAP_SERVER_NIC);
	for (int i = 0; i < 2; i++) {
		assert_string_equal(spans[i].request_type, "GET");
		assert_string_equal(spans[i].request_resource, "/hello?x=1");
		assert_int_equal(spans[i].response_code, 404);
		assert_true(spans[i].flags & ZT_SPAN_HAS_SEQ);
		assert_int_equal(spans[i].req_tcp_seq, CISN + 1);
		assert_int_equal(spans[i].resp_tcp_seq, SISN + 1);
		assert_int_equal(spans[i].client_port, 40000);
		assert_int_equal(spans[i].server_port, 80);
		assert_int_equal(spans[i].pid, 0);
		assert_string_equal(spans[i].process, "");
		assert_int_equal(spans[i].syscall_trace_id_req, 0);
		assert_int_equal(spans[i].start_ns, start_ns);
		assert_int_equal(spans[i].duration_ns, 1000);
	}
}

/* The decoder's records straight into the session: an HTTP/1.0 response
 * whose body ends with the connection (no Content-Length) completes on the
 * server's FIN, which the client's view reads as an end of file. */
static int to_session(void *ctx, const void *r, size_t len)
{
	assert_int_equal(zt_session_event(ctx, r, len), 0);
	return 0;
}

static void test_eof_delimits_body(void **state)
{
	(void)state;
	struct zt_session_cfg sc = {.host = "h"};
	struct zt_session *sess = zt_session_new(&sc, span_sink, NULL);
	const char *req = "GET /old HTTP/1.0\r\n\r\n", *resp = "HTTP/1.0 200 OK\r\n\r\nbody until close";
	nspans = 0;
	dec = zt_pcap_dec_new(NULL, to_session, sess);
	cur_link = L_ETH;
	cur_ack = 0;
	handshake(&CLI, &SRV);
	tcp(&CLI, &SRV, CISN + 1, PSH | ACK, req);
	tcp(&SRV, &CLI, SISN + 1, PSH | ACK, resp);
	assert_int_equal(nspans, 0); /* the body has no end yet */
	tcp(&SRV, &CLI, SISN + 1 + (uint32_t)strlen(resp), FIN | ACK, NULL);
	/* the client's view read the EOF; the server's view completes at close */
	assert_int_equal(nspans, 1);
	assert_int_equal(spans[0].tap_side, ZT_TAP_CLIENT_NIC);
	assert_int_equal(spans[0].response_code, 200);
	assert_int_equal(spans[0].resp_bytes, strlen(resp));
	tcp(&CLI, &SRV, CISN + 1 + (uint32_t)strlen(req), FIN | ACK, NULL);
	assert_int_equal(nspans, 2);
	assert_int_equal(spans[1].tap_side, ZT_TAP_SERVER_NIC);
	assert_int_equal(spans[1].response_code, 200);
	assert_int_equal(spans[1].req_tcp_seq, CISN + 1);
	assert_int_equal(zt_session_stats(sess)->bad_events, 0);
	done();
	zt_session_free(sess);
}

static void test_pcap_files(void **state)
{
	(void)state;
	char path[] = "/tmp/zt_test_pcap_XXXXXX";
	char err[512];
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	for (int nano = 0; nano < 2; nano++) {
		pcap_t *dead = pcap_open_dead_with_tstamp_precision(
		    DLT_EN10MB, 65535, nano ? PCAP_TSTAMP_PRECISION_NANO : PCAP_TSTAMP_PRECISION_MICRO);
		pcap_dumper_t *dp = pcap_dump_open(dead, path);
		assert_non_null(dp);
		write_exchange(dp, nano);
		pcap_dump_close(dp);
		pcap_close(dead);
		assert_int_equal(replay(path, err, sizeof(err)), 0);
		check_exchange_spans(1700000000ULL * 1000000000ULL + 2000 + (nano ? 123456789 : 123456000));
	}
	/* the version bytes swapped (as in memcached-userdata.pcap): repaired */
	FILE *f = fopen(path, "r+b");
	assert_non_null(f);
	uint8_t v[4] = {0, 2, 0, 4};
	fseek(f, 4, SEEK_SET);
	fwrite(v, 1, 4, f);
	fclose(f);
	assert_int_equal(replay(path, err, sizeof(err)), 0);
	assert_int_equal(nspans, 2);
	/* garbage and a missing file: clear errors */
	f = fopen(path, "wb");
	fputs("this is not a capture at all, not even close", f);
	fclose(f);
	assert_int_not_equal(replay(path, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "not a readable capture"));
	unlink(path);
	assert_int_not_equal(replay(path, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "No such file"));
}

/* pcapng written by hand: SHB, IDB (Ethernet, nanosecond if_tsresol),
 * EPBs of the same exchange. */
static size_t ng_block(uint8_t *b, uint32_t type, const uint8_t *body, uint32_t n)
{
	uint32_t total = 12 + ((n + 3) & ~3u);
	memcpy(b, &type, 4);
	memcpy(b + 4, &total, 4);
	memset(b + 8, 0, total - 12);
	memcpy(b + 8, body, n);
	memcpy(b + total - 4, &total, 4);
	return total;
}

static void test_pcapng(void **state)
{
	(void)state;
	char path[] = "/tmp/zt_test_pcapng_XXXXXX";
	char err[512];
	static uint8_t file[8192], body[2048];
	size_t o = 0;
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	uint32_t magic = 0x1A2B3C4D;
	uint16_t ver[2] = {1, 0};
	int64_t seclen = -1;
	memcpy(body, &magic, 4);
	memcpy(body + 4, ver, 4);
	memcpy(body + 8, &seclen, 8);
	o += ng_block(file + o, 0x0A0D0D0A, body, 16);
	uint16_t lt = 1, res = 0, opt[2] = {9, 1}, end[2] = {0, 0};
	uint32_t snap = 65535;
	memset(body, 0, sizeof(body));
	memcpy(body, &lt, 2);
	memcpy(body + 2, &res, 2);
	memcpy(body + 4, &snap, 4);
	memcpy(body + 8, opt, 4);
	body[12] = 9; /* if_tsresol: 10^-9 */
	memcpy(body + 16, end, 4);
	o += ng_block(file + o, 1, body, 20);
	uint64_t t = 1700000000ULL * 1000000000ULL + 987654321;
	const char *pls[] = {NULL, NULL, HREQ, HRESP};
	const struct ep *src[] = {&CLI, &SRV, &CLI, &SRV}, *dst[] = {&SRV, &CLI, &SRV, &CLI};
	uint32_t seqs[] = {CISN, SISN, CISN + 1, SISN + 1};
	uint8_t fls[] = {SYN, SYN | ACK, PSH | ACK, PSH | ACK};
	for (int i = 0; i < 4; i++, t += 1000) {
		size_t n =
		    build_tcp(L_ETH, src[i], dst[i], seqs[i], fls[i], pls[i], pls[i] ? strlen(pls[i]) : 0);
		uint32_t w[5] = {0, (uint32_t)(t >> 32), (uint32_t)t, (uint32_t)n, (uint32_t)n};
		memcpy(body, w, 20);
		memcpy(body + 20, pkt, n);
		o += ng_block(file + o, 6, body, (uint32_t)(20 + n));
	}
	assert_int_equal(write(fd, file, o), (ssize_t)o);
	close(fd);
	assert_int_equal(replay(path, err, sizeof(err)), 0);
	unlink(path);
	assert_int_equal(nspans, 2); /* unanswered? no: both answered, flushed at the end */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(spans[i].response_code, 404);
		assert_int_equal(spans[i].start_ns, 1700000000ULL * 1000000000ULL + 987654321 + 2000);
		assert_int_equal(spans[i].req_tcp_seq, CISN + 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_in_order_both_views),
	    cmocka_unit_test(test_out_of_order),
	    cmocka_unit_test(test_retransmission),
	    cmocka_unit_test(test_overlapping_retransmission),
	    cmocka_unit_test(test_hole_becomes_gap_when_peer_answers),
	    cmocka_unit_test(test_ack_proves_missing_bytes),
	    cmocka_unit_test(test_hole_timeout_and_end),
	    cmocka_unit_test(test_rst_closes),
	    cmocka_unit_test(test_mid_stream),
	    cmocka_unit_test(test_syn_sender_is_client),
	    cmocka_unit_test(test_udp),
	    cmocka_unit_test(test_ipv6),
	    cmocka_unit_test(test_links),
	    cmocka_unit_test(test_ip_fragments),
	    cmocka_unit_test(test_ipv6_fragments),
	    cmocka_unit_test(test_snaplen_cut_and_big_segments),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_idle_timeout),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_eof_delimits_body),
	    cmocka_unit_test(test_pcap_files),
	    cmocka_unit_test(test_pcapng),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
