/* SPDX-License-Identifier: MIT */
/*
 * trace.c - `ztrace trace ID`: one trace as an indented waterfall (or one
 * JSON object), and `ztrace traces`: one line per trace, filtered and sorted.
 * Both read the store (store.h: query_trace, query_traces), which applies
 * late links and aliases.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/fmt.h"
#include "model/span_json.h"
#include "store/store.h"
#include "store/trace_json.h"
#include "util/duration.h"
#include "util/num.h"

#define DEFAULT_DATA "./ztrace-data"
#define BAR_COLS 30
#define NAME_COLS 24     /* the indented process(pid) column, widened by depth */
#define INDENT_MAX 16    /* deeper spans are drawn at this depth, their depth shown */
#define WHAT_COLS 48     /* endpoint column of `trace` */
#define ENDPOINT_COLS 48 /* root endpoint column of `traces` */
#define MAX_TRACE_SPANS 100000
#define TRACES_DEFAULT_LIMIT 20

/* ---- shared ------------------------------------------------------------- */

/* Local time; with the date when `date` is set. */
static void fmt_time(uint64_t ns, bool date, char *out, size_t outsz)
{
	time_t sec = (time_t)(ns / 1000000000);
	struct tm tm;
	char hms[32];

	if (!localtime_r(&sec, &tm) || !strftime(hms, sizeof(hms), date ? "%Y-%m-%d %H:%M:%S" : "%H:%M:%S", &tm)) {
		snprintf(out, outsz, "-");
		return;
	}
	snprintf(out, outsz, "%s.%03u", hms, (unsigned)(ns / 1000000 % 1000));
}

static bool is_error(uint8_t status)
{
	return status == ZT_RS_CLIENT_ERROR || status == ZT_RS_SERVER_ERROR || status == ZT_RS_TIMEOUT;
}

/* Reports an option getopt refused; returns the exit code (2). */
static int bad_option(const char *cmd, int opt, char **argv)
{
	if (opt == ':')
		fprintf(stderr, "ztrace %s: option '%s' needs a value (see ztrace %s --help)\n", cmd, argv[optind - 1],
			cmd);
	else
		fprintf(stderr, "ztrace %s: unknown option '%s' (see ztrace %s --help)\n", cmd, argv[optind - 1], cmd);
	return 2;
}

static int open_store(const char *cmd, const char *data, struct zt_store **st)
{
	int rc = zt_store_open(data, ZT_STORE_RO, st);

	if (rc) {
		fprintf(stderr, "ztrace %s: %s\n", cmd, *st ? zt_store_errmsg(*st) : strerror(-rc));
		return 1;
	}
	return 0;
}

/* ---- ztrace trace ------------------------------------------------------- */

static void trace_usage(FILE *f)
{
	fprintf(f, "usage: ztrace trace ID [--data DIR | --server URL [--token-file F]] [--json]\n\n"
		   "Shows one trace: its spans as a waterfall, each under its parent.\n"
		   "ID is a trace id (as `ztrace traces` lists them, or from a traceparent header)\n"
		   "or the span_uid of any of its spans.\n\n"
		   "  --data DIR  where spans are stored (default " DEFAULT_DATA ")\n"
		   "  --server URL      ask a ztrace server's API instead (e.g. http://127.0.0.1:7070)\n"
		   "  --token-file F    the server's token (first line of F), when it wants one\n"
		   "  --json      one JSON object: {\"trace_id\": ..., \"spans\": [span objects, in start order]}\n"
		   "  -h, --help  this text\n\n"
		   "Columns: offset from the trace's start, duration, the span on the trace's time line,\n"
		   "tap side, process(pid) indented under its parent, protocol, endpoint (or type and\n"
		   "resource), response code and status. A span whose parent was not captured starts\n"
		   "a tree of its own.\n");
}

struct trace_spans {
	struct zt_span *s;
	size_t n, cap;
	bool truncated;
	int err; /* collecting failed: the store's message does not apply */
};

