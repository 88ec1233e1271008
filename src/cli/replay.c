/* SPDX-License-Identifier: MIT */
/*
 * replay.c - `ztrace replay FILE`: the recorded event stream through the same
 * session layer and store as `ztrace up`. Deterministic: connection timeouts
 * follow the recorded event times, never the wall clock.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/pipeline.h"
#include "cli/cli.h"
#include "model/span_json.h"
#include "session/session.h"
#include "store/sink.h"
#include "store/store.h"
#include "util/num.h"

struct replay_ctx {
	struct zt_session *sess;
	struct zt_store *store;
	struct zt_store_sink *sink;
	int json;
};

/* The sink, inline and in stream order (replay is deterministic): the
 * store sink, made once the recording opened (a bad file creates no store). */
static int sink_put(void *ctx, const struct zt_span *s)
{
	return zt_store_sink_put(((struct replay_ctx *)ctx)->sink, s);
}

static int sink_end(void *ctx)
{
	return zt_store_sink_end(((struct replay_ctx *)ctx)->sink);
}

static int sink_flush(void *ctx)
{
	return zt_store_sink_flush(((struct replay_ctx *)ctx)->sink);
}

static const char *sink_errmsg(void *ctx)
{
	return zt_store_sink_errmsg(((struct replay_ctx *)ctx)->sink);
}

/* --json: each span as the joiner releases it, in stream order. */
static int print_span(void *ctx, const struct zt_span *s)
{
	(void)ctx;
	return zt_span_print_json(stdout, s);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: ztrace replay FILE [--data DIR | --no-store] [--json] [--quiet]\n\n"
		   "Runs the user-space pipeline on a recording made by 'ztrace record'.\n\n"
		   "  --data DIR   store the spans in DIR/ztrace.db (default ./ztrace-data)\n"
		   "  --no-store   do not store the spans\n"
		   "  --json       print each span as a JSON line on stdout\n"
		   "  --quiet      no summary on stderr\n");
}

int zt_cmd_replay(int argc, char **argv)
{
	enum { OPT_DATA = 1, OPT_NOSTORE, OPT_JSON, OPT_QUIET };
	static const struct option opts[] = {
		{"data", required_argument, NULL, OPT_DATA}, {"no-store", no_argument, NULL, OPT_NOSTORE},
		{"json", no_argument, NULL, OPT_JSON},       {"quiet", no_argument, NULL, OPT_QUIET},
		{"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0},
	};
	const char *data = "./ztrace-data";
	int opt, rc, ret = 1, nostore = 0, quiet = 0;
	struct replay_ctx r;
	struct zt_pipeline *pipe = NULL;
	struct zt_pipeline_cfg pc;
	struct zt_source *src = NULL;
	struct zt_session_cfg cfg;
	char err[512];
	uint64_t t0, t1;

	memset(&r, 0, sizeof(r));
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			usage(stdout);
			return 0;
		case OPT_DATA:
			data = optarg;
			break;
		case OPT_NOSTORE:
			nostore = 1;
			break;
		case OPT_JSON:
			r.json = 1;
			break;
		case OPT_QUIET:
			quiet = 1;
			break;
		default:
			fprintf(stderr, "ztrace replay: see 'ztrace replay --help'\n");
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "ztrace replay: expected one FILE argument (see 'ztrace replay --help')\n");
		return 2;
	}
	memset(&pc, 0, sizeof(pc));
	zt_session_as_stage(&pc, &r.sess);
	pc.sink_put = sink_put;
	pc.sink_end = sink_end;
	pc.sink_flush = sink_flush;
	pc.sink_errmsg = sink_errmsg;
	pc.sink_ctx = &r;
	pipe = zt_pipeline_new(&pc);
	if (!pipe)
		goto cleanup;
	if (zt_source_open_replay(argv[optind], pipe, &src, err, sizeof(err))) {
		fprintf(stderr, "ztrace replay: %s: %s\n", argv[optind], err);
		goto cleanup;
	}
	if (!nostore) {
		rc = zt_store_open(data, ZT_STORE_RW, &r.store);
		if (rc) {
			fprintf(stderr, "ztrace replay: cannot open the store in %s: %s\n", data,
				r.store ? zt_store_errmsg(r.store) : strerror(-rc));
			goto cleanup;
		}
		if (r.store->notice[0])
			fprintf(stderr, "ztrace replay: warning: %s\n", r.store->notice);
	}
	{
		struct zt_joiner_cfg jc = {0};
		r.sink = zt_store_sink_new(r.store, &jc, r.json ? print_span : NULL, NULL);
	}
	if (!r.sink)
		goto cleanup;
	memset(&cfg, 0, sizeof(cfg));
	cfg.host = src->host;
	cfg.mono_to_real = src->mono_to_real;
	r.sess = zt_session_new(&cfg, zt_pipeline_span, pipe);
	if (!r.sess)
		goto cleanup;
	t0 = zt_clock_ns(CLOCK_MONOTONIC);
	rc = zt_pipeline_run(pipe, src, err, sizeof(err));
	t1 = zt_clock_ns(CLOCK_MONOTONIC);
	if (rc)
		fprintf(stderr, "ztrace replay: %s: %s\n", argv[optind], err);
	if (!quiet) {
		const struct zt_session_stats *st = zt_session_stats(r.sess);
		uint64_t n = zt_pipeline_stats(pipe)->events;
		double secs = (double)(t1 - t0) / 1e9;
		fprintf(stderr,
			"ztrace: replayed %llu events in %.3f s (%.0f events/s): %llu spans, %llu requests, %llu "
			"responses; unanswered %llu, orphan_resp %llu, truncated %llu, lost_sync %llu, "
			"unclassified conns %llu, evicted %llu, bad_events %llu\n",
			(unsigned long long)n, secs, secs > 0 ? n / secs : 0, (unsigned long long)st->spans,
			(unsigned long long)st->requests, (unsigned long long)st->responses,
			(unsigned long long)st->unanswered, (unsigned long long)st->orphan_responses,
			(unsigned long long)st->truncated, (unsigned long long)st->lost_sync,
			(unsigned long long)st->conns_unclassified, (unsigned long long)st->conns_evicted,
			(unsigned long long)st->bad_events);
	}
	ret = rc ? 1 : 0;
cleanup:
	zt_session_free(r.sess);
	zt_source_close(src);
	zt_pipeline_free(pipe);
	zt_store_sink_free(r.sink);
	if (r.store)
		r.store->ops->close(r.store);
	return ret;
}
