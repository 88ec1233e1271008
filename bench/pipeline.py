"""pipeline bench: the user-space pipeline on one core, from a real recording.
Records nginx-light under wrk with `ztrace record` (real BPF, both sides of
every exchange), then runs pipeline_bench on it until >= 1M client-server
exchanges have been turned into spans: exchanges/s, ns per event, peak RSS."""
import json
import os
import shutil
import subprocess
import tempfile
import time

import benchlib as bl

PORT = 18461


def main():
    tmp = tempfile.mkdtemp(prefix="zt-bench-pipeline-")
    want = 20000 if bl.QUICK else 1000000
    rec_s = 1 if bl.QUICK else 3
    www = os.path.join(tmp, "www")
    os.makedirs(www)
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write("<html>" + "x" * 600 + "</html>\n")
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""user root; worker_processes 1; pid {tmp}/nginx.pid; error_log {tmp}/error.log;
daemon off; events {{ worker_connections 256; }}
http {{ access_log off; client_body_temp_path {tmp}/body; keepalive_requests 1000000;
  server {{ listen 127.0.0.1:{PORT}; root {www}; }} }}
""")
    _lock = bl.bench_lock()
    nginx = subprocess.Popen(["nginx", "-c", conf])
    recfile = os.path.join(tmp, "wrk.zrec")
    try:
        bl.wait_port(PORT)
        rec = subprocess.Popen([bl.ZTRACE, "record", recfile, "--port", str(PORT)], stderr=subprocess.PIPE, text=True)
        line = rec.stderr.readline()
        if "recording to" not in line:
            raise RuntimeError(line + rec.stderr.read())
        wrk = subprocess.run(["wrk", "-t1", "-c4", f"-d{rec_s}s", f"http://127.0.0.1:{PORT}/index.html"],
                             capture_output=True, text=True, check=True).stdout
        time.sleep(0.5)
        rec.send_signal(2)
        rec_line = rec.communicate(timeout=60)[1].strip()
    finally:
        nginx.terminate()
        nginx.wait()
    try:
        size = os.path.getsize(recfile)
        out = subprocess.run([os.path.join(bl.OUT, "pipeline_bench"), recfile, str(want)],
                             capture_output=True, text=True, check=True).stdout
        r = json.loads(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    reqs = [ln for ln in wrk.splitlines() if "requests in" in ln]
    rows = [{"recorded events": r["file_events"], "recording MB": round(size / 1e6, 1), "passes": r["passes"],
             "events": r["events"], "client spans": r["client_spans"], "server spans": r["server_spans"],
             "seconds": r["seconds"], "events/s": r["events_per_s"], "ns/event": r["ns_per_event"],
             "exchanges/s": r["exchanges_per_s"], "spans/s": r["spans_per_s"],
             "peak RSS KiB": r["peak_rss_kib"], "unanswered": r["unanswered"], "orphan resp": r["orphan_resp"]}]
    figures = [
        bl.fig("exchanges/s on one core (both sides traced: 2 spans each)", r["exchanges_per_s"], "/s"),
        bl.fig("events/s on one core", r["events_per_s"], "/s"),
        bl.fig("ns per event", r["ns_per_event"], "ns"),
        bl.fig("peak RSS", r["peak_rss_kib"], "KiB"),
        bl.fig("client-server exchanges replayed", r["client_spans"], "", ">= 1,000,000",
               r["client_spans"] >= 1000000 if not bl.QUICK else None),
    ]
    notes = [
        f"Recording: wrk -t1 -c4 -d{rec_s}s against nginx-light (600-byte page, keep-alive) under "
        f"`ztrace record --port {PORT}`: {reqs[0].strip() if reqs else '?'}; {rec_line}",
        f"The {r['file_events']} recorded events are held in memory ({r['loaded_bytes'] / 1e6:.0f} MB) and replayed "
        f"{r['passes']} times with fresh socket ids and later times each pass, on one pinned core, "
        "through zt_session_event (inference, HTTP/1 parse, pairing, span building). "
        "Store and JSON excluded: see the store bench.",
        "Peak RSS includes the loaded recording.",
    ]
    bl.write_result("pipeline", "user-space pipeline on one core", rows, figures, notes,
                    {"min_exchanges": want, "record_seconds": rec_s})


if __name__ == "__main__":
    main()
