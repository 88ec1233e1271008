/* SPDX-License-Identifier: MIT */
/*
 * dns.c - DNS over UDP and TCP (RFC 1035, RFC 7766 framing, RFC 6891 EDNS).
 *
 * Framing. A UDP segment is one datagram, one message. On TCP every message
 * is preceded by a 2-byte big-endian length; messages may share a segment or
 * straddle several. The parser tells the two apart by the segment's TCP
 * sequence number (the kernel side sets it for TCP only, never for UDP),
 * decided once per connection on its first segment.
 *
 * Pairing: ZT_PAIR_KEY by the DNS id, so answers out of order and several
 * queries in flight on one TCP connection pair right. The session keys
 * unconnected UDP per peer, so ids of different clients do not mix.
 *
 * Fields: request_type = QTYPE name (opcode name for NOTIFY/UPDATE),
 * request_resource = the query name, response_code = RCODE (12-bit with the
 * EDNS extension), response_exception = its name when not NOERROR. Status
 * classes (DeepFlow's reading of NXDOMAIN, HTTP's of 4xx/5xx):
 *   NOERROR                                     ok
 *   FORMERR, NXDOMAIN, REFUSED, YXDOMAIN..NOTZONE, BADVERS and the other
 *   EDNS/TSIG codes (16..23)                    client_error (the question
 *                                               or its sender is at fault)
 *   SERVFAIL, NOTIMP, anything else             server_error
 * Endpoint: "QTYPE name", reverse lookups folded ("PTR *.in-addr.arpa").
 * Attributes of a response: dns.answers (ANCOUNT), dns.answer (the first A
 * or AAAA record), dns.tc (the TC bit: the answer did not fit, the client
 * retries over TCP).
 *
 * Truncation: a message whose bytes were not all captured is marked
 * ZT_MF_TRUNCATED; what the captured prefix holds is still reported (the
 * header and question fit in the default 1 KiB capture). On TCP the length
 * prefix keeps the framing across gaps; a gap that swallows a length
 * prefix, or a length below the header size, loses sync until the next
 * segment, whose first bytes must then look like a message start.
 *
 * DNS carries no credentials (TSIG is a MAC, not a secret): no redaction.
 */
#include "proto/dns.h"

#include <stdio.h>
#include <string.h>

#include "bpf/events.h"

#define DNS_BUF 768 /* captured bytes kept per TCP message: header, question, first records */
#define DNS_MIN_Q 5 /* root name + QTYPE + QCLASS */
#define DNS_MAX_SECTION_RRS 4096

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* ---- names ------------------------------------------------------------ */

int dns_name(const uint8_t *b, size_t cap, size_t off, char *out, size_t outsz, size_t *next)
{
	size_t pos = off, wire = 0, o = 0;
	int jumps = 0;
	bool jumped = false;

	if (out && outsz)
		out[0] = '\0';
	for (;;) {
		if (pos >= cap)
			return -2;
		uint8_t l = b[pos];
		if ((l & 0xc0) == 0xc0) {
			if (pos + 1 >= cap)
				return -2;
			size_t tgt = (size_t)(l & 0x3f) << 8 | b[pos + 1];
			if (!jumped) {
				*next = pos + 2;
				jumped = true;
			}
			/* a pointer into the header or onto itself is never valid;
			 * loops end at the jump bound */
			if (tgt < DNS_HDR_LEN || tgt == pos || ++jumps > DNS_MAX_JUMPS)
				return -1;
			pos = tgt;
			continue;
		}
		if (l & 0xc0) /* 0x40 / 0x80: extended and reserved label types */
			return -1;
		wire += 1u + l;
		if (wire > DNS_NAME_WIRE_MAX)
			return -1;
		if (l == 0) {
			if (!jumped)
				*next = pos + 1;
			break;
		}
		if (pos + 1 + l > cap)
			return -2;
		if (out && outsz) {
			if (o && o + 1 < outsz)
				out[o++] = '.';
			for (size_t i = 0; i < l && o + 1 < outsz; i++) {
				uint8_t c = b[pos + 1 + i];
				if (c >= 'A' && c <= 'Z')
					c = (uint8_t)(c - 'A' + 'a');
				else if (c <= 0x20 || c >= 0x7f || c == '.')
					c = '?';
				out[o++] = (char)c;
			}
			out[o] = '\0';
		}
		pos += 1u + l;
	}
	if (out && outsz && o == 0 && outsz > 1) {
		out[0] = '.';
		out[1] = '\0';
	}
	return 0;
}

