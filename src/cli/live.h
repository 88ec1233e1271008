/* SPDX-License-Identifier: MIT */
/*
 * live.h - what the two live commands (`up`, `record`) share: the stop
 * flag their signal handlers set, the privilege check, tracefs, and the
 * options that configure the BPF source.
 */
#ifndef ZT_CLI_LIVE_H
#define ZT_CLI_LIVE_H

#include <signal.h>
#include <stdint.h>

#include "agent/source.h"

/* getopt_long codes of the live commands' options. */
enum {
	OPT_DATA = 1,
	OPT_CAP,
	OPT_STATUS,
	OPT_CONNS,
	OPT_VERBOSE,
	OPT_DURATION,
	OPT_PORT,
	OPT_PATH,
	OPT_RID,
	OPT_FORCE,
	OPT_SECRETS,
	OPT_BODIES,
	OPT_RETENTION,
	OPT_MAXSIZE,
	OPT_NOTLS,
};

/* Set by SIGINT and SIGTERM (zt_live_install_signals). */
extern volatile sig_atomic_t zt_live_stop;

/* 0 when this process may load BPF programs; else says which
 * capabilities are missing (on stderr, naming cmd) and returns -1. */
int zt_live_check_privileges(const char *cmd);
void zt_live_install_signals(void);
/* Tracepoint attachment needs tracefs; mounts it when it may. */
void zt_live_ensure_tracefs(void);
/* The options both commands take (--payload-cap, --status-interval,
 * --max-conns, --duration, --verbose, --capture-path, --no-tls): 0, or -1 after
 * saying what is wrong. */
int zt_live_parse_opt(const char *cmd, int opt, const char *arg, struct zt_bpf_opts *bo, uint64_t *status_s,
		      uint64_t *max_conns, uint64_t *duration_ns);

#endif /* ZT_CLI_LIVE_H */
