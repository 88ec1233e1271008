/* SPDX-License-Identifier: MIT */
/*
 * server.c - `ztrace server`: takes spans from agents (server/ingest.h)
 * into trace assembly and the store, in the calling thread, and serves
 * the HTTP API next to it (server/api.h: /api/v1, Jaeger's /api; and
 * server/red_api.h: the map, RED series, Prometheus /metrics) with the
 * agents' registry in /api/v1/status, and OTLP/HTTP ingest (POST
 * /v1/traces): the HTTP threads hand SDK spans to the ingest thread
 * (zt_ingest_offer, a bounded queue; full: OTLP's 503, retried by the SDK),
 * which puts them into the same joiner and store as the agents' spans.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/live.h"
#include "server/api.h"
#include "server/http.h"
#include "server/ingest.h"
#include "server/otlp_route.h"
#include "server/red_api.h"
#include "store/sink.h"
#include "store/store.h"
#include "store/store_status.h"
#include "util/num.h"

enum {
	OPT_LISTEN_AGENTS = 200,
	OPT_STORE,
	OPT_STATE,
	OPT_MAX_AGENTS,
	OPT_SRV_STATUS,
	OPT_SRV_LISTEN,
	OPT_SRV_TOKEN,
};

static void server_usage(FILE *f)
{
	fprintf(f, "usage: ztrace server [--listen-agents ADDR] [--data DIR | --store URL] [--state DIR]\n"
		   "                     [--max-agents N] [--status-interval SECONDS]\n"
		   "                     [--listen ADDR|none] [--token-file FILE]\n\n"
		   "Takes spans from 'ztrace agent's, links them into traces and stores them. A batch is\n"
		   "acknowledged once its spans are durable in the store; batches an agent sends again\n"
		   "(after a restart of either side) are recognised and dropped.\n\n"
		   "  --listen-agents ADDR  where agents connect, IP:PORT (default 127.0.0.1:7071)\n"
		   "  --data DIR            embedded store in DIR/ztrace.db (default ./ztrace-data)\n"
		   "  --store URL           a store by URL (sqlite:DIR, or another backend)\n"
		   "  --state DIR           the agents' acknowledged batches, kept to drop resent ones\n"
		   "                        (default: the data directory; with --store, ./ztrace-server-state)\n"
		   "  --max-agents N        agent connections at once (default 256); more are refused\n"
		   "  --status-interval S   status line period, 0 = off (default 5)\n"
		   "  --listen ADDR         serve the HTTP API (/api/v1/..., Jaeger's /api/..., Prometheus'\n"
		   "                        /metrics) and OTLP/HTTP trace ingest (POST /v1/traces, protobuf or\n"
		   "                        JSON; spans stored as tap_side app) on ADDR, IP:PORT (default\n"
		   "                        " ZT_HTTP_DEFAULT_LISTEN "); none: neither\n"
		   "  --token-file FILE     clients must send 'Authorization: Bearer TOKEN' (FILE's first\n"
		   "                        line); required on a non-loopback ADDR\n");
}

struct status_ctx {
	struct zt_ingest *g;
	uint64_t period_ns;
	volatile sig_atomic_t done;
};

/* The status line, from its own thread: the ingest loop never prints. */
static void *status_thread(void *arg)
{
	struct status_ctx *s = arg;
	uint64_t last = 0, t0 = zt_clock_ns(CLOCK_MONOTONIC), failures_said = 0;

	while (!s->done && !zt_live_stop) {
		uint64_t waited = 0;
		while (waited < s->period_ns && !s->done && !zt_live_stop) {
			usleep(100000);
			waited += 100000000ULL;
		}
		if (s->done || zt_live_stop)
			break;
		struct zt_ingest_stats st;
		struct zt_agent_info ag[64];
		size_t n = zt_ingest_agents(s->g, ag, 64), conn = 0;
		uint64_t now = zt_clock_ns(CLOCK_MONOTONIC);
		zt_ingest_get_stats(s->g, &st);
		for (size_t i = 0; i < n && i < 64; i++)
			conn += ag[i].connected != 0;
		fprintf(stderr,
			"ztrace server: %zu agents (%zu connected), %.0f spans/s, %llu spans taken, %llu stored, "
			"%llu batches acknowledged, dup %llu, bad frames %llu\n",
			n, conn, (st.spans - last) / ((now - t0) / 1e9), (unsigned long long)st.spans,
			(unsigned long long)st.spans_written, (unsigned long long)st.acked_batches,
			(unsigned long long)(st.dup_batches + st.dup_inflight),
			(unsigned long long)(st.frames_bad + st.frames_oversize));
		if (st.store_failures > failures_said) {
			fprintf(stderr, "ztrace server: %llu commits failed so far (batches resent by their agents); the "
					"store said: %s\n",
				(unsigned long long)st.store_failures, st.last_store_error);
			failures_said = st.store_failures;
		}
		last = st.spans;
		t0 = now;
	}
	return NULL;
}

