"""End to end: the real BPF programs trace a private rabbitmq-server
(tests/e2e/rabbitmq.py) driven by python3-pika: the session of
tests/data/proto/amqp/client.py (declare, publish, get, get-empty, consume,
a publish to a missing exchange closed with 404, a passive declare of a
missing queue answered with 404) and a 300 KB message (bodies far past the
capture: gaps). Asserted through `ztrace spans --json` on the client
(python3) and broker (beam.smp) side, filtered by this test's port. The
broker takes 15-30 s to start: it is started before `ztrace up`, once."""
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import set_prefix, ROOT, Recorder, Ztrace, check, finish, spans, wait_for  # noqa: E402
from rabbitmq import PASSWORD, USER, RabbitMQ  # noqa: E402

PORT = 16740
PY = "/usr/bin/python3"
T0 = time.monotonic()
# ZT_CAPTURE_PATH=fast|compat: the kernel capture path (as tests/e2e/http.sh)
CAPTURE_PATH = os.environ.get("ZT_CAPTURE_PATH", "")
PATH_ARGS = ["--capture-path", CAPTURE_PATH] if CAPTURE_PATH else []
if CAPTURE_PATH:
    set_prefix(f"[{CAPTURE_PATH}] ")
CLIENT = os.path.join(ROOT, "tests", "data", "proto", "amqp", "client.py")
BIG = f"""
import pika
c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", {PORT}, "/",
    pika.PlainCredentials("{USER}", "{PASSWORD}"), heartbeat=0))
ch = c.channel()
ch.queue_declare("zt-big")
ch.basic_publish(exchange="", routing_key="zt-big", body=b"x" * 300000)
m, p, b = ch.basic_get("zt-big", auto_ack=True)
print(len(b))
ch.queue_delete("zt-big")
c.close()
"""

tmp = tempfile.mkdtemp(prefix="zt-amqp-e2e-")
data = os.path.join(tmp, "data")
rmq = zt = rec = None


def mine():
    return [s for s in spans(data, "--protocol", "AMQP") if PORT in (s["server_port"], s["client_port"])]


