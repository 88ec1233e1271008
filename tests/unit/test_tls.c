/* SPDX-License-Identifier: MIT */
/* TLS plaintext, the user-space parts: /proc/PID/maps lines, function
 * offsets in real ELF files (Debian's libssl.so.3, node), the uprobe
 * manager's file walk (on this very process, no BPF), and the session
 * adopting a connection on its first TLS plaintext record. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/uprobe.h"
#include "evgen.h"
#include "session/session.h"

#define LIBSSL "/usr/lib/x86_64-linux-gnu/libssl.so.3"
#define NODE "/usr/bin/node"

/* ---- maps lines ---- */

static void test_maps_lines(void **state)
{
	struct zt_maps_entry e;
	char l1[] = "7f1c2a400000-7f1c2a45c000 r-xp 0001f000 fd:01 1835122                    "
		    "/usr/lib/x86_64-linux-gnu/libssl.so.3\n";
	char l2[] = "55d0c0a00000-55d0c0a21000 rw-p 00000000 00:00 0                          [heap]";
	char l3[] = "7f00-8f00 r-xp 00000000 103:02 42 /tmp/a dir/lib x.so (deleted)\n";
	char l4[] = "7f00-8f00 ---p 00000000 00:00 0";

	assert_int_equal(zt_maps_parse_line(l1, &e), 0);
	assert_true(e.start == 0x7f1c2a400000ULL && e.end == 0x7f1c2a45c000ULL && e.offset == 0x1f000);
	assert_string_equal(e.perms, "r-xp");
	assert_true(e.dev_major == 0xfd && e.dev_minor == 1 && e.ino == 1835122);
	assert_string_equal(e.path, "/usr/lib/x86_64-linux-gnu/libssl.so.3");
	assert_int_equal(zt_maps_parse_line(l2, &e), 0);
	assert_true(e.ino == 0 && strcmp(e.path, "[heap]") == 0 && e.perms[2] == '-');
	assert_int_equal(zt_maps_parse_line(l3, &e), 0); /* spaces in the path are kept */
	assert_true(e.dev_major == 0x103 && e.dev_minor == 2 && e.ino == 42);
	assert_string_equal(e.path, "/tmp/a dir/lib x.so (deleted)");
	assert_int_equal(zt_maps_parse_line(l4, &e), 0); /* anonymous: no path */
	assert_string_equal(e.path, "");
	(void)state;
}

static void test_maps_malformed(void **state)
{
	static const char *const bad[] = {
		"", "zz-10 r-xp 0 00:00 0", "10 r-xp 0 00:00 0", "10-20", "10-20 r-x", "10-20 r-xp",
		"10-20 r-xp 0", "10-20 r-xp 0 0000 0", "10-20 r-xp 0 00:00", "10-20 r-xp 0 00:00 x",
		"10-20 r-xp 0 fffffff:00 1 /x", "10-20 r-xp 0 00:00 1x /x", "10-20 rxp 0 00:00 1 /x",
	};
	static const char good[] = "7f1c2a400000-7f1c2a45c000 r-xp 0001f000 fd:01 1835122 /usr/lib/libssl.so.3";
	struct zt_maps_entry e;
	char buf[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf), "%s", bad[i]);
		if (zt_maps_parse_line(buf, &e) != -EINVAL)
			fail_msg("accepted malformed line '%s'", bad[i]);
	}
	/* every prefix: accepted (a shorter inode, a shorter path) or refused,
	 * never read past its end */
	for (size_t n = 0; n <= sizeof(good) - 1; n++) {
		char *p = malloc(n + 1);
		int rc;
		memcpy(p, good, n);
		p[n] = '\0';
		rc = zt_maps_parse_line(p, &e);
		assert_true(rc == 0 || rc == -EINVAL);
		if (n < strlen("7f1c2a400000-7f1c2a45c000 r-xp 0001f000 fd:01 1"))
			assert_int_equal(rc, -EINVAL);
		free(p);
	}
	(void)state;
}