/* ---- messages --------------------------------------------------------- */

/* Walks one resource record at *off; fills the answer/OPT facts. */
static int dns_rr(const uint8_t *b, size_t cap, size_t *off, int section, struct dns_info *in)
{
	size_t p;
	int r = dns_name(b, cap, *off, NULL, 0, &p);

	if (r)
		return r;
	if (p + 10 > cap)
		return -2;
	uint16_t type = be16(b + p), cls = be16(b + p + 2), rdlen = be16(b + p + 8);
	size_t rd = p + 10;
	if (rd + rdlen > cap)
		return -2;
	if (section == 1 && !in->first_addr[0] && (cls & 0x7fff) == 1) {
		if (type == 1 && rdlen == 4)
			snprintf(in->first_addr, sizeof(in->first_addr), "%u.%u.%u.%u", b[rd], b[rd + 1],
				 b[rd + 2], b[rd + 3]);
		else if (type == 28 && rdlen == 16) {
			/* full form, no :: shortening: unambiguous and simple */
			char *o = in->first_addr;
			for (int i = 0; i < 8; i++)
				o += snprintf(o, 6, i ? ":%x" : "%x", be16(b + rd + 2 * i));
		}
	}
	if (section == 3 && type == 41 && !in->edns) {
		in->edns = true;
		in->udp_size = cls;
		in->ext_rcode = b[p + 4];
	}
	*off = rd + rdlen;
	return 0;
}

int dns_parse(const uint8_t *b, size_t cap, struct dns_info *in)
{
	size_t off = DNS_HDR_LEN;
	int r;

	memset(in, 0, offsetof(struct dns_info, qname));
	in->qname[0] = '\0';
	in->qtype = in->qclass = 0;
	in->complete = false;
	in->end = 0;
	in->edns = false;
	in->ext_rcode = 0;
	in->udp_size = 0;
	in->first_addr[0] = '\0';
	if (cap < DNS_HDR_LEN)
		return -2;
	in->id = be16(b);
	in->flags = be16(b + 2);
	in->qdcount = be16(b + 4);
	in->ancount = be16(b + 6);
	in->nscount = be16(b + 8);
	in->arcount = be16(b + 10);
	for (unsigned q = 0; q < in->qdcount; q++) {
		size_t p;
		r = dns_name(b, cap, off, q ? NULL : in->qname, sizeof(in->qname), &p);
		if (r == 0 && p + 4 > cap)
			r = -2;
		if (r) {
			if (q == 0)
				return r;
			return 0; /* later questions: the message is cut, not bad */
		}
		if (q == 0) {
			in->has_q = true;
			in->qtype = be16(b + p);
			in->qclass = be16(b + p + 2);
		}
		off = p + 4;
	}
	const uint16_t counts[3] = {in->ancount, in->nscount, in->arcount};
	for (int s = 0; s < 3; s++) {
		/* each record takes >= 11 bytes, so cap bounds the walk; the
		 * constant bounds it for a caller with a huge buffer */
		for (unsigned i = 0; i < counts[s] && i < DNS_MAX_SECTION_RRS; i++) {
			if (dns_rr(b, cap, &off, s + 1, in))
				return 0;
		}
	}
	in->complete = true;
	in->end = off;
	return 0;
}

