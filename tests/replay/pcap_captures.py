"""Replays every capture of tests/data/pcap/deepflow/ (DeepFlow's test corpus:
real traffic of many protocols and TCP corner cases, see its README.md) with
`ztrace replay --pcap` built with ASan+UBSan (build-asan/ztrace), and checks:

  - each capture replays with exit status 0 and no sanitizer report;
  - every span carries a NIC tap side, TCP spans carry their request's TCP
    sequence number, and both ends' views of a capture agree (the same
    exchanges seen as client-nic and as server-nic);
  - cross-checks against what DeepFlow extracted (the .result files) for the
    protocol folders in CROSS below: the facts (e.g. method, path, status)
    of the spans of each side equal the .result's. Where ztrace and DeepFlow
    disagree, the protocol specification decides: fix the table, say why;
  - TCP corner cases (the top-level captures): the decoder's counters of
    retransmitted bytes, out-of-order segments and gap bytes equal those of
    a small independent reassembler written below (OracleTcp), and a few
    facts the capture names promise (IP fragments reassembled, ...).

Adding a protocol's cross-check once its parser lands is one CROSS entry:
    "redis": Cross("Redis", redis_result_facts, redis_span_facts),
where the first function reads a .result text (result_records() parses
DeepFlow's Rust debug lines into dicts) and returns the expected facts (or
None: nothing checkable in this file), the second makes the same facts from
one side's spans; both as lists that are compared sorted.
"""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
from collections import namedtuple

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from lib import ROOT, check, finish  # noqa: E402

CAPS = os.path.join(ROOT, "tests", "data", "pcap", "deepflow")
ZTRACE_ASAN = os.path.join(ROOT, "build-asan", "ztrace")
SANITIZER = re.compile(r"runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer|SUMMARY: UndefinedBehavior")

# ---- replay ----


def build():
    r = subprocess.run(["make", "-s", "-C", ROOT, "asan-ztrace"], capture_output=True, text=True)
    check("build-asan/ztrace builds", r.returncode == 0 and os.access(ZTRACE_ASAN, os.X_OK),
          (r.stdout + r.stderr)[-2000:])
    return r.returncode == 0


COUNTERS = {
    "packets": r"(\d+) packets",
    "tcp": r"\((\d+) tcp",
    "udp": r"(\d+) udp\)",
    "non_ip": r"non_ip (\d+)",
    "malformed": r"malformed (\d+)",
    "ip_fragments": r"ip_fragments (\d+)",
    "ip_reassembled": r"reassembled (\d+)",
    "ip_frag_dropped": r"reassembled \d+, dropped (\d+)",
    "retrans_segments": r"retransmitted (\d+) segments",
    "retrans_bytes": r"retransmitted \d+ segments / (\d+) bytes",
    "ooo_segments": r"out_of_order (\d+)",
    "gaps": r"gaps (\d+)",
    "gap_bytes": r"gaps \d+ / (\d+) bytes",
    "flows": r"flows (\d+)",
    "flows_closed": r"flows \d+ \(closed (\d+)",
}


def replay(path):
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1", UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    r = subprocess.run([ZTRACE_ASAN, "replay", "--pcap", path, "--no-store", "--json"], capture_output=True,
                       text=True, env=env, timeout=300)
    spans = []
    for line in r.stdout.splitlines():
        try:
            spans.append(json.loads(line))
        except ValueError:
            pass
    counters = {}
    m = re.search(r"ztrace: pcap: (.*)", r.stderr)
    if m:
        for k, rx in COUNTERS.items():
            mm = re.search(rx, m.group(1))
            if mm:
                counters[k] = int(mm.group(1))
    return r.returncode, spans, counters, r.stderr

# ---- DeepFlow's .result files ----


FIELD = re.compile(r'(\w+): ("(?:[^"\\]|\\.)*"|Some\((?:"(?:[^"\\]|\\.)*"|[^()]*)\)|None|true|false|-?[\w.]+)')


def unrust(v):
    if v.startswith("Some(") and v.endswith(")"):
        v = v[5:-1]
    if v == "None":
        return None
    if v in ("true", "false"):
        return v == "true"
    if v.startswith('"'):
        return v[1:-1].encode().decode("unicode_escape", errors="replace")
    try:
        return int(v)
    except ValueError:
        return v


