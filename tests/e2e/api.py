"""End to end: the HTTP API of `ztrace up` (src/server/api*.c) on real
traffic, checked against the CLI reading the same store.

One `ztrace up` serves the API on the host side of a veth pair this test
creates (10.204.77.1, a non-loopback address: the token is required), with
--token-file. Traffic: curl -> Debian's nginx, and a two-hop trace (driver ->
Flask front -> Flask back, tests/e2e/traces_apps.py). Every API call is made
with curl (a subprocess), never from this python process: the Flask apps and
the driver are python3 too, and the test's own calls must not become spans
of the traces it compares. Other tests on the host may run at the same time
and ztrace traces the whole host: every comparison filters on this test's
ports or its unique paths.

Checks: each /api/v1 endpoint against `ztrace spans/traces/trace --json` on
the same data (with every filter), paging by cursor and by offset (stable
while new spans arrive), every bad parameter -> 400 naming it, unknown
route -> 404, wrong method -> 405 with Allow, bad/oversized/truncated/
garbage requests -> 4xx and the store intact, the token (missing, wrong,
right; and `up` refusing a non-loopback address without --token-file), the
CLI's --server output byte-equal to its --data output, and the Jaeger API
against Jaeger's JSON model (model/json/model.go: Trace, Span, Reference,
KeyValue, Process; the query service's structuredResponse)."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import ZTRACE, Ztrace, check, finish, run, wait_for, wait_port  # noqa: E402

PY = "/usr/bin/python3"
APPS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "traces_apps.py")
API_PORT, NGINX_PORT, FRONT_PORT, BACK_PORT, SPARE_PORT = 20401, 20410, 20411, 20412, 20403
# letters only: the endpoint normaliser would turn a number into {id}
TAG = "".join(chr(ord("a") + int(d)) for d in str(os.getpid()))
FRONT, BACK = f"apifront{TAG}", f"apiback{TAG}"
NS = f"ztapi{os.getpid()}"
VETH = f"ztah{os.getpid() % 100000}"
HOST_IP, NS_IP = "10.204.77.1", "10.204.77.2"
BASE = f"http://{HOST_IP}:{API_PORT}"
TOKEN = "tok-" + os.urandom(12).hex()

tmp = tempfile.mkdtemp(prefix="zt-api-")
data = os.path.join(tmp, "data")
token_file = os.path.join(tmp, "token")
with open(token_file, "w") as f:
    f.write(TOKEN + "\n")
bad_token_file = os.path.join(tmp, "badtoken")
with open(bad_token_file, "w") as f:
    f.write("wrong-" + TOKEN + "\n")
procs = []
zt = None
ns_made = False


def sh(*cmd, check_rc=True):
    return subprocess.run(cmd, check=check_rc, capture_output=True, text=True)


def api(path, token=TOKEN, method="GET", extra=(), base=BASE):
    """(status, parsed JSON or None, headers text) of one curl request."""
    body = os.path.join(tmp, "body")
    hdrs = os.path.join(tmp, "hdrs")
    cmd = ["curl", "-s", "-g", "-X", method, "-o", body, "-D", hdrs, "-w", "%{http_code}", "--max-time", "20"]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    cmd += list(extra) + [base + path]
    r = subprocess.run(cmd, capture_output=True, text=True)
    try:
        with open(body) as f:
            j = json.load(f)
    except (OSError, ValueError):
        j = None
    with open(hdrs) as f:
        h = f.read()
    return int(r.stdout or 0), j, h


def cli_json(*args):
    out = run([ZTRACE, *args]).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def nginx_conf():
    return f"""
