"""Zero-code vs SDK: a small Node.js express service (bench/node/app.js) loaded
with wrk at full speed, three ways:
  bare    node app.js
  otel    node -r ./otel.js app.js: OpenTelemetry's Node SDK, http + express
          auto-instrumentation, BatchSpanProcessor, OTLP/HTTP exporter posting
          to a local sink (this file run with --sink) that counts and discards
  ztrace  node app.js, with `ztrace up` tracing the host
Rounds alternate bare otel ztrace ztrace otel bare; rps, p50 and p99 are
medians over the runs of a mode. Each run starts a fresh node process, warms
it up, then measures. Installs bench/node/node_modules with `npm ci` when it
is missing.

usage: node.py            (the bench)
       node.py --sink PORT  (the OTLP sink; GET /count returns its counters)
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import benchlib
from benchlib import QUICK, fig, median

APP_DIR = os.path.join(benchlib.HERE, "node")
ROUNDS = 1 if QUICK else 3
DURATION = "1s" if QUICK else "10s"
WARMUP = "1s" if QUICK else "3s"
WRK_THREADS = 1
WRK_CONNS = 16
PATH = "/api/users/42"

WRK_LUA = """
done = function(summary, latency, requests)
  io.write(string.format(
    "WRKJSON {\\"requests\\": %d, \\"duration_us\\": %d, \\"p50_us\\": %d, \\"p90_us\\": %d, "
    .. "\\"p99_us\\": %d, \\"mean_us\\": %.1f, \\"non2xx\\": %d, \\"err_connect\\": %d, "
    .. "\\"err_read\\": %d, \\"err_write\\": %d, \\"err_timeout\\": %d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout))
end
"""


# ---- the OTLP/HTTP sink (a separate process) ----

def sink_main(port):
    import http.server
    import threading

    counts = {"posts": 0, "spans": 0, "bytes": 0, "bad": 0}
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def body(self):
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                parts = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(parts)
                    parts.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def reply(self, code, data):
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            data = self.body()
            # OTLP/HTTP JSON: one "spanId" key per span (the app's spans have
            # no links). Counting them is far cheaper than json.loads, so the
            # sink steals less CPU from the measured processes.
            n = data.count(b'"spanId"')
            bad = 0 if data[:1] == b"{" and data.rstrip()[-1:] == b"}" else 1
            with lock:
                counts["posts"] += 1
                counts["spans"] += n
                counts["bytes"] += len(data)
                counts["bad"] += bad
            self.reply(200, b"{}")

        def do_GET(self):
            with lock:
                data = json.dumps(counts).encode()
            self.reply(200, data)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    srv.serve_forever()


def sink_counts(port):
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/count", timeout=10) as r:
        return json.load(r)


# ---- the bench ----

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def ensure_node_modules():
    if os.path.isdir(os.path.join(APP_DIR, "node_modules")):
        return
    print("node: bench/node/node_modules missing, running npm ci", flush=True)
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=APP_DIR, check=True)


def tool_version(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def pkg_versions():
    out = {}
    with open(os.path.join(APP_DIR, "package.json")) as f:
        for name in json.load(f)["dependencies"]:
            try:
                with open(os.path.join(APP_DIR, "node_modules", name, "package.json")) as f:
                    out[name] = json.load(f)["version"]
            except OSError:
                out[name] = "?"
    return out


class App:
    def __init__(self, port, sink_port, otel):
        self.log = tempfile.TemporaryFile()
        env = dict(os.environ, PORT=str(port), NODE_ENV="production")
        cmd = ["node"]
        if otel:
            cmd += ["-r", "./otel.js"]
            env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = f"http://127.0.0.1:{sink_port}/v1/traces"
        self.proc = subprocess.Popen(cmd + ["app.js"], cwd=APP_DIR, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        try:
            benchlib.wait_port(port)
        except RuntimeError:
            self.proc.kill()
            raise RuntimeError("node app did not start: " + self.output())

    def output(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-2000:]

    def cpu(self):
        return benchlib.cpu_seconds(self.proc.pid)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("node app did not exit on SIGTERM: " + self.output())


def wrk(url, duration, lua):
    r = subprocess.run(["wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNS}", f"-d{duration}", "-s", lua, url],
                       capture_output=True, text=True, timeout=600)
    for line in r.stdout.splitlines():
        if line.startswith("WRKJSON "):
            res = json.loads(line[len("WRKJSON "):])
            res["rps"] = res["requests"] / (res["duration_us"] / 1e6)
            return res
    raise RuntimeError(f"wrk said nothing usable (rc {r.returncode}): {r.stdout} {r.stderr}")


def ztrace_node_spans(zt):
    """Spans stored so far for processes named node (the server side of the
    bench's exchanges); runs while ztrace is up, after the load."""
    time.sleep(0.6)  # the store flushes every 200 ms
    r = subprocess.run([benchlib.ZTRACE, "spans", "--data", os.path.join(zt.dir, "data"),
                        "--process", "node", "--limit", "0", "--json"],
                       capture_output=True, text=True, timeout=300)
    return sum(1 for ln in r.stdout.splitlines() if ln.startswith("{"))


def run_one(mode, port, sink, sink_port, lua):
    url = f"http://127.0.0.1:{port}{PATH}"
    zt = benchlib.Ztrace() if mode == "ztrace" else None
    try:
        sink0 = sink_counts(sink_port)
        app = App(port, sink_port, otel=(mode == "otel"))
        try:
            warm = wrk(url, WARMUP, lua)
            cpu0 = app.cpu()
            zcpu0 = zt.cpu() if zt else None
            scpu0 = benchlib.cpu_seconds(sink.pid)
            res = wrk(url, DURATION, lua)
            node_cpu = app.cpu() - cpu0
            zt_cpu = zt.cpu() - zcpu0 if zt else None
            sink_cpu = benchlib.cpu_seconds(sink.pid) - scpu0
        finally:
            app.stop()
        sink1 = sink_counts(sink_port)
        served = warm["requests"] + res["requests"]
        out = {
            "mode": mode,
            "rps": res["rps"],
            "p50_ms": res["p50_us"] / 1000,
            "p90_ms": res["p90_us"] / 1000,
            "p99_ms": res["p99_us"] / 1000,
            "requests": res["requests"],
            "served_incl_warmup": served,
            "errors": res["non2xx"] + res["err_connect"] + res["err_read"] + res["err_write"]
            + res["err_timeout"] + warm["non2xx"] + warm["err_read"] + warm["err_timeout"],
            "node_cpu_us_per_req": node_cpu / res["requests"] * 1e6 if res["requests"] else None,
            "agent_cpu_us_per_req": (zt_cpu / res["requests"] * 1e6
                                     if zt and res["requests"] else None),
            "sink_cpu_us_per_req": sink_cpu / res["requests"] * 1e6 if res["requests"] else None,
            "otel_spans_exported": sink1["spans"] - sink0["spans"],
            "otel_export_posts": sink1["posts"] - sink0["posts"],
            "otel_bad_posts": sink1["bad"] - sink0["bad"],
        }
        if zt:
            out["ztrace_node_spans"] = ztrace_node_spans(zt)
    finally:
        if zt:
            st = zt.stop()
            out["ztrace_final"] = st["final"]
            out["ztrace_peak_rss_kib"] = st["peak_rss_kib"]
    print(f"  {mode:6s} rps {out['rps']:8.0f}  p50 {out['p50_ms']:.2f} ms  p99 {out['p99_ms']:.2f} ms"
          f"  node {out['node_cpu_us_per_req']:.0f} us/req"
          + (f"  agent {out['agent_cpu_us_per_req']:.0f} us/req" if zt else "")
          + (f"  sink {out['sink_cpu_us_per_req']:.0f} us/req  otel spans {out['otel_spans_exported']}"
             if mode == "otel" else "")
          + (f"  ztrace node spans {out['ztrace_node_spans']} | {out['ztrace_final']}" if zt else ""),
          flush=True)
    return out


def spans_stored(final):
    try:
        return int(final.split(" spans stored")[0].rsplit(",", 1)[1].split()[0])
    except (IndexError, ValueError):
        return None


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--sink":
        sink_main(int(sys.argv[2]))
        return
    ensure_node_modules()
    lock = benchlib.bench_lock()
    port, sink_port = free_port(), free_port()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_LUA)
        lua = f.name
    sink = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--sink", str(sink_port)])
    runs = []
    try:
        benchlib.wait_port(sink_port)
        order = ["bare", "otel", "ztrace", "ztrace", "otel", "bare"]
        for rnd in range(ROUNDS):
            print(f"node: round {rnd + 1}/{ROUNDS}", flush=True)
            for mode in order:
                runs.append(run_one(mode, port, sink, sink_port, lua))
    finally:
        sink.send_signal(signal.SIGTERM)
        sink.wait()
        os.unlink(lua)
    del lock

    by = {m: [r for r in runs if r["mode"] == m] for m in ("bare", "otel", "ztrace")}

    def med(mode, key):
        return median([r[key] for r in by[mode] if r.get(key) is not None])

    rows = []
    for m in ("bare", "otel", "ztrace"):
        row = {"mode": m, "runs": len(by[m]), "rps": med(m, "rps"),
               "p50_ms": med(m, "p50_ms"), "p90_ms": med(m, "p90_ms"), "p99_ms": med(m, "p99_ms"),
               "rps_vs_bare": med(m, "rps") / med("bare", "rps"),
               "p99_vs_bare": med(m, "p99_ms") / med("bare", "p99_ms"),
               "node_cpu_us_per_req": med(m, "node_cpu_us_per_req"),
               "agent_cpu_us_per_req": med(m, "agent_cpu_us_per_req"),
               "sink_cpu_us_per_req": med(m, "sink_cpu_us_per_req") if m == "otel" else None,
               "errors": sum(r["errors"] for r in by[m])}
        row["total_cpu_us_per_req"] = row["node_cpu_us_per_req"] + (row["agent_cpu_us_per_req"] or 0)
        rows.append(row)

    figs = [
        fig("throughput otel / bare", rows[1]["rps_vs_bare"], "x"),
        fig("throughput ztrace / bare", rows[2]["rps_vs_bare"], "x"),
        fig("p99 otel / bare", rows[1]["p99_vs_bare"], "x"),
        fig("p99 ztrace / bare", rows[2]["p99_vs_bare"], "x"),
        fig("node CPU per request otel / bare",
            rows[1]["node_cpu_us_per_req"] / rows[0]["node_cpu_us_per_req"], "x"),
        fig("node+agent CPU per request ztrace / bare",
            rows[2]["total_cpu_us_per_req"] / rows[0]["node_cpu_us_per_req"], "x"),
    ]

    otel_served = sum(r["served_incl_warmup"] for r in by["otel"])
    otel_spans = sum(r["otel_spans_exported"] for r in by["otel"])
    otel_posts = sum(r["otel_export_posts"] for r in by["otel"])
    otel_bad = sum(r["otel_bad_posts"] for r in by["otel"])
    zt_served = sum(r["served_incl_warmup"] for r in by["ztrace"])
    zt_node = sum(r["ztrace_node_spans"] for r in by["ztrace"])
    zt_stored = sum(spans_stored(r["ztrace_final"]) or 0 for r in by["ztrace"])
    versions = pkg_versions()
    notes = [
        f"Both really traced. OTel: the sink received {otel_spans:,} spans in {otel_posts:,} "
        f"OTLP/HTTP POSTs ({otel_bad} unparsable) for {otel_served:,} requests served in otel runs "
        f"(warm-up included): {otel_spans / max(otel_served, 1):.2f} spans per request "
        "(an http server span plus express middleware and request-handler spans). "
        f"ztrace: {zt_node:,} spans of process node for {zt_served:,} requests served in ztrace runs "
        f"({zt_node / max(zt_served, 1):.2f} per request); its final lines said {zt_stored:,} spans "
        "stored in all (host-wide: the wrk client side too, and any other HTTP on the host).",
        "ztrace final lines (drop counters): "
        + " | ".join(r["ztrace_final"].replace("ztrace: stopped: ", "") for r in by["ztrace"]),
        "The app is one node process (single-threaded JS), so rps is bounded by one core; wrk, "
        "the agent and (in otel runs) the sink share the other core. "
        "node CPU per request is the node process's utime+stime (all its threads) during the "
        "measured window; agent CPU is ztrace up's, in the same window.",
        "otel: NodeSDK with only HttpInstrumentation and ExpressInstrumentation (not the full "
        "auto-instrumentations-node bundle: the app uses nothing else), BatchSpanProcessor at SDK "
        "defaults, OTLPTraceExporter (OTLP/HTTP JSON) to a loopback sink; metrics and logs "
        "exporters off. The sink (a Python process that counts \"spanId\" keys and discards the "
        "body) stands in for a collector; its CPU (sink_cpu_us_per_req) is shown but not in "
        "total_cpu_us_per_req, and it competes with node and wrk for the 2 cores as a local "
        "collector would. Each request also exercises W3C trace-context propagation and the resource "
        "detectors ran at start-up.",
        "Each run starts a fresh node process and warms it up with wrk for " + WARMUP
        + " before the measured window.",
        "Versions: node " + tool_version(["node", "--version"]) + ", "
        + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
    ]
    if any(r["errors"] for r in runs):
        notes.append("Some runs had errors (non-2xx or socket errors): see the errors column.")
    config = {"rounds": ROUNDS, "order": "bare otel ztrace ztrace otel bare", "wrk":
              f"-t{WRK_THREADS} -c{WRK_CONNS} -d{DURATION}", "warmup": WARMUP, "path": PATH}
    raw = [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in runs]
    path = benchlib.write_result("node", "zero-code vs SDK: express service bare, with OpenTelemetry's "
                                 "Node SDK, and under ztrace", rows, figs, notes, config)
    # Every run's figures too (report.py ignores the extra key).
    with open(path) as f:
        res = json.load(f)
    res["runs"] = raw
    with open(path, "w") as f:
        json.dump(res, f, indent=1)

if __name__ == "__main__":
    main()
