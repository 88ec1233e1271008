/* SPDX-License-Identifier: MIT */
/*
 * fuzz_redact.c - libFuzzer target for the redaction of split streams
 * (proto/redact.h).
 *
 * Input: byte 0 seeds the split points, bytes 1.. are one direction of one
 * socket's stream (at most 4 KiB, so no line outgrows the redactor's tail).
 * The stream is cut into syscall-sized pieces (1..64 bytes, from the seed)
 * and redacted piece by piece as `ztrace record` does; every byte the
 * redaction of the whole stream in one piece masks must be masked there too
 * (no secret survives because of where the syscalls split it), and nothing
 * but masks is written. (Each piece is also redacted alone, which may mask
 * a little more than the whole stream: a piece starting "Cookie: " in the
 * middle of "X-Cookie: " is taken for a header line.) HTTP/1's redactor alone
 * is installed: its lines make the property exact (the other protocols'
 * redactors have their own targets). Also runs the bodies mode for memory
 * errors, and checks it only ever overwrites with '*'.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http1.h"
#include "proto/proto.h"
#include "proto/redact.h"

static const struct zt_proto_ops *const http_only[] = {&zt_http1_ops, NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct zt_redactor *r, *rb;
	static uint64_t sk;
	uint8_t *whole, *pieces, *bodies;
	uint32_t seed;
	size_t n;

	if (size < 1 || size > 4097)
		return 0;
	if (!r) {
		zt_proto_set_table(http_only);
		r = zt_redactor_new(16);
		rb = zt_redactor_new(16);
		zt_redactor_set_bodies(rb, 1);
	}
	seed = data[0] * 2654435761u + 1;
	n = size - 1;
	whole = malloc(n + 1);
	pieces = malloc(n + 1);
	bodies = malloc(n + 1);
	memcpy(whole, data + 1, n);
	memcpy(pieces, data + 1, n);
	memcpy(bodies, data + 1, n);
	zt_proto_redact_payload(whole, n);
	sk++; /* a fresh stream per input */
	for (size_t off = 0; off < n;) {
		size_t len;
		seed = seed * 1103515245u + 12345u;
		len = 1 + (seed >> 16) % 64;
		if (len > n - off)
			len = n - off;
		/* each piece a heap copy of exactly its bytes: ASan sees over-reads */
		uint8_t *p = malloc(len), *q = malloc(len);
		memcpy(p, pieces + off, len);
		memcpy(q, bodies + off, len);
		zt_redact_stream(r, sk, 1, 0, p, len, len);
		zt_redact_stream(rb, sk, 1, 0, q, len, len);
		memcpy(pieces + off, p, len);
		memcpy(bodies + off, q, len);
		free(p);
		free(q);
		off += len;
	}
	for (size_t i = 0; i < n; i++) {
		if (whole[i] != data[1 + i] && pieces[i] != whole[i])
			abort(); /* a secret the split let through */
		if (pieces[i] != data[1 + i] && pieces[i] != '*')
			abort();
	}
	for (size_t i = 0; i < n; i++)
		if (bodies[i] != data[1 + i] && bodies[i] != '*')
			abort();
	zt_redactor_close(r, sk);
	zt_redactor_close(rb, sk);
	free(whole);
	free(pieces);
	free(bodies);
	return 0;
}
