/* SPDX-License-Identifier: MIT */
/*
 * sources.c - the sources behind struct zt_source: the live kernel programs
 * (bpf_source.c) and a recording (record.c). A pcap source plugs in here
 * later without touching the session.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/pipeline.h"
#include "agent/record.h"
#include "agent/source.h"
#include "util/num.h"

/* ---- live BPF ---- */

struct bpf_src {
	struct zt_source base;
	struct zt_bpf_source *b;
};

static int bpf_poll(struct zt_source *src, int timeout_ms, char *err, size_t errsz)
{
	int n = zt_bpf_source_poll(((struct bpf_src *)src)->b, timeout_ms);

	if (n < 0 && err)
		snprintf(err, errsz, "reading the ring buffer failed: %s", strerror(-n));
	return n;
}

static int bpf_quiet(struct zt_source *src, uint64_t sk, uint64_t ino)
{
	return zt_bpf_source_quiet(((struct bpf_src *)src)->b, sk, ino);
}

static void bpf_counters(struct zt_source *src, uint64_t out[ZT_CNT__COUNT])
{
	zt_bpf_source_counters(((struct bpf_src *)src)->b, out);
}

static void bpf_close(struct zt_source *src)
{
	zt_bpf_source_close(((struct bpf_src *)src)->b);
	free(src);
}

static const struct zt_source_ops bpf_ops = {
    .name = "bpf", .poll = bpf_poll, .quiet = bpf_quiet, .counters = bpf_counters, .close = bpf_close,
};

int zt_source_open_bpf(const struct zt_bpf_opts *o, struct zt_pipeline *p, struct zt_source **out, char *err,
		       size_t errsz)
{
	struct bpf_src *s = calloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	rc = zt_bpf_source_open(o, zt_pipeline_event, p, &s->b, err, errsz);
	if (rc) {
		free(s);
		return rc;
	}
	s->base.ops = &bpf_ops;
	s->base.live = true;
	s->base.mono_to_real = (int64_t)(zt_clock_ns(CLOCK_REALTIME) - zt_clock_ns(CLOCK_MONOTONIC));
	if (gethostname(s->base.host, sizeof(s->base.host)) != 0)
		snprintf(s->base.host, sizeof(s->base.host), "localhost");
	s->base.host[sizeof(s->base.host) - 1] = '\0';
	*out = &s->base;
	return 0;
}

/* ---- recording ---- */

#define REPLAY_BATCH 4096 /* records per poll: the session ticks between */

struct replay_src {
	struct zt_source base;
	struct zt_pipeline *p;
	struct zt_rec_reader rd; /* large: holds one event buffer */
};

static int replay_poll(struct zt_source *src, int timeout_ms, char *err, size_t errsz)
{
	struct replay_src *s = (struct replay_src *)src;
	const void *rec;
	size_t len;
	int n = 0, rc;

	while (n < REPLAY_BATCH) {
		rc = zt_rec_next(&s->rd, &rec, &len, err, errsz);
		if (rc <= 0) {
			src->ended = true;
			return rc < 0 ? -EILSEQ : n;
		}
		zt_pipeline_event(s->p, rec, len);
		n++;
	}
	return n;
}

static void replay_close(struct zt_source *src)
{
	struct replay_src *s = (struct replay_src *)src;

	zt_rec_reader_close(&s->rd);
	free(s);
}

static const struct zt_source_ops replay_ops = {.name = "replay", .poll = replay_poll, .close = replay_close};

int zt_source_open_replay(const char *path, struct zt_pipeline *p, struct zt_source **out, char *err,
			  size_t errsz)
{
	struct replay_src *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return -ENOMEM;
	if (zt_rec_reader_open(&s->rd, path, NULL, err, errsz)) {
		free(s);
		return -EINVAL;
	}
	s->p = p;
	s->base.ops = &replay_ops;
	s->base.mono_to_real = s->rd.hdr.mono_to_real;
	snprintf(s->base.host, sizeof(s->base.host), "%.*s", (int)sizeof(s->rd.hdr.host), s->rd.hdr.host);
	*out = &s->base;
	return 0;
}

void zt_source_close(struct zt_source *src)
{
	if (src)
		src->ops->close(src);
}
