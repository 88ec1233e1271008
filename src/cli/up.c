/* SPDX-License-Identifier: MIT */
/*
 * up.c - `ztrace up`: live BPF source -> session -> queue -> writer thread
 * -> joiner -> store, one process, on the pipeline runner
 * (agent/pipeline.h). `ztrace record` is record.c; what both share, live.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "agent/pipeline.h"
#include "agent/source.h"
#include "cli/cli.h"
#include "cli/live.h"
#include "cli/up_metrics.h"
#include "proto/proto.h"
#include "proto/http1.h"
#include "proto/trace_hdr.h"
#include "server/api.h"
#include "server/http.h"
#include "server/red_api.h"
#include "server/otlp_export.h"
#include "server/otlp_route.h"
#include "session/session.h"
#include "store/sink.h"
#include "store/store.h"
#include "store/store_status.h"
#include "util/duration.h"
#include "util/num.h"

/* One `ztrace up` per data dir: two would store every span twice. The
 * lock is held until exit (the kernel drops it when the process ends);
 * the file names the holder. Returns the fd, or -1 after saying why. */
static int lock_data_dir(const char *dir)
{
	char path[4096], pid[32] = "";
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/ztrace.lock", dir) >= sizeof(path)) {
		fprintf(stderr, "ztrace up: data directory path too long: %s\n", dir);
		return -1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "ztrace up: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		if (errno == EWOULDBLOCK || errno == EAGAIN || n > 0)
			fprintf(stderr, "ztrace up: %s is in use by another ztrace up (pid %s): stop it, or use --data "
					"with another directory\n",
				dir, pid[0] ? pid : "unknown");
		else
			fprintf(stderr, "ztrace up: cannot lock %s: %s\n", path, strerror(errno));
		close(fd);
		return -1;
	}
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, strlen(pid), 0) < 0) {
		/* the lock holds without the pid: only the message loses it */
	}
	return fd;
}

/* ---- ztrace up ---- */

#define DEFAULT_RETENTION_NS (24ULL * 3600 * 1000000000ULL)
#define DEFAULT_MAX_SIZE 10000000000ULL /* 10 GB, or a quarter of a smaller disk */
#define MIN_MAX_SIZE 1000000ULL
/* RED rollups: 10 s buckets for a day, 1 min buckets for 30 days */
#define DEFAULT_RED_FINE_NS (24ULL * 3600 * 1000000000ULL)
#define DEFAULT_RED_COARSE_NS (30ULL * 24 * 3600 * 1000000000ULL)
enum { OPT_RED_FINE = 100, OPT_RED_COARSE }; /* after live.h's codes */

/* The default --max-size: 10 GB, or a quarter of the data dir's file
 * system when that is smaller (a small disk is not filled). */
static uint64_t default_max_size(const char *dir)
{
	struct statvfs vs;
	uint64_t quarter;

	if (statvfs(dir, &vs) != 0)
		return DEFAULT_MAX_SIZE;
	quarter = (uint64_t)vs.f_blocks * vs.f_frsize / 4;
	if (quarter < MIN_MAX_SIZE)
		quarter = MIN_MAX_SIZE;
	return quarter < DEFAULT_MAX_SIZE ? quarter : DEFAULT_MAX_SIZE;
}

struct up_ctx {
	struct zt_session *sess;
	struct zt_store *store;
	struct zt_store_sink *sink; /* trace assembly in front of the store */
	struct zt_pipeline *pipe;
	uint64_t ev0, sp0;
	uint64_t failures_said, recoveries_said; /* store failures told the user */
	struct zt_source *src; /* for the API's status: set once open */
	struct zt_otlp_ingest *otlp_in;    /* OTLP counters for the status, */
	struct zt_otlp_exporter *otlp_out; /* set before the server starts */
};

/* OTLP ingest: SDK spans from the HTTP threads join the capture queue
 * (zt_pipeline_span_offer: under the queue's lock, never waiting), so the
 * joiner and the store see them on the one writer thread. The server starts
 * before the pipeline exists: until then (and once it stopped) spans are
 * refused, answered 503, and the SDK retries. */
