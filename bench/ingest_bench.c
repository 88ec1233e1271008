/* SPDX-License-Identifier: MIT */
/*
 * ingest_bench.c - `ztrace server` ingest in spans/s on one core: the
 * agent protocol over loopback TCP into zt_ingest (decode, the joiner with
 * trace assembly on, the SQLite store, acks after each durable flush).
 *
 * usage: ingest_bench DIR [SPANS] [BATCH] [STORE_URL]
 *   DIR: a new directory for the store and the dedup state.
 *   STORE_URL: another store instead of SQLite in DIR, e.g.
 *   clickhouse://127.0.0.1:8123/bench: each run writes to a database of
 *   its own (the URL's database name + "_runN", the rest of the URL kept),
 *   so no run finds the previous one's spans (the store would drop them
 *   as duplicates). bench/ingest_clickhouse.py starts a clickhouse-server
 *   and runs this.
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
 * Compared with the same spans put straight into the same sink (joiner +
 * SQLite store, flushed every batch: what `ztrace up` does), in one
 * process, runs alternated A B B A: the difference is what the protocol,
 * the decoding, the acks and the dedup state cost.
 *
 * Prints one JSON object: for each mode the median over its runs of
 * seconds (wall: first byte sent to last ack), spans_per_s (wall),
 * cpu_s (the server thread's CPU time), spans_per_cpu_s; the ratio of the
 * CPU rates; and that every run stored every span.
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
#include <sys/stat.h>
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

struct result {
	double wall, cpu;
	uint64_t stored, links;
};

static int run_ingest(const char *dir, const char *url, struct zt_wbuf *frames, size_t nb, struct result *r)
{
	struct zt_ingest_cfg ic = {.listen = "127.0.0.1:0", .state_dir = dir};
	struct zt_wbuf hello = {0}, scratch = {0};
	struct zt_store *st;
	struct srv s = {0};
	pthread_t th;
	char err[256], h[64], p[8];
	Ztrace__Agent__Hello hm = ZTRACE__AGENT__HELLO__INIT;

	hm.protocol_version = ZT_WIRE_VERSION;
	hm.agent_id = (char *)ID;
	hm.first_unacked_seq = 1;
	zt_wire_frame_put(&hello, ZT_WIRE_HELLO, &hm.base, false);
	err[0] = '\0';
	if (mkdir(dir, 0700) && errno != EEXIST)
		return -1;
	if (zt_store_open(url, ZT_STORE_RW, &st)) {
		fprintf(stderr, "ingest_bench: cannot open the store %s: %s\n", url, st ? zt_store_errmsg(st) : "");
		return -1;
	}
	if (zt_ingest_new(&ic, st, &s.g, err, sizeof(err))) {
		fprintf(stderr, "ingest_bench: %s\n", err);
		return -1;
	}
	pthread_create(&th, NULL, srv_main, &s);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
	zt_wire_hostport(zt_ingest_address(s.g), h, sizeof(h), p, sizeof(p));
	getaddrinfo(h, p, &hints, &res);
	int fd = socket(res->ai_family, SOCK_STREAM, 0);
	if (connect(fd, res->ai_addr, res->ai_addrlen))
		return -1;
	freeaddrinfo(res);
	clockid_t cpu;
	pthread_getcpuclockid(th, &cpu);
	double t0 = now_s(CLOCK_MONOTONIC), c0 = now_s(cpu);
	if (write(fd, hello.p, hello.len) != (ssize_t)hello.len)
		return -1;
	uint64_t acked = 0;
	size_t sent = 0, inlen = 0;
	static uint8_t in[65536];
	while (acked < nb) {
		while (sent < nb && sent < acked + 32) { /* the agent's window */
			const uint8_t *q = frames[sent].p;
			size_t left = frames[sent].len;
			while (left) {
				ssize_t w = write(fd, q, left);
				if (w <= 0)
					return -1;
				q += w;
				left -= (size_t)w;
			}
			sent++;
		}
		ssize_t n = read(fd, in + inlen, sizeof(in) - inlen);
		if (n <= 0) {
			fprintf(stderr, "ingest_bench: the server closed the connection\n");
			return -1;
		}
		inlen += (size_t)n;
		for (;;) {
			struct zt_wire_frame f;
			ProtobufCMessage *m;
			ssize_t k = zt_wire_frame_next(in, inlen, &f);
			if (k <= 0)
				break;
			if (!zt_wire_msg_decode(&f, &scratch, &m)) {
				uint64_t a = ((Ztrace__Agent__Ack *)m)->acked_seq;
				if (a > acked)
					acked = a;
				protobuf_c_message_free_unpacked(m, NULL);
			}
			memmove(in, in + k, inlen - (size_t)k);
			inlen -= (size_t)k;
		}
	}
	r->wall = now_s(CLOCK_MONOTONIC) - t0;
	r->cpu = now_s(cpu) - c0;
	close(fd);
	s.stop = 1;
	pthread_join(th, NULL);
	r->links = zt_store_sink_joiner_stats(zt_ingest_sink(s.g))->links[ZT_LINK_TCP_SEQ];
	r->stored = st->spans_written;
	zt_ingest_free(s.g);
	st->ops->close(st);
	zt_wbuf_free(&hello);
	zt_wbuf_free(&scratch);
	return 0;
}

struct sink_job {
	const char *url;
	uint64_t nspans;
	uint32_t bsz;
	struct result *r;
	int rc;
};

/* The same spans straight into the same sink, on a thread pinned like the
 * server's, flushed after every batch as the server's commits do. */