/* ---- ELF function offsets ---- */

/* The instruction bytes objdump shows at address `addr` of `path` (an
 * independent reading of the file), as raw bytes; their count, or -1. */
static int objdump_bytes(const char *path, uint64_t addr, uint8_t *out, int max)
{
	char cmd[512], line[512];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "objdump -d --start-address=0x%llx --stop-address=0x%llx %s 2>/dev/null",
		 (unsigned long long)addr, (unsigned long long)addr + 8, path);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (fgets(line, sizeof(line), p) && n < max) {
		char *t = strchr(line, ':');
		unsigned long long a;
		if (!t || line[0] != ' ' || sscanf(line, " %llx:", &a) != 1 || a < addr || a >= addr + 8)
			continue;
		if (n < 0)
			n = 0;
		/* "  addr:\tb1 b2 b3   \tmnemonic": the bytes of each line */
		for (char *q = t + 1; n < max;) {
			unsigned v;
			int used;
			while (*q == ' ' || *q == '\t')
				q++;
			if (sscanf(q, "%2x%n", &v, &used) != 1 || used != 2 || (q[2] != ' ' && q[2] != '\t'))
				break;
			out[n++] = (uint8_t)v;
			q += 2;
		}
	}
	pclose(p);
	return n;
}

/* A symbol's address from readelf (dynamic symbols), or 0. */
static uint64_t readelf_addr(const char *path, const char *name)
{
	char cmd[512], line[1024];
	uint64_t v = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "readelf -sW --dyn-syms %s 2>/dev/null", path);
	p = popen(cmd, "r");
	if (!p)
		return 0;
	while (fgets(line, sizeof(line), p)) {
		unsigned long long a;
		char type[32], nm[256];
		if (sscanf(line, " %*d: %llx %*d %31s %*s %*s %*s %255s", &a, type, nm) != 3)
			continue;
		nm[strcspn(nm, "@")] = '\0';
		if (strcmp(type, "FUNC") == 0 && strcmp(nm, name) == 0 && a) {
			v = a;
			break;
		}
	}
	pclose(p);
	return v;
}

/* The file bytes at the offset we found are the function's first
 * instructions as objdump disassembles them at the symbol's address. */
static void assert_entry_matches(const char *path, const char *name, uint64_t off)
{
	uint8_t want[16], got[16];
	uint64_t addr = readelf_addr(path, name);
	int n, fd;

	assert_true(addr != 0);
	n = objdump_bytes(path, addr, want, (int)sizeof(want));
	if (n < 2)
		fail_msg("objdump gave no bytes for %s at 0x%llx", name, (unsigned long long)addr);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, got, (size_t)n, (off_t)off), n);
	close(fd);
	assert_memory_equal(got, want, (size_t)n);
}

static void test_elf_libssl(void **state)
{
	static const char *const names[] = {"SSL_write", "SSL_read", "SSL_write_ex", "SSL_read_ex", "no_such_fn"};
	uint64_t offs[5];
	char err[256];

	if (access(LIBSSL, R_OK) != 0)
		fail_msg("%s is missing (scripts/setup.sh installs libssl3)", LIBSSL);
	assert_int_equal(zt_elf_func_offsets(LIBSSL, names, 5, offs, false, err, sizeof(err)), 4);
	for (int i = 0; i < 4; i++) {
		assert_true(offs[i] != 0);
		assert_entry_matches(LIBSSL, names[i], offs[i]);
	}
	assert_true(offs[4] == 0);
	(void)state;
}

/* node's text is not mapped at its file offset (0xb72000 vs 0x772000 in
 * nodesource 20): the offset must come through the PT_LOAD segment. */
static void test_elf_node(void **state)
{
	static const char *const names[] = {"SSL_write", "SSL_read"};
	uint64_t offs[2];
	char err[256];

	if (access(NODE, R_OK) != 0) {
		print_message("skip: %s not installed\n", NODE);
		return;
	}
	assert_int_equal(zt_elf_func_offsets(NODE, names, 2, offs, true, err, sizeof(err)), 2);
	assert_true(offs[0] != readelf_addr(NODE, "SSL_write") || offs[0] == 0x0); /* not the address */
	assert_entry_matches(NODE, "SSL_write", offs[0]);
	assert_entry_matches(NODE, "SSL_read", offs[1]);
	(void)state;
}

