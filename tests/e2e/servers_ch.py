"""Scale-out with real servers (issue 12), as a user would run it.

Two clickhouse-server instances (own dirs, ports 20850-20855) are the two
shards of a remote_servers cluster "zs2". Two `ztrace server`s, stateless
but for their dedup state, write to it: server 1 with
clickhouse://127.0.0.1:20850/ztrace?cluster=zs2 (shard 1), server 2 to
shard 2. Two network namespaces, each joined to the root namespace by its
own veth pair and to each other by a third:
  ns A  a client (/usr/bin/python3 http.client) calling ns B's HTTP server
        over the A-B pair; `ztrace agent --netns self --host zsA` ships to
        server 1 (on the root side of A's pair);
  ns B  an HTTP server (/usr/bin/python3 http.server); its agent (host zsB)
        ships to server 2.
So the client end of every exchange reaches server 1 and the server end
server 2: neither joiner sees both, the store links them across writers
(equal TCP seqs, src/store/store_clickhouse_xlink.c).

Load runs through three phases: steady, ClickHouse stopped (both shards,
10 s; the servers keep taking batches into memory and do not acknowledge
them, the agents keep theirs spooled; SIGKILL, so the outage starts at
once), ClickHouse back. Checks at the end:
  - per agent: spans in the store == spans it spooled (its stop line), all
    acknowledged, spool empty; nothing stored twice (span_uid);
  - ground truth not from ztrace: zsA's client spans and zsB's server spans
    each == requests the client made;
  - every request is one trace of two spans, the server span under the
    client span (tcp_seq): `ztrace traces` through shard 1's URL lists one
    2-span trace per request (no 1-span halves left), and `ztrace trace ID
    --json` through either shard's URL, and /api/v1/traces/ID through
    server 2's API, give that trace for requests of each phase;
  - the servers deferred acks while ClickHouse was down (acks_deferred) and
    failed no batch.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clickhouse_e2e import ClickHouse  # noqa: E402
from lib import Background, ZTRACE, check, finish, run, wait_for, wait_port  # noqa: E402

PY = "/usr/bin/python3"
CLUSTER = """<remote_servers><zs2>
  <shard><replica><host>127.0.0.1</host><port>20851</port></replica></shard>
  <shard><replica><host>127.0.0.1</host><port>20854</port></replica></shard>
</zs2></remote_servers>"""
URL1 = "clickhouse://127.0.0.1:20850/ztrace?cluster=zs2"
URL2 = "clickhouse://127.0.0.1:20853/ztrace?cluster=zs2"
AGENT_PORT, API1, API2, HTTP_PORT = 20861, 20863, 20864, 20866
TAG = f"zs{os.getpid() % 10000}"
NSA, NSB = f"{TAG}a", f"{TAG}b"
# root side of A's pair / B's pair; the A-B pair
SRV1_IP, SRV2_IP, A_IP, B_IP = "10.235.1.1", "10.235.2.1", "10.235.3.1", "10.235.3.2"

CLIENT = r"""
import http.client, os, sys, time
host, port, stop, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
n = 0
with open(out + ".log", "w") as log:
    while not os.path.exists(stop):
        c = http.client.HTTPConnection(host, port, timeout=5)
        c.request("GET", "/item/%d" % n)
        r = c.getresponse(); r.read(); c.close()
        log.write("%d %d\n" % (n, time.time_ns())); log.flush()
        n += 1
        time.sleep(0.05)
