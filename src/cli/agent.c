/* SPDX-License-Identifier: MIT */
/*
 * agent.c - `ztrace agent --server HOST:PORT`: the capture pipeline of
 * `ztrace up` (live BPF source -> session -> queue -> writer thread) with
 * the shipping sink (agent/ship.h) instead of the joiner and the store:
 * spans are batched, spooled to disk, sent, and deleted once the server
 * acknowledged them.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "agent/pipeline.h"
#include "agent/ship.h"
#include "agent/source.h"
#include "cli/cli.h"
#include "cli/live.h"
#include "proto/http1.h"
#include "proto/trace_hdr.h"
#include "session/session.h"
#include "util/duration.h"
#include "util/num.h"

enum {
	OPT_SERVER = 200, /* above the live options and the short ones */
	OPT_SPOOL,
	OPT_SPOOL_MAX,
	OPT_HOST,
	OPT_NETNS,
	OPT_BATCH_SPANS,
	OPT_BATCH_AGE,
	OPT_DRAIN,
};

struct agent_ctx {
	struct zt_session *sess;
	struct zt_pipeline *pipe;
	struct zt_ship *ship;
	bool quiet_status;
	uint64_t sp0;
};

/* The drop counters the server shows for this agent (AgentStats): the
 * kernel's, the session's and the pipeline's; the ship adds its own. */
static void push_counters(struct agent_ctx *a)
{
	static const char *names[ZT_CNT__COUNT + 8];
	uint64_t vals[ZT_CNT__COUNT + 8], kc[ZT_CNT__COUNT] = {0};
	struct zt_source *src = zt_pipeline_source(a->pipe);
	const struct zt_session_stats *st = zt_session_stats(a->sess);
	const struct zt_pipeline_stats *ps = zt_pipeline_stats(a->pipe);
	size_t n = 0;

	if (src && src->ops->counters)
		src->ops->counters(src, kc);
	for (int i = 0; i < ZT_CNT__COUNT; i++, n++) {
		names[n] = zt_counter_names[i];
		vals[n] = kc[i];
	}
	names[n] = "evicted", vals[n++] = st->conns_evicted;
	names[n] = "unanswered", vals[n++] = st->unanswered;
	names[n] = "orphan_resp", vals[n++] = st->orphan_responses;
	names[n] = "bad_events", vals[n++] = st->bad_events;
	names[n] = "queue_full", vals[n++] = ps->queue_full;
	names[n] = "spans", vals[n++] = st->spans;
	zt_ship_set_counters(a->ship, names, vals, n);
}

static void agent_on_status(void *ctx, struct zt_pipeline *p, double secs)
{
	struct agent_ctx *a = ctx;
	struct zt_ship_stats s;

	push_counters(a);
	if (a->quiet_status)
		return;
	zt_ship_get_stats(a->ship, &s);
	fprintf(stderr,
		"ztrace agent: %.0f spans/s, %llu spans, server %s, acked seq %llu, spool %llu batches (%llu KB)%s\n",
		secs > 0 ? (s.spans_in - a->sp0) / secs : 0, (unsigned long long)s.spans_in,
		s.connected ? "connected" : "away", (unsigned long long)s.acked_seq,
		(unsigned long long)s.spool_batches, (unsigned long long)(s.spool_bytes / 1000),
		s.spool_full_spans ? " | lost: spool_full" : "");
	a->sp0 = s.spans_in;
}

