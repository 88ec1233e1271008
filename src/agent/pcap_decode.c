/* SPDX-License-Identifier: MIT */
/*
 * pcap_decode.c - packets to kernel-like records: link layer, IPv4/IPv6 (with
 * fragment reassembly), TCP reassembly per direction, UDP datagrams. See
 * pcap_source.h for what the records mean. Every byte is hostile: each read
 * is bounded by the captured length.
 */
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "agent/pcap_source.h"
#include "util/hash.h"

/* libpcap's DLT_* values (not included: the decoder needs no libpcap) */
#define LT_NULL 0
#define LT_EN10MB 1
#define LT_RAW_A 12  /* DLT_RAW on most systems */
#define LT_RAW_B 14  /* DLT_RAW on OpenBSD */
#define LT_RAW_C 101 /* LINKTYPE_RAW as stored in files */
#define LT_LOOP 108
#define LT_LINUX_SLL 113
#define LT_IPV4 228
#define LT_IPV6 229
#define LT_LINUX_SLL2 276

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_ACK 0x10

#define FRAG_MAX_BYTES 65535u
#define FRAG_TIMEOUT_NS (30ULL * 1000000000ULL)

/* ---- byte helpers ---- */

static inline uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- state ---- */

/* A segment held ahead of a hole; its captured bytes follow. */
struct oseg {
	struct oseg *next;
	uint32_t seq;
	uint32_t cap;
	uint64_t len;
	uint8_t data[];
};
/* What a held segment costs against the bounds: its bytes and its node. */
#define OSEG_COST(cap) (sizeof(struct oseg) + (cap))

/* One direction of a TCP flow: the bytes one end sends. */
struct half {
	bool started; /* next is valid */
	bool syn;     /* isn is valid */
	bool fin_seen, fin_done;
	bool delivered; /* bytes went out */
	uint32_t isn, next, fin_seq;
	struct oseg *ooo; /* sorted by seq */
	uint64_t held;	  /* OSEG_COST of the segments in ooo */
	uint64_t hole_ns; /* when the current hole was first waited on */
};

struct flow {
	struct flow *hnext, *lprev, *lnext;
	uint8_t addr[2][16]; /* end 0 < end 1 (address, then port) */
	uint16_t port[2];
	uint8_t l4;
	uint8_t v6;
	uint8_t client; /* index of the client end */
	bool closed;
	bool emitted;  /* data records went out: a close is due */
	bool any_data; /* a payload was seen: the client end is settled */
	uint64_t hash, gen, last_ns;
	struct half h[2];
};

struct frag {
	bool used;
	uint8_t v6, proto;
	uint8_t src[16], dst[16];
	uint32_t id;
	uint32_t total; /* payload length, known from the last fragment (0: not yet) */
	uint64_t first_ns;
	uint8_t *buf;					/* FRAG_MAX_BYTES */
	uint8_t bits[(FRAG_MAX_BYTES + 7) / 8 / 8 + 1]; /* one bit per 8-byte block */
};

struct zt_pcap_dec {
	struct zt_pcap_cfg cfg;
	zt_event_fn cb;
	void *ctx;
	struct zt_pcap_stats st;
	struct flow **buckets;
	uint32_t nbuckets, nflows;
	struct flow *lru_head, *lru_tail; /* most recent at head */
	uint64_t held_total;
	uint64_t gen;
	struct frag *frags;
	_Alignas(8) uint8_t ev[sizeof(struct zt_data_ev) + ZT_PAYLOAD_MAX];
};

struct zt_pcap_dec *zt_pcap_dec_new(const struct zt_pcap_cfg *cfg, zt_event_fn cb, void *ctx)
{
	struct zt_pcap_dec *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	if (cfg)
		d->cfg = *cfg;
	if (!d->cfg.max_flows)
		d->cfg.max_flows = 65536;
	if (!d->cfg.idle_timeout_ns)
		d->cfg.idle_timeout_ns = 120ULL * 1000000000ULL;
	if (!d->cfg.ooo_flow_bytes)
		d->cfg.ooo_flow_bytes = 1u << 20;
	if (!d->cfg.ooo_total_bytes)
		d->cfg.ooo_total_bytes = 64ULL << 20;
	if (!d->cfg.hole_timeout_ns)
		d->cfg.hole_timeout_ns = 2ULL * 1000000000ULL;
	if (!d->cfg.max_frags)
		d->cfg.max_frags = 64;
	if (!(d->cfg.sides & ZT_PCAP_SIDE_BOTH))
		d->cfg.sides = ZT_PCAP_SIDE_BOTH;
	d->cb = cb;
	d->ctx = ctx;
	d->nbuckets = 1;
	while (d->nbuckets < d->cfg.max_flows * 2u && d->nbuckets < (1u << 24))
		d->nbuckets <<= 1;
	d->buckets = calloc(d->nbuckets, sizeof(*d->buckets));
	d->frags = calloc(d->cfg.max_frags, sizeof(*d->frags));
	if (!d->buckets || !d->frags) {
		zt_pcap_dec_free(d);
		return NULL;
	}
	return d;
}

