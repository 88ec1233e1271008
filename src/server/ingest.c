/* SPDX-License-Identifier: MIT */
#include "server/ingest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/ship_wire.h"
#include "server/ingest_int.h"
#include "store/sink.h"
#include "util/num.h"

#define MAX_AGENTS 4096
#define FORCE_RELEASE_NS 5000000000ULL /* a batch held this long: the joiner lets everything go */
#define READ_CHUNK 65536
#define STALL_NS 30000000000ULL /* a large frame that stops arriving for this long: closed */

struct agent {
	struct zt_agent_info info; /* guarded by g->mu (the API reads it) */
	uint64_t taken_max;        /* highest seq taken (>= info.acked_seq) */
	int conn;                  /* index in g->conns, -1 */
	bool dirty;                /* acked_seq moved: save, then ack */
};

struct pend {
	uint32_t agent;
	uint64_t seq;
	uint64_t end_pos; /* spans put into the joiner when this batch was in */
	uint64_t t_ns;    /* taken (monotonic) */
};

struct iconn {
	int fd;
	int agent; /* -1 until its Hello */
	bool closing; /* close once out is written (a refusal) */
	struct zt_wbuf in, out;
	size_t out_off;
	char peer[64];
	uint32_t reserved; /* input budget held for the large frame at the start of `in` */
	bool starved;      /* that frame waits for budget: not read meanwhile */
	uint64_t rx_ns;    /* last bytes received (monotonic) */
};

struct zt_ingest {
	char state_dir[4096];
	char addr[128];
	uint32_t max_conns;
	uint64_t flush_ns, max_pending;
	uint64_t buf_used, buf_max; /* input budget for frames above READ_CHUNK */
	int lfd;
	struct zt_store *store;
	struct zt_store_sink *sink;
	pthread_mutex_t mu; /* agents[].info, nagents, stats */
	struct agent *agents;
	size_t nagents;
	struct iconn *conns; /* max_conns slots, fd -1 when free */
	struct pend *pend;   /* ring */
	size_t pcap, phead, pn;
	uint64_t put_pos, released; /* spans put into / come out of the joiner */
	uint64_t committed_pos;     /* released count at the last commit */
	uint64_t store_failed_seen;
	struct zt_spanq *q;         /* spans offered by other threads (OTLP) */
	struct zt_wbuf scratch;
	struct zt_span span;
	struct zt_ingest_stats st;
};

/* ---- the release count (see ingest.h: the joiner is FIFO) ---- */

static int on_released(void *ctx, const struct zt_span *s)
{
	(void)s;
	((struct zt_ingest *)ctx)->released++;
	return 0;
}

/* ---- connections ---- */

static int send_ack(struct zt_ingest *g, struct iconn *c, uint64_t seq, uint32_t version, const char *error)
{
	Ztrace__Agent__Ack a = ZTRACE__AGENT__ACK__INIT;

	a.acked_seq = seq;
	a.protocol_version = version;
	if (error)
		a.error = (char *)error;
	(void)g;
	return zt_wire_frame_put(&c->out, ZT_WIRE_ACK, &a.base, false);
}

static void conn_close(struct zt_ingest *g, int i)
{
	struct iconn *c = &g->conns[i];

	if (c->fd < 0)
		return;
	close(c->fd);
	c->fd = -1;
	c->in.len = c->out.len = c->out_off = 0;
	c->closing = false;
	g->buf_used -= c->reserved;
	c->reserved = 0;
	c->starved = false;
	if (c->in.cap > READ_CHUNK * 2)
		zt_wbuf_free(&c->in);
	if (c->agent >= 0) {
		pthread_mutex_lock(&g->mu);
		g->agents[c->agent].conn = -1;
		g->agents[c->agent].info.connected = 0;
		g->agents[c->agent].info.peer[0] = '\0';
		pthread_mutex_unlock(&g->mu);
	}
	c->agent = -1;
	pthread_mutex_lock(&g->mu);
	g->st.conns_open--;
	pthread_mutex_unlock(&g->mu);
}

