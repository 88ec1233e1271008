/* SPDX-License-Identifier: MIT */
/*
 * parser_harness.h - checks every parser test needs, generic over the parser.
 *
 * Captured bytes are hostile and cut anywhere, so each parser must
 *   - never read past the bytes it was given,
 *   - answer "incomplete" for every proper prefix of a valid input,
 *   - emit the same messages however the stream is cut into segments.
 * This header provides one helper for each, for any parse function and any
 * struct zt_proto_ops:
 *
 *   ph_at_guard()        copies an input so that its last byte sits just
 *                        before a PROT_NONE page: reading one byte too far
 *                        faults, in plain builds as well as under ASan;
 *   ph_each_prefix()     runs a parse function on every prefix (each at the
 *   ph_check_prefixes()  guard page) and judges the answers;
 *   ph_run()             feeds a script of chunks through ops->feed(),
 *                        whole, with one chunk split in two, or byte by
 *                        byte, every segment at the guard page;
 *   ph_check_splits()    all of those cuts give what the whole run gives.
 *
 * Header-only and static so each test binary gets its own copy; functions a
 * test does not use are marked unused rather than made inline. cmocka must be
 * usable (this header includes it). Messages are compared with a caller
 * function or, by default, memcmp of the whole struct zt_msg, so the harness
 * never names a protocol's message fields. The collector copies with
 * zt_msg_copy() into a zeroed slot and clears what follows each string's
 * NUL (zt_msg_canon: zt_msg_reset leaves those bytes), so memcmp is
 * meaningful.
 *
 * A read past the end shows as "Test failed with exception: Segmentation
 * fault" (cmocka's handler); to see where, run the test under gdb or, in the
 * ASan build, with ASAN_OPTIONS=allow_user_segv_handler=0.
 *
 * Timing scheme of ph_run, for tests that check timestamps: chunk i is one
 * syscall entered at ph_enter_ns(i), left at ph_exit_ns(i), on thread
 * ph_tid(dir); the TCP seq of its first byte is ph_seq(chunks, i). All
 * segments cut from one chunk carry that chunk's times, so cutting a chunk
 * must not change any field of any message.
 */
#ifndef ZT_PARSER_HARNESS_H
#define ZT_PARSER_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "proto/proto.h"

#define PH_FN __attribute__((unused)) static

/* ---- guard page ------------------------------------------------------ */

/* One mapping per test binary, grown on demand: [base, guard) readable and
 * writable, [guard, guard + page) PROT_NONE. Mapping per call would cost a
 * syscall pair per prefix of every input. */
static struct {
	uint8_t *base;
	size_t cap; /* bytes before the guard page */
	size_t page;
} ph_arena;

/* Returns a writable copy of data[0..n) whose last byte is the last byte
 * before the guard page (n == 0: the guard page itself). Valid until the
 * next call; the bytes before it are left as the previous call wrote them. */
