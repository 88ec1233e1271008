/* SPDX-License-Identifier: MIT */
/*
 * mongodb.c - the MongoDB wire protocol
 * (https://www.mongodb.com/docs/manual/reference/mongodb-wire-protocol/).
 *
 * Framing: MsgHeader = messageLength (int32 LE, counting itself), requestID,
 * responseTo, opCode (frame32.c). Requests pair with responses by KEY =
 * requestID (the response's responseTo). OP_MSG (2013) with moreToCome on a
 * request, and the legacy OP_INSERT / OP_UPDATE / OP_DELETE /
 * OP_KILL_CURSORS, get no reply: ONEWAY. OP_COMPRESSED (2012) is reported
 * by its original opcode; its payload is not decompressed.
 *
 * Fields from a bounded walk of the first BSON document (the OP_MSG kind-0
 * body, the OP_QUERY query, the first OP_REPLY document), over the captured
 * prefix only: request_type = the command (the body's first key: find,
 * insert, hello...), request_resource = its value when a string (the
 * collection; getMore: its "collection"), request_domain = $db (or the
 * database of a legacy fullCollectionName). Response: ok: 0 is an error,
 * code -> response_code, errmsg -> response_exception (also from the first
 * writeErrors entry), n / nModified as attributes.
 *
 * Credentials (SASL payloads, pwd, authenticate's key) are overwritten in raw
 * captures by redact_payload; no field of a message ever holds them.
 */
#include "proto/frame32.h"
#include "proto/proto.h"
#include "bpf/events.h"

#include <stdio.h>
#include <string.h>

#define MG_HDR 16
#define MG_MAX_TOTAL (64u << 20) /* servers refuse more than 48 MB */
#define MG_DEPTH 4		 /* nesting the redaction walks into */

enum {
	MG_OP_REPLY = 1,
	MG_OP_UPDATE = 2001,
	MG_OP_INSERT = 2002,
	MG_OP_QUERY = 2004,
	MG_OP_GET_MORE = 2005,
	MG_OP_DELETE = 2006,
	MG_OP_KILL_CURSORS = 2007,
	MG_OP_COMPRESSED = 2012,
	MG_OP_MSG = 2013,
};

/* OP_MSG flagBits */
#define MG_F_CHECKSUM 1u
#define MG_F_MORE 2u
#define MG_F_EXHAUST (1u << 16)

static const char *mg_op_name(uint32_t op)
{
	switch (op) {
	case MG_OP_REPLY:
		return "OP_REPLY";
	case MG_OP_UPDATE:
		return "OP_UPDATE";
	case MG_OP_INSERT:
		return "OP_INSERT";
	case MG_OP_QUERY:
		return "OP_QUERY";
	case MG_OP_GET_MORE:
		return "OP_GET_MORE";
	case MG_OP_DELETE:
		return "OP_DELETE";
	case MG_OP_KILL_CURSORS:
		return "OP_KILL_CURSORS";
	case MG_OP_COMPRESSED:
		return "OP_COMPRESSED";
	case MG_OP_MSG:
		return "OP_MSG";
	default:
		return NULL;
	}
}

/* Opcodes only a client sends. */
static bool mg_op_request_only(uint32_t op)
{
	return op >= MG_OP_UPDATE && op <= MG_OP_KILL_CURSORS && op != 2003;
}

/* ---- BSON ------------------------------------------------------------- */

/* An element of a document whose bytes are p[0..n) (n may stop short of
 * the document's end: a capture prefix). */
struct bs_el {
	uint8_t type;
	const char *name;
	size_t name_len;
	const uint8_t *val; /* value bytes */
	size_t val_len;	    /* whole value size (may pass the capture) */
	bool cut;	    /* the value runs past the captured bytes */
};

struct bs_it {
	const uint8_t *p;
	size_t n; /* bytes we may read: min(document length, captured) */
	size_t i;
};

