/* SPDX-License-Identifier: MIT */
/*
 * uprobe_elf.c - what the uprobe manager reads from files: /proc/PID/maps
 * lines and the offsets of functions in ELF files (libelf).
 */
#include "agent/uprobe.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "start-end perms offset major:minor inode   path" */
int zt_maps_parse_line(char *line, struct zt_maps_entry *e)
{
	char *p = line, *end;
	unsigned long long v;

	memset(e, 0, sizeof(*e));
	e->path = "";
	errno = 0;
	v = strtoull(p, &end, 16);
	if (end == p || *end != '-' || errno)
		return -EINVAL;
	e->start = v;
	p = end + 1;
	v = strtoull(p, &end, 16);
	if (end == p || *end != ' ' || errno)
		return -EINVAL;
	e->end = v;
	p = end + 1;
	for (int i = 0; i < 4; i++, p++) {
		if (!*p || *p == ' ')
			return -EINVAL;
		e->perms[i] = *p;
	}
	if (*p != ' ')
		return -EINVAL;
	p++;
	v = strtoull(p, &end, 16);
	if (end == p || *end != ' ' || errno)
		return -EINVAL;
	e->offset = v;
	p = end + 1;
	v = strtoull(p, &end, 16);
	if (end == p || *end != ':' || errno || v > 0xfffff)
		return -EINVAL;
	e->dev_major = (uint32_t)v;
	p = end + 1;
	v = strtoull(p, &end, 16);
	if (end == p || *end != ' ' || errno || v > 0xfffff)
		return -EINVAL;
	e->dev_minor = (uint32_t)v;
	p = end + 1;
	v = strtoull(p, &end, 10);
	if (end == p || (*end != ' ' && *end != '\0' && *end != '\n') || errno)
		return -EINVAL;
	e->ino = v;
	p = end;
	while (*p == ' ')
		p++;
	end = p + strcspn(p, "\n");
	*end = '\0';
	e->path = p;
	return 0;
}

/* vaddr -> file offset through the PT_LOAD segment holding it; 0 if none */
static uint64_t vaddr_to_off(Elf *elf, uint64_t vaddr)
{
	size_t n = 0;

	if (elf_getphdrnum(elf, &n))
		return 0;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_memsz)
			return vaddr - ph.p_vaddr + ph.p_offset;
	}
	return 0;
}

/* Looks names up in one symbol table section; returns how many new. */
static size_t scan_symtab(Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh, const char *const *names, size_t n,
			  uint64_t *offs)
{
	Elf_Data *d = elf_getdata(scn, NULL);
	size_t found = 0, count;

	if (!d || !sh->sh_entsize)
		return 0;
	count = sh->sh_size / sh->sh_entsize;
	for (size_t i = 0; i < count; i++) {
		GElf_Sym sym;
		const char *nm;
		if (!gelf_getsym(d, (int)i, &sym))
			break;
		if (GELF_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_shndx == SHN_UNDEF || !sym.st_value)
			continue;
		nm = elf_strptr(elf, sh->sh_link, sym.st_name);
		if (!nm)
			continue;
		for (size_t k = 0; k < n; k++) {
			if (offs[k] || strcmp(nm, names[k]) != 0)
				continue;
			offs[k] = vaddr_to_off(elf, sym.st_value);
			found += offs[k] != 0;
		}
	}
	return found;
}

int zt_elf_func_offsets(const char *path, const char *const *names, size_t n, uint64_t *offs, bool dynsym_only,
			char *err, size_t errsz)
{
	Elf *elf;
	Elf_Scn *scn = NULL;
	size_t found = 0;
	int fd, pass;

	for (size_t k = 0; k < n; k++)
		offs[k] = 0;
	if (elf_version(EV_CURRENT) == EV_NONE) {
		snprintf(err, errsz, "libelf: %s", elf_errmsg(-1));
		return -EINVAL;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errsz, "cannot open %s: %s", path, strerror(e));
		return -e;
	}
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		snprintf(err, errsz, "%s is not an ELF file%s%s", path, elf ? "" : ": ", elf ? "" : elf_errmsg(-1));
		if (elf)
			elf_end(elf);
		close(fd);
		return -ENOEXEC;
	}
	/* .dynsym first (exported: what a library or node offers), then
	 * .symtab for what remains */
	for (pass = 0; pass < (dynsym_only ? 1 : 2) && found < n; pass++) {
		scn = NULL;
		while ((scn = elf_nextscn(elf, scn)) != NULL) {
			GElf_Shdr sh;
			if (!gelf_getshdr(scn, &sh))
				continue;
			if (sh.sh_type == (pass == 0 ? SHT_DYNSYM : SHT_SYMTAB))
				found += scan_symtab(elf, scn, &sh, names, n, offs);
		}
	}
	elf_end(elf);
	close(fd);
	return (int)found;
}
