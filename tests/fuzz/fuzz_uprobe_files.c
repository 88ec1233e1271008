/* SPDX-License-Identifier: MIT */
/*
 * fuzz_uprobe_files.c - libFuzzer target for what the uprobe manager reads
 * from the files of other processes (agent/uprobe.h): /proc/PID/maps lines
 * and the ELF files processes map (any program on the host, so outside
 * input: an ELF can be crafted).
 *
 * Input: byte 0 even: the rest is maps text, parsed line by line (each line
 * a heap copy of exactly its length, so ASan sees a read past it); checks
 * that the path lies inside the line and start/perms are what the line
 * says. Byte 0 odd: the rest is an ELF file (written to a memfd and read
 * through /proc/self/fd/N, as the manager reads mapped files); checks that
 * the lookup returns a count in 0..n or a negative errno with a message,
 * and that an absent name has offset 0.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent/uprobe.h"

static void maps_text(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t j = i;
		struct zt_maps_entry e;
		char *line;

		while (j < n && p[j] != '\n')
			j++;
		line = malloc(j - i + 1);
		if (!line)
			abort();
		memcpy(line, p + i, j - i);
		line[j - i] = '\0';
		if (zt_maps_parse_line(line, &e) == 0) {
			if (e.path < line || e.path > line + (j - i))
				abort();
			if (strlen(e.perms) != 4)
				abort();
		}
		free(line);
		i = j + 1;
	}
}

static void elf_file(const uint8_t *p, size_t n)
{
	static const char *const names[] = {"SSL_write", "SSL_read", "SSL_write_ex", "SSL_read_ex", "\001absent"};
	uint64_t offs[5];
	char path[64], err[256] = "";
	int fd = memfd_create("fuzz-elf", MFD_CLOEXEC), rc;

	if (fd < 0)
		return;
	if (write(fd, p, n) == (ssize_t)n) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		rc = zt_elf_func_offsets(path, names, 5, offs, (n & 1) != 0, err, sizeof(err));
		if (rc > 5 || (rc < 0 && !err[0]) || offs[4] != 0)
			abort();
	}
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		elf_file(data + 1, size - 1);
	else
		maps_text(data + 1, size - 1);
	return 0;
}
