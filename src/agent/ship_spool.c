/* SPDX-License-Identifier: MIT */
#include "agent/ship_spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

struct sp_ent {
	uint64_t seq;
	uint32_t nspans;
	uint64_t bytes;
};

struct zt_spool {
	char dir[4096];
	char agent_id[33];
	int dirfd; /* fsync'd after each rename */
	uint64_t max_bytes;
	pthread_mutex_t mu;
	struct sp_ent *ent; /* sorted by seq, [head, n) in use */
	size_t head, n, cap;
	struct zt_spool_stats st;
};

static int path_of(const struct zt_spool *sp, char *out, size_t sz, const char *name)
{
	return (size_t)snprintf(out, sz, "%s/%s", sp->dir, name) >= sz ? -ENAMETOOLONG : 0;
}

static int file_path(const struct zt_spool *sp, char *out, size_t sz, uint64_t seq, uint32_t nspans)
{
	char name[64];

	snprintf(name, sizeof(name), "%020" PRIu64 "-%" PRIu32 ".zb", seq, nspans);
	return path_of(sp, out, sz, name);
}

/* Writes data to DIR/name through name.tmp: whole or not at all. */
static int write_atomic(const struct zt_spool *sp, const char *name, const void *data, size_t len)
{
	char path[4200], tmp[4210];
	const uint8_t *p = data;
	int fd, rc = 0;

	if (path_of(sp, path, sizeof(path), name))
		return -ENAMETOOLONG;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		p += w;
		len -= (size_t)w;
	}
	/* fsync: a spooled batch also survives a power cut, not only kill -9 */
	if (!rc && fdatasync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	/* and the directory: the rename itself survives a power cut */
	if (!rc && sp->dirfd >= 0 && fsync(sp->dirfd) < 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}

static int read_small(const struct zt_spool *sp, const char *name, char *buf, size_t sz)
{
	char path[4200];
	ssize_t n;
	int fd;

	if (path_of(sp, path, sizeof(path), name))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sz - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	buf[n] = '\0';
	return 0;
}

static int load_id(struct zt_spool *sp, char *err, size_t errsz)
{
	char buf[64];
	uint8_t rnd[16];
	int rc;

	if (read_small(sp, "agent-id", buf, sizeof(buf)) == 0) {
		buf[strcspn(buf, "\n")] = '\0';
		if (strlen(buf) == 32 && strspn(buf, "0123456789abcdef") == 32) {
			memcpy(sp->agent_id, buf, 33);
			return 0;
		}
		snprintf(err, errsz, "%s/agent-id is not an agent id (32 hex digits): remove it to get a new one",
			 sp->dir);
		return -EINVAL;
	}
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		snprintf(err, errsz, "getrandom failed: %s", strerror(errno));
		return -EIO;
	}
	for (int i = 0; i < 16; i++)
		snprintf(sp->agent_id + 2 * i, 3, "%02x", rnd[i]);
	snprintf(buf, sizeof(buf), "%s\n", sp->agent_id);
	if ((rc = write_atomic(sp, "agent-id", buf, strlen(buf)))) {
		snprintf(err, errsz, "cannot write %s/agent-id: %s", sp->dir, strerror(-rc));
		return rc;
	}
	return 0;
}

static int add_ent(struct zt_spool *sp, uint64_t seq, uint32_t nspans, uint64_t bytes)
{
	if (sp->n == sp->cap) {
		if (sp->head) { /* slide down before growing */
			memmove(sp->ent, sp->ent + sp->head, (sp->n - sp->head) * sizeof(*sp->ent));
			sp->n -= sp->head;
			sp->head = 0;
		}
		if (sp->n == sp->cap) {
			size_t cap = sp->cap ? sp->cap * 2 : 64;
			struct sp_ent *e = realloc(sp->ent, cap * sizeof(*e));
			if (!e)
				return -ENOMEM;
			sp->ent = e;
			sp->cap = cap;
		}
	}
	sp->ent[sp->n++] = (struct sp_ent){seq, nspans, bytes};
	sp->st.batches++;
	sp->st.spans += nspans;
	sp->st.bytes += bytes;
	return 0;
}

