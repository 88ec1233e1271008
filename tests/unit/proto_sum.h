/* SPDX-License-Identifier: MIT */
/*
 * proto_sum.h - one-line summaries of parsed messages, for table-driven
 * parser tests (test_redis.c, test_memcached.c): a script of chunks goes
 * through parser_harness.h and the messages it emits must read as the
 * table's lines, in order; then every cut of the script into segments must
 * emit byte-identical messages (ph_check_splits).
 *
 *   request:  Q<pair> <type>|<resource> b=<bytes> [v=<version>] [d=<domain>] [T] [L]
 *   response: R<pair> <status> b=<bytes> [code=<code>] [exc=<text>] [T] [L]
 * pair is F (FIFO), K<key> (KEY) or O (one-way); T = ZT_MF_TRUNCATED,
 * L = ZT_MF_LOST_SYNC.
 */
#ifndef ZT_PROTO_SUM_H
#define ZT_PROTO_SUM_H

#include "parser_harness.h"

PH_FN void ps_sum(const struct zt_msg *m, char *out, size_t n)
{
	static const char *const st[] = {"unknown", "ok", "client_error", "server_error", "timeout"};
	char pair[32];
	int k;

	if (m->pair == ZT_PAIR_KEY)
		snprintf(pair, sizeof(pair), "K%llu", (unsigned long long)m->key);
	else
		snprintf(pair, sizeof(pair), "%s", m->pair == ZT_PAIR_ONEWAY ? "O" : "F");
	if (m->kind == ZT_MSG_REQUEST)
		k = snprintf(out, n, "Q%s %s|%s b=%llu", pair, m->request_type, m->request_resource,
			     (unsigned long long)m->bytes);
	else
		k = snprintf(out, n, "R%s %s b=%llu", pair, m->status < 5 ? st[m->status] : "?",
			     (unsigned long long)m->bytes);
	if (k < 0 || (size_t)k >= n)
		return;
	if (m->version[0])
		k += snprintf(out + k, n - (size_t)k, " v=%s", m->version);
	if (m->request_domain[0])
		k += snprintf(out + k, n - (size_t)k, " d=%s", m->request_domain);
	if (m->flags & ZT_MF_HAS_CODE)
		k += snprintf(out + k, n - (size_t)k, " code=%d", m->response_code);
	if (m->response_exception[0])
		k += snprintf(out + k, n - (size_t)k, " exc=%s", m->response_exception);
	if (m->flags & ZT_MF_TRUNCATED)
		k += snprintf(out + k, n - (size_t)k, " T");
	if (m->flags & ZT_MF_LOST_SYNC)
		snprintf(out + k, n - (size_t)k, " L");
}

/* Runs the chunks whole and compares the summaries with want[0..nw); then
 * (splits) every cut must emit the same messages. */
PH_FN void ps_check(const struct zt_proto_ops *ops, const struct ph_chunk *c, size_t nc,
		    const char *const *want, size_t nw, bool splits)
{
	static struct ph_msgs ref, got;
	char line[1024];

	ph_run(ops, c, nc, &(struct ph_feed){.cut = PH_WHOLE, .finish = true}, &ref);
	for (size_t i = 0; i < ref.n || i < nw; i++) {
		if (i < ref.n)
			ps_sum(&ref.m[i], line, sizeof(line));
		if (i >= ref.n)
			fail_msg("message %zu missing, want \"%s\"", i, want[i]);
		if (i >= nw)
			fail_msg("extra message %zu: \"%s\"", i, line);
		if (strcmp(line, want[i]) != 0)
			fail_msg("message %zu is \"%s\", want \"%s\"", i, line, want[i]);
	}
	if (splits)
		ph_check_splits(ops, c, nc, true, NULL, &got);
}

#define PS_L(s) (sizeof(s) - 1)
#define PS_OUT(s)                                                                                            \
	{                                                                                                    \
		.dir = ZT_DIR_EGRESS, .data = (s), .len = PS_L(s)                                            \
	}
#define PS_IN(s)                                                                                             \
	{                                                                                                    \
		.dir = ZT_DIR_INGRESS, .data = (s), .len = PS_L(s)                                           \
	}
#define PS_OUT_GAP(s, g)                                                                                     \
	{                                                                                                    \
		.dir = ZT_DIR_EGRESS, .data = (s), .len = PS_L(s), .gap = (g)                                \
	}
#define PS_IN_GAP(s, g)                                                                                      \
	{                                                                                                    \
		.dir = ZT_DIR_INGRESS, .data = (s), .len = PS_L(s), .gap = (g)                               \
	}
#define PS_N(a) (sizeof(a) / sizeof((a)[0]))
#define PS_CHECK(ops, chunks, want) ps_check((ops), (chunks), PS_N(chunks), (want), PS_N(want), true)

#endif /* ZT_PROTO_SUM_H */
