/* SPDX-License-Identifier: MIT */
#include "cli/live.h"

#include <errno.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/duration.h"
#include "util/num.h"

volatile sig_atomic_t zt_live_stop;

/* BPF needs root or CAP_BPF + CAP_PERFMON (+ CAP_SYS_RESOURCE for the
 * memory lock on older kernels): checked before anything is created, so a
 * user without them gets one clear line and no data dir. Returns 0 when
 * allowed; else says which capabilities are missing. */
int zt_live_check_privileges(const char *cmd)
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

static void on_signal(int sig)
{
	(void)sig;
	zt_live_stop = 1;
}

void zt_live_install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

void zt_live_ensure_tracefs(void)
{
	struct stat st;

	if (stat("/sys/kernel/tracing/events", &st) == 0 || stat("/sys/kernel/debug/tracing/events", &st) == 0)
		return;
	if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL) == 0)
		fprintf(stderr, "ztrace: mounted tracefs at /sys/kernel/tracing\n");
}

int zt_live_parse_opt(const char *cmd, int opt, const char *arg, struct zt_bpf_opts *bo, uint64_t *status_s,
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
	case OPT_NOTLS:
		bo->no_tls = true;
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
