/* SPDX-License-Identifier: MIT */
/*
 * rollup.c - see rollup.h. Three bounded tables, all allocated up front:
 * the delta series (open addressing over an array, emptied by a drain),
 * the cumulative /metrics series (never emptied), and the edges waiting
 * for their other end (a ring in arrival order with hash chains by uid,
 * like the joiner's: expiry times grow along the ring) plus a small map of
 * server addresses.
 *
 * One exchange adds to a fine row, the coarse row its bucket falls in and
 * a /metrics series, all of one identity: the fine row remembers the other
 * two (until the drain empties the rows), so only the fine row is looked
 * up by its key; each table compares a stored hash before the key's text.
 */
#include "trace/rollup.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/hash.h"

#define NONE UINT32_MAX
#define NS 1000000000ULL

const double zt_prom_le[ZT_PROM_LE_N] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
					 0.25,	 0.5,	1,	2.5,   5,    10,    30,	  60};

const char *zt_rollup_kind_name(unsigned k)
{
	static const char *names[ZT_RK__COUNT] = {"service", "endpoint", "edge"};
	return k < ZT_RK__COUNT ? names[k] : "unknown";
}

/* ---- values ---- */

void zt_rollup_val_add(struct zt_rollup_val *v, uint64_t duration_ns, uint8_t st)
{
	v->requests++;
	if (st == ZT_RS_CLIENT_ERROR)
		v->errors[ZT_RERR_CLIENT]++;
	else if (st == ZT_RS_SERVER_ERROR)
		v->errors[ZT_RERR_SERVER]++;
	else if (st == ZT_RS_TIMEOUT)
		v->errors[ZT_RERR_TIMEOUT]++;
	v->sum_ns += duration_ns;
	zt_hist_add(&v->hist, duration_ns, 1);
}

void zt_rollup_val_merge(struct zt_rollup_val *d, const struct zt_rollup_val *s)
{
	d->requests += s->requests;
	for (int i = 0; i < ZT_RERR__COUNT; i++)
		d->errors[i] += s->errors[i];
	d->sum_ns += s->sum_ns;
	zt_hist_merge(&d->hist, &s->hist);
}

/* ---- the object ---- */

enum pstate { P_DEAD = 0, P_CLIENT, P_SERVER, P_ORPHAN };

struct side {
	char service[ZT_SERVICE_LEN];
	char host[ZT_HOSTNAME_LEN];
	uint32_t pid;
};

/* An exchange waiting for its other end, keyed by the client span's uid
 * (P_CLIENT, P_SERVER) or the server span's own (P_ORPHAN). */
struct pend {
	uint8_t state; /* enum pstate */
	uint8_t l7, status;
	uint16_t server_port;
	uint32_t next; /* hash chain */
	uint64_t expire_ns, start_ns, dur_ns;
	uint8_t server_ip[16];
	char uid[ZT_UID_LEN];
	struct side cli, srv; /* cli: P_CLIENT; srv: P_SERVER, P_ORPHAN */
};

struct addr {
	uint8_t ip[16];
	uint16_t port;
	bool used;
	struct side srv;
};

struct zt_rollup {
	pthread_mutex_t mu;
	struct zt_rollup_cfg cfg;
	struct zt_rollup_stats st;
	struct zt_rollup_row *rows;
	uint32_t nrows, *rindex, rmask;
	/* per row, the histogram buckets that may be non-zero: [dlo, dhi).
	 * A reused row clears only those (the whole histogram is 5 KiB, a
	 * series' latencies touch a few dozen buckets). */
	uint16_t *dlo, *dhi;
	uint64_t *rhash;          /* per row: key_hash */
	uint32_t *rcoarse, *rprom; /* per fine row: its coarse row, its /metrics series (NONE: not yet) */
	struct zt_prom_series *prom;
	uint64_t *phash; /* per /metrics series: prom_hash */
	uint32_t nprom, *pindex, pmask;
	struct pend *pend;
	uint32_t phead, pn, *pbucket, pbmask;
	struct addr *addrs; /* direct-mapped by hash: a collision replaces */
	uint64_t latest;    /* stream time: latest span end or tick */
};

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;
	while (p < n)
		p <<= 1;
	return p;
}