static int up_otlp_emit(void *ctx, const struct zt_span *s)
{
	struct up_ctx *u = ctx;
	struct zt_pipeline *pipe = __atomic_load_n(&u->pipe, __ATOMIC_ACQUIRE);

	return pipe ? zt_pipeline_span_offer(pipe, s) : -EAGAIN;
}

/* OTLP export sees each span the joiner releases; export falling behind
 * drops spans (counted by the exporter), never fails the store. */
static int up_export_span(void *ctx, const struct zt_span *s)
{
	(void)zt_otlp_export_put(ctx, s);
	return 0;
}

/* The API's /api/v1/status: what the final line says, live. Runs on an
 * HTTP thread: the pointers are published with __atomic stores once their
 * objects exist, and the counters are read as they are (a status is a
 * snapshot; a counter a few events stale is fine). */
static void up_api_status(void *ctx, json_t *out)
{
	struct up_ctx *u = ctx;
	struct zt_session *sess = __atomic_load_n(&u->sess, __ATOMIC_ACQUIRE);
	struct zt_pipeline *pipe = __atomic_load_n(&u->pipe, __ATOMIC_ACQUIRE);
	struct zt_source *src = __atomic_load_n(&u->src, __ATOMIC_ACQUIRE);
	const struct zt_store_sink_stats *ks = u->sink ? zt_store_sink_stats(u->sink) : NULL;
	uint64_t kc[ZT_CNT__COUNT] = {0};
	json_t *store = json_object_get(out, "store");

	if (src && src->ops->counters)
		src->ops->counters(src, kc);
	if (store) {
		json_object_set_new(store, "spans_written",
				    json_integer((json_int_t)__atomic_load_n(&u->store->spans_written, __ATOMIC_RELAXED)));
		json_object_set_new(store, "spans_pending",
				    json_integer((json_int_t)__atomic_load_n(&u->store->spans_pending, __ATOMIC_RELAXED)));
		if (ks) {
			json_object_set_new(store, "failing", json_boolean(__atomic_load_n(&ks->failing, __ATOMIC_RELAXED)));
			json_object_set_new(store, "failures",
					    json_integer((json_int_t)__atomic_load_n(&ks->failures, __ATOMIC_RELAXED)));
			json_object_set_new(store, "retention_dropped",
					    json_integer((json_int_t)__atomic_load_n(&ks->retention_dropped,
										     __ATOMIC_RELAXED)));
			json_object_set_new(store, "retention_errors",
					    json_integer((json_int_t)__atomic_load_n(&ks->retention_errors,
										     __ATOMIC_RELAXED)));
		}
		zt_store_status_json(u->store, store); /* the backend's outage buffer, if it has one */
	}
	if (u->otlp_in || u->otlp_out)
		json_object_set_new(out, "otlp", zt_otlp_status_json(u->otlp_in, u->otlp_out));
	if (sess) {
		const struct zt_session_stats *st = zt_session_stats(sess);
		json_object_set_new(out, "pipeline",
				    json_pack("{s:I, s:I}", "events", (json_int_t)st->events, "spans",
					      (json_int_t)st->spans));
		json_object_set_new(
		    out, "drops",
		    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "ring_full",
			      (json_int_t)kc[ZT_CNT_RING_FULL], "map_full", (json_int_t)kc[ZT_CNT_MAP_FULL],
			      "payload_truncated", (json_int_t)kc[ZT_CNT_PAYLOAD_TRUNC], "evicted",
			      (json_int_t)st->conns_evicted, "unanswered", (json_int_t)st->unanswered, "orphan_resp",
			      (json_int_t)st->orphan_responses, "bad_events", (json_int_t)st->bad_events, "queue_full",
			      (json_int_t)(pipe ? zt_pipeline_stats(pipe)->queue_full : 0), "store_failed",
			      (json_int_t)(ks ? __atomic_load_n(&ks->store_failed, __ATOMIC_RELAXED) : 0)));
	}
}

/* A store that starts or stops failing is told once each time (the writer
 * thread counts, this reader-side check says). */