static void count(struct zt_ingest *g, uint64_t *f, uint64_t v)
{
	pthread_mutex_lock(&g->mu);
	*f += v;
	pthread_mutex_unlock(&g->mu);
}

static int find_agent(struct zt_ingest *g, const char *id)
{
	for (size_t i = 0; i < g->nagents; i++)
		if (!strcmp(g->agents[i].info.agent_id, id))
			return (int)i;
	return -1;
}

static bool valid_id(const char *id)
{
	return id && strlen(id) == 32 && strspn(id, "0123456789abcdef") == 32;
}

/* Returns -1 to close the connection. */
static int on_hello(struct zt_ingest *g, int ci, const Ztrace__Agent__Hello *h)
{
	struct iconn *c = &g->conns[ci];
	uint64_t now = zt_clock_ns(CLOCK_REALTIME);
	int ai;

	if (h->protocol_version != ZT_WIRE_VERSION) {
		char msg[128];
		snprintf(msg, sizeof(msg), "agent protocol version %u is not supported (this server speaks %u)",
			 h->protocol_version, ZT_WIRE_VERSION);
		count(g, &g->st.version_refused, 1);
		send_ack(g, c, 0, ZT_WIRE_VERSION, msg);
		c->closing = true;
		return 0;
	}
	if (!valid_id(h->agent_id)) {
		count(g, &g->st.frames_bad, 1);
		send_ack(g, c, 0, ZT_WIRE_VERSION, "agent_id must be 32 lowercase hex digits");
		c->closing = true;
		return 0;
	}
	pthread_mutex_lock(&g->mu);
	ai = find_agent(g, h->agent_id);
	if (ai < 0) {
		if (g->nagents == MAX_AGENTS) {
			pthread_mutex_unlock(&g->mu);
			send_ack(g, c, 0, ZT_WIRE_VERSION, "too many agents");
			c->closing = true;
			return 0;
		}
		ai = (int)g->nagents++;
		struct agent *a = &g->agents[ai];
		memset(a, 0, sizeof(*a));
		a->conn = -1;
		snprintf(a->info.agent_id, sizeof(a->info.agent_id), "%s", h->agent_id);
		a->info.first_seen_ns = now;
		a->info.acked_seq = zt_ingest_state_load(g->state_dir, h->agent_id);
		a->taken_max = a->info.acked_seq;
	}
	struct agent *a = &g->agents[ai];
	int old = a->conn;
	pthread_mutex_unlock(&g->mu);
	if (old >= 0 && old != ci)
		conn_close(g, old); /* the agent reconnected: the old connection is dead */
	pthread_mutex_lock(&g->mu);
	a->conn = ci;
	c->agent = ai;
	snprintf(a->info.host, sizeof(a->info.host), "%s", h->host ? h->host : "");
	snprintf(a->info.kernel, sizeof(a->info.kernel), "%s", h->kernel ? h->kernel : "");
	snprintf(a->info.version, sizeof(a->info.version), "%s", h->ztrace_version ? h->ztrace_version : "");
	snprintf(a->info.peer, sizeof(a->info.peer), "%s", c->peer);
	a->info.connected = 1;
	a->info.protocol_version = h->protocol_version;
	a->info.started_ns = h->started_ns;
	a->info.last_seen_ns = now;
	/* everything below its oldest spooled batch the agent has no more */
	if (h->first_unacked_seq && h->first_unacked_seq - 1 > a->info.acked_seq)
		a->info.acked_seq = h->first_unacked_seq - 1;
	if (a->taken_max < a->info.acked_seq)
		a->taken_max = a->info.acked_seq;
	uint64_t acked = a->info.acked_seq;
	pthread_mutex_unlock(&g->mu);
	return send_ack(g, c, acked, ZT_WIRE_VERSION, NULL) ? -1 : 0;
}

