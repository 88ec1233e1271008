"""OTLP ingest spans/s on one core (bench/otlp_bench.c): POST /v1/traces bodies
(512-span batches shaped like an OpenTelemetry SDK's HTTP spans) through
zt_otlp_handle, decode only and decode + the joiner + the SQLite store (the
path `ztrace up` gives SDK spans), protobuf against OTLP/JSON. Each pair runs
alternated A B B A (pb, json, json, pb) into fresh data directories; the
medians and their ratios are reported. The HTTP server's own cost (a
libmicrohttpd request) is not in these figures.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import benchlib as bl

N_PB = 20000 if bl.QUICK else 200000
N_JSON = 5000 if bl.QUICK else 40000  # jansson is the slow part: fewer spans, same batches
ROUNDS = 1 if bl.QUICK else 2


def run(binary, mode, n):
    d = tempfile.mkdtemp(prefix="zt-otlp-", dir=bl.OUT)
    try:
        out = subprocess.run(["taskset", "-c", "1", binary, mode, os.path.join(d, "data"), str(n)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"otlp: otlp_bench {mode} failed: {out.stderr.strip()}")
        r = json.loads(out.stdout)
        if r["rejected"] or r["written"] != r["spans"]:
            sys.exit(f"otlp: {mode}: {r}")
        return r
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    os.makedirs(bl.OUT, exist_ok=True)
    binary = os.path.join(bl.OUT, "otlp_bench")
    if not os.path.exists(binary):
        sys.exit("otlp: build/bench/otlp_bench missing: run `make -C bench build`")
    _lock = bl.bench_lock()
    rows, figures, med = [], [], {}
    for sink in ("", "-sink"):
        a, b = bl.abba(ROUNDS, lambda: run(binary, "pb" + sink, N_PB), lambda: run(binary, "json" + sink, N_JSON))
        for r in a + b:
            rows.append({"mode": r["mode"], "spans": r["spans"], "seconds": round(r["seconds"], 3),
                         "spans/s": round(r["spans_per_s"]), "spans/CPU-s": round(r["spans_per_cpu_s"]),
                         "body bytes/span": r["body_bytes_per_span"],
                         "explicit links": r["explicit_links"]})
        # per CPU-second: the machine is shared, wall time includes waiting for a CPU
        med["pb" + sink] = bl.median([r["spans_per_cpu_s"] for r in a])
        med["json" + sink] = bl.median([r["spans_per_cpu_s"] for r in b])
    figures += [
        bl.fig("OTLP protobuf ingest, decode only (one core)", round(med["pb"]), "spans/CPU-s"),
        bl.fig("OTLP protobuf ingest, decode + joiner + SQLite store (one core)", round(med["pb-sink"]), "spans/CPU-s"),
        bl.fig("OTLP/JSON ingest, decode only (one core)", round(med["json"]), "spans/CPU-s"),
        bl.fig("OTLP/JSON ingest, decode + joiner + SQLite store (one core)", round(med["json-sink"]), "spans/CPU-s"),
        bl.fig("protobuf / JSON decode speed", round(med["pb"] / med["json"], 1), "x"),
    ]
    notes = [f"medians of {2 * ROUNDS} runs per mode; {N_PB} protobuf and {N_JSON} JSON spans per run",
             "rates are spans per CPU-second of the (single-threaded) bench process, pinned to one core;"
             " the wall-clock rate is in the table",
             "JSON is parsed by jansson into a tree before mapping: most of its time"]
    bl.write_result("otlp", "OTLP/HTTP trace ingest", rows, figures, notes,
                    {"spans_per_request": 512, "pinned_cpu": 1})


if __name__ == "__main__":
    main()
