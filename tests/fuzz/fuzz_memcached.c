/* SPDX-License-Identifier: MIT */
/* fuzz_memcached.c - libFuzzer target for the Memcached parser
 * (src/proto/memcached.c): the Redis target's driver (input format in
 * fuzz_redis.c) over zt_memcached_ops. Seeds in tests/data/fuzz/memcached/. */
#include "proto/proto.h"
extern const struct zt_proto_ops zt_memcached_ops;
#define OPS zt_memcached_ops
#include "fuzz_redis.c"