static int pend_push(struct zt_ingest *g, uint32_t agent, uint64_t seq)
{
	if (g->pn == g->pcap) { /* grow the ring, keeping its order */
		size_t cap = g->pcap ? g->pcap * 2 : 256;
		struct pend *p = malloc(cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		for (size_t i = 0; i < g->pn; i++)
			p[i] = g->pend[(g->phead + i) % g->pcap];
		free(g->pend);
		g->pend = p;
		g->pcap = cap;
		g->phead = 0;
	}
	g->pend[(g->phead + g->pn++) % g->pcap] =
	    (struct pend){agent, seq, g->put_pos, zt_clock_ns(CLOCK_MONOTONIC)};
	return 0;
}

static int on_batch(struct zt_ingest *g, int ci, const Ztrace__Agent__SpanBatch *b)
{
	struct iconn *c = &g->conns[ci];
	struct agent *a = &g->agents[c->agent];
	uint64_t bad = 0;

	if (!b->agent_id || strcmp(b->agent_id, a->info.agent_id)) {
		count(g, &g->st.frames_bad, 1);
		return -1;
	}
	a->info.last_seen_ns = zt_clock_ns(CLOCK_REALTIME);
	if (b->seq <= a->info.acked_seq) {
		pthread_mutex_lock(&g->mu);
		g->st.dup_batches++;
		a->info.dup_batches++;
		pthread_mutex_unlock(&g->mu);
		return send_ack(g, c, a->info.acked_seq, 0, NULL) ? -1 : 0; /* it missed the ack */
	}
	if (b->seq <= a->taken_max) {
		count(g, &g->st.dup_inflight, 1);
		return 0; /* acknowledged once durable */
	}
	if (b->seq != a->taken_max + 1) {
		/* the agent sends in seq order from its oldest unacknowledged:
		 * a gap is a broken agent; its batches could never be acked */
		count(g, &g->st.frames_bad, 1);
		return -1;
	}
	for (size_t i = 0; i < b->n_spans; i++) {
		if (zt_wire_span_from_pb(b->spans[i], &g->span))
			bad++;
		/* the joiner never fails a put but through the store's callback,
		 * which this sink swallows (back-off): a failing store is seen at
		 * the commit */
		(void)zt_store_sink_put(g->sink, &g->span);
		g->put_pos++;
	}
	if (pend_push(g, (uint32_t)c->agent, b->seq))
		return -1; /* untracked, never acknowledged: the agent reconnects and resends it (the store dedups) */
	a->taken_max = b->seq;
	pthread_mutex_lock(&g->mu);
	g->st.batches++;
	g->st.spans += b->n_spans;
	g->st.bad_spans += bad;
	a->info.batches++;
	a->info.spans += b->n_spans;
	a->info.bad_spans += bad;
	pthread_mutex_unlock(&g->mu);
	return 0;
}

static void on_stats(struct zt_ingest *g, int ci, const Ztrace__Agent__AgentStats *m)
{
	struct agent *a = &g->agents[g->conns[ci].agent];

	pthread_mutex_lock(&g->mu);
	a->info.ncounters = 0;
	for (size_t i = 0; i < m->n_counters && i < ZT_INGEST_COUNTERS_MAX; i++) {
		snprintf(a->info.counters[i].name, sizeof(a->info.counters[i].name), "%s",
			 m->counters[i]->name ? m->counters[i]->name : "");
		a->info.counters[i].value = m->counters[i]->value;
		a->info.ncounters++;
	}
	a->info.last_seen_ns = zt_clock_ns(CLOCK_REALTIME);
	pthread_mutex_unlock(&g->mu);
}

/* One frame from connection ci. -1: close it. */
static int on_frame(struct zt_ingest *g, int ci, const struct zt_wire_frame *f)
{
	struct iconn *c = &g->conns[ci];
	ProtobufCMessage *m = NULL;
	int rc;

	if ((c->agent < 0) != (f->type == ZT_WIRE_HELLO) || f->type == ZT_WIRE_ACK) {
		count(g, &g->st.frames_bad, 1); /* Hello first, once; acks are the server's */
		return -1;
	}
	rc = zt_wire_msg_decode(f, &g->scratch, &m);
	if (rc) {
		count(g, rc == -EMSGSIZE ? &g->st.frames_oversize : &g->st.frames_bad, 1);
		return -1;
	}
	if (f->type == ZT_WIRE_HELLO)
		rc = on_hello(g, ci, (Ztrace__Agent__Hello *)m);
	else if (f->type == ZT_WIRE_BATCH)
		rc = on_batch(g, ci, (Ztrace__Agent__SpanBatch *)m);
	else
		on_stats(g, ci, (Ztrace__Agent__AgentStats *)m);
	protobuf_c_message_free_unpacked(m, NULL);
	return rc;
}

/* Bounded input: frames up to READ_CHUNK need no more than the
 * connection's buffer; a larger one is read only once its whole length is
 * reserved from the server's input budget (max_buffered), so the buffers
 * of all connections stay within it. A frame that cannot have its budget
 * yet waits (its connection is not read), counted in buffer_waits; frames
 * holding budget always complete, so waiting ones get their turn. */
static void want_budget(struct zt_ingest *g, struct iconn *c)
{
	uint32_t len;

	if (c->reserved || c->in.len < ZT_WIRE_HDR)
		return;
	len = ((uint32_t)c->in.p[0] << 24 | (uint32_t)c->in.p[1] << 16 | (uint32_t)c->in.p[2] << 8 | c->in.p[3]) +
	      ZT_WIRE_HDR;
	if (len <= READ_CHUNK || len > ZT_WIRE_FRAME_MAX + ZT_WIRE_HDR || c->in.len >= len)
		return; /* small, refused at parse, or already whole */
	if (g->buf_used + len <= g->buf_max) {
		g->buf_used += len;
		c->reserved = len;
		c->starved = false;
	} else if (!c->starved) {
		c->starved = true;
		count(g, &g->st.buffer_waits, 1);
	}
}

static void conn_read(struct zt_ingest *g, int ci)
{
	struct iconn *c = &g->conns[ci];
	size_t off = 0;
	ssize_t r;

	if (zt_wbuf_reserve(&c->in, c->reserved && c->reserved > c->in.len ? c->reserved - c->in.len : READ_CHUNK)) {
		conn_close(g, ci);
		return;
	}
	/* without budget, no more than one chunk past a frame's start */
	size_t room = c->in.cap - c->in.len;
	if (!c->reserved && room > READ_CHUNK)
		room = READ_CHUNK;
	r = read(c->fd, c->in.p + c->in.len, room);
	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
		conn_close(g, ci);
		return;
	}
	if (r < 0)
		return;
	c->in.len += (size_t)r;
	c->rx_ns = zt_clock_ns(CLOCK_MONOTONIC);
	while (!c->closing && c->fd >= 0) {
		struct zt_wire_frame f;
		ssize_t n = zt_wire_frame_next(c->in.p + off, c->in.len - off, &f);
		if (n == 0)
			break;
		if (n < 0) {
			count(g, n == -EMSGSIZE ? &g->st.frames_oversize : &g->st.frames_bad, 1);
			conn_close(g, ci);
			return;
		}
		if (on_frame(g, ci, &f)) {
			conn_close(g, ci);
			return;
		}
		off += (size_t)n;
		/* the reserved frame is always the first one left: now done */
		g->buf_used -= c->reserved;
		c->reserved = 0;
	}
	if (c->fd < 0)
		return;
	memmove(c->in.p, c->in.p + off, c->in.len - off);
	c->in.len -= off;
	if (!c->in.len && c->in.cap > READ_CHUNK * 2)
		zt_wbuf_free(&c->in); /* a large frame's buffer is not kept */
	want_budget(g, c);
}

