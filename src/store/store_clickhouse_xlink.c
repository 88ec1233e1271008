/* SPDX-License-Identifier: MIT */
/*
 * store_clickhouse_xlink.c - trace links across writers (cluster=NAME).
 *
 * With several stateless writers (ztrace up / server per host) over one
 * ClickHouse cluster, the client end and the server end of one exchange may
 * reach different writers: each writer's joiner sees only one end, so the
 * TCP-seq link between them (trace/joiner.h: client and server side of one
 * exchange have equal TCP seqs) is not made at ingest. This file makes it
 * through the shared tables: after a writer's batch is written, the spans of
 * the batch that carry a request seq (an unparented server end, or a client
 * end) are looked up on the other side in the Distributed spans table (same
 * req_tcp_seq and ports, opposite tap side, within ZT_XL_WINDOW_NS); a match
 * becomes the joiner's late facts: put_link(server end -> client end,
 * tcp_seq) and put_alias(server's trace -> client's trace), so query_trace
 * and query_traces see one trace. Whichever end is written second makes the
 * match; two ends written at the same moment by two writers could both miss
 * it, so every unmatched candidate is looked up once more ZT_XL_RECHECK_NS
 * later. Facts are first-wins and idempotent, so both writers making the same
 * match is harmless.
 *
 * Only in cluster mode: a single writer's joiner sees both ends already.
 */
#include "store/clickhouse_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ZT_XL_WINDOW_NS (60ull * 1000000000ull)
#define ZT_XL_RECHECK_NS (2ull * 1000000000ull)
#define ZT_XL_MAX 200000 /* candidates held; more are not cross-linked (counted) */

static uint64_t mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool is_client(uint8_t side)
{
	return side == ZT_TAP_CLIENT_PROCESS || side == ZT_TAP_CLIENT_NIC;
}

static bool is_server(uint8_t side)
{
	return side == ZT_TAP_SERVER_PROCESS || side == ZT_TAP_SERVER_NIC;
}

void zt_ch_xlink_note(struct zt_ch *ch, const struct zt_span *s)
{
	struct zt_ch_xcand *c;

	if (!ch->cluster[0] || !(s->flags & ZT_SPAN_HAS_SEQ) || !s->trace_id[0])
		return;
	if (!is_client(s->tap_side) && !(is_server(s->tap_side) && !s->parent_uid[0]))
		return;
	if (ch->nxl == ZT_XL_MAX) {
		ch->stats.xlink_skipped++;
		return;
	}
	if (ch->nxl == ch->capxl) {
		size_t ncap = ch->capxl ? ch->capxl * 2 : 1024;
		struct zt_ch_xcand *n = realloc(ch->xl, ncap * sizeof(*n));
		if (!n) {
			ch->stats.xlink_skipped++;
			return;
		}
		ch->xl = n;
		ch->capxl = ncap;
	}
	c = &ch->xl[ch->nxl++];
	memset(c, 0, sizeof(*c));
	memcpy(c->uid, s->span_uid, sizeof(c->uid));
	memcpy(c->tid, s->trace_id, sizeof(c->tid));
	c->start_ns = s->start_ns;
	c->seq = s->req_tcp_seq;
	c->cport = s->client_port;
	c->sport = s->server_port;
	c->side = s->tap_side;
}

struct found {
	struct zt_ch *ch;
	struct zt_ch_xcand *c;
	size_t n;
	struct zt_ch_buf rest;
	int err;
};

static void match(struct found *f, const char *uid, const char *tid, uint8_t side, uint32_t seq, uint16_t cport,
		  uint16_t sport, const char *parent)
{
	for (size_t i = 0; i < f->n; i++) {
		struct zt_ch_xcand *c = &f->c[i];
		const char *child, *par, *alias, *target;

		if (c->matched || c->seq != seq || c->cport != cport || c->sport != sport || !strcmp(c->uid, uid))
			continue;
		if (is_server(c->side) && is_client(side)) {
			child = c->uid, par = uid, alias = c->tid, target = tid;
		} else if (is_client(c->side) && is_server(side) && !parent[0]) {
			child = uid, par = c->uid, alias = tid, target = c->tid;
		} else {
			continue;
		}
		c->matched = 1;
		if (!f->err)
			f->err = f->ch->base.ops->put_link(&f->ch->base, child, par, ZT_LINK_TCP_SEQ);
		if (!f->err && alias[0] && target[0] && strcmp(alias, target))
			f->err = f->ch->base.ops->put_alias(&f->ch->base, alias, target);
		f->ch->stats.xlinks++;
	}
}

