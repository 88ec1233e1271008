/* SPDX-License-Identifier: MIT */
/*
 * map.c - `ztrace map` (the service map: services and the edges between
 * them with protocol, rate, error %, p50/p99) and `ztrace top` (the
 * busiest and slowest endpoints, refreshed), both over the RED rollups
 * of a local store (server/red_json.h builds the answer).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/red_client.h"
#include "server/red_json.h"
#include "store/store.h"
#include "util/duration.h"

#define NS 1000000000ULL

enum { O_DATA = 1, O_SINCE, O_JSON, O_HOST, O_PID, O_BYPROC, O_INTERVAL, O_ONCE, O_LIMIT, O_SERVER, O_TOKEN };

/* --server URL [--token-file F]: where to ask instead of a local store */
struct remote {
	const char *url, *token_file;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static double num(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_number(v) ? json_number_value(v) : -1;
}

static void ms_cell(char *out, size_t size, double ms)
{
	if (ms < 0)
		snprintf(out, size, "-");
	else if (ms < 10)
		snprintf(out, size, "%.2f", ms);
	else
		snprintf(out, size, "%.0f", ms);
}

/* "REQ RATE/s ERR% P50 P99" of a RED object. */
static void red_cells(json_t *o, char *out, size_t size)
{
	char p50[16], p99[16];

	ms_cell(p50, sizeof(p50), num(o, "p50_ms"));
	ms_cell(p99, sizeof(p99), num(o, "p99_ms"));
	snprintf(out, size, "%8.0f %8.2f %6.1f%% %8s %8s", num(o, "requests"),
		 num(o, "rate_per_s") < 0 ? 0 : num(o, "rate_per_s"), 100 * num(o, "error_rate"), p50, p99);
}

static int open_ro(const char *cmd, const char *data, struct zt_store **st)
{
	int rc = zt_store_open(data, ZT_STORE_RO, st);

	if (rc) {
		fprintf(stderr, "ztrace %s: %s\n", cmd, *st ? zt_store_errmsg(*st) : strerror(-rc));
		if (*st)
			(*st)->ops->close(*st);
		return -1;
	}
	return 0;
}

static int parse_dur(const char *cmd, const char *flag, const char *arg, uint64_t *out)
{
	if (zt_parse_duration(arg, out) || !*out) {
		fprintf(stderr, "ztrace %s: invalid %s '%s': expected a duration (10s, 15m, 2h, 7d)\n", cmd,
			flag, arg);
		return -1;
	}
	return 0;
}

static int parse_pid(const char *cmd, const char *arg, uint32_t *out)
{
	char *end;
	unsigned long v = strtoul(arg, &end, 10);

	if (!*arg || *end || !v || v > UINT32_MAX) {
		fprintf(stderr, "ztrace %s: invalid --pid '%s': expected a process id\n", cmd, arg);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

/* ---- map ---- */

/* An edge's end: "svc", or "svc@host/pid" in a per-process answer. */
static void end_name(json_t *e, const char *svc, const char *host, const char *pid, char *out, size_t size)
{
	json_t *h = json_object_get(e, host), *p = json_object_get(e, pid);

	if (h || p)
		snprintf(out, size, "%s@%s/%lld", json_string_value(json_object_get(e, svc)),
			 h ? json_string_value(h) : "", p ? (long long)json_integer_value(p) : 0LL);
	else
		snprintf(out, size, "%s", json_string_value(json_object_get(e, svc)));
}

static void map_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: ztrace map [--data DIR | --store URL | --server URL [--token-file F]]\n"
	    "                  [--since DURATION] [--host H] [--pid N] [--by-process] [--json]\n\n"
	    "The service map from the RED rollups: each service (what it serves: rate, error %%,\n"
	    "p50/p99 latency) and each edge client -> server per protocol (as the client saw it).\n\n"
	    "  --data DIR        the store (default ./ztrace-data)\n"
	    "  --store URL       a store by URL (sqlite:DIR, clickhouse://HOST:PORT/DB)\n"
	    "  --server URL      ask a ztrace server's API instead (http://HOST:PORT)\n"
	    "  --token-file F    the server's bearer token (first line of F)\n"
	    "  --since DURATION  the last DURATION (default 15m; rollups are 10 s buckets)\n"
	    "  --host H          only this host's processes (drill-down)\n"
	    "  --pid N           only this process (drill-down)\n"
	    "  --by-process      one node per process (service@host/pid) instead of per service\n"
	    "  --json            JSON lines: {\"type\":\"node\",...} and {\"type\":\"edge\",...}\n");
}

int zt_cmd_map(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"data", required_argument, NULL, O_DATA},
	    {"store", required_argument, NULL, O_DATA},
	    {"since", required_argument, NULL, O_SINCE},
	    {"json", no_argument, NULL, O_JSON},
	    {"host", required_argument, NULL, O_HOST},
	    {"pid", required_argument, NULL, O_PID},
	    {"by-process", no_argument, NULL, O_BYPROC},
	    {"server", required_argument, NULL, O_SERVER},
	    {"token-file", required_argument, NULL, O_TOKEN},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *data = "./ztrace-data";
	struct remote rem = {0};
	uint64_t since = 15ULL * 60 * NS;
	struct zt_red_map_query q = {0};
	struct zt_store *st = NULL;
	json_t *m = NULL, *v;
	char err[512], cells[96];
	int opt, json = 0, rc;
	size_t i;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			map_usage(stdout);
			return 0;
		case O_DATA:
			data = optarg;
			break;
		case O_SINCE:
			if (parse_dur("map", "--since", optarg, &since))
				return 2;
			break;
		case O_JSON:
			json = 1;
			break;
		case O_HOST:
			q.host = optarg;
			break;
		case O_PID:
			if (parse_pid("map", optarg, &q.pid))
				return 2;
			break;
		case O_BYPROC:
			q.by_process = 1;
			break;
		case O_SERVER:
			rem.url = optarg;
			break;
		case O_TOKEN:
			rem.token_file = optarg;
			break;
		default:
			fprintf(stderr, "ztrace map: see 'ztrace map --help'\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ztrace map: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (rem.token_file && !rem.url) {
		fprintf(stderr, "ztrace map: --token-file needs --server\n");
		return 2;
	}
	if (rem.url) {
		char qs[512] = "", num[32], path[600];
		snprintf(num, sizeof(num), "%llums", (unsigned long long)(since / 1000000ULL));
		zt_red_client_qs(qs, sizeof(qs), "since", num);
		if (q.host)
			zt_red_client_qs(qs, sizeof(qs), "host", q.host);
		if (q.pid) {
			snprintf(num, sizeof(num), "%u", q.pid);
			zt_red_client_qs(qs, sizeof(qs), "pid", num);
		}
		if (q.by_process)
			zt_red_client_qs(qs, sizeof(qs), "by", "process");
		snprintf(path, sizeof(path), "/api/v1/map?%s", qs);
		rc = zt_red_client_get(rem.url, rem.token_file, path, &m, err, sizeof(err));
	} else {
		if (open_ro("map", data, &st))
			return 1;
		q.since_ns = now_ns() > since ? now_ns() - since : 0; /* longer than the epoch: all */
		rc = zt_red_map(st, &q, &m, err, sizeof(err));
		st->ops->close(st);
	}
	if (rc) {
		fprintf(stderr, "ztrace map: %s\n", err);
		return 1;
	}
	if (json) {
		json_array_foreach(json_object_get(m, "nodes"), i, v)
		{
			json_object_set_new(v, "type", json_string("node"));
			char *line = json_dumps(v, JSON_COMPACT);
			printf("%s\n", line);
			free(line);
		}
		json_array_foreach(json_object_get(m, "edges"), i, v)
		{
			json_object_set_new(v, "type", json_string("edge"));
			char *line = json_dumps(v, JSON_COMPACT);
			printf("%s\n", line);
			free(line);
		}
	} else {
		char name[256];
		printf("%-40s %8s %8s %7s %8s %8s\n", "SERVICE", "REQ", "RATE/s", "ERR", "P50ms", "P99ms");
		json_array_foreach(json_object_get(m, "nodes"), i, v)
		{
			json_t *h = json_object_get(v, "host"), *p = json_object_get(v, "pid");
			if (h || p)
				snprintf(name, sizeof(name), "%s@%s/%lld",
					 json_string_value(json_object_get(v, "service")),
					 h ? json_string_value(h) : "",
					 p ? (long long)json_integer_value(p) : 0LL);
			else
				snprintf(name, sizeof(name), "%s%s",
					 json_string_value(json_object_get(v, "service")),
					 json_is_true(json_object_get(v, "traced")) ? "" : " (not traced)");
			red_cells(v, cells, sizeof(cells));
			printf("%-40.40s %s\n", name, cells);
		}
		printf("\n%-44s %-9s %8s %8s %7s %8s %8s\n", "EDGE (client -> server)", "PROTOCOL", "REQ",
		       "RATE/s", "ERR", "P50ms", "P99ms");
		json_array_foreach(json_object_get(m, "edges"), i, v)
		{
			char cl[96], sv[96];
			end_name(v, "client", "host", "pid", cl, sizeof(cl));
			end_name(v, "server", "server_host", "server_pid", sv, sizeof(sv));
			snprintf(name, sizeof(name), "%s -> %s", cl, sv);
			red_cells(v, cells, sizeof(cells));
			printf("%-44.44s %-9s %s\n", name, json_string_value(json_object_get(v, "protocol")),
			       cells);
		}
		if (!json_array_size(json_object_get(m, "nodes")))
			printf("(no RED data in the last %llus: is `ztrace up` running on %s?)\n",
			       (unsigned long long)(since / NS), data);
	}
	json_decref(m);
	return 0;
}

