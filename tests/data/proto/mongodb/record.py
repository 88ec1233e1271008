"""Re-records the mongodb fixtures in this folder with the real BPF programs
(`ztrace record --port`, as root; run with Debian's python3):

    sudo /usr/bin/python3 tests/data/proto/mongodb/record.py

The SERVER SIDE IS A STUB (tests/e2e/mongo_stub.py): no
MongoDB server is packaged in Debian. The client is real. See README.md."""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(HERE))))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from lib import ZTRACE  # noqa: E402
import mongo_stub  # noqa: E402

PORT = 16812


def client():
    import pymongo
    from pymongo.write_concern import WriteConcern
    c = pymongo.MongoClient("127.0.0.1", PORT, serverSelectionTimeoutMS=3000, heartbeatFrequencyMS=60000)
    db = c.app
    db.command("ping")
    list(db.users.find({"x": 1}))
    db.users.insert_one({"x": 2})
    db.get_collection("logs", write_concern=WriteConcern(w=0)).insert_one({"y": 1})
    try:
        db.command("nosuchcmd")
    except pymongo.errors.OperationFailure:
        pass
    db.command("createUser", "alice", pwd="fixture-secret-pw", roles=[])
    c.close()


def main():
    s = mongo_stub.Server(PORT).start()
    path = os.path.join(HERE, "pymongo_commands.zrec")
    rec = subprocess.Popen([ZTRACE, "record", path, "--port", str(PORT), "--force"], stderr=subprocess.PIPE, text=True)
    line = ""
    while "recording to" not in line:  # printed once the programs are attached
        line = rec.stderr.readline()
        if not line:
            raise RuntimeError("record did not start: " + rec.stderr.read())
    client()
    time.sleep(1)
    rec.send_signal(2)
    print(rec.communicate(timeout=30)[1], file=sys.stderr)
    s.stop()
    out = subprocess.run([ZTRACE, "replay", path, "--no-store", "--json", "--quiet"], check=True,
                         capture_output=True, text=True).stdout
    with open(os.path.join(HERE, "pymongo_commands.expected.jsonl"), "w") as f:
        f.write(out)


if __name__ == "__main__":
    main()
