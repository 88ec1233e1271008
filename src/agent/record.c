/* SPDX-License-Identifier: MIT */
#include "agent/record.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdarg.h>
#include <string.h>

__attribute__((format(printf, 4, 5))) static int fail(char *err, size_t errsz, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
	return rc;
}


int zt_rec_writer_open(struct zt_rec_writer *w, const char *path, const char *host, int64_t mono_to_real,
		       int flags, char *err, size_t errsz)
{
	int fd;
	struct zt_rec_file_hdr h;

	memset(w, 0, sizeof(*w));
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, ZT_REC_MAGIC, 8);
	h.version = ZT_REC_VERSION;
	h.abi = ZT_ABI_VERSION;
	h.mono_to_real = mono_to_real;
	if (host)
		snprintf(h.host, sizeof(h.host), "%s", host);
	/* O_NOFOLLOW: as root, a symlink planted at path would make us
	 * overwrite its target; O_EXCL: an existing file is not ours */
	fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | ((flags & ZT_REC_FORCE) ? O_TRUNC : O_EXCL),
		  0600);
	if (fd < 0) {
		int e = errno;
		if (e == EEXIST)
			return fail(err, errsz, -e, "%s exists: choose a new file, or --force to overwrite it", path);
		if (e == ELOOP)
			return fail(err, errsz, -e, "%s is a symbolic link: refusing to write through it", path);
		return fail(err, errsz, -e, "cannot create %s: %s", path, strerror(e));
	}
	if (fchmod(fd, 0600) < 0 || !(w->f = fdopen(fd, "wb"))) {
		int e = errno;
		close(fd);
		return fail(err, errsz, -e, "cannot create %s: %s", path, strerror(e));
	}
	setvbuf(w->f, NULL, _IOFBF, 1 << 20);
	if (fwrite(&h, sizeof(h), 1, w->f) != 1) {
		fclose(w->f);
		w->f = NULL;
		return fail(err, errsz, -EIO, "cannot write %s: %s", path, strerror(errno));
	}
	w->bytes = sizeof(h);
	return 0;
}

int zt_rec_write(struct zt_rec_writer *w, const void *rec, size_t len)
{
	uint32_t l = (uint32_t)len;

	if (fwrite(&l, sizeof(l), 1, w->f) != 1 || fwrite(rec, len, 1, w->f) != 1)
		return -EIO;
	w->records++;
	w->bytes += sizeof(l) + len;
	return 0;
}

int zt_rec_writer_close(struct zt_rec_writer *w)
{
	int rc = 0;

	if (!w->f)
		return 0;
	if (fflush(w->f) != 0 || ferror(w->f))
		rc = -EIO;
	if (fclose(w->f) != 0)
		rc = -EIO;
	w->f = NULL;
	return rc;
}

int zt_rec_reader_open(struct zt_rec_reader *r, const char *path, FILE *f, char *err, size_t errsz)
{
	size_t n;

	r->own = f == NULL;
	r->off = 0;
	r->f = f ? f : fopen(path, "rb");
	if (!r->f)
		return fail(err, errsz, -errno, "cannot open %s: %s", path, strerror(errno));
	n = fread(&r->hdr, 1, sizeof(r->hdr), r->f);
	if (n < sizeof(r->hdr)) {
		zt_rec_reader_close(r);
		return fail(err, errsz, -EINVAL, "not a ztrace recording: file ends at byte %zu, inside the 64-byte header",
			    n);
	}
	if (memcmp(r->hdr.magic, ZT_REC_MAGIC, 8) != 0) {
		zt_rec_reader_close(r);
		return fail(err, errsz, -EINVAL, "not a ztrace recording: bad magic at byte offset 0");
	}
	if (r->hdr.version != ZT_REC_VERSION || r->hdr.abi != ZT_ABI_VERSION) {
		uint32_t v = r->hdr.version, abi = r->hdr.abi;
		zt_rec_reader_close(r);
		return fail(err, errsz, -EPROTO,
			    "recording format %u / event ABI %u is not supported (this ztrace reads %u / %u)", v, abi,
			    ZT_REC_VERSION, ZT_ABI_VERSION);
	}
	r->hdr.host[sizeof(r->hdr.host) - 1] = '\0';
	r->off = sizeof(r->hdr);
	return 0;
}

int zt_rec_next(struct zt_rec_reader *r, const void **rec, size_t *len, char *err, size_t errsz)
{
	uint32_t l;
	size_t n;
	const char *why;

	n = fread(&l, 1, sizeof(l), r->f);
	if (n == 0 && feof(r->f))
		return 0;
	if (n < sizeof(l))
		return fail(err, errsz, -EINVAL, "truncated recording: record length cut at byte offset %llu",
			    (unsigned long long)r->off);
	if (l < sizeof(struct zt_event_hdr) || l > ZT_EVENT_MAX_SIZE)
		return fail(err, errsz, -EINVAL, "corrupt recording: record length %u at byte offset %llu is out of range",
			    l, (unsigned long long)r->off);
	n = fread(r->buf, 1, l, r->f);
	if (n < l)
		return fail(err, errsz, -EINVAL,
			    "truncated recording: record at byte offset %llu needs %u bytes, file ends after %zu",
			    (unsigned long long)r->off, l, n);
	if (zt_event_check(r->buf, l, &why))
		return fail(err, errsz, -EINVAL, "corrupt recording: record at byte offset %llu: %s",
			    (unsigned long long)r->off, why);
	r->off += sizeof(l) + l;
	*rec = r->buf;
	*len = l;
	return 1;
}

void zt_rec_reader_close(struct zt_rec_reader *r)
{
	if (r->f && r->own)
		fclose(r->f);
	r->f = NULL;
}
