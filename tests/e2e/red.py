"""RED metrics and the service map end to end (root, Debian's /usr/bin/python3).

Topology on loopback, every process traced by one `ztrace up --listen`:
    red-driver -> red-nginx -> red-front (Flask) -> red-back (Flask, sleeps 15 ms)
(red-nginx is Debian's nginx binary copied under that name: its process name
then tells it from other nginx processes on the host, which ztrace sees too.)
The driver sends N_OK good requests, N_FAIL that red-back answers 500 (passed
back up the chain) and N_404 that red-front answers 404 without calling
red-back. So, exactly:
    edges  red-driver -> red-nginx  N requests, N_FAIL server_error, N_404 client_error
           red-nginx -> red-front   the same
           red-front -> red-back    N_OK + N_FAIL requests, N_FAIL server_error
    nodes  red-back serves N_OK + N_FAIL; red-front and red-nginx serve N
and no other edge into these three (an exchange counted twice would add one).
Checked through `ztrace map --json`, `ztrace top --once`, /api/v1/map,
/api/v1/metrics/red, /metrics (promtool check metrics), and Debian's prometheus
scraping /metrics every second: the request counter and histogram_quantile.
The latency truth is red-back's own handler time (its log)."""
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import check, run, wait_for, wait_port, ZTRACE  # noqa: E402

PY = "/usr/bin/python3"
APPS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "red_apps.py")
N_OK, N_FAIL, N_404 = 50, 7, 5
N = N_OK + N_FAIL + N_404
SLEEP_MS = 15


def free_ports(n):
    """n loopback ports of this helper's range 20500-20599 nobody listens on."""
    out, start = [], (os.getpid() * 7) % 100
    for i in range(100):
        p = 20500 + (start + i) % 100
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
            out.append(p)
        except OSError:
            pass
        finally:
            s.close()
        if len(out) == n:
            return out
    raise RuntimeError("no free ports in 20500-20599")


def http_get(url, timeout=5):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def nginx_conf(d, port, upstream):
    return f"""
user root;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log;
daemon off;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    upstream front {{ server 127.0.0.1:{upstream}; keepalive 8; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://front;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def prom_conf(target):
    return f"""
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: ztrace
    metrics_path: /metrics
    static_configs:
      - targets: ["{target}"]
