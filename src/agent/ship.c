/* SPDX-License-Identifier: MIT */
#include "agent/ship.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/ship_spool.h"
#include "agent/ship_wire.h"
#include "util/num.h"

#define BACKOFF_MIN_NS 200000000ULL
#define BACKOFF_MAX_NS 5000000000ULL
#define ACK_TIMEOUT_NS 30000000000ULL /* batches sent, no ack: reconnect and resend */
#define STATS_EVERY_NS 2000000000ULL
#define WINDOW 32                     /* batches sent ahead of the acknowledged one */
#define MAX_COUNTERS 48

#define INC(f, v) __atomic_fetch_add(&k->st.f, (v), __ATOMIC_RELAXED)
#define LOAD(f) __atomic_load_n(&k->st.f, __ATOMIC_RELAXED)
#define STORE(f, v) __atomic_store_n(&k->st.f, (v), __ATOMIC_RELAXED)

struct zt_ship {
	char host[256], port[16];
	char hostname[ZT_HOSTNAME_LEN], kernel[128], version[32];
	uint32_t batch_spans, netns;
	uint64_t batch_age_ns, started_ns;
	struct zt_spool *sp;
	/* the batch being filled: writer thread only */
	struct zt_span *batch;
	uint32_t nb;
	uint64_t batch_t0;
	struct zt_wbuf enc;
	/* shared */
	struct zt_ship_stats st;
	pthread_mutex_t mu;
	pthread_cond_t acked_cv;
	const char *cnames[MAX_COUNTERS];
	uint64_t cvals[MAX_COUNTERS];
	size_t ncount;
	int wake_fd;
	pthread_t th;
	int th_started;
	volatile int stop;
	char errmsg[256];
};

/* ---- the writer side ---- */

static void wake(struct zt_ship *k)
{
	uint64_t one = 1;
	ssize_t w = write(k->wake_fd, &one, sizeof(one));
	(void)w; /* a full eventfd already wakes the sender */
}

/* Closes the batch being filled: encoded, numbered, spooled. A batch that
 * cannot be spooled is dropped and counted, never waited on. */
static void close_batch(struct zt_ship *k)
{
	uint64_t seq;
	int rc;

	if (!k->nb)
		return;
	seq = zt_spool_next_seq(k->sp);
	k->enc.len = 0;
	rc = zt_wire_batch_encode(zt_spool_agent_id(k->sp), seq, zt_clock_ns(CLOCK_REALTIME), k->batch, k->nb,
				  &k->enc);
	if (!rc)
		rc = zt_spool_put(k->sp, k->enc.p, k->enc.len, k->nb);
	if (rc == -ENOSPC) {
		INC(spool_full_batches, 1);
		INC(spool_full_spans, k->nb);
	} else if (rc) {
		if (!LOAD(spool_errors))
			snprintf(k->errmsg, sizeof(k->errmsg), "spooling a batch failed: %s", strerror(-rc));
		INC(spool_errors, 1);
		INC(spool_error_spans, k->nb);
	} else {
		INC(batches_spooled, 1);
		INC(spans_spooled, k->nb);
		wake(k);
	}
	k->nb = 0;
}

int zt_ship_put(void *ctx, const struct zt_span *s)
{
	struct zt_ship *k = ctx;

	if (k->netns && s->netns != k->netns) {
		INC(netns_skipped, 1);
		return 0;
	}
	INC(spans_in, 1);
	if (!k->nb)
		k->batch_t0 = zt_clock_ns(CLOCK_MONOTONIC);
	k->batch[k->nb++] = *s;
	if (k->nb == k->batch_spans)
		close_batch(k);
	return 0;
}

void zt_ship_tick(void *ctx, uint64_t now_ns)
{
	struct zt_ship *k = ctx;

	(void)now_ns; /* realtime: the age is measured on the monotonic clock */
	if (k->nb && zt_clock_ns(CLOCK_MONOTONIC) - k->batch_t0 >= k->batch_age_ns)
		close_batch(k);
}

int zt_ship_end(void *ctx)
{
	close_batch(ctx);
	return 0;
}

int zt_ship_flush(void *ctx)
{
	zt_ship_tick(ctx, 0);
	return 0;
}

const char *zt_ship_errmsg(void *ctx)
{
	return ((struct zt_ship *)ctx)->errmsg;
}

void zt_ship_set_counters(struct zt_ship *k, const char *const *names, const uint64_t *values, size_t n)
{
	pthread_mutex_lock(&k->mu);
	k->ncount = n < MAX_COUNTERS ? n : MAX_COUNTERS;
	for (size_t i = 0; i < k->ncount; i++) {
		k->cnames[i] = names[i];
		k->cvals[i] = values[i];
	}
	pthread_mutex_unlock(&k->mu);
}

/* ---- the sender thread ---- */

