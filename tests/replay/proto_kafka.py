"""Golden replay of the Kafka fixtures (tests/data/proto/kafka/, broker side
a stub): the spans equal the golden file, and facts written from what the
clients did (kcat: two runs of ApiVersions, Metadata, Produce, the second
with acks=0; one hand-written Produce to "nosuch" answered with error 3)."""
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
    check(f"{side}: 2 ApiVersions, 2 Metadata, 3 Produce", n == {"ApiVersions": 2, "Metadata": 2, "Produce": 3}, f"{n}")
    ow = [s for s in x if "one_way" in (s["flags"] or [])]
    check(f"{side}: the acks=0 Produce is one-way", len(ow) == 1 and ow[0]["request_type"] == "Produce"
          and ow[0]["resp_bytes"] == 0, f"{ow}")
    err = [s for s in x if s["response_code"] is not None]
    check(f"{side}: one error, UNKNOWN_TOPIC_OR_PARTITION on nosuch",
          len(err) == 1 and err[0]["response_code"] == 3 and err[0]["request_resource"] == "nosuch"
          and err[0]["response_exception"] == "UNKNOWN_TOPIC_OR_PARTITION", f"{err}")
    check(f"{side}: kcat's requests name topic orders and client rdkafka",
          all(s["request_resource"] == "orders" and s["attributes"]["kafka.client_id"] == "rdkafka"
              for s in x if s["request_type"] in ("Metadata", "Produce") and s["request_resource"] != "nosuch"), "")
    check(f"{side}: API versions as kcat negotiated them (ApiVersions 3, Metadata 1, Produce 3)",
          all(s["version"] == {"ApiVersions": "3", "Metadata": "1", "Produce": "3"}[s["request_type"]] for s in x), "")
finish()