"""


def map_json(data):
    out = run([ZTRACE, "map", "--data", data, "--since", "10m", "--json"]).stdout
    rows = [json.loads(x) for x in out.splitlines() if x.strip()]
    nodes = {r["service"]: r for r in rows if r["type"] == "node"}
    edges = {(r["client"], r["server"], r["protocol"]): r for r in rows if r["type"] == "edge"}
    return nodes, edges


def main():
    tmp = tempfile.mkdtemp(prefix="zt-red-")
    data = os.path.join(tmp, "data")
    procs = []
    zt = None
    p_api, p_nginx, p_front, p_back, p_prom = free_ports(5)
    t_start = time.monotonic()
    try:
        zt = lib.Ztrace(data, "--listen", f"127.0.0.1:{p_api}")

        def start(cmd, name):
            log = open(os.path.join(tmp, name + ".out"), "w")
            procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))

        back_log = os.path.join(tmp, "back.jsonl")
        start([PY, APPS, "back", str(p_back), back_log, str(SLEEP_MS)], "back")
        start([PY, APPS, "front", str(p_front), f"http://127.0.0.1:{p_back}"], "front")
        conf = os.path.join(tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(nginx_conf(tmp, p_nginx, p_front))
        nginx = os.path.join(tmp, "red-nginx")
        shutil.copy(shutil.which("nginx") or "/usr/sbin/nginx", nginx)
        start([nginx, "-c", conf], "nginx")
        for p in (p_back, p_front, p_nginx, p_api):
            wait_port("127.0.0.1", p, 15)

        drv = subprocess.run([PY, APPS, "driver", f"http://127.0.0.1:{p_nginx}", str(N_OK), str(N_FAIL),
                              str(N_404), os.path.join(tmp, "driver.jsonl")], capture_output=True, text=True)
        check("driver got the answers it expected", drv.returncode == 0, drv.stdout + drv.stderr)

        # ---- ztrace map --json ----
        want = {
            ("red-driver", "red-nginx", "HTTP"): (N, N_FAIL, N_404),
            ("red-nginx", "red-front", "HTTP"): (N, N_FAIL, N_404),
            ("red-front", "red-back", "HTTP"): (N_OK + N_FAIL, N_FAIL, 0),
        }

        def complete():
            nodes, edges = map_json(data)
            ok = all(k in edges and edges[k]["requests"] >= w[0] for k, w in want.items())
            return (nodes, edges) if ok else None

        got, waited = wait_for(complete, 20, 0.5)
        nodes, edges = got or map_json(data)
        print(f"# map complete after {waited:.1f}s; edges: " +
              "; ".join(f"{k[0]}->{k[1]} {k[2]} {v['requests']}" for k, v in edges.items()), flush=True)
        for k, (req, srv_err, cli_err) in want.items():
            e = edges.get(k)
            check(f"map edge {k[0]} -> {k[1]} ({k[2]}) exists", e is not None, f"edges: {list(edges)}")
            if not e:
                continue
            check(f"map edge {k[0]} -> {k[1]}: {req} requests", e["requests"] == req, f"got {e['requests']}")
            ec = e["error_classes"]
            check(f"map edge {k[0]} -> {k[1]}: {srv_err} server errors, {cli_err} client errors",
                  ec["server_error"] == srv_err and ec["client_error"] == cli_err and ec["timeout"] == 0,
                  f"got {ec}")
        for svc, req, errs in (("red-back", N_OK + N_FAIL, N_FAIL), ("red-front", N, N_FAIL + N_404),
                               ("red-nginx", N, N_FAIL + N_404)):
            n = nodes.get(svc)
            check(f"map node {svc} serves {req} requests with {errs} errors",
                  n is not None and n["requests"] == req and n["errors"] == errs, f"got {n}")
        truth = [json.loads(x)["ms"] for x in open(back_log)]
        med = statistics.median(truth)
        p50 = (nodes.get("red-back") or {}).get("p50_ms") or 0
        # the span also holds the request read and the answer write: a little
        # more than the handler, never less than 3.2% under it
        check(f"map p50 of red-back ({p50:.2f} ms) matches its handler median ({med:.2f} ms)",
              med * (1 - 0.033) <= p50 <= med * 1.1 + 3, "")

        # ---- drill-down to one process: red-front's pid ----
        front_pid = procs[1].pid
        out = run([ZTRACE, "map", "--data", data, "--since", "10m", "--json", "--pid", str(front_pid)]).stdout
        rows = [json.loads(x) for x in out.splitlines() if x.strip()]
        pe = [(r["client"], r["server"], r["requests"], r.get("pid")) for r in rows if r["type"] == "edge"]
        pn = [(r["service"], r["requests"], r.get("pid")) for r in rows if r["type"] == "node" and r["requests"]]
        check(f"map --pid {front_pid}: only red-front's calls and what it serves",
              pe == [("red-front", "red-back", N_OK + N_FAIL, front_pid)] and pn == [("red-front", N, front_pid)],
              f"edges {pe} nodes {pn}")

        # ---- ztrace top --once ----
        top = run([ZTRACE, "top", "--data", data, "--since", "10m", "--once"]).stdout
        check("top --once shows the busiest and slowest tables with red-back's endpoint",
              "BUSIEST" in top and "SLOWEST" in top and re.search(r"red-back\s+GET /work", top) is not None, top)
        topj = [json.loads(x) for x in run([ZTRACE, "top", "--data", data, "--since", "10m", "--once",
                                            "--json"]).stdout.splitlines()]
        work = [t for t in topj if t["service"] == "red-back"]
        check("top --once --json: red-back's endpoint with its request count",
              len(work) == 1 and work[0]["requests"] == N_OK + N_FAIL, f"{work}")

        # ---- the HTTP API ----
        api = f"http://127.0.0.1:{p_api}"
        st, body = http_get(f"{api}/api/v1/map?since=10m")
        m = json.loads(body) if st == 200 else {}
        e = [x for x in m.get("edges", []) if x["client"] == "red-front" and x["server"] == "red-back"]
        check("GET /api/v1/map: the red-front -> red-back edge", st == 200 and len(e) == 1 and
              e[0]["requests"] == N_OK + N_FAIL, f"{st} {body[:300]}")
        q = urllib.parse.urlencode({"edge": "red-front->red-back", "since": "10m"})
        st, body = http_get(f"{api}/api/v1/metrics/red?{q}")
        r = json.loads(body) if st == 200 else {}
        pts = [p for s in r.get("series", []) for p in s["points"]]
        check("GET /api/v1/metrics/red?edge=red-front->red-back: one point with the requests",
              st == 200 and len(pts) == 1 and pts[0]["requests"] == N_OK + N_FAIL, f"{st} {body[:300]}")
        q = urllib.parse.urlencode({"service": "red-back", "since": "10m", "step": "10s"})
        st, body = http_get(f"{api}/api/v1/metrics/red?{q}")
        r = json.loads(body) if st == 200 else {}
        pts = [p for s in r.get("series", []) for p in s["points"]]
        check("GET /api/v1/metrics/red with step=10s: points add up to the requests",
              st == 200 and sum(p["requests"] for p in pts) == N_OK + N_FAIL and
              all(p["t_ns"] % 10_000_000_000 == 0 for p in pts), f"{st} {body[:300]}")
        st, body = http_get(f"{api}/api/v1/metrics/red?step=abc")
        check("GET /api/v1/metrics/red?step=abc: 400 naming step",
              st == 400 and json.loads(body).get("param") == "step", f"{st} {body}")
        st, body = http_get(f"{api}/api/v1/map?bogus=1")
        check("GET /api/v1/map?bogus=1: 400", st == 400, f"{st} {body}")

        # ---- map and top --server: the same answer through the API ----
        def edge_counts(out):
            return sorted((r["client"], r["server"], r["protocol"], r["requests"], r["errors"])
                          for r in (json.loads(x) for x in out.splitlines() if x.strip()) if r["type"] == "edge")
        local = run([ZTRACE, "map", "--data", data, "--since", "10m", "--json"]).stdout
        remote = run([ZTRACE, "map", "--server", api, "--since", "10m", "--json"]).stdout
        check("map --server gives the edges of map --data", edge_counts(local) == edge_counts(remote),
              f"{edge_counts(local)} vs {edge_counts(remote)}")
        topr = [json.loads(x) for x in run([ZTRACE, "top", "--server", api, "--since", "10m", "--once",
                                            "--json"]).stdout.splitlines()]
        work = [t for t in topr if t["service"] == "red-back"]
        check("top --server --once --json: red-back's endpoint", len(work) == 1 and
              work[0]["requests"] == N_OK + N_FAIL, f"{work}")
        bad = subprocess.run([ZTRACE, "map", "--server", f"http://127.0.0.1:{p_prom}"], capture_output=True,
                             text=True)
        check("map --server to nothing listening: exit 1 with a message",
              bad.returncode == 1 and "ztrace map:" in bad.stderr, f"{bad.returncode} {bad.stderr}")

        # ---- /metrics ----
        st, text = http_get(f"{api}/metrics")
        check("GET /metrics answers 200", st == 200, str(st))
        pt = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        check("promtool check metrics accepts /metrics", pt.returncode == 0, pt.stdout + pt.stderr)
        line = f'ztrace_edge_requests_total{{client="red-front",server="red-back",protocol="HTTP"}} {N_OK + N_FAIL}'
        check("/metrics: the red-front -> red-back request counter", line in text.splitlines(),
              "\n".join(x for x in text.splitlines() if "red-back" in x)[:800])
        for fam in ("kernel_ring_full", "pipeline_queue_full", "session_unanswered", "joiner_window_full",
                    "store_failed", "rollup_series_overflow", "http_errors_4xx"):
            check(f"/metrics: self counter {fam}", f"# TYPE ztrace_{fam}_total counter" in text, "")
        linked = re.search(r"^ztrace_rollup_edges_linked_total (\d+)", text, re.M)
        print(f"# edges linked by tcp_seq: {linked.group(1) if linked else '?'}", flush=True)

        # ---- prometheus scraping /metrics ----
        pdir = os.path.join(tmp, "prom")
        os.makedirs(pdir)
        with open(os.path.join(pdir, "prometheus.yml"), "w") as f:
            f.write(prom_conf(f"127.0.0.1:{p_api}"))
        start(["prometheus", f"--config.file={pdir}/prometheus.yml", f"--storage.tsdb.path={pdir}/data",
               f"--web.listen-address=127.0.0.1:{p_prom}"], "prometheus")
        prom = f"http://127.0.0.1:{p_prom}"
        wait_port("127.0.0.1", p_prom, 30)
        wait_for(lambda: http_get(f"{prom}/-/ready")[0] == 200, 30, 0.2)

        def query(expr):
            st, body = http_get(f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
            if st != 200:
                return None
            res = json.loads(body)["data"]["result"]
            return float(res[0]["value"][1]) if res else None

        expr = 'ztrace_edge_requests_total{client="red-front",server="red-back"}'
        v, waited = wait_for(lambda: query(expr), 30, 0.5)
        print(f"# prometheus had the first sample after {waited:.1f}s", flush=True)
        check(f"prometheus: {expr} == {N_OK + N_FAIL}", v == N_OK + N_FAIL, f"got {v}")
        v = query('sum(ztrace_edge_errors_total{client="red-front",server="red-back",class="server_error"})')
        check(f"prometheus: the edge's server errors == {N_FAIL}", v == N_FAIL, f"got {v}")
        v = query('sum(ztrace_service_requests_total{service="red-nginx"})')
        check(f"prometheus: red-nginx served {N}", v == N, f"got {v}")
        q50 = query('histogram_quantile(0.5, sum by (le) (ztrace_service_duration_seconds_bucket{service="red-back"}))')
        # Prometheus interpolates inside the bucket holding the median: the
        # truth must be in that same bucket (0.01, 0.025]
        check(f"prometheus: histogram_quantile(0.5) of red-back ({q50}) and the truth ({med / 1000:.4f} s) "
              f"in one bucket", q50 is not None and 0.01 < q50 <= 0.025 and 0.01 < med / 1000 <= 0.025, "")
        # Later (well past the 2 s an edge may wait for its other end): the
        # counts have not moved, and no exchange made a second edge
        nodes, edges = map_json(data)
        extra = [k for k in edges if k[1] in ("red-nginx", "red-front", "red-back") and k not in want]
        check("map, later: no other edge into red-nginx, red-front, red-back", not extra, f"{extra}")
        check("map, later: the three edges' counts unchanged",
              all(edges.get(k, {}).get("requests") == w[0] for k, w in want.items()),
              f"{[(k, edges.get(k, {}).get('requests')) for k in want]}")
        print(f"# wall time {time.monotonic() - t_start:.1f}s", flush=True)
    except Exception as e:  # a failure to set up is a failed check, with cleanup
        check("red e2e ran", False, repr(e))
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        if zt:
            zt.stop()
            red_line = [x for x in zt.text().splitlines() if x.startswith("ztrace: RED:")]
            check("up's final lines count the RED edges and losses", len(red_line) == 1 and
                  "series_overflow 0" in red_line[0], f"{red_line}")
            if red_line:
                print("# " + red_line[0], flush=True)
            if lib.results["failed"]:
                print("# ztrace up log:\n" + zt.text()[-3000:], flush=True)
        shutil.rmtree(tmp, ignore_errors=True)
    lib.finish()


if __name__ == "__main__":
    main()
