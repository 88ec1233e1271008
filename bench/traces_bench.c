/* SPDX-License-Identifier: MIT */
/*
 * traces_bench.c - the cost of trace assembly at ingest, and how fast a
 * trace is read back.
 *
 * usage: traces_bench MODE DIR N [NQUERY]
 *   MODE  gen   generate the spans only (the generator's own cost)
 *         raw   put_spans() straight into the store (no joiner): the baseline
 *         joiner the joiner with no store behind it (zt_store_sink with
 *               st NULL): assembly's own CPU, apart from writing its columns
 *         assembly  the joiner and the RED rollup with no store: what
 *               `ztrace up` computes per span apart from writing it (the
 *               rollup drained every second of span time); prints a digest
 *               of everything they give out (released spans' trace ids,
 *               parents and links, late links, aliases, rollup rows,
 *               /metrics series, counters): two builds that assemble the
 *               same give the same digest
 *         sink  zt_store_sink (joiner + store), the way `ztrace up` writes,
 *               then NQUERY (default 1000) query_trace() calls on random
 *               trace ids and a few query_traces(limit 20)
 *   DIR   must not hold a store yet
 *   N     spans to write
 * Prints one JSON object.
 *
 * The spans are whole requests as ztrace sees them across a few hosts: a load
 * driver's client span, the frontend's server span for it, and 2 or 3
 * downstream calls of that frontend, each seen from both sides (the
 * frontend's client span, the backend's server span). Both sides of an
 * exchange carry the same TCP seqs; the frontend's calls carry the thread
 * context (syscall_trace_id_req) of the server span whose thread made them,
 * in the same process, inside its time. So every span but the driver's has
 * one parent to find: per request 2k+1 links (k+1 tcp_seq, k thread) for
 * 2k+2 spans. 30% of requests carry an X-Request-ID (propagated to the
 * calls), 10% a trace id on the driver's exchange, 2% a backend error.
 *
 * Spans come out in the order they complete, across concurrent requests:
 * generated per request, held in a small heap by end time, and emitted once
 * no request started later can end before them -- children before parents,
 * as the session layer delivers them. Requests start every GAP_NS (5000
 * requests, ~35k spans per second of traffic), so the joiner's default
 * 300 ms window holds ~10k spans: under its 16384, as on a busy host. Its
 * 30 s key ttl would need ~1M keys at this rate: keys_evicted_early counts
 * the keys dropped sooner (at 262144, after ~7.5 s).
 */
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "store/sink.h"
#include "store/store.h"
#include "trace/joiner.h"
#include "trace/rollup.h"

#define T0 1700000000000000000ull
#define GAP_NS 200000ull /* a request every 200 us: 5000 req/s */
#define POOL 8192        /* spans generated and not yet emitted, at most */
#define NSAMPLE_MAX 100000

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static void hex(char *dst, uint64_t v, int digits)
{
	static const char h[] = "0123456789abcdef";

	for (int i = digits - 1; i >= 0; i--, v >>= 4)
		dst[i] = h[v & 15];
	dst[digits] = '\0';
}

/* This process's CPU time (user + system): the machine is shared, so the
 * CPU a run takes is steadier than its wall time. */
static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long file_size(const char *dir, const char *name)
{
	char path[4096];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &sb) == 0 ? (long long)sb.st_size : 0;
}

static void v4(uint8_t ip[16], uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	memset(ip, 0, 16);
	ip[10] = ip[11] = 0xff;
	ip[12] = a;
	ip[13] = b;
	ip[14] = c;
	ip[15] = d;
}

/* The services. Index 0 is the driver, 1-2 the frontends (one per host),
 * 3.. the backends a frontend calls. */
