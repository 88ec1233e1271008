"""nginx bench: nginx-light serving a ~600-byte static file over keep-alive
loopback connections, without and with `ztrace up`, alternated A B B A.
(a) maximum throughput with wrk; (b) a fixed rate near half of that maximum
with hey; (c) ztrace's own CPU and memory.
Targets: throughput with/without >= 0.95; ztrace <= 0.25 CPU-s per 100k requests."""
import os
import re
import shutil
import subprocess
import tempfile
import time

import benchlib as bl

PORT = 18431
WORKERS = 1
THROUGHPUT_TARGET = 0.95
CPU_TARGET = 0.25
WRK_THREADS, WRK_CONNS = 2, 32
HEY_CONNS = 16
# hey (Go) needs far more CPU per request than wrk: on 2 CPUs shared with nginx it
# tops out near 10k req/s, below half of wrk's maximum; a third is a rate it reaches
RATE_FRACTION = 1 / 3
DUR = 1 if bl.QUICK else 10
ROUNDS = 1 if bl.QUICK else 2
URL = f"http://127.0.0.1:{PORT}/index.html"

CONF = """\
worker_processes {workers};
daemon off;
master_process on;
user www-data www-data;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    default_type text/html;
    server {{
        listen 127.0.0.1:{port};
        root {d}/www;
    }}
}}
"""


class Nginx:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="zt-bench-nginx-")
        os.chmod(self.dir, 0o755)
        www = os.path.join(self.dir, "www")
        os.mkdir(www)
        body = "<!doctype html>\n<html><head><title>ztrace bench</title></head><body>\n"
        body += "<p>" + ("lorem ipsum dolor sit amet " * 19) + "</p>\n</body></html>\n"
        with open(os.path.join(www, "index.html"), "w") as f:
            f.write(body)
        self.body_bytes = len(body)
        os.chmod(www, 0o755)
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(CONF.format(workers=WORKERS, d=self.dir, port=PORT))
        self.log = open(os.path.join(self.dir, "stderr.log"), "w")
        self.proc = subprocess.Popen(["/usr/sbin/nginx", "-p", self.dir, "-c", conf, "-e",
                                      os.path.join(self.dir, "error.log")],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        bl.wait_port(PORT)
        out = subprocess.run(["curl", "-s", URL], capture_output=True, text=True).stdout \
            if shutil.which("curl") else body
        if out != body:
            raise RuntimeError("nginx does not serve the test file")

    def pids(self):
        return [self.proc.pid] + bl.children_pids(self.proc.pid)

    def cpu(self):
        return bl.tree_cpu_seconds(self.pids())

    def stop(self):
        bl.stop_server(self.proc, self.log, self.dir)


def to_ms(v, unit):
    v = float(v)
    return {"us": v / 1000, "ms": v, "s": v * 1000, "m": v * 60000}[unit]


def parse_wrk(out):
    r = {}
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    r["requests"] = int(m.group(1))
    r["rps"] = float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1))
    for q in ("50", "99"):
        m = re.search(rf"^\s*{q}(?:\.000)?%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
        r[f"p{q}_ms"] = to_ms(m.group(1), m.group(2))
    m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    r["errors"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors:.*", out)
    r["socket_errors"] = m.group(0) if m else ""
    return r


def parse_hey(out):
    r = {}
    r["rps"] = float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1))
    for q in ("50", "99"):
        r[f"p{q}_ms"] = float(re.search(rf"^\s*{q}%% in ([\d.]+) secs".replace("%%", "%"),
                                        out, re.M).group(1)) * 1000
    ok = sum(int(n) for n in re.findall(r"\[200\]\s+(\d+) responses", out))
    allr = sum(int(n) for n in re.findall(r"\[\d+\]\s+(\d+) responses", out))
    r["requests"] = allr
    errs = out.split("Error distribution:", 1)[1] if "Error distribution:" in out else ""
    r["errors"] = allr - ok + sum(int(n) for n in re.findall(r"^\s*\[(\d+)\]", errs, re.M))
    return r


