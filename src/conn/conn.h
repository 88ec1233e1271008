/* SPDX-License-Identifier: MIT */
/*
 * conn.h - the connection table: one entry per traced conversation, keyed by
 * the kernel's socket identity, with its lifecycle, labels and L4 counters.
 *
 * Key: (struct sock address, socket inode) names a socket while it is open;
 * the inode tells a reused struct sock apart (the old entry is closed as
 * ZT_CLOSE_REUSED). The socket lives in one network namespace, so the key
 * implies netns. TCP and connected UDP: one entry per socket. Unconnected
 * UDP (a DNS server answering many clients on one socket): one entry per
 * peer, the peer address and port joining the key.
 *
 * Lifecycle: an entry opens with the socket's first data event, closes on the
 * kernel's TCP CLOSE state change, after idle_timeout without events, when
 * its struct sock is reused, or when a full table evicts the least recently
 * active entry. Every close reaches the owner's on_close callback first (it
 * completes what the close delimits), then the entry's memory is reused.
 *
 * Memory is bounded by design, allocated at creation, never per event:
 *   max_conns * sizeof(struct zt_conn)               the entries
 *   + pend_cap * (sizeof(struct zt_pend) + pend_size) pending requests
 *   + 2 * max_conns pointers                          hash buckets
 * Pending requests come from one pool of pend_cap items of pend_size bytes
 * shared by all entries (an entry holds at most max_pending of them); an
 * allocation from an empty pool fails and the caller counts it. Parser
 * state (owned by the session) adds at most max_conns * the largest
 * protocol state. zt_conn_table_mem() reports the bound.
 *
 * The layer knows no protocol: the entry carries an opaque parser state
 * pointer and protocol id for its owner (the session).
 *
 * Return convention: pointers, NULL on failure; counters never fail.
 */
#ifndef ZT_CONN_H
#define ZT_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf/events.h"

enum zt_conn_role { ZT_ROLE_UNKNOWN = 0, ZT_ROLE_CLIENT = 1, ZT_ROLE_SERVER = 2 };

/* Why an entry closed (counted per cause in zt_conn_stats). */
enum zt_close_reason {
	ZT_CLOSE_TCP = 0,     /* the kernel reported TCP_CLOSE */
	ZT_CLOSE_IDLE = 1,    /* no event for idle_timeout */
	ZT_CLOSE_EVICTED = 2, /* the table was full */
	ZT_CLOSE_REUSED = 3,  /* the struct sock now belongs to a new socket */
	ZT_CLOSE_FLUSH = 4,   /* the pipeline is stopping */
};

/* One pending request; the payload (pend_size bytes) follows the header. */
struct zt_pend {
	struct zt_pend *next;
	_Alignas(8) unsigned char data[];
};

struct zt_conn_key {
	uint64_t sk, ino;
	uint8_t peer[16]; /* unconnected UDP only, else zero */
	uint16_t peer_port;
};

struct zt_conn {
	struct zt_conn_key key;
	struct zt_conn *hnext;         /* hash chain */
	struct zt_conn *lprev, *lnext; /* LRU list, most recent at head */
	uint64_t first_ns, last_ns;
	uint32_t pid, netns;
	char comm[ZT_COMM_LEN];
	uint16_t family;
	uint8_t l4;
	uint8_t role; /* enum zt_conn_role */
	uint8_t laddr[16], raddr[16];
	uint16_t lport, rport;
	/* L4 counters, by enum zt_dir; the later flow metrics read them */
	uint64_t bytes[2];
	uint64_t syscalls[2]; /* data events: one per syscall, or per mmsg message */
	uint64_t messages[2]; /* application messages parsed */
	/* owner's (the session's) per-connection state */
	uint8_t l7;           /* enum zt_l7 once inferred */
	uint8_t infer_tries;
	bool no_proto;        /* given up: nothing matched the first bytes */
	bool nic;             /* its events come from a network tap (ZT_DF_NIC) */
	bool tls;             /* its data is TLS plaintext (ZT_DF_TLS): ciphertext ignored */
	void *pstate;         /* parser state */
	void *stash;          /* a short first segment kept for inference */
	uint32_t skip_seq[2]; /* last body end told to the kernel, by direction */
	struct zt_pend *phead, *ptail;
	uint32_t npend;
	uint32_t nexch; /* exchanges seen: makes span uids unique */
};

struct zt_conn_cfg {
	uint32_t max_conns;       /* entries (0: 16384) */
	uint32_t max_pending;     /* pending requests per entry (0: 64) */
	uint32_t pend_cap;        /* pending requests in all (0: 16384) */
	size_t pend_size;         /* bytes per pending request */
	uint64_t idle_timeout_ns; /* (0: 120 s) */
};

struct zt_conn_stats {
	uint64_t opened;
	uint64_t closed[5];   /* by enum zt_close_reason */
	uint64_t pend_in_use, pend_pool_empty;
};

struct zt_conn_table;
typedef void (*zt_conn_close_fn)(void *ctx, struct zt_conn *c, enum zt_close_reason why, uint64_t now_ns);

struct zt_conn_table *zt_conn_table_new(const struct zt_conn_cfg *cfg, zt_conn_close_fn on_close, void *ctx);
void zt_conn_table_free(struct zt_conn_table *t); /* closes nothing: flush first */
/* The entry of a data event, created when new (*created set), after closing
 * a reused socket's entry or evicting the least recent one. Moves it to the
 * head of the LRU list and refreshes pid/comm/last_ns; never NULL. */
struct zt_conn *zt_conn_get(struct zt_conn_table *t, const struct zt_data_ev *ev, bool *created);
/* Closes the entries of a kernel socket (TCP CLOSE). */
void zt_conn_close_sock(struct zt_conn_table *t, uint64_t sk, uint64_t now_ns);
/* Closes the entries idle since before now_ns - idle_timeout. */
void zt_conn_expire(struct zt_conn_table *t, uint64_t now_ns);
void zt_conn_close_all(struct zt_conn_table *t, uint64_t now_ns);
uint32_t zt_conn_count(const struct zt_conn_table *t);
const struct zt_conn_stats *zt_conn_stats(const struct zt_conn_table *t);
const struct zt_conn_cfg *zt_conn_cfg(const struct zt_conn_table *t);
/* The memory bound stated above, in bytes, for this table's configuration. */
size_t zt_conn_table_mem(const struct zt_conn_table *t);

/* Pending requests of an entry: a FIFO list. zt_pend_push fails (NULL) when
 * the pool is empty (counted) -- the entry's own limit is the caller's. */
struct zt_pend *zt_pend_push(struct zt_conn_table *t, struct zt_conn *c);
/* Unlinks p (prev: its predecessor, NULL for the head) and returns it to
 * the pool; p's data must have been used before. */
void zt_pend_remove(struct zt_conn_table *t, struct zt_conn *c, struct zt_pend *prev, struct zt_pend *p);

#endif /* ZT_CONN_H */
