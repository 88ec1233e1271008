"""`ztrace server` ingest into ClickHouse (issue 12's insert figure through the
server): bench/ingest_bench.c with a clickhouse:// store URL, against a
clickhouse-server 18.16 started here (temp dir, ports 20870-20872). The
agent protocol over loopback into zt_ingest (decode, joiner with assembly
on, the ClickHouse store: RowBinary inserts over HTTP, the duplicate check;
acks once ClickHouse took the spans), alternated A B B A with the same spans
put straight into the same sink; medians of 2 runs each. ClickHouse shares
the machine's cores, so the wall rate is what one server with a local
ClickHouse does here, and spans per CPU-second is the server thread's cost.
usage: /usr/bin/python3 bench/ingest_clickhouse.py [SPANS] (default 200000)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from clickhouse_e2e import ClickHouse  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(os.environ.get("ZT_BUILD", os.path.join(ROOT, "build")), "bench", "ingest_bench")


def main():
    n = sys.argv[1] if len(sys.argv) > 1 else "200000"
    tmp = tempfile.mkdtemp(prefix="ztrace-ingest-ch-")
    ch = ClickHouse(os.path.join(tmp, "ch"), 20870, 20871, 20872)
    try:
        ch.start()
        r = subprocess.run([BIN, os.path.join(tmp, "runs"), n, "2048", "clickhouse://127.0.0.1:20870/ingest"],
                           capture_output=True, text=True)
        sys.stderr.write(r.stderr)
        if r.returncode:
            sys.exit(f"ingest_bench failed: {r.stdout} {r.stderr}")
        res = json.loads(r.stdout)
        print(json.dumps(res))
        a, b = res["agent_protocol"], res["sink_only"]
        print(f"ztrace server -> ClickHouse: {a['spans_per_s']:.0f} spans/s wall, "
              f"{a['spans_per_cpu_s']:.0f} spans per server CPU-second; the same spans into the sink directly: "
              f"{b['spans_per_s']:.0f} spans/s wall ({res['spans']} spans, batches of {res['batch']})")
        rows = ch.sql("SELECT database, sum(rows) FROM system.parts WHERE active AND table = 'spans_local' "
                      "OR active AND table = 'spans' GROUP BY database ORDER BY database FORMAT TSV")
        print("rows per run database: " + " ".join(rows.split()))
    finally:
        ch.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