const struct zt_pcap_stats *zt_pcap_dec_stats(const struct zt_pcap_dec *d)
{
	return &d->st;
}

/* ---- records ---- */

static uint64_t sk_of(const struct flow *f, unsigned end)
{
	/* bit 63 clear: kernel struct sock addresses have it set */
	return (zt_mix64(f->hash ^ zt_mix64(end + 1)) & ~(1ULL << 63)) | 1;
}

/* One data record for each enabled view of the flow. `from`: the sending
 * end. data may be NULL when cap == 0 (a gap, or an EOF). */
static void emit_piece(struct zt_pcap_dec *d, struct flow *f, unsigned from, uint32_t seq,
		       const uint8_t *data, uint32_t cap, uint64_t len, uint32_t flags, uint64_t ts)
{
	struct zt_data_ev *e = (struct zt_data_ev *)(void *)d->ev;
	unsigned views[2] = {from, 1 - from}; /* the sender's view first */

	for (int i = 0; i < 2; i++) {
		unsigned x = views[i];
		unsigned side = x == f->client ? ZT_PCAP_SIDE_CLIENT : ZT_PCAP_SIDE_SERVER;
		if (!(d->cfg.sides & side))
			continue;
		memset(e, 0, sizeof(*e));
		e->hdr.type = ZT_EV_DATA;
		e->hdr.size = (uint32_t)(sizeof(*e) + cap);
		e->hdr.ts_ns = ts;
		e->enter_ns = e->exit_ns = ts;
		e->sk = sk_of(f, x);
		e->sock_ino = f->gen;
		e->bytes = len;
		e->fd = -1;
		e->tcp_seq = seq;
		e->flags = flags | ZT_DF_NIC;
		if (f->l4 == IPPROTO_TCP)
			e->flags |= ZT_DF_HAS_SEQ;
		if (cap < len)
			e->flags |= ZT_DF_TRUNCATED;
		e->cap_len = cap;
		e->family = f->v6 ? AF_INET6 : AF_INET;
		e->l4 = f->l4;
		e->lport = f->port[x];
		e->rport = f->port[1 - x];
		e->dir = x == from ? ZT_DIR_EGRESS : ZT_DIR_INGRESS;
		if (f->l4 == IPPROTO_TCP)
			e->syscall = e->dir == ZT_DIR_EGRESS ? ZT_SYS_WRITE : ZT_SYS_READ;
		else
			e->syscall = e->dir == ZT_DIR_EGRESS ? ZT_SYS_SENDTO : ZT_SYS_RECVFROM;
		memcpy(e->laddr, f->addr[x], 16);
		memcpy(e->raddr, f->addr[1 - x], 16);
		if (cap)
			memcpy(e + 1, data, cap);
		d->st.events++;
		f->emitted = true;
		d->cb(d->ctx, e, e->hdr.size);
	}
}

/* In-order stream bytes: pieces of at most ZT_PAYLOAD_MAX captured bytes;
 * the uncaptured tail (snap length) rides on the last piece. */
static void deliver(struct zt_pcap_dec *d, struct flow *f, unsigned from, uint32_t seq, const uint8_t *data,
		    uint32_t cap, uint64_t len, uint64_t ts)
{
	while (cap > ZT_PAYLOAD_MAX) {
		emit_piece(d, f, from, seq, data, ZT_PAYLOAD_MAX, ZT_PAYLOAD_MAX, 0, ts);
		seq += ZT_PAYLOAD_MAX;
		data += ZT_PAYLOAD_MAX;
		cap -= ZT_PAYLOAD_MAX;
		len -= ZT_PAYLOAD_MAX;
	}
	if (len)
		emit_piece(d, f, from, seq, data, cap, len, 0, ts);
	f->h[from].delivered = true;
}

static void emit_gap(struct zt_pcap_dec *d, struct flow *f, unsigned from, uint32_t seq, uint64_t n,
		     uint64_t ts)
{
	d->st.gaps++;
	d->st.gap_bytes += n;
	emit_piece(d, f, from, seq, NULL, 0, n, 0, ts);
	f->h[from].delivered = true;
}

