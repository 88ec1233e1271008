/* SPDX-License-Identifier: MIT */
#include "session/session.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/events.h"
#include "conn/conn.h"
#include "model/event.h"
#include "proto/proto.h"
#include "util/hash.h"

/* Per-thread syscall trace context (DeepFlow's syscall_trace_id): a thread
 * that reads a request on a server socket starts a new context; what it
 * writes on other sockets until it answers belongs to that context. The
 * context ends when every request the thread read is answered (or given
 * up): later calls of the thread carry none, never a finished request's,
 * and an event loop that read a second request before the first was
 * answered stays ambiguous until all of them are. */
enum tctx_state { TCTX_IDLE = 0, TCTX_IN_REQUEST = 1 };
struct tctx {
	uint32_t tid;
	uint32_t state;
	uint64_t id;
	uint64_t owner_sk; /* the server socket whose request started it */
	uint32_t inflight; /* requests this thread read, not yet answered */
	bool ambiguous;    /* a second request arrived before the context ended */
	bool oneway;       /* it serves a one-way request only: it lasts until the
			    * thread reads again on a server socket */
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
	struct zt_conn_table *conns;
	void *pstate_free[ZT_L7__COUNT];
	size_t pstate_max; /* largest protocol state: the memory bound */
	struct tctx *tctx;
	uint64_t ctx_seq;
	uint64_t host_hash;
	char host[ZT_HOSTNAME_LEN]; /* cfg.host, cut to the span's field */
	uint64_t now_ns; /* latest event time seen */
	struct zt_span span; /* built here: a span is a few KiB */
};

/* What a parser's emit() gets back: the session and the connection. */
struct feed_ctx {
	struct zt_session *s;
	struct zt_conn *c;
	uint8_t switch_to; /* enum zt_l7 the connection switches to after this feed (h2c) */
};

#define INFER_TRIES 4 /* data segments a connection gets to be recognised */

static void on_close(void *ctx, struct zt_conn *c, enum zt_close_reason why, uint64_t now_ns);

struct zt_session *zt_session_new(const struct zt_session_cfg *cfg, zt_span_sink_fn sink, void *sink_ctx)
{
	struct zt_session *s = calloc(1, sizeof(*s));
	struct zt_conn_cfg cc;

	if (!s)
		return NULL;
	s->cfg = *cfg;
	s->sink = sink;
	s->sink_ctx = sink_ctx;
	memset(&cc, 0, sizeof(cc));
	cc.max_conns = cfg->max_conns;
	cc.max_pending = cfg->max_pending;
	cc.pend_cap = cfg->pend_cap;
	cc.pend_size = sizeof(struct zt_msg);
	cc.idle_timeout_ns = cfg->idle_timeout_ns;
	s->conns = zt_conn_table_new(&cc, on_close, s);
	s->tctx = calloc(TCTX_SLOTS, sizeof(*s->tctx));
	if (!s->conns || !s->tctx) {
		zt_session_free(s);
		return NULL;
	}
	/* the table's defaults are the session's */
	s->cfg.max_conns = zt_conn_cfg(s->conns)->max_conns;
	s->cfg.max_pending = zt_conn_cfg(s->conns)->max_pending;
	s->cfg.pend_cap = zt_conn_cfg(s->conns)->pend_cap;
	s->cfg.idle_timeout_ns = zt_conn_cfg(s->conns)->idle_timeout_ns;
	for (size_t i = 0; zt_protocols[i]; i++)
		if (zt_protocols[i]->state_size > s->pstate_max)
			s->pstate_max = zt_protocols[i]->state_size;
	s->host_hash = zt_hash_str(cfg->host);
	snprintf(s->host, sizeof(s->host), "%s", cfg->host ? cfg->host : "");
	return s;
}

const struct zt_session_stats *zt_session_stats(const struct zt_session *s)
{
	return &s->st;
}

size_t zt_session_mem_bound(const struct zt_session *s)
{
	const struct zt_conn_cfg *cc = zt_conn_cfg(s->conns);

	return sizeof(*s) + TCTX_SLOTS * sizeof(struct tctx) + zt_conn_table_mem(s->conns) +
	       (size_t)cc->max_conns * s->pstate_max;
}

/* ---- parser state ---- */

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