static void conn_write(struct zt_ingest *g, int ci)
{
	struct iconn *c = &g->conns[ci];
	ssize_t w = send(c->fd, c->out.p + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);

	if (w < 0 && errno != EAGAIN && errno != EINTR) {
		conn_close(g, ci);
		return;
	}
	if (w > 0)
		c->out_off += (size_t)w;
	if (c->out_off == c->out.len) {
		c->out.len = c->out_off = 0;
		if (c->closing)
			conn_close(g, ci);
	}
}

static void do_accept(struct zt_ingest *g)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = accept4(g->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
	char host[INET6_ADDRSTRLEN] = "?", port[8] = "?";

	if (fd < 0)
		return;
	for (uint32_t i = 0; i < g->max_conns; i++) {
		if (g->conns[i].fd >= 0)
			continue;
		struct iconn *c = &g->conns[i];
		c->fd = fd;
		c->agent = -1;
		c->closing = false;
		c->in.len = c->out.len = c->out_off = 0;
		c->reserved = 0;
		c->starved = false;
		c->rx_ns = zt_clock_ns(CLOCK_MONOTONIC);
		getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
			    NI_NUMERICHOST | NI_NUMERICSERV);
		snprintf(c->peer, sizeof(c->peer), "%s:%s", host, port);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		pthread_mutex_lock(&g->mu);
		g->st.conns_accepted++;
		g->st.conns_open++;
		pthread_mutex_unlock(&g->mu);
		return;
	}
	close(fd); /* bounded: the agent retries with back-off */
	count(g, &g->st.conns_refused, 1);
}

