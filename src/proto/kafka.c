/* SPDX-License-Identifier: MIT */
/*
 * kafka.c - the Kafka wire protocol (https://kafka.apache.org/protocol).
 *
 * Framing: a big-endian int32 size, then the message (frame32.c). Request
 * header v0-v2: api_key int16, api_version int16, correlation_id int32,
 * client_id nullable string (int16 length, even in flexible versions), then
 * tagged fields when the API version is flexible. A response carries only
 * the correlation id (plus tagged fields when flexible, except ApiVersions,
 * whose response header is always v0), so requests and responses pair by
 * KEY = correlation id, and the parser remembers per connection (a bounded
 * ring) which API and version each outstanding correlation id was, to read
 * the response's error code. Produce with acks=0 gets no response: ONEWAY.
 *
 * Fields: request_type = API name, request_resource = the first topic
 * (Produce, Fetch, Metadata, ListOffsets, CreateTopics, DeleteTopics) or the
 * group / coordinator key (group APIs), version = API version, attribute
 * kafka.client_id; response_code = the top-level or first partition error
 * code when not 0, response_exception its name.
 *
 * Only a captured prefix of each message (F32_BUF bytes) is read; record
 * batches are counted, never parsed.
 */
#include "proto/kafka.h"
#include "proto/frame32.h"
#include "proto/proto.h"
#include "bpf/events.h"

#include <stdio.h>
#include <string.h>

#define KF_MAX_TOTAL 0x0fffffffu /* sizes from 0x10000000 up are refused: MQTT, HTTP... */
#define KF_PEND 64		 /* outstanding correlation ids remembered */
#define KF_NO_FLEX 0xff

/* One API: its name, newest version accepted, first flexible version. */
struct kf_api {
	const char *name;
	uint8_t maxv;
	uint8_t flex; /* KF_NO_FLEX: never flexible */
};