/* dst and src are fields of the same size: copy the string, not the array */
#define COPY_STR(dst, src)                                                                                   \
	do {                                                                                                 \
		_Static_assert(sizeof(dst) == sizeof(src), "same-size string fields");                       \
		size_t n_ = strnlen(src, sizeof(src) - 1);                                                    \
		memcpy(dst, src, n_);                                                                         \
		dst[n_] = '\0';                                                                               \
	} while (0)

static void add_attrs(struct zt_attrs *dst, const struct zt_attrs *src)
{
	for (unsigned i = 0; i < src->n && i < ZT_ATTRS_MAX; i++)
		zt_attrs_add(dst, src->a[i].key, src->a[i].val, strlen(src->a[i].val));
}

/* Makes the span of one exchange. resp == NULL: no response (unanswered,
 * ended at end_ns with status `noresp_status`, or one-way). */
static void emit_span(struct zt_session *s, struct zt_conn *c, const struct zt_msg *req,
		      const struct zt_msg *resp, uint64_t end_ns, uint8_t noresp_status)
{
	const struct zt_proto_ops *ops = zt_proto_by_id(c->l7);
	struct zt_span *sp = &s->span;
	bool client = req->dir == ZT_DIR_EGRESS;

	zt_span_clear(sp);
	if (c->nic)
		sp->tap_side = client ? ZT_TAP_CLIENT_NIC : ZT_TAP_SERVER_NIC;
	else
		sp->tap_side = client ? ZT_TAP_CLIENT_PROCESS : ZT_TAP_SERVER_PROCESS;
	memcpy(sp->host, s->host, sizeof(sp->host));
	sp->netns = c->netns;
	sp->pid = c->pid;
	memcpy(sp->process, c->comm, sizeof(sp->process));
	sp->process[sizeof(sp->process) - 1] = '\0';
	sp->l7_protocol = req->l7 ? req->l7 : c->l7; /* gRPC streams of an HTTP/2 connection */
	COPY_STR(sp->version, req->version);
	COPY_STR(sp->request_type, req->request_type);
	COPY_STR(sp->request_domain, req->request_domain);
	COPY_STR(sp->request_resource, req->request_resource);
	if (ops && ops->endpoint)
		ops->endpoint(req, sp->endpoint, sizeof(sp->endpoint));
	sp->start_ns = req->start_ns;
	sp->end_ns = resp ? resp->end_ns : end_ns;
	if (sp->end_ns < sp->start_ns)
		sp->end_ns = sp->start_ns;
	sp->duration_ns = sp->end_ns - sp->start_ns;
	to_epoch(s, &sp->start_ns);
	to_epoch(s, &sp->end_ns);
	sp->tid_req = req->tid_start;
	sp->req_bytes = req->bytes;
	sp->syscall_trace_id_req = req->trace_ctx;
	COPY_STR(sp->x_request_id, req->x_request_id);
	COPY_STR(sp->trace_id, req->trace_id);
	COPY_STR(sp->span_id, req->span_id);
	COPY_STR(sp->parent_span_id, req->parent_span_id);
	add_attrs(&sp->attributes, &req->attrs);
	sp->response_code = -1;
	sp->response_status = noresp_status;
	if (req->has_seq) {
		/* the request's seq links the sides even without a response */
		sp->flags |= ZT_SPAN_HAS_SEQ;
		sp->req_tcp_seq = req->seq;
	}
	if (resp) {
		sp->tid_resp = resp->tid_start;
		sp->resp_bytes = resp->bytes;
		if (resp->flags & ZT_MF_HAS_CODE)
			sp->response_code = resp->response_code;
		sp->response_status = resp->status;
		COPY_STR(sp->response_exception, resp->response_exception);
		sp->syscall_trace_id_resp = resp->trace_ctx;
		COPY_STR(sp->x_request_id_resp, resp->x_request_id);
		if (!sp->trace_id[0])
			COPY_STR(sp->trace_id, resp->trace_id);
		add_attrs(&sp->attributes, &resp->attrs);
		if (resp->has_seq) {
			sp->flags |= ZT_SPAN_HAS_RESP_SEQ;
			sp->resp_tcp_seq = resp->seq;
		}
		if (resp->flags & ZT_MF_TRUNCATED)
			sp->flags |= ZT_SPAN_TRUNCATED;
		if (resp->flags & ZT_MF_LOST_SYNC)
			sp->flags |= ZT_SPAN_LOST_SYNC;
	} else {
		sp->flags |= req->pair == ZT_PAIR_ONEWAY ? ZT_SPAN_ONE_WAY : ZT_SPAN_NO_RESPONSE;
	}
	if (req->flags & ZT_MF_TRUNCATED)
		sp->flags |= ZT_SPAN_TRUNCATED;
	if (req->flags & ZT_MF_LOST_SYNC)
		sp->flags |= ZT_SPAN_LOST_SYNC;
	if (req->flags & ZT_MF_CTX_AMBIGUOUS)
		sp->flags |= ZT_SPAN_AMBIGUOUS;
	if (req->flags & ZT_MF_EARLY)
		sp->flags |= ZT_SPAN_EARLY_RESPONSE;
	if (client) {
		memcpy(sp->client_ip, c->laddr, 16);
		memcpy(sp->server_ip, c->raddr, 16);
		sp->client_port = c->lport;
		sp->server_port = c->rport;
	} else {
		memcpy(sp->client_ip, c->raddr, 16);
		memcpy(sp->server_ip, c->laddr, 16);
		sp->client_port = c->rport;
		sp->server_port = c->lport;
	}
	sp->l4_protocol = c->l4;
	sp->is_tls = c->tls;
	/* Deterministic uid: the same recording gives the same uids. The peer
	 * port tells apart the per-peer entries of one UDP socket. Hex by hand:
	 * snprintf was a tenth of the pipeline's instructions. */
	uint64_t uid = zt_mix64(s->host_hash ^ zt_mix64(c->key.sk ^ zt_mix64(c->key.ino + c->nexch++)) ^
				zt_mix64(req->start_ns + sp->tap_side)) ^
		       c->key.peer_port;
	for (int i = 15; i >= 0; i--, uid >>= 4)
		sp->span_uid[i] = "0123456789abcdef"[uid & 15];
	sp->span_uid[16] = '\0';
	s->st.spans++;
	s->sink(s->sink_ctx, sp);
}

