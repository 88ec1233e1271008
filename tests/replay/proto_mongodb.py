"""Golden replay of the MongoDB fixtures (tests/data/proto/mongodb/, server
side a stub): the spans equal the golden file, and facts written from what
pymongo did (two isMaster handshakes, ping, find, insert, a w:0 insert, an
unknown command, createUser with a password that must not be in the file)."""
import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden  # noqa: E402
from golden import check, finish  # noqa: E402

base = os.path.join(golden.PROTO_DATA, "mongodb", "pymongo_commands")
ss = golden.check_fixture(base)
for side in ("client-process", "server-process"):
    x = [s for s in ss if s["tap_side"] == side]
    n = collections.Counter(s["request_type"] for s in x)
    check(f"{side}: the commands pymongo sent", n == {"ismaster": 2, "ping": 1, "find": 1, "insert": 2,
                                                      "nosuchcmd": 1, "createUser": 1}, f"{n}")
    check(f"{side}: endpoints name command and collection", {s["endpoint"] for s in x} >= {"find users", "insert users",
                                                                                          "insert logs", "ping"}, "")
    f = [s for s in x if s["request_type"] == "find"]
    check(f"{side}: find users in app", f and f[0]["request_resource"] == "users"
          and f[0]["request_domain"] == "app" and f[0]["response_status"] == "ok", f"{f}")
    ow = [s for s in x if "one_way" in (s["flags"] or [])]
    check(f"{side}: the w:0 insert is one-way", len(ow) == 1 and ow[0]["request_resource"] == "logs", f"{ow}")
    e = [s for s in x if s["response_status"] != "ok" and not s["flags"]]
    check(f"{side}: one error: 59 on nosuchcmd", len(e) == 1 and e[0]["response_code"] == 59
          and e[0]["request_type"] == "nosuchcmd", f"{e}")
with open(base + ".zrec", "rb") as fh:
    rb = fh.read()
check("the recording holds createUser but not its password", b"createUser" in rb and b"fixture-secret-pw" not in rb, "")
finish()
