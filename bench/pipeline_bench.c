/* SPDX-License-Identifier: MIT */
/*
 * pipeline_bench - the user-space pipeline (session table, inference,
 * HTTP/1 parser, pairing, span building) on one core, fed from a recording
 * made by `ztrace record`, through the same runner as `ztrace replay`
 * (agent/pipeline.h) with an in-memory source. The recording is loaded into memory once and
 * replayed as many times as needed to reach MIN_EXCHANGES; each pass shifts
 * the socket identities and times so that every pass is new traffic to the
 * session, not a continuation of the previous one. Store and JSON are left
 * out (the store bench measures the store).
 *
 * usage: pipeline_bench FILE MIN_EXCHANGES
 * Prints one JSON object on stdout.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "agent/pipeline.h"
#include "agent/record.h"
#include "bpf/events.h"
#include "session/session.h"
#include "util/num.h"

struct counts {
	uint64_t client, server, other;
};

static int on_span(void *ctx, const struct zt_span *s)
{
	struct counts *c = ctx;

	if (s->tap_side == ZT_TAP_CLIENT_PROCESS)
		c->client++;
	else if (s->tap_side == ZT_TAP_SERVER_PROCESS)
		c->server++;
	else
		c->other++;
	return 0;
}

struct recs {
	unsigned char *buf;
	size_t used, cap;
	size_t *off, n, ncap;
};

static void add(struct recs *r, const void *rec, size_t len)
{
	size_t room = (len + 7) & ~(size_t)7; /* records stay 8-byte aligned */

	if (r->used + room > r->cap) {
		r->cap = (r->cap ? r->cap * 2 : 1 << 24) + room;
		r->buf = realloc(r->buf, r->cap);
	}
	if (r->n == r->ncap) {
		r->ncap = r->ncap ? r->ncap * 2 : 1 << 16;
		r->off = realloc(r->off, r->ncap * sizeof(*r->off));
	}
	if (!r->buf || !r->off) {
		fprintf(stderr, "pipeline_bench: out of memory\n");
		exit(1);
	}
	memcpy(r->buf + r->used, rec, len);
	r->off[r->n++] = r->used;
	r->used += room;
}

/* Moves every record by one pass: new socket identities, later times. */
static void shift(struct recs *r, uint64_t dt)
{
	for (size_t i = 0; i < r->n; i++) {
		struct zt_event_hdr *h = (void *)(r->buf + r->off[i]);
		h->ts_ns += dt;
		if (h->type == ZT_EV_DATA) {
			struct zt_data_ev *d = (void *)h;
			d->enter_ns += dt;
			d->exit_ns += dt;
			d->sk += 1ULL << 48;
			d->sock_ino += 1ULL << 40;
		} else if (h->type == ZT_EV_SOCK_STATE) {
			struct zt_sock_ev *s = (void *)h;
			s->sk += 1ULL << 48;
		}
	}
}

/* The recording in memory as a source: passes over it until `want` client
 * spans were made, shifted each pass (time spent shifting is not counted). */
struct mem_src {
	struct zt_source base;
	struct zt_pipeline *p;
	struct recs *r;
	struct counts *c;
	uint64_t want, dt, passes, shift_ns, bytes;
	size_t next;
};

static int mem_poll(struct zt_source *src, int timeout_ms, char *err, size_t errsz)
{
	struct mem_src *m = (struct mem_src *)src;
	int n = 0;

	if (m->next == m->r->n) {
		/* a pass ended: done, or nothing to pair (no point looping) */
		if (m->c->client >= m->want || (m->c->client == 0 && m->c->server == 0)) {
			src->ended = true;
			return 0;
		}
		uint64_t t0 = zt_clock_ns(CLOCK_MONOTONIC);
		shift(m->r, m->dt);
		m->shift_ns += zt_clock_ns(CLOCK_MONOTONIC) - t0;
		m->next = 0;
	}
	if (m->next == 0)
		m->passes++;
	while (n < 4096 && m->next < m->r->n) {
		const struct zt_event_hdr *h = (void *)(m->r->buf + m->r->off[m->next++]);
		zt_pipeline_event(m->p, h, h->size);
		m->bytes += h->size;
		n++;
	}
	return n;
}

