/* SPDX-License-Identifier: MIT */
/*
 * ingest_bench.c - `ztrace server` ingest in spans/s on one core: the
 * agent protocol over loopback TCP into zt_ingest (decode, the joiner with
 * trace assembly on, the SQLite store, acks after each durable flush).
 *
 * usage: ingest_bench DIR [SPANS] [BATCH]
 *   DIR: a new directory for the store and the dedup state.
 *   SPANS (default 500000) in batches of BATCH (default 2048, the agent's
 *   default) from one agent connection, at most 32 batches unacknowledged
 *   (the agent's window).
 *
 * The spans are HTTP exchanges as the session builds them: client and
 * server span of each exchange with equal TCP seqs (the joiner links them:
 * tcp_seq), a few processes and endpoints, IPv4 addresses. The batches are
 * encoded (zstd) before the clock starts, so the figure is the server's:
 * the server thread is pinned to one CPU and its CPU time is measured too.
 *
 * Prints one JSON object: spans, seconds (first byte sent to last ack),
 * spans_per_s (wall), server_cpu_s, spans_per_cpu_s, stored (count back).
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent/ship_wire.h"
#include "server/ingest.h"
#include "store/sink.h"
#include "store/store.h"

static const char *ID = "0123456789abcdef0123456789abcdef";

struct srv {
	struct zt_ingest *g;
	volatile sig_atomic_t stop;
};

static void *srv_main(void *arg)
{
	struct srv *s = arg;
	char err[256];
	cpu_set_t cs;

	CPU_ZERO(&cs);
	CPU_SET(0, &cs);
	pthread_setaffinity_np(pthread_self(), sizeof(cs), &cs);
	zt_ingest_run(s->g, &s->stop, err, sizeof(err));
	return NULL;
}

static double now_s(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void make_span(struct zt_span *s, uint64_t i)
{
	static const char *procs[] = {"nginx", "api", "python3", "node"};
	static const char *eps[] = {"GET /users/{id}", "POST /orders", "GET /health", "GET /items/{id}"};
	uint64_t x = i / 2;

	zt_span_clear(s);
	snprintf(s->span_uid, sizeof(s->span_uid), "%016llx", (unsigned long long)(i * 0x9e3779b97f4a7c15ULL));
	s->start_ns = 1700000000000000000ULL + x * 20000 + (i & 1) * 100;
	s->end_ns = s->start_ns + 800000 - (i & 1) * 200;
	s->duration_ns = s->end_ns - s->start_ns;
	s->tap_side = (i & 1) ? ZT_TAP_SERVER_PROCESS : ZT_TAP_CLIENT_PROCESS;
	snprintf(s->host, sizeof(s->host), "node-%llu", (unsigned long long)(x % 3));
	s->netns = 4026531840u;
	s->pid = 1000 + (uint32_t)(x % 4) + (i & 1) * 10;
	s->tid_req = s->tid_resp = s->pid;
	snprintf(s->process, sizeof(s->process), "%s", procs[(x + (i & 1)) % 4]);
	s->l7_protocol = ZT_L7_HTTP1;
	snprintf(s->version, sizeof(s->version), "1.1");
	snprintf(s->request_type, sizeof(s->request_type), "%s", x % 4 == 1 ? "POST" : "GET");
	snprintf(s->request_domain, sizeof(s->request_domain), "svc.internal");
	snprintf(s->request_resource, sizeof(s->request_resource), "/users/%llu?page=2",
		 (unsigned long long)(x % 10000));
	snprintf(s->endpoint, sizeof(s->endpoint), "%s", eps[x % 4]);
	s->response_status = x % 50 ? ZT_RS_OK : ZT_RS_SERVER_ERROR;
	s->response_code = x % 50 ? 200 : 500;
	s->req_bytes = 180 + x % 64;
	s->resp_bytes = 900 + x % 512;
	s->client_ip[10] = s->client_ip[11] = 0xff;
	s->client_ip[12] = 10, s->client_ip[15] = (uint8_t)(x % 200 + 1);
	s->server_ip[10] = s->server_ip[11] = 0xff;
	s->server_ip[12] = 10, s->server_ip[15] = 250;
	s->client_port = (uint16_t)(30000 + x % 20000);
	s->server_port = 8080;
	s->l4_protocol = 6;
	s->req_tcp_seq = (uint32_t)(x * 7919);
	s->resp_tcp_seq = (uint32_t)(x * 104729);
	s->flags = ZT_SPAN_HAS_SEQ | ZT_SPAN_HAS_RESP_SEQ;
	s->syscall_trace_id_req = x * 3 + 1;
	zt_attrs_add(&s->attributes, "http.user_agent", "Go-http-client/1.1", 18);
}

int main(int argc, char **argv)
{
	uint64_t nspans = argc > 2 ? strtoull(argv[2], NULL, 10) : 500000;
	uint32_t bsz = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 10) : 2048;
	struct zt_ingest_cfg ic = {.listen = "127.0.0.1:0"};
	struct zt_store *st;
	struct srv s = {0};
	pthread_t th;
	char err[256], h[64], p[8];
	size_t nb;
	struct zt_wbuf *frames, hello = {0};
	struct zt_span *spans;

	if (argc < 2 || !bsz || bsz > ZT_WIRE_BATCH_MAX) {
		fprintf(stderr, "usage: ingest_bench DIR [SPANS] [BATCH]\n");
		return 2;
	}
	ic.state_dir = argv[1];
	nb = (nspans + bsz - 1) / bsz;
	frames = calloc(nb, sizeof(*frames));
	spans = malloc(bsz * sizeof(*spans));
	for (size_t b = 0; b < nb; b++) {
		uint32_t n = b == nb - 1 && nspans % bsz ? nspans % bsz : bsz;
		for (uint32_t i = 0; i < n; i++)
			make_span(&spans[i], b * bsz + i);
		if (zt_wire_batch_encode(ID, b + 1, 0, spans, n, &frames[b]))
			return 1;
	}
	Ztrace__Agent__Hello hm = ZTRACE__AGENT__HELLO__INIT;
	hm.protocol_version = ZT_WIRE_VERSION;
	hm.agent_id = (char *)ID;
	hm.first_unacked_seq = 1;
	zt_wire_frame_put(&hello, ZT_WIRE_HELLO, &hm.base, false);
	if (zt_store_open(argv[1], ZT_STORE_RW, &st) || zt_ingest_new(&ic, st, &s.g, err, sizeof(err))) {
		fprintf(stderr, "ingest_bench: %s\n", err);
		return 1;
	}
	pthread_create(&th, NULL, srv_main, &s);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
	zt_wire_hostport(zt_ingest_address(s.g), h, sizeof(h), p, sizeof(p));
	getaddrinfo(h, p, &hints, &res);
	int fd = socket(res->ai_family, SOCK_STREAM, 0);
	if (connect(fd, res->ai_addr, res->ai_addrlen))
		return 1;
	freeaddrinfo(res);
	clockid_t cpu;
	pthread_getcpuclockid(th, &cpu);
	double t0 = now_s(CLOCK_MONOTONIC), c0 = now_s(cpu);
	if (write(fd, hello.p, hello.len) != (ssize_t)hello.len)
		return 1;
	uint64_t acked = 0;
	size_t sent = 0;
	uint8_t in[65536];
	size_t inlen = 0;
	struct zt_wbuf scratch = {0};
	while (acked < nb) {
		while (sent < nb && sent < acked + 32) {
			const uint8_t *q = frames[sent].p;
			size_t left = frames[sent].len;
			while (left) {
				ssize_t w = write(fd, q, left);
				if (w <= 0)
					return 1;
				q += w;
				left -= (size_t)w;
			}
			sent++;
		}
		ssize_t r = read(fd, in + inlen, sizeof(in) - inlen);
		if (r <= 0) {
			fprintf(stderr, "ingest_bench: the server closed the connection\n");
			return 1;
		}
		inlen += (size_t)r;
		for (;;) {
			struct zt_wire_frame f;
			ProtobufCMessage *m;
			ssize_t n = zt_wire_frame_next(in, inlen, &f);
			if (n <= 0)
				break;
			if (!zt_wire_msg_decode(&f, &scratch, &m)) {
				uint64_t a = ((Ztrace__Agent__Ack *)m)->acked_seq;
				if (a > acked)
					acked = a;
				protobuf_c_message_free_unpacked(m, NULL);
			}
			memmove(in, in + n, inlen - (size_t)n);
			inlen -= (size_t)n;
		}
	}
	double t1 = now_s(CLOCK_MONOTONIC), c1 = now_s(cpu);
	struct zt_ingest_stats is;
	zt_ingest_get_stats(s.g, &is);
	close(fd);
	s.stop = 1;
	pthread_join(th, NULL);
	const struct zt_joiner_stats *js = zt_store_sink_joiner_stats(zt_ingest_sink(s.g));
	printf("{\"spans\": %llu, \"batch\": %u, \"seconds\": %.3f, \"spans_per_s\": %.0f, \"server_cpu_s\": %.3f, "
	       "\"spans_per_cpu_s\": %.0f, \"stored\": %llu, \"tcp_seq_links\": %llu}\n",
	       (unsigned long long)nspans, bsz, t1 - t0, nspans / (t1 - t0), c1 - c0, nspans / (c1 - c0),
	       (unsigned long long)st->spans_written, (unsigned long long)js->links[ZT_LINK_TCP_SEQ]);
	(void)is;
	zt_ingest_free(s.g);
	st->ops->close(st);
	return 0;
}
