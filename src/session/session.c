/* SPDX-License-Identifier: MIT */
#include "session/session.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/record.h"
#include "bpf/events.h"
#include "proto/proto.h"

enum conn_role { ROLE_UNKNOWN = 0, ROLE_CLIENT = 1, ROLE_SERVER = 2 };

/* A request waiting for its response. Nodes come from a free list. */
struct pend {
	struct pend *next;
	struct zt_msg m;
};

struct conn {
	uint64_t sk, ino;
	struct conn *hnext;         /* hash chain */
	struct conn *lprev, *lnext; /* LRU list, most recent at head */
	uint64_t last_ns;
	uint32_t pid, netns;
	char comm[ZT_COMM_LEN];
	uint16_t family;
	uint8_t l4;
	uint8_t role; /* enum conn_role */
	uint8_t laddr[16], raddr[16];
	uint16_t lport, rport;
	uint8_t infer_tries;
	bool no_proto;
	const struct zt_proto_ops *ops;
	void *pstate;
	struct pend *phead, *ptail;
	uint32_t npend;
	uint32_t nexch; /* exchanges seen: makes span uids unique */
	struct zt_session *s;
};

/* Per-thread syscall trace context (DeepFlow's syscall_trace_id): a thread
 * that reads a request on a server socket starts a new context; what it
 * writes on other sockets until it answers belongs to that context. */
enum tctx_state { TCTX_IDLE = 0, TCTX_IN_REQUEST = 1 };
struct tctx {
	uint32_t tid;
	uint32_t state;
	uint64_t id;
};
#define TCTX_SLOTS 65536u

/* Free lists of protocol state, one per protocol: connections come and go
 * fast, and their parser state is the largest thing they own. */
struct pstate_free {
	void *next;
};

struct zt_session {
	struct zt_session_cfg cfg;
	zt_span_sink_fn sink;
	void *sink_ctx;
	struct zt_session_stats st;
	struct conn *pool;    /* cfg.max_conns connections */
	struct conn *free;    /* free connections, chained by hnext */
	struct conn **buckets;
	uint32_t nbuckets;    /* power of two */
	struct conn *lru_head, *lru_tail;
	uint32_t nconns;
	struct pend *pend_free;
	uint64_t npend_alloc;
	void *pstate_free[ZT_L7__COUNT];
	struct tctx *tctx;
	uint64_t ctx_seq;
	uint64_t host_hash;
	uint64_t now_ns; /* latest event time seen */
};

#define INFER_TRIES 4 /* data segments a connection gets to be recognised */