/* ---- top ---- */

static volatile sig_atomic_t top_stop;
static void on_sig(int sig)
{
	(void)sig;
	top_stop = 1;
}

static void top_usage(FILE *f)
{
	fprintf(f, "usage: ztrace top [--data DIR | --store URL | --server URL [--token-file F]]\n"
		   "                  [--interval DURATION] [--since DURATION] [--limit N] [--once] [--json]\n\n"
		   "The busiest and the slowest endpoints over the last --since (default 1m), refreshed\n"
		   "every --interval (default 2s) until Ctrl-C.\n\n"
		   "  --data DIR           the store (default ./ztrace-data)\n"
		   "  --store URL          a store by URL (sqlite:DIR, clickhouse://HOST:PORT/DB)\n"
		   "  --server URL         ask a ztrace server's API instead (http://HOST:PORT)\n"
		   "  --token-file F       the server's bearer token (first line of F)\n"
		   "  --once               print one frame and exit (for scripts)\n"
		   "  --limit N            endpoints in each table (default 10)\n"
		   "  --json               with --once: JSON lines, one endpoint each (by requests)\n");
}

struct ep {
	json_t *o;
	double req, p99;
};

static int by_req(const void *a, const void *b)
{
	const struct ep *x = a, *y = b;
	return x->req < y->req ? 1 : x->req > y->req ? -1 : 0;
}