static void test_elf_errors(void **state)
{
	static const char *const names[] = {"SSL_write"};
	uint64_t off = 99;
	char err[256] = "";

	assert_int_equal(zt_elf_func_offsets("/nonexistent/libssl.so.3", names, 1, &off, false, err, sizeof(err)),
			 -ENOENT);
	assert_true(off == 0 && strstr(err, "cannot open"));
	assert_int_equal(zt_elf_func_offsets("/etc/passwd", names, 1, &off, false, err, sizeof(err)), -ENOEXEC);
	assert_non_null(strstr(err, "not an ELF"));
	(void)state;
}

/* ---- the manager's walk over a process's files ---- */

struct seen_log {
	int files, exes, libc, fail_on_libc;
	char paths[256][256];
};

static int record_match(void *ctx, struct zt_uprobe_mgr *m, const struct zt_uprobe_file *f, char *err, size_t errsz)
{
	struct seen_log *s = ctx;
	int fd;

	(void)m;
	for (int i = 0; i < s->files && i < 256; i++)
		if (strcmp(s->paths[i], f->path) == 0)
			fail_msg("%s shown twice", f->path);
	if (s->files < 256)
		snprintf(s->paths[s->files], sizeof(s->paths[0]), "%s", f->path);
	s->files++;
	s->exes += f->is_exe;
	/* the path a matcher gets can be opened */
	fd = open(f->open_path, O_RDONLY);
	assert_true(fd >= 0);
	close(fd);
	if (strstr(f->path, "/libc.so")) {
		s->libc++;
		if (s->fail_on_libc) {
			snprintf(err, errsz, "test failure");
			return -EINVAL;
		}
	}
	return ZT_UPROBE_NOT_MINE;
}

static void test_manager_walk(void **state)
{
	struct zt_uprobe_mgr *m = zt_uprobe_mgr_new();
	static struct seen_log s;

	memset(&s, 0, sizeof(s));
	s.fail_on_libc = 1;
	assert_non_null(m);
	assert_int_equal(zt_uprobe_add_matcher(m, "test", record_match, &s), 0);
	assert_int_equal(zt_uprobe_scan_pid(m, (uint32_t)getpid()), 0);
	assert_true(s.files >= 2);
	assert_int_equal(s.exes, 1); /* this test program itself */
	assert_int_equal(s.libc, 1);
	assert_int_equal(zt_uprobe_stats(m)->failures, 1);
	/* files are shown once per inode: a second walk shows nothing */
	int before = s.files;
	assert_int_equal(zt_uprobe_scan_pid(m, (uint32_t)getpid()), 0);
	assert_int_equal(s.files, before);
	/* exec checks: due at once after their delay, then dropped when the
	 * process is gone */
	zt_uprobe_on_exec(m, 0x7ffffff0u, 1000);
	assert_true(zt_uprobe_next_due(m) > 1000);
	zt_uprobe_tick(m, 1000000000000ULL);
	assert_int_equal(zt_uprobe_next_due(m), 0);
	assert_true(zt_uprobe_scan_pid(m, 0x7ffffff0u) < 0);
	zt_uprobe_mgr_free(m);
	(void)state;
}

/* ---- the session: a connection's first plaintext record ---- */

#define MAXSPANS 8
static struct zt_span spans[MAXSPANS];
static int nspans;

static void sink(void *ctx, const struct zt_span *s)
{
	(void)ctx;
	assert_true(nspans < MAXSPANS);
	spans[nspans++] = *s;
}

