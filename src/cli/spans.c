/* SPDX-License-Identifier: MIT */
/* spans.c - `ztrace spans`: list stored spans as a table or as JSON lines. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/fmt.h"
#include "model/span_json.h"
#include "store/store.h"
#include "util/duration.h"
#include "util/num.h"

/* The table: fixed columns, then REQUEST (method and resource) takes what
 * the terminal leaves, at least MIN_REQUEST_COLS; numbers are never cut. */
#define FIXED_COLS 73 /* TIME DURATION SIDE PROCESS(PID) PROTO CODE SERVER with their spaces */
#define MIN_REQUEST_COLS 16
#define MAX_REQUEST_COLS 512
#define PIPE_COLS 160 /* stdout is not a terminal */
#define DEFAULT_LIMIT 100

#define MAX_FIELDS 16

struct spans_out {
	bool json;
	int req_cols; /* width of the REQUEST column */
	int fields[MAX_FIELDS]; /* --fields: span fields to print, by index */
	int nfields;
	unsigned long rows;
	int err; /* printing failed: the store's message does not apply */
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ztrace spans [--data DIR | --server URL [--token-file F]] [--since DURATION]\n"
		"                    [--protocol P] [--process NAME]\n"
		"                    [--status S] [--errors] [--min-duration D] [--path TEXT]\n"
		"                    [--endpoint TEXT] [--pid N] [--port N] [--side SIDE]\n"
		"                    [--limit N] [--fields LIST | --json]\n\n"
		"Lists the spans stored by `ztrace up`, oldest first. Every filter given must hold;\n"
		"text is matched literally (%% and _ are plain characters).\n\n"
		"  --data DIR        where spans are stored (default ./ztrace-data)\n"
		"  --store URL       the same as --data: DIR, sqlite:DIR or clickhouse://HOST:PORT/DB\n"
		"  --server URL      ask a ztrace server's API instead (e.g. http://127.0.0.1:7070)\n"
		"  --token-file F    the server's token (first line of F), when it wants one\n"
		"  --since DURATION  only spans that started in the last DURATION (500ms, 30s, 15m, 2h, 7d)\n"
		"  --protocol P      only this application protocol (e.g. http; any case)\n"
		"  --process NAME    only processes whose name starts with NAME, in any case\n"
		"                    (--process ngi matches nginx and NGINX-worker)\n"
		"  --status S        only this response status: ok, client_error, server_error,\n"
		"                    timeout or unknown\n"
		"  --errors          only errors: client_error, server_error or timeout\n"
		"  --min-duration D  only spans that took at least D (e.g. 100ms, 2s)\n"
		"  --path TEXT       only requests whose resource (path and query) contains TEXT\n"
		"                    (case-sensitive)\n"
		"  --endpoint TEXT   only spans whose endpoint (e.g. GET /users/{id}) contains TEXT\n"
		"                    (case-sensitive)\n"
		"  --pid N           only spans of process id N\n"
		"  --port N          only connections with N as the client or the server port\n"
		"  --side SIDE       only spans seen in the client or in the server process\n"
		"                    (client, server), or at its NIC in a capture (client-nic, server-nic)\n"
		"  --limit N         the N most recent matching spans (default %d; 0: all)\n"
		"  --fields LIST     a table of these span fields (comma-separated JSON names,\n"
		"                    e.g. start_ns,process,endpoint,response_code; 'list' names them)\n"
		"  --json            one JSON object per line instead of a table\n"
		"  -h, --help        this text\n",
		DEFAULT_LIMIT);
}

/* 12 columns: "HH:MM:SS.mmm" today, "MM-DD HH:MM:SS" on other days. */
static void fmt_time(uint64_t ns, char *out, size_t outsz)
{
	time_t sec = (time_t)(ns / 1000000000), now = time(NULL);
	struct tm tm, today;
	char hms[16];

	if (!localtime_r(&sec, &tm) || !localtime_r(&now, &today)) {
		snprintf(out, outsz, "-");
		return;
	}
	if (tm.tm_year != today.tm_year || tm.tm_yday != today.tm_yday) {
		if (!strftime(out, outsz, "%m-%d %H:%M", &tm))
			snprintf(out, outsz, "-");
		return;
	}
	if (!strftime(hms, sizeof(hms), "%H:%M:%S", &tm)) {
		snprintf(out, outsz, "-");
		return;
	}
	snprintf(out, outsz, "%s.%03u", hms, (unsigned)(ns / 1000000 % 1000));
}

/* The terminal's width, or PIPE_COLS when stdout is not one. */
static int term_cols(void)
{
	struct winsize ws;
	const char *c = getenv("COLUMNS");

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	if (c && atoi(c) > 0)
		return atoi(c);
	return PIPE_COLS;
}

