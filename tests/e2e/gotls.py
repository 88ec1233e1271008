"""End to end: Go crypto/tls plaintext. The test builds a Go HTTPS server
and client (standard library only, tests/e2e/gotls/) with the installed Go
into a temp dir, makes a self-signed certificate with openssl, and checks:

  spans   `ztrace up` runs once. Server A (stripped with -ldflags=-s -w:
          symbols from .gopclntab) starts BEFORE ztrace, server B (another
          file, with symbols) AFTER it (probed at exec); the Go client
          (started after ztrace too) makes HTTP/1.1 requests on keep-alive
          connections and on a new connection per request. Each request
          must give one client-process and one server-process span with
          method, path and status right, is_tls, linked (same trace_id,
          equal TCP seqs); no span of these ports is parsed from ciphertext.
  records `ztrace record --port B` on another client run: the plaintext
          records themselves (ZT_DF_TLS, tls_lib Go, TLS_READ/TLS_WRITE),
          their payloads, and the seqs of the two sides equal.

  h2      server C (the binary of B, ALPN h2 on) and the client with -h2:
          the same checks on HTTP/2 spans.

Ports 20210-20212. Other tests may run at the same time: everything is
filtered by our ports and pids."""
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import ROOT, Recorder, Ztrace, check, finish, set_prefix, spans, wait_for, wait_port  # noqa: E402

PORT_A, PORT_B, PORT_C = 20210, 20211, 20212
CAPTURE_PATH = os.environ.get("ZT_CAPTURE_PATH", "")
PATH_ARGS = ["--capture-path", CAPTURE_PATH] if CAPTURE_PATH else []
if CAPTURE_PATH:
    set_prefix(f"[{CAPTURE_PATH}] ")
T0 = time.monotonic()
tmp = tempfile.mkdtemp(prefix="zt-gotls-e2e-")
procs = []
zt = None

# bpf/events.h
HDR = struct.Struct("<IIQII16s")
DATA = struct.Struct("<QQQQQIiIIIHHHHBBB5x16s16s")
DATA_SIZE = 152
DF_HAS_SEQ, DF_TLS = 2, 128
SYS_TLS_READ, SYS_TLS_WRITE = 11, 12
TLS_GO = 3


def go_build(out, src, *flags):
    d = os.path.dirname(out)
    env = dict(os.environ, GOCACHE=os.path.join(d, "gocache"), GOPATH=os.path.join(d, "gopath"),
               GOFLAGS="")
    subprocess.run(["go", "build", *flags, "-o", out, os.path.join(ROOT, src)], check=True, env=env,
                   capture_output=True, timeout=120, cwd=d)


def start_server(binary, port, *extra):
    log = open(os.path.join(tmp, f"srv-{port}.log"), "w")
    p = subprocess.Popen([binary, "-addr", f"127.0.0.1:{port}", "-cert", cert, "-key", key, *extra], stdout=log,
                         stderr=subprocess.STDOUT)
    procs.append(p)
    wait_port("127.0.0.1", port)
    return p


def client(port, *args):
    # -wait: ztrace probes a program once it saw it exec (its ring buffer
    # is drained every 50 ms); the client must not be done before that
    r = subprocess.run([client_bin, "-url", f"https://127.0.0.1:{port}", "-wait", "700ms", *args],
                       capture_output=True, text=True, timeout=60)
    if r.returncode:
        raise RuntimeError(f"go client failed: {r.stderr}")
    return [line.split() for line in r.stdout.splitlines()]


def parse_records(path):
    """The data records of a .zrec file (src/agent/record.h)."""
    out = []
    with open(path, "rb") as f:
        raw = f.read()
    off = 64
    while off + 4 <= len(raw):
        (ln,) = struct.unpack_from("<I", raw, off)
        off += 4
        typ, size, ts, pid, tid, comm = HDR.unpack_from(raw, off)
        if typ == 1:
            d = DATA.unpack_from(raw, off + 40)
            out.append(dict(pid=pid, sk=d[2], bytes=d[4], seq=d[7], flags=d[8], lport=d[12], rport=d[13],
                            dir=d[14], sys=d[15], lib=d[16],
                            payload=raw[off + DATA_SIZE:off + DATA_SIZE + d[9]]))
        off += ln
    return out