static int collect_span(void *ctx, const struct zt_span *s)
{
	struct trace_spans *t = ctx;

	if (t->n == MAX_TRACE_SPANS) {
		t->truncated = true;
		return 1; /* stop: success */
	}
	if (t->n == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 64;
		struct zt_span *ns = realloc(t->s, ncap * sizeof(*ns));

		if (!ns)
			return t->err = -ENOMEM;
		t->s = ns;
		t->cap = ncap;
	}
	t->s[t->n++] = *s;
	return 0;
}

/* span indexes sorted by span_uid (qsort_r; arg: the spans), to find a parent */
static int cmp_uid_idx(const void *a, const void *b, void *arg)
{
	const struct zt_span *s = arg;
	int c = strcmp(s[*(const size_t *)a].span_uid, s[*(const size_t *)b].span_uid);

	/* equal uids (hash collisions): the earlier span first */
	return c ? c : (*(const size_t *)a > *(const size_t *)b) - (*(const size_t *)a < *(const size_t *)b);
}

/* The index of the span with this uid, or -1. */
static long find_uid(const struct trace_spans *t, const size_t *sorted, const char *uid)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(t->s[sorted[mid]].span_uid, uid);

		if (c == 0) {
			while (mid > 0 && strcmp(t->s[sorted[mid - 1]].span_uid, uid) == 0)
				mid--;
			return (long)sorted[mid];
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static void print_span_row(const struct zt_span *s, unsigned depth, uint64_t t0, uint64_t total)
{
	char off[24], dur[24], bar[BAR_COLS + 1], name[64], what[WHAT_COLS * 2], whatsrc[ZT_TYPE_LEN + ZT_RESOURCE_LEN + 2];
	char code[48];
	unsigned from, len, shown = depth > INDENT_MAX ? INDENT_MAX : depth;
	uint64_t rel = s->start_ns > t0 ? s->start_ns - t0 : 0;

	snprintf(off, sizeof(off), "+");
	zt_fmt_duration(rel, off + 1, sizeof(off) - 1);
	zt_fmt_duration(s->duration_ns, dur, sizeof(dur));
	/* the bar: where the span lies on the trace's time line, at least one column */
	from = total ? (unsigned)((double)rel / (double)total * BAR_COLS) : 0;
	if (from >= BAR_COLS)
		from = BAR_COLS - 1;
	len = total ? (unsigned)((double)s->duration_ns / (double)total * BAR_COLS + 0.5) : BAR_COLS;
	if (len < 1)
		len = 1;
	if (from + len > BAR_COLS)
		len = BAR_COLS - from;
	memset(bar, ' ', BAR_COLS);
	memset(bar + from, '=', len);
	bar[BAR_COLS] = '\0';

	if (depth > INDENT_MAX)
		snprintf(name, sizeof(name), "%*s[%u] %s(%u)", (int)(2 * shown), "", depth,
			 s->process[0] ? s->process : "?", s->pid);
	else
		snprintf(name, sizeof(name), "%*s%s(%u)", (int)(2 * shown), "", s->process[0] ? s->process : "?",
			 s->pid);
	snprintf(whatsrc, sizeof(whatsrc), "%s%s%s", s->request_type, s->request_type[0] ? " " : "",
		 s->request_resource);
	zt_fmt_cut(s->endpoint[0] ? s->endpoint : whatsrc, WHAT_COLS, what, sizeof(what));
	if (s->response_code >= 0)
		snprintf(code, sizeof(code), "%d%s%s", s->response_code, is_error(s->response_status) ? " " : "",
			 is_error(s->response_status) ? zt_resp_status_name(s->response_status) : "");
	else
		snprintf(code, sizeof(code), "%s",
			 s->response_status ? zt_resp_status_name(s->response_status) : "-");
	printf("%-9s %9s |%s| %-6s %-*s %-5s %-*s %s\n", off, dur, bar, zt_fmt_side(s->tap_side), NAME_COLS, name,
	       s->l7_protocol ? zt_l7_name(s->l7_protocol) : "-", WHAT_COLS, what, code);
}

/*
 * The waterfall: a depth-first walk from each root (a span whose parent is
 * not in the trace), children in start order. Iterative, with every span
 * drawn once: parent links that loop (a file no joiner wrote) cannot hang
 * it; spans only reachable through such a loop are drawn as roots at the end.
 */
static int print_waterfall(const char *id, const struct trace_spans *t)
{
	size_t *sorted = NULL, *first_child = NULL, *next_sib = NULL, *stack = NULL;
	unsigned *depth = NULL;
	bool *drawn = NULL;
	long *parent = NULL;
	uint64_t t0 = UINT64_MAX, t1 = 0;
	unsigned errors = 0;
	char dur[24], when[48];
	const size_t none = SIZE_MAX;
	int ret = 0;

	sorted = malloc(t->n * sizeof(*sorted));
	first_child = malloc(t->n * sizeof(*first_child));
	next_sib = malloc(t->n * sizeof(*next_sib));
	stack = malloc(t->n * sizeof(*stack));
	depth = malloc(t->n * sizeof(*depth));
	drawn = calloc(t->n, sizeof(*drawn));
	parent = malloc(t->n * sizeof(*parent));
	if (!sorted || !first_child || !next_sib || !stack || !depth || !drawn || !parent) {
		fprintf(stderr, "ztrace trace: out of memory\n");
		ret = 1;
		goto out;
	}
	for (size_t i = 0; i < t->n; i++) {
		const struct zt_span *s = &t->s[i];

		sorted[i] = i;
		first_child[i] = next_sib[i] = none;
		if (s->start_ns < t0)
			t0 = s->start_ns;
		if (s->end_ns > t1)
			t1 = s->end_ns;
		errors += is_error(s->response_status);
	}
	qsort_r(sorted, t->n, sizeof(*sorted), cmp_uid_idx, t->s);
	/* children lists in start order: link from the last span backwards */
	for (size_t k = t->n; k-- > 0;) {
		long p = t->s[k].parent_uid[0] ? find_uid(t, sorted, t->s[k].parent_uid) : -1;

		parent[k] = p == (long)k ? -1 : p;
		if (parent[k] >= 0) {
			next_sib[k] = first_child[parent[k]];
			first_child[parent[k]] = k;
		}
	}

	zt_fmt_duration(t1 > t0 ? t1 - t0 : 0, dur, sizeof(dur));
	fmt_time(t0, true, when, sizeof(when));
	printf("trace %s: %zu span%s, %s, %u error%s, started %s%s\n", id, t->n, t->n == 1 ? "" : "s", dur, errors,
	       errors == 1 ? "" : "s", when, t->truncated ? " (only the first spans shown)" : "");
	printf("%-9s %9s  %-*s  %-6s %-*s %-5s %-*s %s\n", "OFFSET", "DURATION", BAR_COLS, "WATERFALL", "SIDE",
	       NAME_COLS, "PROCESS(PID)", "PROTO", WHAT_COLS, "ENDPOINT", "CODE");
	/* roots first (in start order), then whatever a loop kept unreachable */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t r = 0; r < t->n; r++) {
			size_t sp = 0;

			if (drawn[r] || (pass == 0 && parent[r] >= 0))
				continue;
			stack[sp++] = r;
			depth[r] = 0;
			drawn[r] = true;
			while (sp > 0) {
				size_t k = stack[--sp], kids = 0, j = 0;

				print_span_row(&t->s[k], depth[k], t0, t1 > t0 ? t1 - t0 : 0);
				/* children pushed so that the earliest pops first; each
				 * span is pushed once (drawn when queued): sp <= n */
				for (size_t c = first_child[k]; c != none; c = next_sib[c])
					kids += !drawn[c];
				for (size_t c = first_child[k]; c != none; c = next_sib[c]) {
					if (drawn[c])
						continue;
					stack[sp + kids - 1 - j++] = c;
					depth[c] = depth[k] + 1;
					drawn[c] = true;
				}
				sp += kids;
			}
		}
	}