struct zt_rollup *zt_rollup_new(const struct zt_rollup_cfg *cfg)
{
	struct zt_rollup *r = calloc(1, sizeof(*r));
	uint32_t rn, pn, bn;

	if (!r)
		return NULL;
	if (pthread_mutex_init(&r->mu, NULL)) {
		free(r);
		return NULL;
	}
	r->cfg = *cfg;
	if (!r->cfg.max_series)
		r->cfg.max_series = 2048;
	if (!r->cfg.max_prom_series)
		r->cfg.max_prom_series = 2048;
	if (!r->cfg.max_pending)
		r->cfg.max_pending = 16384;
	if (!r->cfg.max_addrs)
		r->cfg.max_addrs = 4096;
	if (!r->cfg.edge_hold_ns)
		r->cfg.edge_hold_ns = 2 * NS;
	rn = pow2_at_least(r->cfg.max_series * 2);
	pn = pow2_at_least(r->cfg.max_prom_series * 2);
	bn = pow2_at_least(r->cfg.max_pending);
	r->cfg.max_addrs = pow2_at_least(r->cfg.max_addrs);
	r->rmask = rn - 1;
	r->pmask = pn - 1;
	r->pbmask = bn - 1;
	r->rows = calloc(r->cfg.max_series, sizeof(*r->rows));
	r->rindex = malloc(rn * sizeof(uint32_t));
	r->dlo = calloc(r->cfg.max_series, sizeof(*r->dlo));
	r->dhi = calloc(r->cfg.max_series, sizeof(*r->dhi));
	r->rhash = calloc(r->cfg.max_series, sizeof(*r->rhash));
	r->rcoarse = calloc(r->cfg.max_series, sizeof(*r->rcoarse));
	r->rprom = calloc(r->cfg.max_series, sizeof(*r->rprom));
	r->prom = calloc(r->cfg.max_prom_series, sizeof(*r->prom));
	r->phash = calloc(r->cfg.max_prom_series, sizeof(*r->phash));
	r->pindex = malloc(pn * sizeof(uint32_t));
	r->pend = calloc(r->cfg.max_pending, sizeof(*r->pend));
	r->pbucket = malloc(bn * sizeof(uint32_t));
	r->addrs = calloc(r->cfg.max_addrs, sizeof(*r->addrs));
	if (!r->rows || !r->rindex || !r->dlo || !r->dhi || !r->rhash || !r->rcoarse || !r->rprom || !r->prom ||
	    !r->phash || !r->pindex || !r->pend || !r->pbucket || !r->addrs) {
		zt_rollup_free(r);
		return NULL;
	}
	memset(r->rindex, 0xff, rn * sizeof(uint32_t));
	memset(r->pindex, 0xff, pn * sizeof(uint32_t));
	memset(r->pbucket, 0xff, bn * sizeof(uint32_t));
	return r;
}

void zt_rollup_free(struct zt_rollup *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->mu);
	free(r->dlo);
	free(r->dhi);
	free(r->rhash);
	free(r->rcoarse);
	free(r->rprom);
	free(r->phash);
	free(r->rows);
	free(r->rindex);
	free(r->prom);
	free(r->pindex);
	free(r->pend);
	free(r->pbucket);
	free(r->addrs);
	free(r);
}

/* ---- series ---- */

/* A string's hash for the tables (never stored: only lookups use it): the
 * bytes gathered into words, one multiply per 8 (byte-wise FNV of every
 * text of every key was a tenth of the rollup); no calls, and "" (most
 * keys have an empty text or two) costs nothing. */
static uint64_t text_hash(const char *s)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL, w = 0;
	unsigned k = 0;

	if (!*s)
		return 0;
	for (; *s; s++) {
		w = w << 8 | (unsigned char)*s;
		if (++k == 8) {
			h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
			h ^= h >> 29;
			w = 0;
			k = 0;
		}
	}
	return zt_mix64(h ^ w ^ (uint64_t)k << 56);
}

