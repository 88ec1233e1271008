"""OTLP/HTTP ingest on `ztrace server` (issue 11: the server takes SDK
spans next to its agents).

One `ztrace server --data DIR --listen 127.0.0.1:PORT`; the test POSTs an
OTLP/JSON ExportTraceServiceRequest (two spans of one trace, a SERVER span
and its CLIENT child, hand-written here from the OTLP/JSON spec, not by our
encoder) to /v1/traces. The HTTP worker hands the spans to the ingest
thread (a bounded queue); the ingest thread puts them into the joiner and
the store. Checks:
  - the answer is 200 with an ExportTraceServiceResponse without rejected
    spans; a truncated body gets 400 and stores nothing;
  - `ztrace spans --data DIR --json` shows both spans with tap_side app,
    the service name, endpoint, trace id and parent as sent;
  - `ztrace trace TRACE_ID --data DIR --json`: one trace, the child under
    the root;
  - /api/v1/status counts the OTLP requests and the spans the ingest thread
    took; the stop line says the same.
"""
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import Background, ZTRACE, check, finish, run, spans, wait_for  # noqa: E402

AGENT_PORT, API_PORT = 20810, 20811
TRACE = "5b8efff798038103d269b633813fc60c"
ROOT_ID, CHILD_ID = "eee19b7ec3c1b174", "eee19b7ec3c1b175"


def otlp_request(now_ns):
    def span(sid, parent, name, kind, start, end, attrs):
        s = {"traceId": TRACE, "spanId": sid, "name": name, "kind": kind,
             "startTimeUnixNano": str(start), "endTimeUnixNano": str(end),
             "attributes": [{"key": k, "value": {"stringValue": v} if isinstance(v, str) else {"intValue": str(v)}}
                            for k, v in attrs.items()],
             "status": {}}
        if parent:
            s["parentSpanId"] = parent
        return s
    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}},
                                    {"key": "host.name", "value": {"stringValue": "sdkhost"}}]},
        "scopeSpans": [{"scope": {"name": "manual-test"}, "spans": [
            span(ROOT_ID, None, "GET /cart", 2, now_ns, now_ns + 5_000_000,
                 {"http.request.method": "GET", "url.path": "/cart", "http.response.status_code": 200}),
            span(CHILD_ID, ROOT_ID, "GET /price", 3, now_ns + 1_000_000, now_ns + 3_000_000,
                 {"http.request.method": "GET", "url.full": "http://pricing:8080/price",
                  "http.response.status_code": 200}),
        ]}]}]}


def post(body, ctype="application/json"):
    req = urllib.request.Request(f"http://127.0.0.1:{API_PORT}/v1/traces", data=body, method="POST",
                                 headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def main():
    tmp = tempfile.mkdtemp(prefix="zt-srv-otlp-")
    data = os.path.join(tmp, "data")
    srv = None
    try:
        srv = Background([ZTRACE, "server", "--listen-agents", f"127.0.0.1:{AGENT_PORT}", "--data", data,
                          "--listen", f"127.0.0.1:{API_PORT}", "--status-interval", "0"],
                         os.path.join(tmp, "server.log"), "listening for agents")
        srv.ready(10)
        check("server announces OTLP ingest", "/v1/traces" in srv.text(), srv.text())

        code, body = post(b'{"resourceSpans":[{')
        check("truncated OTLP/JSON -> 400", code == 400, f"{code} {body[:200]!r}")

        now = time.time_ns()
        code, body = post(json.dumps(otlp_request(now)).encode())
        ok = code == 200
        try:
            ans = json.loads(body or b"{}")
        except ValueError:
            ans, ok = None, False
        check("OTLP/JSON request -> 200, nothing rejected",
              ok and not (ans.get("partialSuccess") or {}).get("rejectedSpans"), f"{code} {body[:300]!r}")

        got, waited = wait_for(lambda: [s for s in spans(data) if s.get("trace_id") == TRACE], 10, 0.2)
        got = got or []
        by_uid = {s["span_uid"]: s for s in got}
        check("both SDK spans stored", len(got) == 2 and set(by_uid) == {ROOT_ID, CHILD_ID},
              json.dumps(got)[:800])
        root, child = by_uid.get(ROOT_ID, {}), by_uid.get(CHILD_ID, {})
        check("tap_side app, service, host, endpoint",
              root.get("tap_side") == "app" and child.get("tap_side") == "app"
              and root.get("process") == "checkout" and root.get("host") == "sdkhost"
              and "/cart" in (root.get("endpoint") or ""), json.dumps(root)[:600])
        check("parent as sent", child.get("parent_uid") == ROOT_ID, json.dumps(child)[:600])

        tr = run([ZTRACE, "trace", TRACE, "--data", data, "--json"]).stdout
        try:
            t = json.loads(tr)
        except ValueError:
            t = {}
        tspans = t.get("spans") or []
        check("ztrace trace: one trace of the two spans, child under root",
              len(tspans) == 2 and {s.get("span_uid") for s in tspans} == {ROOT_ID, CHILD_ID}
              and any(s.get("span_uid") == CHILD_ID and s.get("parent_uid") == ROOT_ID for s in tspans),
              tr[:800])

        with urllib.request.urlopen(f"http://127.0.0.1:{API_PORT}/api/v1/status", timeout=5) as r:
            st = json.loads(r.read())
        oi = ((st.get("otlp") or {}).get("ingest")) or {}
        check("/api/v1/status: OTLP counters", oi.get("requests") == 2 and oi.get("spans_accepted") == 2
              and oi.get("bad_requests") == 1 and oi.get("spans_taken") == 2 and oi.get("queue_refused") == 0,
              json.dumps(st.get("otlp"))[:400])
    finally:
        if srv:
            srv.stop()
    check("server stop line counts the OTLP spans",
          srv is not None and "otlp ingest: 2 requests, 2 spans accepted, 0 rejected" in srv.text(),
          srv.text()[-800:] if srv else "")
    check("the store still holds both spans after stop", len([s for s in spans(data) if s.get("trace_id") == TRACE]) == 2)
    shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
