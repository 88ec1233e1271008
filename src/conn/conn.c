/* SPDX-License-Identifier: MIT */
#include "conn/conn.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "util/hash.h"

struct zt_conn_table {
	struct zt_conn_cfg cfg;
	zt_conn_close_fn on_close;
	void *ctx;
	struct zt_conn_stats st;
	struct zt_conn *pool; /* cfg.max_conns entries */
	struct zt_conn *free; /* free entries, chained by hnext */
	struct zt_conn **buckets;
	uint32_t nbuckets; /* power of two */
	struct zt_conn *lru_head, *lru_tail;
	uint32_t nconns;
	/* pending pool: items are handed out from `bump` until it reaches
	 * pend_cap, then from the free list, so untouched items cost no
	 * resident memory */
	unsigned char *pend_mem;
	size_t pend_stride;
	uint32_t pend_bump;
	struct zt_pend *pend_free;
};

struct zt_conn_table *zt_conn_table_new(const struct zt_conn_cfg *cfg, zt_conn_close_fn on_close, void *ctx)
{
	struct zt_conn_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->cfg = *cfg;
	if (!t->cfg.max_conns)
		t->cfg.max_conns = 16384;
	if (!t->cfg.max_pending)
		t->cfg.max_pending = 64;
	if (!t->cfg.pend_cap)
		t->cfg.pend_cap = 16384;
	if (!t->cfg.idle_timeout_ns)
		t->cfg.idle_timeout_ns = 120ULL * 1000000000ULL;
	t->on_close = on_close;
	t->ctx = ctx;
	t->nbuckets = 1;
	while (t->nbuckets < t->cfg.max_conns * 2)
		t->nbuckets <<= 1;
	t->pend_stride = (sizeof(struct zt_pend) + t->cfg.pend_size + 7) & ~(size_t)7;
	t->pool = calloc(t->cfg.max_conns, sizeof(*t->pool));
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	t->pend_mem = calloc(t->cfg.pend_cap, t->pend_stride);
	if (!t->pool || !t->buckets || !t->pend_mem) {
		zt_conn_table_free(t);
		return NULL;
	}
	for (uint32_t i = t->cfg.max_conns; i-- > 0;) {
		t->pool[i].hnext = t->free;
		t->free = &t->pool[i];
	}
	return t;
}

void zt_conn_table_free(struct zt_conn_table *t)
{
	if (!t)
		return;
	free(t->pend_mem);
	free(t->buckets);
	free(t->pool);
	free(t);
}

uint32_t zt_conn_count(const struct zt_conn_table *t)
{
	return t->nconns;
}

const struct zt_conn_stats *zt_conn_stats(const struct zt_conn_table *t)
{
	return &t->st;
}

const struct zt_conn_cfg *zt_conn_cfg(const struct zt_conn_table *t)
{
	return &t->cfg;
}

size_t zt_conn_table_mem(const struct zt_conn_table *t)
{
	return (size_t)t->cfg.max_conns * sizeof(struct zt_conn) + (size_t)t->cfg.pend_cap * t->pend_stride +
	       (size_t)t->nbuckets * sizeof(struct zt_conn *);
}

/* ---- keys and lists ---- */

static uint32_t bucket_of(const struct zt_conn_table *t, uint64_t sk)
{
	/* by sk alone: all peers of an unconnected UDP socket share a chain,
	 * which zt_conn_close_sock walks */
	return (uint32_t)zt_mix64(sk) & (t->nbuckets - 1);
}

static bool key_eq(const struct zt_conn_key *a, const struct zt_conn_key *b)
{
	return a->sk == b->sk && a->ino == b->ino && a->peer_port == b->peer_port &&
	       memcmp(a->peer, b->peer, 16) == 0;
}

static void lru_unlink(struct zt_conn_table *t, struct zt_conn *c)
{
	if (c->lprev)
		c->lprev->lnext = c->lnext;
	else
		t->lru_head = c->lnext;
	if (c->lnext)
		c->lnext->lprev = c->lprev;
	else
		t->lru_tail = c->lprev;
	c->lprev = c->lnext = NULL;
}

static void lru_push_head(struct zt_conn_table *t, struct zt_conn *c)
{
	c->lprev = NULL;
	c->lnext = t->lru_head;
	if (t->lru_head)
		t->lru_head->lprev = c;
	t->lru_head = c;
	if (!t->lru_tail)
		t->lru_tail = c;
}

/* ---- pending pool ---- */

struct zt_pend *zt_pend_push(struct zt_conn_table *t, struct zt_conn *c)
{
	struct zt_pend *p = t->pend_free;

	if (p) {
		t->pend_free = p->next;
	} else if (t->pend_bump < t->cfg.pend_cap) {
		p = (struct zt_pend *)(void *)(t->pend_mem + (size_t)t->pend_bump++ * t->pend_stride);
	} else {
		t->st.pend_pool_empty++;
		return NULL;
	}
	t->st.pend_in_use++;
	p->next = NULL;
	if (c->ptail)
		c->ptail->next = p;
	else
		c->phead = p;
	c->ptail = p;
	c->npend++;
	return p;
}

void zt_pend_remove(struct zt_conn_table *t, struct zt_conn *c, struct zt_pend *prev, struct zt_pend *p)
{
	if (prev)
		prev->next = p->next;
	else
		c->phead = p->next;
	if (c->ptail == p)
		c->ptail = prev;
	c->npend--;
	t->st.pend_in_use--;
	p->next = t->pend_free;
	t->pend_free = p;
}

