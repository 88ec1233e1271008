"""Added cost per Go crypto/tls (*Conn).Write / (*Conn).Read call.

bench/gotls/main.go (built here with the installed Go) runs a TLS echo
server and client in one process over loopback: the client writes 64 bytes
and reads them back N times; it counts the Read/Write calls both sides make
(4 per round trip) and prints the elapsed time. Three modes:
  bare    no ztrace
  notls   `ztrace up --no-tls`: the syscall tracepoints run (the sockets go
          quiet once their ciphertext matches no protocol), no TLS probes
  gotls   `ztrace up`: the Go probes are attached (Write entry, Read entry
          and returns, decrypt entry), the ciphertext syscalls are skipped
  uprobe  no ztrace; a plain tracefs uprobe (no BPF) on the entry of
          (*Conn).Write and of (*Conn).Read: one uprobe hit per call, the
          floor any uprobe-based tracer pays on this machine
The added cost of the Go probes per call is (gotls - notls) / calls; ztrace's
whole cost per call is (gotls - bare) / calls; one uprobe hit costs about
(uprobe - bare) / calls. ztrace's Go probes hit 2 uprobes per call on
average (Write: its entry; Read: its entry, the RET it returns by, and
(*halfConn).decrypt once per record). Rounds run
bare notls gotls uprobe uprobe gotls notls bare; figures are medians.
"""
import json
import os
import shutil
import subprocess
import tempfile

import re

import benchlib
from benchlib import QUICK, fig, median

ROUNDS = 1 if QUICK else 3
N = 2000 if QUICK else 30000
SIZE = 64


def build(tmp):
    out = os.path.join(tmp, "gotls-bench")
    env = dict(os.environ, GOCACHE=os.path.join(tmp, "gocache"), GOPATH=os.path.join(tmp, "gopath"), GOFLAGS="")
    subprocess.run(["go", "build", "-o", out, os.path.join(benchlib.HERE, "gotls", "main.go")], check=True,
                   env=env, cwd=tmp, capture_output=True, timeout=300)
    return out


TRACEFS = "/sys/kernel/tracing"
GROUP = "zt_gotls_bench"


def func_offsets(binary):
    """File offsets of (*Conn).Write and (*Conn).Read (go tool nm + the
    program headers: vaddr -> file offset)."""
    nm = subprocess.run(["go", "tool", "nm", binary], check=True, capture_output=True, text=True).stdout
    addr = {}
    for line in nm.splitlines():
        f = line.split()
        if len(f) == 3 and f[2] in ("crypto/tls.(*Conn).Write", "crypto/tls.(*Conn).Read"):
            addr[f[2].rsplit(".", 1)[1]] = int(f[0], 16)
    ph = subprocess.run(["readelf", "-lW", binary], check=True, capture_output=True, text=True).stdout
    loads = [tuple(int(x, 16) for x in m.groups()) for m in
             re.finditer(r"LOAD\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+0x[0-9a-f]+\s+(0x[0-9a-f]+)", ph)]
    out = {}
    for name, a in addr.items():
        for off, va, sz in loads:
            if va <= a < va + sz:
                out[name] = a - va + off
    return out


def tracefs_uprobes(binary, offs, on):
    # O_APPEND without a seek: tracefs refuses Python's "a" mode (EINVAL)
    fd = os.open(os.path.join(TRACEFS, "uprobe_events"), os.O_WRONLY | os.O_APPEND)
    try:
        for name, off in sorted(offs.items()):
            os.write(fd, (f"p:{GROUP}/{name} {binary}:0x{off:x}\n" if on else f"-:{GROUP}/{name}\n").encode())
    finally:
        os.close(fd)
    if on:
        with open(os.path.join(TRACEFS, "events", GROUP, "enable"), "w") as f:
            f.write("1")


def bpf_prog_stats():
    """{program name: (run_time_ns, run_cnt)} of ztrace's Go TLS programs
    (kernel.bpf_stats_enabled must be on)."""
    r = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True)
    out = {}
    for p in json.loads(r.stdout or "[]"):
        if p.get("name", "").startswith("zt_gotls"):
            t, c = out.get(p["name"], (0, 0))
            out[p["name"]] = (t + p.get("run_time_ns", 0), c + p.get("run_cnt", 0))
    return out


