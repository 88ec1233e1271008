/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The kernel types the BPF programs compile against, one generated header per
 * architecture (see bpf/README.md). CO-RE relocations adapt the compiled
 * object to the running kernel's layout at load, so one header per
 * architecture serves every kernel.
 */
#if defined(__TARGET_ARCH_x86)
#include "x86/vmlinux.h"
#elif defined(__TARGET_ARCH_arm64)
#include "arm64/vmlinux.h"
#else
#error "no vmlinux.h for this architecture: define __TARGET_ARCH_x86 or __TARGET_ARCH_arm64"
#endif