/* A key's hash in two parts: its identity (text, ids; the same for both
 * resolutions of one exchange, so hashed once) and its time bucket. */
static uint64_t ident_hash(const struct zt_rollup_key *k)
{
	uint64_t h = zt_mix64(((uint64_t)k->kind << 56) ^ ((uint64_t)k->l7 << 48) ^ k->pid ^
			      ((uint64_t)k->peer_pid << 20));
	h = zt_mix64(h ^ text_hash(k->host));
	h = zt_mix64(h ^ text_hash(k->service));
	h = zt_mix64(h ^ text_hash(k->endpoint));
	h = zt_mix64(h ^ text_hash(k->peer));
	return zt_mix64(h ^ text_hash(k->peer_host));
}

static uint64_t key_hash(const struct zt_rollup_key *k, uint64_t ident)
{
	return zt_mix64(ident ^ k->bucket_ns ^ ((uint64_t)k->res_s << 40));
}

static bool key_eq(const struct zt_rollup_key *a, const struct zt_rollup_key *b)
{
	return a->bucket_ns == b->bucket_ns && a->res_s == b->res_s && a->kind == b->kind && a->l7 == b->l7 &&
	       a->pid == b->pid && a->peer_pid == b->peer_pid && !strcmp(a->host, b->host) &&
	       !strcmp(a->service, b->service) && !strcmp(a->endpoint, b->endpoint) &&
	       !strcmp(a->peer, b->peer) && !strcmp(a->peer_host, b->peer_host);
}

/* k's row, made if new; NONE when the table is full (series_overflow) */
static uint32_t series_get(struct zt_rollup *r, const struct zt_rollup_key *k, uint64_t ident)
{
	uint64_t h = key_hash(k, ident);
	uint32_t i = (uint32_t)h & r->rmask, n;

	for (; (n = r->rindex[i]) != NONE; i = (i + 1) & r->rmask)
		if (r->rhash[n] == h && key_eq(&r->rows[n].k, k))
			return n;
	{
		struct zt_rollup_row *row;
		n = r->nrows;
		if (n == r->cfg.max_series) {
			r->st.series_overflow++;
			return NONE;
		}
		r->rindex[i] = n;
		r->rhash[n] = h;
		r->rcoarse[n] = r->rprom[n] = NONE;
		row = &r->rows[r->nrows++];
		row->k = *k; /* texts end at their NUL: what follows is never read */
		/* the counters, and the buckets the row's last series touched */
		row->v.requests = row->v.sum_ns = row->v.hist.count = 0;
		memset(row->v.errors, 0, sizeof(row->v.errors));
		if (r->dhi[n] > r->dlo[n])
			memset(&row->v.hist.c[r->dlo[n]], 0,
			       (size_t)(r->dhi[n] - r->dlo[n]) * sizeof(uint64_t));
		r->dlo[n] = ZT_HIST_N;
		r->dhi[n] = 0;
	}
	return n;
}

static void series_add(struct zt_rollup *r, uint32_t n, uint64_t dur, uint8_t status)
{
	unsigned b = zt_hist_index(dur);

	zt_rollup_val_add(&r->rows[n].v, dur, status);
	if (b < r->dlo[n])
		r->dlo[n] = (uint16_t)b;
	if (b + 1 > r->dhi[n])
		r->dhi[n] = (uint16_t)(b + 1);
}

static uint64_t prom_hash(uint8_t kind, uint8_t l7, const char *service, const char *endpoint,
			  const char *peer)
{
	uint64_t h = zt_mix64(((uint64_t)kind << 8) | l7);
	h = zt_mix64(h ^ text_hash(service));
	h = zt_mix64(h ^ text_hash(endpoint));
	return zt_mix64(h ^ text_hash(peer));
}

/* k's /metrics series, made if new; NONE when the table is full
 * (prom_overflow) */