enum conn_state { C_DOWN, C_HELLO, C_READY };

struct conn {
	int fd;
	enum conn_state state;
	struct zt_wbuf in, out, scratch;
	size_t out_off;
	uint64_t last_sent, acked, progress_ns, stats_ns;
};

static int dial(struct zt_ship *k)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL, *ai;
	int fd = -1, one = 1;

	if (getaddrinfo(k->host, k->port, &hints, &res) != 0)
		return -1;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
			struct pollfd p = {.fd = fd, .events = POLLOUT};
			int soerr = 0;
			socklen_t sl = sizeof(soerr);
			if (poll(&p, 1, 2000) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 &&
			    soerr == 0)
				break;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void conn_close(struct zt_ship *k, struct conn *c)
{
	if (c->fd >= 0) {
		close(c->fd);
		INC(disconnects, 1);
	}
	c->fd = -1;
	c->state = C_DOWN;
	c->in.len = c->out.len = c->out_off = 0;
	STORE(connected, 0);
}

static int send_hello(struct zt_ship *k, struct conn *c)
{
	Ztrace__Agent__Hello h = ZTRACE__AGENT__HELLO__INIT;

	h.protocol_version = ZT_WIRE_VERSION;
	h.agent_id = (char *)zt_spool_agent_id(k->sp);
	h.host = k->hostname;
	h.kernel = k->kernel;
	h.ztrace_version = k->version;
	h.first_unacked_seq = zt_spool_first_unacked(k->sp);
	h.started_ns = k->started_ns;
	return zt_wire_frame_put(&c->out, ZT_WIRE_HELLO, &h.base, false);
}

static int queue_stats(struct zt_ship *k, struct conn *c)
{
	Ztrace__Agent__AgentStats m = ZTRACE__AGENT__AGENT_STATS__INIT;
	Ztrace__Agent__Counter cs[MAX_COUNTERS + 8], *cp[MAX_COUNTERS + 8];
	struct zt_ship_stats s;
	size_t n = 0;
	int rc;

	zt_ship_get_stats(k, &s);
	pthread_mutex_lock(&k->mu);
	for (size_t i = 0; i < k->ncount; i++, n++) {
		ztrace__agent__counter__init(&cs[n]);
		cs[n].name = (char *)k->cnames[i];
		cs[n].value = k->cvals[i];
	}
	pthread_mutex_unlock(&k->mu);
	const struct {
		const char *name;
		uint64_t v;
	} own[] = {
	    {"spool_full_spans", s.spool_full_spans}, {"spool_full_batches", s.spool_full_batches},
	    {"spool_error_spans", s.spool_error_spans}, {"spool_spans", s.spool_spans},
	    {"spool_bytes", s.spool_bytes},           {"netns_skipped", s.netns_skipped},
	    {"spans_spooled_total", s.spooled_spans_total}, {"spool_corrupt", s.spool_corrupt},
	};
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++, n++) {
		ztrace__agent__counter__init(&cs[n]);
		cs[n].name = (char *)own[i].name;
		cs[n].value = own[i].v;
	}
	for (size_t i = 0; i < n; i++)
		cp[i] = &cs[i];
	m.agent_id = (char *)zt_spool_agent_id(k->sp);
	m.ts_ns = zt_clock_ns(CLOCK_REALTIME);
	m.n_counters = n;
	m.counters = cp;
	rc = zt_wire_frame_put(&c->out, ZT_WIRE_STATS, &m.base, false);
	return rc;
}

/* The server acknowledged everything up to seq. */
static void on_ack(struct zt_ship *k, struct conn *c, uint64_t seq)
{
	if (seq > c->acked) {
		c->acked = seq;
		c->progress_ns = zt_clock_ns(CLOCK_MONOTONIC);
	}
	if (zt_spool_ack(k->sp, seq) == 0) {
		STORE(acked_seq, seq);
		pthread_mutex_lock(&k->mu);
		pthread_cond_broadcast(&k->acked_cv);
		pthread_mutex_unlock(&k->mu);
	}
}

/* Frames from the server: Acks only. -1: close the connection. */
static int read_frames(struct zt_ship *k, struct conn *c)
{
	size_t off = 0;
	int ret = 0;

	for (;;) {
		struct zt_wire_frame f;
		ProtobufCMessage *m = NULL;
		ssize_t n = zt_wire_frame_next(c->in.p + off, c->in.len - off, &f);
		if (n == 0)
			break;
		if (n < 0 || f.type != ZT_WIRE_ACK || zt_wire_msg_decode(&f, &c->scratch, &m)) {
			ret = -1;
			break;
		}
		off += (size_t)n;
		Ztrace__Agent__Ack *a = (Ztrace__Agent__Ack *)m;
		if (a->error && a->error[0]) {
			fprintf(stderr, "ztrace agent: the server refused this agent: %s\n", a->error);
			INC(refused, 1);
			protobuf_c_message_free_unpacked(m, NULL);
			ret = -1;
			break;
		}
		if (c->state == C_HELLO) {
			c->state = C_READY;
			c->last_sent = a->acked_seq; /* resend from the oldest unacknowledged */
			c->acked = a->acked_seq;
			c->progress_ns = zt_clock_ns(CLOCK_MONOTONIC);
			STORE(connected, 1);
		}
		on_ack(k, c, a->acked_seq);
		protobuf_c_message_free_unpacked(m, NULL);
	}
	memmove(c->in.p, c->in.p + off, c->in.len - off);
	c->in.len -= off;
	return ret;
}