/* A document at p (captured avail bytes): false if its length is not BSON. */
static bool bs_open(struct bs_it *it, const uint8_t *p, size_t avail)
{
	if (avail < 4)
		return false;
	uint32_t dl = f32_le32(p);
	if (dl < 5 || dl > MG_MAX_TOTAL)
		return false;
	it->p = p;
	it->n = avail < dl - 1 ? avail : dl - 1; /* the final NUL is not an element */
	it->i = 4;
	return true;
}

/* Size of a value of type t at v (avail bytes); 0 with *bad on error,
 * SIZE_MAX when it cannot be known from avail bytes. */
static size_t bs_val_size(uint8_t t, const uint8_t *v, size_t avail, bool *bad)
{
	size_t k;
	uint32_t l;

	switch (t) {
	case 1:
	case 9:
	case 17:
	case 18:
		return 8;
	case 7:
		return 12;
	case 8:
		return 1;
	case 16:
		return 4;
	case 19:
		return 16;
	case 6:
	case 10:
	case 0xff:
	case 0x7f:
		return 0;
	case 2:
	case 13:
	case 14: /* string */
		if (avail < 4)
			return SIZE_MAX;
		l = f32_le32(v);
		if (l < 1 || l > MG_MAX_TOTAL)
			break;
		return 4 + (size_t)l;
	case 3:
	case 4:
	case 15: /* document, array, code with scope */
		if (avail < 4)
			return SIZE_MAX;
		l = f32_le32(v);
		if (l < 5 || l > MG_MAX_TOTAL)
			break;
		return l;
	case 5: /* binary */
		if (avail < 4)
			return SIZE_MAX;
		l = f32_le32(v);
		if (l > MG_MAX_TOTAL)
			break;
		return 5 + (size_t)l;
	case 12: /* DBPointer: string + ObjectId */
		if (avail < 4)
			return SIZE_MAX;
		l = f32_le32(v);
		if (l < 1 || l > MG_MAX_TOTAL)
			break;
		return 4 + (size_t)l + 12;
	case 11: /* regex: two cstrings */
		for (k = 0; k < avail && v[k]; k++)
			;
		if (k >= avail)
			return SIZE_MAX;
		for (k++; k < avail && v[k]; k++)
			;
		return k >= avail ? SIZE_MAX : k + 1;
	default:
		break;
	}
	*bad = true;
	return 0;
}

/* Next element: 1, 0 at the end of the captured document, -1 on bytes that
 * are not BSON (or an element whose size the capture does not give). */
static int bs_next(struct bs_it *it, struct bs_el *e)
{
	bool bad = false;

	if (it->i >= it->n)
		return 0;
	e->type = it->p[it->i];
	if (e->type == 0)
		return 0;
	size_t ns = it->i + 1, k = ns;
	while (k < it->n && it->p[k])
		k++;
	if (k >= it->n)
		return -1; /* name cut */
	e->name = (const char *)it->p + ns;
	e->name_len = k - ns;
	size_t vs = k + 1, avail = it->n > vs ? it->n - vs : 0;
	size_t sz = bs_val_size(e->type, it->p + vs, avail, &bad);
	if (bad || sz == SIZE_MAX)
		return -1;
	e->val = it->p + vs;
	e->val_len = sz;
	e->cut = sz > avail;
	it->i = e->cut ? it->n : vs + sz;
	return 1;
}

static bool bs_name_is(const struct bs_el *e, const char *lit)
{
	size_t n = strlen(lit);
	return e->name_len == n && memcmp(e->name, lit, n) == 0;
}

/* A string value's bytes (without its NUL), as far as captured. */
static bool bs_str(const struct bs_el *e, const char **s, size_t *n)
{
	if (e->type != 2 || e->val_len < 5)
		return false;
	*s = (const char *)e->val + 4;
	*n = e->val_len - 5;
	return !e->cut; /* a string cut by the capture is not reported */
}

