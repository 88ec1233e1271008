"""The ClickHouse backend end to end: Debian's clickhouse-server (18.16),
started here with a generated config (temp dir, ports 20720-20722), and
`ztrace up --store clickhouse://127.0.0.1:20720/ztrace`.

  live         curl -> nginx (proxy) -> python3 http.server traced by
               `ztrace up --store clickhouse://...`: every request is one
               trace, read back whole by `ztrace trace UID --store`;
               `ztrace map --store clickhouse://...` (RED rollups kept in
               ClickHouse) has one edge count per request.
  same         the same events (`ztrace record` ran alongside) replayed into
               SQLite and into ClickHouse: `ztrace spans` (with filters),
               `ztrace trace ID --json` and `ztrace traces --json` give
               byte-identical output from both stores.
  fault        under a steady load (curl -> nginx), ClickHouse is stopped for
               10 s and started again: every request has its server span in
               ClickHouse once `ztrace up` stops (nothing lost, nothing
               doubled), and up said it kept writing (no store_failed);
               /api/v1/status (up --listen 127.0.0.1:20905) shows spans
               buffered and failing_since during the outage, none after.
  cli errors   `ztrace spans --store` at a port where nothing listens, and a
               database without ztrace tables, give clear errors.

Everything runs once per file; servers are stopped on any failure."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import ZTRACE, Background, Recorder, check, finish, run, wait_for, wait_port  # noqa: E402

CH_HTTP, CH_TCP, CH_INTER = 20720, 20721, 20722
NGINX, BACKEND = 20725, 20726
API = 20905  # the fault test's `up --listen`
URL = f"clickhouse://127.0.0.1:{CH_HTTP}/ztrace"

CH_CONF = """<?xml version="1.0"?>
<yandex>
 <logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/err.log</errorlog><size>10M</size><count>1</count></logger>
 <http_port>{http}</http_port><tcp_port>{tcp}</tcp_port><interserver_http_port>{inter}</interserver_http_port>
 <listen_host>127.0.0.1</listen_host>
 <path>{d}/data/</path><tmp_path>{d}/data/tmp/</tmp_path><user_files_path>{d}/data/user_files/</user_files_path>
 <format_schema_path>{d}/data/format_schemas/</format_schema_path>
 <users_config>users.xml</users_config><default_profile>default</default_profile><default_database>default</default_database>
 <mark_cache_size>268435456</mark_cache_size><uncompressed_cache_size>268435456</uncompressed_cache_size>
 <timezone>UTC</timezone>
 {extra}
</yandex>
"""
CH_USERS = """<?xml version="1.0"?>
<yandex>
 <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
 <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users>
 <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
"""


class ClickHouse:
    """A clickhouse-server of this test: its dir, its ports; start/stop keep the data."""

    def __init__(self, d, http, tcp, inter, extra=""):
        self.d, self.http = d, http
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "config.xml"), "w") as f:
            f.write(CH_CONF.format(d=d, http=http, tcp=tcp, inter=inter, extra=extra))
        with open(os.path.join(d, "users.xml"), "w") as f:
            f.write(CH_USERS)
        self.proc = None

    def start(self, timeout=30):
        self.proc = subprocess.Popen(["clickhouse-server", f"--config-file={self.d}/config.xml"], cwd=self.d,
                                     stdout=open(os.path.join(self.d, "stdout.log"), "a"), stderr=subprocess.STDOUT)
        ok, _ = wait_for(lambda: self.ping() or self.proc.poll() is not None, timeout)
        if not self.ping():
            raise RuntimeError(f"clickhouse-server on {self.http} did not start (see {self.d})")

    def ping(self):
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{self.http}/ping", timeout=1).read() == b"Ok.\n"
        except OSError:
            return False

    def sql(self, q):
        req = urllib.request.Request(f"http://127.0.0.1:{self.http}/", data=q.encode())
        return urllib.request.urlopen(req, timeout=30).read().decode()

    def stop(self, kill=False):
        if self.proc and self.proc.poll() is None:
            if kill:  # a crash: what it acknowledged is on disk already
                self.proc.kill()
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


BACKEND_PY = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = b"hello from the backend\\n"
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def nginx_conf(d):
    return f"""worker_processes 1; daemon off; pid {d}/nginx.pid; error_log {d}/nginx-error.log;
