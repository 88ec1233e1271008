/* SPDX-License-Identifier: MIT */
/*
 * otlp_map.c - OTLP span -> struct zt_span (see otlp.h for the rules).
 * Semantic attributes are read in both their old (http.method, net.peer.ip,
 * db.statement) and their current names (http.request.method,
 * network.peer.address, db.query.text): SDKs in the field send either.
 */
#include "server/otlp_map.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

/* Copies a hostile string as valid UTF-8 without control bytes (invalid
 * bytes and controls become '?'), cut at a character boundary to fit. */
static void copy_text(char *dst, size_t dstsz, const char *s, size_t n)
{
	size_t o = 0, i = 0;

	while (i < n && o + 1 < dstsz) {
		unsigned char c = (unsigned char)s[i];
		size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
		bool ok = len > 0 && i + len <= n;
		for (size_t k = 1; ok && k < len; k++)
			ok = ((unsigned char)s[i + k] & 0xc0) == 0x80;
		/* overlong, surrogate and out-of-range forms jansson refuses */
		if (ok && len == 2 && c < 0xc2)
			ok = false;
		if (ok && len == 3) {
			unsigned c1 = (unsigned char)s[i + 1];
			if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 >= 0xa0))
				ok = false;
		}
		if (ok && len == 4) {
			unsigned c1 = (unsigned char)s[i + 1];
			if ((c == 0xf0 && c1 < 0x90) || (c == 0xf4 && c1 >= 0x90) || c > 0xf4)
				ok = false;
		}
		if (!ok || (len == 1 && (c < 0x20 || c == 0x7f))) {
			dst[o++] = '?';
			i++;
			continue;
		}
		if (o + len >= dstsz)
			break;
		memcpy(dst + o, s + i, len);
		o += len;
		i += len;
	}
	dst[o] = '\0';
}

static bool key_is(const char *k, size_t n, const char *want)
{
	return strlen(want) == n && memcmp(k, want, n) == 0;
}

static bool key_starts(const char *k, size_t n, const char *prefix)
{
	size_t pn = strlen(prefix);
	return n >= pn && memcmp(k, prefix, pn) == 0;
}

/* Text of a string or integer value (OTLP/JSON senders put ports and
 * codes in either); false for other types. */
static bool val_text(const struct otlp_val *v, char *buf, size_t bufsz)
{
	if (v->type == OTLP_V_STR)
		copy_text(buf, bufsz, v->s, v->n);
	else if (v->type == OTLP_V_INT)
		snprintf(buf, bufsz, "%lld", (long long)v->i);
	else
		return false;
	return true;
}

/* An integer from an int, a whole double or a decimal string; -1 if none
 * or outside [0, max]. */
static int val_int(const struct otlp_val *v, int max)
{
	long long x = -1;

	if (v->type == OTLP_V_INT)
		x = v->i;
	else if (v->type == OTLP_V_DOUBLE && v->d >= 0 && v->d <= max && v->d == (double)(long long)v->d)
		x = (long long)v->d;
	else if (v->type == OTLP_V_STR && v->n > 0 && v->n < 12) {
		x = 0;
		for (size_t i = 0; i < v->n; i++) {
			if (v->s[i] < '0' || v->s[i] > '9')
				return -1;
			x = x * 10 + (v->s[i] - '0');
		}
	}
	return x >= 0 && x <= max ? (int)x : -1;
}

void otlp_res_init(struct otlp_res *r, const char *host)
{
	memset(r, 0, sizeof(*r));
	if (host)
		snprintf(r->host, sizeof(r->host), "%s", host);
}

void otlp_res_attr(struct otlp_res *r, const char *key, size_t klen, const struct otlp_val *v)
{
	int pid;

	if (key_is(key, klen, "service.name"))
		val_text(v, r->service, sizeof(r->service));
	else if (key_is(key, klen, "host.name"))
		val_text(v, r->host, sizeof(r->host));
	else if (key_is(key, klen, "process.pid") && (pid = val_int(v, 0x7fffffff)) > 0)
		r->pid = (uint32_t)pid;
}

