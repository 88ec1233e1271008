/* SPDX-License-Identifier: MIT */
/*
 * test_wire.c - the agent protocol: frames (whole, every truncated prefix,
 * oversized, garbage), the span <-> message mapping of every field, the
 * spool (replay after a simulated crash, the bound), and the server's
 * duplicate check and durable acks over a real TCP connection.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "agent/ship.h"
#include "agent/ship_spool.h"
#include "agent/ship_wire.h"
#include "server/ingest.h"
#include "store/store.h"

#include "ingest_harness.h"

#define T0 (1700000000ull * 1000000000ull)

/* A span with every field set to something other than its null value. */
static void full_span(struct zt_span *s, unsigned i)
{
	zt_span_clear(s);
	snprintf(s->span_uid, sizeof(s->span_uid), "%016x", 0xabc000u + i);
	s->start_ns = T0 + i * 1000;
	s->end_ns = s->start_ns + 500;
	s->duration_ns = 500;
	s->tap_side = ZT_TAP_SERVER_PROCESS;
	snprintf(s->host, sizeof(s->host), "host-%u", i);
	s->netns = 4026531840u;
	s->pid = 100 + i;
	s->tid_req = 101 + i;
	s->tid_resp = 102 + i;
	snprintf(s->process, sizeof(s->process), "nginx");
	s->l7_protocol = ZT_L7_HTTP1;
	snprintf(s->version, sizeof(s->version), "1.1");
	snprintf(s->request_type, sizeof(s->request_type), "GET");
	snprintf(s->request_domain, sizeof(s->request_domain), "example.org");
	snprintf(s->request_resource, sizeof(s->request_resource), "/users/%u", i);
	snprintf(s->endpoint, sizeof(s->endpoint), "GET /users/{id}");
	s->response_status = ZT_RS_SERVER_ERROR;
	s->response_code = 503;
	snprintf(s->response_exception, sizeof(s->response_exception), "Service Unavailable");
	s->req_bytes = 123;
	s->resp_bytes = 4567;
	s->client_ip[10] = s->client_ip[11] = 0xff;
	s->client_ip[12] = 10, s->client_ip[15] = 1;
	s->client_port = 40000;
	s->server_ip[15] = 1;
	s->server_port = 80;
	s->l4_protocol = 6;
	s->req_tcp_seq = 111;
	s->resp_tcp_seq = 222;
	s->syscall_trace_id_req = 333;
	s->syscall_trace_id_resp = 444;
	snprintf(s->x_request_id, sizeof(s->x_request_id), "rid-req");
	snprintf(s->x_request_id_resp, sizeof(s->x_request_id_resp), "rid-resp");
	snprintf(s->trace_id, sizeof(s->trace_id), "0af7651916cd43dd8448eb211c80319c");
	snprintf(s->span_id, sizeof(s->span_id), "b7ad6b7169203331");
	snprintf(s->parent_span_id, sizeof(s->parent_span_id), "00f067aa0ba902b7");
	s->is_tls = 1;
	snprintf(s->parent_uid, sizeof(s->parent_uid), "00000000000000ff");
	s->link_kind = ZT_LINK_TCP_SEQ;
	zt_attrs_add(&s->attributes, "http.user_agent", "curl/8", 6);
	zt_attrs_add(&s->attributes, "k2", "v2", 2);
	s->flags = ZT_SPAN_HAS_SEQ | ZT_SPAN_HAS_RESP_SEQ | ZT_SPAN_TRUNCATED;
}

/* Every field of the span record, compared through the field table: a
 * field the mapping forgot shows here by name. */
static void assert_same_span(const struct zt_span *a, const struct zt_span *b)
{
	for (int f = 0; f < ZT_F__COUNT; f++) {
		struct zt_val va, vb;
		zt_span_get(a, f, &va);
		zt_span_get(b, f, &vb);
		if (va.type != vb.type || (va.type == ZT_VAL_INT && va.u != vb.u) ||
		    (va.type == ZT_VAL_TEXT && strcmp(va.s, vb.s)))
			fail_msg("field %s differs after the round trip", zt_span_fields[f].name);
		assert_int_not_equal(va.type, ZT_VAL_NULL); /* full_span sets every field */
	}
}

