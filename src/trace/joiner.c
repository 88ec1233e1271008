/* SPDX-License-Identifier: MIT */
/*
 * joiner.c - see joiner.h. Entries live in a ring in arrival order: the
 * newest hold a span (the window), the older ones only keys (released).
 * Nine hash maps find partners by key: chained, each map's links in its
 * own array of 16-byte nodes (key, next), so that walking a chain reads
 * that array, not the entries (a cache miss per step was half of the
 * joiner's time).
 *
 * Links are entry sequence numbers (the n-th entry put is seq n, at ring
 * index n & rmask), not indexes, and nothing is unlinked when an entry
 * leaves the ring: every entry joins its maps while it is put, at the head
 * of their chains, so a chain's seqs fall and the ring's leavers (the
 * oldest) are its tail; a walk stops at the first seq no longer in the
 * ring. An entry that stops waiting in a map (linked) keeps its node with
 * key 0, which no lookup matches. Eviction costs no chain walk.
 *
 * Traces are records merged like a union-find (a merged record forwards
 * to the survivor).
 */
#include "trace/joiner.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "model/span_codec.h"
#include "util/hash.h"

#define NONE UINT32_MAX
/* Slack for time containment: the two sides' clocks are one clock (one
 * host), but a call's first byte may leave just as the server's request
 * read returns. */
#define CONTAIN_SLACK_NS 1000000ULL

enum jmap {
	M_SEQ,  /* every span with both seqs: (req, resp) */
	M_CTXP, /* server spans by their thread context: parents for calls */
	M_CTXC, /* client spans without a parent, by context: waiting for it */
	M_XRP,  /* server spans by the X-Request-ID of their request */
	M_XRP2, /* ... and of their response */
	M_XRC,  /* client spans without a parent, by X-Request-ID */
	M_TID,  /* spans by the trace id of their headers */
	M_SID,  /* app (SDK) spans by their span id: parents for explicit links */
	M_SIDC, /* spans waiting for an app span by id: app spans by their
		 * parent_span_id, client-process spans by the span id their
		 * trace header carries (the SDK call they are the wire view of) */
	M__COUNT,
};

/* Entry e's place in map m: node[m][e], valid while bit m of its maps is
 * set. */
struct jnode {
	uint64_t key;  /* 0: left the map (linked) */
	uint64_t next; /* seq of the next (older) entry in the chain, 0: none */
};

struct jent {
	uint64_t seq;
	uint64_t start_ns, end_ns;
	uint32_t roff, rlen; /* the held span's record in the arena, while held */
	uint32_t trace; /* trace record */
	uint32_t pid;
	uint8_t side;     /* enum zt_tap_side */
	uint8_t link;     /* enum zt_link_kind of the parent, 0: none yet */
	bool released;
	uint16_t maps;    /* bit m: in map m */
	char uid[ZT_UID_LEN];
	char parent[ZT_UID_LEN];
};

struct jtrace {
	uint32_t fwd;  /* merged into this record, NONE: a root */
	uint32_t refs; /* entries pointing here + records forwarding here */
	bool fixed;    /* the id is written: it never changes */
	uint64_t fixed_seq; /* when it was first written: the older id survives a merge */
	char id[ZT_TRACE_ID_LEN];
};

struct zt_joiner {
	struct zt_joiner_cfg cfg;
	struct zt_joiner_out out;
	struct zt_joiner_stats st;
	struct jent *ent;  /* ring of rmask + 1 >= cfg.max_keys entries */
	uint64_t seq;      /* entries put: the newest is seq, the oldest seq - n + 1 */
	uint32_t rmask, n; /* entries in use: at most cfg.max_keys */
	uint32_t nlive;    /* entries still holding a span: the newest ones */
	/* the held spans, encoded (model/span_codec.h), in a byte ring in
	 * arrival order: spans leave in arrival order too (oldest first) */
	uint8_t *arena;
	size_t acap, ahead, atail; /* the oldest held record, where the next goes */
	struct zt_span rel; /* the span being released, decoded */
	struct zt_span in;  /* the span put_rec takes, decoded */
	uint8_t relrec[ZT_SPAN_CODEC_MAX + ZT_TRACE_ID_LEN + ZT_UID_LEN]; /* and encoded */
	struct jtrace *tr;
	uint32_t *tr_free, ntr_free;
	struct jnode *node[M__COUNT];
	uint64_t *bucket[M__COUNT]; /* chain heads: seqs, 0: empty */
	uint32_t nbuckets; /* power of two */
	uint64_t latest;   /* latest span end seen */
	uint64_t fix_seq;  /* traces fixed so far */
	int err;           /* first callback failure */
};

