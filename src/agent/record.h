/* SPDX-License-Identifier: MIT */
/*
 * record.h - the `ztrace record` file: the raw kernel event stream, so that
 * `ztrace replay` can run the whole user-space pipeline on it, exactly.
 *
 *   offset 0   struct zt_rec_file_hdr (64 bytes, little-endian host order)
 *   offset 64  records: { __u32 len; __u8 event[len]; } ...
 *
 * Each event is a struct zt_event_hdr with hdr.size == len followed by its
 * type's body (bpf/events.h). The file header carries the event ABI version
 * and the CLOCK_MONOTONIC -> CLOCK_REALTIME offset of the recording host, so
 * replayed spans get the wall-clock times they had live.
 *
 * Return convention: 0 (or 1 = one record read) on success, negative errno
 * on failure with a message naming the byte offset in `err`.
 */
#ifndef ZT_RECORD_H
#define ZT_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bpf/events.h"
#include "model/event.h"

#define ZT_REC_MAGIC "ZTRACE\x00R"
#define ZT_REC_VERSION 1

struct zt_rec_file_hdr {
	char magic[8];
	uint32_t version;      /* ZT_REC_VERSION */
	uint32_t abi;          /* ZT_ABI_VERSION of the events */
	int64_t mono_to_real;  /* add to a CLOCK_MONOTONIC ns to get epoch ns */
	char host[40];         /* hostname of the recording machine */
};
_Static_assert(sizeof(struct zt_rec_file_hdr) == 64, "record file header is 64 bytes");

struct zt_rec_writer {
	FILE *f;
	uint64_t records, bytes;
};

/* Creates path, mode 0600 (a recording holds captured payloads). It never
 * follows a symbolic link and never overwrites an existing file unless
 * ZT_REC_FORCE (then a regular file is truncated and made 0600). */
#define ZT_REC_FORCE 1
int zt_rec_writer_open(struct zt_rec_writer *w, const char *path, const char *host, int64_t mono_to_real,
		       int flags, char *err, size_t errsz);
int zt_rec_write(struct zt_rec_writer *w, const void *rec, size_t len);
int zt_rec_writer_close(struct zt_rec_writer *w);

struct zt_rec_reader {
	FILE *f;
	int own;        /* fclose() at close */
	uint64_t off;   /* byte offset of the next record */
	struct zt_rec_file_hdr hdr;
	_Alignas(8) uint8_t buf[ZT_EVENT_MAX_SIZE]; /* events are read in place */
};

/* Opens path (or reads from an already open stream when f != NULL). */
int zt_rec_reader_open(struct zt_rec_reader *r, const char *path, FILE *f, char *err, size_t errsz);
/* 1: *rec and *len point at the next record (borrowed until the next call);
 * 0: clean end of file; < 0: corrupt or truncated file (err names where). */
int zt_rec_next(struct zt_rec_reader *r, const void **rec, size_t *len, char *err, size_t errsz);
void zt_rec_reader_close(struct zt_rec_reader *r);


#endif /* ZT_RECORD_H */
