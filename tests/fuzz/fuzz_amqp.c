/* SPDX-License-Identifier: MIT */
/* fuzz_amqp.c - libFuzzer target for the AMQP 0-9-1 parser: the MQTT
 * target's driver (input format in fuzz_mqtt.c) over zt_amqp_ops. Seeds in
 * tests/data/fuzz/amqp/. */
#define FUZZ_OPS zt_amqp_ops
#include "fuzz_mqtt.c"
