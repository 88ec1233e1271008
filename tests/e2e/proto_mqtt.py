"""End to end: the real BPF programs trace Debian's mosquitto 2.x (password
file, anonymous refused) driven by mosquitto_pub and mosquitto_sub in MQTT
3.1.1 and 5.0, QoS 0 and 1, and a wrong password; everything is asserted
through `ztrace spans --json`, on the client and the broker side, filtered
by this test's broker port (other tests run at the same time)."""
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import set_prefix, Recorder, Ztrace, check, finish, spans, wait_for, wait_port  # noqa: E402

PORT = 16730
USER = "ztuser"
PASSWORD = "pw-" + secrets.token_hex(8)  # fresh: finding it anywhere means this run stored it
T0 = time.monotonic()
# ZT_CAPTURE_PATH=fast|compat: the kernel capture path (as tests/e2e/http.sh)
CAPTURE_PATH = os.environ.get("ZT_CAPTURE_PATH", "")
PATH_ARGS = ["--capture-path", CAPTURE_PATH] if CAPTURE_PATH else []
if CAPTURE_PATH:
    set_prefix(f"[{CAPTURE_PATH}] ")

tmp = tempfile.mkdtemp(prefix="zt-mqtt-e2e-")
data = os.path.join(tmp, "data")
broker = zt = rec = None
subs = []


def auth(v, password=PASSWORD):
    return ["-h", "127.0.0.1", "-p", str(PORT), "-V", v, "-u", USER, "-P", password]


def mine():
    return [s for s in spans(data, "--protocol", "MQTT") if PORT in (s["server_port"], s["client_port"])]


def by(ss, **kw):
    return [s for s in ss if all(s.get(k) == v for k, v in kw.items())]


