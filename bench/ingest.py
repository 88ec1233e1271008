"""Server ingest: spans/s taken by `ztrace server` over the agent protocol on
one core, trace assembly on (joiner + SQLite store), acks after durable
flushes; side by side with the same spans put straight into the same sink
(what `ztrace up` does), alternated A B B A in one run of
bench/ingest_bench.c (medians of 2 runs each). The figure for "one core" is
spans per CPU-second of the server thread (pinned to CPU 0); the wall rate
includes the store's fsyncs on this disk.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import benchlib as bl


def main():
    binary = os.path.join(bl.OUT, "ingest_bench")
    if not os.path.exists(binary):
        sys.exit(f"ingest: {binary} missing (make -C bench build)")
    n = 20_000 if bl.QUICK else 200_000
    os.makedirs(bl.OUT, exist_ok=True)
    d = tempfile.mkdtemp(prefix="zt-ingest-", dir=bl.OUT)
    try:
        with bl.bench_lock():
            out = subprocess.run([binary, os.path.join(d, "runs"), str(n)], capture_output=True, text=True)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    if out.returncode != 0:
        sys.exit(f"ingest: ingest_bench failed: {out.stderr.strip()} {out.stdout.strip()}")
    r = json.loads(out.stdout)
    a, b = r["agent_protocol"], r["sink_only"]
    rows = [{"mode": name, "spans": r["spans"], "wall s": m["seconds"], "spans/s (wall)": m["spans_per_s"],
             "server CPU s": m["cpu_s"], "spans per CPU-s": m["spans_per_cpu_s"]}
            for name, m in (("agent protocol -> server", a), ("same spans -> sink directly", b))]
    figures = [
        bl.fig("server ingest, spans per CPU-second (one core, assembly on)", a["spans_per_cpu_s"], "spans/s"),
        bl.fig("server ingest, spans/s wall (store fsyncs included)", a["spans_per_s"], "spans/s"),
        bl.fig("CPU rate of the protocol path vs the sink alone", r["cpu_rate_ratio_protocol_vs_sink"], "x"),
    ]
    notes = [
        f"{r['spans']:,} HTTP spans (client and server span of each exchange, equal TCP seqs: the joiner "
        f"links every pair) in batches of {r['batch']} (the agent's default), zstd, one agent connection "
        "with the agent's window of 32 unacknowledged batches; batches are encoded before the clock starts.",
        "Every run stored every span and made every tcp_seq link: " + str(r["all_stored_and_linked"]) + ".",
    ]
    bl.write_result("ingest", "Server ingest over the agent protocol", rows, figures, notes,
                    {"spans": r["spans"], "batch": r["batch"]})


if __name__ == "__main__":
    main()
