/* SPDX-License-Identifier: MIT */
/*
 * test_dns.c - the DNS parser (src/proto/dns.c): name decompression bounds,
 * message parsing on every prefix, inference, UDP datagram framing, TCP
 * length-prefix framing on every split, gaps and resync, the dnsmasq-style
 * bare first message, codes and their classes. Inputs are the payloads of
 * DeepFlow's DNS captures (dns_vectors.h) and what dig/dnsmasq sent in
 * tests/data/proto/dns; all through parser_harness.h (guard page).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/events.h"
#include "dns_vectors.h"
#include "parser_harness.h"
#include "proto/dns.h"
#include "proto/proto.h"

#define L(s) (sizeof(s) - 1)

/* dig @127.0.0.1 svc.zt.test A (EDNS, cookie-less) and dnsmasq's answer */
#define DIG_Q                                                                                                \
	"\xd0\x4b\x01\x20\x00\x01\x00\x00\x00\x00\x00\x01\x03svc\x02zt\x04test\x00\x00\x01\x00\x01"          \
	"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00"
#define DNSMASQ_A                                                                                            \
	"\xd0\x4b\x85\x80\x00\x01\x00\x01\x00\x00\x00\x01\x03svc\x02zt\x04test\x00\x00\x01\x00\x01"          \
	"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x00\x00\x04\x0a\x09\x08\x07"                                   \
	"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00"

static const char *attr(const struct zt_msg *m, const char *key)
{
	for (unsigned i = 0; i < m->attrs.n; i++)
		if (!strcmp(m->attrs.a[i].key, key))
			return m->attrs.a[i].val;
	return NULL;
}

/* ---- names ----------------------------------------------------------- */

struct name_case {
	const char *what;
	const char *msg;
	size_t len, off;
	int ret;
	const char *text;
	size_t next;
};

/* a header (12 bytes of 'H') then the name bytes */
#define HDR "HHHHHHHHHHHH"
static const struct name_case name_cases[] = {
    {"plain", HDR "\x03svc\x02zt\x04test\x00", 12 + 13, 12, 0, "svc.zt.test", 25},
    {"upper case folded", HDR "\x03SvC\x00", 12 + 5, 12, 0, "svc", 17},
    {"root", HDR "\x00", 13, 12, 0, ".", 13},
    {"pointer back", HDR "\x02zt\x00\x03svc\xc0\x0c", 12 + 10, 16, 0, "svc.zt", 22},
    {"pointer forward", HDR "\x03svc\xc0\x12\x02zt\x00", 12 + 10, 12, 0, "svc.zt", 18},
    {"pointer to itself", HDR "\xc0\x0c", 14, 12, -1, NULL, 0},
    {"two pointers in a loop", HDR "\xc0\x0e\xc0\x0c", 16, 12, -1, NULL, 0},
    {"label then loop back to it", HDR "\x01x\xc0\x0c", 16, 12, -1, NULL, 0},
    {"pointer into the header",
     "\x01"
     "a\x00HHHHHHHHH\xc0\x00",
     14, 12, -1, NULL, 0},
    {"pointer past the end", HDR "\xc0\x40", 14, 12, -2, NULL, 0},
    {"extended label type", HDR "\x41x\x00", 15, 12, -1, NULL, 0},
    {"reserved label type", HDR "\x81x\x00", 15, 12, -1, NULL, 0},
    {"label past the end",
     HDR "\x05"
	 "ab",
     15, 12, -2, NULL, 0},
    {"no terminator",
     HDR "\x02"
	 "ab",
     15, 12, -2, NULL, 0},
    {"control bytes shown as ?", HDR "\x03\x01.b\x00", 17, 12, 0, "??b", 17},
};

static void test_names(void **st)
{
	char out[DNS_NAME_TEXT];
	size_t next;

	(void)st;
	for (size_t i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]); i++) {
		const struct name_case *c = &name_cases[i];
		const uint8_t *b = ph_at_guard(c->msg, c->len);
		next = 0;
		int r = dns_name(b, c->len, c->off, out, sizeof(out), &next);
		if (r != c->ret)
			fail_msg("%s: returned %d, want %d", c->what, r, c->ret);
		if (c->text && strcmp(out, c->text))
			fail_msg("%s: '%s', want '%s'", c->what, out, c->text);
		if (c->next && next != c->next)
			fail_msg("%s: next %zu, want %zu", c->what, next, c->next);
	}
}

/* 255 wire bytes is the most a name may have: 127 one-byte labels take 254
 * plus the root; one more label breaks the bound, also through pointers. */
