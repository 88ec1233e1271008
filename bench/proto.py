"""Parse throughput per protocol: each parser (src/proto/) on the golden
fixtures recorded from the real clients and servers (tests/data/proto/PROTO/,
and tests/data/replay/ for HTTP), through bench/proto_bench: the parser only
(init, feed per syscall, finish), no pairing or store. Five runs per
protocol, medians of MB/s (wire bytes: what the syscalls moved; the parser
reads only the captured prefix of each) and messages/s."""
import glob
import json
import os
import subprocess
import sys

import benchlib as bl

DATA = os.path.join(bl.ROOT, "tests", "data")
# folder -> protocol name as registered (model/l7.h)
NAMES = {"redis": "Redis", "memcached": "Memcached", "postgresql": "PostgreSQL", "mysql": "MySQL",
         "dns": "DNS", "mqtt": "MQTT", "amqp": "AMQP", "kafka": "Kafka", "mongodb": "MongoDB", "h2": "HTTP2"}


def run(binary, proto, secs, files):
    out = subprocess.run([binary, proto, str(secs), *files], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main():
    binary = os.path.join(bl.OUT, "proto_bench")
    if not os.path.exists(binary):
        sys.exit(f"proto: {binary} missing (make -C bench build)")
    sets = [("HTTP", sorted(glob.glob(os.path.join(DATA, "replay", "*.zrec"))))]
    for d in sorted(glob.glob(os.path.join(DATA, "proto", "*"))):
        name = NAMES.get(os.path.basename(d))
        files = sorted(glob.glob(os.path.join(d, "*.zrec")))
        if name and files:
            sets.append((name, files))
    secs = 0.1 if bl.QUICK else 1.0
    rounds = 1 if bl.QUICK else 5
    rows, figures = [], []
    with bl.bench_lock():
        for proto, files in sets:
            try:
                rs = [run(binary, proto, secs, files) for _ in range(rounds)]
            except subprocess.CalledProcessError as e:
                rows.append({"protocol": proto, "error": e.stderr.strip()[:200]})
                continue
            mbs = [r["wire_bytes_per_pass"] * r["passes"] / r["seconds"] / 1e6 for r in rs]
            cmbs = [r["captured_bytes_per_pass"] * r["passes"] / r["seconds"] / 1e6 for r in rs]
            mps = [r["messages_per_pass"] * r["passes"] / r["seconds"] for r in rs]
            rows.append({
                "protocol": proto,
                "fixtures": len(files),
                "connections": rs[0]["connections"],
                "messages/pass": rs[0]["messages_per_pass"],
                "wire KB/pass": round(rs[0]["wire_bytes_per_pass"] / 1e3, 1),
                "MB/s wire (median)": round(bl.median(mbs), 1),
                "MB/s captured (median)": round(bl.median(cmbs), 1),
                "messages/s (median)": round(bl.median(mps)),
            })
            figures.append(bl.fig(f"{proto} parse throughput", round(bl.median(mps)), "msg/s"))
    bl.write_result("proto", "Parse throughput per protocol", rows, figures, notes=[
        "Input: the golden fixtures, i.e. real traffic of the real clients and servers recorded with "
        "`ztrace record` (tests/data/proto/*/README.md say what ran); connections are those whose first "
        "bytes infer as the protocol. Wire MB/s counts every byte the syscalls moved, including bodies the "
        "1 KiB capture cut (the parser skips them by length); captured MB/s what it could read.",
        "Only the parser runs (init, feed per syscall, finish); bench/pipeline measures the whole pipeline.",
    ])


if __name__ == "__main__":
    main()