/* A numeric value (double, int32, int64, bool) as an integer. */
static bool bs_num(const struct bs_el *e, int64_t *v)
{
	if (e->cut)
		return false;
	switch (e->type) {
	case 1: {
		double d;
		uint64_t u = (uint64_t)f32_le32(e->val + 4) << 32 | f32_le32(e->val);
		memcpy(&d, &u, sizeof(d));
		if (!(d > -9e18 && d < 9e18)) /* NaN too */
			return false;
		*v = (int64_t)d;
		return true;
	}
	case 8:
		*v = e->val[0] != 0;
		return true;
	case 16:
		*v = (int32_t)f32_le32(e->val);
		return true;
	case 18:
		*v = (int64_t)((uint64_t)f32_le32(e->val + 4) << 32 | f32_le32(e->val));
		return true;
	default:
		return false;
	}
}

static bool mg_printable(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((uint8_t)p[i] < 0x20 || p[i] == 0x7f)
			return false;
	return true;
}

/* ---- messages --------------------------------------------------------- */

/* The first BSON document of a message and what frames it. */
struct mg_view {
	uint32_t len, req_id, resp_to, op; /* op: the original one if compressed */
	uint32_t wire_op;
	uint32_t flags;	    /* OP_MSG flagBits, OP_REPLY responseFlags */
	const uint8_t *doc; /* NULL: none captured */
	size_t doc_avail;
	const char *ns; /* legacy fullCollectionName */
	size_t ns_len;
	int compressor; /* OP_COMPRESSED: compressorId */
};

/* Reads a cstring at buf[i..n): its length, or -1 when cut / not text. */
static long mg_cstr(const uint8_t *buf, size_t n, size_t i)
{
	size_t k = i;
	while (k < n && buf[k])
		k++;
	if (k >= n || k - i > 1024)
		return -1;
	return mg_printable((const char *)buf + i, k - i) ? (long)(k - i) : -1;
}

/* Parses what we use of a message's captured prefix buf[0..n). Returns
 * false when the bytes are not a MongoDB message we know (strict: infer()
 * relies on it); a capture that stops early is not an error. */
static bool mg_view(const uint8_t *buf, size_t n, struct mg_view *v)
{
	size_t i;
	long l;

	memset(v, 0, sizeof(*v));
	v->compressor = -1;
	if (n < MG_HDR)
		return false;
	v->len = f32_le32(buf);
	v->req_id = f32_le32(buf + 4);
	v->resp_to = f32_le32(buf + 8);
	v->op = v->wire_op = f32_le32(buf + 12);
	if (v->len < MG_HDR || v->len > MG_MAX_TOTAL || !mg_op_name(v->op))
		return false;
	if (n > v->len)
		n = v->len;
	i = MG_HDR;
	switch (v->op) {
	case MG_OP_MSG:
		if (n < i + 4)
			return v->len >= i + 5 + 5;
		v->flags = f32_le32(buf + i);
		if (v->flags & ~(MG_F_CHECKSUM | MG_F_MORE | MG_F_EXHAUST) & 0xffff)
			return false; /* unknown required bits */
		i += 4;
		if (v->len < i + 1 + 5)
			return false;
		if (n <= i)
			return true;
		/* sections: one kind 0 (the body), any kind 1 */
		for (int k = 0; k < 8 && i < n; k++) {
			uint8_t kind = buf[i++];
			if (kind == 0) {
				v->doc = buf + i;
				v->doc_avail = n - i;
				if (n - i >= 4) {
					uint32_t dl = f32_le32(buf + i);
					if (dl < 5 || dl > v->len - i)
						return false;
				}
				return true;
			}
			if (kind != 1 || n - i < 4)
				return kind == 1;
			uint32_t sl = f32_le32(buf + i);
			if (sl < 4 || sl > v->len - i)
				return false;
			i += sl;
		}
		return true;
	case MG_OP_QUERY:
		i += 4; /* flags */
		if (n < i)
			return true;
		if ((l = mg_cstr(buf, n, i)) < 0)
			return n - i <= 1024 && !memchr(buf + i, 0, n - i); /* cut */
		v->ns = (const char *)buf + i;
		v->ns_len = (size_t)l;
		i += (size_t)l + 1 + 8; /* skip, return */
		if (i < n) {
			v->doc = buf + i;
			v->doc_avail = n - i;
		}
		return memchr(v->ns, '.', v->ns_len) != NULL;
	case MG_OP_REPLY:
		if (n >= MG_HDR + 4)
			v->flags = f32_le32(buf + MG_HDR);
		i += 20;
		if (v->len < i)
			return false;
		if (i < n) {
			v->doc = buf + i;
			v->doc_avail = n - i;
		}
		return true;
	case MG_OP_COMPRESSED:
		if (n < i + 9)
			return v->len >= i + 9;
		v->op = f32_le32(buf + i);
		v->compressor = buf[i + 8];
		return mg_op_name(v->op) && v->op != MG_OP_COMPRESSED && v->compressor <= 3;
	default: /* legacy writes, getMore, killCursors */
		if (v->op == MG_OP_KILL_CURSORS)
			return v->len >= i + 8;
		i += 4; /* OP_INSERT's flags, the others' ZERO */
		if (n <= i)
			return true;
		if ((l = mg_cstr(buf, n, i)) < 0)
			return n - i <= 1024 && !memchr(buf + i, 0, n - i);
		v->ns = (const char *)buf + i;
		v->ns_len = (size_t)l;
		return memchr(v->ns, '.', v->ns_len) != NULL;
	}
}