/* ---- setup ---- */

struct zt_joiner *zt_joiner_new(const struct zt_joiner_cfg *cfg, const struct zt_joiner_out *out)
{
	struct zt_joiner *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->cfg = *cfg;
	if (!j->cfg.window_ns)
		j->cfg.window_ns = 300000000ULL;
	if (!j->cfg.key_ttl_ns)
		j->cfg.key_ttl_ns = 30000000000ULL;
	if (!j->cfg.max_spans)
		j->cfg.max_spans = 16384;
	if (!j->cfg.max_keys)
		j->cfg.max_keys = 262144;
	if (j->cfg.max_keys < j->cfg.max_spans + 1)
		j->cfg.max_keys = j->cfg.max_spans + 1;
	j->out = *out;
	j->nbuckets = 1;
	while (j->nbuckets < j->cfg.max_keys)
		j->nbuckets <<= 1;
	j->rmask = j->nbuckets - 1; /* a ring of nbuckets entries: seq & rmask */
	j->ent = calloc(j->nbuckets, sizeof(*j->ent));
	if (!j->cfg.max_bytes)
		j->cfg.max_bytes = j->cfg.max_spans * 512ULL > UINT32_MAX ? UINT32_MAX : j->cfg.max_spans * 512;
	if (j->cfg.max_bytes < 2 * ZT_SPAN_CODEC_MAX)
		j->cfg.max_bytes = 2 * ZT_SPAN_CODEC_MAX;
	j->acap = j->cfg.max_bytes;
	j->arena = malloc(j->acap);
	/* a record per entry, and as many forwarded ones at most */
	j->tr = calloc((size_t)j->cfg.max_keys * 2, sizeof(*j->tr));
	j->tr_free = calloc((size_t)j->cfg.max_keys * 2, sizeof(*j->tr_free));
	for (int m = 0; m < M__COUNT; m++) {
		j->node[m] = malloc(j->nbuckets * sizeof(struct jnode));
		j->bucket[m] = calloc(j->nbuckets, sizeof(uint64_t));
		if (!j->node[m] || !j->bucket[m]) {
			zt_joiner_free(j);
			return NULL;
		}
	}
	if (!j->ent || !j->arena || !j->tr || !j->tr_free) {
		zt_joiner_free(j);
		return NULL;
	}
	for (uint32_t i = 0; i < j->cfg.max_keys * 2; i++)
		j->tr_free[j->ntr_free++] = j->cfg.max_keys * 2 - 1 - i;
	return j;
}

void zt_joiner_free(struct zt_joiner *j)
{
	if (!j)
		return;
	for (int m = 0; m < M__COUNT; m++) {
		free(j->node[m]);
		free(j->bucket[m]);
	}
	free(j->tr_free);
	free(j->tr);
	free(j->arena);
	free(j->ent);
	free(j);
}

const struct zt_joiner_stats *zt_joiner_stats(const struct zt_joiner *j)
{
	return &j->st;
}

size_t zt_joiner_mem(const struct zt_joiner *j)
{
	return sizeof(*j) + (size_t)j->nbuckets * (sizeof(struct jent) + M__COUNT * (sizeof(struct jnode) + 8)) +
	       (size_t)j->cfg.max_keys * 2 * (sizeof(struct jtrace) + 4) +
	       j->acap;
}

/* ---- maps ---- */

static uint64_t *bucket_of(struct zt_joiner *j, int m, uint64_t key)
{
	return &j->bucket[m][zt_mix64(key) & (j->nbuckets - 1)];
}

/* Whether the entry of a seq is still in the ring (seq 0: none). */
static bool in_ring(const struct zt_joiner *j, uint64_t seq)
{
	return seq + j->n > j->seq;
}

static uint32_t idx_of(const struct zt_joiner *j, uint64_t seq)
{
	return (uint32_t)(seq & j->rmask);
}

