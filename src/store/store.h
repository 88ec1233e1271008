/* SPDX-License-Identifier: MIT */
/*
 * store.h - the storage interface. SQLite is the embedded backend; a second
 * backend (ClickHouse) implements the same vtable later. Commands open a
 * store by URL through zt_store_open(), never a backend directly.
 *
 * Duplicate rule (every backend): a span is identified by (start_ns,
 * span_uid). Putting a span whose identity is already stored is not an
 * error and changes nothing: the first copy stays, spans_written does not
 * count it. A batch resent after a failure therefore never doubles spans.
 *
 * Return convention: 0 on success, negative errno on failure; on failure a
 * message is available from zt_store_errmsg().
 */
#ifndef ZT_STORE_H
#define ZT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "model/span.h"

struct zt_store;

/* Filter for queries; zero values mean "any". */
struct zt_span_query {
	uint64_t since_ns;   /* start_ns >= since_ns (unix epoch ns) */
	const char *protocol; /* l7 protocol name, case-insensitive */
	const char *process;  /* exact process name */
	unsigned limit;      /* most recent N spans, 0: all */
};

typedef int (*zt_span_cb)(void *ctx, const struct zt_span *s);

struct zt_store_ops {
	const char *name;
	/* Queue spans; they are durable after the next flush. */
	int (*put_spans)(struct zt_store *st, const struct zt_span *spans, size_t n);
	int (*flush)(struct zt_store *st);
	/* Calls cb for each span, in start_ns order; stops if cb returns non-0. */
	int (*query_spans)(struct zt_store *st, const struct zt_span_query *q, zt_span_cb cb, void *ctx);
	void (*close)(struct zt_store *st);
};

struct zt_store {
	const struct zt_store_ops *ops;
	char errmsg[256];
	uint64_t spans_written; /* durable spans since open */
};

enum zt_store_mode { ZT_STORE_RW, ZT_STORE_RO };

/* The store factory. url: "sqlite:DIR" or a plain DIR (the embedded
 * store, DIR/ztrace.db, created when RW). An unknown scheme ("scheme:" or
 * "scheme://") fails with -EPROTONOSUPPORT and a message. On failure *out
 * may hold a store carrying the message (zt_store_errmsg, then close). */
int zt_store_open(const char *url, enum zt_store_mode mode, struct zt_store **out);

/* Backends (the factory's; commands use zt_store_open). */
int zt_store_open_sqlite(const char *dir, enum zt_store_mode mode, struct zt_store **out);

static inline const char *zt_store_errmsg(const struct zt_store *st) { return st->errmsg; }

#endif /* ZT_STORE_H */