/* Whether a view is a request (before the connection's roles are known). */
static bool mg_is_request(const struct mg_view *v)
{
	if (mg_op_request_only(v->wire_op) || v->op == MG_OP_QUERY || v->op == MG_OP_GET_MORE)
		return true;
	return (v->op == MG_OP_MSG) && v->resp_to == 0;
}

/* db part of "db.collection" -> domain, collection part -> resource. */
static void mg_set_ns(struct zt_msg *m, const char *ns, size_t n, bool resource)
{
	const char *dot = memchr(ns, '.', n);
	if (!dot)
		return;
	zt_copy_str(m->request_domain, sizeof(m->request_domain), ns, (size_t)(dot - ns));
	if (resource)
		zt_copy_str(m->request_resource, sizeof(m->request_resource), dot + 1,
			    n - (size_t)(dot - ns) - 1);
}

static void mg_request_fields(struct zt_msg *m, const struct mg_view *v)
{
	const char *s;
	size_t n;
	struct bs_it it;
	struct bs_el e;
	int r, k = 0;

	if (v->ns) {
		bool cmd = v->ns_len > 5 && memcmp(v->ns + v->ns_len - 5, ".$cmd", 5) == 0;
		mg_set_ns(m, v->ns, v->ns_len, !cmd);
		if (!cmd || v->op != MG_OP_QUERY) {
			s = mg_op_name(v->op);
			zt_copy_str(m->request_type, sizeof(m->request_type), s, strlen(s));
			return;
		}
	}
	if (!v->doc || !bs_open(&it, v->doc, v->doc_avail)) {
		if (v->op != MG_OP_MSG || !v->doc) {
			s = mg_op_name(v->op);
			zt_copy_str(m->request_type, sizeof(m->request_type), s, strlen(s));
		}
		return;
	}
	while (k < 64 && (r = bs_next(&it, &e)) > 0) {
		if (k++ == 0) {
			if (e.name_len && e.name[0] == '$' && e.type == 3 && !e.cut) {
				/* legacy {$query: {cmd: ...}}: the command is inside */
				if (bs_open(&it, e.val, e.val_len))
					continue;
			}
			zt_copy_str(m->request_type, sizeof(m->request_type), e.name, e.name_len);
			if (bs_str(&e, &s, &n))
				zt_copy_str(m->request_resource, sizeof(m->request_resource), s, n);
		} else if (bs_name_is(&e, "$db") && bs_str(&e, &s, &n)) {
			zt_copy_str(m->request_domain, sizeof(m->request_domain), s, n);
		} else if (bs_name_is(&e, "collection") && !m->request_resource[0] && bs_str(&e, &s, &n)) {
			zt_copy_str(m->request_resource, sizeof(m->request_resource), s, n); /* getMore */
		}
	}
	if (!m->request_type[0]) {
		s = mg_op_name(v->op);
		zt_copy_str(m->request_type, sizeof(m->request_type), s, strlen(s));
	}
}

