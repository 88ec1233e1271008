/* SPDX-License-Identifier: MIT */
/*
 * record.c - `ztrace record FILE`: live BPF source -> record file, on the
 * pipeline runner (agent/pipeline.h); secrets redacted on each socket's
 * reassembled stream before anything is written (proto/redact.h).
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>

#include "agent/pipeline.h"
#include "agent/record.h"
#include "agent/source.h"
#include "cli/cli.h"
#include "cli/live.h"
#include "proto/redact.h"
#include "util/hash.h"
#include "util/num.h"

/* Streams whose redaction tails `record` keeps (proto/redact.h). */
#define REC_STREAMS 4096
/* UDP sockets remembered by --port (a hash set of struct sock addresses). */
#define REC_UDP_SOCKS 4096

struct rec_ctx {
	struct zt_rec_writer w;
	int err;
	uint16_t port; /* keep only this port's socket events; 0: all */
	uint64_t udp[REC_UDP_SOCKS]; /* UDP sockets seen with that port */
	uint64_t filtered;
	struct zt_redactor *red; /* secrets, on the reassembled streams */
	uint8_t buf[ZT_EVENT_MAX_SIZE];
};

/* UDP sockets kept for --port: a datagram read without its peer
 * (recv(), read()) has rport 0 and belongs to the port of its socket. */
static bool udp_kept(struct rec_ctx *r, uint64_t sk, bool add)
{
	size_t h = (size_t)(zt_mix64(sk) % REC_UDP_SOCKS);

	for (size_t k = 0; k < 8; k++) {
		size_t i = (h + k) % REC_UDP_SOCKS;
		if (r->udp[i] == sk)
			return true;
		if (!r->udp[i]) {
			if (add)
				r->udp[i] = sk;
			return add;
		}
	}
	if (add)
		r->udp[h] = sk; /* full around here: the newest wins */
	return add;
}

static bool rec_keep(struct rec_ctx *r, const void *rec, size_t len)
{
	const struct zt_event_hdr *h = rec;

	if (!r->port)
		return true;
	if (h->type == ZT_EV_DATA && len >= sizeof(struct zt_data_ev)) {
		const struct zt_data_ev *d = rec;
		bool keep = d->lport == r->port || d->rport == r->port;
		if (d->l4 == IPPROTO_UDP && d->sk) {
			if (keep)
				udp_kept(r, d->sk, true);
			else if (d->rport == 0)
				keep = udp_kept(r, d->sk, false);
		}
		return keep;
	}
	if (h->type == ZT_EV_SOCK_STATE && len >= sizeof(struct zt_sock_ev)) {
		const struct zt_sock_ev *e = rec;
		return e->lport == r->port || e->rport == r->port;
	}
	return true;
}

/* Secrets never reach the disk: every protocol redacts its own in the
 * payload (length-preserving) before the record is written, on each
 * socket's reassembled stream so a secret split across syscalls is found
 * (proto/redact.h). */
static int rec_on_event(void *ctx, const void *rec, size_t len)
{
	struct rec_ctx *r = ctx;
	const struct zt_event_hdr *h = rec;

	if (r->err)
		return 0;
	if (!rec_keep(r, rec, len)) {
		r->filtered++;
		return 0;
	}
	if (h->type == ZT_EV_DATA && len > sizeof(struct zt_data_ev) && len <= sizeof(r->buf)) {
		const struct zt_data_ev *d = (const void *)r->buf;
		memcpy(r->buf, rec, len);
		/* TLS plaintext is a stream of its own: the socket's
		 * ciphertext records keep coming between its records */
		zt_redact_stream(r->red, d->sk, d->sock_ino, (uint8_t)(d->dir | (d->flags & ZT_DF_TLS ? 0x80 : 0)),
				 r->buf + sizeof(*d), len - sizeof(*d), d->bytes);
		rec = r->buf;
	} else if (h->type == ZT_EV_SOCK_STATE && len >= sizeof(struct zt_sock_ev) &&
		   ((const struct zt_sock_ev *)rec)->newstate == ZT_TCP_CLOSE) {
		zt_redactor_close(r->red, ((const struct zt_sock_ev *)rec)->sk);
	}
	if (zt_rec_write(&r->w, rec, len))
		r->err = -EIO;
	return 0;
}

static void record_usage(FILE *f)
{
	fprintf(f, "usage: ztrace record FILE [--duration D] [--port PORT] [--payload-cap BYTES]\n"
		   "                     [--capture-path auto|fast|compat] [--force] [--redact-bodies] [--no-tls]\n"
		   "                     [--verbose]\n\n"
		   "Saves the raw kernel event stream of this host to FILE until Ctrl-C or --duration\n"
		   "(e.g. 30s, 5m). 'ztrace replay FILE' runs the pipeline on it. Credentials (HTTP\n"
		   "Authorization, Cookie and Set-Cookie values, secret query parameters, and each\n"
		   "protocol's credentials) are redacted, wherever the syscalls split them; the rest of\n"
		   "the captured payloads (message bodies included) is kept: treat FILE as sensitive,\n"
		   "or use --redact-bodies.\n\n"
		   "FILE is created mode 0600; an existing FILE or a symbolic link is refused.\n\n"
		   "  --port PORT   keep only socket events whose local or remote port is PORT\n"
		   "  --force       overwrite FILE if it exists (never through a symbolic link)\n"
		   "  --redact-bodies  keep only HTTP/1 message heads: bodies and every other\n"
		   "                protocol's payload are overwritten (replay then gives HTTP spans only)\n"
		   "  --no-tls      do not probe TLS libraries (OpenSSL, Node): no TLS plaintext\n");
}

