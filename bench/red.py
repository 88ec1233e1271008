"""RED rollups: CPU per span of the rollup (trace/rollup.c) and how fast the
store answers the service map and RED series, from bench/red_bench.c.

Traffic: one hour of span time among 20 services with 5 endpoints each, every
exchange a client and a server span linked by TCP seq, drained once per second
of span time (as `up`'s sink does). There is no second system to alternate
with: the rollup alone is timed 5 times in one run and the median reported;
query times are medians of 5. Times are CPU time of the bench's thread (the
machine is shared).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import benchlib as bl


def main():
    binary = os.path.join(bl.OUT, "red_bench")
    if not os.path.exists(binary):
        sys.exit(f"red: {binary} missing (make -C bench build)")
    n = 20_000 if bl.QUICK else 200_000
    os.makedirs(bl.OUT, exist_ok=True)
    d = tempfile.mkdtemp(prefix="zt-red-", dir=bl.OUT)
    try:
        with bl.bench_lock():
            out = subprocess.run([binary, os.path.join(d, "data"), str(n)], capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"red: red_bench failed: {out.stderr.strip()} {out.stdout.strip()}")
        r = json.loads(out.stdout)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    rows = [{k: v for k, v in r.items()}]
    figures = [
        bl.fig("rollup CPU per span (service, endpoint, edge x 10 s and 1 min, /metrics)",
               r["ingest_ns_per_span"], "ns"),
        bl.fig("ztrace map over the last 15 min (1h of data)", r["map_15m_ms"], "ms"),
        bl.fig("ztrace map over the hour", r["map_1h_ms"], "ms"),
        bl.fig("endpoint RED series over the hour, 1 min steps", r["series_1h_step1m_ms"], "ms"),
    ]
    notes = [
        f"{r['exchanges']:,} exchanges ({r['spans']:,} spans) over one hour of span time; "
        f"{r['store_rows']:,} merged rows read back; writing the rollups through SQLite took "
        f"{r['store_s']} s of CPU.",
        "Cardinality is high for the rate (about 500 series per resolution for ~55 exchanges per "
        "second), so per-series costs (a new row each drain) weigh more than on a busy service.",
    ]
    bl.write_result("red", "RED rollups and the service map", rows, figures, notes, {"exchanges": n})


if __name__ == "__main__":
    main()
