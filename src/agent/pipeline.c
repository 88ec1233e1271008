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

#include "util/num.h"

#define TICK_NS 200000000ULL  /* live: session idle check period */
#define WRITER_WAIT_MS 50     /* the writer's longest sleep */

struct zt_pipeline {
	struct zt_pipeline_cfg cfg;
	struct zt_source *src;
	struct zt_pipeline_stats st;
	bool live;
	/* queue: slots [head, head + count) mod cap hold spans */
	struct zt_span *q;
	uint32_t cap, head, count;
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

	if (!p)
		return NULL;
	p->cfg = *cfg;
	if (!p->cfg.queue_len)
		p->cfg.queue_len = 8192;
	if (!p->cfg.flush_ns)
		p->cfg.flush_ns = 200000000ULL;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->not_empty, NULL);
	pthread_cond_init(&p->not_full, NULL);
	if (p->cfg.threaded && p->cfg.sink_put) {
		p->cap = p->cfg.queue_len;
		p->q = calloc(p->cap, sizeof(*p->q));
		if (!p->q) {
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

static void sink_put(struct zt_pipeline *p, const struct zt_span *s)
{
	if (p->cfg.sink_put(p->cfg.sink_ctx, s))
		sink_failed(p, "writing spans failed");
	else /* the status line reads it from the reader thread */
		__atomic_fetch_add(&p->st.written, 1, __ATOMIC_RELAXED);
}

void zt_pipeline_span(void *pipeline, const struct zt_span *s)
{
	struct zt_pipeline *p = pipeline;

	__atomic_fetch_add(&p->st.spans, 1, __ATOMIC_RELAXED); /* zt_pipeline_span_offer counts too */
	if (!p->cfg.sink_put)
		return;
	if (!p->q) {
		sink_put(p, s);
		return;
	}
	pthread_mutex_lock(&p->mu);
	while (p->count == p->cap) {
		if (p->live || !p->writer_started) {
			/* the reader never waits on storage (DESIGN.md) */
			p->st.queue_full++;
			pthread_mutex_unlock(&p->mu);
			return;
		}
		pthread_cond_wait(&p->not_full, &p->mu);
	}
	zt_span_copy(&p->q[(p->head + p->count) % p->cap], s); /* used bytes only */
	p->count++;
	/* below half full the writer's timer is soon enough: a wakeup per
	 * span would cost a context switch per span */
	if (p->count == p->cap / 2)
		pthread_cond_signal(&p->not_empty);
	pthread_mutex_unlock(&p->mu);
}

int zt_pipeline_span_offer(struct zt_pipeline *p, const struct zt_span *s)
{
	int rc = 0;

	if (!p->q)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&p->mu);
	if (p->count == p->cap || p->stopping) {
		p->st.queue_full++;
		rc = -ENOSPC;
	} else {
		zt_span_copy(&p->q[(p->head + p->count) % p->cap], s); /* used bytes only */
		p->count++;
		__atomic_fetch_add(&p->st.spans, 1, __ATOMIC_RELAXED);
		if (p->count == p->cap / 2)
			pthread_cond_signal(&p->not_empty);
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

static void *writer_main(void *arg)
{
	struct zt_pipeline *p = arg;
	uint64_t last_flush = zt_clock_ns(CLOCK_MONOTONIC);
	bool dirty = false;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		if (p->count == 0 && !p->stopping) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += WRITER_WAIT_MS * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&p->not_empty, &p->mu, &ts);
		}
		uint32_t n = p->count, head = p->head;
		bool stopping = p->stopping;
		pthread_mutex_unlock(&p->mu);
		/* the reader writes only past head + count: these slots are ours */
		for (uint32_t i = 0; i < n; i++)
			sink_put(p, &p->q[(head + i) % p->cap]);
		dirty |= n > 0;
		if (stopping && p->count == n && p->cfg.sink_end) {
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
		p->head = (p->head + n) % p->cap;
		p->count -= n;
		if (n)
			pthread_cond_broadcast(&p->not_full);
		if (stopping && p->count == 0)
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
	free(p);
}
