/* SPDX-License-Identifier: MIT */
/*
 * event.h - validation of raw kernel event records (bpf/events.h), the
 * one check every source (live ring, recording, pcap later) passes records
 * through before the pipeline trusts their sizes.
 */
#ifndef ZT_MODEL_EVENT_H
#define ZT_MODEL_EVENT_H

#include <stddef.h>

#include "bpf/events.h"

/* Checks that one event record is well formed (sizes, type, cap_len).
 * Returns 0, or -EINVAL with a static reason in *why. */
int zt_event_check(const void *rec, size_t len, const char **why);

#endif /* ZT_MODEL_EVENT_H */