void otlp_span_begin(struct otlp_sb *b, const struct otlp_res *r, const char *scope, size_t scope_len)
{
	struct zt_span *s = &b->s;

	zt_span_clear(s);
	b->kind = 0;
	b->status_code = 0;
	b->http_code = b->grpc_code = -1;
	b->http = b->bad = false;
	b->bad_why[0] = b->path[0] = b->query[0] = b->peer_addr[0] = b->host_addr[0] = '\0';
	b->peer_port = b->host_port = -1;
	b->nattrs = 0;
	s->tap_side = ZT_TAP_APP;
	memcpy(s->process, r->service, sizeof(s->process));
	memcpy(s->host, r->host, sizeof(s->host));
	s->pid = r->pid;
	if (scope && scope_len) {
		char buf[ZT_ATTR_VAL_LEN];
		copy_text(buf, sizeof(buf), scope, scope_len);
		zt_attrs_add(&s->attributes, "otel.scope", buf, strlen(buf));
	}
}

void otlp_span_bad(struct otlp_sb *b, const char *why)
{
	if (!b->bad)
		snprintf(b->bad_why, sizeof(b->bad_why), "%s", why);
	b->bad = true;
}

static bool all_zero(const char *hex)
{
	for (; *hex; hex++)
		if (*hex != '0')
			return false;
	return true;
}

static void hex_of(char *out, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = "0123456789abcdef"[p[i] >> 4];
		out[2 * i + 1] = "0123456789abcdef"[p[i] & 15];
	}
	out[2 * n] = '\0';
}

void otlp_span_ids_raw(struct otlp_sb *b, const uint8_t *tid, size_t tlen, const uint8_t *sid, size_t slen,
		       const uint8_t *pid, size_t plen)
{
	struct zt_span *s = &b->s;

	if (tlen != 16 || slen != 8 || (plen != 0 && plen != 8)) {
		otlp_span_bad(b, "trace id must be 16 bytes, span ids 8");
		return;
	}
	hex_of(s->trace_id, tid, 16);
	hex_of(s->span_id, sid, 8);
	if (plen)
		hex_of(s->parent_span_id, pid, 8);
}

/* Lowercase hex of exactly want digits into out; false otherwise. */
static bool hex_copy(char *out, const char *in, size_t n, size_t want)
{
	if (n != want)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
		out[i] = c;
	}
	out[n] = '\0';
	return true;
}

void otlp_span_ids_hex(struct otlp_sb *b, const char *tid, size_t tlen, const char *sid, size_t slen,
		       const char *pid, size_t plen)
{
	struct zt_span *s = &b->s;

	if (!hex_copy(s->trace_id, tid, tlen, 32) || !hex_copy(s->span_id, sid, slen, 16) ||
	    (plen && !hex_copy(s->parent_span_id, pid, plen, 16))) {
		s->trace_id[0] = s->span_id[0] = s->parent_span_id[0] = '\0';
		otlp_span_bad(b, "trace id must be 32 hex digits, span ids 16");
	}
}

void otlp_span_set_name(struct otlp_sb *b, const char *name, size_t n)
{
	copy_text(b->s.endpoint, sizeof(b->s.endpoint), name, n);
}

void otlp_span_set_times(struct otlp_sb *b, uint64_t start_ns, uint64_t end_ns)
{
	b->s.start_ns = start_ns;
	b->s.end_ns = end_ns;
}

void otlp_span_set_status(struct otlp_sb *b, int code, const char *msg, size_t n)
{
	b->status_code = code;
	if (msg && n)
		copy_text(b->s.response_exception, sizeof(b->s.response_exception), msg, n);
}

static enum zt_l7 l7_of_system(const struct otlp_val *v)
{
	static const struct {
		const char *name;
		enum zt_l7 l7;
	} sys[] = {
	    {"mysql", ZT_L7_MYSQL},   {"mariadb", ZT_L7_MYSQL},   {"postgresql", ZT_L7_POSTGRESQL},
	    {"redis", ZT_L7_REDIS},   {"memcached", ZT_L7_MEMCACHED}, {"mongodb", ZT_L7_MONGODB},
	    {"kafka", ZT_L7_KAFKA},   {"rabbitmq", ZT_L7_AMQP},   {"mqtt", ZT_L7_MQTT},
	};

