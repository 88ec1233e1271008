"""Golden replay of the Kafka fixtures (tests/data/proto/kafka/, broker side
a stub): the spans equal the golden file, and facts written from what the
clients did (kcat: a SASL PLAIN login then a produce, a produce with acks=1,
one with acks=0, each after ApiVersions and Metadata; python3-kafka's
consumer long-polling Fetch, closed during its last poll; one hand-written
Produce to "nosuch" answered with error 3)."""
import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden  # noqa: E402
from golden import check, finish  # noqa: E402

ss = golden.check_fixture(os.path.join(golden.PROTO_DATA, "kafka", "kcat_produce"))
for side in ("client-process", "server-process"):
    x = [s for s in ss if s["tap_side"] == side]
    n = collections.Counter(s["request_type"] for s in x)
    fetches = n.pop("Fetch", 0)
    check(f"{side}: 3 ApiVersions, 4 Metadata (kcat's 3, the consumer's 1), 4 Produce, 1 SASL login",
          n == {"ApiVersions": 3, "Metadata": 4, "Produce": 4, "SaslHandshake": 1, "SaslAuthenticate": 1}, f"{n}")
    fe = [s for s in x if s["request_type"] == "Fetch"]
    check(f"{side}: the consumer's Fetch v3 of orders, only the last unanswered", fetches >= 2
          and all(s["request_resource"] == "orders" and s["version"] == "3"
                  and s["attributes"]["kafka.client_id"] == "kpyc" for s in fe)
          and [s for s in fe if "no_response" in (s["flags"] or [])] == [max(fe, key=lambda s: s["start_ns"])],
          f"{fe}")
    ow = [s for s in x if "one_way" in (s["flags"] or [])]
    check(f"{side}: the acks=0 Produce is one-way", len(ow) == 1 and ow[0]["request_type"] == "Produce"
          and ow[0]["resp_bytes"] == 0, f"{ow}")
    err = [s for s in x if s["response_code"] is not None]
    check(f"{side}: one error, UNKNOWN_TOPIC_OR_PARTITION on nosuch",
          len(err) == 1 and err[0]["response_code"] == 3 and err[0]["request_resource"] == "nosuch"
          and err[0]["response_exception"] == "UNKNOWN_TOPIC_OR_PARTITION", f"{err}")
    check(f"{side}: kcat's requests name topic orders and client rdkafka",
          all(s["request_resource"] == "orders" and s["attributes"]["kafka.client_id"] in ("rdkafka", "kpyc")
              for s in x if s["request_type"] in ("Metadata", "Produce") and s["request_resource"] != "nosuch"), "")
    check(f"{side}: API versions as negotiated (ApiVersions 3, Metadata 1, Produce 3, SASL 1 and 0)",
          all(s["version"] == {"ApiVersions": "3", "Metadata": "1", "Produce": "3", "Fetch": "3",
                               "SaslHandshake": "1", "SaslAuthenticate": "0"}[s["request_type"]] for s in x), "")
    check(f"{side}: endpoints name API and topic",
          {s["endpoint"] for s in x} == {"ApiVersions", "Metadata orders", "Produce orders", "Fetch orders",
                                         "Produce nosuch", "SaslHandshake", "SaslAuthenticate"}, "")
with open(os.path.join(golden.PROTO_DATA, "kafka", "kcat_produce.zrec"), "rb") as fh:
    rb = fh.read()
check("the recording holds the SASL exchange but not the password", b"PLAIN" in rb and b"fixture-secret-pw" not in rb, "")
finish()
