/* SPDX-License-Identifier: MIT */
/*
 * up.c - `ztrace up` (live BPF source -> session -> queue -> writer thread ->
 * store, one process) and `ztrace record FILE` (live BPF source -> record
 * file). Both run on the pipeline runner (agent/pipeline.h).
 */
#include <errno.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <sys/file.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "agent/pipeline.h"
#include "agent/record.h"
#include "agent/source.h"
#include "cli/cli.h"
#include "proto/proto.h"
#include "proto/http1.h"
#include "proto/redact.h"
#include "proto/trace_hdr.h"
#include "session/session.h"
#include "store/sink.h"
#include "store/store.h"
#include "util/duration.h"
#include "util/num.h"

static volatile sig_atomic_t stop_requested;

/* BPF needs root or CAP_BPF + CAP_PERFMON (+ CAP_SYS_RESOURCE for the
 * memory lock on older kernels): checked before anything is created, so a
 * user without them gets one clear line and no data dir. Returns 0 when
 * allowed; else says which capabilities are missing. */
static int check_privileges(const char *cmd)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[2];
	static const struct {
		int cap;
		const char *name;
	} need[] = {{39 /* CAP_BPF */, "CAP_BPF"}, {38 /* CAP_PERFMON */, "CAP_PERFMON"},
		    {24 /* CAP_SYS_RESOURCE */, "CAP_SYS_RESOURCE"}};
	char missing[96] = "";
	size_t n = 0;

	if (geteuid() == 0)
		return 0;
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) != 0)
		memset(data, 0, sizeof(data));
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		int c = need[i].cap;
		if (!(data[c / 32].effective & (1u << (c % 32))))
			n += (size_t)snprintf(missing + n, sizeof(missing) - n, "%s%s", n ? ", " : "", need[i].name);
	}
	if (!n)
		return 0;
	fprintf(stderr,
		"ztrace %s: tracing needs root, or the capabilities CAP_BPF, CAP_PERFMON and CAP_SYS_RESOURCE; "
		"this process lacks %s (try sudo)\n",
		cmd, missing);
	return -1;
}

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

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Tracepoint attachment needs tracefs; mount it when we may. */
static void ensure_tracefs(void)
{
	struct stat st;

	if (stat("/sys/kernel/tracing/events", &st) == 0 || stat("/sys/kernel/debug/tracing/events", &st) == 0)
		return;
	if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL) == 0)
		fprintf(stderr, "ztrace: mounted tracefs at /sys/kernel/tracing\n");
}

/* ---- ztrace up ---- */

#define DEFAULT_RETENTION_NS (24ULL * 3600 * 1000000000ULL)
#define DEFAULT_MAX_SIZE 10000000000ULL /* 10 GB, or a quarter of a smaller disk */
#define MIN_MAX_SIZE 1000000ULL

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
};

/* A TCP connection carries no protocol we parse: stop capturing it. If the
 * map update fails the kernel keeps capturing and the session keeps
 * discarding, as before: nothing is lost. */
static void up_on_unclassified(void *ctx, uint64_t sk, uint64_t sock_ino)
{
	struct up_ctx *u = ctx;
	struct zt_source *src = u->pipe ? zt_pipeline_source(u->pipe) : NULL;

	if (src && src->ops->quiet)
		src->ops->quiet(src, sk, sock_ino);
}

/* The drop counters, in the same words in the live status line and the
 * final line (tests and users grep them). */
static void print_drops(FILE *f, const struct zt_session_stats *st, const struct zt_pipeline_stats *ps,
			const uint64_t *kc, const struct zt_store_sink_stats *ks)
{
	fprintf(f,
		"drops: ring_full %llu, map_full %llu, payload_truncated %llu, evicted %llu, unanswered %llu, "
		"orphan_resp %llu, bad_events %llu, queue_full %llu, store_failed %llu\n",
		(unsigned long long)kc[ZT_CNT_RING_FULL], (unsigned long long)kc[ZT_CNT_MAP_FULL],
		(unsigned long long)kc[ZT_CNT_PAYLOAD_TRUNC], (unsigned long long)st->conns_evicted,
		(unsigned long long)st->unanswered, (unsigned long long)st->orphan_responses,
		(unsigned long long)st->bad_events, (unsigned long long)ps->queue_full,
		(unsigned long long)ks->store_failed);
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
	u->ev0 = st->events;
	u->sp0 = st->spans;
}

