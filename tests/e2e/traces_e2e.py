"""Trace assembly correctness: how many of the parent links ztrace makes are
right (precision) and how many of the right ones it makes (recall), on
topologies of real programs whose ground truth the programs log themselves.

Programs (tests/e2e/traces_apps.py): Flask services (Debian python3-flask,
threaded, calling each other through a keep-alive requests.Session), an
asyncio service, a driver; Debian's nginx as a keep-alive reverse proxy in
front that sets X-Request-ID on the request it forwards (and on its answer).
Each call carries its ground-truth id in "X-Test-Call: ID", a header ztrace
is never told about, and in the path ("/orders?c=ID") so that its spans can
be found; ztrace links by neither.

Topologies (one `ztrace up` for the whole file; servers started once per
topology; measured after ztrace up stopped, so everything it made is stored):

  loopback  driver -> nginx -> frontend -> (orders, users); orders ->
            (inventory, users); all on 127.0.0.1, free ports 18600-18999.
  netns     the same, each program in its own network namespace, joined by a
            bridge in one more namespace (10.232.0.0/24 exists only in the
            namespaces this test makes; the host gets no address or route).
  async     (precision only) driver -> gateway (asyncio: one thread, several
            requests in flight) -> (orderspool, users); orderspool (Flask,
            downstream calls on a thread pool) -> (inventory, users).

Ground truth. A call is one HTTP exchange caller -> callee with one id C.
For each call the caller's client-process span K(C) and the callee's
server-process span S(C) are found by (c=C in request_resource, pid,
tap_side): exactly one each, or the mapping check fails. The driver's request
D is two calls with the same id: driver -> nginx and nginx -> frontend (nginx
forwards path and headers; its access log gives its pid and $request_id).
A service's log line says which incoming call P each outgoing call C served.

Expected links (child -> parent), for each call C from caller X to callee Y:
  S(C) -> K(C)          the same exchange ("tcp_seq": equal TCP seqs)
  K(C) -> S_X(P)        X's server span of the incoming call P that made C:
                        "thread" for a service (the serving thread made the
                        call), "x_request_id" (or "thread") for nginx
  K(D) of the driver    a root: no parent
nginx makes its id ($request_id) and the driver sends none: the id is on the
egress client span's request (x_request_id) and on the ingress server span's
response (x_request_id_resp), both in nginx's process. A right parent with
another link kind than these fails the "link kinds" check only. The gateway's
"thread" links are mostly not makeable (2+ requests in flight on its one
thread), nor the pool's (its calls leave from pool threads): in the async
topology a joiner can only be precise, hence precision only.
So a call is linked correctly when the callee's server span is under the
caller's server span through the client span of that very call, in one trace.

Measured (parent_uid, link_kind and trace ids as `ztrace trace ID --json`
gives them, late links applied; `ztrace spans --json` when that command does
not exist yet):
  made      links ztrace made among these spans: every mapped span with a
            parent_uid, plus any other span whose parent_uid is a mapped span
  correct   made links that are expected links
  precision = correct / made        recall = correct / expected
  traces    requests whose trace (fetched by the driver's root span) holds
            exactly the spans of that request
The synchronous topologies fail below 0.99 precision, recall or whole traces;
the async one below 0.99 precision.

Facts that hold without trace assembly are checked too, so that a low score
is the joiner's and not the mapping's: the ground truth is consistent; every
call maps to one span per side; both spans of a call have equal TCP seqs;
the spans' threads are the threads the services logged; nginx's X-Request-ID
is on its spans; and a reference linking made in this file from the span
fields alone (the rules above, never the ground truth) passes the same
scoring and thresholds, which shows both that the spans carry what linking needs and
that the scoring can pass.

ZT_CAPTURE_PATH=fast|compat is passed to `ztrace up` as --capture-path."""
import collections
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import ZTRACE, Ztrace, check, finish, spans, wait_for, wait_port  # noqa: E402

