/* SPDX-License-Identifier: MIT */
/*
 * uprobe.c - the uprobe attach manager (see uprobe.h): which files
 * processes map, each shown once to the matchers, the links they made.
 */
#include "agent/uprobe.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#define MAX_MATCHERS 8
#define SEEN_SLOTS 16384u /* distinct executable files remembered */
#define EXEC_QUEUE 1024   /* processes waiting for their exec checks */

/* After an exec, the process's maps are looked at this long after it
 * (ms; the kernel wakes us at each exec): the loader maps libraries within
 * a millisecond or two, a short-lived client makes its first TLS call a few
 * ms later, interpreters import their TLS module later still. */
static const unsigned exec_delays_ms[] = {1, 3, 10, 30, 100, 300, 1000, 3000};
#define EXEC_CHECKS (sizeof(exec_delays_ms) / sizeof(exec_delays_ms[0]))

struct matcher {
	char name[16];
	zt_uprobe_match_fn fn;
	void *ctx;
};

struct seen {
	uint64_t dev, ino; /* ino 0: free slot */
};

struct exec_check {
	uint32_t pid;
	uint32_t attempt;
	uint64_t due_ns;
};

struct zt_uprobe_mgr {
	struct matcher mt[MAX_MATCHERS];
	int nmt;
	struct bpf_link **links;
	size_t nlinks, caplinks;
	struct seen *seen;
	size_t nseen;
	struct exec_check q[EXEC_QUEUE];
	size_t nq;
	struct zt_uprobe_stats st;
};

struct zt_uprobe_mgr *zt_uprobe_mgr_new(void)
{
	struct zt_uprobe_mgr *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->seen = calloc(SEEN_SLOTS, sizeof(*m->seen));
	if (!m->seen) {
		free(m);
		return NULL;
	}
	return m;
}

/* Detaching a uprobe waits for the kernel's grace periods (tens of ms
 * each here), one link after another: ~50 links took 3 s at exit. Links
 * destroyed from several threads at once share those waits. */
#define DETACH_THREADS 16

struct detach_part {
	struct bpf_link **links;
	size_t n, stride;
};

static void *detach_some(void *arg)
{
	struct detach_part *p = arg;

	for (size_t i = 0; i < p->n; i += p->stride)
		bpf_link__destroy(p->links[i]);
	return NULL;
}

void zt_uprobe_detach_links(struct bpf_link **links, size_t n)
{
	pthread_t th[DETACH_THREADS];
	struct detach_part part[DETACH_THREADS];
	size_t nt = n < DETACH_THREADS ? n : DETACH_THREADS;
	bool started[DETACH_THREADS] = {false};

	for (size_t t = 0; t < nt; t++) {
		part[t] = (struct detach_part){.links = links + t, .n = n - t, .stride = nt};
		started[t] = pthread_create(&th[t], NULL, detach_some, &part[t]) == 0;
		if (!started[t])
			detach_some(&part[t]); /* no thread: in this one */
	}
	for (size_t t = 0; t < nt; t++)
		if (started[t])
			pthread_join(th[t], NULL);
}

void zt_uprobe_mgr_free(struct zt_uprobe_mgr *m)
{
	if (!m)
		return;
	zt_uprobe_detach_links(m->links, m->nlinks);
	free(m->links);
	free(m->seen);
	free(m);
}

int zt_uprobe_add_matcher(struct zt_uprobe_mgr *m, const char *name, zt_uprobe_match_fn fn, void *ctx)
{
	if (m->nmt >= MAX_MATCHERS || !fn)
		return -ENOSPC;
	snprintf(m->mt[m->nmt].name, sizeof(m->mt[m->nmt].name), "%s", name ? name : "?");
	m->mt[m->nmt].fn = fn;
	m->mt[m->nmt].ctx = ctx;
	m->nmt++;
	return 0;
}

const struct zt_uprobe_stats *zt_uprobe_stats(const struct zt_uprobe_mgr *m)
{
	return &m->st;
}