static void agent_usage(FILE *f)
{
	fprintf(f,
		"usage: ztrace agent --server HOST:PORT [--spool DIR] [--spool-max SIZE] [--host NAME]\n"
		"                    [--netns self|PATH|INODE] [--batch-spans N] [--batch-age DURATION]\n"
		"                    [--drain-timeout DURATION] [--payload-cap BYTES] [--status-interval SECONDS]\n"
		"                    [--max-conns N] [--capture-path auto|fast|compat] [--duration DURATION]\n"
		"                    [--request-id-headers LIST] [--redact-params LIST] [--verbose]\n\n"
		"Traces every process on this host (eBPF, as 'ztrace up') and ships the spans to a\n"
		"'ztrace server'. Each batch is written to the spool directory before it is sent and\n"
		"deleted once the server acknowledged it: while the server is away the agent keeps\n"
		"tracing into the spool and reconnects; a killed agent resends its spool when started\n"
		"again. Ctrl-C sends what is left (up to --drain-timeout) and exits.\n\n"
		"  --server HOST:PORT       the server's agent port (ztrace server --listen-agents)\n"
		"  --spool DIR              spool directory; holds the agent id too (default ./ztrace-spool)\n"
		"  --spool-max SIZE         spool bound (default 256MB); when full, new batches are\n"
		"                           dropped and counted (spool_full)\n"
		"  --host NAME              host name in spans and at the server (default: this host's)\n"
		"  --netns self|PATH|INODE  ship only spans of one network namespace: this process's,\n"
		"                           the one at PATH (/run/netns/NAME), or by inode (default: all)\n"
		"  --batch-spans N          spans per batch at most (default 2048)\n"
		"  --batch-age DURATION     a batch is sent at most this long after its first span (1s)\n"
		"  --drain-timeout DURATION time given at exit to get the spool acknowledged (default 5s)\n"
		"  --payload-cap BYTES      bytes captured per syscall, 0..%d (default %d)\n"
		"  --status-interval SECS   status line period, 0 = off (default 2)\n"
		"  --max-conns N            connections tracked at once (default 16384)\n"
		"  --capture-path P         kernel capture path: auto (default), fast or compat\n"
		"  --duration DURATION      stop after this long\n"
		"  --request-id-headers L   headers that carry a proxy's request id (see ztrace up --help)\n"
		"  --redact-params LIST     query parameters masked in paths (see ztrace up --help)\n"
		"  --verbose                show libbpf's messages\n",
		ZT_PAYLOAD_MAX, ZT_PAYLOAD_DEFAULT);
}

static int parse_netns(const char *arg, uint32_t *out)
{
	struct stat st;
	uint64_t v;

	if (!zt_parse_uint(arg, UINT32_MAX, &v) && v) {
		*out = (uint32_t)v;
		return 0;
	}
	if (!strcmp(arg, "self"))
		arg = "/proc/self/ns/net";
	if (stat(arg, &st) != 0)
		return -errno;
	*out = (uint32_t)st.st_ino;
	return 0;
}

