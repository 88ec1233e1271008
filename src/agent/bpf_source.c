/* SPDX-License-Identifier: MIT */
/*
 * bpf_source.c - loads bpf/ztrace.bpf.c (open -> set rodata -> load ->
 * attach, as libbpf-tools do) and drains its ring buffer.
 */
#include "agent/source.h"
#include "agent/pipeline.h"
#include "agent/uprobe.h"
#include "agent/uprobe_tls.h"
#include "agent/gotls.h"
#include "util/num.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "ztrace.skel.h"

const char *const zt_counter_names[ZT_CNT__COUNT] = {
	[ZT_CNT_EVENTS] = "events",
	[ZT_CNT_RING_FULL] = "ring_full",
	[ZT_CNT_MAP_FULL] = "map_full",
	[ZT_CNT_PAYLOAD_TRUNC] = "payload_truncated",
	[ZT_CNT_IOV_TRUNC] = "iov_truncated",
	[ZT_CNT_MMSG_TRUNC] = "mmsg_truncated",
	[ZT_CNT_QUIET] = "quiet",
	[ZT_CNT_UNIX] = "unix_not_traced",
	[ZT_CNT_SKIPPED] = "body_skipped",
	[ZT_CNT_TLS_EVENTS] = "tls_events",
	[ZT_CNT_TLS_CIPHER] = "tls_ciphertext",
	[ZT_CNT_TLS_UNBOUND] = "tls_unbound",
};

static const char *const capture_path_names[] = {
	[ZT_CAPTURE_AUTO] = "auto",
	[ZT_CAPTURE_FAST] = "fast",
	[ZT_CAPTURE_COMPAT] = "compat",
};

int zt_capture_path_parse(const char *s)
{
	for (int i = 0; i < (int)(sizeof(capture_path_names) / sizeof(capture_path_names[0])); i++)
		if (s && strcmp(s, capture_path_names[i]) == 0)
			return i;
	return -1;
}

const char *zt_capture_path_name(enum zt_capture_path p)
{
	return (unsigned)p < sizeof(capture_path_names) / sizeof(capture_path_names[0]) ? capture_path_names[p]
											 : "?";
}

struct zt_bpf_source {
	struct ztrace_bpf *skel;
	struct ring_buffer *rb;
	zt_event_fn cb;
	void *ctx;
	int ncpu;
	enum zt_capture_path path; /* fast or compat, as loaded */
	struct zt_uprobe_mgr *uprobes; /* TLS library probes; NULL with no_tls */
	struct zt_tls_progs tls;
	struct zt_gotls *gotls; /* the Go crypto/tls matcher; freed after uprobes */
};

static int verbose_libbpf;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !verbose_libbpf)
		return 0;
	if (!verbose_libbpf)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int on_ring(void *ctx, void *data, size_t len)
{
	struct zt_bpf_source *s = ctx;
	const struct zt_event_hdr *h = data;

	/* a new program: its TLS libraries get probes (uprobe.h) */
	if (s->uprobes && len >= sizeof(*h) && h->type == ZT_EV_PROC_EXEC)
		zt_uprobe_on_exec(s->uprobes, h->pid, zt_clock_ns(CLOCK_MONOTONIC));
	return s->cb(s->ctx, data, len);
}

/* TLS plaintext (bpf/tls.bpf.h): the uprobe manager and its matchers,
 * then every running process's files. Other TLS stacks register their
 * matcher here. A failure leaves the syscall capture running: the TLS
 * traffic is then seen as ciphertext, and that is said. */