/* Puts the next batch (or stats) in the output buffer when it is empty. */
static void fill_out(struct zt_ship *k, struct conn *c, uint64_t now)
{
	if (c->state != C_READY || c->out_off < c->out.len)
		return;
	c->out.len = c->out_off = 0;
	if (now - c->stats_ns >= STATS_EVERY_NS) {
		c->stats_ns = now;
		if (queue_stats(k, c) == 0)
			return;
	}
	uint64_t next = zt_spool_next_after(k->sp, c->last_sent);
	if (!next || next > c->acked + WINDOW)
		return;
	if (zt_spool_read(k->sp, next, &c->out) == 0) {
		if (c->last_sent <= c->acked)
			c->progress_ns = now; /* the ack clock starts with the first unacked send */
		c->last_sent = next;
		INC(batches_sent, 1);
	}
}

static void *sender(void *arg)
{
	struct zt_ship *k = arg;
	struct conn c = {.fd = -1};
	uint64_t backoff = BACKOFF_MIN_NS, next_try = 0;

	while (!k->stop) {
		uint64_t now = zt_clock_ns(CLOCK_MONOTONIC);
		struct pollfd p[2] = {{.fd = k->wake_fd, .events = POLLIN}, {.fd = -1}};
		uint64_t junk;

		if (c.fd < 0) {
			if (now < next_try) {
				int ms = (int)((next_try - now) / 1000000ULL) + 1;
				poll(p, 1, ms < 100 ? ms : 100);
				if (p[0].revents & POLLIN && read(k->wake_fd, &junk, sizeof(junk)) < 0) {
				}
				continue;
			}
			c.fd = dial(k);
			if (c.fd < 0) {
				INC(connect_failures, 1);
				next_try = now + backoff;
				backoff = backoff * 2 < BACKOFF_MAX_NS ? backoff * 2 : BACKOFF_MAX_NS;
				continue;
			}
			INC(connects, 1);
			c.state = C_HELLO;
			c.stats_ns = now;
			c.progress_ns = now;
			if (send_hello(k, &c)) {
				conn_close(k, &c);
				next_try = now + backoff;
				continue;
			}
		}
		fill_out(k, &c, now);
		p[1].fd = c.fd;
		p[1].events = POLLIN | (c.out_off < c.out.len ? POLLOUT : 0);
		if (poll(p, 2, 100) < 0 && errno != EINTR)
			break;
		if (p[0].revents & POLLIN && read(k->wake_fd, &junk, sizeof(junk)) < 0) {
		}
		int bad = 0;
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (zt_wbuf_reserve(&c.in, 65536)) {
				bad = 1;
			} else {
				ssize_t r = read(c.fd, c.in.p + c.in.len, c.in.cap - c.in.len);
				if (r > 0) {
					c.in.len += (size_t)r;
					if (read_frames(k, &c))
						bad = 1;
				} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
					bad = 1;
				}
			}
		}
		if (!bad && p[1].revents & POLLOUT) {
			ssize_t w = send(c.fd, c.out.p + c.out_off, c.out.len - c.out_off, MSG_NOSIGNAL);
			if (w > 0)
				c.out_off += (size_t)w;
			else if (w < 0 && errno != EAGAIN && errno != EINTR)
				bad = 1;
		}
		now = zt_clock_ns(CLOCK_MONOTONIC);
		if (!bad && c.state != C_DOWN && c.last_sent > c.acked && now - c.progress_ns > ACK_TIMEOUT_NS)
			bad = 1; /* the server took batches and never answered */
		if (!bad && c.state == C_HELLO && now - c.progress_ns > ACK_TIMEOUT_NS)
			bad = 1;
		if (bad) {
			int was_ready = c.state == C_READY;
			conn_close(k, &c);
			if (was_ready)
				backoff = BACKOFF_MIN_NS;
			next_try = now + backoff;
			backoff = backoff * 2 < BACKOFF_MAX_NS ? backoff * 2 : BACKOFF_MAX_NS;
		}
	}
	conn_close(k, &c);
	zt_wbuf_free(&c.in);
	zt_wbuf_free(&c.out);
	zt_wbuf_free(&c.scratch);
	return NULL;
}