/* Walks map m's chain from seq head: i is each entry still in the ring,
 * newest first. */
#define FOR_CHAIN(j, m, head, i)                                                                             \
	for (uint64_t s_ = (head); in_ring(j, s_) && ((i) = idx_of(j, s_), 1); s_ = (j)->node[m][i].next)

/* e's key in map m, 0: not in it */
static uint64_t key_of(const struct zt_joiner *j, int m, uint32_t e)
{
	return (j->ent[e].maps >> m & 1) ? j->node[m][e].key : 0;
}

/* e (being put: the newest entry) joins map m under key */
static void map_add(struct zt_joiner *j, int m, uint32_t e, uint64_t key)
{
	struct jnode *n = &j->node[m][e];
	uint64_t *b;

	if (!key)
		return;
	b = bucket_of(j, m, key);
	n->key = key;
	n->next = *b;
	*b = j->ent[e].seq;
	j->ent[e].maps |= (uint16_t)(1u << m);
}

/* e leaves map m (it waits no more): no lookup matches key 0 */
static void map_del(struct zt_joiner *j, int m, uint32_t e)
{
	if (!(j->ent[e].maps >> m & 1))
		return;
	j->node[m][e].key = 0;
	j->ent[e].maps &= (uint16_t)~(1u << m);
}

static uint64_t key_str(const char *s)
{
	return s[0] ? zt_hash_str(s) | 1 : 0;
}

/* ---- traces ---- */

static uint32_t tr_new(struct zt_joiner *j, const char *explicit_id)
{
	/* never empty: records <= entries + forwarded records <= 2 * entries */
	uint32_t t = j->tr_free[--j->ntr_free];

	memset(&j->tr[t], 0, sizeof(j->tr[t]));
	j->tr[t].fwd = NONE;
	j->tr[t].refs = 1;
	memcpy(j->tr[t].id, explicit_id, sizeof(j->tr[t].id));
	return t;
}

static uint32_t tr_find(struct zt_joiner *j, uint32_t t)
{
	while (j->tr[t].fwd != NONE)
		t = j->tr[t].fwd;
	return t;
}

static void tr_put(struct zt_joiner *j, uint32_t t)
{
	while (t != NONE && --j->tr[t].refs == 0) {
		uint32_t f = j->tr[t].fwd;
		j->tr_free[j->ntr_free++] = t;
		t = f;
	}
}

static void merge(struct zt_joiner *j, uint32_t ea, uint32_t eb)
{
	uint32_t a = tr_find(j, j->ent[ea].trace), b = tr_find(j, j->ent[eb].trace), win, lose;

	if (a == b)
		return;
	if (j->tr[a].fixed && j->tr[b].fixed) {
		/* both written: the younger id becomes an alias of the older */
		win = j->tr[a].fixed_seq < j->tr[b].fixed_seq ? a : b;
		lose = win == a ? b : a;
		j->st.aliases++;
		if (j->out.alias && !j->err)
			j->err = j->out.alias(j->out.ctx, j->tr[lose].id, j->tr[win].id);
	} else if (j->tr[b].fixed || (!j->tr[a].id[0] && j->tr[b].id[0])) {
		win = b;
		lose = a;
	} else {
		win = a;
		lose = b;
	}
	j->tr[lose].fwd = win;
	j->tr[win].refs++;
}

/* ---- links ---- */

static void link(struct zt_joiner *j, uint32_t c, uint32_t p, uint8_t kind)
{
	struct jent *ce = &j->ent[c], *pe = &j->ent[p];

	if (c == p)
		return;
	if (ce->link) {
		/* An id the SDK put in the call names the span that made it: it
		 * replaces a link inferred from the thread or a proxy's id (the
		 * SDK's spans arrive seconds after ztrace's own) */
		if (kind != ZT_LINK_EXPLICIT || ce->link == ZT_LINK_EXPLICIT)
			return;
		j->st.links[ce->link]--;
		j->st.relinked++;
	}
	ce->link = kind;
	memcpy(ce->parent, pe->uid, sizeof(ce->parent));
	map_del(j, M_CTXC, c);
	map_del(j, M_XRC, c);
	if (kind == ZT_LINK_EXPLICIT) /* else it still waits for an SDK span */
		map_del(j, M_SIDC, c);
	j->st.links[kind]++;
	merge(j, p, c);
	if (ce->released) {
		/* written without its parent: the store records it late */
		j->st.late_links++;
		if (j->out.link && !j->err)
			j->err = j->out.link(j->out.ctx, ce->uid, pe->uid, kind);
	}
}