	if (v->type != OTLP_V_STR)
		return ZT_L7_UNKNOWN;
	for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]); i++)
		if (key_is(v->s, v->n, sys[i].name))
			return sys[i].l7;
	return ZT_L7_UNKNOWN;
}

#define SET_TEXT(field) val_text(v, s->field, sizeof(s->field))

void otlp_span_attr(struct otlp_sb *b, const char *k, size_t n, const struct otlp_val *v)
{
	struct zt_span *s = &b->s;
	int x;

	if (++b->nattrs > ZT_OTLP_MAX_ATTRS)
		return;
	if (key_starts(k, n, "http.") || key_starts(k, n, "url.")) {
		b->http = true;
		if (key_is(k, n, "http.method") || key_is(k, n, "http.request.method"))
			SET_TEXT(request_type);
		else if (key_is(k, n, "http.status_code") || key_is(k, n, "http.response.status_code"))
			b->http_code = val_int(v, 999);
		else if (key_is(k, n, "http.target") || key_is(k, n, "url.path"))
			val_text(v, b->path, sizeof(b->path));
		else if (key_is(k, n, "url.query"))
			val_text(v, b->query, sizeof(b->query));
		else if ((key_is(k, n, "http.url") || key_is(k, n, "url.full")) && !b->path[0])
			val_text(v, b->path, sizeof(b->path));
		else if (key_is(k, n, "http.host"))
			SET_TEXT(request_domain);
		else if (key_is(k, n, "http.flavor"))
			SET_TEXT(version);
		else if (key_is(k, n, "http.request_content_length") && (x = val_int(v, 0x7fffffff)) >= 0)
			s->req_bytes = (uint64_t)x;
		else if (key_is(k, n, "http.response_content_length") && (x = val_int(v, 0x7fffffff)) >= 0)
			s->resp_bytes = (uint64_t)x;
	} else if (key_starts(k, n, "rpc.")) {
		if (key_is(k, n, "rpc.method"))
			SET_TEXT(request_type);
		else if (key_is(k, n, "rpc.service"))
			SET_TEXT(request_resource);
		else if (key_is(k, n, "rpc.grpc.status_code"))
			b->grpc_code = val_int(v, 999);
	} else if (key_starts(k, n, "db.")) {
		if (key_is(k, n, "db.system") || key_is(k, n, "db.system.name"))
			s->l7_protocol = l7_of_system(v);
		else if (key_is(k, n, "db.statement") || key_is(k, n, "db.query.text"))
			SET_TEXT(request_resource);
		else if (key_is(k, n, "db.operation") || key_is(k, n, "db.operation.name"))
			SET_TEXT(request_type);
		else if (key_is(k, n, "db.name") || key_is(k, n, "db.namespace"))
			SET_TEXT(request_domain);
	} else if (key_starts(k, n, "messaging.")) {
		if (key_is(k, n, "messaging.system"))
			s->l7_protocol = l7_of_system(v);
		else if (key_is(k, n, "messaging.destination") || key_is(k, n, "messaging.destination.name"))
			SET_TEXT(request_resource);
	} else if (key_is(k, n, "net.peer.ip") || key_is(k, n, "net.sock.peer.addr") ||
		   key_is(k, n, "network.peer.address") || key_is(k, n, "client.address")) {
		val_text(v, b->peer_addr, sizeof(b->peer_addr));
	} else if (key_is(k, n, "net.peer.port") || key_is(k, n, "net.sock.peer.port") ||
		   key_is(k, n, "network.peer.port") || key_is(k, n, "client.port")) {
		b->peer_port = val_int(v, 65535);
	} else if (key_is(k, n, "net.host.ip") || key_is(k, n, "net.sock.host.addr") ||
		   key_is(k, n, "network.local.address")) {
		val_text(v, b->host_addr, sizeof(b->host_addr));
	} else if (key_is(k, n, "net.host.port") || key_is(k, n, "network.local.port")) {
		b->host_port = val_int(v, 65535);
	} else if (key_is(k, n, "net.host.name") || key_is(k, n, "server.address") ||
		   key_is(k, n, "net.peer.name")) {
		if (!s->request_domain[0])
			SET_TEXT(request_domain);
	} else if (key_is(k, n, "network.protocol.version")) {
		SET_TEXT(version);
	}
}