out:
	free(sorted);
	free(first_child);
	free(next_sib);
	free(stack);
	free(depth);
	free(drawn);
	free(parent);
	return ret;
}

static int print_trace_json(const char *id, const struct trace_spans *t)
{
	json_t *o = json_object(), *arr = json_array();
	char *text = NULL;
	int err = !o || !arr;

	err |= json_object_set_new(o, "trace_id", json_string(id));
	for (size_t i = 0; i < t->n && !err; i++) {
		json_t *j = zt_span_to_json(&t->s[i]);

		err |= !j || json_array_append_new(arr, j);
	}
	if (!err) {
		err = json_object_set(o, "spans", arr);
		text = err ? NULL : json_dumps(o, JSON_COMPACT);
	}
	json_decref(arr);
	json_decref(o);
	if (!text) {
		fprintf(stderr, "ztrace trace: out of memory\n");
		return 1;
	}
	printf("%s\n", text);
	free(text);
	return 0;
}

enum {
	OPT_DATA = 256,
	OPT_JSON,
	OPT_SINCE,
	OPT_SERVICE,
	OPT_ENDPOINT,
	OPT_ERRORS,
	OPT_MIN_DURATION,
	OPT_SORT,
	OPT_LIMIT,
	OPT_SERVER,
	OPT_TOKEN_FILE,
};

