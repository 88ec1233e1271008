/* SPDX-License-Identifier: MIT */
#include "proto/redact.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "proto/h2.h"
#include "proto/h2_redact.h"
#include "proto/http1.h"
#include "proto/proto.h"
#include "util/hash.h"

#define PROBES 8
#define BIN_TAIL 512

struct stream {
	uint64_t sk, ino;
	uint64_t last_use; /* 0: free slot */
	uint8_t dir;
	bool in_head;      /* bodies mode: inside an HTTP/1 head */
	uint8_t blank;     /* bodies mode: bytes of "\r\n\r\n" matched so far */
	uint32_t tail_len; /* bytes of the current line kept in tail */
	uint8_t *tail;     /* ZT_REDACT_TAIL bytes, allocated on first use */
	struct h2r *h2;    /* HTTP/2 framing and HPACK model, allocated on first use */
};

struct zt_redactor {
	struct stream *slot;
	size_t n;
	uint64_t clock;
	bool bodies;
	uint8_t *work; /* tail + one payload */
	size_t work_cap;
	struct zt_redactor_stats st;
};

struct zt_redactor *zt_redactor_new(size_t max_streams)
{
	struct zt_redactor *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->n = max_streams < PROBES ? PROBES : max_streams;
	r->slot = calloc(r->n, sizeof(*r->slot));
	if (!r->slot) {
		free(r);
		return NULL;
	}
	return r;
}

void zt_redactor_free(struct zt_redactor *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		free(r->slot[i].tail);
		h2r_free(r->slot[i].h2);
	}
	free(r->slot);
	free(r->work);
	free(r);
}

void zt_redactor_set_bodies(struct zt_redactor *r, int on)
{
	r->bodies = on != 0;
}

const struct zt_redactor_stats *zt_redactor_stats(const struct zt_redactor *r)
{
	return &r->st;
}

static void forget(struct stream *s)
{
	uint8_t *tail = s->tail;
	struct h2r *h2 = s->h2;

	memset(s, 0, sizeof(*s));
	s->tail = tail; /* keep the buffers for the next stream in this slot */
	s->h2 = h2;
	if (h2)
		h2r_reset(h2);
}

/* The stream's slot: found, or a free one, or the least recently used of
 * its probe window (forgotten, counted). */
static struct stream *lookup(struct zt_redactor *r, uint64_t sk, uint64_t ino, uint8_t dir)
{
	uint64_t h = zt_mix64(sk ^ zt_mix64(ino) ^ dir);
	struct stream *free_s = NULL, *old = NULL;

	for (size_t k = 0; k < PROBES; k++) {
		struct stream *s = &r->slot[(h + k) % r->n];
		if (s->last_use && s->sk == sk && s->ino == ino && s->dir == dir)
			return s;
		if (!s->last_use && !free_s)
			free_s = s;
		if (s->last_use && (!old || s->last_use < old->last_use))
			old = s;
	}
	if (!free_s) {
		free_s = old;
		r->st.evicted++;
	}
	forget(free_s);
	free_s->sk = sk;
	free_s->ino = ino;
	free_s->dir = dir;
	return free_s;
}

void zt_redactor_close(struct zt_redactor *r, uint64_t sk)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->slot[i].last_use && r->slot[i].sk == sk)
			forget(&r->slot[i]);
}

static size_t mask(uint8_t *p, size_t n)
{
	memset(p, '*', n);
	return n;
}

/* Bodies mode: keeps HTTP/1 heads, overwrites everything else. A head
 * starts where a segment (or the byte after a head) starts with a request
 * or status line, and ends at an empty line ("\r\n\r\n" or "\n\n"). A
 * start line split across segments is not recognised: masked (safe side). */
static size_t keep_heads_only(struct stream *s, uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if (!s->in_head) {
			if (h1_infer(p + i, n - i, 0) == 0)
				return mask(p + i, n - i);
			s->in_head = true;
			s->blank = 0;
		}
		for (; i < n && s->in_head; i++) {
			if (p[i] == '\n') {
				if (s->blank)
					s->in_head = false;
				s->blank = 1;
			} else if (p[i] != '\r') {
				s->blank = 0;
			}
		}
	}
	return 0;
}

size_t zt_redact_stream(struct zt_redactor *r, uint64_t sk, uint64_t ino, uint8_t dir, uint8_t *payload,
			size_t caplen, uint64_t bytes)
{
	struct stream *s = lookup(r, sk, ino, dir);
	size_t done = 0, tl;

	s->last_use = ++r->clock;
	/* HTTP/2 first, with its own state: HPACK fields are found by
	 * following the frames and the header table, not in a tail */
	if (zt_proto_by_id(ZT_L7_HTTP2) == &zt_h2_ops) { /* (tests install other tables) */
		if (!s->h2)
			s->h2 = h2r_new();
		done += h2r_feed(s->h2, payload, caplen, caplen < bytes);
	}
	if (!s->tail && !(s->tail = malloc(ZT_REDACT_TAIL))) {
		/* no memory for a tail: this payload alone */
		done += zt_proto_redact_payload(payload, caplen);
		goto bodies;
	}
	tl = s->tail_len;
	if (r->work_cap < tl + caplen) {
		uint8_t *w = realloc(r->work, tl + caplen);
		if (!w) {
			done += zt_proto_redact_payload(payload, caplen);
			s->tail_len = 0;
			goto bodies;
		}
		r->work = w;
		r->work_cap = tl + caplen;
	}
	/* Two passes, whose masks add up: the payload alone, where the
	 * redactors that recognise a message at the start of a syscall (a
	 * SASL token, a password packet) find it; then tail + payload, where
	 * a secret split across syscalls is found. */
	memcpy(r->work, s->tail, tl);
	memcpy(r->work + tl, payload, caplen);
	zt_proto_redact_payload(r->work + tl, caplen);
	zt_proto_redact_payload(r->work, tl + caplen);
	for (size_t i = 0; i < caplen; i++)
		done += r->work[tl + i] != payload[i];
	memcpy(payload, r->work + tl, caplen);

	/* the new tail: the current line, and at least the last BIN_TAIL
	 * bytes (binary protocols have no lines) */
	{
		const uint8_t *all = r->work, *nl;
		size_t total = tl + caplen, line, start;
		nl = total ? memrchr(all, '\n', total) : NULL;
		line = nl ? (size_t)(nl - all) + 1 : 0;
		start = total <= BIN_TAIL ? 0 : line < total - BIN_TAIL ? line : total - BIN_TAIL;
		if (caplen < bytes) {
			s->tail_len = 0; /* a gap: what follows is unknown */
		} else if (total - start <= ZT_REDACT_TAIL) {
			memcpy(s->tail, all + start, total - start);
			s->tail_len = (uint32_t)(total - start);
		} else {
			/* keep the line's start, where a header name is: its
			 * continuation is then redacted as part of that line */
			r->st.overlong++;
			memcpy(s->tail, all + line, ZT_REDACT_TAIL / 2);
			s->tail_len = ZT_REDACT_TAIL / 2;
		}
	}
bodies:
	if (r->bodies) {
		done += keep_heads_only(s, payload, caplen);
		if (caplen < bytes)
			s->in_head = false; /* unknown bytes follow */
	}
	r->st.bytes += done;
	return done;
}