static void fmt_endpoint(const struct zt_span *s, const uint8_t ip[16], uint16_t port, char *out,
			 size_t outsz)
{
	char addr[INET6_ADDRSTRLEN];

	struct zt_val v;

	zt_span_get(s, ip == s->client_ip ? ZT_F_client_ip : ZT_F_server_ip, &v);
	if (v.type == ZT_VAL_NULL) {
		snprintf(out, outsz, port ? "?:%u" : "-", port);
		return;
	}
	snprintf(addr, sizeof(addr), "%s", v.s);
	if (!port)
		snprintf(out, outsz, "%s", addr);
	else if (strchr(addr, ':'))
		snprintf(out, outsz, "[%s]:%u", addr, port);
	else
		snprintf(out, outsz, "%s:%u", addr, port);
}

static void print_header(const struct spans_out *o)
{
	printf("%-12s %8s %-6s %-16s %-5s %4s %-*s %s\n", "TIME", "DURATION", "SIDE", "PROCESS(PID)", "PROTO",
	       "CODE", o->req_cols, "REQUEST", "SERVER");
}

/* A table of the chosen fields, generated from the field table: each
 * value in its text form (the JSON value, unquoted), nulls as "-". */
static void print_fields(struct spans_out *o, const struct zt_span *s)
{
	struct zt_val v;

	if (o->rows == 1) {
		for (int i = 0; i < o->nfields; i++)
			printf("%s%s", i ? "\t" : "", zt_span_fields[o->fields[i]].name);
		printf("\n");
	}
	for (int i = 0; i < o->nfields; i++) {
		zt_span_get(s, (enum zt_span_field)o->fields[i], &v);
		fputs(i ? "\t" : "", stdout);
		if (v.type == ZT_VAL_NULL)
			fputs("-", stdout);
		else if (v.type == ZT_VAL_TEXT)
			fputs(v.s, stdout);
		else if (v.is_signed)
			printf("%lld", (long long)(int64_t)v.u);
		else
			printf("%llu", (unsigned long long)v.u);
	}
	printf("\n");
}

/* "a,b,c" -> field indexes; prints the error and returns -1 on a bad name. */
static int parse_fields(const char *list, struct spans_out *o)
{
	char buf[512], *save = NULL;

	if (strcmp(list, "list") == 0) {
		for (int f = 0; f < ZT_F__COUNT; f++)
			printf("%s\n", zt_span_fields[f].name);
		return 1;
	}
	snprintf(buf, sizeof(buf), "%s", list);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		int f = zt_span_field_by_name(t);
		if (f < 0) {
			fprintf(stderr, "ztrace spans: unknown field '%s' in --fields ('--fields list' names them)\n",
				t);
			return -1;
		}
		if (o->nfields == MAX_FIELDS) {
			fprintf(stderr, "ztrace spans: --fields takes at most %d fields\n", MAX_FIELDS);
			return -1;
		}
		o->fields[o->nfields++] = f;
	}
	if (o->nfields == 0) {
		fprintf(stderr, "ztrace spans: --fields needs at least one field name\n");
		return -1;
	}
	return 0;
}

static int print_row(void *ctx, const struct zt_span *s)
{
	struct spans_out *o = ctx;
	char tbuf[32], dbuf[24], proc[64], req[ZT_TYPE_LEN + ZT_RESOURCE_LEN + 2], cut[MAX_REQUEST_COLS * 4 + 8],
	    code[16], srv[64];

	o->rows++;
	if (o->json) {
		o->err = zt_span_print_json(stdout, s);
		return o->err;
	}
	if (o->nfields) {
		print_fields(o, s);
		return 0;
	}
	if (o->rows == 1)
		print_header(o);
	fmt_time(s->start_ns, tbuf, sizeof(tbuf));
	zt_fmt_duration(s->duration_ns, dbuf, sizeof(dbuf));
	snprintf(req, sizeof(req), "%s(%u)", s->process[0] ? s->process : "?", s->pid);
	zt_fmt_cut(req, 16, proc, sizeof(proc));
	snprintf(req, sizeof(req), "%s%s%s", s->request_type, s->request_type[0] ? " " : "",
		 s->request_resource[0] ? s->request_resource : "-");
	zt_fmt_cut(req, o->req_cols, cut, sizeof(cut));
	if (s->response_code >= 0)
		snprintf(code, sizeof(code), "%d", s->response_code);
	else
		snprintf(code, sizeof(code), "-");
	fmt_endpoint(s, s->server_ip, s->server_port, srv, sizeof(srv));
	printf("%-12s %8s %-6s %-16s %-5s %4s %-*s %s\n", tbuf, dbuf, zt_fmt_side(s->tap_side), proc,
	       s->l7_protocol ? zt_l7_name(s->l7_protocol) : "-", code, o->req_cols, cut, srv);
	return 0;
}