static void emit_close(struct zt_pcap_dec *d, struct flow *f, uint64_t ts)
{
	struct zt_sock_ev e;

	if (!f->emitted || f->l4 != IPPROTO_TCP)
		return;
	for (unsigned x = 0; x < 2; x++) {
		unsigned side = x == f->client ? ZT_PCAP_SIDE_CLIENT : ZT_PCAP_SIDE_SERVER;
		if (!(d->cfg.sides & side))
			continue;
		memset(&e, 0, sizeof(e));
		e.hdr.type = ZT_EV_SOCK_STATE;
		e.hdr.size = sizeof(e);
		e.hdr.ts_ns = ts;
		e.sk = sk_of(f, x);
		e.oldstate = ZT_TCP_ESTABLISHED;
		e.newstate = ZT_TCP_CLOSE;
		e.family = f->v6 ? AF_INET6 : AF_INET;
		e.lport = f->port[x];
		e.rport = f->port[1 - x];
		memcpy(e.laddr, f->addr[x], 16);
		memcpy(e.raddr, f->addr[1 - x], 16);
		d->st.events++;
		d->cb(d->ctx, &e, sizeof(e));
	}
	f->emitted = false;
}

/* ---- TCP reassembly ---- */

static void free_ooo(struct zt_pcap_dec *d, struct half *h)
{
	while (h->ooo) {
		struct oseg *s = h->ooo;
		h->ooo = s->next;
		free(s);
	}
	d->held_total -= h->held;
	h->held = 0;
	h->hole_ns = 0;
}

/* Trims n already-delivered bytes off the head of a segment. */
static void trim_head(const uint8_t **data, uint32_t *cap, uint64_t *len, uint64_t n)
{
	uint32_t c = n < *cap ? (uint32_t)n : *cap;
	*data += c;
	*cap -= c;
	*len -= n;
}

/* The FIN of `from`, once every byte before it went out: the peer's view
 * reads an end of file. */
static void check_fin(struct zt_pcap_dec *d, struct flow *f, unsigned from, uint64_t ts)
{
	struct half *h = &f->h[from];

	if (!h->fin_seen || h->fin_done || h->next != h->fin_seq)
		return;
	h->fin_done = true;
	h->next++;
	unsigned x = 1 - from;
	unsigned side = x == f->client ? ZT_PCAP_SIDE_CLIENT : ZT_PCAP_SIDE_SERVER;
	if ((d->cfg.sides & side) && f->emitted) {
		/* one record for the receiving view only: a read returning 0 */
		unsigned save = d->cfg.sides;
		d->cfg.sides = side;
		emit_piece(d, f, from, h->fin_seq, NULL, 0, 0, ZT_DF_EOF, ts);
		d->cfg.sides = save;
	}
}

/* Held segments that became in order go out. */
static void drain(struct zt_pcap_dec *d, struct flow *f, unsigned from, uint64_t ts)
{
	struct half *h = &f->h[from];

	while (h->ooo && (int32_t)(h->ooo->seq - h->next) <= 0) {
		struct oseg *s = h->ooo;
		const uint8_t *data = s->data;
		uint32_t cap = s->cap;
		uint64_t len = s->len, old = (uint32_t)(h->next - s->seq);

		h->ooo = s->next;
		h->held -= OSEG_COST(s->cap);
		d->held_total -= OSEG_COST(s->cap);
		if (old >= len) {
			d->st.retrans_segments++;
			d->st.retrans_bytes += len;
		} else {
			if (old) {
				d->st.retrans_segments++;
				d->st.retrans_bytes += old;
				trim_head(&data, &cap, &len, old);
			}
			deliver(d, f, from, h->next, data, cap, len, ts);
			h->next += (uint32_t)len;
		}
		free(s);
	}
	h->hole_ns = h->ooo ? ts : 0;
	check_fin(d, f, from, ts);
}

/* Gives up the holes of one direction: each becomes a gap, the held bytes
 * go out. to_fin: also the hole before a FIN that was seen. */
static void flush_holes(struct zt_pcap_dec *d, struct flow *f, unsigned from, bool to_fin, uint64_t ts)
{
	struct half *h = &f->h[from];

	while (h->ooo) {
		int32_t diff = (int32_t)(h->ooo->seq - h->next);
		if (diff > 0) {
			emit_gap(d, f, from, h->next, (uint32_t)diff, ts);
			h->next = h->ooo->seq;
		}
		drain(d, f, from, ts);
	}
	if (to_fin && h->started && h->fin_seen && !h->fin_done) {
		int32_t diff = (int32_t)(h->fin_seq - h->next);
		if (diff > 0) {
			emit_gap(d, f, from, h->next, (uint32_t)diff, ts);
			h->next = h->fin_seq;
		}
		check_fin(d, f, from, ts);
	}
}

static void close_flow(struct zt_pcap_dec *d, struct flow *f, bool graceful, uint64_t ts)
{
	if (f->closed)
		return;
	for (unsigned e = 0; e < 2; e++)
		flush_holes(d, f, e, graceful, ts);
	emit_close(d, f, ts);
	for (unsigned e = 0; e < 2; e++)
		free_ooo(d, &f->h[e]);
	f->closed = true;
}

