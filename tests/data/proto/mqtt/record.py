"""Re-records the MQTT fixtures in this folder from real programs with the
real BPF programs (`ztrace record --port 16700`, as root):

    sudo /usr/bin/python3 tests/data/proto/mqtt/record.py

Broker: Debian's mosquitto 2.x on 127.0.0.1:16700, allow_anonymous false,
a password file made with mosquitto_passwd -b (user ztuser, password
zt-s3cret-pw: CONNECT carries a real password, which must not be in the
recording). Clients: mosquitto_sub / mosquitto_pub. See README.md for what
each fixture holds. NAME.expected.jsonl is `ztrace replay --no-store --json`
of the recording, reviewed by hand.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(HERE))))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from lib import ZTRACE, wait_port  # noqa: E402

PORT = 16700
USER, PASSWORD = "ztuser", "zt-s3cret-pw"


def record(name, action):
    path = os.path.join(HERE, name + ".zrec")
    rec = subprocess.Popen([ZTRACE, "record", path, "--port", str(PORT), "--force"],
                           stderr=subprocess.PIPE, text=True)
    head = ""
    while "recording to" not in head:  # printed once the programs are attached
        line = rec.stderr.readline()
        if not line:
            raise RuntimeError(head)
        head += line
    action()
    time.sleep(1)
    rec.send_signal(2)
    err = rec.communicate(timeout=30)[1]
    print(f"{name}: {err.strip()}", file=sys.stderr)
    if rec.returncode != 0:
        raise RuntimeError(f"record failed: {err}")
    out = subprocess.run([ZTRACE, "replay", path, "--no-store", "--json", "--quiet"],
                         check=True, capture_output=True, text=True).stdout
    with open(os.path.join(HERE, name + ".expected.jsonl"), "w") as f:
        f.write(out)
    with open(path, "rb") as f:
        assert PASSWORD.encode() not in f.read(), "password in the recording"


def auth(v, password=PASSWORD):
    return ["-h", "127.0.0.1", "-p", str(PORT), "-V", v, "-u", USER, "-P", password]


def pub_sub(v):
    """A subscriber (QoS 1, topic filter zt/#) gets 3 messages: QoS 0, QoS 1
    and QoS 2 publishes by three mosquitto_pub runs."""
    def run():
        sub = subprocess.Popen(["mosquitto_sub", *auth(v), "-i", f"zt-sub-{v}", "-q", "1", "-t", "zt/#",
                                "-C", "3", "-W", "10"], stdout=subprocess.PIPE, text=True)
        time.sleep(0.7)
        for q in (0, 1, 2):
            subprocess.run(["mosquitto_pub", *auth(v), "-i", f"zt-pub-{v}-{q}", "-q", str(q),
                            "-t", f"zt/q{q}", "-m", f"hello qos {q}"], check=True)
        out = sub.communicate(timeout=15)[0]
        assert out.split() == ["hello", "qos", "0", "hello", "qos", "1", "hello", "qos", "2"], out
    return run


def bad_password():
    for v in ("mqttv311", "mqttv5"):
        r = subprocess.run(["mosquitto_pub", *auth(v, "wrong-password"), "-i", f"zt-bad-{v}", "-t", "zt/x",
                            "-m", "x"], capture_output=True, text=True)
        assert r.returncode != 0, r


def main():
    tmp = tempfile.mkdtemp(prefix="zt-mqtt-")
    pw = os.path.join(tmp, "passwd")
    subprocess.run(["mosquitto_passwd", "-c", "-b", pw, USER, PASSWORD], check=True)
    os.chmod(pw, 0o644)
    conf = os.path.join(tmp, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"listener {PORT} 127.0.0.1\nallow_anonymous false\npassword_file {pw}\n"
                f"persistence false\nlog_dest stderr\nuser root\n")
    broker = subprocess.Popen(["mosquitto", "-c", conf], stderr=subprocess.DEVNULL)
    try:
        wait_port("127.0.0.1", PORT)
        record("v311_pub_sub", pub_sub("mqttv311"))
        record("v5_pub_sub", pub_sub("mqttv5"))
        record("bad_password", bad_password)
    finally:
        broker.terminate()
        broker.wait()
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