/* Server-side trouble, as opposed to a refused request. */
static uint8_t mg_status_of(int64_t code)
{
	switch (code) {
	case 1:
	case 6:
	case 7:
	case 8:
	case 50:
	case 89:
	case 91:
	case 189:
	case 262:
	case 10107:
	case 11600:
	case 11602:
	case 13435:
	case 13436:
		return ZT_RS_SERVER_ERROR;
	default:
		return ZT_RS_CLIENT_ERROR;
	}
}

static void mg_attr_num(struct zt_msg *m, const char *key, int64_t v)
{
	char b[24];
	int n = snprintf(b, sizeof(b), "%lld", (long long)v);
	zt_attrs_add(&m->attrs, key, b, (size_t)n);
}

static void mg_response_fields(struct zt_msg *m, const struct mg_view *v)
{
	struct bs_it it;
	struct bs_el e;
	int64_t ok = -1, code = 0, num;
	bool has_code = false, werr = false; /* werr: a write error, even with ok: 1 */
	const char *s, *err = NULL;
	size_t n, err_len = 0;
	int r = 0, k = 0;

	m->status = ZT_RS_UNKNOWN;
	if (!v->doc || !bs_open(&it, v->doc, v->doc_avail))
		return;
	while (k++ < 64 && (r = bs_next(&it, &e)) > 0) {
		if (bs_name_is(&e, "ok") && bs_num(&e, &num)) {
			ok = num;
		} else if (bs_name_is(&e, "code") && bs_num(&e, &num)) {
			code = num;
			has_code = true;
		} else if ((bs_name_is(&e, "errmsg") || bs_name_is(&e, "$err")) && bs_str(&e, &s, &n)) {
			err = s;
			err_len = n;
		} else if (bs_name_is(&e, "n") && bs_num(&e, &num)) {
			mg_attr_num(m, "mongodb.n", num);
		} else if (bs_name_is(&e, "nModified") && bs_num(&e, &num)) {
			mg_attr_num(m, "mongodb.n_modified", num);
		} else if ((bs_name_is(&e, "writeErrors") || bs_name_is(&e, "writeConcernError")) &&
			   !has_code) {
			/* the first error: writeErrors[0] or writeConcernError */
			struct bs_it a, d;
			struct bs_el x, y;
			if (!bs_open(&a, e.val, e.cut ? (size_t)(it.p + it.n - e.val) : e.val_len))
				continue;
			if (e.type == 4) {
				if (bs_next(&a, &x) <= 0 || x.type != 3)
					continue;
				if (!bs_open(&d, x.val, x.cut ? (size_t)(a.p + a.n - x.val) : x.val_len))
					continue;
			} else {
				d = a;
			}
			for (int j = 0; j < 16 && bs_next(&d, &y) > 0; j++) {
				if (bs_name_is(&y, "code") && bs_num(&y, &num)) {
					code = num;
					has_code = true;
				} else if (bs_name_is(&y, "errmsg") && bs_str(&y, &s, &n)) {
					err = s;
					err_len = n;
				}
			}
			werr = has_code;
		}
	}
	/* A reply cut before its ok field: mongod writes error replies as
	 * {ok: 0, errmsg, code, codeName}, small and ok first, so a long reply
	 * with no error field in its captured prefix is a success (a find's
	 * cursor comes before its ok). */
	if (ok < 0 && !has_code && !err && it.n < f32_le32(v->doc) - 1)
		ok = 1;
	if (v->op == MG_OP_REPLY && (v->flags & 2)) /* QueryFailure */
		ok = 0;
	if (ok == 0 || werr) {
		m->status = has_code ? mg_status_of(code) : ZT_RS_CLIENT_ERROR;
		if (has_code && code >= INT32_MIN && code <= INT32_MAX) {
			m->response_code = (int32_t)code;
			m->flags |= ZT_MF_HAS_CODE;
		}
		if (err)
			zt_copy_str(m->response_exception, sizeof(m->response_exception), err, err_len);
	} else if (ok > 0) {
		m->status = ZT_RS_OK;
	}
}

/* ---- per-connection state --------------------------------------------- */

