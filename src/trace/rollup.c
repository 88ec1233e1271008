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

#include <endian.h>
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
	uint64_t hservice, hhost; /* text_hash of each: a side is hashed once, where it is named */
};

/* An exchange waiting for its other end, keyed by the client span's uid
 * (P_CLIENT, P_SERVER) or the server span's own (P_ORPHAN). */
struct pend {
	uint8_t state; /* enum pstate */
	uint8_t l7, status;
	uint16_t server_port;
	uint32_t next; /* hash chain */
	uint64_t uhash; /* uid_hash(uid) */
	uint64_t expire_ns, start_ns, dur_ns;
	/* P_CLIENT: the server's address; P_SERVER, P_ORPHAN: the client's
	 * (its name, "ip", is made only if the edge is made from it) */
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
	uint64_t le_ns[ZT_PROM_LE_N]; /* zt_prom_le in ns, rounded down: dur <= it as in seconds */
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
	/* (double)dur <= T iff dur <= floor(T) for a whole dur (exact below
	 * 2^53, and far above every T beyond) */
	for (int j = 0; j < ZT_PROM_LE_N; j++)
		r->le_ns[j] = (uint64_t)(zt_prom_le[j] * 1e9);
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

/* A text's hash for the tables (never stored beyond the run: only lookups
 * use it): 8 bytes a word, one multiply per word, the word holding the NUL
 * masked past it; "" (most keys have an empty text or two) is 0. s is an
 * array of size bytes (read whole words inside it only) holding a
 * NUL-terminated text. Each text is hashed once, where it is named (a side,
 * an endpoint, a uid): keys combine those hashes. */
static uint64_t text_hash(const char *s, size_t size)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL, w;
	size_t n = 0, lim = size - 1; /* at most lim bytes are text */

	if (!*s)
		return 0;
	for (;;) {
		size_t m = lim - n < 8 ? lim - n : 8;
		uint64_t z;
		w = 0;
		memcpy(&w, s + n, m);
		w = le64toh(w);
		z = (w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL;
		if (z) { /* the lowest flagged byte is the NUL */
			unsigned b = (unsigned)__builtin_ctzll(z) / 8;
			w = b ? w & (~0ULL >> (64 - 8 * b)) : 0;
			n += b;
			break;
		}
		n += m;
		if (n == lim)
			break;
		h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
		h ^= h >> 29;
	}
	return zt_mix64(h ^ w ^ (uint64_t)n << 48);
}

/* A uid's hash (a string of any size: the link API's come from callers) */
static uint64_t uid_hash(const char *s)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return zt_mix64(h);
}

/* A key as the texts it would hold, with their hashes, before it is known
 * to be a new row: found rows are compared in place, a key is built only
 * for a row that is made. Every text is NUL-terminated within its key
 * field's size. */
struct kview {
	uint8_t kind, l7;
	uint32_t pid, peer_pid;
	const char *host, *service, *endpoint, *peer, *peer_host;
	uint64_t hhost, hservice, hendpoint, hpeer, hpeer_host;
};

/* A key's hash in two parts: its identity (text, ids; the same for both
 * resolutions of one exchange, so hashed once) and its time bucket. */
static uint64_t ident_hash(const struct kview *v)
{
	uint64_t h = zt_mix64(((uint64_t)v->kind << 56) ^ ((uint64_t)v->l7 << 48) ^ v->pid ^
			      ((uint64_t)v->peer_pid << 20));
	h = zt_mix64(h ^ v->hhost);
	h = zt_mix64(h ^ v->hservice);
	h = zt_mix64(h ^ v->hendpoint);
	h = zt_mix64(h ^ v->hpeer);
	return zt_mix64(h ^ v->hpeer_host);
}

static uint64_t key_hash(uint64_t ident, uint64_t bucket_ns, uint32_t res_s)
{
	return zt_mix64(ident ^ bucket_ns ^ ((uint64_t)res_s << 40));
}

static bool key_eq(const struct zt_rollup_key *a, uint64_t bucket_ns, uint32_t res_s, const struct kview *v)
{
	return a->bucket_ns == bucket_ns && a->res_s == res_s && a->kind == v->kind && a->l7 == v->l7 &&
	       a->pid == v->pid && a->peer_pid == v->peer_pid && !strcmp(a->host, v->host) &&
	       !strcmp(a->service, v->service) && !strcmp(a->endpoint, v->endpoint) &&
	       !strcmp(a->peer, v->peer) && !strcmp(a->peer_host, v->peer_host);
}