user root;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
daemon off;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body-tmp;
    server {{
        listen 127.0.0.1:{NGINX_PORT};
        location /item/ {{ return 200 "item\\n"; }}
        location /missing {{ return 404; }}
        location /boom {{ return 503; }}
    }}
}}
"""


def curl_many(paths):
    urls = [f"http://127.0.0.1:{NGINX_PORT}{p}" for p in paths]
    sh("curl", "-s", "-o", "/dev/null", *urls)


def stable_count(args, timeout=15):
    """Waits until `ztrace spans ARGS` stops growing; returns its spans."""
    last = None
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        cur = cli_json("spans", "--data", data, "--json", "--limit", "0", *args)
        if last is not None and len(cur) == len(last) and len(cur) > 0:
            return cur
        last = cur
        time.sleep(1.5)
    return last or []


def setup_netns():
    global ns_made
    sh("ip", "netns", "add", NS)
    ns_made = True
    sh("ip", "link", "add", VETH, "type", "veth", "peer", "name", VETH + "n")
    sh("ip", "link", "set", VETH + "n", "netns", NS)
    sh("ip", "addr", "add", f"{HOST_IP}/30", "dev", VETH)
    sh("ip", "link", "set", VETH, "up")
    sh("ip", "netns", "exec", NS, "ip", "addr", "add", f"{NS_IP}/30", "dev", VETH + "n")
    sh("ip", "netns", "exec", NS, "ip", "link", "set", VETH + "n", "up")
    sh("ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up")


def cleanup():
    if zt:
        zt.stop()
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
    if ns_made:
        sh("ip", "link", "del", VETH, check_rc=False)
        sh("ip", "netns", "del", NS, check_rc=False)
    shutil.rmtree(tmp, ignore_errors=True)


# ---- refusals before anything starts ---------------------------------------

def test_refusals():
    r = subprocess.run([ZTRACE, "up", "--data", os.path.join(tmp, "x"), "--listen", f"{HOST_IP}:{API_PORT}"],
                       capture_output=True, text=True, timeout=20)
    check("up refuses a non-loopback --listen without --token-file",
          r.returncode == 2 and "--token-file" in r.stderr, f"rc {r.returncode}: {r.stderr}")
    r = subprocess.run([ZTRACE, "up", "--data", os.path.join(tmp, "x"), "--listen", "0.0.0.0:1"],
                       capture_output=True, text=True, timeout=20)
    check("up refuses 0.0.0.0 without --token-file", r.returncode == 2 and "--token-file" in r.stderr, r.stderr)
    r = subprocess.run([ZTRACE, "up", "--data", os.path.join(tmp, "x"), "--listen", "localhost:80"],
                       capture_output=True, text=True, timeout=20)
    check("up refuses a bad --listen", r.returncode == 2 and "invalid listen address" in r.stderr, r.stderr)
    busy = socket.socket()
    busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    busy.bind(("127.0.0.1", SPARE_PORT))
    busy.listen(1)
    t0 = time.monotonic()
    r = subprocess.run([ZTRACE, "up", "--data", os.path.join(tmp, "busy"), "--listen", f"127.0.0.1:{SPARE_PORT}"],
                       capture_output=True, text=True, timeout=30)
    busy.close()
    check("up with its port in use says so and stops before tracing",
          r.returncode == 1 and "in use" in r.stderr and "tracing this host" not in r.stderr,
          f"rc {r.returncode} in {time.monotonic() - t0:.1f}s: {r.stderr}")


# ---- traffic ---------------------------------------------------------------

def start_traffic():
    with open(os.path.join(tmp, "nginx.conf"), "w") as f:
        f.write(nginx_conf())
    procs.append(subprocess.Popen(["nginx", "-c", os.path.join(tmp, "nginx.conf")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    applog = os.path.join(tmp, "apps.log")
    out = open(os.path.join(tmp, "apps.out"), "w")
    procs.append(subprocess.Popen([PY, APPS, "flask", BACK, "127.0.0.1", str(BACK_PORT), applog, "[]"],
                                  stdout=out, stderr=subprocess.STDOUT))
    procs.append(subprocess.Popen([PY, APPS, "flask", FRONT, "127.0.0.1", str(FRONT_PORT), applog,
                                   json.dumps([[BACK, f"http://127.0.0.1:{BACK_PORT}"]])],
                                  stdout=out, stderr=subprocess.STDOUT))
    for p in (NGINX_PORT, FRONT_PORT, BACK_PORT):
        wait_port("127.0.0.1", p, 15)
    curl_many([f"/item/{i}" for i in range(40)] + ["/missing"] * 4 + ["/boom"] * 3)
    sh(PY, APPS, "driver", "127.0.0.1", str(FRONT_PORT), f"/{FRONT}", "6", "1", os.path.join(tmp, "driver.log"))


# ---- /api/v1 against the CLI ------------------------------------------------

PORTF = [f"port={NGINX_PORT}", ["--port", str(NGINX_PORT)]]


def test_spans():
    nginx_pid = None
    base = stable_count(["--port", str(NGINX_PORT)])
    check("traffic stored (nginx spans)", len(base) >= 47 * 2, f"{len(base)} spans")
    for s in base:
        if s["process"] == "nginx":
            nginx_pid = s["pid"]
    cases = [
        ("", []),
        ("protocol=HTTP", ["--protocol", "http"]),
        ("process=NGI", ["--process", "NGI"]),
        ("status=client_error", ["--status", "client_error"]),
        ("status=server_error", ["--status", "server_error"]),
        ("errors=true", ["--errors"]),
        ("min_duration=1us", ["--min-duration", "1us"]),
        ("path=/item/1", ["--path", "/item/1"]),
        ("endpoint=GET", ["--endpoint", "GET"]),
        (f"pid={nginx_pid}", ["--pid", str(nginx_pid)]),
        ("tap_side=server", ["--side", "server"]),
        ("tap_side=client", ["--side", "client"]),
        ("since=1h", ["--since", "1h"]),
        ("limit=5", ["--limit", "5"]),
    ]
    for q, flags in cases:
        st, j, _ = api(f"/api/v1/spans?{PORTF[0]}&limit={5 if 'limit' in q else 10000}" + (f"&{q}" if q and 'limit' not in q else ""))
        want = cli_json("spans", "--data", data, "--json", "--limit", "5" if "limit" in q else "10000",
                        *PORTF[1], *flags)
        got = j.get("spans") if j else None
        check(f"/api/v1/spans?{q or '(port only)'} equals ztrace spans {' '.join(flags)}",
              st == 200 and got == want and len(want) > 0,
              f"status {st}, {len(got or [])} vs {len(want)} spans")
    return base


def test_paging(base):
    total = len(base)
    pages, path, seen = [], f"/api/v1/spans?{PORTF[0]}&limit=7", 0
    st, first, _ = api(path)
    page1 = first["spans"] if first else []
    # spans arriving between pages must not shift them (the cursor pins page 1)
    curl_many([f"/item/late{i}" for i in range(9)])
    time.sleep(2.5)
    j = first
    while j is not None and seen < 100:
        pages.append(j["spans"])
        seen += 1
        if not j.get("next"):
            break
        st, j, _ = api(j["next"])
        if st != 200:
            break
    joined = [s for p in reversed(pages) for s in p]
    check("paging by cursor: pages of 7 join into the spans of page 1's moment, in order",
          joined == base and all(len(p) == 7 for p in pages[:-1]),
          f"{len(joined)} spans in {len(pages)} pages vs {total}")
    check("paging: first page equals ztrace spans --limit 7", page1 == base[-7:], "")
    st, j, _ = api(f"/api/v1/spans?{PORTF[0]}&limit=7&offset=7")
    now = cli_json("spans", "--data", data, "--json", "--limit", "14", *PORTF[1])
    check("paging by offset: offset=7 is the 7 spans before the newest 7",
          st == 200 and j["spans"] == now[:7] and j["offset"] == 7, f"status {st}")
    st, j, _ = api(f"/api/v1/spans?{PORTF[0]}&limit=10000&offset=100000")
    check("paging past the end: empty, no next", st == 200 and j["spans"] == [] and j["next"] is None, str(j)[:200])


def test_traces():
    # the two-hop traces: their root is the driver's call to the front
    want = cli_json("traces", "--data", data, "--json", "--endpoint", FRONT, "--limit", "100")
    st, j, _ = api(f"/api/v1/traces?endpoint={FRONT}&limit=100")
    check("/api/v1/traces?endpoint= equals ztrace traces --json",
          st == 200 and j["traces"] == want and len(want) >= 6, f"status {st}, {len(want)} traces")
    for q, flags in [("sort=duration", ["--sort", "duration"]), ("errors=1", ["--errors"]),
                     ("min_duration=1ms", ["--min-duration", "1ms"]), ("since=10m", ["--since", "10m"]),
                     ("limit=2", ["--limit", "2"])]:
        st, j, _ = api(f"/api/v1/traces?endpoint={FRONT}&{q}" + ("" if "limit" in q else "&limit=100"))
        w = cli_json("traces", "--data", data, "--json", "--endpoint", FRONT, *flags,
                     *([] if "limit" in q else ["--limit", "100"]))
        check(f"/api/v1/traces?{q} equals ztrace traces {' '.join(flags)}",
              st == 200 and j["traces"] == w, f"status {st}, {len(j['traces']) if j else None} vs {len(w)}")
    tid = want[0]["trace_id"] if want else "none"
    st, j, _ = api(f"/api/v1/traces/{tid}")
    w = cli_json("trace", tid, "--data", data, "--json")
    check("/api/v1/traces/{id} equals ztrace trace ID --json",
          st == 200 and w and j == w[0] and len(j["spans"]) >= 4, f"status {st}, {len(j['spans']) if j else 0} spans")
    st, j, _ = api("/api/v1/traces/0123456789abcdef0123456789abcdef")
    check("/api/v1/traces/{unknown} -> 404 naming id", st == 404 and j.get("param") == "id", f"{st} {j}")
    st, j, _ = api("/api/v1/traces/" + "a" * 40)
    check("/api/v1/traces/{too long} -> 400 naming id", st == 400 and j.get("param") == "id", f"{st} {j}")
    return want


def test_services_status():
    st, j, _ = api("/api/v1/services")
    names = [s["name"] for s in j["services"]] if j else []
    counts = [s["spans"] for s in j["services"]] if j else []
    n_nginx = len(cli_json("spans", "--data", data, "--json", "--limit", "0", *PORTF[1], "--process", "nginx"))
    ng = [s for s in (j or {}).get("services", []) if s["name"] == "nginx"]
    check("/api/v1/services lists nginx and python3, each once, busiest first",
          st == 200 and "nginx" in names and "python3" in names and len(set(names)) == len(names)
          and counts == sorted(counts, reverse=True) and ng and ng[0]["spans"] >= n_nginx
          and ng[0]["errors"] >= 7, f"status {st}: {str(j)[:300]}")
    st, j, _ = api("/api/v1/status")
    ver = run([ZTRACE, "version"]).stdout.split()[1]
    ok = (st == 200 and j["version"] == ver and j["store"]["spans_written"] > 0 and j["store"]["backend"] == "sqlite"
          and j["store"]["used_bytes"] > 0 and "ring_full" in j["drops"] and "store_failed" in j["drops"]
          and j["pipeline"]["spans"] > 0 and j["agents"] == [] and j["http"]["requests"] > 0
          and j["http"]["unauthorized"] >= 0)
    check("/api/v1/status: version, store health, pipeline, drops, agents", ok, str(j)[:400])


def test_bad_params():
    bad = {
        "/api/v1/spans": ["since=abc", "protocol=nope", "process=", "status=bad", "errors=maybe",
                          "min_duration=1x", "path=", "endpoint=", "pid=0", "port=70000", "tap_side=up",
                          "limit=0", "limit=10001", "offset=-1", "cursor=zz", "bogus=1", "limit=1&limit=2",
                          "process=%01x"],
        "/api/v1/traces": ["since=-5", "service=", "endpoint=", "errors=2", "min_duration=ms", "sort=name",
                           "limit=x", "bogus=1"],
        "/api/v1/services": ["since=forever", "bogus=1"],
        "/api/v1/status": ["verbose=1"],
        "/api/v1/traces/abc": ["x=1"],
    }
    fails = []
    for path, qs in bad.items():
        for q in qs:
            st, j, _ = api(f"{path}?{q}")
            name = q.split("=")[0]
            if st != 400 or not j or j.get("param") != name or not j.get("error"):
                fails.append(f"{path}?{q}: {st} {j}")
    check("every bad parameter -> 400 naming it", not fails, "; ".join(fails[:5]))
    st, j, _ = api("/api/v1/spans?cursor=1_1&offset=3")
    check("cursor and offset together -> 400", st == 400 and j["param"] == "cursor", str(j))
    st, j, _ = api("/api/v1/spans?a=%zz")
    check("a bad percent escape -> 400", st == 400 and j and "error" in j, f"{st} {j}")


def test_routes_and_bodies(n_before):
    st, j, _ = api("/api/v1/nothing")
    check("unknown route -> 404 JSON", st == 404 and j and "error" in j, f"{st} {j}")
    st, j, h = api("/api/v1/spans", method="POST", extra=["--data-binary", "x"])
    check("wrong method -> 405 with Allow: GET", st == 405 and "Allow: GET" in h, f"{st} {h}")
    st, j, h = api("/api/v1/traces/abc", method="DELETE")
    check("DELETE on a trace -> 405", st == 405, f"{st}")
    big = os.path.join(tmp, "big.bin")
    with open(big, "wb") as f:
        f.write(os.urandom(17 << 20))
    st, j, _ = api("/api/v1/spans", method="GET", extra=["--data-binary", "@" + big, "-X", "GET"])
    check("oversized body -> 413", st == 413, f"{st} {j}")
    st, j, _ = api("/api/v1/spans", extra=["-H", "Content-Encoding: gzip", "--data-binary", "garbage", "-X", "GET"])
    check("garbage gzip body -> 400", st == 400, f"{st} {j}")
    st, j, _ = api("/api/v1/spans", extra=["-H", "Content-Encoding: zstd", "--data-binary", "x", "-X", "GET"])
    check("unknown Content-Encoding -> 415", st == 415, f"{st} {j}")
    # raw sockets: a garbage request line, a truncated body, a huge header
    answers = []
    for raw in [b"GARBAGE\r\n\r\n",
                b"GET /api/v1/spans HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nshort",
                b"GET /api/v1/spans HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n",
                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64)]:
        s = socket.create_connection((HOST_IP, API_PORT), 5)
        try:
            s.sendall(raw)
            s.shutdown(socket.SHUT_WR)
            s.settimeout(5)
            answers.append(s.recv(200).split(b"\r\n")[0])
        except OSError as e:
            answers.append(str(e).encode())
        s.close()
    ok = all(a == b"" or re.match(rb"HTTP/1\.[01] 4\d\d", a) for a in answers)
    check("garbage, truncated and oversized raw requests: a 4xx or a close, never a 2xx/5xx", ok, str(answers))
    st, j, _ = api("/api/v1/status")
    n_after = len(cli_json("spans", "--data", data, "--json", "--limit", "0", *PORTF[1]))
    check("after the bad requests the server answers and the store is intact",
          st == 200 and n_after >= n_before, f"status {st}, {n_after} vs {n_before} spans")


def test_token():
    st, j, h = api("/api/v1/status", token=None)
    check("no token -> 401 with WWW-Authenticate", st == 401 and "WWW-Authenticate: Bearer" in h, f"{st}")
    st, _, _ = api("/api/v1/status", token="wrong-" + TOKEN)
    check("wrong token -> 401", st == 401, f"{st}")
    st, _, _ = api("/api/v1/status", token=TOKEN[:-1])
    check("token prefix -> 401", st == 401, f"{st}")
    st, _, _ = api("/api/services", token=None)
    check("the Jaeger API wants the token too", st == 401, f"{st}")
    r = sh("ip", "netns", "exec", NS, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H",
           f"Authorization: Bearer {TOKEN}", f"{BASE}/api/v1/status", check_rc=False)
    check("reachable from the other netns with the token", r.stdout == "200", r.stdout + r.stderr)


# ---- the CLI's --server -----------------------------------------------------

def test_cli_server(two_hop):
    srv = ["--server", BASE, "--token-file", token_file]
    for args in (["spans", "--json", "--limit", "0", "--port", str(NGINX_PORT)],
                 ["spans", "--limit", "10", "--port", str(NGINX_PORT), "--errors"],
                 ["spans", "--fields", "span_uid,process,endpoint,response_code", "--port", str(NGINX_PORT)],
                 ["traces", "--json", "--endpoint", FRONT],
                 ["traces", "--endpoint", FRONT, "--sort", "duration"],
                 ["trace", two_hop[0]["trace_id"] if two_hop else "x"],
                 ["trace", two_hop[0]["trace_id"] if two_hop else "x", "--json"],
                 ["trace", two_hop[0]["root_uid"] if two_hop else "x"]):
        a = subprocess.run([ZTRACE, *args, "--data", data], capture_output=True, text=True)
        b = subprocess.run([ZTRACE, *args, *srv], capture_output=True, text=True)
        check(f"ztrace {' '.join(args[:3])}... --server prints what --data prints",
              a.returncode == 0 and b.returncode == 0 and a.stdout == b.stdout and a.stdout.strip(),
              f"rc {a.returncode}/{b.returncode}; {len(a.stdout)} vs {len(b.stdout)} bytes; {b.stderr}")
    # the client pages (limit above one page of 10000 is covered by bench/api_bench)
    a = subprocess.run([ZTRACE, "spans", "--json", "--limit", "0", "--port", str(NGINX_PORT), "--data", data],
                       capture_output=True, text=True)
    b = subprocess.run([ZTRACE, "spans", "--json", "--limit", "0", "--port", str(NGINX_PORT), *srv],
                       capture_output=True, text=True)
    check("spans --server --limit 0 (all pages)", a.stdout == b.stdout, "")
    r = subprocess.run([ZTRACE, "spans", "--server", f"http://127.0.0.1:{SPARE_PORT}"], capture_output=True,
                       text=True)
    check("--server unreachable: exit 1 with a clear message",
          r.returncode == 1 and "cannot reach the server" in r.stderr, r.stderr)
    r = subprocess.run([ZTRACE, "spans", "--server", BASE, "--token-file", bad_token_file], capture_output=True,
                       text=True)
    check("--server with a wrong token: exit 1 naming the 401", r.returncode == 1 and "401" in r.stderr, r.stderr)
    r = subprocess.run([ZTRACE, "spans", *srv, "--status", "client_error", "--since", "1h", "--limit", "3"],
                       capture_output=True, text=True)
    check("--server with filters runs", r.returncode == 0, r.stderr)
    r = subprocess.run([ZTRACE, "trace", "0123456789abcdef", *srv], capture_output=True, text=True)
    check("trace --server of an unknown id: exit 1, no trace", r.returncode == 1 and "no trace" in r.stderr, r.stderr)
    r = subprocess.run([ZTRACE, "spans", "--server", "ftp://x"], capture_output=True, text=True)
    check("--server with a bad URL: exit 2", r.returncode == 2, r.stderr)
    r = subprocess.run([ZTRACE, "spans", "--server", BASE, "--data", data], capture_output=True, text=True)
    check("--server with --data: exit 2", r.returncode == 2, r.stderr)


# ---- Jaeger ----------------------------------------------------------------

HEX = re.compile(r"^[0-9a-f]+$")


def jaeger_trace_errors(t):
    """Differences between t and Jaeger's model/json Trace (model.go)."""
    errs = []
    if set(t) - {"traceID", "spans", "processes", "warnings"} or not {"traceID", "spans", "processes"} <= set(t):
        errs.append(f"trace keys {sorted(t)}")
    tid = t.get("traceID", "")
    if len(tid) not in (16, 32) or not HEX.match(tid):
        errs.append(f"traceID {tid}")
    ids = {s.get("spanID") for s in t.get("spans", [])}
    for s in t.get("spans", []):
        keys = {"traceID", "spanID", "flags", "operationName", "references", "startTime", "duration", "tags",
                "logs", "processID", "warnings"}
        if set(s) - keys or not {"traceID", "spanID", "operationName", "startTime", "duration", "processID"} <= set(s):
            errs.append(f"span keys {sorted(s)}")
        if s.get("traceID") != tid or len(s.get("spanID", "")) != 16 or not HEX.match(s.get("spanID", "")):
            errs.append(f"span ids {s.get('traceID')} {s.get('spanID')}")
        if not isinstance(s.get("startTime"), int) or not isinstance(s.get("duration"), int):
            errs.append("startTime/duration not integers")
        if s.get("processID") not in t.get("processes", {}):
            errs.append(f"processID {s.get('processID')}")
        for r in s.get("references", []):
            if r.get("refType") not in ("CHILD_OF", "FOLLOWS_FROM") or r.get("traceID") != tid or \
                    r.get("spanID") not in ids or set(r) != {"refType", "traceID", "spanID"}:
                errs.append(f"reference {r}")
        for kv in s.get("tags", []) + [f for lg in s.get("logs", []) for f in lg.get("fields", [])]:
            typ = {"string": str, "bool": bool, "int64": int, "float64": (int, float), "binary": str}.get(kv.get("type"))
            if set(kv) - {"key", "type", "value"} or not typ or not isinstance(kv.get("value"), typ) or \
                    (kv.get("type") == "int64" and isinstance(kv.get("value"), bool)):
                errs.append(f"tag {kv}")
        for lg in s.get("logs", []):
            if not isinstance(lg.get("timestamp"), int):
                errs.append(f"log {lg}")
    for p in t.get("processes", {}).values():
        if not isinstance(p.get("serviceName"), str) or set(p) - {"serviceName", "tags"}:
            errs.append(f"process {p}")
    return errs