PY = "/usr/bin/python3"
APPS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "traces_apps.py")
CAPTURE_PATH = os.environ.get("ZT_CAPTURE_PATH", "")
PATH_ARGS = ["--capture-path", CAPTURE_PATH] if CAPTURE_PATH else []
T_START = time.monotonic()
THRESHOLD = 0.99
CLIENT, SERVER = "client-process", "server-process"
CALL_RE = re.compile(r"[?&]c=([0-9a-f]{32})(?:&|$)")
NS_PREFIX = f"zttr{os.getpid()}"
NS_NET = "10.232.0"

SYNC_SERVICES = {
    "frontend": ("flask", ["orders", "users"]),
    "orders": ("flask", ["inventory", "users"]),
    "users": ("flask", []),
    "inventory": ("flask", []),
}
ASYNC_SERVICES = {
    "gateway": ("aio", ["orderspool", "users"]),
    "orderspool": ("flask-pool", ["inventory", "users"]),
    "users": ("flask", []),
    "inventory": ("flask", []),
}


class Topology:
    def __init__(self, name, services, front, nginx, netns, n, conc, sync):
        self.name, self.services, self.front, self.nginx = name, services, front, nginx
        self.netns, self.n, self.conc, self.sync = netns, n, conc, sync
        self.dir = None
        self.ran = False


TOPOLOGIES = [
    Topology("loopback", SYNC_SERVICES, "frontend", True, False, 100, 4, True),
    Topology("netns", SYNC_SERVICES, "frontend", True, True, 100, 4, True),
    Topology("async", ASYNC_SERVICES, "gateway", False, False, 60, 6, False),
]

ZT_FINAL = ""  # ztrace up's last line: its drop counters
tmp = tempfile.mkdtemp(prefix="zt-traces-")
data = os.path.join(tmp, "data")


def sh(*cmd):
    subprocess.run(cmd, check=True, capture_output=True, text=True)


def free_ports(n):
    """n loopback ports of 18600-18999 nobody listens on now, from a start
    that depends on the pid (parallel runs of this file rarely collide)."""
    out, start = [], (os.getpid() * 7) % 400
    for i in range(400):
        p = 18600 + (start + i) % 400
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
            out.append(p)
        except OSError:
            pass
        finally:
            s.close()
        if len(out) == n:
            return out
    raise RuntimeError("no free ports in 18600-18999")


def nginx_conf(d, listen, upstream):
    # One worker: the driver's concurrent requests are then in flight together
    # on one event-loop thread, where only X-Request-ID can tell them apart.
    # add_header puts the id on nginx's answer too: the ingress exchange
    # carries it there (the driver sends none), the egress on its request.
    return f"""
user root;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log;
daemon off;
events {{ worker_connections 1024; }}
http {{
    log_format truth escape=json '{{"call":"$http_x_test_call","rid":"$request_id","pid":$pid,"status":$status}}';
    access_log {d}/nginx-access.log truth;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    keepalive_requests 100000;
    upstream front {{ server {upstream}; keepalive 16; }}
    server {{
        listen {listen};
        location / {{
            proxy_pass http://front;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Request-ID $request_id;
            add_header X-Request-ID $request_id always;
        }}
    }}
}}
"""


def read_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


# ---------------------------------------------------------------- ground truth

Hop = collections.namedtuple("Hop", "call caller caller_pid caller_in callee callee_pid req")


