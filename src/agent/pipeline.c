/* SPDX-License-Identifier: MIT */
/*
 * pipeline.c - the runner: the reader loop on the caller's thread, the span
 * queue, and the writer thread. See pipeline.h for the contract.
 */
#include "agent/pipeline.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/span_codec.h"
#include "util/num.h"

#define TICK_NS 200000000ULL  /* live: session idle check period */
#define WRITER_WAIT_MS 50     /* the writer's longest sleep */
#define QUEUE_BYTES (8u << 20) /* ~30k spans of ~250 bytes encoded */
#define QUEUE_BYTES_MIN (2 * ZT_SPAN_CODEC_MAX)
#define RELEASE_PARTS 16 /* the writer frees the ring in steps of 1/16 */

struct zt_pipeline {
	struct zt_pipeline_cfg cfg;
	struct zt_source *src;
	struct zt_pipeline_stats st;
	bool live;
	/* queue: a byte ring of encoded spans (model/span_codec.h). head and
	 * tail count bytes since the start (they never wrap); the records in
	 * [head, tail) wait for the writer, each at q + pos % cap, contiguous:
	 * q has ZT_SPAN_CODEC_MAX bytes past cap, so a record that starts
	 * before cap runs on into them, and the next one starts at its end
	 * less cap. A span is encoded in place only with ZT_SPAN_CODEC_MAX
	 * bytes free, which also keeps the bytes past cap of the record that
	 * last ran into them until the writer took it. */
	uint8_t *q;
	uint64_t cap, head, tail;
	struct zt_span scratch; /* the writer's decoded span (no record sink) */
	uint8_t *rec;           /* inline mode with only a record sink: one record */
	pthread_mutex_t mu;
	pthread_cond_t not_empty, not_full;
	pthread_t writer;
	bool writer_started, stopping;
	bool sink_failed;
	char errmsg[256];
};

static void set_err(char *err, size_t errsz, const char *what, const char *msg)
{
	if (err && errsz)
		snprintf(err, errsz, "%s%s%s", what, msg && msg[0] ? ": " : "", msg ? msg : "");
}

struct zt_pipeline *zt_pipeline_new(const struct zt_pipeline_cfg *cfg)
{
	struct zt_pipeline *p = calloc(1, sizeof(*p));
	bool sink = cfg->sink_put || cfg->sink_put_rec;

	if (!p)
		return NULL;
	p->cfg = *cfg;
	if (!p->cfg.queue_bytes)
		p->cfg.queue_bytes = QUEUE_BYTES;
	if (p->cfg.queue_bytes < QUEUE_BYTES_MIN)
		p->cfg.queue_bytes = QUEUE_BYTES_MIN;
	if (!p->cfg.flush_ns)
		p->cfg.flush_ns = 200000000ULL;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->not_empty, NULL);
	pthread_cond_init(&p->not_full, NULL);
	if (p->cfg.threaded && sink) {
		p->cap = p->cfg.queue_bytes;
		/* malloc: a large ring is mapped, its pages touched only as
		 * it fills */
		p->q = malloc(p->cap + ZT_SPAN_CODEC_MAX);
		if (!p->q) {
			zt_pipeline_free(p);
			return NULL;
		}
	} else if (sink && !p->cfg.sink_put) {
		p->rec = malloc(ZT_SPAN_CODEC_MAX);
		if (!p->rec) {
			zt_pipeline_free(p);
			return NULL;
		}
	}
	return p;
}

const struct zt_pipeline_stats *zt_pipeline_stats(struct zt_pipeline *p)
{
	return &p->st;
}

struct zt_source *zt_pipeline_source(struct zt_pipeline *p)
{
	return p->src;
}

/* Records the sink's first failure; the reader loop stops on it. */
static void sink_failed(struct zt_pipeline *p, const char *what)
{
	__atomic_fetch_add(&p->st.sink_errors, 1, __ATOMIC_RELAXED);
	if (!p->sink_failed) {
		set_err(p->errmsg, sizeof(p->errmsg), what, p->cfg.sink_errmsg ? p->cfg.sink_errmsg(p->cfg.sink_ctx) : "");
		__atomic_store_n(&p->sink_failed, true, __ATOMIC_RELEASE);
	}
}

static void put_done(struct zt_pipeline *p, int rc)
{
	if (rc)
		sink_failed(p, "writing spans failed");
	else /* the status line reads it from the reader thread */
		__atomic_fetch_add(&p->st.written, 1, __ATOMIC_RELAXED);
}