/* dst = src, cut to size - 1 bytes (snprintf was a fifth of the cost) */
static void copy_str(char *dst, size_t size, const char *src)
{
	size_t i = 0;

	for (; i + 1 < size && src[i]; i++)
		dst[i] = src[i];
	dst[i] = '\0';
}

/* v's row in (bucket_ns, res_s), made if new; NONE when the table is full
 * (series_overflow) */
static uint32_t series_get(struct zt_rollup *r, const struct kview *v, uint64_t ident, uint64_t bucket_ns,
			   uint32_t res_s)
{
	uint64_t h = key_hash(ident, bucket_ns, res_s);
	uint32_t i = (uint32_t)h & r->rmask, n;
	struct zt_rollup_row *row;

	for (; (n = r->rindex[i]) != NONE; i = (i + 1) & r->rmask)
		if (r->rhash[n] == h && key_eq(&r->rows[n].k, bucket_ns, res_s, v))
			return n;
	n = r->nrows;
	if (n == r->cfg.max_series) {
		r->st.series_overflow++;
		return NONE;
	}
	r->rindex[i] = n;
	r->rhash[n] = h;
	r->rcoarse[n] = r->rprom[n] = NONE;
	row = &r->rows[r->nrows++];
	/* texts end at their NUL: what follows is never read */
	row->k.bucket_ns = bucket_ns;
	row->k.res_s = res_s;
	row->k.kind = v->kind;
	row->k.l7 = v->l7;
	row->k.pid = v->pid;
	row->k.peer_pid = v->peer_pid;
	copy_str(row->k.host, sizeof(row->k.host), v->host);
	copy_str(row->k.service, sizeof(row->k.service), v->service);
	copy_str(row->k.endpoint, sizeof(row->k.endpoint), v->endpoint);
	copy_str(row->k.peer, sizeof(row->k.peer), v->peer);
	copy_str(row->k.peer_host, sizeof(row->k.peer_host), v->peer_host);
	/* the counters, and the buckets the row's last series touched */
	row->v.requests = row->v.sum_ns = row->v.hist.count = 0;
	memset(row->v.errors, 0, sizeof(row->v.errors));
	if (r->dhi[n] > r->dlo[n])
		memset(&row->v.hist.c[r->dlo[n]], 0, (size_t)(r->dhi[n] - r->dlo[n]) * sizeof(uint64_t));
	r->dlo[n] = ZT_HIST_N;
	r->dhi[n] = 0;
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

/* v's /metrics series, made if new; NONE when the table is full
 * (prom_overflow) */
static uint32_t prom_get(struct zt_rollup *r, const struct kview *v)
{
	uint64_t h = zt_mix64(((uint64_t)v->kind << 8) | v->l7);
	struct zt_prom_series *p;
	uint32_t i, n;

	h = zt_mix64(h ^ v->hservice);
	h = zt_mix64(h ^ v->hendpoint);
	h = zt_mix64(h ^ v->hpeer);
	for (i = (uint32_t)h & r->pmask; (n = r->pindex[i]) != NONE; i = (i + 1) & r->pmask) {
		p = &r->prom[n];
		if (r->phash[n] == h && p->kind == v->kind && p->l7 == v->l7 && !strcmp(p->service, v->service) &&
		    !strcmp(p->endpoint, v->endpoint) && !strcmp(p->peer, v->peer))
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
	p->kind = v->kind;
	p->l7 = v->l7;
	copy_str(p->service, sizeof(p->service), v->service);
	copy_str(p->endpoint, sizeof(p->endpoint), v->endpoint);
	copy_str(p->peer, sizeof(p->peer), v->peer);
	return n;
}

static void prom_add(const struct zt_rollup *r, struct zt_prom_series *p, uint64_t dur, uint8_t status)
{
	p->requests++;
	if (status == ZT_RS_CLIENT_ERROR)
		p->errors[ZT_RERR_CLIENT]++;
	else if (status == ZT_RS_SERVER_ERROR)
		p->errors[ZT_RERR_SERVER]++;
	else if (status == ZT_RS_TIMEOUT)
		p->errors[ZT_RERR_TIMEOUT]++;
	p->sum_ns += dur;
	for (int j = 0; j < ZT_PROM_LE_N; j++)
		if (dur <= r->le_ns[j]) {
			p->le[j]++;
			break;
		}
}

/* One exchange into both resolutions and /metrics. The fine row, once
 * found, names the other two. */
static void record(struct zt_rollup *r, const struct kview *v, uint64_t t_ns, uint64_t dur, uint8_t status)
{
	uint64_t ident = ident_hash(v);
	uint32_t f, c, p;

	f = series_get(r, v, ident, t_ns - t_ns % (ZT_ROLLUP_RES_FINE * NS), ZT_ROLLUP_RES_FINE);
	if (f != NONE)
		series_add(r, f, dur, status);
	/* a fine bucket lies in one coarse bucket: the fine row's coarse row
	 * is the same until the drain */
	c = f != NONE && r->rcoarse[f] != NONE
		? r->rcoarse[f]
		: series_get(r, v, ident, t_ns - t_ns % (ZT_ROLLUP_RES_COARSE * NS), ZT_ROLLUP_RES_COARSE);
	if (c != NONE) {
		series_add(r, c, dur, status);
		if (f != NONE)
			r->rcoarse[f] = c;
	}
	p = f != NONE && r->rprom[f] != NONE ? r->rprom[f] : prom_get(r, v);
	if (p != NONE) {
		prom_add(r, &r->prom[p], dur, status);
		if (f != NONE)
			r->rprom[f] = p;
	}
}

/* ---- names ---- */

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

/* The span's side of the exchange (server or client): its service, host
 * and pid, and their hashes. */
static void side_of(const struct zt_span *s, bool server, struct side *o)
{
	char ip[48];

	if (s->process[0]) {
		copy_str(o->service, sizeof(o->service), s->process);
	} else {
		zt_ip_str(server ? s->server_ip : s->client_ip, ip, sizeof(ip));
		if (server)
			addr_name(o->service, sizeof(o->service), ip, s->server_port);
		else
			copy_str(o->service, sizeof(o->service), ip);
	}
	copy_str(o->host, sizeof(o->host), s->host);
	o->pid = s->pid;
	o->hservice = text_hash(o->service, sizeof(o->service));
	o->hhost = text_hash(o->host, sizeof(o->host));
}

/* A side known by its address only (an untraced end): no host, no pid.
 * "ip:port" for a server, "ip" for a client. */
static void side_of_addr(const uint8_t ip[16], bool server, uint16_t port, struct side *o)
{
	char buf[48];

	memset(o, 0, sizeof(*o));
	zt_ip_str(ip, buf, sizeof(buf));
	if (server)
		addr_name(o->service, sizeof(o->service), buf, port);
	else
		copy_str(o->service, sizeof(o->service), buf);
	o->hservice = text_hash(o->service, sizeof(o->service));
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

static void addr_learn(struct zt_rollup *r, const struct zt_span *s, const struct side *srv)
{
	struct addr *a;

	if (!s->server_port)
		return;
	a = addr_slot(r, s->server_ip, s->server_port);
	memcpy(a->ip, s->server_ip, 16);
	a->port = s->server_port;
	a->used = true;
	a->srv = *srv;
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
	struct kview v = {.kind = ZT_RK_EDGE,
			  .l7 = l7,
			  .pid = cli->pid,
			  .peer_pid = srv->pid,
			  .host = cli->host,
			  .hhost = cli->hhost,
			  .service = cli->service,
			  .hservice = cli->hservice,
			  .endpoint = "",
			  .peer = srv->service,
			  .hpeer = srv->hservice,
			  .peer_host = srv->host,
			  .hpeer_host = srv->hhost};

	record(r, &v, t_ns, dur, status);
}

static uint32_t pend_find(struct zt_rollup *r, const char *uid)
{
	uint64_t h = uid_hash(uid);

	/* chains are in arrival order whatever the hash */
	for (uint32_t i = r->pbucket[h & r->pbmask]; i != NONE; i = r->pend[i].next)
		if (r->pend[i].uhash == h && r->pend[i].state != P_DEAD && !strcmp(r->pend[i].uid, uid))
			return i;
	return NONE;
}

static void pend_kill(struct zt_rollup *r, uint32_t i)
{
	uint32_t *pp = &r->pbucket[r->pend[i].uhash & r->pbmask];

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
			side_of_addr(p->server_ip, true, p->server_port, &ext);
			srv = &ext;
			r->st.edges_unresolved++;
		}
		edge(r, &p->cli, srv, p->l7, p->start_ns, p->dur_ns, p->status);
	} else if (p->state == P_SERVER || p->state == P_ORPHAN) {
		/* the client is not traced: named by its address */
		side_of_addr(p->server_ip, false, 0, &ext);
		edge(r, &ext, &p->srv, p->l7, p->start_ns, p->dur_ns, p->status);
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

/* A new entry; the caller fills what its state reads (P_CLIENT: cli and
 * the server's address; P_SERVER, P_ORPHAN: srv and the client's). */
static struct pend *pend_new(struct zt_rollup *r, const char *uid, uint8_t state)
{
	uint64_t h = uid_hash(uid);
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
	p->state = state;
	p->server_port = 0;
	p->uhash = h;
	p->expire_ns = r->latest + r->cfg.edge_hold_ns;
	copy_str(p->uid, sizeof(p->uid), uid);
	b = (uint32_t)h & r->pbmask;
	p->next = r->pbucket[b];
	r->pbucket[b] = i;
	return p;
}

/* One exchange measured at the server, in case its client never shows. */
struct meas {
	uint8_t l7, status;
	uint64_t start_ns, dur_ns;
	const uint8_t *client_ip;
};

static void pend_fill_server(struct pend *p, const struct side *srv, const struct meas *m)
{
	p->srv = *srv;
	memcpy(p->server_ip, m->client_ip, 16);
	p->l7 = m->l7;
	p->status = m->status;
	p->start_ns = m->start_ns;
	p->dur_ns = m->dur_ns;
}

/* A server span linked to client uid `parent`, with its server side. */
static void server_linked(struct zt_rollup *r, const char *parent, const struct side *srv,
			  const struct meas *m)
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
	pend_fill_server(pend_new(r, parent, P_SERVER), srv, m);
}

static void on_server(struct zt_rollup *r, const struct zt_span *s)
{
	struct meas m = {s->l7_protocol, s->response_status, s->start_ns, s->duration_ns, s->client_ip};
	struct side srv;
	struct kview v;

	side_of(s, true, &srv);
	addr_learn(r, s, &srv);
	v = (struct kview){.kind = ZT_RK_SERVICE,
			   .l7 = s->l7_protocol,
			   .pid = s->pid,
			   .host = srv.host,
			   .hhost = srv.hhost,
			   .service = srv.service,
			   .hservice = srv.hservice,
			   .endpoint = "",
			   .peer = "",
			   .peer_host = ""};
	record(r, &v, s->start_ns, s->duration_ns, s->response_status);
	v.kind = ZT_RK_ENDPOINT;
	if (s->endpoint[0]) {
		v.endpoint = s->endpoint;
		v.hendpoint = text_hash(s->endpoint, sizeof(s->endpoint));
	} else {
		v.endpoint = s->request_type;
		v.hendpoint = text_hash(s->request_type, sizeof(s->request_type));
	}
	record(r, &v, s->start_ns, s->duration_ns, s->response_status);

	if (s->link_kind == ZT_LINK_TCP_SEQ && s->parent_uid[0])
		server_linked(r, s->parent_uid, &srv, &m);
	else if (s->span_uid[0] && pend_find(r, s->span_uid) == NONE)
		pend_fill_server(pend_new(r, s->span_uid, P_ORPHAN), &srv, &m);
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

/* The span's fields the rollup reads lie on ~10 cache lines of its ~2.7
 * KiB, cold by the time the joiner releases it: asked for all at once they
 * arrive together rather than one miss after another. */
static void span_prefetch(const struct zt_span *s)
{
	__builtin_prefetch(&s->span_uid);
	__builtin_prefetch(&s->pid);
	__builtin_prefetch(&s->process);
	__builtin_prefetch(&s->request_type);
	__builtin_prefetch(&s->endpoint);
	__builtin_prefetch(&s->endpoint[63]); /* a short endpoint's end */
	__builtin_prefetch(&s->response_status);
	__builtin_prefetch(&s->client_ip);
	__builtin_prefetch(&s->server_ip);
	__builtin_prefetch(&s->parent_uid);
	__builtin_prefetch(&s->link_kind);
}

void zt_rollup_span(struct zt_rollup *r, const struct zt_span *s)
{
	span_prefetch(s);
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
		struct pend o = r->pend[i];
		struct meas m = {o.l7, o.status, o.start_ns, o.dur_ns, o.server_ip};
		pend_kill(r, i);
		server_linked(r, parent, &o.srv, &m);
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