static bool contains(const struct jent *srv, const struct jent *cli)
{
	return srv->start_ns <= cli->start_ns + CONTAIN_SLACK_NS && cli->end_ns <= srv->end_ns + CONTAIN_SLACK_NS;
}

/* The other end of an exchange seen at the same kind of tap: the client
 * process for the server process, the client's NIC for the server's (a
 * packet capture); 0 for none. TCP seqs link only these pairs. */
static uint8_t seq_partner(uint8_t side)
{
	switch (side) {
	case ZT_TAP_SERVER_PROCESS:
		return ZT_TAP_CLIENT_PROCESS;
	case ZT_TAP_CLIENT_PROCESS:
		return ZT_TAP_SERVER_PROCESS;
	case ZT_TAP_SERVER_NIC:
		return ZT_TAP_CLIENT_NIC;
	case ZT_TAP_CLIENT_NIC:
		return ZT_TAP_SERVER_NIC;
	default:
		return 0;
	}
}

static bool server_side(uint8_t side)
{
	return side == ZT_TAP_SERVER_PROCESS || side == ZT_TAP_SERVER_NIC;
}

/* An explicit parent: the app span whose span id is k, if it came. */
static bool find_explicit(struct zt_joiner *j, uint32_t e, uint64_t k)
{
	if (!k)
		return false;
	const struct jnode *nd = j->node[M_SID];
	uint32_t i;

	FOR_CHAIN(j, M_SID, *bucket_of(j, M_SID, k), i)
		if (i != e && nd[i].key == k) {
			link(j, e, i, ZT_LINK_EXPLICIT);
			return true;
		}
	map_add(j, M_SIDC, e, k); /* wait for it */
	return false;
}

/* e's parent among the entries that came before it. */
static void find_parent(struct zt_joiner *j, uint32_t e, const struct zt_span *s)
{
	struct jent *x = &j->ent[e];

	if (x->side == ZT_TAP_APP) {
		/* the SDK's own tree: parent_span_id names the parent's span id */
		find_explicit(j, e, key_str(s->parent_span_id));
		return;
	}
	/* a call made inside an SDK span carries that span's id in its
	 * traceparent: the SDK span is the parent of its wire view */
	if (x->side == ZT_TAP_CLIENT_PROCESS && find_explicit(j, e, key_str(s->span_id)))
		return;

	if (server_side(x->side)) {
		uint8_t want = seq_partner(x->side);
		uint64_t k = key_of(j, M_SEQ, e);
		const struct jnode *nd = j->node[M_SEQ];
		uint32_t i;
		if (!k)
			return;
		FOR_CHAIN(j, M_SEQ, *bucket_of(j, M_SEQ, k), i)
			if (i != e && nd[i].key == k && j->ent[i].side == want) {
				link(j, e, i, ZT_LINK_TCP_SEQ);
				return;
			}
		return;
	}
	if (x->side != ZT_TAP_CLIENT_PROCESS)
		return;
	uint64_t ctx = (s->flags & ZT_SPAN_AMBIGUOUS) ? 0 : s->syscall_trace_id_req;
	if (ctx) {
		const struct jnode *nd = j->node[M_CTXP];
		uint32_t i;
		FOR_CHAIN(j, M_CTXP, *bucket_of(j, M_CTXP, ctx), i) {
			if (nd[i].key != ctx || j->ent[i].pid != x->pid)
				continue;
			if (!contains(&j->ent[i], x)) {
				j->st.containment_refused++;
				continue;
			}
			link(j, e, i, ZT_LINK_THREAD);
			return;
		}
	}
	uint64_t xr = key_str(s->x_request_id);
	if (xr) {
		uint32_t i;
		for (int m = M_XRP; m <= M_XRP2; m++)
			FOR_CHAIN(j, m, *bucket_of(j, m, xr), i)
				if (j->node[m][i].key == xr && j->ent[i].pid == x->pid) {
					link(j, e, i, ZT_LINK_X_REQUEST_ID);
					return;
				}
	}
	/* none yet: wait for the server span (children complete first) */
	map_add(j, M_CTXC, e, ctx);
	map_add(j, M_XRC, e, xr);
}

