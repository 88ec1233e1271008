/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/* The floor for the syscall bench: empty programs on exactly the
 * tracepoints ztrace uses. No tracer can cost less than this. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define EMPTY(name)                                                                                         \
	SEC("tracepoint/syscalls/sys_enter_" #name) int enter_##name(void *ctx) { return 0; }              \
	SEC("tracepoint/syscalls/sys_exit_" #name) int exit_##name(void *ctx) { return 0; }

EMPTY(read)
EMPTY(write)
EMPTY(readv)
EMPTY(writev)
EMPTY(recvfrom)
EMPTY(sendto)
EMPTY(recvmsg)
EMPTY(sendmsg)
EMPTY(recvmmsg)
EMPTY(sendmmsg)