static void thread_ctx_ambiguous(struct zt_session *s, uint32_t tid);
static void thread_req_read(struct zt_session *s, const struct zt_conn *c, const struct zt_msg *req);
static void thread_req_done(struct zt_session *s, const struct zt_conn *c, const struct zt_msg *req);
static void thread_oneway_read(struct zt_session *s, const struct zt_conn *c, const struct zt_msg *req);

/* How many requests this side read are still unanswered on c (a
 * broker's own pending deliveries, written, do not count). */
static unsigned pending_read(const struct zt_conn *c)
{
	unsigned n = 0;

	for (const struct zt_pend *p = c->phead; p; p = p->next)
		n += ((const struct zt_msg *)(const void *)p->data)->dir == ZT_DIR_INGRESS;
	return n;
}

/* A request waits for its response in the connection's pending list. */
static void queue_request(struct zt_session *s, struct zt_conn *c, const struct zt_msg *m)
{
	const struct zt_proto_ops *ops = zt_proto_by_id(c->l7);
	struct zt_pend *p;
	struct zt_msg *q;

	if (c->npend >= s->cfg.max_pending && c->phead) {
		/* the oldest request will not be answered any more */
		p = c->phead;
		s->st.pending_overflow++;
		s->st.unanswered++;
		q = (struct zt_msg *)(void *)p->data;
		emit_span(s, c, q, NULL, q->end_ns, ZT_RS_UNKNOWN);
		thread_req_done(s, c, q);
		zt_pend_remove(s->conns, c, NULL, p);
	}
	p = zt_pend_push(s->conns, c);
	if (!p) {
		/* the shared pool is empty: store the request now, unanswered,
		 * rather than lose it; its response will count as an orphan */
		struct zt_msg tmp;
		zt_msg_copy(&tmp, m);
		s->st.pend_pool_empty++;
		s->st.unanswered++;
		if (ops && ops->redact_msg)
			ops->redact_msg(&tmp);
		emit_span(s, c, &tmp, NULL, tmp.end_ns, ZT_RS_UNKNOWN);
		return;
	}
	q = (struct zt_msg *)(void *)p->data;
	zt_msg_copy(q, m);
	thread_req_read(s, c, q);
	if (c->role == ZT_ROLE_SERVER && m->dir == ZT_DIR_INGRESS && pending_read(c) > 1) {
		/* pipelined: one read brought several requests, one thread
		 * serves them all; none of them can claim its calls (the
		 * server's own pending pushes, a broker's deliveries, are not
		 * requests it serves) */
		thread_ctx_ambiguous(s, m->tid_start);
		for (struct zt_pend *o = c->phead; o; o = o->next)
			if (((struct zt_msg *)(void *)o->data)->dir == ZT_DIR_INGRESS)
				((struct zt_msg *)(void *)o->data)->flags |= ZT_MF_CTX_AMBIGUOUS;
	}
	if (ops && ops->redact_msg)
		ops->redact_msg(q);
}

