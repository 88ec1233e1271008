/* SPDX-License-Identifier: MIT */
/* Trace assembly: each link kind, children before parents (the usual
 * order), fan-out, precision guards (ambiguous threads, other processes,
 * calls outside the server span), late links and aliases past the window,
 * explicit ids, the bounds, and determinism. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/span_codec.h"
#include "span_eq.h"
#include "trace/joiner.h"

#define MAXOUT 256
static struct zt_span out[MAXOUT];
static int nout;
static struct {
	char child[ZT_UID_LEN], parent[ZT_UID_LEN];
	uint8_t kind;
} links[16];
static int nlinks;
static struct {
	char alias[ZT_TRACE_ID_LEN], trace[ZT_TRACE_ID_LEN];
} aliases[16];
static int naliases;

static int on_span(void *ctx, const struct zt_span *s)
{
	(void)ctx;
	assert_true(nout < MAXOUT);
	out[nout++] = *s;
	return 0;
}

static int on_link(void *ctx, const char *c, const char *p, uint8_t kind)
{
	(void)ctx;
	snprintf(links[nlinks].child, ZT_UID_LEN, "%s", c);
	snprintf(links[nlinks].parent, ZT_UID_LEN, "%s", p);
	links[nlinks++].kind = kind;
	return 0;
}

static int on_alias(void *ctx, const char *a, const char *t)
{
	(void)ctx;
	snprintf(aliases[naliases].alias, ZT_TRACE_ID_LEN, "%s", a);
	snprintf(aliases[naliases++].trace, ZT_TRACE_ID_LEN, "%s", t);
	return 0;
}

static struct zt_joiner *new_joiner(uint64_t window_ns, uint32_t max_spans)
{
	struct zt_joiner_cfg cfg = {.window_ns = window_ns, .max_spans = max_spans, .max_keys = 1024};
	struct zt_joiner_out o = {on_span, on_link, on_alias, NULL, NULL};
	nout = nlinks = naliases = 0;
	return zt_joiner_new(&cfg, &o);
}

#define MS 1000000ULL
#define T0 1800000000000000000ULL

/* A span of an exchange: side, uid, process, times in ms from T0. */
static struct zt_span sp(const char *uid, uint8_t side, uint32_t pid, uint64_t start_ms, uint64_t end_ms)
{
	struct zt_span s;

	memset(&s, 0, sizeof(s));
	snprintf(s.span_uid, sizeof(s.span_uid), "%s", uid);
	s.tap_side = side;
	s.pid = pid;
	s.start_ns = T0 + start_ms * MS;
	s.end_ns = T0 + end_ms * MS;
	s.duration_ns = s.end_ns - s.start_ns;
	s.response_code = 200;
	return s;
}

static void seqs(struct zt_span *s, uint32_t req, uint32_t resp)
{
	s->req_tcp_seq = req;
	s->resp_tcp_seq = resp;
	s->flags |= ZT_SPAN_HAS_SEQ | ZT_SPAN_HAS_RESP_SEQ;
}

static const struct zt_span *find(const char *uid)
{
	for (int i = 0; i < nout; i++)
		if (strcmp(out[i].span_uid, uid) == 0)
			return &out[i];
	fail_msg("span %s not released", uid);
	return NULL;
}

static void assert_parent(const char *uid, const char *parent, uint8_t kind)
{
	const struct zt_span *s = find(uid);

	assert_string_equal(s->parent_uid, parent ? parent : "");
	assert_int_equal(s->link_kind, parent ? kind : ZT_LINK_NONE);
}

/* curl -> nginx (server S) -> nginx calls backend (client C) -> backend (B):
 * spans complete B, C, S, R; one trace, each parent found. */
static struct zt_joiner *chain(struct zt_joiner *j)
{
	struct zt_span b = sp("000000000000000b", ZT_TAP_SERVER_PROCESS, 30, 3, 5);
	struct zt_span c = sp("000000000000000c", ZT_TAP_CLIENT_PROCESS, 20, 2, 6);
	struct zt_span s = sp("000000000000000s", ZT_TAP_SERVER_PROCESS, 20, 1, 7);
	struct zt_span r = sp("000000000000000r", ZT_TAP_CLIENT_PROCESS, 10, 0, 8);

