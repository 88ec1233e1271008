/* SPDX-License-Identifier: MIT */
#include "store/span_json.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdbool.h>

static json_t *str_or_null(const char *s)
{
	return s[0] ? json_string(s) : json_null();
}

/*
 * JSON integers are int64 in jansson. A u64 above INT64_MAX (only ids can get
 * there) is given as a decimal string: a double would silently change it.
 */
static json_t *u64_json(uint64_t v)
{
	char buf[24];

	if (v <= INT64_MAX)
		return json_integer((json_int_t)v);
	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return json_string(buf);
}

static json_t *u64_or_null(uint64_t v)
{
	return v ? u64_json(v) : json_null();
}

static json_t *ip_json(const struct zt_span *s, const uint8_t ip[16])
{
	char buf[INET6_ADDRSTRLEN];

	if (!s->family)
		return json_null();
	zt_ip_str(ip, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *flags_json(uint32_t flags)
{
	json_t *a = json_array();

	if (!a)
		return NULL;
	if (flags & ZT_SPAN_TRUNCATED)
		json_array_append_new(a, json_string("truncated"));
	if (flags & ZT_SPAN_LOST_SYNC)
		json_array_append_new(a, json_string("lost_sync"));
	if (flags & ZT_SPAN_NO_RESPONSE)
		json_array_append_new(a, json_string("no_response"));
	return a;
}

json_t *zt_span_to_json(const struct zt_span *s)
{
	bool has_seq = s->flags & ZT_SPAN_HAS_SEQ;
	const char *l4 = s->l4 == IPPROTO_TCP ? "tcp" : s->l4 == IPPROTO_UDP ? "udp" : NULL;
	json_t *o = json_object();
	int err = 0;

	if (!o)
		return NULL;
#define SET(key, val) err |= json_object_set_new(o, key, val)
	SET("span_uid", str_or_null(s->span_uid));
	SET("start_ns", u64_json(s->start_ns));
	SET("end_ns", u64_json(s->end_ns));
	SET("duration_ns", u64_json(s->duration_ns));
	SET("tap_side",
	    s->tap_side == ZT_TAP_UNKNOWN ? json_null() : json_string(zt_tap_side_name(s->tap_side)));
	SET("host", str_or_null(s->host));
	SET("netns", json_integer(s->netns));
	SET("pid", json_integer(s->pid));
	SET("tid_req", json_integer(s->tid_req));
	SET("tid_resp", json_integer(s->tid_resp));
	SET("process", str_or_null(s->process));
	SET("l7_protocol",
	    s->l7_protocol == ZT_L7_UNKNOWN ? json_null() : json_string(zt_l7_name(s->l7_protocol)));
	SET("version", str_or_null(s->version));
	SET("request_type", str_or_null(s->request_type));
	SET("request_domain", str_or_null(s->request_domain));
	SET("request_resource", str_or_null(s->request_resource));
	SET("endpoint", str_or_null(s->endpoint));
	SET("response_status", json_string(zt_resp_status_name(s->response_status)));
	SET("response_code", s->response_code < 0 ? json_null() : json_integer(s->response_code));
	SET("response_exception", str_or_null(s->response_exception));
	SET("req_bytes", u64_json(s->req_bytes));
	SET("resp_bytes", u64_json(s->resp_bytes));
	SET("client_ip", ip_json(s, s->client_ip));
	SET("client_port", s->client_port ? json_integer(s->client_port) : json_null());
	SET("server_ip", ip_json(s, s->server_ip));
	SET("server_port", s->server_port ? json_integer(s->server_port) : json_null());
	SET("l4_protocol", l4 ? json_string(l4) : json_null());
	SET("req_tcp_seq", has_seq ? json_integer(s->req_tcp_seq) : json_null());
	SET("resp_tcp_seq", has_seq ? json_integer(s->resp_tcp_seq) : json_null());
	SET("syscall_trace_id_req", u64_or_null(s->syscall_trace_id_req));
	SET("syscall_trace_id_resp", u64_or_null(s->syscall_trace_id_resp));
	SET("x_request_id", str_or_null(s->x_request_id));
	SET("x_request_id_resp", str_or_null(s->x_request_id_resp));
	SET("trace_id", str_or_null(s->trace_id));
	SET("span_id", str_or_null(s->span_id));
	SET("parent_span_id", str_or_null(s->parent_span_id));
	SET("is_tls", json_boolean(s->is_tls));
	SET("flags", flags_json(s->flags));
#undef SET
	/* json_object_set_new fails (and frees the value) when a value is NULL. */
	if (err) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int zt_span_print_json(FILE *f, const struct zt_span *s)
{
	json_t *o = zt_span_to_json(s);
	int ret = 0;

	if (!o)
		return -ENOMEM;
	if (json_dumpf(o, f, JSON_COMPACT | JSON_PRESERVE_ORDER) < 0 || fputc('\n', f) == EOF)
		ret = -EIO;
	json_decref(o);
	return ret;
}