/* ---- commits: flush the store, then ack what became durable ---- */

static void commit(struct zt_ingest *g, bool final)
{
	const struct zt_store_sink_stats *ks = zt_store_sink_stats(g->sink);
	uint64_t mono = zt_clock_ns(CLOCK_MONOTONIC);
	bool ok, failed_any = false;
	int rc;

	zt_store_sink_tick(g->sink, zt_clock_ns(CLOCK_REALTIME));
	/* spans stamped ahead of this clock (a skewed agent) would hold the
	 * FIFO: past a bound everything is released (links then come late) */
	if (final || (g->pn && mono - g->pend[g->phead].t_ns > FORCE_RELEASE_NS))
		zt_store_sink_end(g->sink);
	rc = zt_store_sink_flush(g->sink);
	ok = rc == 0 && !ks->failing && ks->store_failed == g->store_failed_seen;
	g->store_failed_seen = ks->store_failed;
	/* A backend that buffers through an outage (ClickHouse) answers a
	 * flush with 0 while spans wait in its memory: those are not durable
	 * yet, so nothing is acknowledged until its buffer is empty; the
	 * batches stay pending (not failed) and are acked by a later commit. */
	if (ok && __atomic_load_n(&g->store->spans_pending, __ATOMIC_RELAXED)) {
		count(g, &g->st.acks_deferred, 1);
		return;
	}
	g->committed_pos = g->released;
	while (g->pn && g->pend[g->phead].end_pos <= g->released) {
		struct pend *p = &g->pend[g->phead];
		struct agent *a = &g->agents[p->agent];
		g->phead = (g->phead + 1) % g->pcap;
		g->pn--;
		if (ok && p->seq == a->info.acked_seq + 1) {
			pthread_mutex_lock(&g->mu);
			a->info.acked_seq = p->seq;
			g->st.acked_batches++;
			pthread_mutex_unlock(&g->mu);
			a->dirty = true;
		} else if (!ok) {
			/* its spans may not be stored: forget it was taken, make
			 * the agent reconnect and resend from its last ack */
			failed_any = true;
			a->taken_max = a->info.acked_seq;
			if (a->conn >= 0)
				conn_close(g, a->conn);
		}
	}
	if (failed_any) {
		pthread_mutex_lock(&g->mu);
		g->st.store_failures++;
		snprintf(g->st.last_store_error, sizeof(g->st.last_store_error), "%.255s",
			 g->store->errmsg[0] ? g->store->errmsg : "the store failed");
		pthread_mutex_unlock(&g->mu);
	}
	for (size_t i = 0; i < g->nagents; i++) {
		struct agent *a = &g->agents[i];
		if (!a->dirty)
			continue;
		a->dirty = false;
		if (zt_ingest_state_save(g->state_dir, a->info.agent_id, a->info.acked_seq))
			count(g, &g->st.state_errors, 1); /* the store's duplicate rule still holds */
		if (a->conn >= 0 && send_ack(g, &g->conns[a->conn], a->info.acked_seq, 0, NULL))
			conn_close(g, a->conn);
	}
	pthread_mutex_lock(&g->mu);
	g->st.spans_written = g->store->spans_written;
	pthread_mutex_unlock(&g->mu);
}