static uint32_t prom_get(struct zt_rollup *r, const struct zt_rollup_key *k)
{
	uint64_t h = prom_hash(k->kind, k->l7, k->service, k->endpoint, k->peer);
	struct zt_prom_series *p;
	uint32_t i, n;

	for (i = (uint32_t)h & r->pmask; (n = r->pindex[i]) != NONE; i = (i + 1) & r->pmask) {
		p = &r->prom[n];
		if (r->phash[n] == h && p->kind == k->kind && p->l7 == k->l7 && !strcmp(p->service, k->service) &&
		    !strcmp(p->endpoint, k->endpoint) && !strcmp(p->peer, k->peer))
			return n;
	}
	if (r->nprom == r->cfg.max_prom_series) {
		r->st.prom_overflow++;
		return NONE;
	}
	n = r->pindex[i] = r->nprom++;
	r->phash[n] = h;
	p = &r->prom[n];
	memset(p, 0, sizeof(*p));
	p->kind = k->kind;
	p->l7 = k->l7;
	strcpy(p->service, k->service);
	strcpy(p->endpoint, k->endpoint);
	strcpy(p->peer, k->peer);
	return n;
}

static void prom_add(struct zt_prom_series *p, uint64_t dur, uint8_t status)
{
	double d = (double)dur;

	p->requests++;
	if (status == ZT_RS_CLIENT_ERROR)
		p->errors[ZT_RERR_CLIENT]++;
	else if (status == ZT_RS_SERVER_ERROR)
		p->errors[ZT_RERR_SERVER]++;
	else if (status == ZT_RS_TIMEOUT)
		p->errors[ZT_RERR_TIMEOUT]++;
	p->sum_ns += dur;
	for (int j = 0; j < ZT_PROM_LE_N; j++)
		if (d <= zt_prom_le[j] * 1e9) {
			p->le[j]++;
			break;
		}
}

/* One exchange into both resolutions and /metrics. k: everything but the
 * time bucket. The fine row, once found, names the other two. */
static void record(struct zt_rollup *r, struct zt_rollup_key *k, uint64_t t_ns, uint64_t dur, uint8_t status)
{
	uint64_t ident = ident_hash(k);
	uint32_t f, c, p;

	k->res_s = ZT_ROLLUP_RES_FINE;
	k->bucket_ns = t_ns - t_ns % (ZT_ROLLUP_RES_FINE * NS);
	f = series_get(r, k, ident);
	if (f != NONE)
		series_add(r, f, dur, status);
	/* a fine bucket lies in one coarse bucket: the fine row's coarse row
	 * is the same until the drain */
	k->res_s = ZT_ROLLUP_RES_COARSE;
	k->bucket_ns = t_ns - t_ns % (ZT_ROLLUP_RES_COARSE * NS);
	c = f != NONE && r->rcoarse[f] != NONE ? r->rcoarse[f] : series_get(r, k, ident);
	if (c != NONE) {
		series_add(r, c, dur, status);
		if (f != NONE)
			r->rcoarse[f] = c;
	}
	p = f != NONE && r->rprom[f] != NONE ? r->rprom[f] : prom_get(r, k);
	if (p != NONE) {
		prom_add(&r->prom[p], dur, status);
		if (f != NONE)
			r->rprom[f] = p;
	}
}

/* ---- names ---- */

/* dst = src, cut to size - 1 bytes (snprintf was a fifth of the cost) */
static void copy_str(char *dst, size_t size, const char *src)
{
	size_t i = 0;

	for (; i + 1 < size && src[i]; i++)
		dst[i] = src[i];
	dst[i] = '\0';
}

/* out = "ip:port", cut to size - 1 bytes like snprintf (which was 4% of
 * the sink's profile here) */
static void addr_name(char *out, size_t size, const char *ip, uint16_t port)
{
	char buf[64], *p = buf + sizeof(buf);
	size_t n = 0;

	*--p = '\0';
	do
		*--p = (char)('0' + port % 10);
	while (port /= 10);
	*--p = ':';
	for (; n + 1 < size && ip[n]; n++)
		out[n] = ip[n];
	copy_str(out + n, size - n, p);
}

/* The span's service at its end of the exchange (server or client). */
static void service_of(const struct zt_span *s, bool server, char *out, size_t size)
{
	char ip[48];

	if (s->process[0]) {
		copy_str(out, size, s->process);
		return;
	}
	zt_ip_str(server ? s->server_ip : s->client_ip, ip, sizeof(ip));
	if (server)
		addr_name(out, size, ip, s->server_port);
	else
		copy_str(out, size, ip);
}