open(out, "w").write(str(n))
"""

SERVER = r"""
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a): pass
http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
"""


def sh(*a):
    subprocess.run(a, check=True, capture_output=True)


def setup_net():
    for i, ns in ((1, NSA), (2, NSB)):
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", f"{ns}r", "type", "veth", "peer", "name", f"{ns}n")
        sh("ip", "link", "set", f"{ns}n", "netns", ns)
        sh("ip", "addr", "add", f"10.235.{i}.1/30", "dev", f"{ns}r")
        sh("ip", "link", "set", f"{ns}r", "up")
        sh("ip", "-n", ns, "addr", "add", f"10.235.{i}.2/30", "dev", f"{ns}n")
        sh("ip", "-n", ns, "link", "set", f"{ns}n", "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    # A <-> B directly: the traced exchanges never touch the root namespace
    sh("ip", "link", "add", f"{TAG}x", "netns", NSA, "type", "veth", "peer", "name", f"{TAG}y", "netns", NSB)
    sh("ip", "-n", NSA, "addr", "add", f"{A_IP}/30", "dev", f"{TAG}x")
    sh("ip", "-n", NSB, "addr", "add", f"{B_IP}/30", "dev", f"{TAG}y")
    sh("ip", "-n", NSA, "link", "set", f"{TAG}x", "up")
    sh("ip", "-n", NSB, "link", "set", f"{TAG}y", "up")


def cleanup_net():
    for ns in (NSA, NSB):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "link", "del", f"{ns}r"], capture_output=True)


class Server(Background):
    def __init__(self, tmp, n, ip, url, api):
        super().__init__([ZTRACE, "server", "--listen-agents", f"{ip}:{AGENT_PORT}", "--store", url,
                          "--state", os.path.join(tmp, f"state{n}"), "--status-interval", "1",
                          "--listen", f"127.0.0.1:{api}"],
                         os.path.join(tmp, f"server{n}.log"), "listening for agents")
        self.ready(20)


class Agent(Background):
    def __init__(self, tmp, ns, host, srv_ip):
        super().__init__(["ip", "netns", "exec", ns, ZTRACE, "agent", "--server", f"{srv_ip}:{AGENT_PORT}",
                          "--spool", os.path.join(tmp, f"spool-{host}"), "--host", host, "--netns", "self",
                          "--batch-age", "200ms", "--status-interval", "1", "--drain-timeout", "30s"],
                         os.path.join(tmp, f"agent-{host}.log"), "tracing this host as")


def stop_line(text):
    m = re.search(r"all runs: (\d+) spooled, (\d+) acknowledged; spool: (\d+) batches", text)
    return tuple(int(x) for x in m.groups()) if m else None


def capture_drops(text):
    m = re.search(r"drops: ring_full (\d+),.* queue_full (\d+)", text)
    return int(m.group(1)) + int(m.group(2)) if m else 0


def spans(store):
    out = run([ZTRACE, "spans", "--store", store, "--json", "--limit", "0"], timeout=60).stdout
    return [json.loads(x) for x in out.splitlines() if x.strip()]


def trace_ok(t, client_uid):
    """Two spans: the client span (zsA) and the server span (zsB) under it."""
    by = {s["span_uid"]: s for s in t}
    c = by.get(client_uid)
    srv = [s for s in t if s["span_uid"] != client_uid]
    return (len(t) == 2 and c is not None and c["host"] == "zsA" and len(srv) == 1 and srv[0]["host"] == "zsB"
            and srv[0]["parent_uid"] == client_uid and srv[0]["link_kind"] == "tcp_seq"
            and c["trace_id"] == srv[0]["trace_id"])


def main():
    tmp = tempfile.mkdtemp(prefix="zt-servers-ch-")
    t0 = time.monotonic()
    ch1 = ClickHouse(os.path.join(tmp, "ch1"), 20850, 20851, 20852, CLUSTER)
    ch2 = ClickHouse(os.path.join(tmp, "ch2"), 20853, 20854, 20855, CLUSTER)
    procs, agents, servers = [], {}, {}
    try:
        try:
            ch1.start()
            ch2.start()
        except RuntimeError as e:
            print(f"# SKIP: {e}")  # only when clickhouse-server cannot run here
            check("clickhouse-server started", False, str(e))
            return
        setup_net()
        servers[1] = Server(tmp, 1, SRV1_IP, URL1, API1)
        servers[2] = Server(tmp, 2, SRV2_IP, URL2, API2)
        agents["zsA"] = Agent(tmp, NSA, "zsA", SRV1_IP)
        agents["zsB"] = Agent(tmp, NSB, "zsB", SRV2_IP)
        for a in agents.values():
            a.ready(40)
        stop = os.path.join(tmp, "stop")
        procs.append(subprocess.Popen(["ip", "netns", "exec", NSB, PY, "-c", SERVER, B_IP, str(HTTP_PORT)]))
        wait_port(B_IP, HTTP_PORT, netns=NSA)
        reqf = os.path.join(tmp, "requests")
        procs.append(subprocess.Popen(["ip", "netns", "exec", NSA, PY, "-c", CLIENT, B_IP, str(HTTP_PORT), stop,
                                       reqf]))
        time.sleep(4)
        # fault: both shards down for 10 s under load
        t_down = time.time_ns()
        ch1.stop(kill=True)  # SIGKILL: what it acknowledged is on disk; a graceful stop takes ~10 s here
        ch2.stop(kill=True)
        time.sleep(10)
        t_up = time.time_ns()
        ch1.start()
        ch2.start()
        time.sleep(4)
        with open(stop, "w"):
            pass
        procs[1].wait(15)
        requests = int(open(reqf).read())
        sent = {}
        for line in open(reqf + ".log"):
            n, ts = line.split()
            sent[f"/item/{n}"] = int(ts)
        time.sleep(1.0)  # the last exchanges become spans in the agents
        lines = {}
        for h, a in agents.items():
            a.stop()
            lines[h] = stop_line(a.text())
            check(f"{h}: stopped with its totals", lines[h] is not None, a.text()[-800:])
        status = {}
        for n, api in ((1, API1), (2, API2)):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{api}/api/v1/status", timeout=5) as r:
                    status[n] = json.load(r)
            except Exception as e:  # noqa: BLE001 - the check says what failed
                status[n] = {"error": str(e)}
        for n in (1, 2):
            ing = status[n].get("ingest", {})
            check(f"server {n}: acks deferred while ClickHouse was down, no batch failed",
                  ing.get("acks_deferred", 0) > 0 and ing.get("store_failures", 1) == 0, json.dumps(ing))

        got = spans(URL1)
        ours = [s for s in got if s["host"] in ("zsA", "zsB")]
        per_host = Counter(s["host"] for s in ours)
        uids = Counter(s["span_uid"] for s in got)
        doubled = [u for u, k in uids.items() if k > 1]
        check("no span_uid stored twice", not doubled, f"{len(doubled)} doubled, e.g. {doubled[:3]}")
        check("only the two agents' spans", len(ours) == len(got), f"{len(got) - len(ours)} others")
        for h in ("zsA", "zsB"):
            if not lines.get(h):
                continue
            spooled, acked, left = lines[h]
            check(f"{h}: spool empty at the end, all acknowledged", left == 0 and acked == spooled,
                  f"spooled {spooled}, acked {acked}, {left} batches left")
            check(f"{h}: store holds exactly the spans it produced", per_host[h] == spooled,
                  f"store {per_host[h]}, agent spooled {spooled}")
        client = {s["request_resource"]: s for s in ours if s["host"] == "zsA" and s["tap_side"] == "client-process"}
        server = {s["request_resource"]: s for s in ours if s["host"] == "zsB" and s["tap_side"] == "server-process"}
        # ground truth from the client's own log; a capture loss the agent
        # counted (its BPF ring or span queue overflowing: the machine's
        # other traffic is seen too) may cost a span, never add one
        for h, mine, side in (("zsA", client, "client"), ("zsB", server, "server")):
            drops = capture_drops(agents[h].text())
            exact = len(mine) == requests == per_host[h] and set(mine) == set(sent)
            lossy = len(mine) == per_host[h] and set(mine) <= set(sent) and drops > 0
            check(f"{h}: one {side} span per request (or fewer, with capture drops counted)", exact or lossy,
                  f"{len(mine)} {side} spans, {per_host[h]} spans, {requests} requests, capture drops {drops}")
            if not exact:
                print(f"# {h}: {requests - len(mine)} requests not captured; the agent counted {drops} "
                      "capture drops", flush=True)
        both = set(client) & set(server)

        r = subprocess.run([ZTRACE, "traces", "--store", URL1, "--json", "--limit", "0"], capture_output=True,
                           text=True, timeout=60)
        ts = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
        sizes = Counter(t["spans"] for t in ts)
        want = Counter({2: len(both), 1: len(set(client) ^ set(server))})
        check("`ztrace traces`: one 2-span trace per request captured at both ends, no halves",
              r.returncode == 0 and sizes == +want and len(both) > 0.9 * requests,
              f"{len(ts)} traces for {requests} requests, sizes {dict(sizes)}, want {dict(+want)} {r.stderr[-300:]}")

        # whole traces, read back per phase through either shard and server 2's API
        phases = {"before": [], "down": [], "after": []}
        for res, ts_ns in sorted(sent.items(), key=lambda x: x[1]):
            phases["before" if ts_ns < t_down else "down" if ts_ns < t_up else "after"].append(res)
        for ph, reslist in phases.items():
            sample = reslist[:: max(1, len(reslist) // 6)][:6]
            good = 0
            sample = [res for res in sample if res in both]
            for i, res in enumerate(sample):
                c = client[res]
                url = URL1 if i % 2 == 0 else URL2
                t = json.loads(run([ZTRACE, "trace", c["span_uid"], "--store", url, "--json"]).stdout)["spans"]
                with urllib.request.urlopen(f"http://127.0.0.1:{API2}/api/v1/traces/{c['trace_id']}",
                                            timeout=10) as rr:
                    ta = json.load(rr).get("spans", [])
                good += trace_ok(t, c["span_uid"]) and trace_ok(ta, c["span_uid"])
            check(f"requests {ph} the outage ({len(reslist)}): traces whole, server span under client span",
                  len(sample) > 0 and good == len(sample), f"{good}/{len(sample)}")
        for n in (1, 2):
            servers[n].stop()
            txt = servers[n].text()
            m = re.search(r"stopped: .*", txt)
            print(f"# server {n}: {m.group(0)[:300] if m else txt[-300:]}", flush=True)
        print(f"# requests {requests} ({', '.join(f'{k} {len(v)}' for k, v in phases.items())}), "
              f"store per host {dict(per_host)}, agents {lines}, {time.monotonic() - t0:.1f}s", flush=True)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for x in list(agents.values()) + list(servers.values()):
            if x.proc.poll() is None:
                x.proc.kill()
                x.proc.wait()
        cleanup_net()
        ch1.stop(kill=True)
        ch2.stop(kill=True)
        if os.environ.get("ZT_KEEP"):
            print(f"# kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