static uint64_t mix64(uint64_t x)
{
	/* splitmix64 finaliser */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; s && *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

struct zt_session *zt_session_new(const struct zt_session_cfg *cfg, zt_span_sink_fn sink, void *sink_ctx)
{
	struct zt_session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->cfg = *cfg;
	if (!s->cfg.max_conns)
		s->cfg.max_conns = 16384;
	if (!s->cfg.max_pending)
		s->cfg.max_pending = 64;
	if (!s->cfg.idle_timeout_ns)
		s->cfg.idle_timeout_ns = 120ULL * 1000000000ULL;
	s->sink = sink;
	s->sink_ctx = sink_ctx;
	s->nbuckets = 1;
	while (s->nbuckets < s->cfg.max_conns * 2)
		s->nbuckets <<= 1;
	s->pool = calloc(s->cfg.max_conns, sizeof(*s->pool));
	s->buckets = calloc(s->nbuckets, sizeof(*s->buckets));
	s->tctx = calloc(TCTX_SLOTS, sizeof(*s->tctx));
	if (!s->pool || !s->buckets || !s->tctx) {
		zt_session_free(s);
		return NULL;
	}
	for (uint32_t i = s->cfg.max_conns; i-- > 0;) {
		s->pool[i].hnext = s->free;
		s->free = &s->pool[i];
	}
	s->host_hash = hash_str(cfg->host);
	return s;
}

const struct zt_session_stats *zt_session_stats(const struct zt_session *s)
{
	return &s->st;
}

/* ---- connection table ---- */

static uint32_t bucket_of(const struct zt_session *s, uint64_t sk)
{
	return (uint32_t)mix64(sk) & (s->nbuckets - 1);
}

static struct conn *conn_find(struct zt_session *s, uint64_t sk)
{
	for (struct conn *c = s->buckets[bucket_of(s, sk)]; c; c = c->hnext)
		if (c->sk == sk)
			return c;
	return NULL;
}

static void lru_unlink(struct zt_session *s, struct conn *c)
{
	if (c->lprev)
		c->lprev->lnext = c->lnext;
	else
		s->lru_head = c->lnext;
	if (c->lnext)
		c->lnext->lprev = c->lprev;
	else
		s->lru_tail = c->lprev;
	c->lprev = c->lnext = NULL;
}

static void lru_push_head(struct zt_session *s, struct conn *c)
{
	c->lprev = NULL;
	c->lnext = s->lru_head;
	if (s->lru_head)
		s->lru_head->lprev = c;
	s->lru_head = c;
	if (!s->lru_tail)
		s->lru_tail = c;
}

static struct pend *pend_alloc(struct zt_session *s)
{
	struct pend *p = s->pend_free;

	if (p) {
		s->pend_free = p->next;
		return p;
	}
	s->npend_alloc++;
	return malloc(sizeof(*p));
}

static void pend_release(struct zt_session *s, struct pend *p)
{
	p->next = s->pend_free;
	s->pend_free = p;
}

static void *pstate_get(struct zt_session *s, const struct zt_proto_ops *ops)
{
	struct pstate_free *f = s->pstate_free[ops->id];
	void *st;

	if (f) {
		s->pstate_free[ops->id] = f->next;
		st = f;
	} else {
		st = malloc(ops->state_size < sizeof(*f) ? sizeof(*f) : ops->state_size);
		if (!st)
			return NULL;
	}
	memset(st, 0, ops->state_size);
	if (ops->init)
		ops->init(st);
	return st;
}

static void pstate_put(struct zt_session *s, const struct zt_proto_ops *ops, void *st)
{
	struct pstate_free *f = st;
	f->next = s->pstate_free[ops->id];
	s->pstate_free[ops->id] = f;
}

/* ---- spans ---- */

static void to_epoch(const struct zt_session *s, uint64_t *ns)
{
	if (*ns)
		*ns = (uint64_t)((int64_t)*ns + s->cfg.mono_to_real);
}

static uint8_t status_class(int code)
{
	if (code <= 0)
		return ZT_RS_UNKNOWN;
	if (code >= 500)
		return ZT_RS_SERVER_ERROR;
	if (code >= 400)
		return ZT_RS_CLIENT_ERROR;
	return ZT_RS_OK;
}

/* Makes the span of one exchange. resp == NULL: unanswered, ended at end_ns
 * with status `noresp_status`. */
static void emit_span(struct conn *c, const struct zt_msg *req, const struct zt_msg *resp, uint64_t end_ns,
		      uint8_t noresp_status)
{
	struct zt_session *s = c->s;
	struct zt_span sp;
	bool client = req->dir == ZT_DIR_EGRESS;
	char tmp[ZT_SPAN_ID_LEN];

	memset(&sp, 0, sizeof(sp));
	sp.tap_side = client ? ZT_TAP_CLIENT_PROCESS : ZT_TAP_SERVER_PROCESS;
	snprintf(sp.host, sizeof(sp.host), "%s", s->cfg.host ? s->cfg.host : "");
	sp.netns = c->netns;
	sp.pid = c->pid;
	memcpy(sp.process, c->comm, sizeof(sp.process));
	sp.process[sizeof(sp.process) - 1] = '\0';
	sp.l7_protocol = c->ops ? c->ops->id : ZT_L7_UNKNOWN;
	memcpy(sp.version, req->version, sizeof(sp.version));
	memcpy(sp.request_type, req->method, sizeof(sp.request_type));
	memcpy(sp.request_domain, req->host, sizeof(sp.request_domain));
	memcpy(sp.request_resource, req->path, sizeof(sp.request_resource));
	if (c->ops && c->ops->endpoint)
		c->ops->endpoint(req, sp.endpoint, sizeof(sp.endpoint));
	sp.start_ns = req->start_ns;
	sp.end_ns = resp ? resp->end_ns : end_ns;
	if (sp.end_ns < sp.start_ns)
		sp.end_ns = sp.start_ns;
	sp.duration_ns = sp.end_ns - sp.start_ns;
	to_epoch(s, &sp.start_ns);
	to_epoch(s, &sp.end_ns);
	sp.tid_req = req->tid_start;
	sp.req_bytes = req->bytes;
	sp.syscall_trace_id_req = req->trace_ctx;
	memcpy(sp.x_request_id, req->x_request_id, sizeof(sp.x_request_id));
	memcpy(sp.trace_id, req->trace_id, sizeof(sp.trace_id));
	memcpy(sp.span_id, req->span_id, sizeof(sp.span_id));
	memcpy(sp.parent_span_id, req->parent_span_id, sizeof(sp.parent_span_id));
	sp.response_code = -1;
	sp.response_status = noresp_status;
	if (resp) {
		sp.tid_resp = resp->tid_start;
		sp.resp_bytes = resp->bytes;
		sp.response_code = resp->status > 0 ? resp->status : -1;
		sp.response_status = status_class(resp->status);
		memcpy(sp.response_exception, resp->exception, sizeof(sp.response_exception));
		sp.syscall_trace_id_resp = resp->trace_ctx;
		memcpy(sp.x_request_id_resp, resp->x_request_id, sizeof(sp.x_request_id_resp));
		if (!sp.trace_id[0])
			memcpy(sp.trace_id, resp->trace_id, sizeof(sp.trace_id));
		if (req->has_seq && resp->has_seq) {
			sp.flags |= ZT_SPAN_HAS_SEQ;
			sp.req_tcp_seq = req->seq;
			sp.resp_tcp_seq = resp->seq;
		}
		if (resp->flags & ZT_MF_TRUNCATED)
			sp.flags |= ZT_SPAN_TRUNCATED;
		if (resp->flags & ZT_MF_LOST_SYNC)
			sp.flags |= ZT_SPAN_LOST_SYNC;
	} else {
		sp.flags |= ZT_SPAN_NO_RESPONSE;
		if (req->has_seq) {
			/* resp_tcp_seq stays null; req seq still links the sides */
			sp.req_tcp_seq = req->seq;
		}
	}
	if (req->flags & ZT_MF_TRUNCATED)
		sp.flags |= ZT_SPAN_TRUNCATED;
	if (req->flags & ZT_MF_LOST_SYNC)
		sp.flags |= ZT_SPAN_LOST_SYNC;
	sp.family = c->family;
	sp.l4 = c->l4;
	if (client) {
		memcpy(sp.client_ip, c->laddr, 16);
		memcpy(sp.server_ip, c->raddr, 16);
		sp.client_port = c->lport;
		sp.server_port = c->rport;
	} else {
		memcpy(sp.client_ip, c->raddr, 16);
		memcpy(sp.server_ip, c->laddr, 16);
		sp.client_port = c->rport;
		sp.server_port = c->lport;
	}
	/* Deterministic uid: the same recording gives the same uids. */
	snprintf(tmp, sizeof(tmp), "%016llx",
		 (unsigned long long)mix64(s->host_hash ^ mix64(c->sk ^ mix64(c->ino + c->nexch++)) ^
					   mix64(req->start_ns + sp.tap_side)));
	memcpy(sp.span_uid, tmp, sizeof(sp.span_uid));
	s->st.spans++;
	s->sink(s->sink_ctx, &sp);
}

static void on_msg(void *ctx, const struct zt_msg *m)
{
	struct conn *c = ctx;
	struct zt_session *s = c->s;
	struct pend *p;

	if (m->flags & ZT_MF_TRUNCATED)
		s->st.truncated++;
	if (m->flags & ZT_MF_LOST_SYNC)
		s->st.lost_sync++;
	if (m->kind == ZT_MSG_REQUEST) {
		s->st.requests++;
		if (c->role == ROLE_UNKNOWN)
			c->role = m->dir == ZT_DIR_INGRESS ? ROLE_SERVER : ROLE_CLIENT;
		if (c->npend >= s->cfg.max_pending) {
			p = c->phead;
			c->phead = p->next;
			if (!c->phead)
				c->ptail = NULL;
			c->npend--;
			s->st.pending_overflow++;
			s->st.unanswered++;
			emit_span(c, &p->m, NULL, p->m.end_ns, ZT_RS_UNKNOWN);
			pend_release(s, p);
		}
		p = pend_alloc(s);
		if (!p) {
			s->st.pending_overflow++;
			return;
		}
		p->m = *m;
		p->next = NULL;
		if (c->ptail)
			c->ptail->next = p;
		else
			c->phead = p;
		c->ptail = p;
		c->npend++;
		return;
	}
	if (m->flags & ZT_MF_INTERIM) {
		s->st.interim++;
		return;
	}
	s->st.responses++;
	p = c->phead;
	if (!p) {
		s->st.orphan_responses++;
		return;
	}
	c->phead = p->next;
	if (!c->phead)
		c->ptail = NULL;
	c->npend--;
	emit_span(c, &p->m, m, 0, ZT_RS_UNKNOWN);
	pend_release(s, p);
}

/* Ends a connection: the parser emits what the end completes, requests
 * still waiting become unanswered spans, and the slot is freed. */
static void conn_close(struct zt_session *s, struct conn *c, uint64_t now_ns, uint8_t noresp_status)
{
	struct pend *p;

	if (c->ops && c->pstate) {
		if (c->ops->finish)
			c->ops->finish(c->pstate, now_ns, on_msg, c);
		pstate_put(s, c->ops, c->pstate);
	}
	while ((p = c->phead)) {
		c->phead = p->next;
		s->st.unanswered++;
		emit_span(c, &p->m, NULL, now_ns > p->m.end_ns ? now_ns : p->m.end_ns, noresp_status);
		pend_release(s, p);
	}
	/* unlink from hash */
	for (struct conn **pp = &s->buckets[bucket_of(s, c->sk)]; *pp; pp = &(*pp)->hnext) {
		if (*pp == c) {
			*pp = c->hnext;
			break;
		}
	}
	lru_unlink(s, c);
	memset(c, 0, sizeof(*c));
	c->hnext = s->free;
	s->free = c;
	s->nconns--;
}

static struct conn *conn_new(struct zt_session *s, const struct zt_data_ev *ev)
{
	struct conn *c;
	uint32_t b;

	if (!s->free) {
		/* Table full: the least recently active connection goes. */
		s->st.conns_evicted++;
		conn_close(s, s->lru_tail, s->now_ns, ZT_RS_UNKNOWN);
	}
	c = s->free;
	s->free = c->hnext;
	memset(c, 0, sizeof(*c));
	c->s = s;
	c->sk = ev->sk;
	c->ino = ev->sock_ino;
	c->netns = ev->netns;
	c->family = ev->family;
	c->l4 = (uint8_t)ev->l4;
	memcpy(c->laddr, ev->laddr, 16);
	memcpy(c->raddr, ev->raddr, 16);
	c->lport = ev->lport;
	c->rport = ev->rport;
	b = bucket_of(s, c->sk);
	c->hnext = s->buckets[b];
	s->buckets[b] = c;
	lru_push_head(s, c);
	s->nconns++;
	s->st.conns_opened++;
	return c;
}

static uint64_t thread_ctx(struct zt_session *s, const struct conn *c, const struct zt_data_ev *ev)
{
	struct tctx *t = &s->tctx[(uint32_t)mix64(ev->hdr.tid) & (TCTX_SLOTS - 1)];

	if (t->tid != ev->hdr.tid) {
		if (t->tid)
			s->st.ctx_collisions++;
		memset(t, 0, sizeof(*t));
		t->tid = ev->hdr.tid;
	}
	if (c->role == ROLE_SERVER && ev->bytes > 0) {
		if (ev->dir == ZT_DIR_INGRESS && t->state != TCTX_IN_REQUEST) {
			t->id = s->host_hash << 40 ^ ++s->ctx_seq;
			t->state = TCTX_IN_REQUEST;
		} else if (ev->dir == ZT_DIR_EGRESS) {
			t->state = TCTX_IDLE;
		}
	}
	return t->id;
}

static void on_data(struct zt_session *s, const struct zt_data_ev *ev)
{
	const uint8_t *payload = (const uint8_t *)(ev + 1);
	struct conn *c = conn_find(s, ev->sk);
	struct zt_seg seg;

	s->st.data_events++;
	if (c && c->ino != ev->sock_ino) {
		/* The kernel reused the struct sock for a new socket. */
		s->st.conns_reused++;
		conn_close(s, c, ev->enter_ns, ZT_RS_UNKNOWN);
		c = NULL;
	}
	if (!c)
		c = conn_new(s, ev);
	c->last_ns = ev->exit_ns;
	if (s->lru_head != c) {
		lru_unlink(s, c);
		lru_push_head(s, c);
	}
	c->pid = ev->hdr.pid;
	memcpy(c->comm, ev->hdr.comm, sizeof(c->comm));
	if (c->rport == 0 && ev->rport != 0) {
		/* unconnected UDP: the peer comes with each datagram */
		memcpy(c->raddr, ev->raddr, 16);
		c->rport = ev->rport;
	}
	if (c->no_proto) {
		s->st.segs_unclassified++;
		return;
	}
	if (!c->ops) {
		const struct zt_proto_ops *ops;
		if (ev->cap_len == 0)
			return;
		ops = zt_proto_infer(payload, ev->cap_len, ev->dir);
		if (!ops) {
			s->st.segs_unclassified++;
			if (++c->infer_tries >= INFER_TRIES) {
				c->no_proto = true;
				s->st.conns_unclassified++;
				if (s->cfg.on_unclassified && c->l4 == IPPROTO_TCP)
					s->cfg.on_unclassified(s->cfg.hook_ctx, c->sk, c->ino);
			}
			return;
		}
		c->pstate = pstate_get(s, ops);
		if (!c->pstate) {
			c->no_proto = true;
			return;
		}
		c->ops = ops;
		if (ops->first_kind) {
			int k = ops->first_kind(payload, ev->cap_len);
			if (k == ZT_MSG_REQUEST)
				c->role = ev->dir == ZT_DIR_INGRESS ? ROLE_SERVER : ROLE_CLIENT;
			else if (k == ZT_MSG_RESPONSE)
				c->role = ev->dir == ZT_DIR_INGRESS ? ROLE_CLIENT : ROLE_SERVER;
		}
	}
	memset(&seg, 0, sizeof(seg));
	seg.data = payload;
	seg.caplen = ev->cap_len;
	seg.len = ev->bytes;
	seg.enter_ns = ev->enter_ns;
	seg.exit_ns = ev->exit_ns;
	seg.tid = ev->hdr.tid;
	seg.seq = ev->tcp_seq;
	seg.has_seq = (ev->flags & ZT_DF_HAS_SEQ) != 0;
	seg.dir = ev->dir;
	seg.eof = (ev->flags & ZT_DF_EOF) != 0;
	seg.trace_ctx = thread_ctx(s, c, ev);
	c->ops->feed(c->pstate, &seg, on_msg, c);
}

int zt_session_event(struct zt_session *s, const void *rec, size_t len)
{
	const struct zt_event_hdr *h = rec;
	const char *why;

	s->st.events++;
	if (zt_event_check(rec, len, &why)) {
		s->st.bad_events++;
		return -EINVAL;
	}
	if (h->ts_ns > s->now_ns)
		s->now_ns = h->ts_ns;
	switch (h->type) {
	case ZT_EV_DATA:
		on_data(s, rec);
		break;
	case ZT_EV_SOCK_STATE: {
		const struct zt_sock_ev *e = rec;
		struct conn *c;
		s->st.sock_events++;
		if (e->newstate == ZT_TCP_CLOSE && (c = conn_find(s, e->sk))) {
			s->st.conns_closed++;
			conn_close(s, c, e->hdr.ts_ns, ZT_RS_UNKNOWN);
		}
		break;
	}
	default:
		s->st.proc_events++;
		break;
	}
	return 0;
}

void zt_session_tick(struct zt_session *s, uint64_t now_ns)
{
	if (now_ns > s->now_ns)
		s->now_ns = now_ns;
	while (s->lru_tail && s->lru_tail->last_ns + s->cfg.idle_timeout_ns < now_ns) {
		s->st.conns_idle++;
		conn_close(s, s->lru_tail, now_ns, ZT_RS_TIMEOUT);
	}
}

void zt_session_flush(struct zt_session *s)
{
	while (s->lru_tail)
		conn_close(s, s->lru_tail, s->now_ns, ZT_RS_UNKNOWN);
}

void zt_session_free(struct zt_session *s)
{
	struct pend *p;

	if (!s)
		return;
	if (s->pool)
		zt_session_flush(s);
	while ((p = s->pend_free)) {
		s->pend_free = p->next;
		free(p);
	}
	for (int i = 0; i < ZT_L7__COUNT; i++) {
		struct pstate_free *f = s->pstate_free[i];
		while (f) {
			struct pstate_free *n = f->next;
			free(f);
			f = n;
		}
	}
	free(s->tctx);
	free(s->buckets);
	free(s->pool);
	free(s);
}