static bool over_bounds(const struct zt_pcap_dec *d, const struct half *h, uint32_t cap)
{
	return h->held + OSEG_COST(cap) > d->cfg.ooo_flow_bytes ||
	       d->held_total + OSEG_COST(cap) > d->cfg.ooo_total_bytes;
}

/* Before `from`'s bytes go out: the peer's bytes before them are all the
 * capture will show. Its holes become gaps, and so do bytes `from`
 * acknowledges that the capture never showed (a response proves its request
 * arrived whole: the capture missed the rest). */
static void peer_settle(struct zt_pcap_dec *d, struct flow *f, unsigned from, uint32_t ack, bool has_ack,
			uint64_t ts)
{
	struct half *o = &f->h[1 - from];

	if (o->ooo)
		flush_holes(d, f, 1 - from, false, ts);
	if (!has_ack || !o->started || o->fin_done)
		return;
	uint32_t lim = ack;
	if (o->fin_seen && (int32_t)(lim - o->fin_seq) > 0)
		lim = o->fin_seq; /* the ack counts the FIN too */
	int32_t diff = (int32_t)(lim - o->next);
	if (diff > 0 && diff < (1 << 30)) {
		emit_gap(d, f, 1 - from, o->next, (uint32_t)diff, ts);
		o->next = lim;
		check_fin(d, f, 1 - from, ts);
	}
}

static void tcp_data(struct zt_pcap_dec *d, struct flow *f, unsigned from, uint32_t seq, const uint8_t *data,
		     uint32_t cap, uint64_t len, uint32_t ack, bool has_ack, uint64_t ts, int depth)
{
	struct half *h = &f->h[from];
	int32_t diff = (int32_t)(seq - h->next);

	if (diff < 0) {
		uint64_t old = (uint32_t)(h->next - seq);
		d->st.retrans_segments++;
		if (old >= len) {
			d->st.retrans_bytes += len;
			return;
		}
		d->st.retrans_bytes += old;
		trim_head(&data, &cap, &len, old);
		seq = h->next;
		diff = 0;
	}
	if (diff == 0) {
		peer_settle(d, f, from, ack, has_ack, ts);
		deliver(d, f, from, seq, data, cap, len, ts);
		h->next += (uint32_t)len;
		drain(d, f, from, ts);
		return;
	}
	if (over_bounds(d, h, cap)) {
		d->st.ooo_overflow++;
		flush_holes(d, f, from, false, ts);
		if (depth == 0 && (int32_t)(seq - h->next) <= 0) {
			tcp_data(d, f, from, seq, data, cap, len, ack, has_ack, ts, 1);
			return;
		}
		if (over_bounds(d, h, cap)) {
			/* other flows hold the memory: no waiting for this hole */
			emit_gap(d, f, from, h->next, (uint32_t)(seq - h->next), ts);
			h->next = seq;
			deliver(d, f, from, seq, data, cap, len, ts);
			h->next += (uint32_t)len;
			check_fin(d, f, from, ts);
			return;
		}
	}
	/* ahead of a hole: held, sorted by seq */
	struct oseg *s = malloc(sizeof(*s) + cap), **pp = &h->ooo;
	if (!s) {
		d->st.ooo_overflow++;
		return;
	}
	s->seq = seq;
	s->cap = cap;
	s->len = len;
	if (cap)
		memcpy(s->data, data, cap);
	while (*pp && (int32_t)((*pp)->seq - seq) <= 0)
		pp = &(*pp)->next;
	s->next = *pp;
	*pp = s;
	if (!h->hole_ns)
		h->hole_ns = ts;
	h->held += OSEG_COST(cap);
	d->held_total += OSEG_COST(cap);
	d->st.ooo_segments++;
}

/* ---- the flow table ---- */

static uint32_t bucket_of(const struct zt_pcap_dec *d, uint64_t hash)
{
	return (uint32_t)hash & (d->nbuckets - 1);
}

static void lru_unlink(struct zt_pcap_dec *d, struct flow *f)
{
	if (f->lprev)
		f->lprev->lnext = f->lnext;
	else
		d->lru_head = f->lnext;
	if (f->lnext)
		f->lnext->lprev = f->lprev;
	else
		d->lru_tail = f->lprev;
	f->lprev = f->lnext = NULL;
}

static void lru_push(struct zt_pcap_dec *d, struct flow *f)
{
	f->lprev = NULL;
	f->lnext = d->lru_head;
	if (d->lru_head)
		d->lru_head->lprev = f;
	d->lru_head = f;
	if (!d->lru_tail)
		d->lru_tail = f;
}

static void flow_remove(struct zt_pcap_dec *d, struct flow *f)
{
	for (struct flow **pp = &d->buckets[bucket_of(d, f->hash)]; *pp; pp = &(*pp)->hnext)
		if (*pp == f) {
			*pp = f->hnext;
			break;
		}
	lru_unlink(d, f);
	for (unsigned e = 0; e < 2; e++)
		free_ooo(d, &f->h[e]);
	d->nflows--;
	free(f);
}

