"""Golden replay of the DNS fixtures (tests/data/proto/dns, README there):
each replays to its golden spans, and the spans say what the clients did,
written here from the clients' commands, not from ztrace's output."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden  # noqa: E402
from golden import check, finish  # noqa: E402

D = os.path.join(golden.PROTO_DATA, "dns")

# fixture -> [(qtype, name, rcode, answer or None, l4)], one exchange each,
# seen by both the client and the server
FACTS = {
    "dig_udp": [("A", "svc.zt.test", 0, "10.9.8.7", "udp"), ("A", "nope.zt.test", 3, None, "udp"),
                ("AAAA", "other.example", 5, None, "udp")],
    "dig_tcp_keepopen": [("A", "svc.zt.test", 0, "10.9.8.7", "tcp"), ("AAAA", "nope.zt.test", 3, None, "tcp"),
                         ("MX", "svc.zt.test", 3, None, "tcp")],
    "python_udp": [("A", "rw.svc.zt.test", 0, "10.9.8.7", "udp"), ("A", "nx.zt.test", 3, None, "udp"),
                   ("A", "sendto.svc.zt.test", 0, "10.9.8.7", "udp")],
    "mmsg_peer": [("A", "a.mm.zt.test", 0, "10.9.8.7", "udp"), ("A", "b.mm.zt.test", 0, "10.9.8.7", "udp"),
                  ("A", "nx.mm.zt.test", 3, None, "udp")],
    "sendto_recvfrom_peer": [("A", "plain.zt.test", 0, "10.9.8.7", "udp"),
                             ("A", "nxplain.zt.test", 3, None, "udp")],
    "getent_netns": [("A", "svc.zt.test", 0, "10.9.8.7", "udp"), ("AAAA", "svc.zt.test", 3, None, "udp")],
}
EXC = {0: None, 3: "NXDOMAIN", 5: "REFUSED"}
STATUS = {0: "ok", 3: "client_error", 5: "client_error"}

names = [os.path.basename(b) for b in golden.fixtures("dns")]
check("dns: every fixture has facts", sorted(names) == sorted(FACTS), f"{names}")
for base in golden.fixtures("dns"):
    name = os.path.basename(base)
    spans = golden.check_fixture(base)
    facts = FACTS.get(name, [])
    check(f"{name}: {2 * len(facts)} spans (both sides of each exchange)",
          len(spans) == 2 * len(facts) and all(s["l7_protocol"] == "DNS" for s in spans),
          f"{len(spans)} spans")
    for qtype, qname, rcode, answer, l4 in facts:
        for side in ("client-process", "server-process"):
            m = [s for s in spans if s["tap_side"] == side and s["request_type"] == qtype
                 and s["request_resource"] == qname]
            ok = len(m) == 1
            s = m[0] if m else {}
            attrs = s.get("attributes") or {}
            ok = ok and s["response_code"] == rcode and s["response_exception"] == EXC[rcode] \
                and s["response_status"] == STATUS[rcode] and s["l4_protocol"] == l4 \
                and attrs.get("dns.answer") == answer and s["client_port"] and s["server_port"] \
                and s["endpoint"] == f"{qtype} {qname}"
            check(f"{name}: {side} {qtype} {qname} -> rcode {rcode}", ok, f"{m}")
    # the TCP spans of the two sides meet on the request's TCP sequence
    if name == "dig_tcp_keepopen":
        seqs = {side: sorted(s["req_tcp_seq"] for s in spans if s["tap_side"] == side)
                for side in ("client-process", "server-process")}
        check(f"{name}: client and server spans share req_tcp_seq", seqs["client-process"] ==
              seqs["server-process"] and None not in seqs["client-process"], f"{seqs}")
finish()