bool dns_plausible(const struct dns_info *in)
{
	unsigned op = DNS_OPCODE(in->flags);

	if (DNS_Z(in->flags))
		return false;
	if (op == 0) {
		if (in->qdcount != 1)
			return false;
	} else if (op == 4 || op == 5) {
		/* NOTIFY / UPDATE: one question (the zone) */
		if (in->qdcount != 1)
			return false;
	} else {
		return false;
	}
	if (!DNS_QR(in->flags)) {
		/* a query: no answer, no error, not truncated, at most OPT +
		 * TSIG/cookie in the additional section */
		if (DNS_RCODE(in->flags) || DNS_TC(in->flags) || (op == 0 && (in->ancount || in->nscount)) ||
		    in->arcount > 2)
			return false;
	} else if (in->ancount > 1024 || in->nscount > 1024 || in->arcount > 1024) {
		return false;
	}
	return true;
}

/* The strict reading of one message at b[0..cap), `whole` its size when
 * the caller knows the capture holds all of it (0 otherwise). Returns a
 * confidence 0..90. */
static int dns_judge(const uint8_t *b, size_t cap, size_t whole, bool mdns)
{
	struct dns_info in;

	if (cap < DNS_HDR_LEN + DNS_MIN_Q || dns_parse(b, cap, &in) != 0 || !in.has_q || !dns_plausible(&in))
		return 0;
	if (in.qtype == 0)
		return 0;
	unsigned cls = mdns ? (in.qclass & 0x7fffu) : in.qclass;
	if (cls != 1 && cls != 3 && cls != 4 && cls != 254 && cls != 255)
		return 0;
	/* a query's name is printable ASCII (dns_name wrote '?' for the rest) */
	if (!DNS_QR(in.flags) && strchr(in.qname, '?'))
		return 0;
	if (whole) {
		if (in.complete && in.end != whole)
			return 0; /* trailing bytes: not one DNS message */
		if (in.complete)
			return 85;
	}
	return 75;
}

/* A message behind its 2-byte length prefix at buf[0..len). */
static int dns_judge_tcp(const uint8_t *buf, size_t len)
{
	size_t l = len >= 2 ? be16(buf) : 0;

	if (l < DNS_HDR_LEN + DNS_MIN_Q)
		return 0;
	size_t cap = len - 2 < l ? len - 2 : l;
	return dns_judge(buf + 2, cap, cap == l ? l : 0, false);
}

static bool dns_port(uint16_t p)
{
	return p == 53 || p == 5353;
}

int dns_infer(const uint8_t *buf, size_t len, const struct zt_infer_hints *h)
{
	bool port = h && (dns_port(h->lport) || dns_port(h->rport));
	bool mdns = h && (h->lport == 5353 || h->rport == 5353);
	int c = 0;

	if (!h || h->l4 == 17 /* IPPROTO_UDP */) {
		/* a capture cut at the payload cap leaves records incomplete,
		 * so only a complete walk must end exactly at `len` */
		c = dns_judge(buf, len, len, mdns);
	} else if (h->l4 == 6 /* IPPROTO_TCP */ && len >= 2) {
		c = dns_judge_tcp(buf, len);
		/* a server that reads the length prefix by itself first
		 * (dnsmasq reads 1 + 1 + n bytes) shows a bare message: only
		 * a whole, exactly delimited one counts, and less surely */
		if (c == 0 && dns_judge(buf, len, len, false) == 85)
			c = 60;
	}
	if (c && port)
		c += 5;
	return c;
}

/* Which framing the first bytes show, without hints: 1 UDP, 2 TCP, 0 neither. */
static int dns_framing_guess(const uint8_t *buf, size_t len)
{
	if (dns_judge(buf, len, 0, true))
		return 1;
	if (dns_judge_tcp(buf, len))
		return 2;
	return 0;
}

