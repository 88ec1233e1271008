/* SPDX-License-Identifier: MIT */
/*
 * proto_bench.c - parse throughput of one protocol's parser on recorded
 * traffic (the golden fixtures under tests/data/proto/PROTO/, real client
 * and server bytes captured by `ztrace record`).
 *
 * usage: proto_bench PROTO SECONDS FILE.zrec...
 *   Loads the data events of the files, groups them into connections
 *   (socket and inode, per file, in event order), keeps the connections
 *   whose first captured bytes infer as PROTO (zt_proto_infer with the
 *   events' hints, as the session does), and then parses all of them again
 *   and again for about SECONDS: per connection a state of state_size
 *   bytes, init(), feed() per event as one segment, finish(). Prints one
 *   JSON object: passes, messages and bytes per pass (wire bytes: what the
 *   syscalls moved; captured: what the parser could read), elapsed seconds.
 *   Messages are counted on every pass and must not change (checked).
 *
 * Only the parser runs: no pairing, spans or store (bench/pipeline_bench
 * measures the whole pipeline).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/record.h"
#include "bpf/events.h"
#include "model/l7.h"
#include "proto/proto.h"

struct seg_rec {
	struct zt_seg seg;
	uint8_t *data;
};

struct conn {
	uint64_t sk, ino;
	int file;
	struct seg_rec *segs;
	size_t n, cap;
	const struct zt_proto_ops *ops;
};

static struct conn *conns;
static size_t nconns, capconns;

static struct conn *conn_of(uint64_t sk, uint64_t ino, int file)
{
	for (size_t i = nconns; i > 0; i--)
		if (conns[i - 1].sk == sk && conns[i - 1].ino == ino && conns[i - 1].file == file)
			return &conns[i - 1];
	if (nconns == capconns) {
		capconns = capconns ? capconns * 2 : 64;
		conns = realloc(conns, capconns * sizeof(*conns));
		if (!conns)
			exit(1);
	}
	memset(&conns[nconns], 0, sizeof(conns[0]));
	conns[nconns].sk = sk;
	conns[nconns].ino = ino;
	conns[nconns].file = file;
	return &conns[nconns++];
}

static int load(const char *path, int file)
{
	struct zt_rec_reader r;
	char err[256];
	const void *rec;
	size_t len;
	int rc;

	if (zt_rec_reader_open(&r, path, NULL, err, sizeof(err))) {
		fprintf(stderr, "proto_bench: %s\n", err);
		return -1;
	}
	while ((rc = zt_rec_next(&r, &rec, &len, err, sizeof(err))) == 1) {
		const struct zt_event_hdr *h = rec;
		if (h->type != ZT_EV_DATA || len < sizeof(struct zt_data_ev))
			continue;
		const struct zt_data_ev *d = rec;
		struct conn *c = conn_of(d->sk, d->sock_ino, file);
		if (!c->ops && d->cap_len) {
			struct zt_infer_hints hi = {.l4 = (uint8_t)d->l4, .dir = d->dir, .lport = d->lport, .rport = d->rport};
			c->ops = zt_proto_infer((const uint8_t *)(d + 1), d->cap_len, &hi);
			if (!c->ops)
				c->ops = (const void *)-1; /* nothing: skipped */
		}
		if (c->n == c->cap) {
			c->cap = c->cap ? c->cap * 2 : 16;
			c->segs = realloc(c->segs, c->cap * sizeof(*c->segs));
			if (!c->segs)
				exit(1);
		}
		struct seg_rec *s = &c->segs[c->n++];
		memset(s, 0, sizeof(*s));
		s->data = malloc(d->cap_len ? d->cap_len : 1);
		if (!s->data)
			exit(1);
		memcpy(s->data, d + 1, d->cap_len);
		s->seg.data = s->data;
		s->seg.caplen = d->cap_len;
		s->seg.len = d->bytes;
		s->seg.enter_ns = d->enter_ns;
		s->seg.exit_ns = d->exit_ns;
		s->seg.tid = h->tid;
		s->seg.seq = d->tcp_seq;
		s->seg.has_seq = (d->flags & ZT_DF_HAS_SEQ) != 0;
		s->seg.dir = d->dir;
		s->seg.eof = (d->flags & ZT_DF_EOF) != 0;
	}
	zt_rec_reader_close(&r);
	if (rc < 0) {
		fprintf(stderr, "proto_bench: %s: %s\n", path, err);
		return -1;
	}
	return 0;
}

static void count_msg(void *ctx, const struct zt_msg *m)
{
	(void)m;
	(*(uint64_t *)ctx)++;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const struct zt_proto_ops *want;
	uint64_t wire = 0, captured = 0, segs = 0, first = 0, passes = 0;
	double secs, t0, el;
	void *state = NULL;
	size_t state_cap = 0, used = 0;

	if (argc < 4) {
		fprintf(stderr, "usage: proto_bench PROTO SECONDS FILE.zrec...\n");
		return 2;
	}
	want = zt_proto_by_name(argv[1]);
	secs = atof(argv[2]);
	if (!want || secs <= 0) {
		fprintf(stderr, "proto_bench: unknown protocol '%s' or bad SECONDS\n", argv[1]);
		return 2;
	}
	for (int i = 3; i < argc; i++)
		if (load(argv[i], i))
			return 1;
	for (size_t i = 0; i < nconns; i++) {
		if (conns[i].ops != want)
			continue;
		used++;
		for (size_t k = 0; k < conns[i].n; k++) {
			wire += conns[i].segs[k].seg.len;
			captured += conns[i].segs[k].seg.caplen;
			segs++;
		}
	}
	if (!used) {
		fprintf(stderr, "proto_bench: no %s connection in the files\n", want->name);
		return 1;
	}
	state_cap = want->state_size;
	state = malloc(state_cap ? state_cap : 1);
	if (!state)
		return 1;
	t0 = now_s();
	do {
		uint64_t msgs = 0;
		for (size_t i = 0; i < nconns; i++) {
			struct conn *c = &conns[i];
			if (c->ops != want)
				continue;
			memset(state, 0, state_cap);
			want->init(state);
			for (size_t k = 0; k < c->n; k++)
				want->feed(state, &c->segs[k].seg, count_msg, &msgs);
			want->finish(state, 0, count_msg, &msgs);
		}
		if (passes == 0)
			first = msgs;
		else if (msgs != first) {
			fprintf(stderr, "proto_bench: pass %llu counted %llu messages, the first %llu\n",
				(unsigned long long)passes, (unsigned long long)msgs, (unsigned long long)first);
			return 1;
		}
		passes++;
		el = now_s() - t0;
	} while (el < secs);
	printf("{\"protocol\": \"%s\", \"connections\": %zu, \"passes\": %llu, \"messages_per_pass\": %llu, "
	       "\"segments_per_pass\": %llu, \"wire_bytes_per_pass\": %llu, \"captured_bytes_per_pass\": %llu, "
	       "\"seconds\": %.6f}\n",
	       want->name, used, (unsigned long long)passes, (unsigned long long)first, (unsigned long long)segs,
	       (unsigned long long)wire, (unsigned long long)captured, el);
	free(state);
	return 0;
}
