/* SPDX-License-Identifier: MIT */
/*
 * gotls.h - attaches the Go crypto/tls probes (bpf/gotls.bpf.h) to Go
 * executables: those of the processes running when ztrace starts
 * (/proc/<pid>/exe) and of processes exec'd later (the ZT_EV_PROC_EXEC
 * events). Probes are placed per executable file (pid -1), once per
 * (device, inode): every process running that file, now or later, is
 * covered by the one set of uprobes.
 *
 * Return convention: 0 on success, negative errno on failure.
 * Ownership: the programs and the map belong to the caller's BPF object,
 * which must outlive the struct zt_gotls (it owns only its links).
 */
#ifndef ZT_GOTLS_H
#define ZT_GOTLS_H

#include <stdint.h>

struct bpf_program;

struct zt_gotls_progs {
	struct bpf_program *write_enter, *write_ret, *read_enter, *read_ret, *decrypt;
	int cfg_map_fd; /* zt_gotls_cfgs */
};

struct zt_gotls_stats {
	uint64_t probed;        /* Go executables with probes attached */
	uint64_t probes;        /* uprobes attached in all */
	uint64_t no_read_seq;   /* probed, but Go version without known tls.Conn offsets: reads carry no seq */
	uint64_t unsupported;   /* Go executables not probed (before 1.17, no returns found...) */
	uint64_t attach_failed; /* probes the kernel refused */
	uint64_t table_full;    /* executables not looked at: table of seen files full */
};

struct zt_gotls;

struct zt_gotls *zt_gotls_new(const struct zt_gotls_progs *p, int verbose);
/* Every process in /proc now; returns how many executables were probed. */
int zt_gotls_scan(struct zt_gotls *t);
/* One process (after its exec); 1 when its executable got probes now. */
int zt_gotls_add_pid(struct zt_gotls *t, uint32_t pid);
/* offsetof(crypto/tls.Conn, in) and (.., rawInput) for a Go version, 0
 * when not known (then reads carry no TCP seq). */
void zt_gotls_offsets(int major, int minor, uint32_t *off_in, uint32_t *off_rawinput);
const struct zt_gotls_stats *zt_gotls_stats(const struct zt_gotls *t);
/* Detaches every probe. Accepts NULL. */
void zt_gotls_free(struct zt_gotls *t);

#endif /* ZT_GOTLS_H */
