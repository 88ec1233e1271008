/* SPDX-License-Identifier: MIT */
/*
 * replay_source.c - a recording made by `ztrace record` (record.c) behind
 * struct zt_source. The live source is at the end of bpf_source.c; a pcap
 * source plugs in beside them later without touching the session.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/pipeline.h"
#include "agent/record.h"
#include "util/num.h"

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