try:
    rmq = RabbitMQ(PORT, PORT + 1, PORT + 2, name="ztamqpe2e")
    try:
        up = rmq.wait()
        print(f"# rabbitmq-server up after {up:.1f} s", flush=True)
    except RuntimeError as e:
        check("rabbitmq-server starts", False, str(e)[-1500:])
        raise
    zt = Ztrace(data, *PATH_ARGS)
    # a recording of the same traffic: raw payloads, redacted by the parser
    rec = Recorder(os.path.join(tmp, "amqp.zrec"), "--port", str(PORT), *PATH_ARGS)
    rec.ready()
    out = subprocess.run([PY, CLIENT, str(PORT), USER, PASSWORD], capture_output=True, text=True, timeout=60)
    check("pika session ran as scripted", out.stdout.splitlines() == [
        "get hello one", "get hello two", "get-empty True", "deliver hello three", "publish-closed True",
        "declare-closed 404 NOT_FOUND - no queue 'zt-no-such-queue' in vhost '/'"], out.stdout + out.stderr)
    big = subprocess.run([PY, "-c", BIG], capture_output=True, text=True, timeout=60)
    check("a 300 KB message went through", big.stdout.strip() == "300000", big.stdout + big.stderr)

    def enough():
        ss = mine()
        return ss if sum(1 for s in ss if s["request_type"] == "Connection.Close") >= 4 else None
    ss, waited = wait_for(enough, 10, 0.3)
    ss = ss or mine()
    print(f"# {len(ss)} AMQP spans on port {PORT} after {waited:.1f} s", flush=True)
    big_port = {s["client_port"] for s in ss if s["request_resource"] == "zt-big"}
    for s in ss:
        if s["client_port"] in big_port:
            print("# big:", s["process"], s["request_type"], s["req_bytes"], s["resp_bytes"], s["flags"])

    for proc in ("python3", "beam.smp"):
        m = [s for s in ss if s["process"] == proc]
        t = Counter((s["request_type"], s["request_resource"]) for s in m)
        check(f"[{proc}] two connections: Start, Tune, Open of vhost /",
              t[("Connection.Start", None)] == 2 and t[("Connection.Tune", None)] == 2
              and [s["request_domain"] for s in m if s["request_type"] == "Connection.Open"] == ["/", "/"],
              str(t))
        check(f"[{proc}] every span after Open has domain /",
              all(s["request_domain"] == "/" for s in m if not s["request_type"].startswith("Connection.")),
              "")
        check(f"[{proc}] Start-Ok names the user, never the password",
              all(s["attributes"] == {"amqp.mechanism": "PLAIN", "amqp.user": USER}
                  for s in m if s["request_type"] == "Connection.Start"), "")
        check(f"[{proc}] declares answered", t[("Queue.Declare", "zt-q")] == 1 and t[("Queue.Declare", "zt-big")] == 1
              and all(s["response_status"] == "ok" for s in m if s["request_type"] == "Queue.Declare"
                      and s["request_resource"] != "zt-no-such-queue"), str(t))
        pubs = [s for s in m if s["request_type"] == "Basic.Publish"]
        check(f"[{proc}] publishes are one-way, resource exchange/routing-key",
              Counter(s["request_resource"] for s in pubs) == Counter(
                  {"/zt-q": 3, "zt-missing/nowhere": 1, "/zt-big": 1})
              and all(s["flags"] == ["one_way"] for s in pubs), str(pubs))
        bigpub = [s for s in pubs if s["request_resource"] == "/zt-big"]
        check(f"[{proc}] the 300 KB publish counts its body (past the capture)",
              len(bigpub) == 1 and bigpub[0]["req_bytes"] >= 300000, str(bigpub))
        gets = [s for s in m if s["request_type"] == "Basic.Get"]
        check(f"[{proc}] 3 gets of zt-q answered (2 with a message, 1 empty)",
              sorted(s["resp_bytes"] for s in gets if s["request_resource"] == "zt-q")[0] == 13
              and [s["response_status"] for s in gets if s["request_resource"] == "zt-q"] == ["ok"] * 3,
              str(gets))
        # The big get: the client reads the 300 KB get-ok in many recv()s
        # and sees it whole. The broker may read the client's get in the
        # same recv() as the end of the 300 KB publish, past the 1 KiB
        # capture: that frame cannot be seen (counted as lost sync), its
        # span is then missing. When it is there, it is whole.
        bg = [s for s in gets if s["request_resource"] == "zt-big"]
        if proc == "python3" or bg:
            check(f"[{proc}] the big get answered with its 300 KB body",
                  len(bg) == 1 and bg[0]["resp_bytes"] >= 300000 and bg[0]["response_status"] == "ok", str(bg))
        else:
            print(f"# [{proc}] the big get was read past the capture: no span (see the comment)", flush=True)
        check(f"[{proc}] the consumer's delivery", t[("Basic.Deliver", "/zt-q")] == 1, str(t))
        err = sorted((s["request_type"], s["request_resource"], s["response_code"], s["response_exception"])
                     for s in m if s["response_status"] not in ("ok", "unknown"))
        check(f"[{proc}] errors: 404 after the publish, 404 answering the declare", err == [
            ("Channel.Close", "Basic.Publish", 404, "NOT_FOUND - no exchange 'zt-missing' in vhost '/'"),
            ("Queue.Declare", "zt-no-such-queue", 404, "NOT_FOUND - no queue 'zt-no-such-queue' in vhost '/'")],
            str(err))
        check(f"[{proc}] nothing unanswered or truncated in the scripted session",
              not [s for s in m if set(s["flags"] or []) & {"no_response", "truncated", "lost_sync"}
                   and s["client_port"] not in big_port], "")
    cl = {s["req_tcp_seq"] for s in ss if s["process"] == "python3" and s["request_type"] == "Queue.Declare"}
    sv = {s["req_tcp_seq"] for s in ss if s["process"] == "beam.smp" and s["request_type"] == "Queue.Declare"}
    check("client and broker spans share TCP seqs", cl and cl == sv, f"{cl} vs {sv}")

    rec.stop()
    with open(rec.path, "rb") as f:
        blob = f.read()
    check("the recording holds the 4 Start-Oks (2 connections, 2 sides; user kept), without the password",
          blob.count(b"\x05PLAIN") >= 4 and blob.count(b"\x00" + USER.encode() + b"\x00" + b"*" * len(PASSWORD)) == 4
          and PASSWORD.encode() not in blob, f"{blob.count(b'PLAIN')} PLAIN")
    rec = None
    zt.stop()
    zt = None
    leaks = []
    for name in os.listdir(data):
        p = os.path.join(data, name)
        if os.path.isfile(p):
            with open(p, "rb") as f:
                if PASSWORD.encode() in f.read():
                    leaks.append(name)
    check("the password is in no file of the data dir", not leaks and os.listdir(data), str(leaks))
    print(f"# run: {time.monotonic() - T0:.1f} s", flush=True)
finally:
    if rec:
        rec.stop()
    if zt:
        zt.stop()
    if rmq:
        rmq.stop()
    shutil.rmtree(tmp, ignore_errors=True)

finish()
