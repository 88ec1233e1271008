/* SPDX-License-Identifier: MIT */
/*
 * gobin.c - Go executable inspection for the crypto/tls probes (gobin.h).
 *
 * Formats read (all bounded against the image size):
 *   ELF64 LE        header, program headers (vaddr -> file offset), section
 *                   headers and their names, .symtab/.strtab.
 *   .go.buildinfo   "\xff Go buildinf:" + ptrsize + flags; Go 1.18+ sets
 *                   flags bit 1 and inlines varint-length strings at +32
 *                   (version first); older Go stores pointers to string
 *                   headers at +16. (src/debug/buildinfo in Go.)
 *   .gopclntab      magic 0xfffffffa (1.16-1.17: entries are absolute
 *                   uintptrs) or 0xfffffff0/0xfffffff1 (1.18-1.19, 1.20+:
 *                   32-bit offsets from textStart); functab is nfunc+1
 *                   (entry, funcoff) pairs sorted by entry, _func starts
 *                   with (entry, nameoff) (src/runtime/symtab.go).
 */
#include "agent/gobin.h"

#include <capstone/capstone.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const zt_gobin_fn_names[ZT_GOFN__COUNT] = {
	[ZT_GOFN_CONN_WRITE] = "crypto/tls.(*Conn).Write",
	[ZT_GOFN_CONN_READ] = "crypto/tls.(*Conn).Read",
	[ZT_GOFN_DECRYPT] = "crypto/tls.(*halfConn).decrypt",
};

/* Go 1.19 names it go.itab.*, Go 1.20+ go:itab.* */
static const char *const itab_names[] = {"go.itab.*net.TCPConn,net.Conn", "go:itab.*net.TCPConn,net.Conn"};

struct img {
	const uint8_t *p;
	size_t len;
	const Elf64_Ehdr *eh;
	const Elf64_Phdr *ph; /* eh->e_phnum entries, bounds checked */
	const Elf64_Shdr *sh; /* eh->e_shnum entries, or NULL */
	const char *shstr;    /* section names, shstr_len bytes */
	size_t shstr_len;
};

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;
	if (err && errsz) {
		va_start(ap, fmt);
		vsnprintf(err, errsz, fmt, ap);
		va_end(ap);
	}
	return -ENOEXEC;
}

/* [off, off+n) lies inside the image */
static bool in_img(const struct img *im, uint64_t off, uint64_t n)
{
	return off <= im->len && n <= im->len - off;
}

static uint64_t rd_uptr(const uint8_t *p, int ptrsz)
{
	uint64_t v = 0;
	if (ptrsz == 8)
		memcpy(&v, p, 8);
	else {
		uint32_t w;
		memcpy(&w, p, 4);
		v = w;
	}
	return v;
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* Virtual address -> file offset through the PT_LOAD segments; false when no
 * file-backed segment holds [va, va+n). */
static bool va_to_off(const struct img *im, uint64_t va, uint64_t n, uint64_t *off)
{
	for (int i = 0; i < im->eh->e_phnum; i++) {
		const Elf64_Phdr *ph = &im->ph[i];
		if (ph->p_type != PT_LOAD || va < ph->p_vaddr)
			continue;
		if (va - ph->p_vaddr > ph->p_filesz || n > ph->p_filesz - (va - ph->p_vaddr))
			continue;
		*off = ph->p_offset + (va - ph->p_vaddr);
		return in_img(im, *off, n);
	}
	return false;
}

static const Elf64_Shdr *section(const struct img *im, const char *name)
{
	if (!im->sh || !im->shstr)
		return NULL;
	for (int i = 0; i < im->eh->e_shnum; i++) {
		const Elf64_Shdr *s = &im->sh[i];
		size_t nl = strlen(name);
		if (s->sh_name >= im->shstr_len || im->shstr_len - s->sh_name <= nl)
			continue;
		if (memcmp(im->shstr + s->sh_name, name, nl + 1) == 0)
			return s->sh_type == SHT_NOBITS || in_img(im, s->sh_offset, s->sh_size) ? s : NULL;
	}
	return NULL;
}

static int parse_elf(struct img *im, char *err, size_t errsz)
{
	const Elf64_Ehdr *eh = (const void *)im->p;

	if (im->len < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
		return fail(err, errsz, "not an ELF file");
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB)
		return fail(err, errsz, "only 64-bit little-endian ELF is supported");
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || !in_img(im, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr)))
		return fail(err, errsz, "program headers out of the file");
	if (eh->e_phoff % 8)
		return fail(err, errsz, "misaligned program headers");
	im->eh = eh;
	im->ph = (const void *)(im->p + eh->e_phoff);
	im->sh = NULL;
	im->shstr = NULL;
	if (eh->e_shnum && eh->e_shentsize == sizeof(Elf64_Shdr) && eh->e_shoff % 8 == 0 &&
	    in_img(im, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr))) {
		im->sh = (const void *)(im->p + eh->e_shoff);
		if (eh->e_shstrndx < eh->e_shnum) {
			const Elf64_Shdr *s = &im->sh[eh->e_shstrndx];
			if (s->sh_type == SHT_STRTAB && in_img(im, s->sh_offset, s->sh_size)) {
				im->shstr = (const char *)im->p + s->sh_offset;
				im->shstr_len = s->sh_size;
			}
		}
	}
	return 0;
}

