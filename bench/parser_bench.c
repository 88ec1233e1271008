/* SPDX-License-Identifier: MIT */
/*
 * parser_bench.c - HTTP/1 parse throughput: ztrace's streaming parser
 * (zt_http1_ops) against Debian's libhttp-parser 2.9, on the same bytes.
 *
 * usage: parser_bench CORPUS ztrace|libhttp SECONDS
 *   Parses the whole corpus again and again for about SECONDS, then prints
 *   one JSON object: passes, bytes and messages per pass, elapsed seconds.
 *   Messages are counted on the first pass and every pass must count the
 *   same (checked), so the two sides can be compared message for message.
 *
 * CORPUS (written by bench/parser.py) is a list of conversations, each one
 * connection seen from the client: u32 npieces, then per piece u8 dir
 * (0: bytes the client wrote, i.e. requests; 1: bytes it read, responses),
 * u8 eof (1: the peer closed that direction here; len is then 0), u32 len
 * and len bytes. A piece is one syscall's worth of bytes. Little-endian.
 *
 * What each side does per conversation (equal work as far as the two APIs
 * allow; see the notes bench/parser.py writes):
 *  - ztrace: a state of state_size bytes, init(), feed() per piece as one
 *    fully captured segment, finish(); the emit callback counts the message.
 *    The parser itself copies the head into its head buffer, parses the
 *    start line and headers, derives framing, copies method, path, host,
 *    status, reason (>= 400), X-Request-ID and validates trace headers
 *    (traceparent, b3, uber-trace-id, sw8) into struct zt_msg; bodies are
 *    counted, chunked framing parsed.
 *  - libhttp: http_parser_init() for a request and a response parser,
 *    http_parser_execute() per piece (a zero-length call at EOF). Callbacks
 *    copy the URL into a path buffer of ztrace's size, record every header
 *    name and value as (pointer, length) spans (up to 64, like ztrace), note
 *    method, status and reason; at the end of the head they look up Host,
 *    X-Request-ID and traceparent (case-insensitive) and copy Host and
 *    X-Request-ID out like ztrace does. HEAD requests are remembered so their
 *    responses are parsed without a body (as ztrace's FIFO does). A parser
 *    stops at an error or an upgrade, as ztrace does.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <http_parser.h>

#include "bpf/events.h"
#include "proto/http1.h"
#include "proto/proto.h"

struct piece {
	const uint8_t *p;
	uint32_t len;
	uint8_t dir, eof;
};

struct conv {
	struct piece *pc;
	uint32_t n;
};

struct corpus {
	uint8_t *buf;
	struct conv *cv;
	size_t ncv;
	uint64_t bytes;
};

struct counts {
	uint64_t reqs, resps, sum;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int load(const char *path, struct corpus *c)
{
	FILE *f = fopen(path, "rb");
	long sz;
	size_t off = 0, cap = 0;

	if (!f)
		return -errno;
	if (fseek(f, 0, SEEK_END) < 0 || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
		fclose(f);
		return -EIO;
	}
	c->buf = malloc((size_t)sz + 1);
	if (!c->buf || fread(c->buf, 1, (size_t)sz, f) != (size_t)sz) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	while (off < (size_t)sz) {
		if (sz - (long)off < 4)
			return -EINVAL;
		uint32_t n = rd32(c->buf + off);
		off += 4;
		if (c->ncv == cap) {
			cap = cap ? cap * 2 : 16;
			c->cv = realloc(c->cv, cap * sizeof(*c->cv));
			if (!c->cv)
				return -ENOMEM;
		}
		struct conv *cv = &c->cv[c->ncv++];
		cv->n = n;
		cv->pc = calloc(n ? n : 1, sizeof(*cv->pc));
		if (!cv->pc)
			return -ENOMEM;
		for (uint32_t i = 0; i < n; i++) {
			if ((size_t)sz - off < 6)
				return -EINVAL;
			struct piece *p = &cv->pc[i];
			p->dir = c->buf[off];
			p->eof = c->buf[off + 1];
			p->len = rd32(c->buf + off + 2);
			off += 6;
			if ((size_t)sz - off < p->len || p->dir > 1)
				return -EINVAL;
			/* a private heap copy of exactly len bytes per piece, like
			 * a capture buffer */
			uint8_t *b = malloc(p->len ? p->len : 1);
			if (!b)
				return -ENOMEM;
			memcpy(b, c->buf + off, p->len);
			p->p = b;
			off += p->len;
			c->bytes += p->len;
		}
	}
	return 0;
}

/* ---- ztrace ------------------------------------------------------------ */

static void zt_emit(void *ctx, const struct zt_msg *m)
{
	struct counts *k = ctx;

	if (m->kind == ZT_MSG_REQUEST)
		k->reqs++;
	else
		k->resps++;
	k->sum += (uint64_t)((m->flags & ZT_MF_HAS_CODE) ? m->response_code : 0) +
		  (unsigned char)m->request_type[0] + (unsigned char)m->request_resource[0] +
		  (unsigned char)m->request_domain[0];
}