try:
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=localhost"], check=True, capture_output=True)
    # gotls.sh builds once for both capture paths (GOTLS_BUILD_DIR)
    bdir = os.environ.get("GOTLS_BUILD_DIR") or tmp
    srv_a, srv_b = os.path.join(bdir, "srv-a-stripped"), os.path.join(bdir, "srv-b")
    client_bin = os.path.join(bdir, "goclient")
    if not os.path.exists(client_bin):
        go_build(srv_a, "tests/e2e/gotls/server/main.go", "-ldflags=-s -w")
        go_build(srv_b, "tests/e2e/gotls/server/main.go")
        go_build(client_bin, "tests/e2e/gotls/client/main.go")
        print(f"# built in {time.monotonic() - T0:.1f}s", flush=True)

    pa = start_server(srv_a, PORT_A)  # before ztrace: found by the /proc scan
    zt = Ztrace(os.path.join(tmp, "data"), *PATH_ARGS)
    pb = start_server(srv_b, PORT_B)  # after ztrace: probed at its exec
    pc = start_server(srv_b, PORT_C, "-h2")
    log = zt.text()
    check("server started before ztrace is probed (stripped: pclntab)",
          f"probing Go crypto/tls in {srv_a} (go1." in log and "stripped" in log, log[-2000:])
    found, _ = wait_for(lambda: f"probing Go crypto/tls in {srv_b} (go1." in zt.text(), 10)
    check("server started after ztrace is probed at exec", found, zt.text()[-2000:])

    # (port, client args) -> expected (method, path, code) per request
    runs = [
        (PORT_A, ["-n", "3", "-paths", "/hello,/status/404,/echo"]),  # one keep-alive connection
        (PORT_B, ["-n", "3", "-new", "-paths", "/hello,/status/503"]),  # a new connection per request
        (PORT_B, ["-n", "2", "-paths", "/echo,/status/201"]),
        (PORT_C, ["-n", "2", "-h2", "-paths", "/hello,/status/404,/echo"]),  # HTTP/2 by ALPN
    ]
    ports = (PORT_A, PORT_B, PORT_C)
    want = []
    client_pids = set()
    for port, args in runs:
        for method, path, code, proto in client(port, *args):
            want.append((port, method, path, int(code)))
    pids = {pa.pid, pb.pid, pc.pid}

    def settled():
        # every server span has come, and as many client spans
        got = [s for s in spans(zt.data) if s.get("server_port") in ports]
        srv = [s for s in got if s["tap_side"] == "server-process" and s["pid"] in pids]
        cli = [s for s in got if s["tap_side"] == "client-process"]
        return got if len(srv) >= len(want) and len(cli) >= len(want) else None

    got, waited = wait_for(settled, 15, 0.3)
    got = got or [s for s in spans(zt.data) if s.get("server_port") in ports]
    srv = [s for s in got if s["tap_side"] == "server-process" and s["pid"] in pids]
    cli = [s for s in got if s["tap_side"] == "client-process" and s["process"] == "goclient"]

    def key(s):
        return (s["server_port"], s["request_type"], s["request_resource"], s["response_code"] or -1)

    check(f"{len(want)} requests give as many server spans", sorted(map(key, srv)) == sorted(want),
          f"want {sorted(want)} got {sorted(map(key, srv))}")
    check(f"{len(want)} requests give as many client spans", sorted(map(key, cli)) == sorted(want),
          f"want {sorted(want)} got {sorted(map(key, cli))}")
    check("every span of the Go connections is TLS plaintext (none parsed from ciphertext)",
          got and all(s["is_tls"] and s["l7_protocol"] == ("HTTP2" if s["server_port"] == PORT_C else "HTTP")
                      for s in got),
          [(s["server_port"], s["tap_side"], s["l7_protocol"], s["is_tls"]) for s in got])
    check("HTTP/2 over Go TLS gives h2 spans", sum(s["server_port"] == PORT_C for s in got) == 12,
          [(s["tap_side"], s["l7_protocol"]) for s in got if s["server_port"] == PORT_C])
    check("statuses classified", all(s["response_code"] and s["response_status"] == ("ok" if s["response_code"] < 400 else
                                                              "client_error" if s["response_code"] < 500 else
                                                              "server_error") for s in got),
          [(s["response_code"], s["response_status"]) for s in got])
    by_trace = {}
    for s in srv + cli:
        by_trace.setdefault(s["trace_id"], []).append(s)
    unlinked = [key(s) for s in srv if sorted(x["tap_side"] for x in by_trace[s["trace_id"]]) !=
                ["client-process", "server-process"]]
    check("each server span shares its trace with exactly its client span", not unlinked,
          f"{len(unlinked)} not: {unlinked}")
    seq_ok = all(any(c["req_tcp_seq"] == s["req_tcp_seq"] and c["resp_tcp_seq"] == s["resp_tcp_seq"] and
                     c["client_port"] == s["client_port"] for c in cli) for s in srv)
    check("client and server spans carry the same TCP seqs (the ciphertext's)", seq_ok,
          [(s["req_tcp_seq"], s["resp_tcp_seq"]) for s in srv])
    check("client spans are the Go client's (probed at exec)", all(s["process"] == "goclient" for s in cli), "")
    rc = zt.stop()
    stop_line = [ln for ln in zt.text().splitlines() if "stopped:" in ln]
    check("ztrace up exits cleanly", rc == 0, zt.text()[-1500:])
    check("stop line counts TLS plaintext records",
          stop_line and "tls:" in stop_line[0] and " 0 plaintext" not in stop_line[0], stop_line)
    zt = None

    # The records themselves: one more client run under `ztrace record`
    rec_path = os.path.join(tmp, "go.zrec")
    rec = Recorder(rec_path, "--port", str(PORT_B), *PATH_ARGS)
    procs.append(rec.proc)
    rec.ready()
    client(PORT_B, "-n", "2", "-paths", "/hello")
    time.sleep(0.5)
    rec.stop()
    recs = [r for r in parse_records(rec_path) if r["flags"] & DF_TLS]
    writes = [r for r in recs if r["sys"] == SYS_TLS_WRITE]
    reads = [r for r in recs if r["sys"] == SYS_TLS_READ]
    check("records: plaintext of Go TLS calls, tls_lib Go",
          recs and all(r["lib"] == TLS_GO for r in recs), [(r["sys"], r["lib"]) for r in recs])
    reqs_w = [r for r in writes if r["payload"].startswith(b"GET /hello HTTP/1.1\r\n") and r["rport"] == PORT_B]
    resp_w = [r for r in writes if r["payload"].startswith(b"HTTP/1.1 200 OK\r\n") and r["lport"] == PORT_B]
    check("records: the client's requests and the server's responses in plaintext",
          len(reqs_w) == 2 and len(resp_w) == 2, [(r["lport"], r["rport"], r["payload"][:20]) for r in writes])
    check("records: byte counts and payloads agree",
          all(r["bytes"] == len(r["payload"]) for r in recs if r["bytes"] < 1024), "")
    # the server's read of each request / the client's read of each response
    # has the seq of the ciphertext record the writer started at
    rseqs = {(r["lport"], r["seq"]) for r in reads if r["flags"] & DF_HAS_SEQ}
    check("records: each read carries the seq its writer wrote at",
          all((PORT_B, w["seq"]) in rseqs for w in reqs_w) and all((w["rport"], w["seq"]) in rseqs for w in resp_w),
          f"writes {[(w['lport'], w['rport'], w['seq']) for w in writes]} reads {sorted(rseqs)}")
    check("records: every write has a seq", writes and all(w["flags"] & DF_HAS_SEQ for w in writes), "")
    cipher = [r for r in parse_records(rec_path) if not r["flags"] & DF_TLS and r["bytes"] > 0 and
              r["payload"][:1] == b"\x17"]
    check("records: no application-data ciphertext once the socket is known TLS", not cipher,
          f"{len(cipher)} ciphertext records")
finally:
    if zt:
        zt.stop()
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"# {time.monotonic() - T0:.1f}s", flush=True)
finish()