/* rows: span_uid, trace_id, tap_side, req_tcp_seq, client_port, server_port, parent_uid */
static int on_rows(void *arg, const char *data, size_t n)
{
	struct found *f = arg;
	size_t at = 0;

	if (zt_ch_buf_put(&f->rest, data, n))
		return -ENOMEM;
	for (;;) {
		char uid[ZT_UID_LEN], tid[ZT_TRACE_ID_LEN], parent[ZT_UID_LEN];
		const char *p = f->rest.p + at;
		size_t left = f->rest.len - at, k = 0;
		long r;
		uint8_t side;
		uint32_t seq;
		uint16_t cp, sp;

		if ((r = zt_ch_get_str(p, left, uid, sizeof(uid))) <= 0)
			goto partial;
		k += (size_t)r;
		if ((r = zt_ch_get_str(p + k, left - k, tid, sizeof(tid))) <= 0)
			goto partial;
		k += (size_t)r;
		if (left - k < 1 + 4 + 2 + 2)
			break;
		side = (uint8_t)p[k];
		memcpy(&seq, p + k + 1, 4);
		memcpy(&cp, p + k + 5, 2);
		memcpy(&sp, p + k + 7, 2);
		k += 9;
		if ((r = zt_ch_get_str(p + k, left - k, parent, sizeof(parent))) <= 0)
			goto partial;
		k += (size_t)r;
		match(f, uid, tid, side, seq, cp, sp, parent);
		at += k;
		continue;
partial:
		if (r < 0)
			return -EBADMSG;
		break;
	}
	memmove(f->rest.p, f->rest.p + at, f->rest.len - at);
	f->rest.len -= at;
	return 0;
}

/* Looks up the other ends of c[0..n) in the shared spans table. */
static int lookup(struct zt_ch *ch, struct zt_ch_xcand *c, size_t n)
{
	struct zt_ch_buf sql = {0};
	struct found f = {.ch = ch, .c = c, .n = n};
	uint64_t lo = UINT64_MAX, hi = 0;
	int err;

	for (size_t i = 0; i < n; i++) {
		lo = c[i].start_ns < lo ? c[i].start_ns : lo;
		hi = c[i].start_ns > hi ? c[i].start_ns : hi;
	}
	lo = lo > ZT_XL_WINDOW_NS ? lo - ZT_XL_WINDOW_NS : 0;
	hi += ZT_XL_WINDOW_NS;
	err = zt_ch_buf_printf(&sql,
			       "SELECT span_uid, trace_id, tap_side, req_tcp_seq, client_port, server_port, parent_uid FROM "
			       "%s.%s WHERE start_ns >= %llu AND start_ns <= %llu AND bitAnd(flags, %u) != 0 AND "
			       "req_tcp_seq IN (",
			       ch->db, ch->t_spans, (unsigned long long)lo, (unsigned long long)hi, (unsigned)ZT_SPAN_HAS_SEQ);
	for (size_t i = 0; i < n && !err; i++)
		err = zt_ch_buf_printf(&sql, "%s%u", i ? "," : "", c[i].seq);
	err = err ? err : zt_ch_buf_printf(&sql, ") FORMAT RowBinary");
	if (err)
		err = zt_ch_set_err(ch, err, "out of memory for the cross-writer links");
	else
		err = zt_ch_http(ch, NULL, sql.p, sql.len, false, NULL, on_rows, &f);
	if (err == -EBADMSG || err == -ENOMEM)
		err = zt_ch_set_err(ch, err, "ClickHouse at %s: unexpected reply to the cross-writer link lookup", ch->where);
	if (!err && f.err)
		err = f.err;
	free(sql.p);
	free(f.rest.p);
	return err;
}

/*
 * After the spans noted so far are written: the new candidates are looked
 * up once now, and those still unmatched once more after ZT_XL_RECHECK_NS
 * (in a later call). Facts found go to the link/alias batches, written by the
 * caller's next write of facts.
 */
int zt_ch_xlink_run(struct zt_ch *ch)
{
	uint64_t now = mono();
	size_t keep = 0;
	int err = 0;

	if (!ch->cluster[0] || !ch->nxl)
		return 0;
	/* new ones (due 0): first look; due ones: second look */
	for (size_t i = 0, j; i < ch->nxl && !err; i = j) {
		bool first = ch->xl[i].due == 0;
		for (j = i; j < ch->nxl && (ch->xl[j].due == 0) == first && j - i < 20000; j++)
			;
		if (first || ch->xl[i].due <= now)
			err = lookup(ch, &ch->xl[i], j - i);
	}
	if (err)
		return err; /* all kept: retried with the next flush */
	for (size_t i = 0; i < ch->nxl; i++) {
		struct zt_ch_xcand *c = &ch->xl[i];
		if (c->matched || (c->due && c->due <= now))
			continue; /* done: matched, or had its second look */
		if (!c->due)
			c->due = now + ZT_XL_RECHECK_NS;
		ch->xl[keep++] = *c;
	}
	ch->nxl = keep;
	return 0;
}
