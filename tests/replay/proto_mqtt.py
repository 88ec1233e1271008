"""Golden replays of the MQTT fixtures (tests/data/proto/mqtt/, recorded from
mosquitto 2.0.11 and mosquitto_pub/mosquitto_sub, see its README): the spans
equal the golden files, and facts written from what the clients did hold."""
import os
import sys
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden  # noqa: E402
from golden import check, finish  # noqa: E402

D = os.path.join(golden.PROTO_DATA, "mqtt")
PASSWORD = b"zt-s3cret-pw"


def side(spans, tap, process=None):
    return [s for s in spans if s["tap_side"] == tap and (process is None or s["process"] == process)]


def types(spans):
    return Counter((s["request_type"], s["request_resource"]) for s in spans)


def pub_sub(name, version):
    spans = golden.check_fixture(os.path.join(D, name))
    check(f"{name}: every span is MQTT {version}",
          all(s["l7_protocol"] == "MQTT" and s["version"] == version for s in spans), "")
    # clients: one mosquitto_sub, three mosquitto_pub (QoS 0, 1, 2)
    pubc = side(spans, "client-process", "mosquitto_pub")
    subc = side(spans, "client-process", "mosquitto_sub")
    t = types(pubc)
    check(f"{name}: 3 publisher CONNECTs accepted",
          sum(1 for s in pubc if s["request_type"] == "CONNECT" and s["response_code"] == 0
              and s["response_status"] == "ok") == 3, str(t))
    check(f"{name}: QoS 0 publish is one-way",
          [s["flags"] for s in pubc if s["request_resource"] == "zt/q0" and s["request_type"] == "PUBLISH"]
          == [["one_way"]], str(pubc))
    check(f"{name}: QoS 1 and 2 publishes answered",
          all(t[("PUBLISH", f"zt/q{q}")] == 1 for q in (1, 2)) and all(
              s["response_status"] == "ok" and s["resp_bytes"] >= 4 for s in pubc
              if s["request_type"] == "PUBLISH" and s["request_resource"] in ("zt/q1", "zt/q2")), str(t))
    check(f"{name}: subscriber CONNECT + SUBSCRIBE zt/# granted QoS 1",
          [(s["request_type"], s["request_resource"], s["response_code"]) for s in subc
           if s["request_type"] in ("CONNECT", "SUBSCRIBE")]
          == [("CONNECT", f"zt-sub-{'mqttv311' if version == '3.1.1' else 'mqttv5'}", 0),
              ("SUBSCRIBE", "zt/#", 1)], str(subc))
    # the broker delivered the 3 messages to the subscriber (QoS capped at 1)
    deliv = [s for s in side(spans, "server-process", "mosquitto_sub") if s["request_type"] == "PUBLISH"]
    check(f"{name}: 3 deliveries seen by the subscriber, from the broker",
          sorted(s["request_resource"] for s in deliv) == ["zt/q0", "zt/q1", "zt/q2"]
          and all(s["attributes"].get("mqtt.from") == "broker" and s["server_port"] != 16700 for s in deliv),
          str(deliv))
    # the broker's side of the same exchanges
    brk = [s for s in spans if s["process"] == "mosquitto"]
    tb = types(brk)
    check(f"{name}: broker side: 4 CONNECTs, SUBSCRIBE, 3 publishes in, 3 out",
          sum(v for (k, _), v in tb.items() if k == "CONNECT") == 4 and tb[("SUBSCRIBE", "zt/#")] == 1
          and sum(1 for s in brk if s["request_type"] == "PUBLISH") == 6, str(tb))
    check(f"{name}: client and broker sides share TCP seqs",
          {s["req_tcp_seq"] for s in pubc if s["request_type"] == "CONNECT"}
          <= {s["req_tcp_seq"] for s in brk if s["request_type"] == "CONNECT"}, "")
    with open(os.path.join(D, name + ".zrec"), "rb") as f:
        check(f"{name}: no password in the recording", PASSWORD not in f.read(), "")
    check(f"{name}: no password in the spans", all(PASSWORD.decode() not in str(s) for s in spans), "")


def bad_password():
    name = "bad_password"
    spans = golden.check_fixture(os.path.join(D, name))
    got = sorted((s["tap_side"], s["version"], s["request_type"], s["response_status"], s["response_code"],
                  s["response_exception"]) for s in spans)
    want = sorted([(t, "3.1.1", "CONNECT", "client_error", 5, "Not Authorized") for t in
                   ("client-process", "server-process")] +
                  [(t, "5.0", "CONNECT", "client_error", 135, "Not authorized") for t in
                   ("client-process", "server-process")])
    check(f"{name}: refused CONNECTs on both sides (3.1.1 code 5, 5.0 code 0x87)", got == want, str(got))


pub_sub("v311_pub_sub", "3.1.1")
pub_sub("v5_pub_sub", "5.0")
bad_password()
finish()