static void side_of(const struct zt_span *s, bool server, struct side *o)
{
	service_of(s, server, o->service, sizeof(o->service));
	copy_str(o->host, sizeof(o->host), s->host);
	o->pid = s->pid;
}

static bool is_server(const struct zt_span *s)
{
	return s->tap_side == ZT_TAP_SERVER_PROCESS || s->tap_side == ZT_TAP_SERVER_NIC;
}

static bool is_client(const struct zt_span *s)
{
	return s->tap_side == ZT_TAP_CLIENT_PROCESS || s->tap_side == ZT_TAP_CLIENT_NIC;
}

/* ---- server addresses ---- */

static struct addr *addr_slot(struct zt_rollup *r, const uint8_t ip[16], uint16_t port)
{
	uint64_t h = zt_mix64(port);
	for (int i = 0; i < 16; i++)
		h = zt_mix64(h ^ ip[i]);
	return &r->addrs[h & (r->cfg.max_addrs - 1)];
}

static void addr_learn(struct zt_rollup *r, const struct zt_span *s)
{
	struct addr *a;

	if (!s->server_port)
		return;
	a = addr_slot(r, s->server_ip, s->server_port);
	memcpy(a->ip, s->server_ip, 16);
	a->port = s->server_port;
	a->used = true;
	side_of(s, true, &a->srv);
}

static const struct side *addr_find(struct zt_rollup *r, const uint8_t ip[16], uint16_t port)
{
	struct addr *a = addr_slot(r, ip, port);
	return a->used && a->port == port && !memcmp(a->ip, ip, 16) ? &a->srv : NULL;
}

/* ---- edges ---- */

static void edge(struct zt_rollup *r, const struct side *cli, const struct side *srv, uint8_t l7,
		 uint64_t t_ns, uint64_t dur, uint8_t status)
{
	struct zt_rollup_key k;

	/* no memset of the ~900-byte key: texts end at their NUL */
	k.kind = ZT_RK_EDGE;
	k.l7 = l7;
	k.pid = cli->pid;
	k.peer_pid = srv->pid;
	copy_str(k.host, sizeof(k.host), cli->host);
	copy_str(k.service, sizeof(k.service), cli->service);
	k.endpoint[0] = '\0';
	copy_str(k.peer, sizeof(k.peer), srv->service);
	copy_str(k.peer_host, sizeof(k.peer_host), srv->host);
	record(r, &k, t_ns, dur, status);
}

static uint32_t pend_bucket(struct zt_rollup *r, const char *uid)
{
	return (uint32_t)text_hash(uid) & r->pbmask; /* chains are in arrival order whatever the hash */
}

static uint32_t pend_find(struct zt_rollup *r, const char *uid)
{
	for (uint32_t i = r->pbucket[pend_bucket(r, uid)]; i != NONE; i = r->pend[i].next)
		if (r->pend[i].state != P_DEAD && !strcmp(r->pend[i].uid, uid))
			return i;
	return NONE;
}

static void pend_kill(struct zt_rollup *r, uint32_t i)
{
	uint32_t *pp = &r->pbucket[pend_bucket(r, r->pend[i].uid)];

	while (*pp != NONE && *pp != i)
		pp = &r->pend[*pp].next;
	if (*pp == i)
		*pp = r->pend[i].next;
	r->pend[i].state = P_DEAD;
}

/* The entry's hold ended (or the table is full): make its edge now. */
static void pend_resolve(struct zt_rollup *r, uint32_t i)
{
	struct pend *p = &r->pend[i];
	const struct side *srv;
	struct side ext;

	if (p->state == P_CLIENT) {
		srv = addr_find(r, p->server_ip, p->server_port);
		if (srv) {
			r->st.edges_by_addr++;
		} else {
			char ip[48];
			memset(&ext, 0, sizeof(ext));
			zt_ip_str(p->server_ip, ip, sizeof(ip));
			addr_name(ext.service, sizeof(ext.service), ip, p->server_port);
			srv = &ext;
			r->st.edges_unresolved++;
		}
		edge(r, &p->cli, srv, p->l7, p->start_ns, p->dur_ns, p->status);
	} else if (p->state == P_SERVER || p->state == P_ORPHAN) {
		/* cli holds the client's address name (side_of(.., false)) */
		edge(r, &p->cli, &p->srv, p->l7, p->start_ns, p->dur_ns, p->status);
		r->st.edges_server_only++;
	}
	pend_kill(r, i);
}