static void test_span_round_trip(void **state)
{
	struct zt_span in[3], out;
	struct zt_wbuf b = {0}, scratch = {0};
	struct zt_wire_frame f;
	ProtobufCMessage *m;

	for (unsigned i = 0; i < 3; i++)
		full_span(&in[i], i);
	assert_int_equal(zt_wire_batch_encode("0123456789abcdef0123456789abcdef", 7, T0, in, 3, &b), 0);
	assert_int_equal(zt_wire_frame_next(b.p, b.len, &f), (ssize_t)b.len);
	assert_int_equal(f.type, ZT_WIRE_BATCH);
	assert_true(f.zstd);
	assert_int_equal(zt_wire_msg_decode(&f, &scratch, &m), 0);
	Ztrace__Agent__SpanBatch *sb = (Ztrace__Agent__SpanBatch *)m;
	assert_int_equal(sb->seq, 7);
	assert_string_equal(sb->agent_id, "0123456789abcdef0123456789abcdef");
	assert_int_equal(sb->n_spans, 3);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(zt_wire_span_from_pb(sb->spans[i], &out), 0);
		assert_same_span(&in[i], &out);
	}
	protobuf_c_message_free_unpacked(m, NULL);
	zt_wbuf_free(&b);
	zt_wbuf_free(&scratch);
}

/* Values outside the record's ranges are cut or nulled and counted. */
static void test_span_out_of_range(void **state)
{
	Ztrace__Agent__Span pb = ZTRACE__AGENT__SPAN__INIT;
	char longtxt[2000];
	uint8_t ip5[5] = {1, 2, 3, 4, 5};
	struct zt_span s;

	memset(longtxt, 'a', sizeof(longtxt) - 1);
	longtxt[sizeof(longtxt) - 1] = '\0';
	pb.span_uid = longtxt;       /* cut */
	pb.tap_side = 99;            /* nulled */
	pb.client_port = 70000;      /* nulled */
	pb.client_ip.len = 5;        /* nulled */
	pb.client_ip.data = ip5;
	pb.l7_protocol = 1000;       /* nulled */
	pb.response_code = -7;       /* -1 */
	assert_int_equal(zt_wire_span_from_pb(&pb, &s), 6);
	assert_int_equal(strlen(s.span_uid), ZT_UID_LEN - 1);
	assert_int_equal(s.tap_side, 0);
	assert_int_equal(s.client_port, 0);
	assert_int_equal(s.l7_protocol, 0);
	assert_int_equal(s.response_code, -1);
}

