/* SPDX-License-Identifier: MIT */
/*
 * tls_calls.c - OpenSSL SSL_write / SSL_read cost, for bench/tls.py.
 *
 *   tls_calls CERT KEY ITERS SIZE
 *
 * One process, a TLS client and server (libssl.so.3, TLS 1.3) on a
 * loopback TCP connection. After the handshake (two threads), one thread
 * loops ITERS times: client SSL_write(SIZE bytes), server SSL_read of them,
 * server SSL_write(SIZE), client SSL_read: each call a real ciphertext
 * syscall on a TCP socket, as ztrace's probes see them in servers.
 * Prints one line: "write_ns READ_NS read_ns READ_NS" (per call, medians
 * of 5 slices of the loop, each call timed in thread CPU time).
 * Not built by bench/Makefile (no *_bench.c name): bench/tls.py builds it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

static SSL *srv_ssl;

/* CPU time of this thread: the probes' cost is CPU the calling thread
 * spends (uprobe traps, BPF programs); waiting for a CPU on a busy machine
 * is not counted. */
static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "tls_calls: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static void *accept_side(void *arg)
{
	if (SSL_accept(srv_ssl) != 1)
		die("SSL_accept failed");
	return arg;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* exactly n bytes through SSL_read (one record here) */
static void read_all(SSL *s, char *buf, int n)
{
	for (int got = 0; got < n;) {
		int r = SSL_read(s, buf + got, n - got);
		if (r <= 0)
			die("SSL_read failed");
		got += r;
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int one = 1, lfd, cfd, sfd, iters, size;
	SSL_CTX *sctx, *cctx;
	SSL *cli;
	pthread_t th;
	enum { SLICES = 5 };
	uint64_t wr[SLICES], rd[SLICES];
	char *buf, *in;

	if (argc != 5) {
		fprintf(stderr, "usage: tls_calls CERT KEY ITERS SIZE\n");
		return 2;
	}
	iters = atoi(argv[3]);
	size = atoi(argv[4]);
	if (iters < SLICES || size < 1 || size > 16384)
		die("bad ITERS or SIZE");
	buf = calloc(1, (size_t)size);
	in = calloc(1, (size_t)size);
	memset(buf, 'x', (size_t)size);

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (void *)&a, sizeof(a)) || listen(lfd, 1) || getsockname(lfd, (void *)&a, &alen))
		die("listen failed");
	cfd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(cfd, (void *)&a, sizeof(a)) || (sfd = accept(lfd, NULL, NULL)) < 0)
		die("connect failed");
	setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

	sctx = SSL_CTX_new(TLS_server_method());
	cctx = SSL_CTX_new(TLS_client_method());
	if (!sctx || !cctx || SSL_CTX_use_certificate_file(sctx, argv[1], SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(sctx, argv[2], SSL_FILETYPE_PEM) != 1)
		die("certificate setup failed");
	/* no session tickets: nothing but our records after the handshake */
	SSL_CTX_set_num_tickets(sctx, 0);
	srv_ssl = SSL_new(sctx);
	cli = SSL_new(cctx);
	SSL_set_fd(srv_ssl, sfd);
	SSL_set_fd(cli, cfd);
	pthread_create(&th, NULL, accept_side, NULL);
	if (SSL_connect(cli) != 1)
		die("SSL_connect failed");
	pthread_join(th, NULL);

	for (int sl = 0; sl < SLICES; sl++) {
		uint64_t tw = 0, tr = 0;
		int n = iters / SLICES;
		for (int i = 0; i < n; i++) {
			uint64_t t0 = now_ns();
			if (SSL_write(cli, buf, size) != size)
				die("SSL_write failed");
			uint64_t t1 = now_ns();
			read_all(srv_ssl, in, size);
			uint64_t t2 = now_ns();
			if (SSL_write(srv_ssl, in, size) != size)
				die("SSL_write failed");
			uint64_t t3 = now_ns();
			read_all(cli, in, size);
			uint64_t t4 = now_ns();
			tw += (t1 - t0) + (t3 - t2);
			tr += (t2 - t1) + (t4 - t3);
		}
		wr[sl] = tw / (2ULL * (uint64_t)n);
		rd[sl] = tr / (2ULL * (uint64_t)n);
	}
	qsort(wr, SLICES, sizeof(wr[0]), cmp_u64);
	qsort(rd, SLICES, sizeof(rd[0]), cmp_u64);
	printf("write_ns %llu read_ns %llu\n", (unsigned long long)wr[SLICES / 2], (unsigned long long)rd[SLICES / 2]);
	SSL_shutdown(cli);
	return 0;
}
