/* SPDX-License-Identifier: MIT */
/*
 * dns_udp_peer.c - a tiny DNS client and server for tests/e2e/proto_dns.py,
 * built by the test with cc. It exercises the UDP syscalls no stock tool
 * uses on loopback: sendmmsg/recvmmsg with a peer address per datagram, and
 * recvfrom/sendto on a server socket.
 *
 *   dns_udp_peer server-mmsg PORT    answers with recvmmsg + sendmmsg
 *   dns_udp_peer server-plain PORT   answers with recvfrom + sendto
 *   dns_udp_peer client-mmsg PORT NAME...
 *       one unconnected socket; all queries in one sendmmsg (a peer
 *       address each), the answers gathered with recvmmsg; prints
 *       "answers N"
 *
 * Servers answer "nx*" names NXDOMAIN, others with one A record 10.9.8.7,
 * and exit after 20 s without a query or on SIGTERM.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define VLEN 8

static size_t make_query(uint8_t *b, uint16_t id, const char *name)
{
	size_t o = 12;
	const char *p = name;

	memset(b, 0, 12);
	b[0] = (uint8_t)(id >> 8);
	b[1] = (uint8_t)id;
	b[2] = 0x01; /* RD */
	b[5] = 1;    /* QDCOUNT */
	while (*p && o < 400) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		b[o++] = (uint8_t)l;
		memcpy(b + o, p, l);
		o += l;
		p += l + (dot ? 1 : 0);
	}
	b[o++] = 0;
	b[o++] = 0, b[o++] = 1; /* A */
	b[o++] = 0, b[o++] = 1; /* IN */
	return o;
}

/* The answer to query q[0..n) in r; returns its length (0: not a query). */
static size_t make_answer(const uint8_t *q, size_t n, uint8_t *r)
{
	if (n < 17 || n > 400 || (q[2] & 0x80))
		return 0;
	memcpy(r, q, n);
	bool nx = q[12] >= 2 && q[13] == 'n' && q[14] == 'x';
	r[2] = 0x81;
	r[3] = nx ? 0x83 : 0x80;
	r[7] = nx ? 0 : 1;
	r[9] = r[10] = r[11] = 0; /* drop any OPT the query carried */
	r[8] = 0;
	/* the question ends where its name ends + 4 */
	size_t o = 12;
	while (o < n && q[o])
		o += 1u + q[o];
	o += 5;
	if (o > n)
		return 0;
	if (nx)
		return o;
	static const uint8_t a[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 9, 8, 7};
	memcpy(r + o, a, sizeof(a));
	return o + sizeof(a);
}

static int udp_socket(int port)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct timeval tv = {.tv_sec = port ? 20 : 5};

	if (s < 0) {
		perror("socket");
		exit(1);
	}
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (port) {
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(s, (struct sockaddr *)&a, sizeof(a))) {
			perror("bind");
			exit(1);
		}
	}
	return s;
}

static void server_mmsg(int port)
{
	int s = udp_socket(port);
	static uint8_t in[VLEN][512], out[VLEN][512];
	struct sockaddr_in from[VLEN];
	struct iovec iv[VLEN], ov[VLEN];
	struct mmsghdr im[VLEN], om[VLEN];

	printf("ready\n");
	fflush(stdout);
	for (;;) {
		memset(im, 0, sizeof(im));
		for (int i = 0; i < VLEN; i++) {
			iv[i] = (struct iovec){in[i], sizeof(in[i])};
			im[i].msg_hdr.msg_iov = &iv[i];
			im[i].msg_hdr.msg_iovlen = 1;
			im[i].msg_hdr.msg_name = &from[i];
			im[i].msg_hdr.msg_namelen = sizeof(from[i]);
		}
		int n = recvmmsg(s, im, VLEN, MSG_WAITFORONE, NULL);
		if (n <= 0)
			return;
		int k = 0;
		memset(om, 0, sizeof(om));
		for (int i = 0; i < n; i++) {
			size_t l = make_answer(in[i], im[i].msg_len, out[k]);
			if (!l)
				continue;
			ov[k] = (struct iovec){out[k], l};
			om[k].msg_hdr.msg_iov = &ov[k];
			om[k].msg_hdr.msg_iovlen = 1;
			om[k].msg_hdr.msg_name = &from[i];
			om[k].msg_hdr.msg_namelen = im[i].msg_hdr.msg_namelen;
			k++;
		}
		if (k && sendmmsg(s, om, (unsigned)k, 0) != k)
			perror("sendmmsg");
	}
}

static void server_plain(int port)
{
	int s = udp_socket(port);
	uint8_t in[512], out[512];

	printf("ready\n");
	fflush(stdout);
	for (;;) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(s, in, sizeof(in), 0, (struct sockaddr *)&from, &fl);
		if (n <= 0)
			return;
		size_t l = make_answer(in, (size_t)n, out);
		if (l && sendto(s, out, l, 0, (struct sockaddr *)&from, fl) < 0)
			perror("sendto");
	}
}

static void client_mmsg(int port, int nq, char **names)
{
	int s = udp_socket(0);
	static uint8_t q[VLEN][512], r[VLEN][512];
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct sockaddr_in from[VLEN];
	struct iovec qv[VLEN], rv[VLEN];
	struct mmsghdr qm[VLEN], rm[VLEN];
	int got = 0;

	if (nq > VLEN)
		nq = VLEN;
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	memset(qm, 0, sizeof(qm));
	for (int i = 0; i < nq; i++) {
		qv[i] = (struct iovec){q[i], make_query(q[i], (uint16_t)(0x3000 + i), names[i])};
		qm[i].msg_hdr.msg_iov = &qv[i];
		qm[i].msg_hdr.msg_iovlen = 1;
		qm[i].msg_hdr.msg_name = &to;
		qm[i].msg_hdr.msg_namelen = sizeof(to);
	}
	if (sendmmsg(s, qm, (unsigned)nq, 0) != nq) {
		perror("sendmmsg");
		exit(1);
	}
	while (got < nq) {
		memset(rm, 0, sizeof(rm));
		for (int i = 0; i < VLEN; i++) {
			rv[i] = (struct iovec){r[i], sizeof(r[i])};
			rm[i].msg_hdr.msg_iov = &rv[i];
			rm[i].msg_hdr.msg_iovlen = 1;
			rm[i].msg_hdr.msg_name = &from[i];
			rm[i].msg_hdr.msg_namelen = sizeof(from[i]);
		}
		int n = recvmmsg(s, rm, (unsigned)(nq - got), MSG_WAITFORONE, NULL);
		if (n <= 0)
			break;
		got += n;
	}
	printf("answers %d\n", got);
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "server-mmsg"))
		server_mmsg(atoi(argv[2]));
	else if (argc >= 3 && !strcmp(argv[1], "server-plain"))
		server_plain(atoi(argv[2]));
	else if (argc >= 4 && !strcmp(argv[1], "client-mmsg"))
		client_mmsg(atoi(argv[2]), argc - 3, argv + 3);
	else {
		fprintf(stderr, "usage: see the comment at the top of dns_udp_peer.c\n");
		return 2;
	}
	return 0;
}