static void test_frames_bad(void **state)
{
	struct zt_span sp;
	struct zt_wbuf b = {0}, scratch = {0};
	struct zt_wire_frame f;
	ProtobufCMessage *m;
	uint8_t hdr[ZT_WIRE_HDR];

	full_span(&sp, 1);
	assert_int_equal(zt_wire_batch_encode("0123456789abcdef0123456789abcdef", 1, T0, &sp, 1, &b), 0);
	/* every truncated prefix: "need more", never a frame or an error */
	for (size_t n = 0; n < b.len; n++)
		assert_int_equal(zt_wire_frame_next(b.p, n, &f), 0);
	/* oversized: refused from the header alone */
	memcpy(hdr, b.p, ZT_WIRE_HDR);
	hdr[0] = 0x01; /* 16 MiB + ... */
	hdr[1] = 0x00;
	hdr[2] = 0x00;
	hdr[3] = 0x01;
	assert_int_equal(zt_wire_frame_next(hdr, sizeof(hdr), &f), -EMSGSIZE);
	/* type bytes no frame has */
	memcpy(hdr, b.p, ZT_WIRE_HDR);
	hdr[4] = 0x09;
	assert_int_equal(zt_wire_frame_next(hdr, sizeof(hdr), &f), -EPROTO);
	hdr[4] = 0x40 | ZT_WIRE_BATCH;
	assert_int_equal(zt_wire_frame_next(hdr, sizeof(hdr), &f), -EPROTO);
	hdr[4] = 0;
	assert_int_equal(zt_wire_frame_next(hdr, sizeof(hdr), &f), -EPROTO);
	/* a garbage zstd payload */
	uint8_t junk[64];
	memset(junk, 0x5a, sizeof(junk));
	f = (struct zt_wire_frame){.type = ZT_WIRE_BATCH, .zstd = true, .payload = junk, .len = sizeof(junk)};
	assert_int_equal(zt_wire_msg_decode(&f, &scratch, &m), -EPROTO);
	/* garbage protobuf */
	f.zstd = false;
	assert_int_equal(zt_wire_msg_decode(&f, &scratch, &m), -EPROTO);
	/* a zstd bomb: a small frame that says it holds more than a message may */
	size_t big = ZT_WIRE_MSG_MAX + 1;
	uint8_t *zeros = calloc(1, big), *z = malloc(ZSTD_compressBound(big));
	assert_non_null(zeros);
	assert_non_null(z);
	size_t zn = ZSTD_compress(z, ZSTD_compressBound(big), zeros, big, 1);
	assert_false(ZSTD_isError(zn));
	f = (struct zt_wire_frame){.type = ZT_WIRE_BATCH, .zstd = true, .payload = z, .len = (uint32_t)zn};
	assert_int_equal(zt_wire_msg_decode(&f, &scratch, &m), -EMSGSIZE);
	free(zeros);
	free(z);
	zt_wbuf_free(&b);
	zt_wbuf_free(&scratch);
}

static void test_hostport(void **state)
{
	char h[64], p[8];

	assert_int_equal(zt_wire_hostport("10.0.0.1:7071", h, sizeof(h), p, sizeof(p)), 0);
	assert_string_equal(h, "10.0.0.1");
	assert_string_equal(p, "7071");
	assert_int_equal(zt_wire_hostport("[::1]:80", h, sizeof(h), p, sizeof(p)), 0);
	assert_string_equal(h, "::1");
	assert_int_equal(zt_wire_hostport("host", h, sizeof(h), p, sizeof(p)), -EINVAL);
	assert_int_equal(zt_wire_hostport("host:0", h, sizeof(h), p, sizeof(p)), -EINVAL);
	assert_int_equal(zt_wire_hostport("host:99999", h, sizeof(h), p, sizeof(p)), -EINVAL);
	assert_int_equal(zt_wire_hostport(":80", h, sizeof(h), p, sizeof(p)), -EINVAL);
}

static void spool_put_n(struct zt_spool *sp, uint32_t nspans)
{
	struct zt_span s[4];
	struct zt_wbuf b = {0};

	for (unsigned i = 0; i < nspans; i++)
		full_span(&s[i], i);
	assert_int_equal(zt_wire_batch_encode(zt_spool_agent_id(sp), zt_spool_next_seq(sp), T0, s, nspans, &b), 0);
	assert_int_equal(zt_spool_put(sp, b.p, b.len, nspans), 0);
	zt_wbuf_free(&b);
}

