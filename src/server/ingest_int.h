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

#endif /* ZT_SERVER_INGEST_INT_H */
