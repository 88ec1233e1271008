"""End to end: the real BPF programs trace Debian's redis-server driven by
redis-cli and redis-benchmark on loopback; everything is asserted through
`ztrace spans --json` (both the client and the server side), the final
counters of `ztrace up`, and the bytes of the store's files.

Ports 16330 (redis). Other tests may run at the same time: every count is
filtered by our port, never global. Ground truth for redis-benchmark is the
server's own INFO commandstats (calls per command), reset before each run."""
import collections
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import Ztrace, check, finish, set_prefix, spans, wait_port  # noqa: E402

PORT = 16330
PASSWORD = "pw-" + secrets.token_hex(8)  # fresh: finding it can only mean this run stored it
T0 = time.monotonic()
# ZT_CAPTURE_PATH=fast|compat picks the kernel capture path (as tests/e2e/http.sh)
CAPTURE_PATH = os.environ.get("ZT_CAPTURE_PATH", "")
PATH_ARGS = ["--capture-path", CAPTURE_PATH] if CAPTURE_PATH else []
if CAPTURE_PATH:
    set_prefix(f"[{CAPTURE_PATH}] ")
tmp = tempfile.mkdtemp(prefix="zt-redis-e2e-")
srv = zt = None


def cli(*args, stdin=None, check_rc=True):
    r = subprocess.run(["redis-cli", "-p", str(PORT), *args], input=stdin, capture_output=True, timeout=30)
    if check_rc and r.returncode:
        raise RuntimeError(f"redis-cli {args}: {r.stderr}")
    return r.stdout


def calls():
    """INFO commandstats: calls per command (lowercase), as the server counted."""
    out = cli("INFO", "commandstats").decode()
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"cmdstat_([\w|]+):calls=(\d+)", out)}


def bench(*extra):
    cli("CONFIG", "RESETSTAT")
    t0 = time.time_ns()
    subprocess.run(["redis-benchmark", "-p", str(PORT), "-n", "2000", "-t", "set,get", "-q", *extra],
                   check=True, capture_output=True, timeout=60)
    t1 = time.time_ns()
    c = calls()
    return t0, t1, c.get("set", 0), c.get("get", 0)