struct mg_state {
	struct f32_dir d[2];
	int8_t req_dir; /* direction carrying requests; -1: not yet known */
};

static void mg_init(void *state)
{
	struct mg_state *s = state;

	f32_dir_init(&s->d[0]);
	f32_dir_init(&s->d[1]);
	s->req_dir = -1;
}

static const char *const mg_compressors[] = {"noop", "snappy", "zlib", "zstd"};

static void mg_done(void *state, struct f32_dir *d, int dir, zt_emit_fn emit, void *ctx)
{
	struct mg_state *s = state;
	struct zt_msg *m = &d->msg;
	struct mg_view v;

	if (!mg_view(d->buf, d->blen, &v))
		return; /* framed, but not a message we know: dropped */
	if (s->req_dir < 0)
		s->req_dir = (int8_t)(mg_is_request(&v) ? dir : !dir);
	if (d->gap && d->blen < 64 && d->blen < d->total)
		m->flags |= ZT_MF_TRUNCATED;
	if (v.compressor >= 0)
		zt_attrs_add(&m->attrs, "mongodb.compressor", mg_compressors[v.compressor],
			     strlen(mg_compressors[v.compressor]));
	m->pair = ZT_PAIR_KEY;
	if (dir == s->req_dir) {
		m->kind = ZT_MSG_REQUEST;
		m->key = v.req_id;
		if (v.compressor >= 0) {
			const char *nm = mg_op_name(v.op);
			zt_copy_str(m->request_type, sizeof(m->request_type), nm, strlen(nm));
		} else {
			mg_request_fields(m, &v);
		}
		if ((v.op == MG_OP_MSG && (v.flags & MG_F_MORE) && v.compressor < 0) ||
		    v.op == MG_OP_INSERT || v.op == MG_OP_UPDATE || v.op == MG_OP_DELETE ||
		    v.op == MG_OP_KILL_CURSORS)
			m->pair = ZT_PAIR_ONEWAY;
	} else {
		m->kind = ZT_MSG_RESPONSE;
		m->key = v.resp_to;
		if (v.compressor >= 0)
			m->status = ZT_RS_UNKNOWN;
		else
			mg_response_fields(m, &v);
	}
	emit(ctx, m);
}

static bool mg_start_ok(void *state, int dir, const uint8_t *buf, size_t len)
{
	struct mg_view v;
	return mg_view(buf, len, &v);
}

static const struct f32_proto mg_frame = {
    .little_endian = true,
    .len_includes = true,
    .min_total = MG_HDR,
    .max_total = MG_MAX_TOTAL,
    .start_ok = mg_start_ok,
    .done = mg_done,
};

static void mg_feed(void *state, const struct zt_seg *seg, zt_emit_fn emit, void *ctx)
{
	struct mg_state *s = state;

	if (seg->dir > ZT_DIR_INGRESS)
		return;
	f32_feed(&mg_frame, s, &s->d[seg->dir], seg, emit, ctx);
}

static void mg_finish(void *state, uint64_t now_ns, zt_emit_fn emit, void *ctx)
{
	struct mg_state *s = state;

	f32_dir_init(&s->d[0]);
	f32_dir_init(&s->d[1]);
}

/* ---- inference -------------------------------------------------------- */

/* A segment of exactly one MsgHeader: mongod (and pymongo, for replies)
 * read the 16-byte header in its own syscall, then the rest, so a server
 * side's first segment is often just this. Trusted only when it has a
 * request's shape: a length with room for a body, responseTo 0 and an
 * opcode only clients send first (8 of the 16 bytes are then fixed). */
static int mg_header_kind(const uint8_t *buf)
{
	uint32_t len = f32_le32(buf), resp_to = f32_le32(buf + 8), op = f32_le32(buf + 12);

	if (len < MG_HDR + 5 || len > MG_MAX_TOTAL || resp_to != 0)
		return 0;
	return op == MG_OP_MSG || op == MG_OP_QUERY || op == MG_OP_COMPRESSED ? ZT_MSG_REQUEST : 0;
}