def ground_truth(t):
    """The calls of topology t from the programs' logs: (hops, problems).
    A hop is one call: its id, caller and its pid, the incoming call of the
    caller it served (None for the driver), callee and its pid, and the
    driver request it belongs to."""
    problems = []
    drv = read_jsonl(os.path.join(t.dir, "driver.log"))
    drv_pid = next((r["driver"] for r in drv if "driver" in r), None)
    reqs = [r for r in drv if "call" in r]
    if len(reqs) != t.n or any(r["status"] != 200 for r in reqs):
        problems.append(f"driver: {len(reqs)} requests of {t.n}, "
                        f"{sum(r['status'] != 200 for r in reqs)} not 200")
    recs, pids = {}, {}
    for svc in t.services:
        for r in read_jsonl(os.path.join(t.dir, f"{svc}.log")):
            pids.setdefault(svc, r["pid"])
            if r["call"] != r["qcall"] or (svc, r["call"]) in recs or r["pid"] != pids[svc]:
                problems.append(f"{svc}: bad line {r}")
            if any(o["status"] != 200 for o in r["out"]):
                problems.append(f"{svc}: a call failed {r}")
            recs[(svc, r["call"])] = r
    ngx = {}
    if t.nginx:
        for r in read_jsonl(os.path.join(t.dir, "nginx-access.log")):
            if r["call"] in ngx:
                problems.append(f"nginx: call twice {r}")
            ngx[r["call"]] = r
    hops, used = [], set()
    for d in reqs:
        D = d["call"]
        if t.nginx:
            n = ngx.get(D)
            if not n:
                problems.append(f"nginx did not log {D}")
                continue
            hops.append(Hop(D, "driver", drv_pid, None, "nginx", n["pid"], D))
            hops.append(Hop(D, "nginx", n["pid"], D, t.front, pids.get(t.front), D))
        else:
            hops.append(Hop(D, "driver", drv_pid, None, t.front, pids.get(t.front), D))
        todo = [(t.front, D)]
        while todo:
            svc, c = todo.pop()
            r = recs.get((svc, c))
            if not r:
                problems.append(f"{svc} did not log call {c}")
                continue
            used.add((svc, c))
            for o in r["out"]:
                hops.append(Hop(o["call"], svc, r["pid"], c, o["callee"], pids.get(o["callee"]), D))
                todo.append((o["callee"], o["call"]))
    for k in set(recs) - used:
        problems.append(f"{k[0]} logged call {k[1]} nobody made")
    return hops, problems, recs, ngx


# ---------------------------------------------------------------- running


def run_topology(t, procs, namespaces):
    """Starts t's programs, drives N requests through them, waits for their
    spans; the caller's finally stops the programs and deletes namespaces."""
    t.dir = os.path.join(tmp, t.name)
    os.makedirs(t.dir)
    names = list(t.services) + (["nginx"] if t.nginx else [])
    ns = {}
    if t.netns:
        hub = f"{NS_PREFIX}hub"
        sh("ip", "netns", "add", hub)
        namespaces.append(hub)
        sh("ip", "-n", hub, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", hub, "link", "set", "br0", "up")
        for i, name in enumerate(names + ["driver"]):
            n = f"{NS_PREFIX}{name}"
            sh("ip", "netns", "add", n)
            namespaces.append(n)
            sh("ip", "-n", hub, "link", "add", f"v{i}", "type", "veth", "peer", "name", "eth0", "netns", n)
            sh("ip", "-n", hub, "link", "set", f"v{i}", "master", "br0", "up")
            sh("ip", "-n", n, "addr", "add", f"{NS_NET}.{10 + i}/24", "dev", "eth0")
            sh("ip", "-n", n, "link", "set", "eth0", "up")
            sh("ip", "-n", n, "link", "set", "lo", "up")
            ns[name] = n
        addr = {name: (f"{NS_NET}.{10 + i}", 8080 if name == "nginx" else 8000) for i, name in enumerate(names)}
    else:
        addr = {name: ("127.0.0.1", p) for name, p in zip(names, free_ports(len(names)))}

    def start(name, cmd):
        if name in ns:
            cmd = ["ip", "netns", "exec", ns[name]] + cmd
        out = open(os.path.join(t.dir, f"{name}.out"), "w")
        procs.append(subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT))

    for svc, (kind, down) in t.services.items():
        host, port = addr[svc]
        downstream = json.dumps([[c, f"http://{addr[c][0]}:{addr[c][1]}"] for c in down])
        prog = "aio" if kind == "aio" else "flask"
        start(svc, [PY, APPS, prog, svc, host, str(port), os.path.join(t.dir, f"{svc}.log"), downstream]
              + (["pool"] if kind == "flask-pool" else []))
    if t.nginx:
        conf = os.path.join(t.dir, "nginx.conf")
        fh, fp = addr[t.front]
        with open(conf, "w") as f:
            f.write(nginx_conf(t.dir, f"{addr['nginx'][0]}:{addr['nginx'][1]}", f"{fh}:{fp}"))
        start("nginx", ["nginx", "-c", conf])
    for name in names:
        wait_port(*addr[name], timeout=20, netns=ns.get(name))

    entry = addr["nginx"] if t.nginx else addr[t.front]
    cmd = [PY, APPS, "driver", entry[0], str(entry[1]), f"/{t.front}", str(t.n), str(t.conc),
           os.path.join(t.dir, "driver.log")]
    if t.netns:
        cmd = ["ip", "netns", "exec", ns["driver"]] + cmd
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    print(f"# [{t.name}] driver: {t.n} requests, {t.conc} at a time, {time.monotonic() - t0:.1f} s, "
          f"rc {r.returncode} {r.stderr[-500:]}", flush=True)
    # Every span of the calls logged so far stored (an asyncio service logs a
    # call just after answering it: read the logs again when they stop).
    time.sleep(0.3)
    hops, _, _, _ = ground_truth(t)
    ids = {h.call for h in hops}

    def stored():
        n = sum(1 for s in spans(data) if (m := CALL_RE.search(s["request_resource"] or "")) and m.group(1) in ids)
        return n if n >= 2 * len(hops) else None
    n, waited = wait_for(stored, 15, 0.5)
    print(f"# [{t.name}] {n or 'not all'} spans of {len(hops)} calls stored after {waited:.1f} s", flush=True)
    t.ran = True