/* /api/v1/status: the agents' registry (an HTTP thread; the registry
 * has its own lock). */
static void api_agents(void *ctx, json_t *out)
{
	struct zt_ingest *g = ctx;
	size_t n = zt_ingest_agents(g, NULL, 0);
	struct zt_agent_info *ag = n ? calloc(n, sizeof(*ag)) : NULL;

	if (!ag)
		return;
	n = zt_ingest_agents(g, ag, n);
	for (size_t i = 0; i < n; i++) {
		const struct zt_agent_info *a = &ag[i];
		json_t *drops = json_object();
		for (size_t k = 0; k < a->ncounters; k++)
			json_object_set_new(drops, a->counters[k].name, json_integer((json_int_t)a->counters[k].value));
		json_array_append_new(
		    out, json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:o}", "agent_id",
				   a->agent_id, "host", a->host, "kernel", a->kernel, "version", a->version, "peer",
				   a->peer, "connected", a->connected != 0, "last_seen_ns", (json_int_t)a->last_seen_ns,
				   "acked_seq", (json_int_t)a->acked_seq, "batches", (json_int_t)a->batches, "spans",
				   (json_int_t)a->spans, "dup_batches", (json_int_t)a->dup_batches, "counters", drops));
	}
	free(ag);
}

struct api_ctx {
	struct zt_ingest *g;
	struct zt_otlp_ingest otlp;
};

/* /api/v1/status: the ingest's own counters. */
static void api_status(void *ctx, json_t *out)
{
	struct api_ctx *a = ctx;
	struct zt_ingest *g = a->g;
	struct zt_ingest_stats st;

	zt_ingest_get_stats(g, &st);
	json_t *o = zt_otlp_status_json(&a->otlp, NULL);
	if (o) {
		json_t *in = json_object_get(o, "ingest");
		if (in) {
			json_object_set_new(in, "spans_taken", json_integer((json_int_t)st.offered_spans));
			json_object_set_new(in, "queue_refused", json_integer((json_int_t)st.offered_full));
		}
		json_object_set_new(out, "otlp", o);
	}
	json_object_set_new(
	    out, "ingest",
	    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "spans", (json_int_t)st.spans, "batches",
		      (json_int_t)st.batches, "acked_batches", (json_int_t)st.acked_batches, "dup_batches",
		      (json_int_t)st.dup_batches, "bad_frames", (json_int_t)st.frames_bad, "oversized_frames",
		      (json_int_t)st.frames_oversize, "refused_connections", (json_int_t)st.conns_refused,
		      "store_failures", (json_int_t)st.store_failures, "acks_deferred", (json_int_t)st.acks_deferred));
	json_object_set_new(json_object_get(out, "ingest"), "last_store_error", json_string(st.last_store_error));
	/* the backend's outage buffer (ClickHouse), under "store" */
	zt_store_status_json(zt_store_sink_store(zt_ingest_sink(g)), json_object_get(out, "store"));
}

/* One line per agent seen: what it sent and the drops it reported. */
static void print_agents(struct zt_ingest *g)
{
	size_t n = zt_ingest_agents(g, NULL, 0);
	struct zt_agent_info *ag = n ? calloc(n, sizeof(*ag)) : NULL;

	if (!ag)
		return;
	if (zt_ingest_agents(g, ag, n) < n) /* only the ingest thread adds agents, and it has stopped */
		n = zt_ingest_agents(g, ag, n);
	for (size_t i = 0; i < n; i++) {
		const struct zt_agent_info *a = &ag[i];
		fprintf(stderr,
			"ztrace server: agent %s host %s (kernel %s, ztrace %s): acked seq %llu, %llu spans in %llu "
			"batches, %llu resent batches dropped; its drops:",
			a->agent_id, a->host[0] ? a->host : "?", a->kernel[0] ? a->kernel : "?",
			a->version[0] ? a->version : "?", (unsigned long long)a->acked_seq, (unsigned long long)a->spans,
			(unsigned long long)a->batches, (unsigned long long)a->dup_batches);
		int shown = 0;
		for (size_t k = 0; k < a->ncounters; k++) {
			const char *nm = a->counters[k].name;
			/* drops only: the gauges and totals an agent also reports are not losses */
			if (!a->counters[k].value || !strcmp(nm, "events") || !strcmp(nm, "spans") ||
			    !strcmp(nm, "spool_spans") || !strcmp(nm, "spool_bytes") ||
			    !strcmp(nm, "spans_spooled_total") || !strcmp(nm, "netns_skipped") ||
			    !strcmp(nm, "quiet") || !strcmp(nm, "body_skipped") || !strcmp(nm, "unix_not_traced"))
				continue;
			fprintf(stderr, "%s %s %llu", shown++ ? "," : "", nm, (unsigned long long)a->counters[k].value);
		}
		fprintf(stderr, "%s\n", shown ? "" : " none");
	}
	free(ag);
}