/* --server and --data exclude each other; --token-file needs --server.
 * Opens the client when server is set. Returns 0 or an exit code. */
static int open_source(const char *cmd, const char *server, const char *token_file, bool data_set,
		       struct zt_client **cl)
{
	char err[512];
	int rc;

	if (server && data_set) {
		fprintf(stderr, "ztrace %s: give --data or --server, not both\n", cmd);
		return 2;
	}
	if (token_file && !server) {
		fprintf(stderr, "ztrace %s: --token-file goes with --server\n", cmd);
		return 2;
	}
	if (!server)
		return 0;
	rc = zt_client_open(server, token_file, cl, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "ztrace %s: %s\n", cmd, err);
		return rc == -EINVAL ? 2 : 1;
	}
	return 0;
}

int zt_cmd_trace(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"data", required_argument, NULL, OPT_DATA},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"server", required_argument, NULL, OPT_SERVER},
	    {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *data = DEFAULT_DATA, *id = NULL, *server = NULL, *token_file = NULL;
	struct trace_spans t = {0};
	struct zt_store *st = NULL;
	struct zt_client *cl = NULL;
	bool json = false, data_set = false;
	int opt, rc, ret = 0;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (opt) {
		case OPT_DATA:
			data = optarg;
			data_set = true;
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_SERVER:
			server = optarg;
			break;
		case OPT_TOKEN_FILE:
			token_file = optarg;
			break;
		case 'h':
			trace_usage(stdout);
			return 0;
		default:
			return bad_option("trace", opt, argv);
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "ztrace trace: which trace? give a trace id or span_uid (see ztrace trace --help)\n");
		return 2;
	}
	id = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "ztrace trace: unexpected argument '%s' (see ztrace trace --help)\n", argv[optind]);
		return 2;
	}
	if (!id[0] || strlen(id) >= ZT_TRACE_ID_LEN) {
		fprintf(stderr, "ztrace trace: invalid trace id '%s': 1 to %d characters\n", id, ZT_TRACE_ID_LEN - 1);
		return 2;
	}

	ret = open_source("trace", server, token_file, data_set, &cl);
	if (ret)
		return ret;
	if (cl) {
		int cut = 0;

		rc = zt_client_trace(cl, id, collect_span, &t, &cut);
		t.truncated |= cut;
	} else {
		if (open_store("trace", data, &st)) {
			ret = 1;
			goto out;
		}
		rc = st->ops->query_trace(st, id, collect_span, &t);
	}
	if (rc == -ENOENT || (!rc && !t.n)) {
		fprintf(stderr, "no trace %s in %s\n", id, cl ? server : data);
		ret = 1;
		goto out;
	}
	if (rc) {
		fprintf(stderr, "ztrace trace: reading trace %s failed: %s\n", id,
			t.err ? strerror(-t.err) : cl ? zt_client_errmsg(cl) : zt_store_errmsg(st));
		ret = 1;
		goto out;
	}
	if (t.truncated)
		fprintf(stderr, "ztrace trace: the trace has more than %d spans: only the first %d shown\n",
			MAX_TRACE_SPANS, MAX_TRACE_SPANS);
	/* The trace's id: as the store reports it (an alias resolved); a span
	 * stored without trace_id is a trace of its own, named by its uid. */
	{
		char tid[ZT_TRACE_ID_LEN];

		snprintf(tid, sizeof(tid), "%s", t.s[0].trace_id[0] ? t.s[0].trace_id : t.s[0].span_uid);
		ret = json ? print_trace_json(tid, &t) : print_waterfall(tid, &t);
	}
	if (fflush(stdout) == EOF) {
		perror("ztrace trace: stdout");
		ret = 1;
	}
