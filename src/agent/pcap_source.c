/* SPDX-License-Identifier: MIT */
/*
 * pcap_source.c - a capture file behind struct zt_source (pcap_source.h):
 * libpcap reads it (classic pcap, micro- or nanosecond; the modified-pcap
 * magic 0xa1b2cd34, which libpcap reads natively; pcapng), the decoder
 * (pcap_decode.c) turns its packets into the BPF programs' records.
 *
 * One repair: a classic header whose version fields were written in the
 * other byte order than its magic (00 02 00 04 after a little-endian magic:
 * seen in the wild, e.g. DeepFlow's memcached-userdata.pcap) is read as
 * version 2.4, with a note; libpcap alone refuses it.
 */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/pcap_source.h"

#define PCAP_BATCH 4096 /* packets per poll: the session ticks between */

struct pcap_src {
	struct zt_source base;
	struct zt_pipeline *p;
	pcap_t *pc;
	int linktype;
	struct zt_pcap_dec *dec;
	char note[256];
};

/* ---- the header repair: a FILE that shows patched first bytes ---- */

struct patched {
	FILE *f;
	unsigned char head[24];
	long pos;
};

static ssize_t patched_read(void *c, char *buf, size_t n)
{
	struct patched *p = c;
	size_t got = fread(buf, 1, n, p->f);

	for (size_t i = 0; i < got; i++)
		if (p->pos + (long)i < 24)
			buf[i] = (char)p->head[p->pos + i];
	p->pos += (long)got;
	if (got == 0 && ferror(p->f))
		return -1;
	return (ssize_t)got;
}

static int patched_seek(void *c, off64_t *off, int whence)
{
	struct patched *p = c;

	if (fseeko(p->f, *off, whence))
		return -1;
	*off = ftello(p->f);
	p->pos = (long)*off;
	return 0;
}

static int patched_close(void *c)
{
	struct patched *p = c;
	int rc = fclose(p->f);

	free(p);
	return rc;
}

/* f positioned at 0. Returns the stream libpcap should read: f itself or a
 * patched view of it (f then owned by the view). */
static FILE *maybe_repair(FILE *f, char *note, size_t notesz)
{
	unsigned char h[24];

	if (fread(h, 1, sizeof(h), f) != sizeof(h) || fseek(f, 0, SEEK_SET))
		return f;
	/* little-endian magic (a1b2c3d4 / a1b23c4d as d4 c3 b2 a1 / 4d 3c b2 a1)
	 * with a big-endian 2.4 version, or the reverse */
	bool le = (h[0] == 0xd4 && h[1] == 0xc3 && h[2] == 0xb2 && h[3] == 0xa1) ||
		  (h[0] == 0x4d && h[1] == 0x3c && h[2] == 0xb2 && h[3] == 0xa1);
	bool be = (h[3] == 0xd4 && h[2] == 0xc3 && h[1] == 0xb2 && h[0] == 0xa1) ||
		  (h[3] == 0x4d && h[2] == 0x3c && h[1] == 0xb2 && h[0] == 0xa1);
	if (!((le && h[4] == 0 && h[5] == 2 && h[6] == 0 && h[7] == 4) ||
	      (be && h[4] == 2 && h[5] == 0 && h[6] == 4 && h[7] == 0)))
		return f;
	struct patched *p = calloc(1, sizeof(*p));
	if (!p)
		return f;
	p->f = f;
	memcpy(p->head, h, sizeof(h));
	p->head[4] = h[5];
	p->head[5] = h[4];
	p->head[6] = h[7];
	p->head[7] = h[6];
	cookie_io_functions_t io = {.read = patched_read, .seek = patched_seek, .close = patched_close};
	FILE *v = fopencookie(p, "rb", io);
	if (!v) {
		free(p);
		return f;
	}
	snprintf(note, notesz,
		 "the header's version fields are in the other byte order than its magic: read as 2.4");
	return v;
}

/* ---- the source ---- */

static int pcap_poll(struct zt_source *src, int timeout_ms, char *err, size_t errsz)
{
	struct pcap_src *s = (struct pcap_src *)src;
	struct pcap_pkthdr *ph;
	const u_char *data;
	int n = 0, rc;

	(void)timeout_ms;
	(void)err;
	(void)errsz;
	while (n < PCAP_BATCH) {
		rc = pcap_next_ex(s->pc, &ph, &data);
		if (rc == 1) {
			uint64_t ts = (uint64_t)ph->ts.tv_sec * 1000000000ULL + (uint64_t)ph->ts.tv_usec;
			zt_pcap_dec_packet(s->dec, s->linktype, ts, data, ph->caplen, ph->len);
			n++;
			continue;
		}
		if (rc == PCAP_ERROR) {
			/* a cut last record (a capture killed mid-write) or a
			 * corrupt one: what came before stands */
			snprintf(s->note, sizeof(s->note), "reading stopped after packet %llu: %s",
				 (unsigned long long)zt_pcap_dec_stats(s->dec)->packets, pcap_geterr(s->pc));
		}
		zt_pcap_dec_finish(s->dec);
		src->ended = true;
		break;
	}
	return n;
}

static void pcap_close_src(struct zt_source *src)
{
	struct pcap_src *s = (struct pcap_src *)src;

	if (s->pc)
		pcap_close(s->pc);
	zt_pcap_dec_free(s->dec);
	free(s);
}

static const struct zt_source_ops pcap_ops = {.name = "pcap", .poll = pcap_poll, .close = pcap_close_src};

static int event_cb(void *ctx, const void *rec, size_t len)
{
	return zt_pipeline_event(ctx, rec, len);
}

int zt_source_open_pcap(const char *path, const struct zt_pcap_cfg *cfg, struct zt_pipeline *p,
			struct zt_source **out, char *err, size_t errsz)
{
	char ebuf[PCAP_ERRBUF_SIZE] = "";
	struct pcap_src *s = calloc(1, sizeof(*s));
	FILE *f;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	f = fopen(path, "rb");
	if (!f) {
		int e = errno;
		snprintf(err, errsz, "cannot open: %s", strerror(e));
		free(s);
		return -e;
	}
	f = maybe_repair(f, s->note, sizeof(s->note));
	s->pc = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, ebuf);
	if (!s->pc) {
		fclose(f);
		snprintf(err, errsz, "not a readable capture (pcap or pcapng): %s", ebuf);
		free(s);
		return -EINVAL;
	}
	s->linktype = pcap_datalink(s->pc);
	s->dec = zt_pcap_dec_new(cfg, event_cb, p);
	if (!s->dec) {
		pcap_close(s->pc);
		free(s);
		return -ENOMEM;
	}
	s->p = p;
	s->base.ops = &pcap_ops;
	s->base.mono_to_real = 0; /* packet times are epoch times */
	snprintf(s->base.host, sizeof(s->base.host), "pcap");
	*out = &s->base;
	return 0;
}

const struct zt_pcap_stats *zt_source_pcap_stats(struct zt_source *src)
{
	return src && src->ops == &pcap_ops ? zt_pcap_dec_stats(((struct pcap_src *)src)->dec) : NULL;
}

const char *zt_source_pcap_note(struct zt_source *src)
{
	return src && src->ops == &pcap_ops ? ((struct pcap_src *)src)->note : "";
}