def run_load(ngx, cmd, parse, traced):
    z = bl.Ztrace() if traced else None
    try:
        c0 = ngx.cpu()
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=DUR * 10 + 60)
        c1 = ngx.cpu()
        if p.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed: {p.stderr or p.stdout}")
        r = parse(p.stdout)
        if z:
            time.sleep(1)  # let ztrace drain what the load left in the ring buffer
    finally:
        zres = z.stop() if z else None
    r["nginx_cpu_s"] = c1 - c0
    if zres:
        r["ztrace_cpu_s"] = zres["cpu_s"]
        r["ztrace_rss_kib"] = zres["peak_rss_kib"]
        r["ztrace_final"] = zres["final"]
    return r


def per100k(x, n):
    return x / n * 1e5 if n else None


def summarise(load, mode, rs):
    med = lambda k: bl.median([r[k] for r in rs if r.get(k) is not None])
    reqs = sum(r["requests"] for r in rs)
    row = {"load": load, "mode": mode, "runs": len(rs), "rps": round(med("rps"), 1),
           "p50_ms": round(med("p50_ms"), 4), "p99_ms": round(med("p99_ms"), 4),
           "nginx_cpu_s_per_100k": round(per100k(sum(r["nginx_cpu_s"] for r in rs), reqs), 4),
           "ztrace_cpu_s_per_100k": None, "errors": sum(r["errors"] for r in rs)}
    if mode == "ztrace":
        row["ztrace_cpu_s_per_100k"] = round(per100k(sum(r["ztrace_cpu_s"] for r in rs), reqs), 4)
    return row


def ratio(a, b):
    return round(a / b, 4) if a is not None and b else None