int zt_cmd_agent(int argc, char **argv)
{
	static const struct option opts[] = {
		{"server", required_argument, NULL, OPT_SERVER},
		{"spool", required_argument, NULL, OPT_SPOOL},
		{"spool-max", required_argument, NULL, OPT_SPOOL_MAX},
		{"host", required_argument, NULL, OPT_HOST},
		{"netns", required_argument, NULL, OPT_NETNS},
		{"batch-spans", required_argument, NULL, OPT_BATCH_SPANS},
		{"batch-age", required_argument, NULL, OPT_BATCH_AGE},
		{"drain-timeout", required_argument, NULL, OPT_DRAIN},
		{"payload-cap", required_argument, NULL, OPT_CAP},
		{"status-interval", required_argument, NULL, OPT_STATUS},
		{"max-conns", required_argument, NULL, OPT_CONNS},
		{"verbose", no_argument, NULL, OPT_VERBOSE},
		{"capture-path", required_argument, NULL, OPT_PATH},
		{"duration", required_argument, NULL, OPT_DURATION},
		{"request-id-headers", required_argument, NULL, OPT_RID},
		{"redact-params", required_argument, NULL, OPT_SECRETS},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct zt_bpf_opts bo = {.payload_cap = ZT_PAYLOAD_DEFAULT};
	struct zt_ship_cfg sc = {.spool_dir = "./ztrace-spool"};
	uint64_t status_s = 2, max_conns = 16384, duration_ns = 0, drain_ns = 5000000000ULL, v;
	const char *host = NULL;
	struct agent_ctx a;
	struct zt_session_cfg cfg;
	struct zt_pipeline_cfg pc;
	struct zt_source *src = NULL;
	struct utsname un;
	char err[512], hostbuf[ZT_HOSTNAME_LEN];
	int opt, rc, ret = 1;

	memset(&a, 0, sizeof(a));
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			agent_usage(stdout);
			return 0;
		case OPT_SERVER:
			sc.server = optarg;
			continue;
		case OPT_SPOOL:
			sc.spool_dir = optarg;
			continue;
		case OPT_SPOOL_MAX:
			if (zt_parse_size(optarg, &sc.spool_max) || sc.spool_max < 100000) {
				fprintf(stderr, "ztrace agent: invalid --spool-max '%s': expected a size of 100KB or "
						"more (e.g. 256MB, 2GB)\n",
					optarg);
				return 2;
			}
			continue;
		case OPT_HOST:
			if (!optarg[0] || strlen(optarg) >= ZT_HOSTNAME_LEN) {
				fprintf(stderr, "ztrace agent: invalid --host '%s': expected 1 to %d characters\n",
					optarg, ZT_HOSTNAME_LEN - 1);
				return 2;
			}
			host = optarg;
			continue;
		case OPT_NETNS:
			if (parse_netns(optarg, &sc.netns)) {
				fprintf(stderr, "ztrace agent: invalid --netns '%s': expected self, a namespace file "
						"(/run/netns/NAME, /proc/PID/ns/net) or an inode number\n",
					optarg);
				return 2;
			}
			continue;
		case OPT_BATCH_SPANS:
			if (zt_parse_uint(optarg, 16384, &v) || !v) {
				fprintf(stderr, "ztrace agent: invalid --batch-spans '%s': expected 1..16384\n", optarg);
				return 2;
			}
			sc.batch_spans = (uint32_t)v;
			continue;
		case OPT_BATCH_AGE:
		case OPT_DRAIN:
			if (zt_parse_duration(optarg, &v) || (opt == OPT_BATCH_AGE && (v < 1000000ULL || v > 60000000000ULL))) {
				fprintf(stderr, "ztrace agent: invalid --%s '%s': expected a duration%s (e.g. 500ms, 2s)\n",
					opt == OPT_DRAIN ? "drain-timeout" : "batch-age", optarg,
					opt == OPT_DRAIN ? "" : " from 1ms to 60s");
				return 2;
			}
			if (opt == OPT_DRAIN)
				drain_ns = v;
			else
				sc.batch_age_ns = v;
			continue;
		case OPT_SECRETS:
			if (zt_http_secret_params_set(optarg)) {
				fprintf(stderr, "ztrace agent: invalid --redact-params '%s'\n", optarg);
				return 2;
			}
			continue;
		case OPT_RID:
			if (zt_request_id_headers_set(optarg)) {
				fprintf(stderr, "ztrace agent: invalid --request-id-headers '%s'\n", optarg);
				return 2;
			}
			continue;
		}
		if (opt == '?' || zt_live_parse_opt("agent", opt, optarg, &bo, &status_s, &max_conns, &duration_ns)) {
			if (opt == '?')
				fprintf(stderr, "ztrace agent: see 'ztrace agent --help'\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ztrace agent: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!sc.server) {
		fprintf(stderr, "ztrace agent: --server HOST:PORT is required (see 'ztrace agent --help')\n");
		return 2;
	}
	if (zt_live_check_privileges("agent"))
		return 1;
	if (!host) {
		if (gethostname(hostbuf, sizeof(hostbuf)) != 0)
			snprintf(hostbuf, sizeof(hostbuf), "unknown");
		hostbuf[sizeof(hostbuf) - 1] = '\0';
		host = hostbuf;
	}
	sc.host = host;
	sc.kernel = uname(&un) == 0 ? un.release : "";
	sc.version = ZT_VERSION;
	rc = zt_ship_new(&sc, &a.ship, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "ztrace agent: %s\n", err);
		return rc == -EINVAL ? 2 : 1;
	}
	memset(&pc, 0, sizeof(pc));
	zt_session_as_stage(&pc, &a.sess);
	pc.sink_put = zt_ship_put;
	pc.sink_tick = zt_ship_tick;
	pc.sink_end = zt_ship_end;
	pc.sink_flush = zt_ship_flush;
	pc.sink_errmsg = zt_ship_errmsg;
	pc.sink_ctx = a.ship;
	pc.threaded = true;
	pc.stop = &zt_live_stop;
	pc.duration_ns = duration_ns;
	/* the status tick also refreshes the counters the server is sent */
	pc.status_ns = (status_s ? status_s : 2) * 1000000000ULL;
	a.quiet_status = status_s == 0;
	pc.on_status = agent_on_status;
	pc.status_ctx = &a;
	a.pipe = zt_pipeline_new(&pc);
	if (!a.pipe) {
		fprintf(stderr, "ztrace agent: out of memory\n");
		goto cleanup;
	}
	zt_live_install_signals();
	zt_live_ensure_tracefs();
	rc = zt_source_open_bpf(&bo, a.pipe, &src, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "ztrace agent: %s\n", err);
		goto cleanup;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.host = host;
	cfg.mono_to_real = src->mono_to_real;
	cfg.max_conns = (uint32_t)max_conns;
	zt_live_session_hooks(&cfg, &a.pipe);
	a.sess = zt_session_new(&cfg, zt_pipeline_span, a.pipe);
	if (!a.sess) {
		fprintf(stderr, "ztrace agent: out of memory\n");
		goto cleanup;
	}
	{
		struct zt_ship_stats s;
		zt_ship_get_stats(a.ship, &s);
		fprintf(stderr,
			"ztrace agent: tracing this host as %s (agent %s), shipping to %s, spool %s (%llu batches "
			"found from an earlier run, resent first)\n",
			host, zt_ship_agent_id(a.ship), sc.server, sc.spool_dir, (unsigned long long)s.spool_replayed);
	}
	rc = zt_pipeline_run(a.pipe, src, err, sizeof(err));
	push_counters(&a);
	{
		uint64_t kc[ZT_CNT__COUNT] = {0};
		struct zt_ship_stats s;
		int drained = zt_ship_drain(a.ship, (int)(drain_ns / 1000000ULL));

		if (src->ops->counters)
			src->ops->counters(src, kc);
		zt_ship_get_stats(a.ship, &s);
		fprintf(stderr,
			"ztrace agent: stopped: %llu spans produced (%llu spooled this run); all runs: %llu spooled, "
			"%llu acknowledged; spool: %llu batches (%llu spans) %s; spool_full %llu spans (%llu batches), "
			"spool_errors %llu spans, other netns %llu; ",
			(unsigned long long)s.spans_in, (unsigned long long)s.spans_spooled,
			(unsigned long long)s.spooled_spans_total, (unsigned long long)s.acked_spans_total,
			(unsigned long long)s.spool_batches, (unsigned long long)s.spool_spans,
			drained ? "left unacknowledged (sent after a restart)" : "left",
			(unsigned long long)s.spool_full_spans, (unsigned long long)s.spool_full_batches,
			(unsigned long long)s.spool_error_spans, (unsigned long long)s.netns_skipped);
		zt_live_print_drops(stderr, zt_session_stats(a.sess), zt_pipeline_stats(a.pipe), kc, 0);
	}
	if (rc)
		fprintf(stderr, "ztrace agent: %s\n", err);
	ret = rc ? 1 : 0;
cleanup:
	zt_source_close(src);
	zt_session_free(a.sess);
	zt_pipeline_free(a.pipe);
	zt_ship_free(a.ship);
	return ret;
}