static int dns_first_kind(const uint8_t *buf, size_t len)
{
	switch (dns_framing_guess(buf, len)) {
	case 1:
		return DNS_QR(buf[2] << 8) ? ZT_MSG_RESPONSE : ZT_MSG_REQUEST;
	case 2:
		return DNS_QR(buf[4] << 8) ? ZT_MSG_RESPONSE : ZT_MSG_REQUEST;
	}
	return 0;
}

/* ---- names of codes --------------------------------------------------- */

const char *dns_qtype_name(uint16_t t, char *buf, size_t bufsz)
{
	static const struct {
		uint16_t t;
		const char *n;
	} names[] = {
	    {1, "A"},	  {2, "NS"},	{5, "CNAME"},  {6, "SOA"},   {12, "PTR"},    {13, "HINFO"},
	    {15, "MX"},	  {16, "TXT"},	{28, "AAAA"},  {33, "SRV"},  {35, "NAPTR"},  {39, "DNAME"},
	    {41, "OPT"},  {43, "DS"},	{46, "RRSIG"}, {47, "NSEC"}, {48, "DNSKEY"}, {50, "NSEC3"},
	    {52, "TLSA"}, {64, "SVCB"}, {65, "HTTPS"}, {99, "SPF"},  {251, "IXFR"},  {252, "AXFR"},
	    {255, "ANY"}, {257, "CAA"},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].t == t)
			return names[i].n;
	snprintf(buf, bufsz, "TYPE%u", t);
	return buf;
}

const char *dns_rcode_name(unsigned rcode, char *buf, size_t bufsz)
{
	static const char *const names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
					    "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
					    "NXRRSET", "NOTAUTH", "NOTZONE"};
	if (rcode < sizeof(names) / sizeof(names[0]))
		return names[rcode];
	if (rcode == 16)
		return "BADVERS";
	if (rcode == 23)
		return "BADCOOKIE";
	snprintf(buf, bufsz, "RCODE%u", rcode);
	return buf;
}

uint8_t dns_rcode_status(unsigned rcode)
{
	if (rcode == 0)
		return ZT_RS_OK;
	if (rcode == 1 || rcode == 3 || (rcode >= 5 && rcode <= 10) || (rcode >= 16 && rcode <= 23))
		return ZT_RS_CLIENT_ERROR;
	return ZT_RS_SERVER_ERROR;
}

/* ---- per-connection state -------------------------------------------- */

enum { DNS_FR_UNKNOWN = 0, DNS_FR_UDP = 1, DNS_FR_TCP = 2 };

/* Where a TCP message started: what zt_msg_begin needs, without the data. */
struct dns_start {
	uint64_t enter_ns, exit_ns, trace_ctx;
	uint32_t tid, seq;
	bool has_seq, ambiguous;
};

struct dns_dir {
	uint8_t lenb[2];
	uint8_t nlen; /* length-prefix bytes collected */
	bool in_msg;  /* the prefix is complete: mlen bytes of message follow */
	bool gap;     /* part of this message was not captured */
	bool resync;  /* sync lost: the next segment must start a message */
	bool started; /* a segment of this direction was seen */
	uint16_t mlen;
	uint32_t seen; /* message bytes consumed, captured or not */
	uint32_t nbuf; /* captured prefix of the message in buf */
	struct dns_start start;
	uint8_t buf[DNS_BUF];
};

struct dns_state {
	uint8_t framing;
	struct dns_dir d[2];
	/* built here, not on the stack: zeroed once, so its padding is
	 * zero in every message (tests compare messages whole) without
	 * clearing ~2 KiB per message */
	struct zt_msg m;
};

_Static_assert(sizeof(struct dns_state) < 4 * 1024, "per-connection state must stay small");

static void dns_init(void *state)
{
	memset(state, 0, sizeof(struct dns_state));
}