def structured(j):
    return j is not None and set(j) == {"data", "total", "limit", "offset", "errors"}


def test_jaeger(two_hop):
    st, j, _ = api("/api/services")
    check("Jaeger /api/services: structured response listing nginx and python3",
          st == 200 and structured(j) and "nginx" in j["data"] and "python3" in j["data"] and j["total"] == len(j["data"])
          and j["errors"] is None, f"{st} {str(j)[:300]}")
    st, j, _ = api("/api/services/nginx/operations")
    check("Jaeger operations of nginx include its endpoints",
          st == 200 and structured(j) and any("/item/" in op for op in j["data"]), f"{st} {str(j)[:300]}")
    if not two_hop:
        check("Jaeger traces", False, "no two-hop trace to look at")
        return
    w = cli_json("trace", two_hop[0]["trace_id"], "--data", data, "--json")[0]
    st, j, _ = api(f"/api/traces/{two_hop[0]['trace_id']}")
    t = j["data"][0] if st == 200 and structured(j) and j["data"] else {}
    errs = jaeger_trace_errors(t)
    check("Jaeger /api/traces/{id}: Jaeger's model (trace, spans, references, tags, processes)",
          st == 200 and not errs and j["total"] == 1, f"{st} {errs[:5]}")
    by_uid = {s["span_uid"]: s for s in w["spans"]}
    same = len(t.get("spans", [])) == len(w["spans"])
    for s in t.get("spans", []):
        z = by_uid.get(s["spanID"])
        refs = [r["spanID"] for r in s.get("references", [])]
        same &= bool(z) and s["startTime"] == z["start_ns"] // 1000 and s["duration"] == z["duration_ns"] // 1000 \
            and refs == ([z["parent_uid"]] if z["parent_uid"] in by_uid else [])
        same &= t["processes"][s["processID"]]["serviceName"] == z["process"]
    check("Jaeger trace = ztrace trace: spans, µs times, CHILD_OF parents, services", same,
          f"{len(t.get('spans', []))} vs {len(w['spans'])} spans")
    roots = [s for s in t.get("spans", []) if not s.get("references")]
    check("Jaeger trace has one root and the hops link under it", len(roots) == 1 and len(t.get("spans", [])) >= 4,
          f"{len(roots)} roots")
    st, j2, _ = api(f"/api/traces/{two_hop[0]['trace_id'].upper()}")
    check("Jaeger trace by upper-case id: the same trace", st == 200 and j2["data"][0] == t, f"{st}")
    op = two_hop[0]["root_endpoint"]
    now_us = int(time.time() * 1e6)
    st, j, _ = api(f"/api/traces?service=python3&operation={op.replace(' ', '%20')}&limit=20"
                   f"&start={now_us - 600 * 10**6}&end={now_us}&minDuration=1us&lookback=1h")
    got = sorted(tr["traceID"] for tr in j["data"]) if st == 200 and structured(j) else []
    want = sorted(x["trace_id"] for x in two_hop)
    check("Jaeger search service+operation finds the two-hop traces", got == want,
          f"{st} {len(got)} vs {len(want)}: {str(j)[:200]}")
    check("Jaeger search results follow the model", st == 200 and all(not jaeger_trace_errors(tr) for tr in j["data"]),
          "")
    st, j, _ = api("/api/traces?service=python3&operation=x&maxDuration=1ns&minDuration=1s")
    check("Jaeger maxDuration < minDuration -> 400 in Jaeger's error shape",
          st == 400 and structured(j) and j["errors"][0]["code"] == 400, f"{st} {j}")
    st, j, _ = api("/api/traces")
    check("Jaeger search without service -> 400", st == 400 and structured(j) and "service" in j["errors"][0]["msg"],
          f"{st} {j}")
    st, j, _ = api("/api/traces?service=nginx&minDuration=abc")
    check("Jaeger bad minDuration -> 400", st == 400 and "minDuration" in j["errors"][0]["msg"], f"{st} {j}")
    st, j, _ = api("/api/traces/0123456789abcdef0123456789abcdee")
    check("Jaeger unknown trace -> 404", st == 404 and structured(j) and j["errors"][0]["code"] == 404, f"{st} {j}")
    st, j, _ = api("/api/traces/xyz")
    check("Jaeger bad trace id -> 400", st == 400 and structured(j), f"{st} {j}")
    st, j, _ = api(f"/api/traces?traceID={two_hop[0]['trace_id']}")
    check("Jaeger traceID= lookup", st == 200 and len(j["data"]) == 1 and j["data"][0]["traceID"] == t["traceID"],
          f"{st}")


def main():
    global zt
    t0 = time.monotonic()
    try:
        test_refusals()
        setup_netns()
        zt = Ztrace(data, "--listen", f"{HOST_IP}:{API_PORT}", "--token-file", token_file)
        check("up announces the API", f"HTTP API on http://{HOST_IP}:{API_PORT}" in zt.text(), zt.text()[-500:])
        start_traffic()
        base = test_spans()
        test_paging(base)
        two_hop = test_traces()
        test_services_status()
        test_bad_params()
        test_routes_and_bodies(len(base))
        test_token()
        test_cli_server(two_hop)
        test_jaeger(two_hop)
        rc = zt.stop()
        check("up stops cleanly with the API running", rc == 0, f"rc {rc}: {zt.text()[-400:]}")
        zt = None
    except Exception as e:  # a crash is a failed check, and cleanup still runs
        import traceback
        traceback.print_exc()
        check("api e2e ran to the end", False, repr(e))
    finally:
        cleanup()
    print(f"# {time.monotonic() - t0:.1f} s")
    finish()


main()
