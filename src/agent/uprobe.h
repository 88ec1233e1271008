/* SPDX-License-Identifier: MIT */
/*
 * uprobe.h - the uprobe attach manager: finds the executable files that
 * processes map (shared libraries) or run (their program), shows each file
 * once to every registered library matcher, and keeps the uprobe links the
 * matchers make. Used for TLS plaintext (OpenSSL and Node in uprobe_tls.c,
 * Go crypto/tls by its own matcher) and anything else probed in user code.
 *
 * When files are looked at:
 *  - at start, every process's /proc/PID/maps (zt_uprobe_scan_all);
 *  - after an exec (the kernel's ZT_EV_PROC_EXEC), the new process's maps a
 *    8 times over ~3 s (zt_uprobe_on_exec + zt_uprobe_tick): the dynamic
 *    loader maps libraries after exec, and programs may dlopen later (an
 *    interpreter importing its TLS module).
 * A uprobe belongs to the file's inode, not to a process: a file is shown
 * to the matchers once per (device, inode), and its probes then fire in
 * every process that maps it, including ones started later. A process that
 * dlopens a library no other process mapped, more than ~3 s after its exec,
 * is not covered until ztrace restarts (its ciphertext is traced as before).
 *
 * INTERFACE FOR MATCHERS (stable: the Go TLS matcher builds on it):
 *   zt_uprobe_add_matcher(m, "go", my_match, my_ctx);
 *   my_match() looks at f (f->open_path can be opened and read), returns
 *   ZT_UPROBE_NOT_MINE, or attaches with zt_uprobe_attach() and returns
 *   ZT_UPROBE_ATTACHED, or fails with a negative errno and a message in err
 *   (the manager prints it once, with the file's path).
 *
 * Return convention: 0 (or a verdict / count) on success, negative errno on
 * failure, with a message in err where an err buffer is taken.
 * Ownership: the manager owns the links it made (destroyed by
 * zt_uprobe_mgr_free); matchers' ctx and bpf programs are the caller's and
 * must outlive the manager. A zt_uprobe_file is borrowed for the callback.
 */
#ifndef ZT_AGENT_UPROBE_H
#define ZT_AGENT_UPROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bpf_program;
struct zt_uprobe_mgr;

/* One executable file a process maps or runs. */
struct zt_uprobe_file {
	uint32_t pid;          /* a process that maps it (the first one seen) */
	uint64_t dev, ino;     /* its identity: probes go to the inode */
	bool is_exe;           /* the process's program (/proc/PID/exe) */
	const char *path;      /* as the process sees it (its maps line) */
	const char *open_path; /* a path ztrace can open while the matcher runs
				* (/proc/self/fd/N of the file, held open) */
	const char *comm;      /* the process's name (/proc/PID/comm) */
};

enum zt_uprobe_verdict {
	ZT_UPROBE_NOT_MINE = 0, /* looked at it: not this matcher's file */
	ZT_UPROBE_ATTACHED = 1, /* probes attached */
};

typedef int (*zt_uprobe_match_fn)(void *ctx, struct zt_uprobe_mgr *m, const struct zt_uprobe_file *f, char *err,
				  size_t errsz);

struct zt_uprobe_stats {
	uint64_t procs_scanned;  /* maps files read */
	uint64_t files_seen;     /* distinct executable files shown to matchers */
	uint64_t files_attached; /* files some matcher attached to */
	uint64_t probes;         /* uprobe links made */
	uint64_t failures;       /* matcher or attach failures (each told once) */
	uint64_t exec_dropped;   /* exec checks dropped: the queue was full */
	uint64_t seen_full;      /* files not remembered: the seen set was full */
};

/* Failures are said on stderr, once per file; matchers say what they
 * attached. */
struct zt_uprobe_mgr *zt_uprobe_mgr_new(void);
/* Destroys n links (NULL entries skipped) from several threads at once:
 * each detach waits for the kernel's grace periods, and waits made in
 * parallel overlap (a shutdown with ~80 links: seconds one by one). */
struct bpf_link;
void zt_uprobe_detach_links(struct bpf_link **links, size_t n);
void zt_uprobe_mgr_free(struct zt_uprobe_mgr *m);

/* Registers a matcher (up to 8). name: a short word for messages. */
int zt_uprobe_add_matcher(struct zt_uprobe_mgr *m, const char *name, zt_uprobe_match_fn fn, void *ctx);

/* For matchers: attaches prog at file offset `off` of f (at the function's
 * return with retprobe), to every process (pid -1), with the BPF attach
 * cookie `cookie` (bpf_get_attach_cookie). */
int zt_uprobe_attach(struct zt_uprobe_mgr *m, struct bpf_program *prog, const struct zt_uprobe_file *f, uint64_t off,
		     bool retprobe, uint64_t cookie, char *err, size_t errsz);

/* Looks at every running process now. Returns the number of files some
 * matcher attached to. */
int zt_uprobe_scan_all(struct zt_uprobe_mgr *m);
/* Looks at one process now (its program and mapped files). */
int zt_uprobe_scan_pid(struct zt_uprobe_mgr *m, uint32_t pid);
/* A process exec'd (CLOCK_MONOTONIC now_ns): its maps are looked at after
 * short delays. */
void zt_uprobe_on_exec(struct zt_uprobe_mgr *m, uint32_t pid, uint64_t now_ns);
/* Runs the exec checks that are due. */
void zt_uprobe_tick(struct zt_uprobe_mgr *m, uint64_t now_ns);
/* When the next exec check is due (CLOCK_MONOTONIC ns), 0 when none. */
uint64_t zt_uprobe_next_due(const struct zt_uprobe_mgr *m);

const struct zt_uprobe_stats *zt_uprobe_stats(const struct zt_uprobe_mgr *m);

/* ---- file helpers (uprobe_elf.c; pure, unit-tested) ---- */

/* One line of /proc/PID/maps. */
struct zt_maps_entry {
	uint64_t start, end, offset, ino;
	uint32_t dev_major, dev_minor;
	char perms[5];    /* "r-xp" */
	const char *path; /* into the parsed line; "" when anonymous */
};

/* Parses one maps line (newline optional; the line is modified: the path
 * is cut at its end). Returns 0, or -EINVAL when the line is malformed. */
int zt_maps_parse_line(char *line, struct zt_maps_entry *e);

/* File offsets of the defined functions `names` in the ELF file at path,
 * from .dynsym, else .symtab (the offset a uprobe takes: the symbol's
 * address mapped through its PT_LOAD segment). offs[i] is 0 when names[i]
 * is absent. dynsym_only: do not read .symtab (cheaper on big stripped
 * programs). Returns how many were found, or a negative errno (err). */
int zt_elf_func_offsets(const char *path, const char *const *names, size_t n, uint64_t *offs, bool dynsym_only,
			char *err, size_t errsz);

#endif /* ZT_AGENT_UPROBE_H */