static void test_name_length_bound(void **st)
{
	uint8_t m[12 + 300];
	char out[DNS_NAME_TEXT];
	size_t next, o = 12;

	(void)st;
	memset(m, 'H', 12);
	for (int i = 0; i < 127; i++) {
		m[o++] = 1;
		m[o++] = 'a';
	}
	m[o++] = 0;
	assert_int_equal(o, 12 + 255);
	assert_int_equal(dns_name(ph_at_guard(m, o), o, 12, out, sizeof(out), &next), 0);
	assert_int_equal(strlen(out), 253);
	assert_int_equal(next, o);
	/* one more label in front */
	uint8_t m2[12 + 300];
	memcpy(m2, m, 12);
	m2[12] = 1;
	m2[13] = 'b';
	memcpy(m2 + 14, m + 12, 255);
	assert_int_equal(dns_name(ph_at_guard(m2, 14 + 255), 14 + 255, 12, out, sizeof(out), &next), -1);
	/* the same 255 bytes reached through a pointer: "b" + ptr -> the long name */
	uint8_t m3[12 + 300];
	memcpy(m3, m, 12 + 255);
	m3[267] = 1;
	m3[268] = 'b';
	m3[269] = 0xc0;
	m3[270] = 12;
	assert_int_equal(dns_name(ph_at_guard(m3, 271), 271, 267, out, sizeof(out), &next), -1);
	/* a 64-byte label is not a label */
	uint8_t m4[12 + 70] = "HHHHHHHHHHHH\x40";
	memset(m4 + 13, 'a', 64);
	m4[77] = 0;
	assert_int_equal(dns_name(ph_at_guard(m4, 78), 78, 12, out, sizeof(out), &next), -1);
}

/* A chain of DNS_MAX_JUMPS + 1 pointers, each to the next: refused. */
static void test_name_jump_bound(void **st)
{
	uint8_t m[12 + 2 * 40 + 1];
	size_t next;

	(void)st;
	memset(m, 'H', 12);
	for (int i = 0; i < 40; i++) {
		size_t at = 12 + 2 * (size_t)i, to = at + 2;
		m[at] = (uint8_t)(0xc0 | (to >> 8));
		m[at + 1] = (uint8_t)to;
	}
	m[12 + 80] = 0;
	assert_int_equal(dns_name(ph_at_guard(m, sizeof(m)), sizeof(m), 12, NULL, 0, &next), -1);
	/* DNS_MAX_JUMPS pointers are followed */
	size_t start = 12 + 2 * (40 - DNS_MAX_JUMPS);
	assert_int_equal(dns_name(ph_at_guard(m, sizeof(m)), sizeof(m), start, NULL, 0, &next), 0);
	assert_int_equal(next, start + 2);
}

/* ---- messages on every prefix ---------------------------------------- */

static int parse_fn(void *ctx, const uint8_t *b, size_t len)
{
	return dns_parse(b, len, ctx);
}

struct msg_case {
	const char *what;
	const char *in;
	size_t len;
	size_t q_end; /* header + first question */
	uint16_t id, qtype;
	const char *qname;
	bool qr;
	unsigned rcode;
	uint16_t ancount;
	const char *first_addr;
	bool edns;
};

static const struct msg_case msg_cases[] = {
    {"a-and-ns query", AANS_0, L(AANS_0), 50, 0x3199, 1, "aa.bb.cc.ddd.eee.fff.zqytest.com", false, 0, 0, "",
     false},
    {"a-and-ns answer", AANS_1, L(AANS_1), 50, 0x3199, 1, "aa.bb.cc.ddd.eee.fff.zqytest.com", true, 0, 1,
     "10.50.71.5", false},
    {"aaaa answer with NS only", AANS_3, L(AANS_3), 50, 0x1cf4, 28, "aa.bb.cc.ddd.eee.fff.zqytest.com", true,
     0, 0, "", false},
    {"dig query", DIG_Q, L(DIG_Q), 29, 0xd04b, 1, "svc.zt.test", false, 0, 0, "", true},
    {"dnsmasq answer", DNSMASQ_A, L(DNSMASQ_A), 29, 0xd04b, 1, "svc.zt.test", true, 0, 1, "10.9.8.7", true},
    {"SRV answer (tcp body)", SRV_1 + 2, L(SRV_1) - 2, 0, 0xc290, 33,
     "_port0._tcp.deepflow-byconity-server.deepflow.svc.cluster.local", true, 0, 1, "", true},
    {"NXDOMAIN (tcp body)", NXD_1 + 2, L(NXD_1) - 2, 0, 0x680c, 28, "prod-fcdt-e02.int.frontnode.net", true,
     3, 0, "", false},
};

static void test_parse_prefixes(void **st)
{
	struct dns_info in;
	struct ph_parser p = {.name = "dns_parse", .parse = parse_fn, .ctx = &in, .incomplete = -2};

	(void)st;
	for (size_t i = 0; i < sizeof(msg_cases) / sizeof(msg_cases[0]); i++) {
		const struct msg_case *c = &msg_cases[i];
		assert_int_equal(dns_parse(ph_at_guard(c->in, c->len), c->len, &in), 0);
		if (in.id != c->id || in.qtype != c->qtype || strcmp(in.qname, c->qname) ||
		    DNS_QR(in.flags) != c->qr || DNS_RCODE(in.flags) != c->rcode ||
		    in.ancount != c->ancount || strcmp(in.first_addr, c->first_addr) || in.edns != c->edns)
			fail_msg("%s: id %x qtype %u name '%s' qr %u rcode %u an %u addr '%s' edns %d",
				 c->what, in.id, in.qtype, in.qname, DNS_QR(in.flags), DNS_RCODE(in.flags),
				 in.ancount, in.first_addr, in.edns);
		if (!in.complete || in.end != c->len)
			fail_msg("%s: complete %d end %zu, want the whole %zu", c->what, in.complete, in.end,
				 c->len);
		assert_true(dns_plausible(&in));
		/* every prefix shorter than header + question is incomplete;
		 * longer ones parse, records cut are not an error */
		size_t qe = c->q_end;
		if (!qe) {
			size_t nx;
			assert_int_equal(dns_name(ph_at_guard(c->in, c->len), c->len, 12, NULL, 0, &nx), 0);
			qe = nx + 4;
		}
		ph_check_prefixes(&p, c->in, c->len, qe, 0);
		for (size_t k = qe; k < c->len; k++) {
			dns_parse(ph_at_guard(c->in, k), k, &in);
			if (in.complete)
				assert_true(in.end <= k);
		}
	}
}

