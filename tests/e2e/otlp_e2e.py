"""OTLP interop end to end (root), one `ztrace up --listen --otlp-export`:

(a) ingest: two Node services instrumented with OpenTelemetry's Node SDK
    (tests/e2e/otlp_node: the frontend exports OTLP/HTTP protobuf, the
    backend OTLP/HTTP JSON) send their spans to ztrace's POST /v1/traces;
    curl calls the frontend, which calls the backend. The SDK's spans
    (tap_side app) and ztrace's eBPF spans of the same request must be in
    one trace (`ztrace trace ID --json`), the SDK's tree intact.
(b) export: ztrace sends the assembled spans to a tiny /usr/bin/python3
    OTLP/HTTP receiver (its first answer a 503, to be retried); Debian's
    `protoc --decode` (independent of our code) reads what it saved: eBPF
    spans with kind CLIENT/SERVER, the trace ids, parent links that name
    spans of the same export.
(c) bad requests to /v1/traces get 400/415 and leave the store intact.
"""
import hashlib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import ROOT, ZTRACE, Ztrace, check, finish, spans, wait_for, wait_port  # noqa: E402

ZT_PORT, FRONT_PORT, BACK_PORT, RX_PORT = 20601, 20602, 20603, 20604
NODE_SRC = os.path.join(ROOT, "tests", "e2e", "otlp_node")
CACHE_ROOT = os.environ.get("ZTRACE_TEST_CACHE", "/var/cache/ztrace-tests")
REQ = "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest"


def node_modules():
    """npm ci into a cache dir keyed by the lock file, once."""
    with open(os.path.join(NODE_SRC, "package-lock.json"), "rb") as f:
        key = hashlib.sha256(f.read()).hexdigest()[:16]
    d = os.path.join(CACHE_ROOT, "otlp-node-" + key)
    if not os.path.isdir(os.path.join(d, "node_modules", "@opentelemetry", "sdk-trace-node")):
        tmp = d + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        for f in ("package.json", "package-lock.json"):
            shutil.copy(os.path.join(NODE_SRC, f), tmp)
        r = subprocess.run(["npm", "ci", "--prefer-offline", "--no-audit", "--no-fund"], cwd=tmp,
                           capture_output=True, text=True, timeout=240)
        if r.returncode != 0:
            raise RuntimeError("npm ci failed (the npm registry is needed once): " + r.stderr[-800:])
        shutil.rmtree(d, ignore_errors=True)
        os.rename(tmp, d)
    shutil.copy(os.path.join(NODE_SRC, "app.js"), d)
    return d


