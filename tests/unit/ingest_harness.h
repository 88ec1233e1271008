/* SPDX-License-Identifier: MIT */
/*
 * ingest_harness.h - what test_wire.c and test_ingest.c share to run a
 * real `ztrace server` ingest (server/ingest.h) on a thread and talk to
 * it: the server handle, its thread, a TCP dial, the stored span count
 * and removing a test's temp dir. Each test file starts the server its
 * own way (srv_start).
 */
#ifndef ZT_TEST_INGEST_HARNESS_H
#define ZT_TEST_INGEST_HARNESS_H

#include <ftw.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>

#include "agent/ship_wire.h"
#include "server/ingest.h"
#include "store/store.h"

struct srv {
	struct zt_ingest *g;
	struct zt_store *st;
	volatile sig_atomic_t stop;
	pthread_t th;
};

static void *srv_main(void *arg)
{
	struct srv *s = arg;
	char err[256];

	zt_ingest_run(s->g, &s->stop, err, sizeof(err));
	return NULL;
}

static void srv_stop(struct srv *s)
{
	s->stop = 1;
	pthread_join(s->th, NULL);
	zt_ingest_free(s->g);
	s->st->ops->close(s->st);
}

static int dial(const char *addr)
{
	char h[64], p[8];
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
	int fd;

	assert_int_equal(zt_wire_hostport(addr, h, sizeof(h), p, sizeof(p)), 0);
	assert_int_equal(getaddrinfo(h, p, &hints, &res), 0);
	fd = socket(res->ai_family, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, res->ai_addr, res->ai_addrlen), 0);
	freeaddrinfo(res);
	return fd;
}

static int count_cb(void *ctx, const struct zt_span *s)
{
	(*(int *)ctx)++;
	return 0;
}

static int stored(const char *dir)
{
	struct zt_store *st;
	struct zt_span_query q = {0};
	int n = 0;

	assert_int_equal(zt_store_open(dir, ZT_STORE_RO, &st), 0);
	assert_int_equal(st->ops->query_spans(st, &q, count_cb, &n), 0);
	st->ops->close(st);
	return n;
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

static void rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif /* ZT_TEST_INGEST_HARNESS_H */