/* ---- life ---- */

int zt_ship_new(const struct zt_ship_cfg *cfg, struct zt_ship **out, char *err, size_t errsz)
{
	struct zt_ship *k = calloc(1, sizeof(*k));
	int rc;

	*out = NULL;
	if (!k) {
		snprintf(err, errsz, "out of memory");
		return -ENOMEM;
	}
	k->wake_fd = -1;
	pthread_mutex_init(&k->mu, NULL);
	pthread_cond_init(&k->acked_cv, NULL);
	if (!cfg->server || zt_wire_hostport(cfg->server, k->host, sizeof(k->host), k->port, sizeof(k->port))) {
		snprintf(err, errsz, "invalid server address '%s': expected HOST:PORT", cfg->server ? cfg->server : "");
		rc = -EINVAL;
		goto fail;
	}
	snprintf(k->hostname, sizeof(k->hostname), "%s", cfg->host ? cfg->host : "");
	snprintf(k->kernel, sizeof(k->kernel), "%s", cfg->kernel ? cfg->kernel : "");
	snprintf(k->version, sizeof(k->version), "%s", cfg->version ? cfg->version : "");
	k->batch_spans = cfg->batch_spans ? cfg->batch_spans : 2048;
	if (k->batch_spans > ZT_WIRE_BATCH_MAX)
		k->batch_spans = ZT_WIRE_BATCH_MAX;
	k->batch_age_ns = cfg->batch_age_ns ? cfg->batch_age_ns : 1000000000ULL;
	k->netns = cfg->netns;
	k->started_ns = zt_clock_ns(CLOCK_REALTIME);
	k->batch = malloc((size_t)k->batch_spans * sizeof(*k->batch));
	if (!k->batch) {
		snprintf(err, errsz, "out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	if ((rc = zt_spool_open(cfg->spool_dir, cfg->spool_max ? cfg->spool_max : 256ULL << 20, &k->sp, err,
				errsz)))
		goto fail;
	k->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (k->wake_fd < 0) {
		rc = -errno;
		snprintf(err, errsz, "eventfd: %s", strerror(errno));
		goto fail;
	}
	if ((rc = -pthread_create(&k->th, NULL, sender, k))) {
		snprintf(err, errsz, "cannot start the sender thread: %s", strerror(-rc));
		goto fail;
	}
	k->th_started = 1;
	*out = k;
	return 0;
fail:
	zt_ship_free(k);
	return rc;
}

const char *zt_ship_agent_id(const struct zt_ship *k)
{
	return zt_spool_agent_id(k->sp);
}

int zt_ship_drain(struct zt_ship *k, int timeout_ms)
{
	uint64_t until = zt_clock_ns(CLOCK_MONOTONIC) + (uint64_t)timeout_ms * 1000000ULL;
	struct zt_spool_stats ss;

	wake(k);
	for (;;) {
		zt_spool_stats(k->sp, &ss);
		if (!ss.batches)
			return 0;
		if (zt_clock_ns(CLOCK_MONOTONIC) >= until)
			return -ETIMEDOUT;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_mutex_lock(&k->mu);
		pthread_cond_timedwait(&k->acked_cv, &k->mu, &ts);
		pthread_mutex_unlock(&k->mu);
	}
}

void zt_ship_get_stats(struct zt_ship *k, struct zt_ship_stats *out)
{
	struct zt_spool_stats ss;

	zt_spool_stats(k->sp, &ss);
#define L(f) out->f = LOAD(f)
	L(spans_in);
	L(netns_skipped);
	L(batches_spooled);
	L(spans_spooled);
	L(spool_full_batches);
	L(spool_full_spans);
	L(spool_errors);
	L(spool_error_spans);
	L(batches_sent);
	L(connects);
	L(connect_failures);
	L(disconnects);
	L(refused);
	L(connected);
#undef L
	out->acked_seq = ss.acked_seq;
	out->acked_spans_total = ss.acked_spans;
	out->spooled_spans_total = ss.acked_spans + ss.spans;
	out->spool_batches = ss.batches;
	out->spool_spans = ss.spans;
	out->spool_bytes = ss.bytes;
	out->spool_replayed = ss.replayed;
	out->spool_corrupt = ss.corrupt;
}

void zt_ship_free(struct zt_ship *k)
{
	if (!k)
		return;
	if (k->th_started) {
		k->stop = 1;
		wake(k);
		pthread_join(k->th, NULL);
	}
	if (k->wake_fd >= 0)
		close(k->wake_fd);
	zt_spool_close(k->sp);
	zt_wbuf_free(&k->enc);
	free(k->batch);
	pthread_cond_destroy(&k->acked_cv);
	pthread_mutex_destroy(&k->mu);
	free(k);
}