static int cmp_ent(const void *a, const void *b)
{
	const struct sp_ent *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* A file named like a batch: whole, one batch frame. */
static int check_file(const char *path, uint64_t size)
{
	uint8_t h[ZT_WIRE_HDR];
	struct zt_wire_frame f;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, h, sizeof(h));
	close(fd);
	if (n != (ssize_t)sizeof(h) || size < ZT_WIRE_HDR || size > ZT_WIRE_HDR + (uint64_t)ZT_WIRE_FRAME_MAX)
		return -EPROTO;
	/* the header says how long the frame is: the file must be exactly that */
	uint32_t len = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
	if ((uint64_t)len + ZT_WIRE_HDR != size)
		return -EPROTO;
	if (zt_wire_frame_next(h, sizeof(h), &f) < 0 || (h[4] & ZT_WIRE_TYPE_MASK) != ZT_WIRE_BATCH)
		return -EPROTO;
	return 0;
}

static int scan(struct zt_spool *sp, char *err, size_t errsz)
{
	DIR *d = opendir(sp->dir);
	struct dirent *de;
	int rc = 0;

	if (!d) {
		snprintf(err, errsz, "cannot read %s: %s", sp->dir, strerror(errno));
		return -errno;
	}
	while ((de = readdir(d))) {
		char path[4200], bad[4210];
		uint64_t seq;
		uint32_t nspans;
		int used = 0;
		size_t L = strlen(de->d_name);
		struct stat stt;

		if (path_of(sp, path, sizeof(path), de->d_name))
			continue;
		if (L > 4 && !strcmp(de->d_name + L - 4, ".tmp")) {
			unlink(path); /* cut by a crash before its rename: never sent */
			continue;
		}
		if (L < 25 || L > 34 || de->d_name[20] != '-') /* SEQ(20)-N.zb */
			continue;
		if (sscanf(de->d_name, "%20" SCNu64 "-%" SCNu32 ".zb%n", &seq, &nspans, &used) != 2 ||
		    (size_t)used != L || stat(path, &stt) != 0)
			continue;
		if (seq <= sp->st.acked_seq) {
			unlink(path); /* acknowledged; the delete was cut short */
			continue;
		}
		if (check_file(path, (uint64_t)stt.st_size) || nspans > ZT_WIRE_BATCH_MAX || seq == 0) {
			snprintf(bad, sizeof(bad), "%s.bad", path);
			if (rename(path, bad) < 0)
				unlink(path);
			sp->st.corrupt++;
			continue;
		}
		if ((rc = add_ent(sp, seq, nspans, (uint64_t)stt.st_size))) {
			snprintf(err, errsz, "out of memory");
			break;
		}
	}
	closedir(d);
	if (rc)
		return rc;
	if (sp->n)
		qsort(sp->ent, sp->n, sizeof(*sp->ent), cmp_ent);
	sp->st.replayed = sp->n;
	sp->st.next_seq = sp->st.acked_seq + 1;
	if (sp->n && sp->ent[sp->n - 1].seq >= sp->st.next_seq)
		sp->st.next_seq = sp->ent[sp->n - 1].seq + 1;
	return 0;
}

int zt_spool_open(const char *dir, uint64_t max_bytes, struct zt_spool **out, char *err, size_t errsz)
{
	struct zt_spool *sp = calloc(1, sizeof(*sp));
	char buf[128];
	int rc;

	*out = NULL;
	if (!sp) {
		snprintf(err, errsz, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&sp->mu, NULL);
	sp->dirfd = -1;
	if (strlen(dir) >= sizeof(sp->dir) - 64) {
		snprintf(err, errsz, "spool directory path too long");
		rc = -ENAMETOOLONG;
		goto fail;
	}
	snprintf(sp->dir, sizeof(sp->dir), "%s", dir);
	sp->max_bytes = max_bytes;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		snprintf(err, errsz, "cannot create spool directory %s: %s", dir, strerror(errno));
		goto fail;
	}
	sp->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if ((rc = load_id(sp, err, errsz)))
		goto fail;
	if (read_small(sp, "state", buf, sizeof(buf)) == 0 &&
	    sscanf(buf, "%" SCNu64 " %" SCNu64, &sp->st.acked_seq, &sp->st.acked_spans) != 2) {
		snprintf(err, errsz, "%s/state is damaged (expected \"ACKED_SEQ ACKED_SPANS\")", dir);
		rc = -EINVAL;
		goto fail;
	}
	if ((rc = scan(sp, err, errsz)))
		goto fail;
	*out = sp;
	return 0;
fail:
	zt_spool_close(sp);
	return rc;
}

const char *zt_spool_agent_id(const struct zt_spool *sp)
{
	return sp->agent_id;
}

uint64_t zt_spool_next_seq(struct zt_spool *sp)
{
	uint64_t v;

	pthread_mutex_lock(&sp->mu);
	v = sp->st.next_seq;
	pthread_mutex_unlock(&sp->mu);
	return v;
}