/* Entries that came before e and wait for e as their parent. */
static void find_children(struct zt_joiner *j, uint32_t e, const struct zt_span *s)
{
	struct jent *x = &j->ent[e];
	uint32_t i;
	uint64_t k;

	if (x->side == ZT_TAP_APP && (k = key_of(j, M_SID, e))) {
		const struct jnode *nd = j->node[M_SIDC];
		FOR_CHAIN(j, M_SIDC, *bucket_of(j, M_SIDC, k), i)
			if (i != e && nd[i].key == k)
				link(j, i, e, ZT_LINK_EXPLICIT);
		return;
	}
	if ((x->side == ZT_TAP_CLIENT_PROCESS || x->side == ZT_TAP_CLIENT_NIC) && (k = key_of(j, M_SEQ, e))) {
		uint8_t want = seq_partner(x->side);
		const struct jnode *nd = j->node[M_SEQ];
		FOR_CHAIN(j, M_SEQ, *bucket_of(j, M_SEQ, k), i)
			if (i != e && nd[i].key == k && j->ent[i].side == want)
				link(j, i, e, ZT_LINK_TCP_SEQ);
		return;
	}
	if (x->side != ZT_TAP_SERVER_PROCESS)
		return;
	uint64_t ctx = key_of(j, M_CTXP, e);
	if (ctx) {
		const struct jnode *nd = j->node[M_CTXC];
		FOR_CHAIN(j, M_CTXC, *bucket_of(j, M_CTXC, ctx), i) {
			struct jent *c = &j->ent[i];
			if (nd[i].key != ctx || c->pid != x->pid)
				continue;
			if (!contains(x, c)) {
				j->st.containment_refused++;
				continue;
			}
			link(j, i, e, ZT_LINK_THREAD);
		}
	}
	for (int m = M_XRP; m <= M_XRP2; m++) {
		uint64_t xr = key_of(j, m, e);
		const struct jnode *nd = j->node[M_XRC];
		if (!xr)
			continue;
		FOR_CHAIN(j, M_XRC, *bucket_of(j, M_XRC, xr), i)
			if (nd[i].key == xr && j->ent[i].pid == x->pid)
				link(j, i, e, ZT_LINK_X_REQUEST_ID);
	}
	(void)s;
}

/* Spans with the same explicit trace id share a trace. */
static void join_explicit(struct zt_joiner *j, uint32_t e)
{
	uint64_t k = key_of(j, M_TID, e);
	const struct jnode *nd = j->node[M_TID];
	uint32_t i;

	if (!k)
		return;
	FOR_CHAIN(j, M_TID, *bucket_of(j, M_TID, k), i) {
		if (i != e && nd[i].key == k) {
			if (tr_find(j, j->ent[i].trace) != tr_find(j, j->ent[e].trace))
				j->st.links[ZT_LINK_EXPLICIT]++;
			merge(j, i, e);
			return; /* all earlier ones already share one trace */
		}
	}
}

/* ---- release and eviction ---- */

static void hex64(char *out, uint64_t v)
{
	for (int i = 15; i >= 0; i--, v >>= 4)
		out[i] = "0123456789abcdef"[v & 15];
}

static uint32_t oldest_live(const struct zt_joiner *j);