/* 0, or ZT_MSG_REQUEST / ZT_MSG_RESPONSE for a message start we trust:
 * a known opcode, a length consistent with the capture, a body that parses
 * and, where there is one, a first BSON element with a sane name. */
static int mg_start_kind(const uint8_t *buf, size_t len)
{
	struct mg_view v;
	struct bs_it it;
	struct bs_el e;

	if (buf && len == MG_HDR)
		return mg_header_kind(buf);
	if (!buf || len < MG_HDR + 4 || !mg_view(buf, len, &v))
		return 0;
	if (v.len < len && len - v.len >= 4) {
		uint32_t l2 = f32_le32(buf + v.len);
		if (l2 < MG_HDR || l2 > MG_MAX_TOTAL)
			return 0;
	}
	if (v.doc && v.compressor < 0) {
		if (!bs_open(&it, v.doc, v.doc_avail) || bs_next(&it, &e) <= 0 || e.name_len == 0 ||
		    !mg_printable(e.name, e.name_len))
			return 0;
	} else if (v.op == MG_OP_MSG || v.op == MG_OP_QUERY || v.op == MG_OP_REPLY) {
		return 0; /* nothing to check the header against */
	}
	if (mg_is_request(&v))
		return ZT_MSG_REQUEST;
	return (v.wire_op == MG_OP_REPLY || v.wire_op == MG_OP_MSG || v.wire_op == MG_OP_COMPRESSED) &&
		       v.resp_to
		   ? ZT_MSG_RESPONSE
		   : 0;
}

static int mg_infer(const uint8_t *buf, size_t len, const struct zt_infer_hints *h)
{
	int k = mg_start_kind(buf, len);
	int c = k == ZT_MSG_REQUEST ? (len == MG_HDR ? 60 : 80) : k == ZT_MSG_RESPONSE ? 65 : 0;

	if (c && h && (h->lport == 27017 || h->rport == 27017))
		c += 10;
	return c;
}

static int mg_first_kind(const uint8_t *buf, size_t len)
{
	return mg_start_kind(buf, len);
}

/* ---- redaction -------------------------------------------------------- */

static bool mg_secret_name(const struct bs_el *e, bool auth_cmd)
{
	return bs_name_is(e, "payload") || bs_name_is(e, "pwd") || bs_name_is(e, "password") ||
	       (auth_cmd && bs_name_is(e, "key"));
}

/* Overwrites secret string/binary values in the document at p (avail
 * captured bytes) and in the documents nested in it. */
static size_t mg_redact_doc(uint8_t *p, size_t avail, int depth)
{
	struct bs_it it;
	struct bs_el e;
	size_t done = 0;
	bool auth_cmd = false;
	int k = 0;

	if (depth > MG_DEPTH || !bs_open(&it, p, avail))
		return 0;
	while (k < 256 && bs_next(&it, &e) > 0) {
		if (k++ == 0)
			auth_cmd = bs_name_is(&e, "authenticate");
		size_t vavail = e.cut ? (size_t)(it.p + it.n - e.val) : e.val_len;
		uint8_t *val = (uint8_t *)(uintptr_t)e.val;
		if ((e.type == 2 || e.type == 5) && mg_secret_name(&e, auth_cmd)) {
			size_t from = e.type == 2 ? 4 : 5;
			size_t to = e.type == 2 ? e.val_len - 1 : e.val_len; /* strings keep their NUL */
			if (to > vavail)
				to = vavail;
			for (size_t i = from; i < to; i++, done++)
				val[i] = '*';
		} else if (e.type == 3 || e.type == 4) {
			done += mg_redact_doc(val, vavail, depth + 1);
		}
	}
	return done;
}

/* Overwrites the values of BSON string/binary elements named payload, pwd
 * or password anywhere in buf, without framing: a server reads a message's
 * header and its body in separate syscalls (mongod does), so the body
 * arrives in a segment that starts with no header. Counts the bytes it
 * changed. */
static size_t mg_redact_msgs(uint8_t *buf, size_t len);

