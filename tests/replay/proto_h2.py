"""Golden replays of tests/data/proto/h2: each fixture replays to its golden
spans (golden.check_fixture), and the spans say what the clients in
tests/data/proto/h2/record.py did, checked here independently of the golden
files: methods, paths, statuses, gRPC endpoints and status, message counts,
and that every client span and its server span share a trace id."""
import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden  # noqa: E402
from golden import check, finish  # noqa: E402

D = os.path.join(golden.PROTO_DATA, "h2")


def by_side(spans):
    out = collections.defaultdict(list)
    for s in spans:
        out[s["tap_side"]].append(s)
    return out


def linked(client, server):
    srv = {s["req_tcp_seq"]: s for s in server}
    return sum(1 for c in client if c["req_tcp_seq"] in srv and srv[c["req_tcp_seq"]]["trace_id"] == c["trace_id"])


# nginx h2c: curl, nghttp, h2load
sp = by_side(golden.check_fixture(os.path.join(D, "nginx_h2c")))
cl, sv = sp["client-process"], sp["server-process"]
got = collections.Counter((s["process"], s["l7_protocol"], s["request_type"], s["request_resource"],
                           s["response_code"], s["response_status"]) for s in cl)
check("nginx_h2c: client spans are what curl, nghttp and h2load did", got == collections.Counter({
    ("curl", "HTTP2", "GET", "/ok", 200, "ok"): 1, ("nghttp", "HTTP2", "GET", "/teapot", 418, "client_error"): 1,
    ("nghttp", "HTTP2", "GET", "/items/12345", 200, "ok"): 1, ("h2load", "HTTP2", "GET", "/ok", 200, "ok"): 12}), got)
got = collections.Counter((s["process"], s["request_resource"], s["response_code"], s["endpoint"]) for s in sv)
check("nginx_h2c: nginx's server spans", got == collections.Counter({
    ("nginx", "/ok", 200, "GET /ok"): 13, ("nginx", "/teapot", 418, "GET /teapot"): 1,
    ("nginx", "/items/12345", 200, "GET /items/{id}"): 1}), got)
curl = [s for s in cl if s["process"] == "curl"]
check("nginx_h2c: curl's traceparent is its trace id", curl and curl[0]["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
      and curl[0]["span_id"] == "00f067aa0ba902b7", curl)
check("nginx_h2c: every client span linked to nginx's (same trace id)", linked(cl, sv) == len(cl) == 15,
      f"{linked(cl, sv)} of {len(cl)}")
check("nginx_h2c: nothing partial", not [s for s in cl + sv if "truncated" in s["flags"]])

# grpcio: unary, an error, server streaming
sp = by_side(golden.check_fixture(os.path.join(D, "grpc_python")))
cl, sv = sp["client-process"], sp["server-process"]
check("grpc_python: 5 gRPC spans on each side", len(cl) == len(sv) == 5 and all(
    s["l7_protocol"] == "gRPC" and s["request_type"] == "POST" for s in cl + sv))
got = collections.Counter(s["endpoint"] for s in sv)
check("grpc_python: server endpoints", got == collections.Counter(
    {"/zt.test.Echo/Say": 3, "/zt.test.Echo/Fail": 1, "/zt.test.Echo/Count": 1}), got)
for side, ss in (("client", cl), ("server", sv)):
    fail = [s for s in ss if s["response_code"] == 5]
    check(f"grpc_python: {side}: Fail is grpc-status 5 client_error 'no user bob'",
          [(s["response_status"], s["response_exception"]) for s in fail] == [("client_error", "no user bob")], fail)
    cnt = [s for s in ss if (s["attributes"] or {}).get("grpc.resp_msgs") == "5"]
    check(f"grpc_python: {side}: Count streamed 5 messages in one span", len(cnt) == 1, cnt)
    got = collections.Counter((s["endpoint"], s["response_code"], (s["attributes"] or {}).get("grpc.req_msgs"),
                               (s["attributes"] or {}).get("grpc.resp_msgs")) for s in ss)
    check(f"grpc_python: {side}: endpoints, grpc-status and message counts", got == collections.Counter({
        ("/zt.test.Echo/Say", 0, "1", "1"): 3, ("/zt.test.Echo/Fail", 5, "1", "0"): 1,
        ("/zt.test.Echo/Count", 0, "1", "5"): 1}), got)
    check(f"grpc_python: {side}: nothing partial", not [s for s in ss if "truncated" in s["flags"]])
check("grpc_python: client and server spans linked", linked(cl, sv) == 5, f"{linked(cl, sv)} of 5")
finish()
