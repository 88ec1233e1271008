/* SPDX-License-Identifier: MIT */
/* ingest_int.h - what the files of the ingest share (not for other layers). */
#ifndef ZT_SERVER_INGEST_INT_H
#define ZT_SERVER_INGEST_INT_H

#include <stddef.h>
#include <stdint.h>

/* Creates DIR and DIR/agents. */
int zt_ingest_state_init(const char *dir, char *err, size_t errsz);
/* The agent's durable seq, 0 when none is recorded. */
uint64_t zt_ingest_state_load(const char *dir, const char *agent_id);
/* Records it (tmp + fsync + rename). */
int zt_ingest_state_save(const char *dir, const char *agent_id, uint64_t seq);

/* Spans handed to the ingest thread by other threads (OTLP on the HTTP
 * workers): a bounded ring under a mutex, and an eventfd that wakes the
 * ingest's poll when the ring turns non-empty. offer never waits: a full
 * or closed ring refuses the span (-ENOSPC / -EAGAIN). */
struct zt_spanq;
struct zt_span;

/* cap spans (memory: cap * sizeof(struct zt_span), taken at creation). */
struct zt_spanq *zt_spanq_new(size_t cap);
void zt_spanq_free(struct zt_spanq *q);
/* The fd to poll for POLLIN (readable while spans wait). */
int zt_spanq_fd(const struct zt_spanq *q);
/* Any thread. 0, -ENOSPC (full, counted in *full), -EAGAIN (closed). */
int zt_spanq_offer(struct zt_spanq *q, const struct zt_span *s);
/* The ingest thread: copies the oldest span into *out; 1 when one was
 * taken, 0 when the ring is empty (and clears the eventfd). */
int zt_spanq_take(struct zt_spanq *q, struct zt_span *out);
/* From now on offer refuses (-EAGAIN); what was accepted can still be
 * taken. */
void zt_spanq_close(struct zt_spanq *q);
/* Spans refused because the ring was full. */
uint64_t zt_spanq_full(struct zt_spanq *q);

#endif /* ZT_SERVER_INGEST_INT_H */