def result_records(text, kind=None):
    """The records of a .result text as dicts: JSON lines ({"msg_type":
    ...} is_x: true), or Rust debug lines `KIND { field: value, ... } extra:
    value` (first occurrence of each field name wins; kind None: any). The
    words after the record (is_http: true...) join the dict."""
    out = []
    dec = json.JSONDecoder()
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                d, end = dec.raw_decode(line)
            except ValueError:
                continue
            for k, v in FIELD.findall(line[end:]):
                d.setdefault(k, unrust(v))
            out.append(d)
            continue
        m = re.match(r"(\w+) \{", line)
        if not m or (kind and m.group(1) != kind):
            continue
        d = {}
        for k, v in FIELD.findall(line[m.end():]):
            d.setdefault(k, unrust(v))
        out.append(d)
    return out


def http_result_facts(text):
    recs = [r for r in result_records(text, "HttpInfo") if r.get("proto") == "Http1" and r.get("is_http")]
    if not recs:
        return None  # HTTP/2 and gRPC: no parser yet
    reqs = [("req", r["method"].upper(), r["path"]) for r in recs if r.get("msg_type") == "Request"]
    resps = [("resp", r["status_code"]) for r in recs if r.get("msg_type") == "Response"]
    return reqs + resps


def http_span_facts(spans):
    out = []
    for s in spans:
        if s["l7_protocol"] != "HTTP":
            continue
        out.append(("req", s["request_type"], s["request_resource"]))
        if s["response_code"] is not None:
            out.append(("resp", s["response_code"]))
    return out


Cross = namedtuple("Cross", "l7 result_facts span_facts")
# protocol folder -> its cross-check (see the module's docstring). To be
# added as the parsers land; what DeepFlow's records hold, for instance:
#   redis/    RedisInfo {request_type: "GET", response_result: Error, error: "-NOAUTH ..."}
#   dns/      JSON {"request_type":"AAAA","request_resource":NAME,"response_code":3,"msg_type":...}
#   mysql/    JSON {"msg_type":"Request","request_resource":"Login username: root",...}
#   postgre/  JSON {"msg_type":"Request","request_resource":"SELECT 'x'","request_type":"P",...}
#   kafka/    KafkaInfo {msg_type: Request, correlation_id: Some(1), api_key: Produce, topic_name: ...}
#   mqtt/     MqttInfo {pkt_type: Connect, code: Some(0), publish_topic: ...}
#   amqp/     AmqpInfo {msg_type: Request, req_type: Some("Connection.Start"), ...}
#   mongo/    MongoDBInfo {op_code_name: "OP_QUERY", ...}
#   memcached/ MemcachedInfo { msg_type: Request request: set foo 0 0 3 ... } (not key: value pairs)
CROSS = {
    "http": Cross("HTTP", http_result_facts, http_span_facts),
}
# captures without a .result, or where ztrace and DeepFlow disagree for a
# stated reason: the facts written from `tcpdump -r FILE -A`
MANUAL = {
    "http.pcap": (http_span_facts, [("req", "GET", "/"), ("resp", 200)]),
    # The capture ends inside the response (its status line and headers are
    # there, the chunked body's last chunk is not): an incomplete message.
    # DeepFlow reports its 200; ztrace's HTTP/1 parser drops a response cut
    # by the end of the stream, so the request stays unanswered.
    "http/client-ip.pcap": (http_span_facts, [
        ("req", "POST", "/biz-inquiry-bff/bff/v1/common/check/polymerization?channel=webportal&terminalType=bff")]),
    # The response is 17 bytes, "HTTP/1.1 200 OK\r\n": its head never ends.
    # DeepFlow reports the 200; ztrace does not read a code from an
    # incomplete head.
    "http/istio-tcp-frag.pcap": (http_span_facts, [("req", "GET", "/productpage")]),
}

# ---- an independent TCP oracle for the corner cases ----


def read_pcap(path):
    """(ts, linktype, bytes) of a classic pcap (either byte order, micro or
    nano, or the modified-pcap 0xa1b2cd34 records)."""
    with open(path, "rb") as f:
        b = f.read()
    magic = b[:4]
    le = magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1", b"\x34\xcd\xb2\xa1")
    e = "<" if le else ">"
    extra = 8 if magic in (b"\x34\xcd\xb2\xa1", b"\xa1\xb2\xcd\x34") else 0
    lt = struct.unpack(e + "I", b[20:24])[0]
    off = 24
    while off + 16 <= len(b):
        sec, frac, cap, _ = struct.unpack(e + "IIII", b[off:off + 16])
        off += 16 + extra
        yield sec, lt, b[off:off + cap]
        off += cap