/* Builds and emits the message in b[0..cap) of `wire` bytes on the wire. */
static void dns_emit(struct dns_state *ds, const uint8_t *b, size_t cap, size_t msglen, uint64_t wire,
		     bool truncated, const struct zt_seg *first, uint64_t off, const struct dns_start *st,
		     const struct zt_seg *last, zt_emit_fn emit, void *ctx)
{
	struct dns_info in;
	struct zt_msg *m = &ds->m;
	char tmp[16];

	if (cap < 4)
		return; /* neither id nor QR: nothing to pair */
	int r = dns_parse(b, cap, &in);
	if (r == -1)
		return; /* a message whose question is garbage is not DNS we report */
	if (r == -2) {
		/* the header or question was cut: keep what the bytes hold */
		in.id = be16(b);
		in.flags = be16(b + 2);
		in.has_q = false;
		truncated = true;
		if (cap >= DNS_HDR_LEN)
			in.ancount = be16(b + 6);
	}
	zt_msg_reset(m);
	if (first) {
		zt_msg_begin(m, first, off);
	} else {
		struct zt_seg s0 = {.enter_ns = st->enter_ns,
				    .exit_ns = st->exit_ns,
				    .tid = st->tid,
				    .seq = st->seq,
				    .has_seq = st->has_seq,
				    .dir = last->dir,
				    .trace_ctx = st->trace_ctx,
				    .ctx_ambiguous = st->ambiguous};
		zt_msg_begin(m, &s0, 0);
	}
	zt_msg_extend(m, last);
	m->kind = DNS_QR(in.flags) ? ZT_MSG_RESPONSE : ZT_MSG_REQUEST;
	m->pair = ZT_PAIR_KEY;
	m->key = in.id;
	m->bytes = wire;
	if (truncated || cap < msglen)
		m->flags |= ZT_MF_TRUNCATED;
	unsigned op = DNS_OPCODE(in.flags);
	if (op == 4)
		snprintf(m->request_type, sizeof(m->request_type), "NOTIFY");
	else if (op == 5)
		snprintf(m->request_type, sizeof(m->request_type), "UPDATE");
	else if (op != 0)
		snprintf(m->request_type, sizeof(m->request_type), "OPCODE%u", op);
	else if (in.has_q)
		snprintf(m->request_type, sizeof(m->request_type), "%s",
			 dns_qtype_name(in.qtype, tmp, sizeof(tmp)));
	if (in.has_q)
		zt_copy_str(m->request_resource, sizeof(m->request_resource), in.qname, strlen(in.qname));
	if (m->kind == ZT_MSG_RESPONSE) {
		unsigned rcode = DNS_RCODE(in.flags) | (unsigned)in.ext_rcode << 4;
		m->response_code = (int32_t)rcode;
		m->flags |= ZT_MF_HAS_CODE;
		m->status = dns_rcode_status(rcode);
		if (rcode) {
			const char *n = dns_rcode_name(rcode, tmp, sizeof(tmp));
			zt_copy_str(m->response_exception, sizeof(m->response_exception), n, strlen(n));
		}
		if (cap >= DNS_HDR_LEN) {
			snprintf(tmp, sizeof(tmp), "%u", in.ancount);
			zt_attrs_add(&m->attrs, "dns.answers", tmp, strlen(tmp));
		}
		if (in.first_addr[0])
			zt_attrs_add(&m->attrs, "dns.answer", in.first_addr, strlen(in.first_addr));
		if (DNS_TC(in.flags))
			zt_attrs_add(&m->attrs, "dns.tc", "true", 4);
	}
	emit(ctx, m);
}