static const struct svc {
	const char *host, *process;
	uint32_t pid;
	uint8_t ip;
	uint16_t port;
	uint64_t host_hash; /* session.c's syscall trace ids: host_hash << 40 ^ counter */
	const char *method, *domain, *resource, *endpoint; /* what is asked of it */
} svcs[] = {
    {"load-01", "loadgen", 4100, 5, 0, 0x11a2b3c4d5ull, NULL, NULL, NULL, NULL},
    {"web-01", "gateway", 2200, 11, 8080, 0x21b2c3d4e5ull, "GET", "shop.example.com",
     "/api/v1/users/%u/orders?limit=20", "GET /api/v1/users/{id}/orders"},
    {"web-02", "gateway", 2300, 12, 8080, 0x31c2d3e4f5ull, "GET", "shop.example.com",
     "/api/v1/users/%u/orders?limit=20", "GET /api/v1/users/{id}/orders"},
    {"users-01", "python3", 3100, 21, 8000, 0x41d2e3f405ull, "GET", "users.internal:8000", "/users/%u",
     "GET /users/{id}"},
    {"inventory-01", "java", 3200, 22, 8443, 0x51e2f30415ull, "POST", "inventory.internal:8443",
     "/v2/items/%u/reserve", "POST /v2/items/{id}/reserve"},
    {"payments-01", "node", 3300, 23, 3000, 0x61f3041525ull, "PUT", "payments.internal:3000",
     "/v1/payments/%u/capture", "PUT /v1/payments/{id}/capture"},
    {"search-01", "envoy", 3400, 24, 9200, 0x7103142535ull, "GET", "search.internal:9200",
     "/orders/_search?user=%u", "GET /orders/_search"},
};
#define NBACKENDS 4

/* ---- emission in end order: a binary min-heap on end_ns over a pool ---- */

struct gen {
	struct zt_span pool[POOL];
	uint32_t heap[POOL], nheap;
	uint32_t freel[POOL], nfree;
	uint64_t span_ctr, req, ctx_ctr[8];
};

static int heap_less(const struct gen *g, uint32_t a, uint32_t b)
{
	return g->pool[g->heap[a]].end_ns < g->pool[g->heap[b]].end_ns;
}

static void heap_swap(struct gen *g, uint32_t a, uint32_t b)
{
	uint32_t t = g->heap[a];

	g->heap[a] = g->heap[b];
	g->heap[b] = t;
}

static struct zt_span *heap_alloc(struct gen *g)
{
	return g->nfree ? &g->pool[g->freel[--g->nfree]] : NULL;
}