static void up_usage(FILE *f)
{
	fprintf(f, "usage: ztrace up [--data DIR] [--payload-cap BYTES] [--status-interval SECONDS] [--max-conns N]\n"
		   "                 [--capture-path auto|fast|compat] [--request-id-headers LIST]\n"
		   "                 [--redact-params LIST] [--retention DURATION] [--max-size SIZE] [--verbose]\n\n"
		   "Traces every process on this host (eBPF; needs root or CAP_BPF+CAP_PERFMON) and stores\n"
		   "spans in DIR/ztrace.db. Read them with 'ztrace spans'. Ctrl-C flushes and exits.\n"
		   "Traced: TCP and UDP sockets (IPv4, IPv6). Not traced: Unix-domain sockets (docker.sock,\n"
		   "php-fpm...): their syscalls are counted and reported at exit.\n\n"
		   "  --data DIR              where spans are stored (default ./ztrace-data)\n"
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
		   "  --verbose               show libbpf's messages (verifier log on failure)\n",
		ZT_PAYLOAD_MAX, ZT_PAYLOAD_DEFAULT);
}

enum { OPT_DATA = 1, OPT_CAP, OPT_STATUS, OPT_CONNS, OPT_VERBOSE, OPT_DURATION, OPT_PORT, OPT_PATH, OPT_RID, OPT_FORCE, OPT_SECRETS, OPT_BODIES,
       OPT_RETENTION, OPT_MAXSIZE };

static int parse_live_opt(const char *cmd, int opt, const char *arg, struct zt_bpf_opts *bo, uint64_t *status_s,
			  uint64_t *max_conns, uint64_t *duration_ns)
{
	uint64_t v;

	switch (opt) {
	case OPT_CAP:
		if (zt_parse_uint(arg, ZT_PAYLOAD_MAX, &v)) {
			fprintf(stderr, "ztrace %s: invalid --payload-cap '%s': expected 0..%d\n", cmd, arg,
				ZT_PAYLOAD_MAX);
			return -1;
		}
		bo->payload_cap = (uint32_t)v;
		return 0;
	case OPT_STATUS:
		if (zt_parse_uint(arg, 86400, status_s)) {
			fprintf(stderr, "ztrace %s: invalid --status-interval '%s': expected whole seconds\n", cmd, arg);
			return -1;
		}
		return 0;
	case OPT_CONNS:
		if (zt_parse_uint(arg, 1u << 24, max_conns) || *max_conns == 0) {
			fprintf(stderr, "ztrace %s: invalid --max-conns '%s': expected 1..16777216\n", cmd, arg);
			return -1;
		}
		return 0;
	case OPT_DURATION:
		if (zt_parse_duration(arg, duration_ns) || *duration_ns == 0) {
			fprintf(stderr, "ztrace %s: invalid --duration '%s': expected a length above 0, e.g. 30s, 5m "
					"(leave it out to run until Ctrl-C)\n",
				cmd, arg);
			return -1;
		}
		return 0;
	case OPT_VERBOSE:
		bo->verbose = 1;
		return 0;
	case OPT_PATH: {
		int p = zt_capture_path_parse(arg);
		if (p < 0) {
			fprintf(stderr, "ztrace %s: invalid --capture-path '%s': expected auto, fast or compat\n", cmd,
				arg);
			return -1;
		}
		bo->capture_path = (enum zt_capture_path)p;
		return 0;
	}
	}
	return -1;
}

