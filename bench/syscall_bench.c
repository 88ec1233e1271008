/* SPDX-License-Identifier: MIT */
/*
 * syscall_bench - cost per traced socket syscall, measured three ways in
 * one run, alternated (A B C C B A ...) and reported as medians:
 *   bare   no BPF attached
 *   floor  empty BPF programs on the same tracepoints (bench/floor.bpf.c)
 *   ztrace `ztrace up` running (it captures these syscalls for real)
 * on a connected loopback TCP pair, for write/read, sendto/recvfrom,
 * sendmsg/recvmsg and writev/readv, with 64 B and 1 KiB payloads.
 *
 * usage: syscall_bench ZTRACE_BIN FLOOR_BPF_O OUT_JSON [ITERS] [ROUNDS]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

enum kind { K_RW, K_SENDTO, K_MSG, K_VEC, K__N };
static const char *kind_name[K__N] = {"write/read", "sendto/recvfrom", "sendmsg/recvmsg", "writev/readv"};
static const int sizes[] = {64, 1024};
enum mode { M_BARE, M_FLOOR, M_ZTRACE, M__N };

static int a_fd, b_fd;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void make_pair(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (l < 0 || bind(l, (void *)&sa, sizeof(sa)) || listen(l, 1) || getsockname(l, (void *)&sa, &sl))
		die("listen");
	a_fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(a_fd, (void *)&sa, sizeof(sa)))
		die("connect");
	b_fd = accept(l, NULL, NULL);
	if (b_fd < 0)
		die("accept");
	setsockopt(a_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	close(l);
}

static void recv_all(enum kind k, char *buf, int n)
{
	int got = 0;
	while (got < n) {
		ssize_t r;
		struct iovec iov[2] = {{buf + got, (size_t)(n - got) / 2}, {buf + got + (n - got) / 2, (size_t)(n - got) - (size_t)(n - got) / 2}};
		struct msghdr m = {.msg_iov = iov, .msg_iovlen = 1};
		switch (k) {
		case K_RW:
			r = read(b_fd, buf + got, (size_t)(n - got));
			break;
		case K_SENDTO:
			r = recvfrom(b_fd, buf + got, (size_t)(n - got), 0, NULL, NULL);
			break;
		case K_MSG:
			iov[0].iov_len = (size_t)(n - got);
			r = recvmsg(b_fd, &m, 0);
			break;
		default:
			r = readv(b_fd, iov, 2);
			break;
		}
		if (r <= 0)
			die("recv");
		got += (int)r;
	}
}

/* ns per syscall (one send + one receive per iteration). */
/* Each message is a complete HTTP/1.1 response of exactly `size` bytes
 * (head + Content-Length body), so ztrace captures every syscall in full and
 * parses it; with no request before them the responses are counted as
 * orphans and make no spans, so span storage (measured by the nginx bench)
 * does not compete with this loop for the CPUs. Bytes that match no
 * protocol would be marked quiet after a few syscalls and measure only the
 * cheaper quiet path. */
static void http_message(char *buf, int size)
{
	char head[64];
	int body = size, n = 0;

	/* the length's digits change the head's length: iterate to the fixed point */
	for (;;) {
		n = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", body);
		if (n + body == size)
			break;
		body = size - n;
	}
	memcpy(buf, head, (size_t)n);
	memset(buf + n, 'b', (size_t)body);
}

static double run_one(enum kind k, int size, long iters)
{
	char sbuf[1024], rbuf[1024];
	struct iovec iov[2] = {{sbuf, (size_t)size / 2}, {sbuf + size / 2, (size_t)(size - size / 2)}};
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
	uint64_t t0;

	http_message(sbuf, size);
	t0 = now_ns();
	for (long i = 0; i < iters; i++) {
		ssize_t w;
		switch (k) {
		case K_RW:
			w = write(a_fd, sbuf, (size_t)size);
			break;
		case K_SENDTO:
			w = sendto(a_fd, sbuf, (size_t)size, 0, NULL, 0);
			break;
		case K_MSG:
			w = sendmsg(a_fd, &m, 0);
			break;
		default:
			w = writev(a_fd, iov, 2);
			break;
		}
		if (w != size)
			die("send");
		recv_all(k, rbuf, size);
	}
	return (double)(now_ns() - t0) / (double)(iters * 2);
}

static struct bpf_object *floor_obj;
static struct bpf_link *floor_links[32];
static int nlinks;
static pid_t zt_pid;
static char zt_dir[64];