	seqs(&b, 500, 600);
	seqs(&c, 500, 600);
	c.syscall_trace_id_req = 77;
	s.syscall_trace_id_req = 77;
	seqs(&s, 100, 200);
	seqs(&r, 100, 200);
	assert_int_equal(zt_joiner_put(j, &b), 0);
	assert_int_equal(zt_joiner_put(j, &c), 0);
	assert_int_equal(zt_joiner_put(j, &s), 0);
	assert_int_equal(zt_joiner_put(j, &r), 0);
	return j;
}

static void test_chain_children_first(void **state)
{
	struct zt_joiner *j = chain(new_joiner(0, 0));

	assert_int_equal(nout, 0); /* all inside the window */
	assert_int_equal(zt_joiner_flush(j), 0);
	assert_int_equal(nout, 4);
	assert_parent("000000000000000b", "000000000000000c", ZT_LINK_TCP_SEQ);
	assert_parent("000000000000000c", "000000000000000s", ZT_LINK_THREAD);
	assert_parent("000000000000000s", "000000000000000r", ZT_LINK_TCP_SEQ);
	assert_parent("000000000000000r", NULL, 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(strlen(out[i].trace_id), 32);
		assert_string_equal(out[i].trace_id, out[0].trace_id);
	}
	/* derived from the first span released (b, ends at T0 + 5 ms): its
	 * seconds, then its nanoseconds within the second, then a hash */
	assert_memory_equal(out[0].trace_id, "6b49d200" "004c4b40", 16);
	assert_int_equal(strspn(out[0].trace_id, "0123456789abcdef"), 32);
	assert_int_equal(nlinks, 0);
	assert_int_equal(naliases, 0);
	assert_int_equal(zt_joiner_stats(j)->links[ZT_LINK_TCP_SEQ], 2);
	assert_int_equal(zt_joiner_stats(j)->links[ZT_LINK_THREAD], 1);
	zt_joiner_free(j);
	(void)state;
}

/* With span_rec set, each released span comes with its record, the
 * assembly's fields included: byte for byte what encoding the released
 * span gives; span itself is not called. */
static int nrec;
static int on_span_rec(void *ctx, const struct zt_span *s, const uint8_t *rec, size_t len)
{
	static uint8_t want[ZT_SPAN_CODEC_MAX];
	long n = zt_span_encode(s, want, sizeof(want));

	assert_int_equal((long)len, n);
	assert_memory_equal(rec, want, len);
	nrec++;
	return on_span(ctx, s);
}

static void test_span_rec(void **state)
{
	struct zt_joiner_cfg cfg = {.max_keys = 1024};
	struct zt_joiner_out o = {NULL, on_link, on_alias, NULL, on_span_rec};
	struct zt_joiner *j;

	nout = nlinks = naliases = nrec = 0;
	j = chain(zt_joiner_new(&cfg, &o));
	assert_int_equal(zt_joiner_flush(j), 0);
	assert_int_equal(nrec, 4);
	assert_parent("000000000000000b", "000000000000000c", ZT_LINK_TCP_SEQ);
	assert_parent("000000000000000r", NULL, 0);
	assert_int_equal(strlen(out[3].trace_id), 32);
	zt_joiner_free(j);
	(void)state;
}

/* put_rec takes spans encoded: the same traces as put; bytes that are not
 * one whole record are refused and counted. */