static bool parse_ip(const char *t, uint8_t out[16])
{
	struct in_addr a4;

	if (!t[0])
		return false;
	if (inet_pton(AF_INET, t, &a4) == 1) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &a4, 4);
		return true;
	}
	return inet_pton(AF_INET6, t, out) == 1;
}

static const char *kind_name(int k)
{
	static const char *names[] = {"unspecified", "internal", "server", "client", "producer", "consumer"};
	return k >= 0 && k <= 5 ? names[k] : "unspecified";
}

/* The status class: OTLP's own status first, then the protocol's code. */
static uint8_t status_class(const struct otlp_sb *b)
{
	if (b->status_code == 2)
		return b->http_code >= 400 && b->http_code < 500 ? ZT_RS_CLIENT_ERROR : ZT_RS_SERVER_ERROR;
	if (b->status_code == 1)
		return ZT_RS_OK;
	if (b->http_code >= 500)
		return ZT_RS_SERVER_ERROR;
	if (b->http_code >= 400)
		return ZT_RS_CLIENT_ERROR;
	if (b->grpc_code > 0)
		return ZT_RS_SERVER_ERROR;
	/* UNSET: the SDKs' default for a span that ended without error */
	return ZT_RS_OK;
}

void otlp_span_end(struct otlp_sb *b, zt_otlp_emit_fn emit, void *ctx, struct zt_otlp_result *r)
{
	struct zt_span *s = &b->s;
	bool server = b->kind == 2 || b->kind == 5;

	if (!b->bad && (!s->trace_id[0] || !s->span_id[0]))
		otlp_span_bad(b, "span without trace id or span id");
	if (!b->bad && (all_zero(s->trace_id) || all_zero(s->span_id)))
		otlp_span_bad(b, "all-zero trace id or span id");
	if (!b->bad && (s->end_ns < s->start_ns || !s->start_ns))
		otlp_span_bad(b, "span ends before it starts, or has no start time");
	if (b->bad) {
		otlp_reject(r, b->bad_why);
		return;
	}
	if (s->parent_span_id[0] && all_zero(s->parent_span_id))
		s->parent_span_id[0] = '\0'; /* some SDKs send zeros for a root */
	memcpy(s->span_uid, s->span_id, sizeof(s->span_uid));
	s->duration_ns = s->end_ns - s->start_ns;
	if (b->http && s->l7_protocol == ZT_L7_UNKNOWN)
		s->l7_protocol = ZT_L7_HTTP1;
	if (b->http && b->path[0] && !s->request_resource[0]) {
		char tmp[2 * ZT_RESOURCE_LEN + 2];
		size_t pl = strlen(b->path), ql = strlen(b->query);
		memcpy(tmp, b->path, pl);
		if (ql && !strchr(b->path, '?')) {
			tmp[pl++] = '?';
			memcpy(tmp + pl, b->query, ql);
			pl += ql;
		}
		copy_text(s->request_resource, sizeof(s->request_resource), tmp, pl); /* cut at a character */
	}
	if (b->http_code >= 0)
		s->response_code = b->http_code;
	else if (b->grpc_code >= 0)
		s->response_code = b->grpc_code;
	s->response_status = status_class(b);
	/* the peer is the client of a server span and the server of a client span */
	uint8_t *peer_ip = server ? s->client_ip : s->server_ip, *host_ip = server ? s->server_ip : s->client_ip;
	uint16_t *peer_port = server ? &s->client_port : &s->server_port;
	uint16_t *host_port = server ? &s->server_port : &s->client_port;
	if (parse_ip(b->peer_addr, peer_ip) && b->peer_port > 0)
		*peer_port = (uint16_t)b->peer_port;
	if (parse_ip(b->host_addr, host_ip) && b->host_port > 0)
		*host_port = (uint16_t)b->host_port;
	zt_attrs_add(&s->attributes, "span.kind", kind_name(b->kind), strlen(kind_name(b->kind)));
	if (emit(ctx, s) != 0) {
		otlp_reject(r, "the span queue is full");
		r->busy++;
		return;
	}
	r->accepted++;
}

void otlp_reject(struct zt_otlp_result *r, const char *why)
{
	if (!r->rejected)
		snprintf(r->reason, sizeof(r->reason), "%s", why);
	r->rejected++;
}