def tcp_segments(path):
    """(src, dst, seq, ack, flags, payload length) of the TCP segments over
    Ethernet (VLAN tags skipped), IPv4 or IPv6 without extension headers."""
    for _, lt, p in read_pcap(path):
        if lt != 1 or len(p) < 14:
            continue
        t, o = struct.unpack(">H", p[12:14])[0], 14
        while t in (0x8100, 0x88a8) and len(p) >= o + 4:
            t, o = struct.unpack(">H", p[o + 2:o + 4])[0], o + 4
        if t == 0x0800 and len(p) >= o + 20 and p[o + 9] == 6:
            ihl, tot = (p[o] & 15) * 4, struct.unpack(">H", p[o + 2:o + 4])[0]
            src, dst, l4, l4len = p[o + 12:o + 16], p[o + 16:o + 20], o + ihl, tot - ihl
        elif t == 0x86dd and len(p) >= o + 40 and p[o + 6] == 6:
            src, dst, l4, l4len = p[o + 8:o + 24], p[o + 24:o + 40], o + 40, struct.unpack(">H", p[o + 4:o + 6])[0]
        else:
            continue
        if len(p) < l4 + 20:
            continue
        sport, dport, seq, ack = struct.unpack(">HHII", p[l4:l4 + 12])
        doff, flags = (p[l4 + 12] >> 4) * 4, p[l4 + 13]
        yield (src, sport), (dst, dport), seq, ack, flags, l4len - doff


def oracle_tcp(path):
    """Retransmitted bytes, segments that arrived ahead of a hole, and hole
    bytes never filled, per direction: intervals of covered sequence space
    (relative to the stream start: ISN + 1, or the first data segment). The
    stream's end is its last byte, its FIN, or what the peer's data segments
    acknowledge (bytes the capture missed)."""
    start, covered, fin, acked = {}, {}, {}, {}

    def rel_of(k, seq):
        r = (seq - start[k]) & 0xffffffff
        return r - (1 << 32) if r >= 1 << 31 else r
    retrans = ooo = 0
    for src, dst, seq, ack, flags, n in tcp_segments(path):
        k = (src, dst)
        if flags & 0x04:  # RST
            continue
        if flags & 0x01 and k in start and k not in fin:
            fin[k] = rel_of(k, seq + max(n, 0))
        if n > 0 and flags & 0x10 and (dst, src) in start:
            acked[(dst, src)] = max(acked.get((dst, src), 0), rel_of((dst, src), ack))
        if flags & 0x02:
            if k not in covered:
                start[k] = (seq + 1) & 0xffffffff
            if n == 0:
                continue
            seq = (seq + 1) & 0xffffffff
        if n <= 0:
            continue
        if k not in start:
            start[k] = seq
        if flags & 0x01 and k not in fin:
            fin[k] = rel_of(k, seq + n)
        rel = rel_of(k, seq)
        iv = covered.setdefault(k, [])  # disjoint, sorted
        a, b = rel, rel + n
        # bytes before the stream start, and bytes seen before, are old
        dup = max(0, min(b, 0) - a)
        for x, y in iv:
            lo, hi = max(a, x, 0), min(b, y)
            if hi > lo:
                dup += hi - lo
        retrans += dup
        contiguous = iv[0][1] if iv and iv[0][0] <= 0 else 0
        if max(a, 0) > contiguous:
            ooo += 1
        merged = []
        for x, y in sorted(iv + ([(max(a, 0), b)] if b > max(a, 0) else [])):
            if merged and x <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], y))
            else:
                merged.append((x, y))
        covered[k] = merged
    holes = 0
    for k in start:
        iv = covered.get(k, [])
        pos = 0
        for x, y in iv:
            if x > pos:
                holes += x - pos
            pos = max(pos, y)
        end = acked.get(k, 0)
        if k in fin:
            end = max(min(end, fin[k]), fin[k])
        if end > pos and end - pos < 1 << 30:
            holes += end - pos
    return {"retrans_bytes": retrans, "ooo_segments": ooo, "gap_bytes": holes}


# facts the top-level capture names promise (beyond the oracle)
CORNER = {
    "ip-fragment.pcap": {"ip_fragments": 18, "ip_reassembled": 6, "udp": 6},
    "syn-ack-ack-retrans-and-client-payload.pcap": {"retrans_segments": 5},
    "xiangdao-retrans.pcap": {"retrans_segments": 6},
    "server-queue-lack.pcap": {"retrans_segments": 7},
    "udp_normal.pcap": {"udp": 2},
}


