"""End to end: the real BPF programs trace Debian's memcached driven by
pymemcache (text protocol), raw meta commands and a hand-written binary
client (tests/data/proto/memcached/mcbin.py) on loopback; everything is
asserted through `ztrace spans --json`, on the client and the server side.

Port 16340. Other tests may run at the same time: every count is filtered
by our port."""
import collections
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "data", "proto", "memcached"))
from lib import Ztrace, check, finish, set_prefix, spans, wait_port  # noqa: E402
import mcbin  # noqa: E402
from pymemcache.client.base import Client  # noqa: E402

PORT = 16340
N = 300  # pymemcache set+get pairs: every one a span on each side
SECRET = "sasl-" + secrets.token_hex(8)
T0 = time.monotonic()
# ZT_CAPTURE_PATH=fast|compat picks the kernel capture path (as tests/e2e/http.sh)
CAPTURE_PATH = os.environ.get("ZT_CAPTURE_PATH", "")
PATH_ARGS = ["--capture-path", CAPTURE_PATH] if CAPTURE_PATH else []
if CAPTURE_PATH:
    set_prefix(f"[{CAPTURE_PATH}] ")
tmp = tempfile.mkdtemp(prefix="zt-mc-e2e-")
srv = zt = None

try:
    srv = subprocess.Popen(["memcached", "-p", str(PORT), "-U", "0", "-l", "127.0.0.1", "-u", "root"])
    wait_port("127.0.0.1", PORT)
    data = os.path.join(tmp, "data")
    zt = Ztrace(data, *PATH_ARGS)

    c = Client(("127.0.0.1", PORT), default_noreply=False)
    for i in range(N):
        c.set(f"e2e:{i}", f"value-{i}")
        c.get(f"e2e:{i}")
    c.get_many(["e2e:1", "e2e:2", "e2e:nokey"])
    c.set("e2e:noreply", "x", noreply=True)
    c.set("e2e:big", "b" * 100000)
    got = c.get("e2e:big")
    c.delete("e2e:missing")
    c.close()
    s = socket.create_connection(("127.0.0.1", PORT))
    for req in (b"version\r\n", b"incr e2e:big 1\r\n", b"no_such_command\r\n", b"mg e2e:1 v\r\n",
                b"mg e2e:nokey v q\r\nmn\r\n"):
        s.sendall(req)
        buf = b""
        while not buf.endswith(b"\r\n"):
            buf += s.recv(65536)
    s.close()
    b = mcbin.Client("127.0.0.1", PORT)
    b.call("SET", b"bin:1", mcbin.set_extras(), b"v1", opaque=101)
    b.call("GET", b"bin:1", opaque=102)
    b.call("GET", b"bin:none", opaque=103)
    b.send(mcbin.packet("GETQ", b"bin:none", opaque=104), mcbin.packet("NOOP", opaque=105))
    b.reply()
    # SASL PLAIN with a fresh secret: memcached (no -S) refuses it; the
    # secret must still be in no file of the store
    b.send(bytes([0x80, 0x21, 0, 5, 0, 0, 0, 0]) + (5 + 6 + len(SECRET)).to_bytes(4, "big")
           + (106).to_bytes(4, "big") + bytes(8) + b"PLAIN" + b"\0user\0" + SECRET.encode())
    b.reply()
    b.close()

    rc = zt.stop()
    log = zt.text()
    check("ztrace up exits 0 on SIGINT", rc == 0, log[-1500:])
    m = re.search(r"stopped: .*", log)
    print("# " + (m.group(0) if m else "no final line"), flush=True)
    check("pymemcache read the 100 KB value", got == b"b" * 100000, f"{len(got or b'')}")

    ss = [x for x in spans(data, "--protocol", "Memcached") if x["server_port"] == PORT]
    for side in ("client-process", "server-process"):
        mine = [x for x in ss if x["tap_side"] == side]
        k = collections.Counter((x["request_type"], x["response_status"]) for x in mine
                                if (x["request_resource"] or "").startswith("e2e:")
                                and x["request_resource"][4:].isdigit())
        check(f"{side}: {N} set and {N} get spans, all ok (get: +1, get_many's first key)",
              k[("set", "ok")] == N and k[("get", "ok")] == N + 1, f"{k}")

        def one(t, r, side=side):
            return [x for x in ss if x["tap_side"] == side and x["request_type"] == t and x["request_resource"] == r]
        o = one("set", "e2e:noreply")
        check(f"{side}: noreply set is a one-way span",
              len(o) == 1 and "one_way" in (o[0]["flags"] or []) and o[0]["resp_bytes"] == 0, f"{o}")
        g = one("get", "e2e:big")
        check(f"{side}: 100 KB get framed by its length",
              len(g) == 1 and g[0]["resp_bytes"] == len("VALUE e2e:big 0 100000\r\n") + 100002 + 5, f"{g}")
        e = one("incr", "e2e:big")
        check(f"{side}: incr of a non-number is CLIENT_ERROR",
              len(e) == 1 and e[0]["response_status"] == "client_error"
              and e[0]["response_exception"].startswith("CLIENT_ERROR"), f"{e}")
        u = one("no_such_command", None)
        check(f"{side}: unknown command is ERROR", len(u) == 1 and u[0]["response_exception"] == "ERROR", f"{u}")
        q = one("mg", "e2e:nokey")
        check(f"{side}: quiet meta get is one-way, mn is answered",
              len(q) == 1 and "one_way" in (q[0]["flags"] or []) and len(one("mn", None)) == 1, f"{q}")
        n = one("GET", "bin:none")
        check(f"{side}: binary GET miss: status 1 Not found",
              len(n) == 1 and n[0]["response_code"] == 1 and n[0]["response_exception"] == "Not found", f"{n}")
        h = one("GET", "bin:1")
        check(f"{side}: binary GET hit pairs by opaque", len(h) == 1 and h[0]["response_status"] == "ok", f"{h}")
        gq = one("GETQ", "bin:none")
        check(f"{side}: binary GETQ is one-way, NOOP answered",
              len(gq) == 1 and "one_way" in (gq[0]["flags"] or []) and len(one("NOOP", None)) == 1, f"{gq}")
        sa = one("SASL_AUTH", "PLAIN")
        check(f"{side}: SASL_AUTH span keeps the mechanism only", len(sa) == 1, f"{sa}")
    leaks = []
    for f in os.listdir(data):
        with open(os.path.join(data, f), "rb") as fh:
            if SECRET.encode() in fh.read():
                leaks.append(f)
    check("SASL credentials never stored", not leaks, f"found in {leaks}")
    print(f"# run: {time.monotonic() - T0:.1f} s", flush=True)
finally:
    if zt:
        zt.stop()
    if srv:
        srv.terminate()
        try:
            srv.wait(10)
        except subprocess.TimeoutExpired:
            srv.kill()
    shutil.rmtree(tmp, ignore_errors=True)
finish()