/* By api_key; maxv leaves room for a few versions newer than this table. */
static const struct kf_api kf_apis[] = {
    [0] = {"Produce", 13, 9},
    [1] = {"Fetch", 18, 12},
    [2] = {"ListOffsets", 11, 6},
    [3] = {"Metadata", 14, 9},
    [4] = {"LeaderAndIsr", 8, 4},
    [5] = {"StopReplica", 5, 2},
    [6] = {"UpdateMetadata", 9, 6},
    [7] = {"ControlledShutdown", 4, 3},
    [8] = {"OffsetCommit", 10, 8},
    [9] = {"OffsetFetch", 10, 6},
    [10] = {"FindCoordinator", 7, 3},
    [11] = {"JoinGroup", 10, 6},
    [12] = {"Heartbeat", 5, 4},
    [13] = {"LeaveGroup", 6, 4},
    [14] = {"SyncGroup", 6, 4},
    [15] = {"DescribeGroups", 6, 5},
    [16] = {"ListGroups", 6, 3},
    [17] = {"SaslHandshake", 2, KF_NO_FLEX},
    [18] = {"ApiVersions", 5, 3},
    [19] = {"CreateTopics", 8, 5},
    [20] = {"DeleteTopics", 7, 4},
    [21] = {"DeleteRecords", 3, 2},
    [22] = {"InitProducerId", 6, 2},
    [23] = {"OffsetForLeaderEpoch", 5, 4},
    [24] = {"AddPartitionsToTxn", 6, 3},
    [25] = {"AddOffsetsToTxn", 5, 3},
    [26] = {"EndTxn", 5, 3},
    [27] = {"WriteTxnMarkers", 2, 1},
    [28] = {"TxnOffsetCommit", 5, 3},
    [29] = {"DescribeAcls", 4, 2},
    [30] = {"CreateAcls", 4, 2},
    [31] = {"DeleteAcls", 4, 2},
    [32] = {"DescribeConfigs", 5, 4},
    [33] = {"AlterConfigs", 3, 2},
    [34] = {"AlterReplicaLogDirs", 3, 2},
    [35] = {"DescribeLogDirs", 5, 2},
    [36] = {"SaslAuthenticate", 3, 2},
    [37] = {"CreatePartitions", 4, 2},
    [38] = {"CreateDelegationToken", 4, 2},
    [39] = {"RenewDelegationToken", 3, 2},
    [40] = {"ExpireDelegationToken", 3, 2},
    [41] = {"DescribeDelegationToken", 4, 2},
    [42] = {"DeleteGroups", 3, 2},
    [43] = {"ElectLeaders", 3, 2},
    [44] = {"IncrementalAlterConfigs", 2, 1},
    [45] = {"AlterPartitionReassignments", 1, 0},
    [46] = {"ListPartitionReassignments", 1, 0},
    [47] = {"OffsetDelete", 1, KF_NO_FLEX},
    [48] = {"DescribeClientQuotas", 2, 1},
    [49] = {"AlterClientQuotas", 2, 1},
    [50] = {"DescribeUserScramCredentials", 1, 0},
    [51] = {"AlterUserScramCredentials", 1, 0},
    [52] = {"Vote", 2, 0},
    [53] = {"BeginQuorumEpoch", 2, 1},
    [54] = {"EndQuorumEpoch", 2, 1},
    [55] = {"DescribeQuorum", 3, 0},
    [56] = {"AlterPartition", 4, 0},
    [57] = {"UpdateFeatures", 2, 0},
    [58] = {"Envelope", 1, 0},
    [59] = {"FetchSnapshot", 2, 0},
    [60] = {"DescribeCluster", 2, 0},
    [61] = {"DescribeProducers", 1, 0},
    [62] = {"BrokerRegistration", 4, 0},
    [63] = {"BrokerHeartbeat", 2, 0},
    [64] = {"UnregisterBroker", 1, 0},
    [65] = {"DescribeTransactions", 1, 0},
    [66] = {"ListTransactions", 2, 0},
    [67] = {"AllocateProducerIds", 1, 0},
    [68] = {"ConsumerGroupHeartbeat", 1, 0},
    [69] = {"ConsumerGroupDescribe", 1, 0},
    [70] = {"ControllerRegistration", 1, 0},
    [71] = {"GetTelemetrySubscriptions", 1, 0},
    [72] = {"PushTelemetry", 1, 0},
    [73] = {"AssignReplicasToDirs", 1, 0},
    [74] = {"ListClientMetricsResources", 1, 0},
    [75] = {"DescribeTopicPartitions", 1, 0},
};
#define KF_NAPIS ((int)(sizeof(kf_apis) / sizeof(kf_apis[0])))

/* The broker's own trouble (retriable: the client did nothing wrong), as
 * opposed to a request the broker refused. */
static uint8_t kf_status_of(int code)
{
	switch (code) {
	case 0:
		return ZT_RS_OK;
	case -1:
	case 5:
	case 6:
	case 7:
	case 8:
	case 9:
	case 11:
	case 13:
	case 14:
	case 15:
	case 16:
	case 19:
	case 20:
	case 41:
	case 51:
	case 56:
	case 57:
	case 74:
	case 75:
	case 78:
	case 80:
	case 83:
	case 89:
		return ZT_RS_SERVER_ERROR;
	default:
		return ZT_RS_CLIENT_ERROR;
	}
}

/* ---- a bounded reader over the captured prefix ----------------------- */

struct kr {
	const uint8_t *p;
	size_t n, i;
	bool ok;  /* false once a read went past n or met an invalid value */
	bool eof; /* ... past n: the capture was short, not the bytes wrong */
	bool flex;
};

static bool kr_need(struct kr *r, size_t k)
{
	if (!r->ok)
		return false;
	if (r->n - r->i < k) {
		r->ok = false;
		r->eof = true;
		return false;
	}
	return true;
}

static int32_t kr_i32(struct kr *r)
{
	if (!kr_need(r, 4))
		return 0;
	r->i += 4;
	return (int32_t)f32_be32(r->p + r->i - 4);
}

static int16_t kr_i16(struct kr *r)
{
	if (!kr_need(r, 2))
		return 0;
	r->i += 2;
	return (int16_t)f32_be16(r->p + r->i - 2);
}

