/* SPDX-License-Identifier: MIT */
/*
 * uprobe_tls.c - which files carry OpenSSL's SSL_read/SSL_write, and their
 * probes (see uprobe_tls.h, bpf/tls.bpf.h).
 */
#include "agent/uprobe_tls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bpf/events.h"

enum { F_WRITE, F_READ, F_WRITE_EX, F_READ_EX, F__COUNT };
static const char *const fn_names[F__COUNT] = {"SSL_write", "SSL_read", "SSL_write_ex", "SSL_read_ex"};

static const char *base_name(const char *path)
{
	const char *b = strrchr(path, '/');
	return b ? b + 1 : path;
}

/* A shared library named libssl.so* (libssl.so.3, libssl.so.1.1; not
 * NSS's libssl3.so), or a program exporting SSL_read and SSL_write. */
static int tls_match(void *ctx, struct zt_uprobe_mgr *m, const struct zt_uprobe_file *f, char *err, size_t errsz)
{
	struct zt_tls_progs *p = ctx;
	const char *base = base_name(f->path);
	bool libssl = strncmp(base, "libssl.so", 9) == 0;
	uint64_t off[F__COUNT];
	uint8_t lib;
	int n, rc;

	if (!libssl && !f->is_exe)
		return ZT_UPROBE_NOT_MINE;
	/* a program's .symtab can be huge (node's): exported functions only */
	n = zt_elf_func_offsets(f->open_path, fn_names, F__COUNT, off, !libssl, err, errsz);
	if (n < 0)
		return libssl ? n : ZT_UPROBE_NOT_MINE;
	if (!off[F_WRITE] || !off[F_READ]) {
		if (!libssl)
			return ZT_UPROBE_NOT_MINE;
		snprintf(err, errsz, "no SSL_write/SSL_read function in it (not OpenSSL?)");
		return -ENOENT;
	}
	lib = !libssl && strncmp(base, "node", 4) == 0 ? ZT_TLS_NODE : ZT_TLS_OPENSSL;
	if ((rc = zt_uprobe_attach(m, p->write_enter, f, off[F_WRITE], false, lib, err, errsz)) ||
	    (rc = zt_uprobe_attach(m, p->ret, f, off[F_WRITE], true, lib, err, errsz)) ||
	    (rc = zt_uprobe_attach(m, p->read_enter, f, off[F_READ], false, lib, err, errsz)) ||
	    (rc = zt_uprobe_attach(m, p->ret, f, off[F_READ], true, lib, err, errsz)))
		return rc;
	if (off[F_WRITE_EX] && ((rc = zt_uprobe_attach(m, p->write_ex_enter, f, off[F_WRITE_EX], false, lib, err, errsz)) ||
				(rc = zt_uprobe_attach(m, p->ex_ret, f, off[F_WRITE_EX], true, lib, err, errsz))))
		return rc;
	if (off[F_READ_EX] && ((rc = zt_uprobe_attach(m, p->read_ex_enter, f, off[F_READ_EX], false, lib, err, errsz)) ||
			       (rc = zt_uprobe_attach(m, p->ex_ret, f, off[F_READ_EX], true, lib, err, errsz))))
		return rc;
	p->files++;
	fprintf(stderr, "ztrace: tls: probing %s in %s (seen in pid %u, %s)\n",
		lib == ZT_TLS_NODE ? "Node's OpenSSL" : libssl ? "OpenSSL" : "a static OpenSSL", f->path, f->pid, f->comm);
	return ZT_UPROBE_ATTACHED;
}

int zt_tls_openssl_register(struct zt_uprobe_mgr *m, struct zt_tls_progs *progs)
{
	return zt_uprobe_add_matcher(m, "tls", tls_match, progs);
}