/* Inline mode: s straight to the sink, encoded when it takes records only. */
static void put_inline(struct zt_pipeline *p, const struct zt_span *s)
{
	if (p->cfg.sink_put) {
		put_done(p, p->cfg.sink_put(p->cfg.sink_ctx, s));
		return;
	}
	long n = zt_span_encode(s, p->rec, ZT_SPAN_CODEC_MAX);
	put_done(p, n < 0 ? (int)n : p->cfg.sink_put_rec(p->cfg.sink_ctx, p->rec, (size_t)n));
}

/* Encodes s at the ring's tail, under mu: false when the ring lacks the
 * room an encoding may take. */
static bool ring_put(struct zt_pipeline *p, const struct zt_span *s)
{
	uint64_t used = p->tail - p->head;
	long n;

	if (p->cap - used < ZT_SPAN_CODEC_MAX)
		return false;
	n = zt_span_encode(s, p->q + p->tail % p->cap, ZT_SPAN_CODEC_MAX);
	if (n <= 0) /* cannot happen: the room is there */
		return false;
	p->tail += (uint64_t)n;
	/* below half full the writer's timer is soon enough: a wakeup per
	 * span would cost a context switch per span */
	if (used < p->cap / 2 && used + (uint64_t)n >= p->cap / 2)
		pthread_cond_signal(&p->not_empty);
	return true;
}

void zt_pipeline_span(void *pipeline, const struct zt_span *s)
{
	struct zt_pipeline *p = pipeline;

	__atomic_fetch_add(&p->st.spans, 1, __ATOMIC_RELAXED); /* zt_pipeline_span_offer counts too */
	if (!p->cfg.sink_put && !p->cfg.sink_put_rec)
		return;
	if (!p->q) {
		put_inline(p, s);
		return;
	}
	pthread_mutex_lock(&p->mu);
	while (!ring_put(p, s)) {
		if (p->live || !p->writer_started) {
			/* the reader never waits on storage (DESIGN.md) */
			p->st.queue_full++;
			break;
		}
		pthread_cond_wait(&p->not_full, &p->mu);
	}
	pthread_mutex_unlock(&p->mu);
}