static void test_rcode_names(void **st)
{
	char b[16];

	(void)st;
	assert_string_equal(dns_rcode_name(3, b, sizeof(b)), "NXDOMAIN");
	assert_string_equal(dns_rcode_name(2, b, sizeof(b)), "SERVFAIL");
	assert_string_equal(dns_rcode_name(5, b, sizeof(b)), "REFUSED");
	assert_string_equal(dns_rcode_name(16, b, sizeof(b)), "BADVERS");
	assert_string_equal(dns_rcode_name(12, b, sizeof(b)), "RCODE12");
	assert_int_equal(dns_rcode_status(0), ZT_RS_OK);
	assert_int_equal(dns_rcode_status(3), ZT_RS_CLIENT_ERROR);
	assert_int_equal(dns_rcode_status(1), ZT_RS_CLIENT_ERROR);
	assert_int_equal(dns_rcode_status(5), ZT_RS_CLIENT_ERROR);
	assert_int_equal(dns_rcode_status(2), ZT_RS_SERVER_ERROR);
	assert_int_equal(dns_rcode_status(4), ZT_RS_SERVER_ERROR);
	assert_string_equal(dns_qtype_name(1, b, sizeof(b)), "A");
	assert_string_equal(dns_qtype_name(28, b, sizeof(b)), "AAAA");
	assert_string_equal(dns_qtype_name(65, b, sizeof(b)), "HTTPS");
	assert_string_equal(dns_qtype_name(64, b, sizeof(b)), "SVCB");
	assert_string_equal(dns_qtype_name(255, b, sizeof(b)), "ANY");
	assert_string_equal(dns_qtype_name(999, b, sizeof(b)), "TYPE999");
}

static void test_endpoint(void **st)
{
	static struct zt_msg m;
	char ep[64];
	const struct {
		const char *type, *res, *want;
	} c[] = {
	    {"A", "svc.zt.test", "A svc.zt.test"},
	    {"PTR", "7.8.9.10.in-addr.arpa", "PTR *.in-addr.arpa"},
	    {"PTR", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa",
	     "PTR *.ip6.arpa"},
	    {"PTR", "_dns-sd._udp.local", "PTR _dns-sd._udp.local"},
	    {"", "", ""},
	};

	(void)st;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		zt_msg_reset(&m);
		snprintf(m.request_type, sizeof(m.request_type), "%s", c[i].type);
		snprintf(m.request_resource, sizeof(m.request_resource), "%s", c[i].res);
		zt_dns_ops.endpoint(&m, ep, sizeof(ep));
		assert_string_equal(ep, c[i].want);
	}
	snprintf(m.request_type, sizeof(m.request_type), "A");
	snprintf(m.request_resource, sizeof(m.request_resource), "svc.zt.test");
	zt_dns_ops.endpoint(&m, ep, 3); /* cut, still terminated */
	assert_true(strlen(ep) < 3);
}

/* ---- inference ------------------------------------------------------- */

struct infer_case {
	const char *what;
	const char *in;
	size_t len;
	uint8_t l4;
	uint16_t lport, rport;
	int min, max; /* the answer lies in [min, max] */
};