static void kr_skip(struct kr *r, size_t k)
{
	if (kr_need(r, k))
		r->i += k;
}

static uint32_t kr_uvarint(struct kr *r)
{
	uint32_t v = 0;

	for (int s = 0; s < 35; s += 7) {
		if (!kr_need(r, 1))
			return 0;
		uint8_t b = r->p[r->i++];
		v |= (uint32_t)(b & 0x7f) << s;
		if (!(b & 0x80))
			return v;
	}
	r->ok = false;
	return 0;
}

/* A (nullable) string: int16 length, or uvarint length+1 when flexible.
 * Returns its bytes (NULL for null or on error), its length in *len. */
static const uint8_t *kr_str(struct kr *r, size_t *len)
{
	int64_t n;

	*len = 0;
	if (r->flex)
		n = (int64_t)kr_uvarint(r) - 1;
	else
		n = kr_i16(r);
	if (!r->ok || n < 0)
		return NULL;
	if (!kr_need(r, (size_t)n))
		return NULL;
	r->i += (size_t)n;
	*len = (size_t)n;
	return r->p + r->i - n;
}

/* An array's element count (-1: null); int32, or uvarint count+1 when flexible. */
static int64_t kr_array(struct kr *r)
{
	if (r->flex)
		return (int64_t)kr_uvarint(r) - 1;
	return kr_i32(r);
}

static void kr_tags(struct kr *r)
{
	uint32_t n = kr_uvarint(r);

	for (uint32_t k = 0; k < n && r->ok; k++) {
		(void)kr_uvarint(r);
		kr_skip(r, kr_uvarint(r));
		if (k > 64)
			r->ok = false;
	}
}

static bool kf_flexible(int api, int ver)
{
	return kf_apis[api].flex != KF_NO_FLEX && ver >= kf_apis[api].flex;
}

/* ---- requests --------------------------------------------------------- */

struct kf_req {
	int api, ver;
	uint32_t corr;
	const uint8_t *client; /* NULL: null client id */
	size_t client_len;
	const uint8_t *res; /* topic / group, or NULL */
	size_t res_len;
	int acks;	/* Produce; 1 otherwise */
	bool body_ok;	/* the part of the body we read parsed */
	size_t hdr_end; /* offset of the body */
};

static bool kf_printable(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return false;
	return true;
}