events {{ worker_connections 256; }}
http {{
    access_log {d}/access.log;
    upstream be {{ server 127.0.0.1:{BACKEND}; keepalive 4; }}
    server {{
        listen 127.0.0.1:{NGINX};
        location /api/ {{ proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; }}
        location /static/ {{ return 200 "static\\n"; }}
    }}
}}
"""


def spans_of(store, *extra):
    out = run([ZTRACE, "spans", "--store", store, "--json", "--limit", "0", *extra]).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def curl(path):
    return subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{NGINX}{path}"],
                          capture_output=True, text=True, timeout=10).stdout


def store_status():
    """/api/v1/status's "store" object of the fault test's `up`."""
    with urllib.request.urlopen(f"http://127.0.0.1:{API}/api/v1/status", timeout=5) as r:
        return json.loads(r.read()).get("store") or {}


def main():
    global T0
    T0 = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="ztrace-ch-e2e-")
    procs, ups = [], []
    ch = ClickHouse(os.path.join(tmp, "ch"), CH_HTTP, CH_TCP, CH_INTER)
    try:
        ch.start()
        with open(os.path.join(tmp, "nginx.conf"), "w") as f:
            f.write(nginx_conf(tmp))
        procs.append(subprocess.Popen(["/usr/bin/python3", "-c", BACKEND_PY, str(BACKEND)]))
        procs.append(subprocess.Popen(["nginx", "-c", os.path.join(tmp, "nginx.conf")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port("127.0.0.1", NGINX)
        wait_port("127.0.0.1", BACKEND)

        # ---- live into ClickHouse, recorded; the recording replayed into both stores ----
        print(f"# {time.monotonic() - T0:.1f} s: servers up", flush=True)
        rec_file = os.path.join(tmp, "events.ztr")
        up_ch = Background([ZTRACE, "up", "--store", URL, "--status-interval", "1"],
                           os.path.join(tmp, "up-ch.log"), "tracing this host")
        ups.append(up_ch)
        rec = Recorder(rec_file)
        ups.append(rec)
        up_ch.ready()
        rec.ready()
        codes = [curl(f"/api/same?c={i}") for i in range(20)] + [curl(f"/static/x?c={i}") for i in range(5)]
        check("live: curl got 200s", codes == ["200"] * 25, f"{codes}")
        time.sleep(1.5)
        up_ch.stop()
        rec.stop()
        check("live: up with ClickHouse stopped cleanly", up_ch.proc.returncode == 0, up_ch.text()[-800:])
        check("live: up with ClickHouse lost nothing", "store_failed 0" in up_ch.text(), up_ch.text()[-800:])

        def mine(ss):
            return sorted((s for s in ss if (s.get("request_resource") or "").startswith(("/api/same", "/static/x"))),
                          key=lambda s: (s["start_ns"], s["span_uid"]))
        live = mine(spans_of(URL))
        roots = [s for s in live if s["process"] == "curl" and s["request_resource"].startswith("/api/same")]
        check("live: 20 curl -> nginx -> backend requests, 4 spans each, 5 static, 2 each",
              len(roots) == 20 and len(live) == 20 * 4 + 5 * 2, f"{len(roots)} roots, {len(live)} spans")
        shapes = set()
        for r in roots:
            t = json.loads(run([ZTRACE, "trace", r["span_uid"], "--store", URL, "--json"]).stdout)["spans"]
            by = {x["span_uid"]: x for x in t}
            shapes.add(tuple((x["process"], x["tap_side"], by[x["parent_uid"]]["process"] if x["parent_uid"] in by
                              else None, x["link_kind"]) for x in t))
        want = (("curl", "client-process", None, None), ("nginx", "server-process", "curl", "tcp_seq"),
                ("nginx", "client-process", "nginx", None), ("python3", "server-process", "nginx", "tcp_seq"))
        ok = len(shapes) == 1 and all(a[:3] == b[:3] for a, b in zip(sorted(next(iter(shapes))), sorted(want))) \
            if shapes else False
        check("live: `ztrace trace UID --store` gives each request's whole tree (curl > nginx > nginx > backend)",
              ok, f"{shapes}")

        # the service map from the rollups ClickHouse holds: one edge per request. `up` traces the
        # whole host (other tests run curl and nginx too): per process, our nginx workers and backend.
        backend_pid = procs[0].pid
        with open(f"/proc/{procs[1].pid}/task/{procs[1].pid}/children") as f:
            workers = {int(x) for x in f.read().split()}
        mp = [json.loads(x) for x in run([ZTRACE, "map", "--store", URL, "--since", "10m", "--json",
                                          "--by-process"]).stdout.splitlines() if x.strip()]
        to_nginx = sum(e["requests"] for e in mp if e["type"] == "edge" and e["client"] == "curl"
                       and e.get("server_pid") in workers)
        to_backend = sum(e["requests"] for e in mp if e["type"] == "edge" and e.get("pid") in workers
                         and e.get("server_pid") == backend_pid)
        check("map: `ztrace map --store clickhouse://` edges curl -> our nginx 25, our nginx -> backend 20 "
              "(= requests)", to_nginx == 25 and to_backend == 20,
              f"{to_nginx} {to_backend}; {[e for e in mp if e['type'] == 'edge']}")
        served = {n["pid"]: n["requests"] for n in mp if n["type"] == "node" and "pid" in n}
        check("map: nodes: our nginx serves 25, the backend 20",
              sum(served.get(w, 0) for w in workers) == 25 and served.get(backend_pid) == 20, f"{served}")

        print(f"# {time.monotonic() - T0:.1f} s: live done", flush=True)
        # The same events into SQLite and into ClickHouse (replay is deterministic: same uids, same traces).
        sq_dir, url_r = os.path.join(tmp, "sq"), f"clickhouse://127.0.0.1:{CH_HTTP}/replayed"
        run([ZTRACE, "replay", rec_file, "--data", sq_dir, "--quiet"])
        run([ZTRACE, "replay", rec_file, "--store", url_r, "--quiet"])
        a, b = spans_of(sq_dir), spans_of(url_r)
        check("same: ClickHouse has SQLite's spans, field for field", a == b and len(a) >= 90,
              f"sqlite {len(a)} spans, clickhouse {len(b)}; first difference: "
              f"{next(((x, y) for x, y in zip(a, b) if x != y), None)}")
        for args in (["--protocol", "http", "--limit", "7"], ["--process", "NGI"], ["--path", "c=1"],
                     ["--errors"], ["--min-duration", "1ms"]):
            xa = run([ZTRACE, "spans", "--data", sq_dir, "--json", *args]).stdout
            xb = run([ZTRACE, "spans", "--store", url_r, "--json", *args]).stdout
            check(f"same: spans {' '.join(args)} agree", xa == xb, f"{len(xa)} vs {len(xb)} bytes")
        rr = [s for s in a if s["process"] == "curl" and (s["request_resource"] or "").startswith("/api/same")]
        same = sum(run([ZTRACE, "trace", r["span_uid"], "--data", sq_dir, "--json"]).stdout ==
                   run([ZTRACE, "trace", r["span_uid"], "--store", url_r, "--json"]).stdout for r in rr)
        check("same: `ztrace trace UID --json` equal on both stores", same == len(rr) == 20, f"{same}/{len(rr)}")
        tid = json.loads(run([ZTRACE, "trace", rr[0]["span_uid"], "--store", url_r, "--json"]).stdout)["trace_id"]
        ta = run([ZTRACE, "trace", tid, "--data", sq_dir, "--json"]).stdout
        tb = run([ZTRACE, "trace", tid, "--store", url_r, "--json"]).stdout
        check("same: `ztrace trace TRACE_ID` equal on both stores", ta == tb and len(json.loads(tb)["spans"]) == 4,
              tb[:300])
        for q in ([], ["--service", "curl"], ["--endpoint", "/api/"], ["--sort", "duration", "--limit", "3"],
                  ["--limit", "0"]):
            xa = run([ZTRACE, "traces", "--data", sq_dir, "--json", *q]).stdout
            xb = run([ZTRACE, "traces", "--store", url_r, "--json", *q]).stdout
            check(f"same: traces {' '.join(q)} agree", xa == xb and xb, f"{xa[:300]} | {xb[:300]}")

        print(f"# {time.monotonic() - T0:.1f} s: live and same done", flush=True)
        # ---- fault: ClickHouse away for 10 s under load ----
        up = Background([ZTRACE, "up", "--store", URL, "--status-interval", "1", "--listen", f"127.0.0.1:{API}"],
                        os.path.join(tmp, "up-fault.log"), "tracing this host")
        ups.append(up)
        up.ready()
        # the load runs in a thread while this one stops and starts the server
        load = {"sent": 0, "stop": False}

        def loader():
            while not load["stop"]:
                if curl(f"/static/fault?c={load['sent']}") == "200":
                    load["sent"] += 1
                time.sleep(0.02)
        th = threading.Thread(target=loader)
        th.start()
        time.sleep(3)
        ch.stop(kill=True)
        down_from = time.monotonic()
        time.sleep(4)
        st_down = store_status()
        buf = (st_down.get("buffer") or {})
        check("status: during the outage /api/v1/status shows buffered spans and failing_since",
              buf.get("spans", 0) > 0 and st_down.get("failing_since") and st_down.get("outages") == 1 and
              "unreachable" in (st_down.get("last_error") or "") and buf.get("dropped") == 0, f"{st_down}")
        time.sleep(max(0.0, 10 - (time.monotonic() - down_from)))
        ch.start()
        restarted = True
        print(f"# fault: ClickHouse was down {time.monotonic() - down_from:.1f} s", flush=True)
        time.sleep(3)
        load["stop"] = True
        th.join()
        deadline = time.monotonic() + 15
        while True:
            st_up = store_status()
            if ((st_up.get("buffer") or {}).get("spans") == 0 and st_up.get("failing_since") is None) or \
                    time.monotonic() > deadline:
                break
            time.sleep(0.3)
        check("status: after the outage the buffer is empty and nothing is failing",
              (st_up.get("buffer") or {}).get("spans") == 0 and st_up.get("failing_since") is None and
              st_up.get("outages") == 1, f"{st_up}")
        sent = load["sent"]
        if not restarted:
            ch.start()
        time.sleep(1.5)
        up.stop()
        got = [s for s in spans_of(URL, "--path", "/static/fault") if s["tap_side"] == "server-process"]
        uniq = {s["request_resource"] for s in got}
        check("fault: every request's server span stored (ClickHouse down 10 s)", len(uniq) == sent,
              f"{len(uniq)} of {sent}; up: {up.text()[-600:]}")
        check("fault: nothing doubled", len(got) == len(uniq), f"{len(got)} spans, {len(uniq)} requests")
        check("fault: up lost nothing (store_failed 0)", "store_failed 0" in up.text(), up.text()[-600:])
        print(f"# fault: {sent} requests, ClickHouse down 10 s, {len(got)} server spans stored", flush=True)

        print(f"# {time.monotonic() - T0:.1f} s: fault done", flush=True)
        # ---- clear errors ----
        r = subprocess.run([ZTRACE, "spans", "--store", "clickhouse://127.0.0.1:20729/ztrace"], capture_output=True,
                           text=True)
        check("errors: unreachable server named", r.returncode != 0 and "127.0.0.1:20729/ztrace is unreachable" in r.stderr,
              r.stderr)
        ch.sql("CREATE DATABASE IF NOT EXISTS other")
        r = subprocess.run([ZTRACE, "traces", "--store", f"clickhouse://127.0.0.1:{CH_HTTP}/other"], capture_output=True,
                           text=True)
        check("errors: a database without ztrace data", r.returncode != 0 and "no ztrace data in ClickHouse" in r.stderr,
              r.stderr)
    finally:
        for u in ups:
            u.stop()
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        ch.stop(kill=True)
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
