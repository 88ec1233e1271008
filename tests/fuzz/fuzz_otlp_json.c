/* SPDX-License-Identifier: MIT */
/* fuzz_otlp_json.c - libFuzzer target for OTLP/JSON ingest: the driver
 * and checks of fuzz_otlp_pb.c with Content-Type application/json.
 * Seeds in tests/data/fuzz/otlp_json/. */
#define FUZZ_CT "application/json"
#include "fuzz_otlp_pb.c"
