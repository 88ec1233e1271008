/* SPDX-License-Identifier: MIT */
/* ingest_spanq.c - the bounded hand-off of spans into the ingest thread
 * (ingest_int.h). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "model/span.h"
#include "server/ingest_int.h"

struct zt_spanq {
	pthread_mutex_t mu;
	struct zt_span *ring;
	size_t cap, head, count;
	bool closed;
	bool signalled; /* the eventfd holds a count: no write needed */
	uint64_t full;
	int efd;
};

struct zt_spanq *zt_spanq_new(size_t cap)
{
	struct zt_spanq *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->cap = cap ? cap : 1;
	q->ring = malloc(q->cap * sizeof(*q->ring));
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!q->ring || q->efd < 0) {
		if (q->efd >= 0)
			close(q->efd);
		free(q->ring);
		free(q);
		return NULL;
	}
	pthread_mutex_init(&q->mu, NULL);
	return q;
}

void zt_spanq_free(struct zt_spanq *q)
{
	if (!q)
		return;
	close(q->efd);
	pthread_mutex_destroy(&q->mu);
	free(q->ring);
	free(q);
}

int zt_spanq_fd(const struct zt_spanq *q)
{
	return q->efd;
}

int zt_spanq_offer(struct zt_spanq *q, const struct zt_span *s)
{
	int rc = 0;

	pthread_mutex_lock(&q->mu);
	if (q->closed) {
		rc = -EAGAIN;
	} else if (q->count == q->cap) {
		q->full++;
		rc = -ENOSPC;
	} else {
		q->ring[(q->head + q->count) % q->cap] = *s;
		q->count++;
		if (!q->signalled) {
			uint64_t one = 1;
			q->signalled = write(q->efd, &one, sizeof(one)) == sizeof(one);
		}
	}
	pthread_mutex_unlock(&q->mu);
	return rc;
}

int zt_spanq_take(struct zt_spanq *q, struct zt_span *out)
{
	int got = 0;

	pthread_mutex_lock(&q->mu);
	if (q->count) {
		*out = q->ring[q->head];
		q->head = (q->head + 1) % q->cap;
		q->count--;
		got = 1;
	} else if (q->signalled) {
		uint64_t v;
		(void)!read(q->efd, &v, sizeof(v));
		q->signalled = false;
	}
	pthread_mutex_unlock(&q->mu);
	return got;
}

void zt_spanq_close(struct zt_spanq *q)
{
	pthread_mutex_lock(&q->mu);
	q->closed = true;
	pthread_mutex_unlock(&q->mu);
}

uint64_t zt_spanq_full(struct zt_spanq *q)
{
	uint64_t v;

	pthread_mutex_lock(&q->mu);
	v = q->full;
	pthread_mutex_unlock(&q->mu);
	return v;
}