/* ---- spans from other threads (zt_ingest_offer) ---- */

int zt_ingest_offer(void *ctx, const struct zt_span *s)
{
	return zt_spanq_offer(((struct zt_ingest *)ctx)->q, s);
}

/* Into the sink like an agent's spans: they take FIFO positions too, so
 * the batches after them are acknowledged once they are released. No ack
 * belongs to them (OTLP answered when they were queued). */
static void drain_offered(struct zt_ingest *g, size_t max)
{
	size_t n = 0;

	while (n < max && zt_spanq_take(g->q, &g->span)) {
		(void)zt_store_sink_put(g->sink, &g->span);
		g->put_pos++;
		n++;
	}
	if (n)
		count(g, &g->st.offered_spans, n);
}

/* ---- life ---- */

/* IP:PORT or [V6]:PORT into host and port text; port 0 takes any free
 * port (tests, benches). */
static int parse_listen(const char *addr, char *host, size_t hsz, char *port, size_t psz, char *err, size_t errsz)
{
	const char *colon = strrchr(addr, ':');
	size_t hl = colon ? (size_t)(colon - addr) : 0;
	uint64_t pv;

	if (addr[0] == '[' && hl >= 2 && addr[hl - 1] == ']')
		snprintf(host, hsz, "%.*s", (int)(hl - 2), addr + 1);
	else
		snprintf(host, hsz, "%.*s", (int)hl, addr);
	if (!colon || !hl || hl >= hsz || zt_parse_uint(colon + 1, 65535, &pv)) {
		snprintf(err, errsz, "invalid listen address '%s': expected IP:PORT (e.g. 127.0.0.1:7071)", addr);
		return -EINVAL;
	}
	snprintf(port, psz, "%u", (unsigned)pv);
	return 0;
}

int zt_ingest_check_listen(const char *addr, char *err, size_t errsz)
{
	char host[256], port[16];

	return parse_listen(addr, host, sizeof(host), port, sizeof(port), err, errsz);
}

