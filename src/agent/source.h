/* SPDX-License-Identifier: MIT */
/*
 * source.h - where raw kernel events come from: the live BPF programs or a
 * recorded file. Both hand each record (a struct zt_event_hdr followed by its
 * type's body, hdr.size bytes in all) to one callback, in stream order.
 *
 * Return convention: 0 or a positive count on success, negative errno on
 * failure with a message in the caller's err buffer.
 * Ownership: `rec` is borrowed for the duration of the callback only.
 */
#ifndef ZT_SOURCE_H
#define ZT_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf/events.h"

typedef int (*zt_event_fn)(void *ctx, const void *rec, size_t len);

/* Which kernel capture path the programs take (bpf/ztrace.bpf.c):
 * fast = BTF reads + task storage (Linux 6.2+), compat = probe reads + a
 * hash map (every kernel ztrace supports). auto picks fast where the kernel
 * has it. Forcing fast on a kernel without it is an error. */
enum zt_capture_path {
	ZT_CAPTURE_AUTO = 0,
	ZT_CAPTURE_FAST = 1,
	ZT_CAPTURE_COMPAT = 2,
};

struct zt_bpf_opts {
	uint32_t payload_cap; /* bytes captured per syscall, 0..ZT_PAYLOAD_MAX */
	int verbose;          /* pass libbpf's messages through to stderr */
	enum zt_capture_path capture_path;
	bool no_tls; /* no TLS library uprobes (bpf/tls.bpf.h) */
};

/* "auto", "fast", "compat" -> enum; -1 when unknown. */
int zt_capture_path_parse(const char *s);
const char *zt_capture_path_name(enum zt_capture_path p);

struct zt_bpf_source;

/* Opens, configures, loads and attaches the kernel programs. */
int zt_bpf_source_open(const struct zt_bpf_opts *o, zt_event_fn cb, void *ctx, struct zt_bpf_source **out,
		       char *err, size_t errsz);
/* Delivers pending events; waits up to timeout_ms for the first one. */
int zt_bpf_source_poll(struct zt_bpf_source *s, int timeout_ms);
/* Stops capturing a TCP socket's data (its bytes match no protocol); the
 * kernel counts the syscalls it skips in ZT_CNT_QUIET. Not for a socket
 * the kernel marked TLS (zt_sock_lbl.tls): the ciphertext user space saw
 * was its handshake, read before the mark, and its plaintext is coming (a
 * TLS connection whose plaintext matches nothing is not quieted either). */
int zt_bpf_source_quiet(struct zt_bpf_source *s, uint64_t sk, uint64_t sock_ino);
/* The bytes of direction dir before TCP seq `seq` are a body no parser
 * reads: the kernel stops copying syscalls that lie wholly before it
 * (zt_sock_lbl.skip_seq). -ENOENT when the socket has no label yet. */
int zt_bpf_source_skip(struct zt_bpf_source *s, uint64_t sk, uint64_t sock_ino, uint8_t dir, uint32_t seq);
/* The capture path the programs were loaded with: fast or compat, never
 * auto. */
enum zt_capture_path zt_bpf_source_path(const struct zt_bpf_source *s);
/* Kernel-side counters summed over CPUs, indexed by enum zt_counter. */
void zt_bpf_source_counters(struct zt_bpf_source *s, uint64_t out[ZT_CNT__COUNT]);
void zt_bpf_source_close(struct zt_bpf_source *s);

extern const char *const zt_counter_names[ZT_CNT__COUNT];

#endif /* ZT_SOURCE_H */