static void *sink_main(void *arg)
{
	struct sink_job *j = arg;
	struct zt_joiner_cfg jc = {0};
	struct zt_store *st;
	struct zt_store_sink *k;
	struct zt_span sp;
	cpu_set_t cs;

	CPU_ZERO(&cs);
	CPU_SET(0, &cs);
	pthread_setaffinity_np(pthread_self(), sizeof(cs), &cs);
	if (zt_store_open(j->url, ZT_STORE_RW, &st) || !(k = zt_store_sink_new(st, &jc, NULL, NULL))) {
		j->rc = -1;
		return NULL;
	}
	double t0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_THREAD_CPUTIME_ID);
	for (uint64_t i = 0; i < j->nspans; i++) {
		make_span(&sp, i); /* a few hundred ns: small next to the store */
		zt_store_sink_put(k, &sp);
		if ((i + 1) % j->bsz == 0 || i + 1 == j->nspans) {
			zt_store_sink_tick(k, (uint64_t)(now_s(CLOCK_REALTIME) * 1e9));
			zt_store_sink_flush(k);
		}
	}
	zt_store_sink_end(k);
	zt_store_sink_flush(k);
	while (st->spans_pending) { /* a buffering store (ClickHouse) holds some: until written */
		usleep(1000);
		zt_store_sink_flush(k);
	}
	j->r->wall = now_s(CLOCK_MONOTONIC) - t0;
	j->r->cpu = now_s(CLOCK_THREAD_CPUTIME_ID) - c0;
	j->r->links = zt_store_sink_joiner_stats(k)->links[ZT_LINK_TCP_SEQ];
	j->r->stored = st->spans_written;
	zt_store_sink_free(k);
	st->ops->close(st);
	return NULL;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	uint64_t nspans = argc > 2 ? strtoull(argv[2], NULL, 10) : 200000;
	uint32_t bsz = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 10) : 2048;
	static const char order[] = "ABBA"; /* A: agent protocol, B: the sink alone */
	double wall[2][2], cpu[2][2];
	int n[2] = {0, 0}, all_stored = 1;
	struct zt_wbuf *frames;
	struct zt_span *spans;
	size_t nb;
	char dir[4096], url[4096];
	const char *store_url = argc > 4 ? argv[4] : NULL;

	if (argc < 2 || !nspans || !bsz || bsz > ZT_WIRE_BATCH_MAX) {
		fprintf(stderr, "usage: ingest_bench DIR [SPANS] [BATCH] [STORE_URL]\n");
		return 2;
	}
	if (mkdir(argv[1], 0700) && errno != EEXIST)
		return 1;
	nb = (nspans + bsz - 1) / bsz;
	frames = calloc(nb, sizeof(*frames));
	spans = malloc(bsz * sizeof(*spans));
	for (size_t b = 0; b < nb; b++) {
		uint32_t k = b == nb - 1 && nspans % bsz ? nspans % bsz : bsz;
		for (uint32_t i = 0; i < k; i++)
			make_span(&spans[i], b * bsz + i);
		if (zt_wire_batch_encode(ID, b + 1, 0, spans, k, &frames[b]))
			return 1;
	}
	for (int i = 0; i < 4; i++) {
		int m = order[i] - 'A';
		struct result r = {0};
		snprintf(dir, sizeof(dir), "%s/run%d", argv[1], i);
		if (store_url) { /* DB -> DB_runN, before any ?query */
			const char *q = strchr(store_url, '?');
			int at = q ? (int)(q - store_url) : (int)strlen(store_url);
			snprintf(url, sizeof(url), "%.*s_run%d%s", at, store_url, i, q ? q : "");
		} else {
			snprintf(url, sizeof(url), "%s", dir);
		}
		if (m == 0) {
			if (run_ingest(dir, url, frames, nb, &r))
				return 1;
		} else {
			struct sink_job j = {url, nspans, bsz, &r, 0};
			pthread_t th;
			pthread_create(&th, NULL, sink_main, &j);
			pthread_join(th, NULL);
			if (j.rc)
				return 1;
		}
		if (r.stored != nspans || r.links != nspans / 2)
			all_stored = 0;
		wall[m][n[m]] = r.wall;
		cpu[m][n[m]++] = r.cpu;
		fprintf(stderr, "ingest_bench: run %d %s: %.2f s wall, %.2f s cpu, %llu stored, %llu links\n", i,
			m ? "sink" : "agent protocol", r.wall, r.cpu, (unsigned long long)r.stored,
			(unsigned long long)r.links);
	}
	double wa = median(wall[0], 2), ca = median(cpu[0], 2), wb = median(wall[1], 2), cb = median(cpu[1], 2);
	printf("{\"store\": \"%s\", \"spans\": %llu, \"batch\": %u, "
	       "\"agent_protocol\": {\"seconds\": %.3f, \"spans_per_s\": %.0f, \"cpu_s\": %.3f, \"spans_per_cpu_s\": %.0f}, "
	       "\"sink_only\": {\"seconds\": %.3f, \"spans_per_s\": %.0f, \"cpu_s\": %.3f, \"spans_per_cpu_s\": %.0f}, "
	       "\"cpu_rate_ratio_protocol_vs_sink\": %.2f, \"all_stored_and_linked\": %s}\n",
	       store_url ? store_url : "sqlite", (unsigned long long)nspans, bsz, wa, nspans / wa, ca, nspans / ca, wb, nspans / wb, cb, nspans / cb,
	       (nspans / ca) / (nspans / cb), all_stored ? "true" : "false");
	return all_stored ? 0 : 1;
}
