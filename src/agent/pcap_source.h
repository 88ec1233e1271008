/* SPDX-License-Identifier: MIT */
/*
 * pcap_source.h - packet captures as an event source: `ztrace replay --pcap`.
 *
 * Two parts:
 *   the decoder (pcap_decode.c, no libpcap): link layer -> IPv4/IPv6 (IP
 *     fragments reassembled) -> TCP reassembled per direction, UDP per
 *     datagram -> the records the BPF programs produce (struct zt_data_ev +
 *     payload, struct zt_sock_ev for a close), so the session, the parsers
 *     and the store run unchanged;
 *   the source (pcap_source.c): libpcap reads the file (classic pcap in
 *     micro- or nanosecond resolution, the modified-pcap magic 0xa1b2cd34,
 *     pcapng) and feeds the decoder.
 *
 * What a record looks like (the "socket" of a packet flow):
 *   - every flow (TCP or UDP 4-tuple) is seen from each of its two ends (or
 *     one, cfg.sides): one synthetic socket per end, sk = a hash of the
 *     4-tuple and the end (bit 63 clear: never a kernel address), sock_ino =
 *     the flow's generation (a new SYN on a closed 4-tuple is a new socket);
 *   - the viewing end's bytes are egress, its peer's are ingress; the session
 *     decides client and server from the protocol as it does for processes,
 *     so the view of the end that sends the requests becomes the
 *     `client-nic` span and the other the `server-nic` span (ZT_DF_NIC);
 *   - tcp_seq is the packet's sequence number of the chunk's first byte (what
 *     the kernel's write_seq / copied_seq give a process: the spans of a
 *     capture carry the same seqs as `ztrace up`'s);
 *   - timestamps are the packets' (epoch ns, mono_to_real 0); pid, tid,
 *     netns are 0, comm "", fd -1.
 *
 * TCP reassembly, per direction: a SYN gives the ISN; without one (a flow
 * seen mid-stream) the first data segment starts the stream. In-order bytes
 * go out at once, in pieces of at most ZT_PAYLOAD_MAX captured bytes; bytes
 * already delivered (retransmissions, fully or partly overlapping) are
 * trimmed and counted; segments ahead of a hole are held (bounded per flow
 * and overall) until the hole fills. A hole that does not fill is given up
 * and delivered as a gap (a record whose bytes exceed its captured length,
 * like a syscall whose payload was cut) when: the held bytes reach a bound,
 * the peer's data is delivered (a response proves the request was received:
 * the capture missed the bytes), the hole is older than hole_timeout by
 * packet time, or the flow ends. Bytes never seen at all are gaps too when
 * the peer's data segment acknowledges them, or a FIN follows them. A FIN delivered in order gives the peer's
 * view an EOF record (ZT_DF_EOF, as a read returning 0); FIN from both ends
 * or a RST closes both views (ZT_EV_SOCK_STATE -> TCP_CLOSE). Flows idle for
 * idle_timeout (packet time) are closed; a full table closes the least
 * recently active flow (counted).
 *
 * Client end of a flow: the sender of a SYN (the receiver of a SYN-ACK); a
 * flow seen mid-stream: the end whose port is not a well-known server port
 * (a short list: 53, 80, 443, 3306, 5432, 6379, 11211, 1883, 5672, 9092,
 * 27017, ...), else the end with the higher port (TCP) or the first sender
 * (UDP). It matters only for cfg.sides (which end's view is emitted).
 *
 * Return convention: 0 on success, negative errno on failure (err filled).
 */
#ifndef ZT_PCAP_SOURCE_H
#define ZT_PCAP_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "agent/pipeline.h"
#include "agent/source.h"

enum zt_pcap_side {
	ZT_PCAP_SIDE_CLIENT = 1, /* the view of each flow's client end */
	ZT_PCAP_SIDE_SERVER = 2, /* the view of each flow's server end */
	ZT_PCAP_SIDE_BOTH = 3,
};

struct zt_pcap_cfg {
	uint32_t max_flows;        /* flows tracked at once (0: 65536) */
	uint64_t idle_timeout_ns;  /* packet time (0: 120 s) */
	uint32_t ooo_flow_bytes;   /* memory held out of order per direction, bytes and
				    * per-segment overhead (0: 1 MiB) */
	uint64_t ooo_total_bytes;  /* ... in all (0: 64 MiB) */
	uint64_t hole_timeout_ns;  /* a hole older than this is a gap (0: 2 s) */
	uint32_t max_frags;        /* IP datagrams being reassembled at once (0: 64) */
	unsigned sides;            /* enum zt_pcap_side bits (0: both) */
};

struct zt_pcap_stats {
	uint64_t packets;          /* packets read */
	uint64_t non_ip;           /* not IPv4/IPv6 (ARP, LLDP, ...) or unknown link type */
	uint64_t malformed;        /* headers cut by the snap length or inconsistent */
	uint64_t cut;              /* packets whose payload the snap length cut */
	uint64_t other_l4;         /* IP but neither TCP nor UDP (ICMP, ...) */
	uint64_t ip_fragments;     /* IP fragments seen */
	uint64_t ip_reassembled;   /* datagrams rebuilt from fragments */
	uint64_t ip_frag_dropped;  /* fragments given up (table full, timeout, bad) */
	uint64_t tcp_segments, udp_datagrams;
	uint64_t retrans_segments; /* TCP segments carrying already-delivered bytes */
	uint64_t retrans_bytes;    /* ... those bytes (trimmed) */
	uint64_t ooo_segments;     /* segments held ahead of a hole */
	uint64_t ooo_overflow;     /* holes given up because the held bytes hit a bound */
	uint64_t gaps;             /* holes delivered as gaps */
	uint64_t gap_bytes;
	uint64_t after_close;      /* data segments of a closed flow, ignored */
	uint64_t flows;            /* flows (connections, UDP 4-tuples) opened */
	uint64_t flows_closed;     /* by FIN/RST */
	uint64_t flows_idle;       /* idle timeout */
	uint64_t flows_evicted;    /* the flow table was full */
	uint64_t events;           /* records emitted */
};

struct zt_pcap_dec;

/* Records go to cb (the pipeline's zt_pipeline_event, or a test's). */
struct zt_pcap_dec *zt_pcap_dec_new(const struct zt_pcap_cfg *cfg, zt_event_fn cb, void *ctx);
/* One packet: linktype is libpcap's DLT_* value; caplen bytes at pkt (the
 * snap length may have cut the packet: wirelen is its real size). */
void zt_pcap_dec_packet(struct zt_pcap_dec *d, int linktype, uint64_t ts_ns, const uint8_t *pkt,
			uint32_t caplen, uint32_t wirelen);
/* The capture ended: every flow's held bytes (holes as gaps), then closes
 * of the TCP flows that emitted records. */
void zt_pcap_dec_finish(struct zt_pcap_dec *d);
const struct zt_pcap_stats *zt_pcap_dec_stats(const struct zt_pcap_dec *d);
void zt_pcap_dec_free(struct zt_pcap_dec *d);

/* A capture file behind struct zt_source. */
int zt_source_open_pcap(const char *path, const struct zt_pcap_cfg *cfg, struct zt_pipeline *p,
			struct zt_source **out, char *err, size_t errsz);
/* The decoder's counters of an open pcap source (NULL for other sources). */
const struct zt_pcap_stats *zt_source_pcap_stats(struct zt_source *src);
/* A note on how the file was read ("" if nothing to say), e.g. a repaired
 * header or a truncated last packet. */
const char *zt_source_pcap_note(struct zt_source *src);

#endif /* ZT_PCAP_SOURCE_H */
