"""Shared helpers for ztrace's benches (stdlib only; run with /usr/bin/python3
as root). Every bench:
  - measures with and without ztrace in the same run, alternating A B B A,
    and reports medians and ratios;
  - writes one JSON result (see `write_result`) that bench/report.py turns
    into bench/RESULTS.md;
  - holds the machine-wide bench lock while measuring, so two benches never
    share the CPUs.

BENCH_QUICK=1 in the environment asks every bench for a tiny smoke run
(seconds, not minutes): the figures are then meaningless but the code runs.
"""
import datetime
import fcntl
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = os.environ.get("ZT_BUILD", os.path.join(ROOT, "build"))
ZTRACE = os.environ.get("ZTRACE_BIN") or os.path.join(BUILD, "ztrace")  # ZTRACE_BIN: another build, for a side-by-side run
OUT = os.path.join(BUILD, "bench")
QUICK = os.environ.get("BENCH_QUICK") == "1"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def bench_lock():
    """Blocks until no other bench measures; held until the process exits."""
    f = open("/tmp/ztrace-bench.lock", "w")
    fcntl.flock(f, fcntl.LOCK_EX)
    return f


def median(xs):
    return statistics.median(xs) if xs else None


def abba(n_rounds, a, b):
    """Runs a() and b() as A B B A, n_rounds times; returns (a_results, b_results)."""
    ra, rb = [], []
    for _ in range(n_rounds):
        ra.append(a())
        rb.append(b())
        rb.append(b())
        ra.append(a())
    return ra, rb


def cpu_seconds(pid):
    """utime + stime of a process and its reaped children, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # fields[0] is state (field 3); utime is field 14, stime 15, cutime 16, cstime 17
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / CLK_TCK


def tree_cpu_seconds(pids):
    return sum(cpu_seconds(p) or 0 for p in pids)


def children_pids(pid):
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    except OSError:
        return []
    return [int(x) for x in out.split()]


def peak_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def wait_port(port, host="127.0.0.1", timeout=20):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            socket.create_connection((host, port), 1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {host}:{port}")


def stop_server(proc, log, workdir):
    """Stops a server a bench started (SIGTERM, then SIGKILL after 20 s),
    closes its log and removes its private directory."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log.close()
    shutil.rmtree(workdir, ignore_errors=True)


class Ztrace:
    """`ztrace up` on a scratch store, started and stopped around a measurement."""

    def __init__(self, *args):
        self.dir = tempfile.mkdtemp(prefix="zt-bench-")
        self.log = open(os.path.join(self.dir, "up.log"), "w+")
        self.proc = subprocess.Popen([ZTRACE, "up", "--data", os.path.join(self.dir, "data"),
                                      "--status-interval", "0", *args],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        t0 = time.monotonic()
        while "tracing this host" not in self.text():
            if self.proc.poll() is not None or time.monotonic() - t0 > 60:
                raise RuntimeError("ztrace up did not start: " + self.text())
            time.sleep(0.1)
        self.cpu0 = cpu_seconds(self.proc.pid)

    def text(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def cpu(self):
        """CPU-seconds used since it finished starting."""
        return cpu_seconds(self.proc.pid) - self.cpu0

    def stop(self):
        """Stops it; returns dict with cpu_s (since start), peak_rss_kib and the
        final line (drop counters)."""
        res = {"cpu_s": self.cpu(), "peak_rss_kib": peak_rss_kib(self.proc.pid)}
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        lines = [ln for ln in self.text().splitlines() if "stopped" in ln]
        res["final"] = lines[-1] if lines else self.text()[-500:]
        shutil.rmtree(self.dir, ignore_errors=True)
        return res


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} CPUs ({cpu}), {mem:.0f} GiB, Linux {platform.release()}"


def write_result(name, title, rows, figures, notes=(), config=None):
    """rows: list of dicts (one table, columns in first-row order).
    figures: list of dicts {name, value, unit, target (text or None),
    met (True/False/None)}: the headline numbers RESULTS.md quotes."""
    os.makedirs(OUT, exist_ok=True)
    res = {
        "bench": name,
        "title": title,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "quick": QUICK,
        "config": config or {},
        "rows": rows,
        "figures": figures,
        "notes": list(notes),
    }
    path = os.path.join(OUT, name + ".json")
    with open(path, "w") as f:
        json.dump(res, f, indent=1)
    print(f"{name}: wrote {path}")
    for fig in figures:
        print(f"  {fig['name']}: {fig['value']} {fig.get('unit', '')}"
              + (f"  (target {fig['target']}: {'met' if fig.get('met') else 'missed'})" if fig.get("target") else ""))
    return path


def fig(name, value, unit="", target=None, met=None):
    return {"name": name, "value": value, "unit": unit, "target": target, "met": met}