/* The pending request a response answers: the oldest (FIFO) or the oldest
 * of its key (KEY). */
static struct zt_pend *find_request(struct zt_conn *c, const struct zt_msg *resp, struct zt_pend **prev)
{
	struct zt_pend *pv = NULL;

	for (struct zt_pend *p = c->phead; p; pv = p, p = p->next) {
		const struct zt_msg *q = (const struct zt_msg *)(const void *)p->data;
		if (resp->pair != ZT_PAIR_KEY || (q->pair == ZT_PAIR_KEY && q->key == resp->key)) {
			*prev = pv;
			return p;
		}
	}
	return NULL;
}

static void on_msg(void *ctx, const struct zt_msg *m)
{
	struct feed_ctx *fc = ctx;
	struct zt_session *s = fc->s;
	struct zt_conn *c = fc->c;
	struct zt_pend *p, *prev = NULL;

	if (m->flags & ZT_MF_TRUNCATED)
		s->st.truncated++;
	if (m->flags & ZT_MF_LOST_SYNC)
		s->st.lost_sync++;
	if (m->dir <= ZT_DIR_INGRESS)
		c->messages[m->dir]++;
	if (m->kind == ZT_MSG_REQUEST) {
		s->st.requests++;
		if (c->role == ZT_ROLE_UNKNOWN)
			c->role = m->dir == ZT_DIR_INGRESS ? ZT_ROLE_SERVER : ZT_ROLE_CLIENT;
		if (m->pair == ZT_PAIR_ONEWAY) {
			const struct zt_proto_ops *ops = zt_proto_by_id(c->l7);
			struct zt_msg tmp;
			zt_msg_copy(&tmp, m);
			s->st.one_way++;
			if (ops && ops->redact_msg)
				ops->redact_msg(&tmp);
			emit_span(s, c, &tmp, NULL, tmp.end_ns, ZT_RS_UNKNOWN);
			thread_oneway_read(s, c, m);
			return;
		}
		queue_request(s, c, m);
		return;
	}
	if ((m->flags & ZT_MF_UPGRADE) && m->l7 && m->l7 != c->l7 && zt_proto_by_id(m->l7)) {
		/* a protocol switch (101 to h2c): its request is answered in the
		 * new protocol, under the key the switch names */
		struct zt_msg *q;
		s->st.interim++;
		if ((p = find_request(c, m, &prev))) {
			q = (struct zt_msg *)(void *)p->data;
			q->pair = ZT_PAIR_KEY;
			q->key = m->key;
		}
		fc->switch_to = m->l7;
		return;
	}
	if (m->flags & ZT_MF_INTERIM) {
		s->st.interim++;
		return;
	}
	s->st.responses++;
	p = find_request(c, m, &prev);
	if (!p) {
		s->st.orphan_responses++;
		/* an answer to a request never parsed: if its thread has
		 * nothing else in flight, its context ends here */
		thread_req_done(s, c, m);
		return;
	}
	emit_span(s, c, (const struct zt_msg *)(const void *)p->data, m, 0, ZT_RS_UNKNOWN);
	thread_req_done(s, c, (const struct zt_msg *)(const void *)p->data);
	zt_pend_remove(s->conns, c, prev, p);
}

/* A connection ends: the parser emits what the end completes, requests
 * still waiting become unanswered spans. The table then frees the entry. */