static void pend_pop_expired(struct zt_rollup *r, bool all)
{
	while (r->pn) {
		struct pend *p = &r->pend[r->phead];
		if (p->state != P_DEAD) {
			if (!all && p->expire_ns > r->latest)
				break;
			pend_resolve(r, r->phead);
		}
		r->phead = (r->phead + 1) % r->cfg.max_pending;
		r->pn--;
	}
}

static struct pend *pend_new(struct zt_rollup *r, const char *uid, uint8_t state)
{
	uint32_t i, b;
	struct pend *p;

	if (r->pn == r->cfg.max_pending) {
		if (r->pend[r->phead].state != P_DEAD) {
			r->st.pending_full++;
			pend_resolve(r, r->phead);
		}
		r->phead = (r->phead + 1) % r->cfg.max_pending;
		r->pn--;
	}
	i = (r->phead + r->pn++) % r->cfg.max_pending;
	p = &r->pend[i];
	memset(p, 0, sizeof(*p));
	p->state = state;
	p->expire_ns = r->latest + r->cfg.edge_hold_ns;
	copy_str(p->uid, sizeof(p->uid), uid);
	b = pend_bucket(r, uid);
	p->next = r->pbucket[b];
	r->pbucket[b] = i;
	return p;
}

/* A server span: its measurement kept in case its client never shows. */
static void pend_fill_server(struct pend *p, const struct zt_span *s)
{
	side_of(s, true, &p->srv);
	/* the client is not traced: named by its address (no host, no pid) */
	memset(&p->cli, 0, sizeof(p->cli));
	zt_ip_str(s->client_ip, p->cli.service, sizeof(p->cli.service));
	p->l7 = s->l7_protocol;
	p->status = s->response_status;
	p->start_ns = s->start_ns;
	p->dur_ns = s->duration_ns;
}

/* A server span linked to client uid `parent`, with its server side. */
static void server_linked(struct zt_rollup *r, const char *parent, const struct side *srv,
			  const struct pend *meas)
{
	uint32_t i = pend_find(r, parent);
	struct pend *p;

	if (i != NONE && r->pend[i].state == P_CLIENT) {
		p = &r->pend[i];
		edge(r, &p->cli, srv, p->l7, p->start_ns, p->dur_ns, p->status);
		r->st.edges_linked++;
		pend_kill(r, i);
		return;
	}
	if (i != NONE)
		return; /* a second server span for one client span: counted once */
	p = pend_new(r, parent, P_SERVER);
	p->srv = *srv;
	p->cli = meas->cli;
	p->l7 = meas->l7;
	p->status = meas->status;
	p->start_ns = meas->start_ns;
	p->dur_ns = meas->dur_ns;
}

static void on_server(struct zt_rollup *r, const struct zt_span *s)
{
	struct zt_rollup_key k;
	struct pend m;

	addr_learn(r, s);
	k.kind = ZT_RK_SERVICE;
	k.l7 = s->l7_protocol;
	k.pid = s->pid;
	k.peer_pid = 0;
	copy_str(k.host, sizeof(k.host), s->host);
	service_of(s, true, k.service, sizeof(k.service));
	k.endpoint[0] = k.peer[0] = k.peer_host[0] = '\0';
	record(r, &k, s->start_ns, s->duration_ns, s->response_status);
	k.kind = ZT_RK_ENDPOINT;
	copy_str(k.endpoint, sizeof(k.endpoint), s->endpoint[0] ? s->endpoint : s->request_type);
	record(r, &k, s->start_ns, s->duration_ns, s->response_status);

	pend_fill_server(&m, s); /* what server_linked reads */
	if (s->link_kind == ZT_LINK_TCP_SEQ && s->parent_uid[0]) {
		server_linked(r, s->parent_uid, &m.srv, &m);
	} else if (s->span_uid[0] && pend_find(r, s->span_uid) == NONE) {
		struct pend *p = pend_new(r, s->span_uid, P_ORPHAN);
		pend_fill_server(p, s);
	}
}