/* Ends a flow that leaves the table (idle, evicted, end of capture). */
static void flow_end(struct zt_pcap_dec *d, struct flow *f, uint64_t ts)
{
	if (!f->closed) {
		close_flow(d, f, true, ts);
	}
	flow_remove(d, f);
}

static void expire(struct zt_pcap_dec *d, uint64_t ts)
{
	while (d->lru_tail && d->lru_tail->last_ns + d->cfg.idle_timeout_ns < ts) {
		if (!d->lru_tail->closed)
			d->st.flows_idle++;
		flow_end(d, d->lru_tail, ts);
	}
}

static const uint16_t server_ports[] = {21,   22,   23,	  25,	53,   80,   110,   143,	  389,	 443,
					636,  1433, 1521, 1883, 2181, 3306, 4222,  5432,  5672,	 6379,
					8080, 8443, 8883, 9042, 9092, 9200, 11211, 15672, 20880, 27017};

static bool known_server_port(uint16_t p)
{
	for (size_t i = 0; i < sizeof(server_ports) / sizeof(server_ports[0]); i++)
		if (server_ports[i] == p)
			return true;
	return false;
}

/* The client end of a flow seen without its SYN. */
static uint8_t guess_client(const struct flow *f, unsigned from)
{
	bool k0 = known_server_port(f->port[0]), k1 = known_server_port(f->port[1]);

	if (k0 != k1)
		return k0 ? 1 : 0;
	if (f->l4 == IPPROTO_TCP && f->port[0] != f->port[1])
		return f->port[0] > f->port[1] ? 0 : 1;
	return (uint8_t)from;
}

static void flow_reset(struct zt_pcap_dec *d, struct flow *f, unsigned from)
{
	memset(f->h, 0, sizeof(f->h));
	f->closed = f->emitted = f->any_data = false;
	f->gen = ++d->gen;
	f->client = guess_client(f, from);
	d->st.flows++;
}

