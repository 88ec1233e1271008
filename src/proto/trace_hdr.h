/* SPDX-License-Identifier: MIT */
/*
 * trace_hdr.h - trace-context headers carried by a message, for every
 * protocol that has name/value headers (HTTP/1, HTTP/2, gRPC metadata).
 *
 * Formats, in order of precedence (one source gives all three ids):
 *   traceparent        W3C: version-traceid(32)-parentid(16)-flags(2)
 *   b3                 Zipkin single: traceid(16|32)-spanid(16)[-sampled[-parentspanid]]
 *   x-b3-traceid       Zipkin multi, with x-b3-spanid and x-b3-parentspanid
 *   uber-trace-id      Jaeger: traceid:spanid:parentid:flags (colons may be %3A)
 *   sw8                SkyWalking: sample-base64(traceid)-base64(segment)-...
 * An invalid header is skipped and the next format tried: a garbled
 * traceparent must not hide a good b3. Hex ids are lowercased; all-zero ids
 * are invalid (W3C says so and the others mean "none" by it).
 *
 * Use: zt_trace_hdrs_init(), zt_trace_hdrs_offer() for each header of one
 * message in wire order, then zt_trace_hdrs_resolve(). Offered values are
 * borrowed, not copied: the caller keeps the header bytes alive and unchanged
 * until resolve returns. Values are hostile: every length is bounded.
 */
#ifndef ZT_TRACE_HDR_H
#define ZT_TRACE_HDR_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/proto.h"

/* Ids as stored in struct zt_msg: NUL-terminated, "" when absent. */
struct zt_trace_ids {
	char trace_id[ZT_TRACE_ID_LEN];
	char span_id[ZT_SPAN_ID_LEN];
	char parent_span_id[ZT_SPAN_ID_LEN];
};

/* Parsers memcpy these into struct zt_msg field for field. */
_Static_assert(sizeof(((struct zt_trace_ids *)0)->trace_id) == sizeof(((struct zt_msg *)0)->trace_id) &&
		   sizeof(((struct zt_trace_ids *)0)->span_id) == sizeof(((struct zt_msg *)0)->span_id) &&
		   sizeof(((struct zt_trace_ids *)0)->parent_span_id) ==
		       sizeof(((struct zt_msg *)0)->parent_span_id),
	       "struct zt_trace_ids must match struct zt_msg's id fields");

/* A borrowed header value. `set` tells an empty first occurrence (which
 * still wins) from an absent header. */
struct zt_trace_val {
	const char *p;
	size_t n;
	bool set;
};

/* The trace headers of one message; first occurrence of each wins. */
struct zt_trace_hdrs {
	struct zt_trace_val traceparent;
	struct zt_trace_val b3;
	struct zt_trace_val x_b3_traceid;
	struct zt_trace_val x_b3_spanid;
	struct zt_trace_val x_b3_parentspanid;
	struct zt_trace_val uber_trace_id;
	struct zt_trace_val sw8;
};

void zt_trace_hdrs_init(struct zt_trace_hdrs *h);

/* Offers one header (name in any case, value with surrounding blanks already
 * trimmed). Returns true if the name is one of the trace headers, also when
 * an earlier occurrence already holds the slot. A NULL value counts as "". */
bool zt_trace_hdrs_offer(struct zt_trace_hdrs *h, const char *name, size_t nlen, const char *val,
			 size_t vlen);

/* Decodes by precedence (traceparent, b3, x-b3-*, uber-trace-id, sw8; an
 * invalid header is skipped, never copied). Zeroes out first; returns true
 * if ids were found, in which case out->trace_id is non-empty. */
bool zt_trace_hdrs_resolve(const struct zt_trace_hdrs *h, struct zt_trace_ids *out);

/* Whether a header carries a request id: X-Request-ID or X-Correlation-ID,
 * any case. Parsers keep the first such header of a message, whichever of
 * the two it is (one rule for every protocol; messages carrying both are
 * rare). A function rather than a list so that the names can become
 * configurable without touching the parsers. */
bool zt_is_request_id_header(const char *name, size_t n);
/* Replaces the request-id header names (default: X-Request-ID,
 * X-Correlation-ID) with a comma-separated list, any case, at most 8 names
 * of 63 bytes. -EINVAL (nothing changed) on an empty or bad list. Not
 * thread-safe: call at start. */
int zt_request_id_headers_set(const char *csv);

#endif /* ZT_TRACE_HDR_H */