static void on_close(void *ctx, struct zt_conn *c, enum zt_close_reason why, uint64_t now_ns)
{
	struct zt_session *s = ctx;
	const struct zt_proto_ops *ops = zt_proto_by_id(c->l7);
	uint8_t noresp = why == ZT_CLOSE_IDLE ? ZT_RS_TIMEOUT : ZT_RS_UNKNOWN;

	switch (why) {
	case ZT_CLOSE_TCP:
		s->st.conns_closed++;
		break;
	case ZT_CLOSE_IDLE:
		s->st.conns_idle++;
		break;
	case ZT_CLOSE_EVICTED:
		s->st.conns_evicted++;
		break;
	case ZT_CLOSE_REUSED:
		s->st.conns_reused++;
		break;
	case ZT_CLOSE_FLUSH:
		break;
	}

	free(c->stash);
	c->stash = NULL;
	if (ops && c->pstate) {
		struct feed_ctx fc = {s, c, 0};
		if (ops->finish)
			ops->finish(c->pstate, now_ns, on_msg, &fc);
		pstate_put(s, ops, c->pstate);
		c->pstate = NULL;
	}
	while (c->phead) {
		const struct zt_msg *q = (const struct zt_msg *)(const void *)c->phead->data;
		s->st.unanswered++;
		emit_span(s, c, q, NULL, now_ns > q->end_ns ? now_ns : q->end_ns, noresp);
		thread_req_done(s, c, q);
		zt_pend_remove(s->conns, c, NULL, c->phead);
	}
}

/* A thread's slot: probed over TCTX_PROBE slots from its hash, so that two
 * busy threads whose hashes meet do not wipe each other's context. A new
 * thread takes a free slot, else one whose thread holds no context; only
 * when all of them hold one is one overwritten (ctx_collisions). */
#define TCTX_PROBE 8
static struct tctx *tctx_find(struct zt_session *s, uint32_t tid, bool create)
{
	uint32_t base = (uint32_t)zt_mix64(tid);
	struct tctx *idle = NULL, *t;

	if (!tid) /* no thread: events of a network tap (pcap) */
		return NULL;

	for (uint32_t i = 0; i < TCTX_PROBE; i++) {
		t = &s->tctx[(base + i) & (TCTX_SLOTS - 1)];
		if (t->tid == tid)
			return t;
		if (!idle && (!t->tid || (t->state == TCTX_IDLE && !t->inflight)))
			idle = t;
	}
	if (!create)
		return NULL;
	if (!idle) {
		idle = &s->tctx[base & (TCTX_SLOTS - 1)];
		s->st.ctx_collisions++;
	}
	memset(idle, 0, sizeof(*idle));
	idle->tid = tid;
	return idle;
}

/* The thread's context for this syscall. A thread that reads a second
 * request before the context ended (an event loop serving another socket,
 * or the next pipelined request on this one) serves two at once: the
 * context is marked ambiguous and no thread link will be made from it
 * (precision first). */
static uint64_t thread_ctx(struct zt_session *s, const struct zt_conn *c, const struct zt_data_ev *ev,
			   bool *ambiguous)
{
	struct tctx *t = tctx_find(s, ev->hdr.tid, true);

	*ambiguous = false;
	if (!t)
		return 0;
	if (c->role == ZT_ROLE_SERVER && ev->bytes > 0 && ev->dir == ZT_DIR_INGRESS) {
		if (t->state != TCTX_IN_REQUEST || (t->oneway && t->inflight == 0)) {
			t->id = s->host_hash << 40 ^ ++s->ctx_seq;
			t->state = TCTX_IN_REQUEST;
			t->owner_sk = c->key.sk;
			t->ambiguous = false;
			t->oneway = false;
		} else if (c->key.sk != t->owner_sk || pending_read(c) > 0) {
			if (!t->ambiguous)
				s->st.ctx_ambiguous++;
			t->ambiguous = true;
		}
	}
	*ambiguous = t->state == TCTX_IN_REQUEST && t->ambiguous;
	return t->state == TCTX_IN_REQUEST ? t->id : 0;
}

static void thread_ctx_ambiguous(struct zt_session *s, uint32_t tid)
{
	struct tctx *t = tctx_find(s, tid, false);

	if (t && t->state == TCTX_IN_REQUEST && !t->ambiguous) {
		s->st.ctx_ambiguous++;
		t->ambiguous = true;
	}
}

