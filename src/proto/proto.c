/* SPDX-License-Identifier: MIT */
#include "proto/proto.h"
#include "bpf/events.h"

#include <string.h>

extern const struct zt_proto_ops zt_http1_ops;
extern const struct zt_proto_ops zt_dns_ops;
extern const struct zt_proto_ops zt_mysql_ops;
extern const struct zt_proto_ops zt_mqtt_ops;
extern const struct zt_proto_ops zt_amqp_ops;
extern const struct zt_proto_ops zt_postgresql_ops;
extern const struct zt_proto_ops zt_redis_ops;
extern const struct zt_proto_ops zt_memcached_ops;
extern const struct zt_proto_ops zt_kafka_ops;
extern const struct zt_proto_ops zt_mongodb_ops;
extern const struct zt_proto_ops zt_h2_ops;

/* Registration table: one line per protocol. Order breaks confidence ties. */
static const struct zt_proto_ops *const builtin[] = {
	&zt_http1_ops,
	&zt_dns_ops,
	&zt_mysql_ops,
	&zt_mqtt_ops,
	&zt_amqp_ops,
	&zt_postgresql_ops,
	&zt_redis_ops,
	&zt_memcached_ops,
	&zt_kafka_ops,
	&zt_mongodb_ops,
	&zt_h2_ops,
	NULL,
};

const struct zt_proto_ops *const *zt_protocols = builtin;

/* id -> parser, rebuilt with the table: the session looks a connection's
 * parser up once per segment. */
static const struct zt_proto_ops *by_id[ZT_L7__COUNT];
static bool by_id_built;

static void index_table(void)
{
	memset(by_id, 0, sizeof(by_id));
	for (size_t i = 0; zt_protocols[i]; i++)
		if ((unsigned)zt_protocols[i]->id < ZT_L7__COUNT && !by_id[zt_protocols[i]->id])
			by_id[zt_protocols[i]->id] = zt_protocols[i];
	by_id_built = true;
}

void zt_proto_set_table(const struct zt_proto_ops *const *table)
{
	zt_protocols = table ? table : builtin;
	index_table();
}

const struct zt_proto_ops *zt_proto_by_id(enum zt_l7 id)
{
	if (!by_id_built)
		index_table();
	return (unsigned)id < ZT_L7__COUNT ? by_id[id] : NULL;
}

const struct zt_proto_ops *zt_proto_by_name(const char *name)
{
	enum zt_l7 id = zt_l7_from_name(name);

	return id == ZT_L7_UNKNOWN ? NULL : zt_proto_by_id(id);
}

const struct zt_proto_ops *zt_proto_infer(const uint8_t *buf, size_t len, const struct zt_infer_hints *h)
{
	const struct zt_proto_ops *best = NULL;
	int best_conf = 49;

	for (size_t i = 0; zt_protocols[i]; i++) {
		int c = zt_protocols[i]->infer(buf, len, h);
		if (c > best_conf) {
			best_conf = c;
			best = zt_protocols[i];
		}
	}
	return best;
}

void zt_msg_begin(struct zt_msg *m, const struct zt_seg *seg, uint64_t off)
{
	m->dir = seg->dir;
	m->start_ns = seg->dir == ZT_DIR_EGRESS ? seg->enter_ns : seg->exit_ns;
	m->end_ns = seg->exit_ns;
	m->tid_start = m->tid_end = seg->tid;
	m->has_seq = seg->has_seq;
	m->seq = seg->seq + (uint32_t)off;
	m->trace_ctx = seg->trace_ctx;
	if (seg->ctx_ambiguous)
		m->flags |= ZT_MF_CTX_AMBIGUOUS;
}

void zt_msg_reset(struct zt_msg *m)
{
	memset(m, 0, offsetof(struct zt_msg, version));
#define X(f) m->f[0] = '\0';
	ZT_MSG_STRINGS(X)
#undef X
	m->response_code = 0;
	m->attrs.n = 0;
}

void zt_msg_canon(struct zt_msg *m)
{
	unsigned n = m->attrs.n < ZT_ATTRS_MAX ? m->attrs.n : ZT_ATTRS_MAX;

#define X(f)                                                                                                 \
	do {                                                                                                 \
		size_t l_ = strnlen(m->f, sizeof(m->f));                                                      \
		memset(m->f + l_, 0, sizeof(m->f) - l_);                                                      \
	} while (0);
	ZT_MSG_STRINGS(X)
#undef X
	memset(&m->attrs.a[n], 0, (ZT_ATTRS_MAX - n) * sizeof(m->attrs.a[0]));
	for (unsigned i = 0; i < n; i++) {
		size_t k = strnlen(m->attrs.a[i].key, sizeof(m->attrs.a[i].key));
		size_t v = strnlen(m->attrs.a[i].val, sizeof(m->attrs.a[i].val));
		memset(m->attrs.a[i].key + k, 0, sizeof(m->attrs.a[i].key) - k);
		memset(m->attrs.a[i].val + v, 0, sizeof(m->attrs.a[i].val) - v);
	}
}

void zt_msg_copy(struct zt_msg *dst, const struct zt_msg *src)
{
	unsigned n = src->attrs.n < ZT_ATTRS_MAX ? src->attrs.n : ZT_ATTRS_MAX;

	memcpy(dst, src, offsetof(struct zt_msg, attrs.a) + n * sizeof(src->attrs.a[0]));
}

void zt_msg_extend(struct zt_msg *m, const struct zt_seg *seg)
{
	m->end_ns = seg->exit_ns;
	m->tid_end = seg->tid;
}

void zt_copy_str(char *dst, size_t dstsz, const char *src, size_t n)
{
	if (dstsz == 0)
		return;
	if (n > dstsz - 1)
		n = dstsz - 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	dst[n] = '\0';
}

size_t zt_proto_redact_payload(uint8_t *buf, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; zt_protocols[i]; i++)
		if (zt_protocols[i]->redact_payload)
			n += zt_protocols[i]->redact_payload(buf, len);
	return n;
}