class Receiver(http.server.BaseHTTPRequestHandler):
    """Saves each POST body; the first request gets a 503 (retryable)."""
    bodies, lock, refused = [], threading.Lock(), [0]

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with Receiver.lock:
            if Receiver.refused[0] == 0:
                Receiver.refused[0] = 1
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            Receiver.bodies.append((self.headers.get("Content-Type"), body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")  # an empty ExportTraceServiceResponse
        self.end_headers()

    def log_message(self, *a):
        pass


def parse_text_proto(text):
    """protoc's text format -> nested dicts of lists (fields may repeat)."""
    tok = re.findall(r'"(?:[^"\\]|\\.)*"|[{}:]|[^\s{}:"]+', text)
    pos = 0

    def msg():
        nonlocal pos
        out = {}
        while pos < len(tok) and tok[pos] != "}":
            name = tok[pos]
            pos += 1
            if tok[pos] == ":":
                pos += 1
                v = tok[pos]
                pos += 1
                if v.startswith('"'):
                    v = v[1:-1].encode("latin-1").decode("unicode_escape").encode("latin-1")
                out.setdefault(name, []).append(v)
            else:  # name { ... }
                pos += 1
                out.setdefault(name, []).append(msg())
                pos += 1
        return out

    return msg()


def decode_exports(bodies):
    """Every exported span, decoded by protoc (not by ztrace)."""
    out = []
    for ct, body in bodies:
        r = subprocess.run(["protoc", "--proto_path=" + os.path.join(ROOT, "wire"), "--decode=" + REQ,
                            "opentelemetry/proto/collector/trace/v1/trace_service.proto"],
                           input=body, capture_output=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("protoc --decode failed: " + r.stderr.decode()[-300:])
        req = parse_text_proto(r.stdout.decode("latin-1"))
        for rs in req.get("resource_spans", []):
            res = {a["key"][0].decode(): a["value"][0] for a in rs["resource"][0].get("attributes", [])}
            service = res["service.name"]["string_value"][0].decode() if "service.name" in res else None
            for ss in rs.get("scope_spans", []):
                for sp in ss.get("spans", []):
                    attrs = {}
                    for a in sp.get("attributes", []):
                        v = a["value"][0]
                        attrs[a["key"][0].decode()] = (v["string_value"][0].decode() if "string_value" in v
                                                       else int(v["int_value"][0]) if "int_value" in v else None)
                    out.append({
                        "content_type": ct, "service": service,
                        "trace_id": sp["trace_id"][0].hex(), "span_id": sp["span_id"][0].hex(),
                        "parent": sp["parent_span_id"][0].hex() if "parent_span_id" in sp else "",
                        "kind": sp.get("kind", ["SPAN_KIND_UNSPECIFIED"])[0], "name": sp.get("name", [b""])[0],
                        "attrs": attrs, "status": sp.get("status", [{}])[0],
                    })
    return out


def trace_of(data, tid):
    r = subprocess.run([ZTRACE, "trace", tid, "--data", data, "--json"], capture_output=True, text=True)
    return json.loads(r.stdout) if r.returncode == 0 and r.stdout.strip() else None


def post(path_ct, body):
    req = urllib.request.Request(f"http://127.0.0.1:{ZT_PORT}/v1/traces", data=body, method="POST",
                                 headers={"Content-Type": path_ct})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def main():
    t0 = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="zt-otlp-")
    data = os.path.join(tmp, "data")
    procs, zt, rx = [], None, None
    try:
        try:
            app_dir = node_modules()
        except Exception as e:  # noqa: BLE001
            check("otlp: npm ci of the pinned OpenTelemetry SDK", False, str(e))
            return
        rx = http.server.ThreadingHTTPServer(("127.0.0.1", RX_PORT), Receiver)
        threading.Thread(target=rx.serve_forever, daemon=True).start()
        zt = Ztrace(data, "--listen", f"127.0.0.1:{ZT_PORT}",
                    "--otlp-export", f"http://127.0.0.1:{RX_PORT}/v1/traces")
        otlp_url = f"http://127.0.0.1:{ZT_PORT}/v1/traces"
        env = dict(os.environ, OTLP_URL=otlp_url)
        for role, port, fmt in (("backend", BACK_PORT, "json"), ("frontend", FRONT_PORT, "proto")):
            log = open(os.path.join(tmp, role + ".log"), "w")
            procs.append(subprocess.Popen(
                ["node", os.path.join(app_dir, "app.js")], stdout=log, stderr=subprocess.STDOUT,
                env=dict(env, ROLE=role, PORT=str(port), BACKEND_PORT=str(BACK_PORT), SERVICE="shop-" + role,
                         OTLP_FORMAT=fmt)))
        wait_port("127.0.0.1", BACK_PORT, 20)
        wait_port("127.0.0.1", FRONT_PORT, 20)

        # request 1: the caller sends a traceparent (an instrumented client upstream)
        up_tid, up_sid = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
        r1 = json.loads(subprocess.run(
            ["curl", "-sS", "-H", f"traceparent: 00-{up_tid}-{up_sid}-01",
             f"http://127.0.0.1:{FRONT_PORT}/order/1"], capture_output=True, text=True, check=True).stdout)
        # request 2: no header: the SDK starts the trace
        r2 = json.loads(subprocess.run(["curl", "-sS", f"http://127.0.0.1:{FRONT_PORT}/order/2"],
                                       capture_output=True, text=True, check=True).stdout)
        check("otlp: the SDK continued the caller's trace", r1["server"]["trace_id"] == up_tid, str(r1))
        tid2 = r2["server"]["trace_id"]

        def full(tid, need_app, need_ebpf):
            t = trace_of(data, tid)
            if not t:
                return None
            sides = [s["tap_side"] for s in t["spans"]]
            ok = sides.count("app") >= need_app and len(sides) - sides.count("app") >= need_ebpf
            return t if ok else None

        t1, waited = wait_for(lambda: full(up_tid, 3, 4), 20, 0.5)
        t1 = t1 or trace_of(data, up_tid) or {"spans": []}
        sp1 = t1["spans"]
        desc = [(s["tap_side"], s["process"], s["endpoint"], s["span_uid"], s["parent_uid"]) for s in sp1]
        app1 = {s["span_uid"]: s for s in sp1 if s["tap_side"] == "app"}
        ebpf1 = [s for s in sp1 if s["tap_side"] != "app"]
        # the SDK's spans: frontend server + client (protobuf), backend server (JSON)
        f_srv, b_srv = r1["server"]["span_id"], r1["backend"]["server"]["span_id"]
        check("otlp: SDK server span of the frontend (protobuf export) is in the trace",
              f_srv in app1 and app1[f_srv]["process"] == "shop-frontend", str(desc))
        check("otlp: SDK server span of the backend (JSON export) is in the trace",
              b_srv in app1 and app1[b_srv]["process"].startswith("shop-backend"), str(desc))
        f_cli = app1.get(b_srv, {}).get("parent_span_id")
        check("otlp: the SDK's tree: backend server <- frontend client <- frontend server",
              f_cli in app1 and app1[b_srv]["parent_uid"] == f_cli and app1[f_cli]["parent_uid"] == f_srv
              and app1[f_srv]["parent_span_id"] == up_sid, str(desc))
        check("otlp: SDK span fields (kind, method, status code)",
              f_srv in app1 and app1[f_srv]["request_type"] == "GET" and app1[f_srv]["response_code"] == 200
              and app1[f_srv]["attributes"].get("span.kind") == "server"
              and app1[f_srv]["l7_protocol"] == "HTTP", str(app1.get(f_srv)))
        # ztrace's own spans of the same request, on both hops
        hop1 = [s for s in ebpf1 if s["server_port"] == FRONT_PORT]
        hop2 = [s for s in ebpf1 if s["server_port"] == BACK_PORT]
        check("otlp: eBPF spans of curl -> frontend are in the SDK's trace",
              {"client-process", "server-process"} <= {s["tap_side"] for s in hop1}, str(desc))
        check("otlp: eBPF spans of frontend -> backend are in the SDK's trace",
              {"client-process", "server-process"} <= {s["tap_side"] for s in hop2}
              and all(s["span_id"] == f_cli for s in hop2), str(desc))
        check("otlp: the SDK's client span is the parent of the call ztrace saw it make",
              [s["parent_uid"] for s in hop2 if s["tap_side"] == "client-process"] == [f_cli], str(desc))
        check("otlp: the trace was assembled in time", waited < 20, f"{waited:.1f}s")

        # request 2: nothing from the caller: SDK spans + the eBPF spans of
        # the call the SDK made (its traceparent) share the SDK's trace id
        t2, _ = wait_for(lambda: full(tid2, 3, 2), 10, 0.5)
        t2 = t2 or trace_of(data, tid2) or {"spans": []}
        hop2b = [s for s in t2["spans"] if s["tap_side"] != "app" and s["server_port"] == BACK_PORT]
        check("otlp: without a caller's header, SDK spans and the eBPF spans of the SDK's call share a trace",
              sum(s["tap_side"] == "app" for s in t2["spans"]) >= 3
              and {"client-process", "server-process"} <= {s["tap_side"] for s in hop2b},
              str([(s["tap_side"], s["process"], s["endpoint"]) for s in t2["spans"]]))

        # (c) bad requests: clear 4xx, store intact
        before = len(spans(data))
        check("otlp: garbage protobuf -> 400", post("application/x-protobuf", b"\xff\xff\xff\xff") == 400)
        check("otlp: unknown content type -> 415", post("text/plain", b"hello") == 415)
        check("otlp: truncated JSON -> 400", post("application/json", b'{"resourceSpans":[{') == 400)
        check("otlp: the store is intact after bad requests", len(spans(data)) >= before, f"{before}")
        # a request sent twice (an SDK retrying after a timeout) is stored once
        with open(os.path.join(ROOT, "tests", "data", "otlp", "request.txtpb")) as f:
            # the fixture's times moved to now: retention drops spans older than 24 h
            text = re.sub(r"unix_nano: 1700000000", f"unix_nano: {int(time.time()) - 5}", f.read())
        fixture = subprocess.run(
            ["protoc", "--proto_path=" + os.path.join(ROOT, "wire"), "--encode=" + REQ,
             "opentelemetry/proto/collector/trace/v1/trace_service.proto"],
            input=text.encode(), capture_output=True, check=True).stdout
        codes = [post("application/x-protobuf", fixture) for _ in range(2)]
        fixture_uids = {"eee19b7ec3c1b174", "00f067aa0ba902b7", "1122334455667788"}

        def fixture_spans():
            return [s for s in spans(data, "--side", "app", "--since", "1h") if s["span_uid"] in fixture_uids]
        wait_for(lambda: len(fixture_spans()) >= 3, 8, 0.5)
        time.sleep(0.5)  # a second copy, if stored, lands in the same flush
        got_fx = fixture_spans()
        check("otlp: a request posted twice is stored once (spans --side app)",
              codes == [200, 200] and sorted(s["span_uid"] for s in got_fx) == sorted(fixture_uids),
              f"{codes} {[(s['span_uid'], s['process']) for s in got_fx]}")
        with urllib.request.urlopen(f"http://127.0.0.1:{ZT_PORT}/api/v1/status", timeout=5) as r:
            status = json.loads(r.read())
        oi = status.get("otlp", {}).get("ingest", {})
        check("otlp: /api/v1/status counts OTLP ingest and export",
              oi.get("spans_accepted", 0) >= 6 and oi.get("bad_requests") == 2 and oi.get("unsupported") == 1
              and "sent" in status["otlp"].get("export", {}), str(status.get("otlp")))
    finally:
        for p in procs:
            p.terminate()  # SIGTERM: the SDK flushes
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        if zt:
            zt.stop()
    log = zt.text() if zt else ""
    m = re.search(r"otlp ingest: (\d+) requests, (\d+) spans accepted, (\d+) rejected; (\d+) undecodable, "
                  r"\d+ too large, (\d+) unsupported", log)
    check("otlp: ingest counters at exit (spans accepted, bad requests counted)",
          m and int(m.group(2)) >= 6 and int(m.group(4)) == 2 and int(m.group(5)) == 1, log[-600:])

    # (b) export, read back with protoc
    m = re.search(r"otlp export: (\d+) spans sent in (\d+) requests.*?(\d+) retries", log)
    check("otlp export: spans sent, the first 503 retried", m and int(m.group(1)) > 0 and int(m.group(3)) >= 1,
          log[-600:])
    rx.shutdown()
    exported = decode_exports(Receiver.bodies)
    by_id = {s["span_id"]: s for s in exported}
    ex1 = [s for s in exported if s["trace_id"] == up_tid]
    check("otlp export: protobuf bodies (application/x-protobuf)",
          exported and all(s["content_type"] == "application/x-protobuf" for s in exported), str(len(exported)))
    kinds = {(s["attrs"].get("ztrace.tap_side"), s["kind"]) for s in ex1}
    check("otlp export: eBPF spans as CLIENT/SERVER by tap side, SDK spans with their own kind",
          ("client-process", "SPAN_KIND_CLIENT") in kinds and ("server-process", "SPAN_KIND_SERVER") in kinds
          and ("app", "SPAN_KIND_SERVER") in kinds and ("app", "SPAN_KIND_CLIENT") in kinds, str(kinds))
    stored = {s["span_uid"]: s for s in t1["spans"]}
    check("otlp export: every span of the trace exported with its span_uid as span id",
          set(stored) <= {s["span_id"] for s in ex1}, f"{sorted(stored)} vs {sorted(s['span_id'] for s in ex1)}")
    # Spans are exported as the joiner releases them; an SDK span arriving
    # later may replace an eBPF span's inferred parent in the store (a late
    # explicit link) that was already sent: those are checked by membership
    # below, every other parent must be the stored one.
    def want_parent(st):
        if st["parent_uid"]:
            return st["parent_uid"]
        return (st["parent_span_id"] if st["tap_side"] == "app" else st["span_id"]) or ""
    bad_parent = [(s["span_id"], s["parent"], stored[s["span_id"]]["parent_uid"], stored[s["span_id"]]["link_kind"])
                  for s in ex1 if s["span_id"] in stored and s["parent"] != want_parent(stored[s["span_id"]])
                  and not (stored[s["span_id"]]["link_kind"] == "explicit"
                           and stored[s["span_id"]]["tap_side"] == "client-process")]
    check("otlp export: parent links are the assembled ones", not bad_parent, str(bad_parent))
    dangling = [s["span_id"] for s in ex1 if s["parent"] and s["parent"] not in by_id and s["parent"] != up_sid]
    check("otlp export: each parent is a span of the export (or the caller's id)", not dangling, str(dangling))
    srv = [s for s in ex1 if s["attrs"].get("ztrace.tap_side") == "server-process"
           and s["attrs"].get("network.peer.port") and s["attrs"].get("http.request.method") == "GET"]
    check("otlp export: eBPF span attributes (method, status code, peer)",
          srv and srv[0]["attrs"].get("http.response.status_code") == 200
          and srv[0]["attrs"].get("network.peer.address") == "127.0.0.1", str(srv[:1]))
    check("otlp export: the receiver's own requests are not exported",
          not [s for s in exported if s["attrs"].get("url.path", "").startswith("/v1/traces")
               and s["attrs"].get("network.peer.port") == RX_PORT], "")
    if os.environ.get("ZTRACE_KEEP"):
        print(f"# kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"# otlp e2e took {time.monotonic() - t0:.1f}s")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001
        check("otlp: the test ran", False, repr(e))
    finish()