def main():
    _lock = bl.bench_lock()
    ngx = Nginx()
    try:
        # warm up nginx and the page cache
        subprocess.run(["wrk", "-t1", "-c4", "-d1s", URL], capture_output=True)
        wrk_cmd = ["wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNS}", f"-d{DUR}s", "--latency", URL]
        wa, wb = bl.abba(ROUNDS, lambda: run_load(ngx, wrk_cmd, parse_wrk, False),
                         lambda: run_load(ngx, wrk_cmd, parse_wrk, True))
        max_rps = bl.median([r["rps"] for r in wa])
        target_rate = max(int(max_rps * RATE_FRACTION / HEY_CONNS) * HEY_CONNS, HEY_CONNS)
        q = target_rate // HEY_CONNS
        hey_cmd = ["hey", "-q", str(q), "-c", str(HEY_CONNS), "-z", f"{DUR}s", URL]
        ha, hb = bl.abba(ROUNDS, lambda: run_load(ngx, hey_cmd, parse_hey, False),
                         lambda: run_load(ngx, hey_cmd, parse_hey, True))
    finally:
        ngx.stop()

    rows = [summarise("wrk max", "bare", wa), summarise("wrk max", "ztrace", wb),
            summarise(f"hey {q * HEY_CONNS}/s", "bare", ha),
            summarise(f"hey {q * HEY_CONNS}/s", "ztrace", hb)]
    w0, w1, h0, h1 = rows
    thr = ratio(w1["rps"], w0["rps"])
    zcpu = w1["ztrace_cpu_s_per_100k"]
    zcpu_h = h1["ztrace_cpu_s_per_100k"]
    rss = max(r["ztrace_rss_kib"] or 0 for r in wb + hb)
    figures = [
        bl.fig("wrk max throughput with/without", thr, "x", f">= {THROUGHPUT_TARGET}",
               thr is not None and thr >= THROUGHPUT_TARGET),
        bl.fig("wrk p50 latency with/without", ratio(w1["p50_ms"], w0["p50_ms"]), "x"),
        bl.fig("wrk p99 latency with/without", ratio(w1["p99_ms"], w0["p99_ms"]), "x"),
        bl.fig("wrk nginx CPU per 100k req with/without",
               ratio(w1["nginx_cpu_s_per_100k"], w0["nginx_cpu_s_per_100k"]), "x"),
        bl.fig("hey fixed rate achieved, bare / target", ratio(h0["rps"], q * HEY_CONNS), "x"),
        bl.fig("hey fixed rate achieved with/without", ratio(h1["rps"], h0["rps"]), "x"),
        bl.fig("hey p50 latency with/without", ratio(h1["p50_ms"], h0["p50_ms"]), "x"),
        bl.fig("hey p99 latency with/without", ratio(h1["p99_ms"], h0["p99_ms"]), "x"),
        bl.fig("ztrace CPU per 100k requests (wrk max)", zcpu, "CPU-s", f"<= {CPU_TARGET}",
               zcpu is not None and zcpu <= CPU_TARGET),
        bl.fig("ztrace CPU per 100k requests (hey fixed rate)", zcpu_h, "CPU-s", f"<= {CPU_TARGET}",
               zcpu_h is not None and zcpu_h <= CPU_TARGET),
        bl.fig("ztrace peak RSS", rss, "KiB"),
    ]
    notes = [
        f"nginx-light, worker_processes {WORKERS} (plus the master), access_log off, keep-alive, "
        f"serving a {ngx.body_bytes}-byte static file on 127.0.0.1:{PORT}.",
        f"(a) wrk -t{WRK_THREADS} -c{WRK_CONNS} -d{DUR}s --latency; (b) hey -q {q} -c {HEY_CONNS} -z {DUR}s "
        f"= {q * HEY_CONNS} req/s in total (hey's -q is per worker), about a third of the median bare "
        f"wrk maximum ({max_rps:.0f} req/s): half was the plan, but hey needs much more CPU per request "
        "than wrk and, sharing 2 CPUs with nginx, reached only ~10k req/s of a 13.9k req/s target without "
        f"ztrace when this bench was written; {ROUNDS} A B B A round(s), so {2 * ROUNDS} runs per mode; "
        "rps, p50_ms and p99_ms are medians over runs.",
        "CPU columns are sums over all runs of a mode divided by all requests of that mode, per 100k "
        "requests. nginx CPU = utime+stime of master and worker from /proc. ztrace CPU is that of the "
        "`ztrace up` process from the end of its start-up to 1 s after the load ends (so the ring-buffer "
        "backlog is drained), start-up and final flush excluded.",
        "Each request is seen twice by ztrace (the wrk/hey client side and the nginx server side: "
        "two exchanges, two spans); the per-100k figures are per request, not per exchange.",
        "The load generator runs on the same 2 CPUs as nginx and ztrace, so ztrace's CPU competes with "
        "both; at max throughput any CPU ztrace takes shows up as lost throughput.",
        "Where the cost goes (perf, profiled once while writing this bench, ztrace build of "
        "2026-11-23, not re-measured by each run): of the `ztrace up` process's samples under wrk load "
        "~46% were in libsqlite3 (span INSERTs: index B-tree seeks for the 6 secondary indexes, VDBE), "
        "~31% kernel (WAL page writes, zeroing fresh pages for malloc), ~12% ztrace (sq_flush, "
        "h1_parse_headers, emit_span) and ~12% libc (memmove, malloc): storing ~2 spans per request "
        "dominates, not parsing. Inside nginx and wrk, the BPF programs and tracepoint machinery "
        "(htab update/delete, probe_read, ring buffer reserve) were ~20% of their samples.",
    ]
    for label, rs in (("wrk", wb), ("hey", hb)):
        for i, r in enumerate(rs):
            notes.append(f"{label} traced run {i + 1}: {r['requests']} requests; {r['ztrace_final']}")
    bl.write_result("nginx", "nginx static file: wrk max throughput and hey fixed rate", rows, figures,
                    notes, {"worker_processes": WORKERS, "wrk": f"-t{WRK_THREADS} -c{WRK_CONNS} -d{DUR}s",
                            "hey": f"-q {q} -c {HEY_CONNS} -z {DUR}s",
                            "hey_rate_fraction_of_max": round(RATE_FRACTION, 3), "rounds": ROUNDS,
                            "file_bytes": ngx.body_bytes, "port": PORT})


if __name__ == "__main__":
    main()
