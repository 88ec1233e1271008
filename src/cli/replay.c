/* SPDX-License-Identifier: MIT */
/*
 * replay.c - `ztrace replay FILE`: the recorded event stream through the same
 * session layer and store as `ztrace up`. Deterministic: connection timeouts
 * follow the recorded event times, never the wall clock.
 * `ztrace replay --pcap FILE`: the same for a packet capture (the packets
 * become the same records, agent/pcap_source.h).
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/pcap_source.h"
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

/* A pcap or pcapng magic at the start of path. */
static bool looks_like_pcap(const char *path)
{
	static const uint8_t magics[][4] = {{0xd4, 0xc3, 0xb2, 0xa1}, {0xa1, 0xb2, 0xc3, 0xd4}, {0x4d, 0x3c, 0xb2, 0xa1},
					    {0xa1, 0xb2, 0x3c, 0x4d}, {0x34, 0xcd, 0xb2, 0xa1}, {0xa1, 0xb2, 0xcd, 0x34},
					    {0x0a, 0x0d, 0x0d, 0x0a}};
	uint8_t m[4];
	FILE *f = fopen(path, "rb");
	bool yes = false;

	if (!f)
		return false;
	if (fread(m, 1, 4, f) == 4)
		for (size_t i = 0; i < sizeof(magics) / sizeof(magics[0]); i++)
			yes = yes || memcmp(m, magics[i], 4) == 0;
	fclose(f);
	return yes;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: ztrace replay FILE [--data DIR | --no-store] [--json] [--quiet]\n"
		   "       ztrace replay --pcap FILE [--pcap-side both|client|server] [same options]\n\n"
		   "Runs the user-space pipeline on a recording made by 'ztrace record', or on a\n"
		   "packet capture (pcap or pcapng, e.g. from tcpdump -w): TCP is reassembled per\n"
		   "direction, UDP datagrams are taken one by one, and the spans carry the tap\n"
		   "sides client-nic / server-nic and the packets' TCP sequence numbers.\n\n"
		   "  --data DIR        store the spans in DIR/ztrace.db (default ./ztrace-data)\n"
		   "  --store URL       the same as --data: DIR, sqlite:DIR or clickhouse://HOST:PORT/DB\n"
		   "  --no-store        do not store the spans\n"
		   "  --json            print each span as a JSON line on stdout\n"
		   "  --quiet           no summary on stderr\n"
		   "  --pcap            FILE is a packet capture\n"
		   "  --pcap-side SIDE  whose view of each flow makes spans: both ends (default),\n"
		   "                    the client's or the server's (the client of a flow is the\n"
		   "                    sender of its SYN; seen mid-stream, the end whose port is\n"
		   "                    not a well-known server port, else the higher port)\n");
}

int zt_cmd_replay(int argc, char **argv)
{
	enum { OPT_DATA = 1, OPT_NOSTORE, OPT_JSON, OPT_QUIET, OPT_PCAP, OPT_PCAP_SIDE };
	static const struct option opts[] = {
		{"data", required_argument, NULL, OPT_DATA}, {"store", required_argument, NULL, OPT_DATA},
		{"no-store", no_argument, NULL, OPT_NOSTORE},
		{"json", no_argument, NULL, OPT_JSON},       {"quiet", no_argument, NULL, OPT_QUIET},
		{"pcap", no_argument, NULL, OPT_PCAP},       {"pcap-side", required_argument, NULL, OPT_PCAP_SIDE},
		{"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0},
	};
	const char *data = "./ztrace-data";
	int opt, rc, ret = 1, nostore = 0, quiet = 0, pcap = 0;
	struct zt_pcap_cfg pcfg = {0};
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
		case OPT_PCAP:
			pcap = 1;
			break;
		case OPT_PCAP_SIDE:
			if (strcmp(optarg, "both") == 0)
				pcfg.sides = ZT_PCAP_SIDE_BOTH;
			else if (strcmp(optarg, "client") == 0)
				pcfg.sides = ZT_PCAP_SIDE_CLIENT;
			else if (strcmp(optarg, "server") == 0)
				pcfg.sides = ZT_PCAP_SIDE_SERVER;
			else {
				fprintf(stderr, "ztrace replay: invalid --pcap-side '%s': expected both, client or server\n",
					optarg);
				return 2;
			}
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
	if (pcfg.sides && !pcap) {
		fprintf(stderr, "ztrace replay: --pcap-side needs --pcap\n");
		goto cleanup;
	}
	if (pcap ? zt_source_open_pcap(argv[optind], &pcfg, pipe, &src, err, sizeof(err))
		 : zt_source_open_replay(argv[optind], pipe, &src, err, sizeof(err))) {
		fprintf(stderr, "ztrace replay: %s: %s\n", argv[optind], err);
		if (!pcap && looks_like_pcap(argv[optind]))
			fprintf(stderr, "ztrace replay: %s is a packet capture: use --pcap\n", argv[optind]);
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
		const struct zt_pcap_stats *ps = zt_source_pcap_stats(src);
		if (ps)
			fprintf(stderr,
				"ztrace: pcap: %llu packets (%llu tcp, %llu udp), non_ip %llu, other_l4 %llu, "
				"malformed %llu, cut %llu, ip_fragments %llu (reassembled %llu, dropped %llu); "
				"retransmitted %llu segments / %llu bytes, out_of_order %llu (overflow %llu), "
				"gaps %llu / %llu bytes, after_close %llu; flows %llu (closed %llu, idle %llu, "
				"evicted %llu)\n",
				(unsigned long long)ps->packets, (unsigned long long)ps->tcp_segments,
				(unsigned long long)ps->udp_datagrams, (unsigned long long)ps->non_ip,
				(unsigned long long)ps->other_l4, (unsigned long long)ps->malformed,
				(unsigned long long)ps->cut, (unsigned long long)ps->ip_fragments,
				(unsigned long long)ps->ip_reassembled, (unsigned long long)ps->ip_frag_dropped,
				(unsigned long long)ps->retrans_segments, (unsigned long long)ps->retrans_bytes,
				(unsigned long long)ps->ooo_segments, (unsigned long long)ps->ooo_overflow,
				(unsigned long long)ps->gaps, (unsigned long long)ps->gap_bytes,
				(unsigned long long)ps->after_close, (unsigned long long)ps->flows,
				(unsigned long long)ps->flows_closed, (unsigned long long)ps->flows_idle,
				(unsigned long long)ps->flows_evicted);
	}
	if (src && zt_source_pcap_note(src)[0])
		fprintf(stderr, "ztrace replay: note: %s: %s\n", argv[optind], zt_source_pcap_note(src));
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