static void on_client(struct zt_rollup *r, const struct zt_span *s)
{
	uint32_t i = s->span_uid[0] ? pend_find(r, s->span_uid) : NONE;
	struct pend *p;
	struct side cli;

	side_of(s, false, &cli);
	if (i != NONE && r->pend[i].state == P_SERVER) {
		edge(r, &cli, &r->pend[i].srv, s->l7_protocol, s->start_ns, s->duration_ns,
		     s->response_status);
		r->st.edges_linked++;
		pend_kill(r, i);
		return;
	}
	/* without a uid (or a uid seen already) nothing can link to it: it
	 * waits under "" and is resolved by address */
	p = pend_new(r, s->span_uid[0] && i == NONE ? s->span_uid : "", P_CLIENT);
	p->cli = cli;
	p->l7 = s->l7_protocol;
	p->status = s->response_status;
	p->start_ns = s->start_ns;
	p->dur_ns = s->duration_ns;
	memcpy(p->server_ip, s->server_ip, 16);
	p->server_port = s->server_port;
}

void zt_rollup_span(struct zt_rollup *r, const struct zt_span *s)
{
	pthread_mutex_lock(&r->mu);
	r->st.spans++;
	if (s->end_ns > r->latest)
		r->latest = s->end_ns;
	if (is_server(s))
		on_server(r, s);
	else if (is_client(s))
		on_client(r, s);
	else
		r->st.skipped++;
	pend_pop_expired(r, false);
	pthread_mutex_unlock(&r->mu);
}

void zt_rollup_link(struct zt_rollup *r, const char *child, const char *parent, uint8_t kind)
{
	uint32_t i;

	if (kind != ZT_LINK_TCP_SEQ || !child || !parent)
		return;
	pthread_mutex_lock(&r->mu);
	i = pend_find(r, child);
	if (i != NONE && r->pend[i].state == P_ORPHAN) {
		struct pend m = r->pend[i];
		pend_kill(r, i);
		server_linked(r, parent, &m.srv, &m);
	}
	pthread_mutex_unlock(&r->mu);
}

void zt_rollup_tick(struct zt_rollup *r, uint64_t now_ns)
{
	pthread_mutex_lock(&r->mu);
	if (now_ns > r->latest)
		r->latest = now_ns;
	pend_pop_expired(r, false);
	pthread_mutex_unlock(&r->mu);
}

void zt_rollup_end(struct zt_rollup *r)
{
	pthread_mutex_lock(&r->mu);
	pend_pop_expired(r, true);
	pthread_mutex_unlock(&r->mu);
}

int zt_rollup_drain(struct zt_rollup *r, int (*put)(void *ctx, const struct zt_rollup_row *rows, size_t n),
		    void *ctx)
{
	int rc = 0;

	pthread_mutex_lock(&r->mu);
	if (r->nrows && !(rc = put(ctx, r->rows, r->nrows))) {
		r->st.rows_drained += r->nrows;
		r->nrows = 0;
		memset(r->rindex, 0xff, (r->rmask + 1) * sizeof(uint32_t));
	}
	pthread_mutex_unlock(&r->mu);
	return rc;
}

int zt_rollup_prom_each(struct zt_rollup *r, int (*cb)(void *ctx, const struct zt_prom_series *s), void *ctx)
{
	int rc = 0;

	pthread_mutex_lock(&r->mu);
	for (uint32_t i = 0; i < r->nprom && !rc; i++)
		rc = cb(ctx, &r->prom[i]);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

void zt_rollup_get_stats(struct zt_rollup *r, struct zt_rollup_stats *out)
{
	pthread_mutex_lock(&r->mu);
	*out = r->st;
	pthread_mutex_unlock(&r->mu);
}
