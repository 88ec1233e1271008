"""Scale-out: a Distributed table over two shards (two clickhouse-server
instances started here: own dirs, ports 20750-20755, a remote_servers
cluster "zt2" naming both) and two stateless writers, each talking to its own
shard with clickhouse://...?cluster=zt2.

Traffic: curl -> nginx on loopback, captured by tcpdump (one pcap). Writer A
replays the capture's client ends (`ztrace replay --pcap F --pcap-side
client`), writer B the server ends (`--pcap-side server`), at the same time:
the two ends of every exchange reach different writers, so neither joiner
sees both. The store links them through the shared tables (equal TCP seqs,
store_clickhouse_xlink.c). Checked:
  - each shard holds its writer's half (spans_local), the Distributed table all;
  - every request is one trace of two spans, the server end's parent the
    client end (tcp_seq), read through either shard, as SQLite gives it when
    one writer replays both ends;
  - `ztrace traces` lists one trace per request."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clickhouse_e2e import ClickHouse, curl as _unused  # noqa: E402,F401
from lib import ZTRACE, check, finish, run, wait_port  # noqa: E402

NGINX = 20756
N = 20
CLUSTER = """<remote_servers><zt2>
  <shard><replica><host>127.0.0.1</host><port>20751</port></replica></shard>
  <shard><replica><host>127.0.0.1</host><port>20754</port></replica></shard>
</zt2></remote_servers>"""


def spans(store, *extra):
    out = run([ZTRACE, "spans", "--store", store, "--json", "--limit", "0", *extra]).stdout
    return [json.loads(x) for x in out.splitlines() if x.strip()]


def main():
    tmp = tempfile.mkdtemp(prefix="ztrace-ch-cluster-")
    a = ClickHouse(os.path.join(tmp, "a"), 20750, 20751, 20752, CLUSTER)
    b = ClickHouse(os.path.join(tmp, "b"), 20753, 20754, 20755, CLUSTER)
    procs = []
    try:
        a.start()
        b.start()
        with open(os.path.join(tmp, "nginx.conf"), "w") as f:
            f.write(f"""worker_processes 1; daemon off; pid {tmp}/nginx.pid; error_log {tmp}/nginx-error.log;
events {{ worker_connections 64; }}
http {{ access_log off; server {{ listen 127.0.0.1:{NGINX}; location / {{ return 200 "ok\\n"; }} }} }}
""")
        procs.append(subprocess.Popen(["nginx", "-c", os.path.join(tmp, "nginx.conf")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port("127.0.0.1", NGINX)
        pcap = os.path.join(tmp, "lo.pcap")
        td = subprocess.Popen(["tcpdump", "-i", "lo", "-U", "-s", "0", "-w", pcap, f"tcp port {NGINX}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        procs.append(td)
        td.stderr.readline()  # "listening on lo ...": capturing from now on
        time.sleep(0.5)
        codes = [subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                                 f"http://127.0.0.1:{NGINX}/r/{i}"], capture_output=True, text=True).stdout
                 for i in range(N)]
        time.sleep(1.0)
        td.send_signal(2)  # SIGINT: tcpdump writes what it holds and exits
        td.wait(10)
        check("cluster: curl got 200s", codes == ["200"] * N, f"{codes}")

        ua = f"clickhouse://127.0.0.1:20750/zt?cluster=zt2"
        ub = f"clickhouse://127.0.0.1:20753/zt?cluster=zt2"
        # both writers create their tables first (a Distributed insert needs none: writes are local)
        wa = subprocess.Popen([ZTRACE, "replay", "--pcap", pcap, "--pcap-side", "client", "--store", ua],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wb = subprocess.Popen([ZTRACE, "replay", "--pcap", pcap, "--pcap-side", "server", "--store", ub],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ea, eb = wa.communicate(60)[1], wb.communicate(60)[1]
        check("cluster: both writers finished", wa.returncode == 0 and wb.returncode == 0, ea + eb)

        la = a.sql("SELECT count(), countIf(tap_side = 3) FROM zt.spans_local FORMAT TSV").split()
        lb = b.sql("SELECT count(), countIf(tap_side = 4) FROM zt.spans_local FORMAT TSV").split()
        check("cluster: shard A holds the client ends, shard B the server ends",
              la == [str(N), str(N)] and lb == [str(N), str(N)], f"A {la}, B {lb}")
        for name, u in (("A", ua), ("B", ub)):
            ss = [s for s in spans(u) if (s["request_resource"] or "").startswith("/r/")]
            check(f"cluster: the Distributed table read through {name} has both ends", len(ss) == 2 * N, f"{len(ss)}")
        # SQLite, one writer with both ends: the reference
        sq = os.path.join(tmp, "sq")
        run([ZTRACE, "replay", "--pcap", pcap, "--data", sq, "--quiet"])
        ref = {}
        for s in spans(sq):
            if s["tap_side"] == "client-nic":
                t = json.loads(run([ZTRACE, "trace", s["span_uid"], "--data", sq, "--json"]).stdout)["spans"]
                t.sort(key=lambda x: x["tap_side"])
                ref[s["request_resource"]] = [(x["tap_side"], x["request_resource"], x["link_kind"]) for x in t]
        whole = {"A": 0, "B": 0}
        same_as_sqlite = 0
        for name, u in (("A", ua), ("B", ub)):
            for s in spans(u):
                if s["tap_side"] != "client-nic":
                    continue
                t = json.loads(run([ZTRACE, "trace", s["span_uid"], "--store", u, "--json"]).stdout)["spans"]
                # both ends start at the same packet: their order is the uids'
                t.sort(key=lambda x: x["tap_side"])
                ok = (len(t) == 2 and t[0]["span_uid"] == s["span_uid"] and t[1]["parent_uid"] == s["span_uid"]
                      and t[1]["link_kind"] == "tcp_seq" and t[1]["tap_side"] == "server-nic"
                      and t[0]["trace_id"] == t[1]["trace_id"])
                whole[name] += ok
                t.sort(key=lambda x: x["tap_side"])
                if name == "A":
                    same_as_sqlite += ref.get(s["request_resource"]) == \
                        [(x["tap_side"], x["request_resource"], x["link_kind"]) for x in t]
        check("cluster: every request is one trace, server end under client end (tcp_seq), read through A",
              whole["A"] == N, f"{whole['A']}/{N}")
        check("cluster: the same through B", whole["B"] == N, f"{whole['B']}/{N}")
        check("cluster: each trace as SQLite's single writer assembles it", same_as_sqlite == N and len(ref) == N,
              f"{same_as_sqlite}/{N} (reference {len(ref)})")
        r = subprocess.run([ZTRACE, "traces", "--store", ua, "--json", "--limit", "0"], capture_output=True, text=True)
        check("cluster: `ztrace traces` through A works", r.returncode == 0, r.stderr)
        ts = [json.loads(x) for x in r.stdout.splitlines()]
        ts = [t for t in ts if t["root_endpoint"] and "/r/" in (t["root_endpoint"] or "") or t["spans"] == 2]
        check("cluster: `ztrace traces` lists one 2-span trace per request",
              len(ts) == N and all(t["spans"] == 2 for t in ts), f"{len(ts)}: {ts[:3]}")
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        a.stop(kill=True)
        b.stop(kill=True)
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
