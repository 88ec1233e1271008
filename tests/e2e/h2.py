"""End to end: the real BPF programs trace HTTP/2 and gRPC on loopback.

  - nginx (Debian nginx-light, http_v2) listening with `listen PORT http2`
    (h2c, prior knowledge), driven by curl --http2-prior-knowledge, nghttp
    and h2load (many streams on few connections);
  - a python3-grpcio server and client whose stubs grpc_tools.protoc
    generates here from a .proto this test writes: unary calls, one that
    fails with NOT_FOUND and a message, and a server-streaming call.

Everything is asserted through `ztrace spans --json`: method, path, status,
gRPC endpoint, grpc-status and grpc-message, streamed message counts, the
client side (curl, h2load, the gRPC client) and the server side (nginx, the
gRPC server), and that each client span and its server span share a trace
id (linked by the TCP sequence number of the request's HEADERS frame).

Ports 20010 (nginx) and 20011 (gRPC)."""
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import ZTRACE, Recorder, Ztrace, check, finish, huff_forms, spans, wait_port  # noqa: E402
import json  # noqa: E402

NGINX_PORT = 20010
GRPC_PORT = 20011
H2C_PORT = 20012
PY = "/usr/bin/python3"
T0 = time.monotonic()
# Secrets for the recording check. The bearer token is mostly characters
# with long Huffman codes, so nghttp2 (curl) sends it raw; the cookie and
# nginx's Set-Cookie go Huffman-coded: both forms are searched.
AUTH_TOKEN = "~|~^SEKRIT~|~^~|~^~|~^"
COOKIE = "abc123secretcookie"
SET_COOKIE = "srvsetcookiesecret42"


tmp = tempfile.mkdtemp(prefix="zt-h2-e2e-")
procs = []
zt = None

PROTO = """
syntax = "proto3";
package zt.test;
service Echo {
  rpc Say (Req) returns (Rep);
  rpc Fail (Req) returns (Rep);
  rpc Count (Req) returns (stream Rep);
}
message Req { string name = 1; int32 n = 2; }
message Rep { string msg = 1; }
"""

SERVER = """
import sys, time
from concurrent import futures
import grpc
sys.path.insert(0, sys.argv[1])
import echo_pb2, echo_pb2_grpc

class Echo(echo_pb2_grpc.EchoServicer):
    def Say(self, req, ctx):
        return echo_pb2.Rep(msg="hello " + req.name)
    def Fail(self, req, ctx):
        ctx.abort(grpc.StatusCode.NOT_FOUND, "no user " + req.name)
    def Count(self, req, ctx):
        for i in range(req.n):
            yield echo_pb2.Rep(msg=str(i))

srv = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
echo_pb2_grpc.add_EchoServicer_to_server(Echo(), srv)
srv.add_insecure_port("127.0.0.1:%s" % sys.argv[2])
srv.start()
print("ready", flush=True)
srv.wait_for_termination()
"""

CLIENT = """
import sys
import grpc
sys.path.insert(0, sys.argv[1])
import echo_pb2, echo_pb2_grpc

with grpc.insecure_channel("127.0.0.1:%s" % sys.argv[2]) as ch:
    stub = echo_pb2_grpc.EchoStub(ch)
    for name in ("ann", "bob", "cy"):
        assert stub.Say(echo_pb2.Req(name=name)).msg == "hello " + name
    try:
        stub.Fail(echo_pb2.Req(name="bob"))
        raise SystemExit("Fail did not fail")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.NOT_FOUND, e
    assert [r.msg for r in stub.Count(echo_pb2.Req(n=5))] == ["0", "1", "2", "3", "4"]
print("done", flush=True)
"""

# h2c by Upgrade (RFC 7540 3.2), which nginx does not offer: a minimal
# server written here answers curl --http2's upgraded request on stream 1.
H2C_SERVER = """
import socket, sys
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", int(sys.argv[1])))
ls.listen(4)
print("ready", flush=True)
def frame(t, flags, sid, payload):
    return len(payload).to_bytes(3, "big") + bytes([t, flags]) + sid.to_bytes(4, "big") + payload
def read_until(c, buf, n):
    while len(buf) < n:
        d = c.recv(4096)
        if not d:
            raise EOFError
        buf += d
    return buf
while True:
    c, _ = ls.accept()
    try:
        buf = b""
        while b"\\r\\n\\r\\n" not in buf:
            buf = read_until(c, buf, len(buf) + 1)
        head, buf = buf.split(b"\\r\\n\\r\\n", 1)
        assert b"upgrade: h2c" in head.lower(), head
        c.sendall(b"HTTP/1.1 101 Switching Protocols\\r\\nConnection: Upgrade\\r\\nUpgrade: h2c\\r\\n\\r\\n")
        c.sendall(frame(4, 0, 0, b""))
        buf = read_until(c, buf, 24 + 9)
        assert buf.startswith(b"PRI * HTTP/2.0"), buf[:24]
        c.sendall(frame(4, 1, 0, b""))
        # stream 1 answers the upgraded request: :status 200 (static 8)
        c.sendall(frame(1, 4, 1, bytes([0x88])) + frame(0, 1, 1, b"upgraded\\n"))
        while c.recv(4096):
            pass
    except (EOFError, OSError, AssertionError) as e:
        print("h2c server:", e, flush=True)
    finally:
        c.close()
"""