static void release(struct zt_joiner *j, uint32_t e)
{
	struct jent *x = &j->ent[e];
	struct zt_span *s = &j->rel;
	uint32_t t = tr_find(j, x->trace);
	/* the record was encoded by put (or checked by put_rec): it decodes */
	bool ok = zt_span_decode(j->arena + x->roff, x->rlen, s) == (long)x->rlen;

	if (!j->tr[t].id[0]) {
		/* time first (seconds, then nanoseconds within the second, 8
		 * hex each), then 64 bits of the uid's hash: ids sort by time,
		 * so the store's trace_id index grows at its right edge instead
		 * of at random pages (as X-Ray ids do), also within a second */
		char tmp[17];
		hex64(tmp, (x->end_ns / 1000000000ULL) << 32 | (x->end_ns % 1000000000ULL));
		memcpy(j->tr[t].id, tmp, 16);
		hex64(tmp, zt_mix64(zt_hash_str(x->uid)));
		memcpy(j->tr[t].id + 16, tmp, 16);
		j->tr[t].id[32] = '\0';
	}
	if (!j->tr[t].fixed)
		j->tr[t].fixed_seq = ++j->fix_seq;
	j->tr[t].fixed = true;
	memcpy(s->trace_id, j->tr[t].id, sizeof(s->trace_id));
	memcpy(s->parent_uid, x->parent, sizeof(s->parent_uid));
	s->link_kind = x->link;
	j->st.released++;
	if (j->out.span_rec && !j->err) {
		long n = ok ? zt_span_reassemble(j->arena + x->roff, x->rlen, s->trace_id, s->parent_uid,
						 s->link_kind, j->relrec, sizeof(j->relrec))
			    : -EINVAL;
		j->err = n > 0 ? j->out.span_rec(j->out.ctx, s, j->relrec, (size_t)n) : (int)n;
	} else if (j->out.span && !j->err) {
		j->err = ok ? j->out.span(j->out.ctx, s) : -EINVAL;
	}
	x->released = true;
	j->nlive--;
	/* release goes oldest first: the arena's head moves to the next */
	if (j->nlive)
		j->ahead = j->ent[oldest_live(j)].roff;
	else
		j->ahead = j->atail = 0;
}

/* The oldest live entry: live ones are the newest nlive of the ring. */
static uint32_t oldest_live(const struct zt_joiner *j)
{
	return idx_of(j, j->seq - j->nlive + 1);
}

/* The oldest entry. */
static uint32_t head(const struct zt_joiner *j)
{
	return idx_of(j, j->seq - j->n + 1);
}

/* The oldest entry leaves the ring (its nodes with it: see the top). */
static void evict_oldest(struct zt_joiner *j)
{
	uint32_t e = head(j);

	if (!j->ent[e].released)
		release(j, e);
	tr_put(j, j->ent[e].trace);
	j->n--;
}

/* Releases what the window no longer holds and forgets old keys. */
static void expire(struct zt_joiner *j, uint64_t now)
{
	while (j->nlive) {
		uint32_t e = oldest_live(j);
		if (j->ent[e].end_ns + j->cfg.window_ns > now)
			break;
		release(j, e);
	}
	while (j->n > j->nlive && j->ent[head(j)].end_ns + j->cfg.key_ttl_ns <= now)
		evict_oldest(j);
}

/* The span released next (the oldest held) was written a window ago and
 * left the cache since: its record's lines are fetched a put ahead. */
static void prefetch_next(const struct zt_joiner *j)
{
	const struct jent *x;

	if (!j->nlive)
		return;
	x = &j->ent[oldest_live(j)];
	for (uint32_t o = 0; o < x->rlen; o += 64)
		__builtin_prefetch(j->arena + x->roff + o);
}

/* Room for n contiguous bytes at the arena's tail, releasing the oldest
 * held spans early while there is none (window_full): the offset. */
static size_t arena_room(struct zt_joiner *j, size_t n)
{
	for (;;) {
		if (j->atail >= j->ahead) { /* [ahead, atail) used: room after it, or before */
			if (j->acap - j->atail >= n)
				return j->atail;
			if (j->ahead > n) { /* the end's slack stays unused until head passes it */
				j->atail = 0;
				return 0;
			}
		} else if (j->ahead - j->atail > n) { /* wrapped: room up to head */
			return j->atail;
		}
		j->st.window_full++;
		release(j, oldest_live(j));
	}
}

/* Takes s; rec: s encoded already (len bytes), copied as it is, or NULL:
 * s is encoded here. */
