"""redis bench: redis-benchmark SET/GET against a private redis-server on
loopback, without and with `ztrace up`, alternated A B B A; one set of runs
unpipelined (-P 1) and one pipelined (-P 16). Figure: ops/s with/without."""
import csv
import io
import os
import subprocess
import tempfile
import time

import benchlib as bl

PORT = 18432
CLIENTS = 50
TARGET = 0.95
ROUNDS = 1 if bl.QUICK else 2
# requests per test (-n) per pipeline depth; full runs last ~5-10 s per test
N = {1: 5000, 16: 50000} if bl.QUICK else {1: 300000, 16: 2000000}
TESTS = ("SET", "GET")


class Redis:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="zt-bench-redis-")
        self.log = open(os.path.join(self.dir, "redis.log"), "w")
        self.proc = subprocess.Popen(
            ["/usr/bin/redis-server", "--port", str(PORT), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--daemonize", "no", "--protected-mode", "yes",
             "--unixsocket", "", "--loglevel", "warning"],
            stdout=self.log, stderr=subprocess.STDOUT)
        bl.wait_port(PORT)

    def cpu(self):
        return bl.cpu_seconds(self.proc.pid) or 0

    def stop(self):
        bl.stop_server(self.proc, self.log, self.dir)


def bench_once(srv, pipeline, traced):
    z = bl.Ztrace() if traced else None
    try:
        c0 = srv.cpu()
        p = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(PORT), "-q", "--csv",
                            "-t", ",".join(t.lower() for t in TESTS), "-n", str(N[pipeline]),
                            "-P", str(pipeline), "-c", str(CLIENTS)],
                           capture_output=True, text=True, timeout=600)
        c1 = srv.cpu()
        if p.returncode != 0:
            raise RuntimeError("redis-benchmark failed: " + p.stderr + p.stdout)
        res = {}
        for row in csv.DictReader(io.StringIO(p.stdout)):
            res[row["test"]] = {"ops": float(row["rps"]), "p50_ms": float(row["p50_latency_ms"]),
                                "p99_ms": float(row["p99_latency_ms"])}
        missing = [t for t in TESTS if t not in res]
        if missing:
            raise RuntimeError(f"redis-benchmark printed no result for {missing}: {p.stdout}")
        if z:
            time.sleep(1)  # let ztrace drain its ring buffer
    finally:
        zres = z.stop() if z else None
    res["redis_cpu_s"] = c1 - c0
    res["zt"] = zres
    return res


def main():
    _lock = bl.bench_lock()
    srv = Redis()
    results = {}
    try:
        subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(PORT), "-q", "-t", "set,get",
                        "-n", "2000", "-c", "10"], capture_output=True)  # warm-up
        for pl in N:
            results[pl] = bl.abba(ROUNDS, lambda: bench_once(srv, pl, False),
                                  lambda: bench_once(srv, pl, True))
    finally:
        srv.stop()

    rows, figures, notes = [], [], []
    ops_total = {pl: len(TESTS) * N[pl] for pl in N}
    for pl, (ra, rb) in results.items():
        for t in TESTS:
            meds = {}
            for mode, rs in (("bare", ra), ("ztrace", rb)):
                m = {k: bl.median([r[t][k] for r in rs]) for k in ("ops", "p50_ms", "p99_ms")}
                meds[mode] = m
                rows.append({"test": t, "pipeline": pl, "mode": mode, "runs": len(rs),
                             "ops_per_s": round(m["ops"], 1), "p50_ms": round(m["p50_ms"], 4),
                             "p99_ms": round(m["p99_ms"], 4)})
            r = round(meds["ztrace"]["ops"] / meds["bare"]["ops"], 4)
            figures.append(bl.fig(f"{t} -P {pl} ops/s with/without", r, "x", f">= {TARGET}", r >= TARGET))
        for mode, rs in (("bare", ra), ("ztrace", rb)):
            per = sum(r["redis_cpu_s"] for r in rs) / (ops_total[pl] * len(rs)) * 1e5
            figures.append(bl.fig(f"redis-server CPU per 100k ops -P {pl} ({mode})", round(per, 4), "CPU-s"))
        zcpu = sum(r["zt"]["cpu_s"] for r in rb) / (ops_total[pl] * len(rb)) * 1e5
        figures.append(bl.fig(f"ztrace CPU per 100k ops -P {pl}", round(zcpu, 4), "CPU-s"))
        for i, r in enumerate(rb):
            notes.append(f"-P {pl} traced run {i + 1}: {r['zt']['final']}")
    rss = max(r["zt"]["peak_rss_kib"] or 0 for ra, rb in results.values() for r in rb)
    figures.append(bl.fig("ztrace peak RSS", rss, "KiB"))
    notes[:0] = [
        f"redis-server {PORT} on 127.0.0.1, --save \"\" --appendonly no; redis-benchmark -q --csv "
        f"-t set,get -c {CLIENTS}, -n {N[1]} at -P 1 and -n {N[16]} at -P 16 per test; "
        f"{ROUNDS} A B B A round(s) per pipeline depth, so {2 * ROUNDS} runs per mode; ops/s, p50 and "
        "p99 are medians over runs (latencies from redis-benchmark, per request or per pipeline batch).",
        "ztrace parses RESP: every SET and GET becomes a span on each side (client and server), "
        "linked by TCP seq and stored, so this measures capture, parsing, trace assembly and storage; "
        "the final lines of each traced run (below) say how many spans were stored and how many were "
        "dropped (queue_full: the writer fell behind).",
        "CPU figures are per 100k operations (SET+GET together), summed over runs of a mode; ztrace CPU "
        "runs from the end of its start-up to 1 s after the load ends.",
        "redis-benchmark, redis-server and ztrace share the machine's 2 CPUs.",
        "Where the capture cost goes (perf on redis-server, profiled once on 2026-11-23 when RESP was "
        "not yet parsed, not re-measured by each run): redis-server used ~1.5x the CPU per op; ~21% of "
        "its samples were BPF programs and "
        "tracepoint machinery on every read/write (zt_enter/exit_read/write, htab_map_update/delete_elem, "
        "copy_from_kernel_nofault/bpf_probe_read_kernel, ring buffer reserve/query). redis is single-"
        "threaded and CPU-bound at -P 1, so that per-syscall cost is lost throughput one for one; "
        "pipelining (-P 16) amortises it over 16 commands per syscall. redis-benchmark (also one thread, also "
        "traced) pays the same per-syscall cost on the client side.",
    ]
    bl.write_result("redis", "redis-benchmark SET/GET", rows, figures, notes,
                    {"clients": CLIENTS, "n_P1": N[1], "n_P16": N[16], "rounds": ROUNDS, "port": PORT,
                     "persistence": "off"})


if __name__ == "__main__":
    main()
