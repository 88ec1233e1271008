/* SPDX-License-Identifier: MIT */
/*
 * evgen.h - builds raw kernel event records by hand for unit tests and
 * fuzzers: what bpf/ztrace.bpf.c would emit for one syscall.
 */
#ifndef ZT_EVGEN_H
#define ZT_EVGEN_H

#include <stdint.h>
#include <string.h>

#include "bpf/events.h"

/* Fills buf (>= ZT_EVENT_MAX_SIZE) with a data event; returns its size. */
static inline size_t evgen_data(uint8_t *buf, uint64_t sk, uint32_t pid, uint32_t tid, const char *comm,
				uint8_t dir, uint64_t ts, uint32_t seq, const void *payload, uint32_t caplen,
				uint64_t bytes, uint16_t lport, uint16_t rport)
{
	struct zt_data_ev *e = (struct zt_data_ev *)buf;

	memset(e, 0, sizeof(*e));
	e->hdr.type = ZT_EV_DATA;
	e->hdr.size = (uint32_t)(sizeof(*e) + caplen);
	e->hdr.ts_ns = ts + 500;
	e->hdr.pid = pid;
	e->hdr.tid = tid;
	strncpy(e->hdr.comm, comm, sizeof(e->hdr.comm) - 1);
	e->enter_ns = ts;
	e->exit_ns = ts + 500;
	e->sk = sk;
	e->sock_ino = sk ^ 0x5a5a;
	e->bytes = bytes;
	e->netns = 4026531840u;
	e->fd = 5;
	e->tcp_seq = seq;
	e->flags = ZT_DF_HAS_SEQ | (caplen < bytes ? ZT_DF_TRUNCATED : 0) | (bytes == 0 ? ZT_DF_EOF : 0);
	e->cap_len = caplen;
	e->family = 2;
	e->l4 = 6;
	e->lport = lport;
	e->rport = rport;
	e->dir = dir;
	e->syscall = dir == ZT_DIR_EGRESS ? ZT_SYS_WRITE : ZT_SYS_READ;
	e->laddr[10] = e->laddr[11] = 0xff;
	e->laddr[12] = 127;
	e->laddr[15] = 1;
	memcpy(e->raddr, e->laddr, 16);
	if (caplen)
		memcpy(buf + sizeof(*e), payload, caplen);
	return e->hdr.size;
}

static inline size_t evgen_close(uint8_t *buf, uint64_t sk, uint64_t ts)
{
	struct zt_sock_ev *e = (struct zt_sock_ev *)buf;

	memset(e, 0, sizeof(*e));
	e->hdr.type = ZT_EV_SOCK_STATE;
	e->hdr.size = sizeof(*e);
	e->hdr.ts_ns = ts;
	e->sk = sk;
	e->oldstate = 8;
	e->newstate = ZT_TCP_CLOSE;
	e->family = 2;
	return sizeof(*e);
}

#endif /* ZT_EVGEN_H */
