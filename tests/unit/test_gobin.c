/* SPDX-License-Identifier: MIT */
/* Go executable inspection (src/agent/gobin.c) on real binaries the test
 * builds with the installed Go: the HTTPS server of the e2e test, the same
 * stripped by binutils (symbols from .gopclntab, same addresses) and built
 * with -ldflags=-s -w. Addresses are checked against `go tool nm`, return
 * offsets against the bytes at those offsets; non-Go and broken files get
 * a clean answer. Also: the tls.Conn offset table of src/agent/gotls.c
 * against reflect on the installed toolchain. Run from the repository
 * root. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/gobin.h"
#include "agent/gotls.h"

static char dir[64];
static char bin[128], bin_strip[128], bin_sw[128];

static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/zt-gobin-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(bin, sizeof(bin), "%s/srv", dir);
	snprintf(bin_strip, sizeof(bin_strip), "%s/srv-strip", dir);
	snprintf(bin_sw, sizeof(bin_sw), "%s/srv-sw", dir);
	/* GOCACHE/GOPATH in the temp dir: nothing written outside it */
	if (sh("cd %s && export GOCACHE=%s/cache GOPATH=%s/gopath GOFLAGS= && "
	       "go build -o srv %s/tests/e2e/gotls/server/main.go && "
	       "go build -ldflags='-s -w' -o srv-sw %s/tests/e2e/gotls/server/main.go && "
	       "cp srv srv-strip && strip srv-strip && "

	       "go tool nm -size srv > nm.txt && "
	       "go run %s/tests/data/gotls/offsets/main.go > offsets.txt",
	       dir, dir, dir, getcwd((char[512]){0}, 512), getcwd((char[512]){0}, 512),
	       getcwd((char[512]){0}, 512)) != 0) {
		fprintf(stderr, "test_gobin: building the Go programs failed (is golang-go installed? run from the "
				"repository root)\n");
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sh("rm -rf %s", dir);
	return 0;
}

/* address and size of a symbol in `go tool nm -size` output */
static int nm_lookup(const char *name, uint64_t *addr, uint64_t *size)
{
	char path[128], line[512];
	FILE *f;
	int found = 0;

	snprintf(path, sizeof(path), "%s/nm.txt", dir);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a, s;
		char type[8], nm[400];
		if (sscanf(line, "%llx %llu %7s %399s", &a, &s, type, nm) == 4 && strcmp(nm, name) == 0) {
			*addr = a;
			*size = s;
			found = 1;
			break;
		}
	}
	fclose(f);
	return found;
}

static uint8_t byte_at(const char *path, uint64_t off)
{
	FILE *f = fopen(path, "rb");
	int c;
	assert_non_null(f);
	assert_int_equal(fseek(f, (long)off, SEEK_SET), 0);
	c = fgetc(f);
	fclose(f);
	assert_true(c >= 0);
	return (uint8_t)c;
}

static void check_rets(const char *path, const struct zt_gobin *g)
{
	for (int i = 0; i < 2; i++) {
		const struct zt_gobin_func *f = &g->fn[i];
		assert_true(f->found);
		assert_true(f->rets_ok);
		assert_true(f->nret >= 2 && f->nret < ZT_GOBIN_MAX_RETS);
		for (uint32_t k = 0; k < f->nret; k++) {
			/* inside the function, on a RET opcode (C3; C2 imm16 is not emitted by Go) */
			assert_true(f->ret_off[k] > f->entry_off && f->ret_off[k] < f->entry_off + f->size);
			assert_int_equal(byte_at(path, f->ret_off[k]), 0xc3);
		}
		/* Go's amd64 prologue compares SP with the stack guard: the
		 * entry is the function's start, not a byte in it */
		assert_true(byte_at(path, f->entry_off) == 0x49 || byte_at(path, f->entry_off) == 0x4c ||
			    byte_at(path, f->entry_off) == 0x48);
	}
}