/* A server request is complete: its reading thread has one more in flight. */
static void thread_req_read(struct zt_session *s, const struct zt_conn *c, const struct zt_msg *req)
{
	struct tctx *t;

	if (c->role == ZT_ROLE_SERVER && req->dir == ZT_DIR_INGRESS && (t = tctx_find(s, req->tid_start, false)))
		t->inflight++;
}

/* A server request was answered or given up: when its reading thread has
 * none left in flight, the thread's context ends. */
static void thread_req_done(struct zt_session *s, const struct zt_conn *c, const struct zt_msg *req)
{
	struct tctx *t;

	if (c->role != ZT_ROLE_SERVER || !(t = tctx_find(s, req->tid_start, false)))
		return;
	if (t->inflight > 0 && req->kind == ZT_MSG_REQUEST)
		t->inflight--;
	if (t->inflight == 0) {
		t->state = TCTX_IDLE;
		t->id = 0;
		t->ambiguous = false;
		t->oneway = false;
	}
}

/* A one-way request read by a server (MySQL's COM_QUIT, an MQTT QoS 0
 * PUBLISH) is answered by nothing. What the thread writes next still
 * belongs to it (a broker forwarding the message), but its next read on a
 * server socket starts a new context: a pooled thread's next connection
 * must not inherit it (nor be called ambiguous because of it). */
static void thread_oneway_read(struct zt_session *s, const struct zt_conn *c, const struct zt_msg *req)
{
	struct tctx *t;

	if (c->role == ZT_ROLE_SERVER && req->dir == ZT_DIR_INGRESS && (t = tctx_find(s, req->tid_start, false)) &&
	    t->inflight == 0)
		t->oneway = true;
}

/*
 * A short first segment that inferred nothing (a server reading a 4-byte
 * length alone: Kafka's broker, PostgreSQL's startup, mongod's 16-byte
 * header) is kept, and inference tries again on it and the next segment of
 * the same direction together; if that matches, the kept segment is fed to
 * the parser first, with its own times and sequence number.
 */
#define STASH_MAX 16  /* longest segment kept */
#define INFER_JOIN 512 /* bytes of the next segment joined to it */

struct stash {
	struct zt_data_ev ev; /* the kept syscall's record, payload after it */
	uint8_t payload[STASH_MAX];
};

static void stash_drop(struct zt_conn *c)
{
	free(c->stash);
	c->stash = NULL;
}

static void stash_keep(struct zt_session *s, struct zt_conn *c, const struct zt_data_ev *ev, const uint8_t *payload)
{
	struct stash *k;

	if (c->l4 != IPPROTO_TCP || ev->cap_len != ev->bytes || ev->cap_len > STASH_MAX)
		return;
	if (!c->stash && !(c->stash = malloc(sizeof(struct stash))))
		return;
	k = c->stash;
	k->ev = *ev;
	memcpy(k->payload, payload, ev->cap_len);
	s->st.segs_stashed++;
}

static void seg_of(struct zt_session *s, struct zt_conn *c, const struct zt_data_ev *ev, const uint8_t *payload,
		   struct zt_seg *seg);
static void classify(struct zt_session *s, struct zt_conn *c, const struct zt_proto_ops *ops, const uint8_t *buf,
		     size_t len, uint8_t dir);

/* The kept segment and this one infer together: returns true when they
 * did (the kept one then went to the parser). */
static bool infer_joined(struct zt_session *s, struct zt_conn *c, const struct zt_data_ev *ev, const uint8_t *payload)
{
	struct stash *k = c->stash;
	struct zt_infer_hints h = {.l4 = (uint8_t)ev->l4, .dir = ev->dir, .lport = ev->lport, .rport = ev->rport};
	uint8_t buf[STASH_MAX + INFER_JOIN];
	size_t n = ev->cap_len < INFER_JOIN ? ev->cap_len : INFER_JOIN;
	const struct zt_proto_ops *ops;
	struct zt_seg seg;

	if (!k || k->ev.dir != ev->dir)
		return false;
	memcpy(buf, k->payload, k->ev.cap_len);
	memcpy(buf + k->ev.cap_len, payload, n);
	ops = zt_proto_infer(buf, k->ev.cap_len + n, &h);
	if (!ops) {
		stash_drop(c);
		return false;
	}
	classify(s, c, ops, buf, k->ev.cap_len + n, ev->dir);
	if (!c->l7) {
		stash_drop(c);
		return true;
	}
	/* the kept read, as if it had been parsed when it came: its thread
	 * context too (a server's first read starts it) */
	seg_of(s, c, &k->ev, k->payload, &seg);
	s->st.segs_joined++;
	struct feed_ctx fc = {s, c, 0};
	ops->feed(c->pstate, &seg, on_msg, &fc);
	stash_drop(c);
	return true;
}

