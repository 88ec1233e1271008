"""Re-records the AMQP fixtures in this folder from real programs with the
real BPF programs (`ztrace record --port 16720`, as root):

    sudo /usr/bin/python3 tests/data/proto/amqp/record.py

Broker: Debian's rabbitmq-server started privately (tests/e2e/rabbitmq.py:
own mnesia/log/HOME, AMQP port 16720, dist 16721, epmd 16722), default user
ztuser with password zt-amqp-s3cret (PLAIN: the password must not be in the
recording). Client: client.py in this folder (python3-pika). See README.md.
"""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(HERE))))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from lib import ZTRACE  # noqa: E402
from rabbitmq import PASSWORD, USER, RabbitMQ  # noqa: E402

PORT = 16720


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


def client():
    out = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "client.py"), str(PORT), USER, PASSWORD],
                         check=True, capture_output=True, text=True, timeout=60).stdout
    print(out, file=sys.stderr)


def main():
    rmq = RabbitMQ(PORT, PORT + 1, PORT + 2, name="ztamqprec")
    try:
        print(f"rabbitmq up after {rmq.wait():.1f}s", file=sys.stderr)
        record("pika_session", client)
    finally:
        rmq.stop()


if __name__ == "__main__":
    main()