static bool known_protocol(const char *name)
{
	return zt_l7_from_name(name) != ZT_L7_UNKNOWN;
}

/* "ok"... as stored (the names of enum zt_resp_status), any case; NULL if none. */
static const char *status_name(const char *arg)
{
	for (int rs = ZT_RS_UNKNOWN; rs <= ZT_RS_TIMEOUT; rs++)
		if (strcasecmp(arg, zt_resp_status_name((enum zt_resp_status)rs)) == 0)
			return zt_resp_status_name((enum zt_resp_status)rs);
	return NULL;
}

/* A filter's text: empty would match everything and is surely a mistake. */
static int need_text(const char *flag, const char *arg, const char *what)
{
	if (arg[0])
		return 0;
	fprintf(stderr, "ztrace spans: invalid %s '': expected %s\n", flag, what);
	return 2;
}

enum {
	OPT_DATA = 256,
	OPT_SINCE,
	OPT_PROTOCOL,
	OPT_PROCESS,
	OPT_LIMIT,
	OPT_JSON,
	OPT_FIELDS,
	OPT_STATUS,
	OPT_ERRORS,
	OPT_MIN_DURATION,
	OPT_PATH,
	OPT_ENDPOINT,
	OPT_PID,
	OPT_PORT,
	OPT_SIDE,
	OPT_SERVER,
	OPT_TOKEN_FILE,
};