static void test_spool_replay(void **state)
{
	char tmpl[] = "/tmp/ztrace-test-spool-XXXXXX", *dir = mkdtemp(tmpl), err[256], id[33], path[512];
	struct zt_spool *sp;
	struct zt_spool_stats st;
	struct zt_wbuf b = {0};
	int fd;

	assert_non_null(dir);
	assert_int_equal(zt_spool_open(dir, 0, &sp, err, sizeof(err)), 0);
	snprintf(id, sizeof(id), "%s", zt_spool_agent_id(sp));
	assert_int_equal(zt_spool_next_seq(sp), 1);
	spool_put_n(sp, 1);
	spool_put_n(sp, 2);
	spool_put_n(sp, 3);
	/* the crash: no close, no ack; a write cut before its rename, and a
	 * file whose bytes were damaged */
	snprintf(path, sizeof(path), "%s/00000000000000000004-1.zb.tmp", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(write(fd, "\0\0", 2) == 2);
	close(fd);
	snprintf(path, sizeof(path), "%s/00000000000000000009-1.zb", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(write(fd, "\0\0\0\x10\x83xx", 7) == 7);
	close(fd);
	zt_spool_close(sp); /* memory only: the files are what a kill -9 leaves */

	assert_int_equal(zt_spool_open(dir, 0, &sp, err, sizeof(err)), 0);
	assert_string_equal(zt_spool_agent_id(sp), id); /* stable across restarts */
	zt_spool_stats(sp, &st);
	assert_int_equal(st.replayed, 3);
	assert_int_equal(st.spans, 6);
	assert_int_equal(st.corrupt, 1);
	assert_int_equal(zt_spool_next_seq(sp), 4);
	assert_int_equal(zt_spool_first_unacked(sp), 1);
	assert_int_equal(zt_spool_next_after(sp, 1), 2);
	assert_int_equal(zt_spool_read(sp, 2, &b), 0);
	struct zt_wire_frame f;
	assert_int_equal(zt_wire_frame_next(b.p, b.len, &f), (ssize_t)b.len);
	assert_int_equal(zt_spool_ack(sp, 2), 0);
	zt_spool_stats(sp, &st);
	assert_int_equal(st.batches, 1);
	assert_int_equal(st.acked_spans, 3);
	zt_spool_close(sp);

	/* acknowledged batches stay gone, the seq goes on, the count too */
	assert_int_equal(zt_spool_open(dir, 0, &sp, err, sizeof(err)), 0);
	zt_spool_stats(sp, &st);
	assert_int_equal(st.batches, 1);
	assert_int_equal(st.acked_seq, 2);
	assert_int_equal(st.acked_spans + st.spans, 6);
	assert_int_equal(zt_spool_first_unacked(sp), 3);
	assert_int_equal(zt_spool_ack(sp, 3), 0);
	assert_int_equal(zt_spool_first_unacked(sp), 4);
	zt_spool_close(sp);
	assert_int_equal(zt_spool_open(dir, 0, &sp, err, sizeof(err)), 0);
	assert_int_equal(zt_spool_next_seq(sp), 4); /* empty spool: the state keeps the seq */
	zt_spool_close(sp);
	zt_wbuf_free(&b);
	rm_tree(dir);
}

static void test_spool_full(void **state)
{
	char tmpl[] = "/tmp/ztrace-test-spool-XXXXXX", *dir = mkdtemp(tmpl), err[256];
	struct zt_spool *sp;
	struct zt_span s;
	struct zt_wbuf b = {0};

	full_span(&s, 0);
	assert_int_equal(zt_wire_batch_encode("x", 1, T0, &s, 1, &b), 0);
	assert_int_equal(zt_spool_open(dir, b.len * 2, &sp, err, sizeof(err)), 0);
	assert_int_equal(zt_spool_put(sp, b.p, b.len, 1), 0);
	assert_int_equal(zt_spool_put(sp, b.p, b.len, 1), 0);
	assert_int_equal(zt_spool_put(sp, b.p, b.len, 1), -ENOSPC);
	assert_int_equal(zt_spool_next_seq(sp), 3); /* no seq taken by the refused one */
	zt_spool_close(sp);
	zt_wbuf_free(&b);
	rm_tree(dir);
}

/* ---- the server: durable acks and duplicates ---- */

static void srv_start_w(struct srv *s, const char *dir, uint64_t window_ns)
{
	struct zt_ingest_cfg ic = {.listen = "127.0.0.1:0", .state_dir = dir, .flush_ns = 20000000ULL,
				   .joiner_window_ns = window_ns};
	char err[256];

	memset(s, 0, sizeof(*s));
	assert_int_equal(zt_store_open(dir, ZT_STORE_RW, &s->st), 0);
	assert_int_equal(zt_ingest_new(&ic, s->st, &s->g, err, sizeof(err)), 0);
	assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
}

static void srv_start(struct srv *s, const char *dir)
{
	srv_start_w(s, dir, 10000000ULL);
}

static void send_all(int fd, const struct zt_wbuf *b)
{
	assert_int_equal(write(fd, b->p, b->len), (ssize_t)b->len);
}

/* Reads frames until an Ack; returns its acked_seq (-1 on EOF/timeout). */
static int64_t read_ack(int fd, char *error, size_t esz)
{
	static uint8_t buf[4096];
	size_t n = 0;
	struct zt_wbuf scratch = {0};

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		struct zt_wire_frame f;
		ProtobufCMessage *m;
		if (poll(&p, 1, 5000) != 1)
			return -1;
		ssize_t r = read(fd, buf + n, sizeof(buf) - n);
		if (r <= 0)
			return -1;
		n += (size_t)r;
		if (zt_wire_frame_next(buf, n, &f) > 0) {
			assert_int_equal(f.type, ZT_WIRE_ACK);
			assert_int_equal(zt_wire_msg_decode(&f, &scratch, &m), 0);
			Ztrace__Agent__Ack *a = (Ztrace__Agent__Ack *)m;
			int64_t v = (int64_t)a->acked_seq;
			if (error)
				snprintf(error, esz, "%s", a->error ? a->error : "");
			protobuf_c_message_free_unpacked(m, NULL);
			zt_wbuf_free(&scratch);
			return v;
		}
	}
}

static void hello(int fd, const char *id, uint64_t first, uint32_t version)
{
	Ztrace__Agent__Hello h = ZTRACE__AGENT__HELLO__INIT;
	struct zt_wbuf b = {0};

	h.protocol_version = version;
	h.agent_id = (char *)id;
	h.host = "h1";
	h.first_unacked_seq = first;
	assert_int_equal(zt_wire_frame_put(&b, ZT_WIRE_HELLO, &h.base, false), 0);
	send_all(fd, &b);
	zt_wbuf_free(&b);
}

static uint64_t batch_t0 = T0;

static void batch(int fd, const char *id, uint64_t seq, unsigned base, unsigned n)
{
	struct zt_span s[8];
	struct zt_wbuf b = {0};

	for (unsigned i = 0; i < n; i++) {
		full_span(&s[i], base + i);
		s[i].start_ns += batch_t0 - T0;
		s[i].end_ns += batch_t0 - T0;
	}
	assert_int_equal(zt_wire_batch_encode(id, seq, T0, s, n, &b), 0);
	send_all(fd, &b);
	zt_wbuf_free(&b);
}

static void test_server_dedup(void **state)
{
	static const char *id = "00112233445566778899aabbccddeeff";
	char tmpl[] = "/tmp/ztrace-test-ingest-XXXXXX", *dir = mkdtemp(tmpl), error[256];
	struct srv s;
	struct zt_ingest_stats st;
	int fd;

	srv_start(&s, dir);
	fd = dial(zt_ingest_address(s.g));
	hello(fd, id, 1, ZT_WIRE_VERSION);
	assert_int_equal(read_ack(fd, NULL, 0), 0);
	batch(fd, id, 1, 0, 5);
	assert_int_equal(read_ack(fd, NULL, 0), 1);
	/* the ack comes only once the spans are durable: readable by another
	 * connection to the store right away */
	assert_int_equal(stored(dir), 5);
	batch(fd, id, 2, 5, 3);
	assert_int_equal(read_ack(fd, NULL, 0), 2);
	batch(fd, id, 2, 5, 3); /* resent: dropped, acked again */
	assert_int_equal(read_ack(fd, NULL, 0), 2);
	zt_ingest_get_stats(s.g, &st);
	assert_int_equal(st.dup_batches, 1);
	assert_int_equal(st.spans, 8);
	close(fd);
	srv_stop(&s);
	assert_int_equal(stored(dir), 8);

	/* a new server process (as after kill -9): the acked seq survived */
	srv_start(&s, dir);
	fd = dial(zt_ingest_address(s.g));
	hello(fd, id, 1, ZT_WIRE_VERSION); /* the agent still has batch 1 (its ack got lost) */
	assert_int_equal(read_ack(fd, NULL, 0), 2);
	batch(fd, id, 1, 0, 5);
	assert_int_equal(read_ack(fd, NULL, 0), 2);
	batch(fd, id, 3, 8, 2);
	assert_int_equal(read_ack(fd, NULL, 0), 3);
	zt_ingest_get_stats(s.g, &st);
	assert_int_equal(st.dup_batches, 1);
	assert_int_equal(st.spans, 2);
	/* a gap in the seqs is a broken agent: the connection is closed */
	batch(fd, id, 5, 20, 1);
	assert_int_equal(read_ack(fd, NULL, 0), -1);
	close(fd);
	/* another protocol version: refused with a reason */
	fd = dial(zt_ingest_address(s.g));
	hello(fd, id, 1, 99);
	assert_int_equal(read_ack(fd, error, sizeof(error)), 0);
	assert_non_null(strstr(error, "version 99"));
	close(fd);
	/* garbage and an oversized frame: closed and counted */
	fd = dial(zt_ingest_address(s.g));
	assert_int_equal(write(fd, "\x7f\xff\xff\xff\x03", 5), 5);
	assert_int_equal(read_ack(fd, NULL, 0), -1);
	close(fd);
	fd = dial(zt_ingest_address(s.g));
	assert_int_equal(write(fd, "\0\0\0\x03\x01zzz", 8), 8);
	assert_int_equal(read_ack(fd, NULL, 0), -1);
	close(fd);
	zt_ingest_get_stats(s.g, &st);
	assert_int_equal(st.frames_oversize, 1);
	assert_true(st.frames_bad >= 2);
	assert_int_equal(st.version_refused, 1);
	struct zt_agent_info ai[2];
	assert_int_equal(zt_ingest_agents(s.g, ai, 2), 1);
	assert_string_equal(ai[0].agent_id, id);
	assert_int_equal(ai[0].acked_seq, 3);
	assert_string_equal(ai[0].host, "h1");
	srv_stop(&s);
	assert_int_equal(stored(dir), 10);
	rm_tree(dir);
}

/* Spans that just ended wait in the joiner's window (1 s here): the ack
 * must wait for them to be released and flushed, not come when the batch
 * is taken. */
static void test_ack_after_joiner(void **state)
{
	static const char *id = "ffeeddccbbaa99887766554433221100";
	char tmpl[] = "/tmp/ztrace-test-ingest-XXXXXX", *dir = mkdtemp(tmpl);
	struct timespec ts;
	struct srv s;
	int fd;

	clock_gettime(CLOCK_REALTIME, &ts);
	batch_t0 = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	srv_start_w(&s, dir, 1000000000ULL);
	fd = dial(zt_ingest_address(s.g));
	hello(fd, id, 1, ZT_WIRE_VERSION);
	assert_int_equal(read_ack(fd, NULL, 0), 0);
	batch(fd, id, 1, 0, 4);
	assert_int_equal(read_ack(fd, NULL, 0), 1);
	assert_int_equal(stored(dir), 4);
	close(fd);
	srv_stop(&s);
	batch_t0 = T0;
	rm_tree(dir);
}

/* The agent's sink end to end: the server is away (spans spool, a full
 * spool drops and counts), comes up (the sender reconnects, resends, the
 * acks empty the spool), goes away and comes back with the same state (a
 * server restart: nothing resent twice is stored twice). */
static void test_ship_resend(void **state)
{
	char tmpl[] = "/tmp/ztrace-test-ship-XXXXXX", *dir = mkdtemp(tmpl), spool[600], data[600], err[256];
	struct zt_ship_cfg sc = {.server = "127.0.0.1:20310", .spool_dir = spool, .batch_spans = 4,
				 .host = "h1", .kernel = "k", .version = "v"};
	struct zt_ship *k;
	struct zt_ship_stats ss;
	struct zt_span sp;
	struct zt_wbuf b = {0};
	struct srv s;

	snprintf(spool, sizeof(spool), "%s/spool", dir);
	snprintf(data, sizeof(data), "%s/data", dir);
	/* room for 5 batches of 4 of these spans */
	struct zt_span four[4];
	for (unsigned i = 0; i < 4; i++)
		full_span(&four[i], i);
	assert_int_equal(zt_wire_batch_encode("0123456789abcdef0123456789abcdef", 1, 1, four, 4, &b), 0);
	sc.spool_max = b.len * 5 + b.len / 3; /* batches differ by a few bytes */
	zt_wbuf_free(&b);
	assert_int_equal(zt_ship_new(&sc, &k, err, sizeof(err)), 0);
	for (unsigned i = 0; i < 28; i++) { /* 7 batches: 5 spooled, 2 dropped */
		full_span(&sp, i);
		assert_int_equal(zt_ship_put(k, &sp), 0);
	}
	zt_ship_get_stats(k, &ss);
	assert_int_equal(ss.batches_spooled, 5);
	assert_int_equal(ss.spool_full_batches, 2);
	assert_int_equal(ss.spool_full_spans, 8);
	assert_int_equal(zt_ship_drain(k, 300), -ETIMEDOUT); /* nobody acknowledges */

	struct zt_ingest_cfg ic = {.listen = "127.0.0.1:20310", .state_dir = data, .flush_ns = 20000000ULL,
				   .joiner_window_ns = 10000000ULL};
	mkdir(data, 0700);
	memset(&s, 0, sizeof(s));
	assert_int_equal(zt_store_open(data, ZT_STORE_RW, &s.st), 0);
	assert_int_equal(zt_ingest_new(&ic, s.st, &s.g, err, sizeof(err)), 0);
	assert_int_equal(pthread_create(&s.th, NULL, srv_main, &s), 0);
	assert_int_equal(zt_ship_drain(k, 10000), 0);
	zt_ship_get_stats(k, &ss);
	assert_int_equal(ss.acked_spans_total, 20);
	assert_int_equal(ss.spool_batches, 0);
	srv_stop(&s);
	assert_int_equal(stored(data), 20);

	/* the server is away again; 2 more batches wait in the spool */
	for (unsigned i = 100; i < 108; i++) {
		full_span(&sp, i);
		zt_ship_put(k, &sp);
	}
	zt_ship_free(k); /* the agent stops with them unacknowledged */
	assert_int_equal(zt_ship_new(&sc, &k, err, sizeof(err)), 0); /* and starts again */
	zt_ship_get_stats(k, &ss);
	assert_int_equal(ss.spool_replayed, 2);
	memset(&s, 0, sizeof(s));
	assert_int_equal(zt_store_open(data, ZT_STORE_RW, &s.st), 0);
	assert_int_equal(zt_ingest_new(&ic, s.st, &s.g, err, sizeof(err)), 0);
	assert_int_equal(pthread_create(&s.th, NULL, srv_main, &s), 0);
	assert_int_equal(zt_ship_drain(k, 10000), 0);
	zt_ship_get_stats(k, &ss);
	assert_int_equal(ss.acked_spans_total, 28);
	assert_int_equal(ss.spooled_spans_total, 28);
	zt_ship_free(k);
	srv_stop(&s);
	assert_int_equal(stored(data), 28);
	rm_tree(dir);
}

/* A large uncompressed batch frame (> 64 KiB): n spans with long paths. */
static void big_batch(struct zt_wbuf *b, const char *id, uint64_t seq, unsigned base, unsigned n)
{
	Ztrace__Agent__SpanBatch m = ZTRACE__AGENT__SPAN_BATCH__INIT;
	static struct zt_span s[128];
	static Ztrace__Agent__Span pb[128], *pp[128];
	static Ztrace__Agent__Attr at[128][ZT_ATTRS_MAX], *ap[128][ZT_ATTRS_MAX];

	for (unsigned i = 0; i < n; i++) {
		full_span(&s[i], base + i);
		memset(s[i].request_resource, 'p', sizeof(s[i].request_resource) - 1);
		zt_wire_span_to_pb(&s[i], &pb[i], at[i], ap[i]);
		pp[i] = &pb[i];
	}
	m.agent_id = (char *)id;
	m.seq = seq;
	m.n_spans = n;
	m.spans = pp;
	assert_int_equal(zt_wire_frame_put(b, ZT_WIRE_BATCH, &m.base, false), 0);
	assert_true(b->len > 65536 + 1000);
}

/* Two large frames and input budget for one: the second waits, then
 * goes through once the first is done (no deadlock, nothing lost). */
static void test_input_budget(void **state)
{
	static const char *ida = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", *idb = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
	char tmpl[] = "/tmp/ztrace-test-ingest-XXXXXX", *dir = mkdtemp(tmpl), err[256];
	struct zt_wbuf a = {0}, b = {0};
	struct zt_ingest_stats st;
	struct srv s;

	big_batch(&a, ida, 1, 0, 100);
	big_batch(&b, idb, 1, 1000, 100);
	struct zt_ingest_cfg ic = {.listen = "127.0.0.1:0", .state_dir = dir, .flush_ns = 20000000ULL,
				   .joiner_window_ns = 10000000ULL, .max_buffered = a.len + a.len / 4};
	memset(&s, 0, sizeof(s));
	assert_int_equal(zt_store_open(dir, ZT_STORE_RW, &s.st), 0);
	assert_int_equal(zt_ingest_new(&ic, s.st, &s.g, err, sizeof(err)), 0);
	assert_int_equal(pthread_create(&s.th, NULL, srv_main, &s), 0);
	int fa = dial(zt_ingest_address(s.g)), fb = dial(zt_ingest_address(s.g));
	hello(fa, ida, 1, ZT_WIRE_VERSION);
	assert_int_equal(read_ack(fa, NULL, 0), 0);
	hello(fb, idb, 1, ZT_WIRE_VERSION);
	assert_int_equal(read_ack(fb, NULL, 0), 0);
	size_t half = 70000;
	assert_int_equal(write(fa, a.p, half), (ssize_t)half); /* A's header: A holds the budget */
	usleep(100000);
	assert_int_equal(write(fb, b.p, half), (ssize_t)half); /* B's: no budget left, B waits */
	usleep(100000);
	zt_ingest_get_stats(s.g, &st);
	assert_int_equal(st.buffer_waits, 1);
	assert_int_equal(write(fb, b.p + half, b.len - half), (ssize_t)(b.len - half));
	assert_int_equal(write(fa, a.p + half, a.len - half), (ssize_t)(a.len - half));
	assert_int_equal(read_ack(fa, NULL, 0), 1);
	assert_int_equal(read_ack(fb, NULL, 0), 1);
	close(fa);
	close(fb);
	srv_stop(&s);
	assert_int_equal(stored(dir), 200);
	zt_wbuf_free(&a);
	zt_wbuf_free(&b);
	rm_tree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_span_round_trip), cmocka_unit_test(test_span_out_of_range),
	    cmocka_unit_test(test_frames_bad),      cmocka_unit_test(test_hostport),
	    cmocka_unit_test(test_spool_replay),    cmocka_unit_test(test_spool_full),
	    cmocka_unit_test(test_server_dedup),    cmocka_unit_test(test_ack_after_joiner),
	    cmocka_unit_test(test_ship_resend),     cmocka_unit_test(test_input_budget),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