/* The protocol is known: its parser state, and which side this is. */
static void classify(struct zt_session *s, struct zt_conn *c, const struct zt_proto_ops *ops, const uint8_t *buf,
		     size_t len, uint8_t dir)
{
	c->pstate = pstate_get(s, ops);
	if (!c->pstate) {
		c->no_proto = true;
		return;
	}
	c->l7 = (uint8_t)ops->id;
	if (ops->first_kind) {
		int k = ops->first_kind(buf, len);
		if (k == ZT_MSG_REQUEST)
			c->role = dir == ZT_DIR_INGRESS ? ZT_ROLE_SERVER : ZT_ROLE_CLIENT;
		else if (k == ZT_MSG_RESPONSE)
			c->role = dir == ZT_DIR_INGRESS ? ZT_ROLE_CLIENT : ZT_ROLE_SERVER;
	}
}

/* The first bytes of a connection: which protocol, and which side. */
static void infer(struct zt_session *s, struct zt_conn *c, const struct zt_data_ev *ev, const uint8_t *payload)
{
	struct zt_infer_hints h = {.l4 = (uint8_t)ev->l4, .dir = ev->dir, .lport = ev->lport, .rport = ev->rport};
	const struct zt_proto_ops *ops;

	if (infer_joined(s, c, ev, payload))
		return;
	ops = zt_proto_infer(payload, ev->cap_len, &h);
	if (!ops) {
		s->st.segs_unclassified++;
		if (++c->infer_tries >= INFER_TRIES) {
			c->no_proto = true;
			s->st.conns_unclassified++;
			if (s->cfg.on_unclassified && c->l4 == IPPROTO_TCP)
				s->cfg.on_unclassified(s->cfg.hook_ctx, c->key.sk, c->key.ino);
			stash_drop(c);
			return;
		}
		stash_keep(s, c, ev, payload);
		return;
	}
	stash_drop(c);
	classify(s, c, ops, payload, ev->cap_len, ev->dir);
}

/* The connection changes protocol (HTTP/1 upgraded to h2c): the old
 * parser's state is dropped (what it had is complete: the switch ended it),
 * the new parser starts on the next segment. */
static void switch_proto(struct zt_session *s, struct zt_conn *c, uint8_t to)
{
	const struct zt_proto_ops *old = zt_proto_by_id(c->l7), *nw = zt_proto_by_id(to);
	void *st = nw ? pstate_get(s, nw) : NULL;

	if (!st)
		return; /* stays with the old parser, which ignores the rest */
	pstate_put(s, old, c->pstate);
	c->pstate = st;
	c->l7 = to;
}

/* A body of at least this many bytes is worth a map update to skip. */
#define BODY_SKIP_MIN 16384

/* The parser will only count the next bytes of this direction (a body of
 * known length): the kernel may stop copying them. Once per body. */
static void tell_body(struct zt_session *s, struct zt_conn *c, const struct zt_proto_ops *ops,
		      const struct zt_seg *seg)
{
	uint64_t left = ops->body_left(c->pstate, seg->dir);
	uint32_t end;

	/* TLS: plaintext lengths are not ciphertext seqs, and the kernel does
	 * not copy its ciphertext anyway */
	if (left < BODY_SKIP_MIN || seg->dir > ZT_DIR_INGRESS || c->tls)
		return;
	if (left > (1u << 30))
		left = 1u << 30; /* seqs wrap at 4 GiB: stay well inside */
	end = seg->seq + (uint32_t)seg->len + (uint32_t)left;
	if (end == c->skip_seq[seg->dir])
		return;
	c->skip_seq[seg->dir] = end;
	s->st.bodies_skipped++;
	s->cfg.on_body(s->cfg.hook_ctx, c->key.sk, c->key.ino, seg->dir, end);
}