static void say_store_state(struct up_ctx *u)
{
	const struct zt_store_sink_stats *ks = zt_store_sink_stats(u->sink);
	uint64_t f = __atomic_load_n(&ks->failures, __ATOMIC_RELAXED);
	uint64_t r = __atomic_load_n(&ks->recoveries, __ATOMIC_RELAXED);

	if (f > u->failures_said) {
		fprintf(stderr,
			"ztrace up: warning: storing spans failed (%s); tracing goes on, spans that cannot be "
			"stored are counted as store_failed, the store is retried every few seconds\n",
			ks->last_error);
		u->failures_said = f;
	}
	if (r > u->recoveries_said) {
		fprintf(stderr, "ztrace up: storing spans again (%llu spans were not stored)\n",
			(unsigned long long)__atomic_load_n(&ks->store_failed, __ATOMIC_RELAXED));
		u->recoveries_said = r;
	}
}

/* The live status line, within 80 columns: rates, totals, and the losses
 * that are not zero (the final line names every counter). */
static void up_on_status(void *ctx, struct zt_pipeline *p, double secs)
{
	struct up_ctx *u = ctx;
	const struct zt_session_stats *st = zt_session_stats(u->sess);
	const struct zt_pipeline_stats *ps = zt_pipeline_stats(p);
	struct zt_source *src = zt_pipeline_source(p);
	uint64_t kc[ZT_CNT__COUNT] = {0};
	char lost[96] = "";
	size_t n = 0;
	int shown = 0, more = 0;

	if (src->ops->counters)
		src->ops->counters(src, kc);
	say_store_state(u);
	const struct {
		const char *name;
		uint64_t v;
	} drops[] = {
	    {"ring_full", kc[ZT_CNT_RING_FULL]}, {"queue_full", ps->queue_full}, {"map_full", kc[ZT_CNT_MAP_FULL]},
	    {"evicted", st->conns_evicted},      {"unanswered", st->unanswered}, {"orphan", st->orphan_responses},
	    {"bad", st->bad_events}, {"store_failed", __atomic_load_n(&zt_store_sink_stats(u->sink)->store_failed,
								       __ATOMIC_RELAXED)},
	};
	for (size_t i = 0; i < sizeof(drops) / sizeof(drops[0]); i++) {
		if (!drops[i].v)
			continue;
		if (shown == 2) {
			more++;
			continue;
		}
		n += (size_t)snprintf(lost + n, sizeof(lost) - n, "%s%s %llu", shown ? ", " : "", drops[i].name,
				      (unsigned long long)drops[i].v);
		shown++;
	}
	if (more)
		snprintf(lost + n, sizeof(lost) - n, " +%d", more);
	fprintf(stderr, "ztrace: %.0f events/s, %.0f spans/s, %llu spans, %llu conns | lost: %s\n",
		secs > 0 ? (st->events - u->ev0) / secs : 0, secs > 0 ? (st->spans - u->sp0) / secs : 0,
		(unsigned long long)st->spans,
		(unsigned long long)(st->conns_opened - st->conns_closed - st->conns_idle - st->conns_evicted -
				     st->conns_reused),
		shown ? lost : "none");
	{
		char line[256];
		if (zt_store_status_line(u->store, 0, line, sizeof(line)))
			fprintf(stderr, "ztrace: %s\n", line);
	}
	u->ev0 = st->events;
	u->sp0 = st->spans;
}

