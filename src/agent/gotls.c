/* SPDX-License-Identifier: MIT */
/*
 * gotls.c - places the Go crypto/tls uprobes (gotls.h).
 *
 * Per executable: inspect it (gobin.c); if probeable, write its struct
 * gotls_cfg into zt_gotls_cfgs at a fresh index and attach, with that index
 * as the BPF cookie, an entry probe on (*Conn).Write and (*Conn).Read, a
 * probe on each of their return instructions, and an entry probe on
 * (*halfConn).decrypt (record seqs, only where the tls.Conn offsets of the
 * Go version are known).
 */
#include "agent/gotls.h"
#include "agent/gobin.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define GOTLS_MAX_BIN 256   /* == ZT_GOTLS_MAX_BIN in bpf/gotls.bpf.h */
#define GOTLS_MAX_SEEN 4096 /* executables looked at (Go or not) */

/* Mirrors struct gotls_cfg in bpf/gotls.bpf.h. */
struct gotls_cfg {
	uint64_t itab_tcpconn;
	uint32_t off_in;
	uint32_t off_rawinput;
};

struct seen {
	dev_t dev;
	ino_t ino;
};

struct zt_gotls {
	struct zt_gotls_progs p;
	int verbose;
	uint32_t nbin;
	struct bpf_link **links;
	size_t nlinks, caplinks;
	struct seen *seen;
	size_t nseen;
	struct zt_gotls_stats st;
};

/* offsetof(crypto/tls.Conn, in) and (.., rawInput) on 64-bit targets, per
 * Go version; 0 when not known. Only versions whose layout was measured
 * (reflect on the toolchain: tests/unit/test_gobin.c checks it against the
 * installed Go) are listed: a wrong offset would make wrong seqs, which
 * would link unrelated spans. The fields move when Conn gains fields
 * (1.20 isHandshakeComplete became atomic.Bool, 1.21 added quic). */
static void tls_offsets(const struct zt_gobin *g, uint32_t *off_in, uint32_t *off_raw)
{
	*off_in = *off_raw = 0;
	if (g->major == 1 && g->minor == 19) {
		*off_in = 344;
		*off_raw = 632;
	}
}

void zt_gotls_offsets(int major, int minor, uint32_t *off_in, uint32_t *off_raw)
{
	struct zt_gobin g = {.major = major, .minor = minor};
	tls_offsets(&g, off_in, off_raw);
}

struct zt_gotls *zt_gotls_new(const struct zt_gotls_progs *p, int verbose)
{
	struct zt_gotls *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->p = *p;
	t->verbose = verbose;
	t->seen = calloc(GOTLS_MAX_SEEN, sizeof(*t->seen));
	if (!t->seen) {
		free(t);
		return NULL;
	}
	return t;
}

static int add_link(struct zt_gotls *t, struct bpf_program *prog, const char *path, uint64_t off, uint32_t cookie)
{
	LIBBPF_OPTS(bpf_uprobe_opts, o, .bpf_cookie = cookie);
	struct bpf_link *l;

	if (t->nlinks == t->caplinks) {
		size_t n = t->caplinks ? t->caplinks * 2 : 64;
		struct bpf_link **nl = realloc(t->links, n * sizeof(*nl));
		if (!nl)
			return -ENOMEM;
		t->links = nl;
		t->caplinks = n;
	}
	l = bpf_program__attach_uprobe_opts(prog, -1, path, (size_t)off, &o);
	if (!l) {
		t->st.attach_failed++;
		return -errno;
	}
	t->links[t->nlinks++] = l;
	t->st.probes++;
	return 0;
}

/* Attaches the probes of one probeable executable; on failure the links
 * made so far stay (they are harmless without their partners: an entry
 * without returns only ages out of the LRU map). */