def run_once(binary, mode, offs=None):
    zt = None
    if mode == "uprobe":
        tracefs_uprobes(binary, offs, True)
    if mode != "bare":
        zt = benchlib.Ztrace(*(["--no-tls"] if mode == "notls" else []))
    try:
        # -wait: ztrace probes the program once it has seen it exec
        r = subprocess.run([binary, "-n", str(N), "-size", str(SIZE), "-wait", "500ms"], check=True,
                           capture_output=True, text=True, timeout=600)
        res = json.loads(r.stdout)
        if zt and mode == "gotls":
            # the BPF programs' own time (bpf_stats on for the whole run:
            # it adds a clock read per program run, in every mode alike
            # only here, hence measured in gotls runs only)
            res["bpf"] = bpf_prog_stats()
    finally:
        if mode == "uprobe":
            with open(os.path.join(TRACEFS, "events", GROUP, "enable"), "w") as f:
                f.write("0")
            tracefs_uprobes(binary, offs, False)
        if zt:
            st = zt.stop()
            res["ztrace_cpu_s"] = st["cpu_s"]
            res["final"] = st["final"]
    res["ns_per_call"] = res["elapsed_ns"] / res["calls"]
    res["mode"] = mode
    print(f"  {mode:6s} {res['ns_per_call']:8.0f} ns/call ({res['calls']} calls)", flush=True)
    return res


def main():
    lock = benchlib.bench_lock()  # noqa: F841 (held until exit)
    tmp = tempfile.mkdtemp(prefix="zt-gotls-bench-")
    with open("/proc/sys/kernel/bpf_stats_enabled") as f:
        stats0 = f.read().strip()
    try:
        binary = build(tmp)
        offs = func_offsets(binary)
        runs = {"bare": [], "notls": [], "gotls": [], "uprobe": []}
        for _ in range(ROUNDS):
            for mode in ("bare", "notls", "gotls", "uprobe", "uprobe", "gotls", "notls", "bare"):
                runs[mode].append(run_once(binary, mode, offs))
        # one more gotls run with the kernel's BPF run-time stats on
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write("1")
        stats_run = run_once(binary, "gotls", offs)
    finally:
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write(stats0)
        shutil.rmtree(tmp, ignore_errors=True)
    med = {m: median([r["ns_per_call"] for r in rs]) for m, rs in runs.items()}
    probes = med["gotls"] - med["notls"]
    whole = med["gotls"] - med["bare"]
    events = [r["final"] for r in runs["gotls"]]
    rows = [{"mode": m, "median_ns_per_call": round(med[m]), "runs": len(rs),
             "ns_per_call_each": [round(r["ns_per_call"]) for r in rs]} for m, rs in runs.items()]
    hit = med["uprobe"] - med["bare"]
    bpf = stats_run.get("bpf", {})
    hits = sum(c for t, c in bpf.values())
    bpf_ns = sum(t for t, c in bpf.values())
    for name, (t, c) in sorted(bpf.items()):
        rows.append({"mode": f"bpf {name}", "median_ns_per_call": round(t / c) if c else None, "runs": 1,
                     "ns_per_call_each": [f"{c} runs"]})
    figures = [
        fig("Go TLS probes: added ns per (*tls.Conn).Read/Write call", round(probes), "ns"),
        fig("one plain uprobe hit (tracefs, no BPF) on this machine", round(hit), "ns"),
        fig("ztrace in all: added ns per Go TLS call", round(whole), "ns"),
        fig("Go TLS call, bare (64 B round trips over loopback)", round(med["bare"]), "ns"),
        fig("ratio gotls / notls", round(med["gotls"] / med["notls"], 3)),
        fig("uprobe hits per Go TLS call", round(hits / stats_run["calls"], 2) if hits else None),
        fig("BPF program time per Go TLS call (the rest is the uprobe trap)",
            round(bpf_ns / stats_run["calls"]) if hits else None, "ns"),
    ]
    notes = [f"{N} round trips of {SIZE} B per run, 4 tls.Conn calls each (client Write+Read, server "
             f"Read+Write); medians over {2 * ROUNDS} runs per mode",
             "ztrace's stop line of a gotls run: " + (events[-1] if events else "?")]
    benchlib.write_result("gotls", "Go crypto/tls probe cost", rows, figures, notes,
                          config={"n": N, "size": SIZE, "rounds": ROUNDS})


if __name__ == "__main__":
    main()