static void feed(struct zt_session *s, uint64_t sk, uint8_t dir, uint64_t ts, uint32_t seq, const void *p, size_t n,
		 bool tls)
{
	static uint8_t ev[ZT_EVENT_MAX_SIZE];
	size_t len = evgen_data(ev, sk, 100, 100, "curl", dir, ts, seq, p, (uint32_t)n, n, 41000, 443);
	struct zt_data_ev *e = (struct zt_data_ev *)ev;

	if (tls) {
		e->flags |= ZT_DF_TLS;
		e->syscall = dir == ZT_DIR_EGRESS ? ZT_SYS_TLS_WRITE : ZT_SYS_TLS_READ;
		e->tls_lib = ZT_TLS_OPENSSL;
	}
	assert_int_equal(zt_session_event(s, ev, len), 0);
}

static void test_session_adopts_tls(void **state)
{
	struct zt_session_cfg cfg = {.host = "h1", .mono_to_real = 0};
	struct zt_session *s;
	static const uint8_t hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0xaa, 0xbb};
	static const uint8_t server_hello[] = {0x16, 0x03, 0x03, 0x00, 0x7a, 0x02, 0x00, 0x00, 0x76, 0x03, 0x03};
	static const uint8_t appdata[] = {0x17, 0x03, 0x03, 0x00, 0x30, 0xde, 0xad, 0xbe, 0xef};
	const char *req = "GET /secret/page HTTP/1.1\r\nHost: example.test\r\n\r\n";
	const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

	nspans = 0;
	s = zt_session_new(&cfg, sink, NULL);
	/* the handshake, captured before the kernel knew the socket: nothing
	 * recognises it */
	for (int i = 0; i < 4; i++) {
		feed(s, 9, ZT_DIR_EGRESS, 100 + i * 10, 1000, hello, sizeof(hello), false);
		feed(s, 9, ZT_DIR_INGRESS, 105 + i * 10, 5000, server_hello, sizeof(server_hello), false);
	}
	assert_int_equal(zt_session_stats(s)->conns_unclassified, 1);
	/* the plaintext: the connection starts over on it */
	feed(s, 9, ZT_DIR_EGRESS, 1000, 1517, req, strlen(req), true);
	feed(s, 9, ZT_DIR_INGRESS, 2000, 5300, appdata, sizeof(appdata), false); /* late ciphertext: ignored */
	feed(s, 9, ZT_DIR_INGRESS, 3000, 5300, resp, strlen(resp), true);
	assert_int_equal(nspans, 1);
	assert_int_equal(spans[0].is_tls, 1);
	assert_string_equal(spans[0].request_type, "GET");
	assert_string_equal(spans[0].request_resource, "/secret/page");
	assert_int_equal(spans[0].response_code, 200);
	assert_int_equal(spans[0].tap_side, ZT_TAP_CLIENT_PROCESS);
	/* the ciphertext's seqs link it with the server's span */
	assert_true((spans[0].flags & ZT_SPAN_HAS_SEQ) && (spans[0].flags & ZT_SPAN_HAS_RESP_SEQ));
	assert_int_equal(spans[0].req_tcp_seq, 1517);
	assert_int_equal(spans[0].resp_tcp_seq, 5300);
	assert_int_equal(zt_session_stats(s)->tls_conns, 1);
	assert_int_equal(zt_session_stats(s)->tls_events, 2);
	assert_int_equal(zt_session_stats(s)->tls_cipher_ignored, 1);
	/* a plain connection's spans are not TLS */
	feed(s, 10, ZT_DIR_EGRESS, 4000, 1, req, strlen(req), false);
	feed(s, 10, ZT_DIR_INGRESS, 5000, 1, resp, strlen(resp), false);
	assert_int_equal(nspans, 2);
	assert_int_equal(spans[1].is_tls, 0);
	zt_session_free(s);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_maps_lines),   cmocka_unit_test(test_maps_malformed),
		cmocka_unit_test(test_elf_libssl),   cmocka_unit_test(test_elf_node),
		cmocka_unit_test(test_elf_errors),   cmocka_unit_test(test_manager_walk),
		cmocka_unit_test(test_session_adopts_tls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