static void test_go_binary(void **state)
{
	struct zt_gobin g;
	char err[256], ver[64] = "", path[128];
	const char *why = NULL;
	FILE *f;

	(void)state;
	assert_int_equal(zt_gobin_inspect(bin, &g, err, sizeof(err)), 0);
	assert_true(g.is_go);
	assert_true(g.has_symtab);
	assert_false(g.pie);
	assert_int_equal(g.arch, ZT_GOBIN_ARCH_X86_64);
	/* the version the toolchain says it is */
	snprintf(path, sizeof(path), "%s/offsets.txt", dir);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%63s", ver), 1);
	fclose(f);
	assert_string_equal(g.version, ver);
	assert_int_equal(g.major, 1);
	assert_true(g.minor >= 17);
	assert_true(g.itab_tcpconn != 0);
	for (int i = 0; i < ZT_GOFN__COUNT; i++) {
		uint64_t a, s;
		assert_true(nm_lookup(zt_gobin_fn_names[i], &a, &s));
		assert_true(g.fn[i].found);
		assert_int_equal(g.fn[i].addr, a);
		assert_int_equal(g.fn[i].size, s);
	}
	{
		uint64_t a, s;
		assert_true(nm_lookup("go.itab.*net.TCPConn,net.Conn", &a, &s) ||
			    nm_lookup("go:itab.*net.TCPConn,net.Conn", &a, &s));
		assert_int_equal(g.itab_tcpconn, a);
	}
	check_rets(bin, &g);
	assert_true(zt_gobin_probeable(&g, &why));
	assert_null(why);
}

/* binutils strip: same file layout, no .symtab: the pclntab must give the
 * same functions and returns */
static void test_stripped(void **state)
{
	struct zt_gobin g, s;
	char err[256];

	(void)state;
	assert_int_equal(zt_gobin_inspect(bin, &g, err, sizeof(err)), 0);
	assert_int_equal(zt_gobin_inspect(bin_strip, &s, err, sizeof(err)), 0);
	assert_true(s.is_go);
	assert_false(s.has_symtab);
	assert_string_equal(s.version, g.version);
	assert_int_equal(s.itab_tcpconn, 0);
	for (int i = 0; i < ZT_GOFN__COUNT; i++) {
		assert_true(s.fn[i].found);
		assert_int_equal(s.fn[i].addr, g.fn[i].addr);
		assert_int_equal(s.fn[i].entry_off, g.fn[i].entry_off);
		/* pclntab sizes run to the next function (alignment padding) */
		assert_true(s.fn[i].size >= g.fn[i].size && s.fn[i].size < g.fn[i].size + 64);
	}
	for (int i = 0; i < 2; i++) {
		assert_int_equal(s.fn[i].nret, g.fn[i].nret);
		assert_memory_equal(s.fn[i].ret_off, g.fn[i].ret_off, g.fn[i].nret * sizeof(uint64_t));
	}
	check_rets(bin_strip, &s);
	assert_true(zt_gobin_probeable(&s, NULL));
}

/* go build -ldflags='-s -w': another layout, found from the pclntab alone */
static void test_linker_stripped(void **state)
{
	struct zt_gobin s;
	char err[256];

	(void)state;
	assert_int_equal(zt_gobin_inspect(bin_sw, &s, err, sizeof(err)), 0);
	assert_true(s.is_go);
	assert_false(s.has_symtab);
	check_rets(bin_sw, &s);
	assert_true(zt_gobin_probeable(&s, NULL));
}