def tcpdump_count(path, expr):
    """Packets libpcap's own filter matches (None: tcpdump cannot read it)."""
    if not shutil.which("tcpdump"):
        return None
    r = subprocess.run(["tcpdump", "-nn", "-r", path, expr], capture_output=True, text=True)
    return len(r.stdout.splitlines()) if r.returncode == 0 else None


def main():
    if not build():
        finish()
    caps = []
    for d, _, files in os.walk(CAPS):
        caps += [os.path.join(d, f) for f in files if f.endswith(".pcap")]
    caps.sort()
    check("captures present", len(caps) >= 100, f"{len(caps)} under {CAPS}")
    cross_done = 0
    for path in caps:
        rel = os.path.relpath(path, CAPS)
        folder = os.path.dirname(rel)
        rc, spans, ctr, err = replay(path)
        ok = check(f"{rel}: replays cleanly", rc == 0 and not SANITIZER.search(err) and "packets" in ctr,
                   f"exit {rc}: {err[-3000:]}")
        if not ok:
            continue
        sides = {"client-nic": [], "server-nic": []}
        bad = [s for s in spans if s["tap_side"] not in sides]
        noseq = [s for s in spans if s["l4_protocol"] == "tcp" and s["req_tcp_seq"] is None]
        for s in spans:
            if s["tap_side"] in sides:
                sides[s["tap_side"]].append(s)

        def key(s):
            # as text: any field may be null once other protocols parse
            return tuple("" if v is None else str(v) for v in (
                s["l7_protocol"], s["request_type"], s["request_resource"], s["response_code"],
                s["req_tcp_seq"], s["resp_tcp_seq"]))
        check(f"{rel}: {len(spans)} spans, NIC sides, TCP seqs, both views agree",
              not bad and not noseq and sorted(map(key, sides["client-nic"])) == sorted(map(key, sides["server-nic"])),
              f"sides {[s['tap_side'] for s in bad][:5]}, no seq {len(noseq)}, client-nic "
              f"{sorted(map(key, sides['client-nic']))[:4]} vs server-nic {sorted(map(key, sides['server-nic']))[:4]}")
        # TCP and UDP packets as libpcap's filter counts them (IP fragments
        # aside: the filter counts each fragment, the decoder each datagram)
        t = tcpdump_count(path, "tcp or (vlan and tcp)")
        u = tcpdump_count(path, "udp or (vlan and udp)")
        if t is not None and u is not None:
            check(f"{rel}: tcp/udp packets as tcpdump counts them ({t}/{u})",
                  ctr.get("tcp") == t and (ctr.get("ip_fragments") or ctr.get("udp") == u),
                  f"ztrace {ctr.get('tcp')}/{ctr.get('udp')}")
        # protocol cross-checks
        result = os.path.splitext(path)[0] + ".result"
        if rel in MANUAL:
            fn, want = MANUAL[rel]
            cross_done += 1
            for side, ss in sides.items():
                got = fn(ss)
                check(f"{rel}: {side} spans: {want}", sorted(got) == sorted(want), f"got {sorted(got)}")
        elif folder in CROSS and os.path.exists(result):
            cx = CROSS[folder]
            with open(result, errors="replace") as f:
                want = cx.result_facts(f.read())
            if want is not None:
                cross_done += 1
                for side, ss in sides.items():
                    got = cx.span_facts([s for s in ss if s["l7_protocol"] == cx.l7])
                    check(f"{rel}: {side} spans agree with DeepFlow's .result", sorted(got) == sorted(want),
                          f"spans {sorted(got)[:6]} vs .result {sorted(want)[:6]}")
            else:
                print(f"# {rel}: no {cx.l7} facts checkable yet ({len(spans)} spans)")
        elif folder:
            print(f"# {rel}: {len(spans)} spans, no cross-check for '{folder}' yet")
        # TCP corner cases
        if not folder:
            want = oracle_tcp(path)
            got = {k: ctr.get(k) for k in want}
            check(f"{rel}: retransmitted/out-of-order/gap counters equal an independent reassembler's",
                  got == want, f"ztrace {got} vs oracle {want}")
            for k, v in CORNER.get(rel, {}).items():
                check(f"{rel}: {k} = {v}", ctr.get(k) == v, f"{k} = {ctr.get(k)}")
    check("some captures cross-checked", cross_done >= 5, f"{cross_done}")
    finish()


if __name__ == "__main__":
    main()