#define UDP 17
#define TCP 6
static const struct infer_case infer_cases[] = {
    {"udp query", AANS_0, L(AANS_0), UDP, 50290, 53, 85, 100},
    {"udp answer", AANS_1, L(AANS_1), UDP, 53, 50290, 85, 100},
    {"udp query off port", DIG_Q, L(DIG_Q), UDP, 40000, 16653, 80, 85},
    {"udp capture cut at 40 bytes", DNSMASQ_A, 40, UDP, 0, 16653, 70, 80},
    {"tcp query with prefix", TCPMULTI_0, L(TCPMULTI_0), TCP, 58820, 53, 75, 100},
    {"tcp answer with prefix", SRV_1, L(SRV_1), TCP, 53, 10209, 75, 100},
    {"tcp bare query (prefix read apart)", DIG_Q, L(DIG_Q), TCP, 16653, 40000, 55, 65},
    {"tcp prefix alone", "\x00\x34", 2, TCP, 16653, 0, 0, 0},
    {"tcp one byte", "\x00", 1, TCP, 53, 0, 0, 0},
    {"udp trailing byte", AANS_0 "x", L(AANS_0) + 1, UDP, 0, 53, 0, 0},
    {"udp on the tcp framing", TCPMULTI_0, L(TCPMULTI_0), UDP, 0, 53, 0, 0},
    {"tcp bare answer (prefix written apart)", AANS_1, L(AANS_1), TCP, 0, 53, 60, 65},
    {"http on port 53", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27, TCP, 0, 53, 0, 0},
    {"http on udp 53", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27, UDP, 0, 53, 0, 0},
    {"zeros on port 53", "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20, UDP, 0, 53, 0, 0},
    {"Z bit set",
     "\x12\x34\x01\x40\x00\x01\x00\x00\x00\x00\x00\x00\x01"
     "a\x00\x00\x01\x00\x01",
     19, UDP, 0, 53, 0, 0},
    {"two questions",
     "\x12\x34\x01\x00\x00\x02\x00\x00\x00\x00\x00\x00\x01"
     "a\x00\x00\x01\x00\x01\x01"
     "b\x00\x00\x01\x00\x01",
     25, UDP, 0, 53, 0, 0},
    {"query carrying an answer",
     "\x12\x34\x01\x00\x00\x01\x00\x01\x00\x00\x00\x00\x01"
     "a\x00\x00\x01\x00\x01",
     19, UDP, 0, 53, 0, 0},
    {"opcode 3",
     "\x12\x34\x19\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01"
     "a\x00\x00\x01\x00\x01",
     19, UDP, 0, 53, 0, 0},
    {"class 9",
     "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01"
     "a\x00\x00\x01\x00\x09",
     19, UDP, 0, 53, 0, 0},
    {"qtype 0",
     "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01"
     "a\x00\x00\x00\x00\x01",
     19, UDP, 0, 53, 0, 0},
    {"query name with a control byte",
     "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01\x07\x00\x00\x01\x00\x01", 19, UDP, 0, 53, 0, 0},
    {"mDNS QU bit on 5353",
     "\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01"
     "a\x00\x00\x0c\x80\x01",
     19, UDP, 5353, 5353, 80, 100},
};

static void test_infer(void **st)
{
	(void)st;
	for (size_t i = 0; i < sizeof(infer_cases) / sizeof(infer_cases[0]); i++) {
		const struct infer_case *c = &infer_cases[i];
		struct zt_infer_hints h = {.l4 = c->l4, .dir = 0, .lport = c->lport, .rport = c->rport};
		int r = dns_infer(ph_at_guard(c->in, c->len), c->len, &h);
		if (r < c->min || r > c->max)
			fail_msg("%s: confidence %d, want %d..%d", c->what, r, c->min, c->max);
		/* every prefix answers without reading past it */
		for (size_t k = 0; k < c->len; k++)
			dns_infer(ph_at_guard(c->in, k), k, &h);
	}
	/* the registered table: DNS wins DNS, HTTP keeps HTTP */
	struct zt_infer_hints h = {.l4 = TCP, .rport = 53};
	const struct zt_proto_ops *o = zt_proto_infer((const uint8_t *)TCPMULTI_0, L(TCPMULTI_0), &h);
	assert_non_null(o);
	assert_int_equal(o->id, ZT_L7_DNS);
	o = zt_proto_infer((const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18, &h);
	assert_non_null(o);
	assert_int_equal(o->id, ZT_L7_HTTP1);
	/* first_kind reads QR in either framing */
	assert_int_equal(zt_dns_ops.first_kind((const uint8_t *)AANS_0, L(AANS_0)), ZT_MSG_REQUEST);
	assert_int_equal(zt_dns_ops.first_kind((const uint8_t *)AANS_1, L(AANS_1)), ZT_MSG_RESPONSE);
	assert_int_equal(zt_dns_ops.first_kind((const uint8_t *)TCPMULTI_0, L(TCPMULTI_0)), ZT_MSG_REQUEST);
	assert_int_equal(zt_dns_ops.first_kind((const uint8_t *)SRV_1, L(SRV_1)), ZT_MSG_RESPONSE);
	assert_int_equal(zt_dns_ops.first_kind((const uint8_t *)"GET / HTTP/1.1\r\n", 16), 0);
}

/* ---- UDP: one datagram, one message ---------------------------------- */

/* Feeds datagrams as the session does for UDP (no TCP seq), each at the
 * guard page; caplen[i] < len cuts the capture. */
struct dgram {
	uint8_t dir;
	const char *data;
	size_t len, caplen; /* caplen 0: all */
};

static void run_udp(const struct dgram *d, size_t n, struct ph_msgs *out)
{
	void *s = calloc(1, zt_dns_ops.state_size);

	assert_non_null(s);
	zt_dns_ops.init(s);
	out->n = 0;
	for (size_t i = 0; i < n; i++) {
		size_t cap = d[i].caplen ? d[i].caplen : d[i].len;
		struct zt_seg seg = {.data = ph_at_guard(d[i].data, cap),
				     .caplen = (uint32_t)cap,
				     .len = d[i].len,
				     .enter_ns = ph_enter_ns(i),
				     .exit_ns = ph_exit_ns(i),
				     .tid = ph_tid(d[i].dir),
				     .dir = d[i].dir};
		zt_dns_ops.feed(s, &seg, ph_collect, out);
	}
	zt_dns_ops.finish(s, ph_exit_ns(n), ph_collect, out);
	free(s);
}

static void test_udp_datagrams(void **st)
{
	/* deepflow a-and-ns: two exchanges, answers in order */
	static const struct dgram d[] = {
	    {ZT_DIR_EGRESS, AANS_0, L(AANS_0), 0},
	    {ZT_DIR_EGRESS, AANS_2, L(AANS_2), 0},
	    {ZT_DIR_INGRESS, AANS_3, L(AANS_3), 0},
	    {ZT_DIR_INGRESS, AANS_1, L(AANS_1), 0},
	};
	static struct ph_msgs out;

	(void)st;
	run_udp(d, 4, &out);
	assert_int_equal(out.n, 4);
	const struct zt_msg *q1 = &out.m[0], *q2 = &out.m[1], *a2 = &out.m[2], *a1 = &out.m[3];
	assert_int_equal(q1->kind, ZT_MSG_REQUEST);
	assert_int_equal(q1->pair, ZT_PAIR_KEY);
	assert_int_equal(q1->key, 0x3199);
	assert_string_equal(q1->request_type, "A");
	assert_string_equal(q1->request_resource, "aa.bb.cc.ddd.eee.fff.zqytest.com");
	assert_int_equal(q1->bytes, 50);
	assert_false(q1->has_seq);
	assert_int_equal(q1->start_ns, ph_enter_ns(0));
	assert_int_equal(q2->key, 0x1cf4);
	assert_string_equal(q2->request_type, "AAAA");
	assert_int_equal(a2->kind, ZT_MSG_RESPONSE);
	assert_int_equal(a2->key, 0x1cf4);
	assert_int_equal(a2->status, ZT_RS_OK);
	assert_string_equal(attr(a2, "dns.answers"), "0");
	assert_null(attr(a2, "dns.answer"));
	assert_int_equal(a1->key, 0x3199);
	assert_true(a1->flags & ZT_MF_HAS_CODE);
	assert_int_equal(a1->response_code, 0);
	assert_string_equal(a1->response_exception, "");
	assert_string_equal(attr(a1, "dns.answer"), "10.50.71.5");
	assert_int_equal(a1->bytes, 99);
	assert_int_equal(a1->start_ns, ph_exit_ns(3)); /* ingress: the read's exit */
	for (size_t i = 0; i < 4; i++)
		assert_false(out.m[i].flags & ZT_MF_TRUNCATED);
}

/* A datagram captured short: every cut still emits its message, marked
 * truncated, with what the prefix holds; below 4 bytes nothing. */
static void test_udp_truncated(void **st)
{
	static struct ph_msgs out;

	(void)st;
	for (size_t k = 1; k <= L(DNSMASQ_A); k++) {
		struct dgram d = {ZT_DIR_INGRESS, DNSMASQ_A, L(DNSMASQ_A), k};
		run_udp(&d, 1, &out);
		if (k < 4) {
			assert_int_equal(out.n, 0);
			continue;
		}
		assert_int_equal(out.n, 1);
		const struct zt_msg *m = &out.m[0];
		assert_int_equal(m->kind, ZT_MSG_RESPONSE);
		assert_int_equal(m->key, 0xd04b);
		assert_int_equal(m->bytes, L(DNSMASQ_A));
		assert_int_equal(!!(m->flags & ZT_MF_TRUNCATED), k < L(DNSMASQ_A));
		assert_int_equal(m->response_code, 0);
		/* the question is whole from byte 29 on */
		assert_string_equal(m->request_resource, k >= 29 ? "svc.zt.test" : "");
		if (k >= 12 + 17 + 16)
			assert_string_equal(attr(m, "dns.answer"), "10.9.8.7");
	}
}

/* NXDOMAIN, SERVFAIL, REFUSED, the TC bit and an EDNS extended RCODE. */
static void test_udp_codes(void **st)
{
	static struct ph_msgs out;
	char m[64];
	const struct {
		uint8_t f2, f3; /* flags */
		uint8_t ext;	/* OPT extended rcode */
		int code;
		const char *exc;
		uint8_t status;
		bool tc;
	} cases[] = {
	    {0x81, 0x83, 0, 3, "NXDOMAIN", ZT_RS_CLIENT_ERROR, false},
	    {0x81, 0x82, 0, 2, "SERVFAIL", ZT_RS_SERVER_ERROR, false},
	    {0x81, 0x85, 0, 5, "REFUSED", ZT_RS_CLIENT_ERROR, false},
	    {0x83, 0x80, 0, 0, "", ZT_RS_OK, true},
	    {0x81, 0x80, 1, 16, "BADVERS", ZT_RS_CLIENT_ERROR, false},
	};

	(void)st;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(m, DIG_Q, L(DIG_Q));
		m[2] = (char)cases[i].f2;
		m[3] = (char)cases[i].f3;
		m[L(DIG_Q) - 6] = (char)cases[i].ext; /* OPT TTL: ext rcode */
		struct dgram d = {ZT_DIR_INGRESS, m, L(DIG_Q), 0};
		run_udp(&d, 1, &out);
		assert_int_equal(out.n, 1);
		assert_int_equal(out.m[0].response_code, cases[i].code);
		assert_string_equal(out.m[0].response_exception, cases[i].exc);
		assert_int_equal(out.m[0].status, cases[i].status);
		if (cases[i].tc)
			assert_string_equal(attr(&out.m[0], "dns.tc"), "true");
		else
			assert_null(attr(&out.m[0], "dns.tc"));
	}
}

/* A FORMERR answer without its question (QDCOUNT 0) still answers its id. */
static void test_udp_formerr_no_question(void **st)
{
	static struct ph_msgs out;
	static const struct dgram d[] = {
	    {ZT_DIR_EGRESS, AANS_0, L(AANS_0), 0},
	    {ZT_DIR_INGRESS, "\x31\x99\x81\x81\x00\x00\x00\x00\x00\x00\x00\x00", 12, 0},
	    /* not an error, no question: not a DNS answer we take */
	    {ZT_DIR_INGRESS, "\x31\x99\x81\x80\x00\x00\x00\x00\x00\x00\x00\x00", 12, 0},
	};

	(void)st;
	run_udp(d, 3, &out);
	assert_int_equal(out.n, 2);
	assert_int_equal(out.m[1].kind, ZT_MSG_RESPONSE);
	assert_int_equal(out.m[1].key, 0x3199);
	assert_int_equal(out.m[1].response_code, 1);
	assert_string_equal(out.m[1].response_exception, "FORMERR");
	assert_int_equal(out.m[1].status, ZT_RS_CLIENT_ERROR);
}

/* Not DNS on a DNS peer (a probe, garbage): skipped, no message. */
static void test_udp_garbage(void **st)
{
	static struct ph_msgs out;
	static const struct dgram d[] = {
	    {ZT_DIR_EGRESS, "GET / HTTP/1.1\r\n\r\n", 18, 0},
	    {ZT_DIR_EGRESS, "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01", 18,
	     0},
	    {ZT_DIR_EGRESS, AANS_0, L(AANS_0), 0},
	};

	(void)st;
	run_udp(d, 3, &out);
	assert_int_equal(out.n, 1);
	assert_int_equal(out.m[0].key, 0x3199);
}

/* ---- TCP: the length prefix on every split ---------------------------- */

static void check_tcp_multi(const struct ph_msgs *ref)
{
	/* two queries in one segment (A and AAAA), answers apart */
	assert_int_equal(ref->n, 4);
	assert_int_equal(ref->m[0].kind, ZT_MSG_REQUEST);
	assert_int_equal(ref->m[0].key, 59441);
	assert_string_equal(ref->m[0].request_type, "A");
	assert_string_equal(ref->m[0].request_resource, "details.deepflow-ebpf-istio-demo.svc.cluster.local");
	assert_int_equal(ref->m[0].bytes, 70);
	assert_int_equal(ref->m[0].seq, 1000);
	assert_int_equal(ref->m[1].key, 22841);
	assert_string_equal(ref->m[1].request_type, "AAAA");
	assert_int_equal(ref->m[1].seq, 1070); /* the second message's prefix */
	assert_int_equal(ref->m[1].start_ns, ph_enter_ns(0));
	assert_int_equal(ref->m[2].kind, ZT_MSG_RESPONSE);
	assert_int_equal(ref->m[2].key, 59441);
	assert_string_equal(attr(&ref->m[2], "dns.answer"), "192.168.59.22");
	assert_int_equal(ref->m[3].key, 22841);
	assert_string_equal(attr(&ref->m[3], "dns.answers"), "0");
	for (size_t i = 0; i < 4; i++)
		assert_false(ref->m[i].flags & ZT_MF_TRUNCATED);
}

static void test_tcp_splits(void **st)
{
	static struct ph_msgs ref;
	const struct ph_chunk multi[] = {
	    {ZT_DIR_EGRESS, TCPMULTI_0, L(TCPMULTI_0), 0, false},
	    {ZT_DIR_INGRESS, TCPMULTI_1, L(TCPMULTI_1), 0, false},
	    {ZT_DIR_INGRESS, TCPMULTI_2, L(TCPMULTI_2), 0, false},
	};
	const struct ph_chunk nxd[] = {
	    {ZT_DIR_EGRESS, NXD_0, L(NXD_0), 0, false}, {ZT_DIR_INGRESS, NXD_1, L(NXD_1), 0, false},
	    {ZT_DIR_EGRESS, NXD_2, L(NXD_2), 0, false}, {ZT_DIR_INGRESS, NXD_3, L(NXD_3), 0, false},
	    {ZT_DIR_EGRESS, NXD_4, L(NXD_4), 0, false}, {ZT_DIR_INGRESS, NXD_5, L(NXD_5), 0, false},
	};
	/* the two answers in one read, and a query whose prefix and body
	 * travel apart */
	const struct ph_chunk joined[] = {
	    {ZT_DIR_EGRESS, TCPMULTI_0, 2, 0, false},
	    {ZT_DIR_EGRESS, TCPMULTI_0 + 2, L(TCPMULTI_0) - 2, 0, false},
	    {ZT_DIR_INGRESS, TCPMULTI_1 TCPMULTI_2, L(TCPMULTI_1) + L(TCPMULTI_2), 0, false},
	};

	(void)st;
	ph_check_splits(&zt_dns_ops, multi, 3, true, NULL, &ref);
	check_tcp_multi(&ref);
	ph_check_splits(&zt_dns_ops, joined, 3, true, NULL, &ref);
	assert_int_equal(ref.n, 4);
	assert_int_equal(ref.m[2].key, 59441);
	assert_int_equal(ref.m[3].key, 22841);
	ph_check_splits(&zt_dns_ops, nxd, 6, true, NULL, &ref);
	assert_int_equal(ref.n, 6);
	assert_int_equal(ref.m[1].response_code, 3);
	assert_string_equal(ref.m[1].response_exception, "NXDOMAIN");
	assert_int_equal(ref.m[1].status, ZT_RS_CLIENT_ERROR);
	assert_string_equal(ref.m[2].request_resource, "dockerauth-ee-vpc.cn-shenzhen.aliyuncs.com");
	assert_string_equal(attr(&ref.m[3], "dns.answer"), "100.103.26.52");
	assert_string_equal(ref.m[4].request_type, "AAAA");
	assert_int_equal(ref.m[5].response_code, 3);
}

/* A gap inside a message keeps the framing (its length is known): the
 * message is truncated, the next one parses. A gap that swallows the next
 * prefix loses sync until a segment starts with a message again. */
static void test_tcp_gaps(void **st)
{
	static struct ph_msgs out;

	(void)st;
	/* the first answer captured only 20 bytes, the rest a gap */
	const struct ph_chunk cut[] = {
	    {ZT_DIR_EGRESS, TCPMULTI_0, L(TCPMULTI_0), 0, false},
	    {ZT_DIR_INGRESS, TCPMULTI_1, 20, L(TCPMULTI_1) - 20, false},
	    {ZT_DIR_INGRESS, TCPMULTI_2, L(TCPMULTI_2), 0, false},
	};
	ph_check_splits(&zt_dns_ops, cut, 3, true, NULL, &out);
	assert_int_equal(out.n, 4);
	assert_int_equal(out.m[2].key, 59441);
	assert_true(out.m[2].flags & ZT_MF_TRUNCATED);
	assert_int_equal(out.m[2].bytes, L(TCPMULTI_1));
	assert_string_equal(out.m[2].request_resource, "");
	assert_false(out.m[3].flags & ZT_MF_TRUNCATED);
	assert_int_equal(out.m[3].key, 22841);

	/* a gap inside a message whose rest arrives captured in the next
	 * read: the later bytes do not join the captured prefix */
	const struct ph_chunk mid[] = {
	    {ZT_DIR_INGRESS, SRV_1, 100, 60, false},
	    {ZT_DIR_INGRESS, SRV_1 + 160, L(SRV_1) - 160, 0, false},
	    {ZT_DIR_INGRESS, NXD_1, L(NXD_1), 0, false},
	};
	ph_check_splits(&zt_dns_ops, mid, 3, true, NULL, &out);
	assert_int_equal(out.n, 2);
	assert_int_equal(out.m[0].key, 0xc290);
	assert_true(out.m[0].flags & ZT_MF_TRUNCATED);
	assert_int_equal(out.m[0].bytes, L(SRV_1));
	assert_string_equal(out.m[0].request_resource,
			    "_port0._tcp.deepflow-byconity-server.deepflow.svc.cluster.local");
	assert_int_equal(out.m[0].end_ns, ph_exit_ns(1));
	assert_int_equal(out.m[1].key, 0x680c);
	/* the A record of this answer lies past the gap: not reported from
	 * bytes that were never captured in place */
	const struct ph_chunk mid2[] = {
	    {ZT_DIR_INGRESS, TCPMULTI_1, 90, 10, false},
	    {ZT_DIR_INGRESS, TCPMULTI_1 + 100, L(TCPMULTI_1) - 100, 0, false},
	};
	ph_check_splits(&zt_dns_ops, mid2, 2, true, NULL, &out);
	assert_int_equal(out.n, 1);
	assert_true(out.m[0].flags & ZT_MF_TRUNCATED);
	assert_null(attr(&out.m[0], "dns.answer"));

	/* both answers in one read, captured 20 bytes: the second prefix is
	 * in the gap; the next read starts a message and is taken */
	const struct ph_chunk lost[] = {
	    {ZT_DIR_INGRESS, TCPMULTI_1 TCPMULTI_2, 20, L(TCPMULTI_1) + L(TCPMULTI_2) - 20, false},
	    {ZT_DIR_INGRESS, SRV_1, L(SRV_1), 0, false},
	};
	ph_run(&zt_dns_ops, lost, 2, &(struct ph_feed){.cut = PH_WHOLE, .finish = true}, &out);
	assert_int_equal(out.n, 2);
	assert_true(out.m[0].flags & ZT_MF_TRUNCATED);
	assert_int_equal(out.m[1].key, 0xc290);
	assert_false(out.m[1].flags & ZT_MF_TRUNCATED);

	/* a length below the header size: sync lost, garbage after it in the
	 * same segment is dropped, the next segment resyncs; a next segment
	 * that does not look like a message is dropped too */
	const struct ph_chunk bad[] = {
	    {ZT_DIR_EGRESS, "\x00\x05hello" TCPMULTI_0, 7 + L(TCPMULTI_0), 0, false},
	    {ZT_DIR_EGRESS, "\x00\x20GET / HTTP/1.1\r\nHost: xxxxxxxxxxxxx", 34, 0, false},
	    {ZT_DIR_EGRESS, NXD_0, L(NXD_0), 0, false},
	};
	ph_run(&zt_dns_ops, bad, 3, &(struct ph_feed){.cut = PH_WHOLE, .finish = true}, &out);
	assert_int_equal(out.n, 1);
	assert_int_equal(out.m[0].key, 0x680c);
}

/* dnsmasq reads the 2 length bytes in two 1-byte reads before the query:
 * the session infers on the query, so the parser's first ingress segment
 * is a bare message; it starts 2 bytes earlier on the wire. The answer is
 * written with its prefix. */
static void test_tcp_bare_first(void **st)
{
	static struct ph_msgs out;
	static const char qlen[2] = {0, (char)L(DIG_Q)}, alen[2] = {0, (char)L(DNSMASQ_A)};
	static char answer[2 + L(DNSMASQ_A)];
	memcpy(answer, alen, 2);
	memcpy(answer + 2, DNSMASQ_A, L(DNSMASQ_A));
	const struct ph_chunk c[] = {
	    {ZT_DIR_INGRESS, DIG_Q, L(DIG_Q), 0, false}, {ZT_DIR_EGRESS, answer, sizeof(answer), 0, false},
	    {ZT_DIR_INGRESS, qlen, 1, 0, false},	 {ZT_DIR_INGRESS, qlen + 1, 1, 0, false},
	    {ZT_DIR_INGRESS, DIG_Q, L(DIG_Q), 0, false},
	};

	(void)st;
	ph_run(&zt_dns_ops, c, 5, &(struct ph_feed){.cut = PH_WHOLE, .finish = true}, &out);
	assert_int_equal(out.n, 3);
	assert_int_equal(out.m[0].kind, ZT_MSG_REQUEST);
	assert_int_equal(out.m[0].key, 0xd04b);
	assert_int_equal(out.m[0].bytes, L(DIG_Q) + 2);
	assert_int_equal(out.m[0].seq, ph_seq(c, 0) - 2);
	assert_string_equal(out.m[0].request_resource, "svc.zt.test");
	assert_int_equal(out.m[1].kind, ZT_MSG_RESPONSE);
	assert_string_equal(attr(&out.m[1], "dns.answer"), "10.9.8.7");
	/* later queries: the prefix in reads of one byte each */
	assert_int_equal(out.m[2].kind, ZT_MSG_REQUEST);
	assert_int_equal(out.m[2].seq, ph_seq(c, 2));
	assert_int_equal(out.m[2].start_ns, ph_exit_ns(2));
	assert_int_equal(out.m[2].end_ns, ph_exit_ns(4));
}

/* The connection closes inside a query: it is reported, truncated. */
static void test_tcp_finish(void **st)
{
	static struct ph_msgs out;
	const struct ph_chunk c[] = {
	    {ZT_DIR_EGRESS, NXD_2, 40, 0, false},
	};

	(void)st;
	ph_run(&zt_dns_ops, c, 1, &(struct ph_feed){.cut = PH_WHOLE, .finish = false}, &out);
	assert_int_equal(out.n, 0);
	ph_run(&zt_dns_ops, c, 1, &(struct ph_feed){.cut = PH_WHOLE, .finish = true}, &out);
	assert_int_equal(out.n, 1);
	assert_true(out.m[0].flags & ZT_MF_TRUNCATED);
	assert_int_equal(out.m[0].key, 0xe822);
	assert_int_equal(out.m[0].bytes, 40);
	assert_string_equal(out.m[0].request_resource, ""); /* the name is cut */
}

/* Hostile TCP bytes: every length, any content, fed in odd cuts, with gaps;
 * nothing may read past a segment (guard page) and strings stay bounded. */
static void test_tcp_hostile(void **st)
{
	static struct ph_msgs out;
	uint8_t buf[600];
	uint32_t x = 12345;

	(void)st;
	for (int round = 0; round < 300; round++) {
		for (size_t i = 0; i < sizeof(buf); i++) {
			x ^= x << 13, x ^= x >> 17, x ^= x << 5;
			buf[i] = (uint8_t)x;
		}
		/* plant plausible prefixes and headers */
		buf[0] = 0;
		buf[1] = (uint8_t)(14 + round % 100);
		buf[4] = (uint8_t)(round & 1 ? 0x81 : 0x01);
		buf[5] = 0;
		buf[6] = 0;
		buf[7] = 1;
		const struct ph_chunk c[] = {
		    {ZT_DIR_EGRESS, buf, 1 + (size_t)round % 200, (uint64_t)(round % 3) * 7, false},
		    {ZT_DIR_INGRESS, buf + 50, 300, 0, false},
		    {ZT_DIR_EGRESS, buf + 200, 400, 0, false},
		};
		ph_run(&zt_dns_ops, c, 3, &(struct ph_feed){.cut = PH_BYTES, .finish = true}, &out);
		ph_run(&zt_dns_ops, c, 3, &(struct ph_feed){.cut = PH_WHOLE, .finish = true}, &out);
		for (size_t i = 0; i < out.n; i++)
			assert_true(strlen(out.m[i].request_resource) < sizeof(out.m[i].request_resource));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_name_length_bound),
	    cmocka_unit_test(test_name_jump_bound),
	    cmocka_unit_test(test_parse_prefixes),
	    cmocka_unit_test(test_rcode_names),
	    cmocka_unit_test(test_endpoint),
	    cmocka_unit_test(test_infer),
	    cmocka_unit_test(test_udp_datagrams),
	    cmocka_unit_test(test_udp_truncated),
	    cmocka_unit_test(test_udp_codes),
	    cmocka_unit_test(test_udp_formerr_no_question),
	    cmocka_unit_test(test_udp_garbage),
	    cmocka_unit_test(test_tcp_splits),
	    cmocka_unit_test(test_tcp_gaps),
	    cmocka_unit_test(test_tcp_bare_first),
	    cmocka_unit_test(test_tcp_finish),
	    cmocka_unit_test(test_tcp_hostile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