int zt_cmd_server(int argc, char **argv)
{
	static const struct option opts[] = {
		{"listen-agents", required_argument, NULL, OPT_LISTEN_AGENTS},
		{"data", required_argument, NULL, OPT_DATA},
		{"store", required_argument, NULL, OPT_STORE},
		{"state", required_argument, NULL, OPT_STATE},
		{"max-agents", required_argument, NULL, OPT_MAX_AGENTS},
		{"status-interval", required_argument, NULL, OPT_SRV_STATUS},
		{"listen", required_argument, NULL, OPT_SRV_LISTEN},
		{"token-file", required_argument, NULL, OPT_SRV_TOKEN},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct zt_ingest_cfg ic = {.listen = "127.0.0.1:7071"};
	const char *data = NULL, *url = NULL, *state = NULL;
	struct zt_store *st = NULL;
	struct zt_ingest *g = NULL;
	struct status_ctx sctx = {0};
	struct zt_http_cfg hc = {.listen = ZT_HTTP_DEFAULT_LISTEN};
	struct zt_http_server *http = NULL;
	struct zt_api *api = NULL;
	struct zt_red_api red = {0};
	static struct api_ctx actx; /* outlives the HTTP server (freed first at cleanup anyway) */
	pthread_t th;
	int th_started = 0;
	uint64_t v, status_s = 5;
	char err[512];
	int opt, rc, ret = 1;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			server_usage(stdout);
			return 0;
		case OPT_LISTEN_AGENTS:
			ic.listen = optarg;
			break;
		case OPT_DATA:
			data = optarg;
			break;
		case OPT_STORE:
			url = optarg;
			break;
		case OPT_STATE:
			state = optarg;
			break;
		case OPT_MAX_AGENTS:
			if (zt_parse_uint(optarg, 4096, &v) || !v) {
				fprintf(stderr, "ztrace server: invalid --max-agents '%s': expected 1..4096\n", optarg);
				return 2;
			}
			ic.max_conns = (uint32_t)v;
			break;
		case OPT_SRV_LISTEN:
			hc.listen = strcmp(optarg, "none") ? optarg : NULL;
			break;
		case OPT_SRV_TOKEN:
			hc.token_file = optarg;
			break;
		case OPT_SRV_STATUS:
			if (zt_parse_uint(optarg, 86400, &status_s)) {
				fprintf(stderr, "ztrace server: invalid --status-interval '%s': expected whole seconds\n",
					optarg);
				return 2;
			}
			break;
		default:
			fprintf(stderr, "ztrace server: see 'ztrace server --help'\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ztrace server: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (data && url) {
		fprintf(stderr, "ztrace server: give --data or --store, not both\n");
		return 2;
	}
	if (zt_ingest_check_listen(ic.listen, err, sizeof(err))) {
		fprintf(stderr, "ztrace server: %s\n", err);
		return 2;
	}
	if (hc.listen && zt_http_new(&hc, &http, err, sizeof(err))) {
		fprintf(stderr, "ztrace server: %s\n", err);
		return 2;
	}
	if (!url)
		url = data ? data : "./ztrace-data";
	if (!state) {
		if (data || !strchr(url, ':'))
			state = url;
		else if (!strncmp(url, "sqlite:", 7))
			state = url + 7;
		else
			state = "./ztrace-server-state";
	}
	rc = zt_store_open(url, ZT_STORE_RW, &st);
	if (rc) {
		fprintf(stderr, "ztrace server: cannot open the store %s: %s\n", url,
			st ? zt_store_errmsg(st) : strerror(-rc));
		goto cleanup;
	}
	if (st->notice[0])
		fprintf(stderr, "ztrace server: warning: %s\n", st->notice);
	ic.state_dir = state;
	rc = zt_ingest_new(&ic, st, &g, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "ztrace server: %s\n", err);
		ret = rc == -EINVAL ? 2 : 1;
		goto cleanup;
	}
	if (http) {
		struct zt_api_cfg ac = {.store_url = url, .version = ZT_VERSION, .status = api_status, .status_ctx = &actx};
		actx.g = g;
		actx.otlp.emit = zt_ingest_offer;
		actx.otlp.emit_ctx = g;
		if (gethostname(actx.otlp.host, sizeof(actx.otlp.host) - 1))
			actx.otlp.host[0] = '\0';
		rc = zt_api_new(&ac, &api, err, sizeof(err));
		if (!rc)
			rc = zt_otlp_route(http, &actx.otlp);
		if (!rc)
			rc = zt_api_register(api, http);
		if (!rc) {
			zt_api_set_agents_hook(api, api_agents, g);
			red = (struct zt_red_api){.store_url = url, .api = api,
						  .roll = zt_store_sink_rollup(zt_ingest_sink(g))};
			rc = zt_red_api_register(http, &red);
		}
		if (!rc)
			rc = zt_http_start(http, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "ztrace server: %s\n", err[0] ? err : "cannot start the HTTP API");
			goto cleanup;
		}
		fprintf(stderr, "ztrace server: HTTP API on http://%s/api/v1/ (Jaeger API: /api/, Prometheus: /metrics, "
				"OTLP/HTTP: /v1/traces)%s\n",
			zt_http_address(http), hc.token_file ? ", token required" : "");
	}
	zt_live_install_signals();
	fprintf(stderr, "ztrace server: listening for agents on %s, storing to %s\n", zt_ingest_address(g), url);
	if (status_s) {
		sctx.g = g;
		sctx.period_ns = status_s * 1000000000ULL;
		th_started = pthread_create(&th, NULL, status_thread, &sctx) == 0;
	}
	rc = zt_ingest_run(g, &zt_live_stop, err, sizeof(err));
	sctx.done = 1;
	if (th_started)
		pthread_join(th, NULL);
	{
		struct zt_ingest_stats s;
		const struct zt_store_sink_stats *ks = zt_store_sink_stats(zt_ingest_sink(g));
		const struct zt_joiner_stats *js = zt_store_sink_joiner_stats(zt_ingest_sink(g));
		zt_ingest_get_stats(g, &s);
		fprintf(stderr,
			"ztrace server: stopped: %llu spans taken in %llu batches, %llu stored (duplicates not "
			"counted), %llu batches acknowledged; dropped as duplicates: %llu batches acknowledged "
			"earlier, %llu in flight; bad frames %llu, oversized frames %llu, refused versions %llu, "
			"refused connections %llu; store failures %llu (store_failed %llu spans, resent by agents)\n",
			(unsigned long long)s.spans, (unsigned long long)s.batches, (unsigned long long)st->spans_written,
			(unsigned long long)s.acked_batches, (unsigned long long)s.dup_batches,
			(unsigned long long)s.dup_inflight, (unsigned long long)s.frames_bad,
			(unsigned long long)s.frames_oversize, (unsigned long long)s.version_refused,
			(unsigned long long)s.conns_refused, (unsigned long long)s.store_failures,
			(unsigned long long)ks->store_failed);
		if (s.last_store_error[0])
			fprintf(stderr, "ztrace server: the store's last failure: %s\n", s.last_store_error);
		fprintf(stderr, "ztrace server: traces: links tcp_seq %llu, thread %llu, x_request_id %llu, explicit %llu; "
				"late %llu, aliases %llu\n",
			(unsigned long long)js->links[ZT_LINK_TCP_SEQ], (unsigned long long)js->links[ZT_LINK_THREAD],
			(unsigned long long)js->links[ZT_LINK_X_REQUEST_ID],
			(unsigned long long)js->links[ZT_LINK_EXPLICIT], (unsigned long long)js->late_links,
			(unsigned long long)js->aliases);
	}
	if (http) {
		const struct zt_otlp_stats *os = &actx.otlp.stats;
		struct zt_ingest_stats s;
		zt_ingest_get_stats(g, &s);
		fprintf(stderr,
			"ztrace server: otlp ingest: %llu requests, %llu spans accepted, %llu rejected (%llu refused "
			"by a full queue: 503); %llu undecodable, %llu too large, %llu unsupported\n",
			(unsigned long long)os->requests, (unsigned long long)os->spans_accepted,
			(unsigned long long)os->spans_rejected, (unsigned long long)s.offered_full,
			(unsigned long long)os->bad_requests, (unsigned long long)os->too_large,
			(unsigned long long)os->unsupported);
	}
	print_agents(g);
	if (rc)
		fprintf(stderr, "ztrace server: %s\n", err);
	ret = rc ? 1 : 0;
cleanup:
	zt_http_free(http); /* before the API and the ingest its handlers read */
	zt_api_free(api);
	zt_ingest_free(g);
	if (st)
		st->ops->close(st);
	return ret;
}
