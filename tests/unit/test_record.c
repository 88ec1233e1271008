/* SPDX-License-Identifier: MIT */
/* Record files: round trip, and every kind of corruption gives a clear
 * error naming the byte offset, never a crash. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/record.h"
#include "evgen.h"

static char path[64];
static uint8_t ev[ZT_EVENT_MAX_SIZE];

/* A file of three records: data, data, close. Returns its bytes. */
static uint8_t *make_file(size_t *outlen)
{
	struct zt_rec_writer w;
	char err[256];
	size_t n;
	FILE *f;
	uint8_t *buf;

	strcpy(path, "/tmp/zt-test-rec-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(zt_rec_writer_open(&w, path, "testhost", 12345, ZT_REC_FORCE, err, sizeof(err)), 0);
	n = evgen_data(ev, 0x1000, 10, 11, "curl", ZT_DIR_EGRESS, 1000, 7, "GET / HTTP/1.1\r\n\r\n", 18, 18, 40000,
		       80);
	assert_int_equal(zt_rec_write(&w, ev, n), 0);
	n = evgen_data(ev, 0x1000, 10, 11, "curl", ZT_DIR_INGRESS, 2000, 9, "HTTP/1.1 204 No Content\r\n\r\n", 27,
		       27, 40000, 80);
	assert_int_equal(zt_rec_write(&w, ev, n), 0);
	n = evgen_close(ev, 0x1000, 3000);
	assert_int_equal(zt_rec_write(&w, ev, n), 0);
	assert_int_equal(zt_rec_writer_close(&w), 0);
	f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	*outlen = (size_t)ftell(f);
	rewind(f);
	buf = malloc(*outlen);
	assert_int_equal(fread(buf, 1, *outlen, f), *outlen);
	fclose(f);
	unlink(path);
	return buf;
}

/* Reads a whole in-memory file; returns records read, or the error code
 * (negative) with the message in err. */
static int read_all(const uint8_t *buf, size_t len, char *err, size_t errsz)
{
	struct zt_rec_reader *r = malloc(sizeof(*r));
	FILE *f = fmemopen((void *)buf, len, "rb");
	const void *rec;
	size_t rl;
	int rc, n = 0;

	assert_non_null(f);
	err[0] = '\0';
	rc = zt_rec_reader_open(r, NULL, f, err, errsz);
	if (rc == 0) {
		while ((rc = zt_rec_next(r, &rec, &rl, err, errsz)) == 1)
			n++;
		zt_rec_reader_close(r);
	}
	fclose(f);
	free(r);
	return rc < 0 ? rc : n;
}

static void test_round_trip(void **state)
{
	size_t len;
	uint8_t *buf = make_file(&len);
	char err[256];
	struct zt_rec_reader r;
	FILE *f = fmemopen(buf, len, "rb");
	const void *rec;
	size_t rl;

	assert_int_equal(zt_rec_reader_open(&r, NULL, f, err, sizeof(err)), 0);
	assert_string_equal(r.hdr.host, "testhost");
	assert_int_equal(r.hdr.mono_to_real, 12345);
	assert_int_equal(zt_rec_next(&r, &rec, &rl, err, sizeof(err)), 1);
	assert_int_equal(rl, sizeof(struct zt_data_ev) + 18);
	assert_memory_equal((const uint8_t *)rec + sizeof(struct zt_data_ev), "GET / HTTP/1.1\r\n\r\n", 18);
	assert_int_equal(zt_rec_next(&r, &rec, &rl, err, sizeof(err)), 1);
	assert_int_equal(zt_rec_next(&r, &rec, &rl, err, sizeof(err)), 1);
	assert_int_equal(((const struct zt_event_hdr *)rec)->type, ZT_EV_SOCK_STATE);
	assert_int_equal(zt_rec_next(&r, &rec, &rl, err, sizeof(err)), 0);
	zt_rec_reader_close(&r);
	fclose(f);
	free(buf);
	(void)state;
}

/* Every truncation of a valid file is an error naming an offset, except at
 * record boundaries, where the shorter file is itself valid. */
static void test_every_truncation(void **state)
{
	size_t len;
	uint8_t *buf = make_file(&len);
	char err[256];
	size_t b1 = 64 + 4 + sizeof(struct zt_data_ev) + 18;
	size_t b2 = b1 + 4 + sizeof(struct zt_data_ev) + 27;

	for (size_t cut = 0; cut < len; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1);
		memcpy(copy, buf, cut);
		int rc = read_all(copy, cut, err, sizeof(err));
		if (cut == 64 || cut == b1 || cut == b2) {
			assert_true(rc >= 0);
		} else {
			assert_true(rc < 0);
			assert_non_null(strstr(err, "byte"));
		}
		free(copy);
	}
	assert_int_equal(read_all(buf, len, err, sizeof(err)), 3);
	free(buf);
	(void)state;
}