static void tls_setup(struct zt_bpf_source *s)
{
	int n;

	s->uprobes = zt_uprobe_mgr_new();
	if (!s->uprobes) {
		fprintf(stderr, "ztrace: tls: out of memory: TLS plaintext is not captured\n");
		return;
	}
	s->tls = (struct zt_tls_progs){
		.write_enter = s->skel->progs.zt_ssl_write_enter,
		.read_enter = s->skel->progs.zt_ssl_read_enter,
		.write_ex_enter = s->skel->progs.zt_ssl_write_ex_enter,
		.read_ex_enter = s->skel->progs.zt_ssl_read_ex_enter,
		.ret = s->skel->progs.zt_ssl_ret,
		.ex_ret = s->skel->progs.zt_ssl_ex_ret,
	};
	zt_tls_openssl_register(s->uprobes, &s->tls);
	s->gotls = zt_gotls_register(s->uprobes,
				     &(struct zt_gotls_progs){
					 .write_enter = s->skel->progs.zt_gotls_write_enter,
					 .read_enter = s->skel->progs.zt_gotls_read_enter,
					 .read_ret = s->skel->progs.zt_gotls_read_ret,
					 .decrypt = s->skel->progs.zt_gotls_decrypt,
					 .cfg_map_fd = bpf_map__fd(s->skel->maps.zt_gotls_cfgs),
				     });
	if (!s->gotls)
		fprintf(stderr, "ztrace: tls: out of memory: Go TLS plaintext is not captured\n");
	n = zt_uprobe_scan_all(s->uprobes);
	if (n < 0)
		fprintf(stderr, "ztrace: tls: cannot list processes (%s): only processes started from now on are probed\n",
			strerror(-n));
	if (zt_uprobe_stats(s->uprobes)->failures)
		fprintf(stderr, "ztrace: tls: some TLS libraries could not be probed (above): their connections are "
				"traced as ciphertext, without spans\n");
	fprintf(stderr, "ztrace: tls: %u TLS librar%s probed at start; new processes are probed at exec (--no-tls: off)\n",
		s->tls.files, s->tls.files == 1 ? "y" : "ies");
	if (s->gotls)
		fprintf(stderr, "ztrace: tls: %llu Go program%s probed at start (crypto/tls)\n",
			(unsigned long long)zt_gotls_stats(s->gotls)->probed,
			zt_gotls_stats(s->gotls)->probed == 1 ? "" : "s");
}

__attribute__((format(printf, 3, 4))) static void say(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
}

/* The one place the capture path is decided: the kernel programs follow the
 * use_fast_path rodata flag. Fast needs the bpf_rdonly_cast kfunc (6.2+) and
 * task storage; the map the chosen path does not use is shrunk to one entry
 * or not created. Returns the path, or -ENOTSUP when fast is forced on a
 * kernel without it; *why says what the kernel lacks. */
static int choose_capture_path(struct ztrace_bpf *skel, enum zt_capture_path want, const char **why,
			       char *err, size_t errsz)
{
	*why = NULL;
	if (want != ZT_CAPTURE_COMPAT) {
		struct btf *vmlinux = btf__load_vmlinux_btf();

		if (!vmlinux || btf__find_by_name_kind(vmlinux, "bpf_rdonly_cast", BTF_KIND_FUNC) < 0)
			*why = "this kernel lacks bpf_rdonly_cast (Linux 6.2+)";
		else if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_TASK_STORAGE, NULL) != 1)
			*why = "this kernel lacks BPF task storage (Linux 5.11+)";
		btf__free(vmlinux);
		if (want == ZT_CAPTURE_FAST && *why) {
			say(err, errsz, "--capture-path fast: %s; use auto or compat", *why);
			return -ENOTSUP;
		}
		if (!*why) {
			skel->rodata->use_fast_path = true;
			bpf_map__set_max_entries(skel->maps.zt_inflight, 1);
			return ZT_CAPTURE_FAST;
		}
	}
	skel->rodata->use_fast_path = false;
	bpf_map__set_autocreate(skel->maps.zt_task_io, false);
	return ZT_CAPTURE_COMPAT;
}

static void announce_capture_path(enum zt_capture_path path, enum zt_capture_path want, const char *why)
{
	if (path == ZT_CAPTURE_FAST)
		fprintf(stderr, "ztrace: capture path fast (BTF reads, task storage)\n");
	else if (want == ZT_CAPTURE_COMPAT)
		fprintf(stderr, "ztrace: capture path compat (forced by --capture-path)\n");
	else
		fprintf(stderr,
			"ztrace: capture path compat: %s; socket lookup uses probe reads, about 0.5 us more per "
			"traced syscall\n",
			why);
}