static size_t mg_redact_scan(uint8_t *buf, size_t len)
{
	static const char *const names[] = {"payload", "pwd", "password"};
	size_t done = 0;

	for (size_t i = 0; i + 6 <= len; i++) {
		if (buf[i] != 2 && buf[i] != 5)
			continue;
		for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
			size_t nl = strlen(names[k]);
			if (len - i - 1 < nl + 1 + 4 || memcmp(buf + i + 1, names[k], nl + 1))
				continue;
			size_t v = i + 1 + nl + 1;
			uint32_t l = f32_le32(buf + v);
			if (l > MG_MAX_TOTAL || (buf[i] == 2 && l < 1))
				break;
			size_t from = v + (buf[i] == 2 ? 4 : 5);
			size_t to = buf[i] == 2 ? from + l - 1 : from + l;
			if (to > len)
				to = len; /* the rest is in the next segment: not seen here */
			for (size_t j = from; j < to; j++) {
				if (buf[j] != '*')
					done++;
				buf[j] = '*';
			}
			i = to > i ? to - 1 : i;
			break;
		}
	}
	return done;
}

/* Redacts every message that starts in buf (a raw capture, protocol not
 * known yet): the documents of OP_MSG (both kinds of sections), OP_QUERY
 * and OP_REPLY; then secrets in any BSON-looking bytes (mg_redact_scan). */
static size_t mg_redact(uint8_t *buf, size_t len)
{
	size_t done = 0;

	if (!buf)
		return 0;
	done = mg_redact_msgs(buf, len);
	return done + mg_redact_scan(buf, len);
}

static size_t mg_redact_msgs(uint8_t *buf, size_t len)
{
	size_t done = 0, off = 0;
	struct mg_view v;

	while (len - off >= MG_HDR + 5 && mg_view(buf + off, len - off, &v)) {
		size_t end = v.len < len - off ? v.len : len - off;
		uint8_t *m = buf + off;
		if (v.wire_op == MG_OP_MSG) {
			size_t i = MG_HDR + 4;
			for (int k = 0; k < 16 && i < end; k++) {
				uint8_t kind = m[i++];
				if (kind == 0) {
					if (end - i < 4)
						break;
					done += mg_redact_doc(m + i, end - i, 0);
					i += f32_le32(m + i);
				} else if (kind == 1 && end - i >= 4) {
					uint32_t sl = f32_le32(m + i);
					size_t se = i + sl < end ? i + sl : end, j = i + 4;
					while (j < se && m[j])
						j++;
					for (j++; j + 4 < se;) {
						uint32_t dl = f32_le32(m + j);
						done += mg_redact_doc(m + j, se - j, 0);
						if (dl < 5)
							break;
						j += dl;
					}
					i += sl;
				} else {
					break;
				}
			}
		} else if (v.doc && v.wire_op != MG_OP_COMPRESSED) {
			const uint8_t *d = v.doc;
			for (int k = 0; k < 16 && d + 5 <= m + end; k++) {
				uint32_t dl = f32_le32(d);
				done += mg_redact_doc(m + (d - m), (size_t)(m + end - d), 0);
				if (dl < 5)
					break;
				d += dl;
			}
		}
		if (v.len == 0 || v.len >= len - off)
			break;
		off += v.len;
	}
	return done;
}

/* The endpoint of a request: "API resource" ("Produce orders", "find
 * users"), or the API alone; the resource is a name, not a value, so it
 * needs no normalising. */
static void mg_endpoint(const struct zt_msg *req, char *out, size_t outsz)
{
	if (!outsz)
		return;
	if (req->request_resource[0])
		snprintf(out, outsz, "%s %s", req->request_type, req->request_resource);
	else
		snprintf(out, outsz, "%s", req->request_type);
}

const struct zt_proto_ops zt_mongodb_ops = {
    .id = ZT_L7_MONGODB,
    .name = "MongoDB",
    .infer = mg_infer,
    .state_size = sizeof(struct mg_state),
    .init = mg_init,
    .feed = mg_feed,
    .finish = mg_finish,
    .first_kind = mg_first_kind,
    .endpoint = mg_endpoint,
    .redact_payload = mg_redact,
};