int zt_spool_put(struct zt_spool *sp, const uint8_t *frame, size_t len, uint32_t nspans)
{
	char name[64];
	uint64_t seq;
	int rc;

	pthread_mutex_lock(&sp->mu);
	seq = sp->st.next_seq;
	rc = sp->max_bytes && sp->st.bytes + len > sp->max_bytes ? -ENOSPC : 0;
	pthread_mutex_unlock(&sp->mu);
	if (rc)
		return rc;
	/* written outside the lock: only this writer makes files */
	snprintf(name, sizeof(name), "%020" PRIu64 "-%" PRIu32 ".zb", seq, nspans);
	if ((rc = write_atomic(sp, name, frame, len)))
		return rc;
	pthread_mutex_lock(&sp->mu);
	rc = add_ent(sp, seq, nspans, len);
	if (!rc)
		sp->st.next_seq = seq + 1;
	pthread_mutex_unlock(&sp->mu);
	return rc;
}

uint64_t zt_spool_next_after(struct zt_spool *sp, uint64_t after)
{
	uint64_t v = 0;

	pthread_mutex_lock(&sp->mu);
	for (size_t i = sp->head; i < sp->n; i++)
		if (sp->ent[i].seq > after) {
			v = sp->ent[i].seq;
			break;
		}
	pthread_mutex_unlock(&sp->mu);
	return v;
}

uint64_t zt_spool_first_unacked(struct zt_spool *sp)
{
	uint64_t v;

	pthread_mutex_lock(&sp->mu);
	v = sp->head < sp->n ? sp->ent[sp->head].seq : sp->st.next_seq;
	pthread_mutex_unlock(&sp->mu);
	return v;
}

int zt_spool_read(struct zt_spool *sp, uint64_t seq, struct zt_wbuf *out)
{
	char path[4200];
	uint32_t nspans = 0;
	uint64_t bytes = 0;
	int fd, rc, found = 0;

	pthread_mutex_lock(&sp->mu);
	for (size_t i = sp->head; i < sp->n; i++)
		if (sp->ent[i].seq == seq) {
			nspans = sp->ent[i].nspans;
			bytes = sp->ent[i].bytes;
			found = 1;
			break;
		}
	pthread_mutex_unlock(&sp->mu);
	if (!found)
		return -ENOENT;
	if ((rc = file_path(sp, path, sizeof(path), seq, nspans)))
		return rc;
	if ((rc = zt_wbuf_reserve(out, bytes)))
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = pread(fd, out->p + out->len, bytes, 0);
	close(fd);
	if (n != (ssize_t)bytes)
		return -EIO;
	out->len += bytes;
	return 0;
}

int zt_spool_ack(struct zt_spool *sp, uint64_t seq)
{
	char buf[64], path[4200];
	uint64_t spans = 0;
	size_t k;
	int rc;

	pthread_mutex_lock(&sp->mu);
	if (seq <= sp->st.acked_seq) {
		pthread_mutex_unlock(&sp->mu);
		return 0;
	}
	for (k = sp->head; k < sp->n && sp->ent[k].seq <= seq; k++)
		spans += sp->ent[k].nspans;
	pthread_mutex_unlock(&sp->mu);
	/* the state first: a crash between it and the deletes leaves files
	 * that the next open deletes, never an acknowledged batch counted twice */
	snprintf(buf, sizeof(buf), "%" PRIu64 " %" PRIu64 "\n", seq, sp->st.acked_spans + spans);
	if ((rc = write_atomic(sp, "state", buf, strlen(buf))))
		return rc;
	pthread_mutex_lock(&sp->mu);
	sp->st.acked_seq = seq;
	sp->st.acked_spans += spans;
	while (sp->head < sp->n && sp->ent[sp->head].seq <= seq) {
		struct sp_ent *e = &sp->ent[sp->head++];
		if (!file_path(sp, path, sizeof(path), e->seq, e->nspans))
			unlink(path);
		sp->st.batches--;
		sp->st.spans -= e->nspans;
		sp->st.bytes -= e->bytes;
	}
	if (sp->st.next_seq <= seq)
		sp->st.next_seq = seq + 1;
	pthread_mutex_unlock(&sp->mu);
	return 0;
}

void zt_spool_stats(struct zt_spool *sp, struct zt_spool_stats *out)
{
	pthread_mutex_lock(&sp->mu);
	*out = sp->st;
	pthread_mutex_unlock(&sp->mu);
}

void zt_spool_close(struct zt_spool *sp)
{
	if (!sp)
		return;
	pthread_mutex_destroy(&sp->mu);
	if (sp->dirfd >= 0)
		close(sp->dirfd);
	free(sp->ent);
	free(sp);
}
