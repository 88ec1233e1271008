/* SPDX-License-Identifier: MIT */
/* fuzz_mongodb.c - libFuzzer target for the MongoDB parser
 * (src/proto/mongodb.c): the Kafka target's driver (input format in
 * fuzz_kafka.c) over zt_mongodb_ops. Seeds in tests/data/fuzz/mongodb/. */
#include "proto/proto.h"
extern const struct zt_proto_ops zt_mongodb_ops;
#define OPS (&zt_mongodb_ops)
#include "fuzz_kafka.c"