int zt_cmd_up(int argc, char **argv)
{
	static const struct option opts[] = {
		{"data", required_argument, NULL, OPT_DATA},
		{"payload-cap", required_argument, NULL, OPT_CAP},
		{"status-interval", required_argument, NULL, OPT_STATUS},
		{"max-conns", required_argument, NULL, OPT_CONNS},
		{"verbose", no_argument, NULL, OPT_VERBOSE},
		{"capture-path", required_argument, NULL, OPT_PATH},
		{"request-id-headers", required_argument, NULL, OPT_RID},
		{"redact-params", required_argument, NULL, OPT_SECRETS},
		{"retention", required_argument, NULL, OPT_RETENTION},
		{"max-size", required_argument, NULL, OPT_MAXSIZE},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct zt_bpf_opts bo = {.payload_cap = ZT_PAYLOAD_DEFAULT};
	uint64_t status_s = 2, max_conns = 16384, unused = 0;
	uint64_t retention_ns = DEFAULT_RETENTION_NS, max_size = 0;
	bool max_size_set = false;
	const char *data = "./ztrace-data";
	struct up_ctx u;
	struct zt_session_cfg cfg;
	struct zt_pipeline_cfg pc;
	struct zt_source *src = NULL;
	char err[512];
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
		if (opt == '?' || parse_live_opt("up", opt, optarg, &bo, &status_s, &max_conns, &unused)) {
			if (opt == '?')
				fprintf(stderr, "ztrace up: see 'ztrace up --help'\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ztrace up: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (check_privileges("up"))
		return 1;
	rc = zt_store_open(data, ZT_STORE_RW, &u.store);
	if (rc) {
		fprintf(stderr, "ztrace up: cannot open the store in %s: %s\n", data,
			u.store ? zt_store_errmsg(u.store) : strerror(-rc));
		goto cleanup;
	}
	if (u.store->notice[0])
		fprintf(stderr, "ztrace up: warning: %s\n", u.store->notice);
	lock_fd = lock_data_dir(data);
	if (lock_fd < 0)
		goto cleanup;
	memset(&pc, 0, sizeof(pc));
	zt_session_as_stage(&pc, &u.sess);
	{
		struct zt_joiner_cfg jc = {0};
		u.sink = zt_store_sink_new(u.store, &jc, NULL, NULL);
		if (u.sink) /* a full disk does not stop tracing */
			zt_store_sink_backoff(u.sink, 1);
	}
	if (u.sink) {
		char age[32] = "forever", size[32] = "no size bound";
		if (!max_size_set)
			max_size = default_max_size(data);
		zt_store_sink_retention(u.sink, retention_ns, max_size);
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
	pc.sink_tick = zt_store_sink_tick;
	pc.sink_end = zt_store_sink_end;
	pc.sink_flush = zt_store_sink_flush;
	pc.sink_errmsg = zt_store_sink_errmsg;
	pc.sink_ctx = u.sink;
	pc.threaded = true;
	pc.stop = &stop_requested;
	pc.status_ns = status_s * 1000000000ULL;
	pc.on_status = up_on_status;
	pc.status_ctx = &u;
	u.pipe = zt_pipeline_new(&pc);
	if (!u.pipe) {
		fprintf(stderr, "ztrace up: out of memory\n");
		goto cleanup;
	}
	install_signals();
	ensure_tracefs();
	rc = zt_source_open_bpf(&bo, u.pipe, &src, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "ztrace up: %s\n", err);
		goto cleanup;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.host = src->host;
	cfg.mono_to_real = src->mono_to_real;
	cfg.max_conns = (uint32_t)max_conns;
	cfg.on_unclassified = up_on_unclassified;
	cfg.hook_ctx = &u;
	u.sess = zt_session_new(&cfg, zt_pipeline_span, u.pipe);
	if (!u.sess) {
		fprintf(stderr, "ztrace up: out of memory\n");
		goto cleanup;
	}
	fprintf(stderr, "ztrace: tracing this host, spans go to %s/ztrace.db (Ctrl-C to stop)\n", data);
	rc = zt_pipeline_run(u.pipe, src, err, sizeof(err));
	if (src->ops->counters)
		src->ops->counters(src, kc);
	{
		const struct zt_session_stats *st = zt_session_stats(u.sess);
		fprintf(stderr,
			"ztrace: stopped: %llu events, %llu spans stored, %llu syscalls on connections of no known "
			"protocol not captured, %llu on Unix-domain sockets not traced; ",
			(unsigned long long)st->events, (unsigned long long)u.store->spans_written,
			(unsigned long long)kc[ZT_CNT_QUIET], (unsigned long long)kc[ZT_CNT_UNIX]);
		zt_store_sink_finish(u.sink);
		say_store_state(&u);

		print_drops(stderr, st, zt_pipeline_stats(u.pipe), kc, zt_store_sink_stats(u.sink));
		const struct zt_joiner_stats *js = zt_store_sink_joiner_stats(u.sink);
		fprintf(stderr,
			"ztrace: traces: links tcp_seq %llu, thread %llu, x_request_id %llu, explicit %llu; late %llu, "
			"aliases %llu, window_full %llu, keys_evicted_early %llu\n",
			(unsigned long long)js->links[ZT_LINK_TCP_SEQ], (unsigned long long)js->links[ZT_LINK_THREAD],
			(unsigned long long)js->links[ZT_LINK_X_REQUEST_ID],
			(unsigned long long)js->links[ZT_LINK_EXPLICIT], (unsigned long long)js->late_links,
			(unsigned long long)js->aliases, (unsigned long long)js->window_full,
			(unsigned long long)js->keys_evicted_early);
		{
			const struct zt_store_sink_stats *ks = zt_store_sink_stats(u.sink);
			if (ks->retention_dropped || ks->retention_errors)
				fprintf(stderr, "ztrace: retention dropped %llu old spans (%llu errors)\n",
					(unsigned long long)ks->retention_dropped,
					(unsigned long long)ks->retention_errors);
		}
	}
	if (rc)
		fprintf(stderr, "ztrace up: %s\n", err);
	ret = rc ? 1 : 0;
cleanup:
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

/* ---- ztrace record ---- */

/* Streams whose redaction tails `record` keeps (proto/redact.h). */
#define REC_STREAMS 4096

struct rec_ctx {
	struct zt_rec_writer w;
	int err;
	uint16_t port; /* keep only this port's socket events; 0: all */
	uint64_t filtered;
	struct zt_redactor *red; /* secrets, on the reassembled streams */
	uint8_t buf[ZT_EVENT_MAX_SIZE];
};

static bool rec_keep(const struct rec_ctx *r, const void *rec, size_t len)
{
	const struct zt_event_hdr *h = rec;

	if (!r->port)
		return true;
	if (h->type == ZT_EV_DATA && len >= sizeof(struct zt_data_ev)) {
		const struct zt_data_ev *d = rec;
		return d->lport == r->port || d->rport == r->port;
	}
	if (h->type == ZT_EV_SOCK_STATE && len >= sizeof(struct zt_sock_ev)) {
		const struct zt_sock_ev *e = rec;
		return e->lport == r->port || e->rport == r->port;
	}
	return true;
}

/* Secrets never reach the disk: every protocol redacts its own in the
 * payload (length-preserving) before the record is written, on each
 * socket's reassembled stream so a secret split across syscalls is found
 * (proto/redact.h). */
static int rec_on_event(void *ctx, const void *rec, size_t len)
{
	struct rec_ctx *r = ctx;
	const struct zt_event_hdr *h = rec;

	if (r->err)
		return 0;
	if (!rec_keep(r, rec, len)) {
		r->filtered++;
		return 0;
	}
	if (h->type == ZT_EV_DATA && len > sizeof(struct zt_data_ev) && len <= sizeof(r->buf)) {
		const struct zt_data_ev *d = (const void *)r->buf;
		memcpy(r->buf, rec, len);
		zt_redact_stream(r->red, d->sk, d->sock_ino, d->dir, r->buf + sizeof(*d), len - sizeof(*d), d->bytes);
		rec = r->buf;
	} else if (h->type == ZT_EV_SOCK_STATE && len >= sizeof(struct zt_sock_ev) &&
		   ((const struct zt_sock_ev *)rec)->newstate == ZT_TCP_CLOSE) {
		zt_redactor_close(r->red, ((const struct zt_sock_ev *)rec)->sk);
	}
	if (zt_rec_write(&r->w, rec, len))
		r->err = -EIO;
	return 0;
}

static void record_usage(FILE *f)
{
	fprintf(f, "usage: ztrace record FILE [--duration D] [--port PORT] [--payload-cap BYTES]\n"
		   "                     [--capture-path auto|fast|compat] [--force] [--verbose]\n\n"
		   "Saves the raw kernel event stream of this host to FILE until Ctrl-C or --duration\n"
		   "(e.g. 30s, 5m). 'ztrace replay FILE' runs the pipeline on it. Credentials (HTTP\n"
		   "Authorization, Cookie and Set-Cookie values, secret query parameters, and each\n"
		   "protocol's credentials) are redacted, wherever the syscalls split them; the rest of\n"
		   "the captured payloads (message bodies included) is kept: treat FILE as sensitive,\n"
		   "or use --redact-bodies.\n\n"
		   "FILE is created mode 0600; an existing FILE or a symbolic link is refused.\n\n"
		   "  --port PORT   keep only socket events whose local or remote port is PORT\n"
		   "  --force       overwrite FILE if it exists (never through a symbolic link)\n"
		   "  --redact-bodies  keep only HTTP/1 message heads: bodies and every other\n"
		   "                protocol's payload are overwritten (replay then gives HTTP spans only)\n");
}

int zt_cmd_record(int argc, char **argv)
{
	static const struct option opts[] = {
		{"duration", required_argument, NULL, OPT_DURATION},
		{"port", required_argument, NULL, OPT_PORT},
		{"payload-cap", required_argument, NULL, OPT_CAP},
		{"verbose", no_argument, NULL, OPT_VERBOSE},
		{"capture-path", required_argument, NULL, OPT_PATH},
		{"force", no_argument, NULL, OPT_FORCE},
		{"redact-bodies", no_argument, NULL, OPT_BODIES},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct zt_bpf_opts bo = {.payload_cap = ZT_PAYLOAD_DEFAULT};
	uint64_t duration_ns = 0, unused = 0, unused2 = 0;
	int bodies = 0;
	struct rec_ctx *r = NULL;
	struct zt_pipeline *pipe = NULL;
	struct zt_pipeline_cfg pc;
	struct zt_source *src = NULL;
	char err[512];
	uint64_t kc[ZT_CNT__COUNT] = {0};
	int opt, rc, ret = 1, wopen = 0, wflags = 0;
	uint16_t port = 0;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'h') {
			record_usage(stdout);
			return 0;
		}
		if (opt == OPT_FORCE) {
			wflags |= ZT_REC_FORCE;
			continue;
		}
		if (opt == OPT_BODIES) {
			bodies = 1;
			continue;
		}
		if (opt == OPT_PORT) {
			uint64_t v;
			if (zt_parse_uint(optarg, 65535, &v) || v == 0) {
				fprintf(stderr, "ztrace record: invalid --port '%s': expected 1..65535\n", optarg);
				return 2;
			}
			port = (uint16_t)v;
			continue;
		}
		if (opt == '?' || parse_live_opt("record", opt, optarg, &bo, &unused, &unused2, &duration_ns)) {
			if (opt == '?')
				fprintf(stderr, "ztrace record: see 'ztrace record --help'\n");
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "ztrace record: expected one FILE argument (see 'ztrace record --help')\n");
		return 2;
	}
	if (check_privileges("record"))
		return 1;
	r = calloc(1, sizeof(*r));
	if (!r || !(r->red = zt_redactor_new(REC_STREAMS))) {
		free(r);
		return 1;
	}
	zt_redactor_set_bodies(r->red, bodies);
	r->port = port;
	memset(&pc, 0, sizeof(pc));
	pc.on_event = rec_on_event;
	pc.stage_ctx = r;
	pc.stop = &stop_requested;
	pc.duration_ns = duration_ns;
	pipe = zt_pipeline_new(&pc);
	if (!pipe)
		goto cleanup;
	install_signals();
	ensure_tracefs();
	/* the file first: a refused FILE costs no BPF load */
	{
		char host[64];
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		if (zt_rec_writer_open(&r->w, argv[optind], host,
				       (int64_t)(zt_clock_ns(CLOCK_REALTIME) - zt_clock_ns(CLOCK_MONOTONIC)), wflags,
				       err, sizeof(err))) {
			fprintf(stderr, "ztrace record: %s\n", err);
			goto cleanup;
		}
	}
	wopen = 1;
	rc = zt_source_open_bpf(&bo, pipe, &src, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "ztrace record: %s\n", err);
		goto cleanup;
	}
	fprintf(stderr, "ztrace: recording to %s (Ctrl-C to stop)\n", argv[optind]);
	rc = zt_pipeline_run(pipe, src, err, sizeof(err));
	if (rc)
		fprintf(stderr, "ztrace record: %s\n", err);
	if (src->ops->counters)
		src->ops->counters(src, kc);
	ret = rc ? 1 : 0;
cleanup:
	zt_source_close(src);
	if (wopen && (zt_rec_writer_close(&r->w) || r->err)) {
		fprintf(stderr, "ztrace record: writing %s failed\n", argv[optind]);
		ret = 1;
	} else if (wopen && ret == 0) {
		fprintf(stderr,
			"ztrace: recorded %llu events (%llu bytes), %llu filtered out, %llu %s bytes redacted; "
			"drops: ring_full %llu, map_full %llu\n",
			(unsigned long long)r->w.records, (unsigned long long)r->w.bytes,
			(unsigned long long)r->filtered, (unsigned long long)zt_redactor_stats(r->red)->bytes,
			bodies ? "secret and body" : "secret",
			(unsigned long long)kc[ZT_CNT_RING_FULL], (unsigned long long)kc[ZT_CNT_MAP_FULL]);
	}
	zt_pipeline_free(pipe);
	zt_redactor_free(r->red);
	free(r);
	return ret;
}
