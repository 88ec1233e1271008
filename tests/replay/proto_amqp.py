"""Golden replay of the AMQP fixture (tests/data/proto/amqp/, recorded from a
private rabbitmq-server and python3-pika, client.py there): the spans equal
the golden file, and facts written from what client.py did hold, on the
client (python3) and the broker (beam.smp) side."""
import os
import sys
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden  # noqa: E402
from golden import check, finish  # noqa: E402

D = os.path.join(golden.PROTO_DATA, "amqp")
name = "pika_session"
spans = golden.check_fixture(os.path.join(D, name))
check(f"{name}: every span is AMQP 0-9-1", all(s["l7_protocol"] == "AMQP" and s["version"] == "0-9-1"
                                               for s in spans), "")
for proc in ("python3", "beam.smp"):
    mine = [s for s in spans if s["process"] == proc]
    t = Counter((s["request_type"], s["request_resource"]) for s in mine)
    check(f"{name} [{proc}]: handshake Start, Tune, Open /",
          t[("Connection.Start", None)] == 1 and t[("Connection.Tune", None)] == 1
          and [s["request_domain"] for s in mine if s["request_type"] == "Connection.Open"] == ["/"], str(t))
    check(f"{name} [{proc}]: Start-Ok user, no password",
          [s["attributes"] for s in mine if s["request_type"] == "Connection.Start"]
          == [{"amqp.mechanism": "PLAIN", "amqp.user": "ztuser"}], "")
    check(f"{name} [{proc}]: 3 channels opened, queue declared", t[("Channel.Open", None)] == 3
          and t[("Queue.Declare", "zt-q")] == 1, str(t))
    check(f"{name} [{proc}]: 3 one-way publishes to /zt-q, one to zt-missing/nowhere",
          t[("Basic.Publish", "/zt-q")] == 3 and t[("Basic.Publish", "zt-missing/nowhere")] == 1
          and all(s["flags"] == ["one_way"] for s in mine if s["request_type"] == "Basic.Publish"), str(t))
    gets = [s for s in mine if s["request_type"] == "Basic.Get"]
    check(f"{name} [{proc}]: 3 gets answered (2 with a message, 1 empty)",
          len(gets) == 3 and all(s["response_status"] == "ok" for s in gets)
          and sorted(s["resp_bytes"] for s in gets)[0] < sorted(s["resp_bytes"] for s in gets)[1], str(gets))
    check(f"{name} [{proc}]: one delivery of the consumer", t[("Basic.Deliver", "/zt-q")] == 1, str(t))
    err = sorted((s["request_type"], s["request_resource"], s["response_code"], s["response_exception"])
                 for s in mine if s["response_status"] == "client_error")
    check(f"{name} [{proc}]: the two 404s", err == [
        ("Channel.Close", "Basic.Publish", 404, "NOT_FOUND - no exchange 'zt-missing' in vhost '/'"),
        ("Queue.Declare", "zt-no-such-queue", 404, "NOT_FOUND - no queue 'zt-no-such-queue' in vhost '/'")],
        str(err))
    check(f"{name} [{proc}]: nothing unanswered",
          not [s for s in mine if "no_response" in (s["flags"] or [])], "")
with open(os.path.join(D, name + ".zrec"), "rb") as f:
    check(f"{name}: no password in the recording", b"zt-amqp-s3cret" not in f.read(), "")
finish()
