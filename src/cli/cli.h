/* SPDX-License-Identifier: MIT */
/*
 * cli.h - subcommands of the one `ztrace` binary. Each takes argc/argv with
 * argv[0] naming the subcommand and returns the process exit code:
 * 0 success, 1 failure at run time, 2 bad usage.
 */
#ifndef ZT_CLI_H
#define ZT_CLI_H

/* The version (main.c prints it; /api/v1/status shows it). */
#ifndef ZT_VERSION
#define ZT_VERSION "0.1.0"
#endif

int zt_cmd_up(int argc, char **argv);
int zt_cmd_record(int argc, char **argv);
int zt_cmd_replay(int argc, char **argv);
int zt_cmd_spans(int argc, char **argv);
int zt_cmd_trace(int argc, char **argv);
int zt_cmd_traces(int argc, char **argv);

#endif /* ZT_CLI_H */