static void up_usage(FILE *f)
{
	fprintf(f, "usage: ztrace up [--data DIR] [--payload-cap BYTES] [--status-interval SECONDS] [--max-conns N]\n"
		   "                 [--capture-path auto|fast|compat] [--request-id-headers LIST]\n"
		   "                 [--redact-params LIST] [--retention DURATION] [--max-size SIZE] [--no-tls]\n"
		   "                 [--listen ADDR|none] [--token-file FILE] [--otlp-export URL] [--verbose]\n\n"
		   "Traces every process on this host (eBPF; needs root or CAP_BPF+CAP_PERFMON) and stores\n"
		   "spans in DIR/ztrace.db. Read them with 'ztrace spans'. Ctrl-C flushes and exits.\n"
		   "Traced: TCP and UDP sockets (IPv4, IPv6). Not traced: Unix-domain sockets (docker.sock,\n"
		   "php-fpm...): their syscalls are counted and reported at exit.\n\n"
		   "  --data DIR              where spans are stored (default ./ztrace-data)\n"
		   "  --store URL             the same as --data: DIR, sqlite:DIR or clickhouse://HOST:PORT/DB\n"
		   "                          (ClickHouse: ?user=U&password_file=F&cluster=NAME&buffer_mb=N)\n"
		   "  --payload-cap BYTES     bytes captured per syscall, 0..%d (default %d)\n"
		   "  --status-interval SECS  live status line period, 0 = off (default 2)\n"
		   "  --max-conns N           connections tracked at once (default 16384)\n"
		   "  --capture-path P        kernel capture path: fast (BTF reads, task storage; Linux 6.2+),\n"
		   "                          compat (probe reads; older kernels) or auto (default)\n"
		   "  --redact-params LIST    query parameters whose values are masked in stored paths,\n"
		   "                          comma-separated (replaces the default: token, access_token,\n"
		   "                          password, secret, api_key, key, sig, signature, session...)\n"
		   "  --request-id-headers L  headers that carry a proxy's request id, comma-separated\n"
		   "                          (default X-Request-ID,X-Correlation-ID): links proxy hops\n"
		   "  --retention DURATION    drop spans older than this (default 24h; 0: keep forever)\n"
		   "  --max-size SIZE         drop the oldest spans when the store takes more than SIZE\n"
		   "                          (e.g. 500MB, 10GB; default 10GB or a quarter of the disk\n"
		   "                          if smaller; 0: no bound). Dropped spans are counted.\n"
		   "  --no-tls                do not probe TLS libraries (OpenSSL, Node): TLS connections\n"
		   "                          are then seen as ciphertext only, without spans\n"
		   "  --red-retention-10s D   keep the 10 s RED rollups (ztrace map/top) this long (default 24h)\n"
		   "  --red-retention-1m D    keep the 1 min RED rollups this long (default 30d; 0: forever)\n"
		   "  --listen ADDR           serve the HTTP API (/api/v1/..., Jaeger's /api/..., Prometheus'\n"
		   "                          /metrics) on ADDR, IP:PORT or [IPv6]:PORT (default\n"
		   "                          " ZT_HTTP_DEFAULT_LISTEN ", and if that port is taken: a warning,\n"
		   "                          no API); none: no API\n"
		   "                          The same server takes OTLP/HTTP traces at POST /v1/traces\n"
		   "                          (protobuf or JSON): SDK spans are stored with tap side 'app'\n"
		   "                          and join the traces of ztrace's spans by their ids\n"
		   "  --token-file FILE       clients must send 'Authorization: Bearer TOKEN', the token\n"
		   "                          being FILE's first line; required on a non-loopback ADDR\n"
		   "  --otlp-export URL       send assembled spans to an OTLP/HTTP receiver (protobuf), e.g.\n"
		   "                          http://127.0.0.1:4318/v1/traces; batched, retried, drops counted\n"
		   "  --verbose               show libbpf's messages (verifier log on failure)\n",
		ZT_PAYLOAD_MAX, ZT_PAYLOAD_DEFAULT);
}

/* up's own options (live.h numbers the shared ones) */
enum { OPT_LISTEN = 200, OPT_TOKEN_FILE, OPT_OTLP_EXPORT };