static void test_not_go(void **state)
{
	struct zt_gobin g;
	char err[256], path[128];
	const char *why;
	FILE *f;

	(void)state;
	assert_int_equal(zt_gobin_inspect("/bin/sh", &g, err, sizeof(err)), 0);
	assert_false(g.is_go);
	assert_false(zt_gobin_probeable(&g, &why));
	assert_string_equal(why, "not a Go binary");
	snprintf(path, sizeof(path), "%s/text", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("#!/bin/sh\necho not elf\n", f);
	fclose(f);
	assert_int_equal(zt_gobin_inspect(path, &g, err, sizeof(err)), -ENOEXEC);
	assert_string_equal(err, "not an ELF file");
	assert_int_equal(zt_gobin_inspect("/nonexistent/zt", &g, err, sizeof(err)), -ENOENT);
}

/* Every cut of the file, and bytes flipped in its headers and tables:
 * an answer, never a crash (ASan build: make asan) */
static void test_truncated_and_corrupt(void **state)
{
	struct zt_gobin g;
	char err[256];
	FILE *f = fopen(bin_sw, "rb");
	uint8_t *img, *cut;
	long len;

	(void)state;
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	img = malloc((size_t)len);
	assert_int_equal(fread(img, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	for (long n = 0; n < len; n += n < 4096 ? 1 : 65521) {
		/* a copy of exactly n bytes: ASan sees any read past it */
		cut = malloc(n ? (size_t)n : 1);
		memcpy(cut, img, (size_t)n);
		(void)zt_gobin_inspect_mem(cut, (size_t)n, &g, err, sizeof(err));
		free(cut);
	}
	srand(7);
	for (int i = 0; i < 300; i++) {
		uint8_t *c = malloc((size_t)len);
		memcpy(c, img, (size_t)len);
		for (int k = 0; k < 8; k++) {
			/* headers, and anywhere */
			long at = k < 4 ? rand() % 4096 : rand() % len;
			c[at] = (uint8_t)rand();
		}
		(void)zt_gobin_inspect_mem(c, (size_t)len, &g, err, sizeof(err));
		free(c);
	}
	free(img);
}

/* The ELF files in tests/data/fuzz/gobin (make_seeds.py): layouts Go 1.19 does not
 * write (1.16/1.17 pclntab and buildinfo), at known offsets */
static void check_synthetic(const struct zt_gobin *g, bool symtab)
{
	static const uint64_t wr[] = {0x1006, 0x100a}, rd[] = {0x1022, 0x1026, 0x102a};
	const struct zt_gobin_func *w = &g->fn[ZT_GOFN_CONN_WRITE], *r = &g->fn[ZT_GOFN_CONN_READ];

	assert_true(g->is_go);
	assert_int_equal(g->has_symtab, symtab);
	assert_true(w->found && r->found && g->fn[ZT_GOFN_DECRYPT].found);
	assert_int_equal(w->addr, 0x401000);
	assert_int_equal(w->entry_off, 0x1000);
	assert_int_equal(r->entry_off, 0x1020);
	assert_int_equal(g->fn[ZT_GOFN_DECRYPT].entry_off, 0x1040);
	/* symtab: the code's own size; pclntab: up to the next function */
	assert_int_equal(w->size, symtab ? 11 : 32);
	assert_int_equal(w->nret, 2);
	assert_memory_equal(w->ret_off, wr, sizeof(wr));
	assert_int_equal(r->nret, 3);
	assert_memory_equal(r->ret_off, rd, sizeof(rd));
}

static void test_synthetic_layouts(void **state)
{
	struct zt_gobin g;
	char err[256];
	const char *why;

	(void)state;
	assert_int_equal(zt_gobin_inspect("tests/data/fuzz/gobin/go119.elf", &g, err, sizeof(err)), 0);
	check_synthetic(&g, true);
	assert_string_equal(g.version, "go1.19.8");
	assert_int_equal(zt_gobin_inspect("tests/data/fuzz/gobin/go119-stripped.elf", &g, err, sizeof(err)), 0);
	check_synthetic(&g, false);
	assert_true(zt_gobin_probeable(&g, NULL));
	/* pointer-style buildinfo, 0xfffffffa pclntab */
	assert_int_equal(zt_gobin_inspect("tests/data/fuzz/gobin/go117.elf", &g, err, sizeof(err)), 0);
	check_synthetic(&g, false);
	assert_string_equal(g.version, "go1.17.13");
	assert_int_equal(g.minor, 17);
	assert_true(zt_gobin_probeable(&g, NULL));
	/* -buildmode=pie (ET_DYN) names the table .data.rel.ro.gopclntab (a
	 * real PIE build would make this test rebuild the standard library) */
	assert_int_equal(zt_gobin_inspect("tests/data/fuzz/gobin/go119-pie-stripped.elf", &g, err, sizeof(err)), 0);
	check_synthetic(&g, false);
	assert_true(g.pie);
	assert_true(zt_gobin_probeable(&g, NULL));
	assert_int_equal(zt_gobin_inspect("tests/data/fuzz/gobin/go116.elf", &g, err, sizeof(err)), 0);
	check_synthetic(&g, false);
	assert_int_equal(g.minor, 16);
	assert_false(zt_gobin_probeable(&g, &why));
	assert_non_null(strstr(why, "before 1.17"));
}

static void test_find_rets(void **state)
{
	/* mov %rax,%rbx; ret; nop; ret; int3 padding */
	static const uint8_t code[] = {0x48, 0x89, 0xc3, 0xc3, 0x90, 0xc3, 0xcc, 0xcc, 0xcc};
	/* a 0x06 (invalid in 64-bit mode) in the middle: a return could hide after it */
	static const uint8_t bad[] = {0x48, 0x89, 0xc3, 0x06, 0xc3};
	/* C3 inside an instruction's immediate is not a return */
	static const uint8_t imm[] = {0xb8, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3};
	/* arm64: mov x1, x0; ret */
	static const uint8_t a64[] = {0xe1, 0x03, 0x00, 0xaa, 0xc0, 0x03, 0x5f, 0xd6};
	uint64_t out[4];

	(void)state;
	assert_int_equal(zt_gobin_find_rets(ZT_GOBIN_ARCH_X86_64, code, sizeof(code), 1000, out, 4), 2);
	assert_int_equal(out[0], 1003);
	assert_int_equal(out[1], 1005);
	assert_int_equal(zt_gobin_find_rets(ZT_GOBIN_ARCH_X86_64, bad, sizeof(bad), 0, out, 4), -1);
	assert_int_equal(zt_gobin_find_rets(ZT_GOBIN_ARCH_X86_64, imm, sizeof(imm), 0, out, 4), 1);
	assert_int_equal(out[0], 5);
	/* more returns than kept: refused, not cut */
	assert_int_equal(zt_gobin_find_rets(ZT_GOBIN_ARCH_X86_64, code, sizeof(code), 0, out, 1), -1);
	assert_int_equal(zt_gobin_find_rets(ZT_GOBIN_ARCH_ARM64, a64, sizeof(a64), 0, out, 4), 1);
	assert_int_equal(out[0], 4);
}

static void test_version_gate(void **state)
{
	struct zt_gobin g = {.is_go = true, .arch = ZT_GOBIN_ARCH_X86_64, .major = 1, .minor = 16};
	const char *why;

	(void)state;
	g.fn[0].found = g.fn[1].found = g.fn[0].rets_ok = g.fn[1].rets_ok = true;
	assert_false(zt_gobin_probeable(&g, &why));
	assert_non_null(strstr(why, "1.17"));
	g.minor = 17;
	assert_true(zt_gobin_probeable(&g, &why));
	g.arch = ZT_GOBIN_ARCH_ARM64; /* arm64 got the register ABI in 1.18 */
	assert_false(zt_gobin_probeable(&g, &why));
	g.minor = 18;
	assert_true(zt_gobin_probeable(&g, &why));
	g.arch = ZT_GOBIN_ARCH_X86_64;
	g.fn[1].rets_ok = false;
	assert_false(zt_gobin_probeable(&g, &why));
}

/* the tls.Conn offsets the Read seq depends on, against reflect */
static void test_conn_offsets(void **state)
{
	char path[128], ver[64];
	unsigned in = 0, raw = 0;
	uint32_t t_in, t_raw;
	int maj = 0, min = 0;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/offsets.txt", dir);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%63s %u %u", ver, &in, &raw), 3);
	fclose(f);
	assert_int_equal(sscanf(ver, "go%d.%d", &maj, &min), 2);
	zt_gotls_offsets(maj, min, &t_in, &t_raw);
	if (t_in == 0) {
		fprintf(stderr, "test_gobin: no tls.Conn offsets for %s in src/agent/gotls.c (measured in=%u "
				"rawInput=%u): Go TLS reads would carry no TCP seq\n",
			ver, in, raw);
		fail();
	}
	assert_int_equal(t_in, in);
	assert_int_equal(t_raw, raw);
	/* unknown versions are unknown, not guessed */
	zt_gotls_offsets(1, 99, &t_in, &t_raw);
	assert_int_equal(t_in, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_go_binary),   cmocka_unit_test(test_stripped),
	    cmocka_unit_test(test_linker_stripped), cmocka_unit_test(test_not_go),
	    cmocka_unit_test(test_truncated_and_corrupt), cmocka_unit_test(test_find_rets),
	    cmocka_unit_test(test_version_gate), cmocka_unit_test(test_conn_offsets),
	    cmocka_unit_test(test_synthetic_layouts),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
