/* SPDX-License-Identifier: MIT */
/* main.c - `ztrace COMMAND ...`: one binary, many roles (see DESIGN.md). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "bpf/events.h"
#include "cli/cli.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *what;
} commands[] = {
	{"up", zt_cmd_up, "trace this host and store spans locally (agent + embedded store)"},
	{"spans", zt_cmd_spans, "list stored spans"},
	{"traces", zt_cmd_traces, "list stored traces (one line each)"},
	{"trace", zt_cmd_trace, "show one trace as a waterfall"},
	{"record", zt_cmd_record, "save the raw kernel event stream to a file"},
	{"replay", zt_cmd_replay, "run the pipeline on a recorded event stream"},
	{"agent", zt_cmd_agent, "trace this host and ship spans to a ztrace server"},
	{"server", zt_cmd_server, "take spans from agents and store them (trace assembly on)"},
	{"map", zt_cmd_map, "the service map: services and edges with rate, errors, latency"},
	{"top", zt_cmd_top, "the busiest and slowest endpoints, live"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: ztrace COMMAND [OPTIONS]\n\n"
		   "Zero-code tracing: every HTTP exchange on this host as spans, linked into traces,\n"
		   "no SDK, no restart.\n\n"
		   "commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].what);
	fprintf(f, "  version  print the version\n\n'ztrace COMMAND --help' describes a command's options.\n");
}

int main(int argc, char **argv)
{
	/* what ztrace creates (stores, recordings, locks) is its owner's only:
	 * spans and payloads are what processes said to each other */
	umask(077);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("ztrace %s (event ABI %d)\n", ZT_VERSION, ZT_ABI_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "ztrace: unknown command '%s' (try 'ztrace --help')\n", argv[1]);
	return 2;
}