static int by_p99(const void *a, const void *b)
{
	const struct ep *x = a, *y = b;
	return x->p99 < y->p99 ? 1 : x->p99 > y->p99 ? -1 : 0;
}

static int top_frame(const char *data, const struct remote *rem, uint64_t since, unsigned limit, int json,
		     int clear)
{
	struct zt_red_query q;
	struct zt_store *st = NULL;
	json_t *res = NULL, *series, *v;
	struct ep *eps;
	char err[512], cells[96], name[128];
	size_t n = 0, i;
	int rc;

	if (rem->url) {
		char path[128];
		snprintf(path, sizeof(path), "/api/v1/metrics/red?kind=endpoint&since=%llums",
			 (unsigned long long)(since / 1000000ULL));
		rc = zt_red_client_get(rem->url, rem->token_file, path, &res, err, sizeof(err));
	} else {
		if (open_ro("top", data, &st))
			return 1;
		memset(&q, 0, sizeof(q));
		q.kind = ZT_RK_ENDPOINT;
		q.since_ns = now_ns() > since ? now_ns() - since : 0; /* longer than the epoch: all */
		rc = zt_red_series(st, &q, &res, err, sizeof(err));
		st->ops->close(st);
	}
	if (rc) {
		fprintf(stderr, "ztrace top: %s\n", err);
		return 1;
	}
	series = json_object_get(res, "series");
	eps = calloc(json_array_size(series) + 1, sizeof(*eps));
	if (!eps) {
		json_decref(res);
		return 1;
	}
	json_array_foreach(series, i, v)
	{
		json_t *pt = json_array_get(json_object_get(v, "points"), 0);
		if (!pt)
			continue;
		/* labels onto the point: one object per endpoint */
		json_object_set(pt, "service", json_object_get(v, "service"));
		json_object_set(pt, "endpoint", json_object_get(v, "endpoint"));
		json_object_set(pt, "protocol", json_object_get(v, "protocol"));
		eps[n].o = pt;
		eps[n].req = num(pt, "requests");
		eps[n++].p99 = num(pt, "p99_ms");
	}
	qsort(eps, n, sizeof(*eps), by_req);
	if (json) {
		for (i = 0; i < n; i++) {
			json_object_del(eps[i].o, "t_ns");
			char *line = json_dumps(eps[i].o, JSON_COMPACT);
			printf("%s\n", line);
			free(line);
		}
	} else {
		if (clear)
			printf("\033[H\033[2J");
		printf("ztrace top - last %llus, %zu endpoints\n\nBUSIEST\n",
		       (unsigned long long)(since / NS), n);
		printf("%-44s %8s %8s %7s %8s %8s\n", "SERVICE ENDPOINT", "REQ", "RATE/s", "ERR", "P50ms",
		       "P99ms");
		for (i = 0; i < n && i < limit; i++) {
			snprintf(name, sizeof(name), "%s %s",
				 json_string_value(json_object_get(eps[i].o, "service")),
				 json_string_value(json_object_get(eps[i].o, "endpoint")));
			red_cells(eps[i].o, cells, sizeof(cells));
			printf("%-44.44s %s\n", name, cells);
		}
		qsort(eps, n, sizeof(*eps), by_p99);
		printf("\nSLOWEST (p99)\n");
		printf("%-44s %8s %8s %7s %8s %8s\n", "SERVICE ENDPOINT", "REQ", "RATE/s", "ERR", "P50ms",
		       "P99ms");
		for (i = 0; i < n && i < limit; i++) {
			snprintf(name, sizeof(name), "%s %s",
				 json_string_value(json_object_get(eps[i].o, "service")),
				 json_string_value(json_object_get(eps[i].o, "endpoint")));
			red_cells(eps[i].o, cells, sizeof(cells));
			printf("%-44.44s %s\n", name, cells);
		}
	}
	fflush(stdout);
	free(eps);
	json_decref(res);
	return 0;
}