/* One datagram, one message. */
static void dns_feed_udp(struct dns_state *st, const struct zt_seg *seg, zt_emit_fn emit, void *ctx)
{
	struct dns_info in;

	if (seg->eof || seg->len == 0 || seg->caplen < 4)
		return;
	/* a datagram that is not a DNS message (a probe, another protocol
	 * on the same peer) is skipped, not reported */
	if (seg->caplen >= DNS_HDR_LEN) {
		if (dns_parse(seg->data, seg->caplen, &in) == -1)
			return;
		/* an error answer may drop the question (FORMERR, NOTIMP
		 * with QDCOUNT 0): it still answers its id */
		bool bare_err =
		    DNS_QR(in.flags) && in.qdcount == 0 && DNS_RCODE(in.flags) && !DNS_Z(in.flags);
		if (!bare_err && !dns_plausible(&in))
			return;
	}
	dns_emit(st, seg->data, seg->caplen, seg->len, seg->len, seg->caplen < seg->len, seg, 0, NULL, seg,
		 emit, ctx);
}

static void dir_reset(struct dns_dir *d)
{
	d->nlen = 0;
	d->in_msg = false;
	d->gap = false;
	d->seen = 0;
	d->nbuf = 0;
}

/* After a loss of sync, the message that starts the segment must look like
 * one: its header (once captured) must be plausible. */
static bool resync_ok(const struct dns_dir *d)
{
	struct dns_info in;

	if (d->mlen < DNS_HDR_LEN + DNS_MIN_Q)
		return false;
	if (d->nbuf < DNS_HDR_LEN)
		return true; /* too early to tell */
	int r = dns_parse(d->buf, d->nbuf, &in);
	if (r == -1)
		return false;
	in.qdcount = be16(d->buf + 4);
	return dns_plausible(&in);
}

static void dns_feed_tcp(struct dns_state *st, const struct zt_seg *seg, zt_emit_fn emit, void *ctx)
{
	struct dns_dir *d = &st->d[seg->dir & 1];
	uint64_t pos = 0, len = seg->len, cap = seg->caplen;
	bool checking = false;

	if (seg->eof)
		return;
	if (cap > len)
		cap = len;
	if (d->resync) {
		/* a new segment: try a message start here */
		dir_reset(d);
		checking = true;
	}
	if (!d->started) {
		d->started = true;
		/* The first segment of a direction is a whole message without
		 * its prefix: the reader took the 2 length bytes in reads of
		 * their own before the protocol was known (dnsmasq). It starts
		 * 2 bytes earlier on the wire. */
		if (cap == len && len <= 0xffff && !dns_judge_tcp(seg->data, cap) &&
		    dns_judge(seg->data, cap, cap, false) == 85) {
			d->in_msg = true;
			d->mlen = (uint16_t)len;
			d->start = (struct dns_start){.enter_ns = seg->enter_ns,
						      .exit_ns = seg->exit_ns,
						      .trace_ctx = seg->trace_ctx,
						      .tid = seg->tid,
						      .seq = seg->seq - 2,
						      .has_seq = seg->has_seq,
						      .ambiguous = seg->ctx_ambiguous};
		}
	}
	while (pos < len) {
		if (!d->in_msg) {
			if (pos >= cap) {
				/* the next length prefix is not captured: the
				 * framing is lost until a segment starts anew */
				dir_reset(d);
				d->resync = true;
				return;
			}
			if (d->nlen == 0) {
				d->start = (struct dns_start){.enter_ns = seg->enter_ns,
							      .exit_ns = seg->exit_ns,
							      .trace_ctx = seg->trace_ctx,
							      .tid = seg->tid,
							      .seq = seg->seq + (uint32_t)pos,
							      .has_seq = seg->has_seq,
							      .ambiguous = seg->ctx_ambiguous};
			}
			d->lenb[d->nlen++] = seg->data[pos++];
			if (d->nlen < 2)
				continue;
			d->mlen = be16(d->lenb);
			d->in_msg = true;
			d->seen = 0;
			d->nbuf = 0;
			d->gap = false;
			if (d->mlen < DNS_HDR_LEN) {
				dir_reset(d);
				d->resync = true;
				return;
			}
			continue;
		}
		uint64_t take = d->mlen - d->seen;
		if (take > len - pos)
			take = len - pos;
		uint64_t avail = pos < cap ? cap - pos : 0;
		if (avail > take)
			avail = take;
		if (!d->gap) {
			uint64_t room = DNS_BUF - d->nbuf;
			uint64_t n = avail < room ? avail : room;
			memcpy(d->buf + d->nbuf, seg->data + pos, n);
			d->nbuf += (uint32_t)n;
		}
		if (avail < take)
			d->gap = true;
		d->seen += (uint32_t)take;
		pos += take;
		if (checking || d->resync) {
			if (!resync_ok(d)) {
				dir_reset(d);
				d->resync = true;
				return;
			}
			if (d->nbuf >= DNS_HDR_LEN || d->seen == d->mlen) {
				checking = false;
				d->resync = false;
			}
		}
		if (d->seen == d->mlen) {
			uint32_t kept = d->nbuf;
			bool cut = d->gap;
			dns_emit(st, d->buf, kept, cut ? d->mlen : kept, (uint64_t)d->mlen + 2, cut, NULL, 0,
				 &d->start, seg, emit, ctx);
			dir_reset(d);
		}
	}
}

