/* SPDX-License-Identifier: MIT */
/* red_json.c - see red_json.h. */
#include "server/red_json.h"

#include "store/red_agg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NS 1000000000ULL

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static json_t *ms_or_null(const struct zt_hist *h, double q)
{
	return h->count ? json_real((double)zt_hist_quantile(h, q) / 1e6) : json_null();
}

json_t *zt_red_val_json(const struct zt_rollup_val *v, double secs)
{
	uint64_t errs = v->errors[ZT_RERR_CLIENT] + v->errors[ZT_RERR_SERVER] + v->errors[ZT_RERR_TIMEOUT];
	json_t *o = json_object();

	json_object_set_new(o, "requests", json_integer((json_int_t)v->requests));
	json_object_set_new(o, "errors", json_integer((json_int_t)errs));
	json_object_set_new(o, "error_classes",
			    json_pack("{s:I,s:I,s:I}", "client_error", (json_int_t)v->errors[ZT_RERR_CLIENT],
				      "server_error", (json_int_t)v->errors[ZT_RERR_SERVER], "timeout",
				      (json_int_t)v->errors[ZT_RERR_TIMEOUT]));
	json_object_set_new(o, "error_rate", json_real(v->requests ? (double)errs / (double)v->requests : 0));
	json_object_set_new(o, "rate_per_s", secs > 0 ? json_real((double)v->requests / secs) : json_null());
	json_object_set_new(o, "mean_ms",
			    v->requests ? json_real((double)v->sum_ns / (double)v->requests / 1e6)
					: json_null());
	json_object_set_new(o, "p50_ms", ms_or_null(&v->hist, 0.5));
	json_object_set_new(o, "p90_ms", ms_or_null(&v->hist, 0.9));
	json_object_set_new(o, "p99_ms", ms_or_null(&v->hist, 0.99));
	return o;
}

void zt_red_labels_json(json_t *o, const struct zt_rollup_row *row)
{
	const struct zt_rollup_key *k = &row->k;

	if (k->kind == ZT_RK_EDGE) {
		json_object_set_new(o, "client", json_string(k->service));
		json_object_set_new(o, "server", json_string(k->peer));
	} else {
		json_object_set_new(o, "service", json_string(k->service));
	}
	if (k->kind == ZT_RK_ENDPOINT)
		json_object_set_new(o, "endpoint", json_string(k->endpoint));
	json_object_set_new(o, "protocol", json_string(zt_l7_name(k->l7)));
	if (k->host[0])
		json_object_set_new(o, "host", json_string(k->host));
	if (k->pid)
		json_object_set_new(o, "pid", json_integer(k->pid));
	if (k->kind == ZT_RK_EDGE && k->peer_host[0])
		json_object_set_new(o, "server_host", json_string(k->peer_host));
	if (k->kind == ZT_RK_EDGE && k->peer_pid)
		json_object_set_new(o, "server_pid", json_integer(k->peer_pid));
}

/* ---- the map ---- */

struct node {
	char name[ZT_SERVICE_LEN + ZT_HOSTNAME_LEN + 16];
	struct zt_rollup_row row; /* merged RED of what it serves */
	uint32_t protocols;	  /* bit per l7 */
	int traced;
};

struct map_ctx {
	struct node *nodes;
	size_t n, cap;
	json_t *edges;
	double secs;
	int by_process, oom;
};

/* A name made of an address ("10.0.0.2:80", "::1") is not a process. */
static int is_address(const char *s)
{
	return strspn(s, "0123456789.:abcdef[]") == strlen(s) && strpbrk(s, ".:");
}

static struct node *node_get(struct map_ctx *m, const char *svc, const char *host, uint32_t pid)
{
	char name[sizeof(m->nodes[0].name)];

	if (m->by_process && (host[0] || pid))
		snprintf(name, sizeof(name), "%s@%s/%u", svc, host, pid);
	else
		snprintf(name, sizeof(name), "%s", svc);
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->nodes[i].name, name))
			return &m->nodes[i];
	if (m->n == m->cap) {
		size_t ncap = m->cap ? m->cap * 2 : 16;
		struct node *nn = realloc(m->nodes, ncap * sizeof(*nn));
		if (!nn) {
			m->oom = 1;
			return NULL;
		}
		m->nodes = nn;
		m->cap = ncap;
	}
	memset(&m->nodes[m->n], 0, sizeof(m->nodes[0]));
	snprintf(m->nodes[m->n].name, sizeof(name), "%s", name);
	snprintf(m->nodes[m->n].row.k.service, ZT_SERVICE_LEN, "%s", svc);
	snprintf(m->nodes[m->n].row.k.host, ZT_HOSTNAME_LEN, "%s", host);
	m->nodes[m->n].row.k.pid = pid;
	m->nodes[m->n].traced = !is_address(svc);
	return &m->nodes[m->n++];
}

static int map_service(void *ctx, const struct zt_rollup_row *row)
{
	struct map_ctx *m = ctx;
	struct node *nd = node_get(m, row->k.service, row->k.host, row->k.pid);

	if (!nd)
		return -ENOMEM;
	zt_rollup_val_merge(&nd->row.v, &row->v);
	nd->protocols |= 1u << (row->k.l7 & 31);
	return 0;
}

static int map_edge(void *ctx, const struct zt_rollup_row *row)
{
	struct map_ctx *m = ctx;
	json_t *e;

	if (!node_get(m, row->k.service, row->k.host, row->k.pid) ||
	    !node_get(m, row->k.peer, row->k.peer_host, row->k.peer_pid))
		return -ENOMEM;
	e = zt_red_val_json(&row->v, m->secs);
	zt_red_labels_json(e, row);
	json_array_append_new(m->edges, e);
	return 0;
}

