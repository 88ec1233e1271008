/* SPDX-License-Identifier: MIT */
/*
 * l7.h - application protocol ids and their names, at the bottom of the
 * layers: the span record names its protocol, parsers (proto/) register
 * behind an id, stores and the CLI print and parse the names. A new protocol
 * is one line in ZT_L7_LIST (and a parser registered in proto/proto.c).
 */
#ifndef ZT_MODEL_L7_H
#define ZT_MODEL_L7_H

/* X(id suffix, stored name). Ids are not stored (names are): the order may
 * change. */
#define ZT_L7_LIST(X)                                                                                        \
	X(HTTP1, "HTTP")                                                                                     \
	X(MYSQL, "MySQL")                                                                                    \
	X(POSTGRESQL, "PostgreSQL")                                                                          \
	X(REDIS, "Redis")                                                                                    \
	X(MEMCACHED, "Memcached")                                                                            \
	X(MQTT, "MQTT")                                                                                      \
	X(AMQP, "AMQP")                                                                                      \
	X(KAFKA, "Kafka")                                                                                    \
	X(DNS, "DNS")                                                                                        \
	X(MONGODB, "MongoDB")                                                                                \
	X(HTTP2, "HTTP2")                                                                                    \
	X(GRPC, "gRPC")

enum zt_l7 {
	ZT_L7_UNKNOWN = 0,
#define X(id, name) ZT_L7_##id,
	ZT_L7_LIST(X)
#undef X
	ZT_L7__COUNT,
};

/* "HTTP"...; "unknown" for ZT_L7_UNKNOWN and out-of-range ids. */
const char *zt_l7_name(unsigned id);
/* Case-insensitive name -> id; ZT_L7_UNKNOWN when no protocol has it. */
enum zt_l7 zt_l7_from_name(const char *name);

#endif /* ZT_MODEL_L7_H */