def stop_all(procs, namespaces):
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    procs.clear()
    for n in namespaces:
        subprocess.run(["ip", "netns", "del", n], capture_output=True)
    namespaces.clear()


# ---------------------------------------------------------------- what ztrace made


def has_command(cmd):
    return subprocess.run([ZTRACE, cmd, "--help"], capture_output=True).returncode == 0


def parse_json_out(text):
    """JSON lines, or one JSON array, or an object holding a "spans" or
    "traces" list: the list of objects."""
    text = text.strip()
    if not text:
        return []
    try:
        v = json.loads(text)
        if isinstance(v, list):
            return v
        if isinstance(v, dict):
            for k in ("spans", "traces"):
                if isinstance(v.get(k), list):
                    return v[k]
            return [v]
    except json.JSONDecodeError:
        pass
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def fetch_trace(ident):
    r = subprocess.run([ZTRACE, "trace", "--data", data, "--json", ident], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    try:
        return parse_json_out(r.stdout)
    except json.JSONDecodeError:
        return None


class View:
    """What ztrace made: parent and link kind per span uid, trace id per
    span uid, and which spans each fetched trace held."""

    def __init__(self, all_spans):
        self.span = {s["span_uid"]: s for s in all_spans}
        self.parent = {u: s["parent_uid"] for u, s in self.span.items()}
        self.kind = {u: s["link_kind"] for u, s in self.span.items()}
        self.trace = {u: s["trace_id"] for u, s in self.span.items()}
        self.by_trace_cmd = set()
        self.fetched = {}  # id asked -> list of span uids, None when the command failed

    def add_trace(self, ident, ss):
        self.fetched[ident] = None if ss is None else [s.get("span_uid") for s in ss]
        for s in ss or []:
            u = s.get("span_uid")
            self.parent[u], self.kind[u], self.trace[u] = s.get("parent_uid"), s.get("link_kind"), s.get("trace_id")
            self.span.setdefault(u, s)
            self.by_trace_cmd.add(u)


def view_of(tag, all_spans, roots, ours, use_trace_cmd):
    v = View(all_spans)
    if not use_trace_cmd:
        return v
    with ThreadPoolExecutor(4) as ex:
        for ident, ss in zip(roots, ex.map(fetch_trace, roots)):
            v.add_trace(ident, ss)
        # spans no root's trace held: their own traces (lost links)
        rest = [u for u in ours if u not in v.by_trace_cmd]
        while rest:
            batch = rest[:8]
            for ident, ss in zip(batch, ex.map(fetch_trace, batch)):
                v.add_trace(ident, ss)
                v.by_trace_cmd.add(ident)  # asked: no second try
            rest = [u for u in rest if u not in v.by_trace_cmd]
    differ = sum(1 for s in all_spans if s["span_uid"] in ours and s["span_uid"] in v.by_trace_cmd
                 and s["parent_uid"] != v.parent.get(s["span_uid"]))
    print(f"# {tag} `ztrace spans --json` parent_uid differs from `ztrace trace` for {differ} of {len(ours)} spans "
          f"({len(v.fetched)} traces fetched)", flush=True)
    return v


# ---------------------------------------------------------------- measuring


def measure(t, all_spans, use_trace_cmd, traces_list):
    tag = f"[{t.name}]"
    hops, problems, recs, ngx = ground_truth(t)
    check(f"{tag} ground truth: {t.n} requests answered, every call logged once by both ends",
          not problems and hops, "; ".join(problems[:5]) + (f" (+{len(problems) - 5})" if len(problems) > 5 else ""))

    idx = collections.defaultdict(list)
    for s in all_spans:
        m = CALL_RE.search(s["request_resource"] or "")
        if m:
            idx[(m.group(1), s["pid"], s["tap_side"])].append(s)

    def one(call, pid, side):
        ss = idx.get((call, pid, side), [])
        return ss[0] if len(ss) == 1 else None

    # mapping: one client and one server span per call, equal TCP seqs
    unmapped, seq_bad, thread_bad, rid_bad = [], [], [], []
    for h in hops:
        k, s = one(h.call, h.caller_pid, CLIENT), one(h.call, h.callee_pid, SERVER)
        if not k or not s:
            nk, ns = len(idx.get((h.call, h.caller_pid, CLIENT), [])), len(idx.get((h.call, h.callee_pid, SERVER), []))
            unmapped.append(f"{h.caller}->{h.callee} {h.call}: client {nk} server {ns} spans")
            continue
        if k["req_tcp_seq"] is None or (k["req_tcp_seq"], k["resp_tcp_seq"]) != (s["req_tcp_seq"], s["resp_tcp_seq"]):
            seq_bad.append(f"{h.caller}->{h.callee} {h.call}: {k['req_tcp_seq']},{k['resp_tcp_seq']} vs "
                           f"{s['req_tcp_seq']},{s['resp_tcp_seq']}")
        # the threads the services logged: the callee's serving thread read the
        # request; the caller's calling thread wrote its request
        rin = recs.get((h.callee, h.call))
        if rin and s["tid_req"] != rin["tid"]:
            thread_bad.append(f"{h.callee} served {h.call} on {rin['tid']}, span tid_req {s['tid_req']}")
        rout = recs.get((h.caller, h.caller_in))
        o = next((o for o in rout["out"] if o["call"] == h.call), None) if rout else None
        if o and k["tid_req"] != o["tid"]:
            thread_bad.append(f"{h.caller} called {h.call} on {o['tid']}, span tid_req {k['tid_req']}")
        if h.caller == "nginx":
            rid = ngx[h.call]["rid"]
            p = one(h.call, h.caller_pid, SERVER)
            if k["x_request_id"] != rid or not p or p["x_request_id_resp"] != rid:
                rid_bad.append(f"{h.call}: nginx id {rid}, egress request {k['x_request_id']}, "
                               f"ingress response {p and p['x_request_id_resp']}")
    check(f"{tag} every call has exactly one client and one server span", not unmapped,
          f"{len(unmapped)} of {len(hops)}: " + "; ".join(unmapped[:5]) + f" (ztrace up {ZT_FINAL})")
    check(f"{tag} both spans of every call have equal TCP seqs", not seq_bad,
          f"{len(seq_bad)}: " + "; ".join(seq_bad[:5]))
    check(f"{tag} spans' threads are the threads the services logged", not thread_bad,
          f"{len(thread_bad)}: " + "; ".join(thread_bad[:5]))
    if t.nginx:
        check(f"{tag} nginx's X-Request-ID on its egress request and ingress response", not rid_bad,
              f"{len(rid_bad)}: " + "; ".join(rid_bad[:5]))
    if t.sync:
        # the premise of thread links: a synchronous service calls on the
        # thread that serves the request
        off = [(svc, c) for (svc, c), r in recs.items() if any(o["tid"] != r["tid"] for o in r["out"])]
        check(f"{tag} synchronous services call on their serving thread", not off, f"{off[:5]}")

    # expected links: child uid -> (parent uid or None, allowed kinds, category)
    expected, req_uids, roots = {}, collections.defaultdict(set), {}
    n_expected = 0
    cats = collections.Counter()
    for h in hops:
        k, s = one(h.call, h.caller_pid, CLIENT), one(h.call, h.callee_pid, SERVER)
        cat_s = f"tcp_seq  {h.caller}->{h.callee}"
        cats[cat_s] += 1
        n_expected += 1
        if s:
            expected[s["span_uid"]] = (k and k["span_uid"], {"tcp_seq"}, cat_s)
            req_uids[h.req].add(s["span_uid"])
        if h.caller_in is None:
            if k:
                expected[k["span_uid"]] = (None, set(), "root")
                roots[h.req] = k["span_uid"]
                req_uids[h.req].add(k["span_uid"])
            continue
        p = one(h.caller_in, h.caller_pid, SERVER)
        cat_k = f"{'x_request_id' if h.caller == 'nginx' else 'thread'}  {h.caller}"
        cats[cat_k] += 1
        n_expected += 1
        if k:
            expected[k["span_uid"]] = (p and p["span_uid"], {"x_request_id", "thread"} if h.caller == "nginx"
                                       else {"thread"}, cat_k)
            req_uids[h.req].add(k["span_uid"])
    ours = set(expected)
    print(f"# {tag} {len(hops)} calls of {t.n} requests, {len(ours)} spans mapped", flush=True)
    gt = (hops, expected, ours, roots, req_uids, n_expected, cats)

    # The same scoring of a linking made in this file from span fields alone:
    # if it falls short, the spans lack what linking needs (or the scoring is
    # wrong), whatever the joiner does.
    ref = score(t, gt, reference_view(all_spans), "reference", True)
    z = score(t, gt, view_of(tag, all_spans, list(roots.values()), ours, use_trace_cmd),
              "ztrace" if use_trace_cmd else "ztrace (spans --json: no `ztrace trace` command)", use_trace_cmd)

    sfx = f" (>= {THRESHOLD})"
    if t.sync:
        check(f"{tag} span fields suffice: this file's reference linking scores{sfx}",
              min(ref["precision"] or 0, ref["recall"], ref["whole"] / t.n) >= THRESHOLD,
              f"precision {ref['precision']}, recall {ref['recall']:.4f}, whole traces {ref['whole']}")
    else:
        check(f"{tag} reference linking precision{sfx}", (ref["precision"] or 0) >= THRESHOLD,
              f"{ref['precision']}")
    precision, recall, made, correct = z["precision"], z["recall"], z["made"], z["correct"]
    check(f"{tag} link precision{sfx}", precision is not None and precision >= THRESHOLD,
          "no links made" if precision is None else f"{precision:.4f}: {made - correct} wrong of {made}")
    if not t.sync:
        return
    check(f"{tag} link recall{sfx}", recall >= THRESHOLD, f"{recall:.4f}: {correct} of {n_expected}")
    check(f"{tag} link kinds (tcp_seq, thread, x_request_id where due)", correct and not z["kind_bad"],
          f"{len(z['kind_bad'])} of {correct} correct links: {collections.Counter(z['kind_bad']).most_common(4)}"
          if correct else "no correct links")
    check(f"{tag} whole traces{sfx}", z["whole"] >= THRESHOLD * t.n, f"{z['whole']} of {t.n}" +
          ("" if use_trace_cmd else " (trace_id of `ztrace spans --json`)"))
    if traces_list is not None:
        # `ztrace traces --json`: the request's trace listed once, rooted at
        # the driver's span, with all its spans
        by_root = collections.defaultdict(list)
        for tr in traces_list:
            by_root[tr.get("root_uid")].append(tr)
        listed = sum(1 for D, root in roots.items() if len(by_root.get(root, [])) == 1
                     and by_root[root][0].get("spans") == len(req_uids[D]))
        check(f"{tag} traces --json lists each request's trace with its spans{sfx}",
              listed >= THRESHOLD * t.n, f"{listed} of {t.n}; e.g. {traces_list[:1]}")


def reference_view(all_spans):
    """The linking rules applied here to the span fields (never to the ground
    truth): a server span's parent is the client span with the same TCP seqs
    and ports; a client span's parent is the one server span of its process
    and thread in flight when it started (none when 2+ are: precision
    first), else the one server span of its process whose request or
    response carried the client request's X-Request-ID. Its traces are the
    trees these links make, fetched as by `ztrace trace ROOT`."""
    v = View(all_spans)
    v.parent, v.kind = {}, {}
    by_seq = collections.defaultdict(list)
    on_thread = collections.defaultdict(list)
    by_rid = collections.defaultdict(dict)
    for s in all_spans:
        if s["tap_side"] == CLIENT and s["req_tcp_seq"] is not None:
            by_seq[(s["req_tcp_seq"], s["resp_tcp_seq"], s["client_port"], s["server_port"])].append(s)
        if s["tap_side"] == SERVER:
            on_thread[(s["pid"], s["tid_req"])].append(s)
            for rid in (s["x_request_id"], s["x_request_id_resp"]):
                if rid:
                    by_rid[(s["pid"], rid)][s["span_uid"]] = s
    for s in all_spans:
        u, par, kind = s["span_uid"], None, None
        if s["tap_side"] == SERVER and s["req_tcp_seq"] is not None:
            ks = by_seq.get((s["req_tcp_seq"], s["resp_tcp_seq"], s["client_port"], s["server_port"]), [])
            if len(ks) == 1:
                par, kind = ks[0]["span_uid"], "tcp_seq"
        elif s["tap_side"] == CLIENT:
            inflight = [p for p in on_thread.get((s["pid"], s["tid_req"]), [])
                        if p["start_ns"] <= s["start_ns"] <= p["end_ns"]]
            ids = by_rid.get((s["pid"], s["x_request_id"]), {}) if s["x_request_id"] else {}
            if len(inflight) == 1:
                par, kind = inflight[0]["span_uid"], "thread"
            elif len(ids) == 1:
                par, kind = next(iter(ids)), "x_request_id"
        v.parent[u], v.kind[u] = par, kind
    members = collections.defaultdict(list)
    for u in v.parent:
        r, seen = u, set()
        while v.parent.get(r) and r not in seen:
            seen.add(r)
            r = v.parent[r]
        v.trace[u] = r
        members[r].append(u)
    v.fetched = {r: us for r, us in members.items()}
    v.by_trace_cmd = set(v.parent)
    return v


def score(t, gt, v, label, use_fetched):
    """Scores the linking v against the expected links; prints and returns
    the counts."""
    hops, expected, ours, roots, req_uids, n_expected, cats = gt
    tag = f"[{t.name}] {label}:"
    made = correct = 0
    wrong, good = collections.Counter(), collections.Counter()
    kind_bad, examples = [], []
    for u in ours:
        par = v.parent.get(u)
        if par is None:
            continue
        made += 1
        want, kinds, cat = expected[u]
        if want is not None and par == want:
            correct += 1
            good[cat] += 1
            if v.kind.get(u) not in kinds:
                kind_bad.append(f"{cat}: {v.kind.get(u)}")
        else:
            wrong[cat] += 1
            ps = v.span.get(par)
            examples.append(f"{cat}: {u} -> {par} ({ps and ps['process']} {ps and ps['tap_side']} "
                            f"{ps and ps['request_resource']}), want {want}, kind {v.kind.get(u)}")
    for u, par in v.parent.items():
        if par in ours and u not in ours:
            made += 1
            wrong["stray (child not in the topology)"] += 1
            s = v.span[u]
            examples.append(f"stray: {u} ({s.get('process')} {s.get('tap_side')} {s.get('request_resource')}) "
                            f"-> {par}")
    precision = correct / made if made else None
    recall = correct / n_expected if n_expected else 0.0
    print(f"# {tag} links: expected {n_expected}, made {made}, correct {correct}, wrong {made - correct}; "
          f"precision {'n/a' if precision is None else f'{precision:.4f}'}, recall {recall:.4f}", flush=True)
    for cat in sorted(set(cats) | set(wrong)):
        print(f"#   {cat:32} {good[cat]:4}/{cats[cat]:<4} correct, {wrong[cat]} wrong", flush=True)
    for e in examples[:5]:
        print(f"#   wrong: {e}", flush=True)

    # whole traces: the trace of each request's root holds its spans, no more
    whole, bad_traces = 0, []
    calls = collections.Counter(h.req for h in hops)
    if use_fetched:
        for D, root in roots.items():
            got = set(v.fetched.get(root) or [])
            if got == req_uids[D] and len(req_uids[D]) == 2 * calls[D]:
                whole += 1
            elif len(bad_traces) < 3 and t.sync:
                bad_traces.append(f"{D}: {len(got & req_uids[D])} of its {len(req_uids[D])} spans, "
                                  f"{len(got - req_uids[D])} others")
    else:
        members = collections.defaultdict(set)
        for u, tid in v.trace.items():
            if tid:
                members[tid].add(u)
        for D, uids in req_uids.items():
            tids = {v.trace.get(u) for u in uids}
            if len(tids) == 1 and None not in tids and members[next(iter(tids))] == uids \
                    and len(uids) == 2 * calls[D]:
                whole += 1
    amb = sum(1 for u in ours if "ambiguous_thread" in (v.span[u].get("flags") or []))
    print(f"# {tag} whole traces {whole} of {t.n}; spans flagged ambiguous_thread {amb}", flush=True)
    for b in bad_traces:
        print(f"#   trace: {b}", flush=True)
    if not t.sync:
        print(f"# {tag} recall not checked (calls on a pool or an event loop)", flush=True)
    return {"precision": precision, "recall": recall, "made": made, "correct": correct, "whole": whole,
            "kind_bad": kind_bad}


# ---------------------------------------------------------------- main

procs, namespaces = [], []
zt = None
try:
    zt = Ztrace(data, *PATH_ARGS)
    for t in TOPOLOGIES:
        try:
            run_topology(t, procs, namespaces)
        except Exception as e:  # noqa: BLE001 -- reported, the next topology still runs
            check(f"[{t.name}] topology ran", False, f"{type(e).__name__}: {e}")
        finally:
            stop_all(procs, namespaces)
    rc = zt.stop()
    m = re.search(r"stopped: .*", zt.text())
    ZT_FINAL = m.group(0) if m else ""
    print("# ztrace up " + (m.group(0) if m else f"rc {rc}, no final line: {zt.text()[-500:]}"), flush=True)
    check("ztrace up exits 0", rc == 0, zt.text()[-1000:])
    all_spans = spans(data)
    use_trace_cmd = has_command("trace")
    traces_list = None
    if has_command("traces"):
        r = subprocess.run([ZTRACE, "traces", "--data", data, "--json", "--limit", "0"], capture_output=True,
                           text=True)
        try:
            traces_list = parse_json_out(r.stdout) if r.returncode == 0 else []
        except json.JSONDecodeError:
            traces_list = []
        if r.returncode != 0:
            print(f"# ztrace traces --json --limit 0: rc {r.returncode} {r.stderr[-300:]}", flush=True)
    else:
        print("# no `ztrace traces` command: its check is skipped", flush=True)
    for t in TOPOLOGIES:
        if t.ran:
            measure(t, all_spans, use_trace_cmd, traces_list)
finally:
    stop_all(procs, namespaces)
    if zt:
        zt.stop()
    shutil.rmtree(tmp, ignore_errors=True)
print(f"# traces run: {time.monotonic() - T_START:.1f} s", flush=True)
finish()
