"""Golden replays of tests/data/proto/redis: each fixture replays to its
golden spans (golden.check_fixture), and the spans say what the clients in
tests/data/proto/redis/record.py did, checked here independently of the
golden files."""
import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden  # noqa: E402
from golden import check, finish  # noqa: E402

D = os.path.join(golden.PROTO_DATA, "redis")


def sides(spans):
    """(request_type, resource, status, exception) per tap side."""
    out = collections.defaultdict(list)
    for s in spans:
        out[s["tap_side"]].append((s["request_type"], s["request_resource"], s["response_status"],
                                   s["response_exception"]))
    return out


def both(name, spans, want):
    """Each side has exactly the spans `want` (a Counter of tuples)."""
    got = sides(spans)
    for side in ("client-process", "server-process"):
        c = collections.Counter(got[side])
        check(f"{name}: {side} spans are what the client did", c == want,
              f"missing {want - c}, extra {c - want}")


spans = golden.check_fixture(os.path.join(D, "redis_cli"))
E_WT = "WRONGTYPE Operation against a key holding the wrong kind of value"
want = collections.Counter({
    ("SET", "user:1", "ok", None): 1, ("GET", "user:1", "ok", None): 1, ("GET", "nokey", "ok", None): 1,
    ("LPUSH", "list:1", "ok", None): 1, ("GET", "list:1", "client_error", E_WT): 1,
    ("LRANGE", "list:1", "ok", None): 1, ("INCR", "counter", "ok", None): 1, ("HSET", "h:1", "ok", None): 1,
    ("HGETALL", "h:1", "ok", None): 1, ("CONFIG GET", "maxmemory", "ok", None): 1,
    ("CLIENT SETNAME", "fixture", "ok", None): 1, ("DEL", "user:1", "ok", None): 1,
    ("BOGUSCMD", "x", "client_error",
     "ERR unknown command 'BOGUSCMD', with args beginning with: 'x' "): 1,
    ("EXPIRE", "list:1", "ok", None): 1, ("TTL", "list:1", "ok", None): 1,
    ("SET", "big", "ok", None): 1, ("GET", "big", "ok", None): 1,
    # redis-cli's COMMAND DOCS at start: a reply of ~200 KB whose nested
    # lines fall in capture gaps; framing is lost, the span is kept
    ("COMMAND DOCS", None, "unknown", None): 1,
})
both("redis_cli", spans, want)
big = [s for s in spans if s["request_resource"] == "big"]
check("redis_cli: the 100 KB value pairs by its length through the gaps",
      sorted((s["request_type"], s["req_bytes"] > 100000 or s["resp_bytes"] > 100000, s["flags"] or [])
             for s in big) == [("GET", True, []), ("GET", True, []), ("SET", True, []), ("SET", True, [])],
      f"{[(s['request_type'], s['req_bytes'], s['resp_bytes'], s['flags']) for s in big]}")

spans = golden.check_fixture(os.path.join(D, "redis_benchmark"))
c = collections.Counter((s["tap_side"], s["request_type"], s["response_status"]) for s in spans)
for side in ("client-process", "server-process"):
    check(f"redis_benchmark: {side}: 200 SET and 200 GET, all ok (-n 200 -c 5 -P 8)",
          c[(side, "SET", "ok")] == 200 and c[(side, "GET", "ok")] == 200, f"{c}")
check("redis_benchmark: nothing else but its 2 CONFIG GETs",
      sum(c.values()) == 2 * 402, f"{c}")

spans = golden.check_fixture(os.path.join(D, "redis_resp3_pubsub"))
want = collections.Counter({
    ("HELLO", None, "ok", None): 3, ("HGETALL", "h:1", "ok", None): 1, ("SMEMBERS", "nokey", "ok", None): 1,
    ("SUBSCRIBE", "news", "ok", None): 1, ("PUBLISH", "news", "ok", None): 1,
    ("PUBLISH", "sport", "ok", None): 1, ("PING", None, "ok", None): 1, ("UNSUBSCRIBE", None, "ok", None): 1,
    ("GET", "user:1", "ok", None): 1, ("CLIENT TRACKING", "on", "ok", None): 1,
    ("GET", "tracked", "ok", None): 2, ("SET", "tracked", "ok", None): 1, ("MONITOR", None, "ok", None): 1,
    ("SET", "watched", "ok", None): 1, ("QUIT", None, "ok", None): 1,
})
both("redis_resp3_pubsub", spans, want)
by = {(s["tap_side"], s["request_type"]): s for s in spans}
check("redis_resp3_pubsub: PING in subscribed mode gets the pong array, not a message",
      by[("client-process", "PING")]["resp_bytes"] == len(b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"),
      f"{by[('client-process', 'PING')]}")
got = sorted(s["resp_bytes"] for s in spans if s["request_type"] == "GET" and s["request_resource"] == "tracked"
             and s["tap_side"] == "client-process")
check("redis_resp3_pubsub: the invalidation push is no GET's reply", got == [3, 7], f"{got}")
check("redis_resp3_pubsub: RESP3 connections say version 3",
      all(s["version"] == "3" for s in spans if s["request_type"] in ("HGETALL", "CLIENT TRACKING")), "")

spans = golden.check_fixture(os.path.join(D, "redis_auth"))
pw = b"fixture-s3cret-pw"
with open(os.path.join(D, "redis_auth.zrec"), "rb") as f:
    check("redis_auth: the password is not in the recording", pw not in f.read(), "")
with open(os.path.join(D, "redis_auth.expected.jsonl"), "rb") as f:
    check("redis_auth: the password is not in the spans", pw not in f.read(), "")
E_WP = "WRONGPASS invalid username-password pair or user is disabled."
E_NA = "NOAUTH Authentication required."
want = collections.Counter({
    ("CONFIG SET", "requirepass", "ok", None): 2, ("AUTH", None, "ok", None): 4,
    ("AUTH", None, "client_error", E_WP): 1, ("PING", None, "ok", None): 2,
    ("PING", None, "client_error", E_NA): 1, ("HELLO", None, "ok", None): 2,
    ("GET", "user:1", "ok", None): 1, ("GET", "user:1", "client_error", E_NA): 1,
})
both("redis_auth", spans, want)
finish()
