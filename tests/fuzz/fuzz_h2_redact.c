/* SPDX-License-Identifier: MIT */
/*
 * fuzz_h2_redact.c - libFuzzer target for HTTP/2's redaction of raw bytes
 * (proto/h2_redact.h).
 *
 * Input: byte 0 seeds the split points, bytes 1.. are one direction of an
 * HTTP/2 connection after the client preface (the target puts the preface
 * in front, so the direction is followed from its start). The stream is
 * redacted whole, then again cut into syscall-sized pieces (1..64 bytes);
 * when neither pass lost the framing, both must give the same bytes (the
 * redactor works byte by byte: where a syscall splits a field must not
 * matter). In every pass only masks are written ('*' or 0xf9, the Huffman
 * code of '*'). The raw input is also given to the stateless entry
 * (zt_h2_redact) and to the stream redactor with a gap, for memory errors.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/h2_redact.h"
#include "proto/redact.h"

#define PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

static void only_masks(const uint8_t *before, const uint8_t *after, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (after[i] != before[i] && after[i] != '*' && after[i] != 0xf9)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct h2r *a, *b;
	static struct zt_redactor *red;
	static uint64_t sk;
	uint64_t det_a, lost_a, det_b, lost_b;
	uint8_t *orig, *whole, *pieces;
	uint32_t seed;
	size_t n;

	if (size < 1 || size > 8193)
		return 0;
	if (!a) {
		a = h2r_new();
		b = h2r_new();
		red = zt_redactor_new(16);
	}
	seed = data[0] * 2654435761u + 1;
	n = 24 + size - 1;
	orig = malloc(n);
	whole = malloc(n);
	pieces = malloc(n);
	memcpy(orig, PREFACE, 24);
	memcpy(orig + 24, data + 1, size - 1);
	memcpy(whole, orig, n);
	memcpy(pieces, orig, n);

	h2r_reset(a);
	h2r_feed(a, whole, n, false);
	h2r_reset(b);
	for (size_t off = 0; off < n;) {
		size_t len;
		seed = seed * 1103515245u + 12345u;
		len = 1 + (seed >> 16) % 64;
		if (len > n - off)
			len = n - off;
		uint8_t *p = malloc(len); /* exactly its bytes: ASan sees over-reads */
		memcpy(p, pieces + off, len);
		h2r_feed(b, p, len, false);
		memcpy(pieces + off, p, len);
		free(p);
		off += len;
	}
	only_masks(orig, whole, n);
	only_masks(orig, pieces, n);
	h2r_counts(a, &det_a, &lost_a);
	h2r_counts(b, &det_b, &lost_b);
	if (lost_a == 0 && lost_b == 0 && memcmp(whole, pieces, n) != 0)
		abort(); /* the split changed what was masked */

	/* the raw bytes alone (no preface), stateless and with a gap */
	memcpy(whole, data + 1, size - 1);
	zt_h2_redact(whole, size - 1);
	only_masks(data + 1, whole, size - 1);
	memcpy(whole, data + 1, size - 1);
	sk++;
	zt_redact_stream(red, sk, 1, 0, whole, (size - 1) / 2, size); /* a gap after */
	zt_redact_stream(red, sk, 1, 0, whole + (size - 1) / 2, size - 1 - (size - 1) / 2, size);
	zt_redactor_close(red, sk);
	free(orig);
	free(whole);
	free(pieces);
	return 0;
}