static void test_put_rec(void **state)
{
	static struct zt_span want[4];
	struct zt_joiner *j = chain(new_joiner(0, 0));
	struct zt_joiner_cfg cfg = {.max_keys = 1024};
	struct zt_joiner_out o = {on_span, on_link, on_alias, NULL, NULL};
	static uint8_t rec[4][ZT_SPAN_CODEC_MAX];
	long n[4];

	assert_int_equal(zt_joiner_flush(j), 0);
	assert_int_equal(nout, 4);
	memcpy(want, out, sizeof(want));
	zt_joiner_free(j);

	nout = 0;
	j = zt_joiner_new(&cfg, &o);
	/* chain()'s spans, in its order, encoded (their fields as released
	 * but the assembly's three, which put_rec must find again) */
	for (int i = 0; i < 4; i++) {
		struct zt_span s = want[i];
		s.trace_id[0] = s.parent_uid[0] = '\0';
		s.link_kind = 0;
		n[i] = zt_span_encode(&s, rec[i], sizeof(rec[i]));
		assert_true(n[i] > 0);
	}
	assert_int_equal(zt_joiner_put_rec(j, rec[0], (size_t)n[0] - 1), -EINVAL); /* cut */
	assert_int_equal(zt_joiner_put_rec(j, rec[0], (size_t)n[0] + 10), -EINVAL); /* more than one */
	assert_int_equal(zt_joiner_stats(j)->bad_records, 2);
	for (int i = 0; i < 4; i++)
		assert_int_equal(zt_joiner_put_rec(j, rec[i], (size_t)n[i]), 0);
	assert_int_equal(zt_joiner_flush(j), 0);
	assert_int_equal(nout, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(span_diff(&out[i], &want[i]), -1);
	zt_joiner_free(j);
	(void)state;
}

/* A packet capture's two views of one exchange (client-nic, server-nic)
 * link by TCP seqs, in either order; never across tap kinds (a NIC span is
 * no process span's parent or child). */
static void test_nic_sides(void **state)
{
	struct zt_joiner *j = new_joiner(0, 0);
	struct zt_span sn = sp("00000000000000s1", ZT_TAP_SERVER_NIC, 0, 1, 2);
	struct zt_span cn = sp("00000000000000c1", ZT_TAP_CLIENT_NIC, 0, 0, 3);
	struct zt_span cn2 = sp("00000000000000c2", ZT_TAP_CLIENT_NIC, 0, 4, 7);
	struct zt_span sn2 = sp("00000000000000s2", ZT_TAP_SERVER_NIC, 0, 5, 6);
	struct zt_span sp1 = sp("00000000000000p1", ZT_TAP_SERVER_PROCESS, 9, 1, 2);

	seqs(&sn, 10, 20);
	seqs(&cn, 10, 20);
	seqs(&cn2, 30, 40);
	seqs(&sn2, 30, 40);
	seqs(&sp1, 10, 20);
	assert_int_equal(zt_joiner_put(j, &sn), 0); /* server first */
	assert_int_equal(zt_joiner_put(j, &cn), 0);
	assert_int_equal(zt_joiner_put(j, &cn2), 0); /* client first */
	assert_int_equal(zt_joiner_put(j, &sn2), 0);
	assert_int_equal(zt_joiner_put(j, &sp1), 0);
	assert_int_equal(zt_joiner_flush(j), 0);
	assert_parent("00000000000000s1", "00000000000000c1", ZT_LINK_TCP_SEQ);
	assert_parent("00000000000000s2", "00000000000000c2", ZT_LINK_TCP_SEQ);
	assert_parent("00000000000000c1", NULL, 0);
	assert_parent("00000000000000p1", NULL, 0); /* no client process span */
	zt_joiner_free(j);
	(void)state;
}

/* The same stream twice gives the same trace ids (derived, stable). */
static void test_deterministic(void **state)
{
	char first[ZT_TRACE_ID_LEN];
	struct zt_joiner *j = chain(new_joiner(0, 0));

	zt_joiner_flush(j);
	snprintf(first, sizeof(first), "%s", out[0].trace_id);
	zt_joiner_free(j);
	j = chain(new_joiner(0, 0));
	zt_joiner_flush(j);
	assert_string_equal(out[0].trace_id, first);
	zt_joiner_free(j);
	(void)state;
}

/* Precision guards: no thread link from an ambiguous thread, from another
 * process, or for a call outside the server span's time. */
static void test_thread_guards(void **state)
{
	struct zt_joiner *j = new_joiner(0, 0);
	struct zt_span c1 = sp("00000000000000c1", ZT_TAP_CLIENT_PROCESS, 20, 2, 3);
	struct zt_span c2 = sp("00000000000000c2", ZT_TAP_CLIENT_PROCESS, 21, 2, 3); /* other pid */
	struct zt_span c3 = sp("00000000000000c3", ZT_TAP_CLIENT_PROCESS, 20, 2, 30); /* outlives s */
	struct zt_span s = sp("000000000000000s", ZT_TAP_SERVER_PROCESS, 20, 1, 10);
	struct zt_span c4 = sp("00000000000000c4", ZT_TAP_CLIENT_PROCESS, 22, 2, 3);
	struct zt_span s4 = sp("00000000000000s4", ZT_TAP_SERVER_PROCESS, 22, 1, 10);

	c1.syscall_trace_id_req = c2.syscall_trace_id_req = c3.syscall_trace_id_req = 5;
	s.syscall_trace_id_req = 5;
	c1.flags |= ZT_SPAN_AMBIGUOUS;
	c4.syscall_trace_id_req = s4.syscall_trace_id_req = 6;
	s4.flags |= ZT_SPAN_AMBIGUOUS; /* the server side's context is shared */
	zt_joiner_put(j, &c1);
	zt_joiner_put(j, &c2);
	zt_joiner_put(j, &c3);
	zt_joiner_put(j, &s);
	zt_joiner_put(j, &c4);
	zt_joiner_put(j, &s4);
	zt_joiner_flush(j);
	assert_parent("00000000000000c1", NULL, 0);
	assert_parent("00000000000000c2", NULL, 0);
	assert_parent("00000000000000c3", NULL, 0);
	assert_parent("00000000000000c4", NULL, 0);
	assert_true(zt_joiner_stats(j)->containment_refused >= 1);
	assert_string_not_equal(find("00000000000000c1")->trace_id, find("000000000000000s")->trace_id);
	zt_joiner_free(j);
	(void)state;
}

/* A proxy's egress call carries the ingress request's X-Request-ID (nginx
 * proxy_set_header X-Request-ID $request_id; the id may show on the
 * ingress response only). */
static void test_x_request_id(void **state)
{
	struct zt_joiner *j = new_joiner(0, 0);
	struct zt_span c = sp("000000000000000c", ZT_TAP_CLIENT_PROCESS, 20, 2, 3);
	struct zt_span s = sp("000000000000000s", ZT_TAP_SERVER_PROCESS, 20, 1, 10);
	struct zt_span other = sp("000000000000000o", ZT_TAP_CLIENT_PROCESS, 99, 2, 3);

	snprintf(c.x_request_id, sizeof(c.x_request_id), "abc123");
	snprintf(other.x_request_id, sizeof(other.x_request_id), "abc123");
	snprintf(s.x_request_id_resp, sizeof(s.x_request_id_resp), "abc123");
	struct zt_span after = sp("000000000000000p", ZT_TAP_CLIENT_PROCESS, 98, 2, 3);
	struct zt_span mine = sp("000000000000000m", ZT_TAP_CLIENT_PROCESS, 20, 2, 3);

	snprintf(after.x_request_id, sizeof(after.x_request_id), "abc123");
	snprintf(mine.x_request_id, sizeof(mine.x_request_id), "abc123");
	zt_joiner_put(j, &c);
	zt_joiner_put(j, &other);
	zt_joiner_put(j, &s);
	zt_joiner_put(j, &after); /* the server span came first this time */
	zt_joiner_put(j, &mine);
	zt_joiner_flush(j);
	assert_parent("000000000000000c", "000000000000000s", ZT_LINK_X_REQUEST_ID);
	assert_parent("000000000000000m", "000000000000000s", ZT_LINK_X_REQUEST_ID);
	/* other processes: not the proxy's calls */
	assert_parent("000000000000000o", NULL, 0);
	assert_parent("000000000000000p", NULL, 0);
	zt_joiner_free(j);
	(void)state;
}

/* Fan-out: two calls of one server span, and their servers. */
static void test_fan_out(void **state)
{
	struct zt_joiner *j = new_joiner(0, 0);
	struct zt_span b1 = sp("00000000000000b1", ZT_TAP_SERVER_PROCESS, 30, 2, 3);
	struct zt_span c1 = sp("00000000000000c1", ZT_TAP_CLIENT_PROCESS, 20, 2, 3);
	struct zt_span b2 = sp("00000000000000b2", ZT_TAP_SERVER_PROCESS, 31, 4, 5);
	struct zt_span c2 = sp("00000000000000c2", ZT_TAP_CLIENT_PROCESS, 20, 4, 5);
	struct zt_span s = sp("000000000000000s", ZT_TAP_SERVER_PROCESS, 20, 1, 9);

	seqs(&b1, 1, 2);
	seqs(&c1, 1, 2);
	seqs(&b2, 3, 4);
	seqs(&c2, 3, 4);
	c1.syscall_trace_id_req = c2.syscall_trace_id_req = s.syscall_trace_id_req = 9;
	zt_joiner_put(j, &b1);
	zt_joiner_put(j, &c1);
	zt_joiner_put(j, &b2);
	zt_joiner_put(j, &c2);
	zt_joiner_put(j, &s);
	zt_joiner_flush(j);
	assert_parent("00000000000000b1", "00000000000000c1", ZT_LINK_TCP_SEQ);
	assert_parent("00000000000000b2", "00000000000000c2", ZT_LINK_TCP_SEQ);
	assert_parent("00000000000000c1", "000000000000000s", ZT_LINK_THREAD);
	assert_parent("00000000000000c2", "000000000000000s", ZT_LINK_THREAD);
	for (int i = 0; i < nout; i++)
		assert_string_equal(out[i].trace_id, out[0].trace_id);
	zt_joiner_free(j);
	(void)state;
}

/* Past the window: a parent that completes late (a slow request) makes a
 * late link for the child already written; its second child, written
 * apart in another trace, makes an alias. Nothing is lost. */
static void test_late_link_and_alias(void **state)
{
	struct zt_joiner *j = new_joiner(10 * MS, 0);
	struct zt_span c1 = sp("00000000000000c1", ZT_TAP_CLIENT_PROCESS, 20, 2, 3);
	struct zt_span c2 = sp("00000000000000c2", ZT_TAP_CLIENT_PROCESS, 20, 40, 41);
	struct zt_span s = sp("000000000000000s", ZT_TAP_SERVER_PROCESS, 20, 1, 100);
	struct zt_span later = sp("000000000000000l", ZT_TAP_CLIENT_PROCESS, 50, 500, 501);

	c1.syscall_trace_id_req = c2.syscall_trace_id_req = s.syscall_trace_id_req = 4;
	zt_joiner_put(j, &c1);
	zt_joiner_put(j, &c2); /* 41 ms: c1's window (10 ms) ended: released */
	assert_int_equal(nout, 1);
	zt_joiner_put(j, &s); /* 100 ms: c2 released too, then s finds both */
	assert_int_equal(nout, 2);
	zt_joiner_put(j, &later);
	zt_joiner_flush(j);
	assert_int_equal(nout, 4);
	/* written before their parent came: parent_uid empty, late links */
	assert_parent("00000000000000c1", NULL, 0);
	assert_int_equal(nlinks, 2);
	for (int i = 0; i < 2; i++) {
		assert_string_equal(links[i].parent, "000000000000000s");
		assert_int_equal(links[i].kind, ZT_LINK_THREAD);
	}
	assert_string_not_equal(links[0].child, links[1].child);
	assert_true(!strcmp(links[0].child, "00000000000000c1") || !strcmp(links[0].child, "00000000000000c2"));
	assert_true(!strcmp(links[1].child, "00000000000000c1") || !strcmp(links[1].child, "00000000000000c2"));
	/* c1 and c2 were written in two traces: one became the other's alias,
	 * and s joined the survivor */
	assert_int_equal(naliases, 1);
	assert_string_equal(aliases[0].alias, find("00000000000000c2")->trace_id);
	assert_string_equal(aliases[0].trace, find("00000000000000c1")->trace_id);
	assert_string_equal(find("000000000000000s")->trace_id, find("00000000000000c1")->trace_id);
	assert_int_equal(zt_joiner_stats(j)->late_links, 2);
	assert_int_equal(zt_joiner_stats(j)->aliases, 1);
	zt_joiner_free(j);
	(void)state;
}

/* Explicit trace ids from headers: spans sharing one share the trace and
 * keep the header's id. */
static void test_explicit(void **state)
{
	struct zt_joiner *j = new_joiner(0, 0);
	struct zt_span a = sp("000000000000000a", ZT_TAP_SERVER_PROCESS, 1, 0, 1);
	struct zt_span b = sp("000000000000000b", ZT_TAP_CLIENT_PROCESS, 2, 5, 6);
	struct zt_span c = sp("000000000000000c", ZT_TAP_CLIENT_PROCESS, 3, 5, 6);

	snprintf(a.trace_id, sizeof(a.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
	snprintf(b.trace_id, sizeof(b.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
	zt_joiner_put(j, &a);
	zt_joiner_put(j, &b);
	zt_joiner_put(j, &c);
	zt_joiner_flush(j);
	assert_string_equal(find("000000000000000a")->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
	assert_string_equal(find("000000000000000b")->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
	assert_string_not_equal(find("000000000000000c")->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
	assert_parent("000000000000000b", NULL, 0); /* membership, not a parent edge */
	zt_joiner_free(j);
	(void)state;
}

/* Bounds: a full window releases early (counted); keys stay bounded;
 * every span is released exactly once. */
static void test_bounds(void **state)
{
	struct zt_joiner *j = new_joiner(0, 8);
	char uid[ZT_UID_LEN];

	for (int i = 0; i < 200; i++) {
		snprintf(uid, sizeof(uid), "%016x", i + 1);
		struct zt_span s = sp(uid, i % 2 ? ZT_TAP_CLIENT_PROCESS : ZT_TAP_SERVER_PROCESS, 1, i, i + 1);
		seqs(&s, (uint32_t)(i / 2), 7);
		assert_int_equal(zt_joiner_put(j, &s), 0);
	}
	zt_joiner_flush(j);
	assert_int_equal(nout, 200);
	assert_true(zt_joiner_stats(j)->window_full > 0);
	assert_true(zt_joiner_stats(j)->keys_evicted_early == 0 || zt_joiner_stats(j)->keys_evicted_early < 200);
	/* pairs still linked: each server span found its client (late or not) */
	assert_int_equal(zt_joiner_stats(j)->links[ZT_LINK_TCP_SEQ], 100);
	assert_true(zt_joiner_mem(j) > 0);
	zt_joiner_free(j);
	(void)state;
}

/* Held spans live encoded in a byte ring (max_bytes): spans of every size
 * wrap around it; when it is full the oldest go early (window_full), each
 * comes out once, in arrival order, every field as it went in (but the
 * assembly's three), and the pairs still link. */
static void test_arena(void **state)
{
	struct zt_joiner_cfg cfg = {.window_ns = 3600000 * MS, .max_spans = 64, .max_keys = 1024,
				    .max_bytes = 16384}; /* ~5 of the largest records, ~40 typical ones */
	struct zt_joiner_out o = {on_span, on_link, on_alias, NULL, NULL};
	static struct zt_span in[200];
	char uid[ZT_UID_LEN];
	struct zt_joiner *j;

	nout = nlinks = naliases = 0;
	j = zt_joiner_new(&cfg, &o);
	assert_non_null(j);
	for (int i = 0; i < 200; i++) {
		struct zt_span *s = &in[i];
		snprintf(uid, sizeof(uid), "%016x", i + 1);
		*s = sp(uid, i % 2 ? ZT_TAP_CLIENT_PROCESS : ZT_TAP_SERVER_PROCESS, 1, i, i + 1);
		seqs(s, (uint32_t)(i / 2), 7);
		/* sizes from a few bytes to the largest fields full */
		memset(s->request_resource, 'a' + i % 26, (size_t)(i * 37) % (ZT_RESOURCE_LEN - 1));
		s->request_resource[(i * 37) % (ZT_RESOURCE_LEN - 1)] = '\0';
		memset(s->endpoint, 'e', i % 7 == 0 ? ZT_ENDPOINT_LEN - 1 : 3);
		s->endpoint[i % 7 == 0 ? ZT_ENDPOINT_LEN - 1 : 3] = '\0';
		snprintf(s->process, sizeof(s->process), "proc%d", i % 5);
		s->attributes.n = (uint8_t)(i % (ZT_ATTRS_MAX + 1));
		for (int a = 0; a < s->attributes.n; a++) {
			snprintf(s->attributes.a[a].key, ZT_ATTR_KEY_LEN, "k%d", a);
			memset(s->attributes.a[a].val, 'v', ZT_ATTR_VAL_LEN - 1);
			s->attributes.a[a].val[ZT_ATTR_VAL_LEN - 1 - a] = '\0';
		}
		s->client_ip[10] = s->client_ip[11] = 0xff;
		s->client_ip[15] = (uint8_t)i;
		s->response_code = i % 3 ? 200 : -1;
		assert_int_equal(zt_joiner_put(j, s), 0);
	}
	assert_true(zt_joiner_stats(j)->window_full > 0); /* 64 spans never fit: bytes ran out first */
	zt_joiner_flush(j);
	assert_int_equal(nout, 200);
	for (int i = 0; i < 200; i++) {
		struct zt_span got = out[i];
		assert_string_equal(got.span_uid, in[i].span_uid); /* arrival order */
		/* the assembly's fields are the joiner's: compare the rest */
		memcpy(got.trace_id, in[i].trace_id, sizeof(got.trace_id));
		memcpy(got.parent_uid, in[i].parent_uid, sizeof(got.parent_uid));
		got.link_kind = in[i].link_kind;
		assert_int_equal(span_diff(&got, &in[i]), -1);
	}
	assert_int_equal(zt_joiner_stats(j)->links[ZT_LINK_TCP_SEQ], 100);
	zt_joiner_free(j);
	(void)state;
}

/* A key that left with its entry is gone, also when a newer entry took its
 * place in the ring (its chain is not unlinked: the walk must stop there)
 * and that entry never joined the map: no link to the newcomer. */
static void test_evicted_key(void **state)
{
	struct zt_joiner_cfg cfg = {.max_spans = 2, .max_keys = 4};
	struct zt_joiner_out o = {on_span, on_link, on_alias, NULL, NULL};
	struct zt_joiner *j;
	char uid[ZT_UID_LEN];
	struct zt_span s1 = sp("00000000000000s1", ZT_TAP_SERVER_PROCESS, 30, 0, 1);
	struct zt_span c1 = sp("00000000000000c1", ZT_TAP_CLIENT_PROCESS, 20, 0, 9);

	nout = nlinks = naliases = 0;
	j = zt_joiner_new(&cfg, &o);
	assert_non_null(j);
	seqs(&s1, 41, 42);
	seqs(&c1, 41, 42);
	assert_int_equal(zt_joiner_put(j, &s1), 0);
	/* four server spans without seqs: the last pushes s1 out and takes
	 * its place in the ring */
	for (int i = 0; i < 4; i++) {
		snprintf(uid, sizeof(uid), "%016x", (unsigned)i);
		struct zt_span x = sp(uid, ZT_TAP_SERVER_PROCESS, 30, 2 + i, 3 + i);
		assert_int_equal(zt_joiner_put(j, &x), 0);
	}
	assert_int_equal(zt_joiner_stats(j)->keys_evicted_early, 1);
	assert_int_equal(zt_joiner_put(j, &c1), 0); /* s1's client: too late */
	assert_int_equal(zt_joiner_flush(j), 0);
	assert_int_equal(nout, 6);
	assert_int_equal(nlinks, 0);
	for (int i = 0; i < nout; i++)
		assert_string_equal(out[i].parent_uid, "");
	assert_int_equal(zt_joiner_stats(j)->links[ZT_LINK_TCP_SEQ], 0);
	zt_joiner_free(j);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_chain_children_first),
	    cmocka_unit_test(test_nic_sides), cmocka_unit_test(test_deterministic),
	    cmocka_unit_test(test_thread_guards),        cmocka_unit_test(test_x_request_id),
	    cmocka_unit_test(test_fan_out),              cmocka_unit_test(test_late_link_and_alias),
	    cmocka_unit_test(test_explicit),             cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_evicted_key),          cmocka_unit_test(test_arena),
	    cmocka_unit_test(test_span_rec),             cmocka_unit_test(test_put_rec),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