/* ---- lifecycle ---- */

static void conn_close(struct zt_conn_table *t, struct zt_conn *c, enum zt_close_reason why, uint64_t now_ns)
{
	t->on_close(t->ctx, c, why, now_ns);
	/* the owner may leave requests pending: they go back to the pool */
	while (c->phead)
		zt_pend_remove(t, c, NULL, c->phead);
	for (struct zt_conn **pp = &t->buckets[bucket_of(t, c->key.sk)]; *pp; pp = &(*pp)->hnext) {
		if (*pp == c) {
			*pp = c->hnext;
			break;
		}
	}
	lru_unlink(t, c);
	t->st.closed[why]++;
	memset(c, 0, sizeof(*c));
	c->hnext = t->free;
	t->free = c;
	t->nconns--;
}

static void key_of(const struct zt_data_ev *ev, struct zt_conn_key *k)
{
	memset(k, 0, sizeof(*k));
	k->sk = ev->sk;
	k->ino = ev->sock_ino;
	/* ev->rport of an unconnected UDP socket is the datagram's peer (the
	 * kernel side reads it from the syscall's sockaddr); a connected
	 * socket's peer is constant, so joining it to the key is harmless */
	if (ev->l4 == IPPROTO_UDP) {
		memcpy(k->peer, ev->raddr, 16);
		k->peer_port = ev->rport;
	}
}

/* A datagram of an unconnected UDP socket whose peer the syscall did not
 * say: recv()/read() or recvfrom() without an address buffer (python's
 * sock.sendto() then sock.recv()). It answers what the socket sent: the
 * entry of the same socket that waits for a response, else the one most
 * recently active. Keyed by its unknown peer it would open an entry of its
 * own and the request would never meet its answer. */
static bool peer_unknown(const struct zt_data_ev *ev)
{
	/* no datagram comes from port 0; the address is then :: or, from
	 * the socket's own labels, ::ffff:0.0.0.0 */
	return ev->l4 == IPPROTO_UDP && ev->rport == 0;
}

static struct zt_conn *peerless_match(struct zt_conn_table *t, uint32_t b, const struct zt_conn_key *k)
{
	struct zt_conn *best = NULL;

	for (struct zt_conn *c = t->buckets[b]; c; c = c->hnext) {
		if (c->key.sk != k->sk || c->key.ino != k->ino)
			continue;
		if (!best || (c->npend > 0 && best->npend == 0) ||
		    ((c->npend > 0) == (best->npend > 0) && c->last_ns > best->last_ns))
			best = c;
	}
	return best;
}

struct zt_conn *zt_conn_get(struct zt_conn_table *t, const struct zt_data_ev *ev, bool *created)
{
	struct zt_conn_key k;
	struct zt_conn *c, *next;
	uint32_t b = bucket_of(t, ev->sk);

	key_of(ev, &k);
	*created = false;
	for (c = t->buckets[b]; c; c = next) {
		next = c->hnext;
		if (c->key.sk != k.sk)
			continue;
		if (c->key.ino != k.ino) {
			/* The kernel reused the struct sock for a new socket. */
			conn_close(t, c, ZT_CLOSE_REUSED, ev->enter_ns);
			continue;
		}
		if (key_eq(&c->key, &k))
			break;
	}
	if (!c && peer_unknown(ev))
		c = peerless_match(t, b, &k);
	if (!c) {
		if (!t->free)
			conn_close(t, t->lru_tail, ZT_CLOSE_EVICTED, ev->enter_ns);
		c = t->free;
		t->free = c->hnext;
		memset(c, 0, sizeof(*c));
		c->key = k;
		c->first_ns = ev->enter_ns;
		c->netns = ev->netns;
		c->family = ev->family;
		c->l4 = (uint8_t)ev->l4;
		memcpy(c->laddr, ev->laddr, 16);
		memcpy(c->raddr, ev->raddr, 16);
		c->lport = ev->lport;
		c->rport = ev->rport;
		c->hnext = t->buckets[b];
		t->buckets[b] = c;
		lru_push_head(t, c);
		t->nconns++;
		t->st.opened++;
		*created = true;
	} else if (t->lru_head != c) {
		lru_unlink(t, c);
		lru_push_head(t, c);
	}
	c->last_ns = ev->exit_ns;
	c->pid = ev->hdr.pid;
	memcpy(c->comm, ev->hdr.comm, sizeof(c->comm));
	if (ev->dir <= ZT_DIR_INGRESS) {
		c->bytes[ev->dir] += ev->bytes;
		c->syscalls[ev->dir]++;
	}
	return c;
}

void zt_conn_close_sock(struct zt_conn_table *t, uint64_t sk, uint64_t now_ns)
{
	struct zt_conn *c, *next;

	for (c = t->buckets[bucket_of(t, sk)]; c; c = next) {
		next = c->hnext;
		if (c->key.sk == sk)
			conn_close(t, c, ZT_CLOSE_TCP, now_ns);
	}
}

void zt_conn_expire(struct zt_conn_table *t, uint64_t now_ns)
{
	while (t->lru_tail && t->lru_tail->last_ns + t->cfg.idle_timeout_ns < now_ns)
		conn_close(t, t->lru_tail, ZT_CLOSE_IDLE, now_ns);
}

void zt_conn_close_all(struct zt_conn_table *t, uint64_t now_ns)
{
	while (t->lru_tail)
		conn_close(t, t->lru_tail, ZT_CLOSE_FLUSH, now_ns);
}
