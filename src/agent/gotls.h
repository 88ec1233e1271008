/* SPDX-License-Identifier: MIT */
/*
 * gotls.h - the Go crypto/tls matcher for the uprobe manager (uprobe.h):
 * for each program file the manager shows it (processes running at start,
 * and exec'd later), it decides whether the file is a Go executable it can
 * probe (gobin.h) and attaches the probes of bpf/gotls.bpf.h. The probes
 * go to the file's inode (pid -1): every process running that file, now
 * or later, is covered by one set of uprobes.
 *
 * Return convention: 0 on success, negative errno on failure.
 * Ownership: the programs and the map belong to the caller's BPF object;
 * the links to the manager. The struct zt_gotls is the matcher's context:
 * free it after the manager.
 */
#ifndef ZT_GOTLS_H
#define ZT_GOTLS_H

#include <stdint.h>

struct bpf_program;
struct zt_uprobe_mgr;

struct zt_gotls_progs {
	struct bpf_program *write_enter, *read_enter, *read_ret, *decrypt;
	int cfg_map_fd; /* zt_gotls_cfgs */
};

struct zt_gotls_stats {
	uint64_t probed;      /* Go executables with probes attached */
	uint64_t probes;      /* uprobes attached in all */
	uint64_t no_read_seq; /* probed, but a Go version without known tls.Conn offsets: reads carry no seq */
	uint64_t unsupported; /* Go executables with crypto/tls not probed (before 1.17, returns not found...) */
	uint64_t table_full;  /* Go executables not probed: zt_gotls_cfgs is full */
};

struct zt_gotls;

/* Registers the matcher on m; each file probed is said on stderr. NULL
 * when out of memory or the manager has no room for another matcher. */
struct zt_gotls *zt_gotls_register(struct zt_uprobe_mgr *m, const struct zt_gotls_progs *p);
const struct zt_gotls_stats *zt_gotls_stats(const struct zt_gotls *t);
/* offsetof(crypto/tls.Conn, in) and (.., rawInput) for a Go version, 0
 * when not known (then reads carry no TCP seq). */
void zt_gotls_offsets(int major, int minor, uint32_t *off_in, uint32_t *off_rawinput);
/* Accepts NULL. */
void zt_gotls_free(struct zt_gotls *t);

#endif /* ZT_GOTLS_H */