static int put(struct zt_joiner *j, const struct zt_span *s, const uint8_t *rec, size_t len)
{
	uint32_t e;
	struct jent *x;
	size_t roff;
	long enc;
	uint64_t kseq = 0, ctx = (s->flags & ZT_SPAN_AMBIGUOUS) ? 0 : s->syscall_trace_id_req;

	/* the chain heads this span adds to and looks up, fetched while the
	 * window releases and evicts (each was a miss) */
	if ((s->flags & ZT_SPAN_HAS_SEQ) && (s->flags & ZT_SPAN_HAS_RESP_SEQ)) {
		kseq = zt_mix64(((uint64_t)s->req_tcp_seq << 32 | s->resp_tcp_seq) + 1) | 1;
		__builtin_prefetch(bucket_of(j, M_SEQ, kseq));
	}
	if (ctx && (s->tap_side == ZT_TAP_SERVER_PROCESS || s->tap_side == ZT_TAP_CLIENT_PROCESS)) {
		__builtin_prefetch(bucket_of(j, M_CTXP, ctx));
		__builtin_prefetch(bucket_of(j, M_CTXC, ctx));
	}
	j->st.spans++;
	if (s->end_ns > j->latest)
		j->latest = s->end_ns;
	expire(j, j->latest);
	if (j->nlive == j->cfg.max_spans) {
		j->st.window_full++;
		release(j, oldest_live(j));
	}
	if (j->n == j->cfg.max_keys) {
		if (j->ent[head(j)].end_ns + j->cfg.key_ttl_ns > j->latest)
			j->st.keys_evicted_early++;
		evict_oldest(j);
	}
	/* records are bounded by entries and the merges among them: should
	 * forwarding chains exhaust the pool, old keys go first */
	while (j->ntr_free == 0 && j->n > j->nlive) {
		j->st.keys_evicted_early++;
		evict_oldest(j);
	}
	if (j->ntr_free == 0) { /* cannot happen: 2 records per entry */
		j->st.window_full++;
		return -ENOSPC;
	}
	roff = arena_room(j, rec ? len : ZT_SPAN_CODEC_MAX); /* before e joins: it may release */
	e = idx_of(j, ++j->seq);
	j->n++;
	j->nlive++;
	x = &j->ent[e];
	memset(x, 0, sizeof(*x));
	x->seq = j->seq;
	x->roff = (uint32_t)roff;
	if (rec) {
		memcpy(j->arena + roff, rec, len);
		enc = (long)len;
	} else {
		enc = zt_span_encode(s, j->arena + roff, ZT_SPAN_CODEC_MAX); /* > 0: room is enough */
	}
	x->rlen = enc > 0 ? (uint32_t)enc : 0;
	j->atail = roff + x->rlen;
	x->start_ns = s->start_ns;
	x->end_ns = s->end_ns;
	x->pid = s->pid;
	x->side = s->tap_side;
	memcpy(x->uid, s->span_uid, sizeof(x->uid));
	/* the header's trace id, if any, names the trace */
	x->trace = tr_new(j, s->trace_id);

	/* keys first: the lookups below skip e itself */
	map_add(j, M_SEQ, e, kseq);
	if (x->side == ZT_TAP_SERVER_PROCESS) {
		map_add(j, M_CTXP, e, ctx);
		map_add(j, M_XRP, e, key_str(s->x_request_id));
		map_add(j, M_XRP2, e, key_str(s->x_request_id_resp));
	}
	map_add(j, M_TID, e, key_str(s->trace_id));
	if (x->side == ZT_TAP_APP)
		map_add(j, M_SID, e, key_str(s->span_id));
	find_parent(j, e, s);
	find_children(j, e, s);
	join_explicit(j, e);
	prefetch_next(j);
	return j->err;
}

int zt_joiner_put(struct zt_joiner *j, const struct zt_span *s)
{
	return put(j, s, NULL, 0);
}

int zt_joiner_put_rec(struct zt_joiner *j, const uint8_t *rec, size_t len)
{
	/* the keys are read from the span decoded (it stays in cache for
	 * the lookups); the record itself is kept as it came */
	long n = zt_span_decode(rec, len, &j->in);

	if (n <= 0 || (size_t)n != len || len > ZT_SPAN_CODEC_MAX) {
		j->st.bad_records++;
		return -EINVAL;
	}
	return put(j, &j->in, rec, len);
}

int zt_joiner_tick(struct zt_joiner *j, uint64_t now_ns)
{
	expire(j, now_ns);
	return j->err;
}

int zt_joiner_flush(struct zt_joiner *j)
{
	while (j->nlive)
		release(j, oldest_live(j));
	return j->err;
}