int zt_cmd_record(int argc, char **argv)
{
	static const struct option opts[] = {
		{"duration", required_argument, NULL, OPT_DURATION},
		{"port", required_argument, NULL, OPT_PORT},
		{"payload-cap", required_argument, NULL, OPT_CAP},
		{"verbose", no_argument, NULL, OPT_VERBOSE},
		{"capture-path", required_argument, NULL, OPT_PATH},
		{"no-tls", no_argument, NULL, OPT_NOTLS},
		{"force", no_argument, NULL, OPT_FORCE},
		{"redact-bodies", no_argument, NULL, OPT_BODIES},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct zt_bpf_opts bo = {.payload_cap = ZT_PAYLOAD_DEFAULT};
	uint64_t duration_ns = 0, unused = 0, unused2 = 0;
	int bodies = 0;
	struct rec_ctx *r = NULL;
	struct zt_pipeline *pipe = NULL;
	struct zt_pipeline_cfg pc;
	struct zt_source *src = NULL;
	char err[512];
	uint64_t kc[ZT_CNT__COUNT] = {0};
	int opt, rc, ret = 1, wopen = 0, wflags = 0;
	uint16_t port = 0;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'h') {
			record_usage(stdout);
			return 0;
		}
		if (opt == OPT_FORCE) {
			wflags |= ZT_REC_FORCE;
			continue;
		}
		if (opt == OPT_BODIES) {
			bodies = 1;
			continue;
		}
		if (opt == OPT_PORT) {
			uint64_t v;
			if (zt_parse_uint(optarg, 65535, &v) || v == 0) {
				fprintf(stderr, "ztrace record: invalid --port '%s': expected 1..65535\n", optarg);
				return 2;
			}
			port = (uint16_t)v;
			continue;
		}
		if (opt == '?' || zt_live_parse_opt("record", opt, optarg, &bo, &unused, &unused2, &duration_ns)) {
			if (opt == '?')
				fprintf(stderr, "ztrace record: see 'ztrace record --help'\n");
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "ztrace record: expected one FILE argument (see 'ztrace record --help')\n");
		return 2;
	}
	if (zt_live_check_privileges("record"))
		return 1;
	r = calloc(1, sizeof(*r));
	if (!r || !(r->red = zt_redactor_new(REC_STREAMS))) {
		free(r);
		return 1;
	}
	zt_redactor_set_bodies(r->red, bodies);
	r->port = port;
	memset(&pc, 0, sizeof(pc));
	pc.on_event = rec_on_event;
	pc.stage_ctx = r;
	pc.stop = &zt_live_stop;
	pc.duration_ns = duration_ns;
	pipe = zt_pipeline_new(&pc);
	if (!pipe)
		goto cleanup;
	zt_live_install_signals();
	zt_live_ensure_tracefs();
	/* the file first: a refused FILE costs no BPF load */
	{
		char host[64];
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		if (zt_rec_writer_open(&r->w, argv[optind], host,
				       (int64_t)(zt_clock_ns(CLOCK_REALTIME) - zt_clock_ns(CLOCK_MONOTONIC)), wflags,
				       err, sizeof(err))) {
			fprintf(stderr, "ztrace record: %s\n", err);
			goto cleanup;
		}
	}
	wopen = 1;
	rc = zt_source_open_bpf(&bo, pipe, &src, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "ztrace record: %s\n", err);
		goto cleanup;
	}
	fprintf(stderr, "ztrace: recording to %s (Ctrl-C to stop)\n", argv[optind]);
	rc = zt_pipeline_run(pipe, src, err, sizeof(err));
	if (rc)
		fprintf(stderr, "ztrace record: %s\n", err);
	if (src->ops->counters)
		src->ops->counters(src, kc);
	ret = rc ? 1 : 0;
cleanup:
	zt_source_close(src);
	if (wopen && (zt_rec_writer_close(&r->w) || r->err)) {
		fprintf(stderr, "ztrace record: writing %s failed\n", argv[optind]);
		ret = 1;
	} else if (wopen && ret == 0) {
		fprintf(stderr,
			"ztrace: recorded %llu events (%llu bytes), %llu filtered out, %llu %s bytes redacted; "
			"drops: ring_full %llu, map_full %llu\n",
			(unsigned long long)r->w.records, (unsigned long long)r->w.bytes,
			(unsigned long long)r->filtered, (unsigned long long)zt_redactor_stats(r->red)->bytes,
			bodies ? "secret and body" : "secret",
			(unsigned long long)kc[ZT_CNT_RING_FULL], (unsigned long long)kc[ZT_CNT_MAP_FULL]);
	}
	zt_pipeline_free(pipe);
	zt_redactor_free(r->red);
	free(r);
	return ret;
}