try:
    pw = os.path.join(tmp, "passwd")
    subprocess.run(["mosquitto_passwd", "-c", "-b", pw, USER, PASSWORD], check=True)
    os.chmod(pw, 0o644)
    conf = os.path.join(tmp, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"listener {PORT} 127.0.0.1\nallow_anonymous false\npassword_file {pw}\n"
                f"persistence false\nuser root\nlog_dest stderr\n")
    broker = subprocess.Popen(["mosquitto", "-c", conf], stderr=subprocess.DEVNULL)
    wait_port("127.0.0.1", PORT)
    zt = Ztrace(data, *PATH_ARGS)
    # a recording of the same traffic: raw payloads, redacted by the parser
    rec = Recorder(os.path.join(tmp, "mqtt.zrec"), "--port", str(PORT), *PATH_ARGS)
    rec.ready()

    for v in ("mqttv311", "mqttv5"):
        sub = subprocess.Popen(["mosquitto_sub", *auth(v), "-i", f"sub-{v}", "-q", "1", "-t", f"e2e/{v}/#",
                                "-C", "2", "-W", "15"], stdout=subprocess.PIPE, text=True)
        subs.append(sub)
        time.sleep(0.5)  # subscribed before the publishes
        for q in (0, 1):
            subprocess.run(["mosquitto_pub", *auth(v), "-i", f"pub-{v}-{q}", "-q", str(q), "-t",
                            f"e2e/{v}/q{q}", "-m", f"m{q}"], check=True, timeout=10)
        out = sub.communicate(timeout=15)[0]
        check(f"{v}: the subscriber got both messages", out.split() == ["m0", "m1"], out)
        r = subprocess.run(["mosquitto_pub", *auth(v, "wrong-password"), "-i", f"bad-{v}", "-t", "e2e/x",
                            "-m", "x"], capture_output=True, text=True, timeout=10)
        check(f"{v}: a wrong password is refused", r.returncode != 0, r.stderr)

    def enough():
        ss = mine()
        return ss if len(by(ss, request_type="CONNECT")) >= 16 else None
    ss, waited = wait_for(enough, 10, 0.3)
    ss = ss or mine()
    print(f"# {len(ss)} MQTT spans on port {PORT} after {waited:.1f} s", flush=True)

    for v, ver in (("mqttv311", "3.1.1"), ("mqttv5", "5.0")):
        vs = by(ss, version=ver)
        for tap, proc in (("client-process", None), ("server-process", "mosquitto")):
            side = [s for s in by(vs, tap_side=tap) if proc is None or s["process"] == proc]
            ok_conn = sorted(s["request_resource"] for s in by(side, request_type="CONNECT", response_code=0,
                                                               response_status="ok"))
            check(f"{v} {tap}: CONNECTs accepted (code 0)",
                  ok_conn == [f"pub-{v}-0", f"pub-{v}-1", f"sub-{v}"], str(ok_conn))
            sub_ = by(side, request_type="SUBSCRIBE", request_resource=f"e2e/{v}/#")
            check(f"{v} {tap}: SUBSCRIBE granted QoS 1", [s["response_code"] for s in sub_] == [1], str(sub_))
            q0 = by(side, request_type="PUBLISH", request_resource=f"e2e/{v}/q0", client_port=None) or \
                [s for s in by(side, request_type="PUBLISH", request_resource=f"e2e/{v}/q0")
                 if s["server_port"] == PORT]
            check(f"{v} {tap}: QoS 0 PUBLISH is a one-way span",
                  [s["flags"] for s in q0] == [["one_way"]] and q0[0]["resp_bytes"] == 0, str(q0))
            q1 = [s for s in by(side, request_type="PUBLISH", request_resource=f"e2e/{v}/q1")
                  if s["server_port"] == PORT]
            check(f"{v} {tap}: QoS 1 PUBLISH answered by PUBACK",
                  [(s["response_status"], s["resp_bytes"] >= 4) for s in q1] == [("ok", True)], str(q1))
            bad = by(side, request_type="CONNECT", request_resource=f"bad-{v}")
            want_code, want_exc = (5, "Not Authorized") if ver == "3.1.1" else (135, "Not authorized")
            check(f"{v} {tap}: wrong password: CONNACK error {want_code}",
                  [(s["response_status"], s["response_code"], s["response_exception"]) for s in bad]
                  == [("client_error", want_code, want_exc)], str(bad))
        # broker -> subscriber deliveries: on the subscriber (it reads them)
        # and on the broker (it writes them); both are one span per message
        for proc in ("mosquitto_sub", "mosquitto"):
            dl = sorted((s["request_resource"], s["response_status"]) for s in by(vs, request_type="PUBLISH")
                        if s["process"] == proc and s["client_port"] == PORT
                        and s["attributes"] and s["attributes"].get("mqtt.from") == "broker")
            check(f"{v}: deliveries to the subscriber seen by {proc}",
                  dl == [(f"e2e/{v}/q0", "unknown"), (f"e2e/{v}/q1", "ok")], str(dl))
        seqs_c = {s["req_tcp_seq"] for s in by(vs, tap_side="client-process", request_type="CONNECT")}
        seqs_s = {s["req_tcp_seq"] for s in by(vs, tap_side="server-process", request_type="CONNECT")}
        check(f"{v}: client and broker CONNECT spans share TCP seqs", seqs_c and seqs_c == seqs_s,
              f"{seqs_c} vs {seqs_s}")

    rec.stop()
    with open(rec.path, "rb") as f:
        blob = f.read()
    check("the recording holds the CONNECTs, without the password",
          blob.count(b"\x00\x04MQTT") >= 16 and PASSWORD.encode() not in blob
          and blob.count(b"*" * len(PASSWORD)) >= 12, f"{blob.count(b'MQTT')} CONNECTs")
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
    for s in subs:
        if s.poll() is None:
            s.kill()
            s.wait()
    if rec:
        rec.stop()
    if zt:
        zt.stop()
    if broker:
        broker.terminate()
        broker.wait(10)
    shutil.rmtree(tmp, ignore_errors=True)

finish()
