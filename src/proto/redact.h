/* SPDX-License-Identifier: MIT */
/*
 * redact.h - redaction of raw captured payloads on the reassembled stream.
 *
 * A recording is written before any protocol is inferred, one syscall's
 * payload at a time, and a secret may be split anywhere across syscalls:
 * `send("...Authori")`, `send("zation: Bearer S3CRET\r\n")`. Redacting each
 * payload on its own leaves the second half in clear. The stream redactor
 * keeps, per socket and direction, a tail of the stream (already
 * redacted): the current line (bytes since the last '\n') and at least the
 * last 512 bytes (binary protocols have no lines), and runs every protocol's
 * redact_payload over the new bytes alone (where a message that starts the
 * syscall is recognised) and then over tail + new bytes, so a secret is
 * found whatever the syscall boundaries; only the new bytes are written
 * back (length kept).
 *
 * Bounds: ZT_REDACT_TAIL bytes of line per stream; of a longer line its
 * first half is kept (where a header name is), so the continuation of a
 * secret header is still masked as part of its line. A payload cut by the capture size (a
 * gap) ends the line: the bytes after a gap are unknown. The table holds
 * max_streams streams; when full, the least recently used stream is
 * forgotten (counted) and its next payload is redacted alone.
 *
 * With bodies on (zt_redactor_set_bodies), every byte that is not part of
 * an HTTP/1 message head (start line and headers up to the blank line) is
 * overwritten: message bodies, and the payloads of every other protocol. A
 * start line split across syscalls is not recognised and is overwritten.
 */
#ifndef ZT_PROTO_REDACT_H
#define ZT_PROTO_REDACT_H

#include <stddef.h>
#include <stdint.h>

#define ZT_REDACT_TAIL 4096

struct zt_redactor;

struct zt_redactor_stats {
	uint64_t bytes;    /* payload bytes overwritten */
	uint64_t evicted;  /* streams forgotten because the table was full */
	uint64_t overlong; /* lines longer than ZT_REDACT_TAIL seen */
};

struct zt_redactor *zt_redactor_new(size_t max_streams);
void zt_redactor_free(struct zt_redactor *r);
/* Overwrite every byte that is not an HTTP/1 head (--redact-bodies). */
void zt_redactor_set_bodies(struct zt_redactor *r, int on);
/* Redacts payload[0..caplen) of one syscall on stream (sk, ino, dir) in
 * place; `bytes` is what the syscall moved (caplen < bytes: a gap follows).
 * Returns the bytes overwritten. */
size_t zt_redact_stream(struct zt_redactor *r, uint64_t sk, uint64_t ino, uint8_t dir, uint8_t *payload,
			size_t caplen, uint64_t bytes);
/* The socket closed: forget both directions. */
void zt_redactor_close(struct zt_redactor *r, uint64_t sk);
const struct zt_redactor_stats *zt_redactor_stats(const struct zt_redactor *r);

#endif /* ZT_PROTO_REDACT_H */
