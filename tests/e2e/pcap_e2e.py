"""End to end for `ztrace replay --pcap`: tcpdump captures real loopback
traffic (curl -> python3 http.server) while `ztrace up` traces the same
processes with the BPF programs; the capture replayed must give the spans
curl caused, seen from both NICs (client-nic and server-nic), with the same
request/response TCP sequence numbers as the process spans of `ztrace up`
(client-process and server-process): packets and syscalls agree on where
each message starts. Also: the stored pcap spans read back through
`ztrace spans --side client-nic`, and clear errors for a missing and a
corrupt file."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import ZTRACE, Ztrace, check, finish, spans, wait_for, wait_port  # noqa: E402

PORT = 16901
PY = "/usr/bin/python3"

tmp = tempfile.mkdtemp(prefix="zt-pcap-e2e-")
www = os.path.join(tmp, "www")
os.makedirs(www)
with open(os.path.join(www, "hello.txt"), "w") as f:
    f.write("hello from the pcap e2e test\n")
with open(os.path.join(www, "big.bin"), "wb") as f:
    f.write(os.urandom(300000))
pcap = os.path.join(tmp, "lo.pcap")
pcap_any = os.path.join(tmp, "any.pcap")  # -i any: Linux cooked v2 (SLL2) link headers
procs = []
zt = None
tcpdump = tcpdump_any = None
# what curl does: (method, path, expected code)
REQUESTS = [("GET", "/hello.txt", 200), ("GET", "/missing", 404), ("GET", "/big.bin", 200), ("POST", "/hello.txt", 501)]


def nic_spans(jsonl):
    import json
    return [json.loads(x) for x in jsonl.splitlines() if x.strip()]


try:
    srv = subprocess.Popen([PY, "-m", "http.server", str(PORT), "--bind", "127.0.0.1"], cwd=www,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(srv)
    wait_port("127.0.0.1", PORT)
    tlog = open(os.path.join(tmp, "tcpdump.log"), "w+")
    # -B: a 32 MiB kernel buffer, so a loaded machine does not drop packets;
    # --immediate-mode: each packet is handed over at once (else libpcap
    # holds a block of them for up to a second, and they are lost at SIGINT)
    tcpdump = subprocess.Popen(["tcpdump", "-i", "lo", "--immediate-mode", "-U", "-n", "-s", "0", "-B", "32768",
                                "-w", pcap,
                                f"tcp port {PORT}"],
                               stdout=tlog, stderr=subprocess.STDOUT)
    alog = open(os.path.join(tmp, "tcpdump-any.log"), "w+")
    tcpdump_any = subprocess.Popen(["tcpdump", "-i", "any", "--immediate-mode", "-U", "-n", "-s", "0", "-B", "32768",
                                    "-w", pcap_any,
                                    f"tcp port {PORT}"], stdout=alog, stderr=subprocess.STDOUT)
    wait_for(lambda: "listening on" in open(tlog.name).read() or tcpdump.poll() is not None, 10)
    wait_for(lambda: "listening on" in open(alog.name).read() or tcpdump_any.poll() is not None, 10)
    check("tcpdump runs", tcpdump.poll() is None and tcpdump_any.poll() is None,
          open(tlog.name).read() + open(alog.name).read())
    zt = Ztrace(os.path.join(tmp, "data"))
    for method, path, _ in REQUESTS:
        args = ["curl", "-s", "-o", "/dev/null", "-X", method, f"http://127.0.0.1:{PORT}{path}"]
        if method == "POST":
            args[1:1] = ["-d", "x=1"]
        subprocess.run(args, check=False, timeout=20)
    # ztrace up's own spans of this server (both processes traced)
    up, _ = wait_for(lambda: (lambda ss: ss if len(ss) >= 2 * len(REQUESTS) else None)(
        [s for s in spans(zt.data) if s["server_port"] == PORT]), 15)
    up = up or [s for s in spans(zt.data) if s["server_port"] == PORT]
    check("ztrace up: a client and a server span per request", len(up) == 2 * len(REQUESTS),
          f"{[(s['tap_side'], s['request_resource']) for s in up]}")
    # tcpdump writes as packets come (-U) but may lag on a loaded machine:
    # stop it once both files stopped growing
    def settled():
        sizes = [os.path.getsize(f) for f in (pcap, pcap_any)]
        time.sleep(0.5)
        return sizes == [os.path.getsize(f) for f in (pcap, pcap_any)]
    wait_for(settled, 10, 0)
    for t in (tcpdump, tcpdump_any):
        t.send_signal(signal.SIGINT)
        t.wait(10)
    print("# tcpdump: " + " | ".join(ln.strip() for ln in open(tlog.name) if "packets" in ln), flush=True)
    zt.stop()

    # the capture through the whole pipeline
    r = subprocess.run([ZTRACE, "replay", "--pcap", pcap, "--no-store", "--json"], capture_output=True, text=True)
    check("replay --pcap exits 0", r.returncode == 0, r.stderr)
    check("replay --pcap prints its pcap counters", "ztrace: pcap:" in r.stderr and "flows 4" in r.stderr,
          r.stderr)
    ps = nic_spans(r.stdout)
    for method, path, code in REQUESTS:
        for side in ("client-nic", "server-nic"):
            got = [s for s in ps if s["tap_side"] == side and s["request_resource"] == path and
                   s["request_type"] == method]
            check(f"pcap {side}: {method} {path} -> {code}",
                  len(got) == 1 and got[0]["response_code"] == code and got[0]["l7_protocol"] == "HTTP"
                  and got[0]["server_port"] == PORT and got[0]["client_ip"] == "127.0.0.1",
                  f"{got} in {[(s['tap_side'], s['request_type'], s['request_resource']) for s in ps]}")
        # the same exchange as ztrace up saw it: equal TCP sequence numbers
        procs_of = [s for s in up if s["request_resource"] == path and s["request_type"] == method]
        nics_of = [s for s in ps if s["request_resource"] == path and s["request_type"] == method]
        seqs_up = {(s["req_tcp_seq"], s["resp_tcp_seq"]) for s in procs_of}
        seqs_nic = {(s["req_tcp_seq"], s["resp_tcp_seq"]) for s in nics_of}
        check(f"{method} {path}: TCP seqs of the pcap spans equal ztrace up's",
              len(seqs_up) == 1 and seqs_up == seqs_nic and None not in next(iter(seqs_up)),
              f"up {seqs_up} ({[s['tap_side'] for s in procs_of]}) vs pcap {seqs_nic}")
        cl = [s for s in procs_of if s["tap_side"] == "client-process"]
        cn = [s for s in nics_of if s["tap_side"] == "client-nic"]
        check(f"{method} {path}: client ports agree", cl and cn and cl[0]["client_port"] == cn[0]["client_port"],
              f"{cl} {cn}")
    check("pcap: no other spans", len(ps) == 2 * len(REQUESTS), f"{len(ps)} spans")

    # the same traffic captured on every interface (SLL2 headers)
    r = subprocess.run([ZTRACE, "replay", "--pcap", pcap_any, "--no-store", "--json"], capture_output=True, text=True)

    def facts(ss):
        return sorted((s["tap_side"], s["request_type"], s["request_resource"], s["response_code"], s["req_tcp_seq"],
                       s["resp_tcp_seq"]) for s in ss)
    check("-i any capture (SLL2): the same spans", r.returncode == 0 and facts(nic_spans(r.stdout)) == facts(ps),
          f"{r.stderr} {facts(nic_spans(r.stdout))[:3]}")

    # stored, then read back by side
    data2 = os.path.join(tmp, "data2")
    r = subprocess.run([ZTRACE, "replay", "--pcap", pcap, "--data", data2, "--quiet"], capture_output=True, text=True)
    stored = spans(data2, "--side", "client-nic")
    check("stored pcap spans: --side client-nic", r.returncode == 0 and len(stored) == len(REQUESTS) and
          all(s["tap_side"] == "client-nic" for s in stored), f"{r.stderr} {stored}")
    # one end's view only
    r = subprocess.run([ZTRACE, "replay", "--pcap", pcap, "--pcap-side", "server", "--no-store", "--json"],
                       capture_output=True, text=True)
    one = nic_spans(r.stdout)
    check("--pcap-side server: only server-nic spans, one per request",
          r.returncode == 0 and len(one) == len(REQUESTS) and all(s["tap_side"] == "server-nic" for s in one),
          f"{r.stderr} {[s['tap_side'] for s in one]}")
    r = subprocess.run([ZTRACE, "replay", "--pcap", pcap, "--pcap-side", "middle", "--no-store"],
                       capture_output=True, text=True)
    check("--pcap-side middle: refused", r.returncode == 2 and "--pcap-side" in r.stderr, r.stderr)
    # clear errors
    r = subprocess.run([ZTRACE, "replay", "--pcap", os.path.join(tmp, "nope.pcap"), "--no-store"],
                       capture_output=True, text=True)
    check("missing file: exit 1, says so", r.returncode == 1 and "No such file" in r.stderr, r.stderr)
    r = subprocess.run([ZTRACE, "replay", pcap, "--no-store"], capture_output=True, text=True)
    check("a capture without --pcap: exit 1, says to use --pcap", r.returncode == 1 and "use --pcap" in r.stderr,
          r.stderr)
    bad = os.path.join(tmp, "bad.pcap")
    with open(bad, "wb") as f:
        f.write(b"GET / HTTP/1.1\r\n\r\n" * 4)
    r = subprocess.run([ZTRACE, "replay", "--pcap", bad, "--no-store"], capture_output=True, text=True)
    check("corrupt file: exit 1, says so", r.returncode == 1 and "not a readable capture" in r.stderr, r.stderr)
    with open(pcap, "rb") as f:
        whole = f.read()
    cut = os.path.join(tmp, "cut.pcap")
    with open(cut, "wb") as f:
        f.write(whole[:len(whole) - 7])
    r = subprocess.run([ZTRACE, "replay", "--pcap", cut, "--no-store", "--json"], capture_output=True, text=True)
    check("a cut last packet: exit 0, a note, the spans before it",
          r.returncode == 0 and "note:" in r.stderr and len(nic_spans(r.stdout)) >= 2 * (len(REQUESTS) - 1),
          r.stderr)
finally:
    for t in (tcpdump, tcpdump_any):
        if t and t.poll() is None:
            t.kill()
            t.wait()
    if zt:
        zt.stop()
    for p in procs:
        p.kill()
        p.wait()
    shutil.rmtree(tmp, ignore_errors=True)
finish()
