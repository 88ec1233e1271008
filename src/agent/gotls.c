/* SPDX-License-Identifier: MIT */
/*
 * gotls.c - the Go crypto/tls matcher (gotls.h).
 *
 * Per executable: inspect it (gobin.c); if probeable, write its struct
 * gotls_cfg into zt_gotls_cfgs at a fresh index and attach, with that index
 * as the BPF cookie, an entry probe on (*Conn).Write and (*Conn).Read, a
 * probe on each return instruction of Read (Writes are emitted at entry:
 * bpf/gotls.bpf.h says why), and an entry probe on
 * (*halfConn).decrypt (record seqs, only where the tls.Conn offsets of the
 * Go version are known).
 */
#include "agent/gotls.h"
#include "agent/gobin.h"
#include "agent/uprobe.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#define GOTLS_MAX_BIN 256 /* == ZT_GOTLS_MAX_BIN in bpf/gotls.bpf.h */

/* Mirrors struct gotls_cfg in bpf/gotls.bpf.h. */
struct gotls_cfg {
	uint64_t itab_tcpconn;
	uint32_t off_in;
	uint32_t off_rawinput;
};

struct zt_gotls {
	struct zt_gotls_progs p;
	uint32_t nbin;
	struct zt_gotls_stats st;
};

/* offsetof(crypto/tls.Conn, in) and (.., rawInput) on 64-bit targets, per
 * Go version; 0 when not known. Only versions whose layout was measured
 * (reflect on the toolchain: tests/unit/test_gobin.c checks it against the
 * installed Go) are listed: a wrong offset would make wrong seqs, and wrong
 * seqs could link unrelated spans. The fields move whenever Conn changes
 * (1.20 made isHandshakeComplete an atomic.Bool, 1.21 added quic state). */
void zt_gotls_offsets(int major, int minor, uint32_t *off_in, uint32_t *off_raw)
{
	*off_in = *off_raw = 0;
	if (major == 1 && minor == 19) {
		*off_in = 344;
		*off_raw = 632;
	}
}

static int attach(struct zt_gotls *t, struct zt_uprobe_mgr *m, struct bpf_program *prog,
		  const struct zt_uprobe_file *f, uint64_t off, uint32_t idx, char *err, size_t errsz)
{
	int rc = zt_uprobe_attach(m, prog, f, off, false, idx, err, errsz);
	if (rc == 0)
		t->st.probes++;
	return rc;
}

/* Attaches the probes of one probeable executable. Read's returns go first:
 * an entry whose returns are not in place yet would only leave a stale
 * entry in the (LRU) call map. */
static int attach_bin(struct zt_gotls *t, struct zt_uprobe_mgr *m, const struct zt_uprobe_file *f,
		      const struct zt_gobin *g, char *err, size_t errsz)
{
	const struct zt_gobin_func *w = &g->fn[ZT_GOFN_CONN_WRITE], *r = &g->fn[ZT_GOFN_CONN_READ];
	const struct zt_gobin_func *d = &g->fn[ZT_GOFN_DECRYPT];
	struct gotls_cfg cfg = {0};
	uint32_t idx = t->nbin;
	int rc;

	if (idx >= GOTLS_MAX_BIN) {
		t->st.table_full++;
		snprintf(err, errsz, "more than %d Go executables: not probed", GOTLS_MAX_BIN);
		return -ENOSPC;
	}
	/* the itab address is a link-time vaddr: only valid unrelocated */
	cfg.itab_tcpconn = g->pie ? 0 : g->itab_tcpconn;
	zt_gotls_offsets(g->major, g->minor, &cfg.off_in, &cfg.off_rawinput);
	if (!d->found)
		cfg.off_in = cfg.off_rawinput = 0;
	if (bpf_map_update_elem(t->p.cfg_map_fd, &idx, &cfg, BPF_ANY)) {
		rc = -errno;
		snprintf(err, errsz, "zt_gotls_cfgs: %s", strerror(-rc));
		return rc;
	}
	t->nbin++;
	for (uint32_t i = 0; i < r->nret; i++)
		if ((rc = attach(t, m, t->p.read_ret, f, r->ret_off[i], idx, err, errsz)))
			return rc;
	if (cfg.off_in && (rc = attach(t, m, t->p.decrypt, f, d->entry_off, idx, err, errsz)))
		return rc;
	if ((rc = attach(t, m, t->p.write_enter, f, w->entry_off, idx, err, errsz)) ||
	    (rc = attach(t, m, t->p.read_enter, f, r->entry_off, idx, err, errsz)))
		return rc;
	if (!cfg.off_in)
		t->st.no_read_seq++;
	return 0;
}

static int gotls_match(void *ctx, struct zt_uprobe_mgr *m, const struct zt_uprobe_file *f, char *err,
		       size_t errsz)
{
	struct zt_gotls *t = ctx;
	struct zt_gobin g;
	const char *why;
	uint32_t off_in, off_raw;
	int rc;

	/* Go links crypto/tls into the program (a c-shared Go library is not
	 * looked at) */
	if (!f->is_exe)
		return ZT_UPROBE_NOT_MINE;
	if (zt_gobin_inspect(f->open_path, &g, err, errsz) != 0 || !g.is_go)
		return ZT_UPROBE_NOT_MINE;
	if (!zt_gobin_probeable(&g, &why)) {
		/* a Go program without crypto/tls is simply not ours */
		if (!g.fn[ZT_GOFN_CONN_WRITE].found && !g.fn[ZT_GOFN_CONN_READ].found)
			return ZT_UPROBE_NOT_MINE;
		t->st.unsupported++;
		snprintf(err, errsz, "Go TLS not probed (%s): %s", g.version[0] ? g.version : "version unknown", why);
		return -ENOTSUP;
	}
	rc = attach_bin(t, m, f, &g, err, errsz);
	if (rc)
		return rc;
	t->st.probed++;
	zt_gotls_offsets(g.major, g.minor, &off_in, &off_raw);
	fprintf(stderr, "ztrace: tls: probing Go crypto/tls in %s (%s%s, %u returns of Read%s; seen in pid %u, %s)\n",
		f->path, g.version, g.has_symtab ? "" : ", stripped", g.fn[ZT_GOFN_CONN_READ].nret,
		off_in && g.fn[ZT_GOFN_DECRYPT].found ? "" : ", reads without TCP seq: tls.Conn layout unknown",
		f->pid, f->comm);
	return ZT_UPROBE_ATTACHED;
}

struct zt_gotls *zt_gotls_register(struct zt_uprobe_mgr *m, const struct zt_gotls_progs *p)
{
	struct zt_gotls *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->p = *p;
	if (zt_uprobe_add_matcher(m, "go-tls", gotls_match, t)) {
		free(t);
		return NULL;
	}
	return t;
}

const struct zt_gotls_stats *zt_gotls_stats(const struct zt_gotls *t)
{
	return &t->st;
}

void zt_gotls_free(struct zt_gotls *t)
{
	free(t);
}
