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