/* Kafka topic names: [a-zA-Z0-9._-]{1,249}. */
static bool kf_topic_ok(const uint8_t *p, size_t n)
{
	if (n == 0 || n > 249)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* The first element's name of an array of structs starting with a string. */
static void kf_first_name(struct kr *r, struct kf_req *q, bool topic)
{
	int64_t n = kr_array(r);
	if (!r->ok || n < -1 || n > 100000) {
		r->ok = false;
		return;
	}
	if (n <= 0)
		return;
	q->res = kr_str(r, &q->res_len);
	if (r->ok && (topic ? !kf_topic_ok(q->res, q->res_len) : !kf_printable(q->res, q->res_len))) {
		r->ok = false;
		q->res = NULL;
	}
}

/* The body fields we report. r is at the body; sets q->body_ok when what
 * was read is valid (a short capture reads less, without failing). */
static void kf_req_body(struct kr *r, struct kf_req *q)
{
	size_t len;

	switch (q->api) {
	case 0: /* Produce */
		if (q->ver >= 3)
			(void)kr_str(r, &len); /* transactional_id */
		q->acks = kr_i16(r);
		if (r->ok && q->acks != 0 && q->acks != 1 && q->acks != -1)
			return;
		if (kr_i32(r) < 0 && r->ok) /* timeout */
			return;
		/* a produce without topics is never sent: refusing it keeps
		 * early responses (correlation id < 14 reads as Produce)
		 * from passing for requests */
		if (r->flex ? (r->i < r->n && r->p[r->i] < 2)
			    : (r->n - r->i >= 4 && f32_be32(r->p + r->i) - 1 >= 10000))
			return;
		kf_first_name(r, q, true);
		if (r->ok) { /* partitions: at least one */
			int64_t np = kr_array(r);
			if (r->ok && (np < 1 || np > 100000))
				return;
		}
		break;
	case 1: /* Fetch */
		kr_skip(r, (q->ver < 15 ? 4 : 0) + 8 + (q->ver >= 3 ? 4 : 0) + (q->ver >= 4 ? 1 : 0) +
			       (q->ver >= 7 ? 8 : 0));
		if (q->ver < 13)
			kf_first_name(r, q, true); /* v13+: topic ids */
		break;
	case 2: /* ListOffsets */
		kr_skip(r, 4 + (q->ver >= 2 ? 1 : 0));
		kf_first_name(r, q, true);
		break;
	case 3: { /* Metadata */
		int64_t n = kr_array(r);
		if (r->ok && n > 0) {
			if (q->ver >= 10)
				kr_skip(r, 16); /* topic_id */
			q->res = kr_str(r, &q->res_len);
			if (r->ok && q->res && !kf_topic_ok(q->res, q->res_len))
				r->ok = false;
		}
		break;
	}
	case 8:
	case 9:
	case 11:
	case 12:
	case 13:
	case 14:
	case 28: /* group_id first */
		if (q->api == 9 && q->ver >= 8) {
			kf_first_name(r, q, false);
			break;
		}
		q->res = kr_str(r, &q->res_len);
		if (r->ok && !kf_printable(q->res, q->res_len))
			r->ok = false;
		break;
	case 10: /* FindCoordinator */
		if (q->ver >= 4) {
			kr_skip(r, 1); /* key_type */
			int64_t n = kr_array(r);
			if (r->ok && n > 0)
				q->res = kr_str(r, &q->res_len);
		} else {
			q->res = kr_str(r, &q->res_len);
		}
		if (r->ok && q->res && !kf_printable(q->res, q->res_len))
			r->ok = false;
		break;
	case 19: /* CreateTopics */
		kf_first_name(r, q, true);
		break;
	case 20: /* DeleteTopics: names (v0-5), then structs with a nullable name */
		kf_first_name(r, q, true);
		break;
	case 15:
	case 42: /* DescribeGroups, DeleteGroups */
		kf_first_name(r, q, false);
		break;
	default:
		break;
	}
	/* a capture too short for the body is no evidence against it */
	q->body_ok = r->ok || r->eof;
}

/* Parses a request's header (and the body fields we report) from a
 * message's captured prefix buf[0..n), size field included. Returns false
 * if this cannot be a Kafka request header; strict, since infer() and
 * resynchronisation rely on it. */
static bool kf_parse_req(const uint8_t *buf, size_t n, uint64_t total, struct kf_req *q)
{
	struct kr r = {.p = buf, .n = n, .i = 4, .ok = true};

	memset(q, 0, sizeof(*q));
	q->acks = 1;
	if (n < 14 || total < 14)
		return false;
	q->api = kr_i16(&r);
	q->ver = kr_i16(&r);
	q->corr = (uint32_t)kr_i32(&r);
	if (q->api < 0 || q->api >= KF_NAPIS || !kf_apis[q->api].name || q->ver < 0 ||
	    q->ver > kf_apis[q->api].maxv)
		return false;
	int16_t cl = kr_i16(&r);
	if (cl < -1 || (uint64_t)cl + 14 > total)
		return false;
	if (cl > 0) {
		size_t have = n - r.i < (size_t)cl ? n - r.i : (size_t)cl;
		q->client = buf + r.i;
		q->client_len = have;
		if (!kf_printable(q->client, have))
			return false;
		r.i += have;
		if (have < (size_t)cl) {
			q->hdr_end = n;
			return true; /* the header runs past the capture */
		}
	}
	r.flex = kf_flexible(q->api, q->ver);
	if (r.flex) {
		/* header tagged fields: clients send none or a few */
		if (r.i < n && r.p[r.i] > 8)
			return false;
		kr_tags(&r);
		if (!r.ok)
			return r.eof; /* short capture: fine */
	}
	q->hdr_end = r.i;
	kf_req_body(&r, q);
	return q->body_ok;
}

/* ---- responses -------------------------------------------------------- */

/* Reads the error code of a response to (api, ver) from r (at the body).
 * Returns true and sets *code when found. */
static bool kf_resp_error(struct kr *r, int api, int ver, int *code)
{
	size_t len;
	int64_t n;

	switch (api) {
	case 0: /* Produce: responses[name, partitions[index, error]] */
	case 2: /* ListOffsets v2+: throttle first */
	case 8: /* OffsetCommit v3+: throttle first */
		if ((api == 2 && ver >= 2) || (api == 8 && ver >= 3))
			kr_i32(r);
		if (kr_array(r) <= 0 || !r->ok)
			return false;
		(void)kr_str(r, &len);
		if (kr_array(r) <= 0 || !r->ok)
			return false;
		kr_i32(r);
		break;
	case 1: /* Fetch */
		if (ver >= 1)
			kr_i32(r);
		if (ver >= 7) {
			*code = kr_i16(r);
			if (!r->ok)
				return false;
			if (*code)
				return true;
			kr_i32(r); /* session_id */
		}
		if (kr_array(r) <= 0 || !r->ok)
			return ver >= 7;
		if (ver >= 13)
			kr_skip(r, 16);
		else
			(void)kr_str(r, &len);
		if (kr_array(r) <= 0 || !r->ok)
			return ver >= 7;
		kr_i32(r);
		break;
	case 3: /* Metadata: brokers, cluster_id, controller, topics[error...] */
		if (ver >= 3)
			kr_i32(r);
		n = kr_array(r);
		if (!r->ok || n < 0 || n > 1000)
			return false;
		for (int64_t k = 0; k < n && r->ok; k++) {
			kr_i32(r);
			(void)kr_str(r, &len);
			kr_i32(r);
			if (ver >= 1)
				(void)kr_str(r, &len);
			if (r->flex)
				kr_tags(r);
		}
		if (ver >= 2)
			(void)kr_str(r, &len);
		if (ver >= 1)
			kr_i32(r);
		if (kr_array(r) <= 0 || !r->ok)
			return r->ok;
		break;
	case 9: /* OffsetFetch (v < 8) */
		if (ver >= 8)
			return false;
		if (ver >= 3)
			kr_i32(r);
		n = kr_array(r);
		if (!r->ok || n < 0)
			return false;
		if (n == 0) {
			if (ver < 2)
				return false;
			break; /* the top-level error */
		}
		(void)kr_str(r, &len);
		if (kr_array(r) <= 0 || !r->ok)
			return false;
		kr_skip(r, 4 + 8 + (ver >= 5 ? 4 : 0));
		(void)kr_str(r, &len); /* metadata */
		break;
	case 10: /* FindCoordinator */
		if (ver >= 1)
			kr_i32(r);
		if (ver >= 4) {
			if (kr_array(r) <= 0 || !r->ok)
				return false;
			(void)kr_str(r, &len);
			kr_i32(r);
			(void)kr_str(r, &len);
			kr_i32(r);
		}
		break;
	case 11: /* JoinGroup: throttle v2+ */
		if (ver >= 2)
			kr_i32(r);
		break;
	case 12:
	case 13:
	case 14:
	case 16:
	case 22:
	case 42: /* throttle v1+ (v0+ for 22, 42) */
		if (ver >= 1 || api == 22 || api == 42)
			kr_i32(r);
		if (api == 42) { /* DeleteGroups: results[group_id, error] */
			if (kr_array(r) <= 0 || !r->ok)
				return false;
			(void)kr_str(r, &len);
		}
		break;
	case 15: /* DescribeGroups: groups[error...] */
		if (ver >= 1)
			kr_i32(r);
		if (kr_array(r) <= 0 || !r->ok)
			return false;
		break;
	case 17:
	case 18:
	case 36: /* SaslHandshake, ApiVersions, SaslAuthenticate: error first */
		break;
	case 19: /* CreateTopics: throttle v2+, topics[name, (v7+ id), error] */
	case 20: /* DeleteTopics: throttle v1+, responses[name, (v6+ id), error] */
		if ((api == 19 && ver >= 2) || (api == 20 && ver >= 1))
			kr_i32(r);
		if (kr_array(r) <= 0 || !r->ok)
			return false;
		(void)kr_str(r, &len);
		if ((api == 19 && ver >= 7) || (api == 20 && ver >= 6))
			kr_skip(r, 16);
		break;
	default:
		return false;
	}
	*code = kr_i16(r);
	return r->ok;
}

/* ---- per-connection state --------------------------------------------- */

struct kf_pend {
	uint32_t corr;
	int16_t api, ver;
	bool used;
};

struct kf_state {
	struct f32_dir d[2];
	int8_t req_dir; /* direction carrying requests; -1: not yet known */
	uint8_t next;	/* ring slot the next request takes */
	struct kf_pend pend[KF_PEND];
};

static void kf_init(void *state)
{
	struct kf_state *s = state;

	f32_dir_init(&s->d[0]);
	f32_dir_init(&s->d[1]);
	s->req_dir = -1;
	s->next = 0;
	memset(s->pend, 0, sizeof(s->pend));
}

static void kf_remember(struct kf_state *s, const struct kf_req *q)
{
	/* Full: the oldest is forgotten (its response gets no error code). */
	struct kf_pend *p = &s->pend[s->next];
	s->next = (uint8_t)((s->next + 1) % KF_PEND);
	p->corr = q->corr;
	p->api = (int16_t)q->api;
	p->ver = (int16_t)q->ver;
	p->used = true;
}

static struct kf_pend *kf_find(struct kf_state *s, uint32_t corr)
{
	for (int i = 0; i < KF_PEND; i++)
		if (s->pend[i].used && s->pend[i].corr == corr)
			return &s->pend[i];
	return NULL;
}

static void kf_set_version(struct zt_msg *m, int ver)
{
	snprintf(m->version, sizeof(m->version), "%d", ver);
}

static void kf_emit_req(struct kf_state *s, struct f32_dir *d, const struct kf_req *q, zt_emit_fn emit,
			void *ctx)
{
	struct zt_msg *m = &d->msg;

	m->kind = ZT_MSG_REQUEST;
	m->key = q->corr;
	m->pair = ZT_PAIR_KEY;
	zt_copy_str(m->request_type, sizeof(m->request_type), kf_apis[q->api].name,
		    strlen(kf_apis[q->api].name));
	kf_set_version(m, q->ver);
	if (q->res)
		zt_copy_str(m->request_resource, sizeof(m->request_resource), (const char *)q->res,
			    q->res_len);
	if (q->client && q->client_len)
		zt_attrs_add(&m->attrs, "kafka.client_id", (const char *)q->client, q->client_len);
	if (d->gap && d->blen < q->hdr_end + 64 && d->blen < d->total)
		m->flags |= ZT_MF_TRUNCATED;
	if (q->api == 0 && q->acks == 0)
		m->pair = ZT_PAIR_ONEWAY; /* acks=0: the broker never answers */
	else
		kf_remember(s, q);
	emit(ctx, m);
}

static void kf_done(void *state, struct f32_dir *d, int dir, zt_emit_fn emit, void *ctx)
{
	struct kf_state *s = state;
	struct zt_msg *m = &d->msg;
	struct kf_req q;
	bool is_req = kf_parse_req(d->buf, d->blen, d->total, &q);

	if (s->req_dir < 0) {
		if (!is_req && d->blen < 14)
			return; /* too little captured to tell a request */
		s->req_dir = (int8_t)(is_req ? dir : !dir);
	}
	if (dir == s->req_dir) {
		if (is_req) {
			kf_emit_req(s, d, &q, emit, ctx);
		} else if (d->blen < 14 && d->total >= 14) {
			/* the header fell in a gap: a request we cannot pair */
			m->kind = ZT_MSG_REQUEST;
			m->pair = ZT_PAIR_KEY;
			m->key = UINT64_MAX;
			m->flags |= ZT_MF_TRUNCATED;
			emit(ctx, m);
		}
		/* else: framed, but not a request we know: dropped */
		return;
	}
	if (d->blen < 8) {
		if (d->total < 8)
			return;		     /* not a response */
		m->flags |= ZT_MF_TRUNCATED; /* no correlation id: an orphan */
	}
	uint32_t corr = d->blen >= 8 ? f32_be32(d->buf + 4) : UINT32_MAX;
	struct kf_pend *p = d->blen >= 8 ? kf_find(s, corr) : NULL;
	m->kind = ZT_MSG_RESPONSE;
	m->pair = ZT_PAIR_KEY;
	m->key = d->blen >= 8 ? corr : UINT64_MAX - 1;
	m->status = ZT_RS_UNKNOWN;
	if (p) {
		struct kr r = {.p = d->buf, .n = d->blen, .i = 8, .ok = true};
		int code = 0;
		r.flex = kf_flexible(p->api, p->ver);
		if (r.flex && p->api != 18) /* ApiVersions answers with header v0 */
			kr_tags(&r);
		if (kf_resp_error(&r, p->api, p->ver, &code)) {
			m->status = kf_status_of(code);
			if (code) {
				const char *name = zt_kafka_error_name(code);
				m->response_code = code;
				m->flags |= ZT_MF_HAS_CODE;
				if (name)
					zt_copy_str(m->response_exception, sizeof(m->response_exception),
						    name, strlen(name));
				else
					snprintf(m->response_exception, sizeof(m->response_exception),
						 "UNKNOWN_ERROR_%d", code);
			}
		} else if (d->gap) {
			m->flags |= ZT_MF_TRUNCATED;
		}
		p->used = false;
	}
	emit(ctx, m);
}

/* A segment in a lost direction starts a message if its size is plausible
 * and it is a request we can parse, or the response to one we remember. */
static bool kf_start_ok(void *state, int dir, const uint8_t *buf, size_t len)
{
	struct kf_state *s = state;
	struct kf_req q;

	if (len < 8)
		return false;
	uint64_t total = (uint64_t)f32_be32(buf) + 4;
	if (total < 8 || total > KF_MAX_TOTAL)
		return false;
	if (s->req_dir < 0 || dir == s->req_dir)
		return kf_parse_req(buf, len < total ? len : total, total, &q);
	return kf_find(s, f32_be32(buf + 4)) != NULL;
}

static const struct f32_proto kf_frame = {
    .little_endian = false,
    .len_includes = false,
    .min_total = 8, /* a response: size + correlation id */
    .max_total = KF_MAX_TOTAL,
    .start_ok = kf_start_ok,
    .done = kf_done,
};

static void kf_feed(void *state, const struct zt_seg *seg, zt_emit_fn emit, void *ctx)
{
	struct kf_state *s = state;

	if (seg->dir > ZT_DIR_INGRESS)
		return;
	f32_feed(&kf_frame, s, &s->d[seg->dir], seg, emit, ctx);
}

static void kf_finish(void *state, uint64_t now_ns, zt_emit_fn emit, void *ctx)
{
	struct kf_state *s = state;

	/* partial messages say little: dropped */
	f32_dir_init(&s->d[0]);
	f32_dir_init(&s->d[1]);
}

/* ---- inference -------------------------------------------------------- */

/* Whether buf starts a Kafka request: header valid, size consistent with
 * the capture; 0, or the confidence. */
static int kf_request_conf(const uint8_t *buf, size_t len)
{
	struct kf_req q;

	if (!buf || len < 14)
		return 0;
	uint64_t total = (uint64_t)f32_be32(buf) + 4;
	if (total < 14 || total > KF_MAX_TOTAL)
		return 0;
	if (total < len) {
		/* pipelined: the next message must frame too */
		if (len - total >= 4) {
			uint64_t t2 = (uint64_t)f32_be32(buf + total) + 4;
			if (t2 < 14 || t2 > KF_MAX_TOTAL)
				return 0;
		}
	}
	if (!kf_parse_req(buf, len < total ? len : total, total, &q))
		return 0;
	/* a body we checked (topic names, acks) is stronger evidence */
	return q.res ? 85 : 75;
}

static int kf_infer(const uint8_t *buf, size_t len, const struct zt_infer_hints *h)
{
	int c = kf_request_conf(buf, len);

	if (c && h && (h->lport == 9092 || h->rport == 9092))
		c += 10;
	return c;
}

static int kf_first_kind(const uint8_t *buf, size_t len)
{
	return kf_request_conf(buf, len) ? ZT_MSG_REQUEST : 0;
}

/* ---- redaction -------------------------------------------------------- */

/* The end of a SaslAuthenticate (36) request header at p (which starts at
 * api_key, no size), or 0 when p is not one. */
static size_t kf_sasl_hdr_end(const uint8_t *p, size_t n)
{
	if (n < 10 || f32_be16(p) != 36 || f32_be16(p + 2) > kf_apis[36].maxv)
		return 0;
	int16_t cl = (int16_t)f32_be16(p + 8);
	if (cl < -1 || (size_t)(cl < 0 ? 0 : cl) > n - 10 || !kf_printable(p + 10, cl < 0 ? 0 : (size_t)cl))
		return 0;
	size_t end = 10 + (cl < 0 ? 0 : (size_t)cl);
	if (f32_be16(p + 2) >= kf_apis[36].flex && end < n && p[end] == 0)
		end++; /* no header tagged fields */
	return end;
}

/* A bare PLAIN token ([authzid] NUL authcid NUL passwd, printable): the
 * password's offset, or 0. */
static size_t kf_plain_pw(const uint8_t *p, size_t n)
{
	int nul = 0;
	size_t last = 0;

	if (n < 3 || n > 1024)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == 0) {
			nul++;
			last = i;
		} else if (p[i] < 0x20 || p[i] > 0x7e) {
			return 0;
		}
	}
	return nul == 2 && last + 1 < n ? last + 1 : 0;
}

