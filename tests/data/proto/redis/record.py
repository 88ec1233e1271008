"""Re-records the Redis fixtures in this folder with the real BPF programs
(`ztrace record --port`, as root), from Debian's redis-server 7.0 and its
real clients (redis-cli, redis-benchmark) plus a few raw-socket RESP
exchanges where redis-cli cannot do it (pub/sub in a script, MONITOR,
client-tracking pushes). Run with Debian's python3:

    sudo /usr/bin/python3 tests/data/proto/redis/record.py [NAME...]

Writes NAME.zrec and NAME.expected.jsonl (`ztrace replay --no-store
--json`, to be reviewed by hand). What each fixture's clients do is in
README.md and below; tests/replay/proto_redis.py asserts those facts.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from lib import ZTRACE, wait_port  # noqa: E402

PORT = int(os.environ.get("ZT_REDIS_PORT", "16310"))
PASSWORD = "fixture-s3cret-pw"  # must not appear in the .zrec or the spans


def record(name, action):
    path = os.path.join(HERE, name + ".zrec")
    rec = subprocess.Popen([ZTRACE, "record", path, "--port", str(PORT), "--force"],
                           stderr=subprocess.PIPE, text=True)
    while True:
        line = rec.stderr.readline()
        if "recording to" in line:
            break
        if not line:
            raise RuntimeError("record did not start: " + rec.stderr.read())
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


def cli(*args, stdin=None):
    return subprocess.run(["redis-cli", "-p", str(PORT), *args], input=stdin, capture_output=True,
                          check=True).stdout


def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Raw:
    """A raw RESP connection: send() writes one command per syscall;
    expect() reads until the bytes read end with `tail`."""

    def __init__(self):
        self.s = socket.create_connection(("127.0.0.1", PORT))
        self.s.settimeout(5)

    def send(self, *args):
        self.s.sendall(resp(*args))

    def expect(self, tail):
        buf = b""
        while not buf.endswith(tail):
            buf += self.s.recv(65536)
        return buf

    def close(self):
        self.s.close()


def redis_cli():
    # one connection: redis-cli reads the commands from stdin
    cli(stdin=b"SET user:1 alice\nGET user:1\nGET nokey\nLPUSH list:1 a b c\nGET list:1\n"
              b"LRANGE list:1 0 -1\nINCR counter\nHSET h:1 f v\nHGETALL h:1\nCONFIG GET maxmemory\n"
              b"CLIENT SETNAME fixture\nDEL user:1\nBOGUSCMD x\nEXPIRE list:1 100\nTTL list:1\n")
    cli("-x", "SET", "big", stdin=b"x" * 100000)  # 100 KB value (+ the newline)
    cli("GET", "big")


def redis_benchmark():
    # 5 clients x 40 requests, 8 per write: 200 SET and 200 GET, no overshoot
    subprocess.run(["redis-benchmark", "-p", str(PORT), "-n", "200", "-c", "5", "-P", "8", "-t", "set,get",
                    "-q"], check=True, capture_output=True)


def redis_resp3_pubsub():
    cli("-3", "HGETALL", "h:1")         # HELLO 3 then a map reply
    cli("-3", "SMEMBERS", "nokey")      # a set reply
    # RESP2 pub/sub: two confirmations for one SUBSCRIBE, messages, PING
    sub = Raw()
    sub.send("SUBSCRIBE", "news", "sport")
    sub.expect(b":2\r\n")
    cli("PUBLISH", "news", "hello")
    cli("PUBLISH", "sport", "goal")
    sub.expect(b"goal\r\n")
    sub.send("PING")
    sub.expect(b"pong\r\n$0\r\n\r\n")
    sub.send("UNSUBSCRIBE")
    sub.expect(b":0\r\n")
    sub.send("GET", "user:1")
    sub.expect(b"\r\n")
    sub.close()
    # RESP3 client tracking: the invalidation is a push, not GET's reply
    tr = Raw()
    tr.send("HELLO", "3")
    tr.expect(b"modules\r\n*0\r\n")
    tr.send("CLIENT", "TRACKING", "on")
    tr.expect(b"+OK\r\n")
    tr.send("GET", "tracked")
    tr.expect(b"\r\n")
    cli("SET", "tracked", "1")               # >2 invalidate [tracked], unread yet
    time.sleep(0.2)
    tr.send("GET", "tracked")                # so the push is read after this request
    tr.expect(b"$1\r\n1\r\n")
    tr.close()
    # MONITOR: its stream answers nothing; QUIT's +OK does
    mon = Raw()
    mon.send("MONITOR")
    mon.expect(b"+OK\r\n")
    cli("SET", "watched", "1")
    mon.expect(b'"1"\r\n')
    mon.send("QUIT")
    mon.expect(b"+OK\r\n")
    mon.close()


def redis_auth():
    cli("CONFIG", "SET", "requirepass", PASSWORD)
    try:
        cli("-a", PASSWORD, "--no-auth-warning", "PING")                       # AUTH pw
        subprocess.run(["redis-cli", "-p", str(PORT), "-a", "wrong-" + PASSWORD, "--no-auth-warning",
                        "PING"], capture_output=True)                           # WRONGPASS
        cli("-3", "-a", PASSWORD, "--no-auth-warning", "PING")                 # AUTH pw, HELLO 3
        cli("--user", "default", "--pass", PASSWORD, "--no-auth-warning", "GET", "user:1")  # AUTH user pw
        subprocess.run(["redis-cli", "-p", str(PORT), "GET", "user:1"], capture_output=True)  # NOAUTH
        h = Raw()
        h.send("HELLO", "3", "AUTH", "default", PASSWORD, "SETNAME", "raw")       # HELLO 3 AUTH u pw
        h.expect(b"modules\r\n*0\r\n")
        h.close()
    finally:
        cli("-a", PASSWORD, "--no-auth-warning", "CONFIG", "SET", "requirepass", "")


def main():
    tmp = tempfile.mkdtemp(prefix="zt-redis-fixtures-")
    srv = subprocess.Popen(["redis-server", "--port", str(PORT), "--bind", "127.0.0.1", "--save", "",
                            "--appendonly", "no", "--dir", tmp], stdout=subprocess.DEVNULL)
    try:
        wait_port("127.0.0.1", PORT)
        which = sys.argv[1:] or ["redis_cli", "redis_benchmark", "redis_resp3_pubsub", "redis_auth"]
        for name in which:
            record(name, globals()[name])
        if "redis_auth" in which:
            with open(os.path.join(HERE, "redis_auth.zrec"), "rb") as f:
                if PASSWORD.encode() in f.read():
                    raise RuntimeError("the password is in redis_auth.zrec")
    finally:
        srv.terminate()
        srv.wait()
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
