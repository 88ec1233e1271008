"""Span store: spans/s inserted through the store interface (SQLite backend,
schema 5: spans in zstd blocks with a trace_id -> block index), bytes per span
on disk and peak RSS.

bench/store_bench.c does the work the way `ztrace up` does: one put_spans()
call per span, the store committing each full batch (4096 spans) in one
transaction, a final flush, then close (which checkpoints the WAL). The data
directory is a fresh one under the build directory (same disk as a real
store), removed afterwards. There is no second system to alternate with, so
the same insert is repeated and the median reported.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import benchlib as bl

TARGET = 200_000


def run(binary, n):
    d = tempfile.mkdtemp(prefix="zt-store-", dir=bl.OUT)
    try:
        out = subprocess.run([binary, os.path.join(d, "data"), str(n)], capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"store: store_bench failed: {out.stderr.strip()} {out.stdout.strip()}")
        return json.loads(out.stdout)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    binary = os.path.join(bl.OUT, "store_bench")
    if not os.path.exists(binary):
        sys.exit(f"store: {binary} missing (make -C bench build)")
    n = 20_000 if bl.QUICK else 1_000_000
    runs = 1 if bl.QUICK else 3
    os.makedirs(bl.OUT, exist_ok=True)
    with bl.bench_lock():
        res = [run(binary, n) for _ in range(runs)]

    for r in res:
        if r["rows"] != n or r["spans_written"] != n:
            sys.exit(f"store: {r['rows']} rows / {r['spans_written']} written, expected {n}")
    rows = [{
        "run": i + 1,
        "spans": r["n"],
        "insert s": r["insert_s"],
        "spans/s": round(r["spans_per_s"]),
        "close s": r["close_s"],
        "db MiB": round(r["db_bytes"] / 2**20, 1),
        "wal MiB at end of inserts": round(r["wal_bytes_open"] / 2**20, 1),
        "bytes/span": r["bytes_per_span"],
        "peak RSS MiB": round(r["peak_rss_kib"] / 1024, 1),
    } for i, r in enumerate(res)]
    rate = bl.median([r["spans_per_s"] for r in res])
    bps = bl.median([r["bytes_per_span"] for r in res])
    rss = bl.median([r["peak_rss_kib"] for r in res])
    figures = [
        bl.fig("spans stored per second (schema v4 indexes)", round(rate), "spans/s", f">= {TARGET:,}", rate >= TARGET),
        bl.fig("bytes per span on disk", round(bps, 1), "B"),
        bl.fig("peak RSS of the inserting process", round(rss / 1024, 1), "MiB"),
    ]
    notes = [
        f"{runs} run(s) of {n:,} spans into an empty store, median; time from the first put_spans() "
        "to the end of the final flush (close, which checkpoints the WAL, is timed apart).",
        "Spans look like HTTP traffic seen by the session layer: 8 endpoint shapes over 6 processes, "
        "IPv4 addresses, TCP seqs on every span, syscall trace ids shaped like session.c's "
        "(host hash << 40 ^ counter; 0 on plain clients), X-Request-ID on 30% and trace/span ids on "
        "20%; span_uids are 64-bit hashes in hex. The generator rewrites a few fields of a template "
        "per span (its cost is inside the timing).",
        f"Schema version {res[0]['schema_version']}, indexes: unique (start_ns, span_uid) (time order and "
        "duplicate check) and (trace_id, start_ns); links are made at ingest, so the per-key indexes of "
        "schema v2 (TCP seqs, X-Request-ID, thread context) are gone; WAL, synchronous=NORMAL, "
        "16 KiB pages.",
        "bytes/span = (db + wal) after close / spans; the WAL is checkpointed and removed on close.",
        f"Peak RSS includes the bench's own templates and one struct zt_span "
        f"({res[0]['span_struct_bytes']} B); the store's batch is 4096 such structs (~8 MiB) and "
        "SQLite's page cache is capped at 64 MiB.",
    ]
    config = {"spans": n, "runs": runs, "batch": 4096}
    bl.write_result("store", "Span store insert rate and size", rows, figures, notes, config)


if __name__ == "__main__":
    main()