int zt_bpf_source_open(const struct zt_bpf_opts *o, zt_event_fn cb, void *ctx, struct zt_bpf_source **out,
		       char *err, size_t errsz)
{
	struct zt_bpf_source *s = NULL;
	const char *why = NULL;
	int rc;

	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
		say(err, errsz,
		    "kernel BTF not found at /sys/kernel/btf/vmlinux: ztrace needs Linux 5.8+ built with "
		    "CONFIG_DEBUG_INFO_BTF=y");
		return -ENOENT;
	}
	if (o->payload_cap > ZT_PAYLOAD_MAX) {
		say(err, errsz, "payload capture %u is above the maximum %d", o->payload_cap, ZT_PAYLOAD_MAX);
		return -EINVAL;
	}
	if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) != 1) {
		say(err, errsz,
		    "this kernel has no BPF ring buffer (needs 5.8+), or BPF is not permitted: run as root or "
		    "with CAP_BPF and CAP_PERFMON");
		return -ENOTSUP;
	}
	verbose_libbpf = o->verbose;
	libbpf_set_print(libbpf_print);

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cb = cb;
	s->ctx = ctx;
	s->ncpu = libbpf_num_possible_cpus();
	s->skel = ztrace_bpf__open();
	if (!s->skel) {
		rc = -errno;
		say(err, errsz, "cannot open the BPF object: %s", strerror(-rc));
		goto cleanup;
	}
	s->skel->rodata->self_tgid = (uint32_t)getpid();
	s->skel->rodata->payload_cap = o->payload_cap;
	rc = choose_capture_path(s->skel, o->capture_path, &why, err, errsz);
	if (rc < 0)
		goto cleanup;
	s->path = (enum zt_capture_path)rc;
	s->skel->rodata->tls_enabled = !o->no_tls;
	if (o->no_tls) {
		bpf_map__set_max_entries(s->skel->maps.zt_tls_thr, 1);
		bpf_map__set_max_entries(s->skel->maps.zt_tls_ssl, 1);
		bpf_map__set_max_entries(s->skel->maps.zt_tls_pend, 1);
	}
	rc = ztrace_bpf__load(s->skel);
	if (rc) {
		if ((rc == -EPERM || rc == -EACCES) && geteuid() != 0)
			say(err, errsz,
			    "not allowed to load BPF programs (%s): run as root, or grant CAP_BPF, CAP_PERFMON "
			    "and CAP_SYS_RESOURCE",
			    strerror(-rc));
		else
			say(err, errsz, "loading the BPF programs failed: %s (run with --verbose for the verifier log)",
			    strerror(-rc));
		goto cleanup;
	}
	rc = ztrace_bpf__attach(s->skel);
	if (rc) {
		say(err, errsz,
		    "attaching to the kernel's tracepoints failed: %s (is tracefs mounted? try: mount -t tracefs "
		    "tracefs /sys/kernel/tracing)",
		    strerror(-rc));
		goto cleanup;
	}
	s->rb = ring_buffer__new(bpf_map__fd(s->skel->maps.zt_events), on_ring, s, NULL);
	if (!s->rb) {
		rc = -errno;
		say(err, errsz, "cannot map the BPF ring buffer: %s", strerror(-rc));
		goto cleanup;
	}
	announce_capture_path(s->path, o->capture_path, why);
	if (o->no_tls)
		fprintf(stderr, "ztrace: tls: off (--no-tls): TLS connections are traced as ciphertext, without spans\n");
	else
		tls_setup(s);
	*out = s;
	return 0;
cleanup:
	zt_bpf_source_close(s);
	return rc;
}

/* The kernel side wakes us only when ZT_WAKEUP_BYTES wait in the
 * ring, so a quiet ring is drained here at least every ZT_DRAIN_MS. */
int zt_bpf_source_poll(struct zt_bpf_source *s, int timeout_ms)
{
	int n;

	if (timeout_ms > ZT_DRAIN_MS)
		timeout_ms = ZT_DRAIN_MS;
	if (s->uprobes) {
		/* an exec check due sooner (uprobe.h) */
		uint64_t due = zt_uprobe_next_due(s->uprobes), now = zt_clock_ns(CLOCK_MONOTONIC);
		if (due && (due <= now || (due - now) / 1000000 < (uint64_t)timeout_ms))
			timeout_ms = due <= now ? 0 : (int)((due - now) / 1000000) + 1;
	}
	n = ring_buffer__poll(s->rb, timeout_ms);
	if (n == -EINTR)
		n = 0;
	if (n >= 0) {
		int m = ring_buffer__consume(s->rb);
		n = m < 0 ? m : n + m;
	}
	if (s->uprobes)
		zt_uprobe_tick(s->uprobes, zt_clock_ns(CLOCK_MONOTONIC));
	return n;
}

int zt_bpf_source_quiet(struct zt_bpf_source *s, uint64_t sk, uint64_t sock_ino)
{
	int fd = bpf_map__fd(s->skel->maps.zt_socks);
	struct zt_sock_lbl l;

	/* keep the cached labels when the entry is this socket's */
	if (bpf_map_lookup_elem(fd, &sk, &l) == 0 && l.sock_ino == sock_ino && l.tls)
		return 0; /* its handshake matched nothing; its plaintext comes now */
	if (bpf_map_lookup_elem(fd, &sk, &l) || l.sock_ino != sock_ino) {
		memset(&l, 0, sizeof(l));
		l.sock_ino = sock_ino;
	}
	l.quiet = 1;
	return bpf_map_update_elem(fd, &sk, &l, BPF_ANY) ? -errno : 0;
}