/* Reads a uvarint at p (at most end); returns bytes used, 0 on error. */
static size_t uvarint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (size_t i = 0; i < 10 && p + i < end; i++) {
		*v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80))
			return i + 1;
	}
	return 0;
}

static void set_version(struct zt_gobin *g, const uint8_t *s, uint64_t n)
{
	int maj = 0, min = 0;

	if (n == 0 || n >= sizeof(g->version))
		return;
	memcpy(g->version, s, n);
	g->version[n] = '\0';
	if (sscanf(g->version, "go%d.%d", &maj, &min) == 2 && maj > 0 && min >= 0) {
		g->major = maj;
		g->minor = min;
	}
}

/* A Go string header (data ptr, len) at virtual address va. */
static void version_from_strhdr(const struct img *im, struct zt_gobin *g, uint64_t va, int ptrsz)
{
	uint64_t off, data, n, doff;

	if (!va_to_off(im, va, 2 * (uint64_t)ptrsz, &off))
		return;
	data = rd_uptr(im->p + off, ptrsz);
	n = rd_uptr(im->p + off + ptrsz, ptrsz);
	if (n < sizeof(g->version) && va_to_off(im, data, n, &doff))
		set_version(g, im->p + doff, n);
}

static void read_buildinfo(const struct img *im, struct zt_gobin *g)
{
	static const char magic[] = "\xff Go buildinf:";
	const Elf64_Shdr *s = section(im, ".go.buildinfo");
	const uint8_t *b, *end;
	int ptrsz;

	if (!s || s->sh_type == SHT_NOBITS || s->sh_size < 32)
		return;
	b = im->p + s->sh_offset;
	end = b + s->sh_size;
	if (memcmp(b, magic, 14) != 0)
		return;
	g->is_go = true;
	ptrsz = b[14];
	if (ptrsz != 4 && ptrsz != 8)
		return;
	if (b[15] & 2) { /* 1.18+: inline strings */
		uint64_t n;
		size_t k = uvarint(b + 32, end, &n);
		if (k && n <= (uint64_t)(end - (b + 32 + k)))
			set_version(g, b + 32 + k, n);
	} else if (!(b[15] & 1)) { /* little-endian pointers */
		version_from_strhdr(im, g, rd_uptr(b + 16, ptrsz), ptrsz);
	}
}

/* ---- symbols ---- */

static int fn_by_name(const char *name, size_t n)
{
	for (int i = 0; i < ZT_GOFN__COUNT; i++)
		if (strlen(zt_gobin_fn_names[i]) == n && memcmp(zt_gobin_fn_names[i], name, n) == 0)
			return i;
	return -1;
}

static void found_fn(struct zt_gobin *g, int which, uint64_t addr, uint64_t size)
{
	if (which < 0 || g->fn[which].found)
		return;
	g->fn[which].found = true;
	g->fn[which].addr = addr;
	g->fn[which].size = size;
}

static void read_symtab(const struct img *im, struct zt_gobin *g)
{
	const Elf64_Shdr *st = section(im, ".symtab");
	const Elf64_Shdr *str;
	const Elf64_Sym *sym;
	const char *names;
	size_t nsym;

	if (!st || st->sh_type != SHT_SYMTAB || st->sh_link >= im->eh->e_shnum || st->sh_offset % 8)
		return;
	str = &im->sh[st->sh_link];
	if (str->sh_type != SHT_STRTAB || !in_img(im, str->sh_offset, str->sh_size))
		return;
	g->has_symtab = true;
	sym = (const void *)(im->p + st->sh_offset);
	nsym = st->sh_size / sizeof(Elf64_Sym);
	names = (const char *)im->p + str->sh_offset;
	for (size_t i = 0; i < nsym; i++) {
		const char *nm;
		size_t n;

		if (sym[i].st_name >= str->sh_size)
			continue;
		nm = names + sym[i].st_name;
		n = strnlen(nm, str->sh_size - sym[i].st_name);
		if (n == str->sh_size - sym[i].st_name)
			continue; /* not terminated inside the table */
		if (strncmp(nm, "runtime.buildVersion", n) == 0 && n == 20) {
			if (!g->version[0])
				version_from_strhdr(im, g, sym[i].st_value, 8);
			g->is_go = true;
			continue;
		}
		for (size_t k = 0; k < sizeof(itab_names) / sizeof(itab_names[0]); k++)
			if (n == strlen(itab_names[k]) && memcmp(nm, itab_names[k], n) == 0)
				g->itab_tcpconn = sym[i].st_value;
		if (ELF64_ST_TYPE(sym[i].st_info) == STT_FUNC)
			found_fn(g, fn_by_name(nm, n), sym[i].st_value, sym[i].st_size);
	}
}

