"""postgres bench: pgbench against a private PostgreSQL 15 cluster over TCP
loopback, select-only (-S) and the default TPC-B-like script, without and
with `ztrace up`, alternated A B B A. Figure: tps with/without."""
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time

import benchlib as bl

PGBIN = "/usr/lib/postgresql/15/bin"
PORT = 18433
SCALE = 5
CLIENTS, JOBS = 8, 2
DUR = 1 if bl.QUICK else 10
ROUNDS = 1 if bl.QUICK else 2
TARGET = 0.95
SCRIPTS = (("select-only", ["-S"]), ("tpcb-like", []))


def as_pg(*cmd, **kw):
    return subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=True,
                          capture_output=True, text=True, **kw)


class Cluster:
    def __init__(self):
        pw = pwd.getpwnam("postgres")
        self.dir = tempfile.mkdtemp(prefix="zt-bench-pg-")
        os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.dir, 0o700)
        self.data = os.path.join(self.dir, "data")
        self.started = False
        as_pg(f"{PGBIN}/initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
              "--no-sync", "--locale=C")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(f"\nlisten_addresses = '127.0.0.1'\nport = {PORT}\n"
                    f"unix_socket_directories = '{self.dir}'\n"
                    "max_connections = 30\nshared_buffers = 128MB\n"
                    "synchronous_commit = off\nlogging_collector = off\n")
        as_pg(f"{PGBIN}/pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "server.log"),
              "-w", "-t", "60", "start")
        self.started = True
        bl.wait_port(PORT)

    def pids(self):
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                pm = int(f.readline())
        except (OSError, ValueError):
            return []
        return [pm] + bl.children_pids(pm)

    def stop(self):
        try:
            if self.started:
                as_pg(f"{PGBIN}/pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "60", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def pgbench(*args):
    return as_pg(f"{PGBIN}/pgbench", "-h", "127.0.0.1", "-p", str(PORT), "-U", "postgres", *args,
                 "postgres", timeout=DUR * 10 + 300).stdout


def run_once(cluster, extra, traced):
    z = bl.Ztrace() if traced else None
    try:
        pids = cluster.pids()
        c0 = bl.tree_cpu_seconds(pids)
        out = pgbench("-c", str(CLIENTS), "-j", str(JOBS), "-T", str(DUR), "-n", *extra)
        # backends exit (and are reaped) when pgbench disconnects: count them via the
        # postmaster's cutime/cstime, which cpu_seconds includes
        time.sleep(0.3)
        c1 = bl.tree_cpu_seconds(pids)
        if z:
            time.sleep(1)  # let ztrace drain its ring buffer
    finally:
        zres = z.stop() if z else None
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
    xacts = int(re.search(r"number of transactions actually processed: (\d+)", out).group(1))
    lat = re.search(r"latency average = ([\d.]+) ms", out)
    return {"tps": tps, "xacts": xacts, "lat_ms": float(lat.group(1)) if lat else None,
            "pg_cpu_s": c1 - c0, "zt": zres}


def main():
    _lock = bl.bench_lock()
    cl = Cluster()
    results = {}
    try:
        pgbench("-i", "-s", str(SCALE), "-q")
        for name, extra in SCRIPTS:
            pgbench("-c", str(CLIENTS), "-j", str(JOBS), "-T", "1", "-n", *extra)  # warm-up
            results[name] = bl.abba(ROUNDS, lambda: run_once(cl, extra, False),
                                    lambda: run_once(cl, extra, True))
    finally:
        cl.stop()

    rows, figures, notes = [], [], []
    for name, (ra, rb) in results.items():
        med = {}
        for mode, rs in (("bare", ra), ("ztrace", rb)):
            xacts = sum(r["xacts"] for r in rs)
            row = {"script": name, "mode": mode, "runs": len(rs),
                   "tps": round(bl.median([r["tps"] for r in rs]), 1),
                   "latency_avg_ms": round(bl.median([r["lat_ms"] for r in rs if r["lat_ms"] is not None]), 4),
                   "postgres_cpu_s_per_100k_xact": round(sum(r["pg_cpu_s"] for r in rs) / xacts * 1e5, 3),
                   "ztrace_cpu_s_per_100k_xact": None}
            if mode == "ztrace":
                row["ztrace_cpu_s_per_100k_xact"] = round(sum(r["zt"]["cpu_s"] for r in rs) / xacts * 1e5, 3)
            med[mode] = row
            rows.append(row)
        r = round(med["ztrace"]["tps"] / med["bare"]["tps"], 4)
        figures.append(bl.fig(f"{name} tps with/without", r, "x", f">= {TARGET}", r >= TARGET))
        figures.append(bl.fig(f"{name} ztrace CPU per 100k transactions",
                              med["ztrace"]["ztrace_cpu_s_per_100k_xact"], "CPU-s"))
        for i, x in enumerate(rb):
            notes.append(f"{name} traced run {i + 1}: {x['xacts']} transactions; {x['zt']['final']}")
    rss = max(x["zt"]["peak_rss_kib"] or 0 for ra, rb in results.values() for x in rb)
    figures.append(bl.fig("ztrace peak RSS", rss, "KiB"))
    notes[:0] = [
        f"Private PostgreSQL 15 cluster (initdb in a temp dir owned by postgres, port {PORT}, "
        "TCP on 127.0.0.1 only, unix socket in the temp dir, shared_buffers 128MB, "
        "synchronous_commit off so commits are not bound by the disk), removed afterwards.",
        f"pgbench -i -s {SCALE}; then pgbench -h 127.0.0.1 -c {CLIENTS} -j {JOBS} -T {DUR} -n with -S "
        f"(select-only) and with the default TPC-B-like script; {ROUNDS} A B B A round(s) per script, so "
        f"{2 * ROUNDS} runs per mode; tps and latency are medians over runs.",
        "ztrace parses the PostgreSQL wire protocol: every statement becomes a span on each side "
        "(pgbench and the backend), stored; so this measures capture, parsing, trace assembly and "
        "storage.",
        "postgres CPU = utime+stime of the postmaster and its children (backends exit at the end of "
        "each run and are counted through the postmaster's cutime/cstime), per 100k transactions; "
        "ztrace CPU from the end of its start-up to 1 s after the load ends.",
        "pgbench, postgres and ztrace share the machine's 2 CPUs.",
    ]
    bl.write_result("postgres", "pgbench select-only and TPC-B-like over TCP loopback", rows, figures,
                    notes, {"scale": SCALE, "clients": CLIENTS, "jobs": JOBS, "duration_s": DUR,
                            "rounds": ROUNDS, "port": PORT, "synchronous_commit": "off"})


if __name__ == "__main__":
    main()
