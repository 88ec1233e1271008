"""Golden replays of tests/data/proto/memcached: each fixture replays to its
golden spans (golden.check_fixture), and the spans say what the clients in
tests/data/proto/memcached/record.py did, checked here independently of the
golden files."""
import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden  # noqa: E402
from golden import check, finish  # noqa: E402

D = os.path.join(golden.PROTO_DATA, "memcached")


def both(name, spans, want):
    for side in ("client-process", "server-process"):
        c = collections.Counter((s["request_type"], s["request_resource"], s["response_status"],
                                 s["response_code"], s["response_exception"], "one_way" in (s["flags"] or []))
                                for s in spans if s["tap_side"] == side)
        check(f"{name}: {side} spans are what the client did", c == want,
              f"missing {want - c}, extra {c - want}")


spans = golden.check_fixture(os.path.join(D, "pymemcache_text"))
OK = "ok"
want = collections.Counter({
    ("set", "user:1", OK, None, None, False): 1, ("get", "user:1", OK, None, None, False): 2,
    ("get", "nokey", OK, None, None, False): 1, ("add", "user:1", OK, None, None, False): 1,
    ("replace", "user:1", OK, None, None, False): 1, ("append", "user:1", OK, None, None, False): 1,
    ("prepend", "user:1", OK, None, None, False): 1, ("gets", "user:1", OK, None, None, False): 1,
    ("cas", "user:1", OK, None, None, False): 1, ("set", "n", OK, None, None, False): 1,
    ("incr", "n", OK, None, None, False): 1, ("decr", "n", OK, None, None, False): 1,
    ("touch", "n", OK, None, None, False): 1, ("delete", "user:1", OK, None, None, False): 2,
    ("set", "fire", "unknown", None, None, True): 1,          # noreply: one-way
    ("set", "big", OK, None, None, False): 1, ("get", "big", OK, None, None, False): 1,
    ("version", None, OK, None, None, False): 1, ("stats", None, OK, None, None, False): 1,
    ("ms", "meta:1", OK, None, None, False): 1,
    ("bogus_command", None, "client_error", None, "ERROR", False): 1,
    ("incr", "big", "client_error", None,
     "CLIENT_ERROR cannot increment or decrement non-numeric value", False): 1,
    ("mg", "meta:1", OK, None, None, False): 1,
    ("mg", "nokey", "unknown", None, None, True): 1,          # quiet: one-way
    ("mg", "meta:1", "unknown", None, None, True): 1,         # quiet, answered (a hit): still one-way
    ("mn", None, OK, None, None, False): 1, ("md", "meta:1", OK, None, None, False): 1,
    ("ma", "nokey", OK, None, None, False): 1, ("flush_all", None, OK, None, None, False): 1,
    ("quit", None, "unknown", None, None, True): 1,
})
both("pymemcache_text", spans, want)
big = sorted((s["request_type"], s["req_bytes"], s["resp_bytes"]) for s in spans
             if s["request_resource"] == "big" and s["tap_side"] == "client-process" and s["response_status"] == OK)
check("pymemcache_text: 100 KB set and get framed by their lengths",
      big == [("get", 9, len("VALUE big 0 100000\r\n") + 100000 + 2 + 5),
              ("set", len("set big 0 0 100000\r\n") + 100002, 8)], f"{big}")

spans = golden.check_fixture(os.path.join(D, "binary_client"))
want = collections.Counter({
    ("GET", "bkey", "client_error", 1, "Not found", False): 1, ("SET", "bkey", OK, None, None, False): 1,
    ("GET", "bkey", OK, None, None, False): 1, ("INCREMENT", "bcount", OK, None, None, False): 1,
    ("APPEND", "nokey", "client_error", 5, "Not stored.", False): 1,
    ("GETQ", "nokey", "unknown", None, None, True): 1, ("GETKQ", "bkey", "unknown", None, None, True): 1,
    ("SETQ", "q", "unknown", None, None, True): 1, ("NOOP", None, OK, None, None, False): 1,
    ("DELETE", "bkey", OK, None, None, False): 1, ("VERSION", None, OK, None, None, False): 1,
    # STAT's ~80 replies (2 KB) are read at once: the headers past the
    # 1 KiB capture cannot be framed, the series' end is not seen
    ("STAT", None, "unknown", None, None, False): 1,
    ("SET", "bigb", OK, None, None, False): 1, ("GET", "bigb", OK, None, None, False): 1,
})
both("binary_client", spans, want)
ops = {s["request_type"] for s in spans if s["tap_side"] == "client-process"}
check("binary_client: opaques pair each reply with its request (GET miss vs hit)",
      sorted(s["response_status"] for s in spans if s["request_type"] == "GET" and s["request_resource"] == "bkey")
      == ["client_error", "client_error", OK, OK], f"{ops}")
finish()