/* The flow of a packet; *from = the sending end (0 or 1). */
static struct flow *flow_get(struct zt_pcap_dec *d, uint8_t l4, bool v6, const uint8_t src[16],
			     uint16_t sport, const uint8_t dst[16], uint16_t dport, unsigned *from,
			     uint64_t ts)
{
	int c = memcmp(src, dst, 16);
	unsigned s = c < 0 || (c == 0 && sport <= dport) ? 0 : 1;
	const uint8_t *a0 = s == 0 ? src : dst, *a1 = s == 0 ? dst : src;
	uint16_t p0 = s == 0 ? sport : dport, p1 = s == 0 ? dport : sport;
	uint64_t hh = 1469598103934665603ULL;
	struct flow *f;

	for (int i = 0; i < 16; i++)
		hh = (hh ^ a0[i]) * 1099511628211ULL;
	for (int i = 0; i < 16; i++)
		hh = (hh ^ a1[i]) * 1099511628211ULL;
	hh = zt_mix64(hh ^ ((uint64_t)p0 << 32 | (uint64_t)p1 << 16 | l4));
	*from = s;
	for (f = d->buckets[bucket_of(d, hh)]; f; f = f->hnext)
		if (f->hash == hh && f->l4 == l4 && f->port[0] == p0 && f->port[1] == p1 &&
		    memcmp(f->addr[0], a0, 16) == 0 && memcmp(f->addr[1], a1, 16) == 0)
			break;
	if (f) {
		if (d->lru_head != f) {
			lru_unlink(d, f);
			lru_push(d, f);
		}
		if (ts > f->last_ns)
			f->last_ns = ts;
		return f;
	}
	if (d->nflows >= d->cfg.max_flows && d->lru_tail) {
		if (!d->lru_tail->closed)
			d->st.flows_evicted++;
		flow_end(d, d->lru_tail, ts);
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	memcpy(f->addr[0], a0, 16);
	memcpy(f->addr[1], a1, 16);
	f->port[0] = p0;
	f->port[1] = p1;
	f->l4 = l4;
	f->v6 = v6;
	f->hash = hh;
	f->last_ns = ts;
	flow_reset(d, f, s);
	f->hnext = d->buckets[bucket_of(d, hh)];
	d->buckets[bucket_of(d, hh)] = f;
	lru_push(d, f);
	d->nflows++;
	return f;
}

/* ---- L4 ---- */

static void tcp_segment(struct zt_pcap_dec *d, bool v6, const uint8_t *src, const uint8_t *dst,
			const uint8_t *p, uint32_t cap, uint32_t wire, uint64_t ts)
{
	unsigned from;
	struct flow *f;
	struct half *h;

	if (cap < 20 || wire < 20) {
		d->st.malformed++;
		return;
	}
	uint32_t doff = (uint32_t)(p[12] >> 4) * 4;
	uint8_t fl = p[13];
	uint32_t seq = be32(p + 4);
	if (doff < 20 || doff > cap || doff > wire) {
		d->st.malformed++;
		return;
	}
	d->st.tcp_segments++;
	const uint8_t *data = p + doff;
	uint32_t dcap = cap - doff;
	uint64_t len = wire - doff;
	f = flow_get(d, IPPROTO_TCP, v6, src, be16(p), dst, be16(p + 2), &from, ts);
	if (!f)
		return;
	h = &f->h[from];
	if ((fl & (TH_SYN | TH_ACK)) == TH_SYN) {
		/* a new connection on a closed 4-tuple, or on one that carried
		 * data without this SYN (a new ISN, or a flow seen mid-stream) */
		if (f->closed || (h->syn && h->isn != seq) || (!h->syn && f->any_data)) {
			if (!f->closed) {
				close_flow(d, f, true, ts);
				d->st.flows_closed++;
			}
			flow_reset(d, f, from);
		}
	}
	if (f->closed) {
		if (len)
			d->st.after_close++;
		return;
	}
	if (fl & TH_RST) {
		close_flow(d, f, false, ts);
		d->st.flows_closed++;
		return;
	}
	if (fl & TH_SYN) {
		if (!(fl & TH_ACK)) {
			if (!h->syn && !h->delivered) {
				h->syn = h->started = true;
				h->isn = seq;
				h->next = seq + 1;
			}
			if (!f->any_data)
				f->client = (uint8_t)from;
		} else {
			if (!h->delivered && (!h->syn || h->isn != seq)) {
				free_ooo(d, h);
				h->syn = h->started = true;
				h->isn = seq;
				h->next = seq + 1;
			}
			if (!f->any_data)
				f->client = (uint8_t)(1 - from);
		}
		seq++; /* data on a SYN (fast open) follows the ISN */
	}
	if (!h->started) {
		if (!len && !(fl & TH_FIN))
			return; /* a pure ACK or keep-alive starts nothing */
		h->started = true;
		h->next = seq;
	}
	if ((fl & TH_FIN) && !h->fin_seen) {
		h->fin_seen = true;
		h->fin_seq = seq + (uint32_t)len;
	}
	if (len) {
		f->any_data = true;
		tcp_data(d, f, from, seq, data, dcap, len, be32(p + 8), (fl & TH_ACK) != 0, ts, 0);
	}
	check_fin(d, f, from, ts);
	if (f->h[0].fin_done && f->h[1].fin_done) {
		close_flow(d, f, true, ts);
		d->st.flows_closed++;
		return;
	}
	for (unsigned e = 0; e < 2; e++)
		if (f->h[e].ooo && f->h[e].hole_ns + d->cfg.hole_timeout_ns < ts)
			flush_holes(d, f, e, false, ts);
}

static void udp_datagram(struct zt_pcap_dec *d, bool v6, const uint8_t *src, const uint8_t *dst,
			 const uint8_t *p, uint32_t cap, uint32_t wire, uint64_t ts)
{
	unsigned from;
	struct flow *f;

	if (cap < 8 || wire < 8 || be16(p + 4) < 8) {
		d->st.malformed++;
		return;
	}
	uint64_t len = be16(p + 4) - 8u;
	if (len > wire - 8u)
		len = wire - 8u;
	uint32_t dcap = cap - 8 < len ? cap - 8 : (uint32_t)len;
	d->st.udp_datagrams++;
	f = flow_get(d, IPPROTO_UDP, v6, src, be16(p), dst, be16(p + 2), &from, ts);
	if (!f || !len)
		return;
	f->any_data = true;
	emit_piece(d, f, from, 0, p + 8, dcap > ZT_PAYLOAD_MAX ? ZT_PAYLOAD_MAX : dcap, len, 0, ts);
}

static void l4_packet(struct zt_pcap_dec *d, bool v6, const uint8_t *src, const uint8_t *dst, uint8_t proto,
		      const uint8_t *p, uint32_t cap, uint32_t wire, uint64_t ts)
{
	if (cap < wire)
		d->st.cut++;
	if (proto == IPPROTO_TCP)
		tcp_segment(d, v6, src, dst, p, cap, wire, ts);
	else if (proto == IPPROTO_UDP)
		udp_datagram(d, v6, src, dst, p, cap, wire, ts);
	else
		d->st.other_l4++;
}

/* ---- IP fragments ---- */

static void frag_drop(struct zt_pcap_dec *d, struct frag *fr)
{
	d->st.ip_frag_dropped++;
	fr->used = false;
}

/* One fragment: payload bytes [off, off + n) of datagram (src, dst, id,
 * proto); more: not the last one. A complete datagram goes on to L4. */
static void ip_fragment(struct zt_pcap_dec *d, bool v6, const uint8_t *src, const uint8_t *dst, uint32_t id,
			uint8_t proto, uint32_t off, const uint8_t *p, uint32_t n, bool more, bool cut,
			uint64_t ts)
{
	struct frag *fr = NULL, *free_slot = NULL, *oldest = NULL;

	d->st.ip_fragments++;
	for (uint32_t i = 0; i < d->cfg.max_frags; i++) {
		struct frag *x = &d->frags[i];
		if (x->used && x->first_ns + FRAG_TIMEOUT_NS < ts)
			frag_drop(d, x);
		if (x->used && x->v6 == v6 && x->id == id && x->proto == proto && !memcmp(x->src, src, 16) &&
		    !memcmp(x->dst, dst, 16)) {
			fr = x;
			break;
		}
		if (!x->used) {
			if (!free_slot)
				free_slot = x;
		} else if (!oldest || x->first_ns < oldest->first_ns) {
			oldest = x;
		}
	}
	struct frag *victim = free_slot ? free_slot : oldest;
	if (cut || (more && n % 8) || off + n > FRAG_MAX_BYTES) {
		/* a fragment whose bytes are not all here: the datagram is lost */
		if (fr)
			frag_drop(d, fr);
		else
			d->st.ip_frag_dropped++;
		return;
	}
	if (!fr) {
		if (!victim)
			return;
		if (victim->used)
			frag_drop(d, victim);
		fr = victim;
		if (!fr->buf && !(fr->buf = malloc(FRAG_MAX_BYTES))) {
			d->st.ip_frag_dropped++;
			return;
		}
		fr->used = true;
		fr->v6 = v6;
		fr->proto = proto;
		fr->id = id;
		memcpy(fr->src, src, 16);
		memcpy(fr->dst, dst, 16);
		fr->total = 0;
		fr->first_ns = ts;
		memset(fr->bits, 0, sizeof(fr->bits));
	}
	if (!more) {
		if (fr->total && fr->total != off + n) {
			frag_drop(d, fr);
			return;
		}
		fr->total = off + n;
	}
	if (fr->total && off + n > fr->total) {
		frag_drop(d, fr);
		return;
	}
	memcpy(fr->buf + off, p, n);
	for (uint32_t b = off / 8; b < (off + n + 7) / 8; b++)
		fr->bits[b / 8] |= (uint8_t)(1u << (b % 8));
	if (!fr->total)
		return;
	for (uint32_t b = 0; b < (fr->total + 7) / 8; b++)
		if (!(fr->bits[b / 8] & (1u << (b % 8))))
			return;
	fr->used = false;
	d->st.ip_reassembled++;
	l4_packet(d, v6, fr->src, fr->dst, fr->proto, fr->buf, fr->total, fr->total, ts);
}

/* ---- IP ---- */

static void ipv4_packet(struct zt_pcap_dec *d, const uint8_t *p, uint32_t cap, uint64_t ts)
{
	uint8_t src[16] = {0}, dst[16] = {0};

	if (cap < 20 || (p[0] >> 4) != 4) {
		d->st.malformed++;
		return;
	}
	uint32_t ihl = (uint32_t)(p[0] & 15) * 4, tot = be16(p + 2);
	if (ihl < 20 || tot < ihl || ihl > cap) {
		d->st.malformed++;
		return;
	}
	src[10] = src[11] = dst[10] = dst[11] = 0xff;
	memcpy(src + 12, p + 12, 4);
	memcpy(dst + 12, p + 16, 4);
	uint32_t have = cap < tot ? cap : tot; /* Ethernet pads short frames */
	uint16_t fo = be16(p + 6);
	if (fo & 0x3fff) {
		ip_fragment(d, false, src, dst, be16(p + 4), p[9], (uint32_t)(fo & 0x1fff) * 8, p + ihl,
			    have - ihl, (fo & 0x2000) != 0, have < tot, ts);
		return;
	}
	l4_packet(d, false, src, dst, p[9], p + ihl, have - ihl, tot - ihl, ts);
}

static void ipv6_packet(struct zt_pcap_dec *d, const uint8_t *p, uint32_t cap, uint64_t ts)
{
	if (cap < 40 || (p[0] >> 4) != 6) {
		d->st.malformed++;
		return;
	}
	uint32_t plen = be16(p + 4), off = 40, end;
	uint8_t nh = p[6];
	const uint8_t *src = p + 8, *dst = p + 24;

	if (plen == 0) /* a jumbogram or a zero payload: take what was captured */
		plen = cap - 40;
	end = 40 + plen;
	uint32_t have = cap < end ? cap : end;
	for (int hops = 0; hops < 8; hops++) {
		switch (nh) {
		case 0:	 /* hop-by-hop */
		case 43: /* routing */
		case 60: /* destination options */
			if (off + 8 > have) {
				d->st.malformed++;
				return;
			}
			nh = p[off];
			off += ((uint32_t)p[off + 1] + 1) * 8;
			continue;
		case 51: /* AH */
			if (off + 8 > have) {
				d->st.malformed++;
				return;
			}
			nh = p[off];
			off += ((uint32_t)p[off + 1] + 2) * 4;
			continue;
		case 44: { /* fragment */
			if (off + 8 > have) {
				d->st.malformed++;
				return;
			}
			uint16_t fo = be16(p + off + 2);
			uint8_t proto = p[off];
			uint32_t id = be32(p + off + 4);
			off += 8;
			if ((fo & 0xfff8) == 0 && !(fo & 1)) /* an atomic fragment */ {
				nh = proto;
				continue;
			}
			ip_fragment(d, true, src, dst, id, proto, fo & 0xfff8u, p + off, have - off, fo & 1,
				    have < end, ts);
			return;
		}
		default:
			if (off > have) {
				d->st.malformed++;
				return;
			}
			l4_packet(d, true, src, dst, nh, p + off, have - off, end - off, ts);
			return;
		}
	}
	d->st.malformed++;
}

static void ip_packet(struct zt_pcap_dec *d, uint16_t ethertype, const uint8_t *p, uint32_t cap, uint64_t ts)
{
	if (ethertype == 0x0800)
		ipv4_packet(d, p, cap, ts);
	else if (ethertype == 0x86dd)
		ipv6_packet(d, p, cap, ts);
	else
		d->st.non_ip++;
}

/* Ethertype after VLAN tags (802.1Q, 802.1ad, QinQ) at p[off..]. */
static bool skip_vlans(const uint8_t *p, uint32_t cap, uint32_t *off, uint16_t *type)
{
	for (int i = 0; i < 4 && (*type == 0x8100 || *type == 0x88a8 || *type == 0x9100); i++) {
		if (*off + 4 > cap)
			return false;
		*type = be16(p + *off + 2);
		*off += 4;
	}
	return true;
}

void zt_pcap_dec_packet(struct zt_pcap_dec *d, int linktype, uint64_t ts, const uint8_t *p, uint32_t cap,
			uint32_t wire)
{
	uint32_t off;
	uint16_t type;

	(void)wire; /* the IP header says how long the packet was */
	d->st.packets++;
	expire(d, ts);
	switch (linktype) {
	case LT_EN10MB:
		if (cap < 14)
			goto short_hdr;
		type = be16(p + 12);
		off = 14;
		if (!skip_vlans(p, cap, &off, &type))
			goto short_hdr;
		break;
	case LT_LINUX_SLL:
		if (cap < 16)
			goto short_hdr;
		type = be16(p + 14);
		off = 16;
		if (!skip_vlans(p, cap, &off, &type))
			goto short_hdr;
		break;
	case LT_LINUX_SLL2:
		if (cap < 20)
			goto short_hdr;
		type = be16(p);
		off = 20;
		if (!skip_vlans(p, cap, &off, &type))
			goto short_hdr;
		break;
	case LT_NULL:
	case LT_LOOP: {
		if (cap < 4)
			goto short_hdr;
		/* the address family, in the capturing host's byte order
		 * (NULL) or network order (LOOP): try both */
		uint32_t fam =
		    (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
		if (fam > 0xffff)
			fam = be32(p);
		off = 4;
		type = fam == 2 ? 0x0800 : (fam == 10 || fam == 24 || fam == 28 || fam == 30) ? 0x86dd : 0;
		break;
	}
	case LT_RAW_A:
	case LT_RAW_B:
	case LT_RAW_C:
	case LT_IPV4:
	case LT_IPV6:
		if (cap < 1)
			goto short_hdr;
		off = 0;
		type = (p[0] >> 4) == 4 ? 0x0800 : (p[0] >> 4) == 6 ? 0x86dd : 0;
		break;
	default:
		d->st.non_ip++;
		return;
	}
	ip_packet(d, type, p + off, cap - off, ts);
	return;
short_hdr:
	d->st.malformed++;
}

void zt_pcap_dec_finish(struct zt_pcap_dec *d)
{
	uint64_t ts = d->lru_head ? d->lru_head->last_ns : 0;

	/* oldest first, as an idle timeout would have closed them */
	while (d->lru_tail)
		flow_end(d, d->lru_tail, ts);
	for (uint32_t i = 0; i < d->cfg.max_frags; i++)
		if (d->frags[i].used)
			frag_drop(d, &d->frags[i]);
}

void zt_pcap_dec_free(struct zt_pcap_dec *d)
{
	if (!d)
		return;
	if (d->buckets)
		while (d->lru_tail)
			flow_remove(d, d->lru_tail);
	if (d->frags)
		for (uint32_t i = 0; i < d->cfg.max_frags; i++)
			free(d->frags[i].buf);
	free(d->frags);
	free(d->buckets);
	free(d);
}