int zt_uprobe_attach(struct zt_uprobe_mgr *m, struct bpf_program *prog, const struct zt_uprobe_file *f, uint64_t off,
		     bool retprobe, uint64_t cookie, char *err, size_t errsz)
{
	LIBBPF_OPTS(bpf_uprobe_opts, o, .retprobe = retprobe, .bpf_cookie = cookie);
	struct bpf_link *l;

	if (m->nlinks == m->caplinks) {
		size_t cap = m->caplinks ? m->caplinks * 2 : 32;
		struct bpf_link **nl = realloc(m->links, cap * sizeof(*nl));
		if (!nl) {
			snprintf(err, errsz, "out of memory");
			return -ENOMEM;
		}
		m->links = nl;
		m->caplinks = cap;
	}
	l = bpf_program__attach_uprobe_opts(prog, -1, f->open_path, (size_t)off, &o);
	if (!l) {
		int e = errno ? errno : EINVAL;
		snprintf(err, errsz, "%s at offset 0x%llx: %s", retprobe ? "uretprobe" : "uprobe", (unsigned long long)off,
			 strerror(e));
		return -e;
	}
	m->links[m->nlinks++] = l;
	m->st.probes++;
	return 0;
}

/* true when (dev, ino) was seen before; else remembers it */
static bool seen_before(struct zt_uprobe_mgr *m, uint64_t dev, uint64_t ino)
{
	uint64_t h = (dev * 0x9e3779b97f4a7c15ULL) ^ (ino * 0xc2b2ae3d27d4eb4fULL);

	for (uint32_t i = 0; i < 64; i++) {
		struct seen *s = &m->seen[(h + i) & (SEEN_SLOTS - 1)];
		if (s->ino == ino && s->dev == dev)
			return true;
		if (!s->ino) {
			if (m->nseen >= SEEN_SLOTS / 2)
				break;
			s->dev = dev;
			s->ino = ino;
			m->nseen++;
			return false;
		}
	}
	m->st.seen_full++; /* shown again next time: matchers are idempotent per file, slower only */
	return false;
}

/* forgets (dev, ino): the file could not be opened (its process went
 * away): the next process that maps it shows it again */
static void seen_forget(struct zt_uprobe_mgr *m, uint64_t dev, uint64_t ino)
{
	uint64_t h = (dev * 0x9e3779b97f4a7c15ULL) ^ (ino * 0xc2b2ae3d27d4eb4fULL);

	for (uint32_t i = 0; i < 64; i++) {
		struct seen *s = &m->seen[(h + i) & (SEEN_SLOTS - 1)];
		if (s->ino == ino && s->dev == dev) {
			/* a tombstone that no lookup matches but keeps probe chains */
			s->dev = ~0ULL;
			s->ino = ~0ULL;
			return;
		}
		if (!s->ino)
			return;
	}
}

/* Shows f to every matcher. A matcher that fails loses the links it made
 * for f (no half-probed file: an entry probe without its return probe). */
static void show_file(struct zt_uprobe_mgr *m, struct zt_uprobe_file *f)
{
	bool attached = false;

	m->st.files_seen++;
	for (int i = 0; i < m->nmt; i++) {
		char err[256] = "";
		size_t links0 = m->nlinks;
		int rc = m->mt[i].fn(m->mt[i].ctx, m, f, err, sizeof(err));
		if (rc == ZT_UPROBE_ATTACHED) {
			attached = true;
		} else if (rc < 0) {
			while (m->nlinks > links0) {
				bpf_link__destroy(m->links[--m->nlinks]);
				m->st.probes--;
			}
			m->st.failures++;
			fprintf(stderr, "ztrace: %s: cannot probe %s (pid %u, %s): %s\n", m->mt[i].name, f->path, f->pid,
				f->comm, err[0] ? err : strerror(-rc));
		}
	}
	m->st.files_attached += attached;
}