static void run_ztrace(const struct corpus *c, void *state, struct counts *k)
{
	const struct zt_proto_ops *ops = &zt_http1_ops;

	for (size_t i = 0; i < c->ncv; i++) {
		const struct conv *cv = &c->cv[i];
		uint64_t t = 1000;
		uint32_t seq[2] = {1000, 500000};

		ops->init(state);
		for (uint32_t j = 0; j < cv->n; j++) {
			const struct piece *p = &cv->pc[j];
			struct zt_seg seg = {
			    .data = p->p,
			    .caplen = p->len,
			    .len = p->len,
			    .enter_ns = t,
			    .exit_ns = t + 1000,
			    .tid = 42,
			    .seq = seq[p->dir],
			    .has_seq = true,
			    .dir = p->dir ? ZT_DIR_INGRESS : ZT_DIR_EGRESS,
			    .eof = p->eof,
			};
			ops->feed(state, &seg, zt_emit, k);
			seq[p->dir] += p->len;
			t += 2000;
		}
		ops->finish(state, t, zt_emit, k);
	}
}

/* ---- libhttp-parser ----------------------------------------------------- */

#define LH_MAX_HEADERS 64
#define LH_FIFO 32

struct lh_span {
	const char *p;
	size_t n;
};

struct lh_dir {
	http_parser p;
	struct lh_ctx *ctx;
	bool stopped;
	bool in_value;
	size_t nhdr;
	struct lh_span name[LH_MAX_HEADERS], value[LH_MAX_HEADERS];
	struct lh_span reason;
	char path[ZT_RESOURCE_LEN];
	size_t path_n;
	char host[ZT_DOMAIN_LEN];
	char xrid[ZT_XRID_LEN];
	struct lh_span traceparent;
	char method[ZT_TYPE_LEN];
	int status;
};

struct lh_ctx {
	struct lh_dir d[2]; /* 0: requests, 1: responses */
	uint8_t fifo[LH_FIFO];
	unsigned fifo_head, fifo_n;
	struct counts *k;
};