static void expect_corrupt(const uint8_t *buf, size_t len, const char *needle)
{
	char err[256];
	int rc = read_all(buf, len, err, sizeof(err));
	assert_true(rc < 0);
	if (!strstr(err, needle))
		fail_msg("error '%s' lacks '%s'", err, needle);
}

static void test_corruptions(void **state)
{
	size_t len;
	uint8_t *buf = make_file(&len);
	uint8_t *c = malloc(len);
	struct zt_data_ev dv, *d = &dv; /* the first record's fixed part, patched then copied in */
	uint32_t v;
#define PATCH(stmt)                                                                                                \
	do {                                                                                                       \
		memcpy(c, buf, len);                                                                               \
		memcpy(d, buf + 68, sizeof(*d));                                                                   \
		stmt;                                                                                              \
		memcpy(c + 68, d, sizeof(*d));                                                                     \
	} while (0)

	memcpy(c, buf, len);
	c[0] = 'X';
	expect_corrupt(c, len, "bad magic at byte offset 0");

	memcpy(c, buf, len);
	v = 99;
	memcpy(c + 8, &v, 4);
	expect_corrupt(c, len, "not supported");

	memcpy(c, buf, len);
	v = 3; /* shorter than an event header */
	memcpy(c + 64, &v, 4);
	expect_corrupt(c, len, "offset 64 is out of range");

	memcpy(c, buf, len);
	v = 1u << 30;
	memcpy(c + 64, &v, 4);
	expect_corrupt(c, len, "offset 64 is out of range");

	PATCH(d->hdr.size += 1);
	expect_corrupt(c, len, "offset 64: event size");

	PATCH(d->hdr.type = 77);
	expect_corrupt(c, len, "unknown event type");

	PATCH(d->cap_len = 5000);
	expect_corrupt(c, len, "payload length");

	PATCH(d->bytes = 3); /* less than the captured prefix */
	expect_corrupt(c, len, "more payload than bytes");

	PATCH(d->dir = 9);
	expect_corrupt(c, len, "bad direction");

	free(c);
	free(buf);
	(void)state;
}

static void test_missing_file(void **state)
{
	struct zt_rec_reader r;
	char err[256];

	assert_true(zt_rec_reader_open(&r, "/nonexistent/zt.rec", NULL, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "No such file"));
	(void)state;
}

/* A recording is created 0600, never through a symlink, never over an
 * existing file unless forced. */
static void test_writer_safe_create(void **state)
{
	char dir[] = "/tmp/zt-test-recdir-XXXXXX", rpath[128], lpath[128], victim[128], err[256];
	struct zt_rec_writer w;
	struct stat st;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(rpath, sizeof(rpath), "%s/a.zrec", dir);
	snprintf(lpath, sizeof(lpath), "%s/l.zrec", dir);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	assert_int_equal(zt_rec_writer_open(&w, rpath, "h", 0, 0, err, sizeof(err)), 0);
	assert_int_equal(zt_rec_writer_close(&w), 0);
	assert_int_equal(stat(rpath, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* exists: refused, untouched */
	assert_int_equal(zt_rec_writer_open(&w, rpath, "h", 0, 0, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "--force"));
	/* a symlink to a victim: refused even with --force, victim intact */
	f = fopen(victim, "w");
	assert_non_null(f);
	fputs("precious", f);
	fclose(f);
	assert_int_equal(symlink(victim, lpath), 0);
	assert_int_equal(zt_rec_writer_open(&w, lpath, "h", 0, 0, err, sizeof(err)), -EEXIST);
	assert_int_equal(zt_rec_writer_open(&w, lpath, "h", 0, ZT_REC_FORCE, err, sizeof(err)), -ELOOP);
	assert_non_null(strstr(err, "symbolic link"));
	assert_int_equal(stat(victim, &st), 0);
	assert_int_equal(st.st_size, 8);
	/* forced over a 0644 regular file: truncated and made 0600 */
	assert_int_equal(chmod(rpath, 0644), 0);
	assert_int_equal(zt_rec_writer_open(&w, rpath, "h", 0, ZT_REC_FORCE, err, sizeof(err)), 0);
	assert_int_equal(zt_rec_writer_close(&w), 0);
	assert_int_equal(stat(rpath, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	unlink(lpath);
	unlink(victim);
	unlink(rpath);
	rmdir(dir);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_writer_safe_create),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_corruptions),
		cmocka_unit_test(test_missing_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