static void heap_push(struct gen *g, struct zt_span *s)
{
	uint32_t i = g->nheap++;

	g->heap[i] = (uint32_t)(s - g->pool);
	while (i && heap_less(g, i, (i - 1) / 2)) {
		heap_swap(g, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

/* Removes the span with the earliest end; the caller copies it out before
 * the next heap_alloc. */
static struct zt_span *heap_pop(struct gen *g)
{
	uint32_t top = g->heap[0], i = 0;

	g->heap[0] = g->heap[--g->nheap];
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < g->nheap && heap_less(g, l, m))
			m = l;
		if (r < g->nheap && heap_less(g, r, m))
			m = r;
		if (m == i)
			break;
		heap_swap(g, i, m);
		i = m;
	}
	g->freel[g->nfree++] = top;
	return &g->pool[top];
}

/* One side of an exchange from client svc c to server svc v. The fields are
 * written one by one, like the session layer does; no memset of the 2 KB
 * struct beyond what a fresh span needs. */
static void side(struct gen *g, struct zt_span *s, const struct svc *c, const struct svc *v, int server,
		 uint32_t tid, uint32_t id, uint64_t r)
{
	const struct svc *at = server ? v : c;

	memset(s, 0, sizeof(*s));
	hex(s->span_uid, mix64(++g->span_ctr ^ 0x5bd1e995), 16);
	s->tap_side = server ? ZT_TAP_SERVER_PROCESS : ZT_TAP_CLIENT_PROCESS;
	snprintf(s->host, sizeof(s->host), "%s.example.net", at->host);
	s->netns = 4026531840u;
	s->pid = at->pid;
	s->tid_req = s->tid_resp = tid;
	snprintf(s->process, sizeof(s->process), "%s", at->process);
	s->l7_protocol = ZT_L7_HTTP1;
	memcpy(s->version, "1.1", 4);
	snprintf(s->request_type, sizeof(s->request_type), "%s", v->method);
	snprintf(s->request_domain, sizeof(s->request_domain), "%s", v->domain);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(s->request_resource, sizeof(s->request_resource), v->resource, id);
#pragma GCC diagnostic pop
	snprintf(s->endpoint, sizeof(s->endpoint), "%s", v->endpoint);
	s->response_code = 200;
	s->response_status = ZT_RS_OK;
	s->req_bytes = 180 + r % 300;
	s->resp_bytes = 400 + (r >> 9) % 4000;
	v4(s->client_ip, 10, 0, 0, c->ip);
	s->client_port = (uint16_t)(32768 + (r >> 20) % 28000);
	v4(s->server_ip, 10, 0, 0, v->ip);
	s->server_port = v->port;
	s->l4_protocol = IPPROTO_TCP;
	s->req_tcp_seq = (uint32_t)(r >> 32);
	s->resp_tcp_seq = (uint32_t)r;
	s->flags = ZT_SPAN_HAS_SEQ | ZT_SPAN_HAS_RESP_SEQ;
}

static void set_times(struct zt_span *s, uint64_t start, uint64_t end)
{
	s->start_ns = start;
	s->end_ns = end;
	s->duration_ns = end - start;
}

static void set_error(struct zt_span *s)
{
	s->response_code = 503;
	s->response_status = ZT_RS_SERVER_ERROR;
	memcpy(s->response_exception, "Service Unavailable", sizeof("Service Unavailable"));
}

/* Generates the next request's spans into the heap; returns its start. */
static uint64_t gen_request(struct gen *g, uint64_t *nspans)
{
	uint64_t q = ++g->req, h = mix64(q);
	uint64_t start = T0 + q * GAP_NS + (h & 0xffff); /* jitter < 66 us */
	const struct svc *drv = &svcs[0], *fe = &svcs[1 + q % 2];
	unsigned k = 2 + (unsigned)((h >> 16) & 1);
	uint32_t id = 1000 + (uint32_t)((h >> 20) % 900000);
	uint32_t fe_tid = fe->pid + 1 + (uint32_t)((h >> 40) % 8);
	int xrid = (h >> 44) % 10 < 3, tparent = (h >> 48) % 10 == 0;
	char xr[ZT_XRID_LEN];
	uint64_t fe_ctx = fe->host_hash << 40 ^ ++g->ctx_ctr[1 + q % 2];

	if (xrid)
		hex(xr, mix64(h + 1), 32);

	/* the frontend's calls, one after another, in its thread */
	uint64_t t = start + 50000 + 200000;
	for (unsigned i = 0; i < k; i++) {
		unsigned b = 3 + (unsigned)((q + i) % NBACKENDS);
		const struct svc *be = &svcs[b];
		uint64_t r = mix64(h ^ (i + 1) * 0x9e3779b97f4a7c15ull);
		uint64_t sstart = t + 40000, send = sstart + 300000 + (r >> 40) % 2700000;
		struct zt_span *cs = heap_alloc(g), *ss;

		side(g, cs, fe, be, 0, fe_tid, id, r);
		set_times(cs, t, send + 40000);
		cs->syscall_trace_id_req = cs->syscall_trace_id_resp = fe_ctx;
		ss = heap_alloc(g);
		side(g, ss, fe, be, 1, be->pid + 1 + (uint32_t)(r % 16), id, r);
		set_times(ss, sstart, send);
		ss->syscall_trace_id_req = ss->syscall_trace_id_resp = be->host_hash << 40 ^ ++g->ctx_ctr[b];
		if (xrid) {
			memcpy(cs->x_request_id, xr, sizeof(xr));
			memcpy(ss->x_request_id, xr, sizeof(xr));
		}
		if ((r >> 8) % 50 == 0) {
			set_error(cs);
			set_error(ss);
		}
		heap_push(g, cs);
		heap_push(g, ss);
		t = cs->end_ns + 100000;
	}
	/* the frontend's answer, then the driver's view of it */
	struct zt_span *s0 = heap_alloc(g), *c0;
	side(g, s0, drv, fe, 1, fe_tid, id, h);
	set_times(s0, start + 50000, t + 200000);
	s0->syscall_trace_id_req = s0->syscall_trace_id_resp = fe_ctx;
	c0 = heap_alloc(g);
	side(g, c0, drv, fe, 0, drv->pid + 1, id, h); /* a plain client: no thread context */
	set_times(c0, start, s0->end_ns + 50000);
	if (xrid) {
		memcpy(s0->x_request_id, xr, sizeof(xr));
		memcpy(c0->x_request_id, xr, sizeof(xr));
	}
	if (tparent) {
		hex(c0->trace_id, mix64(h + 2), 16);
		hex(c0->trace_id + 16, mix64(h + 3), 16);
		hex(c0->span_id, mix64(h + 4), 16);
		memcpy(s0->trace_id, c0->trace_id, sizeof(c0->trace_id));
		memcpy(s0->span_id, c0->span_id, sizeof(c0->span_id));
		hex(s0->parent_span_id, mix64(h + 5), 16);
	}
	heap_push(g, s0);
	heap_push(g, c0);
	*nspans += 2 + 2 * k;
	return start;
}

/* ---- sinks ---- */

enum mode { M_GEN, M_RAW, M_SINK, M_JOINER, M_ASM };

struct run {
	enum mode mode;
	struct zt_store *st;
	struct zt_store_sink *sink;
	/* trace ids of released roots, reservoir-sampled (uniform over traces) */
	char (*sample)[ZT_TRACE_ID_LEN];
	unsigned nsample, want;
	uint64_t roots, rng;
	/* assembly */
	struct zt_joiner *j;
	struct zt_rollup *roll;
	uint64_t digest, drain_s;
};

/* ---- assembly: the joiner and the rollup, their outputs digested ---- */

static void dg(struct run *ru, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		ru->digest = (ru->digest ^ b[i]) * 1099511628211ull;
}

static void dg_str(struct run *ru, const char *s)
{
	dg(ru, s, strlen(s) + 1);
}

static void dg_u64(struct run *ru, uint64_t v)
{
	dg(ru, &v, sizeof(v));
}

static int dg_rows(void *ctx, const struct zt_rollup_row *rows, size_t n)
{
	struct run *ru = ctx;

	for (size_t i = 0; i < n; i++) {
		const struct zt_rollup_key *k = &rows[i].k;
		const struct zt_rollup_val *v = &rows[i].v;
		dg_u64(ru, k->bucket_ns);
		dg_u64(ru, (uint64_t)k->res_s << 16 | (uint64_t)k->kind << 8 | k->l7);
		dg_u64(ru, (uint64_t)k->pid << 32 | k->peer_pid);
		dg_str(ru, k->host);
		dg_str(ru, k->service);
		dg_str(ru, k->endpoint);
		dg_str(ru, k->peer);
		dg_str(ru, k->peer_host);
		dg_u64(ru, v->requests);
		dg(ru, v->errors, sizeof(v->errors));
		dg_u64(ru, v->sum_ns);
		dg_u64(ru, v->hist.count);
		for (unsigned b = 0; b < ZT_HIST_N; b++)
			if (v->hist.c[b]) {
				dg_u64(ru, b);
				dg_u64(ru, v->hist.c[b]);
			}
	}
	return 0;
}

static int dg_prom(void *ctx, const struct zt_prom_series *p)
{
	struct run *ru = ctx;

	dg_u64(ru, (uint64_t)p->kind << 8 | p->l7);
	dg_str(ru, p->service);
	dg_str(ru, p->endpoint);
	dg_str(ru, p->peer);
	dg_u64(ru, p->requests);
	dg(ru, p->errors, sizeof(p->errors));
	dg_u64(ru, p->sum_ns);
	dg(ru, p->le, sizeof(p->le));
	return 0;
}

static int on_released(void *ctx, const struct zt_span *s);

static int asm_span(void *ctx, const struct zt_span *s)
{
	struct run *ru = ctx;

	zt_rollup_span(ru->roll, s);
	dg_str(ru, s->span_uid);
	dg_str(ru, s->trace_id);
	dg_str(ru, s->parent_uid);
	dg_u64(ru, s->link_kind);
	/* as the sink drains: every second (here of span time) */
	if (s->end_ns / 1000000000ull != ru->drain_s) {
		ru->drain_s = s->end_ns / 1000000000ull;
		zt_rollup_drain(ru->roll, dg_rows, ru);
	}
	return on_released(ctx, s);
}

static int asm_link(void *ctx, const char *child, const char *parent, uint8_t kind)
{
	struct run *ru = ctx;

	zt_rollup_link(ru->roll, child, parent, kind);
	dg_str(ru, "link");
	dg_str(ru, child);
	dg_str(ru, parent);
	dg_u64(ru, kind);
	return 0;
}

static int asm_alias(void *ctx, const char *alias, const char *trace_id)
{
	struct run *ru = ctx;

	dg_str(ru, "alias");
	dg_str(ru, alias);
	dg_str(ru, trace_id);
	return 0;
}

/* The stream ended: what is held and waiting, then the totals. */
static int asm_end(struct run *ru)
{
	struct zt_rollup_stats rs;
	int err = zt_joiner_flush(ru->j);

	zt_rollup_end(ru->roll);
	zt_rollup_drain(ru->roll, dg_rows, ru);
	zt_rollup_prom_each(ru->roll, dg_prom, ru);
	zt_rollup_get_stats(ru->roll, &rs);
	dg(ru, &rs, sizeof(rs));
	dg(ru, zt_joiner_stats(ru->j), sizeof(struct zt_joiner_stats));
	return err;
}

static int on_released(void *ctx, const struct zt_span *s)
{
	struct run *ru = ctx;

	if (s->parent_uid[0])
		return 0;
	/* one root per trace here (every other span gets a parent) */
	ru->roots++;
	if (ru->nsample < ru->want) {
		memcpy(ru->sample[ru->nsample++], s->trace_id, ZT_TRACE_ID_LEN);
	} else {
		ru->rng = mix64(ru->rng + 1);
		uint64_t j = ru->rng % ru->roots;
		if (j < ru->want)
			memcpy(ru->sample[j], s->trace_id, ZT_TRACE_ID_LEN);
	}
	return 0;
}

static int emit(struct run *ru, const struct zt_span *s)
{
	switch (ru->mode) {
	case M_GEN:
		return 0;
	case M_RAW:
		return ru->st->ops->put_spans(ru->st, s, 1);
	case M_SINK:
	case M_JOINER:
		return zt_store_sink_put(ru->sink, s);
	case M_ASM:
		return zt_joiner_put(ru->j, s);
	}
	return -EINVAL;
}

/* ---- queries ---- */

struct tcount {
	unsigned spans, roots;
	int bad; /* a span whose trace_id is not the one asked for */
	const char *want;
};

static int count_span(void *ctx, const struct zt_span *s)
{
	struct tcount *c = ctx;

	c->spans++;
	if (!s->parent_uid[0])
		c->roots++;
	if (strcmp(s->trace_id, c->want) != 0)
		c->bad = 1;
	return 0;
}

static int count_summary(void *ctx, const struct zt_trace_summary *t)
{
	(*(unsigned *)ctx)++;
	(void)t;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(const double *v, unsigned n, double p)
{
	unsigned i = (unsigned)(p * (n - 1) + 0.5);

	return v[i < n ? i : n - 1];
}

int main(int argc, char **argv)
{
	struct run ru = {0};
	struct rusage rus;
	char *end;
	int err = 0;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: traces_bench gen|raw|sink|joiner|assembly DIR N [NQUERY]\n");
		return 2;
	}
	if (!strcmp(argv[1], "gen"))
		ru.mode = M_GEN;
	else if (!strcmp(argv[1], "raw"))
		ru.mode = M_RAW;
	else if (!strcmp(argv[1], "sink"))
		ru.mode = M_SINK;
	else if (!strcmp(argv[1], "joiner"))
		ru.mode = M_JOINER;
	else if (!strcmp(argv[1], "assembly"))
		ru.mode = M_ASM;
	else {
		fprintf(stderr, "traces_bench: bad MODE\n");
		return 2;
	}
	const char *dir = argv[2];
	unsigned long n = strtoul(argv[3], &end, 10);
	if (*end || n == 0) {
		fprintf(stderr, "traces_bench: bad N\n");
		return 2;
	}
	ru.want = 1000;
	if (argc == 5) {
		ru.want = (unsigned)strtoul(argv[4], &end, 10);
		if (*end || ru.want == 0 || ru.want > NSAMPLE_MAX) {
			fprintf(stderr, "traces_bench: bad NQUERY\n");
			return 2;
		}
	}

	/* one core: ingest is one thread in `up` (the writer); pinned so the
	 * figure is a one-core figure whatever the scheduler does */
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(sched_getcpu(), &set);
	sched_setaffinity(0, sizeof(set), &set);

	struct gen *g = calloc(1, sizeof(*g));
	ru.sample = calloc(ru.want, sizeof(*ru.sample));
	if (!g || !ru.sample)
		return 1;
	for (uint32_t i = 0; i < POOL; i++)
		g->freel[g->nfree++] = POOL - 1 - i;

	if (ru.mode == M_RAW || ru.mode == M_SINK) {
		err = zt_store_open(dir, ZT_STORE_RW, &ru.st);
		if (err) {
			fprintf(stderr, "traces_bench: open: %s\n", ru.st ? zt_store_errmsg(ru.st) : strerror(-err));
			return 1;
		}
	}
	if (ru.mode == M_SINK || ru.mode == M_JOINER) {
		struct zt_joiner_cfg jc = {0}; /* the defaults, as `ztrace up` uses them */
		ru.sink = zt_store_sink_new(ru.st, &jc, on_released, &ru);
		if (!ru.sink)
			return 1;
	}
	if (ru.mode == M_ASM) {
		struct zt_joiner_cfg jc = {0};
		struct zt_joiner_out jo = {asm_span, asm_link, asm_alias, &ru, NULL};
		ru.digest = 1469598103934665603ull;
		ru.j = zt_joiner_new(&jc, &jo);
		ru.roll = zt_rollup_new(&(struct zt_rollup_cfg){0}); /* as the sink makes it */
		if (!ru.j || !ru.roll)
			return 1;
	}

	/* Whole requests are generated; the run stops at the first request
	 * boundary at or past N spans, so every trace is complete. */
	uint64_t generated = 0, emitted = 0, cksum = 0;
	double t0 = now_s(), c0 = cpu_s();
	for (;;) {
		uint64_t horizon = UINT64_MAX; /* the end: everything goes */
		if (generated < n) {
			/* a request needs 8 slots; the pool is far larger than the
			 * spans in flight (~500), so this only guards */
			while (g->nfree < 8 && g->nheap) {
				struct zt_span *s = heap_pop(g);
				cksum += s->end_ns;
				emitted++;
				if ((err = emit(&ru, s)))
					goto fail;
			}
			horizon = gen_request(g, &generated);
		} else if (!g->nheap) {
			break;
		}
		/* requests generated later start after `horizon` and end after
		 * it: a span ending before it is next in completion order */
		while (g->nheap && g->pool[g->heap[0]].end_ns < horizon) {
			struct zt_span *s = heap_pop(g);
			cksum += s->end_ns;
			emitted++;
			if ((err = emit(&ru, s)))
				goto fail;
		}
	}
	if ((ru.mode == M_SINK || ru.mode == M_JOINER) && (err = zt_store_sink_end(ru.sink)))
		goto fail;
	if (ru.mode == M_ASM && (err = asm_end(&ru)))
		goto fail;
	if (ru.mode == M_SINK || ru.mode == M_JOINER)
		err = zt_store_sink_flush(ru.sink);
	else if (ru.mode == M_RAW)
		err = ru.st->ops->flush(ru.st);
	if (err)
		goto fail;
	double t1 = now_s(), c1 = cpu_s();
	getrusage(RUSAGE_SELF, &rus);
	long ingest_rss = rus.ru_maxrss;

	struct zt_joiner_stats js = {0};
	if (ru.mode == M_SINK || ru.mode == M_JOINER) {
		js = *zt_store_sink_joiner_stats(ru.sink);
		zt_store_sink_free(ru.sink);
	} else if (ru.mode == M_ASM) {
		js = *zt_joiner_stats(ru.j);
		zt_joiner_free(ru.j);
		zt_rollup_free(ru.roll);
	}
	long long wal_open = file_size(dir, "ztrace.db-wal");
	unsigned long long written = ru.st ? ru.st->spans_written : 0;
	if (ru.st)
		ru.st->ops->close(ru.st); /* the last close checkpoints the WAL */
	double t2 = now_s();
	long long dbsz = file_size(dir, "ztrace.db"), wal = file_size(dir, "ztrace.db-wal");

	printf("{\"mode\": \"%s\", \"n\": %llu, \"ingest_s\": %.6f, \"spans_per_s\": %.1f, \"close_s\": %.6f,"
	       " \"spans_written\": %llu, \"db_bytes\": %lld, \"wal_bytes\": %lld, \"wal_bytes_open\": %lld,"
	       " \"bytes_per_span\": %.1f, \"peak_rss_kib\": %ld, \"cksum\": %llu, \"ingest_cpu_s\": %.6f,"
	       " \"spans_per_cpu_s\": %.1f",
	       argv[1], (unsigned long long)emitted, t1 - t0, (double)emitted / (t1 - t0), t2 - t1, written, dbsz,
	       wal, wal_open, (double)(dbsz + wal) / (double)emitted, ingest_rss, (unsigned long long)cksum, c1 - c0,
	       (double)emitted / (c1 - c0));
	if (ru.mode == M_GEN || ru.mode == M_RAW) {
		printf("}\n");
		return ru.mode == M_RAW && written != emitted;
	}
	printf(", \"joiner\": {\"spans\": %llu, \"released\": %llu, \"links_tcp_seq\": %llu,"
	       " \"links_thread\": %llu, \"links_x_request_id\": %llu, \"links_explicit\": %llu,"
	       " \"late_links\": %llu, \"aliases\": %llu, \"window_full\": %llu, \"keys_evicted_early\": %llu,"
	       " \"containment_refused\": %llu}, \"traces\": %llu",
	       (unsigned long long)js.spans, (unsigned long long)js.released,
	       (unsigned long long)js.links[ZT_LINK_TCP_SEQ], (unsigned long long)js.links[ZT_LINK_THREAD],
	       (unsigned long long)js.links[ZT_LINK_X_REQUEST_ID], (unsigned long long)js.links[ZT_LINK_EXPLICIT],
	       (unsigned long long)js.late_links, (unsigned long long)js.aliases,
	       (unsigned long long)js.window_full, (unsigned long long)js.keys_evicted_early,
	       (unsigned long long)js.containment_refused, (unsigned long long)ru.roots);
	if (ru.mode == M_JOINER) {
		printf("}\n");
		return 0;
	}
	if (ru.mode == M_ASM) {
		printf(", \"digest\": \"%016llx\"}\n", (unsigned long long)ru.digest);
		return 0;
	}

	/* Reads, the way `ztrace trace` does them: a fresh read-only open. */
	struct zt_store *rs = NULL;
	err = zt_store_open(dir, ZT_STORE_RO, &rs);
	if (err) {
		fprintf(stderr, "traces_bench: open ro: %s\n", rs ? zt_store_errmsg(rs) : strerror(-err));
		return 1;
	}
	double *ms = calloc(ru.nsample, sizeof(double));
	unsigned complete = 0, nspans_min = UINT32_MAX, nspans_max = 0;
	if (!ms)
		return 1;
	for (unsigned i = 0; i < ru.nsample; i++) {
		struct tcount c = {.want = ru.sample[i]};
		double a = now_s();
		err = rs->ops->query_trace(rs, ru.sample[i], count_span, &c);
		ms[i] = (now_s() - a) * 1e3;
		if (err) {
			fprintf(stderr, "traces_bench: query_trace %s: %s\n", ru.sample[i], zt_store_errmsg(rs));
			return 1;
		}
		/* a whole request: 6 or 8 spans, one root, all under the id asked */
		if ((c.spans == 6 || c.spans == 8) && c.roots == 1 && !c.bad)
			complete++;
		if (c.spans < nspans_min)
			nspans_min = c.spans;
		if (c.spans > nspans_max)
			nspans_max = c.spans;
	}
	qsort(ms, ru.nsample, sizeof(double), cmp_double);
	printf(", \"query_trace\": {\"n\": %u, \"median_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f,"
	       " \"complete\": %u, \"spans_min\": %u, \"spans_max\": %u}",
	       ru.nsample, pct(ms, ru.nsample, 0.5), pct(ms, ru.nsample, 0.99), ms[ru.nsample - 1], complete,
	       nspans_min, nspans_max);

	/* trace summaries, 20 most recent, as `ztrace traces` lists them */
	enum { NLIST = 5 };
	double lms[NLIST];
	unsigned listed = 0;
	for (int i = 0; i < NLIST; i++) {
		struct zt_trace_query tq = {.limit = 20};
		listed = 0;
		double a = now_s();
		err = rs->ops->query_traces(rs, &tq, count_summary, &listed);
		lms[i] = (now_s() - a) * 1e3;
		if (err) {
			fprintf(stderr, "traces_bench: query_traces: %s\n", zt_store_errmsg(rs));
			return 1;
		}
	}
	double first = lms[0];
	qsort(lms, NLIST, sizeof(double), cmp_double);
	printf(", \"query_traces\": {\"runs\": %d, \"limit\": 20, \"listed\": %u, \"first_ms\": %.3f,"
	       " \"median_ms\": %.3f, \"max_ms\": %.3f}}\n",
	       NLIST, listed, first, lms[NLIST / 2], lms[NLIST - 1]);
	rs->ops->close(rs);
	free(ms);
	free(ru.sample);
	free(g);
	return complete == ru.nsample ? 0 : 1;

fail:
	fprintf(stderr, "traces_bench: %s\n",
		ru.mode == M_SINK ? zt_store_sink_errmsg(ru.sink) : ru.st ? zt_store_errmsg(ru.st) : "?");
	return 1;
}