int zt_pipeline_span_offer(struct zt_pipeline *p, const struct zt_span *s)
{
	int rc = 0;

	if (!p->q)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&p->mu);
	if (p->stopping || !ring_put(p, s)) {
		p->st.queue_full++;
		rc = -ENOSPC;
	} else {
		__atomic_fetch_add(&p->st.spans, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

int zt_pipeline_event(void *pipeline, const void *rec, size_t len)
{
	struct zt_pipeline *p = pipeline;
	const struct zt_event_hdr *h = rec;

	p->st.events++;
	if (len >= sizeof(*h) && h->ts_ns > p->st.last_ts)
		p->st.last_ts = h->ts_ns;
	return p->cfg.on_event ? p->cfg.on_event(p->cfg.stage_ctx, rec, len) : 0;
}

/* Hands the record at rec (avail bytes readable) to the sink: its size,
 * or a negative errno when it is not a record (a bug: the ring is ours). */
static long take_rec(struct zt_pipeline *p, const uint8_t *rec, size_t avail)
{
	struct zt_span_keys k;
	long n;

	if (p->cfg.sink_put_rec) {
		if (zt_span_keys(rec, avail, &k))
			return -EINVAL;
		put_done(p, p->cfg.sink_put_rec(p->cfg.sink_ctx, rec, k.size));
		return (long)k.size;
	}
	n = zt_span_decode(rec, avail, &p->scratch); /* one span, reused: stays in cache */
	if (n > 0)
		put_done(p, p->cfg.sink_put(p->cfg.sink_ctx, &p->scratch));
	return n;
}

static void *writer_main(void *arg)
{
	struct zt_pipeline *p = arg;
	uint64_t last_flush = zt_clock_ns(CLOCK_MONOTONIC);
	bool dirty = false;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		if (p->tail == p->head && !p->stopping) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += WRITER_WAIT_MS * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&p->not_empty, &p->mu, &ts);
		}
		uint64_t head = p->head, tail = p->tail, pos = head;
		/* once stopping, nothing is queued any more: tail is the last */
		bool stopping = p->stopping;
		pthread_mutex_unlock(&p->mu);
		/* the producers write only past tail: [head, tail) is ours */
		while (pos < tail) {
			uint64_t at = pos % p->cap;
			uint64_t avail = tail - pos < p->cap + ZT_SPAN_CODEC_MAX - at ? tail - pos
										      : p->cap + ZT_SPAN_CODEC_MAX - at;
			long n = take_rec(p, p->q + at, (size_t)avail);
			if (n <= 0) {
				sink_failed(p, "the span queue is damaged");
				pos = tail;
				break;
			}
			pos += (uint64_t)n;
			/* give the room back as the batch goes, not at its end:
			 * a batch of a full ring takes the sink a while, and the
			 * reader would find it full all that time */
			if (pos - p->head >= p->cap / RELEASE_PARTS && pos < tail) {
				pthread_mutex_lock(&p->mu);
				p->head = pos;
				pthread_cond_broadcast(&p->not_full);
				pthread_mutex_unlock(&p->mu);
			}
		}
		dirty |= tail != head;
		if (stopping && p->cfg.sink_end) {
			if (p->cfg.sink_end(p->cfg.sink_ctx))
				sink_failed(p, "writing spans failed");
			dirty = true;
		} else if (p->cfg.sink_tick) {
			p->cfg.sink_tick(p->cfg.sink_ctx, zt_clock_ns(CLOCK_REALTIME));
			dirty = true; /* a tick may have released spans */
		}
		uint64_t now = zt_clock_ns(CLOCK_MONOTONIC);
		if (dirty && (stopping || now - last_flush >= p->cfg.flush_ns)) {
			if (p->cfg.sink_flush && p->cfg.sink_flush(p->cfg.sink_ctx))
				sink_failed(p, "writing spans failed");
			last_flush = now;
			dirty = false;
		}
		pthread_mutex_lock(&p->mu);
		p->head = tail;
		if (tail != head)
			pthread_cond_broadcast(&p->not_full);
		if (stopping)
			break;
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int zt_pipeline_run(struct zt_pipeline *p, struct zt_source *src, char *err, size_t errsz)
{
	uint64_t t0 = zt_clock_ns(CLOCK_MONOTONIC), last_tick = t0, last_status = t0;
	int rc = 0, n;

	p->src = src;
	p->live = src->live;
	if (p->q) {
		if (pthread_create(&p->writer, NULL, writer_main, p)) {
			set_err(err, errsz, "cannot start the writer thread", strerror(errno));
			return -EAGAIN;
		}
		p->writer_started = true;
	}
	while (!src->ended && !(p->cfg.stop && *p->cfg.stop)) {
		n = src->ops->poll(src, 100, err, errsz);
		if (n < 0) {
			rc = n;
			break;
		}
		uint64_t now = zt_clock_ns(CLOCK_MONOTONIC);
		if (p->cfg.on_tick) {
			if (!src->live) {
				/* idle timeouts follow the recording's clock */
				p->cfg.on_tick(p->cfg.stage_ctx, p->st.last_ts);
			} else if (now - last_tick >= TICK_NS) {
				p->cfg.on_tick(p->cfg.stage_ctx, now);
				last_tick = now;
			}
		}
		if (__atomic_load_n(&p->sink_failed, __ATOMIC_ACQUIRE)) {
			set_err(err, errsz, p->errmsg, NULL);
			rc = -EIO;
			break;
		}
		if (p->cfg.duration_ns && now - t0 >= p->cfg.duration_ns)
			break;
		if (p->cfg.on_status && p->cfg.status_ns && now - last_status >= p->cfg.status_ns) {
			p->cfg.on_status(p->cfg.status_ctx, p, (double)(now - last_status) / 1e9);
			last_status = now;
		}
	}
	/* What the kernel already queued belongs to this run. */
	if (src->live && rc == 0)
		(void)src->ops->poll(src, 0, NULL, 0);
	if (p->cfg.on_end)
		p->cfg.on_end(p->cfg.stage_ctx);
	if (p->writer_started) {
		pthread_mutex_lock(&p->mu);
		p->stopping = true;
		pthread_cond_signal(&p->not_empty);
		pthread_mutex_unlock(&p->mu);
		pthread_join(p->writer, NULL);
		p->writer_started = false;
	} else {
		if (p->cfg.sink_end && p->cfg.sink_end(p->cfg.sink_ctx))
			sink_failed(p, "writing spans failed");
		if (p->cfg.sink_flush && p->cfg.sink_flush(p->cfg.sink_ctx))
			sink_failed(p, "writing spans failed");
	}
	if (rc == 0 && p->sink_failed) {
		set_err(err, errsz, p->errmsg, NULL);
		rc = -EIO;
	}
	return rc;
}

void zt_pipeline_free(struct zt_pipeline *p)
{
	if (!p)
		return;
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->not_empty);
	pthread_cond_destroy(&p->not_full);
	free(p->q);
	free(p->rec);
	free(p);
}