static size_t kf_stars(uint8_t *p, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		p[i] = '*';
	return to > from ? to - from : 0;
}

/* SaslAuthenticate requests carry the SASL token (PLAIN: the password);
 * SaslHandshake v0 clients send the raw token framed by a size only. Both
 * are overwritten with '*', whether the segment starts with the size (the
 * client's write) or just after it (a broker that reads the size in a
 * syscall of its own, as Kafka's does). */
static size_t kf_redact(uint8_t *buf, size_t len)
{
	size_t h, pw;

	if (!buf || len < 3)
		return 0;
	if (len >= 14 && f32_be32(buf) <= KF_MAX_TOTAL) {
		uint64_t total = (uint64_t)f32_be32(buf) + 4;
		size_t end = total < len ? (size_t)total : len;
		if ((h = kf_sasl_hdr_end(buf + 4, end - 4)) > 0)
			return kf_stars(buf, 4 + h, end);
		if (total == len && (pw = kf_plain_pw(buf + 4, len - 4)) > 0)
			return kf_stars(buf, 4 + pw, len);
	}
	if ((h = kf_sasl_hdr_end(buf, len)) > 0)
		return kf_stars(buf, h, len);
	/* a token alone: only with the empty authzid clients send, so that
	 * other protocols' text is not touched */
	if (buf[0] == 0 && (pw = kf_plain_pw(buf, len)) > 0)
		return kf_stars(buf, pw, len);
	return 0;
}

/* The endpoint of a request: "API resource" ("Produce orders", "find
 * users"), or the API alone; the resource is a name, not a value, so it
 * needs no normalising. */
static void kf_endpoint(const struct zt_msg *req, char *out, size_t outsz)
{
	if (!outsz)
		return;
	if (req->request_resource[0])
		snprintf(out, outsz, "%s %s", req->request_type, req->request_resource);
	else
		snprintf(out, outsz, "%s", req->request_type);
}

const struct zt_proto_ops zt_kafka_ops = {
    .id = ZT_L7_KAFKA,
    .name = "Kafka",
    .infer = kf_infer,
    .state_size = sizeof(struct kf_state),
    .init = kf_init,
    .feed = kf_feed,
    .finish = kf_finish,
    .first_kind = kf_first_kind,
    .endpoint = kf_endpoint,
    .redact_payload = kf_redact,
};