int zt_cmd_up(int argc, char **argv)
{
	static const struct option opts[] = {
		{"data", required_argument, NULL, OPT_DATA},
		{"store", required_argument, NULL, OPT_DATA},
		{"payload-cap", required_argument, NULL, OPT_CAP},
		{"status-interval", required_argument, NULL, OPT_STATUS},
		{"max-conns", required_argument, NULL, OPT_CONNS},
		{"verbose", no_argument, NULL, OPT_VERBOSE},
		{"capture-path", required_argument, NULL, OPT_PATH},
		{"request-id-headers", required_argument, NULL, OPT_RID},
		{"redact-params", required_argument, NULL, OPT_SECRETS},
		{"retention", required_argument, NULL, OPT_RETENTION},
		{"max-size", required_argument, NULL, OPT_MAXSIZE},
		{"no-tls", no_argument, NULL, OPT_NOTLS},
		{"red-retention-10s", required_argument, NULL, OPT_RED_FINE},
		{"red-retention-1m", required_argument, NULL, OPT_RED_COARSE},
		{"listen", required_argument, NULL, OPT_LISTEN},
		{"token-file", required_argument, NULL, OPT_TOKEN_FILE},
		{"otlp-export", required_argument, NULL, OPT_OTLP_EXPORT},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct zt_bpf_opts bo = {.payload_cap = ZT_PAYLOAD_DEFAULT};
	uint64_t status_s = 2, max_conns = 16384, unused = 0;
	uint64_t retention_ns = DEFAULT_RETENTION_NS, max_size = 0;
	uint64_t red_keep[2] = {DEFAULT_RED_FINE_NS, DEFAULT_RED_COARSE_NS};
	bool max_size_set = false, listen_given = false;
	const char *data = "./ztrace-data";
	struct zt_http_cfg hc = {.listen = ZT_HTTP_DEFAULT_LISTEN};
	struct zt_http_server *http = NULL;
	struct zt_api *api = NULL;
	struct zt_up_metrics um = {0};
	struct zt_red_api red = {0};
	struct zt_otlp_ingest ingest;
	struct zt_otlp_exporter *exporter = NULL;
	const char *export_url = NULL;
	struct up_ctx u;
	struct zt_session_cfg cfg;
	struct zt_pipeline_cfg pc;
	struct zt_source *src = NULL;
	char err[512] = "";
	uint64_t kc[ZT_CNT__COUNT] = {0};
	int opt, rc, ret = 1, lock_fd = -1;

	memset(&u, 0, sizeof(u));
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'h') {
			up_usage(stdout);
			return 0;
		}
		if (opt == OPT_DATA) {
			data = optarg;
			continue;
		}
		if (opt == OPT_LISTEN) {
			hc.listen = strcmp(optarg, "none") ? optarg : NULL;
			listen_given = true;
			continue;
		}
		if (opt == OPT_TOKEN_FILE) {
			hc.token_file = optarg;
			continue;
		}
		if (opt == OPT_OTLP_EXPORT) {
			export_url = optarg;
			continue;
		}
		if (opt == OPT_RETENTION) {
			if (strcmp(optarg, "0") == 0) {
				retention_ns = 0;
			} else if (zt_parse_duration(optarg, &retention_ns) || retention_ns < 1000000000ULL) {
				fprintf(stderr,
					"ztrace up: invalid --retention '%s': expected a duration of 1s or more (e.g. "
					"24h, 7d... see --help) or 0 to keep spans forever\n",
					optarg);
				return 2;
			}
			continue;
		}
		if (opt == OPT_RED_FINE || opt == OPT_RED_COARSE) {
			uint64_t *keep = &red_keep[opt == OPT_RED_COARSE];
			if (strcmp(optarg, "0") == 0) {
				*keep = 0;
			} else if (zt_parse_duration(optarg, keep) || *keep < 60000000000ULL) {
				fprintf(stderr,
					"ztrace up: invalid --%s '%s': expected a duration of 1m or more (e.g. 6h, "
					"30d) or 0 to keep them forever\n",
					opt == OPT_RED_FINE ? "red-retention-10s" : "red-retention-1m", optarg);
				return 2;
			}
			continue;
		}
		if (opt == OPT_MAXSIZE) {
			if (zt_parse_size(optarg, &max_size) || (max_size && max_size < MIN_MAX_SIZE)) {
				fprintf(stderr,
					"ztrace up: invalid --max-size '%s': expected a size of 1MB or more (e.g. "
					"500MB, 10GB, 2GiB) or 0 for no bound\n",
					optarg);
				return 2;
			}
			max_size_set = true;
			continue;
		}
		if (opt == OPT_SECRETS) {
			if (zt_http_secret_params_set(optarg)) {
				fprintf(stderr,
					"ztrace up: invalid --redact-params '%s': expected up to 32 parameter names, "
					"comma-separated\n",
					optarg);
				return 2;
			}
			continue;
		}
		if (opt == OPT_RID) {
			if (zt_request_id_headers_set(optarg)) {
				fprintf(stderr,
					"ztrace up: invalid --request-id-headers '%s': expected up to 8 header names, "
					"comma-separated\n",
					optarg);
				return 2;
			}
			continue;
		}
		if (opt == '?' || zt_live_parse_opt("up", opt, optarg, &bo, &status_s, &max_conns, &unused)) {
			if (opt == '?')
				fprintf(stderr, "ztrace up: see 'ztrace up --help'\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ztrace up: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (hc.listen) { /* a bad address or a missing token: before anything starts */
		rc = zt_http_new(&hc, &http, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "ztrace up: %s\n", err);
			return 2;
		}
	} else if (hc.token_file) {
		fprintf(stderr, "ztrace up: --token-file without an API (--listen none)\n");
		return 2;
	}
	if (export_url) {
		struct zt_otlp_export_cfg ec = {.url = export_url};
		if (zt_otlp_export_new(&ec, &exporter, err, sizeof(err))) {
			fprintf(stderr, "ztrace up: --otlp-export: %s\n", err);
			zt_http_free(http);
			return 2;
		}
	}
	if (zt_live_check_privileges("up")) {
		zt_http_free(http);
		zt_otlp_export_free(exporter, 0, NULL);
		return 1;
	}
	rc = zt_store_open(data, ZT_STORE_RW, &u.store);
	if (rc) {
		fprintf(stderr, "ztrace up: cannot open the store in %s: %s\n", data,
			u.store ? zt_store_errmsg(u.store) : strerror(-rc));
		goto cleanup;
	}
	if (u.store->notice[0])
		fprintf(stderr, "ztrace up: warning: %s\n", u.store->notice);
	/* a store URL (clickhouse://) is shared by design: no data dir to lock */
	lock_fd = strstr(data, "://") ? -2 : lock_data_dir(data);
	if (lock_fd == -1)
		goto cleanup;
	if (http) {
		/* The API reads through its own read-only handle (SQLite WAL:
		 * readers do not block the writer); it starts before tracing so
		 * that a port in use stops `up` before the probes load. */
		struct zt_api_cfg ac = {.store_url = data, .version = ZT_VERSION, .status = up_api_status,
					.status_ctx = &u};
		rc = zt_api_new(&ac, &api, err, sizeof(err));
		if (!rc)
			rc = zt_api_register(api, http);
		if (!rc) { /* RED, the map and /metrics (server/red_api.h): the rollup and
			    * the counters are published below as they come to exist */
			um.store = u.store;
			um.http = http;
			red = (struct zt_red_api){.store_url = data, .api = api, .self = zt_up_self_metrics,
						  .self_ctx = &um};
			rc = zt_red_api_register(http, &red);
		}
		memset(&ingest, 0, sizeof(ingest));
		ingest.emit = up_otlp_emit;
		ingest.emit_ctx = &u;
		if (gethostname(ingest.host, sizeof(ingest.host) - 1))
			ingest.host[0] = '\0';
		if (!rc)
			rc = zt_otlp_route(http, &ingest);
		u.otlp_in = &ingest;
		u.otlp_out = exporter;
		if (!rc)
			rc = zt_http_start(http, err, sizeof(err));
		if (rc == -EADDRINUSE && !listen_given) {
			/* the default address taken (another ztrace up?): tracing
			 * is what was asked for; the API is said to be off */
			fprintf(stderr, "ztrace up: warning: no HTTP API: %s\n", err);
			zt_http_free(http);
			http = NULL;
			zt_api_free(api);
			api = NULL;
		} else if (rc) {
			fprintf(stderr, "ztrace up: %s\n", err[0] ? err : "cannot start the HTTP API");
			goto cleanup;
		}
	}
	if (http) {
		fprintf(stderr,
			"ztrace: HTTP API on http://%s/api/v1/ (Jaeger API: /api/, Prometheus: /metrics, OTLP/HTTP ingest: "
			"/v1/traces)%s\n",
			zt_http_address(http), hc.token_file ? ", token required" : "");
	}
	memset(&pc, 0, sizeof(pc));
	zt_session_as_stage(&pc, &u.sess);
	{
		struct zt_joiner_cfg jc = {0};
		u.sink = zt_store_sink_new(u.store, &jc, exporter ? up_export_span : NULL, exporter);
		if (u.sink) /* a full disk does not stop tracing */
			zt_store_sink_backoff(u.sink, 1);
	}
	if (u.sink) {
		char age[32] = "forever", size[32] = "no size bound";
		if (!max_size_set)
			max_size = strstr(data, "://") ? 0 : default_max_size(data);
		zt_store_sink_retention(u.sink, retention_ns, max_size);
		zt_store_sink_rollup_retention(u.sink, red_keep[0], red_keep[1]);
		__atomic_store_n(&um.sink, u.sink, __ATOMIC_RELEASE);
		__atomic_store_n(&red.roll, zt_store_sink_rollup(u.sink), __ATOMIC_RELEASE);
		if (retention_ns)
			snprintf(age, sizeof(age), "%llus", (unsigned long long)(retention_ns / 1000000000ULL));
		if (max_size >= 1000000000ULL)
			snprintf(size, sizeof(size), "at most %.1f GB", max_size / 1e9);
		else if (max_size)
			snprintf(size, sizeof(size), "at most %.0f MB", max_size / 1e6);
		fprintf(stderr, "ztrace: keeping spans %s%s, %s (--retention, --max-size)\n", retention_ns ? "for " : "",
			age, size);
	}
	if (!u.sink) {
		fprintf(stderr, "ztrace up: out of memory\n");
		goto cleanup;
	}
	pc.sink_put = zt_store_sink_put;
	pc.sink_put_rec = zt_store_sink_put_rec; /* the queue's records, kept as they are */
	pc.sink_tick = zt_store_sink_tick;
	pc.sink_end = zt_store_sink_end;
	pc.sink_flush = zt_store_sink_flush;
	pc.sink_errmsg = zt_store_sink_errmsg;
	pc.sink_ctx = u.sink;
	pc.threaded = true;
	pc.stop = &zt_live_stop;
	pc.status_ns = status_s * 1000000000ULL;
	pc.on_status = up_on_status;
	pc.status_ctx = &u;
	__atomic_store_n(&u.pipe, zt_pipeline_new(&pc), __ATOMIC_RELEASE);
	__atomic_store_n(&um.pipe, u.pipe, __ATOMIC_RELEASE);
	if (!u.pipe) {
		fprintf(stderr, "ztrace up: out of memory\n");
		goto cleanup;
	}
	zt_live_install_signals();
	zt_live_ensure_tracefs();
	rc = zt_source_open_bpf(&bo, u.pipe, &src, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "ztrace up: %s\n", err);
		goto cleanup;
	}
	__atomic_store_n(&u.src, src, __ATOMIC_RELEASE);
	memset(&cfg, 0, sizeof(cfg));
	cfg.host = src->host;
	cfg.mono_to_real = src->mono_to_real;
	cfg.max_conns = (uint32_t)max_conns;
	zt_live_session_hooks(&cfg, &u.pipe);
	__atomic_store_n(&u.sess, zt_session_new(&cfg, zt_pipeline_span, u.pipe), __ATOMIC_RELEASE);
	__atomic_store_n(&um.sess, u.sess, __ATOMIC_RELEASE);
	if (!u.sess) {
		fprintf(stderr, "ztrace up: out of memory\n");
		goto cleanup;
	}
	fprintf(stderr, "ztrace: tracing this host, spans go to %s%s (Ctrl-C to stop)\n", data,
		strstr(data, "://") ? "" : "/ztrace.db");
	rc = zt_pipeline_run(u.pipe, src, err, sizeof(err));
	if (src->ops->counters)
		src->ops->counters(src, kc);
	{
		const struct zt_session_stats *st = zt_session_stats(u.sess);
		fprintf(stderr,
			"ztrace: stopped: %llu events, %llu spans stored, %llu syscalls on connections of no known "
			"protocol not captured, %llu inside message bodies not copied, %llu on Unix-domain sockets "
			"not traced; ",
			(unsigned long long)st->events, (unsigned long long)u.store->spans_written,
			(unsigned long long)kc[ZT_CNT_QUIET], (unsigned long long)kc[ZT_CNT_SKIPPED],
			(unsigned long long)kc[ZT_CNT_UNIX]);
		fprintf(stderr, "tls: %llu plaintext records, %llu ciphertext syscalls not captured, %llu unbound; ",
			(unsigned long long)kc[ZT_CNT_TLS_EVENTS], (unsigned long long)kc[ZT_CNT_TLS_CIPHER],
			(unsigned long long)kc[ZT_CNT_TLS_UNBOUND]);
		zt_store_sink_finish(u.sink);
		say_store_state(&u);
		if (zt_store_status_line(u.store, 1, err, sizeof(err)))
			fprintf(stderr, "ztrace: %s\n", err);

		zt_live_print_drops(stderr, st, zt_pipeline_stats(u.pipe), kc, zt_store_sink_stats(u.sink)->store_failed);
		const struct zt_joiner_stats *js = zt_store_sink_joiner_stats(u.sink);
		fprintf(stderr,
			"ztrace: traces: links tcp_seq %llu, thread %llu, x_request_id %llu, explicit %llu; late %llu, "
			"relinked %llu, aliases %llu, window_full %llu, keys_evicted_early %llu\n",
			(unsigned long long)js->links[ZT_LINK_TCP_SEQ], (unsigned long long)js->links[ZT_LINK_THREAD],
			(unsigned long long)js->links[ZT_LINK_X_REQUEST_ID],
			(unsigned long long)js->links[ZT_LINK_EXPLICIT], (unsigned long long)js->late_links,
			(unsigned long long)js->relinked, (unsigned long long)js->aliases, (unsigned long long)js->window_full,
			(unsigned long long)js->keys_evicted_early);
		{
			struct zt_rollup_stats rs;
			zt_rollup_get_stats(zt_store_sink_rollup(u.sink), &rs);
			fprintf(stderr,
				"ztrace: RED: %llu rollup rows written; edges by link %llu, by address %llu, to untraced "
				"servers %llu, from untraced clients %llu; lost: series_overflow %llu, prom_overflow %llu, "
				"pending_full %llu\n",
				(unsigned long long)rs.rows_drained, (unsigned long long)rs.edges_linked,
				(unsigned long long)rs.edges_by_addr, (unsigned long long)rs.edges_unresolved,
				(unsigned long long)rs.edges_server_only, (unsigned long long)rs.series_overflow,
				(unsigned long long)rs.prom_overflow, (unsigned long long)rs.pending_full);
		}
		{
			const struct zt_store_sink_stats *ks = zt_store_sink_stats(u.sink);
			if (ks->retention_dropped || ks->retention_errors)
				fprintf(stderr, "ztrace: retention dropped %llu old spans (%llu errors)\n",
					(unsigned long long)ks->retention_dropped,
					(unsigned long long)ks->retention_errors);
		}
	}
	/* no more ingest into a pipeline that has stopped */
	zt_http_free(http);
	http = NULL;
	if (api) {
		const struct zt_otlp_stats *os = &ingest.stats;
		fprintf(stderr,
			"ztrace: otlp ingest: %llu requests, %llu spans accepted, %llu rejected; %llu undecodable, "
			"%llu too large, %llu unsupported type, %llu refused by a full queue\n",
			(unsigned long long)os->requests, (unsigned long long)os->spans_accepted,
			(unsigned long long)os->spans_rejected, (unsigned long long)os->bad_requests,
			(unsigned long long)os->too_large, (unsigned long long)os->unsupported, (unsigned long long)os->busy);
	}
	if (exporter) {
		struct zt_otlp_export_stats es;
		zt_otlp_export_free(exporter, 5000, &es);
		exporter = NULL;
		fprintf(stderr,
			"ztrace: otlp export: %llu spans sent in %llu requests, %llu rejected by the receiver, dropped "
			"%llu (queue full) + %llu (send failed); %llu retries; %llu spans of its own requests not "
			"exported%s%s\n",
			(unsigned long long)es.sent, (unsigned long long)es.requests, (unsigned long long)es.rejected,
			(unsigned long long)es.dropped_full, (unsigned long long)es.dropped_failed,
			(unsigned long long)es.retries, (unsigned long long)es.self_skipped,
			es.last_error[0] ? "; last error: " : "", es.last_error);
	}
	if (rc)
		fprintf(stderr, "ztrace up: %s\n", err);
	ret = rc ? 1 : 0;
cleanup:
	zt_http_free(http); /* first: its handlers read what follows */
	zt_otlp_export_free(exporter, 0, NULL);
	zt_api_free(api);
	zt_source_close(src);
	zt_session_free(u.sess);
	zt_pipeline_free(u.pipe);
	zt_store_sink_free(u.sink);
	if (u.store)
		u.store->ops->close(u.store);
	if (lock_fd >= 0)
		close(lock_fd);
	return ret;
}