int zt_cmd_spans(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"data", required_argument, NULL, OPT_DATA},
	    {"store", required_argument, NULL, OPT_DATA},
	    {"since", required_argument, NULL, OPT_SINCE},
	    {"protocol", required_argument, NULL, OPT_PROTOCOL},
	    {"process", required_argument, NULL, OPT_PROCESS},
	    {"limit", required_argument, NULL, OPT_LIMIT},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"fields", required_argument, NULL, OPT_FIELDS},
	    {"status", required_argument, NULL, OPT_STATUS},
	    {"errors", no_argument, NULL, OPT_ERRORS},
	    {"min-duration", required_argument, NULL, OPT_MIN_DURATION},
	    {"path", required_argument, NULL, OPT_PATH},
	    {"endpoint", required_argument, NULL, OPT_ENDPOINT},
	    {"pid", required_argument, NULL, OPT_PID},
	    {"port", required_argument, NULL, OPT_PORT},
	    {"side", required_argument, NULL, OPT_SIDE},
	    {"server", required_argument, NULL, OPT_SERVER},
	    {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct zt_span_query q = {.limit = DEFAULT_LIMIT};
	struct spans_out out = {0};
	const char *data = "./ztrace-data", *server = NULL, *token_file = NULL;
	struct zt_store *st = NULL;
	struct zt_client *cl = NULL;
	bool data_set = false;
	uint64_t v;
	int opt, rc, ret = 0;

	/* glibc: 0 also resets the scan state a previous getopt left behind. */
	optind = 0;
	opterr = 0; /* our own one-line messages below */
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
			if (zt_parse_duration(optarg, &v)) {
				fprintf(stderr,
					"ztrace spans: invalid --since '%s': expected a duration like 500ms, "
					"30s, "
					"15m, 2h, 7d\n",
					optarg);
				return 2;
			}
			{
				uint64_t now = zt_clock_ns(CLOCK_REALTIME);
				/* Longer than the epoch: everything; 0 means no bound. */
				q.since_ns = v < now ? now - v : 0;
			}
			break;
		case OPT_PROTOCOL:
			if (!known_protocol(optarg)) {
				fprintf(stderr, "ztrace spans: unknown --protocol '%s'", optarg);
				for (unsigned i = 1; i < ZT_L7__COUNT; i++)
					fprintf(stderr, "%s%s", i > 1 ? ", " : " (known: ", zt_l7_name(i));
				fprintf(stderr, ")\n");
				return 2;
			}
			q.protocol = optarg;
			break;
		case OPT_PROCESS:
			if (need_text("--process", optarg, "the start of a process name (e.g. ngi for nginx)"))
				return 2;
			q.process = optarg;
			break;
		case OPT_STATUS:
			q.status = status_name(optarg);
			if (!q.status) {
				fprintf(stderr,
					"ztrace spans: invalid --status '%s': expected ok, client_error, "
					"server_error, timeout or unknown\n",
					optarg);
				return 2;
			}
			break;
		case OPT_ERRORS:
			q.errors_only = 1;
			break;
		case OPT_MIN_DURATION:
			if (zt_parse_duration(optarg, &v)) {
				fprintf(stderr,
					"ztrace spans: invalid --min-duration '%s': expected a duration like "
					"250us, 100ms, 2s\n",
					optarg);
				return 2;
			}
			q.min_duration_ns = v;
			break;
		case OPT_PATH:
			if (need_text("--path", optarg, "text the request's path contains (e.g. /users/)"))
				return 2;
			q.path = optarg;
			break;
		case OPT_ENDPOINT:
			if (need_text("--endpoint", optarg, "text the endpoint contains (e.g. /users/{id})"))
				return 2;
			q.endpoint = optarg;
			break;
		case OPT_PID:
			if (zt_parse_uint(optarg, UINT32_MAX, &v) || v == 0) {
				fprintf(stderr,
					"ztrace spans: invalid --pid '%s': expected a process id, a whole "
					"number from 1 to %u\n",
					optarg, UINT32_MAX);
				return 2;
			}
			q.pid = (uint32_t)v;
			break;
		case OPT_PORT:
			if (zt_parse_uint(optarg, UINT16_MAX, &v) || v == 0) {
				fprintf(stderr,
					"ztrace spans: invalid --port '%s': expected a port number from 1 to "
					"65535\n",
					optarg);
				return 2;
			}
			q.port = (uint16_t)v;
			break;
		case OPT_SIDE:
			if (strcmp(optarg, "client") == 0 || strcmp(optarg, "client-process") == 0)
				q.tap_side = ZT_TAP_CLIENT_PROCESS;
			else if (strcmp(optarg, "server") == 0 || strcmp(optarg, "server-process") == 0)
				q.tap_side = ZT_TAP_SERVER_PROCESS;
			else if (strcmp(optarg, "client-nic") == 0)
				q.tap_side = ZT_TAP_CLIENT_NIC;
			else if (strcmp(optarg, "server-nic") == 0)
				q.tap_side = ZT_TAP_SERVER_NIC;
			else if (strcmp(optarg, "app") == 0)
				q.tap_side = ZT_TAP_APP;
			else {
				fprintf(stderr,
					"ztrace spans: invalid --side '%s': expected client or server (or client-nic, server-nic, app)\n",
					optarg);
				return 2;
			}
			break;
		case OPT_LIMIT:
			if (zt_parse_uint(optarg, UINT32_MAX, &v)) {
				fprintf(stderr,
					"ztrace spans: invalid --limit '%s': expected a whole number\n",
					optarg);
				return 2;
			}
			q.limit = (unsigned)v;
			break;
		case OPT_JSON:
			out.json = true;
			break;
		case OPT_FIELDS:
			rc = parse_fields(optarg, &out);
			if (rc)
				return rc < 0 ? 2 : 0;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case ':':
			fprintf(stderr, "ztrace spans: option '%s' needs a value (see ztrace spans --help)\n",
				argv[optind - 1]);
			return 2;
		default:
			fprintf(stderr, "ztrace spans: unknown option '%s' (see ztrace spans --help)\n",
				argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ztrace spans: unexpected argument '%s' (see ztrace spans --help)\n",
			argv[optind]);
		return 2;
	}

	if (server && data_set) {
		fprintf(stderr, "ztrace spans: give --data or --server, not both\n");
		return 2;
	}
	if (token_file && !server) {
		fprintf(stderr, "ztrace spans: --token-file goes with --server\n");
		return 2;
	}
	out.req_cols = term_cols() - FIXED_COLS;
	if (out.req_cols < MIN_REQUEST_COLS)
		out.req_cols = MIN_REQUEST_COLS;
	if (out.req_cols > MAX_REQUEST_COLS)
		out.req_cols = MAX_REQUEST_COLS;
	if (server) {
		char err[512];

		rc = zt_client_open(server, token_file, &cl, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "ztrace spans: %s\n", err);
			return rc == -EINVAL ? 2 : 1;
		}
		rc = zt_client_spans(cl, &q, print_row, &out);
		if (rc) {
			fprintf(stderr, "ztrace spans: %s\n", out.err ? strerror(-out.err) : zt_client_errmsg(cl));
			ret = 1;
			goto cleanup;
		}
		goto printed;
	}
	rc = zt_store_open(data, ZT_STORE_RO, &st);
	if (rc) {
		fprintf(stderr, "ztrace spans: %s\n", st ? zt_store_errmsg(st) : strerror(-rc));
		ret = 1;
		goto cleanup;
	}
	rc = st->ops->query_spans(st, &q, print_row, &out);
	if (rc) {
		fprintf(stderr, "ztrace spans: reading spans failed: %s\n",
			out.err ? strerror(-out.err) : zt_store_errmsg(st));
		ret = 1;
		goto cleanup;
	}
printed:
	if (out.rows == 0 && !out.json)
		fprintf(stderr, "no spans found\n");
	if (fflush(stdout) == EOF) {
		perror("ztrace spans: stdout");
		ret = 1;
	}

cleanup:
	if (st)
		st->ops->close(st);
	zt_client_close(cl);
	return ret;
}
