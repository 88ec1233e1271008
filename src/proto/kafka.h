/* SPDX-License-Identifier: MIT */
/* kafka.h - what tests need of kafka.c besides its ops. */
#ifndef ZT_PROTO_KAFKA_H
#define ZT_PROTO_KAFKA_H

/* The name of a Kafka error code (-1 UNKNOWN_SERVER_ERROR, 3
 * UNKNOWN_TOPIC_OR_PARTITION...), NULL when unknown. */
const char *zt_kafka_error_name(int code);

#endif /* ZT_PROTO_KAFKA_H */
