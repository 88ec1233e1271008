/* SPDX-License-Identifier: MIT */
/*
 * fuzz_gobin.c - libFuzzer target for the Go executable inspector
 * (src/agent/gobin.c): ELF headers, .go.buildinfo, .symtab, .gopclntab and
 * the disassembly of the functions found, on any bytes. The input is a
 * heap copy of exactly its size so ASan sees over-reads. Invariants: every
 * offset reported lies inside the image, returns lie inside their
 * function, and the version string is terminated.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/gobin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *img = malloc(size ? size : 1);
	struct zt_gobin g;
	char err[256];
	const char *why;

	if (!img)
		return 0;
	memcpy(img, data, size);
	if (zt_gobin_inspect_mem(img, size, &g, err, sizeof(err)) == 0) {
		if (memchr(g.version, 0, sizeof(g.version)) == NULL)
			abort();
		for (int i = 0; i < ZT_GOFN__COUNT; i++) {
			const struct zt_gobin_func *f = &g.fn[i];
			if (!f->found)
				continue;
			if (f->entry_off >= size || f->nret > ZT_GOBIN_MAX_RETS)
				abort();
			for (uint32_t k = 0; k < f->nret; k++)
				if (f->ret_off[k] < f->entry_off || f->ret_off[k] - f->entry_off >= f->size ||
				    f->ret_off[k] >= size)
					abort();
		}
		(void)zt_gobin_probeable(&g, &why);
	} else if (!err[0]) {
		abort(); /* a failure says why */
	}
	free(img);
	return 0;
}
