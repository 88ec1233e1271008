/* SPDX-License-Identifier: MIT */
/*
 * hpack_bench.c - HPACK decode throughput (src/proto/hpack.c), one core.
 *
 * usage: hpack_bench [SECONDS]   (default 0.5 per run, 5 runs per workload)
 *
 * Two workloads, both encoded here with the RFC 7541 code table:
 *   grpc     a gRPC client's request header blocks on one connection: the
 *            first block sends 8 fields (Huffman-coded literals with
 *            incremental indexing, as grpc and nghttp2 encoders do), the
 *            next 99 refer to the dynamic table (one byte per field);
 *            a fresh table per connection of 100 blocks.
 *   literal  blocks of 10 Huffman-coded literal fields without indexing
 *            (30 to 60 characters each): the Huffman decoder's speed.
 * Prints one JSON object per workload: median over the runs of header
 * fields per second and encoded MB per second, and the spread (min, max).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/hpack.h"

struct blk {
	uint8_t b[2048];
	size_t n;
};

static void put8(struct blk *k, uint8_t v)
{
	k->b[k->n++] = v;
}

static void huff_str(struct blk *k, const char *s)
{
	uint8_t tmp[1024];
	uint64_t acc = 0;
	unsigned bits = 0;
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		acc = acc << hpack_huff_code[*p].len | hpack_huff_code[*p].code;
		bits += hpack_huff_code[*p].len;
		while (bits >= 8) {
			tmp[o++] = (uint8_t)(acc >> (bits - 8));
			bits -= 8;
		}
	}
	if (bits)
		tmp[o++] = (uint8_t)(acc << (8 - bits) | ((1u << (8 - bits)) - 1));
	put8(k, (uint8_t)(0x80 | o)); /* all strings here are < 127 bytes encoded */
	memcpy(k->b + k->n, tmp, o);
	k->n += o;
}

static void lit(struct blk *k, uint8_t first, const char *name, const char *value)
{
	put8(k, first);
	huff_str(k, name);
	huff_str(k, value);
}

static unsigned fields;
static void on_field(void *ctx, const char *n, size_t nl, const char *v, size_t vl, unsigned flags)
{
	(void)ctx, (void)n, (void)nl, (void)v, (void)vl, (void)flags;
	fields++;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

#define RUNS 5

/* Decodes blocks[0..nb) on a fresh table, again and again, for `secs`. */
static void run(const char *name, const struct blk *blocks, size_t nb, double secs)
{
	static struct hpack_table t;
	double hps[RUNS], mbs[RUNS];
	size_t bytes = 0;

	for (size_t i = 0; i < nb; i++)
		bytes += blocks[i].n;
	for (int r = 0; r < RUNS; r++) {
		unsigned long passes = 0;
		double t0 = now(), el;
		fields = 0;
		do {
			hpack_table_init(&t, true);
			for (size_t i = 0; i < nb; i++)
				if (hpack_decode_block(&t, blocks[i].b, blocks[i].n, on_field, NULL)) {
					fprintf(stderr, "hpack_bench: %s block %zu does not decode\n", name, i);
					exit(1);
				}
			passes++;
		} while ((el = now() - t0) < secs);
		hps[r] = fields / el;
		mbs[r] = (double)passes * (double)bytes / el / 1e6;
	}
	qsort(hps, RUNS, sizeof(double), cmp);
	qsort(mbs, RUNS, sizeof(double), cmp);
	printf("{\"workload\":\"%s\",\"blocks\":%zu,\"bytes\":%zu,\"fields_per_s\":%.0f,\"fields_per_s_min\":%.0f,"
	       "\"fields_per_s_max\":%.0f,\"mb_per_s\":%.1f,\"runs\":%d}\n",
	       name, nb, bytes, hps[RUNS / 2], hps[0], hps[RUNS - 1], mbs[RUNS / 2], RUNS);
}

int main(int argc, char **argv)
{
	static struct blk grpc[100], literal[64];
	double secs = argc > 1 ? atof(argv[1]) : 0.5;

	/* grpc: first block literals with incremental indexing, then refs */
	struct blk *k = &grpc[0];
	put8(k, 0x83);		      /* :method POST */
	put8(k, 0x86);		      /* :scheme http */
	put8(k, 0x40 | 4);	      /* :path, static name 4 */
	huff_str(k, "/helloworld.Greeter/SayHello");
	put8(k, 0x40 | 1);	      /* :authority */
	huff_str(k, "localhost:50051");
	put8(k, 0x40 | 31);	      /* content-type */
	huff_str(k, "application/grpc");
	lit(k, 0x40, "te", "trailers");
	put8(k, 0x40 | 58);	      /* user-agent */
	huff_str(k, "grpc-python/1.51.1 grpc-c/29.0.0 (linux; chttp2)");
	lit(k, 0x40, "grpc-accept-encoding", "identity, deflate, gzip");
	for (int i = 1; i < 100; i++) {
		/* the 6 entries made: 62..67, newest first */
		const uint8_t refs[] = {0x83, 0x86, 0x80 | 67, 0x80 | 66, 0x80 | 65, 0x80 | 64, 0x80 | 63, 0x80 | 62};
		memcpy(grpc[i].b, refs, sizeof(refs));
		grpc[i].n = sizeof(refs);
	}
	/* literal: Huffman strings of 30..60 characters */
	srand(11);
	for (int i = 0; i < 64; i++) {
		for (int f = 0; f < 10; f++) {
			char name[24], value[64];
			int vl = 30 + rand() % 31;
			snprintf(name, sizeof(name), "x-field-%d", f);
			for (int c = 0; c < vl; c++)
				value[c] = "abcdefghijklmnopqrstuvwxyz0123456789-_/=.;"[rand() % 42];
			value[vl] = '\0';
			lit(&literal[i], 0x00, name, value);
		}
	}
	run("grpc", grpc, 100, secs);
	run("literal", literal, 64, secs);
	return 0;
}
