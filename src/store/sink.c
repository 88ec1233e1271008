/* SPDX-License-Identifier: MIT */
#include "store/sink.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct zt_store_sink {
	struct zt_store *st;
	struct zt_joiner *j;
	int (*on_span)(void *ctx, const struct zt_span *s);
	void *ctx;
	char errmsg[256];
};

static int out_span(void *ctx, const struct zt_span *s)
{
	struct zt_store_sink *k = ctx;
	int rc = 0;

	if (k->on_span && (rc = k->on_span(k->ctx, s))) {
		snprintf(k->errmsg, sizeof(k->errmsg), "printing spans failed");
		return rc;
	}
	if (k->st && (rc = k->st->ops->put_spans(k->st, s, 1)))
		snprintf(k->errmsg, sizeof(k->errmsg), "%s", zt_store_errmsg(k->st));
	return rc;
}

static int out_link(void *ctx, const char *child, const char *parent, uint8_t kind)
{
	struct zt_store_sink *k = ctx;
	int rc = 0;

	if (k->st && k->st->ops->put_link && (rc = k->st->ops->put_link(k->st, child, parent, kind)))
		snprintf(k->errmsg, sizeof(k->errmsg), "%s", zt_store_errmsg(k->st));
	return rc;
}

static int out_alias(void *ctx, const char *alias, const char *trace_id)
{
	struct zt_store_sink *k = ctx;
	int rc = 0;

	if (k->st && k->st->ops->put_alias && (rc = k->st->ops->put_alias(k->st, alias, trace_id)))
		snprintf(k->errmsg, sizeof(k->errmsg), "%s", zt_store_errmsg(k->st));
	return rc;
}

struct zt_store_sink *zt_store_sink_new(struct zt_store *st, const struct zt_joiner_cfg *jc,
					int (*on_span)(void *ctx, const struct zt_span *s), void *ctx)
{
	struct zt_store_sink *k = calloc(1, sizeof(*k));
	struct zt_joiner_out out;

	if (!k)
		return NULL;
	k->st = st;
	k->on_span = on_span;
	k->ctx = ctx;
	out.span = out_span;
	out.link = out_link;
	out.alias = out_alias;
	out.ctx = k;
	k->j = zt_joiner_new(jc, &out);
	if (!k->j) {
		free(k);
		return NULL;
	}
	return k;
}

int zt_store_sink_put(void *sink, const struct zt_span *s)
{
	return zt_joiner_put(((struct zt_store_sink *)sink)->j, s);
}

void zt_store_sink_tick(void *sink, uint64_t now_ns)
{
	/* a failure shows at the next put or flush */
	(void)zt_joiner_tick(((struct zt_store_sink *)sink)->j, now_ns);
}

int zt_store_sink_end(void *sink)
{
	return zt_joiner_flush(((struct zt_store_sink *)sink)->j);
}

int zt_store_sink_flush(void *sink)
{
	struct zt_store_sink *k = sink;
	int rc = zt_joiner_tick(k->j, 0); /* a failure kept from a tick */

	if (!rc && k->st && (rc = k->st->ops->flush(k->st)))
		snprintf(k->errmsg, sizeof(k->errmsg), "%s", zt_store_errmsg(k->st));
	return rc;
}

const char *zt_store_sink_errmsg(void *sink)
{
	return ((struct zt_store_sink *)sink)->errmsg;
}

const struct zt_joiner_stats *zt_store_sink_joiner_stats(const struct zt_store_sink *k)
{
	return zt_joiner_stats(k->j);
}

void zt_store_sink_free(struct zt_store_sink *k)
{
	if (!k)
		return;
	zt_joiner_free(k->j);
	free(k);
}
