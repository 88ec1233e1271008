/* SPDX-License-Identifier: MIT */
/*
 * ship_spool.h - the agent's on-disk spool: every batch is written here
 * (one file, the frame as sent) before it is sent, and deleted once the
 * server acknowledged it, so a killed agent (kill -9) or an absent server
 * loses nothing that reached the spool: a restarted agent sends it again.
 *
 * Files in DIR:
 *   agent-id               the agent's id (32 hex), made once: stable across restarts
 *   state                  "ACKED_SEQ ACKED_SPANS\n": the highest acknowledged seq
 *                          and the spans acknowledged so far (written before the
 *                          files it covers are deleted; tmp + fsync + rename)
 *   SEQ-NSPANS.zb          one batch frame (20-digit seq): written as .tmp,
 *                          fsync'd, renamed (the directory fsync'd too), so a
 *                          file with this name is whole and survives a power cut
 *   *.tmp                  a write cut by a crash: removed at open
 *   *.bad                  a spool file that failed its check at open (kept for a look)
 *
 * Bounded: the files take at most max_bytes; a batch that would go over is
 * refused (-ENOSPC) and the caller counts it. Seqs are given in order and
 * only to stored batches (no gaps).
 *
 * Thread safety: one writer (put) and one sender (first/next/read/ack) may
 * call at once; a mutex guards the index.
 * Return convention: 0 or a negative errno (message in err where given).
 */
#ifndef ZT_AGENT_SHIP_SPOOL_H
#define ZT_AGENT_SHIP_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "agent/ship_wire.h"

struct zt_spool;

struct zt_spool_stats {
	uint64_t batches, spans;     /* in the spool now */
	uint64_t bytes;              /* their file bytes */
	uint64_t acked_seq;          /* highest acknowledged */
	uint64_t acked_spans;        /* spans acknowledged over the spool's life */
	uint64_t next_seq;
	uint64_t corrupt;            /* files set aside at open (.bad) */
	uint64_t replayed;           /* batches found at open (from a previous run) */
};

int zt_spool_open(const char *dir, uint64_t max_bytes, struct zt_spool **out, char *err, size_t errsz);
const char *zt_spool_agent_id(const struct zt_spool *sp);
/* The seq the next stored batch gets. */
uint64_t zt_spool_next_seq(struct zt_spool *sp);
/* Stores frame[0..len) (a batch encoded with seq zt_spool_next_seq())
 * holding nspans spans; the seq is then taken. -ENOSPC: over the bound,
 * nothing stored, the seq stays free. */
int zt_spool_put(struct zt_spool *sp, const uint8_t *frame, size_t len, uint32_t nspans);
/* The oldest stored seq after `after` (0: the first); 0 when none. */
uint64_t zt_spool_next_after(struct zt_spool *sp, uint64_t after);
/* The oldest seq stored, or the next seq when the spool is empty. */
uint64_t zt_spool_first_unacked(struct zt_spool *sp);
/* Reads batch seq's frame into out (appended). -ENOENT when gone. */
int zt_spool_read(struct zt_spool *sp, uint64_t seq, struct zt_wbuf *out);
/* Everything up to seq is acknowledged: recorded, then deleted. */
int zt_spool_ack(struct zt_spool *sp, uint64_t seq);
void zt_spool_stats(struct zt_spool *sp, struct zt_spool_stats *out);
void zt_spool_close(struct zt_spool *sp);

#endif /* ZT_AGENT_SHIP_SPOOL_H */
