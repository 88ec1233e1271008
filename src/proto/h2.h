/* SPDX-License-Identifier: MIT */
/*
 * h2.h - HTTP/2 (RFC 9113) and gRPC over it: the parser behind zt_h2_ops.
 *
 * h2.c reads frames from each direction's byte stream (frames split across
 * segments, several per segment, capture gaps counted by frame length);
 * h2_stream.c turns header blocks and DATA into per-stream requests and
 * responses (pairing key: the stream id), gRPC included.
 *
 * Detection: the client connection preface; mid-connection, a strict
 * chain of plausible frame headers. When the parser did not see a
 * direction from its start, that direction's HPACK table is incomplete
 * (hpack.h): fields referring to unknown dynamic entries are never guessed,
 * the message is flagged ZT_MF_TRUNCATED and gets attribute
 * h2.unknown_headers.
 *
 * Memory: the state is one fixed-size struct (no allocation): two HPACK
 * tables, two header-block buffers, H2_STREAMS stream slots.
 */
#ifndef ZT_H2_H
#define ZT_H2_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/hpack.h"
#include "proto/proto.h"

#define H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN 24
#define H2_STREAMS 16	   /* streams followed at once; more: the oldest is given up */
#define H2_BLOCK_MAX 8192  /* header block bytes kept (HEADERS + CONTINUATION) */
#define H2_FRAME_MAX 16777215u

enum h2_type {
	H2_DATA = 0,
	H2_HEADERS = 1,
	H2_PRIORITY = 2,
	H2_RST_STREAM = 3,
	H2_SETTINGS = 4,
	H2_PUSH_PROMISE = 5,
	H2_PING = 6,
	H2_GOAWAY = 7,
	H2_WINDOW_UPDATE = 8,
	H2_CONTINUATION = 9,
};

enum h2_flag {
	H2_FL_END_STREAM = 0x1, /* DATA, HEADERS; ACK on SETTINGS and PING */
	H2_FL_END_HEADERS = 0x4,
	H2_FL_PADDED = 0x8,
	H2_FL_PRIORITY = 0x20,
};

/* Where a frame started: the segment carrying its first byte, for the
 * message's start time, thread and TCP seq. data is not kept. */
struct h2_origin {
	struct zt_seg seg;
	uint64_t off;
};

/* One direction of the connection. */
struct h2_dir {
	uint8_t preface;  /* client preface bytes matched so far (0..24) */
	bool started;	  /* bytes of this direction seen */
	bool lost;	  /* framing lost: waiting for a segment starting at a frame */
	bool first_frame; /* the next frame header is the direction's first */
	/* the frame being read */
	uint8_t hdr[9];
	uint8_t hdr_n;	  /* header bytes collected */
	uint8_t type, flags;
	uint32_t sid;
	uint32_t flen, fpos; /* payload length, payload bytes consumed */
	uint8_t pre[8];	     /* the frame's fixed fields (pad length, priority,
			      * codes, a SETTINGS entry) */
	uint8_t pre_n, pre_need;
	uint32_t body_end;   /* payload offset where padding starts (after pad length read) */
	bool bad_frame;	     /* content unusable (bad padding): skipped */
	struct h2_origin fo; /* this frame's first byte */
	/* the header block being gathered */
	bool in_block;
	bool block_lost;     /* a gap or overflow cut it: fields unknown */
	uint8_t block_type;  /* HEADERS or PUSH_PROMISE */
	uint8_t block_flags; /* flags of the frame that began it */
	uint32_t block_sid;
	uint32_t block_len;
	uint64_t block_bytes;  /* wire bytes of its frames */
	uint32_t block_frames; /* CONTINUATION count (bounded by H2_BLOCK_MAX) */
	struct h2_origin block_fo;
	uint8_t block[H2_BLOCK_MAX];
	/* SETTINGS_HEADER_TABLE_SIZE this side announced (applies to the
	 * other side's table) */
	struct hpack_table tbl; /* the table of blocks sent in this direction */
	uint64_t frames, gap_bytes, resyncs, bad;
};

/* gRPC's length-prefixed messages in one direction of one stream. */
struct h2_lpm {
	uint32_t left;	   /* message bytes left */
	uint8_t pre[5];
	uint8_t pre_n;
	bool lost;	   /* a gap hid a prefix: count no more */
	uint32_t count;
};

enum h2_stream_bits {
	H2S_REQ = 1u << 0,	 /* request headers seen */
	H2S_REQ_END = 1u << 1,	 /* client END_STREAM */
	H2S_REQ_SENT = 1u << 2,	 /* request emitted */
	H2S_RESP = 1u << 3,	 /* final response headers seen */
	H2S_GRPC = 1u << 4,	 /* content-type application/grpc */
	H2S_GRPC_STATUS = 1u << 5, /* grpc-status seen */
};

struct h2_stream {
	uint32_t sid; /* 0: free slot */
	uint32_t bits;
	uint64_t touched; /* activity order, to give up the oldest */
	struct h2_lpm lpm[2]; /* by zt_dir of the bytes */
	struct zt_msg req, resp;
};

struct h2_state {
	struct h2_dir d[2]; /* by enum zt_dir */
	int8_t client_dir;  /* zt_dir of client -> server bytes; -1 unknown */
	uint64_t tick;
	struct h2_stream st[H2_STREAMS];
	uint64_t streams_dropped;
};

/* h2_stream.c, called by the framing in h2.c. `d` is the sending side. */
struct h2_emit {
	zt_emit_fn fn;
	void *ctx;
};
void h2s_block(struct h2_state *s, uint8_t dir, const struct zt_seg *seg, struct h2_emit *e);
void h2s_data(struct h2_state *s, uint8_t dir, uint32_t sid, const uint8_t *p, uint32_t n, uint64_t gap);
void h2s_frame_end(struct h2_state *s, uint8_t dir, const struct zt_seg *seg, struct h2_emit *e);
void h2s_rst(struct h2_state *s, uint8_t dir, uint32_t sid, uint32_t code, struct h2_emit *e);
void h2s_goaway(struct h2_state *s, uint8_t dir, uint32_t last_sid, uint32_t code, struct h2_emit *e);
void h2s_finish(struct h2_state *s, struct h2_emit *e);
int h2s_status_class_grpc(int code);

extern const struct zt_proto_ops zt_h2_ops;

#endif /* ZT_H2_H */