out:
	if (st)
		st->ops->close(st);
	zt_client_close(cl);
	free(t.s);
	return ret;
}

/* ---- ztrace traces ------------------------------------------------------ */

static void traces_usage(FILE *f)
{
	fprintf(f,
		"usage: ztrace traces [--data DIR | --server URL [--token-file F]] [--since DURATION]\n"
		"                     [--service NAME] [--endpoint TEXT]\n"
		"                     [--errors] [--min-duration DURATION] [--sort start|duration]\n"
		"                     [--limit N] [--json]\n\n"
		"Lists stored traces, one line each: id, start, duration, spans, errors, and the root\n"
		"span's process and endpoint (the root: the first span without a parent).\n\n"
		"  --data DIR               where spans are stored (default " DEFAULT_DATA ")\n"
		"  --server URL             ask a ztrace server's API instead (e.g. http://127.0.0.1:7070)\n"
		"  --token-file F           the server's token (first line of F), when it wants one\n"
		"  --since DURATION         only traces that started in the last DURATION (500ms, 30s, 15m, 2h, 7d)\n"
		"  --service NAME           only traces whose root process starts with NAME (any case)\n"
		"  --endpoint TEXT          only traces whose root endpoint contains TEXT\n"
		"  --errors                 only traces with a client error, server error or timeout\n"
		"  --min-duration DURATION  only traces at least this long\n"
		"  --sort start|duration    most recent first (default) or longest first\n"
		"  --limit N                at most N traces (default %d; 0: all)\n"
		"  --json                   one JSON object per line: trace_id, root_uid, root_process,\n"
		"                           root_endpoint, start_ns, duration_ns, spans, errors\n"
		"  -h, --help               this text\n\n"
		"`ztrace trace ID` shows one of them.\n",
		TRACES_DEFAULT_LIMIT);
}

struct traces_out {
	bool json;
	unsigned long rows;
	int err; /* printing failed */
};

static int print_summary(void *ctx, const struct zt_trace_summary *t)
{
	struct traces_out *o = ctx;
	char when[48], dur[24], ep[ENDPOINT_COLS * 2];

	o->rows++;
	if (o->json) {
		json_t *j = zt_trace_summary_to_json(t);
		char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

		json_decref(j);
		if (!text) {
			o->err = -ENOMEM;
			return -ENOMEM;
		}
		printf("%s\n", text);
		free(text);
		return 0;
	}
	if (o->rows == 1)
		printf("%-32s %-23s %9s %5s %6s %-16s %s\n", "TRACE_ID", "START", "DURATION", "SPANS", "ERRORS", "ROOT",
		       "ENDPOINT");
	fmt_time(t->start_ns, true, when, sizeof(when));
	zt_fmt_duration(t->duration_ns, dur, sizeof(dur));
	zt_fmt_cut(t->root_endpoint, ENDPOINT_COLS, ep, sizeof(ep));
	printf("%-32s %-23s %9s %5u %6u %-16s %s\n", t->trace_id, when, dur, t->spans, t->errors,
	       t->root_process[0] ? t->root_process : "-", ep);
	return 0;
}

static int parse_duration_opt(const char *opt, const char *arg, uint64_t *v)
{
	if (zt_parse_duration(arg, v) == 0)
		return 0;
	fprintf(stderr, "ztrace traces: invalid %s '%s': expected a duration like 500ms, 30s, 15m, 2h, 7d\n", opt,
		arg);
	return 2;
}

