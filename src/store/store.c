/* SPDX-License-Identifier: MIT */
/* store.c - the store factory: a URL names the backend. */
#include "store/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A store that only carries an open error, for schemes we do not know. */
static void err_close(struct zt_store *st)
{
	free(st);
}

static const struct zt_store_ops err_ops = {.name = "error", .close = err_close};

int zt_store_open(const char *url, enum zt_store_mode mode, struct zt_store **out)
{
	const char *colon;
	struct zt_store *st;

	*out = NULL;
	if (!url || !url[0])
		return -EINVAL;
	if (strncmp(url, "sqlite:", 7) == 0)
		return zt_store_open_sqlite(url[7] ? url + 7 : ".", mode, out);
	if (strncmp(url, "clickhouse://", 13) == 0)
		return zt_store_open_clickhouse(url, mode, out);
	/* "scheme:" or "scheme://" with a scheme of letters: a URL we cannot
	 * serve; anything else is a directory path (it may contain ':'). */
	colon = strchr(url, ':');
	if (colon && colon > url && strspn(url, "abcdefghijklmnopqrstuvwxyz0123456789+-.") == (size_t)(colon - url) &&
	    (colon[1] == '/' || colon[1] == '\0') && strncmp(colon, "://", 3) == 0) {
		st = calloc(1, sizeof(*st));
		if (!st)
			return -ENOMEM;
		st->ops = &err_ops;
		snprintf(st->errmsg, sizeof(st->errmsg), "unsupported store '%.*s': this build knows sqlite:DIR and clickhouse://HOST:PORT/DB",
			 (int)(colon - url), url);
		*out = st;
		return -EPROTONOSUPPORT;
	}
	return zt_store_open_sqlite(url, mode, out);
}