PH_FN uint8_t *ph_at_guard(const void *data, size_t n)
{
	if (!ph_arena.page)
		ph_arena.page = (size_t)sysconf(_SC_PAGESIZE);
	if (n > ph_arena.cap || !ph_arena.base) {
		size_t pg = ph_arena.page, cap = (n + pg - 1) / pg * pg;

		if (cap < 4 * pg)
			cap = 4 * pg;
		if (ph_arena.base)
			munmap(ph_arena.base, ph_arena.cap + pg);
		void *m = mmap(NULL, cap + pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		assert_true(m != MAP_FAILED);
		ph_arena.base = m;
		ph_arena.cap = cap;
		assert_int_equal(mprotect(ph_arena.base + cap, pg, PROT_NONE), 0);
	}
	uint8_t *p = ph_arena.base + ph_arena.cap - n;
	if (n)
		memcpy(p, data, n);
	return p;
}

/* ---- prefixes -------------------------------------------------------- */

/* A parse function over a byte range, and what it answers when it needs
 * more bytes. ctx is the parser's output (e.g. a head struct). */
struct ph_parser {
	const char *name; /* for failure messages */
	int (*parse)(void *ctx, const uint8_t *buf, size_t len);
	void *ctx;
	int incomplete;
};

/* Runs the parser once on in[0..n) placed at the guard page. */
PH_FN int ph_parse_at_guard(const struct ph_parser *p, const void *in, size_t n)
{
	return p->parse(p->ctx, ph_at_guard(in, n), n);
}

/* Calls the parser on every prefix in[0..k), k = 0..n, each at the guard
 * page, and check(cctx, k, answer) on each answer; check asserts. */
PH_FN void ph_each_prefix(const struct ph_parser *p, const void *in, size_t n,
			  void (*check)(void *cctx, size_t k, int r), void *cctx)
{
	for (size_t k = 0; k <= n; k++) {
		int r = ph_parse_at_guard(p, in, k);
		if (check)
			check(cctx, k, r);
	}
}

/* Every prefix shorter than `complete` answers p->incomplete; every prefix
 * at least that long (up to n) answers `want`. */
PH_FN void ph_check_prefixes(const struct ph_parser *p, const void *in, size_t n, size_t complete, int want)
{
	for (size_t k = 0; k <= n; k++) {
		int r = ph_parse_at_guard(p, in, k);
		int w = k < complete ? p->incomplete : want;
		if (r != w)
			fail_msg("%s: prefix of %zu/%zu bytes answered %d, want %d", p->name, k, n, r, w);
	}
}

/* ---- streams --------------------------------------------------------- */

/* One syscall of a scripted connection. */
struct ph_chunk {
	uint8_t dir;	  /* enum zt_dir */
	const void *data; /* captured bytes; NULL: none */
	size_t len;	  /* captured bytes at data */
	uint64_t gap;	  /* bytes moved but not captured, after data */
	bool eof;	  /* an EOF segment; data, len, gap unused */
};

#define PH_MAX_MSGS 64

struct ph_msgs {
	size_t n;
	struct zt_msg m[PH_MAX_MSGS];
};

enum ph_cut {
	PH_WHOLE = 0, /* one segment per chunk */
	PH_SPLIT,     /* chunk `chunk` as two segments, data[0..at) and the rest */
	PH_BYTES,     /* one segment per captured byte, then one for the gap */
};

struct ph_feed {
	enum ph_cut cut;
	size_t chunk, at; /* PH_SPLIT */
	bool finish;	  /* call ops->finish() at the end */
};

PH_FN uint64_t ph_enter_ns(size_t i)
{
	return 1000000 * (uint64_t)(i + 1);
}

PH_FN uint64_t ph_exit_ns(size_t i)
{
	return ph_enter_ns(i) + 500;
}

PH_FN uint32_t ph_tid(uint8_t dir)
{
	return 100u + dir;
}

/* TCP seq of the first byte of chunk i; the two directions start apart. */
PH_FN uint32_t ph_seq(const struct ph_chunk *c, size_t i)
{
	uint32_t seq[2] = {1000, 900000};

	for (size_t k = 0; k < i; k++)
		if (!c[k].eof)
			seq[c[k].dir & 1] += (uint32_t)(c[k].len + c[k].gap);
	return seq[c[i].dir & 1];
}

PH_FN void ph_collect(void *ctx, const struct zt_msg *m)
{
	struct ph_msgs *out = ctx;

	if (out->n >= PH_MAX_MSGS)
		fail_msg("more than %d messages emitted", PH_MAX_MSGS);
	/* as the session copies it: unused attribute slots are not part of
	 * the message (zt_msg_reset leaves them), so they are zero here */
	memset(&out->m[out->n], 0, sizeof(*m));
	zt_msg_copy(&out->m[out->n], m);
	zt_msg_canon(&out->m[out->n++]);
}

/* The state of the run in progress: freed by the next run if an assertion
 * jumped out of the last one, so a failing test does not add a leak. */
static void *ph_state;

PH_FN void ph_feed_seg(const struct zt_proto_ops *ops, struct zt_seg *seg, const uint8_t *data, size_t caplen,
		       uint64_t len, struct ph_msgs *out)
{
	/* zero captured bytes still get a pointer, to the guard page: a
	 * parser must not read data[0] when caplen is 0 */
	seg->data = ph_at_guard(data, caplen);
	seg->caplen = (uint32_t)caplen;
	seg->len = len;
	ops->feed(ph_state, seg, ph_collect, out);
}

/* Feeds the chunks through a fresh parser state, cut as `how` says, and
 * collects the messages in out. */
PH_FN void ph_run(const struct zt_proto_ops *ops, const struct ph_chunk *c, size_t nc,
		  const struct ph_feed *how, struct ph_msgs *out)
{
	free(ph_state);
	ph_state = calloc(1, ops->state_size ? ops->state_size : 1); /* zeroed, as the session does */
	assert_non_null(ph_state);
	out->n = 0;
	ops->init(ph_state);
	for (size_t i = 0; i < nc; i++) {
		const uint8_t *d = c[i].data;
		size_t dl = d ? c[i].len : 0;
		struct zt_seg seg = {
		    .enter_ns = ph_enter_ns(i),
		    .exit_ns = ph_exit_ns(i),
		    .tid = ph_tid(c[i].dir),
		    .has_seq = true,
		    .seq = ph_seq(c, i),
		    .dir = c[i].dir,
		    .trace_ctx = 7000 + i,
		};
		uint32_t seq0 = seg.seq;

		if (c[i].eof) {
			seg.eof = true;
			ph_feed_seg(ops, &seg, NULL, 0, 0, out);
		} else if (how->cut == PH_BYTES) {
			for (size_t j = 0; j < dl; j++) {
				seg.seq = seq0 + (uint32_t)j;
				ph_feed_seg(ops, &seg, d + j, 1, 1, out);
			}
			if (c[i].gap || dl == 0) {
				seg.seq = seq0 + (uint32_t)dl;
				ph_feed_seg(ops, &seg, NULL, 0, c[i].gap, out);
			}
		} else if (how->cut == PH_SPLIT && how->chunk == i && how->at > 0 && how->at < dl) {
			ph_feed_seg(ops, &seg, d, how->at, how->at, out);
			seg.seq = seq0 + (uint32_t)how->at;
			ph_feed_seg(ops, &seg, d + how->at, dl - how->at, dl - how->at + c[i].gap, out);
		} else {
			ph_feed_seg(ops, &seg, d, dl, dl + c[i].gap, out);
		}
	}
	if (how->finish)
		ops->finish(ph_state, ph_exit_ns(nc), ph_collect, out);
	free(ph_state);
	ph_state = NULL;
}

/* Names the protocol-neutral field at byte `off` of struct zt_msg, for
 * failure messages; protocol fields are left to the caller's cmp. */
PH_FN const char *ph_msg_field(size_t off)
{
#define PH_F(f) #f, offsetof(struct zt_msg, f), sizeof(((struct zt_msg *)0)->f)
	static const struct {
		const char *name;
		size_t off, n;
	} f[] = {
	    {PH_F(kind)},	    {PH_F(dir)},	  {PH_F(pair)},	    {PH_F(status)},
	    {PH_F(flags)},	    {PH_F(key)},	  {PH_F(start_ns)}, {PH_F(end_ns)},
	    {PH_F(tid_start)},	    {PH_F(tid_end)},	  {PH_F(seq)},	    {PH_F(has_seq)},
	    {PH_F(bytes)},	    {PH_F(trace_ctx)},	  {PH_F(trace_id)}, {PH_F(span_id)},
	    {PH_F(parent_span_id)}, {PH_F(x_request_id)}, {PH_F(attrs)},
	};
#undef PH_F
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (off >= f[i].off && off < f[i].off + f[i].n)
			return f[i].name;
	return "a protocol field or padding";
}

/* Asserts that want and got are the same message; `what` says which run. */
typedef void (*ph_msg_cmp_fn)(const struct zt_msg *want, const struct zt_msg *got, const char *what);

PH_FN void ph_assert_same_msgs(const struct ph_msgs *want, const struct ph_msgs *got, ph_msg_cmp_fn cmp,
			       const char *what)
{
	if (got->n != want->n)
		fail_msg("%s: %zu messages, want %zu", what, got->n, want->n);
	for (size_t i = 0; i < want->n; i++) {
		if (cmp) {
			cmp(&want->m[i], &got->m[i], what);
			continue;
		}
		const uint8_t *a = (const void *)&want->m[i], *b = (const void *)&got->m[i];
		for (size_t k = 0; k < sizeof(struct zt_msg); k++)
			if (a[k] != b[k])
				fail_msg("%s: message %zu differs at byte %zu of struct zt_msg (%s)", what, i,
					 k, ph_msg_field(k));
	}
}

/* Runs the chunks whole (into ref), then with each chunk split in two at
 * every position, then byte by byte; every run must emit what the whole run
 * emitted (cmp NULL: byte-identical). Split runs cost O(bytes^2): keep
 * scripts to a few KiB. */
PH_FN void ph_check_splits(const struct zt_proto_ops *ops, const struct ph_chunk *c, size_t nc, bool finish,
			   ph_msg_cmp_fn cmp, struct ph_msgs *ref)
{
	static struct ph_msgs got;
	char what[64];

	ph_run(ops, c, nc, &(struct ph_feed){.cut = PH_WHOLE, .finish = finish}, ref);
	for (size_t i = 0; i < nc; i++) {
		size_t dl = c[i].data && !c[i].eof ? c[i].len : 0;
		for (size_t at = 1; at < dl; at++) {
			ph_run(ops, c, nc,
			       &(struct ph_feed){.cut = PH_SPLIT, .chunk = i, .at = at, .finish = finish},
			       &got);
			snprintf(what, sizeof(what), "chunk %zu split at %zu", i, at);
			ph_assert_same_msgs(ref, &got, cmp, what);
		}
	}
	ph_run(ops, c, nc, &(struct ph_feed){.cut = PH_BYTES, .finish = finish}, &got);
	ph_assert_same_msgs(ref, &got, cmp, "byte by byte");
}

#endif /* ZT_PARSER_HARNESS_H */