int zt_red_map(struct zt_store *st, const struct zt_red_map_query *mq, json_t **out, char *err, size_t errsz)
{
	struct map_ctx m = {0};
	struct zt_red_query q;
	uint64_t until = mq->until_ns ? mq->until_ns : now_ns();
	json_t *nodes, *root;
	int rc;

	*out = NULL;
	if (!st->ops->query_red) {
		snprintf(err, errsz, "the %s store keeps no RED rollups", st->ops->name);
		return -EOPNOTSUPP;
	}
	m.by_process = mq->by_process || mq->pid; /* one process asked for: say which */
	m.secs = until > mq->since_ns && mq->since_ns ? (double)(until - mq->since_ns) / 1e9 : 0;
	m.edges = json_array();
	memset(&q, 0, sizeof(q));
	q.since_ns = mq->since_ns;
	q.until_ns = mq->until_ns;
	q.host = mq->host;
	q.pid = mq->pid;
	q.by = mq->by_process || mq->pid ? ZT_RED_BY_PROCESS : mq->host ? ZT_RED_BY_HOST : ZT_RED_BY_SERVICE;
	q.kind = ZT_RK_SERVICE;
	rc = st->ops->query_red(st, &q, map_service, &m);
	if (!rc) {
		q.kind = ZT_RK_EDGE;
		rc = st->ops->query_red(st, &q, map_edge, &m);
	}
	if (rc) {
		snprintf(err, errsz, "%s", rc == -ENOMEM && m.oom ? "out of memory" : zt_store_errmsg(st));
		json_decref(m.edges);
		free(m.nodes);
		return rc;
	}
	nodes = json_array();
	for (size_t i = 0; i < m.n; i++) {
		struct node *nd = &m.nodes[i];
		json_t *o = zt_red_val_json(&nd->row.v, m.secs), *protos = json_array();
		nd->row.k.kind = ZT_RK_SERVICE;
		nd->row.k.l7 = 0;
		json_object_set_new(o, "service", json_string(nd->row.k.service));
		if (m.by_process && nd->row.k.host[0])
			json_object_set_new(o, "host", json_string(nd->row.k.host));
		if (m.by_process && nd->row.k.pid)
			json_object_set_new(o, "pid", json_integer(nd->row.k.pid));
		for (unsigned p = 0; p < 32; p++)
			if (nd->protocols & (1u << p))
				json_array_append_new(protos, json_string(zt_l7_name(p)));
		json_object_set_new(o, "protocols", protos);
		json_object_set_new(o, "traced", json_boolean(nd->traced));
		json_array_append_new(nodes, o);
	}
	free(m.nodes);
	root = json_object();
	json_object_set_new(root, "since_ns", json_integer((json_int_t)mq->since_ns));
	json_object_set_new(root, "until_ns", json_integer((json_int_t)until));
	json_object_set_new(root, "nodes", nodes);
	json_object_set_new(root, "edges", m.edges);
	*out = root;
	return 0;
}

/* ---- series ---- */

struct series_ctx {
	json_t *series, *cur, *points;
	struct zt_rollup_key last;
	double step_s;
};

static int same_group(const struct zt_rollup_key *a, const struct zt_rollup_key *b)
{
	return a->l7 == b->l7 && a->pid == b->pid && a->peer_pid == b->peer_pid &&
	       !strcmp(a->host, b->host) && !strcmp(a->service, b->service) &&
	       !strcmp(a->endpoint, b->endpoint) && !strcmp(a->peer, b->peer) &&
	       !strcmp(a->peer_host, b->peer_host);
}

static int series_row(void *ctx, const struct zt_rollup_row *row)
{
	struct series_ctx *s = ctx;
	json_t *pt;

	if (!s->cur || !same_group(&s->last, &row->k)) {
		s->cur = json_object();
		zt_red_labels_json(s->cur, row);
		s->points = json_array();
		json_object_set_new(s->cur, "points", s->points);
		json_array_append_new(s->series, s->cur);
		s->last = row->k;
	}
	pt = zt_red_val_json(&row->v, s->step_s);
	json_object_set_new(pt, "t_ns", json_integer((json_int_t)row->k.bucket_ns));
	json_array_append_new(s->points, pt);
	return 0;
}

int zt_red_series(struct zt_store *st, const struct zt_red_query *q, json_t **out, char *err, size_t errsz)
{
	struct series_ctx s = {0};
	uint64_t until = q->until_ns ? q->until_ns : now_ns();
	uint64_t w = zt_red_res_for(q) * NS, step = q->step_ns ? (q->step_ns + w - 1) / w * w : 0;
	json_t *root;
	int rc;

	*out = NULL;
	if (!st->ops->query_red) {
		snprintf(err, errsz, "the %s store keeps no RED rollups", st->ops->name);
		return -EOPNOTSUPP;
	}
	s.series = json_array();
	s.step_s = step ? (double)step / 1e9
			: (q->since_ns && until > q->since_ns ? (double)(until - q->since_ns) / 1e9 : 0);
	rc = st->ops->query_red(st, q, series_row, &s);
	if (rc) {
		snprintf(err, errsz, "%s", zt_store_errmsg(st));
		json_decref(s.series);
		return rc;
	}
	root = json_object();
	json_object_set_new(root, "kind", json_string(zt_rollup_kind_name(q->kind)));
	json_object_set_new(root, "res_s", json_integer(zt_red_res_for(q)));
	json_object_set_new(root, "step_ns", json_integer((json_int_t)step));
	json_object_set_new(root, "since_ns", json_integer((json_int_t)q->since_ns));
	json_object_set_new(root, "until_ns", json_integer((json_int_t)until));
	json_object_set_new(root, "series", s.series);
	*out = root;
	return 0;
}