/* Stripped binaries: the function table the Go runtime keeps for itself. */
static void read_pclntab(const struct img *im, struct zt_gobin *g)
{
	/* PIE (and other relro builds) name it .data.rel.ro.gopclntab */
	const Elf64_Shdr *s = section(im, ".gopclntab") ?: section(im, ".data.rel.ro.gopclntab");
	const uint8_t *t;
	uint64_t tl, nfunc, text = 0, fnameoff, pcln;
	uint32_t magic;
	int ps, esz; /* pointer size, bytes per functab field */
	bool old;

	if (!s || s->sh_type == SHT_NOBITS || s->sh_size < 8 + 8 * 8)
		return;
	t = im->p + s->sh_offset;
	tl = s->sh_size;
	magic = rd32(t);
	if (magic != 0xfffffffa && magic != 0xfffffff0 && magic != 0xfffffff1)
		return; /* Go before 1.16: the register ABI is not there anyway */
	g->is_go = true;
	ps = t[7];
	if (ps != 8)
		return;
	old = magic == 0xfffffffa;
	nfunc = rd_uptr(t + 8, ps);
	if (old) {
		fnameoff = rd_uptr(t + 8 + 2 * ps, ps);
		pcln = rd_uptr(t + 8 + 6 * ps, ps);
		esz = ps;
	} else {
		text = rd_uptr(t + 8 + 2 * ps, ps);
		/* a PIE's textStart is filled by a dynamic relocation: 0 in
		 * the file; runtime.text is the start of .text */
		if (text == 0) {
			const Elf64_Shdr *tx = section(im, ".text");
			if (!tx)
				return;
			text = tx->sh_addr;
		}
		fnameoff = rd_uptr(t + 8 + 3 * ps, ps);
		pcln = rd_uptr(t + 8 + 7 * ps, ps);
		esz = 4;
	}
	if (pcln > tl || fnameoff > tl || (tl - pcln) / (2 * (uint64_t)esz) == 0 ||
	    nfunc > (tl - pcln) / (2 * (uint64_t)esz) - 1)
		return;
	for (uint64_t i = 0; i < nfunc; i++) {
		const uint8_t *e = t + pcln + i * 2 * esz;
		uint64_t entry = esz == 4 ? rd32(e) : rd_uptr(e, ps);
		uint64_t next = esz == 4 ? rd32(e + 2 * esz) : rd_uptr(e + 2 * esz, ps);
		uint64_t foff = esz == 4 ? rd32(e + esz) : rd_uptr(e + esz, ps);
		uint64_t f = pcln + foff, nameoff;
		const char *nm;
		size_t n;

		if (foff > tl - pcln || tl - f < (uint64_t)esz + 4)
			continue;
		nameoff = rd32(t + f + esz);
		if (nameoff > tl - fnameoff)
			continue;
		nm = (const char *)t + fnameoff + nameoff;
		n = strnlen(nm, tl - fnameoff - nameoff);
		if (n == tl - fnameoff - nameoff || next < entry)
			continue;
		found_fn(g, fn_by_name(nm, n), text + entry, next - entry);
	}
}

/* ---- return instructions ---- */

int zt_gobin_find_rets(enum zt_gobin_arch arch, const uint8_t *code, size_t len, uint64_t off, uint64_t *out,
		       size_t max)
{
	csh h;
	cs_insn *insn;
	const uint8_t *p = code;
	size_t left = len;
	uint64_t addr = off;
	int n = 0, rc = 0;
	unsigned ret_id;

	if (arch == ZT_GOBIN_ARCH_X86_64) {
		if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK)
			return -1;
		ret_id = X86_INS_RET;
	} else if (arch == ZT_GOBIN_ARCH_ARM64) {
		if (cs_open(CS_ARCH_ARM64, CS_MODE_ARM, &h) != CS_ERR_OK)
			return -1;
		ret_id = ARM64_INS_RET;
	} else {
		return -1;
	}
	insn = cs_malloc(h);
	if (!insn) {
		cs_close(&h);
		return -1;
	}
	while (left > 0) {
		if (!cs_disasm_iter(h, &p, &left, &addr, insn)) {
			/* Go pads between functions with INT3 (x86) or zero
			 * words (arm64); a failure inside padding is the end */
			bool pad = true;
			for (size_t i = 0; i < left && pad; i++)
				pad = p[i] == (arch == ZT_GOBIN_ARCH_X86_64 ? 0xcc : 0x00);
			rc = pad ? 0 : -1;
			break;
		}
		if (insn->id == ret_id) {
			if ((size_t)n >= max) {
				rc = -1; /* more than we keep: a missed return is worse than no probe */
				break;
			}
			out[n++] = insn->address;
		}
	}
	cs_free(insn, 1);
	cs_close(&h);
	return rc < 0 ? -1 : n;
}