static void dns_feed(void *state, const struct zt_seg *seg, zt_emit_fn emit, void *ctx)
{
	struct dns_state *st = state;

	if (st->framing == DNS_FR_UNKNOWN) {
		if (seg->eof)
			return;
		/* the kernel side gives TCP segments a sequence number, never UDP */
		st->framing = seg->has_seq ? DNS_FR_TCP : DNS_FR_UDP;
	}
	if (st->framing == DNS_FR_UDP)
		dns_feed_udp(st, seg, emit, ctx);
	else
		dns_feed_tcp(st, seg, emit, ctx);
}

/* A TCP connection closed inside a message: what was captured is reported,
 * marked truncated, so the request is not lost. */
static void dns_finish(void *state, uint64_t now_ns, zt_emit_fn emit, void *ctx)
{
	struct dns_state *st = state;

	if (st->framing != DNS_FR_TCP)
		return;
	for (int i = 0; i < 2; i++) {
		struct dns_dir *d = &st->d[i];
		if (d->in_msg && !d->resync && d->nbuf >= DNS_HDR_LEN) {
			struct zt_seg last = {
			    .enter_ns = now_ns, .exit_ns = now_ns, .tid = d->start.tid, .dir = (uint8_t)i};
			dns_emit(st, d->buf, d->nbuf, d->mlen, (uint64_t)d->seen + 2, true, NULL, 0,
				 &d->start, &last, emit, ctx);
		}
		dir_reset(d);
	}
}

/* "A svc.zt.test": the query type and name. Reverse lookups (one name per
 * address) are folded into "PTR *.in-addr.arpa" / "PTR *.ip6.arpa" so that
 * an endpoint names a kind of question, not every address asked about. */
static void dns_endpoint(const struct zt_msg *req, char *out, size_t outsz)
{
	const char *name = req->request_resource;
	size_t n = strlen(name);

	if (!outsz)
		return;
	if (!req->request_type[0]) {
		out[0] = '\0';
		return;
	}
	if (!strcmp(req->request_type, "PTR")) {
		if (n >= 13 && !strcmp(name + n - 13, ".in-addr.arpa"))
			name = "*.in-addr.arpa";
		else if (n >= 9 && !strcmp(name + n - 9, ".ip6.arpa"))
			name = "*.ip6.arpa";
	}
	snprintf(out, outsz, "%s %s", req->request_type, name);
}

const struct zt_proto_ops zt_dns_ops = {
    .id = ZT_L7_DNS,
    .name = "DNS",
    .infer = dns_infer,
    .state_size = sizeof(struct dns_state),
    .init = dns_init,
    .feed = dns_feed,
    .finish = dns_finish,
    .first_kind = dns_first_kind,
    .endpoint = dns_endpoint,
};