try:
    srv = subprocess.Popen(["redis-server", "--port", str(PORT), "--bind", "127.0.0.1", "--save", "",
                            "--appendonly", "no", "--dir", tmp], stdout=subprocess.DEVNULL)
    wait_port("127.0.0.1", PORT)
    data = os.path.join(tmp, "data")
    zt = Ztrace(data, *PATH_ARGS)

    # 1. redis-cli on one connection, errors included
    cli(stdin=b"SET e2e:user alice\nGET e2e:user\nLPUSH e2e:list a\nGET e2e:list\nCONFIG GET maxmemory\n"
              b"NOSUCHCMD arg\n")
    cli("-n", "3", "SET", "e2e:db3", "x")  # SELECT 3 first: the domain of what follows
    cli("-x", "SET", "e2e:big", stdin=b"v" * 100000)
    big = cli("GET", "e2e:big")
    # 2. credentials: AUTH and HELLO AUTH with a fresh password
    cli("CONFIG", "SET", "requirepass", PASSWORD)
    cli("-a", PASSWORD, "--no-auth-warning", "PING")
    cli("-3", "-a", PASSWORD, "--no-auth-warning", "GET", "e2e:user")
    cli("-a", "wrong" + PASSWORD, "--no-auth-warning", "PING", check_rc=False)
    cli("-a", PASSWORD, "--no-auth-warning", "CONFIG", "SET", "requirepass", "")
    # 3. redis-benchmark, plain and pipelined
    runs = {"plain": bench(), "pipelined -P 8": bench("-P", "8")}
    # 40 requests per write (2000 / 50 clients): ~1.8 KB, past the 1 KiB
    # capture; the requests in the gap cannot be parsed, their replies are
    # counted as orphan responses
    beyond = bench("-P", "64")

    rc = zt.stop()
    log = zt.text()
    check("ztrace up exits 0 on SIGINT", rc == 0, log[-1500:])
    m = re.search(r"stopped: .*", log)
    print("# " + (m.group(0) if m else "no final line"), flush=True)
    cnt = collections.defaultdict(int, {k: int(v) for k, v in re.findall(r"(\w+) (\d+)", m.group(0).split(
        "drops:")[-1])} if m else {})

    ss = [s for s in spans(data, "--protocol", "Redis") if s["server_port"] == PORT]
    by = collections.defaultdict(list)
    for s in ss:
        by[(s["tap_side"], s["request_type"], s["request_resource"])].append(s)

    # 1 (end): commands, keys, errors, both sides
    for side in ("client-process", "server-process"):
        def one(t, r, side=side):
            return by.get((side, t, r), [])
        g = one("GET", "e2e:user")
        check(f"{side}: GET e2e:user ok", g and all(s["response_status"] == "ok" for s in g), f"{g}")
        w = one("GET", "e2e:list")
        check(f"{side}: GET of a list is WRONGTYPE, client_error, no code",
              len(w) == 1 and w[0]["response_status"] == "client_error" and w[0]["response_code"] is None
              and w[0]["response_exception"].startswith("WRONGTYPE Operation against a key"), f"{w}")
        u = one("NOSUCHCMD", "arg")
        check(f"{side}: unknown command is -ERR",
              len(u) == 1 and (u[0]["response_exception"] or "").startswith("ERR unknown command"), f"{u}")
        d = one("SET", "e2e:db3")
        check(f"{side}: after SELECT 3 the request's domain is 3",
              len(d) == 1 and d[0]["request_domain"] == "3", f"{d}")
        check(f"{side}: without a SELECT the domain is unknown (null)",
              all(s["request_domain"] is None for s in g), f"{g}")
        c = one("CONFIG GET", "maxmemory")
        check(f"{side}: CONFIG GET is a two-word command", len(c) == 1 and c[0]["response_status"] == "ok", f"{c}")
        b = one("GET", "e2e:big")
        check(f"{side}: GET of a 100 KB value pairs by length through the gaps",
              len(b) == 1 and b[0]["resp_bytes"] == len("$100000\r\n") + 100002 and b[0]["response_status"] == "ok"
              and "lost_sync" not in (b[0]["flags"] or []), f"{b}")
        a = [s for s in ss if s["tap_side"] == side and s["request_type"] == "AUTH"]
        check(f"{side}: AUTH spans without arguments, the wrong password is WRONGPASS",
              sorted(s["response_status"] for s in a) == ["client_error", "ok", "ok", "ok"]
              and all(s["request_resource"] is None for s in a), f"{a}")
    check("redis-cli read the whole 100 KB value", len(big) == 100001, f"{len(big)}")

    # 2 (end): the password is in no file of the store
    leaks = []
    for f in os.listdir(data):
        with open(os.path.join(data, f), "rb") as fh:
            if PASSWORD.encode() in fh.read():
                leaks.append(f)
    check("credentials never stored", not leaks, f"password found in {leaks}")

    # 3 (end): every benchmark request is a span on each side, or counted.
    # Plain and -P 8 requests fit the capture: fully traced (no record
    # lost, no span dropped), their spans equal the server's counts. The
    # -P 64 requests past the capture cost their spans, and their replies
    # count as orphans. Over all three runs, what is missing must be on the
    # counters (host-wide: other traffic only loosens the bound; a span made
    # and not stored, or never made, is on no counter and fails it).
    lost = {k: cnt[k] for k in ("ring_full", "map_full", "bad_events", "evicted", "queue_full") if cnt[k]}
    bound = sum(cnt[k] for k in ("unanswered", "orphan_resp", "ring_full", "map_full", "bad_events", "queue_full"))
    missing = 0
    for name, (t0, t1, n_set, n_get) in list(runs.items()) + [("pipelined -P 64 (past the capture)", beyond)]:
        check(f"redis-benchmark {name}: the server counted 2000 SET and 2000 GET",
              n_set >= 2000 and n_get >= 2000, f"set {n_set} get {n_get}")
        for side in ("client-process", "server-process"):
            # no resource filter: a request cut inside its key is a span too
            c = collections.Counter(s["request_type"] for s in ss
                                    if s["tap_side"] == side and t0 <= s["start_ns"] <= t1)
            ok = collections.Counter(s["request_type"] for s in ss
                                     if s["tap_side"] == side and t0 <= s["start_ns"] <= t1
                                     and s["request_resource"] == "key:__rand_int__" and s["response_status"] == "ok")
            missing += (n_set - c["SET"]) + (n_get - c["GET"])
            msg = f"{side}: SET {ok['SET']}/{n_set}, GET {ok['GET']}/{n_get} ok spans"
            print(f"# redis-benchmark {name}: {msg}", flush=True)
            if "64" in name:
                continue
            if lost:
                print(f"# not fully traced ({lost}): exact counts not checked", flush=True)
            else:
                check(f"redis-benchmark {name}: {side}: span counts equal the requests",
                      ok["SET"] == n_set and ok["GET"] == n_get, msg)
    print(f"# final counters: {dict(cnt)}", flush=True)
    check("redis-benchmark: every missing span is covered by the counters", 0 <= missing <= bound,
          f"missing {missing} > {bound} = unanswered + orphan_resp + ring_full + map_full + bad_events + queue_full")
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