static void find_rets(const struct img *im, struct zt_gobin *g, struct zt_gobin_func *f)
{
	int n;

	if (!f->found || !va_to_off(im, f->addr, f->size ? f->size : 1, &f->entry_off)) {
		f->found = false;
		return;
	}
	n = zt_gobin_find_rets(g->arch, im->p + f->entry_off, f->size, f->entry_off, f->ret_off, ZT_GOBIN_MAX_RETS);
	f->rets_ok = n > 0;
	f->nret = n > 0 ? (uint32_t)n : 0;
}

int zt_gobin_inspect_mem(const uint8_t *img, size_t len, struct zt_gobin *out, char *err, size_t errsz)
{
	struct img im = {.p = img, .len = len};
	int rc;

	memset(out, 0, sizeof(*out));
	rc = parse_elf(&im, err, errsz);
	if (rc)
		return rc;
	out->pie = im.eh->e_type == ET_DYN;
	out->arch = im.eh->e_machine == EM_X86_64	? ZT_GOBIN_ARCH_X86_64
		    : im.eh->e_machine == EM_AARCH64 ? ZT_GOBIN_ARCH_ARM64
						     : ZT_GOBIN_ARCH_OTHER;
	read_buildinfo(&im, out);
	read_symtab(&im, out);
	if (out->is_go && (!out->fn[ZT_GOFN_CONN_WRITE].found || !out->fn[ZT_GOFN_CONN_READ].found))
		read_pclntab(&im, out);
	else if (!out->is_go && (section(&im, ".gopclntab") || section(&im, ".data.rel.ro.gopclntab")))
		read_pclntab(&im, out);
	if (!out->is_go)
		return 0;
	/* the decrypt probe is an entry probe: no return list needed */
	find_rets(&im, out, &out->fn[ZT_GOFN_CONN_WRITE]);
	find_rets(&im, out, &out->fn[ZT_GOFN_CONN_READ]);
	if (out->fn[ZT_GOFN_DECRYPT].found &&
	    !va_to_off(&im, out->fn[ZT_GOFN_DECRYPT].addr, 1, &out->fn[ZT_GOFN_DECRYPT].entry_off))
		out->fn[ZT_GOFN_DECRYPT].found = false;
	return 0;
}

int zt_gobin_inspect(const char *path, struct zt_gobin *out, char *err, size_t errsz)
{
	struct stat st;
	void *m;
	int fd, rc;

	memset(out, 0, sizeof(*out));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errsz, "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
		close(fd);
		snprintf(err, errsz, "%s: not a regular, non-empty file", path);
		return -ENOEXEC;
	}
	m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED) {
		rc = -errno;
		snprintf(err, errsz, "%s: mmap: %s", path, strerror(-rc));
		return rc;
	}
	rc = zt_gobin_inspect_mem(m, (size_t)st.st_size, out, err, errsz);
	munmap(m, (size_t)st.st_size);
	return rc;
}

bool zt_gobin_probeable(const struct zt_gobin *g, const char **why)
{
	const char *w = NULL;

	if (!g->is_go)
		w = "not a Go binary";
	else if (g->arch == ZT_GOBIN_ARCH_OTHER)
		w = "Go binary for an architecture other than x86-64/arm64";
	else if (g->major == 1 && g->minor < 17)
		w = "Go before 1.17 (stack-based ABI) is not supported";
	else if (g->arch == ZT_GOBIN_ARCH_ARM64 && g->major == 1 && g->minor < 18)
		w = "Go before 1.18 on arm64 (stack-based ABI) is not supported";
	else if (g->major == 0)
		w = "Go version unknown (no .go.buildinfo)";
	else if (!g->fn[ZT_GOFN_CONN_WRITE].found || !g->fn[ZT_GOFN_CONN_READ].found)
		w = "no crypto/tls.(*Conn).Read/Write (does not use crypto/tls)";
	else if (!g->fn[ZT_GOFN_CONN_WRITE].rets_ok || !g->fn[ZT_GOFN_CONN_READ].rets_ok)
		w = "return instructions of (*Conn).Read/Write not found by disassembly";
	if (why)
		*why = w;
	return w == NULL;
}