int zt_uprobe_scan_pid(struct zt_uprobe_mgr *m, uint32_t pid)
{
	char path[64], line[4096 + 256], comm[32] = "", open_path[4200];
	struct stat exe;
	bool have_exe;
	size_t before = m->st.files_attached;
	FILE *f;

	if (!m->nmt)
		return 0;
	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	f = fopen(path, "re");
	if (f) {
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
	}
	snprintf(path, sizeof(path), "/proc/%u/exe", pid);
	have_exe = stat(path, &exe) == 0;
	snprintf(path, sizeof(path), "/proc/%u/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	m->st.procs_scanned++;
	while (fgets(line, sizeof(line), f)) {
		struct zt_maps_entry e;
		struct zt_uprobe_file uf;
		uint64_t dev;
		size_t plen;
		int fd;

		if (zt_maps_parse_line(line, &e) || e.perms[2] != 'x' || e.path[0] != '/' || !e.ino)
			continue;
		plen = strlen(e.path);
		if (plen > 10 && strcmp(e.path + plen - 10, " (deleted)") == 0)
			continue;
		dev = makedev(e.dev_major, e.dev_minor);
		if (seen_before(m, dev, e.ino))
			continue;
		/* held open while the matchers look and attach: the process
		 * may exit meanwhile, its /proc/PID/root path with it */
		snprintf(open_path, sizeof(open_path), "/proc/%u/root%s", pid, e.path);
		fd = open(open_path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			seen_forget(m, dev, e.ino);
			continue;
		}
		snprintf(open_path, sizeof(open_path), "/proc/self/fd/%d", fd);
		memset(&uf, 0, sizeof(uf));
		uf.pid = pid;
		uf.dev = dev;
		uf.ino = e.ino;
		uf.is_exe = have_exe && exe.st_ino == e.ino && exe.st_dev == dev;
		uf.path = e.path;
		uf.open_path = open_path;
		uf.comm = comm;
		show_file(m, &uf);
		close(fd);
	}
	fclose(f);
	return (int)(m->st.files_attached - before);
}

int zt_uprobe_scan_all(struct zt_uprobe_mgr *m)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	size_t before = m->st.files_attached;

	if (!d)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		char *end;
		unsigned long pid = strtoul(de->d_name, &end, 10);
		if (*end || !pid || pid > 0xffffffffUL)
			continue;
		(void)zt_uprobe_scan_pid(m, (uint32_t)pid); /* gone meanwhile: nothing to probe */
	}
	closedir(d);
	return (int)(m->st.files_attached - before);
}

void zt_uprobe_on_exec(struct zt_uprobe_mgr *m, uint32_t pid, uint64_t now_ns)
{
	if (!m->nmt)
		return;
	if (m->nq >= EXEC_QUEUE) {
		m->st.exec_dropped++;
		return;
	}
	m->q[m->nq].pid = pid;
	m->q[m->nq].attempt = 0;
	m->q[m->nq].due_ns = now_ns + exec_delays_ms[0] * 1000000ULL;
	m->nq++;
}

uint64_t zt_uprobe_next_due(const struct zt_uprobe_mgr *m)
{
	uint64_t due = 0;

	for (size_t i = 0; i < m->nq; i++)
		if (!due || m->q[i].due_ns < due)
			due = m->q[i].due_ns;
	return due;
}

void zt_uprobe_tick(struct zt_uprobe_mgr *m, uint64_t now_ns)
{
	for (size_t i = 0; i < m->nq;) {
		struct exec_check *c = &m->q[i];
		if (c->due_ns > now_ns) {
			i++;
			continue;
		}
		if (zt_uprobe_scan_pid(m, c->pid) >= 0 && ++c->attempt < EXEC_CHECKS) {
			c->due_ns = now_ns + (exec_delays_ms[c->attempt] - exec_delays_ms[c->attempt - 1]) * 1000000ULL;
			i++;
			continue;
		}
		/* done, or the process is gone */
		m->q[i] = m->q[--m->nq];
	}
}
