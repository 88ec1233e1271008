"""Issue 12's store figures: bench/clickhouse_bench.c against a
clickhouse-server started here (temp dir, ports 20740-20742) and SQLite in a
temp dir, on the same spans. usage: /usr/bin/python3 bench/clickhouse.py [N]
(default 1000000 spans). Prints the bench's lines as measured in this run."""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from clickhouse_e2e import ClickHouse  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(os.environ.get("ZT_BUILD", os.path.join(ROOT, "build")), "bench", "clickhouse_bench")


def main():
    n = sys.argv[1] if len(sys.argv) > 1 else "1000000"
    tmp = tempfile.mkdtemp(prefix="ztrace-ch-bench-")
    ch = ClickHouse(os.path.join(tmp, "ch"), 20740, 20741, 20742)
    try:
        ch.start()
        r = subprocess.run([BIN, n, "clickhouse://127.0.0.1:20740/bench", os.path.join(tmp, "sq")],
                           capture_output=True, text=True)
        sys.stdout.write(r.stdout)
        if r.returncode:
            sys.exit(f"clickhouse_bench failed: {r.stderr}")
        # after merges settle: what the table takes once its parts are merged
        ch.sql("OPTIMIZE TABLE bench.spans FINAL")
        b = ch.sql("SELECT sum(bytes_on_disk), sum(rows) FROM system.parts WHERE active AND database = 'bench' "
                   "AND table = 'spans'").split()
        print(f"clickhouse bytes after OPTIMIZE FINAL: {b[0]} for {b[1]} rows = {int(b[0]) / int(b[1]):.1f} bytes/span")
    finally:
        ch.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