static void mem_close(struct zt_source *src)
{
	(void)src;
}

static const struct zt_source_ops mem_ops = {.name = "memory", .poll = mem_poll, .close = mem_close};

int main(int argc, char **argv)
{
	struct zt_rec_reader rd;
	struct recs r = {0};
	char err[512];
	const void *rec;
	size_t len;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: pipeline_bench FILE MIN_EXCHANGES\n");
		return 2;
	}
	uint64_t want = strtoull(argv[2], NULL, 10);
	if (zt_rec_reader_open(&rd, argv[1], NULL, err, sizeof(err))) {
		fprintf(stderr, "pipeline_bench: %s\n", err);
		return 1;
	}
	while ((rc = zt_rec_next(&rd, &rec, &len, err, sizeof(err))) > 0)
		add(&r, rec, len);
	if (rc < 0) {
		fprintf(stderr, "pipeline_bench: %s\n", err);
		return 1;
	}
	if (r.n == 0) {
		fprintf(stderr, "pipeline_bench: %s holds no events\n", argv[1]);
		return 1;
	}
	const struct zt_event_hdr *first = (void *)(r.buf + r.off[0]), *last = (void *)(r.buf + r.off[r.n - 1]);

	/* one core: the pipeline is single-threaded; pin it so it stays so */
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(sched_getcpu(), &set);
	sched_setaffinity(0, sizeof(set), &set);

	struct counts c = {0};
	struct zt_session_cfg cfg = {.host = "bench", .mono_to_real = rd.hdr.mono_to_real};
	struct zt_pipeline_cfg pc = {.sink_put = on_span, .sink_ctx = &c};
	struct zt_session *sess = NULL;
	zt_session_as_stage(&pc, &sess);
	struct zt_pipeline *pipe = zt_pipeline_new(&pc);
	struct mem_src m = {.base = {.ops = &mem_ops}, .p = pipe, .r = &r, .c = &c, .want = want};
	sess = pipe ? zt_session_new(&cfg, zt_pipeline_span, pipe) : NULL;
	if (!sess)
		return 1;
	m.dt = last->ts_ns - first->ts_ns + 1000000000ULL;
	uint64_t t0 = zt_clock_ns(CLOCK_MONOTONIC);
	rc = zt_pipeline_run(pipe, &m.base, err, sizeof(err));
	uint64_t busy = zt_clock_ns(CLOCK_MONOTONIC) - t0 - m.shift_ns;
	if (rc) {
		fprintf(stderr, "pipeline_bench: %s\n", err);
		return 1;
	}
	uint64_t events = zt_pipeline_stats(pipe)->events;
	const struct zt_session_stats *st = zt_session_stats(sess);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double secs = (double)busy / 1e9;
	printf("{\"file_events\":%zu,\"passes\":%llu,\"events\":%llu,\"bytes\":%llu,\"seconds\":%.3f,"
	       "\"client_spans\":%llu,\"server_spans\":%llu,\"other_spans\":%llu,\"events_per_s\":%.0f,"
	       "\"ns_per_event\":%.1f,\"exchanges_per_s\":%.0f,\"spans_per_s\":%.0f,\"peak_rss_kib\":%ld,"
	       "\"loaded_bytes\":%zu,\"unanswered\":%llu,\"orphan_resp\":%llu,\"bad_events\":%llu,"
	       "\"conns_evicted\":%llu}\n",
	       r.n, (unsigned long long)m.passes, (unsigned long long)events, (unsigned long long)m.bytes, secs,
	       (unsigned long long)c.client, (unsigned long long)c.server, (unsigned long long)c.other,
	       (double)events / secs, (double)busy / (double)events, (double)c.client / secs,
	       (double)(c.client + c.server + c.other) / secs, ru.ru_maxrss, r.used,
	       (unsigned long long)st->unanswered, (unsigned long long)st->orphan_responses,
	       (unsigned long long)st->bad_events, (unsigned long long)st->conns_evicted);
	zt_session_free(sess);
	zt_pipeline_free(pipe);
	zt_rec_reader_close(&rd);
	free(r.buf);
	free(r.off);
	return 0;
}