int zt_cmd_top(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"data", required_argument, NULL, O_DATA},
	    {"store", required_argument, NULL, O_DATA},
	    {"since", required_argument, NULL, O_SINCE},
	    {"interval", required_argument, NULL, O_INTERVAL},
	    {"once", no_argument, NULL, O_ONCE},
	    {"limit", required_argument, NULL, O_LIMIT},
	    {"json", no_argument, NULL, O_JSON},
	    {"server", required_argument, NULL, O_SERVER},
	    {"token-file", required_argument, NULL, O_TOKEN},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *data = "./ztrace-data";
	uint64_t since = 60 * NS, interval = 2 * NS;
	struct remote rem = {0};
	unsigned long limit = 10;
	int opt, once = 0, json = 0;
	char *end;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			top_usage(stdout);
			return 0;
		case O_DATA:
			data = optarg;
			break;
		case O_SINCE:
			if (parse_dur("top", "--since", optarg, &since))
				return 2;
			break;
		case O_INTERVAL:
			if (parse_dur("top", "--interval", optarg, &interval) || interval < 100000000ULL) {
				if (interval && interval < 100000000ULL)
					fprintf(stderr, "ztrace top: --interval must be 100ms or more\n");
				return 2;
			}
			break;
		case O_ONCE:
			once = 1;
			break;
		case O_JSON:
			json = 1;
			break;
		case O_SERVER:
			rem.url = optarg;
			break;
		case O_TOKEN:
			rem.token_file = optarg;
			break;
		case O_LIMIT:
			limit = strtoul(optarg, &end, 10);
			if (!*optarg || *end || !limit || limit > 1000) {
				fprintf(stderr, "ztrace top: invalid --limit '%s': expected 1..1000\n",
					optarg);
				return 2;
			}
			break;
		default:
			fprintf(stderr, "ztrace top: see 'ztrace top --help'\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ztrace top: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (rem.token_file && !rem.url) {
		fprintf(stderr, "ztrace top: --token-file needs --server\n");
		return 2;
	}
	if (json && !once) {
		fprintf(stderr, "ztrace top: --json needs --once\n");
		return 2;
	}
	if (once)
		return top_frame(data, &rem, since, (unsigned)limit, json, 0);
	signal(SIGINT, on_sig);
	signal(SIGTERM, on_sig);
	while (!top_stop) {
		struct timespec ts = {(time_t)(interval / NS), (long)(interval % NS)};
		if (top_frame(data, &rem, since, (unsigned)limit, 0, isatty(1)))
			return 1;
		nanosleep(&ts, NULL);
	}
	return 0;
}