int zt_cmd_traces(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"data", required_argument, NULL, OPT_DATA},
	    {"since", required_argument, NULL, OPT_SINCE},
	    {"service", required_argument, NULL, OPT_SERVICE},
	    {"endpoint", required_argument, NULL, OPT_ENDPOINT},
	    {"errors", no_argument, NULL, OPT_ERRORS},
	    {"min-duration", required_argument, NULL, OPT_MIN_DURATION},
	    {"sort", required_argument, NULL, OPT_SORT},
	    {"limit", required_argument, NULL, OPT_LIMIT},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"server", required_argument, NULL, OPT_SERVER},
	    {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct zt_trace_query q = {.limit = TRACES_DEFAULT_LIMIT};
	struct traces_out out = {0};
	const char *data = DEFAULT_DATA, *server = NULL, *token_file = NULL;
	struct zt_store *st = NULL;
	struct zt_client *cl = NULL;
	bool data_set = false;
	uint64_t v;
	int opt, rc, ret = 0;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (opt) {
		case OPT_DATA:
			data = optarg;
			data_set = true;
			break;
		case OPT_SERVER:
			server = optarg;
			break;
		case OPT_TOKEN_FILE:
			token_file = optarg;
			break;
		case OPT_SINCE:
			if (parse_duration_opt("--since", optarg, &v))
				return 2;
			{
				uint64_t now = zt_clock_ns(CLOCK_REALTIME);
				/* Longer than the epoch: everything; 0 means no bound. */
				q.since_ns = v < now ? now - v : 0;
			}
			break;
		case OPT_SERVICE:
		case OPT_ENDPOINT:
			if (!optarg[0]) {
				fprintf(stderr, "ztrace traces: %s needs a non-empty value\n",
					opt == OPT_SERVICE ? "--service" : "--endpoint");
				return 2;
			}
			if (opt == OPT_SERVICE)
				q.service = optarg;
			else
				q.endpoint = optarg;
			break;
		case OPT_ERRORS:
			q.errors_only = 1;
			break;
		case OPT_MIN_DURATION:
			if (parse_duration_opt("--min-duration", optarg, &q.min_duration_ns))
				return 2;
			break;
		case OPT_SORT:
			if (strcmp(optarg, "start") == 0) {
				q.sort_by_duration = 0;
			} else if (strcmp(optarg, "duration") == 0) {
				q.sort_by_duration = 1;
			} else {
				fprintf(stderr, "ztrace traces: invalid --sort '%s': start or duration\n", optarg);
				return 2;
			}
			break;
		case OPT_LIMIT:
			if (zt_parse_uint(optarg, UINT32_MAX, &v)) {
				fprintf(stderr, "ztrace traces: invalid --limit '%s': expected a whole number\n", optarg);
				return 2;
			}
			q.limit = (unsigned)v;
			break;
		case OPT_JSON:
			out.json = true;
			break;
		case 'h':
			traces_usage(stdout);
			return 0;
		default:
			return bad_option("traces", opt, argv);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ztrace traces: unexpected argument '%s' (see ztrace traces --help)\n", argv[optind]);
		return 2;
	}

	ret = open_source("traces", server, token_file, data_set, &cl);
	if (ret)
		return ret;
	if (cl) {
		rc = zt_client_traces(cl, &q, print_summary, &out);
	} else {
		if (open_store("traces", data, &st)) {
			ret = 1;
			goto out;
		}
		rc = st->ops->query_traces(st, &q, print_summary, &out);
	}
	if (rc) {
		fprintf(stderr, "ztrace traces: reading traces failed: %s\n",
			out.err ? strerror(-out.err) : cl ? zt_client_errmsg(cl) : zt_store_errmsg(st));
		ret = 1;
		goto out;
	}
	if (out.rows == 0 && !out.json)
		fprintf(stderr, "no traces found\n");
	if (fflush(stdout) == EOF) {
		perror("ztrace traces: stdout");
		ret = 1;
	}
out:
	if (st)
		st->ops->close(st);
	zt_client_close(cl);
	return ret;
}
