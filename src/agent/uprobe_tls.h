/* SPDX-License-Identifier: MIT */
/*
 * uprobe_tls.h - the TLS library matcher for the uprobe manager: OpenSSL
 * (libssl.so 1.1 and 3.x, mapped by any process) and programs that link
 * OpenSSL statically and export its functions (node: ZT_TLS_NODE). The
 * BPF programs are bpf/tls.bpf.h's.
 *
 * Return convention: 0 or negative errno.
 * Ownership: progs is borrowed and must outlive the manager.
 */
#ifndef ZT_AGENT_UPROBE_TLS_H
#define ZT_AGENT_UPROBE_TLS_H

#include "agent/uprobe.h"

/* The entry and return programs of bpf/tls.bpf.h. */
struct zt_tls_progs {
	struct bpf_program *write_enter, *read_enter;       /* SSL_write, SSL_read */
	struct bpf_program *write_ex_enter, *read_ex_enter; /* SSL_write_ex, SSL_read_ex */
	struct bpf_program *ret, *ex_ret;                   /* their returns */
	unsigned files;                                     /* files attached so far */
};

int zt_tls_openssl_register(struct zt_uprobe_mgr *m, struct zt_tls_progs *progs);

#endif /* ZT_AGENT_UPROBE_TLS_H */
