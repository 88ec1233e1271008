/* SPDX-License-Identifier: MIT */
/*
 * pipeline_bench - the user-space pipeline (session table, inference,
 * HTTP/1 parser, pairing, span building) on one core, fed from a recording
 * made by `ztrace record`. The recording is loaded into memory once and
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

#include "agent/record.h"
#include "bpf/events.h"
#include "session/session.h"
#include "util/num.h"

struct counts {
	uint64_t client, server, other;
};

static void on_span(void *ctx, const struct zt_span *s)
{
	struct counts *c = ctx;

	if (s->tap_side == ZT_TAP_CLIENT_PROCESS)
		c->client++;
	else if (s->tap_side == ZT_TAP_SERVER_PROCESS)
		c->server++;
	else
		c->other++;
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
	uint64_t dt = last->ts_ns - first->ts_ns + 1000000000ULL;

	/* one core: the pipeline is single-threaded; pin it so it stays so */
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(sched_getcpu(), &set);
	sched_setaffinity(0, sizeof(set), &set);

	struct counts c = {0};
	struct zt_session_cfg cfg = {.host = "bench", .mono_to_real = rd.hdr.mono_to_real};
	struct zt_session *sess = zt_session_new(&cfg, on_span, &c);
	uint64_t events = 0, bytes = 0, passes = 0, busy = 0, now = 0;
	if (!sess)
		return 1;
	while (passes == 0 || c.client < want) {
		if (passes)
			shift(&r, dt);
		uint64_t t0 = zt_clock_ns(CLOCK_MONOTONIC);
		for (size_t i = 0; i < r.n; i++) {
			const struct zt_event_hdr *h = (void *)(r.buf + r.off[i]);
			zt_session_event(sess, h, h->size);
			bytes += h->size;
			if ((++events & 4095) == 0) {
				now = h->ts_ns;
				zt_session_tick(sess, now);
			}
		}
		busy += zt_clock_ns(CLOCK_MONOTONIC) - t0;
		passes++;
		if (c.client == 0 && passes == 1 && c.server == 0)
			break; /* nothing to pair: no point looping */
	}
	uint64_t t0 = zt_clock_ns(CLOCK_MONOTONIC);
	zt_session_flush(sess);
	busy += zt_clock_ns(CLOCK_MONOTONIC) - t0;
	const struct zt_session_stats *st = zt_session_stats(sess);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double secs = (double)busy / 1e9;
	printf("{\"file_events\":%zu,\"passes\":%llu,\"events\":%llu,\"bytes\":%llu,\"seconds\":%.3f,"
	       "\"client_spans\":%llu,\"server_spans\":%llu,\"other_spans\":%llu,\"events_per_s\":%.0f,"
	       "\"ns_per_event\":%.1f,\"exchanges_per_s\":%.0f,\"spans_per_s\":%.0f,\"peak_rss_kib\":%ld,"
	       "\"loaded_bytes\":%zu,\"unanswered\":%llu,\"orphan_resp\":%llu,\"bad_events\":%llu,"
	       "\"conns_evicted\":%llu}\n",
	       r.n, (unsigned long long)passes, (unsigned long long)events, (unsigned long long)bytes, secs,
	       (unsigned long long)c.client, (unsigned long long)c.server, (unsigned long long)c.other,
	       (double)events / secs, (double)busy / (double)events, (double)c.client / secs,
	       (double)(c.client + c.server + c.other) / secs, ru.ru_maxrss, r.used,
	       (unsigned long long)st->unanswered, (unsigned long long)st->orphan_responses,
	       (unsigned long long)st->bad_events, (unsigned long long)st->conns_evicted);
	zt_session_free(sess);
	zt_rec_reader_close(&rd);
	free(r.buf);
	free(r.off);
	return 0;
}
