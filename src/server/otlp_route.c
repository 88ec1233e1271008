/* SPDX-License-Identifier: MIT */
/* otlp_route.c - see otlp_route.h. */
#include "server/otlp_route.h"

#include <stdlib.h>

static int h_traces(void *ctx, struct zt_http_req *req)
{
	struct zt_otlp_ingest *in = ctx;
	struct zt_otlp_reply rep;
	size_t len = 0;
	const uint8_t *body = zt_http_body(req, &len);
	int rc;

	/* the core has inflated a gzip body and refused other encodings */
	if (zt_otlp_handle(body ? body : (const uint8_t *)"", len, zt_http_header(req, "Content-Type"), NULL, in->host,
			   in->emit, in->emit_ctx, &in->stats, &rep))
		return zt_http_reply_error(req, 500, NULL, "out of memory");
	rc = zt_http_reply_raw(req, (unsigned)rep.status, rep.content_type, rep.body, rep.len);
	free(rep.body);
	return rc;
}

int zt_otlp_route(struct zt_http_server *srv, struct zt_otlp_ingest *in)
{
	return zt_http_route(srv, "POST", "/v1/traces", h_traces, in);
}

#define LOAD(x) ((json_int_t)__atomic_load_n(&(x), __ATOMIC_RELAXED))

json_t *zt_otlp_status_json(struct zt_otlp_ingest *in, struct zt_otlp_exporter *out)
{
	json_t *o = json_object();

	if (o && in)
		json_object_set_new(o, "ingest",
				    json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "requests", LOAD(in->stats.requests),
					      "spans_accepted", LOAD(in->stats.spans_accepted), "spans_rejected",
					      LOAD(in->stats.spans_rejected), "bad_requests", LOAD(in->stats.bad_requests),
					      "too_large", LOAD(in->stats.too_large), "unsupported",
					      LOAD(in->stats.unsupported), "queue_full", LOAD(in->stats.busy)));
	if (o && out) {
		struct zt_otlp_export_stats es;
		zt_otlp_export_get_stats(out, &es);
		json_object_set_new(o, "export",
				    json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s}", "queued", (json_int_t)es.queued, "sent",
					      (json_int_t)es.sent, "dropped_full", (json_int_t)es.dropped_full,
					      "dropped_failed", (json_int_t)es.dropped_failed, "rejected",
					      (json_int_t)es.rejected, "retries", (json_int_t)es.retries, "requests",
					      (json_int_t)es.requests, "last_error", es.last_error));
	}
	return o;
}
