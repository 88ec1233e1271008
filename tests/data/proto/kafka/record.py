"""Re-records the kafka fixtures in this folder with the real BPF programs
(`ztrace record --port`, as root; run with Debian's python3):

    sudo /usr/bin/python3 tests/data/proto/kafka/record.py

The SERVER SIDE IS A STUB (tests/e2e/kafka_stub.py): no
Kafka broker is packaged in Debian. The client is real. See README.md."""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(HERE))))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from lib import ZTRACE  # noqa: E402
import kafka_stub  # noqa: E402

PORT = 16811


def kcat(topic, *x, data=b"hello\nworld\n"):
    args = ["kcat", "-b", f"127.0.0.1:{PORT}", "-P", "-t", topic, "-X", "api.version.request=true"]
    for o in x:
        args += ["-X", o]
    subprocess.run(args, input=data, capture_output=True, timeout=20)


def main():
    b = kafka_stub.Broker(PORT).start()
    path = os.path.join(HERE, "kcat_produce.zrec")
    rec = subprocess.Popen([ZTRACE, "record", path, "--port", str(PORT), "--force"], stderr=subprocess.PIPE, text=True)
    line = ""
    while "recording to" not in line:  # printed once the programs are attached
        line = rec.stderr.readline()
        if not line:
            raise RuntimeError("record did not start: " + rec.stderr.read())
    kcat("orders", "security.protocol=SASL_PLAINTEXT", "sasl.mechanisms=PLAIN", "sasl.username=alice",
         "sasl.password=fixture-secret-pw", data=b"authed\n")
    kcat("orders", "acks=1")
    kcat("orders", "acks=0", data=b"fire\n")
    from kafka import KafkaConsumer, TopicPartition
    kc = KafkaConsumer(bootstrap_servers=f"127.0.0.1:{PORT}", api_version=(0, 11), group_id=None,
                       client_id="kpyc", enable_auto_commit=False, consumer_timeout_ms=500,
                       request_timeout_ms=3000, fetch_max_wait_ms=100)
    kc.assign([TopicPartition("orders", 0)])
    kc.seek(TopicPartition("orders", 0), 0)
    list(kc)
    kc.close()
    kafka_stub.raw_produce(PORT, "nosuch", corr=77)
    time.sleep(1)
    rec.send_signal(2)
    print(rec.communicate(timeout=30)[1], file=sys.stderr)
    b.stop()
    out = subprocess.run([ZTRACE, "replay", path, "--no-store", "--json", "--quiet"], check=True,
                         capture_output=True, text=True).stdout
    with open(os.path.join(HERE, "kcat_produce.expected.jsonl"), "w") as f:
        f.write(out)


if __name__ == "__main__":
    main()
