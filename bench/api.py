"""HTTP API latency (src/server/api*.c) at 1M stored spans: a trace by id
through /api/v1/traces/{id} against the same read straight on the store
(query_trace: no HTTP, no JSON), alternated A B B A; Jaeger's trace by id;
trace searches and span pages through the API. Then a check that the
CLI's --server pages right past one API page: `ztrace spans --json --limit
25000` through the API equals the same read from the data dir.

bench/traces_bench.c (sink mode: the joiner in front of the store, as
`ztrace up` writes) fills the store; bench/api_bench.c serves the API on
127.0.0.1 and times requests with one keep-alive libcurl connection.
BENCH_QUICK=1: 20k spans.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import benchlib as bl


def main():
    tb = os.path.join(bl.OUT, "traces_bench")
    ab = os.path.join(bl.OUT, "api_bench")
    for b in (tb, ab):
        if not os.path.exists(b):
            sys.exit(f"api: {b} missing (make -C bench build)")
    n = 20_000 if bl.QUICK else 1_000_000
    os.makedirs(bl.OUT, exist_ok=True)
    d = tempfile.mkdtemp(prefix="zt-api-", dir=bl.OUT)
    data = os.path.join(d, "data")
    try:
        with bl.bench_lock():
            g = subprocess.run([tb, "sink", data, str(n), "10"], capture_output=True, text=True)
            if g.returncode:
                sys.exit(f"api: traces_bench failed: {g.stderr}")
            gen = json.loads(g.stdout)
            m = subprocess.run([ab, "measure", data, "200"], capture_output=True, text=True)
            if m.returncode:
                sys.exit(f"api: api_bench failed: {m.stderr} {m.stdout}")
            r = json.loads(m.stdout)
        # --server against --data past one page (10000 spans)
        srv = subprocess.Popen([ab, "serve", data], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        addr = srv.stdout.readline().split()[-1]
        lim = "25000" if not bl.QUICK else "15000"
        a = subprocess.run([bl.ZTRACE, "spans", "--json", "--limit", lim, "--data", data], capture_output=True,
                           text=True)
        b = subprocess.run([bl.ZTRACE, "spans", "--json", "--limit", lim, "--server", f"http://{addr}"],
                           capture_output=True, text=True)
        srv.stdin.close()
        srv.wait(30)
        same = a.returncode == 0 and b.returncode == 0 and a.stdout == b.stdout
        nlines = a.stdout.count("\n")
    finally:
        shutil.rmtree(d, ignore_errors=True)

    rows = []
    for k, v in r.items():
        if isinstance(v, dict):
            rows.append({"request": k, "n": v["n"], "median ms": v["median_ms"], "p90 ms": v["p90_ms"],
                         "p99 ms": v["p99_ms"], "answer bytes": v["bytes"]})
    label = f"{gen['n'] / 1e6:g}M spans"
    figures = [
        bl.fig(f"{label}: /api/v1/traces/{{id}} median", r["api_trace_by_id"]["median_ms"], "ms"),
        bl.fig(f"{label}: /api/v1/traces/{{id}} p99", r["api_trace_by_id"]["p99_ms"], "ms"),
        bl.fig(f"{label}: store query_trace median (no HTTP/JSON)", r["store_query_trace"]["median_ms"], "ms"),
        bl.fig(f"{label}: Jaeger /api/traces/{{id}} median", r["jaeger_trace_by_id"]["median_ms"], "ms"),
        bl.fig(f"{label}: trace search, 20 most recent, median", r["search_recent_20"]["median_ms"], "ms"),
        bl.fig(f"{label}: trace search by service, median", r["search_service_20"]["median_ms"], "ms"),
        bl.fig(f"{label}: trace search, errors only, median", r["search_errors_20"]["median_ms"], "ms"),
        bl.fig(f"{label}: Jaeger search by service, median", r["jaeger_search_20"]["median_ms"], "ms"),
        bl.fig(f"spans --server --limit {lim} equals --data ({nlines} lines)", "yes" if same else "NO"),
    ]
    notes = [
        f"Store: {gen['n']:,} spans, {gen['traces']:,} traces from bench/traces_bench.c (sink), "
        f"{gen['db_bytes'] / 2**20:.0f} MiB.",
        "Trace ids: 200, every k-th of all traces (old and new alike). Trace by id: 4 rounds A B B A "
        "(API, store, store, API); the store figure is the same query_trace with no HTTP and no JSON.",
        "Searches: 20 runs each, fewer (at least 3) when 20 would take over 20 s; the time includes "
        "reading and JSON-encoding the answer and the loopback round trip.",
        "The machine was shared with other builds and tests while this ran: absolute times are high.",
    ]
    bl.write_result("api", "HTTP API latency", rows, figures, notes, {"spans": gen["n"]})
    if not same:
        sys.exit("api: spans --server differs from --data")


if __name__ == "__main__":
    main()