static void lh_copy(char *dst, size_t dstsz, const char *src, size_t n)
{
	if (n > dstsz - 1)
		n = dstsz - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static int lh_begin(http_parser *p)
{
	struct lh_dir *d = p->data;

	d->nhdr = 0;
	d->in_value = false;
	d->path_n = 0;
	d->path[0] = d->host[0] = d->xrid[0] = d->method[0] = '\0';
	d->reason = (struct lh_span){0};
	d->traceparent = (struct lh_span){0};
	d->status = 0;
	return 0;
}

static int lh_url(http_parser *p, const char *at, size_t n)
{
	struct lh_dir *d = p->data;
	size_t room = sizeof(d->path) - 1 - d->path_n;

	if (n > room)
		n = room;
	memcpy(d->path + d->path_n, at, n);
	d->path_n += n;
	d->path[d->path_n] = '\0';
	return 0;
}

static int lh_status(http_parser *p, const char *at, size_t n)
{
	struct lh_dir *d = p->data;

	if (!d->reason.p)
		d->reason = (struct lh_span){at, n};
	else
		d->reason.n += n;
	return 0;
}

static int lh_field(http_parser *p, const char *at, size_t n)
{
	struct lh_dir *d = p->data;

	if (d->in_value || d->nhdr == 0) {
		/* a new header */
		d->in_value = false;
		if (d->nhdr == LH_MAX_HEADERS)
			return 0;
		d->name[d->nhdr] = (struct lh_span){at, n};
		d->value[d->nhdr] = (struct lh_span){0};
		d->nhdr++;
	} else if (d->nhdr <= LH_MAX_HEADERS) {
		d->name[d->nhdr - 1].n += n; /* continued across execute() calls */
	}
	return 0;
}

static int lh_value(http_parser *p, const char *at, size_t n)
{
	struct lh_dir *d = p->data;

	d->in_value = true;
	if (d->nhdr == 0)
		return 0;
	struct lh_span *v = &d->value[d->nhdr - 1];
	if (!v->p)
		*v = (struct lh_span){at, n};
	else
		v->n += n;
	return 0;
}

static bool lh_is(struct lh_span s, const char *lit, size_t litn)
{
	return s.n == litn && strncasecmp(s.p, lit, litn) == 0;
}

static int lh_headers_done(http_parser *p)
{
	struct lh_dir *d = p->data;
	struct lh_ctx *c = d->ctx;

	for (size_t i = 0; i < d->nhdr; i++) {
		struct lh_span nm = d->name[i], v = d->value[i];
		switch (tolower((unsigned char)nm.p[0])) {
		case 'h':
			if (lh_is(nm, "host", 4) && !d->host[0])
				lh_copy(d->host, sizeof(d->host), v.p, v.n);
			break;
		case 't':
			if (lh_is(nm, "traceparent", 11) && !d->traceparent.p)
				d->traceparent = v;
			break;
		case 'x':
			if (lh_is(nm, "x-request-id", 12) && !d->xrid[0])
				lh_copy(d->xrid, sizeof(d->xrid), v.p, v.n);
			break;
		}
	}
	if (p->type == HTTP_REQUEST) {
		const char *m = http_method_str((enum http_method)p->method);
		lh_copy(d->method, sizeof(d->method), m, strlen(m));
		return 0;
	}
	d->status = (int)p->status_code;
	if (d->status < 200)
		return 0; /* interim: the final response follows */
	uint8_t pend = 0;
	if (c->fifo_n) {
		pend = c->fifo[c->fifo_head];
		c->fifo_head = (c->fifo_head + 1) % LH_FIFO;
		c->fifo_n--;
	}
	return pend ? 1 : 0; /* 1: no body (response to HEAD) */
}

static int lh_complete(http_parser *p)
{
	struct lh_dir *d = p->data;
	struct lh_ctx *c = d->ctx;

	if (p->type == HTTP_REQUEST) {
		c->k->reqs++;
		if (c->fifo_n < LH_FIFO) {
			c->fifo[(c->fifo_head + c->fifo_n) % LH_FIFO] = p->method == HTTP_HEAD;
			c->fifo_n++;
		}
	} else {
		c->k->resps++;
	}
	c->k->sum += (uint64_t)d->status + (unsigned char)d->method[0] + (unsigned char)d->path[0] +
		     (unsigned char)d->host[0];
	return 0;
}

static const http_parser_settings lh_settings = {
    .on_message_begin = lh_begin,
    .on_url = lh_url,
    .on_status = lh_status,
    .on_header_field = lh_field,
    .on_header_value = lh_value,
    .on_headers_complete = lh_headers_done,
    .on_message_complete = lh_complete,
};

static void run_libhttp(const struct corpus *c, struct lh_ctx *x, struct counts *k)
{
	for (size_t i = 0; i < c->ncv; i++) {
		const struct conv *cv = &c->cv[i];

		x->k = k;
		x->fifo_head = x->fifo_n = 0;
		for (int dir = 0; dir < 2; dir++) {
			struct lh_dir *d = &x->d[dir];
			http_parser_init(&d->p, dir ? HTTP_RESPONSE : HTTP_REQUEST);
			d->p.data = d;
			d->ctx = x;
			d->stopped = false;
			d->nhdr = 0;
		}
		for (uint32_t j = 0; j < cv->n; j++) {
			const struct piece *pc = &cv->pc[j];
			struct lh_dir *d = &x->d[pc->dir];

			if (d->stopped)
				continue;
			size_t used = http_parser_execute(&d->p, &lh_settings, (const char *)pc->p, pc->len);
			if (HTTP_PARSER_ERRNO(&d->p) != HPE_OK || d->p.upgrade || (pc->len && used != pc->len))
				d->stopped = true;
		}
	}
}

int main(int argc, char **argv)
{
	struct corpus c = {0};
	struct counts first = {0}, k;
	void *state = NULL;
	struct lh_ctx *lh = NULL;
	int err;

	if (argc != 4 || (strcmp(argv[2], "ztrace") && strcmp(argv[2], "libhttp"))) {
		fprintf(stderr, "usage: parser_bench CORPUS ztrace|libhttp SECONDS\n");
		return 2;
	}
	bool zt = strcmp(argv[2], "ztrace") == 0;
	double secs = atof(argv[3]);
	err = load(argv[1], &c);
	if (err) {
		fprintf(stderr, "parser_bench: cannot load %s: %s\n", argv[1], strerror(-err));
		return 1;
	}
	if (zt)
		state = calloc(1, zt_http1_ops.state_size);
	else
		lh = calloc(1, sizeof(*lh));
	if (!state && !lh)
		return 1;

	/* warm-up pass, which also fixes the message counts */
	if (zt)
		run_ztrace(&c, state, &first);
	else
		run_libhttp(&c, lh, &first);

	uint64_t passes = 0;
	double t0 = now_s(), t1;
	do {
		/* batches of passes between clock reads */
		for (int b = 0; b < 64; b++) {
			memset(&k, 0, sizeof(k));
			if (zt)
				run_ztrace(&c, state, &k);
			else
				run_libhttp(&c, lh, &k);
			if (k.reqs != first.reqs || k.resps != first.resps || k.sum != first.sum) {
				fprintf(stderr, "parser_bench: pass %llu counted differently\n",
					(unsigned long long)passes);
				return 1;
			}
			passes++;
		}
		t1 = now_s();
	} while (t1 - t0 < secs);

	double el = t1 - t0;
	uint64_t msgs = first.reqs + first.resps;
	printf("{\"parser\": \"%s\", \"passes\": %llu, \"seconds\": %.6f, \"conversations\": %zu,"
	       " \"bytes_per_pass\": %llu, \"requests_per_pass\": %llu, \"responses_per_pass\": %llu,"
	       " \"mb_per_s\": %.2f, \"msgs_per_s\": %.1f, \"state_bytes\": %zu}\n",
	       argv[2], (unsigned long long)passes, el, c.ncv, (unsigned long long)c.bytes,
	       (unsigned long long)first.reqs, (unsigned long long)first.resps,
	       (double)c.bytes * (double)passes / el / 1e6, (double)msgs * (double)passes / el,
	       zt ? zt_http1_ops.state_size : sizeof(*lh));
	return 0;
}
