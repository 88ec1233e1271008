/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the pcap decoder (link layers, IPv4/IPv6, IP fragment
 * reassembly, TCP reassembly, UDP) with small bounds so that eviction,
 * hole overflow and fragment-table reuse all run, its records through the
 * session and parsers. Two modes, by the input's first bytes:
 *   - a pcap or pcapng magic: the input is a capture file, read by libpcap
 *     from memory (the seeds are real captures);
 *   - anything else: a list of packets { u8 linktype selector; u8 time
 *     step; u16 length (little-endian); bytes } given to the decoder
 *     directly, past libpcap's own checks.
 * Every record the decoder emits must pass zt_event_check (what the session
 * would otherwise count as a bad event); any input must end cleanly.
 */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/pcap_source.h"
#include "model/event.h"
#include "session/session.h"

static size_t acc;

static void sink(void *ctx, const struct zt_span *s)
{
	acc += strlen(s->request_resource) + strlen(s->endpoint) + strlen(s->span_uid);
}

static int on_event(void *ctx, const void *rec, size_t len)
{
	const char *why;

	if (zt_event_check(rec, len, &why)) {
		fprintf(stderr, "decoder emitted a bad record: %s\n", why);
		abort();
	}
	if (zt_session_event(ctx, rec, len))
		abort();
	return 0;
}

static const int links[8] = {1, 113, 276, 12, 0, 108, 228, 101};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zt_session_cfg scfg = {.host = "fuzz", .max_conns = 8, .max_pending = 4, .pend_cap = 16};
	struct zt_pcap_cfg pcfg = {.max_flows = 4,
				   .ooo_flow_bytes = 3000,
				   .ooo_total_bytes = 5000,
				   .hole_timeout_ns = 1000000,
				   .idle_timeout_ns = 50000000,
				   .max_frags = 2,
				   .sides = size ? (data[size - 1] % 3) + 1 : 3};
	struct zt_session *sess = zt_session_new(&scfg, sink, NULL);
	struct zt_pcap_dec *d = zt_pcap_dec_new(&pcfg, on_event, sess);
	uint64_t ts = 1000000000;

	if (!sess || !d)
		abort();
	bool file = size >= 4 &&
		    (memcmp(data, "\xd4\xc3\xb2\xa1", 4) == 0 || memcmp(data, "\xa1\xb2\xc3\xd4", 4) == 0 ||
		     memcmp(data, "\x4d\x3c\xb2\xa1", 4) == 0 || memcmp(data, "\x34\xcd\xb2\xa1", 4) == 0 ||
		     memcmp(data, "\x0a\x0d\x0d\x0a", 4) == 0);
	if (file) {
		char ebuf[PCAP_ERRBUF_SIZE];
		FILE *f = fmemopen((void *)data, size, "rb");
		pcap_t *pc =
		    f ? pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, ebuf) : NULL;
		if (!pc && f)
			fclose(f);
		if (pc) {
			struct pcap_pkthdr *ph;
			const u_char *pkt;
			int lt = pcap_datalink(pc);
			while (pcap_next_ex(pc, &ph, &pkt) == 1) {
				ts = (uint64_t)ph->ts.tv_sec * 1000000000ULL + (uint64_t)ph->ts.tv_usec;
				zt_pcap_dec_packet(d, lt, ts, pkt, ph->caplen, ph->len);
				zt_session_tick(sess, ts);
			}
			pcap_close(pc);
		}
	} else {
		size_t off = 0;
		while (off + 4 <= size) {
			int lt = links[data[off] & 7];
			ts += (uint64_t)data[off + 1] * 100000;
			size_t n = (size_t)data[off + 2] | (size_t)data[off + 3] << 8;
			off += 4;
			if (n > size - off)
				n = size - off;
			/* a copy of exactly n bytes: ASan sees any read past it */
			uint8_t *p = malloc(n ? n : 1);
			memcpy(p, data + off, n);
			zt_pcap_dec_packet(d, lt, ts, p, (uint32_t)n, (uint32_t)n + (data[off - 4] >> 3));
			free(p);
			off += n;
			zt_session_tick(sess, ts);
		}
	}
	zt_pcap_dec_finish(d);
	zt_pcap_dec_free(d);
	zt_session_free(sess);
	return 0;
}