static void mode_on(enum mode m, const char *ztrace, const char *floor_path)
{
	if (m == M_FLOOR) {
		struct bpf_program *p;
		floor_obj = bpf_object__open_file(floor_path, NULL);
		if (!floor_obj || bpf_object__load(floor_obj))
			die("load floor");
		bpf_object__for_each_program(p, floor_obj)
		{
			floor_links[nlinks] = bpf_program__attach(p);
			if (!floor_links[nlinks])
				die("attach floor");
			nlinks++;
		}
	} else if (m == M_ZTRACE) {
		int pfd[2];
		char line[512];
		FILE *f;
		if (pipe(pfd))
			die("pipe");
		zt_pid = fork();
		if (zt_pid == 0) {
			dup2(pfd[1], 2);
			close(pfd[0]);
			execl(ztrace, ztrace, "up", "--data", zt_dir, "--status-interval", "0", (char *)NULL);
			_exit(127);
		}
		close(pfd[1]);
		f = fdopen(pfd[0], "r");
		while (fgets(line, sizeof(line), f))
			if (strstr(line, "tracing this host"))
				break;
		/* keep the pipe open: ztrace writes its final line into it */
		(void)f;
	}
}

static void mode_off(enum mode m)
{
	if (m == M_FLOOR) {
		for (int i = 0; i < nlinks; i++)
			bpf_link__destroy(floor_links[i]);
		nlinks = 0;
		bpf_object__close(floor_obj);
	} else if (m == M_ZTRACE) {
		int st;
		kill(zt_pid, SIGINT);
		waitpid(zt_pid, &st, 0);
	}
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	long iters = argc > 4 ? atol(argv[4]) : 20000;
	int rounds = argc > 5 ? atoi(argv[5]) : 3;
	static double res[M__N][K__N][2][64];
	FILE *out;

	if (argc < 4) {
		fprintf(stderr, "usage: %s ZTRACE_BIN FLOOR_BPF_O OUT_JSON [ITERS] [ROUNDS]\n", argv[0]);
		return 2;
	}
	if (rounds > 32)
		rounds = 32;
	snprintf(zt_dir, sizeof(zt_dir), "/tmp/zt-bench-syscall-%d", getpid());
	make_pair();
	/* warm up */
	run_one(K_RW, 64, iters / 4);
	int nr = 0;
	for (int r = 0; r < rounds; r++) {
		/* A B C C B A: every mode sees early and late machine noise alike */
		enum mode order[6] = {M_BARE, M_FLOOR, M_ZTRACE, M_ZTRACE, M_FLOOR, M_BARE};
		for (int oi = 0; oi < 6; oi++) {
			enum mode m = order[oi];
			mode_on(m, argv[1], argv[2]);
			for (int k = 0; k < K__N; k++)
				for (int s = 0; s < 2; s++)
					res[m][k][s][r * 2 + (oi >= 3)] = run_one(k, sizes[s], iters);
			mode_off(m);
		}
		nr += 2;
	}
	out = fopen(argv[3], "w");
	if (!out)
		die(argv[3]);
	fprintf(out, "{\"bench\":\"syscall\",\"iters\":%ld,\"samples\":%d,\"results\":[", iters, nr);
	printf("%-16s %5s %9s %9s %9s %10s %10s\n", "syscalls", "bytes", "bare ns", "floor ns", "ztrace ns",
	       "added ns", "x floor");
	for (int k = 0; k < K__N; k++)
		for (int s = 0; s < 2; s++) {
			double med[M__N];
			for (int m = 0; m < M__N; m++) {
				qsort(res[m][k][s], (size_t)nr, sizeof(double), cmp_d);
				med[m] = res[m][k][s][nr / 2];
			}
			printf("%-16s %5d %9.0f %9.0f %9.0f %10.0f %10.2f\n", kind_name[k], sizes[s], med[M_BARE],
			       med[M_FLOOR], med[M_ZTRACE], med[M_ZTRACE] - med[M_BARE], med[M_ZTRACE] / med[M_FLOOR]);
			fprintf(out,
				"%s{\"syscalls\":\"%s\",\"bytes\":%d,\"bare_ns\":%.1f,\"floor_ns\":%.1f,\"ztrace_ns\":%.1f,"
				"\"added_ns\":%.1f,\"ratio_to_floor\":%.3f}",
				(k || s) ? "," : "", kind_name[k], sizes[s], med[M_BARE], med[M_FLOOR], med[M_ZTRACE],
				med[M_ZTRACE] - med[M_BARE], med[M_ZTRACE] / med[M_FLOOR]);
		}
	fprintf(out, "]}\n");
	fclose(out);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", zt_dir);
	if (system(cmd)) {
	}
	return 0;
}
