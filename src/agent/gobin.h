/* SPDX-License-Identifier: MIT */
/*
 * gobin.h - what the Go TLS probes need to know about one executable:
 * is it Go, which Go (the register ABI needs 1.17+), where are
 * crypto/tls.(*Conn).Write, (*Conn).Read and (*halfConn).decrypt, and the
 * file offset of every return instruction inside the first two.
 *
 * Why return instructions: Go grows a goroutine's stack by copying it to a
 * new place, and a uretprobe replaces the return address on the stack with a
 * trampoline address the copy then carries along (the runtime also walks
 * stacks and chokes on the foreign address). A uprobe on each RET of the
 * function sees the return without touching the stack (DeepFlow and Pixie
 * do the same).
 *
 * Symbols come from .symtab, or from .gopclntab when the binary is stripped
 * (the Go linker keeps the pclntab: the runtime needs it for tracebacks).
 * The ELF is parsed by hand with every offset bounded (the file is outside
 * input: any executable on the host); only 64-bit little-endian ELF
 * (x86-64, arm64) is understood.
 *
 * Return convention: 0 on success, negative errno on failure with a message
 * in the caller's err buffer. A readable ELF that is not Go is a success
 * with is_go false.
 * Ownership: struct zt_gobin is the caller's and holds no pointers.
 */
#ifndef ZT_GOBIN_H
#define ZT_GOBIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZT_GOBIN_MAX_RETS 64 /* return instructions kept per function */

enum zt_gobin_arch {
	ZT_GOBIN_ARCH_OTHER = 0,
	ZT_GOBIN_ARCH_X86_64 = 1,
	ZT_GOBIN_ARCH_ARM64 = 2,
};

/* The functions probed, in this order everywhere. */
enum zt_gobin_fn {
	ZT_GOFN_CONN_WRITE = 0,  /* crypto/tls.(*Conn).Write: entry + RETs */
	ZT_GOFN_CONN_READ = 1,   /* crypto/tls.(*Conn).Read: entry + RETs */
	ZT_GOFN_DECRYPT = 2,     /* crypto/tls.(*halfConn).decrypt: entry (record seqs) */
	ZT_GOFN__COUNT,
};

extern const char *const zt_gobin_fn_names[ZT_GOFN__COUNT];

struct zt_gobin_func {
	bool found;
	bool rets_ok;       /* the whole body was disassembled: ret_off is complete */
	uint64_t addr;      /* virtual address of the entry */
	uint64_t size;      /* bytes (symtab size, or up to the next pclntab entry) */
	uint64_t entry_off; /* file offset of the entry: where the uprobe goes */
	uint32_t nret;
	uint64_t ret_off[ZT_GOBIN_MAX_RETS]; /* file offsets of the return instructions */
};

struct zt_gobin {
	bool is_go;
	bool has_symtab; /* false: symbols came from .gopclntab (stripped) */
	bool pie;        /* ET_DYN: addresses move by the load bias */
	enum zt_gobin_arch arch;
	char version[32]; /* "go1.19.8"; "" when unknown */
	int major, minor; /* 1, 19; 0 when unknown */
	/* vaddr of go.itab.*net.TCPConn,net.Conn (symtab only, else 0): lets
	 * the kernel side check that a tls.Conn wraps a *net.TCPConn before
	 * it follows pointers into it */
	uint64_t itab_tcpconn;
	struct zt_gobin_func fn[ZT_GOFN__COUNT];
};

/* Inspects the executable at `path`. */
int zt_gobin_inspect(const char *path, struct zt_gobin *out, char *err, size_t errsz);
/* The same on an image in memory (the file's bytes; borrowed for the call). */
int zt_gobin_inspect_mem(const uint8_t *img, size_t len, struct zt_gobin *out, char *err, size_t errsz);
/* True when the probes support this binary: Go with the register ABI
 * (1.17+ on x86-64, 1.18+ on arm64), Write and Read found with their returns complete.
 * *why says what is missing otherwise. */
bool zt_gobin_probeable(const struct zt_gobin *g, const char **why);
/* File offsets of the return instructions in `code` (a function's bytes,
 * starting at file offset `off`); returns how many (at most max), or -1
 * when the bytes do not disassemble to the end (then the list could miss
 * one, and the function must not be probed). */
int zt_gobin_find_rets(enum zt_gobin_arch arch, const uint8_t *code, size_t len, uint64_t off, uint64_t *out,
		       size_t max);

#endif /* ZT_GOBIN_H */