static int listen_on(struct zt_ingest *g, const char *addr, char *err, size_t errsz)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICHOST}, *res = NULL;
	char host[256], port[16];
	int one = 1, rc;

	if ((rc = parse_listen(addr, host, sizeof(host), port, sizeof(port), err, errsz)))
		return rc;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, errsz, "invalid listen address '%s': %s", addr, gai_strerror(rc));
		return -EINVAL;
	}
	g->lfd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (g->lfd < 0 || setsockopt(g->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(g->lfd, res->ai_addr, res->ai_addrlen) < 0 || listen(g->lfd, 128) < 0) {
		rc = -errno;
		snprintf(err, errsz, "cannot listen on %s: %s", addr, strerror(errno));
		freeaddrinfo(res);
		return rc;
	}
	freeaddrinfo(res);
	{
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char h[INET6_ADDRSTRLEN] = "?", p[8] = "?";
		getsockname(g->lfd, (struct sockaddr *)&ss, &sl);
		getnameinfo((struct sockaddr *)&ss, sl, h, sizeof(h), p, sizeof(p), NI_NUMERICHOST | NI_NUMERICSERV);
		snprintf(g->addr, sizeof(g->addr), ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", h, p);
	}
	return 0;
}

int zt_ingest_new(const struct zt_ingest_cfg *cfg, struct zt_store *st, struct zt_ingest **out, char *err,
		  size_t errsz)
{
	struct zt_ingest *g = calloc(1, sizeof(*g));
	struct zt_joiner_cfg jc = {.window_ns = cfg->joiner_window_ns};
	int rc;

	*out = NULL;
	if (!g) {
		snprintf(err, errsz, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&g->mu, NULL);
	g->lfd = -1;
	g->store = st;
	g->max_conns = cfg->max_conns ? cfg->max_conns : 256;
	g->flush_ns = cfg->flush_ns ? cfg->flush_ns : 100000000ULL;
	g->max_pending = cfg->max_pending_spans ? cfg->max_pending_spans : 1000000;
	g->buf_max = cfg->max_buffered ? cfg->max_buffered : 256ULL << 20;
	if (!cfg->state_dir || strlen(cfg->state_dir) >= sizeof(g->state_dir) - 64) {
		snprintf(err, errsz, "no usable state directory");
		rc = -EINVAL;
		goto fail;
	}
	snprintf(g->state_dir, sizeof(g->state_dir), "%s", cfg->state_dir);
	if ((rc = zt_ingest_state_init(g->state_dir, err, errsz)))
		goto fail;
	g->agents = calloc(MAX_AGENTS, sizeof(*g->agents));
	g->conns = calloc(g->max_conns, sizeof(*g->conns));
	g->sink = zt_store_sink_new(st, &jc, on_released, g);
	g->q = zt_spanq_new(cfg->max_offered ? cfg->max_offered : 4096);
	if (!g->agents || !g->conns || !g->sink || !g->q) {
		snprintf(err, errsz, "out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	/* a failing store does not stop ingest: spans released meanwhile are
	 * not acknowledged and come again (commit) */
	zt_store_sink_backoff(g->sink, 1);
	for (uint32_t i = 0; i < g->max_conns; i++) {
		g->conns[i].fd = -1;
		g->conns[i].agent = -1;
	}
	if ((rc = listen_on(g, cfg->listen ? cfg->listen : "127.0.0.1:7071", err, errsz)))
		goto fail;
	*out = g;
	return 0;
fail:
	zt_ingest_free(g);
	return rc;
}

const char *zt_ingest_address(const struct zt_ingest *g)
{
	return g->addr;
}

int zt_ingest_run(struct zt_ingest *g, volatile sig_atomic_t *stop, char *err, size_t errsz)
{
	struct pollfd *p = calloc(g->max_conns + 2, sizeof(*p));
	int *idx = calloc(g->max_conns + 2, sizeof(*idx));
	uint64_t next_commit = zt_clock_ns(CLOCK_MONOTONIC) + g->flush_ns;
	bool paused = false;

	if (!p || !idx) {
		free(p);
		free(idx);
		snprintf(err, errsz, "out of memory");
		return -ENOMEM;
	}
	while (!*stop) {
		uint64_t now = zt_clock_ns(CLOCK_MONOTONIC);
		size_t n = 0;
		/* bounded memory: too many spans taken and not yet durable stops
		 * reading until commits catch up (agents keep them spooled) */
		bool full = g->put_pos - g->committed_pos > g->max_pending;
		if (full && !paused)
			count(g, &g->st.paused, 1);
		paused = full;
		p[n].fd = g->lfd;
		p[n].events = POLLIN;
		idx[n++] = -1;
		p[n].fd = zt_spanq_fd(g->q);
		p[n].events = paused ? 0 : POLLIN; /* paused: the queue fills, offers are refused */
		p[n].revents = 0;
		idx[n++] = -2;
		for (uint32_t i = 0; i < g->max_conns; i++) {
			struct iconn *c = &g->conns[i];
			if (c->fd < 0)
				continue;
			if (c->starved)
				want_budget(g, c);
			if (c->reserved && now - c->rx_ns > STALL_NS) {
				count(g, &g->st.conns_stalled, 1); /* holds budget and sends nothing */
				conn_close(g, (int)i);
				continue;
			}
			p[n].fd = c->fd;
			p[n].events = (paused || c->closing || c->starved ? 0 : POLLIN) |
				      (c->out_off < c->out.len ? POLLOUT : 0);
			p[n].revents = 0;
			idx[n++] = (int)i;
		}
		int ms = now >= next_commit ? 0 : (int)((next_commit - now) / 1000000ULL) + 1;
		if (poll(p, n, ms) < 0 && errno != EINTR)
			break;
		for (size_t i = 0; i < n; i++) {
			if (!p[i].revents)
				continue;
			if (idx[i] == -2) {
				drain_offered(g, 4096);
				continue;
			}
			if (idx[i] < 0) {
				do_accept(g);
				continue;
			}
			if (g->conns[idx[i]].fd != p[i].fd)
				continue; /* closed meanwhile (a reconnect took its agent) */
			if (p[i].revents & (POLLIN | POLLHUP | POLLERR))
				conn_read(g, idx[i]);
			if (g->conns[idx[i]].fd == p[i].fd && (p[i].revents & POLLOUT))
				conn_write(g, idx[i]);
		}
		now = zt_clock_ns(CLOCK_MONOTONIC);
		if (now >= next_commit) {
			commit(g, false);
			next_commit = now + g->flush_ns;
		}
		/* acks queued by the commit go out without waiting for the next poll */
		for (uint32_t i = 0; i < g->max_conns; i++)
			if (g->conns[i].fd >= 0 && g->conns[i].out_off < g->conns[i].out.len)
				conn_write(g, (int)i);
	}
	zt_spanq_close(g->q); /* what was accepted is stored; later offers are refused */
	drain_offered(g, SIZE_MAX);
	commit(g, true);
	for (uint32_t i = 0; i < g->max_conns; i++)
		if (g->conns[i].fd >= 0 && g->conns[i].out_off < g->conns[i].out.len)
			conn_write(g, (int)i);
	free(p);
	free(idx);
	return 0;
}

size_t zt_ingest_agents(struct zt_ingest *g, struct zt_agent_info *out, size_t max)
{
	size_t n;

	pthread_mutex_lock(&g->mu);
	n = g->nagents;
	for (size_t i = 0; i < n && i < max; i++)
		out[i] = g->agents[i].info;
	pthread_mutex_unlock(&g->mu);
	return n;
}

void zt_ingest_get_stats(struct zt_ingest *g, struct zt_ingest_stats *out)
{
	pthread_mutex_lock(&g->mu);
	*out = g->st;
	pthread_mutex_unlock(&g->mu);
	out->offered_full = g->q ? zt_spanq_full(g->q) : 0;
}

const struct zt_store_sink *zt_ingest_sink(const struct zt_ingest *g)
{
	return g->sink;
}

void zt_ingest_free(struct zt_ingest *g)
{
	if (!g)
		return;
	if (g->conns)
		for (uint32_t i = 0; i < g->max_conns; i++) {
			if (g->conns[i].fd >= 0)
				close(g->conns[i].fd);
			zt_wbuf_free(&g->conns[i].in);
			zt_wbuf_free(&g->conns[i].out);
		}
	if (g->lfd >= 0)
		close(g->lfd);
	zt_store_sink_free(g->sink);
	zt_spanq_free(g->q);
	zt_wbuf_free(&g->scratch);
	free(g->pend);
	free(g->conns);
	free(g->agents);
	pthread_mutex_destroy(&g->mu);
	free(g);
}