/* One syscall's record as the parser sees it, with its thread's context. */
static void seg_of(struct zt_session *s, struct zt_conn *c, const struct zt_data_ev *ev, const uint8_t *payload,
		   struct zt_seg *seg)
{
	seg->data = payload;
	seg->caplen = ev->cap_len;
	seg->len = ev->bytes;
	seg->enter_ns = ev->enter_ns;
	seg->exit_ns = ev->exit_ns;
	seg->tid = ev->hdr.tid;
	seg->seq = ev->tcp_seq;
	seg->has_seq = (ev->flags & ZT_DF_HAS_SEQ) != 0;
	seg->dir = ev->dir;
	seg->eof = (ev->flags & ZT_DF_EOF) != 0;
	seg->trace_ctx = thread_ctx(s, c, ev, &seg->ctx_ambiguous);
}

/* The first TLS plaintext of a connection: what its ciphertext (the
 * handshake, read before the socket was known to be TLS) made of it is
 * dropped without spans, and inference starts over on the plaintext. */
static void tls_adopt(struct zt_session *s, struct zt_conn *c)
{
	const struct zt_proto_ops *ops = zt_proto_by_id(c->l7);

	s->st.tls_conns++;
	stash_drop(c);
	if (ops && c->pstate)
		pstate_put(s, ops, c->pstate);
	c->pstate = NULL;
	while (c->phead) {
		thread_req_done(s, c, (const struct zt_msg *)(const void *)c->phead->data);
		zt_pend_remove(s->conns, c, NULL, c->phead);
	}
	c->l7 = 0;
	c->no_proto = false;
	c->infer_tries = 0;
	c->role = ZT_ROLE_UNKNOWN;
	c->tls = true;
}

static void on_data(struct zt_session *s, const struct zt_data_ev *ev)
{
	const uint8_t *payload = (const uint8_t *)(ev + 1);
	bool created;
	struct zt_conn *c = zt_conn_get(s->conns, ev, &created);
	struct zt_seg seg;

	s->st.data_events++;
	if (created) {
		s->st.conns_opened++;
		c->nic = (ev->flags & ZT_DF_NIC) != 0;
	}
	if (ev->flags & ZT_DF_TLS) {
		s->st.tls_events++;
		if (!c->tls)
			tls_adopt(s, c);
	} else if (c->tls) {
		/* ciphertext that came before the kernel knew the socket */
		s->st.tls_cipher_ignored++;
		return;
	}
	if (c->no_proto) {
		s->st.segs_unclassified++;
		return;
	}
	if (!c->l7) {
		if (ev->cap_len == 0)
			return;
		infer(s, c, ev, payload);
		if (!c->l7)
			return;
	}
	seg_of(s, c, ev, payload, &seg);
	struct feed_ctx fc = {s, c, 0};
	const struct zt_proto_ops *ops = zt_proto_by_id(c->l7);
	ops->feed(c->pstate, &seg, on_msg, &fc);
	if (fc.switch_to) {
		switch_proto(s, c, fc.switch_to);
		return;
	}
	if (ops->body_left && s->cfg.on_body && seg.has_seq && c->pstate)
		tell_body(s, c, ops, &seg);
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
		s->st.sock_events++;
		if (e->newstate == ZT_TCP_CLOSE)
			zt_conn_close_sock(s->conns, e->sk, e->hdr.ts_ns);
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
	zt_conn_expire(s->conns, now_ns);
}

void zt_session_flush(struct zt_session *s)
{
	zt_conn_close_all(s->conns, s->now_ns);
}

void zt_session_free(struct zt_session *s)
{
	if (!s)
		return;
	if (s->conns) {
		zt_session_flush(s);
		zt_conn_table_free(s->conns);
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
	free(s);
}

static int stage_event(void *ctx, const void *rec, size_t len)
{
	zt_session_event(*(struct zt_session **)ctx, rec, len);
	return 0; /* a bad record is counted, never fatal */
}

static void stage_tick(void *ctx, uint64_t now_ns)
{
	zt_session_tick(*(struct zt_session **)ctx, now_ns);
}

static void stage_end(void *ctx)
{
	zt_session_flush(*(struct zt_session **)ctx);
}

void zt_session_as_stage(struct zt_pipeline_cfg *pc, struct zt_session **holder)
{
	pc->on_event = stage_event;
	pc->on_tick = stage_tick;
	pc->on_end = stage_end;
	pc->stage_ctx = holder;
}