NGINX_CONF = f"""
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{NGINX_PORT} http2;
        location = /ok {{ return 200 "ok\\n"; }}
        location = /teapot {{ return 418; }}
        location /items/ {{ return 200 "item\\n"; }}
        location = /cred {{ add_header Set-Cookie "sess={SET_COOKIE}; Path=/"; return 200 "cred\\n"; }}
    }}
}}
"""


def start(cmd, **kw):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    procs.append(p)
    return p


def by(ss, **kw):
    return [s for s in ss if all(s.get(k) == v for k, v in kw.items())]


def attr(s, k):
    return (s.get("attributes") or {}).get(k)


def linked(client, server):
    """Client spans whose server span (same request TCP seq) has the same
    trace id, out of all client spans."""
    srv = {s["req_tcp_seq"]: s for s in server}
    ok = sum(1 for c in client if c["req_tcp_seq"] in srv and srv[c["req_tcp_seq"]]["trace_id"] == c["trace_id"]
             and c["trace_id"])
    return ok, len(client)


try:
    # gRPC stubs, generated here
    with open(os.path.join(tmp, "echo.proto"), "w") as f:
        f.write(PROTO)
    subprocess.run([PY, "-m", "grpc_tools.protoc", "-I", tmp, f"--python_out={tmp}", f"--grpc_python_out={tmp}",
                    os.path.join(tmp, "echo.proto")], check=True, capture_output=True, timeout=60)
    for name, text in (("server.py", SERVER), ("client.py", CLIENT), ("nginx.conf", NGINX_CONF),
                       ("h2c_server.py", H2C_SERVER)):
        with open(os.path.join(tmp, name), "w") as f:
            f.write(textwrap.dedent(text))
    nginx = start(["nginx", "-p", tmp, "-c", os.path.join(tmp, "nginx.conf")])
    grpc_srv = start([PY, os.path.join(tmp, "server.py"), tmp, str(GRPC_PORT)])
    wait_port("127.0.0.1", NGINX_PORT)
    wait_port("127.0.0.1", GRPC_PORT)
    h2c_srv = start([PY, os.path.join(tmp, "h2c_server.py"), str(H2C_PORT)])
    wait_port("127.0.0.1", H2C_PORT)
    data = os.path.join(tmp, "data")
    zt = Ztrace(data)
    rec = Recorder(os.path.join(tmp, "h2.zrec"), "--port", str(NGINX_PORT))
    rec.ready()

    # credentials over h2c, recorded: curl (one request: curl 7.88 fails a
    # second URL on a prior-knowledge connection, "Error in the HTTP2 framing
    # layer", with or without ztrace) and nghttp (two on one connection, the
    # second one's headers from the dynamic table; HEADERS with PRIORITY)
    creds = ["-H", f"authorization: Bearer {AUTH_TOKEN}", "-H", f"cookie: sid={COOKIE}"]
    out = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-D", "-", "-o", "/dev/null", *creds,
                          f"http://127.0.0.1:{NGINX_PORT}/cred?by=curl"], capture_output=True, text=True, timeout=30)
    check("credentials: nginx sent the Set-Cookie over h2c", out.stdout.count(f"sess={SET_COOKIE}") == 1,
          out.stdout + out.stderr)
    out = subprocess.run(["nghttp", "-n", *creds, f"http://127.0.0.1:{NGINX_PORT}/cred?by=nghttp1",
                          f"http://127.0.0.1:{NGINX_PORT}/cred?by=nghttp2"], capture_output=True, text=True,
                         timeout=30)
    check("credentials: nghttp ran", out.returncode == 0, out.stdout + out.stderr)

    # nginx: curl (prior knowledge), nghttp, h2load
    out = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", f"http://127.0.0.1:{NGINX_PORT}/ok",
                          "-H", "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"],
                         capture_output=True, text=True, timeout=30)
    check("curl --http2-prior-knowledge got nginx's answer", out.stdout == "ok\n", out.stdout + out.stderr)
    out = subprocess.run(["nghttp", "-n", f"http://127.0.0.1:{NGINX_PORT}/teapot",
                          f"http://127.0.0.1:{NGINX_PORT}/items/12345"], capture_output=True, text=True, timeout=30)
    check("nghttp ran", out.returncode == 0, out.stdout + out.stderr)
    out = subprocess.run(["h2load", "-n", "40", "-c", "2", "-m", "4", f"http://127.0.0.1:{NGINX_PORT}/ok"],
                         capture_output=True, text=True, timeout=60)
    check("h2load: 40 requests succeeded", "40 succeeded" in out.stdout, out.stdout[-600:] + out.stderr[-300:])
    # h2c by Upgrade: curl --http2 on an http:// URL asks for it
    out = subprocess.run(["curl", "-sS", "--http2", f"http://127.0.0.1:{H2C_PORT}/up"], capture_output=True,
                         text=True, timeout=30)
    check("curl --http2 upgraded to h2c and got the answer", out.stdout == "upgraded\n", out.stdout + out.stderr)
    # gRPC
    out = subprocess.run([PY, os.path.join(tmp, "client.py"), tmp, str(GRPC_PORT)], capture_output=True, text=True,
                         timeout=60)
    check("grpc client ran", out.returncode == 0 and "done" in out.stdout, out.stdout + out.stderr)
    time.sleep(1.5)
    rrc = rec.stop()
    check("ztrace record exits 0", rrc == 0, rec.text()[-1500:])
    with open(rec.path, "rb") as f:
        blob = f.read()
    check("credentials: the recording holds the h2c exchange",
          b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" in blob and len(blob) > 2000, f"{len(blob)} bytes")
    leaks = [name for name, forms in (("Authorization raw", [AUTH_TOKEN.encode()]),
                                      ("Authorization huffman", huff_forms(AUTH_TOKEN)),
                                      ("Cookie raw", [COOKIE.encode()]), ("Cookie huffman", huff_forms(COOKIE)),
                                      ("Set-Cookie raw", [SET_COOKIE.encode()]),
                                      ("Set-Cookie huffman", huff_forms(SET_COOKIE)))
             if any(len(f) >= 4 and f in blob for f in forms)]
    check("credentials: no h2 header secret in the recording", not leaks, ", ".join(leaks))
    out = subprocess.run([ZTRACE, "replay", rec.path, "--no-store", "--json"], capture_output=True, text=True,
                         timeout=60)
    rs = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    got = sorted((s["tap_side"], s["l7_protocol"], s["request_resource"], s["response_code"])
                 for s in rs if s["request_resource"].startswith("/cred"))
    check("credentials: the redacted recording replays to the h2 spans", got == sorted(
        (side, "HTTP2", f"/cred?by={by_}", 200) for side in ("client-process", "server-process")
        for by_ in ("curl", "nghttp1", "nghttp2")),
        f"{got} {out.stderr[-500:]}")
    rc = zt.stop()
    check("ztrace up exits cleanly", rc == 0, zt.text()[-2000:])
    zt = None

    all_spans = spans(data)
    h2 = [s for s in all_spans if s["server_port"] == NGINX_PORT and not s["request_resource"].startswith("/cred")]
    cred = [s for s in all_spans if s["server_port"] == NGINX_PORT and s["request_resource"].startswith("/cred")]
    check("credentials: ztrace up stored the 6 /cred spans, linked", len(cred) == 6
          and linked(by(cred, tap_side="client-process"), by(cred, tap_side="server-process")) == (3, 3),
          [(s["tap_side"], s["request_resource"]) for s in cred])
    g = [s for s in all_spans if s["server_port"] == GRPC_PORT]
    cli_h2 = by(h2, tap_side="client-process")
    srv_h2 = by(h2, tap_side="server-process")

    # curl
    c = by(cli_h2, process="curl")
    check("curl: one HTTP2 client span GET /ok 200",
          [(s["l7_protocol"], s["request_type"], s["request_resource"], s["response_code"], s["response_status"])
           for s in c] == [("HTTP2", "GET", "/ok", 200, "ok")], c)
    check("curl: its traceparent is the span's trace id",
          c and c[0]["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736" and c[0]["span_id"] == "00f067aa0ba902b7", c)
    check("curl: domain is :authority", c and c[0]["request_domain"] == f"127.0.0.1:{NGINX_PORT}", c)
    # nghttp
    n = by(cli_h2, process="nghttp")
    got = sorted((s["request_resource"], s["response_code"], s["response_status"], s["endpoint"]) for s in n)
    check("nghttp: /teapot 418 client_error, /items/12345 200 (endpoint /items/{id})",
          got == [("/items/12345", 200, "ok", "GET /items/{id}"), ("/teapot", 418, "client_error", "GET /teapot")],
          got)
    # h2load: 40 requests, 4 streams in flight on each of 2 connections
    hl = by(cli_h2, process="h2load")
    check("h2load: 40 client spans GET /ok 200",
          len(hl) == 40 and all(s["request_resource"] == "/ok" and s["response_code"] == 200 for s in hl),
          collections.Counter((s["request_resource"], s["response_code"]) for s in hl))
    check("h2load: spans on 2 connections", len({s["client_port"] for s in hl}) == 2,
          {s["client_port"] for s in hl})
    # nginx's side
    ng = by(srv_h2, process="nginx")
    check("nginx: 43 server spans (curl 1, nghttp 2, h2load 40)",
          len(ng) == 43 and len(by(ng, request_resource="/ok")) == 41, collections.Counter(
              (s["request_resource"], s["response_code"]) for s in ng))
    check("nginx: no truncated or partial h2 span",
          not [s for s in h2 if "truncated" in (s.get("flags") or [])], [s["flags"] for s in h2][:5])
    ok, tot = linked(cli_h2, srv_h2)
    check(f"h2: every client span shares its trace id with nginx's span ({ok}/{tot})", tot == 43 and ok == tot)

    # h2c: the upgraded request is answered on stream 1, over HTTP/2
    up = [s for s in all_spans if s["server_port"] == H2C_PORT]
    got = sorted((s["tap_side"], s["process"], s["l7_protocol"], s["request_type"], s["request_resource"],
                  s["response_code"]) for s in up)
    check("h2c upgrade: GET /up answered 200 on stream 1, HTTP2, both sides",
          got == [("client-process", "curl", "HTTP2", "GET", "/up", 200),
                  ("server-process", "python3", "HTTP2", "GET", "/up", 200)], got)
    ok, tot = linked(by(up, tap_side="client-process"), by(up, tap_side="server-process"))
    check(f"h2c upgrade: client and server spans linked ({ok}/{tot})", tot == 1 and ok == 1)

    # gRPC, both sides: grpcio's C core writes a request as one sendmsg of
    # 20+ iovecs (a slice per header name and value)
    for side in ("client-process", "server-process"):
        ss = by(g, tap_side=side)
        say = by(ss, endpoint="/zt.test.Echo/Say")
        check(f"grpc {side}: 3 Say spans gRPC POST, grpc-status 0, 1 message each way",
              len(say) == 3 and all(s["l7_protocol"] == "gRPC" and s["request_type"] == "POST"
                                    and s["response_code"] == 0 and s["response_status"] == "ok"
                                    and attr(s, "grpc.req_msgs") == "1" and attr(s, "grpc.resp_msgs") == "1"
                                    for s in say), say)
        fail = by(ss, endpoint="/zt.test.Echo/Fail")
        check(f"grpc {side}: Fail is NOT_FOUND (5), client_error, 'no user bob'",
              [(s["response_code"], s["response_status"], s["response_exception"]) for s in fail]
              == [(5, "client_error", "no user bob")], fail)
        cnt = by(ss, endpoint="/zt.test.Echo/Count")
        check(f"grpc {side}: Count streams 5 messages in one span",
              [(s["response_code"], attr(s, "grpc.req_msgs"), attr(s, "grpc.resp_msgs")) for s in cnt]
              == [(0, "1", "5")], cnt)
        check(f"grpc {side}: domain is :authority, nothing partial",
              len(ss) == 5 and all(s["request_domain"] == f"127.0.0.1:{GRPC_PORT}"
                                   and "truncated" not in (s.get("flags") or []) for s in ss),
              [(s["request_domain"], s.get("flags")) for s in ss])
    ok, tot = linked(by(g, tap_side="client-process"), by(g, tap_side="server-process"))
    check(f"grpc: client and server spans linked, same trace id ({ok}/{tot})", tot == 5 and ok == tot)
    check("test took < 90 s", time.monotonic() - T0 < 90, f"{time.monotonic() - T0:.0f} s")
finally:
    if zt:
        zt.stop()
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
    shutil.rmtree(tmp, ignore_errors=True)
finish()
