/* SPDX-License-Identifier: MIT */
/*
 * h2_redact.h - HTTP/2's secrets in raw captured payloads: the values of
 * sensitive header fields (authorization, proxy-authorization, cookie,
 * set-cookie, x-api-key, x-auth-token) in HPACK literals of HEADERS,
 * PUSH_PROMISE and CONTINUATION frames.
 *
 * A literal names its header by a literal string (raw or Huffman-coded), by
 * a static-table index (23 authorization, 32 cookie, 49
 * proxy-authorization, 55 set-cookie), or by a dynamic-table index: the
 * redactor follows which dynamic entries have sensitive names (entry sizes
 * from the decoded lengths, size updates honoured); a dynamic index it
 * cannot resolve (joined mid-connection, table outgrown) is masked (the
 * safe side).
 *
 * The value's bytes are overwritten in place, length kept, still a valid
 * HPACK string: a raw value with '*' bytes, a Huffman-coded value with
 * 0xf9 bytes (the 8-bit code of '*': N bytes decode to N '*', no padding).
 * A Huffman value of N bytes decoded to L symbols before, to N after; for
 * the usual tokens (letters, digits, -_./= : codes of 5 to 8 bits) N <= L,
 * so a replay's decoder keeps that entry smaller than the encoder did and
 * never evicts an entry the encoder still refers to. A value of mostly
 * long codes (N > L) could make a replay evict early: later references to
 * that entry then decode as unknown, never as another header.
 *
 * Only HTTP/2 is touched: a direction is followed from its client preface,
 * from a SETTINGS frame starting a payload, or (its first payload, or
 * after a gap in a direction known as h2) from a payload that is wholly a
 * strict chain of plausible frame headers; anything else leaves the bytes
 * alone (a first payload shorter than a frame header is not recognised:
 * real peers write whole frames). A gap (caplen < bytes) or an implausible frame header loses the
 * framing until the next payload that starts one of these again.
 *
 * Memory: struct h2r per stream direction (owned by the caller through
 * h2r_new/h2r_free); its dynamic-table model (H2R_ENTRIES entries) is
 * allocated when the direction is found to be h2.
 */
#ifndef ZT_H2_REDACT_H
#define ZT_H2_REDACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct h2r;

struct h2r *h2r_new(void);
void h2r_free(struct h2r *r);
/* Forget the stream (a new one starts in this slot). */
void h2r_reset(struct h2r *r);
/* One syscall's payload p[0..n) of the direction, in order; gap: bytes
 * after these were not captured. Returns bytes overwritten. */
size_t h2r_feed(struct h2r *r, uint8_t *p, size_t n, bool gap);
/* Stateless (zt_h2_ops.redact_payload): buf alone, as the first payload of
 * a direction. */
size_t zt_h2_redact(uint8_t *buf, size_t len);
/* Counters of one state, for tests: directions detected, framing lost. */
void h2r_counts(const struct h2r *r, uint64_t *detected, uint64_t *lost);

#endif /* ZT_H2_REDACT_H */