int zt_bpf_source_skip(struct zt_bpf_source *s, uint64_t sk, uint64_t sock_ino, uint8_t dir, uint32_t seq)
{
	int fd = bpf_map__fd(s->skel->maps.zt_socks);
	struct zt_sock_lbl l;

	/* only a socket the kernel already labelled: its labels stay */
	if (dir > 1 || bpf_map_lookup_elem(fd, &sk, &l) || l.sock_ino != sock_ino)
		return -ENOENT; /* e.g. closed by now: its entry went with it */
	l.skip |= (uint8_t)(1u << dir);
	l.skip_seq[dir] = seq;
	return bpf_map_update_elem(fd, &sk, &l, BPF_EXIST) ? -errno : 0;
}

enum zt_capture_path zt_bpf_source_path(const struct zt_bpf_source *s)
{
	return s->path;
}

void zt_bpf_source_counters(struct zt_bpf_source *s, uint64_t out[ZT_CNT__COUNT])
{
	uint64_t *vals = calloc((size_t)s->ncpu, sizeof(*vals));
	int fd = bpf_map__fd(s->skel->maps.zt_counters);

	for (uint32_t k = 0; k < ZT_CNT__COUNT; k++) {
		out[k] = 0;
		if (vals && bpf_map_lookup_elem(fd, &k, vals) == 0)
			for (int c = 0; c < s->ncpu; c++)
				out[k] += vals[c];
	}
	free(vals);
}

void zt_bpf_source_close(struct zt_bpf_source *s)
{
	if (!s)
		return;
	ring_buffer__free(s->rb);
	zt_uprobe_mgr_free(s->uprobes); /* its links before their programs */
	zt_gotls_free(s->gotls);
	if (s->skel && s->skel->skeleton) {
		/* the tracepoint links too, in parallel (see zt_uprobe_detach_links);
		 * the skeleton then skips the NULL ones */
		const struct bpf_object_skeleton *sk = s->skel->skeleton;
		struct bpf_link **ls = calloc((size_t)sk->prog_cnt, sizeof(*ls));
		if (ls) {
			for (int i = 0; i < sk->prog_cnt; i++) {
				struct bpf_prog_skeleton *ps = (void *)((char *)sk->progs + (size_t)i * sk->prog_skel_sz);
				if (ps->link) {
					ls[i] = *ps->link;
					*ps->link = NULL;
				}
			}
			zt_uprobe_detach_links(ls, (size_t)sk->prog_cnt);
			free(ls);
		}
	}
	ztrace_bpf__destroy(s->skel);
	free(s);
}

/* ---- the live source behind struct zt_source (agent/pipeline.h) ---- */

struct bpf_src {
	struct zt_source base;
	struct zt_bpf_source *b;
};

static int bpf_poll(struct zt_source *src, int timeout_ms, char *err, size_t errsz)
{
	int n = zt_bpf_source_poll(((struct bpf_src *)src)->b, timeout_ms);

	if (n < 0 && err)
		snprintf(err, errsz, "reading the ring buffer failed: %s", strerror(-n));
	return n;
}

static int bpf_skip(struct zt_source *src, uint64_t sk, uint64_t ino, uint8_t dir, uint32_t seq)
{
	return zt_bpf_source_skip(((struct bpf_src *)src)->b, sk, ino, dir, seq);
}

static int bpf_quiet(struct zt_source *src, uint64_t sk, uint64_t ino)
{
	return zt_bpf_source_quiet(((struct bpf_src *)src)->b, sk, ino);
}

static void bpf_counters(struct zt_source *src, uint64_t out[ZT_CNT__COUNT])
{
	zt_bpf_source_counters(((struct bpf_src *)src)->b, out);
}

static void bpf_close(struct zt_source *src)
{
	zt_bpf_source_close(((struct bpf_src *)src)->b);
	free(src);
}

static const struct zt_source_ops bpf_ops = {
    .name = "bpf", .poll = bpf_poll, .quiet = bpf_quiet, .skip = bpf_skip, .counters = bpf_counters, .close = bpf_close,
};

int zt_source_open_bpf(const struct zt_bpf_opts *o, struct zt_pipeline *p, struct zt_source **out, char *err,
		       size_t errsz)
{
	struct bpf_src *s = calloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	rc = zt_bpf_source_open(o, zt_pipeline_event, p, &s->b, err, errsz);
	if (rc) {
		free(s);
		return rc;
	}
	s->base.ops = &bpf_ops;
	s->base.live = true;
	s->base.mono_to_real = (int64_t)(zt_clock_ns(CLOCK_REALTIME) - zt_clock_ns(CLOCK_MONOTONIC));
	if (gethostname(s->base.host, sizeof(s->base.host)) != 0)
		snprintf(s->base.host, sizeof(s->base.host), "localhost");
	s->base.host[sizeof(s->base.host) - 1] = '\0';
	*out = &s->base;
	return 0;
}
