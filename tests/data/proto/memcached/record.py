"""Re-records the Memcached fixtures in this folder with the real BPF
programs (`ztrace record --port`, as root), from Debian's memcached 1.6 and
the real clients. Run with Debian's python3:

    sudo /usr/bin/python3 tests/data/proto/memcached/record.py

Writes NAME.zrec and NAME.expected.jsonl (`ztrace replay --no-store --json`,
to be reviewed by hand). What each fixture's client does is in README.md and
in the functions below; tests/replay/proto_memcached.py asserts those facts.
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
sys.path.insert(0, HERE)
from lib import ZTRACE, wait_port  # noqa: E402
import mcbin  # noqa: E402
from pymemcache.client.base import Client  # noqa: E402

PORT = int(os.environ.get("ZT_MC_PORT", "16320"))


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


def raw(lines):
    """Sends raw text commands one write each, reads each reply."""
    s = socket.create_connection(("127.0.0.1", PORT))
    s.settimeout(2)
    for req, ends in lines:
        s.sendall(req)
        buf = b""
        while ends is not None and not buf.endswith(ends):
            buf += s.recv(65536)
    s.close()


def pymemcache_text():
    c = Client(("127.0.0.1", PORT), default_noreply=False)
    c.set("user:1", "alice")                      # set -> STORED
    c.get("user:1")                               # get hit
    c.get("nokey")                                # get miss (END)
    c.get_many(["user:1", "nokey", "user:2"])     # get k1 k2 k3
    c.add("user:1", "x")                          # NOT_STORED
    c.replace("user:1", "bob")                    # STORED
    c.append("user:1", "!")                       # STORED
    c.prepend("user:1", "<")                      # STORED
    _, cas = c.gets("user:1")                     # gets
    c.cas("user:1", "carol", cas)                 # STORED
    c.set("n", "10")
    c.incr("n", 5)                                # 15
    c.decr("n", 3)                                # 12
    c.touch("n", 100)                             # TOUCHED
    c.delete("user:1")                            # DELETED
    c.delete("user:1")                            # NOT_FOUND
    c.set("fire", "forget", noreply=True)         # noreply: one-way
    c.set("big", "x" * 100000)                    # 100 KB value through the capture gap
    c.get("big")                                  # 100 KB reply
    c.version()
    c.stats()
    c.close()
    # errors and meta commands, raw, one connection
    raw([(b"ms meta:1 2 T0\r\nhi\r\n", b"\r\n"),                           # HD
         (b"bogus_command\r\n", b"\r\n"),                                  # ERROR
         (b"incr big 1\r\n", b"\r\n"),                                     # CLIENT_ERROR
         (b"mg meta:1 v\r\n", b"\r\n"),                                    # VA 2 / hi
         (b"mg nokey v q\r\nmg meta:1 v q k\r\nmn\r\n", b"MN\r\n"),        # quiet miss, quiet hit, MN
         (b"md meta:1\r\n", b"\r\n"),                                      # HD
         (b"ma nokey\r\n", b"\r\n"),                                       # NF
         (b"flush_all\r\n", b"\r\n"),                                      # OK
         (b"quit\r\n", None)])                                             # quit: one-way


def binary_client():
    c = mcbin.Client("127.0.0.1", PORT)
    c.call("GET", b"bkey", opaque=1)                                       # miss: status 1
    c.call("SET", b"bkey", mcbin.set_extras(), b"value", opaque=2)
    c.call("GET", b"bkey", opaque=3)                                       # hit
    c.call("INCREMENT", b"bcount", mcbin.incr_extras(1, 5), opaque=4)
    c.call("APPEND", b"nokey", value=b"x", opaque=5)                       # not stored: status 5
    # quiet gets: a miss (no reply), a hit (a reply), then NOOP; one write
    c.send(mcbin.packet("GETQ", b"nokey", opaque=6), mcbin.packet("GETKQ", b"bkey", opaque=7),
           mcbin.packet("SETQ", b"q", mcbin.set_extras(), b"v", opaque=8), mcbin.packet("NOOP", opaque=9))
    while c.reply()[0] != 0x0a:
        pass
    c.call("DELETE", b"bkey", opaque=10)
    c.call("VERSION", opaque=11)
    c.send(mcbin.packet("STAT", opaque=12))                                # many replies, empty key ends
    while c.reply()[3]:
        pass
    c.call("SET", b"bigb", mcbin.set_extras(), b"y" * 100000, opaque=13)
    c.call("GET", b"bigb", opaque=14)                                      # 100 KB reply
    c.close()


def main():
    tmp = tempfile.mkdtemp(prefix="zt-mc-fixtures-")
    srv = subprocess.Popen(["memcached", "-p", str(PORT), "-U", "0", "-l", "127.0.0.1", "-u", "root"])
    try:
        wait_port("127.0.0.1", PORT)
        which = sys.argv[1:] or ["pymemcache_text", "binary_client"]
        for name in which:
            record(name, globals()[name])
    finally:
        srv.terminate()
        srv.wait()
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