static int attach_bin(struct zt_gotls *t, const char *path, const struct zt_gobin *g)
{
	const struct zt_gobin_func *w = &g->fn[ZT_GOFN_CONN_WRITE], *r = &g->fn[ZT_GOFN_CONN_READ];
	const struct zt_gobin_func *d = &g->fn[ZT_GOFN_DECRYPT];
	struct gotls_cfg cfg = {0};
	uint32_t idx = t->nbin;
	int rc;

	if (idx >= GOTLS_MAX_BIN)
		return -ENOSPC;
	/* the itab address is a link-time vaddr: only valid unrelocated */
	cfg.itab_tcpconn = g->pie ? 0 : g->itab_tcpconn;
	tls_offsets(g, &cfg.off_in, &cfg.off_rawinput);
	if (!d->found)
		cfg.off_in = cfg.off_rawinput = 0;
	if (bpf_map_update_elem(t->p.cfg_map_fd, &idx, &cfg, BPF_ANY))
		return -errno;
	t->nbin++;
	/* returns first: an entry seen without its return probe in place
	 * would only leave a stale map entry */
	for (uint32_t i = 0; i < w->nret; i++)
		if ((rc = add_link(t, t->p.write_ret, path, w->ret_off[i], idx)))
			return rc;
	for (uint32_t i = 0; i < r->nret; i++)
		if ((rc = add_link(t, t->p.read_ret, path, r->ret_off[i], idx)))
			return rc;
	if (cfg.off_in && (rc = add_link(t, t->p.decrypt, path, d->entry_off, idx)))
		return rc;
	if ((rc = add_link(t, t->p.write_enter, path, w->entry_off, idx)) ||
	    (rc = add_link(t, t->p.read_enter, path, r->entry_off, idx)))
		return rc;
	if (!cfg.off_in)
		t->st.no_read_seq++;
	return 0;
}

int zt_gotls_add_pid(struct zt_gotls *t, uint32_t pid)
{
	char path[64], err[256];
	struct zt_gobin g;
	struct stat st;
	const char *why;
	int rc;

	snprintf(path, sizeof(path), "/proc/%u/exe", pid);
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return 0; /* gone, or a kernel thread */
	for (size_t i = 0; i < t->nseen; i++)
		if (t->seen[i].dev == st.st_dev && t->seen[i].ino == st.st_ino)
			return 0;
	if (t->nseen == GOTLS_MAX_SEEN) {
		t->st.table_full++;
		return 0;
	}
	t->seen[t->nseen++] = (struct seen){st.st_dev, st.st_ino};
	if (zt_gobin_inspect(path, &g, err, sizeof(err)) != 0 || !g.is_go)
		return 0;
	if (!zt_gobin_probeable(&g, &why)) {
		if (g.fn[ZT_GOFN_CONN_WRITE].found || g.major == 0 || (g.major == 1 && g.minor < 17))
			t->st.unsupported++;
		if (t->verbose)
			fprintf(stderr, "ztrace: go tls: pid %u (%s): not probed: %s\n", pid, g.version, why);
		return 0;
	}
	rc = attach_bin(t, path, &g);
	if (rc) {
		fprintf(stderr, "ztrace: go tls: pid %u (%s): attaching failed: %s\n", pid, g.version, strerror(-rc));
		return rc;
	}
	t->st.probed++;
	if (t->verbose)
		fprintf(stderr, "ztrace: go tls: pid %u: %s, %u+%u returns probed%s\n", pid, g.version,
			g.fn[ZT_GOFN_CONN_WRITE].nret, g.fn[ZT_GOFN_CONN_READ].nret, g.has_symtab ? "" : " (stripped)");
	return 1;
}

int zt_gotls_scan(struct zt_gotls *t)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		char *end;
		unsigned long pid = strtoul(e->d_name, &end, 10);
		if (*end || !pid)
			continue;
		if (zt_gotls_add_pid(t, (uint32_t)pid) == 1)
			n++;
	}
	closedir(d);
	return n;
}

const struct zt_gotls_stats *zt_gotls_stats(const struct zt_gotls *t)
{
	return &t->st;
}

void zt_gotls_free(struct zt_gotls *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nlinks; i++)
		bpf_link__destroy(t->links[i]);
	free(t->links);
	free(t->seen);
	free(t);
}
